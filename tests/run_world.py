"""A tiny iSEGnet world of real files (pyfaidx FASTA, pyBigWig tracks, plain GTF and TPM
table) and its run configuration, for the fast run-integrity and config tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from conftest import write_fasta

from kerasgene.io.tracks import write_bigwig

N_GENES, SPACING, LENGTH = 40, 400, 9000
#: DNase with a non-default transform (5 bp regions): predict must apply it, not the paper's
DNASE = {"name": "neglog10p", "resolution": 5}


def write_world(d: Path) -> dict:
    """Genes every 400 bp on two chromosomes; DNase and WGBS bigWigs; log2(TPM + 1)
    follows the DNase level. Returns the run config (also written to ``d/run.yaml``)."""
    rng = np.random.default_rng(0)
    sizes = {"chr1": LENGTH, "chr2": LENGTH}
    write_fasta(d / "genome.fa", {c: "".join(rng.choice(list("ACGT"), n))
                                  for c, n in sizes.items()})
    dnase = {c: np.round(rng.gamma(2.0, 2.0, n), 2) for c, n in sizes.items()}
    wgbs = {c: np.round(rng.uniform(0, 100, n), 1) for c, n in sizes.items()}
    gtf, tpm = [], []
    for i in range(N_GENES):
        chrom = "chr1" if i < N_GENES // 2 else "chr2"
        start = 300 + (i % (N_GENES // 2)) * SPACING
        gtf.append(f"{chrom}\tt\tgene\t{start + 1}\t{start + 200}\t.\t{'+-'[i % 2]}\t.\t"
                   f'gene_id "g{i:02d}"; gene_name "G{i:02d}"; gene_type "protein_coding";\n')
        level = float(dnase[chrom][start - 40 : start + 60].mean())
        tpm.append((f"g{i:02d}", 2 ** level - 1))
    (d / "genes.gtf").write_text("".join(gtf))
    write_bigwig(d / "dnase.bw", sizes, dnase)
    write_bigwig(d / "wgbs.bw", sizes, wgbs)
    pd.DataFrame(tpm, columns=["gene_id", "s1"]).to_csv(d / "tpm.tsv", sep="\t", index=False)
    config = {
        "system": "isegnet", "seed": 0, "data_dir": str(d), "run_dir": str(d / "run"),
        "data": {"gtf": "genes.gtf", "fasta": "genome.fa",
                 "samples": [{"name": "s1", "expression": "tpm.tsv", "expression_column": "s1",
                              "tracks": {"DNase": {"path": "dnase.bw", "transform": DNASE},
                                         "WGBS": "wgbs.bw"}}],
                 "tss_flank": [40, 20], "tts_flank": [20, 20], "track_order": "as_given"},
        "model": {"name": "linear"},
        "training": {"epochs": 2, "batch_size": 8, "verbose": 0, "patience": 2},
    }
    (d / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config
