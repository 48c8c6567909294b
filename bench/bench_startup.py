"""Start-up benchmark: what `import keras_lrsched` adds to `import keras`, and what the first table
costs (Numba compiling each kernel, cold and from the on-disk cache).

Run by hand (never a test):

    python bench/bench_startup.py            # 7 import repeats per backend, every kernel
    python bench/bench_startup.py --quick    # 3 repeats, jax only

Every measurement runs in a fresh subprocess, since imports and compilations happen once per
process:

* import: ``import keras`` then ``import keras_lrsched`` in one process, timed apart; the extra is the
  second. Also checks that numba is not imported (kernels compile lazily, never at import).
* compile: one process with an empty NUMBA_CACHE_DIR times the first call of each kernel on a
  1000-step float32 table (cold: type inference, LLVM, and writing the cache), then a new process
  on the same cache dir times it again (warm: loading machine code from disk). ``import numba``
  and the start of the thread pool are timed apart, so the per-kernel numbers are the kernels'.
* the first ``table()`` of a composed schedule (Warmup(Cosine)), cold and warm, as a user sees it.

Writes bench/results/startup.md and startup.json (with --out DIR elsewhere).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

IMPORT_CODE = r"""
import sys, time, json
t0 = time.perf_counter()
import keras
t1 = time.perf_counter()
before = set(sys.modules)
import keras_lrsched
t2 = time.perf_counter()
new = sorted({m.split(".")[0] for m in set(sys.modules) - before} - {"keras_lrsched"})
print("RESULT " + json.dumps({"keras": t1 - t0, "extra": t2 - t1,
      "numba_imported": "numba" in sys.modules, "new_packages": new}))
"""

# One call per kernel, on the parameters a schedule would pass. The first call of each compiles it.
COMPILE_CODE = r"""
import json, time
import numpy as np
import keras_lrsched  # imports keras and its backend: not what is timed here
t0 = time.perf_counter()
import numba
from keras_lrsched.kernels import cosine, cyclic, decay, lookup, warmup
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
numba.get_num_threads()  # starts the threading layer
t_threads = time.perf_counter() - t0
out = np.empty(1000, np.float32)
i64 = lambda *v: np.asarray(v, np.int64)
f64 = lambda *v: np.asarray(v, np.float64)
calls = [
    ("fill_cosine", cosine.fill_cosine, (1.0, 1000, 0.0, 1.0, 0.5)),
    ("fill_cosine_restarts_fixed", cosine.fill_cosine_restarts_fixed, (1.0, 100, 0.9, 0.0)),
    ("fill_cosine_restarts", cosine.fill_cosine_restarts,
     (1.0, 0.0, i64(0, 100, 300, 2**60), f64(0, 0, 0), f64(100, 200, 400), f64(1, 0.9, 0.81))),
    ("fill_cyclic", cyclic.fill_cyclic, (0.1, 1.0, 20, 20, 0, 0.0)),
    ("fill_one_cycle", cyclic.fill_one_cycle,
     (999, i64(299, 999), f64(0, 299), f64(299, 999), f64(0.04, 1.0), f64(1.0, 4e-6), 0)),
    ("fill_time_decay", decay.fill_time_decay, (1.0, 0.5, 10, False)),
    ("fill_step_decay", decay.fill_step_decay, (1.0, 0.5, 10)),
    ("fill_piecewise", decay.fill_piecewise, (i64(10, 20), f64(1.0, 0.5, 0.25))),
    ("fill_exponential_decay", decay.fill_exponential_decay, (1.0, -0.1, 10, False, 0.0, False)),
    ("fill_polynomial", decay.fill_polynomial, (1.0, 0.0, 1000, 2.0)),
    ("fill_inverse_sqrt", warmup.fill_inverse_sqrt, (1.0, 100, 100)),
    ("fill_warmup_stable_decay", warmup.fill_warmup_stable_decay, (1.0, 10, 10, 10, 0.0, 0)),
    ("fill_lookup", lookup.fill_lookup, (f64(0.3, 0.2, 0.1),)),
]
times = {}
for name, fn, args in calls:
    t0 = time.perf_counter()
    fn(out, 0, *args)
    times[name] = time.perf_counter() - t0
print("RESULT " + json.dumps({"import": t_import, "threads": t_threads, "kernels": times}))
"""

TABLE_CODE = r"""
import json, time
import keras_lrsched as lrs
s = lrs.Warmup(lrs.Cosine(1.0, steps=10**6), warmup_steps=1000)
t0 = time.perf_counter()  # includes importing numba
s.table(10**6)
print("RESULT " + json.dumps({"first_table": time.perf_counter() - t0}))
"""


def run(code, env):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"subprocess failed:\n{proc.stderr[-3000:]}")


def base_env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def bench_imports(backends, repeats):
    res = {}
    for backend in backends:
        runs = [run(IMPORT_CODE, base_env(KERAS_BACKEND=backend)) for _ in range(repeats)]
        res[backend] = {
            "keras_s": float(np.median([r["keras"] for r in runs])),
            "extra_s": float(np.median([r["extra"] for r in runs])),
            "extra_all_s": [r["extra"] for r in runs],
            "numba_imported": any(r["numba_imported"] for r in runs),
            "new_packages": sorted({m for r in runs for m in r["new_packages"]}),
        }
    return res


def bench_compile(repeats):
    """Cold (empty cache dir) then warm (same dir) per kernel; `repeats` fresh cache dirs."""
    cold, warm, table_cold, table_warm = [], [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            env = base_env(KERAS_BACKEND="jax", NUMBA_CACHE_DIR=cache)
            cold.append(run(COMPILE_CODE, env))
            warm.append(run(COMPILE_CODE, env))
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            env = base_env(KERAS_BACKEND="jax", NUMBA_CACHE_DIR=cache)
            table_cold.append(run(TABLE_CODE, env)["first_table"])
            table_warm.append(run(TABLE_CODE, env)["first_table"])
    names = list(cold[0]["kernels"])
    med = lambda runs, key: float(np.median([r[key] for r in runs]))
    return {
        "import_numba_and_kernels_s": {"cold": med(cold, "import"), "warm": med(warm, "import")},
        "start_threads_s": {"cold": med(cold, "threads"), "warm": med(warm, "threads")},
        "kernels_s": {
            n: {"cold": float(np.median([r["kernels"][n] for r in cold])),
                "warm": float(np.median([r["kernels"][n] for r in warm]))}
            for n in names
        },
        "first_table_warmup_cosine_1e6_s": {"cold": float(np.median(table_cold)),
                                            "warm": float(np.median(table_warm))},
    }


def report(imports, comp, info):
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores. Versions: {info['versions']}.", ""]
    add = lines.append
    add("`import keras_lrsched` after `import keras` (median of fresh processes; goal <= 0.3 s, no numba):")
    add("")
    add("| backend | import keras (s) | + import keras_lrsched (s) | numba imported | packages it adds |")
    add("|---|---|---|---|---|")
    for b, r in imports.items():
        new = ", ".join(r["new_packages"]) or "none"
        add(f"| {b} | {r['keras_s']:.2f} | **{r['extra_s']:.3f}** | {'YES' if r['numba_imported'] else 'no'} | {new} |")
    add("")
    add("First call of each kernel on a 1000-step float32 table (median of fresh processes): cold = empty "
        "Numba cache (compiles, then writes the cache); warm = a new process loading the cache. The first "
        "row also pays Numba's one-time set-up in the process (the first compile or cache load of any function).")
    add("")
    add("| kernel | cold (ms) | warm cache (ms) |")
    add("|---|---|---|")
    k = comp["kernels_s"]
    for name, t in k.items():
        add(f"| {name} | {t['cold'] * 1e3:.0f} | {t['warm'] * 1e3:.1f} |")
    total_c = sum(t["cold"] for t in k.values())
    total_w = sum(t["warm"] for t in k.values())
    add(f"| **all {len(k)} kernels** | {total_c * 1e3:.0f} | {total_w * 1e3:.0f} |")
    add("")
    i, th = comp["import_numba_and_kernels_s"], comp["start_threads_s"]
    add(f"One-time costs before the first kernel: import numba and the kernel modules (keras already imported) {i['cold']:.2f} s cold / "
        f"{i['warm']:.2f} s warm; start the thread pool {th['cold'] * 1e3:.0f} ms.")
    t = comp["first_table_warmup_cosine_1e6_s"]
    add(f"First `Warmup(Cosine).table(1e6)` in a fresh process (two kernels: the warmup's line and the "
        f"cosine; it includes importing numba): {t['cold']:.2f} s cold, {t['warm']:.2f} s with a warm cache.")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    backends = ["jax"] if args.quick else ["jax", "tensorflow", "torch"]
    repeats = 3 if args.quick else 7
    sys.path.insert(0, HERE)
    from bench_tables import machine

    info = machine()
    imports = bench_imports(backends, repeats)
    comp = bench_compile(1 if args.quick else 3)
    text = report(imports, comp, info)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "startup.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "startup.json"), "w") as f:
        json.dump({"machine": info, "imports": imports, "compile": comp}, f, indent=1)


if __name__ == "__main__":
    main()
