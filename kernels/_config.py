"""The one place where kernel compilation flags live."""

import functools

import numba

# parallel: prange splits the steps over all cores (for tables of PARALLEL_MIN steps or more).
#
# cache: compiled machine code is kept next to the module (or in NUMBA_CACHE_DIR). It works with
# parallel=True in Numba 0.68.1 (bench/bench_startup.py, 2 cores): a kernel compiles in ~0.6-3 s
# cold and loads in 3-18 ms from the cache, after a one-time ~0.3 s for the first function a process
# loads. So it stays on. Numba checks only the kernel's own file for staleness, not kernels/_math.py
# whose helpers are inlined into it: after editing _math.py, delete kernels/__pycache__/*.nb[ic]
# (or NUMBA_CACHE_DIR), or cached kernels keep the old helpers.
#
# fastmath: off. The hot loops vectorize without it (LLVM needs no reassociation for a map), and
# at 2 threads on an idle machine they are bound by memory, not arithmetic. 'contract' (FMA) was
# measured 25% faster only when the cores were oversubscribed (load 8 on 2 cores: 3.3 -> 2.5 ns
# per step at 1e8), and costs bitwise reproducibility: float64 tables would differ in the last bit
# between CPUs with and without FMA, between the vector body and the scalar remainder of a loop
# (so table(n, start=k) could differ from table(n + k)[k:]), and from NUMBA_DISABLE_JIT runs. 'afn'
# has nothing to act on (no libm calls left in the hot loops but Polynomial's pow for powers other
# than 1: see _math.py; there is no SVML to swap in). 'arcp' would turn the
# divisions into reciprocal products, which breaks exact ends (k / k == 1.0: the cosine reaching
# `end` exactly, the cycle reaching `high`); 'reassoc', 'nnan', 'ninf', 'nsz' buy nothing here.
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
