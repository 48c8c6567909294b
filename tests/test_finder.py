"""`lrs.find_lr`: the range test ramps the lr per step, stops on divergence, suggests an lr, and
leaves the model exactly as it found it."""

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched.finder import LRFinderResult, smooth, suggest_lr


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


# A smooth fall from 3 to 1 centred on lr = 1e-3, on the 71 lrs 1e-6, 10**-5.9, .., 10: the
# rule's 80% and 20% crossings are the 27th and the 35th lr, whose middle is 1e-3 exactly.
LR = np.logspace(-6, 1, 71)
FALL = 2.0 - np.tanh(2 * (np.log10(LR) + 3))


def steepest(lr, loss):
    """The rule that used to pick the suggestion: the steepest slope over every point."""
    return lr[np.argmin(np.gradient(loss, np.log10(lr)))]


def test_suggestion_is_the_middle_of_a_clean_fall():
    assert suggest_lr(LR, FALL) == pytest.approx(1e-3, rel=1e-12)
    for k in (-10, 7):  # the fall moved by k steps moves the suggestion by k steps
        moved = 2.0 - np.tanh(2 * (np.log10(LR) + 3 - 0.1 * k))
        assert suggest_lr(LR, moved) == pytest.approx(LR[30 + k], rel=1e-12)
    assert suggest_lr(LR, 5.0 * FALL + 7.0) == suggest_lr(LR, FALL)  # the units do not matter


def test_a_noisy_start_with_a_steep_early_drop_is_skipped():
    loss = FALL.copy()
    loss[:5] = [3.6, 2.4, 3.9, 2.2, 3.3]  # the first smoothed points swing by a whole unit
    assert steepest(LR, loss) <= LR[4]  # what the old rule picked
    assert suggest_lr(LR, loss) == pytest.approx(1e-3, rel=1e-12)
    assert suggest_lr(LR, loss, skip_fraction=0.0, skip_min=0) < 1e-4


@pytest.mark.parametrize("n, skipped", [(71, 8), (36, 5)])
def test_the_skip_is_the_first_tenth_of_the_points_and_at_least_5(n, skipped):
    lr = np.logspace(-6, 1, n)
    loss = 2.0 - np.tanh(2 * (np.log10(lr) + 3))
    clean = suggest_lr(lr, loss)
    loss[skipped - 1] = 4.5  # the last point skipped: no effect
    assert suggest_lr(lr, loss) == clean
    loss[skipped] = 4.5  # the first point kept: the fall now starts there
    assert suggest_lr(lr, loss) < clean
    assert suggest_lr(lr, loss, skip_min=skipped + 1) == clean


def test_a_one_step_dip_on_the_plateau_does_not_move_the_suggestion():
    loss = FALL.copy()
    loss[15] -= 0.6  # a single noisy batch: a slope steeper than the real fall's
    assert steepest(LR, loss) == pytest.approx(LR[14])
    assert suggest_lr(LR, loss) == pytest.approx(1e-3, rel=1e-12)


def test_everything_from_the_divergence_on_is_cut():
    # Past lr = 1 (index 60) the loss blows up, then a broken run reports tiny losses; or it
    # is NaN. With the cut, the floor and the fall are found before either.
    blown_up = FALL.copy()
    blown_up[61:64] = [2.0, 3.5, 4.5]  # 4.5 > 4 * the floor (1.0): the cut is at index 63
    blown_up[64:] = 0.1
    not_finite = FALL.copy()
    not_finite[61:] = np.nan
    for loss in (blown_up, not_finite):
        assert suggest_lr(LR, loss) == pytest.approx(1e-3, rel=1e-12)
    # Past its floor the loss only rises: what happens there does not count either.
    rising = FALL.copy()
    rising[61:] = [3.0, 2.0, 1.05, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1]  # a steep wiggle, no cut
    assert steepest(LR, rising) > 1.0
    assert suggest_lr(LR, rising) == pytest.approx(1e-3, rel=1e-12)
    # A result that find_lr marked as diverged gives the same suggestion from the same curve.
    result = LRFinderResult(LR[:64], np.r_[FALL[:63], 1e6], diverged=True)
    assert result.suggestion == suggest_lr(result.learning_rates, result.smoothed_losses)
    assert 1e-3 <= result.suggestion < 1e-1  # smoothing delays the fall of the raw losses


def test_too_few_points_or_no_fall_give_none():
    assert suggest_lr(LR[:7], FALL[:7]) is None  # 5 skipped, 2 left
    assert suggest_lr(LR[:8], FALL[:8]) is not None  # 3 left
    diverged = FALL[:12].copy()
    diverged[8] = 100.0  # the cut at index 8 leaves indices 5..7
    assert suggest_lr(LR[:12], diverged) is not None
    diverged[7] = 100.0
    assert suggest_lr(LR[:12], diverged) is None
    assert suggest_lr(LR, np.linspace(1, 2, 71)) is None  # never falls
    assert suggest_lr(LR, np.ones(71)) is None  # flat
    assert LRFinderResult([], [], diverged=False).suggestion is None
    assert LRFinderResult(LR[:2], FALL[:2], diverged=False).suggestion is None


def test_suggestion_is_deterministic_and_a_recorded_lr():
    rng = np.random.default_rng(0)
    loss = smooth(FALL + rng.normal(scale=0.1, size=71))
    first = suggest_lr(LR, loss)
    assert first in LR and all(suggest_lr(LR, loss.copy()) == first for _ in range(3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"skip_fraction": 1}, r"`skip_fraction` must be in \[0, 1\). Received: skip_fraction=1"),
        ({"skip_fraction": -0.1}, r"Received: skip_fraction=-0.1"),
        ({"skip_fraction": float("nan")}, r"`skip_fraction` must be finite"),
        ({"skip_min": -1}, r"`skip_min` must be >= 0. Received: skip_min=-1"),
        ({"skip_min": 2.5}, r"Argument `skip_min`.*Received: skip_min=2.5"),
    ],
)
def test_bad_skip_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        suggest_lr(LR, FALL, **kwargs)


def test_learning_rates_and_losses_of_different_lengths():
    with pytest.raises(ValueError, match="same length. Received: 70 learning rates and 71 losses"):
        suggest_lr(LR[:-1], FALL)


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
    assert any(line.get_label().startswith("suggestion") for line in ax.lines)
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


def digits_model(seed, lr):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), loss="sparse_categorical_crossentropy")
    return model


# The steepest slope over every smoothed point suggested the first lr, 1e-5, with seed 1 under
# each of the three backends and with seed 2 under torch.
@pytest.mark.parametrize("seed", [1, 2])
def test_the_suggestion_trains_an_mlp_on_the_digits(seed):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target.astype("int32")
    result = lrs.find_lr(
        digits_model(seed, 0.01), x, y, start=1e-5, end=10.0, steps=50, batch_size=32
    )
    assert 1e-3 < result.suggestion < 1.0, result
    model = digits_model(seed, result.suggestion)
    before = float(model.evaluate(x, y, batch_size=512, verbose=0))
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    after = float(model.evaluate(x, y, batch_size=512, verbose=0))
    assert after < 0.5 * before, (result, before, after)
