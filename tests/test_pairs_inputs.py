"""DeepRAGE pairs from a user's own files: bad options and tables are one-line errors
naming the field or file (exit 2, nothing written), and what is kept or changed without
an error (class thresholds leaving a class empty, unusual regulator states, promoters cut
to length) is counted in a warning."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import prepare_fails
from real_files import DEEPRAGE_CONDS, DEEPRAGE_N_REG, write_deeprage_files

from kerasgene.datasets import build
from kerasgene.errors import ConfigError

CONDS, N_REG = DEEPRAGE_CONDS, DEEPRAGE_N_REG


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """:func:`real_files.write_deeprage_files`, one promoter record longer than 100 bp
    (G03: cut to its last 100 bases)."""
    return write_deeprage_files(tmp_path_factory.mktemp("pairs_inputs"), {"G03": "TTTT"})


def _fails(tmp_path, data, capsys) -> str:
    return prepare_fails(tmp_path, capsys, "deeprage", "deeprage_concat", data)


def test_conditions_listed_twice_or_as_one_string(files, tmp_path, capsys):
    """A condition listed twice doubled its pairs silently; a string was read letter by
    letter ("'h' is not a column")."""
    err = _fails(tmp_path, {**files["cfg"], "conditions": ["dtt", "heat 5", "dtt"]}, capsys)
    assert "deeprage.conditions: 'dtt' is listed more than once; expected each condition once" in err
    err = _fails(tmp_path, {**files["cfg"], "conditions": "dtt"}, capsys)
    assert ("deeprage.conditions: expected a list of column names of the expression table "
            "(or null for all), got 'dtt'") in err
    ds = build("deeprage", {**files["cfg"], "conditions": ["dtt", "heat 5"]}, tmp_path / "ok",
               progress=False)
    assert ds.conditions == ["dtt", "heat 5"] and len(ds) == 2 * len(files["genes"])


@pytest.mark.parametrize(("key", "value", "message"), [
    ("class_thresholds", "abc", "deeprage.class_thresholds: expected a list of increasing "
                                "numbers (e.g. [-0.5, 0.5] for 3 classes) or null, got 'abc'"),
    ("class_thresholds", 0.5, "deeprage.class_thresholds: expected a list of increasing"),
    ("class_thresholds", [0.5, -0.5], "got [0.5, -0.5]"),
    ("class_thresholds", ["-5e-1", "5e-1"], "YAML reads a number without a dot such as -5e-1 "
                                            "as a string"),
    ("classes", "three", "deeprage.classes: expected 3 or 5 (or give class_thresholds), "
                         "got 'three'"),
    ("classes", 3.7, "deeprage.classes: expected 3 or 5 (or give class_thresholds), got 3.7"),
    ("promoter_length", "1kb", "deeprage.promoter_length: expected an integer >= 1 (bp), "
                               "got '1kb'"),
    ("promoter_length", 99.5, "deeprage.promoter_length: expected an integer >= 1 (bp), "
                              "got 99.5"),
    ("n_value", [0.25, 0.25], "deeprage.n_value: expected the one-hot row of N, 4 numbers"),
    ("n_value", "abc", "deeprage.n_value: expected the one-hot row of N"),
])
def test_option_values_are_checked(files, tmp_path, capsys, key, value, message):
    """These were ValueError / TypeError tracebacks, an error naming ``discretize`` or
    ``one_hot`` instead of the field, or a float silently truncated (3.7 classes → 3)."""
    assert message in _fails(tmp_path, {**files["cfg"], key: value}, capsys)


def test_classes_contradicting_the_thresholds(files, tmp_path):
    with pytest.raises(ConfigError, match=r"deeprage\.classes: 5, but class_thresholds "
                                          r"\[-0\.5, 0\.5\] make 3 classes"):
        build("deeprage", {**files["cfg"], "classes": 5, "class_thresholds": [-0.5, 0.5]},
              tmp_path / "x")
    ds = build("deeprage", {**files["cfg"], "classes": 5, "class_thresholds": [-2, -1, 1, 2]},
               tmp_path / "ok", progress=False)
    assert ds.meta["n_classes"] == 5


def test_thresholds_leaving_a_class_empty_are_reported(files, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        ds = build("deeprage", {**files["cfg"], "class_thresholds": [50, 60]}, tmp_path / "x",
                   progress=False)
    n = len(ds)
    assert (f"deeprage: class_thresholds [50.0, 60.0] leave class 1 (50 to 60), class 2 "
            f"(60 to inf) without any pair (pairs per class: {n}, 0, 0)") in caplog.text


def _table(files, path, states) -> None:
    tab = pd.DataFrame(states, index=[f"R{i}" for i in range(N_REG)], columns=CONDS)
    tab.index.name = "regulator"
    tab.to_csv(path, sep="\t", na_rep="NA")


def test_regulator_table_with_a_missing_state(files, tmp_path, capsys):
    """An empty / NA cell of a regulator table reached the model as NaN, silently."""
    states = files["states"].astype(float)
    states[2, 1] = np.nan
    _table(files, tmp_path / "reg.tsv", states)
    data = {**files["cfg"], "regulators": str(tmp_path / "reg.tsv"), "regulator_names": None,
            "condition_names": None}
    err = _fails(tmp_path, data, capsys)
    assert (f"{tmp_path / 'reg.tsv'}: regulator 'R2', condition 'heat 10': missing state "
            "(empty, NA or NaN; 1 such cells); expected a state for every regulator and "
            "condition (0 for no change)") in err


def test_regulator_states_other_than_minus_one_zero_one_are_counted(files, tmp_path, caplog):
    states = files["states"].astype(float)
    states[1, 2] = 2.5
    _table(files, tmp_path / "reg.tsv", states)
    data = {**files["cfg"], "regulators": str(tmp_path / "reg.tsv"), "regulator_names": None,
            "condition_names": None}
    with caplog.at_level(logging.WARNING):
        ds = build("deeprage", data, tmp_path / "x", progress=False)
    assert (f"deeprage: {tmp_path / 'reg.tsv'}: 1 regulator states are not -1, 0 or 1, used "
            "as given (DeepRAGE's states are discretised -1 / 0 / +1): e.g. R1 in 'dtt': 2.5"
            ) in caplog.text
    assert ds.arrays["regulators"][ds.conditions.index("dtt"), 1] == 2.5
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build("deeprage", files["cfg"], tmp_path / "y", progress=False)
    assert "regulator states are not" not in caplog.text


def test_triplets_beyond_the_condition_names(files, tmp_path, capsys):
    """Without regulator_names, triplets of a column past the condition_names list were
    ignored without a word (with regulator_names they were an error)."""
    (tmp_path / "conds.txt").write_text("1\theat 5\n2\theat 10\n3\tdtt\n")
    data = {**files["cfg"], "condition_names": str(tmp_path / "conds.txt"),
            "regulator_names": None}
    err = _fails(tmp_path, data, capsys)
    assert (f"reg.tab: triplets name condition column 4 but the condition_names file "
            f"{tmp_path / 'conds.txt'} lists 3 conditions; expected column indices 1 to 3") in err


def test_promoters_and_fasta_gtf_both_given(files, tmp_path, capsys):
    """The promoters FASTA won and fasta + gtf were ignored without a word."""
    data = {**files["cfg"], "fasta": str(files["dir"] / "promoters.fa"),
            "gtf": str(tmp_path / "genes.gtf")}
    err = _fails(tmp_path, data, capsys)
    assert ("deeprage: give either 'promoters' (a FASTA of promoter sequences) or 'fasta' "
            "and 'gtf', not both") in err


def test_longer_promoters_are_counted(files, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        ds = build("deeprage", files["cfg"], tmp_path / "x", progress=False)
    assert ("deeprage: 1 promoters longer than 100 bp were cut to their last 100 bases, "
            "next to the TSS (e.g. G03)") in caplog.text
    assert ds.input_shapes["sequence"] == (100, 4)



def test_gzip_triplets_header_line_and_repeated_regulator_names(files, tmp_path, capsys):
    """Gzip triplets named without .gz read as the plain file (np.loadtxt picked gzip by
    name: a utf-8 codec error); triplets under a header line were read as a table ("duplicate
    gene id"); a regulator named twice was accepted."""
    import gzip

    d = files["dir"]
    raw = (d / "reg.tab").read_bytes()
    (tmp_path / "reg_gz.tab").write_bytes(gzip.compress(raw))
    plain = build("deeprage", files["cfg"], tmp_path / "plain", progress=False)
    packed = build("deeprage", {**files["cfg"], "regulators": str(tmp_path / "reg_gz.tab")},
                   tmp_path / "packed", progress=False)
    np.testing.assert_array_equal(packed.arrays["regulators"], plain.arrays["regulators"])

    (tmp_path / "reg_header.tab").write_bytes(b"regulator\tcondition\tstate\n" + raw)
    err = _fails(tmp_path, {**files["cfg"], "regulators": str(tmp_path / "reg_header.tab")},
                 capsys)
    assert ("reg_header.tab: deeprage.regulator_format auto cannot tell a header line "
            "'regulator\\tcondition\\tstate' above 'row col state' triplets") in err

    (tmp_path / "regs2.txt").write_text("R0\nR1\nR2\nR1\nR4\n")
    err = _fails(tmp_path, {**files["cfg"], "regulator_names": str(tmp_path / "regs2.txt")},
                 capsys)
    assert ("regs2.txt: regulator 'R1' is named twice (names 2 and 4 of 5); expected each "
            "regulator once") in err


def test_triplet_files_as_users_write_them(files, tmp_path, capsys):
    """0-based triplets (numpy, pandas) were 'negative or zero index with one_based=True'
    (no line, a parameter that is no config key); comma-separated triplets
    (``to_csv(index=False, header=False)``) were taken for a table; a ``#`` comment above
    the triplets made ``auto`` advise ``regulator_format: table``, which fails on them."""
    plain = build("deeprage", files["cfg"], tmp_path / "plain", progress=False)
    rows, cols = np.nonzero(files["states"])
    trip = pd.DataFrame({"row": rows + 1, "col": cols + 1, "state": files["states"][rows, cols]})
    trip.to_csv(tmp_path / "comma.csv", index=False, header=False)
    (tmp_path / "comment.tab").write_text("# MEDUSA regulator states (row col state)\n"
                                          + (files["dir"] / "reg.tab").read_text())
    for name in ("comma.csv", "comment.tab"):
        ds = build("deeprage", {**files["cfg"], "regulators": str(tmp_path / name)},
                   tmp_path / name.replace(".", "_"), progress=False)
        np.testing.assert_array_equal(ds.arrays["regulators"], plain.arrays["regulators"])

    trip.assign(row=rows, col=cols).to_csv(tmp_path / "zero.tab", sep="\t", index=False,
                                           header=False)
    err = _fails(tmp_path, {**files["cfg"], "regulators": str(tmp_path / "zero.tab")}, capsys)
    assert (f"zero.tab:1: 0 0 1 ({len(rows[(rows == 0) | (cols == 0)])} such triplets); "
            "expected row and column indices from 1 (1-based, as in DeepRAGE's "
            "reg_exp_RxE.tab); 0 found: a 0-based file? add 1 to both indices") in err

    (tmp_path / "hash.tab").write_text("#regulator\tdtt\tdiamide\n1\t1\t0\n2\t0\t-1\n")
    err = _fails(tmp_path, {**files["cfg"], "regulators": str(tmp_path / "hash.tab")}, capsys)
    assert ("hash.tab: deeprage.regulator_format auto cannot tell a header line "
            "'#regulator\\tdtt\\tdiamide' above 'row col state' triplets from a table of two "
            "conditions; set regulator_format: triplets or table") in err
