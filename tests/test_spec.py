"""`lrs.get(spec)`: spec strings, keras config dicts, pass-through, and what is refused."""

import ast
import inspect
import operator
import re

import keras
import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched import spec as spec_module

serialize = keras.optimizers.schedules.serialize



def test_schedule_names_are_the_snake_case_class_names():
    names = spec_module.schedule_names()
    # The static tuple (what `keras-lrsched --help` lists without keras) matches the live classes.
    assert spec_module.SCHEDULE_NAMES == tuple(names)
    # and the static signatures (the first, keras-free check of a spec's form) match them too
    assert spec_module.SIGNATURES == {n: spec_module._signature(c) for n, c in names.items()}
    public = {
        getattr(lrs, n) for n in lrs.__all__
        if inspect.isclass(getattr(lrs, n)) and issubclass(getattr(lrs, n), lrs.Schedule)
    } - {lrs.Schedule}
    assert set(names.values()) == public
    assert names["one_cycle"] is lrs.OneCycle
    assert names["warmup_stable_decay"] is lrs.WarmupStableDecay
    assert names["cosine_restarts"] is lrs.CosineRestarts


def test_keyword_spec_builds_the_schedule():
    s = lrs.get("one_cycle(peak=0.1, steps=1000)")
    assert isinstance(s, lrs.OneCycle)
    assert (s.peak, s.steps, s.pct_start) == (0.1, 1000, 0.3)


def test_the_first_argument_may_be_positional():
    s = lrs.get("step_decay(0.1, factor=0.5, step_size=10)")
    assert (s.initial, s.factor, s.step_size) == (0.1, 0.5, 10)
    expected = lrs.Cosine(1e-3, steps=900).get_config()
    assert lrs.get("cosine(1e-3, steps=900)").get_config() == expected


def test_a_second_positional_argument_is_refused_with_the_signature():
    with pytest.raises(ValueError, match=r"In `cosine\(1e-3, 900\)`: only the first argument, "
                       r"`initial`, may be positional; name the others. "
                       r"`cosine` takes \(initial, \*, steps, end=0.0"):
        lrs.get("cosine(1e-3, 900)")


def test_a_momentum_spec_names_its_first_argument_without_its_default():
    s = lrs.get("one_cycle_momentum(0.8, steps=100, three_phase=True)")
    assert isinstance(s, lrs.OneCycleMomentum) and (s.base, s.max, s.steps) == (0.8, 0.95, 100)
    with pytest.raises(ValueError, match=r"only the first argument, `base`, may be positional"):
        lrs.get("cyclic_momentum(0.8, 0.9, step_size_up=4)")


def test_nested_spec():
    s = lrs.get("warmup(cosine(1e-3, steps=900), warmup_steps=100)")
    assert isinstance(s, lrs.Warmup) and isinstance(s.after, lrs.Cosine)
    assert (s.after.initial, s.after.steps, s.warmup_steps) == (1e-3, 900, 100)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(s(np.array([0, 100, 1000]))), [0.0, 1e-3, 0.0], atol=1e-9
    )


def test_lists_tuples_strings_bools_none_and_negative_numbers():
    s = lrs.get(
        "join([linear(0.0, end=0.1, steps=100), cosine(0.1, steps=900)], boundaries=(100,))"
    )
    assert [type(c) for c in s.schedules] == [lrs.Linear, lrs.Cosine] and s.boundaries == [100]
    s = lrs.get("one_cycle(0.5, steps=61, pct_start=0.25, anneal='linear', three_phase=True)")
    assert s.anneal == "linear" and s.three_phase is True
    assert lrs.get("exponential_decay(0.1, decay_rate=0.5, end=None)").end is None
    # A negative number is parsed (and then refused by the schedule's own check).
    with pytest.raises(ValueError, match=r"initial=-0\.001"):
        lrs.get("cosine(initial=-1e-3, steps=10)")
    assert lrs.get("cosine(+1e-3, steps=10)").initial == 1e-3


def test_a_bare_number_is_a_constant():
    assert lrs.get("1e-3").get_config() == {"initial": 1e-3}
    assert lrs.get(0.05).get_config() == {"initial": 0.05}


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


def test_to_spec_writes_the_first_argument_positionally_and_leaves_defaults_out():
    s = lrs.Warmup(lrs.Cosine(0.1, steps=900, end=1e-4), warmup_steps=100)
    assert spec_module.to_spec(s) == "warmup(cosine(0.1, steps=900, end=0.0001), warmup_steps=100)"
    s = lrs.Join([lrs.Constant(0.1), lrs.Linear(0.1, steps=5)], boundaries=[3])
    assert spec_module.to_spec(s) == "join([constant(0.1), linear(0.1, steps=5)], boundaries=[3])"


def test_a_schedule_passes_through():
    s = lrs.Cosine(0.1, steps=10)
    assert lrs.get(s) is s
    k = keras.optimizers.schedules.CosineDecay(0.1, 10)
    assert lrs.get(k) is k


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ValueError) as info:
        lrs.get("sawtooth(0.1, steps=100)")
    message = str(info.value)
    assert message.startswith("Unknown schedule `sawtooth` in spec.")
    for name in spec_module.SCHEDULE_NAMES:
        assert name in message


def test_a_near_miss_gets_the_closest_name():
    with pytest.raises(ValueError, match="Did you mean `cosine_restarts`"):
        lrs.get("cosine_restart(0.1, period=10)")


def test_class_name_instead_of_snake_case_is_unknown_with_a_hint():
    with pytest.raises(ValueError, match="Did you mean `one_cycle`") as info:
        lrs.get("OneCycle(0.1, steps=100)")
    assert "Known names" not in str(info.value)


@pytest.mark.parametrize(
    "name, equivalent, origin",
    [
        ("cosine_with_warmup", "warmup(cosine(PEAK, steps=TOTAL - WARMUP), warmup_steps=WARMUP)",
         "Hugging Face's get_cosine_schedule_with_warmup"),
        ("get_cosine_schedule_with_warmup", "warmup(cosine(PEAK, ", "Hugging Face"),
        ("linear_schedule_with_warmup", "warmup(linear(PEAK, ", "get_linear_schedule_with_warmup"),
        ("get_linear_schedule_with_warmup", "warmup(linear(PEAK, ", "Hugging Face"),
        ("get_polynomial_decay_schedule_with_warmup", "warmup(polynomial(PEAK, ", "Hugging Face"),
        ("get_cosine_with_hard_restarts_schedule_with_warmup",
         "warmup(join([cosine_restarts(PEAK, ", "Hugging Face"),
        ("get_wsd_schedule", "warmup_stable_decay(PEAK, ", "get_wsd_schedule"),
        ("get_inverse_sqrt_schedule", "inverse_sqrt(PEAK, warmup_steps=WARMUP)", "Hugging Face"),
        ("get_constant_schedule", "constant(LR)", "get_constant_schedule"),
        ("get_constant_schedule_with_warmup", "warmup(constant(PEAK), ", "Hugging Face"),
        ("one_cycle_lr", "one_cycle(MAX_LR, steps=TOTAL_STEPS)", "torch's OneCycleLR"),
        ("OneCycleLR", "one_cycle(MAX_LR, steps=TOTAL_STEPS)", "torch's OneCycleLR"),
        ("cosine_annealing_lr", "cosine(LR, steps=T_MAX, end=ETA_MIN)", "CosineAnnealingLR"),
        ("CosineAnnealing", "cosine(LR, steps=T_MAX, end=ETA_MIN)", "CosineAnnealingLR"),
        ("step_lr", "step_decay(LR, factor=GAMMA, step_size=STEP_SIZE)", "torch's StepLR"),
        ("MultiStepLR", "multi_step_decay(LR, ", "torch's MultiStepLR"),
        ("MultiStepLRScheduler", "multi_step_decay(LR, ", "milestones=[d - 1 for d in DECAY_T]"),
        ("PolyLRScheduler", "polynomial(LR, steps=T_INITIAL, end=LR_MIN", "timm's PolyLRScheduler"),
        ("exponential_lr", "exponential_decay(LR, decay_rate=GAMMA)", "torch's ExponentialLR"),
        ("cyclic_lr", "cyclic(BASE_LR, peak=MAX_LR, ", "torch's CyclicLR"),
        ("CosineAnnealingWarmRestarts", "cosine_restarts(LR, period=T_0, ", "torch"),
        ("polynomial_lr", "polynomial(LR, ", "torch's PolynomialLR"),
        ("LinearLR", "linear(START_FACTOR * LR, ", "torch's LinearLR"),
        ("constant_lr", "piecewise([FACTOR * LR, LR], ", "torch's ConstantLR"),
        ("warmup_cosine_decay_schedule", "warmup(cosine(PEAK_VALUE, ", "optax"),
        ("cosine_decay_schedule", "cosine(INIT_VALUE, ", "optax's cosine_decay_schedule"),
        ("CosineDecay", "cosine(INIT_VALUE, ", "keras' CosineDecay"),
        ("linear_schedule", "linear(INIT_VALUE, ", "optax's linear_schedule"),
        ("polynomial_schedule", "polynomial(INIT_VALUE, ", "optax's polynomial_schedule"),
        ("piecewise_constant_schedule", "multi_step_decay(INIT_VALUE, ", "optax"),
        ("join_schedules", "join([FIRST, SECOND], ", "optax's join_schedules"),
        ("warmup_constant_schedule", "warmup(constant(PEAK_VALUE), ", "optax"),
        ("InverseTimeDecay", "time_decay(INITIAL, ", "keras' InverseTimeDecay"),
        ("PiecewiseConstantDecay", "piecewise([V0, V1, V2], boundaries=[B1 + 1, B2 + 1])",
         "keras' PiecewiseConstantDecay"),
    ],
)
def test_a_name_from_another_library_gets_the_spec_to_write(name, equivalent, origin):
    with pytest.raises(ValueError) as info:
        lrs.get(f"{name}(0.1, steps=10)")
    message = str(info.value)
    assert message.startswith(f"Unknown schedule `{name}` in spec. The equivalent here is `")
    assert equivalent in message and origin in message
    assert "Known names" not in message


# What to put for each capital in the equivalents, so that every one of them can be built.
PLACEHOLDERS = {
    "LR": 0.1, "PEAK": 0.1, "PEAK_VALUE": 0.1, "MAX_LR": 0.1, "BASE_LR": 0.01, "INITIAL": 0.1,
    "INIT_VALUE": 0.01, "END": 0.001, "END_VALUE": 0.001, "MIN_LR": 0.001, "ETA_MIN": 0.001,
    "TOTAL": 1000, "WARMUP": 100, "STABLE": 500, "DECAY": 400, "CYCLES": 3, "POWER": 2.0,
    "GAMMA": 0.5, "FACTOR": 0.5, "STEP_SIZE": 30, "MILESTONES": [30, 80], "T_MAX": 100,
    "T_0": 50, "T_MULT": 2, "T_MUL": 2.0, "M_MUL": 0.9, "STEP_SIZE_UP": 20, "TOTAL_STEPS": 1000,
    "TOTAL_ITERS": 10, "START_FACTOR": 0.25, "END_FACTOR": 1.0, "FIRST": "constant(0.1)",
    "SECOND": "cosine(0.1, steps=100)", "MILESTONE": 100, "WARMUP_STEPS": 100,
    "DECAY_STEPS": 1000, "DECAY_RATE": 0.5, "TRANSITION_STEPS": 100, "ALPHA": 0.1,
    "BOUNDARIES": [100, 200], "SCALES": [0.5, 0.1], "V0": 0.1, "V1": 0.01, "V2": 0.001, "B1": 10,
    "B2": 20, "FIRST_DECAY_STEPS": 100, "T_INITIAL": 100, "LR_MIN": 0.001,
}


class _FoldConstants(ast.NodeTransformer):
    """`1000 - 100` -> `900`: the templates compute some arguments from the foreign ones."""

    OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                 ast.FloorDiv: operator.floordiv}

    def visit_BinOp(self, node):
        self.generic_visit(node)
        compute = self.OPERATORS[type(node.op)]
        return ast.Constant(compute(node.left.value, node.right.value))


@pytest.mark.parametrize("equivalent", sorted({spec for spec, _ in spec_module._FOREIGN.values()}))
def test_every_equivalent_builds_a_schedule(equivalent):
    # The templates name arguments of the live classes: a renamed argument fails here.
    text = re.sub(r"\b[A-Z][A-Z0-9_]*\b", lambda m: str(PLACEHOLDERS[m.group()]), equivalent)
    tree = _FoldConstants().visit(ast.parse(text, mode="eval"))
    assert isinstance(lrs.get(ast.unparse(tree)), lrs.Schedule)


@pytest.mark.parametrize(
    "text, found",
    [
        ('__import__("os").system("echo hacked")', "a call of something that is not a schedule"),
        ("os.system", "an attribute access `os.system`"),
        ("cosine(0.1, 10).__class__", "an attribute access"),
        ("cosine(1e-3 * 2, steps=10)", "an arithmetic operator `1e-3 * 2`"),
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
    assert isinstance(lrs.get("cosine(0.1, steps=10)"), lrs.Cosine)


def test_double_star_kwargs_is_refused():
    with pytest.raises(ValueError, match=r"`\*\*kw`"):
        lrs.get("cosine(**kw)")


def test_bad_arguments_name_the_call_and_the_signature():
    with pytest.raises(
        ValueError, match=r"In `cosine\(1, steps=2, foo=3\)`.*foo.*\(initial, \*, steps, end=0.0"
    ):
        lrs.get("cosine(1, steps=2, foo=3)")
    with pytest.raises(ValueError, match=r"missing a required argument: 'steps'"):
        lrs.get("cosine(1)")
    with pytest.raises(ValueError, match=r"In `cosine\(initial=1, steps=0\)`: Argument `steps`"):
        lrs.get("warmup(cosine(initial=1, steps=0), warmup_steps=100)")
    with pytest.raises(ValueError, match=r"needs its arguments: cosine\(initial, \*, steps"):
        lrs.get("cosine")


def test_a_repeated_argument_is_refused_and_quoted():
    with pytest.raises(ValueError) as info:
        lrs.get("warmup(cosine(initial=0.1, initial=0.2, steps=1), warmup_steps=0)")
    assert str(info.value) == (
        "In `cosine(initial=0.1, initial=0.2, steps=1)`: Argument `initial` is repeated: "
        "`initial=0.1`, then `initial=0.2`"
    )


def test_errors_quote_the_spec_as_written():
    # ast.unparse would write 1e400 as 1e309, and 0x10 as 16.
    with pytest.raises(ValueError, match=r"In `cosine\(1e400, steps=0x10\)`: Argument `initial`"):
        lrs.get("cosine(1e400, steps=0x10)")
    with pytest.raises(ValueError, match=r"`cosine\(1e400, steps=10\)`: Argument `initial`"):
        lrs.get("warmup(cosine(1e400, steps=10),\n       warmup_steps=5)")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000 + "]" * 3000,
        "join([" + ", ".join(["constant(0.1)"] * 400) + "], boundaries=[1, 2, 3])",
        "cosine(" + "1" * 5000 + "x, steps=10)",
        "piecewise([" + ", ".join(["0.1"] * 1500) + "], boundaries=x)",
        f"cosine_annealing_lr{'x' * 5000}(0.1)",
    ],
)
def test_error_messages_stay_short(text):
    with pytest.raises(ValueError) as info:
        lrs.get(text)
    message = str(info.value)
    assert len(message) < 500, message
    assert "..." in message


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


@pytest.mark.parametrize("text, hint", [
    ("one_cycle(max_lr=0.1, total_steps=100)",
     "`max_lr` (torch's OneCycleLR): write `peak=`; `total_steps` (torch's OneCycleLR): write "
     "`steps=`"),
    ("cyclic(low=0.1, high=0.5, step_size_up=4)",
     "`low` (keras_lrsched 0.1): write `initial=`; `high` (keras_lrsched 0.1): write `peak=`"),
    ("warmup(constant(0.1), steps=5, start=0.0)", "`steps` (keras_lrsched 0.1): write `warmup_steps=`"),
    ("constant(value=0.1)", "`value` (optax's constant_schedule): write `initial=`"),
    ("cosine(0.1, T_max=100, eta_min=0)", "`T_max` (torch's CosineAnnealingLR): write `steps=`"),
])
def test_another_librarys_name_says_what_to_write(text, hint):
    # The same words as the classes' own TypeError (Schedule._peer_names, one mechanism).
    with pytest.raises(ValueError, match="has no argument") as caught:
        lrs.get(text)
    assert hint in str(caught.value)


def test_a_string_given_to_the_callback_is_read_as_a_spec_and_its_error_says_so():
    cb = lrs.LearningRateScheduler("cosine(0.1, steps=100)")
    assert isinstance(cb.schedule, lrs.Cosine)
    # keras' callbacks take "auto" for many things; here a string is a schedule spec
    with pytest.raises(ValueError) as err:
        lrs.LearningRateScheduler("auto")
    message = str(err.value)
    assert message.startswith("Argument `schedule`: a string is read as a schedule spec")
    assert '"cosine(0.1, steps=1000)"' in message and "Spec `auto` contains a variable" in message
    with pytest.raises(ValueError, match=r"^Argument `momentum`: a string is read as a schedule"):
        lrs.LearningRateScheduler([0.1], momentum="0.9 +")
