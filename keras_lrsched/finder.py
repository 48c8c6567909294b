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
# The suggestion leaves out the first SKIP_FRACTION of the recorded steps, and at least SKIP_MIN.
SKIP_FRACTION = 0.1
SKIP_MIN = 5
# The fall it looks at runs from the last point at least 80% of the depth above the floor to the
# first point at most 20% of the depth above it (see `suggest_lr`).
FALL_TOP = 0.8
FALL_BOTTOM = 0.2


class LRFinderResult:
    """What `find_lr` measured.

    Attributes:
        learning_rates: the lr of each recorded step (NumPy, float64).
        losses: the raw training loss of each of those steps (the loss of that one batch).
        smoothed_losses: an exponential moving average of `losses` with bias correction,
            ``avg_k = 0.98 * avg_{k-1} + 0.02 * loss_k``, ``smoothed_k = avg_k / (1 - 0.98 ** (k+1))``
            (fastai's smoothing).
        suggestion: the lr in the middle of the smoothed loss's main fall, as `suggest_lr`
            finds it with its defaults (the rule is there): one of `learning_rates`, or None when
            too few steps were recorded or the loss never falls. Use it as the lr, or as
            `OneCycle`'s ``peak``.
        diverged: True when the test stopped early (loss > 4x the best smoothed loss, or not
            finite).
    """

    def __init__(self, learning_rates, losses, diverged):
        self.learning_rates = np.asarray(learning_rates, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.smoothed_losses = smooth(self.losses)
        self.diverged = bool(diverged)
        self.suggestion = suggest_lr(self.learning_rates, self.smoothed_losses)

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
                       label=f"suggestion {self.suggestion:.2g}")
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


def suggest_lr(learning_rates, smoothed, *, skip_fraction=SKIP_FRACTION, skip_min=SKIP_MIN):
    """The suggested lr: the middle of the main fall of the smoothed loss.

    With ``s_0 .. s_{n-1}`` the smoothed losses of the ``n`` recorded steps:

    1. **Skip the start.** The first ``max(skip_min, ceil(skip_fraction * n))`` points are left
       out. The bias-corrected average of the first ``k`` losses is about their plain mean, so
       each new batch moves it by about ``1/k`` of that batch's deviation: the early slope is
       batch noise, not the effect of the lr.
    2. **Cut at divergence.** From the first point where ``s_k`` is not finite or exceeds
       ``DIVERGE_FACTOR`` (4) times ``min(s_0 .. s_{k-1})``, everything is left out: the point
       where `find_lr` stops, applied to any curve.
    3. **Find the floor.** ``m`` is the first index of the smallest ``s`` among the points kept.
       Nothing after it is searched: past the floor the loss rises, and the wiggles of a loss
       that has blown up can be steep without being a descent.
    4. **Find the fall.** With ``peak`` the largest ``s`` among the kept points up to ``m`` and
       ``depth = peak - s_m``: ``a`` is the last index up to ``m`` where ``s_a >= s_m + 0.8 *
       depth`` (``FALL_TOP``; the fall is under way after it), and ``b`` the first index after
       ``a`` where ``s_b <= s_m + 0.2 * depth`` (``FALL_BOTTOM``; most of the fall is done).
    5. The suggestion is ``learning_rates[(a + b) // 2]``: for `find_lr`'s exponential ramp,
       the middle in log lr of the fall from 80% to 20% of the depth. For a fall symmetric in
       log lr that is where the slope is steepest; set by two level crossings rather than by a
       derivative, it is not moved far by a one- or two-step dip of the noise, and it stays
       inside the long descending valley.

    The result depends on the recorded values only (no randomness, ties go to the first index).

    Args:
        learning_rates: the lr of each point, increasing.
        smoothed: the smoothed loss of each point (see `smooth`).
        skip_fraction: the fraction of the points to skip at the start, in [0, 1).
        skip_min: the fewest points to skip at the start, an integer >= 0.

    Returns:
        One of `learning_rates` as a Python float, or None when fewer than 3 points are left
        after steps 1 and 2, or when the loss never falls below its first kept value.

    Raises:
        ValueError: for a bad `skip_fraction` or `skip_min`, or arrays of different lengths.

    >>> lr = np.logspace(-6, 1, 71)
    >>> loss = 2.0 - np.tanh(2 * (np.log10(lr) + 3))  # falls from 3 to 1, fastest at lr = 1e-3
    >>> f"{suggest_lr(lr, loss):.3g}"
    '0.001'
    """
    skip_fraction = _checks.real("skip_fraction", skip_fraction)
    if not 0.0 <= skip_fraction < 1.0:
        raise ValueError(
            f"Argument `skip_fraction` must be in [0, 1). Received: skip_fraction={skip_fraction!r}"
        )
    skip_min = _checks.integer("skip_min", skip_min, minimum=0)
    learning_rates = np.asarray(learning_rates, dtype=np.float64)
    smoothed = np.asarray(smoothed, dtype=np.float64)
    n = len(smoothed)
    if len(learning_rates) != n:
        raise ValueError(
            "Arguments `learning_rates` and `smoothed` must have the same length. Received: "
            f"{len(learning_rates)} learning rates and {n} losses"
        )
    first = max(skip_min, math.ceil(skip_fraction * n))
    stop = _divergence(smoothed)
    if stop - first < 3:
        return None
    s = smoothed[first:stop]
    m = int(np.argmin(s))
    depth = float(np.max(s[: m + 1])) - s[m]
    if not depth > 0:
        return None
    a = int(np.flatnonzero(s[: m + 1] >= s[m] + FALL_TOP * depth)[-1])
    b = a + int(np.flatnonzero(s[a : m + 1] <= s[m] + FALL_BOTTOM * depth)[0])
    return float(learning_rates[first + (a + b) // 2])


def _divergence(smoothed):
    """The index of the first point that counts as diverged, or the length: where `find_lr`
    stops."""
    best = math.inf
    for k, value in enumerate(smoothed):
        if _diverges(value, best):
            return k
        best = min(best, value)
    return len(smoothed)


def _diverges(smoothed, best):
    """Whether a smoothed loss counts as diverged, `best` being the smallest one before it."""
    return not math.isfinite(smoothed) or (best > 0 and smoothed > DIVERGE_FACTOR * best)


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
        ``.suggestion`` (the middle of the smoothed loss's main fall, see `suggest_lr`) and
        ``.plot()``.

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
        # The snapshot also goes in before restore(), which reads the optimizer's step count: a
        # JAX fit whose data raises inside an epoch's first step has lost every variable
        # (keras' trainer held none of its state yet; keras-nightly 3.16 reads a PyDataset
        # ahead, so its error comes there), and after it, which puts back the lr it sets.
        if snapshot.state is not None:
            _restore(model, snapshot.state)
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
        if _diverges(smoothed, self.best):
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
