"""The chromatin binary task's labels: a bin is a peak (1) or not (0) by the rule of
``chromatin.peaks`` (a BED / narrowPeak file: the bin covered on ``peak_overlap`` of its
bases) or ``chromatin.peak_threshold`` (the target's smoothed value); the rules in
:mod:`kerasgene.datasets.genome_bins`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError
from kerasgene.io.chroms import alias_map, resolves
from kerasgene.io.chroms import resolve as resolve_chrom

log = logging.getLogger(__name__)


def class_bins(cfg: Mapping, smoothed: np.ndarray, peaks: tuple | None) -> np.ndarray:
    """Peak (1) / no peak (0) of one chromosome's bins by the config's rule (module
    docstring): ``smoothed`` (n_bins,) is the target's regression value, ``peaks`` the
    chromosome's intervals. Returns (n_bins,) int8."""
    if cfg["peak_threshold"] is not None:
        return (smoothed >= float(cfg["peak_threshold"])).astype(np.int8)
    bin_size = int(cfg["bin_size"])
    # round first: 0.56 * 50 is 28.000000000000004 in floating point, and 28 bases are enough
    min_bases = max(1, int(np.ceil(round(float(cfg["peak_overlap"]) * bin_size, 9))))
    return peak_bins(*(peaks or (np.empty(0, np.int64),) * 2), len(smoothed), bin_size,
                     min_bases)


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


def peaks_by_chrom(path: str, chroms: list[str], sizes: Mapping[str, int], table
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The intervals of a peak file per dataset chromosome; peaks on other chromosomes are
    left out (logged).

    Each of the file's chromosome names is looked up among ``chroms`` as ``chroms:`` names
    are (exact name first, then its aliases). A file naming one chromosome two ways (``chr1``
    and ``1``, e.g. two peak files concatenated) keeps the peaks of both names for that
    chromosome, with a warning naming them.
    """
    from kerasgene.io.annotation import read_peaks

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
    out = {}
    for c, file_names in found.items():
        for name in file_names:
            starts, ends = read[name]
            past = np.flatnonzero(ends > sizes[c])
            if len(past):
                k = past[0]
                raise InputFileError(f"{path}: peak {name}:{starts[k]}-{ends[k]} ends past "
                                     f"the chromosome's end ({sizes[c]:,} bp in the signal "
                                     "files); are the peaks on another assembly?")
        if len(file_names) > 1:
            log.warning("%s: chromosome %s is named %d ways (%s); the peaks under every name "
                        "are used (%s)", path, c, len(file_names), ", ".join(file_names),
                        ", ".join(f"{len(read[n][0])} as {n}" for n in file_names))
        out[c] = tuple(np.concatenate([read[n][i] for n in file_names]) for i in (0, 1))
    in_files = alias_map(sizes, table)
    unlisted = [n for n in other if resolves(n, in_files)]  # left out by chromatin.chroms
    absent = [n for n in other if n not in unlisted]  # another assembly, contigs: say so
    for names_, where, say in ((unlisted, "not in chromatin.chroms", log.info),
                               (absent, "absent from the signal files", log.warning)):
        if names_:
            say("%s: %d peaks on %d chromosomes %s left out (%s%s)", path,
                sum(len(read[n][0]) for n in names_), len(names_), where,
                ", ".join(names_[:5]), ", ..." if len(names_) > 5 else "")
    empty = [c for c in chroms if c not in out]
    if empty:
        log.warning("%s: no peak on %d of the dataset's %d chromosomes (%s%s); every bin of "
                    "them is labelled 'no peak'", path, len(empty), len(chroms),
                    ", ".join(empty[:10]), ", ..." if len(empty) > 10 else "")
    return out


def check_peak_bins(cfg: Mapping, n_peak: int, n_bins: int) -> None:
    """Log the fraction of peak bins; none at all, or every bin a peak (``peak_threshold``
    at or below the target's smallest value, peaks covering every chromosome), is an error
    naming the rule."""
    if n_peak == 0:
        rule = (f"peak_threshold: no bin of {cfg['target']} reaches {cfg['peak_threshold']}"
                if cfg["peak_threshold"] is not None else
                f"peaks: no bin is covered on {cfg['peak_overlap']} of its bases")
        raise ConfigError(f"chromatin.{rule}; the binary task needs peak bins")
    if n_peak == n_bins:
        rule = (f"peak_threshold: every bin of {cfg['target']} ({n_bins} of {n_bins}) reaches "
                f"{cfg['peak_threshold']}" if cfg["peak_threshold"] is not None else
                f"peaks: every bin ({n_bins} of {n_bins}) is covered on {cfg['peak_overlap']} "
                "of its bases")
        raise ConfigError(f"chromatin.{rule}; the binary task needs 'no peak' bins too")
    log.info("chromatin: %d of %d bins (%.2f%%) are %s peaks", n_peak, n_bins,
             100 * n_peak / n_bins, cfg["target"])


__all__ = ["check_peak_bins", "class_bins", "peak_bins", "peaks_by_chrom"]
