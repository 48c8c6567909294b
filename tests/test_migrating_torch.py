"""docs/migrating.md, "From torch.optim.lr_scheduler": every row against the real scheduler.

torch's side steps a real scheduler on a dummy SGD optimizer and reads the lr it uses for each
update; the keras_lrsched side is evaluated as the guide writes it. Where the two differ past the
end, the row compares up to the end and a test below checks the documented difference.
"""

import math

import numpy as np
import pytest

import keras_lrsched as lrs

from conftest import assert_lr_close, to_numpy
from test_migrating import (
    Case,
    check_cases_match_rows,
    check_every_name_has_a_row,
    check_torch_rows,
    metric_driven_lrs,
    metric_sequences,
    params,
    plateau_lrs,
    torch_lrs,
)


def f_varying(k):
    return 1.0 / math.sqrt(k + 1.0) if k < 12 else 0.5 ** (k // 12)


def f_multiplicative(k):
    return 0.97 if k % 3 else 0.9


CASES = {
    "LambdaLR": Case(40, lr=0.2, f=f_varying),
    "MultiplicativeLR-1": Case(60, lr=0.1, g=0.95),
    # The recurrence hands its lr on in float32, as keras' callback does: 1e-7 per step.
    "MultiplicativeLR-2": Case(40, rtol=1e-5, lr=0.1, f=f_multiplicative),
    "StepLR": [Case(60, lr=0.2, n=7, g=0.5), Case(300, lr=1.0, n=1, g=0.99)],
    "MultiStepLR": Case(60, lr=0.1, ms=[3, 10, 10, 25, 41], g=0.3),
    "ConstantLR": Case(20, lr=0.1, a=0.25, t=6),
    "LinearLR": [
        Case(30, lr=0.1, a=0.25, b=0.75, t=12),
        Case(30, lr=0.5, a=1.0, b=0.1, t=17),
    ],
    "ExponentialLR": Case(200, lr=0.3, g=0.98),
    "SequentialLR": Case(31, lr=0.1, a=0.1, w=6, T=25),  # up to the cosine's end (see below)
    "CosineAnnealingLR": [
        Case(41, lr=0.1, T=40, e=0.001),
        Case(58, lr=1.0, T=57, e=0.0),
    ],
    "ChainedScheduler": Case(50, lr=0.1, a=0.1, t=4, g=0.95),
    "ReduceLROnPlateau": [
        Case(16, lr=0.1, m="min", f=0.5, p=0, d=0.0, c=0, lo=0.0),
        Case(16, lr=0.1, m="min", f=0.1, p=1, d=0.01, c=2, lo=0.002),
        Case(16, lr=0.2, m="max", f=0.3, p=2, d=0.0, c=1, lo=0.0),
    ],
    "CyclicLR-1": [
        Case(120, lr=0.1, a=0.01, b=0.1, u=5, d=8, m="triangular", g=1.0),
        Case(120, lr=0.1, a=0.01, b=0.1, u=4, d=4, m="triangular2", g=1.0),
        Case(120, lr=0.1, a=0.01, b=0.1, u=3, d=7, m="exp_range", g=0.99),
    ],
    "CyclicLR-2": Case(100, lr=0.1, a=0.01, b=0.1, u=5, d=8, h=lambda c: 1.0 / math.sqrt(c)),
    "OneCycleLR-1": [
        Case(100, M=0.1, T=100, p=0.3, a="cos", d=25.0, f=1e4, z=False),
        Case(77, M=0.1, T=77, p=0.4, a="linear", d=10.0, f=100.0, z=False),
        Case(90, M=0.1, T=90, p=0.3, a="cos", d=25.0, f=1e4, z=True),
        Case(101, M=2.0, T=101, p=0.2, a="linear", d=5.0, f=20.0, z=True),
    ],
    "OneCycleLR-2": Case(60, M=0.1, E=5, S=12),
    "CosineAnnealingWarmRestarts": [
        Case(95, lr=0.1, P=10, k=1, e=0.001),
        Case(320, lr=0.1, P=5, k=2, e=0.0),
        Case(130, lr=0.1, P=4, k=3, e=0.002),
    ],
    "PolynomialLR": [Case(30, lr=0.1, T=20, p=2.0), Case(30, lr=0.1, T=13, p=1.0)],
}


def torch_namespace(opt, bind):
    import torch

    names = vars(torch.optim.lr_scheduler)
    namespace = {k: v for k, v in names.items() if k[:1].isupper()}
    namespace.update(bind, opt=opt, math=math)
    return namespace


@pytest.mark.parametrize("row", params("torch"))
def test_row(row):
    check_torch_rows(row, CASES, torch_namespace)


def test_every_case_has_a_row():
    check_cases_match_rows("torch", CASES)


def test_every_torch_scheduler_has_a_row():
    torch = pytest.importorskip("torch")
    module = torch.optim.lr_scheduler
    names = [
        name
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and issubclass(obj, module.LRScheduler)
        and obj is not module.LRScheduler
        and not name.startswith("_")
        and obj.__module__ == module.__name__
    ]
    assert "OneCycleLR" in names and "ReduceLROnPlateau" in names
    check_every_name_has_a_row("torch", names)


# ---------------------------------------------------------------------------------------------
# The differences the notes state.


def test_cosine_annealing_goes_back_up_past_t_max_where_ours_holds():
    torch = pytest.importorskip("torch")
    T, e = 20, 0.001

    def make(opt):
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=e)

    theirs = torch_lrs(make, 0.1, 2 * T + 1)
    ours = to_numpy(lrs.Cosine(0.1, steps=T, end=e), np.arange(2 * T + 1))
    assert_lr_close(ours[: T + 1], theirs[: T + 1])
    assert_lr_close(ours[T:], np.full(T + 1, e))
    assert np.all(np.diff(theirs[T:]) > 0) and theirs[2 * T] == pytest.approx(0.1)


def test_one_cycle_goes_wrong_past_total_steps_where_ours_holds():
    torch = pytest.importorskip("torch")
    T = 30
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=T)
    theirs = []
    for _ in range(T + 1):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        if len(theirs) <= T:
            scheduler.step()
    with pytest.raises(ValueError, match="Tried to step"):
        scheduler.step()
    # At step T torch's lr already climbs back up along the cosine; ours holds the last value.
    assert theirs[T] > theirs[T - 1]
    ours = lrs.OneCycle(0.1, steps=T)
    assert_lr_close(to_numpy(ours, [T - 1, T, T + 1, 10 * T]), np.full(4, theirs[T - 1]))


def test_plateau_with_torchs_own_patience_and_cooldown_differs():
    # The +1 on patience and cooldown matter: without them the decisions come a step early.
    torch = pytest.importorskip("torch")

    def make(opt):
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=0.5, patience=1, threshold=0.0, threshold_mode="abs", cooldown=1
        )

    same = lrs.LearningRateScheduler(
        lrs.Constant(0.1), plateau=lrs.Plateau(factor=0.5, patience=1, min_delta=0.0, cooldown=1)
    )
    differs = [
        metrics
        for metrics in metric_sequences()
        if not np.allclose(plateau_lrs(same, metrics), metric_driven_lrs(make, 0.1, metrics))
    ]
    assert differs


def test_torch_carries_a_hand_set_lr_on_where_ours_is_a_closed_form():
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    theirs = []
    for k in range(6):
        if k == 3:
            opt.param_groups[0]["lr"] = 1.0  # by hand, mid-run
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    # torch's recursion multiplies whatever lr it finds: the hand-set 1.0 carries on.
    np.testing.assert_allclose(theirs, [0.1, 0.1, 0.05, 1.0, 0.5, 0.5])
    ours = lrs.StepDecay(0.1, factor=0.5, step_size=2)
    assert_lr_close(ours.table(6, dtype="float64"), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
