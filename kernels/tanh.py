"""Hyperbolic-tangent decay (timm's TanhLRScheduler, one cycle).

One ``prange`` over blocks (see ``_config.BLOCK``); the decay and the held end are contiguous
ranges of the table, each filled by its own loop. ``math.tanh`` is a libm call per step: tanh
tables are rare and short next to cosine ones, so no polynomial of our own.
"""

import math

from ._config import BLOCK, kernel, prange
from ._math import ratio, step_float


@kernel
def fill_tanh(out, start, initial, steps, end, lb, ub):
    n = out.shape[0]
    fsteps = float(steps)
    inv = 1.0 / fsteps
    n_decay = max(0, min(n, steps - start))  # steps < `steps` decay; the rest hold `end`
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        for i in range(lo, min(hi, n_decay)):
            p = ratio(step_float(start + lo, i - lo), fsteps, inv)
            out[i] = end + 0.5 * (initial - end) * (1.0 - math.tanh(lb * (1.0 - p) + ub * p))
        for i in range(max(lo, n_decay), hi):
            out[i] = end
