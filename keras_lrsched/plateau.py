"""`Plateau`: a scale on top of any schedule that drops when a monitored metric stops improving."""

import math
import numbers

from . import _checks

_MODES = ("auto", "min", "max")


class Plateau:
    """Reduce-on-plateau as a multiplier on a schedule, for ``LearningRateScheduler(plateau=...)``.

    The lr applied is ``schedule(index) * scale``. ``scale`` starts at 1 and, at the end of each
    epoch, follows keras' ``ReduceLROnPlateau`` step for step, with the scale in place of the lr:

    * the monitored value improves when it beats the best so far by more than ``min_delta``
      (``current < best - min_delta`` in "min" mode, ``current > best + min_delta`` in "max");
      the first value always improves;
    * while a cooldown runs, each epoch counts it down by one and the wait stays at 0;
    * otherwise an epoch without improvement adds one to the wait; when the wait reaches
      ``patience`` and ``scale > min_scale``, ``scale = max(scale * factor, min_scale)``, the
      wait goes back to 0 and a cooldown of ``cooldown`` epochs starts. At the floor nothing
      changes and the wait keeps growing, as in keras.

    Unlike keras' ``ReduceLROnPlateau``, which raises next to an optimizer that owns a schedule,
    this composes with any schedule, per epoch or per step. In step mode the scale is a variable
    read inside the compiled train step, so a reduction costs no retrace and no host sync.

    The state (scale, best, wait, cooldown counter) lives in the callback and is saved with the
    optimizer's weights, so ``BackupAndRestore`` brings it back. It starts afresh when a ``fit``
    begins with ``optimizer.iterations == 0`` and carries on otherwise (a resumed run).

    Args:
        monitor: the key of the epoch logs to watch, e.g. "val_loss".
        factor: the scale is multiplied by this at each reduction, in (0, 1).
        patience: epochs without improvement before a reduction (a whole number >= 0).
        mode: "min", "max", or "auto" (min for "loss"/"val_loss"; otherwise the direction of the
            compiled metric of that name, as keras infers it).
        min_delta: the margin an improvement must exceed (its absolute value is used).
        cooldown: epochs to wait after a reduction before counting again (a whole number >= 0).
        min_scale: the floor of the scale, in [0, 1].

    >>> import keras_lrsched as lrs
    >>> p = lrs.Plateau(monitor="loss", factor=0.5, patience=1)
    >>> state = p.initial_state()
    >>> for loss in [1.0, 0.9, 0.95, 0.97, 0.8]:
    ...     state = p.update(state, loss, "min")
    >>> state["scale"]
    0.25
    """

    def __init__(
        self,
        monitor="val_loss",
        *,
        factor=0.1,
        patience=10,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_scale=0.0,
    ):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(
                f"Argument `monitor` must be a non-empty string. Received: monitor={monitor!r}"
            )
        self.monitor = monitor
        self.factor = _checks.open_fraction("factor", factor)
        self.patience = _checks.integer("patience", patience, minimum=0)
        self.mode = _checks.choice("mode", mode, _MODES)
        self.min_delta = abs(_checks.real("min_delta", min_delta))
        self.cooldown = _checks.integer("cooldown", cooldown, minimum=0)
        self.min_scale = _checks.learning_rate("min_scale", min_scale)
        if self.min_scale > 1.0:
            raise ValueError(
                f"Argument `min_scale` must be in [0, 1]. Received: min_scale={min_scale!r}"
            )

    def get_config(self):
        return {
            "monitor": self.monitor,
            "factor": self.factor,
            "patience": self.patience,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "cooldown": self.cooldown,
            "min_scale": self.min_scale,
        }

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"Plateau({args})"

    @staticmethod
    def initial_state():
        """The state a fresh run starts from: scale 1, no best value, no wait, no cooldown."""
        return {"scale": 1.0, "best": None, "wait": 0, "cooldown": 0}

    def direction(self, model=None):
        """"min" or "max": `mode`, or for "auto" what keras' ReduceLROnPlateau would infer."""
        if self.mode != "auto":
            return self.mode
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return "min"
        for metric in _compiled_metrics(model):
            if metric.name == name and hasattr(metric, "_direction"):
                return "max" if metric._direction == "up" else "min"
        raise ValueError(
            f"Plateau cannot tell whether `{self.monitor}` should go up or down. Pass "
            "mode='min' or mode='max'. Received: mode='auto'"
        )

    def update(self, state, current, direction):
        """The state after an epoch whose monitored value is `current` (a new dict)."""
        if isinstance(current, bool) or not isinstance(current, numbers.Real):
            current = float(current)
        current = float(current)
        scale, best = state["scale"], state["best"]
        wait, cooldown = state["wait"], state["cooldown"]
        if cooldown > 0:
            cooldown -= 1
            wait = 0
        if self._improves(current, best, direction):
            best, wait = current, 0
        elif cooldown <= 0:
            wait += 1
            if wait >= self.patience and scale > self.min_scale:
                scale = max(scale * self.factor, self.min_scale)
                cooldown, wait = self.cooldown, 0
        return {"scale": scale, "best": best, "wait": wait, "cooldown": cooldown}

    def _improves(self, current, best, direction):
        if best is None:
            return True
        if math.isnan(current):
            return False
        if direction == "min":
            return current + self.min_delta < best
        return current - self.min_delta > best


def _compiled_metrics(model):
    """The metrics compiled into `model`, unwrapped from keras' metric containers."""
    found = []
    for metric in getattr(model, "metrics", None) or []:
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)):
            found.extend(inner)
        else:
            found.append(metric)
    return found
