"""A biologist's own histone files that built a wrong dataset without a word: Kaggle npz
arrays whose columns are in another order or whose ids float32 rounded, DeepChrome CSVs
with a bin missing, two bigWig cell types reading one expression column. Files written with
numpy, pandas and pyBigWig (:func:`kerasgene.io.tracks.write_bigwig`) to ``tmp_path``."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from conftest import write_fasta
from real_files import write_random_genes_gtf
from test_histone_inputs import SIZES, marks_world  # noqa: F401 (its fixture)

from kerasgene.datasets import build, histone_bins
from kerasgene.datasets.histone_sources import read_deepchrome_csv, read_kaggle_npz
from kerasgene.datasets.windows import gene_windows
from kerasgene.dna import kmer_counts, kmer_names
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.annotation import read_gtf
from kerasgene.io.genome import Genome
from kerasgene.io.tracks import write_bigwig

MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")


def _npz_array(n=6, seed=0):
    """A Kaggle array (n genes, 100 bins, 7): gene ids 1..n, integer marks, an expression
    (log2 TPM) repeated on every bin."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((n, 100, 7))
    arr[:, :, 0] = np.arange(1, n + 1)[:, None]
    arr[:, :, 1:6] = rng.integers(0, 30, (n, 100, 5))
    arr[:, :, 6] = rng.gamma(2, 2, n).round(4)[:, None]
    return arr


def test_npz_with_the_expression_first_is_refused(tmp_path):
    """Columns saved as expression, marks, gene id: the expression was read as gene ids
    ('7.34856') and the ids 1..n as labels, exit 0."""
    np.savez(tmp_path / "train.npz", E003=_npz_array()[:, :, [6, 1, 2, 3, 4, 5, 0]])
    with pytest.raises(InputFileError, match=r"train\.npz: array 'E003', row 0 \(bin 1\): gene "
                                             r"id [0-9.]+ is not a whole number \(6 of 6 genes\); "
                                             r"expected the columns gene id \(a whole number\), "
                                             r"5 marks, expression"):
        read_kaggle_npz(tmp_path / "train.npz")


def test_npz_whose_last_column_varies_along_the_bins_is_refused(tmp_path):
    """Columns saved as gene id, expression, marks: the last mark's bin-1 value was read as
    the expression and the expression taken for a mark, exit 0."""
    arr = _npz_array()[:, :, [0, 6, 1, 2, 3, 4, 5]]
    np.savez(tmp_path / "train.npz", E003=arr)
    with pytest.raises(InputFileError, match=r"train\.npz: array 'E003', gene '1': expression "
                                             r"\S+ in bin 1 but \S+ in bin \d+ \(6 of 6 genes vary "
                                             r"along their bins\); .*is the last column a mark\?"):
        build("histone", {"npz": str(tmp_path / "train.npz")}, tmp_path / "ds", progress=False)
    arr = _npz_array()
    arr[2, :, 6] = np.nan  # missing on every bin: still read, as missing
    np.savez(tmp_path / "nan.npz", E003=arr.astype(np.float32))
    _, marks, expr = read_kaggle_npz(tmp_path / "nan.npz")["E003"]
    np.testing.assert_array_equal(marks, arr[:, :, 1:6])
    assert np.isnan(expr[2]) and np.allclose(np.delete(expr, 2), np.delete(arr[:, 0, 6], 2))


def test_npz_float32_ids_beyond_its_exact_integers_are_refused(tmp_path):
    """Entrez-like ids above 2**24 in a float32 array are rounded to a multiple of 8:
    genes were given a neighbour's id (or called duplicates) without a word."""
    arr = _npz_array().astype(np.float32)
    arr[:, :, 0] += np.float32(100_000_000)
    np.savez(tmp_path / "train.npz", E003=arr)
    with pytest.raises(InputFileError, match=r"gene id 100000\d+ is above 16,777,216, the "
                                             r"largest whole number that float32 holds exactly"):
        read_kaggle_npz(tmp_path / "train.npz")
    np.savez(tmp_path / "ok.npz", E003=_npz_array().astype(np.float32))  # small ids: fine
    assert read_kaggle_npz(tmp_path / "ok.npz")["E003"][0] == [str(i) for i in range(1, 7)]


def _csv_rows(gene, n_rows=100, skip=None):
    return "".join(f"{gene},{b},1,2,3,4,5,1\n" for b in range(1, n_rows + 1) if b != skip)


@pytest.mark.parametrize("case", ["bin missing", "rows apart"])
def test_csv_gene_with_other_than_100_rows_is_named(tmp_path, case):
    """The error said only '299 rows is not a multiple of 100 bins per gene' (no gene, no
    line), or named no line for a gene whose rows are apart."""
    if case == "bin missing":
        text = _csv_rows("g1") + _csv_rows("g2", skip=50) + _csv_rows("g3")
        want = r"e003\.csv:101: gene 'g2' has 99 rows one after the other \(lines 101-199; 1 of"
    else:
        rows = _csv_rows("g1").splitlines(keepends=True)
        text = "".join(rows[:40]) + _csv_rows("g2") + "".join(rows[40:])
        want = r"e003\.csv:1: gene 'g1' has 40 rows one after the other \(lines 1-40; 2 of"
    (tmp_path / "e003.csv").write_text(text)
    with pytest.raises(InputFileError, match=want + r" the file's 3 runs of one gene's rows are "
                                                    r"not 100 long\); expected 100 rows per gene"):
        read_deepchrome_csv(tmp_path / "e003.csv")


@pytest.mark.parametrize("case", ["shared quantifier table", "column copied"])
def test_two_cell_types_reading_one_expression_column_are_refused(request, tmp_path, case):
    """Two cell types given one RSEM-like table (both read its TPM column), or an
    expression_column copied from another cell's entry: both got the same labels."""
    world = request.getfixturevalue("marks_world")  # test_histone_inputs', imported above
    cfg = copy.deepcopy(world["cfg"])
    cells = cfg["cells"]
    if case == "shared quantifier table":
        genes = pd.read_csv(world["dir"] / "expr.tsv", sep="\t")["gene_id"]
        pd.DataFrame({"gene_id": genes, "TPM": np.arange(len(genes)) + 1.0}).to_csv(
            tmp_path / "rsem.tsv", sep="\t", index=False)
        for spec in cells.values():
            spec["expression"] = str(tmp_path / "rsem.tsv")
        want = r"histone\.cells\.cellB: reads column 'TPM' of .*rsem\.tsv, as cell type 'cellA'"
    else:
        cells["cellB"]["expression_column"] = "cellA"
        want = r"histone\.cells\.cellB: reads column 'cellA' of .*expr\.tsv, as cell type 'cellA'"
    with pytest.raises(ConfigError, match=want + " does, so both would get the same expression "
                                                 "labels; expected each cell type's own column"):
        build("histone", cfg, tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()


def test_cell_type_given_as_a_number_and_as_text_is_named(tmp_path):
    """YAML keys 1 and '1' are two keys but one cell type: the error named none."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.csv").write_text(_csv_rows("g1") + _csv_rows("g2"))
    cfg = {"cells": {1: str(tmp_path / "a.csv"), "1": str(tmp_path / "b.csv")},
           "label": "binary"}
    with pytest.raises(ConfigError, match=r"histone\.cells: cell type '1' is given twice \(as "
                                          r"the number and as the text"):
        build("histone", cfg, tmp_path / "ds", progress=False)


@pytest.mark.parametrize("names", [("cellA", "cellB"), ("cellA", "cellB", "cellC")])
def test_cell_type_whose_mark_file_is_of_another_kind_is_warned_about(tmp_path, caplog,
                                                                      names):
    """ENCODE gives each histone experiment a fold-change and a signal p-value bigWig (and
    read counts can be made): cellB's H3K4me3 as counts, 40x the fold change of cellA, was
    stacked into one dataset without a word; two files of one kind raise nothing. With
    three cell types only cellB is named (each was compared with the median of the other
    two, which for cellA and cellC lay halfway to cellB's: all three were named)."""
    rng = np.random.default_rng(1)
    sizes = {"chr1": 40_000, "chr2": 40_000}
    genes = write_random_genes_gtf(tmp_path / "genes.gtf", rng, sizes, n=24)
    cells = {}
    for cell in names:
        marks = {}
        for m in MARKS:
            scale = 40 if (cell, m) == ("cellB", "H3K4me3") else 1
            write_bigwig(tmp_path / f"{cell}_{m}.bw", sizes,
                         {c: scale * np.round(rng.gamma(2.0, 2.0, n) + 0.01, 2)
                          for c, n in sizes.items()})
            marks[m] = str(tmp_path / f"{cell}_{m}.bw")
        cells[cell] = {"marks": marks}
    pd.DataFrame({"gene_id": genes, **{c: rng.gamma(1, 10, 24).round(2) for c in names}}
                 ).to_csv(tmp_path / "expr.tsv", sep="\t", index=False)
    cfg = {"cells": cells, "gtf": str(tmp_path / "genes.gtf"),
           "expression": str(tmp_path / "expr.tsv")}
    with caplog.at_level("WARNING"):
        build("histone", cfg, tmp_path / "ds", progress=False)
    warned = [r.getMessage() for r in caplog.records if "two scales" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith(
        "histone: sample 'cellB': track 'H3K4me3': mean ")
    assert ("x larger than sample cellA's" if len(names) == 2
            else "x larger than the samples' median") in warned[0]
    caplog.clear()
    cells["cellB"]["marks"]["H3K4me3"] = str(tmp_path / "cellB_H3K4me1.bw")  # one kind
    cells["cellB"]["marks"]["H3K4me1"] = str(tmp_path / "cellA_H3K4me3.bw")
    with caplog.at_level("WARNING"):
        build("histone", cfg, tmp_path / "ds2", progress=False)
    assert "two scales" not in caplog.text


def test_a_class_label_for_the_regression_fcn_is_refused(tmp_path, capsys):
    """``label: binary`` (or a DeepChrome CSV's labels) with the histone FCN, whose output
    is one regression unit: the dataset was built, then the first training step crashed
    with TensorFlow's 'label value of 1 which is outside the valid range of [0, 1)'."""
    import yaml

    from kerasgene.cli import main

    np.savez(tmp_path / "train.npz", E003=_npz_array(n=40))
    config = {"system": "histone_fcn", "seed": 0, "run_dir": str(tmp_path / "run"),
              "data": {"source": "kaggle_npz", "npz": str(tmp_path / "train.npz"),
                       "label": "binary"},
              "model": {"name": "histone_fcn", "hparams": {"base_filters": 4}},
              "training": {"epochs": 1}, "baselines": []}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(tmp_path / "run.yaml")]) == 2
    last = capsys.readouterr().err.splitlines()[-1]  # after the dataset's progress bar
    assert last.startswith("kerasgene: error: model.name: histone_fcn predicts one value per "
                           "example (a regression output), but the dataset's target is a "
                           "class label (2 classes"), last
    assert not (tmp_path / "run" / "run.json").exists()


def test_iupac_codes_in_kmer_windows_are_counted_in_one_warning(request, tmp_path, caplog,
                                                                monkeypatch):
    """A FASTA with IUPAC ambiguity codes (GRCh38 has a few): the histone k-mers counted
    them as N without a word, where iSEGnet's builder warns. Windows are read in chunks of
    5 genes (12 genes: 5, 5, 2), each once; the counts equal each window's kmer_counts.
    An alphabet holding R counts R as itself, so only the other codes are warned about."""
    world = request.getfixturevalue("marks_world")  # test_histone_inputs', imported above
    monkeypatch.setattr(histone_bins, "KMER_CHUNK", 5)
    rng = np.random.default_rng(4)
    seqs = {c: np.array(list("ACGT"))[rng.integers(0, 4, n)] for c, n in SIZES.items()}
    genes = read_gtf(world["dir"] / "genes.gtf")
    codes = {"R": ("chr1", genes[0].tss), "y": ("chr1", genes[0].tss + 7),
             "K": (genes[1].chrom, genes[1].tss)}
    for code, (chrom, pos) in codes.items():
        seqs[chrom][pos] = code
    fasta = write_fasta(tmp_path / "genome.fa", {c: "".join(s) for c, s in seqs.items()})
    chroms, starts, ends, _ = gene_windows(genes, (5000, 5000), (0, 0))

    def expected(letters):  # (windows, characters) holding codes outside ``letters``
        per_gene = [sum(c == chroms[i] and starts[i, 0] <= p < ends[i, 0]
                        for code, (c, p) in codes.items() if code.upper() not in letters)
                    for i in range(len(genes))]
        return sum(n > 0 for n in per_gene), sum(per_gene)

    cfg = {**copy.deepcopy(world["cfg"]), "fasta": fasta, "kmers": {"k": 3, "min_count": 0}}
    for letters in ("ACGTN", "ACGTRN"):
        cfg["kmers"]["alphabet"] = letters
        caplog.clear()
        with caplog.at_level("WARNING"):
            ds = build("histone", cfg, tmp_path / letters, progress=False)
        warned = [r.getMessage() for r in caplog.records if "IUPAC" in r.getMessage()]
        n_windows, n_chars = expected(letters)
        assert n_windows > 1 and len(warned) == 1, warned
        assert warned[0].startswith(f"{fasta}: {n_windows} gene windows hold {n_chars} "
                                    "characters other than A, C, G, T, N (IUPAC ambiguity "
                                    "codes), encoded like N (e.g. g")
        names = kmer_names(3, letters)
        cols = [names.index(km) for km in ds.meta["kmers"]]
        with Genome(fasta) as genome:
            for row, gene_id in zip(ds.arrays["ex_gene"], ds.index.gene_id):
                i = next(j for j, g in enumerate(genes) if g.id == gene_id)
                window = genome.fetch(chroms[i], int(starts[i, 0]), int(ends[i, 0]),
                                      genes[i].strand)
                np.testing.assert_array_equal(ds.arrays["kmers"][row],
                                              kmer_counts(window, 3, 100, letters)[cols].T)


def test_a_cell_type_with_two_marks_swapped_is_named_when_building(small_sim, tmp_path,
                                                                   caplog):
    """cell02's H3K4me1 and H3K4me3 files given each other's names: stacked without a
    word (iSEGnet's builder already told swapped tracks by their profiles); the cell
    types' mean profiles along the TSS window tell it (of marks whose profile has a shape:
    the simulated H3K36me3 is too flat to tell, track_checks.PROFILE_MIN_CV)."""
    out = small_sim[0]
    marks = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")

    def cell(name: str, swap: bool) -> dict:
        files = {m: str(out / "histone" / name / f"{m}.bigWig") for m in marks}
        if swap:
            files["H3K4me3"], files["H3K4me1"] = files["H3K4me1"], files["H3K4me3"]
        return {"marks": files}

    cfg = {"gtf": str(out / "genes.gtf"), "expression": str(out / "histone" / "expression.tsv"),
           "cells": {c: cell(c, c == "cell02") for c in ("cell01", "cell02", "cell03")}}
    with caplog.at_level("WARNING"):
        build("histone", cfg, tmp_path / "swapped", progress=False)
    lines = [r.getMessage() for r in caplog.records if "profile" in r.getMessage()]
    assert [line.split(": its")[0] for line in lines] == [
        "histone: sample 'cell02': track 'H3K4me1'",
        "histone: sample 'cell02': track 'H3K4me3'"], lines
    assert "follows the other samples' 'H3K4me3'" in lines[0] and "two marks" in lines[0]
    caplog.clear()
    cfg["cells"]["cell02"] = cell("cell02", False)
    with caplog.at_level("WARNING"):  # every cell type's own files: nothing to say
        build("histone", cfg, tmp_path / "right", progress=False)
    assert "profile" not in caplog.text
