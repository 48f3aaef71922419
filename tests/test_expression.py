from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.expression import (
    MAX_ABS_LOG_RATIO,
    MAX_TPM,
    check_range,
    discretize,
    discretize_quantiles,
    log_transform,
    nonzero_genes,
    read_expression_table,
)
from kerasgene.io.regulators import read_names, read_triplets

#: The DeepRAGE authors' regulator files, shipped as package data (kerasgene/data/README.md)
YEAST = Path(__file__).parents[1] / "kerasgene" / "data" / "deeprage_yeast"


def test_read_tpm_table_tsv_and_csv(tmp_path):
    tsv = tmp_path / "tpm.tsv"
    tsv.write_text("gene_id\tA\tB\nG1\t1.5\t0\nG2\t0\t0\nG3\t\t2\n")
    df = read_expression_table(tsv)
    assert list(df.columns) == ["A", "B"] and list(df.index) == ["G1", "G2", "G3"]
    assert df.loc["G1", "A"] == 1.5 and np.isnan(df.loc["G3", "A"])
    csv = tmp_path / "tpm.csv"
    csv.write_text("id,TPM\nG1,3\nG2,4\n")
    assert read_expression_table(csv, gene_column="id")["TPM"].tolist() == [3.0, 4.0]
    assert list(nonzero_genes(df).index) == []  # G1 is zero in B, G3 missing in A
    assert list(nonzero_genes(df[["A"]]).index) == ["G1"]
    assert list(nonzero_genes(read_expression_table(csv, "id")).index) == ["G1", "G2"]


def test_expression_table_errors(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("gene_id\tA\nG1\t1\nG1\t2\n")
    with pytest.raises(InputFileError, match=r"bad\.tsv: duplicate gene id 'G1'"):
        read_expression_table(path)
    path.write_text("gene_id\tA\nG1\t1\nG2\thigh\n")
    with pytest.raises(InputFileError, match=r"non-numeric value 'high' for gene 'G2', column 'A'"):
        read_expression_table(path)
    with pytest.raises(InputFileError, match="no gene-id column 'x'"):
        read_expression_table(path, gene_column="x")


def test_table_rows_must_have_the_headers_fields(tmp_path):
    """Rows ending in a separator (spreadsheet exports) read as written — pandas took the
    gene ids for an index and gave every gene the next column's value, NaN the rest; a row
    with more or fewer values, a repeated column or an empty file is an error naming it."""
    path = tmp_path / "tpm.tsv"
    path.write_text("gene_id\tTPM\nENSG1\t12.5\t\nENSG2\t3.0\t\n")
    df = read_expression_table(path)
    assert list(df.index) == ["ENSG1", "ENSG2"] and df["TPM"].tolist() == [12.5, 3.0]
    path.write_text("gene_id\tTPM\t\nENSG1\t12.5\t\nENSG2\t NA \t\n")  # the header too
    got = read_expression_table(path)["TPM"]  # " NA " is NA as " 3" is 3 (was an error)
    assert got.iloc[0] == 12.5 and np.isnan(got.iloc[1])
    for body, message in [("gene_id\tA\nG1\t1\t7\n", r"tpm\.tsv:2: 3 fields but the header has 2"),
                          ("gene_id\tA\tB\nG1\t1\t2\n\nG2\t3\n", r"tpm\.tsv:4: 2 fields but the header has 3"),
                          ("gene_id\tA\tA\nG1\t1\t2\n", r"tpm\.tsv:1: column name 'A' appears 2 times"),
                          ("", r"tpm\.tsv: empty table")]:
        path.write_text(body)
        with pytest.raises(InputFileError, match=message):
            read_expression_table(path)


def test_names_and_tables_saved_with_a_byte_order_mark(tmp_path):
    """A UTF-8 BOM (Excel on Windows) is not part of the first name: ``1<TAB>c1`` kept its
    index and the BOM, and condition c1 was then dropped for having no states."""
    names = tmp_path / "expt_names_E.txt"
    names.write_text("\ufeff1\tc1\n2\tc2\n", encoding="utf-8")
    assert read_names(names) == ["c1", "c2"]
    table = tmp_path / "lfc.tsv"
    table.write_text("\ufeffgene\tc1\nG1\t0.5\n", encoding="utf-8")
    assert list(read_expression_table(table, gene_column="gene").columns) == ["c1"]


def test_read_real_deeprage_regulator_states():
    states = read_triplets(YEAST / "reg_exp_RxE.tab", shape=(472, 173))
    assert states.shape == (472, 173)
    assert set(np.unique(states)) <= {-1.0, 0.0, 1.0}
    first = np.loadtxt(YEAST / "reg_exp_RxE.tab", max_rows=1)
    assert states[int(first[0]) - 1, int(first[1]) - 1] == first[2]
    assert len(read_names(YEAST / "reg_names_R.txt")) == 472
    assert len(read_names(YEAST / "expt_names_E.txt")) == 173


def test_triplet_errors(tmp_path):
    path = tmp_path / "t.tab"
    path.write_text("1\t2\n")
    with pytest.raises(InputFileError, match="3 columns"):
        read_triplets(path)
    path.write_text("5\t1\t1\n")
    with pytest.raises(InputFileError, match="outside the expected shape"):
        read_triplets(path, shape=(2, 2))
    # an IndexError traceback (empty or blank: nothing to read)
    for body in ("", "\n\n"):
        path.write_text(body)
        with pytest.raises(InputFileError, match=r"t\.tab: no 'row col value' triplets"):
            read_triplets(path)
    # were truncated to regulator 1, the last of two values, a NaN state
    for body, message in [("1.7\t2\t1\n2\t1\t-1\n", r"t\.tab:1: 1\.7 2 1 .*whole-number"),
                          ("1\t1\t1\n\n1\t1\t-1\n", r"t\.tab:3: 1 1 -1 .*each \(row, column\) cell once"),
                          ("2\t2\t1\n1\t1\tnan\n", r"t\.tab:2: 1 1 nan .*a finite value")]:
        path.write_text(body)
        with pytest.raises(InputFileError, match=message):
            read_triplets(path)


def test_transforms():
    np.testing.assert_allclose(log_transform([0, 1, 3]), [0, 1, 2])
    assert discretize([-1, -0.5, 0, 0.49, 0.5, 2]).tolist() == [0, 0, 1, 1, 2, 2]
    assert discretize([-3, -1.5, 0, 1.5, 3], [-2, -1, 1, 2]).tolist() == [0, 1, 2, 3, 4]
    # values on a threshold go away from 0, for 5 classes too (0.5 was "baseline" and -0.5
    # "down", -1 strongly down and 1 strongly up: the bins were not symmetric)
    five = [-1, -0.5, 0, 0.5, 1]
    assert discretize(five, [-1, -0.5, 0.5, 1]).tolist() == [0, 1, 2, 3, 4]
    assert discretize([0, 50, 60], [50, 60]).tolist() == [0, 1, 2]
    assert discretize_quantiles([1, 2, 3, 4]).tolist() == [0, 0, 1, 1]
    with pytest.raises(ConfigError, match="strictly increasing"):
        discretize([1], [0.5, -0.5])
    with pytest.raises(ConfigError, match="n_classes must be >= 2"):
        discretize_quantiles([1, 2], 1)


def test_infinite_values_are_an_error_naming_gene_and_column(tmp_path):
    path = tmp_path / "tpm.tsv"
    path.write_text("gene_id\tA\tB\nG1\t1\t2\nG2\t3\tinf\nG3\t-Inf\tNA\n")
    with pytest.raises(InputFileError) as err:
        read_expression_table(path)
    assert str(err.value) == (f"{path}: infinite value 'inf' for gene 'G2', column 'B' (2 such "
                              "cells); expected a finite number (leave the cell empty or NA "
                              "for a missing value)")


def test_check_range_bounds_of_tpm_and_log_ratios(tmp_path):
    path = tmp_path / "tpm.tsv"
    path.write_text("gene_id\tTPM\nG1\t3\nG2\t1e96\nG3\t\nG4\t-2\n")
    tpm = read_expression_table(path)["TPM"]
    with pytest.raises(InputFileError, match=r"tpm\.tsv \[TPM\]: TPM 1e\+96 for gene 'G2', column "
                                             r"'TPM' \(2 values outside the bounds\); expected "
                                             r"TPM >= 0 and <= 1e\+07"):
        check_range(tpm, f"{path} [TPM]", low=0, high=MAX_TPM, what="TPM")
    check_range(tpm.drop(["G2", "G4"]), str(path), low=0, high=MAX_TPM, what="TPM")  # NaN passes
    lfc = pd.DataFrame({"heat": [0.5, -130.0]}, index=["Y1", "Y2"])
    with pytest.raises(InputFileError, match="log-fold change -130 for gene 'Y2', column 'heat'"):
        check_range(lfc, "lfc.tsv", low=-MAX_ABS_LOG_RATIO, high=MAX_ABS_LOG_RATIO,
                    what="log-fold change")


def test_repeated_column_names_are_refused_naming_kerasgenes_numbering(tmp_path):
    """Condition names that repeat in a log-fold-change header (the DeepRAGE list names
    three arrays 'Heat Shock 000 minutes  hs-2<TAB>R'; a tab written as a space) were
    refused with 'appears more than once', without saying how kerasgene expects repeats
    written. The message gives the count and the NAME#2, NAME#3 numbering, and the header
    numbered so reads."""
    name = "Heat Shock 000 minutes  hs-2 R"
    rows = "".join(f"YAL00{i}C\t0.{i}\t-0.{i}\t1.{i}\t0.5\n" for i in range(1, 4))
    path = tmp_path / "logfc.tsv"
    path.write_text(f"ORF\t{name}\t{name}\t{name}\tdtt\n" + rows)
    with pytest.raises(InputFileError) as err:
        read_expression_table(path, "ORF")
    assert str(err.value) == (
        f"{path}:1: column name '{name}' appears 3 times in the header (1 repeated name(s)); "
        f"expected unique column names: kerasgene numbers repeats NAME#2, NAME#3 ('{name}#2', "
        "...), as it names repeated conditions (kerasgene.io.regulators.unique_labels)")
    path.write_text(f"ORF\t{name}\t{name}#2\t{name}#3\tdtt\n" + rows)
    assert list(read_expression_table(path, "ORF").columns) == [name, f"{name}#2",
                                                                f"{name}#3", "dtt"]
