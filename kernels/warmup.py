"""Schedules with a built-in linear warmup: inverse square root and warmup-stable-decay.

Each stage (warmup, stable, decay, end) is a contiguous range of the table, filled by its own
branch-free loop, so that LLVM vectorizes each (a branch per step would keep them scalar); one
``prange`` over blocks (see ``_config.BLOCK``) runs them all, one parallel region per kernel.
"""

import math

from ._config import BLOCK, kernel, prange
from ._math import cos_pi, step_float

DECAY_COSINE, DECAY_LINEAR, DECAY_SQRT = 0, 1, 2


@kernel
def fill_inverse_sqrt(out, start, peak, warmup_steps, timescale):
    n = out.shape[0]
    n_warm = max(0, min(n, warmup_steps - start))
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        for i in range(lo, min(hi, n_warm)):
            out[i] = peak * step_float(start + lo, i - lo) / warmup_steps
        for i in range(max(lo, n_warm), hi):
            t = step_float(start + lo - warmup_steps + timescale, i - lo)
            out[i] = peak * math.sqrt(float(timescale) / t)


@kernel
def fill_warmup_stable_decay(out, start, peak, warmup_steps, stable_steps, decay_steps, end, decay):
    n = out.shape[0]
    decay_start = warmup_steps + stable_steps
    # Where the stable, decay and final stages begin in `out` (clipped to it).
    a = max(0, min(n, warmup_steps - start))
    c = max(0, min(n, decay_start - start))
    e = max(0, min(n, decay_start + decay_steps - start))
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        for i in range(lo, min(hi, a)):
            out[i] = peak * step_float(start + lo, i - lo) / warmup_steps
        for i in range(max(lo, a), min(hi, c)):
            out[i] = peak
        if decay == DECAY_COSINE:
            for i in range(max(lo, c), min(hi, e)):
                p = step_float(start + lo - decay_start, i - lo) / decay_steps
                out[i] = end + (peak - end) * (0.5 * (1.0 + cos_pi(p)))
        elif decay == DECAY_LINEAR:
            for i in range(max(lo, c), min(hi, e)):
                p = step_float(start + lo - decay_start, i - lo) / decay_steps
                out[i] = end + (peak - end) * (1.0 - p)
        else:
            for i in range(max(lo, c), min(hi, e)):
                p = step_float(start + lo - decay_start, i - lo) / decay_steps
                out[i] = end + (peak - end) * (1.0 - math.sqrt(p))
        for i in range(max(lo, e), hi):
            out[i] = end
