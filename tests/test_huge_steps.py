"""Correct at every step up to 2**31 - 1 on both paths, on each side of every boundary.

float32 holds every whole number only up to 2**24, so a closed form that divides a float32 step by
a period puts steps near a boundary into the wrong segment once runs get long. The references
here are exact: cycle and phase boundaries in Python integers and fractions, values in float64.
For each schedule every boundary below 2**31 is probed at b - 1, b and b + 1, through
``schedule(steps)`` (keras.ops) and ``schedule.table(3, start=b - 1)`` (Numba).
"""

import bisect
import math
from fractions import Fraction

import numpy as np
import pytest

import keras_lrsched as lrs

from conftest import assert_lr_close, backend_name, to_numpy

LAST = 2**31 - 1  # JAX's step counter is int32 (without x64)
# Inside a segment only the offset is float32: its rounding (up to 128 steps at 2**31 out of a
# segment of ~1e9) moves the lr by less than 1e-6 of the peak.
ATOL_OF_PEAK = 2e-6


def decimal(x):
    """A float parameter as the decimal the user wrote: 1.1 is 11/10, not 1.100000000000000088."""
    return Fraction(repr(float(x)))


def probes(boundaries, extra=()):
    """Steps b - 1, b, b + 1 for every boundary b, plus `extra`, within [0, LAST]."""
    steps = set(extra) | {LAST}
    for b in boundaries:
        steps.update(s for s in (b - 1, b, b + 1) if 0 <= s <= LAST)
    return sorted(steps)


def check(schedule, boundaries, reference, extra=(), peak=1.0):
    """Both paths at every probe step against `reference(step) -> float`."""
    steps = probes(boundaries, extra)
    expected = np.array([reference(s) for s in steps])
    by_call = to_numpy(schedule, steps)
    assert_lr_close(by_call, expected, peak=peak, atol_of_peak=ATOL_OF_PEAK, what="__call__")
    by_table = np.concatenate([schedule.table(1, start=s) for s in steps])
    assert_lr_close(by_table, expected, peak=peak, atol_of_peak=ATOL_OF_PEAK, what="table")
    # A window across each boundary, through the kernel's own loop.
    for b in boundaries:
        if 1 <= b <= LAST - 1:
            window = schedule.table(3, start=b - 1)
            want = np.array([reference(s) for s in (b - 1, b, b + 1)])
            assert_lr_close(window, want, peak=peak, atol_of_peak=ATOL_OF_PEAK, what=f"at {b}")


# ---------------------------------------------------------------------------------------------
# SGDR (CosineRestarts)


class SGDR:
    """Exact SGDR: cycle c starts at the real step period * (t**c - 1) / (t - 1)."""

    def __init__(self, initial, period, t_mul, m_mul, end):
        self.initial, self.period, self.m_mul, self.end = initial, period, m_mul, end
        self.t = decimal(t_mul)
        self.starts, self.lengths = [Fraction(0)], [Fraction(period)]
        while self.t > 1 and self.starts[-1] <= LAST:
            self.starts.append(self.starts[-1] + self.lengths[-1])
            self.lengths.append(self.lengths[-1] * self.t)

    def boundaries(self):
        """The integer steps that open a cycle (the ceiling of each real start); with more than
        a few dozen, the first three and the last three below 2**31."""
        if self.t == 1:
            count = LAST // self.period
            picks = {1, 2, 3, count - 2, count - 1, count} if count > 40 else range(count + 1)
            return [c * self.period for c in sorted(picks) if c >= 1]
        return [math.ceil(s) for s in self.starts[1:] if s <= LAST]

    def __call__(self, step):
        if self.t == 1:
            c = step // self.period
            fraction = (step - c * self.period) / self.period
        else:
            c = bisect.bisect_right(self.starts, step) - 1
            fraction = float((step - self.starts[c]) / self.lengths[c])
        cos_part = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return self.end + (self.initial - self.end) * self.m_mul**c * cos_part


SGDR_CASES = {
    # t_mul = 1: restarts every `period`; about 21 below 2**31.
    "t_mul=1": (1.0, 99_999_989, 1.0, 1.0, 0.01),
    "t_mul=1,m_mul<1": (0.5, 77_777_777, 1.0, 0.9, 0.0),
    "t_mul=1,short-period": (1.0, 1000, 1.0, 1.0, 0.0),
    "t_mul=2": (1.0, 1_000_003, 2.0, 1.0, 0.0),
    "t_mul=2,m_mul<1": (1.0, 999, 2.0, 0.8, 0.05),
    # Real-valued cycle starts: the integer step that opens a cycle is the ceiling of its start.
    "t_mul=1.5": (1.0, 1001, 1.5, 1.0, 0.0),
    "t_mul=1.5,m_mul<1": (1.0, 999, 1.5, 0.97, 0.01),
    "t_mul=1.1": (1.0, 1000, 1.1, 1.0, 0.0),
}


@pytest.mark.parametrize("name", list(SGDR_CASES))
def test_sgdr_every_restart_below_2_31(name):
    initial, period, t_mul, m_mul, end = SGDR_CASES[name]
    reference = SGDR(initial, period, t_mul, m_mul, end)
    boundaries = reference.boundaries()
    schedule = lrs.CosineRestarts(initial, period=period, t_mul=t_mul, m_mul=m_mul, end=end)
    check(schedule, boundaries, reference, extra=(0, 10**8, 1_234_567_891), peak=initial)


def test_sgdr_restart_at_a_real_valued_start_goes_to_its_ceiling():
    # With period 1001 and t_mul 1.5, cycle 29 starts at the real step 255921745.056...: the
    # step 255921745 still ends cycle 28 (lr near `end`), 255921746 opens cycle 29 (the peak).
    reference = SGDR(1.0, 1001, 1.5, 1.0, 0.0)
    assert float(reference.starts[29]) == pytest.approx(255921745.05615, abs=1e-4)
    schedule = lrs.CosineRestarts(1.0, period=1001, t_mul=1.5)
    got = to_numpy(schedule, [255921745, 255921746])
    table = schedule.table(2, start=255921745)
    for values in (got, table):
        assert values[0] < 1e-6
        assert values[1] == pytest.approx(1.0, abs=1e-6)


def test_sgdr_decimal_t_mul_restarts_where_the_user_counts():
    # 1000 + 1100 = 2100 exactly, although 1000 * (1.1**2 - 1) / 0.1 is 2099.9999999999995.
    schedule = lrs.CosineRestarts(1.0, period=1000, t_mul=1.1)
    np.testing.assert_allclose(to_numpy(schedule, [2099, 2100]), [0.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(schedule.table(2, start=2099), [0.0, 1.0], atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Step drops, phases, cycles


def test_step_decay_drops_below_2_31():
    step_size, factor = 1_000_003, 0.999
    schedule = lrs.StepDecay(1.0, factor=factor, step_size=step_size)
    boundaries = list(range(step_size, LAST + 1, step_size))
    boundaries = boundaries[:3] + boundaries[1000:1003] + boundaries[-3:]
    check(schedule, boundaries, lambda s: factor ** (s // step_size), extra=(0,))


def test_step_decay_short_steps_near_2_31():
    step_size, factor = 7, 0.99999999
    schedule = lrs.StepDecay(0.3, factor=factor, step_size=step_size)
    last = LAST // step_size * step_size
    check(schedule, [last - step_size, last], lambda s: 0.3 * factor ** (s // step_size), peak=0.3)


def test_multistep_and_piecewise_huge_milestones():
    milestones = [100_000_000, 1_500_000_000, 2_147_483_000]
    multi = lrs.MultiStepDecay(1.0, milestones=milestones, factor=0.5)
    check(multi, milestones, lambda s: 0.5 ** bisect.bisect_right(milestones, s))
    values = [1.0, 0.7, 0.3, 0.1]
    piecewise = lrs.Piecewise(values, boundaries=milestones)
    check(piecewise, milestones, lambda s: values[bisect.bisect_right(milestones, s)])


def one_cycle_reference(max_lr, total, pct, anneal, three_phase, div=25.0, final_div=1e4,
                        momentum=None):
    """torch's OneCycleLR in exact arithmetic (phase ends are real steps); with `momentum`
    (base_momentum, max_momentum), the momentum it cycles instead of the lr."""
    initial = Fraction(max_lr) / decimal(div)
    final = initial / decimal(final_div)
    p, t = decimal(pct), Fraction(total)
    if three_phase:
        ends = [p * t - 1, 2 * p * t - 2, t - 1]
        lrs_ = [(initial, max_lr), (max_lr, initial), (initial, final)]
    else:
        ends = [p * t - 1, t - 1]
        lrs_ = [(initial, max_lr), (max_lr, final)]
    if momentum is not None:
        base, top = momentum
        lrs_ = [(top, base), (base, top), (top, top)][: len(ends)]
    starts = [Fraction(0)] + ends[:-1]

    def reference(step):
        step = min(step, total - 1)
        k = 0
        while k < len(ends) - 1 and step > ends[k]:
            k += 1
        frac = float((step - starts[k]) / (ends[k] - starts[k]))
        lo, hi = float(lrs_[k][0]), float(lrs_[k][1])
        if anneal == "cos":
            return hi + (lo - hi) * 0.5 * (1.0 + math.cos(math.pi * frac))
        return lo + (hi - lo) * frac

    boundaries = [math.floor(e) + 1 for e in ends] + [math.floor(e) for e in ends]
    return reference, boundaries


@pytest.mark.parametrize(
    "total, pct, anneal, three_phase",
    [
        (2_000_000_000, 0.25, "cos", False),  # phase end on a whole step
        (2_147_483_000, 0.3, "linear", False),  # real-valued phase end
        (1_999_999_999, 0.3, "cos", True),
        (2_147_483_647, 0.45, "linear", True),
    ],
)
def test_one_cycle_phases_near_2e9(total, pct, anneal, three_phase):
    schedule = lrs.OneCycle(1.0, steps=total, pct_start=pct, anneal=anneal, three_phase=three_phase)
    reference, boundaries = one_cycle_reference(1.0, total, pct, anneal, three_phase)
    check(schedule, boundaries, reference, extra=(0, 1, total - 2))
    # and the momentum it cycles, on the same phases
    reference, _ = one_cycle_reference(1.0, total, pct, anneal, three_phase, momentum=(0.5, 1.0))
    check(schedule.cycle_momentum(base=0.5, max=1.0), boundaries, reference,
          extra=(0, 1, total - 2))


@pytest.mark.parametrize(
    "mode, up, down, gamma",
    [
        ("triangular", 123_456_789, 300_000_007, 1.0),
        ("triangular2", 99_999_999, 100_000_001, 1.0),
        ("exp_range", 50_000_017, 70_000_003, 1.0 - 1e-10),
        ("triangular", 3, 4, 1.0),
    ],
)
def test_cyclic_turns_below_2_31(mode, up, down, gamma):
    low, high = 0.01, 1.0
    total = up + down
    schedule = lrs.Cyclic(
        low, peak=high, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma
    )

    def wave(s, start, turn):
        c, pos = divmod(s, total)
        x = pos / up if pos <= up else (total - pos) / down
        scale = {"triangular": 1.0, "triangular2": 0.5**c, "exp_range": gamma**s}[mode]
        return start + (turn - start) * x * scale

    count = LAST // total  # the last cycle that starts below 2**31
    starts = [c * total for c in sorted({0, 1, 2, count - 2, count - 1, count}) if c >= 0]
    boundaries = [b for c in starts for b in (c, c + up) if b <= LAST]
    check(schedule, boundaries, lambda s: wave(s, low, high))
    # and the momentum it cycles: from max down to base where the lr rises
    check(schedule.cycle_momentum(base=0.5, max=1.0), boundaries, lambda s: wave(s, 1.0, 0.5))


def test_warmup_stable_decay_and_inverse_sqrt_near_2e9():
    w, st, d = 500_000_000, 1_000_000_000, 600_000_000
    wsd = lrs.WarmupStableDecay(
        1.0, warmup_steps=w, stable_steps=st, decay_steps=d, end=0.1, decay="sqrt"
    )

    def wsd_ref(s):
        if s < w:
            return s / w
        if s < w + st:
            return 1.0
        p = min(s - w - st, d) / d
        return 0.1 + 0.9 * (1.0 - math.sqrt(p))

    check(wsd, [w, w + st, w + st + d], wsd_ref)

    inv = lrs.InverseSqrt(1.0, warmup_steps=1_000_000_007)
    w = 1_000_000_007
    check(inv, [w], lambda s: s / w if s < w else math.sqrt(w / s))


def test_composites_near_2e9():
    warm = 1_000_000_000
    schedule = lrs.Join(
        [
            lrs.Warmup(lrs.CosineRestarts(1.0, period=300_000_001, t_mul=2.0), warmup_steps=warm),
            lrs.Linear(0.5, end=0.0, steps=100_000_000),
        ],
        boundaries=[2_100_000_000],
    )
    sgdr = SGDR(1.0, 300_000_001, 2.0, 1.0, 0.0)

    def reference(s):
        if s >= 2_100_000_000:
            return 0.5 * (1.0 - min(s - 2_100_000_000, 100_000_000) / 100_000_000)
        if s < warm:
            return s / warm
        return sgdr(s - warm)

    boundaries = [warm] + [warm + b for b in sgdr.boundaries() if warm + b < 2_100_000_000]
    check(schedule, boundaries + [2_100_000_000], reference)


# ---------------------------------------------------------------------------------------------
# Step counts beyond int32: exact on 64-bit step counters (TensorFlow, torch); under JAX without
# x64 the step itself is int32, but a schedule with a longer horizon still works below 2**31.


HORIZON = 3_000_000_000


def _beyond_int32_schedules():
    return [
        lrs.Cosine(1.0, steps=HORIZON, end=0.1),
        lrs.Linear(1.0, end=0.0, steps=HORIZON),
        lrs.Polynomial(1.0, end=0.0, steps=HORIZON, power=2.0),
        lrs.OneCycle(1.0, steps=HORIZON),
        lrs.StepDecay(1.0, factor=0.5, step_size=HORIZON),
        lrs.TimeDecay(1.0, decay_rate=1.0, decay_steps=HORIZON),
        lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=HORIZON, staircase=True),
        lrs.Cyclic(0.0, peak=1.0, step_size_up=HORIZON),
        lrs.CosineRestarts(1.0, period=HORIZON),
        lrs.InverseSqrt(1.0, warmup_steps=HORIZON),
        lrs.WarmupStableDecay(1.0, warmup_steps=HORIZON, stable_steps=10, decay_steps=10),
        lrs.Piecewise([1.0, 0.5], boundaries=[HORIZON]),
        lrs.Warmup(lrs.Constant(1.0), warmup_steps=HORIZON),
        lrs.Join([lrs.Constant(1.0), lrs.Constant(0.5)], boundaries=[HORIZON]),
        # the arguments added in 0.2
        lrs.InverseSqrt(1.0, warmup_steps=0),
        lrs.InverseSqrt(1.0, warmup_steps=10, timescale=HORIZON),
        lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=HORIZON, transition_begin=HORIZON),
        lrs.MultiStepDecay(1.0, milestones=[10, HORIZON, HORIZON], factor=[0.5, 0.2, 0.3]),
        lrs.Cosine(1.0, steps=HORIZON, end=0.1, exponent=0.5, num_cycles=1.5),
        lrs.Warmup(lrs.Cosine(1.0, steps=HORIZON), warmup_steps=0),
        # the momentum schedules
        lrs.OneCycle(1.0, steps=HORIZON, three_phase=True).cycle_momentum(),
        lrs.Cyclic(0.0, peak=1.0, step_size_up=HORIZON).cycle_momentum(),
    ]


@pytest.mark.parametrize("index", range(22))
def test_step_counts_beyond_int32(index):
    schedule = _beyond_int32_schedules()[index]
    if backend_name() == "jax":
        # int32 steps: constants beyond int32 are saturated at 2**31 - 1, the one step where a
        # comparison with them can come out wrong; the counter overflows right after it anyway.
        steps = [0, 5, 10**9, 2**31 - 2]
    else:
        steps = [0, 5, 2**31 - 1, 2**31, HORIZON - 1, HORIZON, HORIZON + 1, 2 * HORIZON + 7]
    expected = np.concatenate([schedule.table(1, start=s) for s in steps])
    assert_lr_close(to_numpy(schedule, steps), expected)


# ---------------------------------------------------------------------------------------------
# A 1e8-step table: finite, non-negative, right at its restarts. One test, ~400 MB, a few seconds:
# the table path does not depend on the Keras backend, so it runs under one backend only.


@pytest.mark.skipif(backend_name() != "jax", reason="backend-independent; run once, under jax")
def test_table_of_1e8_steps_of_warmup_cosine_restarts():
    n = 10**8
    schedule = lrs.Warmup(
        lrs.CosineRestarts(0.1, period=7_000_001, t_mul=2.0, m_mul=0.9), warmup_steps=50_000
    )
    table = schedule.table(n)
    assert table.dtype == np.float32 and table.shape == (n,)
    assert np.isfinite(table).all()
    assert table.min() >= 0.0
    sgdr = SGDR(0.1, 7_000_001, 2.0, 0.9, 0.0)
    steps = [0, 25_000, 49_999, 50_000] + [
        50_000 + s for b in sgdr.boundaries() if 50_000 + b + 1 < n for s in (b - 1, b, b + 1)
    ] + [n - 1]

    def reference(s):
        return 0.1 * s / 50_000 if s < 50_000 else sgdr(s - 50_000)

    assert_lr_close(table[steps], [reference(s) for s in steps], peak=0.1)
