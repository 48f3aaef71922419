"""DNA sequence: genome access (FASTA via pyfaidx, 2bit via py2bit), one-hot and k-mers.

Coordinates are 0-based, half-open. Windows may run past either end of a chromosome
(a gene near a telomere); the part outside is padded with ``N``.

Genome files
------------
:class:`Genome` recognises the format from the file's first bytes, not its name:

- plain FASTA, and bgzip FASTA named ``*.gz`` / ``*.bgz``: read with pyfaidx; the ``.fai``
  (and for bgzip the ``.gzi``) index is built once beside the file, or in the cache
  (:mod:`kerasgene.io.cache`) when the file's folder is read-only. An existing index is
  used only if it describes the file as it is now (its records' headers and line layout are
  checked, not only its mtime: a FASTA replaced by ``mv`` keeps an older mtime); sequence
  lines holding whitespace (which pyfaidx would count as bases) are an error; building an
  index (pyfaidx reads every line: 0.7 s per 120 Mb plain, 2.9 s bgzip, so about 20 s and
  75 s for a human genome) is logged at INFO, before with the file's size and after with
  the seconds it took, and a build still running after a moment shows a line on stderr at
  any verbosity, its seconds counting (:func:`kerasgene._io.elapsed_bar`);
- plain-gzip FASTA (``.fa.gz`` as UCSC and Ensembl ship genomes), or a bgzip file under
  another name: recompressed once to bgzip (Bio.bgzf) in the cache, keyed by the source's
  size and mtime, then read as above;
- 2bit (UCSC): read with py2bit.

Any other file is an error naming it and these formats. Indexes and recompressed copies
are written atomically (:mod:`kerasgene._io`); racing processes wait on a lock held on the
source itself, so no lock or temporary file is left behind by an error or a kill.
"""

from __future__ import annotations

import bisect
import contextlib
import gzip
import logging
import os
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import py2bit
import pyfaidx
from tqdm.auto import tqdm

from kerasgene._io import atomic_path, check_readable, elapsed_bar, exclusive_lock
from kerasgene.dna import reverse_complement
from kerasgene.errors import InputFileError, InvalidRegionError
from kerasgene.io import chroms as _chroms
from kerasgene.io.cache import derived_path, remove_older_versions

log = logging.getLogger(__name__)

#: What :class:`Genome` reads, as named in error messages.
GENOME_FORMATS = "FASTA (plain, gzip or bgzip) or 2bit"
_TWOBIT_MAGIC = 0x1A412743
_FASTA_ERRORS = (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, ValueError,
                 UnicodeDecodeError, EOFError, zlib.error)
#: Records checked at each end of an existing ``.fai`` before it is trusted.
_FAI_SAMPLE = 200
#: Longest header line looked for before a record's sequence (a longer line is no header).
_HEADER_MAX = 1 << 16
_WHITESPACE = re.compile(rb"[ \t\v\f]")
_LONE_CR = re.compile(rb"\r(?!\n)")
_SCAN_CHUNK = 1 << 24


def check_window(start: int, end: int, strand: str = "+") -> None:
    """Raise InvalidRegionError unless ``start <= end`` and strand is ``+`` or ``-``."""
    if int(start) != start or int(end) != end:
        raise InvalidRegionError(f"window [{start}, {end}): start and end must be integers")
    if start > end:
        raise InvalidRegionError(f"window [{start}, {end}): start > end (negative length)")
    if strand not in ("+", "-"):
        raise InvalidRegionError(f"window [{start}, {end}): strand must be '+' or '-', got {strand!r}")


#: magic numbers of the binary read and variant formats a user may give for a track or genome
_READS_AND_VARIANTS = ((b"BAM\x01", "a BAM file (aligned reads)"),
                       (b"CRAM", "a CRAM file (aligned reads)"),
                       (b"BCF\x02", "a BCF file (variants)"))


def describe_head(head: bytes) -> str:
    """A few words on what a file starts with, for error messages: the name of a known
    binary format (BAM, CRAM, BCF, plain or compressed), else ``binary data``, else its
    first line."""
    if head[:2] == b"\x1f\x8b":  # gzip or bgzf: name what it holds
        with contextlib.suppress(zlib.error):
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
    for magic, name in _READS_AND_VARIANTS:
        if head.startswith(magic):
            return name
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data"
    if any(c < " " and c not in "\t\r\n" for c in text):
        return "binary data"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"text starting {first[:30]!r}" if first else "an empty file"


def _not_a_genome(path: Path, head: bytes) -> InputFileError:
    return InputFileError(f"{path}: not a genome file: expected {GENOME_FORMATS} (a FASTA "
                          f"starts with '>'), found {describe_head(head)}")


def sniff_genome(path: str | os.PathLike) -> str:
    """The format of a genome file from its first bytes.

    Returns
    -------
    ``"fasta"``, ``"bgzf"`` (bgzip FASTA), ``"gzip"`` (plain gzip, checked when
    decompressed) or ``"2bit"``.

    Raises
    ------
    InputFileError
        When the file is none of these (an empty file, binary data, text not starting
        with ``>``).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if len(head) >= 4 and struct.unpack("<I", head[:4])[0] == _TWOBIT_MAGIC:
        return "2bit"
    if len(head) >= 4 and struct.unpack(">I", head[:4])[0] == _TWOBIT_MAGIC:
        raise InputFileError(f"{path}: big-endian 2bit file; expected a little-endian 2bit "
                             f"file (as faToTwoBit writes) or a FASTA")
    if head[:2] == b"\x1f\x8b":
        bgzf = len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC"
        return "bgzf" if bgzf else "gzip"
    if not head.lstrip().startswith(b">"):
        raise _not_a_genome(path, head)
    return "fasta"


def _bgzip_copy(source: Path) -> Path:
    """A bgzip copy of a gzip FASTA in the cache (made once; see :mod:`kerasgene.io.cache`)."""
    from Bio import bgzf

    target = derived_path(source, ".bgz", "bgzip")
    if target.exists():
        return target
    remove_older_versions(target)
    log.info("%s: recompressing gzip to bgzip once, for random access (%s)", source, target)
    try:
        # level 1: a copy only read back; 6.3x faster than bgzf's default 6, 10 % larger
        with atomic_path(target) as tmp, open(source, "rb") as raw, \
                gzip.GzipFile(fileobj=raw) as src, \
                bgzf.BgzfWriter(str(tmp), "wb", compresslevel=1) as dst, \
                tqdm(total=source.stat().st_size, desc=f"bgzip copy of {source.name}",
                     unit="B", unit_scale=True, disable=None) as bar:
            chunk = src.read(1 << 20)
            if not chunk.lstrip().startswith(b">"):
                raise InputFileError(f"{source}: gzip file does not hold a FASTA: expected "
                                     f"'>' first once decompressed, found {describe_head(chunk)}")
            while chunk:
                dst.write(chunk)
                bar.update(raw.tell() - bar.n)  # compressed bytes read so far
                chunk = src.read(1 << 20)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputFileError(f"{source}: truncated or corrupt gzip file ({err}); expected a "
                             f"complete gzip FASTA") from None
    return target


def _check_twobit(path: Path) -> None:
    """Raise InputFileError if a 2bit file is shorter than its records say (py2bit reads
    past the end of a truncated file without an error)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        data = fh.read(16)
        if len(data) < 16:
            raise InputFileError(f"{path}: truncated 2bit file (header incomplete)")
        version, count = struct.unpack("<II", data[4:12])
        offset_fmt = "<Q" if version == 1 else "<I"
        entries = []
        for _ in range(count):
            n = fh.read(1)
            name = fh.read(n[0] if n else 0)
            raw = fh.read(struct.calcsize(offset_fmt))
            if not n or len(raw) < struct.calcsize(offset_fmt):
                raise InputFileError(f"{path}: truncated 2bit file (sequence index incomplete)")
            entries.append((name.decode(errors="replace"), struct.unpack(offset_fmt, raw)[0]))
        for name, offset in entries:
            fh.seek(offset)
            head = fh.read(8)
            if len(head) < 8:
                raise InputFileError(f"{path}: truncated 2bit file (record {name!r} missing)")
            dna_size, n_blocks = struct.unpack("<II", head)
            fh.seek(offset + 8 + 8 * n_blocks)
            raw = fh.read(4)
            n_masks = struct.unpack("<I", raw)[0] if len(raw) == 4 else 0
            end = offset + 8 + 8 * n_blocks + 4 + 8 * n_masks + 4 + (dna_size + 3) // 4
            if len(raw) < 4 or end > size:
                raise InputFileError(f"{path}: truncated 2bit file: record {name!r} ends at byte "
                                     f"{end}, the file has {size}")


def _index_paths(fasta: Path, bgzf: bool) -> tuple[Path, Path | None]:
    """``.fai`` (and ``.gzi``) beside ``fasta`` when current or writable, else in the cache."""
    beside = Path(f"{fasta}.fai"), (Path(f"{fasta}.gzi") if bgzf else None)
    if _current(fasta, *beside) or os.access(fasta.resolve().parent, os.W_OK | os.X_OK):
        return beside
    return derived_path(fasta, ".fai"), (derived_path(fasta, ".gzi") if bgzf else None)


def _current(fasta: Path, fai: Path, gzi: Path | None) -> bool:
    """Whether ``fai`` (and ``gzi``) exist, are not older than ``fasta`` and describe it.

    An index newer than its FASTA may still be another file's: ``mv``, ``cp -p``, ``tar x``
    and ``rsync -t`` give a replaced FASTA its older mtime. So the index is also checked
    against the file (:func:`_record_in_place` on up to ``_FAI_SAMPLE`` records at each end
    of the index): a few small reads, whatever the genome's size.
    """
    mtime = fasta.stat().st_mtime
    if not all(p is None or (p.exists() and p.stat().st_mtime >= mtime) for p in (fai, gzi)):
        return False
    try:
        lines = fai.read_text().splitlines()
        sample = sorted({*range(min(_FAI_SAMPLE, len(lines))),
                         *range(max(0, len(lines) - _FAI_SAMPLE), len(lines))})
        with _uncompressed_reader(fasta, gzi) as read:
            return bool(lines) and all(_record_in_place(read, *_fai_record(lines[i]),
                                                        last=i == len(lines) - 1) for i in sample)
    except (OSError, ValueError, UnicodeDecodeError, EOFError, zlib.error, struct.error):
        return False


def _fai_record(line: str) -> tuple[str, int, int, int, int]:
    """Name, length, offset, bases per line and bytes per line of a ``.fai`` line."""
    name, length, offset, bases, width = line.split("\t")
    return name, int(length), int(offset), int(bases), int(width)


@contextlib.contextmanager
def _uncompressed_reader(fasta: Path, gzi: Path | None) -> Iterator[Callable[[int, int], bytes]]:
    """Yield ``read(offset, n)``: ``n`` bytes of the uncompressed FASTA from ``offset``.

    For a bgzip FASTA the blocks are found through its ``.gzi`` (an unknown block start or
    an offset past a block raises ValueError, as for a ``.gzi`` of another file).
    """
    if gzi is None:
        with open(fasta, "rb") as fh:
            def read(offset: int, n: int) -> bytes:
                fh.seek(offset)
                return fh.read(n)

            yield read
        return
    from Bio import bgzf

    raw = gzi.read_bytes()
    count = struct.unpack_from("<Q", raw)[0]
    blocks = [(0, 0)] + [struct.unpack_from("<QQ", raw, 8 + 16 * i) for i in range(count)]
    starts = [ustart for _, ustart in blocks]
    with bgzf.BgzfReader(str(fasta), "rb") as reader:
        def read(offset: int, n: int) -> bytes:
            cstart, ustart = blocks[bisect.bisect_right(starts, offset) - 1]
            reader.seek(bgzf.make_virtual_offset(cstart, offset - ustart))
            return reader.read(n)

        yield read


def _record_in_place(read: Callable[[int, int], bytes], name: str, length: int, offset: int,
                     bases: int, width: int, *, last: bool) -> bool:
    """Whether a ``.fai`` record matches the file read by ``read``.

    Checks that the line before ``offset`` is the header ``>name``; that the last base of
    the record's first line and its last base lie where the index says, each followed by
    a line end or the end of the file; and, for the index's last record, that no more than
    line ends follow it.
    """
    header = _line_before(read, offset)
    if not (header.startswith(b">") and header[1:].split()[:1] == [name.encode()]):
        return False
    end = offset  # just after the record's last base
    if length:
        if not (bases > 0 and 0 <= width - bases <= 2):
            return False
        for k in (min(bases, length) - 1, length - 1):
            end = offset + k // bases * width + k % bases + 1
            tail = read(end - 1, 3)
            if tail[:1] in (b"", b"\n", b"\r", b">") or (
                    tail[1:] and not tail[1:].startswith((b"\n", b"\r\n"))):
                return False
    rest = read(end, 64)
    return not last or (len(rest) < 64 and rest.strip(b"\r\n") == b"")


def _line_before(read: Callable[[int, int], bytes], offset: int) -> bytes:
    """The line that ends at the newline just before ``offset`` (without its line end);
    ``b""`` when there is no such newline or the line is longer than ``_HEADER_MAX``."""
    if offset < 1 or read(offset - 1, 1) != b"\n":
        return b""
    for size in (1 << 10, _HEADER_MAX):  # headers are short: one small read as a rule
        lo = max(0, offset - 1 - size)
        chunk = read(lo, offset - 1 - lo)
        newline = chunk.rfind(b"\n")
        if newline >= 0 or lo == 0:
            return chunk[newline + 1:].rstrip(b"\r")
    return b""


def _check_sequence_lines(fasta: Path, bgzf: bool, source: Path) -> None:
    """Raise InputFileError naming the line if a sequence line of ``fasta`` holds whitespace,
    or if a line ends in a carriage return alone (classic Mac OS line ends).

    pyfaidx counts whitespace as bases (a trailing space makes every later position
    wrong), and splits lines at LF only: a file with CR-only line ends became one record
    of length 0 holding the whole file, every other chromosome missing. Run once, when
    the index is built: a scan at C speed of the uncompressed file, a fraction of
    pyfaidx's own pass. Header lines (``>``) may hold whitespace, and the lines before the
    first header are skipped, as pyfaidx does.
    """
    line_no = 1  # the number of the line the chunk starts in
    line_head = b""  # first byte of the line the chunk starts in, if it began in an earlier chunk
    with (gzip.open(fasta, "rb") if bgzf else open(fasta, "rb")) as fh:
        chunk = fh.read(_SCAN_CHUNK)
        pos = 0 if chunk.startswith(b">") else chunk.find(b"\n>") + 1
        while chunk:
            lone_cr = _LONE_CR.search(chunk)
            if lone_cr and lone_cr.start() < len(chunk) - 1:  # a CR last may precede an LF
                line = line_no + chunk.count(b"\n", 0, lone_cr.start())
                raise InputFileError(
                    f"{source}:{line}: line ends in a carriage return alone ('\\r', classic "
                    f"Mac OS line ends); expected LF or CRLF line ends (convert with "
                    f"tr '\\r' '\\n')")
            if len(chunk.translate(None, b" \t\v\f")) < len(chunk):
                while found := _WHITESPACE.search(chunk, pos):
                    at = found.start()
                    start = chunk.rfind(b"\n", 0, at) + 1
                    if (line_head if start == 0 and line_head else chunk[start:start + 1]) != b">":
                        line = line_no + chunk.count(b"\n", 0, at)
                        raise InputFileError(
                            f"{source}:{line}: sequence line contains whitespace "
                            f"({found.group().decode()!r}); expected bases only — strip "
                            f"trailing spaces (e.g. sed 's/[[:space:]]*$//')")
                    pos = chunk.find(b"\n", at) + 1 or len(chunk)
            last = chunk.rfind(b"\n")
            line_head = chunk[last + 1:last + 2] if last >= 0 else line_head or chunk[:1]
            line_no += chunk.count(b"\n")
            chunk, pos = fh.read(_SCAN_CHUNK), 0


def _index_fasta(fasta: Path, fai: Path, gzi: Path | None, source: Path) -> None:
    """Build ``fai`` (and ``gzi``) unless current (:func:`_current`); racing processes wait on
    a lock held on ``fasta``. Sequence lines holding whitespace are an error. pyfaidx offers
    no progress hook: one INFO line says the index is being built (with the file's size),
    another the seconds it took; and a build longer than
    :data:`kerasgene._io.TEXT_BAR_DELAY_S` shows ``indexing NAME (SIZE, once) … 00:42`` on
    stderr (:func:`kerasgene._io.elapsed_bar`), whatever the log level."""
    if _current(fasta, fai, gzi):
        return
    with exclusive_lock(fasta, waiting=f"waiting for another process indexing {source.name}"):
        if _current(fasta, fai, gzi):
            return
        if fai.exists():
            log.info("%s: rebuilding the FASTA index %s: it does not describe the file as it "
                     "is now (changed or replaced since)", source, fai)
        log.info("%s: indexing the FASTA once (%.0f MB; pyfaidx reads every line, which takes "
                 "a while for a whole genome) into %s", source, fasta.stat().st_size / 1e6, fai)
        start = time.perf_counter()
        size = tqdm.format_sizeof(fasta.stat().st_size, "B")
        try:
            with elapsed_bar(f"indexing {source.name} ({size}, once)"):
                _check_sequence_lines(fasta, gzi is not None, source)
                with atomic_path(fai) as tmp_fai:
                    if gzi is None:
                        pyfaidx.Faidx(str(fasta), indexname=str(tmp_fai), rebuild=True).close()
                    else:
                        with atomic_path(gzi) as tmp_gzi:
                            pyfaidx.Faidx(str(fasta), indexname=str(tmp_fai),
                                          gzi_indexname=str(tmp_gzi), rebuild=True).close()
        except OSError as err:
            if err.errno is None:  # pyfaidx's UnsupportedCompressionFormat is an IOError
                raise InputFileError(f"{source}: not a valid FASTA file ({err})") from None
            raise InputFileError(f"{source}: cannot write FASTA index {fai} "
                                 f"({err.strerror})") from None
        except UnicodeDecodeError:
            raise InputFileError(f"{source}: not a valid FASTA file: holds non-text bytes; "
                                 f"expected {GENOME_FORMATS}") from None
        except _FASTA_ERRORS as err:
            raise InputFileError(f"{source}: not a valid FASTA file ({err})") from None
        log.info("%s: FASTA index %s written in %.1f s", source, fai, time.perf_counter() - start)


class _FastaReader:
    """pyfaidx behind the reader interface of :class:`Genome` (chroms, get, close)."""

    def __init__(self, fasta: Path, bgzf: bool, source: Path):
        fai, gzi = _index_paths(fasta, bgzf)
        _index_fasta(fasta, fai, gzi, source)
        try:
            self._fasta = pyfaidx.Fasta(
                str(fasta), indexname=str(fai), gzi_indexname=None if gzi is None else str(gzi),
                as_raw=True, sequence_always_upper=True, rebuild=False, build_index=False)
        except _FASTA_ERRORS as err:
            raise InputFileError(f"{source}: not a valid FASTA file ({err})") from None
        self.chroms = {name: len(record) for name, record in self._fasta.records.items()}
        self._fasta_path, self._gzi = fasta, gzi

    def get(self, name: str, lo: int, hi: int) -> str:
        try:
            return self._fasta[name][lo:hi]
        except ValueError:
            # pyfaidx 0.9.2 fails on a bgzip read starting at a block's first byte
            # ("within_block_offset < 2**16, got 65536"; blocks hold 64 KiB: one start in
            # 65,000, so most genome-scale builds met one). The read from the base before
            # starts 1 or 2 bytes earlier, inside the block before; a record whose first
            # base starts a block has its first base read through Bio.bgzf.
            if self._gzi is None or hi <= lo:
                raise
            if lo > 0:
                return self._fasta[name][lo - 1 : hi][1:]
            with _uncompressed_reader(self._fasta_path, self._gzi) as read:
                first = read(self._fasta.faidx.index[name].offset, 1).decode("ascii").upper()
            return first + self._fasta[name][1:hi]

    def close(self) -> None:
        self._fasta.close()


class _TwoBitReader:
    """py2bit behind the reader interface of :class:`Genome`."""

    def __init__(self, path: Path):
        _check_twobit(path)
        try:
            self._tb = py2bit.open(str(path))
        except RuntimeError:
            raise InputFileError(f"{path}: not a valid 2bit file (py2bit cannot open it)") from None
        self.chroms = dict(self._tb.chroms())

    def get(self, name: str, lo: int, hi: int) -> str:
        return self._tb.sequence(name, lo, hi).upper()

    def close(self) -> None:
        self._tb.close()


class Genome:
    """A genome file: FASTA (plain, gzip, bgzip) or 2bit (see the module docstring).

    Parameters
    ----------
    path
        Genome file; the format is recognised from its content.
    aliases
        Optional chromosome alias table (:class:`kerasgene.io.chroms.AliasTable` or the path
        of a UCSC ``chromAlias.txt`` / user table) used by :meth:`resolve` beside the
        built-in ``chr1``/``1`` and ``chrM``/``MT`` aliases.

    Attributes
    ----------
    chroms : dict[str, int]
        Chromosome name → length, in the file's order.
    format : str
        ``"fasta"``, ``"bgzf"``, ``"gzip"`` or ``"2bit"``.

    Examples
    --------
    >>> g = Genome("hg38.fa.gz")                      # doctest: +SKIP
    >>> g.fetch("chr1", 1_000_000, 1_000_010, "-")    # doctest: +SKIP
    'GGCTCACCTG'
    """

    def __init__(self, path: str | os.PathLike, aliases=None):
        self.path = check_readable(path, "genome file")
        self.format = sniff_genome(self.path)
        self.alias_table = _chroms.load_aliases(aliases)
        if self.format == "2bit":
            self._reader = _TwoBitReader(self.path)
        elif self.format == "gzip" or (
                self.format == "bgzf" and not self.path.name.lower().endswith((".gz", ".bgz"))):
            self._reader = _FastaReader(_bgzip_copy(self.path), True, self.path)
        else:
            self._reader = _FastaReader(self.path, self.format == "bgzf", self.path)
        self.chroms: dict[str, int] = self._reader.chroms
        self._aliases = _chroms.alias_map(self.chroms, self.alias_table)

    def resolve(self, chrom: str) -> str:
        """The genome's own name for ``chrom`` (``1`` finds ``chr1`` and vice versa; alias
        table names such as ``NC_000001.11`` too)."""
        return _chroms.resolve(chrom, self._aliases, str(self.path))

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """Sequence of ``[start, end)`` on ``chrom``, upper-case, 5'→3' on ``strand``.

        Parts of the window outside the chromosome are ``N``.
        """
        check_window(start, end, strand)
        name = self.resolve(chrom)
        length = self.chroms[name]
        lo, hi = max(start, 0), min(end, length)
        core = self._reader.get(name, lo, hi) if hi > lo else ""
        seq = "N" * (min(lo, end) - start) + core + "N" * (end - max(hi, start))
        return reverse_complement(seq) if strand == "-" else seq

    def close(self) -> None:
        """Close the underlying file handle."""
        self._reader.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
