"""Warnings about a user's files that a dataset build logs are repeated whenever a later
command reuses the cached dataset (``(dataset built TIME) …``): a track without data on
some chromosomes, a peak file without peaks on one, class thresholds leaving a class
empty, promoters cut to length. The left-out counts, already repeated in one warning, are
not printed twice; a dataset cached before warnings were recorded is still reused."""

from __future__ import annotations

import gc
import gzip
import json
import logging
import os
import threading

import numpy as np
import pandas as pd
import pyBigWig
import pytest
from conftest import write_fasta

from kerasgene.datasets import build
from kerasgene.datasets.dropped import REASONS
from kerasgene.datasets.storage import WarningRecorder
from kerasgene.errors import InputFileError

SIZES = {"chr1": 5_000, "chr2": 2_000, "chr3": 1_010}
#: chr3 is in no split: its bins are left out (a ``not_in_split`` row of dropped.tsv)
SPLIT = {"method": "chromosome", "train": ["chr1:0-0.8"], "valid": ["chr1:0.8-1"],
         "test": ["chr2"]}
PREFIX = "(dataset built "
EMPTY_TRACK = "k4_chr1.bw: no data on 2 of the dataset's 3 chromosomes (chr2, chr3)"
NO_PEAK = "no peak on 1 of the dataset's 3 chromosomes (chr3)"


def _write_bigwig(path, values: dict[str, np.ndarray]) -> str:
    """A bigWig of ``SIZES`` with one value per 50 bp (chromosomes not in ``values``
    have no data)."""
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(SIZES.items()))
    for chrom, v in values.items():
        bw.addEntries(chrom, 0, values=[float(x) for x in v], span=50, step=50)
    bw.close()
    return str(path)


@pytest.fixture(scope="module")
def chromatin(tmp_path_factory):
    """Signal and mark bigWigs over chr1-3, a mark with data on chr1 only, and a
    narrowPeak file without peaks on chr3: the chromatin config and the folder."""
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("warned_inputs")

    def bins(chroms):
        return {c: rng.gamma(2, 2, SIZES[c] // 50) * (rng.random(SIZES[c] // 50) < 0.4)
                for c in chroms}

    mark = bins(SIZES)
    cfg = {"signal": {"DNase": _write_bigwig(d / "dnase.bw", bins(SIZES))},
           "targets": {"K4": _write_bigwig(d / "k4.bw", mark)},
           "window": 5, "sigma": 1, "split": SPLIT}
    _write_bigwig(d / "k4_chr1.bw", {"chr1": mark["chr1"]})
    (d / "k4_peaks.narrowPeak").write_text("chr1\t100\t300\tp1\t0\t.\t5\t-1\t3\t50\n"
                                           "chr2\t0\t60\tp2\t0\t.\t5\t-1\t3\t20\n")
    return {"dir": d, "cfg": cfg}


def _empty_track(chromatin) -> dict:
    return {**chromatin["cfg"], "targets": {"K4": str(chromatin["dir"] / "k4_chr1.bw")}}


def _peaks_missing_a_chromosome(chromatin) -> dict:
    return {**chromatin["cfg"], "label": "binary",
            "peaks": str(chromatin["dir"] / "k4_peaks.narrowPeak")}


def _warnings(caplog, system, cfg, out) -> tuple[object, list[str]]:
    """Build (or reuse) the dataset; it and the messages of the WARNING records logged."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ds = build(system, cfg, out, progress=False)
    return ds, [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(("config", "warning"), [(_empty_track, EMPTY_TRACK),
                                                 (_peaks_missing_a_chromosome, NO_PEAK)])
def test_chromatin_warning_is_repeated_when_the_cached_dataset_is_reused(
        chromatin, tmp_path, caplog, config, warning):
    cfg = config(chromatin)
    first, logged = _warnings(caplog, "chromatin", cfg, tmp_path / "ds")
    assert any(warning in m and not m.startswith(PREFIX) for m in logged)
    assert sum(REASONS["not_in_split"] in m for m in logged) == 1
    built = [m for m in logged if "left out" not in m]

    again, logged = _warnings(caplog, "chromatin", cfg, tmp_path / "ds")
    assert os.stat(again.path / "targets.npy").st_ino == \
        os.stat(first.path / "targets.npy").st_ino  # reused, not rebuilt
    repeated = [m for m in logged if warning in m]
    assert len(repeated) == 1 and repeated[0].startswith(PREFIX)
    assert first.meta["build_warnings"] == built
    assert repeated == [f"{PREFIX}{first.meta['built']}) {m}" for m in built if warning in m]
    # the left-out range: once, in the reminder of the counts (not its build's warning too)
    left_out = [m for m in logged if "not_in_split" in m or REASONS["not_in_split"] in m]
    assert len(left_out) == 1
    assert "reusing the cached dataset; its build left out 1 examples (1 not_in_split)" \
        in left_out[0]


def test_warnings_are_kept_when_only_the_split_changes(chromatin, tmp_path, caplog):
    """A changed split rewrites meta.json in place: the build's warnings stay in it."""
    cfg = _empty_track(chromatin)
    first, _ = _warnings(caplog, "chromatin", cfg, tmp_path / "ds")
    resplit, logged = _warnings(caplog, "chromatin",
                                {**cfg, "split": {**SPLIT, "test": ["chr2", "chr3"]}},
                                tmp_path / "ds")
    assert resplit.meta["split"]["test"] == ["chr2", "chr3"]
    assert any(m.startswith(PREFIX) and EMPTY_TRACK in m for m in logged)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["built"] == first.meta["built"]
    # the build's own warnings stay; the old split's all-zero test split is replaced
    kept = [m for m in first.meta["build_warnings"] if not m.startswith("split.")]
    assert meta["build_warnings"][:-1] == kept
    assert meta["build_warnings"][-1].startswith("split.test (chr2, chr3): all of its 61 "
                                                 "example bins of K4 are 0")


def test_dataset_cached_without_recorded_warnings_is_reused(chromatin, tmp_path, caplog):
    """A dataset cached by an older kerasgene (no ``built``, no ``build_warnings``)."""
    cfg = _empty_track(chromatin)
    first, _ = _warnings(caplog, "chromatin", cfg, tmp_path / "ds")
    meta_path = tmp_path / "ds" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["built"], meta["build_warnings"]
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True))
    again, logged = _warnings(caplog, "chromatin", cfg, tmp_path / "ds")
    assert os.stat(again.path / "targets.npy").st_ino == \
        os.stat(first.path / "targets.npy").st_ino
    assert not any(m.startswith(PREFIX) for m in logged)
    assert any("its build left out 1 examples (1 not_in_split)" in m for m in logged)


def test_recording_stops_with_the_build(chromatin, tmp_path, caplog):
    """No recorder stays on the ``kerasgene`` logger after a build, nor after one that
    failed before writing (an unreadable peak file); a later warning is not recorded."""
    _warnings(caplog, "chromatin", _empty_track(chromatin), tmp_path / "ds")
    bad = tmp_path / "bad.narrowPeak"
    bad.write_text("chr1\tten\t300\n")
    with pytest.raises(InputFileError, match=r"bad\.narrowPeak"):
        build("chromatin", {**_peaks_missing_a_chromosome(chromatin), "peaks": str(bad)},
              tmp_path / "failed", progress=False)
    gc.collect()
    assert not [h for h in logging.getLogger("kerasgene").handlers
                if isinstance(h, WarningRecorder)]
    assert not (tmp_path / "failed").exists()
    logging.getLogger("kerasgene.datasets.genome_bins").warning("after the build")
    assert "after the build" not in (tmp_path / "ds" / "meta.json").read_text()


def test_recorder_keeps_one_line_per_warning_of_its_thread():
    """Line breaks become spaces; INFO, the left-out counts (repeated by their own
    reminder) and other threads' warnings are not kept."""
    recorder = WarningRecorder()
    logger = logging.getLogger("kerasgene")
    logger.addHandler(recorder)
    try:
        pairs = logging.getLogger("kerasgene.datasets.pairs")
        pairs.warning("%d promoters\ncut", 3)
        pairs.info("not a warning")
        logging.getLogger("kerasgene.datasets.dropped").warning("left out 1")
        other = threading.Thread(target=pairs.warning, args=("another thread",))
        other.start()
        other.join()
        logging.getLogger("kerasgene.io.tracks").error("unreadable")
    finally:
        logger.removeHandler(recorder)
    assert recorder.messages == ["3 promoters cut", "unreadable"]


@pytest.fixture(scope="module")
def deeprage(tmp_path_factory):
    """DeepRAGE inputs: a promoter of 104 bp (cut to 100), gzip regulator triplets, and a
    log-fold-change table with one empty cell (a left-out pair)."""
    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("warned_pairs")
    genes, conds = [f"G{i:02d}" for i in range(10)], ["heat", "dtt", "diamide"]
    seqs = {g: "".join(rng.choice(list("ACGT"), 100)) for g in genes}
    seqs["G03"] = "TTTT" + seqs["G03"]
    write_fasta(d / "promoters.fa", seqs)
    with gzip.open(d / "reg.tab.gz", "wt") as fh:
        fh.writelines(f"{r + 1}\t{c + 1}\t{rng.choice([-1, 1])}\n"
                      for r in range(4) for c in range(len(conds)))
    (d / "conds.txt").write_text("".join(f"{i + 1}\t{c}\n" for i, c in enumerate(conds)))
    (d / "regs.txt").write_text("".join(f"R{i}\n" for i in range(4)))
    lfc = pd.DataFrame(np.round(rng.normal(0, 1, (len(genes), len(conds))), 3), columns=conds)
    lfc.iloc[2, 1] = np.nan
    lfc.insert(0, "gene", genes)
    lfc.to_csv(d / "lfc.tsv", sep="\t", index=False, na_rep="NA")
    return {"expression": str(d / "lfc.tsv"), "regulators": str(d / "reg.tab.gz"),
            "regulator_names": str(d / "regs.txt"), "condition_names": str(d / "conds.txt"),
            "promoters": str(d / "promoters.fa"), "promoter_length": 100,
            "class_thresholds": [50, 60]}


def test_deeprage_warnings_are_repeated_when_the_cached_dataset_is_reused(
        deeprage, tmp_path, caplog):
    first, logged = _warnings(caplog, "deeprage", deeprage, tmp_path / "ds")
    cut = "deeprage: 1 promoters longer than 100 bp were cut to their last 100 bases"
    empty = "deeprage: class_thresholds [50.0, 60.0] leave class 1 (50 to 60), class 2"
    assert any(cut in m for m in logged) and any(empty in m for m in logged)
    assert sum(REASONS["missing_expression"] in m for m in logged) == 1

    _, logged = _warnings(caplog, "deeprage", deeprage, tmp_path / "ds")
    repeated = [m for m in logged if cut in m or empty in m]
    assert len(repeated) == 2 and all(m.startswith(PREFIX) for m in repeated)
    assert repeated == [f"{PREFIX}{first.meta['built']}) {m}"
                        for m in first.meta["build_warnings"]]
    assert not any(REASONS["missing_expression"] in m for m in logged)
    assert sum("its build left out 1 examples (1 missing_expression)" in m for m in logged) == 1
