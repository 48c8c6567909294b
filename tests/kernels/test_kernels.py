"""Each Numba fill kernel against a plain NumPy float64 reference written here.

Backend-free: nothing here imports keras. The kernels folder is loaded straight from the source
tree (see `load_kernels`), because importing ``keras_lrsched.kernels`` would run
``keras_lrsched/__init__.py`` (and import keras) first. Run once more with ``NUMBA_DISABLE_JIT=1``
so that coverage sees the kernel bodies as Python.

Every kernel is checked with float32 and float64 outputs, from step 0 and from a later step, on
tables longer than one of the kernels' blocks (``_config.BLOCK``) so that runs cross block edges.
"""

import importlib
import importlib.util
import math
import pathlib
import subprocess
import sys
import textwrap
import types
from fractions import Fraction

import numpy as np
import pytest

KERNELS_DIR = pathlib.Path(__file__).resolve().parents[2] / "kernels"
PACKAGE = "keras_lrsched.kernels"
MODULES = ("_config", "decay", "cosine", "cyclic", "warmup", "lookup")


def load_kernels():
    """The kernel modules, under their installed names but without keras_lrsched's __init__.

    The names matter: Numba's disk cache records the module of each compiled kernel and imports
    it when loading the cache, so kernels loaded under any other name would read the package's
    cache entries by importing keras_lrsched (and keras), and write entries the package could
    not load. When keras_lrsched is already imported (the whole suite in one process), its own
    kernels are used.
    """
    if PACKAGE not in sys.modules and "keras_lrsched" not in sys.modules:
        parent = types.ModuleType("keras_lrsched")  # a bare stand-in, only while loading
        parent.__path__ = []
        sys.modules["keras_lrsched"] = parent
        try:
            spec = importlib.util.spec_from_file_location(
                PACKAGE, KERNELS_DIR / "__init__.py", submodule_search_locations=[str(KERNELS_DIR)]
            )
            package = importlib.util.module_from_spec(spec)
            sys.modules[PACKAGE] = package
            spec.loader.exec_module(package)
            modules = {name: importlib.import_module(f"{PACKAGE}.{name}") for name in MODULES}
        finally:
            del sys.modules["keras_lrsched"]
        return modules
    return {name: importlib.import_module(f"{PACKAGE}.{name}") for name in MODULES}


K = load_kernels()
BLOCK = getattr(K["_config"], "BLOCK", 1 << 14)
N = BLOCK + BLOCK // 2 + 77  # crosses a block edge
STARTS = [0, 123_457]
DTYPES = [np.float32, np.float64]


def run(kernel, start, dtype, *params, n=N):
    out = np.full(n, np.nan, dtype=dtype)
    kernel(out, start, *params)
    return out


def steps_from(start, n=N):
    return np.arange(start, start + n, dtype=np.int64)


def check(out, reference, peak=None):
    """float64: the formula to ~1e-13 (plus 1e-15 of the schedule's `peak`, for values computed
    as a difference from it); float32: the float64 value rounded, to 1 ulp."""
    reference = np.asarray(reference, dtype=np.float64)
    assert not np.isnan(out).any(), "kernel left entries unwritten"
    scale = peak or float(np.abs(reference).max()) or 1.0
    if out.dtype == np.float64:
        np.testing.assert_allclose(out, reference, rtol=1e-13, atol=1e-15 * scale)
    else:
        np.testing.assert_allclose(out, reference.astype(np.float32), rtol=1.2e-7, atol=1e-12)


parametrize = pytest.mark.parametrize
both = [parametrize("start", STARTS), parametrize("dtype", DTYPES, ids=["f32", "f64"])]


def on_both(fn):
    for mark in both:
        fn = mark(fn)
    return fn


# ---------------------------------------------------------------------------------------------
# decay.py


@on_both
@parametrize("staircase", [False, True])
def test_fill_time_decay(start, dtype, staircase):
    out = run(K["decay"].fill_time_decay, start, dtype, 0.1, 0.5, 777, staircase)
    s = steps_from(start)
    p = np.floor(s / 777) if staircase else s / 777
    check(out, 0.1 / (1.0 + 0.5 * p))


@on_both
def test_fill_step_decay(start, dtype):
    out = run(K["decay"].fill_step_decay, start, dtype, 0.3, 0.999, 101)
    check(out, 0.3 * 0.999 ** (steps_from(start) // 101))


@on_both
def test_fill_piecewise(start, dtype):
    boundaries = np.array([10, 17_000, 123_500], dtype=np.int64)
    values = np.array([0.4, 0.3, 0.2, 0.1])
    out = run(K["decay"].fill_piecewise, start, dtype, boundaries, values)
    check(out, values[(steps_from(start)[:, None] >= boundaries[None, :]).sum(axis=1)])


@on_both
@parametrize(
    "rate, staircase, end",
    [(0.9, False, None), (0.5, True, 0.01), (1.0001, False, 0.2)],
    ids=["smooth", "staircase-floor", "growing-ceiling"],
)
def test_fill_exponential_decay(start, dtype, rate, staircase, end):
    has_end = end is not None
    out = run(
        K["decay"].fill_exponential_decay, start, dtype, 0.1, math.log(rate), 1000, staircase,
        end if has_end else 0.0, has_end,
    )
    s = steps_from(start)
    p = np.floor(s / 1000) if staircase else s / 1000
    expected = 0.1 * rate**p
    if has_end:
        expected = np.minimum(expected, end) if rate > 1 else np.maximum(expected, end)
    check(out, expected)


@on_both
@parametrize("power", [1.0, 2.0, 3.0, 0.5, 1.7])  # 1, 2, 3, 1/2: own loops; 1.7: pow per chunk
def test_fill_polynomial(start, dtype, power):
    steps = 130_000  # past it for start=123457 and N > 6543
    out = run(K["decay"].fill_polynomial, start, dtype, 0.5, 0.01, steps, power)
    s = np.minimum(steps_from(start), steps)
    # (steps - s) / steps, not 1 - s / steps: near the end, the latter keeps only ~1e-12 of the
    # relative precision of the fraction left, which a square root passes on
    check(out, (0.5 - 0.01) * ((steps - s) / steps) ** power + 0.01)


# ---------------------------------------------------------------------------------------------
# cosine.py


def cos_half(x):
    """0.5 * (1 + cos(pi x)): 1 at x = 0, 0 at x = 1."""
    return 0.5 * (1.0 + np.cos(np.pi * x))


@on_both
def test_fill_cosine(start, dtype):
    out = run(K["cosine"].fill_cosine, start, dtype, 1.0, 125_000, 0.1, 1.0, 0.5)
    s = np.minimum(steps_from(start), 125_000)
    check(out, 0.1 + 0.9 * cos_half(s / 125_000))


@on_both
@parametrize("exponent, num_cycles", [(2.0, 0.5), (1.0, 1.5), (0.5, 2.0)])
def test_fill_cosine_general_shape(start, dtype, exponent, num_cycles):
    out = run(K["cosine"].fill_cosine, start, dtype, 1.0, 125_000, 0.1, exponent, num_cycles)
    s = np.minimum(steps_from(start), 125_000)
    check(out, 0.1 + 0.9 * cos_half(2 * num_cycles * s / 125_000) ** exponent)


@on_both
@parametrize("period", [7, 5000, 100_000])
def test_fill_cosine_restarts_fixed(start, dtype, period):
    out = run(K["cosine"].fill_cosine_restarts_fixed, start, dtype, 1.0, period, 0.99, 0.05)
    s = steps_from(start)
    c, r = np.divmod(s, period)
    check(out, 0.05 + 0.95 * 0.99**c * cos_half(r / period))


def sgdr_cycles(period, t_mul, m_mul):
    """(starts, start_frac, lengths, amplitudes) of SGDR cycles, exactly, plus a sentinel."""
    t = Fraction(t_mul)
    real, length = Fraction(0), Fraction(period)
    starts, fracs, lengths, amps = [], [], [], []
    while real <= 2**40:
        first = math.ceil(real)
        starts.append(first)
        fracs.append(float(first - real))
        lengths.append(float(length))
        amps.append(m_mul ** len(amps))
        real, length = real + length, length * t
    starts.append(2**62)  # sentinel
    return (
        np.array(starts, np.int64), np.array(fracs), np.array(lengths), np.array(amps),
        [Fraction(s) - Fraction(f) for s, f in zip(starts, fracs)],
    )


@on_both
@parametrize("period, t_mul", [(5000, 2.0), (1001, 1.5), (3, 3.0)])
def test_fill_cosine_restarts(start, dtype, period, t_mul):
    starts, fracs, lengths, amps, real_starts = sgdr_cycles(period, t_mul, 0.8)
    out = run(
        K["cosine"].fill_cosine_restarts, start, dtype, 1.0, 0.02, starts, fracs, lengths, amps
    )
    expected = []
    for s in steps_from(start).tolist():
        c = int(np.searchsorted(starts, s, side="right")) - 1
        x = float((s - real_starts[c]) / Fraction(lengths[c]))
        expected.append(0.02 + 0.98 * amps[c] * 0.5 * (1.0 + math.cos(math.pi * x)))
    check(out, expected)


# ---------------------------------------------------------------------------------------------
# cyclic.py


@on_both
@parametrize("mode", [0, 1, 2], ids=["triangular", "triangular2", "exp_range"])
@parametrize("up, down", [(3, 5), (4000, 9000)])
@parametrize("low, high", [(0.01, 1.0), (0.95, 0.85)], ids=["lr", "momentum"])
def test_fill_cyclic(start, dtype, mode, up, down, low, high):
    # The momentum of CyclicMomentum is the same wave going down: `high` below `low`.
    gamma = 0.99999
    out = run(K["cyclic"].fill_cyclic, start, dtype, low, high, up, down, mode, math.log(gamma))
    s = steps_from(start)
    c, pos = np.divmod(s, up + down)
    x = np.where(pos <= up, pos / up, (up + down - pos) / down)
    scale = [np.ones_like(x), 0.5**c, gamma**s][mode]
    check(out, low + (high - low) * x * scale)


@parametrize("gamma", [0.9999, 1.0 - 1e-16], ids=["chunks-of-5000", "chunks-of-a-block"])
def test_fill_cyclic_exp_range_from_any_start_is_a_slice_bit_for_bit(gamma):
    # exp_range computes exp once per chunk of steps; the chunks are anchored on the step, not on
    # where the table starts, so a float64 table from step k is the longer one's [k:] exactly
    # (a momentum falling to 0 cancels down to where its last float64 bit shows in float32).
    params = (5.0, 0.0, 1, 1, 2, math.log(gamma))
    full = run(K["cyclic"].fill_cyclic, 0, np.float64, *params, n=N + 30_000)
    for k in (1, 777, BLOCK - 3, 12_345, 30_000):
        part = run(K["cyclic"].fill_cyclic, k, np.float64, *params)
        np.testing.assert_array_equal(part, full[k : k + N], err_msg=f"from step {k}")


def one_cycle_phases(total, pct, three_phase, max_lr=1.0, div=25.0, final_div=1e4):
    initial = max_lr / div
    final = initial / final_div
    if three_phase:
        ends = [pct * total - 1, 2 * pct * total - 2, total - 1.0]
        pairs = [(initial, max_lr), (max_lr, initial), (initial, final)]
    else:
        ends = [pct * total - 1, total - 1.0]
        pairs = [(initial, max_lr), (max_lr, final)]
    begins = [0.0] + ends[:-1]
    return begins, ends, pairs


@on_both
@parametrize("anneal", [0, 1], ids=["cos", "linear"])
@parametrize(
    "total, pct, three_phase",
    [(20_000, 0.3, False), (40_001, 0.3, True), (123_500, 0.5, False)],
)
def test_fill_one_cycle(start, dtype, anneal, total, pct, three_phase):
    begins, ends, pairs = one_cycle_phases(total, pct, three_phase)
    thresholds = np.floor(ends).astype(np.int64)
    out = run(
        K["cyclic"].fill_one_cycle, start, dtype, total - 1, thresholds, np.array(begins),
        np.array(ends), np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]), anneal,
    )
    expected = []
    for s in steps_from(start).tolist():
        s = min(s, total - 1)  # holds the final value
        k = next(i for i, e in enumerate(ends) if s <= e or i == len(ends) - 1)
        x = (s - begins[k]) / (ends[k] - begins[k])
        lo, hi = pairs[k]
        if anneal == 0:
            expected.append(hi + (lo - hi) * 0.5 * (1.0 + math.cos(math.pi * x)))
        else:
            expected.append(lo + (hi - lo) * x)
    check(out, expected, peak=1.0)


# ---------------------------------------------------------------------------------------------
# warmup.py


@on_both
@parametrize("w, timescale", [(124_000, 124_000), (124_000, 5000), (0, 10_000)])
def test_fill_inverse_sqrt(start, dtype, w, timescale):
    out = run(K["warmup"].fill_inverse_sqrt, start, dtype, 0.01, w, timescale)
    s = steps_from(start).astype(np.float64)
    decay = 0.01 * np.sqrt(timescale / (np.maximum(s - w, 0.0) + timescale))
    check(out, np.where(s < w, 0.01 * s / max(w, 1), decay))


@on_both
@parametrize("decay", [0, 1, 2], ids=["cosine", "linear", "sqrt"])
@parametrize("warmup", [0, 3000])
def test_fill_warmup_stable_decay(start, dtype, decay, warmup):
    stable, decay_steps = 120_000, 9000
    out = run(
        K["warmup"].fill_warmup_stable_decay, start, dtype, 1.0, warmup, stable, decay_steps,
        0.1, decay,
    )
    s = steps_from(start).astype(np.float64)
    p = np.clip((s - warmup - stable) / decay_steps, 0.0, 1.0)
    shape = [cos_half(p), 1.0 - p, 1.0 - np.sqrt(p)][decay]
    expected = np.where(
        s < warmup,
        s / max(warmup, 1),
        np.where(s < warmup + stable, 1.0, 0.1 + 0.9 * shape),
    )
    check(out, expected)


# ---------------------------------------------------------------------------------------------
# lookup.py


@on_both
def test_fill_lookup(start, dtype):
    values = np.linspace(0.5, 0.01, 124_000)
    out = run(K["lookup"].fill_lookup, start, dtype, values)
    check(out, values[np.minimum(steps_from(start), len(values) - 1)])


def half_every_ten(step):
    return 0.2 * 0.5 ** (step // 10)


@on_both
def test_fill_function(start, dtype):
    import numba

    fn = numba.njit(half_every_ten)
    out = run(K["lookup"].fill_function, start, dtype, fn, n=2000)
    check(out, [half_every_ten(s) for s in steps_from(start, 2000).tolist()])


def decay_on_odd_epochs(epoch, lr):
    return lr * 0.9 if epoch % 2 == 1 else lr


@parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_scan_recurrence(dtype):
    import numba

    out = np.full(200, np.nan, dtype=dtype)
    K["lookup"].scan_recurrence(out, numba.njit(decay_on_odd_epochs), 0.1)
    lr, expected = float(np.float32(0.1)), []
    for k in range(200):
        lr = float(np.float32(decay_on_odd_epochs(k, lr)))  # as through a float32 variable
        expected.append(lr)
    np.testing.assert_array_equal(out, np.asarray(expected, dtype=dtype))


# ---------------------------------------------------------------------------------------------


def test_kernels_import_neither_keras_nor_compiles():
    code = textwrap.dedent(
        f"""
        import importlib, importlib.util, sys
        spec = importlib.util.spec_from_file_location(
            "k", {str(KERNELS_DIR / "__init__.py")!r},
            submodule_search_locations=[{str(KERNELS_DIR)!r}],
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["k"] = package
        spec.loader.exec_module(package)
        assert "numba" not in sys.modules, "the package imported numba"
        cosine = importlib.import_module("k.cosine")
        for name in ("decay", "cyclic", "warmup", "lookup"):
            importlib.import_module("k." + name)
        assert not any(m == "keras" or m.startswith("keras.") for m in sys.modules)
        assert getattr(cosine.fill_cosine, "signatures", []) == [], "compiled at import"
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
