"""The track files of the chromatin and histone builders as users give them: a bigBed of
peaks (which field holds the values), one file copied under two channels' names, and
mark files of one cell type without a chromosome the others have. Real files written to
``tmp_path``: bigWigs with pyBigWig, narrowPeak bigBeds with pybigtools, bedGraphs."""

from __future__ import annotations

import copy
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import prepare_fails
from real_files import write_bedgraph, write_bigbed, write_random_genes_gtf

from kerasgene.datasets import build
from kerasgene.errors import ConfigError
from kerasgene.io.tracks import write_bigwig

MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")
SIZES = {"chr1": 30_000, "chr2": 20_000}
#: every peak's signalValue in the bigBeds (their score is write_bigbed's constant 500)
SIGNAL_VALUE = 7.25
SPLIT = {"method": "chromosome", "train": ["chr1:0-0.8"], "valid": ["chr1:0.8-1"], "test": ["chr2"]}


def _gamma(rng, sizes=SIZES) -> dict[str, np.ndarray]:
    return {c: np.round(rng.gamma(2.0, 2.0, n) + 0.01, 2) for c, n in sizes.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two cell types × 5 mark bigWigs, a GTF of 12 genes on chr1 and chr2, a TPM table
    (histone); PRO-seq strand bigWigs and a mark bigWig (chromatin); a narrowPeak bigBed
    of 400 bp peaks every 2 kb."""
    rng = np.random.default_rng(40)
    d = tmp_path_factory.mktemp("track_files")
    genes = write_random_genes_gtf(d / "genes.gtf", rng, SIZES)
    cells = {}
    for cell in ("cellA", "cellB"):
        cells[cell] = {"marks": {m: str(write_bigwig(d / f"{cell}_{m}.bw", SIZES, _gamma(rng)))
                                 for m in MARKS}}
    pd.DataFrame({"gene_id": genes, "cellA": rng.gamma(1, 10, 12).round(2),
                  "cellB": rng.gamma(1, 10, 12).round(2)}).to_csv(d / "expr.tsv", sep="\t",
                                                                   index=False)
    histone = {"cells": cells, "gtf": str(d / "genes.gtf"), "expression": str(d / "expr.tsv"),
               "split": {"method": "random", "group": "gene_id", "seed": 0}}
    chromatin = {"signal": {"plus": str(write_bigwig(d / "plus.bw", SIZES, _gamma(rng))),
                            "minus": str(write_bigwig(d / "minus.bw", SIZES, _gamma(rng)))},
                 "targets": {"K4": str(write_bigwig(d / "k4.bw", SIZES, _gamma(rng)))},
                 "window": 5, "sigma": 0, "split": SPLIT}
    peaks = [(c, s, s + 400, SIGNAL_VALUE) for c, n in SIZES.items() for s in range(0, n, 2000)]
    write_bigbed(d / "peaks.bb", SIZES, peaks)
    return {"dir": d, "histone": histone, "chromatin": chromatin, "bigbed": str(d / "peaks.bb")}


def test_bigbed_track_field_in_chromatin_and_histone_configs(world, tmp_path, caplog):
    """A narrowPeak bigBed as a chromatin target or a histone mark was read from its score
    (a browser shade: 1000 in ENCODE's files) without a word, and ``{path: ..., value_column:
    signalValue}`` — as iSEGnet and docs/real_data.md take it — was refused: 'expected the
    path of a bigWig, bigBed or bedGraph file, got {...}'."""
    bb = world["bigbed"]
    fields = "though it has the numeric fields signalValue, pValue, qValue, peak"
    chromatin = copy.deepcopy(world["chromatin"])
    chromatin["targets"] = {"K4": bb}
    with caplog.at_level(logging.WARNING):
        ds = build("chromatin", chromatin, tmp_path / "chrom", progress=False)
    assert f"{bb} (targets.K4): a bigBed, read from its score field (the default " in caplog.text
    assert fields in caplog.text and f"give {{path: {bb}, value_column: signalValue}}" in caplog.text
    assert np.asarray(ds.arrays["targets"]).max() == 500  # score, as the warning says
    caplog.clear()
    chromatin["targets"] = {"K4": {"path": bb, "value_column": "signalValue"}}
    with caplog.at_level(logging.INFO):  # same folder: the field is in the cache key
        ds = build("chromatin", chromatin, tmp_path / "chrom", progress=False)
    assert np.asarray(ds.arrays["targets"]).max() == SIGNAL_VALUE
    assert "a bigBed, read from" not in caplog.text
    chromatin["targets"] = {"K4": {"path": bb, "value_colum": "signalValue"}}
    with pytest.raises(ConfigError, match=r"chromatin\.targets\.K4: unknown key 'value_colum'; "
                                          r"did you mean 'value_column'\?"):
        build("chromatin", chromatin, tmp_path / "chrom2", progress=False)

    histone = copy.deepcopy(world["histone"])
    histone["cells"]["cellA"]["marks"]["H3K4me3"] = bb
    k4 = MARKS.index("H3K4me3")
    with caplog.at_level(logging.WARNING):
        ds = build("histone", histone, tmp_path / "hist", progress=False)
    assert f"{bb} (cell cellA, mark H3K4me3): a bigBed, read from its score field" in caplog.text
    cell_a = (ds.index["cell"] == "cellA").to_numpy()
    assert np.asarray(ds.arrays["marks"])[cell_a][:, :, k4].max() == 500
    caplog.clear()
    histone["cells"]["cellA"]["marks"]["H3K4me3"] = {"path": bb, "value_column": "signalValue"}
    with caplog.at_level(logging.INFO):
        ds = build("histone", histone, tmp_path / "hist", progress=False)
    assert np.asarray(ds.arrays["marks"])[cell_a][:, :, k4].max() == SIGNAL_VALUE
    assert "a bigBed, read from" not in caplog.text


def test_a_file_copied_under_two_channels_names(world, tmp_path, capsys, caplog):
    """One strand's file copied under the other strand's name (a mislabelled download), or
    one mark's file copied under another mark's name, was accepted: two equal channels,
    without a word (only one path named twice was refused)."""
    d = world["dir"]
    shutil.copy(d / "plus.bw", tmp_path / "minus_copy.bw")
    chromatin = copy.deepcopy(world["chromatin"])
    chromatin["signal"]["minus"] = str(tmp_path / "minus_copy.bw")
    err = prepare_fails(tmp_path, capsys, "chromatin", "chromatin_cnn", chromatin)
    assert (f"chromatin.signal: signal.minus and signal.plus hold identical data "  # YAML sorted
            f"({tmp_path / 'minus_copy.bw'} and {d / 'plus.bw'} are byte-identical") in err
    # bedGraphs of the same size but other values are read, not taken for copies
    rows = [("chr1", 0, 100, 1.5), ("chr2", 0, 100, 2.5)]
    plus = write_bedgraph(tmp_path / "plus.bedGraph", rows)
    minus = write_bedgraph(tmp_path / "minus.bedGraph", [(*r[:3], r[3] + 1) for r in rows])
    assert (tmp_path / "plus.bedGraph").stat().st_size == (tmp_path / "minus.bedGraph").stat().st_size
    chromatin["signal"] = {"plus": plus, "minus": minus}
    ds = build("chromatin", chromatin, tmp_path / "ds", progress=False)
    assert ds.meta["signal_names"] == ["plus", "minus"]

    histone = copy.deepcopy(world["histone"])
    shutil.copy(d / "cellA_H3K4me1.bw", tmp_path / "cellA_H3K4me3.bw")
    histone["cells"]["cellA"]["marks"]["H3K4me3"] = str(tmp_path / "cellA_H3K4me3.bw")
    with pytest.raises(ConfigError, match=r"histone\.cells\.cellA\.marks: H3K4me1 and H3K4me3 "
                                          r"hold identical data \(.*cellA_H3K4me1\.bw and "
                                          r".*cellA_H3K4me3\.bw are byte-identical"):
        build("histone", histone, tmp_path / "hist", progress=False)
    histone = copy.deepcopy(world["histone"])
    shutil.copy(d / "cellA_H3K9me3.bw", tmp_path / "cellB_H3K9me3.bw")
    histone["cells"]["cellB"]["marks"]["H3K9me3"] = str(tmp_path / "cellB_H3K9me3.bw")
    with caplog.at_level(logging.WARNING):
        build("histone", histone, tmp_path / "hist2", progress=False)
    assert "histone: cell types cellA and cellB read identical H3K9me3 files (" in caplog.text
    assert "cellB_H3K9me3.bw are byte-identical): their H3K9me3 channels are the same" \
        in caplog.text


def test_genes_left_out_name_the_mark_files_that_lack_their_chromosome(world, tmp_path, caplog):
    """cellB's five mark files lack chr2: the chr2 genes left out of every cell type were
    said to be on a chromosome 'not in .../cellA_H3K27me3.bw or a track' — the first file
    read, which has chr2 — in the warning and in dropped.tsv."""
    rng = np.random.default_rng(1)
    histone = copy.deepcopy(world["histone"])
    chr1 = {"chr1": SIZES["chr1"]}
    for m in MARKS:
        path = write_bigwig(tmp_path / f"cellB_{m}.bw", chr1, _gamma(rng, chr1))
        histone["cells"]["cellB"]["marks"][m] = str(path)
    with caplog.at_level(logging.WARNING):
        ds = build("histone", histone, tmp_path / "hist", progress=False)
    detail = f"chr2 is not in the mark files of cellB (such as {tmp_path / 'cellB_H3K27me3.bw'})"
    assert f"e.g. {detail}" in caplog.text and "cellA_" not in caplog.text
    dropped = pd.read_csv(ds.path / "dropped.tsv", sep="\t")
    assert len(dropped) == 12 and set(dropped["chrom"]) == {"chr2"}  # 6 genes × 2 cells
    assert set(dropped["detail"]) == {detail}


def test_one_mark_file_without_a_chromosome_leaves_out_its_genes_only(world, tmp_path, caplog):
    """One of cellB's marks lacks a chromosome: without genes there (chrEBV, an unplaced
    contig) nothing is left out; with genes, they are, naming that file. The build stopped
    on either (`chromosomes differ from track 'H3K27me3'`), though a chromosome missing from
    another cell type's files only left out its genes."""
    rng = np.random.default_rng(2)
    histone = copy.deepcopy(world["histone"])
    chr1 = {"chr1": SIZES["chr1"]}
    path = write_bigwig(tmp_path / "cellB_H3K9me3.bw", chr1, _gamma(rng, chr1))
    histone["cells"]["cellB"]["marks"]["H3K9me3"] = str(path)
    with caplog.at_level(logging.WARNING):
        ds = build("histone", histone, tmp_path / "hist", progress=False)
    dropped = pd.read_csv(ds.path / "dropped.tsv", sep="\t")
    assert set(dropped["chrom"]) == {"chr2"}
    assert set(dropped["detail"]) == {f"chr2 is not in the mark files of cellB (such as {path})"}
    genes = copy.deepcopy(histone)  # no gene on chr2: the file's lack changes nothing
    kept = [ln for ln in open(world["histone"]["gtf"]) if not ln.startswith("chr2\t")]
    (tmp_path / "chr1.gtf").write_text("".join(kept))
    genes["gtf"] = str(tmp_path / "chr1.gtf")
    ds = build("histone", genes, tmp_path / "hist2", progress=False)
    reasons = set(pd.read_csv(ds.path / "dropped.tsv", sep="\t")["reason"])
    assert reasons == {"not_in_annotation"}  # the table's chr2 genes, no gene for the file
    assert len(ds) == 2 * 6  # the chr1 genes of both cell types
