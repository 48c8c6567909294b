"""The one place where kernel compilation flags live, and where Numba is loaded.

Numba is imported only when a kernel first needs it. Until then a kernel's own source runs as
plain Python for tables of at most ``PYTHON_MAX`` values: the first fit in a fresh process (a
window of one epoch's steps, a plan of the epochs) pays neither ``import numba`` (~0.35 s) nor
loading the kernels' machine code (~0.5 s warm, seconds cold). The two give the same numbers, bit
for bit (the same float64 operations in the same order, the same libm, no fast-math), as
tests/test_same_numbers.py checks for every schedule. The first larger table loads Numba, and
from then on every table of the process runs compiled. ``NUMBA_DISABLE_JIT=1`` runs every table
as Python.
"""

import functools
import importlib
import os
import sys
import threading
import types

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

# A kernel loop over steps. Before Numba is loaded this is `range`; loading Numba binds each
# kernel module's `prange` to numba.prange (which is `range` again when called from Python).
prange = range

# Tables up to this many values run as Python until Numba is loaded: ~1 us per value, so the
# largest costs ~15 ms, against ~0.85 s for Numba and a kernel from a warm cache.
PYTHON_MAX = 1 << 14

_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
_HELPERS = {}  # each helper's Python function -> its Numba version, once loaded
_KERNEL_MODULES = set()  # the modules whose globals name helpers and prange
_lock = threading.RLock()
numba = None  # the module, once a kernel needed it


def load_numba():
    """Import Numba and bind every kernel module's helpers and `prange` to their compiled forms.

    Done once per process, before the first kernel compiles: Numba reads a kernel's globals when it
    compiles it.
    """
    global numba
    with _lock:
        if numba is not None:
            return numba
        import numba as nb

        for fn in _HELPERS:
            _HELPERS[fn] = nb.njit(**HELPER_OPTIONS)(fn)
        for name in sorted(_KERNEL_MODULES):
            module = sys.modules.get(name) or importlib.import_module(name)
            for attr, value in list(vars(module).items()):
                if attr == "prange" and value is range:
                    setattr(module, attr, nb.prange)
                elif isinstance(value, types.FunctionType) and value in _HELPERS:
                    setattr(module, attr, _HELPERS[value])
        numba = nb
        return nb


def compiled():
    """Whether kernels run through Numba now (it is loaded, and not disabled)."""
    return numba is not None and not _DISABLED


def _register_module(fn):
    _KERNEL_MODULES.add(fn.__module__)

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
    """A table-filling kernel: its source as Python for short tables until Numba is loaded,
    else compiled (parallel, and on one thread when `out` is short, see PARALLEL_MIN).

    Everything else (``signatures``, ``inspect_asm``, ...) is the Numba dispatcher's; asking for
    it loads Numba. ``py_func`` is the Python function.
    """

    def __init__(self, fn, options):
        self.py_func = fn
        self.options = options
        self._dispatcher = None
        functools.update_wrapper(self, fn)
        _register_module(fn)

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            nb = load_numba()
            with _lock:
                if self._dispatcher is None:
                    self._dispatcher = nb.njit(**self.options)(self.py_func)
        return self._dispatcher

    def __call__(self, out, *args):
        if _DISABLED or (numba is None and out.shape[0] <= PYTHON_MAX):
            try:
                return self.py_func(out, *args)
            except (OverflowError, ValueError):
                if _DISABLED:
                    raise
                # Python's math raises where compiled code gives inf or nan (the exp of a growing
                # ExponentialDecay, clipped to `end` after): such a table runs compiled.
        dispatcher = self.dispatcher
        if out.shape[0] >= PARALLEL_MIN or not self.options["parallel"]:
            return dispatcher(out, *args)
        threads = numba.get_num_threads()
        if threads == 1:
            return dispatcher(out, *args)
        numba.set_num_threads(1)  # for this Python thread only
        try:
            return dispatcher(out, *args)
        finally:
            numba.set_num_threads(threads)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dispatcher, name)


# A kernel that takes a user's Numba-compiled function as an argument is compiled without the disk
# cache (`cache=False`): its cache index would pickle a reference to each function's module, and
# a later process without that module (another script, another test file) then failed to load
# the index (ModuleNotFoundError) or met a function that had vanished (ReferenceError).


def kernel(fn=None, *, cache=True):
    """`fn` as a parallel table-filling kernel ``fn(out, start, *params)``, compiled lazily."""
    if fn is None:
        return functools.partial(kernel, cache=cache)
    return _Kernel(fn, {**KERNEL_OPTIONS, "cache": cache})


def serial_kernel(fn=None, *, cache=True):
    """`fn` as a single-threaded kernel (for scans, where each value needs the last)."""
    if fn is None:
        return functools.partial(serial_kernel, cache=cache)
    return _Kernel(fn, {**KERNEL_OPTIONS, "parallel": False, "cache": cache})


def helper(fn):
    """`fn` as a scalar function inlined into kernels: itself until Numba is loaded."""
    _HELPERS[fn] = fn
    _register_module(fn)
    return fn
