"""Bad schedule outputs in `LearningRateScheduler`: a clear error, and nothing lost.

Every case runs in both modes. A bad value is a ValueError or TypeError whose message names the
epoch (epoch mode, as keras prints it: "Epoch 3 (index 2)") or the step (step mode) and shows the
value; an exception raised by the schedule itself keeps its type and gains a note naming the epoch
or the step. At the failure the optimizer's lr is finite and as it was, the weights are finite
and as they were, the optimizer carries nothing of the callback, and the model trains normally
afterwards.

"As they were" is read from a recorder callback placed before the scheduler: it snapshots the
weights, lr and step count at each epoch (and batch) begin, just before the scheduler acts.
"""

import math
import re

import keras
import numpy as np
import pytest

import keras_lrsched as lrs

BATCH = 4
STEPS = 4  # per epoch
RNG = np.random.default_rng(3)
X = RNG.normal(size=(BATCH * STEPS, 3)).astype("float32")
Y = (X @ np.float32([[1.0], [-2.0], [0.5]])).astype("float32")
LR0 = 0.05


def build(seed=0):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(LR0, momentum=0.9), loss="mse")
    return m


def leaf(optimizer):
    return getattr(optimizer, "inner_optimizer", None) or optimizer


def lr_variable(optimizer):
    """The optimizer's own lr variable. During a step-mode fit, `optimizer.learning_rate` reads
    what the callback installed (computed in the step), so the variable is read directly."""
    return leaf(optimizer)._learning_rate


def host(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


class Recorder(keras.callbacks.Callback):
    """Snapshots (weights, lr, iterations) before the scheduler acts (put it first in the list)."""

    def __init__(self, per_batch=False):
        super().__init__()
        self.per_batch = per_batch
        self.last = None

    def _snap(self):
        m = self.model  # under JAX, reading `model` writes the trainer's state back first
        self.last = (
            [np.array(w) for w in m.get_weights()],
            float(host(lr_variable(m.optimizer))),
            int(host(m.optimizer.iterations)),
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._snap()

    def on_train_batch_begin(self, batch, logs=None):
        if self.per_batch:
            self._snap()


def fit(m, callbacks, epochs=3, x=X, **kwargs):
    return m.fit(x, Y if x is X else None, batch_size=BATCH, epochs=epochs, shuffle=False,
                 verbose=0, callbacks=list(callbacks), **kwargs)


def assert_nothing_lost(m, snapshot, n_opt_vars):
    weights, lr, iterations = snapshot
    now = m.get_weights()
    for before, after in zip(weights, now):
        assert np.all(np.isfinite(after))
        np.testing.assert_array_equal(after, before)
    lr_now = float(host(leaf(m.optimizer).learning_rate))
    assert math.isfinite(lr_now)
    assert lr_now == lr
    assert int(host(m.optimizer.iterations)) == iterations
    # the optimizer carries nothing of the callback: its own lr getter, its own variables
    assert "_get_current_learning_rate" not in vars(leaf(m.optimizer))
    assert len(m.optimizer.variables) == n_opt_vars
    assert isinstance(leaf(m.optimizer).learning_rate, keras.Variable)


class NanFromOne(keras.optimizers.schedules.LearningRateSchedule):
    """A closed form that is fine at index 0 and NaN from index 1 on (log of a negative)."""

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return keras.ops.where(step < 1.0, 0.05, keras.ops.log(0.5 - step))


def _raises(k):
    raise RuntimeError("the schedule service is down")


def _type_error_inside(k, lr):
    return len(lr)  # a TypeError from the body, not from a wrong arity


def _keyword_only(k, *, lr):
    return lr


def _falls_below_zero(k, lr):
    return lr - 0.02  # 0.03, 0.01, -0.0099999 (float32 steps): negative at index 2


class _CallableObject:
    def __call__(self, k):
        return {"lr": 0.1}


def where(update, index):
    """Where a failure happened, as the message names it: an epoch as keras prints it (1-based)
    with its 0-based index, or the step."""
    return f"Epoch {index + 1} (index {index})" if update == "epoch" else f"step {index}"


def full_message(err):
    """The message with its notes: an exception raised by the user's function keeps its type and
    its own message, and gains a note naming where it happened (PEP 678)."""
    return "\n".join([str(err), *getattr(err, "__notes__", [])])


# name: (schedule, index of the first bad value, error, text the message must show)
BAD_OUTPUTS = {
    "nan": (lambda k: float("nan"), 0, ValueError, "nan"),
    "inf": (lambda k: float("inf"), 0, ValueError, "inf"),
    "negative": (lambda k: -0.01, 0, ValueError, "-0.01"),
    "beyond-float32": (lambda k: 1e39, 0, ValueError, "1e+39"),
    "string": (lambda k: "0.1", 0, TypeError, "'0.1'"),
    "None": (lambda k: None, 0, TypeError, "None"),
    "bool": (lambda k: True, 0, TypeError, "True"),
    "complex": (lambda k: 0.1 + 0j, 0, TypeError, "0.1+0j"),
    "dict-from-callable-object": (_CallableObject(), 0, TypeError, "'lr'"),
    "array-wrong-shape": (lambda k: np.array([0.1, 0.2]), 0, ValueError, "(2,)"),
    "tensor-wrong-shape": (lambda k: keras.ops.ones((2, 1)), 0, ValueError, "(2, 1)"),
    "tensor-nan": (lambda k: keras.ops.convert_to_tensor(float("nan")), 0, ValueError, "nan"),
    "raises": (_raises, 0, RuntimeError, "the schedule service is down"),
    "type-error-inside": (_type_error_inside, 0, TypeError, "has no len()"),
    "keyword-only-lr": (_keyword_only, 0, TypeError, "keyword-only argument: 'lr'"),
    "recurrence-negative-at-2": (_falls_below_zero, 2, ValueError, "Received: -0.0099"),
    "closed-form-nan-at-1": (NanFromOne(), 1, ValueError, "nan"),
}


@pytest.mark.parametrize("update", ["epoch", "step"])
@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_output_raises_naming_index_and_value_and_loses_nothing(case, update):
    schedule, index, error, text = BAD_OUTPUTS[case]
    m = build()
    m.optimizer.build(m.trainable_variables)
    n_opt_vars = len(m.optimizer.variables)
    recorder = Recorder()
    with pytest.raises(error) as info:
        fit(m, [recorder, lrs.LearningRateScheduler(schedule, update=update)])
    message = full_message(info.value)
    assert where(update, index) in message, message
    assert text in message, message
    if update == "step":
        # every precomputed value is checked before the first update
        assert recorder.last[2] == 0
    else:
        assert recorder.last[2] == index * STEPS
    assert_nothing_lost(m, recorder.last, n_opt_vars)


def test_the_matrix_has_at_least_ten_bad_outputs():
    assert len(BAD_OUTPUTS) >= 10


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_after_a_failure_the_model_trains_as_if_nothing_happened(update):
    m = build()
    with pytest.raises(ValueError):
        fit(m, [lrs.LearningRateScheduler(lambda k: float("nan"), update=update)])
    good = lrs.Linear(0.05, end=0.01, steps=8)
    fit(m, [lrs.LearningRateScheduler(good, update=update)], epochs=2)
    fresh = build()
    fit(fresh, [lrs.LearningRateScheduler(good, update=update)], epochs=2)
    for a, b in zip(m.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)


def _batches(n_batches):
    """A generator: fit does not know the steps per epoch, so step mode goes a window at a time."""

    def gen():
        for i in range(n_batches):
            sl = slice((i * BATCH) % len(X), (i * BATCH) % len(X) + BATCH)
            yield X[sl], Y[sl]

    return gen()


class NanFromFive(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        return keras.ops.where(step < 5.0, 0.05, keras.ops.log(4.5 - step))


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_step_mode_failure_mid_epoch_with_unknown_length(policy):
    """With no steps per epoch, a closed form is checked a window ahead as the run goes: the
    NaN at step 5 is found mid-epoch, before update 5 runs.

    The updates before it stand (they used good values) and nothing after it is applied; under
    mixed_float16 the LossScaleOptimizer's inner optimizer keeps its lr.
    """
    keras.mixed_precision.set_global_policy(policy)
    try:
        m = build()
        m.optimizer.build(m.trainable_variables)
        n_opt_vars = len(m.optimizer.variables)
        recorder = Recorder(per_batch=True)
        cb = lrs.LearningRateScheduler(NanFromFive(), update="step", window=2)
        with pytest.raises(ValueError, match="step 5") as info:
            m.fit(_batches(12), epochs=1, verbose=0, shuffle=False, callbacks=[recorder, cb])
        assert "nan" in str(info.value)
        if policy == "mixed_float16":
            assert isinstance(m.optimizer, keras.optimizers.LossScaleOptimizer)
        # Checked a window (2 steps) ahead: the error comes before update 5, never after. Under
        # mixed_float16 the first updates overflow and are skipped (the step count, and so the
        # lr, follows the updates applied), so fewer updates precede the error.
        if policy == "float32":
            assert recorder.last[2] in (4, 5)
        else:
            assert 0 <= recorder.last[2] <= 5
        assert_nothing_lost(m, recorder.last, n_opt_vars)
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_epoch_failure_under_mixed_float16_keeps_the_inner_lr(update):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        m = build()
        assert isinstance(m.optimizer, keras.optimizers.LossScaleOptimizer)
        m.optimizer.build(m.trainable_variables)
        n_opt_vars = len(m.optimizer.variables)
        recorder = Recorder()
        with pytest.raises(ValueError, match=re.escape(where(update, 1))):
            fit(m, [recorder, lrs.LearningRateScheduler(NanFromOne(), update=update)])
        assert_nothing_lost(m, recorder.last, n_opt_vars)
    finally:
        keras.mixed_precision.set_global_policy("float32")


class Preempted(Exception):
    pass


class _Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise Preempted("the machine is being preempted")


def test_interrupted_by_something_else_then_restore():
    """Another callback stops fit: `restore()` gives the optimizer back as it was,
    with a float lr equal to the last one applied, and plain keras training goes on from there."""
    m = build()
    m.optimizer.build(m.trainable_variables)
    n_opt_vars = len(m.optimizer.variables)
    schedule = lrs.Linear(0.05, end=0.01, steps=8)
    cb = lrs.LearningRateScheduler(schedule, update="step")
    with pytest.raises(Preempted):
        fit(m, [cb, _Crash()])
    cb.restore()
    opt = m.optimizer
    assert "_get_current_learning_rate" not in vars(opt)
    assert len(opt.variables) == n_opt_vars
    last = float(host(schedule(STEPS - 1)))
    assert float(host(opt.learning_rate)) == pytest.approx(last, rel=1e-6)
    opt.learning_rate = 0.02  # settable again, as a float lr
    fit(m, [], epochs=1)
    assert all(np.all(np.isfinite(w)) for w in m.get_weights())
    assert float(host(opt.learning_rate)) == pytest.approx(0.02)


@pytest.mark.parametrize(
    "update, error", [("batch", ValueError), ("Step", ValueError), ("", ValueError),
                      (None, TypeError), (1, TypeError), (True, TypeError)],
)
def test_unknown_update_is_refused_when_the_callback_is_built(update, error):
    with pytest.raises(error) as info:
        lrs.LearningRateScheduler(lrs.Constant(0.1), update=update)
    message = str(info.value)
    assert "`update`" in message and f"update={update!r}" in message, message
    assert "'epoch'" in message and "'step'" in message, message


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_uncompiled_model_gets_a_clear_error(update):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    cb = lrs.LearningRateScheduler(lrs.Constant(0.1), update=update)
    with pytest.raises((ValueError, RuntimeError), match="compile"):
        fit(m, [cb], epochs=1)
    # the callback's own check, for a loop that drives callbacks without keras' fit
    cb.set_model(m)
    with pytest.raises(ValueError, match="compile") as info:
        cb.on_train_begin()
    assert "optimizer=None" in str(info.value)


@pytest.mark.parametrize("update", ["epoch", "step"])
@pytest.mark.parametrize(
    "fn", [lambda: 0.1, lambda a, b, c: 0.1, type("NoArgs", (), {"__call__": lambda self: 0.1})()],
    ids=["no-arguments", "three-arguments", "callable-object-without-arguments"],
)
def test_wrong_arity_is_refused_when_the_callback_is_built(fn, update):
    with pytest.raises(TypeError) as info:
        lrs.LearningRateScheduler(fn, update=update)
    assert "schedule" in str(info.value) and "positional arguments" in str(info.value)


# ---------------------------------------------------------------------------------------------
# A value the fit never reaches is never refused. When keras does not know the steps per epoch
# (a generator, a filtered tf.data dataset, multi-process JAX), values are computed a window
# ahead of the run; one that is bad there is refused only before an update would apply it.
#
# The schedule's step is the optimizer's step count, as for a schedule the optimizer owns. Which
# counts the updates use is read from keras itself, by a probe fit without the scheduler: under
# TensorFlow, an epoch of unknown length ends with a train call that finds the data exhausted
# and still adds 1 to optimizer.iterations (the weights are untouched), so a filtered dataset's
# 3 epochs of 4 updates use steps 0-3, 5-8 and 10-13.

EPOCHS = 3


def _filtered_dataset():
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((X, Y)).filter(lambda a, b: True).batch(BATCH)


class Updates(keras.callbacks.Callback):
    """The optimizer steps the updates of a fit used: the count at each epoch's begin, plus the
    updates (train batches that ended) of that epoch so far."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begin, self.ended = int(host(self.model.optimizer.iterations)), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self.begin + self.ended)
        self.ended += 1


def _fit(data, model, epochs, callbacks):
    # A filtered dataset is read anew each epoch; a generator, once: one epoch of it all.
    if data == "filtered-dataset":
        return model.fit(_filtered_dataset(), epochs=epochs, verbose=0, callbacks=callbacks)
    return model.fit(_batches(epochs * STEPS), epochs=1, verbose=0, callbacks=callbacks)


def _keras_steps(data, model, epochs):
    """The steps keras' own fit gives the updates of `epochs` epochs, with no scheduler."""
    probe = Updates()
    _fit(data, model, epochs, [probe])
    return probe.steps


def _valid_up_to(last):
    table = [LR0 * (1 - k / last) for k in range(last + 1)]  # 0.0 at step `last`, then negative
    return {
        "linear": (lambda step: LR0 * (1 - step / last), ValueError),
        # a list of the run's lrs: past its end, an IndexError (with a note naming the step)
        "list": (lambda step: table[step], IndexError),
    }


@pytest.mark.parametrize("data", ["filtered-dataset", "generator"])
@pytest.mark.parametrize("window", [None, 4, 12])
@pytest.mark.parametrize("kind", ["linear", "list"])
def test_a_function_valid_for_the_run_trains_and_refuses_only_the_step_that_reaches_past_it(
        data, window, kind):
    run = _keras_steps(data, build(), EPOCHS)
    longer = _keras_steps(data, build(), EPOCHS + 1)
    assert len(run) == EPOCHS * STEPS and longer[: len(run)] == run
    last = run[-1]
    fn, error = _valid_up_to(last)[kind]

    m = build()
    cb = lrs.LearningRateScheduler(fn, update="step", window=window)
    history = _fit(data, m, EPOCHS, [cb])
    assert cb.params["steps"] is None  # keras could not know the run's length
    expected = np.float32([fn(k) for k in run])
    np.testing.assert_array_equal(cb.learning_rates, expected)
    assert history.history["learning_rate"][-1] == expected[-1]
    # One epoch more reaches past `last`. The first update there applies the last good value
    # (keras cannot tell, at a batch's begin, whether the batch exists), and the fit is refused.
    m = build()
    updates = Updates()
    with pytest.raises(error, match=f"at step {last + 1}"):
        _fit(data, m, EPOCHS + 1, [updates, cb])
    past = next(k for k in longer if k > last)
    assert updates.steps == [k for k in longer if k <= past]
    assert np.isfinite(host(lr_variable(m.optimizer)))
    assert all(np.isfinite(w).all() for w in m.get_weights())


def test_a_hyperparameter_function_valid_for_the_run_trains_and_is_refused_past_it():
    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        m.compile(keras.optimizers.Adam(0.01), loss="mse")
        return m

    run = _keras_steps("filtered-dataset", model(), EPOCHS)
    last = run[-1]

    def beta_2(step):
        return 0.999 - 0.999 * step / (last + 0.5)  # valid up to step `last`, negative after

    cb = lrs.LearningRateScheduler(lrs.Constant(0.01), update="step",
                                   hyperparameters={"beta_2": beta_2})
    m = model()
    history = m.fit(_filtered_dataset(), epochs=EPOCHS, verbose=0, callbacks=[cb])
    ends = [run[(e + 1) * STEPS - 1] for e in range(EPOCHS)]  # each epoch's last update
    np.testing.assert_allclose(history.history["beta_2"], [beta_2(k) for k in ends], rtol=1e-6)
    updates = Updates()
    with pytest.raises(ValueError, match=rf"hyperparameters\['beta_2'\].*at step {last + 1}"):
        model().fit(_filtered_dataset(), epochs=EPOCHS + 1, verbose=0, callbacks=[updates, cb])
    longer = _keras_steps("filtered-dataset", model(), EPOCHS + 1)
    assert updates.steps == [k for k in longer if k <= next(k for k in longer if k > last)]
