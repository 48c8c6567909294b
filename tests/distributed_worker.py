"""Scale-out scenarios for tests/test_distributed.py, each run in a fresh process.

    python tests/distributed_worker.py jax-data-parallel   # KERAS_BACKEND=jax, 2 host devices
    python tests/distributed_worker.py tf-mirrored         # KERAS_BACKEND=tensorflow, 2 CPUs
    python tests/distributed_worker.py torch-wrapped       # KERAS_BACKEND=torch

Each scenario compares a distributed (or wrapped) fit driven by `LearningRateScheduler` with the
same fit on one device, asserts, and prints one line "OK <scenario>: <summary>" at the end. Any
failure is a traceback and a non-zero exit status. The parent sets the environment (backend, XLA
flags) before Python starts, which is why this is a separate process.
"""

import os
import sys

import numpy as np

BATCH = 8  # global batch: 4 per replica on 2 replicas
RNG = np.random.default_rng(11)
X = RNG.normal(size=(2 * BATCH, 3)).astype("float32")
Y = (X @ np.float32([[0.5], [-1.0], [2.0]]) + 0.1).astype("float32")
EPOCHS = 3
N_STEPS = EPOCHS * len(X) // BATCH


def build(keras, lr=0.1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), loss="mse")
    return model


def schedules(lrs):
    """The sources that take different paths in step mode: a window lookup (a keras_lrsched
    schedule's kernel values, a table), a keras closed form computed in the step."""
    import keras

    return {
        "keras_lrsched": lambda: lrs.Warmup(
            lrs.Cosine(0.2, steps=N_STEPS, end=0.01), warmup_steps=2
        ),
        "table": lambda: lrs.Table(np.linspace(0.2, 0.02, N_STEPS)),
        "keras-closed-form": lambda: keras.optimizers.schedules.CosineDecay(
            0.2, N_STEPS, alpha=0.05
        ),
        "f(epoch, lr)": lambda: (lambda epoch, lr: lr * 0.5),
    }


def cases(lrs):
    """Step mode with each device path (the window variable, which keras_lrsched schedules,
    tables and precomputed functions share, written with the plateau scale folded in; a
    closed form in the step times the plateau scale variable); epoch mode with keras'
    f(epoch, lr) (an assign)."""
    make = schedules(lrs)
    return [
        ("step", "keras_lrsched", make["keras_lrsched"]),
        ("step", "table+plateau", make["table"]),
        ("step", "keras-closed-form+plateau", make["keras-closed-form"]),
        ("epoch", "f(epoch, lr)", make["f(epoch, lr)"]),
        ("step", "keras_lrsched+hyper", make["keras_lrsched"]),
        ("epoch", "f(epoch, lr)+hyper", make["f(epoch, lr)"]),
    ]


def hyper_arguments(lrs):
    """A scheduled momentum and weight decay, and two lr multipliers: their variables are made
    in the strategy's scope, and assigned in the step (step mode) or per epoch. The decay of
    each group reads the lr scaled by its factor, in every replica at once."""
    return {
        "momentum": lrs.Linear(0.95, end=0.5, steps=N_STEPS),
        "weight_decay": lrs.Linear(0.1, end=0.5, steps=N_STEPS),
        "lr_multipliers": {"kernel": 0.25, "bias": 0.5},
    }


# A scripted metric for the plateau, the same on every engine: no improvement after epoch 0, so
# the scale is 1, 1, 0.5 over the three epochs (patience 0: a drop at the end of epoch 1).
SCORES = [1.0, 1.0, 1.0]
SCALES = [1.0, 1.0, 0.5]


def scripted_score(keras):
    class Score(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = SCORES[epoch]

    return Score()


def fit(keras, lrs, model, schedule, update, name=""):
    plateau = None
    callbacks = []
    if "plateau" in name:
        plateau = lrs.Plateau(monitor="score", factor=0.5, patience=0, mode="min")
        callbacks.append(scripted_score(keras))  # before the scheduler: it reads the logs
    extra = hyper_arguments(lrs) if name.endswith("+hyper") else {}
    cb = lrs.LearningRateScheduler(schedule, update=update, plateau=plateau, **extra)
    history = model.fit(
        X, Y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
        callbacks=[*callbacks, cb],
    )
    return {
        "weights": [np.asarray(w) for w in model.get_weights()],
        "history_lr": list(history.history["learning_rate"]),
        "applied": np.asarray(cb.learning_rates),
        "iterations": int(np.asarray(keras.ops.convert_to_numpy(model.optimizer.iterations))),
        "lr_after": float(np.asarray(keras.ops.convert_to_numpy(model.optimizer.learning_rate))),
    }


def expected_applied(keras, lrs, update, name):
    """The lr of each update, computed independently of the callback."""
    steps_per_epoch = len(X) // BATCH
    if update == "epoch":  # f(epoch, lr) = lr / 2 from the optimizer's 0.1, held for an epoch
        per_epoch = [np.float32(0.1)]
        for _ in range(EPOCHS):
            per_epoch.append(np.float32(per_epoch[-1] * 0.5))
        return np.repeat(np.float32(per_epoch[1:]), steps_per_epoch)
    if name == "f(epoch, lr)":
        out = [np.float32(0.1)]
        for _ in range(N_STEPS):
            out.append(np.float32(out[-1] * 0.5))
        return np.float32(out[1:])
    base, _, plateau = name.partition("+")
    plateau = plateau == "plateau"
    schedule = schedules(lrs)[base]()
    values = np.float32(keras.ops.convert_to_numpy(schedule(np.arange(N_STEPS))))
    if plateau:
        values = values * np.repeat(np.float32(SCALES), steps_per_epoch)
    return values


def assert_same_run(got, want, what):
    """Same lr trajectory exactly; weights equal up to the order of the gradient reduction."""
    assert got["iterations"] == want["iterations"] == N_STEPS, (what, got["iterations"])
    np.testing.assert_array_equal(got["applied"], want["applied"], err_msg=what)
    np.testing.assert_allclose(got["history_lr"], want["history_lr"], rtol=1e-7, err_msg=what)
    assert got["lr_after"] == want["lr_after"], (what, got["lr_after"], want["lr_after"])
    for a, b in zip(got["weights"], want["weights"]):
        assert np.all(np.isfinite(a)), what
        # Summing per-replica gradients reorders float32 additions; a lr one step off moves
        # these weights by 1e-3 or more.
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=what)


def jax_data_parallel():
    import jax
    import keras

    import keras_lrsched as lrs

    devices = jax.devices()
    assert len(devices) == 2, f"expected 2 host devices from XLA_FLAGS, got {devices}"
    checked = []
    for update, name, make in cases(lrs):
        keras.distribution.set_distribution(None)
        single = fit(keras, lrs, build(keras), make(), update, name)
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        model = build(keras)
        kernel = model.layers[0].kernel.value
        assert len(kernel.sharding.device_set) == 2, kernel.sharding  # replicated on both
        parallel = fit(keras, lrs, model, make(), update, name)
        np.testing.assert_allclose(
            single["applied"], expected_applied(keras, lrs, update, name), rtol=1e-6
        )
        assert_same_run(parallel, single, f"{update}/{name}")
        checked.append(f"{update}/{name}")
    keras.distribution.set_distribution(None)
    print(f"OK jax-data-parallel: {len(devices)} devices; " + ", ".join(checked))


def tf_mirrored():
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras

    import keras_lrsched as lrs

    logical = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(logical) == 2, logical
    strategy = tf.distribute.MirroredStrategy(logical)
    assert strategy.num_replicas_in_sync == 2
    checked = []
    for update, name, make in cases(lrs):
        single = fit(keras, lrs, build(keras), make(), update, name)
        with strategy.scope():
            model = build(keras)
        assert model.distribute_strategy is strategy
        parallel = fit(keras, lrs, model, make(), update, name)
        np.testing.assert_allclose(
            single["applied"], expected_applied(keras, lrs, update, name), rtol=1e-6
        )
        assert_same_run(parallel, single, f"{update}/{name}")
        checked.append(f"{update}/{name}")
    print(f"OK tf-mirrored: {strategy.num_replicas_in_sync} replicas; " + ", ".join(checked))


def torch_wrapped():
    import torch
    import keras

    import keras_lrsched as lrs

    def wrapped(lr=0.1, opt_lr=None):
        # Keras' way to train a torch module: wrap it as a layer, train with fit (one device).
        torch.manual_seed(0)
        module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
        inputs = keras.Input((3,))
        outputs = keras.layers.TorchModuleWrapper(module, output_shape=(None, 1))(inputs)
        model = keras.Model(inputs, outputs)
        rate = lr if opt_lr is None else opt_lr
        model.compile(keras.optimizers.SGD(rate, momentum=0.9), loss="mse")
        return model, module

    checked = []
    # Step mode: as if the optimizer owned the schedule.
    for name, make in schedules(lrs).items():
        if name == "f(epoch, lr)":
            continue  # a recurrence has no in-optimizer twin; epoch mode covers it below
        model, module = wrapped()
        before = [p.detach().clone() for p in module.parameters()]
        got = fit(keras, lrs, model, make(), "step")
        twin, _ = wrapped(opt_lr=make())
        twin.fit(X, Y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
        for a, b in zip(got["weights"], twin.get_weights()):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-6, atol=1e-7, err_msg=name)
        # the torch module itself was trained (its parameters are what the optimizer updated)
        assert any(not torch.equal(p, q) for p, q in zip(module.parameters(), before))
        assert "_get_current_learning_rate" not in vars(model.optimizer)
        checked.append(f"step/{name}")
    # Epoch mode: a drop-in for keras' own callback.
    epoch_fns = {"f(epoch)": lambda e: 0.1 / (1 + e), "f(epoch, lr)": lambda e, lr: lr * 0.5}
    for name, fn in epoch_fns.items():
        model, _ = wrapped()
        got = fit(keras, lrs, model, fn, "epoch")
        twin, _ = wrapped()
        keras_history = twin.fit(
            X, Y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
            callbacks=[keras.callbacks.LearningRateScheduler(fn)],
        )
        assert got["history_lr"] == keras_history.history["learning_rate"], name
        for a, b in zip(got["weights"], twin.get_weights()):
            np.testing.assert_array_equal(a, np.asarray(b), err_msg=name)
        checked.append(f"epoch/{name}")
    print("OK torch-wrapped: TorchModuleWrapper on one device; " + ", ".join(checked))


SCENARIOS = {
    "jax-data-parallel": ("jax", jax_data_parallel),
    "tf-mirrored": ("tensorflow", tf_mirrored),
    "torch-wrapped": ("torch", torch_wrapped),
}

if __name__ == "__main__":
    backend, run = SCENARIOS[sys.argv[1]]
    assert os.environ.get("KERAS_BACKEND") == backend, "the parent sets KERAS_BACKEND"
    run()
