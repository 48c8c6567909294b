"""Installing the callback's hooks on the optimizer for a fit, and taking them off again.

Keras offers no public way to compute the lr inside the train step, so for the duration of a
fit the callback sets instance attributes (docs/callback_design.md):

* ``optimizer._get_current_learning_rate``: the lr of every update (the ``learning_rate``
  property reads through it too), while the optimizer's own ``_learning_rate`` (its variable
  or its schedule), and so its config, stay untouched;
* the variables that getter reads, made by ``optimizer.add_variable`` (so that the JAX trainer
  carries them into the step) and put among the optimizer's variables only during the fit;
* ``save_own_variables``/``load_own_variables``/``get_config`` on the optimizer, so that a file
  saved mid-fit is a plain keras file;
* with ``momentum``, ``weight_decay`` or ``hyperparameters``, each scheduled attribute
  (``beta_1``, ``weight_decay``, ...) becomes a variable, and in step mode
  ``_backend_apply_gradients`` assigns it before each update (torch's eager step: sets it to
  the update's float) (hyper.py); with
  ``lr_multipliers``, ``_backend_update_step`` and ``_apply_weight_decay`` run once per group of
  variables that share a multiplier (multipliers.py);
* ``model.make_train_function``: a guard. Keras calls ``on_train_end`` only when a fit ends, so
  a fit that raised (another callback, Ctrl-C) leaves all of the above in place. Every fit calls
  ``make_train_function()`` before any ``on_train_begin``; the guard takes everything off there.
  A fit with this callback then puts it back in its ``on_train_begin``. A rebuild forced during
  the fit (``make_train_function(force=True)``, as keras advises after changing
  ``layer.trainable``) is not a new fit: it rebuilds the step with the hooks in place.

A `Binding` is kept across fits: its variables and its compiled train step are put back at the
next fit, so that repeated fits do not retrace. A new one (and one compile) comes with another
model, optimizer or window size, a plateau added or removed, a changed number of optimizer
variables, or a model train function that is not the one the binding left (``model.compile()``,
a forced rebuild between fits).
"""

import warnings

import keras

from . import backend, hyper
from .channels import Target, leaf
from .ledger import Ledger
from .multipliers import Multipliers

INSTALL_ATTR = "_keras_lrsched_install"
_BASE_SAVE = keras.optimizers.Optimizer.save_own_variables


def all_optimizers(optimizer):
    found, todo = [], [optimizer]
    while todo:
        opt = todo.pop()
        if any(opt is o for o in found):
            continue
        found.append(opt)
        todo.extend(getattr(opt, "optimizers", None) or [])
        inner = getattr(opt, "inner_optimizer", None)
        if inner is not None:
            todo.append(inner)
    return found


def heal(optimizer):
    """Take off whatever a fit that never ended left installed on `optimizer`."""
    stale = getattr(optimizer, INSTALL_ATTR, None)
    if stale is not None:
        stale.uninstall()


def _compile_token(model):
    # model.compile() makes a new loss tracker: a step compiled before it is stale.
    return getattr(model, "_loss_tracker", None)


class Binding:
    """What one callback installs on one compiled model's optimizer(s), kept across fits: the
    targets, their channels' variables, and the compiled train step. Made from the first fit's
    plan; each later fit's plan is checked by `matches`."""

    def __init__(self, model, optimizer, plan, factors=None):
        self.model, self.optimizer = model, optimizer
        self.step_mode = plan.step_mode
        self.size = plan.size  # the window's entries: the steps it serves, plus one
        self.token = (_compile_token(model), plan.plateau is None)
        if hasattr(optimizer, "optimizers"):
            entries = list(optimizer.optimizers)
            keys = [f"learning_rate_{o.name}" for o in entries]
        else:
            entries, keys = [optimizer], ["learning_rate"]
        self.targets = []
        for entry, key in zip(entries, keys):  # checked here, before anything is installed
            pairs = hyper.check_distinct(plan.hypers, leaf(entry))
            suffix = "" if len(entries) == 1 else f"_{entry.name}"
            t = Target(entry, key, plan.source, pairs, suffix)
            t.multipliers = None if factors is None else Multipliers(factors[0], t.leaf)
            self.targets.append(t)
        self.factors = None if factors is None else factors[1]  # per trainable variable
        self.counts = [len(opt.variables) for opt in all_optimizers(optimizer)]
        self.variables = []  # (optimizer, variable): made at the first install
        self.compiled = None  # the train function traced with the hooks in place
        self.left = None  # the train function the last uninstall left on the model
        self.installed = False
        self.ledger = Ledger()  # everything this install changed on the optimizers and model
        self._made = False

    def matches(self, model, optimizer, plan, factors=None):
        """Whether this binding can be installed again for a fit of `model` (no retrace)."""
        return (
            model is self.model
            and (None if factors is None else factors[1]) == self.factors
            and getattr(model, "optimizer", None) is optimizer is self.optimizer
            and plan.size == self.size
            and (_compile_token(model), plan.plateau is None) == self.token
            and [len(opt.variables) for opt in all_optimizers(optimizer)] == self.counts
            and (self.compiled is None or model.train_function is self.left)
        )

    # ------------------------------------------------------------ install

    def install(self, plan):
        # First: whatever fails below, uninstall undoes what the ledger holds by then.
        self.installed = True
        ledger = self.ledger
        ledger.set(self.optimizer, INSTALL_ATTR, self)
        if not self._made:
            self._make_variables(plan)
        else:
            for opt, var in self.variables:
                backend.track(opt, var)
        for opt, var in self.variables:
            ledger.call_on_undo(lambda opt=opt, var=var: backend.untrack(opt, var))
        for t in self.targets:
            if t.getter is not None:
                ledger.set(t.leaf, "_get_current_learning_rate", t.getter)
            if t.lr_var is not None and self.step_mode:
                t.lr_known = backend.host_float(t.lr_var)
            hyper.put_on(t, self.step_mode, ledger)
            m = t.multipliers
            if m is not None:
                m.forget()
                ledger.call_on_undo(m.forget)
                ledger.set(t.leaf, "_get_current_learning_rate",
                           m.lr_getter(t.getter or t.original_lr))
                ledger.wrap(t.leaf, "_backend_update_step", m.update_step)
                ledger.wrap(t.leaf, "_apply_weight_decay", m.weight_decay)
        if self.variables or self.step_mode:
            self._override_savers()
        backend.record_state_shardings(self.model)
        # A step traced with the optimizer's floats (hyperparameters) or without the getter
        # and wrappers is not this fit's.
        if any(t.getter is not None or t.hypers or t.multipliers for t in self.targets):
            model = self.model
            if self.compiled is None:
                # The compiled step must see the installed lr: built once for this binding.
                ledger.set(model, "train_function", model.train_function)
                self.rebuild()
            else:
                ledger.set(model, "train_function", self.compiled)
            ledger.set(model, "make_train_function", _guard(self))

    def rebuild(self):
        model = self.model
        backend.compile_train_function(model)
        self.compiled = model.train_function

    def _make_variables(self, plan):
        model, size = self.model, self.size
        self.variables = []  # what a failed attempt made was untracked by its uninstall
        host_floats = self.step_mode and backend.eager_torch(model)
        for t in self.targets:

            def new(shape, dtype, name, t=t):
                var = backend.new_variable(model, t.leaf, shape, dtype, name)
                self.variables.append((t.leaf, var))
                return var

            for channel in t.channels:
                channel.make_variables(new, t, self.step_mode, size, plan.plateau, host_floats)
            if self.step_mode:
                t.getter = t.lr.reader
            elif t.lr.var is not None:
                t.getter = backend.epoch_getter(t.lr.var)
        self._made = True

    def _override_savers(self):
        with_hypers = {id(t.leaf) for t in self.targets if t.hypers}
        for t in self.targets:
            t.sync_each_epoch = False
        for opt in all_optimizers(self.optimizer):
            # Step mode gives the optimizer's own lr variable the latest lr in what reads it (a
            # save, its config) and writes it when the fit ends, not at every epoch end: each
            # write is a device op, and under multi-process JAX a collective. A scheduled
            # hyperparameter is reported as the float it holds.
            if self.step_mode or id(opt) in with_hypers:
                self.ledger.set(opt, "get_config", _synced_config(self, opt))
            if type(opt).save_own_variables is not _BASE_SAVE:
                # An optimizer with its own format is left alone; its lr variable is then
                # written at every epoch end instead (on every process), since no save of it
                # reports the latest lr.
                for t in self.targets:
                    t.sync_each_epoch = t.sync_each_epoch or t.leaf is opt
                continue
            self.ledger.set(opt, "save_own_variables", _saver(self, opt))
            self.ledger.set(opt, "load_own_variables", _loader(self, opt))

    # ------------------------------------------------------------ uninstall

    def uninstall(self):
        """Take everything off: after a fit, at the next fit after one that raised, or in
        ``restore()``. The optimizer's float lr then holds the last lr applied (unless something
        else set it since the callback last did)."""
        if not self.installed:
            return
        model = self.model
        try:
            # Matched to optimizer.variables by position: written back while ours are still in.
            backend.sync_jax_state(model)
            # Every process of a multi-process run does this at the same point. A save or a
            # config read writes the latest lr in place of the variable's without assigning it
            # (below): it may run on one process only, and under multi-process JAX an assign
            # to a global array is a collective of all processes.
            if self.step_mode:
                for t in self.targets:
                    t.sync_lr_variable()
        finally:
            self._take_off()

    def _take_off(self):
        model = self.model
        try:
            self.ledger.undo()
        finally:
            # An optimizer built during the fit (TensorFlow builds it in the first step) is
            # part of the compiled step: the next fit matches it.
            self.counts = [len(opt.variables) for opt in all_optimizers(self.optimizer)]
            self.left = model.train_function
            self.installed = False
            backend.record_state_shardings(model)

    # ------------------------------------------------------------ reads for the saving overrides

    def visible(self, opt):
        ours = {id(v) for _, v in self.variables}
        return [v for v in opt.variables if id(v) not in ours]

    def pending_hyperparameters(self, opt):
        """{attribute: float} of `opt`'s scheduled hyperparameters, as its config reports them."""
        found = {}
        for t in self.targets:
            if t.leaf is opt and t.hypers:
                k = t.iterations() if self.step_mode else 0
                for c in t.hypers:
                    found[c.attr] = c.pending(k, t.it0)
        return found

    def pending_lr(self, opt):
        """(the lr variable of `opt`, the lr a save or config read gives it now, or None).

        Host reads only, so that a save on one process of a multi-process run (ModelCheckpoint
        on the chief) changes nothing on the devices."""
        for t in self.targets:
            if t.leaf is opt and t.lr_var is not None:
                return t.lr_var, t.pending_lr() if self.step_mode else None
        return None, None


def _guard(binding):
    """``model.make_train_function`` while installed: the first thing every fit calls."""
    model = binding.model

    def make_train_function(force=False):
        if force:
            # A rebuild asked for during a fit (layer.trainable changed): with the hooks in place.
            # The plain step traced before it is stale too: keras builds it anew when next needed.
            binding.rebuild()
            binding.ledger.forget_previous(model, "train_function", None)
            return None
        # A fit (or train_on_batch) after a fit that never ended: the optimizer and the step go
        # back to the model's own first. A fit with this callback re-installs at its train begin.
        binding.uninstall()
        return type(model).make_train_function(model)

    return make_train_function


def _synced_config(binding, opt):
    original = type(opt).get_config

    def get_config():
        config = original(opt)
        lr_var, value = binding.pending_lr(opt)
        if value is not None:
            config["learning_rate"] = float(backend.as_stored(lr_var, value))
        config.update(binding.pending_hyperparameters(opt))
        return config

    return get_config


def _saver(binding, opt):
    def save_own_variables(store):
        lr_var, value = binding.pending_lr(opt)
        for i, variable in enumerate(binding.visible(opt)):
            if value is not None and variable is lr_var:
                store[str(i)] = backend.as_stored(variable, value)
            else:
                store[str(i)] = variable.numpy()

    return save_own_variables


def _loader(binding, opt):
    def load_own_variables(store):
        variables = binding.visible(opt)
        if len(store.keys()) != len(variables):
            warnings.warn(
                f"Skipping variable loading for optimizer '{opt.name}', because it has "
                f"{len(variables)} variables whereas the saved optimizer has "
                f"{len(store.keys())} variables.",
                stacklevel=2,
            )
            return
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])
        for t in binding.targets:
            if t.leaf is opt and t.lr_var is not None:
                # A restore (BackupAndRestore), not someone else's lr: later saves sync again.
                t.lr_known = backend.host_float(t.lr_var)

    return load_own_variables
