"""`lrs.get(spec)`: spec strings, keras config dicts, pass-through, and what is refused."""

import inspect

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched import spec as spec_module

serialize = keras.optimizers.schedules.serialize

ALL_NAMES = [
    "constant", "time_decay", "step_decay", "multi_step_decay", "exponential_decay", "piecewise",
    "polynomial", "linear", "cosine", "cosine_restarts", "cyclic", "one_cycle", "inverse_sqrt",
    "warmup_stable_decay", "warmup", "join", "table",
]


def test_every_public_schedule_has_its_snake_case_name():
    names = spec_module.schedule_names()
    assert sorted(names) == sorted(ALL_NAMES)
    public = {
        getattr(lrs, n) for n in lrs.__all__
        if inspect.isclass(getattr(lrs, n)) and issubclass(getattr(lrs, n), lrs.Schedule)
    } - {lrs.Schedule}
    assert set(names.values()) == public
    assert names["one_cycle"] is lrs.OneCycle
    assert names["warmup_stable_decay"] is lrs.WarmupStableDecay
    assert names["cosine_restarts"] is lrs.CosineRestarts


def test_keyword_spec_builds_the_schedule():
    s = lrs.get("one_cycle(max_lr=0.1, total_steps=1000)")
    assert isinstance(s, lrs.OneCycle)
    assert (s.max_lr, s.total_steps, s.pct_start) == (0.1, 1000, 0.3)


def test_positional_and_mixed_arguments():
    s = lrs.get("step_decay(0.1, 0.5, step_size=10)")
    assert (s.initial, s.factor, s.step_size) == (0.1, 0.5, 10)
    assert lrs.get("cosine(1e-3, 900)").get_config() == lrs.Cosine(1e-3, 900).get_config()


def test_nested_spec():
    s = lrs.get("warmup(cosine(initial=1e-3, steps=900), steps=100)")
    assert isinstance(s, lrs.Warmup) and isinstance(s.after, lrs.Cosine)
    assert (s.after.initial, s.after.steps, s.steps) == (1e-3, 900, 100)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(s(np.array([0, 100, 1000]))), [0.0, 1e-3, 0.0], atol=1e-9
    )


def test_lists_tuples_strings_bools_none_and_negative_numbers():
    s = lrs.get("join([linear(0.0, 0.1, 100), cosine(0.1, 900)], boundaries=(100,))")
    assert [type(c) for c in s.schedules] == [lrs.Linear, lrs.Cosine] and s.boundaries == [100]
    s = lrs.get("one_cycle(0.5, 61, pct_start=0.25, anneal='linear', three_phase=True)")
    assert s.anneal == "linear" and s.three_phase is True
    assert lrs.get("exponential_decay(0.1, 0.5, end=None)").end is None
    # A negative number is parsed (and then refused by the schedule's own check).
    with pytest.raises(ValueError, match=r"initial=-0\.001"):
        lrs.get("cosine(initial=-1e-3, steps=10)")
    assert lrs.get("cosine(+1e-3, 10)").initial == 1e-3


def test_a_bare_number_is_a_constant():
    assert lrs.get("1e-3").get_config() == {"value": 1e-3}
    assert lrs.get(0.05).get_config() == {"value": 0.05}


def test_spec_string_round_trip(example):
    try:
        text = spec_module.to_spec(example)
    except ValueError as err:
        assert "has no spec name" in str(err)  # a keras schedule inside
        return
    assert serialize(lrs.get(text)) == serialize(example)


def test_keras_config_dict_round_trip(example):
    config = serialize(example)
    rebuilt = lrs.get(config)
    assert type(rebuilt) is type(example)
    assert serialize(rebuilt) == config


def test_config_dict_of_a_keras_schedule_and_with_a_spec_name():
    keras_schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    rebuilt = lrs.get(serialize(keras_schedule))
    assert isinstance(rebuilt, keras.optimizers.schedules.ExponentialDecay)
    assert rebuilt.get_config() == keras_schedule.get_config()
    s = lrs.get({"class_name": "cosine", "config": {"initial": 0.1, "steps": 10}})
    assert isinstance(s, lrs.Cosine) and s.steps == 10


def test_a_schedule_passes_through():
    s = lrs.Cosine(0.1, 10)
    assert lrs.get(s) is s
    k = keras.optimizers.schedules.CosineDecay(0.1, 10)
    assert lrs.get(k) is k


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        lrs.get("cosine_decay(0.1, 100)")
    message = str(info.value)
    assert "`cosine_decay`" in message
    for name in ALL_NAMES:
        assert name in message


def test_class_name_instead_of_snake_case_is_unknown_with_a_hint():
    with pytest.raises(ValueError, match="Did you mean `one_cycle`"):
        lrs.get("OneCycle(0.1, 100)")


@pytest.mark.parametrize(
    "text, found",
    [
        ('__import__("os").system("echo hacked")', "a call of something that is not a schedule"),
        ("os.system", "an attribute access `os.system`"),
        ("cosine(0.1, 10).__class__", "an attribute access"),
        ("cosine(1e-3 * 2, 10)", "an arithmetic operator `0.001 * 2`"),
        ("cosine(2 ** 10, 10)", "an arithmetic operator"),
        ("cosine(initial, 10)", "a variable `initial`"),
        ("cosine(lambda: 1, 10)", "a lambda"),
        ("cosine([x for x in y], 10)", "a comprehension"),
        ("cosine({'a': 1}, 10)", "a dict"),
        ("cosine({1}, 10)", "a set"),
        ("cosine(1j, 10)", "a complex constant `1j`"),
        ("cosine(b'1', 10)", "a bytes constant"),
        ("cosine(f'{1}', 10)", "an f-string"),
        ("cosine(*args)", "a starred argument `*args`"),
        ("cosine(1 if True else 2, 10)", "a conditional expression"),
        ("cosine(not 1, 10)", "an operator `not 1`"),
        ("cosine(-True, 10)", "an operator `-True`"),
        ("cosine((x := 1), 10)", "an assignment expression"),
        ("[cosine(1, 2)][0]", "a subscript"),
        ("cosine(1, 2) or cosine(2, 3)", "a boolean operator"),
        ("cosine(0.1, 10) == 1", "a comparison"),
        ("...", "an ellipsis constant"),
    ],
)
def test_anything_else_is_refused_and_named(text, found):
    with pytest.raises(ValueError) as info:
        lrs.get(text)
    assert found in str(info.value)


def test_the_spec_is_never_evaluated(tmp_path, monkeypatch):
    marker = tmp_path / "evaluated"
    attack = f"cosine(open({str(marker)!r}, 'w').write('x'), 10)"
    with pytest.raises(ValueError):
        lrs.get(attack)
    assert not marker.exists()
    monkeypatch.setattr("builtins.eval", None)  # get() must not need eval at all
    monkeypatch.setattr("builtins.exec", None)
    assert isinstance(lrs.get("cosine(0.1, 10)"), lrs.Cosine)


def test_double_star_kwargs_is_refused():
    with pytest.raises(ValueError, match=r"`\*\*kw`"):
        lrs.get("cosine(**kw)")


def test_bad_arguments_name_the_call_and_the_signature():
    with pytest.raises(ValueError, match=r"In `cosine\(1, 2, foo=3\)`.*foo.*initial, steps, end=0.0"):
        lrs.get("cosine(1, 2, foo=3)")
    with pytest.raises(ValueError, match=r"missing a required argument: 'steps'"):
        lrs.get("cosine(1)")
    with pytest.raises(ValueError, match=r"In `cosine\(initial=1, steps=0\)`: Argument `steps`"):
        lrs.get("warmup(cosine(initial=1, steps=0), steps=100)")
    with pytest.raises(ValueError, match=r"needs its arguments.*cosine\(initial, steps"):
        lrs.get("cosine")


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("cosine(1, 2", "not a valid spec"),
        ("cosine(1, 2); import os", "not a valid spec"),
        ("[1, 2]", "must describe a schedule"),
        ("'cosine'", "must describe a schedule"),
        ("None", "must describe a schedule"),
        ("cosine(" * 100_000, "too long"),
        ("[" * 3000 + "]" * 3000, "nested too deeply|not a valid spec|too long"),
    ],
)
def test_malformed_specs(text, match):
    with pytest.raises(ValueError, match=match):
        lrs.get(text)


@pytest.mark.parametrize("bad", [None, True, [1.0, 2.0], object(), lambda step: 0.1])
def test_other_types_are_a_type_error(bad):
    with pytest.raises(TypeError, match="Argument `spec`"):
        lrs.get(bad)


def test_config_dict_errors():
    with pytest.raises(ValueError, match="class_name"):
        lrs.get({"config": {"initial": 0.1}})
    with pytest.raises(ValueError, match="Cannot build a schedule"):
        lrs.get({"class_name": "cosine", "config": {"initial": 0.1}})


def test_to_spec_refuses_a_keras_schedule():
    with pytest.raises(ValueError, match="CosineDecay has no spec name"):
        spec_module.to_spec(keras.optimizers.schedules.CosineDecay(0.1, 10))
