"""The analyses of ``kerasgene explain``, each on a trained model and its prepared dataset.

Every analysis takes ``(model, dataset, out, options, rng)`` — a Keras model, the
:class:`~kerasgene.datasets.Dataset` it was trained on (or anything with the same
``arrays``, ``index``, ``meta``, ``split_indices`` and ``gather``), an output directory,
the :class:`~kerasgene.explain.options.ExplainOptions` and a numpy ``Generator`` — writes
its tables and figures into ``out`` and returns a JSON-able summary:

- :func:`explain_isegnet_ig` (``ig``, ``differential``): integrated gradients of an
  iSEGnet-like model, per-track profiles, per-gene figures, top sites, motif enrichment
  at the top sites and the differential attribution against a second model;
- :func:`explain_saliency` (``saliency``): mean signed gradient heatmaps per cell type.

The analyses of a model's DNA input (``motifs``, ``knockout``, ``modisco``) are in
:mod:`kerasgene.explain.sequence_analyses`; the files each writes are listed in
:mod:`kerasgene.explain.run`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from kerasgene._io import safe_name, write_tsv
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.explain.options import requested_analyses

if TYPE_CHECKING:
    from kerasgene.explain.attribution import ExplainedClass
    from kerasgene.explain.options import ExplainOptions

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# shared
# --------------------------------------------------------------------------------------


def sample_indices(idx: np.ndarray, n: int, rng) -> np.ndarray:
    """At most ``n`` of ``idx``, drawn without replacement with ``rng``, in order."""
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


def explained_class(model, dataset, options: ExplainOptions) -> ExplainedClass | None:
    """The class of a classifier whose probability the analyses explain:
    ``options.target_class`` named by the dataset's ``class_names``, by default the last
    (:func:`kerasgene.explain.attribution.resolve_class`); None for a regression or a
    score, whose value is explained.

    Raises
    ------
    ConfigError
        a ``target_class`` the model's output cannot have.
    """
    from kerasgene.explain.attribution import resolve_class

    meta = getattr(dataset, "meta", None) or {}
    return resolve_class(model, options.target_class, meta.get("class_names"))


def prediction_label(cls: ExplainedClass | None, meta: Mapping | None = None) -> str:
    """What the analyses explain, as figures name it: ``P(class 1: above median)``; for a
    regression the transform of its labels where the dataset states it (the iSEGnet
    builder's ``meta["label"]``: ``predicted log2(TPM + 1)``), else ``prediction``."""
    if cls is not None:
        return f"P({cls.label})"
    label = (meta or {}).get("label")
    return f"predicted {label}" if isinstance(label, str) else "prediction"


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


def _chrom_sizes(dataset, genes: Mapping[str, dict]) -> dict[str, int] | None:
    """The lengths of the genes' chromosomes in the dataset's FASTA (named as the genes
    are, through the dataset's alias table: :func:`kerasgene.train.preprocessing.
    genome_record`), or None without a FASTA, genes, or a chromosome of theirs in it."""
    from kerasgene.io.chroms import alias_map, load_aliases, resolve, resolves
    from kerasgene.train.preprocessing import genome_record

    sizes, aliases = genome_record(dataset.meta)
    if not genes or sizes is None:
        return None
    lookup = alias_map(sizes, load_aliases(aliases))
    chroms = {g["chrom"] for g in genes.values()}
    if not all(resolves(c, lookup) for c in chroms):
        return None
    return {c: sizes[resolve(c, lookup, "")] for c in chroms}


def _window_layout(params: Mapping, length: int) -> tuple[tuple, ...]:
    """The window layout of a dataset's inputs of ``length`` positions: a histone
    dataset's ``window`` bp centred on the TSS in ``n_bins`` bins (``("TSS", -5000, 5000,
    100)``: :func:`kerasgene.explain.sites.layout_step`); else the TSS ⊕ TTS layout of its
    ``tss_flank`` and ``tts_flank`` (default: iSEGnet's [-1000, +500] ⊕ [-500, +500]); one
    plain segment when that does not add up to ``length``."""
    from kerasgene.datasets.regions import DEFAULTS
    from kerasgene.datasets.windows import window_layout

    window, n_bins = params.get("window"), params.get("n_bins")
    if n_bins == length and window and window % n_bins == 0:  # the histone builder's bins
        return (("TSS", -(window // 2), window - window // 2, window // n_bins),)
    layout = window_layout(params.get("tss_flank", DEFAULTS["tss_flank"]),
                           params.get("tts_flank", DEFAULTS["tts_flank"]))
    if sum(o2 - o1 for _, o1, o2 in layout) != length:
        layout = (("start", 0, length),)
    return layout


def _ig_arguments(options: ExplainOptions, cls: ExplainedClass | None) -> dict[str, Any]:
    """The :func:`~kerasgene.explain.ig.integrated_gradients` settings of ``options``,
    attributing the probability of ``cls`` (None: the output's value)."""
    return dict(baselines=options.baseline, n_steps=options.n_steps, method=options.method,
                engine=options.engine, batch_size=options.batch_size,
                target=None if cls is None else cls.id)


def _write_ig_tables(res, tracks, index, layout, out: Path, options: ExplainOptions,
                     cls: ExplainedClass | None, explained: str) -> None:
    """``ig_summary.tsv``, ``ig_profiles.tsv`` and ``ig_track_profiles.png`` (a
    classifier's: of the probability of ``cls``, named in the figure; ``explained``:
    :func:`prediction_label`)."""
    from kerasgene.explain import plots as P
    from kerasgene.explain.sites import track_profiles, window_offset

    prof = track_profiles(tracks)
    write_tsv(out / "ig_summary.tsv", {
        "gene_id": index["gene_id"].astype(str).tolist(),
        "sample": example_contexts(index), "prediction": res.output_x,
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
    P.plot_track_profiles(prof, out / "ig_track_profiles.png", layout=layout, n_genes=len(index),
                          title=f"Mean IG attribution per track ({options.split} genes, "
                                f"{baseline_text(options.baseline)} baseline"
                                f"{'' if cls is None else ', ' + explained})",
                          ylabel=f"IG attribution\n(Δ {explained})")


def example_contexts(index) -> list[str]:
    """Each example's context beside its gene: the iSEGnet sample or the histone cell type
    (the index's ``sample`` or ``cell`` column), else empty."""
    for column in ("sample", "cell"):
        if column in index.columns:
            return index[column].astype(str).tolist()
    return [""] * len(index)


def _gene_plots(res, tracks, inputs, gene_ids, contexts, track_names, layout, out: Path,
                n_plots: int, explained: str) -> None:
    """``gene_<id>.png`` for the ``n_plots`` highest-predicted examples: each track's input
    signal (``track_names``: ``{input: channel names}``) over its attribution in units of
    ``explained`` (:func:`prediction_label`); titled with the example's context (sample,
    cell type: ``contexts``), which also names the file of a gene plotted in several
    (``gene_<id>_<context>.png``)."""
    from kerasgene.explain import plots as P

    top = np.argsort(-res.output_x)[:n_plots]
    repeated = {g for g, n in Counter(gene_ids[i] for i in top).items() if n > 1}
    # iSEGnet's epigenome is scaled to [0, 1] (the figure's default); other inputs as fed
    units = {t: "as input" for name, names in track_names.items() if name != "epigenome"
             for t in names}
    with tqdm(top, desc="gene figures", unit="gene") as bar:  # closed on Ctrl-C too
        for i in bar:
            sig = {t: np.asarray(inputs[name][i, :, k], np.float64)
                   for name, names in track_names.items() if name in inputs
                   for k, t in enumerate(names)} or None
            stem = gene_ids[i] + (f"_{contexts[i]}" if gene_ids[i] in repeated else "")
            P.plot_gene_tracks({t: v[i] for t, v in tracks.items()}, sig,
                               out / f"gene_{safe_name(stem)}.png",
                               gene=gene_ids[i] + (f" ({contexts[i]})" if contexts[i] else ""),
                               layout=layout, explained=explained, signal_units=units)


def _top_sites(tracks, gene_ids, contexts, seq, genes, layout, out: Path, flank: int,
               chrom_sizes: Mapping[str, int] | None = None) -> dict:
    """``top_sites_<track>.fa`` (a model with DNA) and ``.bed`` (gene coordinates known;
    cut to ``chrom_sizes``: :func:`kerasgene.explain.sites.write_bed`) per track; ``flank``
    in bp (at least one position of a binned window)."""
    from kerasgene.explain.sites import layout_step, top_site_regions, write_bed, write_fasta

    regions_by_track = {}
    flank = flank // layout_step(layout)
    with tqdm(tracks.items(), desc="top sites", unit="track") as bar:
        for t, v in bar:
            regs = top_site_regions(v, gene_ids, sequences=seq, genes=genes, track=t,
                                    flank=flank, layout=layout, contexts=contexts)
            if seq is not None:
                write_fasta(regs, out / f"top_sites_{safe_name(t)}.fa")
            if genes:
                write_bed(regs, out / f"top_sites_{safe_name(t)}.bed", chrom_sizes)
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

    idx = sample_indices(dataset.split_indices(options.split), options.max_examples, rng)
    if not len(idx):
        raise ConfigError(f"split {options.split!r} has no examples")
    inputs = model_inputs(model, dataset.gather(idx))
    index = dataset.index.iloc[idx].reset_index(drop=True)
    gene_ids = index["gene_id"].astype(str).tolist()
    track_names = {"epigenome": list(dataset.meta.get("track_names") or ISEGNET_TRACKS)}
    if dataset.meta.get("channel_names"):  # the histone datasets' marks (and statistics)
        track_names["histone"] = list(dataset.meta["channel_names"])
    layout = _window_layout(dataset.meta.get("params") or {},
                            next(iter(inputs.values())).shape[1])
    cls = explained_class(model, dataset, options)
    explained = prediction_label(cls, dataset.meta)
    res = integrated_gradients(model, inputs, **_ig_arguments(options, cls))
    tracks = attribution_tracks(res, track_names=track_names)
    _write_ig_tables(res, tracks, index, layout, out, options, cls, explained)
    genes = _genes_from_index(index) if layout[0][0] == "TSS" else {}
    sizes = _chrom_sizes(dataset, genes)
    seq, contexts = inputs.get("sequence"), example_contexts(index)
    _gene_plots(res, tracks, inputs, gene_ids, contexts, track_names, layout, out,
                options.gene_plots, explained)
    regions_by_track = _top_sites(tracks, gene_ids, contexts, seq, genes, layout, out,
                                  options.flank, sizes)
    summary = {"n_examples": len(idx), "engine": res.engine, "method": res.method,
               "max_relative_residual": float(res.relative_residual.max()),
               "steps_used": sorted({int(s) for s in res.n_steps}),
               "tracks": list(tracks)}
    if cls is not None:
        summary["target_class"] = cls.as_dict()
    if options.truth:  # simulated data: do planted positions get the attribution?
        summary["planted_auroc"] = planted_track_aurocs(tracks,
                                                        truth_section(options.truth, "isegnet"))
    if seq is not None and "motifs" in requested_analyses(options, "isegnet"):
        summary["enrichment"] = _enrichment(regions_by_track, np.asarray(seq), options, out,
                                            rng)
    if compare is not None:
        summary["differential"] = _differential(
            compare, model_inputs(compare, inputs), tracks, gene_ids, genes, seq,
            track_names, layout, options, out, cls, explained, sizes)
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


def _one_site_per_gene(regions) -> list[str]:
    """The sequences of the regions, one per gene: of a gene explained in several samples
    (the same DNA), its highest-scoring site's, so that no gene counts twice in the
    enrichment's foreground."""
    best: dict[str, object] = {}
    for r in regions:
        if r.sequence and (r.gene_id not in best or r.score > best[r.gene_id].score):
            best[r.gene_id] = r
    return [r.sequence for r in best.values()]


def _enrichment(regions_by_track, seq, options: ExplainOptions, out: Path, rng) -> dict:
    from kerasgene.explain import motifs as M
    from kerasgene.explain import plots as P

    motifs, source = motif_database(options, options.tax_group or "vertebrates")
    res = {}
    width = 2 * options.flank + 1
    with tqdm(regions_by_track.items(), desc="motif enrichment", unit="track") as bar:
        for t, regs in bar:
            fg = _one_site_per_gene(regs)
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
                  options: ExplainOptions, out: Path, cls: ExplainedClass | None,
                  explained: str, chrom_sizes: Mapping[str, int] | None = None) -> dict:
    from kerasgene.explain import plots as P
    from kerasgene.explain.ig import integrated_gradients
    from kerasgene.explain.sites import (
        attribution_tracks,
        differential_attribution,
        differential_regions,
        layout_step,
        write_bed,
        write_fasta,
    )

    res_b = integrated_gradients(other, other_inputs, **_ig_arguments(options, cls))
    tracks_b = attribution_tracks(res_b, track_names=track_names)
    summary = {}
    for t, a in tracks_a.items():
        if t not in tracks_b:
            continue
        d = differential_attribution(a, tracks_b[t], top_fraction=options.top_fraction)
        regs = differential_regions(d, gene_ids, sequences=seq, genes=genes, track=t,
                                    flank=options.flank // layout_step(layout), layout=layout)
        base = out / f"differential_{safe_name(t)}"
        write_tsv(base.with_suffix(".tsv"), [
            {"gene_id": r.gene_id, "start": r.start, "end": r.end, "anchor": r.anchor,
             "offset_start": r.offset_start, "offset_end": r.offset_end,
             "max_abs_difference": r.score, "chrom": r.chrom, "gstart": r.gstart,
             "gend": r.gend, "strand": r.strand} for r in regs])
        if seq is not None:
            write_fasta(regs, base.with_suffix(".fa"))
        if genes:
            write_bed(regs, base.with_suffix(".bed"), chrom_sizes)
        P.plot_differential(a.mean(0), tracks_b[t].mean(0), d.mask.mean(0),
                            base.with_suffix(".png"), labels=tuple(options.labels), track=t,
                            n_genes=len(gene_ids), layout=layout, explained=explained)
        summary[t] = {"threshold": d.threshold, "n_regions": len(regs)}
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
    """Mean signed input gradients per cell type (or sample) as heatmaps; of a
    classifier's, the gradients of the probability of :func:`explained_class` (named in
    the colour bar and in the summary's ``target_class``)."""
    from kerasgene.explain import plots as P
    from kerasgene.explain.attribution import input_names
    from kerasgene.explain.saliency import mean_saliency, saliency

    idx = sample_indices(dataset.split_indices(options.split), options.max_examples * 10, rng)
    inputs = model_inputs(model, dataset.gather(idx))
    cls = explained_class(model, dataset, options)
    grads = saliency(model, inputs, batch_size=max(options.batch_size, 128),
                     target=None if cls is None else cls.id)
    colour_bar = f"Mean signed gradient\n∂ {prediction_label(cls)} / ∂ input"
    of = "" if cls is None else f" of {prediction_label(cls)}"
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
                                        title=f"{grp}: mean signed gradient{of} over {n} "
                                              f"genes ({part})",
                                        ylabel="k-mer count" if part == "kmers" else "feature",
                                        cbar_label=colour_bar)
                written.append(path.name)
    summary = {"n_examples": len(idx), "group_by": col or "all", "figures": written}
    if cls is not None:
        summary["target_class"] = cls.as_dict()
    return summary
