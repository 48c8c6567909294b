"""Hook time per epoch of two checkouts of keras_lrsched, side by side: did a change make the
callback's per-epoch work dearer?

Run by hand (never a test), e.g. against the commit before a change:

    git worktree add /tmp/old <commit>
    python bench/bench_hooks_ab.py --old /tmp/old --new .

Each measurement is a fresh process (KERAS_BACKEND is fixed at import; PYTHONPATH picks the
checkout) that fits a Dense(1) model for 60 epochs of 10 steps with
``LearningRateScheduler(Cosine(0.01, steps=10000), update=MODE)`` and times, with perf_counter,
every call of the callback's per-epoch hooks (on_epoch_begin, on_epoch_end,
on_train_batch_begin), three fits after a warm-up one: the median of the three, in ms per epoch.
The two checkouts alternate, in a changing order, `--pairs` times per backend and mode; the ratio
new / old is the median of the pairs' ratios, with the lowest and highest pair. The in-step
lookup is not measured here (bench_callback.py does); this is the host work between steps.

Writes bench/results/hooks_ab.md (or --out DIR).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from bench_refit import machine

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = r"""
import json, sys, time
import numpy as np, keras, keras_lrsched as lrs
mode = sys.argv[1]
x = np.random.default_rng(0).normal(size=(640, 8)).astype("float32"); y = x[:, :1]
def one_fit():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    m.compile(keras.optimizers.SGD(0.01), loss="mse")
    cb = lrs.LearningRateScheduler(lrs.Cosine(0.01, steps=10000), update=mode)
    spent = []
    for name in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin"):
        def timed(*a, _hook=getattr(cb, name), **k):
            t = time.perf_counter(); out = _hook(*a, **k); spent.append(time.perf_counter() - t)
            return out
        setattr(cb, name, timed)
    m.fit(x, y, batch_size=64, epochs=60, verbose=0, callbacks=[cb])
    return sum(spent) / 60 * 1e3
one_fit()
print(json.dumps({"ms": sorted(one_fit() for _ in range(3))[1], "from": lrs.__file__}))
"""


def measure(tree, backend, mode):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.path.abspath(tree),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", WORKER, mode], env=env, capture_output=True,
                          text=True, timeout=600, cwd=HERE)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = os.path.join(os.path.abspath(tree), "keras_lrsched")
    assert result["from"].startswith(expected), (result["from"], expected)
    return result["ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the checkout to compare against")
    parser.add_argument("--new", default=os.path.dirname(HERE))
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    rev = {}
    for side in ("old", "new"):
        rev[side] = subprocess.run(["git", "-C", getattr(args, side), "describe", "--always",
                                    "--dirty"], capture_output=True, text=True).stdout.strip()
    rows = []
    for backend in args.backends:
        for mode in ("epoch", "step"):
            old, new = [], []
            for i in range(args.pairs):
                order = ("old", "new") if i % 2 == 0 else ("new", "old")
                for side in order:
                    ms = measure(getattr(args, side), backend, mode)
                    (old if side == "old" else new).append(ms)
                print(f"{backend} {mode}: old {old[-1]:.3f} new {new[-1]:.3f}", file=sys.stderr)
            ratios = [n / o for o, n in zip(old, new)]
            rows.append(f"| {backend} | {mode} | {statistics.median(old):.3f} | "
                        f"{statistics.median(new):.3f} | **{statistics.median(ratios):.2f}x** "
                        f"[{min(ratios):.2f}, {max(ratios):.2f}] |")
    info = machine()
    simd = "AVX-512" if info["avx512f"] else "AVX2" if info["avx2"] else "no AVX2"
    text = "\n".join([
        f"Machine: {info['cpu']} (LLVM host CPU `{info['llvm_cpu']}`, {simd}), {info['cores']} "
        f"cores, {info['date']}; keras {info['versions']['keras']}.",
        "",
        f"Hook time per epoch, old `{rev['old']}` against new `{rev['new']}`, {args.pairs} "
        "alternating pairs of processes per row (ms per epoch of 10 steps, median; new / old: "
        "median of the pairs' ratios [lowest, highest]).",
        "",
        "| backend | mode | old (ms) | new (ms) | new / old |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "hooks_ab.md"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
