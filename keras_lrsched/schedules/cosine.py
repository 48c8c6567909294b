"""Cosine decay, and cosine with warm restarts (SGDR, Loshchilov & Hutter 2017)."""

import math
from fractions import Fraction

import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import (
    Schedule,
    cos_anneal,
    imin,
    int_const,
    int_dtype,
    peer_names,
    power,
    to_float,
)

# Cycle starts are tabulated up to here (the largest step a float64 holds exactly).
_LAST_STEP = 2**53
_MAX_CYCLES = 1 << 16
# Exact cycle starts are computed with integers of at most about this many bits.
_EXACT_BITS = 1 << 14


@export
class Cosine(Schedule):
    """Half a cosine from ``initial`` at step 0 to ``end`` at step ``steps``, then ``end``.

    ``lr(s) = end + (initial - end) * ((1 + cos(2 pi num_cycles p)) / 2) ** exponent`` with
    ``p = min(s, steps) / steps``. With the defaults (``num_cycles=0.5``, ``exponent=1``) it is
    equal to keras' ``CosineDecay(initial, steps, alpha=end / initial)``, torch's
    ``CosineAnnealingLR(T_max=steps, eta_min=end)`` over its first ``steps`` steps, optax's
    ``cosine_decay_schedule`` (``exponent`` included) and the decay of Hugging Face's
    ``get_cosine_schedule_with_warmup`` (``num_cycles`` included). Past ``steps`` it holds its
    value at ``steps``, where Hugging Face's goes on along the cosine. For a warmup, wrap it:
    ``Warmup(Cosine(...), warmup_steps=...)``.

    With ``k_decay`` other than 1, ``p = (min(s, steps) / steps) ** k_decay``: timm's
    ``CosineLRScheduler(t_initial=steps, lr_min=end, k_decay=k_decay)``, whose ``t ** k / T ** k``
    it is (k > 1 keeps the lr high for longer, k < 1 lowers it sooner).

    Args:
        initial: the lr at step 0 (>= 0).
        steps: the length of the decay (a whole number > 0).
        end: the lr at step ``steps`` (>= 0).
        exponent: the cosine factor is raised to this power (> 0; optax's ``exponent``).
        num_cycles: how many full cosine periods fit in ``steps`` (> 0; 0.5 is half a cosine,
            Hugging Face's ``num_cycles``).
        k_decay: the progress is raised to this power (> 0; timm's ``k_decay``).

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.
        Zhang & Li, "k-decay: A New Method For Learning Rate Schedule", 2020 (arXiv:2004.05909).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Cosine(1.0, steps=100, end=0.1)
    >>> [round(float(s(k)), 6) for k in (0, 50, 100, 1000)]
    [1.0, 0.55, 0.1, 0.1]
    >>> round(float(lrs.Cosine(1.0, steps=100, k_decay=2.0)(50)), 6)  # cos(pi / 4) at half way
    0.853553
    """

    _peer_names = peer_names(**{
        "torch's CosineAnnealingLR": {"T_max": "steps", "eta_min": "end"},
        "keras' CosineDecay": {
            "initial_learning_rate": "initial", "decay_steps": "steps",
            "alpha": "end=alpha * initial", "warmup_target": "Warmup(Cosine(warmup_target, ...))",
        },
        "optax's cosine_decay_schedule": {
            "init_value": "initial", "decay_steps": "steps", "alpha": "end=alpha * initial",
        },
        "Hugging Face's get_cosine_schedule_with_warmup": {
            "num_training_steps": "steps=num_training_steps - num_warmup_steps",
        },
        "Hugging Face's get_cosine_with_min_lr_schedule_with_warmup": {
            "min_lr": "end", "min_lr_rate": "end=min_lr_rate * initial",
        },
        "timm's CosineLRScheduler": {"t_initial": "steps", "lr_min": "end"},
    })
    # A warmup is a schedule of its own, whatever the library calls its length.
    _peer_names.update(
        {k: ("Warmup(Cosine(...), warmup_steps=...)", "a warmup of keras, optax, Hugging Face or timm")
         for k in ("warmup_steps", "num_warmup_steps", "warmup_t")}
    )

    def __init__(
        self, initial, *, steps, end=0.0, exponent=1.0, num_cycles=0.5, k_decay=1.0
    ):
        self.initial = _checks.learning_rate("initial", initial)
        self.steps = _checks.integer("steps", steps, minimum=1)
        self.end = _checks.learning_rate("end", end)
        self.exponent = _checks.positive("exponent", exponent)
        self.num_cycles = _checks.positive("num_cycles", num_cycles)
        self.k_decay = _checks.positive("k_decay", k_decay)

    def _compute(self, steps):
        fraction = to_float(imin(steps, int_const(self.steps))) / float(self.steps)
        if self.k_decay != 1.0:
            fraction = ops.power(fraction, self.k_decay)
        if self.exponent == 1.0 and self.num_cycles == 0.5:
            return cos_anneal(self.initial, self.end, fraction)
        # (1 + cos 2x) / 2 as cos(x)**2: the sum cancels in float32 near the end of the decay,
        # and an exponent < 1 would magnify that (8e-5 of the peak with exponent=0.5).
        shape = ops.square(ops.cos((math.pi * self.num_cycles) * fraction))
        if self.exponent != 1.0:
            shape = ops.power(shape, self.exponent)
        return self.end + (self.initial - self.end) * shape

    def _fill(self, out, start):
        from ..kernels import cosine

        if self.k_decay != 1.0:
            cosine.fill_cosine_k(
                out, start, self.initial, self.steps, self.end, self.exponent, self.num_cycles,
                self.k_decay,
            )
            return
        cosine.fill_cosine(
            out, start, self.initial, self.steps, self.end, self.exponent, self.num_cycles
        )

    def _total_steps(self):
        return self.steps

    def get_config(self):
        return {
            "initial": self.initial,
            "steps": self.steps,
            "end": self.end,
            "exponent": self.exponent,
            "num_cycles": self.num_cycles,
            "k_decay": self.k_decay,
        }


def _cycle_start(period, t_mul, c, a, b):
    """Where cycle `c` of an SGDR schedule starts: ``(first whole step, first - real start)``.

    The real start is ``period * (t_mul**c - 1) / (t_mul - 1)``, with `t_mul` read as the decimal
    a user wrote, ``a / b`` (1.1 is 11/10): float64 gives 2099.9999999999995 for the second
    restart of period 1000, t_mul 1.1, which is 2100. float64 decides the ceiling unless the
    start lies within its rounding error of a whole number; then exact integer arithmetic does,
    as long as its numbers stay small (beyond that, with t_mul very close to 1 and thousands of
    cycles, the float64 ceiling stands). Rounding such starts to the nearest whole number
    instead would put the step just before a real start like 255921745.06 into the next cycle,
    at the peak.
    """
    x = period * (t_mul**c - 1.0) / (t_mul - 1.0)
    # float64 error of x: about (c + 4) ulps of x + period / (t_mul - 1), with a 2x margin
    tol = 2.0 * (c + 4) * 2.0**-52 * (x + period / (t_mul - 1.0))
    if abs(x - round(x)) > tol or c * a.bit_length() > _EXACT_BITS:
        first = math.ceil(x)
        return first, first - x
    # period * (t**c - 1) / (t - 1) == num / den, without normalising huge fractions
    num = period * b * (a**c - b**c)
    den = b**c * (a - b)
    first = -(-num // den)
    return first, (first * den - num) / den


def restart_cycles(period, t_mul, m_mul):
    """The cycles of an SGDR schedule with t_mul > 1, as NumPy arrays.

    Returns ``(starts, start_frac, lengths, amplitudes)``: cycle c covers the integer steps
    ``[starts[c], starts[c+1])``, begins at the real step ``starts[c] - start_frac[c]``, lasts
    ``lengths[c]`` steps and peaks at ``amplitudes[c] = m_mul ** c`` of the full height.
    The last entry of ``starts`` is a sentinel past 2**53.
    """
    decimal = Fraction(repr(t_mul))
    a, b = decimal.numerator, decimal.denominator
    starts, fracs, lengths, amps = [], [], [], []
    first, frac, length, amp = 0, 0.0, float(period), 1.0
    while first <= _LAST_STEP:
        starts.append(first)
        fracs.append(frac)
        lengths.append(length)
        amps.append(amp)
        first, frac = _cycle_start(period, t_mul, len(starts), a, b)
        length = period * t_mul ** len(starts)
        amp *= m_mul
        if len(starts) > _MAX_CYCLES:
            break
    starts.append(min(first, 2**63 - 1))
    return (
        np.asarray(starts, np.int64),
        np.asarray(fracs, np.float64),
        np.asarray(lengths, np.float64),
        np.asarray(amps, np.float64),
    )


@export
class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR).

    Cycle ``c`` lasts ``period * t_mul ** c`` steps and runs a half cosine from
    ``end + (initial - end) * m_mul ** c`` down to ``end``; at its last step the next cycle restarts
    from its peak. Equal to keras' ``CosineDecayRestarts(initial, period, t_mul, m_mul,
    alpha=end / initial)`` and, for whole ``t_mul`` and ``m_mul=1``, to torch's
    ``CosineAnnealingWarmRestarts``. It goes on forever (it never holds).

    The cycle of a step is found with integer arithmetic (cycle starts are tabulated in float64 at
    construction), so every step up to 2**31 - 1, and up to 2**53 where the step counter is 64-bit,
    lands in the right cycle; float32 holds only the offset inside the cycle.

    Args:
        initial: the lr at step 0, the top of the first cycle (>= 0).
        period: the length of the first cycle (a whole number > 0).
        t_mul: each cycle is ``t_mul`` times as long as the last (>= 1).
        m_mul: each peak is ``m_mul`` times the last (>= 0).
        end: the floor every cycle decays to (>= 0).

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    >>> import keras_lrsched as lrs
    >>> s = lrs.CosineRestarts(1.0, period=10, t_mul=2.0)
    >>> [round(float(s(k)), 6) for k in (0, 5, 10, 20, 30)]
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    _peer_names = peer_names(**{
        "torch's CosineAnnealingWarmRestarts": {"T_0": "period", "T_mult": "t_mul", "eta_min": "end"},
        "keras' CosineDecayRestarts": {
            "initial_learning_rate": "initial", "first_decay_steps": "period",
            "alpha": "end=alpha * initial",
        },
    })

    def __init__(self, initial, *, period, t_mul=1.0, m_mul=1.0, end=0.0):
        self.initial = _checks.learning_rate("initial", initial)
        self.period = _checks.integer("period", period, minimum=1)
        self.t_mul = _checks.real("t_mul", t_mul)
        if self.t_mul < 1.0:
            raise ValueError(
                "Argument `t_mul` must be >= 1 (with t_mul < 1 the cycles shrink to nothing). "
                f"Received: t_mul={t_mul!r}"
            )
        self.m_mul = _checks.learning_rate("m_mul", m_mul)
        self.end = _checks.learning_rate("end", end)
        self._cycles = None
        if self.t_mul > 1.0:
            self._cycles = restart_cycles(self.period, self.t_mul, self.m_mul)
            if self._cycles[0][-1] <= 2**31:
                raise ValueError(
                    f"Argument `t_mul` is too close to 1 for period={self.period}: more than "
                    f"{_MAX_CYCLES} restarts before step 2**31. Received: t_mul={t_mul!r}"
                )

    def _compute(self, steps):
        if self._cycles is None:
            period = int_const(self.period)
            c = steps // period
            fraction = to_float(steps - c * period) / float(self.period)
            amplitude = power(self.m_mul, to_float(c))
        else:
            starts, start_frac, lengths, amplitudes = self._cycles
            if int_dtype() == "int32":
                keep = int(np.searchsorted(starts, 2**31 - 1, side="right")) + 1
                starts, start_frac = starts[:keep], start_frac[:keep]
                starts = np.minimum(starts, 2**31 - 1)
            starts_t = ops.convert_to_tensor(starts, dtype=int_dtype())
            flat = ops.reshape(steps, (-1,))
            c = ops.cast(ops.searchsorted(starts_t, flat, side="right"), int_dtype()) - 1
            c = ops.reshape(ops.minimum(c, len(starts) - 2), ops.shape(steps))
            first = ops.take(starts_t, c)
            frac0 = ops.take(ops.convert_to_tensor(start_frac.astype(np.float32)), c)
            length = ops.take(ops.convert_to_tensor(lengths[: len(starts)].astype(np.float32)), c)
            amplitude = ops.take(
                ops.convert_to_tensor(amplitudes[: len(starts)].astype(np.float32)), c
            )
            fraction = ops.minimum((to_float(steps - first) + frac0) / length, 1.0)
        return self.end + (self.initial - self.end) * amplitude * 0.5 * (
            1.0 + ops.cos(math.pi * fraction)
        )

    def _fill(self, out, start):
        from ..kernels import cosine

        if self._cycles is None:
            cosine.fill_cosine_restarts_fixed(
                out, start, self.initial, self.period, self.m_mul, self.end
            )
        else:
            cosine.fill_cosine_restarts(out, start, self.initial, self.end, *self._cycles)

    def get_config(self):
        return {
            "initial": self.initial,
            "period": self.period,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "end": self.end,
        }
