"""What the callback tells a user who likely made a mistake, and how it reports theirs.

* a schedule built for far more steps than the fit has epochs, run per epoch: a warning;
* a step-mode fit past the end of a finite schedule (torch raises there): a warning;
* something else (keras' ReduceLROnPlateau) setting the lr the schedule overrides: a warning
  that points to ``plateau=``; a keras-style recurrence, which is handed that lr, gets none;
* each warning comes once per callback, and never for a fit that matches its schedule;
* a spec string is a schedule; ``verbose`` is checked;
* an exception raised by the user's function keeps its type and gains "Epoch 3 (index 2)".

The probe of tests/test_callback_lifecycle.py reads what was applied: a bias-free Dense(1) with
inputs of 1, MAE against targets far below, plain SGD: each update moves the kernel by -lr.
"""

import warnings

import keras
import numpy as np
import pytest

import keras_lrsched as lrs

BATCH, STEPS = 2, 3
X = np.ones((BATCH * STEPS, 1), "float32")
Y = np.full((BATCH * STEPS, 1), -1e3, "float32")


def probe(lr=0.5):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
    ])
    m.compile(keras.optimizers.SGD(lr), loss="mean_absolute_error")
    return m


def ours(caught):
    """The warnings keras_lrsched gave (keras and the backends give their own)."""
    return [str(w.message) for w in caught if issubclass(w.category, lrs.callback.ScheduleWarning)]


def fit(m, callbacks, epochs=3, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
              callbacks=callbacks, **kwargs)
    return ours(caught)


def kernel(m):
    return float(np.asarray(m.get_weights()[0]).reshape(()))


# ---------------------------------------------------------------- a schedule's length


def test_a_schedule_of_steps_run_per_epoch_is_pointed_out_once():
    cb = lrs.LearningRateScheduler(lrs.OneCycle(0.1, steps=1000))
    m = probe()
    said = fit(m, [cb], epochs=5)
    assert len(said) == 1
    assert "OneCycle is built for 1000 steps" in said[0] and 'update="step"' in said[0]
    assert fit(m, [cb], epochs=5) == []  # once per callback


@pytest.mark.parametrize("schedule", [
    lrs.Cosine(0.1, steps=5), lrs.CosineRestarts(0.1, period=1000), lambda epoch: 0.1,
    lrs.ExponentialDecay(0.1, decay_rate=0.5, decay_steps=1000),
], ids=["epochs", "periodic", "function", "endless"])
def test_a_schedule_that_fits_the_epochs_or_goes_on_is_not(schedule):
    # (the category is a UserWarning, so a plain filter on UserWarning sees it too)
    assert issubclass(lrs.callback.ScheduleWarning, UserWarning)
    assert fit(probe(), [lrs.LearningRateScheduler(schedule)], epochs=5) == []


def test_a_step_mode_fit_past_the_end_is_pointed_out():
    m = probe()
    short = lrs.Linear(0.1, end=0.01, steps=4)
    cb = lrs.LearningRateScheduler(short, update="step")
    said = fit(m, [cb], epochs=3)  # 9 updates
    assert len(said) == 1 and "runs to optimizer step 9" in said[0]
    assert "from step 4 on it holds its last value" in said[0]
    assert "OneCycleLR" not in said[0]  # torch's OneCycleLR is named for a OneCycle only
    # it still applies the schedule, holding its end value
    np.testing.assert_array_equal(cb.learning_rates, short.table(9))
    assert fit(probe(), [lrs.LearningRateScheduler(lrs.Linear(0.1, end=0.01, steps=9),
                                                   update="step")]) == []


@pytest.mark.parametrize("schedule, torch", [
    (lambda: lrs.OneCycle(0.1, steps=4), True),
    (lambda: lrs.OneCycle(0.1, steps=4).cycle_momentum(), True),
    (lambda: lrs.Warmup(lrs.Cosine(0.1, steps=2), warmup_steps=2), False),
    (lambda: [0.1, 0.05, 0.02], False),
], ids=["OneCycle", "OneCycleMomentum", "Warmup", "table"])
def test_the_past_the_end_warning_names_torchs_one_cycle_only_for_a_one_cycle(schedule, torch):
    said = fit(probe(), [lrs.LearningRateScheduler(schedule(), update="step")], epochs=3)
    assert len(said) == 1 and "holds its last value" in said[0]
    assert ("torch's OneCycleLR raises there" in said[0]) == torch


def test_a_step_mode_run_of_unknown_length_is_checked_as_it_goes():
    def batches():  # a generator: keras does not know the steps per epoch
        for i in range(STEPS):
            yield X[i * BATCH : (i + 1) * BATCH], Y[i * BATCH : (i + 1) * BATCH]

    m = probe()
    cb = lrs.LearningRateScheduler(lrs.Cosine(0.1, steps=2), update="step")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.fit(batches(), epochs=1, verbose=0, callbacks=[cb])
    said = ours(caught)
    updates = int(keras.ops.convert_to_numpy(m.optimizer.iterations))  # 3, or 4 under TF
    assert updates > 2
    assert len(said) == 1 and f"runs to optimizer step {updates}" in said[0]


# ---------------------------------------------------------------- the lr set by someone else


def reduce_every_epoch():
    # The probe's loss falls every epoch; read as "max", it never improves after the first.
    return keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="max", factor=0.5,
                                             patience=0, min_lr=0.0)


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_keras_reduce_lr_on_plateau_next_to_a_schedule_is_pointed_out(update):
    m = probe()
    cb = lrs.LearningRateScheduler(lrs.Constant(0.01), update=update)
    w0 = kernel(m)
    said = fit(m, [cb, reduce_every_epoch()], epochs=4)
    assert len(said) == 1, said
    assert "ReduceLROnPlateau" in said[0] and "plateau=keras_lrsched.Plateau" in said[0]
    # the schedule's value stayed applied: 4 epochs of 3 updates at 0.01
    assert w0 - kernel(m) == pytest.approx(12 * 0.01, rel=1e-5)


def test_a_recurrence_is_handed_the_reduced_lr_as_with_keras_callback():
    m = probe(lr=0.08)
    cb = lrs.LearningRateScheduler(lambda epoch, lr: lr)
    w0 = kernel(m)
    said = fit(m, [cb, reduce_every_epoch()], epochs=3)
    assert said == []
    # epoch 0 and 1 at 0.08; the reduction after epoch 1 is honoured: epoch 2 at 0.04
    assert w0 - kernel(m) == pytest.approx(3 * (0.08 + 0.08 + 0.04), rel=1e-5)


def test_a_plateau_of_our_own_gives_no_warning():
    m = probe()
    plateau = lrs.Plateau("loss", mode="max", factor=0.5, patience=0)
    cb = lrs.LearningRateScheduler(lrs.Constant(0.01), plateau=plateau)
    assert fit(m, [cb], epochs=4) == []
    assert cb.scale == 0.125


def test_a_float16_lr_variable_is_not_someone_else():
    # keras rounds float64 -> float32 -> float16; rounding straight to float16 differs for this lr
    x = (1 + 2**-11 + 2**-40) * 2**-7
    keras.config.set_floatx("float16")
    try:
        m = probe()
    finally:
        keras.config.set_floatx("float32")
    assert keras.backend.standardize_dtype(m.optimizer.learning_rate.dtype) == "float16"
    assert fit(m, [lrs.LearningRateScheduler(lambda epoch: x)], epochs=3) == []


def test_setting_the_lr_between_fits_is_not_someone_else():
    m = probe()
    cb = lrs.LearningRateScheduler(lrs.Constant(0.01))
    assert fit(m, [cb], epochs=2) == []
    m.optimizer.learning_rate = 0.3
    assert fit(m, [cb], epochs=2) == []


# ---------------------------------------------------------------- arguments and user errors


def test_a_spec_string_is_a_schedule():
    m = probe()
    cb = lrs.LearningRateScheduler("cosine(0.1, steps=9, end=0.01)", update="step")
    assert isinstance(cb.schedule, lrs.Cosine)
    w0 = kernel(m)
    fit(m, [cb], epochs=3)
    expected = lrs.Cosine(0.1, steps=9, end=0.01).table(9)
    np.testing.assert_array_equal(cb.learning_rates, expected)
    assert w0 - kernel(m) == pytest.approx(float(expected.astype(np.float64).sum()), rel=1e-5)
    with pytest.raises(ValueError, match="cosine"):
        lrs.LearningRateScheduler("cosine(0.1, steps=0)")


@pytest.mark.parametrize("verbose, error", [("yes", TypeError), (-1, ValueError),
                                            (0.5, ValueError), (None, TypeError)])
def test_verbose_is_checked(verbose, error):
    with pytest.raises(error, match=r"`verbose`.*verbose="):
        lrs.LearningRateScheduler(lrs.Constant(0.1), verbose=verbose)


def test_verbose_true_is_one():
    assert lrs.LearningRateScheduler(lrs.Constant(0.1), verbose=True).verbose == 1


def test_the_user_s_exception_keeps_its_type_and_names_the_epoch_as_keras_prints_it():
    def schedule(epoch):
        return 0.1 / (2 - epoch)  # ZeroDivisionError at epoch index 2, "Epoch 3" in keras' log

    m = probe()
    w0 = kernel(m)
    with pytest.raises(ZeroDivisionError) as caught:
        fit(m, [lrs.LearningRateScheduler(schedule)], epochs=4)
    assert "Epoch 3 (index 2)" in " ".join(getattr(caught.value, "__notes__", [str(caught.value)]))
    assert w0 - kernel(m) == pytest.approx(3 * 0.05 + 3 * 0.1, rel=1e-5)  # epochs 1 and 2 ran
    assert float(m.optimizer.learning_rate) == pytest.approx(0.1)  # the last lr applied


def test_a_bad_value_names_the_epoch_as_keras_prints_it():
    with pytest.raises(ValueError, match=r"Epoch 2 \(index 1\)"):
        fit(probe(), [lrs.LearningRateScheduler(lambda epoch: [0.1, float("nan")][epoch])])


def test_the_user_s_exception_in_step_mode_names_the_step():
    def schedule(step):
        if step == 4:
            raise KeyError("no lr for this step")
        return 0.01

    with pytest.raises(KeyError) as caught:
        fit(probe(), [lrs.LearningRateScheduler(schedule, update="step")])
    assert "step 4" in " ".join(getattr(caught.value, "__notes__", []))
