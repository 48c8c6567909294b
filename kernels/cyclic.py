"""Cyclic (triangular, triangular2, exp_range) and one-cycle schedules."""

import math

from ._config import kernel, prange

TRIANGULAR, TRIANGULAR2, EXP_RANGE = 0, 1, 2
ANNEAL_COS, ANNEAL_LINEAR = 0, 1


@kernel
def fill_cyclic(out, start, low, high, up, down, mode, log_gamma):
    total = up + down
    for i in prange(out.shape[0]):
        s = start + i
        c = s // total
        pos = s - c * total
        x = float(pos) / up if pos <= up else float(total - pos) / down
        if mode == TRIANGULAR:
            scale = 1.0
        elif mode == TRIANGULAR2:
            scale = 0.5 ** float(c)
        else:
            scale = math.exp(float(s) * log_gamma)
        out[i] = low + (high - low) * x * scale


@kernel
def fill_one_cycle(out, start, last_step, thresholds, starts, ends, lr_from, lr_to, anneal):
    # Phase k holds the steps s <= thresholds[k] not taken by an earlier phase; the last phase
    # takes the rest. Steps past `last_step` hold the final value.
    n_phases = thresholds.shape[0]
    for i in prange(out.shape[0]):
        s = min(start + i, last_step)
        k = 0
        while k < n_phases - 1 and s > thresholds[k]:
            k += 1
        pct = (float(s) - starts[k]) / (ends[k] - starts[k])
        if anneal == ANNEAL_COS:
            out[i] = lr_to[k] + (lr_from[k] - lr_to[k]) * 0.5 * (1.0 + math.cos(math.pi * pct))
        else:
            out[i] = lr_from[k] + (lr_to[k] - lr_from[k]) * pct
