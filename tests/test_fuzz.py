"""Property tests over every family's parameters (hypothesis).

For every schedule drawn:

* the table path (``schedule.table(n, start)``, Numba, float64 then cast) and the graph path
  (``schedule(np.arange(start, start + n))``, keras.ops in float32) agree to float32 precision,
  at small steps and at steps up to 2**31 - 1;
* every value is finite and >= 0;
* a monotone family is monotone where its docstring says so (decays fall, warmups rise, ...);
* ``table(n, start=k) == table(n + k)[k:]``, exactly;
* a composite (Warmup, Join) equals its children, each counted from its own boundary.

Profiles: ``HYPOTHESIS_PROFILE=ci`` (the default: 200 examples per family, the same ones every
run) or ``dev`` (2000 fresh random examples per family; run it locally, e.g. after a change to a
kernel or a closed form).
"""

import math
import os

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import keras_lrsched as lrs

# ci: the same 200 examples on every run, so a red suite always means a change in the code; dev:
# fresh random examples each run (failures are saved in .hypothesis/ and replayed first).
settings.register_profile(
    "ci", max_examples=200, deadline=None, print_blob=True, derandomize=True, database=None
)
settings.register_profile("dev", max_examples=2000, deadline=None, print_blob=True)
# Applied per test (not loaded globally), so other test modules keep their own settings.
FUZZ = settings(
    settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")),
    # Strategies that build a schedule may reject parameter combinations the constructor refuses
    # (an exact ValueError is the documented behaviour there, tested in test_args).
    suppress_health_check=[HealthCheck.filter_too_much],
)

WINDOW = 32  # the graph path is always evaluated on this many steps: one shape, one trace
HEAD = 256  # the table that holds every family's interesting region (boundaries are < HEAD)
RTOL = 2e-6
ATOL_OF_SCALE = 1e-6
# Steps must fit the active backend's step counter: JAX without x64 counts in int32.
MAX_START = 2**31 - 1 - WINDOW

lr = st.one_of(st.just(0.0), st.floats(1e-6, 10.0))
positive_lr = st.floats(1e-6, 10.0)
fraction = st.floats(0.0, 1.0)
small_steps = st.integers(1, 200)
start_step = st.one_of(st.integers(0, HEAD), st.integers(0, MAX_START))
# timm's k_decay: the progress raised to a power (1.0, the plain shape, most often)
k_decay = st.one_of(st.just(1.0), st.floats(0.1, 4.0))


def sign(x):
    return 0 if x == 0 else (1 if x > 0 else -1)


class Case:
    """A drawn schedule, its lr scale (for the absolute tolerance) and where it is monotone.

    `direction(s)` is an array over steps ``s``: for the pair ``(s, s + 1)``, +1 means the lr does
    not fall, -1 that it does not rise, 0 that it stays equal, NaN that nothing is claimed.
    """

    def __init__(self, schedule, scale, direction=None, exact=True):
        self.schedule = schedule
        # keras' own schedules (as children) are evaluated with keras.ops, whose float32 cos can
        # differ by an ulp with the element's position in the array: equal to float32 precision.
        self.exact = exact
        self.scale = max(float(scale), 1e-30)
        self.direction = direction or (lambda s: np.full(s.shape, np.nan))

    def __repr__(self):
        return repr(self.schedule)


def everywhere(d):
    return lambda s: np.full(s.shape, float(d))


# ----------------------------------------------------------------------------------------------
# One strategy per family.


@st.composite
def constant(draw):
    v = draw(lr)
    return Case(lrs.Constant(v), v, everywhere(0))


@st.composite
def time_decay(draw):
    initial, rate = draw(lr), draw(st.floats(0.0, 10.0))
    s = lrs.TimeDecay(
        initial, decay_rate=rate, decay_steps=draw(small_steps), staircase=draw(st.booleans())
    )
    return Case(s, initial, everywhere(-1))


@st.composite
def step_decay(draw):
    initial = draw(lr)
    s = lrs.StepDecay(initial, factor=draw(fraction), step_size=draw(small_steps))
    return Case(s, initial, everywhere(-1))


@st.composite
def multistep_decay(draw):
    initial = draw(lr)
    milestones = sorted(draw(st.lists(st.integers(0, HEAD), min_size=1, max_size=6)))
    s = lrs.MultiStepDecay(initial, milestones=milestones, factor=draw(fraction))
    return Case(s, initial, everywhere(-1))


@st.composite
def exponential_decay(draw):
    initial = draw(positive_lr)
    rate = draw(st.one_of(st.floats(0.01, 1.0), st.floats(1.0, 10.0)))
    end = draw(st.one_of(st.none(), lr))
    if rate > 1.0:
        # Growth without a ceiling overflows by design; a growing decay needs `end` as a cap.
        end = draw(st.floats(initial, 10 * initial + 1.0))
    s = lrs.ExponentialDecay(
        initial,
        decay_rate=rate,
        decay_steps=draw(small_steps),
        staircase=draw(st.booleans()),
        end=end,
    )
    if end is not None and sign(end - initial) != sign(rate - 1.0):
        direction = None  # `end` clips on the other side: the lr is flat at `end`, or crosses it
    else:
        direction = everywhere(sign(rate - 1.0))
    return Case(s, max(initial, end or 0.0), direction)


@st.composite
def piecewise(draw):
    boundaries = sorted(draw(st.sets(st.integers(0, HEAD), max_size=6)))
    values = draw(st.lists(lr, min_size=len(boundaries) + 1, max_size=len(boundaries) + 1))
    return Case(lrs.Piecewise(values, boundaries=boundaries), max(values))


@st.composite
def polynomial(draw):
    initial, end = draw(lr), draw(lr)
    steps = draw(small_steps)
    if draw(st.booleans()):
        s = lrs.Linear(initial, end=end, steps=steps)
    else:
        s = lrs.Polynomial(initial, end=end, steps=steps, power=draw(st.floats(0.1, 5.0)),
                           k_decay=draw(k_decay))
    return Case(s, max(initial, end), everywhere(sign(end - initial)))


@st.composite
def cosine(draw):
    initial, end = draw(lr), draw(lr)
    s = lrs.Cosine(initial, steps=draw(small_steps), end=end, k_decay=draw(k_decay))
    return Case(s, max(initial, end), everywhere(sign(end - initial)))


@st.composite
def tanh(draw):
    initial, end = draw(lr), draw(lr)
    lb = draw(st.floats(-10.0, 5.0))
    ub = draw(st.floats(lb + 0.1, lb + 15.0))
    s = lrs.Tanh(initial, steps=draw(small_steps), end=end, lb=lb, ub=ub)
    return Case(s, max(initial, end), everywhere(sign(end - initial)))


@st.composite
def cycles(draw):
    """timm's restarts of a cosine, polynomial or tanh; monotone within a cycle only."""
    one = draw(st.one_of(cosine(), polynomial(), tanh()))
    limit = draw(st.one_of(st.none(), st.integers(1, 6)))
    decay = draw(st.floats(0.0, 1.0 if limit is None else 1.5))  # a growing top needs a limit
    s = lrs.Cycles(one.schedule, cycle_limit=limit, cycle_decay=decay)
    return Case(s, one.scale * max(1.0, s.cycle_decay) ** (limit or 6))


@st.composite
def noise(draw):
    """timm's noise over a short range of a decaying child: only validity is claimed."""
    one = draw(st.one_of(cosine(), polynomial()))
    t0 = draw(st.integers(0, HEAD))
    s = lrs.Noise(one.schedule, noise_range=(t0, t0 + draw(st.integers(1, 64))),
                  pct=draw(st.floats(0.01, 1.0)), std=draw(st.floats(0.1, 2.0)),
                  seed=draw(st.integers(0, 2**40)))
    return Case(s, one.scale * (1 + s.pct))


@st.composite
def cosine_restarts(draw, few_shapes=False):
    initial, end = draw(lr), draw(lr)
    if few_shapes:  # under JAX each new cycle-table length compiles the graph path anew
        period, t_mul = draw(st.sampled_from([1, 7, 30])), draw(st.sampled_from([1.0, 2.0]))
    else:
        period = draw(st.integers(1, 64))
        t_mul = draw(st.one_of(st.just(1.0), st.just(2.0), st.floats(1.05, 3.0)))
    m_mul = draw(fraction)
    s = lrs.CosineRestarts(initial, period=period, t_mul=t_mul, m_mul=m_mul, end=end)
    if t_mul == 1.0:
        restarts_at = lambda s: (s + 1) % period == 0  # noqa: E731
    else:
        starts = s._cycles[0]
        restarts_at = lambda s: np.isin(s + 1, starts)  # noqa: E731
    falls = sign(end - initial)

    def direction(steps):
        return np.where(restarts_at(steps), np.nan, float(falls))

    return Case(s, max(initial, end), direction)


@st.composite
def cyclic(draw, momentum=False):
    """A Cyclic lr, or with `momentum` the momentum it cycles (falling where the lr rises)."""
    initial, peak = sorted((draw(lr), draw(lr)))  # a peak below `initial` is refused
    up = draw(st.integers(1, 40))
    down = draw(st.one_of(st.none(), st.integers(1, 40)))
    mode = draw(st.sampled_from(["triangular", "triangular2", "exp_range"]))
    gamma = draw(st.floats(0.9, 1.0)) if mode == "exp_range" else 1.0
    s = lrs.Cyclic(initial, peak=peak, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma)
    total = up + (up if down is None else down)
    rises = sign(peak - initial)
    if momentum:
        base, top = sorted((draw(lr), draw(lr)))
        s, initial, peak = s.cycle_momentum(base=base, max=top), top, base
        rises = sign(base - top)

    def direction(steps):
        pos = steps % total
        rising = np.nan if mode == "exp_range" else float(rises)  # exp_range shrinks as it rises
        return np.where(pos < up, rising, float(-rises))

    return Case(s, max(initial, peak), direction)


@st.composite
def one_cycle(draw, momentum=False):
    """A OneCycle lr, or with `momentum` the momentum it cycles (falling where the lr rises)."""
    peak = draw(positive_lr)
    total = draw(st.integers(4, 200))
    three = draw(st.booleans())
    pct = draw(st.floats(0.01, 0.49 if three else 0.99))
    div = draw(st.floats(1.0, 100.0))
    final_div = draw(st.floats(0.5, 1e4))
    anneal = draw(st.sampled_from(["cos", "linear"]))
    try:
        s = lrs.OneCycle(
            peak,
            steps=total,
            pct_start=pct,
            anneal=anneal,
            div_factor=div,
            final_div_factor=final_div,
            three_phase=three,
        )
    except ValueError as err:  # a phase without steps: refused by design
        assert "pct_start" in str(err)
        reject()
    initial = peak / div
    final = initial / final_div
    if three:
        ends = [pct * total - 1, 2 * pct * total - 2, total - 1]
        values = [initial, peak, initial, final]
    else:
        ends = [pct * total - 1, total - 1]
        values = [initial, peak, final]
    if momentum:
        base, top = sorted((draw(lr), draw(lr)))
        s = s.cycle_momentum(base=base, max=top)
        values = [top, base, top, top] if three else [top, base, top]
    thresholds = np.floor(ends[:-1]).astype(np.int64)

    def direction(steps):
        phase_of = lambda x: np.searchsorted(thresholds, x, side="left")  # noqa: E731
        a, b = phase_of(steps), phase_of(steps + 1)
        signs = np.sign(np.diff(values)).astype(np.float64)
        d = np.where(a == b, signs[np.minimum(a, len(signs) - 1)], np.nan)
        return np.where(steps >= total - 1, 0.0, d)  # holds the final value

    return Case(s, max(values), direction)


@st.composite
def inverse_sqrt(draw):
    peak, w = draw(lr), draw(small_steps)
    return Case(
        lrs.InverseSqrt(peak, warmup_steps=w), peak, lambda s: np.where(s + 1 <= w, 1.0, -1.0)
    )


@st.composite
def warmup_stable_decay(draw):
    peak, end = draw(lr), draw(lr)
    w, stable, d = draw(st.integers(0, 80)), draw(st.integers(0, 80)), draw(st.integers(1, 80))
    decay = draw(st.sampled_from(["cosine", "linear", "sqrt"]))
    s = lrs.WarmupStableDecay(
        peak, warmup_steps=w, stable_steps=stable, decay_steps=d, end=end, decay=decay
    )

    def direction(steps):
        return np.select(
            [steps + 1 <= w, steps + 1 <= w + stable, steps >= w + stable],
            [1.0, 0.0, float(sign(end - peak))],
            np.nan,
        )

    return Case(s, max(peak, end), direction)


@st.composite
def table(draw, few_shapes=False):
    if few_shapes:
        size = draw(st.sampled_from([1, 5, 40]))
        values = draw(st.lists(lr, min_size=size, max_size=size))
    else:
        values = draw(st.lists(lr, min_size=1, max_size=40))
    return Case(lrs.Table(values), max(values))


# Children of the composites: a few families, and one of keras' own schedules.
@st.composite
def keras_cosine(draw):
    initial = draw(positive_lr)
    s = keras.optimizers.schedules.CosineDecay(initial, draw(small_steps), alpha=draw(fraction))
    return Case(s, initial, exact=False)


leaf = st.one_of(
    constant(), cosine(), polynomial(), step_decay(), one_cycle(),
    cosine_restarts(few_shapes=True), table(few_shapes=True), keras_cosine(),
)


@st.composite
def warmup(draw):
    child = draw(leaf)
    start, steps = draw(lr), draw(small_steps)
    s = lrs.Warmup(child.schedule, warmup_steps=steps, initial=start)
    top = float(keras.ops.convert_to_numpy(child.schedule(0)))
    ramp = sign(top - start)
    return Case(
        s, max(child.scale, start), lambda x: np.where(x + 1 <= steps, float(ramp), np.nan),
        exact=child.exact,
    ), child


@st.composite
def join(draw):
    children = draw(st.lists(leaf, min_size=1, max_size=3))
    boundaries = sorted(draw(st.sets(st.integers(1, HEAD), min_size=len(children) - 1,
                                     max_size=len(children) - 1)))
    s = lrs.Join([c.schedule for c in children], boundaries=boundaries)
    exact = all(c.exact for c in children)
    return Case(s, max(c.scale for c in children), exact=exact), children, boundaries


# ----------------------------------------------------------------------------------------------
# The properties.


def graph(schedule, start, n=WINDOW):
    steps = np.arange(start, start + n, dtype=np.int64)
    return np.asarray(keras.ops.convert_to_numpy(schedule(steps)), np.float64)


def assert_valid(values, what):
    bad = ~np.isfinite(values) | (values < 0)
    assert not bad.any(), f"{what}: {values[bad][:5]} at offsets {np.flatnonzero(bad)[:5]}"


def assert_monotone(case, values, start, what):
    steps = np.arange(start, start + len(values) - 1, dtype=np.int64)
    d = case.direction(steps)
    diff = np.diff(values)
    tol = ATOL_OF_SCALE * case.scale
    bad = ((d > 0) & (diff < -tol)) | ((d < 0) & (diff > tol)) | ((d == 0) & (abs(diff) > tol))
    assert not bad.any(), (
        f"{what} not monotone at steps {steps[bad][:5]}: {values[:-1][bad][:5]} -> "
        f"{values[1:][bad][:5]} (direction {d[bad][:5]})"
    )


def check_properties(case, start, n, k):
    s = case.schedule
    head = s.table(HEAD)
    assert head.dtype == np.float32
    assert_valid(head, "table")
    assert_monotone(case, head.astype(np.float64), 0, "table")

    # table(n, start=k) == table(n + k)[k:], bit for bit (head is table(HEAD), HEAD >= n + k)
    if case.exact:
        np.testing.assert_array_equal(s.table(n, start=k), head[k : k + n])
    else:
        np.testing.assert_allclose(s.table(n, start=k), head[k : k + n], rtol=RTOL, atol=0)

    # graph path against table path, at a window that may sit anywhere up to 2**31
    window = s.table(WINDOW, start=start).astype(np.float64)
    closed = graph(s, start)
    assert_valid(closed, "graph")
    np.testing.assert_allclose(
        closed, window, rtol=RTOL, atol=ATOL_OF_SCALE * case.scale,
        err_msg=f"graph vs table at steps {start}..{start + WINDOW - 1}",
    )
    assert_monotone(case, closed, start, "graph")
    return head


window_start = start_step
shift = st.tuples(st.integers(0, 64), st.integers(0, HEAD - 64))

FAMILIES = {
    "Constant": constant(),
    "TimeDecay": time_decay(),
    "StepDecay": step_decay(),
    "MultiStepDecay": multistep_decay(),
    "ExponentialDecay": exponential_decay(),
    "Piecewise": piecewise(),
    "Polynomial/Linear": polynomial(),
    "Cosine": cosine(),
    "Tanh": tanh(),
    "Cycles": cycles(),
    "Noise": noise(),
    "CosineRestarts": cosine_restarts(),
    "Cyclic": cyclic(),
    "CyclicMomentum": cyclic(momentum=True),
    "OneCycle": one_cycle(),
    "OneCycleMomentum": one_cycle(momentum=True),
    "InverseSqrt": inverse_sqrt(),
    "WarmupStableDecay": warmup_stable_decay(),
    "Table": table(),
}


def test_every_public_family_is_fuzzed():
    covered = {name for key in FAMILIES for name in key.split("/")} | {"Warmup", "Join"}
    public = {
        name for name in lrs.__all__
        if isinstance(getattr(lrs, name), type)
        and issubclass(getattr(lrs, name), lrs.Schedule) and name != "Schedule"
    }
    assert public <= covered, public - covered


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family(family):
    @FUZZ
    @given(case=FAMILIES[family], start=window_start, nk=shift)
    def run(case, start, nk):
        check_properties(case, start, *nk)

    run()


@FUZZ
@given(drawn=warmup(), start=window_start, nk=shift)
def test_warmup(drawn, start, nk):
    case, child = drawn
    head = check_properties(case, start, *nk)
    s = case.schedule
    # the ramp ends exactly at after(0); from there on it is after(step - warmup_steps)
    tail = head[s.warmup_steps:]
    expected = np.empty(len(tail), np.float32)
    from keras_lrsched.schedules.compose import fill_child

    fill_child(child.schedule, expected, 0)
    np.testing.assert_allclose(tail, expected, rtol=RTOL, atol=ATOL_OF_SCALE * case.scale)
    assert math.isclose(float(head[0]), np.float32(s.initial), rel_tol=1e-6, abs_tol=1e-30)


@FUZZ
@given(drawn=join(), start=window_start, nk=shift)
def test_join(drawn, start, nk):
    case, children, boundaries = drawn
    head = check_properties(case, start, *nk)
    edges = [0, *boundaries, HEAD]
    for child, lo, hi in zip(children, edges, edges[1:]):
        expected = np.empty(hi - lo, np.float32)
        from keras_lrsched.schedules.compose import fill_child

        fill_child(child.schedule, expected, 0)
        np.testing.assert_allclose(
            head[lo:hi], expected, rtol=RTOL, atol=ATOL_OF_SCALE * case.scale,
            err_msg=f"Join child on steps [{lo}, {hi})",
        )
