"""Bad arguments are refused in ``__init__`` (and in ``table``, ``precompute``, ``from_config``).

A value out of range is a ValueError, a value of the wrong kind a TypeError, and the message is in
Keras' wording, naming the argument and showing the value received:
"Argument `steps` must be > 0. Received: steps=0". A zero-length phase is no phase and is allowed
(docs/api.md); a whole length must be > 0.
"""

import math
import re

import keras
import numpy as np
import pytest

import keras_lrsched as lrs

NAN = math.nan
INF = math.inf
C = lrs.Constant(0.1)


def tensor(x):
    return keras.ops.convert_to_tensor(x)


def assert_names(message, argument, shown):
    """`message` names `argument` (in backticks), then shows `shown`, in Keras' wording."""
    pattern = rf"`{re.escape(argument)}.*{re.escape(shown)}"
    assert re.search(pattern, message, re.S), message
    assert "Received:" in message, message


# (id, constructor, expected error, argument named in the message, text that shows the value).
# An id starts with the family, so that the coverage test below can read it.
CASES = [
    # -- whole lengths (steps, periods, step sizes, decay units) must be > 0 and whole
    ("cosine-steps-zero", lambda: lrs.Cosine(0.1, steps=0), ValueError, "steps", "steps=0"),
    ("cosine-steps-negative", lambda: lrs.Cosine(0.1, steps=-5), ValueError, "steps", "steps=-5"),
    ("cosine-steps-fractional", lambda: lrs.Cosine(0.1, steps=7.5), ValueError, "steps", "7.5"),
    ("cosine-steps-inf", lambda: lrs.Cosine(0.1, steps=INF), ValueError, "steps", "inf"),
    ("cosine-steps-beyond-int64", lambda: lrs.Cosine(0.1, steps=2**70), ValueError, "steps",
     str(2**70)),
    ("poly-steps-zero", lambda: lrs.Polynomial(0.1, end=0.0, steps=0), ValueError, "steps",
     "steps=0"),
    ("poly-steps-negative", lambda: lrs.Polynomial(0.1, end=0.0, steps=-3), ValueError, "steps",
     "-3"),
    ("linear-steps-zero", lambda: lrs.Linear(0.0, end=0.1, steps=0), ValueError, "steps",
     "steps=0"),
    ("onecycle-steps-zero", lambda: lrs.OneCycle(0.1, steps=0), ValueError, "steps", "steps=0"),
    ("restarts-period-zero", lambda: lrs.CosineRestarts(0.1, period=0), ValueError, "period",
     "period=0"),
    ("step-decay-step_size-zero", lambda: lrs.StepDecay(0.1, factor=0.5, step_size=0),
     ValueError, "step_size", "step_size=0"),
    ("time-decay-decay_steps-zero", lambda: lrs.TimeDecay(0.1, decay_rate=1.0, decay_steps=0),
     ValueError, "decay_steps", "decay_steps=0"),
    ("time-decay-decay_steps-negative",
     lambda: lrs.TimeDecay(0.1, decay_rate=0.5, decay_steps=-1), ValueError, "decay_steps",
     "decay_steps=-1"),
    ("exp-decay_steps-zero", lambda: lrs.ExponentialDecay(0.1, decay_rate=0.5, decay_steps=0),
     ValueError, "decay_steps", "decay_steps=0"),
    ("cyclic-step_size_up-zero", lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=0), ValueError,
     "step_size_up", "step_size_up=0"),
    ("cyclic-step_size_down-zero",
     lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=2, step_size_down=0), ValueError,
     "step_size_down", "step_size_down=0"),
    ("cyclic-step_size_down-negative",
     lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=4, step_size_down=-2), ValueError,
     "step_size_down", "step_size_down=-2"),
    # -- phase lengths may be 0 (no phase), never negative
    ("invsqrt-warmup_steps-negative", lambda: lrs.InverseSqrt(0.1, warmup_steps=-1), ValueError,
     "warmup_steps", "warmup_steps=-1"),
    ("wsd-warmup_steps-negative",
     lambda: lrs.WarmupStableDecay(0.1, warmup_steps=-1, stable_steps=5, decay_steps=5),
     ValueError, "warmup_steps", "-1"),
    ("wsd-stable_steps-negative",
     lambda: lrs.WarmupStableDecay(0.1, warmup_steps=10, stable_steps=-1, decay_steps=10),
     ValueError, "stable_steps", "stable_steps=-1"),
    ("wsd-decay_steps-negative",
     lambda: lrs.WarmupStableDecay(0.1, warmup_steps=5, stable_steps=5, decay_steps=-1),
     ValueError, "decay_steps", "decay_steps=-1"),
    ("warmup-warmup_steps-negative", lambda: lrs.Warmup(C, warmup_steps=-1), ValueError,
     "warmup_steps", "warmup_steps=-1"),
    # -- learning rates: finite, >= 0, within float32
    ("constant-initial-negative", lambda: lrs.Constant(-0.1), ValueError, "initial", "-0.1"),
    ("constant-initial-nan", lambda: lrs.Constant(NAN), ValueError, "initial", "nan"),
    ("constant-initial-beyond-float32", lambda: lrs.Constant(1e300), ValueError, "initial",
     "1e+300"),
    ("cosine-initial-nan", lambda: lrs.Cosine(NAN, steps=10), ValueError, "initial", "nan"),
    ("cosine-initial-negative", lambda: lrs.Cosine(-0.1, steps=10), ValueError, "initial",
     "-0.1"),
    ("cosine-initial-huge-int", lambda: lrs.Cosine(10**400, steps=10), ValueError, "initial",
     "initial="),
    ("cosine-end-negative", lambda: lrs.Cosine(0.1, steps=10, end=-0.01), ValueError, "end",
     "-0.01"),
    ("cosine-end-inf", lambda: lrs.Cosine(0.1, steps=10, end=INF), ValueError, "end", "inf"),
    ("exp-end-negative", lambda: lrs.ExponentialDecay(0.1, decay_rate=0.5, end=-1.0), ValueError,
     "end", "-1.0"),
    ("cyclic-peak-nan", lambda: lrs.Cyclic(0.0, peak=NAN, step_size_up=4), ValueError, "peak",
     "nan"),
    ("onecycle-peak-negative", lambda: lrs.OneCycle(-0.1, steps=10), ValueError, "peak", "-0.1"),
    ("invsqrt-peak-inf", lambda: lrs.InverseSqrt(INF, warmup_steps=10), ValueError, "peak",
     "inf"),
    ("wsd-peak-nan",
     lambda: lrs.WarmupStableDecay(NAN, warmup_steps=1, stable_steps=1, decay_steps=1),
     ValueError, "peak", "nan"),
    ("warmup-initial-nan", lambda: lrs.Warmup(C, warmup_steps=5, initial=NAN), ValueError,
     "initial", "nan"),
    ("warmup-initial-negative", lambda: lrs.Warmup(C, warmup_steps=10, initial=-0.1), ValueError,
     "initial", "-0.1"),
    # -- the order of two learning rates: Cyclic's peak is its top
    ("cyclic-peak-below-initial", lambda: lrs.Cyclic(1.0, peak=0.5, step_size_up=4), ValueError,
     "peak", "0.5"),
    # -- a momentum schedule's base and max (torch's base_momentum, max_momentum): finite, >= 0
    # and base <= max; Cyclic's own order (peak >= initial) is not theirs
    ("cyclicmomentum-base-above-max",
     lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=4).cycle_momentum(base=0.95, max=0.85),
     ValueError, "base", "base=0.95, max=0.85"),
    ("onecyclemomentum-base-above-max", lambda: lrs.OneCycleMomentum(0.9, max=0.8, steps=100),
     ValueError, "base", "base=0.9, max=0.8"),
    ("cyclicmomentum-base-negative",
     lambda: lrs.CyclicMomentum(-0.1, max=0.9, step_size_up=4), ValueError, "base", "base=-0.1"),
    ("onecyclemomentum-max-negative",
     lambda: lrs.OneCycle(0.1, steps=100).cycle_momentum(base=0.0, max=-0.5), ValueError, "max",
     "max=-0.5"),
    ("cyclicmomentum-max-nan", lambda: lrs.CyclicMomentum(0.8, max=NAN, step_size_up=4),
     ValueError, "max", "max=nan"),
    ("onecyclemomentum-base-nan", lambda: lrs.OneCycleMomentum(NAN, steps=100), ValueError,
     "base", "base=nan"),
    ("onecyclemomentum-max-inf", lambda: lrs.OneCycleMomentum(0.85, max=INF, steps=100),
     ValueError, "max", "max=inf"),
    ("onecyclemomentum-base-string", lambda: lrs.OneCycleMomentum("0.85", steps=100), TypeError,
     "base", "'0.85'"),
    ("onecyclemomentum-steps-missing", lambda: lrs.OneCycleMomentum(0.85), ValueError, "steps",
     "steps=None"),
    ("onecyclemomentum-phase-without-steps",
     lambda: lrs.OneCycleMomentum(0.85, steps=2, pct_start=0.1), ValueError, "pct_start",
     "pct_start=0.1"),
    ("cyclicmomentum-step_size_up-zero", lambda: lrs.CyclicMomentum(0.8, step_size_up=0),
     ValueError, "step_size_up", "step_size_up=0"),
    # -- factors, rates, powers and multipliers
    ("exp-decay_rate-zero", lambda: lrs.ExponentialDecay(0.1, decay_rate=0.0), ValueError,
     "decay_rate", "decay_rate=0"),
    ("time-decay-decay_rate-nan", lambda: lrs.TimeDecay(0.1, decay_rate=NAN), ValueError,
     "decay_rate", "nan"),
    ("step-decay-factor-negative", lambda: lrs.StepDecay(0.1, factor=-0.5, step_size=10),
     ValueError, "factor", "-0.5"),
    ("poly-power-zero", lambda: lrs.Polynomial(0.1, end=0.0, steps=10, power=0.0), ValueError,
     "power", "power=0"),
    ("cyclic-gamma-negative",
     lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=4, mode="exp_range", gamma=-0.9),
     ValueError, "gamma", "-0.9"),
    ("restarts-m_mul-nan", lambda: lrs.CosineRestarts(0.1, period=10, m_mul=NAN), ValueError,
     "m_mul", "nan"),
    ("onecycle-div_factor-zero", lambda: lrs.OneCycle(0.1, steps=100, div_factor=0), ValueError,
     "div_factor", "div_factor=0"),
    # -- t_mul < 1, or so close to 1 that the restarts pile up before step 2**31
    ("restarts-t_mul-below-one", lambda: lrs.CosineRestarts(0.1, period=10, t_mul=0.9),
     ValueError, "t_mul", "0.9"),
    ("restarts-t_mul-zero", lambda: lrs.CosineRestarts(0.1, period=10, t_mul=0.0), ValueError,
     "t_mul", "0.0"),
    ("restarts-t_mul-near-one", lambda: lrs.CosineRestarts(0.1, period=1, t_mul=1.000001),
     ValueError, "t_mul", "1.000001"),
    # -- boundaries and milestones: sorted, >= 0, one fewer than the values or children
    ("piecewise-boundaries-unsorted",
     lambda: lrs.Piecewise([1.0, 0.5, 0.2], boundaries=[20, 10]), ValueError, "boundaries",
     "[20, 10]"),
    ("piecewise-boundaries-duplicate",
     lambda: lrs.Piecewise([1.0, 0.5, 0.2], boundaries=[10, 10]), ValueError, "boundaries",
     "[10, 10]"),
    ("piecewise-boundaries-negative", lambda: lrs.Piecewise([1.0, 0.5], boundaries=[-1]),
     ValueError, "boundaries", "-1"),
    ("piecewise-values-too-many", lambda: lrs.Piecewise([0.3, 0.2, 0.1], boundaries=[5]),
     ValueError, "values", "len(values)=3"),
    ("piecewise-values-too-few", lambda: lrs.Piecewise([1.0, 0.5], boundaries=[10, 20]),
     ValueError, "values", "len(values)=2"),
    ("piecewise-values-negative", lambda: lrs.Piecewise([0.1, -0.1], boundaries=[3]),
     ValueError, "values[1]", "-0.1"),
    ("piecewise-values-nan", lambda: lrs.Piecewise([1.0, NAN], boundaries=[10]), ValueError,
     "values", "nan"),
    ("multistep-milestones-unsorted",
     lambda: lrs.MultiStepDecay(0.1, milestones=[30, 10], factor=0.1), ValueError, "milestones",
     "[30, 10]"),
    ("multistep-milestones-empty", lambda: lrs.MultiStepDecay(0.1, milestones=[], factor=0.1),
     ValueError, "milestones", "milestones=[]"),
    ("join-boundaries-unsorted", lambda: lrs.Join([C, C, C], boundaries=[20, 10]), ValueError,
     "boundaries", "[20, 10]"),
    ("join-boundaries-mismatched", lambda: lrs.Join([C, C], boundaries=[10, 20]), ValueError,
     "boundaries", "[10, 20]"),
    ("join-boundaries-negative", lambda: lrs.Join([C, C], boundaries=[-4]), ValueError,
     "boundaries[0]", "-4"),
    ("join-schedules-empty", lambda: lrs.Join([], boundaries=[]), (ValueError, TypeError),
     "schedules", "schedules=[]"),
    # -- OneCycle's pct_start in (0, 1), leaving every phase some steps
    ("onecycle-pct_start-zero", lambda: lrs.OneCycle(0.1, steps=100, pct_start=0.0), ValueError,
     "pct_start", "pct_start=0.0"),
    ("onecycle-pct_start-one", lambda: lrs.OneCycle(0.1, steps=100, pct_start=1.0), ValueError,
     "pct_start", "pct_start=1.0"),
    ("onecycle-pct_start-above-one", lambda: lrs.OneCycle(0.1, steps=100, pct_start=1.5),
     ValueError, "pct_start", "1.5"),
    ("onecycle-pct_start-negative", lambda: lrs.OneCycle(0.1, steps=100, pct_start=-0.3),
     ValueError, "pct_start", "-0.3"),
    ("onecycle-pct_start-nan", lambda: lrs.OneCycle(0.1, steps=100, pct_start=NAN), ValueError,
     "pct_start", "nan"),
    ("onecycle-phase-without-steps", lambda: lrs.OneCycle(0.1, steps=2, pct_start=0.1),
     ValueError, "pct_start", "pct_start=0.1"),
    # -- tables: a non-empty 1-D array of finite values >= 0, within float32
    ("table-empty", lambda: lrs.Table([]), ValueError, "values", "[]"),
    ("table-nan", lambda: lrs.Table([0.2, NAN, 0.1]), ValueError, "values", "nan"),
    ("table-negative", lambda: lrs.Table([0.1, -0.2]), ValueError, "values", "-0.2"),
    ("table-negative-array", lambda: lrs.Table(np.array([0.2, -1.0])), ValueError, "values",
     "-1.0"),
    ("table-inf", lambda: lrs.Table(np.array([INF])), ValueError, "values", "inf"),
    ("table-beyond-float32", lambda: lrs.Table([0.1, 1e39]), ValueError, "values", "1e+39"),
    ("table-2d", lambda: lrs.Table([[0.1, 0.2]]), ValueError, "values", "[[0.1, 0.2]]"),
    ("table-scalar", lambda: lrs.Table(0.1), (ValueError, TypeError), "values", "values=0.1"),
    ("table-none", lambda: lrs.Table(None), (ValueError, TypeError), "values", "values=None"),
    ("table-strings", lambda: lrs.Table(["a", "b"]), TypeError, "values", "'a'"),
    # -- modes: one of the names listed
    ("cyclic-mode-unknown", lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=4, mode="sine"),
     ValueError, "mode", "'sine'"),
    ("cyclic-mode-none", lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=4, mode=None),
     TypeError, "mode", "mode=None"),
    ("cyclic-mode-int", lambda: lrs.Cyclic(0.0, peak=1.0, step_size_up=4, mode=2), TypeError,
     "mode", "mode=2"),
    ("onecycle-anneal-unknown", lambda: lrs.OneCycle(0.1, steps=100, anneal="cosine"),
     ValueError, "anneal", "'cosine'"),
    ("wsd-decay-unknown",
     lambda: lrs.WarmupStableDecay(0.1, warmup_steps=1, stable_steps=1, decay_steps=1,
                                   decay="exp"),
     ValueError, "decay", "'exp'"),
    # -- the wrong kind of value: strings, None, bools, tensors, lists, functions
    ("constant-initial-string", lambda: lrs.Constant("0.1"), TypeError, "initial", "'0.1'"),
    ("constant-initial-bool", lambda: lrs.Constant(False), TypeError, "initial", "False"),
    ("constant-initial-tensor", lambda: lrs.Constant(tensor(0.1)), TypeError, "initial",
     "initial="),
    ("cosine-initial-string", lambda: lrs.Cosine("0.1", steps=10), TypeError, "initial",
     "'0.1'"),
    ("cosine-initial-none", lambda: lrs.Cosine(None, steps=10), TypeError, "initial", "None"),
    ("cosine-initial-list", lambda: lrs.Cosine([0.1], steps=10), TypeError, "initial", "[0.1]"),
    ("cosine-steps-string", lambda: lrs.Cosine(0.1, steps="10"), TypeError, "steps", "'10'"),
    ("cosine-steps-bool", lambda: lrs.Cosine(0.1, steps=True), TypeError, "steps", "True"),
    ("cosine-steps-tensor", lambda: lrs.Cosine(0.1, steps=tensor(10)), TypeError, "steps",
     "steps="),
    ("step-decay-factor-none", lambda: lrs.StepDecay(0.1, factor=None, step_size=3), TypeError,
     "factor", "None"),
    ("exp-staircase-string",
     lambda: lrs.ExponentialDecay(0.1, decay_rate=0.5, staircase="no"), TypeError, "staircase",
     "'no'"),
    ("time-decay-staircase-none", lambda: lrs.TimeDecay(0.1, decay_rate=0.5, staircase=None),
     TypeError, "staircase", "None"),
    ("onecycle-three_phase-string", lambda: lrs.OneCycle(0.1, steps=100, three_phase="False"),
     TypeError, "three_phase", "'False'"),
    ("multistep-milestones-string",
     lambda: lrs.MultiStepDecay(0.1, milestones="10", factor=0.1), TypeError, "milestones",
     "'10'"),
    ("piecewise-boundaries-string", lambda: lrs.Piecewise([1.0, 0.5], boundaries=["10"]),
     TypeError, "boundaries", "'10'"),
    ("warmup-after-float", lambda: lrs.Warmup(0.1, warmup_steps=10), TypeError, "after", "0.1"),
    ("warmup-after-none", lambda: lrs.Warmup(None, warmup_steps=10), TypeError, "after",
     "None"),
    ("warmup-after-function", lambda: lrs.Warmup(lambda s: 0.1, warmup_steps=10), TypeError,
     "after", "function"),
    ("join-schedules-not-a-list", lambda: lrs.Join(C, boundaries=[]), TypeError, "schedules",
     "schedules="),
    ("join-schedules-child-string", lambda: lrs.Join([C, "cosine"], boundaries=[5]), TypeError,
     "schedules[1]", "'cosine'"),
    ("join-schedules-child-float", lambda: lrs.Join([C, 0.1], boundaries=[10]), TypeError,
     "schedules[1]", "0.1"),
    ("join-boundaries-scalar", lambda: lrs.Join([C, C], boundaries=10), TypeError, "boundaries",
     "boundaries=10"),
    # -- timm's and fastai's (issue 19)
    ("tanh-steps-zero", lambda: lrs.Tanh(0.1, steps=0), ValueError, "steps", "steps=0"),
    ("tanh-lb-above-ub", lambda: lrs.Tanh(0.1, steps=10, lb=3.0, ub=-7.0), ValueError, "lb",
     "lb=3.0, ub=-7.0"),
    ("tanh-ub-inf", lambda: lrs.Tanh(0.1, steps=10, ub=INF), ValueError, "ub", "inf"),
    ("cosine-k_decay-zero", lambda: lrs.Cosine(0.1, steps=10, k_decay=0.0), ValueError, "k_decay",
     "k_decay=0.0"),
    ("poly-k_decay-negative", lambda: lrs.Polynomial(0.1, steps=10, k_decay=-1.0), ValueError,
     "k_decay", "-1.0"),
    ("warmup-prefix-not-bool", lambda: lrs.Warmup(C, warmup_steps=3, prefix="no"), TypeError,
     "prefix", "'no'"),
    ("cycles-cycle_limit-zero",
     lambda: lrs.Cycles(lrs.Cosine(0.1, steps=10), cycle_limit=0), ValueError, "cycle_limit",
     "cycle_limit=0"),
    ("cycles-cycle_decay-negative",
     lambda: lrs.Cycles(lrs.Cosine(0.1, steps=10), cycle_decay=-0.5), ValueError, "cycle_decay",
     "-0.5"),
    # a top that grows for ever reaches inf (found by tests/test_fuzz.py)
    ("cycles-cycle_decay-growing-unlimited",
     lambda: lrs.Cycles(lrs.Cosine(0.1, steps=10), cycle_decay=1.5), ValueError, "cycle_decay",
     "cycle_decay=1.5, cycle_limit=None"),
    ("cycles-after-no-length", lambda: lrs.Cycles(C, cycle_limit=2), TypeError, "after",
     "Constant"),
    ("noise-range-empty", lambda: lrs.Noise(C, noise_range=(4, 4)), ValueError, "noise_range",
     "(4, 4)"),
    ("noise-pct-zero", lambda: lrs.Noise(C, noise_range=(0, 4), pct=0.0), ValueError, "pct",
     "pct=0.0"),
    ("onecycle-convention-unknown",
     lambda: lrs.OneCycle(0.1, steps=10, convention="keras"), ValueError, "convention", "keras"),
]


def test_the_cases_cover_every_family():
    assert len({case[0] for case in CASES}) == len(CASES)
    hit = {name.split("-")[0] for name, *_ in CASES}
    assert hit >= {
        "cosine", "restarts", "step", "time", "exp", "poly", "linear", "cyclic", "onecycle",
        "invsqrt", "wsd", "warmup", "constant", "piecewise", "multistep", "join", "table",
        "cyclicmomentum", "onecyclemomentum", "tanh", "cycles", "noise",
    }


@pytest.mark.parametrize(
    "make, error, argument, shown", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_argument_is_refused_with_a_message_naming_it(make, error, argument, shown):
    with pytest.raises(error) as info:
        make()
    assert_names(str(info.value), argument, shown)


# ---------------------------------------------------------------------------------------------
# The entry points around the schedules: from_config, table() and precompute().


def test_a_bad_config_is_refused_on_the_way_in():
    # A hand-edited config (or .keras file) goes through the same checks as the constructor.
    config = lrs.Cosine(0.1, steps=100).get_config()
    with pytest.raises(ValueError) as info:
        lrs.Cosine.from_config({**config, "steps": -100})
    assert_names(str(info.value), "steps", "steps=-100")
    config = lrs.Warmup(lrs.Cosine(0.1, steps=100), warmup_steps=5).get_config()
    config["after"]["config"]["initial"] = NAN
    with pytest.raises(ValueError) as info:
        lrs.Warmup.from_config(config)
    assert_names(str(info.value), "initial", "nan")


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
        call(lrs.Cosine(0.1, steps=10))
    message = str(info.value)
    assert f"`{argument}`" in message and shown in message, message


@pytest.mark.parametrize(
    "call, error, argument, shown",
    [
        (lambda: lrs.precompute(lrs.Cosine(0.1, steps=10), -1), ValueError, "steps", "steps=-1"),
        (lambda: lrs.precompute(lambda e, lr: lr, 3, initial_lr=-1.0), ValueError, "initial_lr",
         "-1.0"),
        (lambda: lrs.precompute(lambda e, lr: lr, 3, initial_lr=NAN), ValueError, "initial_lr",
         "nan"),
        (lambda: lrs.precompute(lambda e, lr: lr, 3), ValueError, "initial_lr", "None"),
        (lambda: lrs.precompute(lambda a, b, c: a, 3), TypeError, "fn", "3 positional"),
        (lambda: lrs.precompute("cosine", 3), TypeError, "fn", "'cosine'"),
    ],
    ids=[
        "steps", "initial_lr-negative", "initial_lr-nan", "initial_lr-missing", "arity",
        "not-callable",
    ],
)
def test_bad_precompute_is_refused(call, error, argument, shown):
    with pytest.raises(error, match=re.compile(rf"`{re.escape(argument)}`.*{re.escape(shown)}",
                                               re.S)):
        call()


# ---------------------------------------------------------------------------------------------
# What is accepted, and when the checks run.


@pytest.mark.parametrize(
    "make",
    [
        lambda: lrs.Cosine(np.float32(0.1), steps=np.int64(10), end=np.float64(0.0)),
        lambda: lrs.ExponentialDecay(0.1, decay_rate=0.5, decay_steps=10,
                                     staircase=np.bool_(True)),
        lambda: lrs.Cosine(0.1, steps=10.0),
        lambda: lrs.Piecewise(np.array([1.0, 0.5, 0.25]), boundaries=np.array([10, 20])),
        lambda: lrs.Table(np.array([0.3, 0.2], np.float32)),
        lambda: lrs.Polynomial(0.0, end=1.0, steps=10),
        lambda: lrs.Cyclic(0.5, peak=0.5, step_size_up=4),
        lambda: lrs.CyclicMomentum(0.9, max=0.9, step_size_up=4),
        lambda: lrs.OneCycleMomentum(0.0, max=0.0, steps=10),
    ],
    ids=["numpy-scalars", "numpy-bool", "whole-float-steps", "numpy-arrays", "float32-table",
         "rising-polynomial", "flat-cyclic", "flat-momentum", "zero-momentum"],
)
def test_near_misses_are_accepted(make):
    """The checks refuse the wrong kind of value, not every unusual spelling of a right one."""
    schedule = make()
    values = schedule.table(8)
    assert np.all(np.isfinite(values)) and np.all(values >= 0)


def test_checks_run_at_construction_not_at_the_first_call():
    # Nothing to evaluate yet: the refusal happens in __init__ alone.
    with pytest.raises(ValueError):
        lrs.Join([C, C], boundaries=[1, 2, 3])
    with pytest.raises(ValueError):
        lrs.Warmup(lrs.Cosine(0.1, steps=10), warmup_steps=-1)


def test_a_failed_constructor_leaves_nothing_half_built():
    """A refused argument raises before any kernel or table is touched, so retrying works."""
    with pytest.raises(ValueError):
        lrs.OneCycle(0.1, steps=100, pct_start=1.5)
    good = lrs.OneCycle(0.1, steps=100, pct_start=0.25)
    assert math.isclose(float(good(24)), 0.1, rel_tol=1e-3)


# ---------------------------------------------------------------------------------------------
# Another library's name for an argument: a TypeError that says what to write instead.

# A valid call of every class that knows other libraries' names, but for what is added to it.
VALID = {
    "Constant": lambda **kw: lrs.Constant(0.1, **kw),
    "TimeDecay": lambda **kw: lrs.TimeDecay(0.1, decay_rate=0.5, **kw),
    "StepDecay": lambda **kw: lrs.StepDecay(0.1, factor=0.5, step_size=3, **kw),
    "MultiStepDecay": lambda **kw: lrs.MultiStepDecay(0.1, milestones=[3], factor=0.5, **kw),
    "ExponentialDecay": lambda **kw: lrs.ExponentialDecay(0.1, decay_rate=0.5, **kw),
    "Polynomial": lambda **kw: lrs.Polynomial(0.1, steps=10, **kw),
    "Linear": lambda **kw: lrs.Linear(0.1, steps=10, **kw),
    "Cosine": lambda **kw: lrs.Cosine(0.1, steps=10, **kw),
    "CosineRestarts": lambda **kw: lrs.CosineRestarts(0.1, period=10, **kw),
    "Cyclic": lambda **kw: lrs.Cyclic(0.1, peak=0.5, step_size_up=4, **kw),
    "CyclicMomentum": lambda **kw: lrs.CyclicMomentum(0.8, step_size_up=4, **kw),
    "OneCycle": lambda **kw: lrs.OneCycle(0.1, steps=10, **kw),
    "OneCycleMomentum": lambda **kw: lrs.OneCycleMomentum(0.85, steps=10, **kw),
    "InverseSqrt": lambda **kw: lrs.InverseSqrt(0.1, warmup_steps=5, **kw),
    "WarmupStableDecay": lambda **kw: lrs.WarmupStableDecay(
        0.1, warmup_steps=1, stable_steps=1, decay_steps=1, **kw
    ),
    "Warmup": lambda **kw: lrs.Warmup(C, warmup_steps=3, **kw),
    "Join": lambda **kw: lrs.Join([C, C], boundaries=[3], **kw),
    "Tanh": lambda **kw: lrs.Tanh(0.1, steps=10, **kw),
    "Cycles": lambda **kw: lrs.Cycles(lrs.Cosine(0.1, steps=10), cycle_limit=2, **kw),
    "Noise": lambda **kw: lrs.Noise(C, noise_range=(0, 5), **kw),
}


def _hinted_names():
    found = []
    for name in lrs.__all__:
        cls = getattr(lrs, name)
        if isinstance(cls, type) and issubclass(cls, lrs.Schedule) and cls._argument_hints():
            found += [(name, k, *v) for k, v in cls._argument_hints().items()]
    return found


@pytest.mark.parametrize("cls, name, write, where", _hinted_names(),
                         ids=[f"{c}-{n}" for c, n, *_ in _hinted_names()])
def test_every_foreign_name_says_what_to_write(cls, name, write, where):
    assert cls in VALID, f"{cls} knows other libraries' names: add a valid call of it to VALID"
    VALID[cls]()  # the call is valid without the foreign name
    with pytest.raises(TypeError) as caught:
        VALID[cls](**{name: 1})
    message = str(caught.value)
    code = f"{write}=" if write.isidentifier() else write
    assert message.startswith(f"{cls}() has no argument `{name}` ({where}): write `{code}`"), message
    assert "keras_lrsched 0.1" not in message or where == "keras_lrsched 0.1", message


@pytest.mark.parametrize("build, message", [
    (lambda: lrs.Cosine(0.1, T_max=100, eta_min=0),
     "Cosine() has no argument `T_max` (torch's CosineAnnealingLR): write `steps=`; "
     "`eta_min` (torch's CosineAnnealingLR): write `end=`"),
    (lambda: lrs.Warmup(C, num_warmup_steps=10),
     "Warmup() has no argument `num_warmup_steps` (Hugging Face): write `warmup_steps=`"),
    (lambda: lrs.OneCycle(0.1, steps=10).cycle_momentum(base_momentum=0.8),
     "cycle_momentum() has no argument `base_momentum` (torch's OneCycleLR and CyclicLR): "
     "write `base=`"),
    (lambda: lrs.Cyclic(0.1, peak=0.5, step_size_up=4).cycle_momentum(max_momentum=0.9),
     "cycle_momentum() has no argument `max_momentum` (torch's OneCycleLR and CyclicLR): "
     "write `max=`"),
    (lambda: lrs.Cosine(0.1, decay_steps=100, alpha=0.1),
     "Cosine() has no argument `decay_steps` (keras' CosineDecay, optax's cosine_decay_schedule):"
     " write `steps=`; `alpha` (keras' CosineDecay, optax's cosine_decay_schedule): "
     "write `end=alpha * initial`"),
    # torch's names, said to be torch's (they were also keras_lrsched 0.1's)
    (lambda: lrs.OneCycle(max_lr=0.1, total_steps=100),
     "OneCycle() has no argument `max_lr` (torch's OneCycleLR): write `peak=`; "
     "`total_steps` (torch's OneCycleLR): write `steps=`"),
    (lambda: lrs.MultiStepDecay(0.1, milestones=[3], factor=0.5, decay_t=[10]),
     "write `milestones=[t - 1 for t in decay_t]`"),
])
def test_the_issues_foreign_names(build, message):
    with pytest.raises(TypeError) as caught:
        build()
    assert message in str(caught.value)


def test_an_unknown_name_is_pythons_own_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        lrs.Cosine(0.1, steps=10, bogus=1)
