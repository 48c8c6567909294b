"""Cyclical learning rates (Smith 2017) and the one-cycle policy (Smith & Topin 2018)."""

import math

import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import FLOAT, Schedule, const_minus, cos_anneal, imin, int_const, offset, to_float

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
_ANNEALS = ("cos", "linear")


@export
class Cyclic(Schedule):
    """A triangle wave between ``low`` and ``high``: equal to torch's ``CyclicLR``.

    Each cycle rises for ``step_size_up`` steps from ``low`` to ``high`` and falls for
    ``step_size_down`` steps (default: ``step_size_up``) back towards ``low``. The height of cycle
    ``c`` (0-based) is scaled by 1 (``"triangular"``), ``0.5 ** c`` (``"triangular2"``) or
    ``gamma ** s`` (``"exp_range"``), torch's default scale functions. It goes on forever.

    >>> import keras_lrsched as lrs
    >>> s = lrs.Cyclic(0.0, 1.0, step_size_up=2)
    >>> [float(s(k)) for k in range(6)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    """

    def __init__(self, low, high, step_size_up, step_size_down=None, mode="triangular", gamma=1.0):
        self.low = _checks.learning_rate("low", low)
        self.high = _checks.learning_rate("high", high)
        self.step_size_up = _checks.integer("step_size_up", step_size_up, minimum=1)
        self.step_size_down = (
            self.step_size_up
            if step_size_down is None
            else _checks.integer("step_size_down", step_size_down, minimum=1)
        )
        self.mode = _checks.choice("mode", mode, _CYCLIC_MODES)
        self.gamma = _checks.positive("gamma", gamma)

    def _compute(self, steps):
        up, down = self.step_size_up, self.step_size_down
        c = steps // int_const(up + down)
        pos = steps - c * int_const(up + down)
        rising = pos <= int_const(up)
        x = ops.where(rising, to_float(pos) / float(up), const_minus(up + down, pos) / float(down))
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = ops.power(ops.cast(0.5, FLOAT), to_float(c))
        else:
            scale = ops.exp(to_float(steps) * math.log(self.gamma))
        return self.low + (self.high - self.low) * x * scale

    def _fill(self, out, start):
        from ..kernels import cyclic

        cyclic.fill_cyclic(
            out, start, self.low, self.high, self.step_size_up, self.step_size_down,
            _CYCLIC_MODES.index(self.mode), math.log(self.gamma),
        )

    def get_config(self):
        return {
            "low": self.low,
            "high": self.high,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
        }


@export
class OneCycle(Schedule):
    """The one-cycle policy: equal to torch's ``OneCycleLR`` step for step.

    From ``max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start`` of the run, then
    down to ``max_lr / div_factor / final_div_factor`` at step ``total_steps - 1``; with
    ``three_phase=True`` it comes back down to the start value before the final annealing, as in
    fastai. ``anneal`` is ``"cos"`` or ``"linear"``. Phases end at torch's real-valued steps
    (``pct_start * total_steps - 1``, ...). Unlike torch, which raises past ``total_steps``, it
    holds the final value from step ``total_steps - 1`` on.

    >>> import keras_lrsched as lrs
    >>> s = lrs.OneCycle(1.0, total_steps=11, pct_start=0.5, anneal="linear", div_factor=10.0,
    ...                  final_div_factor=1.0)
    >>> [round(float(s(k)), 4) for k in (0, 2, 10, 50)]
    [0.1, 0.5, 0.1, 0.1]
    """

    def __init__(
        self,
        max_lr,
        total_steps,
        pct_start=0.3,
        anneal="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
    ):
        self.max_lr = _checks.learning_rate("max_lr", max_lr)
        self.total_steps = _checks.integer("total_steps", total_steps, minimum=1)
        self.pct_start = _checks.open_fraction("pct_start", pct_start)
        self.anneal = _checks.choice("anneal", anneal, _ANNEALS)
        self.div_factor = _checks.positive("div_factor", div_factor)
        self.final_div_factor = _checks.positive("final_div_factor", final_div_factor)
        self.three_phase = _checks.boolean("three_phase", three_phase)
        self._phases = self._build_phases()

    def _build_phases(self):
        """[(start_step, end_step, lr_from, lr_to)], with torch's real-valued step ends."""
        initial = self.max_lr / self.div_factor
        final = initial / self.final_div_factor
        t, p = float(self.total_steps), self.pct_start
        if self.three_phase:
            ends = [p * t - 1, 2 * p * t - 2, t - 1]
            lrs = [(initial, self.max_lr), (self.max_lr, initial), (initial, final)]
        else:
            ends = [p * t - 1, t - 1]
            lrs = [(initial, self.max_lr), (self.max_lr, final)]
        starts = [0.0] + ends[:-1]
        for a, b in zip(starts, ends):
            if not b > a:
                raise ValueError(
                    "Arguments `pct_start` and `total_steps` leave a phase of the cycle without "
                    f"steps (torch's OneCycleLR divides by zero there). Received: "
                    f"pct_start={self.pct_start!r}, total_steps={self.total_steps!r}, "
                    f"three_phase={self.three_phase!r}"
                )
        return [(a, b, lo, hi) for (a, b), (lo, hi) in zip(zip(starts, ends), lrs)]

    def _anneal(self, lr_from, lr_to, pct):
        if self.anneal == "cos":
            return cos_anneal(lr_from, lr_to, pct)
        return lr_from + (lr_to - lr_from) * pct

    def _compute(self, steps):
        steps = imin(steps, int_const(self.total_steps - 1))
        result = None
        # Walk the phases from last to first; an earlier phase wins on its own steps.
        for a, b, lr_from, lr_to in reversed(self._phases):
            pct = offset(steps, a) / (b - a)
            value = self._anneal(lr_from, lr_to, pct)
            if result is None:
                result = value
            else:
                result = ops.where(steps <= int_const(math.floor(b)), value, result)
        return ops.cast(result, FLOAT)

    def _fill(self, out, start):
        from ..kernels import cyclic

        a, b, lr_from, lr_to = (np.asarray(col, np.float64) for col in zip(*self._phases))
        thresholds = np.floor(b).astype(np.int64)
        cyclic.fill_one_cycle(
            out, start, self.total_steps - 1, thresholds, a, b, lr_from, lr_to,
            _ANNEALS.index(self.anneal),
        )

    def get_config(self):
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal": self.anneal,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }
