"""Monotone decays: time (inverse-time), step, multi-step, piecewise, exponential, polynomial.

Kernels with a staircase walk the steps block by block (``prange`` over blocks, see
``_config.BLOCK``) and fill each run of steps that share a segment (a drop, a piece, a whole number
of decay periods) with the run's constants hoisted, so the inner loop is a vectorized fill; the
segment of a run's first step is found with integer arithmetic, as before.
"""

import math

import numpy as np

from ._config import BLOCK, kernel, prange
from ._math import exp_small, log1m_small, ratio, step_float

# Below this many steps per segment, the run-by-run walk costs more than it saves (runs of one
# step: ~3x slower than a per-step loop), so the kernels fall back to a per-step loop.
MIN_RUN = 64


@kernel
def fill_time_decay(out, start, initial, decay_rate, decay_steps, staircase):
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        if decay_steps < MIN_RUN:
            for i in range(lo, hi):
                s = start + i
                q = s // decay_steps
                p = float(q) if staircase else float(q) + float(s - q * decay_steps) / decay_steps
                out[i] = initial / (1.0 + decay_rate * p)
            lo = hi
        while lo < hi:
            s = start + lo
            q = s // decay_steps
            r = s - q * decay_steps
            stop = min(hi, lo + (decay_steps - r))
            if staircase:
                v = initial / (1.0 + decay_rate * float(q))
                for i in range(lo, stop):
                    out[i] = v
            else:
                run = out[lo:stop]
                for j in range(run.shape[0]):
                    p = float(q) + step_float(r, j) / decay_steps
                    run[j] = initial / (1.0 + decay_rate * p)
            lo = stop


@kernel
def fill_step_decay(out, start, initial, factor, step_size):
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        if step_size < MIN_RUN:
            for i in range(lo, hi):
                out[i] = initial * factor ** float((start + i) // step_size)
            lo = hi
        while lo < hi:
            s = start + lo
            q = s // step_size
            stop = min(hi, lo + ((q + 1) * step_size - s))
            v = initial * factor ** float(q)
            for i in range(lo, stop):
                out[i] = v
            lo = stop


@kernel
def fill_piecewise(out, start, boundaries, values):
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        while lo < hi:
            s = start + lo
            k = np.searchsorted(boundaries, s, side="right")
            stop = hi if k == boundaries.shape[0] else min(hi, lo + (boundaries[k] - s))
            v = values[k]
            for i in range(lo, stop):
                out[i] = v
            lo = stop


@kernel
def fill_exponential_decay(out, start, initial, log_rate, decay_steps, staircase, end, has_end):
    # Staircase: one value per run of decay_steps steps. Otherwise exp(p log_rate) with
    # p = q + r / decay_steps is taken as exp(p0 log_rate) * exp(j log_rate / decay_steps) over a
    # chunk of steps j = 0, 1, ... from the chunk's first step p0, the chunk short enough that
    # |j log_rate / decay_steps| <= 1/2: libm's exp once per chunk, a polynomial inside it.
    growing = log_rate >= 0.0  # decay_rate >= 1: `end` is a ceiling, as in optax
    per_step = log_rate / decay_steps
    chunk = BLOCK if per_step == 0.0 else max(1, min(BLOCK, int(0.5 / abs(per_step))))
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        while lo < hi:
            s = start + lo
            q = s // decay_steps
            r = s - q * decay_steps
            if staircase:
                run = out[lo : min(hi, lo + (decay_steps - r))]
                v = initial * math.exp(float(q) * log_rate)
                if has_end:
                    v = min(v, end) if growing else max(v, end)
                for j in range(run.shape[0]):
                    run[j] = v
            else:
                run = out[lo : min(hi, lo + chunk)]
                scale = initial * math.exp((float(q) + float(r) / decay_steps) * log_rate)
                if has_end and growing:
                    for j in range(run.shape[0]):
                        run[j] = min(scale * exp_small(step_float(0, j) * per_step), end)
                elif has_end:
                    for j in range(run.shape[0]):
                        run[j] = max(scale * exp_small(step_float(0, j) * per_step), end)
                else:
                    for j in range(run.shape[0]):
                        run[j] = scale * exp_small(step_float(0, j) * per_step)
            lo += run.shape[0]


@kernel
def fill_polynomial(out, start, initial, end, steps, power):
    # power 1 (Linear, every Warmup): x ** 1.0 is x, but a pow call would keep the loop scalar;
    # powers 2, 3 and 1/2 are products and a square root, which vectorize too (x from the whole
    # steps left: near the end, 1 - s / steps would lose x's relative precision).
    # Other powers: with t = steps - s steps left, (t / steps) ** power is taken as
    # (t0 / steps) ** power * exp(power * log(1 - j / t0)) over a chunk of steps t = t0 - j,
    # j < t0 / 64: libm's pow once per chunk, polynomials inside it. Chunks shrink with t0; under
    # MIN_RUN steps left, pow per step.
    n = out.shape[0]
    fsteps = float(steps)
    inv = 1.0 / fsteps
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        if power == 1.0:
            for i in range(lo, hi):
                s = min(step_float(start + lo, i - lo), fsteps)
                out[i] = (initial - end) * (1.0 - ratio(s, fsteps, inv)) + end
            lo = hi
        elif power == 2.0:
            for i in range(lo, hi):
                x = (fsteps - min(step_float(start + lo, i - lo), fsteps)) * inv
                out[i] = (initial - end) * (x * x) + end
            lo = hi
        elif power == 3.0:
            for i in range(lo, hi):
                x = (fsteps - min(step_float(start + lo, i - lo), fsteps)) * inv
                out[i] = (initial - end) * (x * x * x) + end
            lo = hi
        elif power == 0.5:
            for i in range(lo, hi):
                x = (fsteps - min(step_float(start + lo, i - lo), fsteps)) * inv
                out[i] = (initial - end) * math.sqrt(x) + end
            lo = hi
        while lo < hi:
            t0 = steps - min(start + lo, steps)
            chunk = min(t0 // 64, int(0.5 * t0 / (power + 1.0)))
            if chunk < MIN_RUN:
                stop = hi if t0 == 0 else min(hi, lo + MIN_RUN)
                for i in range(lo, stop):
                    s = min(start + i, steps)
                    out[i] = (initial - end) * (1.0 - float(s) / steps) ** power + end
            else:
                stop = min(hi, lo + chunk)
                run = out[lo:stop]
                scale = (initial - end) * (float(t0) / steps) ** power
                for j in range(run.shape[0]):
                    run[j] = scale * exp_small(power * log1m_small(step_float(0, j) / t0)) + end
            lo = stop


@kernel
def fill_polynomial_k(out, start, initial, end, steps, power, k_decay):
    # timm's k-decay: (1 - (s / steps) ** k) ** power, with 1 - x ** k taken as
    # -expm1(k log1p(-r)) from the whole steps left, r = (steps - s) / steps, so that it keeps its
    # relative precision near the end, where a power < 1 magnifies any error.
    n = out.shape[0]
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo = b * BLOCK
        for i in range(lo, min(n, lo + BLOCK)):
            s = min(start + i, steps)
            if s == 0:
                rest = 1.0
            else:
                rest = -math.expm1(k_decay * math.log1p(-float(steps - s) / steps))
            out[i] = (initial - end) * rest**power + end
