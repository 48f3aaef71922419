"""Expression tables as a biologist has them: a TPM table without its header line,
featureCounts output (a ``#`` comment line first, text columns, counts), a YAML number as
``expression_column``, a regulator table's messages, Gasch's PCL matrix (``NAME``,
``GWEIGHT``, an ``EWEIGHT`` row) and counts given as TPM to the histone builder. Real
files (plain and gzip) in tmp_path; each test fails on the code before its fix."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest
from conftest import prepare_fails
from real_files import DEEPRAGE_CONDS, write_deeprage_files
from test_isegnet_inputs import _config, _labels, _sample, _world

from kerasgene.datasets import build
from kerasgene.datasets.regions import build_regions
from kerasgene.errors import InputFileError
from kerasgene.io.expression import read_expression_table
from kerasgene.io.tracks import write_bigwig


def _write(path, text: str, gz: bool = False) -> str:
    with (gzip.open(path, "wt") if gz else open(path, "w")) as fh:
        fh.write(text)
    return str(path)


@pytest.mark.parametrize("gz", [False, True])
def test_table_without_a_header_line_is_refused(tmp_path, gz):
    """A TPM table whose first line is a gene (``ENSG…<TAB>5.3``, no header) was read with
    that gene as the header: the gene lost and its TPM the column name, silently (iSEGnet
    read column '5.3')."""
    ids = _world(tmp_path)
    body = "".join(f"{g}\t{5.3 + i}\n" for i, g in enumerate(ids))
    name = "tpm.tsv.gz" if gz else "tpm.tsv"
    path = _write(tmp_path / name, body, gz)
    message = (f"{path}: line 1 looks like a data row, not a header ('ENSG00000.3' is shaped "
               "like the gene ids below it, '5.3' is a number); expected a header row naming "
               "the columns (gene id, then each sample or condition); if line 1 is the header "
               "(columns named by numbers), give the gene-id column by name (gene_column)")
    with pytest.raises(InputFileError) as err:
        read_expression_table(path)
    assert str(err.value) == message
    with pytest.raises(InputFileError, match="line 1 looks like a data row"):
        build_regions(_config(tmp_path, [_sample(tmp_path, name)]), tmp_path / "ds",
                      progress=False)
    entrez = _write(tmp_path / "entrez.tsv", "7157\t12.5\t3\n672\t0.4\t1\n")  # NCBI ids
    with pytest.raises(InputFileError, match=r"line 1 looks like a data row, not a header \('7157'"):
        read_expression_table(entrez)
    missing = _write(tmp_path / "na.tsv", "G1\tNA\t4\nG2\t1\t2\n")  # a missing first value
    with pytest.raises(InputFileError, match=r"line 1 looks like a data row, not a header \('G1'"):
        read_expression_table(missing)


@pytest.mark.parametrize("header", [
    "gene_id\tTPM", "Name\tGTEX-1117F-0226-SM-5GZZ7\tGTEX-111CU-1826-SM-5GZYN",
    "gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM",
    "Gene ID\tGene Name\tReference\tStrand\tStart\tEnd\tCoverage\tFPKM\tTPM",
    "gene\theat 5\theat 10\tdtt\tdiamide", "ENSG\tENCFF123ABC"])
def test_real_headers_are_read(tmp_path, header):
    """Headers of TPM tables, GTEx, RSEM, StringTie and DeepRAGE condition matrices read
    as headers (their value-column names are not all numbers)."""
    n = header.count("\t")
    path = _write(tmp_path / "t.tsv", header + "\n" + "".join(
        f"ENSG0000{i}\t" + "\t".join(["1.5"] * n) + "\n" for i in range(3)))
    table = read_expression_table(path, columns=[header.split("\t")[-1]])
    assert list(table.index) == ["ENSG00000", "ENSG00001", "ENSG00002"]


def test_samples_named_by_numbers_read_when_the_header_is_one(tmp_path):
    """A time course whose samples are named by minutes reads when its id column's name is
    unlike the ids below it or an id column's name (fly symbols under 'gene'), or when the
    id column is given by name."""
    path = _write(tmp_path / "time.tsv", "gene\t0\t15\t30\nTP53\t1\t2\t3\nMDM2\t4\t5\t6\n")
    assert list(read_expression_table(path).columns) == ["0", "15", "30"]
    lower = _write(tmp_path / "fly.tsv", "gene\t0\t15\nw\t1\t2\ndpp\t4\t5\n")  # fly symbols
    assert list(read_expression_table(lower).index) == ["w", "dpp"]
    assert list(read_expression_table(lower, "gene").index) == ["w", "dpp"]


def _featurecounts(path, ids, counts, bam: str, gz: bool = False) -> str:
    """featureCounts' gene-level output: the program line, then Geneid, Chr, Start, End,
    Strand, Length (exons joined by ';') and the BAM's counts column."""
    lines = [f'# Program:featureCounts v2.0.1; Command:"featureCounts" "-T" "8" "-p" "-a" '
             f'"gencode.v38.annotation.gtf" "-o" "counts.txt" "{bam}" ',
             f"Geneid\tChr\tStart\tEnd\tStrand\tLength\t{bam}"]
    for i, (g, c) in enumerate(zip(ids, counts, strict=True)):
        chrom, strand = ("chr1", "chr2")[i % 2], "+-"[i % 2]
        lines.append(f"{g}\t{chrom};{chrom};{chrom}\t{101 + i};{131 + i};{161 + i}\t"
                     f"{120 + i};{150 + i};{180 + i}\t{strand};{strand};{strand}\t60\t{c}")
    return _write(path, "\n".join(lines) + "\n", gz)


def test_featurecounts_output_reads_and_its_counts_are_warned_about(tmp_path, caplog):
    """featureCounts writes a '# Program:…' line above its header: the line was taken for
    the header ('7 fields but the header has 1'). Its BAM column is read, and counts that
    sum past a sample's 10⁶ TPM are warned about."""
    ids = _world(tmp_path)
    bam = "alignments/s1.sorted.bam"
    counts = [0 if i == 4 else 90_000 + 1000 * i for i in range(len(ids))]
    path = _featurecounts(tmp_path / "counts.txt.gz", ids, counts, bam, gz=True)
    table = read_expression_table(path, columns=[bam])
    assert table[bam].tolist() == counts and list(table.index) == ids
    with caplog.at_level(logging.WARNING):
        ds = build_regions(_config(tmp_path, [_sample(tmp_path, "counts.txt.gz", bam)]),
                           tmp_path / "ds", progress=False)
    assert (f"isegnet: sample 's1': {path} [{bam}] sums to 1.9e+06, more than the 1e+06 "
            "that a sample's TPMs sum to: read counts or another unit?") in caplog.text
    assert len(_labels(ds)) == len(ids) - 1  # the gene of count 0 is left out


def test_expression_column_given_as_a_yaml_number(tmp_path, capsys):
    """``expression_column: 1`` (YAML reads an int) was looked up as the integer 1 in a
    header whose column is the text '1': "no column 1 (columns: ['1', '2'])" for iSEGnet;
    histone's ``expression_column: 0`` fell back to the cell's own column, silently."""
    ids = _world(tmp_path)
    (tmp_path / "tpm.tsv").write_text("gene_id\t1\t2\n" + "".join(
        f"{g}\t{5 + i}\t{50 + i}\n" for i, g in enumerate(ids)))
    err = prepare_fails(tmp_path, capsys, "isegnet", "isegnet",
                        _config(tmp_path, [_sample(tmp_path, "tpm.tsv", 1)]))
    assert err == ("kerasgene: error: isegnet.samples[0].expression_column: expected a column "
                   "name (text), got the integer 1: quote it ('1') for the column named 1 "
                   "(columns are chosen by name, not by position)\n")
    ds = build_regions(_config(tmp_path, [_sample(tmp_path, "tpm.tsv", "2")]), tmp_path / "ok",
                       progress=False)
    assert _labels(ds)[ids[0]] == 50
    cells = {"cellA": {"marks": {"H3K4me3": "a.bw"}, "expression_column": 0}}
    err = prepare_fails(tmp_path, capsys, "histone_fcn", "histone_fcn",
                        {"source": "bigwig", "cells": cells, "gtf": "genes.gtf",
                         "expression": "tpm.tsv", "marks": ["H3K4me3"]})
    assert "histone.cells.cellA.expression_column: expected a column name (text), got the " \
           "integer 0: quote it ('0')" in err


@pytest.fixture
def deeprage(tmp_path):
    return write_deeprage_files(tmp_path)


def test_regulator_table_messages_name_regulators(deeprage, tmp_path, capsys):
    """Errors about a regulator table (rows are regulators) said 'gene'; one without its
    header line lost its first regulator (R0's states became the condition names)."""
    states = pd.DataFrame(deeprage["states"].astype(str), columns=DEEPRAGE_CONDS,
                          index=pd.Index([f"R{i}" for i in range(5)], name="regulator"))
    states.iloc[2, 1] = "up"
    states.to_csv(tmp_path / "reg.tsv", sep="\t")
    cfg = {**deeprage["cfg"], "regulators": str(tmp_path / "reg.tsv"),
           "regulator_format": "table", "condition_names": None}
    err = prepare_fails(tmp_path, capsys, "deeprage", "deeprage_concat", cfg)
    assert (f"{tmp_path / 'reg.tsv'}: non-numeric value 'up' for regulator 'R2', column "
            "'heat 10'; expected a number") in err
    states.iloc[2, 1] = "1"
    states.rename(index={"R3": "R1"}).to_csv(tmp_path / "reg.tsv", sep="\t")
    err = prepare_fails(tmp_path, capsys, "deeprage", "deeprage_concat", cfg)
    assert "reg.tsv: duplicate regulator id 'R1' (1 duplicate rows)" in err
    states.to_csv(tmp_path / "reg.tsv", sep="\t", header=False)  # no header line
    err = prepare_fails(tmp_path, capsys, "deeprage", "deeprage_concat", cfg)
    assert err.endswith("reg.tsv: line 1 looks like a data row, not a header ('R0' is shaped "
                        "like the regulator ids below it, '1' is a number); expected a header "
                        "row naming the columns (regulator id, then each sample or condition)\n")


def _gasch(path, lfc: pd.DataFrame) -> str:
    """Gasch et al. (2000) as the Stanford Microarray Database's PCL: YORF, NAME (name and
    description, free text), GWEIGHT (1), the conditions; an EWEIGHT row; empty cells for
    spots not measured."""
    names = ["TFC3      TRANSCRIPTION FACTOR TAU 138 KD SUBUNIT", "VPS8", "",
             "EFB1      TRANSLATION ELONGATION FACTOR EF-1BETA, GDP/GTP EXCHANGE FACTOR"]
    lines = ["\t".join(["YORF", "NAME", "GWEIGHT", *lfc.columns]),
             "\t".join(["EWEIGHT", "", "", *["1"] * lfc.shape[1]])]
    for i, (gene, row) in enumerate(lfc.iterrows()):
        cells = ["" if np.isnan(v) else f"{v:.2f}" for v in row]
        lines.append("\t".join([gene, names[i % len(names)], "1", *cells]))
    return _write(path, "\r\n".join(lines) + "\r\n")


def test_gasch_pcl_matrix_reads_its_conditions(deeprage, tmp_path):
    """Gasch's matrix was refused ('non-numeric value 'TFC3 …' …, column 'NAME'); with the
    NAME column absent, GWEIGHT became a condition whose every log-fold change is 1, and an
    EWEIGHT row a gene. NAME, GWEIGHT and the EWEIGHT row are PCL annotation: left out, so
    triplets matched by position meet the right conditions."""
    lfc = pd.read_csv(deeprage["cfg"]["expression"], sep="\t", index_col=0)
    lfc.iloc[3, 1] = np.nan
    cfg = {**deeprage["cfg"], "expression": _gasch(tmp_path / "gasch.pcl", lfc),
           "condition_names": None}
    table = read_expression_table(cfg["expression"])
    assert list(table.columns) == DEEPRAGE_CONDS and list(table.index) == list(lfc.index)
    ds = build("deeprage", cfg, tmp_path / "ds", progress=False)
    assert ds.conditions == DEEPRAGE_CONDS and ds.gene_ids == list(lfc.index)
    np.testing.assert_array_equal(ds.arrays["regulators"], deeprage["states"].T)
    written = lfc.map(lambda v: float(f"{v:.2f}")).to_numpy(np.float32)
    np.testing.assert_array_equal(ds.arrays["lfc"], written)
    ds = build("deeprage", {**cfg, "conditions": ["dtt", "diamide"]}, tmp_path / "two",
               progress=False)
    np.testing.assert_array_equal(ds.arrays["regulators"], deeprage["states"][:, 2:].T)


def test_histone_counts_given_as_tpm_are_warned_about(tmp_path, caplog):
    """The histone builder logs a bigWig cell's table as TPM; a column of read counts
    (summing to 1.8e6, where a sample's TPMs sum to 1e6) was taken for TPM without a word,
    as iSEGnet no longer does."""
    sizes = {"chr1": 8_000}
    rng = np.random.default_rng(0)
    marks = ["H3K4me3", "H3K27me3"]
    for m in marks:
        write_bigwig(tmp_path / f"{m}.bw", sizes, {"chr1": rng.gamma(2.0, 2.0, 8_000) + 0.1})
    genes = [f"g{i}" for i in range(6)]
    (tmp_path / "genes.gtf").write_text("".join(
        f"chr1\tt\tgene\t{1001 + 1000 * i}\t{1500 + 1000 * i}\t.\t+\t.\tgene_id \"{g}\";\n"
        for i, g in enumerate(genes)))
    (tmp_path / "counts.tsv").write_text("gene_id\tcellA\n" + "".join(
        f"{g}\t{300_000 + i}\n" for i, g in enumerate(genes)))
    cfg = {"cells": {"cellA": {"marks": {m: str(tmp_path / f"{m}.bw") for m in marks}}},
           "gtf": str(tmp_path / "genes.gtf"), "expression": str(tmp_path / "counts.tsv"),
           "marks": marks, "window": 1000, "n_bins": 10}
    with caplog.at_level(logging.WARNING):
        build("histone", cfg, tmp_path / "ds", progress=False)
    assert (f"histone: cell 'cellA': {tmp_path / 'counts.tsv'} [cellA] sums to 1.8e+06, more "
            "than the 1e+06 that a sample's TPMs sum to: read counts or another unit?"
            ) in caplog.text


def test_featurecounts_and_quantifier_counts_are_warned_about_whatever_their_sum(tmp_path,
                                                                                 caplog):
    """featureCounts output of a small library (its counts summing below 1.1 million) was
    read as TPM without a word — the model learnt log2(count + 1) — as was RSEM's
    ``expected_count`` named by expression_column; only counts summing past 1.1×10⁶ were
    warned about. A column of read counts by the table's format is now warned about,
    naming the file and the column; a TPM column is not."""
    ids = _world(tmp_path)
    bam = "/data/bam/s1.sorted.bam"
    path = _featurecounts(tmp_path / "counts.txt", ids, [29 + i for i in range(len(ids))], bam)
    with caplog.at_level(logging.WARNING):
        ds = build_regions(_config(tmp_path, [_sample(tmp_path, "counts.txt")]),
                           tmp_path / "fc", progress=False)
    assert _labels(ds) == {g: 29 + i for i, g in enumerate(ids)}  # read as they are
    assert (f"{path}: reads 1 column(s) of read counts, not TPM: '{bam}' (featureCounts' reads "
            "per gene); a model trained on them learns log2(count + 1), not log2(TPM + 1)"
            ) in caplog.text
    assert "sums to" not in caplog.text  # 4,270 reads: the sum said nothing
    rsem = tmp_path / "genes.results"
    rsem.write_text("gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\n"
                    + "".join(f"{g}\tENST{i}\t900\t750\t{12 + i}.00\t{3.5 + i}\n"
                              for i, g in enumerate(ids)))
    for column, warned in [("expected_count", True), ("TPM", False)]:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            build_regions(_config(tmp_path, [_sample(tmp_path, "genes.results", column)]),
                          tmp_path / column, progress=False)
        assert ("'expected_count' (RSEM's expected_count)" in caplog.text) is warned
        assert ("read counts, not TPM" in caplog.text) is warned
