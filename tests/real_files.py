"""Writers of real genome and track files for the tests (2bit, bedGraph, bigBed, a GTF of
random genes, BAM/CRAM reads), and the small DeepRAGE world of files the pair-input tests share (:func:`write_deeprage_files`).

2bit: no installed library writes it (py2bit only reads), so :func:`write_twobit` is a
small writer of the UCSC format (version 0, little-endian, as faToTwoBit writes), checked
against py2bit in tests/test_genome.py. bigBed: written with pybigtools; bedGraph from a
bigWig's own intervals (pyBigWig), so the two hold the same values.
"""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pandas as pd
import pyBigWig
from conftest import write_fasta

_CODES = {"T": 0, "C": 1, "A": 2, "G": 3}

NARROWPEAK_AUTOSQL = """table narrowPeak
"BED6+4 Peaks of signal enrichment based on pooled, normalized (interpreted) data."
(
    string chrom;        "Reference sequence chromosome or scaffold"
    uint   chromStart;   "Start position in chromosome"
    uint   chromEnd;     "End position in chromosome"
    string name;         "Name given to a region (preferably unique). Use . if none"
    uint   score;        "Indicates how dark the peak will be displayed in the browser (0-1000)"
    char[1]  strand;     "+ or - or . for unknown"
    float  signalValue;  "Measurement of average enrichment for the region"
    float  pValue;       "Statistical significance of signal value (-log10). -1 if not used."
    float  qValue;       "Statistical significance with multiple-test correction (FDR -log10)."
    int   peak;          "Point-source called for this peak; 0-based offset from chromStart."
)
"""


def write_twobit(path, records: dict[str, str]) -> str:
    """A 2bit file of ``records`` (name → sequence): N runs as N blocks, lower-case runs as
    mask blocks."""
    header = struct.pack("<IIII", 0x1A412743, 0, len(records), 0)
    offset = len(header) + sum(1 + len(n.encode()) + 4 for n in records)
    index, bodies = b"", b""
    for name, seq in records.items():
        n_blocks = [(m.start(), m.end() - m.start()) for m in re.finditer("[Nn]+", seq)]
        masks = [(m.start(), m.end() - m.start()) for m in re.finditer("[a-z]+", seq)]
        codes = np.array([_CODES.get(c, 0) for c in seq.upper()], dtype=np.uint8)
        codes = np.concatenate([codes, np.zeros(-len(codes) % 4, np.uint8)]).reshape(-1, 4)
        packed = (codes[:, 0] << 6 | codes[:, 1] << 4 | codes[:, 2] << 2 | codes[:, 3])
        body = struct.pack("<II", len(seq), len(n_blocks))
        body += b"".join(struct.pack("<I", s) for s, _ in n_blocks)
        body += b"".join(struct.pack("<I", n) for _, n in n_blocks)
        body += struct.pack("<I", len(masks))
        body += b"".join(struct.pack("<I", s) for s, _ in masks)
        body += b"".join(struct.pack("<I", n) for _, n in masks)
        body += struct.pack("<I", 0) + packed.astype(np.uint8).tobytes()
        index += bytes([len(name.encode())]) + name.encode()
        index += struct.pack("<I", offset + len(bodies))
        bodies += body
    with open(path, "wb") as fh:
        fh.write(header + index + bodies)
    return str(path)


def bigwig_intervals(path) -> list[tuple[str, int, int, float]]:
    """Every interval of a bigWig, in file order (pyBigWig)."""
    bw = pyBigWig.open(str(path))
    try:
        return [(c, s, e, v) for c in bw.chroms() for s, e, v in (bw.intervals(c) or ())]
    finally:
        bw.close()


def write_bedgraph(path, intervals, *, gz: bool = False, header: bool = True,
                   shuffle_seed: int | None = None) -> str:
    """A bedGraph of ``(chrom, start, end, value)`` rows (values written exactly: repr of
    the float32 value), optionally gzip-compressed and in shuffled order."""
    rows = list(intervals)
    if shuffle_seed is not None:
        rows = [rows[i] for i in np.random.default_rng(shuffle_seed).permutation(len(rows))]
    text = "track type=bedGraph name=test\n" if header else ""
    text += "".join(f"{c}\t{s}\t{e}\t{float(np.float32(v))!r}\n" for c, s, e, v in rows)
    opener = gzip.open if gz else open
    with opener(path, "wt") as fh:
        fh.write(text)
    return str(path)


def write_bigbed(path, chrom_sizes: dict[str, int], features, value_field: str = "signalValue"
                 ) -> str:
    """A narrowPeak bigBed (pybigtools) of ``(chrom, start, end, value)``: the value in
    ``value_field`` (``signalValue`` or ``score``, the other one constant)."""
    import pybigtools

    def rest(i, v):
        score = int(v) if value_field == "score" else 500
        signal = float(v) if value_field == "signalValue" else 1.0
        return f"peak{i}\t{score}\t.\t{signal!r}\t-1\t-1\t-1"

    rows = sorted(features, key=lambda f: (list(chrom_sizes).index(f[0]), f[1]))
    bb = pybigtools.open(str(path), "w")
    bb.write(dict(chrom_sizes), iter([(c, int(s), int(e), rest(i, v))
                                      for i, (c, s, e, v) in enumerate(rows)]),
             autosql=NARROWPEAK_AUTOSQL)
    return str(path)


def write_alignments(path, chrom_sizes: dict[str, int], fmt: str = "bam",
                     reference: str | None = None) -> str:
    """A BAM (or CRAM against the FASTA ``reference``) of one 20 bp read per chromosome,
    written by pysam: aligned reads, what a GRO-seq user has before any coverage track."""
    import pysam

    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": c, "LN": int(n)} for c, n in chrom_sizes.items()]}
    mode = {"bam": "wb", "cram": "wc"}[fmt]
    with pysam.AlignmentFile(str(path), mode, header=header,
                             reference_filename=reference) as out:
        for i in range(len(chrom_sizes)):
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.reference_id, read.reference_start = f"r{i}", i, 10
            read.query_sequence, read.cigarstring = "ACGT" * 5, "20M"
            read.query_qualities = pysam.qualitystring_to_array("I" * 20)
            out.write(read)
    return str(path)


#: the conditions and the number of regulators of :func:`write_deeprage_files`
DEEPRAGE_CONDS = ["heat 5", "heat 10", "dtt", "diamide"]
DEEPRAGE_N_REG = 5


def write_random_genes_gtf(path, rng, sizes: dict[str, int], n: int = 12) -> list[str]:
    """A GTF of ``n`` 2 kb genes ``g0``, ``g1``, ... alternating between the first two
    chromosomes of ``sizes`` at random starts (6 kb from the start, 9 kb from the end), on
    both strands (every third on the minus); returns their ids."""
    chroms = list(sizes)[:2]
    genes = []
    with open(path, "w") as fh:
        for i in range(n):
            chrom = chroms[i % 2]
            start = int(rng.integers(6000, sizes[chrom] - 9000))
            genes.append(f"g{i}")
            fh.write(f"{chrom}\tt\tgene\t{start + 1}\t{start + 2000}\t.\t{'+-'[i % 3 == 0]}\t.\t"
                     f'gene_id "g{i}"; gene_type "protein_coding";\n')
    return genes


def write_triplets(path, states: np.ndarray) -> str:
    """DeepRAGE's sparse 1-based ``regulator condition value`` triplets of the non-zero
    ``states`` (regulators × conditions)."""
    with open(path, "w") as fh:
        for r, c in zip(*np.nonzero(states)):
            fh.write(f"{r + 1}\t{c + 1}\t{states[r, c]}\n")
    return str(path)


def write_deeprage_files(d, longer: dict[str, str] | None = None) -> dict:
    """Promoters FASTA (100 bp; ``longer``: gene → bases put before its record), sparse
    regulator triplets with their name files (regulator 0 on in every condition), and a
    log-fold-change table: 12 genes × the 4 :data:`DEEPRAGE_CONDS`, seeded. Returns
    ``{"dir", "cfg" (the deeprage section), "states", "genes"}``."""
    rng = np.random.default_rng(7)
    genes = [f"G{i:02d}" for i in range(12)]
    seqs = {g: "".join(rng.choice(list("ACGT"), 100)) for g in genes}
    for g, bases in (longer or {}).items():
        seqs[g] = bases + seqs[g]
    write_fasta(d / "promoters.fa", seqs)
    states = rng.choice([-1, 0, 1], size=(DEEPRAGE_N_REG, len(DEEPRAGE_CONDS)))
    states[0, :] = 1
    write_triplets(d / "reg.tab", states)
    (d / "conds.txt").write_text("".join(f"{i + 1}\t{c}\n" for i, c in enumerate(DEEPRAGE_CONDS)))
    (d / "regs.txt").write_text("".join(f"R{i}\n" for i in range(DEEPRAGE_N_REG)))
    lfc = pd.DataFrame(np.round(rng.normal(0, 1, (len(genes), len(DEEPRAGE_CONDS))), 3),
                       columns=DEEPRAGE_CONDS)
    lfc.insert(0, "gene", genes)
    lfc.to_csv(d / "lfc.tsv", sep="\t", index=False)
    cfg = {"expression": str(d / "lfc.tsv"), "regulators": str(d / "reg.tab"),
           "regulator_names": str(d / "regs.txt"), "condition_names": str(d / "conds.txt"),
           "promoters": str(d / "promoters.fa"), "promoter_length": 100}
    return {"dir": d, "cfg": cfg, "states": states, "genes": genes}
