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
  ``_backend_apply_gradients`` assigns it before each update (hyper.py); with
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
from .ledger import Ledger
from .multipliers import Multipliers

INSTALL_ATTR = "_keras_lrsched_install"
_BASE_SAVE = keras.optimizers.Optimizer.save_own_variables


def leaf(optimizer):
    """The optimizer that owns the learning rate (a LossScaleOptimizer delegates inward)."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


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


class Group:
    """One optimizer the callback drives: its variables (kept across fits) and the bookkeeping
    of the current fit."""

    def __init__(self, entry, key):
        self.entry = entry  # as listed in optimizer.optimizers, for names and messages
        self.key = key  # the logs key
        self.leaf = leaf(entry)
        lr = self.leaf.learning_rate
        self.lr_var = lr if isinstance(lr, keras.Variable) else None
        self.original_lr = self.leaf._get_current_learning_rate  # bound before any override
        self.window = self.start = self.scale = self.epoch_lr = None
        self.getter = None
        self.slots = []  # hyper.Slot: the hyperparameters scheduled on this optimizer
        self.multipliers = None  # multipliers.Multipliers, with lr_multipliers
        self.reset()

    def reset(self):
        self.stepper = None
        self.it0 = 0  # iterations when the current epoch began
        self.it_end = None  # iterations when the previous epoch ended (this fit)
        self.epoch_values = None  # epoch mode: the lr applied this epoch
        self.last_applied = None  # float32 value of the latest update's lr
        self.lr_known = None  # what the optimizer's lr variable held when this fit last saw it
        for slot in self.slots:
            slot.reset()

    def iterations(self):
        return backend.host_int(self.leaf.iterations)

    def iterations_at_epoch_begin(self):
        """The step count, as read at the previous epoch's end if there was one this fit.

        Nothing trains between an epoch's end and the next one's begin: one device read per
        epoch instead of two.
        """
        known, self.it_end = self.it_end, None
        return known if known is not None else self.iterations()


class Binding:
    """What one callback installs on one compiled model's optimizer(s), kept across fits."""

    def __init__(self, callback, model, optimizer, size, factors=None):
        self.callback, self.model, self.optimizer = callback, model, optimizer
        self.step_mode = callback.update == "step"
        self.size = size  # the window's entries: the steps it serves, plus one
        self.token = (_compile_token(model), callback.plateau is None)
        if hasattr(optimizer, "optimizers"):
            entries = list(optimizer.optimizers)
            keys = [f"learning_rate_{o.name}" for o in entries]
        else:
            entries, keys = [optimizer], ["learning_rate"]
        self.groups = [Group(e, k) for e, k in zip(entries, keys)]
        for g in self.groups:  # checked here, before anything is installed
            pairs = hyper.check_distinct(callback._hypers, g.leaf)
            suffix = "" if len(self.groups) == 1 else f"_{g.entry.name}"
            g.slots = [hyper.Slot(h, attr, f"{h.key}{suffix}") for h, attr in pairs]
            g.multipliers = None if factors is None else Multipliers(factors[0], g.leaf)
        self.factors = None if factors is None else factors[1]  # per trainable variable
        self.counts = [len(opt.variables) for opt in all_optimizers(optimizer)]
        self.variables = []  # (optimizer, variable): made at the first install
        self.compiled = None  # the train function traced with the hooks in place
        self.left = None  # the train function the last uninstall left on the model
        self.installed = False
        self.run = None  # the current fit's bookkeeping (runs.Run)
        self.sync_each_epoch = set()  # ids of optimizers whose lr variable no save syncs
        self.ledger = Ledger()  # everything this install changed on the optimizers and model
        self._made = False

    def matches(self, model, optimizer, size, factors=None):
        """Whether this binding can be installed again for a fit of `model` (no retrace)."""
        return (
            model is self.model
            and (None if factors is None else factors[1]) == self.factors
            and getattr(model, "optimizer", None) is optimizer is self.optimizer
            and size == self.size
            and (_compile_token(model), self.callback.plateau is None) == self.token
            and [len(opt.variables) for opt in all_optimizers(optimizer)] == self.counts
            and (self.compiled is None or model.train_function is self.left)
        )

    # ------------------------------------------------------------ install

    def install(self):
        # First: whatever fails below, uninstall undoes what the ledger holds by then.
        self.installed = True
        ledger = self.ledger
        ledger.set(self.optimizer, INSTALL_ATTR, self)
        if not self._made:
            self._make_variables()
        else:
            for opt, var in self.variables:
                backend.track(opt, var)
        for opt, var in self.variables:
            ledger.call_on_undo(lambda opt=opt, var=var: backend.untrack(opt, var))
        for g in self.groups:
            if g.getter is not None:
                ledger.set(g.leaf, "_get_current_learning_rate", g.getter)
            if g.lr_var is not None and self.step_mode:
                g.lr_known = backend.host_float(g.lr_var)
            hyper.put_on(g, self.step_mode, ledger)
            m = g.multipliers
            if m is not None:
                ledger.set(g.leaf, "_get_current_learning_rate",
                           m.lr_getter(g.getter or g.original_lr))
                ledger.wrap(g.leaf, "_backend_update_step", m.update_step)
                ledger.wrap(g.leaf, "_apply_weight_decay", m.weight_decay)
        if self.variables or self.step_mode:
            self._override_savers()
        backend.record_state_shardings(self.model)
        # A step traced with the optimizer's floats (hyperparameters) or without the getter
        # and wrappers is not this fit's.
        if any(g.getter is not None or g.slots or g.multipliers for g in self.groups):
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

    def _make_variables(self):
        model, source, size = self.model, self.callback._source, self.size
        self.variables = []  # what a failed attempt made was untracked by its uninstall

        def new(g, shape, dtype, name):
            var = backend.new_variable(model, g.leaf, shape, dtype, name)
            self.variables.append((g.leaf, var))
            return var

        for g in self.groups:
            hyper.make_variables(g, new, self.step_mode, size)
            if not self.step_mode:
                if g.lr_var is None:  # else keras' way: assign the optimizer's own lr variable
                    g.epoch_lr = new(g, (), "float32", "keras_lrsched_lr")
                    g.getter = backend.epoch_getter(g.epoch_lr)
                continue
            if source.in_graph is None:
                g.window = new(g, (size,), "float32", "keras_lrsched_window")
                iterations_dtype = keras.backend.standardize_dtype(g.leaf.iterations.dtype)
                g.start = new(g, (), iterations_dtype, "keras_lrsched_window_start")
            elif self.callback.plateau is not None:
                # A window holds lr * scale, written on the host; a schedule computed in the
                # step multiplies by this variable instead.
                g.scale = new(g, (), "float32", "keras_lrsched_scale")
                g.scale.assign(1.0)
            g.getter = backend.step_getter(
                g.leaf, source.in_graph, g.window, g.start, g.scale, size
            )
        self._made = True

    def _override_savers(self):
        self.sync_each_epoch = set()
        slots = {id(g.leaf) for g in self.groups if g.slots}
        for opt in all_optimizers(self.optimizer):
            # Step mode gives the optimizer's own lr variable the latest lr in what reads it (a
            # save, its config) and writes it when the fit ends, not at every epoch end: under
            # JAX each write costs ~0.2 ms. A scheduled hyperparameter's variable is reported
            # as the float it holds.
            synced = self.step_mode or id(opt) in slots
            if synced:
                self.ledger.set(opt, "get_config", _synced_config(self, opt))
            if type(opt).save_own_variables is not _BASE_SAVE:
                # An optimizer with its own format is left alone; its lr variable is then
                # written at every epoch end instead (on every process), since no save of it
                # reports the latest lr.
                self.sync_each_epoch.add(id(opt))
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
            if self.run is not None:
                self.run.sync_lr_variables()
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
        for g in self.groups:
            if g.leaf is opt and g.slots:
                k = g.iterations() if self.step_mode else 0
                for slot in g.slots:
                    found[slot.attr] = slot.pending(self.step_mode, k, g.it0)
        return found

    def pending_lr(self, opt):
        """(the lr variable of `opt`, the lr a save or config read gives it now, or None).

        Host reads only, so that a save on one process of a multi-process run (ModelCheckpoint
        on the chief) changes nothing on the devices."""
        for g in self.groups:
            if g.leaf is opt and g.lr_var is not None and self.run is not None:
                return g.lr_var, self.run.pending_lr(g)
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
        for g in binding.groups:
            if g.leaf is opt and g.lr_var is not None:
                # A restore (BackupAndRestore), not someone else's lr: later saves sync again.
                g.lr_known = backend.host_float(g.lr_var)

    return load_own_variables
