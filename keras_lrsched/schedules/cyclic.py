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
    """A triangle wave from ``initial`` up to ``peak`` and back: equal to torch's ``CyclicLR``.

    Each cycle rises for ``step_size_up`` steps from ``initial`` to ``peak`` and falls for
    ``step_size_down`` steps (default: ``step_size_up``) back towards ``initial``. The height of
    cycle ``c`` (0-based) is scaled by 1 (``"triangular"``), ``0.5 ** c`` (``"triangular2"``) or
    ``gamma ** s`` (``"exp_range"``), torch's default scale functions. It goes on forever.

    torch's custom ``scale_fn`` has no argument here: a schedule must serialize and run on the
    Numba path. Write such a schedule as a Python function of the step and give it to the
    callback (or to ``precompute``): in step mode its values still go into the compiled step,
    a window at a time (``docs/migrating.md`` shows the torch recipe).

    Args:
        initial: the bottom of the wave, the lr at step 0 (>= 0; torch's ``base_lr``).
        peak: the top of the first cycle (>= ``initial``; torch's ``max_lr``).
        step_size_up: the steps of each rise (a whole number > 0).
        step_size_down: the steps of each fall (a whole number > 0; default ``step_size_up``).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: the per-step factor of ``"exp_range"`` (> 0).

    References:
        Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.

    >>> import keras_lrsched as lrs
    >>> s = lrs.Cyclic(0.0, peak=1.0, step_size_up=2)
    >>> [float(s(k)) for k in range(6)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    """

    _renamed = {"low": "initial", "high": "peak"}

    def __init__(
        self, initial, *, peak, step_size_up, step_size_down=None, mode="triangular", gamma=1.0
    ):
        self.initial = _checks.learning_rate("initial", initial)
        self.peak = _checks.learning_rate("peak", peak)
        if self.peak < self.initial:
            raise ValueError(
                "Argument `peak` must be >= `initial` (the wave rises from `initial` to `peak`). "
                f"Received: initial={initial!r}, peak={peak!r}"
            )
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
        return self.initial + (self.peak - self.initial) * x * scale

    def _fill(self, out, start):
        from ..kernels import cyclic

        cyclic.fill_cyclic(
            out, start, self.initial, self.peak, self.step_size_up, self.step_size_down,
            _CYCLIC_MODES.index(self.mode), math.log(self.gamma),
        )

    def get_config(self):
        return {
            "initial": self.initial,
            "peak": self.peak,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
        }


@export
class OneCycle(Schedule):
    """The one-cycle policy: equal to torch's ``OneCycleLR`` step for step.

    From ``peak / div_factor`` up to ``peak`` over the first ``pct_start`` of the run, then
    down to ``peak / div_factor / final_div_factor`` at step ``steps - 1``; with
    ``three_phase=True`` it comes back down to the start value before the final annealing, as in
    fastai. ``anneal`` is ``"cos"`` or ``"linear"``. Phases end at torch's real-valued steps
    (``pct_start * steps - 1``, ...). Unlike torch, which raises past its total steps, it
    holds the final value from step ``steps - 1`` on.

    The length is ``steps``, or torch's other form: ``epochs`` with ``steps_per_epoch``.

    Args:
        peak: the highest lr (>= 0; torch's ``max_lr``).
        steps: the length of the cycle in optimizer steps (torch's ``total_steps``).
        epochs: with ``steps_per_epoch``, instead of ``steps``: ``steps = epochs *
            steps_per_epoch``.
        steps_per_epoch: see ``epochs``.
        pct_start: the fraction of the steps spent rising (in (0, 1)).
        anneal: ``"cos"`` or ``"linear"`` (torch's ``anneal_strategy``).
        div_factor: the lr at step 0 is ``peak / div_factor`` (> 0).
        final_div_factor: the final lr is ``peak / div_factor / final_div_factor`` (> 0).
        three_phase: fall back to the start value before the final annealing (fastai).

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2018 (arXiv:1708.07120).

    >>> import keras_lrsched as lrs
    >>> s = lrs.OneCycle(1.0, steps=11, pct_start=0.5, anneal="linear", div_factor=10.0,
    ...                  final_div_factor=1.0)
    >>> [round(float(s(k)), 4) for k in (0, 2, 10, 50)]
    [0.1, 0.5, 0.1, 0.1]
    """

    _renamed = {"max_lr": "peak", "total_steps": "steps"}

    def __init__(
        self,
        peak,
        *,
        steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start=0.3,
        anneal="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
    ):
        self.peak = _checks.learning_rate("peak", peak)
        self.steps = _one_cycle_steps(steps, epochs, steps_per_epoch)
        self.pct_start = _checks.open_fraction("pct_start", pct_start)
        self.anneal = _checks.choice("anneal", anneal, _ANNEALS)
        self.div_factor = _checks.positive("div_factor", div_factor)
        self.final_div_factor = _checks.positive("final_div_factor", final_div_factor)
        self.three_phase = _checks.boolean("three_phase", three_phase)
        self._phases = self._build_phases()

    def _build_phases(self):
        """[(start_step, end_step, lr_from, lr_to)], with torch's real-valued step ends."""
        initial = self.peak / self.div_factor
        final = initial / self.final_div_factor
        t, p = float(self.steps), self.pct_start
        if self.three_phase:
            ends = [p * t - 1, 2 * p * t - 2, t - 1]
            lrs = [(initial, self.peak), (self.peak, initial), (initial, final)]
        else:
            ends = [p * t - 1, t - 1]
            lrs = [(initial, self.peak), (self.peak, final)]
        starts = [0.0] + ends[:-1]
        for a, b in zip(starts, ends):
            if not b > a:
                raise ValueError(
                    "Arguments `pct_start` and `steps` leave a phase of the cycle without "
                    f"steps (torch's OneCycleLR divides by zero there). Received: "
                    f"pct_start={self.pct_start!r}, steps={self.steps!r}, "
                    f"three_phase={self.three_phase!r}"
                )
        return [(a, b, lo, hi) for (a, b), (lo, hi) in zip(zip(starts, ends), lrs)]

    def _anneal(self, lr_from, lr_to, pct):
        if self.anneal == "cos":
            return cos_anneal(lr_from, lr_to, pct)
        return lr_from + (lr_to - lr_from) * pct

    def _compute(self, steps):
        steps = imin(steps, int_const(self.steps - 1))
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
            out, start, self.steps - 1, thresholds, a, b, lr_from, lr_to,
            _ANNEALS.index(self.anneal),
        )

    def _total_steps(self):
        return self.steps

    def get_config(self):
        return {
            "peak": self.peak,
            "steps": self.steps,
            "pct_start": self.pct_start,
            "anneal": self.anneal,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }


def _one_cycle_steps(steps, epochs, steps_per_epoch):
    """OneCycle's length: `steps`, or torch's `epochs` * `steps_per_epoch`."""
    if steps is not None:
        if epochs is not None or steps_per_epoch is not None:
            raise ValueError(
                "Pass either `steps`, or `epochs` with `steps_per_epoch`, not both. Received: "
                f"steps={steps!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}"
            )
        return _checks.integer("steps", steps, minimum=1)
    if epochs is None or steps_per_epoch is None:
        raise ValueError(
            "OneCycle needs its length: `steps`, or `epochs` with `steps_per_epoch`. Received: "
            f"steps=None, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}"
        )
    epochs = _checks.integer("epochs", epochs, minimum=1)
    return epochs * _checks.integer("steps_per_epoch", steps_per_epoch, minimum=1)
