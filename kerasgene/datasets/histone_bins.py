"""DeepChrome / Team Jamaica: 100 bins × 5 histone marks per gene and cell type.

An example is a (cell type, gene). Its input ``histone`` (n_bins, channels) is assembled
on the fly from three stored arrays, channels last:

1. ``marks`` (N, n_bins, 5): the example's own mark signal;
2. ``cell_stats`` (n_cells, n_bins, 10), with ``cell_stats: true``: the mean then the
   standard deviation of each (mark, bin) over all genes of the example's cell type —
   Team Jamaica's "stacked under the sample" 15 × 100 input. Computed from inputs only
   (no labels), over every gene of the cell type, so it works for held-out (unseen) cell
   types as well;
3. ``kmers`` (n_genes, n_bins, K), with ``kmers:``: counts of each k-mer over {A,C,G,T,N}
   lying wholly inside each bin of the gene's strand-oriented sequence, keeping only the
   k-mers seen more than ``min_count`` times over the dataset's genes (each gene counted
   once; 10,000 → 64 3-mers in the paper). Stored as uint16 counts, not rescaled.

So DeepChrome's input is (100, 5) and Team Jamaica's (100, 5 + 10 + 64) = (100, 79).

Sources (``source``; inferred from the keys when omitted)
-------------------------------------------------------
``bigwig``
    ``cells: {CELL: {marks: {MARK: bigWig, ...}, expression_column: COL}}``, ``gtf``,
    ``expression`` (a genes × cells table; a cell's column defaults to its name; a cell
    entry may give its own ``expression`` table). Bins of ``window`` bp centred on the TSS
    (default TSS ± 5 kb, 100 bins of 100 bp), oriented 5'→3' (``strand_orient``), each the
    mean (``bin_stat: mean``) or sum of the bigWig over the bin.
``deepchrome_csv``
    ``cells: {CELL: CSV | [CSV, ...] | {train: CSV, valid: CSV, test: CSV}}`` in the layout
    ``GeneID,BinID,H3K27me3,H3K36me3,H3K4me1,H3K4me3,H3K9me3,label`` (100 rows per gene,
    header optional). Labels are the given binary ones (``label: binary`` only); files given
    per split make ``split: {method: given}`` the default.
``kaggle_npz``
    ``npz: PATH | [PATH, ...] | {NAME: PATH, ...}``: one array per cell type (the array's
    key) of shape (genes, n_bins, 7) = gene id, 5 marks, expression (read with
    ``allow_pickle=False``). A cell type present in several files (Kaggle's train.npz and
    eval.npz hold different genes) is merged; ``index.tsv`` records each example's
    ``file`` (the mapping's NAME or the file stem), and NAMEs train / valid / test become
    the labels of ``split: {method: given}``. ``cell_types``: optional subset of keys.

Other config keys
-----------------
``marks`` = [H3K27me3, H3K36me3, H3K4me1, H3K4me3, H3K9me3] (DeepChrome's order)
``n_bins`` = 100; ``window`` = 10000; ``bin_stat`` = mean; ``strand_orient`` = true
``mark_transform`` = none | log1p  (applied to the marks before the cell statistics)
``label`` = regression | binary  (binary: expression above the cell type's median → 1)
``log`` = null → true for ``bigwig`` (log_base(x + pseudocount) of the table's values),
false for npz (values used as given); ``log_base`` = 2, ``pseudocount`` = 1
``cell_stats`` = false; ``kmers`` = null or ``{k: 3, min_count: 10000}``; k-mers need
gene coordinates: ``gtf`` + ``fasta`` (for CSV / npz sources gene ids are looked up in the
GTF; examples of genes without coordinates are dropped with a warning)
``biotypes`` = null; ``chunk_size`` = 500
``max_genes_outside`` = 0.01 (see below)
``chrom_aliases`` = null: optional chromosome alias table (UCSC ``chromAlias.txt`` or a user
table; :mod:`kerasgene.io.chroms`) for the tracks, GTF and FASTA. Tracks may be bigWig, bigBed
or bedGraph (:mod:`kerasgene.io.track_formats`; a bedGraph's chromosome sizes are its own);
the FASTA may be plain, gzip, bgzip or 2bit
``split`` = null → ``given`` for per-split CSVs, else ``{method: random, group: gene_id}``;
``unseen_cell`` holds out whole cell types.

What is left out, and why
-------------------------
Counted in one warning per reason and listed in ``dropped.tsv``
(:mod:`kerasgene.datasets.dropped`): expression ids absent from the annotation (``gtf``
may be GTF or GFF3), a second id of one gene, missing (empty / NA) expression, genes on
chromosomes the marks' bigWigs (or the FASTA, with k-mers) lack, and genes whose body runs
past the end of their chromosome — as in :mod:`kerasgene.datasets.regions`, more than one
such gene and more than ``max_genes_outside`` of a chromosome's genes is an error naming
the annotation and the genome. TSS windows running past a chromosome end are kept, padded
with 0 (marks) and N (k-mers), with one warning. Expression to be log-transformed must be
a TPM (finite, ≥ 0, ≤ 10⁷); values used as given must be finite.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kerasgene._io import check_readable
from kerasgene.datasets import base
from kerasgene.datasets.dropped import Dropped, max_outside, remind
from kerasgene.datasets.regions import gene_windows, match_gene_ids, screen_genes
from kerasgene.dna import kmer_counts, kmer_names
from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError
from kerasgene.io.annotation import Gene, read_gtf
from kerasgene.io.chroms import load_aliases
from kerasgene.io.expression import (
    MAX_TPM,
    check_range,
    discretize_quantiles,
    log_transform,
    read_expression_table,
)
from kerasgene.io.genome import Genome
from kerasgene.io.tracks import TrackSet

log = logging.getLogger(__name__)

DEEPCHROME_MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")
SOURCES = ("bigwig", "deepchrome_csv", "kaggle_npz")
DEFAULTS = {
    "source": None, "cells": None, "npz": None, "cell_types": None, "gtf": None,
    "fasta": None, "expression": None, "biotypes": None, "marks": list(DEEPCHROME_MARKS),
    "n_bins": 100, "window": 10_000, "bin_stat": "mean", "strand_orient": True,
    "mark_transform": "none", "label": "regression", "log": None, "log_base": 2.0,
    "pseudocount": 1.0, "cell_stats": False, "kmers": None, "chunk_size": 500,
    "max_genes_outside": 0.01, "split": None, "chrom_aliases": None,
}
KMER_KEYS = {"k", "min_count", "alphabet"}
BIGWIG_CELL_KEYS = {"marks", "expression", "expression_column", "gene_column"}


@base.register("histone")
class HistoneDataset(base.Dataset):
    """Examples (cell type, gene): input ``histone`` (n_bins, channels); targets
    ``expression`` (float32) and ``class`` (int8, 1 = above the cell type's median)."""

    @property
    def channel_names(self) -> list[str]:
        return list(self.meta["channel_names"])

    def _output_spec(self, target):
        shape = tuple(self.meta["input_shapes"]["histone"])
        label = self.arrays["expression"] if target == "expression" else self.arrays["label"]
        return {"histone": (shape, np.dtype(np.float32)), "target": ((), label.dtype)}

    def _gather(self, idx, target=None):
        target = self._target(target)
        idx = np.asarray(idx, dtype=np.int64)
        parts = [np.asarray(self.arrays["marks"][idx], dtype=np.float32)]
        if "cell_stats" in self.arrays:
            parts.append(self.arrays["cell_stats"][np.asarray(self.arrays["ex_cell"][idx])])
        if "kmers" in self.arrays:
            parts.append(self.arrays["kmers"][np.asarray(self.arrays["ex_gene"][idx])]
                         .astype(np.float32))
        x = np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        label = self.arrays["expression"] if target == "expression" else self.arrays["label"]
        return {"histone": x, "target": np.asarray(label[idx])}


# ----------------------------------------------------------------------------- readers
def read_deepchrome_csv(path: str | os.PathLike, n_marks: int = 5, n_bins: int = 100
                        ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a DeepChrome CSV (``GeneID,BinID,<marks>,label``, ``n_bins`` rows per gene).

    Returns
    -------
    gene_ids : list of str (leading zeros kept)
    marks : np.ndarray float32, shape (G, n_bins, n_marks), bins in BinID order
    labels : np.ndarray int8, shape (G,)
    """
    path = check_readable(path, "DeepChrome CSV")
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    header = 0 if first.split(",")[0].strip().lower() in ("geneid", "gene_id", "gene") else None
    try:
        df = pd.read_csv(path, header=header, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputFileError(f"{path}: cannot parse as CSV ({err})") from None
    if df.shape[1] != n_marks + 3:
        raise InputFileError(f"{path}: {df.shape[1]} columns, expected {n_marks + 3} "
                             f"(GeneID, BinID, {n_marks} marks, label)")
    try:
        nums = df.iloc[:, 1:].astype(np.float64).to_numpy()
    except ValueError as err:
        raise InputFileError(f"{path}: non-numeric bin, mark or label value ({err})") from None
    genes = df.iloc[:, 0].str.strip().to_numpy()
    if len(df) % n_bins:
        raise InputFileError(f"{path}: {len(df)} rows is not a multiple of {n_bins} bins per gene")
    genes = genes.reshape(-1, n_bins)
    if (genes != genes[:, :1]).any():
        bad = int(np.argwhere((genes != genes[:, :1]).any(axis=1))[0, 0])
        raise InputFileError(f"{path}: gene {genes[bad, 0]!r} does not have {n_bins} consecutive "
                             f"rows")
    nums = nums.reshape(-1, n_bins, n_marks + 2)
    order = np.argsort(nums[:, :, 0], axis=1, kind="stable")
    nums = np.take_along_axis(nums, order[:, :, None], axis=1)
    if (nums[:, :, 0] != np.arange(1, n_bins + 1)).any():
        raise InputFileError(f"{path}: BinID must run 1..{n_bins} for every gene")
    labels = nums[:, :, -1]
    if (labels != labels[:, :1]).any() or not np.isin(labels, (0, 1)).all():
        raise InputFileError(f"{path}: label must be 0 or 1 and the same on every row of a gene")
    return list(genes[:, 0]), nums[:, :, 1:-1].astype(np.float32), labels[:, 0].astype(np.int8)


def read_kaggle_npz(path: str | os.PathLike, n_marks: int = 5) -> dict[str, tuple]:
    """Read a Kaggle npz: per cell type an array (genes, n_bins, 2 + n_marks) = gene id,
    marks, expression (expression and gene id taken from bin 0).

    Returns
    -------
    dict cell → (gene_ids list[str], marks float32 (G, n_bins, n_marks), expression float64 (G,))
    """
    path = check_readable(path, "npz file")
    out = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for cell in npz.files:
                arr = npz[cell]
                if arr.ndim != 3 or arr.shape[2] != n_marks + 2:
                    raise InputFileError(f"{path}: array {cell!r} has shape {arr.shape}, expected "
                                         f"(genes, bins, {n_marks + 2})")
                ids = arr[:, 0, 0]
                gene_ids = [str(int(v)) if float(v).is_integer() else str(v) for v in ids]
                out[cell] = (gene_ids, arr[:, :, 1:-1].astype(np.float32),
                             arr[:, 0, -1].astype(np.float64))
    except ValueError as err:
        raise InputFileError(f"{path}: not a plain numeric npz ({err})") from None
    except (OSError, EOFError) as err:
        raise InputFileError(f"{path}: cannot read npz ({err})") from None
    return out


def _bin_windows(trackset: TrackSet, genes: Sequence[Gene], window: int, n_bins: int,
                 stat: str, orient: bool) -> np.ndarray:
    half = window // 2
    chroms, starts, ends, strands = gene_windows(genes, (half, window - half), (0, 0))
    if not orient:
        strands = np.full(len(genes), "+")
        starts = np.array([[g.tss - half] for g in genes], dtype=np.int64).reshape(-1, 1)
        ends = starts + window
    vals = trackset.read_windows(chroms, starts[:, 0], ends[:, 0], strands)
    vals = vals.reshape(len(genes), n_bins, window // n_bins, -1)
    return vals.sum(axis=2) if stat == "sum" else vals.mean(axis=2)


def _sequences(genome: Genome, genes: Sequence[Gene], window: int, orient: bool) -> list[str]:
    half = window // 2
    chroms, starts, ends, strands = gene_windows(genes, (half, window - half), (0, 0))
    out = []
    for i, g in enumerate(genes):
        if orient:
            out.append(genome.fetch(chroms[i], int(starts[i, 0]), int(ends[i, 0]), strands[i]))
        else:
            out.append(genome.fetch(g.chrom, g.tss - half, g.tss - half + window, "+"))
    return out


# ----------------------------------------------------------------------------- builder
def _infer_source(cfg) -> str:
    if cfg["source"] is not None:
        if cfg["source"] not in SOURCES:
            raise ConfigError(f"histone.source: expected one of {SOURCES}, got {cfg['source']!r}")
        return cfg["source"]
    if cfg["npz"] is not None:
        return "kaggle_npz"
    cells = cfg["cells"]
    if not cells:
        raise ConfigError("histone: give 'cells' (bigWigs or DeepChrome CSVs) or 'npz'")
    first = next(iter(cells.values()))
    return "bigwig" if isinstance(first, Mapping) and "marks" in first else "deepchrome_csv"


def _collect(cfg, source, base_dir, inputs) -> list[dict]:
    """Per cell: {cell, gene_ids, marks (G,B,M) | None, expression | None, label | None,
    given_split | None, genes (list[Gene]) | None, trackset spec | None}."""
    marks = list(cfg["marks"])
    n_bins = int(cfg["n_bins"])
    cells = []
    if source == "kaggle_npz":
        spec = cfg["npz"]
        if isinstance(spec, Mapping):
            files = [(str(k), v) for k, v in spec.items()]
        else:
            paths = spec if isinstance(spec, (list, tuple)) else [spec]
            files = [(None, v) for v in paths]
        merged: dict[str, dict] = {}
        for i, (name, p) in enumerate(files):
            p = base.resolve_path(p, base_dir)
            inputs[f"npz.{name or i}"] = p
            label = name if name in ("train", "valid", "test") else "none"
            for cell, (ids, m, expr) in read_kaggle_npz(p, len(marks)).items():
                if cfg["cell_types"] is not None and cell not in cfg["cell_types"]:
                    continue
                if m.shape[1] != n_bins:
                    raise InputFileError(f"{p}: {cell!r} has {m.shape[1]} bins, n_bins={n_bins}")
                c = merged.setdefault(cell, {"cell": cell, "gene_ids": [], "marks": [],
                                             "expression": [], "label": None,
                                             "given_split": [], "file": []})
                c["gene_ids"] += ids
                c["marks"].append(m)
                c["expression"].append(expr)
                c["given_split"] += [label] * len(ids)
                c["file"] += [name or p.stem] * len(ids)
        for c in merged.values():
            dup = pd.Index(c["gene_ids"]).duplicated()
            if dup.any():
                raise InputFileError(f"histone.npz: gene {c['gene_ids'][int(np.argmax(dup))]!r} "
                                     f"appears twice for cell type {c['cell']!r}")
            c["marks"] = np.concatenate(c["marks"])
            c["expression"] = np.concatenate(c["expression"])
            cells.append(c)
        if cfg["cell_types"] is not None:
            missing = sorted(set(cfg["cell_types"]) - set(merged))
            if missing:
                raise ConfigError(f"histone.cell_types: {missing[0]!r} is not in the npz files")
    elif source == "deepchrome_csv":
        for cell, spec in (cfg["cells"] or {}).items():
            if isinstance(spec, Mapping):
                base.check_keys(spec, {"train", "valid", "test"}, f"histone.cells.{cell}")
                files = list(spec.items())
            elif isinstance(spec, (list, tuple)):
                files = [(None, p) for p in spec]
            else:
                files = [(None, spec)]
            ids, ms, labels, given = [], [], [], []
            for split, p in files:
                p = base.resolve_path(p, base_dir)
                inputs[f"cells.{cell}.{split or len(ids)}"] = p
                gid, m, lab = read_deepchrome_csv(p, len(marks), n_bins)
                ids += gid
                ms.append(m)
                labels.append(lab)
                given += [split or "none"] * len(gid)
            cells.append({"cell": str(cell), "gene_ids": ids, "marks": np.concatenate(ms),
                          "expression": None, "label": np.concatenate(labels),
                          "given_split": given})
    else:
        if not cfg["gtf"]:
            raise ConfigError("histone: the bigwig source needs 'gtf'")
        for cell, spec in (cfg["cells"] or {}).items():
            where = f"histone.cells.{cell}"
            base.check_keys(spec, BIGWIG_CELL_KEYS, where)
            if "marks" not in spec:
                raise ConfigError(f"{where}: missing required key 'marks'")
            if set(spec["marks"]) != set(marks):
                raise ConfigError(f"{where}.marks: names {sorted(spec['marks'])} differ from "
                                  f"histone.marks {marks}")
            tracks = {}
            for mark in marks:  # channels in histone.marks order
                p = spec["marks"][mark]
                p = base.resolve_path(p, base_dir)
                inputs[f"cells.{cell}.marks.{mark}"] = p
                tracks[mark] = str(p)
            expr = spec.get("expression", cfg["expression"])
            if expr is None:
                raise ConfigError(f"{where}: no expression table (give histone.expression)")
            expr = base.resolve_path(expr, base_dir)
            inputs[f"cells.{cell}.expression"] = expr
            cells.append({"cell": str(cell), "tracks": tracks, "expression_path": expr,
                          "expression_column": spec.get("expression_column"),
                          "gene_column": spec.get("gene_column", 0), "label": None,
                          "given_split": None})
    if not cells:
        raise ConfigError("histone: no cell types to read")
    if len({c["cell"] for c in cells}) != len(cells):
        raise ConfigError("histone: duplicate cell type names")
    return cells


def _keep_rows(c: dict, rows: list[int]) -> None:
    """Keep examples ``rows`` of cell ``c`` in every per-example field."""
    if len(rows) == len(c["gene_ids"]):
        return
    for key in ("gene_ids", "genes", "given_split", "file"):
        if c.get(key) is not None:
            c[key] = [c[key][i] for i in rows]
    for key in ("marks", "expression", "label"):
        if c.get(key) is not None:
            c[key] = np.asarray(c[key])[rows]


def _bigwig_labels(c: dict, gtf_genes, do_log: bool, dropped: Dropped) -> None:
    """Genes and expression of a bigWig cell from its table; ids left out → ``dropped``."""
    table = read_expression_table(c["expression_path"], c["gene_column"])
    col = c["expression_column"] or (c["cell"] if c["cell"] in table.columns else None)
    if col is None or col not in table.columns:
        raise InputFileError(f"{c['expression_path']}: no column for cell {c['cell']!r} "
                             f"(columns: {list(table.columns)}); set expression_column")
    values = table[col]
    if do_log:
        check_range(values, f"{c['expression_path']} [{col}]", low=0.0, high=MAX_TPM,
                    what="TPM")
    matched = match_gene_ids(list(values.index), gtf_genes, str(c["expression_path"]),
                             dropped, c["cell"])
    order = sorted(matched.items(), key=lambda t: (t[1].chrom, t[1].tss, t[1].id))
    c["genes"] = [g for _, g in order]
    c["gene_ids"] = [g.id for g in c["genes"]]
    c["table_ids"] = [tid for tid, _ in order]
    c["expression"] = np.array([values[tid] for tid, _ in order], dtype=np.float64)


def _drop_missing_labels(c: dict, do_log: bool, dropped: Dropped) -> None:
    """Leave out examples whose expression is missing (NaN); infinite or (for values to
    be log-transformed) out-of-range values of npz sources are errors."""
    expr = c.get("expression")
    if expr is None:
        return
    expr = np.asarray(expr, dtype=np.float64)
    source = f"histone cell {c['cell']}"
    frame = pd.Series(expr, index=c["gene_ids"], name=c["cell"])
    if do_log:
        check_range(frame, source, low=0.0, high=MAX_TPM, what="TPM")
    else:
        check_range(frame, source, low=-np.inf, high=np.inf, what="expression")
    ids = c.get("table_ids", c["gene_ids"])
    for i in np.flatnonzero(np.isnan(expr)):
        g = c["genes"][i] if c.get("genes") else None
        if g is not None:
            dropped.add_gene(ids[i], g, "missing_expression", context=c["cell"])
        else:
            dropped.add(ids[i], "missing_expression", context=c["cell"])
    _keep_rows(c, list(np.flatnonzero(~np.isnan(expr))))
    c.pop("table_ids", None)


def _screen(cells: list[dict], outside: float, inputs, window: int, kmer_cfg,
            dropped: Dropped) -> None:
    """Leave out genes on chromosomes unknown to the tracks / FASTA or outside them."""
    half = window // 2
    tracks = [t for c in cells if c.get("trackset") is not None
              for t in c["trackset"].tracks.values()]
    genome = Genome(inputs["fasta"]) if kmer_cfg else None
    try:
        refs = [genome] if genome is not None else tracks[:1]
        lengths = {}
        for chrom in {g.chrom for c in cells for g in c["genes"]}:
            try:
                for t in tracks:
                    t.resolve(chrom)
                lengths[chrom] = refs[0].chroms[refs[0].resolve(chrom)]
            except UnknownChromosomeError:
                continue
    finally:
        if genome is not None:
            genome.close()
    reference = inputs["fasta"] if kmer_cfg else tracks[0].path
    bad = screen_genes([g for c in cells for g in c["genes"]], lengths, (half, window - half),
                       (0, 0), task="histone", annotation=str(inputs["gtf"]),
                       genome=str(reference), max_outside=outside)
    for c in cells:
        rows = []
        for i, g in enumerate(c["genes"]):
            if g.id in bad:
                reason, detail = bad[g.id]
                dropped.add_gene(c["gene_ids"][i], g, reason, context=c["cell"], detail=detail)
            else:
                rows.append(i)
        _keep_rows(c, rows)


def build_histone(config: Mapping | None = None, out_dir: str | os.PathLike | None = None, *,
                  force: bool = False, progress: bool = True,
                  base_dir: str | os.PathLike | None = None, **kwargs) -> HistoneDataset:
    """Prepare a DeepChrome / Team Jamaica dataset (config keys in the module docstring)."""
    cfg = base.resolve_config(config, kwargs, DEFAULTS, "histone")
    if out_dir is None:
        raise ConfigError("histone: out_dir is required")
    source = _infer_source(cfg)
    n_bins, window = int(cfg["n_bins"]), int(cfg["window"])
    if n_bins < 1 or window % n_bins:
        raise ConfigError(f"histone: window {window} must be a multiple of n_bins {n_bins}")
    if cfg["bin_stat"] not in ("mean", "sum"):
        raise ConfigError(f"histone.bin_stat: expected mean or sum, got {cfg['bin_stat']!r}")
    if cfg["mark_transform"] not in ("none", "log1p", None):
        raise ConfigError(f"histone.mark_transform: expected none or log1p, got "
                          f"{cfg['mark_transform']!r}")
    if cfg["label"] not in ("regression", "binary"):
        raise ConfigError(f"histone.label: expected regression or binary, got {cfg['label']!r}")
    outside = max_outside(cfg["max_genes_outside"], "histone")
    if source == "deepchrome_csv" and cfg["label"] != "binary":
        raise ConfigError("histone.label: DeepChrome CSVs hold binary labels only; set "
                          "label: binary")
    kmer_cfg = cfg["kmers"]
    if kmer_cfg:
        kmer_cfg = {"k": 3, "min_count": 10_000, "alphabet": "ACGTN",
                    **({} if kmer_cfg is True else kmer_cfg)}
        base.check_keys(kmer_cfg, KMER_KEYS, "histone.kmers")
        if not (cfg["gtf"] and cfg["fasta"]):
            raise ConfigError("histone.kmers: needs 'gtf' and 'fasta'")
    do_log = cfg["log"] if cfg["log"] is not None else source == "bigwig"
    split_spec = cfg["split"]
    inputs: dict = {}
    cells = _collect(cfg, source, base_dir, inputs)
    if split_spec is None:
        split_spec = ({"method": "given"} if source == "deepchrome_csv"
                      and all(g != "none" for c in cells for g in c["given_split"])
                      else {"method": "random", "fractions": [0.6, 0.2, 0.2], "seed": 0,
                            "group": "gene_id"})
    for key in ("gtf", "fasta", "chrom_aliases"):
        if cfg[key]:
            inputs[key] = base.resolve_path(cfg[key], base_dir)
    params = {k: v for k, v in cfg.items() if k != "split"}
    params.update(source=source, log=do_log, kmers=kmer_cfg or None)
    writer = base.DatasetWriter(out_dir, "histone", params, inputs)
    cached = base.reuse_or_none(writer, split_spec, force)
    if cached is not None:
        remind(cached)
        return cached

    # genes: coordinates from the GTF (needed by bigWigs and k-mers)
    gtf_genes = read_gtf(inputs["gtf"], cfg["biotypes"]) if "gtf" in inputs else None
    trackset_cache = []
    dropped = Dropped("histone")
    aliases = load_aliases(inputs.get("chrom_aliases"))
    try:
        for c in cells:
            if source == "bigwig":
                c["trackset"] = TrackSet(c["tracks"], aliases=aliases)
                trackset_cache.append(c["trackset"])
                c["trackset"].check_same_chroms()
                _bigwig_labels(c, gtf_genes, do_log, dropped)
            elif gtf_genes is not None and kmer_cfg:
                by_id = match_gene_ids(c["gene_ids"], gtf_genes, f"histone cell {c['cell']}",
                                       dropped, c["cell"])
                c["genes"] = [by_id.get(gid) for gid in c["gene_ids"]]
                _keep_rows(c, [i for i, g in enumerate(c["genes"]) if g is not None])
            else:
                c["genes"] = None
            _drop_missing_labels(c, do_log, dropped)
        if gtf_genes is not None and (source == "bigwig" or kmer_cfg):
            _screen(cells, outside, inputs, window, kmer_cfg, dropped)
        dropped.warn()
        for c in cells:
            if not c["gene_ids"]:
                raise InputFileError(f"histone: cell type {c['cell']!r} has no genes left "
                                     f"(see the warnings above)")

        # labels
        for c in cells:
            expr = c["expression"]
            if expr is not None:
                expr = np.asarray(expr, dtype=np.float64)
                c["label"] = discretize_quantiles(expr, 2).astype(np.int8)
                if do_log:
                    expr = log_transform(expr, cfg["log_base"], cfg["pseudocount"])
                c["expression"] = expr.astype(np.float32)
            else:
                c["expression"] = np.full(len(c["gene_ids"]), np.nan, np.float32)

        # unique genes (k-mer rows)
        gene_rows: dict[str, int] = {}
        gene_objs: list = []
        for c in cells:
            for i, gid in enumerate(c["gene_ids"]):
                if gid not in gene_rows:
                    gene_rows[gid] = len(gene_objs)
                    gene_objs.append(c["genes"][i] if c["genes"] is not None else None)
        n_ex = sum(len(c["gene_ids"]) for c in cells)
        n_marks = len(cfg["marks"])
        chunk = int(cfg["chunk_size"])
        transform = np.log1p if cfg["mark_transform"] == "log1p" else None

        index = pd.DataFrame({
            "gene_id": [g for c in cells for g in c["gene_ids"]],
            "cell": [c["cell"] for c in cells for _ in c["gene_ids"]],
            "chrom": [(g.chrom if c["genes"] is not None else "") for c in cells
                      for g in (c["genes"] or [None] * len(c["gene_ids"]))],
            "strand": [(g.strand if c["genes"] is not None else "") for c in cells
                       for g in (c["genes"] or [None] * len(c["gene_ids"]))],
        })
        if source in ("deepchrome_csv", "kaggle_npz"):
            index["given_split"] = [s for c in cells for s in c["given_split"]]
        if source == "kaggle_npz":
            index["file"] = [f for c in cells for f in c["file"]]
        index, split_meta = base.finish_split(index, split_spec, None,
                                              HistoneDataset._split_defaults())
        with writer:
            marks_out = writer.array("marks", (n_ex, n_bins, n_marks), np.float32)
            stats = np.zeros((len(cells), n_bins, 2 * n_marks), np.float32)
            bar = tqdm(total=n_ex, desc="histone bins", unit="gene", disable=not progress)
            for ci, c in enumerate(cells):
                s1 = np.zeros((n_bins, n_marks))
                s2 = np.zeros((n_bins, n_marks))
                ts = c.get("trackset")
                for lo in range(0, len(c["gene_ids"]), chunk):
                    if ts is not None:
                        m = _bin_windows(ts, c["genes"][lo : lo + chunk], window, n_bins,
                                         cfg["bin_stat"], cfg["strand_orient"])
                    else:
                        m = c["marks"][lo : lo + chunk]
                    m = np.asarray(m, np.float32)
                    if transform is not None:
                        m = transform(np.maximum(m, 0))
                    s1 += m.sum(axis=0, dtype=np.float64)
                    s2 += np.square(m, dtype=np.float64).sum(axis=0)
                    marks_out.append(m)
                    bar.update(len(m))
                n = len(c["gene_ids"])
                mean = s1 / n
                std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
                stats[ci] = np.concatenate([mean, std], axis=1)
            bar.close()
            channel_names = list(cfg["marks"])
            if cfg["cell_stats"]:
                writer.save("cell_stats", stats)
                channel_names += [f"{m}_mean" for m in cfg["marks"]]
                channel_names += [f"{m}_std" for m in cfg["marks"]]
            kept_kmers: list[str] = []
            if kmer_cfg:
                kept_kmers = _write_kmers(writer, inputs["fasta"], aliases, gene_objs, window, n_bins,
                                          kmer_cfg, cfg["strand_orient"], progress)
                channel_names += kept_kmers
            writer.save("expression", np.concatenate([c["expression"] for c in cells]))
            writer.save("label", np.concatenate([c["label"] for c in cells]).astype(np.int8))
            writer.save("ex_cell", np.concatenate(
                [np.full(len(c["gene_ids"]), ci, np.int32) for ci, c in enumerate(cells)]))
            writer.save("ex_gene", np.array(
                [gene_rows[g] for c in cells for g in c["gene_ids"]], np.int32))
            has_expr = source != "deepchrome_csv"
            target = "expression" if cfg["label"] == "regression" else "class"
            meta = {
                "n_examples": n_ex, "n_genes": len(gene_objs),
                "cells": [c["cell"] for c in cells], "source": source,
                "input_names": ["histone"],
                "input_shapes": {"histone": [n_bins, len(channel_names)]},
                "channel_names": channel_names, "kmers": kept_kmers,
                "target_name": target,
                "targets": (["expression", "class"] if has_expr else ["class"]),
                "dropped": dropped.counts(), **split_meta,
            }
            dropped.write(writer.tmp)
            return writer.commit(index, meta)
    finally:
        for ts in trackset_cache:
            ts.close()


def _write_kmers(writer, fasta, aliases, genes, window, n_bins, kcfg, orient, progress) -> list[str]:
    if any(g is None for g in genes):
        raise ConfigError("histone.kmers: every gene needs coordinates from the GTF")
    k, alphabet = int(kcfg["k"]), str(kcfg["alphabet"])
    names = kmer_names(k, alphabet)
    totals = np.zeros(len(names), np.int64)
    step = 500
    with Genome(fasta, aliases=aliases) as genome:
        for lo in tqdm(range(0, len(genes), step), desc="k-mer totals", disable=not progress):
            for s in _sequences(genome, genes[lo : lo + step], window, orient):
                totals += kmer_counts(s, k, n_bins, alphabet).sum(axis=1)
        keep = np.flatnonzero(totals > int(kcfg["min_count"]))
        if len(keep) == 0:
            raise ConfigError(f"histone.kmers: no {k}-mer is seen more than min_count="
                              f"{kcfg['min_count']} times over {len(genes)} genes (most frequent: "
                              f"{int(totals.max())}); lower min_count")
        log.info("histone: keeping %d of %d %d-mers (seen > %s times)", len(keep), len(names), k,
                 kcfg["min_count"])
        out = writer.array("kmers", (len(genes), n_bins, len(keep)), np.uint16)
        for lo in tqdm(range(0, len(genes), step), desc="k-mer bins", disable=not progress):
            seqs = _sequences(genome, genes[lo : lo + step], window, orient)
            out.append(np.stack([kmer_counts(s, k, n_bins, alphabet)[keep].T for s in seqs]))
    return [names[i] for i in keep]


__all__ = ["DEEPCHROME_MARKS", "HistoneDataset", "build_histone", "read_deepchrome_csv",
           "read_kaggle_npz"]
