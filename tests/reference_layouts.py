"""The authors' layouts of each architecture, for equivalence tests and benchmarks.

Each ``*_reference`` function builds the network the way the authors wrote it (layer
types, tensor layouts, order of concatenation), as described in
``docs/reference.md``, with the same named inputs as the kerasgene builder, so the
two can be fed the same batch. Layers that hold weights carry the same names as in the
kerasgene model; :func:`copy_weights` moves weights across by name, converting kernel
layouts where they differ. These are test/benchmark fixtures, not part of the package
(``bench/bench_models.py`` imports this file via ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import layers

from kerasgene.models import all_layers

L2 = keras.regularizers.L2


# --------------------------------------------------------------------------------------
# weight transfer
# --------------------------------------------------------------------------------------


def copy_weights(
    src: keras.Model,
    dst: keras.Model,
    convert: dict[str, Callable[[np.ndarray, tuple], np.ndarray]] | None = None,
) -> int:
    """Copy the weights of every layer of ``dst`` from the layer of ``src`` of the same
    name (searching nested models). A kernel whose shape differs is passed through
    ``convert[layer_name](array, target_shape)`` or, by default, reshaped (valid when
    the two layouts order the elements alike, e.g. Conv2D ``(l, m, 1, k)`` ↔ Conv1D
    ``(l, m, k)``). Returns the number of layers copied; every weighted layer of ``dst``
    must have a match."""
    convert = convert or {}
    by_name = {layer.name: layer for layer in _walk(src) if layer.weights}
    copied = 0
    for layer in _walk(dst):
        if not layer.weights:
            continue
        if layer.name not in by_name:
            raise KeyError(f"no layer named {layer.name!r} in {src.name}")
        new = []
        for w_src, w_dst in zip(by_name[layer.name].get_weights(), layer.get_weights(),
                                strict=True):
            if w_src.shape != w_dst.shape:
                if layer.name in convert:
                    w_src = convert[layer.name](w_src, w_dst.shape)
                else:
                    w_src = w_src.reshape(w_dst.shape)
            new.append(w_src)
        layer.set_weights(new)
        copied += 1
    return copied


def _walk(model: keras.Model):
    """The layers of ``model`` and of its nested models, the nested models left out."""
    return (layer for layer in all_layers(model) if not isinstance(layer, keras.Model))


def randomize_batchnorm(model: keras.Model, seed: int = 0) -> None:
    """Give BatchNorm layers non-trivial moving statistics, so an inference-mode
    comparison exercises them."""
    rng = np.random.default_rng(seed)
    for layer in _walk(model):
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                rng.normal(0, 0.1, beta.shape).astype("float32"),
                rng.normal(0, 0.1, mean.shape).astype("float32"),
                rng.uniform(0.5, 1.5, var.shape).astype("float32"),
            ])


# --------------------------------------------------------------------------------------
# iSEGnet: Conv2D over (positions, tracks, 1) images (YDaiLab/iSEGnet)
# --------------------------------------------------------------------------------------


def isegnet_reference(
    seq_len: int = 2500,
    n_tracks: int = 7,
    k1: int = 64,
    kernel_length: int = 20,
    dropout: float = 0.5,
    l2: float = 1e-4,
    pool: str = "avg",
    merge_filters: int = 126,
) -> keras.Model:
    """iSEGnet regression model exactly as in the authors' code (Conv2D layout)."""
    k2 = 2 * k1
    reg = L2(l2)
    pool2d = {"avg": layers.AveragePooling2D, "max": layers.MaxPooling2D}[pool]

    def bn_relu_drop(x, name, drop=True):
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation("relu")(x)
        return layers.Dropout(dropout)(x) if drop else x

    def branch(inp, prefix, width):
        x = layers.Reshape((seq_len, width, 1))(inp)
        x = layers.ZeroPadding2D(((10, 9), (0, 0)))(x)
        x = layers.Conv2D(k1, (kernel_length, width), use_bias=False, kernel_regularizer=reg,
                          name=f"{prefix}_conv1_conv")(x)
        x = bn_relu_drop(x, f"{prefix}_conv1")
        x = layers.ZeroPadding2D(((5, 4), (0, 0)))(x)
        x = layers.Conv2D(k2, (kernel_length, 1), kernel_regularizer=reg,
                          name=f"{prefix}_conv2_conv")(x)
        x = bn_relu_drop(x, f"{prefix}_conv2")
        return pool2d((5, 1), strides=5)(x)

    sequence = keras.Input((seq_len, 4), name="sequence")
    epigenome = keras.Input((seq_len, n_tracks), name="epigenome")
    e = branch(epigenome, "epigenome", n_tracks)
    s = branch(sequence, "sequence", 4)
    x = layers.Concatenate(axis=2)([e, s])  # (P, 2, k2): epigenome column first
    x = layers.ZeroPadding2D(((1, 0), (0, 0)))(x)
    x = layers.Conv2D(merge_filters, (2, 2), kernel_regularizer=reg, name="merge_conv1_conv")(x)
    x = bn_relu_drop(x, "merge_conv1")
    x = layers.Conv2D(64, (1, 1), kernel_regularizer=reg, name="merge_conv2_conv")(x)
    x = bn_relu_drop(x, "merge_conv2")
    x = pool2d((5, 1), strides=5)(x)
    x = layers.Flatten()(x)
    for i, units in enumerate((256, 64, 16), start=1):
        x = layers.Dense(units, kernel_regularizer=reg, name=f"dense{i}_dense")(x)
        x = bn_relu_drop(x, f"dense{i}", drop=i < 3)
    x = layers.Dense(1, kernel_regularizer=reg, name="head_dense")(x)
    out = layers.Activation("relu", name="expression")(x)
    return keras.Model({"sequence": sequence, "epigenome": epigenome}, {"expression": out},
                       name="isegnet_reference")


# --------------------------------------------------------------------------------------
# DeepRAGE: Conv2D over a (4, L, 1) image, ReLU before pooling (boxiangliu/DeepRegret)
# --------------------------------------------------------------------------------------


def deeprage_conv_to_reference(w: np.ndarray, shape: tuple) -> np.ndarray:
    """kerasgene Conv1D kernel (width, 4, F) → the code's Conv2D kernel (4, width, 1, F)."""
    return w.transpose(1, 0, 2)[:, :, None, :].reshape(shape)


DEEPRAGE_CONVERT = {"sequence_conv": deeprage_conv_to_reference}


def _deeprage_inputs(seq_len, n_regulators, filters, filter_length):
    sequence = keras.Input((seq_len, 4), name="sequence")
    regulators = keras.Input((n_regulators,), name="regulators")
    x = layers.Permute((2, 1))(sequence)  # the code's input: (4, L, 1)
    x = layers.Reshape((4, seq_len, 1))(x)
    x = layers.Conv2D(filters, (4, filter_length), name="sequence_conv")(x)
    return sequence, regulators, x


def _deeprage_regulators(regulators, regulator_units):
    if regulator_units is None:
        return regulators
    return layers.Dense(regulator_units, activation="relu", name="regulator_dense")(regulators)


def _deeprage_head(x, units, dropout, inputs, name):
    x = layers.Dense(units, activation="relu", name="dense1_dense")(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(units, activation="relu", name="dense2_dense")(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(1, name="expression")(x)
    return keras.Model(inputs, {"expression": out}, name=name)


def deeprage_concat_reference(seq_len=1000, n_regulators=472, filters=256, filter_length=19,
                              regulator_units=512, units=512, dropout=0.5) -> keras.Model:
    """DeepRAGE-C regression model as in ``concat.regres.py``."""
    sequence, regulators, x = _deeprage_inputs(seq_len, n_regulators, filters, filter_length)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D((1, 16), strides=(1, 14))(x)
    x = layers.Flatten()(x)
    y = _deeprage_regulators(regulators, regulator_units)
    z = layers.Concatenate()([y, x])
    return _deeprage_head(z, units, dropout, {"sequence": sequence, "regulators": regulators},
                          "deeprage_concat_reference")


def deeprage_tensor_reference(seq_len=1000, n_regulators=472, filters=256, filter_length=19,
                              regulator_units=512, units=512, dropout=0.5) -> keras.Model:
    """DeepRAGE-TP regression model as in ``maxpool_outer_product/model.py`` (broadcast
    product of a (U, 1) and a (1, F) tensor), with the paper's Dense head."""
    sequence, regulators, x = _deeprage_inputs(seq_len, n_regulators, filters, filter_length)
    x = layers.MaxPooling2D((1, seq_len - filter_length + 1))(x)
    x = layers.Activation("relu")(x)
    x = layers.Reshape((1, filters))(x)
    y = _deeprage_regulators(regulators, regulator_units)
    n_y = n_regulators if regulator_units is None else regulator_units
    y = layers.Reshape((n_y, 1))(y)
    z = layers.Flatten()(layers.Multiply()([y, x]))
    return _deeprage_head(z, units, dropout, {"sequence": sequence, "regulators": regulators},
                          "deeprage_tensor_reference")


def deeprage_rnn_reference(seq_len=1000, n_regulators=472, filters=256, filter_length=19,
                           regulator_units=512, units=512, dropout=0.5, rnn_units=512
                           ) -> keras.Model:
    """Concatenation-RNN as in ``gru/model.concat.pool.100.py``."""
    sequence, regulators, x = _deeprage_inputs(seq_len, n_regulators, filters, filter_length)
    x = layers.MaxPooling2D((1, 100), padding="same")(x)
    x = layers.Activation("relu")(x)
    steps = x.shape[2]
    x = layers.Reshape((steps, filters))(x)
    y = layers.RepeatVector(steps)(_deeprage_regulators(regulators, regulator_units))
    z = layers.Concatenate(axis=-1)([y, x])
    z = layers.Bidirectional(layers.GRU(rnn_units, dropout=0.5, recurrent_dropout=0.5,
                                        reset_after=False), name="bigru")(z)
    return _deeprage_head(z, units, dropout, {"sequence": sequence, "regulators": regulators},
                          "deeprage_rnn_reference")


# --------------------------------------------------------------------------------------
# histone FCN: the write-up's channels-first (features × bins) layout
# --------------------------------------------------------------------------------------


def _conv_channels_first(x, filters, kernel, stride, name):
    """A Conv1d on a (batch, features, bins) tensor, as PyTorch computes it. TensorFlow's
    CPU kernels run ``data_format="channels_first"`` convolutions only through oneDNN,
    which TensorFlow leaves off on CPUs without AVX-512 (an AVX2 AMD EPYC: ``The Conv2D op
    currently only supports the NHWC tensor format on the CPU``), so the convolution is
    computed channels-last between two transposes; every other layer of the reference
    keeps the channels-first layout (BatchNorm over axis 1, the pooling over bins)."""
    x = layers.Permute((2, 1))(x)
    x = layers.Conv1D(filters, kernel, strides=stride, padding="same", name=name)(x)
    return layers.Permute((2, 1))(x)


def histone_fcn_reference(n_bins=100, n_channels=79, widths=(32, 64, 64, 128, 128, 256,
                          256, 512, 512), strides=(1, 2, 1, 2, 1, 2, 1, 2, 1),
                          dropout=0.2, negative_slope=0.01) -> keras.Model:
    """Sub-model on a (features, bins) tensor, as a PyTorch Conv1d stack would see it."""
    histone = keras.Input((n_bins, n_channels), name="histone")
    x = layers.Permute((2, 1))(histone)

    def hidden(x, filters, kernel, stride, name):
        x = _conv_channels_first(x, filters, kernel, stride, f"{name}_conv")
        x = layers.BatchNormalization(axis=1, name=f"{name}_bn")(x)
        x = layers.Dropout(dropout)(x)
        return layers.LeakyReLU(negative_slope=negative_slope)(x)

    for i, (w, s) in enumerate(zip(widths, strides, strict=True)):
        x = hidden(x, w, 3, s, f"conv{i}")
    x = hidden(x, widths[-1], 1, 1, f"conv{len(widths)}")
    x = _conv_channels_first(x, 1, 1, 1, "output_conv")
    out = layers.GlobalAveragePooling1D(data_format="channels_first", name="expression")(x)
    return keras.Model({"histone": histone}, {"expression": out}, name="histone_fcn_reference")


# --------------------------------------------------------------------------------------
# chromatin CNN (the appendix table) and DeepChrome (Torch 2_model.lua): the authors'
# layouts are already channels-last 1-D convolutions, so these equal the builders
# --------------------------------------------------------------------------------------


def chromatin_cnn_reference(window=2561, n_channels=1, dropout=0.2) -> keras.Model:
    """The appendix table layer for layer (activation inside each Conv1D)."""
    signal = keras.Input((window, n_channels), name="signal")
    x = layers.Conv1D(16, 5, activation="relu", name="conv1_conv")(signal)
    x = layers.Dropout(dropout)(x)
    x = layers.MaxPooling1D(2)(x)
    for i in range(2, 7):
        x = layers.Conv1D(16, 5, activation="relu", name=f"conv{i}_conv")(x)
        x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(16, 5, activation="relu", name="conv7_conv")(x)
    out = layers.Dense(1, name="H3K4me3")(layers.Flatten()(x))
    return keras.Model({"signal": signal}, {"H3K4me3": out}, name="chromatin_cnn_reference")


def deepchrome_reference(n_bins=100, n_marks=5) -> keras.Model:
    """TemporalConvolution(5, 50, 10) ReLU TemporalMaxPooling(5) View Dropout(0.5)
    Linear(900, 625) ReLU Linear(625, 125) ReLU Linear(125, 2) (+ LogSoftMax)."""
    histone = keras.Input((n_bins, n_marks), name="histone")
    x = layers.Conv1D(50, 10, activation="relu", name="conv1_conv")(histone)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Dropout(0.5)(layers.Flatten()(x))
    x = layers.Dense(625, activation="relu", name="dense1_dense")(x)
    x = layers.Dense(125, activation="relu", name="dense2_dense")(x)
    out = layers.Dense(2, activation="softmax", name="class_probabilities")(x)
    return keras.Model({"histone": histone}, {"class_probabilities": out},
                       name="deepchrome_reference")
