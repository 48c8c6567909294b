"""`get(spec)`: a schedule from a short string, a keras config dict, or a schedule.

A spec string is written like Python calls of the snake_case schedule names::

    "one_cycle(max_lr=0.1, total_steps=1000)"
    "warmup(cosine(initial=1e-3, steps=900), steps=100)"
    "join([linear(0.0, 0.1, 100), cosine(0.1, 900)], boundaries=[100])"

It is parsed with `ast` and never evaluated: the only things allowed are calls of known schedule
names, numbers (``-1``, ``1e-3``), strings, lists and tuples, ``True``/``False``/``None`` and nested
specs. Anything else (an attribute, an operator, a variable, a lambda, ``**kwargs``, ...) is a
``ValueError`` that names what was found.
"""

import ast
import difflib
import inspect
import numbers
import re

import keras

_LRSchedule = keras.optimizers.schedules.LearningRateSchedule

# Long enough for any hand-written spec, small enough that `ast` never recurses too deep.
_MAX_SPEC_CHARS = 10_000

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


def _snake(name):
    """``OneCycle`` -> ``one_cycle``; ``WarmupStableDecay`` -> ``warmup_stable_decay``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def schedule_names():
    """{snake_case name: class} for every public schedule class of keras_lrsched.

    Built from the package's ``__all__``, so a new public schedule gets its spec name for free.

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
    close = difflib.get_close_matches(_snake(name), known, n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return ValueError(
        f"Unknown schedule `{name}` in spec.{hint} Known names: {', '.join(sorted(known))}"
    )


def _describe(node):
    what = _FOUND.get(type(node))
    if what is None:
        if isinstance(node, ast.Constant):
            kind = type(node.value).__name__
            what = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} constant"
        elif isinstance(node, ast.Name):
            what = "a variable"
        elif isinstance(node, ast.UnaryOp):
            what = "an operator"
        elif isinstance(node, ast.Call):
            what = "a call of something that is not a schedule name"
        else:
            what = f"a {type(node).__name__} expression"
    return f"{what} `{ast.unparse(node)}`"


def _not_allowed(node, text):
    return ValueError(
        f"Spec {text!r} contains {_describe(node)}, which is not allowed. A spec may hold only "
        "calls of schedule names, numbers, strings, lists/tuples, True/False/None and nested specs."
    )


class _Builder:
    """Turns an `ast` expression into values and schedules, refusing every other node."""

    def __init__(self, text, names):
        self.text = text
        self.names = names

    def value(self, node):
        if isinstance(node, ast.Constant):
            v = node.value
            if v is None or isinstance(v, (bool, str)) or (
                isinstance(v, numbers.Real) and not isinstance(v, bytes)
            ):
                return v
            raise _not_allowed(node, self.text)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.value(node.operand)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise _not_allowed(node, self.text)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                raise ValueError(
                    f"Spec {self.text!r}: `{node.id}` needs its arguments, e.g. "
                    f"`{node.id}({_signature(self.names[node.id])})`"
                )
        raise _not_allowed(node, self.text)

    def call(self, node):
        if not isinstance(node.func, ast.Name):
            raise _not_allowed(node, self.text)
        name = node.func.id
        if name not in self.names:
            raise _unknown_name(name, self.names)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _not_allowed(arg, self.text)
        for kw in node.keywords:
            if kw.arg is None:
                raise ValueError(
                    f"Spec {self.text!r} contains `**{ast.unparse(kw.value)}`, which is not "
                    "allowed: write each argument as name=value"
                )
        args = [self.value(a) for a in node.args]
        kwargs = {kw.arg: self.value(kw.value) for kw in node.keywords}
        return _construct(self.names[name], name, args, kwargs, ast.unparse(node))


def _signature(cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return ", ".join(str(p) for p in params)


def _construct(cls, name, args, kwargs, where):
    try:
        inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError as err:
        raise ValueError(
            f"In `{where}`: {err}. `{name}` takes ({_signature(cls)})"
        ) from None
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"In `{where}`: {err}") from None


def _from_string(text):
    names = schedule_names()
    stripped = text.strip()
    if not stripped:
        raise ValueError("Spec is empty; expected e.g. 'cosine(initial=0.1, steps=1000)'")
    if len(stripped) > _MAX_SPEC_CHARS:
        raise ValueError(
            f"Spec is too long ({len(stripped)} characters; at most {_MAX_SPEC_CHARS}). For long "
            "lists of values save a table instead: keras_lrsched.Table(values).save(path)"
        )
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"Spec {text!r} is not a valid spec: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise ValueError(f"Spec {text[:80]!r}... is nested too deeply") from None
    body = tree.body
    builder = _Builder(text, names)
    try:
        result = builder.value(body)
    except RecursionError:
        raise ValueError(f"Spec {text[:80]!r}... is nested too deeply") from None
    return _top_level(result, text)


def _top_level(result, spec):
    from .schedules import Constant

    if isinstance(result, _LRSchedule):
        return result
    if isinstance(result, numbers.Real) and not isinstance(result, bool):
        return _construct(Constant, "constant", [result], {}, repr(spec))
    raise ValueError(
        f"Spec {spec!r} must describe a schedule, such as 'cosine(initial=0.1, steps=1000)'; "
        f"it describes {type(result).__name__} {result!r}"
    )


def _from_config(config):
    """A schedule from a keras config dict (``keras.optimizers.schedules.serialize`` output).

    Also accepts ``{"class_name": "one_cycle", "config": {...}}`` with a spec name.
    """
    if "class_name" not in config:
        raise ValueError(
            "A config dict must have a `class_name` (as produced by "
            f"keras.optimizers.schedules.serialize). Received keys: {sorted(config)}"
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
        raise ValueError(f"Cannot build a schedule from config {config!r}: {err}") from None
    if not isinstance(schedule, _LRSchedule):
        raise ValueError(f"Config {config!r} does not describe a learning-rate schedule")
    return schedule


def get(spec):
    """A learning-rate schedule from `spec`.

    Args:
        spec: one of

            * a spec string: a call of a snake_case schedule name, such as
              ``"one_cycle(max_lr=0.1, total_steps=1000)"``. Arguments may be positional or
              named; values may be numbers, strings, lists, ``True``/``False``/``None`` and
              nested specs: ``"warmup(cosine(initial=1e-3, steps=900), steps=100)"``. A bare
              number, ``"0.01"``, means ``constant(0.01)``. The string is parsed, never evaluated.
            * a keras config dict, as returned by ``keras.optimizers.schedules.serialize`` (keras'
              own schedules included);
            * a schedule (any keras ``LearningRateSchedule``): returned as is;
            * a number: ``Constant(number)``.

    Returns:
        A keras ``LearningRateSchedule``.

    Raises:
        ValueError: for an unknown name (the message lists the known ones), anything in the string
            that is not allowed (the message names it), or arguments the schedule refuses.
        TypeError: for a `spec` of another type.

    Names: constant, time_decay, step_decay, multi_step_decay, exponential_decay, piecewise,
    polynomial, linear, cosine, cosine_restarts, cyclic, one_cycle, inverse_sqrt,
    warmup_stable_decay, warmup, join, table.

    >>> import keras_lrsched as lrs
    >>> s = lrs.get("warmup(cosine(initial=1e-3, steps=900), steps=100)")
    >>> s.after, s.steps
    (Cosine(initial=0.001, steps=900, end=0.0), 100)
    >>> lrs.get("step_decay(0.1, 0.5, step_size=10)")
    StepDecay(initial=0.1, factor=0.5, step_size=10)
    """
    if isinstance(spec, _LRSchedule):
        return spec
    if isinstance(spec, str):
        return _from_string(spec)
    if isinstance(spec, dict):
        return _from_config(spec)
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return _top_level(spec, spec)
    raise TypeError(
        "Argument `spec` must be a spec string, a keras config dict or a schedule. "
        f"Received: spec={spec!r} of type {type(spec).__name__}"
    )


def to_spec(schedule):
    """The spec string of a keras_lrsched schedule: ``get(to_spec(s))`` rebuilds `s`.

    >>> import keras_lrsched as lrs
    >>> lrs.spec.to_spec(lrs.Warmup(lrs.Cosine(0.1, steps=900), steps=100))
    'warmup(after=cosine(initial=0.1, steps=900, end=0.0), steps=100, start=0.0)'

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
        if isinstance(value, _LRSchedule):
            return to_spec(value)
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(text(v) for v in value) + "]"
        return repr(value)

    args = []
    for key in schedule.get_config():
        value = getattr(schedule, key)
        if hasattr(value, "tolist"):
            value = value.tolist()
        args.append(f"{key}={text(value)}")
    return f"{names[type(schedule)]}({', '.join(args)})"
