"""keras' TensorBoard callback shows the schedule at the batches it writes (issue 21, part 2).

With ``TensorBoard(update_freq=N)`` keras writes the batch logs as ``batch_<name>`` scalars at
its own 1-based count of batches (executions, with ``steps_per_execution``), when the count is a
multiple of N. The callback gives each TensorBoard of the fit, and only it, the lr and every
scheduled hyperparameter of that batch's last update. Each test reads the event files back with
tensorboard's ``EventAccumulator`` and checks every value at its step against
``callback.learning_rates`` or the hyperparameter's formula.

keras' TensorBoard writes through ``tf.summary`` under every backend, so it needs TensorFlow and
the ``tensorboard`` package: where either is missing the file is skipped.
"""

import copy
import os

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched.callback import tensorboard as tb_module

pytest.importorskip("tensorflow")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
tensor_util = pytest.importorskip("tensorboard.util.tensor_util")

BATCH = 4
STEPS = 4  # per epoch
EPOCHS = 3
UPDATES = STEPS * EPOCHS
RNG = np.random.default_rng(3)
X = RNG.normal(size=(BATCH * STEPS, 3)).astype("float32")
Y = (X @ np.float32([[1.0], [-0.5], [0.25]]) + 0.3).astype("float32")
OURS = ("on_train_batch_end", "set_model")  # what a fit puts on a TensorBoard instance


def lr_schedule():
    return lrs.Linear(0.1, end=0.0, steps=4 * UPDATES)  # a new lr at every step


def momentum_at(step):
    return 0.9 - 0.01 * step


WEIGHT_DECAY = np.linspace(1e-3, 1e-2, 2 * UPDATES)


def model(opt=None, layers=1, **compile_kwargs):
    keras.utils.set_random_seed(0)
    hidden = [keras.layers.Dense(2, name="hidden")] if layers == 2 else []
    m = keras.Sequential([keras.Input((3,)), *hidden, keras.layers.Dense(1, name="out")])
    if opt is None:
        opt = keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=1e-3)
    m.compile(optimizer=opt, loss="mse", **compile_kwargs)
    return m


def fit(m, callbacks, epochs=EPOCHS, **kwargs):
    return m.fit(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                 callbacks=list(callbacks), **kwargs)


def board(folder, update_freq=1):
    return keras.callbacks.TensorBoard(str(folder), update_freq=update_freq, write_graph=False)


def scalars(folder):
    """{tag: {step: value}} of the train scalars written under `folder`."""
    acc = event_accumulator.EventAccumulator(
        os.path.join(str(folder), "train"), size_guidance={event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    return {
        tag: {e.step: float(tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}
        for tag in acc.Tags()["tensors"]
    }


def batch_tags(found):
    return sorted(t for t in found if t.startswith("batch_"))


def step_scheduler(**kwargs):
    return lrs.LearningRateScheduler(
        lr_schedule(), update="step", momentum=momentum_at, weight_decay=WEIGHT_DECAY, **kwargs
    )


def assert_close(found, expected):
    """float32 values, written by tf.summary as float32: equal to float32 round-off."""
    assert sorted(found) == sorted(expected)
    for step in expected:
        np.testing.assert_allclose(found[step], expected[step], rtol=1e-6, err_msg=f"step {step}")


# ---------------------------------------------------------------------- step mode


@pytest.mark.parametrize("first", [True, False], ids=["board_first", "board_last"])
@pytest.mark.parametrize("update_freq", [1, 3])
def test_step_mode_every_written_batch(tmp_path, update_freq, first):
    cb = step_scheduler()
    tb = board(tmp_path, update_freq)
    fit(model(), [tb, cb] if first else [cb, tb])
    found = scalars(tmp_path)
    assert batch_tags(found) == [
        "batch_learning_rate", "batch_loss", "batch_momentum", "batch_weight_decay"
    ]
    lrs_applied = cb.learning_rates
    assert lrs_applied.shape == (UPDATES,)
    # keras counts batches from 1: its step s is the update s - 1 of the fit
    steps = [s for s in range(1, UPDATES + 1) if s % update_freq == 0]
    assert sorted(found["batch_loss"]) == steps
    assert_close(found["batch_learning_rate"], {s: lrs_applied[s - 1] for s in steps})
    assert_close(found["batch_momentum"], {s: np.float32(momentum_at(s - 1)) for s in steps})
    assert_close(found["batch_weight_decay"], {s: np.float32(WEIGHT_DECAY[s - 1]) for s in steps})
    assert not set(vars(tb)) & set(OURS)


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="keras' torch trainer requires steps_per_execution=1")
def test_steps_per_execution(tmp_path):
    # keras calls the batch hooks once per execution of 2 steps, with the execution's last
    # batch at its end: TensorBoard's step s shows update 2 * s - 1.
    cb = step_scheduler()
    fit(model(steps_per_execution=2), [board(tmp_path), cb])
    found = scalars(tmp_path)
    steps = range(1, UPDATES // 2 + 1)
    assert_close(found["batch_learning_rate"], {s: cb.learning_rates[2 * s - 1] for s in steps})
    assert_close(found["batch_momentum"], {s: np.float32(momentum_at(2 * s - 1)) for s in steps})


def test_gradient_accumulation(tmp_path):
    # Two batches per update: the step counts updates (optimizer.iterations), as the lr does.
    opt = keras.optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=2)
    cb = lrs.LearningRateScheduler(lr_schedule(), update="step", momentum=momentum_at)
    fit(model(opt), [board(tmp_path), cb])
    found = scalars(tmp_path)
    assert cb.learning_rates.shape == (UPDATES // 2,)
    steps = range(1, UPDATES + 1)
    assert_close(found["batch_learning_rate"], {s: cb.learning_rates[(s - 1) // 2] for s in steps})
    momentum = {s: np.float32(momentum_at((s - 1) // 2)) for s in steps}
    assert_close(found["batch_momentum"], momentum)


def test_hyperparameters_and_a_keras_schedule(tmp_path):
    # Adam: momentum is beta_1; hyperparameters= keys are written under their own names. The lr
    # is a keras schedule computed in the step, evaluated on the host for TensorBoard.
    beta_2 = lrs.Linear(0.999, end=0.99, steps=UPDATES)
    cb = lrs.LearningRateScheduler(
        keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=3, decay_rate=0.5),
        update="step", momentum=momentum_at, hyperparameters={"beta_2": beta_2},
    )
    fit(model(keras.optimizers.Adam(0.01)), [cb, board(tmp_path, update_freq=2)])
    found = scalars(tmp_path)
    assert batch_tags(found) == ["batch_beta_2", "batch_learning_rate", "batch_loss",
                                 "batch_momentum"]
    steps = range(2, UPDATES + 1, 2)
    assert_close(found["batch_learning_rate"], {s: cb.learning_rates[s - 1] for s in steps})
    table = beta_2.table(UPDATES)
    assert_close(found["batch_beta_2"], {s: table[s - 1] for s in steps})


def test_plateau_scale(tmp_path):
    # min_delta=100: no epoch improves enough on the first one, so the scale halves at the end
    # of the second.
    plateau = lrs.Plateau(monitor="loss", patience=0, min_delta=100.0, factor=0.5)
    cb = step_scheduler(plateau=plateau)
    fit(model(), [board(tmp_path), cb])
    found = scalars(tmp_path)
    unscaled = lr_schedule().table(UPDATES)
    scales = np.repeat(np.float32([1.0, 1.0, 0.5]), STEPS)
    np.testing.assert_allclose(cb.learning_rates, unscaled * scales, rtol=1e-6)
    steps = range(1, UPDATES + 1)
    assert_close(found["batch_learning_rate"], {s: cb.learning_rates[s - 1] for s in steps})


@pytest.mark.skipif(not hasattr(keras.optimizers, "MultiOptimizer"),
                    reason="keras.optimizers.MultiOptimizer is new in keras 3.15")
@pytest.mark.filterwarnings("ignore::keras_lrsched.callback.ScheduleWarning")  # epoch mode
@pytest.mark.parametrize("update", ["step", "epoch"])
def test_multi_optimizer_keys(tmp_path, update):
    first = keras.optimizers.SGD(0.1, momentum=0.9, name="first")
    second = keras.optimizers.SGD(0.2, momentum=0.9, name="second")
    # keras matches a variable's whole path: "sequential/hidden/kernel"
    mapping = keras.optimizers.OptimizerMap(second, {".*hidden/.*": first})
    opt = keras.optimizers.MultiOptimizer(mapping)
    cb = lrs.LearningRateScheduler(lr_schedule(), update=update, momentum=momentum_at)
    fit(model(opt, layers=2), [board(tmp_path), cb])
    found = scalars(tmp_path)
    assert batch_tags(found) == [
        "batch_learning_rate_first", "batch_learning_rate_second", "batch_loss",
        "batch_momentum_first", "batch_momentum_second",
    ]
    steps = range(1, UPDATES + 1)
    index = (lambda s: s - 1) if update == "step" else (lambda s: (s - 1) // STEPS)
    expected_lr = {s: lr_schedule().table(UPDATES)[index(s)] for s in steps}
    expected_momentum = {s: np.float32(momentum_at(index(s))) for s in steps}
    for name in ("first", "second"):
        assert_close(found[f"batch_learning_rate_{name}"], expected_lr)
        assert_close(found[f"batch_momentum_{name}"], expected_momentum)


def test_repeated_fits_and_a_validation(tmp_path):
    # The same callback and TensorBoard in two fits: keras' count starts from 1 at each fit,
    # the step count goes on, and evaluating on validation data (the same callback list)
    # leaves the values in place.
    m, cb, tb = model(), step_scheduler(), board(tmp_path / "one")
    fit(m, [cb, tb], validation_data=(X[:8], Y[:8]))
    tb.log_dir = str(tmp_path / "two")
    fit(m, [cb, tb], validation_data=(X[:8], Y[:8]))
    found = scalars(tmp_path / "two")
    steps = range(1, UPDATES + 1)
    assert_close(found["batch_learning_rate"], {s: cb.learning_rates[s - 1] for s in steps})
    np.testing.assert_allclose(cb.learning_rates, lr_schedule().table(UPDATES, start=UPDATES))
    momentum = {s: np.float32(momentum_at(UPDATES + s - 1)) for s in steps}
    assert_close(found["batch_momentum"], momentum)
    assert not set(vars(tb)) & set(OURS)


def test_deep_copied_callbacks(tmp_path):
    # KerasTuner deep-copies the callbacks for each trial: each copy writes its trial's values,
    # the instances passed in stay untouched.
    cb, tb = step_scheduler(), board(tmp_path / "template")
    for trial in range(2):
        copies = copy.deepcopy([cb, tb])
        copies[1].log_dir = str(tmp_path / f"trial{trial}")
        fit(model(), copies)
        found = scalars(tmp_path / f"trial{trial}")
        steps = range(1, UPDATES + 1)
        assert_close(found["batch_learning_rate"],
                     {s: copies[0].learning_rates[s - 1] for s in steps})
    assert cb._binding is None and not set(vars(tb)) & set(OURS)


# ---------------------------------------------------------------------- epoch mode


def test_epoch_mode_shows_the_epochs_values(tmp_path):
    cb = lrs.LearningRateScheduler(lambda epoch: 0.1 / (1 + epoch), momentum=momentum_at)
    fit(model(keras.optimizers.SGD(0.1, momentum=0.9)), [board(tmp_path, update_freq=2), cb])
    found = scalars(tmp_path)
    steps = range(2, UPDATES + 1, 2)
    epoch = {s: (s - 1) // STEPS for s in steps}
    lr = {s: np.float32(0.1 / (1 + epoch[s])) for s in steps}
    assert_close(found["batch_learning_rate"], lr)
    assert_close(found["batch_momentum"], {s: np.float32(momentum_at(epoch[s])) for s in steps})
    assert_close(found["epoch_learning_rate"], {e: np.float32(0.1 / (1 + e)) for e in range(3)})


# ---------------------------------------------------------------------- nothing else changes


class BatchKeys(keras.callbacks.Callback):
    """The keys of the batch logs every callback after it (the progress bar) is handed."""

    def __init__(self):
        super().__init__()
        self.keys = set()

    def on_train_batch_end(self, batch, logs=None):
        self.keys.update(logs or {})


@pytest.mark.parametrize("with_board", [False, True])
def test_shared_batch_logs_unchanged(tmp_path, with_board):
    plain = BatchKeys()
    fit(model(), [plain])
    seen = BatchKeys()
    listed = [step_scheduler(), seen]
    if with_board:
        listed.insert(0, board(tmp_path))
    fit(model(), listed)
    assert seen.keys == plain.keys == {"loss"}


def test_update_freq_epoch_is_left_alone(tmp_path):
    tb = board(tmp_path, update_freq="epoch")

    class Look(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert not set(vars(tb)) & set(OURS)

    fit(model(), [step_scheduler(), tb, Look()])
    assert batch_tags(scalars(tmp_path)) == []


class Fault(Exception):
    pass


class RaiseAt(keras.callbacks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            raise Fault(f"raised at the end of batch {batch}")


@pytest.mark.parametrize("update", ["step", "epoch"])
def test_a_fit_that_raised_leaves_nothing(tmp_path, update):
    # Epoch mode on a float lr installs no guard on the model: its wrappers stay, inert, until
    # the callback's next fit or restore().
    m = model()
    cb = step_scheduler() if update == "step" else lrs.LearningRateScheduler(
        lambda epoch: 0.1 / (1 + epoch))
    tb = board(tmp_path / "crash")
    with pytest.raises(Fault):
        fit(m, [cb, tb, RaiseAt(batch=2)], epochs=2)
    # The next use of that TensorBoard, in a fit without the callback, gets keras' logs only.
    tb.log_dir = str(tmp_path / "after")
    fit(m, [tb], epochs=1)
    assert batch_tags(scalars(tmp_path / "after")) == ["batch_loss"]
    if update == "step":  # the fit's guard took the hooks off, the wrappers with them
        assert not set(vars(tb)) & set(OURS)
    else:
        assert set(vars(tb)) >= set(OURS)
    cb.restore()
    assert not set(vars(tb)) & set(OURS)
    # A fit with the callback again writes its values.
    tb.log_dir = str(tmp_path / "again")
    fit(m, [cb, tb], epochs=1)
    found = scalars(tmp_path / "again")
    steps = range(1, STEPS + 1)
    assert_close(found["batch_learning_rate"], {s: cb.learning_rates[s - 1] for s in steps})
    assert not set(vars(tb)) & set(OURS)


class Forwarding(keras.callbacks.Callback):
    """Drives another callback through its own hooks: the fit's list holds this one only."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)

    def on_train_begin(self, logs=None):
        self.inner.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.inner.on_epoch_begin(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self.inner.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.inner.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.inner.on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        self.inner.on_train_end(logs)


def test_fallback_when_the_fit_list_is_not_found(tmp_path):
    # Driven from another callback, the scheduler is not in the fit's CallbackList: nothing is
    # wrapped, TensorBoard shows the epoch values only, and the schedule is applied as ever.
    cb = step_scheduler()
    tb = board(tmp_path)
    fit(model(), [Forwarding(cb), tb])
    found = scalars(tmp_path)
    assert batch_tags(found) == ["batch_loss"]
    assert "epoch_learning_rate" in found
    np.testing.assert_allclose(cb.learning_rates, lr_schedule().table(UPDATES))
    assert tb_module.fit_callbacks(cb) is None  # outside any fit
