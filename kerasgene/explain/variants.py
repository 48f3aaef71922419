"""Variant effects: predictions for the reference and alternative alleles of a VCF (in
silico saturation mutagenesis of one gene's window, with the same readers:
:mod:`kerasgene.explain.mutagenesis`).

Every model that reads DNA around a gene reads it through
:func:`kerasgene.datasets.windows.gene_windows` (TSS and TTS sub-windows, oriented 5'→3'
of the gene), so one code path serves the three of them; a *reader*
(:mod:`kerasgene.explain.readers`: ``RegionReader`` for iSEGnet, ``PromoterReader`` for
DeepRAGE — the prediction the mean over conditions —, ``KmerReader`` for the histone
FCN) says which window and what the model reads beside the DNA, which stays as observed.

Alleles are applied in genomic coordinates to the window's sequence fetched with padding
and the result is re-cropped to the window's length with the window's **5' end fixed in
gene orientation**: a deletion pulls in the bases downstream (3') of the window, an
insertion pushes the 3' end out, so the shape stays fixed. Fixing the 5' end (rather than
the genomic left end) makes the procedure strand-symmetric: a variant in a minus-strand
gene gives the model exactly what the mirrored variant gives on a plus-strand gene. Bases
3' of an indel shift by its length relative to the unchanged epigenome tracks; for short
indels this is a few positions.

REF alleles are checked against the FASTA; a mismatch is reported in the table (status
``ref_mismatch``, no prediction) and counted in a logged warning, never silently used.
A variant whose chromosome the FASTA lacks (``unknown_chrom``) or whose REF runs past the
chromosome's end (``past_chrom_end``) gets a row of that status (no gene, no prediction)
and a counted warning; so does, inside a gene window, a REF or ALT with an IUPAC ambiguity
code such as ``M`` (``ambiguous_allele``). Sites-only VCFs without the INFO column (7
columns) are read as if INFO were ``.``.

>>> from kerasgene.explain.readers import RegionReader                     # doctest: +SKIP
>>> reader = RegionReader.from_run("runs/isegnet", {"K562": {"DNase": "dnase.bw"}})  # doctest: +SKIP
>>> effects = variant_effects(model, "sample.vcf", "hg38.fa", genes, reader)  # doctest: +SKIP
>>> effects[["variant_id", "gene_id", "ref_prediction", "alt_prediction", "delta"]]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from kerasgene.datasets.windows import warn_other_characters
from kerasgene.dna import reverse_complement
from kerasgene.errors import ConfigError, UnknownChromosomeError, shown
from kerasgene.explain.readers import PromoterReader, Reader
from kerasgene.io import chroms as _chroms
from kerasgene.io.annotation import Gene
from kerasgene.io.genome import Genome
from kerasgene.io.vcf import (
    Variant,
    Variants,
    allele_status,
    check_assembly,
    filtered,
    placement,
    read_vcf,
    ref_matches,
)

if TYPE_CHECKING:
    import pandas

log = logging.getLogger(__name__)

#: Columns of the table returned by :func:`variant_effects`.
COLUMNS = ("variant_id", "chrom", "pos", "ref", "alt", "filter", "gene_id", "gene_name",
           "strand", "anchor", "offset", "context", "ref_prediction", "alt_prediction",
           "delta", "status")
#: Values of the ``status`` column.
STATUSES = ("ok", "ref_mismatch", "unknown_chrom", "past_chrom_end", "ambiguous_allele")




# --------------------------------------------------------------------------------------
# sequences with a variant
# --------------------------------------------------------------------------------------


def apply_variant(seq: str, seq_start: int, variant: Variant) -> str:
    """``seq`` (plus strand, first base at genomic ``seq_start``) with the variant's REF
    span replaced by its ALT; the REF itself is not checked here (see :func:`ref_matches`).
    """
    i = variant.start - seq_start
    if i < 0 or i + len(variant.ref) > len(seq):
        raise ValueError(f"variant {variant.id} [{variant.start}, {variant.end}) is not inside "
                         f"[{seq_start}, {seq_start + len(seq)})")
    return seq[:i] + variant.alt + seq[i + len(variant.ref):]


def _overlaps(variant: Variant | None, start: int, end: int) -> bool:
    return variant is not None and variant.start < end and variant.end > start


def _edited_index(position: int, variant: Variant, lo: int) -> int:
    """Index of the genomic boundary ``position`` in the edited sequence that started at
    genomic ``lo``; a boundary inside the REF span goes to the matching ALT base, or just
    past the ALT allele when the REF base there is deleted. The boundary at REF's end goes
    before the ALT bases beyond REF's length: an insertion (``A`` → ``AGG``) lies between
    REF's last base and the next one, so a window ending (a minus-strand window's 5' end)
    just after REF's last base does not take the inserted bases in — as a plus-strand
    window starting just after the anchor base does not."""
    if position <= variant.start:
        return position - lo
    if position > variant.end:
        return position - lo + len(variant.alt) - len(variant.ref)
    return variant.start - lo + min(position - variant.start, len(variant.alt))


def _subwindow(genome: Genome, chrom: str, start: int, end: int, strand: str,
               variant: Variant | None) -> str:
    """One oriented sub-window, with ``variant`` applied and re-cropped with its 5' end
    (``start`` on +, ``end`` on −) fixed."""
    if not _overlaps(variant, start, end):
        return genome.fetch(chrom, start, end, strand)
    length = end - start
    pad = len(variant.ref) + length  # enough for any deletion, on either side
    lo = start - pad
    alt = apply_variant(genome.fetch(chrom, lo, end + pad, "+"), lo, variant)
    if strand == "+":
        first = _edited_index(start, variant, lo)
        return alt[first : first + length]
    stop = _edited_index(end, variant, lo)
    return reverse_complement(alt[stop - length : stop])


def window_sequence(genome: Genome, gene: Gene, tss_flank: tuple[int, int],
                    tts_flank: tuple[int, int], variant: Variant | None = None) -> str:
    """The gene's window as the model reads it (TSS part first, 5'→3' of the gene), with
    ``variant`` applied to every sub-window its REF span overlaps.

    Returns
    -------
    str of length ``sum(tss_flank) + sum(tts_flank)``; past a chromosome end ``N``.
    """
    from kerasgene.datasets.windows import gene_windows

    chroms, starts, ends, strands = gene_windows([gene], tss_flank, tts_flank)
    return "".join(_subwindow(genome, str(chroms[0]), int(s), int(e), str(strands[0]), variant)
                   for s, e in zip(starts[0], ends[0]) if e > s)


def anchor_offset(gene: Gene, position: int, tss_flank: tuple[int, int],
                  tts_flank: tuple[int, int]) -> tuple[str, int]:
    """(``TSS`` or ``TTS``, oriented offset in bp) of a 0-based genomic ``position``: the
    anchor of the first sub-window holding it, else the nearer anchor."""
    parts = [(name, a, flank) for name, a, flank in
             (("TSS", gene.tss, tss_flank), ("TTS", gene.tts, tts_flank)) if sum(flank)]
    sign = 1 if gene.strand == "+" else -1
    for name, a, (up, down) in parts:
        off = sign * (position - a)
        if -up <= off < down:
            return name, off
    name, a, _ = min(parts, key=lambda p: abs(position - p[1]))
    return name, sign * (position - a)


# --------------------------------------------------------------------------------------
# predictions
# --------------------------------------------------------------------------------------


def _check_shapes(model, reader: Reader, x: Mapping[str, np.ndarray],
                  shapes: Mapping[str, tuple]) -> None:
    """Raise ConfigError when the reader's arrays are not of the model's input shapes (a
    TrackSet with a track fewer than the model's channels was a TensorFlow traceback)."""
    for name, arr in x.items():
        want = shapes.get(name)
        if want is None:
            continue
        got = tuple(arr.shape[1:])
        if len(want) != len(got) or any(w not in (None, g) for w, g in zip(want, got)):
            raise ConfigError(f"variant effects: the {type(reader).__name__} gives {name!r} "
                              f"of shape {got} per example; model "
                              f"{model.name!r} takes {want} (its tracks, in its order)")


def count_other_characters(seqs: Sequence[str], genes: Sequence[Gene],
                           found: dict[str, int]) -> None:
    """Add to ``found`` (``{gene id: characters}``) the windows of ``seqs`` (one length,
    one per gene of ``genes``) that hold characters other than A, C, G, T, N — IUPAC
    ambiguity codes of the FASTA, which every reader encodes like N — for one warning
    (:func:`kerasgene.datasets.windows.warn_other_characters`), as the dataset builders
    tell them."""
    from kerasgene.datasets.windows import other_characters

    if seqs:
        counts = other_characters("".join(seqs), len(seqs), len(seqs[0]))
        found.update((genes[i].id, int(counts[i])) for i in np.flatnonzero(counts))


def predictor(model, reader: Reader):
    """``f(seqs, genes, contexts) -> (n,)`` predictions, chunked to ``batch_size`` rows."""
    from kerasgene.explain.attribution import input_names, scalar_model

    if set(input_names(model)) != set(reader.input_names):
        raise ConfigError(f"variant effects: model {model.name!r} takes inputs "
                          f"{input_names(model)}, the {type(reader).__name__} gives "
                          f"{list(reader.input_names)}")
    from kerasgene.models.inference import predictor as compiled
    from kerasgene.train.block_trainer import factorised_outputs

    pairs = factorised_outputs(model) if isinstance(reader, PromoterReader) else None
    if pairs is not None:
        return _factorised_predictor(model, reader, pairs)
    infer = compiled(scalar_model(model))
    names = input_names(model)
    shapes = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in model.inputs}

    def predict(seqs, genes, contexts, batch_size):
        per = max(1, batch_size // reader.fanout)
        out = np.empty(len(seqs), np.float64)
        for lo in range(0, len(seqs), per):
            sl = slice(lo, lo + per)
            x = reader.inputs(seqs[sl], genes[sl], contexts[sl])
            if lo == 0:
                _check_shapes(model, reader, x, shapes)
            y = infer([x[n] for n in names])
            out[sl] = _single_valued(model, y.reshape(len(y), -1)).reshape(
                -1, reader.fanout).mean(axis=1)
        return out

    return predict


def check_count(value, name: str) -> int:
    """``value`` as an integer >= 1 (a batch or block size), else a ConfigError naming
    ``name``: 0 or a negative size used to fail in ``range`` or skip every batch, leaving
    the predictions uninitialised."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def _single_valued(model, y: np.ndarray) -> np.ndarray:
    """``y`` (n, values); refused unless one value per example (a regression output)."""
    if y.shape[1] != 1:
        raise ConfigError(f"variant effects: model {model.name!r} gives {y.shape[1]} "
                          "values per example; a single-valued (regression) output "
                          "is needed")
    return y[:, 0]


def _factorised_predictor(model, reader: PromoterReader, pairs):
    """:func:`predictor` of DeepRAGE-C and -TP: each promoter through its branch once and
    then against every condition (``pairs``:
    :func:`kerasgene.train.block_trainer.factorised_outputs`, traced once), instead of
    once per condition; ``batch_size`` promoters per call."""
    import tensorflow as tf

    outputs = tf.function(pairs, reduce_retracing=True)
    states = tf.constant(np.asarray(reader.regulators, np.float32))

    def predict(seqs, genes, contexts, batch_size):
        out = np.empty(len(seqs), np.float64)
        for lo in range(0, len(seqs), batch_size):
            sl = slice(lo, lo + batch_size)
            y = outputs(tf.constant(reader.promoters(seqs[sl])), states).numpy()  # (n, C[, k])
            y = _single_valued(model, y.reshape(-1, 1 if y.ndim == 2 else y.shape[2]))
            out[sl] = y.reshape(-1, reader.fanout).mean(axis=1)
        return out

    return predict


class WindowIndex:
    """Genes whose window (any sub-window) overlaps a genomic interval."""

    def __init__(self, genes: Sequence[Gene], tss_flank, tts_flank,
                 table: _chroms.AliasTable | None = None):
        from kerasgene.datasets.windows import gene_windows

        chroms, starts, ends, _ = gene_windows(genes, tss_flank, tts_flank)
        keep = ends > starts
        self.aliases = _chroms.alias_map(set(chroms.tolist()), table)
        self.by_chrom: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        gene_idx = np.broadcast_to(np.arange(len(genes))[:, None], starts.shape)
        chrom_2d = np.broadcast_to(chroms[:, None], starts.shape)
        self.max_len = int((ends - starts).max(initial=0))
        for c in set(chroms.tolist()):
            m = keep & (chrom_2d == c)
            order = np.argsort(starts[m], kind="stable")
            self.by_chrom[c] = (starts[m][order], ends[m][order], gene_idx[m][order])

    def genes_at(self, chrom: str, start: int, end: int) -> list[int]:
        try:
            name = _chroms.resolve(chrom, self.aliases, "genes")
        except UnknownChromosomeError:
            return []
        s, e, g = self.by_chrom[name]
        lo = np.searchsorted(s, start - self.max_len, side="left")
        hi = np.searchsorted(s, end, side="left")
        hit = e[lo:hi] > start
        return sorted(set(g[lo:hi][hit].tolist()))


def open_genome(genome: Genome | str | os.PathLike, aliases=None) -> tuple[Genome, bool]:
    if isinstance(genome, Genome):
        return genome, False
    return Genome(genome, aliases=aliases), True


def variant_effects(
    model,
    vcf: str | os.PathLike | Sequence[Variant],
    genome: Genome | str | os.PathLike,
    genes: Sequence[Gene],
    reader: Reader,
    *,
    chrom_aliases: _chroms.AliasTable | str | os.PathLike | None = None,
    batch_size: int = 512,
    block_size: int = 2000,
    exclude_filtered: bool = False,
    progress: bool = True,
) -> pandas.DataFrame:
    """Reference and alternative predictions of every variant inside a gene's window.

    Parameters
    ----------
    model : keras.Model
        A single-output regression model reading ``reader.input_names``.
    vcf
        VCF path or variants (:func:`read_vcf`: every ALT allele, genotypes not read).
    genome
        The FASTA (a :class:`~kerasgene.io.genome.Genome` or its path) the VCF refers to.
    genes
        Genes to consider (``chrom``, ``strand``, ``tss``, ``tts``); chromosome names may
        differ from the VCF's by ``chr`` (:mod:`kerasgene.io.chroms`).
    reader
        :class:`~kerasgene.explain.readers.RegionReader`, ``PromoterReader`` or ``KmerReader``.
    chrom_aliases
        Chromosome alias table (:class:`kerasgene.io.chroms.AliasTable` or its path) relating
        the VCF's, the genes' and the genome's names beyond the built-in ``chr1``/``1``
        (e.g. NCBI ``NC_000001.11``); default: the table of ``genome`` when it is a
        :class:`~kerasgene.io.genome.Genome`.
    batch_size
        Model rows per call.
    block_size
        Variants whose sequences are held in memory at once.
    exclude_filtered
        Leave out the variants whose FILTER names a failed filter (``PASS`` and ``.``
        kept, as GATK's ``SelectVariants --exclude-filtered``); counted in a warning.
        Default: they are scored, their FILTER in the table, counted in a warning.
    progress
        Show a tqdm bar of the variants done, one step per block.

    Returns
    -------
    pandas.DataFrame with the columns :data:`COLUMNS`, one row per (variant, gene whose
    window its REF span overlaps, context): ``pos`` 1-based; ``filter`` the record's
    FILTER (:attr:`~kerasgene.io.vcf.Variant.filter`); ``anchor``/``offset`` where
    the variant lies in the gene's orientation; ``delta`` = alt − ref. Rows of status
    ``ref_mismatch`` (REF differs from the FASTA) or ``unknown_chrom`` have NaN
    predictions, as have those of status ``ambiguous_allele`` (an IUPAC code in REF or
    ALT). A variant on a chromosome the FASTA lacks (``unknown_chrom``) or past its end
    (``past_chrom_end``) has one row with empty gene columns; each status is counted in a
    warning. Variants on known chromosomes outside every window are counted in the log,
    not listed. A VCF whose REF alleles mostly differ from the FASTA, or whose header
    declares a contig of another length than the FASTA's, is refused
    (:func:`check_assembly`).
    """
    import pandas as pd

    check_count(batch_size, "batch_size")
    check_count(block_size, "block_size")
    variants = read_vcf(vcf) if isinstance(vcf, str | os.PathLike) else Variants(
        (v if (v.ref + v.alt).isupper() else replace(v, ref=v.ref.upper(), alt=v.alt.upper())
         for v in vcf), getattr(vcf, "contigs", None), getattr(vcf, "path", "variants"),
    )  # as read_vcf does: a lower-case allele is no ambiguity code
    predict = predictor(model, reader)
    genome, owned = open_genome(genome, chrom_aliases)
    index = WindowIndex(genes, reader.tss_flank, reader.tts_flank, genome.alias_table)
    tables, outside = [], 0
    counts: dict[str, list[str]] = {}
    found_other: dict[str, int] = {}  # gene windows with IUPAC codes, told once
    try:
        check_assembly(variants, genome, variants.path)
        variants = filtered(variants, exclude_filtered)
        with tqdm(total=len(variants), desc="variant effects", unit="variant",
                  disable=not progress) as bar:
            for lo in range(0, len(variants), block_size):
                block = variants[lo : lo + block_size]
                rows, items, pairs, n_out, unusable = _effect_rows(block, genome, genes, index,
                                                                   reader)
                table = pd.DataFrame(rows, columns=list(COLUMNS))
                if items:
                    seqs, gs, cs = (list(t) for t in zip(*items))
                    count_other_characters(seqs, gs, found_other)
                    pred = predict(seqs, gs, cs, batch_size)
                    at, ref_i, alt_i = (np.array(t) for t in zip(*pairs))
                    table.loc[at, "ref_prediction"] = pred[ref_i]
                    table.loc[at, "alt_prediction"] = pred[alt_i]
                    table.loc[at, "delta"] = pred[alt_i] - pred[ref_i]
                if len(table):
                    tables.append(table)
                outside += n_out
                for status, names in unusable.items():
                    counts.setdefault(status, []).extend(names)
                bar.update(len(block))
    finally:
        if owned:
            genome.close()
    warn_other_characters(found_other, genome.path)
    placed = sum(len(counts.get(s, ())) for s in ("unknown_chrom", "past_chrom_end"))
    _warn_statuses(counts, len(variants), len(variants) - outside - placed)
    if outside:
        log.info("%d of %d variants lie outside every gene window (not in the table)",
                 outside, len(variants))
    if not tables:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(tables, ignore_index=True)


_STATUS_TEXT = {
    "ref_mismatch": "in gene windows have a REF allele that does not match the FASTA",
    "ambiguous_allele": "in gene windows have an IUPAC ambiguity code in REF or ALT",
    "unknown_chrom": "lie on a chromosome missing from the FASTA",
    "past_chrom_end": "run past the end of their chromosome in the FASTA",
}


def _warn_statuses(counts: Mapping[str, list[str]], n_all: int, n_windows: int) -> None:
    """One warning per status other than ``ok``: the count and the first variants."""
    for status, text in _STATUS_TEXT.items():
        names = counts.get(status)
        if names:
            total = n_windows if text.startswith("in gene windows") else n_all
            log.warning("%d of %d variants %s (status %s; not predicted): %s", len(names),
                        total, text, status, shown(names))


def _effect_rows(variants: Sequence[Variant], genome: Genome, genes: Sequence[Gene],
                 index: WindowIndex, reader: Reader):
    """Table rows with NaN predictions, the (sequence, gene, context) items to predict,
    (row, ref item, alt item) of every row of status ``ok``, the number of variants outside
    every window, and status → variant ids of the variants not predicted."""
    flanks = (reader.tss_flank, reader.tts_flank)
    items: list[tuple[str, Gene, str]] = []
    ref_seq: dict[int, str] = {}
    ref_item: dict[tuple[int, str], int] = {}
    rows: list[tuple] = []
    pairs: list[tuple[int, int, int]] = []
    outside = 0
    unusable: dict[str, list[str]] = {}
    for v in variants:
        where = placement(genome, v)
        if where != "ok":
            unusable.setdefault(where, []).append(v.id)
            rows.append((v.id, v.chrom, v.pos, v.ref, v.alt, v.filter, "", "", "", "", np.nan, "",
                         np.nan, np.nan, np.nan, where))
            continue
        hits = index.genes_at(v.chrom, v.start, v.end)
        if not hits:
            outside += 1
            continue
        status = allele_status(genome, v)
        if status != "ok":
            unusable.setdefault(status, []).append(v.id)
        for gi in hits:
            g = genes[gi]
            alt_seq = window_sequence(genome, g, *flanks, v) if status == "ok" else None
            anchor, offset = anchor_offset(g, v.start, *flanks)
            for c in reader.contexts(g):
                if alt_seq is not None:
                    if (gi, c) not in ref_item:
                        if gi not in ref_seq:
                            ref_seq[gi] = window_sequence(genome, g, *flanks)
                        ref_item[gi, c] = len(items)
                        items.append((ref_seq[gi], g, c))
                    pairs.append((len(rows), ref_item[gi, c], len(items)))
                    items.append((alt_seq, g, c))
                rows.append((v.id, v.chrom, v.pos, v.ref, v.alt, v.filter, g.id, g.name, g.strand,
                             anchor, offset, c, np.nan, np.nan, np.nan, status))
    return rows, items, pairs, outside, unusable


# --------------------------------------------------------------------------------------
# genes of a promoter FASTA
# --------------------------------------------------------------------------------------


def promoter_genes(genome: Genome, ids: Iterable[str] | None = None) -> list[Gene]:
    """One pseudo-gene per record of a promoter FASTA (DeepRAGE's ``promoters:``).

    Each record is its own chromosome, read 5'→3' on ``+`` with the TSS just past its
    last base, so :class:`PromoterReader` reads the record's last ``length`` bases (N on the
    5' side of shorter records), as the pairs builder does. A VCF against such a FASTA
    names the record in CHROM and the 1-based position inside it in POS.
    """
    names = list(genome.chroms) if ids is None else [i for i in ids if i in genome.chroms]
    return [Gene(n, n, n, genome.chroms[n], genome.chroms[n] + 1, "+") for n in names]


__all__ = [
    "COLUMNS",
    "STATUSES",
    "Variant",
    "WindowIndex",
    "anchor_offset",
    "apply_variant",
    "promoter_genes",
    "read_vcf",
    "ref_matches",
    "variant_effects",
    "window_sequence",
]
