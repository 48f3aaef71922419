"""Benchmark: does :func:`kerasgene.explain.variants.variant_effects` scale linearly with the
VCF's size? The same genome, genes and model at 10,000 and 100,000 VCF records.

A random 4 Mb genome (4 chromosomes), 800 + and − genes with iSEGnet's 2,500 bp windows
(about half the genome in a window), a bgzipped, tabix-indexed VCF written by pysam (SNVs,
multi-allelic records, deletions, insertions, ``<DEL>``, 1% on a chromosome the FASTA
lacks), and a cheap linear model of the window (so the per-record work of reading,
placing, editing and tabulating shows, not the convolutions of a trained model). Prints
JSON: CPU and wall seconds at each size, microseconds of CPU per allele and
``cpu_per_allele_ratio`` = large ÷ small (1.0: linear; 10: quadratic).
Usage: ``python bench/bench_variant_scaling.py [--small 10000 --large 100000]``
(about two minutes on 2 CPU cores). Not run by pytest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from pathlib import Path

from _timing import timed

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SIZES = {"chr1": 1_200_000, "chr2": 1_100_000, "chr3": 900_000, "chr4": 800_000}
FLANKS = ((1000, 500), (500, 500))


def write_calls(path: Path, seqs: dict[str, str], n: int, rng) -> str:
    """A bgzipped, tabix-indexed VCF of ``n`` sorted records on ``seqs`` (and chrZ)."""
    import pysam

    header = pysam.VariantHeader()
    header.add_line('##INFO=<ID=END,Number=1,Type=Integer,Description="End position">')
    for c, s in seqs.items():
        header.contigs.add(c, length=len(s))
    header.contigs.add("chrZ")
    chroms = rng.choice([*seqs, "chrZ"], n, p=[0.99 * len(s) / sum(SIZES.values())
                                                for s in seqs.values()] + [0.01])
    kinds = rng.random(n)
    recs = []
    for c, r in zip(chroms, kinds):
        if c == "chrZ":
            recs.append((c, int(rng.integers(1, 10**6)), ("A", "C")))
            continue
        s = seqs[c]
        p = int(rng.integers(1, len(s) - 10))
        ref = s[p - 1]
        alts = [b for b in "ACGT" if b != ref]
        alleles = ((ref, "<DEL>") if r < 0.02 else (ref, *alts[:2]) if r < 0.07
                   else (s[p - 1 : p + 2], ref) if r < 0.12 else (ref, ref + "GT") if r < 0.17
                   else (ref, alts[int(r * 100) % 3]))
        recs.append((c, p, alleles))
    order = {c: i for i, c in enumerate([*seqs, "chrZ"])}
    recs.sort(key=lambda t: (order[t[0]], t[1]))
    out = str(path)
    with pysam.VariantFile(out, "wz", header=header) as vcf:
        for c, p, alleles in recs:
            vcf.write(vcf.new_record(contig=c, start=p - 1, stop=p - 1 + len(alleles[0]),
                                     alleles=alleles))
    pysam.tabix_index(out, preset="vcf", force=True)
    return out


def main() -> None:
    import keras
    import numpy as np

    from kerasgene.explain import readers as R
    from kerasgene.explain import variants as V
    from kerasgene.io.annotation import Gene
    from kerasgene.io.genome import Genome
    from kerasgene.simulate.genome import write_fasta

    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=100_000)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    length = sum(FLANKS[0]) + sum(FLANKS[1])
    seq = keras.Input((length, 4), name="sequence")
    epi = keras.Input((length, 2), name="epigenome")
    flat = keras.layers.Concatenate()([keras.layers.Flatten()(seq), keras.layers.Flatten()(epi)])
    model = keras.Model([seq, epi], keras.layers.Dense(1)(flat))
    seqs = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in SIZES.items()}
    genes = []
    for i in range(800):
        c = str(rng.choice(list(SIZES)))
        start = int(rng.integers(2000, SIZES[c] - 30_000))
        genes.append(Gene(f"G{i}", f"G{i}", c, start, start + int(rng.integers(500, 20_000)),
                          "+-"[i % 2]))
    reader = R.RegionReader({"rep1": {g.id: np.zeros((length, 2), np.float32)
                                      for g in genes}}, *FLANKS)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "genome.fa"
        write_fasta(fasta, list(seqs.items()))
        with Genome(fasta) as genome:
            for name, n in (("small", args.small), ("large", args.large)):
                vcf = write_calls(Path(tmp) / f"{name}.vcf.gz", seqs, n, rng)
                table, t = timed(lambda vcf=vcf: V.variant_effects(
                    model, vcf, genome, genes, reader, progress=False))
                alleles = len(V.read_vcf(vcf))
                out[name] = {**t, "records": n, "alleles": alleles, "rows": len(table),
                             "cpu_us_per_allele": round(t["cpu_s"] / alleles * 1e6, 1)}
    out["cpu_per_allele_ratio"] = round(out["large"]["cpu_us_per_allele"]
                                        / out["small"]["cpu_us_per_allele"], 2)
    out["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps({"variant_effects_scaling": out}, indent=2))


if __name__ == "__main__":
    main()
