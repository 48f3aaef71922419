"""Gene windows, shared by the builders of iSEGnet, the histone FCN and DeepRAGE (in GTF
mode) and by ``predict``: the layout of a gene's TSS and TTS parts (:func:`window_layout`),
their oriented coordinates (:func:`gene_windows`), the one-hot sequence and track values
read over them (:func:`extract_regions`), and how a gene's window sits against its
chromosome's ends (:func:`window_fit`, :func:`screen_genes`, :func:`chrom_length_mismatches`).

Genes and chromosome ends
-------------------------
A gene whose window (flanks included) runs past a chromosome end but whose body lies
inside is kept: the part outside is N (sequence) and 0 (tracks), as in the paper's code;
one warning gives their count. A gene whose body runs past the end of its chromosome, or
lies wholly beyond it, cannot be right — the annotation and the FASTA disagree — and is
dropped (``past_chrom_end`` / ``beyond_chrom_end``). When on one chromosome more than one
gene and more than ``max_genes_outside`` of its genes are outside it, the files are taken
for a mismatch (another assembly, a truncated FASTA) and the build stops with a message
naming both files; ``max_genes_outside: 1`` drops them instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from kerasgene.dna import one_hot
from kerasgene.errors import InputFileError, UnknownChromosomeError, shown
from kerasgene.io.annotation import Gene
from kerasgene.io.genome import Genome
from kerasgene.io.tracks import TrackSet

log = logging.getLogger(__name__)


def window_layout(tss_flank: Sequence[int], tts_flank: Sequence[int]
                  ) -> tuple[tuple[str, int, int], ...]:
    """The parts of a gene window as ``(anchor, first oriented offset, end offset)``: the
    TSS part, then the TTS part (a part of no bases is left out)."""
    return tuple((name, -int(up), int(down)) for name, (up, down) in
                 (("TSS", tss_flank), ("TTS", tts_flank)) if up + down)


def gene_windows(
    genes: Sequence[Gene],
    tss_flank: tuple[int, int] = (1000, 500),
    tts_flank: tuple[int, int] = (500, 500),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Genomic coordinates of each gene's TSS and TTS sub-windows.

    Parameters
    ----------
    genes
        Objects with ``chrom``, ``strand``, ``tss`` and ``tts`` (0-based positions of the
        first and last transcribed base), e.g. :class:`kerasgene.io.annotation.Gene`.
    tss_flank, tts_flank
        (upstream, downstream) bases in gene orientation; the TSS (TTS) base is at offset
        ``upstream`` of its sub-window once oriented.

    Returns
    -------
    chroms : np.ndarray of str, shape (N,)
    starts, ends : np.ndarray of int64, shape (N, 2)
        0-based half-open genomic intervals; column 0 the TSS window, column 1 the TTS window.
    strands : np.ndarray of str, shape (N,)
        Read each window on this strand (minus: reverse-complement / reverse) to get 5'→3'.
    """
    n = len(genes)
    chroms = np.array([g.chrom for g in genes], dtype=str) if n else np.empty(0, str)
    strands = np.array([g.strand for g in genes], dtype=str) if n else np.empty(0, str)
    anchors = np.array([[g.tss, g.tts] for g in genes], dtype=np.int64).reshape(n, 2)
    up = np.array([tss_flank[0], tts_flank[0]], dtype=np.int64)
    down = np.array([tss_flank[1], tts_flank[1]], dtype=np.int64)
    minus = (strands == "-")[:, None]
    starts = np.where(minus, anchors - down + 1, anchors - up)
    ends = np.where(minus, anchors + up + 1, anchors + down)
    return chroms, starts, ends, strands


def extract_regions(
    genes: Sequence[Gene],
    genome: Genome | None,
    trackset: TrackSet | None,
    tss_flank: tuple[int, int] = (1000, 500),
    tts_flank: tuple[int, int] = (500, 500),
    epigenome_dtype=np.float32,
    found_other: dict[str, int] | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Model inputs of iSEGnet for ``genes`` (used by the builder and by serving).

    Parameters
    ----------
    genes
        Genes (see :func:`gene_windows`).
    genome, trackset
        Sources of the sequence and of the tracks; either may be None to skip that input.
        The trackset's transforms are applied (:class:`kerasgene.io.tracks.NegLog10PValue`...).
    tss_flank, tts_flank
        Sub-window sizes (see :func:`gene_windows`).
    epigenome_dtype
        dtype of the returned tracks.
    found_other
        Filled with ``{gene id: count}`` of the windows holding characters other than A,
        C, G, T, N, instead of one warning per call (a caller reading chunks of genes warns
        once: :func:`warn_other_characters`).

    Returns
    -------
    sequence : np.ndarray of uint8, shape (N, L, 4), columns A, C, G, T (N bases all 0; so
        are IUPAC ambiguity codes, R, Y, M, K, ..., with one warning counting them)
    epigenome : np.ndarray, shape (N, L, n_tracks)
        L = sum(tss_flank) + sum(tts_flank) (2500); TSS region first, 5'→3'.
    """
    chroms, starts, ends, strands = gene_windows(genes, tss_flank, tts_flank)
    n = len(chroms)
    l1, l2 = int(sum(tss_flank)), int(sum(tts_flank))
    seq = epi = None
    if genome is not None:
        parts = []
        for i in range(n):
            for j in (0, 1):
                parts.append(genome.fetch(chroms[i], int(starts[i, j]), int(ends[i, j]),
                                          strands[i]))
        joined = "".join(parts)
        seq = one_hot(joined, 0, dtype=np.uint8).reshape(n, l1 + l2, 4)
        counts = other_characters(joined, n, l1 + l2)
        found = {genes[i].id: int(counts[i]) for i in np.flatnonzero(counts)}
        if found_other is None:
            warn_other_characters(found, genome.path)
        else:
            found_other.update(found)
    if trackset is not None:
        epi = np.empty((n, l1 + l2, len(trackset.names)), dtype=epigenome_dtype)
        if n:
            epi[:, :l1] = trackset.read_windows(chroms, starts[:, 0], ends[:, 0], strands)
            epi[:, l1:] = trackset.read_windows(chroms, starts[:, 1], ends[:, 1], strands)
    return seq, epi


def other_characters(seqs: str, n: int, length: int, letters: str = "ACGTN") -> np.ndarray:
    """Characters other than ``letters`` (default A, C, G, T, N), either case (IUPAC
    ambiguity codes), in each of the ``n`` parts of ``length`` bases that ``seqs`` joins:
    int64 array, shape (n,).

    Windows without any (the rule) are told by one ``bytes.translate``: 4 ms for 1,000
    iSEGnet windows, against 13 ms counted per window and 61 ms for their one-hot."""
    known = (letters.upper() + letters.lower()).encode("ascii")
    raw = seqs.encode("ascii", errors="replace")
    if not raw.translate(None, known):
        return np.zeros(n, dtype=np.int64)
    is_known = np.zeros(256, dtype=bool)
    is_known[np.frombuffer(known, dtype=np.uint8)] = True
    other = ~is_known[np.frombuffer(raw, dtype=np.uint8)]
    return other.reshape(n, length).sum(axis=1, dtype=np.int64)


def warn_other_characters(found: Mapping[str, int], fasta) -> None:
    """One warning counting the gene windows (and characters) encoded like N that are no N:
    ``found`` is ``{gene id: characters}`` (:func:`extract_regions`' ``found_other``)."""
    if found:
        log.warning("%s: %d gene windows hold %d characters other than A, C, G, T, N (IUPAC "
                    "ambiguity codes), encoded like N (e.g. %s)", fasta, len(found),
                    sum(found.values()), shown(found))


def window_fit(genes: Sequence[Gene], lengths: Mapping[str, int],
               tss_flank: tuple[int, int], tts_flank: tuple[int, int]) -> np.ndarray:
    """Where each gene and its window lie relative to its chromosome.

    Parameters
    ----------
    genes : genes (``chrom``, ``start``, ``end``, ``strand``)
    lengths : gene chromosome name → length; a chromosome not in it is unknown
    tss_flank, tts_flank : the window (:func:`gene_windows`)

    Returns
    -------
    np.ndarray of str, shape (N,): ``inside``; ``padded`` (the body is inside, the window
    runs past an end); ``past_chrom_end`` (the body runs past the end);
    ``beyond_chrom_end`` (the body starts at or after the end); ``unknown_chrom``.
    """
    _, starts, ends, _ = gene_windows(genes, tss_flank, tts_flank)
    length = np.array([lengths.get(g.chrom, -1) for g in genes], dtype=np.int64)
    g_start = np.array([g.start for g in genes], dtype=np.int64)
    g_end = np.array([g.end for g in genes], dtype=np.int64)
    used = ends > starts
    outside = (used & ((starts < 0) | (ends > length[:, None]))).any(axis=1)
    out = np.where(outside, "padded", "inside").astype(object)
    out[g_end > length] = "past_chrom_end"
    out[g_start >= length] = "beyond_chrom_end"
    out[length < 0] = "unknown_chrom"
    return out.astype(str)


def screen_genes(genes: Sequence[Gene], lengths: Mapping[str, int], tss_flank: tuple[int, int],
                 tts_flank: tuple[int, int], *, task: str, annotation: str, genome: str,
                 max_outside: float,
                 padded_with: str = "N (sequence) and 0 (tracks), as in the paper's code"
                 ) -> dict[str, tuple[str, str]]:
    """Genes that cannot give an example, with the reason and a detail.

    Genes whose window is padded are kept (one warning with their count, saying what the
    part outside holds: ``padded_with``); genes on an unknown chromosome (one of
    ``lengths``' and the ``genome``'s: a caller with tracks names the files that lack it,
    :func:`missing_chrom`) or outside theirs are returned (see :func:`window_fit`).

    Raises
    ------
    InputFileError
        When on one chromosome more than one gene and more than ``max_outside`` of its
        genes lie outside it: the annotation and the genome disagree. The message names
        both files.
    """
    genes = list({g.id: g for g in genes}.values())
    fit = window_fit(genes, lengths, tss_flank, tts_flank)
    chroms = np.array([g.chrom for g in genes], dtype=object)
    outside = np.isin(fit, ("past_chrom_end", "beyond_chrom_end"))
    for chrom in sorted(set(chroms[outside])):
        on = chroms == chrom
        n_out, n = int((on & outside).sum()), int(on.sum())
        if n_out > 1 and n_out > max_outside * n:
            ids = ", ".join(genes[i].id for i in np.flatnonzero(on & outside)[:3])
            raise InputFileError(
                f"{annotation} and {genome} do not match: {n_out} of {n} genes on {chrom} lie "
                f"past its end ({lengths[chrom]:,} bp; e.g. {ids}); use the genome the "
                f"annotation was made for, or set {task}.max_genes_outside: 1 to drop them")
    padded = [g.id for g, f in zip(genes, fit) if f == "padded"]
    if padded:
        log.warning("%s: %d gene windows run past a chromosome end; the part outside is "
                    "%s: %s", task, len(padded), padded_with, shown(padded))
    out = {}
    for g, f in zip(genes, fit):
        if f == "unknown_chrom":
            out[g.id] = (f, f"{g.chrom} is not in {genome}")
        elif f in ("past_chrom_end", "beyond_chrom_end"):
            out[g.id] = (f, f"{g.chrom} has {lengths[g.chrom]} bp in {genome}")
    return out


def missing_chrom(chrom: str, files) -> str | None:
    """Which of ``files`` (a Genome, Tracks: anything with ``path`` and ``resolve``) lack
    ``chrom`` (aliases resolved), for the detail of its genes left out: ``"chr1 is not
    in A.bigWig, B.bigWig and 5 more files"``; None when every file has it."""
    absent = []
    for f in files:
        try:
            f.resolve(chrom)
        except UnknownChromosomeError:
            absent.append(str(f.path))
    if not absent:
        return None
    return (f"{chrom} is not in {', '.join(absent[:2])}"
            + (f" and {len(absent) - 2} more files" if len(absent) > 2 else ""))


def chrom_length_mismatches(chroms, files) -> dict[str, str]:
    """``{chromosome: detail}`` of the ``chroms`` (each known to every file) that ``files``
    (a Genome, Tracks: anything with ``path``, ``chroms`` and ``resolve``) give different
    lengths: another assembly (UCSC hg19's chrM of 16,571 bp beside GRCh37's MT of
    16,569), whose values would be read at shifted coordinates, and as 0 past its end.
    The detail names the first file's length and up to two that differ."""
    out = {}
    for c in sorted(chroms):
        sizes = [(str(f.path), f.chroms[f.resolve(c)]) for f in files]
        other = [f"{path} {n:,} bp" for path, n in sizes[1:] if n != sizes[0][1]]
        if other:
            out[c] = f"{c} has {sizes[0][1]:,} bp in {sizes[0][0]}, " + ", ".join(other[:2])
    return out


__all__ = ["chrom_length_mismatches", "extract_regions", "gene_windows", "screen_genes",
           "window_fit", "window_layout"]
