"""Tables and Python callables: a lookup that holds its last value, and generic fills/scans."""

import numpy as np

from ._config import kernel, prange, serial_kernel


@kernel
def fill_lookup(out, start, values):
    last = values.shape[0] - 1
    for i in prange(out.shape[0]):
        out[i] = values[min(start + i, last)]


@kernel(cache=False)
def fill_function(out, start, fn):
    # `fn` is a Numba-compiled f(step); each distinct function compiles this kernel once.
    for i in prange(out.shape[0]):
        out[i] = fn(start + i)


@serial_kernel(cache=False)
def scan_recurrence(out, fn, initial_lr):
    # keras-style schedule(epoch, lr): each value depends on the previous one, so this is serial.
    # The lr handed on is rounded to float32, as it would be after a trip through the optimizer's
    # float32 learning-rate variable.
    lr = float(np.float32(initial_lr))
    for k in range(out.shape[0]):
        lr = float(np.float32(fn(k, lr)))
        out[k] = lr
