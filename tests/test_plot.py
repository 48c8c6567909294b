"""`lrs.plot`: schedules, tables, arrays, History and the per-step record; labels; lazy matplotlib."""

import sys

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched.plot import default_steps, envelope

pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def line_data(ax, i=0):
    line = ax.lines[i]
    return np.asarray(line.get_xdata()), np.asarray(line.get_ydata(), dtype=np.float64)


def test_schedule_against_step_with_labels():
    s = lrs.Warmup(lrs.Cosine(1e-3, steps=900), warmup_steps=100)
    ax = lrs.plot(s)
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"
    x, y = line_data(ax)
    assert x.tolist() == list(range(1001))
    expected = keras.ops.convert_to_numpy(s(np.arange(1001)))
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert y[100] == pytest.approx(1e-3) and y[-1] == pytest.approx(0.0, abs=1e-12)
    assert ax.lines[0].get_label() == "Warmup"


def test_steps_argument_and_default_lengths():
    x, _ = line_data(lrs.plot(lrs.Cosine(0.1, steps=50), steps=7))
    assert x.tolist() == list(range(7))
    assert default_steps(lrs.OneCycle(0.1, steps=1234)) == 1234
    assert default_steps(lrs.Warmup(lrs.Cosine(0.1, steps=900), warmup_steps=100)) == 1001
    join = lrs.Join([lrs.Constant(0.1), lrs.Linear(0.1, end=0.0, steps=20)], boundaries=[30])
    assert default_steps(join) == 51
    wsd = lrs.WarmupStableDecay(1.0, warmup_steps=5, stable_steps=10, decay_steps=20)
    assert default_steps(wsd) == 36
    assert default_steps(lrs.Cyclic(0.1, peak=1.0, step_size_up=4, step_size_down=6)) == 20
    assert default_steps(lrs.Table([0.1, 0.2, 0.3])) == 3
    assert default_steps(keras.optimizers.schedules.CosineDecay(0.1, 10)) == 1000


def test_a_momentum_schedule_is_drawn_as_momentum_over_its_own_length():
    lr = lrs.OneCycle(0.1, steps=300)
    ax = lrs.plot(lr.cycle_momentum())
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "momentum"
    assert ax.lines[0].get_label() == "OneCycleMomentum"
    x, y = line_data(ax)
    assert x.tolist() == list(range(300))  # as the lr: its last value comes at step 299
    np.testing.assert_allclose(y, lr.cycle_momentum().table(300), rtol=1e-6)
    assert y[0] == pytest.approx(0.95) and y.min() == pytest.approx(0.85)
    assert y[-1] == pytest.approx(0.95)
    cyclic = lrs.Cyclic(0.1, peak=1.0, step_size_up=4, step_size_down=6).cycle_momentum()
    assert default_steps(cyclic) == 20  # two cycles, as the lr's
    assert lrs.plot(cyclic).get_ylabel() == "momentum"
    # the caller's label wins, for a momentum and for an lr
    assert lrs.plot(cyclic, ylabel="beta_1").get_ylabel() == "beta_1"
    assert lrs.plot(lrs.Cosine(0.1, steps=10), ylabel="lr").get_ylabel() == "lr"


def test_keras_schedule():
    k = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    _, y = line_data(lrs.plot(k, steps=21))
    assert y[[0, 10, 20]] == pytest.approx([0.1, 0.05, 0.025], rel=1e-6)


def test_table_holds_its_last_value():
    t = lrs.Table([0.3, 0.2, 0.1])
    _, y = line_data(lrs.plot(t))
    assert y.tolist() == pytest.approx([0.3, 0.2, 0.1])
    _, y = line_data(lrs.plot(t, steps=5))
    assert y.tolist() == pytest.approx([0.3, 0.2, 0.1, 0.1, 0.1])


def test_array_and_list_against_step():
    values = lrs.OneCycle(0.1, steps=200).table(200)
    ax = lrs.plot(values)
    x, y = line_data(ax)
    assert ax.get_xlabel() == "step"
    np.testing.assert_array_equal(y, values)
    _, y = line_data(lrs.plot([0.1, 0.05, 0.01], steps=2))
    assert y.tolist() == [0.1, 0.05]


def test_history_against_epoch():
    history = keras.callbacks.History()
    history.history = {"loss": [1.0, 0.5, 0.3], "learning_rate": [0.1, 0.05, 0.025]}
    history.epoch = [0, 1, 2]
    ax = lrs.plot(history)
    x, y = line_data(ax)
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "learning rate"
    assert x.tolist() == [0, 1, 2] and y.tolist() == [0.1, 0.05, 0.025]
    x, y = line_data(lrs.plot(history.history, steps=2))
    assert x.tolist() == [0, 1] and y.tolist() == [0.1, 0.05]


def test_history_from_a_real_fit_with_the_callback():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    callback = lrs.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callback])
    _, lr = line_data(lrs.plot(history))
    assert lr == pytest.approx([0.05, 0.025, 0.0125])


def test_per_step_record_against_step():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    callback = lrs.LearningRateScheduler(lrs.Linear(0.1, end=0.0, steps=6), update="step")
    model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callback])
    ax = lrs.plot(callback)
    x_steps, lr = line_data(ax)
    assert ax.get_xlabel() == "step"
    assert x_steps.tolist() == list(range(6))
    np.testing.assert_allclose(lr, [0.1 * (1 - k / 6) for k in range(6)], rtol=1e-6)


def test_empty_records_and_missing_lr_are_clear_errors():
    class Record:
        learning_rates = []

    with pytest.raises(ValueError, match="no per-step learning rates"):
        lrs.plot(Record())
    with pytest.raises(ValueError, match="no learning rate"):
        lrs.plot({"loss": [1.0]})
    with pytest.raises(TypeError, match="Argument `obj`"):
        lrs.plot("cosine(0.1, steps=10)")
    with pytest.raises(ValueError, match="1-D"):
        lrs.plot(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="steps"):
        lrs.plot(lrs.Cosine(0.1, steps=10), steps=0)


def test_draws_on_a_given_axes():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert lrs.plot(lrs.Cosine(0.1, steps=10), ax=ax) is ax
    assert lrs.plot(lrs.Linear(0.1, end=0.0, steps=10), ax=ax, label="linear", color="red") is ax
    assert len(ax.lines) == 2 and ax.lines[1].get_label() == "linear"


def test_long_series_keep_their_spikes():
    values = np.full(3_000_001, 0.01, dtype=np.float32)
    values[1_234_567] = 1.0
    values[-1] = 0.5
    x, y = envelope(None, values)
    assert y.size <= 200_002
    assert y.max() == 1.0 and y[-1] == 0.5 and x[-1] == values.size - 1
    x, y = line_data(lrs.plot(values))
    assert y.max() == 1.0 and y.size <= 200_002
    short = np.linspace(0, 1, 50)
    assert envelope(None, short)[1] is short and envelope(None, short)[0].tolist() == list(range(50))


def test_missing_matplotlib_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install \"keras_lrsched\[plot\]\""):
        lrs.plot(lrs.Cosine(0.1, steps=10))
