"""The depth of each variable of a model for `layer_decay`: its repeated blocks, found in its
layer tree.

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
import warnings


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
