"""`layer_decay`: the lr multipliers of layer-wise decay, from the depth of each variable of a
model, which its repeated blocks (found in its layer tree) give.

BEiT, MAE and timm number a transformer's parameters by depth: the embeddings 0, block ``i``
``i + 1``, everything after the last block (final norm, pooler, head) ``L + 1``. Keras models
nest: keras-hub's BERT has its blocks ``transformer_layer_{i}`` at the backbone's top level,
its ViT inside a ``vit_encoder`` layer, and a task model holds the whole backbone as one
layer. So the blocks are looked for in the whole tree of layers rather than by name.

What counts as the blocks: among the sublayers of one layer (siblings), those of the same
class that are themselves made of layers with trainable variables (a transformer block, a
nested model; not a Dense or a LayerNormalization, whose variables are their own), at least
two of them. Where several such sets exist (the blocks; the two towers of a model; the parts
inside each block), the one whose members hold the most trainable parameters wins: that is the
outermost stack of repeated units, then the one with more members, then the first found.

The order is keras' order of layers: a Functional model's graph order; for a subclassed layer,
the order its sublayers were assigned. Along the chain of layers from the model down to the
blocks' parent, what comes before the chain (and the chain's own variables, such as a class
token) is the embedding, depth 0; what comes after it is the top.
"""

import math
import numbers
import re
import warnings

import keras


def sublayers(layer):
    """The layer's direct sublayers, in keras' order."""
    return layer._flatten_layers(include_self=False, recursive=False)


def trainable_kind(layer):
    """The variables of `layer` and its sublayers that train when not frozen, in keras' order.

    Freezing a layer sets its variables' `trainable` to False but keeps them in its
    `_trainable_variables`: a depth must not move when a layer is frozen for one fit (gradual
    unfreezing), so these are what the depths are made of."""
    seen, found = set(), []

    def visit(node):
        for v in node._trainable_variables:
            if id(v) not in seen:
                seen.add(id(v))
                found.append(v)
        for sub in sublayers(node):
            visit(sub)

    visit(layer)
    return found


def all_layers(model):
    """Every layer of the tree, `model` included."""
    found = [model]
    for sub in sublayers(model):
        found.extend(all_layers(sub))
    return found


def _is_composite(layer):
    return any(trainable_kind(sub) for sub in sublayers(layer))


def _size(layers):
    return sum(math.prod(v.shape) for layer in layers for v in trainable_kind(layer))


def find(model):
    """``(chain, blocks)``: the layers from `model` down to the blocks' parent, and the blocks
    in order; None where no set of blocks repeats (a stack of Dense layers)."""
    best = None  # ((parameters, members), chain, blocks)

    def visit(layer, chain):
        chain = chain + [layer]
        by_class = {}
        for sub in sublayers(layer):
            if _is_composite(sub):
                by_class.setdefault(type(sub), []).append(sub)
        nonlocal best
        for members in by_class.values():
            if len(members) >= 2:
                key = (_size(members), len(members))
                if best is None or key > best[0]:
                    best = (key, chain, members)
        for sub in sublayers(layer):
            visit(sub, chain)

    visit(model, [])
    return None if best is None else best[1:]


def depths(model):
    """``(id(variable) -> depth, top depth, number of blocks)`` for the variables of
    `trainable_kind(model)`, or None where no blocks repeat."""
    found = find(model)
    if found is None:
        return None
    chain, blocks = found
    top = len(blocks) + 1
    placed = []  # (depth, layer): each layer's variables get its depth
    own = []  # the chain's own variables (a class token, a position embedding)
    for level, layer in enumerate(chain):
        own.extend(layer._trainable_variables)
        subs = sublayers(layer)
        if level + 1 < len(chain):
            at = next(i for i, s in enumerate(subs) if s is chain[level + 1])
            placed += [(0, s) for s in subs[:at]] + [(top, s) for s in subs[at + 1:]]
            continue
        index = {id(b): i for i, b in enumerate(blocks)}
        first = next(i for i, s in enumerate(subs) if id(s) in index)
        last = max(i for i, s in enumerate(subs) if id(s) in index)
        depth, between = 0, []
        for i, s in enumerate(subs):
            if i < first:
                placed.append((0, s))
            elif i > last:
                placed.append((top, s))
            elif id(s) in index:
                depth = index[id(s)] + 1
                placed.append((depth, s))
            else:
                placed.append((depth, s))
                if trainable_kind(s):
                    between.append(s.name)
        if between:
            warnings.warn(
                f"layer_decay: the layers {between} of {layer.name!r} sit between its blocks "
                f"({blocks[0].name!r} to {blocks[-1].name!r}, {len(blocks)} of class "
                f"{type(blocks[0]).__name__}); each gets the depth of the block before it. "
                "Pass `layers=` to place them otherwise.",
                UserWarning,
                stacklevel=3,
            )
    result = {id(v): 0 for v in own}
    # The lowest depth first: a variable shared by the embedding and the head (tied
    # embeddings) stays with the embedding.
    for depth, layer in sorted(placed, key=lambda p: p[0]):
        for v in trainable_kind(layer):
            result.setdefault(id(v), depth)
    return result, top, len(blocks)


def layer_decay(model, decay, *, layers=None):
    """Layer-wise lr decay for fine-tuning (BEiT, MAE, ELECTRA, timm's ``layer_decay``): a
    dict of ``lr_multipliers`` in which a variable at depth ``d`` of ``D`` gets
    ``decay**(D - d)``, so the top gets 1.0 and each depth below it ``decay`` times the next.

    The depths, by default, follow BEiT's and MAE's ``param_groups_lrd`` for a model made of
    repeated blocks (a transformer): with ``L`` blocks, the embeddings (token, patch, position
    and segment embeddings, a class token, the embedding norm) are at depth 0 and get
    ``decay**(L + 1)``; block ``i`` (from 0) is at depth ``i + 1`` and gets ``decay**(L - i)``;
    everything after the last block (the final norm, a pooler, the head) is at the top and
    gets 1.0. The blocks are found in the model's tree of layers, however deep: the largest set
    of sibling layers of one class that are made of layers with trainable variables, at least
    two (keras-hub's ``transformer_layer_{i}`` in BERT, ``vit_encoder/transformer_block_{i}``
    in ViT, Gemma's ``decoder_block_{i}``, inside a task model's backbone too; the blocks of a
    Functional model made of block layers or nested models), in keras' order of layers. Along
    the way down to them, what comes before is the embedding (and so are the variables the
    models on the way own themselves, such as a class token), what comes after is the top. A
    layer with trainable variables between two blocks gets the depth of the block before it,
    with a warning. timm's ``param_groups_layer_decay`` differs only for a ViT's final
    ``norm``, which it puts with the last block (``decay``, not 1.0): pass ``layers=`` for it.

    Where no blocks repeat (a stack of Dense layers), each of the model's own ``model.layers``
    with trainable variables is its own depth, the last one the top, as in ELECTRA.

    Frozen layers keep their depth (gradual unfreezing): the depths count every variable that
    trains when its layer is not frozen.

    Args:
        model: a built keras model (or layer).
        decay: the factor per depth, in (0, 1] (0.65 to 0.9 in the papers).
        layers: the depths by hand, in order from the input to the output, each a layer of
            the model, or a list of layers that share a depth (the embeddings; a block's
            parts). The last is the top. Variables of no listed layer get no entry (1.0).

    Returns:
        ``{regex: factor}``, one entry per variable path (``^path$``), in the model's order of
        variables: pass it as ``LearningRateScheduler(..., lr_multipliers=...)``, or edit it
        first.

    Raises:
        TypeError: `model` is not a keras layer, `decay` not a number, `layers` not a list of
            layers or lists of layers.
        ValueError: `decay` outside (0, 1], a layer of `layers` that is not the model's, a
            model without trainable variables (not built), or two variables of one path at two
            depths (give the blocks' layers unique names; keras' default names are).

    >>> import keras, keras_lrsched as lrs
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
    ...                           keras.layers.Dense(2, name="b"), keras.layers.Dense(1, name="c")],
    ...                          name="net")
    >>> lrs.layer_decay(model, 0.5)  # no blocks repeat: one depth per layer
    ... # doctest: +NORMALIZE_WHITESPACE
    {'^net/a/kernel$': 0.25, '^net/a/bias$': 0.25, '^net/b/kernel$': 0.5, '^net/b/bias$': 0.5,
     '^net/c/kernel$': 1.0, '^net/c/bias$': 1.0}

    With blocks, each a layer made of layers (here a small nested model), the layer before
    them is the embedding and the one after them the top:

    >>> def block(i):
    ...     x = keras.Input((3,))
    ...     y = keras.layers.LayerNormalization(name=f"ln_{i}")(x)
    ...     y = keras.layers.Dense(3, name=f"fc_{i}")(y)
    ...     return keras.Model(x, keras.layers.Add()([x, y]), name=f"block_{i}")
    >>> x = keras.Input((4,))
    >>> h = keras.layers.Dense(3, name="embed")(x)
    >>> for i in range(2):
    ...     h = block(i)(h)
    >>> model = keras.Model(x, keras.layers.Dense(1, name="head")(h))
    >>> {path.split("/")[0][1:]: f for path, f in lrs.layer_decay(model, 0.5).items()}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'embed': 0.125, 'ln_0': 0.25, 'fc_0': 0.25, 'ln_1': 0.5, 'fc_1': 0.5, 'head': 1.0}
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"Argument `model` must be a keras model. Received: model={model!r}")
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real):
        raise TypeError(f"Argument `decay` must be a number in (0, 1]. Received: decay={decay!r}")
    if not 0 < decay <= 1:
        raise ValueError(f"Argument `decay` must be a number in (0, 1]. Received: decay={decay!r}")
    placed = depths(model) if layers is None else None
    if placed is None:
        if layers is None:
            layers = [layer for layer in sublayers(model) if trainable_kind(layer)]
        depth, top = _depths_of(model, layers)
    else:
        depth, top, _ = placed
    if not depth:
        raise ValueError(
            "Argument `model` must have trainable weights (build it first). Received: "
            f"model={model.name!r} with none"
        )
    result = {}
    for v in trainable_kind(model):
        if id(v) not in depth:
            continue
        key, factor = f"^{re.escape(v.path)}$", float(decay) ** (top - depth[id(v)])
        if result.setdefault(key, factor) != factor:
            raise ValueError(
                f"Argument `model` has two variables of the path {v.path!r} at two depths, "
                "which patterns of `variable.path` cannot tell apart: give the layers of its "
                "blocks unique names (keras' default names are), or pass `lr_multipliers` a "
                "function of the variable."
            )
    return result


def _depths_of(model, layers):
    """``(id(variable) -> depth, top)`` from `layer_decay`'s `layers` (checked)."""
    if not isinstance(layers, (list, tuple)):
        raise TypeError(
            "Argument `layers` must be a list of the model's layers, or of lists of them. "
            f"Received: layers={layers!r}"
        )
    known = {id(layer) for layer in all_layers(model)}
    depth = {}
    for d, group in enumerate(layers):
        for layer in group if isinstance(group, (list, tuple)) else [group]:
            if not isinstance(layer, keras.layers.Layer):
                raise TypeError(
                    "Argument `layers` must hold keras layers, or lists of them. Received: "
                    f"{layer!r}"
                )
            if id(layer) not in known:
                raise ValueError(
                    f"Argument `layers` holds a layer that is not part of the model "
                    f"{model.name!r}. Received: {layer.name!r}"
                )
            for v in trainable_kind(layer):
                depth.setdefault(id(v), d)
    return depth, len(layers) - 1
