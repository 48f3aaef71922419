"""Chromatin imputation from nascent transcription (GRO-seq / PRO-seq): one single-task
model per target mark, predicting the target's value at the central 50 bp bin of a
window of binned GRO-seq signal.

:func:`chromatin_dnn` (five Dense layers, 200-bin window) and :func:`chromatin_cnn`
(the appendix table: 7 convolutions of 16 filters, 2561-bin window). The output is
named after the target (``"H3K4me3"``, ``"H3K27ac"``, ``"H3K27me3"``, ``"DNase"``).
No code was released with the report; both follow its text and appendix table.

The binary task (peak / no peak at the central bin; ``task="classification"``): the same
network ending in one linear unit named ``"class_score"``
(:func:`kerasgene.models.blocks.score_head`), class 1 ⇔ score > 0 — a margin for the
hinge loss, a logit for binary cross-entropy. The report trains only XGBoost on this
task (hinge loss, AUPRC); the deep models' binary head is ours, with the same
parameter count as the regression head.
"""

from __future__ import annotations

import keras
from keras import layers

from kerasgene.errors import ConfigError
from kerasgene.models import blocks

TARGETS = ("H3K4me3", "H3K27ac", "H3K27me3", "DNase")


def cnn_lengths(window: int, n_conv: int = 7, kernel_size: int = 5, pool: int = 2) -> list[int]:
    """Positions after each conv / pool of :func:`chromatin_cnn` (last = before Flatten);
    a 0 means the window is too short."""
    out, n = [], window
    for i in range(n_conv):
        n = blocks.conv_out_len(n, kernel_size)
        out.append(n)
        if i < n_conv - 1:
            n //= pool
            out.append(n)
    return out


def cnn_min_window(n_conv: int = 7, kernel_size: int = 5, pool: int = 2) -> int:
    """Shortest window leaving at least one position at the Flatten (572 at the
    defaults)."""
    n = 1
    for _ in range(n_conv - 1):  # invert: before the last conv, then each pool + conv
        n = (n + kernel_size - 1) * pool
    return n + kernel_size - 1


def chromatin_cnn(
    window: int = 2561,
    n_channels: int = 1,
    *,
    target: str = "H3K4me3",
    filters: int = 16,
    kernel_size: int = 5,
    n_conv: int = 7,
    pool: int = 2,
    dropout: float = 0.2,
    activation: str = "relu",
    task: str = "regression",
    n_classes: int = 2,
    name: str = "chromatin_cnn",
) -> keras.Model:
    """CNN of the appendix table (count_params = 8,385 at the defaults).

    Architecture (``window = 2561``)::

        signal (2561, n_channels) → Conv1D(16, 5) ReLU → Dropout → MaxPool(2)
        → 5 × [Conv1D(16, 5) ReLU → MaxPool(2)] → Conv1D(16, 5) ReLU
        → Flatten (32 × 16 = 512) → Dense(1) named ``target`` (classification:
        ``class_score``)

    Parameters
    ----------
    window : input bins of 50 bp (2561 ≈ 128 kb); at least :func:`cnn_min_window`
    n_channels : 1 (strand-merged) or 2 (plus and minus strand)
    target : output name (one of :data:`TARGETS` usually; any valid name)
    filters, kernel_size, n_conv, pool : convolution stack
    dropout : rate of the Dropout after the first conv (not stated: 0.2 here)
    activation : of every conv (the table has none listed separately: ReLU here)
    task, n_classes : "regression" (the report's CNN) or "classification" with 2
        classes (peak / no peak; the module docstring)
    name : model name

    Inputs / outputs
    ----------------
    "signal" : (window, n_channels) GRO-seq signal per 50 bp bin
    target : (1,) the target's (smoothed) value at the central bin; classification:
    "class_score" (1,), > 0 ⇔ peak

    Follows the report's appendix table exactly; its text states neither the
    activation nor the dropout rate (ReLU and 0.2 are ours).

    Raises
    ------
    ConfigError
        window shorter than the receptive field of the stack, n_channels not 1 or 2,
        dropout outside [0, 1), ...
    """
    m = "chromatin_cnn"
    n_conv = blocks.check_int(m, "n_conv", n_conv, 1)
    kernel_size = blocks.check_int(m, "kernel_size", kernel_size, 1)
    pool = blocks.check_int(m, "pool", pool, 1)
    window = blocks.check_int(m, "window", window, cnn_min_window(n_conv, kernel_size, pool))
    n_channels = blocks.check_int(m, "n_channels", n_channels, 1, 2)
    filters = blocks.check_int(m, "filters", filters, 1)
    dropout = blocks.check_rate(m, "dropout", dropout)
    target = blocks.check_name(m, "target", target)
    binary = _check_binary(m, task, n_classes)

    signal = keras.Input((window, n_channels), name="signal")
    x = signal
    for i in range(1, n_conv + 1):
        x = blocks.conv_block(x, filters, kernel_size, name=f"conv{i}", activation=activation,
                              dropout=dropout if i == 1 else 0.0)
        if i < n_conv:
            x = blocks.pool1d(x, "max", pool, name=f"conv{i}_pool")
    x = layers.Flatten(name="flatten")(x)
    return blocks.functional_model({"signal": signal}, _head(x, target, binary), name)


def chromatin_dnn(
    window: int = 200,
    n_channels: int = 1,
    units: tuple[int, ...] = (512, 256, 128, 64),
    *,
    target: str = "H3K4me3",
    dropout: float = 0.0,
    task: str = "regression",
    n_classes: int = 2,
    name: str = "chromatin_dnn",
) -> keras.Model:
    """Dense network: five Dense layers (four hidden with ReLU, one output).

    Architecture::

        signal (window, n_channels) → Flatten → Dense(units[0]) ReLU → ...
        → Dense(units[-1]) ReLU → Dense(1) named ``target`` (classification:
        ``class_score``)

    count_params = Σ (in·out + out) over the five layers, 275,457 at the defaults
    (200 × 1 inputs).

    Parameters
    ----------
    window : input bins of 50 bp (200 = 10 kb centred on the target bin); ≥ 1
    n_channels : 1 or 2 (strands)
    units : widths of the hidden layers (the report gives five ReLU Dense layers but no
        widths; 512, 256, 128, 64 and the output layer here)
    target : output name
    dropout : rate after each hidden layer (none in the report: 0)
    task, n_classes : "regression" (the report's network) or "classification" with 2
        classes (peak / no peak; the module docstring)
    name : model name

    Inputs / outputs
    ----------------
    "signal" : (window, n_channels); target : (1,) (classification: "class_score" (1,))

    Raises
    ------
    ConfigError
        impossible hyperparameters.
    """
    m = "chromatin_dnn"
    window = blocks.check_int(m, "window", window, 1)
    n_channels = blocks.check_int(m, "n_channels", n_channels, 1, 2)
    units = tuple(blocks.check_int(m, "units", u, 1) for u in units)
    if not units:
        raise blocks.ConfigError(f"{m}: units must list at least one width (got ())")
    dropout = blocks.check_rate(m, "dropout", dropout)
    target = blocks.check_name(m, "target", target)
    binary = _check_binary(m, task, n_classes)

    signal = keras.Input((window, n_channels), name="signal")
    x = layers.Flatten(name="flatten")(signal)
    x = blocks.dense_stack(x, units, name="dense", dropout=dropout, activation="relu")
    return blocks.functional_model({"signal": signal}, _head(x, target, binary), name)


def _check_binary(model: str, task, n_classes) -> bool:
    """True for the binary task; only two classes (peak / no peak) exist."""
    task, n_classes = blocks.check_task(model, task, n_classes)
    if task == "classification" and n_classes != 2:
        raise ConfigError(f"{model}: n_classes must be 2 (peak / no peak), got {n_classes}")
    return task == "classification"


def _head(x, target: str, binary: bool) -> dict:
    """Dense(1) named ``target`` (regression) or the binary score head."""
    if binary:
        return blocks.score_head(x)
    return blocks.output_head(x, task="regression", output_name=target)
