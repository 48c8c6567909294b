"""Tiny models and data for the callback tests (tests/test_callback*.py, tests/test_plateau.py).

Every comparison here is against a ground truth run in the same process: keras' own callback,
or an optimizer that owns an equivalent in-graph schedule. Nothing is compared with hard-coded
numbers. Each SGD update moves the weights by lr * gradient, and the noisy targets keep the
gradients away from zero, so a wrong lr at any step shows in the final weights. The model is a
single Dense layer: the smallest train step, so that JAX and TensorFlow compile it fast.
"""

import numpy as np

STEPS_PER_EPOCH = 4
BATCH = 4
_RNG = np.random.default_rng(7)
X = _RNG.normal(size=(BATCH * STEPS_PER_EPOCH, 3)).astype("float32")
Y = (X @ np.array([[0.5], [-1.0], [2.0]]) + 0.1 + _RNG.normal(0, 0.5, (len(X), 1))).astype(
    "float32"
)
X_VAL = X[:8] + 0.01
Y_VAL = Y[:8]


def optimizer(lr=0.1, kind="sgd", **kwargs):
    import keras

    if kind == "sgd":
        return keras.optimizers.SGD(lr, **kwargs)
    if kind == "adam":
        return keras.optimizers.Adam(lr, **kwargs)
    raise ValueError(kind)


def model(lr=0.1, opt=None, seed=0, compile=True, layers=1):
    """A small built model; `opt` overrides the default SGD(lr). `layers=2` adds "hidden"."""
    import keras

    keras.utils.set_random_seed(seed)
    hidden = [keras.layers.Dense(2, name="hidden")] if layers == 2 else []
    m = keras.Sequential([keras.Input((3,)), *hidden, keras.layers.Dense(1, name="out")])
    if compile:
        m.compile(optimizer=opt if opt is not None else optimizer(lr), loss="mse")
    return m


def fit(m, callbacks=(), epochs=3, initial_epoch=0, validation=False, x=None, y=None, **kwargs):
    return m.fit(
        X if x is None else x,
        Y if y is None else y,
        batch_size=BATCH,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=list(callbacks),
        validation_data=(X_VAL, Y_VAL) if validation else None,
        **kwargs,
    )


def weights(m):
    return [np.asarray(w) for w in m.get_weights()]


def assert_same_weights(a, b, exact=False):
    """Weights of two models (or weight lists) agree: bit for bit, or to float32 round-off.

    The tolerance only absorbs a different fusion of the same float32 arithmetic by XLA; a lr
    off by one step moves these weights by 1e-4 or more.
    """
    wa = a if isinstance(a, list) else weights(a)
    wb = b if isinstance(b, list) else weights(b)
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert np.all(np.isfinite(u))
        if exact:
            np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


def count_traces(m):
    """Count how often `m`'s train_step runs in Python: once per trace under JAX and TensorFlow.

    The count comes from a subclass of the model's class, not from an instance attribute: JAX
    caches a trace per function object, and a wrapper set on the instance is the same object at
    every make_train_function, so a rebuilt step would reuse the old trace and hide a retrace.
    """
    calls = []
    base = type(m)

    class Counting(base):
        def train_step(self, *args, **kwargs):
            calls.append(1)
            return base.train_step(self, *args, **kwargs)

    m.__class__ = Counting
    return calls


def host_values(schedule, n, start=0):
    """`schedule` at steps start..start+n-1 through keras.ops (what the train step computes)."""
    import keras

    steps = np.arange(start, start + n)
    try:
        values = np.asarray(keras.ops.convert_to_numpy(schedule(steps)), dtype=np.float32)
    except Exception:  # noqa: BLE001 - a schedule with an ops.cond on the step takes scalars
        values = None
    if values is None or values.shape != steps.shape:
        values = np.float32([keras.ops.convert_to_numpy(schedule(int(k))) for k in steps])
    return values


class ScriptedMetric:
    """A callback writing a scripted value into the epoch logs (put it before the callback)."""

    def __new__(cls, key, values):
        import keras

        class _Scripted(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs[key] = float(values[epoch])

        return _Scripted()


class Interrupt:
    """A callback that raises at the beginning of epoch `at` (a simulated crash)."""

    def __new__(cls, at):
        import keras

        class _Interrupt(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == at:
                    raise RuntimeError("interrupted")

        return _Interrupt()


_TRUTH = {}


def truth(key, build, epochs, callbacks=(), **kwargs):
    """(weights, history, iterations) of a ground-truth run, run once per process per `key`."""
    import keras

    key = (key, epochs, keras.mixed_precision.global_policy().name, repr(sorted(kwargs.items())))
    if key not in _TRUTH:
        m = build()
        history = fit(m, callbacks, epochs=epochs, **kwargs)
        steps = int(keras.ops.convert_to_numpy(m.optimizer.iterations))
        _TRUTH[key] = (weights(m), history.history, steps)
    return _TRUTH[key]
