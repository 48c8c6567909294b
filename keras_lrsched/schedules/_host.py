"""A keras schedule of any library evaluated on the host over a range of steps: the one place
that knows how (tables, precompute, a Warmup or Join child, and the callback all come here)."""

import warnings

import keras
import numpy as np

from .. import _checks

_MIN_SIZE = 64


class HostSchedule:
    """`schedule` at steps ``start .. start + n - 1`` as a NumPy array, the fastest way it allows.

    Three ways, tried in this order; a way that fails is not tried again for this object:

    * the schedule called once on the vector of steps, padded with its last step to a power of
      two (at least 64): JAX's eager mode compiles every new shape, so a handful of shapes keeps
      repeated calls cheap;
    * under JAX, ``jax.vmap`` of the schedule, compiled once per shape: it turns the ``ops.cond``
      that makes some keras schedules refuse a vector (``CosineDecay(warmup_steps=...)``) into a
      select;
    * step by step, each value through ``schedule(step)``; an error names the step.
    """

    def __init__(self, schedule, what="The schedule"):
        self.schedule = schedule
        self.what = what
        self.way = "vector"
        self._mapped = None
        self._warned = False

    def values(self, start, n, loop=True):
        """The raw values (the schedule's own dtype); None when only the step-by-step way is
        left and `loop` is False."""
        size = max(_MIN_SIZE, 1 << max(n - 1, 0).bit_length())
        steps = np.minimum(np.arange(start, start + size, dtype=np.int64), start + n - 1)
        if self.way == "vector":
            out = _as_array(lambda: self.schedule(steps), size)
            if out is not None:
                return out[:n]
            self.way = "mapped" if keras.backend.backend() == "jax" else "loop"
        if self.way == "mapped":
            out = _as_array(lambda: self._vmapped()(steps), size)
            if out is not None:
                return out[:n]
            self.way = "loop"
        if not loop:
            return None
        if not self._warned and n > _MIN_SIZE:
            self._warned = True
            warnings.warn(
                f"{type(self.schedule).__name__} does not take a vector of steps; evaluating it "
                "step by step, which is slow for long tables.",
                RuntimeWarning,
                stacklevel=3,
            )
        return np.asarray([self._one(k) for k in range(start, start + n)])

    def _one(self, step):
        where = f"step {step}"
        return _checks.lr_value(_checks.call(self.schedule, (step,), where, self.what), where,
                                self.what)

    def _vmapped(self):
        if self._mapped is None:
            import jax

            self._mapped = jax.jit(jax.vmap(self.schedule))
        return self._mapped


def _as_array(compute, size):
    """`compute()` as a NumPy vector of `size` numbers, or None if it fails or is not one."""
    try:
        out = np.asarray(keras.ops.convert_to_numpy(compute()))
    except Exception:  # noqa: BLE001 - whatever the backend raises for a vector in a branch
        return None
    if out.shape == ():
        out = np.full(size, out)
    if out.shape != (size,) or out.dtype.kind not in "fiu":
        return None
    return out
