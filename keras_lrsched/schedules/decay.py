"""Monotone decays: constant, time (inverse-time), step, multi-step, piecewise, exponential,
polynomial and linear."""

import math

import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import (
    FLOAT,
    Schedule,
    const_minus,
    imax,
    imin,
    int_const,
    int_dtype,
    peer_names,
    power,
    to_float,
)


def _split(steps, period):
    """(q, r) with steps = q * period + r, in integer arithmetic."""
    period = int_const(period)
    q = steps // period
    return q, steps - q * period


def _progress(steps, period, staircase):
    """steps / period as float32, exact in the whole number of periods."""
    q, r = _split(steps, period)
    p = to_float(q)
    return p if staircase else p + to_float(r) / float(period)


def _count_le(sorted_ints, steps):
    """How many of `sorted_ints` are <= each step (an int tensor shaped like `steps`)."""
    table = int_const(sorted_ints)
    flat = ops.reshape(steps, (-1,))
    idx = ops.searchsorted(table, flat, side="right")
    return ops.reshape(ops.cast(idx, int_dtype()), ops.shape(steps))


@export
class Constant(Schedule):
    """The same learning rate at every step.

    Equal to optax's ``constant_schedule``, and to a float lr given to a keras optimizer.

    Args:
        initial: the learning rate, a finite float >= 0.

    >>> import keras_lrsched as lrs
    >>> float(lrs.Constant(0.1)(1000))
    0.10000000149011612
    """

    _renamed = {"value": "initial"}
    _peer_names = peer_names(**{"optax's constant_schedule": {"value": "initial"}})

    def __init__(self, initial):
        self.initial = _checks.learning_rate("initial", initial)

    def _compute(self, steps):
        return ops.full(ops.shape(steps), self.initial, dtype=FLOAT)

    def _fill(self, out, start):
        out.fill(self.initial)

    def get_config(self):
        return {"initial": self.initial}


@export
class TimeDecay(Schedule):
    """Inverse-time decay: ``initial / (1 + decay_rate * s / decay_steps)``.

    The "time-based decay" of the classic Keras examples; equal to keras' ``InverseTimeDecay``.
    With ``staircase=True`` the ratio ``s / decay_steps`` is floored.

    Args:
        initial: the lr at step 0 (>= 0).
        decay_rate: how fast it falls (>= 0).
        decay_steps: steps per unit of decay (a whole number > 0).
        staircase: decay in whole units of ``decay_steps``.

    >>> import keras_lrsched as lrs
    >>> round(float(lrs.TimeDecay(0.1, decay_rate=1.0, decay_steps=10)(10)), 6)
    0.05
    """

    _peer_names = peer_names(**{"keras' InverseTimeDecay": {"initial_learning_rate": "initial"}})

    def __init__(self, initial, *, decay_rate, decay_steps=1, staircase=False):
        self.initial = _checks.learning_rate("initial", initial)
        self.decay_rate = _checks.learning_rate("decay_rate", decay_rate)
        self.decay_steps = _checks.integer("decay_steps", decay_steps, minimum=1)
        self.staircase = _checks.boolean("staircase", staircase)

    def _compute(self, steps):
        p = _progress(steps, self.decay_steps, self.staircase)
        return self.initial / (1.0 + self.decay_rate * p)

    def _fill(self, out, start):
        from ..kernels import decay

        decay.fill_time_decay(
            out, start, self.initial, self.decay_rate, self.decay_steps, self.staircase
        )

    def get_config(self):
        return {
            "initial": self.initial,
            "decay_rate": self.decay_rate,
            "decay_steps": self.decay_steps,
            "staircase": self.staircase,
        }


@export
class StepDecay(Schedule):
    """``initial * factor ** floor(s / step_size)``: equal to torch ``StepLR(step_size, gamma=factor)``.

    The lr drops AT steps ``step_size, 2 * step_size, ...``.

    Args:
        initial: the lr at step 0 (>= 0).
        factor: the lr is multiplied by it at each drop (>= 0; torch's ``gamma``).
        step_size: the steps between two drops (a whole number > 0).

    >>> import keras_lrsched as lrs
    >>> s = lrs.StepDecay(1.0, factor=0.5, step_size=10)
    >>> [float(s(k)) for k in (9, 10, 20)]
    [1.0, 0.5, 0.25]
    """

    _peer_names = peer_names(**{
        "torch's StepLR": {"gamma": "factor"},
        "timm's StepLRScheduler": {"decay_t": "step_size", "decay_rate": "factor"},
    })

    def __init__(self, initial, *, factor, step_size):
        self.initial = _checks.learning_rate("initial", initial)
        self.factor = _checks.learning_rate("factor", factor)
        self.step_size = _checks.integer("step_size", step_size, minimum=1)

    def _compute(self, steps):
        k = to_float(steps // int_const(self.step_size))
        return self.initial * power(self.factor, k)

    def _fill(self, out, start):
        from ..kernels import decay

        decay.fill_step_decay(out, start, self.initial, self.factor, self.step_size)

    def get_config(self):
        return {"initial": self.initial, "factor": self.factor, "step_size": self.step_size}


@export
class MultiStepDecay(Schedule):
    """The lr drops by ``factor`` at each milestone: equal to torch's ``MultiStepLR``.

    ``initial`` times the factors of the milestones ``<= s``. Milestones must be sorted; a repeated
    milestone drops the lr twice, as in torch. ``factor`` is one number for every drop (torch's
    ``gamma``), or a list with one factor per milestone (optax's
    ``piecewise_constant_schedule(init, boundaries_and_scales)``).

    Args:
        initial: the lr at step 0 (>= 0).
        milestones: the steps at which the lr drops (whole numbers >= 0, sorted).
        factor: the factor of each drop (>= 0), or a list of them as long as ``milestones``.

    >>> import keras_lrsched as lrs
    >>> s = lrs.MultiStepDecay(1.0, milestones=[3, 5], factor=0.1)
    >>> [round(float(s(k)), 6) for k in (2, 3, 5)]
    [1.0, 0.1, 0.01]
    >>> s = lrs.MultiStepDecay(1.0, milestones=[3, 5], factor=[0.5, 0.1])
    >>> [round(float(s(k)), 6) for k in (2, 3, 5)]
    [1.0, 0.5, 0.05]
    """

    _peer_names = peer_names(**{
        "torch's MultiStepLR": {"gamma": "factor"},
        "optax's piecewise_constant_schedule": {
            "init_value": "initial",
            "boundaries_and_scales": "milestones=list(d), factor=list(d.values())",
        },
        "timm's MultiStepLRScheduler": {
            "decay_t": "milestones=[t - 1 for t in decay_t]",
            "decay_rate": "factor",
        },
    })

    def __init__(self, initial, *, milestones, factor):
        self.initial = _checks.learning_rate("initial", initial)
        milestones = _checks.sequence(
            "milestones", milestones, lambda n, v: _checks.integer(n, v, minimum=0), min_len=1
        )
        self.milestones = _checks.increasing("milestones", milestones, strict=False)
        if isinstance(factor, np.ndarray) and factor.ndim == 0:
            factor = factor.item()
        if isinstance(factor, (list, tuple, np.ndarray)):
            self.factor = _checks.sequence("factor", factor, _checks.learning_rate)
            if len(self.factor) != len(self.milestones):
                raise ValueError(
                    "Argument `factor` must be one number or a list with one factor per "
                    f"milestone. Received: factor={factor!r} for {len(self.milestones)} milestones"
                )
            factors = self.factor
        else:
            self.factor = _checks.learning_rate("factor", factor)
            factors = [self.factor] * len(self.milestones)
        # The lr after k drops, multiplied out in float64 as torch does step by step.
        self._values = np.cumprod([self.initial] + factors, dtype=np.float64)

    def _compute(self, steps):
        values = ops.convert_to_tensor(self._values.astype(np.float32))
        return ops.take(values, _count_le(self.milestones, steps))

    def _fill(self, out, start):
        from ..kernels import decay

        decay.fill_piecewise(out, start, np.asarray(self.milestones, np.int64), self._values)

    def get_config(self):
        factor = list(self.factor) if isinstance(self.factor, list) else self.factor
        return {"initial": self.initial, "milestones": list(self.milestones), "factor": factor}


@export
class Piecewise(Schedule):
    """``values[i]`` on the half-open interval ``[boundaries[i-1], boundaries[i])``.

    ``len(values) == len(boundaries) + 1``. Unlike keras' ``PiecewiseConstantDecay``, whose intervals
    are ``(b_{i-1}, b_i]``, a boundary here starts the new value AT that step, like every other
    boundary in keras_lrsched.

    Args:
        values: the lr of each interval (each >= 0).
        boundaries: the steps where the next value starts (whole numbers >= 0, increasing).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Piecewise([1.0, 0.5, 0.25], boundaries=[10, 20])
    >>> [float(s(k)) for k in (9, 10, 20)]
    [1.0, 0.5, 0.25]
    """

    def __init__(self, values, *, boundaries):
        boundaries = _checks.sequence(
            "boundaries", boundaries, lambda n, v: _checks.integer(n, v, minimum=0)
        )
        self.boundaries = _checks.increasing("boundaries", boundaries)
        self.values = _checks.sequence("values", values, _checks.learning_rate, min_len=1)
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                "Argument `values` must have one more item than `boundaries`. "
                f"Received: len(boundaries)={len(self.boundaries)}, len(values)={len(self.values)}"
            )

    def _compute(self, steps):
        values = ops.convert_to_tensor(np.asarray(self.values, dtype=np.float32))
        return ops.take(values, _count_le(self.boundaries, steps))

    def _fill(self, out, start):
        from ..kernels import decay

        decay.fill_piecewise(
            out, start, np.asarray(self.boundaries, np.int64), np.asarray(self.values, np.float64)
        )

    def get_config(self):
        return {"values": list(self.values), "boundaries": list(self.boundaries)}


@export
class ExponentialDecay(Schedule):
    """``initial * decay_rate ** ((s - transition_begin) / decay_steps)``: keras' ``ExponentialDecay``.

    With ``staircase=True`` the exponent is floored. Before ``transition_begin`` the lr holds
    ``initial`` (optax's ``exponential_decay``). ``end``, when given, clips the lr: a floor when
    ``decay_rate < 1``, a ceiling when ``decay_rate > 1`` (optax's ``end_value``).

    Args:
        initial: the lr at step 0 (>= 0).
        decay_rate: the factor per ``decay_steps`` steps (> 0).
        decay_steps: the steps of one unit of decay (a whole number > 0; optax's
            ``transition_steps``).
        staircase: decay in whole units of ``decay_steps``.
        end: optional floor (or ceiling, when ``decay_rate >= 1``) of the lr (>= 0).
        transition_begin: the steps to hold ``initial`` before the decay starts (>= 0).

    >>> import keras_lrsched as lrs
    >>> round(float(lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=10)(20)), 6)
    0.25
    >>> s = lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=10, transition_begin=5)
    >>> [round(float(s(k)), 6) for k in (0, 5, 25)]
    [1.0, 1.0, 0.25]
    """

    _peer_names = peer_names(**{
        "keras' ExponentialDecay": {"initial_learning_rate": "initial"},
        "optax's exponential_decay": {
            "init_value": "initial", "transition_steps": "decay_steps", "end_value": "end",
        },
        "torch's ExponentialLR": {"gamma": "decay_rate"},
    })

    def __init__(
        self, initial, *, decay_rate, decay_steps=1, staircase=False, end=None, transition_begin=0
    ):
        self.initial = _checks.learning_rate("initial", initial)
        self.decay_rate = _checks.positive("decay_rate", decay_rate)
        self.decay_steps = _checks.integer("decay_steps", decay_steps, minimum=1)
        self.staircase = _checks.boolean("staircase", staircase)
        self.end = None if end is None else _checks.learning_rate("end", end)
        self.transition_begin = _checks.integer("transition_begin", transition_begin, minimum=0)

    def _compute(self, steps):
        if self.transition_begin:
            steps = imax(steps - int_const(self.transition_begin), int_const(0))
        p = _progress(steps, self.decay_steps, self.staircase)
        lr = self.initial * ops.exp(p * math.log(self.decay_rate))
        if self.end is not None:
            lr = ops.minimum(lr, self.end) if self.decay_rate >= 1 else ops.maximum(lr, self.end)
        return lr

    def _fill(self, out, start):
        from ..kernels import decay

        def fill(part, first):
            decay.fill_exponential_decay(
                part, first, self.initial, math.log(self.decay_rate), self.decay_steps,
                self.staircase, self.end if self.end is not None else 0.0, self.end is not None,
            )

        # The held steps take the decay's own value at its step 0, as the closed form does.
        n_hold = max(0, min(out.shape[0], self.transition_begin - start))
        if n_hold:
            fill(out[:1], 0)
            out[1:n_hold] = out[0]
        if n_hold < out.shape[0]:
            fill(out[n_hold:], max(start - self.transition_begin, 0))

    def get_config(self):
        return {
            "initial": self.initial,
            "decay_rate": self.decay_rate,
            "decay_steps": self.decay_steps,
            "staircase": self.staircase,
            "end": self.end,
            "transition_begin": self.transition_begin,
        }


@export
class Polynomial(Schedule):
    """``(initial - end) * (1 - min(s, steps) / steps) ** power + end``.

    Equal to keras' ``PolynomialDecay`` (``cycle=False``), optax's ``polynomial_schedule`` and
    torch's ``PolynomialLR`` (with ``end=0``). Holds ``end`` from step ``steps`` on. With
    ``k_decay`` other than 1 it is ``(initial - end) * (1 - (min(s, steps) / steps) ** k_decay)
    ** power + end``: timm's ``PolyLRScheduler(t_initial=steps, power=power, lr_min=end,
    k_decay=k_decay)``.

    Args:
        initial: the lr at step 0 (>= 0).
        end: the lr from step ``steps`` on (>= 0).
        steps: the length of the decay (a whole number > 0).
        power: the exponent of the polynomial (> 0).
        k_decay: the progress is raised to this power (> 0; timm's ``k_decay``).

    References:
        Zhang & Li, "k-decay: A New Method For Learning Rate Schedule", 2020 (arXiv:2004.05909),
        for ``k_decay``.

    >>> import keras_lrsched as lrs
    >>> s = lrs.Polynomial(1.0, end=0.0, steps=10, power=2.0)
    >>> [round(float(s(k)), 6) for k in (0, 5, 10, 99)]
    [1.0, 0.25, 0.0, 0.0]
    """

    _peer_names = peer_names(**{
        "keras' PolynomialDecay": {
            "initial_learning_rate": "initial", "decay_steps": "steps",
            "end_learning_rate": "end",
        },
        "optax's polynomial_schedule": {
            "init_value": "initial", "transition_steps": "steps", "end_value": "end",
        },
        "torch's PolynomialLR": {"total_iters": "steps"},
        "Hugging Face's get_polynomial_decay_schedule_with_warmup": {
            "lr_end": "end", "num_training_steps": "steps=num_training_steps - num_warmup_steps",
        },
        "timm's PolyLRScheduler": {"t_initial": "steps", "lr_min": "end"},
    })

    def __init__(self, initial, *, end=0.0, steps, power=1.0, k_decay=1.0):
        self.initial = _checks.learning_rate("initial", initial)
        self.end = _checks.learning_rate("end", end)
        self.steps = _checks.integer("steps", steps, minimum=1)
        self.power = _checks.positive("power", power)
        self.k_decay = _checks.positive("k_decay", k_decay)

    def _compute(self, steps):
        if self.k_decay != 1.0:
            # 1 - x ** k: near the end as -expm1(k log1p(-r)) from the whole steps left (see
            # fill_polynomial_k), in the first half from x itself. r = 41 / 41 is 0.99999994
            # in float32 under XLA, which left 2.4e-4 at step 0 with k_decay=0.5.
            done = imin(steps, int_const(self.steps))
            left = const_minus(self.steps, done) / float(self.steps)
            early = 1.0 - ops.power(to_float(done) / float(self.steps), self.k_decay)
            late = -ops.expm1(self.k_decay * ops.log1p(-ops.minimum(left, 0.5)))
            rest = ops.where(left > 0.5, early, late)
            return (self.initial - self.end) * ops.power(rest, self.power) + self.end
        # The steps left, counted as an integer: 1 - s / steps in float32 leaves ~6e-8 at
        # s == steps under XLA (which divides by multiplying with 1/steps), and power < 1
        # blows that up (sqrt: 2.4e-4 short of `end`).
        remaining = const_minus(self.steps, imin(steps, int_const(self.steps))) / float(self.steps)
        return (self.initial - self.end) * ops.power(remaining, self.power) + self.end

    def _fill(self, out, start):
        from ..kernels import decay

        if self.k_decay != 1.0:
            decay.fill_polynomial_k(
                out, start, self.initial, self.end, self.steps, self.power, self.k_decay
            )
            return
        decay.fill_polynomial(out, start, self.initial, self.end, self.steps, self.power)

    def _total_steps(self):
        return self.steps

    def get_config(self):
        return {
            "initial": self.initial,
            "end": self.end,
            "steps": self.steps,
            "power": self.power,
            "k_decay": self.k_decay,
        }


@export
class Linear(Polynomial):
    """Linear from ``initial`` at step 0 to ``end`` at step ``steps``, then ``end``.

    Equal to optax's ``linear_schedule``, keras' ``PolynomialDecay(power=1)`` and torch's
    ``LinearLR`` (as factors of the optimizer's lr). A rise works too: ``Linear(0.0, end=0.1,
    steps=100)``.

    Args:
        initial: the lr at step 0 (>= 0).
        end: the lr from step ``steps`` on (>= 0).
        steps: the length of the ramp (a whole number > 0).

    >>> import keras_lrsched as lrs
    >>> [round(float(lrs.Linear(0.0, end=1.0, steps=4)(k)), 6) for k in (0, 1, 4, 8)]
    [0.0, 0.25, 1.0, 1.0]
    """

    _peer_names = peer_names(**{
        "optax's linear_schedule": {
            "init_value": "initial", "transition_steps": "steps", "end_value": "end",
        },
        "torch's LinearLR": {
            "start_factor": "initial=start_factor * lr", "end_factor": "end=end_factor * lr",
            "total_iters": "steps",
        },
    })

    def __init__(self, initial, *, end=0.0, steps):
        super().__init__(initial, end=end, steps=steps, power=1.0)

    def _compute(self, steps):
        fraction = to_float(imin(steps, int_const(self.steps))) / float(self.steps)
        return self.initial + (self.end - self.initial) * fraction

    def get_config(self):
        return {"initial": self.initial, "end": self.end, "steps": self.steps}
