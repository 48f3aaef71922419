"""Bad and unusual inputs of the histone-bins sources (:mod:`kerasgene.datasets.histone_sources`):
DeepChrome CSVs and Kaggle npz files, each written to ``tmp_path``."""

import gzip

import numpy as np
import pytest

from kerasgene.datasets import build
from kerasgene.datasets.histone_sources import read_deepchrome_csv, read_kaggle_npz
from kerasgene.errors import ConfigError, InputFileError

MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")
HEADER = "GeneID,BinID," + ",".join(MARKS) + ",label\n"


def _rows(gene, marks, label=1):
    """DeepChrome CSV rows of one gene: ``marks`` (100, 5) in MARKS order, bins 1..100."""
    return "".join(f"{gene},{b + 1}," + ",".join(str(v) for v in marks[b]) + f",{label}\n"
                   for b in range(100))


def _marks(rng):
    return rng.integers(0, 9, (100, 5))


def _write(path, text):
    path.write_text(text)
    return path


def _npz_array(n=4):
    """A Kaggle array (n genes, 100 bins, 7): gene ids 1..n, marks, expression."""
    arr = np.ones((n, 100, 7))
    arr[:, :, 0] = np.arange(1, n + 1)[:, None]
    return arr


def test_csv_header_mark_columns_are_matched_by_name(tmp_path):
    order = ["H3K4me3", "H3K4me1", "H3K36me3", "H3K9me3", "H3K27me3"]  # Kaggle's order
    value = {"H3K4me3": 40, "H3K4me1": 10, "H3K36me3": 36, "H3K9me3": 9, "H3K27me3": 27}
    text = "GeneID,BinID," + ",".join(order) + ",label\n"
    text += _rows("g0", np.tile([value[m] for m in order], (100, 1)))
    (tmp_path / "e003.csv").write_text(text)
    _, marks, _ = read_deepchrome_csv(tmp_path / "e003.csv")
    np.testing.assert_array_equal(marks[0, 0], [value[m] for m in MARKS])
    (tmp_path / "e003.csv").write_text(text.replace("H3K4me1", "H3K4me2", 1))
    with pytest.raises(InputFileError, match=r"e003.csv: header marks \[.*'H3K4me2'.*\] are "
                                             r"not histone.marks \[.*'H3K4me1'"):
        read_deepchrome_csv(tmp_path / "e003.csv")


@pytest.mark.parametrize("bad", ["nan", "inf", "-3"])
def test_csv_mark_value_must_be_a_finite_count(tmp_path, bad):
    rng = np.random.default_rng(0)
    m = _marks(rng).astype(object)
    m[10, 2] = bad
    (tmp_path / "e003.csv").write_text(HEADER + _rows("g0", _marks(rng)) + _rows("g1", m))
    with pytest.raises(InputFileError, match=r"e003.csv:112: gene 'g1', bin 11, mark 'H3K4me1': "
                                             r"value .*; expected a finite count >= 0"):
        build("histone", {"cells": {"E003": str(tmp_path / "e003.csv")}, "label": "binary"},
              tmp_path / "ds", progress=False)


def test_npz_mark_value_must_be_a_finite_count(tmp_path):
    arr = _npz_array()
    arr[2, 50, 3] = np.nan
    np.savez(tmp_path / "train.npz", E1=arr)
    with pytest.raises(InputFileError, match=r"train.npz: array 'E1', gene '3', bin 51, mark "
                                             r"'H3K4me1': value nan; expected a finite count"):
        build("histone", {"npz": str(tmp_path / "train.npz")}, tmp_path / "ds", progress=False)


@pytest.mark.parametrize("where", ["one file", "two files"])
def test_csv_gene_listed_twice_for_a_cell_type(tmp_path, where):
    rng = np.random.default_rng(0)
    (tmp_path / "train.csv").write_text(_rows("g1", _marks(rng)) + _rows("g2", _marks(rng))
                                        + (_rows("g1", _marks(rng), 0) if where == "one file"
                                           else ""))
    (tmp_path / "test.csv").write_text(_rows("g3", _marks(rng))
                                       + (_rows("g2", _marks(rng)) if where == "two files"
                                          else ""))
    files = {s: str(tmp_path / f"{s}.csv") for s in ("train", "test")}
    gene = "g1" if where == "one file" else "g2"
    with pytest.raises(InputFileError, match=f"gene '{gene}' appears twice for cell type 'E003'"):
        build("histone", {"cells": {"E003": files}, "label": "binary"}, tmp_path / "ds",
              progress=False)


def test_csv_gzip_bom_and_quoted_header_are_read(tmp_path):
    rng = np.random.default_rng(0)
    body = _rows("g0", _marks(rng)) + _rows("g1", _marks(rng), 0)
    quoted = "".join(",".join(f'"{c}"' for c in line.split(",")) + "\n"
                     for line in (HEADER + body).splitlines())
    with gzip.open(tmp_path / "gz.csv.gz", "wt") as fh:
        fh.write(HEADER + body)
    (tmp_path / "bom.csv").write_text("\ufeff" + HEADER + body, encoding="utf-8")
    (tmp_path / "quoted.csv").write_text(quoted)
    want = read_deepchrome_csv(_write(tmp_path / "plain.csv", body))
    for name in ("gz.csv.gz", "bom.csv", "quoted.csv"):
        ids, marks, labels = read_deepchrome_csv(tmp_path / name)
        assert ids == want[0] == ["g0", "g1"]
        np.testing.assert_array_equal(marks, want[1])
        np.testing.assert_array_equal(labels, want[2])


def test_csv_not_utf8_names_the_line(tmp_path):
    rng = np.random.default_rng(0)
    text = HEADER + _rows("g0", _marks(rng)) + _rows("gène1", _marks(rng))
    (tmp_path / "latin1.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(InputFileError, match=r"latin1.csv:102: byte 0xe8 is not UTF-8"):
        read_deepchrome_csv(tmp_path / "latin1.csv")


@pytest.mark.parametrize("case", ["truncated", "npy"])
def test_npz_that_cannot_be_read(tmp_path, case):
    np.savez(tmp_path / "good.npz", E1=_npz_array())
    raw = (tmp_path / "good.npz").read_bytes()
    if case == "truncated":
        (tmp_path / "bad.npz").write_bytes(raw[: len(raw) // 2])
    else:
        np.save(tmp_path / "bad.npy", _npz_array())
        (tmp_path / "bad.npy").rename(tmp_path / "bad.npz")
    with pytest.raises(InputFileError, match=r"bad.npz: cannot read as npz \("):
        read_kaggle_npz(tmp_path / "bad.npz")


def test_npz_with_a_corrupt_member(tmp_path):
    np.savez(tmp_path / "good.npz", E1=_npz_array())
    raw = bytearray((tmp_path / "good.npz").read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    with pytest.raises(InputFileError, match=r"bad.npz: cannot read as npz \(Bad CRC-32"):
        read_kaggle_npz(tmp_path / "bad.npz")


@pytest.mark.parametrize("case, message", [
    ("bin", r"e003.csv:102: gene 'g1' has BinID 1; expected BinIDs 1..100, each once"),
    ("label", r"e003.csv:150: gene 'g1' has label 0; expected 0 or 1, the same on every row"),
])
def test_csv_bin_and_label_errors_name_the_gene_and_line(tmp_path, case, message):
    rng = np.random.default_rng(0)
    lines = (_rows("g0", _marks(rng)) + _rows("g1", _marks(rng))).splitlines(keepends=True)
    if case == "bin":
        lines[101] = lines[100]  # g1's BinID 1 twice, its BinID 2 missing
    else:
        lines[149] = lines[149].replace(",1\n", ",0\n")
    (tmp_path / "e003.csv").write_text("".join(lines))
    with pytest.raises(InputFileError, match=message):
        read_deepchrome_csv(tmp_path / "e003.csv")


def test_npz_cell_types_must_be_a_list(tmp_path):
    np.savez(tmp_path / "train.npz", E1=_npz_array(), E12=_npz_array())
    with pytest.raises(ConfigError, match=r"histone.cell_types: expected a list of cell type "
                                          r"names .*got 'E12'"):
        build("histone", {"npz": str(tmp_path / "train.npz"), "cell_types": "E12"},
              tmp_path / "ds", progress=False)
