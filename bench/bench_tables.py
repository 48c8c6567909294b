"""Table benchmark: how fast each way of writing an lr table for N steps runs, in ns per step.

Run by hand (never a test):

    python bench/bench_tables.py            # N = 1e6, 1e7, 1e8 (a few minutes on 2 cores)
    python bench/bench_tables.py --quick    # N = 1e5, 1e6 (well under a minute)

Families (peak lr 1.0 in each, so errors read as fractions of the peak):
  warmup_cosine  linear warmup over N/20 steps, then a cosine to 0 at step N (optax's
                 warmup_cosine_decay_schedule);
  sgdr           a 500-step warmup, then cosine restarts with period=1000, t_mul=2, m_mul=0.9;
  one_cycle      torch's OneCycleLR defaults over N steps;
  cyclic         torch's CyclicLR "triangular", 0.1..1.0, step_size_up=2000.

Ways, each timed as a median of several repeats, all in one run so the ratios are side by side:
  floor          np.empty(N, float32).fill(1.0): allocating and writing the memory, nothing else;
  ours           schedule.table(N) (float32): allocation plus the Numba kernel;
  floor/ours, reused   the same into an array allocated once (no page faults: the steady state);
  numpy          a vectorized float64 NumPy closed form, cast to float32;
  optax          optax's schedule under jax.jit(jax.vmap(...)) on jnp.arange(N) (no cyclic in optax);
  keras:<b>      our closed form (schedule(steps), keras.ops) under jax.jit, tf.function or torch,
                 each backend in its own subprocess since KERAS_BACKEND is fixed at import;
  python         a plain Python loop (measured on a shorter run and extrapolated: it is linear);
  torch sched    torch.optim.lr_scheduler stepped once per step, reading the lr each time
                 (measured on 2e4 steps and extrapolated; reported in µs per step too).

It also checks the accuracy of ours against an independent float64 NumPy reference: the max
error as a fraction of the peak, and the number of steps off by more than 2e-7 x peak (a step put
in the wrong segment is off by far more than that).

Writes bench/results/tables.md, tables.json and tables.png (with --out DIR elsewhere).
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = ("warmup_cosine", "sgdr", "one_cycle", "cyclic")
KERAS_BACKENDS = ("jax", "tensorflow", "torch")
TOL = 2e-7  # max error allowed, as a fraction of the peak

# SGDR parameters (fixed, as in the issue) and cyclic/one-cycle parameters.
SGDR_WARMUP, SGDR_PERIOD, SGDR_T_MUL, SGDR_M_MUL = 500, 1000, 2, 0.9
CYC_LOW, CYC_HIGH, CYC_UP = 0.1, 1.0, 2000
OC_PCT, OC_DIV, OC_FINAL_DIV = 0.3, 25.0, 1e4


def warmup_steps(n):
    return max(1, n // 20)


# --------------------------------------------------------------------------------------------
# keras_lrsched schedules


def our_schedule(family, n):
    import keras_lrsched as lrs

    if family == "warmup_cosine":
        w = warmup_steps(n)
        return lrs.Warmup(lrs.Cosine(1.0, steps=n - w, end=0.0), warmup_steps=w, initial=0.0)
    if family == "sgdr":
        return lrs.Warmup(
            lrs.CosineRestarts(1.0, period=SGDR_PERIOD, t_mul=SGDR_T_MUL, m_mul=SGDR_M_MUL),
            warmup_steps=SGDR_WARMUP,
            initial=0.0,
        )
    if family == "one_cycle":
        return lrs.OneCycle(
            1.0, steps=n, pct_start=OC_PCT, div_factor=OC_DIV, final_div_factor=OC_FINAL_DIV
        )
    if family == "cyclic":
        return lrs.Cyclic(CYC_LOW, peak=CYC_HIGH, step_size_up=CYC_UP)
    raise ValueError(family)


def other_schedules(n):
    """Every other kernel path, at typical parameters (ours only: speed against the floor)."""
    import keras_lrsched as lrs

    return {
        "Cosine": lrs.Cosine(1.0, steps=n),
        "CosineRestarts t_mul=1": lrs.CosineRestarts(1.0, period=1000, t_mul=1.0, m_mul=0.9),
        "Cyclic triangular2": lrs.Cyclic(0.1, peak=1.0, step_size_up=2000, mode="triangular2"),
        "Cyclic exp_range": lrs.Cyclic(
            0.1, peak=1.0, step_size_up=2000, mode="exp_range", gamma=0.99994
        ),
        "OneCycle three_phase linear": lrs.OneCycle(
            1.0, steps=n, three_phase=True, anneal="linear"
        ),
        "Linear": lrs.Linear(1.0, end=0.0, steps=n),
        "Polynomial power=2": lrs.Polynomial(1.0, end=0.0, steps=n, power=2.0),
        "ExponentialDecay": lrs.ExponentialDecay(1.0, decay_rate=0.5, decay_steps=max(1, n // 10)),
        "StepDecay": lrs.StepDecay(1.0, factor=0.5, step_size=max(1, n // 10)),
        "MultiStepDecay": lrs.MultiStepDecay(
            1.0, milestones=[n // 4, n // 2, 3 * n // 4], factor=0.1
        ),
        "Piecewise": lrs.Piecewise([1.0, 0.5, 0.25], boundaries=[n // 4, n // 2]),
        "TimeDecay": lrs.TimeDecay(1.0, decay_rate=1.0, decay_steps=max(1, n // 10)),
        "InverseSqrt": lrs.InverseSqrt(1.0, warmup_steps=1000),
        "WarmupStableDecay cosine": lrs.WarmupStableDecay(
            1.0, warmup_steps=n // 10, stable_steps=n // 2, decay_steps=n - n // 10 - n // 2
        ),
        "Table (lookup)": lrs.Table(np.linspace(1.0, 0.0, 1000)),
    }


def bench_others(n, repeats):
    """ours / floor for every other schedule, interleaved with the floor."""
    scheds = other_schedules(n)
    for s in scheds.values():
        s.table(min(n, 1000))
    times = {"floor": []} | {k: [] for k in scheds}
    for _ in range(repeats):
        for k in times:
            fn = (lambda: np.empty(n, np.float32).fill(1.0)) if k == "floor" else scheds[k].table
            t0 = time.perf_counter()
            fn() if k == "floor" else fn(n)
            times[k].append(time.perf_counter() - t0)
    floor = np.asarray(times.pop("floor"))
    return {k: {"ns": float(np.median(t)) / n * 1e9, "x_floor": float(np.median(np.asarray(t) / floor))}
            for k, t in times.items()} | {"floor": {"ns": float(np.median(floor)) / n * 1e9, "x_floor": 1.0}}


# --------------------------------------------------------------------------------------------
# NumPy closed forms in float64, written here from the formulas (not from keras_lrsched), so they
# double as the accuracy reference. Segments come from integer arithmetic on int64 steps.


def _sgdr_cycle_starts(last_step):
    """Integer first step of each cycle (after the warmup) up to past `last_step`."""
    starts, c = [0], 0
    while starts[-1] <= last_step:
        c += 1
        starts.append(SGDR_PERIOD * (SGDR_T_MUL**c - 1) // (SGDR_T_MUL - 1))
    return np.asarray(starts, np.int64)


def numpy_table(family, n):
    s = np.arange(n, dtype=np.int64)
    if family == "warmup_cosine":
        w = warmup_steps(n)
        d = n - w
        after = np.minimum(np.maximum(s - w, 0), d) / d
        return np.where(s < w, s / w, 0.5 * (1.0 + np.cos(np.pi * after)))
    if family == "sgdr":
        t = np.maximum(s - SGDR_WARMUP, 0)
        starts = _sgdr_cycle_starts(max(n, 1))
        c = np.searchsorted(starts, t, side="right") - 1
        length = SGDR_PERIOD * np.power(float(SGDR_T_MUL), c)
        amp = np.power(SGDR_M_MUL, c)
        cos = amp * 0.5 * (1.0 + np.cos(np.pi * (t - starts[c]) / length))
        return np.where(s < SGDR_WARMUP, s / SGDR_WARMUP, cos)
    if family == "one_cycle":
        initial = 1.0 / OC_DIV
        final = initial / OC_FINAL_DIV
        b0, b1 = OC_PCT * n - 1.0, n - 1.0
        t = np.minimum(s, n - 1)
        first = t <= math.floor(b0)
        pct = np.where(first, t / b0, (t - b0) / (b1 - b0))
        lo = np.where(first, initial, 1.0)
        hi = np.where(first, 1.0, final)
        return hi + (lo - hi) * 0.5 * (1.0 + np.cos(np.pi * pct))
    if family == "cyclic":
        total = 2 * CYC_UP
        pos = s % total
        x = np.where(pos <= CYC_UP, pos / CYC_UP, (total - pos) / CYC_UP)
        return CYC_LOW + (CYC_HIGH - CYC_LOW) * x
    raise ValueError(family)


def python_table(family, n):
    out = np.empty(n, np.float32)
    cos, pi = math.cos, math.pi
    if family == "warmup_cosine":
        w = warmup_steps(n)
        d = n - w
        for k in range(n):
            out[k] = k / w if k < w else 0.5 * (1.0 + cos(pi * min(k - w, d) / d))
    elif family == "sgdr":
        for k in range(n):
            if k < SGDR_WARMUP:
                out[k] = k / SGDR_WARMUP
            else:
                t = k - SGDR_WARMUP
                c = (t // SGDR_PERIOD + 1).bit_length() - 1  # t_mul = 2: cycle starts 1000 (2^c - 1)
                first = SGDR_PERIOD * (2**c - 1)
                out[k] = SGDR_M_MUL**c * 0.5 * (1.0 + cos(pi * (t - first) / (SGDR_PERIOD * 2**c)))
    elif family == "one_cycle":
        initial = 1.0 / OC_DIV
        final = initial / OC_FINAL_DIV
        b0, b1 = OC_PCT * n - 1.0, n - 1.0
        edge = math.floor(b0)
        for k in range(n):
            if k <= edge:
                out[k] = 1.0 + (initial - 1.0) * 0.5 * (1.0 + cos(pi * k / b0))
            else:
                out[k] = final + (1.0 - final) * 0.5 * (1.0 + cos(pi * (k - b0) / (b1 - b0)))
    else:
        total = 2 * CYC_UP
        for k in range(n):
            pos = k % total
            x = pos / CYC_UP if pos <= CYC_UP else (total - pos) / CYC_UP
            out[k] = CYC_LOW + (CYC_HIGH - CYC_LOW) * x
    return out


# --------------------------------------------------------------------------------------------
# optax


def optax_schedule(family, n):
    import optax

    if family == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps(n), n, 0.0)
    if family == "sgdr":
        # optax has no t_mul: join one cosine per cycle after a linear warmup.
        starts = _sgdr_cycle_starts(n)
        parts = [optax.linear_schedule(0.0, 1.0, SGDR_WARMUP)]
        boundaries = []
        for c in range(len(starts) - 1):
            parts.append(optax.cosine_decay_schedule(SGDR_M_MUL**c, int(starts[c + 1] - starts[c])))
            boundaries.append(int(SGDR_WARMUP + starts[c]))
        return optax.join_schedules(parts, boundaries)
    if family == "one_cycle":
        return optax.cosine_onecycle_schedule(n, 1.0, OC_PCT, OC_DIV, OC_FINAL_DIV)
    return None  # optax has no cyclic schedule


# --------------------------------------------------------------------------------------------
# timing


def timed(fn, repeats, after=None):
    """Median and all times of `fn()` in seconds; `after(result)` runs inside the clock."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = fn()
        if after is not None:
            after(r)
        times.append(time.perf_counter() - t0)
        del r
    return float(np.median(times)), times


def repeats_for(seconds, base):
    """Fewer repeats for slow ways: a 1e8-step NumPy table takes seconds."""
    if seconds > 3.0:
        return max(3, base // 2)
    return base


# --------------------------------------------------------------------------------------------
# workers (subprocesses): keras.ops under one backend; torch schedulers


def worker_keras(backend, sizes, repeats):
    os.environ["KERAS_BACKEND"] = backend
    import keras

    results = {}
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def prepare(sched, n):
            f = jax.jit(sched.__call__)
            steps = jnp.arange(n, dtype=jnp.int32)
            return lambda: f(steps).block_until_ready()

    elif backend == "tensorflow":
        import tensorflow as tf

        def prepare(sched, n):
            f = tf.function(sched.__call__)
            steps = tf.range(n, dtype=tf.int64)
            return lambda: f(steps)

    else:
        import torch

        def prepare(sched, n):
            steps = torch.arange(n, dtype=torch.int64)

            def run():
                with torch.no_grad():
                    return sched(steps)

            return run

    for n in sizes:
        for family in FAMILIES:
            sched = our_schedule(family, n)
            run = prepare(sched, n)
            t0 = time.perf_counter()
            run()  # compile / warm up
            first = time.perf_counter() - t0
            med, times = timed(run, repeats_for(first, repeats))
            results[f"{family}:{n}"] = {"median_s": med, "times_s": times}
    keras.backend.clear_session()
    return results


def worker_torch_sched(steps):
    import warnings

    import torch

    warnings.filterwarnings("ignore")  # scheduler.step() before optimizer.step()
    results = {}
    for family in FAMILIES:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=1.0)
        n = 10**8  # the run the scheduler is built for; only `steps` steps are taken
        S = torch.optim.lr_scheduler
        if family == "warmup_cosine":
            w = warmup_steps(n)
            sched = S.SequentialLR(
                opt, [S.LinearLR(opt, 1e-8, 1.0, w), S.CosineAnnealingLR(opt, n - w)], [w]
            )
        elif family == "sgdr":  # torch has no m_mul
            sched = S.SequentialLR(
                opt,
                [S.LinearLR(opt, 1e-8, 1.0, SGDR_WARMUP),
                 S.CosineAnnealingWarmRestarts(opt, SGDR_PERIOD, SGDR_T_MUL)],
                [SGDR_WARMUP],
            )
        elif family == "one_cycle":
            sched = S.OneCycleLR(opt, 1.0, total_steps=n, pct_start=OC_PCT, div_factor=OC_DIV,
                                 final_div_factor=OC_FINAL_DIV, cycle_momentum=False)
        else:
            sched = S.CyclicLR(opt, CYC_LOW, CYC_HIGH, CYC_UP, cycle_momentum=False)
        out = np.empty(steps, np.float32)
        group = opt.param_groups[0]
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            for k in range(steps):
                out[k] = group["lr"]
                sched.step()
            times.append(time.perf_counter() - t0)
        results[family] = {"us_per_step": float(np.median(times)) / steps * 1e6}
    return results


def run_worker(args):
    if args.worker == "torch_sched":
        res = worker_torch_sched(args.torch_steps)
    else:
        res = worker_keras(args.worker.split(":", 1)[1], args.sizes, args.repeats)
    print("RESULT " + json.dumps(res))


def call_worker(kind, sizes, repeats, torch_steps):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--repeats", str(repeats),
           "--torch-steps", str(torch_steps), "--sizes", *map(str, sizes)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(f"worker {kind} failed:\n{proc.stderr[-3000:]}\n")
    return None


# --------------------------------------------------------------------------------------------
# main


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from importlib import metadata

    import numba

    versions = {"python": platform.python_version()}
    for dist in ("numpy", "numba", "llvmlite", "keras", "jax", "jaxlib", "optax", "tensorflow-cpu",
                 "torch", "matplotlib"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "missing"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "threading_layer": _threading_layer(),
        "load_before": os.getloadavg()[0],
        "versions": versions,
    }


def _threading_layer():
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return "not started"


def accuracy(family, n, table):
    ref = numpy_table(family, n)
    err = np.abs(table.astype(np.float64) - ref)
    return {"max_err": float(err.max()), "bad_steps": int(np.count_nonzero(err > TOL))}


def bench_size(n, repeats, python_n, ours_only=False):
    """Time the in-process ways at size n; returns {family: {way: median_s}}, accuracy."""
    import jax
    import jax.numpy as jnp

    out = {f: {} for f in FAMILIES}
    acc = {}
    reused = np.empty(n, np.float32)
    reused.fill(0.0)
    scheds = {f: our_schedule(f, n) for f in FAMILIES}
    for f, s in scheds.items():
        s.table(min(n, 1000))  # compile (or load from the cache) before timing

    # Round-robin: floor and ours interleaved, so both see the same machine state.
    ways = {"floor": lambda: np.empty(n, np.float32).fill(1.0), "floor, reused": lambda: reused.fill(1.0)}
    for f, s in scheds.items():
        ways[f"ours:{f}"] = (lambda s: lambda: s.table(n))(s)
        ways[f"ours, reused:{f}"] = (lambda s: lambda: s._fill(reused, 0))(s)
    times = {k: [] for k in ways}
    for _ in range(repeats):
        for k, fn in ways.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    floor = float(np.median(times["floor"]))
    floor_reused = float(np.median(times["floor, reused"]))
    for f in FAMILIES:
        out[f]["floor"] = floor
        out[f]["floor, reused"] = floor_reused
        out[f]["ours"] = float(np.median(times[f"ours:{f}"]))
        out[f]["ours, reused"] = float(np.median(times[f"ours, reused:{f}"]))
        out[f]["ours/floor per repeat"] = float(
            np.median(np.asarray(times[f"ours:{f}"]) / np.asarray(times["floor"]))
        )
        acc[f] = accuracy(f, n, scheds[f].table(n))

    if ours_only:
        return out, acc
    for f in FAMILIES:
        t0 = time.perf_counter()
        numpy_table(f, n).astype(np.float32)
        first = time.perf_counter() - t0
        out[f]["numpy"], _ = timed(lambda: numpy_table(f, n).astype(np.float32), repeats_for(first, repeats))

        sched = optax_schedule(f, n)
        if sched is not None:
            fn = jax.jit(jax.vmap(sched))
            steps = jnp.arange(n, dtype=jnp.int32)
            t0 = time.perf_counter()
            fn(steps).block_until_ready()
            first = time.perf_counter() - t0
            out[f]["optax"], _ = timed(
                lambda: fn(steps), repeats_for(first, repeats), after=lambda r: r.block_until_ready()
            )
            del steps

        m = min(n, python_n)
        out[f]["python"] = timed(lambda: python_table(f, m), 1)[0] * n / m
    return out, acc


def fmt_ns(seconds, n):
    return f"{seconds / n * 1e9:.3g}"


def report(res, info, sizes, python_n, torch_steps):
    lines = []
    add = lines.append
    v = info["versions"]
    add(f"Machine: {info['cpu']}, {info['cores']} cores; Numba {info['numba_threads']} threads "
        f"({info['threading_layer']} layer). Load average before the run: {info['load_before']:.2f}.")
    add("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    add("")
    add("ns per step (median of repeats; lower is better). `x floor` = ours / floor at that N: the median over "
        f"repeats of the ratio within a repeat (they run back to back). `python` is measured on min(N, {python_n:.0e}) steps and extrapolated (linear); `torch sched` "
        f"on {torch_steps:.0e} steps.")
    cols = ["floor", "ours", "x floor", "floor, reused", "ours, reused", "numpy", "optax",
            "keras:jax", "keras:tensorflow", "keras:torch", "torch sched", "python"]
    for n in sizes:
        add("")
        add(f"### N = {n:.0e}")
        add("")
        add("| family | " + " | ".join(cols) + " |")
        add("|---" * (len(cols) + 1) + "|")
        for f in FAMILIES:
            row = res["sizes"][str(n)][f]
            cells = []
            for c in cols:
                if c == "x floor":
                    cells.append(f"**{row['ours/floor per repeat']:.2f}**")
                elif c == "torch sched":
                    t = res.get("torch_sched") or {}
                    cells.append(f"{t[f]['us_per_step'] * 1e3:.3g}" if f in t else "—")
                elif c in row:
                    cells.append(fmt_ns(row[c], n))
                else:
                    cells.append("—")
            add(f"| {f} | " + " | ".join(cells) + " |")
    add("")
    add("Speed-up of ours over each way (their time / ours, same N, same run):")
    add("")
    others = ["numpy", "optax", "keras:jax", "keras:tensorflow", "keras:torch", "python"]
    add("| N | family | " + " | ".join(others) + " |")
    add("|---" * (len(others) + 2) + "|")
    for n in sizes:
        for f in FAMILIES:
            row = res["sizes"][str(n)][f]
            cells = [f"{row[o] / row['ours']:.0f}x" if o in row else "—" for o in others]
            add(f"| {n:.0e} | {f} | " + " | ".join(cells) + " |")
    if res.get("torch_sched"):
        add("")
        add("torch.optim.lr_scheduler stepped (reading the lr each step), µs per step: "
            + ", ".join(f"{f} {t['us_per_step']:.2f}" for f, t in res["torch_sched"].items())
            + " (sgdr without m_mul: torch has none).")
    add("")
    add(f"Accuracy of ours (float32 table vs an independent float64 NumPy reference; peak = 1; "
        f"goal: max error <= {TOL:g} x peak, 0 steps beyond it):")
    add("")
    add("| N | " + " | ".join(FAMILIES) + " |")
    add("|---" * (len(FAMILIES) + 1) + "|")
    for n in sizes:
        acc = res["accuracy"][str(n)]
        add(f"| {n:.0e} | " + " | ".join(
            f"{acc[f]['max_err']:.2e} ({acc[f]['bad_steps']} bad)" for f in FAMILIES) + " |")
    if res.get("others"):
        o = res["others"]
        add("")
        add(f"The other kernels, ours only, N = {o['n']:.0e} (ns per step; x floor as above):")
        add("")
        add("| schedule | ns per step | x floor |")
        add("|---|---|---|")
        for k, r in o["results"].items():
            add(f"| {k} | {r['ns']:.3g} | {r['x_floor']:.2f} |")
    add("")
    add(f"Load average after the run: {res['load_after']:.2f} (other work on the machine skews "
        "single runs; medians of repeats and the same-run ratios are the numbers to read).")
    return "\n".join(lines)


def chart(res, sizes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ways = ["floor", "ours", "numpy", "optax", "keras:jax", "keras:tensorflow", "keras:torch",
            "torch sched", "python"]
    # One fixed colour per way, the same in every panel (optax has no cyclic).
    colors = {"floor": "black", "ours": "tab:red", "numpy": "tab:blue", "optax": "tab:orange",
              "keras:jax": "tab:green", "keras:tensorflow": "tab:olive", "keras:torch": "tab:purple",
              "torch sched": "tab:brown", "python": "tab:gray"}
    fig, axes = plt.subplots(1, len(FAMILIES), figsize=(4.2 * len(FAMILIES), 4.4), sharey=True)
    for ax, f in zip(axes, FAMILIES):
        for w in ways:
            xs, ys = [], []
            for n in sizes:
                row = res["sizes"][str(n)][f]
                if w == "torch sched":
                    t = res.get("torch_sched") or {}
                    if f in t:
                        xs.append(n)
                        ys.append(t[f]["us_per_step"] * 1e3)
                elif w in row:
                    xs.append(n)
                    ys.append(row[w] / n * 1e9)
            if xs:
                ax.plot(xs, ys, "--" if w == "floor" else "o-" if w == "ours" else ".-",
                        color=colors[w], label=w, linewidth=2.5 if w == "ours" else 1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f)
        ax.set_xlabel("N steps")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ns per step")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(f"lr table for N steps: ns per step (median), {res['machine']['cores']} cores")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 1e5, 1e6 instead of 1e6, 1e7, 1e8")
    ap.add_argument("--sizes", type=int, nargs="*", help="override the list of N")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--python-steps", type=int, default=200_000)
    ap.add_argument("--torch-steps", type=int, default=20_000)
    ap.add_argument("--backends", nargs="*", default=list(KERAS_BACKENDS),
                    help="keras backends to run the closed form under (subprocess each)")
    ap.add_argument("--no-others", action="store_true", help="skip the other schedules' kernels")
    ap.add_argument("--ours-only", action="store_true",
                    help="only ours and the floor (no NumPy, optax, keras, torch, Python loop)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--from-json", help="re-render the markdown and chart from a saved tables.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        run_worker(args)
        return
    if args.from_json:
        with open(args.from_json) as f:
            res = json.load(f)
        sizes = [int(n) for n in res["sizes"]]
        p = res.get("params", {})
        text = report(res, res["machine"], sizes, p.get("python_steps", args.python_steps),
                      p.get("torch_steps", args.torch_steps))
        print(text)
        with open(os.path.join(args.out, "tables.md"), "w") as f:
            f.write(text + "\n")
        chart(res, sizes, os.path.join(args.out, "tables.png"))
        return
    sizes = args.sizes or ([10**5, 10**6] if args.quick else [10**6, 10**7, 10**8])
    if args.quick:
        args.python_steps = min(args.python_steps, 50_000)
        args.torch_steps = min(args.torch_steps, 5_000)

    os.environ.setdefault("KERAS_BACKEND", "jax")  # this process needs jax for optax anyway
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    info = machine()
    res = {"machine": info, "sizes": {}, "accuracy": {},
           "params": {"python_steps": args.python_steps, "torch_steps": args.torch_steps}}
    t_start = time.perf_counter()
    for n in sizes:
        print(f"N = {n:.0e}: in-process ways ...", file=sys.stderr, flush=True)
        res["sizes"][str(n)], res["accuracy"][str(n)] = bench_size(
            n, args.repeats, args.python_steps, args.ours_only
        )
    info["threading_layer"] = _threading_layer()
    if not args.no_others:
        print(f"other schedules at N = {sizes[-1]:.0e} ...", file=sys.stderr, flush=True)
        res["others"] = {"n": sizes[-1], "results": bench_others(sizes[-1], args.repeats)}
    if args.ours_only:
        args.backends = []
    for backend in args.backends:
        print(f"keras.ops under {backend} (subprocess) ...", file=sys.stderr, flush=True)
        r = call_worker(f"keras:{backend}", sizes, args.repeats, args.torch_steps)
        for key, val in (r or {}).items():
            f, n = key.split(":")
            res["sizes"][n][f][f"keras:{backend}"] = val["median_s"]
    if not args.ours_only:
        print("torch schedulers (subprocess) ...", file=sys.stderr, flush=True)
        res["torch_sched"] = call_worker("torch_sched", sizes, args.repeats, args.torch_steps)
    res["load_after"] = os.getloadavg()[0]
    res["wall_s"] = time.perf_counter() - t_start

    text = report(res, info, sizes, args.python_steps, args.torch_steps)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tables.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "tables.json"), "w") as f:
        json.dump(res, f, indent=1)
    chart(res, sizes, os.path.join(args.out, "tables.png"))
    print(f"\nwrote {args.out}/tables.md, tables.json, tables.png ({res['wall_s']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
