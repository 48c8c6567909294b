"""The callback, one module per concern (docs/callback_design.md):

* ``scheduler``: the public ``LearningRateScheduler``; its hooks delegate;
* ``sources``: where the lr comes from (a schedule, a table, a function), one interface;
* ``runs``: one fit's bookkeeping, in epoch mode and in step mode;
* ``install``: the hooks put on the optimizer for a fit, taken off after it, or at the next
  fit after one that raised; kept across fits so that the train step compiles once;
* ``backend``: what differs between JAX, TensorFlow, Torch and keras releases;
* ``state``: what must survive a restart (plateau state, a recurrence's last value);
* ``advice``: the warnings for likely mistakes (``ScheduleWarning``).
"""

from .advice import ScheduleWarning
from .scheduler import LearningRateScheduler

__all__ = ["LearningRateScheduler", "ScheduleWarning"]
