"""Where the callback's learning rates come from: a closed-form schedule, a table, or a Python
function. Every source answers the same questions (`Source`), in both modes."""

import keras
import numpy as np

from .. import _checks
from ..kernels._config import jit_function
from ..schedules import Schedule
from ..schedules._base import total_steps
from ..schedules._host import HostSchedule
from ..table import Table, precompute

_LRSchedule = keras.optimizers.schedules.LearningRateSchedule
_CHECK_CHUNK = 1 << 20
_CHECK_AHEAD_MAX = 1 << 24  # a closed form is checked this far ahead before training
_PRECOMPUTE_MAX = 1 << 26  # a function's host table for the whole run: at most 256 MB
_PYTHON_LOOP_MAX = 1 << 14  # below this a Python loop beats Numba's compile time
_HOST_BLOCK = 1 << 12  # a foreign schedule is evaluated on the host this many steps at a time
_EPOCH_PLAN_MAX = 1 << 16  # epoch mode: a kernel schedule's epochs computed at the first one
_EXPLAIN_LIMIT = 1_000_000


def parse(value, arg="schedule"):
    """`value` itself, or the schedule a spec string describes (keras_lrsched.get): any error
    names the argument and says how a string is read."""
    if not isinstance(value, str):
        return value
    from ..spec import get  # here, not at the top: spec imports the package, which imports us

    try:
        return get(value)
    except (TypeError, ValueError) as err:
        raise type(err)(
            f"Argument `{arg}`: a string is read as a schedule spec, such as "
            f"\"cosine(0.1, steps=1000)\" or \"warmup(cosine(0.1, steps=900), "
            f"warmup_steps=100)\". {err}"
        ) from None


def make_source(schedule, arg="schedule"):
    """The source for the callback's `schedule` argument (a spec string too); TypeError for
    anything else.

    `arg` names another argument that takes the same kinds of values (``momentum``,
    ``hyperparameters['beta_2']``): its errors name it, and a function of it takes the index
    only (a recurrence ``f(index, lr)`` is the lr's, as in keras' callback)."""
    schedule = parse(schedule, arg)
    labels = ("The schedule", "learning rate")
    if arg != "schedule":
        labels = (f"The `{arg}` schedule", "value")
    if isinstance(schedule, Table):
        return TableSource(schedule.values, labels)
    if isinstance(schedule, _LRSchedule):
        return ScheduleSource(schedule, labels)
    kind = "learning rates" if arg == "schedule" else "values"
    if isinstance(schedule, (np.ndarray, list, tuple)):
        return TableSource(_checks.lr_array(arg, schedule, None, kind), labels)
    if callable(schedule):
        arity = _checks.positional_arity(schedule)
        if arg != "schedule":
            if arity != 1:
                needs = "an unknown number of" if arity is None else arity
                raise TypeError(
                    f"Argument `{arg}` must be a function of the index only, f(index) -> "
                    f"value. Received: {arg}={schedule!r} requiring {needs} positional "
                    "arguments"
                )
        elif arity is not None and arity not in (1, 2):
            raise TypeError(
                "Argument `schedule` must be a function schedule(index, lr) or schedule(index). "
                f"Received: schedule={schedule!r} requiring {arity} positional arguments"
            )
        return FunctionSource(schedule, arity, labels)
    raise TypeError(
        f"Argument `{arg}` must be a LearningRateSchedule, a Table or array of {kind}, or a "
        f"function of the epoch or step. Received: {arg}={schedule!r}"
    )


class Source:
    """The interface. ``in_graph``: a keras schedule the train step computes itself (step mode),
    or None: the step looks the lr up in a window the host fills from `stepper`. ``needs_lr``:
    the source is handed the current lr (a keras-style recurrence f(index, lr)).

    A stepper (what `stepper` returns: a new one for each fit and driven optimizer) has
    ``get(start, n)``, ``check(start, n)``, ``recurrent``: whether its last value is handed on to a resumed
    run, as a recurrence's is, and ``fault``.

    When the run's length is known, every value of it is checked before training (an error
    names the first bad step). When it is not (a generator, a filtered dataset, multi-process
    JAX), values are computed a window ahead of the run, and one that is bad (or a function
    that raises) is not refused there: the run may end before it. The stepper keeps the first
    such step and its error as ``fault = (step, error)``, serves the last good value from there
    on, and the run raises the error before an update would apply that step."""

    in_graph = None
    needs_lr = False
    name = "The schedule"  # how advice names it

    def __init__(self, labels):
        self.what, self.kind = labels  # how its errors name it and its values

    def total_steps(self):
        """The steps the source was built for, past which it holds its last value, or None
        (it goes on, or nobody can tell: a function)."""
        return None

    def plan_epochs(self, first, count):
        """Epoch mode, at the fit's first epoch: the epochs first..first+count-1 will be asked."""

    def epoch_value(self, epoch, current_lr):
        """The lr of `epoch` as a checked Python float."""
        raise NotImplementedError

    def stepper(self, start, count, lr_prev):
        """Step mode, at the fit's first epoch: an object whose ``get(start, n)`` gives the
        checked float32 lr of steps start..start+n-1 and ``check(start, n)`` checks them;
        `count` is the run's length in steps (None: unknown); ``recurrent`` says whether its
        last value is handed on to a resumed run."""
        raise NotImplementedError


class ScheduleSource(Source):
    """A closed form (its steps are checked as `Source` says).

    A keras_lrsched schedule is evaluated on the host by its Numba kernel in both modes (step
    mode looks its values up in a device window); any other keras schedule is called with the
    epoch in epoch mode, and inside the train step in step mode.
    """

    def __init__(self, schedule, labels):
        super().__init__(labels)
        self.schedule = schedule
        self.name = type(schedule).__name__
        # A Schedule subclass of the user's without a kernel (_fill) is handled as foreign.
        self.kernel = isinstance(schedule, Schedule) and type(schedule)._fill is not Schedule._fill
        self.in_graph = None if self.kernel else schedule
        self.epochs = (0, np.zeros(0))  # kernel schedules: (first epoch, float64 values)

    def total_steps(self):
        return total_steps(self.schedule)

    def plan_epochs(self, first, count):
        """Compute the lr of epochs first..first+count-1 at once (one kernel call).

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
        where = _checks.at_epoch(epoch)
        if self.kernel:
            first, values = self.epochs
            if not first <= epoch < first + values.shape[0]:
                first, values = epoch, _checks.call(
                    lambda: self.schedule.table(1, epoch, dtype="float64"), (), where, self.what
                )
            # Checked here, not when planned: a bad value stops training at its own epoch.
            return _checks.lr_value(float(values[epoch - first]), where, self.what, self.kind)
        value = _checks.call(self.schedule, (epoch,), where, self.what)
        return _checks.lr_value(value, where, self.what, self.kind)

    def stepper(self, start, count, lr_prev):
        # New for each fit: nothing computed for an earlier one is reused (its schedule may
        # have changed).
        return ScheduleSteps(self, start, count)


class ScheduleSteps:
    """A closed form's steps for one fit (`Source` says how they are checked)."""

    recurrent = False

    def __init__(self, source, start, count):
        self.schedule, self.kernel = source.schedule, source.kernel
        self.what, self.kind = source.what, source.kind
        self.checked = (0, 0)  # the steps check_run covered
        self.cache = (0, np.zeros(0, np.float32))  # (first step, raw float32 values)
        self.host = HostSchedule(self.schedule)
        self.known, self.fault = bool(count), None
        if count:
            self.check_run(start, min(count, _CHECK_AHEAD_MAX))

    def check_run(self, start, count):
        """Check every step of the run before training starts, a chunk at a time.

        A schedule that cannot be evaluated on a vector of steps is checked an epoch at a time
        instead.
        """
        first = None
        for lo in range(start, start + count, _CHECK_CHUNK):
            n = min(_CHECK_CHUNK, start + count - lo)
            if self.get(lo, n, loop=False) is None:
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

    def get(self, start, n, loop=True):
        """The lr at steps start..start+n-1 as float32, each value checked (None when only a
        step-by-step evaluation would do and `loop` is False).

        A keras_lrsched schedule is evaluated by its Numba kernel (float64, rounded once to
        float32), exactly the steps asked for. Any other schedule goes through `HostSchedule`
        on at least ``_HOST_BLOCK`` steps, and the block is kept: the epoch's checks, the lr
        logged at its end and ``learning_rates`` read it again without calling the schedule.
        """
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        lo, values = self.cache
        if not (lo <= start and start + n <= lo + values.shape[0]):
            if self.kernel:
                block = self.schedule.table(n, start)
            else:
                block = self.host.values(start, max(n, _HOST_BLOCK), loop=loop)
                if block is None:
                    return None
            self.cache = lo, values = start, np.asarray(block, dtype=np.float32)
        # Checked when read, not when computed: a block reaches beyond the steps asked for.
        values = values[start - lo : start - lo + n].copy()
        if self.known:
            return _checks.lr_values(values, start, self.what, self.kind)
        values, fault = _until_fault(values, start, self.what, self.kind)
        self.fault = earliest(self.fault, fault)
        return values


class TableSource(Source):
    """A table of learning rates, held on the host as a float32 copy; holds its last value.

    A copy, so that what was checked is what is applied even if the caller's array changes.
    """

    def __init__(self, values, labels):
        super().__init__(labels)
        self.values32 = np.array(values, dtype=np.float32, copy=True)
        self.name = "The table"

    def total_steps(self):
        return self.values32.shape[0]

    def epoch_value(self, epoch, current_lr):
        return float(self.values32[min(epoch, self.values32.shape[0] - 1)])

    def stepper(self, start, count, lr_prev):
        return TableSteps(self.values32)


class TableSteps:
    """A table's steps: it holds its last value."""

    recurrent = False
    fault = None  # every value was checked when the table was made

    def __init__(self, values32):
        self.values32 = values32

    def check(self, start, n):
        pass  # every value was checked when the table was made

    def get(self, start, n):
        size = self.values32.shape[0]
        inside = self.values32[min(start, size) : min(start + max(n, 0), size)]
        if inside.shape[0] == max(n, 0):
            return inside.copy()
        return np.concatenate([inside, np.full(max(n, 0) - inside.shape[0], self.values32[-1])])


class FunctionSource(Source):
    """A Python function of the index: f(index) or the keras-style recurrence f(index, lr)."""

    def __init__(self, fn, arity, labels):
        super().__init__(labels)
        self.fn = fn
        self.arity = arity
        self.needs_lr = arity != 1

    def epoch_value(self, epoch, current_lr):
        where = _checks.at_epoch(epoch)
        what = self.what
        if self.arity == 2:
            value = _checks.call(self.fn, (epoch, current_lr), where, what)
        elif self.arity == 1:
            value = _checks.call(self.fn, (epoch,), where, what)
        else:  # a signature Python cannot inspect: keras' own try-then-fall-back
            try:
                value = self.fn(epoch, current_lr)
            except TypeError:
                value = _checks.call(self.fn, (epoch,), where, what)
        return _checks.lr_value(value, where, what, self.kind)

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
        return FunctionSteps(self.fn, arity, start, count, lr_prev, (self.what, self.kind))


class FunctionSteps:
    """A function's values on the host, from the first step of a fit on.

    With a known run length (at most 2**26 steps, 256 MB) the whole run is computed, and checked,
    at once; past its end the last value holds. Otherwise the values are computed a window ahead
    as the run goes, a fault waiting for the run (`Source`), and the host keeps only the part from
    the latest step asked for: memory stays bounded by the window, however long the run. Steps
    before that part (``learning_rates`` reads the whole fit) are computed again from the fit's
    first step.
    """

    fault = None

    def __init__(self, fn, arity, start, count, lr_prev, labels=("The schedule", "learning rate")):
        self.fn, self.arity, self.origin, self.lr_origin = fn, arity, start, lr_prev
        self.labels = labels  # (what, kind) in errors
        self.compiled = None  # fn compiled by Numba once for this fit (False: it cannot be)
        self.recurrent = arity == 2
        self.known = count is not None
        self.lo = start
        self.values = self._compute(start, count if self.known else 0, lr_prev)

    def _compute(self, start, n, lr_prev):
        if n <= _PYTHON_LOOP_MAX:
            values, fault = _replay(self.fn, self.arity, start, n, lr_prev, self.labels)
        else:
            kwargs = {"start": start}
            if self.arity == 2:
                kwargs["initial_lr"] = lr_prev
            if self.compiled is None:
                # Once per fit, not per part: a run of unknown length is computed a part at a
                # time.
                self.compiled = jit_function(self.fn) or False
            try:
                return precompute(self.compiled or self.fn, n, **kwargs)
            except Exception:  # noqa: BLE001 - replayed in Python to find the step
                replay = min(n, _EXPLAIN_LIMIT)
                values, fault = _replay(self.fn, self.arity, start, replay, lr_prev, self.labels)
                if fault is None:
                    raise
                values = np.concatenate([values, np.full(n - replay, values[-1], np.float32)])
        if fault is not None:
            if self.known:
                raise fault[1]
            self.fault = earliest(self.fault, fault)
        return values

    def get(self, start, n):
        if start < self.lo:  # behind the part kept: computed again, not kept
            return self._compute(self.origin, start + n - self.origin, self.lr_origin)[
                start - self.origin :
            ]
        hi = self.lo + self.values.shape[0]
        if start + n > hi:
            if self.known:
                if self.values.shape[0] == 0:
                    return np.zeros(0, dtype=np.float32)
                pad = np.full(start + n - hi, self.values[-1], dtype=np.float32)
                self.values = np.concatenate([self.values, pad])
            else:
                lr_prev = float(self.values[-1]) if self.values.shape[0] else self.lr_origin
                more = self._compute(hi, max(start + n - hi, n, 1024), lr_prev)
                # Only the part from the step before `start` on is kept: the run reads nothing
                # older (the lr of the latest update is the oldest, at a save or an uninstall).
                keep = max(self.lo, start - 1)
                self.values = np.concatenate([self.values, more])[keep - self.lo :]
                self.lo = keep
        return self.values[start - self.lo : start - self.lo + n]

    def check(self, start, n):
        self.get(start, n)  # each part is checked when it is computed


def _replay(fn, arity, start, n, lr_prev, labels):
    """(values, fault): `fn`'s float32 values at steps start..start+n-1 in plain Python, up to
    the first step it cannot give (a bad value, or an exception from `fn`), with the last good
    value from there on; ``fault = (step, error)`` for that step, or None. Faster than compiling
    `fn` with Numba for a short table, and the same numbers."""
    out = np.empty(n, dtype=np.float32)
    lr = None if lr_prev is None else float(np.float32(lr_prev))
    what, kind = labels
    for i in range(n):
        where = f"step {start + i}"
        args = (start + i, lr) if arity == 2 else (start + i,)
        try:
            out[i] = _checks.lr_value(_checks.call(fn, args, where, what), where, what, kind)
        except Exception as err:  # noqa: BLE001 - the caller raises it, now or when reached
            out[i:] = out[i - 1] if i else 0.0
            return out, (start + i, err)
        lr = float(out[i])
    return out, None


def _until_fault(values, start, what, kind):
    """(values, fault) for a block of computed values, as `_replay` gives them."""
    i = _checks.first_bad_lr(values)
    if i is None:
        return values, None
    try:
        _checks.lr_value(values[i], f"step {start + i}", what, kind)
    except (TypeError, ValueError) as err:
        values[i:] = values[i - 1] if i else 0.0
        return values, (start + i, err)
    raise AssertionError("first_bad_lr and lr_value disagree")  # pragma: no cover


def earliest(fault, other):
    """The fault of the earlier step (either may be None)."""
    if fault is None or (other is not None and other[0] < fault[0]):
        return other
    return fault
