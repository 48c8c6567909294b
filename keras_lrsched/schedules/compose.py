"""Composition: a linear warmup in front of any schedule, and a sequence of schedules (optax's
``join_schedules``)."""

import keras
import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import (
    FLOAT,
    Schedule,
    imax,
    int_const,
    peer_names,
    power,
    to_float,
    total_steps,
)
from ._host import HostSchedule

_LRSchedule = keras.optimizers.schedules.LearningRateSchedule


def _check_schedule(name, value):
    if not isinstance(value, _LRSchedule):
        raise TypeError(
            f"Argument `{name}` must be a keras LearningRateSchedule (any keras_lrsched schedule "
            f"is one). Received: {name}={value!r}"
        )
    return value


def child_value(schedule, steps):
    """A child schedule's lr at integer `steps`, as float32 (keras' own schedules included)."""
    return ops.cast(schedule(steps), FLOAT)


def fill_child(schedule, out, start):
    """Fill `out` (a view) with `schedule`'s lr from step `start`, in place.

    A keras_lrsched child runs its own kernel; any other keras schedule is evaluated on the host
    by keras.ops (`HostSchedule`), a million steps at a time.
    """
    if isinstance(schedule, Schedule):
        schedule._fill(out, start)
        return
    host = HostSchedule(schedule)
    chunk = 1 << 20
    for lo in range(0, out.shape[0], chunk):
        hi = min(out.shape[0], lo + chunk)
        out[lo:hi] = host.values(start + lo, hi - lo)


def first_value(schedule, dtype=np.float64, step=0):
    """The child's lr at `step` (computed in float64 where the child has a kernel, stored as
    `dtype`)."""
    out = np.empty(1, dtype)
    fill_child(schedule, out, step)
    return float(out[0])


def _serialize(schedule):
    return keras.optimizers.schedules.serialize(schedule)


def _deserialize(config):
    return config if isinstance(config, _LRSchedule) else keras.optimizers.schedules.deserialize(config)


@export
class Warmup(Schedule):
    """A linear warmup in front of `after`.

    Linear from ``initial`` at step 0 to exactly ``after(0)`` at step ``warmup_steps``, then
    ``after(s - warmup_steps)``. ``warmup_steps=0`` means no warmup: it is ``after`` at every
    step. ``Warmup(Cosine(peak, steps=decay_steps - warmup, end=end), warmup_steps=warmup,
    initial=init)`` equals optax's ``warmup_cosine_decay_schedule(init, peak, warmup,
    decay_steps, end)``.

    With ``prefix=False`` the warmup is laid over the first ``warmup_steps`` steps of `after`
    instead of put in front of it: the same ramp, then ``after(s)`` at the step itself, as timm's
    schedulers do by default (``warmup_prefix=False``); `after` then goes on from where it is at
    step ``warmup_steps``, not from its start. The ramp still ends at ``after(0)`` (timm's cosine,
    poly and step schedulers ramp to the base lr), or, with ``continuous=True``, at
    ``after(warmup_steps)``, where `after` takes over (timm's ``TanhLRScheduler``).

    Args:
        after: the schedule that follows (any keras LearningRateSchedule).
        warmup_steps: the length of the warmup (a whole number >= 0).
        initial: the lr at step 0 (>= 0).
        prefix: put the warmup in front of `after` (True), or over its first steps (False;
            timm's ``warmup_prefix``).
        continuous: with ``prefix=False``, ramp to ``after(warmup_steps)`` instead of
            ``after(0)`` (with ``prefix=True`` the ramp always ends where `after` starts).

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
        (arXiv:1706.02677).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Warmup(lrs.Constant(1.0), warmup_steps=4)
    >>> [float(s(k)) for k in (0, 1, 4, 9)]
    [0.0, 0.25, 1.0, 1.0]
    >>> s = lrs.Warmup(lrs.Linear(1.0, end=0.0, steps=10), warmup_steps=4, prefix=False)
    >>> [round(float(s(k)), 6) for k in (0, 2, 4, 5)]
    [0.0, 0.5, 0.6, 0.5]
    """

    _renamed = {"steps": "warmup_steps", "start": "initial"}
    _peer_names = peer_names(**{
        "Hugging Face": {"num_warmup_steps": "warmup_steps"},
        "optax's warmup_*_schedule": {"init_value": "initial"},
        "timm": {
            "warmup_t": "warmup_steps", "warmup_lr_init": "initial", "warmup_prefix": "prefix",
        },
        "keras' CosineDecay": {"warmup_target": "after=Cosine(warmup_target, ...)"},
    })

    def __init__(self, after, *, warmup_steps, initial=0.0, prefix=True, continuous=False):
        self.after = _check_schedule("after", _deserialize(after) if isinstance(after, dict) else after)
        self.warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
        self.initial = _checks.learning_rate("initial", initial)
        self.prefix = _checks.boolean("prefix", prefix)
        self.continuous = _checks.boolean("continuous", continuous)

    def _top_step(self):
        """The step of `after` the ramp ends at."""
        return self.warmup_steps if (self.continuous and not self.prefix) else 0

    def _compute(self, steps):
        if not self.warmup_steps:
            return child_value(self.after, steps)
        top = child_value(self.after, int_const(self._top_step()))
        warm = self.initial + (top - self.initial) * (to_float(steps) / float(self.warmup_steps))
        n = int_const(self.warmup_steps)
        rest = child_value(self.after, imax(steps - n, int_const(0)) if self.prefix else steps)
        return ops.where(steps < n, warm, rest)

    def _fill(self, out, start):
        from ..kernels import decay

        n = out.shape[0]
        w = self.warmup_steps
        n_warm = max(0, min(n, w - start))
        if n_warm:
            # In the table's dtype: a float64 call would compile a second specialization of the
            # child's kernel (~1 s cold) for one value; a float32 top is what the table holds anyway.
            top = first_value(self.after, out.dtype, self._top_step())
            decay.fill_polynomial(out[:n_warm], start, self.initial, top, w, 1.0)
        if n_warm < n:
            fill_child(self.after, out[n_warm:], start + n_warm - (w if self.prefix else 0))

    def _total_steps(self):
        rest = total_steps(self.after)
        if rest is None:
            return None
        return self.warmup_steps + rest if self.prefix else max(self.warmup_steps, rest)

    def get_config(self):
        return {
            "after": _serialize(self.after),
            "warmup_steps": self.warmup_steps,
            "initial": self.initial,
            "prefix": self.prefix,
            "continuous": self.continuous,
        }

    @classmethod
    def from_config(cls, config):
        config = cls._current_names(config)
        return cls(**{**config, "after": _deserialize(config["after"])})


@export
class Join(Schedule):
    """Schedules one after another; each child counts from its own boundary.

    ``schedules[i]`` runs on ``[boundaries[i-1], boundaries[i])`` and sees the step
    ``s - boundaries[i-1]``, as in optax's ``join_schedules``. ``len(boundaries)`` must be
    ``len(schedules) - 1``.

    Args:
        schedules: the schedules, in order (any keras LearningRateSchedules).
        boundaries: the steps where the next schedule starts (whole numbers >= 0, increasing).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Join([lrs.Linear(0.0, end=1.0, steps=10), lrs.Cosine(1.0, steps=10)],
    ...              boundaries=[10])
    >>> [round(float(s(k)), 6) for k in (0, 5, 10, 15, 20)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    _peer_names = peer_names(**{
        "torch's SequentialLR": {"milestones": "boundaries", "schedulers": "schedules"},
    })

    def __init__(self, schedules, *, boundaries):
        if not isinstance(schedules, (list, tuple)) or not schedules:
            raise TypeError(
                f"Argument `schedules` must be a non-empty list of schedules. Received: "
                f"schedules={schedules!r}"
            )
        self.schedules = [
            _check_schedule(f"schedules[{i}]", _deserialize(s) if isinstance(s, dict) else s)
            for i, s in enumerate(schedules)
        ]
        boundaries = _checks.sequence(
            "boundaries", boundaries, lambda n, v: _checks.integer(n, v, minimum=0)
        )
        self.boundaries = _checks.increasing("boundaries", boundaries)
        if len(self.boundaries) != len(self.schedules) - 1:
            raise ValueError(
                "Argument `boundaries` must have one item fewer than `schedules`. Received: "
                f"len(schedules)={len(self.schedules)}, boundaries={self.boundaries!r}"
            )

    def _compute(self, steps):
        result = child_value(self.schedules[0], steps)
        for b, schedule in zip(self.boundaries, self.schedules[1:]):
            b = int_const(b)
            value = child_value(schedule, imax(steps - b, int_const(0)))
            result = ops.where(steps < b, result, value)
        return result

    def _fill(self, out, start):
        n = out.shape[0]
        edges = [0] + self.boundaries + [None]
        for i, schedule in enumerate(self.schedules):
            lo = max(edges[i], start) - start
            hi = n if edges[i + 1] is None else min(max(edges[i + 1] - start, 0), n)
            if hi > lo:
                fill_child(schedule, out[lo:hi], start + lo - edges[i])

    def _total_steps(self):
        rest = total_steps(self.schedules[-1])
        return None if rest is None else ([0] + self.boundaries)[-1] + rest

    def get_config(self):
        return {"schedules": [_serialize(s) for s in self.schedules], "boundaries": list(self.boundaries)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@export
class Cycles(Schedule):
    """`after` over and over: timm's restarts (``cycle_limit``, ``cycle_decay``).

    `after` is a schedule that runs from ``after.initial`` at step 0 towards ``after.end`` over
    its ``steps`` (`Cosine`, `Polynomial`, `Linear`, `Tanh`). Cycle ``c`` covers the steps
    ``[c * steps, (c + 1) * steps)`` and runs `after` from its start again, its top scaled to
    ``initial * cycle_decay ** c`` above the same floor::

        lr(s) = end + (after(r) - end) * (initial * cycle_decay ** c - end) / (initial - end)

    with ``c = s // steps`` and ``r = s - c * steps``. After ``cycle_limit`` cycles it holds
    ``end``; with ``cycle_limit=None`` it goes on forever. Equal to timm's ``CosineLRScheduler``,
    ``PolyLRScheduler`` and ``TanhLRScheduler`` with ``cycle_limit`` and ``cycle_decay`` (and
    ``cycle_mul=1``): ``Cycles(Cosine(lr, steps=t_initial, end=lr_min), cycle_limit=n,
    cycle_decay=d)``. timm's ``cycle_mul`` (cycles that grow) is `CosineRestarts`' ``t_mul``
    for the cosine; a cycle of another shape can only be a whole number of steps long here.

    Args:
        after: the schedule of one cycle (a `Cosine`, `Polynomial`, `Linear` or `Tanh`).
        cycle_limit: how many cycles run before the lr holds ``after.end`` (a whole number > 0),
            or None for no limit.
        cycle_decay: each cycle's top is ``cycle_decay`` times the last one's (>= 0; timm's
            ``cycle_decay``); above 1 only with a ``cycle_limit``, or the lr would grow for ever.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017.

    >>> import keras_lrsched as lrs
    >>> s = lrs.Cycles(lrs.Linear(1.0, end=0.0, steps=4), cycle_limit=2, cycle_decay=0.5)
    >>> [float(s(k)) for k in range(10)]
    [1.0, 0.75, 0.5, 0.25, 0.5, 0.375, 0.25, 0.125, 0.0, 0.0]
    """

    _peer_names = peer_names(**{
        "timm": {"cycle_mul": "CosineRestarts(initial, period=t_initial, t_mul=cycle_mul, ...)"},
    })

    def __init__(self, after, *, cycle_limit=None, cycle_decay=1.0):
        after = _deserialize(after) if isinstance(after, dict) else after
        from .cosine import Cosine
        from .decay import Polynomial
        from .tanh import Tanh

        if not isinstance(after, (Cosine, Polynomial, Tanh)):
            raise TypeError(
                "Argument `after` must be a Cosine, Polynomial, Linear or Tanh (one cycle from "
                f"`initial` to `end` over `steps`). Received: after={after!r}"
            )
        self.after = after
        self.cycle_limit = (
            None if cycle_limit is None else _checks.integer("cycle_limit", cycle_limit, minimum=1)
        )
        self.cycle_decay = _checks.learning_rate("cycle_decay", cycle_decay)
        if self.cycle_decay > 1.0 and self.cycle_limit is None:
            raise ValueError(
                "Argument `cycle_decay` must be <= 1 when `cycle_limit` is None: each cycle's "
                "top would grow for ever, to an infinite lr. Pass a `cycle_limit`, or a "
                f"cycle_decay <= 1. Received: cycle_decay={cycle_decay!r}, cycle_limit=None"
            )

    def _scale(self, c):
        """The factor of cycle `c`'s excess over the floor (a float32 tensor)."""
        a = self.after
        height = a.initial - a.end
        if self.cycle_decay == 1.0 or height == 0.0:
            return 1.0
        return (a.initial * power(self.cycle_decay, to_float(c)) - a.end) / height

    def _host_scale(self, c):
        """`_scale` in float64, as the kernel computes it."""
        a = self.after
        height = a.initial - a.end
        if self.cycle_decay == 1.0 or height == 0.0:
            return 1.0
        return (a.initial * self.cycle_decay ** float(c) - a.end) / height

    def _compute(self, steps):
        period = int_const(self.after.steps)
        c = steps // period
        value = child_value(self.after, steps - c * period)
        value = self.after.end + (value - self.after.end) * self._scale(c)
        if self.cycle_limit is not None:
            value = ops.where(c < int_const(self.cycle_limit), value, self.after.end)
        return value

    def _fill(self, out, start):
        from ..kernels import cyclic

        period, n = self.after.steps, out.shape[0]
        first, last = start // period, (start + n - 1) // period
        limit = -1 if self.cycle_limit is None else self.cycle_limit
        if last - first < 4:
            # a few cycles (at most 4, each shorter than the table): each from the child's own
            # kernel, scaled here with the kernel's float64 operations
            for c in range(first, last + 1):
                lo = max(c * period, start) - start
                hi = min((c + 1) * period - start, n)
                if 0 <= limit <= c:
                    out[lo:hi] = self.after.end
                    continue
                part = np.empty(hi - lo, np.float64)
                self.after._fill(part, start + lo - c * period)
                out[lo:hi] = self.after.end + (part - self.after.end) * self._host_scale(c)
            return
        cycle = np.empty(period, np.float64)
        self.after._fill(cycle, 0)
        cyclic.fill_cycles(
            out, start, cycle, self.after.end, self.after.initial, self.cycle_decay, limit
        )

    def _total_steps(self):
        return None if self.cycle_limit is None else self.cycle_limit * self.after.steps

    def get_config(self):
        return {
            "after": _serialize(self.after),
            "cycle_limit": self.cycle_limit,
            "cycle_decay": self.cycle_decay,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "after": _deserialize(config["after"])})
