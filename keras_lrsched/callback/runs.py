"""One fit's bookkeeping between the callback's hooks, in epoch mode and in step mode."""

import math
import warnings

import numpy as np

from . import backend

try:  # keras' own printer (absl logging when interactive logging is off), as its callback uses
    from keras.src.utils.io_utils import print_msg as _print_msg
except ImportError:  # pragma: no cover - a keras without the private module

    def _print_msg(message):
        print(message)


MAX_WINDOW = 1 << 16


def window_size(callback):
    """The steps a window serves: `window`, else the steps of one epoch, at most 65536."""
    params = callback.params or {}
    steps = params.get("steps")
    spe = getattr(callback.model, "steps_per_execution", 1) or 1
    spe = int(spe) if isinstance(spe, int) else 1
    if callback.window is not None:
        window = callback.window
    elif steps:
        window = min(int(steps), MAX_WINDOW)
    else:
        window = MAX_WINDOW
    return max(window, spe), spe


class Run:
    """The current fit: where each epoch began, the host-side steppers, what was applied."""

    def __init__(self, callback, binding, window, spe):
        self.cb = callback
        self.binding = binding
        self.model = binding.model
        self.groups = binding.groups
        for g in self.groups:
            g.reset()
        self.step_mode = binding.step_mode
        params = callback.params or {}
        self.epochs = params.get("epochs")
        self.steps = params.get("steps")
        self.window, self.spe = window, spe
        # One entry more than the steps it serves: between epochs the optimizer reports the lr
        # of the next update (TensorBoard logs it), as it does for a schedule it owns.
        self.size = binding.size
        self.check_batches = self.step_mode and (not self.steps or self.steps > self.window)
        # When keras cannot tell an epoch's length, TensorFlow's last train call of the epoch,
        # which finds the data exhausted, still adds 1 to optimizer.iterations with
        # steps_per_execution=1 (weights untouched). The updates that ran are counted from the
        # batch ends, so no lr is recorded, logged or reported for that phantom step.
        self.count_updates = not self.steps
        self.updates = 0  # this epoch's updates, counted from on_train_batch_end
        self.first_epoch = None
        self.horizon = 0
        self.epoch_scale = 1.0
        self.direction = None
        # The batch of this epoch whose update would apply the first value a stepper could not
        # give (sources.Source: a fault ahead of a run of unknown length), and its error.
        self.fault_batch, self.fault_error = math.inf, None
        # Whether the update from `fault_batch` on applies a held value (the fault lies in a
        # window, which serves the last good value), and whether a batch has reached it.
        self.fault_held, self.fault_reached = True, False

    # ------------------------------------------------------------ hooks

    def start(self, epoch):
        """First epoch of this fit: fresh or resumed state, host tables for step mode."""
        self.first_epoch = epoch
        state = self.cb._state
        k0 = self.groups[0].iterations()
        if k0 == 0:
            state.clear()
        plateau = self.cb.plateau
        if plateau is not None and state.plateau is None:
            state.plateau = plateau.initial_state()
        source = self.cb._source
        if not self.step_mode:
            if self.epochs is not None:
                count = max(int(self.epochs) - epoch, 0)
                source.plan_epochs(epoch, count)
                for h in self.cb._hypers:
                    h.source.plan_epochs(epoch, count)
                self.cb._advice.epoch_mode_length(source, int(self.epochs))
            return
        count = None
        if self.epochs is not None and self.steps:
            count = max(int(self.epochs) - epoch, 0) * int(self.steps)
            self.cb._advice.past_the_end(source, k0 + count)
        for i, g in enumerate(self.groups):
            lr_prev = self._current_lr(i, g) if source.needs_lr else None
            k = g.iterations()
            g.stepper = source.stepper(k, count, lr_prev)
            for slot in g.slots:
                slot.stepper = slot.source.stepper(k, count, None)

    def _current_lr(self, i, g):
        """The ``lr`` handed to a recurrence: the optimizer's, or the recurrence's last value."""
        if self.cb.plateau is None and g.lr_var is not None:
            return backend.host_float(g.lr_var)
        state = self.cb._state
        if i in state.last_lrs:
            return state.last_lrs[i]
        if g.epoch_lr is not None and g.epoch_values is not None:
            return float(g.epoch_values)
        return backend.host_float(g.original_lr())

    def _scale(self):
        state = self.cb._state
        if self.cb.plateau is None or state.plateau is None:
            return 1.0
        return float(state.plateau["scale"])

    def epoch_begin(self, epoch):
        if self.first_epoch is None:
            self.start(epoch)
        self.updates = 0
        self.fault_reached = False
        if self.step_mode:
            self._epoch_begin_step_mode(epoch)
        else:
            self._epoch_begin_epoch_mode(epoch)

    def _epoch_begin_epoch_mode(self, epoch):
        source = self.cb._source
        # Only a recurrence is handed the current lr: nobody else pays for reading it back.
        base = [
            source.epoch_value(epoch, self._current_lr(i, g) if source.needs_lr else None)
            for i, g in enumerate(self.groups)
        ]
        # Every value is computed, and checked, before anything is set: a bad one leaves the
        # optimizer as the previous epoch left it.
        slot_values = [
            [slot.source.epoch_value(epoch, None) for slot in g.slots] for g in self.groups
        ]
        scale = self._scale()
        self.epoch_scale = scale
        # A recurrence is handed what others set, as with keras' callback: nothing is lost.
        overridden = not source.needs_lr or self.cb.plateau is not None
        for i, (g, value, values) in enumerate(zip(self.groups, base, slot_values)):
            g.it0 = g.iterations_at_epoch_begin()
            lr = value * scale if self.cb.plateau is not None else value
            if g.lr_var is not None:
                if overridden:
                    self._check_lr_variable(g)
                g.leaf.learning_rate = lr
                g.lr_known = backend.stored_float(g.lr_var, lr)
            else:
                g.epoch_lr.assign(lr)
            g.epoch_values = float(np.float32(lr))
            if source.needs_lr:
                self.cb._state.last_lrs[i] = float(np.float32(value))
            self._say(epoch, g, lr)
            for slot, v in zip(g.slots, values):
                slot.var.assign(v)
                slot.applied = np.float32(v)

    def _epoch_begin_step_mode(self, epoch):
        scale = self._scale()
        self.epoch_scale = scale
        span = self.window if self.check_batches else int(self.steps)
        for g in self.groups:
            self._check_lr_variable(g)
            g.it0 = g.iterations_at_epoch_begin()
            if g.window is not None:
                self._write_window(g, g.it0, g.stepper.get(g.it0, self.size), scale)
            else:
                g.stepper.check(g.it0, span)
            if g.scale is not None:
                g.scale.assign(scale)
            for slot in g.slots:
                if slot.window is not None:
                    self._write_window(slot, g.it0, slot.stepper.get(g.it0, self.size))
                else:
                    slot.stepper.check(g.it0, span)
        self.horizon = self.groups[0].it0 + span
        self._note_faults()
        self._refuse_reached(0)
        if self.cb.verbose:
            for g in self.groups:
                first = g.stepper.get(g.it0, 1)
                self._say(epoch, g, float(first[0]) * scale if first.size else None, g.it0)

    def _write_window(self, g, start, values, scale=1.0):
        """Fill the window of `g` (a group, or a hyperparameter's slot) from step `start`."""
        values = scaled(values[: self.size], scale, self.cb.plateau)
        if values.shape[0] < self.size:
            fill = values[-1] if values.shape[0] else np.float32(0.0)
            pad = np.full(self.size - values.shape[0], fill, np.float32)
            values = np.concatenate([values, pad])
        g.window.assign(values)
        g.start.assign(start)

    def _note_faults(self):
        self.fault_batch, self.fault_error, self.fault_held = math.inf, None, True
        for g in self.groups:
            for x in (g, *g.slots):
                fault = x.stepper.fault
                if fault is not None and fault[0] - g.it0 < self.fault_batch:
                    self.fault_batch, self.fault_error = fault[0] - g.it0, fault[1]
                    self.fault_held = x.window is not None

    def _refuse_reached(self, batch):
        """Refuse a fault once the updates of the execution from `batch` would apply its value.

        Nothing bad reaches the optimizer, and a run that ends before it goes on. Where the
        length is unknown, JAX and TensorFlow call this hook once more at each epoch's end, for
        a batch that turns out not to exist; so a fault held in a window (its update applies
        the last good value) is raised at that batch's end, once the update has run. A value
        computed on the device (a closed form) is refused here, before the execution.
        """
        if batch + self.spe > self.fault_batch:
            if not self.fault_held:
                raise self.fault_error
            self.fault_reached = True

    def batch_begin(self, batch):
        self._refuse_reached(batch)
        first = self.groups[0]
        if first.it0 + batch + self.spe <= self.horizon:
            return
        windows = [x for g in self.groups for x in [g, *g.slots] if x.window is not None]
        if not windows:
            # A closed form needs nothing on the device: check the next values, host only.
            for g in self.groups:
                for x in (g, *g.slots):
                    x.stepper.check(self.horizon, self.window)
            self.horizon += self.window
            self._note_faults()
            self._refuse_reached(batch)
            return
        self.cb.model  # noqa: B018 - under JAX, writes the trainer's state back to the variables
        for g in self.groups:
            k = g.iterations()
            for x in (g, *g.slots):
                if x.window is None:
                    x.stepper.check(k, self.window)
                else:
                    scale = self.epoch_scale if x is g else 1.0  # the plateau scales the lr only
                    self._write_window(x, k, x.stepper.get(k, self.size), scale)
        self.horizon = first.iterations() + self.window
        self._note_faults()
        self._refuse_reached(batch)

    def batch_end(self, batch):
        self.updates = batch + 1  # keras hands the last batch of the execution that ended
        if self.fault_reached and batch >= self.fault_batch:
            raise self.fault_error

    def _updates_this_epoch(self, g, it_end):
        n = max(it_end - g.it0, 0)
        return min(n, self.updates) if self.count_updates else n

    def epoch_end(self, epoch, logs):
        scale = self.epoch_scale
        if self.step_mode and not self.steps:  # a run of unknown length: found out as it goes
            self.cb._advice.past_the_end(self.cb._source, self.groups[0].iterations())
        for i, g in enumerate(self.groups):
            it_end = g.it_end = g.iterations()
            n = self._updates_this_epoch(g, it_end)
            if self.step_mode:
                if i == 0:
                    self.cb._records.append((g.stepper, g.it0, n, scale))
                if n:
                    last = g.stepper.get(g.it0 + n - 1, 1)
                    g.last_applied = scaled(last, scale, self.cb.plateau)[0]
                    if g.stepper.recurrent:
                        self.cb._state.last_lrs[i] = float(last[0])
                    if g.lr_var is not None and id(g.leaf) in self.binding.sync_each_epoch:
                        self._set_lr_variable(g, g.last_applied)
                logged = g.last_applied
                if logged is None:
                    nxt = g.stepper.get(it_end, 1)
                    logged = scaled(nxt, scale, self.cb.plateau)[0] if nxt.size else 0.0
                logs[g.key] = float(logged)
                for slot in g.slots:
                    values = slot.stepper.get(g.it0 + n - 1 if n else it_end, 1)
                    if n:
                        slot.applied = values[0]
                    logs[slot.key] = float(slot.applied if slot.applied is not None else values[0])
            else:
                if i == 0:
                    self.cb._records.append((None, g.epoch_values, n, 1.0))
                g.last_applied = np.float32(g.epoch_values)
                logs[g.key] = backend.host_float(g.leaf.learning_rate)
                for slot in g.slots:
                    logs[slot.key] = float(slot.applied)
        if self.cb.plateau is not None:
            self._plateau_step(logs)

    def _plateau_step(self, logs):
        plateau = self.cb.plateau
        current = logs.get(plateau.monitor)
        if current is None:
            warnings.warn(
                "Learning rate reduction is conditioned on metric "
                f"`{plateau.monitor}` which is not available. Available metrics "
                f"are: {','.join(list(logs.keys()))}.",
                stacklevel=3,
            )
            return
        if self.direction is None:
            self.direction = plateau.direction(self.model)
        state = self.cb._state
        state.plateau = plateau.update(state.plateau, current, self.direction)

    # ------------------------------------------------------------ the optimizer's own lr

    def _latest_lr(self, g):
        """Step mode: the lr of the latest update of this fit, or None before the first."""
        if g.stepper is None:
            return None
        k = g.iterations()
        if k > g.it0:
            return scaled(g.stepper.get(k - 1, 1), self.epoch_scale, self.cb.plateau)[0]
        return g.last_applied  # no update yet this epoch: the previous one's, if any

    def _check_lr_variable(self, g):
        """Warn, once, when the lr variable holds what neither this fit nor a load put there."""
        if g.lr_var is None or g.lr_known is None:
            return
        found = backend.host_float(g.lr_var)
        if found != g.lr_known:
            self.cb._advice.changed_elsewhere(g.entry.name, g.lr_known, found)

    def _set_lr_variable(self, g, value):
        g.lr_var.assign(float(value))
        # Read back: in the variable's own dtype (a float16 floatx rounds it).
        g.lr_known = backend.host_float(g.lr_var)

    def pending_lr(self, g):
        """Step mode: the lr `g`'s float lr variable should hold now, the lr of the latest
        update, or None when it should keep what it holds (no update yet, or something else
        set it since this fit last did: ``optimizer.learning_rate = x`` after a fit that raised
        takes effect, in the next fit and in a save before it). Host reads only.
        """
        if not self.step_mode or g.lr_var is None:
            return None
        value = self._latest_lr(g)
        if value is None:
            return None
        if g.lr_known is not None and backend.host_float(g.lr_var) != g.lr_known:
            return None
        return value

    def sync_lr_variables(self):
        """Make each float lr variable hold the lr of the latest update, when the fit's hooks
        come off (every process of a multi-process run does this at the same point). A save
        or a config read writes that value in place of the variable's without assigning it
        (install.py): it may run on one process only, and under multi-process JAX an assign to
        a global array is a collective of all processes."""
        for g in self.groups:
            value = self.pending_lr(g)
            if value is not None:
                self._set_lr_variable(g, value)

    def _say(self, epoch, g, lr, step=None):
        if not self.cb.verbose or lr is None:
            return
        name = f"{g.entry.name} " if len(self.groups) > 1 else ""
        where = "" if step is None else f" from step {step} (updated every step)"
        _print_msg(
            f"\nEpoch {epoch + 1}: LearningRateScheduler setting {name}learning rate to "
            f"{lr}{where}."
        )

    def batch_values(self, batch):
        """{logs key: float}: the lr (times the plateau scale) and each scheduled
        hyperparameter of every driven optimizer, at the last update of the execution that
        ended at `batch` (the index keras hands ``on_train_batch_end``). Host only: in step
        mode each stepper at ``it0 + batch`` (with ``gradient_accumulation_steps=a``, batches
        count micro-steps: ``it0 + batch // a``, exact when an epoch's batches are a multiple
        of a), in epoch mode the epoch's values; nothing is read from the device."""
        values = {}
        for g in self.groups:
            if not self.step_mode:
                if g.epoch_values is not None:
                    values[g.key] = float(g.epoch_values)
                for slot in g.slots:
                    if slot.applied is not None:
                        values[slot.key] = float(slot.applied)
                continue
            if g.stepper is None:  # before the fit's first epoch
                continue
            k = g.it0 + batch // (getattr(g.leaf, "gradient_accumulation_steps", None) or 1)
            lr = g.stepper.get(k, 1)
            if lr.size:
                values[g.key] = float(scaled(lr, self.epoch_scale, self.cb.plateau)[0])
            for slot in g.slots:
                value = slot.stepper.get(k, 1)
                if value.size:
                    values[slot.key] = float(value[0])
        return values


def scaled(values, scale, plateau):
    values = np.asarray(values, dtype=np.float32)
    if plateau is None:
        return values
    return values * np.float32(scale)
