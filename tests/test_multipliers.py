"""lr multipliers (callback/multipliers.py): each group of variables sharing a factor trains as
if it had its own optimizer at lr * factor (torch's and timm's param groups).

The reference is keras' own update rule, run per group: one fresh optimizer per factor, of the
same configuration at lr * factor, applied to that group's variables only, with the same
gradients. Under eager torch most optimizers take one pass for all groups (torch_steps.py): Adam
and AdamW their own step size per variable (ADAM, bit for bit keras' per-group calls), the
others one keras call and each variable moved back to ``old + factor * (new - old)`` (LERP);
the rest, and JAX and TensorFlow, call keras once per group. All must give the reference's
weights within float32 rounding (a few ulp of each weight per step), and leave a group of factor
0 and its slots where they were.
"""

import keras
import numpy as np
import pytest
from callback_helpers import fit, model, weights

import keras_lrsched as lrs
from keras_lrsched.callback import multipliers as mult
from keras_lrsched.callback import torch_steps

BACKEND = keras.backend.backend()
STEPS = 5
SHAPES = [(3, 4), (4,), (4, 2), (2,), (2, 2)]

# (name, make(lr), the way of its groups under eager torch)
ADAM, LERP, PER_GROUP = torch_steps.ADAM, torch_steps.LERP, torch_steps.PER_GROUP
OPTIMIZERS = [
    ("adam", lambda lr: keras.optimizers.Adam(lr), ADAM),
    ("adam-amsgrad-wd",
     lambda lr: keras.optimizers.Adam(lr, amsgrad=True, weight_decay=0.2), ADAM),
    ("adamw", lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.2), ADAM),
    ("adamax", lambda lr: keras.optimizers.Adamax(lr), LERP),
    ("nadam", lambda lr: keras.optimizers.Nadam(lr), LERP),
    ("adagrad", lambda lr: keras.optimizers.Adagrad(lr), LERP),
    ("adadelta", lambda lr: keras.optimizers.Adadelta(lr * 10), LERP),
    ("lion-wd", lambda lr: keras.optimizers.Lion(lr / 10, weight_decay=0.5), LERP),
    ("sgd-wd", lambda lr: keras.optimizers.SGD(lr, weight_decay=0.2), LERP),
    ("rmsprop-centered", lambda lr: keras.optimizers.RMSprop(lr, centered=True), LERP),
    # The momentum buffer holds lr * g: per group.
    ("sgd-momentum",
     lambda lr: keras.optimizers.SGD(lr, momentum=0.9, weight_decay=0.2), PER_GROUP),
    ("sgd-nesterov", lambda lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True), PER_GROUP),
    ("rmsprop-momentum", lambda lr: keras.optimizers.RMSprop(lr, momentum=0.5), PER_GROUP),
    # Torch updates it one variable at a time, and its trust ratio reads the decayed weights.
    ("lamb-wd", lambda lr: keras.optimizers.Lamb(lr, weight_decay=0.2), PER_GROUP),
]
IDS = [name for name, _, _ in OPTIMIZERS]

FACTORS = {
    "two groups": [0.1, 0.1, 1.0, 1.0, 1.0],
    "a frozen group": [0.5, 0.0, 1.0, 0.0, 0.5],
    "layer decay": [0.9**3, 0.9**3, 0.9**2, 0.9**2, 0.9],  # no group at 1.0
    "above one": [2.0, 1.0, 1.0, 0.25, 2.0],
}


def make_variables(dtypes=("float32",) * len(SHAPES)):
    rng = np.random.default_rng(3)
    return [keras.Variable(rng.normal(size=s).astype(d), name=f"w{i}", dtype=d)
            for i, (s, d) in enumerate(zip(SHAPES, dtypes))]


def gradients(steps=STEPS, dtypes=("float32",) * len(SHAPES)):
    rng = np.random.default_rng(11)
    return [[keras.ops.convert_to_tensor(rng.normal(size=s).astype(d))
             for s, d in zip(SHAPES, dtypes)] for _ in range(steps)]


def install(opt, multipliers):
    """What the callback's Binding puts on the optimizer for a fit (install.py)."""
    opt._get_current_learning_rate = multipliers.lr_getter(opt._get_current_learning_rate)
    opt._backend_update_step = multipliers.update_step(opt._backend_update_step)
    opt._apply_weight_decay = multipliers.weight_decay(opt._apply_weight_decay)


def counting(opt):
    """Count the calls of the optimizer's own `_backend_update_step`."""
    calls = []
    original = opt._backend_update_step

    def _backend_update_step(grads, variables, lr):
        calls.append(len(variables))
        return original(grads, variables, lr)

    opt._backend_update_step = _backend_update_step
    return calls


def slots(opt, variables):
    """The optimizer's variables that belong to `variables` (keras names a slot after its
    variable), by name; and its shared ones (Nadam's `u_product`)."""
    out = {}
    for s in opt.variables:
        if any(s.name.startswith(f"{v.name}_") for v in variables) or s.name == "u_product":
            out[s.name] = np.asarray(s)
    return out


def with_multipliers(make, factors, lr=0.05, exclude=None, dtypes=("float32",) * len(SHAPES),
                     **extra):
    """The variables and optimizer after STEPS updates with `factors` installed, and the
    number of variables in each call of keras' update."""
    variables = make_variables(dtypes)
    opt = make(lr)
    for k, v in extra.items():
        setattr(opt, k, v)
    if exclude is not None:
        opt.exclude_from_weight_decay(var_names=exclude)
    opt.build(variables)
    calls = counting(opt)
    install(opt, mult.Multipliers({id(v): f for v, f in zip(variables, factors)}, opt))
    for g in gradients(dtypes=dtypes):
        opt.apply(g, variables)
    return variables, opt, calls


def per_group_reference(make, factors, lr=0.05, exclude=None, **extra):
    """The weights and slots of keras' own rule, one optimizer per factor at lr * factor,
    and each weight's largest magnitude on the way (the scale of its rounding)."""
    variables = make_variables()
    groups = {}
    for i, f in enumerate(factors):
        groups.setdefault(f, []).append(i)
    opts = {}
    for f, idx in groups.items():
        opt = make(lr * f if f else lr)
        for k, v in extra.items():
            setattr(opt, k, v)
        if exclude is not None:
            opt.exclude_from_weight_decay(var_names=exclude)
            if all(variables[i].name in exclude for i in idx):
                opt.weight_decay = None  # keras' torch decay raises on an empty list
        opt.build([variables[i] for i in idx])
        opts[f] = opt
    scale = [np.abs(np.asarray(v)) for v in variables]
    for g in gradients():
        for f, idx in groups.items():
            if f:
                opts[f].apply([g[i] for i in idx], [variables[i] for i in idx])
        scale = [np.maximum(s, np.abs(np.asarray(v))) for s, v in zip(scale, variables)]
    return variables, opts, groups, scale


def assert_close_to_rounding(got, want, scale, what, steps=STEPS):
    """Within a few float32 ulp per step of the largest the weight was (the move back rounds
    ``new - old`` to the ulp of the weights it subtracts)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    tol = 4 * steps * np.spacing(np.maximum(scale, 1e-3).astype("float32"))
    bad = np.abs(got - want) > tol
    assert not bad.any(), f"{what}: {got[bad]} != {want[bad]} (tolerance {tol[bad]})"


@pytest.mark.parametrize("factors", list(FACTORS.values()), ids=list(FACTORS))
@pytest.mark.parametrize("name,make,way", OPTIMIZERS, ids=IDS)
def test_each_group_trains_as_keras_rule_at_lr_times_its_factor(name, make, way, factors):
    got, opt, calls = with_multipliers(make, factors)
    want, ref_opts, groups, scale = per_group_reference(make, factors)
    for i, (a, b, c) in enumerate(zip(got, want, scale)):
        assert_close_to_rounding(a, b, c, f"{name} w{i} (factor {factors[i]})")
    # The slots of every group as keras left them, and a frozen group's as they were built.
    ours = slots(opt, got)
    for f, ref in ref_opts.items():
        for key, value in slots(ref, want).items():
            if key == "u_product" and not f:
                continue  # the frozen group's optimizer was never applied
            np.testing.assert_allclose(ours[key], value, rtol=2e-6, atol=1e-7, err_msg=key)
    for i, f in enumerate(factors):
        if not f:
            np.testing.assert_array_equal(np.asarray(got[i]), np.asarray(want[i]))
    assert calls == expected_calls(way, factors)


def expected_calls(way, factors, steps=STEPS):
    """The variables in each call of keras' own update: one call per group, or under eager
    torch one call per step (LERP) or none (ADAM does the update itself)."""
    if BACKEND == "torch" and way == ADAM:
        return []
    if BACKEND == "torch" and way == LERP:
        return [sum(1 for f in factors if f)] * steps
    groups = {}
    for f in factors:
        groups[f] = groups.get(f, 0) + 1
    return [n for f, n in groups.items() if f] * steps


@pytest.mark.parametrize("name,make,way",
                         [o for o in OPTIMIZERS if o[0] in ("adamw", "sgd-wd", "lamb-wd")],
                         ids=["adamw", "sgd-wd", "lamb-wd"])
def test_exclude_from_weight_decay_holds_in_each_group(name, make, way):
    factors = FACTORS["a frozen group"]
    # w2 alone in its group of 1.0 (no decay at all there); w0 among the scaled ones.
    got, _, _ = with_multipliers(make, factors, exclude=["w0", "w2"])
    want, _, _, scale = per_group_reference(make, factors, exclude=["w0", "w2"])
    for i, (a, b, c) in enumerate(zip(got, want, scale)):
        assert_close_to_rounding(a, b, c, f"{name} w{i}")


@pytest.mark.parametrize("name,make,way",
                         [o for o in OPTIMIZERS if o[0] in ("adamw", "nadam", "sgd-momentum")],
                         ids=["adamw", "nadam", "sgd-momentum"])
def test_gradient_accumulation_updates_every_second_step(name, make, way):
    factors = FACTORS["layer decay"]
    got, _, calls = with_multipliers(make, factors, gradient_accumulation_steps=2)
    want, _, _, scale = per_group_reference(make, factors, gradient_accumulation_steps=2)
    for i, (a, b, c) in enumerate(zip(got, want, scale)):
        assert_close_to_rounding(a, b, c, f"{name} w{i}")
    if BACKEND == "torch":  # (JAX's accumulation computes both branches of its cond)
        assert calls == expected_calls(way, factors, STEPS // 2)


def way_of(opt, dtypes=("float32",) * len(SHAPES), factors=(1.0,) * len(SHAPES)):
    """The way the groups of `factors` over variables of `dtypes` take under `opt`."""
    variables = make_variables(dtypes)
    m = mult.Multipliers({id(v): f for v, f in zip(variables, factors)}, opt)
    return m.way(m.groups(variables))


def test_a_scheduled_sgd_momentum_goes_per_group():
    """A momentum the callback schedules is a variable: never 0, so lr is in the buffer."""
    opt = keras.optimizers.SGD(0.1, momentum=0.9)
    assert way_of(opt) == PER_GROUP
    opt.momentum = keras.Variable(0.9)
    assert way_of(opt) == PER_GROUP
    assert way_of(keras.optimizers.SGD(0.1)) == (LERP if BACKEND == "torch" else PER_GROUP)


def test_a_subclass_of_a_keras_optimizer_goes_per_group():
    class MyAdam(keras.optimizers.Adam):
        pass

    assert way_of(MyAdam(0.1)) == PER_GROUP
    assert way_of(keras.optimizers.Adam(0.1)) == (ADAM if BACKEND == "torch" else PER_GROUP)


@pytest.mark.skipif(BACKEND != "torch", reason="torch's compiled step")
def test_inside_a_compiled_torch_step_the_groups_go_per_group(monkeypatch):
    import torch

    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    make = dict((n, mk) for n, mk, _ in OPTIMIZERS)["adamw"]
    factors = FACTORS["two groups"]
    got, _, calls = with_multipliers(make, factors)
    want, _, _, scale = per_group_reference(make, factors)
    for i, (a, b, c) in enumerate(zip(got, want, scale)):
        assert_close_to_rounding(a, b, c, f"w{i}")
    assert calls == [2, 3] * STEPS


@pytest.mark.skipif(BACKEND != "torch", reason="the ways of eager torch")
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("factors", list(FACTORS.values()), ids=list(FACTORS))
@pytest.mark.parametrize("name", ["adam", "adam-amsgrad-wd", "adamw"])
def test_adam_s_own_pass_is_keras_per_group_calls_bit_for_bit(name, factors, dtype,
                                                              monkeypatch):
    """ADAM's ops, and the order and dtypes of its arithmetic, are keras' own at lr * f: the
    weights and slots equal those of one keras call per group (through the same getter), not
    merely within rounding; float16 variables too, whose step size keras computes in float16.
    This fails as soon as a keras release changes its torch Adam or its decay."""
    make = dict((n, mk) for n, mk, _ in OPTIMIZERS)[name]
    dtypes = (dtype,) * len(SHAPES)
    got, opt, calls = with_multipliers(make, factors, dtypes=dtypes)
    assert calls == []
    monkeypatch.setattr(mult.Multipliers, "way", lambda self, groups: PER_GROUP)
    want, ref, ref_calls = with_multipliers(make, factors, dtypes=dtypes)
    assert ref_calls  # keras' update did run, per group
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"w{i}")
    ours, theirs = slots(opt, got), slots(ref, want)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_variables_of_several_dtypes_go_per_group():
    """One keras call computes its step size in its first variable's dtype, one call per group
    in each group's: only the latter is keras' rule per group."""
    mixed = ("float32", "float32", "float16", "float16", "float32")
    for make in (lambda: keras.optimizers.AdamW(0.1), lambda: keras.optimizers.Nadam(0.1)):
        assert way_of(make(), dtypes=mixed) == PER_GROUP
        assert way_of(make(), dtypes=("float16",) * len(SHAPES)) == (
            PER_GROUP if BACKEND != "torch" else way_of(make()))


@pytest.mark.parametrize("name", ["adamw", "nadam", "sgd-momentum"])
def test_every_variable_frozen_moves_nothing(name):
    """Factor 0 everywhere (a warm-up that freezes all): keras' update is not called on an
    empty list (it raises), and no weight or slot moves."""
    make = dict((n, mk) for n, mk, _ in OPTIMIZERS)[name]
    zeros = [0.0] * len(SHAPES)
    got, opt, calls = with_multipliers(make, zeros)
    assert calls == []
    for a, b in zip(got, make_variables()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for key, value in slots(opt, got).items():
        if key != "u_product":
            assert not np.any(value), key


def test_a_fit_leaves_no_cached_tensors_behind():
    """What the one-pass ways keep (the variables' tensors, the lerp's copies of the scaled
    weights) is dropped when the fit's wrappers come off: nothing held past the fit."""
    m = model(opt=keras.optimizers.Lion(0.01), layers=2)
    cb = lrs.LearningRateScheduler([0.01], update="step", lr_multipliers=lrs.layer_decay(m, 0.5))
    fit(m, [cb], epochs=1)
    (target,) = cb._binding.targets
    assert target.multipliers._groups is None


@pytest.mark.skipif(BACKEND != "torch", reason="the ways of eager torch")
def test_adam_with_a_tensor_beta_takes_the_lerp_way():
    opt = keras.optimizers.Adam(0.1)
    opt.beta_1 = keras.ops.convert_to_tensor(0.9)
    assert way_of(opt) == LERP


@pytest.mark.parametrize("kind", ["adamw", "nadam", "sgd-momentum"])
def test_a_fit_with_layer_decay_takes_one_pass_where_it_can(kind, monkeypatch):
    """Through the callback: the weights of the per-group path; under eager torch with no call
    of keras' update for AdamW, one per step for Nadam, one per group for SGD with momentum."""
    opts = {"adamw": lambda: keras.optimizers.AdamW(0.05, weight_decay=0.1),
            "nadam": lambda: keras.optimizers.Nadam(0.05),
            "sgd-momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9)}

    def run():
        m = model(opt=opts[kind](), layers=2)
        calls = counting(m.optimizer)
        rules = {"hidden/bias": 0.0, **lrs.layer_decay(m, 0.5)}  # the first match wins
        fit(m, [lrs.LearningRateScheduler([0.05], update="step", lr_multipliers=rules)], epochs=2)
        return weights(m), calls

    got, calls = run()
    monkeypatch.setattr(mult.Multipliers, "way", lambda self, groups: PER_GROUP)
    want, per_group = run()
    for a, b in zip(got, want):
        if kind == "adamw":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if BACKEND == "torch":  # eager: each step runs the Python (JAX and TF trace it once)
        # The trainable variables: hidden kernel (0.5), hidden bias (0), out (1.0, 1.0).
        assert per_group == [1, 2] * 8
        assert calls == {"adamw": [], "nadam": [3] * 8, "sgd-momentum": [1, 2] * 8}[kind]
