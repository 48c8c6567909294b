"""`LearningRateScheduler`: the public callback. Its hooks only delegate: to the sources
(sources.py), the fit's bookkeeping (runs.py) and the optimizer hooks (install.py)."""

import keras
import numpy as np

from .. import _checks
from ..plateau import Plateau
from . import hyper, install, multipliers, tensorboard
from .advice import Advice
from .plan import Plan, window_size
from .runs import Run
from .sources import make_source, parse
from .state import attach_state

_UPDATES = ("epoch", "step")


class LearningRateScheduler(keras.callbacks.Callback):
    """Learning rate scheduler, per epoch (a drop-in for keras' own) or per optimizer step.

    At the beginning of every epoch (``update="epoch"``), or inside the compiled train step at
    every update (``update="step"``), the optimizer's learning rate becomes the schedule's value
    at the 0-based epoch, or at the step (``optimizer.iterations``: the updates already
    applied). ``logs["learning_rate"]`` holds the lr of each epoch (in step mode, of its last
    update), so ``history.history["learning_rate"]`` can be plotted as with keras' callback.

    Args:
        schedule: a keras_lrsched schedule or any keras ``LearningRateSchedule``; a spec
            string such as ``"cosine(0.1, steps=1000)"`` (``keras_lrsched.get``); a function
            ``schedule(index, lr) -> lr`` or ``schedule(index) -> lr`` as for keras' callback
            (``lr``: the current lr, a Python float); or a ``Table`` or 1-D array of learning
            rates (the last value holds past its end).
        verbose: 0: quiet, 1: print keras' message once per epoch (an int >= 0, or a bool).
        update: ``"epoch"`` (default) or ``"step"``.
        plateau: optional ``Plateau``: the lr applied is ``schedule(index) * scale``, the scale
            dropping as keras' ``ReduceLROnPlateau`` would.
        window: step mode: how many steps of lr the device holds at a time (default: one epoch's
            steps, at most 65536).
        momentum: optional, what `schedule` takes (a schedule, a spec string, a function of the
            index, a table or an array), indexed the same way: the optimizer's ``beta_1`` (Adam,
            AdamW, Adamax, Nadam, Lion, ...) or else its ``momentum`` (SGD, RMSprop, built with
            a momentum != 0), as torch's ``cycle_momentum`` and fastai's moms do. See
            ``OneCycle.cycle_momentum``. Adam's bias correction then uses the current beta_1:
            ``1 - beta_1**t``, as torch, fastai and optax's inject_hyperparams do.
        weight_decay: optional, the same kinds of value: the optimizer's ``weight_decay``
            (keras applies it as ``w -= w * weight_decay * lr``).
        hyperparameters: optional dict of other float hyperparameters of the optimizer, each
            the same kinds of value, such as ``{"beta_2": s, "epsilon": s}`` or
            ``{"rho": s}``. ``logs`` and ``history.history`` hold each scheduled value (the
            ``momentum`` key for momentum), per epoch, as for the lr.
        lr_multipliers: optional per-variable lr factors: a dict ``{regex: factor}`` matched
            with ``re.search`` against ``variable.path`` (the first match wins, else 1.0), or
            a function ``variable -> factor``. A variable's update uses ``lr * factor`` and its
            decoupled weight decay is scaled with it (torch's and timm's param groups); factor
            0 freezes it. ``keras_lrsched.layer_decay(model, decay)`` gives layer-wise decay.

    Any value that is not a finite lr >= 0 raises ``ValueError`` (``TypeError`` for what is not
    a number) naming the epoch or step, before it is applied; in step mode the whole run is
    checked before training starts. A fit that ends, or raises (another callback, Ctrl-C),
    leaves the optimizer as the next fit expects it: its own schedule, or its float lr holding
    the last lr applied; each scheduled hyperparameter holds the optimizer's own float again
    (the one its compiled step bakes in), while during a fit its config and saves report the
    value applied. Repeated fits with the same callback reuse the compiled train step.
    ``learning_rates`` gives the lr of every update of the latest fit; ``scale`` the plateau
    scale. A keras ``TensorBoard(update_freq=N)`` of the fit also shows, at each batch it writes,
    the lr and each scheduled value of that batch (``batch_learning_rate``, ``batch_momentum``).
    How it works inside, and why: ``docs/callback_design.md``.

    Example:

    >>> import numpy as np, keras, keras_lrsched as lrs
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), loss="mse")
    >>> cb = lrs.LearningRateScheduler(lrs.Linear(0.1, end=0.0, steps=4), update="step")
    >>> h = model.fit(np.ones((8, 2)), np.ones(8), batch_size=4, epochs=2, callbacks=[cb],
    ...               verbose=0)
    >>> [round(float(v), 4) for v in cb.learning_rates]
    [0.1, 0.075, 0.05, 0.025]
    >>> [round(v, 4) for v in h.history["learning_rate"]]
    [0.075, 0.025]
    >>> round(float(model.optimizer.learning_rate), 4)
    0.025
    """

    def __init__(
        self,
        schedule,
        verbose=0,
        *,
        update="epoch",
        plateau=None,
        window=None,
        momentum=None,
        weight_decay=None,
        hyperparameters=None,
        lr_multipliers=None,
    ):
        super().__init__()
        self.update = _checks.choice("update", update, _UPDATES)
        if plateau is not None and not isinstance(plateau, Plateau):
            raise TypeError(
                f"Argument `plateau` must be a keras_lrsched Plateau or None. Received: "
                f"plateau={plateau!r}"
            )
        self.window = None if window is None else _checks.integer("window", window, minimum=1)
        schedule = parse(schedule)
        self._source = make_source(schedule)
        self.schedule = schedule
        # keras' callback reads `verbose > 0`: True and 1 alike; "yes" is a mistake.
        verbose = int(verbose) if isinstance(verbose, (bool, np.bool_)) else verbose
        self.verbose = _checks.integer("verbose", verbose, minimum=0)
        self.plateau = plateau
        self.momentum, self.weight_decay = momentum, weight_decay
        self.hyperparameters, self.lr_multipliers = hyperparameters, lr_multipliers
        self._hypers = hyper.specs(momentum, weight_decay, hyperparameters)
        self._lr_multipliers = multipliers.check(lr_multipliers)
        self._state = None
        self._binding = None  # kept across fits: the variables and the compiled step
        self._run = None  # the latest fit's, kept for its read-outs
        self._advice = Advice()

    # ------------------------------------------------------------------ read-outs

    @property
    def learning_rates(self):
        """The lr applied at each optimizer update of the latest ``fit``, as float32.

        Worked out on the host when read, from the schedule and the step range of each epoch.
        """
        if self._run is None:
            return np.zeros(0, dtype=np.float32)
        return self._run.learning_rates()

    @property
    def scale(self):
        """The current plateau scale (1.0 without a plateau, or before the first ``fit``)."""
        if self.plateau is None or self._state is None or self._state.plateau is None:
            return 1.0
        return float(self._state.plateau["scale"])

    def restore(self):
        """Put the optimizer back as it was before ``fit``, its float lr holding the last lr
        applied. Every fit does this when it ends, and the next fit when one raised."""
        if self._binding is not None:
            self._binding.uninstall()

    # ------------------------------------------------------------------ keras hooks

    def set_model(self, model):
        super().set_model(model)
        # Attached now, before any on_train_begin, so that BackupAndRestore finds it wherever it
        # stands in the list: its load writes the saved state straight into this object.
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            self._state = attach_state(optimizer)

    def on_train_begin(self, logs=None):
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ValueError(
                "LearningRateScheduler needs a compiled model with an optimizer: call "
                "model.compile(optimizer=..., loss=...) before fit. Received: a model with "
                "optimizer=None"
            )
        for entry in getattr(optimizer, "optimizers", None) or [optimizer]:
            if not hasattr(entry, "learning_rate"):
                raise ValueError('Optimizer must have a "learning_rate" attribute.')
        install.heal(optimizer)
        self._healing(self._begin, model, optimizer)

    def _begin(self, model, optimizer):
        """Attach the state, plan this fit, make (or reuse) the binding, start the run, install."""
        self._state = attach_state(optimizer)
        self._run = None
        plan = self._plan(model)
        binding = self._binding
        # Checked before anything is installed, as the hyperparameters are in Binding().
        factors = multipliers.factors(
            self._lr_multipliers, model.trainable_variables, model.variables
        )
        if binding is None or not binding.matches(model, optimizer, plan, factors):
            binding = self._binding = install.Binding(model, optimizer, plan, factors)
        self._run = Run(plan, model, binding.targets)
        binding.install(plan)
        # The fit's TensorBoard writes the values per batch.
        tensorboard.attach(self, binding.ledger, self._run, self.restore)

    def _plan(self, model):
        params = self.params or {}
        # Only step mode's window has a size; it follows the fit's steps per epoch.
        window, spe = window_size(self.window, params, model)
        return Plan(
            source=self._source,
            hypers=self._hypers,
            step_mode=self.update == "step",
            plateau=self.plateau,
            state=self._state,
            advice=self._advice,
            verbose=self.verbose,
            window=window,
            spe=spe,
            epochs=params.get("epochs"),
            steps=params.get("steps"),
        )

    def on_epoch_begin(self, epoch, logs=None):
        if self._active():
            self._healing(self._run.epoch_begin, epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self._active() and self._run.check_batches:
            self._healing(self._run.batch_begin, batch)

    def on_train_batch_end(self, batch, logs=None):
        if self._active() and self._run.count_updates:
            self._healing(self._run.batch_end, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self._active():
            self._healing(self._run.epoch_end, epoch, logs if logs is not None else {})

    def on_train_end(self, logs=None):
        self.restore()

    # ------------------------------------------------------------------ helpers

    def _active(self):
        return self._binding is not None and self._binding.installed and self._run is not None

    def _healing(self, method, *args):
        """`method(*args)`; whatever it raises, the optimizer is put back first."""
        try:
            return method(*args)
        except BaseException:
            self.restore()
            raise
