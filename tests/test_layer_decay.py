"""`layer_decay` on transformer models: the rule of BEiT, MAE and timm (issue 21 part 1).

With L blocks, the embeddings are at depth 0, block i (from 0) at depth i + 1, and everything
after the last block (final norm, pooler, head) at the top, L + 1; a variable at depth d gets
decay**(L + 1 - d). Each test writes the rule out from the variable paths of the model (the
names keras-hub gives its layers), independently of how `layer_decay` finds the blocks, and
checks every trainable variable. keras-hub models are built from small configs: no download.
Then a short fine-tuning fit applies the factors: one plain SGD update moves each weight by
lr * factor * gradient, and the gradient is the one a twin without multipliers moves by.
"""

import re
import warnings

import keras
import numpy as np
import pytest

import keras_lrsched as lrs

DECAY = 0.65  # MAE's ViT-B fine-tuning


def hub():
    return pytest.importorskip(
        "keras_hub", reason="keras-hub is a test tool, installed by scripts/test.sh (--no-deps)"
    )


def factor(rules, path):
    """What `lr_multipliers` gives the variable: the first pattern searched in its path."""
    return next((f for pattern, f in rules.items() if re.search(pattern, path)), 1.0)


def check_every_variable(model, rules, depth_of, blocks):
    """Each trainable variable has an entry, and its factor is decay**(L + 1 - depth)."""
    paths = [v.path for v in model.trainable_variables]
    assert len(rules) == len(paths) == len(set(paths))
    depths = {}
    for path in paths:
        d = depth_of(path)
        depths.setdefault(d, []).append(path)
        assert factor(rules, path) == pytest.approx(DECAY ** (blocks + 1 - d)), path
    assert sorted(depths) == list(range(blocks + 2))  # every depth has variables
    return depths


# ---------------------------------------------------------------------- the models


def bert(layers=3):
    keras.utils.set_random_seed(0)
    return hub().models.BertBackbone(
        vocabulary_size=40, num_layers=layers, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=8, dropout=0.0,
    )


def vit(layers=3):
    keras.utils.set_random_seed(0)
    return hub().models.ViTBackbone(
        image_shape=(8, 8, 3), patch_size=4, num_layers=layers, num_heads=2, hidden_dim=8,
        mlp_dim=16,
    )


def gemma(layers=2):
    keras.utils.set_random_seed(0)
    return hub().models.GemmaBackbone(
        vocabulary_size=40, num_layers=layers, num_query_heads=2, num_key_value_heads=1,
        hidden_dim=8, intermediate_dim=16, head_dim=4,
    )


def bert_depth(blocks):
    embeddings = {"token_embedding", "position_embedding", "segment_embedding",
                  "embeddings_layer_norm"}

    def depth_of(path):
        first = path.split("/")[0]
        if first in embeddings:
            return 0
        block = re.fullmatch(r"transformer_layer_(\d+)", first)
        if block:
            return int(block.group(1)) + 1
        assert first in {"pooled_dense", "logits"}, path
        return blocks + 1

    return depth_of


def vit_depth(blocks):
    def depth_of(path):
        if path.startswith("vit_patching_and_embedding/"):  # class token, patches, positions
            return 0
        block = re.match(r"vit_encoder/transformer_block_(\d+)/", path)
        if block:
            return int(block.group(1))  # keras-hub counts them from 1
        assert path.startswith(("vit_encoder/ln/", "predictions/")), path
        return blocks + 1

    return depth_of


def gemma_depth(blocks):
    def depth_of(path):
        if path.startswith("token_embedding/"):  # also the LM head (tied)
            return 0
        block = re.match(r"decoder_block_(\d+)/", path)
        if block:
            return int(block.group(1)) + 1
        assert path.startswith("final_normalization/"), path
        return blocks + 1

    return depth_of


def bert_classifier():
    return hub().models.BertTextClassifier(backbone=bert(), num_classes=2, preprocessor=None,
                                           dropout=0.0)


def vit_classifier():
    return hub().models.ViTImageClassifier(backbone=vit(), num_classes=2, preprocessor=None)


def gemma_lm():
    return hub().models.GemmaCausalLM(backbone=gemma(), preprocessor=None)


class Block(keras.layers.Layer):
    """A pre-norm residual MLP block, subclassed: its sublayers are made in __init__."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.norm = keras.layers.LayerNormalization()
        self.fc = keras.layers.Dense(8)

    def call(self, x):
        return x + self.fc(self.norm(x))


def nested_block(i):
    """The same block as a small Functional model, as `def block(): return keras.Model(...)`."""
    x = keras.Input((6, 8))
    h = keras.layers.LayerNormalization(name=f"block{i}_norm")(x)
    h = keras.layers.Dense(16, activation="relu", name=f"block{i}_fc1")(h)
    h = keras.layers.Dense(8, name=f"block{i}_fc2")(h)
    return keras.Model(x, keras.layers.Add()([x, h]), name=f"block{i}")


def functional(blocks=3, block=nested_block, between=None):
    """Embedding and its norm, `blocks` blocks, final norm, pooling and head, by hand."""
    keras.utils.set_random_seed(0)
    tokens = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(40, 8, name="embed")(tokens)
    h = keras.layers.LayerNormalization(name="embed_norm")(h)
    for i in range(blocks):
        h = block(i)(h)
        if between is not None and i == 0:
            h = between(h)
    h = keras.layers.LayerNormalization(name="final_norm")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(tokens, keras.layers.Dense(2, name="head")(h), name="by_hand")


def functional_depth(blocks):
    def depth_of(path):
        first = path.split("/")[0]
        if first in ("embed", "embed_norm"):
            return 0
        block = re.fullmatch(r"block(\d+)_\w+|blk_(\d+)", first)
        if block:
            return int(block.group(1) or block.group(2)) + 1
        assert first in ("final_norm", "head"), path
        return blocks + 1

    return depth_of


MODELS = {  # name: (make, depth rule, blocks)
    "BertBackbone": (bert, bert_depth, 3),
    "ViTBackbone": (vit, vit_depth, 3),
    "GemmaBackbone": (gemma, gemma_depth, 2),
    "BertTextClassifier": (bert_classifier, bert_depth, 3),
    "ViTImageClassifier": (vit_classifier, vit_depth, 3),
    "GemmaCausalLM": (gemma_lm, gemma_depth, 2),
    "Functional of nested models": (functional, functional_depth, 3),
    "Functional of block layers": (lambda: functional(block=lambda i: Block(name=f"blk_{i}")),
                                   functional_depth, 3),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_transformers_get_the_beit_mae_depths(name):
    make, rule, blocks = MODELS[name]
    model = make()
    rules = lrs.layer_decay(model, DECAY)
    check_every_variable(model, rules, rule(blocks), blocks)


def test_a_bert_of_one_more_block_shifts_every_depth():
    rules = lrs.layer_decay(bert(layers=4), DECAY)
    assert rules["^token_embedding/embeddings$"] == pytest.approx(DECAY**5)
    assert rules["^transformer_layer_0/feedforward_output_dense/kernel$"] == pytest.approx(
        DECAY**4)
    assert rules["^transformer_layer_3/feedforward_output_dense/kernel$"] == pytest.approx(DECAY)
    assert rules["^pooled_dense/kernel$"] == 1.0


def test_a_frozen_backbone_keeps_its_depths():
    """Gradual unfreezing: the rules made while the backbone is frozen are those of the
    unfrozen model, so that they hold when it is unfrozen."""
    model = bert_classifier()
    unfrozen = lrs.layer_decay(model, DECAY)
    model.backbone.trainable = False
    assert lrs.layer_decay(model, DECAY) == unfrozen


# ---------------------------------------------------------------------- a fine-tuning fit


def inputs(name, n=4):
    rng = np.random.default_rng(0)
    if name.startswith("Bert"):
        x = {"token_ids": rng.integers(0, 40, (n, 8)).astype("int32"),
             "segment_ids": rng.integers(0, 2, (n, 8)).astype("int32"),
             "padding_mask": np.ones((n, 8), "int32")}
        return x, rng.integers(0, 2, (n,)).astype("int32")
    if name.startswith("ViT"):
        return rng.normal(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 2, (n,))
    if name.startswith("Functional"):
        return rng.integers(0, 40, (n, 6)).astype("int32"), rng.integers(0, 2, (n,))
    tokens = rng.integers(0, 40, (n, 8)).astype("int32")
    return {"token_ids": tokens, "padding_mask": np.ones((n, 8), "int32")}, tokens


def one_update(name, update=None):
    """A fresh model's weights, and its weights after one SGD update of lr 1: plain keras, or
    with the callback in `update` mode applying `layer_decay(model, DECAY)`."""
    model = MODELS[name][0]()
    model.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callbacks = [] if update is None else [lrs.LearningRateScheduler(
        lrs.Constant(1.0), update=update, lr_multipliers=lrs.layer_decay(model, DECAY))]
    before = [(v.path, np.array(v)) for v in model.trainable_variables]
    x, y = inputs(name)
    model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
    return before, [np.array(v) for v in model.trainable_variables]


@pytest.mark.parametrize("name, update", [("BertTextClassifier", "epoch"),
                                          ("ViTImageClassifier", "step"),
                                          ("GemmaCausalLM", "step"),
                                          ("Functional of nested models", "epoch"),
                                          ("Functional of block layers", "step")])
def test_a_fine_tuning_update_moves_each_weight_by_its_factor(name, update):
    _, rule, blocks = MODELS[name]
    depth_of = rule(blocks)
    start, plain = one_update(name)
    before, after = one_update(name, update)
    moved = set()
    for (path, w0), (_, w0_plain), w1, w1_plain in zip(before, start, after, plain):
        np.testing.assert_array_equal(w0, w0_plain)  # the twins start alike
        step, plain_step = w1 - w0, w1_plain - w0
        want = DECAY ** (blocks + 1 - depth_of(path))
        scale = max(1.0, float(np.abs(w0).max()))
        np.testing.assert_allclose(step, want * plain_step, rtol=2e-3, atol=1e-6 * scale,
                                   err_msg=path)
        if np.abs(plain_step).max() > 1e-4:
            moved.add(depth_of(path))
    assert moved == set(range(blocks + 2))  # no depth passes for want of a gradient


# ---------------------------------------------------------------------- edges


def test_a_dense_stack_keeps_one_depth_per_layer():
    """No layer made of layers repeats: ELECTRA's rule, each layer its own depth."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
                              keras.layers.LayerNormalization(name="n"),
                              keras.layers.Dense(2, name="b"), keras.layers.Dense(1, name="c")])
    rules = lrs.layer_decay(model, 0.5)
    assert [factor(rules, v.path) for v in model.trainable_variables] == [
        0.125, 0.125, 0.25, 0.25, 0.5, 0.5, 1.0, 1.0]


def test_a_layer_between_blocks_gets_the_depth_of_the_block_before_it():
    model = functional(between=keras.layers.Dense(8, name="between"))
    with pytest.warns(UserWarning, match=r"\['between'\].*depth of the block before it"):
        rules = lrs.layer_decay(model, 0.5)
    assert factor(rules, "between/kernel") == factor(rules, "block0_fc1/kernel") == 0.5**3


def test_blocks_whose_layers_share_names_are_refused():
    """Layers built before their block model is made get paths without the block's name: with
    the same names in every block, patterns of the path cannot tell the blocks apart."""
    def same_names(i):
        x = keras.Input((6, 8))
        return keras.Model(x, keras.layers.Dense(8, name="fc")(x), name=f"block{i}")

    with pytest.raises(ValueError, match=r"two variables of the path 'fc/kernel'"):
        lrs.layer_decay(functional(block=same_names), 0.5)


def test_layers_by_hand_give_timms_vit_grouping():
    """timm puts a ViT's final norm with the last block; `layers=` says so."""
    model = vit()
    encoder = model.get_layer("vit_encoder")  # a plain layer: its blocks are attributes
    blocks = [layer for layer in encoder._layers if layer.name.startswith("transformer_block_")]
    final_norm = next(layer for layer in encoder._layers if layer.name == "ln")
    rules = lrs.layer_decay(model, DECAY, layers=[
        model.get_layer("vit_patching_and_embedding"), *blocks[:-1], [blocks[-1], final_norm]])
    assert factor(rules, "vit_encoder/ln/gamma") == factor(
        rules, "vit_encoder/transformer_block_3/mha/query/kernel") == 1.0
    assert factor(rules, "vit_patching_and_embedding/class_token") == pytest.approx(DECAY**3)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model": "bert"}, TypeError, r"`model`.*Received: model='bert'"),
    ({"decay": "0.5"}, TypeError, r"`decay`.*Received: decay='0.5'"),
    ({"decay": True}, TypeError, r"`decay`.*Received: decay=True"),
    ({"decay": 1.5}, ValueError, r"`decay` must be a number in \(0, 1\]. Received: decay=1.5"),
    ({"decay": float("nan")}, ValueError, r"Received: decay=nan"),
    ({"layers": "embed"}, TypeError, r"`layers`.*Received: layers='embed'"),
    ({"layers": [["embed"]]}, TypeError, r"`layers` must hold keras layers"),
    ({"layers": [keras.layers.Dense(2, name="stranger")]}, ValueError,
     r"`layers` holds a layer that is not part of the model 'by_hand'. Received: 'stranger'"),
])
def test_bad_arguments_name_themselves(kwargs, error, match):
    args = {"model": functional(blocks=2), "decay": 0.5, **kwargs}
    with pytest.raises(error, match=match):
        lrs.layer_decay(args.pop("model"), args.pop("decay"), **args)


def test_an_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match=r"`model` must have trainable weights \(build it"):
        lrs.layer_decay(keras.Sequential([keras.layers.Dense(2)]), 0.5)
