"""Bad constructor arguments: every one is refused in `__init__` with a clear message.

Each case raises ValueError (a value out of range) or TypeError (a value of the wrong kind), and
the message names the argument and shows the value received, in Keras' wording:
"Argument `steps` must be > 0. Received: steps=0".
"""

import math

import keras
import numpy as np
import pytest

import keras_lrsched as lrs

NAN = float("nan")
INF = float("inf")
C = lrs.Constant(0.1)


def tensor(x):
    return keras.ops.convert_to_tensor(x)


# (id, constructor, expected error, argument named in the message, text that shows the value)
CASES = [
    # zero or negative steps and periods
    ("cosine-steps-zero", lambda: lrs.Cosine(0.1, steps=0), ValueError, "steps", "steps=0"),
    ("cosine-steps-negative", lambda: lrs.Cosine(0.1, steps=-5), ValueError, "steps", "steps=-5"),
    ("cosine-steps-fractional", lambda: lrs.Cosine(0.1, steps=2.5), ValueError, "steps", "2.5"),
    ("cosine-steps-inf", lambda: lrs.Cosine(0.1, steps=INF), ValueError, "steps", "inf"),
    ("cosine-steps-beyond-int64", lambda: lrs.Cosine(0.1, steps=2**70), ValueError, "steps",
     str(2**70)),
    ("restarts-period-zero", lambda: lrs.CosineRestarts(0.1, period=0), ValueError, "period",
     "period=0"),
    ("restarts-t_mul-below-one", lambda: lrs.CosineRestarts(0.1, 10, t_mul=0.5), ValueError,
     "t_mul", "0.5"),
    ("step-decay-step_size-zero", lambda: lrs.StepDecay(0.1, 0.5, step_size=0), ValueError,
     "step_size", "step_size=0"),
    ("time-decay-decay_steps-negative", lambda: lrs.TimeDecay(0.1, 0.5, decay_steps=-1),
     ValueError, "decay_steps", "decay_steps=-1"),
    ("exp-decay_steps-zero", lambda: lrs.ExponentialDecay(0.1, 0.5, decay_steps=0), ValueError,
     "decay_steps", "decay_steps=0"),
    ("poly-steps-zero", lambda: lrs.Polynomial(0.1, 0.0, steps=0), ValueError, "steps",
     "steps=0"),
    ("cyclic-step_size_up-zero", lambda: lrs.Cyclic(0.0, 1.0, step_size_up=0), ValueError,
     "step_size_up", "step_size_up=0"),
    ("cyclic-step_size_down-negative", lambda: lrs.Cyclic(0.0, 1.0, 4, step_size_down=-2),
     ValueError, "step_size_down", "step_size_down=-2"),
    ("onecycle-total_steps-zero", lambda: lrs.OneCycle(0.1, total_steps=0), ValueError,
     "total_steps", "total_steps=0"),
    ("invsqrt-warmup-zero", lambda: lrs.InverseSqrt(0.1, warmup_steps=0), ValueError,
     "warmup_steps", "warmup_steps=0"),
    ("wsd-decay_steps-zero", lambda: lrs.WarmupStableDecay(0.1, 10, 10, decay_steps=0),
     ValueError, "decay_steps", "decay_steps=0"),
    ("wsd-stable-negative", lambda: lrs.WarmupStableDecay(0.1, 10, -1, 10), ValueError,
     "stable_steps", "stable_steps=-1"),
    ("warmup-steps-zero", lambda: lrs.Warmup(C, steps=0), ValueError, "steps", "steps=0"),
    # NaN, infinite or negative learning rates and factors
    ("cosine-initial-nan", lambda: lrs.Cosine(NAN, 10), ValueError, "initial", "nan"),
    ("cosine-initial-negative", lambda: lrs.Cosine(-0.1, 10), ValueError, "initial", "-0.1"),
    ("cosine-end-inf", lambda: lrs.Cosine(0.1, 10, end=INF), ValueError, "end", "inf"),
    ("constant-nan", lambda: lrs.Constant(NAN), ValueError, "value", "nan"),
    ("constant-beyond-float32", lambda: lrs.Constant(1e300), ValueError, "value", "1e+300"),
    ("cosine-initial-huge-int", lambda: lrs.Cosine(10**400, 10), ValueError, "initial",
     "initial="),
    ("exp-decay_rate-zero", lambda: lrs.ExponentialDecay(0.1, 0.0), ValueError, "decay_rate",
     "decay_rate=0"),
    ("exp-end-negative", lambda: lrs.ExponentialDecay(0.1, 0.5, end=-1.0), ValueError, "end",
     "-1.0"),
    ("step-decay-factor-negative", lambda: lrs.StepDecay(0.1, -0.5, 10), ValueError, "factor",
     "-0.5"),
    ("time-decay-rate-nan", lambda: lrs.TimeDecay(0.1, NAN), ValueError, "decay_rate", "nan"),
    ("poly-power-zero", lambda: lrs.Polynomial(0.1, 0.0, 10, power=0.0), ValueError, "power",
     "power=0"),
    ("cyclic-gamma-negative", lambda: lrs.Cyclic(0.0, 1.0, 4, mode="exp_range", gamma=-0.9),
     ValueError, "gamma", "-0.9"),
    ("restarts-m_mul-nan", lambda: lrs.CosineRestarts(0.1, 10, m_mul=NAN), ValueError, "m_mul",
     "nan"),
    ("onecycle-max_lr-negative", lambda: lrs.OneCycle(-1.0, 100), ValueError, "max_lr", "-1.0"),
    ("onecycle-div_factor-zero", lambda: lrs.OneCycle(0.1, 100, div_factor=0), ValueError,
     "div_factor", "div_factor=0"),
    ("warmup-start-negative", lambda: lrs.Warmup(C, 10, start=-0.1), ValueError, "start",
     "-0.1"),
    ("wsd-peak-nan", lambda: lrs.WarmupStableDecay(NAN, 1, 1, 1), ValueError, "peak", "nan"),
    # boundaries and milestones: unsorted, duplicated, negative, mismatched
    ("piecewise-unsorted", lambda: lrs.Piecewise([20, 10], [1.0, 0.5, 0.2]), ValueError,
     "boundaries", "[20, 10]"),
    ("piecewise-duplicate", lambda: lrs.Piecewise([10, 10], [1.0, 0.5, 0.2]), ValueError,
     "boundaries", "[10, 10]"),
    ("piecewise-too-few-values", lambda: lrs.Piecewise([10, 20], [1.0, 0.5]), ValueError,
     "values", "len(values)=2"),
    ("piecewise-negative-boundary", lambda: lrs.Piecewise([-1], [1.0, 0.5]), ValueError,
     "boundaries", "-1"),
    ("piecewise-nan-value", lambda: lrs.Piecewise([10], [1.0, NAN]), ValueError, "values",
     "nan"),
    ("multistep-unsorted", lambda: lrs.MultiStepDecay(0.1, [30, 10], 0.1), ValueError,
     "milestones", "[30, 10]"),
    ("multistep-empty", lambda: lrs.MultiStepDecay(0.1, [], 0.1), ValueError, "milestones",
     "milestones=[]"),
    ("join-unsorted", lambda: lrs.Join([C, C, C], [20, 10]), ValueError, "boundaries",
     "[20, 10]"),
    ("join-mismatched", lambda: lrs.Join([C, C], [10, 20]), ValueError, "boundaries",
     "[10, 20]"),
    ("join-empty", lambda: lrs.Join([], []), (ValueError, TypeError), "schedules",
     "schedules=[]"),
    ("join-boundaries-scalar", lambda: lrs.Join([C, C], 10), TypeError, "boundaries",
     "boundaries=10"),
    # pct_start outside (0, 1)
    ("onecycle-pct_start-zero", lambda: lrs.OneCycle(0.1, 100, pct_start=0.0), ValueError,
     "pct_start", "pct_start=0.0"),
    ("onecycle-pct_start-one", lambda: lrs.OneCycle(0.1, 100, pct_start=1.0), ValueError,
     "pct_start", "pct_start=1.0"),
    ("onecycle-pct_start-negative", lambda: lrs.OneCycle(0.1, 100, pct_start=-0.3), ValueError,
     "pct_start", "-0.3"),
    ("onecycle-pct_start-nan", lambda: lrs.OneCycle(0.1, 100, pct_start=NAN), ValueError,
     "pct_start", "nan"),
    ("onecycle-phase-without-steps", lambda: lrs.OneCycle(0.1, 2, pct_start=0.1), ValueError,
     "pct_start", "pct_start=0.1"),
    # empty, NaN, negative or misshapen tables
    ("table-empty", lambda: lrs.Table([]), ValueError, "values", "[]"),
    ("table-nan", lambda: lrs.Table([0.1, NAN]), ValueError, "values", "nan"),
    ("table-negative", lambda: lrs.Table([0.1, -0.2]), ValueError, "values", "-0.2"),
    ("table-inf", lambda: lrs.Table(np.array([INF])), ValueError, "values", "inf"),
    ("table-beyond-float32", lambda: lrs.Table([0.1, 1e39]), ValueError, "values", "1e+39"),
    ("table-2d", lambda: lrs.Table([[0.1, 0.2]]), ValueError, "values", "[[0.1, 0.2]]"),
    ("table-scalar", lambda: lrs.Table(0.1), (ValueError, TypeError), "values", "values=0.1"),
    ("table-none", lambda: lrs.Table(None), (ValueError, TypeError), "values", "values=None"),
    ("table-strings", lambda: lrs.Table(["a", "b"]), TypeError, "values", "'a'"),
    # unknown modes
    ("cyclic-mode-unknown", lambda: lrs.Cyclic(0.0, 1.0, 4, mode="sine"), ValueError, "mode",
     "'sine'"),
    ("onecycle-anneal-unknown", lambda: lrs.OneCycle(0.1, 100, anneal="cosine"), ValueError,
     "anneal", "'cosine'"),
    ("wsd-decay-unknown", lambda: lrs.WarmupStableDecay(0.1, 1, 1, 1, decay="exp"), ValueError,
     "decay", "'exp'"),
    ("cyclic-mode-none", lambda: lrs.Cyclic(0.0, 1.0, 4, mode=None), TypeError, "mode",
     "mode=None"),
    # wrong types: strings, None, bools, tensors, arrays, functions
    ("cosine-initial-string", lambda: lrs.Cosine("0.1", 10), TypeError, "initial", "'0.1'"),
    ("cosine-steps-string", lambda: lrs.Cosine(0.1, "10"), TypeError, "steps", "'10'"),
    ("cosine-initial-none", lambda: lrs.Cosine(None, 10), TypeError, "initial", "None"),
    ("cosine-steps-bool", lambda: lrs.Cosine(0.1, True), TypeError, "steps", "True"),
    ("constant-bool", lambda: lrs.Constant(False), TypeError, "value", "False"),
    ("constant-tensor", lambda: lrs.Constant(tensor(0.1)), TypeError, "value", "value="),
    ("cosine-steps-tensor", lambda: lrs.Cosine(0.1, tensor(10)), TypeError, "steps", "steps="),
    ("cosine-initial-list", lambda: lrs.Cosine([0.1], 10), TypeError, "initial", "[0.1]"),
    ("exp-staircase-string", lambda: lrs.ExponentialDecay(0.1, 0.5, staircase="no"), TypeError,
     "staircase", "'no'"),
    ("time-staircase-none", lambda: lrs.TimeDecay(0.1, 0.5, staircase=None), TypeError,
     "staircase", "None"),
    ("onecycle-three_phase-string", lambda: lrs.OneCycle(0.1, 100, three_phase="False"),
     TypeError, "three_phase", "'False'"),
    ("warmup-after-none", lambda: lrs.Warmup(None, 10), TypeError, "after", "None"),
    ("warmup-after-function", lambda: lrs.Warmup(lambda s: 0.1, 10), TypeError, "after",
     "function"),
    ("join-child-float", lambda: lrs.Join([C, 0.1], [10]), TypeError, "schedules[1]", "0.1"),
    ("multistep-milestones-string", lambda: lrs.MultiStepDecay(0.1, "10", 0.1), TypeError,
     "milestones", "'10'"),
    ("piecewise-boundary-string", lambda: lrs.Piecewise(["10"], [1.0, 0.5]), TypeError,
     "boundaries", "'10'"),
]


def test_the_matrix_is_large_and_covers_every_family():
    assert len(CASES) >= 30
    assert len({case[0] for case in CASES}) == len(CASES)
    hit = {name.split("-")[0] for name, *_ in CASES}
    assert hit >= {
        "cosine", "restarts", "step", "time", "exp", "poly", "cyclic", "onecycle", "invsqrt",
        "wsd", "warmup", "constant", "piecewise", "multistep", "join", "table",
    }


@pytest.mark.parametrize(
    "make, error, argument, shown", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_argument_is_refused_with_a_message_naming_it(make, error, argument, shown):
    with pytest.raises(error) as info:
        make()
    message = str(info.value)
    assert f"`{argument}" in message or f"{argument}=" in message, message
    assert shown in message, message
    # Keras' wording: "Argument `x` must be ... Received: x=..."
    assert "Received:" in message, message


@pytest.mark.parametrize(
    "call, argument, shown",
    [
        (lambda s: s.table(-1), "n", "n=-1"),
        (lambda s: s.table(2.5), "n", "2.5"),
        (lambda s: s.table("3"), "n", "'3'"),
        (lambda s: s.table(3, start=-1), "start", "start=-1"),
        (lambda s: s.table(3, dtype="int32"), "dtype", "int32"),
        (lambda s: s.table(3, dtype="no-such-dtype"), "dtype", "no-such-dtype"),
    ],
    ids=["n-negative", "n-fractional", "n-string", "start-negative", "dtype-int", "dtype-bogus"],
)
def test_bad_table_request_is_refused(call, argument, shown):
    with pytest.raises((ValueError, TypeError)) as info:
        call(lrs.Cosine(0.1, 10))
    message = str(info.value)
    assert f"`{argument}`" in message and shown in message, message


@pytest.mark.parametrize(
    "make",
    [
        lambda: lrs.Cosine(np.float32(0.1), np.int64(10), end=np.float64(0.0)),
        lambda: lrs.ExponentialDecay(0.1, 0.5, 10, staircase=np.bool_(True)),
        lambda: lrs.Cosine(0.1, 10.0),
        lambda: lrs.Piecewise(np.array([10, 20]), np.array([1.0, 0.5, 0.25])),
        lambda: lrs.Table(np.array([0.3, 0.2], np.float32)),
        lambda: lrs.Polynomial(0.0, 1.0, 10),
        lambda: lrs.Cyclic(1.0, 0.5, 4),
    ],
    ids=["numpy-scalars", "numpy-bool", "whole-float-steps", "numpy-arrays", "float32-table",
         "rising-polynomial", "low-above-high"],
)
def test_near_misses_are_accepted(make):
    """The checks refuse the wrong kind of value, not every unusual spelling of a right one."""
    schedule = make()
    values = schedule.table(8)
    assert np.all(np.isfinite(values)) and np.all(values >= 0)


def test_a_failed_constructor_leaves_nothing_half_built():
    """A refused argument raises before any kernel or table is touched, so retrying works."""
    with pytest.raises(ValueError):
        lrs.OneCycle(0.1, 100, pct_start=1.5)
    good = lrs.OneCycle(0.1, 100, pct_start=0.25)
    assert math.isclose(float(good(24)), 0.1, rel_tol=1e-3)
