"""Parity with the schedules users migrate from: torch, keras, optax, Hugging Face.

Every case builds a keras_lrsched schedule and asks its twin for the lr at the same steps; the twin
computes its own values here (nothing is hard-coded), so a drift on either side fails. Both paths
are checked: the keras.ops closed form on a vector of steps, and the Numba table.
"""

import math

import numpy as np
import pytest

import keras
import keras_lrsched as lrs

from conftest import assert_lr_close, to_numpy

CASES = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


# ---------------------------------------------------------------------------------------------
# torch.optim.lr_scheduler: step the real scheduler and read the lr the optimizer would use.


def torch_lrs(make_scheduler, lr, n, optimizer="SGD", read="lr"):
    """The lr torch's optimizer uses for updates 0 .. n-1 under `make_scheduler(module, opt)`.

    `read="momentum"`: the momentum instead, where torch's ``cycle_momentum`` puts it: SGD's
    ``momentum``, or ``betas[0]`` of `optimizer="Adam"`.
    """
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    if optimizer == "SGD":
        optimizer = torch.optim.SGD([param], lr=lr, momentum=0.9)
    else:
        optimizer = getattr(torch.optim, optimizer)([param], lr=lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    group = optimizer.param_groups[0]
    values = []
    for k in range(n):
        if read == "momentum":
            values.append(group["betas"][0] if "betas" in group else group["momentum"])
        else:
            values.append(group[read])
        if k < n - 1:  # OneCycleLR raises when stepped past total_steps
            optimizer.step()
            scheduler.step()
    return np.asarray(values, dtype=np.float64)


@case("torch-StepLR")
def _():
    ref = torch_lrs(lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), 0.2, 60)
    return lrs.StepDecay(0.2, factor=0.5, step_size=7), ref


@case("torch-StepLR-gamma-near-1")
def _():
    # A per-step decay with gamma close to 1: float32 rounding of gamma, raised to the 1000th
    # power, would be off by ~1.3e-5 relative; torch multiplies in float64.
    ref = torch_lrs(lambda m, o: m.StepLR(o, step_size=1, gamma=0.999), 1.0, 1000)
    return lrs.StepDecay(1.0, factor=0.999, step_size=1), ref


@case("torch-MultiStepLR")
def _():
    # A repeated milestone drops twice, in torch as here.
    ref = torch_lrs(lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.1), 0.1, 40)
    return lrs.MultiStepDecay(0.1, milestones=[3, 10, 10, 25], factor=0.1), ref


@case("torch-MultiStepLR-many")
def _():
    milestones = list(range(2, 1000))
    ref = torch_lrs(lambda m, o: m.MultiStepLR(o, milestones=milestones, gamma=0.999), 0.5, 1024)
    return lrs.MultiStepDecay(0.5, milestones=milestones, factor=0.999), ref


def _cyclic(mode, up, down, gamma=1.0):
    ref = torch_lrs(
        lambda m, o: m.CyclicLR(
            o, base_lr=0.01, max_lr=0.1, step_size_up=up, step_size_down=down, mode=mode,
            gamma=gamma, cycle_momentum=False,
        ),
        0.01,
        120,
    )
    return (
        lrs.Cyclic(0.01, peak=0.1, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma),
        ref,
    )


@case("torch-CyclicLR-triangular")
def _():
    return _cyclic("triangular", 5, 8)


@case("torch-CyclicLR-triangular-default-down")
def _():
    ref = torch_lrs(
        lambda m, o: m.CyclicLR(o, base_lr=0.0, max_lr=1.0, step_size_up=6, cycle_momentum=False),
        0.0,
        50,
    )
    return lrs.Cyclic(0.0, peak=1.0, step_size_up=6), ref


@case("torch-CyclicLR-triangular2")
def _():
    return _cyclic("triangular2", 4, 4)


@case("torch-CyclicLR-exp_range")
def _():
    return _cyclic("exp_range", 3, 7, gamma=0.99)


def _one_cycle(total, pct, anneal, three_phase, div=25.0, final_div=1e4, max_lr=0.1):
    strategy = "cos" if anneal == "cos" else "linear"
    ref = torch_lrs(
        lambda m, o: m.OneCycleLR(
            o, max_lr=max_lr, total_steps=total, pct_start=pct, anneal_strategy=strategy,
            div_factor=div, final_div_factor=final_div, three_phase=three_phase,
            cycle_momentum=False,
        ),
        max_lr,
        total,
    )
    ours = lrs.OneCycle(
        max_lr,
        steps=total,
        pct_start=pct,
        anneal=anneal,
        div_factor=div,
        final_div_factor=final_div,
        three_phase=three_phase,
    )
    return ours, ref


@case("torch-OneCycleLR-cos")
def _():
    return _one_cycle(100, 0.3, "cos", False)


@case("torch-OneCycleLR-linear")
def _():
    return _one_cycle(77, 0.4, "linear", False, div=10.0, final_div=100.0)


@case("torch-OneCycleLR-cos-three-phase")
def _():
    return _one_cycle(90, 0.3, "cos", True)


@case("torch-OneCycleLR-linear-three-phase")
def _():
    return _one_cycle(101, 0.2, "linear", True, div=5.0, final_div=20.0, max_lr=2.0)


@case("torch-OneCycleLR-whole-phase-ends")
def _():
    # pct_start * steps is a whole number: a phase ends exactly on a step.
    return _one_cycle(200, 0.25, "cos", False)


def _warm_restarts(t0, t_mult, eta_min, n):
    ref = torch_lrs(
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=t0, T_mult=t_mult, eta_min=eta_min),
        0.1,
        n,
    )
    return lrs.CosineRestarts(0.1, period=t0, t_mul=float(t_mult), end=eta_min), ref


@case("torch-CosineAnnealingWarmRestarts-T_mult1")
def _():
    return _warm_restarts(10, 1, 0.001, 95)


@case("torch-CosineAnnealingWarmRestarts-T_mult2")
def _():
    return _warm_restarts(5, 2, 0.0, 320)


@case("torch-CosineAnnealingWarmRestarts-T_mult3")
def _():
    return _warm_restarts(3, 3, 0.002, 400)


# ---------------------------------------------------------------------------------------------
# keras.optimizers.schedules: evaluate keras' own schedule on the same vector of steps.


def keras_lrs(schedule, n):
    return to_numpy(schedule, np.arange(n))  # padded like ours: few shapes for JAX to compile


K = keras.optimizers.schedules


@case("keras-ExponentialDecay")
def _():
    ref = keras_lrs(K.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.96), 300)
    return lrs.ExponentialDecay(0.1, decay_rate=0.96, decay_steps=10), ref


@case("keras-ExponentialDecay-staircase")
def _():
    ref = keras_lrs(K.ExponentialDecay(0.1, decay_steps=7, decay_rate=0.5, staircase=True), 100)
    return lrs.ExponentialDecay(0.1, decay_rate=0.5, decay_steps=7, staircase=True), ref


@case("keras-InverseTimeDecay")
def _():
    ref = keras_lrs(K.InverseTimeDecay(0.1, decay_steps=5, decay_rate=0.5), 200)
    return lrs.TimeDecay(0.1, decay_rate=0.5, decay_steps=5), ref


@case("keras-InverseTimeDecay-staircase")
def _():
    ref = keras_lrs(K.InverseTimeDecay(0.1, decay_steps=6, decay_rate=2.0, staircase=True), 100)
    return lrs.TimeDecay(0.1, decay_rate=2.0, decay_steps=6, staircase=True), ref


@case("keras-PolynomialDecay")
def _():
    ref = keras_lrs(K.PolynomialDecay(0.1, 50, end_learning_rate=0.001, power=2.0), 80)
    return lrs.Polynomial(0.1, end=0.001, steps=50, power=2.0), ref


@case("keras-PolynomialDecay-sqrt")
def _():
    ref = keras_lrs(K.PolynomialDecay(0.3, 45, end_learning_rate=0.01, power=0.5), 60)
    return lrs.Polynomial(0.3, end=0.01, steps=45, power=0.5), ref


@case("keras-PolynomialDecay-Linear")
def _():
    ref = keras_lrs(K.PolynomialDecay(0.1, 30, end_learning_rate=0.02, power=1.0), 50)
    return lrs.Linear(0.1, end=0.02, steps=30), ref


@case("keras-CosineDecay")
def _():
    ref = keras_lrs(K.CosineDecay(0.1, 80, alpha=0.05), 120)
    return lrs.Cosine(0.1, steps=80, end=0.1 * 0.05), ref


@case("keras-CosineDecayRestarts")
def _():
    ref = keras_lrs(K.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.8, alpha=0.1), 300)
    return lrs.CosineRestarts(0.1, period=10, t_mul=2.0, m_mul=0.8, end=0.01), ref


@case("keras-CosineDecayRestarts-t_mul1")
def _():
    ref = keras_lrs(K.CosineDecayRestarts(0.1, 9, t_mul=1.0, m_mul=0.9, alpha=0.0), 100)
    return lrs.CosineRestarts(0.1, period=9, t_mul=1.0, m_mul=0.9), ref


@case("keras-CosineDecayRestarts-t_mul1.5")
def _():
    ref = keras_lrs(K.CosineDecayRestarts(0.2, 7, t_mul=1.5, m_mul=1.0, alpha=0.05), 250)
    return lrs.CosineRestarts(0.2, period=7, t_mul=1.5, end=0.01), ref


# ---------------------------------------------------------------------------------------------
# optax: its schedules are jnp functions of the step count.


def optax_lrs(schedule, n):
    jnp = pytest.importorskip("jax.numpy")
    size = max(64, 1 << (n - 1).bit_length())  # few shapes for JAX to compile
    return np.asarray(schedule(jnp.arange(size)), dtype=np.float64)[:n]


def _optax():
    return pytest.importorskip("optax")


@case("optax-linear_schedule")
def _():
    ref = optax_lrs(_optax().linear_schedule(0.0, 0.1, transition_steps=30), 50)
    return lrs.Linear(0.0, end=0.1, steps=30), ref


@case("optax-cosine_decay_schedule")
def _():
    ref = optax_lrs(_optax().cosine_decay_schedule(0.1, decay_steps=40, alpha=0.2), 60)
    return lrs.Cosine(0.1, steps=40, end=0.1 * 0.2), ref


@case("optax-exponential_decay-end_value")
def _():
    sched = _optax().exponential_decay(0.1, transition_steps=5, decay_rate=0.8, end_value=0.02)
    return lrs.ExponentialDecay(0.1, decay_rate=0.8, decay_steps=5, end=0.02), optax_lrs(sched, 100)


@case("optax-exponential_decay-staircase-end_value")
def _():
    sched = _optax().exponential_decay(
        0.1, transition_steps=4, decay_rate=0.7, staircase=True, end_value=0.03
    )
    return lrs.ExponentialDecay(
        0.1, decay_rate=0.7, decay_steps=4, staircase=True, end=0.03
    ), optax_lrs(sched, 60)


@case("optax-exponential_decay-growing-end_value")
def _():
    sched = _optax().exponential_decay(0.01, transition_steps=3, decay_rate=1.1, end_value=0.05)
    return lrs.ExponentialDecay(0.01, decay_rate=1.1, decay_steps=3, end=0.05), optax_lrs(sched, 80)


@case("optax-join_schedules")
def _():
    optax = _optax()
    sched = optax.join_schedules(
        [
            optax.linear_schedule(0.0, 0.1, 10),
            optax.cosine_decay_schedule(0.1, 30),
            optax.constant_schedule(0.005),
        ],
        boundaries=[10, 40],
    )
    ours = lrs.Join(
        [lrs.Linear(0.0, end=0.1, steps=10), lrs.Cosine(0.1, steps=30), lrs.Constant(0.005)],
        boundaries=[10, 40],
    )
    return ours, optax_lrs(sched, 60)


@case("optax-warmup_cosine_decay_schedule")
def _():
    init, peak, warmup, decay_steps, end = 0.001, 0.1, 12, 80, 0.002
    sched = _optax().warmup_cosine_decay_schedule(init, peak, warmup, decay_steps, end)
    ours = lrs.Warmup(
        lrs.Cosine(peak, steps=decay_steps - warmup, end=end), warmup_steps=warmup, initial=init
    )
    return ours, optax_lrs(sched, 100)


# ---------------------------------------------------------------------------------------------
# Hugging Face (not installed): their definitions, written out here in float64.


def hf_inverse_sqrt(peak, warmup, n):
    s = np.arange(n, dtype=np.float64)
    factor = np.where(s < warmup, s / warmup, np.sqrt(warmup / np.maximum(s, 1.0)))
    return peak * factor


def hf_wsd(peak, warmup, stable, decay, min_lr_ratio, shape, n):
    out = []
    for s in range(n):
        if s < warmup:
            factor = s / max(1, warmup)
        elif s < warmup + stable:
            factor = 1.0
        elif s < warmup + stable + decay:
            progress = (s - warmup - stable) / decay
            curve = {
                "cosine": 0.5 * (1.0 + math.cos(math.pi * progress)),
                "linear": 1.0 - progress,
                "sqrt": 1.0 - math.sqrt(progress),
            }[shape]
            factor = min_lr_ratio + (1.0 - min_lr_ratio) * curve
        else:
            factor = min_lr_ratio
        out.append(peak * factor)
    return np.asarray(out)


@case("hf-inverse_sqrt")
def _():
    return lrs.InverseSqrt(0.01, warmup_steps=16), hf_inverse_sqrt(0.01, 16, 300)


for _shape in ("cosine", "linear", "sqrt"):

    def _wsd(shape=_shape):
        ours = lrs.WarmupStableDecay(
            0.5, warmup_steps=8, stable_steps=12, decay_steps=25, end=0.05, decay=shape
        )
        return ours, hf_wsd(0.5, 8, 12, 25, 0.1, shape, 60)

    CASES[f"hf-wsd-{_shape}"] = _wsd


@case("hf-wsd-no-warmup")
def _():
    ours = lrs.WarmupStableDecay(
        1.0, warmup_steps=0, stable_steps=5, decay_steps=10, decay="linear"
    )
    return ours, hf_wsd(1.0, 0, 5, 10, 0.0, "linear", 20)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_parity(name):
    ours, expected = CASES[name]()
    n = expected.shape[0]
    assert_lr_close(to_numpy(ours, np.arange(n)), expected, what=f"{name}: __call__")
    assert_lr_close(ours.table(n), expected, what=f"{name}: table")
    assert_lr_close(ours.table(n, dtype="float64"), expected, what=f"{name}: table float64")


def test_the_twins_differ_from_each_other():
    # A guard that the comparison above can fail: a twin with other parameters does not match.
    ours, expected = CASES["torch-OneCycleLR-cos"]()
    other = lrs.OneCycle(0.1, steps=100, pct_start=0.31)
    with pytest.raises(AssertionError):
        assert_lr_close(other.table(expected.shape[0]), expected)


def test_one_cycle_holds_its_final_value_where_torch_raises():
    ours, expected = _one_cycle(50, 0.3, "cos", False)
    after = to_numpy(ours, [49, 50, 51, 10_000])
    assert_lr_close(after, np.full(4, expected[-1]))
    assert_lr_close(ours.table(4, start=49), np.full(4, expected[-1]))
