"""First-fit benchmark: a fresh process's first `fit`, with keras' own LearningRateScheduler against
keras_lrsched's, on each backend, with a warm and a cold Numba cache.

Run by hand (never a test):

    python bench/bench_first_fit.py              # 7 rounds per backend
    python bench/bench_first_fit.py --rounds 3 --backends jax

Each measurement is a fresh interpreter (what a user, a CI job or a notebook kernel pays once).
Inside it: ``import keras``, build and compile a small MLP, then one timed span from just before
``import keras_lrsched`` (nothing, for keras' callback) to the end of the first 3-epoch fit. The
ways run interleaved within each round, so the machine's drift hits them alike; the table gives
medians over rounds of each way's time and of its extra over keras' callback in the same round.

Ways: keras' callback with a function (the baseline); ours with the same function (epoch mode);
ours with `StepDecay` (epoch mode); ours with `OneCycle` per step (the demo's and README's
recipe). "cold" runs ours with an empty NUMBA_CACHE_DIR, as a fresh container or CI job has.

Writes bench/results/first_fit.md (with --out DIR elsewhere).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CODE = r"""
import json, os, sys, time
if os.environ.get("LRS_TREE"):  # measure another checkout: bypass the editable install's finder
    sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__]
    sys.path.insert(0, os.environ["LRS_TREE"])
import numpy as np
import keras
x = np.random.default_rng(0).normal(size=(512, 16)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(keras.optimizers.SGD(0.1), loss="binary_crossentropy")
WAY = sys.argv[1]
t0 = time.perf_counter()
if WAY == "keras":
    cb = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** (epoch // 2))
else:
    import keras_lrsched as lrs
    if WAY == "ours-function":
        cb = lrs.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** (epoch // 2))
    elif WAY == "ours-schedule":
        cb = lrs.LearningRateScheduler(lrs.StepDecay(0.1, factor=0.5, step_size=2))
    else:
        cb = lrs.LearningRateScheduler(lrs.OneCycle(0.1, epochs=3, steps_per_epoch=16),
                                       update="step")
model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[cb])
t1 = time.perf_counter()
print("RESULT " + json.dumps({"fit": t1 - t0, "numba": "numba" in sys.modules}))
"""

WAYS = ("keras", "ours-function", "ours-schedule", "ours-step")


TREE = None  # --tree: another checkout of keras_lrsched to measure instead (e.g. an older commit)


def run(backend, way, cache_dir):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "NUMBA_CACHE_DIR": cache_dir, "PYTHONWARNINGS": "ignore"}
    if TREE:
        env["LRS_TREE"] = TREE
    done = subprocess.run([sys.executable, "-c", CODE, way], env=env, capture_output=True,
                          text=True, timeout=600)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{backend}/{way} failed:\n{done.stderr[-3000:]}")


def machine():
    cpu, flags = platform.processor() or "?", ""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        cpu = next(l.split(":", 1)[1].strip() for l in info.splitlines() if "model name" in l)
        flags = next(l for l in info.splitlines() if l.startswith("flags"))
    except (OSError, StopIteration):
        pass
    simd = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "?"
    try:
        import llvmlite.binding as llvm

        host = llvm.get_host_cpu_name()
    except Exception:  # noqa: BLE001 - llvmlite only names the CPU model
        host = "?"
    return f"{cpu} ({host}, {simd}), {os.cpu_count()} cores"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--tree", help="a checkout to import keras_lrsched from (it needs "
                    "keras_lrsched/kernels linked to its kernels/)")
    ap.add_argument("--name", default="first_fit", help="the results file's name")
    args = ap.parse_args()
    global TREE
    TREE = args.tree
    warm_cache = tempfile.mkdtemp(prefix="lrs_warm_")
    rows = []
    for backend in args.backends:
        run(backend, "ours-step", warm_cache)  # fills the warm cache, and the OS file cache
        times = {w: [] for w in WAYS + ("ours-step cold",)}
        numba = {}
        for _ in range(args.rounds):
            for way in WAYS:
                result = run(backend, way, warm_cache)
                times[way].append(result["fit"])
                numba[way] = result["numba"]
            result = run(backend, "ours-step", tempfile.mkdtemp(prefix="lrs_cold_"))
            times["ours-step cold"].append(result["fit"])
            numba["ours-step cold"] = result["numba"]
        base = times["keras"]
        for way, values in times.items():
            extra = [v - b for v, b in zip(values, base)]
            rows.append((backend, way, statistics.median(values), statistics.median(extra),
                         numba[way]))
            print(f"{backend:10s} {way:16s} {rows[-1][2]:.3f} s  extra {rows[-1][3]:+.3f} s  "
                  f"numba imported: {numba[way]}", flush=True)
    from importlib.metadata import version

    lines = [
        f"# First fit in a fresh process{f' ({args.tree})' if args.tree else ''}",
        "",
        f"Machine: {machine()}. Python {platform.python_version()}, keras {version('keras')}. "
        f"Medians of {args.rounds} interleaved rounds (`bench/bench_first_fit.py`).",
        "",
        "Time from just before `import keras_lrsched` (after `import keras` and building the "
        "model) to the end of a 3-epoch fit of a small MLP; extra: over keras' own callback in "
        "the same round.",
        "",
        "| backend | way | first fit (s) | extra over keras' callback (s) | Numba imported |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {b} | {w} | {t:.3f} | {e:+.3f} | {n} |" for b, w, t, e, n in rows]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.name}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
