"""Progress of the long steps of ``kerasgene variants`` and ``kerasgene predict`` (a tqdm
bar counting every variant / gene, stepped per block or chunk), which must leave the
results unchanged: same table as without the bar and whatever the block size, on
pysam-written VCFs (plain, bgzip + tabix) with multi-allelic records, indels, a symbolic
allele, both strands, records outside every window, on an unknown chromosome and past a
chromosome end."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pysam
import pytest

keras = pytest.importorskip("keras")

from conftest import write_fasta  # noqa: E402
from test_variants import base_at_model, write_vcf  # noqa: E402

from kerasgene.explain import readers as R  # noqa: E402
from kerasgene.explain import variants as V  # noqa: E402
from kerasgene.io.annotation import Gene  # noqa: E402
from kerasgene.io.genome import Genome  # noqa: E402
from kerasgene.serving.client import Client  # noqa: E402

FLANKS = ((20, 10), (10, 10))  # windows of 50 bp


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A FASTA (chr1 400 bp, chr2 300 bp), a + gene on chr1, a − gene on chr2, and the
    same VCF written plain and bgzipped with a tabix index."""
    d = tmp_path_factory.mktemp("scale")
    rng = np.random.default_rng(7)
    s1, s2 = ("".join(rng.choice(list("ACGT"), n)) for n in (400, 300))
    fasta = write_fasta(d / "genome.fa", {"chr1": s1, "chr2": s2})
    other = {b: "ACGT"[("ACGT".index(b) + 1) % 4] for b in "ACGT"}
    records = [
        ("chr1", 25, "snv_plus", s1[24], other[s1[24]]),
        ("chr1", 30, "multi", s1[29], f"{other[s1[29]]},{other[other[s1[29]]]}"),
        ("chr1", 44, "del", s1[43:46], s1[43]),
        ("chr1", 48, "ins", s1[47], s1[47] + "GG"),
        ("chr1", 60, "symbolic", s1[59], "<DEL>"),
        ("chr1", 250, "outside", s1[249], other[s1[249]]),
        ("chr1", 399, "past_end", s1[398:400] + "A", s1[398]),
        ("chr2", 95, "snv_minus_tts", s2[94], other[s2[94]]),
        ("chr2", 205, "snv_minus_tss", s2[204], other[s2[204]]),
        ("chr2", 299, "chrom_end", s2[298], other[s2[298]]),
        ("chrZ", 10, "unknown", "A", "C"),
    ]
    plain = write_vcf(d / "calls.vcf", records)
    bgzip = write_vcf(d / "calls.vcf.gz", records, "wz")
    pysam.tabix_index(bgzip, preset="vcf", force=True)
    genes = [Gene("p", "P", "chr1", 40, 120, "+"), Gene("m", "M", "chr2", 100, 200, "-")]
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2)), "m": np.ones((50, 2))},
                             "rep2": {"p": np.ones((50, 2))}}, *FLANKS)
    with Genome(fasta) as genome:
        yield genome, genes, reader, plain, bgzip


@pytest.mark.parametrize("which", [3, 4], ids=["plain", "bgzip_tabix"])
def test_variant_effects_progress_counts_every_variant_and_changes_nothing(
        world, which, capsys, caplog):
    genome, genes, reader, *_ = world
    vcf = world[which]
    model = base_at_model(50, 3, "A")
    n = len(V.read_vcf(vcf))  # one per ALT allele, the symbolic one skipped
    assert n == 11
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        shown = V.variant_effects(model, vcf, genome, genes, reader, block_size=3)
    err = capsys.readouterr().err
    assert "variant effects" in err and f"{n}/{n}" in err
    quiet = V.variant_effects(model, vcf, genome, genes, reader, block_size=n, progress=False)
    assert "variant effects" not in capsys.readouterr().err
    pd.testing.assert_frame_equal(shown, quiet)
    # every allele accounted for: a row (per gene and context) or counted outside
    outside = int(re.search(r"(\d+) of \d+ variants lie outside every gene window",
                            caplog.text).group(1))
    assert len(shown[["variant_id", "alt"]].drop_duplicates()) + outside == n
    assert set(shown["variant_id"]) >= {"multi", "del", "ins", "snv_minus_tss",
                                        "snv_minus_tts", "past_end", "unknown"}
    assert dict(zip(shown["variant_id"], shown["status"]))["past_end"] == "past_chrom_end"
    assert dict(zip(shown["variant_id"], shown["status"]))["unknown"] == "unknown_chrom"
    ok = shown[shown.status == "ok"]
    assert ok["delta"].notna().all() and len(ok) == len(ok.drop_duplicates(
        ["variant_id", "alt", "gene_id", "context"]))


class LocalClient(Client):
    """:meth:`Client.predict_genes` without a server: a sequence-only export whose
    prediction is the number of A in the window."""

    def __init__(self):
        self.version, self.model_name = 1, "toy"
        self._constants_version = 1
        self._constants = {"inputs": {"sequence": {"shape": [None, 50, 4]}},
                           "preprocessing": {"tss_flank": list(FLANKS[0]),
                                             "tts_flank": list(FLANKS[1])}}

    def constants(self):
        return self._constants

    def predict(self, inputs, version=None):
        return {"expression": inputs["sequence"][:, :, 0].sum(axis=1, keepdims=True)}


def test_predict_genes_progress_counts_every_gene_and_changes_nothing(world, capsys):
    genome, genes, *_ = world
    many = [Gene(f"g{i}", f"G{i}", g.chrom, g.start + i, g.end + i, g.strand)
            for i in range(7) for g in genes] + [Gene("z", "Z", "chrZ", 1, 50, "+")]
    client = LocalClient()
    capsys.readouterr()
    shown = client.predict_genes(many, genome, None, chunk_size=3)
    err = capsys.readouterr().err
    assert "predict genes" in err and "14/14" in err  # the chrZ gene is not predicted
    quiet = client.predict_genes(many, genome, None, chunk_size=100, progress=False)
    assert "predict genes" not in capsys.readouterr().err
    np.testing.assert_array_equal(shown["expression"], quiet["expression"])
    assert np.isnan(shown["expression"][-1]).all() and np.isfinite(shown["expression"][:-1]).all()
