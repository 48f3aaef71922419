"""The simulated human-like genome: chromosomes, genes, CpG islands, repeats; FASTA and GTF."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasgene._io import atomic_path, write_text
from kerasgene.io.annotation import Gene
from kerasgene.simulate.common import Scale, oriented_interval

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# genome
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedGene(Gene):
    """A simulated protein-coding gene: an annotation :class:`~kerasgene.io.annotation.Gene`
    (id ``SIMG<index:06>``, name ``SIM<index>``) with its index and exons (0-based
    half-open, genomic order)."""

    index: int = 0
    exons: tuple[tuple[int, int], ...] = ()

    @property
    def length(self) -> int:
        return self.end - self.start

    def interval(self, anchor: str, o1: int, o2: int) -> tuple[int, int]:
        """Genomic ``[start, end)`` of the oriented window ``[o1, o2)`` around the TSS or
        TTS (``anchor``)."""
        a = self.tss if anchor == "TSS" else self.tts
        return oriented_interval(a, self.strand, o1, o2)


@dataclass
class Genome:
    """The simulated human-like genome."""

    chroms: dict[str, int]
    codes: dict[str, np.ndarray]
    soft: dict[str, np.ndarray]
    n_runs: list[tuple[str, int, int]]
    genes: list[SimulatedGene]
    cgi: np.ndarray  # bool per gene: CpG-island promoter


HUMAN_GC = 0.40  # before CpG islands and CpG depletion; the genome ends near 41-42 %
HUMAN_BG = np.array([0.295, 0.205, 0.205, 0.295])


def random_codes(rng: np.random.Generator, n: int, gc: float) -> np.ndarray:
    p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return np.searchsorted(np.cumsum(p)[:-1], rng.random(n), side="right").astype(np.uint8)


def make_genome(rng: np.random.Generator, scale: Scale) -> Genome:
    """Chromosomes chr1.. with GC ≈ 41 %, CpG depletion, CpG-island promoters, soft-masked
    repeats, internal N runs and protein-coding genes on both strands (some within 5 kb of
    a chromosome end)."""
    names = [f"chr{i + 1}" for i in range(len(scale.chrom_sizes))]
    chroms = dict(zip(names, scale.chrom_sizes))
    total = sum(scale.chrom_sizes)
    codes, soft, n_runs, genes = {}, {}, [], []
    gid = 0
    for ci, (chrom, length) in enumerate(chroms.items()):
        seq = random_codes(rng, length, HUMAN_GC)
        runs = _n_run_spans(rng, length)
        n = max(2, round(scale.n_genes * length / total))
        placed, strands = _place_genes(rng, ci, length, n, runs)
        for (gs, ge), strand in zip(placed, strands):
            exons = _exons(rng, gs, ge)
            genes.append(SimulatedGene(f"SIMG{gid + 1:06d}", f"SIM{gid + 1}", chrom, gs, ge,
                                       str(strand), "protein_coding", index=gid + 1,
                                       exons=tuple(exons)))
            gid += 1
        for rs, re_ in runs:
            seq[rs:re_] = 4
            n_runs.append((chrom, rs, re_))
        codes[chrom] = seq
        soft[chrom] = _soft_mask(rng, length)
    # CpG-island promoters for ~60 % of genes; CpG depletion elsewhere
    cgi = rng.random(len(genes)) < 0.6
    island = _cpg_islands(rng, chroms, codes, genes, cgi)
    _deplete_cpg(rng, codes, island, n_runs)
    return Genome(chroms, codes, soft, n_runs, genes, cgi)


def _n_run_spans(rng: np.random.Generator, length: int) -> list[tuple[int, int]]:
    """1-2 internal N runs of 3-10 kb in the middle 60 % of a chromosome, ≥ 5 kb apart."""
    runs: list[tuple[int, int]] = []
    for _ in range(int(rng.integers(1, 3))):
        rlen = int(rng.integers(3_000, 10_000))
        rs = int(rng.integers(length // 5, 4 * length // 5 - rlen))
        if all(rs > e + 5_000 or rs + rlen + 5_000 < s for s, e in runs):
            runs.append((rs, rs + rlen))
    runs.sort()
    return runs


def _place_genes(rng: np.random.Generator, ci: int, length: int, n: int,
                 runs: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Up to ``n`` gene spans of chromosome ``ci`` (log-normal lengths, random gaps, ≥ 3 kb
    from N runs) and their strands; chr1's first gene is on + with its TSS 1.5 kb from the
    start, chr2's last on − with its TSS 1.5 kb from the end."""
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
    return placed, strands


def _soft_mask(rng: np.random.Generator, length: int) -> np.ndarray:
    """Soft-masked "repeats": ~12 % of the sequence in 150-3000 bp stretches."""
    mask = np.zeros(length, dtype=bool)
    covered = 0
    while covered < 0.12 * length:
        rl = int(rng.integers(150, 3_000))
        rs = int(rng.integers(0, length - rl))
        mask[rs : rs + rl] = True
        covered += rl
    return mask


def _cpg_islands(rng: np.random.Generator, chroms: dict[str, int], codes: dict[str, np.ndarray],
                 genes: list[SimulatedGene], cgi: np.ndarray) -> dict[str, np.ndarray]:
    """Write GC-rich (65 %) TSS[−800, +600) islands of the ``cgi`` genes into ``codes``;
    return the island masks per chromosome."""
    island: dict[str, np.ndarray] = {c: np.zeros(n, dtype=bool) for c, n in chroms.items()}
    for g, is_cgi in zip(genes, cgi):
        if is_cgi:
            s, e = g.interval("TSS", -800, 600)
            s, e = max(s, 0), min(e, chroms[g.chrom])
            codes[g.chrom][s:e] = random_codes(rng, e - s, 0.65)
            island[g.chrom][s:e] = True
    return island


def _deplete_cpg(rng: np.random.Generator, codes: dict[str, np.ndarray],
                 island: dict[str, np.ndarray], n_runs: list[tuple[str, int, int]]) -> None:
    """Mutate 78 % of the CpGs outside islands (C → T or G → A), in place; N runs stay N."""
    for chrom, seq in codes.items():
        cg = np.flatnonzero((seq[:-1] == 1) & (seq[1:] == 2))
        cg = cg[~island[chrom][cg]]
        hit = cg[rng.random(len(cg)) < 0.78]
        to_t = rng.random(len(hit)) < 0.5
        seq[hit[to_t]] = 3  # C -> T
        seq[hit[~to_t] + 1] = 0  # G -> A on the same strand (C -> T on the other)
        for s, e in [(s, e) for c, s, e in n_runs if c == chrom]:
            seq[s:e] = 4


def _exons(rng: np.random.Generator, start: int, end: int) -> list[tuple[int, int]]:
    length = end - start
    k = int(rng.integers(1, min(7, max(2, length // 400))))
    if k == 1:
        return [(start, end)]
    cuts = np.sort(rng.choice(np.arange(start + 100, end - 100), size=2 * (k - 1), replace=False))
    bounds = [start, *cuts.tolist(), end]
    return [(int(bounds[2 * i]), int(bounds[2 * i + 1])) for i in range(k)
            if bounds[2 * i + 1] > bounds[2 * i]]


def write_fasta(path: Path, records: list[tuple[str, str]], width: int = 60) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="\n") as fh:
        for name, seq in records:
            fh.write(f">{name}\n")
            fh.write("\n".join(seq[i : i + width] for i in range(0, len(seq), width)))
            fh.write("\n")
    import pyfaidx

    fai = Path(str(path) + ".fai")
    fai.unlink(missing_ok=True)
    pyfaidx.Faidx(str(path), rebuild=True).close()


def write_gtf(path: Path, genes: list[SimulatedGene]) -> None:
    lines = ["##description: kerasgene simulated protein-coding genes (planted-truth demo)",
             "##provider: kerasgene.simulate", "##format: gtf"]
    for g in genes:
        tid = g.id.replace("SIMG", "SIMT")
        name = g.name
        gattr = f'gene_id "{g.id}"; gene_name "{name}"; gene_type "protein_coding";'
        tattr = gattr + f' transcript_id "{tid}"; transcript_type "protein_coding";'
        lines.append(f"{g.chrom}\tkerasgene_sim\tgene\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t{gattr}")
        lines.append(f"{g.chrom}\tkerasgene_sim\ttranscript\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\t{tattr}")
        exons = g.exons if g.strand == "+" else g.exons[::-1]
        for k, (s, e) in enumerate(exons):
            lines.append(f"{g.chrom}\tkerasgene_sim\texon\t{s + 1}\t{e}\t.\t{g.strand}\t.\t"
                         f"{tattr} exon_number {k + 1};")
    write_text(path, "\n".join(lines) + "\n")

