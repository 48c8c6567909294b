"""One cell of the first-use matrix (tests/test_first_use.py), run in a fresh process.

    python tests/first_use_worker.py LOADER OUT.npz

First LOADER, the first thing of the process to need Numba (``precompute``, a long ``Table``, a
family's long table, a step-mode fit with a function, ``find_lr``, the CLI's ``table``); then
what a user does next: every example schedule's long table in float32 and float64, and two
step-mode fits. Everything is written to OUT.npz for the test to compare across cells.
"""

import os
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))

import keras  # noqa: E402

import keras_lrsched as lrs  # noqa: E402
from conftest import EXAMPLES  # noqa: E402
from keras_lrsched.kernels import _config  # noqa: E402

LONG = _config.PYTHON_MAX + 1000  # longer than a table that runs as Python
STARTS = (0, 2**31 + 5)
DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


def family_loaders():
    """One example per schedule class: (class name, example name)."""
    seen = {}
    for name, build in EXAMPLES.items():
        seen.setdefault(type(build(lrs)).__name__, name)
    return seen


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _model(lr=0.01):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(lr), loss="mse")
    return model


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def load(loader, out, tmp):
    """Run `loader`; what it computes goes into `out` too."""
    if loader == "precompute":
        out["loader"] = lrs.precompute(lambda i: 0.1 / (1 + i), LONG)
    elif loader == "Table":
        out["loader"] = lrs.Table(np.linspace(0.1, 0.0, LONG)).table(LONG + 10)
    elif loader == "fit-function":
        # 8 steps per epoch, 2100 epochs: the function's whole run (16800 steps) is computed
        # when the fit begins. One epoch is enough to show it.
        x, y = _data()
        model = _model()
        cb = lrs.LearningRateScheduler(lambda step: 0.01 / (1 + 0.001 * step), update="step")
        model.fit(x, y, batch_size=8, epochs=2100, verbose=0,
                  callbacks=[cb, _StopAfterFirstEpoch()])
        out["loader"] = cb.learning_rates
    elif loader == "find_lr":
        x, y = _data(256)
        result = lrs.find_lr(_model(), x, y, start=1e-3, end=1e6, steps=LONG, batch_size=8)
        out["loader"] = np.asarray(result.learning_rates)
    elif loader == "cli-table":
        from keras_lrsched import cli

        path = os.path.join(tmp, "table.npy")
        code = cli.main(["table", "cosine(0.1, steps=100000)", "--steps", str(LONG), "-o", path])
        assert code in (0, None), code
        out["loader"] = np.load(path)
    elif loader.startswith("family:"):
        out["loader"] = EXAMPLES[loader.split(":", 1)[1]](lrs).table(LONG)
    else:
        raise SystemExit(f"unknown loader {loader!r}")


def follow(out):
    for name, build in EXAMPLES.items():
        for start in STARTS:
            for dtype in ("float32", "float64"):
                try:
                    values = build(lrs).table(LONG, start=start, dtype=dtype)
                except OverflowError:
                    # Only as Python (NUMBA_DISABLE_JIT): math.exp raises where compiled code
                    # gives inf (a growing ExponentialDecay, clipped to `end` after).
                    assert DISABLED, name
                    continue
                out[f"{name}/{start}/{dtype}"] = values
    x, y = _data()
    for label, schedule in (
        ("schedule", lrs.Warmup(lrs.Cosine(0.05, steps=40000, end=1e-4), warmup_steps=5)),
        ("function", lambda step: 0.05 * 0.9**step),
    ):
        model = _model()
        cb = lrs.LearningRateScheduler(schedule, update="step")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
        out[f"fit-{label}/lrs"] = cb.learning_rates
        out[f"fit-{label}/kernel"] = keras.ops.convert_to_numpy(model.layers[0].kernel)


def loaders():
    """Every loader of the matrix."""
    names = ["precompute", "Table", "fit-function", "find_lr", "cli-table"]
    return names + [f"family:{name}" for name in family_loaders().values()]


def main():
    loader, path = sys.argv[1], sys.argv[2]
    assert "numba" not in sys.modules, "importing keras_lrsched loaded Numba"
    out = {}
    if loader == "reference":  # everything as Python (NUMBA_DISABLE_JIT=1): every loader's values
        assert DISABLED
        for name in loaders():
            load(name, out, os.path.dirname(path))
            out[f"loader/{name}"] = out.pop("loader")
    else:
        load(loader, out, os.path.dirname(path))
        # The loader is what first needed Numba (a family without a kernel, Constant, needs
        # none; nor does anything with NUMBA_DISABLE_JIT=1).
        out["loaded_numba"] = np.bool_("numba" in sys.modules)
    follow(out)
    np.savez(path, **out)


if __name__ == "__main__":
    main()
