"""Cosine decay and cosine with warm restarts (SGDR).

The restart kernels walk the steps block by block (``prange`` over blocks, see ``_config.BLOCK``);
inside a block they fill one cycle's contiguous run of steps at a time, with the cycle's constants
hoisted out of a branch-free inner loop that LLVM vectorizes. The cycle of the first step of each
run is found with integer arithmetic, as before.
"""

import math

import numpy as np

from ._config import BLOCK, kernel, prange
from ._math import cos_pi, ratio, step_float


@kernel
def fill_cosine(out, start, initial, steps, end, exponent, num_cycles):
    fsteps = float(steps)
    inv = 1.0 / fsteps
    half = exponent == 1.0 and num_cycles == 0.5
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        run = out[lo : min(n, lo + BLOCK)]
        if half:  # half a cosine: the vectorized polynomial
            for j in range(run.shape[0]):
                x = ratio(min(step_float(start + lo, j), fsteps), fsteps, inv)
                run[j] = end + (initial - end) * 0.5 * (1.0 + cos_pi(x))
        else:  # the general shape leaves [0, pi], where cos_pi holds: libm
            for j in range(run.shape[0]):
                x = 2.0 * num_cycles * ratio(min(step_float(start + lo, j), fsteps), fsteps, inv)
                shape = 0.5 * (1.0 + math.cos(math.pi * x))
                run[j] = end + (initial - end) * shape**exponent


@kernel
def fill_cosine_restarts_fixed(out, start, initial, period, m_mul, end):
    # t_mul == 1: every cycle has `period` steps; the cycle index is an integer division.
    n = out.shape[0]
    inv = 1.0 / period  # r + j < period: the fraction never reaches 1
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        while lo < hi:
            s = start + lo
            c = s // period
            r = s - c * period
            run = out[lo : min(hi, lo + (period - r))]
            height = (initial - end) * m_mul ** float(c)
            for j in range(run.shape[0]):
                run[j] = end + height * 0.5 * (1.0 + cos_pi(step_float(r, j) * inv))
            lo += run.shape[0]


@kernel
def fill_cosine_restarts(out, start, initial, end, starts, start_frac, lengths, amplitudes):
    # t_mul > 1: cycle c covers the integer steps [starts[c], starts[c+1]); its real start is
    # starts[c] - start_frac[c], so the offset inside the cycle is exact in its integer part.
    # The last cycle (past 2**53) holds `end`.
    last = starts.shape[0] - 2
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        while lo < hi:
            s = start + lo
            c = min(np.searchsorted(starts, s, side="right") - 1, last)
            stop = hi if c == last else min(hi, lo + (starts[c + 1] - s))
            run = out[lo:stop]
            first, frac0, length = starts[c], start_frac[c], lengths[c]
            inv = 1.0 / length
            height = (initial - end) * amplitudes[c]
            for j in range(run.shape[0]):
                frac = min(ratio(step_float(s - first, j) + frac0, length, inv), 1.0)
                run[j] = end + height * 0.5 * (1.0 + cos_pi(frac))
            lo = stop


@kernel
def fill_cosine_k(out, start, initial, steps, end, exponent, num_cycles, k_decay):
    # timm's k-decay: the cosine runs on (s / steps) ** k_decay; libm per step.
    fsteps = float(steps)
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        for i in range(lo, min(n, lo + BLOCK)):
            x = (min(step_float(start + lo, i - lo), fsteps) / fsteps) ** k_decay
            shape = 0.5 * (1.0 + math.cos(2.0 * math.pi * num_cycles * x))
            out[i] = end + (initial - end) * shape**exponent
