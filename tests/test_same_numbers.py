"""The same numbers on every backend: the lr of every update, bit for bit.

A keras_lrsched schedule is evaluated by its Numba kernel on the host (float64, rounded once to
float32) in both modes, and in step mode looked up in a device window, so JAX, TensorFlow and
Torch apply the same float32 at every step. Their own float32 closed forms would not: for the
cosine families they differ by an ulp or more at some steps (2.7e-6 relative between JAX and
TensorFlow, measured). The test runs tests/backends_worker.py once per backend, each in a fresh
process (a backend is fixed at import), and compares what each optimizer reported on the device.
It needs all three backends installed; it runs once, in the jax suite.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("backends_worker.py")
BACKENDS = ("jax", "tensorflow", "torch")


def trajectory(backend, folder):
    out = folder / f"{backend}.npz"
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
                   "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, str(WORKER), str(out)], env=environment,
                          capture_output=True, text=True, timeout=300, cwd=WORKER.parent.parent)
    assert done.returncode == 0, f"{backend} worker failed:\n{(done.stdout + done.stderr)[-5000:]}"
    with np.load(out) as data:
        assert str(data["backend"]) == backend
        return {k: data[k] for k in data.files if k != "backend"}


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="runs once, in the jax suite")
@pytest.mark.skipif(
    any(importlib.util.find_spec(b) is None for b in BACKENDS), reason="needs all three backends"
)
def test_every_backend_applies_the_same_lr_bit_for_bit(tmp_path):
    runs = {b: trajectory(b, tmp_path) for b in BACKENDS}
    sys.path.insert(0, str(WORKER.parent))
    import backends_worker
    import keras_lrsched as lrs

    cases = backends_worker.cases(lrs)
    steps = backends_worker.STEPS * backends_worker.EPOCHS
    reference = runs["jax"]
    for name, (update, schedule, plateau) in cases.items():
        reported = reference[f"{name}/reported"]
        assert reported.shape == (steps,), name
        if update == "step" and plateau is None:
            # what was applied is the kernel's table, rounded once to float32
            np.testing.assert_array_equal(reported, schedule.table(steps), err_msg=name)
        for backend in BACKENDS[1:]:
            for what in ("reported", "learning_rates", "history"):
                key = f"{name}/{what}"
                np.testing.assert_array_equal(runs[backend][key], reference[key],
                                              err_msg=f"{backend} vs jax: {key}")
    # the plateau (patience 0) halved the table's lr from epoch 2 on, on the device too: epoch 0
    # sets the best score, epoch 1 fails to improve on it
    table = cases["table+plateau"][1].table(steps)
    scale = np.repeat(np.float32([1.0, 1.0, 0.5]), backends_worker.STEPS)
    np.testing.assert_array_equal(reference["table+plateau/reported"], table * scale)


# ---------------------------------------------------------------------------------------------
# The same numbers whether a kernel's source runs as Python (short tables, before Numba is
# loaded: kernels/_config.py) or compiled by Numba.

PYTHON_MODE = r"""
import sys
import numpy as np
import keras
import keras_lrsched as lrs
from keras_lrsched.kernels import _config
sys.path.insert(0, "tests")
from conftest import EXAMPLES

out = {}
for start in STARTS:
    for name, build in EXAMPLES.items():
        if name != OVERFLOWS:
            for dtype in ("float32", "float64"):
                out[f"{name}/{start}/{dtype}"] = build(lrs).table(N, start=start, dtype=dtype)
assert "numba" not in sys.modules, "a short table loaded numba"

# The first fit of the README's recipes and of the demo: neither loads Numba.
x, y = np.ones((64, 2), "float32"), np.ones(64, "float32")
for update in ("epoch", "step"):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), loss="mse")
    cb = lrs.LearningRateScheduler(lrs.OneCycle(0.1, epochs=3, steps_per_epoch=4), update=update)
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[cb])
    out[f"fit/{update}"] = cb.learning_rates
assert "numba" not in sys.modules, "a first fit loaded numba"

# Python's math.exp raises where compiled code gives inf (clipped to `end` after): that table
# runs compiled.
for start in STARTS:
    for dtype in ("float32", "float64"):
        out[f"{OVERFLOWS}/{start}/{dtype}"] = EXAMPLES[OVERFLOWS](lrs).table(N, start=start,
                                                                             dtype=dtype)
assert "numba" in sys.modules
np.savez(OUT, **out)
"""
STARTS = (0, 3, 1000, 2**31 + 5)
OVERFLOWS = "ExponentialDecay-growing-end"  # 1.1 ** s: inf past step ~7400, then `end`


def test_a_kernel_gives_the_same_numbers_as_python_and_compiled(tmp_path):
    import keras_lrsched as lrs
    from conftest import EXAMPLES
    from keras_lrsched.kernels import _config

    n = _config.PYTHON_MAX  # the longest table that runs as Python
    out = tmp_path / "python.npz"
    code = f"N, STARTS, OVERFLOWS, OUT = {n}, {STARTS!r}, {OVERFLOWS!r}, {str(out)!r}\n"
    code += PYTHON_MODE
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600, cwd=WORKER.parent.parent)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    _config.load_numba()
    assert _config.compiled() or os.environ.get("NUMBA_DISABLE_JIT")
    with np.load(out) as python:
        checked = 0
        for name, build in EXAMPLES.items():
            schedule = build(lrs)
            for start in STARTS:
                for dtype in ("float32", "float64"):
                    # n + 1 values: longer than PYTHON_MAX, so compiled whatever came before
                    by_numba = schedule.table(n + 1, start=start, dtype=dtype)[:n]
                    np.testing.assert_array_equal(
                        python[f"{name}/{start}/{dtype}"], by_numba, err_msg=f"{name} at {start}"
                    )
                    checked += 1
        assert checked == len(EXAMPLES) * len(STARTS) * 2
        n_fit = 12
        np.testing.assert_array_equal(
            python["fit/step"], lrs.OneCycle(0.1, steps=n_fit).table(n_fit + 1)[:n_fit]
        )
        assert python["fit/epoch"].shape == (n_fit,)
