"""The updates of ``lr_multipliers`` that take one pass for all groups, on eager torch.

There each keras update call is a run of Python (tens of microseconds) besides its kernels, paid
at every step; one call per group of variables sharing a factor made a 24-group `layer_decay`
cost half again the step. Two ways do the groups in one pass (multipliers.py picks one):

- **ADAM**, keras' torch Adam and AdamW, where the variables share one dtype: the update done
  here with each group's own step size ``lr * f * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` and
  decay ``1 - wd * lr * f``, computed for all groups as one tensor and handed per group, as 0-d
  tensors, to the ``torch._foreach`` ops that scale by them. The ops, and the order and the
  dtypes of the arithmetic in them, are those of keras' own ``_parallel_update_step`` and
  ``_apply_weight_decay`` (keras/src/backend/torch/optimizers), so that each group gets the
  numbers of a keras call at ``lr * f``, bit for bit (tests/test_multipliers.py checks that
  against the per-group path, which calls keras, in float32 and float16). No memory is touched
  that keras' own update does not touch. (Variables of several dtypes go per group: one keras
  call computes the step size in its first variable's dtype.)
- **LERP**, the others whose update moves each variable by the lr times something the lr does
  not enter (`kinds`): the scaled weights are copied, keras' decay and update run once at the
  base lr, and each scaled variable is moved back to ``old + f * (new - old)`` in one
  ``torch._foreach_lerp_``: the update at ``lr * f`` within a float32 rounding of the weight.
  That is three passes over the scaled weights more than keras' update.

Both cache the tensors behind the variables (and the slots): torch's ``Variable.value`` checks
the stateless scope, the autocast scope and the device at every read. It is the same tensor at
every step outside a stateless scope (made in ``_initialize``; an assign copies into it), which
multipliers.py rules out before it takes either way; a cache is dropped when the fit ends.
"""

import numbers

PER_GROUP, LERP, ADAM = "per group", "lerp", "adam"


def kinds():
    """``{exact torch optimizer class: (way, whether it needs momentum == 0)}``. Exact classes: a
    subclass may override anything.

    Adam, AdamW: ADAM. Adamax, Nadam, Adagrad, Adadelta, Lion: LERP; their slots (moments,
    accumulators, Adadelta's squared deltas, kept before the lr) follow the gradients alone, the
    variable moves by ``-lr * u`` with ``u`` from the slots, and the decay before it is
    ``w *= 1 - wd * lr``. SGD and RMSprop: LERP only without momentum, since the momentum buffer
    sums ``lr * g``. Not here, so per group: Lamb (its trust ratio reads the decayed weights,
    which depend on the lr), and the optimizers torch runs one variable at a time (Lamb, Ftrl,
    Adafactor, ...), whose groups add no update calls. Empty for a keras whose modules are laid
    out otherwise."""
    global _KINDS, _in_stateless_scope
    if _KINDS is None:
        try:
            from keras.src.backend.common.stateless_scope import in_stateless_scope
            from keras.src.backend.torch.optimizers import (
                torch_adadelta, torch_adagrad, torch_adam, torch_adamax, torch_adamw, torch_lion,
                torch_nadam, torch_rmsprop, torch_sgd,
            )
        except ImportError:
            _KINDS = {}
        else:
            _in_stateless_scope = in_stateless_scope
            _KINDS = {
                torch_adam.Adam: (ADAM, False), torch_adamw.AdamW: (ADAM, False),
                torch_adamax.Adamax: (LERP, False), torch_nadam.Nadam: (LERP, False),
                torch_adagrad.Adagrad: (LERP, False), torch_adadelta.Adadelta: (LERP, False),
                torch_lion.Lion: (LERP, False),
                torch_sgd.SGD: (LERP, True), torch_rmsprop.RMSprop: (LERP, True),
            }
    return _KINDS


_KINDS = None
_in_stateless_scope = None


def way_of(optimizer, one_dtype=True):
    """The way `optimizer`'s groups go at this step (see the module's docstring). PER_GROUP in
    a compiled step, which traces the groups as JAX and TensorFlow do, and in a stateless scope,
    whose variables are not their cached tensors; and for variables of several dtypes
    (`one_dtype` False), since one keras call computes its step in its first variable's dtype.
    ADAM needs its betas and epsilon as numbers, as keras' torch Adam does (a scheduled one is
    a host float on eager torch); LERP otherwise."""
    way, needs_zero_momentum = kinds().get(type(optimizer), (PER_GROUP, False))
    if way == PER_GROUP or not one_dtype:
        return PER_GROUP
    if needs_zero_momentum:
        momentum = optimizer.momentum  # a variable when scheduled: never 0
        if not isinstance(momentum, numbers.Real) or momentum != 0:
            return PER_GROUP
    import torch

    if torch.compiler.is_compiling() or _in_stateless_scope():
        return PER_GROUP
    if way == ADAM and not all(isinstance(getattr(optimizer, name), numbers.Real)
                               for name in ("beta_1", "beta_2", "epsilon")):
        return LERP
    return way


def by_factor(factors):
    """``{factor: [indices]}``, in the order the factors first come."""
    found = {}
    for i, f in enumerate(factors):
        found.setdefault(f, []).append(i)
    return found


def _no_grad(fn):
    """`fn` under ``torch.no_grad()`` where grad mode is on (keras' train step has it off)."""
    import torch

    if torch.is_grad_enabled():
        with torch.no_grad():
            return fn()
    return fn()


class Lerp:
    """LERP for one list of variables: the indices of the scaled ones (factor not 0 or 1), their
    lerp weights ``1 - f``, their tensors and the buffers of their copies (kept: on a CPU an
    allocation per step costs more than the copy)."""

    def __init__(self, factors):
        self.scaled = [i for i, f in enumerate(factors) if f not in (0.0, 1.0)]
        self.weights = [1.0 - factors[i] for i in self.scaled]
        self.values = self.copies = None

    def snapshot(self, variables):
        """Copy the scaled variables' values, before keras' decay and update."""
        import torch

        if not self.scaled:
            return
        if self.values is None:
            self.values = [variables[i].value for i in self.scaled]
            self.copies = [torch.empty_like(t) for t in self.values]
        _no_grad(lambda: torch._foreach_copy_(self.copies, self.values))

    def move_back(self):
        """Each scaled variable from ``new`` to ``new + (1 - f) * (old - new)``, that is
        ``old + f * (new - old)``: the decay and the update at ``lr * f``."""
        import torch

        if self.scaled:
            _no_grad(lambda: torch._foreach_lerp_(self.values, self.copies, self.weights))


class Adam:
    """ADAM for one list of active variables (factor 0 left out) of one optimizer, all of one
    dtype: the tensors of the variables and of their slots, the variables grouped by factor,
    and the groups' factors as a float32 tensor."""

    def __init__(self, optimizer, variables, factors, decays):
        import torch

        index = optimizer._get_variable_index
        self.values = [v.value for v in variables]
        self.m = [optimizer._momentums[index(v)].value for v in variables]
        self.v = [optimizer._velocities[index(v)].value for v in variables]
        self.v_hat = ([optimizer._velocity_hats[index(v)].value for v in variables]
                      if optimizer.amsgrad else None)
        found = by_factor(factors)
        self.groups = list(found.values())  # indices into the list, per factor
        self.factors = torch.tensor(list(found), dtype=torch.float32,
                                    device=self.values[0].device)
        # Per group, its moments (the step size scales them) and the tensors keras' decay
        # reaches (`_use_weight_decay`, fixed once the optimizer is built): one foreach call
        # per group with the group's 0-d tensor, as keras' one call per group makes, so that
        # CUDA keeps its fused multi-tensor kernels (a list of 0-d tensors against n-d ones
        # would fall back to one kernel per tensor).
        self.group_m = [[self.m[i] for i in idx] for idx in self.groups]
        self.decayed = [(g, [self.values[i] for i in idx if decays(variables[i])])
                        for g, idx in enumerate(self.groups)]
        self.decayed = [(g, ts) for g, ts in self.decayed if ts]

    def decay(self, optimizer):
        """``w *= 1 - wd * (lr * f)``, as keras' torch decay does at the group's lr (read
        through the optimizer's getter, as keras' decay reads it; ``lr * f`` as keras'
        ``ops.multiply`` gives it, in float32)."""
        import torch

        if optimizer.weight_decay is None or not self.decayed:
            return
        lr = optimizer._get_current_learning_rate()
        scales = (1 - optimizer.weight_decay * (lr * self.factors)).unbind()
        _no_grad(lambda: [torch._foreach_mul_(ts, scales[g]) for g, ts in self.decayed])

    def update(self, optimizer, grads, learning_rate):
        """keras' Adam step with a step size per group."""
        _no_grad(lambda: self._update(optimizer, grads, learning_rate))

    def _update(self, opt, grads, learning_rate):
        import torch

        if isinstance(learning_rate, numbers.Real):
            learning_rate = torch.tensor(learning_rate)
        elif not isinstance(learning_rate, torch.Tensor):  # a keras Variable
            learning_rate = learning_rate.value
        values, m, v = self.values, self.m, self.v
        dtype, device = values[0].dtype, values[0].device
        # keras: the group's lr (float32 lr times the factor) cast to the variables' dtype,
        # then the bias correction in that dtype.
        rates = (learning_rate.to(device=device) * self.factors).to(dtype)
        iterations = opt.iterations
        step = (getattr(iterations, "value", iterations) + 1).to(dtype)
        b1, b2 = opt.beta_1, opt.beta_2
        # A Python float base: no tensor made from the host at every step (on a GPU, a copy).
        b1_power = torch.pow(b1, step)
        b2_power = torch.pow(b2, step)
        steps = (rates * torch.sqrt(1 - b2_power) / (1 - b1_power)).unbind()

        torch._foreach_mul_(m, b1)
        torch._foreach_add_(m, grads, alpha=1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_add_(v, torch._foreach_mul(grads, grads), alpha=1 - b2)
        if self.v_hat is not None:
            torch._foreach_maximum_(self.v_hat, v)
            v = self.v_hat
        scaled = [None] * len(m)
        for idx, group_m, step_size in zip(self.groups, self.group_m, steps):
            for i, t in zip(idx, torch._foreach_mul(group_m, step_size)):
                scaled[i] = t
        torch._foreach_add_(
            values,
            torch._foreach_div(scaled, torch._foreach_add(torch._foreach_sqrt(v), opt.epsilon)),
            alpha=-1,
        )
