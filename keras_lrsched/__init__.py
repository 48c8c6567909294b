"""keras_lrsched: learning-rate schedules for Keras 3.

Closed-form schedules written with keras.ops (every one a keras ``LearningRateSchedule``), Numba
kernels that precompute lr tables for very long runs, and one callback that drives the optimizer's
learning rate per epoch or per step under the JAX, TensorFlow and Torch backends.

Importing this package compiles nothing and does not import Numba.
"""

from .schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Cyclic,
    ExponentialDecay,
    InverseSqrt,
    Join,
    Linear,
    MultiStepDecay,
    OneCycle,
    Piecewise,
    Polynomial,
    Schedule,
    StepDecay,
    TimeDecay,
    Warmup,
    WarmupStableDecay,
)
from .table import Table, precompute
from .callback import LearningRateScheduler
from .plateau import Plateau
from .spec import get
from .plot import plot  # the function shadows the submodule name; import helpers from .plot
from .finder import LRFinderResult, find_lr

__version__ = "0.1.0"

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
    "Cyclic",
    "OneCycle",
    "InverseSqrt",
    "WarmupStableDecay",
    "Warmup",
    "Join",
    "Table",
    "precompute",
    "LearningRateScheduler",
    "Plateau",
    "get",
    "plot",
    "find_lr",
    "LRFinderResult",
]
