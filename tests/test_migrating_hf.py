"""docs/migrating.md, "From Hugging Face transformers": every row against the real factory.

Each factory returns a torch scheduler (a LambdaLR of multipliers, or a metric-driven one) for a
dummy SGD optimizer whose lr is the peak; it is stepped like torch's own. transformers is an
optional test dependency (the ``test`` extra pins it): without it these tests skip.
"""

import numpy as np
import pytest

import keras_lrsched as lrs

from conftest import assert_lr_close, to_numpy
from test_migrating import (
    Case,
    check_cases_match_rows,
    check_every_name_has_a_row,
    check_torch_rows,
    metric_driven_lrs,
    metric_sequences,
    params,
    plateau_lrs,
    torch_lrs,
)

CASES = {
    "get_constant_schedule": Case(10, lr=0.03),
    "get_constant_schedule_with_warmup": [Case(30, lr=0.1, w=10), Case(10, lr=0.1, w=0)],
    "get_linear_schedule_with_warmup": [
        Case(60, lr=0.1, w=10, T=50),
        Case(40, lr=0.1, w=0, T=30),
    ],
    # Up to num_training_steps: past it Hugging Face's cosine goes on (see below).
    "get_cosine_schedule_with_warmup": [
        Case(51, lr=0.1, w=10, T=50, c=0.5),
        Case(61, lr=0.1, w=0, T=60, c=0.5),
        Case(51, lr=0.1, w=5, T=50, c=1.0),
        Case(73, lr=0.1, w=7, T=72, c=1.75),
    ],
    "get_cosine_with_hard_restarts_schedule_with_warmup": [
        Case(60, lr=0.1, w=5, T=45, n=4),
        Case(80, lr=0.1, w=0, T=63, n=3),
    ],
    "get_polynomial_decay_schedule_with_warmup": [
        Case(70, lr=0.1, w=10, T=50, e=0.001, p=2.0),
        Case(50, lr=0.1, w=0, T=40, e=1e-7, p=1.0),
    ],
    "get_inverse_sqrt_schedule-1": [Case(300, lr=0.01, w=16), Case(200, lr=0.01, w=0)],
    "get_inverse_sqrt_schedule-2": [Case(300, lr=0.01, w=16, t=50), Case(100, lr=0.01, w=0, t=7)],
    "get_reduce_on_plateau_schedule": [
        Case(16, lr=0.1, m="min", f=0.5, p=0, d=0.0, c=0, lo=0.0),
        Case(16, lr=0.1, m="max", f=0.1, p=1, d=0.01, c=2, lo=0.002),
    ],
    "get_wsd_schedule-1": [
        Case(60, lr=0.5, w=8, d=25, s=12, k="cosine", r=0.0),
        Case(60, lr=0.5, w=8, d=25, s=12, k="linear", r=0.0),
        Case(40, lr=1.0, w=0, d=15, s=5, k="cosine", r=0.1),
        Case(40, lr=1.0, w=0, d=15, s=5, k="linear", r=0.2),
    ],
    "get_wsd_schedule-2": Case(60, lr=0.5, w=8, d=20, T=45),
    "get_wsd_schedule-3": Case(60, lr=0.5, w=8, d=20, s=10),
    "get_wsd_schedule-4": Case(60, lr=0.5, w=8, d=20, s=10, r=0.1),
    "get_wsd_schedule-5": Case(60, lr=0.5, w=8, d=20, s=10, r=0.1),
    "get_wsd_schedule-6": Case(60, lr=0.5, w=8, d=20, s=10, r=0.1),
    "get_wsd_schedule-7": [
        Case(60, lr=0.5, w=8, d=20, s=10, c=1.0),
        Case(60, lr=0.5, w=5, d=24, s=3, c=0.75),
    ],
    "get_cosine_with_min_lr_schedule_with_warmup-1": Case(51, lr=0.1, w=10, T=50, c=0.5, m=0.01),
    "get_cosine_with_min_lr_schedule_with_warmup-2": [
        Case(51, lr=0.1, w=10, T=50, c=0.5, r=0.1),
        Case(41, lr=0.1, w=0, T=40, c=1.0, r=0.05),
    ],
    # One step ahead: equal up to step T - 1.
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate-1": [
        Case(50, lr=0.1, w=10, T=50, c=0.5, r=0.1),
        Case(40, lr=0.1, w=1, T=40, c=0.5, r=0.0),
    ],
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate-2": Case(
        50, lr=0.1, w=10, T=50, c=0.5, r=0.1, q=0.05
    ),
    "get_greedy_schedule": Case(16, lr=0.1, f=0.5, p=2, d=1e-6, lo=0.001),
}


def _hf():
    return pytest.importorskip("transformers.optimization")


def source_namespace(opt, bind):
    namespace = {k: v for k, v in vars(_hf()).items() if k.startswith("get_")}
    namespace.update(bind, opt=opt)
    return namespace


def improving_runs(metrics, threshold):
    """The longest run of epochs in a row that improve on the best so far ("min" mode)."""
    best, run, longest = float("inf"), 0, 0
    for value in metrics:
        run = run + 1 if value < best - threshold else 0
        best = min(best, value) if run else best
        longest = max(longest, run)
    return longest


@pytest.mark.parametrize("row", params("hf"))
def test_row(row):
    check_torch_rows(row, CASES, source_namespace, sequences)


def sequences(row, case):
    """The metric sequences of a metric-driven row."""
    if row.name != "get_greedy_schedule":
        return metric_sequences()
    # get_greedy_schedule: they agree while GreedyLR has no reason to raise the lr (see the note).
    patience, threshold = case.bind["p"], case.bind["d"]
    found = [m for m in metric_sequences() if improving_runs(m, threshold) <= patience]
    assert len(found) >= 10
    return found


def test_every_case_has_a_row():
    check_cases_match_rows("hf", CASES)


def test_every_factory_has_a_row():
    names = [fn.__name__ for fn in _hf().TYPE_TO_SCHEDULER_FUNCTION.values()]
    assert "get_wsd_schedule" in names
    check_every_name_has_a_row("hf", names)


# ---------------------------------------------------------------------------------------------
# The differences the notes state.


def _hf_lrs(factory, lr, steps, **kwargs):
    return torch_lrs(lambda opt: getattr(_hf(), factory)(opt, **kwargs), lr, steps)


@pytest.mark.parametrize(
    "factory, extra, ahead",
    [
        ("get_cosine_schedule_with_warmup", {}, 0),
        ("get_cosine_with_min_lr_schedule_with_warmup", {"min_lr_rate": 0.1}, 0),
        ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", {"min_lr_rate": 0.1}, 1),
    ],
)
def test_cosine_rises_again_past_the_end_where_ours_holds(factory, extra, ahead):
    # `ahead`: the _lr_rate variant runs one step ahead, so its end is step T - 1.
    w, T = 10, 50
    theirs = _hf_lrs(factory, 0.1, 2 * T, num_warmup_steps=w, num_training_steps=T, **extra)
    end = 0.1 * extra.get("min_lr_rate", 0.0)
    warmup = dict(warmup_steps=w - 1, initial=0.1 / w) if ahead else dict(warmup_steps=w)
    ours = lrs.Warmup(lrs.Cosine(0.1, steps=T - w, end=end), **warmup)
    values = to_numpy(ours, np.arange(2 * T))
    last = T - ahead
    assert_lr_close(values[: last + 1], theirs[: last + 1])
    assert_lr_close(values[last:], np.full(2 * T - last, end), peak=0.1)
    top = 2 * T - w - ahead  # where Hugging Face's cosine is back at the peak
    assert np.all(np.diff(theirs[last : top + 1]) > 0)
    assert theirs[top] == pytest.approx(0.1)


def test_wsd_warms_up_from_the_min_lr_ratio_where_ours_starts_at_zero():
    kwargs = dict(num_warmup_steps=8, num_decay_steps=20, num_stable_steps=10, min_lr_ratio=0.1)
    theirs = _hf_lrs("get_wsd_schedule", 0.5, 60, **kwargs)
    ours = lrs.WarmupStableDecay(0.5, warmup_steps=8, stable_steps=10, decay_steps=20, end=0.05)
    values = to_numpy(ours, np.arange(60))
    assert theirs[0] == pytest.approx(0.05) and values[0] == 0.0
    assert_lr_close(values[8:], theirs[8:])  # the same from the end of the warmup on


def test_the_factories_give_multipliers_of_the_optimizers_lr():
    kwargs = dict(num_warmup_steps=5, num_training_steps=40)
    one = _hf_lrs("get_linear_schedule_with_warmup", 0.1, 50, **kwargs)
    three = _hf_lrs("get_linear_schedule_with_warmup", 0.3, 50, **kwargs)
    np.testing.assert_allclose(three, 3 * one)
    assert one.max() == pytest.approx(0.1)


def test_greedy_raises_the_lr_where_plateau_never_does():
    improving = [1.0 - 0.05 * k for k in range(12)]
    theirs = metric_driven_lrs(
        lambda opt: _hf().get_greedy_schedule(opt, factor=0.5, patience=2), 0.1, improving
    )
    callback = lrs.LearningRateScheduler(
        lrs.Constant(0.1), plateau=lrs.Plateau(factor=0.5, patience=3, min_delta=1e-6)
    )
    assert theirs.max() > 0.1
    assert_lr_close(plateau_lrs(callback, improving), np.full(12, 0.1))
