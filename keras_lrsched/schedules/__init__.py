"""Every keras_lrsched schedule: one module per family, each class a keras LearningRateSchedule."""

from ._base import Schedule
from .compose import Cycles, Join, Warmup
from .cosine import Cosine, CosineRestarts
from .cyclic import Cyclic, CyclicMomentum, OneCycle, OneCycleMomentum
from .decay import (
    Constant,
    ExponentialDecay,
    Linear,
    MultiStepDecay,
    Piecewise,
    Polynomial,
    StepDecay,
    TimeDecay,
)
from .noise import Noise
from .tanh import Tanh
from .warmup import InverseSqrt, WarmupStableDecay

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
]
