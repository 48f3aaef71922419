"""DNA as arrays: base codes, one-hot encoding, reverse complements, motifs and scanning.

One home for what the readers, the simulator, the datasets and the analyses all need:

- base codes — ``uint8`` arrays, A 0, C 1, G 2, T 3, anything else 4 (``N``):
  :func:`encode`, :func:`decode`, :func:`revcomp_codes`;
- one-hot — (L, 4) over A, C, G, T through a 256-entry lookup table: :func:`one_hot`,
  and back: :func:`codes_from_one_hot`, :func:`decode_one_hot`;
- :func:`reverse_complement` of a string (IUPAC codes and case kept);
- k-mer counts per bin (:func:`kmer_counts`, the histone FCN's 3-mer inputs; of many
  sequences at once: :func:`kmer_ids`, :func:`binned_kmer_counts`);
- :class:`Motif` — a position frequency matrix (JASPAR counts) with its frequencies and
  log-odds matrix; :func:`shipped_motifs` — the JASPAR matrices shipped with kerasgene;
- :class:`Scanner` — exact integer log-odds scanning of a motif on both strands of code
  arrays, with score thresholds from the exact background score distribution
  (:func:`score_threshold`), the scanner of the simulator and of the motif knockout.
  FIMO (memelite) remains the scanner of the enrichment analysis
  (:mod:`kerasgene.explain.motifs`), as in the papers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from kerasgene.errors import InvalidRegionError

BASES = "ACGT"
#: Code of every non-ACGT character.
N_CODE = 4

_CODE_LUT = np.full(256, N_CODE, dtype=np.uint8)
for _i, _b in enumerate(BASES):
    _CODE_LUT[ord(_b)] = _CODE_LUT[ord(_b.lower())] = _i
_UPPER = np.frombuffer(b"ACGTN", dtype=np.uint8)
_LOWER = np.frombuffer(b"acgtN", dtype=np.uint8)
_COMPLEMENT = str.maketrans(
    "ACGTRYMKBDHVNacgtrymkbdhvnSWsw", "TGCAYRKMVHDBNtgcayrkmvhdbnSWsw"
)


# ----------------------------------------------------------------------------- codes, strings
def encode(seq: str) -> np.ndarray:
    """DNA string → uint8 codes of shape (L,) (A 0, C 1, G 2, T 3, anything else 4)."""
    return _CODE_LUT[np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)]


def decode(codes: np.ndarray, soft: np.ndarray | None = None) -> str:
    """uint8 codes (L,) → DNA string; ``soft`` (bool, (L,)) marks lower-case positions."""
    chars = _UPPER[codes] if soft is None else np.where(soft, _LOWER[codes], _UPPER[codes])
    return chars.tobytes().decode("ascii")


def revcomp_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of a code array (L,) (N stays N)."""
    out = codes[::-1].copy()
    acgt = out < N_CODE
    out[acgt] = 3 - out[acgt]
    return out


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string (IUPAC codes and case preserved)."""
    return seq.translate(_COMPLEMENT)[::-1]


# ----------------------------------------------------------------------------- one-hot
def _one_hot_table(n_value: float | np.ndarray, dtype) -> np.ndarray:
    table = np.empty((256, 4), dtype=dtype)
    table[:] = np.broadcast_to(np.asarray(n_value, dtype=dtype), (4,))
    for i, base in enumerate(BASES):
        for code in (ord(base), ord(base.lower())):
            table[code] = 0
            table[code, i] = 1
    return table


def one_hot(seq: str | bytes, n_value: float | np.ndarray = 0.0, dtype=np.float32) -> np.ndarray:
    """One-hot encode DNA through a 256-entry lookup table.

    Parameters
    ----------
    seq
        DNA string (or ASCII bytes); case is ignored.
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
    if isinstance(seq, bytes):
        seq = seq.decode("ascii", errors="replace")
    if not isinstance(seq, str):
        raise InvalidRegionError(f"one_hot: expected one DNA string, got {type(seq).__name__}; "
                                 "for several of one length: np.stack([one_hot(s) for s in "
                                 "seqs]) (n, L, 4)")
    codes = np.frombuffer(seq.encode("ascii", errors="replace"), dtype=np.uint8)
    return _one_hot_table(n_value, dtype)[codes]


def codes_from_one_hot(x: np.ndarray) -> np.ndarray:
    """(..., L, 4) one-hot (or soft) → uint8 codes (..., L); rows without a clear maximum
    (all zero, or uniform such as 0.25 / DeepRAGE's N row) become N (4)."""
    x = np.asarray(x, np.float32)
    idx = np.argmax(x, axis=-1)
    top = np.take_along_axis(x, idx[..., None], axis=-1)[..., 0]
    second = np.sort(x, axis=-1)[..., -2]
    codes = idx.astype(np.uint8)
    codes[(top <= 0) | (top - second < 1e-6)] = N_CODE
    return codes


def n_fraction(x: np.ndarray) -> float:
    """The fraction of positions of one-hot sequences ``x`` (..., length, 4) that are no
    base (``N`` or any other non-ACGT character: a row without a 1, whatever its
    ``n_value``); 0.0 for no positions."""
    x = np.asarray(x)
    if not x.size:
        return 0.0
    if x.shape[-1] == 4:  # the same as x.max(axis=-1), ~6x faster on a chunk of windows
        top = np.maximum(np.maximum(x[..., 0], x[..., 1]), np.maximum(x[..., 2], x[..., 3]))
    else:
        top = x.max(axis=-1)
    return float(np.mean(top < 1))


def decode_one_hot(x: np.ndarray) -> str:
    """(L, 4) one-hot (or soft) → string; rows without a clear maximum become ``N``."""
    return decode(codes_from_one_hot(x))


# ----------------------------------------------------------------------------- motifs
@dataclass(frozen=True, eq=False)
class Motif:
    """A position frequency matrix: ``counts`` (w, 4) over A, C, G, T (JASPAR counts)."""

    matrix_id: str
    name: str
    counts: np.ndarray
    tax_group: str = ""

    @property
    def width(self) -> int:
        return int(self.counts.shape[0])

    def probabilities(self, pseudocount: float | np.ndarray = 0.0) -> np.ndarray:
        """(w, 4) column frequencies of ``counts + pseudocount`` (a scalar per cell, or an
        array broadcast against (w, 4)); an all-zero column becomes uniform."""
        c = np.asarray(self.counts, np.float64) + pseudocount
        tot = c.sum(axis=1, keepdims=True)
        return np.where(tot > 0, c / np.where(tot > 0, tot, 1), 0.25)

    def log_odds(self, background: np.ndarray, pseudocount: float | np.ndarray = 0.0
                 ) -> np.ndarray:
        """(w, 4) log2-odds of :meth:`probabilities` against ``background`` (4,)."""
        return np.log2(self.probabilities(pseudocount) / np.asarray(background)[None, :])


def shipped_motifs() -> dict[str, Motif]:
    """The JASPAR matrices shipped with kerasgene (``data/jaspar_motifs.json``), by ID."""
    data = json.loads(resources.files("kerasgene").joinpath("data/jaspar_motifs.json")
                      .read_text())
    out = {}
    for m in data["motifs"]:
        counts = np.array([m["counts"][b] for b in BASES], dtype=np.float64).T
        out[m["matrix_id"]] = Motif(m["matrix_id"], m["name"], counts, m["tax_group"])
    return out


def shipped_jaspar_release() -> str:
    """JASPAR release of the shipped matrices."""
    text = resources.files("kerasgene").joinpath("data/jaspar_motifs.json").read_text()
    return json.loads(text)["release"]


# ----------------------------------------------------------------------------- scanning
def score_threshold(scores: np.ndarray, background: np.ndarray, p: float) -> int:
    """Smallest integer score ``t`` with P(score >= t) <= ``p`` for a background k-mer.

    ``scores`` is an integer scoring matrix (w, 4); the exact score distribution under
    i.i.d. ``background`` is computed by dynamic programming. Returns ``max + 1`` when even
    the best k-mer is more frequent than ``p``.
    """
    lo = int(scores.min(1).sum())
    hi = int(scores.max(1).sum())
    dist = np.ones(1)
    off = 0  # dist[k] = P(score = off + k)
    for row in scores:
        rmin = int(row.min())
        new = np.zeros(len(dist) + int(row.max()) - rmin)
        for b in range(4):
            k = int(row[b]) - rmin
            new[k : k + len(dist)] += background[b] * dist
        dist, off = new, off + rmin
    assert off == lo and off + len(dist) - 1 == hi
    tail = np.cumsum(dist[::-1])[::-1]  # tail[k] = P(score >= off + k)
    ok = np.flatnonzero(tail <= p)
    return off + int(ok[0]) if len(ok) else hi + 1


class Scanner:
    """Integer log-odds scanning of a motif on both strands of uint8 code arrays.

    Scores are ``round(100 · log2(p / background))`` summed over the site (centibits), so
    scanning is exact and platform-independent; a site containing N never scores (its
    score is below −10⁵). :meth:`threshold` converts a p-value into a score from the exact
    background score distribution.

    Parameters
    ----------
    motif
        The matrix.
    background
        (4,) base frequencies of the background (A, C, G, T).
    pseudocount
        Added to ``motif.counts`` before the frequencies (scalar or array broadcast
        against (w, 4)).
    """

    def __init__(self, motif: Motif, background: np.ndarray,
                 pseudocount: float | np.ndarray = 0.0):
        self.motif = motif
        self.background = np.asarray(background, dtype=np.float64)
        self.scores = np.round(100 * motif.log_odds(self.background, pseudocount)
                               ).astype(np.int64)
        self.width = self.scores.shape[0]
        self.min_score = int(self.scores.min(1).sum())
        self.max_score = int(self.scores.max(1).sum())
        fwd = np.vstack([self.scores.T, np.full(self.width, -10**6)]).astype(np.int32)
        rc = self.scores[::-1, ::-1]
        rev = np.vstack([rc.T, np.full(self.width, -10**6)]).astype(np.int32)
        self._tables = (fwd, rev)

    def threshold(self, p: float) -> int:
        """Smallest score reached by a background site with probability ≤ ``p``."""
        return score_threshold(self.scores, self.background, p)

    def strand_scores(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (+ strand, − strand) of the site starting at every position.

        Parameters
        ----------
        codes : uint8 (..., L)

        Returns
        -------
        two int32 arrays (..., L − w + 1)
        """
        w = self.width
        m = codes.shape[-1] - w + 1
        if m <= 0:
            shape = (*codes.shape[:-1], 0)
            return np.zeros(shape, np.int32), np.zeros(shape, np.int32)
        out = []
        for table in self._tables:
            sc = np.zeros((*codes.shape[:-1], m), dtype=np.int32)
            for j in range(w):
                sc += table[codes[..., j : j + m], j]
            out.append(sc)
        return out[0], out[1]

    def best(self, codes: np.ndarray) -> np.ndarray:
        """Best-strand score (..., L − w + 1) at every start position."""
        f, r = self.strand_scores(codes)
        return np.maximum(f, r)

    def relative(self, scores: np.ndarray) -> np.ndarray:
        """Scores as ``(s − min) / (max − min)`` in [0, 1] (sites with N below 0)."""
        return (scores - self.min_score) / max(self.max_score - self.min_score, 1)

    def describe(self) -> dict[str, Any]:
        """ID, name, width and the best score in bits."""
        return {"jaspar_id": self.motif.matrix_id, "name": self.motif.name,
                "width": self.width, "max_score_bits": self.max_score / 100}


# ----------------------------------------------------------------------------- k-mers
def kmer_names(k: int, alphabet: str = "ACGTN") -> list[str]:
    """All k-mers over ``alphabet`` in the row order of :func:`kmer_counts`."""
    return ["".join(p) for p in itertools.product(alphabet, repeat=k)]


def kmer_counts(seq: str, k: int, n_bins: int, alphabet: str = "ACGTN") -> np.ndarray:
    """Count k-mers in each of ``n_bins`` equal bins of ``seq`` (Team Jamaica inputs).

    A k-mer is counted in a bin when it lies wholly inside it. Characters outside
    ``alphabet`` count as its last letter (``N``); case is ignored. Many sequences of one
    length at once: :func:`kmer_ids` and :func:`binned_kmer_counts`.

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
    n_kmers = len(alphabet) ** k
    counts = binned_kmer_counts(kmer_ids([seq], k, n_bins, alphabet), np.arange(n_kmers),
                                n_kmers)
    return counts[0].T.astype(np.int32)


def kmer_ids(seqs: Sequence[str], k: int, n_bins: int, alphabet: str = "ACGTN") -> np.ndarray:
    """The k-mers lying wholly inside each of ``n_bins`` equal bins of each of ``seqs`` (of
    one length), as row numbers of :func:`kmer_names`: characters outside ``alphabet``
    count as its last letter (``N``), case is ignored — the k-mers that
    :func:`kmer_counts` counts, for all sequences at once.

    Returns
    -------
    np.ndarray, shape (len(seqs), n_bins, bin length - k + 1), of the smallest unsigned
    integer type that holds ``len(alphabet) ** k - 1`` (uint8 for 3-mers over ACGTN)
    """
    size = len(alphabet)
    dtype = np.min_scalar_type(size**k - 1)
    lut = np.full(256, size - 1, dtype=dtype)
    for i, letter in enumerate(alphabet):
        lut[ord(letter.upper())] = lut[ord(letter.lower())] = i
    raw = np.frombuffer("".join(seqs).encode("ascii", errors="replace"), dtype=np.uint8)
    bin_len = len(seqs[0]) // n_bins if len(seqs) else 0
    codes = lut[raw].reshape(len(seqs), n_bins, bin_len)
    n_pos = max(bin_len - k + 1, 0)
    ids = codes[:, :, :n_pos].copy()
    for j in range(1, k):
        ids *= dtype.type(size)  # at most size ** k - 1 at every step: no overflow
        ids += codes[:, :, j : j + n_pos]
    return ids


def binned_kmer_counts(ids: np.ndarray, keep: np.ndarray, n_kmers: int) -> np.ndarray:
    """Counts of the k-mers ``keep`` (row numbers of ``n_kmers``) in each bin of
    :func:`kmer_ids`' ``ids`` (n, n_bins, positions): int64 of shape (n, n_bins, len(keep)),
    equal to ``kmer_counts(seq, ...)[keep].T`` of each sequence. One bincount over (bin,
    kept k-mer) cells, the k-mers not kept in one extra cell per bin."""
    n, n_bins = ids.shape[:2]
    width = len(keep) + 1
    column = np.full(n_kmers, len(keep), dtype=np.int64)
    column[keep] = np.arange(len(keep))
    cells = column[ids]
    cells += (np.arange(n * n_bins, dtype=np.int64) * width).reshape(n, n_bins, 1)
    counts = np.bincount(cells.ravel(), minlength=n * n_bins * width)
    return counts.reshape(n, n_bins, width)[:, :, :-1]
