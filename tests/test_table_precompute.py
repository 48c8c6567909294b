"""The two paths of every schedule agree, and the table tools built on them.

* ``schedule(steps)`` (keras.ops, float32) and ``schedule.table(n)`` (Numba, float64 then cast)
  give the same numbers for every family, composites and keras' own children included;
* ``table(n, start=k) == table(n + k)[k:]``, bit for bit; float64 tables round to the float32 ones;
* ``precompute()`` takes a schedule, keras' own schedule, a function of the step (Numba-compiled or
  looped with a warning), or a recurrence ``f(epoch, lr)``; it refuses NaN and negative values;
* ``Table`` holds its last value and round-trips through ``.npy``;
* importing keras_lrsched neither imports Numba nor compiles anything.
"""

import math
import os
import subprocess
import sys
import textwrap
import types
import warnings

import numpy as np
import pytest

import keras
import keras_lrsched as lrs

from conftest import assert_lr_close, backend_name, to_numpy

WINDOW = 128  # one vector shape for every example (JAX compiles each op once per shape)
SHIFTED = 97  # a second window, starting mid-schedule


def test_call_and_table_agree(example):
    # float32 arithmetic is exact to a few ulps of the values it combines, so the tolerance is
    # relative to the schedule's peak, not to a tiny value it may hold at the end.
    peak = float(example.table(SHIFTED + WINDOW).max())
    for first in (0, SHIFTED):
        steps = np.arange(first, first + WINDOW)
        by_call = to_numpy(example, steps)
        by_table = example.table(WINDOW, start=first)
        assert by_table.dtype == np.float32
        assert_lr_close(by_call, by_table, peak=peak, what=f"steps {first}..{first + WINDOW - 1}")


@pytest.mark.parametrize("k", [1, 5, 37, 130])
def test_table_from_start_is_a_slice_of_the_full_table(example, k):
    full = example.table(WINDOW + k)
    np.testing.assert_array_equal(example.table(WINDOW, start=k), full[k:])
    np.testing.assert_array_equal(example.table(1, start=k + 3), full[k + 3 : k + 4])


def test_float64_table_rounds_to_the_float32_table(example):
    t64 = example.table(WINDOW, start=11, dtype="float64")
    t32 = example.table(WINDOW, start=11)
    assert t64.dtype == np.float64 and t32.dtype == np.float32
    np.testing.assert_array_equal(t64.astype(np.float32), t32)
    by_call = to_numpy(example, np.arange(11, 11 + WINDOW))
    assert_lr_close(by_call, t64, peak=float(example.table(11 + WINDOW).max()))


def test_table_arguments():
    s = lrs.Cosine(1.0, steps=10)
    empty = s.table(0)
    assert empty.shape == (0,) and empty.dtype == np.float32
    assert s.table(0, dtype="float64").dtype == np.float64
    assert s.table(3, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        s.table(3, dtype="float16")
    with pytest.raises(ValueError, match="`n`.*n=-1"):
        s.table(-1)
    with pytest.raises(ValueError, match="`start`.*start=-3"):
        s.table(2, start=-3)


# ---------------------------------------------------------------------------------------------
# precompute()


def test_precompute_a_schedule_is_its_table():
    s = lrs.Warmup(lrs.CosineRestarts(0.1, period=20, t_mul=2.0), warmup_steps=5)
    out = lrs.precompute(s, 300)
    assert out.dtype == np.float32 and out.shape == (300,)
    np.testing.assert_array_equal(out, s.table(300))


def test_precompute_keras_own_schedule():
    theirs = keras.optimizers.schedules.ExponentialDecay(0.3, 10, 0.5, staircase=True)
    out = lrs.precompute(theirs, 40)
    expected = keras.ops.convert_to_numpy(theirs(np.arange(40)))
    np.testing.assert_allclose(out, expected, rtol=1e-7)
    assert out[9] == pytest.approx(0.3) and out[10] == pytest.approx(0.15)


def keras_cosine_with_warmup(s):
    """keras' CosineDecay(0.0, 30, warmup_target=0.1, warmup_steps=10), written out."""
    if s < 10:
        return 0.1 * s / 10
    return 0.1 * 0.5 * (1.0 + math.cos(math.pi * min(s - 10, 30) / 30))


def keras_piecewise_constant(s):
    """keras' PiecewiseConstantDecay([10, 20], [0.3, 0.2, 0.1]): intervals (b_i, b_i+1]."""
    return 0.3 if s <= 10 else 0.2 if s <= 20 else 0.1


@pytest.mark.parametrize(
    "theirs, formula",
    [
        (
            lambda: keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=30, warmup_target=0.1, warmup_steps=10
            ),
            keras_cosine_with_warmup,
        ),
        (
            lambda: keras.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.3, 0.2, 0.1]),
            keras_piecewise_constant,
        ),
    ],
    ids=["CosineDecay-warmup", "PiecewiseConstantDecay"],
)
def test_precompute_and_composites_of_keras_schedules_that_refuse_vectors(theirs, formula):
    # keras' CosineDecay with a warmup (ops.cond) takes only a scalar step, and so does
    # PiecewiseConstantDecay under torch: tables then evaluate them step by step.
    theirs = theirs()
    expected = np.array([formula(k) for k in range(45)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = lrs.precompute(theirs, 45)
        joined = lrs.Join([lrs.Constant(0.5), theirs], boundaries=[5]).table(50)
    assert_lr_close(out, expected)
    assert_lr_close(joined, np.concatenate([[0.5] * 5, expected]))


def step_function(step):
    return 0.1 * 0.5 ** (step // 10) + 0.001 * (step % 3)


def test_precompute_function_of_the_step_compiled_by_numba():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # compiled: no fallback warning
        out = lrs.precompute(step_function, 57)
    expected = np.array([step_function(k) for k in range(57)], dtype=np.float32)
    np.testing.assert_allclose(out, expected, rtol=1e-7)


LOOKUP = {0: 0.3, 1: 0.25, 5: 0.05}


def dict_function(step):
    # A global dict: Numba cannot type it, so precompute falls back to a Python loop.
    return LOOKUP.get(step, 0.1)


def test_precompute_function_numba_cannot_compile_warns_and_still_works():
    with pytest.warns(RuntimeWarning, match="Numba"):
        out = lrs.precompute(dict_function, 8)
    np.testing.assert_allclose(out, [0.3, 0.25, 0.1, 0.1, 0.1, 0.05, 0.1, 0.1], rtol=1e-7)


def halve_every_third_epoch(epoch, lr):
    if epoch % 3 == 2:
        return lr * 0.5
    return lr


def python_scan(fn, steps, initial_lr):
    """keras' callback loop: each epoch's lr comes back from a float32 optimizer variable."""
    lr, out = float(np.float32(initial_lr)), []
    for k in range(steps):
        lr = float(np.float32(fn(k, lr)))
        out.append(lr)
    return np.asarray(out, dtype=np.float32)


def test_precompute_recurrence_matches_a_python_loop():
    out = lrs.precompute(halve_every_third_epoch, 12, initial_lr=0.1)
    np.testing.assert_array_equal(out, python_scan(halve_every_third_epoch, 12, 0.1))
    assert out[0] == np.float32(0.1) and out[2] == np.float32(0.05)


def test_precompute_recurrence_numba_cannot_compile_warns_and_still_works():
    seen = []

    def remembering(epoch, lr):
        seen.append(epoch)  # a Python list: not compilable
        return lr * 0.9

    with pytest.warns(RuntimeWarning, match="Numba"):
        out = lrs.precompute(remembering, 6, initial_lr=1.0)
    np.testing.assert_array_equal(out, python_scan(lambda e, lr: lr * 0.9, 6, 1.0))


def test_precompute_functions_whose_module_is_gone():
    # Tables of user functions are not cached on disk: a cache index refers to the module of every
    # function compiled before, and could not be read once one of them was gone (a later script,
    # another test file): ModuleNotFoundError on the next precompute of any function.
    module = types.ModuleType("lrsched_vanishing_module")
    exec("def f(step):\n    return 0.5 / (1 + step)\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        first = lrs.precompute(module.f, 4)
    finally:
        del sys.modules[module.__name__]

    def g(step):
        return 0.25 / (1 + step)

    np.testing.assert_allclose(first, [0.5, 0.25, 0.5 / 3, 0.125], rtol=1e-7)
    np.testing.assert_allclose(lrs.precompute(g, 4), first / 2, rtol=1e-7)


def test_precompute_recurrence_needs_initial_lr():
    with pytest.raises(ValueError, match="initial_lr"):
        lrs.precompute(halve_every_third_epoch, 5)


def nan_at_7(step):
    return np.nan if step == 7 else 0.1


def negative_from_11(step):
    return 0.1 - 0.01 * step


@pytest.mark.parametrize(
    "fn, kwargs, where",
    [
        (nan_at_7, {}, "step 7"),
        (negative_from_11, {}, "step 11"),
        (lambda epoch, lr: lr - 0.25, {"initial_lr": 1.0}, "step 4"),
        (lambda epoch, lr: lr * np.inf if epoch == 4 else lr, {"initial_lr": 1.0}, "step 4"),
    ],
    ids=["nan", "negative", "recurrence-negative", "recurrence-inf"],
)
def test_precompute_refuses_bad_values_naming_the_step(fn, kwargs, where):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # fallback loops are fine here
        with pytest.raises(ValueError, match=where):
            lrs.precompute(fn, 20, **kwargs)


def test_precompute_refuses_what_is_not_a_schedule():
    with pytest.raises(TypeError, match="fn"):
        lrs.precompute(0.1, 5)
    with pytest.raises(ValueError, match="steps"):
        lrs.precompute(step_function, -1)


# ---------------------------------------------------------------------------------------------
# Table


def test_table_holds_its_last_value():
    t = lrs.Table([0.5, 0.4, 0.3])
    assert len(t) == 3
    np.testing.assert_allclose(to_numpy(t, [0, 1, 2, 3, 10**6]), [0.5, 0.4, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(t.table(6), [0.5, 0.4, 0.3, 0.3, 0.3, 0.3])
    np.testing.assert_allclose(t.table(2, start=10**9), [0.3, 0.3])


def test_table_of_precomputed_values_replays_the_schedule():
    s = lrs.OneCycle(0.2, steps=90, three_phase=True)
    t = lrs.Table(lrs.precompute(s, 90))
    np.testing.assert_array_equal(t.table(120), s.table(120))  # both hold after step 89
    assert_lr_close(to_numpy(t, np.arange(120)), s.table(120))


@pytest.mark.parametrize("as_string", [False, True])
def test_table_save_and_load_round_trip(tmp_path, as_string):
    values = lrs.precompute(lrs.Warmup(lrs.Cosine(0.1, steps=50), warmup_steps=10), 64)
    original = lrs.Table(values)
    path = tmp_path / "lr.npy"
    original.save(str(path) if as_string else path)
    assert path.exists()
    loaded = lrs.Table.load(str(path) if as_string else path)
    assert isinstance(loaded, lrs.Table) and len(loaded) == 64
    np.testing.assert_array_equal(loaded.values, original.values)
    np.testing.assert_array_equal(loaded.table(70), original.table(70))
    np.testing.assert_array_equal(np.load(path), original.values)


def test_table_load_refuses_a_bad_file(tmp_path):
    path = tmp_path / "bad.npy"
    np.save(path, np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match=r"values\[1\]"):
        lrs.Table.load(path)


# ---------------------------------------------------------------------------------------------
# Import cost


@pytest.mark.skipif(
    backend_name() != "jax", reason="a fresh interpreter with keras costs seconds: run once"
)
def test_import_neither_imports_numba_nor_compiles():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import keras_lrsched as lrs
        assert "numba" not in sys.modules, "import keras_lrsched imported numba"
        s = lrs.Warmup(
            lrs.Join([lrs.Cosine(1.0, steps=10), lrs.Table([0.1, 0.2])], boundaries=[10]),
            warmup_steps=3,
        )
        s(np.arange(30))  # the keras.ops path needs no Numba either
        assert "numba" not in sys.modules, "the keras.ops path imported numba"
        from keras_lrsched.kernels import _config, cosine
        short = s.table(5)  # a short table runs the kernels' source as Python
        assert "numba" not in sys.modules, "a short table imported numba"
        assert cosine.fill_cosine.signatures == [], "a kernel compiled at import"
        long = s.table(_config.PYTHON_MAX + 1)
        assert "numba" in sys.modules
        assert cosine.fill_cosine.signatures, "table() did not use the kernel"
        assert (s.table(5) == short).all() and (long[:5] == short).all()
        print("ok")
        """)
    env = dict(os.environ, KERAS_BACKEND=backend_name(), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
