"""keras_lrsched: learning-rate schedules for Keras 3.

Closed-form schedules written with keras.ops (every one a keras ``LearningRateSchedule``), Numba
kernels that precompute lr tables for very long runs, and one callback that drives the optimizer's
learning rate per epoch or per step under the JAX, TensorFlow and Torch backends.

Importing this package compiles nothing and imports neither Numba nor keras: a public name is
imported when it is first used (``keras_lrsched.Cosine``, ``from keras_lrsched import get``), so
that the ``keras-lrsched`` command answers ``--help`` at once. Once keras is imported, before this
package or after it, every schedule is registered with keras: ``keras.saving.load_model`` reads a
``.keras`` file that holds keras_lrsched schedules without ``custom_objects``.
"""

import importlib
import sys
import types

__version__ = "0.2.0"

__all__ = [
    "Schedule",
    "Constant",
    "TimeDecay",
    "StepDecay",
    "MultiStepDecay",
    "ExponentialDecay",
    "Piecewise",
    "Polynomial",
    "Linear",
    "Cosine",
    "CosineRestarts",
    "Tanh",
    "Cyclic",
    "CyclicMomentum",
    "OneCycle",
    "OneCycleMomentum",
    "InverseSqrt",
    "WarmupStableDecay",
    "Warmup",
    "Join",
    "Cycles",
    "Noise",
    "Table",
    "precompute",
    "LearningRateScheduler",
    "layer_decay",
    "Plateau",
    "get",
    "plot",
    "find_lr",
    "LRFinderResult",
]

TYPE_CHECKING = False
if TYPE_CHECKING:  # what type checkers and IDEs read; at run time, __getattr__ below
    from .callback import LearningRateScheduler
    from .callback.blocks import layer_decay
    from .finder import LRFinderResult, find_lr
    from .plateau import Plateau
    from .plot import plot
    from .schedules import (
        Constant,
        Cosine,
        CosineRestarts,
        Cycles,
        Cyclic,
        CyclicMomentum,
        ExponentialDecay,
        InverseSqrt,
        Join,
        Linear,
        MultiStepDecay,
        Noise,
        OneCycle,
        OneCycleMomentum,
        Piecewise,
        Polynomial,
        Schedule,
        StepDecay,
        Tanh,
        TimeDecay,
        Warmup,
        WarmupStableDecay,
    )
    from .spec import get
    from .table import Table, precompute

# The submodule that defines each public name; the names not listed are in `schedules`.
# `plot` is both a submodule and the function it defines: the public name is the function.
_HOME = {
    "layer_decay": "callback.blocks",
    "Table": "table",
    "precompute": "table",
    "LearningRateScheduler": "callback",
    "Plateau": "plateau",
    "get": "spec",
    "plot": "plot",
    "find_lr": "finder",
    "LRFinderResult": "finder",
}


def __getattr__(name):
    if name in __all__:
        home = _HOME.get(name, "schedules")
        value = getattr(importlib.import_module(f".{home}", __name__), name)
        globals()[name] = value
        return value
    if name.isidentifier() and not name.startswith("__"):
        try:
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _import_all():
    for name in __all__:
        __getattr__(name)


class _Package(types.ModuleType):
    def __setattr__(self, name, value):
        # The import system binds a submodule on its package once it is loaded, which would put
        # the module `keras_lrsched.plot` where the function `plot` belongs.
        if not (name in __all__ and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


from . import _registration  # noqa: E402 - after the names it imports

_registration.start(_import_all)
