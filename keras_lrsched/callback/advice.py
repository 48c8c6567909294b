"""Warnings for likely mistakes: each a `ScheduleWarning` that says what to do, once per callback."""

import warnings

from ..schedules import OneCycle, OneCycleMomentum


class ScheduleWarning(UserWarning):
    """A likely mistake in how a schedule meets a fit; filter this category to silence them:
    ``warnings.filterwarnings("ignore", category=keras_lrsched.callback.ScheduleWarning)``."""

# An epoch-mode schedule whose own length is at least this many times the fit's epochs is
# taken to count optimizer steps.
_STEPS_NOT_EPOCHS = 2


class Advice:
    def __init__(self):
        self.given = set()

    def _warn(self, kind, message):
        if kind not in self.given:
            self.given.add(kind)
            warnings.warn(message, ScheduleWarning, stacklevel=4)

    def epoch_mode_length(self, source, epochs):
        """A schedule built for far more steps than the fit has epochs, run per epoch."""
        length = source.total_steps()
        if length is None or not epochs or length < _STEPS_NOT_EPOCHS * epochs:
            return
        self._warn(
            "length",
            f"{source.name} is built for {length} steps, but this callback updates the lr "
            f"once per epoch and the fit has {epochs} epochs: training would end "
            f"{100 * epochs / length:.0f}% of the way through it. If its length counts optimizer "
            'steps, pass update="step"; if it counts epochs, build it for the fit\'s epochs. '
            "(Fitting a few epochs at a time, with initial_epoch? Then this is expected: filter "
            "keras_lrsched.callback.ScheduleWarning.)",
        )

    def past_the_end(self, source, last_step):
        """A step-mode fit that runs to `last_step` (exclusive), past a finite schedule."""
        length = source.total_steps()
        if length is None or last_step <= length:
            return
        name = source.name.replace("The ", "the ", 1)  # mid-sentence: "the table"
        torch = ""
        if isinstance(getattr(source, "schedule", None), (OneCycle, OneCycleMomentum)):
            torch = " (torch's OneCycleLR raises there)"
        self._warn(
            "end",
            f"This fit runs to optimizer step {last_step}, but {name} is built for "
            f"{length} steps: from step {length} on it holds its last value{torch}. Build the "
            "schedule for the whole run, e.g. with steps=epochs * steps_per_epoch.",
        )

    def changed_elsewhere(self, name, expected, found):
        """The optimizer's lr variable holds a value this callback did not set."""
        self._warn(
            "changed",
            f"Something other than this LearningRateScheduler set {name}'s learning rate "
            f"(to {found!r}; the schedule set {expected!r}), for example keras' "
            "ReduceLROnPlateau. The schedule's value stays applied. To reduce the lr on a "
            "plateau together with a schedule, pass plateau=keras_lrsched.Plateau(...) to "
            "this callback instead.",
        )
