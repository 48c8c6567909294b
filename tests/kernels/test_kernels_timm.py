"""The kernels of timm's shapes and options (tanh, k-decay, cycles) against NumPy references.

Backend-free, like test_kernels.py, whose loader and helpers it shares.
"""

import importlib

import numpy as np

from test_kernels import PACKAGE, check, on_both, parametrize, run, steps_from

K = {name: importlib.import_module(f"{PACKAGE}.{name}") for name in ("cosine", "decay", "tanh",
                                                                     "cyclic")}


@on_both
@parametrize("lb, ub", [(-7.0, 3.0), (-1.0, 1.0)])
def test_fill_tanh(start, dtype, lb, ub):
    steps = 125_000
    out = run(K["tanh"].fill_tanh, start, dtype, 1.0, steps, 0.01, lb, ub)
    s = steps_from(start)
    p = np.minimum(s, steps) / steps
    reference = 0.01 + 0.5 * 0.99 * (1 - np.tanh(lb * (1 - p) + ub * p))
    check(out, np.where(s < steps, reference, 0.01))


@on_both
@parametrize("k", [0.5, 2.0])
def test_fill_cosine_k(start, dtype, k):
    out = run(K["cosine"].fill_cosine_k, start, dtype, 1.0, 125_000, 0.1, 1.0, 0.5, k)
    x = (np.minimum(steps_from(start), 125_000) / 125_000) ** k
    check(out, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * x)))


@on_both
@parametrize("k, power", [(0.5, 0.5), (2.0, 1.0), (1.5, 3.0)])
def test_fill_polynomial_k(start, dtype, k, power):
    out = run(K["decay"].fill_polynomial_k, start, dtype, 0.5, 0.01, 125_000, power, k)
    # in extended precision: 1 - x ** k in float64 cancels near the end, where the kernel does not
    x = np.minimum(steps_from(start), 125_000).astype(np.longdouble) / 125_000
    check(out, 0.49 * (1 - x ** np.longdouble(k)) ** power + 0.01, peak=0.5)


@on_both
@parametrize("period, decay, limit", [(7, 0.9, -1), (5000, 1.0, 30), (100_000, 0.5, 1)])
def test_fill_cycles(start, dtype, period, decay, limit):
    initial, end = 1.0, 0.05
    r = np.arange(period)
    cycle = end + (initial - end) * 0.5 * (1 + np.cos(np.pi * r / period))
    out = run(K["cyclic"].fill_cycles, start, dtype, cycle, end, initial, decay, limit)
    s = steps_from(start)
    c, r = s // period, s % period
    top = initial * decay ** c.astype(np.float64)
    reference = end + (top - end) * 0.5 * (1 + np.cos(np.pi * r / period))
    if limit >= 0:
        reference = np.where(c < limit, reference, end)
    check(out, reference)
