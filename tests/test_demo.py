"""The demo: a short run on scikit-learn's digits, in both modes, through `run` and the CLI."""

import sys

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched import demo
from keras_lrsched.cli import main

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_step_mode_default_one_cycle(tmp_path):
    lines = []
    out = tmp_path / "demo.png"
    result = demo.run(epochs=2, output=str(out), print_fn=lines.append)
    steps_per_epoch = 45  # 1438 training images in batches of 32
    callback, history = result["callback"], result["history"]
    expected = demo.default_schedule("step", 2, steps_per_epoch)
    np.testing.assert_allclose(
        callback.learning_rates,
        keras.ops.convert_to_numpy(expected(np.arange(2 * steps_per_epoch))),
        rtol=2e-5, atol=1e-9,  # float32, near the one-cycle's final 8e-7
    )
    # One lr per epoch in History: the lr of the epoch's last update.
    np.testing.assert_allclose(
        history.history["learning_rate"], callback.learning_rates[[44, 89]], rtol=1e-6
    )
    assert result["val_accuracy"] > 0.8  # two epochs of a one-cycle already learn the digits
    assert out.read_bytes()[:8] == PNG_MAGIC
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and epoch_lines[1].startswith("epoch   2/2")
    for key in ("lr ", " -> ", "loss ", "accuracy ", "val_loss ", "val_accuracy "):
        assert key in epoch_lines[0]
    assert lines[-1] == f"wrote {out}"
    assert any(line.startswith("final val_accuracy") for line in lines)


def test_epoch_mode_with_a_spec_through_the_cli(tmp_path, capsys):
    out = tmp_path / "demo.png"
    argv = ["demo", "--update", "epoch", "--epochs", "2", "-o", str(out),
            "--schedule", "step_decay(0.1, factor=0.5, step_size=1)"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/2  lr 0.10000  loss" in printed
    assert "epoch   2/2  lr 0.05000  loss" in printed
    assert f"wrote {out}" in printed
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_bad_schedule_is_one_line(capsys):
    assert main(["demo", "--schedule", "one_cycle(0.1)", "--epochs", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("keras-lrsched demo: error: In `one_cycle")
    assert "steps" in err[0]


def test_missing_scikit_learn_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install \"keras_lrsched\[demo\]\""):
        demo.load_digits_split()
    assert main(["demo", "--epochs", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keras_lrsched[demo]" in err[0]


def test_the_digits_split_is_seeded_and_scaled():
    x, y, xv, yv = demo.load_digits_split(seed=0)
    assert x.shape == (1438, 64) and xv.shape == (359, 64)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(y)) == set(range(10))
    x2, *_ = demo.load_digits_split(seed=0)
    np.testing.assert_array_equal(x, x2)
    assert isinstance(demo.default_schedule("epoch", 15, 45), lrs.OneCycle)
    assert demo.default_schedule("epoch", 15, 45).steps == 15


@pytest.mark.parametrize("epochs", [1, 2, 3, 4, 15])
def test_the_default_schedule_fits_short_runs_per_epoch(epochs):
    # A quarter of 3 epochs holds no step: OneCycle refused it and `demo --epochs 3
    # --update epoch` failed.
    s = demo.default_schedule("epoch", epochs, steps_per_epoch=23)
    assert s.steps == max(epochs, 2)
    values = s.table(s.steps)
    assert values[0] == pytest.approx(demo.MAX_LR / 25, rel=1e-6)  # torch's div_factor
    if s.steps >= 3:  # it rises, then falls to its end
        assert values[0] < values.max() and values[-1] < values[0]


@pytest.mark.parametrize("update", ["step", "epoch"])
def test_cycle_momentum_cycles_sgds_momentum_against_the_lr(update, tmp_path, capsys):
    out = tmp_path / "demo.png"
    argv = ["demo", "--update", update, "--epochs", "3", "--cycle-momentum", "-o", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "momentum: OneCycleMomentum(" in printed
    epoch_lines = [line for line in printed.splitlines() if line.startswith("epoch ")]
    moms = [float(line.split("momentum ")[1].split()[0]) for line in epoch_lines]
    # The lr of the epoch's last update: "lr a -> b" in step mode, "lr a" in epoch mode.
    lrs_ = [float(line.split("lr ")[1].split()[2 if update == "step" else 0]) for line in epoch_lines]
    # Inverse to the lr: the lowest momentum where the lr is highest.
    assert moms.index(min(moms)) == lrs_.index(max(lrs_))
    assert all(0.85 <= m <= 0.95 for m in moms)
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_cycle_momentum_needs_a_cycle(capsys):
    argv = ["demo", "--epochs", "1", "--cycle-momentum", "--schedule", "cosine(0.1, steps=10)"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "`cycle_momentum` needs a OneCycle or Cyclic schedule" in err
