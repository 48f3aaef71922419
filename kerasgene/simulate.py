"""Planted-truth demo data: a simulated genome, tracks and expression for all four tasks.

:func:`simulate` writes **real files** (FASTA + ``.fai``, GTF, bigWig, TSV, CSV, NPZ) whose
content comes from a documented generative model, plus ``truth.json`` with everything
needed to judge what a trained model learned (noise-ceiling R², the positions and tracks
that carry signal, the JASPAR motifs planted where and driving which genes, the direction
of every effect). The files are then read by the ordinary pipeline exactly as a user's
files would be. The generative model of every set is documented in
``docs/simulated_data.md``; the short version is in each ``_simulate_*`` docstring.

What is real: the motif matrices (JASPAR 2026 CORE, shipped as package data in
``kerasgene/data/jaspar_motifs.json``, extracted from pyjaspar's offline database) and the
yeast regulator states of the DeepRAGE / MEDUSA data (``kerasgene/data/deeprage_yeast/``).
Everything else (sequence, tracks, expression) is simulated.

Coordinates are 0-based, half-open. A gene ``[start, end)`` on strand ``s`` has
``tss = start`` (``+``) or ``end - 1`` (``-``) and ``tts = end - 1`` (``+``) or ``start``
(``-``). An *oriented offset* ``o`` from an anchor ``a`` is the genomic base ``a + o`` on
``+`` and ``a - o`` on ``-``; the oriented window ``[o1, o2)`` is the genomic interval
``[a + o1, a + o2)`` on ``+`` and ``[a - o2 + 1, a - o1 + 1)`` on ``-`` (read reversed).

Determinism: every random draw comes from ``numpy.random.default_rng`` streams spawned from
``SeedSequence(seed)``; tables are written with fixed float formats, so the same seed
gives byte-identical tables and identical FASTA/bigWig content.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene.errors import ConfigError, InputFileError
from kerasgene.expression import read_names, unique_labels

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1.0.0"

ISEGNET_TRACKS = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")
HISTONE_MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")  # DeepChrome order
CHROMATIN_INPUTS = ("groseq_plus", "groseq_minus")
CHROMATIN_TARGETS = ("H3K4me3", "H3K27ac", "H3K27me3", "DNase")

#: Motif thresholds as background p-values per site and strand (see :class:`_Scanner`):
#: the background is purged of every site with P <= purge, a site with P <= call is an
#: instance, planted instances have P <= plant.
MOTIF_P = {"purge": 1e-3, "call": 1e-4, "plant": 1e-5}

#: Yeast regulators with planted motifs: (common name, ORF in reg_names_R.txt, JASPAR ID,
#: weight of state x motif in the log-fold change). Signs follow the literature role
#: (Mig1, Xbp1, Nrg1 repress; the others activate).
YEAST_REGULATORS = (
    ("MIG1", "YGL035C", "MA0337.2", -1.6),
    ("MSN2", "YMR037C", "MA0341.1", 1.4),
    ("MSN4", "YKL062W", "MA0342.1", 1.4),
    ("GCN4", "YEL009C", "MA0303.3", 1.6),
    ("XBP1", "YIL101C", "MA0414.2", -1.2),
    ("AFT1", "YGL071W", "MA0269.2", 1.3),
    ("YAP1", "YML007W", "MA0415.2", 1.5),
    ("NRG1", "YDR043C", "MA0347.3", -1.2),
    ("RPN4", "YDL020C", "MA0373.1", 1.3),
    ("INO4", "YOL108C", "MA0322.1", 1.2),
    ("PHO4", "YFR034C", "MA0357.1", 1.5),
    ("ZAP1", "YJL056C", "MA0440.1", 1.3),
)

#: Regulators whose presence is called with another regulator's matrix (same motif).
YEAST_CALLED_WITH = {"MSN4": "MA0341.1"}

#: Vertebrate motifs planted in the human-like promoters.
ISEGNET_MOTIFS = {"activator": "MA0018.5", "repressor": "MA0138.3"}  # CREB1, REST

#: iSEGnet window: TSS[-1000, +500) followed by TTS[-500, +500) = 2500 positions.
ISEGNET_WINDOW = (("TSS", -1000, 500), ("TTS", -500, 500))

#: Features of the iSEGnet expression function (anchor, oriented offsets [o1, o2)).
ISEGNET_FEATURES = (
    ("D", "DNase", "TSS", -300, 100),
    ("K4", "H3K4me3", "TSS", 100, 500),
    ("K36", "H3K36me3", "TTS", -500, 0),
    ("K27", "H3K27me3", "TSS", -1000, 500),
    ("Me", "WGBS", "TSS", -500, 200),
)
ISEGNET_MOTIF_REGIONS = {"activator": ("TSS", -300, -50), "repressor": ("TSS", 50, 450)}
ISEGNET_PARAMS = {
    "base": 2.0, "amplitude": 9.0, "open_center": 3.5, "open_scale": 1.25,
    "k4_scale": 10.0, "k36_scale": 4.5, "w_k4": 0.55, "w_k36": 0.35, "w_motif": 0.3,
    "half_saturation": 0.35, "k27_scale": 2.5, "me_center": 0.06, "me_scale": 0.012,
    "repressor_factor": 0.3,
}
ISEGNET_EPIMUTATION = 0.08

#: Histone-bins expression function: (name, mark, bins [b0, b1) 0-based, slope, centre);
#: f = base + amplitude · Π_k σ(slope_k · (log1p(mean(x[b0:b1, mark_k]) / depth) − centre_k)).
HISTONE_FEATURES = (
    ("P4", "H3K4me3", 47, 54, 3.0, 1.8),
    ("B36", "H3K36me3", 55, 100, 3.0, 1.0),
    ("R27", "H3K27me3", 30, 70, -3.0, 1.3),
    ("R9", "H3K9me3", 30, 70, -3.0, 1.3),
)
HISTONE_PARAMS = {"base": 0.5, "amplitude": 11.0}

CEILING_TARGETS = {"isegnet": 0.85, "deeprage": 0.80, "histone_fcn": 0.80}


@dataclass(frozen=True)
class Scale:
    """Sizes of one simulation scale."""

    chrom_sizes: tuple[int, ...]
    n_genes: int
    n_biosamples: int
    n_cells: int
    n_yeast_genes: int


SCALES = {
    "small": Scale((1_500_000, 1_300_000, 1_100_000, 900_000), 1200, 2, 4, 500),
    "medium": Scale((2_000_000, 1_600_000, 1_400_000, 1_200_000, 1_000_000, 800_000),
                    2000, 2, 6, 1000),
}


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

_CODE_LUT = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _CODE_LUT[ord(_b)] = _CODE_LUT[ord(_b.lower())] = _i
_UPPER = np.frombuffer(b"ACGTN", dtype=np.uint8)
_LOWER = np.frombuffer(b"acgtN", dtype=np.uint8)


def encode(seq: str) -> np.ndarray:
    """DNA string → uint8 codes (A0 C1 G2 T3, anything else 4)."""
    return _CODE_LUT[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def decode(codes: np.ndarray, soft: np.ndarray | None = None) -> str:
    """uint8 codes → DNA string; ``soft`` (bool) marks lower-case positions."""
    chars = _UPPER[codes] if soft is None else np.where(soft, _LOWER[codes], _UPPER[codes])
    return chars.tobytes().decode("ascii")


def revcomp_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of a code array (N stays N)."""
    out = codes[::-1].copy()
    acgt = out < 4
    out[acgt] = 3 - out[acgt]
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def r2_score(y: np.ndarray, f: np.ndarray) -> float:
    """Coefficient of determination of predictions ``f`` for observations ``y``."""
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    ss_res = float(np.sum((y - f) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


def oriented_interval(anchor: int, strand: str, o1: int, o2: int) -> tuple[int, int]:
    """Genomic ``[start, end)`` of the oriented window ``[o1, o2)`` around ``anchor``."""
    if strand == "+":
        return anchor + o1, anchor + o2
    return anchor - o2 + 1, anchor - o1 + 1


def _fmt(x: float, digits: int = 4) -> str:
    s = f"{x:.{digits}f}"
    return "0" if float(s) == 0 else s.rstrip("0").rstrip(".") if "." in s else s


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="\n") as fh:
        fh.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# motifs
# --------------------------------------------------------------------------------------


@dataclass
class Motif:
    """A JASPAR position frequency matrix with its log-odds scoring matrix."""

    matrix_id: str
    name: str
    tax_group: str
    counts: np.ndarray  # (w, 4) A, C, G, T

    @property
    def width(self) -> int:
        return self.counts.shape[0]

    def probabilities(self, pseudocount: float = 0.8) -> np.ndarray:
        """Column-normalised frequencies with ``pseudocount`` spread over the 4 bases."""
        c = self.counts + pseudocount * self.counts.sum(1, keepdims=True) / 100.0 / 4.0
        return c / c.sum(1, keepdims=True)

    def pwm(self, background: np.ndarray) -> np.ndarray:
        """Log2-odds matrix (w, 4) against ``background`` base frequencies."""
        return np.log2(self.probabilities() / background[None, :])


def load_motifs() -> dict[str, Motif]:
    """JASPAR matrices shipped with kerasgene, keyed by matrix ID."""
    text = resources.files("kerasgene").joinpath("data/jaspar_motifs.json").read_text()
    data = json.loads(text)
    out = {}
    for m in data["motifs"]:
        counts = np.array([m["counts"][b] for b in "ACGT"], dtype=np.float64).T
        out[m["matrix_id"]] = Motif(m["matrix_id"], m["name"], m["tax_group"], counts)
    return out


def jaspar_release() -> str:
    """JASPAR release of the shipped matrices."""
    text = resources.files("kerasgene").joinpath("data/jaspar_motifs.json").read_text()
    return json.loads(text)["release"]


def score_threshold(scores: np.ndarray, background: np.ndarray, p: float) -> int:
    """Smallest integer score ``t`` with P(score >= t) <= ``p`` for a background k-mer.

    ``scores`` is an integer scoring matrix (w, 4); the exact score distribution under
    i.i.d. ``background`` is computed by dynamic programming. Returns ``max + 1`` when even
    the best k-mer is more frequent than ``p``.
    """
    lo = int(scores.min(1).sum())
    hi = int(scores.max(1).sum())
    dist = np.zeros(1)
    dist[0] = 1.0
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


class _Scanner:
    """Integer log-odds scanning of a JASPAR matrix on both strands of uint8 code arrays.

    Scores are ``round(100 · log2(p / background))`` summed over the site (centibits), so
    scanning is exact and platform-independent. Three thresholds come from the exact
    background score distribution: ``purge`` (P ≤ MOTIF_P["purge"]; the background is
    cleaned of every site at or above it), ``call`` (P ≤ MOTIF_P["call"]; a site "is" an
    instance) and ``plant`` (P ≤ MOTIF_P["plant"]; every planted instance reaches it).
    Each is capped at the best score, and ``purge < call <= plant``.
    """

    def __init__(self, motif: Motif, background: np.ndarray):
        self.motif = motif
        self.background = np.asarray(background, dtype=np.float64)
        self.scores = np.round(100 * motif.pwm(self.background)).astype(np.int64)
        self.width = self.scores.shape[0]
        self.max_score = int(self.scores.max(1).sum())
        call = min(score_threshold(self.scores, self.background, MOTIF_P["call"]), self.max_score)
        plant = min(max(score_threshold(self.scores, self.background, MOTIF_P["plant"]), call), self.max_score)
        purge = min(score_threshold(self.scores, self.background, MOTIF_P["purge"]), call - 1)
        self.thresholds = {"purge": purge, "call": call, "plant": plant}
        fwd = np.vstack([self.scores.T, np.full(self.width, -10**6)]).astype(np.int32)
        rc = self.scores[::-1, ::-1]
        rev = np.vstack([rc.T, np.full(self.width, -10**6)]).astype(np.int32)
        self.tables = (fwd, rev)

    def describe(self) -> dict[str, Any]:
        """Thresholds in bits, for truth.json."""
        return {"jaspar_id": self.motif.matrix_id, "name": self.motif.name, "width": self.width,
                "max_score_bits": self.max_score / 100,
                **{f"{k}_bits": v / 100 for k, v in self.thresholds.items()}}

    def strand_scores(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (+ strand, − strand) of the site starting at every position (last axis)."""
        w = self.width
        m = codes.shape[-1] - w + 1
        if m <= 0:
            shape = (*codes.shape[:-1], 0)
            return np.zeros(shape, np.int32), np.zeros(shape, np.int32)
        out = []
        for table in self.tables:
            sc = np.zeros((*codes.shape[:-1], m), dtype=np.int32)
            for j in range(w):
                sc += table[codes[..., j : j + m], j]
            out.append(sc)
        return out[0], out[1]

    def best(self, codes: np.ndarray) -> np.ndarray:
        """Best-strand score at every start position."""
        f, r = self.strand_scores(codes)
        return np.maximum(f, r)

    def sample_instances(self, rng: np.random.Generator, n: int,
                         others: tuple[_Scanner, ...] = ()) -> np.ndarray:
        """``n`` instances drawn from the PFM, conditioned on scoring >= the plant threshold
        and on no narrower motif in ``others`` reaching its purge threshold inside them."""
        probs = self.motif.probabilities()
        cum = np.cumsum(probs, axis=1)
        pool: list[np.ndarray] = []
        have = 0
        for _ in range(200):
            u = rng.random((4096, self.width))
            seqs = np.minimum((u[:, :, None] > cum[None, :, :]).sum(2), 3).astype(np.uint8)
            ok = self.strand_scores(seqs)[0][:, 0] >= self.thresholds["plant"]
            for other in others:
                if other.width <= self.width:
                    ok &= other.best(seqs).max(1) < other.thresholds["purge"]
            good = seqs[ok]
            pool.append(good)
            have += len(good)
            if have >= n:
                break
        pool_arr = np.concatenate(pool)
        if len(pool_arr) == 0:  # pragma: no cover - every shipped PFM reaches the bar
            pool_arr = probs.argmax(1).astype(np.uint8)[None, :]
        return pool_arr[rng.integers(0, len(pool_arr), size=n)]


def _scoring_doc(background: np.ndarray) -> dict[str, Any]:
    return {
        "score": ("sum over the site of round(100 * log2(p / background)) / 100 bits, p = JASPAR counts "
                  "+ 0.8 % pseudocount spread over the bases, column-normalised"),
        "background": {b: float(v) for b, v in zip("ACGT", background)},
        "p_values": dict(MOTIF_P),
        "rule": "purge: background has no site >= purge; call: a site >= call on either strand is an instance; plant: planted instances score >= plant",
    }


def _purge(codes: np.ndarray, scanners: list[_Scanner], rng: np.random.Generator,
           protect: np.ndarray | None = None, max_rounds: int = 200) -> int:
    """Mutate ``codes`` (1-D, in place) until no site of any scanner reaches its purge
    threshold, except sites that cannot be broken without touching ``protect``.

    Each round rescans only the neighbourhood of the previous round's mutations.
    ``protect`` (bool, same length) marks positions that must not change. Returns the
    number of mutations made.
    """
    n_mut = 0
    wmax = max(s.width for s in scanners)
    regions: np.ndarray | None = None  # None = scan everything
    attempts: dict[tuple[int, int], int] = {}
    for _ in range(max_rounds):
        starts: list[np.ndarray] = []
        for sc in scanners:
            thr = sc.thresholds["purge"]
            if regions is None:
                starts.append(np.flatnonzero(sc.best(codes) >= thr))
            else:
                idx = np.clip(regions[:, None] + np.arange(2 * wmax)[None, :], 0, len(codes) - 1)
                rr, cc = np.nonzero(sc.best(codes[idx]) >= thr)
                starts.append(np.unique(regions[rr] + cc))
        changed = []
        for k, (sc, st) in enumerate(zip(scanners, starts)):
            for p in st:
                key = (k, int(p))
                attempts[key] = attempts.get(key, 0) + 1
                if attempts[key] > 12:  # cannot be broken without touching a planted site
                    continue
                cand = int(p) + rng.permutation(sc.width)
                if protect is not None:
                    cand = cand[~protect[cand]]
                if len(cand) == 0:  # wholly inside a planted site: tolerated
                    continue
                q = int(cand[0])
                codes[q] = (codes[q] + rng.integers(1, 4)) % 4
                changed.append(q)
                n_mut += 1
        if not changed:
            return n_mut
        ch = np.unique(np.array(changed))
        regions = np.maximum(ch - wmax, 0)
    raise RuntimeError("motif purge did not converge")  # pragma: no cover


# --------------------------------------------------------------------------------------
# genome
# --------------------------------------------------------------------------------------


@dataclass
class Gene:
    """A simulated gene (0-based half-open)."""

    gene_id: str
    index: int
    chrom: str
    start: int
    end: int
    strand: str
    exons: list[tuple[int, int]]

    @property
    def tss(self) -> int:
        return self.start if self.strand == "+" else self.end - 1

    @property
    def tts(self) -> int:
        return self.end - 1 if self.strand == "+" else self.start

    @property
    def length(self) -> int:
        return self.end - self.start

    def interval(self, anchor: str, o1: int, o2: int) -> tuple[int, int]:
        a = self.tss if anchor == "TSS" else self.tts
        return oriented_interval(a, self.strand, o1, o2)


@dataclass
class Genome:
    """The simulated human-like genome."""

    chroms: dict[str, int]
    codes: dict[str, np.ndarray]
    soft: dict[str, np.ndarray]
    n_runs: list[tuple[str, int, int]]
    genes: list[Gene]
    cgi: np.ndarray  # bool per gene: CpG-island promoter


HUMAN_GC = 0.40  # before CpG islands and CpG depletion; the genome ends near 41-42 %
HUMAN_BG = np.array([0.295, 0.205, 0.205, 0.295])
YEAST_BG = np.array([0.31, 0.19, 0.19, 0.31])


def _random_codes(rng: np.random.Generator, n: int, gc: float) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return np.searchsorted(np.cumsum(p)[:-1], rng.random(n), side="right").astype(np.uint8)


def _make_genome(rng: np.random.Generator, scale: Scale) -> Genome:
    """Chromosomes chr1.. with GC ≈ 41 %, CpG depletion, CpG-island promoters, soft-masked
    repeats, internal N runs and protein-coding genes on both strands (some within 5 kb of
    a chromosome end)."""
    names = [f"chr{i + 1}" for i in range(len(scale.chrom_sizes))]
    chroms = dict(zip(names, scale.chrom_sizes))
    total = sum(scale.chrom_sizes)
    codes, soft, n_runs, genes = {}, {}, [], []
    gid = 0
    for ci, (chrom, length) in enumerate(chroms.items()):
        seq = _random_codes(rng, length, HUMAN_GC)
        # N runs: 1-2 internal gaps
        runs = []
        for _ in range(int(rng.integers(1, 3))):
            rlen = int(rng.integers(3_000, 10_000))
            rs = int(rng.integers(length // 5, 4 * length // 5 - rlen))
            if all(rs > e + 5_000 or rs + rlen + 5_000 < s for s, e in runs):
                runs.append((rs, rs + rlen))
        runs.sort()
        # genes
        n = max(2, round(scale.n_genes * length / total))
        lengths = np.clip(np.exp(rng.normal(np.log(2_800), 0.55, n)), 1_300, 15_000).astype(int)
        blocked = sum(e - s + 6_000 for s, e in runs)
        min_gap = 400
        avail = length - blocked - 3_000 - n * min_gap
        if lengths.sum() > 0.7 * avail:  # too dense for this draw: shrink the genes to fit
            lengths = np.maximum((lengths * (0.7 * avail / lengths.sum())).astype(int), 1_300)
        while lengths.sum() > 0.85 * (length - blocked - 3_000 - n * min_gap):
            n -= 1
            lengths = lengths[:n]
        free = length - lengths.sum() - blocked - 3_000
        gaps = min_gap + rng.dirichlet(np.ones(n + 1)) * (free - n * min_gap)
        cursor = int(gaps[0]) if ci != 0 else 1_500
        placed = []
        for k in range(n):
            glen = int(lengths[k])
            for rs, re_ in runs:
                if cursor < re_ + 3_000 and cursor + glen > rs - 3_000:
                    cursor = re_ + 3_000
            if cursor + glen > length - 1_000:
                break
            placed.append((cursor, cursor + glen))
            cursor += glen + int(gaps[k + 1])
        strands = np.where(rng.random(len(placed)) < 0.5, "+", "-")
        if ci == 0:
            strands[0] = "+"  # TSS 1.5 kb from the start of chr1
        if ci == 1 and placed:  # a minus-strand gene whose TSS is 1.5 kb from the end of chr2
            s0, e0 = placed[-1]
            glen = e0 - s0
            placed[-1] = (length - 1_500 - glen, length - 1_500)
            strands[-1] = "-"
        for (gs, ge), strand in zip(placed, strands):
            exons = _exons(rng, gs, ge)
            genes.append(Gene(f"SIMG{gid + 1:06d}", gid + 1, chrom, gs, ge, str(strand), exons))
            gid += 1
        for rs, re_ in runs:
            seq[rs:re_] = 4
            n_runs.append((chrom, rs, re_))
        codes[chrom] = seq
        # soft-masked "repeats": ~12 % of the sequence in 150-3000 bp stretches
        mask = np.zeros(length, dtype=bool)
        covered = 0
        while covered < 0.12 * length:
            rl = int(rng.integers(150, 3_000))
            rs = int(rng.integers(0, length - rl))
            mask[rs : rs + rl] = True
            covered += rl
        soft[chrom] = mask
    # CpG-island promoters for ~60 % of genes; CpG depletion elsewhere
    cgi = rng.random(len(genes)) < 0.6
    island: dict[str, np.ndarray] = {c: np.zeros(n, dtype=bool) for c, n in chroms.items()}
    for g, is_cgi in zip(genes, cgi):
        if is_cgi:
            s, e = g.interval("TSS", -800, 600)
            s, e = max(s, 0), min(e, chroms[g.chrom])
            codes[g.chrom][s:e] = _random_codes(rng, e - s, 0.65)
            island[g.chrom][s:e] = True
    for chrom, seq in codes.items():
        cg = np.flatnonzero((seq[:-1] == 1) & (seq[1:] == 2))
        cg = cg[~island[chrom][cg]]
        hit = cg[rng.random(len(cg)) < 0.78]
        to_t = rng.random(len(hit)) < 0.5
        seq[hit[to_t]] = 3  # C -> T
        seq[hit[~to_t] + 1] = 0  # G -> A on the same strand (C -> T on the other)
        for s, e in [(s, e) for c, s, e in n_runs if c == chrom]:
            seq[s:e] = 4
    return Genome(chroms, codes, soft, n_runs, genes, cgi)


def _exons(rng: np.random.Generator, start: int, end: int) -> list[tuple[int, int]]:
    length = end - start
    k = int(rng.integers(1, min(7, max(2, length // 400))))
    if k == 1:
        return [(start, end)]
    cuts = np.sort(rng.choice(np.arange(start + 100, end - 100), size=2 * (k - 1), replace=False))
    bounds = [start, *cuts.tolist(), end]
    return [(int(bounds[2 * i]), int(bounds[2 * i + 1])) for i in range(k)
            if bounds[2 * i + 1] > bounds[2 * i]]


def _write_fasta(path: Path, records: list[tuple[str, str]], width: int = 60) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="\n") as fh:
        for name, seq in records:
            fh.write(f">{name}\n")
            fh.write("\n".join(seq[i : i + width] for i in range(0, len(seq), width)))
            fh.write("\n")
    os.replace(tmp, path)
    import pyfaidx

    fai = Path(str(path) + ".fai")
    fai.unlink(missing_ok=True)
    pyfaidx.Faidx(str(path), rebuild=True).close()


def _write_gtf(path: Path, genes: list[Gene]) -> None:
    lines = ["##description: kerasgene simulated protein-coding genes (planted-truth demo)",
             "##provider: kerasgene.simulate", "##format: gtf"]
    for g in genes:
        tid = g.gene_id.replace("SIMG", "SIMT")
        name = f"SIM{g.index}"
        gattr = f'gene_id "{g.gene_id}"; gene_name "{name}"; gene_type "protein_coding";'
        tattr = gattr + f' transcript_id "{tid}"; transcript_type "protein_coding";'
        lines.append(f"{g.chrom}\tkerasgene_sim\tgene\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t{gattr}")
        lines.append(f"{g.chrom}\tkerasgene_sim\ttranscript\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t{tattr}")
        exons = g.exons if g.strand == "+" else g.exons[::-1]
        for k, (s, e) in enumerate(exons):
            lines.append(f"{g.chrom}\tkerasgene_sim\texon\t{s + 1}\t{e}\t.\t{g.strand}\t.\t"
                         f"{tattr} exon_number {k + 1};")
    _write_text(path, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------
# bigWig writing and binned arrays
# --------------------------------------------------------------------------------------


def _write_bigwig_binned(path: Path, chroms: dict[str, int], binned: dict[str, np.ndarray],
                         bin_size: int) -> None:
    """Write per-bin values as bedGraph-like runs (equal neighbours merged, zeros omitted)."""
    import pyBigWig

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    bw = pyBigWig.open(str(tmp), "w")
    bw.addHeader(list(chroms.items()), maxZooms=6)
    for chrom, length in chroms.items():
        v = np.asarray(binned[chrom], dtype=np.float32)
        change = np.flatnonzero(np.diff(v) != 0) + 1
        rstart = np.concatenate([[0], change])
        rend = np.concatenate([change, [len(v)]])
        vals = v[rstart]
        keep = vals != 0
        if not keep.any():
            continue
        starts = (rstart[keep] * bin_size).astype(np.int64)
        ends = np.minimum(rend[keep] * bin_size, length).astype(np.int64)
        bw.addEntries([chrom] * int(keep.sum()), starts, ends=ends, values=vals[keep].astype(np.float64))
    bw.close()
    os.replace(tmp, path)


def _write_bigwig_sites(path: Path, chroms: dict[str, int], sites: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write single-base entries (WGBS: percent methylation at CpG positions)."""
    import pyBigWig

    tmp = path.with_name(path.name + ".tmp")
    bw = pyBigWig.open(str(tmp), "w")
    bw.addHeader(list(chroms.items()), maxZooms=6)
    for chrom in chroms:
        pos, val = sites[chrom]
        if len(pos) == 0:
            continue
        pos = pos.astype(np.int64)
        bw.addEntries([chrom] * len(pos), pos, ends=pos + 1, values=val.astype(np.float64))
    bw.close()
    os.replace(tmp, path)


def _bin_prefix(v: np.ndarray, bin_size: int, length: int):
    """Return P(x) = sum of per-base values over [0, x) for a binned track."""
    v = np.asarray(v, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(v * bin_size)])

    def prefix(x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x), 0, length)
        k = np.minimum(x // bin_size, len(v) - 1)
        return cum[k] + (x - k * bin_size) * v[k]

    return prefix


def _window_means(prefix, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return (prefix(ends) - prefix(starts)) / (ends - starts)


def _gauss(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sd) ** 2)


# --------------------------------------------------------------------------------------
# iSEGnet set
# --------------------------------------------------------------------------------------

ISEGNET_STATES = ("active", "poised", "heterochromatin", "off")


def _isegnet_latent(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    state = rng.choice(4, size=n, p=[0.62, 0.13, 0.12, 0.13])
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    active, poised, het = state == 0, state == 1, state == 2
    lat = {
        "state": state,
        "aD": np.where(active, u(0.05, 1.0), np.where(poised, u(0.0, 0.25), u(0.0, 0.08))),
        "aK36": np.where(active, u(0.05, 1.0), np.where(poised, u(0.0, 0.1), 0.0)),
        "aK27": np.where(poised, u(0.45, 1.0), np.where(active & (rng.random(n) < 0.3), u(0.0, 0.35), 0.0)),
        "aK9": np.where(het, u(0.5, 1.0), 0.0),
        "aUp": np.where(rng.random(n) < 0.5, u(0.0, 1.0), 0.0),
        "aK4me1": np.where(active | poised, u(0.1, 1.0), u(0.0, 0.2)),
    }
    lat["aK4"] = np.where(active, np.clip(0.5 * lat["aD"] + 0.5 * u(0.0, 1.0), 0, 1),
                          np.where(poised, u(0.0, 0.3), 0.0))
    lat["activity"] = np.where(active, lat["aK4"], 0.0)
    # epimutation: a few active genes carry a methylated CpG island (silenced by the function)
    lat["meth_island"] = active & (rng.random(n) < ISEGNET_EPIMUTATION)
    return lat


def _isegnet_tracks(rng: np.random.Generator, genome: Genome, lat: dict[str, np.ndarray],
                    bin_size: int = 20) -> dict[str, dict[str, np.ndarray]]:
    """Binned −log10 p tracks (20 bp) for one replicate: background + gene shapes + decoys."""
    jitter = {k: np.exp(rng.normal(0, 0.08, len(genome.genes)))
              for k in ("aD", "aK4", "aK36", "aK27", "aK9", "aUp", "aK4me1")}
    tracks: dict[str, dict[str, np.ndarray]] = {t: {} for t in ISEGNET_TRACKS[:-1]}
    for chrom, length in genome.chroms.items():
        nb = -(-length // bin_size)
        centers = np.arange(nb) * bin_size + bin_size / 2
        for t in tracks:
            bg = rng.exponential(0.35, nb) * (rng.random(nb) < 0.5)
            tracks[t][chrom] = bg
        # genome-wide decoys: enhancers (DNase + H3K4me1), heterochromatin and polycomb domains
        for _ in range(int(length / 15_000)):
            p = rng.uniform(0, length)
            sl = slice(max(0, int((p - 2_000) // bin_size)), min(nb, int((p + 2_000) // bin_size)))
            tracks["DNase"][chrom][sl] += rng.uniform(2, 10) * _gauss(centers[sl], p, 120)
            tracks["H3K4me1"][chrom][sl] += rng.uniform(1, 5) * _gauss(centers[sl], p, 500)
        for mark, per, lo, hi in (("H3K9me3", 200_000, 20_000, 80_000), ("H3K27me3", 150_000, 5_000, 30_000)):
            for _ in range(max(1, int(length / per))):
                p = rng.uniform(0, length)
                half = rng.uniform(lo, hi) / 2
                sl = slice(max(0, int((p - half) // bin_size)), min(nb, int((p + half) // bin_size)))
                tracks[mark][chrom][sl] += rng.uniform(1.5, 5)
    for i, g in enumerate(genome.genes):
        nb = -(-genome.chroms[g.chrom] // bin_size)
        lo = max(0, (min(g.start, g.end) - 7_000) // bin_size)
        hi = min(nb, (max(g.start, g.end) + 7_000) // bin_size + 1)
        centers = np.arange(lo, hi) * bin_size + bin_size / 2
        o = (centers - g.tss) if g.strand == "+" else (g.tss - centers)  # oriented offset
        a = {k: lat[k][i] * jitter[k][i] for k in jitter}
        sl = slice(lo, hi)
        tracks["DNase"][g.chrom][sl] += 12 * a["aD"] * _gauss(o, -100, 120)
        tracks["H3K4me3"][g.chrom][sl] += 14 * a["aK4"] * _gauss(o, 300, 250) + 8 * a["aUp"] * _gauss(o, -700, 200)
        tracks["H3K4me1"][g.chrom][sl] += 5 * a["aK4me1"] * (_gauss(o, -1500, 400) + _gauss(o, 1600, 400))
        L = g.length
        ramp = np.where((o >= 0) & (o < L), 0.3 + 0.7 * np.clip(o / L, 0, 1), 0.0)
        ramp += np.where(o >= L, np.exp(-(o - L) / 200.0), 0.0)
        tracks["H3K36me3"][g.chrom][sl] += 5 * a["aK36"] * ramp
        dom27 = sigmoid((o + 4_000) / 300) * sigmoid((L + 2_000 - o) / 300)
        tracks["H3K27me3"][g.chrom][sl] += 7 * a["aK27"] * dom27
        dom9 = sigmoid((o + 6_000) / 300) * sigmoid((L + 4_000 - o) / 300)
        tracks["H3K9me3"][g.chrom][sl] += 7 * a["aK9"] * dom9
    for t in tracks:
        for chrom in tracks[t]:
            v = np.round(np.maximum(tracks[t][chrom], 0), 2).astype(np.float32)
            for c2, s, e in genome.n_runs:
                if c2 == chrom:
                    v[s // bin_size : -(-e // bin_size)] = 0
            tracks[t][chrom] = v
    return tracks


def _isegnet_methylation(rng: np.random.Generator, genome: Genome, lat: dict[str, np.ndarray],
                         base_beta: dict[str, np.ndarray] | None):
    """Percent methylation at both bases of every CpG; 4 % of sites missing (not written)."""
    cpg_pos = {}
    for chrom, seq in genome.codes.items():
        pos = np.flatnonzero((seq[:-1] == 1) & (seq[1:] == 2))
        cpg_pos[chrom] = pos
    if base_beta is None:  # latent per-CpG methylation shared by replicates
        base_beta = {}
        for chrom, pos in cpg_pos.items():
            b = rng.beta(8, 2, len(pos))
            base_beta[chrom] = b
        for i, g in enumerate(genome.genes):
            if not genome.cgi[i]:
                continue
            s, e = g.interval("TSS", -800, 600)
            pos = cpg_pos[g.chrom]
            k0, k1 = np.searchsorted(pos, [s, e])
            if lat["state"][i] in (0, 1) and not lat["meth_island"][i]:  # unmethylated island
                base_beta[g.chrom][k0:k1] = rng.beta(1, 15, k1 - k0)
    sites = {}
    for chrom, pos in cpg_pos.items():
        beta = np.clip(base_beta[chrom] + rng.normal(0, 0.04, len(pos)), 0, 1)
        keep = rng.random(len(pos)) >= 0.04
        p = pos[keep]
        pct = np.round(beta[keep] * 100, 1)
        allp = np.concatenate([p, p + 1])
        allv = np.concatenate([pct, pct])
        order = np.argsort(allp, kind="stable")
        sites[chrom] = (allp[order], allv[order].astype(np.float32))
    return sites, base_beta


def _plant_motifs(rng: np.random.Generator, genome: Genome, motifs: dict[str, Motif]):
    """Purge the iSEGnet windows of chance motif sites, plant CREB1 / REST instances, and
    return every called instance (after planting) with its genomic position."""
    scanners = {role: _Scanner(motifs[mid], HUMAN_BG) for role, mid in ISEGNET_MOTIFS.items()}
    pad = 30
    intervals: dict[str, list[tuple[int, int]]] = {c: [] for c in genome.chroms}
    for g in genome.genes:
        for anchor, o1, o2 in ISEGNET_WINDOW:
            s, e = g.interval(anchor, o1, o2)
            intervals[g.chrom].append((max(0, s - pad), min(genome.chroms[g.chrom], e + pad)))
    merged: list[tuple[str, int, int]] = []
    for chrom, ivs in intervals.items():
        for s, e in sorted(ivs):
            if merged and merged[-1][0] == chrom and s <= merged[-1][2]:
                merged[-1] = (chrom, merged[-1][1], max(merged[-1][2], e))
            else:
                merged.append((chrom, s, e))
    sep = np.full(pad, 4, dtype=np.uint8)

    def gather():
        parts, offs = [], []
        off = 0
        for chrom, s, e in merged:
            offs.append(off)
            parts.extend([genome.codes[chrom][s:e], sep])
            off += e - s + pad
        return np.concatenate(parts), offs

    def scatter(cat, offs):
        for (chrom, s, e), off in zip(merged, offs):
            genome.codes[chrom][s:e] = cat[off : off + e - s]

    cat, offs = gather()
    n_purged = _purge(cat, list(scanners.values()), rng)
    scatter(cat, offs)

    # plant
    occupied: dict[str, np.ndarray] = {c: np.zeros(n, dtype=bool) for c, n in genome.chroms.items()}
    plans = {  # role: (probability, region list, counts p)
        "activator": [(0.45, "effective"), (0.30, "decoy")],
        "repressor": [(0.22, "effective"), (0.15, "decoy")],
    }
    decoy_regions = {"activator": [("TSS", -1000, -450), ("TTS", -500, 500)],
                     "repressor": [("TSS", -1000, -400), ("TTS", -500, 500)]}
    planted: list[dict[str, Any]] = []
    for role, sc in scanners.items():
        pool = sc.sample_instances(rng, 4 * len(genome.genes))
        k = 0
        for g in genome.genes:
            for prob, kind in plans[role]:
                if rng.random() >= prob:
                    continue
                n_inst = 1 if (kind == "decoy" or rng.random() < 0.65) else 2
                regs = [ISEGNET_MOTIF_REGIONS[role]] if kind == "effective" else decoy_regions[role]
                for _ in range(n_inst):
                    anchor, o1, o2 = regs[int(rng.integers(0, len(regs)))]
                    s, e = g.interval(anchor, o1 + 5, o2 - 5)
                    s, e = max(s, 0), min(e, genome.chroms[g.chrom])
                    for _try in range(20):
                        if e - s <= sc.width:
                            break
                        p = int(rng.integers(s, e - sc.width + 1))
                        if occupied[g.chrom][p : p + sc.width].any() or (genome.codes[g.chrom][p : p + sc.width] == 4).any():
                            continue
                        inst = pool[k % len(pool)]
                        k += 1
                        if rng.random() < 0.5:
                            inst = revcomp_codes(inst)
                        genome.codes[g.chrom][p : p + sc.width] = inst
                        occupied[g.chrom][p - 1 : p + sc.width + 1] = True
                        planted.append({"role": role, "chrom": g.chrom, "start": p, "gene": g.gene_id})
                        break
    # re-purge background that planting may have disturbed, protecting planted bases
    cat, offs = gather()
    protect = np.concatenate([np.concatenate([occupied[c][s:e], np.ones(pad, bool)]) for c, s, e in merged])
    _purge(cat, list(scanners.values()), rng, protect=protect)
    scatter(cat, offs)
    # final calls
    cat, offs = gather()
    calls: dict[str, list[tuple[str, int, str, float]]] = {}
    ambiguous = 0
    for role, sc in scanners.items():
        f, r = sc.strand_scores(cat)
        best = np.maximum(f, r)
        thr = sc.thresholds
        ambiguous += int(((best >= thr["purge"]) & (best < thr["call"])).sum())
        lst = []
        for pos in np.flatnonzero(best >= thr["call"]):
            j = int(np.searchsorted(offs, pos, side="right") - 1)
            chrom, s, _e = merged[j]
            strand = "+" if f[pos] >= r[pos] else "-"
            lst.append((chrom, s + int(pos - offs[j]), strand, float(best[pos]) / 100))
        calls[role] = lst
    return calls, planted, n_purged, ambiguous, scanners


def _isegnet_motif_table(genome: Genome, calls, scanners):
    """Per gene and role: every called instance inside the gene's iSEGnet window, with its
    oriented window position and whether it lies in the role's effective region."""
    by_chrom: dict[tuple[str, str], np.ndarray] = {}
    for role, lst in calls.items():
        for chrom in genome.chroms:
            by_chrom[(role, chrom)] = np.array(sorted(p for c, p, _s, _v in lst if c == chrom), dtype=np.int64)
    info = {(role, c, p): (st, v) for role, lst in calls.items() for c, p, st, v in lst}
    counts = {role: np.zeros(len(genome.genes), dtype=np.int64) for role in calls}
    instances: dict[str, list[dict[str, Any]]] = {}
    for i, g in enumerate(genome.genes):
        rows = []
        for role in calls:
            w = scanners[role].width
            pos = by_chrom[(role, g.chrom)]
            eff = g.interval(*ISEGNET_MOTIF_REGIONS[role])
            for wi, (anchor, o1, o2) in enumerate(ISEGNET_WINDOW):
                s, e = g.interval(anchor, o1, o2)
                k0, k1 = np.searchsorted(pos, [s, e - w + 1])
                for p in pos[k0:k1]:
                    p = int(p)
                    st, score = info[(role, g.chrom, p)]
                    # oriented window index of the instance's first base (5'→3' of the gene)
                    widx = p - s if g.strand == "+" else e - (p + w)
                    widx += 0 if wi == 0 else 1500
                    effective = wi == 0 and eff[0] <= p and p + w <= eff[1]
                    counts[role][i] += int(effective)
                    rows.append({
                        "role": role, "jaspar_id": scanners[role].motif.matrix_id,
                        "motif": scanners[role].motif.name, "chrom": g.chrom, "start": p,
                        "end": p + w, "strand": st, "window_start": int(widx),
                        "score_bits": score, "effective": bool(effective),
                    })
        instances[g.gene_id] = rows
    return counts, instances


def isegnet_function(feat: dict[str, np.ndarray], n_act: np.ndarray, n_rep: np.ndarray,
                     params: dict[str, float] = ISEGNET_PARAMS) -> np.ndarray:
    """Noiseless log2(TPM + 1) of an expressed gene from its window features.

    ``open = σ((D − c)/s)``; ``act = w4·K4/k4 + w36·K36/k36 + wm·min(nA, 2)/2``;
    ``f = base + amplitude · open · act/(h + act) · exp(−K27/k27) · (1 − σ((Me − m)/ms))
    · (1 − r·[nR ≥ 1])``.
    """
    p = params
    openness = sigmoid((feat["D"] - p["open_center"]) / p["open_scale"])
    act = (p["w_k4"] * feat["K4"] / p["k4_scale"] + p["w_k36"] * feat["K36"] / p["k36_scale"]
           + p["w_motif"] * np.minimum(n_act, 2) / 2)
    sat = act / (p["half_saturation"] + act)
    k27 = np.exp(-feat["K27"] / p["k27_scale"])
    meth = 1 - sigmoid((feat["Me"] - p["me_center"]) / p["me_scale"])
    rep = 1 - p["repressor_factor"] * (n_rep >= 1)
    return p["base"] + p["amplitude"] * openness * sat * k27 * meth * rep


def _isegnet_features(genome: Genome, tracks, sites) -> dict[str, np.ndarray]:
    """Window-mean features computed from the arrays exactly as written to the bigWigs."""
    feats = {}
    genes = genome.genes
    for name, track, anchor, o1, o2 in ISEGNET_FEATURES:
        vals = np.zeros(len(genes))
        for chrom, length in genome.chroms.items():
            idx = [i for i, g in enumerate(genes) if g.chrom == chrom]
            if not idx:
                continue
            se = np.array([genes[i].interval(anchor, o1, o2) for i in idx])
            if track == "WGBS":
                pos, val = sites[chrom]
                per_base = np.zeros(length + 1)
                per_base[pos] = val / 100.0
                cum = np.concatenate([[0.0], np.cumsum(per_base[:length])])
                s = np.clip(se[:, 0], 0, length)
                e = np.clip(se[:, 1], 0, length)
                vals[idx] = (cum[e] - cum[s]) / (se[:, 1] - se[:, 0])
            else:
                prefix = _bin_prefix(tracks[track][chrom], 20, length)
                vals[idx] = _window_means(prefix, se[:, 0], se[:, 1])
        feats[name] = vals
    return feats


def _simulate_isegnet(rng: np.random.Generator, genome: Genome, motifs, out: Path, scale: Scale,
                      lat: dict[str, np.ndarray]) -> dict[str, Any]:
    """iSEGnet set.

    Generative model: each gene has a latent state (active 62 %, poised 13 %,
    heterochromatin 12 %, off 13 %) and amplitudes shared by the replicates. Tracks are
    −log10 p values per 20 bp (background ~ 50 % zeros + Exp(0.35)) plus gene-anchored
    shapes (DNase at TSS−100, H3K4me3 at TSS+300 and an irrelevant upstream bump at
    TSS−700, H3K4me1 flanks, an H3K36me3 ramp to the TTS, H3K27me3 / H3K9me3 domains)
    and genome-wide decoys (enhancers, domains); WGBS = percent methylation at CpGs, CpG
    islands unmethylated in active/poised genes. Heterochromatin/off genes have TPM 0.
    Expressed genes: ``log2(TPM+1) = isegnet_function(features, motif counts) + ε``,
    features computed from the written tracks, ε ~ N(0, σ²) (redrawn below 0.1).
    """
    out_dir = out / "isegnet"
    calls, planted, n_purged, ambiguous, scanners = _plant_motifs(rng, genome, motifs)
    counts, instances = _isegnet_motif_table(genome, calls, scanners)
    biosamples = [f"simA_rep{r + 1}" for r in range(scale.n_biosamples)]
    expressed = np.isin(lat["state"], (0, 1))
    per_bs: dict[str, dict[str, Any]] = {}
    base_beta = None
    all_f = []
    for bs in biosamples:
        tracks = _isegnet_tracks(rng, genome, lat)
        sites, base_beta = _isegnet_methylation(rng, genome, lat, base_beta)
        for t in ISEGNET_TRACKS[:-1]:
            _write_bigwig_binned(out_dir / bs / f"{t}.bigWig", genome.chroms, tracks[t], 20)
        _write_bigwig_sites(out_dir / bs / "WGBS.bigWig", genome.chroms, sites)
        feats = _isegnet_features(genome, tracks, sites)
        f = isegnet_function(feats, counts["activator"], counts["repressor"])
        per_bs[bs] = {"features": feats, "f": f}
        all_f.append(f[expressed])
    var_f = float(np.var(np.concatenate(all_f)))
    target = CEILING_TARGETS["isegnet"]
    sd = math.sqrt(var_f * (1 - target) / target)
    tpm_cols, ys = {}, {}
    for bs in biosamples:
        f = per_bs[bs]["f"]
        eps = rng.normal(0, sd, len(f))
        bad = f + eps < 0.1
        while bad.any():
            eps[bad] = rng.normal(0, sd, int(bad.sum()))
            bad = f + eps < 0.1
        y = np.where(expressed, f + eps, 0.0)
        tpm = np.where(expressed, np.round(2.0 ** y - 1, 4), 0.0)
        tpm_cols[bs] = tpm
        ys[bs] = np.log2(tpm + 1)
    lines = ["gene_id\t" + "\t".join(biosamples)]
    for i, g in enumerate(genome.genes):
        lines.append(g.gene_id + "\t" + "\t".join(_fmt(tpm_cols[bs][i]) for bs in biosamples))
    _write_text(out_dir / "expression_tpm.tsv", "\n".join(lines) + "\n")
    # per-gene truth table
    header = ["gene_id", "biosample", "state", "cgi_promoter", *[f[0] for f in ISEGNET_FEATURES],
              "n_activator", "n_repressor", "f", "log2_tpm1"]
    rows = ["\t".join(header)]
    for bs in biosamples:
        fe = per_bs[bs]["features"]
        for i, g in enumerate(genome.genes):
            rows.append("\t".join([
                g.gene_id, bs, ISEGNET_STATES[lat["state"][i]], str(int(genome.cgi[i])),
                *[f"{fe[n[0]][i]:.6f}" for n in ISEGNET_FEATURES],
                str(counts["activator"][i]), str(counts["repressor"][i]),
                f"{per_bs[bs]['f'][i]:.6f}" if expressed[i] else "NA", f"{ys[bs][i]:.6f}"]))
    _write_text(out_dir / "truth_genes.tsv", "\n".join(rows) + "\n")
    pooled_y = np.concatenate([ys[bs][expressed] for bs in biosamples])
    pooled_f = np.concatenate([per_bs[bs]["f"][expressed] for bs in biosamples])
    ceiling = {bs: r2_score(ys[bs][expressed], per_bs[bs]["f"][expressed]) for bs in biosamples}
    motif_truth = []
    for role, mid in ISEGNET_MOTIFS.items():
        anchor, o1, o2 = ISEGNET_MOTIF_REGIONS[role]
        targets = [g.gene_id for i, g in enumerate(genome.genes) if counts[role][i] > 0]
        motif_truth.append({
            "jaspar_id": mid, "name": motifs[mid].name, "role": role,
            "direction": "+" if role == "activator" else "-",
            "effective_region": {"anchor": anchor, "start": o1, "end": o2},
            "condition": ("effect scales with promoter openness σ((D−c)/s) and saturates with the marks"
                          if role == "activator" else "multiplies expression by (1 − r) when ≥ 1 instance"),
            "n_instances_called": len(calls[role]),
            "n_planted": sum(1 for p in planted if p["role"] == role),
            "target_genes": targets,
        })
    return {
        "dataset": "isegnet",
        "files": {
            "tracks": {bs: {t: f"isegnet/{bs}/{t}.bigWig" for t in ISEGNET_TRACKS} for bs in biosamples},
            "expression": "isegnet/expression_tpm.tsv",
            "per_gene_truth": "isegnet/truth_genes.tsv",
            "fasta": "genome.fa", "gtf": "genes.gtf",
        },
        "biosamples": biosamples,
        "replicates": "all biosamples are replicates of one simulated cell type (shared latent state, independent noise)",
        "track_order": list(ISEGNET_TRACKS),
        "track_units": {**dict.fromkeys(ISEGNET_TRACKS[:-1], "-log10(p) per 20 bp"),
                        "WGBS": "percent methylation at both bases of each CpG; 4 % of CpGs missing"},
        "window": [{"anchor": a, "start": s, "end": e} for a, s, e in ISEGNET_WINDOW],
        "label": "log2(TPM + 1) of genes with TPM > 0",
        "n_genes": len(genome.genes),
        "n_expressed": int(expressed.sum()),
        "n_zero_expression": int((~expressed).sum()),
        "zero_expression_rule": "latent state heterochromatin or off (H3K9me3 domain or closed, unmarked promoter): TPM = 0 exactly",
        "noise": {"distribution": "normal, redrawn where f + ε < 0.1", "sd": sd, "variance": sd * sd},
        "ceiling_r2": r2_score(pooled_y, pooled_f),
        "ceiling_r2_per_biosample": ceiling,
        "function": {
            "name": "kerasgene.simulate.isegnet_function",
            "formula": ("f = base + amplitude * sigmoid((D - open_center)/open_scale) * act/(half_saturation + act)"
                        " * exp(-K27/k27_scale) * (1 - sigmoid((Me - me_center)/me_scale))"
                        " * (1 - repressor_factor*[n_repressor >= 1]);"
                        " act = w_k4*K4/k4_scale + w_k36*K36/k36_scale + w_motif*min(n_activator, 2)/2"),
            "parameters": dict(ISEGNET_PARAMS),
        },
        "features": [{"name": n, "track": t, "anchor": a, "start": s, "end": e, "stat": "mean per base",
                      "window_index": _window_index(a, s, e)} for n, t, a, s, e in ISEGNET_FEATURES],
        "effects": [
            {"feature": "D", "direction": "+", "kind": "gate (sigmoid): nothing is expressed above base unless the promoter is open"},
            {"feature": "K4", "direction": "+", "kind": "saturating; only H3K4me3 downstream of the TSS counts (the upstream bump at TSS-700 is a decoy)"},
            {"feature": "K36", "direction": "+", "kind": "saturating; H3K36me3 just before the TTS"},
            {"feature": "K27", "direction": "-", "kind": "multiplicative exp(-K27/k27_scale)"},
            {"feature": "Me", "direction": "-", "kind": "switch: methylated CpG-island promoters are silent"},
            {"feature": "n_activator", "direction": "+", "kind": "CREB1 in TSS[-300,-50) only; scaled by openness"},
            {"feature": "n_repressor", "direction": "-", "kind": "REST in TSS[+50,+450) only"},
            {"feature": "H3K4me1", "direction": "0", "kind": "no effect (decoy track)"},
            {"feature": "H3K9me3", "direction": "0", "kind": "no effect on expressed genes; marks the zero-expression heterochromatin genes"},
        ],
        "motifs": motif_truth,
        "motif_scoring": {**_scoring_doc(HUMAN_BG), "matrices": [sc.describe() for sc in scanners.values()],
                          "background_mutations": n_purged, "ambiguous_sites": ambiguous},
        "motif_instances": {gid: rows for gid, rows in instances.items() if rows},
    }


def _window_index(anchor: str, s: int, e: int) -> list[int]:
    if anchor == "TSS":
        return [s + 1000, e + 1000]
    return [s + 2000, e + 2000]


# --------------------------------------------------------------------------------------
# chromatin-imputation set
# --------------------------------------------------------------------------------------

CHROMATIN_BIN = 50
CHROMATIN_KERNELS = {  # target: (driver, gaussian kernel sd in bins, amplitude, smoothed-ceiling goal)
    "H3K4me3": ("divergent", 12.0, 70.0, 0.75),
    "H3K27ac": ("total", 25.0, 120.0, 0.75),
    "DNase": ("divergent", 2.0, 12.0, 0.60),
    "H3K27me3": ("repressed", 100.0, 3.0, None),
}
CHROMATIN_NOISE_SMOOTH = 20.0  # bins
CHROMATIN_NOISE_SMOOTH_FRACTION = 0.5
CHROMATIN_K27_NOISE_SD = 0.3
CHROMATIN_K27_DOMAINS = (0.3, 1.5)  # amplitude range of polycomb domains unrelated to GRO-seq
CHROMATIN_DRIVERS = {"box_half_width": 4, "divergent_half_saturation": 8.0, "total_half_saturation": 15.0,
                     "repressed_scale": 0.1}


def _gauss_kernel(sd: float) -> np.ndarray:
    half = int(math.ceil(4 * sd))
    x = np.arange(-half, half + 1)
    k = np.exp(-0.5 * (x / sd) ** 2)
    return k / k.sum()


def chromatin_drivers(plus: np.ndarray, minus: np.ndarray) -> dict[str, np.ndarray]:
    """Nonlinear drivers of the chromatin targets from binned GRO-seq (one chromosome).

    ``Ps, Ms`` = sums over ±4 bins; ``divergent = √(Ps·Ms)/(√(Ps·Ms) + 8)`` (initiation on
    both strands: promoters, enhancers); ``total = (Ps+Ms)/(Ps+Ms+15)``.
    """
    hw = CHROMATIN_DRIVERS["box_half_width"]
    box = np.ones(2 * hw + 1)
    ps = np.convolve(plus, box, mode="same")
    ms = np.convolve(minus, box, mode="same")
    div = np.sqrt(ps * ms)
    tot = ps + ms
    return {"divergent": div / (div + CHROMATIN_DRIVERS["divergent_half_saturation"]),
            "total": tot / (tot + CHROMATIN_DRIVERS["total_half_saturation"])}


def chromatin_function(plus: np.ndarray, minus: np.ndarray) -> dict[str, np.ndarray]:
    """Noiseless fold-change of every target per 50 bp bin, from binned GRO-seq."""
    from scipy.signal import fftconvolve

    d = chromatin_drivers(plus, minus)
    out = {}
    for target, (driver, sd, amp, _goal) in CHROMATIN_KERNELS.items():
        if driver == "repressed":
            near = fftconvolve(d["total"], _gauss_kernel(sd), mode="same")
            out[target] = 1.0 + amp * np.exp(-np.maximum(near, 0) / CHROMATIN_DRIVERS["repressed_scale"])
        else:
            out[target] = 1.0 + amp * np.maximum(fftconvolve(d[driver], _gauss_kernel(sd), mode="same"), 0)
    return out


def _simulate_chromatin(rng: np.random.Generator, genome: Genome, lat: dict[str, np.ndarray],
                        out: Path) -> dict[str, Any]:
    """Chromatin-imputation set (50 bp bins).

    GRO-seq: for active genes a sense pause peak at TSS+50 (60·activity), a divergent
    antisense peak at TSS−200 (85 % of genes), gene-body transcription with 1-4 kb
    read-through; poised genes a small sense-only peak; enhancers (1 per 20 kb) initiate on
    both strands, "unidirectional" sites (1 per 20 kb) on one; Poisson counts. Targets
    (fold change) = ``chromatin_function(plus, minus)`` + white and smooth gaussian noise;
    H3K27me3 gets independent polycomb domains as well, so it is only weakly coupled.
    N runs are 0 in every track (unmappable).
    """
    from scipy.ndimage import gaussian_filter1d

    out_dir = out / "chromatin"
    B = CHROMATIN_BIN
    plus_d, minus_d, clean_d, valid_d = {}, {}, {}, {}
    for chrom, length in genome.chroms.items():
        nb = -(-length // B)
        lam_p = np.full(nb, 0.03)
        lam_m = np.full(nb, 0.03)
        for _ in range(int(length / 20_000)):  # enhancers
            b = int(rng.integers(5, nb - 5))
            a = rng.uniform(5, 30)
            lam_m[b - 2] += a * rng.uniform(0.5, 1.0)
            lam_p[b + 2] += a * rng.uniform(0.5, 1.0)
        for _ in range(int(length / 20_000)):  # unidirectional initiation
            b = int(rng.integers(0, nb))
            (lam_p if rng.random() < 0.5 else lam_m)[b] += rng.uniform(5, 30)
        plus_d[chrom], minus_d[chrom] = lam_p, lam_m
    for i, g in enumerate(genome.genes):
        st = lat["state"][i]
        sense, anti = (plus_d, minus_d) if g.strand == "+" else (minus_d, plus_d)
        nb = len(plus_d[g.chrom])
        step = 1 if g.strand == "+" else -1

        def put(arr, offset, amount, g=g, step=step, nb=nb):
            b = (g.tss + step * offset) // B
            if 0 <= b < nb:
                arr[g.chrom][b] += amount

        if st == 0:
            a = lat["activity"][i]
            for off, frac in ((0, 0.15), (50, 0.7), (100, 0.15)):
                put(sense, off, 60 * a * frac)
            if rng.random() < 0.85:
                put(anti, -200, 60 * a * rng.uniform(0.2, 0.8))
            rt = int(rng.integers(1_000, 4_000))
            offs = np.arange(300, g.length + rt, B)
            pos = g.tss + step * offs
            b = pos // B
            ok = (b >= 0) & (b < nb)
            np.add.at(sense[g.chrom], b[ok], 0.6 * a)
        elif st == 1:
            put(sense, 50, 10 * lat["aK4"][i])
    nrun = {c: [(s, e) for c2, s, e in genome.n_runs if c2 == c] for c in genome.chroms}
    unit = {}
    for chrom in genome.chroms:
        p = rng.poisson(plus_d[chrom]).astype(np.float32)
        m = rng.poisson(minus_d[chrom]).astype(np.float32)
        valid = np.ones(len(p), dtype=bool)
        for s, e in nrun[chrom]:
            valid[s // B : -(-e // B)] = False
        p[~valid] = 0
        m[~valid] = 0
        plus_d[chrom], minus_d[chrom], valid_d[chrom] = p, m, valid
        clean_d[chrom] = {t: np.where(valid, v, 0.0) for t, v in chromatin_function(p, m).items()}
        unit[chrom] = {}
        for target in CHROMATIN_TARGETS:  # unit-variance log-scale noise: white + 1 kb-correlated
            smooth = gaussian_filter1d(rng.normal(0, 1, len(p)), CHROMATIN_NOISE_SMOOTH)
            smooth /= math.sqrt(1.0 / (2 * math.sqrt(math.pi) * CHROMATIN_NOISE_SMOOTH))
            unit[chrom][target] = math.sqrt(1 - CHROMATIN_NOISE_SMOOTH_FRACTION) * rng.normal(0, 1, len(p)) \
                + math.sqrt(CHROMATIN_NOISE_SMOOTH_FRACTION) * smooth
    # polycomb domains unrelated to transcription (mean-centred, so they are pure noise)
    domains = {}
    for chrom in genome.chroms:
        nb = len(plus_d[chrom])
        extra = np.zeros(nb)
        for _ in range(max(1, int(nb * B / 60_000))):
            c0 = int(rng.integers(0, nb))
            half = int(rng.uniform(100, 600))
            extra[max(0, c0 - half) : c0 + half] += rng.uniform(*CHROMATIN_K27_DOMAINS)
        domains[chrom] = extra - extra[valid_d[chrom]].mean()

    def observe(target: str, sd: float) -> dict[str, np.ndarray]:
        out_ = {}
        for c in genome.chroms:
            base = clean_d[c][target] + (domains[c] if target == "H3K27me3" else 0.0)
            v = np.maximum(base, 0) * np.exp(sd * unit[c][target] - sd * sd / 2)
            v = np.round(np.where(valid_d[c], v, 0), 3)
            out_[c] = v.astype(np.float32)
        return out_

    def ceilings(obs: dict[str, np.ndarray], target: str) -> tuple[float, float, float]:
        ys, fs, ys10, fs10 = [], [], [], []
        for c in genome.chroms:
            v = valid_d[c]
            y, f = obs[c].astype(np.float64), clean_d[c][target]
            ys.append(y[v])
            fs.append(f[v])
            ys10.append(gaussian_filter1d(y, 10)[v])
            fs10.append(gaussian_filter1d(f, 10)[v])
        y, f, y10, f10 = (np.concatenate(a) for a in (ys, fs, ys10, fs10))
        return r2_score(y, f), r2_score(y10, f10), float(np.corrcoef(y10, f10)[0, 1])

    targets_truth = {}
    for target in CHROMATIN_TARGETS:
        drv, ksd, amp, goal = CHROMATIN_KERNELS[target]
        if goal is None:
            sd = CHROMATIN_K27_NOISE_SD
        else:  # bisection on the log-noise sd for the smoothed ceiling
            lo, hi = 0.01, 4.0
            for _ in range(14):
                mid = 0.5 * (lo + hi)
                if ceilings(observe(target, mid), target)[1] > goal:
                    lo = mid
                else:
                    hi = mid
            sd = round(0.5 * (lo + hi), 4)
        obs = observe(target, sd)
        _write_bigwig_binned(out_dir / f"{target}.bigWig", genome.chroms, obs, B)
        r2b, r2s, rs = ceilings(obs, target)
        targets_truth[target] = {
            "file": f"chromatin/{target}.bigWig",
            "driver": drv, "kernel": {"type": "gaussian", "sd_bins": ksd, "normalised": "sum 1"},
            "amplitude": amp,
            "noise": {"kind": "multiplicative, mean-preserving: obs = clean * exp(sd*n - sd^2/2)",
                      "sd": sd, "variance": sd * sd,
                      "n": f"unit variance; {CHROMATIN_NOISE_SMOOTH_FRACTION:.0%} of it gaussian-smoothed (sd {CHROMATIN_NOISE_SMOOTH} bins)"},
            "unexplained_signal": (f"independent polycomb domains (+{CHROMATIN_K27_DOMAINS[0]}..{CHROMATIN_K27_DOMAINS[1]} over 10-60 kb, mean-centred)"
                                   if target == "H3K27me3" else None),
            "coupling": "weak (deliberate)" if target == "H3K27me3" else "strong",
            "ceiling_r2_bins": r2b,
            "ceiling_r2_smoothed": r2s,
            "ceiling_pearson_smoothed": rs,
        }
    _write_bigwig_binned(out_dir / "groseq_plus.bigWig", genome.chroms, plus_d, B)
    _write_bigwig_binned(out_dir / "groseq_minus.bigWig", genome.chroms, minus_d, B)
    names = list(genome.chroms)
    return {
        "dataset": "chromatin",
        "files": {"inputs": {k: f"chromatin/{k}.bigWig" for k in CHROMATIN_INPUTS},
                  "targets": {t: f"chromatin/{t}.bigWig" for t in CHROMATIN_TARGETS}},
        "bin_size": B,
        "input_units": "GRO-seq read counts per 50 bp bin; minus-strand values stored as positive numbers",
        "target_units": "fold change over input per 50 bp bin (0 in N runs)",
        "primary_target": "H3K4me3",
        "ceiling_r2": targets_truth["H3K4me3"]["ceiling_r2_smoothed"],
        "ceiling_definition": "R² of the noiseless function vs the written target over non-N bins; '_smoothed' after a gaussian filter with sd 10 bins applied to both (the paper's label smoothing)",
        "function": {"name": "kerasgene.simulate.chromatin_function", "drivers": dict(CHROMATIN_DRIVERS),
                     "formula": "target = 1 + amplitude * (gaussian_kernel * driver); H3K27me3 = 1 + 3*exp(-(gaussian_100 * total)/0.1) + mean-centred polycomb domains"},
        "targets": targets_truth,
        "suggested_split": {"train": [c for c in names if c not in (names[1], names[-1])],
                            "valid": [names[1]], "test": [names[-1]]},
        "effects": [
            {"input": "divergent transcription (both strands within ±200 bp)", "target": "H3K4me3", "direction": "+"},
            {"input": "total local initiation", "target": "H3K27ac", "direction": "+"},
            {"input": "divergent transcription, narrow", "target": "DNase", "direction": "+"},
            {"input": "no transcription within ~5 kb", "target": "H3K27me3", "direction": "+ (weak)"},
        ],
    }


# --------------------------------------------------------------------------------------
# histone-bins set (DeepChrome / Team Jamaica)
# --------------------------------------------------------------------------------------

HISTONE_BIN = 100


def histone_function(x: np.ndarray, depth: np.ndarray, params: dict[str, float] = HISTONE_PARAMS,
                     features: tuple = HISTONE_FEATURES) -> np.ndarray:
    """Noiseless log2(TPM + 1) from DeepChrome bins: an AND of four soft gates.

    ``f = base + amplitude · Π_k σ(slope_k · (log1p(mean(x[:, b0:b1, mark_k]) / depth[mark_k])
    − centre_k))``: H3K4me3 at the TSS and H3K36me3 over the body must be present,
    H3K27me3 and H3K9me3 absent (:data:`HISTONE_FEATURES`). H3K4me1 has no effect.

    Parameters
    ----------
    x : array (n, 100, 5)
        Bins × marks in DeepChrome order (H3K27me3, H3K36me3, H3K4me1, H3K4me3, H3K9me3).
    depth : array (n, 5)
        Per-cell sequencing-depth factor of each mark (truth.json ``depth``).
    """
    gate = np.ones(len(x))
    for _name, mark, b0, b1, slope, centre in features:
        m = HISTONE_MARKS.index(mark)
        v = np.log1p(x[:, b0:b1, m].mean(1) / depth[:, m])
        gate = gate * sigmoid(slope * (v - centre))
    return params["base"] + params["amplitude"] * gate


def _simulate_histone(rng: np.random.Generator, genome: Genome, out: Path, scale: Scale) -> dict[str, Any]:
    """Histone-bins set: several cell types with different activity programs.

    Genes are housekeeping (30 %) or belong to one of 8 modules; each cell type switches a
    random half of the modules on. Active genes carry H3K4me3 at the TSS, H3K36me3 over
    the body and H3K4me1 flanks; switched-off module genes are polycomb (H3K27me3, 55 %),
    heterochromatin (H3K9me3, 20 %) or unmarked. Counts per 100 bp = Poisson(depth[cell,
    mark] · (1 + signal)), depth ∈ [0.6, 1.7] per cell and mark. ``log2(TPM+1) =
    histone_function(bins, depth) + ε``.
    """
    out_dir = out / "histone"
    cells = [f"cell{c + 1:02d}" for c in range(scale.n_cells)]
    n = len(genome.genes)
    module = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 8, n))
    on = rng.random((len(cells), 8)) < 0.5
    for c in range(len(cells)):  # at least two modules on and two off
        if on[c].sum() < 2 or on[c].sum() > 6:
            on[c] = np.isin(np.arange(8), rng.choice(8, 4, replace=False))
    base_act = rng.uniform(0.3, 1.0, n)
    off_kind = rng.choice(3, size=n, p=[0.55, 0.20, 0.25])  # polycomb, heterochromatin, unmarked
    depth = np.round(rng.uniform(0.6, 1.7, (len(cells), 5)), 3)
    B = HISTONE_BIN
    x_all = np.zeros((len(cells), n, 100, 5), dtype=np.float32)
    for c, cell in enumerate(cells):
        act = np.where(module < 0, np.clip(base_act * np.exp(rng.normal(0, 0.15, n)), 0, 1),
                       np.where(on[c, np.maximum(module, 0)], np.clip(base_act * np.exp(rng.normal(0, 0.3, n)), 0, 1), 0.0))
        act = np.where((module >= 0) & ~on[c, np.maximum(module, 0)], 0.0, act)
        lam = {m: {} for m in HISTONE_MARKS}
        for chrom, length in genome.chroms.items():
            nb = -(-length // B)
            for m in HISTONE_MARKS:
                lam[m][chrom] = np.ones(nb)
        for i, g in enumerate(genome.genes):
            nb = len(lam["H3K4me3"][g.chrom])
            lo = max(0, (min(g.start, g.end) - 8_000) // B)
            hi = min(nb, (max(g.start, g.end) + 8_000) // B + 1)
            centers = np.arange(lo, hi) * B + B / 2
            o = (centers - g.tss) if g.strand == "+" else (g.tss - centers)
            sl = slice(lo, hi)
            a = act[i]
            silent = (module[i] >= 0) and not on[c, module[i]]
            if a > 0:
                lam["H3K4me3"][g.chrom][sl] += 20 * a * _gauss(o, 150, 500)
                lam["H3K4me1"][g.chrom][sl] += 6 * np.sqrt(a) * (_gauss(o, -1500, 500) + _gauss(o, 1500, 500))
                body = (o >= 500) & (o < g.length)
                lam["H3K36me3"][g.chrom][sl] += 6 * a * body * np.clip(o / 3000, 0.3, 1)
            if silent and off_kind[i] == 0:
                lam["H3K27me3"][g.chrom][sl] += 8 * rng.uniform(0.5, 1.0) * sigmoid((o + 5000) / 300) * sigmoid((g.length + 3000 - o) / 300)
            if silent and off_kind[i] == 1:
                lam["H3K9me3"][g.chrom][sl] += 6 * rng.uniform(0.5, 1.0) * sigmoid((o + 7000) / 300) * sigmoid((g.length + 5000 - o) / 300)
        counts = {}
        for mi, m in enumerate(HISTONE_MARKS):
            counts[m] = {}
            for chrom in genome.chroms:
                v = rng.poisson(depth[c, mi] * lam[m][chrom]).astype(np.float32)
                for c2, s, e in genome.n_runs:
                    if c2 == chrom:
                        v[s // B : -(-e // B)] = 0
                counts[m][chrom] = v
            _write_bigwig_binned(out_dir / cell / f"{m}.bigWig", genome.chroms, counts[m], B)
        # DeepChrome bins: TSS-relative 100 bp bins, 5' → 3'
        for chrom, length in genome.chroms.items():
            idx = [i for i, g in enumerate(genome.genes) if g.chrom == chrom]
            prefixes = [_bin_prefix(counts[m][chrom], B, length) for m in HISTONE_MARKS]
            for i in idx:
                g = genome.genes[i]
                s, e = g.interval("TSS", -5000, 5000)
                edges = np.arange(s, e + 1, B)
                for mi, prefix in enumerate(prefixes):
                    vals = np.diff(prefix(edges)) / B
                    x_all[c, i, :, mi] = vals if g.strand == "+" else vals[::-1]
    x_all = np.round(x_all, 2)
    depth_g = np.repeat(depth[:, None, :], n, axis=1)
    f_all = histone_function(x_all.reshape(-1, 100, 5), depth_g.reshape(-1, 5)).reshape(len(cells), n)
    target = CEILING_TARGETS["histone_fcn"]
    sd = math.sqrt(float(np.var(f_all)) * (1 - target) / target)
    eps = rng.normal(0, sd, f_all.shape)
    bad = f_all + eps < 0
    while bad.any():
        eps[bad] = rng.normal(0, sd, int(bad.sum()))
        bad = f_all + eps < 0
    tpm = np.round(2.0 ** (f_all + eps) - 1, 4)
    y = np.log2(tpm + 1)
    lines = ["gene_id\t" + "\t".join(cells)]
    for i, g in enumerate(genome.genes):
        lines.append(g.gene_id + "\t" + "\t".join(_fmt(tpm[c, i]) for c in range(len(cells))))
    _write_text(out_dir / "expression.tsv", "\n".join(lines) + "\n")
    # splits over genes (shared by all cells) and the DeepChrome CSVs
    perm = rng.permutation(n)
    n_tr, n_va = int(0.6 * n), int(0.2 * n)
    split_idx = {"train": np.sort(perm[:n_tr]), "valid": np.sort(perm[n_tr : n_tr + n_va]),
                 "test": np.sort(perm[n_tr + n_va :])}
    gnum = np.array([g.index for g in genome.genes], dtype=np.float64)
    row_fmt = "%06d,%d,%g,%g,%g,%g,%g,%d"
    for c, cell in enumerate(cells):
        med = float(np.median(y[c]))
        for split, idx in split_idx.items():
            k = len(idx)
            arr = np.zeros((k, 100, 8))
            arr[:, :, 0] = gnum[idx][:, None]
            arr[:, :, 1] = np.arange(1, 101)[None, :]
            arr[:, :, 2:7] = x_all[c, idx]
            arr[:, :, 7] = (y[c, idx] > med)[:, None]
            text = "\n".join(row_fmt % tuple(r) for r in arr.reshape(-1, 8).tolist())
            _write_text(out_dir / "deepchrome" / cell / f"{split}.csv", text + "\n")
    # Kaggle npz: train.npz = first cells minus one held out, train+valid genes; eval.npz = all cells, test genes
    heldout = cells[-1:]
    train_cells = [c for c in cells if c not in heldout]

    def kaggle(cell_list, idx):
        arrs = {}
        for cell in cell_list:
            c = cells.index(cell)
            a = np.zeros((len(idx), 100, 7), dtype=np.float64)
            a[:, :, 0] = np.array([genome.genes[i].index for i in idx])[:, None]
            a[:, :, 1:6] = x_all[c, idx]
            a[:, :, 6] = np.round(y[c, idx], 6)[:, None]
            arrs[cell] = a
        return arrs

    (out_dir / "kaggle").mkdir(parents=True, exist_ok=True)
    tr_idx = np.sort(np.concatenate([split_idx["train"], split_idx["valid"]]))
    for name, arrs in (("train", kaggle(train_cells, tr_idx)), ("eval", kaggle(cells, split_idx["test"]))):
        path = out_dir / "kaggle" / f"{name}.npz"
        tmp = out_dir / "kaggle" / f"{name}.tmp.npz"
        np.savez(tmp, **arrs)
        os.replace(tmp, path)
    return {
        "dataset": "histone",
        "serves": ["histone_fcn", "deepchrome"],
        "files": {
            "tracks": {cell: {m: f"histone/{cell}/{m}.bigWig" for m in HISTONE_MARKS} for cell in cells},
            "expression": "histone/expression.tsv",
            "deepchrome_csv": {cell: {s: f"histone/deepchrome/{cell}/{s}.csv" for s in split_idx} for cell in cells},
            "kaggle_npz": {"train": "histone/kaggle/train.npz", "eval": "histone/kaggle/eval.npz"},
            "gtf": "genes.gtf", "fasta": "genome.fa",
        },
        "cells": cells,
        "heldout_cells": heldout,
        "marks": list(HISTONE_MARKS),
        "bins": {"n": 100, "size": B, "window": {"anchor": "TSS", "start": -5000, "end": 5000},
                 "orientation": "5'→3' of the gene (bin 51 starts at the TSS)"},
        "track_units": "read counts per 100 bp (Poisson), on a genome-wide 100 bp grid",
        "label": "log2(TPM + 1); DeepChrome label = 1 if above the cell type's median",
        "gene_id_numeric": "DeepChrome GeneID / Kaggle column 0 = numeric part of gene_id (SIMG000123 → 123)",
        "split": {k: [genome.genes[i].gene_id for i in v] for k, v in split_idx.items()},
        "depth": {cell: {m: float(depth[c, mi]) for mi, m in enumerate(HISTONE_MARKS)} for c, cell in enumerate(cells)},
        "programs": {"modules_on": {cell: [int(k) for k in np.flatnonzero(on[c])] for c, cell in enumerate(cells)},
                     "gene_module": {g.gene_id: int(module[i]) for i, g in enumerate(genome.genes)}},
        "noise": {"distribution": "normal, redrawn where f + ε < 0", "sd": sd, "variance": sd * sd},
        "ceiling_r2": r2_score(y.ravel(), f_all.ravel()),
        "ceiling_r2_per_cell": {cell: r2_score(y[c], f_all[c]) for c, cell in enumerate(cells)},
        "function": {
            "name": "kerasgene.simulate.histone_function",
            "formula": ("f = base + amplitude * prod_k sigmoid(slope_k * (log1p(mean(x[b0_k:b1_k, mark_k]) "
                        "/ depth[cell, mark_k]) - centre_k)); bins 0-based half-open"),
            "parameters": dict(HISTONE_PARAMS),
        },
        "features": [{"name": n_, "mark": m, "bins": [b0, b1], "slope": sl, "centre": ce,
                      "direction": "+" if sl > 0 else "-"}
                     for n_, m, b0, b1, sl, ce in HISTONE_FEATURES],
        "effects": [{"mark": "H3K4me1", "direction": "0", "kind": "no effect (decoy)"},
                    {"mark": "depth", "direction": "0", "kind": "per-cell depth factors scale the counts but not expression: the gates act on depth-normalised signal"}],
    }


# --------------------------------------------------------------------------------------
# yeast DeepRAGE set
# --------------------------------------------------------------------------------------


def load_yeast_regulator_data() -> dict[str, Any]:
    """The real DeepRAGE regulator data shipped as package data.

    Returns a dict with ``regulators`` (472 ORFs), ``conditions`` (173 names as
    :func:`kerasgene.expression.unique_labels` makes them: tabs become spaces, outer quotes
    go, repeats are suffixed ``#2``, ``#3``),
    ``genes`` (6,099 target ORFs), ``states`` (int8 array 472 × 173, values −1/0/+1) and
    ``raw`` (the four files' text, for copying).
    """
    base = resources.files("kerasgene").joinpath("data/deeprage_yeast")
    raw = {name: base.joinpath(name).read_text() for name in
           ("reg_names_R.txt", "expt_names_E.txt", "target_gene_names_G.txt", "reg_exp_RxE.tab")}
    regs = [ln.strip() for ln in raw["reg_names_R.txt"].splitlines() if ln.strip()]
    conds = unique_labels(read_names(base.joinpath("expt_names_E.txt")))
    genes = [ln.strip() for ln in raw["target_gene_names_G.txt"].splitlines() if ln.strip()]
    states = np.zeros((len(regs), len(conds)), dtype=np.int8)
    for ln in raw["reg_exp_RxE.tab"].splitlines():
        if ln.strip():
            r, c, s = ln.split()
            states[int(r) - 1, int(c) - 1] = int(float(s))
    return {"regulators": regs, "conditions": conds, "genes": genes, "states": states, "raw": raw}


def deeprage_function(presence: np.ndarray, states: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Noiseless log-fold change (genes × conditions).

    ``presence`` (genes × TFs, 0/1), ``states`` (TFs × conditions, −1/0/+1), ``weights``
    (TFs,): ``f[g, c] = Σ_t presence[g, t] · weights[t] · states[t, c]``.
    """
    return (presence * weights[None, :]) @ states


def _simulate_yeast(rng: np.random.Generator, motifs: dict[str, Motif], out: Path, scale: Scale) -> dict[str, Any]:
    """Yeast DeepRAGE set.

    1 kb promoters (GC 38 %, i.i.d.) purged of chance sites of the regulators' motifs;
    each motif is planted in 22 % of genes (1 instance, 30 %: 2) at a uniform position and
    random orientation. ``logFC[g, c] = Σ_t present[g, t] · w_t · state[t, c] + ε`` with
    the real regulator states and ``present`` = a site scoring ≥ CALL on either strand of
    the final sequence. MSN2 and MSN4 bind the same STRE (AGGGG): both are called with
    MSN2's matrix, so they share their target genes.
    """
    out_dir = out / "yeast"
    data = load_yeast_regulator_data()
    gene_idx = np.sort(rng.choice(len(data["genes"]), size=scale.n_yeast_genes, replace=False))
    genes = [data["genes"][i] for i in gene_idx]
    n, L = len(genes), 1000
    seqs = _random_codes(rng, n * L, 0.38).reshape(n, L)
    called = [YEAST_CALLED_WITH.get(tf, mid) for tf, _orf, mid, _w in YEAST_REGULATORS]
    motif_ids = list(dict.fromkeys(called))
    scanners = [_Scanner(motifs[mid], YEAST_BG) for mid in motif_ids]
    sep = 30

    def cat_of(s):
        return np.concatenate([s, np.full((n, sep), 4, np.uint8)], axis=1).ravel()

    def uncat(c):
        return c.reshape(n, L + sep)[:, :L].copy()

    cat = cat_of(seqs)
    n_purged = _purge(cat, scanners, rng)
    seqs = uncat(cat)
    occupied = np.zeros((n, L), dtype=bool)
    for sc in scanners:
        others = tuple(o for o in scanners if o is not sc)
        pool = sc.sample_instances(rng, n, others)
        for gi in range(n):
            if rng.random() >= 0.22:
                continue
            n_inst = 1 if rng.random() < 0.7 else 2
            for _ in range(n_inst):
                for _try in range(30):
                    p = int(rng.integers(10, L - sc.width - 10))
                    if occupied[gi, p - 1 : p + sc.width + 1].any():
                        continue
                    inst = pool[int(rng.integers(0, len(pool)))]
                    if rng.random() < 0.5:
                        inst = revcomp_codes(inst)
                    seqs[gi, p : p + sc.width] = inst
                    occupied[gi, p : p + sc.width] = True
                    break
    cat = cat_of(seqs)
    protect = cat_of(occupied.astype(np.uint8)).astype(bool)
    protect[np.flatnonzero(cat == 4)] = True
    _purge(cat, scanners, rng, protect=protect)
    seqs = uncat(cat)
    motif_presence = np.zeros((n, len(scanners)), dtype=np.float64)
    instances: dict[str, list[dict[str, Any]]] = {g: [] for g in genes}
    ambiguous = 0
    for t, sc in enumerate(scanners):
        f, r = sc.strand_scores(seqs)
        best = np.maximum(f, r)
        thr = sc.thresholds
        ambiguous += int(((best >= thr["purge"]) & (best < thr["call"])).sum())
        gi_, pos_ = np.nonzero(best >= thr["call"])
        tfs = [tf for (tf, *_x), c in zip(YEAST_REGULATORS, called) if c == sc.motif.matrix_id]
        for gi, p in zip(gi_, pos_):
            motif_presence[gi, t] = 1
            instances[genes[gi]].append({
                "tfs": tfs, "jaspar_id": sc.motif.matrix_id, "motif": sc.motif.name,
                "start": int(p), "end": int(p) + sc.width,
                "strand": "+" if f[gi, p] >= r[gi, p] else "-", "score_bits": float(best[gi, p]) / 100,
            })
    presence = motif_presence[:, [motif_ids.index(c) for c in called]]
    reg_rows = [data["regulators"].index(orf) for _tf, orf, _m, _w in YEAST_REGULATORS]
    states = data["states"][reg_rows].astype(np.float64)
    weights = np.array([w for *_x, w in YEAST_REGULATORS])
    f = deeprage_function(presence, states, weights)
    target = CEILING_TARGETS["deeprage"]
    sd = math.sqrt(float(np.var(f)) * (1 - target) / target)
    y = np.round(f + rng.normal(0, sd, f.shape), 4)
    records = [(g, decode(seqs[i])) for i, g in enumerate(genes)]
    _write_fasta(out_dir / "promoters.fa", records)
    conds = data["conditions"]
    lines = ["gene_id\t" + "\t".join(conds)]
    for i, g in enumerate(genes):
        lines.append(g + "\t" + "\t".join(_fmt(v) for v in y[i]))
    _write_text(out_dir / "logfc.tsv", "\n".join(lines) + "\n")
    for name, text in data["raw"].items():
        _write_text(out_dir / name, text)
    _write_text(out_dir / "genes.txt", "\n".join(genes) + "\n")
    regs_truth = []
    for t, (tf, orf, mid, w) in enumerate(YEAST_REGULATORS):
        ridx = data["regulators"].index(orf)
        regs_truth.append({
            "tf": tf, "orf": orf, "regulator_index": ridx + 1, "jaspar_id": mid,
            "called_with": called[t], "motif_name": motifs[called[t]].name, "weight": w,
            "direction": "activator" if w > 0 else "repressor",
            "n_conditions_up": int((data["states"][ridx] > 0).sum()),
            "n_conditions_down": int((data["states"][ridx] < 0).sum()),
            "target_genes": [genes[i] for i in np.flatnonzero(presence[:, t])],
        })
    return {
        "dataset": "deeprage",
        "files": {"promoters": "yeast/promoters.fa", "logfc": "yeast/logfc.tsv",
                  "regulator_names": "yeast/reg_names_R.txt", "condition_names": "yeast/expt_names_E.txt",
                  "regulator_states": "yeast/reg_exp_RxE.tab", "genes": "yeast/genes.txt"},
        "real_inputs": "regulator states, regulator / condition / gene names: DeepRAGE (DeepRegret) MEDUSA data, commit 1a38007",
        "promoter": {"length": L, "orientation": "5'→3', last base just upstream of the TSS", "gc": 0.38},
        "n_genes": n, "n_conditions": len(conds), "n_regulators": len(data["regulators"]),
        "label": "log-fold change",
        "noise": {"distribution": "normal", "sd": sd, "variance": sd * sd},
        "ceiling_r2": r2_score(y.ravel(), f.ravel()),
        "function": {"name": "kerasgene.simulate.deeprage_function",
                     "formula": "logFC[g, c] = sum_t present[g, t] * weight[t] * state[t, c] + noise",
                     "presence": "a site scoring >= the matrix's call threshold on either strand anywhere in the promoter (position-independent)"},
        "regulators": regs_truth,
        "motif_scoring": {**_scoring_doc(YEAST_BG), "matrices": [sc.describe() for sc in scanners],
                          "background_mutations": n_purged, "ambiguous_sites": ambiguous},
        "motif_instances": {g: rows for g, rows in instances.items() if rows},
        "class_thresholds": {"down": -0.5, "up": 0.5},
    }


# --------------------------------------------------------------------------------------
# truth schema
# --------------------------------------------------------------------------------------

#: Required structure of truth.json: key → type, or a nested dict for sub-objects.
TRUTH_SCHEMA: dict[str, Any] = {
    "generator": {"name": str, "version": str, "kerasgene_version": str, "seed": int,
                  "scale": str, "jaspar_release": str},
    "parameters": dict,
    "genome": {"fasta": str, "gtf": str, "chrom_sizes": dict, "n_genes": int,
               "gc_fraction": float, "soft_masked_fraction": float, "n_runs": list,
               "coordinates": str},
    "tasks": {
        "isegnet": {"files": dict, "biosamples": list, "track_order": list, "window": list,
                    "label": str, "noise": {"sd": float, "variance": float}, "ceiling_r2": float,
                    "function": {"formula": str, "parameters": dict}, "features": list,
                    "effects": list, "motifs": list, "motif_instances": dict,
                    "n_expressed": int, "n_zero_expression": int},
        "deeprage": {"files": dict, "noise": {"sd": float, "variance": float}, "ceiling_r2": float,
                     "function": {"formula": str}, "regulators": list, "motif_instances": dict,
                     "n_genes": int, "n_conditions": int},
        "chromatin": {"files": dict, "bin_size": int, "ceiling_r2": float, "targets": dict,
                      "function": {"formula": str}, "primary_target": str},
        "histone_fcn": {"files": dict, "cells": list, "marks": list, "noise": {"sd": float, "variance": float},
                        "ceiling_r2": float, "function": {"formula": str, "parameters": dict},
                        "features": list, "depth": dict, "split": dict},
    },
}


def _check(obj: Any, spec: Any, path: str) -> None:
    if isinstance(spec, dict):
        if not isinstance(obj, dict):
            raise InputFileError(f"truth.json: {path or 'top level'} must be an object, got {type(obj).__name__}")
        for key, sub in spec.items():
            if key not in obj:
                raise InputFileError(f"truth.json: missing field {path + '.' if path else ''}{key}")
            _check(obj[key], sub, f"{path + '.' if path else ''}{key}")
        return
    ok = isinstance(obj, spec) and not (spec is int and isinstance(obj, bool))
    if spec is float:
        ok = isinstance(obj, (int, float)) and not isinstance(obj, bool) and math.isfinite(obj)
    if not ok:
        raise InputFileError(f"truth.json: field {path} must be {spec.__name__}, got {type(obj).__name__}")


def validate_truth(truth: dict) -> None:
    """Check ``truth`` against :data:`TRUTH_SCHEMA` and its invariants.

    Raises
    ------
    InputFileError
        Naming the first offending field: missing, wrong type, a ceiling outside [0, 1],
        a negative noise variance, a motif without a JASPAR ID, or a target gene that is
        not in the data.
    """
    _check(truth, TRUTH_SCHEMA, "")
    for name, task in truth["tasks"].items():
        c = task["ceiling_r2"]
        if not 0.0 <= c <= 1.0:
            raise InputFileError(f"truth.json: tasks.{name}.ceiling_r2 = {c} is outside [0, 1]")
        if "noise" in task and task["noise"]["variance"] < 0:
            raise InputFileError(f"truth.json: tasks.{name}.noise.variance must be >= 0")
    iseg = truth["tasks"]["isegnet"]
    for k, m in enumerate(iseg["motifs"]):
        for field in ("jaspar_id", "role", "direction", "effective_region", "target_genes"):
            if field not in m:
                raise InputFileError(f"truth.json: missing field tasks.isegnet.motifs[{k}].{field}")
        if not str(m["jaspar_id"]).startswith("MA"):
            raise InputFileError(f"truth.json: tasks.isegnet.motifs[{k}].jaspar_id {m['jaspar_id']!r} is not a JASPAR ID")
    for k, r in enumerate(truth["tasks"]["deeprage"]["regulators"]):
        for field in ("tf", "orf", "jaspar_id", "weight", "direction", "target_genes"):
            if field not in r:
                raise InputFileError(f"truth.json: missing field tasks.deeprage.regulators[{k}].{field}")
        if not str(r["jaspar_id"]).startswith("MA"):
            raise InputFileError(f"truth.json: tasks.deeprage.regulators[{k}].jaspar_id {r['jaspar_id']!r} is not a JASPAR ID")
        if (r["weight"] > 0) != (r["direction"] == "activator"):
            raise InputFileError(f"truth.json: tasks.deeprage.regulators[{k}]: direction disagrees with weight sign")
        unknown = set(r["target_genes"]) - set(truth["tasks"]["deeprage"]["motif_instances"])
        if unknown:
            raise InputFileError(f"truth.json: tasks.deeprage.regulators[{k}].target_genes has genes without instances: {sorted(unknown)[:3]}")
    for t, v in truth["tasks"]["chromatin"]["targets"].items():
        for field in ("ceiling_r2_bins", "ceiling_r2_smoothed"):
            if field not in v:
                raise InputFileError(f"truth.json: missing field tasks.chromatin.targets.{t}.{field}")


# --------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------

_OWNED = ("isegnet", "chromatin", "histone", "yeast", "genome.fa", "genome.fa.fai", "genes.gtf",
          "truth.json", "README.md")


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputFileError(f"{out_dir}: output path exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "truth.json").exists():
        raise ConfigError(f"{out_dir}: output directory is not empty and holds no earlier simulation "
                          "(truth.json); choose an empty or new directory")


def simulate(out_dir: Path, seed: int = 0, scale: str = "medium") -> dict:
    """Write the planted-truth demo data for all four tasks and return the truth dict.

    Parameters
    ----------
    out_dir
        Output directory (created; an existing one must be empty or hold an earlier
        simulation, whose files are replaced).
    seed
        Non-negative integer; the same seed gives the same data.
    scale
        ``"small"`` (tests; ~800 genes, 3.2 Mb) or ``"medium"`` (``make demo``; ~2,000
        genes, 8 Mb, 1,000 yeast genes).

    Returns
    -------
    dict
        The content of ``out_dir/truth.json`` (schema: :data:`TRUTH_SCHEMA`).
    """
    from kerasgene import __version__

    if scale not in SCALES:
        raise ConfigError(f"simulate: scale must be one of {sorted(SCALES)}, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"simulate: seed must be a non-negative integer, got {seed!r}")
    out_dir = Path(out_dir)
    _check_out(out_dir)
    # generate into a hidden sibling directory, then move the files in: a failure leaves
    # the output directory as it was
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        truth = _generate(tmp, int(seed), scale, __version__)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in _OWNED:
            p = out_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        for p in sorted(tmp.iterdir()):
            os.replace(p, out_dir / p.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return truth


def _generate(out_dir: Path, seed: int, scale: str, version: str) -> dict:
    """Write every file of one simulation into ``out_dir``; return the truth dict."""
    sc = SCALES[scale]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
    motifs = load_motifs()
    log.info("simulate: genome (%s)", scale)
    genome = _make_genome(streams[0], sc)
    lat = _isegnet_latent(streams[1], len(genome.genes))
    log.info("simulate: iSEGnet set")
    iseg = _simulate_isegnet(streams[2], genome, motifs, out_dir, sc, lat)
    # FASTA after planting/purging (the promoters changed)
    _write_fasta(out_dir / "genome.fa", [(c, decode(genome.codes[c], genome.soft[c])) for c in genome.chroms])
    _write_gtf(out_dir / "genes.gtf", genome.genes)
    log.info("simulate: chromatin set")
    chrom = _simulate_chromatin(streams[3], genome, lat, out_dir)
    log.info("simulate: histone set")
    hist = _simulate_histone(streams[4], genome, out_dir, sc)
    log.info("simulate: yeast set")
    yeast = _simulate_yeast(streams[5], motifs, out_dir, sc)
    acgt = np.concatenate([genome.codes[c] for c in genome.chroms])
    acgt = acgt[acgt < 4]
    truth = {
        "generator": {"name": "kerasgene.simulate", "version": GENERATOR_VERSION,
                      "kerasgene_version": version, "seed": seed, "scale": scale,
                      "jaspar_release": jaspar_release()},
        "parameters": {"scale": asdict(sc), "ceiling_targets": dict(CEILING_TARGETS),
                       "motif_p_values": dict(MOTIF_P)},
        "genome": {
            "fasta": "genome.fa", "gtf": "genes.gtf", "chrom_sizes": dict(genome.chroms),
            "n_genes": len(genome.genes),
            "gc_fraction": float(np.isin(acgt, (1, 2)).mean()),
            "soft_masked_fraction": float(np.mean(np.concatenate(list(genome.soft.values())))),
            "n_runs": [[c, s, e] for c, s, e in genome.n_runs],
            "genes_near_chrom_end": [g.gene_id for g in genome.genes
                                     if min(g.tss, genome.chroms[g.chrom] - 1 - g.tss) < 5_000],
            "coordinates": ("0-based half-open; tss = start (+) / end-1 (-); tts = end-1 (+) / start (-); "
                            "oriented window [o1,o2) around anchor a = [a+o1, a+o2) on +, [a-o2+1, a-o1+1) reversed on -"),
        },
        "tasks": {"isegnet": iseg, "deeprage": yeast, "chromatin": chrom, "histone_fcn": hist},
    }
    truth = json.loads(json.dumps(truth))  # plain JSON types (tuples → lists, numpy → python)
    validate_truth(truth)
    _write_text(out_dir / "truth.json", json.dumps(truth, indent=1, sort_keys=True) + "\n")
    _write_text(out_dir / "README.md", _README.format(seed=seed, scale=scale, version=GENERATOR_VERSION))
    return truth


_README = """# kerasgene simulated demo data (seed {seed}, scale {scale}, generator {version})

SIMULATED data with a planted truth — not real ENCODE / Roadmap / yeast measurements.
Real parts: JASPAR motif matrices used to plant motif instances, and the yeast regulator
states (DeepRAGE / MEDUSA). `truth.json` documents the generative model, the noise, the
noise-ceiling R² of each task and where the signal is. See docs/simulated_data.md.
"""
