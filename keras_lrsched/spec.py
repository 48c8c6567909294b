"""`get(spec)`: a schedule from a short string, a keras config dict, or a schedule.

A spec string is written like Python calls of the snake_case schedule names, with the same
arguments as the classes (the first may be positional, the others are named)::

    "one_cycle(0.1, steps=1000)"
    "warmup(cosine(1e-3, steps=900), warmup_steps=100)"
    "join([linear(0.0, end=0.1, steps=100), cosine(0.1, steps=900)], boundaries=[100])"

It is parsed with `ast` and never evaluated: the only things allowed are calls of known schedule
names, numbers (``-1``, ``1e-3``), strings, lists and tuples, ``True``/``False``/``None`` and nested
specs. Anything else (an attribute, an operator, a variable, a lambda, ``**kwargs``, ...) is a
``ValueError`` that names what was found, quoting the spec as it was written. A name from Hugging
Face, torch, optax or keras (``get_cosine_schedule_with_warmup``, ``OneCycleLR``, ...) is answered
with the spec to write here.

Importing this module does not import keras.
"""

import ast
import difflib
import inspect
import numbers
import re

# The spec name and signature of every public schedule, in the order of `keras_lrsched.__all__`.
# Written out so that `keras-lrsched --help` lists them, and a spec's mistakes of form are found,
# without importing keras; a test compares it with `schedule_names()`, which derives them from
# the classes.
SIGNATURES = {
    "constant": "(initial)",
    "time_decay": "(initial, *, decay_rate, decay_steps=1, staircase=False)",
    "step_decay": "(initial, *, factor, step_size)",
    "multi_step_decay": "(initial, *, milestones, factor)",
    "exponential_decay": (
        "(initial, *, decay_rate, decay_steps=1, staircase=False, end=None, "
        "transition_begin=0)"
    ),
    "piecewise": "(values, *, boundaries)",
    "polynomial": "(initial, *, end=0.0, steps, power=1.0, k_decay=1.0)",
    "linear": "(initial, *, end=0.0, steps)",
    "cosine": "(initial, *, steps, end=0.0, exponent=1.0, num_cycles=0.5, k_decay=1.0)",
    "cosine_restarts": "(initial, *, period, t_mul=1.0, m_mul=1.0, end=0.0)",
    "tanh": "(initial, *, steps, end=0.0, lb=-7.0, ub=3.0)",
    "cyclic": (
        "(initial, *, peak, step_size_up, step_size_down=None, mode='triangular', "
        "gamma=1.0)"
    ),
    "cyclic_momentum": (
        "(base=0.8, *, max=0.9, step_size_up, step_size_down=None, mode='triangular', "
        "gamma=1.0)"
    ),
    "one_cycle": (
        "(peak, *, steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3, "
        "anneal='cos', div_factor=25.0, final_div_factor=10000.0, three_phase=False, "
        "convention='torch')"
    ),
    "one_cycle_momentum": (
        "(base=0.85, *, max=0.95, steps=None, epochs=None, steps_per_epoch=None, "
        "pct_start=0.3, anneal='cos', three_phase=False, convention='torch')"
    ),
    "inverse_sqrt": "(peak, *, warmup_steps, timescale=None)",
    "warmup_stable_decay": (
        "(peak, *, warmup_steps, stable_steps, decay_steps, end=0.0, decay='cosine')"
    ),
    "warmup": "(after, *, warmup_steps, initial=0.0, prefix=True, continuous=False)",
    "join": "(schedules, *, boundaries)",
    "cycles": "(after, *, cycle_limit=None, cycle_decay=1.0)",
    "noise": "(after, *, noise_range, pct=0.67, std=1.0, seed=42)",
    "table": "(values)",
}
SCHEDULE_NAMES = tuple(SIGNATURES)

# Long enough for any hand-written spec, small enough that `ast` never recurses too deep.
_MAX_SPEC_CHARS = 10_000
# An error message quotes at most this many characters of what the user wrote.
_QUOTE_CHARS = 80

_FOUND = {
    ast.Attribute: "an attribute access",
    ast.BinOp: "an arithmetic operator",
    ast.BoolOp: "a boolean operator",
    ast.Compare: "a comparison",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.IfExp: "a conditional expression",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.Starred: "a starred argument",
    ast.NamedExpr: "an assignment expression",
    ast.Await: "an await",
    ast.Slice: "a slice",
}

# Schedules of other libraries: (their names, as `_foreign_key` writes them; the spec to write
# here, in capitals what to fill in; where the names come from). The equivalences are those of
# docs/migrating.md, where they are tested against the libraries themselves.
_EQUIVALENTS = (
    # Hugging Face transformers: the optimizer's lr is the peak, reached after the warmup.
    (("constant",), "constant(LR)",
     "Hugging Face's get_constant_schedule, optax's constant_schedule"),
    (("constant_with_warmup",), "warmup(constant(PEAK), warmup_steps=WARMUP)",
     "Hugging Face's get_constant_schedule_with_warmup"),
    (("linear_with_warmup",), "warmup(linear(PEAK, steps=TOTAL - WARMUP), warmup_steps=WARMUP)",
     "Hugging Face's get_linear_schedule_with_warmup"),
    (("cosine_with_warmup",), "warmup(cosine(PEAK, steps=TOTAL - WARMUP), warmup_steps=WARMUP)",
     "Hugging Face's get_cosine_schedule_with_warmup"),
    (("cosine_with_min_lr_with_warmup",),
     "warmup(cosine(PEAK, steps=TOTAL - WARMUP, end=MIN_LR), warmup_steps=WARMUP)",
     "Hugging Face's get_cosine_with_min_lr_schedule_with_warmup"),
    (("cosine_with_hard_restarts_with_warmup",),
     "warmup(join([cosine_restarts(PEAK, period=(TOTAL - WARMUP) // CYCLES), constant(0.0)], "
     "boundaries=[TOTAL - WARMUP]), warmup_steps=WARMUP)",
     "Hugging Face's get_cosine_with_hard_restarts_schedule_with_warmup"),
    (("polynomial_decay_with_warmup",),
     "warmup(polynomial(PEAK, end=END, steps=TOTAL - WARMUP, power=POWER), warmup_steps=WARMUP)",
     "Hugging Face's get_polynomial_decay_schedule_with_warmup"),
    (("inverse_sqrt",), "inverse_sqrt(PEAK, warmup_steps=WARMUP)",
     "Hugging Face's get_inverse_sqrt_schedule"),
    (("wsd",),
     "warmup_stable_decay(PEAK, warmup_steps=WARMUP, stable_steps=STABLE, decay_steps=DECAY)",
     "Hugging Face's get_wsd_schedule"),
    # torch.optim.lr_scheduler: LR is the optimizer's lr.
    (("step_lr",), "step_decay(LR, factor=GAMMA, step_size=STEP_SIZE)", "torch's StepLR"),
    (("multi_step_lr",), "multi_step_decay(LR, milestones=MILESTONES, factor=GAMMA)",
     "torch's MultiStepLR; timm's MultiStepLRScheduler drops one step earlier: "
     "milestones=[d - 1 for d in DECAY_T]"),
    (("exponential_lr",), "exponential_decay(LR, decay_rate=GAMMA)", "torch's ExponentialLR"),
    (("constant_lr",), "piecewise([FACTOR * LR, LR], boundaries=[TOTAL_ITERS])",
     "torch's ConstantLR"),
    (("linear_lr",), "linear(START_FACTOR * LR, end=END_FACTOR * LR, steps=TOTAL_ITERS)",
     "torch's LinearLR"),
    (("polynomial_lr",), "polynomial(LR, steps=TOTAL_ITERS, power=POWER)", "torch's PolynomialLR"),
    (("cosine_annealing_lr",), "cosine(LR, steps=T_MAX, end=ETA_MIN)", "torch's CosineAnnealingLR"),
    (("cosine_annealing_warm_restarts",),
     "cosine_restarts(LR, period=T_0, t_mul=T_MULT, end=ETA_MIN)",
     "torch's CosineAnnealingWarmRestarts"),
    (("cyclic_lr",), "cyclic(BASE_LR, peak=MAX_LR, step_size_up=STEP_SIZE_UP)", "torch's CyclicLR"),
    (("one_cycle_lr",), "one_cycle(MAX_LR, steps=TOTAL_STEPS)", "torch's OneCycleLR"),
    (("sequential_lr", "join"), "join([FIRST, SECOND], boundaries=[MILESTONE])",
     "torch's SequentialLR, optax's join_schedules"),
    # optax.
    (("warmup_constant",),
     "warmup(constant(PEAK_VALUE), warmup_steps=WARMUP_STEPS, initial=INIT_VALUE)",
     "optax's warmup_constant_schedule"),
    (("warmup_cosine_decay",),
     "warmup(cosine(PEAK_VALUE, steps=DECAY_STEPS - WARMUP_STEPS, end=END_VALUE), "
     "warmup_steps=WARMUP_STEPS, initial=INIT_VALUE)",
     "optax's warmup_cosine_decay_schedule"),
    (("warmup_exponential_decay",),
     "warmup(exponential_decay(PEAK_VALUE, decay_rate=DECAY_RATE, decay_steps=TRANSITION_STEPS), "
     "warmup_steps=WARMUP_STEPS, initial=INIT_VALUE)",
     "optax's warmup_exponential_decay_schedule"),
    (("cosine_decay",), "cosine(INIT_VALUE, steps=DECAY_STEPS, end=ALPHA * INIT_VALUE)",
     "optax's cosine_decay_schedule, keras' CosineDecay"),
    (("linear",), "linear(INIT_VALUE, end=END_VALUE, steps=TRANSITION_STEPS)",
     "optax's linear_schedule"),
    (("polynomial",), "polynomial(INIT_VALUE, end=END_VALUE, steps=TRANSITION_STEPS, power=POWER)",
     "optax's polynomial_schedule"),
    (("piecewise_constant",), "multi_step_decay(INIT_VALUE, milestones=BOUNDARIES, factor=SCALES)",
     "optax's piecewise_constant_schedule"),
    # timm (CosineLRScheduler and TanhLRScheduler are `cosine` and `tanh` here too).
    (("poly",), "polynomial(LR, steps=T_INITIAL, end=LR_MIN, power=POWER)",
     "timm's PolyLRScheduler"),
    # keras.optimizers.schedules (ExponentialDecay is `exponential_decay` here too).
    (("inverse_time_decay",), "time_decay(INITIAL, decay_rate=DECAY_RATE, decay_steps=DECAY_STEPS)",
     "keras' InverseTimeDecay"),
    (("polynomial_decay",), "polynomial(INITIAL, end=END, steps=DECAY_STEPS, power=POWER)",
     "keras' PolynomialDecay"),
    (("piecewise_constant_decay",), "piecewise([V0, V1, V2], boundaries=[B1 + 1, B2 + 1])",
     "keras' PiecewiseConstantDecay, whose boundary b starts its segment after step b"),
    (("cosine_decay_restarts",),
     "cosine_restarts(INITIAL, period=FIRST_DECAY_STEPS, t_mul=T_MUL, m_mul=M_MUL, "
     "end=ALPHA * INITIAL)",
     "keras' CosineDecayRestarts"),
)
_FOREIGN = {key: (spec, origin) for keys, spec, origin in _EQUIVALENTS for key in keys}


def _snake(name):
    """``OneCycle`` -> ``one_cycle``; ``OneCycleLR`` -> ``one_cycle_lr``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _foreign_key(name):
    """``get_cosine_schedule_with_warmup`` -> ``cosine_with_warmup``: snake_case, without a
    ``get_`` prefix or the words "schedule(s)" and "scheduler"."""
    words = [word for word in _snake(name).split("_") if word]
    if words[:1] == ["get"]:
        words = words[1:]
    return "_".join(w for w in words if w not in ("schedule", "schedules", "scheduler"))


def _equivalent(name):
    """(spec, origin) for a schedule name of another library, with or without its ``_lr``."""
    key = _foreign_key(name)
    for candidate in (key, key.removesuffix("_lr"), key + "_lr"):
        if candidate in _FOREIGN:
            return _FOREIGN[candidate]
    return None


def _quote(text):
    """What the user wrote, for an error message: on one line, at most _QUOTE_CHARS long."""
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 3] + "..."


def _is_lr_schedule(obj):
    import keras

    return isinstance(obj, keras.optimizers.schedules.LearningRateSchedule)


def schedule_names():
    """{snake_case name: class} for every public schedule class of keras_lrsched.

    Built from the package's ``__all__``, so a new public schedule gets its spec name for free
    (``SCHEDULE_NAMES`` lists them for ``--help``: a test tells when it needs the new name).

    >>> import keras_lrsched as lrs
    >>> lrs.spec.schedule_names()["one_cycle"].__name__
    'OneCycle'
    """
    import keras_lrsched
    from .schedules import Schedule

    names = {}
    for attr in keras_lrsched.__all__:
        obj = getattr(keras_lrsched, attr, None)
        if inspect.isclass(obj) and issubclass(obj, Schedule) and obj is not Schedule:
            names[_snake(obj.__name__)] = obj
    return names


def _unknown_name(name, known):
    unknown = f"Unknown schedule `{_quote(name)}` in spec."
    if _snake(name) in known:  # a class name, such as OneCycle
        return ValueError(f"{unknown} Did you mean `{_snake(name)}`?")
    equivalent = _equivalent(name)
    if equivalent is not None:
        spec, origin = equivalent
        return ValueError(f"{unknown} The equivalent here is `{spec}` ({origin})")
    close = difflib.get_close_matches(_snake(name), known, n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return ValueError(f"{unknown}{hint} Known names: {', '.join(sorted(known))}")


def _describe(node):
    what = _FOUND.get(type(node))
    if what is not None:
        return what
    if isinstance(node, ast.Constant):
        kind = type(node.value).__name__
        return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} constant"
    if isinstance(node, ast.Name):
        return "a variable"
    if isinstance(node, ast.UnaryOp):
        return "an operator"
    if isinstance(node, ast.Call):
        return "a call of something that is not a schedule name"
    return f"a {type(node).__name__} expression"


def _signature(cls):
    """``(initial, *, steps, end=0.0, ...)``: the arguments of `cls`, without ``self``."""
    signature = inspect.signature(cls.__init__)
    return str(signature.replace(parameters=list(signature.parameters.values())[1:]))


class _Builder:
    """Turns an `ast` expression into values and schedules, refusing every other node.

    `dry`: check the form only (nodes, names, keywords, positional arguments) against
    `SIGNATURES`, build nothing and import no keras; `names`: {spec name: class} to build with.
    """

    def __init__(self, source, names=None, dry=False):
        self.source = source
        self.names = SIGNATURES if dry else names
        self.dry = dry

    def quote(self, node=None):
        """The user's own text of `node` (of the whole spec without one), shortened."""
        if node is None:
            return _quote(self.source)
        return _quote(ast.get_source_segment(self.source, node) or ast.unparse(node))

    def refuse(self, node):
        return ValueError(
            f"Spec `{self.quote()}` contains {_describe(node)} `{self.quote(node)}`, which is not "
            "allowed. A spec may hold only calls of schedule names, numbers, strings, "
            "lists/tuples, True/False/None and nested specs."
        )

    def value(self, node):
        if isinstance(node, ast.Constant):
            v = node.value
            if v is None or isinstance(v, (str, numbers.Real)):
                return v
            raise self.refuse(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.value(node.operand)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise self.refuse(node)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Name) and node.id in self.names:
            raise ValueError(
                f"Spec `{self.quote()}`: `{node.id}` needs its arguments: "
                f"{node.id}{SIGNATURES[node.id]}"
            )
        if isinstance(node, ast.Name) and _equivalent(node.id) is not None:
            raise _unknown_name(node.id, self.names)  # get_cosine_schedule_with_warmup
        raise self.refuse(node)

    def call(self, node):
        if not isinstance(node.func, ast.Name):
            raise self.refuse(node)
        name = node.func.id
        if name not in self.names:
            raise _unknown_name(name, self.names)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse(arg)
        self.check_keywords(node)
        args = [self.value(a) for a in node.args]
        kwargs = {kw.arg: self.value(kw.value) for kw in node.keywords}
        if len(node.args) > 1:  # every schedule takes one positional argument (docs/api.md)
            first = SIGNATURES[name][1:].split(",")[0].split("=")[0].rstrip(")")
            raise ValueError(
                f"In `{self.quote(node)}`: only the first argument, `{first}`, may be "
                f"positional; name the others. `{name}` takes {SIGNATURES[name]}"
            )
        if self.dry:
            return None
        return _construct(self.names[name], name, args, kwargs, self.quote(node))

    def check_keywords(self, node):
        # Python's compiler refuses a repeated keyword, but `ast.parse` lets it through.
        seen = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise ValueError(
                    f"Spec `{self.quote()}` contains `{self.quote(kw)}`, which is not allowed: "
                    "write each argument as name=value"
                )
            if kw.arg in seen:
                raise ValueError(
                    f"In `{self.quote(node)}`: Argument `{kw.arg}` is repeated: "
                    f"`{self.quote(seen[kw.arg])}`, then `{self.quote(kw)}`"
                )
            seen[kw.arg] = kw


def _construct(cls, name, args, kwargs, where):
    signature = inspect.signature(cls.__init__)
    try:
        signature.bind(None, *args, **kwargs)
    except TypeError as err:
        from .schedules._base import names_message

        # Another library's name, or one of 0.1, such as `one_cycle(max_lr=0.1, total_steps=100)`.
        unknown = [k for k in kwargs if k not in signature.parameters]
        hint = names_message(name, cls._argument_hints(), unknown)
        problem = hint or str(err)
        raise ValueError(f"In `{where}`: {problem}. `{name}` takes {_signature(cls)}") from None
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"In `{where}`: {err}") from None


def _from_string(text):
    source = text.strip()
    if not source:
        raise ValueError("Spec is empty; expected e.g. `cosine(0.1, steps=1000)`")
    if len(source) > _MAX_SPEC_CHARS:
        raise ValueError(
            f"Spec is too long ({len(source)} characters; at most {_MAX_SPEC_CHARS}). For long "
            "lists of values save a table instead: keras_lrsched.Table(values).save(path)"
        )
    too_deep = ValueError(f"Spec `{_quote(source)}` is nested too deeply")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"Spec `{_quote(source)}` is not a valid spec: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise too_deep from None
    try:
        # The form first, without keras: a mistake in a spec on the command line answers at once.
        _Builder(source, dry=True).value(tree.body)
        result = _Builder(source, schedule_names()).value(tree.body)
    except RecursionError:
        raise too_deep from None
    return _top_level(result, _quote(source))


def _top_level(result, quoted):
    from .schedules import Constant

    if _is_lr_schedule(result):
        return result
    if isinstance(result, numbers.Real) and not isinstance(result, bool):
        return _construct(Constant, "constant", [result], {}, quoted)
    raise ValueError(
        f"Spec `{quoted}` must describe a schedule, such as `cosine(0.1, steps=1000)`; it "
        f"describes a value of type {type(result).__name__}"
    )


def _from_config(config):
    """A schedule from a keras config dict (``keras.optimizers.schedules.serialize`` output).

    Also accepts ``{"class_name": "one_cycle", "config": {...}}`` with a spec name.
    """
    import keras

    if "class_name" not in config:
        raise ValueError(
            "A config dict must have a `class_name` (as produced by "
            f"keras.optimizers.schedules.serialize). Received keys: {_quote(repr(sorted(config)))}"
        )
    names = schedule_names()
    class_name = config["class_name"]
    if isinstance(class_name, str) and class_name in names:
        cls = names[class_name]
        config = {**config, "class_name": cls.__name__, "module": cls.__module__,
                  "registered_name": f"keras_lrsched>{cls.__name__}"}
    try:
        schedule = keras.optimizers.schedules.deserialize(config)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise ValueError(
            f"Cannot build a schedule from config `{_quote(repr(config))}`: {err}"
        ) from None
    if not _is_lr_schedule(schedule):
        raise ValueError(
            f"Config `{_quote(repr(config))}` does not describe a learning-rate schedule"
        )
    return schedule


def get(spec):
    """A learning-rate schedule from `spec`.

    Args:
        spec: one of

            * a spec string: a call of a snake_case schedule name, such as
              ``"one_cycle(0.1, steps=1000)"``, with the arguments of the class (the first may be
              positional, the others are named). Values may be numbers, strings, lists,
              ``True``/``False``/``None`` and nested specs:
              ``"warmup(cosine(1e-3, steps=900), warmup_steps=100)"``. A bare number, ``"0.01"``,
              means ``constant(0.01)``. The string is parsed, never evaluated.
            * a keras config dict, as returned by ``keras.optimizers.schedules.serialize`` (keras'
              own schedules included);
            * a schedule (any keras ``LearningRateSchedule``): returned as is;
            * a number: ``Constant(number)``.

    Returns:
        A keras ``LearningRateSchedule``.

    Raises:
        ValueError: for an unknown name (the message gives the closest known one, or the spec to
            write for a schedule of Hugging Face, torch, optax or keras), anything in the string
            that is not allowed (the message names it), or arguments the schedule refuses.
        TypeError: for a `spec` of another type.

    The names are in ``keras_lrsched.spec.SCHEDULE_NAMES``: constant, time_decay, step_decay,
    multi_step_decay, exponential_decay, piecewise, polynomial, linear, cosine, cosine_restarts,
    cyclic, cyclic_momentum, one_cycle, one_cycle_momentum, inverse_sqrt, warmup_stable_decay,
    warmup, join, table.

    >>> import keras_lrsched as lrs
    >>> s = lrs.get("warmup(cosine(1e-3, steps=900), warmup_steps=100)")
    >>> s.after.steps, s.warmup_steps
    (900, 100)
    >>> lrs.get("step_decay(0.1, factor=0.5, step_size=10)")
    StepDecay(initial=0.1, factor=0.5, step_size=10)
    """
    if isinstance(spec, str):
        return _from_string(spec)
    if isinstance(spec, dict):
        return _from_config(spec)
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return _top_level(spec, repr(spec))
    if _is_lr_schedule(spec):
        return spec
    raise TypeError(
        "Argument `spec` must be a spec string, a keras config dict or a schedule. "
        f"Received: spec={_quote(repr(spec))} of type {type(spec).__name__}"
    )


def _is_default(parameter, value):
    default = parameter.default
    return default is not parameter.empty and type(value) is type(default) and value == default


def to_spec(schedule):
    """The spec string of a keras_lrsched schedule: ``get(to_spec(s))`` rebuilds `s`.

    The first argument is written positionally, the others by name; arguments left at their
    default are left out.

    >>> import keras_lrsched as lrs
    >>> lrs.spec.to_spec(lrs.Warmup(lrs.Cosine(0.1, steps=900, end=1e-4), warmup_steps=100))
    'warmup(cosine(0.1, steps=900, end=0.0001), warmup_steps=100)'

    Raises:
        ValueError: for a schedule with no spec name (keras' own schedules, for instance).
    """
    names = {cls: name for name, cls in schedule_names().items()}
    if type(schedule) not in names:
        raise ValueError(
            f"{type(schedule).__name__} has no spec name; use its keras config instead "
            "(keras.optimizers.schedules.serialize)"
        )

    def text(value):
        if _is_lr_schedule(value):
            return to_spec(value)
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(text(v) for v in value) + "]"
        return repr(value)

    parameters = list(inspect.signature(type(schedule).__init__).parameters.values())[1:]
    first = parameters[0].name if parameters else None
    by_name = {p.name: p for p in parameters}
    args = []
    for key in schedule.get_config():
        value = getattr(schedule, key)
        if hasattr(value, "tolist"):
            value = value.tolist()
        if key == first:
            args.insert(0, text(value))
        elif not (key in by_name and _is_default(by_name[key], value)):
            args.append(f"{key}={text(value)}")
    return f"{names[type(schedule)]}({', '.join(args)})"
