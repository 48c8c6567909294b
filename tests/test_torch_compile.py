"""A torch fit compiled with ``jit_compile=True`` (torch.compile): the same lrs, hyperparameters
and per-group updates as the eager fit.

The eager fit is the reference: its lr, momentum and multipliers are checked against keras' own
rule elsewhere (test_callback*.py, test_callback_hyper.py, test_multipliers.py). Compiled, the
callback's hooks run where dynamo puts them: traced, or eagerly at a graph break (keras' torch
decay breaks the graph). Either way the numbers must not change. One compile costs tens of
seconds on a CPU, so this is a single fit with everything on.
"""

import shutil

import keras
import numpy as np
import pytest
from callback_helpers import fit, model, weights

import keras_lrsched as lrs

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile"),
    pytest.mark.skipif(shutil.which("cc") is None and shutil.which("g++") is None,
                       reason="torch.compile's inductor needs a C++ compiler on a CPU"),
]


def run(jit_compile):
    m = model(layers=2, compile=False)
    m.compile(optimizer=keras.optimizers.AdamW(0.05, weight_decay=0.1), loss="mse",
              jit_compile=jit_compile)
    cb = lrs.LearningRateScheduler(
        lrs.Cosine(0.05, steps=12), update="step",
        momentum=lrs.Linear(0.9, end=0.8, steps=12),
        lr_multipliers={"hidden/bias": 0.0, **lrs.layer_decay(m, 0.5)},
    )
    history = fit(m, [cb], epochs=3)
    return m, cb, history


def test_a_compiled_fit_gives_the_eager_fit_s_numbers():
    eager, eager_cb, eager_history = run(False)
    compiled, compiled_cb, compiled_history = run(True)
    assert compiled.jit_compile  # keras did not quietly fall back to eager
    np.testing.assert_allclose(compiled_cb.learning_rates, eager_cb.learning_rates, rtol=1e-7)
    for key in ("learning_rate", "momentum"):
        np.testing.assert_allclose(compiled_history.history[key], eager_history.history[key],
                                   rtol=1e-7, err_msg=key)
    moved = 0
    for a, b, w0 in zip(weights(compiled), weights(eager), weights(model(layers=2))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        moved += not np.array_equal(a, w0)
    assert moved == 3  # all but the frozen hidden bias
    # The frozen bias kept its initial value (zeros) in both.
    np.testing.assert_array_equal(weights(compiled)[1], weights(eager)[1])
    assert not np.any(weights(compiled)[1])
