"""docs/migrating.md: the guide's tables, read here, and what every row test shares.

Each table row of the guide holds two pieces of code: the *source* (a torch scheduler, a keras
schedule or callback, an optax schedule, a Hugging Face factory) and its keras_lrsched twin. The
row tests (tests/test_migrating_<library>.py, one per section) evaluate both as written, with the
numbers of a test case, and compare their lrs. A row is found by its source name and its place
among the rows of that name ("OneCycleLR-2"); a row without a case fails, and so does a case
without a row, so the guide and its tests cannot drift apart.

The ```python blocks of the guide run here too, and their definitions (``cyclic_scaled``) are in
scope for the rows.
"""

import collections
import inspect
import math
import pathlib
import re
import warnings

import numpy as np
import pytest

import keras
import keras_lrsched as lrs

from conftest import RTOL, assert_lr_close, to_numpy

GUIDE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "migrating.md"

# The guide's sections with a table, by the key the row tests use.
SECTIONS = {
    "torch": "From torch.optim.lr_scheduler",
    "keras": "From keras.optimizers.schedules",
    "callbacks": "From keras' callbacks",
    "optax": "From optax",
    "hf": "From Hugging Face transformers",
    "timm": "From timm",
    "fastai": "From fastai, DINO, BEiT and MAE",
}

CODE = re.compile(r"`([^`]+)`")
NAME = re.compile(r"^(\w+)\(")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)

Row = collections.namedtuple("Row", "section name id source ours line")


def guide_rows(text=None):
    """Every table row of the guide, in order, as a Row."""
    text = GUIDE.read_text() if text is None else text
    keys = {heading: key for key, heading in SECTIONS.items()}
    found, section = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## "):
            section = keys.get(line[3:].strip())
            continue
        if section is None or not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "source" or set(cells[0]) <= {"-", ":"}:
            continue
        assert len(cells) == 3, f"docs/migrating.md:{number}: a row needs 3 cells: {line}"
        source, ours = (CODE.search(cell) for cell in cells[:2])
        assert source and ours, f"docs/migrating.md:{number}: code in both first cells: {line}"
        name = NAME.match(source.group(1))
        assert name, f"docs/migrating.md:{number}: the source must be a call: {source.group(1)}"
        found.append((section, name.group(1), source.group(1), ours.group(1), number))
    # Rows that share a name are told apart by their place: "OneCycleLR-1", "OneCycleLR-2".
    total = collections.Counter((section, name) for section, name, *_ in found)
    place = collections.Counter()
    result = []
    for section, name, source, ours, number in found:
        place[section, name] += 1
        row_id = name if total[section, name] == 1 else f"{name}-{place[section, name]}"
        result.append(Row(section, name, row_id, source, ours, number))
    return result


def rows(section):
    return [row for row in guide_rows() if row.section == section]


def params(section):
    """pytest parameters for the rows of one section, with their ids."""
    return [pytest.param(row, id=row.id) for row in rows(section)]


class Case:
    """The numbers one row runs with: `steps` steps compared, and the names the code uses."""

    def __init__(self, steps, rtol=RTOL, **bind):
        self.steps = steps
        self.rtol = rtol
        self.bind = bind

    def __repr__(self):
        return f"Case({self.steps}, {self.bind})"


def cases_for(row, cases):
    """The cases of a row, as a list; a row without one fails, pointing at the guide's line."""
    found = cases.get(row.id)
    if found is None:
        pytest.fail(f"docs/migrating.md:{row.line}: row {row.id!r} has no test case")
    return found if isinstance(found, list) else [found]


def check_cases_match_rows(section, cases):
    """A case whose row is gone from the guide fails (a row without a case fails itself)."""
    ids = {row.id for row in rows(section)}
    assert ids, f"no rows in section {SECTIONS[section]!r}"
    assert sorted(set(cases) - ids) == []


def check_every_name_has_a_row(section, names):
    have = {row.name for row in rows(section)}
    assert sorted(set(names) - have) == []


# ---------------------------------------------------------------------------------------------
# Evaluating the code of a row.

_DEFINITIONS = None


def guide_definitions():
    """What the guide's ```python blocks define, run once, top to bottom, in one namespace."""
    global _DEFINITIONS
    if _DEFINITIONS is None:
        namespace = {"__name__": "migrating_guide"}
        for language, code in FENCE.findall(GUIDE.read_text()):
            if language == "python":
                exec(compile(code, str(GUIDE), "exec"), namespace)
        _DEFINITIONS = {k: v for k, v in namespace.items() if not k.startswith("__")}
    return _DEFINITIONS


def ours_namespace(bind):
    namespace = {name: getattr(lrs, name) for name in lrs.__all__}
    namespace["math"] = math
    namespace.update(guide_definitions())
    namespace.update(bind)
    return namespace


def evaluate(code, namespace):
    """`code` evaluated in a fresh copy of `namespace` (the globals of its lambdas)."""
    return eval(code, dict(namespace))  # noqa: S307 - the guide's own code, as written


def ours_values(ours, steps, lr=None):
    """The lr of a keras_lrsched row at steps 0 .. steps-1: [(path, values)] for every path.

    A schedule is read both ways: keras.ops on a vector of steps, and its Numba table. A
    function of the step is called at each step, as the callback calls it. A recurrence
    ``f(epoch, lr)`` goes through ``precompute``, which hands each lr on in float32 as the
    callback does, starting from the optimizer's lr.
    """
    if isinstance(ours, keras.optimizers.schedules.LearningRateSchedule):
        return [
            ("__call__", to_numpy(ours, np.arange(steps))),
            ("table", ours.table(steps, dtype="float64")),
        ]
    assert callable(ours), ours
    if len(inspect.signature(ours).parameters) == 1:
        return [("f(step)", np.array([ours(k) for k in range(steps)], dtype=np.float64))]
    with warnings.catch_warnings():
        # A function that calls one passed in (f) is looped in Python, with a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        return [("precompute", lrs.precompute(ours, steps, initial_lr=lr))]


def check_peer_tolerance(row, case, ours, theirs):
    """Issue 19's bar for the twins of timm, fastai and DINO: rtol 1e-5 and 1e-7 of the peak,
    on both paths."""
    for path, values in ours_values(ours, case.steps):
        assert_lr_close(values, theirs, rtol=1e-5, atol_of_peak=1e-7,
                        what=f"docs/migrating.md:{row.line} {row.id} {case!r} ({path})")


def check_row(row, case, ours, expected):
    """The keras_lrsched side of `row` gives `expected` at every step, on every path."""
    for path, values in ours_values(ours, case.steps, case.bind.get("lr")):
        assert_lr_close(
            values,
            expected,
            peak=float(np.max(np.abs(expected))),
            rtol=case.rtol,
            what=f"docs/migrating.md:{row.line} {row.id} {case!r} ({path})",
        )


# ---------------------------------------------------------------------------------------------
# The torch side (torch's schedulers and Hugging Face's factories, which return one).


def torch_optimizer(lr):
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([param], lr=lr, momentum=0.9)


def torch_lrs(make, lr, steps):
    """The lr torch's optimizer uses for updates 0 .. steps-1 under ``make(opt)``."""
    optimizer = torch_optimizer(lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make(optimizer)
        values = []
        for k in range(steps):
            values.append(optimizer.param_groups[0]["lr"])
            if k < steps - 1:  # OneCycleLR raises when stepped past its total steps
                optimizer.step()
                scheduler.step()
    return np.asarray(values, dtype=np.float64)


def metric_sequences(count=40, epochs=16, seed=0):
    """Scripted epoch metrics with ties, improvements and runs without: plateau decisions."""
    rng = np.random.default_rng(seed)
    choices = np.array([1.0, 0.9, 0.95, 0.8, 1.1, 0.85, 0.9])
    return [rng.choice(choices, size=epochs).tolist() for _ in range(count)]


def plateau_lrs(callback, metrics):
    """The lr of each epoch under `callback`'s schedule and Plateau, fed `metrics` epoch by
    epoch (the lr of epoch k is decided by the metrics of epochs before it)."""
    plateau = callback.plateau
    direction = plateau.direction()
    base = callback.schedule.table(len(metrics), dtype="float64")
    state, values = plateau.initial_state(), []
    for k, value in enumerate(metrics):
        values.append(base[k] * state["scale"])
        state = plateau.update(state, value, direction)
    return np.asarray(values)


def metric_driven_lrs(make, lr, metrics):
    """The lr of each epoch under a torch-style scheduler stepped with each epoch's metric."""
    optimizer = torch_optimizer(lr)
    scheduler = make(optimizer)
    values = []
    for value in metrics:
        values.append(optimizer.param_groups[0]["lr"])
        scheduler.step(value)
    return np.asarray(values)


# ---------------------------------------------------------------------------------------------
# The guide itself.


def test_every_section_has_rows():
    found = collections.Counter(row.section for row in guide_rows())
    assert set(found) == set(SECTIONS), found


def test_every_table_is_in_a_known_section():
    # A table under a heading the row tests do not know would go untested.
    text, heading, tables = GUIDE.read_text(), None, set()
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif line.startswith("| source"):
            tables.add(heading)
    assert tables == set(SECTIONS.values())
    table_lines = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(table_lines) == len(guide_rows())


def test_row_ids_are_unique():
    for section in SECTIONS:
        ids = [row.id for row in rows(section)]
        assert len(ids) == len(set(ids))


def test_every_row_is_code_that_compiles():
    for row in guide_rows():
        for code in (row.source, row.ours):
            compile(code, f"docs/migrating.md:{row.line}", "eval")


def test_the_parser_numbers_rows_that_share_a_name():
    text = (
        "## From optax\n\n| source | keras_lrsched | notes |\n|---|---|---|\n"
        "| `f(a)` | `F(a)` | |\n| `f(a, b=1)` | `F(a)` | x |\n| `g()` | `G()` | |\n"
    )
    assert [(row.id, row.line) for row in guide_rows(text)] == [("f-1", 5), ("f-2", 6), ("g", 7)]


def test_the_python_blocks_run():
    definitions = guide_definitions()
    assert isinstance(definitions["callback"], lrs.LearningRateScheduler)
    assert definitions["callback"].update == "step"
    # cyclic_scaled: a triangle from low to high and back, its top scaled by scale(cycle).
    wave = [definitions["cyclic_scaled"](k, 0.0, 1.0, 2, 2, lambda c: 1.0 / c) for k in range(8)]
    np.testing.assert_allclose(wave, [0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25])


def test_the_guide_uses_keras_3_history_key():
    text = GUIDE.read_text()
    assert 'history.history["learning_rate"]' in text
    assert 'history.history["lr"]' not in text


# ---------------------------------------------------------------------------------------------
# A row's test, by the kind of its source.


def check_value_rows(row, cases, namespace, values):
    """`row` for each case: a source evaluated in `namespace(bind)`, whose lrs at the case's steps
    `values(source, steps)` gives (a keras or optax schedule)."""
    for case in cases_for(row, cases):
        theirs = evaluate(row.source, namespace(case.bind))
        ours = evaluate(row.ours, ours_namespace(case.bind))
        check_row(row, case, ours, values(theirs, case.steps))


def check_torch_rows(row, cases, namespace, sequences=lambda row, case: metric_sequences()):
    """`row` for each case: a source that makes a torch scheduler for an optimizer,
    `namespace(optimizer, bind)` (torch's own, or a Hugging Face factory's LambdaLR). A
    metric-driven row (ours a callback with a plateau) is compared over `sequences(row, case)`."""
    for case in cases_for(row, cases):
        ours = evaluate(row.ours, ours_namespace(case.bind))

        def make(opt, bind=case.bind):
            return evaluate(row.source, namespace(opt, bind))

        lr = case.bind.get("lr", 0.1)
        if isinstance(ours, lrs.LearningRateScheduler):
            for metrics in sequences(row, case):
                expected = metric_driven_lrs(make, lr, metrics)
                assert_lr_close(plateau_lrs(ours, metrics), expected, what=f"{row.id} {metrics}")
            continue
        check_row(row, case, ours, torch_lrs(make, lr, case.steps))
