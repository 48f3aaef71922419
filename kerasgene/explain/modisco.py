"""Motif discovery the way the field does it: TF-MoDISco on hypothetical contributions.

>>> from kerasgene.explain.modisco import discover_motifs
>>> found = discover_motifs(model, {"sequence": seq, "epigenome": epi},
...                         motifs=jaspar_motifs("JASPAR2026", "vertebrates"))  # doctest: +SKIP
>>> found.rows[0]["target_name"], found.rows[0]["q_value"]  # doctest: +SKIP

The steps, each a function of its own:

1. :func:`hypothetical_contributions` — per position and base, what the model would
   credit to that base were it there: (n, L, 4). ``saliency`` (the default): the
   gradient of the output with respect to the one-hot sequence, minus its mean over the
   four bases at each position (the mean-normalised gradient of tfmodisco's and
   chromBPNet's "gradient × input" recipe: a constant added to the four bases of a
   position changes nothing the one-hot input can express). ``ig``: the same with the
   gradient averaged along the integrated-gradients path from the uniform (0.25 per
   base) sequence, the IG "multipliers" of :func:`kerasgene.explain.ig.integrated_gradients`
   (its attributions divided by ``x − 0.25``); every other input is held at its value.
   The actual contributions are ``one_hot × hypothetical``; with ``ig`` their sum per
   position is the position's IG attribution. Saliency is the default because it costs
   one gradient per sequence against ``n_steps`` (200) for IG (saliency on the demo:
   1.2 s for DeepRAGE-TP's 1,000 promoters, 38 s for iSEGnet at load 12 on 2 cores);
   which of the two finds more motifs was not measured.
2. For a pair model (DeepRAGE: one promoter × many conditions), :func:`condition_model`
   first turns the model into a model of the sequence alone: the output for every
   condition of the dataset, summarised per gene. ``mean`` (the default): the mean
   prediction over conditions; a regulator's motif then counts with the balance of the
   conditions where the regulator is up and down (on the demo most are up in far more
   conditions than down). ``spread``: ``½ · variance over conditions``, whose gradient
   is ``mean_c (f_c − f̄) ∇f_c`` — each condition's gradient weighted by how far that
   condition moves the gene, so no up/down cancellation, but the sign no longer says
   activator or repressor. ``mean`` is the default because on the demo's DeepRAGE-TP it
   recovered 6 planted motifs (4 on the TP of 500 promoters), while TF-MoDISco stopped
   on the spread's contributions with modisco-lite's own NaN error (README, "Motif
   discovery"); the contributions of 8 k-means groups of conditions (clustered by
   regulator states), stacked, recovered 5 on the same model (an experiment, not offered).
   A class model (DeepRAGE's down / baseline / up) is summarised by the probability of
   one class (``target``; ``kerasgene explain``: ``--target-class``, by default the last,
   ``up``): its mean over conditions, or its spread.
3. :func:`run_modisco` — tfmodisco-lite (``modiscolite.tfmodisco.TFMoDISco``): seqlets
   where the contribution is high against a Laplace null, clustered into patterns per
   sign (positive / negative metacluster); each :class:`Pattern` has its PPM, its
   contribution weight matrix (CWM) and its seqlets.
4. :func:`pattern_matches` — each pattern trimmed where ``Σ|CWM|`` is at least 0.3 of
   its maximum (as modisco's own report does), then Tomtom (memelite, via
   :func:`kerasgene.explain.motifs.tomtom_matches`) against JASPAR, three matches each;
   :func:`pattern_rows` makes the table (one row per pattern).
5. :func:`planted_recovery` — on simulated data, which planted motifs some query (a
   pattern or a filter) matches at q ≤ the threshold: as its best match (strict) or
   among its three best (lenient: a paralog's matrix of the same site may come first).

tfmodisco-lite compiles its numba kernels on first use on a machine (~2 minutes,
cached on disk afterwards) and forks worker processes that use no TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from kerasgene.errors import ConfigError, KerasgeneError

log = logging.getLogger(__name__)

#: How the hypothetical contributions are computed.
ATTRIBUTIONS = ("saliency", "ig")
#: How a pair model's conditions are summarised per sequence.
SUMMARIES = ("mean", "spread")
#: Fraction of the largest per-position Σ|CWM| kept when trimming a pattern (modisco's).
TRIM_FRACTION = 0.3
#: :func:`discover_motifs`' progress line: steps done, elapsed time, the step under way
_PHASE_BAR = "{desc}: {n}/{total} [{elapsed}]{postfix}"


# --------------------------------------------------------------------------------------
# hypothetical contributions
# --------------------------------------------------------------------------------------


def mean_normalise(grads: np.ndarray) -> np.ndarray:
    """``grads − mean over the last (base) axis``: (n, L, 4) → (n, L, 4) float64."""
    g = np.asarray(grads, np.float64)
    return g - g.mean(axis=-1, keepdims=True)


def _multipliers(attr: np.ndarray, x: np.ndarray, base: float) -> np.ndarray:
    """IG attributions divided by ``x − base`` (0 where they are equal)."""
    d = np.asarray(x, np.float64) - base
    out = np.zeros(attr.shape, np.float64)
    np.divide(attr, d, out=out, where=np.abs(d) > 1e-6)
    return out


def hypothetical_contributions(
    model,
    inputs: Mapping[str, np.ndarray],
    *,
    method: str = "saliency",
    input_name: str = "sequence",
    n_steps: int | str = 200,
    batch_size: int = 64,
    target: int | None = None,
) -> np.ndarray:
    """Hypothetical contributions of every base at every position of ``input_name``.

    Parameters
    ----------
    model : keras model with a one-hot DNA input ``input_name`` and one scalar output
    inputs : ``{input name: (n, ...)}`` for every model input; the others are held at
        their values
    method : ``saliency`` (gradient at the input) or ``ig`` (gradient averaged along the
        IG path from the uniform sequence; ``n_steps`` nodes)
    target : a classifier's class whose probability is attributed (None: the output's
        value; :func:`kerasgene.explain.saliency.saliency`'s ``target``)

    Returns
    -------
    (n, L, 4) float64, mean over the four bases 0 at every position.
    """
    from kerasgene.explain.attribution import input_names

    if method not in ATTRIBUTIONS:
        raise ConfigError(f"modisco attribution: expected one of {list(ATTRIBUTIONS)}, "
                          f"got {method!r}")
    names = input_names(model)
    if input_name not in names:
        raise ConfigError(f"model {model.name!r} has no input {input_name!r}; inputs: {names}")
    x = np.asarray(inputs[input_name], np.float32)
    if method == "saliency":
        from kerasgene.explain.saliency import saliency

        grads = saliency(model, inputs, batch_size=max(batch_size, 64), target=target)
        return mean_normalise(grads[names.index(input_name)])
    from kerasgene.explain.ig import integrated_gradients

    baselines = {n: ("uniform" if n == input_name else np.asarray(inputs[n], np.float32))
                 for n in names}
    res = integrated_gradients(model, inputs, baselines=baselines, n_steps=n_steps,
                               batch_size=batch_size, target=target)
    return mean_normalise(_multipliers(res[input_name], x, 0.25))


# --------------------------------------------------------------------------------------
# pair models: one sequence × many conditions
# --------------------------------------------------------------------------------------


def condition_model(model, conditions: Mapping[str, np.ndarray], *, summary: str = "mean",
                    input_name: str = "sequence", target: int | None = None):
    """A one-input model of the sequence: the pair model's prediction for every
    condition, summarised per sequence.

    Parameters
    ----------
    model : a pair model with inputs ``input_name`` (one-hot DNA) and one condition input
    conditions : ``{condition input name: (C, R)}`` — every condition to summarise over
    summary : ``mean`` or ``spread`` (``½ · variance over conditions``)
    target : a class model's class whose probability is summarised (its unit of the
        output); None for a model of one output unit (a regression), whose value is
        summarised

    Returns
    -------
    keras.Model ``(n, L, 4) → (n, 1)``
    """
    import keras
    import tensorflow as tf

    from kerasgene.train.block_trainer import pair_outputs

    if summary not in SUMMARIES:
        raise ConfigError(f"modisco summary: expected one of {list(SUMMARIES)}, got {summary!r}")
    if len(conditions) != 1:
        raise ConfigError(f"condition_model takes one condition input, got {list(conditions)}")
    (cond_name, conds), = conditions.items()
    unit = _summarised_unit(model, target)
    outputs = pair_outputs(model, input_name, cond_name)
    conds = tf.constant(np.asarray(conds, np.float32))

    class ConditionSummary(keras.layers.Layer):
        def compute_output_shape(self, shape):
            return (shape[0], 1)

        def call(self, x):
            f = outputs(x, conds)
            if unit is not None:  # (G, C, classes) → the target class's probability
                f = f[..., unit]
            if summary == "mean":
                return tf.reduce_mean(f, axis=1, keepdims=True)
            return 0.5 * tf.math.reduce_variance(f, axis=1, keepdims=True)

    seq = model.inputs[[t.name for t in model.inputs].index(input_name)]
    x = keras.Input(tuple(seq.shape[1:]), name=input_name)
    return keras.Model(x, ConditionSummary(name=f"condition_{summary}")(x),
                       name=f"{model.name}_{summary}")


def _summarised_unit(model, target: int | None) -> int | None:
    """The output unit :func:`condition_model` summarises: ``target`` for an output of
    several units (a class model), None for one unit (``target`` must then be None)."""
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise ConfigError(f"condition_model: model {model.name!r} must have one output of "
                          f"shape (batch, units), got {[o.shape for o in model.outputs]}")
    units = int(model.outputs[0].shape[1])
    if units == 1:
        if target is not None:
            raise ConfigError(f"condition_model: model {model.name!r} has one output unit (a "
                              f"regression), not classes; expected no target, got {target}")
        return None
    if target is None or not 0 <= target < units:
        raise ConfigError(f"condition_model: model {model.name!r} predicts {units} classes; "
                          f"expected the target class whose probability is summarised, in "
                          f"[0, {units}), got {target}")
    return int(target)


# --------------------------------------------------------------------------------------
# TF-MoDISco
# --------------------------------------------------------------------------------------


@dataclass
class Pattern:
    """One TF-MoDISco pattern.

    Attributes
    ----------
    name : ``pos_pattern_<k>`` / ``neg_pattern_<k>`` (modisco's group and index)
    metacluster : ``positive`` or ``negative`` (sign of the seqlets' contributions)
    ppm : (w, 4) base frequencies over the seqlets
    cwm : (w, 4) mean contribution (one-hot × hypothetical) per base
    hcwm : (w, 4) mean hypothetical contribution
    seqlets : ``(example, start, end, reverse complement)`` of every seqlet
    """

    name: str
    metacluster: str
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray
    seqlets: list[tuple[int, int, int, bool]] = field(default_factory=list)

    @property
    def n_seqlets(self) -> int:
        return len(self.seqlets)

    def trim(self, fraction: float = TRIM_FRACTION) -> tuple[int, int]:
        """``(start, end)`` of the positions whose ``Σ|CWM|`` is at least ``fraction``
        of the largest (modisco's report trims so before Tomtom)."""
        score = np.abs(self.cwm).sum(axis=1)
        keep = np.flatnonzero(score >= fraction * score.max()) if score.max() > 0 else []
        if not len(keep):
            return 0, len(score)
        return int(keep[0]), int(keep[-1]) + 1


def _patterns(found, sign: str) -> list[Pattern]:
    out = []
    for k, p in enumerate(found or []):
        seqlets = [(int(s.example_idx), int(s.start), int(s.end), bool(s.is_revcomp))
                   for s in p.seqlets]
        out.append(Pattern(f"{sign[:3]}_pattern_{k}", sign, np.array(p.sequence),
                           np.array(p.contrib_scores), np.array(p.hypothetical_contribs),
                           seqlets))
    return out


def run_modisco(
    one_hot: np.ndarray,
    hypothetical: np.ndarray,
    *,
    max_seqlets: int = 2000,
    n_leiden_runs: int = 5,
    window: int = 21,
    flank: int = 10,
    min_metacluster_size: int = 100,
    final_min_cluster_size: int = 20,
) -> tuple[list[Pattern], object]:
    """TF-MoDISco (tfmodisco-lite) on one-hot sequences and hypothetical contributions.

    Parameters
    ----------
    one_hot : (n, L, 4) one-hot DNA (N rows may hold any background)
    hypothetical : (n, L, 4) hypothetical contributions (:func:`hypothetical_contributions`)
    max_seqlets : seqlets per metacluster (modisco's ``max_seqlets_per_metacluster``;
        its default 20,000 costs minutes per thousand on a few cores)
    n_leiden_runs : Leiden clusterings (random seeds) per clustering step, the best
        kept; modisco's default 50 runs one thread each and dominated the cost on the
        demo's shared 2 cores (README, "Motif discovery")
    window, flank, min_metacluster_size, final_min_cluster_size :
        modisco's settings (``sliding_window_size``, ``flank_size``, ...); a metacluster
        with no more than ``min_metacluster_size`` seqlets is skipped

    Returns
    -------
    (patterns, raw) — the positive patterns then the negative ones, and modisco's own
    ``(pos_patterns, neg_patterns)`` (for :func:`save_modisco_h5`).
    """
    from modiscolite.tfmodisco import TFMoDISco

    x = np.ascontiguousarray(one_hot, np.float32)
    h = np.ascontiguousarray(hypothetical, np.float32)
    if x.shape != h.shape or x.ndim != 3 or x.shape[2] != 4:
        raise ConfigError(f"modisco: one-hot {x.shape} and contributions {h.shape} must be "
                          "the same (n, L, 4)")
    try:
        pos, neg = TFMoDISco(x, h, max_seqlets_per_metacluster=max_seqlets,
                             n_leiden_runs=n_leiden_runs, sliding_window_size=window,
                             flank_size=flank, min_metacluster_size=min_metacluster_size,
                             final_min_cluster_size=final_min_cluster_size)
    except ValueError as err:  # modisco-lite's own, e.g. sklearn's NaN check in merging
        zeros = float(np.mean((x * h).sum(axis=-1) == 0))
        raise KerasgeneError(
            f"TF-MoDISco (modisco-lite) failed on these contributions: {err} "
            f"({zeros:.0%} of the positions contribute exactly 0, and modisco-lite's Jaccard "
            "similarity of two all-zero seqlets is 0/0; on DeepRAGE-TP, whose global max "
            "pooling passes gradient to few positions, attribution 'ig' failed so and summary "
            "'spread' with the same error; 'saliency' with 'mean' runs)") from err
    return _patterns(pos, "positive") + _patterns(neg, "negative"), (pos, neg)


def save_modisco_h5(path, raw, window: int = 21):
    """modisco's own results file (``modisco report`` and other tools read it)."""
    from modiscolite.io import save_hdf5

    from kerasgene._io import write_atomic

    return write_atomic(path, lambda tmp: save_hdf5(str(tmp), raw[0], raw[1], window))


# --------------------------------------------------------------------------------------
# Tomtom and the planted truth
# --------------------------------------------------------------------------------------


#: Columns of :func:`pattern_rows` (``modisco_patterns.tsv``).
PATTERN_COLUMNS = ("pattern", "metacluster", "n_seqlets", "start", "end", "width",
                   "consensus", "target_id", "target_name", "p_value", "e_value", "q_value",
                   "strand", "others", "rank", "query")


#: Tomtom matches kept per query, and the rank within which a planted motif counts as
#: found in the lenient recovery count (modisco's own report lists three matches).
N_MATCHES = 3


def pattern_matches(patterns: Sequence[Pattern], motifs, *, n_best: int = N_MATCHES,
                    min_ic: float | None = 2.0) -> list[dict]:
    """Tomtom rows (:func:`kerasgene.explain.motifs.tomtom_matches`: ``query, rank,
    target_id, target_name, p_value, e_value, q_value, strand, ...``) of every pattern's
    trimmed PPM against ``motifs``, the ``n_best`` best per pattern."""
    from kerasgene.explain.motifs import tomtom_matches

    queries = {p.name: p.ppm[slice(*p.trim())] for p in patterns}
    return tomtom_matches(queries, motifs, n_best=n_best, min_ic=min_ic)


def pattern_rows(patterns: Sequence[Pattern], matches: Sequence[Mapping]) -> list[dict]:
    """One row per pattern: its best Tomtom match and the next ones (``matches``:
    :func:`pattern_matches`).

    Returns
    -------
    list of dict: ``pattern, metacluster, n_seqlets, start, end, width, consensus,
    target_id, target_name, p_value, e_value, q_value, strand, others`` (the next matches
    as ``ID name (q)``) and ``rank`` = 1, ``query`` = the pattern name (so that
    :func:`planted_recovery` reads pattern and filter rows alike).
    """
    from kerasgene.dna import BASES

    hits: dict[str, list[Mapping]] = {}
    for r in sorted(matches, key=lambda r: r["rank"]):
        hits.setdefault(r["query"], []).append(r)
    rows = []
    for p in patterns:
        a, b = p.trim()
        best, *others = hits.get(p.name) or [{}]
        rows.append({
            "pattern": p.name, "metacluster": p.metacluster, "n_seqlets": p.n_seqlets,
            "start": a, "end": b, "width": b - a,
            "consensus": "".join(BASES[i] for i in p.ppm[a:b].argmax(axis=1)),
            "target_id": best.get("target_id", ""), "target_name": best.get("target_name", ""),
            "p_value": best.get("p_value", 1.0), "e_value": best.get("e_value", np.nan),
            "q_value": best.get("q_value", 1.0), "strand": best.get("strand", "+"),
            "others": "; ".join(f"{o['target_id']} {o['target_name']} ({o['q_value']:.2g})"
                                for o in others),
            "rank": 1, "query": p.name})
    return rows


def planted_motifs(section: Mapping) -> list[dict]:
    """``[{name, ids}]`` of the motifs planted in a simulator ``truth.json`` task section:
    its ``regulators`` (DeepRAGE: ``tf``, ``jaspar_id`` and ``called_with``, the matrix
    the sites were called with) or its ``motifs`` (iSEGnet: ``name``, ``jaspar_id``)."""
    out = []
    for r in section.get("regulators") or []:
        ids = list(dict.fromkeys([r["jaspar_id"], r.get("called_with", r["jaspar_id"])]))
        out.append({"name": r.get("tf", r["jaspar_id"]), "ids": ids})
    for m in section.get("motifs") or []:
        out.append({"name": m.get("name", m["jaspar_id"]), "ids": [m["jaspar_id"]]})
    return out


def planted_recovery(rows_by_source: Mapping[str, Sequence[Mapping]],
                     planted: Sequence[Mapping], *, q_threshold: float = 0.1,
                     max_rank: int = 1) -> list[dict]:
    """Which planted motifs some query matches at q ≤ ``q_threshold`` within its best
    ``max_rank`` Tomtom matches.

    ``max_rank`` = 1 (the strict count): the planted motif is the query's best match.
    ``max_rank`` = :data:`N_MATCHES` (the lenient count): it is among the query's three
    best, for a query whose best match is a paralog's matrix of the same site (on the
    demo INO4's CATGTG pattern matches INO2 best, its heterodimer partner's matrix, and
    PHO4's CACGTG filter RTG3's, another E-box factor; the planted matrix comes second or
    third at q ≤ 0.012). Versions are ignored (MA0337.2 ≈ MA0337.1).

    Parameters
    ----------
    rows_by_source : ``{"filters": filter rows, "modisco": pattern rows}`` — Tomtom rows
        with ``query, rank, target_id, q_value`` (:func:`pattern_matches`,
        :func:`kerasgene.explain.motifs.filter_matches`), every rank a query has
    planted : :func:`planted_motifs`

    Returns
    -------
    one row per planted motif: ``name, ids``, per source the matching queries and the
    planted motif's best q among them (``<source>``, ``<source>_q``), and ``recovered``
    (by any source).
    """
    from kerasgene.explain.motifs import matrix_base, motif_recovery

    out = []
    for m in planted:
        ids = {matrix_base(i) for i in m["ids"]}
        row: dict = {"name": m["name"], "ids": ",".join(m["ids"]), "recovered": False}
        for source, rows in rows_by_source.items():
            found = motif_recovery(rows, m["ids"], q_threshold=q_threshold, max_rank=max_rank)
            queries = {q for qs in found.values() for q in qs}
            row[source] = ",".join(sorted(queries))
            row[f"{source}_q"] = min((r["q_value"] for r in rows if r["query"] in queries
                                      and r["rank"] <= max_rank and r["target_id"]
                                      and matrix_base(r["target_id"]) in ids), default=np.nan)
            row["recovered"] |= bool(queries)
        out.append(row)
    return out


# --------------------------------------------------------------------------------------
# all of it
# --------------------------------------------------------------------------------------


@dataclass
class Discovery:
    """What :func:`discover_motifs` found: ``patterns``, one Tomtom row each (``rows``,
    :func:`pattern_rows`) and every match (``matches``, :func:`pattern_matches`; both
    empty without ``motifs``), the ``contributions`` (n, L, 4), modisco's ``raw`` result
    and the wall-clock ``seconds`` of each step (``attribution``, ``modisco``,
    ``tomtom``)."""

    patterns: list[Pattern]
    rows: list[dict]
    contributions: np.ndarray
    raw: object
    seconds: dict[str, float] = field(default_factory=dict)
    matches: list[dict] = field(default_factory=list)


def discover_motifs(
    model,
    inputs: Mapping[str, np.ndarray],
    *,
    conditions: Mapping[str, np.ndarray] | None = None,
    motifs=None,
    method: str = "saliency",
    summary: str = "mean",
    input_name: str = "sequence",
    n_steps: int | str = 200,
    batch_size: int = 64,
    target: int | None = None,
    **modisco,
) -> Discovery:
    """Hypothetical contributions → TF-MoDISco patterns → Tomtom against ``motifs``.

    Parameters
    ----------
    model : keras model with a one-hot DNA input ``input_name``
    inputs : ``{input name: (n, ...)}``: the sequences and the model's other inputs per
        sequence; for a pair model only the sequences (one per gene)
    conditions : pair models (DeepRAGE): ``{condition input: (C, R)}``, summarised per
        sequence by ``summary`` (:func:`condition_model`; a class model's ``target``
        class probability)
    motifs : JASPAR motifs (:func:`kerasgene.explain.motifs.jaspar_motifs`) or None
    method, n_steps, batch_size, target : :func:`hypothetical_contributions`
    **modisco : :func:`run_modisco` settings

    Returns
    -------
    Discovery
    """
    import time

    if conditions is not None:  # a class's probability is summarised, then attributed
        model = condition_model(model, conditions, summary=summary, input_name=input_name,
                                target=target)
        inputs, target = {input_name: inputs[input_name]}, None
    with tqdm(total=3, desc="TF-MoDISco", unit="step", bar_format=_PHASE_BAR) as bar:
        t = [time.perf_counter()]
        bar.set_postfix_str(f"{method} contributions of {len(inputs[input_name])} sequences")
        hyp = hypothetical_contributions(model, inputs, method=method, input_name=input_name,
                                         n_steps=n_steps, batch_size=batch_size,
                                         target=target)
        t.append(time.perf_counter())
        bar.update()
        bar.set_postfix_str("modisco-lite: seqlets and clustering")
        patterns, raw = run_modisco(np.asarray(inputs[input_name]), hyp, **modisco)
        t.append(time.perf_counter())
        bar.update()
        bar.set_postfix_str(f"Tomtom of {len(patterns)} patterns")
        matches = pattern_matches(patterns, motifs) if motifs is not None and patterns else []
        rows = pattern_rows(patterns, matches) if motifs is not None else []
        t.append(time.perf_counter())
        bar.update()
    seconds = {k: round(b - a, 1) for k, a, b in zip(("attribution", "modisco", "tomtom"),
                                                      t, t[1:])}
    log.info("modisco: %d patterns from %d sequences (%s s)", len(patterns), len(hyp), seconds)
    return Discovery(patterns, rows, hyp, raw, seconds, matches)
