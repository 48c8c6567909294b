#!/usr/bin/env bash
# The one test command (README, .ci/run): set everything up in .venv, then run the suite once per
# Keras backend, each in its own process, plus the backend-free kernel tests (also once with
# NUMBA_DISABLE_JIT=1, so the kernel bodies run as Python).
set -uo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV" || exit 1
fi
# torch is pinned to the CPU wheel first; the extras' `torch>=2.4` is then already satisfied.
"$PY" -m pip install -q --upgrade pip || exit 1
"$PY" -m pip install -q "torch==2.13.0" || exit 1
"$PY" -m pip install -q -e ".[all,test]" || exit 1

export PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS="ignore::DeprecationWarning"
failed=()
run() {
    local label="$1"; shift
    echo "=== $label ==="
    "$@" || failed+=("$label")
}
run "kernels" "$PY" -m pytest -q tests/kernels "$@"
run "kernels (NUMBA_DISABLE_JIT=1)" env NUMBA_DISABLE_JIT=1 "$PY" -m pytest -q tests/kernels "$@"
for backend in jax tensorflow torch; do
    run "backend $backend" env KERAS_BACKEND="$backend" "$PY" -m pytest -q tests \
        --ignore=tests/kernels --doctest-modules keras_lrsched "$@"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all suites passed"
