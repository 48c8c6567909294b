"""`Plan`: what one fit runs, built by the callback when the fit begins and handed to the
binding (install.py) and the run (runs.py), which read nothing else of the callback."""

from dataclasses import dataclass, field

MAX_WINDOW = 1 << 16


@dataclass
class Plan:
    """One fit's settings, its sources, and the objects that outlive it.

    ``source``: the lr's (sources.Source); ``hypers``: the scheduled hyperparameters
    (hyper.Hyper); ``state``: the state saved with the optimizer (plateau, recurrences);
    ``advice``: the warnings given once per callback; ``window``: the steps a window serves
    (step mode); ``spe``: the model's steps per execution; ``epochs``, ``steps``: the fit's
    epochs and steps per epoch as keras gives them (None: unknown).
    """

    source: object
    hypers: list
    step_mode: bool
    plateau: object
    state: object
    advice: object
    verbose: int
    window: int
    spe: int
    epochs: object = None
    steps: object = None
    sources: list = field(init=False)

    def __post_init__(self):
        # Every source once: the lr's, then each hyperparameter's.
        self.sources = [self.source, *(h.source for h in self.hypers)]

    @property
    def size(self):
        """The entries of a step-mode window: one more than the steps it serves, so that
        between epochs the optimizer reports the lr of the next update (TensorBoard logs it),
        as it does for a schedule it owns. Epoch mode has no window."""
        return self.window + 1 if self.step_mode else 0


def window_size(window, params, model):
    """(the steps a window serves, steps per execution): `window`, else the steps of one epoch,
    at most 65536, and never fewer than one execution's."""
    steps = (params or {}).get("steps")
    spe = getattr(model, "steps_per_execution", 1) or 1
    spe = int(spe) if isinstance(spe, int) else 1
    if window is None:
        window = min(int(steps), MAX_WINDOW) if steps else MAX_WINDOW
    return max(window, spe), spe
