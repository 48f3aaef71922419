"""Tests of kerasgene.models: the builder contract (tests/model_checks.py) for every
registry name, parameter counts derived from the architectures, equivalence with the
authors' layouts (tests/reference_layouts.py) and bad hyperparameters."""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import pytest
import reference_layouts as ref
from model_checks import BuilderCase, check_builder, output_shapes, predict, random_inputs

from kerasgene import models
from kerasgene.errors import ConfigError, KerasgeneError
from kerasgene.models import chromatin

# --------------------------------------------------------------------------------------
# parameter counts derived from the architectures (docs/reference.md), not from Keras
# --------------------------------------------------------------------------------------


def bn(c: int) -> int:
    """BatchNorm: gamma, beta, moving mean, moving variance."""
    return 4 * c


def head(n_in: int, hp: dict) -> int:
    n_out = hp["n_classes"] if hp.get("task") == "classification" else 1
    return n_in * n_out + n_out


def isegnet_params(hp: dict) -> int:
    kl, m, k1, L = hp["kernel_length"], hp["n_tracks"], hp["k1"], hp["seq_len"]
    k2, mf = 2 * k1, hp["merge_filters"]

    def branch(width: int) -> int:  # conv1 (no bias) BN, conv2 BN
        return width * kl * k1 + bn(k1) + (kl * k1 * k2 + k2) + bn(k2)

    merge = (2 * 2 * k2 * mf + mf) + bn(mf) + (mf * 64 + 64) + bn(64)
    # fixed pads (10, 9) and (5, 4), then two poolings of 5
    flat = ((L + 19 - kl + 1 + 9 - kl + 1) // 5 // 5) * 64
    dense = (flat * 256 + 256 + bn(256)) + (256 * 64 + 64 + bn(64)) + (64 * 16 + 16 + bn(16))
    return branch(m) + branch(4) + merge + dense + head(16, hp)


def _deeprage_parts(hp: dict) -> tuple[int, int, int]:
    F, fl, R, U = hp["filters"], hp["filter_length"], hp["n_regulators"], hp["regulator_units"]
    conv = fl * 4 * F + F
    reg = 0 if U is None else R * U + U
    return conv, reg, (R if U is None else U)


def _deeprage_dense(n_in: int, hp: dict) -> int:
    u = hp["units"]
    return (n_in * u + u) + (u * u + u) + head(u, hp)


def deeprage_concat_params(hp: dict) -> int:
    conv, reg, n_y = _deeprage_parts(hp)
    T = (hp["seq_len"] - hp["filter_length"] + 1 - 16) // 14 + 1
    return conv + reg + _deeprage_dense(n_y + T * hp["filters"], hp)


def deeprage_tensor_params(hp: dict) -> int:
    conv, reg, n_y = _deeprage_parts(hp)
    return conv + reg + _deeprage_dense(n_y * hp["filters"], hp)


def deeprage_rnn_params(hp: dict) -> int:
    conv, reg, n_y = _deeprage_parts(hp)
    h, n_in = hp["rnn_units"], n_y + hp["filters"]
    biases = 2 * h if hp["reset_after"] else h
    gru = 3 * (n_in * h + h * h + biases)
    return conv + reg + 2 * gru + _deeprage_dense(2 * h, hp)


def chromatin_cnn_params(hp: dict) -> int:
    c, f = hp["n_channels"], hp["filters"]
    n = hp["window"]
    for _ in range(6):  # conv 5 then pool 2, six times, then the last conv
        n = (n - 4) // 2
    flat = (n - 4) * f
    return (5 * c * f + f) + 6 * (5 * f * f + f) + flat + 1


def chromatin_dnn_params(hp: dict) -> int:
    sizes = [hp["window"] * hp["n_channels"], *hp["units"], 1]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def histone_fcn_params(hp: dict) -> int:
    widths, w = [], hp["base_filters"]
    for i in range(9):
        w = min(2 * w, 512) if i in (1, 3, 5, 7) else w
        widths.append(w)
    total, c = 0, hp["n_channels"]
    for w in widths:
        total += 3 * c * w + w + bn(w)
        c = w
    return total + (c * c + c + bn(c)) + (c + 1)


def deepchrome_params(hp: dict) -> int:
    T = (hp["n_bins"] - 10 + 1) // 5
    return (10 * hp["n_marks"] * 50 + 50) + (T * 50 * 625 + 625) + (625 * 125 + 125) \
        + head(125, {**hp, "task": "classification"})


def linear_params(hp: dict) -> int:
    shapes = hp["inputs"] or {"histone": (100, 5)}
    n = sum(math.prod(s) for s in shapes.values())
    return head(n, hp)


# --------------------------------------------------------------------------------------
# the contract for every registry name
# --------------------------------------------------------------------------------------


def _expression_or_classes(hp):
    if hp.get("task") == "classification":
        return {"class_probabilities": (hp["n_classes"],)}
    return {"expression": (1,)}


def _deeprage_inputs(hp):
    return {"sequence": (hp["seq_len"], 4), "regulators": (hp["n_regulators"],)}


SMALL_DEEPRAGE = dict(seq_len=120, n_regulators=12, filters=8, filter_length=9,
                      regulator_units=16, units=16)

CASES = {
    "isegnet": BuilderCase(
        "isegnet", isegnet_params,
        lambda hp: {"sequence": (hp["seq_len"], 4), "epigenome": (hp["seq_len"], hp["n_tracks"])},
        _expression_or_classes,
        second={"k1": 32},
        heavy={"seq_len": 150, "k1": 4, "n_tracks": 3, "kernel_length": 10, "merge_filters": 8},
    ),
    "deeprage_concat": BuilderCase(
        "deeprage_concat", deeprage_concat_params, _deeprage_inputs, _expression_or_classes,
        second={"regulator_units": None, "task": "classification", "n_classes": 3},
        heavy=SMALL_DEEPRAGE,
    ),
    "deeprage_tensor": BuilderCase(
        "deeprage_tensor", deeprage_tensor_params, _deeprage_inputs, _expression_or_classes,
        second={**SMALL_DEEPRAGE, "regulator_units": None, "task": "classification",
                "n_classes": 5},
        heavy={**SMALL_DEEPRAGE, "regulator_units": None, "task": "classification",
               "n_classes": 5},
    ),
    "deeprage_rnn": BuilderCase(
        "deeprage_rnn", deeprage_rnn_params, _deeprage_inputs, _expression_or_classes,
        second={**SMALL_DEEPRAGE, "rnn_units": 8, "reset_after": True},
        heavy={**SMALL_DEEPRAGE, "rnn_units": 8, "reset_after": True},
    ),
    "chromatin_cnn": BuilderCase(
        "chromatin_cnn", chromatin_cnn_params,
        lambda hp: {"signal": (hp["window"], hp["n_channels"])},
        lambda hp: {hp["target"]: (1,)},
        second={"window": 1000, "n_channels": 2, "target": "DNase"},
    ),
    "chromatin_dnn": BuilderCase(
        "chromatin_dnn", chromatin_dnn_params,
        lambda hp: {"signal": (hp["window"], hp["n_channels"])},
        lambda hp: {hp["target"]: (1,)},
        second={"n_channels": 2, "units": (64, 32, 16, 8), "target": "H3K27ac"},
    ),
    "histone_fcn": BuilderCase(
        "histone_fcn", histone_fcn_params,
        lambda hp: {"histone": (hp["n_bins"], hp["n_channels"])},
        lambda hp: {"expression": (1,)},
        second={"n_bins": 37, "n_channels": 15, "base_filters": 64},
        heavy={"n_channels": 15, "base_filters": 8},
    ),
    "histone_fcn_ensemble": BuilderCase(
        "histone_fcn_ensemble",
        lambda hp: hp["n_models"] * histone_fcn_params(hp),
        lambda hp: {"histone": (hp["n_bins"], hp["n_channels"])},
        lambda hp: {"expression": (1,)},
        second={"n_models": 2, "n_channels": 5, "base_filters": 8},
        heavy={"n_models": 2, "n_channels": 5, "base_filters": 8},
    ),
    "deepchrome": BuilderCase(
        "deepchrome", deepchrome_params,
        lambda hp: {"histone": (hp["n_bins"], hp["n_marks"])},
        lambda hp: {"class_probabilities": (hp["n_classes"],)},
        second={"n_bins": 50, "n_marks": 3, "n_classes": 3},
        classification=lambda hp: True,
    ),
    "linear": BuilderCase(
        "linear", linear_params,
        lambda hp: dict(hp["inputs"] or {"histone": (100, 5)}),
        _expression_or_classes,
        second={"inputs": {"sequence": (50, 4), "epigenome": (50, 7)},
                "task": "classification", "n_classes": 3},
        heavy={"inputs": {"sequence": (50, 4), "epigenome": (50, 7)},
               "task": "classification", "n_classes": 3},
    ),
}


def test_every_registry_name_has_a_case():
    assert sorted(CASES) == sorted(models.names())


@pytest.mark.parametrize("name", list(CASES))
def test_builder_contract(name, tmp_path):
    check_builder(CASES[name], tmp_path)


# --------------------------------------------------------------------------------------
# the published counts and the registry table
# --------------------------------------------------------------------------------------

PUBLISHED = {
    ("isegnet", ()): 2_058_199,
    ("isegnet", (("k1", 32),)): 1_772_247,
    ("deeprage_concat", ()): 9_962_753,
    ("deeprage_tensor", ()): 67_634_433,
    ("chromatin_cnn", ()): 8_385,
    ("deepchrome", ()): 644_177,
}


def test_describe_lists_the_registry_with_the_published_counts():
    rows = {r["name"]: r for r in models.describe()}
    assert list(rows) == models.names()
    for (name, point), count in PUBLISHED.items():
        if not point:
            assert rows[name]["params"] == count, name
    assert rows["isegnet"]["inputs"] == {"sequence": (2500, 4), "epigenome": (2500, 7)}
    assert rows["deeprage_tensor"]["inputs"] == {"sequence": (1000, 4), "regulators": (472,)}
    assert rows["chromatin_cnn"]["outputs"] == {"H3K4me3": (1,)}
    assert rows["deepchrome"]["outputs"] == {"class_probabilities": (2,)}
    assert all(isinstance(r["params"], int) for r in rows.values())


def test_isegnet_k1_32_published_count():
    assert models.build("isegnet", k1=32).count_params() == 1_772_247


@pytest.mark.parametrize("k1,kernel_length,n_tracks", [(16, 50, 7), (128, 100, 1), (64, 20, 6)])
def test_isegnet_grid_counts_match_authors_layout(k1, kernel_length, n_tracks):
    ours = models.build("isegnet", k1=k1, kernel_length=kernel_length, n_tracks=n_tracks)
    theirs = ref.isegnet_reference(k1=k1, kernel_length=kernel_length, n_tracks=n_tracks)
    hp = {**models.hyperparameters("isegnet"), "k1": k1, "kernel_length": kernel_length,
          "n_tracks": n_tracks}
    assert ours.count_params() == theirs.count_params() == isegnet_params(hp)


def test_linear_twelve_parameter_deepchrome_baseline():
    model = models.build("linear", task="classification", reduce="mean")
    assert model.count_params() == 12


# --------------------------------------------------------------------------------------
# same function as the authors' layouts (weights copied across, inference mode)
# --------------------------------------------------------------------------------------


def _probe(model, layer_name):
    """The model cut at ``layer_name`` (e.g. before a final ReLU that may be all 0)."""
    return keras.Model(model.inputs, {"probe": model.get_layer(layer_name).output})


def _assert_equivalent(ours, theirs, convert=None, batch=3, atol=1e-5, probe=None):
    ref.randomize_batchnorm(ours)
    assert ours.count_params() == theirs.count_params()
    n = ref.copy_weights(ours, theirs, convert)
    assert n == sum(1 for layer in ref._walk(theirs) if layer.weights)
    x = random_inputs(ours, batch, seed=5)
    pairs = [(ours, theirs)]
    if probe:
        pairs.append((_probe(ours, probe), _probe(theirs, probe)))
    for a_model, b_model in pairs:
        a, b = predict(a_model, x), predict(b_model, x)
        (key,) = a
        np.testing.assert_allclose(a[key], b[key], atol=atol, rtol=0)
    assert np.abs(a[key]).max() > 1e-3  # not a degenerate all-zero comparison


@pytest.mark.parametrize("point", [
    {},
    {"seq_len": 400, "n_tracks": 3, "k1": 16, "kernel_length": 50, "pool": "max",
     "merge_filters": 20},
])
def test_isegnet_equals_authors_conv2d_layout(point):
    # the output ReLU may zero everything with random weights: compare before it too
    _assert_equivalent(models.build("isegnet", **point), ref.isegnet_reference(**point),
                       batch=2, probe="head_dense")


@pytest.mark.parametrize("variant", ["concat", "tensor", "rnn"])
@pytest.mark.parametrize("regulator_units", [16, None])
def test_deeprage_equals_authors_conv2d_layout(variant, regulator_units):
    point = {**SMALL_DEEPRAGE, "regulator_units": regulator_units}
    if variant == "rnn":
        point["rnn_units"] = 8
    ours = models.build(f"deeprage_{variant}", **point)
    theirs = getattr(ref, f"deeprage_{variant}_reference")(**point)
    _assert_equivalent(ours, theirs, ref.DEEPRAGE_CONVERT)


def test_histone_fcn_equals_channels_first_layout():
    _assert_equivalent(models.build("histone_fcn"), ref.histone_fcn_reference())


def test_chromatin_cnn_matches_appendix_table():
    model = models.build("chromatin_cnn")
    shapes = [layer.output.shape[1] for layer in model.layers
              if isinstance(layer, keras.layers.Conv1D | keras.layers.MaxPooling1D)]
    assert shapes == [2557, 1278, 1274, 637, 633, 316, 312, 156, 152, 76, 72, 36, 32]
    assert shapes == chromatin.cnn_lengths(2561)
    assert model.get_layer("flatten").output.shape[1] == 512
    _assert_equivalent(model, ref.chromatin_cnn_reference())


@pytest.mark.parametrize("name", ["chromatin_cnn", "chromatin_dnn"])
def test_chromatin_binary_head_is_one_linear_score(name):
    """The binary task: the regression network with its output unit renamed
    ``class_score`` (no activation: a hinge margin or a logit), same parameters."""
    point = {"window": 600, "n_channels": 2}
    reg = models.build(name, **point)
    cls = models.build(name, **point, task="classification")
    assert cls.output_names == ["class_score"] and reg.output_names == ["H3K4me3"]
    assert output_shapes(cls) == {"class_score": (1,)}
    assert cls.count_params() == reg.count_params()
    assert cls.get_layer("class_score").get_config()["activation"] == "linear"
    cls.set_weights(reg.get_weights())
    x = random_inputs(reg, 3)
    np.testing.assert_allclose(predict(cls, x)["class_score"], predict(reg, x)["H3K4me3"],
                               atol=1e-6)


def test_deepchrome_equals_torch_layout():
    _assert_equivalent(models.build("deepchrome"), ref.deepchrome_reference())


@pytest.mark.parametrize("shape", [(5, 6), (4, 30, 6), (2, 3, 7, 6), (1, 6)])
def test_fused_batchnorm_equals_keras_batchnorm(shape):
    """Same outputs, gradients and moving statistics as keras.layers.BatchNormalization
    in training mode, and the same inference."""
    import tensorflow as tf

    from kerasgene.models.blocks import FusedBatchNormalization

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2, 3, shape).astype("float32"))
    upstream = tf.constant(rng.normal(size=shape).astype("float32"))
    c = shape[-1]
    weights = [rng.uniform(0.5, 1.5, c), rng.normal(0, 1, c), rng.normal(0, 1, c),
               rng.uniform(0.5, 2, c)]
    results = []
    for layer in (keras.layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(
            momentum=0.9)):
        layer.build(shape)
        layer.set_weights([w.astype("float32") for w in weights])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
        results.append([y, *grads, *layer.non_trainable_variables, layer(x, training=False)])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=2e-5)



def test_broadcast_repeat_vector_equals_repeat_vector_without_int32_transpose():
    """DeepRAGE-RNN's regulator repeat: the same values and gradients as Keras'
    RepeatVector and, traced for any batch size, no int32 Transpose — Keras' repeat has
    one, which oneDNN declines with an ERROR line on stderr."""
    import tensorflow as tf

    from kerasgene.models.blocks import BroadcastRepeatVector

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(5, 4)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(5, 7, 4)).astype("float32"))

    def traced_grad(layer):
        @tf.function(input_signature=[tf.TensorSpec((None, 4))])
        def grad(v):
            with tf.GradientTape() as tape:
                tape.watch(v)
                y = layer(v)
                loss = tf.reduce_sum(y * upstream[: tf.shape(v)[0]])
            return y, tape.gradient(loss, v)
        return grad

    ours, keras_layer = BroadcastRepeatVector(7), keras.layers.RepeatVector(7)
    got, want = traced_grad(ours)(x), traced_grad(keras_layer)(x)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    def int32_transposes(layer) -> int:
        graph = traced_grad(layer).get_concrete_function().graph
        return sum(op.type == "Transpose" and op.get_attr("T") == tf.int32
                   for op in graph.get_operations())

    assert int32_transposes(keras_layer) > 0 and int32_transposes(ours) == 0
    rnn = models.build("deeprage_rnn", seq_len=40, filters=4, filter_length=5,
                       n_regulators=3, units=8, regulator_units=4, pool_size=8, rnn_units=4)
    assert isinstance(rnn.get_layer("regulator_repeat"), BroadcastRepeatVector)


# --------------------------------------------------------------------------------------
# ensemble members are addressable models sharing weights with the ensemble
# --------------------------------------------------------------------------------------


def test_histone_ensemble_members_train_on_their_own():
    ens = models.build("histone_fcn_ensemble", n_models=3, n_channels=5, base_filters=4)
    members = models.ensemble_members(ens)
    assert [m.name for m in members] == ["member_0", "member_1", "member_2"]
    assert ens.get_layer("member_1") is members[1]
    x = random_inputs(ens, 4)
    mean = np.mean([predict(m, x)["expression"] for m in members], axis=0)
    np.testing.assert_allclose(predict(ens, x)["expression"], mean, atol=1e-6)
    before = [w.copy() for w in members[0].get_weights()]
    others = [w.copy() for w in members[1].get_weights()]
    members[0].compile(optimizer="sgd", loss="mse", run_eagerly=True)
    members[0].train_on_batch(x, np.ones((4, 1), "float32"))
    assert any(not np.array_equal(a, b) for a, b in zip(before, members[0].get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(others, members[1].get_weights()))


# --------------------------------------------------------------------------------------
# bad hyperparameters
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,hparams,needle", [
    ("isegnet", {"seq_len": 34}, "seq_len must be an integer >= 35"),
    ("isegnet", {"kernel_length": 100, "seq_len": 150}, ">= 195"),
    ("chromatin_cnn", {"window": 571}, "window must be an integer >= 572"),
    ("deepchrome", {"n_bins": 13}, "n_bins must be an integer >= 14"),
    ("deeprage_concat", {"seq_len": 33}, "seq_len must be an integer >= 34"),
    ("deeprage_tensor", {"seq_len": 18}, ">= 19"),
    ("isegnet", {"task": "classification", "n_classes": 1}, "n_classes must be an integer >= 2"),
    ("deeprage_concat", {"task": "classification", "n_classes": 1}, ">= 2"),
    ("deepchrome", {"n_classes": 1}, ">= 2"),
    ("linear", {"task": "classification", "n_classes": 0}, ">= 2"),
    ("isegnet", {"dropout": -0.1}, "dropout must be a number in [0.0, 1.0)"),
    ("histone_fcn", {"dropout": -0.5}, "[0.0, 1.0)"),
    ("chromatin_cnn", {"dropout": 1.0}, "[0.0, 1.0)"),
    ("deeprage_rnn", {"rnn_recurrent_dropout": -1}, "[0.0, 1.0)"),
    ("isegnet", {"pool": "sum"}, "['avg', 'max']"),
    ("chromatin_cnn", {"n_channels": 3}, "n_channels must be an integer [1, 2]"),
    ("chromatin_cnn", {"target": "1bad name"}, "target must be"),
    ("chromatin_cnn", {"task": "classification", "n_classes": 3},
     "n_classes must be 2 (peak / no peak), got 3"),
    ("chromatin_dnn", {"task": "peaks"}, "task must be one of ['regression', 'classification']"),
    ("histone_fcn_ensemble", {"n_models": 0}, "n_models must be an integer >= 1"),
    ("isegnet", {"k_one": 3}, "unknown hyperparameter"),
])
def test_impossible_hyperparameters_raise_config_error(name, hparams, needle):
    with pytest.raises(ConfigError) as info:
        models.build(name, **hparams)
    assert needle in str(info.value)
    assert name in str(info.value)
    assert isinstance(info.value, KerasgeneError)


def test_unknown_registry_name_lists_the_names():
    with pytest.raises(ConfigError, match="expected one of") as info:
        models.build("isegnet2")
    for name in models.names():
        assert name in str(info.value)
