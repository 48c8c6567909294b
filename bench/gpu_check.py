"""GPU check: a 1e8-step run in step mode under JAX and Torch, lr on the device, no per-step sync.

Run by hand on a machine with a CUDA GPU (never a test):

    python bench/gpu_check.py                 # jax and torch, each in its own subprocess
    python bench/gpu_check.py --allow-cpu     # dry run of the same code on CPU (no GPU claims)

Without a GPU it says so and exits with status 0.

For each backend, fit is configured for 1e8 steps (epochs x steps per epoch) and stopped after a few
epochs. Variants: no callback; ``LearningRateScheduler(schedule, update="step")`` with a keras_lrsched
schedule (Warmup + SGDR: its Numba kernel fills a window variable on the device, one epoch at a time,
which the compiled step indexes with optimizer.iterations); the same schedule as a 1e8-entry float32
table the user made (the same window lookup).

Checks, per variant against "none":
* where the lr lives: the window variable's device (it must be the GPU), the optimizer's
  iteration counter's device;
* host round trips per step: under JAX, every transfer is logged (``jax.transfer_guard`` at
  "log_explicit") during the second epoch and counted, host-to-device and device-to-host; under
  Torch, ``torch.cuda.set_sync_debug_mode("warn")`` counts synchronizing CUDA calls. Counted apart:
  inside the steps (per step, from batch 1 to the last batch) and the rest of the epoch (its
  boundary hooks). The callback must add nothing per step over "none" (the data batches are
  transfers in every variant); a few per epoch are expected (the window write, the logs);
* step time: median over epochs 2.. of the time between epoch begins, and the ratio to "none";
* the first epoch (fit() to the end of epoch 1, including the callback's set-up for 1e8 steps).

Writes bench/results/gpu.md and gpu.json (with --out DIR elsewhere).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_STEPS = 10**8
BATCH, FEATURES, WIDTH = 256, 64, 512
VARIANTS = ("none", "ours-step", "ours-table")


def _device_of(variable, backend):
    value = variable.value
    if backend == "jax":
        return ",".join(sorted(str(d) for d in value.devices()))
    return str(value.device)


class _CaptureStderr:
    """Send fd 2 (where XLA's C++ logging goes) to a file for a while; count lines matching."""

    def __enter__(self):
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile(mode="w+")
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.close()

    def count_now(self, pattern):
        """Matching lines written so far (while capturing)."""
        sys.stderr.flush()
        with open(self.file.fileno(), closefd=False) as f:
            f.seek(0)
            return len(re.findall(pattern, f.read()))


def worker(backend, args):
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax":
        import jax

        platforms = {d.platform for d in jax.devices()}
        on_gpu = "gpu" in platforms or "cuda" in platforms
        device_desc = str(jax.devices())
    else:
        import torch

        on_gpu = torch.cuda.is_available()
        device_desc = torch.cuda.get_device_name(0) if on_gpu else "cpu"
    if not on_gpu and not args.allow_cpu:
        return {"skipped": f"no GPU for {backend} (devices: {device_desc})"}

    import keras

    import keras_lrsched as lrs

    keras.utils.set_random_seed(0)
    spe = args.steps_per_epoch
    rng = np.random.default_rng(0)
    x = rng.standard_normal((spe * BATCH, FEATURES)).astype("float32")
    y = rng.standard_normal((spe * BATCH, 1)).astype("float32")
    schedule = lrs.Warmup(
        lrs.CosineRestarts(0.01, period=1000, t_mul=2.0, m_mul=0.9), warmup_steps=500
    )
    table = schedule.table(RUN_STEPS) if "ours-table" in args.variants else None

    class Stamps(keras.callbacks.Callback):
        def __init__(self, stop_after):
            super().__init__()
            self.begins, self.stop_after, self.devices = [], stop_after, {}

        def on_epoch_begin(self, epoch, logs=None):
            self.begins.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.first_epoch_end = time.perf_counter()
                opt = self.model.optimizer
                self.devices["iterations"] = _device_of(opt.iterations, backend)
                for v in opt.variables:
                    if "keras_lrsched" in v.name:
                        self.devices[v.name] = _device_of(v, backend)
            if epoch + 1 >= self.stop_after:
                self.model.stop_training = True

    def make_model():
        model = keras.Sequential([
            keras.Input((FEATURES,)),
            keras.layers.Dense(WIDTH, activation="relu"),
            keras.layers.Dense(WIDTH, activation="relu"),
            keras.layers.Dense(1),
        ])
        model.compile(keras.optimizers.SGD(0.01), loss="mse")
        return model

    def our_callbacks(variant):
        if variant == "ours-step":
            return [lrs.LearningRateScheduler(schedule, update="step")]
        if variant == "ours-table":
            return [lrs.LearningRateScheduler(table, update="step")]
        return []

    class Watch(keras.callbacks.Callback):
        """Count host transfers (JAX) or CUDA syncs (Torch) in epoch 2: within its steps (from
        the begin of batch 1 to the begin of its last batch) and in the whole epoch.

        Only batch-begin and epoch hooks are used: a batch-end hook would make keras read the
        logs after every step, which is a device-to-host sync of its own."""

        def __init__(self, steps_per_epoch):
            super().__init__()
            self.spe, self.result, self.marks = steps_per_epoch, {}, {}

        def _count(self):
            if backend == "jax":
                return {"h2d": self.capture.count_now(r"host-to-device transfer"),
                        "d2h": self.capture.count_now(r"device-to-host transfer")}
            return {"sync": sum("synchroniz" in str(w.message) for w in self.records)}

        def on_epoch_begin(self, epoch, logs=None):
            if epoch != 1:
                return
            if backend == "jax":
                import jax

                self.capture = _CaptureStderr().__enter__()
                self.guard = jax.transfer_guard("log_explicit")
                self.guard.__enter__()
            elif on_gpu:
                import warnings

                import torch

                self.caught = warnings.catch_warnings(record=True)
                self.records = self.caught.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            else:
                return
            self.active = True

        def on_train_batch_begin(self, batch, logs=None):
            if getattr(self, "active", False) and batch in (1, self.spe - 1):
                self.marks[batch] = self._count()

        def on_epoch_end(self, epoch, logs=None):
            if not getattr(self, "active", False):
                return
            self.active = False
            total = self._count()
            if backend == "jax":
                self.guard.__exit__(None, None, None)
                self.capture.__exit__(None, None, None)
            else:
                import torch

                torch.cuda.set_sync_debug_mode("default")
                self.caught.__exit__(None, None, None)
            inner_steps = self.spe - 2
            for key, n in total.items():
                per_step = (self.marks[self.spe - 1][key] - self.marks[1][key]) / inner_steps
                self.result[f"{key}_per_step"] = per_step
                self.result[f"{key}_per_epoch_rest"] = n - per_step * self.spe

    def fit(variant, epochs_run, extra=()):
        model = make_model()
        stamps = Stamps(epochs_run)
        callbacks = [stamps, *extra] + our_callbacks(variant)  # the user's objects, before fit
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=RUN_STEPS // spe, verbose=0, shuffle=False,
                  callbacks=callbacks)
        return stamps, stamps.first_epoch_end - t0

    out = {"backend": backend, "device": device_desc, "on_gpu": on_gpu, "variants": {}}
    for variant in args.variants:
        stamps, first = fit(variant, args.epochs)
        steps = np.diff(stamps.begins)[1:] / spe
        entry = {"step_ms": float(np.median(steps)) * 1e3, "first_epoch_s": first,
                 "devices": stamps.devices}

        # Host round trips in epoch 2 of a fit (after the set-up and the compile epoch).
        watch = Watch(spe)
        fit(variant, 2, extra=[watch])
        entry.update(watch.result)
        out["variants"][variant] = entry
        out["variants"][variant] = entry
    return out


def call_worker(backend, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", backend,
           "--steps-per-epoch", str(args.steps_per_epoch), "--epochs", str(args.epochs),
           "--variants", *args.variants]
    if args.allow_cpu:
        cmd.append("--allow-cpu")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", KERAS_BACKEND=backend)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": proc.stderr[-4000:]}


def report(results):
    lines = []
    add = lines.append
    for r in results:
        if "skipped" in r or "error" in r:
            add(f"- {r.get('backend', '?')}: {r.get('skipped') or 'FAILED: ' + r['error'][-800:]}")
            continue
        where = "GPU" if r["on_gpu"] else "CPU (dry run: no GPU claims)"
        add("")
        add(f"### {r['backend']} on {where}: {r['device']}")
        add("")
        sync_col = ("host-to-device / device-to-host transfers per step (+ rest of the epoch)"
                    if r["backend"] == "jax" else "CUDA syncs per step (+ rest of the epoch)")
        add(f"| variant | ms per step | x none | first epoch (s) | {sync_col} | lr state on |")
        add("|---|---|---|---|---|---|")
        none = r["variants"].get("none", {}).get("step_ms")
        for v, e in r["variants"].items():
            if r["backend"] == "jax":
                sync = (f"{e['h2d_per_step']:.2f} (+{e['h2d_per_epoch_rest']:.0f}) / "
                        f"{e['d2h_per_step']:.2f} (+{e['d2h_per_epoch_rest']:.0f})")
            elif "sync_per_step" in e:
                sync = f"{e['sync_per_step']:.2f} (+{e['sync_per_epoch_rest']:.0f})"
            else:
                sync = "n/a (CPU)"
            dev = "; ".join(f"{k}: {d}" for k, d in e["devices"].items())
            ratio = f"{e['step_ms'] / none:.3f}" if none else "—"
            add(f"| {v} | {e['step_ms']:.3f} | {ratio} | {e['first_epoch_s']:.2f} | {sync} | {dev} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", nargs="*", default=["jax", "torch"])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--steps-per-epoch", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--allow-cpu", action="store_true", help="dry run on CPU when there is no GPU")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if "none" not in args.variants:
        args.variants.insert(0, "none")
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)))
        return 0
    results = []
    for backend in args.backends:
        print(f"{backend} ...", file=sys.stderr, flush=True)
        r = call_worker(backend, args)
        r.setdefault("backend", backend)
        results.append(r)
    if all("skipped" in r for r in results):
        print("No GPU available here (" + "; ".join(r["skipped"] for r in results) + "): nothing "
              "checked. Run bench/gpu_check.py on a machine with a CUDA GPU and jax[cuda] / a CUDA "
              "torch, or pass --allow-cpu for a dry run of the script on CPU.")
        return 0
    text = report(results)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    name = "gpu" if any(r.get("on_gpu") for r in results) else "gpu_dry_run_cpu"
    with open(os.path.join(args.out, f"{name}.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
