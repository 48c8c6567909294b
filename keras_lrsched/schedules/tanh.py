"""Hyperbolic-tangent decay (Hsueh et al. 2019), timm's ``TanhLRScheduler``."""

from keras import ops

from .. import _checks
from .._api import export
from ._base import Schedule, imin, int_const, peer_names, to_float


@export
class Tanh(Schedule):
    """A tanh decay from about ``initial`` at step 0 towards ``end``, then ``end`` from ``steps`` on.

    ``lr(s) = end + (initial - end) * (1 - tanh(lb + (ub - lb) * s / steps)) / 2`` for
    ``s < steps``, and ``end`` from step ``steps`` on. Equal to timm's
    ``TanhLRScheduler(t_initial=steps, lb=lb, ub=ub, lr_min=end)`` (whose default
    ``cycle_limit=1`` holds ``lr_min`` after the first cycle). With the defaults the lr starts at
    ``initial * (1 - tanh(-7)) / 2``, 8e-7 below ``initial``, and is still ``0.0025 * initial``
    above ``end`` at step ``steps - 1``, as in timm. For timm's restarts (``cycle_limit``,
    ``cycle_decay``) wrap it in `Cycles`; for its warmup, in `Warmup`.

    Args:
        initial: the top of the decay (>= 0; timm's base lr).
        steps: the length of the decay (a whole number > 0; timm's ``t_initial``).
        end: the lr from step ``steps`` on (>= 0; timm's ``lr_min``).
        lb: where the tanh starts (finite, < ``ub``).
        ub: where the tanh ends (finite).

    References:
        Hsueh et al., "Stochastic Gradient Descent with Hyperbolic-Tangent Decay on
        Classification", WACV 2019 (arXiv:1806.01593).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Tanh(1.0, steps=10, lb=-1.0, ub=1.0)
    >>> [round(float(s(k)), 6) for k in (0, 5, 9, 10)]
    [0.880797, 0.5, 0.167982, 0.0]
    """

    _peer_names = peer_names(**{
        "timm's TanhLRScheduler": {"t_initial": "steps", "lr_min": "end"},
    })

    def __init__(self, initial, *, steps, end=0.0, lb=-7.0, ub=3.0):
        self.initial = _checks.learning_rate("initial", initial)
        self.steps = _checks.integer("steps", steps, minimum=1)
        self.end = _checks.learning_rate("end", end)
        self.lb = _checks.real("lb", lb)
        self.ub = _checks.real("ub", ub)
        if not self.lb < self.ub:
            raise ValueError(
                f"Argument `lb` must be < `ub` (the tanh runs from lb to ub). Received: lb={lb!r}, "
                f"ub={ub!r}"
            )

    def _compute(self, steps):
        p = to_float(imin(steps, int_const(self.steps))) / float(self.steps)
        x = self.lb * (1.0 - p) + self.ub * p
        value = self.end + 0.5 * (self.initial - self.end) * (1.0 - ops.tanh(x))
        return ops.where(steps < int_const(self.steps), value, self.end)

    def _fill(self, out, start):
        from ..kernels import tanh

        tanh.fill_tanh(out, start, self.initial, self.steps, self.end, self.lb, self.ub)

    def _total_steps(self):
        return self.steps

    def get_config(self):
        return {
            "initial": self.initial,
            "steps": self.steps,
            "end": self.end,
            "lb": self.lb,
            "ub": self.ub,
        }
