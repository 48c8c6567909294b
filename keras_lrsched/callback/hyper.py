"""Hyperparameters other than the lr, scheduled for the duration of a fit: ``momentum``,
``weight_decay`` and the values of ``hyperparameters`` (docs/callback_design.md).

Keras bakes a Python float hyperparameter into the compiled step on JAX and TensorFlow, so
setting ``optimizer.beta_1`` between epochs changes nothing there. For a fit, the attribute
becomes a float32 variable made by ``optimizer.add_variable`` (every backend reads it at each
update): set on the host at each epoch begin in epoch mode, assigned inside the step from a
window of values (or a keras schedule called with the step) in step mode; on torch's eager step,
step mode sets the attribute to each update's value as a Python float instead, from the host
(channels.Channel). When the fit's hooks come off, the attribute holds the optimizer's own float
again, the one its compiled step bakes.
"""

import math
import numbers
from collections.abc import Mapping

import numpy as np

from .sources import make_source, parse

# What `momentum` means, in this order: beta_1 (Adam, AdamW, Adamax, Nadam, Lion, ...), as torch's
# cycle_momentum (use_beta1) and fastai's moms do, else SGD's and RMSprop's momentum.
MOMENTUM_ATTRS = ("beta_1", "momentum")

# Float settings that are not read at each update: why each cannot be scheduled.
_NOT_READ_PER_STEP = {
    "learning_rate": "the lr is the callback's `schedule` argument",
    "clipnorm": "keras tests it in Python when it traces the step",
    "clipvalue": "keras tests it in Python when it traces the step",
    "global_clipnorm": "keras tests it in Python when it traces the step",
    "ema_momentum": "keras tests it in Python when it traces the step",
    "ema_overwrite_frequency": "keras tests it in Python when it traces the step",
    "loss_scale_factor": "keras tests it in Python when it traces the step",
    "gradient_accumulation_steps": "it is a count of steps",
    "initial_accumulator_value": "it is read only when the optimizer is built",
}


def specs(momentum, weight_decay, hyperparameters):
    """The scheduled hyperparameters as `Hyper`s, checked as far as no optimizer is needed."""
    named = [("momentum", "momentum", momentum), ("weight_decay", "weight_decay", weight_decay)]
    if hyperparameters is not None:
        if not isinstance(hyperparameters, Mapping):
            raise TypeError(
                "Argument `hyperparameters` must be a dict of hyperparameter name to schedule, "
                f"such as {{'beta_2': schedule}}. Received: hyperparameters={hyperparameters!r}"
            )
        for key, value in hyperparameters.items():
            arg = f"hyperparameters[{key!r}]"
            if not isinstance(key, str) or not key.isidentifier():
                raise TypeError(
                    "Argument `hyperparameters` must have optimizer attribute names as keys. "
                    f"Received: a key {key!r}"
                )
            if key in _NOT_READ_PER_STEP:
                raise ValueError(
                    f"Argument `{arg}` cannot be scheduled: {_NOT_READ_PER_STEP[key]}. "
                    f"Received: hyperparameters={{{key!r}: ...}}"
                )
            if key in ("momentum", "weight_decay") and named[key != "momentum"][2] is not None:
                raise ValueError(
                    f"Argument `{key}` and `{arg}` both schedule {key}: give one of them."
                )
            named.append((arg, key, value))
    return [Hyper(arg, key, value) for arg, key, value in named if value is not None]


class Hyper:
    """One scheduled hyperparameter: the argument that gave it, what it names, its source."""

    def __init__(self, arg, key, value):
        self.arg = arg  # as the user wrote it, for errors: "momentum", "hyperparameters['rho']"
        self.key = key  # "momentum" (beta_1 on the beta optimizers), "weight_decay", "rho", ...
        value = parse(value, arg)
        self.value = value
        self.source = make_source(value, arg)

    def attribute(self, optimizer):
        """The attribute of `optimizer` this sets, or an error naming the argument: the
        optimizer has no such float hyperparameter, or keras could not read it per step."""
        name = type(optimizer).__name__
        if self.key == "momentum":
            found = [a for a in MOMENTUM_ATTRS if _is_number(getattr(optimizer, a, None))]
            if not found:
                known = ", ".join(float_hyperparameters(optimizer))
                raise ValueError(
                    f"Argument `momentum` needs an optimizer with a momentum (SGD, RMSprop) or a "
                    f"beta_1 (Adam, AdamW, Adamax, Nadam, Lion, ...). Received: {name}, which has "
                    f"neither; its float hyperparameters: {known}"
                )
            attr = found[0]
        else:
            attr = self.key
        value = getattr(optimizer, attr, _MISSING)
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(
                f"Argument `{self.arg}` cannot be scheduled: `{attr}` is a boolean setting of "
                f"{name}, fixed when the step is traced. Received: {attr}={value!r}"
            )
        if value is None and attr == "weight_decay":
            return attr  # keras skips the decay only while it is None
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if attr == "weight_decay":  # AdamW(weight_decay=0): keras multiplies, never tests
                return attr
            raise TypeError(
                f"Argument `{self.arg}` cannot be scheduled: `{attr}` holds an integer "
                f"({attr}={value!r}), which {name} may read in Python when the step is traced "
                f"(a count of steps). If it is a float hyperparameter, build the optimizer with "
                f"a float: {name}({attr}={float(value)!r})."
            )
        if value is _MISSING or not _is_number(value):
            known = ", ".join(float_hyperparameters(optimizer))
            raise ValueError(
                f"Argument `{self.arg}` must name a float hyperparameter of the optimizer. "
                f"Received: `{attr}`, which {name} "
                + ("does not have" if value is _MISSING else f"holds as {value!r}")
                + f"; its float hyperparameters: {known}"
            )
        if attr == "momentum" and float(value) == 0:
            raise ValueError(
                f"Argument `{self.arg}` needs an optimizer built with a momentum: keras makes "
                f"{name}'s momentum slots only for momentum != 0. Compile with, e.g., "
                f"{name}(momentum=0.9). Received: {name} with momentum={value!r}"
            )
        return attr


_MISSING = object()


def _is_number(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, (int, np.integer))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


def float_hyperparameters(optimizer):
    """The names of `optimizer`'s config entries that can be scheduled."""
    try:
        config = optimizer.get_config()
    except Exception:  # noqa: BLE001 - only used to word an error
        config = {}
    names = [
        k
        for k, v in config.items()
        if k not in _NOT_READ_PER_STEP and (_is_number(v) or (k == "weight_decay" and v is None))
    ]
    return names or ["none"]


def check_distinct(hypers, optimizer):
    """[(hyper, attribute)] for `optimizer`; ValueError when two set the same attribute."""
    pairs = [(h, h.attribute(optimizer)) for h in hypers]
    seen = {}
    for h, attr in pairs:
        if attr in seen:
            raise ValueError(
                f"Arguments `{seen[attr].arg}` and `{h.arg}` both schedule `{attr}` of "
                f"{type(optimizer).__name__}: give one of them."
            )
        seen[attr] = h
    return pairs


# ---------------------------------------------------------------------- install and take off


def put_on(target, step_mode, ledger):
    """Make each scheduled attribute of `target`'s optimizer stand for its channel, for this
    install: the channel's variable, or (host floats) the float of each update, set by the
    wrapper below before keras' update reads it."""
    if not target.hypers:
        return
    opt = target.leaf
    for c in target.hypers:
        c.original = getattr(opt, c.attr)
        if c.on_host:
            stand_in = c.original
        else:
            stand_in = c.var
            if c.original is not None:
                c.var.assign(float(c.original))
        # Past keras' tracker: a variable is tracked, and untracked, with the callback's others.
        ledger.set(opt, c.attr, stand_in, untracked=True)
    if step_mode:
        ledger.wrap(opt, "_backend_apply_gradients", lambda original: _assigning(target, original))


def _assigning(target, original):
    """``_backend_apply_gradients`` that first sets each hyperparameter of this update: a
    device channel's variable from its reader, a host channel's float from the host values at
    the target's step count (then counted on: keras calls this once per optimizer iteration)."""
    opt = target.leaf
    device = [c for c in target.hypers if not c.on_host]
    host = [c for c in target.hypers if c.on_host]

    def _backend_apply_gradients(grads, trainable_variables):
        for c in device:
            c.var.assign(c.reader())
        if host:
            step = target.next_step
            for c in host:
                object.__setattr__(opt, c.attr, c.host_value(step))
            target.next_step = step + 1
        return original(grads, trainable_variables)

    return _backend_apply_gradients
