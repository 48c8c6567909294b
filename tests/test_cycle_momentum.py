"""The momentum torch cycles against the lr (``cycle_momentum=True``): `OneCycleMomentum` and
`CyclicMomentum`, made by ``OneCycle(...).cycle_momentum()`` and ``Cyclic(...).cycle_momentum()``.

torch's side steps a real OneCycleLR / CyclicLR and reads, before each update, the momentum the
optimizer uses: SGD's ``momentum``, Adam's ``betas[0]``. Ours is read both ways: keras.ops on a
vector of steps and the Numba table. Past the end: OneCycleMomentum holds ``max`` (torch
raises), CyclicMomentum goes on. Bad arguments are in test_args.py; serialization, the two paths
against each other and steps up to 2**31 in the generic suites (the examples of conftest.py).
"""

import numpy as np
import pytest

import keras_lrsched as lrs
from keras_lrsched.schedules._base import total_steps

from conftest import to_numpy
from test_parity import torch_lrs

RTOL, ATOL = 1e-6, 1e-7  # float32 precision
OPTIMIZERS = ["SGD", "Adam"]  # momentum, betas[0]
# None: torch's defaults, and ours (0.85 / 0.95 for OneCycleLR, 0.8 / 0.9 for CyclicLR)
MOMENTA = [None, (0.6, 0.99)]

ONE_CYCLE = {
    "cos": dict(steps=100, pct_start=0.3, anneal="cos"),
    "linear": dict(steps=77, pct_start=0.4, anneal="linear"),
    "cos-three-phase": dict(steps=90, pct_start=0.3, anneal="cos", three_phase=True),
    "linear-three-phase-odd": dict(steps=101, pct_start=0.2, anneal="linear", three_phase=True),
    "cos-whole-phase-ends": dict(steps=200, pct_start=0.25, anneal="cos"),
    "cos-odd-short": dict(steps=13, pct_start=0.45, anneal="cos"),
}
CYCLIC = {
    "triangular": dict(step_size_up=5, step_size_down=8, mode="triangular"),
    "triangular2": dict(step_size_up=4, step_size_down=9, mode="triangular2"),
    "exp_range": dict(step_size_up=3, step_size_down=7, mode="exp_range", gamma=0.99),
    "default-down": dict(step_size_up=6),
}


def momentum_kwargs(momenta, base="base", top="max"):
    return {} if momenta is None else {base: momenta[0], top: momenta[1]}


def assert_both_paths(schedule, expected, what):
    n = len(expected)
    for path, values in (("__call__", to_numpy(schedule, np.arange(n))),
                         ("table", schedule.table(n))):
        np.testing.assert_allclose(values, expected, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{what} ({path})")


@pytest.mark.parametrize("momenta", MOMENTA, ids=["defaults", "given"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("name", list(ONE_CYCLE))
def test_one_cycle_momentum_is_torch_s_step_for_step(name, optimizer, momenta):
    args = ONE_CYCLE[name]
    total = args["steps"]
    expected = torch_lrs(
        lambda m, o: m.OneCycleLR(
            o, max_lr=0.1, total_steps=total, pct_start=args["pct_start"],
            anneal_strategy=args["anneal"], three_phase=args.get("three_phase", False),
            cycle_momentum=True, **momentum_kwargs(momenta, "base_momentum", "max_momentum"),
        ),
        0.1, total, optimizer=optimizer, read="momentum",
    )
    ours = lrs.OneCycle(0.1, **args).cycle_momentum(**momentum_kwargs(momenta))
    assert isinstance(ours, lrs.OneCycleMomentum)
    assert_both_paths(ours, expected, f"OneCycleLR {name} {optimizer} {momenta}")


@pytest.mark.parametrize("momenta", MOMENTA, ids=["defaults", "given"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("name", list(CYCLIC))
def test_cyclic_momentum_is_torch_s_step_for_step(name, optimizer, momenta):
    args = CYCLIC[name]
    expected = torch_lrs(
        lambda m, o: m.CyclicLR(
            o, base_lr=0.01, max_lr=0.1, cycle_momentum=True,
            **args, **momentum_kwargs(momenta, "base_momentum", "max_momentum"),
        ),
        0.01, 120, optimizer=optimizer, read="momentum",
    )
    ours = lrs.Cyclic(0.01, peak=0.1, **args).cycle_momentum(**momentum_kwargs(momenta))
    assert isinstance(ours, lrs.CyclicMomentum)
    assert_both_paths(ours, expected, f"CyclicLR {name} {optimizer} {momenta}")


def test_the_momentum_falls_where_the_lr_rises():
    lr = lrs.Cyclic(0.0, peak=1.0, step_size_up=4, step_size_down=6)
    momentum = lr.cycle_momentum(base=0.8, max=0.9)
    # momentum = max - (max - base) * (lr - initial) / (peak - initial), at every step
    np.testing.assert_allclose(momentum.table(40), 0.9 - 0.1 * lr.table(40), rtol=RTOL)
    lr = lrs.OneCycle(1.0, steps=50, anneal="linear", div_factor=10.0, final_div_factor=1.0)
    momentum = lr.cycle_momentum(base=0.8, max=0.9)
    np.testing.assert_allclose(
        momentum.table(50), 0.9 - 0.1 * (lr.table(50) - 0.1) / 0.9, rtol=RTOL, atol=ATOL
    )


# ---------------------------------------------------------------------------------------------
# Past the end


@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_momentum_holds_max_from_its_last_step(three_phase):
    m = lrs.OneCycle(0.1, steps=37, three_phase=three_phase).cycle_momentum(base=0.7, max=0.93)
    steps = [36, 37, 38, 100, 10**6]
    if not three_phase:  # (three phases: back at max at step 2 * 0.3 * 37 - 2, held from there)
        assert float(m.table(1, start=35)[0]) < np.float32(0.93)  # still climbing at step 35
    np.testing.assert_allclose(to_numpy(m, steps), 0.93, rtol=RTOL)
    np.testing.assert_allclose([m.table(1, start=s)[0] for s in steps], 0.93, rtol=RTOL)
    np.testing.assert_array_equal(m.table(20, start=36), np.float32(0.93))


def test_cyclic_momentum_goes_on():
    m = lrs.Cyclic(0.0, peak=1.0, step_size_up=2, step_size_down=4).cycle_momentum()
    # a cycle of 6: from 0.9 down to 0.8 at step 2, back up to 0.9 at step 6
    first = [0.9, 0.85, 0.8, 0.825, 0.85, 0.875]
    for start in (0, 6, 6 * 10**6):
        steps = np.arange(start, start + 6)
        np.testing.assert_allclose(to_numpy(m, steps), first, rtol=RTOL)
        np.testing.assert_allclose(m.table(6, start=start), first, rtol=RTOL)
    halving = lrs.Cyclic(0.0, peak=1.0, step_size_up=2, mode="triangular2").cycle_momentum()
    # the dip of cycle c is 0.1 * 0.5**c deep: at step 4c + 2
    turns = [4 * c + 2 for c in range(5)]
    expected = [0.9 - 0.1 * 0.5**c for c in range(5)]
    np.testing.assert_allclose(to_numpy(halving, turns), expected, rtol=RTOL)
    np.testing.assert_allclose([halving.table(1, start=s)[0] for s in turns], expected, rtol=RTOL)


# ---------------------------------------------------------------------------------------------
# What the method makes


def test_the_method_copies_the_lr_s_shape_and_nothing_else():
    lr = lrs.OneCycle(0.3, epochs=4, steps_per_epoch=25, pct_start=0.25, anneal="linear",
                      div_factor=10.0, three_phase=True)
    m = lr.cycle_momentum(base=0.8, max=0.9)
    assert m.get_config() == {"base": 0.8, "max": 0.9, "steps": 100, "pct_start": 0.25,
                              "anneal": "linear", "three_phase": True, "convention": "torch"}
    assert total_steps(m) == total_steps(lr) == 100
    assert repr(m) == ("OneCycleMomentum(base=0.8, max=0.9, steps=100, pct_start=0.25, "
                       "anneal='linear', three_phase=True, convention='torch')")
    same = lrs.OneCycleMomentum(0.8, max=0.9, steps=100, pct_start=0.25, anneal="linear",
                                three_phase=True)
    np.testing.assert_array_equal(same.table(120), m.table(120))

    c = lrs.Cyclic(0.01, peak=0.1, step_size_up=3, mode="exp_range", gamma=0.99).cycle_momentum()
    assert c.get_config() == {"base": 0.8, "max": 0.9, "step_size_up": 3, "step_size_down": 3,
                              "mode": "exp_range", "gamma": 0.99}
    assert total_steps(c) is None  # periodic, as the lr
    assert repr(c) == ("CyclicMomentum(base=0.8, max=0.9, step_size_up=3, step_size_down=3, "
                       "mode='exp_range', gamma=0.99)")


def test_momentum_may_be_any_finite_value_from_0_that_base_does_not_exceed():
    # torch takes momentum in [0, 1]; here base <= max, both finite and >= 0 (Cyclic's own
    # check, peak >= initial, is the lr's and not the momentum's)
    flat = lrs.Cyclic(0.0, peak=1.0, step_size_up=3).cycle_momentum(base=0.9, max=0.9)
    np.testing.assert_array_equal(flat.table(10), np.float32(0.9))
    wide = lrs.OneCycle(0.1, steps=20).cycle_momentum(base=0.0, max=1.5)
    assert wide.table(1)[0] == np.float32(1.5) and wide.table(20).min() >= 0.0
