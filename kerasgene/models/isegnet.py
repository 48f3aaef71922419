"""iSEGnet (Dai lab): two-branch CNN from DNA sequence and epigenome to expression.

Written with Conv1D over channels-last ``(positions, tracks)`` tensors. The authors'
code (YDaiLab/iSEGnet) uses Conv2D with a ``(l, m)`` kernel over a
``(positions, tracks, 1)`` image; the two are the same function with the same
parameters (a ``(l, m)`` kernel spanning all ``m`` columns is a width-``l`` 1-D kernel
over ``m`` channels; the concatenation "by columns" followed by a ``(2, 2)`` conv is a
width-2 1-D conv over the ``2·k2`` concatenated channels), and the Conv1D form runs
several times faster on CPU (see ``bench/bench_models.py``). ``tests/test_models.py``
copies weights into the authors' Conv2D layout and checks equal outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from kerasgene.errors import ConfigError
from kerasgene.models import blocks

_NAME = "isegnet"
#: The two branches, in the order of the merge concatenation (epigenome first, as in the
#: authors' code).
BRANCHES = ("epigenome", "sequence")


def min_seq_len(kernel_length: int, merge_kernel: int = 2) -> int:
    """Shortest ``seq_len`` that leaves at least one position at the Flatten.

    Positions: conv1 ``L + 19 - l + 1``; conv2 ``+ 9 - l + 1``; pool 5; merge conv keeps
    the length (``merge_kernel - 1`` zeros in front); pool 5.
    """
    return max(2 * kernel_length - 5, kernel_length - 19, merge_kernel - 1, 1)


def _check_inputs(inputs: str | Sequence[str]) -> tuple[str, ...]:
    """The branches named by ``inputs`` (a name or a list of names), in :data:`BRANCHES`
    order; ConfigError when empty, repeated or unknown."""
    names = [inputs] if isinstance(inputs, str) else inputs
    names = list(names) if isinstance(names, (list, tuple)) else []
    if not names or len(set(names)) != len(names) or not set(names) <= set(BRANCHES):
        raise ConfigError(f"{_NAME}: inputs must be 'sequence', 'epigenome' or both "
                          f"(got {inputs!r})")
    return tuple(b for b in BRANCHES if b in names)


def _branch(x, prefix: str, *, k1, k2, kernel_length, dropout, l2, pool):
    # fixed pads of the authors' code, whatever the kernel length
    common = dict(norm=True, activation="relu", dropout=dropout, l2=l2,
                  order=("norm", "act", "dropout"))
    x = blocks.conv_block(x, k1, kernel_length, pad=(10, 9), use_bias=False,
                          name=f"{prefix}_conv1", **common)
    x = blocks.conv_block(x, k2, kernel_length, pad=(5, 4), name=f"{prefix}_conv2", **common)
    return blocks.pool1d(x, pool, 5, name=f"{prefix}_pool")


def isegnet(
    seq_len: int = 2500,
    n_tracks: int = 7,
    k1: int = 64,
    kernel_length: int = 20,
    dropout: float = 0.5,
    l2: float = 1e-4,
    pool: str = "avg",
    merge_filters: int = 126,
    task: str = "regression",
    *,
    k2: int | None = None,
    merge_kernel: int = 2,
    pointwise_filters: int = 64,
    dense_units: tuple[int, ...] = (256, 64, 16),
    n_classes: int = 2,
    inputs: str | Sequence[str] = ("sequence", "epigenome"),
    name: str = "isegnet",
) -> keras.Model:
    """Build iSEGnet as an uncompiled functional model.

    Architecture (channels-last, ``l = kernel_length``, ``P = seq_len``)::

        epigenome (P, n_tracks) ─ pad(10,9) Conv1D(k1, l, no bias) BN ReLU Dropout
                                  pad(5,4)  Conv1D(k2, l)          BN ReLU Dropout
                                  Pool(5)                                  ┐
        sequence  (P, 4)        ─ (same, own weights)                      ├ concat
                                                                           ┘ channels
        pad(merge_kernel-1, 0) Conv1D(merge_filters, merge_kernel) BN ReLU Dropout
        Conv1D(pointwise_filters, 1) BN ReLU Dropout → Pool(5) → Flatten
        Dense 256 BN ReLU Dropout → Dense 64 BN ReLU Dropout → Dense 16 BN ReLU
        → Dense 1 → ReLU ("expression")   |  Dense n_classes softmax
                                             ("class_probabilities")

    L2(``l2``) on every kernel. count_params = 2,058,199 at the defaults (flatten 6336),
    1,772,247 with ``k1=32``.

    Parameters
    ----------
    seq_len : positions per gene (TSS[-1000,+500] ⊕ TTS[-500,+500] = 2500)
    n_tracks : epigenome tracks m (DNase, H3K4me1, H3K4me3, H3K9me3, H3K27me3,
        H3K36me3, WGBS = 7)
    k1 : filters of the first conv; ``k2`` (second conv) defaults to ``2 * k1``
    kernel_length : l, the width of both branch convs (grid: 20, 50, 100)
    dropout : rate of every Dropout layer
    l2 : λ of the L2 penalty on every kernel
    pool : "avg" (code) or "max" (paper text)
    merge_filters : filters of the merged conv (code 126; the paper text says 64)
    task : "regression" (expression) or "classification" (the paper's DeepChrome
        comparison: high / low expression)
    merge_kernel : positions spanned by the merged conv (code 2; the paper text says l)
    pointwise_filters : filters of the 1×1 conv after the merge (code 64)
    dense_units : widths of the hidden Dense layers (code 256, 64, 16)
    n_classes : classes of the classification head (≥ 2)
    inputs : the branches to build, ``"sequence"`` and/or ``"epigenome"``; with one, the
        merge conv runs on that branch's output alone (and ``n_tracks`` is unused
        without the epigenome)
    name : model name

    Inputs / outputs
    ----------------
    "sequence" : (seq_len, 4) one-hot DNA, 5'→3' of the gene
    "epigenome" : (seq_len, n_tracks) tracks scaled to [0, 1]
    "expression" : (1,) (regression) | "class_probabilities" : (n_classes,)

    Follows the authors' code rather than the paper
    -----------------------------------------------
    - average pooling (paper: max pooling); ``pool="max"`` gives the paper's text;
    - merged conv of 126 filters over 2 positions × 2 columns, then a 1×1 conv of 64
      and a second pooling (paper: one "l × 2 × 64" conv); ``merge_filters=64,
      merge_kernel=kernel_length`` approximates the paper's text;
    - fixed zero pads (10, 9) and (5, 4) whatever ``l`` (so the length shrinks for
      l ≠ 20); first convs without bias; BatchNorm after every conv and hidden Dense;
    - a ReLU on the regression output (expression is non-negative on the log scale);
    - epigenome before sequence in the concatenation (matters only for weight transfer).
    The classification head (Dense n_classes, softmax) is ours: the paper says only
    "binary cross-entropy, all other aspects unchanged". So is ``inputs``: the paper
    retrains on subsets of the inputs (Fig. 4A, sequence only, each mark alone) without
    saying how the network changes; dropping a branch and feeding the other straight
    into the merge conv is our reading (used by :mod:`kerasgene.explain.ablation`).

    Raises
    ------
    ConfigError
        for impossible hyperparameters, e.g. ``seq_len < 2·l − 5`` (nothing left at the
        Flatten), ``dropout`` outside [0, 1), ``n_classes < 2``, ``inputs`` empty or
        naming anything but the two branches.
    """
    m = _NAME
    kernel_length = blocks.check_int(m, "kernel_length", kernel_length, 1)
    merge_kernel = blocks.check_int(m, "merge_kernel", merge_kernel, 1)
    seq_len = blocks.check_int(m, "seq_len", seq_len, min_seq_len(kernel_length, merge_kernel))
    n_tracks = blocks.check_int(m, "n_tracks", n_tracks, 1)
    k1 = blocks.check_int(m, "k1", k1, 1)
    k2 = 2 * k1 if k2 is None else blocks.check_int(m, "k2", k2, 1)
    dropout = blocks.check_rate(m, "dropout", dropout)
    l2 = blocks.check_float(m, "l2", l2, 0.0)
    blocks.check_choice(m, "pool", pool, ("avg", "max"))
    merge_filters = blocks.check_int(m, "merge_filters", merge_filters, 1)
    pointwise_filters = blocks.check_int(m, "pointwise_filters", pointwise_filters, 1)
    dense_units = tuple(blocks.check_int(m, "dense_units", u, 1) for u in dense_units)
    task, n_classes = blocks.check_task(m, task, n_classes)
    branches = _check_inputs(inputs)

    widths = {"sequence": 4, "epigenome": n_tracks}  # the model's input order
    tensors = {b: keras.Input((seq_len, w), name=b) for b, w in widths.items() if b in branches}
    branch = dict(k1=k1, k2=k2, kernel_length=kernel_length, dropout=dropout, l2=l2,
                  pool=pool)
    outs = [_branch(tensors[b], b, **branch) for b in branches]
    x = layers.Concatenate(axis=-1, name="merge_concat")(outs) if len(outs) > 1 else outs[0]

    common = dict(norm=True, activation="relu", dropout=dropout, l2=l2)
    x = blocks.conv_block(x, merge_filters, merge_kernel, pad=(merge_kernel - 1, 0),
                          name="merge_conv1", **common)
    x = blocks.conv_block(x, pointwise_filters, 1, name="merge_conv2", **common)
    x = blocks.pool1d(x, pool, 5, name="merge_pool")
    x = layers.Flatten(name="flatten")(x)
    # the last hidden Dense has no dropout in the authors' code
    rates = [dropout] * (len(dense_units) - 1) + [0.0]
    x = blocks.dense_stack(x, dense_units, name="dense", dropout=rates, norm=True,
                           activation="relu", l2=l2)
    out = blocks.output_head(
        x,
        task=task,
        output_name=blocks.default_output_name(task),
        n_classes=n_classes,
        l2=l2,
        regression_activation="relu",
    )
    return blocks.functional_model(tensors, out, name)
