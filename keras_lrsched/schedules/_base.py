"""The base class of every keras_lrsched schedule, and the step arithmetic they share.

Conventions (tested in tests/test_conventions.py):

* ``step`` is the number of optimizer updates already applied (Keras ``optimizer.iterations``):
  update ``k`` uses ``lr(k)``. Steps are whole numbers; a float step is floored and a negative one
  is treated as 0.
* A boundary ``b`` starts a new segment AT step ``b``: segments are half-open, ``[b_i, b_{i+1})``.
* Past its end a decaying schedule holds its end value; periodic ones (``Cyclic``,
  ``CosineRestarts``) go on; a ``Table`` holds its last value.

Why integer arithmetic: float32 holds every whole number only up to 2**24, so a closed form that
divides a float32 step by a period puts steps near a boundary into the wrong segment once runs get
long. Here the segment is always found with integer arithmetic on the step, and only the small
offset inside the segment is turned into a float.
"""

import functools
import math

import keras
import numpy as np
from keras import ops

from .. import _checks

FLOAT = "float32"


def int_dtype():
    """The widest integer dtype the active backend computes in (int32 under JAX without x64)."""
    if keras.backend.backend() == "jax":
        import jax

        return "int64" if jax.config.jax_enable_x64 else "int32"
    return "int64"


def as_steps(step):
    """`step` (scalar or vector, int or float, tensor or array) as a non-negative integer tensor."""
    x = ops.convert_to_tensor(step)
    if "int" not in keras.backend.standardize_dtype(x.dtype):
        x = ops.floor(x)
    x = ops.cast(x, int_dtype())
    return imax(x, int_const(0))


_INT32_MAX = 2**31 - 1


def int_const(value):
    """Whole-number constants (a step count, period, boundaries) as a tensor of the step dtype.

    Keras turns a bare Python int into an int32 tensor under the torch backend, where it wraps
    silently past 2**31 (``StepDecay(1.0, factor=0.5, step_size=3e9)`` gave 2.0 at step 5), and JAX
    refuses it. JAX without x64 counts steps in int32, so no step goes past 2**31 - 1 there; a
    larger constant is saturated at 2**31 - 1, which keeps every comparison with it right at all
    steps below that last one.
    """
    dtype = int_dtype()
    value = np.asarray(value, dtype=np.int64)
    if dtype == "int32":
        value = np.clip(value, -_INT32_MAX - 1, _INT32_MAX)
    return ops.convert_to_tensor(value, dtype=dtype)


def imin(x, y):
    """Elementwise minimum of integer tensors, in their own dtype.

    Not ``ops.minimum``: keras' torch backend computes ``ops.minimum``/``ops.maximum`` of two
    int64 tensors in int32, so a step past 2**31 wrapped to a negative number there.
    """
    return ops.where(x < y, x, y)


def imax(x, y):
    """Elementwise maximum of integer tensors, in their own dtype (see `imin`)."""
    return ops.where(x < y, y, x)


def const_minus(value, x):
    """``value - x`` as float32, for a Python int `value` and an integer tensor ``x <= value``.

    Exact in integers where `value` fits the step dtype; under JAX's int32 steps a larger
    `value` (which no step reaches) is subtracted in float32 instead of being saturated.
    """
    if int_dtype() == "int32" and value > _INT32_MAX:
        return float(value) - to_float(x)
    return to_float(int_const(value) - x)


def to_float(x):
    return ops.cast(x, FLOAT)


def offset(steps, boundary):
    """`steps - boundary` as float32, exact in the integer part of a real-valued boundary.

    A boundary such as ``pct_start * total_steps - 1`` need not be whole; it is split into an
    integer part, subtracted from the integer step, and a fraction in [0, 1), subtracted in float.
    """
    whole = math.floor(boundary)
    frac = boundary - whole
    result = to_float(steps - int_const(whole))
    return result - frac if frac else result


def power(base, exponent):
    """``base ** exponent`` for a Python float `base` >= 0 and a float32 tensor `exponent` >= 0.

    Taken as ``exp(exponent * log(base))`` with the log in float64. Rounding `base` to float32
    first and raising it to a large power multiplies its rounding error by the exponent: a
    per-step factor of 0.999 would be 4e-5 off after 3000 steps, 1e-3 off for 0.99999 after 1e5.
    """
    if base == 0.0:
        return to_float(ops.where(exponent > 0, 0.0, 1.0))
    return ops.exp(exponent * math.log(base))


def cos_anneal(start, end, fraction):
    """Cosine from `start` at fraction 0 to `end` at fraction 1 (float32 tensor `fraction`)."""
    return end + (start - end) * 0.5 * (1.0 + ops.cos(math.pi * fraction))


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base of every keras_lrsched schedule.

    A subclass implements `_compute(steps)` (keras.ops on a non-negative integer tensor, returning
    float32, no Python branching on tensor values) and `_fill(out, start)` (fills a preallocated
    NumPy array with the lr at steps ``start .. start + len(out) - 1`` through a Numba kernel that
    computes in float64).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and cls._argument_hints():
            cls.__init__ = hint_names(cls._argument_hints, cls.__name__)(init)

    # The names other libraries give this class's arguments (torch, Hugging Face, optax, keras,
    # timm, fastai), as {name: (what to write here, where the name comes from)}; build it with
    # `peer_names`. A call with one of them is a TypeError that says what to write instead.
    _peer_names = {}

    @classmethod
    def _argument_hints(cls):
        """`_peer_names` and the names of keras_lrsched 0.1 (`_renamed`), one mapping."""
        old = {k: (v, "keras_lrsched 0.1") for k, v in cls._renamed.items()}
        return {**old, **cls._peer_names}

    def __call__(self, step):
        return self._compute(as_steps(step))

    def table(self, n, start=0, dtype="float32"):
        """The lr at steps ``start .. start + n - 1`` as a NumPy array.

        Computed by the family's Numba kernel in float64 and written straight into an array of
        `dtype` ("float32" or "float64"), so a 1e8-step table costs one pass over its memory.
        The first call compiles the kernel; importing keras_lrsched compiles nothing.
        """
        n = _checks.integer("n", n, minimum=0)
        start = _checks.integer("start", start, minimum=0)
        try:
            np_dtype = np.dtype(dtype)
        except TypeError:
            np_dtype = None
        if np_dtype not in (np.float32, np.float64):
            shown = np_dtype.name if np_dtype is not None else dtype
            raise ValueError(
                f"Argument `dtype` must be float32 or float64. Received: dtype={shown!r}"
            )
        out = np.empty(n, dtype=np_dtype)
        if n:
            self._fill(out, start)
        return out

    def _compute(self, steps):
        raise NotImplementedError

    def _fill(self, out, start):
        raise NotImplementedError

    def _total_steps(self):
        """The steps this schedule was built for, past which it holds its last value; None for
        a schedule that goes on (periodic, or decaying for ever) or holds by design (steps)."""
        return None

    # Config keys of keras_lrsched 0.1 that were renamed in 0.2 (docs/api.md): files saved by
    # 0.1 still load.
    _renamed = {}

    # What the values are, for labels (`plot`'s y axis): "momentum" for the momentum schedules.
    _value_name = "learning rate"

    @classmethod
    def _current_names(cls, config):
        return {cls._renamed.get(k, k): v for k, v in config.items()}

    @classmethod
    def from_config(cls, config):
        return cls(**cls._current_names(config))

    def __repr__(self):
        # Attributes, not the config: a child schedule shows as itself, not as its config dict.
        args = ", ".join(
            f"{k}={getattr(self, k, v)!r}" for k, v in self.get_config().items() if k != "name"
        )
        return f"{type(self).__name__}({args})"


def _parameters(fn):
    return fn.__code__.co_varnames[: fn.__code__.co_argcount + fn.__code__.co_kwonlyargcount]


def peer_names(**by_source):
    """`Schedule._peer_names` from ``{where: {their name: what to write here}}``.

    A name of several sources with the same answer names them all. What to write is an
    argument name (shown as ``name=``) or a piece of code, shown as it is.
    """
    merged = {}
    for where, names in by_source.items():
        for name, write in names.items():
            if name in merged and merged[name][0] == write:
                merged[name] = (write, f"{merged[name][1]}, {where}")
            else:
                merged[name] = (write, where)
    return merged


def names_message(owner, hints, names):
    """What `owner` says of the keyword `names` found in `hints`; None when there are none."""
    found = [k for k in names if k in hints]
    if not found:
        return None
    parts = []
    for k in found:
        write, where = hints[k]
        code = f"{write}=" if write.isidentifier() else write
        parts.append(f"`{k}` ({where}): write `{code}`")
    return f"{owner}() has no argument {'; '.join(parts)}"


def hint_names(hints, owner):
    """Decorate `fn` so that a keyword that `fn` lacks and `hints()` knows (another library's
    name for one of its arguments) raises a TypeError saying what to write instead."""

    def wrap(fn):
        @functools.wraps(fn)
        def checked(*args, **kwargs):
            own = _parameters(fn)
            unknown = [k for k in kwargs if k not in own]
            message = unknown and names_message(owner, hints(), unknown)
            if message:
                raise TypeError(message)
            return fn(*args, **kwargs)

        return checked

    return wrap


def total_steps(schedule):
    """`Schedule._total_steps` of any schedule: None for one that is not keras_lrsched's."""
    return schedule._total_steps() if isinstance(schedule, Schedule) else None
