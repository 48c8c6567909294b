"""Scheduled hyperparameters: what each one costs per training step, next to the lr alone.

Run by hand (never a test):

    python bench/bench_hyper.py            # jax, tensorflow, torch; 15 rounds
    python bench/bench_hyper.py --quick    # 5 rounds, shorter fits

`LearningRateScheduler(..., update="step")` with `momentum=`, `weight_decay=` or
`hyperparameters=` assigns each scheduled hyperparameter's variable from its window once per
optimizer step, inside the compiled step (a wrapper of `optimizer._backend_apply_gradients`);
`lr_multipliers=` calls `_backend_update_step` once per group of variables sharing a factor
(JAX, TensorFlow: traced once), or on eager torch takes one pass for all groups
(callback/torch_steps.py: AdamW's own, in every way here).
Each backend runs in its own subprocess (KERAS_BACKEND is fixed at import). The model: an MLP
64 -> 256 -> 256 -> 256 -> 10 (relu; layers named dense_0..dense_3; 150k parameters), sparse
categorical cross-entropy of the logits, batch 128, random data. (Until 2026-12-07 the loss read
the logits as probabilities: keras clipped them and every gradient was 0 after some hundred
steps, so that Adam's momentum went subnormal and eager torch's steps slowed by up to a third,
model by model. Torch now also flushes subnormals, as XLA and TensorFlow do on CPU.) The optimizer: AdamW(1e-3,
weight_decay=0.004) in every way, so that the ways differ only in what is scheduled (a float
weight decay is what ways 1-3 and 6 bake into the step; way 4 schedules it instead). Ways:

  none         no callback: keras' AdamW with a float lr;
  lr           LearningRateScheduler(OneCycle(1e-3, steps=N), update="step");
  +mom         the same + momentum=OneCycle.cycle_momentum(base=0.85, max=0.95) (beta_1);
  +wd          the same as lr + weight_decay=Cosine(0.04, end=0.4, steps=N);
  +mom+wd+b2   lr + momentum + weight_decay + hyperparameters={"beta_2": Linear(0.999,
               end=0.99, steps=N)}: three extra;
  mult2        lr + lr_multipliers={"dense_0": 0.1}: two groups of variables;
  ldecay       lr + lr_multipliers=layer_decay(model, 0.7): four groups;
  ldecay-lerp  as ldecay, with torch's other one-pass way forced on AdamW (a copy of the scaled
               weights, keras' update once, a lerp back; what Adamax, Nadam, Lion... take);
               elsewhere the same as ldecay;
  lr24         lr alone on a deeper model: an MLP of 24 Dense layers (64 wide, relu, the last
               10 wide; named deep_0..deep_23; 96k parameters), batch 64;
  ldecay24     lr24 + lr_multipliers=layer_decay(model, 0.9): 24 groups (one per layer; a
               12-block transformer's layer decay makes 14); compared with lr24, not lr;
  lr-epoch     LearningRateScheduler(OneCycle over epochs), update="epoch";
  +3-epoch     lr-epoch + momentum, weight_decay, beta_2 per epoch (host writes per epoch).

Every way has its own model and callback, made and fitted twice (trace, compile, the callback's
first install; the process's one-time costs) before timing; then in each round every way runs
one fit, of `--epochs` epochs of `--steps` steps, on its own model with its own callback
instance (a repeated fit reuses the compiled step), in a new random order every round.
Reported, ms per step: the fit's wall time (perf_counter around model.fit, divided by its
steps; it includes fit's own set-up and the callback's install per fit) and the time inside
the epochs (from a stamp callback first in the list at epoch begin to one last in the list at
epoch end: every epoch hook, no fit set-up); median over rounds. The ratios are medians of the
per-round ratios to `lr` (to `lr24` for `ldecay24`: the lr alone on the same model) and to
`none` (the small MLP's ways), with the lowest and highest round. This machine's speed
drifts up to 2x over seconds, so whole fits resolve only large differences. The callback's own
hooks are timed too (perf_counter around each; per epoch, and the train begin/end per fit).

Paired blocks (see paired_blocks): the step-mode ways' compiled steps called directly, in short
blocks in rotation, each against the blocks of its base (`lr`; `lr24` for `ldecay24`) around
it: the in-step cost, to a few percent.

Under torch (eager: the step runs the Python of the optimizer and of our wrapper at every
step), the optimizer's part of the step as installed, in rotation (see optimizer_blocks), and
the parts in isolation (us per call): the window lookup, keras' Variable.assign against a plain
torch copy_ and against a host float; AdamW's update called once per group of multipliers
against once for all plus a `torch._foreach_lerp_` per scaled group.

Torch's 2 intra-op threads stall when another process holds a core (a 5 ms step then takes
50-300 ms): check `uptime`/`top` first. `--backends B --update` reruns one backend and keeps
the others from OUT/hyper.json; `--report` writes hyper.md again from hyper.json.

Writes bench/results/hyper.md and hyper.json (with --out DIR elsewhere); OUT/hyper_notes.md,
written by hand about the latest run, goes at the top of hyper.md.
"""

import argparse
import datetime
import gc
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("jax", "tensorflow", "torch")
WAYS = ("none", "lr", "+mom", "+wd", "+mom+wd+b2", "mult2", "ldecay", "ldecay-lerp", "lr24",
        "ldecay24", "lr-epoch", "+3-epoch")
FEATURES, HIDDEN, CLASSES, BATCH = 64, 256, 10, 128
DEEP, DEEP_WIDTH, DEEP_BATCH = 24, 64, 64  # the lr24 / ldecay24 model: layers, width, batch
DEEP_WAYS = ("lr24", "ldecay24")
BASES = ("lr", "lr24")


def base_of(way):
    """The way `way` is compared with: the lr alone on the same model."""
    return "lr24" if way in DEEP_WAYS else "lr"


def batch_of(way):
    return DEEP_BATCH if way in DEEP_WAYS else BATCH
HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end",
         "on_epoch_end", "on_train_end")
PEAK = 1e-3


def worker(backend, args):
    os.environ["KERAS_BACKEND"] = backend
    import warnings

    import keras

    import keras_lrsched as lrs

    # The schedules are only there to move: that the timed fits run past them is expected.
    warnings.filterwarnings("ignore", category=lrs.callback.ScheduleWarning)

    if backend == "torch":
        import torch

        # As XLA and TensorFlow do on CPU: a weight whose gradient is 0 (a dead unit) sees its
        # Adam momentum decay into subnormal floats within a few hundred steps, and eager
        # torch's ops on those run several times slower, at a time that differs per model.
        torch.set_flush_denormal(True)
    keras.utils.set_random_seed(0)
    spe, epochs = args.steps, args.epochs
    rng = np.random.default_rng(0)
    x = rng.standard_normal((spe * BATCH, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, spe * BATCH).astype("int32")
    # Steps of the schedules: longer than every fit of the run together, so that they move.
    n = spe * epochs * (args.rounds + 2)

    def make_model(way):
        layers = [keras.Input((FEATURES,))]
        if way in DEEP_WAYS:
            for i in range(DEEP - 1):
                layers.append(keras.layers.Dense(DEEP_WIDTH, activation="relu", name=f"deep_{i}"))
            layers.append(keras.layers.Dense(CLASSES, name=f"deep_{DEEP - 1}"))
        else:
            for i in range(3):
                layers.append(keras.layers.Dense(HIDDEN, activation="relu", name=f"dense_{i}"))
            layers.append(keras.layers.Dense(CLASSES, name="dense_3"))
        model = keras.Sequential(layers, name="mlp")
        model.compile(keras.optimizers.AdamW(PEAK, weight_decay=0.004),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    def momentum(steps):
        one = lrs.OneCycle(PEAK, steps=steps)
        if hasattr(one, "cycle_momentum"):
            return one.cycle_momentum(base=0.85, max=0.95)
        return lrs.Linear(0.95, end=0.85, steps=steps)

    def callback_for(way, model):
        if way == "none":
            return None
        epoch_mode = way.endswith("-epoch")
        steps = max((args.rounds + 2) * epochs, 10) if epoch_mode else n
        kw = {}
        if way in ("+mom", "+mom+wd+b2", "+3-epoch"):
            kw["momentum"] = momentum(steps)
        if way in ("+wd", "+mom+wd+b2", "+3-epoch"):
            kw["weight_decay"] = lrs.Cosine(0.04, end=0.4, steps=steps)
        if way in ("+mom+wd+b2", "+3-epoch"):
            kw["hyperparameters"] = {"beta_2": lrs.Linear(0.999, end=0.99, steps=steps)}
        if way == "mult2":
            kw["lr_multipliers"] = {"dense_0": 0.1}
        if way in ("ldecay", "ldecay-lerp"):
            kw["lr_multipliers"] = lrs.layer_decay(model, 0.7)
        if way == "ldecay24":
            kw["lr_multipliers"] = lrs.layer_decay(model, 0.9)
        cb = lrs.LearningRateScheduler(lrs.OneCycle(PEAK, steps=steps),
                                       update="epoch" if epoch_mode else "step", **kw)
        if way == "ldecay-lerp":
            force_lerp(cb)
        return cb

    class Begin(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.t = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t.append(time.perf_counter())

    class End(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.t = []

        def on_epoch_end(self, epoch, logs=None):
            self.t.append(time.perf_counter())

    spent = {"epoch": 0.0, "fit": 0.0}  # the callback's own hook time in the current fit

    def timed(cb):
        """Time every hook the callback overrides (instance attributes, kept across fits):
        the train begin/end hooks (install, take off) per fit, the others per epoch."""
        base = keras.callbacks.Callback
        for name in HOOKS:
            if getattr(type(cb), name) is getattr(base, name):
                continue
            key = "fit" if name in ("on_train_begin", "on_train_end") else "epoch"

            def wrapper(*a, _hook=getattr(cb, name), _key=key, **k):
                t0 = time.perf_counter()
                try:
                    return _hook(*a, **k)
                finally:
                    spent[_key] += time.perf_counter() - t0

            setattr(cb, name, wrapper)
        return cb

    setups = {}
    for way in args.ways:
        model = make_model(way)
        model.build((None, FEATURES))
        cb = callback_for(way, model)
        setups[way] = (model, [] if cb is None else [timed(cb)])
    if "ldecay" in setups:
        groups = sorted(set(lrs.layer_decay(setups["ldecay"][0], 0.7).values()))
        print(f"layer_decay factors: {groups}", file=sys.stderr)
    if "ldecay24" in setups:
        groups = len(set(lrs.layer_decay(setups["ldecay24"][0], 0.9).values()))
        print(f"layer_decay groups of the deep model: {groups}", file=sys.stderr)

    def fit(way):
        model, cbs = setups[way]
        begin, end = Begin(), End()
        gc.collect()
        spent["epoch"] = spent["fit"] = 0.0
        t0 = time.perf_counter()
        rows = spe * batch_of(way)  # spe steps per epoch whatever the batch
        model.fit(x[:rows], y[:rows], batch_size=batch_of(way), epochs=epochs, verbose=0,
                  shuffle=False, callbacks=[begin, *cbs, end])
        wall = time.perf_counter() - t0
        inside = float(np.sum(np.asarray(end.t) - np.asarray(begin.t)))
        hooks[way].append((spent["epoch"] / epochs, spent["fit"]))
        return wall / (spe * epochs), inside / (spe * epochs)

    hooks = {w: [] for w in args.ways}

    for way in args.ways:  # trace and compile, first install
        fit(way)
    for way in args.ways:  # one more: the process's one-time costs land on no timed way
        fit(way)

    hooks = {w: [] for w in args.ways}  # the timed rounds only
    fit_s = {w: [] for w in args.ways}
    epoch_s = {w: [] for w in args.ways}
    order = np.random.default_rng(1)
    t_start = time.perf_counter()
    for _ in range(args.rounds):
        for way in order.permutation(args.ways):
            a, b = fit(str(way))
            fit_s[str(way)].append(a)
            epoch_s[str(way)].append(b)
    timed_s = time.perf_counter() - t_start

    res = {"fit_step_s": fit_s, "epoch_step_s": epoch_s, "timed_s": timed_s,
           "hooks_s": {w: [float(np.median([h[0] for h in v])), float(np.median([h[1] for h in v]))]
                       for w, v in hooks.items()},
           "paired": paired_blocks(keras, setups, args, x, y),
           "schedule_steps": n, "keras_lrsched_file": lrs.__file__,
           "momentum_schedule": type(momentum(10)).__name__}
    if backend == "torch" and not args.no_parts:
        res["parts"] = torch_parts(keras, setups, args)
    return res


def paired_blocks(keras, setups, args, x, y):
    """The step-mode ways' compiled steps, run directly in short blocks in rotation.

    Whole fits of the ways follow each other over seconds, in which this machine's speed drifts;
    here a rotation (lr, none, +mom, ..., ldecay) takes a second or less. Each way's callback is
    installed as fit installs it (its train-begin and epoch-begin hooks), then
    `model.train_function` is called `block` times per block, as fit's loop calls it: under JAX
    with the state carried from call to call (synced to the variables only at the end, as fit
    does), under TensorFlow and torch with one batch per call. (`train_on_batch` would not do:
    it calls `make_train_function()`, which takes the callback off, as a fit after an
    interrupted fit must; and under JAX it syncs every variable to the host at every call.) Per
    way: the median over rotations of its block time over the mean of the two blocks of its
    base (`base_of`) around it (the base's block in the same rotation, which comes first, and
    the one in the next), and the difference in microseconds per step.
    """
    backend = keras.backend.backend()
    ways = rotation([w for w in args.ways if not w.endswith("-epoch")])
    block, rotations = args.block, args.rotations
    runners, installed = {}, []
    for way in ways:
        model, cbs = setups[way]
        for cb in cbs:
            cb.set_model(model)
            cb.set_params({"epochs": 1, "steps": args.steps, "verbose": 0})
            cb.on_train_begin()
            cb.on_epoch_begin(0)
            installed.append(cb)
        b = batch_of(way)
        runners[way] = _runner(keras, backend, model, x[:b], y[:b])
        runners[way](block)  # warm up (and compile, were the binding new)
    times = {w: [] for w in ways}
    for _ in range(rotations):
        for way in ways:
            t0 = time.perf_counter()
            runners[way](block)
            times[way].append(time.perf_counter() - t0)
    for base in BASES:  # one block more each: the one after the last rotation
        if base in runners:
            t0 = time.perf_counter()
            runners[base](block)
            times[base].append(time.perf_counter() - t0)
    for way in ways:
        runners[way](0)
    apply = optimizer_blocks(keras, setups, ways, args) if backend == "torch" else None
    for cb in installed:
        cb.on_train_end()
    out = {"block": block, "rotations": rotations}
    for base in BASES:
        if base in times:
            out[f"{base}_us"] = float(np.median(times[base]) / block * 1e6)
    for way in ways:
        if way in BASES:
            continue
        base = np.asarray(times[base_of(way)])
        around = 0.5 * (base[:-1] + base[1:])
        t = np.asarray(times[way])
        ratio = t / around
        out[way] = {"x_lr": float(np.median(ratio)),
                    "x_lr_iqr": [float(np.percentile(ratio, 25)), float(np.percentile(ratio, 75))],
                    "extra_us": float(np.median(t - around) / block * 1e6)}
    if apply:
        out["optimizer"] = apply
    return out


def optimizer_blocks(keras, setups, ways, args, block=50):
    """Torch: the optimizer's own part of a step, as installed for the fit, in rotation.

    `optimizer._backend_apply_gradients(grads, variables)` under no_grad, as the torch train
    step calls it through `apply`: our wrapper (a lookup and an assign per scheduled
    hyperparameter), AdamW's update (per group of multipliers), its weight decay, the step
    count. Blocks of `block` calls, the ways in rotation; per way the median over rotations of
    the difference to the mean of the two blocks of its base around it, in us per call.
    """
    import torch

    calls = {}
    for way in ways:
        model = setups[way][0]
        opt = model.optimizer
        variables = list(model.trainable_variables)
        grads = [torch.full_like(v.value, 1e-3) for v in variables]

        def run(opt=opt, grads=grads, variables=variables):
            with torch.no_grad():
                for _ in range(block):
                    opt._backend_apply_gradients(grads, variables)
        calls[way] = run
        run()
    times = {w: [] for w in ways}
    for _ in range(args.rotations):
        for way in ways:
            t0 = time.perf_counter()
            calls[way]()
            times[way].append(time.perf_counter() - t0)
    for base in BASES:
        if base in calls:
            t0 = time.perf_counter()
            calls[base]()
            times[base].append(time.perf_counter() - t0)
    out = {"block": block}
    for base in BASES:
        if base in times:
            out[f"{base}_us"] = float(np.median(times[base]) / block * 1e6)
    for way in ways:
        if way not in BASES:
            base = np.asarray(times[base_of(way)])
            around = 0.5 * (base[:-1] + base[1:])
            t = np.asarray(times[way])
            d = (t - around) / block * 1e6
            out[way] = {"extra_us": float(np.median(d)),
                        "iqr": [float(np.percentile(d, 25)), float(np.percentile(d, 75))]}
    return out


def force_lerp(cb):
    """Make `cb`'s multipliers take torch_steps' LERP way wherever they would take ADAM (a
    bench-only reach into the callback's binding, made at its first train begin)."""
    from keras_lrsched.callback import torch_steps

    begin = cb.on_train_begin

    def on_train_begin(logs=None):
        begin(logs)
        for t in cb._binding.targets:
            m = t.multipliers
            if m is not None and not hasattr(m, "_bench_way"):
                m._bench_way = m.way
                m.way = lambda groups, m=m: (
                    torch_steps.LERP if m._bench_way(groups) == torch_steps.ADAM
                    else m._bench_way(groups))

    cb.on_train_begin = on_train_begin


def rotation(ways):
    """The paired blocks' order: each base right before the ways compared with it."""
    out = []
    for base in BASES:
        if base in ways:
            out += [base] + [w for w in ways if base_of(w) == base and w not in BASES]
    return out + [w for w in ways if w not in out]


def _runner(keras, backend, model, xb, yb):
    """``run(n)``: n calls of the model's current train function on one batch, finished;
    ``run(0)`` when done (JAX: the carried state written back to the variables)."""
    fn = model.train_function
    if backend == "jax":
        import jax
        from keras.src.backend.jax.trainer import _distribute_data

        state = [model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                      optimizer_variables=True, metrics_variables=True,
                                      purge_model_variables=False)]
        batch = _distribute_data((xb, yb, None))

        def run(n):
            if n == 0:  # done: the state back into the variables (jit donated their arrays)
                names = ("trainable_variables", "non_trainable_variables",
                         "optimizer_variables", "metrics_variables")
                model._jax_state = dict(zip(names, state[0]))
                model._jax_state_synced = False
                model.jax_state_sync()
                return
            st = state[0]
            for _ in range(n):
                _, st = fn(st, iter([batch]))
            state[0] = jax.block_until_ready(st)
        return run
    if backend == "tensorflow":
        import tensorflow as tf

        batch = (tf.constant(xb), tf.constant(yb), None)

        def run(n):
            logs = None
            for _ in range(n):
                logs = fn(iter([batch]))
            if logs is not None:
                float(logs["loss"])
        return run

    import torch

    batch = (torch.as_tensor(xb), torch.as_tensor(yb), None)

    def run(n):
        for _ in range(n):
            fn([batch])
    return run


def torch_parts(keras, setups, args, calls=2000, repeats=7):
    """The pieces of one scheduled hyperparameter's per-step cost in eager torch, us per call."""
    import torch

    from keras_lrsched.callback import backend as cb_backend

    def best(fn, n=calls):
        fn()
        out = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out.append(time.perf_counter() - t0)
        return float(np.min(out)) / n * 1e6

    opt = keras.optimizers.AdamW(PEAK, weight_decay=0.004)
    opt.build([keras.Variable(np.zeros(4, "float32"))])
    size = args.steps + 1
    win = opt.add_variable((size,), initializer="zeros", dtype="float32", name="w")
    start = opt.add_variable((), initializer="zeros", dtype=opt.iterations.dtype, name="s")
    var = opt.add_variable((), initializer="zeros", dtype="float32", name="v")
    getter = cb_backend.step_getter(opt, None, win, start, None, size)
    value = getter()
    out = {
        "lookup": best(getter),
        "keras_assign": best(lambda: var.assign(value)),
        "keras_assign_of_lookup": best(lambda: var.assign(getter())),
        "torch_copy": best(lambda: var.value.copy_(value)),
    }
    with torch.no_grad():
        out["torch_copy_no_grad"] = best(lambda: var.value.copy_(value))
    # What a host-side value would cost instead: the window as a NumPy array, indexed by a
    # Python step counter, set as the optimizer's float attribute (no device op at all).
    host = np.linspace(0.95, 0.85, size, dtype="float32")
    counter = [0]

    def host_float():
        counter[0] = (counter[0] + 1) % size
        object.__setattr__(opt, "beta_1", float(host[counter[0]]))

    out["host_float"] = best(host_float)

    model = setups.get("none", next(iter(setups.values())))[0]
    variables = list(model.trainable_variables)
    grads = [torch.zeros_like(v.value) for v in variables]

    # lr_multipliers. Now: AdamW's weight decay and update once per group of variables, the
    # group's lr scaled (what multipliers.py does). The alternative measured: the update once
    # for all variables at the unscaled lr, then w = lerp(w_new, w_old, 1 - factor) for each
    # group whose factor is not 1, from a copy taken before the decay; the same update for
    # optimizers whose slots do not hold the lr (the Adam family; not SGD/RMSprop with momentum).
    layers = [[2 * i, 2 * i + 1] for i in range(len(variables) // 2)]
    splits = {1: [sum(layers, [])], 2: [layers[0], sum(layers[1:], [])], 4: layers}
    factors = {1: [1.0], 2: [0.1, 1.0], 4: [0.343, 0.49, 0.7, 1.0]}

    def grouped(k):
        o = keras.optimizers.AdamW(PEAK, weight_decay=0.004)
        o.build(variables)
        lr = o._get_current_learning_rate()
        parts = [([variables[i] for i in idx], [grads[i] for i in idx], f)
                 for idx, f in zip(splits[k], factors[k])]

        def step():
            with torch.no_grad():
                for vs, gs, f in parts:
                    scaled = lr if f == 1.0 else keras.ops.multiply(lr, f)
                    o._apply_weight_decay(vs)
                    o._backend_update_step(gs, vs, scaled)
        return step

    def lerped(k):
        o = keras.optimizers.AdamW(PEAK, weight_decay=0.004)
        o.build(variables)
        lr = o._get_current_learning_rate()
        scaled = [([variables[i].value for i in idx], f)
                  for idx, f in zip(splits[k], factors[k]) if f != 1.0]

        def step():
            with torch.no_grad():
                olds = [torch._foreach_mul(ts, 1.0) for ts, _ in scaled]
                o._apply_weight_decay(variables)
                o._backend_update_step(grads, variables, lr)
                for (ts, f), old in zip(scaled, olds):
                    torch._foreach_lerp_(ts, old, 1.0 - f)
        return step

    fns = {"1": grouped(1), "2": grouped(2), "4": grouped(4), "lerp2": lerped(2),
           "lerp4": lerped(4)}
    # In rotation, blocks of 20 calls: each one's difference to the `1` blocks around it.
    g = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(args.rotations + 1):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(20):
                fn()
            g[k].append((time.perf_counter() - t0) / 20 * 1e6)
    one = np.asarray(g["1"])
    around = 0.5 * (one[:-1] + one[1:])
    out["adam_groups"] = {"1": float(np.median(one))}
    for k in fns:
        if k != "1":
            out["adam_groups"][k] = float(np.median(np.asarray(g[k][:-1]) - around))
    return out


def call_worker(backend, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", backend, "--steps",
           str(args.steps), "--epochs", str(args.epochs), "--rounds", str(args.rounds),
           "--ways", *args.ways, "--block", str(args.block), "--rotations",
           str(args.rotations)] + (["--no-parts"] if args.no_parts else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT "):])
            res["worker_s"] = time.perf_counter() - t0
            print(f"{backend}: {res['worker_s']:.0f} s, keras_lrsched from "
                  f"{res['keras_lrsched_file']}", file=sys.stderr)
            return res
    sys.stderr.write(f"{backend} worker failed:\n{proc.stderr[-4000:]}\n")
    return None


def summarize(r, ways):
    out = {}
    for kind in ("fit_step_s", "epoch_step_s"):
        t = {w: np.asarray(r[kind][w]) for w in ways}
        s = {}
        for w in ways:
            row = {"ms": float(np.median(t[w]) * 1e3)}
            lr = base_of(w)
            none = None if w in DEEP_WAYS else "none"
            for key, base in (("x_lr", lr), ("x_none", none)):
                if base in t:
                    ratio = t[w] / t[base]
                    row[key] = [float(np.median(ratio)), float(ratio.min()), float(ratio.max())]
            if none in t:
                row["extra_us"] = float(np.median(t[w] - t[none]) * 1e6)
            if lr in t:
                row["extra_over_lr_us"] = float(np.median(t[w] - t[lr]) * 1e6)
            s[w] = row
        out[kind] = s
    return out


LABELS = {
    "none": "1 none (AdamW, float lr)",
    "lr": "2 lr alone, step",
    "+mom": "3 lr + momentum (beta_1)",
    "+wd": "4 lr + weight_decay",
    "+mom+wd+b2": "5 lr + momentum + weight_decay + beta_2",
    "mult2": "6a lr + lr_multipliers, 2 groups",
    "ldecay": "6b lr + layer_decay(0.7), 4 groups",
    "ldecay-lerp": "6c as 6b, torch's lerp way forced (what Adam's own pass saves)",
    "lr24": "7 lr alone, step, 24-layer MLP",
    "ldecay24": "7b lr + layer_decay(0.9), 24 groups, 24-layer MLP (x lr24)",
    "lr-epoch": "lr alone, epoch mode",
    "+3-epoch": "5e as 5, epoch mode",
}


def paired_cell(pb, way):
    if way in BASES and pb and f"{way}_us" in pb:
        return f"1 ({pb[f'{way}_us']:.0f} us per step) | +0.0"
    q = pb.get(way)
    if not q:
        return "— | —"
    lo, hi = q["x_lr_iqr"]
    return f"**{q['x_lr']:.3f}x** [{lo:.3f}, {hi:.3f}] | {q['extra_us']:+.1f}"


def report(res, args):
    info = res["machine"]
    simd = "AVX-512" if info["avx512f"] else "AVX2" if info["avx2"] else "no AVX2"
    v = info["versions"]
    # What a person wrote about the run (OUT/hyper_notes.md, kept by hand): kept at the top
    # when the report is written again.
    notes_path = os.path.join(args.out, "hyper_notes.md")
    notes = []
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            notes = [f.read().strip(), ""]
    lines = [
        *notes,
        f"Machine: {info['cpu']} (LLVM host CPU `{info['llvm_cpu']}`, {simd}), {info['cores']} "
        f"cores, {info['date']}; code `{info['git']}`. Load average (1 min) before: "
        f"{info['load_before']:.2f}, after: {res['load_after']:.2f}.",
        "Versions: " + ", ".join(f"{k} {x}" for k, x in v.items()) + ".",
        *([f"Backends run (again) with --update: "
           + ", ".join(f"{b} at {t}" for b, t in res["reruns"].items()) + "."]
          if res.get("reruns") else []),
        "",
        f"MLP {FEATURES}-{HIDDEN}-{HIDDEN}-{HIDDEN}-{CLASSES} (relu), batch {BATCH}, AdamW(1e-3, "
        f"weight_decay=0.004) in every way; each timed fit: {args.epochs} epoch(s) of "
        f"{args.steps} steps, on a model and callback fitted twice before; {args.rounds} rounds, "
        "the ways in a new random order each round. ms/step: median over rounds; x lr, x none: "
        "median of the per-round ratios [lowest, highest round]; us/step over none or lr: median "
        "of the per-round differences. Paired blocks: each step-mode way's compiled step called "
        f"directly in blocks of {args.block} steps, {args.rotations} rotations (lr, none, +mom, "
        "...), each block over the mean of the `lr` blocks around it (median [interquartile "
        "range]), and the difference in us per step: the in-step cost, free of fit's per-fit "
        "and per-epoch work and of most of the drift. Ways 7 and 7b: an MLP of "
        f"{DEEP} Dense layers {DEEP_WIDTH} wide (relu; the last {CLASSES} wide), batch "
        f"{DEEP_BATCH}, the same optimizer; 7b's x lr and its paired blocks are against 7, the "
        "lr alone on that model (no x none).",
    ]
    for backend, r in res["backends"].items():
        lines += ["", f"**{backend}**" + ("" if r else ": failed"), ""]
        if not r:
            continue
        s = r["summary"]
        lines.append(f"(worker {r['worker_s']:.0f} s; load average {r['load_before']:.2f} before, "
                     f"{r['load_after']:.2f} after; momentum: {r['momentum_schedule']})")
        lines.append("")
        pb = r.get("paired") or {}
        lines.append("| way | ms/step (fit) | x lr | x none | us/step over lr "
                     "| ms/step (in epochs) | x lr | x none | paired blocks: x lr [IQR] "
                     "| paired: us/step over lr |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for w in args.ways:
            if w not in s["fit_step_s"]:  # a backend kept from a run without this way
                continue
            f, e = s["fit_step_s"][w], s["epoch_step_s"][w]

            def cell(row, key):
                if key not in row:
                    return "—"
                m, lo, hi = row[key]
                return f"**{m:.3f}x** [{lo:.2f}, {hi:.2f}]"

            lines.append(
                f"| {LABELS.get(w, w)} | {f['ms']:.3f} | {cell(f, 'x_lr')} | {cell(f, 'x_none')} "
                f"| {f.get('extra_over_lr_us', float('nan')):+.1f} | {e['ms']:.3f} "
                f"| {cell(e, 'x_lr')} | {cell(e, 'x_none')} | {paired_cell(pb, w)} |")
        hk = r.get("hooks_s")
        if hk:
            ways = [w for w in args.ways if w != "none" and w in hk]
            lines += [
                "",
                "The callback's own hooks, timed with perf_counter (median over the timed fits): "
                "per epoch (epoch begin/end, batch hooks) and per fit (train begin and end: "
                "install, take off), ms.",
                "",
                "| | " + " | ".join(ways) + " |",
                "|---" * (len(ways) + 1) + "|",
                "| per epoch | " + " | ".join(f"{hk[w][0] * 1e3:.2f}" for w in ways) + " |",
                "| per fit | " + " | ".join(f"{hk[w][1] * 1e3:.2f}" for w in ways) + " |",
            ]
        o = pb.get("optimizer")
        if o:
            cells = ", ".join(f"{w} {o[w]['extra_us']:+.1f} [{o[w]['iqr'][0]:+.1f}, "
                              f"{o[w]['iqr'][1]:+.1f}]" for w in args.ways if w in o)
            lines += [
                "",
                "Torch, the optimizer's part of the step as installed (`_backend_apply_gradients` "
                f"under no_grad, blocks of {o['block']} calls in rotation): lr alone "
                f"{o['lr_us']:.0f} us per call"
                + (f" ({o['lr24_us']:.0f} on the 24-layer MLP)" if "lr24_us" in o else "")
                + "; the others, us per call over their base, median "
                f"[interquartile range]: {cells}.",
            ]
        p = r.get("parts")
        if p:
            gr = p["adam_groups"]
            lines += [
                "",
                "Torch, the parts in isolation (eager, us per call, best of 7): "
                f"window lookup {p['lookup']:.1f}; keras `Variable.assign` of its result "
                f"{p['keras_assign']:.1f} (lookup + assign {p['keras_assign_of_lookup']:.1f}); "
                f"a plain `tensor.copy_` {p['torch_copy']:.1f} ({p['torch_copy_no_grad']:.1f} "
                f"under no_grad); a host float instead (NumPy window, Python counter, set as the "
                f"optimizer's attribute) {p['host_float']:.1f}. keras' torch AdamW "
                "`_apply_weight_decay` + `_backend_update_step` on the MLP's 8 variables "
                f"(blocks of 20 calls in rotation): once, {gr['1']:.0f} us; over it, called once "
                f"per group, 2 / 4 groups: {gr['2']:+.0f} / {gr['4']:+.0f}; called once for all, "
                "then `torch._foreach_lerp_` of each scaled group from a copy taken before: "
                f"{gr['lerp2']:+.0f} / {gr['lerp4']:+.0f} (median of the differences to the "
                "blocks of one call around).",
            ]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--backends", nargs="*", default=list(BACKENDS))
    ap.add_argument("--ways", nargs="*", default=list(WAYS))
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per timed fit")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--block", type=int, default=20, help="steps per paired block")
    ap.add_argument("--rotations", type=int, default=40, help="rotations of the paired blocks")
    ap.add_argument("--no-parts", action="store_true", help="skip the torch parts")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--update", action="store_true",
                    help="keep the other backends' results in OUT/hyper.json, rerun --backends")
    ap.add_argument("--report", action="store_true", help="write OUT/hyper.md from OUT/hyper.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    for base in ("lr", "none"):
        if base not in args.ways:
            args.ways.insert(0, base)
    if "ldecay24" in args.ways and "lr24" not in args.ways:
        args.ways.insert(args.ways.index("ldecay24"), "lr24")
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)))
        return
    if args.quick:
        args.rounds, args.steps, args.rotations = 5, 50, 10
    sys.path.insert(0, HERE)
    from bench_refit import machine

    previous = os.path.join(args.out, "hyper.json")
    if args.report:  # hyper.md again from hyper.json, nothing run
        with open(previous) as f:
            res = json.load(f)
        text = report(res, argparse.Namespace(**res["args"]))
        with open(os.path.join(args.out, "hyper.md"), "w") as f:
            f.write(text + "\n")
        print(text)
        return
    res = {"machine": machine(), "args": vars(args), "backends": {}}
    if args.update and os.path.exists(previous):
        with open(previous) as f:
            old = json.load(f)
        # The other backends stay as they were; the machine line is this run's.
        res["backends"] = old["backends"]
        res["reruns"] = {**old.get("reruns", {}),
                         **{b: datetime.datetime.now().isoformat(timespec="seconds")
                            for b in args.backends}}
    for backend in args.backends:
        load = os.getloadavg()[0]
        print(f"{backend} ... (load {load:.2f})", file=sys.stderr, flush=True)
        r = call_worker(backend, args)
        if r is not None:
            r["summary"] = summarize(r, args.ways)
            r["load_before"], r["load_after"] = load, os.getloadavg()[0]
        res["backends"][backend] = r
    res["load_after"] = os.getloadavg()[0]
    text = report(res, args)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "hyper.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, "hyper.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
