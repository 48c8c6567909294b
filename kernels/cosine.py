"""Cosine decay and cosine with warm restarts (SGDR)."""

import math

import numpy as np

from ._config import kernel, prange


@kernel
def fill_cosine(out, start, initial, steps, end):
    for i in prange(out.shape[0]):
        s = min(start + i, steps)
        out[i] = end + (initial - end) * 0.5 * (1.0 + math.cos(math.pi * float(s) / steps))


@kernel
def fill_cosine_restarts_fixed(out, start, initial, period, m_mul, end):
    # t_mul == 1: every cycle has `period` steps; the cycle index is an integer division.
    for i in prange(out.shape[0]):
        s = start + i
        c = s // period
        frac = float(s - c * period) / period
        out[i] = end + (initial - end) * m_mul ** float(c) * 0.5 * (1.0 + math.cos(math.pi * frac))


@kernel
def fill_cosine_restarts(out, start, initial, end, starts, start_frac, lengths, amplitudes):
    # t_mul > 1: cycle c covers the integer steps [starts[c], starts[c+1]); its real start is
    # starts[c] - start_frac[c], so the offset inside the cycle is exact in its integer part.
    last = starts.shape[0] - 1
    for i in prange(out.shape[0]):
        s = start + i
        c = min(np.searchsorted(starts, s, side="right") - 1, last - 1)
        frac = min((float(s - starts[c]) + start_frac[c]) / lengths[c], 1.0)
        out[i] = end + (initial - end) * amplitudes[c] * 0.5 * (1.0 + math.cos(math.pi * frac))
