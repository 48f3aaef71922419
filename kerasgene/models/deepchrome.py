"""DeepChrome (QData/DeepChrome): binary expression class from 5 histone marks × 100
bins, the baseline the histone FCN and iSEGnet compare with."""

from __future__ import annotations

import keras
from keras import layers

from kerasgene.models import blocks

#: mark order of the DeepChrome CSV files
MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")


def deepchrome(
    n_bins: int = 100,
    n_marks: int = 5,
    *,
    filters: int = 50,
    kernel_size: int = 10,
    pool_size: int = 5,
    dropout: float = 0.5,
    units: tuple[int, ...] = (625, 125),
    n_classes: int = 2,
    name: str = "deepchrome",
) -> keras.Model:
    """DeepChrome's convnet (count_params = 644,177 at the defaults).

    Architecture::

        histone (100, 5) → Conv1D(50, 10) ReLU → MaxPool(5) → Flatten (18 × 50 = 900)
        → Dropout 0.5 → Dense 625 ReLU → Dense 125 ReLU
        → Dense 2 softmax ("class_probabilities")

    Parameters
    ----------
    n_bins : bins per gene (100 bins of 100 bp); ≥ kernel_size + pool_size − 1
    n_marks : histone marks (5, in :data:`MARKS` order)
    filters, kernel_size, pool_size : the convolution stage (50, 10, 5)
    dropout : rate before the first Dense (0.5)
    units : hidden Dense widths (625, 125)
    n_classes : 2 (high / low expression, split at the median); ≥ 2
    name : model name

    Inputs / outputs
    ----------------
    "histone" : (n_bins, n_marks); "class_probabilities" : (n_classes,)

    Follows the authors' Torch code (``2_model.lua``): Dropout after the flattening
    and none between the Dense layers; the code's LogSoftMax + NLL loss is written as
    a softmax output (train with cross-entropy on it).

    Raises
    ------
    ConfigError
        n_bins shorter than the receptive field, n_classes < 2, dropout outside [0, 1).
    """
    m = "deepchrome"
    kernel_size = blocks.check_int(m, "kernel_size", kernel_size, 1)
    pool_size = blocks.check_int(m, "pool_size", pool_size, 1)
    n_bins = blocks.check_int(m, "n_bins", n_bins, kernel_size + pool_size - 1)
    n_marks = blocks.check_int(m, "n_marks", n_marks, 1)
    filters = blocks.check_int(m, "filters", filters, 1)
    dropout = blocks.check_rate(m, "dropout", dropout)
    units = tuple(blocks.check_int(m, "units", u, 1) for u in units)
    n_classes = blocks.check_int(m, "n_classes", n_classes, 2)

    histone = keras.Input((n_bins, n_marks), name="histone")
    x = blocks.conv_block(histone, filters, kernel_size, name="conv1", activation="relu")
    x = blocks.pool1d(x, "max", pool_size, name="conv1_pool")
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = blocks.dropout_layer(dropout, "flatten_dropout")(x)
    x = blocks.dense_stack(x, units, name="dense", activation="relu")
    out = blocks.output_head(x, task="classification", output_name="class_probabilities",
                             n_classes=n_classes)
    return blocks.functional_model({"histone": histone}, out, name)
