"""Schedules with a built-in linear warmup: inverse square root and warmup-stable-decay."""

import math

from ._config import kernel, prange
from ._math import cos_pi

DECAY_COSINE, DECAY_LINEAR, DECAY_SQRT = 0, 1, 2


@kernel
def fill_inverse_sqrt(out, start, peak, warmup_steps):
    for i in prange(out.shape[0]):
        s = start + i
        if s < warmup_steps:
            out[i] = peak * float(s) / warmup_steps
        else:
            out[i] = peak * math.sqrt(float(warmup_steps) / float(s))


@kernel
def fill_warmup_stable_decay(out, start, peak, warmup_steps, stable_steps, decay_steps, end, decay):
    decay_start = warmup_steps + stable_steps
    for i in prange(out.shape[0]):
        s = start + i
        if s < warmup_steps:
            out[i] = peak * float(s) / warmup_steps
        elif s < decay_start:
            out[i] = peak
        elif s < decay_start + decay_steps:
            p = float(s - decay_start) / decay_steps
            if decay == DECAY_COSINE:
                shape = 0.5 * (1.0 + cos_pi(p))
            elif decay == DECAY_LINEAR:
                shape = 1.0 - p
            else:
                shape = 1.0 - math.sqrt(p)
            out[i] = end + (peak - end) * shape
        else:
            out[i] = end
