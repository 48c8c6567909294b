"""docs/tuning.md: its code blocks run here as written, under KerasTuner, and every trial is checked.

The blocks run top to bottom in one namespace, in a scratch folder. ``keras.Model.fit`` is
wrapped for the duration, so that each trial's fit is seen from outside: the callbacks it was
given, what the optimizer held before and after. Then, as issue 21 asks:

* every trial gets its own copy of the callback passed to ``search`` (KerasTuner deep-copies
  it), the instance passed in is never fitted, and each copy trains its trial's new model;
* nothing leaks from one trial to the next: after each fit the optimizer has no patched
  attribute left, the variables it had before, its own float lr and weight decay; each trial's
  lrs are the schedule's from step 0, scaled by a plateau replayed from that trial's own
  ``val_loss`` alone (a reduction in one trial does not carry into the next);
* the best hyperparameters rebuild the best trial's schedule: the same config, the same lrs.
"""

import contextlib
import io
import pathlib

import keras
import numpy as np
import pytest

from test_readme import blocks

keras_tuner = pytest.importorskip("keras_tuner")
pytest.importorskip("sklearn")

import keras_lrsched as lrs  # noqa: E402

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "tuning.md"
PATCHED = ("_get_current_learning_rate", "make_train_function")


class Fit:
    """One trial's fit, as seen from outside."""

    def __init__(self, model, callbacks, history, before):
        self.model, self.history, self.before = model, history, before
        self.schedulers = [c for c in callbacks if isinstance(c, lrs.LearningRateScheduler)]


def float_of(value):
    return float(keras.ops.convert_to_numpy(value))


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    """Run the doc's python blocks; per block: (its fits, its tuner, what it printed)."""
    codes = [(code, line) for lang, code, line in blocks(DOC.read_text()) if lang == "python"]
    assert len(codes) == 2
    fits = []
    original = keras.Model.fit

    def fit(self, *args, callbacks=None, **kwargs):
        optimizer = self.optimizer
        optimizer.build(self.trainable_variables)
        before = {
            "variables": len(optimizer.variables),
            "weight_decay": getattr(optimizer, "weight_decay", None),
            "iterations": int(keras.ops.convert_to_numpy(optimizer.iterations)),
        }
        history = original(self, *args, callbacks=callbacks, **kwargs)
        fits.append(Fit(self, callbacks or [], history, before))
        return history

    mp = pytest.MonkeyPatch()
    mp.setattr(keras.Model, "fit", fit)
    mp.chdir(tmp_path_factory.mktemp("tuning"))
    namespace = {"__name__": "__tuning__"}
    done = []
    try:
        for code, line in codes:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"docs/tuning.md, block at line {line}", "exec"), namespace)
            done.append((list(fits), namespace["tuner"], out.getvalue()))
            fits.clear()
    finally:
        mp.undo()
    return namespace, done


def assert_left_nothing(fit):
    optimizer, model = fit.model.optimizer, fit.model
    for name in PATCHED:
        assert name not in vars(optimizer) and name not in vars(model), name
    assert len(optimizer.variables) == fit.before["variables"]
    assert getattr(optimizer, "weight_decay", None) == fit.before["weight_decay"]
    # Its own float lr, holding the last lr applied.
    assert isinstance(optimizer._learning_rate, keras.Variable)
    (scheduler,) = fit.schedulers
    assert float_of(optimizer.learning_rate) == pytest.approx(
        float(scheduler.learning_rates[-1]), rel=1e-6)


def test_the_schedule_search_trains_each_trial_with_its_own_schedule(doc):
    namespace, [(fits, tuner, _), _] = doc
    steps = namespace["STEPS"]
    assert len(fits) == len(tuner.oracle.trials) == 3
    families = set()
    for fit in fits:
        assert_left_nothing(fit)
        (scheduler,) = fit.schedulers
        assert fit.before["iterations"] == 0
        np.testing.assert_array_equal(scheduler.learning_rates, scheduler.schedule.table(steps))
        families.add(type(scheduler.schedule).__name__)
    assert len(families) >= 2  # the search did try families


def test_the_best_hyperparameters_rebuild_the_best_trials_schedule(doc):
    namespace, [(fits, tuner, printed), _] = doc
    steps = namespace["STEPS"]
    best = tuner.oracle.get_best_trials(1)[0]
    assert tuner.get_best_hyperparameters()[0].values == best.hyperparameters.values
    fit = fits[list(tuner.oracle.trials).index(best.trial_id)]  # trials run in order
    assert max(fit.history.history["val_accuracy"]) == pytest.approx(best.score)
    spec = namespace["schedule_spec"](tuner.get_best_hyperparameters()[0])
    assert f"best: {spec}" in printed
    used, rebuilt = fit.schedulers[0].schedule, lrs.get(spec)
    assert rebuilt.get_config() == used.get_config()
    np.testing.assert_array_equal(rebuilt.table(steps), used.table(steps))


def test_one_callback_serves_every_trial_and_nothing_leaks(doc):
    namespace, [_, (fits, tuner, _)] = doc
    scheduler, steps = namespace["scheduler"], namespace["STEPS"]
    assert len(fits) == len(tuner.oracle.trials) == 2
    # The instance passed in was only copied: never bound, never fitted.
    assert scheduler._binding is None and scheduler._run is None and scheduler._state is None
    copies = [fit.schedulers[0] for fit in fits]
    assert len({id(c) for c in copies} | {id(scheduler)}) == len(copies) + 1
    assert len({id(fit.model.optimizer) for fit in fits}) == len(fits)
    plateau = scheduler.plateau
    table = scheduler.schedule.table(steps)
    spe = steps // namespace["EPOCHS"]
    reductions = 0
    for fit, copy in zip(fits, copies):
        assert_left_nothing(fit)
        assert fit.before["iterations"] == 0
        # The plateau replayed from this trial's val_loss alone, from scale 1.
        state, scales = plateau.initial_state(), []
        for value in fit.history.history["val_loss"]:
            scales.append(state["scale"])
            state = plateau.update(state, value, "min")
        expected = np.concatenate(
            [table[e * spe:(e + 1) * spe] * np.float32(s) for e, s in enumerate(scales)])
        np.testing.assert_allclose(copy.learning_rates, expected, rtol=1e-6)
        assert copy.scale == state["scale"]
        reductions += state["scale"] < 1.0
    assert reductions >= 1, ("no trial reduced its lr: the plateau check proved nothing",
                             [f.history.history["val_loss"] for f in fits])
