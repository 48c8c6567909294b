"""LearningRateScheduler: epoch mode against keras' own callback, step mode against an optimizer
that owns the equivalent in-graph schedule, on whichever backend KERAS_BACKEND selects."""

import math

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from callback_helpers import (
    STEPS_PER_EPOCH,
    X,
    Y,
    assert_same_weights,
    count_traces,
    fit,
    host_values,
    model,
    optimizer,
    truth,
    weights,
)

EPOCHS = 2
N_STEPS = EPOCHS * STEPS_PER_EPOCH
TABLE = (0.05 + 0.04 * np.sin(np.arange(40) * 0.7)).tolist()


def _recurrence(k, lr):
    return lr * 0.8 if k % 2 else lr + 0.01


def _closed(k):
    return 0.2 / (1.0 + 0.3 * k)


# Each case: (what the callback gets, the equivalent schedule an optimizer owns as ground truth
# (given the optimizer's initial lr), a key naming that ground truth).
STEP_CASES = {
    "keras_lrsched": (
        lambda: lrs.Warmup(lrs.Cosine(0.2, steps=10, end=0.01), warmup_steps=3),
        lambda lr0: lrs.Warmup(lrs.Cosine(0.2, steps=10, end=0.01), warmup_steps=3),
        "warmup-cosine",
    ),
    "keras-CosineDecay": (
        lambda: keras.optimizers.schedules.CosineDecay(0.2, decay_steps=6, alpha=0.1),
        lambda lr0: keras.optimizers.schedules.CosineDecay(0.2, decay_steps=6, alpha=0.1),
        "keras-cosine",
    ),
    "keras-CosineDecay-warmup": (  # an ops.cond on the step: refuses a vector of steps
        lambda: _keras_warmup_cosine(),
        lambda lr0: _keras_warmup_cosine(),
        "keras-warmup-cosine",
    ),
    "Table": (lambda: lrs.Table(TABLE), lambda lr0: lrs.Table(TABLE), "table"),
    "array": (lambda: np.asarray(TABLE), lambda lr0: lrs.Table(TABLE), "table"),
    "f(step)": (lambda: _closed, lambda lr0: lrs.Table(_closed_table(40)), "closed"),
    "f(step, lr)": (
        lambda: _recurrence,
        lambda lr0: lrs.Table(_recurrence_table(40, lr0)),
        "recurrence",
    ),
}


def _keras_warmup_cosine():
    return keras.optimizers.schedules.CosineDecay(
        0.05, decay_steps=6, alpha=0.1, warmup_target=0.2, warmup_steps=3
    )


def _closed_table(n):
    return np.float32([_closed(k) for k in range(n)])


def _recurrence_table(n, lr0, start=0):
    # The lr handed on is the float32 the optimizer holds, as keras' own callback reads it.
    out, lr = [], np.float32(lr0)
    for k in range(start, start + n):
        lr = np.float32(_recurrence(k, float(lr)))
        out.append(lr)
    return np.float32(out)


def _truth_of(case, epochs=EPOCHS, lr0=0.1):
    _, schedule_of, key = STEP_CASES[case]
    return truth(key, lambda: model(opt=optimizer(schedule_of(lr0))), epochs)


@pytest.mark.parametrize(
    "case, window",
    [(c, 3 if c == "array" else None) for c in STEP_CASES],
    ids=[f"{c}-window3" if c == "array" else c for c in STEP_CASES],
)
def test_step_mode_matches_an_optimizer_that_owns_the_schedule(case, window, capsys):
    # For the array, window=3 is shorter than an epoch (4 steps): the window is refreshed
    # from a batch hook.
    make, schedule_of, _ = STEP_CASES[case]
    m = model(lr=0.1)
    m.optimizer.build(m.trainable_variables)
    n_vars = len(m.optimizer.variables)
    cb = lrs.LearningRateScheduler(make(), update="step", window=window, verbose=1)
    history = fit(m, [cb], epochs=EPOCHS)

    truth_weights, _, _ = _truth_of(case)
    assert_same_weights(m, truth_weights)
    expected = host_values(schedule_of(0.1), N_STEPS)
    np.testing.assert_allclose(cb.learning_rates, expected, rtol=1e-6)
    last_of_each_epoch = expected[STEPS_PER_EPOCH - 1 :: STEPS_PER_EPOCH]
    np.testing.assert_allclose(history.history["learning_rate"], last_of_each_epoch, rtol=1e-6)
    out = capsys.readouterr().out
    assert f"Epoch 2: LearningRateScheduler setting learning rate to {float(expected[4])}" in out
    assert f"from step {STEPS_PER_EPOCH}" in out

    # The optimizer is back to a settable float lr equal to the last lr applied.
    assert isinstance(m.optimizer.learning_rate, keras.Variable)
    assert float(m.optimizer.learning_rate) == pytest.approx(float(expected[-1]), rel=1e-6)
    assert len(m.optimizer.variables) == n_vars
    m.optimizer.learning_rate = 0.3
    assert float(m.optimizer.learning_rate) == pytest.approx(0.3)


def _kernel_value(schedule):
    """What epoch mode applies for a keras_lrsched schedule: its kernel's float64 value."""
    return lambda e: float(schedule.table(1, e, dtype="float64")[0])


EPOCH_CASES = {
    "f(epoch, lr)": (lambda: _recurrence, lambda: _recurrence),
    "keras_lrsched": (
        lambda: lrs.ExponentialDecay(0.2, decay_rate=0.5),
        lambda: _kernel_value(lrs.ExponentialDecay(0.2, decay_rate=0.5)),
    ),
}


def test_epoch_mode_applies_the_kernel_value_of_a_keras_lrsched_schedule():
    # The value keras' callback is handed above is the formula's, in float64 (printed as such).
    value = _kernel_value(lrs.ExponentialDecay(0.2, decay_rate=0.5))
    assert [value(e) for e in range(6)] == pytest.approx([0.2 * 0.5**e for e in range(6)],
                                                         rel=1e-15)


@pytest.mark.parametrize("case", list(EPOCH_CASES))
def test_epoch_mode_is_a_drop_in_for_keras_callback(case, capsys):
    ours, theirs = EPOCH_CASES[case]
    m = model()
    cb = lrs.LearningRateScheduler(ours(), verbose=1)
    history = fit(m, [cb], epochs=EPOCHS)
    our_output = capsys.readouterr().out
    k = model()
    keras_cb = keras.callbacks.LearningRateScheduler(theirs(), verbose=1)
    keras_history = fit(k, [keras_cb], epochs=EPOCHS)
    assert our_output == capsys.readouterr().out
    assert "LearningRateScheduler setting learning rate to" in our_output
    assert history.history == keras_history.history
    assert_same_weights(m, k, exact=True)
    expected = np.repeat(np.float32(keras_history.history["learning_rate"]), STEPS_PER_EPOCH)
    np.testing.assert_array_equal(cb.learning_rates, expected)


def _batches(n):
    for i in range(n):
        j = (i % STEPS_PER_EPOCH) * 4
        yield X[j : j + 4], Y[j : j + 4]


def test_unknown_steps_per_epoch():
    # A generator has no length: fit's params say steps=None. The callback then works a window
    # ahead, refreshed from a batch hook; a function is then computed a part at a time, each
    # part checked before it is used.
    truth_model = model(opt=optimizer(lrs.Table(_closed_table(40))))
    truth_model.fit(_batches(11), epochs=1, verbose=0)
    # 11 updates (TensorFlow's optimizer.iterations says 12: see docs/callback_design.md)
    for schedule in (_closed, lrs.Table(_closed_table(40))):
        m = model()
        cb = lrs.LearningRateScheduler(schedule, update="step", window=5)
        m.fit(_batches(11), epochs=1, verbose=0, callbacks=[cb])
        assert cb.params["steps"] is None
        assert_same_weights(m, truth_model)
        np.testing.assert_allclose(cb.learning_rates, _closed_table(11), rtol=1e-6)


def test_a_later_fit_without_the_callback_uses_the_restored_optimizer():
    # The train step is rebuilt after fit, so a plain fit applies the optimizer's own float lr,
    # which holds the last lr applied. A Table holds its last value: the ground truth owns the
    # first 8 values of the schedule, for all 12 steps.
    schedule = lrs.Cosine(0.2, steps=10, end=0.01)
    m = model()
    fit(m, [lrs.LearningRateScheduler(schedule, update="step")], epochs=EPOCHS)
    fit(m, epochs=EPOCHS + 1, initial_epoch=EPOCHS)
    truth_model = model(opt=optimizer(lrs.Table(host_values(schedule, N_STEPS))))
    fit(truth_model, epochs=EPOCHS + 1)
    assert_same_weights(m, truth_model)


@pytest.mark.parametrize(
    "schedule",
    [lrs.Table(np.linspace(0.1, 0.0, 10**6)), _closed, lrs.Cosine(0.1, steps=10**9)],
    ids=["table", "f(step)", "keras_lrsched"],
)
def test_a_billion_step_run_keeps_a_small_window_on_the_device(schedule):
    # fit's params announce 250M epochs of 4 steps: the device holds one epoch's window (and
    # the step after it), and neither a function nor a kernel is run for the whole run (4 GB)
    # but a window ahead.
    seen = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen["sizes"] = [int(np.prod(v.shape)) for v in self.model.optimizer.variables]
            self.model.stop_training = True

    m = model()
    cb = lrs.LearningRateScheduler(schedule, update="step")
    fit(m, [cb, Probe()], epochs=250_000_000)
    # Plain SGD has no slots: the largest optimizer variable is the window, one epoch long.
    assert max(seen["sizes"]) == STEPS_PER_EPOCH + 1
    if isinstance(schedule, lrs.Schedule):
        expected = host_values(schedule, 4)
    else:
        expected = _closed_table(4)
    np.testing.assert_allclose(cb.learning_rates, expected, rtol=1e-6)


def test_epoch_mode_checks_a_kernel_value_when_its_epoch_begins():
    # 0.1 * 1e10**epoch is 1e39 at epoch 4, beyond float32. The values are computed for every
    # epoch at epoch 0, but epochs 0..3 train, as with keras' callback, and the error names
    # epoch 4 (keras prints it "Epoch 5") before its lr is set.
    trained = []

    class Trained(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            trained.append(epoch)

    m = model()
    cb = lrs.LearningRateScheduler(lrs.ExponentialDecay(0.1, decay_rate=1e10))
    with pytest.raises(ValueError, match=r"Epoch 5 \(index 4\)"):
        fit(m, [cb, Trained()], epochs=6)
    assert trained == [0, 1, 2, 3]
    assert float(m.optimizer.learning_rate) == pytest.approx(1e29, rel=1e-6)


class _HalvingNoKernel(lrs.Schedule):
    """A user's Schedule subclass with a closed form and no Numba kernel (_fill)."""

    def _compute(self, steps):
        return 0.2 * keras.ops.power(0.5, keras.ops.cast(steps, "float32"))

    def get_config(self):
        return {}


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_a_schedule_subclass_without_a_kernel_is_computed_like_a_keras_schedule(update):
    cb = lrs.LearningRateScheduler(_HalvingNoKernel(), update=update)
    history = fit(model(), [cb], epochs=EPOCHS)
    index = np.arange(N_STEPS) if update == "step" else np.repeat(np.arange(EPOCHS),
                                                                   STEPS_PER_EPOCH)
    np.testing.assert_allclose(cb.learning_rates, 0.2 * 0.5**index, rtol=1e-6)
    assert len(history.history["learning_rate"]) == EPOCHS


def test_epoch_mode_plans_a_bounded_number_of_epochs():
    # fit(epochs=10**9) stopped after one epoch: the kernel computes 65536 epochs, not 8 GB.
    class StopNow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    schedule = lrs.Cosine(0.1, steps=10**9)
    cb = lrs.LearningRateScheduler(schedule)
    history = fit(model(), [cb, StopNow()], epochs=10**9)
    assert cb._source.epochs[1].shape == (1 << 16,)
    assert history.history["learning_rate"] == [pytest.approx(0.1)]


def test_long_runs_precompute_functions_with_numba(monkeypatch):
    # Past 2**14 steps a function's table comes from lrs.precompute (Numba); shorter ones from a
    # plain Python loop. Both give the same values and name the same bad step.
    import keras_lrsched.callback.sources as callback_module

    short = lrs.LearningRateScheduler(_recurrence, update="step")._source.stepper(3, 40, 0.1)
    monkeypatch.setattr(callback_module, "_PYTHON_LOOP_MAX", 0)
    long = lrs.LearningRateScheduler(_recurrence, update="step")._source.stepper(3, 40, 0.1)
    np.testing.assert_array_equal(long.get(3, 40), short.get(3, 40))
    np.testing.assert_allclose(long.get(3, 40), _recurrence_table(40, 0.1, start=3), rtol=1e-6)
    for threshold in (0, 1 << 14):
        monkeypatch.setattr(callback_module, "_PYTHON_LOOP_MAX", threshold)
        source = lrs.LearningRateScheduler(_nan_from_5, update="step")._source
        with pytest.raises(ValueError, match="nan at step 5"):
            source.stepper(0, 40, None)


class _CountsHostCalls(keras.optimizers.schedules.LearningRateSchedule):
    """keras' CosineDecay, counting the calls on a vector of steps (host evaluations; the
    train step calls it with a scalar step)."""

    def __init__(self):
        self.inner = keras.optimizers.schedules.CosineDecay(0.2, decay_steps=10, alpha=0.1)
        self.vector_calls = 0

    def __call__(self, step):
        if len(keras.ops.shape(step)):
            self.vector_calls += 1
        return self.inner(step)


def test_a_foreign_schedule_is_evaluated_on_the_host_once_per_run_not_per_epoch():
    # The run check evaluates it on a vector once; the epochs' checks, the lr logged at each
    # epoch end and learning_rates read that block again.
    schedule = _CountsHostCalls()
    cb = lrs.LearningRateScheduler(schedule, update="step")
    history = fit(model(), [cb], epochs=3)
    expected = host_values(schedule.inner, 3 * STEPS_PER_EPOCH)
    np.testing.assert_allclose(cb.learning_rates, expected, rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"],
                               expected[STEPS_PER_EPOCH - 1 :: STEPS_PER_EPOCH], rtol=1e-6)
    assert schedule.vector_calls == 1


def _nan_from_5(k):
    return 0.1 if k < 5 else math.nan


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_optimizer_that_owns_a_schedule(update):
    owned = keras.optimizers.schedules.ExponentialDecay(0.3, decay_steps=2, decay_rate=0.5)
    m = model(opt=optimizer(owned))
    # keras' own callback cannot drive this optimizer at all.
    with pytest.raises(TypeError, match="not settable"):
        fit(model(opt=optimizer(owned)), [keras.callbacks.LearningRateScheduler(_closed)], epochs=1)

    if update == "step":
        cb = lrs.LearningRateScheduler(lrs.Table(TABLE), update="step")
        history = fit(m, [cb], epochs=EPOCHS)
        truth_weights, truth_history, _ = _truth_of("Table")
    else:
        history = fit(m, [lrs.LearningRateScheduler(_closed)], epochs=EPOCHS)
        keras_cb = keras.callbacks.LearningRateScheduler(_closed)
        truth_weights, truth_history, _ = truth("keras-callback-closed", model, EPOCHS, [keras_cb])
        assert history.history["learning_rate"] == truth_history["learning_rate"]
    assert history.history["loss"] == pytest.approx(truth_history["loss"], rel=1e-5)
    assert_same_weights(m, truth_weights)

    # The optimizer owns its schedule again, and evaluates it at its own step count.
    config = m.optimizer.get_config()["learning_rate"]
    assert config == keras.optimizers.schedules.serialize(owned)
    step = int(keras.ops.convert_to_numpy(m.optimizer.iterations))
    assert float(m.optimizer.learning_rate) == pytest.approx(float(owned(step)), rel=1e-6)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch runs train_step eagerly")
def test_step_mode_compiles_once_per_fit():
    # A plain fit of the same model is the baseline: TensorFlow traces twice when the first
    # trace creates the optimizer's variables, JAX once.
    baseline = model()
    baseline_traces = count_traces(baseline)
    fit(baseline, epochs=1)

    m = model()
    traces = count_traces(m)
    plateau = lrs.Plateau(monitor="loss", patience=0, min_delta=100.0, factor=0.5)
    cb = lrs.LearningRateScheduler(lrs.Table(TABLE), update="step", plateau=plateau, window=3)
    fit(m, [cb], epochs=3)
    assert cb.scale == 0.25  # set at two epoch ends; the window was rewritten 5 times
    assert len(traces) == len(baseline_traces) <= 2


@pytest.mark.skipif(not hasattr(keras.optimizers, "MultiOptimizer"),
                    reason="keras.optimizers.MultiOptimizer is new in keras 3.15")
def test_multi_optimizer_each_optimizer_driven_and_logged():
    def multi(lr_a, lr_b):
        a, b = optimizer(lr_a, name="first"), optimizer(lr_b, name="second")
        return keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(b, {"hidden/.*": a}))

    # Epoch mode: the logs keras' callback writes, learning_rate_<name> per optimizer.
    m = model(opt=multi(0.1, 0.2), layers=2)
    history = fit(m, [lrs.LearningRateScheduler(_recurrence)], epochs=EPOCHS)
    k = model(opt=multi(0.1, 0.2), layers=2)
    keras_history = fit(k, [keras.callbacks.LearningRateScheduler(_recurrence)], epochs=EPOCHS)
    assert history.history == keras_history.history
    assert "learning_rate_first" in history.history
    assert_same_weights(m, k, exact=True)

    # Step mode: each inner optimizer as if it owned the schedule.
    m = model(opt=multi(0.1, 0.2), layers=2)
    history = fit(m, [lrs.LearningRateScheduler(lrs.Table(TABLE), update="step")], epochs=EPOCHS)
    truth_model = model(opt=multi(lrs.Table(TABLE), lrs.Table(TABLE)), layers=2)
    fit(truth_model, epochs=EPOCHS)
    assert_same_weights(m, truth_model)
    assert sorted(history.history) == sorted(keras_history.history)


def test_gradient_accumulation_counts_updates():
    # With gradient_accumulation_steps=2 the step is the number of updates applied (keras'
    # optimizer.iterations): the ground truth owns schedule(micro_step // 2).
    class PerUpdate(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return lrs.Table(TABLE)(keras.ops.floor_divide(step, 2))

    def accumulating(lr):
        return keras.optimizers.SGD(lr, gradient_accumulation_steps=2)

    m = model(opt=accumulating(0.1))
    cb = lrs.LearningRateScheduler(lrs.Table(TABLE), update="step")
    fit(m, [cb], epochs=EPOCHS)
    truth_model = model(opt=accumulating(PerUpdate()))
    fit(truth_model, epochs=EPOCHS)
    assert_same_weights(m, truth_model)
    np.testing.assert_array_equal(cb.learning_rates, np.float32(TABLE[: N_STEPS // 2]))


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_mixed_float16_loss_scale_optimizer(mixed_float16, update):
    # mixed_float16 runs on CPU under all three backends; compile wraps the optimizer in a
    # LossScaleOptimizer, which skips the updates whose gradients overflow: the step count, and
    # so the lr, follows the updates actually applied.
    m = model()
    assert isinstance(m.optimizer, keras.optimizers.LossScaleOptimizer)
    if update == "step":
        history = fit(m, [lrs.LearningRateScheduler(lrs.Table(TABLE), update="step")], epochs=3)
        truth_model = model(opt=optimizer(lrs.Table(TABLE)))
        truth_history = fit(truth_model, epochs=3)
        # the inner optimizer's count: keras 3.8's LossScaleOptimizer does not pass it through
        applied = int(keras.ops.convert_to_numpy(m.optimizer.inner_optimizer.iterations))
        assert history.history["learning_rate"][-1] == pytest.approx(TABLE[applied - 1], rel=1e-6)
    else:
        history = fit(m, [lrs.LearningRateScheduler(_recurrence)], epochs=3)
        truth_model = model()
        keras_cb = keras.callbacks.LearningRateScheduler(_recurrence)
        truth_history = fit(truth_model, [keras_cb], epochs=3)
        assert history.history["learning_rate"] == truth_history.history["learning_rate"]
    assert history.history["loss"] == truth_history.history["loss"]
    assert_same_weights(m, truth_model)
    assert isinstance(m.optimizer.inner_optimizer.learning_rate, keras.Variable)


# ---------------------------------------------------------------------- bad input


def _raises(k, lr=None):
    raise ZeroDivisionError("boom")


def _nan_from_2(k):
    return 0.1 if k < 2 else float("nan")


BAD_OUTPUTS = {
    # name: (schedule, error type, text the message must show)
    "nan": (lambda k: float("nan"), ValueError, "nan"),
    "inf": (lambda k: float("inf"), ValueError, "inf"),
    "negative": (lambda k: -0.5, ValueError, "-0.5"),
    "string": (lambda k: "0.1", TypeError, "'0.1'"),
    "None": (lambda k: None, TypeError, "None"),
    "wrong-shape": (lambda k: np.array([0.1, 0.2]), ValueError, "(2,)"),
    "wrong-shape-tensor": (lambda k: keras.ops.ones((2, 1)), ValueError, "(2, 1)"),
    "raises": (_raises, ZeroDivisionError, "ZeroDivisionError"),  # keeps its type, gains a note
    "nan-at-2": (_nan_from_2, ValueError, "nan"),
}


@pytest.mark.parametrize("update", ["epoch", "step"])
@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_schedule_output_names_index_and_value_and_changes_nothing(case, update):
    schedule, error, text = BAD_OUTPUTS[case]
    bad_index = 2 if case == "nan-at-2" else 0
    m = model(lr=0.1)
    m.optimizer.build(m.trainable_variables)
    n_vars = len(m.optimizer.variables)
    cb = lrs.LearningRateScheduler(schedule, update=update)
    if update == "step" or bad_index == 0:
        before = weights(m)
        lr_before = 0.1
    else:  # epoch mode fails at the begin of epoch 2: as after two good epochs
        good = model(lr=0.1)
        fit(good, [lrs.LearningRateScheduler(schedule)], epochs=bad_index)
        before, lr_before = weights(good), float(good.optimizer.learning_rate)
    with pytest.raises(error) as info:
        fit(m, [cb], epochs=3)
    message = "\n".join([str(info.value), *getattr(info.value, "__notes__", [])])
    # Step mode checks every precomputed value before the first update. An epoch is named as
    # keras prints it (1-based), with its index.
    if update == "epoch":
        assert f"Epoch {bad_index + 1} (index {bad_index})" in message
    else:
        assert f"step {bad_index}" in message
    assert text in message
    assert_same_weights(m, before, exact=True)
    assert isinstance(m.optimizer.learning_rate, keras.Variable)
    assert float(m.optimizer.learning_rate) == pytest.approx(lr_before, rel=1e-7)
    assert len(m.optimizer.variables) == n_vars
    assert "_get_current_learning_rate" not in vars(m.optimizer)


def test_bad_closed_form_schedule_is_caught_before_training():
    class NanFrom5(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            return keras.ops.where(step < 5, 0.1, keras.ops.log(step - 10.0))

    m = model()
    before = weights(m)
    with pytest.raises(ValueError, match="step 5"):
        fit(m, [lrs.LearningRateScheduler(NanFrom5(), update="step")], epochs=EPOCHS)
    assert_same_weights(m, before, exact=True)


@pytest.mark.parametrize("fn", [lambda: 0.1, lambda a, b, c: 0.1], ids=["no-args", "three-args"])
def test_wrong_arity_is_refused_when_the_callback_is_built(fn):
    with pytest.raises(TypeError, match="schedule"):
        lrs.LearningRateScheduler(fn)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"update": "batch"}, ValueError, "update='batch'"),
        ({"update": None}, TypeError, "update=None"),
        ({"plateau": "val_loss"}, TypeError, "plateau="),
        ({"window": 0}, ValueError, "window=0"),
    ],
)
def test_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        lrs.LearningRateScheduler(_closed, **kwargs)


# A string is a spec ("0.1" is Constant(0.1)): a bad one is refused when the callback is made.
@pytest.mark.parametrize(
    "schedule", [[], [0.1, float("nan")], "no_such_schedule(0.1)", 0.1], ids=repr
)
def test_bad_schedule_argument(schedule):
    with pytest.raises((TypeError, ValueError), match="schedule"):
        lrs.LearningRateScheduler(schedule)


def test_uncompiled_model_gets_a_clear_error():
    m = model(compile=False)
    cb = lrs.LearningRateScheduler(_closed, update="step")
    with pytest.raises((ValueError, RuntimeError), match="compile"):
        m.fit(X, Y, epochs=1, verbose=0, callbacks=[cb])
    cb.set_model(m)
    with pytest.raises(ValueError, match="compile"):
        cb.on_train_begin()


def test_a_function_of_unknown_run_length_keeps_bounded_host_memory():
    # With no known run length (a generator, or a run past 2**26 steps) a function is computed
    # a window ahead; the host keeps only the part from the latest step asked for, so memory
    # stays bounded however long the run, and the values are right at every window.
    from keras_lrsched.callback.sources import make_source

    def decay(step):
        return 0.1 / (1.0 + 1e-5 * step)

    stepper = make_source(decay).stepper(0, None, None)
    window = 1 << 15
    most = 0
    for k in range(0, 3_000_000, window):
        got = stepper.get(k, window + 1)
        expected = np.float32(0.1 / (1.0 + 1e-5 * np.arange(k, k + window + 1, dtype=np.float64)))
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        most = max(most, stepper.values.shape[0])
    assert most <= 2 * (window + 1) + 1024, most
    # What lies behind the kept part is computed again, from the fit's first step.
    np.testing.assert_allclose(stepper.get(5, 3), np.float32(0.1 / (1.0 + 1e-5 * np.arange(5, 8))),
                               rtol=1e-6)
