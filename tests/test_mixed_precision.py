"""Mixed precision (``training.mixed_precision``): every registry model built under the
bfloat16 or float16 policy computes the float32 model's function within the precision's
tolerance, eagerly and under XLA, with float32 variables and outputs; the fused
BatchNorm matches Keras' in bfloat16; mixed-precision training lowers the loss; a
mixed-precision run reloads, exports and serves float32.

Tolerance (same weights, random inputs, inference mode): max |Δ| ≤ ``MIXED_RTOL`` × the
largest float32 output (``tests/model_checks.py``), 6 % for bfloat16 and 1 % for float16. bfloat16 keeps 8
significant bits (a rounding error ≤ 2⁻⁹ ≈ 0.2 %), float16 11 bits (≤ 0.05 %); over the
10–30 roundings of these networks, with cancellations, the worst case measured is
histone_fcn at initialisation, whose output (about 5e-3) is a small difference of larger
activations: 4.4 % (bfloat16) and 0.34 % (float16).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_checks import MIXED_RTOL as RTOL
from model_checks import SMALL_HPARAMS, predict, random_inputs, random_targets

from kerasgene import models
from kerasgene.cli import main
from kerasgene.errors import ConfigError
from kerasgene.models.blocks import FastDropout, FusedBatchNormalization, dropout_layer
from kerasgene.train import recipes

POLICY = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def _pair(name: str, precision: str) -> tuple[keras.Model, keras.Model]:
    """The float32 model and the same weights under ``precision``'s policy."""
    keras.utils.set_random_seed(0)
    ref = models.build(name, **SMALL_HPARAMS[name])
    mixed = models.build(name, mixed_precision=precision, **SMALL_HPARAMS[name])
    mixed.set_weights(ref.get_weights())
    return ref, mixed


def _assert_close(ref: dict, got: dict, rtol: float, what: str) -> None:
    assert set(ref) == set(got), what
    for key in ref:
        assert got[key].dtype == np.float32, f"{what}: output {key} is {got[key].dtype}"
        scale = float(np.max(np.abs(ref[key])))
        np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=rtol * scale,
                                   err_msg=f"{what}: output {key!r}")


@pytest.mark.parametrize("precision", list(RTOL))
@pytest.mark.parametrize("name", models.names())
def test_outputs_equal_float32_eager_and_xla(name, precision):
    ref, mixed = _pair(name, precision)
    assert mixed.dtype_policy.name == POLICY[precision]
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in mixed.weights)
    x = random_inputs(ref, 8)
    expected = predict(ref, x)
    _assert_close(expected, predict(mixed, x), RTOL[precision], f"{name} {precision}")
    if precision == "bfloat16":  # the CPU's precision; an XLA compilation costs seconds
        xla = tf.function(lambda inputs: mixed(inputs, training=False), jit_compile=True)
        got = {k: np.asarray(v) for k, v in xla(x).items()}
        _assert_close(expected, got, RTOL[precision], f"{name} {precision} XLA")


def test_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="mixed_precision: expected one of"):
        models.build("linear", mixed_precision="int8")
    with pytest.raises(ConfigError, match=r"training\.mixed_precision"):
        recipes.resolve_training({"mixed_precision": "float64"}, "isegnet", False)
    cfg = recipes.resolve_training({"mixed_precision": "bfloat16"}, "isegnet", False)
    assert cfg["mixed_precision"] == "bfloat16"


@pytest.mark.parametrize("shape", [(5, 6), (4, 30, 6), (2, 3, 7, 6)])
def test_fused_batchnorm_equals_keras_batchnorm_in_bfloat16(shape):
    """bfloat16 activations, float32 scale and statistics: the same outputs and gradients
    as the Keras layer (which computes in float32 and rounds once) within bfloat16's
    rounding, the same moving statistics within float32's."""
    rng = np.random.default_rng(0)
    x = tf.cast(rng.normal(2, 3, shape).astype("float32"), tf.bfloat16)
    upstream = tf.cast(rng.normal(size=shape).astype("float32"), tf.bfloat16)
    c = shape[-1]
    weights = [rng.uniform(0.5, 1.5, c), rng.normal(0, 1, c), rng.normal(0, 1, c),
               rng.uniform(0.5, 2, c)]
    results = []
    for cls in (keras.layers.BatchNormalization, FusedBatchNormalization):
        layer = cls(momentum=0.9, dtype="mixed_bfloat16")
        layer.build(shape)
        layer.set_weights([w.astype("float32") for w in weights])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y * upstream, tf.float32))
        assert y.dtype == tf.bfloat16
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
        results.append(([y, grads[0], layer(x, training=False)],
                        [*grads[1:], *layer.non_trainable_variables]))
    (keras_bf16, keras_f32), (fused_bf16, fused_f32) = results
    for a, b in zip(keras_bf16, fused_bf16, strict=True):
        a, b = (np.asarray(tf.cast(t, tf.float32)) for t in (a, b))
        np.testing.assert_allclose(b, a, rtol=0, atol=2 ** -7 * np.max(np.abs(a)))
    for a, b in zip(keras_f32, fused_f32, strict=True):  # gamma/beta gradients: sums of
        a, b = np.asarray(a), np.asarray(b)              # bfloat16 products
        np.testing.assert_allclose(b, a, rtol=1e-2, atol=1e-2 * np.max(np.abs(a)))


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_fast_dropout_keeps_and_scales_like_keras_dropout(rate):
    """FastDropout's claim: each value kept with probability 1 − rate (to 2⁻¹⁷), kept
    values scaled by 1 / (1 − rate), identity at inference, fresh masks per call; and it
    is the dropout of a mixed-precision block only."""
    x = tf.ones((1000, 1000), tf.bfloat16)
    layer = FastDropout(rate, seed=1)
    first, second = (np.asarray(layer(x, training=True), np.float32) for _ in range(2))
    kept = first != 0
    assert abs(kept.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / kept.size)
    np.testing.assert_allclose(first[kept], 1 / (1 - rate), rtol=2 ** -7)  # bfloat16
    assert (kept != (second != 0)).mean() > rate  # another mask on the next call
    np.testing.assert_array_equal(np.asarray(layer(x, training=False), np.float32), 1.0)
    assert type(dropout_layer(rate, "d")) is keras.layers.Dropout
    with models.dtype_policy("bfloat16"):
        assert type(dropout_layer(rate, "d")) is FastDropout


@pytest.mark.parametrize("precision", list(RTOL))
def test_mixed_training_lowers_the_loss(precision):
    """Optimiser steps on a fixed batch under the paper's recipe (no dropout, so the
    training loss is a function of the weights alone): the loss falls; float16 trains
    through Keras' loss scaling; the variables stay float32."""
    keras.utils.set_random_seed(0)
    model = models.build("isegnet", mixed_precision=precision,
                         **{**SMALL_HPARAMS["isegnet"], "dropout": 0.0})
    cfg = recipes.resolve_training({"learning_rate": 3e-3}, "isegnet", False)
    recipes.compile_model(model, cfg)
    model.run_eagerly = True  # a few steps do not repay tracing
    if precision == "float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = random_inputs(model, 16)
    y = np.abs(random_targets(model, 16, classification=False))
    losses = [float(model.train_on_batch(x, y)[0]) for _ in range(8)]  # before each step
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0], losses
    assert all(keras.backend.standardize_dtype(v.dtype) == "float32" for v in model.weights)


@pytest.mark.slow  # a run, an export and a server
def test_mixed_precision_run_reloads_exports_and_serves_float32(small_sim, tmp_path):
    from pathlib import Path

    from test_serving import _available, start_server, stop_server, wait_for

    from kerasgene.serving import Client

    run = tmp_path / "run"
    config = Path(__file__).parents[1] / "configs" / "deepchrome.yaml"
    overrides = [f"data_dir={small_sim[0]}", f"run_dir={run}", "training.epochs=1",
                 "training.verbose=0", "baselines=[]", "training.mixed_precision=bfloat16"]
    assert main(["train", "--config", str(config), *overrides]) == 0
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] >= 0.0
    model = models.load_model(run / "model.keras")
    assert model.get_layer("conv1_conv").dtype_policy.name == "mixed_bfloat16"
    x = random_inputs(model, 5, seed=4)
    expected = predict(model, x)
    assert expected["class_probabilities"].dtype == np.float32
    base = tmp_path / "models"
    assert main(["export", "--run", str(run), "--base-dir", str(base), "--name", "dc"]) == 0
    sig = tf.saved_model.load(str(base / "dc" / "1")).signatures["serving_default"]
    assert {k: v.dtype for k, v in sig.structured_input_signature[1].items()} == {
        "histone": tf.float32}
    assert {k: v.dtype for k, v in sig.structured_outputs.items()} == {
        "class_probabilities": tf.float32}
    proc, port, log = start_server(["--model-base-path", str(base)], tmp_path)
    try:
        with Client(f"127.0.0.1:{port}", "dc", timeout=60) as client:
            wait_for(lambda: _available(client), 120, "model dc to load", step=0.2)
            served = client.predict(x)
    finally:
        assert stop_server(proc, log) == 0, log.read_text()
    assert served["class_probabilities"].dtype == np.float32
    # the served graph fuses ops (the conv's bias and ReLU) and so rounds to bfloat16 at
    # other points than the eager model: equal within bfloat16's precision (2⁻⁸)
    np.testing.assert_allclose(served["class_probabilities"], expected["class_probabilities"],
                               rtol=0, atol=2 ** -8)


@keras.saving.register_keras_serializable(package="kerasgene_tests")
class _WrongInLowPrecision(keras.layers.Conv1D):
    """A convolution whose low-precision kernel is wrong (as oneDNN's AMX bfloat16 kernel
    is for some shapes, :mod:`kerasgene.models.kernel_checks`): zeros outside float32."""

    def call(self, inputs):
        out = super().call(inputs)
        return out if self.compute_dtype == "float32" else keras.ops.zeros_like(out)


def _with_wrong_conv(policy: str) -> keras.Model:
    with models.dtype_policy(None if policy == "float32" else "bfloat16"):
        x = keras.Input((30, 8), name="sequence")
        y = _WrongInLowPrecision(16, 5, name="wrong_conv")(x)
        y = keras.layers.Conv1D(16, 5, name="right_conv")(y)
        y = keras.layers.Flatten()(y)
        y = keras.layers.Dense(1, dtype="float32", name="expression")(y)
    return keras.Model(x, y)


def test_a_wrong_low_precision_convolution_computes_in_float32(tmp_path, caplog):
    """A convolution whose bfloat16 result is off is switched to float32 with a warning
    naming it, on this machine's kernels or not; the right one stays bfloat16, the output
    matches float32; a saved model with such a layer is checked again on loading."""
    from kerasgene.models import kernel_checks

    keras.utils.set_random_seed(0)
    ref, mixed = _with_wrong_conv("float32"), _with_wrong_conv("bfloat16")
    mixed.set_weights(ref.get_weights())
    x = np.random.default_rng(0).normal(size=(4, 30, 8)).astype("float32")
    assert np.abs(np.asarray(mixed(x))).max() == 0  # the wrong kernel, unchecked
    with caplog.at_level("WARNING", logger="kerasgene"):
        assert kernel_checks.float32_where_wrong(mixed, "toy") == ["wrong_conv"]
    assert "toy:" in caplog.text and "'wrong_conv' (off by 100%)" in caplog.text
    assert mixed.get_layer("wrong_conv").compute_dtype == "float32"
    assert mixed.get_layer("right_conv").compute_dtype == "bfloat16"
    want = np.asarray(ref(x))
    np.testing.assert_allclose(np.asarray(mixed(x)), want, atol=RTOL["bfloat16"] * np.abs(want).max())
    assert kernel_checks.float32_where_wrong(mixed, "toy") == []  # float32 layers not checked

    unchecked = _with_wrong_conv("bfloat16")  # saved as trained elsewhere, unchecked
    unchecked.save(tmp_path / "model.keras")
    loaded = models.load_model(tmp_path / "model.keras")
    assert loaded.get_layer("wrong_conv").compute_dtype == "float32"
    assert loaded.get_layer("right_conv").compute_dtype == "bfloat16"
