"""iSEGnet builds from a biologist's own files: quantifier tables (RSEM, StringTie) with
text columns beside their TPM, biotype filters that keep nothing, samples reading one
expression column, counts or logged values given as TPM, one file for two tracks, and a
track without data on a chromosome with genes. Real files (pyfaidx FASTA, pyBigWig
tracks, GTF and TPM tables) in tmp_path."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from conftest import write_fasta

from kerasgene.datasets.regions import build_regions
from kerasgene.errors import ConfigError
from kerasgene.io.tracks import write_bigwig

SIZES = {"chr1": 12_000, "chr2": 12_000}
FLANKS = {"tss_flank": [40, 20], "tts_flank": [20, 20], "track_order": "as_given"}


def _world(d, n=20, sizes=SIZES, biotype=True):
    """FASTA, a DNase bigWig with signal everywhere and a GTF of ``n`` genes (GENCODE-style
    versioned ids, both strands, alternating chromosomes); returns the gene ids."""
    rng = np.random.default_rng(0)
    write_fasta(d / "genome.fa", {c: "".join(rng.choice(list("ACGT"), L))
                                  for c, L in sizes.items()})
    write_bigwig(d / "dnase.bw", sizes, {c: np.round(rng.gamma(2.0, 2.0, L), 2) + 0.1
                                         for c, L in sizes.items()})
    chroms, lines, ids = list(sizes), [], []
    for i in range(n):
        chrom, start = chroms[i % len(chroms)], 100 + (i // len(chroms)) * 100
        gid = f"ENSG{i:05d}.3"
        kind = ' gene_type "protein_coding";' if biotype else ""
        lines.append(f"{chrom}\tHAVANA\tgene\t{start + 1}\t{start + 80}\t.\t{'+-'[i % 2]}\t.\t"
                     f'gene_id "{gid}"; gene_name "G{i}";{kind}\n')
        ids.append(gid)
    (d / "genes.gtf").write_text("".join(lines))
    return ids


def _config(d, samples, **kw):
    return {"gtf": str(d / "genes.gtf"), "fasta": str(d / "genome.fa"), "samples": samples,
            **FLANKS, **kw}


def _sample(d, table, column=None, name="s1", tracks=None):
    return {"name": name, "expression": str(d / table), "expression_column": column,
            "tracks": tracks or {"DNase": str(d / "dnase.bw")}}


def _labels(ds) -> dict[str, float]:
    """gene id → TPM back from the label log2(TPM + 1), of the dataset's first sample."""
    first = ds.index["sample"] == ds.index["sample"].iloc[0]
    y = np.asarray(ds.arrays["expression"])[first.to_numpy()]
    return dict(zip(ds.index.gene_id[first], np.round(2.0 ** y.astype(np.float64) - 1, 2)))


def test_quantifier_tables_are_read_by_their_tpm_column(tmp_path):
    """RSEM's genes.results and StringTie's gene abundances (-A) hold text columns beside
    their TPM (transcript_id(s); Gene Name, Reference, Strand): with expression_column: TPM
    they are read — every such table was refused ("non-numeric value 'ENST…' …, column
    'transcript_id(s)'"), whichever column was asked for."""
    ids = _world(tmp_path)
    rsem = ["gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM"]
    rsem += [f"{g}\tENST{i:05d}.1,ENST{i:05d}.2\t1500.00\t1350.00\t{900 + i}.00\t{10 + i}.50\t"
             f"{8 + i}.10" for i, g in enumerate(ids)]
    (tmp_path / "s1.genes.results").write_text("\n".join(rsem) + "\n")
    tie = ["Gene ID\tGene Name\tReference\tStrand\tStart\tEnd\tCoverage\tFPKM\tTPM"]
    tie += [f"{g}\t{'-' if i == 3 else f'G{i}'}\tchr{1 + i % 2}\t{'+-'[i % 2]}\t1\t80\t3.2\t"
            f"1.5\t{20 + i}.25" for i, g in enumerate(ids)]
    (tmp_path / "s1_gene_abund.tab").write_text("\n".join(tie) + "\n")
    for table, tpm in (("s1.genes.results", 10.5), ("s1_gene_abund.tab", 20.25)):
        ds = build_regions(_config(tmp_path, [_sample(tmp_path, table, "TPM")]),
                           tmp_path / table.replace(".", "_"), progress=False)
        assert _labels(ds) == {g: tpm + i for i, g in enumerate(ids)}, table


def test_biotypes_that_keep_no_gene_name_the_biotypes_of_the_annotation(tmp_path):
    """``biotypes: [protein-coding]`` (GENCODE writes protein_coding), or biotypes with an
    annotation that has none (UCSC's GTFs): a ConfigError naming the annotation and what it
    holds — it was "tpm.tsv: none of its 20 gene ids … is in the annotation", which
    pointed at the table."""
    ids = _world(tmp_path)
    (tmp_path / "tpm.tsv").write_text("gene_id\tTPM\n" + "".join(f"{g}\t5\n" for g in ids))
    cfg = _config(tmp_path, [_sample(tmp_path, "tpm.tsv")], biotypes=["protein-coding"])
    gtf = tmp_path / "genes.gtf"
    with pytest.raises(ConfigError, match=rf"biotypes \['protein-coding'\]: no gene of {gtf} has "
                                          r"one of them; its genes' biotypes: 'protein_coding' "
                                          r"\(20\); expected names as the annotation writes"):
        build_regions(cfg, tmp_path / "a", progress=False)
    _world(tmp_path, biotype=False)
    with pytest.raises(ConfigError, match=r"none of its 20 genes has a biotype \(gene_type, "
                                          r"gene_biotype, biotype attribute\)"):
        build_regions({**cfg, "biotypes": ["protein_coding"]}, tmp_path / "b", progress=False)


def test_samples_reading_one_expression_column_are_warned_about(tmp_path, caplog):
    """Two replicates whose expression_column was copied (rep2 reads rep1's column): each
    gene gets one label in both, and a warning names the samples, column and file — it was
    silent."""
    ids = _world(tmp_path)
    (tmp_path / "tpm.tsv").write_text("gene_id\trep1\trep2\n" + "".join(
        f"{g}\t{5 + i}\t{50 + 3 * i}\n" for i, g in enumerate(ids)))
    samples = [_sample(tmp_path, "tpm.tsv", "rep1", "rep1"),
               _sample(tmp_path, "tpm.tsv", "rep1", "rep2")]
    with caplog.at_level(logging.WARNING):
        build_regions(_config(tmp_path, samples), tmp_path / "ds", progress=False)
    assert (f"isegnet: samples 'rep1', 'rep2' read one column, 'rep1' of {tmp_path / 'tpm.tsv'}: "
            "each gene gets the same label in all of them" in caplog.text)
    caplog.clear()
    samples[1]["expression_column"] = "rep2"
    with caplog.at_level(logging.WARNING):
        build_regions(_config(tmp_path, samples), tmp_path / "ok", progress=False)
    assert "read one column" not in caplog.text


def test_counts_or_logged_values_given_as_tpm_are_warned_about(tmp_path, caplog):
    """A column of read counts (summing to 4.2e7, where a sample's TPMs sum to 1e6) or of
    log2(TPM + 1) values (at most 14.6 over 1,200 expressed genes: the labels logged twice)
    is warned about — both were taken for TPM without a word."""
    ids = _world(tmp_path, n=1200, sizes={"chr1": 61_000, "chr2": 61_000})
    rng = np.random.default_rng(1)
    counts = 200_000 * (1 + np.arange(20))
    (tmp_path / "counts.tsv").write_text("gene_id\tcount\n" + "".join(
        f"{g}\t{c}\n" for g, c in zip(ids, counts)))
    logged = np.round(np.log2(rng.gamma(0.8, 60.0, len(ids)) + 1), 3) + 0.01
    (tmp_path / "log.tsv").write_text("gene_id\tlog2tpm\n" + "".join(
        f"{g}\t{v}\n" for g, v in zip(ids, logged)))
    for table, message in (
            ("counts.tsv", f"isegnet: sample 's1': {tmp_path / 'counts.tsv'} [count] sums to 4.2e+07, "
                           "more than the 1e+06 that a sample's TPMs sum to: read counts"),
            ("log.tsv", f"isegnet: sample 's1': {tmp_path / 'log.tsv'} [log2tpm] reaches only "
                        f"{logged.max():.3g} over 1200 expressed genes, as log-transformed "
                        "values")):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            build_regions(_config(tmp_path, [_sample(tmp_path, table)]), tmp_path / f"ds_{table}",
                          progress=False)
        assert message in caplog.text, table
    (tmp_path / "tpm.tsv").write_text("gene_id\tTPM\n" + "".join(  # real TPMs: no warning
        f"{g}\t{v:.3f}\n" for g, v in zip(ids, 2.0 ** logged - 1)))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_regions(_config(tmp_path, [_sample(tmp_path, "tpm.tsv")]), tmp_path / "tpm",
                      progress=False)
    assert "TPM" not in caplog.text


def test_two_tracks_of_a_sample_naming_one_file_is_an_error(tmp_path):
    """A path copied from the DNase entry to H3K4me3 (here through another spelling of the
    path) gave two identical channels without a word; now a ConfigError naming both. So
    does a copy of the file under the other track's name (refused by chromatin and histone
    since stop 40; iSEGnet compared paths only)."""
    ids = _world(tmp_path)
    (tmp_path / "tpm.tsv").write_text("gene_id\tTPM\n" + "".join(f"{g}\t5\n" for g in ids))
    tracks = {"DNase": str(tmp_path / "dnase.bw"), "H3K4me3": f"{tmp_path}/./dnase.bw"}
    cfg = _config(tmp_path, [_sample(tmp_path, "tpm.tsv", tracks=tracks)])
    with pytest.raises(ConfigError, match=r"isegnet\.samples\[0\]\.tracks: DNase and H3K4me3 "
                                          r"name one file \(.*dnase\.bw\); expected each "
                                          r"track's own file"):
        build_regions(cfg, tmp_path / "ds", progress=False)
    shutil.copy(tmp_path / "dnase.bw", tmp_path / "h3k4me3.bw")  # a copy under its name
    cfg = _config(tmp_path, [_sample(tmp_path, "tpm.tsv", tracks={
        "DNase": str(tmp_path / "dnase.bw"), "H3K4me3": str(tmp_path / "h3k4me3.bw")})])
    with pytest.raises(ConfigError, match=r"isegnet\.samples\[0\]\.tracks: DNase and H3K4me3 "
                                          r"hold identical data \(.*dnase\.bw and .*h3k4me3\.bw "
                                          r"are byte-identical: a file copied under another "
                                          r"name\?\); expected each track's own file"):
        build_regions(cfg, tmp_path / "ds", progress=False)


def test_track_without_data_on_a_chromosome_with_genes_is_warned_about(tmp_path, caplog):
    """A bigWig whose header lists chr2 but that holds data on chr1 only: the 10 chr2 genes'
    DNase windows are all 0, and a warning now names the file, sample and chromosome (the
    histone builder's rule) — it was silent."""
    ids = _world(tmp_path)
    write_bigwig(tmp_path / "chr1_only.bw", SIZES, {"chr1": np.full(SIZES["chr1"], 3.0)})
    (tmp_path / "tpm.tsv").write_text("gene_id\tTPM\n" + "".join(f"{g}\t5\n" for g in ids))
    tracks = {"DNase": str(tmp_path / "chr1_only.bw")}
    with caplog.at_level(logging.WARNING):
        ds = build_regions(_config(tmp_path, [_sample(tmp_path, "tpm.tsv", tracks=tracks)]),
                           tmp_path / "ds", progress=False)
    on_chr2 = (ds.index.chrom == "chr2").to_numpy()
    assert on_chr2.sum() == 10 and not np.asarray(ds.arrays["epigenome"])[on_chr2].any()
    assert (f"isegnet: {tmp_path / 'chr1_only.bw'} (sample s1, track DNase): no signal around "
            "any of the 10 genes on 1 of the 2 chromosomes with genes (chr2): their DNase "
            "windows are all 0" in caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # signal on both: no warning
        build_regions(_config(tmp_path, [_sample(tmp_path, "tpm.tsv")]), tmp_path / "ok",
                      progress=False)
    assert "no signal around" not in caplog.text


@pytest.mark.parametrize(("split", "message"), [
    ({"fractions": [0.6, 0.2, 0.3]}, "split: fractions must be three positive numbers"),
    ({"fractons": [0.6, 0.2, 0.2]}, "split: unknown key 'fractons' for method 'random'; did "
                                    "you mean 'fractions'?"),
    ({"method": "chromosme"}, "split.method: unknown method 'chromosme' (did you mean "
                              "'chromosome'?)"),
])
def test_the_split_is_checked_before_any_file_is_read(tmp_path, split, message):
    """A wrong ``split`` was refused only after the annotation, the expression tables and
    every track had been read (minutes on real data); here no input file exists at all."""
    cfg = _config(tmp_path, [_sample(tmp_path, "tpm.tsv")], split=split)
    with pytest.raises(ConfigError) as err:
        build_regions(cfg, tmp_path / "ds", progress=False)
    assert str(err.value).startswith(message)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
