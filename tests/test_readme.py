"""Every code block of README.md runs here, as written.

* The ```python blocks run top to bottom in one namespace (a session, as a reader would type them),
  in a scratch folder; a ```text block after a python block is the output the README promises,
  and every line of it must appear in what that block printed.
* The ```bash lines of the tour that call ``keras-lrsched`` run through ``cli.main`` in the same
  folder.
* The two commands at the top (install and run the demo; run the tests) install packages, so they
  cannot run inside the suite: their shape is checked here, the demo itself runs in test_demo.py,
  and the test command is the one that runs this file.
* Every chart the README shows must be drawn by one of its blocks and be committed under docs/.

``python tests/test_readme.py`` runs the blocks (and the demo) and writes the charts to docs/.
"""

import contextlib
import io
import os
import pathlib
import re
import shlex
import shutil
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
IMAGE = re.compile(r"!\[[^\]]*\]\((docs/[^)]+)\)")


def blocks(text=None):
    """[(language, code, line number)] of the fenced blocks, in order."""
    text = README.read_text() if text is None else text
    return [
        (m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)
    ]


def tour_text():
    """The tour: from its heading to the next section."""
    text = README.read_text()
    start = text.index("## A tour")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def python_blocks_with_output():
    """[(code, line, expected output lines)]: each python block and the text blocks after it."""
    result = []
    for lang, code, line in blocks():
        if lang == "python":
            result.append((code, line, []))
        elif lang == "text" and result:
            result[-1][2].extend(row.strip() for row in code.splitlines() if row.strip())
    return result


def cli_lines():
    return [
        row.strip()
        for lang, code, _ in blocks(tour_text())
        if lang == "bash"
        for row in code.splitlines()
        if row.strip().startswith("keras-lrsched ")
    ]


def run_tour(workdir):
    """Run every python block, then every CLI line, in `workdir`; return what each block printed."""
    from keras_lrsched.cli import main

    (workdir / "docs").mkdir(exist_ok=True)
    namespace = {"__name__": "__readme__"}
    printed = []
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        for code, line, _ in python_blocks_with_output():
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"README.md, block at line {line}", "exec"), namespace)
            printed.append(out.getvalue())
        for command in cli_lines():
            status = main(shlex.split(command)[1:])
            assert status == 0, f"README command failed with status {status}: {command}"
    finally:
        os.chdir(cwd)
        import matplotlib.pyplot as plt

        plt.close("all")
    return printed


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    workdir = tmp_path_factory.mktemp("readme")
    return workdir, run_tour(workdir)


def test_python_blocks_print_what_the_readme_shows(tour):
    _, printed = tour
    cases = python_blocks_with_output()
    assert len(cases) >= 6
    for (code, line, expected), output in zip(cases, printed):
        lines = [row.strip() for row in output.splitlines()]
        for row in expected:
            assert row in lines, f"README block at line {line} did not print {row!r}:\n{output}"


def test_every_chart_the_readme_shows_is_drawn_by_it_and_committed(tour):
    workdir, _ = tour
    images = IMAGE.findall(README.read_text())
    tour_images = IMAGE.findall(tour_text())
    assert len(tour_images) >= 6
    for image in tour_images:
        drawn = workdir / image
        assert drawn.exists() and drawn.read_bytes()[:4] == b"\x89PNG", f"no block draws {image}"
    for image in images:
        assert (ROOT / image).exists(), f"{image} is shown in README.md but not committed"


def test_the_tour_tells_the_story_in_order():
    text = tour_text()
    story = [
        "def time_decay(epoch, lr)",
        "LearningRateScheduler(time_decay, verbose=1)",
        "Epoch 1: LearningRateScheduler setting learning rate to 0.1.",
        'history.history["learning_rate"]',
        "lrs.plot(history",
        "def step_decay(epoch, lr)",
        "def exp_decay(epoch, lr)",
        "def custom(epoch, lr)",
        'update="step"',
        "table(100_000_000)",
        "lrs.find_lr(",
        "keras-lrsched table",
    ]
    positions = [text.find(part) for part in story]
    assert all(p >= 0 for p in positions), [s for s, p in zip(story, positions) if p < 0]
    assert positions == sorted(positions)


def test_the_first_command_installs_and_runs_the_demo_then_the_test_command():
    text = README.read_text()
    first, second = blocks()[:2]
    assert first[0] == "bash" and len(first[1].strip().splitlines()) == 1
    command = first[1].strip()
    assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -e \".[demo,")
    assert command.endswith(".venv/bin/keras-lrsched demo")
    backend = re.search(r"KERAS_BACKEND=(\w+)", command).group(1)
    extras = re.search(r'"\.\[([\w,]+)\]"', command).group(1).split(",")
    assert backend in extras  # keras needs the backend it is told to use installed
    pyproject = (ROOT / "pyproject.toml").read_text()
    for extra in extras:
        assert re.search(rf"^{extra} = \[", pyproject, re.M), f"no [{extra}] extra in pyproject"
    assert 'keras-lrsched = "keras_lrsched.cli:main"' in pyproject
    # The test command comes second and shares the same .venv.
    assert text.index(first[1]) < text.index("## Run the tests") < text.index(second[1])
    assert second == ("bash", "bash scripts/test.sh\n", second[2])
    assert 'VENV="${VENV:-.venv}"' in (ROOT / "scripts" / "test.sh").read_text()


def regenerate_docs():
    """Run the README's blocks and the demo in a scratch folder; copy the charts into docs/."""
    from keras_lrsched import demo

    with tempfile.TemporaryDirectory() as scratch:
        workdir = pathlib.Path(scratch)
        run_tour(workdir)
        demo.run(output=str(workdir / "docs" / "demo.png"))
        (ROOT / "docs").mkdir(exist_ok=True)
        for image in IMAGE.findall(README.read_text()):
            shutil.copy(workdir / image, ROOT / image)
            print("wrote", ROOT / image)


if __name__ == "__main__":
    sys.exit(regenerate_docs())
