#!/usr/bin/env bash
# The one test command (README, .ci/run): set everything up in .venv, then run the suite once per
# Keras backend, each in its own process, plus the backend-free kernel tests (also once with
# NUMBA_DISABLE_JIT=1, so the kernel bodies run as Python); then the callback's tests on the
# oldest keras supported, under JAX, TensorFlow and Torch; then the suite on keras-nightly under
# JAX.
set -uo pipefail
cd "$(dirname "$0")/.."

# A venv with the package, every backend and the test tools (.venv, and .venv-nightly below).
full_venv() {
    local py="$1/bin/python"
    if [ ! -x "$py" ]; then
        python3 -m venv "$1" || return 1
    fi
    # torch is pinned to the CPU wheel first; the extras' `torch>=2.4` is then already satisfied.
    "$py" -m pip install -q --upgrade pip || return 1
    "$py" -m pip install -q "torch==2.13.0" || return 1
    "$py" -m pip install -q -e ".[all,test]" || return 1
    # timm's own schedulers are the reference of tests/test_migrating_timm.py. timm requires
    # torchvision, which pulls another torch (and PyPI's does not load beside this one); its
    # schedulers need torch alone, so it is installed without its requirements.
    "$py" -m pip install -q --no-deps "timm==1.0.31" || return 1
}

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
full_venv "$VENV" || exit 1
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

# The oldest keras supported (pyproject: keras>=3.8), with the jax and the tensorflow-cpu of its
# time (TensorFlow 2.18.0 was the current release in January 2025; its wheel installs on Python
# 3.11 beside keras 3.8.0, jax 0.5.0 and torch 2.13.0): the callback's tests under JAX,
# TensorFlow and Torch, in a venv of its own.
MIN_VENV="${MIN_VENV:-.venv-min}"
MIN_PY="$MIN_VENV/bin/python"
MIN_PINS=("keras==3.8.0" "jax==0.5.0" "jaxlib==0.5.0" "tensorflow-cpu==2.18.0" "torch==2.13.0")
if [ ! -x "$MIN_PY" ]; then
    python3 -m venv "$MIN_VENV" || exit 1
fi
"$MIN_PY" -m pip install -q --upgrade pip || exit 1
"$MIN_PY" -m pip install -q "${MIN_PINS[@]}" || exit 1
"$MIN_PY" -m pip install -q -e ".[test]" "${MIN_PINS[@]}" || exit 1
MIN_TESTS=(tests/test_callback_lifecycle.py tests/test_callback.py tests/test_callback_resume.py
           tests/test_callback_hyper.py tests/test_multipliers.py
           tests/test_callback_save.py tests/test_plateau.py)
for backend in jax tensorflow torch; do
    run "keras 3.8, backend $backend" env KERAS_BACKEND="$backend" "$MIN_PY" -m pytest -q \
        "${MIN_TESTS[@]}" "$@"
done

# keras main, as the newest keras-nightly the index had when pinned: the whole suite under JAX, in
# a venv of its own. To bump: `pip index versions --pre keras-nightly`, the newest in the pin.
# keras-nightly installs the `keras` module under another distribution name, while the package,
# tensorflow-cpu and keras-tuner require `keras`: so everything is installed first (pulling
# keras), then keras is uninstalled and keras-nightly put over its files. Skipped here:
# tests/test_first_use.py (about 7 minutes of fresh processes timing Numba's first use, backend-
# independent, already run under JAX above) and tests/kernels (no keras in them).
NIGHTLY_VENV="${NIGHTLY_VENV:-.venv-nightly}"
NIGHTLY_PY="$NIGHTLY_VENV/bin/python"
NIGHTLY_KERAS="keras-nightly==3.16.0.dev2026102704"
full_venv "$NIGHTLY_VENV" || exit 1
# No keras-hub: 0.32.0 imports keras.src.backend.get_keras_mask, which keras-nightly no longer
# has (ImportError), so tests/test_layer_decay.py's keras-hub models skip.
"$NIGHTLY_PY" -m pip uninstall -q -y keras || exit 1
"$NIGHTLY_PY" -m pip install -q --no-deps --force-reinstall "$NIGHTLY_KERAS" || exit 1
run "keras-nightly, backend jax" env KERAS_BACKEND=jax "$NIGHTLY_PY" -m pytest -q tests \
    --ignore=tests/kernels --ignore=tests/test_first_use.py --doctest-modules keras_lrsched "$@"
# Eager torch's one-pass Adam of lr_multipliers follows keras' torch Adam op for op, and its test
# compares the two bit for bit: run under torch too, so that a change on keras main shows here.
run "keras-nightly, backend torch (multipliers)" env KERAS_BACKEND=torch "$NIGHTLY_PY" -m pytest \
    -q tests/test_multipliers.py "$@"

if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all suites passed"
