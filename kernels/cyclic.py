"""Cyclic (triangular, triangular2, exp_range) and one-cycle schedules.

Both kernels walk the steps block by block (``prange`` over blocks, see ``_config.BLOCK``) and fill
one contiguous run at a time (a half cycle, a phase), with the run's constants hoisted out of a
branch-free inner loop that LLVM vectorizes. Which run a step is in is decided with integer
arithmetic.
"""

import math

from ._config import BLOCK, kernel, prange
from ._math import cos_pi, exp_small, ratio, step_float

TRIANGULAR, TRIANGULAR2, EXP_RANGE = 0, 1, 2
ANNEAL_COS, ANNEAL_LINEAR = 0, 1


@kernel
def fill_cyclic(out, start, low, high, up, down, mode, log_gamma):
    # A cycle rises on the positions [0, up] and falls on (up, up + down).
    total = up + down
    n = out.shape[0]
    fup, inv_up, inv_down = float(up), 1.0 / up, 1.0 / down  # falling: the fraction stays < 1
    # exp_range: steps per chunk over which |j * log_gamma| <= 1/2 (see below).
    chunk = BLOCK if log_gamma == 0.0 else max(1, min(BLOCK, int(0.5 / abs(log_gamma))))
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        while lo < hi:
            s = start + lo
            c = s // total
            pos = s - c * total
            rising = pos <= up
            run = out[lo : min(hi, lo + ((up + 1 - pos) if rising else (total - pos)))]
            height = high - low
            if mode == TRIANGULAR2:
                height = height * 0.5 ** float(c)
            if mode == EXP_RANGE and chunk < 64:
                # A steep gamma: exp underflows (or overflows) within a few cycles anyway.
                for j in range(run.shape[0]):
                    x = ratio(step_float(pos, j), fup, inv_up) if rising else (float(total - pos) - float(j)) * inv_down
                    run[j] = low + height * x * math.exp(float(s + j) * log_gamma)
            elif mode == EXP_RANGE:
                # exp(t log_gamma) = exp(a log_gamma) exp((t - a) log_gamma) with the anchor a the
                # step t rounded down to a multiple of `chunk`: libm once per chunk (math.exp
                # would keep the loop scalar), a polynomial inside it. Anchored on the step, not
                # on where the table starts, so that table(n, start=k) is table(n + k)[k:] bit
                # for bit in float64 too (CyclicMomentum, max - (max - base) x scale, can cancel
                # down to values where a float64 ulp of `max` shows in float32).
                j0 = 0
                while j0 < run.shape[0]:
                    off = (s + j0) % chunk
                    part = run[j0 : j0 + (chunk - off)]
                    scale = height * math.exp(float(s + j0 - off) * log_gamma)
                    p0 = pos + j0
                    if rising:
                        for j in range(part.shape[0]):
                            x = ratio(step_float(p0, j), fup, inv_up)
                            part[j] = low + scale * exp_small(step_float(off, j) * log_gamma) * x
                    else:
                        for j in range(part.shape[0]):
                            x = (float(total - p0) - step_float(0, j)) * inv_down
                            part[j] = low + scale * exp_small(step_float(off, j) * log_gamma) * x
                    j0 += part.shape[0]
            elif rising:
                for j in range(run.shape[0]):
                    run[j] = low + height * ratio(step_float(pos, j), fup, inv_up)
            else:
                for j in range(run.shape[0]):
                    run[j] = low + height * ((float(total - pos) - step_float(0, j)) * inv_down)
            lo += run.shape[0]


@kernel
def fill_one_cycle(out, start, last_step, thresholds, starts, ends, lr_from, lr_to, anneal):
    # Phase k holds the steps s <= thresholds[k] not taken by an earlier phase; the last phase
    # takes the rest. Steps past `last_step` hold the final value (the last phase at last_step).
    n_phases = thresholds.shape[0]
    n = out.shape[0]
    flast = float(last_step)
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        while lo < hi:
            s = start + lo
            k = 0
            while k < n_phases - 1 and min(s, last_step) > thresholds[k]:
                k += 1
            stop = hi if k == n_phases - 1 else min(hi, lo + (thresholds[k] + 1 - s))
            run = out[lo:stop]
            a, width, lr_a, lr_b = starts[k], ends[k] - starts[k], lr_from[k], lr_to[k]
            inv = 1.0 / width
            if anneal == ANNEAL_COS:
                for j in range(run.shape[0]):
                    pct = ratio(min(step_float(s, j), flast) - a, width, inv)
                    run[j] = lr_b + (lr_a - lr_b) * 0.5 * (1.0 + cos_pi(pct))
            else:
                for j in range(run.shape[0]):
                    pct = ratio(min(step_float(s, j), flast) - a, width, inv)
                    run[j] = lr_a + (lr_b - lr_a) * pct
            lo = stop


@kernel
def fill_cycles(out, start, cycle, end, initial, decay, limit):
    # `cycle` holds one cycle of the child (float64, one value per step of its length). Cycle c
    # is the child's excess over `end` scaled so that its top goes from `initial` to
    # `initial * decay ** c` (timm's cycle_decay); from cycle `limit` on (limit >= 0), `end`.
    period = cycle.shape[0]
    height = initial - end
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        while lo < hi:
            s = start + lo
            c = s // period
            r = s - c * period
            stop = min(hi, lo + (period - r))
            if limit >= 0 and c >= limit:
                for i in range(lo, stop):
                    out[i] = end
            else:
                scale = 1.0
                if decay != 1.0 and height != 0.0:
                    scale = (initial * decay ** float(c) - end) / height
                for i in range(lo, stop):
                    out[i] = end + (cycle[r + i - lo] - end) * scale
            lo = stop
