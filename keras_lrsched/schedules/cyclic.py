"""Cyclical learning rates (Smith 2017), the one-cycle policy (Smith & Topin 2018), and the
momentum torch cycles against each (``cycle_momentum=True``; Smith 2018)."""

import math

import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import (
    FLOAT,
    Schedule,
    const_minus,
    cos_anneal,
    hint_names,
    imin,
    int_const,
    offset,
    peer_names,
    to_float,
)

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
# torch's names of the momentum range, in the momentum classes and in `cycle_momentum()`.
_MOMENTUM_NAMES = peer_names(**{
    "torch's OneCycleLR and CyclicLR": {"base_momentum": "base", "max_momentum": "max"},
})
_CYCLE_MOMENTUM = "LearningRateScheduler(lr, momentum=lr.cycle_momentum(base=..., max=...))"
_ANNEALS = ("cos", "linear")
# Where the phases of a one-cycle end: torch's OneCycleLR at pct_start * steps - 1 and
# steps - 1, fastai's fit_one_cycle at pct_start * steps and steps (it anneals on i / steps).
_CONVENTIONS = ("torch", "fastai")


class _Wave(Schedule):
    """torch's ``CyclicLR`` wave, shared by the lr (`Cyclic`) and the momentum (`CyclicMomentum`).

    ``value(step) = start + (turn - start) * x * scale`` with ``(start, turn) = self._ends()``:
    ``x`` rises from 0 to 1 over ``step_size_up`` steps and falls back over ``step_size_down``,
    ``scale`` is the mode's. `turn` may be below `start` (the momentum goes down as the lr goes up).
    """

    def _set_wave(self, step_size_up, step_size_down, mode, gamma):
        self.step_size_up = _checks.integer("step_size_up", step_size_up, minimum=1)
        self.step_size_down = (
            self.step_size_up
            if step_size_down is None
            else _checks.integer("step_size_down", step_size_down, minimum=1)
        )
        self.mode = _checks.choice("mode", mode, _CYCLIC_MODES)
        self.gamma = _checks.positive("gamma", gamma)

    def _ends(self):
        raise NotImplementedError

    def _compute(self, steps):
        start, turn = self._ends()
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
        return start + (turn - start) * x * scale

    def _fill(self, out, start):
        from ..kernels import cyclic

        low, high = self._ends()
        cyclic.fill_cyclic(
            out, start, low, high, self.step_size_up, self.step_size_down,
            _CYCLIC_MODES.index(self.mode), math.log(self.gamma),
        )

    def _wave_config(self):
        return {
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
        }


@export
class Cyclic(_Wave):
    """A triangle wave from ``initial`` up to ``peak`` and back: equal to torch's ``CyclicLR``.

    Each cycle rises for ``step_size_up`` steps from ``initial`` to ``peak`` and falls for
    ``step_size_down`` steps (default: ``step_size_up``) back towards ``initial``. The height of
    cycle ``c`` (0-based) is scaled by 1 (``"triangular"``), ``0.5 ** c`` (``"triangular2"``) or
    ``gamma ** s`` (``"exp_range"``), torch's default scale functions. It goes on forever.
    ``cycle_momentum()`` gives the momentum torch cycles against it (`CyclicMomentum`).

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
    _peer_names = peer_names(**{
        "torch's CyclicLR": {
            "base_lr": "initial", "max_lr": "peak", "scale_mode": "a function of the step",
            "scale_fn": "a function of the step (docs/migrating.md, cyclic_scaled)",
            **dict.fromkeys(["cycle_momentum", *_MOMENTUM_NAMES], _CYCLE_MOMENTUM),
        },
    })

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
        self._set_wave(step_size_up, step_size_down, mode, gamma)

    def _ends(self):
        return self.initial, self.peak

    @hint_names(lambda: _MOMENTUM_NAMES, "cycle_momentum")
    def cycle_momentum(self, *, base=0.8, max=0.9):  # noqa: A002 - torch's name, max_momentum
        """The momentum torch's ``CyclicLR(cycle_momentum=True)`` cycles against this lr.

        Args:
            base: the momentum at the top of the lr's wave (torch's ``base_momentum``).
            max: the momentum at step 0 and at the bottom of the lr's wave (torch's
                ``max_momentum``).

        Returns:
            A `CyclicMomentum` with this schedule's step sizes, mode and gamma.

        >>> import keras_lrsched as lrs
        >>> m = lrs.Cyclic(0.0, peak=1.0, step_size_up=2).cycle_momentum(base=0.8, max=0.9)
        >>> [round(float(m(k)), 4) for k in range(6)]
        [0.9, 0.85, 0.8, 0.85, 0.9, 0.85]
        """
        return CyclicMomentum(base, max=max, **self._wave_config())

    def get_config(self):
        return {"initial": self.initial, "peak": self.peak, **self._wave_config()}


@export
class CyclicMomentum(_Wave):
    """The momentum of torch's ``CyclicLR(cycle_momentum=True)``: down while the lr goes up.

    A triangle wave from ``max`` at step 0 down to ``base`` and back, on the steps of the lr's
    wave (usually made by ``Cyclic.cycle_momentum``, which copies them)::

        momentum(step) = max - (max - base) * x(step) * scale(step)

    with the lr's ``x`` (0 at the start of a cycle, 1 after ``step_size_up`` steps, 0 again after
    ``step_size_down`` more) and scale (1, ``0.5 ** c`` for cycle ``c`` or ``gamma ** step``),
    so that the lr ``initial + (peak - initial) * x * scale`` and the momentum move in opposite
    directions. Its values are those torch puts in the optimizer's ``momentum`` (SGD, RMSprop)
    or ``betas[0]`` (Adam and its kin) for update ``k``, step for step; in keras that is SGD's and
    RMSprop's ``momentum`` or Adam's ``beta_1``, which the callback schedules:
    ``LearningRateScheduler(lr, momentum=lr.cycle_momentum(), update="step")``. It goes on
    forever, like the lr.

    Args:
        base: the momentum at the top of the lr's wave (>= 0 and <= ``max``; torch's
            ``base_momentum``).
        max: the momentum at step 0 and at the bottom of the lr's wave (finite, >= 0; torch's
            ``max_momentum``).
        step_size_up: the steps of each rise of the lr, each fall of the momentum (a whole
            number > 0).
        step_size_down: the steps of each fall of the lr (a whole number > 0; default
            ``step_size_up``).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``, as the lr's.
        gamma: the per-step factor of ``"exp_range"`` (> 0).

    References:
        Smith, "A disciplined approach to neural network hyper-parameters: Part 1", 2018
        (arXiv:1803.09820).

    >>> import keras_lrsched as lrs
    >>> m = lrs.CyclicMomentum(0.8, max=0.9, step_size_up=2, step_size_down=3)
    >>> [round(float(m(k)), 4) for k in range(6)]
    [0.9, 0.85, 0.8, 0.8333, 0.8667, 0.9]
    """

    _value_name = "momentum"
    _peer_names = _MOMENTUM_NAMES

    def __init__(
        self,
        base=0.8,
        *,
        max=0.9,  # noqa: A002 - torch's name, max_momentum
        step_size_up,
        step_size_down=None,
        mode="triangular",
        gamma=1.0,
    ):
        self.base, self.max = _momentum_range(base, max)
        self._set_wave(step_size_up, step_size_down, mode, gamma)

    def _ends(self):
        return self.max, self.base

    def get_config(self):
        return {"base": self.base, "max": self.max, **self._wave_config()}


class _Phases(Schedule):
    """torch's ``OneCycleLR`` phases, shared by the lr (`OneCycle`) and the momentum
    (`OneCycleMomentum`): ``self._phases`` is ``[(start, end, from, to)]``, with torch's
    real-valued end steps; each phase anneals (cos or linear) from `from` to `to`, and the value
    holds from step ``steps - 1`` on.
    """

    def _set_cycle(
        self, steps, epochs, steps_per_epoch, pct_start, anneal, three_phase, convention
    ):
        self.steps = _one_cycle_steps(steps, epochs, steps_per_epoch, type(self).__name__)
        self.pct_start = _checks.open_fraction("pct_start", pct_start)
        self.anneal = _checks.choice("anneal", anneal, _ANNEALS)
        self.three_phase = _checks.boolean("three_phase", three_phase)
        self.convention = _checks.choice("convention", convention, _CONVENTIONS)
        # the step at which the cycle ends and from which its last value holds
        self._last = self.steps - 1 if self.convention == "torch" else self.steps

    def _build_phases(self, values):
        """[(start_step, end_step, value_from, value_to)] for one (from, to) pair per phase."""
        t, p = float(self.steps), self.pct_start
        k = 1.0 if self.convention == "torch" else 0.0
        ends = [p * t - k, 2 * (p * t - k), t - k] if self.three_phase else [p * t - k, t - k]
        starts = [0.0] + ends[:-1]
        for a, b in zip(starts, ends):
            if not b > a:
                raise ValueError(
                    "Arguments `pct_start` and `steps` leave a phase of the cycle without "
                    f"steps (torch's OneCycleLR divides by zero there). Received: "
                    f"pct_start={self.pct_start!r}, steps={self.steps!r}, "
                    f"three_phase={self.three_phase!r}"
                )
        return [(a, b, lo, hi) for (a, b), (lo, hi) in zip(zip(starts, ends), values)]

    def _anneal(self, value_from, value_to, pct):
        if self.anneal == "cos":
            return cos_anneal(value_from, value_to, pct)
        return value_from + (value_to - value_from) * pct

    def _compute(self, steps):
        steps = imin(steps, int_const(self._last))
        result = None
        # Walk the phases from last to first; an earlier phase wins on its own steps.
        for a, b, value_from, value_to in reversed(self._phases):
            pct = offset(steps, a) / (b - a)
            value = self._anneal(value_from, value_to, pct)
            if result is None:
                result = value
            else:
                result = ops.where(steps <= int_const(math.floor(b)), value, result)
        return ops.cast(result, FLOAT)

    def _fill(self, out, start):
        from ..kernels import cyclic

        a, b, value_from, value_to = (np.asarray(col, np.float64) for col in zip(*self._phases))
        thresholds = np.floor(b).astype(np.int64)
        cyclic.fill_one_cycle(
            out, start, self._last, thresholds, a, b, value_from, value_to,
            _ANNEALS.index(self.anneal),
        )

    def _total_steps(self):
        return self.steps

    def _cycle_config(self):
        return {
            "steps": self.steps,
            "pct_start": self.pct_start,
            "anneal": self.anneal,
            "three_phase": self.three_phase,
            "convention": self.convention,
        }


@export
class OneCycle(_Phases):
    """The one-cycle policy: equal to torch's ``OneCycleLR`` step for step.

    From ``peak / div_factor`` up to ``peak`` over the first ``pct_start`` of the run, then
    down to ``peak / div_factor / final_div_factor`` at step ``steps - 1``; with
    ``three_phase=True`` it comes back down to the start value before the final annealing, as in
    fastai. ``anneal`` is ``"cos"`` or ``"linear"``. Phases end at torch's real-valued steps
    (``pct_start * steps - 1``, ...). Unlike torch, which raises past its total steps, it
    holds the final value from step ``steps - 1`` on. ``cycle_momentum()`` gives the momentum
    torch cycles against it (`OneCycleMomentum`).

    The length is ``steps``, or torch's other form: ``epochs`` with ``steps_per_epoch``.

    ``convention="fastai"`` is fastai's ``fit_one_cycle`` step for step: fastai anneals on the
    fraction ``i / steps`` of the run, so its phases end at ``pct_start * steps`` and ``steps``
    (one step later than torch's), and the final lr is reached at step ``steps``, just past the
    last update. ``learn.fit_one_cycle(n_epoch, lr_max, div, div_final, pct_start)`` over ``S``
    batches an epoch is ``OneCycle(lr_max, steps=n_epoch * S, pct_start=pct_start,
    div_factor=div, final_div_factor=div_final / div, convention="fastai")`` (fastai's defaults:
    ``pct_start=0.25``, ``div=25``, ``div_final=1e5``), and its ``moms=(0.95, 0.85, 0.95)`` are
    ``.cycle_momentum(base=0.85, max=0.95)``.

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
        three_phase: fall back to the start value before the final annealing.
        convention: where the phases end: ``"torch"`` (torch's ``OneCycleLR``) or ``"fastai"``
            (fastai's ``fit_one_cycle``), see above.

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
    _peer_names = peer_names(**{
        "torch's OneCycleLR": {
            "max_lr": "peak", "total_steps": "steps", "anneal_strategy": "anneal",
            **dict.fromkeys(["cycle_momentum", *_MOMENTUM_NAMES], _CYCLE_MOMENTUM),
        },
        "optax's cosine_onecycle_schedule": {"peak_value": "peak", "transition_steps": "steps"},
        "fastai's fit_one_cycle": {
            "lr_max": "peak", "div": "div_factor", "div_final": "final_div_factor=div_final / div",
            "n_epoch": "epochs", "moms": "LearningRateScheduler(lr, momentum=lr.cycle_momentum("
            "base=moms[1], max=moms[0]))",
        },
    })

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
        convention="torch",
    ):
        self.peak = _checks.learning_rate("peak", peak)
        self._set_cycle(
            steps, epochs, steps_per_epoch, pct_start, anneal, three_phase, convention
        )
        self.div_factor = _checks.positive("div_factor", div_factor)
        self.final_div_factor = _checks.positive("final_div_factor", final_div_factor)
        initial = self.peak / self.div_factor
        final = initial / self.final_div_factor
        if self.three_phase:
            values = [(initial, self.peak), (self.peak, initial), (initial, final)]
        else:
            values = [(initial, self.peak), (self.peak, final)]
        self._phases = self._build_phases(values)

    @hint_names(lambda: _MOMENTUM_NAMES, "cycle_momentum")
    def cycle_momentum(self, *, base=0.85, max=0.95):  # noqa: A002 - torch's name, max_momentum
        """The momentum torch's ``OneCycleLR(cycle_momentum=True)`` cycles against this lr.

        Args:
            base: the momentum at the lr's peak (torch's ``base_momentum``).
            max: the momentum at step 0 and at the end (torch's ``max_momentum``).

        Returns:
            A `OneCycleMomentum` with this schedule's steps, pct_start, anneal and three_phase.

        >>> import keras_lrsched as lrs
        >>> m = lrs.OneCycle(1.0, steps=11, pct_start=0.5, anneal="linear").cycle_momentum()
        >>> [round(float(m(k)), 4) for k in (0, 2, 10, 50)]
        [0.95, 0.9056, 0.95, 0.95]
        """
        return OneCycleMomentum(base, max=max, **self._cycle_config())

    def get_config(self):
        return {
            "peak": self.peak,
            "steps": self.steps,
            "pct_start": self.pct_start,
            "anneal": self.anneal,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
            "convention": self.convention,
        }


@export
class OneCycleMomentum(_Phases):
    """The momentum of torch's ``OneCycleLR(cycle_momentum=True)``: down while the lr goes up.

    The phases and the anneal of `OneCycle` (usually made by ``OneCycle.cycle_momentum``, which
    copies them), with the momentum moving against the lr: from ``max`` at step 0 down to
    ``base`` where the lr peaks (torch's step ``pct_start * steps - 1``), then back up to
    ``max`` at step ``steps - 1``. With ``three_phase=True`` it is back at ``max`` where the lr
    is back at its start (step ``2 * pct_start * steps - 2``) and holds ``max`` through the
    final annealing, as torch's. In phase ``i``, from step ``a_i`` to ``b_i``::

        momentum(step) = anneal(from_i, to_i, (step - a_i) / (b_i - a_i))

    with ``anneal`` the lr's (cos: ``to + (from - to) * (1 + cos(pi * pct)) / 2``; linear).
    Its values are those torch puts in the optimizer's ``momentum`` (SGD, RMSprop) or
    ``betas[0]`` (Adam and its kin) for update ``k``, step for step; in keras that is SGD's and
    RMSprop's ``momentum`` or Adam's ``beta_1``, which the callback schedules:
    ``LearningRateScheduler(lr, momentum=lr.cycle_momentum(), update="step")``. Unlike torch,
    which raises past its total steps, it holds ``max`` from step ``steps - 1`` on.

    Args:
        base: the momentum at the lr's peak (>= 0 and <= ``max``; torch's ``base_momentum``).
        max: the momentum at step 0 and at the end (finite, >= 0; torch's ``max_momentum``).
        steps: the length of the cycle in optimizer steps (torch's ``total_steps``).
        epochs: with ``steps_per_epoch``, instead of ``steps``: ``steps = epochs *
            steps_per_epoch``.
        steps_per_epoch: see ``epochs``.
        pct_start: the fraction of the steps spent falling (in (0, 1)), as the lr's rise.
        anneal: ``"cos"`` or ``"linear"`` (torch's ``anneal_strategy``).
        three_phase: the lr's three phases.
        convention: ``"torch"`` or ``"fastai"``, as the lr's (fastai's ``moms``).

    References:
        Smith, "A disciplined approach to neural network hyper-parameters: Part 1", 2018
        (arXiv:1803.09820).

    >>> import keras_lrsched as lrs
    >>> m = lrs.OneCycleMomentum(0.85, max=0.95, steps=11, pct_start=0.5, anneal="linear")
    >>> [round(float(m(k)), 4) for k in (0, 2, 4, 10, 50)]
    [0.95, 0.9056, 0.8611, 0.95, 0.95]
    """

    _value_name = "momentum"
    _peer_names = _MOMENTUM_NAMES

    def __init__(
        self,
        base=0.85,
        *,
        max=0.95,  # noqa: A002 - torch's name, max_momentum
        steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start=0.3,
        anneal="cos",
        three_phase=False,
        convention="torch",
    ):
        self.base, self.max = _momentum_range(base, max)
        self._set_cycle(
            steps, epochs, steps_per_epoch, pct_start, anneal, three_phase, convention
        )
        if self.three_phase:
            values = [(self.max, self.base), (self.base, self.max), (self.max, self.max)]
        else:
            values = [(self.max, self.base), (self.base, self.max)]
        self._phases = self._build_phases(values)

    def get_config(self):
        return {"base": self.base, "max": self.max, **self._cycle_config()}


def _momentum_range(base, max):  # noqa: A002
    """`base` and `max` of a momentum schedule: finite, >= 0, ``base <= max``."""
    low = _checks.learning_rate("base", base)
    high = _checks.learning_rate("max", max)
    if low > high:
        raise ValueError(
            "Argument `base` must be <= `max` (the momentum falls from `max` to `base` while the "
            f"lr rises). Received: base={base!r}, max={max!r}"
        )
    return low, high


def _one_cycle_steps(steps, epochs, steps_per_epoch, name="OneCycle"):
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
            f"{name} needs its length: `steps`, or `epochs` with `steps_per_epoch`. Received: "
            f"steps=None, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}"
        )
    epochs = _checks.integer("epochs", epochs, minimum=1)
    return epochs * _checks.integer("steps_per_epoch", steps_per_epoch, minimum=1)
