"""Bad arguments are refused in ``__init__`` (and in ``table``, ``precompute``, ``from_config``),
with ValueError for a value out of range and TypeError for a value of the wrong kind, and a
message in Keras' wording that names the argument and the value received.

tests/test_reliability_args.py holds the large matrix; this module walks the list of issue 2
(non-positive steps or periods, negative or NaN lr, unsorted or mismatched boundaries, pct_start
outside (0, 1), empty or NaN tables, unknown modes, t_mul < 1) and the entry points around it.
"""

import math
import re

import numpy as np
import pytest

import keras_lrsched as lrs

NAN = math.nan
C = lrs.Constant(0.1)


def refused(error, argument, value):
    """pytest.raises for `error` whose message names `argument` and shows `value`."""
    pattern = rf"`{re.escape(argument)}`.*{re.escape(value)}"
    return pytest.raises(error, match=re.compile(pattern, re.S))


# (id, constructor, argument, the value as the message shows it)
VALUE_ERRORS = [
    # non-positive steps and periods
    ("Cosine-steps-0", lambda: lrs.Cosine(0.1, steps=0), "steps", "steps=0"),
    ("Polynomial-steps-negative", lambda: lrs.Polynomial(0.1, 0.0, steps=-3), "steps", "-3"),
    ("Linear-steps-0", lambda: lrs.Linear(0.0, 0.1, steps=0), "steps", "steps=0"),
    ("StepDecay-step_size-0", lambda: lrs.StepDecay(0.1, 0.5, 0), "step_size", "step_size=0"),
    ("TimeDecay-decay_steps-0", lambda: lrs.TimeDecay(0.1, 1.0, 0), "decay_steps", "=0"),
    ("ExponentialDecay-decay_steps-0", lambda: lrs.ExponentialDecay(0.1, 0.5, 0), "decay_steps",
     "=0"),
    ("CosineRestarts-period-0", lambda: lrs.CosineRestarts(0.1, 0), "period", "period=0"),
    ("Cyclic-step_size_up-0", lambda: lrs.Cyclic(0.0, 1.0, 0), "step_size_up", "=0"),
    ("Cyclic-step_size_down-0", lambda: lrs.Cyclic(0.0, 1.0, 2, 0), "step_size_down", "=0"),
    ("OneCycle-total_steps-0", lambda: lrs.OneCycle(0.1, 0), "total_steps", "total_steps=0"),
    ("InverseSqrt-warmup_steps-0", lambda: lrs.InverseSqrt(0.1, 0), "warmup_steps", "=0"),
    ("WSD-decay_steps-0", lambda: lrs.WarmupStableDecay(0.1, 5, 5, 0), "decay_steps", "=0"),
    ("WSD-warmup_steps-negative", lambda: lrs.WarmupStableDecay(0.1, -1, 5, 5), "warmup_steps",
     "-1"),
    ("Warmup-steps-0", lambda: lrs.Warmup(C, 0), "steps", "steps=0"),
    ("Cosine-steps-not-whole", lambda: lrs.Cosine(0.1, 7.5), "steps", "7.5"),
    # negative or NaN learning rates
    ("Constant-negative", lambda: lrs.Constant(-0.1), "value", "-0.1"),
    ("Constant-nan", lambda: lrs.Constant(NAN), "value", "nan"),
    ("Cosine-end-negative", lambda: lrs.Cosine(0.1, 10, end=-0.01), "end", "-0.01"),
    ("Cyclic-high-nan", lambda: lrs.Cyclic(0.0, NAN, 4), "high", "nan"),
    ("OneCycle-max_lr-negative", lambda: lrs.OneCycle(-0.1, 10), "max_lr", "-0.1"),
    ("InverseSqrt-peak-inf", lambda: lrs.InverseSqrt(math.inf, 10), "peak", "inf"),
    ("Warmup-start-nan", lambda: lrs.Warmup(C, 5, start=NAN), "start", "nan"),
    ("Piecewise-value-negative", lambda: lrs.Piecewise([3], [0.1, -0.1]), "values[1]", "-0.1"),
    # unsorted or mismatched boundaries
    ("Piecewise-unsorted", lambda: lrs.Piecewise([5, 3], [0.3, 0.2, 0.1]), "boundaries",
     "[5, 3]"),
    ("Piecewise-mismatched", lambda: lrs.Piecewise([5], [0.3, 0.2, 0.1]), "values",
     "len(values)=3"),
    ("MultiStepDecay-unsorted", lambda: lrs.MultiStepDecay(0.1, [9, 4], 0.5), "milestones",
     "[9, 4]"),
    ("Join-unsorted", lambda: lrs.Join([C, C, C], [8, 2]), "boundaries", "[8, 2]"),
    ("Join-mismatched", lambda: lrs.Join([C, C], [2, 8]), "boundaries", "[2, 8]"),
    ("Join-negative-boundary", lambda: lrs.Join([C, C], [-4]), "boundaries[0]", "-4"),
    # pct_start outside (0, 1)
    ("OneCycle-pct_start-0", lambda: lrs.OneCycle(0.1, 100, pct_start=0.0), "pct_start", "0.0"),
    ("OneCycle-pct_start-1", lambda: lrs.OneCycle(0.1, 100, pct_start=1.0), "pct_start", "1.0"),
    ("OneCycle-pct_start-1.5", lambda: lrs.OneCycle(0.1, 100, pct_start=1.5), "pct_start",
     "1.5"),
    # empty or NaN tables
    ("Table-empty", lambda: lrs.Table([]), "values", "[]"),
    ("Table-nan", lambda: lrs.Table([0.2, NAN, 0.1]), "values", "nan"),
    ("Table-negative", lambda: lrs.Table(np.array([0.2, -1.0])), "values", "-1.0"),
    # unknown modes
    ("Cyclic-mode", lambda: lrs.Cyclic(0.0, 1.0, 4, mode="sawtooth"), "mode", "'sawtooth'"),
    ("OneCycle-anneal", lambda: lrs.OneCycle(0.1, 100, anneal="exp"), "anneal", "'exp'"),
    ("WSD-decay", lambda: lrs.WarmupStableDecay(0.1, 1, 1, 1, decay="cos"), "decay", "'cos'"),
    # t_mul < 1, or so close to 1 that the restarts pile up before step 2**31
    ("CosineRestarts-t_mul-0.9", lambda: lrs.CosineRestarts(0.1, 10, t_mul=0.9), "t_mul", "0.9"),
    ("CosineRestarts-t_mul-0", lambda: lrs.CosineRestarts(0.1, 10, t_mul=0.0), "t_mul", "0.0"),
    ("CosineRestarts-t_mul-near-1", lambda: lrs.CosineRestarts(0.1, 1, t_mul=1.000001),
     "t_mul", "1.000001"),
]


@pytest.mark.parametrize(
    "make, argument, shown", [c[1:] for c in VALUE_ERRORS], ids=[c[0] for c in VALUE_ERRORS]
)
def test_value_error_names_the_argument_and_value(make, argument, shown):
    with refused(ValueError, argument, shown) as info:
        make()
    assert "Received" in str(info.value)


TYPE_ERRORS = [
    ("Constant-string", lambda: lrs.Constant("0.1"), "value", "'0.1'"),
    ("Cosine-steps-string", lambda: lrs.Cosine(0.1, "100"), "steps", "'100'"),
    ("StepDecay-factor-none", lambda: lrs.StepDecay(0.1, None, 3), "factor", "None"),
    ("Cyclic-mode-int", lambda: lrs.Cyclic(0.0, 1.0, 4, mode=2), "mode", "mode=2"),
    ("Warmup-after-float", lambda: lrs.Warmup(0.1, 10), "after", "0.1"),
    ("Join-schedules-not-a-list", lambda: lrs.Join(C, []), "schedules", "schedules="),
    ("Join-child-string", lambda: lrs.Join([C, "cosine"], [5]), "schedules[1]", "'cosine'"),
    ("Table-strings", lambda: lrs.Table(["fast", "slow"]), "values", "values="),
]


@pytest.mark.parametrize(
    "make, argument, shown", [c[1:] for c in TYPE_ERRORS], ids=[c[0] for c in TYPE_ERRORS]
)
def test_type_error_names_the_argument_and_value(make, argument, shown):
    with refused(TypeError, argument, shown):
        make()


def test_a_bad_config_is_refused_on_the_way_in():
    # A hand-edited config (or .keras file) goes through the same checks as the constructor.
    config = lrs.Cosine(0.1, 100).get_config()
    with refused(ValueError, "steps", "steps=-100"):
        lrs.Cosine.from_config({**config, "steps": -100})
    config = lrs.Warmup(lrs.Cosine(0.1, 100), 5).get_config()
    config["after"]["config"]["initial"] = NAN
    with refused(ValueError, "initial", "nan"):
        lrs.Warmup.from_config(config)


@pytest.mark.parametrize(
    "call, error, argument, shown",
    [
        (lambda: lrs.precompute(lrs.Cosine(0.1, 10), -1), ValueError, "steps", "steps=-1"),
        (lambda: lrs.precompute(lambda e, lr: lr, 3, initial_lr=-1.0), ValueError, "initial_lr",
         "-1.0"),
        (lambda: lrs.precompute(lambda e, lr: lr, 3, initial_lr=NAN), ValueError, "initial_lr",
         "nan"),
        (lambda: lrs.precompute(lambda e, lr: lr, 3), ValueError, "initial_lr", "None"),
        (lambda: lrs.precompute(lambda a, b, c: a, 3), TypeError, "fn", "3 positional"),
        (lambda: lrs.precompute("cosine", 3), TypeError, "fn", "'cosine'"),
        (lambda: lrs.Cosine(0.1, 10).table(-2), ValueError, "n", "n=-2"),
        (lambda: lrs.Cosine(0.1, 10).table(4, start=-1), ValueError, "start", "start=-1"),
        (lambda: lrs.Cosine(0.1, 10).table(4, dtype="int64"), ValueError, "dtype", "int64"),
    ],
    ids=[
        "precompute-steps", "precompute-initial_lr-negative", "precompute-initial_lr-nan",
        "precompute-initial_lr-missing", "precompute-arity", "precompute-not-callable",
        "table-n", "table-start", "table-dtype",
    ],
)
def test_entry_points_around_the_schedules(call, error, argument, shown):
    with refused(error, argument, shown):
        call()


def test_checks_run_at_construction_not_at_the_first_call():
    # Nothing to evaluate yet: the refusal happens in __init__ alone.
    with pytest.raises(ValueError):
        lrs.Join([C, C], [1, 2, 3])
    with pytest.raises(ValueError):
        lrs.Warmup(lrs.Cosine(0.1, 10), steps=-1)
