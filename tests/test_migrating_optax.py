"""docs/migrating.md, "From optax": every row against optax's own schedule function."""

import inspect

import numpy as np
import pytest

import keras_lrsched as lrs

from conftest import assert_lr_close, to_numpy
from test_migrating import (
    Case,
    check_cases_match_rows,
    check_every_name_has_a_row,
    check_value_rows,
    params,
)

CASES = {
    "constant_schedule": Case(10, v=0.03),
    "polynomial_schedule-1": [
        Case(60, a=0.1, b=0.001, p=2.0, T=45),
        Case(60, a=0.01, b=0.2, p=0.5, T=30),  # rising
    ],
    "polynomial_schedule-2": Case(70, a=0.1, b=0.01, p=1.5, T=40, t0=12),
    "linear_schedule": [Case(50, a=0.0, b=0.1, T=30), Case(50, a=0.1, b=0.02, T=25)],
    "piecewise_constant_schedule": [
        Case(60, a=0.1, b1=10, s1=0.5, b2=35, s2=0.1),
        Case(60, a=0.1, b1=20, s1=0.1, b2=40, s2=3.0),  # a scale > 1 raises the lr
    ],
    "exponential_decay": [
        Case(100, a=0.1, n=5, r=0.8, t0=0, z=False, e=0.02),
        Case(80, a=0.1, n=4, r=0.7, t0=10, z=True, e=0.03),
        Case(80, a=0.01, n=3, r=1.1, t0=5, z=False, e=0.05),  # growing, to a ceiling
        Case(80, a=0.1, n=7, r=0.9, t0=3, z=False, e=None),
        # decay_rate=1: optax clips with `minimum` (end_value is a ceiling): 0.1 at every count
        Case(20, a=1.0, n=2, r=1.0, t0=3, z=False, e=0.1),
        Case(20, a=1.0, n=2, r=1.0, t0=3, z=True, e=0.1),
    ],
    "cosine_decay_schedule": [
        Case(60, a=0.1, T=40, al=0.2, x=1.0),
        Case(60, a=0.1, T=40, al=0.0, x=2.0),
        Case(60, a=0.5, T=33, al=0.1, x=0.5),
    ],
    "warmup_constant_schedule": Case(30, a=0.001, b=0.1, w=10),
    "warmup_cosine_decay_schedule": [
        Case(100, a=0.001, b=0.1, w=12, T=80, e=0.002, x=1.0),
        Case(100, a=0.0, b=0.1, w=20, T=70, e=0.0, x=3.0),
    ],
    "warmup_exponential_decay_schedule": [
        Case(100, a=0.0, b=0.1, w=10, n=5, r=0.8, t0=0, z=False, e=0.01),
        Case(100, a=0.01, b=0.1, w=8, n=4, r=0.5, t0=6, z=True, e=None),
    ],
    "sgdr_schedule": [
        Case(100, a=0.0, b=0.1, w=5, T=30, e=0.001, k=3),
        Case(60, a=0.01, b=0.1, w=0, T=17, e=0.0, k=3),
    ],
    "piecewise_interpolate_schedule-1": [
        Case(60, a=1.0, b1=10, s1=0.1, b2=35, s2=0.5),
        Case(60, a=0.1, b1=20, s1=5.0, b2=40, s2=0.01),
    ],
    "piecewise_interpolate_schedule-2": [
        Case(60, a=1.0, b1=10, s1=0.1, b2=35, s2=0.5),
        Case(60, a=0.1, b1=20, s1=5.0, b2=40, s2=0.01),
    ],
    "linear_onecycle_schedule": [
        Case(120, T=100, M=0.1, p=0.3, q=0.85, d=25.0, f=1e4),
        Case(90, T=77, M=1.0, p=0.25, q=0.6, d=10.0, f=100.0),
    ],
    "cosine_onecycle_schedule": [
        Case(120, T=100, M=0.1, p=0.3, d=25.0, f=1e4),
        Case(90, T=77, M=1.0, p=0.45, d=10.0, f=100.0),
    ],
    "join_schedules": Case(60, b=0.1, w=10, T=30),
}


def _optax():
    return pytest.importorskip("optax")


def optax_values(schedule, steps):
    """optax's schedule at counts 0 .. steps-1 (vmapped: some take one count at a time),
    on a padded vector (few shapes for JAX to compile)."""
    jax = pytest.importorskip("jax")
    size = max(64, 1 << (steps - 1).bit_length())
    values = jax.vmap(schedule)(jax.numpy.arange(size))
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (size,))[:steps]


def source_namespace(bind):
    namespace = {k: v for k, v in vars(_optax().schedules).items() if not k.startswith("_")}
    namespace.update(bind)
    return namespace


@pytest.mark.parametrize("row", params("optax"))
def test_row(row):
    check_value_rows(row, CASES, source_namespace, optax_values)


def test_every_case_has_a_row():
    check_cases_match_rows("optax", CASES)


def test_every_optax_schedule_has_a_row():
    schedules = _optax().schedules
    names = [
        name
        for name, obj in vars(schedules).items()
        if inspect.isfunction(obj) and not name.startswith(("_", "inject_"))
    ]
    assert "sgdr_schedule" in names and "join_schedules" in names
    check_every_name_has_a_row("optax", names)


@pytest.mark.parametrize("shape", ["cosine", "linear"])
def test_optax_one_cycle_peaks_a_step_later_than_torchs(shape):
    # Why the onecycle rows are Joins: OneCycle follows torch, whose phases end one step earlier.
    optax, T, p = _optax(), 100, 0.3
    if shape == "cosine":
        theirs = optax_values(optax.cosine_onecycle_schedule(T, 0.1, pct_start=p), T)
        torch_like = lrs.OneCycle(0.1, steps=T, pct_start=p)
    else:
        schedule = optax.linear_onecycle_schedule(T, 0.1, pct_start=p, pct_final=2 * p)
        theirs = optax_values(schedule, T)
        torch_like = lrs.OneCycle(0.1, steps=T, pct_start=p, anneal="linear", three_phase=True)
    ours = to_numpy(torch_like, np.arange(T))
    assert int(np.argmax(theirs)) == int(p * T)
    assert int(np.argmax(ours)) == int(p * T) - 1
    with pytest.raises(AssertionError):
        assert_lr_close(ours, theirs)


def test_optax_makes_a_zero_decay_rate_constant_where_ours_raises():
    theirs = optax_values(_optax().exponential_decay(0.1, transition_steps=5, decay_rate=0.0), 20)
    np.testing.assert_allclose(theirs, np.full(20, 0.1), rtol=1e-7)
    with pytest.raises(ValueError, match="decay_rate"):
        lrs.ExponentialDecay(0.1, decay_rate=0.0, decay_steps=5)
