"""Resuming gives exactly the uninterrupted run: fit(initial_epoch=...) on the same model, and
BackupAndRestore into a fresh model after a crash, in either order in the callbacks list."""

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from callback_helpers import Interrupt, assert_same_weights, fit, model, optimizer, truth

EPOCHS = 4
STOP = 2  # the first run trains epochs 0 and 1, the resumed run epochs 2 and 3
TABLE = (0.02 + 0.1 * np.abs(np.sin(np.arange(30) * 0.9))).tolist()


def _recurrence(k, lr):
    return lr * 0.7 if k % 3 == 2 else lr + 0.02


CASES = {
    # name: (update, schedule factory, optimizer factory)
    "step-recurrence": ("step", lambda: _recurrence, lambda: optimizer(0.1)),
    "step-table-window3": ("step", lambda: lrs.Table(TABLE), lambda: optimizer(0.1)),
    "step-closed-form-owned": (
        "step",
        lambda: lrs.CosineRestarts(0.2, period=5, m_mul=0.8),
        lambda: optimizer(keras.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5)),
    ),
    "epoch-recurrence": ("epoch", lambda: _recurrence, lambda: optimizer(0.1)),
}


def _callback(case):
    update, schedule, _ = CASES[case]
    window = 3 if "window3" in case else None
    return lrs.LearningRateScheduler(schedule(), update=update, window=window)


def _uninterrupted(case):
    cb = _callback(case)
    weights, history, _ = truth(
        f"resume-{case}", lambda: model(opt=CASES[case][2]()), EPOCHS, [cb]
    )
    return weights, history["learning_rate"]


@pytest.mark.parametrize("case", ["step-recurrence", "step-closed-form-owned"])
def test_initial_epoch_on_the_same_model(case):
    truth_weights, truth_lrs = _uninterrupted(case)
    m = model(opt=CASES[case][2]())
    first = fit(m, [_callback(case)], epochs=STOP)
    # A new callback object: nothing carries over but the model and its optimizer.
    second = fit(m, [_callback(case)], epochs=EPOCHS, initial_epoch=STOP)
    lrs_seen = first.history["learning_rate"] + second.history["learning_rate"]
    np.testing.assert_allclose(lrs_seen, truth_lrs, rtol=1e-6)
    assert_same_weights(m, truth_weights)


@pytest.mark.parametrize(
    "case, backup_first",
    [("step-recurrence", True), ("step-table-window3", False), ("epoch-recurrence", True)],
)
def test_backup_and_restore_into_a_fresh_model(case, backup_first, tmp_path):
    truth_weights, truth_lrs = _uninterrupted(case)

    def callbacks(*extra):
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        ours = _callback(case)
        return ([backup, ours] if backup_first else [ours, backup]) + list(extra)

    crashed = model(opt=CASES[case][2]())
    with pytest.raises(RuntimeError, match="interrupted"):
        fit(crashed, callbacks(Interrupt(at=STOP)), epochs=EPOCHS)

    # A new process would build a new model: same architecture, other initial weights.
    fresh = model(opt=CASES[case][2](), seed=123)
    resumed = fit(fresh, callbacks(), epochs=EPOCHS)
    assert resumed.epoch == list(range(STOP, EPOCHS))
    np.testing.assert_allclose(resumed.history["learning_rate"], truth_lrs[STOP:], rtol=1e-6)
    assert_same_weights(fresh, truth_weights)
