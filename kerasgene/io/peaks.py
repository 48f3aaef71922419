"""Peak files — BED3 or wider (MACS2 narrowPeak / broadPeak, ENCODE's ``bed narrowPeak``),
MACS's ``NAME_peaks.xls`` (1-based), plain or gzip, or a bigBed of them — into intervals per
chromosome (:func:`read_peaks`), for the chromatin binary task's labels
(:mod:`kerasgene.datasets.peak_labels`)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from kerasgene._io import check_readable, text_lines
from kerasgene.errors import InputFileError
from kerasgene.io.annotation import parse_interval
from kerasgene.io.expression import is_number

log = logging.getLogger(__name__)


def read_peaks(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Intervals of a peak file: BED3 or wider — MACS2 narrowPeak / broadPeak, ENCODE's
    ``bed narrowPeak`` — plain or gzip, or a bigBed of them (ENCODE's ``bigBed
    narrowPeak``; :func:`kerasgene.io.track_formats.bigbed_intervals`); columns after the
    third are ignored.

    Lines starting with ``#``, ``track`` or ``browser`` are skipped; so is a column-header
    line (``chrom start end ...``, as pandas' ``to_csv`` and some tools write) as the
    first other line, when its start and end are distinct names rather than integers
    (:func:`_peak_header`; said at INFO). A header of MACS's ``NAME_peaks.xls``
    (``chr start end length ... fold_enrichment ...``, :func:`_macs_xls`) makes the file
    read as MACS writes it: 1-based starts, inclusive ends (said at INFO). Columns are
    separated by tabs (or, in a line without a tab, by spaces).

    Returns
    -------
    ``{chrom: (starts, ends)}``, int64 arrays of shape (n,), 0-based half-open, sorted by
    start; chromosomes in file order. Intervals may overlap.

    Raises
    ------
    InputFileError
        a line with fewer than 3 columns, non-integer coordinates, a negative start or
        ``end <= start`` (naming the line), a file without any interval, or a signal
        track: a bigWig, a text file whose track line says ``type=bedGraph`` /
        ``wiggle_0``, or a bedGraph without a track line (:func:`_refuse_bedgraph`):
        every interval with a value would be a peak.
    """
    from kerasgene.io.track_formats import bigbed_intervals, sniff_bbi

    path = check_readable(path, "peak file")
    kind = sniff_bbi(path)
    if kind == "bigbed":
        return bigbed_intervals(path)
    if kind == "bigwig":
        raise InputFileError(f"{path}: a bigWig, a signal track; expected a peak file {_PEAK_FILE}")
    rows: dict[str, list[tuple[int, int]]] = {}
    bedgraph_like = True  # every line so far: 4 columns, a number in the 4th
    first = True
    one_based = False  # MACS's xls: 1-based, end inclusive
    for lineno, line in text_lines(path, "peak file"):
        _refuse_signal_track(path, lineno, line)
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if first and _peak_header(cols):
            one_based = _macs_xls(cols)
            if one_based:
                log.info("%s:%d: a MACS peaks.xls header (%s ...): its 1-based starts and "
                         "inclusive ends are read as such", path, lineno, " ".join(cols[:4]))
            else:
                log.info("%s:%d: skipped a column-header line (%s)", path, lineno,
                         " ".join(cols[:3]))
            first = False
            continue
        first = False
        if len(cols) < 3:
            raise InputFileError(f"{path}:{lineno}: {len(cols)} columns; expected at least "
                                 "3 (chrom, start, end) in a BED / narrowPeak file")
        lo, hi = parse_interval(path, lineno, cols[1], cols[2], ".", one_based)
        rows.setdefault(cols[0], []).append((lo, hi))
        bedgraph_like = bedgraph_like and len(cols) == 4 and is_number(cols[3])
    if not rows:
        raise InputFileError(f"{path}: no interval; expected BED lines (chrom, start, end)")
    out = {}
    for chrom, spans in rows.items():
        arr = np.array(sorted(spans), dtype=np.int64)
        out[chrom] = (arr[:, 0], arr[:, 1])
    if bedgraph_like:
        _refuse_bedgraph(path, out)
    return out


#: The track line of a signal track given as a peak file.
_SIGNAL_TRACK = re.compile(r"\btype=(bedGraph|wiggle_0)\b")
#: What a peak file is (for the messages of :func:`read_peaks`).
_PEAK_FILE = "(BED / narrowPeak / broadPeak intervals, plain or gzip, or a bigBed of them)"


def _refuse_signal_track(path: Path, lineno: int, line: str) -> None:
    """Raise InputFileError when ``line`` is the track line of a bedGraph or wiggle: a
    signal track given as a peak file, whose every interval with a value would be a
    peak."""
    signal = _SIGNAL_TRACK.search(line) if line.startswith("track") else None
    if signal:
        raise InputFileError(f"{path}:{lineno}: a {signal.group(1)} track line, a signal "
                             "track whose intervals are values, not peaks; expected a peak "
                             f"file {_PEAK_FILE}")


def _refuse_bedgraph(path: Path, peaks: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Raise InputFileError when the intervals of a file of 4 columns with a number in
    the 4th — a bedGraph's layout — look like a signal track's (MACS2's ``--bdg``
    pileups, ``bigWigToBedGraph`` and deepTools' ``bamCoverage`` write no track line):
    they touch (:func:`_touching`) or lie on a grid of bins (:func:`_on_bin_grid`).
    ``peaks``: as returned by :func:`read_peaks` (sorted by start)."""
    sign = _touching(peaks) or _on_bin_grid(peaks)
    if sign:
        raise InputFileError(
            f"{path}: {sign}, each with a number in column 4: a bedGraph (a signal track) "
            "without a track line, whose every interval with a value would be a peak; "
            f"expected a peak file {_PEAK_FILE} (call peaks, e.g. with MACS2, or label bins "
            "by peak_threshold on the signal)")


def _touching(peaks: dict[str, tuple[np.ndarray, np.ndarray]]) -> str | None:
    """``"19 of 51 intervals start where the one before ends"`` when at least a quarter
    of the sorted intervals do on their chromosome, else None. A signal track tiles the
    genome, or, stored without its zeros, touches wherever two neighbouring bins both
    have signal (the demo's H3K4me3 bigWig: every interval; a sparse one with ~30 % of
    its 50 bp bins non-zero: 37 %); merged peaks do not touch (SICER's islands,
    ``chrom start end score``, pass)."""
    touching = sum(int(np.sum(starts[1:] == ends[:-1])) for starts, ends in peaks.values())
    pairs = sum(len(starts) - 1 for starts, _ in peaks.values())
    if pairs and 4 * touching >= pairs:
        return f"{touching} of {pairs} intervals start where the one before ends"
    return None


#: Intervals enough for :func:`_on_bin_grid` to tell a grid from chance (peaks of one
#: width w each start on a multiple of w with probability 1 / w).
_GRID_MIN_INTERVALS = 20


def _on_bin_grid(peaks: dict[str, tuple[np.ndarray, np.ndarray]]) -> str | None:
    """``"all 11311 intervals start and end on multiples of 50 bp"`` when at least
    :data:`_GRID_MIN_INTERVALS` intervals, the narrowest ``w`` > 1 bp wide, all start and
    end on multiples of ``w``: bins of a signal track (a sparse GRO-seq bigWig of 50 bp
    bins through ``bigWigToBedGraph``: 18 % touching, runs of equal values merged into
    100 / 150 bp), else None. Called peaks pass: MACS2's vary in width, fixed-width ones
    (summit ± 250 bp) do not start on a grid, SICER's islands end one base before the
    window grid (``start + k · window - 1``)."""
    starts = np.concatenate([s for s, _ in peaks.values()])
    ends = np.concatenate([e for _, e in peaks.values()])
    width = int(np.min(ends - starts))
    if (len(starts) >= _GRID_MIN_INTERVALS and width > 1 and not np.any(starts % width)
            and not np.any(ends % width)):
        return f"all {len(starts)} intervals start and end on multiples of {width} bp"
    return None


#: A column name: a word, not a number nor a missing-value mark (``NA``, ``nan``).
_COLUMN_NAME = re.compile(r"[A-Za-z_][\w.]*")
_MISSING = {"na", "nan", "n/a", "null", "none", "inf", "infinity"}


#: The first columns of the header of MACS's ``NAME_peaks.xls`` (MACS 1.4, MACS2 and MACS3,
#: ``callpeak`` with or without ``--broad``), whose starts are 1-based and ends inclusive.
_MACS_XLS = ["chr", "start", "end", "length"]


def _macs_xls(cols: list[str]) -> bool:
    """True when a peak file's header line is that of MACS's ``NAME_peaks.xls``: ``chr
    start end length`` first and a ``fold_enrichment`` column (MACS2: ``chr start end
    length abs_summit pileup -log10(pvalue) fold_enrichment -log10(qvalue) name``)."""
    names = [c.strip() for c in cols]
    return names[:4] == _MACS_XLS and "fold_enrichment" in names


def _peak_header(cols: list[str]) -> bool:
    """True when a peak file's line is a column header: at least 3 columns, its start
    and end two different names (``start``, ``chromEnd``), not integers, nor a
    missing-value mark such as ``NA`` (a data line with missing coordinates stays an
    error)."""
    if len(cols) < 3:
        return False
    start, end = cols[1].strip(), cols[2].strip()
    return (start != end and all(_COLUMN_NAME.fullmatch(c) and c.lower() not in _MISSING
                                 for c in (start, end)))
