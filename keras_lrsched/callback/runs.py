"""One fit's bookkeeping between the callback's hooks, in epoch mode and in step mode.

A `Run` is made from the fit's `Plan` and the binding's targets (channels.py); it owns the
records of what was applied, and reads nothing of the callback."""

import math
import warnings
from typing import NamedTuple

import numpy as np

from . import backend
from .channels import scaled

try:  # keras' own printer (absl logging when interactive logging is off), as its callback uses
    from keras.src.utils.io_utils import print_msg as _print_msg
except ImportError:  # pragma: no cover - a keras without the private module

    def _print_msg(message):
        print(message)


class Span(NamedTuple):
    """The updates of one epoch: `count` of them, from step `first`, at `lr` (epoch mode) or
    the lr channel's `stepper` times the plateau `scale` (step mode)."""

    first: int
    count: int
    stepper: object = None
    scale: object = None
    lr: float = None


class Run:
    """The current fit: where each epoch began, the host-side steppers, what was applied."""

    def __init__(self, plan, model, targets):
        self.plan, self.model = plan, model
        self.groups = targets
        for t in targets:
            t.reset()
        self.step_mode = plan.step_mode
        self.epochs, self.steps = plan.epochs, plan.steps
        self.window, self.spe, self.size = plan.window, plan.spe, plan.size
        self.check_batches = self.step_mode and (not self.steps or self.steps > self.window)
        # When keras cannot tell an epoch's length, TensorFlow's last train call of the epoch,
        # which finds the data exhausted, still adds 1 to optimizer.iterations with
        # steps_per_execution=1 (weights untouched). The updates that ran are counted from the
        # batch ends, so no lr is recorded, logged or reported for that phantom step.
        self.count_updates = not self.steps
        self.updates = 0  # this epoch's updates, counted from on_train_batch_end
        self.records = []  # a Span per epoch: what the lr channel of the first target applied
        self.first_epoch = None
        self.horizon = 0
        self.epoch_scale = None  # the plateau scale of this epoch; None without a plateau
        self.direction = None
        # The batch of this epoch whose update would apply the first value a stepper could not
        # give (sources.Source: a fault ahead of a run of unknown length), and its error.
        self.fault_batch, self.fault_error = math.inf, None
        # Whether the update from `fault_batch` on applies a held value (the fault lies in a
        # window, which serves the last good value), and whether a batch has reached it.
        self.fault_held, self.fault_reached = True, False

    # ------------------------------------------------------------ read-outs

    def learning_rates(self):
        """The lr of every update of this fit, as float32, worked out on the host."""
        spans = {}  # one read per stepper, over all its epochs' steps
        for r in self.records:
            if r.stepper is not None:
                lo, hi = spans.get(id(r.stepper), (r.first, r.first + r.count))
                spans[id(r.stepper)] = (min(lo, r.first), max(hi, r.first + r.count))
        values = {}
        parts = []
        for r in self.records:
            if r.stepper is None:
                parts.append(np.full(r.count, r.lr, dtype=np.float32))
                continue
            lo, hi = spans[id(r.stepper)]
            if id(r.stepper) not in values:
                values[id(r.stepper)] = r.stepper.get(lo, hi - lo)
            part = values[id(r.stepper)][r.first - lo : r.first - lo + r.count]
            parts.append(scaled(part, r.scale))
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(parts)

    # ------------------------------------------------------------ hooks

    def start(self, epoch):
        """First epoch of this fit: fresh or resumed state, host tables for step mode."""
        plan = self.plan
        self.first_epoch = epoch
        state = plan.state
        k0 = self.groups[0].iterations()
        if k0 == 0:
            state.clear()
        if plan.plateau is not None and state.plateau is None:
            state.plateau = plan.plateau.initial_state()
        source = plan.source
        if not self.step_mode:
            if self.epochs is not None:
                count = max(int(self.epochs) - epoch, 0)
                for s in plan.sources:
                    s.plan_epochs(epoch, count)
                plan.advice.epoch_mode_length(source, int(self.epochs))
            return
        count = None
        if self.epochs is not None and self.steps:
            count = max(int(self.epochs) - epoch, 0) * int(self.steps)
            plan.advice.past_the_end(source, k0 + count)
        for i, t in enumerate(self.groups):
            k = t.iterations()
            t.lr.begin(k, count, self._current_lr(i, t) if source.needs_lr else None)
            for c in t.hypers:
                c.begin(k, count)

    def _current_lr(self, i, t):
        """The ``lr`` handed to a recurrence: the optimizer's, or the recurrence's last value."""
        plan = self.plan
        if plan.plateau is None and t.lr_var is not None:
            return backend.host_float(t.lr_var)
        if i in plan.state.last_lrs:
            return plan.state.last_lrs[i]
        if t.lr.var is not None and t.lr.applied is not None:
            return float(t.lr.applied)
        return backend.host_float(t.original_lr())

    def _scale(self):
        state = self.plan.state
        if self.plan.plateau is None or state.plateau is None:
            return None
        return float(state.plateau["scale"])

    def epoch_begin(self, epoch):
        if self.first_epoch is None:
            self.start(epoch)
        self.updates = 0
        self.fault_reached = False
        self.epoch_scale = self._scale()
        if self.step_mode:
            self._epoch_begin_step_mode(epoch)
        else:
            self._epoch_begin_epoch_mode(epoch)

    def _epoch_begin_epoch_mode(self, epoch):
        plan = self.plan
        source = plan.source
        # Only a recurrence is handed the current lr: nobody else pays for reading it back.
        base = [
            source.epoch_value(epoch, self._current_lr(i, t) if source.needs_lr else None)
            for i, t in enumerate(self.groups)
        ]
        # Every value is computed, and checked, before anything is set: a bad one leaves the
        # optimizer as the previous epoch left it.
        hyper_values = [[c.source.epoch_value(epoch, None) for c in t.hypers] for t in self.groups]
        scale = self.epoch_scale
        # A recurrence is handed what others set, as with keras' callback: nothing is lost.
        overridden = not source.needs_lr or plan.plateau is not None
        for i, (t, value, values) in enumerate(zip(self.groups, base, hyper_values)):
            t.it0 = t.iterations_at_epoch_begin()
            lr = value if scale is None else value * scale
            if t.lr_var is not None:
                if overridden:
                    self._check_lr_variable(t)
                t.leaf.learning_rate = lr
                t.lr_known = backend.stored_float(t.lr_var, lr)
            else:
                t.lr.var.assign(lr)
            t.lr.applied = np.float32(lr)
            if source.needs_lr:
                plan.state.last_lrs[i] = float(np.float32(value))
            self._say(epoch, t, lr)
            for c, v in zip(t.hypers, values):
                c.set_epoch_value(v)

    def _epoch_begin_step_mode(self, epoch):
        span = self.window if self.check_batches else int(self.steps)
        for t in self.groups:
            self._check_lr_variable(t)
            t.it0 = t.next_step = t.iterations_at_epoch_begin()
            t.lr.set_scale(self.epoch_scale)
            for c in t.channels:
                c.serve(t.it0, self.size, span)
        self.horizon = self.groups[0].it0 + span
        self._note_faults()
        self._refuse_reached(0)
        if self.plan.verbose:
            scale = 1.0 if self.epoch_scale is None else self.epoch_scale
            for t in self.groups:
                first = t.lr.stepper.get(t.it0, 1)
                self._say(epoch, t, float(first[0]) * scale if first.size else None, t.it0)

    def _note_faults(self):
        self.fault_batch, self.fault_error, self.fault_held = math.inf, None, True
        for t in self.groups:
            for c in t.channels:
                fault = c.stepper.fault
                if fault is not None and fault[0] - t.it0 < self.fault_batch:
                    self.fault_batch, self.fault_error = fault[0] - t.it0, fault[1]
                    self.fault_held = c.windowed

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
        if not any(c.windowed for t in self.groups for c in t.channels):
            # A closed form needs nothing on the device: check the next values, host only.
            for t in self.groups:
                for c in t.channels:
                    c.serve(self.horizon, self.size, self.window)
            self.horizon += self.window
        else:
            backend.sync_jax_state(self.model)  # the variables read below are the trainer's
            for t in self.groups:
                k = t.next_step = t.iterations()
                for c in t.channels:
                    c.serve(k, self.size, self.window)
            self.horizon = first.iterations() + self.window
        self._note_faults()
        self._refuse_reached(batch)

    def batch_end(self, batch):
        self.updates = batch + 1  # keras hands the last batch of the execution that ended
        if self.fault_reached and batch >= self.fault_batch:
            raise self.fault_error

    def _updates_this_epoch(self, t, it_end):
        n = max(it_end - t.it0, 0)
        return min(n, self.updates) if self.count_updates else n

    def epoch_end(self, epoch, logs):
        plan = self.plan
        if self.step_mode and not self.steps:  # a run of unknown length: found out as it goes
            plan.advice.past_the_end(plan.source, self.groups[0].iterations())
        for i, t in enumerate(self.groups):
            it_end = t.it_end = t.iterations()
            n = self._updates_this_epoch(t, it_end)
            if self.step_mode:
                self._epoch_end_step_mode(i, t, n, it_end, logs)
            else:
                if i == 0:
                    self.records.append(Span(t.it0, n, lr=float(t.lr.applied)))
                logs[t.lr.key] = backend.host_float(t.leaf.learning_rate)
                for c in t.hypers:
                    logs[c.key] = float(c.applied)
        if plan.plateau is not None:
            self._plateau_step(logs)

    def _epoch_end_step_mode(self, i, t, n, it_end, logs):
        lr = t.lr
        if i == 0:
            self.records.append(Span(t.it0, n, lr.stepper, self.epoch_scale))
        if n:
            last = lr.stepper.get(t.it0 + n - 1, 1)
            lr.applied = scaled(last, self.epoch_scale)[0]
            if lr.stepper.recurrent:
                self.plan.state.last_lrs[i] = float(last[0])
            if t.lr_var is not None and t.sync_each_epoch:
                t.set_lr_variable(lr.applied)
        logged = lr.applied
        if logged is None:
            logged = lr.value(it_end)
        logs[lr.key] = float(logged if logged is not None else 0.0)
        for c in t.hypers:
            value = c.value(t.it0 + n - 1 if n else it_end)
            if n:
                c.applied = value
            logs[c.key] = float(c.applied if c.applied is not None else value)

    def _plateau_step(self, logs):
        plateau = self.plan.plateau
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
        state = self.plan.state
        state.plateau = plateau.update(state.plateau, current, self.direction)

    def _check_lr_variable(self, t):
        """Warn, once, when the lr variable holds what neither this fit nor a load put there."""
        changed = t.lr_changed_elsewhere()
        if changed is not None:
            self.plan.advice.changed_elsewhere(t.entry.name, *changed)

    def _say(self, epoch, t, lr, step=None):
        if not self.plan.verbose or lr is None:
            return
        name = f"{t.entry.name} " if len(self.groups) > 1 else ""
        where = "" if step is None else f" from step {step} (updated every step)"
        _print_msg(
            f"\nEpoch {epoch + 1}: LearningRateScheduler setting {name}learning rate to "
            f"{lr}{where}."
        )

    def batch_values(self, batch):
        """{logs key: float}: the lr (times the plateau scale) and each scheduled
        hyperparameter of every driven optimizer, at the last update of the execution that
        ended at `batch` (the index keras hands ``on_train_batch_end``). Host only: in step
        mode each channel's stepper at ``it0 + batch`` (with ``gradient_accumulation_steps=a``,
        batches count micro-steps: ``it0 + batch // a``, exact when an epoch's batches are a
        multiple of a), in epoch mode the epoch's values; nothing is read from the device."""
        values = {}
        for t in self.groups:
            if self.step_mode and t.lr.stepper is None:  # before the fit's first epoch
                continue
            k = t.it0 + batch // (getattr(t.leaf, "gradient_accumulation_steps", None) or 1)
            for c in t.channels:
                value = c.value(k) if self.step_mode else c.applied
                if value is not None:
                    values[c.key] = float(value)
        return values
