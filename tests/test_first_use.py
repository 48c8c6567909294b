"""Right the first time: whatever first loads Numba in a fresh process, every table and fit
after it gives the same numbers (issue 19).

Each cell of the matrix is a fresh process (tests/first_use_worker.py) that runs one loader, the
first thing to need Numba, then every example schedule's long table in float32 and float64 and
two step-mode fits. Each loader runs twice: with an empty ``NUMBA_CACHE_DIR``, as a new user's
first run, and with the disk cache a cold cell left (warm). Every cell must give, bit for bit,
what the same code gives with ``NUMBA_DISABLE_JIT=1`` (every kernel run as Python).

The matrix is about Numba, not the backend: it runs once, under JAX (the other backends' suites
skip it), and costs a few minutes, most of it compiling every kernel in each cold cell.
"""

import concurrent.futures
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from conftest import backend_name

WORKER = pathlib.Path(__file__).parent / "first_use_worker.py"

pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "jax") != "jax" or os.environ.get("NUMBA_DISABLE_JIT"),
    reason="the first-use matrix runs once, under JAX with Numba enabled",
)


def _run(loader, out, **env):
    full = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore", **env}
    full.pop("NUMBA_DISABLE_JIT", None) if "NUMBA_DISABLE_JIT" not in env else None
    done = subprocess.run([sys.executable, str(WORKER), loader, str(out)], env=full,
                          capture_output=True, text=True, timeout=900, cwd=WORKER.parent.parent)
    assert done.returncode == 0, f"{loader} ({env}):\n" + (done.stdout + done.stderr)[-6000:]
    with np.load(out) as data:
        return dict(data)


def _loaders():
    sys.path.insert(0, str(WORKER.parent))
    import first_use_worker

    return first_use_worker.loaders()


@pytest.fixture(scope="module")
def matrix():
    """{(loader, "cold" | "warm"): the cell's arrays}, and the NUMBA_DISABLE_JIT reference."""
    assert backend_name() == "jax"
    loaders = _loaders()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        warm_cache = tmp / "warm-cache"

        def cold(i, loader):
            # An empty cache of its own; the first cell's cache is then the warm cells' one.
            cache = warm_cache if i == 0 else tmp / f"cache-{i}"
            return _run(loader, tmp / f"cold-{i}.npz", NUMBA_CACHE_DIR=str(cache))

        def warm(i, loader):
            return _run(loader, tmp / f"warm-{i}.npz", NUMBA_CACHE_DIR=str(warm_cache))

        cells = {}
        cells[(loaders[0], "cold")] = cold(0, loaders[0])
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            jobs = {(loader, "cold"): pool.submit(cold, i, loader)
                    for i, loader in enumerate(loaders) if i}
            jobs.update({(loader, "warm"): pool.submit(warm, i, loader)
                         for i, loader in enumerate(loaders)})
            jobs["reference"] = pool.submit(_run, "reference", tmp / "reference.npz",
                                            NUMBA_DISABLE_JIT="1")
            cells.update({key: job.result() for key, job in jobs.items()})
        return loaders, cells


# Constant's table is a fill. Join's example (conftest) is a 10-step Linear and a 20-step Cosine,
# short pieces NumPy fills, then a Constant.
WITHOUT_A_KERNEL = {"family:Constant", "family:Join"}


def test_every_loader_then_every_table_and_fit_gives_the_python_numbers(matrix):
    loaders, cells = matrix
    reference = cells.pop("reference")
    assert len(cells) == 2 * len(loaders)
    first = cells[(loaders[0], "cold")]
    for (loader, cache), cell in cells.items():
        where = f"after {loader} ({cache} cache)"
        # Each loader loads Numba first, but a family whose example's table needs no kernel
        loaded = bool(cell.pop("loaded_numba"))
        assert loaded != (loader in WITHOUT_A_KERNEL), f"{loader}: loaded Numba is {loaded}"
        np.testing.assert_array_equal(cell.pop("loader"), reference[f"loader/{loader}"],
                                      err_msg=f"{loader} itself ({cache} cache)")
        assert cell.keys() == first.keys(), where
        for key, values in cell.items():
            if key in reference:
                np.testing.assert_array_equal(values, reference[key], err_msg=f"{key} {where}")
            else:  # a table only compiled code can fill (Python's exp overflows): as in cell 0
                np.testing.assert_array_equal(values, first[key], err_msg=f"{key} {where}")
    # every example's long tables, in both dtypes, and the two fits were compared
    from conftest import EXAMPLES

    tables = [k for k in first if k.count("/") == 2]
    assert len(tables) == len(EXAMPLES) * 2 * 2, len(tables)  # two starts, two dtypes
    assert {"fit-schedule/lrs", "fit-function/lrs", "fit-function/kernel"} <= first.keys()
    assert len(reference["fit-schedule/lrs"]) == 16


def test_the_matrix_covers_every_family_and_first_use():
    import keras_lrsched as lrs
    from conftest import EXAMPLES

    loaders = _loaders()
    assert {"precompute", "Table", "fit-function", "find_lr", "cli-table"} <= set(loaders)
    families = {type(build(lrs)).__name__ for build in EXAMPLES.values()}
    covered = {type(EXAMPLES[name.split(":", 1)[1]](lrs)).__name__
               for name in loaders if name.startswith("family:")}
    assert covered == families
