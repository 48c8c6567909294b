"""`plot()`: draw a schedule, a table, a training History or the callback's per-step record.

matplotlib is imported on the first call, never with keras_lrsched (install the ``plot`` extra:
``pip install "keras_lrsched[plot]"``). With no display (a server, CI) the Agg backend is chosen,
unless a backend was already picked (``MPLBACKEND``, ``matplotlib.use``, a notebook).
"""

import math
import os
import sys

import keras
import numpy as np

_LRSchedule = keras.optimizers.schedules.LearningRateSchedule

# Above this many steps a schedule is filled by its Numba kernel instead of keras.ops.
_CLOSED_FORM_MAX = 1 << 20
# A line with more points than this is drawn as a min/max envelope of this many bins.
_MAX_POINTS = 100_000
_DEFAULT_STEPS = 1000


def pyplot():
    """matplotlib.pyplot, choosing Agg when there is no display; a clear ImportError without it."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "Plotting needs matplotlib, which is not installed. Install it with: "
            "pip install \"keras_lrsched[plot]\" (or pip install matplotlib)"
        ) from None
    if _headless() and not os.environ.get("MPLBACKEND"):
        # Keras itself may have imported pyplot already; what matters is that no backend is chosen.
        chosen = getattr(matplotlib.rcParams, "_get_backend_or_none", lambda: "unknown")()
        if chosen is None:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _headless():
    if sys.platform.startswith(("linux", "freebsd")):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def default_steps(schedule):
    """How many steps show a schedule whole: its own length where it has one, else 1000.

    A schedule built for a number of steps (Table, OneCycle and OneCycleMomentum, Cosine,
    Polynomial, Linear, WarmupStableDecay, and Warmup or Join ending in one): that many, + 1
    where its last value comes at that step; Cyclic and CyclicMomentum: two cycles;
    CosineRestarts: three cycles; step-like decays: a little past the last drop.
    """
    from . import schedules as s
    from .schedules._base import total_steps
    from .table import Table

    length = total_steps(schedule)
    if length is not None:
        # OneCycle(Momentum) and a Table reach their last value at length - 1; the others at
        # length.
        at_last = (Table, s.OneCycle, s.OneCycleMomentum)
        return length if isinstance(schedule, at_last) else length + 1
    if isinstance(schedule, s.Warmup):
        return schedule.warmup_steps + default_steps(schedule.after)
    if isinstance(schedule, s.Join):
        return ([0] + schedule.boundaries)[-1] + default_steps(schedule.schedules[-1])
    if isinstance(schedule, (s.Cyclic, s.CyclicMomentum)):
        return 2 * (schedule.step_size_up + schedule.step_size_down)
    if isinstance(schedule, s.CosineRestarts):
        t = schedule.t_mul
        return int(min(schedule.period * (1 + t + t * t), 10**7))
    if isinstance(schedule, s.StepDecay):
        return 5 * schedule.step_size
    if isinstance(schedule, s.MultiStepDecay):
        return max(int(schedule.milestones[-1] * 1.25), schedule.milestones[-1] + 1)
    if isinstance(schedule, s.Piecewise) and schedule.boundaries:
        return max(int(schedule.boundaries[-1] * 1.25), schedule.boundaries[-1] + 1)
    if isinstance(schedule, s.ExponentialDecay) and schedule.transition_begin:
        return schedule.transition_begin + 10 * schedule.decay_steps
    if isinstance(schedule, (s.TimeDecay, s.ExponentialDecay)):
        return 10 * schedule.decay_steps if schedule.decay_steps > 1 else _DEFAULT_STEPS
    if isinstance(schedule, s.InverseSqrt):
        return 10 * (schedule.warmup_steps or schedule.timescale)
    return _DEFAULT_STEPS


def _schedule_values(schedule, steps):
    from .schedules import Schedule
    from .table import Table, precompute

    if isinstance(schedule, Table):
        idx = np.minimum(np.arange(steps), len(schedule) - 1)
        return schedule.values[idx]
    if isinstance(schedule, Schedule) and steps <= _CLOSED_FORM_MAX:
        return keras.ops.convert_to_numpy(schedule(np.arange(steps))).astype(np.float64)
    return precompute(schedule, steps).astype(np.float64)


def _lr_key(history):
    for key in ("learning_rate", "lr"):
        if key in history:
            return key
    raise ValueError(
        "This History has no learning rate (keys: "
        f"{sorted(history)}). Train with keras_lrsched.LearningRateScheduler (or keras' own "
        "callback), which logs `learning_rate` every epoch."
    )


def series(obj, steps=None):
    """``(x, lr, x_label, label)`` for anything `plot` accepts (see `plot`); x None: 0, 1, ..."""
    if steps is not None:
        from . import _checks

        steps = _checks.integer("steps", steps, minimum=1)
    if isinstance(obj, _LRSchedule):
        n = default_steps(obj) if steps is None else steps
        y = _schedule_values(obj, n)
        return None, y, "step", type(obj).__name__
    history = getattr(obj, "history", None)
    if isinstance(history, dict) or isinstance(obj, dict):
        record = obj if isinstance(obj, dict) else history
        y = np.asarray(record[_lr_key(record)], dtype=np.float64)
        epochs = getattr(obj, "epoch", None)
        x = np.asarray(epochs) if epochs is not None and len(epochs) == len(y) else np.arange(len(y))
        return _cut(x, y, steps) + ("epoch", "learning_rate")
    if hasattr(obj, "learning_rates") and not isinstance(obj, np.ndarray):
        record = obj.learning_rates
        if record is None or len(record) == 0:
            raise ValueError(
                f"{type(obj).__name__} has no per-step learning rates recorded. Use "
                "LearningRateScheduler(..., update=\"step\") and plot it after model.fit."
            )
        y = np.asarray(record, dtype=np.float64)
        return _cut(None, y, steps) + ("step", "learning rate")
    if isinstance(obj, (np.ndarray, list, tuple)):
        y = np.asarray(obj)
        if y.dtype.kind != "f":
            y = y.astype(np.float64)
        if y.ndim != 1 or y.size == 0:
            raise ValueError(
                f"Argument `obj` must be a non-empty 1-D array of learning rates. Received an "
                f"array of shape {y.shape}"
            )
        return _cut(None, y, steps) + ("step", "learning rate")
    raise TypeError(
        "Argument `obj` must be a schedule, a Table, a 1-D array, a keras History (or its "
        "`.history` dict) or a LearningRateScheduler with a per-step record. Received: "
        f"obj of type {type(obj).__name__}"
    )


def _cut(x, y, steps):
    if steps is None:
        return x, y
    return (None if x is None else x[:steps]), y[:steps]


def envelope(x, y, max_points=_MAX_POINTS):
    """At most ``2 * max_points`` points that keep every spike: the min and max of each bin.

    `x` None stands for ``0, 1, ..., len(y) - 1`` (never materialized for a long series).
    """
    n = y.shape[0]
    if n <= 2 * max_points:
        return (np.arange(n) if x is None else x), y
    size = math.ceil(n / max_points)
    whole = n // size * size
    bins = y[:whole].reshape(-1, size)
    pairs = np.stack([bins.min(axis=1), bins.max(axis=1)], axis=1)
    starts = np.arange(0, whole, size) if x is None else x[:whole:size]
    rest = np.arange(whole, n) if x is None else x[whole:]
    return np.concatenate([np.repeat(starts, 2), rest]), np.concatenate([pairs.ravel(), y[whole:]])


def value_name(obj):
    """What `obj`'s values are: "learning rate", or "momentum" for a momentum schedule."""
    if isinstance(obj, _LRSchedule):
        return getattr(obj, "_value_name", "learning rate")
    return "learning rate"


def plot(obj, steps=None, ax=None, *, ylabel=None, **kwargs):
    """Plot the learning rate of `obj` (or a momentum schedule's momentum); return the Axes.

    Args:
        obj: what to plot:

            * a schedule (keras_lrsched or keras): lr against step;
            * a ``Table`` or a 1-D array of learning rates (e.g. from ``precompute``): lr
              against step;
            * a keras ``History`` (``model.fit``'s return value) or its ``.history`` dict: the
              logged ``learning_rate`` against epoch (0-based, as keras numbers them);
            * a ``LearningRateScheduler(update="step")`` after fit (its ``learning_rates``): lr
              against step.
        steps: how many steps (epochs for a History) to draw. By default all of an array or a
            History, and for a schedule its own length where it has one (``steps``, ...),
            else 1000. Long series (over 200,000 points) are drawn as a min/max envelope, so a
            1e8-step table plots in a second and keeps its spikes.
        ax: the Axes to draw on; by default a new figure.
        ylabel: the label of the y axis; by default "learning rate", or "momentum" for a
            momentum schedule (``OneCycle(...).cycle_momentum()``, ``CyclicMomentum``).
        **kwargs: passed to ``Axes.plot`` (``label``, ``color``, ...).

    Returns:
        The matplotlib Axes, with the x axis labelled "step" or "epoch" and the y axis
        `ylabel`.

    Raises:
        ImportError: when matplotlib is not installed (the message says how to install it).
    """
    x, y, x_label, label = series(obj, steps)
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    x, y = envelope(x, y)
    kwargs.setdefault("label", label)
    ax.plot(x, y, **kwargs)
    ax.set_xlabel(x_label)
    ax.set_ylabel(value_name(obj) if ylabel is None else ylabel)
    return ax
