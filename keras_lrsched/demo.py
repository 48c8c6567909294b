"""The demo: a small Keras model on scikit-learn's digits, driven by a keras_lrsched schedule.

Runs under the backend in ``KERAS_BACKEND``; needs the ``demo`` extra (scikit-learn, matplotlib).
The digits (1797 8x8 images, 10 classes) ship inside scikit-learn, so nothing is downloaded.
``keras-lrsched demo`` calls `run`.
"""

import math
import time

import numpy as np

DEFAULT_OUTPUT = "keras_lrsched_demo.png"
MAX_LR = 0.2


def load_digits_split(seed=0, validation=0.2):
    """``(x_train, y_train, x_val, y_val)``: the digits scaled to [0, 1], split at random."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "The demo needs scikit-learn, which is not installed. Install it with: "
            "pip install \"keras_lrsched[demo]\""
        ) from None
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(validation * len(x)))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def build_model():
    import keras

    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def default_schedule(update, epochs, steps_per_epoch):
    """A one-cycle over the whole run: per step (``update="step"``) or per epoch."""
    from .schedules import OneCycle

    total = max(epochs * steps_per_epoch if update == "step" else epochs, 2)
    # A quarter of the run rising, or more in a run so short that a quarter holds no step
    # (OneCycle refuses a phase without steps, as torch's would divide by zero there).
    return OneCycle(MAX_LR, steps=total, pct_start=max(0.25, 1.5 / total))


def run(
    schedule=None,
    update="step",
    epochs=15,
    batch_size=32,
    output=DEFAULT_OUTPUT,
    seed=0,
    print_fn=print,
    cycle_momentum=False,
):
    """Train on the digits with `schedule`; print the lr and metrics per epoch; save a PNG.

    Args:
        schedule: anything ``LearningRateScheduler`` accepts, or a spec string (``lrs.get``).
            It is indexed by the 0-based epoch when ``update="epoch"`` and by the step (the
            optimizer's update count) when ``update="step"``. Default: a one-cycle up to
            ``MAX_LR`` over the whole run.
        update: ``"step"`` or ``"epoch"``.
        epochs: how many epochs.
        batch_size: the batch size (the training split holds 1438 images).
        output: the PNG to write (lr and loss against epoch), or None for no picture.
        seed: seeds the split, the initial weights and the shuffling.
        print_fn: where the lines go.
        cycle_momentum: cycle SGD's momentum against the lr, as torch's ``OneCycleLR`` and
            ``CyclicLR`` do by default and fastai's ``fit_one_cycle`` does: the schedule's
            ``cycle_momentum()`` (0.95 -> 0.85 -> 0.95 for a one-cycle). Needs a ``OneCycle``
            or ``Cyclic`` schedule.

    Returns:
        A dict with ``history`` (keras History), ``callback``, ``val_accuracy`` (final),
        ``seconds`` (the time in ``fit``) and ``output``.
    """
    import keras

    from . import _checks
    from .callback import LearningRateScheduler
    from .spec import get

    update = _checks.choice("update", update, ("epoch", "step"))
    epochs = _checks.integer("epochs", epochs, minimum=1)
    batch_size = _checks.integer("batch_size", batch_size, minimum=1)
    x_train, y_train, x_val, y_val = load_digits_split(seed)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    if schedule is None:
        schedule = default_schedule(update, epochs, steps_per_epoch)
    elif isinstance(schedule, str):
        schedule = get(schedule)
    momentum = None
    if _checks.boolean("cycle_momentum", cycle_momentum):
        if not hasattr(schedule, "cycle_momentum"):
            raise ValueError(
                "Argument `cycle_momentum` needs a OneCycle or Cyclic schedule, whose momentum "
                f"moves against its lr. Received: schedule={schedule!r}"
            )
        momentum = schedule.cycle_momentum()
    scheduler = LearningRateScheduler(schedule, update=update, momentum=momentum)

    keras.utils.set_random_seed(seed)
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=MAX_LR, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    print_fn(
        f"keras_lrsched demo: digits {len(x_train)} train / {len(x_val)} validation, backend "
        f"{keras.backend.backend()}, update={update}, {epochs} epochs x {steps_per_epoch} steps"
    )
    print_fn(f"schedule: {schedule!r}")
    if momentum is not None:
        print_fn(f"momentum: {momentum!r}")

    def show(epoch, logs):
        lr = f"lr {logs['learning_rate']:.5f}"
        if update == "step":
            applied = np.asarray(scheduler.learning_rates)[-steps_per_epoch:]
            lr = f"lr {applied[0]:.5f} -> {applied[-1]:.5f}"
        if momentum is not None:
            lr += f"  momentum {logs['momentum']:.3f}"
        print_fn(
            f"epoch {epoch + 1:3d}/{epochs}  {lr}  loss {logs['loss']:.4f}  "
            f"accuracy {logs['accuracy']:.4f}  val_loss {logs['val_loss']:.4f}  "
            f"val_accuracy {logs['val_accuracy']:.4f}"
        )

    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=[scheduler, keras.callbacks.LambdaCallback(on_epoch_end=show)],
    )
    seconds = time.perf_counter() - start
    val_accuracy = float(history.history["val_accuracy"][-1])
    print_fn(f"final val_accuracy {val_accuracy:.4f} after {epochs} epochs in {seconds:.1f} s")
    if output:
        title = (
            f"keras_lrsched demo: digits, backend {keras.backend.backend()}, update={update}, "
            f"final val_accuracy {val_accuracy:.3f}"
        )
        save_figure(history, scheduler, update, steps_per_epoch, output, title, momentum)
        print_fn(f"wrote {output}")
    return {
        "history": history,
        "callback": scheduler,
        "val_accuracy": val_accuracy,
        "seconds": seconds,
        "output": output,
    }


def save_figure(history, scheduler, update, steps_per_epoch, output, title, momentum=None):
    """Two panels against the epoch: the lr (every step in step mode), with the momentum on a
    second axis when it is scheduled, and the losses."""
    from .plot import pyplot

    plt = pyplot()
    fig, (lr_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    epochs = np.asarray(history.epoch)
    if update == "step":
        lrs = np.asarray(scheduler.learning_rates)
        lr_ax.plot(np.arange(len(lrs)) / steps_per_epoch, lrs)
        lr_ax.set_title("the lr of every step", fontsize=9)
    else:
        lr = history.history["learning_rate"]
        lr_ax.step(np.append(epochs, epochs[-1] + 1), np.append(lr, lr[-1]), where="post")
        lr_ax.set_title("the lr of each epoch", fontsize=9)
    lr_ax.set_xlabel("epoch")
    lr_ax.set_ylabel("learning rate")
    if momentum is not None:
        mom_ax = lr_ax.twinx()
        if update == "step":
            n = len(scheduler.learning_rates)
            mom_ax.plot(np.arange(n) / steps_per_epoch, momentum.table(n), "C1--")
        else:
            mom = history.history["momentum"]
            mom_ax.step(np.append(epochs, epochs[-1] + 1), np.append(mom, mom[-1]), "C1--",
                        where="post")
        mom_ax.set_ylabel("momentum (dashed)")
        lr_ax.set_title(lr_ax.get_title() + ", and the momentum", fontsize=9)
    # An epoch's mean training loss belongs to the middle of the epoch; val_loss to its end.
    loss_ax.plot(epochs + 0.5, history.history["loss"], label="loss")
    loss_ax.plot(epochs + 1, history.history["val_loss"], label="val_loss")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(fontsize=8)
    for ax in (lr_ax, loss_ax):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.savefig(output, dpi=110)
    plt.close(fig)
