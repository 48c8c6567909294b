"""Shared test helpers.

Nothing here imports keras at module level: tests/kernels/ runs under this conftest too and must
stay backend-free. Tests that need keras get it through the fixtures below, which import it lazily.
"""

import pathlib
import sys

import numpy as np
import pytest

KERNEL_TESTS = pathlib.Path(__file__).parent / "kernels"

# float32 precision, as the parity requirement reads it: a few float32 ulps relative to the value,
# plus a little absolute slack relative to the schedule's peak (values that decay towards 0 keep
# an absolute float32 error of about eps32 * peak from the arithmetic that produced them).
RTOL = 2e-6
ATOL_OF_PEAK = 1e-6


def pytest_collectstart(collector):
    # torch must be imported before tensorflow in one process (the other order can crash torch's
    # import). Under the TensorFlow backend, the first `import keras` in a test module imports
    # tensorflow, so torch is imported just before the first keras-side test module is collected.
    if isinstance(collector, pytest.Module) and KERNEL_TESTS not in collector.path.parents:
        if "torch" not in sys.modules and "tensorflow" not in sys.modules:
            try:
                import torch  # noqa: F401
            except ImportError:
                pass


def backend_name():
    import keras

    return keras.backend.backend()


def to_numpy(schedule, steps):
    """`schedule(steps)` through keras.ops (the closed-form path), as a float64 NumPy array.

    A vector of steps is padded (with its last step) to a power-of-two length of at least 64 and
    the result sliced back: JAX compiles every op once per input shape, and a few shapes keep the
    suite fast under JAX.
    """
    import keras

    steps = np.asarray(steps)
    n = steps.shape[0] if steps.ndim == 1 else 0
    if n:
        size = max(64, 1 << (n - 1).bit_length())
        steps = np.concatenate([steps, np.repeat(steps[-1:], size - n)])
    values = np.asarray(keras.ops.convert_to_numpy(schedule(steps)), dtype=np.float64)
    return values[:n] if n else values


def assert_lr_close(actual, expected, peak=None, rtol=RTOL, atol_of_peak=ATOL_OF_PEAK, what=""):
    """float32-precision comparison of two lr arrays; `peak` scales the absolute tolerance."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    if peak is None:
        peak = float(np.max(np.abs(expected))) if expected.size else 1.0
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=atol_of_peak * max(peak, 1e-30), err_msg=what
    )


@pytest.fixture
def backend():
    return backend_name()


@pytest.fixture(name="to_numpy")
def _to_numpy_fixture():
    return to_numpy


@pytest.fixture(name="assert_lr_close")
def _assert_lr_close_fixture():
    return assert_lr_close


# --------------------------------------------------------------------------------------------
# Example schedules: at least one of every public class, with the variants that take different
# code paths (staircase, clipping, t_mul == 1 / > 1, every mode), and nested composites.
# A test that takes the `example` fixture runs once per entry; each run builds a fresh schedule.


def _keras_cosine():
    import keras

    return keras.optimizers.schedules.CosineDecay(0.5, decay_steps=40, alpha=0.1)


EXAMPLES = {
    "Constant": lambda lrs: lrs.Constant(0.3),
    "TimeDecay": lambda lrs: lrs.TimeDecay(0.1, decay_rate=0.5, decay_steps=7),
    "TimeDecay-staircase": lambda lrs: lrs.TimeDecay(
        0.1, decay_rate=2.0, decay_steps=5, staircase=True
    ),
    "StepDecay": lambda lrs: lrs.StepDecay(0.2, factor=0.5, step_size=9),
    "StepDecay-near1": lambda lrs: lrs.StepDecay(1.0, factor=0.999, step_size=1),
    "StepDecay-zero": lambda lrs: lrs.StepDecay(1.0, factor=0.0, step_size=4),
    "MultiStepDecay": lambda lrs: lrs.MultiStepDecay(0.1, milestones=[5, 12, 12, 40], factor=0.3),
    "ExponentialDecay": lambda lrs: lrs.ExponentialDecay(0.1, decay_rate=0.9, decay_steps=3),
    "ExponentialDecay-staircase-end": lambda lrs: lrs.ExponentialDecay(
        0.1, decay_rate=0.5, decay_steps=4, staircase=True, end=0.01
    ),
    "ExponentialDecay-growing-end": lambda lrs: lrs.ExponentialDecay(
        0.01, decay_rate=1.1, end=0.05
    ),
    "Piecewise": lambda lrs: lrs.Piecewise([0.4, 0.2, 0.1, 0.05], boundaries=[3, 10, 11]),
    "Polynomial": lambda lrs: lrs.Polynomial(0.5, end=0.01, steps=37, power=2.5),
    "Linear": lambda lrs: lrs.Linear(0.0, end=1.0, steps=21),
    "Cosine": lambda lrs: lrs.Cosine(1.0, steps=33, end=0.05),
    "CosineRestarts-fixed": lambda lrs: lrs.CosineRestarts(1.0, period=13, m_mul=0.8, end=0.1),
    "CosineRestarts-t2": lambda lrs: lrs.CosineRestarts(0.5, period=5, t_mul=2.0, m_mul=0.9),
    "CosineRestarts-t1.5": lambda lrs: lrs.CosineRestarts(1.0, period=7, t_mul=1.5, end=0.01),
    "Cyclic-triangular": lambda lrs: lrs.Cyclic(0.1, peak=1.0, step_size_up=4, step_size_down=7),
    "Cyclic-triangular2": lambda lrs: lrs.Cyclic(0.1, peak=1.0, step_size_up=5, mode="triangular2"),
    "Cyclic-exp_range": lambda lrs: lrs.Cyclic(
        0.1, peak=1.0, step_size_up=3, step_size_down=6, mode="exp_range", gamma=0.98
    ),
    "OneCycle-cos": lambda lrs: lrs.OneCycle(1.0, steps=57),
    "OneCycle-linear-3phase": lambda lrs: lrs.OneCycle(
        0.5, steps=61, pct_start=0.25, anneal="linear", three_phase=True
    ),
    # the momentum torch cycles against the lr (cycle_momentum=True)
    "CyclicMomentum-triangular": lambda lrs: lrs.Cyclic(
        0.1, peak=1.0, step_size_up=4, step_size_down=7
    ).cycle_momentum(),
    "CyclicMomentum-triangular2": lambda lrs: lrs.CyclicMomentum(
        0.0, max=0.99, step_size_up=5, mode="triangular2"
    ),
    "CyclicMomentum-exp_range": lambda lrs: lrs.CyclicMomentum(
        0.8, max=0.9, step_size_up=3, step_size_down=6, mode="exp_range", gamma=0.98
    ),
    "OneCycleMomentum-cos": lambda lrs: lrs.OneCycle(1.0, steps=57).cycle_momentum(),
    "OneCycleMomentum-linear-3phase": lambda lrs: lrs.OneCycleMomentum(
        0.8, max=0.95, steps=61, pct_start=0.25, anneal="linear", three_phase=True
    ),
    "InverseSqrt": lambda lrs: lrs.InverseSqrt(0.01, warmup_steps=16),
    "WSD-cosine": lambda lrs: lrs.WarmupStableDecay(
        1.0, warmup_steps=5, stable_steps=10, decay_steps=20, end=0.1
    ),
    "WSD-linear": lambda lrs: lrs.WarmupStableDecay(
        1.0, warmup_steps=0, stable_steps=7, decay_steps=9, decay="linear"
    ),
    "WSD-sqrt": lambda lrs: lrs.WarmupStableDecay(
        0.3, warmup_steps=4, stable_steps=0, decay_steps=11, end=0.03, decay="sqrt"
    ),
    # arguments added in 0.2, and zero-length phases
    "Cosine-exponent-cycles": lambda lrs: lrs.Cosine(
        1.0, steps=40, end=0.05, exponent=2.0, num_cycles=1.5
    ),
    "Cosine-sqrt-long": lambda lrs: lrs.Cosine(1.0, steps=1_000_000, exponent=0.5),
    "ExponentialDecay-transition_begin": lambda lrs: lrs.ExponentialDecay(
        0.2, decay_rate=0.5, decay_steps=6, transition_begin=9, end=0.01
    ),
    "MultiStepDecay-factors": lambda lrs: lrs.MultiStepDecay(
        0.1, milestones=[4, 9, 9], factor=[0.5, 0.3, 0.9]
    ),
    "InverseSqrt-timescale": lambda lrs: lrs.InverseSqrt(0.01, warmup_steps=5, timescale=40),
    "InverseSqrt-no-warmup": lambda lrs: lrs.InverseSqrt(0.01, warmup_steps=0),
    "WSD-no-decay": lambda lrs: lrs.WarmupStableDecay(
        1.0, warmup_steps=3, stable_steps=4, decay_steps=0, end=0.2
    ),
    "OneCycle-epochs": lambda lrs: lrs.OneCycle(0.5, epochs=3, steps_per_epoch=13),
    "Warmup-none": lambda lrs: lrs.Warmup(lrs.Cosine(1.0, steps=30), warmup_steps=0),
    "Table": lambda lrs: lrs.Table([0.3, 0.25, 0.2, 0.0, 0.1]),
    "Warmup-Cosine": lambda lrs: lrs.Warmup(
        lrs.Cosine(1.0, steps=50, end=0.1), warmup_steps=10, initial=0.05
    ),
    "Warmup-CosineRestarts": lambda lrs: lrs.Warmup(
        lrs.CosineRestarts(1.0, period=9, t_mul=2.0, m_mul=0.7), warmup_steps=6
    ),
    "Warmup-keras-child": lambda lrs: lrs.Warmup(_keras_cosine(), warmup_steps=8),
    "Join": lambda lrs: lrs.Join(
        [lrs.Linear(0.0, end=1.0, steps=10), lrs.Cosine(1.0, steps=20), lrs.Constant(0.02)],
        boundaries=[10, 30],
    ),
    "Join-nested": lambda lrs: lrs.Join(
        [
            lrs.Warmup(lrs.Constant(0.5), warmup_steps=4),
            lrs.Join(
                [lrs.Table([0.4, 0.3]), lrs.StepDecay(0.3, factor=0.5, step_size=3)], boundaries=[5]
            ),
            _keras_cosine(),
        ],
        boundaries=[4, 20],
    ),
    # timm's shapes and options (issue 19)
    "Tanh": lambda lrs: lrs.Tanh(0.1, steps=29, end=0.001),
    "Tanh-lb-ub": lambda lrs: lrs.Tanh(1.0, steps=40, lb=-2.0, ub=2.0),
    "Cosine-k_decay": lambda lrs: lrs.Cosine(0.5, steps=37, end=0.01, k_decay=2.0),
    "Polynomial-k_decay": lambda lrs: lrs.Polynomial(
        0.5, steps=41, end=0.005, power=0.5, k_decay=1.5
    ),
    "Warmup-overlay": lambda lrs: lrs.Warmup(
        lrs.Cosine(1.0, steps=50, end=0.01), warmup_steps=7, initial=0.001, prefix=False
    ),
    "Warmup-overlay-continuous": lambda lrs: lrs.Warmup(
        lrs.Tanh(0.1, steps=30), warmup_steps=5, initial=0.001, prefix=False, continuous=True
    ),
    "Cycles": lambda lrs: lrs.Cycles(
        lrs.Cosine(1.0, steps=9, end=0.05), cycle_limit=3, cycle_decay=0.7
    ),
    "Cycles-forever": lambda lrs: lrs.Cycles(
        lrs.Polynomial(0.5, steps=5, power=2.0, k_decay=0.5), cycle_decay=0.9
    ),
    "Noise": lambda lrs: lrs.Noise(
        lrs.Cosine(0.1, steps=40, end=0.001), noise_range=(5, 30), pct=0.5, std=0.3, seed=7
    ),
    "Noise-Warmup": lambda lrs: lrs.Noise(
        lrs.Warmup(lrs.Tanh(0.1, steps=30), warmup_steps=4, prefix=False), noise_range=(0, 50)
    ),
    # fastai's fit_one_cycle (issue 19)
    "OneCycle-fastai": lambda lrs: lrs.OneCycle(
        0.1, steps=57, pct_start=0.25, final_div_factor=4000.0, convention="fastai"
    ),
    "OneCycleMomentum-fastai": lambda lrs: lrs.OneCycle(
        0.1, steps=41, pct_start=0.25, convention="fastai", three_phase=True
    ).cycle_momentum(),
    "Warmup-Join-nested": lambda lrs: lrs.Warmup(
        lrs.Join(
            [lrs.OneCycle(1.0, steps=20), lrs.CosineRestarts(0.2, period=6, t_mul=2.0)],
            boundaries=[25],
        ),
        warmup_steps=7,
        initial=0.01,
    ),
}


def pytest_generate_tests(metafunc):
    if "example" in metafunc.fixturenames:
        names = list(EXAMPLES)
        metafunc.parametrize("example", names, ids=names, indirect=True)


@pytest.fixture
def example(request):
    """A freshly built example schedule (see EXAMPLES)."""
    import keras_lrsched as lrs

    return EXAMPLES[request.param](lrs)
