"""Plateau: keras' ReduceLROnPlateau decisions, as a scale on any schedule, in both modes."""

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from callback_helpers import (
    STEPS_PER_EPOCH,
    Interrupt,
    ScriptedMetric,
    assert_same_weights,
    fit,
    model,
    optimizer,
    truth,
)

_RNG = np.random.default_rng(3)
# A noisy descent with flat stretches: improvements, ties within min_delta, and plateaus.
SERIES = np.round(
    np.maximum.accumulate(np.where(_RNG.random(40) < 0.35, 0.0, _RNG.random(40) * 0.05))[::-1]
    + 1.0
    + _RNG.normal(0, 0.003, 40) * (_RNG.random(40) < 0.5),
    4,
).tolist()


def drive(callback, m, values, key="score"):
    """Run `callback`'s epoch hooks over scripted monitored values, without training.

    Returns logs["learning_rate"] of each epoch.
    """
    callback.set_model(m)
    callback.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch)
        logs = {key: value}
        callback.on_epoch_end(epoch, logs)
        seen.append(logs["learning_rate"])
    callback.on_train_end()
    return seen


def keras_scales(values, key="score", final=False, **plateau):
    """The scale keras' ReduceLROnPlateau gives each epoch (its lr, starting from 1.0).

    With `final`, also the scale after the last epoch's decision.
    """
    kwargs = dict(plateau)
    kwargs["min_lr"] = kwargs.pop("min_scale", 0.0)
    reduce = keras.callbacks.ReduceLROnPlateau(monitor=key, **kwargs)
    m = model(lr=1.0)
    scales = drive(reduce, m, values, key)
    return (scales, float(m.optimizer.learning_rate)) if final else scales


COMBOS = [
    dict(factor=0.5, patience=0, mode="min", min_delta=0.0),
    dict(factor=0.1, patience=2, mode="min", min_delta=1e-4, cooldown=1),
    dict(factor=0.5, patience=1, mode="max", min_delta=0.01, cooldown=2, min_scale=0.125),
    dict(factor=0.7, patience=3, mode="auto", min_delta=0.001, cooldown=0),
]


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_decisions_match_keras_reduce_lr_on_plateau(combo):
    key = "val_loss" if combo["mode"] == "auto" else "score"
    expected = keras_scales(SERIES, key=key, **combo)
    cb = lrs.LearningRateScheduler(lrs.Constant(1.0), plateau=lrs.Plateau(monitor=key, **combo))
    seen = drive(cb, model(lr=1.0), SERIES, key=key)
    np.testing.assert_allclose(seen, expected, rtol=1e-6)
    assert min(expected) < 1.0  # the series does trigger reductions


@pytest.mark.parametrize("owned", [False, True], ids=["float-lr", "schedule-owned"])
def test_epoch_mode_scales_the_schedule(owned):
    combo = COMBOS[1]
    scales, final = keras_scales(SERIES, final=True, **combo)
    schedule = lrs.ExponentialDecay(0.5, decay_rate=0.9)
    opt = optimizer(keras.optimizers.schedules.CosineDecay(0.1, 100)) if owned else optimizer(0.1)
    cb = lrs.LearningRateScheduler(schedule, plateau=lrs.Plateau(monitor="score", **combo))
    seen = drive(cb, model(opt=opt), SERIES)
    expected = [float(schedule(e)) * s for e, s in enumerate(scales)]
    np.testing.assert_allclose(seen, expected, rtol=1e-6)
    assert cb.scale == pytest.approx(final, rel=1e-6)


def test_keras_reduce_lr_on_plateau_cannot_do_this():
    m = model(opt=optimizer(lrs.Cosine(0.1, steps=50)))
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="score", patience=0, mode="min")
    with pytest.raises(TypeError, match="not settable"):
        drive(reduce, m, [1.0, 2.0])


# In step mode the scale is a variable read inside the train step: same weights as an optimizer
# that owns schedule(step) * scale(epoch of step), with the scales keras' decisions give.
VALUES = [1.0, 2.0, 2.0, 2.0, 2.0]
PLATEAU = dict(factor=0.5, patience=1, mode="min", min_delta=0.0, cooldown=1)


class _ScaledByEpoch(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, schedule, scales):
        self.schedule, self.scales = schedule, scales

    def __call__(self, step):
        epoch = keras.ops.minimum(step // STEPS_PER_EPOCH, len(self.scales) - 1)
        scale = keras.ops.take(keras.ops.convert_to_tensor(np.float32(self.scales)), epoch)
        return keras.ops.multiply(keras.ops.cast(self.schedule(step), "float32"), scale)


def _step_callback():
    return lrs.LearningRateScheduler(
        lrs.Cosine(0.2, steps=30, end=0.02), update="step", plateau=lrs.Plateau("score", **PLATEAU)
    )


def _step_truth(epochs):
    scales = keras_scales(VALUES[:epochs], **PLATEAU)
    schedule = _ScaledByEpoch(lrs.Cosine(0.2, steps=30, end=0.02), scales)
    weights, _, _ = truth(f"plateau-step-{epochs}", lambda: model(opt=optimizer(schedule)), epochs)
    last = [float(schedule((e + 1) * STEPS_PER_EPOCH - 1)) for e in range(epochs)]
    return weights, last, scales


def test_step_mode_reads_the_scale_inside_the_compiled_step():
    truth_weights, truth_lrs, scales = _step_truth(5)
    assert len(set(scales)) >= 3  # two reductions inside the run
    m = model()
    cb = _step_callback()
    history = fit(m, [ScriptedMetric("score", VALUES), cb], epochs=5)
    assert_same_weights(m, truth_weights)
    np.testing.assert_allclose(history.history["learning_rate"], truth_lrs, rtol=1e-6)
    steps = np.arange(5 * STEPS_PER_EPOCH)
    expected = (
        lrs.Cosine(0.2, steps=30, end=0.02).table(steps.size) * np.float32(scales)[steps // 4]
    )
    np.testing.assert_allclose(cb.learning_rates, expected, rtol=1e-6)


@pytest.mark.parametrize("how", ["initial_epoch", "backup_and_restore"])
def test_resume_restores_the_scale(how, tmp_path):
    truth_weights, truth_lrs, _ = _step_truth(5)
    first = model()
    stop = 3  # after a reduction at the end of epoch 2, with a cooldown and a wait running
    if how == "initial_epoch":
        fit(first, [ScriptedMetric("score", VALUES), _step_callback()], epochs=stop)
        resumed_model = first
        history = fit(
            first, [ScriptedMetric("score", VALUES), _step_callback()], epochs=5, initial_epoch=stop
        )
    else:
        def callbacks(*extra):
            backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
            return [ScriptedMetric("score", VALUES), _step_callback(), backup, *extra]

        with pytest.raises(RuntimeError):
            fit(first, callbacks(Interrupt(at=stop)), epochs=5)
        resumed_model = model(seed=99)
        history = fit(resumed_model, callbacks(), epochs=5)
    assert history.epoch == [3, 4]
    np.testing.assert_allclose(history.history["learning_rate"], truth_lrs[stop:], rtol=1e-6)
    assert_same_weights(resumed_model, truth_weights)


def test_missing_monitor_warns_and_keeps_the_scale():
    cb = lrs.LearningRateScheduler(lrs.Constant(0.1), plateau=lrs.Plateau("val_loss", patience=0))
    with pytest.warns(UserWarning, match="val_loss"):
        seen = drive(cb, model(), [1.0, 2.0, 3.0], key="loss")
    assert seen == [pytest.approx(0.1)] * 3
    assert cb.scale == 1.0


def test_auto_mode_direction_follows_the_metric():
    m = model()
    m.compile(optimizer(0.1), loss="mse", metrics=["mae", "accuracy"])
    m.evaluate(np.ones((4, 3)), np.ones((4, 1)), verbose=0)  # builds the compiled metrics
    assert lrs.Plateau("val_loss").direction(m) == "min"
    assert lrs.Plateau("val_mae").direction(m) == "min"
    assert lrs.Plateau("accuracy").direction(m) == "max"
    with pytest.raises(ValueError, match="score"):
        lrs.Plateau("score").direction(m)
    assert lrs.Plateau("score", mode="max").direction(m) == "max"


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"factor": 1.0}, ValueError, "factor"),
        ({"factor": 0.0}, ValueError, "factor"),
        ({"factor": "0.5"}, TypeError, "factor"),
        ({"patience": -1}, ValueError, "patience"),
        ({"patience": 1.5}, ValueError, "patience"),
        ({"cooldown": -2}, ValueError, "cooldown"),
        ({"mode": "up"}, ValueError, "mode"),
        ({"min_delta": float("nan")}, ValueError, "min_delta"),
        ({"min_scale": -0.1}, ValueError, "min_scale"),
        ({"min_scale": 1.5}, ValueError, "min_scale"),
        ({"monitor": ""}, TypeError, "monitor"),
        ({"monitor": None}, TypeError, "monitor"),
    ],
)
def test_arguments_are_checked(kwargs, error, name):
    with pytest.raises(error, match=name):
        lrs.Plateau(**kwargs)


def test_config_round_trip():
    p = lrs.Plateau("val_acc", factor=0.3, patience=4, mode="max", cooldown=2, min_scale=0.01)
    assert lrs.Plateau(**p.get_config()).get_config() == p.get_config()
    assert "val_acc" in repr(p)
