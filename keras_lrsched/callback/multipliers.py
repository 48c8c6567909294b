"""Per-variable lr multipliers (``lr_multipliers``); `layer_decay` (blocks.py) builds them for
fine-tuning.

Keras has no per-variable lr: ``update_step(gradient, variable, learning_rate)`` is bypassed on
the torch backend, whose optimizers update all variables at once (``_parallel_update_step``).
For the duration of a fit, the optimizer's ``_backend_update_step`` and ``_apply_weight_decay``
are wrapped. The rule they follow is torch's and timm's param groups: each group of variables
that share a multiplier is updated as keras' own rule would at the lr times the multiplier, and
the decoupled weight decay ``w -= w * wd * lr`` follows the variable's lr. A group of
multiplier 0 is left out of both: its variables and their slots do not move.

Under JAX and TensorFlow, and in a compiled torch step, each group is one call of keras' update
(and of its decay, which reads the lr through the getter, scaled for the group), traced into the
step once. In eager torch each call is a run of Python and of one kernel per variable per op,
paid at every step: there, for the optimizers whose update moves each variable by exactly the lr
times something the lr does not enter (`_one_call_kinds`: the Adam family, Adagrad, Adadelta,
Lion; SGD and RMSprop without momentum), the weights of multiplier other than 1 are copied, the
decay and the update run once for all variables at the base lr, and each scaled variable is
moved back to ``old + f * (new - old)`` in one ``torch._foreach_lerp_``. That is the update at
``lr * f`` within a float32 rounding of the weight, and the slots are the same, since the lr
enters none of them; Nadam's shared product advances once, as in one keras call. Every other
optimizer (a momentum buffer holds ``lr * g``; a subclass; Lamb) keeps one call per group.
Costs: bench/results/hyper.md.
"""

import math
import numbers
import re

import keras
from keras import ops



def check(lr_multipliers):
    """The callback's `lr_multipliers` argument as ``[(compiled regex, factor)]`` or a
    callable; ValueError or TypeError naming what is wrong."""
    if lr_multipliers is None or callable(lr_multipliers):
        return lr_multipliers
    if not isinstance(lr_multipliers, dict):
        raise TypeError(
            "Argument `lr_multipliers` must be a dict {regex: factor} matched against "
            "`variable.path`, or a function variable -> factor. Received: "
            f"lr_multipliers={lr_multipliers!r}"
        )
    rules = []
    for pattern, factor in lr_multipliers.items():
        if not isinstance(pattern, str):
            raise TypeError(
                "Argument `lr_multipliers` must have regular expressions (str) as keys. "
                f"Received: a key {pattern!r}"
            )
        try:
            compiled = re.compile(pattern)
        except re.error as err:
            raise ValueError(
                f"Argument `lr_multipliers` has a key that is not a valid regular expression "
                f"({err}). Received: {pattern!r}"
            ) from None
        rules.append((compiled, _factor(factor, f"lr_multipliers[{pattern!r}]")))
    return rules


def _factor(value, where):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Argument `{where}` must be a number >= 0. Received: {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"Argument `{where}` must be a finite number >= 0. Received: {value!r}")
    return value


def factor_of(rules, variable):
    """The multiplier of `variable`: the first rule whose regex `re.search`es its path, else
    1.0; or what the function gives, checked."""
    if callable(rules):
        return _factor(rules(variable), f"lr_multipliers({variable.path!r})")
    for regex, factor in rules:
        if regex.search(variable.path):
            return factor
    return 1.0


def factors(rules, variables, every_variable=()):
    """``(id(variable) -> factor, the factors in order)`` for this fit, or None without rules.

    Computed, and checked, when each fit begins: a compiled step whose groups differ from a new
    fit's (a function that now unfreezes a layer) is not reused. A pattern that matches none of
    `every_variable` (the model's variables, frozen ones too, so that gradual unfreezing is no
    error) is a ValueError that names it and some of the paths it could have matched: a typo
    such as ``{"backbon": 0.1}`` would otherwise leave every lr at 1.0 without a word."""
    if rules is None:
        return None
    if not callable(rules):
        unmatched(rules, every_variable or variables)
    found = {id(v): factor_of(rules, v) for v in variables}
    return found, tuple(found[id(v)] for v in variables)


def unmatched(rules, variables):
    paths = [v.path for v in variables]
    for regex, _ in rules:
        if not any(regex.search(path) for path in paths):
            shown = ", ".join(repr(p) for p in paths[:6]) + (", ..." if len(paths) > 6 else "")
            raise ValueError(
                f"Argument `lr_multipliers` has a pattern that matches no variable of the model: "
                f"{regex.pattern!r}. Patterns are regular expressions `re.search`ed in "
                f"`variable.path`; the model's {len(paths)} variable paths include {shown}"
            )


# Optimizer state that `_backend_update_step` advances once per call for all variables alike
# (Nadam's running product of its momentum schedule): put back before each group after the
# first, so that every group sees the value one call would.
_SHARED_STEP_STATE = ("_u_product",)


def _one_call_kinds():
    """``{torch optimizer class: whether it needs momentum == 0}``: keras' torch optimizers
    whose update moves each variable by the lr times something the lr does not enter. Exact
    classes: a subclass may override anything (and its step runs per variable anyway).

    Adam, AdamW, Adamax, Nadam, Adagrad, Adadelta, Lion: the slots (moments, accumulators,
    Adadelta's squared deltas, kept before the lr) follow the gradients alone, the variable
    moves by ``-lr * u`` with ``u`` from the slots, and the decay before it is
    ``w *= 1 - wd * lr``. SGD and RMSprop only without momentum: the momentum buffer sums
    ``lr * g``. Left per group: Lamb (its trust ratio reads the decayed weights, which depend on
    the lr), and the optimizers torch runs one variable at a time (Lamb, Ftrl, Adafactor, ...),
    whose groups add no update calls."""
    global _ONE_CALL_KINDS, _in_stateless_scope
    if _ONE_CALL_KINDS is None:
        try:
            from keras.src.backend.common.stateless_scope import in_stateless_scope
            from keras.src.backend.torch.optimizers import (
                torch_adadelta, torch_adagrad, torch_adam, torch_adamax, torch_adamw, torch_lion,
                torch_nadam, torch_rmsprop, torch_sgd,
            )
        except ImportError:  # another keras layout: every optimizer on the per-group path
            _ONE_CALL_KINDS = {}
        else:
            _in_stateless_scope = in_stateless_scope
            _ONE_CALL_KINDS = {
                torch_adam.Adam: False, torch_adamw.AdamW: False, torch_adamax.Adamax: False,
                torch_nadam.Nadam: False, torch_adagrad.Adagrad: False,
                torch_adadelta.Adadelta: False, torch_lion.Lion: False,
                torch_sgd.SGD: True, torch_rmsprop.RMSprop: True,
            }
    return _ONE_CALL_KINDS


_ONE_CALL_KINDS = None
_in_stateless_scope = None


class Plan:
    """How one list of variables is updated: its groups ``[(factor, [indices])]`` in the order
    the factors first come, factor 0 left out; for the one call, the indices of the variables
    that take part (None: all), those moved back (factor other than 1), and their lerp weights
    ``1 - factor``."""

    def __init__(self, variables, ids, factors):
        self.ids = ids
        self.variables = tuple(variables)  # alive while the plan is: no id is reused
        found = {}
        for i, factor in enumerate(factors):
            found.setdefault(factor, []).append(i)
        self.groups = [(f, idx) for f, idx in found.items() if f != 0.0]
        self.active = None if 0.0 not in found else [i for i, f in enumerate(factors) if f]
        self.scaled = [i for i, f in enumerate(factors) if f not in (0.0, 1.0)]
        self.weights = [1.0 - factors[i] for i in self.scaled]
        self.values = self.copies = None  # the scaled variables' tensors, and their copies

    def take(self, items):
        return items if self.active is None else [items[i] for i in self.active]

    def snapshot(self, variables):
        """Copy the scaled variables' values, in one torch call. Their tensors are looked up
        once: torch's ``Variable.value`` asks for the device at every read (as costly as the
        copy), and it is the same tensor every time outside a stateless scope (made in
        ``_initialize``; an assign copies into it), which `Multipliers.one_call` rules out. The
        buffers are kept: on a CPU an allocation per step costs more than the copy."""
        import torch

        if not self.scaled:
            return
        if self.values is None:
            self.values = [variables[i].value for i in self.scaled]
            self.copies = [torch.empty_like(t) for t in self.values]
        with torch.no_grad():  # as keras' own update is (the trainer's too)
            torch._foreach_copy_(self.copies, self.values)

    def move_back(self):
        """Each scaled variable from ``new`` to ``new + (1 - f) * (old - new)``, that is
        ``old + f * (new - old)``: the decay and the update at ``lr * f`` (see
        `_one_call_kinds`), within a float32 rounding of the weight."""
        import torch

        if self.scaled:
            with torch.no_grad():
                torch._foreach_lerp_(self.values, self.copies, self.weights)


class Multipliers:
    """The wrappers put on one optimizer for a fit, and what they share: each variable's
    factor, and the factor the lr getter applies while a group's weight decay runs."""

    def __init__(self, factors, optimizer):
        self.factors, self.optimizer = factors, optimizer
        # A Python float read when the getter runs: at trace time under JAX and TensorFlow, at
        # every step under torch. TensorFlow's replicas run the decay in lock-step (a merge
        # call per group), so they all set the same value before the one merge reads it.
        self.decay_factor = 1.0
        self._plan = None  # the plan of the variables last seen (torch asks at every step)
        self._torch = keras.backend.backend() == "torch"
        # (variables, plan) whose snapshot the one call's weight decay took, for the update
        # keras calls right after it with the same list
        self._pending = None

    def plan(self, variables):
        ids = tuple(id(v) for v in variables)
        if self._plan is None or self._plan.ids != ids:
            # A variable the fit's first step did not know gets the full lr.
            self._plan = Plan(variables, ids, [self.factors.get(i, 1.0) for i in ids])
        return self._plan

    def one_call(self):
        """Whether this step updates all groups in one keras call, then moves each variable
        back to ``old + factor * (new - old)``: eager torch (a compiled step gets the groups
        traced, as JAX and TensorFlow do), and an optimizer of `_one_call_kinds`."""
        if not self._torch:
            return False
        needs_zero_momentum = _one_call_kinds().get(type(self.optimizer))
        if needs_zero_momentum is None:
            return False
        if needs_zero_momentum:
            momentum = self.optimizer.momentum  # a variable when scheduled: never 0
            if not isinstance(momentum, numbers.Real) or momentum != 0:
                return False
        import torch

        return not (torch.compiler.is_compiling() or _in_stateless_scope())

    def lr_getter(self, getter):
        """The optimizer's lr getter, times the factor of the group whose decay is running."""

        def current_learning_rate():
            lr = getter()
            factor = self.decay_factor
            return lr if factor == 1.0 else ops.multiply(lr, factor)

        return current_learning_rate

    def update_step(self, original):
        def _backend_update_step(grads, trainable_variables, learning_rate):
            pending, self._pending = self._pending, None
            if pending is not None and pending[0] is trainable_variables:
                plan = pending[1]
            else:
                plan = self.plan(trainable_variables)
            if pending is None or pending[1] is not plan:  # no decay just before to snapshot
                if not self.one_call():
                    return self._update_per_group(original, plan, grads, trainable_variables,
                                                  learning_rate)
                plan.snapshot(trainable_variables)
            # One call advances Nadam's shared product once, as one keras call should.
            original(plan.take(grads), plan.take(trainable_variables), learning_rate)
            plan.move_back()

        return _backend_update_step

    def _update_per_group(self, original, plan, grads, trainable_variables, learning_rate):
        opt = self.optimizer
        shared = [
            (var, ops.copy(var.value))
            for var in (getattr(opt, name, None) for name in _SHARED_STEP_STATE)
            if isinstance(var, keras.Variable)
        ]
        for n, (factor, idx) in enumerate(plan.groups):
            for var, value in shared if n else ():
                var.assign(value)
            lr = learning_rate if factor == 1.0 else ops.multiply(learning_rate, factor)
            original([grads[i] for i in idx], [trainable_variables[i] for i in idx], lr)

    def weight_decay(self, original):
        uses = getattr(self.optimizer, "_use_weight_decay", lambda v: True)

        def _apply_weight_decay(variables):
            plan = self.plan(variables)
            if self.one_call():
                # Keras decays right before the update: the snapshot is taken before the
                # decay, and the update moves the decay back along with its own step.
                plan.snapshot(variables)
                active = plan.take(variables)
                if any(uses(v) for v in active):  # see below
                    original(active)
                self._pending = (variables, plan)
                return
            # keras' decay reads the lr itself (self.learning_rate): scaled for the group.
            try:
                for factor, idx in plan.groups:
                    group = [variables[i] for i in idx]
                    if not any(uses(v) for v in group):
                        # All excluded (exclude_from_weight_decay): keras' torch decay calls
                        # torch._foreach_mul_ on the empty list of the rest, which raises.
                        continue
                    self.decay_factor = factor
                    original(group)
            finally:
                self.decay_factor = 1.0

        return _apply_weight_decay
