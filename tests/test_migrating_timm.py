"""docs/migrating.md, "From timm": every row against timm's own scheduler.

timm's package imports torchvision on import (timm/layers), and PyPI's torchvision does not
install beside the pinned torch; its schedulers (timm/scheduler/*.py) need torch alone. So where
torchvision is missing, timm.scheduler is imported under a bare stand-in of the top-level package,
which skips timm/__init__.py: the code under test is timm's own, unchanged.
"""

import importlib
import importlib.util
import math
import sys
import types
import warnings

import numpy as np
import pytest

import keras_lrsched as lrs

from conftest import assert_lr_close, to_numpy
from test_migrating import (
    Case,
    check_peer_tolerance,
    check_cases_match_rows,
    check_every_name_has_a_row,
    check_row,
    cases_for,
    evaluate,
    ours_namespace,
    ours_values,
    params,
    torch_optimizer,
)

CASES = {
    "CosineLRScheduler-1": [
        Case(130, lr=0.1, T=100, e=0.0),
        Case(60, lr=0.5, T=37, e=0.01),
    ],
    "CosineLRScheduler-2": [
        Case(60, lr=0.1, T=50, e=0.001, k=2.0),
        Case(60, lr=0.1, T=50, e=0.0, k=0.5),
    ],
    "CosineLRScheduler-3": [
        Case(120, lr=0.1, T=100, e=0.0, w=5, a=0.0),  # the case: 0.0993844 at t=5
        Case(60, lr=0.1, T=40, e=0.002, w=9, a=0.001),
    ],
    "CosineLRScheduler-4": [
        Case(120, lr=0.1, T=100, e=0.0, w=5, a=0.001),
        Case(60, lr=0.1, T=40, e=0.002, w=9, a=0.0),
    ],
    "CosineLRScheduler-5": [
        Case(130, lr=0.1, T=50, e=0.001, n=2, d=1.0),  # timm's own test_cosine_cycles
        Case(100, lr=0.1, T=17, e=0.005, n=4, d=0.6),
    ],
    "CosineLRScheduler-6": [
        Case(100, lr=0.1, T=10, e=0.001, m=2.0, d=1.0, n=3),
        Case(120, lr=0.1, T=7, e=0.0, m=1.5, d=0.7, n=4),
    ],
    "PolyLRScheduler-1": [
        Case(120, lr=0.1, T=100, p=1.0, e=0.001, k=1.0),  # timm's own test_poly_decay
        Case(60, lr=0.1, T=50, p=0.5, e=0.0, k=1.0),  # timm's default power
        Case(60, lr=0.1, T=50, p=0.5, e=0.001, k=2.0),
        Case(60, lr=0.3, T=45, p=2.0, e=0.01, k=0.5),
    ],
    "PolyLRScheduler-2": [
        Case(100, lr=0.1, T=20, p=0.5, e=0.001, n=3, d=0.5, w=6, a=0.0),
        Case(100, lr=0.1, T=30, p=1.0, e=0.0, n=2, d=1.0, w=3, a=0.01),
    ],
    "TanhLRScheduler-1": [
        Case(120, lr=0.1, T=100, l=-7.0, u=3.0, e=0.001),  # timm's own test_tanh_decay
        Case(60, lr=0.1, T=40, l=-2.0, u=1.5, e=0.0),
    ],
    "TanhLRScheduler-2": [
        Case(120, lr=0.1, T=100, e=0.0, w=5, a=0.001),  # timm's own warmup case
        Case(60, lr=0.1, T=40, e=0.002, w=9, a=0.0),
    ],
    "TanhLRScheduler-3": [
        Case(100, lr=0.1, T=20, e=0.001, n=3, d=0.5),
    ],
    "CosineLRScheduler-7": [
        Case(120, lr=0.1, T=100, e=0.0, t0=10, t1=90, q=0.67, sd=1.0, z=42),  # timm's defaults
        Case(60, lr=0.1, T=50, e=0.001, t0=0, t1=60, q=0.1, sd=0.5, z=3),  # many redraws
    ],
    "WSDLRScheduler": [
        Case(60, lr=0.1, T=40, d=10, e=0.001, k="1-sqrt", w=5),
        Case(60, lr=0.1, T=40, d=15, e=0.0, k="linear", w=0),
        Case(60, lr=0.1, T=30, d=30, e=0.002, k="cosine", w=8),
    ],
    "StepLRScheduler": [Case(50, lr=0.1, n=10, g=0.5), Case(50, lr=0.1, n=7, g=0.3)],
    "MultiStepLRScheduler-1": [
        Case(50, lr=0.1, ds=[10, 20, 30], g=0.5),  # timm's own test_multistep_decay
        Case(50, lr=0.1, ds=[1, 20, 20], g=0.1),  # a milestone of 1: lower from t=0
    ],
    "MultiStepLRScheduler-2": [Case(50, lr=0.1, ds=[10, 20, 30], g=0.5, w=5, a=0.001)],
}


def _timm_scheduler():
    if "timm" not in sys.modules:
        spec = importlib.util.find_spec("timm")
        if spec is None:
            pytest.skip("timm is not installed")
        if importlib.util.find_spec("torchvision") is None:
            stand_in = types.ModuleType("timm")
            stand_in.__spec__ = spec
            stand_in.__path__ = list(spec.submodule_search_locations)
            sys.modules["timm"] = stand_in
    return importlib.import_module("timm.scheduler")


def timm_lrs(make, lr, steps):
    """The lr of steps 0 .. steps-1 under timm's ``make(opt)``, set by ``scheduler.step(t)``."""
    optimizer = torch_optimizer(lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make(optimizer)
    values = []
    for t in range(steps):
        scheduler.step(t)
        values.append(optimizer.param_groups[0]["lr"])
    return np.asarray(values, dtype=np.float64)


def source_namespace(opt, bind):
    schedulers = _timm_scheduler()
    namespace = {k: v for k, v in vars(schedulers).items() if not k.startswith("_")}
    namespace.update(bind, opt=opt, math=math)
    return namespace


@pytest.mark.parametrize("row", params("timm"))
def test_row(row):
    for case in cases_for(row, CASES):
        ours = evaluate(row.ours, ours_namespace(case.bind))

        def make(opt, bind=case.bind):
            return evaluate(row.source, source_namespace(opt, bind))

        theirs = timm_lrs(make, case.bind["lr"], case.steps)
        check_row(row, case, ours, theirs)
        check_peer_tolerance(row, case, ours, theirs)


def test_every_case_has_a_row():
    check_cases_match_rows("timm", CASES)


def test_every_timm_scheduler_has_a_row():
    # PlateauLRScheduler is torch's ReduceLROnPlateau inside: the guide points to its row.
    names = [n for n in vars(_timm_scheduler()) if n.endswith("LRScheduler")]
    assert "TanhLRScheduler" in names and "WSDLRScheduler" in names
    check_every_name_has_a_row("timm", [n for n in names if n != "PlateauLRScheduler"])


def test_the_timm_scheduler_is_timms_own():
    schedulers = _timm_scheduler()
    assert schedulers.CosineLRScheduler.__module__ == "timm.scheduler.cosine_lr"
    assert schedulers.TanhLRScheduler.__module__ == "timm.scheduler.tanh_lr"


def _cosine_with_warmup(opt, prefix):
    return _timm_scheduler().CosineLRScheduler(
        opt, t_initial=100, warmup_t=5, warmup_lr_init=0.0, warmup_prefix=prefix
    )


def test_the_obvious_warmup_port_is_timms_warmup_prefix_true():
    theirs = timm_lrs(lambda opt: _cosine_with_warmup(opt, False), 0.1, 40)
    assert theirs[5] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 5 / 100)), rel=1e-12)
    obvious = lrs.Warmup(lrs.Cosine(0.1, steps=100), warmup_steps=5)
    assert float(obvious(5)) == pytest.approx(0.1, rel=1e-6)
    with pytest.raises(AssertionError):
        assert_lr_close(to_numpy(obvious, np.arange(40)), theirs)
    prefixed = timm_lrs(lambda opt: _cosine_with_warmup(opt, True), 0.1, 40)
    assert_lr_close(to_numpy(obvious, np.arange(40)), prefixed)


def test_timms_multistep_drops_a_step_before_each_milestone():
    def make(opt):
        return _timm_scheduler().MultiStepLRScheduler(opt, decay_t=[10, 20], decay_rate=0.5)

    theirs = timm_lrs(make, 0.1, 30)
    assert theirs[8] == 0.1 and theirs[9] == pytest.approx(0.05)  # 9, not 10
    torch_like = lrs.MultiStepDecay(0.1, milestones=[10, 20], factor=0.5)
    with pytest.raises(AssertionError):
        assert_lr_close(torch_like.table(30), theirs)
    assert_lr_close(lrs.MultiStepDecay(0.1, milestones=[9, 19], factor=0.5).table(30), theirs)


@pytest.mark.parametrize("pct, std", [(0.67, 1.0), (0.1, 1.0), (0.5, 0.2)])
def test_the_noise_is_torchs_generator_draw_for_draw(pct, std):
    # timm's Scheduler._calculate_noise, with torch's own generator, against ours from NumPy
    torch = pytest.importorskip("torch")
    from keras_lrsched.schedules.noise import timm_noise

    def theirs(seed):
        g = torch.Generator()
        g.manual_seed(seed)
        while True:
            noise = torch.randn(1, generator=g).item() * std
            if abs(noise) < pct:
                return noise

    seeds = list(range(42, 542)) + [2**32 + 7, 2**40 + 3]  # torch keeps the low 32 bits
    assert [timm_noise(s, pct, std) for s in seeds] == [theirs(s) for s in seeds]


@pytest.mark.parametrize("noise_range", [(5, 5), (6, 2), (0, 2**18 + 1), (1,), (-1, 4)])
def test_a_bad_noise_range_is_refused(noise_range):
    with pytest.raises(ValueError, match="noise_range"):
        lrs.Noise(lrs.Constant(0.1), noise_range=noise_range)
