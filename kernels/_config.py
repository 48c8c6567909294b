"""The one place where kernel compilation flags live."""

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


def kernel(fn):
    """Compile `fn` lazily as a parallel table-filling kernel."""
    return numba.njit(**KERNEL_OPTIONS)(fn)


def serial_kernel(fn):
    """Compile `fn` lazily as a single-threaded kernel (for scans, where each value needs the last)."""
    return numba.njit(**{**KERNEL_OPTIONS, "parallel": False})(fn)


def helper(fn):
    """Compile `fn` lazily as a scalar function inlined into kernels."""
    return numba.njit(**HELPER_OPTIONS)(fn)
