"""Signal tracks: bigWig access (pyBigWig), the papers' transforms, and track sets.

Values are float32 with missing data (NaN, no interval) read as 0, zero-padded where a
window runs past a chromosome end, and reversed for windows on the minus strand.

Track files
-----------
A :class:`Track` is a bigWig, or a bigBed or bedGraph (plain or gzip) converted once to a
cached bigWig (:mod:`kerasgene.io.track_formats`: chromosome sizes of a bedGraph, the value
field of a bigBed). A bigWig is checked before pyBigWig opens it (a corrupt or truncated
file is an error naming it, not a crash). A file without any interval is an error: as a
model input it would be an all-zero channel, never what a user means. NaN values in a
bigWig are missing data, read as 0 like bases without an interval; opening such a file
logs a warning counting the NaN bases (pyBigWig's exact statistics would turn a whole bin
holding one NaN into a missing bin, so :meth:`Track.binned` computes such a file's bins
from its per-base values instead). Chromosome names resolve through
:mod:`kerasgene.io.chroms` (built-in aliases plus an optional alias table).

Reading many windows
--------------------
:meth:`Track.read_windows` sorts the windows of a chromosome, merges those lying within
``merge_gap`` bases of each other into spans of at most ``max_span`` bases, reads each span
with a single ``pyBigWig.values`` call and slices the windows out. Sparse windows (genes
spread over a genome) cost one read each, as a hand-written loop would; dense windows
share reads, which is where the speed-up comes from (``bench/bench_io.py``). What the
tracks' files and values say about a user's mistakes: :mod:`kerasgene.io.track_checks`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyBigWig
from scipy.ndimage import gaussian_filter1d

from kerasgene._io import check_readable
from kerasgene.errors import ConfigError, InputFileError, InvalidRegionError
from kerasgene.io import chroms as _chroms
from kerasgene.io.genome import check_window
from kerasgene.io.track_formats import (
    as_bigwig,
    read_bbi_header,
    sniff_track,
    value_runs,
    write_bigwig_entries,
)

log = logging.getLogger(__name__)

_STATS = ("mean", "sum", "max", "min", "coverage", "std")


# ----------------------------------------------------------------------------- transforms
@dataclass(frozen=True)
class NegLog10PValue:
    """iSEGnet's DNase/histone transform: −log10 p-values, per region, scaled to [0, 1].

    ENCODE "signal p-value" bigWigs already store −log10(p). Each ``resolution``-bp region
    of the genome (a fixed grid from position 0) gets the mean over its bases, assigned to
    every base of the region; values are divided by ``max_value`` and clipped to [0, 1].

    Parameters
    ----------
    resolution
        Region size in bp (20 in iSEGnet); 1 keeps per-base values.
    max_value
        Scale (> 0); ``None`` uses the file's genome-wide maximum (:attr:`Track.max_value`),
        which makes the scaling a global min-max (−log10 p ≥ 0), the same for every window.
    scale_chroms
        The chromosomes that genome-wide maximum is taken over (:meth:`Track.max_over`, by
        any naming); ``None``: the genome's the track was opened with. A run records its
        training genome's here (``preprocessing.json``), so that ``predict`` scales a file
        alike whatever FASTA it is given (a FASTA of chr1 alone gave another maximum, and
        other predictions).

    Raises
    ------
    ConfigError
        When ``resolution`` is not a positive integer or ``max_value`` not a finite number
        > 0.
    InputFileError
        When applied to a file holding negative values (its summary's minimum): no
        −log10 p is below 0, and a signed track (a log2 fold change) would have every
        negative value clipped to 0.
    """

    resolution: int = 20
    max_value: float | None = None
    scale_chroms: tuple[str, ...] | None = None

    def __post_init__(self):
        r, m, chroms = self.resolution, self.max_value, self.scale_chroms
        if chroms is not None:
            if isinstance(chroms, str) or not all(isinstance(c, str) for c in chroms) \
                    or not chroms:
                raise ConfigError(f"transform 'neglog10p': scale_chroms {chroms!r}: expected "
                                  "a list of chromosome names (or none: the genome's)")
            object.__setattr__(self, "scale_chroms", tuple(chroms))
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
            raise ConfigError(f"transform 'neglog10p': resolution {r!r}: expected a positive "
                              f"integer (region size in bp)")
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float, np.number))
                              or not 0 < m < np.inf):
            raise ConfigError(f"transform 'neglog10p': max_value {m!r}: expected a finite "
                              f"number > 0 (or none: the file's maximum)")

    def expand(self, start: int, end: int) -> tuple[int, int]:
        r = self.resolution
        return start - start % r, end + (-end) % r

    def __call__(self, values: np.ndarray, start: int, track: Track) -> np.ndarray:
        low = track.header.get("minVal", 0.0)
        if low < 0:
            raise InputFileError(
                f"{track.path}: holds negative values (down to {low:g}), but the 'neglog10p' "
                "transform expects -log10 p-values (>= 0) and would clip them to 0: a signed "
                "track (log2 fold change?); give it 'transform: null' to use its values as "
                "they are, or use the signal p-value file")
        r = self.resolution
        if r > 1:
            means = values.reshape(-1, r).mean(axis=1, dtype=np.float64).astype(np.float32)
            values = np.repeat(means, r)
        scale = (self.max_value if self.max_value is not None
                 else track.max_value if self.scale_chroms is None
                 else track.max_over(self.scale_chroms))
        scale = float(scale) if scale > 0 else 1.0
        return np.clip(values / np.float32(scale), 0.0, 1.0)


@dataclass(frozen=True)
class PercentToFraction:
    """WGBS transform: percent methylation (0..100; missing CpGs 0) to a fraction.

    Raises
    ------
    InputFileError
        When the file's largest value (:attr:`Track.max_value`) is not above 1 and at most
        100: a file of fractions (Roadmap's ``*_FractionalMethylation.bigwig``, MethylDackel's
        and Bismark's fraction output) would become values under 0.01, and one above 100 is
        not percent.
    """

    def expand(self, start: int, end: int) -> tuple[int, int]:
        return start, end

    def __call__(self, values: np.ndarray, start: int, track: Track) -> np.ndarray:
        top = track.max_value
        if top <= 1.0:
            raise InputFileError(
                f"{track.path}: the 'percent' transform expects percent methylation (0-100), "
                f"but the file's values reach only {top:g}: fractions (0-1)? give this track "
                "'transform: null' to use them as they are")
        if top > 100.0:
            raise InputFileError(
                f"{track.path}: the 'percent' transform expects percent methylation (0-100), "
                f"but the file's values reach {top:g}")
        return values / np.float32(100.0)


def gaussian_smooth(values: np.ndarray, sigma: float, axis: int = -1) -> np.ndarray:
    """Gaussian-smooth a binned signal by ``sigma`` bins (chromatin imputation labels).

    Apply it to a whole chromosome's bins, not to windows, so no edge effects are baked
    into the labels. Uses ``scipy.ndimage.gaussian_filter1d`` (reflecting boundaries).
    """
    if sigma < 0:
        raise ConfigError(f"gaussian_smooth: sigma must be >= 0 bins, got {sigma}")
    if sigma == 0:
        return np.asarray(values, dtype=np.float32)
    return gaussian_filter1d(np.asarray(values, dtype=np.float32), sigma, axis=axis)


TRANSFORMS = {"neglog10p": NegLog10PValue, "percent": PercentToFraction}


def make_transform(spec: str | dict | None):
    """Build a transform from a config value: ``None``, ``"percent"``, ``"neglog10p"`` or
    ``{"name": "neglog10p", "resolution": 20}``."""
    if spec is None or hasattr(spec, "expand"):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    params = dict(spec)
    name = params.pop("name", None)
    if name not in TRANSFORMS:
        raise ConfigError(f"transform: unknown name {name!r}; expected one of {sorted(TRANSFORMS)}")
    try:
        return TRANSFORMS[name](**params)
    except TypeError as err:
        raise ConfigError(f"transform {name!r}: {err}") from None


# ----------------------------------------------------------------------------- tracks
def _merge_spans(starts: np.ndarray, ends: np.ndarray, gap: int, max_span: int):
    """Group sorted windows into read spans; yields (span_start, span_end, member indices)."""
    order = np.argsort(starts, kind="stable")
    group = [order[0]]
    lo, hi = starts[order[0]], ends[order[0]]
    for i in order[1:]:
        s, e = starts[i], ends[i]
        if s <= hi + gap and max(hi, e) - lo <= max_span:
            group.append(i)
            hi = max(hi, e)
        else:
            yield lo, hi, group
            group, lo, hi = [i], s, e
    yield lo, hi, group


class Track:
    """One signal track: a bigWig, or a bigBed / bedGraph read as a cached bigWig.

    Parameters
    ----------
    path
        bigWig, bigBed or bedGraph (plain or gzip) file; the format is recognised from the
        content.
    transform
        ``None``, a transform object (:class:`NegLog10PValue`, :class:`PercentToFraction`)
        or its config form (see :func:`make_transform`).
    aliases
        Optional chromosome alias table (:class:`kerasgene.io.chroms.AliasTable` or a path).
    chrom_sizes
        The genome's chromosome sizes, for a bedGraph (see
        :mod:`kerasgene.io.track_formats`); for every format, the chromosomes over which
        :attr:`max_value` is taken (by any naming: ``chr1``/``1``, the alias table).
    value_column
        For a bigBed: the field holding the values (default ``score``).

    Attributes
    ----------
    path : the user's file (named in messages); ``bigwig``: the file read
    chroms : dict[str, int]; ``format``: ``"bigwig"``, ``"bigbed"`` or ``"bedgraph"``
    header : the file's total summary (``nBasesCovered``, ``minVal``, ``maxVal``,
        ``sumData``, ``sumSquared``, plus ``version`` and ``nLevels``)
    nan_bases : bases holding NaN (read as 0)
    """

    def __init__(self, path: str | os.PathLike, transform=None, *, aliases=None,
                 chrom_sizes: dict[str, int] | None = None,
                 value_column: str | int | None = None):
        self.path = check_readable(path, "track file")
        self.format = sniff_track(self.path)
        self.alias_table = _chroms.load_aliases(aliases)
        self.bigwig = as_bigwig(self.path, self.format, chrom_sizes=chrom_sizes,
                                aliases=self.alias_table, value_column=value_column)
        info = read_bbi_header(self.bigwig)
        if info.empty:
            raise InputFileError(f"{self.path}: holds no data (no interval on any "
                                 f"chromosome); as a track it would be an all-zero channel")
        try:
            self._bw = pyBigWig.open(str(self.bigwig))
        except RuntimeError:
            self._bw = None
        if self._bw is None or not self._bw.isBigWig():
            raise InputFileError(f"{self.path}: not a valid bigWig file (pyBigWig cannot "
                                 f"open it)")
        self.chroms: dict[str, int] = dict(self._bw.chroms())
        # not pyBigWig's header(): it crashes on a file holding NaN and rounds to integers
        self.header: dict = {"version": info.version, "nLevels": info.zoom_levels,
                             **(info.summary or {})}
        self._aliases = _chroms.alias_map(self.chroms, self.alias_table)
        self._genome_chroms = None if chrom_sizes is None else list(chrom_sizes)
        self._maxima: dict[tuple[str, ...] | None, float] = {}
        try:
            self.transform = make_transform(transform)
            self.nan_bases, self._nan_maxima = self._scan_nan() if info.has_nan else (0, None)
        except BaseException:
            self.close()
            raise
        if self.nan_bases:
            log.warning("%s: %d bases hold NaN values; read as missing data (0)", self.path,
                        self.nan_bases)

    def _scan_nan(self, step: int = 1_000_000) -> tuple[int, dict[str, float]]:
        """Bases holding NaN and each chromosome's maximum of the other values (absent when
        there is none), from the intervals, read chromosome by chromosome in ``step``-bp
        pieces."""
        n, maxima = 0, {}
        for chrom, size in self.chroms.items():
            top = -np.inf
            for lo in range(0, size, step):
                hi = min(lo + step, size)
                for s, e, v in self._read("intervals", chrom, lo, hi) or ():
                    if v != v:
                        n += min(e, hi) - max(s, lo)
                    elif v > top:
                        top = v
            if top > -np.inf:
                maxima[chrom] = float(top)
        return n, maxima

    def _read(self, what: str, chrom: str, lo: int, hi: int, **kwargs):
        """One pyBigWig call (``values``, ``stats``, ``intervals``); a failing read of a
        corrupt file becomes an InputFileError naming the file and the region."""
        try:
            return getattr(self._bw, what)(chrom, int(lo), int(hi), **kwargs)
        except RuntimeError as err:
            raise InputFileError(f"{self.path}: corrupt bigWig: reading {chrom}:{lo}-{hi} "
                                 f"failed ({err})") from None

    def resolve(self, chrom: str) -> str:
        """The file's own name for ``chrom`` (aliases ``chr1``/``1``, ``chrM``/``MT``, and
        those of the alias table)."""
        return _chroms.resolve(chrom, self._aliases, str(self.path))

    @property
    def max_value(self) -> float:
        """Genome-wide maximum of the non-NaN values (0 when there is none): over the
        genome's chromosomes when the track was opened with ``chrom_sizes``, else over
        every chromosome of the file. A contig the genome lacks (ENCODE's GRCh38 files
        carry chrEBV) no longer sets the scale of iSEGnet's ``neglog10p``: one such
        maximum 15 times the genome's shrank a channel 48-fold, silently.

        Exact: zoom summaries keep true maxima (the header's ``maxVal`` is rounded to an
        integer by pyBigWig). In a file holding NaN, a summary bin starting with NaN loses
        its maximum (pyBigWig's ``stats`` returns ``None`` or a smaller value, even with
        ``exact=True``), so that file's maxima come from the intervals read on opening.
        """
        return self.max_over(self._genome_chroms)

    def max_over(self, chroms: Sequence[str] | None) -> float:
        """:attr:`max_value` over the chromosomes ``chroms`` (genome names, resolved to the
        file's; those the file lacks are skipped), or over every chromosome of the file
        for None."""
        key = None if chroms is None else tuple(chroms)
        if key not in self._maxima:
            self._maxima[key] = self._max_of(self._file_chroms(key))
        return self._maxima[key]

    def _max_of(self, chroms: list[str]) -> float:
        """The largest non-NaN value on the file's chromosomes ``chroms`` (0 for none)."""
        maxima = []
        for chrom in chroms:
            if self._nan_maxima is not None:
                maxima.append(self._nan_maxima.get(chrom))
                continue
            try:
                maxima.append(self._bw.stats(chrom, type="max")[0])
            except RuntimeError:  # a chromosome without intervals
                continue
        return float(max((m for m in maxima if m is not None and m == m), default=0.0))

    def _file_chroms(self, chroms: Sequence[str] | None) -> list[str]:
        """The file's names of the genome chromosomes ``chroms`` it has (all of its
        chromosomes for None)."""
        if chroms is None:
            return list(self.chroms)
        return [self.resolve(c) for c in chroms if _chroms.resolves(c, self._aliases)]

    def _raw(self, name: str, start: int, end: int) -> np.ndarray:
        """Per-base values of [start, end) with NaN → 0 and zeros outside the chromosome."""
        out = np.zeros(end - start, dtype=np.float32)
        lo, hi = max(start, 0), min(end, self.chroms[name])
        if hi > lo:
            vals = self._read("values", name, lo, hi, numpy=True)
            vals[np.isnan(vals)] = 0.0
            out[lo - start : hi - start] = vals
        return out

    def _span(self, name: str, start: int, end: int) -> tuple[np.ndarray, int]:
        """Transformed values covering [start, end); returns (values, their start)."""
        if self.transform is None:
            return self._raw(name, start, end), start
        lo, hi = self.transform.expand(start, end)
        return self.transform(self._raw(name, lo, hi), lo, self), lo

    def values(self, chrom: str, start: int, end: int, strand: str = "+") -> np.ndarray:
        """Per-base values of ``[start, end)``, 5'→3' on ``strand``; float32 of shape (L,)."""
        check_window(start, end, strand)
        vals, offset = self._span(self.resolve(chrom), start, end)
        vals = vals[start - offset : end - offset]
        return vals[::-1].copy() if strand == "-" else vals

    def read_windows(
        self,
        chroms: Sequence[str],
        starts: Sequence[int],
        ends: Sequence[int],
        strands: Sequence[str] | None = None,
        *,
        out: np.ndarray | None = None,
        merge_gap: int = 5_000,
        max_span: int = 4_000_000,
    ) -> np.ndarray:
        """Values of many equal-length windows, read span by span.

        Parameters
        ----------
        chroms, starts, ends, strands
            One entry per window; all windows have the same length L.
        out
            Optional float32 array of shape (N, L) (or a strided view of one channel of a
            larger array) to write into.
        merge_gap, max_span
            Windows closer than ``merge_gap`` bases share one read of at most ``max_span``.

        Returns
        -------
        np.ndarray, shape (N, L), float32
        """
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        n = len(starts)
        strands = np.asarray(["+"] * n if strands is None else strands)
        lengths = ends - starts
        if n and (lengths != lengths[0]).any():
            raise InvalidRegionError("read_windows: all windows must have the same length")
        if n and (lengths < 0).any():
            raise InvalidRegionError("read_windows: a window has start > end")
        if out is None:
            out = np.empty((n, int(lengths[0]) if n else 0), dtype=np.float32)
        chroms = np.asarray(chroms)
        for chrom in np.unique(chroms):
            name = self.resolve(str(chrom))
            idx = np.flatnonzero(chroms == chrom)
            for lo, hi, members in _merge_spans(starts[idx], ends[idx], merge_gap, max_span):
                vals, offset = self._span(name, int(lo), int(hi))
                for j in members:
                    i = idx[j]
                    win = vals[starts[i] - offset : ends[i] - offset]
                    out[i] = win[::-1] if strands[i] == "-" else win
        return out

    def binned(
        self,
        chrom: str,
        start: int,
        end: int,
        bin_size: int,
        stat: str = "mean",
        strand: str = "+",
    ) -> np.ndarray:
        """Exact per-bin statistics of ``[start, end)`` (not zoom-level summaries).

        ``mean`` counts bases without data as 0 (as :meth:`values` does); ``max``, ``min``
        and ``std`` are over covered bases (0 for an empty bin); ``coverage`` is the covered
        fraction. With a transform, bins are averaged from transformed per-base values.

        Returns
        -------
        np.ndarray, shape ((end - start) // bin_size,), float32
        """
        check_window(start, end, strand)
        if stat not in _STATS:
            raise ConfigError(f"binned: stat must be one of {_STATS}, got {stat!r}")
        if bin_size < 1 or (end - start) % bin_size:
            raise InvalidRegionError(
                f"binned: window length {end - start} is not a multiple of bin_size={bin_size}"
            )
        name = self.resolve(chrom)
        n_bins = (end - start) // bin_size
        if self.transform is not None:
            if stat not in ("mean", "sum"):
                raise ConfigError(f"binned: stat {stat!r} is not available with a transform")
            vals = self.values(name, start, end).reshape(n_bins, bin_size)
            res = vals.sum(axis=1) if stat == "sum" else vals.mean(axis=1)
        else:
            res = self._exact_stats(name, start, n_bins, bin_size, stat)
        res = res.astype(np.float32)
        return res[::-1].copy() if strand == "-" else res

    def _stats(self, name: str, lo: int, hi: int, n_bins: int, stat: str) -> np.ndarray:
        pb_type = "sum" if stat == "mean" else stat
        if self.nan_bases:
            return _stats_of_values(self._read("values", name, lo, hi, numpy=True), n_bins,
                                    pb_type)
        got = self._read("stats", name, lo, hi, type=pb_type, nBins=int(n_bins), exact=True)
        return np.array([0.0 if v is None else v for v in got], dtype=np.float64)

    def _exact_stats(self, name: str, start: int, n_bins: int, bin_size: int, stat: str):
        """pyBigWig exact stats per bin; bins overhanging a chromosome end are clipped."""
        edges = start + np.arange(n_bins + 1, dtype=np.int64) * bin_size
        lo = np.clip(edges[:-1], 0, self.chroms[name])
        hi = np.clip(edges[1:], 0, self.chroms[name])
        res = np.zeros(n_bins, dtype=np.float64)
        whole = np.flatnonzero(hi - lo == bin_size)
        if len(whole):
            i0, i1 = whole[0], whole[-1] + 1
            res[i0:i1] = self._stats(name, lo[i0], hi[i1 - 1], i1 - i0, stat)
        for i in np.flatnonzero((hi > lo) & (hi - lo < bin_size)):
            res[i] = self._stats(name, lo[i], hi[i], 1, stat)[0]
            if stat == "coverage":
                res[i] *= (hi[i] - lo[i]) / bin_size
        return res / bin_size if stat == "mean" else res

    def close(self) -> None:
        self._bw.close()

    def __enter__(self) -> Track:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def chrom_difference(a: Track, b: Track) -> list[str]:
    """Chromosomes of one track without a counterpart in the other, compared through
    aliases (built-in and ``a``'s alias table); at most five, sorted. Empty: same set."""
    table = a.alias_table or b.alias_table
    keys_a = {_chroms.canonical(c, table): c for c in a.chroms}
    keys_b = {_chroms.canonical(c, table): c for c in b.chroms}
    only = [keys_a[k] for k in keys_a.keys() - keys_b.keys()]
    only += [keys_b[k] for k in keys_b.keys() - keys_a.keys()]
    return sorted(only)[:5]


def _stats_of_values(values: np.ndarray, n_bins: int, stat: str) -> np.ndarray:
    """pyBigWig's exact statistics of ``n_bins`` equal bins of per-base ``values`` (NaN:
    no data), for files holding NaN values.

    Returns
    -------
    np.ndarray of float64, shape (n_bins,); 0 for a bin without data (but ``coverage``).
    """
    bins = np.asarray(values, dtype=np.float64).reshape(n_bins, -1)
    covered = ~np.isnan(bins)
    n = covered.sum(axis=1)
    if stat == "coverage":
        return n / bins.shape[1]
    if stat == "sum":
        return np.nansum(bins, axis=1)
    out = np.zeros(n_bins)
    has = n > 0
    with np.errstate(invalid="ignore"):
        if stat == "max":
            out[has] = np.nanmax(bins[has], axis=1)
        elif stat == "min":
            out[has] = np.nanmin(bins[has], axis=1)
        elif stat == "std":
            out[n > 1] = np.nanstd(bins[n > 1], axis=1, ddof=1)
    return out


class TrackSet:
    """Named tracks of one biosample, read together in a fixed channel order.

    Parameters
    ----------
    tracks
        Mapping name → path, name → (path, transform[, value_column]), or name → ``{"path": ...,
        "transform": ..., "value_column": ...}``; the mapping's order is the channel order
        of :meth:`window`.
    aliases
        Optional chromosome alias table (:class:`kerasgene.io.chroms.AliasTable` or a path),
        shared by the tracks.
    chrom_sizes
        The genome's chromosome sizes, for bedGraph tracks (see :class:`Track`).
    """

    def __init__(self, tracks: Mapping[str, str | os.PathLike | tuple | Mapping], *,
                 aliases=None, chrom_sizes: dict[str, int] | None = None):
        if not tracks:
            raise ConfigError("TrackSet: at least one track is required")
        self.alias_table = _chroms.load_aliases(aliases)
        self.tracks: dict[str, Track] = {}
        try:
            for name, spec in tracks.items():
                if isinstance(spec, Mapping):
                    opts = dict(spec)
                elif isinstance(spec, tuple):
                    opts = dict(zip(("path", "transform", "value_column"), spec))
                else:
                    opts = {"path": spec}
                self.tracks[name] = Track(opts.pop("path"), opts.pop("transform", None),
                                          aliases=self.alias_table, chrom_sizes=chrom_sizes,
                                          **opts)
        except BaseException:
            self.close()
            raise

    @property
    def names(self) -> list[str]:
        return list(self.tracks)

    def check_same_chroms(self) -> None:
        """Raise InputFileError unless the tracks hold the same chromosomes, compared
        through aliases (a ``chrX`` and an ``X`` file of one sample agree)."""
        items = list(self.tracks.items())
        ref_name, ref = items[0]
        for _, track in items[1:]:
            diff = chrom_difference(track, ref)
            if diff:
                raise InputFileError(
                    f"{track.path}: chromosomes differ from track {ref_name!r} ({ref.path}): "
                    f"{diff}; expected the same chromosomes (aliases such as chr1/1 agree)")

    def window(self, chrom: str, start: int, end: int, strand: str = "+") -> np.ndarray:
        """Values of one window, shape (L, n_tracks), float32."""
        return np.stack([t.values(chrom, start, end, strand) for t in self.tracks.values()], -1)

    def read_windows(self, chroms, starts, ends, strands=None, out=None) -> np.ndarray:
        """Values of many equal-length windows, shape (N, L, n_tracks), float32."""
        n, length = len(starts), (int(ends[0]) - int(starts[0])) if len(starts) else 0
        if out is None:
            out = np.empty((n, length, len(self.tracks)), dtype=np.float32)
        for c, track in enumerate(self.tracks.values()):
            track.read_windows(chroms, starts, ends, strands, out=out[:, :, c])
        return out

    def close(self) -> None:
        for track in self.tracks.values():
            track.close()

    def __enter__(self) -> TrackSet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_bigwig(path: str | os.PathLike, chrom_sizes: dict[str, int], signal: dict[str, np.ndarray],
                 *, zero_as_missing: bool = True) -> Path:
    """Write per-base signals to a bigWig as runs of equal values
    (:func:`~kerasgene.io.track_formats.write_bigwig_entries`: ``path`` and
    ``chrom_sizes`` as there).

    ``signal`` maps a chromosome to its per-base float array (missing chromosomes are left
    empty); ``zero_as_missing`` skips runs of 0 (smaller files; they read back as 0).
    """
    entries = {c: value_runs(np.asarray(v, np.float64), zero_as_missing=zero_as_missing)
               for c, v in signal.items() if c in chrom_sizes}
    return write_bigwig_entries(path, chrom_sizes, entries)
