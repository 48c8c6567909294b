"""The one place where kernel compilation flags live."""

import functools

import numba

# parallel: prange splits the steps over all cores. cache: compiled machine code is kept next to
# the module (or in NUMBA_CACHE_DIR) so a new process starts in milliseconds instead of ~1 s.
# fastmath stays off for now: tables must match the float64 formula to float32 precision.
KERNEL_OPTIONS = {"parallel": True, "cache": True, "nogil": True, "fastmath": False}
HELPER_OPTIONS = {"cache": True, "nogil": True, "inline": "always", "fastmath": False}

prange = numba.prange

# Kernels whose segment changes along the steps (restarts, cycles, phases) run `prange` over blocks
# of this many steps and fill each segment's contiguous run inside a block with a plain loop that
# LLVM vectorizes. 16384 float32 steps are 64 KiB: enough that the per-run setup (a searchsorted, an
# integer division, a pow) is noise, small enough that 2 threads split even a 1e5-step table evenly.
BLOCK = 1 << 14


# Tables shorter than this are filled on one thread. A parallel region costs ~20 us on an idle
# machine, but Numba's default `omp` layer (GNU OpenMP) spins its workers, and on a busy machine (a
# training run, other processes) each region then waits a scheduler time slice: a 1e5-step table
# took 10-50 ms instead of 0.1 ms with 2 threads and 4 runnable processes on 2 cores. One thread
# fills 1M steps in ~0.6 ms, so below that threads have little to win and much to lose.
PARALLEL_MIN = 1 << 20


class _Kernel:
    """A parallel kernel that runs on one thread when `out` is short (see PARALLEL_MIN).

    Everything else (``py_func``, ``signatures``, ``inspect_asm``, ...) is the Numba dispatcher's.
    """

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        functools.update_wrapper(self, dispatcher.py_func)

    def __call__(self, out, *args):
        if out.shape[0] >= PARALLEL_MIN:
            return self.dispatcher(out, *args)
        threads = numba.get_num_threads()
        if threads == 1:
            return self.dispatcher(out, *args)
        numba.set_num_threads(1)  # for this Python thread only
        try:
            return self.dispatcher(out, *args)
        finally:
            numba.set_num_threads(threads)

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)


# A kernel that takes a user's Numba-compiled function as an argument is compiled without the disk
# cache (`cache=False`): its cache index would pickle a reference to each function's module, and
# a later process without that module (another script, another test file) then failed to load
# the index (ModuleNotFoundError) or met a function that had vanished (ReferenceError).


def kernel(fn=None, *, cache=True):
    """Compile `fn` lazily as a parallel table-filling kernel ``fn(out, start, *params)``."""
    if fn is None:
        return functools.partial(kernel, cache=cache)
    if numba.config.DISABLE_JIT:
        return fn
    return _Kernel(numba.njit(**{**KERNEL_OPTIONS, "cache": cache})(fn))


def serial_kernel(fn=None, *, cache=True):
    """Compile `fn` lazily as a single-threaded kernel (for scans, where each value needs the last)."""
    if fn is None:
        return functools.partial(serial_kernel, cache=cache)
    return numba.njit(**{**KERNEL_OPTIONS, "parallel": False, "cache": cache})(fn)


def helper(fn):
    """Compile `fn` lazily as a scalar function inlined into kernels."""
    return numba.njit(**HELPER_OPTIONS)(fn)
