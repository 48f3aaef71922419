"""Expression tables in the layouts real tools write: GTEx's GCT 1.2 (gzip, versioned
Ensembl ids, a Description column), a ``#``-prefixed header (``#gene_id<TAB>TPM``), a time
course named by minutes over fly gene symbols, and RSEM / featureCounts output and Kaggle
npz expression given to the histone builder. Real files (plain and gzip) in tmp_path;
each test fails on the code before its fix."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest
from test_expression_inputs import _featurecounts
from test_isegnet_inputs import _config, _labels, _sample, _world

from kerasgene.datasets import build
from kerasgene.datasets.regions import build_regions
from kerasgene.errors import InputFileError
from kerasgene.io.expression import read_expression_table, sample_column
from kerasgene.io.tracks import write_bigwig

GTEX = ("GTEX-1117F-0226-SM-5GZZ7", "GTEX-111CU-1826-SM-5GZYN")


def _write(path, text: str, gz: bool = False) -> str:
    with (gzip.open(path, "wt") if gz else open(path, "w")) as fh:
        fh.write(text)
    return str(path)


def _gct(ids, dims: str | None = None, version: str = "#1.2") -> str:
    """GTEx's gene TPM GCT: ``#1.2``, rows<TAB>samples, Name, Description, samples; ids
    with another Ensembl version than the annotation's (``.7`` for ``.3``)."""
    rows = [f"{g.split('.')[0]}.7\tG{i}\t{1.5 + i}\t{40 + i}" for i, g in enumerate(ids)]
    head = [version, dims or f"{len(ids)}\t{len(GTEX)}", "\t".join(["Name", "Description", *GTEX])]
    return "\n".join(head + rows) + "\n"


@pytest.mark.parametrize("name", ["GTEx_Analysis_v8_gene_tpm.gct.gz", "gtex_tpm.txt.gz"])
def test_gtex_gct_is_read_and_its_dimensions_checked(tmp_path, name):
    """A GTEx GCT was refused ('3: 4 fields but the header has 2': its dimensions line was
    taken for the header). Told by its '#1.2' line, whatever its name: the Description
    column is annotation, expression_column picks a sample, versioned ids match the
    annotation's other version, and a dimensions line that the table contradicts is an
    error naming both."""
    ids = _world(tmp_path)
    path = _write(tmp_path / name, _gct(ids), gz=True)
    table = read_expression_table(path)
    assert list(table.columns) == list(GTEX)
    assert list(table.index) == [f"{g.split('.')[0]}.7" for g in ids]
    ds = build_regions(_config(tmp_path, [_sample(tmp_path, name, GTEX[1])]), tmp_path / "ds",
                       progress=False)
    assert _labels(ds) == {g: 40 + i for i, g in enumerate(ids)}
    short = _write(tmp_path / "short.gct", _gct(ids, dims=f"56200\t{len(GTEX)}"))
    with pytest.raises(InputFileError) as err:
        read_expression_table(short)
    assert str(err.value) == (
        f"{short}:2: GCT dimensions line says 56200 rows and 2 samples, the table has 20 rows "
        "and 2 samples (after Name and Description); expected the same counts (a truncated "
        "or edited file?)")
    v13 = _write(tmp_path / "v13.gct", _gct(ids, version="#1.3"))
    with pytest.raises(InputFileError, match=r"v13\.gct:1: GCT version '1\.3'; expected GCT 1\.2"):
        read_expression_table(v13)


def test_time_course_named_by_minutes_over_fly_symbols(tmp_path):
    """``gene<TAB>0<TAB>15<TAB>30`` over fly symbols (w, dpp) was refused as a data row
    ('gene' is shaped like 'w'); an id column's name is a header. A table without a header
    is still refused."""
    path = _write(tmp_path / "fly.tsv", "gene\t0\t15\t30\nw\t1\t2\t3\ndpp\t4\t5\t6\n")
    table = read_expression_table(path)
    assert list(table.columns) == ["0", "15", "30"] and list(table.index) == ["w", "dpp"]
    assert list(read_expression_table(_write(tmp_path / "id.tsv", "Name\t0\t15\nw\t1\t2\n"
                                             "dpp\t4\t5\n")).index) == ["w", "dpp"]
    bare = _write(tmp_path / "bare.tsv", "w\t1\t2\t3\ndpp\t4\t5\t6\n")
    with pytest.raises(InputFileError, match=r"line 1 looks like a data row, not a header \('w'"):
        read_expression_table(bare)


@pytest.mark.parametrize("gz", [False, True])
def test_hash_prefixed_header_is_the_header(tmp_path, gz):
    """``#gene_id<TAB>TPM`` (as bedtools / tabix tables write their header) was skipped as a
    comment, and the first gene refused as a header without a word about that line. It is
    the header when the line below has its fields and looks like a data row; a '#' line
    that cannot be the header is named in the error."""
    ids = _world(tmp_path)
    body = "".join(f"{g}\t{5 + i}\t{50 + i}\n" for i, g in enumerate(ids))
    name = "tpm.tsv.gz" if gz else "tpm.tsv"
    _write(tmp_path / name, "#gene_id\tTPM\trep2\n" + body, gz)
    table = read_expression_table(tmp_path / name, "gene_id", ["rep2"])
    assert list(table.index) == ids and table["rep2"].tolist() == [50 + i for i in range(20)]
    ds = build_regions(_config(tmp_path, [_sample(tmp_path, name, "TPM")]), tmp_path / "ds",
                       progress=False)
    assert _labels(ds) == {g: 5 + i for i, g in enumerate(ids)}
    spaced = _write(tmp_path / "spaced.tsv", "# gene_id TPM rep2\n" + body)
    with pytest.raises(InputFileError) as err:
        read_expression_table(spaced)
    assert str(err.value).endswith(
        "; line 1 starts with '#' and was skipped as a comment (a '#' line is read as the "
        "header only with line 2's number of fields)")


def _histone_world(d):
    """Two mark bigWigs over chr1 and a GTF of six genes; returns the config and genes."""
    rng = np.random.default_rng(0)
    marks = ["H3K4me3", "H3K27me3"]
    for m in marks:
        write_bigwig(d / f"{m}.bw", {"chr1": 8_000},
                     {"chr1": rng.gamma(2.0, 2.0, 8_000) + 0.1})
    genes = [f"g{i}" for i in range(6)]
    (d / "genes.gtf").write_text("".join(
        f"chr1\tt\tgene\t{1001 + 1000 * i}\t{1500 + 1000 * i}\t.\t+\t.\tgene_id \"{g}\";\n"
        for i, g in enumerate(genes)))
    cfg = {"cells": {"cellA": {"marks": {m: str(d / f"{m}.bw") for m in marks}}},
           "gtf": str(d / "genes.gtf"), "marks": marks, "window": 1000, "n_bins": 10}
    return cfg, genes


def test_histone_reads_rsem_and_featurecounts_tables(tmp_path, caplog):
    """The histone builder read a bigWig cell's whole table: RSEM's genes.results was
    refused ("non-numeric value 'ENST…' …, column 'transcript_id(s)'") and featureCounts'
    ('… column 'Chr''), as iSEGnet reads them. Only the cell's column is read, and
    featureCounts' counts are warned about."""
    cfg, genes = _histone_world(tmp_path)
    rsem = ["gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM\tFPKM"]
    rsem += [f"{g}\tT{i}.1,T{i}.2\t1500.00\t1350.00\t{900 + i}.00\t{10 + i}.50\t{8 + i}.10"
             for i, g in enumerate(genes)]
    rsem_path = _write(tmp_path / "cellA.genes.results", "\n".join(rsem) + "\n")
    cell = {**cfg["cells"]["cellA"], "expression_column": "TPM"}
    ds = build("histone", {**cfg, "cells": {"cellA": cell}, "expression": rsem_path},
               tmp_path / "rsem", progress=False)
    expr = 2.0 ** np.asarray(ds.arrays["expression"], np.float64) - 1
    np.testing.assert_allclose(expr, [10.5 + i for i in range(6)], rtol=1e-5)
    bam = "cellA.sorted.bam"
    counts = _featurecounts(tmp_path / "counts.txt.gz", genes, [300_000 + i for i in range(6)],
                            bam, gz=True)
    cell = {**cfg["cells"]["cellA"], "expression_column": bam}
    with caplog.at_level(logging.WARNING):
        build("histone", {**cfg, "cells": {"cellA": cell}, "expression": counts},
              tmp_path / "fc", progress=False)
    assert (f"histone: cell 'cellA': {counts} [{bam}] sums to 1.8e+06, more than the 1e+06 "
            "that a sample's TPMs sum to: read counts or another unit?") in caplog.text
    ds = build("histone", {**cfg, "expression": rsem_path}, tmp_path / "tpm", progress=False)
    expr = 2.0 ** np.asarray(ds.arrays["expression"], np.float64) - 1  # no expression_column
    np.testing.assert_allclose(expr, [10.5 + i for i in range(6)], rtol=1e-5)
    other = _write(tmp_path / "cellB.tsv", "gene\tcellB\n" + "".join(f"{g}\t1\n" for g in genes))
    with pytest.raises(InputFileError, match=r"no column 'cellA' \(columns: 'cellB'\); "
                       r"expected a column named like cell 'cellA', or its expression_column"):
        build("histone", {**cfg, "expression": other}, tmp_path / "nocol", progress=False)


@pytest.mark.parametrize("kind", ["kallisto", "rsem", "featurecounts"])
def test_a_quantifier_table_without_expression_column_reads_its_expression(tmp_path, caplog,
                                                                           kind):
    """Without ``expression_column`` (and no column named like the sample) iSEGnet read the
    table's first column: kallisto's ``abundance.tsv`` trained on transcript lengths (a
    warning said 'first of its 4 sample columns'), RSEM's was refused on its
    transcript_id(s). The quantifier's TPM is read; featureCounts' one BAM column is the
    sample (its counts warned about), never Length."""
    ids = _world(tmp_path)
    tpm = {g: 3.5 + i for i, g in enumerate(ids)}
    if kind == "kallisto":
        text = "target_id\tlength\teff_length\test_counts\ttpm\n" + "".join(
            f"{g}\t{1500 + i}\t{1300 + i}\t{20 * i}.0\t{tpm[g]}\n" for i, g in enumerate(ids))
    elif kind == "rsem":
        text = ("gene_id\ttranscript_id(s)\tlength\teffective_length\texpected_count\tTPM"
                "\tFPKM\n") + "".join(f"{g}\tT{i}.1\t1500.00\t1350.00\t{9 + i}.00\t{tpm[g]}"
                                      f"\t1.0\n" for i, g in enumerate(ids))
    else:
        tpm = {g: 300_000 + i for i, g in enumerate(ids)}  # counts, as featureCounts writes
        text = ("# Program:featureCounts v2.0.6\nGeneid\tChr\tStart\tEnd\tStrand\tLength\t"
                "s1.bam\n") + "".join(f"{g}\tchr1\t1\t100\t+\t100\t{tpm[g]}\n" for g in ids)
    _write(tmp_path / "quant.tsv", text)
    with caplog.at_level(logging.INFO):
        ds = build_regions(_config(tmp_path, [_sample(tmp_path, "quant.tsv")]), tmp_path / "ds",
                           progress=False)
    assert _labels(ds) == pytest.approx(tpm, rel=1e-5)
    column = {"kallisto": "tpm", "rsem": "TPM", "featurecounts": "s1.bam"}[kind]
    assert f"column {column!r}" in caplog.text or kind == "featurecounts"
    assert "sample columns" not in caplog.text
    assert ("read counts or another unit?" in caplog.text) == (kind == "featurecounts")


def test_npz_counts_to_be_logged_are_warned_about(tmp_path, caplog):
    """A Kaggle npz with ``log: true`` is logged as TPM, but its counts (summing to 2.78e6)
    were taken for TPM without a word, as a bigWig cell's table no longer is; with
    ``log: false`` the values are used as given and not checked."""
    rng = np.random.default_rng(1)
    arr = np.zeros((40, 100, 7))
    arr[:, :, 0] = np.arange(1, 41)[:, None]
    arr[:, :, 1:6] = rng.integers(0, 30, (40, 100, 5))
    arr[:, :, 6] = (50_000 + 1000 * np.arange(40))[:, None]
    path = tmp_path / "train.npz"
    np.savez(path, E003=arr)
    with caplog.at_level(logging.WARNING):
        build("histone", {"npz": str(path), "log": True}, tmp_path / "log", progress=False)
    assert (f"histone: cell 'E003': {path} [E003] sums to 2.78e+06, more than the 1e+06 that "
            "a sample's TPMs sum to: read counts or another unit?") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build("histone", {"npz": str(path)}, tmp_path / "asis", progress=False)
    assert "sums to" not in caplog.text


def test_featurecounts_of_several_bams_reads_the_samples_own(tmp_path, caplog):
    """featureCounts of two BAMs (columns ``/data/s1.bam``, ``/data/s2.bam``) with no
    expression_column: sample 's2' read s1's counts (the first sample column, with a
    warning only). The column whose file name starts with the sample's is read."""
    ids = _world(tmp_path)
    text = ("Geneid\tChr\tStart\tEnd\tStrand\tLength\t/data/s1.bam\t/data/s2.sorted.bam\n"
            + "".join(f"{g}\tchr1\t1\t100\t+\t100\t{10 + i}\t{500 + i}\n"
                      for i, g in enumerate(ids)))
    _write(tmp_path / "counts.txt", text)
    with caplog.at_level(logging.INFO):
        ds = build_regions(_config(tmp_path, [_sample(tmp_path, "counts.txt", name="s2")]),
                           tmp_path / "ds", progress=False)
    assert _labels(ds) == {g: 500 + i for i, g in enumerate(ids)}
    assert "reads column '/data/s2.sorted.bam'" in caplog.text
    assert "sample columns" not in caplog.text


def test_hash_header_over_a_first_gene_of_na_or_text(tmp_path):
    """``#gene_id<TAB>TPM`` above a first gene whose TPM is NA, or ``#gene_id<TAB>
    gene_name<TAB>TPM`` (a symbol column): the ``#`` line was skipped as a comment, so the
    first gene became the header (lost, with a column 'NA'), or the symbols a column."""
    ids = _world(tmp_path)
    na = "#gene_id\tTPM\n" + "".join(f"{g}\t{'NA' if i == 0 else 5 + i}\n"
                                     for i, g in enumerate(ids))
    table = read_expression_table(_write(tmp_path / "na.tsv", na))
    assert list(table.columns) == ["TPM"] and list(table.index) == ids
    assert np.isnan(table["TPM"].iloc[0])
    named = "#gene_id\tgene_name\tTPM\n" + "".join(f"{g}\tG{i}\t{5 + i}\n"
                                                  for i, g in enumerate(ids))
    table = read_expression_table(_write(tmp_path / "named.tsv", named), columns=["TPM"])
    assert list(table.index) == ids and table["TPM"].tolist() == [5 + i for i in range(20)]
    one = read_expression_table(_write(tmp_path / "one.tsv", "#gene_id\tTPM\nENSG1\t10\n"))
    assert list(one.index) == ["ENSG1"] and one["TPM"].tolist() == [10.0]  # was 0 rows


def test_cufflinks_fpkm_tracking_needs_its_column_named(tmp_path):
    """Cufflinks' genes.fpkm_tracking without expression_column: its text column
    class_code was read ("non-numeric value '-'"); FPKM is no TPM, so the sample's column
    must be named — one line says so."""
    ids = _world(tmp_path)
    head = ("tracking_id\tclass_code\tnearest_ref_id\tgene_id\tgene_short_name\ttss_id\t"
            "locus\tlength\tcoverage\tFPKM\tFPKM_conf_lo\tFPKM_conf_hi\tFPKM_status\n")
    rows = "".join(f"{g}\t-\t-\t{g}\tG{i}\t-\tchr1:1-100\t-\t-\t{3 + i}\t1\t9\tOK\n"
                   for i, g in enumerate(ids))
    _write(tmp_path / "genes.fpkm_tracking", head + rows)
    with pytest.raises(InputFileError, match=r"genes\.fpkm_tracking: no expression column for "
                       r"isegnet: sample 's1' .*expected expression_column"):
        build_regions(_config(tmp_path, [_sample(tmp_path, "genes.fpkm_tracking")]),
                      tmp_path / "ds", progress=False)


@pytest.mark.parametrize("columns, sample, read", [
    (["/data/HepG2.rep1.bam", "/data/HepG2.rep2.bam"], "HepG2.rep2", "/data/HepG2.rep2.bam"),
    (["/data/s1_R1.bam", "/data/s2_R1.bam"], "s2", "/data/s2_R1.bam"),
    (["s1.TPM", "s1.counts", "s2.TPM", "s2.counts"], "s2", "s2.TPM"),
    (["s2.bam", "s20.bam"], "s2", "s2.bam")])
def test_the_column_named_after_the_sample(tmp_path, columns, sample, read):
    """A sample's column found by its file name (the first part before '.' only found
    neither a dotted sample name nor ``s2_R1.bam``: the first column, another sample's,
    was read with a warning)."""
    from kerasgene.io.expression import sample_column

    text = "\t".join(["gene", *columns]) + "\n" + "g1\t" + "\t".join(["1"] * len(columns))
    path = _write(tmp_path / "table.tsv", text + "\n")
    assert sample_column(path, 0, sample, f"isegnet: sample {sample!r}") == read


@pytest.mark.parametrize("text", [
    "#gene\tFPKM\ngene\tFPKM\ndpp\t0.5\nw\t1.5\n",          # a comment repeating the header
    "#Gene\tTPM\nGene\tTPM\nActb\t0.5\nGapdh\t1.5\n",
    "# gene_id\tTPM\nGene\tTPM\nActb\t0.5\nGapdh\t1.5\n",
    "#id\tdescription\nid\tTPM\nActb\t0.5\nGapdh\t1.5\n"])
def test_a_comment_above_a_real_header_stays_a_comment(tmp_path, text):
    """A ``#`` line above a header whose id field is an id column's name: the header,
    not the comment, names the columns (the comment was taken for the header: "non-numeric
    value 'FPKM' for gene 'gene'")."""
    table = read_expression_table(_write(tmp_path / "t.tsv", text))
    assert table.shape == (2, 1) and table.iloc[:, 0].tolist() == [0.5, 1.5]


@pytest.mark.parametrize("kind", ["gct", "hash", "plain"])
def test_a_long_table_read_for_one_column_equals_the_whole_read(tmp_path, kind):
    """Past its first rows a table asked for some columns keeps only those (a GTEx GCT of
    hundreds of samples read for one held every cell as text): the same values as the
    whole read, the GCT's dimensions and every row's fields still checked."""
    n, samples = 3000, [f"S{k}" for k in range(6)]
    values = np.round(np.random.default_rng(0).random((n, 6)), 3)
    ids = [f"ENSG{i:011d}.1" for i in range(n)]
    body = "".join(f"{g}\tG{i}\t" + "\t".join(f"{v:.3f}" for v in values[i]) + "\n"
                   for i, g in enumerate(ids))
    head = "\t".join(["Name", "Description", *samples]) + "\n"
    text = {"gct": f"#1.2\n{n}\t6\n" + head, "hash": "#" + head, "plain": head}[kind] + body
    path = _write(tmp_path / f"t.{kind}.gz", text, gz=True)
    one = read_expression_table(path, columns=["S4"])
    assert list(one.index) == ids and one["S4"].tolist() == values[:, 4].tolist()
    if kind == "gct":  # the whole read (Description left out): the same
        assert read_expression_table(path)["S4"].tolist() == values[:, 4].tolist()
    bad = text.replace(f"{ids[2500]}\tG2500\t", f"{ids[2500]}\tG2500\textra\t")
    with pytest.raises(InputFileError, match=r":\d+: 9 fields but the header has 8"):
        read_expression_table(_write(tmp_path / f"bad.{kind}", bad), columns=["S4"])


def test_the_separator_a_header_shows_is_used_and_a_space_table_is_named(tmp_path):
    """The separator came from the file's name only: a comma table named tpm.txt or a tab
    table named tpm.csv gave 'expected a gene-id column and at least one value column', a
    European Excel ';' CSV '2: 3 fields but the header has 1'. A header line without the
    name's separator but with one other is read with that one (its rows then checked as
    any); a space-separated table (R's write.table default) or one of two candidate
    separators is refused naming the separator tried, the column found and the one seen;
    a decimal comma is named. A one-name header over rows of the name's separator stays
    the field-count error."""
    table = pd.DataFrame({"gene_id": ["ENSG1", "ENSG2"], "s1": [2.7598, 0.5],
                          "s2": [3.8292, 12.0]})
    expected = table.set_index("gene_id")
    for name, sep in [("tpm.txt", ","), ("tpm.csv", "\t"), ("tpm_tab.csv.gz", "\t"),
                      ("tpm_semicolon.csv", ";")]:
        table.to_csv(tmp_path / name, sep=sep, index=False)
        got = read_expression_table(tmp_path / name, columns=["s2"])
        assert got["s2"].tolist() == expected["s2"].tolist(), name
        assert read_expression_table(tmp_path / name).equals(expected.rename_axis("gene_id"))
    excel = tmp_path / "tpm_excel_de.csv"
    table.to_csv(excel, sep=";", decimal=",", index=False)
    with pytest.raises(InputFileError, match=r"non-numeric value '2,7598' for gene 'ENSG1', "
                       r"column 's1'; expected a number without a comma \(a decimal comma"):
        read_expression_table(excel)
    r_default = _write(tmp_path / "tpm.tsv", '"s1" "s2"\n"ENSG1" 2.7598 3.8292\n')
    r_tab = _write(tmp_path / "r_tab.tsv", '""\t"s1"\t"s2"\n"ENSG1"\t2.7598\t3.8292\n')
    assert read_expression_table(r_tab)["s1"].tolist() == [2.7598]  # what the message says
    with pytest.raises(InputFileError) as err:
        read_expression_table(r_default)
    assert str(err.value) == (
        f"{r_default}:1: the header is one column '\"s1\" \"s2\"' when read tab-separated, as "
        "the file's name says (comma for .csv, tab otherwise); the file seems "
        "space-separated; expected a tab- or comma-separated table (R: write.table(x, sep = "
        "'\\t', col.names = NA))")
    named = _write(tmp_path / "named.tsv", "gene;heat 5, 10 min;dtt\nG1;1.5;2\n")
    assert list(read_expression_table(named).columns) == ["heat 5, 10 min", "dtt"]  # by row
    both = _write(tmp_path / "both.tsv", "gene;heat 5, 10 min;dtt\nG1;1,5;2\n")
    with pytest.raises(InputFileError, match=r"both\.tsv:1: the header is one column "
                       r"'gene;heat 5, 10 min;dtt' .*seems comma and semicolon-separated"):
        read_expression_table(both)
    # R's write.table(sep = "\t") of one column beside row names: the tab rows decide
    one = _write(tmp_path / "one.tsv", "K562 rep1\nG1\t5\n")
    with pytest.raises(InputFileError, match=r"one\.tsv:2: 2 fields but the header has 1"):
        read_expression_table(one)


def test_a_transposed_table_is_said_to_be_one_in_a_short_message(tmp_path):
    """A table with the samples as rows (pandas' ``.T``) gave 'no column 's1' (columns:
    [...])' listing every gene column: 16,908 characters on one line for 1,200 genes. The
    list is cut to its first eight and counted, and the sample found in the first column
    says the table looks transposed (iSEGnet's expression_column, histone's cell name)."""
    genes = [f"ENSG{i:05d}" for i in range(1200)]
    wide = pd.DataFrame([[1.5] * 1200, [2.5] * 1200], index=["s1", "s2"], columns=genes)
    path = tmp_path / "tpm_samples_as_rows.tsv"
    wide.rename_axis("sample").to_csv(path, sep="\t")
    shown = ", ".join(f"'{g}'" for g in genes[:8])
    with pytest.raises(InputFileError) as err:
        read_expression_table(path, columns=["s1"])
    assert str(err.value) == (
        f"{path}: no column 's1' (columns: {shown}, ... (1200 in all)); 's1' is a row (in "
        "column 'sample'): the table looks transposed (samples as rows); expected one row per "
        "gene and one column per sample")
    with pytest.raises(InputFileError, match=r"\(1200 in all\)\); expected a column named "
                       r"like cell 's2', or its expression_column; 's2' is a row .*transposed"):
        sample_column(path, 0, "s2", "histone: cell 's2'", first=False)
    with pytest.raises(InputFileError, match=r"no column 's3' \(columns: .*\(1200 in all\)\)$"):
        read_expression_table(path, columns=["s3"])  # no row either: no hint
