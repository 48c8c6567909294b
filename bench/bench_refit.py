"""Refit benchmark: the time of repeated fits of one model with one callback instance, per backend.

Run by hand (never a test):

    python bench/bench_refit.py            # jax, tensorflow, torch; 5 rounds
    python bench/bench_refit.py --quick    # 2 rounds

A user who calls fit again (more epochs, a new stage, a notebook cell run twice) expects the
compiled train step to be reused, as it is with no callback or with keras' own
LearningRateScheduler. A callback that installs something into the optimizer can force a new
trace (and an XLA or TF graph compile) at every fit. Each backend runs in its own subprocess
(KERAS_BACKEND is fixed at import). Variants, each on a new model (MLP 32 -> 64 -> 1, SGD, MSE,
1024 random float32 samples, batch 64: 16 steps per epoch):

  none                   no callback, SGD(0.1): what a repeated fit costs by itself;
  keras                  keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.9**epoch),
                         SGD(0.1): the reference;
  ours-epoch             keras_lrsched.LearningRateScheduler(ExponentialDecay(0.1, decay_rate=0.9)),
                         update="epoch", SGD(0.1);
  ours-epoch-owned       the same callback on SGD(learning_rate=keras' ExponentialDecay(0.1, 100,
                         0.9)): the optimizer owns a schedule, which the callback replaces;
  ours-step              keras_lrsched.LearningRateScheduler(Cosine(0.1, steps=10000),
                         update="step"), SGD(0.1);
  plain-after-ours-step  one ours-step fit (untimed), then fits with no callback on that model:
                         does the callback leave the model as it found it?

Each variant runs `fit(epochs=2)` three times in a row with the same callback instance: fit #1
includes tracing and compiling the step, fits #2 and #3 are the repeated fit. perf_counter around
model.fit. In each round every variant runs once, in a new random order; one untimed round
first pays the process's one-time costs (tracing machinery, Numba's cache loads). Reported: the
median of each fit over the rounds, and fit #2 over keras' fit #2, the median of the per-round
ratios [lowest, highest round]; this machine's speed drifts up to 2x over seconds, so read the
spread.

Traces: under JAX and TensorFlow the Python train_step runs once per trace, so the model class
overrides train_step with a counter (a Sequential subclass, not an instance attribute: jax.jit of
the same function object reuses its cached trace when the step is rebuilt, which would hide a
retrace that keras' own bound method pays). "1 / 0 / 0" means compiled once, in fit #1. Under
torch train_step runs every step: n/a.

Writes bench/results/refit.md and refit.json (with --out DIR elsewhere).
"""

import argparse
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("jax", "tensorflow", "torch")
VARIANTS = ("none", "keras", "ours-epoch", "ours-epoch-owned", "ours-step", "plain-after-ours-step")
FITS = 3
SAMPLES, BATCH, FEATURES = 1024, 64, 32


def worker(backend, args):
    os.environ["KERAS_BACKEND"] = backend
    import keras

    import keras_lrsched as lrs

    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, FEATURES)).astype("float32")
    y = rng.standard_normal((SAMPLES, 1)).astype("float32")
    traces = [0]

    class Counted(keras.Sequential):
        def train_step(self, *a, **k):
            traces[0] += 1
            return super().train_step(*a, **k)

    def make_model(owned):
        lr = keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9) if owned else 0.1
        cls = keras.Sequential if backend == "torch" else Counted
        model = cls([keras.Input((FEATURES,)), keras.layers.Dense(64, activation="relu"),
                     keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(learning_rate=lr), loss="mse")
        return model

    def callback_for(variant):
        if variant == "none":
            return None
        if variant == "keras":
            return keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.9**epoch)
        if variant in ("ours-epoch", "ours-epoch-owned"):
            return lrs.LearningRateScheduler(lrs.ExponentialDecay(0.1, decay_rate=0.9))
        return lrs.LearningRateScheduler(lrs.Cosine(0.1, steps=10000), update="step")

    def fit(model, callback):
        gc.collect()  # the previous fit's garbage is not collected during this one
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=args.epochs, verbose=0, shuffle=False,
                  callbacks=[callback] if callback is not None else [])
        return time.perf_counter() - t0

    def run_variant(variant):
        keras.utils.set_random_seed(0)
        model = make_model(owned=variant == "ours-epoch-owned")
        callback = callback_for(variant)
        setup = None
        if variant == "plain-after-ours-step":
            setup = fit(model, callback_for("ours-step"))
            callback = None
        times, counts = [], []
        for _ in range(FITS):
            before = traces[0]
            times.append(fit(model, callback))
            counts.append(traces[0] - before)
        return times, counts, setup

    for variant in args.variants:  # untimed: one-time costs of the process
        run_variant(variant)
    fits = {v: [] for v in args.variants}
    counts = {v: [] for v in args.variants}
    setup = []
    order = np.random.default_rng(1)
    for _ in range(args.rounds):
        for variant in order.permutation(args.variants):
            t, c, s = run_variant(str(variant))
            fits[str(variant)].append(t)
            counts[str(variant)].append(c if backend != "torch" else None)
            if s is not None:
                setup.append(s)
    return {"keras_lrsched_file": lrs.__file__, "fits_s": fits, "traces": counts,
            "ours_step_setup_fit_s": setup}


def call_worker(backend, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", backend,
           "--epochs", str(args.epochs), "--rounds", str(args.rounds), "--variants", *args.variants]
    # os.environ carries PYTHONPATH through: a worktree measures its own keras_lrsched.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT "):])
            print(f"{backend}: keras_lrsched from {res['keras_lrsched_file']}", file=sys.stderr)
            return res
    sys.stderr.write(f"{backend} worker failed:\n{proc.stderr[-4000:]}\n")
    return None


def machine():
    from importlib import metadata

    import llvmlite.binding as ll

    cpu = "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                   if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "keras", "jax", "jaxlib", "tensorflow-cpu", "torch", "numba"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "missing"
    git = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "llvm_cpu": ll.get_host_cpu_name(),
            "avx2": "avx2" in flags, "avx512f": "avx512f" in flags,
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "git": git,
            "load_before": os.getloadavg()[0], "versions": versions}


def summarize(r, variants):
    """Medians per fit, fit #2 / keras' fit #2 per round, trace counts per fit."""
    out = {}
    keras2 = [t[1] for t in r["fits_s"]["keras"]] if "keras" in r["fits_s"] else None
    for v in variants:
        fits = np.asarray(r["fits_s"][v])  # rounds x FITS
        s = {"median_s": np.median(fits, axis=0).tolist()}
        if keras2 is not None:
            ratio = fits[:, 1] / np.asarray(keras2)
            s["fit2_x_keras"] = [float(np.median(ratio)), float(ratio.min()), float(ratio.max())]
        counts = r["traces"][v]
        if counts and counts[0] is not None:
            c = np.asarray(counts)
            s["traces"] = [[int(lo), int(hi)] for lo, hi in zip(c.min(axis=0), c.max(axis=0))]
        out[v] = s
    return out


def report(res, info, args):
    lines = []
    add = lines.append
    simd = ", ".join(f"{k} {'yes' if info[k] else 'no'}" for k in ("avx2", "avx512f"))
    add(f"Machine: {info['cpu']} (LLVM host CPU `{info['llvm_cpu']}`; {simd} in /proc/cpuinfo), "
        f"{info['cores']} cores. Date: {info['date']}; code: `{info['git']}`. Load average "
        f"before: {info['load_before']:.2f}, after: {res['load_after']:.2f}.")
    add("Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".")
    add("")
    add(f"Three `fit(epochs={args.epochs})` in a row ({SAMPLES // BATCH} steps per epoch) on one "
        "new model with one callback instance: fit #1 traces and compiles, #2 and #3 are the "
        f"repeated fit. ms, median of {args.rounds} rounds; fit #2 x keras: median of the "
        "per-round ratios to keras' fit #2 [lowest, highest round]; traces: how many times "
        "train_step was traced in fit #1 / #2 / #3 (a range where the rounds differ).")
    for backend, r in res["backends"].items():
        add("")
        if r is None:
            add(f"**{backend}**: the worker failed.")
            continue
        add(f"**{backend}** (keras_lrsched from `{r['keras_lrsched_file']}`)")
        add("")
        add("| variant | fit #1 (ms) | fit #2 (ms) | fit #3 (ms) | fit #2 x keras "
            "| traces #1 / #2 / #3 |")
        add("|---|---|---|---|---|---|")
        for v, s in r["summary"].items():
            ms = [f"{t * 1e3:.0f}" for t in s["median_s"]]
            ratio = s.get("fit2_x_keras")
            ratio = f"**{ratio[0]:.2f}x** [{ratio[1]:.2f}, {ratio[2]:.2f}]" if ratio else "—"
            tr = " / ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in s["traces"]) \
                if "traces" in s else "n/a"
            add(f"| {v} | " + " | ".join(ms) + f" | {ratio} | {tr} |")
        if r["ours_step_setup_fit_s"]:
            add("")
            add("plain-after-ours-step: its model's ours-step fit (untimed above) took "
                f"{np.median(r['ours_step_setup_fit_s']) * 1e3:.0f} ms (median).")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backends", nargs="*", default=list(BACKENDS))
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=2, help="epochs of each fit")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)))
        return
    if args.quick:
        args.rounds = 2
    info = machine()
    res = {"machine": info, "args": vars(args), "backends": {}}
    for backend in args.backends:
        print(f"{backend} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        r = call_worker(backend, args)
        if r is not None:
            r["summary"] = summarize(r, args.variants)
            r["worker_s"] = time.perf_counter() - t0
        res["backends"][backend] = r
    res["load_after"] = os.getloadavg()[0]
    text = report(res, info, args)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "refit.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "refit.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
