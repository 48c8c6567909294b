"""The `keras-lrsched` command: table, plot, and one-line errors (in process and as a subprocess)."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched import spec as spec_module
from keras_lrsched.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPEC = "warmup(cosine(1e-3, steps=900), warmup_steps=100)"


def one_error_line(err, prefix):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    assert "Traceback" not in err
    return lines[0]


def test_table_writes_the_schedule_table(tmp_path, capsys):
    out = tmp_path / "lr.npy"
    assert main(["table", SPEC, "--steps", "1000", "-o", str(out)]) == 0
    values = np.load(out)
    assert values.dtype == np.float32 and values.shape == (1000,)
    np.testing.assert_array_equal(values, lrs.get(SPEC).table(1000))
    assert f"wrote {out}" in capsys.readouterr().out


def test_table_options_float64_scientific_steps_and_npy_suffix(tmp_path):
    assert main(["table", "cosine(0.1, steps=10)", "--steps", "2e1", "--dtype", "float64",
                 "-o", str(tmp_path / "t")]) == 0
    values = np.load(tmp_path / "t.npy")
    assert values.dtype == np.float64 and values.shape == (20,)
    assert values[10:].tolist() == [0.0] * 10


def test_table_of_a_bare_number_is_a_constant(tmp_path):
    assert main(["table", "0.25", "--steps", "3", "-o", str(tmp_path / "c.npy")]) == 0
    assert np.load(tmp_path / "c.npy").tolist() == [0.25] * 3


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "lr.png"
    assert main(["plot", SPEC, "--steps", "500", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert f"wrote {out}" in capsys.readouterr().out


def test_plot_a_saved_table(tmp_path):
    pytest.importorskip("matplotlib")
    table = tmp_path / "t.npy"
    assert main(["table", "one_cycle(0.1, steps=300)", "--steps", "300", "-o", str(table)]) == 0
    assert main(["plot", str(table), "-o", str(tmp_path / "t.png")]) == 0
    assert (tmp_path / "t.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "argv, status, prefix, needle",
    [
        (["table", "cosine(1, steps=x)", "--steps", "5", "-o", "X"], 1,
         "keras-lrsched table: error:", "a variable `x`"),
        (["table", "cosin(1, steps=2)", "--steps", "5", "-o", "X"], 1,
         "keras-lrsched table: error:", "Did you mean `cosine`"),
        (["table", "OneCycleLR(0.1, total_steps=9)", "--steps", "5", "-o", "X"], 1,
         "keras-lrsched table: error:", "The equivalent here is `one_cycle(MAX_LR, "),
        (["table", "cosine(-1, steps=2)", "--steps", "5", "-o", "X"], 1,
         "keras-lrsched table: error:", "Argument `initial` must be >= 0"),
        (["table", "cosine(1, 2)", "--steps", "5", "-o", "X"], 1, "keras-lrsched table: error:",
         "only the first argument, `initial`, may be positional"),
        (["table", "cosine(1, steps=2)", "-o", "X"], 2, "keras-lrsched: error:", "--steps"),
        (["table", "cosine(1, steps=2)", "--steps", "0", "-o", "X"], 2, "keras-lrsched: error:",
         "whole number > 0"),
        (["table", "cosine(1, steps=2)", "--steps", "2.5", "-o", "X"], 2,
         "keras-lrsched: error:", "whole number > 0"),
        (["plot", "missing.npy", "-o", "X.png"], 1, "keras-lrsched plot: error:",
         "No such table file"),
        (["demo", "--update", "batch"], 2, "keras-lrsched: error:", "invalid choice"),
        (["frobnicate"], 2, "keras-lrsched: error:", "invalid choice"),
        ([], 2, "keras-lrsched: error:", "required"),
    ],
)
def test_user_errors_are_one_line_on_stderr(argv, status, prefix, needle, capsys, tmp_path,
                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == status
    captured = capsys.readouterr()
    line = one_error_line(captured.err, prefix)
    assert needle in line
    assert not (tmp_path / "X.npy").exists()


def test_unwritable_output_is_a_user_error(tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir" / "t.npy"
    assert main(["table", "cosine(1, steps=2)", "--steps", "5", "-o", str(out)]) == 1
    assert "No such file or directory" in one_error_line(capsys.readouterr().err, "keras-lrsched")


def test_help_exits_zero_and_lists_the_commands_and_the_schedule_names(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("table", "plot", "demo"):
        assert command in out
    for name in spec_module.schedule_names():
        assert name in out
    assert "warmup_steps=100" in out  # the example is written with the current names


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def test_python_dash_m_is_lazy_and_plots_with_agg_without_a_display(tmp_path):
    # One fresh process checks three things: `python -m keras_lrsched` runs the CLI; importing
    # keras_lrsched adds no matplotlib, scikit-learn or numba to what keras itself imports; and
    # with no display, plotting picks the Agg backend.
    code = textwrap.dedent(
        """
        import runpy, sys
        import keras  # keras itself may import pyplot and sklearn when they are installed
        before = set(sys.modules)
        import keras_lrsched
        added = set(sys.modules) - before
        heavy = [m for m in added if m.split(".")[0] in ("matplotlib", "sklearn", "numba")]
        assert not heavy and "numba" not in sys.modules, heavy
        sys.argv = ["keras_lrsched", "plot", "one_cycle(0.1, steps=100)", "-o", sys.argv[1]]
        try:
            runpy.run_module("keras_lrsched", run_name="__main__")
        except SystemExit as exit_:
            assert exit_.code == 0, exit_.code
        import matplotlib
        assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
        """
    )
    env = {k: v for k, v in _env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    out = tmp_path / "lr.png"
    result = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote {out}" in result.stdout
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_console_script_error_has_no_traceback(tmp_path):
    script = pathlib.Path(sys.executable).parent / "keras-lrsched"
    assert script.exists(), "the package's console script is not installed next to python"
    result = subprocess.run(
        [str(script), "table", "__import__('os').system('touch pwned')", "--steps", "5",
         "-o", "t.npy"],
        capture_output=True, text=True, env=_env(), timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("keras-lrsched table: error: Spec ")
    assert "not allowed" in last
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "t.npy").exists()
