"""The learning-rate range test: `find_lr` (Smith 2015, "Cyclical Learning Rates for Training
Neural Networks", section 3.3; fastai's ``lr_find``).

Train for a few steps while the lr grows exponentially from `start` to `end`, record the loss of
every step, stop once it diverges, and put the model back exactly as it was.
"""

import math

import keras
import numpy as np

from . import _checks
from .callback import LearningRateScheduler
from .schedules import Constant, ExponentialDecay, Join

SMOOTHING = 0.98
DIVERGE_FACTOR = 4.0


class LRFinderResult:
    """What `find_lr` measured.

    Attributes:
        learning_rates: the lr of each recorded step (NumPy, float64).
        losses: the raw training loss of each of those steps (the loss of that one batch).
        smoothed_losses: an exponential moving average of `losses` with bias correction,
            ``avg_k = 0.98 * avg_{k-1} + 0.02 * loss_k``, ``smoothed_k = avg_k / (1 - 0.98 ** (k+1))``
            (fastai's smoothing).
        suggestion: the lr where the smoothed loss falls fastest: the minimum of
            ``d smoothed_loss / d log10(lr)`` over the recorded steps, leaving out the step that
            diverged. A common choice for a one-cycle ``max_lr`` is this value or up to ~10x it.
            None when fewer than 3 steps were recorded or the loss never falls.
        diverged: True when the test stopped early (loss > 4x the best smoothed loss, or not
            finite).
    """

    def __init__(self, learning_rates, losses, diverged):
        self.learning_rates = np.asarray(learning_rates, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.smoothed_losses = smooth(self.losses)
        self.diverged = bool(diverged)
        self.suggestion = steepest_descent(self.learning_rates, self.smoothed_losses, self.diverged)

    def __repr__(self):
        suggestion = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (
            f"LRFinderResult(steps={len(self.losses)}, lr {self.learning_rates[0]:.3g}.."
            f"{self.learning_rates[-1]:.3g}, diverged={self.diverged}, suggestion={suggestion})"
            if len(self.losses)
            else "LRFinderResult(steps=0)"
        )

    def plot(self, ax=None, skip_start=0, skip_end=0):
        """Smoothed (and raw, faint) loss against lr on a log axis, the suggestion marked.

        The y axis spans the smoothed loss and the raw minimum (raw spikes above are cut off). `skip_start` and
        `skip_end` leave out that many steps at either end. Returns the matplotlib Axes.
        """
        from .plot import pyplot

        plt = pyplot()
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        end = len(self.losses) - skip_end
        lr = self.learning_rates[skip_start:end]
        ax.plot(lr, self.losses[skip_start:end], alpha=0.3, label="loss")
        ax.plot(lr, self.smoothed_losses[skip_start:end], label="smoothed loss")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="red", ls="--", lw=1,
                       label=f"steepest descent {self.suggestion:.2g}")
        smoothed = self.smoothed_losses[skip_start:end]
        finite = smoothed[np.isfinite(smoothed)]
        raw = self.losses[skip_start:end]
        raw = raw[np.isfinite(raw)]
        if finite.size:
            low, high = min(finite.min(), raw.min()), max(finite.max(), finite[0])
            ax.set_ylim(low - 0.1 * (high - low), high + 0.25 * (high - low) + 1e-12)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        return ax


def smooth(losses, beta=SMOOTHING):
    """Bias-corrected exponential moving average (the first value is the first loss)."""
    out = np.empty(len(losses), dtype=np.float64)
    avg = 0.0
    for k, loss in enumerate(losses):
        avg = beta * avg + (1.0 - beta) * loss
        out[k] = avg / (1.0 - beta ** (k + 1))
    return out


def steepest_descent(learning_rates, smoothed, diverged):
    """The lr at the most negative slope of the smoothed loss against log10(lr)."""
    n = len(smoothed) - (1 if diverged else 0)
    if n < 3:
        return None
    lr, loss = learning_rates[:n], smoothed[:n]
    finite = np.isfinite(loss)
    if not finite.all():
        return None
    slope = np.gradient(loss, np.log10(lr))
    k = int(np.argmin(slope))
    return float(lr[k]) if slope[k] < 0 else None


def ramp(start, end, steps):
    """``start * (end / start) ** (k / (steps - 1))`` for k in 0..steps-1: an exact exponential
    ramp from `start` at step 0 to `end` at step ``steps - 1``, as a keras_lrsched schedule."""
    return ExponentialDecay(start, decay_rate=end / start, decay_steps=steps - 1, end=end)


def find_lr(model, x, y=None, *, start=1e-7, end=10.0, steps=100, batch_size=32):
    """The learning-rate range test.

    Trains `model` for up to `steps` batches while the lr grows exponentially from `start` to
    `end` (one lr per step, applied inside the compiled train step by
    ``LearningRateScheduler(update="step")``), records each batch's loss, and stops once the
    smoothed loss exceeds 4x the best smoothed loss so far, or the loss is not finite. Then it puts
    back the model's variables, the optimizer's variables (slots, ``iterations``) and its lr
    exactly: the model is as if the test never ran.

    Args:
        model: a compiled keras model (an optimizer and a loss).
        x, y: training data, as for ``model.fit``: arrays (NumPy, or anything ``np.asarray``
            takes), or a dataset in `x` with ``y=None``. Array batches are full batches drawn in
            a seeded shuffled order, reshuffled each pass over the data; a dataset is read one
            batch per (one-step) epoch, which is slower.
        start: the lr of the first step (> 0).
        end: the lr of the last step (> start).
        steps: how many steps at most (>= 2).
        batch_size: the batch size for arrays (ignored for a dataset, which batches itself).

    Returns:
        An `LRFinderResult` with ``.learning_rates``, ``.losses`` (raw), ``.smoothed_losses``,
        ``.suggestion`` (the steepest descent of the smoothed loss) and ``.plot()``.

    Raises:
        ValueError: for bad arguments, or a model that is not compiled.
    """
    start = _checks.positive("start", start)
    end = _checks.positive("end", end)
    if not end > start:
        raise ValueError(f"Argument `end` must be > start. Received: start={start!r}, end={end!r}")
    steps = _checks.integer("steps", steps, minimum=2)
    batch_size = _checks.integer("batch_size", batch_size, minimum=1)
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ValueError(
            "find_lr needs a compiled model: call model.compile(optimizer=..., loss=...) first"
        )
    if getattr(model, "steps_per_execution", 1) != 1:
        raise ValueError(
            "find_lr needs the loss of every step: compile the model with "
            f"steps_per_execution=1. Received: steps_per_execution={model.steps_per_execution!r}"
        )

    schedule = ramp(start, end, steps)
    # The callback keys the lr on optimizer.iterations; a model trained before starts later.
    first = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    if first:
        schedule = Join([Constant(start), schedule], boundaries=[first])
    scheduler = LearningRateScheduler(schedule, update="step")
    snapshot = _Snapshot()
    history = getattr(model, "history", None)
    if _is_arrays(x) and (y is None or _is_arrays(y)):
        # Keras logs the running mean of the epoch's loss, weighted by batch size. With every
        # batch full, batch k's own loss is k * mean_k - (k - 1) * mean_{k-1}: one epoch, no
        # per-epoch overhead.
        x, y = _Batches(x, y, batch_size, steps), None
        recorder = _Recorder(per_batch=True)
        fit_args = {"epochs": 1}
    else:
        # A dataset batches itself: one batch per epoch, whose logged mean is that batch's loss.
        recorder = _Recorder(per_batch=False)
        fit_args = {"epochs": steps, "steps_per_epoch": 1}
    try:
        model.fit(x, y, verbose=0, callbacks=[snapshot, scheduler, recorder], **fit_args)
    finally:
        scheduler.restore()  # already done by a fit that ended normally
        if snapshot.state is not None:
            _restore(model, snapshot.state)
        model.history = history
    n = len(recorder.losses)
    return LRFinderResult(_applied(scheduler, n), recorder.losses, recorder.diverged)


def _is_arrays(x):
    if isinstance(x, (list, tuple)):
        return all(_is_arrays(item) for item in x)
    if isinstance(x, dict):
        return all(_is_arrays(item) for item in x.values())
    return hasattr(x, "__array__") or hasattr(x, "shape")


def _applied(scheduler, n):
    """The lr of the `n` recorded steps, as the callback applied them."""
    return np.asarray(scheduler.learning_rates, dtype=np.float64)[:n]


class _Batches(keras.utils.PyDataset):
    """`steps` full batches of the arrays, in a seeded shuffled order, reshuffled each pass.

    The few samples that would make a partial batch are left out of each pass.
    """

    def __init__(self, x, y, batch_size, steps, seed=0):
        super().__init__()
        self.x, self.y = keras.tree.map_structure(np.asarray, (x, y))
        n = len(keras.tree.flatten(self.x)[0])
        batch_size = min(batch_size, n)
        per_pass = n // batch_size
        rng = np.random.default_rng(seed)
        passes = [rng.permutation(n)[: per_pass * batch_size] for _ in range(-(-steps // per_pass))]
        self.order = np.concatenate(passes).reshape(-1, batch_size)[:steps]

    def __len__(self):
        return len(self.order)

    def __getitem__(self, i):
        idx = self.order[i]
        x = keras.tree.map_structure(lambda a: a[idx], self.x)
        if self.y is None:
            return (x,)
        return x, keras.tree.map_structure(lambda a: a[idx], self.y)


class _Recorder(keras.callbacks.Callback):
    """The loss of every step; stops training once the smoothed loss diverges."""

    def __init__(self, per_batch):
        super().__init__()
        self.per_batch = per_batch
        self.losses = []
        self.best = math.inf
        self.diverged = False
        self._avg = 0.0
        self._mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        if self.per_batch:
            mean = _loss(logs)
            k = len(self.losses) + 1
            self._add(k * mean - (k - 1) * self._mean if k > 1 else mean)
            self._mean = mean

    def on_epoch_end(self, epoch, logs=None):
        if not self.per_batch:
            self._add(_loss(logs))

    def _add(self, loss):
        self.losses.append(loss)
        self._avg = SMOOTHING * self._avg + (1 - SMOOTHING) * loss
        smoothed = self._avg / (1 - SMOOTHING ** len(self.losses))
        if not math.isfinite(smoothed) or (self.best > 0 and smoothed > DIVERGE_FACTOR * self.best):
            self.diverged = True
            self.model.stop_training = True
        self.best = min(self.best, smoothed)


def _loss(logs):
    value = (logs or {}).get("loss")
    return math.nan if value is None else float(value)


class _Snapshot(keras.callbacks.Callback):
    """The state to put back, taken when fit starts (fit has built the model and optimizer)."""

    def __init__(self):
        super().__init__()
        self.state = None

    def on_train_begin(self, logs=None):
        # Before the scheduler's on_train_begin, so its temporary variables are not included.
        model = self.model
        self.state = [(v, _value(v)) for v in model.variables + model.optimizer.variables]


def _value(variable):
    return np.array(keras.ops.convert_to_numpy(variable.value))


def _restore(model, state):
    for variable, value in state:
        variable.assign(value)
    model.stop_training = False
