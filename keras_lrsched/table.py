"""Precomputed lr tables: `precompute()` and the `Table` lookup schedule."""

import os
import warnings

import keras
import numpy as np
from keras import ops

from . import _checks
from ._api import export
from .kernels._config import jit_function, load_numba
from .schedules._base import FLOAT, Schedule, imin, int_const
from .schedules.compose import fill_child


@export
class Table(Schedule):
    """A lookup into a precomputed table of learning rates; holds its last value.

    ``lr(s) = values[min(s, len(values) - 1)]``. The values are kept in float32 for ``__call__``
    and embedded in the graph as a constant, so a ``Table`` given straight to an optimizer suits
    tables up to about 1e6 entries (its config, and so a saved ``.keras`` file, holds every value).
    For long runs, give the table to ``LearningRateScheduler(update="step")``, which keeps it in a
    variable a window at a time, and saves only a small closed form.

    Args:
        values: the learning rates, a 1-D sequence or array of finite floats >= 0 (at least one).

    >>> import keras_lrsched as lrs
    >>> t = lrs.Table([0.3, 0.2, 0.1])
    >>> [round(float(t(k)), 6) for k in (0, 1, 50)]
    [0.3, 0.2, 0.1]
    """

    def __init__(self, values):
        self.values = _checks.lr_array("values", values)

    def __len__(self):
        return self.values.shape[0]

    def _compute(self, steps):
        table = ops.convert_to_tensor(self.values.astype(np.float32))
        return ops.take(table, imin(steps, int_const(len(self) - 1)))

    def _fill(self, out, start):
        from .kernels import lookup

        lookup.fill_lookup(out, start, self.values)

    def _total_steps(self):
        return len(self)

    def save(self, path):
        """Write the values to `path` as a ``.npy`` file (float64)."""
        np.save(os.fspath(path), self.values, allow_pickle=False)

    @classmethod
    def load(cls, path):
        """Read a table written by `save` (or any 1-D ``.npy`` array of learning rates)."""
        return cls(np.load(os.fspath(path), allow_pickle=False))

    def get_config(self):
        return {"values": self.values.tolist()}


def _run_compiled(run, fallback, what):
    """Run a Numba-jitted fill; if typing fails, warn once and run the Python loop instead."""
    numba = load_numba()

    try:
        run()
    except (numba.core.errors.TypingError, numba.core.errors.UnsupportedError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(
            f"precompute: Numba could not compile {what} ({first_line}); running it as a plain "
            "Python loop, which is much slower for long tables.",
            RuntimeWarning,
            stacklevel=3,
        )
        fallback()


def precompute(fn, steps, *, initial_lr=None, start=0):
    """The lr at steps ``start .. start + steps - 1`` as a float32 NumPy array.

    Args:
        fn: one of
            * a keras_lrsched schedule (its Numba kernel fills the table) or any keras
              ``LearningRateSchedule`` (evaluated with keras.ops in chunks);
            * a closed-form Python function ``f(step) -> lr``: compiled with Numba when it can be,
              otherwise looped in Python with a ``RuntimeWarning``;
            * a keras-style recurrence ``f(epoch, lr) -> lr``, run as a sequential scan from
              ``initial_lr``: ``out[0] = f(0, initial_lr)``, ``out[k] = f(k, out[k-1])``. The lr
              handed on is rounded to float32, as keras' callback reads it back from the optimizer.
        steps: how many steps (a whole number >= 0).
        initial_lr: the lr before the first step computed (step ``start``); required for a
            recurrence. With ``start > 0`` the scan continues from there:
            ``out[0] = f(start, initial_lr)``, which is how a resumed run picks up.
        start: the first step (a whole number >= 0); error messages name absolute steps.

    Raises:
        ValueError: for a bad `steps`, a missing `initial_lr`, or a value that is not a finite
            lr >= 0 (the message names the step and the value).
        TypeError: for an `fn` that is none of the above.

    >>> import keras_lrsched as lrs
    >>> lrs.precompute(lambda epoch, lr: lr * 0.5, 3, initial_lr=1.0).tolist()
    [0.5, 0.25, 0.125]
    """
    steps = _checks.integer("steps", steps, minimum=0)
    start = _checks.integer("start", start, minimum=0)
    out = np.empty(steps, dtype=np.float32)
    if isinstance(fn, keras.optimizers.schedules.LearningRateSchedule):
        if steps:
            fill_child(fn, out, start)
        return _checks.lr_values(out, start, type(fn).__name__)
    if not callable(fn):
        raise TypeError(
            "Argument `fn` must be a schedule, a function f(step) or a function f(epoch, lr). "
            f"Received: fn={fn!r}"
        )
    arity = _checks.positional_arity(fn)
    name = getattr(fn, "__name__", type(fn).__name__)
    if arity == 1:
        _fill_function(fn, out, start)
        return _checks.lr_values(out, start, _describe(fn))
    if arity == 2:
        if initial_lr is None:
            raise ValueError(
                f"Argument `initial_lr` is required when `fn` is a recurrence f(epoch, lr). "
                f"Received: initial_lr=None for fn={name}"
            )
        initial_lr = _checks.learning_rate("initial_lr", initial_lr)
        _scan_recurrence(fn, out, initial_lr, start)
        return _checks.lr_values(out, start, _describe(fn))
    raise TypeError(
        f"Argument `fn` must take one argument f(step) or two f(epoch, lr). Received: fn={name} "
        f"requiring {arity} positional arguments"
    )


def _python_value(fn, *args):
    return _checks.lr_value(fn(*args), f"step {args[0]}", _describe(fn))


def _describe(fn):
    return f"function `{getattr(fn, '__name__', type(fn).__name__)}`"


def _fill_function(fn, out, start=0):
    python = getattr(fn, "py_func", fn)  # a dispatcher that fails typing runs as Python

    def fallback():
        for k in range(out.shape[0]):
            out[k] = _python_value(python, start + k)

    compiled = jit_function(fn)
    if compiled is None:
        fallback()
        return

    def run():
        from .kernels import lookup

        lookup.fill_function(out, start, compiled)

    _run_compiled(run, fallback, f"the function {getattr(fn, '__name__', fn)!r}")


def _scan_recurrence(fn, out, initial_lr, start=0):
    python = getattr(fn, "py_func", fn)  # a dispatcher that fails typing runs as Python

    def fallback():
        lr = float(np.float32(initial_lr))
        for k in range(out.shape[0]):
            lr = float(np.float32(_python_value(python, start + k, lr)))
            out[k] = lr

    compiled = jit_function(fn)
    if compiled is None:
        fallback()
        return
    if start:
        # The scan kernel counts from 0; a jitted shim adds the offset (Numba freezes `start`).
        numba = load_numba()

        inner = compiled

        def shifted(k, lr):
            return inner(k + start, lr)

        compiled = numba.njit(cache=False)(shifted)

    def run():
        from .kernels import lookup

        lookup.scan_recurrence(out, compiled, initial_lr)

    _run_compiled(run, fallback, f"the function {getattr(fn, '__name__', fn)!r}")
