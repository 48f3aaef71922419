"""The analyses of ``kerasgene explain``, each on a trained model and its prepared dataset.

Every analysis takes ``(model, dataset, out, options, rng)`` — a Keras model, the
:class:`~kerasgene.datasets.Dataset` it was trained on (or anything with the same
``arrays``, ``index``, ``meta``, ``split_indices`` and ``gather``), an output directory,
the :class:`~kerasgene.explain.options.ExplainOptions` and a numpy ``Generator`` — writes
its tables and figures into ``out`` and returns a JSON-able summary:

- :func:`explain_isegnet_ig` (``ig``, ``differential``): integrated gradients of an
  iSEGnet-like model, per-track profiles, per-gene figures, top sites, motif enrichment
  at the top sites and the differential attribution against a second model;
- :func:`explain_filters` (``motifs``): first-layer filter PWMs matched to JASPAR;
- :func:`explain_knockout` (``knockout``): DeepRAGE filter knockouts of regulators'
  targets;
- :func:`explain_modisco` (``modisco``): TF-MoDISco patterns of the hypothetical
  contributions matched to JASPAR, their logos and an HTML report;
- :func:`explain_saliency` (``saliency``): mean signed gradient heatmaps per cell type.

The files each writes are listed in :mod:`kerasgene.explain.run`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kerasgene import systems
from kerasgene._io import safe_name, write_tsv
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.explain.options import requested_analyses

if TYPE_CHECKING:
    from kerasgene.explain.options import ExplainOptions

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# shared
# --------------------------------------------------------------------------------------


def _sample(idx: np.ndarray, n: int, rng) -> np.ndarray:
    if len(idx) > n:
        idx = np.sort(rng.choice(idx, n, replace=False))
    return idx


def model_inputs(model, got: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays of ``got`` that ``model`` takes, by input name.

    Raises
    ------
    ConfigError
        the model takes an input that ``got`` lacks.
    """
    from kerasgene.explain.attribution import input_names

    names = input_names(model)
    missing = [n for n in names if n not in got]
    if missing:
        raise ConfigError(f"the dataset has no input {missing} that the model takes ({names})")
    return {n: got[n] for n in names}


def truth_section(path: str | Path, system: str) -> dict:
    """``tasks.<system>`` of a simulator ``truth.json``.

    Raises
    ------
    InputFileError
        not readable JSON, or no such section.
    """
    try:
        truth = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: expected a truth.json written by kerasgene simulate "
                             f"({err})") from None
    section = truth.get("tasks", {}).get(system) if isinstance(truth, dict) else None
    if not isinstance(section, dict):
        raise InputFileError(f"{path}: no tasks.{system} section (not a kerasgene simulate "
                             "truth.json?)")
    return section


def _files(value) -> list[str]:
    """The relative paths of a truth section's ``files`` (nested mappings flattened)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [f for v in value.values() for f in _files(v)]
    return []


def check_truth(path: str | Path, dataset, system: str) -> dict:
    """``tasks.<system>`` of ``path`` (:func:`truth_section`), checked against the run's
    ``dataset``: the dataset must read files this truth.json lists (``files``, relative to
    its folder; matched by their path's end), and those that lie beside it must be the
    same files (size and SHA-256 prefix of the dataset's ``meta.json``). A truth.json
    copied alone is taken as it is.

    Raises
    ------
    InputFileError
        not a truth.json with that section; a run trained on other (real, or another
        seed's or scale's) data.
    """
    from kerasgene.datasets.base import fingerprint

    try:
        section = truth_section(path, system)
    except InputFileError as err:
        raise InputFileError(f"--truth: {err}") from None
    recorded = [spec for spec in ((getattr(dataset, "meta", None) or {}).get("inputs") or {})
                .values() if isinstance(spec, Mapping) and "path" in spec]
    files = _files(section.get("files"))
    if not recorded or not files:
        return section
    pairs = [(rel, spec) for rel in files for spec in recorded
             if Path(spec["path"]).parts[-len(Path(rel).parts):] == Path(rel).parts]
    if not pairs:
        raise InputFileError(f"--truth: {path}: the run's dataset reads none of the files it "
                             f"describes ({', '.join(files[:3])}, ...); expected the truth.json "
                             "of the simulated data the run was trained on")
    for rel, spec in pairs:
        here = Path(path).parent / rel
        if not here.is_file():
            continue
        now = fingerprint(here)
        if (now["size"], now["sha256_prefix"]) != (spec.get("size"), spec.get("sha256_prefix")):
            gen = json.loads(Path(path).read_text()).get("generator") or {}
            raise InputFileError(
                f"--truth: {path} describes other data (seed {gen.get('seed')}, scale "
                f"{gen.get('scale')}): its {rel} is not the {spec['path']} the run was "
                "trained on; expected the truth.json written with the run's data")
    return section


def baseline_text(baseline: str | float | Mapping) -> str:
    """A baseline spec as written on the command line (``sequence=uniform,epigenome=0``)."""
    def one(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    if isinstance(baseline, Mapping):
        return ",".join(f"{k}={one(v)}" for k, v in baseline.items())
    return one(baseline)


# --------------------------------------------------------------------------------------
# iSEGnet: integrated gradients, top sites, enrichment, differential attribution
# --------------------------------------------------------------------------------------


def _genes_from_index(index) -> dict[str, dict]:
    cols = {"chrom", "strand", "tss", "tts"}
    if not cols <= set(index.columns):
        return {}
    out = {}
    for row in index[["gene_id", "chrom", "strand", "tss", "tts"]].itertuples(index=False):
        out[str(row.gene_id)] = {"chrom": row.chrom, "strand": row.strand,
                                 "tss": int(row.tss), "tts": int(row.tts)}
    return out


def _window_layout(params: Mapping, length: int) -> tuple[tuple[str, int, int], ...]:
    """The TSS ⊕ TTS window layout of the dataset's ``tss_flank`` and ``tts_flank``
    (default: iSEGnet's [-1000, +500] ⊕ [-500, +500]); one plain segment when that does
    not add up to the input ``length``."""
    from kerasgene.datasets.regions import DEFAULTS
    from kerasgene.datasets.windows import window_layout

    layout = window_layout(params.get("tss_flank", DEFAULTS["tss_flank"]),
                           params.get("tts_flank", DEFAULTS["tts_flank"]))
    if sum(o2 - o1 for _, o1, o2 in layout) != length:
        layout = (("start", 0, length),)
    return layout


def _ig_arguments(options: ExplainOptions) -> dict[str, Any]:
    return dict(baselines=options.baseline, n_steps=options.n_steps, method=options.method,
                engine=options.engine, batch_size=options.batch_size)


def _write_ig_tables(res, tracks, index, layout, out: Path, options: ExplainOptions) -> None:
    """``ig_summary.tsv``, ``ig_profiles.tsv`` and ``ig_track_profiles.png``."""
    from kerasgene.explain import plots as P
    from kerasgene.explain.sites import track_profiles, window_offset

    n = len(index)
    prof = track_profiles(tracks)
    write_tsv(out / "ig_summary.tsv", {
        "gene_id": index["gene_id"].astype(str).tolist(),
        "sample": index.get("sample", [""] * n), "prediction": res.output_x,
        "delta": res.delta, "residual": res.residual,
        "relative_residual": res.relative_residual, "n_steps": res.n_steps})
    length = next(iter(tracks.values())).shape[1]
    offs = [window_offset(int(i), layout) for i in range(length)]
    cols: dict[str, Any] = {"window_index": np.arange(length), "anchor": [a for a, _ in offs],
                            "offset_bp": [o for _, o in offs]}
    for t, v in prof.items():
        cols[f"{t}_mean"] = v["mean"]
        cols[f"{t}_sem"] = v["sem"]
    write_tsv(out / "ig_profiles.tsv", cols)
    P.plot_track_profiles(prof, out / "ig_track_profiles.png", layout=layout, n_genes=n,
                          title=f"Mean IG attribution per track ({options.split} genes, "
                                f"{baseline_text(options.baseline)} baseline)")


def _gene_plots(res, tracks, inputs, gene_ids, signal_names, layout, out: Path,
                n_plots: int) -> None:
    """``gene_<id>.png`` for the ``n_plots`` highest-predicted genes."""
    from kerasgene.explain import plots as P

    for i in np.argsort(-res.output_x)[:n_plots]:
        sig = ({t: np.asarray(inputs["epigenome"][i, :, k], np.float64)
                for k, t in enumerate(signal_names)} if "epigenome" in inputs else None)
        P.plot_gene_tracks({t: v[i] for t, v in tracks.items()}, sig,
                           out / f"gene_{safe_name(gene_ids[i])}.png", gene=gene_ids[i],
                           layout=layout)


def _top_sites(tracks, gene_ids, seq, genes, layout, out: Path, flank: int) -> dict:
    """``top_sites_<track>.fa`` (and ``.bed`` with gene coordinates) per track."""
    from kerasgene.explain.sites import top_site_regions, write_bed, write_fasta

    regions_by_track = {}
    for t, v in tracks.items():
        regs = top_site_regions(v, gene_ids, sequences=seq, genes=genes, track=t,
                                flank=flank, layout=layout)
        write_fasta(regs, out / f"top_sites_{safe_name(t)}.fa")
        if genes:
            write_bed(regs, out / f"top_sites_{safe_name(t)}.bed")
        regions_by_track[t] = regs
    return regions_by_track


def explain_isegnet_ig(model, dataset, out: Path, options: ExplainOptions, rng,
                       compare=None) -> dict:
    """IG tables and figures of an iSEGnet-like run (:mod:`kerasgene.explain.run`); with
    ``compare`` (a second model) the differential attribution too."""
    from kerasgene.datasets.regions import ISEGNET_TRACKS
    from kerasgene.explain.ig import integrated_gradients
    from kerasgene.explain.sites import attribution_tracks
    from kerasgene.explain.truth import planted_track_aurocs

    idx = _sample(dataset.split_indices(options.split), options.max_examples, rng)
    if not len(idx):
        raise ConfigError(f"split {options.split!r} has no examples")
    inputs = model_inputs(model, dataset.gather(idx))
    index = dataset.index.iloc[idx].reset_index(drop=True)
    gene_ids = index["gene_id"].astype(str).tolist()
    track_names = {"epigenome": list(dataset.meta.get("track_names") or ISEGNET_TRACKS)}
    layout = _window_layout(dataset.meta.get("params") or {},
                            next(iter(inputs.values())).shape[1])
    res = integrated_gradients(model, inputs, **_ig_arguments(options))
    tracks = attribution_tracks(res, track_names=track_names)
    _write_ig_tables(res, tracks, index, layout, out, options)
    genes = _genes_from_index(index) if layout[0][0] == "TSS" else {}
    seq = inputs.get("sequence")
    _gene_plots(res, tracks, inputs, gene_ids, track_names["epigenome"], layout, out,
                options.gene_plots)
    regions_by_track = _top_sites(tracks, gene_ids, seq, genes, layout, out, options.flank)
    summary = {"n_examples": len(idx), "engine": res.engine, "method": res.method,
               "max_relative_residual": float(res.relative_residual.max()),
               "steps_used": sorted({int(s) for s in res.n_steps}),
               "tracks": list(tracks)}
    if options.truth:  # simulated data: do planted positions get the attribution?
        summary["planted_auroc"] = planted_track_aurocs(tracks,
                                                        truth_section(options.truth, "isegnet"))
    if seq is not None and "motifs" in requested_analyses(options, "isegnet"):
        summary["enrichment"] = _enrichment(regions_by_track, np.asarray(seq), options, out,
                                            rng)
    if compare is not None:
        summary["differential"] = _differential(
            compare, model_inputs(compare, inputs), tracks, gene_ids, genes, seq,
            track_names, layout, options, out)
    return summary


def motif_database(options: ExplainOptions, tax_group: str) -> tuple[list, str]:
    """The motifs to match and how explain.json names them: ``options.motif_db``'s
    (:func:`kerasgene.explain.motifs.meme_motifs`; the file's path), else JASPAR's CORE
    matrices of ``options.jaspar_release`` and ``options.tax_group`` or ``tax_group``
    (``"JASPAR2026 fungi"``)."""
    from kerasgene.explain import motifs as M

    if options.motif_db:
        return M.meme_motifs(options.motif_db), str(options.motif_db)
    tax = options.tax_group or tax_group
    return M.jaspar_motifs(options.jaspar_release, tax), f"{options.jaspar_release} {tax}"


def _enrichment(regions_by_track, seq, options: ExplainOptions, out: Path, rng) -> dict:
    from kerasgene.explain import motifs as M
    from kerasgene.explain import plots as P

    motifs, source = motif_database(options, options.tax_group or "vertebrates")
    res = {}
    width = 2 * options.flank + 1
    for t, regs in regions_by_track.items():
        fg = [r.sequence for r in regs if r.sequence]
        if not fg:
            continue
        excl = np.zeros(seq.shape[:2], bool)
        for i, r in enumerate(regs):
            excl[i, r.start:r.end] = True
        bg = M.random_windows(seq, 2 * len(fg), width, seed=int(rng.integers(1 << 31)),
                              exclude=excl)
        rows = M.motif_enrichment(fg, bg, motifs)
        write_tsv(out / f"enrichment_{safe_name(t)}.tsv", rows)
        P.plot_enrichment(rows, out / f"enrichment_{safe_name(t)}.png",
                          title=f"{t}: motifs in ±{options.flank} bp around each gene's top "
                                f"site vs random windows ({source})")
        res[t] = [r["name"] for r in rows if r["q_value"] <= 0.05][:10]
    return res


def _differential(other, other_inputs, tracks_a, gene_ids, genes, seq, track_names, layout,
                  options: ExplainOptions, out: Path) -> dict:
    from kerasgene.explain import plots as P
    from kerasgene.explain.ig import integrated_gradients
    from kerasgene.explain.sites import (
        attribution_tracks,
        differential_attribution,
        differential_regions,
        write_bed,
        write_fasta,
    )

    res_b = integrated_gradients(other, other_inputs, **_ig_arguments(options))
    tracks_b = attribution_tracks(res_b, track_names=track_names)
    summary = {}
    for t, a in tracks_a.items():
        if t not in tracks_b:
            continue
        d = differential_attribution(a, tracks_b[t], top_fraction=options.top_fraction)
        regs = differential_regions(d, gene_ids, sequences=seq, genes=genes, track=t,
                                    flank=options.flank, layout=layout)
        base = out / f"differential_{safe_name(t)}"
        write_tsv(base.with_suffix(".tsv"), [
            {"gene_id": r.gene_id, "start": r.start, "end": r.end, "anchor": r.anchor,
             "offset_start": r.offset_start, "offset_end": r.offset_end,
             "max_abs_difference": r.score, "chrom": r.chrom, "gstart": r.gstart,
             "gend": r.gend, "strand": r.strand} for r in regs])
        write_fasta(regs, base.with_suffix(".fa"))
        if genes:
            write_bed(regs, base.with_suffix(".bed"))
        P.plot_differential(a.mean(0), tracks_b[t].mean(0), d.mask.mean(0),
                            base.with_suffix(".png"), labels=tuple(options.labels), track=t,
                            n_genes=len(gene_ids), layout=layout)
        summary[t] = {"threshold": d.threshold, "n_regions": len(regs)}
    return summary


# --------------------------------------------------------------------------------------
# filters (both systems) and knockouts (DeepRAGE)
# --------------------------------------------------------------------------------------


def _gene_sequences(dataset) -> np.ndarray:
    seq = dataset.arrays.get("sequence")
    if seq is None:
        raise ConfigError("this dataset has no 'sequence' array for filter motifs")
    return seq  # one row per gene in the iSEGnet and DeepRAGE datasets


def explain_filters(model, dataset, out: Path, options: ExplainOptions,
                    system: str = "isegnet") -> dict:
    """Filter PWMs → Tomtom table against the motif database (:func:`motif_database`; the
    best match per filter), MEME file and logos; the JASPAR taxon is
    ``options.tax_group`` or the ``system``'s. The summary's
    ``_rows`` hold each filter's three best matches (``rank`` 1–3)."""
    from kerasgene.explain import motifs as M
    from kerasgene.explain import plots as P

    fp = M.filter_pwms(model, _gene_sequences(dataset), top_n=options.top_n)
    motifs, source = motif_database(options, systems.get(system).jaspar_tax_group)
    from kerasgene.explain.modisco import N_MATCHES

    ranked = M.filter_matches(fp, motifs, trim_ic=options.trim_ic, n_best=N_MATCHES)
    rows = [r for r in ranked if r["rank"] == 1]
    write_tsv(out / "filter_matches.tsv", rows)
    M.write_meme(out / "filters.meme", fp.as_dict(),
                 nsites=dict(zip(fp.names(), fp.n_sites.tolist())))
    by_id = {m.matrix_id: m for m in motifs}
    matched = [r for r in rows if r["target_id"] and r["q_value"] <= options.q_threshold]
    (out / "logos").mkdir(exist_ok=True)
    for r in sorted(matched, key=lambda r: r["p_value"])[: options.logos]:
        k = int(r["query"].removeprefix("filter"))
        m = by_id[r["target_id"]]
        P.plot_filter_match(fp.pwms[k][r["start"]:r["end"]], m.probabilities(),
                            out / "logos" / f"{r['query']}_{safe_name(m.name)}.png",
                            filter_name=f"{fp.layer} {r['query']}", n_sites=r["n_sites"],
                            match_id=m.matrix_id, match_name=m.name, p_value=r["p_value"],
                            q_value=r["q_value"], strand=r["strand"])
    return {"layer": fp.layer, "n_filters": len(fp.pwms), "n_matched": len(matched),
            "q_threshold": options.q_threshold, "motif_db": source,
            "matches": {r["query"]: f"{r['target_id']} {r['target_name']}" for r in matched},
            "_rows": ranked}


def knockout_sets(options: ExplainOptions, rows: list[dict]) -> list[dict]:
    """``[{name, motif, targets, filters}]`` from ``options.truth`` (every planted
    regulator) and ``options.targets`` (with ``filters`` or ``target_motif``);
    ``rows`` are the filter matches (:func:`explain_filters`)."""
    from kerasgene.explain.motifs import motif_recovery

    def matching(mid):  # filters whose best match is the motif
        return [int(q.removeprefix("filter")) for q in
                motif_recovery(rows, [mid], q_threshold=options.q_threshold)[mid]]

    sets = []
    if options.truth:
        regs = truth_section(options.truth, "deeprage").get("regulators", [])
        if not regs:
            raise InputFileError(f"{options.truth}: no tasks.deeprage.regulators")
        for r in regs:  # the matrix the simulator planted (MSN4's sites are MSN2's STRE)
            motif = r.get("called_with", r["jaspar_id"])
            sets.append({"name": r.get("tf", r["jaspar_id"]), "motif": motif,
                         "targets": list(r["target_genes"]), "filters": matching(motif)})
    if options.targets:
        lines = Path(options.targets).read_text().split()
        if options.filters:
            filters = [int(f) for f in options.filters]
        elif options.target_motif:
            filters = matching(options.target_motif)
        else:
            raise ConfigError("targets (--targets) needs filters (--filters) or target_motif "
                              "(--target-motif)")
        sets.append({"name": options.target_motif or Path(options.targets).stem,
                     "motif": options.target_motif or "", "targets": lines, "filters": filters})
    return sets


def _knockout_predictor(model, dataset, seqs, max_conditions: int, rng):
    """``(predict, gene ids, gene row per example)``: ``predict()`` is the model's current
    prediction (its first output unit: a classifier's first class, as
    :func:`kerasgene.explain.knockout.knockout_effects`) for every gene × up to
    ``max_conditions`` sampled conditions (DeepRAGE; gene-major, through the factorised
    pair outputs traced once: :func:`kerasgene.train.block_trainer.pair_outputs`), or for
    every gene once."""
    from kerasgene.explain import knockout as K

    gene_ids = np.asarray(dataset.gene_ids if hasattr(dataset, "gene_ids")
                          else dataset.index["gene_id"].unique(), dtype=str)
    regs = dataset.arrays.get("regulators")
    n_genes = len(gene_ids)
    if regs is None:
        inputs = model_inputs(model, {"sequence": seqs})
        return (lambda: K.predict_examples(model, inputs)[:, 0]), gene_ids, np.arange(n_genes)
    import tensorflow as tf

    from kerasgene.train.block_trainer import gene_block_outputs, pair_outputs

    conds = np.sort(rng.choice(len(regs), min(max_conditions, len(regs)), replace=False))
    outputs = tf.function(pair_outputs(model), reduce_retracing=True)

    def predict() -> np.ndarray:
        out = gene_block_outputs(outputs, seqs, np.arange(n_genes), regs[conds])
        return (out if out.ndim == 2 else out[..., 0]).reshape(-1)
    return predict, gene_ids, np.repeat(np.arange(n_genes), len(conds))


def _knockout_one(eff: dict, s: dict, out: Path, top_k: int) -> dict:
    """Test one set's knockout effects (:func:`kerasgene.explain.knockout.effects`) on its
    targets, write its table and figure."""
    from kerasgene.explain import knockout as K
    from kerasgene.explain import plots as P

    ge = K.gene_effects(eff)
    test = K.knockout_test(ge["gene"], ge["abs_delta"], s["targets"], top_k=top_k)
    name = safe_name(s["name"])
    is_t = np.isin(ge["gene"], s["targets"])
    write_tsv(out / f"knockout_{name}_genes.tsv", {
        "gene_id": ge["gene"], "is_target": is_t, "wild_type": ge["wild_type"],
        "knockout": ge["knockout"], "delta": ge["delta"], "abs_delta": ge["abs_delta"]})
    P.plot_knockout(ge["abs_delta"], is_t, out / f"knockout_{name}.png",
                    title=f"Knockout of filters {s['filters']} ({s['name']} {s['motif']})",
                    ranksum_p=test.ranksum_p,
                    fisher=(test.targets_in_top_k, test.top_k, test.fisher_p))
    return {"name": s["name"], "motif": s["motif"], "filters": ",".join(map(str, s["filters"])),
            **test.as_dict(), "top_genes": ",".join(map(str, test.top_genes))}


def explain_knockout(model, dataset, out: Path, options: ExplainOptions, rng,
                     filter_rows: list[dict] | None = None) -> dict:
    """Filter knockouts of DeepRAGE: effect per gene averaged over sampled conditions.
    The wild type is predicted once; each set's filters are zeroed in the model itself
    for its prediction (:func:`kerasgene.explain.knockout.filters_zeroed`).
    ``filter_rows``: the filters' JASPAR matches (:func:`explain_filters`' ``_rows``, or
    ``filter_matches.tsv`` of an earlier call read back); computed here when None."""
    from kerasgene.explain import knockout as K
    from kerasgene.explain import motifs as M

    if not (options.truth or options.targets):
        log.warning("knockout: no --truth or --targets given; skipped")
        return {"skipped": "no targets"}
    rows = filter_rows
    if rows is None:
        rows = explain_filters(model, dataset, out, options, "deeprage")["_rows"]
    layer = M.first_conv_layer(model).name
    sets = knockout_sets(options, rows)
    predict, gene_ids, gi = _knockout_predictor(model, dataset, _gene_sequences(dataset),
                                                options.max_conditions, rng)
    wild_type = predict() if any(s["filters"] for s in sets) else None
    table = []
    for s in sets:
        if not s["filters"]:
            table.append({"name": s["name"], "motif": s["motif"], "filters": "",
                          "note": "no filter matches the motif"})
            continue
        with K.filters_zeroed(model, layer, s["filters"]):
            knocked = predict()
        table.append(_knockout_one(K.effects(gene_ids[gi], wild_type, knocked), s, out,
                                   options.top_k))
    write_tsv(out / "knockout.tsv", table)
    return {"layer": layer, "rows": [r for r in table if "ranksum_p" in r],
            "unmatched": [r["name"] for r in table if "ranksum_p" not in r]}


# --------------------------------------------------------------------------------------
# TF-MoDISco (any model with a sequence input)
# --------------------------------------------------------------------------------------


def modisco_inputs(model, dataset, options: ExplainOptions, rng):
    """``(inputs, conditions, gene ids)`` for :func:`kerasgene.explain.modisco.discover_motifs`.

    A pair dataset (a ``regulators`` array: DeepRAGE) gives every gene's sequence once
    (pairs are split at random, so every gene is in every split) with every condition;
    any other the examples of ``options.modisco_split``, one per gene. At most
    ``options.modisco_max_examples`` sequences, sampled with ``rng``.
    """
    regs = dataset.arrays.get("regulators")
    if regs is not None:
        seqs = _gene_sequences(dataset)
        idx = _sample(np.arange(len(seqs)), options.modisco_max_examples, rng)
        ids = np.asarray(dataset.gene_ids, dtype=str)[idx]
        return {"sequence": np.asarray(seqs[idx])}, {"regulators": np.asarray(regs)}, ids
    idx = dataset.split_indices(options.modisco_split)
    if "gene_id" in dataset.index.columns:  # one example per gene (iSEGnet: per biosample)
        genes = dataset.index["gene_id"].to_numpy()[idx]
        idx = idx[np.unique(genes, return_index=True)[1]]
    idx = _sample(np.sort(idx), options.modisco_max_examples, rng)
    if not len(idx):
        raise ConfigError(f"split {options.modisco_split!r} has no examples")
    ids = (dataset.index["gene_id"].astype(str).to_numpy()[idx]
           if "gene_id" in dataset.index.columns else idx.astype(str))
    return model_inputs(model, dataset.gather(idx)), None, ids


#: a planted motif counts as attributed by the model when its sites carry at least this
#: many standard deviations of position-matched random windows, either sign (the demo
#: models: 0.8 to 8.5 for the motifs TF-MoDISco or the filters found, 0.03 to 0.22 for
#: iSEGnet's CREB1 and REST and DeepRAGE-TP's MIG1)
ATTRIBUTED_SD = 0.5


def _add_site_scores(recovery: list[dict], summary: dict, found, inputs, ids, section,
                     seed: int) -> None:
    """Each planted motif's site attribution (:func:`kerasgene.explain.truth.planted_site_contributions`
    of TF-MoDISco's contributions) into its ``recovery`` row (``site_effect_sd``,
    ``site_z``, ``attributed``) and ``summary["planted_attributed"]``: which planted motifs
    the model uses at all, hence which a discovery method could find."""
    from kerasgene.explain.truth import planted_site_contributions

    actual = (np.asarray(inputs["sequence"]) * found.contributions).sum(-1)  # (n, L)
    scores = planted_site_contributions(actual, ids, section["motif_instances"],
                                        [r["name"] for r in recovery],
                                        rng=np.random.default_rng(seed))
    outside = {k: v["n_outside"] for k, v in scores.items() if v["n_outside"]}
    if outside:
        log.warning("planted-site attribution: %d sites outside the model's %d positions not "
                    "scored (%s)", sum(outside.values()), actual.shape[1],
                    ", ".join(f"{k} {v}" for k, v in outside.items()))
    for r in recovery:
        got = scores[r["name"]]
        r["site_effect_sd"], r["site_z"] = got["effect_sd"], got["z"]
        r["attributed"] = bool(abs(got["effect_sd"]) >= ATTRIBUTED_SD)
    summary["planted_attributed"] = sorted(r["name"] for r in recovery if r["attributed"])
    summary["attributed_sd"] = ATTRIBUTED_SD


def explain_modisco(model, dataset, out: Path, options: ExplainOptions, rng,
                    system: str = "isegnet", filter_rows: list[dict] | None = None) -> dict:
    """TF-MoDISco patterns matched to JASPAR: ``modisco_patterns.tsv``, ``.meme``,
    ``modisco_results.h5`` (modisco's format), ``modisco_logos/``,
    ``modisco_report.html``; with ``options.truth`` the planted motifs found by the
    patterns and by the filters (``filter_rows``: every Tomtom rank) in
    ``motif_recovery.tsv``: as a query's best match (``planted`` in the summary) and
    among its three best (``planted_top3``; :func:`~kerasgene.explain.modisco.planted_recovery`).
    ``seconds``: wall seconds of the attribution, modisco-lite, Tomtom and the report
    (logos and page)."""
    from kerasgene.explain import modisco as MD
    from kerasgene.explain import motifs as M
    from kerasgene.explain.report_html import write_modisco_report

    inputs, conditions, ids = modisco_inputs(model, dataset, options, rng)
    motifs, source = motif_database(options, systems.get(system).jaspar_tax_group)
    found = MD.discover_motifs(
        model, inputs, conditions=conditions, motifs=motifs,
        method=options.modisco_attribution, summary=options.modisco_summary,
        n_steps=options.n_steps, batch_size=options.batch_size,
        max_seqlets=options.modisco_max_seqlets)
    import pandas as pd

    write_tsv(out / "modisco_patterns.tsv", pd.DataFrame(found.rows, columns=MD.PATTERN_COLUMNS))
    M.write_meme(out / "modisco_patterns.meme",
                 {p.name: p.ppm[slice(*p.trim())] for p in found.patterns},
                 nsites={p.name: p.n_seqlets for p in found.patterns})
    MD.save_modisco_h5(out / "modisco_results.h5", found.raw)
    summary = {"n_sequences": len(found.contributions), "attribution": options.modisco_attribution,
               "summary": options.modisco_summary if conditions else None,
               "n_patterns": len(found.patterns), "seconds": found.seconds,
               "motif_db": source,
               "patterns": {r["pattern"]: f"{r['target_id']} {r['target_name']} "
                            f"q={r['q_value']:.2g} ({r['n_seqlets']} seqlets)"
                            for r in found.rows},
               "n_matched": sum(bool(r["target_id"]) and r["q_value"] <= options.q_threshold
                                for r in found.rows)}
    recovery = None
    if options.truth:
        sources = {"modisco": found.matches, **({"filters": filter_rows} if filter_rows else {})}
        section = truth_section(options.truth, systems.get(system).truth_key or system)
        planted = MD.planted_motifs(section)
        recovery = MD.planted_recovery(sources, planted, q_threshold=options.q_threshold)
        if section.get("motif_instances"):
            _add_site_scores(recovery, summary, found, inputs, ids, section, options.seed)
        lenient = MD.planted_recovery(sources, planted, q_threshold=options.q_threshold,
                                      max_rank=MD.N_MATCHES)
        top = f"top{MD.N_MATCHES}"
        for strict, loose in zip(recovery, lenient):
            strict[top] = "; ".join(f"{s}: {loose[s]} (q {loose[f'{s}_q']:.2g})"
                                    for s in sources if loose[s])
            strict[f"recovered_{top}"] = loose["recovered"]
        write_tsv(out / "motif_recovery.tsv", recovery)
        for key, rec in (("planted", recovery), (f"planted_{top}", lenient)):
            summary[key] = {s: sorted(m["name"] for m in rec if m[s]) for s in sources}
            summary[key]["union"] = sorted(m["name"] for m in rec if m["recovered"])
        summary["n_planted"] = len(planted)
    settings = {"run system": system, "attribution": options.modisco_attribution,
                "sequences": summary["n_sequences"], "motifs": summary["motif_db"],
                "seconds": ", ".join(f"{k} {v:g}" for k, v in found.seconds.items())}
    if conditions:
        settings["conditions summarised by"] = (f"{options.modisco_summary} over "
                                                f"{len(conditions['regulators'])} conditions")
    started = time.perf_counter()
    write_modisco_report(out, found.patterns, found.rows, motifs,
                         title=f"TF-MoDISco patterns: {system}", settings=settings,
                         q_threshold=options.q_threshold, recovery=recovery)
    summary["seconds"] = {**found.seconds, "report": round(time.perf_counter() - started, 1)}
    return summary


# --------------------------------------------------------------------------------------
# saliency (Team Jamaica)
# --------------------------------------------------------------------------------------


def _saliency_parts(labels: list[str], kmers: set[str]) -> dict[str, list[int]]:
    """Channel rows of the ``marks`` figure and, with k-mer channels, the ``kmers`` one."""
    parts = {"marks": [k for k, n in enumerate(labels) if n not in kmers]}
    if kmers:
        parts["kmers"] = [k for k, n in enumerate(labels) if n in kmers]
    return parts


def explain_saliency(model, dataset, out: Path, options: ExplainOptions, rng) -> dict:
    """Mean signed input gradients per cell type (or sample) as heatmaps."""
    from kerasgene.explain import plots as P
    from kerasgene.explain.attribution import input_names
    from kerasgene.explain.saliency import mean_saliency, saliency

    idx = _sample(dataset.split_indices(options.split), options.max_examples * 10, rng)
    inputs = model_inputs(model, dataset.gather(idx))
    grads = saliency(model, inputs, batch_size=max(options.batch_size, 128))
    # a genome-bins dataset (chromatin) indexes segments, not examples: one group
    per_example = len(dataset.index) == getattr(dataset, "n_examples", len(dataset.index))
    index = dataset.index.iloc[idx] if per_example else dataset.index.iloc[:0]
    col = next((c for c in ("cell", "sample", "condition") if c in index.columns), None)
    groups = index[col].astype(str).to_numpy() if col else np.array(["all"] * len(idx))
    channel_names = list(dataset.meta.get("channel_names") or [])
    kmers = set(dataset.meta.get("kmers") or [])
    written = []
    for inp, g in zip(input_names(model), grads):
        if g.ndim != 3:
            continue
        for grp, mean in mean_saliency(g, groups).items():
            mat = mean.T  # (channels, positions)
            labels = (channel_names if len(channel_names) == mat.shape[0]
                      else [f"{inp}[{k}]" for k in range(mat.shape[0])])
            for part, rows in _saliency_parts(labels, kmers).items():
                if not rows:
                    continue
                path = out / f"saliency_{safe_name(grp)}_{part}.png"
                n = int((groups == grp).sum())
                P.plot_saliency_heatmap(mat[rows], [labels[k] for k in rows], path,
                                        title=f"{grp}: mean signed gradient over {n} genes "
                                              f"({part})",
                                        ylabel="k-mer count" if part == "kmers" else "feature")
                written.append(path.name)
    return {"n_examples": len(idx), "group_by": col or "all", "figures": written}
