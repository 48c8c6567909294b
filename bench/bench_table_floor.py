"""How close each kernel comes to the memory floor, on this machine's SIMD level.

Run by hand (never a test):

    python bench/bench_table_floor.py              # N = 1e8, 7 rounds
    python bench/bench_table_floor.py --n 1e7 --rounds 5

For each family, interleaved in every round: the floor (``out.fill(1.0)`` into an array allocated
once: writing the memory and nothing else) and the kernel into the same array (``_fill``), in
float32 and in float64. The table gives the median over rounds of kernel / floor measured back
to back, the kernel's time, and its cost in core cycles per element (time x clock x threads / N,
with the clock read from /proc/cpuinfo: an estimate, the clock moves). A kernel within ~1.5x of
the floor is bound by memory; far above it, by its arithmetic.

Writes bench/results/table_floor.md (with --out DIR elsewhere; --name for another file name).
With LRS_TREE=DIR in the environment it measures the keras_lrsched checkout in DIR instead (its
keras_lrsched/kernels linked to its kernels/), e.g. an older commit for a before/after.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
if os.environ.get("LRS_TREE"):  # another checkout: bypass the editable install's finder
    sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__]
    sys.path.insert(0, os.environ["LRS_TREE"])

from bench_first_fit import machine  # noqa: E402


def families(n):
    import keras_lrsched as lrs

    w = max(1, n // 20)
    return {
        "warmup_cosine": lrs.Warmup(lrs.Cosine(1.0, steps=n - w), warmup_steps=w),
        "sgdr": lrs.Warmup(lrs.CosineRestarts(1.0, period=1000, t_mul=2.0, m_mul=0.9),
                           warmup_steps=500),
        "one_cycle": lrs.OneCycle(1.0, steps=n),
        "cyclic": lrs.Cyclic(0.1, peak=1.0, step_size_up=2000),
        "wsd_cosine": lrs.WarmupStableDecay(1.0, warmup_steps=w, stable_steps=n // 2,
                                            decay_steps=n // 4),
        "inverse_sqrt": lrs.InverseSqrt(1.0, warmup_steps=w),
        "exponential": lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=n // 10),
    }


def arithmetic_probe(numba, n, rounds):
    """The cosine's inner loop on one thread, in float64 (as the kernel computes) and in float32
    (twice the SIMD lanes, not accurate enough for the tables), into float32 memory: if halving
    the arithmetic's width nearly halves the time, the loop is bound by its arithmetic."""
    from keras_lrsched.kernels._math import _R0, _R1, _R2, _R3, _R4, _R5, _R6, _R7

    def make(ftype):
        r = tuple(ftype(c) for c in (_R0, _R1, _R2, _R3, _R4, _R5, _R6, _R7))
        half, quarter, two, inv = ftype(0.5), ftype(0.25), ftype(2.0), ftype(1.0 / n)

        @numba.njit(fastmath=False)
        def loop(out):
            for i in range(out.shape[0]):
                x = ftype(np.int32(i)) * inv
                y = x - half
                z = y * y
                q = r[7]
                q = q * z + r[6]
                q = q * z + r[5]
                q = q * z + r[4]
                q = q * z + r[3]
                q = q * z + r[2]
                q = q * z + r[1]
                q = q * z + r[0]
                out[i] = half * (ftype(1.0) - y * (two + (z - quarter) * q))

        return loop

    out = np.empty(n, np.float32)
    result = {}
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for name, ftype in (("float64", np.float64), ("float32", np.float32)):
            loop = make(ftype)
            loop(out)
            result[name] = statistics.median(timed(lambda: loop(out)) for _ in range(rounds)) / n
    finally:
        numba.set_num_threads(threads)
    return result


def clock_ghz():
    try:
        with open("/proc/cpuinfo") as f:
            mhz = [float(l.split(":")[1]) for l in f if l.startswith("cpu MHz")]
        return statistics.median(mhz) / 1000
    except (OSError, ValueError, IndexError):
        return float("nan")


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=float, default=1e8)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--name", default="table_floor")
    args = ap.parse_args()
    n = int(args.n)
    from keras_lrsched.kernels import _config

    numba = _config.load_numba() if hasattr(_config, "load_numba") else _config.numba
    threads = numba.get_num_threads()
    rows = []
    for dtype in ("float32", "float64"):
        out = np.empty(n, dtype)
        for name, schedule in families(n).items():
            schedule._fill(out[: 1 << 21], 0)  # compile (or load) the kernels first
            ratios, kernel_times = [], []
            for _ in range(args.rounds):
                floor = timed(lambda: out.fill(1.0))
                kernel = timed(lambda: schedule._fill(out, 0))
                ratios.append(kernel / floor)
                kernel_times.append(kernel)
            t = statistics.median(kernel_times)
            cycles = t * clock_ghz() * 1e9 * threads / n
            rows.append((name, dtype, statistics.median(ratios), t, cycles))
            print(f"{name:14s} {dtype}  {rows[-1][2]:.2f}x floor  {t:.3f} s  "
                  f"{cycles:.2f} cycles/element", flush=True)
    lines = [
        "# Tables against the memory floor" + (f" ({os.environ['LRS_TREE']})"
                                                if os.environ.get("LRS_TREE") else ""),
        "",
        f"Machine: {machine()}, {threads} threads, ~{clock_ghz():.2f} GHz. "
        f"Python {platform.python_version()}, Numba {numba.__version__}. N = {n:.0e}, "
        f"medians of {args.rounds} interleaved rounds (`bench/bench_table_floor.py`).",
        "",
        "| family | dtype | kernel / floor | kernel (s) | cycles per element (all threads) |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {d} | {r:.2f}x | {t:.3f} | {c:.2f} |" for a, d, r, t, c in rows]
    probe = arithmetic_probe(numba, n, args.rounds)
    ghz = clock_ghz()
    lines += [
        "",
        "The half-cosine's inner loop alone, one thread, into float32 memory "
        "(`arithmetic_probe`):",
        "",
        "| arithmetic | ns per element | cycles per element |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v * 1e9:.2f} | {v * 1e9 * ghz:.2f} |" for k, v in probe.items()]
    print(probe)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
