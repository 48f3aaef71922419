"""DeepRAGE (DeepRegret): expression change of a (gene, condition) pair from the gene's
promoter sequence and the condition's regulator states.

Three ways of combining the two inputs, each an uncompiled functional model:
:func:`deeprage_concat` (DeepRAGE-C), :func:`deeprage_tensor` (DeepRAGE-TP, outer
product) and :func:`deeprage_rnn` (concatenation per position + bidirectional GRU).

Fastest formulation: the authors' code (boxiangliu/DeepRegret, Keras 1) convolves a
``(4, 1000, 1)`` image with a ``(4, 19)`` Conv2D kernel and applies the ReLU before
max-pooling. Here the sequence is ``(1000, 4)`` channels-last with a width-19 Conv1D,
and the ReLU is applied after pooling (max-pooling and ReLU commute, and the ReLU then
touches 14–100× fewer values). Same parameters, same function; the weight layouts
differ only by a transpose (``tests/reference_layouts.py``).

The first convolution is the layer ``"sequence_conv"`` (``Conv1D``, kernel
``(filter_length, 4, filters)``) in all three models: motif extraction and filter
knockout use it.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasgene.models import blocks


def _check_common(model, *, seq_len, n_regulators, filters, filter_length,
                  regulator_units, units, dropout, task, n_classes, class_activation,
                  min_len):
    """Check the hyperparameters the three variants share; returns them normalised."""
    filter_length = blocks.check_int(model, "filter_length", filter_length, 1)
    seq_len = blocks.check_int(model, "seq_len", seq_len, min_len(filter_length))
    out = dict(
        seq_len=seq_len,
        n_regulators=blocks.check_int(model, "n_regulators", n_regulators, 1),
        filters=blocks.check_int(model, "filters", filters, 1),
        filter_length=filter_length,
        regulator_units=(None if regulator_units is None else
                         blocks.check_int(model, "regulator_units", regulator_units, 1)),
        units=blocks.check_int(model, "units", units, 1),
        dropout=blocks.check_rate(model, "dropout", dropout),
    )
    out["task"], out["n_classes"] = blocks.check_task(model, task, n_classes)
    blocks.check_choice(model, "class_activation", class_activation, ("softmax", "sigmoid"))
    return out


def _inputs(seq_len, n_regulators):
    return (keras.Input((seq_len, 4), name="sequence"),
            keras.Input((n_regulators,), name="regulators"))


def _regulator_branch(regulators, regulator_units):
    """Dense(regulator_units) ReLU (paper) or the raw regulator values (code)."""
    if regulator_units is None:
        return regulators
    return blocks.dense_block(regulators, regulator_units, name="regulator", activation="relu")


def _sequence_conv(sequence, filters, filter_length):
    # no activation here: the ReLU follows the pooling (it commutes with max)
    return blocks.conv_block(sequence, filters, filter_length, name="sequence",
                             activation=None)


def _head(x, *, units, dropout, task, n_classes, class_activation):
    """Dense(units) ReLU Dropout ×2 → output (shared by the three variants)."""
    x = blocks.dense_stack(x, (units, units), name="dense", dropout=dropout,
                           activation="relu")
    return blocks.output_head(x, task=task, n_classes=n_classes,
                              output_name=blocks.default_output_name(task),
                              class_activation=class_activation)


_DOC_IO = """
    Inputs / outputs
    ----------------
    "sequence" : (seq_len, 4) one-hot promoter (1000 bp upstream of the TSS)
    "regulators" : (n_regulators,) regulator states of the condition (−1, 0, +1)
    "expression" : (1,) log-fold change (regression) |
    "class_probabilities" : (n_classes,) down / baseline / up (classification)
"""


def deeprage_concat(
    seq_len: int = 1000,
    n_regulators: int = 472,
    filters: int = 256,
    filter_length: int = 19,
    regulator_units: int | None = 512,
    task: str = "regression",
    n_classes: int = 3,
    *,
    pool_size: int = 16,
    pool_stride: int = 14,
    units: int = 512,
    dropout: float = 0.5,
    class_activation: str = "softmax",
    name: str = "deeprage_concat",
) -> keras.Model:
    """DeepRAGE-C: concatenation of sequence features and regulator embedding.

    Architecture::

        sequence (L, 4) → Conv1D(filters, filter_length, valid) → MaxPool(16, stride 14)
                        → ReLU → Flatten (70 × 256 at the defaults)
        regulators (R,) → Dense(regulator_units) ReLU            (or raw if None)
        concat [regulators, sequence] → Dense 512 ReLU Dropout → Dense 512 ReLU Dropout
        → Dense 1 ("expression") | Dense n_classes softmax ("class_probabilities")

    count_params = 9,962,753 at the defaults (regression).

    Parameters
    ----------
    seq_len : promoter length L (≥ filter_length + pool_size − 1)
    n_regulators : R, regulators per condition
    filters, filter_length : first-layer convolution
    regulator_units : width of the regulator Dense (512, paper and code); None feeds
        the raw regulator values to the concatenation
    task : "regression" or "classification"
    n_classes : classes of the classification head (3 = down / baseline / up; ≥ 2)
    pool_size, pool_stride : max-pooling window and stride (16, 14)
    units : width of the two hidden Dense layers
    dropout : rate after each hidden Dense
    class_activation : "softmax" (exclusive classes) or "sigmoid" (the code's)
    name : model name
    {io}
    Follows the authors' code rather than the paper
    -----------------------------------------------
    - regulators are concatenated before the sequence features (weight order only);
    - the code's classification head used sigmoid; softmax is the default here.

    Raises
    ------
    ConfigError
        impossible hyperparameters (``seq_len`` shorter than the receptive field,
        ``n_classes < 2``, a dropout outside [0, 1), ...).
    """
    m = "deeprage_concat"
    pool_size = blocks.check_int(m, "pool_size", pool_size, 1)
    pool_stride = blocks.check_int(m, "pool_stride", pool_stride, 1)
    hp = _check_common(m, seq_len=seq_len, n_regulators=n_regulators, filters=filters,
                       filter_length=filter_length, regulator_units=regulator_units,
                       units=units, dropout=dropout, task=task, n_classes=n_classes,
                       class_activation=class_activation,
                       min_len=lambda fl: fl + pool_size - 1)
    sequence, regulators = _inputs(hp["seq_len"], hp["n_regulators"])
    x = _sequence_conv(sequence, hp["filters"], hp["filter_length"])
    x = blocks.pool1d(x, "max", pool_size, strides=pool_stride, name="sequence_pool")
    x = layers.Activation("relu", name="sequence_act")(x)
    x = layers.Flatten(name="sequence_flatten")(x)
    y = _regulator_branch(regulators, hp["regulator_units"])
    z = layers.Concatenate(name="concat")([y, x])
    out = _head(z, units=hp["units"], dropout=hp["dropout"], task=hp["task"],
                n_classes=hp["n_classes"], class_activation=class_activation)
    return blocks.functional_model({"sequence": sequence, "regulators": regulators}, out, name)


def deeprage_tensor(
    seq_len: int = 1000,
    n_regulators: int = 472,
    filters: int = 256,
    filter_length: int = 19,
    regulator_units: int | None = 512,
    task: str = "regression",
    n_classes: int = 3,
    *,
    units: int = 512,
    dropout: float = 0.5,
    class_activation: str = "softmax",
    name: str = "deeprage_tensor",
) -> keras.Model:
    """DeepRAGE-TP: outer (tensor) product of regulator embedding and sequence features.

    Architecture::

        sequence (L, 4) → Conv1D(filters, filter_length) → global max → ReLU → x (F,)
        regulators (R,) → Dense(regulator_units) ReLU → y (U,)   (or raw: U = R)
        Z = y ⊗ x (U × F) → Flatten → Dense 512 ReLU Dropout → Dense 512 ReLU Dropout
        → Dense 1 ("expression") | Dense n_classes softmax ("class_probabilities")

    count_params = 67,634,433 at the defaults (regression); 131,072 × 512 of them are
    the first Dense after the product.

    Parameters
    ----------
    As :func:`deeprage_concat` (no pooling window: the pooling is global).
    {io}
    Follows the authors' code rather than the paper
    -----------------------------------------------
    - the product is regulator-major (``Z[i, j] = y_i · x_j``, the code's
      ``Merge(mode=lambda x: x[0] * x[1])`` of a ``(R, 1)`` and a ``(1, F)`` tensor);
      the paper writes ``x ⊗ y`` (the same function up to a permutation of the Dense
      weights);
    - the code fed the raw 472 regulator values (``regulator_units=None``); the paper's
      512-unit embedding is the default;
    - Dense 512 layers with ReLU and dropout 0.5 as in the code's concatenation model
      (the paper does not list them for TP).

    Raises
    ------
    ConfigError
        impossible hyperparameters (``seq_len < filter_length``, ``n_classes < 2``, ...).
    """
    m = "deeprage_tensor"
    hp = _check_common(m, seq_len=seq_len, n_regulators=n_regulators, filters=filters,
                       filter_length=filter_length, regulator_units=regulator_units,
                       units=units, dropout=dropout, task=task, n_classes=n_classes,
                       class_activation=class_activation, min_len=lambda fl: fl)
    sequence, regulators = _inputs(hp["seq_len"], hp["n_regulators"])
    x = _sequence_conv(sequence, hp["filters"], hp["filter_length"])
    x = layers.GlobalMaxPooling1D(name="sequence_pool")(x)
    x = layers.Activation("relu", name="sequence_act")(x)
    y = _regulator_branch(regulators, hp["regulator_units"])
    n_y = hp["n_regulators"] if hp["regulator_units"] is None else hp["regulator_units"]
    # outer product as a batched (U, 1) @ (1, F) matmul: built-in layers only
    y = layers.Reshape((n_y, 1), name="product_regulators")(y)
    x = layers.Reshape((1, hp["filters"]), name="product_sequence")(x)
    z = layers.Dot(axes=(2, 1), name="product")([y, x])
    z = layers.Flatten(name="product_flatten")(z)
    out = _head(z, units=hp["units"], dropout=hp["dropout"], task=hp["task"],
                n_classes=hp["n_classes"], class_activation=class_activation)
    return blocks.functional_model({"sequence": sequence, "regulators": regulators}, out, name)


def deeprage_rnn(
    seq_len: int = 1000,
    n_regulators: int = 472,
    filters: int = 256,
    filter_length: int = 19,
    regulator_units: int | None = 512,
    task: str = "regression",
    n_classes: int = 3,
    *,
    pool_size: int = 100,
    rnn_units: int = 512,
    rnn_dropout: float = 0.5,
    rnn_recurrent_dropout: float = 0.5,
    reset_after: bool = False,
    units: int = 512,
    dropout: float = 0.5,
    class_activation: str = "softmax",
    name: str = "deeprage_rnn",
) -> keras.Model:
    """DeepRAGE concatenation-RNN: regulators repeated along the pooled sequence, a
    bidirectional GRU over the positions.

    Architecture::

        sequence (L, 4) → Conv1D(filters, filter_length) → MaxPool(100, 'same') → ReLU
                        → (T, F), T = ceil((L − filter_length + 1) / 100) = 10
        regulators (R,) → Dense(regulator_units) ReLU (or raw) → repeated T times
        concat per position [regulators, sequence] → Bidirectional GRU(rnn_units,
        dropout, recurrent dropout) → Dense 512 ReLU Dropout → Dense 512 ReLU Dropout
        → Dense 1 ("expression") | Dense n_classes softmax ("class_probabilities")

    count_params = 4,985,089 at the defaults (regression, ``reset_after=False``).

    Parameters
    ----------
    As :func:`deeprage_concat`, plus
    pool_size : max-pooling window ('same' padding, stride = window)
    rnn_units : GRU units per direction
    rnn_dropout, rnn_recurrent_dropout : GRU input / recurrent dropout (code: 0.5, 0.5)
    reset_after : GRU variant; False = the Keras 1 GRU of the code (one bias per gate);
        True = Keras 3's default (cuDNN-compatible on GPU when the recurrent dropout
        is 0; 3 × 2 × rnn_units more parameters)
    {io}
    Follows the authors' code rather than the paper
    -----------------------------------------------
    - ReLU after the pooling, GRU with input and recurrent dropout 0.5, Keras 1 GRU
      (``reset_after=False``);
    - regulators first in the per-position concatenation;
    - the code repeated the raw regulators (``regulator_units=None``); the paper's
      512-unit embedding is the default, as for the other two variants.

    Raises
    ------
    ConfigError
        impossible hyperparameters (``seq_len < filter_length``, ``n_classes < 2``, ...).
    """
    m = "deeprage_rnn"
    pool_size = blocks.check_int(m, "pool_size", pool_size, 1)
    rnn_units = blocks.check_int(m, "rnn_units", rnn_units, 1)
    rnn_dropout = blocks.check_rate(m, "rnn_dropout", rnn_dropout)
    rnn_recurrent_dropout = blocks.check_rate(m, "rnn_recurrent_dropout",
                                              rnn_recurrent_dropout)
    blocks.check_choice(m, "reset_after", reset_after, (False, True))
    hp = _check_common(m, seq_len=seq_len, n_regulators=n_regulators, filters=filters,
                       filter_length=filter_length, regulator_units=regulator_units,
                       units=units, dropout=dropout, task=task, n_classes=n_classes,
                       class_activation=class_activation, min_len=lambda fl: fl)
    sequence, regulators = _inputs(hp["seq_len"], hp["n_regulators"])
    x = _sequence_conv(sequence, hp["filters"], hp["filter_length"])
    x = blocks.pool1d(x, "max", pool_size, padding="same", name="sequence_pool")
    x = layers.Activation("relu", name="sequence_act")(x)
    steps = blocks.conv_out_len(hp["seq_len"] - hp["filter_length"] + 1, pool_size,
                                pool_size, "same")
    y = _regulator_branch(regulators, hp["regulator_units"])
    y = blocks.BroadcastRepeatVector(steps, name="regulator_repeat")(y)
    z = layers.Concatenate(axis=-1, name="concat")([y, x])
    z = layers.Bidirectional(
        layers.GRU(rnn_units, dropout=rnn_dropout, recurrent_dropout=rnn_recurrent_dropout,
                   reset_after=reset_after, name="gru"),
        name="bigru",
    )(z)
    out = _head(z, units=hp["units"], dropout=hp["dropout"], task=hp["task"],
                n_classes=hp["n_classes"], class_activation=class_activation)
    return blocks.functional_model({"sequence": sequence, "regulators": regulators}, out, name)


for _f in (deeprage_concat, deeprage_tensor, deeprage_rnn):
    _f.__doc__ = _f.__doc__.replace("{io}", _DOC_IO)
del _f
