"""Benchmark: three input steps at genome scale, each against its former code in the same
process (best of ``--repeats``, wall and CPU seconds):

* ``histone_bins``: 100 bins × 5 marks around ``--genes`` TSSs (10 kb windows, chunks of
  500 genes as the builder reads them) from bigWigs of 50 bp-mean runs over a 40 Mb
  chromosome; reference: all marks read into one (genes, 10 kb, 5) array, averaged over
  its strided bins. The two must be identical.
* ``histone_kmers``: the histone builder's 3-mer counts (totals over every gene, then
  the kept 3-mers per bin; ``min_count`` 10,000) of ``--genes`` TSS windows (10 kb, 100
  bins, blocks of the builder's ``KMER_CHUNK`` genes) read from a FASTA of a 40 Mb
  chromosome with lowercase runs and N gaps, the reading timed: each window read once,
  its k-mer ids kept in a temporary file between the two passes
  (``_kmer_totals``, ``_kept_kmer_bins``); reference: the former builder, which read
  every window from the FASTA again for the second pass. The counts must be identical.
* ``gzip_fasta``: the one-off bgzip copy of a plain-gzip FASTA of ``--fasta-mb`` Mb
  (:class:`kerasgene.io.genome.Genome`); reference: the same copy at bgzf's default level 6.
  Both must decompress to the same bytes.

Prints one JSON object; ratio = reference seconds ÷ kerasgene's.
Usage: ``python bench/bench_inputs.py [--genes 20000] [--fasta-mb 100] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
from _timing import timed
from bench_io import write_track
from Bio import bgzf

from kerasgene.datasets.histone_bins import (
    KMER_CHUNK,
    _bin_windows,
    _kept_kmer_bins,
    _kmer_totals,
    _sequences,
)
from kerasgene.datasets.windows import gene_windows
from kerasgene.dna import binned_kmer_counts, kmer_ids, kmer_names
from kerasgene.io.annotation import Gene
from kerasgene.io.cache import derived_path
from kerasgene.io.genome import Genome, _bgzip_copy
from kerasgene.io.tracks import TrackSet

CHROM = 40_000_000
WINDOW, N_BINS, CHUNK = 10_000, 100, 500


def reference_bins(trackset: TrackSet, genes: list[Gene]) -> np.ndarray:
    """The former ``_bin_windows``: one (N, L, marks) read, mean over strided bins."""
    chroms, starts, ends, strands = gene_windows(genes, (WINDOW // 2, WINDOW // 2), (0, 0))
    vals = trackset.read_windows(chroms, starts[:, 0], ends[:, 0], strands)
    return vals.reshape(len(genes), N_BINS, WINDOW // N_BINS, -1).mean(axis=2)


def best(fn, repeats: int):
    runs = [timed(fn) for _ in range(repeats)]
    return runs[0][0], min((t for _, t in runs), key=lambda t: t["wall_s"])


def histone_bins(tmp: Path, n: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    paths = {f"m{k}": tmp / f"m{k}.bw" for k in range(5)}
    for k, p in enumerate(paths.values()):
        write_track(p, {"chr1": CHROM}, {"chr1": [(0, CHROM)]}, seed=k)
    tss = rng.integers(0, CHROM, n)
    genes = [Gene(f"g{i}", f"g{i}", "chr1", int(t), int(t) + 1, "+-"[i % 2])
             for i, t in enumerate(tss)]
    chunks = [genes[lo : lo + CHUNK] for lo in range(0, n, CHUNK)]
    with TrackSet(paths) as ts:
        ref, ref_t = best(lambda: [reference_bins(ts, c) for c in chunks], repeats)
        got, kg_t = best(lambda: [_bin_windows(ts, c, WINDOW, N_BINS, "mean", True)
                                  for c in chunks], repeats)
    assert all(np.array_equal(a, b) for a, b in zip(ref, got, strict=True)), "bins differ"
    return {"genes": n, "reference": ref_t, "kerasgene": kg_t,
            "ratio": round(ref_t["wall_s"] / kg_t["wall_s"], 2)}


def kmer_fasta(path: Path, seed: int) -> Path:
    """A FASTA of one 40 Mb chromosome, lowercase (soft-masked) 1 kb runs every 10 kb and
    100 bp N gaps every 50 kb, 60 bases a line."""
    rng = np.random.default_rng(seed)
    seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, CHROM)].copy()
    for lo in range(0, CHROM, 10_000):
        seq[lo : lo + 1_000] += 32  # lower case
    for lo in range(0, CHROM, 50_000):
        seq[lo : lo + 100] = ord("N")
    raw = seq.tobytes()
    with open(path, "wb") as fh:
        fh.write(b">chr1\n" + b"\n".join(raw[i : i + 60] for i in range(0, CHROM, 60)) + b"\n")
    return path


def histone_kmers(tmp: Path, n: int, repeats: int) -> dict:
    rng = np.random.default_rng(2)
    genes = [Gene(f"g{i}", f"g{i}", "chr1", int(t), int(t) + 1, "+-"[i % 2])
             for i, t in enumerate(rng.integers(0, CHROM, n))]
    fasta = kmer_fasta(tmp / "genome.fa", 2)
    k, least, names = 3, 10_000, kmer_names(3)

    def reference() -> list[np.ndarray]:  # the former builder: each window read twice
        chunks = [genes[lo : lo + KMER_CHUNK] for lo in range(0, n, KMER_CHUNK)]
        with Genome(fasta) as genome:
            totals = sum(np.bincount(kmer_ids(_sequences(genome, c, WINDOW, True), k,
                                              N_BINS).ravel(), minlength=len(names))
                         for c in chunks)
            keep = np.flatnonzero(totals > least)
            return [binned_kmer_counts(kmer_ids(_sequences(genome, c, WINDOW, True), k, N_BINS),
                                       keep, len(names)).astype(np.uint16) for c in chunks]

    def kerasgene() -> list[np.ndarray]:  # as the builder appends them, block by block
        with tempfile.TemporaryFile(dir=tmp) as spill:
            with Genome(fasta) as genome:
                totals = _kmer_totals(genome, genes, WINDOW, N_BINS, k, "ACGTN", True, spill,
                                      False)
            keep = np.flatnonzero(totals > least)
            return [c.astype(np.uint16)
                    for c in _kept_kmer_bins(spill, n, keep, len(names), False)]

    ref, ref_t = best(reference, repeats)
    got, kg_t = best(kerasgene, repeats)
    assert np.array_equal(np.concatenate(ref), np.concatenate(got)), "k-mer counts differ"
    return {"genes": n, "kmers_kept": int(ref[0].shape[2]), "reference": ref_t,
            "kerasgene": kg_t, "ratio": round(ref_t["wall_s"] / kg_t["wall_s"], 2)}


def gzip_fasta(tmp: Path, mb: int, repeats: int) -> dict:
    rng = np.random.default_rng(1)
    source = tmp / "genome.fa.gz"
    with gzip.open(source, "wb", compresslevel=6) as fh:
        for c in range(4):
            seq = np.frombuffer(b"ACGTN", np.uint8)[rng.integers(0, 5, mb * 250_000)].tobytes()
            fh.write(f">chr{c + 1}\n".encode())
            fh.write(b"\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + b"\n")

    def reference() -> Path:
        out = tmp / "reference.bgz"
        with gzip.open(source, "rb") as src, bgzf.BgzfWriter(str(out), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        return out

    def kerasgene() -> Path:
        derived_path(source, ".bgz", "bgzip").unlink(missing_ok=True)  # made once, else
        return _bgzip_copy(source)

    ref, ref_t = best(reference, repeats)
    got, kg_t = best(kerasgene, repeats)
    with gzip.open(ref, "rb") as a, gzip.open(got, "rb") as b:
        assert a.read() == b.read(), "bgzip copies differ"
    sizes = {"source_mb": round(source.stat().st_size / 2**20, 1),
             "reference_mb": round(ref.stat().st_size / 2**20, 1),
             "kerasgene_mb": round(got.stat().st_size / 2**20, 1)}
    return {"fasta_mb": mb, **sizes, "reference": ref_t, "kerasgene": kg_t,
            "ratio": round(ref_t["wall_s"] / kg_t["wall_s"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--fasta-mb", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    result = {"benchmark": "bench_inputs"}
    with tempfile.TemporaryDirectory() as tmp:
        result["histone_bins"] = histone_bins(Path(tmp), args.genes, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        result["histone_kmers"] = histone_kmers(Path(tmp), args.genes, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        result["gzip_fasta"] = gzip_fasta(Path(tmp), args.fasta_mb, args.repeats)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
