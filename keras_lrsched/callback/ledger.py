"""The one record of what an install changes on objects the callback does not own.

Every change a fit's install makes to an optimizer or a model goes through a `Ledger`: an
attribute set (the lr getter, the savers, a hyperparameter's variable, the train function and
its guard, the install marker) is an entry ``(object, name, previous)``, and a change that is
not an attribute (a variable put among an optimizer's variables) is an entry with its undo.
Taking the install off undoes the entries last in, first out, whichever way it comes: the end of
the fit, ``restore()``, or the guard at the next fit after one that raised. Whoever adds a patch
adds an entry, and the crash guard covers it.
"""

_MISSING = object()


class Ledger:
    def __init__(self):
        self._entries = []

    def __len__(self):
        return len(self._entries)

    def set(self, obj, name, value, *, untracked=False):
        """``obj.<name> = value`` until `undo`, which puts back the attribute the instance had
        of its own, or removes it (then its class's shows again). `untracked`: set past the
        object's ``__setattr__`` (keras' optimizers track a variable set as an attribute)."""
        self._entries.append((obj, name, vars(obj).get(name, _MISSING), untracked))
        _assign(obj, name, value, untracked)

    def wrap(self, obj, name, wrapper):
        """``obj.<name> = wrapper(obj.<name>)`` until `undo`."""
        self.set(obj, name, wrapper(getattr(obj, name)))

    def call_on_undo(self, undo):
        """Call ``undo()`` at its turn in `undo`: a change that is not an attribute."""
        self._entries.append((None, None, undo, False))

    def forget_previous(self, obj, name, previous):
        """What undoing ``obj.<name>`` puts back becomes `previous` (a train function found
        stale during the fit is not put back)."""
        for i, (o, n, _, untracked) in enumerate(self._entries):
            if o is obj and n == name:
                self._entries[i] = (o, n, previous, untracked)

    def undo(self):
        """Undo every entry, last in, first out; each is undone even if one before it raised."""
        error = None
        while self._entries:
            obj, name, previous, untracked = self._entries.pop()
            try:
                if obj is None:
                    previous()
                elif previous is _MISSING:
                    vars(obj).pop(name, None)
                else:
                    _assign(obj, name, previous, untracked)
            except Exception as e:  # noqa: BLE001 - raised once the rest is undone
                error = error or e
        if error is not None:
            raise error


def _assign(obj, name, value, untracked):
    if untracked:
        object.__setattr__(obj, name, value)
    else:
        setattr(obj, name, value)
