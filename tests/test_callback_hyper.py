"""Scheduled hyperparameters (momentum, weight_decay, hyperparameters) and lr_multipliers.

Every run is compared with a NumPy re-implementation of keras' own update rules (SGD with
momentum or Nesterov, Adam, AdamW's decoupled decay ``w -= w * wd * lr`` before the update),
fed the values the schedules give at each update, or with torch. The data and model are
callback_helpers': a Dense layer on noisy targets, 4 updates per epoch, so a value applied one
step early or late, or to the wrong variable, moves the weights far more than the tolerance.
"""

import re
import warnings

import keras
import numpy as np
import pytest
from callback_helpers import BATCH, STEPS_PER_EPOCH, X, Y, fit, model, weights

import keras_lrsched as lrs

EPOCHS = 3
STEPS = EPOCHS * STEPS_PER_EPOCH
LR = lrs.Linear(0.05, end=0.01, steps=STEPS)
MOMENTUM = lrs.Linear(0.95, end=0.5, steps=STEPS)
DECAY = lrs.Linear(0.0, end=0.2, steps=STEPS)  # rising, as DINO's 0.04 -> 0.4


def per_update(schedule, update, steps=STEPS):
    """The value each update k uses: the schedule at k (step mode) or at k's epoch."""
    index = np.arange(steps) if update == "step" else np.arange(steps) // STEPS_PER_EPOCH
    return schedule.table(int(index.max()) + 1)[index].astype(np.float64)


def reference(m, kind, lrs_, momentum=None, weight_decay=None, factors=(1.0, 1.0), nesterov=False,
              beta_2=0.999, epsilon=1e-7, slots=None, no_decay=()):
    """[kernel, bias] after len(lrs_) updates of keras' `kind` rule, in float64, from the
    model's weights and (SGD) the velocities `slots`, else zeros; the weights of the indices
    `no_decay` (0 the kernel, 1 the bias) are excluded from the weight decay."""
    params = [np.asarray(w, np.float64) for w in m.get_weights()]
    first = slots if slots is not None else [np.zeros_like(p) for p in params]
    slots = [[np.array(s1, np.float64), np.zeros_like(p)] for s1, p in zip(first, params)]
    for k, lr in enumerate(lrs_):
        lo = (k % STEPS_PER_EPOCH) * BATCH
        xb, yb = X[lo : lo + BATCH].astype(np.float64), Y[lo : lo + BATCH].astype(np.float64)
        d = 2.0 * (xb @ params[0] + params[1] - yb) / yb.size
        grads = [xb.T @ d, d.sum(axis=0)]
        mom = None if momentum is None else momentum[k]
        for i, (p, g, (s1, s2), f) in enumerate(zip(params, grads, slots, factors)):
            if f == 0:
                continue
            a = lr * f
            if weight_decay is not None and i not in no_decay:
                p -= p * weight_decay[k] * a
            if kind == "sgd":
                if mom is None:
                    p -= a * g
                    continue
                s1[...] = mom * s1 - a * g
                p += mom * s1 - a * g if nesterov else s1
            elif kind == "rmsprop":  # rho 0.9, its momentum in s1
                s2[...] = 0.9 * s2 + 0.1 * g * g
                increment = a * g / np.sqrt(s2 + epsilon)
                s1[...] = mom * s1 + increment
                p -= s1
            else:  # adam
                b1 = 0.9 if mom is None else mom
                t = k + 1
                s1 += (g - s1) * (1 - b1)
                s2 += (g * g - s2) * (1 - beta_2)
                alpha = a * np.sqrt(1 - beta_2**t) / (1 - b1**t)
                p -= alpha * s1 / (np.sqrt(s2) + epsilon)
    return params


def assert_weights(m, expected, rtol=2e-5):
    for got, want in zip(weights(m), expected):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


# ---------------------------------------------------------------------- against keras' rules


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
@pytest.mark.parametrize("update", ["epoch", "step"])
def test_sgd_with_a_scheduled_momentum_follows_keras_rule(update, nesterov):
    m = model(opt=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=nesterov))
    expected = reference(m, "sgd", per_update(LR, update), per_update(MOMENTUM, update),
                         nesterov=nesterov)
    cb = lrs.LearningRateScheduler(LR, update=update, momentum=MOMENTUM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        history = fit(m, [cb], epochs=EPOCHS)
    assert_weights(m, expected)
    logged = history.history["momentum"]
    last = per_update(MOMENTUM, update)[STEPS_PER_EPOCH - 1 :: STEPS_PER_EPOCH]
    np.testing.assert_allclose(logged, last, rtol=1e-6)
    assert m.optimizer.momentum == 0.9  # its own float again, the one its step bakes in


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_rmsprop_with_a_scheduled_momentum_follows_keras_rule(update):
    m = model(opt=keras.optimizers.RMSprop(0.01, momentum=0.5))
    expected = reference(m, "rmsprop", per_update(LR, update) / 5, per_update(MOMENTUM, update))
    cb = lrs.LearningRateScheduler(LR.table(STEPS) / 5, update=update, momentum=MOMENTUM)
    fit(m, [cb], epochs=EPOCHS)
    assert_weights(m, expected, rtol=1e-4)
    assert m.optimizer.momentum == 0.5


MOMENTUM_SOURCES = {
    "schedule": lambda: MOMENTUM,
    "spec": lambda: "linear(0.95, end=0.5, steps=12)",
    "table": lambda: lrs.Table(MOMENTUM.table(STEPS)),
    "array": lambda: MOMENTUM.table(STEPS).astype(np.float64),
    "function": lambda: (lambda index: float(MOMENTUM.table(index + 1)[index])),
    "keras-schedule": lambda: keras.optimizers.schedules.PolynomialDecay(
        0.95, STEPS, end_learning_rate=0.5),  # computed in the step, in step mode
}


@pytest.mark.parametrize("source", list(MOMENTUM_SOURCES))
@pytest.mark.parametrize("update", ["epoch", "step"])
def test_every_kind_of_source_schedules_the_momentum(update, source):
    m = model(opt=keras.optimizers.SGD(0.05, momentum=0.9))
    expected = reference(m, "sgd", [0.05] * STEPS, per_update(MOMENTUM, update))
    cb = lrs.LearningRateScheduler([0.05], update=update, momentum=MOMENTUM_SOURCES[source]())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        history = fit(m, [cb], epochs=EPOCHS)
    assert_weights(m, expected)
    last = per_update(MOMENTUM, update)[STEPS_PER_EPOCH - 1 :: STEPS_PER_EPOCH]
    np.testing.assert_allclose(history.history["momentum"], last, rtol=1e-6)


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_a_momentum_scheduled_to_zero_keeps_the_momentum_slots_going(update):
    # keras' SGD skips its velocity while `momentum != 0` is False; a schedule that passes
    # through 0 must keep it (m = 0 * m - lr * g), on the device and as torch's host float.
    values = np.array([0.9, 0.0, 0.0, 0.8] * EPOCHS, np.float32)
    per = values[np.arange(STEPS) // STEPS_PER_EPOCH] if update == "epoch" else values
    m = model(opt=keras.optimizers.SGD(0.05, momentum=0.9))
    expected = reference(m, "sgd", [0.05] * STEPS, per.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)  # a one-value lr table
        fit(m, [lrs.LearningRateScheduler([0.05], update=update, momentum=values)], epochs=EPOCHS)
    assert_weights(m, expected)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch's eager step only")
def test_torch_eager_step_mode_hands_keras_update_python_floats():
    # What keras' own update reads is the optimizer's float, as without the callback: no
    # window lookup or variable assign runs for it, and nothing is read back from a device.
    seen = []

    class Probe(keras.optimizers.Adam):
        def _backend_update_step(self, grads, trainable_variables, learning_rate):
            seen.append((type(self.beta_1), self.beta_1, type(self.beta_2), self.beta_2))
            return super()._backend_update_step(grads, trainable_variables, learning_rate)

    m = model(opt=Probe(0.05))
    expected = reference(m, "adam", per_update(LR, "step"), per_update(MOMENTUM, "step"),
                         beta_2=0.99)
    cb = lrs.LearningRateScheduler(LR, update="step", momentum=MOMENTUM,
                                   hyperparameters={"beta_2": lambda step: 0.99})
    fit(m, [cb], epochs=EPOCHS)
    assert len(seen) == STEPS and {(t1, t2) for t1, _, t2, _ in seen} == {(float, float)}
    np.testing.assert_array_equal([b1 for _, b1, _, _ in seen],
                                  per_update(MOMENTUM, "step").astype(np.float32))
    assert_weights(m, expected)
    assert type(m.optimizer.beta_1) is float and m.optimizer.beta_1 == 0.9


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("update", ["epoch", "step"])
def test_a_scheduled_weight_decay_follows_keras_rule(update, kind):
    opt = keras.optimizers.SGD(0.05) if kind == "sgd" else keras.optimizers.AdamW(0.05)
    m = model(opt=opt)
    expected = reference(m, "sgd" if kind == "sgd" else "adam", per_update(LR, update),
                         weight_decay=per_update(DECAY, update))
    cb = lrs.LearningRateScheduler(LR, update=update, weight_decay=DECAY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        fit(m, [cb], epochs=EPOCHS)
    assert_weights(m, expected, rtol=1e-4 if kind == "adamw" else 2e-5)
    assert m.optimizer.weight_decay == (None if kind == "sgd" else 0.004)


@pytest.mark.parametrize("how", ["var_names", "var_list, with lr_multipliers"])
@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("update", ["epoch", "step"])
def test_keras_exclude_from_weight_decay_holds_for_a_scheduled_weight_decay(update, kind, how):
    """`optimizer.exclude_from_weight_decay(...)` is keras' own (its `_use_weight_decay`, read
    in `_apply_weight_decay`): the excluded bias gets none of the scheduled decay, the kernel
    all of it, also when the decay runs once per group of `lr_multipliers`."""
    opt = keras.optimizers.SGD(0.05) if kind == "sgd" else keras.optimizers.AdamW(0.05)
    m = model(opt=opt)
    if how == "var_names":
        opt.exclude_from_weight_decay(var_names=["bias"])
        multipliers, factors = None, (1.0, 1.0)
    else:
        opt.exclude_from_weight_decay(var_list=[m.layers[-1].bias])
        multipliers, factors = {"kernel": 0.5}, (0.5, 1.0)
    rule = "sgd" if kind == "sgd" else "adam"
    expected = reference(m, rule, per_update(LR, update), weight_decay=per_update(DECAY, update),
                         factors=factors, no_decay=(1,))
    all_decayed = reference(m, rule, per_update(LR, update),
                            weight_decay=per_update(DECAY, update), factors=factors)
    cb = lrs.LearningRateScheduler(LR, update=update, weight_decay=DECAY,
                                   lr_multipliers=multipliers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        fit(m, [cb], epochs=EPOCHS)
    assert_weights(m, expected, rtol=1e-4 if kind == "adamw" else 2e-5)
    assert not np.allclose(weights(m)[1], all_decayed[1], rtol=1e-4, atol=1e-6)  # it shows


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_adam_with_scheduled_beta_1_beta_2_and_epsilon(update):
    m = model(opt=keras.optimizers.Adam(0.05))
    # The reference takes one beta_2 per run: a constant table here, scheduled all the same.
    expected = reference(m, "adam", per_update(LR, update), per_update(MOMENTUM, update),
                         beta_2=0.95, epsilon=1e-6)
    cb = lrs.LearningRateScheduler(
        LR, update=update, momentum=MOMENTUM,
        hyperparameters={"beta_2": [0.95] * 20, "epsilon": lambda index: 1e-6},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        history = fit(m, [cb], epochs=EPOCHS)
    assert_weights(m, expected, rtol=1e-4)
    assert history.history["beta_2"] == pytest.approx([0.95] * EPOCHS)


def test_adam_with_one_cycle_and_cycled_beta_1_equals_torch():
    torch = pytest.importorskip("torch")
    steps, peak = 12, 0.05
    one_cycle = lrs.OneCycle(peak, steps=steps)
    m = model(opt=keras.optimizers.Adam(peak, epsilon=1e-12))
    w0, b0 = (np.asarray(w) for w in m.get_weights())

    layer = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w0.T, dtype=torch.float64))
        layer.bias.copy_(torch.tensor(b0, dtype=torch.float64))
    opt = torch.optim.Adam(layer.parameters(), lr=peak, eps=1e-12)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=peak, total_steps=steps, cycle_momentum=True, base_momentum=0.85,
        max_momentum=0.95,
    )
    xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(Y, dtype=torch.float64)
    betas = []
    for _ in range(steps):
        betas.append(opt.param_groups[0]["betas"][0])
        opt.zero_grad()
        torch.nn.functional.mse_loss(layer(xt), yt).backward()
        opt.step()
        sched.step()

    cb = lrs.LearningRateScheduler(one_cycle, update="step",
                                   momentum=one_cycle.cycle_momentum(base=0.85, max=0.95))
    history = m.fit(X, Y, batch_size=len(X), epochs=steps, shuffle=False, verbose=0,
                    callbacks=[cb])
    np.testing.assert_allclose(history.history["momentum"], betas, rtol=1e-6)
    kernel, bias = weights(m)
    np.testing.assert_allclose(kernel, layer.weight.detach().numpy().T, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bias, layer.bias.detach().numpy(), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------- lr multipliers


@pytest.mark.parametrize("kind", ["sgd", "sgd-momentum", "adamw"])
@pytest.mark.parametrize("update", ["epoch", "step"])
def test_lr_multipliers_scale_each_variable_and_its_decay(update, kind):
    opts = {
        "sgd": lambda: keras.optimizers.SGD(0.05, weight_decay=0.1),
        "sgd-momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        "adamw": lambda: keras.optimizers.AdamW(0.05, weight_decay=0.1),
    }
    m = model(opt=opts[kind]())
    lrs_ = per_update(LR, update)
    factors = (0.5, 0.0)  # kernel at half the lr, bias frozen
    expected = reference(
        m, "adam" if kind == "adamw" else "sgd", lrs_,
        momentum=np.full(STEPS, 0.9) if kind == "sgd-momentum" else None,
        weight_decay=None if kind == "sgd-momentum" else np.full(STEPS, 0.1), factors=factors,
    )
    bias_before = weights(m)[1]
    cb = lrs.LearningRateScheduler(LR, update=update, lr_multipliers={"kernel$": 0.5, "bias": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        fit(m, [cb], epochs=EPOCHS)
    assert_weights(m, expected, rtol=1e-4 if kind == "adamw" else 2e-5)
    np.testing.assert_array_equal(weights(m)[1], bias_before)  # frozen, decay included


def test_a_multiplier_of_half_moves_the_weight_half_as_far():
    """The probe: plain SGD with a gradient of 1, so each update moves a weight by its lr."""
    def probe():
        keras.utils.set_random_seed(0)
        inp = keras.Input((1,))
        a = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="a")(inp)
        b = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros", name="b")(inp)
        out = keras.layers.Add()([a, b])
        m = keras.Model(inp, out)
        m.compile(keras.optimizers.SGD(0.1), loss=lambda y, p: keras.ops.sum(p))
        return m

    ones = np.ones((1, 1), "float32")
    m = probe()
    cb = lrs.LearningRateScheduler(lambda e: 0.1 * (e + 1), lr_multipliers=lambda v: 0.5
                                   if v.path.startswith(m.layers[1].name + "/") else 1.0)
    m.fit(ones, ones, epochs=2, verbose=0, callbacks=[cb])
    a, b = (float(np.asarray(w).ravel()[0]) for w in m.get_weights())
    assert b == pytest.approx(-(0.1 + 0.2))
    assert a == pytest.approx(-(0.1 + 0.2) / 2)


def test_nadams_shared_momentum_product_advances_once_per_step_with_several_groups():
    """Nadam's step advances a product shared by all variables: once per update, not once per
    group. A factor a hair above 1 makes two groups that must train as one."""
    plain = model(opt=keras.optimizers.Nadam(0.05))
    fit(plain, epochs=2)
    grouped = model(opt=keras.optimizers.Nadam(0.05))
    cb = lrs.LearningRateScheduler([0.05], lr_multipliers={"bias": float(np.nextafter(1, 2))})
    fit(grouped, [cb], epochs=2)
    assert_weights(grouped, weights(plain), rtol=1e-6)


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_a_changed_multiplier_function_takes_effect_at_the_next_fit(update):
    """Gradual unfreezing: the bias frozen in the first fit, trained in the second."""
    frozen = {"bias": 0.0}
    m = model()
    cb = lrs.LearningRateScheduler([0.05], update=update,
                                   lr_multipliers=lambda v: frozen.get(v.path.split("/")[-1], 1.0))
    bias = weights(m)[1]
    fit(m, [cb], epochs=1)
    np.testing.assert_array_equal(weights(m)[1], bias)
    frozen["bias"] = 1.0
    fit(m, [cb], epochs=1)
    assert not np.array_equal(weights(m)[1], bias)


def test_a_pattern_of_a_frozen_layer_is_no_typo():
    """layer_decay's patterns name every layer; a layer frozen for a fit matches no trainable
    variable then, yet it is the model's: the fit trains the rest, the frozen layer stays."""
    m = model(layers=2)
    rules = lrs.layer_decay(m, 0.5)
    m.layers[0].trainable = False
    m.compile(keras.optimizers.SGD(0.1), loss="mse")
    before = weights(m)
    fit(m, [lrs.LearningRateScheduler([0.05], lr_multipliers=rules)], epochs=1)
    for b, a in zip(before[:2], weights(m)[:2]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(weights(m)[2], before[2])


def test_layer_decay_gives_each_layer_decay_to_its_depth():
    m = model(layers=2)
    rules = lrs.layer_decay(m, 0.5)
    paths = [v.path for v in m.trainable_variables]
    assert list(rules) == [f"^{re.escape(p)}$" for p in paths]
    assert [rules[f"^{re.escape(p)}$"] for p in paths] == [0.5, 0.5, 1.0, 1.0]
    hidden, out = m.layers
    assert set(lrs.layer_decay(m, 0.7, layers=[[hidden, out]]).values()) == {1.0}
    with pytest.raises(ValueError, match=r"`decay`.*Received: decay=0"):
        lrs.layer_decay(m, 0)
    with pytest.raises(TypeError, match="`layers`"):
        lrs.layer_decay(m, 0.5, layers=["hidden"])


# ---------------------------------------------------------------------- lifecycle and saving


def _all_scheduled(update):
    return lrs.LearningRateScheduler(
        LR, update=update, momentum=MOMENTUM, weight_decay=DECAY,
        hyperparameters={"beta_2": lrs.Linear(0.999, end=0.99, steps=STEPS)},
        lr_multipliers={"bias": 0.5},
    )


def _adamw():
    return model(opt=keras.optimizers.AdamW(0.05, weight_decay=0.01, beta_1=0.9))


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_saved_mid_fit_and_after_as_plain_keras(update, tmp_path):
    m = _adamw()
    m.optimizer.build(m.trainable_variables)
    n = len(m.optimizer.variables)
    path = str(tmp_path / "e{epoch}.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        fit(m, [_all_scheduled(update), keras.callbacks.ModelCheckpoint(path)], epochs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Skipping variable loading"
        loaded = keras.saving.load_model(tmp_path / "e2.keras")
    config = loaded.optimizer.get_config()
    k = 2 * STEPS_PER_EPOCH
    last = k - 1 if update == "step" else 1  # epoch mode: indexed by the epoch
    assert config["beta_1"] == pytest.approx(float(MOMENTUM.table(last + 1)[last]), rel=1e-6)
    assert config["weight_decay"] == pytest.approx(float(DECAY.table(last + 1)[last]), abs=1e-7)
    assert len(loaded.optimizer.variables) == n
    for a, b in zip(weights(loaded), weights(m)):
        np.testing.assert_array_equal(a, b)
    # After the fit the optimizer is its own again.
    assert (m.optimizer.beta_1, m.optimizer.weight_decay, m.optimizer.beta_2) == (0.9, 0.01, 0.999)
    assert len(m.optimizer.variables) == n
    for name in ("_backend_update_step", "_apply_weight_decay", "_backend_apply_gradients"):
        assert name not in vars(m.optimizer)


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_resumed_runs_continue_the_uninterrupted_one(update, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        whole = _adamw()
        fit(whole, [_all_scheduled(update)], epochs=EPOCHS)

        # initial_epoch, in a new callback
        split = _adamw()
        fit(split, [_all_scheduled(update)], epochs=1)
        fit(split, [_all_scheduled(update)], epochs=EPOCHS, initial_epoch=1)
        for a, b in zip(weights(split), weights(whole)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)

        # BackupAndRestore after a crash in another callback
        from callback_helpers import Interrupt

        crashed = _adamw()
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        cb = _all_scheduled(update)
        with pytest.raises(RuntimeError, match="interrupted"):
            fit(crashed, [backup, cb, Interrupt(2)], epochs=EPOCHS)
        # Until the next fit heals it, the optimizer reports plain floats.
        assert isinstance(crashed.optimizer.get_config()["beta_1"], float)
        fit(crashed, [keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), cb],
            epochs=EPOCHS)
        for a, b in zip(weights(crashed), weights(whole)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


class _CtrlC(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise KeyboardInterrupt


def _raising_momentum(index):
    if index in (1, STEPS_PER_EPOCH + 1):  # the second epoch, or the second epoch's 2nd step
        raise ZeroDivisionError("in the user's momentum")
    return 0.9


@pytest.mark.parametrize("fault", ["other-callback", "ctrl-c", "own-schedule"])
@pytest.mark.parametrize("update", ["epoch", "step"])
def test_a_fit_that_raises_leaves_the_optimizer_as_it_was(update, fault):
    from callback_helpers import Interrupt

    m = _adamw()
    opt = m.optimizer
    fit(m, epochs=1)
    n = len(opt.variables)
    cb = _all_scheduled(update)
    extra, error = [Interrupt(1)], RuntimeError
    if fault == "ctrl-c":
        extra, error = [_CtrlC()], KeyboardInterrupt
    elif fault == "own-schedule":
        extra, error = [], ZeroDivisionError
        cb = lrs.LearningRateScheduler(LR, update=update, momentum=_raising_momentum,
                                       lr_multipliers={"bias": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        with pytest.raises(error):
            fit(m, [cb, *extra], epochs=EPOCHS)
    if keras.backend.backend() == "jax" and _keras_version() < (3, 12):
        # keras' own behaviour before 3.12, with or without this callback: a JAX fit that
        # raised mid-epoch leaves the variables purged until something writes them back
        # (docs/callback_design.md).
        m.jax_state_sync()
    if fault == "own-schedule":  # our own hook raised: it put everything back first
        _untouched(m, n)
    assert isinstance(opt.get_config()["beta_1"], float)
    # The next fit without the callback: keras' own step, the optimizer's own floats.
    before = weights(m)
    fit(m, epochs=1)
    assert (opt.beta_1, opt.beta_2, opt.weight_decay) == (0.9, 0.999, 0.01)
    _untouched(m, n)
    assert all(not np.array_equal(a, b) for a, b in zip(before, weights(m)))


@pytest.mark.parametrize("order", ["plain-first", "scheduled-first", "after-a-crash"])
def test_an_epoch_mode_momentum_alone_is_applied_and_then_taken_off(order):
    """No lr_multipliers, no owned schedule: only the momentum needs the step traced anew. The
    step keras traced with the float momentum must not be reused for the schedule, nor the
    scheduled step for a fit without it, nor anything left by a fit that raised."""
    from callback_helpers import Interrupt

    m = model(opt=keras.optimizers.SGD(0.05, momentum=0.9))
    schedule = lrs.Linear(0.9, end=0.1, steps=EPOCHS)
    cb = lrs.LearningRateScheduler(lambda epoch, lr: lr, momentum=schedule)
    if order == "plain-first":
        fit(m, epochs=1)  # keras traces its step with the float 0.9
    if order == "after-a-crash":
        with pytest.raises(RuntimeError, match="interrupted"):
            fit(m, [cb, Interrupt(1)], epochs=EPOCHS)
    else:
        slots = _velocities(m)
        expected = reference(m, "sgd", [0.05] * STEPS, per_update(schedule, "epoch"), slots=slots)
        fit(m, [cb], epochs=EPOCHS)
        assert_weights(m, expected)
    # Then a fit without the callback: keras' own step, with the optimizer's float momentum.
    n = len(m.optimizer.variables) - (order == "after-a-crash")  # ours is still in, until then
    expected = reference(m, "sgd", [0.05] * STEPS_PER_EPOCH, [0.9] * STEPS_PER_EPOCH,
                         slots=_velocities(m))
    fit(m, epochs=1)
    assert_weights(m, expected)
    assert m.optimizer.momentum == 0.9
    _untouched(m, n)


def _keras_version():
    return tuple(int(p) for p in keras.__version__.split(".")[:2])


def _velocities(m):
    """SGD's velocities, or None before the optimizer is built (zeros)."""
    found = getattr(m.optimizer, "momentums", None)
    if not found:
        return None
    return [np.asarray(keras.ops.convert_to_numpy(v), np.float64) for v in found]


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_a_bad_momentum_leaves_the_lr_of_the_previous_epoch(update):
    m = model(opt=keras.optimizers.SGD(0.05, momentum=0.9))
    bad = STEPS_PER_EPOCH + 1 if update == "step" else 1
    cb = lrs.LearningRateScheduler(lambda i, lr: lr * 0.5, update=update,
                                   momentum=lambda i: float("nan") if i >= bad else 0.9)
    with pytest.raises(ValueError, match="`momentum` schedule"):
        fit(m, [cb], epochs=EPOCHS)
    expected = 0.05 if update == "step" else 0.025  # step mode checks the run before it starts
    assert float(keras.ops.convert_to_numpy(m.optimizer.learning_rate)) == pytest.approx(expected)
    assert m.optimizer.momentum == 0.9


def test_repeated_fits_compile_once():
    from callback_helpers import count_traces

    m = _adamw()
    traces = count_traces(m)
    cb = _all_scheduled("step")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lrs.callback.ScheduleWarning)
        fit(m, [cb], epochs=1)
        first = len(traces)  # TensorFlow traces twice when the optimizer builds in the step
        for _ in range(2):
            fit(m, [cb], epochs=1)
    if keras.backend.backend() != "torch":  # torch runs train_step in Python at every step
        assert len(traces) == first


# ---------------------------------------------------------------------- bad input


def _untouched(m, n):
    opt = m.optimizer
    assert len(opt.variables) == n
    assert not any(isinstance(getattr(opt, a, None), keras.Variable)
                   for a in ("beta_1", "beta_2", "momentum", "weight_decay"))
    for name in ("_backend_update_step", "_apply_weight_decay", "_backend_apply_gradients",
                 "_get_current_learning_rate"):
        assert name not in vars(opt)
    assert "make_train_function" not in vars(m)


@pytest.mark.parametrize(
    "opt, kwargs, error, match",
    [
        (lambda: keras.optimizers.Adam(0.1), {"hyperparameters": {"beta2": [0.9]}}, ValueError,
         r"`hyperparameters\['beta2'\]` must name a float hyperparameter.*beta_1, beta_2"),
        (lambda: keras.optimizers.Adam(0.1), {"hyperparameters": {"amsgrad": [1.0]}}, TypeError,
         "`amsgrad` is a boolean"),
        (lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
         {"hyperparameters": {"nesterov": [1.0]}}, TypeError, "`nesterov` is a boolean"),
        (lambda: keras.optimizers.SGD(0.1), {"momentum": [0.9]}, ValueError,
         r"built with a momentum.*SGD\(momentum=0.9\).*momentum=0.0"),
        (lambda: keras.optimizers.Adagrad(0.1), {"momentum": [0.9]}, ValueError,
         "Received: Adagrad, which has neither"),
        (lambda: keras.optimizers.Adam(0.1),
         {"momentum": [0.9], "hyperparameters": {"beta_1": [0.8]}}, ValueError,
         r"`momentum` and `hyperparameters\['beta_1'\]` both schedule `beta_1`"),
        (lambda: keras.optimizers.Adam(0.1), {"lr_multipliers": lambda v: -1.0}, ValueError,
         r"lr_multipliers\('.*kernel'\)` must be a finite number >= 0. Received: -1.0"),
        (lambda: keras.optimizers.Adam(0.1, epsilon=1), {"hyperparameters": {"epsilon": [0.1]}},
         TypeError, r"`epsilon` holds an integer.*Adam\(epsilon=1.0\)"),
        # a typo: the pattern matches nothing, and the error shows what it could have matched
        (lambda: keras.optimizers.SGD(0.1), {"lr_multipliers": {"bias": 0.5, "kernal": 0.1}},
         ValueError, r"pattern that matches no variable of the model: 'kernal'\. .*re.search"
         r".*2 variable paths include '[^']*/kernel', '[^']*/bias'"),
    ],
    ids=["unknown", "boolean", "nesterov", "momentum-0", "no-momentum", "twice", "callable<0",
         "integer", "unmatched-pattern"],
)
def test_bad_input_at_fit_names_the_argument_and_touches_nothing(opt, kwargs, error, match):
    m = model(opt=opt())
    fit(m, epochs=1)
    n = len(m.optimizer.variables)
    cb = lrs.LearningRateScheduler(0.1 * np.ones(3), **kwargs)
    with pytest.raises(error, match=match):
        fit(m, [cb], epochs=1)
    _untouched(m, n)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lr_multipliers": {"dense[": 0.5}}, ValueError, r"not a valid regular expression.*'dense\['"),
        ({"lr_multipliers": {"bias": -0.5}}, ValueError,
         r"`lr_multipliers\['bias'\]` must be a finite number >= 0. Received: -0.5"),
        ({"lr_multipliers": {"bias": float("nan")}}, ValueError, "Received: nan"),
        ({"lr_multipliers": [("bias", 0.5)]}, TypeError, "`lr_multipliers` must be a dict"),
        ({"momentum": [0.9, float("nan")]}, ValueError,
         r"`momentum` must hold finite values >= 0.*momentum\[1\]=.*nan"),
        ({"momentum": lambda epoch, lr: 0.9}, TypeError,
         r"`momentum` must be a function of the index only"),
        ({"weight_decay": "no such"}, ValueError, r"Argument `weight_decay`: a string is read as a schedule spec.*Spec `no such`"),
        ({"hyperparameters": {"learning_rate": [0.1]}}, ValueError, "callback's `schedule`"),
        ({"hyperparameters": {"clipnorm": [0.1]}}, ValueError, r"`hyperparameters\['clipnorm'\]`"),
        ({"hyperparameters": [("beta_2", 0.9)]}, TypeError, "must be a dict"),
        ({"momentum": [0.9], "hyperparameters": {"momentum": [0.9]}}, ValueError,
         r"`momentum` and `hyperparameters\['momentum'\]` both"),
    ],
)
def test_bad_arguments_are_refused_when_the_callback_is_made(kwargs, error, match):
    with pytest.raises(error, match=match):
        lrs.LearningRateScheduler([0.1], **kwargs)


@pytest.mark.parametrize("update", ["epoch", "step"])
def test_a_non_finite_value_from_a_schedule_never_reaches_the_optimizer(update):
    m = model(opt=keras.optimizers.SGD(0.05, momentum=0.9))
    fit(m, epochs=1)
    n = len(m.optimizer.variables)
    before = weights(m)
    first = STEPS_PER_EPOCH if update == "step" else 0  # the step, or the epoch of this fit
    cb = lrs.LearningRateScheduler([0.05], update=update,
                                   momentum=lambda i: float("nan") if i == first else 0.9)
    where = f"step {first}" if update == "step" else r"Epoch 1 \(index 0\)"
    with pytest.raises(ValueError, match=rf"The `momentum` schedule must give a finite value >= 0.*nan at {where}"):
        fit(m, [cb], epochs=1)
    _untouched(m, n)
    for a, b in zip(before, weights(m)):
        np.testing.assert_array_equal(a, b)
