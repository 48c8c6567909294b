"""Argument checks shared by every constructor.

Each check raises `TypeError` for a value of the wrong kind and `ValueError` for a value out of
range, and the message names the argument and the value received, in Keras' own wording:
"Argument `steps` must be > 0. Received: steps=0".
"""

import math
import numbers

import numpy as np


def _fail(name, value, requirement, error=ValueError):
    raise error(f"Argument `{name}` must be {requirement}. Received: {name}={value!r}")


def real(name, value):
    """A finite real number (not a bool, not a tensor), returned as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        _fail(name, value, "a real number", TypeError)
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond float64, e.g. 10**400
        as_float = math.inf
    if not math.isfinite(as_float):
        _fail(name, value, "finite")
    return as_float


# Schedules compute in float32: a larger lr would be inf on the graph path.
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Steps are int64 in the kernels (and on 64-bit step counters).
_INT64_MAX = int(np.iinfo(np.int64).max)


def first_bad_lr(values):
    """The index of the first entry of a 1-D float array that is not a finite lr >= 0 that
    float32 can hold, or None.

    Two reductions first (min/max propagate NaN, so both comparisons fail on one): a clean
    1e8-entry table costs two passes over its memory and no temporary array; only a table that
    fails is searched.
    """
    if values.size == 0 or (values.min() >= 0 and values.max() <= FLOAT32_MAX):
        return None
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > FLOAT32_MAX))
    return int(bad[0])


def learning_rate(name, value):
    """A finite learning rate >= 0 that float32 can hold."""
    value = real(name, value)
    if value < 0:
        _fail(name, value, ">= 0")
    if value > FLOAT32_MAX:
        _fail(name, value, f"<= {FLOAT32_MAX:.8g} (the largest float32)")
    return value


def boolean(name, value):
    """A bool (NumPy's included). Strings such as "False" are refused, not silently truthy."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    _fail(name, value, "True or False", TypeError)


def positive(name, value):
    """A finite real number > 0."""
    value = real(name, value)
    if value <= 0:
        _fail(name, value, "> 0")
    return value


def integer(name, value, minimum=0):
    """A whole number >= `minimum`, returned as a Python int. 3.0 is accepted; 2.5 is not."""
    if isinstance(value, (bool, np.bool_)):
        _fail(name, value, "an integer", TypeError)
    if isinstance(value, numbers.Integral):
        value = int(value)
    elif isinstance(value, numbers.Real):
        if not math.isfinite(value) or value != int(value):
            _fail(name, value, "a whole number")
        value = int(value)
    else:
        _fail(name, value, "an integer", TypeError)
    if value < minimum:
        _fail(name, value, f">= {minimum}" if minimum != 1 else "> 0")
    if value > _INT64_MAX:
        _fail(name, value, "< 2**63 (steps are 64-bit integers)")
    return value


def choice(name, value, choices):
    if not isinstance(value, str):
        _fail(name, value, f"one of {list(choices)}", TypeError)
    if value not in choices:
        _fail(name, value, f"one of {list(choices)}")
    return value


def open_fraction(name, value):
    """A real number strictly between 0 and 1."""
    value = real(name, value)
    if not 0.0 < value < 1.0:
        _fail(name, value, "in the open interval (0, 1)")
    return value


def sequence(name, value, item_check, min_len=0):
    """A list or tuple (or 1-D array) whose items pass `item_check(f"{name}[i]", item)`."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            _fail(name, value, "a 1-D sequence")
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        _fail(name, value, "a list or tuple", TypeError)
    if len(value) < min_len:
        _fail(name, value, f"a sequence of at least {min_len} item(s)")
    return [item_check(f"{name}[{i}]", v) for i, v in enumerate(value)]


def increasing(name, values, strict=True):
    for a, b in zip(values, values[1:]):
        if (b <= a) if strict else (b < a):
            _fail(name, values, "strictly increasing" if strict else "sorted")
    return values


# ---------------------------------------------------------------------- learning rates given


def lr_value(value, where, what="The schedule", kind="learning rate"):
    """One lr that a schedule or function gave, as a Python float, or an error naming `where`
    ("epoch 3", "step 17") and the value: TypeError for what is not a number, ValueError for a
    number that is not a finite lr >= 0 that float32 can hold (the lr lives in a float32
    variable: 1e39 is finite here and inf there).

    The one wording of every "the schedule gave a bad lr" error, for single values and tables;
    `kind` names the value in it ("learning rate", "momentum", ...).
    """
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{what} must give a number. Received: {value!r} at {where}")
    if isinstance(value, (float, int)) or isinstance(value, numbers.Real):  # the first is fast
        array = np.asarray(float(value))
    else:
        try:
            import keras

            array = np.asarray(keras.ops.convert_to_numpy(value))
        except Exception:  # noqa: BLE001 - anything that is not array-like is not a number
            raise TypeError(f"{what} must give a number. Received: {value!r} at {where}") from None
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{what} must give a number. Received: {value!r} at {where}")
    if array.shape != ():
        raise ValueError(
            f"{what} must give a scalar {kind}. Received: a value of shape {array.shape} "
            f"({value!r}) at {where}"
        )
    lr = float(array)
    if not math.isfinite(lr) or lr < 0 or lr > FLOAT32_MAX:
        raise ValueError(
            f"{what} must give a finite {kind} >= 0 (at most the largest float32, "
            f"3.4e38). Received: {value!r} at {where}"
        )
    return lr


def lr_values(values, start, what="The schedule", kind="learning rate"):
    """`values` (a 1-D float array, the lr at steps start, start + 1, ...) if every entry is a
    valid lr; else `lr_value`'s error for the first bad one, naming its step."""
    i = first_bad_lr(values)
    if i is not None:
        lr_value(values[i], f"step {start + i}", what, kind)
    return values


def at_epoch(epoch):
    """Where an epoch is, in errors: as keras prints it (1-based), then the 0-based index that
    the schedule was given."""
    return f"Epoch {epoch + 1} (index {epoch})"


def call(fn, args, where, what="The schedule"):
    """`fn(*args)`. What it raises is raised again with a note naming `where` (PEP 678: the
    traceback shows it, and ``pytest.raises(match=)`` sees it): the same object on Python 3.11+,
    an exception of the same type with `where` in its message on 3.10."""
    try:
        return fn(*args)
    except Exception as err:
        note = f"{what} raised {type(err).__name__} at {where}."
        if hasattr(err, "add_note"):
            err.add_note(note)
            raise
        try:  # Python 3.10: a new exception of the same type, where it takes a message
            new = type(err)(f"{err} ({note})")
        except Exception:  # noqa: BLE001 - a type with other arguments: raised unchanged
            raise err from None
        raise new from err


def lr_array(name, values, dtype=np.float64, kind="learning rates"):
    """Argument `name`: a non-empty 1-D array of finite learning rates >= 0 that float32 can
    hold, as `dtype` (None: a float array as it is, which may be `values` itself).

    A float array is checked in its own precision before it is cast: a float64 1e39 is named as
    such, not as the inf it would become in float32.
    """
    try:
        array = np.asarray(values)
        if array.dtype.kind != "f" or array.dtype.itemsize < 4:
            array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(name, values, "a 1-D sequence of numbers", TypeError)
    if array.ndim != 1 or array.size == 0:
        shown = np.array2string(array, threshold=8, separator=", ") if array.ndim else values
        raise ValueError(
            f"Argument `{name}` must be a non-empty 1-D sequence. Received: {name}={shown!s} "
            f"with shape {array.shape}"
        )
    i = first_bad_lr(array)
    if i is not None:
        raise ValueError(
            f"Argument `{name}` must hold finite {kind} >= 0 that float32 can hold. "
            f"Received: {name}[{i}]={array[i]!r}"
        )
    return array if dtype is None else array.astype(dtype, copy=False)


def positional_arity(fn):
    """How many positional arguments `fn` requires (1: f(step); 2: f(epoch, lr)); None when
    Python cannot tell (a builtin, or only *args)."""
    import inspect

    target = getattr(fn, "py_func", fn)
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in kinds and p.default is inspect.Parameter.empty]
    has_varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    if has_varargs and not required:
        return None
    return len(required)
