"""What differs between the JAX, TensorFlow and Torch backends (and between keras releases):
the lr getters that run inside the train step, where variables are made, and the JAX trainer's
state."""

import keras
import numpy as np
from keras import ops


def host_int(x):
    return int(np.asarray(ops.convert_to_numpy(x)))


def host_float(x):
    return float(np.asarray(ops.convert_to_numpy(x)))


def stored_float(variable, value):
    """What `variable` holds once `value` was assigned to it, as a Python float: float32's
    rounding for a float32 variable (no device read); any other dtype is read back, since keras
    rounds through float32 first (float16: rounding once, straight from float64, differs)."""
    if keras.backend.standardize_dtype(variable.dtype) == "float32":
        return float(np.float32(value))
    return host_float(variable)


def new_variable(model, optimizer, shape, dtype, name):
    """A zero variable made by `optimizer` (so that the JAX trainer carries it into the step),
    inside the model's tf.distribute strategy under TensorFlow."""
    strategy = None
    if keras.backend.backend() == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None:
        with strategy.scope():
            return optimizer.add_variable(shape, initializer="zeros", dtype=dtype, name=name)
    return optimizer.add_variable(shape, initializer="zeros", dtype=dtype, name=name)


def track(optimizer, variable):
    """Put a variable made by `optimizer.add_variable` back among its variables (at the end)."""
    tracker = getattr(optimizer, "_tracker", None)
    locked = getattr(tracker, "locked", False)
    if locked:
        tracker.unlock()
    try:
        optimizer._track_variable(variable)
    finally:
        if locked:
            tracker.lock()


def untrack(optimizer, variable):
    untrack_variable = getattr(optimizer, "_untrack_variable", None)
    if untrack_variable is not None:
        untrack_variable(variable)
    else:  # pragma: no cover - a keras without the helper
        optimizer._variables[:] = [v for v in optimizer._variables if v is not variable]


def compile_train_function(model):
    """``model.make_train_function(force=True)`` with the callback's hooks in place, traced
    anew.

    Keras' JAX trainer jits the bound ``model.train_step``, and JAX keeps one trace cache per
    function: a step rebuilt with the same state structure would reuse the trace made without
    the hooks, or with another binding's (other lr multipliers). A new function object gets a
    trace of its own. TensorFlow makes a new tf.function at every rebuild; torch runs eagerly.
    """
    if keras.backend.backend() != "jax":
        type(model).make_train_function(model, force=True)
        return
    own = vars(model).get("train_step")
    bound = model.train_step

    def train_step(*args, **kwargs):
        return bound(*args, **kwargs)

    object.__setattr__(model, "train_step", train_step)
    try:
        type(model).make_train_function(model, force=True)
    finally:
        if own is None:
            vars(model).pop("train_step", None)
        else:
            object.__setattr__(model, "train_step", own)


def sync_jax_state(model):
    """Under JAX, write the trainer's state back into the variables (a no-op when synced).

    A JAX fit that stopped mid-epoch leaves its latest state there: keras 3.15 writes it back in
    a ``finally``, keras before 3.12 does not. It is matched to ``optimizer.variables`` by
    position, so it must be written while the callback's variables are still among them.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


def record_state_shardings(model):
    """Keras before 3.12: the JAX trainer records the shardings of the optimizer's variables
    when fit begins (before any callback runs) and zips them with the state in the step; record
    them again whenever the callback adds or removes variables. Later keras has no such record."""
    record = getattr(model, "_record_training_state_sharding_spec", None)
    if record is not None and getattr(model, "_optimizer_variable_shardings", None) is not None:
        record()


def eager_torch(model):
    """Whether the train step runs as Python at every update: torch without ``jit_compile``
    (torch.compile would bake a Python float read in the step, and recompile when it changes)."""
    return keras.backend.backend() == "torch" and not getattr(model, "jit_compile", False)


def epoch_getter(variable):
    """The optimizer's lr in epoch mode when it owns a schedule: a variable set every epoch."""

    def current_learning_rate():
        return variable

    return current_learning_rate


def step_getter(optimizer, schedule, window, start, scale, size):
    """The lr inside the train step, keyed on ``optimizer.iterations``: `schedule` called with
    the step (a keras schedule of another library), or ``window[clip(step - start)]``; times
    `scale` when there is one."""
    if schedule is None and keras.backend.backend() == "torch":
        return torch_window_getter(optimizer, window, start, size)

    def current_learning_rate():
        step = optimizer.iterations
        if schedule is not None:
            lr = schedule(step)
        else:
            index = ops.clip(ops.subtract(step, start), 0, size - 1)
            lr = ops.take(window, index)
        if scale is not None:
            lr = ops.multiply(ops.cast(lr, "float32"), scale)
        return lr

    return current_learning_rate


def torch_window_getter(optimizer, window, start, size):
    """The window lookup in plain torch ops, on the tensors' own device.

    Torch runs the train step eagerly, so this runs at every update, where keras.ops calls
    (each converting and checking its arguments) cost several times the same torch ops
    (bench/results/hyper.md). No host sync: the index never leaves the device.
    """
    import torch

    def current_learning_rate():
        step = optimizer.iterations  # a Variable, or a tensor under gradient accumulation
        if isinstance(step, keras.Variable):
            step = step.value
        index = torch.clamp(step - start.value, 0, size - 1).long()  # keras counts in int32
        # torch.take, not window[index]: indexing with a 0-d integer tensor reads it on the host,
        # a CUDA sync per step (pytorch/pytorch#105641).
        return torch.take(window.value, index)

    return current_learning_rate


def as_stored(variable, value):
    """A float32 `value` as ``variable.numpy()`` would return it once assigned (a float16 or
    bfloat16 variable rounds it): what a save writes for the variable, without assigning it."""
    return np.asarray(np.float32(value)).astype(np.asarray(variable.numpy()).dtype)
