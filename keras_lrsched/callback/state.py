"""The callback's state that must survive a restart, saved next to the optimizer's variables."""

import math

import numpy as np

try:
    from keras.src.saving.keras_saveable import KerasSaveable as _Saveable
except ImportError:  # pragma: no cover - then the state is simply not saved with the weights
    _Saveable = object

_STATE_ATTR = "_keras_lrsched_state"


class _State(_Saveable):
    """The callback state that must survive a restart: saved with the optimizer's weights.

    ``plateau``: the Plateau state dict, or None; ``last_lrs``: per driven optimizer, the last
    value a recurrence returned (the ``lr`` it is handed next). Stored as two float64 vectors.
    """

    def __init__(self):
        self.clear()

    def clear(self):
        self.plateau = None
        self.last_lrs = {}

    def _obj_type(self):
        return "Loss"  # a type keras' saver knows how to walk; this object has no children

    def __reduce__(self):
        # KerasSaveable pickles through a .keras file, which only a model can be.
        return (_restore_state, (self.plateau, self.last_lrs))

    def save_own_variables(self, store):
        p = self.plateau
        if p is None:
            row = [0.0, 1.0, math.nan, 0.0, 0.0]
        else:
            best = math.nan if p["best"] is None else p["best"]
            row = [1.0, p["scale"], best, p["wait"], p["cooldown"]]
        store["plateau"] = np.asarray(row, dtype=np.float64)
        size = max(self.last_lrs, default=-1) + 1
        lrs = np.full(max(size, 1), math.nan)
        for i, v in self.last_lrs.items():
            lrs[i] = v
        store["last_lrs"] = lrs

    def load_own_variables(self, store):
        try:
            keys = set(store.keys())
        except Exception:  # noqa: BLE001 - no group for this object in the file
            return
        if "plateau" in keys:
            row = np.asarray(store["plateau"], dtype=np.float64)
            if row[0] > 0:
                self.plateau = {
                    "scale": float(row[1]),
                    "best": None if math.isnan(row[2]) else float(row[2]),
                    "wait": int(row[3]),
                    "cooldown": int(row[4]),
                }
            else:
                self.plateau = None
        if "last_lrs" in keys:
            lrs = np.asarray(store["last_lrs"], dtype=np.float64).reshape(-1)
            self.last_lrs = {i: float(v) for i, v in enumerate(lrs) if not math.isnan(v)}


def _restore_state(plateau, last_lrs):
    state = _State()
    state.plateau, state.last_lrs = plateau, dict(last_lrs)
    return state


def attach_state(optimizer):
    """The `_State` attached to `optimizer` (attached now if there is none): BackupAndRestore
    and model saving find it there."""
    state = getattr(optimizer, _STATE_ATTR, None)
    if not isinstance(state, _State):
        state = _State()
        setattr(optimizer, _STATE_ATTR, state)
    return state
