"""Composition: a linear warmup in front of any schedule, and a sequence of schedules (optax's
``join_schedules``)."""

import keras
import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import FLOAT, Schedule, imax, int_const, peer_names, to_float, total_steps
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


def first_value(schedule, dtype=np.float64):
    """The child's lr at step 0 (computed in float64 where the child has a kernel, stored as `dtype`)."""
    out = np.empty(1, dtype)
    fill_child(schedule, out, 0)
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

    Args:
        after: the schedule that follows (any keras LearningRateSchedule).
        warmup_steps: the length of the warmup (a whole number >= 0).
        initial: the lr at step 0 (>= 0).

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017
        (arXiv:1706.02677).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Warmup(lrs.Constant(1.0), warmup_steps=4)
    >>> [float(s(k)) for k in (0, 1, 4, 9)]
    [0.0, 0.25, 1.0, 1.0]
    """

    _renamed = {"steps": "warmup_steps", "start": "initial"}
    _peer_names = peer_names(**{
        "Hugging Face": {"num_warmup_steps": "warmup_steps"},
        "optax's warmup_*_schedule": {"init_value": "initial"},
        "timm": {"warmup_t": "warmup_steps", "warmup_lr_init": "initial"},
        "keras' CosineDecay": {"warmup_target": "after=Cosine(warmup_target, ...)"},
    })

    def __init__(self, after, *, warmup_steps, initial=0.0):
        self.after = _check_schedule("after", _deserialize(after) if isinstance(after, dict) else after)
        self.warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
        self.initial = _checks.learning_rate("initial", initial)

    def _compute(self, steps):
        if not self.warmup_steps:
            return child_value(self.after, steps)
        top = child_value(self.after, ops.zeros((), dtype=steps.dtype))
        warm = self.initial + (top - self.initial) * (to_float(steps) / float(self.warmup_steps))
        n = int_const(self.warmup_steps)
        rest = child_value(self.after, imax(steps - n, int_const(0)))
        return ops.where(steps < n, warm, rest)

    def _fill(self, out, start):
        from ..kernels import decay

        n = out.shape[0]
        w = self.warmup_steps
        n_warm = max(0, min(n, w - start))
        if n_warm:
            # In the table's dtype: a float64 call would compile a second specialization of the
            # child's kernel (~1 s cold) for one value; a float32 top is what the table holds anyway.
            top = first_value(self.after, out.dtype)
            decay.fill_polynomial(out[:n_warm], start, self.initial, top, w, 1.0)
        if n_warm < n:
            fill_child(self.after, out[n_warm:], start + n_warm - w)

    def _total_steps(self):
        rest = total_steps(self.after)
        return None if rest is None else self.warmup_steps + rest

    def get_config(self):
        return {
            "after": _serialize(self.after),
            "warmup_steps": self.warmup_steps,
            "initial": self.initial,
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
