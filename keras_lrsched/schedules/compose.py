"""Composition: a linear warmup in front of any schedule, and a sequence of schedules (optax's
``join_schedules``)."""

import warnings

import keras
import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import FLOAT, Schedule, as_steps, imax, int_const, to_float

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

    A keras_lrsched child runs its own kernel; keras' own schedules are evaluated with keras.ops.
    """
    if isinstance(schedule, Schedule):
        schedule._fill(out, start)
        return
    chunk = 1 << 20
    for lo in range(0, out.shape[0], chunk):
        hi = min(out.shape[0], lo + chunk)
        # Evaluated on a power-of-two length (and sliced): under JAX every new array length
        # compiles the schedule's ops anew, so tables of many lengths would each pay ~0.5 s.
        size = min(chunk, max(64, 1 << (hi - lo - 1).bit_length()))
        steps = np.arange(start + lo, start + lo + size, dtype=np.int64)
        steps = np.minimum(steps, start + hi - 1)
        out[lo:hi] = _evaluate(schedule, steps)[: hi - lo]


def _evaluate(schedule, steps):
    """A keras schedule's lr at a NumPy vector of steps; step by step if it refuses a vector.

    Some of keras' own schedules branch on the step's value and take only a scalar step:
    ``CosineDecay(warmup_steps=...)`` (``ops.cond``) everywhere, ``PiecewiseConstantDecay``
    under torch.
    """
    try:
        values = np.asarray(keras.ops.convert_to_numpy(schedule(steps)))
        if values.shape == steps.shape:
            return values
    except Exception:  # noqa: BLE001 - whatever the backend raises for a vector in ops.cond
        pass
    warnings.warn(
        f"{type(schedule).__name__} does not take a vector of steps; evaluating it step by "
        "step, which is slow for long tables.",
        RuntimeWarning,
        stacklevel=4,
    )
    unique, where = np.unique(steps, return_inverse=True)  # the padding repeats the last step
    return _step_by_step(schedule, unique)[where]


def mapped_over_steps(schedule):
    """Under JAX, `schedule` mapped over a vector of steps in one compiled call, else None.

    ``jax.vmap`` turns the ``ops.cond`` that makes a keras schedule refuse a vector of steps into
    a select. Calling it may still fail (other control flow on the step's value).
    """
    if keras.backend.backend() != "jax":
        return None
    import jax

    return jax.jit(jax.vmap(schedule))


def _step_by_step(schedule, steps):
    mapped = mapped_over_steps(schedule)
    if mapped is not None:
        try:
            return np.asarray(mapped(steps), np.float64)
        except Exception:  # noqa: BLE001 - fall back to the plain loop below
            pass
    values = [keras.ops.convert_to_numpy(schedule(int(k))) for k in steps]
    return np.asarray(values, np.float64)


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

    Linear from ``start`` at step 0 to exactly ``after(0)`` at step ``steps``, then
    ``after(s - steps)``. ``Warmup(Cosine(peak, decay_steps - warmup, end), warmup, start=init)``
    equals optax's ``warmup_cosine_decay_schedule(init, peak, warmup, decay_steps, end)``.

    Args:
        after: the schedule that follows (any keras LearningRateSchedule).
        steps: the length of the warmup (a whole number > 0).
        start: the lr at step 0 (>= 0).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Warmup(lrs.Constant(1.0), steps=4)
    >>> [float(s(k)) for k in (0, 1, 4, 9)]
    [0.0, 0.25, 1.0, 1.0]
    """

    def __init__(self, after, steps, start=0.0):
        self.after = _check_schedule("after", _deserialize(after) if isinstance(after, dict) else after)
        self.steps = _checks.integer("steps", steps, minimum=1)
        self.start = _checks.learning_rate("start", start)

    def _compute(self, steps):
        top = child_value(self.after, ops.zeros((), dtype=steps.dtype))
        warm = self.start + (top - self.start) * (to_float(steps) / float(self.steps))
        n = int_const(self.steps)
        rest = child_value(self.after, imax(steps - n, int_const(0)))
        return ops.where(steps < n, warm, rest)

    def _fill(self, out, start):
        from ..kernels import decay

        n = out.shape[0]
        n_warm = max(0, min(n, self.steps - start))
        if n_warm:
            # In the table's dtype: a float64 call would compile a second specialization of the
            # child's kernel (~1 s cold) for one value; a float32 top is what the table holds anyway.
            top = first_value(self.after, out.dtype)
            decay.fill_polynomial(out[:n_warm], start, self.start, top, self.steps, 1.0)
        if n_warm < n:
            fill_child(self.after, out[n_warm:], start + n_warm - self.steps)

    def get_config(self):
        return {"after": _serialize(self.after), "steps": self.steps, "start": self.start}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "after": _deserialize(config["after"])})


@export
class Join(Schedule):
    """Schedules one after another; each child counts from its own boundary.

    ``schedules[i]`` runs on ``[boundaries[i-1], boundaries[i])`` and sees the step
    ``s - boundaries[i-1]``, as in optax's ``join_schedules``. ``len(boundaries)`` must be
    ``len(schedules) - 1``.

    >>> import keras_lrsched as lrs
    >>> s = lrs.Join([lrs.Linear(0.0, 1.0, 10), lrs.Cosine(1.0, 10)], boundaries=[10])
    >>> [round(float(s(k)), 6) for k in (0, 5, 10, 15, 20)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """

    def __init__(self, schedules, boundaries):
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

    def get_config(self):
        return {"schedules": [_serialize(s) for s in self.schedules], "boundaries": list(self.boundaries)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
