"""`LearningRateScheduler`: the one callback of keras_lrsched, per epoch or per step.

How it hooks into Keras 3 (the public surface offers no way to compute the lr inside the step):

* step mode, and epoch mode on an optimizer that owns a schedule, set an instance attribute
  ``optimizer._get_current_learning_rate`` for the duration of fit. The ``learning_rate``
  property, and every update, read through it; the optimizer's ``_learning_rate`` (its float
  variable or its schedule), and so its config, stay untouched;
* the variables it needs in the step come from ``optimizer.add_variable`` and leave through
  ``optimizer._untrack_variable`` at the end of fit. While they exist, and throughout a
  step-mode fit, instance attributes ``save_own_variables``/``load_own_variables`` save and
  load the optimizer's other variables exactly as keras does, so files stay interchangeable
  with models that never saw the callback; in step mode they, and an instance ``get_config``,
  first write the lr of the latest update into the optimizer's own lr variable;
* the state that must survive a restart is a ``KerasSaveable`` attribute of the optimizer,
  attached in ``set_model`` (before any callback's ``on_train_begin``, so ``BackupAndRestore``
  loads into it wherever it stands in the list).
"""

import math
import warnings

import keras
import numpy as np
from keras import ops

from . import _checks
from .plateau import Plateau
from .schedules import Schedule
from .schedules.compose import mapped_over_steps
from .table import Table, _check_values, _positional_arity, precompute

try:  # keras' own printer (absl logging when interactive logging is off), as its callback uses
    from keras.src.utils.io_utils import print_msg as _print_msg
except ImportError:  # pragma: no cover - a keras without the private module

    def _print_msg(message):
        print(message)


try:
    from keras.src.saving.keras_saveable import KerasSaveable as _Saveable
except ImportError:  # pragma: no cover - then the state is simply not saved with the weights
    _Saveable = object

_LRSchedule = keras.optimizers.schedules.LearningRateSchedule
_BASE_SAVE = keras.optimizers.Optimizer.save_own_variables
_UPDATES = ("epoch", "step")
_MAX_WINDOW = 1 << 16
_STATE_ATTR = "_keras_lrsched_state"
_INSTALL_ATTR = "_keras_lrsched_install"
_EXPLAIN_LIMIT = 1_000_000
_CHECK_CHUNK = 1 << 20
_CHECK_AHEAD_MAX = 1 << 24  # a closed form is checked this far ahead before training
_PRECOMPUTE_MAX = 1 << 26  # a function's host table for the whole run: at most 256 MB
_PYTHON_LOOP_MAX = 1 << 14  # below this a Python loop beats Numba's compile time
_HOST_BLOCK = 1 << 12  # a foreign schedule is evaluated on the host this many steps at a time
_EPOCH_PLAN_MAX = 1 << 16  # epoch mode: a kernel schedule's epochs computed at the first one


class LearningRateScheduler(keras.callbacks.Callback):
    """Set the learning rate per epoch (a drop-in for keras' callback) or per optimizer step.

    ``LearningRateScheduler(schedule, verbose=0, *, update="epoch", plateau=None, window=None)``

    Args:
        schedule: one of
            * a keras_lrsched schedule or any keras ``LearningRateSchedule``;
            * a function ``schedule(index, lr) -> new lr`` or ``schedule(index) -> lr``, as for
              keras' own callback (``lr``: the current learning rate, a Python float);
            * a ``Table`` or a 1-D array of learning rates (the last value holds past the end).
            The index is the 0-based epoch in epoch mode, and in step mode the global step: the
            number of optimizer updates already applied (``optimizer.iterations``; under
            gradient accumulation, the update count).
        verbose: 0 quiet, 1 prints keras' message once per epoch ("Epoch 3:
            LearningRateScheduler setting learning rate to 0.01.").
        update: "epoch" (default) or "step".
        plateau: an optional ``Plateau``: the lr applied is ``schedule(index) * scale``, the scale
            dropping when ``plateau.monitor`` stops improving, with the decisions of keras'
            ``ReduceLROnPlateau`` (see ``Plateau``).
        window: step mode with anything but a foreign closed form: how many steps of lr live
            on the device at a time (plus one, the next update's). Default: the steps of one
            epoch, at most 65536 (256 KB).

    **Epoch mode** is ``keras.callbacks.LearningRateScheduler``: at each epoch begin the lr is
    set to the schedule's value for the epoch (a function gets ``(epoch, current lr)``, or
    ``(epoch)``), and at each epoch end ``logs["learning_rate"]`` is the optimizer's lr; with
    ``optimizer.optimizers`` (keras ``MultiOptimizer``) each optimizer is driven and logged as
    ``logs["learning_rate_<name>"]``, as keras does. Swap the import and History, verbose output
    and weights stay the same. Unlike keras' callback this one also drives an optimizer built
    with a ``LearningRateSchedule`` (keras' raises TypeError: "not settable"). A keras_lrsched
    schedule is evaluated by its Numba kernel in float64, for every epoch of the fit (up to
    65536) in one call at its first epoch, each value checked when its epoch begins; the lr
    set, and printed, is that float64 value, as with a Python function. Any other keras
    schedule is called with the epoch.

    **Step mode** computes the lr inside the compiled train step, so it is applied at every
    update on every backend with no per-batch host work. JAX's trainer keeps the variables in a
    local state during an epoch (an lr assigned from a batch hook is lost there), TensorFlow
    traces the step into a graph, Torch runs it eagerly; in all three, for the duration of
    ``fit``, each optimizer's learning rate becomes, inside the step:

    * for a keras_lrsched schedule, a ``Table``, an array or a function,
      ``window[clip(iterations - window_start)]``: a lookup into a float32 variable holding
      the lr (times the plateau scale) of the next ``window`` steps and the one after, written
      on the host at each epoch begin (and, for epochs longer than the window or of unknown
      length, again from a batch hook when the step nears its end: one state sync per
      ``window`` steps under JAX). The table is never a constant of the graph and device
      memory does not grow with the run: a 1e9-step run keeps 256 KB on the device; or
    * for any other keras ``LearningRateSchedule``, the schedule called with
      ``optimizer.iterations``, exactly as if the optimizer owned it (times the plateau scale,
      a float32 variable, when there is a ``plateau``).

    Why a keras_lrsched schedule is looked up rather than computed in the step: its window is
    filled by its Numba kernel (float64, rounded once to float32), so the lr of every update is
    the same float32 on JAX, TensorFlow and Torch, on CPU or GPU (a foreign keras schedule
    inside a ``Warmup`` or ``Join`` is evaluated by the backend's keras.ops on the host), is
    what ``learning_rates`` reports, and is ``schedule.table()``'s value (a few kernels split
    long tables in chunks counted from their first step, which can move a float64 last bit
    and, rarely, a float32 one); a closed form computed in float32
    by each backend differs from one backend to another, and from a scalar to a vector
    evaluation, by an ulp or more (2.6e-6 relative, measured near the end of a cosine). And the
    step pays one gather whatever the schedule: a ``Warmup(CosineRestarts)`` computed eagerly
    in every torch step cost 0.7-0.9 ms on a CPU core, its lookup 7-15 us (``bench/``).

    A function is computed on the host for every step of the run (``epochs * steps`` from fit's
    params; a Numba-compiled ``precompute`` past 16384 steps, a plain loop below that, where
    compiling costs more than it saves). When fit does not know its steps per epoch (a
    generator), or the run is longer than 2**26 steps (256 MB of float32 on the host), it is
    computed, and checked, a window ahead as the run goes instead.

    The window, its start step and a scale are variables of the optimizer during ``fit``
    (the JAX trainer passes only those into the step) and are kept out of what it saves. The
    train function is rebuilt when ``fit`` begins and again after it ends: each fit compiles
    the step once, and nothing is retraced when the window or the scale changes.

    **Saving.** The optimizer's config is never touched: a ``.keras`` file written during
    ``fit`` (``ModelCheckpoint``) holds the optimizer's own float lr, equal to the last lr
    applied (in step mode it is written when the optimizer is saved or its config is read, not
    at every epoch, unless the optimizer saves its variables its own way), or its own schedule. It holds no table, its weights hold the optimizer's usual
    variables and nothing run-length, and it loads without ``custom_objects`` (and without
    keras_lrsched when the optimizer had a float lr). The callback's state (plateau scale,
    best, wait and cooldown; the last value a recurrence returned) is a small extra group next
    to the optimizer's variables: keras loaders that do not know it skip it, and
    ``BackupAndRestore`` restores it. Put ``BackupAndRestore`` after this callback in the list
    when there is a plateau, so that its epoch-end backup holds that epoch's plateau step.

    **After fit** the optimizer is as it was: with its own schedule if it had one, or with a
    settable float lr equal to the last lr applied. If ``fit`` raised, call ``restore()`` (the
    next ``fit`` with this callback does it too). Use one LearningRateScheduler per fit.

    **Resume.** Everything derives from ``optimizer.iterations`` (step mode) or the epoch index
    (epoch mode), so ``fit(initial_epoch=...)`` on the same model and ``BackupAndRestore`` into a
    new one continue the uninterrupted trajectory. A recurrence ``f(index, lr)`` continues from
    the optimizer's current lr, as with keras' callback. The plateau state starts afresh when
    ``fit`` begins at ``optimizer.iterations == 0``, and carries on otherwise.

    **Mixed precision.** A ``LossScaleOptimizer`` (``mixed_float16``) is driven through its
    inner optimizer; updates it skips for overflowing gradients do not advance the step.

    **Read-outs.** ``learning_rates``: the lr applied at each update of the latest ``fit`` (of
    the first optimizer), worked out on the host from the schedule when read, with no device
    read per step: the very values the window held (for a foreign closed form computed in the
    step, keras.ops on the host: within an ulp of the step's). ``history.history
    ["learning_rate"]``: one value per epoch, in step mode the lr of the epoch's last update.
    ``scale``: the plateau scale.

    **Errors.** A value that is NaN, infinite, negative, beyond float32, not a number or not a
    scalar, a schedule that raises, and a function with the wrong arity raise ``ValueError`` or
    ``TypeError`` naming the epoch or step and the value, before that lr is applied; in step
    mode every value of the run is checked before training starts (when the run's length is
    known; a closed form, its first 2**24 steps, then each epoch's before the epoch). The
    optimizer is restored and the weights are as they were. An unknown ``update``
    or a model without an optimizer get a clear error too.

    >>> import numpy as np, keras, keras_lrsched as lrs
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), loss="mse")
    >>> cb = lrs.LearningRateScheduler(lrs.Linear(0.1, 0.0, steps=4), update="step")
    >>> h = model.fit(np.ones((8, 2)), np.ones(8), batch_size=4, epochs=2, callbacks=[cb],
    ...               verbose=0)
    >>> [round(float(v), 4) for v in cb.learning_rates]
    [0.1, 0.075, 0.05, 0.025]
    >>> [round(v, 4) for v in h.history["learning_rate"]]
    [0.075, 0.025]
    >>> round(float(model.optimizer.learning_rate), 4)
    0.025
    """

    def __init__(self, schedule, verbose=0, *, update="epoch", plateau=None, window=None):
        super().__init__()
        self.update = _checks.choice("update", update, _UPDATES)
        if plateau is not None and not isinstance(plateau, Plateau):
            raise TypeError(
                f"Argument `plateau` must be a keras_lrsched Plateau or None. Received: "
                f"plateau={plateau!r}"
            )
        self.window = None if window is None else _checks.integer("window", window, minimum=1)
        self._source = _make_source(schedule)
        self.schedule = schedule
        self.verbose = verbose
        self.plateau = plateau
        self._state = None
        self._run = None
        self._records = []  # per epoch: (stepper or None, first step or lr, updates, scale)

    # ------------------------------------------------------------------ public read-outs

    @property
    def learning_rates(self):
        """The lr applied at each optimizer update of the latest ``fit``, as float32.

        Worked out on the host when read, from the schedule and the step range of each epoch.
        """
        parts = []
        for stepper, first, n, scale in self._records:
            if stepper is None:
                parts.append(np.full(n, first, dtype=np.float32))
            else:
                parts.append(_scaled(stepper.get(first, n), scale, self.plateau))
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(parts)

    @property
    def scale(self):
        """The current plateau scale (1.0 without a plateau, or before the first ``fit``)."""
        if self.plateau is None or self._state is None or self._state.plateau is None:
            return 1.0
        return float(self._state.plateau["scale"])

    def restore(self):
        """Put the optimizer back as it was before ``fit`` (done at the end of every fit)."""
        if self._run is not None:
            self._run.uninstall(set_last=True)
            self._run = None

    # ------------------------------------------------------------------ keras hooks

    def set_model(self, model):
        super().set_model(model)
        # Attached now, before any on_train_begin, so that BackupAndRestore finds it wherever it
        # stands in the list: its load writes the saved state straight into this object.
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            self._state = _attach_state(optimizer)

    def on_train_begin(self, logs=None):
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ValueError(
                "LearningRateScheduler needs a compiled model with an optimizer: call "
                "model.compile(optimizer=..., loss=...) before fit. Received: a model with "
                "optimizer=None"
            )
        for entry in getattr(optimizer, "optimizers", None) or [optimizer]:
            if not hasattr(entry, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
        stale = getattr(optimizer, _INSTALL_ATTR, None)
        if stale is not None:
            stale.uninstall(set_last=True)
        self._state = _attach_state(optimizer)
        self._records = []
        self._run = _Run(self, model, optimizer)

    def on_epoch_begin(self, epoch, logs=None):
        run = self._run
        if run is None:
            return
        try:
            if run.first_epoch is None:
                run.start(epoch)
            if self.update == "epoch":
                run.epoch_begin_epoch_mode(epoch)
            else:
                run.epoch_begin_step_mode(epoch)
        except BaseException:
            self.restore()
            raise

    def on_train_batch_begin(self, batch, logs=None):
        run = self._run
        if run is not None and run.check_batches:
            try:
                run.batch_begin(batch)
            except BaseException:
                self.restore()
                raise

    def on_epoch_end(self, epoch, logs=None):
        run = self._run
        if run is None:
            return
        logs = logs if logs is not None else {}
        run.epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        self.restore()


# ---------------------------------------------------------------------- value checks


def _as_lr(value, where):
    """A schedule output as a Python float, or an error naming `where` and the value."""
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"The schedule must give a number. Received: {value!r} at {where}")
    if isinstance(value, (int, float)):
        array = np.asarray(float(value))
    else:
        try:
            array = np.asarray(keras.ops.convert_to_numpy(value))
        except Exception:  # noqa: BLE001 - anything that is not array-like is not a number
            raise TypeError(
                f"The schedule must give a number. Received: {value!r} at {where}"
            ) from None
    if array.dtype.kind not in "fiu":
        raise TypeError(f"The schedule must give a number. Received: {value!r} at {where}")
    if array.shape != ():
        raise ValueError(
            f"The schedule must give a scalar learning rate. Received: a value of shape "
            f"{array.shape} ({value!r}) at {where}"
        )
    lr = float(array)
    # The lr lives in a float32 variable: 1e39 is finite here and inf there.
    if not math.isfinite(lr) or lr < 0 or lr > _checks.FLOAT32_MAX:
        raise ValueError(
            "The schedule must give a finite learning rate >= 0 (at most the largest float32, "
            f"3.4e38). Received: {value!r} at {where}"
        )
    return lr


def _call(fn, args, where):
    """`fn(*args)`, with anything it raises turned into an error naming `where`."""
    try:
        return fn(*args)
    except TypeError as err:
        raise TypeError(f"The schedule raised TypeError({err}) at {where}") from err
    except Exception as err:  # noqa: BLE001 - re-raised with the epoch or step named
        raise ValueError(f"The schedule raised {type(err).__name__}({err}) at {where}") from err


# ---------------------------------------------------------------------- sources


def _make_source(schedule):
    if isinstance(schedule, Table):
        return _TableSource(schedule.values)
    if isinstance(schedule, _LRSchedule):
        return _ScheduleSource(schedule)
    if isinstance(schedule, (np.ndarray, list, tuple)):
        return _TableSource(_check_values("schedule", schedule, None))
    if callable(schedule):
        arity = _positional_arity(schedule)
        if arity is not None and arity not in (1, 2):
            raise TypeError(
                "Argument `schedule` must be a function schedule(index, lr) or schedule(index). "
                f"Received: schedule={schedule!r} requiring {arity} positional arguments"
            )
        return _FunctionSource(schedule, arity)
    raise TypeError(
        "Argument `schedule` must be a LearningRateSchedule, a Table or array of learning "
        f"rates, or a function of the epoch or step. Received: schedule={schedule!r}"
    )


class _ScheduleSource:
    """A closed form.

    A keras_lrsched schedule is evaluated on the host by its Numba kernel in both modes (step
    mode looks its values up in a device window); any other keras schedule is called with the
    epoch in epoch mode, and inside the train step in step mode.
    """

    def __init__(self, schedule):
        self.schedule = schedule
        # A Schedule subclass of the user's without a kernel (_fill) is handled as foreign.
        self.kernel = isinstance(schedule, Schedule) and type(schedule)._fill is not Schedule._fill
        self.in_graph = None if self.kernel else schedule
        self.vectorized = True
        self.checked = (0, 0)  # the steps check_run covered
        self.epochs = (0, np.zeros(0))  # kernel schedules: (first epoch, float64 values)
        self.cache = (0, np.zeros(0, np.float32))  # (first step, raw float32 values)
        self.mapped = None  # mapped_over_steps(schedule), or False: none, or it failed

    def plan_epochs(self, first, count):
        """Epoch mode: compute the lr of epochs first..first+count-1 at once (one kernel call).

        At most ``_EPOCH_PLAN_MAX`` of them: fit(epochs=10**9) stopped early must not allocate
        8 GB. An epoch past the plan costs a kernel call of its own (microseconds).
        """
        self.epochs = (first, np.zeros(0))
        if self.kernel and count:
            count = min(count, _EPOCH_PLAN_MAX)
            try:
                self.epochs = (first, self.schedule.table(count, first, dtype="float64"))
            except Exception:  # noqa: BLE001 - a foreign child failing later: per epoch below
                pass

    def epoch_value(self, epoch, current_lr):
        where = f"epoch {epoch}"
        if self.kernel:
            first, values = self.epochs
            if not first <= epoch < first + values.shape[0]:
                first, values = epoch, _call(
                    lambda: self.schedule.table(1, epoch, dtype="float64"), (), where
                )
            # Checked here, not when planned: a bad value stops training at its own epoch.
            return _as_lr(float(values[epoch - first]), where)
        return _as_lr(_call(self.schedule, (epoch,), where), where)

    def stepper(self, start, count, lr_prev):
        # A new fit: nothing computed for an earlier one is reused (its schedule may have changed).
        self.checked, self.cache, self.mapped = (0, 0), (0, np.zeros(0, np.float32)), None
        if count:
            self.check_run(start, min(count, _CHECK_AHEAD_MAX))
        return self

    def check_run(self, start, count):
        """Check every step of the run before training starts, a chunk at a time.

        A schedule that cannot be evaluated on a vector of steps is checked an epoch at a time
        instead.
        """
        first = None
        for lo in range(start, start + count, _CHECK_CHUNK):
            n = min(_CHECK_CHUNK, start + count - lo)
            if self.get(lo, n, scalar_ok=False).shape[0] != n:
                return  # no vector evaluation: each epoch is checked as it comes
            if first is None:
                first = self.cache
        self.checked = (start, start + count)
        if first is not None:
            self.cache = first  # the run's first steps are read again first

    def check(self, start, n):
        """Check steps start..start+n-1 unless the run check covered them."""
        lo, hi = self.checked
        if not (lo <= start and start + n <= hi):
            self.get(start, n)

    def get(self, start, n, scalar_ok=True):
        """The lr at steps start..start+n-1 as float32, each value checked.

        A keras_lrsched schedule is evaluated by its Numba kernel (float64, rounded once to
        float32). Any other schedule goes through keras.ops on a vector of at least
        ``_HOST_BLOCK`` steps, padded to a power of two so that JAX's eager mode compiles a
        handful of shapes, and the block is kept: the epoch's checks, the lr logged at its end
        and ``learning_rates`` read it again without calling the schedule. A schedule that
        refuses a vector (an ``ops.cond`` on the step, as in keras' ``CosineDecay`` with warmup)
        is mapped over the steps by ``jax.vmap`` under JAX, or else called step by step.
        """
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        lo, values = self.cache
        if self.kernel and not (lo <= start and start + n <= lo + values.shape[0]):
            # Exactly the steps asked for (a kernel is fast); kept, as a window's values are
            # read again for the lr logged at the epoch's end.
            self.cache = lo, values = start, self.schedule.table(n, start)
        if not (lo <= start and start + n <= lo + values.shape[0]):
            block = self._host_block(start, max(n, _HOST_BLOCK))
            if block is None:
                if not scalar_ok:
                    return np.zeros(0, dtype=np.float32)
                return np.asarray(
                    [_as_lr(_call(self.schedule, (k,), f"step {k}"), f"step {k}")
                     for k in range(start, start + n)],
                    dtype=np.float32,
                )
            self.cache = lo, values = start, block
        # Checked when read, not when computed: a block reaches beyond the steps asked for.
        out = values[start - lo : start - lo + n].copy()
        _check_block(out, start)
        return out

    def _host_block(self, start, n):
        """A foreign schedule's raw float32 values at steps start..start+n-1, or None."""
        size = max(16, 1 << (n - 1).bit_length())
        steps = np.arange(start, start + size, dtype=np.int64)
        if self.vectorized:
            try:
                out = np.asarray(ops.convert_to_numpy(self.schedule(steps)))
            except Exception:  # noqa: BLE001 - a schedule written for scalar steps only
                out = None
            if out is not None and out.shape == ():
                out = np.full(size, out)
            if out is not None and out.shape == (size,) and out.dtype.kind in "fiu":
                return out[:n].astype(np.float32)
            self.vectorized = False
        if self.mapped is None:
            self.mapped = mapped_over_steps(self.schedule) or False  # compiled once per shape
        if self.mapped is not False:
            try:
                out = np.asarray(self.mapped(steps))
            except Exception:  # noqa: BLE001 - the plain loop names the failing step
                self.mapped = False
            else:
                if out.shape == (size,) and out.dtype.kind in "fiu":
                    return out[:n].astype(np.float32)
                self.mapped = False
        return None


def _check_block(values, start):
    """Raise, naming the step, at the first value that is not a finite lr >= 0."""
    i = _checks.first_bad_lr(values)
    if i is not None:
        _as_lr(values[i], f"step {start + i}")


class _TableSource:
    """A table of learning rates, held on the host as a float32 copy; holds its last value.

    A copy, so that what was checked is what is applied even if the caller's array changes.
    """

    in_graph = None

    def __init__(self, values):
        self.values32 = np.array(values, dtype=np.float32, copy=True)

    def epoch_value(self, epoch, current_lr):
        return float(self.values32[min(epoch, self.values32.shape[0] - 1)])

    def stepper(self, start, count, lr_prev):
        return self

    def check(self, start, n):
        pass  # every value was checked when the table was made

    def get(self, start, n):
        size = self.values32.shape[0]
        inside = self.values32[min(start, size) : min(start + max(n, 0), size)]
        if inside.shape[0] == max(n, 0):
            return inside.copy()
        return np.concatenate([inside, np.full(max(n, 0) - inside.shape[0], self.values32[-1])])


class _FunctionSource:
    """A Python function of the index: f(index) or the keras-style recurrence f(index, lr)."""

    in_graph = None

    def __init__(self, fn, arity):
        self.fn = fn
        self.arity = arity

    def epoch_value(self, epoch, current_lr):
        where = f"epoch {epoch}"
        if self.arity == 2:
            value = _call(self.fn, (epoch, current_lr), where)
        elif self.arity == 1:
            value = _call(self.fn, (epoch,), where)
        else:  # a signature Python cannot inspect: keras' own try-then-fall-back
            try:
                value = self.fn(epoch, current_lr)
            except TypeError:
                value = _call(self.fn, (epoch,), where)
        return _as_lr(value, where)

    def stepper(self, start, count, lr_prev):
        arity = self.arity
        if arity is None:
            try:
                self.fn(start, lr_prev)
                arity = 2
            except TypeError:
                arity = 1
        if count is not None and count > _PRECOMPUTE_MAX:
            count = None  # computed, and checked, a window ahead instead
        return _FunctionSteps(self.fn, arity, start, count, lr_prev)


class _FunctionSteps:
    """A function's values on the host, from the first step of a fit on.

    With a known run length the whole run is precomputed (and checked) at once; past its end
    the last value holds. Otherwise the table grows a window at a time, each part checked
    before it is used.
    """

    def __init__(self, fn, arity, start, count, lr_prev):
        self.fn, self.arity, self.lo, self.lr_prev = fn, arity, start, lr_prev
        self.known = count is not None
        self.values = self._compute(start, count if self.known else 0, lr_prev)

    def _compute(self, start, n, lr_prev):
        if n <= _PYTHON_LOOP_MAX:
            return _python_table(self.fn, self.arity, start, n, lr_prev)
        kwargs = {"start": start}
        if self.arity == 2:
            kwargs["initial_lr"] = lr_prev
        try:
            return precompute(self.fn, n, **kwargs)
        except Exception as err:  # noqa: BLE001 - replayed below to name the step
            _explain(self.fn, self.arity, start, n, lr_prev, err)
            raise

    def get(self, start, n):
        hi = self.lo + self.values.shape[0]
        if start + n > hi:
            if self.known:
                if self.values.shape[0] == 0:
                    return np.zeros(0, dtype=np.float32)
                pad = np.full(start + n - hi, self.values[-1], dtype=np.float32)
                self.values = np.concatenate([self.values, pad])
            else:
                more = max(start + n - hi, self.values.shape[0], 1024)
                lr_prev = float(self.values[-1]) if self.values.shape[0] else self.lr_prev
                self.values = np.concatenate([self.values, self._compute(hi, more, lr_prev)])
        return self.values[start - self.lo : start - self.lo + n]

    def check(self, start, n):
        self.get(start, n)  # each part is checked when it is computed


def _python_table(fn, arity, start, n, lr_prev):
    """A short table in plain Python: faster than compiling `fn` with Numba, same numbers."""
    out = np.empty(n, dtype=np.float32)
    lr = None if lr_prev is None else float(np.float32(lr_prev))
    for i in range(n):
        where = f"step {start + i}"
        args = (start + i, lr) if arity == 2 else (start + i,)
        value = _as_lr(_call(fn, args, where), where)
        out[i] = value
        lr = float(out[i])
    return out


def _explain(fn, arity, start, n, lr_prev, err):
    """Replay `fn` in Python to name the first step whose value is bad; re-raise as ours."""
    lr = None if lr_prev is None else float(np.float32(lr_prev))
    for k in range(start, start + min(n, _EXPLAIN_LIMIT)):
        where = f"step {k}"
        args = (k, lr) if arity == 2 else (k,)
        value = _as_lr(_call(fn, args, where), where)
        lr = float(np.float32(value))
    raise err


# ---------------------------------------------------------------------- saved state


class _State(_Saveable):
    """The callback state that must survive a restart: saved with the optimizer's weights.

    ``plateau``: the Plateau state dict, or None; ``last_lrs``: per driven optimizer, the last
    value a recurrence returned (the ``lr`` it is handed next). Stored as two float64 vectors.
    """

    def __init__(self):
        self.clear()

    def clear(self):
        self.plateau = None
        self.last_lrs = {}

    def _obj_type(self):
        return "Loss"  # a type keras' saver knows how to walk; this object has no children

    def __reduce__(self):
        # KerasSaveable pickles through a .keras file, which only a model can be.
        return (_restore_state, (self.plateau, self.last_lrs))

    def save_own_variables(self, store):
        p = self.plateau
        if p is None:
            row = [0.0, 1.0, math.nan, 0.0, 0.0]
        else:
            best = math.nan if p["best"] is None else p["best"]
            row = [1.0, p["scale"], best, p["wait"], p["cooldown"]]
        store["plateau"] = np.asarray(row, dtype=np.float64)
        size = max(self.last_lrs, default=-1) + 1
        lrs = np.full(max(size, 1), math.nan)
        for i, v in self.last_lrs.items():
            lrs[i] = v
        store["last_lrs"] = lrs

    def load_own_variables(self, store):
        try:
            keys = set(store.keys())
        except Exception:  # noqa: BLE001 - no group for this object in the file
            return
        if "plateau" in keys:
            row = np.asarray(store["plateau"], dtype=np.float64)
            if row[0] > 0:
                self.plateau = {
                    "scale": float(row[1]),
                    "best": None if math.isnan(row[2]) else float(row[2]),
                    "wait": int(row[3]),
                    "cooldown": int(row[4]),
                }
            else:
                self.plateau = None
        if "last_lrs" in keys:
            lrs = np.asarray(store["last_lrs"], dtype=np.float64).reshape(-1)
            self.last_lrs = {i: float(v) for i, v in enumerate(lrs) if not math.isnan(v)}


def _restore_state(plateau, last_lrs):
    state = _State()
    state.plateau, state.last_lrs = plateau, dict(last_lrs)
    return state


def _attach_state(optimizer):
    state = getattr(optimizer, _STATE_ATTR, None)
    if not isinstance(state, _State):
        state = _State()
        setattr(optimizer, _STATE_ATTR, state)
    return state


# ---------------------------------------------------------------------- one fit


def _host_int(x):
    return int(np.asarray(ops.convert_to_numpy(x)))


def _host_float(x):
    return float(np.asarray(ops.convert_to_numpy(x)))


def _leaf(optimizer):
    """The optimizer that owns the learning rate (a LossScaleOptimizer delegates inward)."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


def _all_optimizers(optimizer):
    found, todo = [], [optimizer]
    while todo:
        opt = todo.pop()
        if any(opt is o for o in found):
            continue
        found.append(opt)
        todo.extend(getattr(opt, "optimizers", None) or [])
        inner = getattr(opt, "inner_optimizer", None)
        if inner is not None:
            todo.append(inner)
    return found


class _Group:
    """One optimizer the callback drives, and what was installed on it for this fit."""

    def __init__(self, entry, key):
        self.entry = entry  # as listed in optimizer.optimizers, for names and messages
        self.key = key  # the logs key
        self.leaf = _leaf(entry)
        lr = self.leaf.learning_rate
        self.lr_var = lr if isinstance(lr, keras.Variable) else None
        self.original_lr = self.leaf._get_current_learning_rate  # bound before any override
        self.overridden = False
        self.window = self.start = self.scale = self.epoch_lr = None
        self.stepper = None
        self.it0 = 0  # iterations when the current epoch began
        self.it_end = None  # iterations when the previous epoch ended (this fit)
        self.epoch_values = None  # epoch mode: the lr applied this epoch
        self.last_applied = None  # float32 value of the latest update's lr

    def iterations(self):
        return _host_int(self.leaf.iterations)

    def iterations_at_epoch_begin(self):
        """The step count, as read at the previous epoch's end if there was one this fit.

        Nothing trains between an epoch's end and the next one's begin: one device read per
        epoch instead of two.
        """
        known, self.it_end = self.it_end, None
        return known if known is not None else self.iterations()


class _Run:
    """Everything one ``fit`` installs, and the bookkeeping between its hooks."""

    def __init__(self, callback, model, optimizer):
        self.cb = callback
        self.model = model
        self.optimizer = optimizer
        self.step_mode = callback.update == "step"
        params = callback.params or {}
        self.epochs = params.get("epochs")
        self.steps = params.get("steps")
        spe = getattr(model, "steps_per_execution", 1) or 1
        self.spe = int(spe) if isinstance(spe, int) else 1
        if callback.window is not None:
            window = callback.window
        elif self.steps:
            window = min(int(self.steps), _MAX_WINDOW)
        else:
            window = _MAX_WINDOW
        self.window = max(window, self.spe)
        # One entry more than the steps it serves: between epochs the optimizer reports the lr
        # of the next update (TensorBoard logs it), as it does for a schedule it owns.
        self.size = self.window + 1
        self.check_batches = self.step_mode and (not self.steps or self.steps > self.window)
        self.first_epoch = None
        self.horizon = 0
        self.epoch_scale = 1.0
        self.direction = None
        if hasattr(optimizer, "optimizers"):
            entries = list(optimizer.optimizers)
            keys = [f"learning_rate_{o.name}" for o in entries]
        else:
            entries, keys = [optimizer], ["learning_rate"]
        self.groups = [_Group(e, k) for e, k in zip(entries, keys)]
        self.hidden = {}
        self.saver_overrides = []
        self.sync_each_epoch = set()  # ids of optimizers whose lr variable no save syncs
        self._install()

    # ------------------------------------------------------------ install / uninstall

    def _new_variable(self, leaf, shape, dtype, name):
        strategy = None
        if keras.backend.backend() == "tensorflow":
            strategy = getattr(self.model, "distribute_strategy", None)
        if strategy is not None:
            with strategy.scope():
                var = leaf.add_variable(shape, initializer="zeros", dtype=dtype, name=name)
        else:
            var = leaf.add_variable(shape, initializer="zeros", dtype=dtype, name=name)
        self.hidden[id(var)] = (leaf, var)
        return var

    def _install(self):
        cb = self.cb
        source = cb._source
        for g in self.groups:
            leaf = g.leaf
            if not self.step_mode:
                if g.lr_var is not None:
                    continue  # keras' way: assign the optimizer's own lr variable
                g.epoch_lr = self._new_variable(leaf, (), "float32", "keras_lrsched_lr")
                leaf._get_current_learning_rate = _epoch_getter(g.epoch_lr)
            else:
                if source.in_graph is None:
                    g.window = self._new_variable(
                        leaf, (self.size,), "float32", "keras_lrsched_window"
                    )
                    g.start = self._new_variable(
                        leaf, (), keras.backend.standardize_dtype(leaf.iterations.dtype),
                        "keras_lrsched_window_start",
                    )
                if cb.plateau is not None and source.in_graph is not None:
                    # A window holds lr * scale, written on the host; a schedule computed in
                    # the step multiplies by this variable instead.
                    g.scale = self._new_variable(leaf, (), "float32", "keras_lrsched_scale")
                    g.scale.assign(1.0)
                leaf._get_current_learning_rate = _step_getter(
                    leaf, source.in_graph, g.window, g.start, g.scale, self.size
                )
            g.overridden = True
        if self.hidden or self.step_mode:
            for opt in _all_optimizers(self.optimizer):
                # Step mode writes the optimizer's own lr variable only when something reads
                # it (a save, its config), not at every epoch end: under JAX each write costs
                # ~0.2 ms of a busy epoch.
                if self.step_mode:
                    opt.get_config = _synced_config(self, opt)
                    self.saver_overrides.append(opt)
                if type(opt).save_own_variables is not _BASE_SAVE:
                    # An optimizer with its own format is left alone; its lr variable is then
                    # written at every epoch end instead, since no save of it syncs it.
                    self.sync_each_epoch.add(id(opt))
                    continue
                opt.save_own_variables = _saver(self, opt)
                opt.load_own_variables = _loader(self, opt)
                if not self.step_mode:
                    self.saver_overrides.append(opt)
        setattr(self.optimizer, _INSTALL_ATTR, self)
        if any(g.overridden for g in self.groups):
            # The compiled step must see the installed lr: rebuild it once for this fit.
            self.model.make_train_function(force=True)

    def uninstall(self, set_last):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            # A fit that fails mid-epoch writes the JAX state back after this, matching it to
            # optimizer.variables by position: write it back now, with our variables still in.
            sync()
        for opt in self.saver_overrides:
            for name in ("save_own_variables", "load_own_variables", "get_config"):
                if name in vars(opt):
                    delattr(opt, name)
        self.saver_overrides = []
        changed = False
        for g in self.groups:
            if g.overridden:
                if "_get_current_learning_rate" in vars(g.leaf):
                    delattr(g.leaf, "_get_current_learning_rate")
                g.overridden = False
                changed = True
            if set_last and self.step_mode and g.lr_var is not None and g.last_applied is not None:
                g.leaf.learning_rate = float(g.last_applied)
        for leaf, var in self.hidden.values():
            _untrack(leaf, var)
        self.hidden = {}
        if getattr(self.optimizer, _INSTALL_ATTR, None) is self:
            delattr(self.optimizer, _INSTALL_ATTR)
        if changed:
            # The next fit traces again, with the optimizer as it is now.
            self.model.train_function = None

    # ------------------------------------------------------------ hooks

    def start(self, epoch):
        """First epoch of this fit: fresh or resumed state, host tables for step mode."""
        self.first_epoch = epoch
        state = self.cb._state
        k0 = self.groups[0].iterations()
        if k0 == 0:
            state.clear()
        plateau = self.cb.plateau
        if plateau is not None and state.plateau is None:
            state.plateau = plateau.initial_state()
        if not self.step_mode:
            if self.epochs is not None and hasattr(self.cb._source, "plan_epochs"):
                self.cb._source.plan_epochs(epoch, max(int(self.epochs) - epoch, 0))
            return
        count = None
        if self.epochs is not None and self.steps:
            count = max(int(self.epochs) - epoch, 0) * int(self.steps)
        source = self.cb._source
        for i, g in enumerate(self.groups):
            lr_prev = self._current_lr(i, g) if isinstance(source, _FunctionSource) else None
            g.stepper = source.stepper(g.iterations(), count, lr_prev)

    def _current_lr(self, i, g):
        """The ``lr`` handed to a recurrence: the optimizer's, or the recurrence's last value."""
        if self.cb.plateau is None and g.lr_var is not None:
            return _host_float(g.lr_var)
        state = self.cb._state
        if i in state.last_lrs:
            return state.last_lrs[i]
        if g.epoch_lr is not None and g.epoch_values is not None:
            return float(g.epoch_values)
        return _host_float(g.original_lr())

    def _scale(self):
        state = self.cb._state
        if self.cb.plateau is None or state.plateau is None:
            return 1.0
        return float(state.plateau["scale"])

    def epoch_begin_epoch_mode(self, epoch):
        source = self.cb._source
        # Only a recurrence is handed the current lr: nobody else pays for reading it back.
        wants_lr = isinstance(source, _FunctionSource) and source.arity != 1
        base = [
            source.epoch_value(epoch, self._current_lr(i, g) if wants_lr else None)
            for i, g in enumerate(self.groups)
        ]
        scale = self._scale()
        self.epoch_scale = scale
        for i, (g, value) in enumerate(zip(self.groups, base)):
            g.it0 = g.iterations_at_epoch_begin()
            lr = value * scale if self.cb.plateau is not None else value
            if g.lr_var is not None:
                g.leaf.learning_rate = lr
            else:
                g.epoch_lr.assign(lr)
            g.epoch_values = float(np.float32(lr))
            if isinstance(source, _FunctionSource) and source.arity != 1:
                self.cb._state.last_lrs[i] = float(np.float32(value))
            self._say(epoch, g, lr)

    def epoch_begin_step_mode(self, epoch):
        scale = self._scale()
        self.epoch_scale = scale
        span = self.window if self.check_batches else int(self.steps)
        for g in self.groups:
            g.it0 = g.iterations_at_epoch_begin()
            if g.window is not None:
                self._write_window(g, g.it0, g.stepper.get(g.it0, self.size), scale)
            else:
                g.stepper.check(g.it0, span)
            if g.scale is not None:
                g.scale.assign(scale)
        self.horizon = self.groups[0].it0 + span
        if self.cb.verbose:
            for g in self.groups:
                first = g.stepper.get(g.it0, 1)
                self._say(epoch, g, float(first[0]) * scale if first.size else None, g.it0)

    def _write_window(self, g, start, values, scale):
        if g.window is None:
            return
        values = _scaled(values[: self.size], scale, self.cb.plateau)
        if values.shape[0] < self.size:
            fill = values[-1] if values.shape[0] else np.float32(0.0)
            pad = np.full(self.size - values.shape[0], fill, np.float32)
            values = np.concatenate([values, pad])
        g.window.assign(values)
        g.start.assign(start)

    def batch_begin(self, batch):
        first = self.groups[0]
        if first.it0 + batch + self.spe <= self.horizon:
            return
        if first.window is None:
            # A closed form needs nothing on the device: check the next values, host only.
            for g in self.groups:
                g.stepper.check(self.horizon, self.window)
            self.horizon += self.window
            return
        self.cb.model  # noqa: B018 - under JAX, writes the trainer's state back to the variables
        for g in self.groups:
            k = g.iterations()
            self._write_window(g, k, g.stepper.get(k, self.size), self.epoch_scale)
        self.horizon = first.iterations() + self.window

    def epoch_end(self, epoch, logs):
        scale = self.epoch_scale
        for i, g in enumerate(self.groups):
            it_end = g.it_end = g.iterations()
            n = max(it_end - g.it0, 0)
            if self.step_mode:
                if i == 0:
                    self.cb._records.append((g.stepper, g.it0, n, scale))
                if n:
                    last = g.stepper.get(it_end - 1, 1)
                    g.last_applied = _scaled(last, scale, self.cb.plateau)[0]
                    if isinstance(self.cb._source, _FunctionSource) and g.stepper.arity == 2:
                        self.cb._state.last_lrs[i] = float(last[0])
                    if g.lr_var is not None and id(g.leaf) in self.sync_each_epoch:
                        g.lr_var.assign(float(g.last_applied))
                logged = g.last_applied
                if logged is None:
                    nxt = g.stepper.get(it_end, 1)
                    logged = _scaled(nxt, scale, self.cb.plateau)[0] if nxt.size else 0.0
                logs[g.key] = float(logged)
            else:
                if i == 0:
                    self.cb._records.append((None, g.epoch_values, n, 1.0))
                g.last_applied = np.float32(g.epoch_values)
                logs[g.key] = _host_float(g.leaf.learning_rate)
        if self.cb.plateau is not None:
            self._plateau_step(logs)

    def _plateau_step(self, logs):
        plateau = self.cb.plateau
        current = logs.get(plateau.monitor)
        if current is None:
            warnings.warn(
                "Learning rate reduction is conditioned on metric "
                f"`{plateau.monitor}` which is not available. Available metrics "
                f"are: {','.join(list(logs.keys()))}.",
                stacklevel=3,
            )
            return
        if self.direction is None:
            self.direction = plateau.direction(self.model)
        state = self.cb._state
        state.plateau = plateau.update(state.plateau, current, self.direction)

    def sync_lr_variables(self):
        """Step mode: make each float lr variable hold the lr of the latest update (for saves)."""
        if not self.step_mode or self.first_epoch is None:
            return
        for g in self.groups:
            if g.lr_var is None or g.stepper is None:
                continue
            k = g.iterations()
            if k > g.it0:
                value = _scaled(g.stepper.get(k - 1, 1), self.epoch_scale, self.cb.plateau)[0]
            elif g.last_applied is not None:  # no update yet this epoch: the previous one's
                value = g.last_applied
            else:
                continue
            g.lr_var.assign(float(value))

    def _say(self, epoch, g, lr, step=None):
        if not self.cb.verbose or lr is None:
            return
        name = f"{g.entry.name} " if len(self.groups) > 1 else ""
        where = "" if step is None else f" from step {step} (updated every step)"
        _print_msg(
            f"\nEpoch {epoch + 1}: LearningRateScheduler setting {name}learning rate to "
            f"{lr}{where}."
        )


def _scaled(values, scale, plateau):
    values = np.asarray(values, dtype=np.float32)
    if plateau is None:
        return values
    return values * np.float32(scale)


def _epoch_getter(variable):
    def current_learning_rate():
        return variable

    return current_learning_rate


def _step_getter(leaf, schedule, window, start, scale, size):
    """The lr inside the train step, keyed on iterations: a closed form, or a window lookup."""
    if schedule is None and keras.backend.backend() == "torch":
        return _torch_window_getter(leaf, window, start, size)

    def current_learning_rate():
        step = leaf.iterations
        if schedule is not None:
            lr = schedule(step)
        else:
            index = ops.clip(ops.subtract(step, start), 0, size - 1)
            lr = ops.take(window, index)
        if scale is not None:
            lr = ops.multiply(ops.cast(lr, "float32"), scale)
        return lr

    return current_learning_rate


def _torch_window_getter(leaf, window, start, size):
    """The window lookup in plain torch ops, on the tensors' own device.

    Torch runs the train step eagerly, so this runs at every update: three keras.ops calls
    (each converting and checking its arguments) cost ~60 us per step on a CPU core, the same
    three torch ops ~6-15 us. No host sync: the index never leaves the device.
    """
    import torch

    def current_learning_rate():
        step = leaf.iterations  # a Variable, or a tensor under gradient accumulation
        if isinstance(step, keras.Variable):
            step = step.value
        index = torch.clamp(step - start.value, 0, size - 1).long()  # keras counts in int32
        # torch.take, not window[index]: indexing with a 0-d integer tensor reads it on the host,
        # a CUDA sync per step (pytorch/pytorch#105641).
        return torch.take(window.value, index)

    return current_learning_rate


def _visible(run, opt):
    return [v for v in opt.variables if id(v) not in run.hidden]


def _synced_config(run, opt):
    original = type(opt).get_config

    def get_config():
        run.sync_lr_variables()
        return original(opt)

    return get_config


def _saver(run, opt):
    def save_own_variables(store):
        run.sync_lr_variables()
        for i, variable in enumerate(_visible(run, opt)):
            store[str(i)] = variable.numpy()

    return save_own_variables


def _loader(run, opt):
    def load_own_variables(store):
        variables = _visible(run, opt)
        if len(store.keys()) != len(variables):
            warnings.warn(
                f"Skipping variable loading for optimizer '{opt.name}', because it has "
                f"{len(variables)} variables whereas the saved optimizer has "
                f"{len(store.keys())} variables.",
                stacklevel=2,
            )
            return
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])

    return load_own_variables


def _untrack(optimizer, variable):
    untrack = getattr(optimizer, "_untrack_variable", None)
    if untrack is not None:
        untrack(variable)
    else:  # pragma: no cover - older keras
        optimizer._variables[:] = [v for v in optimizer._variables if v is not variable]
