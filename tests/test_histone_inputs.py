"""A biologist's own files and settings fed to the histone-bins builder
(:mod:`kerasgene.datasets.histone_bins`, :mod:`kerasgene.datasets.histone_sources`): bigWig
marks (pyBigWig), GTF, expression table, Kaggle npz and DeepChrome CSVs written to
``tmp_path``."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
import pytest
from real_files import write_bedgraph, write_random_genes_gtf

from kerasgene.datasets import build
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.tracks import write_bigwig

MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")
SIZES = {"chr1": 30_000, "chr2": 20_000}


@pytest.fixture(scope="module")
def marks_world(tmp_path_factory):
    """Two cell types × 5 mark bigWigs (every base > 0), a GTF of 12 genes on both strands
    and chromosomes, and a TPM table."""
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("histone_inputs")
    genes = write_random_genes_gtf(d / "genes.gtf", rng, SIZES)
    cells = {}
    for cell in ("cellA", "cellB"):
        marks = {}
        for m in MARKS:
            write_bigwig(d / f"{cell}_{m}.bw", SIZES,
                         {c: np.round(rng.gamma(2.0, 2.0, n) + 0.01, 2) for c, n in SIZES.items()})
            marks[m] = str(d / f"{cell}_{m}.bw")
        cells[cell] = {"marks": marks}
    pd.DataFrame({"gene_id": genes, "cellA": rng.gamma(1, 10, 12).round(2),
                  "cellB": rng.gamma(1, 10, 12).round(2)}).to_csv(d / "expr.tsv", sep="\t",
                                                                   index=False)
    cfg = {"cells": cells, "gtf": str(d / "genes.gtf"), "expression": str(d / "expr.tsv"),
           "split": {"method": "random", "group": "gene_id", "seed": 0}}
    return {"dir": d, "cfg": cfg}


def _npz_array(ids, rng):
    """A Kaggle array (genes, 100 bins, 7): gene id, 5 marks, expression on every bin."""
    arr = np.zeros((len(ids), 100, 7))
    arr[:, :, 0] = np.asarray(ids)[:, None]
    arr[:, :, 1:6] = rng.integers(0, 30, (len(ids), 100, 5))
    arr[:, :, 6] = rng.gamma(1, 2, len(ids))[:, None]
    return arr


def test_npz_whose_gene_id_changes_along_the_bins_is_refused(tmp_path):
    """A long (genes × bins, 7) table sorted by bin, then gene, reshaped to (genes, 100, 7):
    each 'gene' mixes 100 genes' rows. Only bin 0's id was read: 31 genes were built from
    scrambled rows without a word."""
    rng = np.random.default_rng(0)
    good = _npz_array(np.arange(1, 32), rng)  # 31 genes
    by_bin = good.transpose(1, 0, 2).reshape(-1, 7)  # rows of bin 1 for every gene, then bin 2
    np.savez(tmp_path / "train.npz", E1=by_bin.reshape(31, 100, 7))
    with pytest.raises(InputFileError, match=r"train\.npz: array 'E1', gene 1 \(row 0\) holds "
                                             r"gene id 2 in bin 2 \(31 of 31 genes hold several "
                                             r"ids\); expected each gene's id on all of its bins"):
        build("histone", {"npz": str(tmp_path / "train.npz")}, tmp_path / "ds", progress=False)
    good[4, :, 0] = np.nan
    np.savez(tmp_path / "nan.npz", E1=good)
    with pytest.raises(InputFileError, match=r"nan\.npz: array 'E1', row 4 \(bin 1\): gene id "
                                             r"nan; expected a finite number"):
        build("histone", {"npz": str(tmp_path / "nan.npz")}, tmp_path / "ds2", progress=False)


def test_log1p_of_a_mark_file_holding_negative_values_is_refused(marks_world, tmp_path):
    """A signed bigWig (log2 fold change, input-subtracted) under mark_transform: log1p:
    every negative value became 0, silently."""
    rng = np.random.default_rng(1)
    write_bigwig(tmp_path / "lfc.bw", SIZES,
                 {c: np.round(rng.normal(0, 2, n), 2) for c, n in SIZES.items()})
    cfg = copy.deepcopy(marks_world["cfg"])
    cfg["cells"]["cellA"]["marks"]["H3K4me3"] = str(tmp_path / "lfc.bw")
    with pytest.raises(InputFileError, match=r"lfc\.bw \(cell cellA, mark H3K4me3\): holds "
                                             r"negative values \(down to -\d.*\); mark_transform "
                                             r"log1p .* would clip them to 0"):
        build("histone", {**cfg, "mark_transform": "log1p"}, tmp_path / "ds", progress=False)
    ds = build("histone", cfg, tmp_path / "ds_none", progress=False)  # used as given
    assert ds.arrays["marks"][:, :, MARKS.index("H3K4me3")].min() < 0


def test_one_file_for_two_marks_or_two_cell_types(marks_world, tmp_path, caplog):
    """A path copied into another mark's entry made two identical channels; one copied into
    another cell type's entry gave both cell types the same channel; both without a word."""
    cfg = copy.deepcopy(marks_world["cfg"])
    marks = cfg["cells"]["cellA"]["marks"]
    marks["H3K4me3"] = marks["H3K4me1"]
    with pytest.raises(ConfigError, match=r"histone\.cells\.cellA\.marks: H3K4me1 and H3K4me3 "
                                          r"name one file \(.*cellA_H3K4me1\.bw\); expected "
                                          r"each mark's own file"):
        build("histone", cfg, tmp_path / "ds", progress=False)
    cfg = copy.deepcopy(marks_world["cfg"])
    cfg["cells"]["cellB"]["marks"]["H3K9me3"] = cfg["cells"]["cellA"]["marks"]["H3K9me3"]
    with caplog.at_level(logging.WARNING):
        build("histone", cfg, tmp_path / "ds2", progress=False)
    assert ("histone: 2 cell types (cellA, cellB) read one H3K9me3 file ("
            in caplog.text)
    assert "cellA_H3K9me3.bw): their H3K9me3 channels are the same" in caplog.text


@pytest.mark.parametrize("marks, message", [
    ({"H3K4me3": None}, r"histone\.cells\.cellA\.marks\.H3K4me3: expected the path of a bigWig, "
                        r"bigBed or bedGraph file, got None"),
    ("list", r"histone\.cells\.cellA\.marks: expected a mapping mark name → track file"),
])
def test_mark_entry_without_a_path(marks_world, tmp_path, marks, message):
    """``H3K4me3:`` left empty in the YAML was a TypeError traceback; marks given as a list
    were reported as mark names that 'differ' (the paths)."""
    cfg = copy.deepcopy(marks_world["cfg"])
    entry = cfg["cells"]["cellA"]["marks"]
    cfg["cells"]["cellA"]["marks"] = (list(entry.values()) if marks == "list"
                                      else {**entry, **marks})
    with pytest.raises(ConfigError, match=message):
        build("histone", cfg, tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("key, value, message", [
    ("strand_orient", "false", r"histone\.strand_orient: expected true or false, got 'false'"),
    ("cell_stats", "false", r"histone\.cell_stats: expected true or false, got 'false'"),
    ("log", "no", r"histone\.log: expected true or false or null, got 'no'"),
    ("n_bins", "abc", r"histone\.n_bins: expected an integer >= 1, got 'abc'"),
    ("window", 0, r"histone\.window: expected an integer >= 1, got 0"),
    ("window", "1e4", r"histone\.window: expected an integer >= 1, got '1e4'; YAML reads"),
    ("chunk_size", 0, r"histone\.chunk_size: expected an integer >= 1, got 0"),
    ("marks", "H3K4me3", r"histone\.marks: expected a list of mark names"),
    ("marks", [*MARKS, "H3K4me3"], r"histone\.marks: 'H3K4me3' is listed more than once"),
])
def test_settings_of_the_wrong_type(tmp_path, key, value, message):
    """The string "false" was read as true (k-mers of oriented windows, 10 statistic
    channels, logged labels); 0 and text were ValueError tracebacks after the files were
    read; marks as a string were matched letter by letter, listed twice a numpy broadcast
    error."""
    np.savez(tmp_path / "train.npz", E1=_npz_array(np.arange(1, 11), np.random.default_rng(0)))
    with pytest.raises(ConfigError, match=message):
        build("histone", {"npz": str(tmp_path / "train.npz"), key: value}, tmp_path / "ds",
              progress=False)


def test_mark_without_signal_around_the_genes_of_a_chromosome(marks_world, tmp_path, caplog):
    """A bigWig whose header lists chr2 but which holds data on chr1 only (a file made for a
    subset of chromosomes): the mark's channel was 0 for every chr2 gene, silently."""
    rng = np.random.default_rng(2)
    write_bigwig(tmp_path / "chr1_only.bw", SIZES,
                 {"chr1": np.round(rng.gamma(2.0, 2.0, SIZES["chr1"]) + 0.01, 2)})
    cfg = copy.deepcopy(marks_world["cfg"])
    cfg["cells"]["cellB"]["marks"]["H3K36me3"] = str(tmp_path / "chr1_only.bw")
    with caplog.at_level(logging.WARNING):
        ds = build("histone", cfg, tmp_path / "ds", progress=False)
    assert (f"histone: {tmp_path / 'chr1_only.bw'} (cell cellB, track H3K36me3): no signal "
            "around any of the 6 genes on 1 of the 2 chromosomes with genes (chr2): their "
            "H3K36me3 windows are all 0" in caplog.text)
    assert caplog.text.count("no signal around") == 1
    assert len(ds) == 24  # kept: the warning says what the channel holds


def test_deepchrome_cells_with_and_without_split_files(tmp_path, caplog):
    """One cell type given as train/valid/test CSVs and one as a single CSV: the default
    split became random and the given test genes were trained on; under split: given the
    single CSV's genes were in no set; both without a word."""
    rng = np.random.default_rng(0)
    header = "GeneID,BinID," + ",".join(MARKS) + ",label\n"

    def csv(name, genes):
        text = header + "".join(
            f"{g},{b + 1}," + ",".join(map(str, rng.integers(0, 9, 5))) + f",{i % 2}\n"
            for i, g in enumerate(genes) for b in range(100))
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    split_files = {s: csv(f"{s}.csv", [f"{s}{i}" for i in range(6)])
                   for s in ("train", "valid", "test")}
    cells = {"E003": split_files, "E004": csv("e004.csv", [f"g{i}" for i in range(20)])}
    with caplog.at_level(logging.WARNING):
        build("histone", {"cells": cells, "label": "binary"}, tmp_path / "ds", progress=False)
    assert ("histone: cell types E003 give files per split (train/valid/test) but E004 do not, "
            "so the random split does not use the given files" in caplog.text)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ds = build("histone", {"cells": cells, "label": "binary", "split": {"method": "given"}},
                   tmp_path / "ds2", progress=False)
    assert ds.split_counts["none"] == 20
    assert ("histone: split given: 20 examples (cell types E004) come from files not given as "
            "train, valid or test and are in no set" in caplog.text)


def _bedgraph_marks(d, prefix, rng):
    """bedGraph mark files whose last intervals end at different places (the last read of
    each ChIP-seq file, as MACS2 writes them): 37, 74, ... bp before the chromosome ends."""
    marks = {}
    for k, m in enumerate(MARKS):
        rows = [(c, s, min(s + 50, n - 37 * (k + 1)), float(rng.gamma(2.0, 2.0)))
                for c, n in SIZES.items() for s in range(0, n - 37 * (k + 1), 50)]
        marks[m] = write_bedgraph(d / f"{prefix}_{m}.bedGraph", rows)
    return marks


def test_bedgraph_marks_take_the_chromosome_sizes_of_a_bigwig_or_the_genome(marks_world,
                                                                              tmp_path, caplog):
    """Each bedGraph's chromosomes ended at its own last interval, so the 5 marks of a cell
    disagreed on every chromosome's length: all 24 genes of the cell type were left out as
    'chromosome of another length ... (another assembly)' and the build failed with 'cell
    type has no genes left'."""
    rng = np.random.default_rng(4)
    cfg = copy.deepcopy(marks_world["cfg"])
    cfg["cells"]["cellA"]["marks"] = _bedgraph_marks(tmp_path, "A", rng)
    ds = build("histone", cfg, tmp_path / "ds", progress=False)  # sizes of cellB's bigWigs
    assert len(ds) == 24 and ds.meta["dropped"] == {}
    cfg["cells"]["cellB"]["marks"] = _bedgraph_marks(tmp_path, "B", rng)
    with caplog.at_level(logging.WARNING):
        ds = build("histone", cfg, tmp_path / "ds2", progress=False)
    assert len(ds) == 24
    assert ("histone: every mark file is a bedGraph and no fasta is given, so no file gives "
            "chromosome sizes; 2 chromosomes (chr1, chr2) end at the last interval of any "
            "mark file" in caplog.text)
