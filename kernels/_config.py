"""The one place where kernel compilation flags live, and where Numba is loaded.

Numba is imported only when a kernel first needs it. Until then a kernel's own source runs as
plain Python for tables of at most ``PYTHON_MAX`` values: the first fit in a fresh process (a
window of one epoch's steps, a plan of the epochs) pays neither ``import numba`` (~0.35 s) nor
loading the kernels' machine code (~0.5 s warm, seconds cold). The two give the same numbers, bit
for bit (the same float64 operations in the same order, the same libm, no fast-math), as
tests/test_same_numbers.py checks for every schedule. The first larger table loads Numba, and
from then on every table of the process runs compiled. ``NUMBA_DISABLE_JIT=1`` runs every table
as Python. Whatever loads Numba first, and in whatever order the kernel modules are imported, a
kernel compiles from its own source alone (`_numba_form`); tests/test_first_use.py runs that
matrix in fresh processes, with a cold and a warm disk cache.
"""

import functools
import os
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

# A kernel loop over steps: `range` for the kernel's source run as Python. The Numba form of a
# kernel sees numba.prange under this name instead (see `_numba_form`).
prange = range

# Tables up to this many values run as Python until Numba is loaded: ~1 us per value, so the
# largest costs ~15 ms, against ~0.85 s for Numba and a kernel from a warm cache.
PYTHON_MAX = 1 << 14

_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
_HELPERS = {}  # each helper's Python function -> its Numba dispatcher, made at first need
_lock = threading.RLock()
numba = None  # the module, once a kernel needed it


def load_numba():
    """Import Numba, once per process, and return it."""
    global numba
    with _lock:
        if numba is None:
            import numba as nb

            numba = nb
        return numba


# How a kernel's Python source becomes machine code, whatever was imported or compiled before.
# Module globals are never rebound: a kernel module keeps its Python helpers and `range`, so its
# source always runs as Python. The Numba form of a kernel (or helper) is a copy of the function
# over a copy of its module's globals in which every helper is its Numba dispatcher and `prange`
# is numba.prange, made when that kernel first compiles. What Numba compiles therefore depends
# on the source alone, not on which modules were imported when Numba was loaded (issue 19: a
# kernel module imported after that once saw Python helpers, and Numba could not type them).


def _numba_form(fn):
    """`fn` over a copy of its globals in which every helper is its Numba dispatcher and
    `prange` is numba.prange. Same code object, file and name, so Numba's disk cache finds it."""
    copy, names = _copy(fn)
    _bind(names)
    return copy


def _copy(fn):
    names = dict(fn.__globals__)
    copy = types.FunctionType(fn.__code__, names, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__qualname__ = fn.__qualname__
    copy.__doc__ = fn.__doc__
    return copy, names


def _bind(names):
    nb = load_numba()
    for name, value in list(names.items()):
        if name == "prange" and value is range:
            names[name] = nb.prange
        elif isinstance(value, types.FunctionType) and value in _HELPERS:
            names[name] = _helper_dispatcher(value)


def _helper_dispatcher(fn):
    """The Numba dispatcher of helper `fn` (lazy: it compiles where a kernel inlines it)."""
    with _lock:
        if _HELPERS[fn] is None:
            copy, names = _copy(fn)
            # Registered before its globals are bound: helpers name each other (and themselves).
            _HELPERS[fn] = load_numba().njit(**HELPER_OPTIONS)(copy)
            _bind(names)
        return _HELPERS[fn]


def jit_function(fn):
    """A user's function (``f(step)``, ``f(epoch, lr)``) as a Numba dispatcher, compiled at its
    first call; None when Numba cannot take it (then it runs as Python)."""
    nb = load_numba()
    if isinstance(fn, nb.core.registry.CPUDispatcher):
        return fn
    try:
        return nb.njit(cache=False)(fn)
    except Exception:  # noqa: BLE001 - anything Numba refuses means "not compilable"
        return None


def compiled():
    """Whether kernels run through Numba now (it is loaded, and not disabled)."""
    return numba is not None and not _DISABLED


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

    @property
    def dispatcher(self):
        if self._dispatcher is None:
            nb = load_numba()
            with _lock:
                if self._dispatcher is None:
                    self._dispatcher = nb.njit(**self.options)(_numba_form(self.py_func))
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
    _HELPERS[fn] = None
    return fn
