"""DeepRAGE pairs from a yeast biologist's own files, second hunt: regulator states matched
to the right condition and regulator (positional triplets with ``conditions``, a table
column that is not a condition, numbered name files, a regulator table with a names file),
tables as spreadsheets and R write them, the header-repair reader, and errors that say why
no gene has a promoter. Each test fails on the code before its fix."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest
from conftest import prepare_fails, write_fasta
from real_files import DEEPRAGE_CONDS, DEEPRAGE_N_REG, write_deeprage_files, write_triplets

from kerasgene.datasets import build

CONDS, N_REG = DEEPRAGE_CONDS, DEEPRAGE_N_REG


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """:func:`real_files.write_deeprage_files` (every condition with a non-zero state)."""
    return write_deeprage_files(tmp_path_factory.mktemp("deeprage_inputs"))


def _fails(tmp_path, data, capsys) -> str:
    return prepare_fails(tmp_path, capsys, "deeprage", "deeprage_concat", data)


def _regs(ds, condition) -> np.ndarray:
    return np.asarray(ds.arrays["regulators"][ds.conditions.index(condition)])


@pytest.mark.parametrize("names", [True, False])
def test_conditions_with_positional_triplets(files, tmp_path, caplog, names):
    """Without condition_names, triplet column j is the table's j-th column: with
    ``conditions: [dtt, diamide]`` those got the states of columns 1 and 2 (heat 5, heat 10)
    when the triplets named no later column, silently; else a misleading error ('4
    conditions but the expression table has 2 columns', 'index outside the expected
    shape')."""
    cfg = {**files["cfg"], "condition_names": None, "conditions": ["dtt", "diamide"],
           "regulator_names": files["cfg"]["regulator_names"] if names else None}
    first_two = files["states"].copy()
    first_two[:, 2:] = 0  # the triplets describe heat 5 and heat 10 only
    with caplog.at_level(logging.WARNING):
        ds = build("deeprage", {**cfg, "regulators": write_triplets(tmp_path / "two.tab", first_two)},
                   tmp_path / "two", progress=False)
    assert not np.asarray(ds.arrays["regulators"]).any()  # were heat 5's and heat 10's
    assert ("two.tab: the triplets name condition columns 1 to 2 only, so 2 conditions after "
            "them in the expression table's 4 condition columns get all-zero regulator states "
            "(dtt, diamide)") in caplog.text

    ds = build("deeprage", cfg, tmp_path / "all", progress=False)
    np.testing.assert_array_equal(_regs(ds, "dtt"), files["states"][:, 2])
    np.testing.assert_array_equal(_regs(ds, "diamide"), files["states"][:, 3])


def test_positional_triplets_and_a_table_column_that_is_no_condition(files, tmp_path, caplog):
    """A numeric column that is no condition (a spot count) before the conditions shifted
    every condition onto the previous one's regulator states (the last got zeros),
    silently. (Gasch's GWEIGHT is now read as PCL annotation: tests/test_expression_inputs.py.)"""
    lfc = pd.read_csv(files["cfg"]["expression"], sep="\t")
    lfc.insert(1, "SPOTS", 2)
    lfc.to_csv(tmp_path / "spots.tsv", sep="\t", index=False)
    cfg = {**files["cfg"], "expression": str(tmp_path / "spots.tsv"), "condition_names": None}
    with caplog.at_level(logging.WARNING):
        build("deeprage", cfg, tmp_path / "x", progress=False)
    assert ("reg.tab: the triplets name condition columns 1 to 4 only, so 1 conditions after "
            "them in the expression table's 5 condition columns get all-zero regulator states "
            "(diamide); without condition_names, triplet column j is the table's j-th "
            "condition column: if the table has other columns (e.g. a weight or count), give "
            "condition_names") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # condition_names: matched by name, no warning
        ds = build("deeprage", {**cfg, "condition_names": files["cfg"]["condition_names"]},
                   tmp_path / "y", progress=False)
    assert "all-zero regulator states" not in caplog.text and ds.conditions == CONDS


def test_condition_names_numbered_out_of_order(files, tmp_path, capsys):
    """Line j of expt_names_E.txt names triplet column j whatever its number: a file
    sorted by hand gave 'dtt' (numbered 3) the states of column 2, silently."""
    (tmp_path / "conds.txt").write_text("1\theat 5\n3\tdtt\n2\theat 10\n4\tdiamide\n")
    err = _fails(tmp_path, {**files["cfg"], "condition_names": str(tmp_path / "conds.txt")},
                 capsys)
    assert (f"{tmp_path / 'conds.txt'}:2: name 2 is numbered 3; expected the lines numbered "
            "1, 2, 3, ... in order (line j names triplet index j, whatever its number)") in err


def _reg_table(files, path, index, states=None) -> str:
    states = files["states"] if states is None else states
    pd.DataFrame(states, index=pd.Index(index, name="regulator"), columns=CONDS).to_csv(
        path, sep="\t")
    return str(path)


def test_regulator_table_with_a_names_file(files, tmp_path, capsys):
    """With regulator_names, a regulator table's own row names were replaced by the file's,
    silently: rows in another order put one regulator's states under another's name."""
    rows = [f"R{i}" for i in range(N_REG)]
    order = [3, 0, 4, 2, 1]
    cfg = {**files["cfg"], "condition_names": None,
           "regulators": _reg_table(files, tmp_path / "reg.tsv", [rows[k] for k in order],
                                    files["states"][order])}
    ds = build("deeprage", cfg, tmp_path / "x", progress=False)
    assert ds.meta["regulator_names"] == rows
    np.testing.assert_array_equal(ds.arrays["regulators"], files["states"].T)

    numbered = {**cfg, "regulators": _reg_table(files, tmp_path / "num.tsv",
                                                list(range(1, N_REG + 1)))}
    ds = build("deeprage", numbered, tmp_path / "n", progress=False)
    assert ds.meta["regulator_names"] == rows

    other = {**cfg, "regulators": _reg_table(files, tmp_path / "other.tsv",
                                             ["YAP1", *rows[1:]])}
    err = _fails(tmp_path, other, capsys)
    assert (f"other.tsv: the table's rows are not the regulators of "
            f"{files['cfg']['regulator_names']} (1 rows it does not name, e.g. ['YAP1']; "
            "1 names without a row, e.g. ['R0']); expected a row for each regulator it names "
            "(or no regulator_names: a table names its rows)") in err


def test_regulator_table_of_conditions_by_regulators(files, tmp_path, capsys):
    """A table transposed (one row per condition) was refused without saying so."""
    tab = pd.DataFrame(files["states"].T, index=pd.Index(CONDS, name="condition"),
                       columns=[f"R{i}" for i in range(N_REG)])
    tab.to_csv(tmp_path / "reg.tsv", sep="\t")
    err = _fails(tmp_path, {**files["cfg"], "regulators": str(tmp_path / "reg.tsv"),
                            "regulator_names": None, "condition_names": None}, capsys)
    assert ("has regulator states; its rows name 4 of them (e.g. 'diamide'): expected one row "
            "per regulator and one column per condition (transpose the table)") in err


def test_trailing_separators_and_r_headers(files, tmp_path, capsys):
    """A trailing tab on every line (Excel, R) was refused ('header has 5 condition names
    for 4 columns'; a regulator table: 'triplets name condition column 4 but the
    condition_names file lists 5'); a header without the gene column's name (R's
    write.table) was blamed on a separator inside a condition name."""
    lines = open(files["cfg"]["expression"]).read().splitlines()
    (tmp_path / "trail.tsv").write_text("".join(f"{ln}\t\n" for ln in lines))
    (tmp_path / "head.tsv").write_text(f"{lines[0]}\t\n" + "".join(f"{ln}\n" for ln in lines[1:]))
    reg = _reg_table(files, tmp_path / "reg.tsv", [f"R{i}" for i in range(N_REG)])
    (tmp_path / "reg_trail.tsv").write_text("".join(f"{ln}\t\n" for ln in
                                                    open(reg).read().splitlines()))
    plain = build("deeprage", files["cfg"], tmp_path / "plain", progress=False)
    for name, data in [("trail", {"expression": str(tmp_path / "trail.tsv")}),
                       ("head", {"expression": str(tmp_path / "head.tsv")}),
                       ("reg", {"regulators": str(tmp_path / "reg_trail.tsv"),
                                "regulator_names": None, "condition_names": None})]:
        ds = build("deeprage", {**files["cfg"], **data}, tmp_path / name, progress=False)
        assert ds.conditions == CONDS, name
        np.testing.assert_array_equal(ds.arrays["lfc"], plain.arrays["lfc"])
        np.testing.assert_array_equal(ds.arrays["regulators"], plain.arrays["regulators"])

    (tmp_path / "r.tsv").write_text("\t".join(lines[0].split("\t")[1:]) + "\n"
                                    + "".join(f"{ln}\n" for ln in lines[1:]))
    err = _fails(tmp_path, {**files["cfg"], "expression": str(tmp_path / "r.tsv")}, capsys)
    assert ("r.tsv: the header has 4 fields but the first row has 5; expected a name for "
            "every column, the gene-id column's too (R's write.table leaves it out: "
            "write.table(..., col.names=NA) writes it)") in err


def test_hash_header_lines(files, tmp_path):
    """A ``#gene<TAB>heat 5...`` header (bedtools, tabix) is read by read_expression_table,
    but the condition names were taken from the first data row: conditions named '0.362',
    '-1.003'... (without condition_names, silently), 'none of the expression table's
    conditions has regulator states', or 'no gene-id column 'gene''; a regulator table
    under such a header matched no condition."""
    lines = open(files["cfg"]["expression"]).read().splitlines(keepends=True)
    (tmp_path / "hash.tsv").write_text("#" + "".join(lines))
    (tmp_path / "hash_gz.tsv").write_bytes(gzip.compress(("#" + "".join(lines)).encode()))
    reg = open(_reg_table(files, tmp_path / "reg.tsv", [f"R{i}" for i in range(N_REG)])).read()
    (tmp_path / "reg_hash.tsv").write_text("#" + reg)
    two = ["dtt", "heat 5"]
    plain = {tuple(c or ()): build("deeprage", {**files["cfg"], "conditions": c},
                                   tmp_path / f"plain{len(c or ())}", progress=False)
             for c in (None, two)}
    for name, data in [("hash", {"expression": str(tmp_path / "hash.tsv")}),
                       ("gz", {"expression": str(tmp_path / "hash_gz.tsv"),
                               "condition_names": None}),
                       ("by_name", {"expression": str(tmp_path / "hash.tsv"),
                                    "gene_column": "gene", "conditions": two}),
                       ("reg", {"regulators": str(tmp_path / "reg_hash.tsv"),
                                "regulator_names": None, "condition_names": None})]:
        ds = build("deeprage", {**files["cfg"], **data}, tmp_path / name, progress=False)
        want = plain[tuple(data.get("conditions") or ())]
        assert ds.conditions == want.conditions == (data.get("conditions") or CONDS), name
        np.testing.assert_array_equal(ds.arrays["lfc"], want.arrays["lfc"])
        np.testing.assert_array_equal(ds.arrays["regulators"], want.arrays["regulators"])


def test_gct_expression_table(files, tmp_path):
    """A GCT table (``#1.2``, dimensions, ``Name<TAB>Description<TAB>`` conditions) was
    read by read_expression_table but its Description column was taken for a condition
    name here ("header has 5 condition names for 4 columns"); now the same conditions and
    values as the plain table."""
    table = pd.read_csv(files["cfg"]["expression"], sep="\t")
    table.insert(1, "Description", [f"desc {g}" for g in table["gene"]])
    body = table.rename(columns={"gene": "Name"}).to_csv(sep="\t", index=False)
    path = tmp_path / "lfc.gct.gz"
    path.write_bytes(gzip.compress(f"#1.2\n{len(table)}\t{len(CONDS)}\n{body}".encode()))
    plain = build("deeprage", files["cfg"], tmp_path / "plain", progress=False)
    for names in (files["cfg"]["condition_names"], None):
        ds = build("deeprage", {**files["cfg"], "expression": str(path),
                                "condition_names": names}, tmp_path / f"gct{names is None}",
                   progress=False)
        assert ds.conditions == plain.conditions == CONDS
        np.testing.assert_array_equal(ds.arrays["lfc"], plain.arrays["lfc"])


@pytest.fixture
def repaired(files, tmp_path):
    """A table whose header holds the raw condition names, tabs inside (DeepRAGE's
    expt_names_E.txt), with their condition_names file: its rows as lines of text."""
    raw = ["heat 5\tR", "heat 10", "dtt\tR", "diamide"]
    (tmp_path / "conds.txt").write_text("".join(f"{i + 1}\t{c}\r\n" for i, c in enumerate(raw)))
    lines = open(files["cfg"]["expression"]).read().splitlines()
    cfg = {**files["cfg"], "condition_names": str(tmp_path / "conds.txt")}
    return {"header": "gene\t" + "\t".join(raw) + "\n", "rows": [f"{ln}\n" for ln in lines[1:]],
            "cfg": cfg}


def test_repaired_header_tables_are_read_like_any_table(repaired, tmp_path, capsys):
    """The reader of such tables took a gzip file not named .gz for text (a
    UnicodeDecodeError traceback), refused trailing separators, and crashed on a ragged row
    (a pandas ParserError traceback)."""
    text = repaired["header"] + "".join(repaired["rows"])
    (tmp_path / "lfc.tsv").write_text(text)
    plain = build("deeprage", {**repaired["cfg"], "expression": str(tmp_path / "lfc.tsv")},
                  tmp_path / "plain", progress=False)
    assert plain.conditions == ["heat 5 R", "heat 10", "dtt R", "diamide"] and len(plain) == 48
    (tmp_path / "lfc_gz.tsv").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "trail.tsv").write_text(repaired["header"]
                                        + "".join(r[:-1] + "\t\n" for r in repaired["rows"]))
    for name in ("lfc_gz.tsv", "trail.tsv"):
        ds = build("deeprage", {**repaired["cfg"], "expression": str(tmp_path / name)},
                   tmp_path / name.replace(".", "_"), progress=False)
        np.testing.assert_array_equal(ds.arrays["lfc"], plain.arrays["lfc"])

    rows = list(repaired["rows"])
    rows[5] = rows[5][:-1] + "\t0.3\n"
    (tmp_path / "ragged.tsv").write_text(repaired["header"] + "".join(rows))
    err = _fails(tmp_path, {**repaired["cfg"], "expression": str(tmp_path / "ragged.tsv")},
                 capsys)
    assert ("ragged.tsv:7: 6 fields; expected 5, the gene id and one value for each of the 4 "
            "conditions of the condition_names file") in err


def test_repaired_header_table_with_a_gene_twice(repaired, tmp_path, capsys):
    """A gene id twice was not checked: the labels (one row more than the promoters) were
    misaligned with the promoters from that gene on, and the build crashed with an
    IndexError traceback."""
    rows = repaired["rows"] + [repaired["rows"][3].replace("G03", "G05")]
    (tmp_path / "dup.tsv").write_text(repaired["header"] + "".join(rows))
    err = _fails(tmp_path, {**repaired["cfg"], "expression": str(tmp_path / "dup.tsv")}, capsys)
    assert "dup.tsv:14: gene id 'G05' again (first on line 7); expected each gene once" in err


def test_no_gene_with_a_promoter_says_why(files, tmp_path, capsys):
    """The error named neither the file nor the reason: promoters under other names
    (standard vs systematic), a GTF whose chromosome names the genome does not use."""
    rng = np.random.default_rng(0)
    write_fasta(tmp_path / "std.fa", {f"STD{i}": "".join(rng.choice(list("ACGT"), 100))
                                      for i in range(3)})
    err = _fails(tmp_path, {**files["cfg"], "promoters": str(tmp_path / "std.fa")}, capsys)
    assert ("deeprage: no expression gene id has a promoter sequence (e.g. G00, G01, G02): 12 "
            f"no promoter sequence (e.g. G00: no record 'G00' in {tmp_path / 'std.fa'}); the "
            f"records of {tmp_path / 'std.fa'} are named e.g. STD0, STD1, STD2") in err

    write_fasta(tmp_path / "genome.fa", {"NC_001133.9": "".join(rng.choice(list("ACGT"), 6000))})
    (tmp_path / "genes.gtf").write_text("".join(
        f'I\tsgd\tgene\t{300 + 400 * i}\t{500 + 400 * i}\t.\t+\t.\tgene_id "{g}";\n'
        for i, g in enumerate(files["genes"])))
    err = _fails(tmp_path, {**files["cfg"], "promoters": None, "fasta": str(tmp_path / "genome.fa"),
                            "gtf": str(tmp_path / "genes.gtf")}, capsys)
    assert ("deeprage: no expression gene id has a promoter sequence (e.g. G00, G01, G02): 12 "
            f"chromosome missing from the genome or a track (e.g. G00: I is not in "
            f"{tmp_path / 'genome.fa'})") in err


def test_promoters_past_a_chromosome_start_are_told_as_deeprage_pads_them(files, tmp_path,
                                                                          caplog):
    """A GTF gene whose promoter runs past its chromosome's start: the warning said the part
    outside is "N (sequence) and 0 (tracks), as in the paper's code" (DeepRAGE has no
    tracks, and its code reads promoter records); it says what the promoter holds there."""
    rng = np.random.default_rng(0)
    write_fasta(tmp_path / "genome.fa", {"I": "".join(rng.choice(list("ACGT"), 8000))})
    (tmp_path / "genes.gtf").write_text("".join(
        f'I\tsgd\tgene\t{300 + 600 * i}\t{500 + 600 * i}\t.\t+\t.\tgene_id "{g}";\n'
        for i, g in enumerate(files["genes"])))
    cfg = {**files["cfg"], "promoters": None, "fasta": str(tmp_path / "genome.fa"),
           "gtf": str(tmp_path / "genes.gtf"), "promoter_length": 500}
    with caplog.at_level(logging.WARNING):
        ds = build("deeprage", cfg, tmp_path / "dr", progress=False)
    assert len(ds.gene_ids) == len(files["genes"])
    assert ("deeprage: 1 gene windows run past a chromosome end; the part outside is N, as "
            "a promoter record shorter than promoter_length: G00") in caplog.text
    assert "tracks" not in caplog.text


@pytest.mark.parametrize("value", [-1, True, 1.0])
def test_gene_column_is_checked(files, tmp_path, capsys, value):
    """-1 read the last condition as gene ids ("non-numeric value 'G00' for gene '0.581'"),
    true was a pandas ValueError traceback, 1.0 was looked up as a column name."""
    err = _fails(tmp_path, {**files["cfg"], "gene_column": value}, capsys)
    assert ("deeprage.gene_column: expected the name or the 0-based position of the expression "
            f"table's gene-id column, got {value!r}") in err


@pytest.mark.parametrize(("write", "header", "why"), [
    (lambda path: pd.DataFrame({"condition": CONDS}, index=pd.RangeIndex(1, 5, name="id"))
     .to_csv(path, sep="\t"), "'id\\tcondition'", "it has no index and line 2 is numbered 1"),
    (lambda path: pd.Series(CONDS, name="condition").to_csv(path, sep="\t"),
     "'\\tcondition'", "it has no index and line 2 is numbered 0"),
    (lambda path: pd.Series(CONDS).to_csv(path, index=False),
     "'0'", "pandas writes 0 above a list saved with to_csv(index=False)"),
], ids=["id header, numbered from 1", "unnamed index, from 0", "unnumbered, header 0"])
def test_condition_names_file_with_a_header_line(files, tmp_path, capsys, write, header, why):
    """A header line written by pandas (``id<TAB>condition`` above ``1<TAB>heat 5``) was
    taken for condition 1 (numbered lines: the numbering was made to start at 0): every
    condition got the next triplet column's states, exit 0 and no warning."""
    path = tmp_path / "conds.txt"
    write(path)
    err = _fails(tmp_path, {**files["cfg"], "condition_names": str(path)}, capsys)
    assert (f"{path}:1: {header} is a column header ({why}); expected one name per line and "
            "no header (line j names triplet index j): remove the line (pandas: "
            "to_csv(..., header=False))") in err

    pd.Series(CONDS).to_csv(path, index=False, header=False)  # as advised
    ds = build("deeprage", {**files["cfg"], "condition_names": str(path)}, tmp_path / "ok",
               progress=False)
    for j, c in enumerate(CONDS):
        np.testing.assert_array_equal(_regs(ds, c), files["states"][:, j])


def test_regulator_names_counted_against_the_triplets(files, tmp_path, capsys, caplog):
    """A regulator_names file with pandas' header ``0`` (``Series.to_csv(index=False)``)
    gave 6 regulators for 5 triplet rows: the triplets were padded with an all-zero row and
    each name put on the next regulator's states, exit 0 and no warning (the count check
    after the padding could not fire). A numbered regulator table and a names file of
    another length said '5 regulators but 6 names', without naming the names file."""
    regs = [f"R{i}" for i in range(N_REG)]
    path = tmp_path / "regs.txt"
    pd.Series(regs).to_csv(path, index=False)
    err = _fails(tmp_path, {**files["cfg"], "regulator_names": str(path)}, capsys)
    assert (f"{path}:1: '0' is a column header (pandas writes 0 above a list saved with "
            "to_csv(index=False))") in err

    pd.Series(regs, name="regulator").to_csv(path, index=False)  # a column's name: refused
    err = _fails(tmp_path, {**files["cfg"], "regulator_names": str(path)}, capsys)
    assert (f"{path}:1: 'regulator' is a column header (a column name, and the file lists 6 "
            f"regulators where the triplets of {files['cfg']['regulators']} name rows 1 to 5)"
            ) in err

    pd.Series(regs, name="my_tfs").to_csv(path, index=False)  # a header no rule can tell
    with caplog.at_level(logging.WARNING):
        ds = build("deeprage", {**files["cfg"], "regulator_names": str(path)}, tmp_path / "x",
                   progress=False)
    assert (f"deeprage: the regulator_names file {path} lists 6 regulators but the triplets of "
            f"{files['cfg']['regulators']} name rows 1 to 5 only: no triplet names the last 1 "
            "regulators (R4), their regulator states are all 0; if its first name "
            "'my_tfs' is a column header, remove it (it puts each name on the next "
            "regulator's states)") in caplog.text
    assert ds.meta["regulator_names"] == ["my_tfs", *regs]

    (tmp_path / "short.txt").write_text("".join(f"{r}\n" for r in regs[:4]))
    err = _fails(tmp_path, {**files["cfg"], "regulator_names": str(tmp_path / "short.txt")},
                 capsys)
    assert (f"reg.tab: triplets name regulator row 5 but the regulator_names file "
            f"{tmp_path / 'short.txt'} lists 4 regulators; expected row indices 1 to 4") in err
    table = _reg_table(files, tmp_path / "num.tsv", list(range(1, N_REG + 1)))
    err = _fails(tmp_path, {**files["cfg"], "regulators": table, "condition_names": None,
                            "regulator_names": str(tmp_path / "short.txt")}, capsys)
    assert (f"num.tsv: 5 rows numbered 1 to 5 but {tmp_path / 'short.txt'} lists 4 "
            "regulators; expected one name for each row, in the rows' order") in err


def test_condition_without_a_name_is_dropped_naming_the_condition_names_file(files, tmp_path):
    """dropped.tsv said a condition missing from the condition_names file was 'not in
    reg.tab' (the triplets, which name no condition)."""
    lfc = pd.read_csv(files["cfg"]["expression"], sep="\t")
    lfc["cold"] = 0.5
    lfc.to_csv(tmp_path / "lfc.tsv", sep="\t", index=False)
    ds = build("deeprage", {**files["cfg"], "expression": str(tmp_path / "lfc.tsv")},
               tmp_path / "x", progress=False)
    dropped = pd.read_csv(ds.path / "dropped.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert dropped[["example", "reason", "detail"]].values.tolist() == [
        ["cold", "no_regulator_states", "every gene's pair in this condition; not in "
                                        f"{files['cfg']['condition_names']}"]]
    assert ds.conditions == CONDS
