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
step once. In eager torch each call is a run of Python, paid at every step: there the Adam
family, Adagrad, Adadelta, Lion, and SGD and RMSprop without momentum take one pass for all
groups (torch_steps.py). Every other optimizer (a momentum buffer holds ``lr * g``; a subclass;
Lamb) keeps one call per group.
Costs: bench/results/hyper.md.
"""

import math
import numbers
import re

import keras
from keras import ops

from . import torch_steps


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


class Groups:
    """How one list of variables is updated: its groups ``[(factor, [indices])]`` in the order
    the factors first come, factor 0 left out, and the indices of the variables that take part
    in a one-pass update (None: all); the state of the ways of torch_steps.py, made at their
    first use."""

    def __init__(self, variables, ids, factors):
        self.ids = ids
        self.variables = tuple(variables)  # alive while the groups are: no id is reused
        self.factors = factors
        found = torch_steps.by_factor(factors)
        self.groups = [(f, idx) for f, idx in found.items() if f != 0.0]
        self.active = None if 0.0 not in found else [i for i, f in enumerate(factors) if f]
        self.one_dtype = len({v.dtype for v in self.take(self.variables)}) <= 1
        self._lerp = self._adam = None

    def take(self, items):
        return items if self.active is None else [items[i] for i in self.active]

    def lerp(self):
        if self._lerp is None:
            self._lerp = torch_steps.Lerp(self.factors)
        return self._lerp

    def adam(self, optimizer):
        if self._adam is None:
            decays = getattr(optimizer, "_use_weight_decay", lambda v: True)
            self._adam = torch_steps.Adam(optimizer, self.take(self.variables),
                                          self.take(self.factors), decays)
        return self._adam


class Multipliers:
    """The wrappers put on one optimizer for a fit, and what they share: each variable's
    factor, and the factor the lr getter applies while a group's weight decay runs."""

    def __init__(self, factors, optimizer):
        self.factors, self.optimizer = factors, optimizer
        # A Python float read when the getter runs: at trace time under JAX and TensorFlow, at
        # every step under torch. TensorFlow's replicas run the decay in lock-step (a merge
        # call per group), so they all set the same value before the one merge reads it.
        self.decay_factor = 1.0
        self._groups = None  # the groups of the variables last seen (torch asks at every step)
        self._torch = keras.backend.backend() == "torch"
        # (variables, groups, way) of the weight decay keras called right before the update,
        # which it calls with the same list
        self._pending = None

    def forget(self):
        """Drop what the groups keep (the tensors torch_steps.py caches, and the lerp's copies
        of the scaled weights): called when a fit's wrappers come off, and again as the next
        fit puts them on."""
        self._groups = self._pending = None

    def groups(self, variables):
        ids = tuple(id(v) for v in variables)
        if self._groups is None or self._groups.ids != ids:
            # A variable the fit's first step did not know gets the full lr.
            self._groups = Groups(variables, ids, [self.factors.get(i, 1.0) for i in ids])
        return self._groups

    def way(self, groups):
        """How this step applies `groups`: one keras call per group, or one pass for all
        (torch_steps.py: eager torch, some optimizers)."""
        if not self._torch or not groups.groups:  # (all frozen: nothing to call keras on)
            return torch_steps.PER_GROUP
        return torch_steps.way_of(self.optimizer, groups.one_dtype)

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
                groups, way = pending[1], pending[2]
            else:  # no decay just before (another caller of the update)
                groups = self.groups(trainable_variables)
                way = self.way(groups)
                if way == torch_steps.LERP:
                    groups.lerp().snapshot(trainable_variables)
            if way == torch_steps.PER_GROUP:
                return self._update_per_group(original, groups, grads, trainable_variables,
                                              learning_rate)
            if way == torch_steps.ADAM:
                return groups.adam(self.optimizer).update(self.optimizer, groups.take(grads),
                                                          learning_rate)
            # One call advances Nadam's shared product once, as one keras call should.
            original(groups.take(grads), groups.take(trainable_variables), learning_rate)
            groups.lerp().move_back()

        return _backend_update_step

    def _update_per_group(self, original, groups, grads, trainable_variables, learning_rate):
        opt = self.optimizer
        shared = [
            (var, ops.copy(var.value))
            for var in (getattr(opt, name, None) for name in _SHARED_STEP_STATE)
            if isinstance(var, keras.Variable)
        ]
        for n, (factor, idx) in enumerate(groups.groups):
            for var, value in shared if n else ():
                var.assign(value)
            lr = learning_rate if factor == 1.0 else ops.multiply(learning_rate, factor)
            original([grads[i] for i in idx], [trainable_variables[i] for i in idx], lr)

    def weight_decay(self, original):
        opt = self.optimizer
        uses = getattr(opt, "_use_weight_decay", lambda v: True)

        def _apply_weight_decay(variables):
            groups = self.groups(variables)
            way = self.way(groups)
            self._pending = (variables, groups, way)
            if way == torch_steps.ADAM:
                groups.adam(opt).decay(opt)
                return
            if way == torch_steps.LERP:
                # The copy is taken before the decay, and the update moves the decay back
                # along with its own step.
                groups.lerp().snapshot(variables)
                active = groups.take(variables)
                if any(uses(v) for v in active):  # see below
                    original(active)
                return
            # keras' decay reads the lr itself (self.learning_rate): scaled for the group.
            try:
                for factor, idx in groups.groups:
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
