"""Scalar math shared by the kernels, compiled as helpers that are inlined into each kernel.

Why not ``math.cos``: Numba compiles it to a call into libm (this Numba has no SVML), and a call in
the loop body keeps LLVM from vectorizing the loop, so a cosine table ran at ~9 ns per step instead
of the ~1 ns that writing the memory costs. The polynomial below is plain multiply-adds, which LLVM
vectorizes.

Numba's disk cache does not notice edits to this file (see ``_config``): clear the kernels' cache
after changing anything here.
"""

import math

import numpy as np

from ._config import helper

# cos(pi * x) = -sin(pi * y) with y = x - 1/2 in [-1/2, 1/2], and sin(pi * y) = y * Q(y * y) with
# Q(z) = 2 + (z - 1/4) * R(z). Writing Q that way makes Q(1/4) exactly 2, so the ends come out
# exact: cos_pi(0) == 1.0, cos_pi(1) == -1.0 and cos_pi(0.5) == 0.0, as with math.cos.
# R (degree 7) is a least-squares fit of (sin(pi y) / y - 2) / (z - 1/4), weighted by
# y * (z - 1/4), on 400 Chebyshev nodes in y in (0, 1/2], solved in 40-digit arithmetic (mpmath)
# and rounded to float64. Max error of cos_pi on [0, 1]: 2.2e-16 (1 ulp of 1.0) against mpmath.
_R0 = -4.566370614359173
_R1 = 2.405368662763183
_R2 = -0.579181508456271
_R3 = 0.08033208344556618
_R4 = -0.007255212440102781
_R5 = 0.00046087172303752646
_R6 = -2.1710006571989616e-05
_R7 = 7.684742861207215e-07


@helper
def cos_pi(x):
    """cos(pi * x) for x in [0, 1] (float64), to 1 ulp; exact at 0, 1/2 and 1."""
    y = x - 0.5
    z = y * y
    r = _R7
    r = r * z + _R6
    r = r * z + _R5
    r = r * z + _R4
    r = r * z + _R3
    r = r * z + _R2
    r = r * z + _R1
    r = r * z + _R0
    return -(y * (2.0 + (z - 0.25) * r))


@helper
def step_float(base, j):
    """``float(base + j)`` for a whole number `base` < 2**53 and 0 <= j < 2**31, exactly.

    Written as ``float(base) + float(int32(j))`` so that a loop over `j` vectorizes on AVX2:
    x86 converts packed int32 to float64 (vcvtdq2pd), but packed int64 only with AVX-512DQ
    (vcvtqq2pd); an int64 conversion per step kept every AVX2 kernel's loop half scalar
    (``vcvtsi2sd`` per value, bench/results/table_floor.md). Both sums are exact in float64.
    """
    return float(base) + float(np.int32(j))


@helper
def ratio(num, den, inv_den):
    """num / den as num * inv_den (inv_den = 1 / den), exactly 1.0 where num == den.

    A vectorized division costs as much as the whole rest of a cosine step (vdivpd: ~2 cycles per
    float64); the product is within an ulp of the quotient, and exact at 0 and, by the select, at 1,
    where schedules must land exactly on their end values.
    """
    return 1.0 if num == den else num * inv_den


@helper
def cos_anneal(high, low, x):
    """Half a cosine from `high` at x = 0 to `low` at x = 1: low + (high - low) (1 + cos(pi x)) / 2."""
    return low + (high - low) * 0.5 * (1.0 + cos_pi(x))


# 1/k! for k = 0..13: the Taylor series of exp, cut where the next term is below 1e-15 on [-1/2, 1/2].
_E = tuple(1.0 / math.factorial(k) for k in range(14))
_E0, _E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = _E


@helper
def exp_small(t):
    """exp(t) for |t| <= 1/2 (float64), to ~1e-16 relative."""
    r = _E13
    r = r * t + _E12
    r = r * t + _E11
    r = r * t + _E10
    r = r * t + _E9
    r = r * t + _E8
    r = r * t + _E7
    r = r * t + _E6
    r = r * t + _E5
    r = r * t + _E4
    r = r * t + _E3
    r = r * t + _E2
    r = r * t + _E1
    return r * t + _E0


@helper
def log1m_small(v):
    """log(1 - v) for 0 <= v <= 1/64 (float64), to ~1e-19: the series -(v + v^2/2 + ... + v^10/10)."""
    r = 0.1
    r = r * v + 1.0 / 9.0
    r = r * v + 0.125
    r = r * v + 1.0 / 7.0
    r = r * v + 1.0 / 6.0
    r = r * v + 0.2
    r = r * v + 0.25
    r = r * v + 1.0 / 3.0
    r = r * v + 0.5
    r = r * v + 1.0
    return -(r * v)
