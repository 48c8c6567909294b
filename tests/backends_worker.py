"""The lr trajectory of one backend, for tests/test_same_numbers.py (run in a fresh process).

    KERAS_BACKEND=torch python tests/backends_worker.py OUT.npz

Fits a tiny model with each case below and saves, per case: the lr the optimizer reports at each
batch begin (read from the device: what the next update uses), the callback's `learning_rates`
and History's lr. The parent compares the files of the three backends.
"""

import os
import sys

import numpy as np

STEPS, BATCH, EPOCHS = 4, 4, 3
RNG = np.random.default_rng(3)
X = RNG.normal(size=(STEPS * BATCH, 3)).astype("float32")
Y = (X @ np.float32([[0.5], [-1.0], [2.0]])).astype("float32")


def cases(lrs):
    """(update, schedule, plateau) per name: families whose float32 closed forms differ by
    backend (cosine, restarts, one-cycle, exp_range, WSD, a Join), a table under a plateau, and
    epoch mode."""
    n = STEPS * EPOCHS
    plateau = lrs.Plateau(monitor="score", factor=0.5, patience=0, mode="min")
    return {
        "warmup-cosine": (
            "step",
            lrs.Warmup(lrs.Cosine(0.1, steps=n - 3, end=1e-3), warmup_steps=3),
            None,
        ),
        "sgdr": ("step", lrs.CosineRestarts(0.1, period=3, t_mul=2.0, m_mul=0.9), None),
        "one-cycle": ("step", lrs.OneCycle(0.2, steps=n), None),
        "cyclic-exp-range": (
            "step",
            lrs.Cyclic(0.01, peak=0.1, step_size_up=2, mode="exp_range", gamma=0.9),
            None,
        ),
        "wsd": (
            "step",
            lrs.WarmupStableDecay(0.1, warmup_steps=2, stable_steps=4, decay_steps=5),
            None,
        ),
        "join": (
            "step",
            lrs.Join([lrs.Linear(0.0, end=0.1, steps=4), lrs.Cosine(0.1, steps=8)], boundaries=[4]),
            None,
        ),
        "table+plateau": ("step", lrs.Table(np.linspace(0.1, 0.01, n)), plateau),
        "epoch-cosine": ("epoch", lrs.Cosine(0.1, steps=EPOCHS, end=1e-3), None),
    }


def main(out):
    import keras

    import keras_lrsched as lrs

    class Probe(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.reported = []

        def on_train_batch_begin(self, batch, logs=None):
            lr = self.model.optimizer.learning_rate  # self.model syncs JAX's state first
            self.reported.append(np.float32(keras.ops.convert_to_numpy(lr)))

        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = 1.0  # never improves after epoch 0

    saved = {}
    for name, (update, schedule, plateau) in cases(lrs).items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), loss="mse")
        probe = Probe()
        cb = lrs.LearningRateScheduler(schedule, update=update, plateau=plateau)
        history = model.fit(X, Y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                            callbacks=[probe, cb])
        saved[f"{name}/reported"] = np.float32(probe.reported)
        saved[f"{name}/learning_rates"] = np.asarray(cb.learning_rates)
        saved[f"{name}/history"] = np.float64(history.history["learning_rate"])
    np.savez(out, backend=keras.backend.backend(), **saved)


if __name__ == "__main__":
    assert os.environ.get("KERAS_BACKEND"), "the parent sets KERAS_BACKEND"
    main(sys.argv[1])
