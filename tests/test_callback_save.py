"""Saving during and after fit: small files, no table in them, loadable without custom_objects."""

import json
import warnings
import zipfile

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from callback_helpers import STEPS_PER_EPOCH, fit, model, optimizer

LONG_TABLE = np.linspace(0.2, 0.001, 100_000)


def _recurrence(k, lr):
    return lr * 0.9 + 0.001


def _config(path):
    with zipfile.ZipFile(path) as z:
        return z.read("config.json").decode()


def _optimizer_shapes(m):
    return [tuple(v.shape) for v in m.optimizer.variables]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same model after one plain epoch, saved by keras alone."""
    path = tmp_path_factory.mktemp("reference") / "plain.keras"
    m = model()
    fit(m, epochs=1)
    m.save(path)
    return path, _optimizer_shapes(m)


@pytest.mark.parametrize(
    "schedule",
    [
        lrs.Table(LONG_TABLE),
        _recurrence,
        lrs.Cosine(0.2, steps=10),
        # computed in the step: the callback adds no variable, yet the file holds the last lr
        keras.optimizers.schedules.CosineDecay(0.2, decay_steps=10, alpha=0.1),
    ],
    ids=["table", "f(step, lr)", "keras_lrsched", "keras-closed-form"],
)
def test_checkpoint_during_step_mode_is_small_and_plain_keras(schedule, reference, tmp_path):
    reference_path, reference_shapes = reference
    cb = lrs.LearningRateScheduler(schedule, update="step")
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "epoch{epoch}.keras"))
    history = fit(model(), [cb, checkpoint], epochs=2)

    path = tmp_path / "epoch1.keras"
    config = _config(path)
    assert "keras_lrsched" not in config  # plain keras: no custom object to register
    assert len(config) < 2 * len(_config(reference_path))
    # The optimizer's usual variables and a few bytes of callback state: nothing run-length.
    assert path.stat().st_size < reference_path.stat().st_size + 4096

    loaded = keras.models.load_model(path)  # no custom_objects
    assert _optimizer_shapes(loaded) == reference_shapes
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == STEPS_PER_EPOCH
    # The optimizer's float lr holds the lr of the latest update at the time of the save.
    saved_lr = float(loaded.optimizer.learning_rate)
    assert saved_lr == pytest.approx(history.history["learning_rate"][0], rel=1e-6)
    assert json.loads(config)["compile_config"]["optimizer"]["config"]["learning_rate"] == (
        pytest.approx(saved_lr, rel=1e-6)
    )


def test_model_compiled_with_a_keras_lrsched_schedule_saves_and_loads(tmp_path):
    owned = lrs.Warmup(lrs.Cosine(0.2, steps=50, end=0.01), warmup_steps=5, initial=0.01)
    m = model(opt=optimizer(owned))
    cb = lrs.LearningRateScheduler(lrs.Table(LONG_TABLE), update="step")
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "mid.keras"))
    fit(m, [cb, checkpoint], epochs=1)
    m.save(tmp_path / "after.keras")
    for name in ("mid.keras", "after.keras"):
        loaded = keras.models.load_model(tmp_path / name)  # no custom_objects
        schedule = loaded.optimizer.get_config()["learning_rate"]
        assert schedule == keras.optimizers.schedules.serialize(owned)
        assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == STEPS_PER_EPOCH
        steps = np.arange(20)
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(loaded.optimizer._learning_rate(steps)),
            keras.ops.convert_to_numpy(owned(steps)),
        )
        assert "Table" not in _config(tmp_path / name)


def test_weights_saved_mid_fit_load_into_a_model_without_the_callback(tmp_path):
    cb = lrs.LearningRateScheduler(
        lrs.Table(LONG_TABLE), update="step", plateau=lrs.Plateau(patience=0, min_delta=100.0)
    )
    path = str(tmp_path / "w.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(path, save_weights_only=True)
    trained = model()
    fit(trained, [cb, checkpoint], epochs=2, validation=True)  # Plateau watches val_loss
    assert cb.scale == pytest.approx(0.1)

    plain = model(seed=5)
    plain.optimizer.build(plain.trainable_variables)
    with warnings.catch_warnings():
        # keras warns "Skipping variable loading for optimizer" when a saved variable has no
        # home; only that warning fails the test (others, e.g. from a loaded machine, may not).
        warnings.filterwarnings("error", message=".*[Ss]kipping variable loading.*")
        plain.load_weights(path)
    for a, b in zip(plain.optimizer.variables, trained.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    for a, b in zip(plain.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
