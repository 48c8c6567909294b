"""The API's rules (docs/api.md), checked on every public class, and the arguments 0.2 added.

* one positional argument, the rest keyword-only, in every schedule, Plateau and Table;
* one name per role, no name that 0.2 retired;
* zero-length phases mean "no phase", on both paths;
* configs written by 0.1 still load; a repr shows children as schedules after a round trip;
* the new arguments (Cosine's exponent and num_cycles, ExponentialDecay's transition_begin,
  MultiStepDecay's list of factors, InverseSqrt's timescale, OneCycle's epochs form) against
  their formulas, on both paths.
"""

import inspect
import math

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched.schedules._base import Schedule

from conftest import assert_lr_close, to_numpy

PUBLIC = [getattr(lrs, name) for name in lrs.__all__]
CLASSES = [c for c in PUBLIC if inspect.isclass(c) and c is not Schedule]
SCHEDULES = [c for c in CLASSES if issubclass(c, Schedule)]
# Names 0.2 retired for a role that has another name now (docs/api.md).
RETIRED = {"value", "low", "high", "max_lr", "total_steps", "start"}


def parameters(cls):
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


@pytest.mark.parametrize("cls", [c for c in CLASSES if c is not lrs.LRFinderResult],
                         ids=lambda c: c.__name__)
def test_one_positional_argument_then_keywords_only(cls):
    params = parameters(cls)
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    if cls is lrs.LearningRateScheduler:  # keras' own positional pair, for the drop-in
        assert positional == ["schedule", "verbose"]
    else:
        assert len(positional) == 1, f"{cls.__name__}: {positional}"
    rest = [p for p in params if p.name not in positional]
    assert all(p.kind is p.KEYWORD_ONLY for p in rest), cls.__name__


def test_a_second_positional_argument_is_a_type_error():
    # Linear(0.1, 100, 0) would silently have meant end=100, steps=0 with another order
    with pytest.raises(TypeError):
        lrs.Linear(0.1, 100, 0)
    with pytest.raises(TypeError):
        lrs.Cosine(0.1, 100)
    with pytest.raises(TypeError):
        lrs.Plateau("loss", 0.5)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_no_retired_names_and_every_argument_documented(cls):
    names = {p.name for p in parameters(cls)}
    assert not names & RETIRED, f"{cls.__name__}: {names & RETIRED}"
    doc = inspect.getdoc(cls)
    # A result that users read, not build, documents the same names as its Attributes.
    section = "Attributes:" if cls is lrs.LRFinderResult else "Args:"
    assert section in doc, f"{cls.__name__} has no {section} section"
    for name in names:
        assert f"{name}:" in doc, f"{cls.__name__}'s docstring does not describe `{name}`"


def test_every_class_with_a_paper_names_it():
    for cls in (lrs.Cosine, lrs.CosineRestarts, lrs.Cyclic, lrs.OneCycle, lrs.InverseSqrt,
                lrs.WarmupStableDecay, lrs.Warmup, lrs.CyclicMomentum, lrs.OneCycleMomentum):
        assert "References:" in inspect.getdoc(cls), cls.__name__


def test_the_first_argument_is_the_lr_in_every_family():
    first = {c.__name__: parameters(c)[0].name for c in SCHEDULES}
    others = ("Warmup", "Join", "Cycles", "Noise", "Piecewise", "Table", "CyclicMomentum",
              "OneCycleMomentum")
    lr_first = {k: v for k, v in first.items() if k not in others}
    assert set(lr_first.values()) <= {"initial", "peak"}, lr_first
    assert first["Warmup"] == "after" and first["Join"] == "schedules"
    assert first["Piecewise"] == first["Table"] == "values"
    # a momentum schedule's first is its bottom, torch's base_momentum, then `max`
    assert first["CyclicMomentum"] == first["OneCycleMomentum"] == "base"
    for cls in (lrs.CyclicMomentum, lrs.OneCycleMomentum):
        assert parameters(cls)[1].name == "max"


def test_cycle_momentum_takes_its_arguments_by_keyword_only():
    for method in (lrs.OneCycle.cycle_momentum, lrs.Cyclic.cycle_momentum):
        params = list(inspect.signature(method).parameters.values())[1:]
        assert [p.name for p in params] == ["base", "max"]
        assert all(p.kind is p.KEYWORD_ONLY for p in params)
    with pytest.raises(TypeError):
        lrs.OneCycle(0.1, steps=100).cycle_momentum(0.85, 0.95)


# ------------------------------------------------------------------------ zero-length phases


def both_paths(schedule, n):
    return to_numpy(schedule, np.arange(n)), schedule.table(n).astype(np.float64)


@pytest.mark.parametrize(
    "after",
    [lrs.Cosine(0.1, steps=50, end=0.01), lrs.OneCycle(0.1, steps=40), lrs.Constant(0.2),
     keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)],
    ids=["Cosine", "OneCycle", "Constant", "keras"],
)
def test_a_warmup_of_zero_steps_is_the_schedule_itself(after):
    n = 64
    expected = to_numpy(after, np.arange(n))
    by_call, by_table = both_paths(lrs.Warmup(after, warmup_steps=0), n)
    np.testing.assert_array_equal(by_call, expected)
    own = after.table(n).astype(np.float64) if isinstance(after, Schedule) else expected
    assert_lr_close(by_table, own, peak=0.2)
    if isinstance(after, Schedule):
        np.testing.assert_array_equal(by_table, own)


def test_inverse_sqrt_without_warmup_decays_from_step_0_as_hugging_face():
    s = lrs.InverseSqrt(1.0, warmup_steps=0)
    assert s.timescale == 10_000
    steps = np.arange(0, 50_000, 997)
    expected = 1.0 / np.sqrt((steps + 10_000.0) / 10_000.0)
    assert_lr_close(to_numpy(s, steps), expected, peak=1.0)
    assert_lr_close([s.table(1, start=int(k))[0] for k in steps], expected, peak=1.0)


def test_warmup_stable_decay_with_each_phase_empty():
    cases = {
        (0, 0, 10): lambda k: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(k, 10) / 10)),
        (5, 0, 0): lambda k: k / 5 if k < 5 else 0.1,
        (0, 5, 0): lambda k: 1.0 if k < 5 else 0.1,
        (0, 0, 0): lambda k: 0.1,
    }
    for (w, st, d), formula in cases.items():
        s = lrs.WarmupStableDecay(1.0, warmup_steps=w, stable_steps=st, decay_steps=d, end=0.1)
        expected = [formula(k) for k in range(20)]
        for values in both_paths(s, 20):
            assert_lr_close(values, expected, peak=1.0, what=f"phases {(w, st, d)}")


def test_negative_phase_lengths_are_still_refused():
    with pytest.raises(ValueError, match="warmup_steps"):
        lrs.Warmup(lrs.Constant(0.1), warmup_steps=-1)
    with pytest.raises(ValueError, match="warmup_steps"):
        lrs.InverseSqrt(0.1, warmup_steps=-1)
    with pytest.raises(ValueError, match="timescale"):
        lrs.InverseSqrt(0.1, warmup_steps=3, timescale=0)


# ------------------------------------------------------------------------ files from 0.1


@pytest.mark.parametrize(
    "cls, old, new",
    [
        (lrs.Constant, {"value": 0.3}, lrs.Constant(0.3)),
        (lrs.Cyclic, {"low": 0.1, "high": 0.5, "step_size_up": 4, "step_size_down": 4,
                      "mode": "triangular", "gamma": 1.0},
         lrs.Cyclic(0.1, peak=0.5, step_size_up=4)),
        (lrs.OneCycle, {"max_lr": 0.3, "total_steps": 100, "pct_start": 0.3, "anneal": "cos",
                        "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": False},
         lrs.OneCycle(0.3, steps=100)),
    ],
    ids=lambda x: x.__name__ if inspect.isclass(x) else "",
)
def test_configs_written_by_0_1_still_load(cls, old, new):
    assert cls.from_config(old).get_config() == new.get_config()


def test_a_0_1_warmup_in_a_keras_file_loads():
    config = {"after": keras.optimizers.schedules.serialize(lrs.Constant(0.5)), "steps": 4,
              "start": 0.1}
    loaded = lrs.Warmup.from_config(config)
    assert (loaded.warmup_steps, loaded.initial) == (4, 0.1)


def test_a_repr_shows_children_as_schedules_after_a_round_trip():
    s = lrs.Join([lrs.Warmup(lrs.Cosine(0.1, steps=10), warmup_steps=3), lrs.Constant(0.01)],
                 boundaries=[13])
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert repr(again) == repr(s)
    assert "Warmup(after=Cosine(initial=0.1" in repr(again)
    assert "{" not in repr(again)


# ------------------------------------------------------------------------ new arguments


def test_cosine_exponent_and_num_cycles_follow_their_formula():
    for exponent, cycles in ((2.0, 0.5), (0.5, 0.5), (1.0, 1.5), (3.0, 2.0)):
        s = lrs.Cosine(1.0, steps=40, end=0.1, exponent=exponent, num_cycles=cycles)
        p = np.minimum(np.arange(60), 40) / 40
        expected = 0.1 + 0.9 * (0.5 * (1 + np.cos(2 * math.pi * cycles * p))) ** exponent
        for values in both_paths(s, 60):
            assert_lr_close(values, expected, peak=1.0, what=f"{exponent}, {cycles}")


def test_exponential_decay_holds_until_transition_begin():
    s = lrs.ExponentialDecay(0.5, decay_rate=0.1, decay_steps=20, transition_begin=15, end=0.01)
    k = np.arange(200)
    expected = np.maximum(0.5 * 0.1 ** (np.maximum(k - 15, 0) / 20), 0.01)
    for values in both_paths(s, 200):
        assert_lr_close(values, expected, peak=0.5)
    for start in (0, 7, 15, 16, 100):  # a table from any start agrees with the whole table
        np.testing.assert_array_equal(s.table(50, start=start), s.table(200)[start : start + 50])


def test_multistep_decay_with_one_factor_per_milestone():
    s = lrs.MultiStepDecay(1.0, milestones=[3, 3, 8], factor=[0.5, 0.2, 0.3])
    expected = [1.0] * 3 + [0.1] * 5 + [0.03] * 4
    for values in both_paths(s, 12):
        assert_lr_close(values, expected, peak=1.0)
    with pytest.raises(ValueError, match="factor"):
        lrs.MultiStepDecay(1.0, milestones=[3, 8], factor=[0.5])


def test_inverse_sqrt_timescale():
    s = lrs.InverseSqrt(2.0, warmup_steps=10, timescale=100)
    k = np.arange(300)
    expected = np.where(k < 10, 2.0 * k / 10, 2.0 / np.sqrt((k - 10 + 100) / 100))
    for values in both_paths(s, 300):
        assert_lr_close(values, expected, peak=2.0)


def test_one_cycle_in_torch_s_epochs_form():
    a = lrs.OneCycle(0.1, epochs=4, steps_per_epoch=25, pct_start=0.25)
    b = lrs.OneCycle(0.1, steps=100, pct_start=0.25)
    assert a.get_config() == b.get_config()
    np.testing.assert_array_equal(a.table(120), b.table(120))
    with pytest.raises(ValueError, match="steps_per_epoch"):
        lrs.OneCycle(0.1, epochs=4)
    with pytest.raises(ValueError, match="not both"):
        lrs.OneCycle(0.1, steps=100, epochs=4, steps_per_epoch=25)


def test_cyclic_peak_below_initial_is_refused():
    with pytest.raises(ValueError, match=r"`peak`.*initial=0\.1, peak=0\.01"):
        lrs.Cyclic(0.1, peak=0.01, step_size_up=4)


@pytest.mark.parametrize("build, hint", [
    (lambda: lrs.Cyclic(0.1, high=0.5, step_size_up=4), "`high` (keras_lrsched 0.1): write `peak=`"),
    (lambda: lrs.Warmup(lrs.Constant(0.1), steps=5),
     "`steps` (keras_lrsched 0.1): write `warmup_steps=`"),
    (lambda: lrs.Warmup(lrs.Constant(0.1), warmup_steps=5, start=0.1),
     "`start` (keras_lrsched 0.1): write `initial=`"),
])
def test_a_name_of_0_1_says_what_it_is_now(build, hint):
    with pytest.raises(TypeError) as caught:
        build()
    assert hint in str(caught.value)
    # the signature users and tools read is still the class's own
    assert "peak" in inspect.signature(lrs.OneCycle).parameters
