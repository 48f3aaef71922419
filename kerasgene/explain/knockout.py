"""In-silico knockouts (DeepRAGE §5.3).

- :func:`zero_filters` — a copy of the model with some filters of a convolution set to
  zero (kernel **and** bias), the DeepRAGE filter knockout; :func:`filters_zeroed` the
  same on the model itself for the length of a ``with`` block;
- :func:`mask_motif` — a copy of one-hot inputs with every instance of a motif (relative
  log-odds score ≥ a threshold, either strand) replaced by a background (uniform 0.25
  by default), the input-side knockout;
- :func:`knockout_effects` — per-example predictions of the wild-type and the knocked-out
  model (or inputs) and their difference Δ; :func:`gene_effects` averages |Δ| per gene
  (DeepRAGE examples are gene × condition pairs);
- :func:`knockout_test` — Wilcoxon rank-sum test of |Δ| for the target genes of a
  regulator against all other genes (one-sided, targets move more) and Fisher's exact
  test on the top-k genes by |Δ| (DeepRAGE's MIG1 example: 3 of the top 5),
  :func:`filter_knockout_scan` each filter in turn.

The input ablation of iSEGnet (Fig. 4A) is in :mod:`kerasgene.explain.ablation`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# model-side knockout
# --------------------------------------------------------------------------------------


def _filter_layer(model, layer, filters: int | Sequence[int]):
    """The layer named ``layer`` (or the layer) of ``model``, its weights and the filter
    indices, checked: the layer exists, has weights, and every index is one of its
    filters."""
    name = layer if isinstance(layer, str) else layer.name
    try:
        target = model.get_layer(name)
    except ValueError:
        raise ConfigError(f"model {model.name!r} has no layer {name!r}") from None
    weights = target.get_weights()
    if not weights:
        raise ConfigError(f"layer {name!r} has no weights to knock out")
    idx = np.atleast_1d(np.asarray(filters, np.int64))
    n_f = weights[0].shape[-1]
    if idx.size and (idx.min() < 0 or idx.max() >= n_f):
        raise ConfigError(f"filter index out of range for layer {name!r} with {n_f} filters")
    return target, weights, idx


def _zeroed(weights: list[np.ndarray], idx: np.ndarray) -> list[np.ndarray]:
    """Copies of a layer's weights with output channels ``idx`` zeroed: the kernel
    (..., F) and every weight whose last axis is F (the bias)."""
    n_f = weights[0].shape[-1]
    new = []
    for w in weights:
        w = w.copy()
        if w.shape and w.shape[-1] == n_f:
            w[..., idx] = 0
        new.append(w)
    return new


def zero_filters(model, layer, filters: int | Sequence[int]):
    """A copy of ``model`` (same architecture, copied weights) in which the given output
    channels ("filters") of ``layer`` have kernel and bias set to zero.

    Parameters
    ----------
    model : keras.Model
    layer : name of a Conv1D/Conv2D/Dense layer (or the layer)
    filters : index or indices along the layer's last kernel axis

    Returns
    -------
    keras.Model — the original model is not modified. To knock out many filter sets in
    turn without copying the whole model each time, use :func:`filters_zeroed`.
    """
    import keras

    target, weights, idx = _filter_layer(model, layer, filters)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.get_layer(target.name).set_weights(_zeroed(weights, idx))
    return clone


@contextmanager
def filters_zeroed(model, layer, filters: int | Sequence[int]):
    """``model`` itself with the given filters of ``layer`` zeroed (kernel and bias)
    inside the ``with`` block; the layer's weights are restored on leaving it, however
    it is left. Functions traced on ``model`` (``tf.function``) see the knockout without
    being traced again, and only the one layer's weights are copied."""
    target, saved, idx = _filter_layer(model, layer, filters)
    target.set_weights(_zeroed(saved, idx))
    try:
        yield model
    finally:
        target.set_weights(saved)


# --------------------------------------------------------------------------------------
# input-side knockout
# --------------------------------------------------------------------------------------


def motif_scores(sequences: np.ndarray, pwm: np.ndarray, *,
                 background=(0.25, 0.25, 0.25, 0.25), pseudocount: float = 0.01,
                 batch_size: int = 512) -> np.ndarray:
    """Relative log-odds score ``(s − min)/(max − min)`` of a (w, 4) frequency matrix at
    every start position on both strands: (n, L − w + 1), the max of the two strands."""
    import tensorflow as tf

    p = np.asarray(pwm, np.float64) + pseudocount
    p = p / p.sum(axis=1, keepdims=True)
    lo = np.log2(p / np.asarray(background)[None, :])
    smin, smax = lo.min(axis=1).sum(), lo.max(axis=1).sum()
    k = np.stack([lo, lo[::-1, ::-1]], axis=-1).astype(np.float32)  # (w, 4, 2)
    k_tf = tf.constant(k)
    out = []
    for a in range(0, len(sequences), batch_size):
        x = tf.constant(np.asarray(sequences[a:a + batch_size], np.float32))
        s = tf.nn.conv1d(x, k_tf, 1, "VALID").numpy().max(axis=-1)
        out.append((s - smin) / (smax - smin))
    return np.concatenate(out) if out else np.zeros((0, 0))


def mask_motif(sequences: np.ndarray, pwm: np.ndarray, *, min_score: float = 0.85,
               fill: float | Sequence[float] = 0.25, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Replace every motif instance (relative score ≥ ``min_score`` on either strand) by
    ``fill`` (0.25: uniform, 0: N).

    Returns
    -------
    masked : float32 copy of ``sequences`` (n, L, 4)
    n_sites : (n,) instances masked per sequence
    """
    scores = motif_scores(sequences, pwm, **kw)
    w = len(pwm)
    out = np.array(sequences, np.float32, copy=True)
    fillv = np.broadcast_to(np.asarray(fill, np.float32), (4,))
    hits = scores >= min_score
    n_sites = hits.sum(axis=1)
    for i, j in zip(*np.nonzero(hits)):
        out[i, j:j + w] = fillv
    return out, n_sites


# --------------------------------------------------------------------------------------
# effects and tests
# --------------------------------------------------------------------------------------


def predict_examples(model, inputs, *, output: str | int | None = None,
                     batch_size: int = 256) -> np.ndarray:
    """The model's predictions, (n, units), one batch at a time in inference mode;
    ``inputs`` by input name or in the model's input order (array-likes sliced per batch),
    ``output`` the output of a multi-output model."""
    from kerasgene.explain.attribution import as_input_list, chunk_inputs, scalar_model

    view = scalar_model(model, output)
    xs = as_input_list(model, inputs)
    n = len(xs[0])
    out = []
    for lo in range(0, n, batch_size):
        y = view(chunk_inputs(xs, slice(lo, lo + batch_size)), training=False)
        out.append(np.asarray(y).reshape(min(batch_size, n - lo), -1))
    return np.concatenate(out)


def effects(ids: Sequence, wild_type: np.ndarray, knockout: np.ndarray) -> dict[str, np.ndarray]:
    """``{id, wild_type, knockout, delta = knockout − wild type}``, each (n,)."""
    wild_type, knockout = np.asarray(wild_type), np.asarray(knockout)
    ids_arr = np.asarray(ids)
    if not len(ids_arr) == len(wild_type) == len(knockout):
        raise ConfigError(f"{len(ids_arr)} ids for {len(wild_type)} wild-type and "
                          f"{len(knockout)} knockout predictions")
    return {"id": ids_arr, "wild_type": wild_type, "knockout": knockout,
            "delta": knockout - wild_type}


def knockout_effects(
    model,
    inputs,
    *,
    knockout_model=None,
    knockout_inputs=None,
    ids: Sequence | None = None,
    output: str | int | None = None,
    unit: int | None = None,
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Wild-type vs knockout predictions per example.

    Give ``knockout_model`` (e.g. :func:`zero_filters`) and/or ``knockout_inputs`` (e.g.
    with a motif masked); the knockout prediction uses both (each defaults to the
    wild-type).

    Returns
    -------
    :func:`effects`: ``id``, ``wild_type``, ``knockout``, ``delta`` = knockout − wild
    type, each (n,); ``unit`` selects the output unit (class) of a multi-unit output
    (default: a classifier's last class, as ``kerasgene explain``; else the first unit).
    """
    from kerasgene.explain.attribution import default_unit

    if knockout_model is None and knockout_inputs is None:
        raise ConfigError("knockout_effects needs knockout_model or knockout_inputs")
    if unit is None:
        unit = default_unit(model, output) or 0
    wt = predict_examples(model, inputs, output=output, batch_size=batch_size)[:, unit]
    ko = predict_examples(knockout_model or model,
                          knockout_inputs if knockout_inputs is not None else inputs,
                          output=output, batch_size=batch_size)[:, unit]
    return effects(np.arange(len(wt)) if ids is None else ids, wt, ko)


def gene_effects(effects: Mapping[str, np.ndarray], genes: Sequence | None = None
                 ) -> dict[str, np.ndarray]:
    """Per gene: mean wild type, mean knockout, mean Δ and mean |Δ| over its examples
    (e.g. DeepRAGE's conditions). ``genes`` (n,) labels the examples (default the ids)."""
    g = np.asarray(effects["id"] if genes is None else genes)
    uniq, inv = np.unique(g, return_inverse=True)
    cnt = np.bincount(inv).astype(np.float64)

    def mean(v):
        return np.bincount(inv, weights=np.asarray(v, np.float64)) / cnt

    return {"gene": uniq, "n": cnt.astype(np.int64), "wild_type": mean(effects["wild_type"]),
            "knockout": mean(effects["knockout"]), "delta": mean(effects["delta"]),
            "abs_delta": mean(np.abs(effects["delta"]))}


@dataclass
class KnockoutTest:
    """Result of :func:`knockout_test`."""

    n_targets: int
    n_other: int
    median_abs_delta_targets: float
    median_abs_delta_other: float
    ranksum_statistic: float
    ranksum_p: float
    top_k: int
    targets_in_top_k: int
    fisher_odds_ratio: float
    fisher_p: float
    top_genes: list

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def knockout_test(genes: Sequence, abs_delta: Sequence[float], targets: Iterable, *,
                  top_k: int = 5) -> KnockoutTest:
    """Do the target genes move more than the others under the knockout?

    Parameters
    ----------
    genes : (n,) gene ids
    abs_delta : (n,) |Δ| per gene (:func:`gene_effects` ``abs_delta``)
    targets : ids of the regulator's target genes (a file's lines, or truth.json)
    top_k : genes ranked by |Δ| for the Fisher test (DeepRAGE: 5)

    Returns
    -------
    KnockoutTest — Wilcoxon rank-sum (one-sided: targets larger) and Fisher's exact test
    (one-sided) of targets among the top-k genes vs the rest.
    """
    from scipy.stats import fisher_exact, ranksums

    genes = np.asarray(genes)
    d = np.asarray(abs_delta, np.float64)
    # compared as text of any length: cast to the genes' dtype ('<U9'), a longer id was
    # cut to it ('YAL035C-A.1' counted as gene 'YAL035C-A')
    is_t = np.isin(genes.astype(str), np.asarray([str(t) for t in targets], dtype=str))
    n_t, n_o = int(is_t.sum()), int((~is_t).sum())
    if n_t == 0 or n_o == 0:
        raise ConfigError(f"knockout test needs target and non-target genes; got {n_t} targets "
                          f"of {len(genes)} genes (check that the target ids match the gene ids)")
    stat, p = ranksums(d[is_t], d[~is_t], alternative="greater")
    k = int(min(top_k, len(d)))
    order = np.argsort(-d, kind="stable")
    top = np.zeros(len(d), bool)
    top[order[:k]] = True
    a = int((top & is_t).sum())
    table = [[a, k - a], [n_t - a, n_o - (k - a)]]
    odds, fp = fisher_exact(table, alternative="greater")
    return KnockoutTest(n_t, n_o, float(np.median(d[is_t])), float(np.median(d[~is_t])),
                        float(stat), float(p), k, a, float(odds), float(fp),
                        genes[order[:k]].tolist())


def filter_knockout_scan(model, layer, filters: Sequence[int], inputs, *, genes: Sequence,
                         targets: Iterable, top_k: int = 5, output=None,
                         batch_size: int = 256) -> list[dict]:
    """Knock out each filter in turn (:func:`filters_zeroed`; the wild type predicted
    once) and test its effect on ``targets``: one row per filter with the
    :class:`KnockoutTest` fields."""
    targets = list(targets)
    wt = predict_examples(model, inputs, output=output, batch_size=batch_size)[:, 0]
    rows = []
    for f in filters:
        with filters_zeroed(model, layer, int(f)):
            ko = predict_examples(model, inputs, output=output, batch_size=batch_size)[:, 0]
        ge = gene_effects(effects(genes, wt, ko))
        res = knockout_test(ge["gene"], ge["abs_delta"], targets, top_k=top_k)
        rows.append({"filter": int(f), **res.as_dict()})
    return rows
