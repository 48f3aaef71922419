"""DNA sequence: indexed FASTA access (pyfaidx), one-hot encoding and k-mer counts.

Coordinates are 0-based, half-open. Windows may run past either end of a chromosome
(a gene near a telomere); the part outside is padded with ``N``.
"""

from __future__ import annotations

import fcntl
import itertools
import os
from pathlib import Path

import numpy as np
import pyfaidx

from kerasgene import chroms as _chroms
from kerasgene.errors import InputFileError, InvalidRegionError

BASES = "ACGT"
_COMPLEMENT = str.maketrans(
    "ACGTRYMKBDHVNacgtrymkbdhvnSWsw", "TGCAYRKMVHDBNtgcayrkmvhdbnSWsw"
)


def check_readable(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise InputFileError if it cannot be read."""
    path = Path(path)
    try:
        if not path.exists():
            raise InputFileError(f"{path}: {what} not found")
        if path.is_dir():
            raise InputFileError(f"{path}: expected a {what}, found a directory")
        with open(path, "rb"):
            pass
    except PermissionError:
        raise InputFileError(f"{path}: {what} is not readable (permission denied)") from None
    return path


def check_window(start: int, end: int, strand: str = "+") -> None:
    """Raise InvalidRegionError unless ``start <= end`` and strand is ``+`` or ``-``."""
    if int(start) != start or int(end) != end:
        raise InvalidRegionError(f"window [{start}, {end}): start and end must be integers")
    if start > end:
        raise InvalidRegionError(f"window [{start}, {end}): start > end (negative length)")
    if strand not in ("+", "-"):
        raise InvalidRegionError(f"window [{start}, {end}): strand must be '+' or '-', got {strand!r}")


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string (IUPAC codes and case preserved)."""
    return seq.translate(_COMPLEMENT)[::-1]


def _index_fasta(path: Path) -> None:
    """Build ``path.fai`` once; a lock file makes racing processes wait for one builder."""
    fai = Path(str(path) + ".fai")
    if fai.exists() and fai.stat().st_mtime >= path.stat().st_mtime:
        return
    lock_path = Path(str(path) + ".fai.lock")
    try:
        lock = open(lock_path, "a")
    except OSError as err:
        raise InputFileError(f"{path}: cannot create FASTA index {fai} ({err.strerror})") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (fai.exists() and fai.stat().st_mtime >= path.stat().st_mtime):
            tmp = Path(f"{fai}.tmp-{os.getpid()}")
            try:
                pyfaidx.Faidx(str(path), indexname=str(tmp), rebuild=True).close()
                os.replace(tmp, fai)
            except (pyfaidx.FastaIndexingError, ValueError, UnicodeDecodeError) as err:
                tmp.unlink(missing_ok=True)
                raise InputFileError(f"{path}: not a valid FASTA file ({err})") from None
        fcntl.flock(lock, fcntl.LOCK_UN)


class Genome:
    """An indexed FASTA file.

    Parameters
    ----------
    path
        FASTA file (plain or bgzip). The ``.fai`` index is built beside it on first use.

    Examples
    --------
    >>> g = Genome("hg38.fa")                         # doctest: +SKIP
    >>> g.fetch("chr1", 1_000_000, 1_000_010, "-")    # doctest: +SKIP
    'GGCTCACCTG'
    """

    def __init__(self, path: str | os.PathLike):
        self.path = check_readable(path, "FASTA file")
        _index_fasta(self.path)
        try:
            self._fasta = pyfaidx.Fasta(
                str(self.path), as_raw=True, sequence_always_upper=True, rebuild=False
            )
        except (pyfaidx.FastaIndexingError, ValueError) as err:
            raise InputFileError(f"{self.path}: not a valid FASTA file ({err})") from None
        self.chroms: dict[str, int] = {
            name: len(record) for name, record in self._fasta.records.items()
        }
        self._aliases = _chroms.alias_map(self.chroms)

    def resolve(self, chrom: str) -> str:
        """The FASTA's own name for ``chrom`` (``1`` finds ``chr1`` and vice versa)."""
        return _chroms.resolve(chrom, self._aliases, str(self.path))

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        """Sequence of ``[start, end)`` on ``chrom``, upper-case, 5'→3' on ``strand``.

        Parts of the window outside the chromosome are ``N``.
        """
        check_window(start, end, strand)
        name = self.resolve(chrom)
        length = self.chroms[name]
        lo, hi = max(start, 0), min(end, length)
        core = self._fasta[name][lo:hi] if hi > lo else ""
        seq = "N" * (min(lo, end) - start) + core + "N" * (end - max(hi, start))
        return reverse_complement(seq) if strand == "-" else seq

    def close(self) -> None:
        """Close the underlying file handle."""
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _one_hot_table(n_value: float | np.ndarray, dtype) -> np.ndarray:
    table = np.empty((256, 4), dtype=dtype)
    table[:] = np.broadcast_to(np.asarray(n_value, dtype=dtype), (4,))
    for i, base in enumerate(BASES):
        for code in (ord(base), ord(base.lower())):
            table[code] = 0
            table[code, i] = 1
    return table


def one_hot(seq: str, n_value: float | np.ndarray = 0.0, dtype=np.float32) -> np.ndarray:
    """One-hot encode DNA through a 256-entry lookup table.

    Parameters
    ----------
    seq
        DNA string; case is ignored.
    n_value
        Row used for ``N`` and every other non-ACGT character: a scalar (0.0 or 0.25) or a
        length-4 vector such as DeepRAGE's ``[.31, .19, .19, .31]``.
    dtype
        Output dtype.

    Returns
    -------
    np.ndarray, shape (len(seq), 4)
        Columns A, C, G, T.
    """
    if np.ndim(n_value) not in (0, 1) or (np.ndim(n_value) == 1 and len(n_value) != 4):
        raise InvalidRegionError(f"one_hot: n_value must be a scalar or length-4, got {n_value!r}")
    codes = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    return _one_hot_table(n_value, dtype)[codes]


def kmer_names(k: int, alphabet: str = "ACGTN") -> list[str]:
    """All k-mers over ``alphabet`` in the row order of :func:`kmer_counts`."""
    return ["".join(p) for p in itertools.product(alphabet, repeat=k)]


def kmer_counts(seq: str, k: int, n_bins: int, alphabet: str = "ACGTN") -> np.ndarray:
    """Count k-mers in each of ``n_bins`` equal bins of ``seq`` (Team Jamaica inputs).

    A k-mer is counted in a bin when it lies wholly inside it. Characters outside
    ``alphabet`` count as its last letter (``N``); case is ignored.

    Returns
    -------
    np.ndarray of int32, shape (len(alphabet) ** k, n_bins)
        Rows in the order of :func:`kmer_names`.
    """
    if k < 1:
        raise InvalidRegionError(f"kmer_counts: k must be >= 1, got {k}")
    if n_bins < 1 or len(seq) % n_bins:
        raise InvalidRegionError(
            f"kmer_counts: sequence length {len(seq)} is not a multiple of n_bins={n_bins}"
        )
    bin_len = len(seq) // n_bins
    size = len(alphabet)
    lut = np.full(256, size - 1, dtype=np.int64)
    for i, letter in enumerate(alphabet):
        lut[ord(letter.upper())] = lut[ord(letter.lower())] = i
    codes = lut[np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)]
    codes = codes.reshape(n_bins, bin_len)
    n_pos = bin_len - k + 1
    counts = np.zeros((n_bins, size**k), dtype=np.int32)
    if n_pos <= 0:
        return counts.T
    ids = np.zeros((n_bins, n_pos), dtype=np.int64)
    for j in range(k):
        ids = ids * size + codes[:, j : j + n_pos]
    flat = ids + (np.arange(n_bins) * size**k)[:, None]
    counts.reshape(-1)[:] = np.bincount(flat.ravel(), minlength=n_bins * size**k)
    return counts.T.copy()
