"""Per-variable lr multipliers (``lr_multipliers``), and `layer_decay` for fine-tuning.

Keras has no per-variable lr: ``update_step(gradient, variable, learning_rate)`` is bypassed on
the torch backend, whose optimizers update all variables at once (``_parallel_update_step``).
For the duration of a fit, the optimizer's ``_backend_update_step`` is called once per group of
variables that share a multiplier, with the lr times the multiplier, and its
``_apply_weight_decay`` once per group with the lr it reads scaled the same way: the decoupled
weight decay ``w -= w * wd * lr`` follows the variable's lr, as in torch's and timm's param
groups. A group of multiplier 0 is left out of both: its variables and their slots do not move.
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


class Multipliers:
    """The wrappers put on one optimizer for a fit, and what they share: each variable's
    factor, and the factor the lr getter applies while a group's weight decay runs."""

    def __init__(self, factors, optimizer):
        self.factors, self.optimizer = factors, optimizer
        # A Python float read when the getter runs: at trace time under JAX and TensorFlow, at
        # every step under torch. TensorFlow's replicas run the decay in lock-step (a merge
        # call per group), so they all set the same value before the one merge reads it.
        self.decay_factor = 1.0
        self._last = (None, None)  # the ids of the variables last grouped, and their groups

    def groups(self, variables):
        """[(factor, [indices])] in the order the factors first come, factor 0 left out."""
        ids = tuple(id(v) for v in variables)
        if ids == self._last[0]:  # torch runs this at every step
            return self._last[1]
        found = {}
        for i, v in enumerate(variables):
            factor = self.factors.get(id(v))
            if factor is None:  # a variable the fit's first step did not know: full lr
                factor = 1.0
            found.setdefault(factor, []).append(i)
        result = [(f, idx) for f, idx in found.items() if f != 0.0]
        self._last = (ids, result)
        return result

    def lr_getter(self, getter):
        """The optimizer's lr getter, times the factor of the group whose decay is running."""

        def current_learning_rate():
            lr = getter()
            factor = self.decay_factor
            return lr if factor == 1.0 else ops.multiply(lr, factor)

        return current_learning_rate

    def update_step(self, original):
        opt = self.optimizer

        def _backend_update_step(grads, trainable_variables, learning_rate):
            shared = [
                (var, ops.copy(var.value))
                for var in (getattr(opt, name, None) for name in _SHARED_STEP_STATE)
                if isinstance(var, keras.Variable)
            ]
            for n, (factor, idx) in enumerate(self.groups(trainable_variables)):
                for var, value in shared if n else ():
                    var.assign(value)
                lr = learning_rate if factor == 1.0 else ops.multiply(learning_rate, factor)
                original([grads[i] for i in idx], [trainable_variables[i] for i in idx], lr)

        return _backend_update_step

    def weight_decay(self, original):
        def _apply_weight_decay(variables):
            # keras' decay reads the lr itself (self.learning_rate): scaled for the group.
            try:
                for factor, idx in self.groups(variables):
                    self.decay_factor = factor
                    original([variables[i] for i in idx])
            finally:
                self.decay_factor = 1.0

        return _apply_weight_decay


def layer_decay(model, decay, *, layers=None):
    """Layer-wise lr decay for fine-tuning (BEiT, ELECTRA, timm's ``layer_decay``): a dict of
    ``lr_multipliers`` giving the last layer 1.0 and each layer before it ``decay`` times the
    multiplier of the one after it, so the layer ``d`` places before the last gets ``decay**d``.

    Args:
        model: a built keras model.
        decay: the factor per layer, in (0, 1] (0.65 to 0.9 in the papers).
        layers: the layers in order from the input to the output, each a layer, or a list of
            layers that share a depth (the embeddings; a block's parts). Default: the model's
            own ``model.layers`` that have trainable weights, each its own depth.

    Returns:
        ``{regex: factor}``, one entry per variable path, in the layers' order: pass it as
        ``LearningRateScheduler(..., lr_multipliers=...)``, or edit it first.

    >>> import keras, keras_lrsched as lrs
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
    ...                           keras.layers.Dense(2, name="b"), keras.layers.Dense(1, name="c")],
    ...                          name="net")
    >>> lrs.layer_decay(model, 0.5)  # doctest: +NORMALIZE_WHITESPACE
    {'^net/a/kernel$': 0.25, '^net/a/bias$': 0.25, '^net/b/kernel$': 0.5, '^net/b/bias$': 0.5,
     '^net/c/kernel$': 1.0, '^net/c/bias$': 1.0}
    """
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0 < decay <= 1:
        raise ValueError(f"Argument `decay` must be a number in (0, 1]. Received: decay={decay!r}")
    if layers is None:
        layers = [layer for layer in model.layers if layer.trainable_weights]
    groups = [list(g) if isinstance(g, (list, tuple)) else [g] for g in layers]
    for group in groups:
        for layer in group:
            if not isinstance(layer, keras.layers.Layer):
                raise TypeError(
                    "Argument `layers` must hold keras layers, or lists of them. Received: "
                    f"{layer!r}"
                )
    if not groups:
        raise ValueError(
            "Argument `model` must have trainable weights (build it first). Received: "
            f"model={model.name!r} with none"
        )
    result = {}
    depth = len(groups) - 1
    for d, group in enumerate(groups):
        factor = float(decay) ** (depth - d)
        for layer in group:
            for v in layer.trainable_weights:
                result.setdefault(f"^{re.escape(v.path)}$", factor)
    return result
