"""Schedules with a built-in linear warmup from 0: inverse square root and warmup-stable-decay."""

import math

from keras import ops

from .. import _checks
from .._api import export
from ._base import Schedule, imax, imin, int_const, peer_names, to_float

_DECAYS = ("cosine", "linear", "sqrt")


@export
class InverseSqrt(Schedule):
    """Linear from 0 to ``peak`` at ``warmup_steps``, then ``peak * sqrt(timescale / t)``.

    ``t = s - warmup_steps + timescale``: the "Noam" or inverse-square-root schedule of "Attention
    Is All You Need", as Hugging Face's ``get_inverse_sqrt_schedule`` computes it. ``timescale``
    defaults to ``warmup_steps`` (so the decay is ``peak * sqrt(warmup_steps / s)``), or 10 000
    without a warmup, as in Hugging Face.

    Args:
        peak: the lr at the end of the warmup (>= 0).
        warmup_steps: the length of the warmup (a whole number >= 0; 0: no warmup).
        timescale: how slowly it decays (a whole number > 0; see above for the default).

    References:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    >>> import keras_lrsched as lrs
    >>> s = lrs.InverseSqrt(1.0, warmup_steps=100)
    >>> [round(float(s(k)), 6) for k in (0, 50, 100, 400)]
    [0.0, 0.5, 1.0, 0.5]
    """

    _peer_names = peer_names(**{
        "Hugging Face's get_inverse_sqrt_schedule": {"num_warmup_steps": "warmup_steps"},
    })

    def __init__(self, peak, *, warmup_steps, timescale=None):
        self.peak = _checks.learning_rate("peak", peak)
        self.warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
        if timescale is None:
            timescale = self.warmup_steps or 10_000
        self.timescale = _checks.integer("timescale", timescale, minimum=1)

    def _compute(self, steps):
        w, t = self.warmup_steps, self.timescale
        warm = self.peak * to_float(steps) / float(max(w, 1))
        # In float: the integer sum wraps past 2**31 - 1 under JAX's int32 steps.
        since = to_float(imax(steps - int_const(w), int_const(0))) + float(t)
        decay = self.peak * ops.sqrt(float(t) / since)
        return ops.where(steps < int_const(w), warm, decay)

    def _fill(self, out, start):
        from ..kernels import warmup

        warmup.fill_inverse_sqrt(out, start, self.peak, self.warmup_steps, self.timescale)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "timescale": self.timescale}


@export
class WarmupStableDecay(Schedule):
    """Warmup-stable-decay (WSD, "trapezoidal"): linear warmup, a flat stage, a final decay.

    Linear from 0 at step 0 to ``peak`` at ``warmup_steps``; ``peak`` for ``stable_steps`` steps;
    then over ``decay_steps`` steps down to ``end`` with the shape ``decay``: ``"cosine"``
    (a half cosine), ``"linear"`` or ``"sqrt"`` (``1 - sqrt(progress)``); then ``end`` for good.
    Equal to Hugging Face's ``get_wsd_schedule`` with ``min_lr_ratio = end / peak``. Each phase
    may have 0 steps: it is then left out.

    Args:
        peak: the lr of the stable phase (>= 0).
        warmup_steps: the length of the linear warmup from 0 (a whole number >= 0).
        stable_steps: the length of the stable phase (a whole number >= 0).
        decay_steps: the length of the decay (a whole number >= 0).
        end: the lr after the decay (>= 0).
        decay: the shape of the decay: ``"cosine"``, ``"linear"`` or ``"sqrt"``.

    References:
        Hu et al., "MiniCPM: Unveiling the Potential of Small Language Models with Scalable
        Training Strategies", 2024 (arXiv:2404.06395).

    >>> import keras_lrsched as lrs
    >>> s = lrs.WarmupStableDecay(1.0, warmup_steps=10, stable_steps=10, decay_steps=10,
    ...                           decay="linear")
    >>> [round(float(s(k)), 6) for k in (0, 5, 10, 19, 20, 25, 30, 99)]
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    """

    _peer_names = peer_names(**{
        "Hugging Face's get_wsd_schedule": {
            "num_warmup_steps": "warmup_steps", "num_stable_steps": "stable_steps",
            "num_decay_steps": "decay_steps", "min_lr_ratio": "end=min_lr_ratio * peak",
            "decay_type": "decay",
            "num_training_steps": "stable_steps=num_training_steps - warmup_steps - decay_steps",
        },
        "timm's WSDLRScheduler": {
            "t_initial": "stable_steps=t_initial - decay_t", "decay_t": "decay_steps",
            "lr_min": "end", "decay_fn": "decay", "warmup_t": "warmup_steps",
        },
    })

    def __init__(self, peak, *, warmup_steps, stable_steps, decay_steps, end=0.0, decay="cosine"):
        self.peak = _checks.learning_rate("peak", peak)
        self.warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
        self.stable_steps = _checks.integer("stable_steps", stable_steps, minimum=0)
        self.decay_steps = _checks.integer("decay_steps", decay_steps, minimum=0)
        self.end = _checks.learning_rate("end", end)
        self.decay = _checks.choice("decay", decay, _DECAYS)

    def _compute(self, steps):
        w, d = self.warmup_steps, self.decay_steps
        decay_start = w + self.stable_steps
        warm = self.peak * to_float(steps) / float(max(w, 1))
        into_decay = imax(steps - int_const(decay_start), int_const(0))
        p = to_float(imin(into_decay, int_const(d))) / float(max(d, 1))
        if self.decay == "cosine":
            shape = 0.5 * (1.0 + ops.cos(math.pi * p))
        elif self.decay == "linear":
            shape = 1.0 - p
        else:
            shape = 1.0 - ops.sqrt(p)
        decayed = self.end + (self.peak - self.end) * shape
        if d == 0:
            decayed = ops.full(ops.shape(steps), self.end, dtype="float32")
        in_warmup, stable = steps < int_const(w), steps < int_const(decay_start)
        return ops.where(in_warmup, warm, ops.where(stable, self.peak, decayed))

    def _fill(self, out, start):
        from ..kernels import warmup

        warmup.fill_warmup_stable_decay(
            out, start, self.peak, self.warmup_steps, self.stable_steps, self.decay_steps,
            self.end, _DECAYS.index(self.decay),
        )

    def _total_steps(self):
        return self.warmup_steps + self.stable_steps + self.decay_steps

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "stable_steps": self.stable_steps,
            "decay_steps": self.decay_steps,
            "end": self.end,
            "decay": self.decay,
        }
