"""Attributions scored against a simulated planted truth (``truth.json``): AUROC of
attribution at planted positions per track."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kerasgene.errors import ConfigError

# --------------------------------------------------------------------------------------
# checks against planted truth
# --------------------------------------------------------------------------------------


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (Mann–Whitney, ties
    counted half)."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels, bool).ravel()
    n1 = int(labels.sum())
    n0 = len(labels) - n1
    if n1 == 0 or n0 == 0:
        raise ConfigError("AUROC needs both positive and negative positions")
    r = rankdata(scores)
    return float((r[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def planted_position_auroc(attributions: np.ndarray, signal_mask: np.ndarray) -> float:
    """AUROC of |attribution| for planted vs other positions.

    Parameters
    ----------
    attributions : (n, L) site-level attribution of one track, or (n, L, C) (summed over
        channels first, e.g. one-hot DNA)
    signal_mask : (L,) positions carrying signal for every gene, or (n, L) per gene
    """
    a = np.asarray(attributions)
    if a.ndim == 3:
        a = a.sum(axis=-1)
    mask = np.asarray(signal_mask, bool)
    if mask.ndim == 1:
        mask = np.broadcast_to(mask, a.shape)
    if mask.shape != a.shape:
        raise ConfigError(f"signal_mask has shape {mask.shape}; attributions {a.shape}")
    return auroc(np.abs(a), mask)


def truth_signal_mask(task_truth: Mapping, track: str, length: int | None = None) -> np.ndarray:
    """(L,) boolean mask of the window positions where ``truth.json`` says ``track``
    carries signal (``tasks.isegnet.features[*].window_index`` of that track)."""
    feats = [f for f in task_truth.get("features", []) if f.get("track") == track]
    if not feats:
        have = sorted({f.get("track") for f in task_truth.get("features", [])})
        raise ConfigError(f"truth has no feature on track {track!r}; tracks with signal: {have}")
    if length is None:
        length = sum(int(w["end"]) - int(w["start"]) for w in task_truth["window"])
    mask = np.zeros(length, bool)
    for f in feats:
        a, b = f["window_index"]
        mask[a:b] = True
    return mask


def planted_track_aurocs(tracks: Mapping[str, np.ndarray], task_truth: Mapping
                         ) -> dict[str, float]:
    """:func:`planted_position_auroc` of every track that ``truth.json`` says carries
    signal (``tasks.isegnet``), e.g. ``{"DNase": 0.97, "H3K4me3": 0.93, ...}``.

    Parameters
    ----------
    tracks : ``{track: (n, L)}`` site-level attributions (:func:`attribution_tracks`)
    task_truth : ``truth["tasks"]["isegnet"]``
    """
    out = {}
    for f in task_truth.get("features", []):
        t = f.get("track")
        if t in tracks and t not in out:
            v = np.asarray(tracks[t])
            out[t] = planted_position_auroc(v, truth_signal_mask(task_truth, t, v.shape[1]))
    return out


def planted_site_contributions(contributions: np.ndarray, sequence_ids, instances: Mapping,
                               names, *, rng: np.random.Generator, n_null: int = 5
                               ) -> dict[str, dict]:
    """How much attribution each planted motif's sites carry — whether the model uses the
    motif at all, before any motif discovery: a motif whose sites carry no more than
    random windows cannot be recovered from the model's attributions.

    Each planted site (sequence ``i``, window positions ``[s, s + w)``) is compared with
    the windows at the same positions in ``n_null`` random other sequences holding no
    site of that motif (a null matched for position: promoter-proximal positions carry
    more attribution than distal ones).

    Parameters
    ----------
    contributions : (n, L) per-position contribution (one-hot × hypothetical contribution,
        summed over the bases)
    sequence_ids : (n,) the id of each sequence, as ``instances`` keys them
    instances : ``truth.json``'s ``motif_instances``: ``{id: [{motif, start, end, ...}]}``;
        a site's position in the model's window is its ``window_start`` where given
        (iSEGnet: oriented window index) else its ``start``; sites marked ``"effective":
        false`` (outside the region where the simulator lets the motif act) are left out;
        a site counts for a planted name in its ``tfs`` (DeepRAGE: regulators sharing a
        motif) or equal to its ``motif``
    names : the planted motifs to score
    rng : draws the null sequences

    Returns
    -------
    ``{name: {"n_sites", "n_outside", "effect_sd", "z"}}``: ``effect_sd`` = (mean site
    sum − mean null sum) / sd of the null sums (per-site effect size, signed: > 0 where the
    sites raise the output); ``z`` = ``effect_sd · √n_sites`` (of the mean); NaN without
    sites; ``n_outside``: effective sites not inside the ``L`` positions (not scored).
    """
    a = np.asarray(contributions, np.float64)
    ids = [str(x) for x in sequence_ids]
    n, length = a.shape
    out = {}
    for name in names:
        sites, holders, outside = [], set(), 0
        for i, key in enumerate(ids):
            for inst in instances.get(key, ()):
                if name not in inst.get("tfs", [inst.get("motif")]):
                    continue
                holders.add(i)  # any site of the motif disqualifies the sequence as null
                if "start" not in inst or "end" not in inst:
                    raise ConfigError(f"truth motif_instances[{key!r}]: a {name} site without "
                                      f"'start' and 'end' (got keys {sorted(inst)})")
                s = int(inst.get("window_start", inst["start"]))
                w = int(inst["end"]) - int(inst["start"])
                if not inst.get("effective", True):
                    continue
                if s >= 0 and s + w <= length:
                    sites.append((i, s, w))
                else:
                    outside += 1
        others = np.array(sorted(set(range(n)) - holders))
        if not sites or not len(others):
            out[name] = {"n_sites": len(sites), "n_outside": outside,
                         "effect_sd": float("nan"), "z": float("nan")}
            continue
        site_sums = np.array([a[i, s:s + w].sum() for i, s, w in sites])
        null = np.array([a[j, s:s + w].sum() for _i, s, w in sites
                         for j in rng.choice(others, n_null)])
        effect = (site_sums.mean() - null.mean()) / null.std()
        out[name] = {"n_sites": len(sites), "n_outside": outside, "effect_sd": float(effect),
                     "z": float(effect * np.sqrt(len(sites)))}
    return out
