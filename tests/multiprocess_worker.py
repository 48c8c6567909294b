"""One process of a two-process training run, for tests/test_multiprocess.py.

The test starts two of these on this machine, one per process (JAX) or worker (TensorFlow):

    # JAX: a coordinator on 127.0.0.1 (process 0 runs it), one CPU device per process
    KERAS_BACKEND=jax JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=1 \\
        python tests/multiprocess_worker.py train OUT --coordinator 127.0.0.1:PORT --process-id 0
    # ... and at the same time the same with --process-id 1

    # TensorFlow: MultiWorkerMirroredStrategy, TF_CONFIG naming both workers
    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:PORT0", "127.0.0.1:PORT1"]},
                "task": {"type": "worker", "index": 0}}' \\
        KERAS_BACKEND=tensorflow python tests/multiprocess_worker.py train OUT
    # ... and at the same time the same with "index": 1

then the same with `resume` in place of `train`. Each process writes what it measured to
OUT/<phase>-<process>.json; the test compares that with the same fits in one process
(`reference`).

`train` runs each case of CASES, then the saving run, which a callback stops at the end of
epoch index INTERRUPTED_AFTER (after BackupAndRestore wrote its backup). `resume`, in two new
processes: a new model, the same callbacks, `fit(epochs=EPOCHS)`, which BackupAndRestore
resumes.

The model is a probe and a small MLP side by side. The probe is a Dense(1) kernel without bias
on a constant input of 1, under mean absolute error against targets of +-1000: under plain SGD
its gradient is known exactly (PROBE_GRADIENT) and each update moves it by exactly
-PROBE_GRADIENT * lr, so its value after each update is the lr the optimizer really applied,
compared bit for bit. The MLP (mean squared error on noisy targets) has the gradients of a real
model: its weights agree with one process up to the float32 round-off of the gradient
all-reduce.

The processes' local losses differ. Of each global batch of 8 rows, process 0 holds 4 whose
probe target is -1000 (local gradient 1: its local probe loss, 1000 + w, falls at every update)
and process 1 holds 4 with targets +1000, -1000, +1000, -1000 (local gradient 0: its local probe
loss is 1000 whatever the kernel w). Keras logs losses reduced over both processes: every
process logs the global probe loss, 1000 + w / 2. Under JAX each process is given its own rows
(`DataParallel(auto_shard_dataset=False)`). Under TensorFlow each worker is given all rows and
tf.data shards each global batch of 8 into 4 + 4, the first 4 to worker 0 (`process_rows`).
"""

import argparse
import contextlib
import json
import os
import pathlib
import sys

import numpy as np

PROCESSES = 2
BATCH = 8  # the global batch: 4 rows on each process
LOCAL_BATCH = BATCH // PROCESSES
STEPS_PER_EPOCH = 2
EPOCHS = 5
N_STEPS = EPOCHS * STEPS_PER_EPOCH
INTERRUPTED_AFTER = 1  # the saving run stops at the end of epoch index 1: 2 epochs done
PROBE_GRADIENT = 0.5  # the probe's gradient over a global batch, exactly: (4 * 1 + 4 * 0) / 8


def process_rows(process):
    """The rows a process holds: its 4 of every global batch of 8."""
    first = process * LOCAL_BATCH
    return np.concatenate(
        [np.arange(k * BATCH + first, k * BATCH + first + LOCAL_BATCH)
         for k in range(STEPS_PER_EPOCH)]
    )


_RNG = np.random.default_rng(5)
ROWS = STEPS_PER_EPOCH * BATCH
X = np.ones((ROWS, 4), "float32")  # column 0 feeds the probe (always 1), the others the MLP
X[:, 1:] = _RNG.normal(size=(ROWS, 3))
Y_FIT = X[:, 1:] @ np.float32([[0.5], [-1.0], [2.0]]) + 0.1
Y_FIT = (Y_FIT + _RNG.normal(0, 0.3, Y_FIT.shape)).astype("float32")
Y_PROBE = np.full((ROWS, 1), -1000.0, "float32")
_ROWS_1 = process_rows(1)
Y_PROBE[_ROWS_1] = np.tile(np.float32([[1000.0], [-1000.0]]), (len(_ROWS_1) // 2, 1))


def local_probe_loss(process, kernel):
    """The probe's mean absolute error on one process' rows alone, at kernel value `kernel`."""
    return float(np.mean(np.abs(kernel - Y_PROBE[process_rows(process)].astype(np.float64))))


# ------------------------------------------------------------------------------ the fits


def build(keras, lr):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    probe = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="probe")
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")
    fit = keras.layers.Dense(1, name="fit")
    outputs = {"probe": probe(inputs[:, :1]), "fit": fit(hidden(inputs[:, 1:]))}
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(lr), loss={"probe": "mae", "fit": "mse"})
    return model


def plateau(lrs):
    # With this data and _decaying, the global probe loss improves by 0.18, 0.14, 0.23 (since
    # its best) and 0.03 at the ends of epochs 1 to 4: keep, reduce, keep, reduce. Process 0's
    # local loss alone would reduce only at the last, process 1's at each but the first.
    return lrs.Plateau("probe_loss", factor=0.5, patience=0, min_delta=0.15, mode="min")


def _warmup_cosine():
    import keras_lrsched as lrs

    return lrs.Warmup(lrs.Cosine(0.2, steps=N_STEPS, end=0.01), warmup_steps=3)


def _decaying():
    import keras_lrsched as lrs

    return lrs.Linear(0.4, end=0.0, steps=N_STEPS)


def _function():
    return lambda step: 0.3 / (1.0 + 0.25 * step)


def _to_the_end():
    # Valid for the run's N_STEPS updates and negative past them: where keras cannot tell the
    # run's length (multi-process JAX), the values computed ahead of the run include bad ones,
    # and none of them may be refused (issue 19).
    return lambda step: 0.3 * (1.0 - step / N_STEPS)


def _recurrence():
    return lambda epoch, lr: lr * 0.5


# name: (update, the optimizer's own lr, a maker of the schedule, with a plateau)
CASES = {
    "step/schedule": ("step", 0.1, _warmup_cosine, False),
    "step/function": ("step", 0.1, _function, False),
    "step/function valid to the end": ("step", 0.1, _to_the_end, False),
    "epoch/f(epoch, lr)": ("epoch", 0.4, _recurrence, False),
    "step/plateau": ("step", 0.1, _decaying, True),
}
SAVING = ("step", 0.1, _decaying, True)


def recorder(keras, scheduler):
    """Reads the probe after every update, and the plateau scale after every epoch."""

    class Record(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.kernel, self.scales = [], []

        def on_train_batch_end(self, batch, logs=None):
            # self.model writes JAX's training state back first: the kernel after this update
            kernel = self.model.get_layer("probe").kernel
            self.kernel.append(float(np.asarray(keras.ops.convert_to_numpy(kernel)).reshape(())))

        def on_epoch_end(self, epoch, logs=None):
            self.scales.append(scheduler.scale)

    return Record()


def fit(keras, lrs, model, case, data, extra=()):
    """One fit of `case` on `model`: what it applied and logged, as plain floats."""
    update, _, make, with_plateau = case
    scheduler = lrs.LearningRateScheduler(
        make(), update=update, plateau=plateau(lrs) if with_plateau else None
    )
    record = recorder(keras, scheduler)
    x, y, batch_size = data
    history = model.fit(
        x, y, batch_size=batch_size, epochs=EPOCHS, shuffle=False, verbose=0,
        callbacks=[scheduler, record, *extra],
    )
    return {
        "kernel": record.kernel,
        "scales": record.scales,
        "learning_rates": [float(v) for v in scheduler.learning_rates],
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "iterations": int(np.asarray(keras.ops.convert_to_numpy(model.optimizer.iterations))),
        "weights": [np.asarray(w, np.float64).ravel().tolist() for w in model.get_weights()],
    }


def reference(keras, lrs):
    """Every case, and the saving run uninterrupted, in this one process on one device."""
    data = (X, {"probe": Y_PROBE, "fit": Y_FIT}, BATCH)
    return {
        name: fit(keras, lrs, build(keras, case[1]), case, data)
        for name, case in {**CASES, "saving": SAVING}.items()
    }


# ------------------------------------------------------------------------------ callbacks


class Interrupted(Exception):
    pass


def interrupt_after(keras, epoch_index):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == epoch_index:
                raise Interrupted(f"stopped at the end of epoch index {epoch}")

    return Interrupt()


def saving_callbacks(keras, folder, process):
    """ModelCheckpoint and BackupAndRestore on every process: the chief's write into `folder`,
    the others' into a scratch folder of their own (the rule tf.keras applied by itself; keras 3
    has no chief rule and writes where it is told). Every process must take part in each save:
    keras 3.15 makes a reference `Optimizer(1.0)` at every save, and under a multi-process JAX
    distribution making its variables is a collective of all processes."""
    if process != 0:
        folder = folder / f"scratch-{process}"
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(folder / "checkpoints" / "epoch{epoch}.weights.h5"), save_weights_only=True
    )
    return [checkpoint, keras.callbacks.BackupAndRestore(str(folder / "backup"))]


def config_reader(keras, into):
    """Reads the optimizer's config at every epoch end, on one process only (as a logger on the
    chief would): a config read must not be a collective."""

    class ReadConfig(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            into.append(float(self.model.optimizer.get_config()["learning_rate"]))

    return ReadConfig()


# ------------------------------------------------------------------------------ one process


def start_jax(args):
    import jax

    jax.distributed.initialize(
        coordinator_address=args.coordinator,
        num_processes=PROCESSES,
        process_id=args.process_id,
        coordinator_bind_address=args.coordinator,
        initialization_timeout=60,
    )
    import keras

    devices = jax.devices()
    assert len(devices) == PROCESSES and len(jax.local_devices()) == 1, devices
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    )
    rows = process_rows(jax.process_index())
    data = (X[rows], {"probe": Y_PROBE[rows], "fit": Y_FIT[rows]}, LOCAL_BATCH)
    facts = {"devices": len(devices), "process": jax.process_index()}
    return jax.process_index(), data, contextlib.nullcontext, facts


def start_tensorflow(args):
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras

    process = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    facts = {"replicas": strategy.num_replicas_in_sync, "process": process}
    if args.phase == "train":
        facts["plain_keras_fit"] = plain_fit_error(keras, strategy)
    reduce_per_element(strategy)
    data = (X, {"probe": Y_PROBE, "fit": Y_FIT}, BATCH)
    return process, data, strategy.scope, facts


def plain_fit_error(keras, strategy):
    """What keras' own fit raises under MultiWorkerMirroredStrategy (keras-team/keras#20585),
    before its first step: it reduces the first batch, a tuple of PerReplica values, with
    `strategy.reduce("MEAN", batch, axis=None)`, which MirroredStrategy maps over the tuple and
    MultiWorkerMirroredStrategy does not."""
    with strategy.scope():
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(keras.optimizers.SGD(0.1), loss="mse")
    try:
        model.fit(np.ones((8, 1), "float32"), np.ones((8, 1), "float32"), batch_size=8, verbose=0)
    except ValueError as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    return None


def reduce_per_element(strategy):
    """Make `strategy.reduce` do what keras 3's TensorFlow trainer expects of it, on this one
    strategy object: reduce a nest element by element (keras reduces the first batch as a tuple,
    see `plain_fit_error`), and a scalar across replicas only (keras reduces each logged metric,
    a scalar, with `axis=0`, which raises "Invalid reduction dimension 0 for input with 0
    dimensions")."""
    import tensorflow as tf

    reduce = type(strategy).reduce

    def reduce_nest(reduce_op, value, axis=None):
        def one(v):
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return reduce(strategy, reduce_op, v, axis=axis if rank else None)

        return tf.nest.map_structure(one, value)

    strategy.reduce = reduce_nest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("train", "resume"))
    parser.add_argument("out", type=pathlib.Path, help="the folder shared by the processes")
    parser.add_argument("--coordinator", help="JAX: host:port of the coordinator (process 0)")
    parser.add_argument("--process-id", type=int, help="JAX: this process' index")
    args = parser.parse_args(argv)
    start = {"jax": start_jax, "tensorflow": start_tensorflow}[os.environ["KERAS_BACKEND"]]
    # First: nothing may touch JAX's or TensorFlow's runtime before the cluster is set up.
    process, data, scope, facts = start(args)

    import keras

    import keras_lrsched as lrs

    keras.config.disable_traceback_filtering()  # a failure shows where, inside keras too
    result = {"facts": facts}
    if args.phase == "train":
        for name, case in CASES.items():
            with scope():
                model = build(keras, case[1])
            configs = []
            extra = [config_reader(keras, configs)] if process == 0 else []
            result[name] = {**fit(keras, lrs, model, case, data, extra), "config_lr": configs}
    with scope():
        model = build(keras, SAVING[1])
    extra = saving_callbacks(keras, args.out, process)
    if args.phase == "train":
        extra.append(interrupt_after(keras, INTERRUPTED_AFTER))
    try:
        result["saving"] = fit(keras, lrs, model, SAVING, data, extra)
    except Interrupted:
        iterations = keras.ops.convert_to_numpy(model.optimizer.iterations)
        result["saving"] = {"interrupted": True, "iterations": int(np.asarray(iterations))}
    path = args.out / f"{args.phase}-{process}.json"
    path.write_text(json.dumps(result))
    print(f"OK {args.phase} process {process}: wrote {path}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
