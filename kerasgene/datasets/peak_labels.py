"""The chromatin binary task's labels: a bin is a peak (1) or not (0) by the rule of
``chromatin.peaks`` (a BED / narrowPeak file: the bin covered on ``peak_overlap`` of its
bases) or ``chromatin.peak_threshold`` (the target's smoothed value); the rules in
:mod:`kerasgene.datasets.genome_bins`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from kerasgene.datasets import splits as _splits
from kerasgene.datasets.bin_splits import example_slices, held_out_verdict, split_names
from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError, shown
from kerasgene.io.chroms import alias_map, resolves
from kerasgene.io.chroms import resolve as resolve_chrom

log = logging.getLogger(__name__)


def class_bins(cfg: Mapping, smoothed: np.ndarray, peaks: tuple | None) -> np.ndarray:
    """Peak (1) / no peak (0) of one chromosome's bins by the config's rule (module
    docstring): ``smoothed`` (n_bins,) is the target's regression value, ``peaks`` the
    chromosome's intervals. Returns (n_bins,) int8."""
    if cfg["peak_threshold"] is not None:
        return (smoothed >= float(cfg["peak_threshold"])).astype(np.int8)
    return peak_bins(*(peaks or (np.empty(0, np.int64),) * 2), len(smoothed),
                     int(cfg["bin_size"]), _min_bases(cfg))


def _min_bases(cfg: Mapping) -> int:
    """Bases of a bin the peaks must cover for it to be a peak: ``peak_overlap`` ×
    ``bin_size``, rounded up, at least 1."""
    # round first: 0.56 * 50 is 28.000000000000004 in floating point, and 28 bases are enough
    return max(1, int(np.ceil(round(float(cfg["peak_overlap"]) * int(cfg["bin_size"]), 9))))


def peak_bins(starts: np.ndarray, ends: np.ndarray, n_bins: int, bin_size: int,
              min_bases: int = 1) -> np.ndarray:
    """Bins covered by intervals on at least ``min_bases`` bases.

    Parameters
    ----------
    starts, ends : (n,) 0-based half-open intervals of one chromosome, in any order;
        overlapping intervals count once (their union)
    n_bins, bin_size : bin k is [k · bin_size, (k + 1) · bin_size)
    min_bases : bases of the bin the union must cover (≥ 1)

    Returns
    -------
    (n_bins,) int8, 1 where covered
    """
    starts, ends = _union(np.asarray(starts, np.int64), np.asarray(ends, np.int64))
    edges = np.arange(n_bins + 1, dtype=np.int64) * bin_size
    if not len(starts):
        return np.zeros(n_bins, np.int8)
    before = np.concatenate([[0], np.cumsum(ends - starts)])  # bases before interval i
    i = np.searchsorted(starts, edges, side="right") - 1  # last interval starting <= x
    j = np.maximum(i, 0)
    covered = np.where(i >= 0, before[j] + np.minimum(edges - starts[j], ends[j] - starts[j]), 0)
    return (np.diff(covered) >= max(1, int(min_bases))).astype(np.int8)


def _union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint sorted intervals covering the same bases as ``[starts, ends)``."""
    if not len(starts):
        return starts, ends
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    first = np.flatnonzero(np.concatenate([[True], starts[1:] > reach[:-1]]))
    return starts[first], np.maximum.reduceat(ends, first)


def peaks_by_chrom(path: str, chroms: list[str], sizes: Mapping[str, int], table, *,
                   sizes_from_intervals: bool = False
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The intervals of a peak file per dataset chromosome; peaks on other chromosomes are
    left out (logged).

    Each of the file's chromosome names is looked up among ``chroms`` as ``chroms:`` names
    are (exact name first, then its aliases). A file naming one chromosome two ways (``chr1``
    and ``1``, e.g. two peak files concatenated) keeps the peaks of both names for that
    chromosome, with a warning naming them. Peaks past a chromosome's end:
    :func:`_check_ends` (``sizes_from_intervals``: the ``sizes`` are the ends of the
    bedGraphs' last intervals, not the genome's).
    """
    from kerasgene.io.peaks import read_peaks

    read = read_peaks(path)
    names = alias_map(chroms, table)
    found: dict[str, list[str]] = {}
    other = []
    for name in read:
        try:
            found.setdefault(resolve_chrom(name, names, path), []).append(name)
        except UnknownChromosomeError:
            other.append(name)
    if not found:
        raise InputFileError(f"{path}: no peak on the dataset's chromosomes "
                             f"({', '.join(chroms[:5])}); the file names "
                             f"{', '.join(list(read)[:5])}")
    _check_ends(path, read, found, sizes, sizes_from_intervals)
    out = {}
    for c, file_names in found.items():
        if len(file_names) > 1:
            log.warning("%s: chromosome %s is named %d ways (%s); the peaks under every name "
                        "are used (%s)", path, c, len(file_names), ", ".join(file_names),
                        ", ".join(f"{len(read[n][0])} as {n}" for n in file_names))
        # cut at the end: the last bin may reach past it (bedGraph-only sizes, _check_ends)
        out[c] = tuple(np.minimum(np.concatenate([read[n][i] for n in file_names]), sizes[c])
                       for i in (0, 1))
    in_files = alias_map(sizes, table)
    unlisted = [n for n in other if resolves(n, in_files)]  # left out by chromatin.chroms
    absent = [n for n in other if n not in unlisted]  # another assembly, contigs: say so
    for names_, where, say in ((unlisted, "not in chromatin.chroms", log.info),
                               (absent, "absent from the signal files", log.warning)):
        if names_:
            say("%s: %d peaks on %d chromosomes %s left out (%s)", path,
                sum(len(read[n][0]) for n in names_), len(names_), where, shown(names_))
    empty = [c for c in chroms if c not in out]
    if empty:
        log.warning("%s: no peak on %d of the dataset's %d chromosomes (%s%s); every bin of "
                    "them is labelled 'no peak'", path, len(empty), len(chroms),
                    ", ".join(empty[:10]), ", ..." if len(empty) > 10 else "")
    return out


def _check_ends(path: str, read: Mapping, found: Mapping[str, list[str]],
                sizes: Mapping[str, int], sizes_from_intervals: bool) -> None:
    """Peaks ending past their chromosome's end in ``sizes``.

    Parameters
    ----------
    path : the peak file
    read : its intervals, ``{file's name: (starts, ends)}``
    found : dataset chromosome → the file's names of it
    sizes : the dataset chromosomes' lengths
    sizes_from_intervals : the lengths are the ends of the bedGraphs' last intervals (no
        file gives the genome's sizes), so the chromosome goes on past them

    Raises
    ------
    InputFileError
        for the first such peak when the sizes are the genome's (another assembly?); with
        ``sizes_from_intervals`` a warning counts and names them instead: the bins end at
        the last interval, so what lies past it labels no bin.
    """
    past, wholly = [], 0
    for c, file_names in found.items():
        for name in file_names:
            starts, ends = read[name]
            over = np.flatnonzero(ends > sizes[c])
            if len(over) and not sizes_from_intervals:
                k = over[0]
                raise InputFileError(f"{path}: peak {name}:{starts[k]}-{ends[k]} ends past "
                                     f"the chromosome's end ({sizes[c]:,} bp in the signal "
                                     "files); are the peaks on another assembly?")
            past += [f"{name}:{starts[k]}-{ends[k]}" for k in over]
            wholly += int(np.sum(starts[over] >= sizes[c]))
    if past:
        log.warning("%s: %d peaks (%d of them wholly) end past the last interval of their "
                    "chromosome in the bedGraphs (%s), the chromosome's end when every track "
                    "is a bedGraph; the bins stop there, so their bases past it label no bin; "
                    "add a bigWig track to give the genome's sizes", path, len(past), wholly,
                    shown(past))


#: The largest fraction of peak bins that called peaks plausibly give: they cover a few
#: per cent of a genome (narrow marks and open chromatin ~1-5 %, broad marks such as
#: H3K27me3 or H3K36me3 up to ~30 %); more is a signal track or a tiling given as peaks.
PEAK_FRACTION_MAX = 0.5


def check_peak_bins(cfg: Mapping, n_peak: int, n_bins: int) -> None:
    """Log the fraction of peak bins; none at all, or every bin a peak (``peak_threshold``
    at or below the target's smallest value, peaks covering every chromosome), is an error
    naming the rule — no peak bin from ``peaks`` names the file, the bases a bin needs and
    the remedies for peaks narrower than that (MACS2's 1 bp summits); peak bins from
    ``peaks`` more than :data:`PEAK_FRACTION_MAX` of them: a warning naming the file."""
    if n_peak == 0:
        rule = (f"peak_threshold: no bin of {cfg['target']} reaches {cfg['peak_threshold']}"
                "; the binary task needs peak bins"
                if cfg["peak_threshold"] is not None else _no_peak_bin(cfg))
        raise ConfigError(f"chromatin.{rule}")
    if n_peak == n_bins:
        rule = (f"peak_threshold: every bin of {cfg['target']} ({n_bins} of {n_bins}) reaches "
                f"{cfg['peak_threshold']}" if cfg["peak_threshold"] is not None else
                f"peaks: every bin ({n_bins} of {n_bins}) is covered on {cfg['peak_overlap']} "
                "of its bases")
        raise ConfigError(f"chromatin.{rule}; the binary task needs 'no peak' bins too")
    log.info("chromatin: %d of %d bins (%.2f%%) are %s peaks", n_peak, n_bins,
             100 * n_peak / n_bins, cfg["target"])
    if cfg["peak_threshold"] is None and n_peak > PEAK_FRACTION_MAX * n_bins:
        log.warning("chromatin.peaks (%s): %d of %d bins (%.2f%%) are peaks, more than "
                    "called peaks cover (a few per cent of a genome, broad marks up to "
                    "~30 %%); is it a signal track or a tiling of the genome, not called "
                    "peaks?", cfg["peaks"], n_peak, n_bins, 100 * n_peak / n_bins)


def _no_peak_bin(cfg: Mapping) -> str:
    """The error of peaks (``cfg["peaks"]``) that cover no bin on ``peak_overlap`` of its
    bases: the bases a bin needs, and what to give when the peaks are narrower, as the
    1 bp summits of MACS2's ``NAME_summits.bed`` are."""
    bin_size, need = int(cfg["bin_size"]), _min_bases(cfg)
    return (f"peaks ({cfg['peaks']}): no bin is covered on {cfg['peak_overlap']} of its "
            f"bases ({need} of {bin_size} bp); the binary task needs peak bins; peaks "
            f"narrower than {need} bp, such as the 1 bp summits of MACS2's NAME_summits.bed, "
            f"label none: give NAME_peaks.narrowPeak, or peak_overlap: {1 / bin_size:g} or "
            "less (1 base of a bin)")


def check_split_classes(index: pd.DataFrame, classes: np.ndarray, bin_offsets, stride: int,
                        target: str) -> list[str]:
    """Peak and 'no peak' example bins in every split; returns the warnings logged
    (:data:`kerasgene.datasets.bin_splits.ONE_VALUE_SPLIT` matches them).

    Parameters
    ----------
    index : the segment table (:func:`kerasgene.datasets.bin_splits.segments_for`)
    classes : (total bins,) 0 / 1 of every chromosome's bins, chromosome ``i`` from
        ``bin_offsets[i]``
    stride : a segment's examples are every ``stride``-th bin from its ``start_bin``
    target : the mark the peaks are of (for the messages)

    Raises
    ------
    ConfigError
        when the train split's example bins are all of one class: nothing to learn (the
        balanced class weights are undefined). The same in valid or test is a warning:
        AUPRC and AUROC are undefined there (absent from metrics.json), and a validation
        split of one class ranks epochs (early stopping, the checkpoint kept) by that
        class alone; test scores on another split stay sound.
    """
    said = []
    for split in _splits.SETS:
        chroms, slices = example_slices(index, bin_offsets, stride, split)
        n = sum(len(classes[s]) for s in slices)
        n_peak = sum(int(np.sum(classes[s])) for s in slices)
        if n == 0 or 0 < n_peak < n:
            continue
        said.append(held_out_verdict(
            split, _one_class(split, chroms, n, n_peak, target), "the binary task has "
            f"nothing to learn; put chromosomes with {'peaks' if n_peak == 0 else 'no-peak bins'}"
            " in train", "AUPRC and AUROC are undefined on it and absent from its metrics",
            "early stopping ranks epochs by one class alone"))
    return said


def _one_class(split: str, chroms: list[str], n: int, n_peak: int, target: str) -> str:
    """``split.valid (chr3): none of its 41 example bins is a K4 peak`` (or ``all of its
    … are K4 peaks``)."""
    names = split_names(chroms)
    which = f"is a {target} peak" if n_peak == 0 else f"are {target} peaks"
    return f"split.{split} ({names}): {'none' if n_peak == 0 else 'all'} of its {n} example " \
           f"bins {which}"


__all__ = ["PEAK_FRACTION_MAX", "check_peak_bins", "check_split_classes",
           "class_bins", "peak_bins", "peaks_by_chrom"]
