"""Numba kernels that fill preallocated lr tables (shipped as ``keras_lrsched.kernels``).

Numbers only: nothing here imports keras. Every kernel has the shape
``fill_<family>(out, start, *params)``: it writes the lr at steps ``start .. start + len(out) - 1``
into ``out`` (float32 or float64), computing in float64, with ``prange`` over the steps.

Importing this package does not import Numba; each family module does, and its kernels compile on
their first call (and are cached on disk, see ``_config``).
"""
