"""Keras' TensorBoard callback shows the schedule at every batch it writes.

Keras' ``TensorBoard(update_freq=N)`` writes each entry of the batch logs as a ``batch_<name>``
scalar every N batches (its own 1-based count of ``on_train_batch_begin`` calls: executions,
with ``steps_per_execution > 1``). The lr and the scheduled hyperparameters are not in those
logs, and putting them into the logs every callback shares would make keras' progress bar print
them at every batch. So, for the duration of a fit, each ``TensorBoard`` of the fit gets its own
copy: its ``on_train_batch_end`` is wrapped to receive ``{**logs, **values}``, where the values
(``Run.batch_values``) are worked out on the host, only for the batches it records, with no
device read.

Keras does not hand a callback the list it belongs to. The fit's ``CallbackList`` is found by
walking up the frames from ``on_train_begin`` to the ``CallbackList`` whose ``callbacks`` hold
this callback (keras calls each callback's hook from its list's). Where none is found (the
callback is driven by something else, such as another callback forwarding its hooks), nothing
is wrapped: TensorBoard then shows the epoch values only (``epoch_learning_rate`` and the
epoch logs), and the fit is otherwise unchanged.

The wrappers (``on_train_batch_end``, and ``set_model``, which tells a later use of the same
TensorBoard) are entries of the binding's ledger: they come off with the optimizer's hooks, at
the end of the fit, in ``restore()``, or, after a fit that raised, at the next fit or
``train_on_batch`` of the model (the guard; in epoch mode on a float lr, where no guard is
installed, at the callback's next fit or ``restore()``). Until then a wrapper that a fit which
raised left in place passes the logs through untouched: its TensorBoard's next ``set_model``
(every fit calls it) ends it.
"""

import inspect

import keras

_MAX_FRAMES = 64  # keras' CallbackList calls on_train_begin a few frames up; never far


def attach(callback, ledger, run, restore):
    """Wrap ``on_train_batch_end`` of each TensorBoard of `callback`'s fit that writes batch
    logs, with the values of `run`, until `ledger` is undone; `restore()` when they fail."""
    for board in boards(callback):
        if getattr(board, "update_freq", None) == "epoch":
            continue  # keras writes no batch scalars then
        part = _Part(run, board, restore)
        ledger.wrap(board, "set_model", part.leaving)
        ledger.wrap(board, "on_train_batch_end", part.adding)


def boards(callback):
    """The ``keras.callbacks.TensorBoard`` instances of the fit that `callback` is part of, in
    the fit's order; an empty list where the fit's ``CallbackList`` cannot be found."""
    listed = fit_callbacks(callback)
    return [c for c in listed or () if isinstance(c, keras.callbacks.TensorBoard)]


def fit_callbacks(callback):
    """The ``callbacks`` of the ``CallbackList`` that is running `callback`'s hook, or None."""
    frame = inspect.currentframe()
    try:
        for _ in range(_MAX_FRAMES):
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            if isinstance(owner, keras.callbacks.CallbackList):
                listed = getattr(owner, "callbacks", None) or ()
                if any(c is callback for c in listed):
                    return list(listed)
            frame = frame.f_back
        return None
    finally:
        del frame  # a frame holds its locals: no reference cycle through this one


def _records(board):
    """Whether `board` writes the batch that is ending: keras' test in ``_push_writer``, on its
    batch count. Where either cannot be read as keras 3 has them, every batch."""
    freq = getattr(board, "update_freq", None)
    count = getattr(board, "_global_train_batch", None)
    if isinstance(freq, int) and freq > 0 and isinstance(count, int):
        return count % freq == 0
    return True


class _Part:
    """One TensorBoard in one fit. It adds the values while this fit's hooks are on and the
    TensorBoard was not set up since for another use (keras calls ``set_model`` on every
    callback of a new fit, evaluate or predict): a wrapper that a fit which raised left in place
    passes the logs through untouched until the ledger takes it off."""

    def __init__(self, run, board, restore):
        self.run, self.board, self.restore, self.ended = run, board, restore, False

    def leaving(self, original):
        def set_model(model):
            self.ended = True
            return original(model)

        return set_model

    def adding(self, original):
        def on_train_batch_end(batch, logs=None):
            if (logs is None or isinstance(logs, dict)) and not self.ended and _records(self.board):
                try:
                    values = self.run.batch_values(batch)
                except BaseException:
                    self.restore()  # as the callback's own hooks do
                    raise
                logs = {**(logs or {}), **values}  # a copy: no other callback sees the values
            return original(batch, logs)

        return on_train_batch_end
