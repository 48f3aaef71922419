"""Blocks shared by every model builder, and the hyperparameter checks they all use.

Each block is a pure function ``block(x, ..., name=...) -> x`` over Keras tensors of the
functional API; the builders in this package are compositions of them, so a change to
how a block is written (e.g. the order of normalisation, activation and dropout) is made
once. Every block names its layers ``{name}_{role}`` (``conv``, ``bn``, ``act``,
``dropout``, ``pool``, ``pad``) so that downstream code (attribution, filter knockout,
motif extraction) can find a layer by a stable name.

Built-in Keras layers only, plus :class:`FusedBatchNormalization`, :class:`FastDropout`
(drop-in subclasses of ``BatchNormalization`` and ``Dropout`` with a faster TensorFlow
training path) and :class:`BroadcastRepeatVector` (``RepeatVector`` without int32
ops), registered as ``kerasgene>FusedBatchNormalization``, ...: models
serialise with ``get_config`` / ``from_config`` and clone with
:func:`keras.models.clone_model` once ``kerasgene.models`` is imported, and export to a
SavedModel of standard TensorFlow ops. Tensors are channels-last:
``(batch, positions, channels)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import keras
from keras import layers

from kerasgene.errors import ConfigError

#: allowed elements of a block's ``order``
_STEPS = ("norm", "act", "dropout")
#: activation dtypes :class:`FusedBatchNormalization` hands to the fused kernel (its
#: scale, offset and statistics stay float32)
FUSED_DTYPES = ("float32", "bfloat16", "float16")
#: dtype of every layer that produces a model output (mixed precision computes the rest
#: in bfloat16 / float16)
OUTPUT_DTYPE = "float32"


# --------------------------------------------------------------------------------------
# hyperparameter checks (raise ConfigError naming the argument and the allowed range)
# --------------------------------------------------------------------------------------


def check_int(model: str, arg: str, value: Any, lo: int, hi: int | None = None) -> int:
    """Return ``value`` if it is an integer in ``[lo, hi]``; raise :class:`ConfigError`."""
    rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)  # numpy's too
    ok = ok and float(value).is_integer()
    if ok:
        value = int(value)
        ok = value >= lo and (hi is None or value <= hi)
    if not ok:
        raise ConfigError(f"{model}: {arg} must be an integer {rng} (got {value!r})")
    return value


def check_float(
    model: str,
    arg: str,
    value: Any,
    lo: float,
    hi: float | None = None,
    *,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as float if ``lo <= value <= hi`` (``< hi`` if ``hi_open``)."""
    close = ")" if hi_open else "]"
    rng = f"[{lo}, {hi}{close}" if hi is not None else f">= {lo}"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)  # numpy's too
    if ok:
        value = float(value)
        ok = math.isfinite(value) and value >= lo
        if hi is not None:
            ok = ok and (value < hi if hi_open else value <= hi)
    if not ok:
        raise ConfigError(f"{model}: {arg} must be a number in {rng} (got {value!r})")
    return value


def check_rate(model: str, arg: str, value: Any) -> float:
    """A dropout rate: a number in ``[0, 1)``."""
    return check_float(model, arg, value, 0.0, 1.0, hi_open=True)


def check_choice(model: str, arg: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{model}: {arg} must be one of {list(choices)} (got {value!r})")
    return value


def check_name(model: str, arg: str, value: Any) -> str:
    """A layer / signature name: letters, digits, ``_``, ``.``, ``-``; not starting with
    a digit or punctuation (TF Serving signature keys and Keras layer names)."""
    ok = isinstance(value, str) and value != "" and value[0].isalpha()
    ok = ok and all(c.isalnum() or c in "_.-" for c in value)
    if not ok:
        raise ConfigError(
            f"{model}: {arg} must be a non-empty name of letters, digits, '_', '.', '-' "
            f"starting with a letter (got {value!r})"
        )
    return value


def check_task(model: str, task: Any, n_classes: Any) -> tuple[str, int]:
    """Check ``task`` ("regression" | "classification") and ``n_classes`` (>= 2)."""
    check_choice(model, "task", task, ("regression", "classification"))
    n_classes = check_int(model, "n_classes", n_classes, 2)
    return task, n_classes


def conv_out_len(length: int, kernel: int, stride: int = 1, padding: str = "valid") -> int:
    """Length after a convolution / pooling window of ``kernel`` with ``stride``."""
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1 if length >= kernel else 0


# --------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="kerasgene")
class FusedBatchNormalization(layers.BatchNormalization):
    """:class:`keras.layers.BatchNormalization` computed, in training mode, with
    TensorFlow's fused kernel (``FusedBatchNormV3`` and its one-op gradient).

    Same weights, configuration and function as the Keras layer (the moving variance is
    updated with the biased batch variance, as Keras does); Keras 3 computes the batch
    moments and their gradients with separate element-wise ops, which on the large
    ``(batch, 2500, 128)`` activations of iSEGnet costs about a quarter of a training
    step. Under a mixed-precision policy (:data:`FUSED_DTYPES`) the kernel takes the
    bfloat16 / float16 activations as they are, with float32 scale, offset and
    statistics, where the Keras layer casts the activations to float32 and back (about
    a quarter of a mixed-precision iSEGnet step). Falls back to the Keras computation
    in inference mode, for another backend, another dtype, a mask, a non-last axis,
    ``renorm`` or ``synchronized=True``. ``tests/test_models.py`` and
    ``tests/test_mixed_precision.py`` check outputs, gradients and moving statistics
    against the Keras layer.
    """

    def _fusable(self, inputs, training, mask) -> bool:
        return (
            bool(training)
            and mask is None
            and keras.backend.backend() == "tensorflow"
            and not self.synchronized
            and not self.renorm
            and self.axis in (-1, len(inputs.shape) - 1)
            and 2 <= len(inputs.shape) <= 4
            and self.compute_dtype in FUSED_DTYPES
            and keras.backend.standardize_dtype(inputs.dtype) in FUSED_DTYPES
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        inputs = tf.cast(inputs, self.compute_dtype)  # the Keras layer's output dtype
        channels = inputs.shape[-1]
        shape = tf.shape(inputs)
        rank = len(inputs.shape)
        if rank == 2:
            x = tf.reshape(inputs, [-1, 1, 1, channels])
        elif rank == 3:
            x = tf.reshape(inputs, [shape[0], 1, shape[1], channels])
        else:
            x = inputs
        ones = tf.ones([channels], self.variable_dtype)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x,
            self.gamma if self.scale else ones,
            self.beta if self.center else tf.zeros_like(ones),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        n = tf.cast(tf.size(inputs) // channels, variance.dtype)
        variance = variance * (n - 1.0) / tf.maximum(n, 2.0)  # Bessel-corrected → biased
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(
            self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.reshape(y, shape)


@keras.saving.register_keras_serializable(package="kerasgene")
class BroadcastRepeatVector(layers.RepeatVector):
    """:class:`keras.layers.RepeatVector` written as a broadcast: ``(batch, d)`` →
    ``(batch, n, d)``, the same values.

    Keras' layer repeats (``ops.repeat``). Under TensorFlow, once a model is traced again
    for another batch size (a partial last batch), that repeat and its gradient run on
    int32 tensors (a Transpose among them), which oneDNN declines with an ERROR-level
    line on stderr ("oneDNN supports DT_INT32 only on platforms with AVX-512", printed by
    every DeepRAGE-RNN training here); a broadcast and its gradient (a sum over the new
    axis) have no such op.
    """

    def call(self, inputs):
        batch, width = keras.ops.shape(inputs)[0], keras.ops.shape(inputs)[1]
        return keras.ops.broadcast_to(keras.ops.expand_dims(inputs, 1),
                                      (batch, self.n, width))


@keras.saving.register_keras_serializable(package="kerasgene")
class FastDropout(layers.Dropout):
    """:class:`keras.layers.Dropout` drawing 16 random bits per value instead of a
    random float: two values from each 32-bit Philox draw.

    The same function in distribution: a value is kept with probability
    ``1 - round(rate · 2¹⁶) / 2¹⁶`` (within 2⁻¹⁷ of ``1 - rate``) and scaled by
    ``1 / (1 - rate)``; the random stream differs from Keras'. On TensorFlow the mask
    costs half the random draws and no float conversion: dropout was about a sixth of
    an iSEGnet training step, float32 or bfloat16 (Keras' ``stateless_dropout`` draws
    a uniform float per value, then selects). Falls back to the Keras layer for another
    backend, a ``noise_shape``, inference or a rate of 0. Used under mixed precision
    (:func:`dropout_layer`).
    """

    def call(self, inputs, training=False):
        if not (training and 0 < self.rate < 1 and self.noise_shape is None
                and keras.backend.backend() == "tensorflow"):
            return super().call(inputs, training=training)
        import tensorflow as tf

        seed = tf.cast(tf.math.floormod(tf.cast(self.seed_generator.next(), tf.int64),
                                        tf.int32.max - 1), tf.int32)  # as Keras' TF backend
        n = tf.size(inputs)
        bits = tf.random.stateless_uniform([(n + 1) // 2], seed, minval=None, maxval=None,
                                           dtype=tf.uint32)
        bits = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:n]
        threshold = tf.constant(min(round(self.rate * 65536), 65535), tf.uint16)
        keep = tf.cast(tf.reshape(bits >= threshold, tf.shape(inputs)), inputs.dtype)
        return inputs * (keep * tf.cast(1.0 / (1.0 - self.rate), inputs.dtype))


def dropout_layer(rate: float, name: str) -> layers.Layer:
    """The Dropout layer of a block: :class:`FastDropout` under a mixed-precision policy,
    Keras' ``Dropout`` otherwise.

    FastDropout draws another random stream than Keras' layer; float32 models keep
    Keras' so that they train exactly as before it existed (the demo's DeepRAGE-TP
    scored test R² 0.709 with FastDropout against 0.726 without, seed 0 — one draw of
    the noise, on a demo whose bar is 0.9 × 0.801).
    """
    if keras.config.dtype_policy().name == "float32":
        return layers.Dropout(rate, name=name)
    return FastDropout(rate, name=name)


# --------------------------------------------------------------------------------------
# layer blocks
# --------------------------------------------------------------------------------------


def l2_regularizer(l2: float) -> keras.regularizers.Regularizer | None:
    """``keras.regularizers.L2(l2)`` (adds ``l2 * sum(w**2)`` to the loss) or None."""
    return keras.regularizers.L2(l2) if l2 else None


def _activation(x, activation: str | None, name: str, negative_slope: float):
    if activation in (None, "linear"):
        return x
    if activation == "leaky_relu":
        return layers.LeakyReLU(negative_slope=negative_slope, name=name)(x)
    return layers.Activation(activation, name=name)(x)


def _post(
    x,
    *,
    name: str,
    norm: bool,
    activation: str | None,
    dropout: float,
    order: Iterable[str],
    negative_slope: float,
):
    """Apply normalisation, activation and dropout in ``order``."""
    for step in order:
        if step not in _STEPS:
            raise ValueError(f"unknown block step {step!r}; expected one of {_STEPS}")
        if step == "norm" and norm:
            x = FusedBatchNormalization(name=f"{name}_bn")(x)
        elif step == "act":
            x = _activation(x, activation, f"{name}_act", negative_slope)
        elif step == "dropout" and dropout > 0:
            x = dropout_layer(dropout, f"{name}_dropout")(x)
    return x


def conv_block(
    x,
    filters: int,
    kernel_size: int,
    *,
    name: str,
    strides: int = 1,
    padding: str = "valid",
    pad: tuple[int, int] | None = None,
    use_bias: bool = True,
    norm: bool = False,
    activation: str | None = "relu",
    dropout: float = 0.0,
    order: Sequence[str] = ("norm", "act", "dropout"),
    l2: float = 0.0,
    negative_slope: float = 0.3,
    dtype: str | None = None,
):
    """[ZeroPadding1D] → Conv1D → {BatchNorm, activation, Dropout in ``order``}.

    Parameters
    ----------
    x : KerasTensor, shape (batch, positions, channels) (channels-last)
    filters, kernel_size, strides, padding : as :class:`keras.layers.Conv1D`
    pad : (before, after) zeros added on the position axis before a "valid" conv
    use_bias : conv bias (off when a BatchNorm follows and the authors dropped it)
    norm : add a BatchNormalization layer
    activation : Keras activation name, "leaky_relu" or None
    dropout : dropout rate (0 = no layer)
    order : order of "norm", "act", "dropout" after the conv
    l2 : L2 penalty on the kernel
    negative_slope : slope of "leaky_relu"
    dtype : the conv's dtype policy (default: the global one); :data:`OUTPUT_DTYPE` for a
        conv that computes a model output

    Returns
    -------
    KerasTensor, shape (batch, positions', filters)
    """
    if pad is not None and any(pad):
        x = layers.ZeroPadding1D(padding=pad, name=f"{name}_pad")(x)
    x = layers.Conv1D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_regularizer=l2_regularizer(l2),
        dtype=dtype,
        name=f"{name}_conv",
    )(x)
    return _post(
        x,
        name=name,
        norm=norm,
        activation=activation,
        dropout=dropout,
        order=order,
        negative_slope=negative_slope,
    )


def pool1d(x, kind: str, size: int, *, name: str, strides: int | None = None,
           padding: str = "valid"):
    """Average ("avg") or max ("max") pooling over positions; ``name`` is the layer's."""
    cls = {"avg": layers.AveragePooling1D, "max": layers.MaxPooling1D}[kind]
    return cls(pool_size=size, strides=strides or size, padding=padding, name=name)(x)


def dense_block(
    x,
    units: int,
    *,
    name: str,
    use_bias: bool = True,
    norm: bool = False,
    activation: str | None = "relu",
    dropout: float = 0.0,
    order: Sequence[str] = ("norm", "act", "dropout"),
    l2: float = 0.0,
    negative_slope: float = 0.3,
):
    """Dense → {BatchNorm, activation, Dropout in ``order``}; layers ``{name}_dense`` ...

    Parameters
    ----------
    x : KerasTensor, shape (batch, features) (or (batch, ..., features))
    units : output width
    Other arguments as :func:`conv_block`.

    Returns
    -------
    KerasTensor, shape (batch, units)
    """
    x = layers.Dense(
        units, use_bias=use_bias, kernel_regularizer=l2_regularizer(l2), name=f"{name}_dense"
    )(x)
    return _post(
        x,
        name=name,
        norm=norm,
        activation=activation,
        dropout=dropout,
        order=order,
        negative_slope=negative_slope,
    )


def dense_stack(
    x,
    units: Sequence[int],
    *,
    name: str,
    dropout: float | Sequence[float] = 0.0,
    **kwargs,
):
    """Successive :func:`dense_block` layers named ``{name}{i}`` (i from 1).

    Parameters
    ----------
    x : KerasTensor, shape (batch, features)
    units : widths of the layers
    dropout : one rate for all, or one per layer
    **kwargs : passed to :func:`dense_block`

    Returns
    -------
    KerasTensor, shape (batch, units[-1])
    """
    rates = [dropout] * len(units) if isinstance(dropout, int | float) else list(dropout)
    for i, (u, rate) in enumerate(zip(units, rates, strict=True), start=1):
        x = dense_block(x, u, name=f"{name}{i}", dropout=rate, **kwargs)
    return x


def output_head(
    x,
    *,
    task: str,
    output_name: str,
    n_classes: int = 2,
    l2: float = 0.0,
    regression_activation: str | None = None,
    class_activation: str = "softmax",
    name: str = "head",
):
    """The final layer; the layer that produces the output is named ``output_name``.

    Regression: Dense(1) (+ an Activation layer if ``regression_activation``), shape
    (batch, 1). Classification: Dense(n_classes, ``class_activation``), shape
    (batch, n_classes). The returned dict ``{output_name: tensor}`` is meant to be the
    model's ``outputs``, so that ``model.export()`` names the serving signature's output
    after it (a bare tensor would become ``output_0``). The head's layers compute in
    float32 whatever the dtype policy (:data:`OUTPUT_DTYPE`): under mixed precision the
    outputs, the softmax and the loss stay float32.

    Returns
    -------
    dict[str, KerasTensor]
    """
    reg = l2_regularizer(l2)
    if task == "classification":
        y = layers.Dense(n_classes, activation=class_activation, kernel_regularizer=reg,
                         dtype=OUTPUT_DTYPE, name=output_name)(x)
    elif regression_activation in (None, "linear"):
        y = layers.Dense(1, kernel_regularizer=reg, dtype=OUTPUT_DTYPE, name=output_name)(x)
    else:
        y = layers.Dense(1, kernel_regularizer=reg, dtype=OUTPUT_DTYPE, name=f"{name}_dense")(x)
        y = layers.Activation(regression_activation, dtype=OUTPUT_DTYPE, name=output_name)(y)
    return {output_name: y}


#: Output name of a binary score head (:func:`score_head`).
SCORE_OUTPUT = "class_score"


def score_head(x, *, l2: float = 0.0):
    """One linear unit named :data:`SCORE_OUTPUT`: a binary score, class 1 ⇔ score > 0.

    Trained with the hinge loss the score is a margin (labels {0, 1} read as −1 / +1);
    with binary cross-entropy (``from_logits=True``) it is the logit of class 1. Computed
    in float32 (:data:`OUTPUT_DTYPE`) under any dtype policy.

    Returns
    -------
    dict[str, KerasTensor] — ``{"class_score": (batch, 1)}``
    """
    y = layers.Dense(1, kernel_regularizer=l2_regularizer(l2), dtype=OUTPUT_DTYPE,
                     name=SCORE_OUTPUT)(x)
    return {SCORE_OUTPUT: y}


def default_output_name(task: str) -> str:
    """"expression" for regression, "class_probabilities" for classification."""
    return "class_probabilities" if task == "classification" else "expression"


def functional_model(inputs: dict, outputs: dict, name: str) -> keras.Model:
    """``keras.Model`` over named inputs and outputs, both dicts keyed by name.

    Every model, single-input ones included, is called with ``{input_name: array}``
    (a bare array still works for one input, with a Keras warning about the structure),
    so datasets, attribution and serving code need no special case. Outputs are a dict
    so the exported signature keys are the output names (a bare tensor would be
    exported as ``output_0``).

    Raises
    ------
    ValueError
        an output not computed in :data:`OUTPUT_DTYPE` (a builder's head without
        ``dtype=OUTPUT_DTYPE``: under mixed precision it would return bfloat16).
    """
    for key, tensor in outputs.items():
        if keras.backend.standardize_dtype(tensor.dtype) != OUTPUT_DTYPE:
            raise ValueError(f"{name}: output {key!r} is {tensor.dtype}; its layer needs "
                             f"dtype={OUTPUT_DTYPE!r}")
    return keras.Model(inputs=dict(inputs), outputs=dict(outputs), name=name)
