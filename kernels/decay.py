"""Monotone decays: time (inverse-time), step, multi-step, piecewise, exponential, polynomial."""

import math

import numpy as np

from ._config import kernel, prange


@kernel
def fill_time_decay(out, start, initial, decay_rate, decay_steps, staircase):
    for i in prange(out.shape[0]):
        s = start + i
        q = s // decay_steps
        p = float(q) if staircase else float(q) + float(s - q * decay_steps) / decay_steps
        out[i] = initial / (1.0 + decay_rate * p)


@kernel
def fill_step_decay(out, start, initial, factor, step_size):
    for i in prange(out.shape[0]):
        out[i] = initial * factor ** float((start + i) // step_size)


@kernel
def fill_multistep_decay(out, start, initial, milestones, factor):
    # milestones: sorted int64 array; the count of milestones <= s is the number of drops.
    for i in prange(out.shape[0]):
        k = np.searchsorted(milestones, start + i, side="right")
        out[i] = initial * factor ** float(k)


@kernel
def fill_piecewise(out, start, boundaries, values):
    for i in prange(out.shape[0]):
        out[i] = values[np.searchsorted(boundaries, start + i, side="right")]


@kernel
def fill_exponential_decay(out, start, initial, log_rate, decay_steps, staircase, end, has_end):
    growing = log_rate > 0.0
    for i in prange(out.shape[0]):
        s = start + i
        q = s // decay_steps
        p = float(q) if staircase else float(q) + float(s - q * decay_steps) / decay_steps
        v = initial * math.exp(p * log_rate)
        if has_end:
            v = min(v, end) if growing else max(v, end)
        out[i] = v


@kernel
def fill_polynomial(out, start, initial, end, steps, power):
    if power == 1.0:
        # Linear (and every Warmup): x ** 1.0 is x, but the pow call would keep the loop scalar.
        for i in prange(out.shape[0]):
            s = min(start + i, steps)
            out[i] = (initial - end) * (1.0 - float(s) / steps) + end
    else:
        for i in prange(out.shape[0]):
            s = min(start + i, steps)
            out[i] = (initial - end) * (1.0 - float(s) / steps) ** power + end
