"""Callback benchmark: what driving the learning rate costs per training step, per backend.

Run by hand (never a test):

    python bench/bench_callback.py            # jax, tensorflow, torch; 9 rounds
    python bench/bench_callback.py --quick    # fewer epochs, 3 rounds

A small MLP (32 -> 64 -> 64 -> 1, batch 64, 200 steps per epoch, SGD) on random data, each backend in
its own subprocess (KERAS_BACKEND is fixed at import); every variant is fitted once before timing.
Variants, run round-robin within a backend, in a new random order every round:

  none          no callback, SGD with a float lr;
  owned         no callback, the optimizer owns the step schedule (SGD(learning_rate=schedule)):
                keras' own way to change the lr every step, the closed form computed in the step;
  keras         keras.callbacks.LearningRateScheduler with a Python function of the epoch;
  naive         a callback that assigns optimizer.learning_rate in on_train_batch_begin from a
                Python counter (what users write; under JAX the value is silently lost, see DESIGN);
  ours-epoch    keras_lrsched.LearningRateScheduler(Cosine over epochs, update="epoch");
  ours-step     keras_lrsched.LearningRateScheduler(Warmup + SGDR over steps, update="step"): a
                lookup in the step into a window its Numba kernel fills;
  ours-table    the same schedule as a precomputed float32 array, update="step" (the same lookup);
  ours-keras    keras' own CosineDecayRestarts, update="step": a foreign closed form, computed in
                the step as if the optimizer owned it.

Step time: a timing callback (first in the list) stamps each epoch begin; an epoch's time is from
its begin to the next one's, so every callback hook is inside. The first epoch (compile) is
dropped; the median over the rest of all rounds is reported, the ratio to "none" is the median of
the per-round ratios (the variants of a round run back to back), with the lowest and highest
round in brackets, and so is the extra time per epoch. A 200-step epoch of this MLP takes 40 ms
(jax) to 500 ms (torch), so the machine's noise is a few percent of it: read the rounds' spread.

Hook time: every hook of the variant's callbacks is timed with perf_counter, and their sum per
epoch is reported (ms per epoch, median over epochs 2.. of every round). It is what the
callback's own Python costs, free of the training's noise; the step-time ratios above also hold
what a variant costs inside the compiled step.

In-step cost, two ways. Paired: blocks of train_on_batch calls, each variant's model in rotation
with a `none` model (see paired_in_step); it covers every in-step variant but train_on_batch's
own host round trip makes it noisy. The lookup alone (see lookup_cost): the window lookup timed
where it runs, precise to a fraction of a microsecond. The goals are then read off the parts:
1 + (lookup per step x steps + hook time per epoch) / the `none` epoch.

First-epoch time vs run length: fit is configured for 1e4 and for 1e8 steps (epochs x 100 steps)
and stopped after its first epoch; the time from fit() to its return is reported, median of 3
(none, ours-step, ours-table; the 1e8-step table is built before fit, it is the user's array).

Writes bench/results/callback.md and callback.json (with --out DIR elsewhere).
"""

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("jax", "tensorflow", "torch")
VARIANTS = ("none", "owned", "keras", "naive", "ours-epoch", "ours-step", "ours-table",
            "ours-keras")
HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
         "on_epoch_end", "on_train_end")
BATCH, FEATURES = 64, 32


def worker(backend, args):
    os.environ["KERAS_BACKEND"] = backend
    import keras

    import keras_lrsched as lrs

    keras.utils.set_random_seed(0)
    spe, epochs = args.steps_per_epoch, args.epochs
    rng = np.random.default_rng(0)
    x = rng.standard_normal((spe * BATCH, FEATURES)).astype("float32")
    y = rng.standard_normal((spe * BATCH, 1)).astype("float32")
    peak = 0.01

    def step_schedule():
        return lrs.Warmup(
            lrs.CosineRestarts(peak, period=2 * spe, t_mul=2.0, m_mul=0.9), warmup_steps=spe // 2
        )

    def epoch_fn(epoch, lr=None):
        return 0.5 * peak * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))

    class Naive(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0

        def on_train_batch_begin(self, batch, logs=None):
            period = 2 * spe
            lr = 0.5 * peak * (1.0 + math.cos(math.pi * (self.step % period) / period))
            self.model.optimizer.learning_rate = lr
            self.step += 1

    current = {"epoch": "fit"}  # what the timed hooks are charged to

    class Stamps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begins = []

        def on_epoch_begin(self, epoch, logs=None):
            current["epoch"] = epoch
            self.begins.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            current["epoch"] = "fit"  # the train end hooks come next: per fit, not per epoch

    class StopAfterFirst(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    def timed(callback, spent):
        """Time every hook `callback` overrides; `spent[epoch]` sums them per epoch (a batch
        hook is charged to the epoch the Stamps callback, first in the list, saw begin) and
        `spent["fit"]` the train begin and end hooks."""
        base = keras.callbacks.Callback
        for name in HOOKS:
            if getattr(type(callback), name) is getattr(base, name):
                continue  # not overridden: nothing of the callback's own runs there

            def wrapper(*a, _hook=getattr(callback, name), _name=name, **k):
                key = a[0] if _name in ("on_epoch_begin", "on_epoch_end") else current["epoch"]
                if _name in ("on_train_begin", "on_train_end"):
                    key = "fit"
                t0 = time.perf_counter()
                try:
                    return _hook(*a, **k)
                finally:
                    spent[key] = spent.get(key, 0.0) + (time.perf_counter() - t0)

            setattr(callback, name, wrapper)
        return callback

    def make_model(lr=peak):
        model = keras.Sequential([
            keras.Input((FEATURES,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ])
        model.compile(keras.optimizers.SGD(lr), loss="mse")
        return model

    def model_for(variant):
        return make_model(step_schedule() if variant == "owned" else peak)

    def callbacks_for(variant, total_steps):
        if variant in ("none", "owned"):
            return []
        if variant == "keras":
            return [keras.callbacks.LearningRateScheduler(epoch_fn)]
        if variant == "naive":
            return [Naive()]
        if variant == "ours-epoch":
            return [lrs.LearningRateScheduler(lrs.Cosine(peak, steps=epochs), update="epoch")]
        if variant == "ours-step":
            return [lrs.LearningRateScheduler(step_schedule(), update="step")]
        if variant == "ours-table":
            table = step_schedule().table(total_steps)
            return [lrs.LearningRateScheduler(table, update="step")]
        if variant == "ours-keras":
            restarts = keras.optimizers.schedules.CosineDecayRestarts(peak, 2 * spe, 2.0, 0.9)
            return [lrs.LearningRateScheduler(restarts, update="step")]
        raise ValueError(variant)

    # One fit of every variant first: a process pays one-time costs (tracing machinery, the
    # kernels' cache loads) in its first fits, which would land on whichever variant runs first.
    for variant in args.variants:
        model_for(variant).fit(x[: 10 * BATCH], y[: 10 * BATCH], batch_size=BATCH, epochs=2,
                               verbose=0, callbacks=callbacks_for(variant, 20))

    # Steady-state step time, variants round-robin.
    per_step = {v: [] for v in args.variants}
    ratios = {v: [] for v in args.variants}
    extra = {v: [] for v in args.variants}
    hooks = {v: [] for v in args.variants}
    order = np.random.default_rng(1)
    for _ in range(args.rounds):
        this_round = {}
        # A fresh order every round: no variant always follows the same one, or runs first.
        for variant in order.permutation(args.variants):
            variant = str(variant)
            model = model_for(variant)
            stamps = Stamps()
            spent = {}
            cbs = [timed(cb, spent) for cb in callbacks_for(variant, spe * epochs)]
            gc.collect()  # the garbage of the previous fit is not collected during this one
            model.fit(x, y, batch_size=BATCH, epochs=epochs, callbacks=[stamps] + cbs, verbose=0,
                      shuffle=False)
            durations = np.diff(stamps.begins)[1:]  # drop the compile epoch
            per_step[variant].extend((durations / spe).tolist())
            this_round[variant] = float(np.median(durations))
            # epochs 1..: the train begin/end hooks are per fit, not per epoch
            hooks[variant].extend(spent.get(e, 0.0) for e in range(1, epochs))
        for variant in args.variants:
            ratios[variant].append(this_round[variant] / this_round["none"])
            extra[variant].append(this_round[variant] - this_round["none"])

    paired = paired_in_step(keras, args, model_for, callbacks_for, x, y)
    lookup = lookup_cost(keras)

    # First epoch vs the length of the run (each measured 3 times, interleaved).
    first = {}
    for _ in range(3):
        for total in args.run_lengths:
            for variant in ("none", "ours-step", "ours-table"):
                model = make_model()
                cbs = callbacks_for(variant, total) + [StopAfterFirst()]
                xs, ys = x[: 100 * BATCH], y[: 100 * BATCH]
                t0 = time.perf_counter()
                model.fit(xs, ys, batch_size=BATCH, epochs=total // 100, callbacks=cbs, verbose=0,
                          shuffle=False)
                first.setdefault(f"{variant}:{total}", []).append(time.perf_counter() - t0)
                del cbs

    return {
        "step_s": {v: float(np.median(t)) for v, t in per_step.items()},
        "ratio": {v: float(np.median(r)) for v, r in ratios.items()},
        "ratio_range": {v: [float(np.min(r)), float(np.max(r))] for v, r in ratios.items()},
        "extra_per_epoch_s": {v: float(np.median(e)) for v, e in extra.items()},
        "hook_s_per_epoch": {v: float(np.median(h)) if h else 0.0 for v, h in hooks.items()},
        "epoch_s_none": float(np.median(per_step["none"]) * spe),
        "ratio_rounds": ratios,
        "first_epoch_s": {k: float(np.median(v)) for k, v in first.items()},
        "first_epoch_all_s": first,
        "in_step": paired,
        "lookup": lookup,
    }


IN_STEP = ("owned", "ours-step", "ours-table", "ours-keras")


def lookup_cost(keras, size=201, n=20000, repeats=7):
    """What the window lookup adds to one step, timed where it runs, in microseconds.

    JAX and TensorFlow: a compiled loop of n steps, each updating a 4096-float vector by
    lr * g, with lr a traced scalar or looked up in the window at the loop's step counter
    (the lookup's own ops: subtract, clip, gather); the difference per step. Torch: the
    callback's own lookup function, called eagerly as each step calls it.
    """
    from keras import ops

    from keras_lrsched.callback import backend as callback_backend

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    g = rng.standard_normal(4096).astype("float32")
    window = rng.random(size).astype("float32")

    def best(fn):
        """The fastest of `repeats` runs: what the machine's noise only ever adds to."""
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return float(np.min(times))

    if backend == "torch":
        optimizer = keras.optimizers.SGD(0.01)
        optimizer.build([keras.Variable(g)])
        win = optimizer.add_variable((size,), initializer="zeros", dtype="float32", name="w")
        start = optimizer.add_variable((), initializer="zeros",
                                       dtype=optimizer.iterations.dtype, name="s")
        getter = callback_backend.step_getter(optimizer, None, win, start, None, size)

        def calls():
            for _ in range(n // 10):
                getter()

        plain = optimizer.learning_rate
        return {"lookup_us": best(calls) / (n // 10) * 1e6,
                "how": "the callback's torch lookup, eager, per call",
                "plain_variable_us": best(lambda: [plain for _ in range(n // 10)]) / (n // 10) * 1e6}

    def body(lookup, win, start, lr0, gv):
        def step(i, w):
            if lookup:
                lr = ops.take(win, ops.clip(ops.subtract(i, start), 0, size - 1))
            else:
                lr = lr0
            return w - lr * gv
        return step

    if backend == "jax":
        import jax

        def compiled(lookup):
            def run(w, win, start, lr0, gv):
                return jax.lax.fori_loop(0, n, body(lookup, win, start, lr0, gv), w)
            fn = jax.jit(run)
            args = (g, window, np.int32(0), np.float32(0.01), g)
            return lambda: jax.block_until_ready(fn(*args))
    else:
        import tensorflow as tf

        def compiled(lookup):
            @tf.function(jit_compile=False)
            def run(w, win, start, lr0, gv):
                step = body(lookup, win, start, lr0, gv)
                _, w = tf.while_loop(lambda i, w: i < n, lambda i, w: (i + 1, step(i, w)),
                                     (tf.constant(0, tf.int64), w))
                return w
            args = (tf.constant(g), tf.constant(window), tf.constant(0, tf.int64),
                    tf.constant(0.01), tf.constant(g))
            return lambda: run(*args).numpy()

    runs = {True: compiled(True), False: compiled(False)}
    times = {True: [], False: []}
    for _ in range(5):  # alternated, so that both see the same stretch of the machine's speed
        for lookup, fn in runs.items():
            times[lookup].append(best(fn))
    with_lookup, without = min(times[True]), min(times[False])
    return {"lookup_us": (with_lookup - without) / n * 1e6,
            "how": f"a compiled loop of {n} steps, with and without the lookup",
            "step_us_without": without / n * 1e6}


def paired_in_step(keras, args, model_for, callbacks_for, x, y):
    """What a variant costs inside the train step, measured in short interleaved blocks.

    This machine's speed drifts by 2x over seconds, so whole fits run one after the other cannot
    resolve a few percent. Here each variant's model is set up once (a callback is installed by
    calling its train-begin and epoch-begin hooks, as fit would), then blocks of
    `train_on_batch` calls run in rotation: none, owned, ours-step, ..., none, owned, ...; a
    rotation takes well under a second. The cost is the median over rotations of a variant's
    block time over the mean of the two `none` blocks around it. train_on_batch runs the same
    compiled train function as fit, plus a host round trip per call that every variant pays
    alike (it dilutes a ratio a little: the microseconds per step are the number to read).
    """
    variants = [v for v in IN_STEP if v in args.variants]
    if not variants:
        return {}
    xb, yb = x[:BATCH], y[:BATCH]
    block, rotations = args.block, args.rotations
    calls = block * rotations + 1
    setups = {}
    for variant in ["none", *variants]:
        model = model_for(variant)
        model.train_on_batch(xb, yb)  # builds the model and the optimizer
        cbs = callbacks_for(variant, calls + 1)
        for cb in cbs:
            cb.set_model(model)
            cb.set_params({"epochs": 1, "steps": calls, "verbose": 0})
            cb.on_train_begin()
            cb.on_epoch_begin(0)
        for _ in range(block):  # compile and warm up
            model.train_on_batch(xb, yb)
        setups[variant] = (model, cbs)

    def run_block(variant):
        model = setups[variant][0]
        t0 = time.perf_counter()
        for _ in range(block):
            model.train_on_batch(xb, yb)
        return time.perf_counter() - t0

    times = {v: [] for v in ["none", *variants]}
    for _ in range(rotations - 1):
        for variant in ["none", *variants]:
            times[variant].append(run_block(variant))
    times["none"].append(run_block("none"))
    none = np.asarray(times["none"])
    out = {"none_us": float(np.median(none) / block * 1e6), "block": block,
           "rotations": rotations}
    for variant in variants:
        t = np.asarray(times[variant])
        around = 0.5 * (none[:-1] + none[1:])
        ratio = t / around
        out[variant] = {
            "ratio": float(np.median(ratio)),
            "ratio_iqr": [float(np.percentile(ratio, 25)), float(np.percentile(ratio, 75))],
            "extra_us": float(np.median(t - around) / block * 1e6),
        }
    for variant, (_, cbs) in setups.items():
        for cb in cbs:
            cb.on_train_end()
    return out


def call_worker(backend, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", backend,
           "--steps-per-epoch", str(args.steps_per_epoch), "--epochs", str(args.epochs),
           "--rounds", str(args.rounds), "--variants", *args.variants,
           "--run-lengths", *map(str, args.run_lengths),
           "--block", str(args.block), "--rotations", str(args.rotations)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(f"{backend} worker failed:\n{proc.stderr[-4000:]}\n")
    return None


def report(res, info, args):
    lines = []
    add = lines.append
    add(f"Machine: {info['cpu']}, {info['cores']} cores. Load average before: {info['load_before']:.2f}, "
        f"after: {res['load_after']:.2f}.")
    add("Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".")
    add("")
    add(f"ms per training step (median over epochs 2..{args.epochs} of {args.rounds} rounds; MLP "
        f"32-64-64-1, batch {BATCH}, {args.steps_per_epoch} steps per epoch); below it, x none: the "
        "median of the per-round ratios, [lowest, highest round]. Goals: ours-step <= 1.05x, "
        "ours-epoch <= 1.02x.")
    add("")
    add("| backend | " + " | ".join(args.variants) + " |")
    add("|---" * (len(args.variants) + 1) + "|")
    for backend, r in res["backends"].items():
        if r is None:
            add(f"| {backend} | " + " | ".join("failed" for _ in args.variants) + " |")
            continue
        cells = [f"{r['step_s'][v] * 1e3:.3f}" for v in args.variants]
        add(f"| {backend} ms | " + " | ".join(cells) + " |")
        cells = [f"**{r['ratio'][v]:.3f}x** [{r['ratio_range'][v][0]:.2f}, "
                 f"{r['ratio_range'][v][1]:.2f}]" for v in args.variants]
        add(f"| {backend} x none | " + " | ".join(cells) + " |")
    add("")
    add("The same as time per epoch over `none` (ms; median of the per-round differences), and the "
        "time spent in the variant's own hooks per epoch (ms, measured directly; in brackets, "
        "as a share of a `none` epoch): the hooks cost a fixed amount per epoch, whatever the "
        "epoch's length.")
    add("")
    add("| backend | | " + " | ".join(args.variants) + " |")
    add("|---" * (len(args.variants) + 2) + "|")
    for backend, r in res["backends"].items():
        if r is None:
            continue
        cells = [f"{r['extra_per_epoch_s'][v] * 1e3:+.1f}" for v in args.variants]
        add(f"| {backend} | epoch - none | " + " | ".join(cells) + " |")
        epoch = r["epoch_s_none"]
        cells = [f"{r['hook_s_per_epoch'][v] * 1e3:.3f} ({r['hook_s_per_epoch'][v] / epoch:.2%})"
                 for v in args.variants]
        add(f"| {backend} | hooks | " + " | ".join(cells) + " |")
    add("")
    first = next((r for r in res["backends"].values() if r and r.get("in_step")), None)
    if first:
        p = first["in_step"]
        cols = [v for v in IN_STEP if v in p]
        add(f"Inside the train step, paired: blocks of {p['block']} `train_on_batch` calls in "
            f"rotation (none, {', '.join(cols)}, none, ...), {p['rotations']} rotations; x none "
            "= median over rotations of a block's time over the mean of the `none` blocks on "
            "either side [interquartile range], and the extra microseconds per step.")
        add("")
        add("| backend | none (us per call) | " + " | ".join(cols) + " |")
        add("|---" * (len(cols) + 2) + "|")
        for backend, r in res["backends"].items():
            if not r or not r.get("in_step"):
                continue
            q = r["in_step"]
            cells = [f"**{q[v]['ratio']:.3f}x** [{q[v]['ratio_iqr'][0]:.2f}, "
                     f"{q[v]['ratio_iqr'][1]:.2f}], {q[v]['extra_us']:+.1f} us" for v in cols]
            add(f"| {backend} | {q['none_us']:.0f} | " + " | ".join(cells) + " |")
        add("")
        add("The window lookup alone, timed where it runs (JAX, TensorFlow: a compiled loop "
            "of 20000 steps with and without it, the fastest of 5 alternated rounds of 7; torch: "
            "the callback's own lookup, called eagerly as each step calls it), us per step:")
        add("")
        add("| backend | lookup (us per step) | how |")
        add("|---|---|---|")
        for backend, r in res["backends"].items():
            if r and r.get("lookup"):
                add(f"| {backend} | {r['lookup']['lookup_us']:+.2f} | {r['lookup']['how']} |")
        add("")
        add("Put together (the way the goals read, from the parts measured precisely): x none of "
            f"a {args.steps_per_epoch}-step epoch = 1 + (lookup us per step, 0 where it measured "
            "below 0, x steps + hook ms per epoch) / the `none` epoch's median time.")
        add("")
        add("| backend | none epoch (ms) | ours-epoch (goal <= 1.02x) | ours-step (goal <= 1.05x) "
            "| ours-table | keras (its own callback) |")
        add("|---|---|---|---|---|---|")
        for backend, r in res["backends"].items():
            if not r or not r.get("lookup"):
                continue
            epoch_ms = r["epoch_s_none"] * 1e3
            per_step_ms = max(r["lookup"]["lookup_us"], 0.0) * args.steps_per_epoch / 1e3

            def est(variant, in_step):
                if variant not in r["hook_s_per_epoch"]:
                    return "—"
                hooks_ms = r["hook_s_per_epoch"][variant] * 1e3
                return f"{1.0 + ((per_step_ms if in_step else 0.0) + hooks_ms) / epoch_ms:.3f}x"

            add(f"| {backend} | {epoch_ms:.1f} | {est('ours-epoch', False)} | "
                f"{est('ours-step', True)} | {est('ours-table', True)} | {est('keras', False)} |")
        add("")
    add("First epoch (fit() to return, stopped after epoch 1: precompute/check, trace, compile, 100 steps), "
        "seconds (median of 3), for runs configured to "
        + " vs ".join(f"{n:.0e}" for n in args.run_lengths) + " steps:")
    add("")
    cols = [f"{v} {n:.0e}" for v in ("none", "ours-step", "ours-table") for n in args.run_lengths]
    add("| backend | " + " | ".join(cols) + " |")
    add("|---" * (len(cols) + 1) + "|")
    for backend, r in res["backends"].items():
        if r is None:
            continue
        f = r["first_epoch_s"]
        cells = [f"{f[f'{v}:{n}']:.2f}" for v in ("none", "ours-step", "ours-table") for n in args.run_lengths]
        add(f"| {backend} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backends", nargs="*", default=list(BACKENDS))
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--steps-per-epoch", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--run-lengths", type=int, nargs="*", default=[10**4, 10**8])
    ap.add_argument("--block", type=int, default=20, help="train_on_batch calls per block")
    ap.add_argument("--rotations", type=int, default=150, help="rotations of the paired blocks")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if "none" not in args.variants:
        args.variants.insert(0, "none")
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)))
        return
    if args.quick:
        args.epochs, args.rounds, args.rotations = 4, 3, 30
    sys.path.insert(0, HERE)
    from bench_tables import machine

    info = machine()
    res = {"machine": info, "backends": {}}
    for backend in args.backends:
        print(f"{backend} ...", file=sys.stderr, flush=True)
        res["backends"][backend] = call_worker(backend, args)
    res["load_after"] = os.getloadavg()[0]
    text = report(res, info, args)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "callback.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "callback.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
