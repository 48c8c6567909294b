"""Importing keras_lrsched imports no keras, and keras still finds every schedule.

* `import keras_lrsched`, `--help` and a command line that argparse refuses import neither keras,
  nor a backend, nor Numba;
* whatever the order of the imports, once keras is imported the schedules are registered with it,
  so `keras.saving.load_model` and `keras.optimizers.schedules.deserialize` find them;
* the public names, the submodules, `help()` and doctests work as with eager imports.

What is imported is checked in fresh interpreters: this one imported keras long ago.
"""

import ast
import doctest
import json
import os
import pathlib
import pydoc
import subprocess
import sys
import textwrap

import keras
import pytest

import keras_lrsched as lrs
from keras_lrsched import spec as spec_module

HEAVY = ("keras", "numba", "jax", "tensorflow", "torch")
SCRIPT = pathlib.Path(sys.executable).parent / "keras-lrsched"


def _python(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd
    )


def _heavy_imports(stderr):
    """The HEAVY packages among the imports `python -X importtime` wrote to `stderr`."""
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return sorted(imported & set(HEAVY))


def _other_lines(stderr):
    lines = stderr.splitlines()
    return [line for line in lines if line.strip() and not line.startswith("import time:")]


def test_importing_the_package_imports_no_keras_and_no_numba():
    code = textwrap.dedent(
        f"""
        import sys
        import keras_lrsched as lrs
        from keras_lrsched import cli, spec
        assert lrs.__version__ and set(lrs.__all__) <= set(dir(lrs))
        assert spec.SCHEDULE_NAMES and cli.build_parser().prog == "keras-lrsched"
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    result = _python("-c", code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["[]"]


ENTRY_POINTS = {
    "python -m keras_lrsched": ["-m", "keras_lrsched"],
    "keras_lrsched.cli.main": [
        "-c", "import sys; from keras_lrsched.cli import main; sys.exit(main())"
    ],
    "the keras-lrsched script": [str(SCRIPT)],
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    "argv, status, needle",
    [
        (["--help"], 0, None),
        (["table", "--help"], 0, None),
        ([], 2, "the following arguments are required: COMMAND"),
        (["frobnicate"], 2, "invalid choice"),
        (["table", "cosine(0.1, steps=10)", "-o", "t.npy"], 2, "required: --steps"),
        (["table", "cosine(0.1, steps=10)", "--steps", "0", "-o", "t.npy"], 2, "whole number > 0"),
        (["demo", "--update", "batch"], 2, "invalid choice"),
        # a spec's mistakes of form: status 1, still without keras
        (["table", "cosine(0.1, 100)", "--steps", "9", "-o", "t.npy"], 1,
         "only the first argument, `initial`, may be positional"),
        (["table", "OneCycleLR(0.1)", "--steps", "9", "-o", "t.npy"], 1, "one_cycle("),
        (["plot", "get_cosine_schedule_with_warmup", "-o", "t.npy"], 1, "warmup(cosine("),
        (["table", "cosine(0.1, steps=9, steps=8)", "--steps", "9", "-o", "t.npy"], 1,
         "`steps` is repeated"),
        (["table", "cosine(0.1,", "--steps", "9", "-o", "t.npy"], 1, "not a valid spec"),
    ],
    ids=["help", "table-help", "no-command", "bad-command", "missing-steps", "bad-steps",
         "bad-choice", "spec-positional", "spec-torch-name", "spec-bare-hf-name",
         "spec-repeated", "spec-syntax"],
)
def test_help_and_refused_command_lines_import_nothing_heavy(entry, argv, status, needle, tmp_path):
    result = _python("-X", "importtime", *ENTRY_POINTS[entry], *argv, cwd=tmp_path)
    assert result.returncode == status, result.stderr[-2000:]
    assert _heavy_imports(result.stderr) == []
    if needle is None:
        assert result.stdout.startswith("usage: keras-lrsched")
        assert _other_lines(result.stderr) == []
    else:
        (line,) = _other_lines(result.stderr)
        assert line.startswith(("keras-lrsched: error:", "keras-lrsched table: error:",
                                "keras-lrsched plot: error:")) and needle in line, line
    assert not (tmp_path / "t.npy").exists()


def _saved_model(tmp_path, schedule):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    path = tmp_path / "model.keras"
    model.save(path)
    return path


# Run in a fresh interpreter after the imports under test: loads a .keras file and deserializes
# configs holding keras_lrsched schedules, never naming a keras_lrsched class first.
LOAD_AND_DESERIALIZE = """
import json, sys
import keras
model = keras.saving.load_model(sys.argv[1])
rebuilt = [keras.optimizers.schedules.deserialize(c) for c in json.loads(sys.argv[2])]
print(json.dumps({
    "loaded": model.optimizer.get_config()["learning_rate"],
    "rebuilt": [keras.optimizers.schedules.serialize(s) for s in rebuilt],
    "finder_left": keras_lrsched._registration._finder in sys.meta_path,
    "plot": f"{type(keras_lrsched.plot).__name__} {keras_lrsched.plot.__module__}",
}))
"""


@pytest.mark.parametrize(
    "first",
    [
        "import keras_lrsched",  # keras later: keras_lrsched registers right after it
        "import keras; import keras_lrsched",  # keras first: keras_lrsched imports all at once
        # One of our modules imports keras itself, halfway through; the rest follow after it.
        "import keras_lrsched.plot; import keras_lrsched",
        "from keras_lrsched.table import Table; import keras_lrsched",
    ],
)
def test_keras_finds_the_schedules_whatever_the_order_of_imports(first, tmp_path):
    schedule = lrs.Warmup(lrs.Cosine(0.1, steps=90, end=1e-3), warmup_steps=10)
    others = [lrs.OneCycle(0.1, steps=50), lrs.Table([0.3, 0.2, 0.1]),
              lrs.Join([lrs.Constant(0.1), lrs.Linear(0.1, steps=5)], boundaries=[3])]
    configs = [keras.optimizers.schedules.serialize(s) for s in others]
    code = f"{first}\n{LOAD_AND_DESERIALIZE}"
    result = _python("-c", code, str(_saved_model(tmp_path, schedule)), json.dumps(configs))
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["loaded"] == keras.optimizers.schedules.serialize(schedule)
    assert out["rebuilt"] == configs
    assert out["finder_left"] is False
    assert out["plot"] == "function keras_lrsched.plot"


def test_every_public_name_comes_from_its_module():
    source = pathlib.Path(lrs.__file__).read_text()
    typed = {}  # what `if TYPE_CHECKING:` shows type checkers
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                typed.update({alias.name: stmt.module for alias in stmt.names})
    assert sorted(typed) == sorted(lrs.__all__)
    for name in lrs.__all__:
        home = lrs._HOME.get(name, "schedules")
        assert typed[name] == home
        assert getattr(lrs, name).__module__.startswith(f"keras_lrsched.{home}"), name


def test_submodules_and_unknown_names():
    assert lrs.schedules.Cosine is lrs.Cosine
    assert lrs.spec.to_spec is spec_module.to_spec
    assert callable(lrs.plot) and sys.modules["keras_lrsched.plot"].pyplot
    with pytest.raises(AttributeError, match="has no attribute 'frobnicate'"):
        lrs.frobnicate
    with pytest.raises(ImportError):
        from keras_lrsched import frobnicate  # noqa: F401
    assert not hasattr(lrs, "__wrapped__")


def test_help_and_doctests_see_the_public_names():
    text = pydoc.render_doc(lrs)
    for name in ("Cosine", "LearningRateScheduler", "get", "plot", "find_lr"):
        assert name in text
    for module in (lrs, spec_module):
        tests = doctest.DocTestFinder().find(module)
        assert all(doctest.DocTestRunner().run(t).failed == 0 for t in tests)
