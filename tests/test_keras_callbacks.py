"""`LearningRateScheduler` (with a Plateau) in one fit with Keras' own callbacks: CSVLogger,
TensorBoard, EarlyStopping, ModelCheckpoint and BackupAndRestore; per epoch and per step; in
float32, and in step mode under mixed_float16 (LossScaleOptimizer), which runs on CPU under all
three backends (so mixed_bfloat16 is not needed as a stand-in).

* The lr shows up in the CSV (the logs' value: the epoch's lr, or in step mode the lr of the
  epoch's last update) and in TensorBoard's scalars. TensorBoard writes what the optimizer
  reports at epoch end: in epoch mode the epoch's lr; in step mode the lr of the *next* update,
  computed from ``optimizer.iterations``, which is what Keras writes for an optimizer that owns
  a schedule.
* EarlyStopping stops the run and the optimizer is given back as it was.
* A checkpoint written mid-fit loads with plain Keras and holds the lr of its epoch.
* A run interrupted at an epoch begin and resumed by BackupAndRestore into a fresh model writes
  the same lr, to the CSV and to TensorBoard, applies the same lr at every step (plateau scale
  included) and ends with the same weights as the uninterrupted run.

TensorBoard needs TensorFlow (tf.summary) and the `tensorboard` package: where they are not
importable, that part is left out and the rest still runs.
"""

import csv
import glob
import importlib.util
import os

import keras
import numpy as np
import pytest

import keras_lrsched as lrs

BATCH = 4
STEPS = 4  # per epoch
EPOCHS = 6
STOP = 2  # the interrupted run raises at the begin of this epoch
RNG = np.random.default_rng(5)
X = RNG.normal(size=(BATCH * STEPS, 3)).astype("float32")
Y = (X @ np.float32([[1.0], [-0.5], [0.25]])).astype("float32")

# Scripted metrics, the same in every run: "score" drives the plateau (patience 0, factor 0.5: no
# improvement at the ends of epochs 1 and 2, an improvement at 3), "es" drives EarlyStopping
# (patience 1: it stops the run at the end of epoch 4, whether or not the run was resumed at 2).
SCORES = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5]
ES = [1.0, 0.9, 0.8, 0.7, 0.7, 0.7]
TRAINED = 5  # epochs 0..4
SCALES = [1.0, 1.0, 0.5, 0.25, 0.25]  # the plateau scale in force during each trained epoch

HAS_TENSORBOARD = all(
    importlib.util.find_spec(name) is not None for name in ("tensorflow", "tensorboard")
)


def schedule():
    return lrs.Warmup(lrs.Cosine(0.1, steps=40, end=0.01), warmup_steps=3)


def schedule_at(index):
    return float(keras.ops.convert_to_numpy(schedule()(index)))


def expected_logged_lr(update, steps_done):
    """The lr the logs (History, CSV) hold for each trained epoch.

    `steps_done[e]`: the optimizer's step count at the end of epoch e. It is 4 * (e + 1) unless a
    LossScaleOptimizer skipped updates whose gradients overflowed (the lr follows the updates
    actually applied).
    """
    index = range(TRAINED) if update == "epoch" else [k - 1 for k in steps_done]
    return [np.float32(schedule_at(i)) * np.float32(s) for i, s in zip(index, SCALES)]


def expected_tensorboard_lr(update, steps_done):
    if update == "epoch":
        return expected_logged_lr(update, steps_done)
    # the optimizer's report at epoch end: the next update's lr, with the epoch's scale
    return [np.float32(schedule_at(k)) * np.float32(s) for k, s in zip(steps_done, SCALES)]


class Scripted(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps_done = []

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = SCORES[epoch]
        logs["es"] = ES[epoch]
        iterations = inner(self.model.optimizer).iterations
        self.steps_done.append(int(keras.ops.convert_to_numpy(iterations)))


class Preempted(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == STOP:
            raise Preempted(f"interrupted at the begin of epoch {epoch}")


def build():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                          keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return m


def callbacks(update, folder, interrupt=False):
    folder.mkdir(exist_ok=True)
    scheduler = lrs.LearningRateScheduler(
        schedule(), update=update,
        plateau=lrs.Plateau(monitor="score", factor=0.5, patience=0, mode="min"),
    )
    scripted = Scripted()
    listed = [
        scripted,  # first: the others read its values in the same epoch's logs
        scheduler,
        keras.callbacks.CSVLogger(str(folder / "log.csv"), append=True),
        keras.callbacks.EarlyStopping(monitor="es", patience=1, mode="min"),
        keras.callbacks.ModelCheckpoint(str(folder / "ckpt-{epoch:02d}.keras")),
        # after the scheduler, so that its epoch-end backup holds this epoch's plateau step
        keras.callbacks.BackupAndRestore(str(folder / "backup")),
    ]
    if HAS_TENSORBOARD:
        listed.insert(3, keras.callbacks.TensorBoard(str(folder / "tb")))
    if interrupt:
        listed.insert(0, InterruptAt())
    return scheduler, scripted, listed


def fit(m, listed):
    return m.fit(X, Y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                 callbacks=listed)


def csv_lr(folder):
    with open(folder / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [int(r["epoch"]) for r in rows], [float(r["learning_rate"]) for r in rows]


def tensorboard_lr(folder):
    import tensorflow as tf

    values = {}
    for path in sorted(glob.glob(os.path.join(folder, "tb", "train", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "epoch_learning_rate":
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return [values[k] for k in sorted(values)], sorted(values)


def inner(optimizer):
    return getattr(optimizer, "inner_optimizer", None) or optimizer


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy("float32")


# mixed_float16 with these callbacks in step mode, where the LossScaleOptimizer's skipped updates
# meet the in-step lr and the backup; both modes under mixed_float16 on their own are in
# test_callback.py, and failures under it in test_reliability_callback.py.
@pytest.mark.parametrize(
    "update, policy",
    [("epoch", "float32"), ("step", "float32"), ("step", "mixed_float16")],
    indirect=["policy"],
)
def test_with_keras_callbacks_and_an_interrupted_run(update, policy, tmp_path):
    # ---- the uninterrupted run
    whole = tmp_path / "whole"
    m = build()
    if policy == "mixed_float16":
        assert isinstance(m.optimizer, keras.optimizers.LossScaleOptimizer)
    scheduler, scripted, listed = callbacks(update, whole)
    history = fit(m, listed)
    logged = history.history["learning_rate"]
    assert len(logged) == TRAINED  # EarlyStopping ended it after epoch 4
    steps_done = scripted.steps_done
    if policy == "float32":
        assert steps_done == [STEPS * (e + 1) for e in range(TRAINED)]
    np.testing.assert_allclose(logged, expected_logged_lr(update, steps_done), rtol=1e-6)
    assert scheduler.scale == 0.125  # the drop at the end of epoch 4, for an epoch 5 never run

    epochs, from_csv = csv_lr(whole)
    assert epochs == list(range(TRAINED))
    assert from_csv == logged  # the CSV holds the logs' lr, digit for digit

    if HAS_TENSORBOARD:
        from_tb, steps = tensorboard_lr(whole)
        assert steps == list(range(TRAINED))
        np.testing.assert_allclose(
            from_tb, expected_tensorboard_lr(update, steps_done), rtol=1e-6
        )

    # given back after EarlyStopping: the optimizer's own lr variable, holding the last lr
    opt = inner(m.optimizer)
    assert "_get_current_learning_rate" not in vars(opt)
    assert isinstance(opt.learning_rate, keras.Variable)
    assert float(opt.learning_rate) == pytest.approx(logged[-1], rel=1e-6)

    # a checkpoint from mid-fit (after the first plateau drop) loads with plain keras and holds
    # the lr of its epoch
    restored = keras.saving.load_model(whole / "ckpt-03.keras")
    assert float(inner(restored.optimizer).learning_rate) == pytest.approx(logged[2], rel=1e-6)

    # ---- the same run, interrupted at the begin of epoch 2, resumed into a fresh model
    parts = tmp_path / "parts"
    first, _, listed = callbacks(update, parts, interrupt=True)
    with pytest.raises(Preempted):
        fit(build(), listed)
    resumed_model = build()
    second, _, listed = callbacks(update, parts)
    resumed = fit(resumed_model, listed)

    assert resumed.history["learning_rate"] == logged[STOP:]
    # the resumed fit (BackupAndRestore loaded its lr variable at train begin) leaves, and
    # checkpoints, the lr it applied, not the one it loaded
    resumed_opt = inner(resumed_model.optimizer)
    assert float(resumed_opt.learning_rate) == pytest.approx(logged[-1], rel=1e-6)
    restored = keras.saving.load_model(parts / "ckpt-03.keras")
    assert float(inner(restored.optimizer).learning_rate) == pytest.approx(logged[2], rel=1e-6)
    np.testing.assert_array_equal(
        np.concatenate([first.learning_rates, second.learning_rates]), scheduler.learning_rates
    )
    assert second.scale == scheduler.scale
    epochs, from_csv_parts = csv_lr(parts)
    assert epochs == list(range(TRAINED))
    assert from_csv_parts == from_csv
    if HAS_TENSORBOARD:
        assert tensorboard_lr(parts) == tensorboard_lr(whole)
    for a, b in zip(resumed_model.get_weights(), m.get_weights()):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
