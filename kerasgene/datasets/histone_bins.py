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
   once; 10,000 → 64 3-mers in the paper). Stored as uint16 counts, not rescaled. IUPAC
   ambiguity codes (R, Y, M, K, ...; GRCh38 has a few) count as N, with one warning per
   build counting the windows that hold any, as iSEGnet's builder does.

So DeepChrome's input is (100, 5) and Team Jamaica's (100, 5 + 10 + 64) = (100, 79).

Sources (``source``; inferred from the keys when omitted)
-------------------------------------------------------
Read by :mod:`kerasgene.datasets.histone_sources`.

``bigwig``
    ``cells: {CELL: {marks: {MARK: bigWig, ...}, expression_column: COL}}``, ``gtf``,
    ``expression`` (a genes × cells table; a cell's column defaults to its name, and an
    ``expression_column`` is a name: a YAML number is refused, quote it; a cell
    entry may give its own ``expression`` table). Bins of ``window`` bp centred on the TSS
    (default TSS ± 5 kb, 100 bins of 100 bp), oriented 5'→3' (``strand_orient``), each the
    mean (``bin_stat: mean``) or sum of the bigWig over the bin. A mark is a path or, for
    a bigBed, ``{path: ..., value_column: signalValue}`` (the field of the values, as
    iSEGnet's tracks; default ``score``, said at INFO, or in a warning when the bigBed
    has other numeric fields). One file, or files of identical bytes, given for two marks
    of a cell type are a ConfigError; for one mark of two cell types, a warning; two cell
    types reading one column of one table are a ConfigError. A cell type's mark off the
    others' scale (mean or 99th percentile of the bins of its first chunk_size genes, 5x) is
    warned about.
``deepchrome_csv``
    ``cells: {CELL: CSV | [CSV, ...] | {train: CSV, valid: CSV, test: CSV}}`` in the layout
    ``GeneID,BinID,H3K27me3,H3K36me3,H3K4me1,H3K4me3,H3K9me3,label`` (100 rows per gene,
    header optional). Labels are the given binary ones (``label: binary`` only); files given
    per split make ``split: {method: given}`` the default.
``kaggle_npz``
    ``npz: PATH | [PATH, ...] | {NAME: PATH, ...}``: one array per cell type (the array's
    key) of shape (genes, n_bins, 7) = gene id, 5 marks, expression (read with
    ``allow_pickle=False``); the gene id (a whole number, held exactly by the array's dtype)
    and the expression on every bin of a gene, else an error naming the array, gene and bin
    (columns in another order). A cell type present in several files (Kaggle's train.npz and
    eval.npz hold different genes) is merged; ``index.tsv`` records each example's
    ``file`` (the mapping's NAME or the file stem), and NAMEs train / valid / test become
    the labels of ``split: {method: given}`` (its default when every file is so named;
    other names merge the files into the default random split, with a warning).
    ``cell_types``: optional subset of keys.

Other config keys
-----------------
``marks`` = [H3K27me3, H3K36me3, H3K4me1, H3K4me3, H3K9me3] (DeepChrome's order)
``n_bins`` = 100; ``window`` = 10000; ``bin_stat`` = mean; ``strand_orient`` = true
``mark_transform`` = none | log1p  (applied to the marks before the cell statistics; a mark
file holding negative values is refused under log1p, which would clip them to 0)
``label`` = regression | binary  (binary: expression above the cell type's median → 1; the
median over all its genes, test genes included, as DeepChrome's labels were made)
``log`` = null → true for ``bigwig`` (log_base(x + pseudocount) of the table's values),
false for npz (values used as given); ``log_base`` = 2, ``pseudocount`` = 1
``cell_stats`` = false; ``kmers`` = null or ``{k: 3, min_count: 10000}``; k-mers need
gene coordinates: ``gtf`` + ``fasta`` (for CSV / npz sources gene ids are looked up in the
GTF; examples of genes without coordinates are dropped with a warning)
``biotypes`` = null; ``chunk_size`` = 500
``max_genes_outside`` = 0.01 (see below)
``chrom_aliases`` = null: optional chromosome alias table (UCSC ``chromAlias.txt`` or a user
table; :mod:`kerasgene.io.chroms`) for the tracks, GTF and FASTA. Tracks may be bigWig, bigBed
or bedGraph (:mod:`kerasgene.io.track_formats`; a bedGraph takes the chromosome sizes of
the first bigWig / bigBed mark file, else of ``fasta``, else each chromosome's longest
extent over the bedGraphs, with a warning);
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
a TPM (finite, ≥ 0, ≤ 10⁷); a bigWig cell's column, or an npz cell's expression with
``log: true``, that sums to more than a sample's 10⁶ TPM (read counts) or stays below 20
over ≥ 1,000 expressed genes (logged values) is warned about, as in iSEGnet; values used
as given must be finite. A bigWig cell's table is read as iSEGnet reads one
(:func:`~kerasgene.io.expression.read_expression_table`: TPM tables, RSEM, StringTie,
featureCounts, GTEx GCT), only the cell's column.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kerasgene._io import check_readable
from kerasgene.config import Spec, check_names, check_value
from kerasgene.datasets import base, storage
from kerasgene.datasets.dropped import Dropped, max_outside
from kerasgene.datasets.histone_sources import (
    BIGWIG_CELL_KEYS,
    DEEPCHROME_MARKS,
    SOURCES,
    collect_cells,
    infer_source,
    read_deepchrome_csv,
    read_kaggle_npz,
)
from kerasgene.datasets.regions import match_gene_ids
from kerasgene.datasets.windows import (
    chrom_length_mismatches,
    gene_windows,
    other_characters,
    screen_genes,
    warn_other_characters,
)
from kerasgene.dna import binned_kmer_counts, kmer_ids, kmer_names
from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError, shown
from kerasgene.io.annotation import Gene, read_gtf
from kerasgene.io.chroms import canonical, load_aliases
from kerasgene.io.expression import (
    MAX_TPM,
    check_log_options,
    check_range,
    discretize_quantiles,
    log_transform,
    read_expression_table,
    sample_column,
    warn_not_tpm,
)
from kerasgene.io.genome import Genome
from kerasgene.io.track_checks import (
    STATS_WINDOWS,
    no_signal_messages,
    note_bigbed_field,
    note_signal,
    sample_file_mismatches,
)
from kerasgene.io.track_formats import sniff_track
from kerasgene.io.tracks import Track, TrackSet

log = logging.getLogger(__name__)

DEFAULTS = {
    "source": None, "cells": None, "npz": None, "cell_types": None, "gtf": None,
    "fasta": None, "expression": None, "biotypes": None, "marks": list(DEEPCHROME_MARKS),
    "n_bins": 100, "window": 10_000, "bin_stat": "mean", "strand_orient": True,
    "mark_transform": "none", "label": "regression", "log": None, "log_base": 2.0,
    "pseudocount": 1.0, "cell_stats": False, "kmers": None, "chunk_size": 500,
    "max_genes_outside": 0.01, "split": None, "chrom_aliases": None,
}
KMER_KEYS = {"k", "min_count", "alphabet"}
#: What the scalar settings must be (checked before any file is read).
_SPECS = {"n_bins": Spec("int", min=1), "window": Spec("int", min=1),
          "chunk_size": Spec("int", min=1), "strand_orient": Spec("bool"),
          "cell_stats": Spec("bool"), "log": Spec("bool", null=True)}


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


def _bin_windows(trackset: TrackSet, genes: Sequence[Gene], window: int, n_bins: int,
                 stat: str, orient: bool) -> np.ndarray:
    """Each mark's ``n_bins`` bin sums or means (``stat``) over the ``window`` bp centred
    on each gene's TSS (5'→3' when ``orient``); float32 of shape (len(genes), n_bins,
    n_marks).

    Each mark is read into its own (genes, window) array and binned there: reading all
    marks into one (genes, window, n_marks) array and averaging across its strided bins
    took 1.23x as long (21.3 s against 17.3 s, 20,000 genes, ``bench/bench_inputs.py``)."""
    half = window // 2
    chroms, starts, ends, strands = gene_windows(genes, (half, window - half), (0, 0))
    if not orient:
        strands = np.full(len(genes), "+")
        starts = np.array([[g.tss - half] for g in genes], dtype=np.int64).reshape(-1, 1)
        ends = starts + window
    out = np.empty((len(genes), n_bins, len(trackset.names)), dtype=np.float32)
    for c, track in enumerate(trackset.tracks.values()):
        vals = track.read_windows(chroms, starts[:, 0], ends[:, 0], strands)
        out[:, :, c] = _bin_reduce(vals, n_bins, stat)
    return out


def _bin_reduce(values: np.ndarray, n_bins: int, stat: str) -> np.ndarray:
    """Sum (``stat`` ``sum``) or mean of ``n_bins`` equal bins of each row of ``values``
    (float32, shape (N, L)); float32 of shape (N, n_bins).

    A bin's bases are added one after the other in float32, in the order (and so to the
    very values) of the former reduction over the marks' (N, L, n_marks) array; numpy's
    own ``sum`` of a contiguous bin adds in another order (pairwise), off in the last bit.
    """
    width = values.shape[1] // n_bins
    by_base = np.ascontiguousarray(values.reshape(len(values), n_bins, width).transpose(0, 2, 1))
    total = by_base[:, 0].copy()  # (N, n_bins); by_base[:, k]: base k of every bin
    for k in range(1, width):
        total += by_base[:, k]
    return total if stat == "sum" else total / np.float32(width)


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
    """Genes and expression of a bigWig cell from its table; ids left out → ``dropped``.
    Only the cell's column is read (``expression_column``, else the cell's name, else a
    quantifier's TPM: :func:`~kerasgene.io.expression.sample_column`), so a
    quantifier's text columns beside it (RSEM's ``transcript_id(s)``, featureCounts'
    ``Chr``) are no error. Values to be logged must be TPM: a column of counts or of
    logged values is warned about (:func:`~kerasgene.io.expression.warn_not_tpm`)."""
    col = c["expression_column"] or sample_column(
        c["expression_path"], c["gene_column"], c["cell"], f"histone: cell {c['cell']!r}",
        first=False)
    c["expression_read"] = (os.path.realpath(c["expression_path"]), col)
    values = read_expression_table(c["expression_path"], c["gene_column"], [col])[col]
    if do_log:
        source = f"{c['expression_path']} [{col}]"
        check_range(values, source, low=0.0, high=MAX_TPM, what="TPM")
        warn_not_tpm(values.to_numpy(np.float64), source, f"histone: cell {c['cell']!r}")
    matched = match_gene_ids(list(values.index), gtf_genes, str(c["expression_path"]),
                             dropped, c["cell"])
    order = sorted(matched.items(), key=lambda t: (t[1].chrom, t[1].tss, t[1].id))
    c["genes"] = [g for _, g in order]
    c["gene_ids"] = [g.id for g in c["genes"]]
    c["table_ids"] = [tid for tid, _ in order]
    c["expression"] = np.array([values[tid] for tid, _ in order], dtype=np.float64)


def _check_own_expression(cells: Sequence[dict]) -> None:
    """Raise ConfigError when two bigWig cell types read one column of one expression
    table (a shared quantifier table's TPM, an ``expression_column`` copied from another
    cell's entry): their labels would be the same values."""
    readers: dict[tuple[str, str], str] = {}
    for c in cells:
        key = c.get("expression_read")
        if key is None:
            continue
        if key in readers:
            raise ConfigError(
                f"histone.cells.{c['cell']}: reads column {key[1]!r} of {c['expression_path']}, "
                f"as cell type {readers[key]!r} does, so both would get the same expression "
                "labels; expected each cell type's own column (set expression_column, or give "
                "each cell type its own expression table)")
        readers[key] = c["cell"]


def _drop_missing_labels(c: dict, do_log: bool, dropped: Dropped) -> None:
    """Leave out examples whose expression is missing (NaN); infinite or (for values to
    be log-transformed) out-of-range values of npz sources are errors, and npz values to
    be log-transformed that cannot be TPM (counts, logged values) are warned about
    (:func:`~kerasgene.io.expression.warn_not_tpm`)."""
    expr = c.get("expression")
    if expr is None:
        return
    expr = np.asarray(expr, dtype=np.float64)
    source = c.get("source", f"histone cell {c['cell']}")
    frame = pd.Series(expr, index=c["gene_ids"], name=c["cell"])
    if do_log:
        check_range(frame, source, low=0.0, high=MAX_TPM, what="TPM")
        if "expression_path" not in c:  # a bigWig cell's whole column is checked on reading
            warn_not_tpm(expr, source, f"histone: cell {c['cell']!r}")
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


def _screen(cells: list[dict], outside: float, inputs, window: int, kmer_cfg, aliases,
            dropped: Dropped) -> None:
    """Leave out genes on chromosomes unknown to the tracks / FASTA or outside them."""
    half = window // 2
    tracks = [t for c in cells if c.get("trackset") is not None
              for t in c["trackset"].tracks.values()]
    genome = Genome(inputs["fasta"], aliases=aliases) if kmer_cfg else None
    try:
        refs = ([genome] if genome is not None else []) + tracks
        known, missing = {}, {}  # chromosome → its length / where it is missing
        for chrom in {g.chrom for c in cells for g in c["genes"]}:
            missing[chrom] = _missing_from(chrom, genome, cells)
            if missing[chrom] is None:
                known[chrom] = refs[0].chroms[refs[0].resolve(chrom)]
        other_length = chrom_length_mismatches(known, refs)  # another assembly somewhere
        lengths = {c: n for c, n in known.items() if c not in other_length}
    finally:
        if genome is not None:
            genome.close()
    reference = inputs["fasta"] if kmer_cfg else tracks[0].path
    genes = [g for c in cells for g in c["genes"]]
    bad = screen_genes(genes, lengths, (half, window - half), (0, 0), task="histone",
                       annotation=str(inputs["gtf"]), genome=str(reference), max_outside=outside)
    bad.update((g.id, ("chrom_length_mismatch", other_length[g.chrom]))
               for g in genes if g.chrom in other_length)
    bad.update((g.id, ("unknown_chrom", f"{g.chrom} is not in {missing[g.chrom]}"))
               for g in genes if missing[g.chrom] is not None)
    for c in cells:
        rows = []
        for i, g in enumerate(c["genes"]):
            if g.id in bad:
                reason, detail = bad[g.id]
                dropped.add_gene(c["gene_ids"][i], g, reason, context=c["cell"], detail=detail)
            else:
                rows.append(i)
        _keep_rows(c, rows)


def _missing_from(chrom: str, genome: Genome | None, cells: list[dict]) -> str | None:
    """Where ``chrom`` (a gene's, aliases resolved) is missing, for the detail of its
    genes left out: the FASTA and the cell types with a mark file that lacks it
    (``genome.fa; the mark files of cell02 (such as PATH)``); None when every file has it."""
    def lacks(f) -> bool:
        try:
            f.resolve(chrom)
        except UnknownChromosomeError:
            return True
        return False

    where = [str(genome.path)] if genome is not None and lacks(genome) else []
    files = {c["cell"]: next((str(t.path) for t in c["trackset"].tracks.values() if lacks(t)),
                             None)
             for c in cells if c.get("trackset") is not None}
    files = {cell: path for cell, path in files.items() if path is not None}
    if files:
        where.append(f"the mark files of {shown(files)} (such as {next(iter(files.values()))})")
    return "; ".join(where) or None


def build_histone(config: Mapping | None = None, out_dir: str | os.PathLike | None = None, *,
                  force: bool = False, progress: bool = True,
                  base_dir: str | os.PathLike | None = None, **kwargs) -> HistoneDataset:
    """Prepare a DeepChrome / Team Jamaica dataset (config keys in the module docstring)."""
    cfg = base.resolve_config(config, kwargs, DEFAULTS, "histone")
    if out_dir is None:
        raise ConfigError("histone: out_dir is required")
    source = infer_source(cfg)
    outside = _check_options(cfg, source)
    kmer_cfg = _kmer_options(cfg)
    do_log = cfg["log"] if cfg["log"] is not None else source == "bigwig"
    if do_log:
        check_log_options(cfg["log_base"], cfg["pseudocount"], "histone")
    inputs: dict = {}
    cells = collect_cells(cfg, source, base_dir, inputs)
    split_spec = cfg["split"] if cfg["split"] is not None else _default_split(source, cells)
    _warn_given_split(split_spec, source, cells)
    for key in ("gtf", "fasta", "chrom_aliases"):
        if cfg[key]:
            inputs[key] = base.resolve_path(cfg[key], base_dir)
    params = {k: v for k, v in cfg.items() if k != "split"}
    params.update(source=source, log=do_log, kmers=kmer_cfg)
    writer, cached = storage.writer_or_cached(out_dir, "histone", params, inputs, split_spec,
                                              force)
    if cached is not None:
        return cached

    # genes: coordinates from the GTF (needed by bigWigs and k-mers)
    gtf_genes = read_gtf(inputs["gtf"], cfg["biotypes"]) if "gtf" in inputs else None
    dropped = Dropped("histone")
    aliases = load_aliases(inputs.get("chrom_aliases"))
    try:
        sizes = (_bedgraph_sizes(cells, inputs.get("fasta"), aliases) if source == "bigwig"
                 else None)
        for c in cells:
            _cell_genes(c, source, gtf_genes, kmer_cfg, do_log, aliases, dropped, sizes)
            if c.get("trackset") is not None and cfg["mark_transform"] == "log1p":
                _check_log1p_tracks(c)
        _check_own_expression(cells)
        if gtf_genes is not None and (source == "bigwig" or kmer_cfg):
            _screen(cells, outside, inputs, int(cfg["window"]), kmer_cfg, aliases, dropped)
        dropped.warn()
        for c in cells:
            if not c["gene_ids"]:
                raise InputFileError(f"histone: cell type {c['cell']!r} has no genes left "
                                     f"(see the warnings above)")
        for c in cells:
            _finish_labels(c, do_log, cfg["log_base"], cfg["pseudocount"])
        index, split_meta = storage.finish_split(_cell_index(cells, source), split_spec, None,
                                              HistoneDataset._split_defaults())
        with writer:
            kmers = (inputs["fasta"], aliases, kmer_cfg) if kmer_cfg else None
            meta = _write_arrays(writer, cells, cfg, kmers, progress)
            has_expr = source != "deepchrome_csv"
            meta.update(source=source, targets=["expression", "class"] if has_expr else ["class"],
                        dropped=dropped.counts(), **split_meta)
            dropped.write(writer.tmp)
            return writer.commit(index, meta)
    finally:
        for c in cells:
            if c.get("trackset") is not None:
                c["trackset"].close()


def _check_options(cfg: Mapping, source: str) -> float:
    """Check the settings' types, the bins, statistics, marks, transform and label; return
    ``max_genes_outside``."""
    for key, spec in _SPECS.items():
        value = cfg[key].item() if isinstance(cfg[key], np.generic) else cfg[key]
        check_value(value, spec, f"histone.{key}")
    check_names(cfg["marks"], "histone.marks", f"mark names (e.g. {list(DEEPCHROME_MARKS)})",
                "mark")
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
    return outside


def _kmer_options(cfg: Mapping) -> dict | None:
    """The k-mer options with their defaults, or None without k-mers."""
    kmer_cfg = cfg["kmers"]
    if not kmer_cfg:
        return None
    kmer_cfg = {"k": 3, "min_count": 10_000, "alphabet": "ACGTN",
                **({} if kmer_cfg is True else kmer_cfg)}
    base.check_keys(kmer_cfg, KMER_KEYS, "histone.kmers")
    if not (cfg["gtf"] and cfg["fasta"]):
        raise ConfigError("histone.kmers: needs 'gtf' and 'fasta'")
    k, least, letters = kmer_cfg["k"], kmer_cfg["min_count"], kmer_cfg["alphabet"]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 8:
        raise ConfigError(f"histone.kmers.k: expected an integer from 1 to 8, got {k!r}")
    if isinstance(least, bool) or not isinstance(least, int) or least < 0:
        raise ConfigError(f"histone.kmers.min_count: expected an integer >= 0, got {least!r}")
    if (not isinstance(letters, str) or len(set(letters.upper())) != len(letters)
            or len(letters) < 2 or letters.upper()[-1] != "N"):
        # kmer_counts counts a character outside the alphabet as its last letter
        raise ConfigError(f"histone.kmers.alphabet: expected distinct letters ending in N "
                          f"(e.g. ACGTN; other characters count as N), got {letters!r}")
    return kmer_cfg


def _default_split(source: str, cells: list[dict]) -> dict:
    """``given`` for DeepChrome CSVs or npz files all given per split (named train / valid /
    test), else random by gene."""
    if source in ("deepchrome_csv", "kaggle_npz") and \
            all(g != "none" for c in cells for g in c["given_split"]):
        return {"method": "given"}
    return {"method": "random", "fractions": [0.6, 0.2, 0.2], "seed": 0, "group": "gene_id"}


def _warn_given_split(split_spec, source: str, cells: list[dict]) -> None:
    """Warn when some examples come from files given per split (train / valid / test) and
    others do not: under ``split: given`` the others are in no set; under another split
    (the default for such a mix) the given files are not used as splits (for npz files:
    which cell types are trained on though absent from the train file)."""
    if source == "bigwig":
        return
    given = [c["cell"] for c in cells if any(g != "none" for g in c["given_split"])]
    others = [c for c in cells if any(g == "none" for g in c["given_split"])]
    if not given or not others:
        return
    names = shown(c["cell"] for c in others)
    method = split_spec.get("method") if isinstance(split_spec, Mapping) else None
    if method == "given":
        n_none = sum(g == "none" for c in others for g in c["given_split"])
        log.warning("histone: split given: %d examples (cell types %s) come from files not "
                    "given as train, valid or test and are in no set: not used for training, "
                    "validation or testing", n_none, names)
    elif source == "deepchrome_csv":
        log.warning("histone: cell types %s give files per split (train/valid/test) but %s "
                    "do not, so the %s split does not use the given files (their test genes "
                    "may be trained on); set split: {method: given} to use them",
                    shown(given), names, method)
    else:
        files: dict[str, list[str]] = {}
        for c in cells:
            for name in dict.fromkeys(c["file"]):
                files.setdefault(name, []).append(c["cell"])
        absent = [c["cell"] for c in cells if "train" not in c["given_split"]]
        log.warning("histone: split %s over the merged npz files (%s): their division is not "
                    "kept: the genes of a file not named train / valid / test may be trained "
                    "on%s; name every file train, valid or test and set split: {method: "
                    "given} to keep it", method,
                    "; ".join(f"{name}: {shown(cs)}" for name, cs in files.items()),
                    f", and cell types absent from the train file ({shown(absent)}) are "
                    "trained on" if absent else "")


def _bedgraph_sizes(cells: list[dict], fasta, aliases) -> dict[str, int] | None:
    """The chromosome sizes to convert the bedGraph mark files with (None without any): a
    bedGraph does not say where its chromosomes end, and one ending at its own last
    interval would differ in length from the other marks' files (their genes were left
    out as on another assembly). The sizes of the first bigWig / bigBed mark file, else of
    the FASTA, else each chromosome's longest extent over the bedGraphs (a warning)."""
    columns = {p: c["value_columns"][m] for c in cells for m, p in c["tracks"].items()}
    paths = list(columns)
    kinds = {p: sniff_track(check_readable(p, "track file")) for p in paths}
    bedgraphs = [p for p in paths if kinds[p] == "bedgraph"]
    if not bedgraphs:
        return None
    other = next((p for p in paths if kinds[p] != "bedgraph"), None)
    if other is not None:
        with Track(other, aliases=aliases, value_column=columns[other]) as t:
            return dict(t.chroms)
    if fasta is not None:
        with Genome(fasta, aliases=aliases) as genome:
            return dict(genome.chroms)
    names: dict[str, str] = {}  # one name per chromosome, whatever each file calls it
    sizes: dict[str, int] = {}
    for p in bedgraphs:
        with Track(p, aliases=aliases) as t:
            for name, n in t.chroms.items():
                key = names.setdefault(canonical(name, aliases), name)
                sizes[key] = max(sizes.get(key, 0), n)
    log.warning("histone: every mark file is a bedGraph and no fasta is given, so no file "
                "gives chromosome sizes; %d chromosomes (%s) end at the last interval of any "
                "mark file, and windows past it read 0; give histone.fasta for the genome's "
                "sizes", len(sizes), ", ".join(list(sizes)[:10]) + (", ..." if len(sizes) > 10
                                                                   else ""))
    return sizes


def _cell_genes(c: dict, source: str, gtf_genes, kmer_cfg: dict | None, do_log: bool,
                aliases, dropped: Dropped, sizes: dict[str, int] | None = None) -> None:
    """Open a bigWig cell's tracks (bedGraphs with the chromosome ``sizes``) and read its
    expression; look up the genes of a CSV / npz cell when k-mers need coordinates; leave
    out genes without expression."""
    if source == "bigwig":
        c["trackset"] = TrackSet({m: {"path": p, "value_column": c["value_columns"][m]}
                                  for m, p in c["tracks"].items()},
                                 aliases=aliases, chrom_sizes=sizes)
        for mark, t in c["trackset"].tracks.items():
            if t.format == "bigbed" and c["value_columns"][mark] is None:
                note_bigbed_field(t.path, f"cell {c['cell']}, mark {mark}")
        _bigwig_labels(c, gtf_genes, do_log, dropped)
    elif gtf_genes is not None and kmer_cfg:
        by_id = match_gene_ids(c["gene_ids"], gtf_genes, f"histone cell {c['cell']}",
                               dropped, c["cell"])
        c["genes"] = [by_id.get(gid) for gid in c["gene_ids"]]
        _keep_rows(c, [i for i, g in enumerate(c["genes"]) if g is not None])
    else:
        c["genes"] = None
    _drop_missing_labels(c, do_log, dropped)


def _check_log1p_tracks(c: dict) -> None:
    """Raise InputFileError for a mark file of cell ``c`` holding negative values (its
    header's minimum): ``mark_transform: log1p`` would clip them to 0."""
    for mark, t in c["trackset"].tracks.items():
        lo = t.header.get("minVal")
        lo = None if lo is None else float(np.float32(lo))
        if lo is not None and np.isfinite(lo) and lo < 0:
            raise InputFileError(
                f"{t.path} (cell {c['cell']}, mark {mark}): holds negative values (down to "
                f"{lo:g}); mark_transform log1p expects a signal >= 0 (coverage, counts, fold "
                "enrichment) and would clip them to 0; set mark_transform: none for a signed "
                "track (e.g. log2 fold change)")


def _finish_labels(c: dict, do_log: bool, log_base: float, pseudocount: float) -> None:
    """A cell's binary labels (above its median) and float32 expression (log-transformed
    when ``do_log``; NaN for sources without expression)."""
    expr = c["expression"]
    if expr is not None:
        expr = np.asarray(expr, dtype=np.float64)
        c["label"] = discretize_quantiles(expr, 2).astype(np.int8)
        if do_log:
            expr = log_transform(expr, log_base, pseudocount)
        c["expression"] = expr.astype(np.float32)
    else:
        c["expression"] = np.full(len(c["gene_ids"]), np.nan, np.float32)


def _cell_index(cells: list[dict], source: str) -> pd.DataFrame:
    """index.tsv's columns before the split: gene, cell, coordinates (empty without a
    GTF), and the given split and file of CSV / npz sources."""
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
    return index


def _unique_genes(cells: list[dict]) -> tuple[dict[str, int], list]:
    """Row of each gene id in the k-mer array, and the genes (None without coordinates)
    in first-seen order."""
    gene_rows: dict[str, int] = {}
    gene_objs: list = []
    for c in cells:
        for i, gid in enumerate(c["gene_ids"]):
            if gid not in gene_rows:
                gene_rows[gid] = len(gene_objs)
                gene_objs.append(c["genes"][i] if c["genes"] is not None else None)
    return gene_rows, gene_objs


def _write_arrays(writer: storage.DatasetWriter, cells: list[dict], cfg: Mapping,
                  kmers: tuple | None, progress: bool) -> dict:
    """Write every array (``kmers``: (FASTA, aliases, k-mer options) when k-mers are
    configured); return the meta entries they define."""
    n_bins = int(cfg["n_bins"])
    gene_rows, gene_objs = _unique_genes(cells)
    stats = _write_marks(writer, cells, cfg, progress)
    channel_names = list(cfg["marks"])
    if cfg["cell_stats"]:
        writer.save("cell_stats", stats)
        channel_names += [f"{m}_mean" for m in cfg["marks"]]
        channel_names += [f"{m}_std" for m in cfg["marks"]]
    kept_kmers: list[str] = []
    if kmers:
        fasta, aliases, kmer_cfg = kmers
        kept_kmers = _write_kmers(writer, fasta, aliases, gene_objs, int(cfg["window"]), n_bins,
                                  kmer_cfg, cfg["strand_orient"], progress)
        channel_names += kept_kmers
    writer.save("expression", np.concatenate([c["expression"] for c in cells]))
    writer.save("label", np.concatenate([c["label"] for c in cells]).astype(np.int8))
    writer.save("ex_cell", np.concatenate(
        [np.full(len(c["gene_ids"]), ci, np.int32) for ci, c in enumerate(cells)]))
    writer.save("ex_gene", np.array(
        [gene_rows[g] for c in cells for g in c["gene_ids"]], np.int32))
    return {
        "n_examples": sum(len(c["gene_ids"]) for c in cells), "n_genes": len(gene_objs),
        "cells": [c["cell"] for c in cells],
        "input_names": ["histone"],
        "input_shapes": {"histone": [n_bins, len(channel_names)]},
        "channel_names": channel_names, "kmers": kept_kmers,
        "target_name": "expression" if cfg["label"] == "regression" else "class",
        **({"n_classes": 2, "class_names": ["below median", "above median"]}
           if cfg["label"] == "binary" else {}),
    }


def _write_marks(writer: storage.DatasetWriter, cells: list[dict], cfg: Mapping,
                 progress: bool) -> np.ndarray:
    """Write ``marks`` (examples, n_bins, n_marks) chunk by chunk (read from the bigWigs or
    stored); return each cell's per-bin mean and sd of every mark (cells, n_bins, 2 · n_marks).
    Bigwig cell types whose first chunk of a mark is off the others' scale are warned about
    (:func:`_warn_cell_scales`)."""
    n_bins, n_marks, chunk = int(cfg["n_bins"]), len(cfg["marks"]), int(cfg["chunk_size"])
    n_ex = sum(len(c["gene_ids"]) for c in cells)
    transform = np.log1p if cfg["mark_transform"] == "log1p" else None
    marks_out = writer.array("marks", (n_ex, n_bins, n_marks), np.float32)
    stats = np.zeros((len(cells), n_bins, 2 * n_marks), np.float32)
    first: dict[str, np.ndarray] = {}  # bigWig cell → its first windows, as stored
    with tqdm(total=n_ex, desc="histone bins", unit="gene", disable=not progress) as bar:
        for ci, c in enumerate(cells):
            s1 = np.zeros((n_bins, n_marks))
            s2 = np.zeros((n_bins, n_marks))
            ts = c.get("trackset")
            signal: dict = {}  # chromosome → (genes, whether each mark is ever != 0)
            for lo in range(0, len(c["gene_ids"]), chunk):
                if ts is not None:
                    genes = c["genes"][lo : lo + chunk]
                    m = _bin_windows(ts, genes, int(cfg["window"]), n_bins,
                                     cfg["bin_stat"], cfg["strand_orient"])
                    note_signal(signal, [g.chrom for g in genes], m)
                else:
                    m = c["marks"][lo : lo + chunk]
                m = np.asarray(m, np.float32)
                if transform is not None:
                    m = transform(np.maximum(m, 0))
                if ts is not None and lo == 0:
                    first[c["cell"]] = m[:STATS_WINDOWS]
                s1 += m.sum(axis=0, dtype=np.float64)
                s2 += np.square(m, dtype=np.float64).sum(axis=0)
                marks_out.append(m)
                bar.update(len(m))
            if ts is not None:
                tracks = {mark: t.path for mark, t in ts.tracks.items()}
                for message in no_signal_messages(signal, tracks, f"cell {c['cell']}"):
                    log.warning("histone: %s", message)
            n = len(c["gene_ids"])
            mean = s1 / n
            std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
            stats[ci] = np.concatenate([mean, std], axis=1)
    _warn_cell_scales(first, list(cfg["marks"]))
    return stats


def _warn_cell_scales(windows: Mapping[str, np.ndarray], marks: list[str]) -> None:
    """Warn about each bigWig cell type's mark whose binned values in ``windows`` (cell →
    (n, n_bins, len(marks)), as stored) are not on the scale of the other cell types'
    (:func:`~kerasgene.io.track_checks.sample_file_mismatches`: ENCODE's fold change for
    one, its signal p-value or read counts for another), or whose mean profile along the
    window follows another mark's of the other cell types (two marks' files given each
    other's names), as iSEGnet's builder does for its samples."""
    for message in sample_file_mismatches(windows, marks, samples="cell type",
                                          tracks="marks"):
        log.warning("histone: %s", message)


#: Genes whose k-mers the builder counts at once (:func:`kerasgene.dna.kmer_ids`,
#: :func:`kerasgene.dna.binned_kmer_counts`), small enough for their arrays to stay in the CPU's caches:
#: both passes over 20,000 windows of 10 kb took 2.5 s with 100 (and with 25), 3.8 s with
#: 500, 4.0 s one gene at a time with kmer_counts (``bench/bench_inputs.py``).
KMER_CHUNK = 100


def _write_kmers(writer, fasta, aliases, genes, window, n_bins, kcfg, orient, progress) -> list[str]:
    """Write ``kmers`` (genes, n_bins, kept k-mers), uint16 (uint32 for bins wider than
    65,535 bp): the counts per bin of the k-mers seen more than ``min_count`` times over
    the windows of ``genes``; return the kept k-mers' names.

    Each window is read from the FASTA once: its k-mer ids are kept in a temporary file of
    the dataset's temporary folder from the pass that counts them (:func:`_kmer_totals`)
    to the pass that bins the kept ones (:func:`_kept_kmer_bins`): 2.7 s for 20,000
    windows of 10 kb, against 3.3 s reading each window again for the second pass
    (``bench/bench_inputs.py``, a plain FASTA in the page cache). The file holds a byte
    per base for 3-mers (10 kB a gene of a 10 kb window), less than ``kmers`` stores (64
    kept 3-mers: 12.8 kB a gene)."""
    if any(g is None for g in genes):
        raise ConfigError("histone.kmers: every gene needs coordinates from the GTF")
    k, alphabet = int(kcfg["k"]), str(kcfg["alphabet"])
    names = kmer_names(k, alphabet)
    with tempfile.TemporaryFile(dir=writer.tmp) as spill:
        with Genome(fasta, aliases=aliases) as genome:
            totals = _kmer_totals(genome, genes, window, n_bins, k, alphabet, orient, spill,
                                  progress)
        keep = np.flatnonzero(totals > int(kcfg["min_count"]))
        if len(keep) == 0:
            raise ConfigError(f"histone.kmers: no {k}-mer is seen more than min_count="
                              f"{kcfg['min_count']} times over {len(genes)} genes (most frequent: "
                              f"{int(totals.max())}); lower min_count")
        log.info("histone: keeping %d of %d %d-mers (seen > %s times)", len(keep), len(names), k,
                 kcfg["min_count"])
        # a bin's count is at most its width: uint16 unless a bin is wider than 65,535 bp
        dtype = np.uint16 if window // n_bins <= np.iinfo(np.uint16).max else np.uint32
        out = writer.array("kmers", (len(genes), n_bins, len(keep)), dtype)
        for counts in _kept_kmer_bins(spill, len(genes), keep, len(names), progress):
            out.append(counts.astype(dtype))
    return [names[i] for i in keep]


def _kmer_totals(genome: Genome, genes: Sequence[Gene], window: int, n_bins: int, k: int,
                 alphabet: str, orient: bool, spill, progress: bool) -> np.ndarray:
    """The first k-mer pass: read the windows of ``genes``, :data:`KMER_CHUNK` at a time,
    and count their k-mers (:func:`kerasgene.dna.kmer_ids`); each chunk's ids are saved to
    the binary file ``spill`` (one ``.npy`` array after the other) for
    :func:`_kept_kmer_bins`. Windows holding characters outside ``alphabet`` other than
    A, C, G, T, N (IUPAC ambiguity codes, counted as N) are told in one warning.

    Returns
    -------
    np.ndarray of int64, shape (len(alphabet) ** k,)
        Each k-mer's count over every bin of every window, rows of
        :func:`kerasgene.dna.kmer_names`.
    """
    totals = np.zeros(len(alphabet) ** k, np.int64)
    found_other: dict[str, int] = {}  # windows with IUPAC codes: one warning for the build
    for lo in tqdm(range(0, len(genes), KMER_CHUNK), desc="k-mer totals", disable=not progress):
        chunk = genes[lo : lo + KMER_CHUNK]
        seqs = _sequences(genome, chunk, window, orient)
        other = other_characters("".join(seqs), len(seqs), window, "ACGTN" + alphabet)
        found_other.update((chunk[i].id, int(other[i])) for i in np.flatnonzero(other))
        ids = kmer_ids(seqs, k, n_bins, alphabet)
        totals += np.bincount(ids.ravel(), minlength=len(totals))
        np.save(spill, ids)
    warn_other_characters(found_other, genome.path)
    return totals


def _kept_kmer_bins(spill, n_genes: int, keep: np.ndarray, n_kmers: int, progress: bool
                    ) -> Iterator[np.ndarray]:
    """The second k-mer pass: the counts per bin of the k-mers ``keep`` (rows of
    ``n_kmers``) of each chunk of ids that :func:`_kmer_totals` saved to ``spill`` (read
    from its start), int64 of shape (chunk's genes, n_bins, len(keep))
    (:func:`kerasgene.dna.binned_kmer_counts`)."""
    spill.seek(0)
    for _ in tqdm(range(0, n_genes, KMER_CHUNK), desc="k-mer bins", disable=not progress):
        yield binned_kmer_counts(np.load(spill), keep, n_kmers)


__all__ = ["BIGWIG_CELL_KEYS", "DEEPCHROME_MARKS", "SOURCES", "HistoneDataset", "build_histone",
           "read_deepchrome_csv", "read_kaggle_npz"]
