"""Track files as users have them: bigWig checks, and bedGraph / bigBed as cached bigWigs.

:class:`kerasgene.io.tracks.Track` reads bigWigs with pyBigWig. Other formats are converted
once to a bigWig (written with pyBigWig, values exact: float32 as in any bigWig) kept in
the cache of :mod:`kerasgene.io.cache` (beside the source when its folder is writable),
keyed by the source's size and mtime and the conversion's parameters. The format is
recognised from the content, not the name.

bigWig
    Checked before pyBigWig opens it (:func:`read_bbi_header`): libBigWig trusts the
    offsets of the header and crashes (segmentation fault) on a corrupt file, and reads a
    truncated one partly. A header whose offsets point past the end of the file, or at
    structures without their magic number, is an error naming the file.
bedGraph (plain or gzip)
    ``chrom start end value`` (0-based, half-open; whitespace- or tab-separated);
    ``track``, ``browser`` and ``#`` lines are skipped. Chromosome sizes come from the
    genome when the caller knows one (``chrom_sizes``, the builders pass the FASTA's):
    an interval past a chromosome's end is then an error naming the line, and lines on a
    chromosome the genome lacks (after aliases) are dropped with a warning that counts
    them; two names of one genome chromosome (``chr1`` and ``1``) are an error. Without a genome a chromosome's size is the end of its last interval (windows
    beyond it read 0, as past any chromosome end). Intervals may come in any order; two
    that overlap are an error naming both lines; ``start >= end``, a negative start, a
    non-numeric field or a value that is infinite or beyond float32 range is an error
    naming the line. A NaN value is missing data (read as 0, as NaN in a bigWig), with a
    warning that counts the lines.
bigBed
    Each feature's value is one numeric field: ``value_column`` names it (a field of the
    file's autoSql, e.g. narrowPeak's ``signalValue``, or a 1-based BED column number);
    the default is ``score`` (BED column 5). Features that overlap (e.g. several summits
    of one peak) are combined by their maximum, with a warning that counts them; a NaN
    value is missing data (counted in a warning); a value that is infinite or beyond
    float32 range is an error naming the feature.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyBigWig

from kerasgene._io import atomic_path, open_text
from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError
from kerasgene.io import chroms as _chroms
from kerasgene.io.cache import derived_path, remove_older_versions
from kerasgene.io.genome import describe_head

log = logging.getLogger(__name__)

#: What :class:`kerasgene.io.tracks.Track` reads, as named in error messages.
TRACK_FORMATS = "bigWig, bigBed or bedGraph (plain or gzip)"
_BIGWIG_MAGIC, _BIGBED_MAGIC = 0x888FFC26, 0x8789F2EB
_CHROM_TREE_MAGIC, _RTREE_MAGIC = 0x78CA8C91, 0x2468ACE0
_BED_FIELDS = ("chrom", "chromStart", "chromEnd", "name", "score", "strand", "thickStart",
               "thickEnd", "itemRgb", "blockCount", "blockSizes", "chromStarts")
_EXAMPLES = 3
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: What a track value must be, as named in error messages.
_FLOAT32_VALUE = "a finite number within float32 range (|x| <= 3.4e38)"
#: what to do with aligned reads given as a track
_COVERAGE_HINT = ("; make a coverage track of it first (e.g. deepTools bamCoverage -b IN -o "
                  "OUT.bw, or bedtools genomecov -bg; GRO-/PRO-seq: one track per RNA strand, "
                  "as the protocol's read orientation gives it)")


def _beyond_float32(value: float) -> bool:
    """Whether a value cannot be stored in a bigWig (float32): infinite or too large. NaN is
    not (missing data)."""
    return abs(value) > _FLOAT32_MAX


# ----------------------------------------------------------------------------- bbi header
@dataclass(frozen=True)
class BBIHeader:
    """What :func:`read_bbi_header` learns from a bigWig / bigBed file.

    Attributes
    ----------
    kind : ``"bigwig"`` or ``"bigbed"``
    n_blocks : data blocks in the file (0: no interval at all)
    summary : the file's total summary (``nBasesCovered``, ``minVal``, ``maxVal``,
        ``sumData``, ``sumSquared``; NaN sums when it holds NaN values), or None when the
        file has none (format version 1)
    """

    kind: str
    version: int
    zoom_levels: int
    n_blocks: int
    summary: dict | None

    @property
    def empty(self) -> bool:
        return self.n_blocks == 0 or (self.summary is not None
                                      and self.summary["nBasesCovered"] == 0)

    @property
    def has_nan(self) -> bool:
        return self.summary is not None and math.isnan(self.summary["sumData"])


def _bbi_error(path: Path, kind: str, detail: str) -> InputFileError:
    name = "bigWig" if kind == "bigwig" else "bigBed"
    return InputFileError(f"{path}: corrupt or truncated {name} file ({detail}); expected a "
                          f"complete {name} file")


def read_bbi_header(path: str | os.PathLike) -> BBIHeader:
    """Check the structure of a bigWig / bigBed file without trusting it (see module doc):
    the offsets of its header, the magic numbers of the structures they point at, the root
    nodes of its indexes and the magic number that ends the file.

    Raises
    ------
    InputFileError
        When the file is not a bigWig / bigBed, or its header, chromosome tree or indexes
        lie (partly) past the end of the file.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        def read(offset: int, n: int) -> bytes:
            fh.seek(offset)
            return fh.read(n)

        head = read(0, 64)
        order = next((o for o in "<>" if len(head) >= 4
                      and struct.unpack(o + "I", head[:4])[0] in (_BIGWIG_MAGIC, _BIGBED_MAGIC)),
                     None)
        if order is None:
            raise InputFileError(f"{path}: not a bigWig or bigBed file (bad magic number)")
        kind = "bigwig" if struct.unpack(order + "I", head[:4])[0] == _BIGWIG_MAGIC else "bigbed"
        if len(head) < 64:
            raise _bbi_error(path, kind, "header incomplete")
        (_, version, zooms, chrom_tree, full_data, full_index, _, _, _, summary_at, _,
         _) = struct.unpack(order + "IHHQQQHHQQIQ", head)
        if not 1 <= version <= 10 or zooms > 32:
            raise _bbi_error(path, kind, f"version {version}, {zooms} zoom levels")

        def check_magic(offset: int, magic: int, what: str) -> None:
            raw = read(offset, 4) if 64 <= offset < size else b""
            if len(raw) < 4 or struct.unpack(order + "I", raw)[0] != magic:
                raise _bbi_error(path, kind, f"{what} at byte {offset} missing")

        def check_rtree(offset: int, what: str) -> int:
            """Check an R-tree index and its root node; return its item count."""
            check_magic(offset, _RTREE_MAGIC, what)
            _, _, items, _, _, _, _, end_data, _, _ = struct.unpack(order + "IIQIIIIQII",
                                                                    read(offset, 48).ljust(48, b"\0"))
            node = read(offset + 48, 4)
            if len(node) < 4 or end_data > size:
                raise _bbi_error(path, kind, f"{what} truncated")
            leaf, count = node[0], struct.unpack(order + "H", node[2:4])[0]
            item_size = 32 if leaf else 24
            body = read(offset + 52, count * item_size)
            if len(body) < count * item_size:
                raise _bbi_error(path, kind, f"{what} truncated")
            for i in range(count if leaf else 0):
                data_at, data_size = struct.unpack(order + "QQ", body[i * 32 + 16 : i * 32 + 32])
                if data_at + data_size > size:
                    raise _bbi_error(path, kind, f"data block at byte {data_at} past the end")
            return items

        if 64 + 24 * zooms > size:
            raise _bbi_error(path, kind, "zoom headers incomplete")
        if read(size - 4, 4) != head[:4]:  # bigWig / bigBed writers end the file with it
            raise _bbi_error(path, kind, "no magic number at the end of the file")
        check_magic(chrom_tree, _CHROM_TREE_MAGIC, "chromosome tree")
        if not 64 <= full_data < size:
            raise _bbi_error(path, kind, f"data section at byte {full_data} missing")
        # a file written without any interval has no data index
        n_blocks = check_rtree(full_index, "data index") if full_index else 0
        for z in range(zooms):
            _, _, z_data, z_index = struct.unpack(order + "IIQQ", read(64 + 24 * z, 24))
            if z_data >= size:
                raise _bbi_error(path, kind, f"zoom level {z + 1} data missing")
            check_rtree(z_index, f"zoom level {z + 1} index")
        summary = None
        if summary_at:
            raw = read(summary_at, 40)
            if len(raw) < 40:
                raise _bbi_error(path, kind, "total summary missing")
            covered, lo, hi, total, squares = struct.unpack(order + "Qdddd", raw)
            summary = {"nBasesCovered": covered, "minVal": lo, "maxVal": hi, "sumData": total,
                       "sumSquared": squares}
    return BBIHeader(kind, version, zooms, n_blocks, summary)


# ----------------------------------------------------------------------------- sniffing
def sniff_bbi(path: str | os.PathLike) -> str | None:
    """``"bigwig"`` or ``"bigbed"`` by the file's magic number (either byte order), else
    None."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    magic = {struct.unpack(o + "I", head)[0] for o in "<>"} if len(head) == 4 else set()
    return "bigwig" if _BIGWIG_MAGIC in magic else "bigbed" if _BIGBED_MAGIC in magic else None


def sniff_track(path: str | os.PathLike) -> str:
    """``"bigwig"``, ``"bigbed"`` or ``"bedgraph"`` from a track file's content.

    Raises
    ------
    InputFileError
        When the file is none of them (the message says what it starts with).
    """
    path = Path(path)
    kind = sniff_bbi(path)
    if kind is not None:
        return kind
    try:
        with open_text(path) as fh:
            for line in fh:
                fields = line.split()
                if line.startswith("track") and "type=bedGraph" in line:
                    return "bedgraph"
                if not fields or fields[0] in ("track", "browser") or line.startswith("#"):
                    continue
                # negative numbers too: the parser then names the line
                if len(fields) >= 4 and all(re.fullmatch(r"-?\d+", f) for f in fields[1:3]):
                    return "bedgraph"
                break
    except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile):
        pass
    with open(path, "rb") as fh:
        head = fh.read(4096)
    found = describe_head(head)
    raise InputFileError(f"{path}: not a track file: expected {TRACK_FORMATS}, found {found}"
                         + (_COVERAGE_HINT if "aligned reads" in found else ""))


# ----------------------------------------------------------------------------- writing
def value_runs(values: np.ndarray, *, zero_as_missing: bool = True
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal neighbouring values of a 1-D array: ``(starts, ends, run values)``,
    indices into ``values``; runs of 0 left out with ``zero_as_missing``."""
    values = np.asarray(values)
    change = np.flatnonzero(np.diff(values) != 0) + 1
    starts = np.concatenate([[0], change]).astype(np.int64)
    ends = np.concatenate([change, [len(values)]]).astype(np.int64)
    run_values = values[starts]
    keep = run_values != 0 if zero_as_missing else np.ones(len(starts), bool)
    return starts[keep], ends[keep], run_values[keep]


def write_bigwig_entries(path: str | os.PathLike, chrom_sizes: Mapping[str, int],
                         entries: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                         *, max_zooms: int = 10) -> Path:
    """Write intervals to a bigWig with pyBigWig, atomically (the one bigWig writer).

    Parameters
    ----------
    path
        Output file, written to a temporary name and renamed when complete.
    chrom_sizes
        Chromosome name → length, in the header's order.
    entries
        Chromosome name → ``(starts, ends, values)``: sorted, non-overlapping 0-based
        half-open intervals and their values (chromosomes without entries stay empty).
    max_zooms
        Zoom levels of the file's summaries (pyBigWig's ``maxZooms``).
    """
    with atomic_path(path) as tmp:
        bw = pyBigWig.open(str(tmp), "w")
        try:
            bw.addHeader([(c, int(n)) for c, n in chrom_sizes.items()], maxZooms=max_zooms)
            for chrom in chrom_sizes:
                if chrom in entries and len(entries[chrom][0]):
                    starts, ends, values = entries[chrom]
                    bw.addEntries([chrom] * len(starts), np.asarray(starts, np.int64),
                                  ends=np.asarray(ends, np.int64),
                                  values=np.asarray(values, np.float64))
        finally:
            bw.close()
    return Path(path)


#: Version of the bedGraph / bigBed conversions (:func:`kerasgene.io.cache.derived_path`):
#: 1 since a bedGraph naming one chromosome two ways and values beyond float32 are refused,
#: so that bigWigs converted before those checks are made again.
CONVERSION_VERSION = 1


def _cached(source: Path, params, make) -> Path:
    target = derived_path(source, ".bw", params, CONVERSION_VERSION)
    if not target.exists():
        remove_older_versions(target)
        log.info("%s: converting to bigWig once (%s)", source, target)
        make(target)
    return target


# ----------------------------------------------------------------------------- bedGraph
def _line_error(path: Path, lineno: int, detail: str) -> InputFileError:
    return InputFileError(f"{path} line {lineno}: {detail}")


def read_bedgraph(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, ...]]:
    """Parse a bedGraph (plain or gzip) into per-chromosome arrays, in file order.

    Returns
    -------
    ``{chrom: (starts int64, ends int64, values float64, line numbers int64)}``, each of
    shape (n,), NaN-valued lines left out (counted in a warning).
    """
    path = Path(path)
    rows: dict[str, list] = {}
    nan_lines: list[int] = []
    try:
        with open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                fields = line.split()
                if not fields or fields[0] in ("track", "browser") or fields[0].startswith("#"):
                    continue
                if len(fields) != 4:
                    raise _line_error(path, lineno, f"{len(fields)} fields; expected 4 (chrom, "
                                      f"start, end, value) in a bedGraph")
                chrom, start, end, value = fields
                try:
                    start_i, end_i = int(start), int(end)
                except ValueError:
                    raise _line_error(path, lineno, f"start {start!r} / end {end!r}: expected "
                                      f"integers") from None
                try:
                    val = float(value)
                except ValueError:
                    raise _line_error(path, lineno, f"value {value!r}: expected a number") from None
                if start_i < 0 or end_i <= start_i:
                    raise _line_error(path, lineno, f"interval [{start_i}, {end_i}): expected "
                                      f"0 <= start < end")
                if _beyond_float32(val):
                    raise _line_error(path, lineno, f"value {value!r}: expected {_FLOAT32_VALUE}")
                if math.isnan(val):
                    nan_lines.append(lineno)
                    continue
                rows.setdefault(chrom, []).append((start_i, end_i, val, lineno))
    except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputFileError(f"{path}: truncated or corrupt bedGraph ({err}); expected a "
                             f"complete text or gzip file") from None
    if nan_lines:
        log.warning("%s: %d lines with value NaN read as missing data (0), e.g. lines %s",
                    path, len(nan_lines), ", ".join(map(str, nan_lines[:_EXAMPLES])))
    out = {}
    for chrom, r in rows.items():
        arr = np.array(r, dtype=np.float64)
        out[chrom] = (arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2],
                      arr[:, 3].astype(np.int64))
    return out


def _sort_and_check(path: Path, chrom: str, starts, ends, values, lines):
    order = np.argsort(starts, kind="stable")
    starts, ends, values, lines = starts[order], ends[order], values[order], lines[order]
    bad = np.flatnonzero(starts[1:] < ends[:-1])
    if len(bad):
        i = bad[0]
        raise _line_error(path, int(lines[i + 1]), f"interval {chrom}:{starts[i + 1]}-"
                          f"{ends[i + 1]} overlaps line {lines[i]} ({chrom}:{starts[i]}-"
                          f"{ends[i]}); expected non-overlapping bedGraph intervals")
    return starts, ends, values, lines


def _bedgraph_sizes(path: Path, data: dict, chrom_sizes: Mapping[str, int] | None,
                    table) -> dict[str, int]:
    """Each bedGraph chromosome's size: the genome's, or the end of its last interval; in
    the genome's order. Two names of one genome chromosome (``chr1`` and ``1``) are an
    error: the bigWig would hold them as two chromosomes, one of them never read."""
    if chrom_sizes is None:
        return {c: int(data[c][1].max()) for c in data}
    names = _chroms.alias_map(chrom_sizes, table)
    order = {c: i for i, c in enumerate(chrom_sizes)}
    in_genome, unknown = {}, []
    for chrom in data:
        try:
            in_genome[chrom] = _chroms.resolve(chrom, names, "genome")
        except UnknownChromosomeError:
            unknown.append(chrom)
    first_name: dict[str, str] = {}
    for chrom, target in in_genome.items():
        other = first_name.setdefault(target, chrom)
        if other != chrom:
            raise InputFileError(f"{path}: names {other!r} (line {data[other][3].min()}) and "
                                 f"{chrom!r} (line {data[chrom][3].min()}) both mean genome "
                                 f"chromosome {target}; use one name per chromosome")
    if unknown:
        n = sum(len(data[c][0]) for c in unknown)
        log.warning("%s: %d intervals on %d chromosomes absent from the genome dropped "
                    "(e.g. %s)", path, n, len(unknown), ", ".join(unknown[:_EXAMPLES]))
    sizes = {}
    for chrom in sorted(in_genome, key=lambda c: order[in_genome[c]]):
        size = int(chrom_sizes[in_genome[chrom]])
        ends, lines = data[chrom][1], data[chrom][3]
        past = np.flatnonzero(ends > size)
        if len(past):
            i = past[0]
            raise _line_error(path, int(lines[i]), f"interval ends at {ends[i]}, past the end "
                              f"of {chrom} ({size} bp in the genome); expected intervals "
                              f"inside the chromosome")
        sizes[chrom] = size
    return sizes


def bedgraph_to_bigwig(path: str | os.PathLike, chrom_sizes: Mapping[str, int] | None = None,
                       aliases=None) -> Path:
    """A cached bigWig of a bedGraph (rules in the module docstring).

    Parameters
    ----------
    path
        bedGraph, plain or gzip.
    chrom_sizes
        The genome's chromosome sizes, or None (sizes from the intervals).
    aliases
        Alias table used to find a bedGraph chromosome in ``chrom_sizes``.

    Returns
    -------
    Path of the bigWig (same chromosome names as the bedGraph).
    """
    path = Path(path)
    table = _chroms.load_aliases(aliases)
    params = {"format": "bedgraph",
              "sizes": None if chrom_sizes is None else sorted(dict(chrom_sizes).items()),
              "aliases": None if table is None else table.source}

    def make(target: Path) -> None:
        data = read_bedgraph(path)
        if not data:
            raise InputFileError(f"{path}: holds no interval; a track without data would be "
                                 f"an all-zero channel")
        sizes = _bedgraph_sizes(path, data, chrom_sizes, table)
        if not sizes:
            raise InputFileError(f"{path}: none of its chromosomes ({', '.join(list(data)[:5])}) "
                                 f"is in the genome")
        sorted_data = {c: _sort_and_check(path, c, *data[c])[:3] for c in sizes}
        write_bigwig_entries(target, sizes, sorted_data)

    return _cached(path, params, make)


# ----------------------------------------------------------------------------- bigBed
#: autoSql types of a bigBed field holding one number
_NUMBER_TYPES = {"byte", "ubyte", "short", "ushort", "int", "uint", "bigint", "float", "double"}


def _autosql_typed_fields(sql: str | bytes | None) -> list[tuple[str, str]]:
    """``(type, name)`` of each field of a bigBed's autoSql (``[]`` for none)."""
    if isinstance(sql, bytes):
        sql = sql.decode("utf-8", errors="replace")
    return re.findall(r"^\s*([\w\[\]]+)\s+(\w+)\s*;", sql or "", flags=re.MULTILINE)


def _autosql_fields(sql: str | bytes | None) -> list[str]:
    return [name for _, name in _autosql_typed_fields(sql)]


def bigbed_number_fields(path: str | os.PathLike) -> list[str]:
    """The numeric fields of a bigBed's autoSql besides BED's own (narrowPeak's
    ``signalValue``, ``pValue``, ``qValue``, ``peak``); [] for a file without autoSql.
    ``path`` must have passed the structural check (a :class:`~kerasgene.io.tracks.Track`
    opened it)."""
    bb = pyBigWig.open(str(path))
    try:
        sql = bb.SQL()
    finally:
        bb.close()
    bed = {*_BED_FIELDS, "reserved"}  # itemRgb's name in BED's own autoSql
    return [name for kind, name in _autosql_typed_fields(sql)
            if kind in _NUMBER_TYPES and name not in bed]


def _value_index(path: Path, fields: list[str], value_column: str | int) -> int:
    """Index of ``value_column`` among the fields after chromEnd."""
    if isinstance(value_column, int) and not isinstance(value_column, bool):
        if value_column < 4:
            raise ConfigError(f"{path}: value_column {value_column}: expected a BED column "
                              f"number >= 4 (columns 1-3 are chrom, start, end)")
        return value_column - 4
    if value_column not in fields[3:]:
        raise ConfigError(f"{path}: no field {value_column!r} for the track's values; "
                          f"expected value_column to be one of {', '.join(fields[3:]) or '-'}"
                          f" (or a BED column number)")
    return fields.index(value_column) - 3


def _max_of_overlaps(starts, ends, values):
    """Non-overlapping intervals of features sorted by start, overlapping bases taking the
    maximum of the features covering them."""
    reach = np.maximum.accumulate(ends)
    first = np.flatnonzero(np.r_[True, starts[1:] >= reach[:-1]])  # first feature per cluster
    size = np.diff(np.r_[first, len(starts)])
    single = first[size == 1]
    pieces = [(starts[single], ends[single], values[single])]
    for lo_i, n in zip(first[size > 1], size[size > 1]):
        sl = slice(lo_i, lo_i + n)
        lo = starts[sl].min()
        base = np.full(ends[sl].max() - lo, -np.inf)
        for s, e, v in zip(starts[sl], ends[sl], values[sl]):
            np.maximum(base[s - lo : e - lo], v, out=base[s - lo : e - lo])
        run = np.flatnonzero(np.r_[True, base[1:] != base[:-1]])
        run_end = np.r_[run[1:], len(base)]
        keep = np.isfinite(base[run])
        pieces.append((run[keep] + lo, run_end[keep] + lo, base[run[keep]]))
    s, e, v = (np.concatenate(x) for x in zip(*pieces))
    order = np.argsort(s, kind="stable")
    return s[order], e[order], v[order]


def bigbed_to_bigwig(path: str | os.PathLike, value_column: str | int | None = None) -> Path:
    """A cached bigWig of a bigBed, one numeric field per feature (see module docstring).

    Parameters
    ----------
    path
        bigBed file.
    value_column
        Field holding the value: an autoSql field name (``signalValue``) or a 1-based BED
        column number; None means ``score``.
    """
    path = Path(path)
    value_column = "score" if value_column is None else value_column
    read_bbi_header(path)

    def make(target: Path) -> None:
        bb = pyBigWig.open(str(path))
        try:
            fields = _autosql_fields(bb.SQL()) or list(_BED_FIELDS)
            idx = _value_index(path, fields, value_column)
            sizes = dict(bb.chroms())
            data, n_overlaps, examples, n_nan = {}, 0, [], 0
            for chrom, size in sizes.items():
                entries = bb.entries(chrom, 0, size) or []
                starts = np.array([e[0] for e in entries], dtype=np.int64)
                ends = np.array([e[1] for e in entries], dtype=np.int64)
                values = np.empty(len(entries), dtype=np.float64)
                for i, (s, e, rest) in enumerate(entries):
                    cols = rest.split("\t")
                    try:
                        values[i] = float(cols[idx])
                    except (IndexError, ValueError):
                        got = cols[idx] if idx < len(cols) else "nothing"
                        raise InputFileError(f"{path}: feature {chrom}:{s}-{e}: field "
                                             f"{value_column!r} is {got!r}; expected a "
                                             f"number") from None
                    if _beyond_float32(values[i]):
                        raise InputFileError(f"{path}: feature {chrom}:{s}-{e}: field "
                                             f"{value_column!r} is {cols[idx]!r}; expected "
                                             f"{_FLOAT32_VALUE}")
                ok = ~np.isnan(values)
                n_nan += int((~ok).sum())
                starts, ends, values = starts[ok], ends[ok], values[ok]
                order = np.argsort(starts, kind="stable")
                starts, ends, values = starts[order], ends[order], values[order]
                overlap = np.flatnonzero(starts[1:] < np.maximum.accumulate(ends)[:-1])
                if len(overlap):
                    n_overlaps += len(overlap)
                    examples += [f"{chrom}:{starts[i + 1]}-{ends[i + 1]}" for i in overlap[:3]]
                    starts, ends, values = _max_of_overlaps(starts, ends, values)
                data[chrom] = (starts, ends, values)
        except RuntimeError as err:
            raise InputFileError(f"{path}: corrupt bigBed file ({err})") from None
        finally:
            bb.close()
        if not any(len(d[0]) for d in data.values()):
            raise InputFileError(f"{path}: holds no feature; a track without data would be an "
                                 f"all-zero channel")
        if n_nan:
            log.warning("%s: %d features with %s NaN read as missing data (0)", path, n_nan,
                        value_column)
        if n_overlaps:
            log.warning("%s: %d features overlap others; overlapping bases take the maximum "
                        "%s (e.g. %s)", path, n_overlaps, value_column,
                        ", ".join(examples[:_EXAMPLES]))
        write_bigwig_entries(target, sizes, data)

    return _cached(path, {"format": "bigbed", "value_column": value_column}, make)


def bigbed_intervals(path: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The features of a bigBed as intervals (a peak file: ENCODE ships narrowPeak and
    IDR peaks as bigBed), read with pyBigWig after the structural check.

    Returns
    -------
    ``{chrom: (starts, ends)}``, int64 arrays of shape (n,), 0-based half-open, sorted by
    start; only chromosomes with features, in the file's order.

    Raises
    ------
    InputFileError
        a corrupt bigBed, or one without any feature.
    """
    path = Path(path)
    read_bbi_header(path)
    bb = pyBigWig.open(str(path))
    out = {}
    try:
        for chrom, size in bb.chroms().items():
            entries = bb.entries(chrom, 0, size, withString=False) or []
            if entries:
                arr = np.array(sorted(entries), dtype=np.int64).reshape(-1, 2)
                out[chrom] = (arr[:, 0], arr[:, 1])
    except RuntimeError as err:
        raise InputFileError(f"{path}: corrupt bigBed file ({err})") from None
    finally:
        bb.close()
    if not out:
        raise InputFileError(f"{path}: a bigBed without any feature; expected peaks")
    return out


def as_bigwig(path: str | os.PathLike, kind: str | None = None, *,
              chrom_sizes: Mapping[str, int] | None = None, aliases=None,
              value_column: str | int | None = None) -> Path:
    """The bigWig to read for a track file of any supported format.

    Parameters
    ----------
    path
        bigWig, bigBed or bedGraph (plain or gzip).
    kind
        The format when already known (:func:`sniff_track`).
    chrom_sizes, aliases
        For a bedGraph: the genome's sizes and the alias table (see the module docstring).
    value_column
        For a bigBed: the field holding the values (default ``score``).

    Returns
    -------
    ``path`` itself for a bigWig, else the cached conversion.
    """
    path = Path(path)
    kind = kind or sniff_track(path)
    if value_column is not None and kind != "bigbed":
        raise ConfigError(f"{path}: value_column applies to bigBed tracks; this is a "
                          f"{'bigWig' if kind == 'bigwig' else 'bedGraph'}")
    if kind == "bigbed":
        return bigbed_to_bigwig(path, value_column)
    if kind == "bedgraph":
        return bedgraph_to_bigwig(path, chrom_sizes, aliases)
    return path
