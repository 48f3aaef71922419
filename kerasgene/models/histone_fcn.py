"""Fully convolutional network of "Team Jamaica" (histone marks, cell-type statistics
and k-mer counts → expression) and its ensemble of sub-models trained on overlapping
folds.

The write-up gives the layer plan but no code: 9 Conv1D of kernel 3 and 2 of kernel 1,
each hidden layer followed by BatchNorm → Dropout → LeakyReLU; layers 1, 3, 5, 7
(counting from 0) have stride 2 and double the channels, up to 512. The write-up's
input is ``79 × 100`` (features × bins, channels-first as in PyTorch); here it is
``(bins, features) = (100, 79)``, channels-last, the fast layout for Keras on CPU (the
weights are the same; ``tests/reference_layouts.py`` holds the channels-first form).
"""

from __future__ import annotations

import keras
from keras import layers

from kerasgene.models import blocks

#: input features in the write-up's order: 5 marks, 5 means + 5 stds of the cell type,
#: 64 k-mer counts
N_MARKS, N_STATS, N_KMERS = 5, 10, 64


def fcn_widths(base_filters: int = 32, n_conv3: int = 9,
               stride_layers: tuple[int, ...] = (1, 3, 5, 7),
               max_filters: int = 512) -> list[int]:
    """Channels of the kernel-3 layers: 32, 64, 64, 128, 128, 256, 256, 512, 512."""
    widths, w = [], base_filters
    for i in range(n_conv3):
        if i in stride_layers:
            w = min(2 * w, max_filters)
        widths.append(w)
    return widths


def histone_fcn(
    n_bins: int = 100,
    n_channels: int = 79,
    base_filters: int = 32,
    dropout: float = 0.2,
    *,
    max_filters: int = 512,
    n_conv3: int = 9,
    stride_layers: tuple[int, ...] = (1, 3, 5, 7),
    head_filters: int | None = None,
    negative_slope: float = 0.01,
    name: str = "histone_fcn",
) -> keras.Model:
    """One sub-model of the ensemble.

    Architecture::

        histone (n_bins, n_channels)
        → 9 × [Conv1D(w_i, 3, stride s_i, 'same') → BN → Dropout → LeakyReLU]
              w = 32, 64, 64, 128, 128, 256, 256, 512, 512;  s = 2 at layers 1, 3, 5, 7
        → Conv1D(head_filters, 1) → BN → Dropout → LeakyReLU
        → Conv1D(1, 1) → global average over the remaining positions ("expression")

    **Scalar output**: the last 1×1 conv gives one value per remaining position
    (``ceil(n_bins / 16)`` = 7 positions for 100 bins); the output is their mean
    (GlobalAveragePooling1D), so the network stays fully convolutional and accepts any
    number of bins.

    Parameters
    ----------
    n_bins : bins per gene (100 bins of 100 bp over TSS ± 5 kb)
    n_channels : features per bin: 5 marks (5), + cell-type mean and std (15),
        + k-mer counts (79 = 5 + 10 + 64)
    base_filters : channels of the first layer (not stated in the write-up: 32, which
        reaches 512 at the last doubling)
    dropout : rate of every hidden Dropout (not stated: 0.2)
    max_filters : cap on the doubling (512)
    n_conv3 : number of kernel-3 layers (9)
    stride_layers : indices (from 0) of the kernel-3 layers with stride 2
    head_filters : channels of the hidden 1×1 conv (default: the last width, 512)
    negative_slope : LeakyReLU slope (not stated: 0.01, PyTorch's default)
    name : model name

    Inputs / outputs
    ----------------
    "histone" : (n_bins, n_channels) features per bin, channels-last
    "expression" : (1,) log expression

    Choices where the write-up is silent (no code was released): first width 32,
    'same' padding, conv biases kept, dropout 0.2, LeakyReLU slope 0.01, global average
    of the last 1×1 conv. count_params at the defaults is 1,849,281.

    Raises
    ------
    ConfigError
        impossible hyperparameters (``n_bins < 1``, dropout outside [0, 1), ...).
    """
    m = "histone_fcn"
    n_bins = blocks.check_int(m, "n_bins", n_bins, 1)
    n_channels = blocks.check_int(m, "n_channels", n_channels, 1)
    base_filters = blocks.check_int(m, "base_filters", base_filters, 1)
    max_filters = blocks.check_int(m, "max_filters", max_filters, base_filters)
    n_conv3 = blocks.check_int(m, "n_conv3", n_conv3, 1)
    stride_layers = tuple(blocks.check_int(m, "stride_layers", i, 0, n_conv3 - 1)
                          for i in stride_layers)
    dropout = blocks.check_rate(m, "dropout", dropout)
    negative_slope = blocks.check_float(m, "negative_slope", negative_slope, 0.0)
    widths = fcn_widths(base_filters, n_conv3, stride_layers, max_filters)
    head_filters = widths[-1] if head_filters is None else blocks.check_int(
        m, "head_filters", head_filters, 1)

    histone = keras.Input((n_bins, n_channels), name="histone")
    hidden = dict(norm=True, activation="leaky_relu", dropout=dropout,
                  order=("norm", "dropout", "act"), negative_slope=negative_slope)
    x = histone
    for i, w in enumerate(widths):
        x = blocks.conv_block(x, w, 3, strides=2 if i in stride_layers else 1,
                              padding="same", name=f"conv{i}", **hidden)
    x = blocks.conv_block(x, head_filters, 1, name=f"conv{n_conv3}", **hidden)
    x = blocks.conv_block(x, 1, 1, name="output", activation=None, dtype=blocks.OUTPUT_DTYPE)
    out = {"expression": layers.GlobalAveragePooling1D(dtype=blocks.OUTPUT_DTYPE,
                                                       name="expression")(x)}
    return blocks.functional_model({"histone": histone}, out, name)


def histone_fcn_ensemble(
    n_models: int = 3,
    n_bins: int = 100,
    n_channels: int = 79,
    base_filters: int = 32,
    dropout: float = 0.2,
    *,
    name: str = "histone_fcn_ensemble",
    **member_kwargs,
) -> keras.Model:
    """Ensemble of ``n_models`` :func:`histone_fcn` sub-models; output = their mean.

    Architecture::

        histone (n_bins, n_channels) ─┬─ member_0 ─┐
                                      ├─ member_1 ─┼─ Average → "expression"
                                      └─ member_2 ─┘

    Each member is a complete :class:`keras.Model` (``model.get_layer("member_1")`` or
    :func:`ensemble_members`) sharing its weights with the ensemble: compile and fit a
    member on its own fold (the write-up trains each on two overlapping thirds of the
    training set and validates on the remaining third), then use the ensemble to
    predict. count_params = ``n_models`` × one member.

    Parameters
    ----------
    n_models : number of members (write-up: 3); ≥ 1
    n_bins, n_channels, base_filters, dropout, **member_kwargs : as :func:`histone_fcn`
    name : model name

    Inputs / outputs
    ----------------
    "histone" : (n_bins, n_channels); "expression" : (1,)

    Raises
    ------
    ConfigError
        ``n_models < 1`` or a member hyperparameter out of range.
    """
    n_models = blocks.check_int("histone_fcn_ensemble", "n_models", n_models, 1)
    histone = keras.Input((n_bins, n_channels), name="histone")
    outs = []
    for i in range(n_models):
        member = histone_fcn(n_bins, n_channels, base_filters, dropout, name=f"member_{i}",
                             **member_kwargs)
        outs.append(member({"histone": histone})["expression"])
    if n_models == 1:
        y = layers.Identity(dtype=blocks.OUTPUT_DTYPE, name="expression")(outs[0])
    else:
        y = layers.Average(dtype=blocks.OUTPUT_DTYPE, name="expression")(outs)
    return blocks.functional_model({"histone": histone}, {"expression": y}, name)


def ensemble_members(model: keras.Model) -> list[keras.Model]:
    """The sub-models of a :func:`histone_fcn_ensemble` model, in order (they share
    weights with it)."""
    return [layer for layer in model.layers
            if isinstance(layer, keras.Model) and layer.name.startswith("member_")]
