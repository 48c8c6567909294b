"""A `Channel` is one scheduled value on one optimizer: the lr, or a hyperparameter such as the
momentum. A `Target` is one optimizer the callback drives: its channels, the lr's first, and
its lr multipliers (docs/callback_design.md).

A channel holds where its values come from (its source), where the train step reads them (its
variables, made once per binding and kept across fits) and the current fit's cursor (its
stepper and the value last applied). The lr is the channel the plateau scales, and whose value
the optimizer's own lr variable is synced to; every other channel stands for an attribute of the
optimizer. A run loops over a target's channels once, whatever they schedule.
"""

import copyreg

import keras
import numpy as np

from . import backend


def leaf(optimizer):
    """The optimizer that owns the learning rate (a LossScaleOptimizer delegates inward)."""
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


def scaled(values, scale):
    """`values` as float32, times the plateau scale (None: no plateau, the values as they are)."""
    values = np.asarray(values, dtype=np.float32)
    if scale is None:
        return values
    return values * np.float32(scale)


class Channel:
    """One scheduled value on one optimizer.

    Step mode serves the values to the train step in one of three ways: a keras schedule of
    another library computed inside the step (`reader` calls it with the step); a window of
    values the host fills ahead of the run, read in the step at ``optimizer.iterations``
    (`window`, `start`); or, for a hyperparameter on torch's eager step, the same values kept
    on the host and set as the optimizer's Python float before each update (`on_host`): what
    keras' own update reads then is a float, as it is without the callback, and no device op
    runs for it. Epoch mode sets `var` (or, for the lr, the optimizer's own lr variable) at each
    epoch begin.
    """

    def __init__(self, source, key, attr=None):
        self.source = source
        self.key = key  # the logs key
        self.attr = attr  # the optimizer attribute a hyperparameter stands for; None: the lr
        self.var = None  # a hyperparameter's stand-in; the lr's epoch variable (a schedule lr)
        self.window = self.start = None
        self.scale = None  # the lr computed in the step under a plateau: times this variable
        self.reader = None  # step mode, on the device: the value inside the step
        self.on_host = False  # step mode, torch eager, a hyperparameter: set as a float
        self.original = None  # a hyperparameter: the optimizer's own value, put back after
        self.reset()

    def reset(self):
        """Forget the previous fit's cursor (the variables stay)."""
        self.stepper = None
        self.applied = None  # float32 value of the latest update (epoch mode: this epoch's)
        self.scale_value = None  # the lr under a plateau: the scale of the current epoch
        self.host = (0, np.zeros(0, np.float32))  # on_host: (first step, float32 values)

    @property
    def windowed(self):
        """Whether the step reads values the host computed ahead (a window, or host floats):
        a fault there is served as the last good value until an update reaches it."""
        return self.window is not None or self.on_host

    def make_variables(self, new, target, step_mode, size, plateau, host_floats):
        """Make what the step reads, once per binding: ``new(shape, dtype, name)``."""
        if self.attr is not None:
            self.on_host = step_mode and host_floats and self.source.in_graph is None
            if self.on_host:
                return
            self.var = new((), "float32", f"keras_lrsched_{self.attr}")
            if self.attr == "momentum":
                compares_nonzero(self.var)
        elif not step_mode and target.lr_var is None:
            # Else keras' own way: the optimizer's lr variable is assigned at each epoch.
            self.var = new((), "float32", "keras_lrsched_lr")
        if not step_mode:
            return
        schedule = self.source.in_graph
        if schedule is None:
            names = ("window", "window_start") if self.attr is None else (
                f"{self.attr}_window", f"{self.attr}_start")
            self.window = new((size,), "float32", f"keras_lrsched_{names[0]}")
            iterations_dtype = keras.backend.standardize_dtype(target.leaf.iterations.dtype)
            self.start = new((), iterations_dtype, f"keras_lrsched_{names[1]}")
        elif self.attr is None and plateau is not None:
            # A window holds lr * scale, written on the host; a schedule computed in the step
            # multiplies by this variable instead.
            self.scale = new((), "float32", "keras_lrsched_scale")
            self.scale.assign(1.0)
        self.reader = backend.step_getter(
            target.leaf, schedule, self.window, self.start, self.scale, size
        )

    # ------------------------------------------------------------ a fit's values

    def begin(self, step, count, lr_prev=None):
        """Step mode, at the fit's first epoch: a new stepper from `step` on."""
        self.stepper = self.source.stepper(step, count, lr_prev)

    def set_scale(self, scale):
        """The plateau scale of this epoch (the lr's channel only; None without a plateau)."""
        if self.attr is None:
            self.scale_value = scale
            if self.scale is not None:
                self.scale.assign(scale)

    def values(self, step, n):
        """The float32 values applied at steps step..step+n-1 (host only)."""
        return scaled(self.stepper.get(step, n), self.scale_value)

    def value(self, step):
        """The value applied at `step` as a float32 scalar, or None past a run's last value."""
        found = self.values(step, 1)
        return found[0] if found.size else None

    def serve(self, step, size, span):
        """Have the step read the values from `step` on: fill the window (`size` entries, the
        last value repeated past the source's end), or the host values, or check the `span`
        steps a closed form computed in the step will read."""
        if not self.windowed:
            self.stepper.check(step, span)
            return
        values = self.values(step, size)[:size]
        if values.shape[0] < size:
            fill = values[-1] if values.shape[0] else np.float32(0.0)
            values = np.concatenate([values, np.full(size - values.shape[0], fill, np.float32)])
        if self.on_host:
            self.host = (step, values)
        else:
            self.window.assign(values)
            self.start.assign(step)

    def host_value(self, step):
        """`on_host`: the Python float applied at `step` (the window's last past its end)."""
        first, values = self.host
        value = float(values[min(max(step - first, 0), values.shape[0] - 1)])
        if value == 0.0 and self.attr == "momentum":
            return _NONZERO_ZERO  # keras' SGD and RMSprop keep taking their momentum branch
        return value

    def set_epoch_value(self, value):
        """Epoch mode, a hyperparameter: what this epoch's updates read."""
        self.var.assign(value)
        self.applied = np.float32(value)

    def pending(self, k, it0):
        """What the optimizer applies now, as a Python float, for its config: the value of the
        latest update (`k` updates done, `it0` when the epoch began), or its own value before
        the first. Host only."""
        if self.stepper is not None and k > it0:
            return float(self.stepper.get(k - 1, 1)[0])
        if self.applied is not None:
            return float(self.applied)
        return self.original


class Target:
    """One optimizer the callback drives, kept across fits: its channels (the lr's first), its
    multipliers, and the bookkeeping of the current fit that is the optimizer's, not a value's
    (where the epoch began, what its lr variable held)."""

    def __init__(self, entry, key, source, hypers, suffix=""):
        self.entry = entry  # as listed in optimizer.optimizers, for names and messages
        self.leaf = leaf(entry)
        lr = self.leaf.learning_rate
        self.lr_var = lr if isinstance(lr, keras.Variable) else None
        self.original_lr = self.leaf._get_current_learning_rate  # bound before any override
        self.getter = None  # the lr getter installed for a fit
        self.lr = Channel(source, key)
        self.hypers = [Channel(h.source, f"{h.key}{suffix}", attr) for h, attr in hypers]
        self.multipliers = None  # multipliers.Multipliers, with lr_multipliers
        self.sync_each_epoch = False  # its lr variable is written at each epoch end (no save syncs it)
        self.reset()

    @property
    def channels(self):
        return [self.lr, *self.hypers]

    def reset(self):
        self.it0 = 0  # iterations when the current epoch began
        self.it_end = None  # iterations when the previous epoch ended (this fit)
        self.next_step = 0  # host floats: the step of the next update
        self.lr_known = None  # what the optimizer's lr variable held when this fit last saw it
        for channel in self.channels:
            channel.reset()

    def iterations(self):
        return backend.host_int(self.leaf.iterations)

    def iterations_at_epoch_begin(self):
        """The step count, as read at the previous epoch's end if there was one this fit.

        Nothing trains between an epoch's end and the next one's begin: one device read per
        epoch instead of two.
        """
        known, self.it_end = self.it_end, None
        return known if known is not None else self.iterations()

    # ------------------------------------------------------------ the optimizer's own lr

    def latest_lr(self):
        """Step mode: the lr of the latest update of this fit, or None before the first."""
        if self.lr.stepper is None:
            return None
        k = self.iterations()
        if k > self.it0:
            return self.lr.value(k - 1)
        return self.lr.applied  # no update yet this epoch: the previous one's, if any

    def lr_changed_elsewhere(self):
        """(what this fit left in the lr variable, what it holds now) when they differ."""
        if self.lr_var is None or self.lr_known is None:
            return None
        found = backend.host_float(self.lr_var)
        return None if found == self.lr_known else (self.lr_known, found)

    def set_lr_variable(self, value):
        self.lr_var.assign(float(value))
        # Read back: in the variable's own dtype (a float16 floatx rounds it).
        self.lr_known = backend.host_float(self.lr_var)

    def pending_lr(self):
        """Step mode: the lr the float lr variable should hold now, the lr of the latest
        update, or None when it should keep what it holds (no update yet, or something else
        set it since this fit last did: ``optimizer.learning_rate = x`` after a fit that raised
        takes effect, in the next fit and in a save before it). Host reads only.
        """
        if self.lr_var is None or self.lr.stepper is None:
            return None
        value = self.latest_lr()
        if value is None or self.lr_changed_elsewhere() is not None:
            return None
        return value

    def sync_lr_variable(self):
        """Make the float lr variable hold the lr of the latest update (step mode)."""
        value = self.pending_lr()
        if value is not None:
            self.set_lr_variable(value)


# ---------------------------------------------------------------------- momentum's comparisons


class _NonZeroFloat(float):
    """0.0 that compares with a Python 0 as a positive float does (`compares_nonzero`)."""

    def __ne__(self, other):
        return True if _is_zero(other) else float.__ne__(self, other)

    def __eq__(self, other):
        return False if _is_zero(other) else float.__eq__(self, other)

    def __gt__(self, other):
        return True if _is_zero(other) else float.__gt__(self, other)

    def __le__(self, other):
        return False if _is_zero(other) else float.__le__(self, other)

    __hash__ = float.__hash__


def _is_zero(other):
    return isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0


_NONZERO_ZERO = _NonZeroFloat(0.0)
_NONZERO_CLASSES = {}


def compares_nonzero(variable):
    """Make `variable` compare with a Python 0 as a positive float does, with a Python bool.

    SGD tests ``if self.momentum != 0`` and RMSprop ``if self.momentum > 0`` in Python inside
    ``update_step`` (to use the momentum slots they built for a nonzero momentum); on a variable
    that is a tensor, which JAX's and TensorFlow's tracing cannot branch on. Every other use of
    the variable reads its value. A momentum scheduled to 0 at some step is still right there:
    ``m = 0 * m - lr * g``. A host float 0 gets the same answers (`_NonZeroFloat`).
    """
    base = type(variable)
    cls = _NONZERO_CLASSES.get(base)
    if cls is None:
        answers = {"__ne__": True, "__eq__": False, "__gt__": True, "__ge__": True,
                   "__lt__": False, "__le__": False}

        def comparison(name, answer):
            def compare(self, other):
                if _is_zero(other):
                    return answer
                return getattr(base, name)(self, other)

            compare.__name__ = name
            return compare

        namespace = {name: comparison(name, answer) for name, answer in answers.items()}
        namespace["__hash__"] = base.__hash__
        namespace["__reduce_ex__"] = _reduce_as(base)
        cls = type(f"NonZero{base.__name__}", (base,), namespace)
        _NONZERO_CLASSES[base] = cls
    variable.__class__ = cls
    return variable


def _reduce_as(base):
    """Pickle as a plain `base` variable: the class made above is not importable by name."""

    def __reduce_ex__(self, protocol):
        state = self.__getstate__() if hasattr(self, "__getstate__") else self.__dict__
        return copyreg._reconstructor, (base, object, None), state

    return __reduce_ex__
