"""Every schedule round-trips through its flat config and Keras' serialization, and a model whose
optimizer runs on a keras_lrsched schedule saves to ``.keras`` and loads without custom_objects."""

import json

import numpy as np
import pytest

import keras
import keras_lrsched as lrs

from conftest import EXAMPLES, to_numpy

# The public schedules of issue 2; each must appear among the examples of conftest.py.
PUBLIC = [
    "Constant", "TimeDecay", "StepDecay", "MultiStepDecay", "ExponentialDecay", "Piecewise",
    "Polynomial", "Linear", "Cosine", "CosineRestarts", "Cyclic", "OneCycle", "InverseSqrt",
    "WarmupStableDecay", "Warmup", "Join", "Table",
    # and the momentum schedules of torch's cycle_momentum
    "CyclicMomentum", "OneCycleMomentum",
    # and timm's (issue 19)
    "Tanh", "Cycles", "Noise",
]
COMPOSITES = (lrs.Warmup, lrs.Join, lrs.Cycles, lrs.Noise)
STEPS = np.arange(0, 128)


def same_schedule(a, b):
    assert type(a) is type(b)
    assert a.get_config() == b.get_config()
    np.testing.assert_array_equal(a.table(len(STEPS)), b.table(len(STEPS)))
    np.testing.assert_array_equal(to_numpy(a, STEPS), to_numpy(b, STEPS))


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_schedule_is_registered_and_exemplified(name):
    cls = getattr(lrs, name)
    assert issubclass(cls, keras.optimizers.schedules.LearningRateSchedule)
    assert keras.saving.get_registered_name(cls) == f"keras_lrsched>{name}"
    assert keras.saving.get_registered_object(f"keras_lrsched>{name}") is cls
    built = {type(EXAMPLES[key](lrs)).__name__ for key in EXAMPLES}
    assert name in built, f"no example of {name} in tests/conftest.py"


def test_config_is_flat_json(example):
    config = example.get_config()
    json.dumps(config)  # plain JSON types only: no arrays, tensors or objects
    if isinstance(example, COMPOSITES):
        return  # children are nested as Keras serialized dicts
    for key, value in config.items():
        items = value if isinstance(value, list) else [value]
        assert all(isinstance(v, (bool, int, float, str, type(None))) for v in items), key


def test_get_config_from_config_round_trip(example):
    clone = type(example).from_config(example.get_config())
    same_schedule(clone, example)


def test_keras_serialize_deserialize_round_trip(example):
    data = keras.optimizers.schedules.serialize(example)
    assert data["registered_name"] == f"keras_lrsched>{type(example).__name__}"
    through_json = json.loads(json.dumps(data))
    restored = keras.optimizers.schedules.deserialize(through_json)  # no custom_objects
    same_schedule(restored, example)


def test_table_config_holds_its_values_as_a_list():
    config = lrs.Table(np.array([0.3, 0.2], dtype=np.float32)).get_config()
    assert isinstance(config["values"], list)
    np.testing.assert_allclose(config["values"], [0.3, 0.2], rtol=1e-7)


# ---------------------------------------------------------------------------------------------
# A saved model


def nested_schedule():
    return lrs.Warmup(
        lrs.Join(
            [
                lrs.Cosine(0.1, steps=20, end=0.01),
                keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5),
                lrs.CosineRestarts(0.05, period=7, t_mul=2.0, m_mul=0.5),
            ],
            boundaries=[20, 30],
        ),
        warmup_steps=5,
        initial=0.001,
    )


@pytest.mark.parametrize(
    "make",
    [
        nested_schedule,
        lambda: lrs.Table(lrs.precompute(lrs.OneCycle(0.1, steps=40), 40)),
        # a momentum schedule is a LearningRateSchedule too (small values: here it is the lr)
        lambda: lrs.OneCycle(0.1, steps=40, three_phase=True).cycle_momentum(base=0.01, max=0.05),
    ],
    ids=["Warmup-Join-nested", "Table", "OneCycleMomentum"],
)
def test_model_saves_and_loads_without_custom_objects(tmp_path, make):
    schedule = make()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 6 updates, inside the compiled step
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.saving.load_model(path)
    restored = loaded.optimizer._learning_rate  # the schedule itself (no public accessor)
    assert type(restored) is type(schedule)
    same_schedule(restored, schedule)
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 6
    lr_now = float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate))
    assert lr_now == pytest.approx(float(schedule.table(1, start=6)[0]), rel=1e-6)
    # and it trains on: 3 more updates, the lr now that of step 9
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)
    lr_after = float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate))
    assert lr_after == pytest.approx(float(schedule.table(1, start=9)[0]), rel=1e-6)
