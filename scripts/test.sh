#!/usr/bin/env bash
# The one test command (README, .ci/run): set everything up in .venv, then run the suite once per
# Keras backend, each in its own process, plus the backend-free kernel tests (also once with
# NUMBA_DISABLE_JIT=1, so the kernel bodies run as Python); then the callback's tests on the
# oldest keras supported, under JAX and Torch.
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
# timm's own schedulers are the reference of tests/test_migrating_timm.py. timm requires
# torchvision, which pulls another torch (and PyPI's does not load beside this one); its
# schedulers need torch alone, so it is installed without its requirements.
"$PY" -m pip install -q --no-deps "timm==1.0.31" || exit 1
# keras-hub's backbones are the models of tests/test_layer_decay.py. keras-hub requires
# tensorflow-text, which pulls a full tensorflow beside tensorflow-cpu; building its models from
# configs (no download) needs only these, so it is installed without its requirements.
"$PY" -m pip install -q --no-deps "keras-hub==0.32.0" || exit 1
"$PY" -m pip install -q "regex==2026.12.2" "tokenizers==0.23.3" "sentencepiece==0.2.3" \
    "kagglehub==1.0.2" "kagglesdk==0.1.28" || exit 1

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

# The oldest keras supported (pyproject: keras>=3.8), with the jax of its month: the callback's
# tests under JAX and Torch, in a venv of its own.
MIN_VENV="${MIN_VENV:-.venv-min}"
MIN_PY="$MIN_VENV/bin/python"
MIN_PINS=("keras==3.8.0" "jax==0.5.0" "jaxlib==0.5.0" "torch==2.13.0")
if [ ! -x "$MIN_PY" ]; then
    python3 -m venv "$MIN_VENV" || exit 1
fi
"$MIN_PY" -m pip install -q --upgrade pip || exit 1
"$MIN_PY" -m pip install -q "${MIN_PINS[@]}" || exit 1
"$MIN_PY" -m pip install -q -e ".[test]" "${MIN_PINS[@]}" || exit 1
MIN_TESTS=(tests/test_callback_lifecycle.py tests/test_callback.py tests/test_callback_resume.py
           tests/test_callback_hyper.py
           tests/test_callback_save.py tests/test_plateau.py)
for backend in jax torch; do
    run "keras 3.8, backend $backend" env KERAS_BACKEND="$backend" "$MIN_PY" -m pytest -q \
        "${MIN_TESTS[@]}" "$@"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all suites passed"
