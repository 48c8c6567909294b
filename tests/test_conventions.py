"""The conventions of DESIGN.md and keras_lrsched/schedules/_base.py, each with explicit values.

* step = number of optimizer updates already applied: update k uses lr(k);
* a boundary b starts a new segment AT step b (half-open intervals [b_i, b_{i+1}));
* past its end a decaying schedule holds its end value; Cyclic and CosineRestarts go on; a Table
  holds its last value;
* Warmup(after, warmup_steps=w, initial=a) rises linearly from `a` to exactly after(0) at step
  `w`, then runs after(step - w); Join counts each child from its own boundary;
* a float step is floored, a negative step is treated as 0;
* every schedule takes a scalar or a vector of steps, eagerly and compiled (jax.jit,
  tf.function with and without XLA, torch).

Values are checked on both paths: the keras.ops closed form and the Numba table.
"""

import math

import numpy as np
import pytest

import keras
import keras_lrsched as lrs

from conftest import assert_lr_close, backend_name, to_numpy


def both_paths(schedule, steps):
    """The lr at integer `steps` by __call__ on a vector and by table(), as two arrays."""
    steps = [int(s) for s in steps]
    by_call = to_numpy(schedule, np.asarray(steps, dtype=np.int64))
    by_table = np.array([schedule.table(1, start=s)[0] for s in steps], dtype=np.float64)
    return by_call, by_table


def expect(schedule, values_at):
    """`values_at` maps step -> expected lr; both paths must give it (float32 precision)."""
    steps = list(values_at)
    expected = np.array([values_at[s] for s in steps], dtype=np.float64)
    by_call, by_table = both_paths(schedule, steps)
    peak = max(1e-12, float(np.max(np.abs(expected))))
    assert_lr_close(by_call, expected, peak=peak, what=f"__call__ at {steps}")
    assert_lr_close(by_table, expected, peak=peak, what=f"table at {steps}")


COS = lambda x: 0.5 * (1.0 + math.cos(math.pi * x))  # noqa: E731 - half a cosine, 1 -> 0


# ---------------------------------------------------------------------------------------------
# Step 0, each side of every boundary, and past the end (decays hold their end value).

CASES = {
    "Constant": (lambda: lrs.Constant(0.1), {0: 0.1, 1: 0.1, 10**9: 0.1}),
    "TimeDecay": (
        lambda: lrs.TimeDecay(1.0, decay_rate=1.0, decay_steps=10),
        {0: 1.0, 5: 1 / 1.5, 10: 0.5, 30: 0.25},
    ),
    "TimeDecay-staircase": (
        lambda: lrs.TimeDecay(1.0, decay_rate=1.0, decay_steps=10, staircase=True),
        {0: 1.0, 9: 1.0, 10: 0.5, 19: 0.5, 20: 1 / 3},
    ),
    "StepDecay": (
        lambda: lrs.StepDecay(1.0, factor=0.5, step_size=10),
        {0: 1.0, 9: 1.0, 10: 0.5, 11: 0.5, 19: 0.5, 20: 0.25},
    ),
    "StepDecay-factor-0": (
        lambda: lrs.StepDecay(1.0, factor=0.0, step_size=3),
        {0: 1.0, 2: 1.0, 3: 0.0, 100: 0.0},
    ),
    "MultiStepDecay": (
        lambda: lrs.MultiStepDecay(1.0, milestones=[3, 5], factor=0.1),
        {0: 1.0, 2: 1.0, 3: 0.1, 4: 0.1, 5: 0.01, 10**6: 0.01},
    ),
    "MultiStepDecay-repeated": (
        lambda: lrs.MultiStepDecay(1.0, milestones=[4, 4], factor=0.5),
        {3: 1.0, 4: 0.25},
    ),
    "ExponentialDecay": (
        lambda: lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=10),
        {0: 1.0, 5: 0.5**0.5, 10: 0.5, 20: 0.25},
    ),
    "ExponentialDecay-staircase-end": (
        lambda: lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=10, staircase=True, end=0.2),
        {0: 1.0, 9: 1.0, 10: 0.5, 20: 0.25, 29: 0.25, 30: 0.2, 10**6: 0.2},
    ),
    "ExponentialDecay-growing-end": (
        lambda: lrs.ExponentialDecay(0.1, decay_rate=2.0, decay_steps=1, end=0.5),
        {0: 0.1, 1: 0.2, 2: 0.4, 3: 0.5, 50: 0.5},
    ),
    "Piecewise": (
        lambda: lrs.Piecewise([1.0, 0.5, 0.25], boundaries=[10, 20]),
        {0: 1.0, 9: 1.0, 10: 0.5, 19: 0.5, 20: 0.25, 10**9: 0.25},
    ),
    "Polynomial": (
        lambda: lrs.Polynomial(1.0, end=0.1, steps=10, power=2.0),
        {0: 1.0, 5: 0.1 + 0.9 * 0.25, 9: 0.1 + 0.9 * 0.01, 10: 0.1, 11: 0.1, 10**9: 0.1},
    ),
    "Polynomial-sqrt": (
        lambda: lrs.Polynomial(1.0, end=0.1, steps=16, power=0.5),
        {0: 1.0, 12: 0.1 + 0.9 * 0.5, 15: 0.1 + 0.9 * 0.25, 16: 0.1, 17: 0.1},
    ),
    "Linear": (
        lambda: lrs.Linear(0.0, end=1.0, steps=4),
        {0: 0.0, 1: 0.25, 3: 0.75, 4: 1.0, 5: 1.0, 10**9: 1.0},
    ),
    "Cosine": (
        lambda: lrs.Cosine(1.0, steps=100, end=0.1),
        {0: 1.0, 50: 0.55, 99: 0.1 + 0.9 * COS(0.99), 100: 0.1, 101: 0.1, 10**9: 0.1},
    ),
    "InverseSqrt": (
        lambda: lrs.InverseSqrt(1.0, warmup_steps=100),
        {0: 0.0, 1: 0.01, 99: 0.99, 100: 1.0, 101: math.sqrt(100 / 101), 400: 0.5},
    ),
    "WarmupStableDecay": (
        lambda: lrs.WarmupStableDecay(
            1.0, warmup_steps=10, stable_steps=10, decay_steps=10, end=0.1, decay="linear"
        ),
        {0: 0.0, 9: 0.9, 10: 1.0, 19: 1.0, 20: 1.0, 21: 0.91, 29: 0.19, 30: 0.1, 10**8: 0.1},
    ),
    "WarmupStableDecay-sqrt": (
        lambda: lrs.WarmupStableDecay(
            1.0, warmup_steps=0, stable_steps=5, decay_steps=4, decay="sqrt"
        ),
        {0: 1.0, 4: 1.0, 5: 1.0, 6: 0.5, 8: 1 - math.sqrt(0.75), 9: 0.0, 50: 0.0},
    ),
    "OneCycle": (
        # Phases end at torch's real-valued steps 4.5 and 10: step 4 still rises, 5 falls.
        lambda: lrs.OneCycle(
            1.0,
            steps=11,
            pct_start=0.5,
            anneal="linear",
            div_factor=10.0,
            final_div_factor=1.0,
        ),
        {0: 0.1, 4: 0.1 + 0.9 * 4 / 4.5, 5: 1.0 - 0.9 * 0.5 / 5.5, 10: 0.1, 11: 0.1, 10**7: 0.1},
    ),
    "OneCycle-three-phase": (
        # total 13, pct_start 0.25: phases end at 2.25, 4.5 and 12; 0.25 -> 1 -> 0.25 -> 0.1
        lambda: lrs.OneCycle(
            1.0,
            steps=13,
            pct_start=0.25,
            anneal="linear",
            div_factor=4.0,
            final_div_factor=2.5,
            three_phase=True,
        ),
        {
            0: 0.25,
            2: 0.25 + 0.75 * 2 / 2.25,
            3: 1.0 - 0.75 * 0.75 / 2.25,
            4: 1.0 - 0.75 * 1.75 / 2.25,
            5: 0.25 - 0.15 * 0.5 / 7.5,
            12: 0.1,
            13: 0.1,
        },
    ),
    "Table": (
        lambda: lrs.Table([0.3, 0.2, 0.1]),
        {0: 0.3, 1: 0.2, 2: 0.1, 3: 0.1, 10**9: 0.1},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_step_zero_boundaries_and_past_the_end(name):
    make, values_at = CASES[name]
    expect(make(), values_at)


# ---------------------------------------------------------------------------------------------
# Periodic schedules go on forever.


def test_cosine_restarts_restarts_at_each_period_and_goes_on():
    s = lrs.CosineRestarts(1.0, period=10, end=0.1)
    expect(s, {0: 1.0, 5: 0.55, 9: 0.1 + 0.9 * COS(0.9), 10: 1.0, 15: 0.55, 10**6 + 5: 0.55})


def test_cosine_restarts_t_mul_and_m_mul():
    s = lrs.CosineRestarts(1.0, period=10, t_mul=2.0, m_mul=0.5)
    # cycles [0, 10), [10, 30), [30, 70), ... with peaks 1, 0.5, 0.25
    expect(s, {0: 1.0, 9: COS(0.9), 10: 0.5, 20: 0.25, 29: 0.5 * COS(19 / 20), 30: 0.25, 70: 0.125})


def test_cyclic_goes_on():
    s = lrs.Cyclic(0.0, peak=1.0, step_size_up=2, step_size_down=4)
    # cycle of 6: up over [0, 2], down over [2, 6]
    expect(s, {0: 0.0, 1: 0.5, 2: 1.0, 3: 0.75, 5: 0.25, 6: 0.0, 8: 1.0, 6 * 10**6 + 2: 1.0})


def test_cyclic_triangular2_halves_each_cycle():
    s = lrs.Cyclic(0.0, peak=1.0, step_size_up=2, mode="triangular2")
    expect(s, {2: 1.0, 4: 0.0, 6: 0.5, 10: 0.25, 14: 0.125})


def test_cyclic_exp_range_scales_by_gamma_per_step():
    s = lrs.Cyclic(0.0, peak=1.0, step_size_up=2, mode="exp_range", gamma=0.9)
    expect(s, {0: 0.0, 2: 0.81, 6: 0.9**6, 5: 0.5 * 0.9**5})


# ---------------------------------------------------------------------------------------------
# Warmup and Join


def test_warmup_reaches_exactly_after_0_at_its_last_step():
    after = lrs.Cosine(0.3, steps=100, end=0.03)
    s = lrs.Warmup(after, warmup_steps=10, initial=0.01)
    expect(s, {0: 0.01, 5: 0.01 + 0.29 * 0.5, 9: 0.01 + 0.29 * 0.9, 10: 0.3, 60: 0.165, 110: 0.03})
    # Exactly: the step `warmup_steps` IS after(0), on each path, bit for bit.
    call_at, table_at = both_paths(s, [10, 11, 57])
    after_call, after_table = both_paths(after, [0, 1, 47])
    np.testing.assert_array_equal(call_at, after_call)
    np.testing.assert_array_equal(table_at, after_table)


def test_warmup_of_a_keras_schedule_and_of_a_composite():
    keras_after = keras.optimizers.schedules.ExponentialDecay(0.2, 10, 0.5)
    s = lrs.Warmup(keras_after, warmup_steps=4)
    expect(s, {0: 0.0, 2: 0.1, 4: 0.2, 14: 0.1})
    nested = lrs.Warmup(
        lrs.Join([lrs.Constant(0.4), lrs.Constant(0.1)], boundaries=[3]), warmup_steps=4
    )
    expect(nested, {0: 0.0, 2: 0.2, 4: 0.4, 6: 0.4, 7: 0.1})


def test_join_counts_each_child_from_its_own_boundary():
    children = [lrs.Constant(1.0), lrs.Linear(0.0, end=1.0, steps=10), lrs.Cosine(0.5, steps=4)]
    s = lrs.Join(children, boundaries=[5, 20])
    expect(s, {0: 1.0, 4: 1.0, 5: 0.0, 7: 0.2, 15: 1.0, 19: 1.0, 20: 0.5, 22: 0.25, 24: 0.0})
    expect(s, {10**6: 0.0})


def test_join_of_one_schedule_is_that_schedule():
    expect(
        lrs.Join([lrs.StepDecay(1.0, factor=0.5, step_size=2)], boundaries=[]),
        {0: 1.0, 1: 1.0, 2: 0.5, 5: 0.25},
    )


# ---------------------------------------------------------------------------------------------
# Steps that are not whole or not >= 0 (documented in schedules/_base.py)


def test_float_steps_are_floored():
    s = lrs.StepDecay(1.0, factor=0.5, step_size=10)
    got = to_numpy(s, np.array([0.0, 9.0, 9.99, 10.0, 10.5, 19.999], dtype=np.float32))
    np.testing.assert_array_equal(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    assert float(keras.ops.convert_to_numpy(s(9.7))) == 1.0


def test_negative_steps_are_step_0():
    s = lrs.Warmup(lrs.Constant(1.0), warmup_steps=4, initial=0.2)
    got = to_numpy(s, np.array([-7, -1, 0, 1], dtype=np.int64))
    np.testing.assert_allclose(got, [0.2, 0.2, 0.2, 0.4], rtol=1e-6)
    assert float(keras.ops.convert_to_numpy(s(-2.5))) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="start"):
        s.table(3, start=-1)


# ---------------------------------------------------------------------------------------------
# Update k uses lr(k): the optimizer calls the schedule with its own `iterations`.


def test_update_k_uses_lr_of_k():
    schedule = lrs.Piecewise([1.0, 0.5, 0.25], boundaries=[2, 4])
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    w = keras.Variable(np.zeros(1, dtype=np.float32))
    optimizer.build([w])
    steps_taken = []
    previous = 0.0
    for _ in range(6):
        optimizer.apply_gradients([(keras.ops.ones((1,)), w)])
        current = float(keras.ops.convert_to_numpy(w.value)[0])
        steps_taken.append(previous - current)
        previous = current
    np.testing.assert_allclose(steps_taken, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == 0.25


# ---------------------------------------------------------------------------------------------
# A scalar or a vector of steps, eagerly and compiled. keras' own CosineDecay with a warmup uses
# ops.cond and fails on a vector of steps; ours use ops.where throughout.

STEPS = np.array([0, 1, 5, 9, 10, 11, 30, 31, 57, 58, 200, 1000], dtype=np.int64)


def compiled(fn, jit_compile=None):
    """`fn` compiled the way the active backend compiles a train step."""
    backend = backend_name()
    if backend == "jax":
        import jax

        return jax.jit(fn)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)
    return fn  # torch runs eagerly


def step_tensor(values):
    """Steps as the backend's own integer tensor (int32 where the optimizer counts in int32)."""
    dtype = "int64" if backend_name() == "tensorflow" else "int32"
    return keras.ops.convert_to_tensor(np.asarray(values), dtype=dtype)


def test_vector_and_scalar_steps_eager_and_compiled(example):
    expected = example.table(int(STEPS.max()) + 1)[STEPS].astype(np.float64)
    peak = max(1e-12, float(np.abs(expected).max()))

    def both(vector, scalar):
        return example(vector), example(scalar)

    runs = {"eager": both, "compiled": compiled(both)}
    if backend_name() == "tensorflow":
        runs["xla"] = compiled(both, jit_compile=True)
    for how, run in runs.items():
        vector, scalar = run(step_tensor(STEPS), step_tensor(STEPS[4]))
        vector = np.asarray(keras.ops.convert_to_numpy(vector), dtype=np.float64)
        scalar = np.asarray(keras.ops.convert_to_numpy(scalar), dtype=np.float64)
        assert vector.shape == STEPS.shape and scalar.shape == (), how
        assert_lr_close(vector, expected, peak=peak, what=f"{how} vector")
        assert_lr_close(scalar, expected[4], peak=peak, what=f"{how} scalar")


def test_python_scalars_and_matrices_of_steps():
    s = lrs.Warmup(lrs.Cosine(1.0, steps=10), warmup_steps=2)
    assert float(keras.ops.convert_to_numpy(s(3))) == pytest.approx(COS(0.1), rel=1e-6)
    got = keras.ops.convert_to_numpy(s(np.array([[0, 1], [2, 12]])))
    np.testing.assert_allclose(got, [[0.0, 0.5], [1.0, 0.0]], atol=1e-7)


def test_warmup_cosine_on_a_vector_of_steps():
    # keras' CosineDecay(warmup_steps=...) branches with ops.cond and fails on a vector of steps;
    # the same schedule here is a Warmup around a Cosine, evaluated with ops.where.
    ours = lrs.Warmup(lrs.Cosine(1.0, steps=90), warmup_steps=10)
    steps = np.arange(0, 100, 9)
    expected = [k / 10 if k < 10 else COS((k - 10) / 90) for k in steps]
    assert_lr_close(to_numpy(ours, steps), expected, what="on a vector")
