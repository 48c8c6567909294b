"""timm's lr noise: a multiplicative noise on any schedule, the same draws as timm's."""

import math

import numpy as np
from keras import ops

from .. import _checks
from .._api import export
from ._base import Schedule, imax, imin, int_const, peer_names, total_steps
from .compose import _check_schedule, _deserialize, _serialize, child_value, fill_child

# The longest noise range: its factors are computed on the host (about 5 us a step) and the
# keras.ops path looks them up in a constant of the graph.
_MAX_RANGE = 1 << 18
_MASK53 = np.uint64((1 << 53) - 1)


def timm_noise(seed, pct, std, bits=None):
    """timm's ``Scheduler._calculate_noise`` for the generator seed `seed`, bit for bit.

    timm draws ``torch.randn(1, generator=g).item() * std`` from a fresh ``torch.Generator``
    seeded with ``seed`` until the draw lies inside ``(-pct, pct)``. torch's CPU generator is
    MT19937 seeded with the low 32 bits of the seed, the same seeding as NumPy's legacy
    ``RandomState``; a draw of ``randn`` of one float32 value is torch's double Box-Muller pair
    (u1, u2 each from 53 bits of two 32-bit outputs: cos first, then the cached sin), rounded to
    float32. `bits`: an ``np.random.MT19937`` to reseed (making one costs more than the draw).
    """
    bits = np.random.MT19937(0) if bits is None else bits
    bits._legacy_seeding(seed & 0xFFFFFFFF)
    while True:
        w = bits.random_raw(4).astype(np.uint64)
        u1 = float(((w[0] << np.uint64(32)) | w[1]) & _MASK53) * 2.0**-53
        u2 = float(((w[2] << np.uint64(32)) | w[3]) & _MASK53) * 2.0**-53
        radius = math.sqrt(-2.0 * math.log1p(-u2))
        theta = 2.0 * math.pi * u1
        for z in (radius * math.cos(theta), radius * math.sin(theta)):
            z = float(np.float32(z)) * std
            if abs(z) < pct:
                return z


@export
class Noise(Schedule):
    """`after` with timm's lr noise on the steps ``[t0, t1)``: the same draws as timm's.

    ``lr(s) = after(s) + after(s) * noise(s)`` for ``t0 <= s < t1``, and ``after(s)``
    elsewhere. ``noise(s)`` is timm's: a normal draw times ``std``, drawn again until it lies
    inside ``(-pct, pct)``, from a generator seeded with ``seed + s``, so it is a function of the
    step alone. Equal to timm's ``noise_range_t=(start, stop), noise_pct=pct, noise_std=std,
    noise_seed=seed`` on any of its schedulers, with ``noise_range=(t0, t1)``, step for step: torch's generator is reproduced on
    the host (see `timm_noise`), not approximated. timm's one-number ``noise_range_t=t0`` (noise
    from ``t0`` on) is ``noise_range=(t0, length of the run)``.

    The noise factors are computed once, on the host, when the schedule is first evaluated
    (about 5 us a step), and the keras.ops path looks them up: the range is at most 2**18
    steps, which holds timm's noise over epochs, or over the updates of a run of that length.

    Args:
        after: the schedule the noise is laid on (any keras LearningRateSchedule).
        noise_range: ``(t0, t1)``: the noise is on the steps ``t0 <= s < t1`` (whole numbers,
            ``0 <= t0 < t1``; timm's ``noise_range_t``).
        pct: the bound of the noise (> 0; timm's ``noise_pct``).
        std: the standard deviation of the draws (> 0; timm's ``noise_std``).
        seed: the seed of the draws; step ``s`` is drawn with ``seed + s`` (a whole number >= 0;
            timm's ``noise_seed``).

    >>> import keras_lrsched as lrs
    >>> s = lrs.Noise(lrs.Constant(1.0), noise_range=(2, 4), seed=42)
    >>> [round(float(s(k)), 4) for k in range(5)]
    [1.0, 1.0, 1.0589, 1.0312, 1.0]
    """

    _peer_names = peer_names(**{
        "timm": {
            "noise_range_t": "noise_range", "noise_pct": "pct", "noise_std": "std",
            "noise_seed": "seed",
        },
    })

    def __init__(self, after, *, noise_range, pct=0.67, std=1.0, seed=42):
        self.after = _check_schedule("after", _deserialize(after) if isinstance(after, dict) else after)
        ends = _checks.sequence(
            "noise_range", noise_range, lambda n, v: _checks.integer(n, v, minimum=0)
        )
        if len(ends) != 2 or not ends[0] < ends[1] or ends[1] - ends[0] > _MAX_RANGE:
            raise ValueError(
                "Argument `noise_range` must be (t0, t1), two whole numbers with "
                f"0 <= t0 < t1 <= t0 + {_MAX_RANGE}. Received: noise_range={noise_range!r}"
            )
        self.noise_range = ends
        self.start, self.stop = ends
        self.pct = _checks.positive("pct", pct)
        self.std = _checks.positive("std", std)
        self.seed = _checks.integer("seed", seed, minimum=0)
        self._noise = None

    def noise(self):
        """The noise of the steps ``start .. stop - 1`` (float64), computed once."""
        if self._noise is None:
            bits = np.random.MT19937(0)
            self._noise = np.asarray([
                timm_noise(self.seed + s, self.pct, self.std, bits)
                for s in range(self.start, self.stop)
            ])
        return self._noise

    def _compute(self, steps):
        value = child_value(self.after, steps)
        noise = ops.convert_to_tensor(np.append(self.noise(), 0.0).astype(np.float32))
        inside = (steps >= int_const(self.start)) & (steps < int_const(self.stop))
        index = imin(imax(steps - int_const(self.start), int_const(0)),
                     int_const(self.stop - self.start))
        factor = ops.where(inside, ops.take(noise, index), 0.0)
        return value + value * factor

    def _fill(self, out, start):
        fill_child(self.after, out, start)
        lo = max(self.start, start)
        hi = min(self.stop, start + out.shape[0])
        if hi > lo:
            part = np.empty(hi - lo, np.float64)  # in float64, rounded once to `out`'s dtype
            fill_child(self.after, part, lo)
            noise = self.noise()[lo - self.start : hi - self.start]
            out[lo - start : hi - start] = part + part * noise

    def _total_steps(self):
        return total_steps(self.after)

    def get_config(self):
        return {
            "after": _serialize(self.after),
            "noise_range": list(self.noise_range),
            "pct": self.pct,
            "std": self.std,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "after": _deserialize(config["after"])})
