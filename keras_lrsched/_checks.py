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
