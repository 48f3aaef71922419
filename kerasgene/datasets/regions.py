"""iSEGnet: one gene-centric window per gene and biosample (TSS[-1000,+500] ⊕ TTS[-500,+500]).

Each example is a gene in one biosample: the one-hot sequence (2500, 4) and the 7 tracks
(2500, 7) of the concatenated TSS and TTS regions, oriented 5'→3' of the gene (minus-strand
genes: reverse-complemented sequence, reversed tracks; TSS region first), and the log
expression of the gene in that biosample. Several biosamples or replicates are pooled in
one dataset (iSEGnet's case study of R² against the number of replicates); the sequence is
stored once per gene and shared by its examples.

Config keys (``build_regions(config, out_dir)`` / the ``isegnet`` YAML section)
-------------------------------------------------------------------------------
``gtf`` (required)
    Gene annotation. ``biotypes``: optional list of gene types to keep
    (e.g. ``[protein_coding]``); one that keeps no gene is an error naming the
    annotation's biotypes.
``fasta`` (required)
    Genome: FASTA (plain, gzip or bgzip) or 2bit (:class:`kerasgene.io.genome.Genome`).
``samples`` (required)
    List of biosamples / replicates, each a mapping with
    ``name`` (default ``sample<i>``), ``expression`` (TPM table, one row per gene),
    ``expression_column`` (the name of a column of that table, the only one read: a
    quantifier's text columns beside it — RSEM's ``transcript_id(s)``, StringTie's ``Gene
    Name``, featureCounts' ``Chr`` — are no error; default: ``name`` when the table has
    such a column, else a quantifier's ``TPM`` column (RSEM, salmon, kallisto, StringTie),
    else its first column that is not a quantifier's length or count
    (:func:`~kerasgene.io.expression.sample_column`); a YAML number such as ``1`` is refused,
    not matched to a column named ``1`` nor taken for a position: quote it),
    ``gene_column`` (default 0), and ``tracks``: an
    ordered mapping track name → track path, or → ``{path: ..., transform: ...,
    value_column: ...}``. A track is a bigWig, bigBed or bedGraph (plain or gzip; its
    chromosome sizes are the FASTA's; see :mod:`kerasgene.io.track_formats`), ``value_column``
    the bigBed field holding its values (default ``score``). A bare
    path gets the paper's transform: ``percent`` (/100) for a track named ``WGBS`` /
    ``methylation``, else ``neglog10p`` (per-20-bp region −log10 p scaled to [0, 1] by the
    file's maximum). Every sample must list the same track names in the same order
    (paper: DNase, H3K4me1, H3K4me3, H3K9me3, H3K27me3, H3K36me3, WGBS); two tracks of a
    sample naming one file (but for two ``value_column`` of a bigBed) are an error.
``chrom_aliases`` = null
    Optional chromosome alias table (UCSC ``chromAlias.txt`` or a user table; see
    :mod:`kerasgene.io.chroms`) used wherever the FASTA, tracks and GTF name chromosomes.
``tss_flank`` = [1000, 500], ``tts_flank`` = [500, 500]
    Bases upstream and downstream of the TSS / TTS (gene orientation).
``log_base`` = 2, ``pseudocount`` = 1
    Labels are ``log_base(TPM + pseudocount)`` (log2(TPM+1) puts typical TPMs in 0–10,
    the range of the released labels); genes with TPM 0 or missing are dropped per sample.
``epigenome_dtype`` = ``float16``
    Storage of the [0, 1] tracks (``float32`` to keep full precision).
``track_order`` = ``paper``
    When a sample's track names are exactly the paper's seven, channels follow the paper's
    order (DNase, H3K4me1, H3K4me3, H3K9me3, H3K27me3, H3K36me3, WGBS) whatever the order of
    the mapping; ``as_given`` keeps the mapping's order. meta.json records it (``track_names``).
``allow_chrom_mismatch`` = false
    Tracks of one sample with different chromosome sets are an error unless true; then
    only genes on chromosomes present in every file are kept.
``chunk_size`` = 1000
    Genes read and written per chunk (peak memory ∝ chunk_size).
``split`` = ``{method: random, fractions: [0.6, 0.2, 0.2], seed: 0, group: gene_id}``
    See :mod:`kerasgene.datasets.splits`; grouping by gene keeps a gene's replicates in one
    set, and a random split that does not name ``group`` keeps it (``group: null`` turns it
    off).

``max_genes_outside`` = 0.01
    See "Genes and chromosome ends" below.

``gtf`` may be a GTF or a GFF3 file (:func:`kerasgene.io.annotation.read_gtf`). Gene ids of
an expression table are matched to the annotation's ids exactly, then with the version
suffix removed (``ENSG….5`` ↔ ``ENSG…``), then through NCBI GeneIDs
(:func:`match_gene_ids`); none matching is an error.

What is left out, and why
-------------------------
Every example left out is counted in a warning (one per reason, with the first ids) and
listed in the dataset's ``dropped.tsv`` (:mod:`kerasgene.datasets.dropped`): expression
ids absent from the annotation (or skipped there: no strand, several loci), a second
table id matching the same gene, missing (empty / NA) or zero TPM (the paper's filter),
genes on chromosomes missing from the FASTA or a track, and genes outside their
chromosome. TPMs must be finite, ≥ 0 and ≤ 10⁷ (:func:`kerasgene.io.expression.check_range`),
else the build stops naming the gene.

Warnings (counted, naming the files) also point at inputs that are valid but probably not
what was meant: an expression column that sums to more than a sample's 10⁶ TPM (read
counts) or stays below 20 over ≥ 1,000 expressed genes (log-transformed values), samples
reading one column of one table (identical labels), and a track that is 0 around every
gene of some chromosomes (a file without data there: an all-zero channel).

Genes and chromosome ends: :mod:`kerasgene.datasets.windows`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kerasgene.config import check_column_name
from kerasgene.datasets import base, splits, storage
from kerasgene.datasets.dropped import Dropped, max_outside
from kerasgene.datasets.windows import (
    chrom_length_mismatches,
    extract_regions,
    missing_chrom,
    screen_genes,
    warn_other_characters,
    window_layout,
)
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.annotation import (
    Gene,
    gene_id_candidates,
    gene_id_stem,
    gene_stem_index,
    read_gtf,
)
from kerasgene.io.chroms import load_aliases, sort_key
from kerasgene.io.expression import (
    MAX_TPM,
    check_log_options,
    check_range,
    log_transform,
    read_expression_table,
    sample_column,
    warn_not_tpm,
)
from kerasgene.io.genome import Genome
from kerasgene.io.track_checks import (
    STATS_WINDOWS,
    no_signal_messages,
    note_signal,
    same_data,
    sample_file_mismatches,
)
from kerasgene.io.tracks import TrackSet

log = logging.getLogger(__name__)

ISEGNET_TRACKS = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")
_METHYLATION_NAMES = {"wgbs", "methylation", "dna_methylation", "5mc"}

DEFAULTS = {
    "gtf": base.REQUIRED, "fasta": base.REQUIRED, "samples": base.REQUIRED,
    "biotypes": None, "tss_flank": [1000, 500], "tts_flank": [500, 500],
    "log_base": 2.0, "pseudocount": 1.0, "epigenome_dtype": "float16",
    "allow_chrom_mismatch": False, "chunk_size": 1000, "track_order": "paper",
    "max_genes_outside": 0.01,
    "chrom_aliases": None,
    "split": {"method": "random", "fractions": [0.6, 0.2, 0.2], "seed": 0, "group": "gene_id"},
}
SAMPLE_KEYS = {"name", "expression", "expression_column", "gene_column", "tracks"}
TRACK_KEYS = {"path", "transform", "value_column"}


# ----------------------------------------------------------------------------- pure functions
#: iSEGnet's window: TSS[-1000, +500) ⊕ TTS[-500, +500) (oriented offsets).
ISEGNET_LAYOUT = window_layout(DEFAULTS["tss_flank"], DEFAULTS["tts_flank"])


def match_gene_ids(table_ids: Sequence[str], genes: Sequence[Gene], source: str,
                   dropped: Dropped | None = None, context: str = "") -> dict[str, Gene]:
    """Map expression-table ids to genes: exact id, then both without their version
    suffix (``ENSG….5`` ↔ ``ENSG…``) where that stem names one gene of the annotation
    (C. elegans' ``ZK1010.1`` and ``ZK1010.2`` are two genes, not two versions: a table's
    ``ZK1010.7`` matches neither), then the genes' ``xrefs`` (NCBI GeneID).

    Each gene is matched once: an exact match wins, then the first table id. The ids
    left out — absent from the annotation (reason ``skipped_in_annotation`` when the
    reader skipped that gene, see :attr:`kerasgene.io.annotation.Genes.skipped`) or a second
    id of one gene (``duplicate_gene``) — go to ``dropped`` (with ``context``); without
    ``dropped`` they are counted in a warning.

    Raises
    ------
    InputFileError
        When no table id matches.
    """
    by_id = {g.id: g for g in genes}
    by_stem = gene_stem_index(g.id for g in genes)
    by_xref: dict[str, Gene] = {}
    for g in genes:
        for x in g.xrefs:
            by_xref.setdefault(x, g)
    candidates = {tid: gene_id_candidates(tid, by_id, by_stem) for tid in table_ids}
    claimed = {tid: tid for tid in table_ids if tid in by_id}  # exact matches claim first
    matched: dict[str, Gene] = {}
    missing, duplicate = [], []
    for tid in table_ids:
        ids = candidates[tid]
        g = by_id[ids[0]] if len(ids) == 1 else by_xref.get(str(tid))
        if g is None:
            missing.append(tid)
        elif claimed.setdefault(g.id, tid) != tid:
            duplicate.append((tid, g))
        else:
            matched[tid] = g
    if not matched:
        example = ", ".join(list(map(str, table_ids))[:3])
        raise InputFileError(f"{source}: none of its {len(table_ids)} gene ids ({example}, ...) "
                             f"is in the annotation")
    skipped = getattr(genes, "skipped", {})
    skipped_stems = {gene_id_stem(k): v for k, v in skipped.items()}
    if dropped is not None:
        for tid in missing:
            why = skipped.get(tid) or skipped_stems.get(gene_id_stem(tid))
            alike = candidates[tid]
            detail = why or f"not in the annotation ({source})" + (
                f"; its id without the version matches {len(alike)} genes "
                f"({', '.join(alike[:3])}), so none is taken" if len(alike) > 1 else "")
            dropped.add(tid, "skipped_in_annotation" if why else "not_in_annotation",
                        context=context, detail=detail)
        for tid, g in duplicate:
            dropped.add_gene(tid, g, "duplicate_gene", context=context,
                             detail=f"gene {g.id} is matched by {claimed[g.id]}")
    elif missing or duplicate:
        log.warning("%s: %d of %d gene ids are absent from the annotation and %d match a gene "
                    "another id matches (ignored): %s", source, len(missing), len(table_ids),
                    len(duplicate), ", ".join(map(str, (missing + [t for t, _ in duplicate])[:5])))
    return matched


def default_transform(track_name: str) -> str:
    """The paper's transform for a track name: ``percent`` for WGBS, ``neglog10p`` else."""
    return "percent" if track_name.lower() in _METHYLATION_NAMES else "neglog10p"


# ----------------------------------------------------------------------------- dataset
@base.register("isegnet")
class RegionsDataset(base.Dataset):
    """iSEGnet examples: ``sequence`` (L, 4) shared per gene, ``epigenome`` (L, m), target
    ``expression`` (log TPM)."""

    channel_keys: ClassVar[Mapping[str, str]] = {"epigenome": "track_names"}

    def _output_spec(self, target):
        a = self.arrays
        return {"sequence": (a["sequence"].shape[1:], a["sequence"].dtype),
                "epigenome": (a["epigenome"].shape[1:], a["epigenome"].dtype),
                "target": ((), a["expression"].dtype)}

    def _gather(self, idx, target=None):
        idx = np.asarray(idx, dtype=np.int64)
        rows = np.asarray(self.arrays["sequence_row"][idx])
        return {"sequence": self.arrays["sequence"][rows],
                "epigenome": self.arrays["epigenome"][idx],
                "target": np.asarray(self.arrays["expression"][idx])}


def _sample_specs(cfg: Mapping, base_dir) -> list[dict]:
    samples = cfg["samples"]
    if isinstance(samples, Mapping):
        samples = [samples]
    if not isinstance(samples, Sequence) or not samples:
        raise ConfigError("isegnet.samples: expected a non-empty list of samples")
    out, names = [], None
    for i, s in enumerate(samples):
        where = f"isegnet.samples[{i}]"
        base.check_keys(s, SAMPLE_KEYS, where)
        check_column_name(s.get("expression_column"), f"{where}.expression_column")
        for key in ("expression", "tracks"):
            if key not in s:
                raise ConfigError(f"{where}: missing required key {key!r}")
        tracks = {}
        if not isinstance(s["tracks"], Mapping) or not s["tracks"]:
            raise ConfigError(f"{where}.tracks: expected a mapping track name → bigWig")
        for tname, spec in s["tracks"].items():
            if isinstance(spec, Mapping):
                base.check_keys(spec, TRACK_KEYS, f"{where}.tracks.{tname}")
                if "path" not in spec:
                    raise ConfigError(f"{where}.tracks.{tname}: missing required key 'path'")
                path, transform = spec["path"], spec.get("transform", default_transform(tname))
                extra = (spec["value_column"],) if "value_column" in spec else ()
            else:
                path, transform, extra = spec, default_transform(tname), ()
            tracks[str(tname)] = (str(base.resolve_path(path, base_dir)), transform, *extra)
        _check_track_files(where, tracks)
        if cfg["track_order"] not in ("paper", "as_given"):
            raise ConfigError(f"isegnet.track_order: expected paper or as_given, got "
                              f"{cfg['track_order']!r}")
        if cfg["track_order"] == "paper" and set(tracks) == set(ISEGNET_TRACKS):
            tracks = {t: tracks[t] for t in ISEGNET_TRACKS}
        if names is None:
            names = list(tracks)
        elif list(tracks) != names:
            raise ConfigError(f"{where}.tracks: names {list(tracks)} differ from the first "
                              f"sample's {names} (same tracks, same order required)")
        out.append({"name": str(s.get("name", f"sample{i}")),
                    "expression": str(base.resolve_path(s["expression"], base_dir)),
                    "expression_column": s.get("expression_column"),
                    "gene_column": s.get("gene_column", 0), "tracks": tracks})
    if len({s["name"] for s in out}) != len(out):
        raise ConfigError("isegnet.samples: sample names must be unique")
    return out


def _check_track_files(where: str, tracks: Mapping[str, tuple]) -> None:
    """Raise ConfigError when two tracks of a sample name one file (``tracks``: name →
    (path, transform[, value_column])): their channels would hold the same values, or
    the same values under two transforms (a path copied from another track's entry).
    One bigBed read for two of its fields (two ``value_column``) is fine."""
    keys = {name: (path, *column) for name, (path, _, *column) in tracks.items()}
    for first, name, what in same_data(keys)[:1]:
        raise ConfigError(f"{where}.tracks: {first} and {name} {what}; expected each "
                          "track's own file")


def _labels(sample: dict, genes: list[Gene], log_base: float, pseudocount: float,
            dropped: Dropped) -> tuple[list[Gene], np.ndarray, str]:
    """(genes, log labels, the column read) of one sample; ids left out go to
    ``dropped``. Only one column is read (``expression_column``, else
    :func:`~kerasgene.io.expression.sample_column`'s), so a quantifier's text columns
    beside it (RSEM's ``transcript_id(s)``) are no error; a column that cannot be TPM is
    warned about (:func:`~kerasgene.io.expression.warn_not_tpm`)."""
    col = sample["expression_column"] or sample_column(
        sample["expression"], sample["gene_column"], sample["name"],
        f"isegnet: sample {sample['name']!r}")
    values = read_expression_table(sample["expression"], sample["gene_column"], [col])[col]
    source = f"{sample['expression']} [{col}]"
    check_range(values, source, low=0.0, high=MAX_TPM, what="TPM")
    warn_not_tpm(values.to_numpy(np.float64), source, f"isegnet: sample {sample['name']!r}")
    matched = match_gene_ids(list(values.index), genes, sample["expression"], dropped,
                             sample["name"])
    out_genes, out_vals = [], []
    for tid, g in matched.items():
        value = values[tid]
        if np.isnan(value):
            dropped.add_gene(tid, g, "missing_expression", context=sample["name"],
                             detail=f"empty or NA in {source}")
        elif value == 0:
            dropped.add_gene(tid, g, "zero_expression", context=sample["name"],
                             detail=f"TPM 0 in {source}")
        else:
            out_genes.append(g)
            out_vals.append(value)
    labels = log_transform(np.asarray(out_vals), base=log_base, pseudocount=pseudocount)
    return out_genes, labels.astype(np.float32), col


def _warn_shared_columns(samples: list[dict], columns: list[str]) -> None:
    """Warn when samples read one column of one expression table: their labels are the
    same (an ``expression_column`` copied from another sample, or a sample name that is
    no column of a one-column table); samples that share one RNA-seq on purpose may
    ignore it."""
    readers: dict[tuple[str, str], list[dict]] = {}
    for s, col in zip(samples, columns, strict=True):
        readers.setdefault((os.path.realpath(s["expression"]), col), []).append(s)
    for (_, col), same in readers.items():
        if len(same) > 1:
            log.warning("isegnet: samples %s read one column, %r of %s: each gene gets the "
                        "same label in all of them; expected each sample's own column "
                        "(expression_column), unless they share one expression measurement",
                        ", ".join(repr(s["name"]) for s in same), col, same[0]["expression"])


def _grouped_by_gene(split: Mapping | None) -> dict | None:
    """A random ``split`` keeps a gene's replicates in one set unless it says otherwise:
    ``{seed: 3}`` alone replaced the whole default, ``group: gene_id`` with it, and put a
    gene's samples into different sets (``group: null`` still turns grouping off)."""
    if split is None:
        return None
    split = dict(split)
    if split.get("method", "random") == "random":
        split.setdefault("group", "gene_id")
    return split


def build_regions(config: Mapping | None = None, out_dir: str | os.PathLike | None = None, *,
                  force: bool = False, progress: bool = True,
                  base_dir: str | os.PathLike | None = None, **kwargs) -> RegionsDataset:
    """Prepare the iSEGnet dataset (config keys in the module docstring).

    Returns the cached dataset when ``out_dir`` already holds one built from the same
    inputs and parameters. Peak memory is bounded by ``chunk_size``: arrays are appended to
    their ``.npy`` files chunk by chunk, chromosome by chromosome.
    """
    cfg = base.resolve_config(config, kwargs, DEFAULTS, "isegnet")
    if out_dir is None:
        raise ConfigError("isegnet: out_dir is required")
    check_log_options(cfg["log_base"], cfg["pseudocount"], "isegnet")
    cfg["split"] = _grouped_by_gene(cfg["split"])
    splits.check_split_keys(cfg["split"] or {})  # before any file is read
    samples = _sample_specs(cfg, base_dir)
    tss_flank, tts_flank, epi_dtype = _window_options(cfg)
    if int(cfg["chunk_size"]) < 1:
        raise ConfigError("isegnet.chunk_size: must be >= 1")
    outside = max_outside(cfg["max_genes_outside"], "isegnet")
    gtf = base.resolve_path(cfg["gtf"], base_dir)
    fasta = base.resolve_path(cfg["fasta"], base_dir)
    aliases = base.resolve_path(cfg["chrom_aliases"], base_dir)
    params, inputs = _cache_identity(cfg, samples, gtf, fasta, aliases, tss_flank, tts_flank)
    writer, cached = storage.writer_or_cached(out_dir, "isegnet", params, inputs, cfg["split"],
                                              force)
    if cached is not None:
        return cached

    genes = read_gtf(gtf, cfg["biotypes"], progress)
    table = load_aliases(aliases)
    genome = Genome(fasta, aliases=table)
    tracksets = []
    dropped = Dropped("isegnet")
    try:
        for s in samples:
            tracksets.append(TrackSet(s["tracks"], aliases=table, chrom_sizes=genome.chroms))
        if not cfg["allow_chrom_mismatch"]:
            for ts in tracksets:
                ts.check_same_chroms()
        labelled = [_labels(s, genes, cfg["log_base"], cfg["pseudocount"], dropped)
                    for s in samples]
        _warn_shared_columns(samples, [col for _, _, col in labelled])
        per_sample = [(gs, y) for gs, y, _ in labelled]
        chrom_order, bad = _screen(per_sample, genome, tracksets, (tss_flank, tts_flank),
                                   (str(gtf), str(fasta)), outside)
        examples, uniq = _examples(per_sample, samples, chrom_order, bad, dropped)
        length = sum(tss_flank) + sum(tts_flank)
        n_tracks = len(tracksets[0].names)
        # split first: an empty set fails before the windows are read
        index, split_meta = storage.finish_split(_example_index(examples, samples), cfg["split"],
                                              None, RegionsDataset._split_defaults())
        meta = {
            "n_examples": len(examples), "n_genes": len(uniq),
            "input_names": ["sequence", "epigenome"],
            "input_shapes": {"sequence": [length, 4], "epigenome": [length, n_tracks]},
            "target_name": "expression", "targets": ["expression"],
            "track_names": tracksets[0].names, "samples": [s["name"] for s in samples],
            "label": f"log{cfg['log_base']:g}(TPM + {cfg['pseudocount']:g})",
            "dropped": dropped.counts(), **split_meta,
        }
        with writer:
            _write_windows(writer, examples, uniq, genome, tracksets, (tss_flank, tts_flank),
                           epi_dtype, int(cfg["chunk_size"]), progress,
                           [s["name"] for s in samples])
            dropped.write(writer.tmp)
            return writer.commit(index, meta)
    finally:
        genome.close()
        for ts in tracksets:
            ts.close()


def _window_options(cfg: Mapping) -> tuple[tuple[int, int], tuple[int, int], np.dtype]:
    """Checked ``tss_flank``, ``tts_flank`` and ``epigenome_dtype``."""
    try:
        tss_flank = tuple(int(v) for v in cfg["tss_flank"])
        tts_flank = tuple(int(v) for v in cfg["tts_flank"])
    except (TypeError, ValueError):
        raise ConfigError("isegnet: tss_flank and tts_flank must be [upstream, downstream] "
                          f"integers, got {cfg['tss_flank']!r}, {cfg['tts_flank']!r}") from None
    if len(tss_flank) != 2 or len(tts_flank) != 2 or min(tss_flank + tts_flank) < 0 \
            or sum(tss_flank) + sum(tts_flank) <= 0:
        raise ConfigError("isegnet: tss_flank and tts_flank must be [upstream, downstream] >= 0")
    try:
        epi_dtype = np.dtype(cfg["epigenome_dtype"])
    except TypeError:
        raise ConfigError(f"isegnet.epigenome_dtype: not a dtype: {cfg['epigenome_dtype']!r}") from None
    if epi_dtype not in (np.float16, np.float32):
        raise ConfigError("isegnet.epigenome_dtype: expected float16 or float32")
    return tss_flank, tts_flank, epi_dtype


def _cache_identity(cfg: Mapping, samples: list[dict], gtf, fasta, aliases,
                    tss_flank: tuple[int, int], tts_flank: tuple[int, int]
                    ) -> tuple[dict, dict]:
    """(parameters, input files) that identify a built dataset (its cache key)."""
    inputs = {"gtf": gtf, "fasta": fasta}
    for i, s in enumerate(samples):
        inputs[f"samples[{i}].expression"] = s["expression"]
        for tname, spec in s["tracks"].items():
            inputs[f"samples[{i}].tracks.{tname}"] = spec[0]
    if aliases is not None:
        inputs["chrom_aliases"] = aliases
    params = {k: v for k, v in cfg.items() if k not in ("split", "samples", "gtf", "fasta")}
    params["samples"] = [{**s, "tracks": {k: dict(zip(("path", "transform", "value_column"), t))
                                          for k, t in s["tracks"].items()}}
                         for s in samples]
    params.update(tss_flank=list(tss_flank), tts_flank=list(tts_flank))
    if cfg["track_order"] == "as_given":  # the cache key's JSON sorts the mapping by name
        params["channel_orders"] = [list(s["tracks"]) for s in samples]
    return params, inputs


def _screen(per_sample: list[tuple[list[Gene], np.ndarray]], genome: Genome,
            tracksets: list[TrackSet], flanks: tuple[tuple[int, int], tuple[int, int]],
            files: tuple[str, str], outside: float) -> tuple[dict[str, int], dict]:
    """Chromosome order (usable chromosomes: in the FASTA and every track) and the genes
    to leave out (:func:`screen_genes`; ``files`` = annotation and genome, for messages;
    a gene on a chromosome some file lacks: the files, :func:`missing_chrom`)."""
    readers = [genome, *(t for ts in tracksets for t in ts.tracks.values())]
    chroms = {g.chrom for gs, _ in per_sample for g in gs}
    missing = {c: m for c in chroms if (m := missing_chrom(c, readers)) is not None}
    chroms -= set(missing)
    other_length = chrom_length_mismatches(chroms, readers)
    chroms -= set(other_length)
    chrom_order = {c: i for i, c in enumerate(sorted(chroms, key=sort_key))}
    lengths = {c: genome.chroms[genome.resolve(c)] for c in chroms}
    genes = [g for gs, _ in per_sample for g in gs]
    bad = screen_genes(genes, lengths, *flanks, task="isegnet", annotation=files[0],
                       genome=files[1], max_outside=outside)
    bad.update((g.id, ("chrom_length_mismatch", other_length[g.chrom]))
               for g in genes if g.chrom in other_length)
    bad.update((g.id, ("unknown_chrom", missing[g.chrom])) for g in genes if g.chrom in missing)
    return chrom_order, bad


def _examples(per_sample: list[tuple[list[Gene], np.ndarray]], samples: list[dict],
              chrom_order: dict[str, int], bad: Mapping, dropped: Dropped
              ) -> tuple[list[tuple[int, Gene, float]], list[Gene]]:
    """Examples (sample index, gene, label) kept, in sample, chromosome and TSS order, and
    the unique genes in chromosome and TSS order; the genes of ``bad`` go to ``dropped``."""
    examples = []  # (sample index, gene, label)
    for si, (gs, labels) in enumerate(per_sample):
        for g, y in zip(gs, labels):
            if g.id in bad:
                reason, detail = bad[g.id]
                dropped.add_gene(g.id, g, reason, context=samples[si]["name"], detail=detail)
            else:
                examples.append((si, g, y))
    dropped.warn()
    if not examples:
        raise InputFileError("isegnet: no gene left after matching expression, annotation, "
                             f"FASTA and tracks ({dropped.summary()})"
                             + ("; expected files that name the chromosomes alike, or "
                                "chrom_aliases mapping their names (chr1 / 1 / NC_000001.11)"
                                if "unknown_chrom" in dropped.counts() else ""))
    examples.sort(key=lambda e: (e[0], chrom_order[e[1].chrom], e[1].tss, e[1].id))
    uniq = sorted({g.id: g for _, g, _ in examples}.values(),
                  key=lambda g: (chrom_order[g.chrom], g.tss, g.id))
    return examples, uniq


def _example_index(examples: list[tuple[int, Gene, float]], samples: list[dict]) -> pd.DataFrame:
    """index.tsv's columns before the split: gene, sample and coordinates per example."""
    return pd.DataFrame({
        "gene_id": [g.id for _, g, _ in examples],
        "gene_name": [g.name for _, g, _ in examples],
        "sample": [samples[si]["name"] for si, _, _ in examples],
        "chrom": [g.chrom for _, g, _ in examples],
        "strand": [g.strand for _, g, _ in examples],
        "tss": np.array([g.tss for _, g, _ in examples], dtype=np.int64),
        "tts": np.array([g.tts for _, g, _ in examples], dtype=np.int64),
    })


def _write_windows(writer: storage.DatasetWriter, examples: list[tuple[int, Gene, float]],
                   uniq: list[Gene], genome: Genome, tracksets: list[TrackSet],
                   flanks: tuple[tuple[int, int], tuple[int, int]], epi_dtype: np.dtype,
                   chunk: int, progress: bool, sample_names: list[str]) -> None:
    """Write ``sequence`` (one per unique gene), ``epigenome`` (one per example),
    ``expression`` and ``sequence_row``, reading ``chunk`` genes at a time; warn about a
    sample whose tracks are not on the scale of the others', or swapped
    (:func:`kerasgene.io.track_checks.sample_file_mismatches` of each sample's first
    :data:`~kerasgene.io.track_checks.STATS_WINDOWS` windows)."""
    tss_flank, tts_flank = flanks
    length = sum(tss_flank) + sum(tts_flank)
    n_ex = len(examples)
    seq_out = writer.array("sequence", (len(uniq), length, 4), np.uint8)
    found_other: dict[str, int] = {}  # windows with IUPAC codes: one warning for the build
    with tqdm(total=len(uniq) + n_ex, desc="isegnet windows", unit="gene",
              disable=not progress) as bar:
        for lo in range(0, len(uniq), chunk):
            part = uniq[lo : lo + chunk]
            seq, _ = extract_regions(part, genome, None, tss_flank, tts_flank,
                                     found_other=found_other)
            seq_out.append(seq)
            bar.update(len(part))
        warn_other_characters(found_other, genome.path)
        epi_out = writer.array("epigenome", (n_ex, length, len(tracksets[0].names)), epi_dtype)
        firsts: dict[int, list[np.ndarray]] = {}  # sample → its first windows
        # sample → chromosome → (windows, whether each track is ever != 0 in them)
        signal: dict[int, dict[str, tuple[int, np.ndarray]]] = {}
        for lo in range(0, n_ex, chunk):
            part = examples[lo : lo + chunk]
            # a chunk may straddle two samples: read each sample's genes with its tracks
            for si in sorted({e[0] for e in part}):
                sub = [g for s_i, g, _ in part if s_i == si]
                _, epi = extract_regions(sub, None, tracksets[si], tss_flank, tts_flank,
                                         epigenome_dtype=epi_dtype)
                epi_out.append(epi)
                note_signal(signal.setdefault(si, {}), [g.chrom for g in sub], epi)
                have = sum(len(a) for a in firsts.setdefault(si, []))
                if have < STATS_WINDOWS:
                    firsts[si].append(epi[: STATS_WINDOWS - have])
            bar.update(len(part))
    _warn_sample_scales({sample_names[si]: np.concatenate(a) for si, a in firsts.items()},
                        tracksets[0].names)
    for si, by_chrom in signal.items():
        tracks = {name: t.path for name, t in tracksets[si].tracks.items()}
        for message in no_signal_messages(by_chrom, tracks, f"sample {sample_names[si]}"):
            log.warning("isegnet: %s", message)
    row_of = {g.id: i for i, g in enumerate(uniq)}
    writer.save("expression", np.array([y for _, _, y in examples], dtype=np.float32))
    writer.save("sequence_row", np.array([row_of[g.id] for _, g, _ in examples], dtype=np.int32))


def _warn_sample_scales(windows: Mapping[str, np.ndarray], names: list[str]) -> None:
    """Warn about each sample's track whose values in ``windows`` (sample → (n, length,
    len(names))) are not on the scale of the other samples', or whose profile along the
    window follows another track's of theirs (files swapped in one sample's config)."""
    for message in sample_file_mismatches(windows, names):
        log.warning("isegnet: %s", message)


__all__ = [
    "ISEGNET_TRACKS",
    "RegionsDataset",
    "build_regions",
    "default_transform",
    "match_gene_ids",
]
