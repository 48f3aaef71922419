"""Saliency: signed input gradients per example and their means over groups (the histone
FCN write-up's Fig. 3-4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from kerasgene.errors import ConfigError
from kerasgene.explain.attribution import (
    argmax_predictions,
    as_input_list,
    check_target,
    chunk_inputs,
    default_unit,
    format_target,
    scalar_model,
    select_output,
)

# --------------------------------------------------------------------------------------
# saliency
# --------------------------------------------------------------------------------------


def saliency(
    model,
    inputs,
    *,
    batch_size: int = 128,
    target=None,
    output: str | int | None = None,
    times_input: bool = False,
    progress: bool = True,
) -> list[np.ndarray]:
    """Signed input gradients ``∂F/∂x`` (Team Jamaica Fig. 3/4), one array per model
    input (model input order), each ``(n, ...)``; ``times_input`` gives gradient × input;
    ``progress`` shows a bar over the examples (tqdm, on stderr). ``target`` and ``output``
    as :func:`kerasgene.explain.ig.integrated_gradients`' (``F`` is the probability of
    class ``target`` of a classifier; None: its last class, as ``kerasgene explain``).
    """
    import tensorflow as tf

    xs = as_input_list(model, inputs)
    n = len(xs[0])
    view = scalar_model(model, output)
    n_out = int(np.prod(view.outputs[0].shape[1:]))
    if target is None:  # a classifier's last class, as `kerasgene explain`
        target = default_unit(model, output)
    t_all = format_target(target, n, xs,
                           lambda xl: argmax_predictions(model, output, xl, batch_size))
    check_target(model, output, t_all)

    @tf.function(reduce_retracing=True)
    def grad(x, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = select_output(view(x, training=False), t, n_out)
        return tape.gradient(y, x)

    outs = [np.zeros(x.shape, np.float32) for x in xs]
    with tqdm(total=n, desc="saliency", unit="example", disable=not progress) as bar:
        for lo in range(0, n, batch_size):
            sl = slice(lo, min(n, lo + batch_size))
            xc = [tf.constant(a) for a in chunk_inputs(xs, sl)]
            t = None if t_all is None else tf.constant(t_all[sl], tf.int32)
            for o, g, x in zip(outs, grad(xc, t), xc):
                o[sl] = g.numpy() * (x.numpy() if times_input else 1.0)
            bar.update(sl.stop - sl.start)
    return outs


def mean_saliency(gradients: np.ndarray, groups: Sequence) -> dict[Any, np.ndarray]:
    """Average ``gradients`` ``(n, ...)`` over the examples of each group (e.g. the genes
    of one cell type). Returns ``{group: (...)}`` in first-seen order. Each mean reads the
    group's rows in place (``where=``): no copy of them is made."""
    groups = np.asarray(groups)
    if len(groups) != len(gradients):
        raise ConfigError(f"{len(groups)} group labels for {len(gradients)} examples")
    out = {}
    for g in dict.fromkeys(groups.tolist()):
        rows = (groups == g).reshape(-1, *[1] * (gradients.ndim - 1))
        out[g] = gradients.mean(axis=0, where=rows)
    return out
