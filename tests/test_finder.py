"""`lrs.find_lr`: the range test ramps the lr per step, stops on divergence, suggests an lr, and
leaves the model exactly as it found it."""

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched.finder import LRFinderResult, smooth, steepest_descent


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    w = rng.normal(size=(8, 3)).astype("float32")
    y = np.argmax(x @ w, axis=1).astype("int32")
    return x, y


def make_model(optimizer, batch_norm=True):
    keras.utils.set_random_seed(1)
    layers = [keras.Input((8,)), keras.layers.Dense(16, activation="relu")]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def state(model):
    return (
        [np.array(v) for v in model.get_weights()],
        [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.optimizer.variables],
        [v.path for v in model.optimizer.variables],
    )


def assert_same_state(a, b, same_paths=True):
    weights_a, opt_a, paths_a = a
    weights_b, opt_b, paths_b = b
    assert len(opt_a) == len(opt_b)
    if same_paths:
        assert paths_a == paths_b
    for u, v in zip(weights_a + opt_a, weights_b + opt_b):
        np.testing.assert_array_equal(u, v)


def assign(model, saved):
    weights, optimizer_values, _ = saved
    model.set_weights(weights)
    for variable, value in zip(model.optimizer.variables, optimizer_values):
        variable.assign(value)


def test_restores_weights_optimizer_state_and_lr_exactly():
    x, y = data()
    model = make_model(keras.optimizers.Adam(1e-3))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)  # slots and iterations != 0
    before = state(model)
    lr_before = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    uninterrupted = state(model)
    assign(model, before)

    result = lrs.find_lr(model, x, y, start=1e-5, end=10.0, steps=20, batch_size=32)

    assert len(result.losses) >= 3
    assert_same_state(state(model), before)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == lr_before
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == iterations
    model.optimizer.learning_rate = lr_before  # still a settable float lr
    # The model trains on exactly as if the range test had never run.
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    assert_same_state(state(model), uninterrupted)


def test_restores_an_optimizer_built_with_a_schedule_and_records_every_step():
    x, y = data()
    model = make_model(keras.optimizers.SGD(lrs.Cosine(0.01, steps=100), momentum=0.9))
    config = keras.optimizers.serialize(model.optimizer)
    result = lrs.find_lr(model, x, y, start=1e-6, end=1e-4, steps=12)
    assert keras.optimizers.serialize(model.optimizer) == config
    assert model.optimizer.get_config()["learning_rate"]["class_name"] == "Cosine"
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    assert not result.diverged and len(result.losses) == 12
    assert result.learning_rates[0] == pytest.approx(1e-6, rel=1e-5)
    assert result.learning_rates[-1] == pytest.approx(1e-4, rel=1e-5)


def test_the_lr_ramps_exponentially_per_step_until_the_loss_diverges():
    x, _ = data()
    y = x @ np.linspace(-1, 1, 8, dtype="float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")  # an unbounded loss: it blows up
    start, end, steps = 1e-4, 100.0, 40
    result = lrs.find_lr(model, x, y, start=start, end=end, steps=steps, batch_size=16)
    n = len(result.losses)
    assert result.diverged and 3 <= n < steps
    expected = start * (end / start) ** (np.arange(n) / (steps - 1))
    np.testing.assert_allclose(result.learning_rates, expected, rtol=2e-5)
    assert result.learning_rates.shape == result.losses.shape == result.smoothed_losses.shape
    last = result.smoothed_losses[-1]
    assert not np.isfinite(last) or last > 4 * np.min(result.smoothed_losses[:-1])
    np.testing.assert_allclose(result.smoothed_losses, smooth(result.losses))


def test_the_losses_are_per_batch_not_the_running_epoch_mean():
    x, y = data()
    model = make_model(keras.optimizers.SGD(0.0), batch_norm=False)
    # With a negligible lr the weights stay put, so 16 steps of 16 are one pass over the 256
    # samples under the initial weights: the per-batch losses differ, and their mean is the loss
    # of the whole set (a running mean would not average to it).
    result = lrs.find_lr(model, x, y, start=1e-12, end=1e-11, steps=16, batch_size=16)
    assert len(result.losses) == 16 and not result.diverged
    full = float(model.evaluate(x, y, batch_size=256, verbose=0))
    assert np.mean(result.losses) == pytest.approx(full, rel=1e-4)
    assert np.std(result.losses) > 1e-3


def test_suggestion_is_the_steepest_descent_of_the_smoothed_loss():
    lr = np.logspace(-6, 1, 71)
    # A loss that falls fastest at lr = 1e-3, then blows up after lr = 1.
    loss = 2.0 - np.tanh(2 * (np.log10(lr) + 3)) + np.where(lr > 1, 50 * (lr - 1), 0.0)
    assert steepest_descent(lr, loss, diverged=False) == pytest.approx(1e-3)
    result = LRFinderResult(lr, loss, diverged=True)
    assert 1e-4 < result.suggestion < 1e-2
    assert steepest_descent(lr[:2], loss[:2], diverged=False) is None
    assert steepest_descent(lr, np.linspace(1, 2, 71), diverged=False) is None  # never falls


def test_smoothing_is_fastais_bias_corrected_average():
    assert smooth([2.0])[0] == pytest.approx(2.0)
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
    s = smooth([1.0, 3.0])
    assert s[1] == pytest.approx((0.98 * 0.02 * 1.0 + 0.02 * 3.0) / (1 - 0.98**2))


def test_plot_is_loss_against_log_lr():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    lr = np.logspace(-6, 0, 30)
    result = LRFinderResult(lr, 2.0 - np.tanh(np.log10(lr) + 3), diverged=False)
    ax = result.plot()
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning rate" and ax.get_ylabel() == "loss"
    assert any("steepest" in line.get_label() for line in ax.lines)
    plt.close("all")


def test_bad_arguments_and_an_uncompiled_model():
    x, y = data()
    model = make_model(keras.optimizers.SGD(0.01))
    with pytest.raises(ValueError, match="`end` must be > start"):
        lrs.find_lr(model, x, y, start=1.0, end=0.1)
    with pytest.raises(ValueError, match="Argument `steps`"):
        lrs.find_lr(model, x, y, steps=1)
    with pytest.raises(ValueError, match="Argument `start`"):
        lrs.find_lr(model, x, y, start=0.0)
    bare = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="compiled model"):
        lrs.find_lr(bare, x, y)


class Batches(keras.utils.PyDataset):
    """A dataset that batches itself, and breaks at batch `fail_at`."""

    def __init__(self, x, y, fail_at=None):
        super().__init__()
        self.x, self.y, self.fail_at = x, y, fail_at

    def __len__(self):
        return len(self.x) // 32

    def __getitem__(self, i):
        if i == self.fail_at:
            raise RuntimeError("the data broke")
        return self.x[i * 32:(i + 1) * 32], self.y[i * 32:(i + 1) * 32]


def test_a_dataset_is_read_one_batch_per_step_and_an_error_still_restores():
    x, y = data()
    model = make_model(keras.optimizers.Adam(1e-3), batch_norm=False)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    before = state(model)
    result = lrs.find_lr(model, Batches(x, y), start=1e-9, end=1e-8, steps=5)
    # keras may draw a dataset's batches in any order: each loss is the loss of one batch.
    per_batch = np.array(
        [float(model.evaluate(x[i:i + 32], y[i:i + 32], verbose=0)) for i in range(0, 256, 32)]
    )
    assert len(result.losses) == 5
    for loss in result.losses:
        assert np.min(np.abs(per_batch - loss)) < 1e-4 * loss, (loss, per_batch)
    assert_same_state(state(model), before)
    with pytest.raises(Exception, match="the data broke"):  # TensorFlow wraps it
        lrs.find_lr(model, Batches(x, y, fail_at=3), steps=8)
    assert_same_state(state(model), before)
    model.optimizer.learning_rate = 0.01  # the optimizer's own lr is back and settable
