"""docs/migrating.md, "From keras.optimizers.schedules" and "From keras' callbacks".

The schedules: keras' own schedule evaluated at the same steps. The callbacks: two fits of the
same small model from the same seed, one with keras' callback (or an optimizer that owns the
schedule) and one with keras_lrsched's, compared by their lrs and their final weights.
"""

import math

import keras
import numpy as np
import pytest

import keras_lrsched as lrs

import callback_helpers as helpers
from conftest import assert_lr_close, to_numpy
from test_migrating import (
    Case,
    cases_for,
    check_cases_match_rows,
    check_every_name_has_a_row,
    check_value_rows,
    evaluate,
    ours_namespace,
    params,
)

K = keras.optimizers.schedules

CASES = {
    "ExponentialDecay": [
        Case(300, lr=0.1, n=10, r=0.96, z=False),
        Case(100, lr=0.1, n=7, r=0.5, z=True),
    ],
    "PiecewiseConstantDecay": Case(40, bs=[5, 12, 13, 30], vs=[0.4, 0.2, 0.1, 0.05, 0.01]),
    "PolynomialDecay-1": [
        Case(80, lr=0.1, T=50, e=0.001, p=2.0),
        Case(60, lr=0.3, T=45, e=0.01, p=0.5),
    ],
    # T a power of 2: keras' float32 step / T is then exact at the multiples of T (see the note).
    "PolynomialDecay-2": [
        Case(100, lr=0.1, T=16, e=0.001, p=2.0),
        Case(60, lr=0.1, T=8, e=0.0, p=0.5),
    ],
    "InverseTimeDecay": [
        Case(200, lr=0.1, n=5, r=0.5, z=False),
        Case(100, lr=0.1, n=6, r=2.0, z=True),
    ],
    "CosineDecay-1": Case(120, lr=0.1, T=80, a=0.05),
    "CosineDecay-2": [
        Case(80, lr=0.0, T=50, a=0.1, W=0.1, w=10),
        Case(80, lr=0.01, T=37, a=0.0, W=0.5, w=7),
    ],
    "CosineDecayRestarts": [
        Case(300, lr=0.1, P=10, t=2.0, m=0.8, a=0.1),
        Case(100, lr=0.1, P=9, t=1.0, m=0.9, a=0.0),
        Case(250, lr=0.2, P=7, t=1.5, m=1.0, a=0.05),
    ],
}


def keras_values(schedule, steps):
    """keras' schedule at steps 0 .. steps-1.

    CosineDecay with a warmup branches on the step with ops.cond, which takes a scalar: under
    JAX it is vmapped (a cond per scalar would compile each time), elsewhere looped.
    """
    try:
        return to_numpy(schedule, np.arange(steps))
    except Exception:  # noqa: BLE001 - whatever the backend raises for a vector in a cond
        pass
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.vmap(schedule)(np.arange(steps)), dtype=np.float64)
    return np.array([float(keras.ops.convert_to_numpy(schedule(k))) for k in range(steps)])


def source_namespace(bind):
    namespace = {k: v for k, v in vars(K).items() if k[:1].isupper()}
    namespace.update(bind, math=math)
    return namespace


@pytest.mark.parametrize("row", params("keras"))
def test_row(row):
    check_value_rows(row, CASES, source_namespace, keras_values)


def test_every_case_has_a_row():
    check_cases_match_rows("keras", CASES)


def test_every_keras_schedule_has_a_row():
    names = [
        name
        for name, obj in vars(K).items()
        if isinstance(obj, type) and issubclass(obj, K.LearningRateSchedule)
        and obj is not K.LearningRateSchedule
    ]
    assert "CosineDecayRestarts" in names
    check_every_name_has_a_row("keras", names)


def test_piecewise_with_keras_boundaries_as_they_are_changes_a_step_early():
    bs, vs = [5, 12], [0.3, 0.2, 0.1]
    theirs = keras_values(K.PiecewiseConstantDecay(bs, vs), 20)
    unshifted = lrs.Piecewise(vs, boundaries=bs).table(20, dtype="float64")
    assert theirs[5] == pytest.approx(0.3) and unshifted[5] == pytest.approx(0.2)
    assert theirs[6] == pytest.approx(0.2)
    differ = np.flatnonzero(~np.isclose(theirs, unshifted))
    np.testing.assert_array_equal(differ, bs)  # exactly at each boundary


# ---------------------------------------------------------------------------------------------
# keras' callbacks: fits.

EPOCHS = 6


def halve_every_other(epoch, lr):
    return lr * 0.5 if epoch % 2 else lr


def by_epoch(epoch):
    return 0.1 / (1 + epoch)


CALLBACK_CASES = {
    "LearningRateScheduler": [
        Case(EPOCHS, fn=halve_every_other, v=0),
        Case(EPOCHS, fn=by_epoch, v=1),
    ],
    "ReduceLROnPlateau": [
        Case(EPOCHS, lr=0.1, k="score", f=0.5, p=0, m="min", d=0.0, c=0, lo=0.0),
        Case(EPOCHS, lr=0.1, k="score", f=0.2, p=1, m="max", d=0.05, c=1, lo=0.01),
    ],
    "SGD": [
        Case(EPOCHS, s=lrs.Warmup(lrs.Cosine(0.1, steps=19), warmup_steps=5)),
        Case(EPOCHS, s=K.CosineDecay(0.1, 20, alpha=0.1)),
    ],
}

# "score", as the ReduceLROnPlateau cases see it at the end of each epoch.
SCORES = [1.0, 1.0, 0.8, 0.8, 0.85, 0.7]


def callbacks_namespace(bind):
    namespace = {k: v for k, v in vars(keras.callbacks).items() if k[:1].isupper()}
    namespace.update({k: v for k, v in vars(keras.optimizers).items() if k[:1].isupper()})
    namespace.update(bind)
    return namespace


def _fit(callbacks, opt=None, lr=0.1):
    model = helpers.model(lr=lr, opt=opt)
    history = helpers.fit(model, callbacks, epochs=EPOCHS)
    return model, history.history


def _check_scheduler(theirs, ours, case, capsys):
    keras_model, keras_history = _fit([theirs])
    keras_said = capsys.readouterr().out
    our_model, our_history = _fit([ours])
    assert "lr" not in our_history
    np.testing.assert_allclose(our_history["learning_rate"], keras_history["learning_rate"])
    helpers.assert_same_weights(our_model, keras_model, exact=True)
    assert capsys.readouterr().out == keras_said


def _check_plateau(theirs, ours, case, capsys):
    lr, key = case.bind["lr"], case.bind["k"]
    keras_model, keras_history = _fit([helpers.ScriptedMetric(key, SCORES), theirs], lr=lr)
    our_model, our_history = _fit([helpers.ScriptedMetric(key, SCORES), ours], lr=lr)
    np.testing.assert_allclose(our_history["learning_rate"], keras_history["learning_rate"])
    assert len(set(keras_history["learning_rate"])) > 1  # the plateau did reduce
    helpers.assert_same_weights(our_model, keras_model)


def _check_owned_schedule(theirs, ours, case, capsys):
    keras_model, _ = _fit([], opt=theirs)
    our_model, _ = _fit([ours])
    steps = EPOCHS * helpers.STEPS_PER_EPOCH
    expected = helpers.host_values(case.bind["s"], steps)
    assert_lr_close(ours.learning_rates, expected)
    helpers.assert_same_weights(our_model, keras_model)


CALLBACK_CHECKS = {
    "LearningRateScheduler": _check_scheduler,
    "ReduceLROnPlateau": _check_plateau,
    "SGD": _check_owned_schedule,
}


@pytest.mark.parametrize("row", params("callbacks"))
def test_callback_row(row, capsys):
    for case in cases_for(row, CALLBACK_CASES):
        theirs = evaluate(row.source, callbacks_namespace(case.bind))
        ours = evaluate(row.ours, ours_namespace(case.bind))
        CALLBACK_CHECKS[row.id](theirs, ours, case, capsys)


def test_every_callback_case_has_a_row():
    check_cases_match_rows("callbacks", CALLBACK_CASES)
    check_every_name_has_a_row("callbacks", ["LearningRateScheduler", "ReduceLROnPlateau"])
