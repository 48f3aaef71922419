"""Chromatin imputation bins from a user's own files, second hunt: track settings that are
not paths, one file named by two tracks, chromosome names holding ':', a binary label
rule that makes every bin a peak, and every track a bedGraph. Each case gives a one-line
error naming the setting or file, or builds what the files say."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import prepare_fails
from real_files import bigwig_intervals, write_bedgraph

from kerasgene.datasets.genome_bins import build_genome_bins
from kerasgene.errors import ConfigError
from kerasgene.io.tracks import write_bigwig

SIZES = {"chr1": 5_000, "chr2": 2_000, "chr3": 1_010}
SPLIT = {"method": "chromosome", "train": ["chr1:0-0.8"], "valid": ["chr1:0.8-1", "chr3"],
         "test": ["chr2"]}


def _bursts(rng, sizes):
    """Per-base values in 50 bp runs, ~30 % of the bins non-zero."""
    out = {}
    for c, n in sizes.items():
        k = -(-n // 50)
        out[c] = np.repeat(rng.gamma(2, 2, k) * (rng.random(k) < 0.3), 50)[:n]
    return out


def _world(d, sizes=SIZES, seed=5) -> dict:
    """PRO-seq-like strand bigWigs (minus as values <= 0) and a mark; their config."""
    rng = np.random.default_rng(seed)
    write_bigwig(d / "plus.bw", sizes, _bursts(rng, sizes))
    write_bigwig(d / "minus.bw", sizes, {c: -v for c, v in _bursts(rng, sizes).items()})
    write_bigwig(d / "k4.bw", sizes, _bursts(rng, sizes))
    return {"signal": {"plus": str(d / "plus.bw"), "minus": str(d / "minus.bw")},
            "targets": {"K4": str(d / "k4.bw")}, "window": 5, "sigma": 1, "split": SPLIT}


@pytest.mark.parametrize("value", [None, ""])
def test_track_setting_that_is_not_a_path(tmp_path, capsys, value):
    """``K4:`` left empty was a TypeError traceback. (The isegnet form ``{path: ...,
    value_column: ...}`` is accepted: tests/test_builder_track_files.py.)"""
    cfg = _world(tmp_path)
    err = prepare_fails(tmp_path, capsys, "chromatin", "chromatin_cnn",
                        {**cfg, "targets": {"K4": value}})
    assert f"chromatin.targets.K4: expected the path of a bigWig, bigBed or bedGraph file, " \
           f"got {value!r}" in err


def test_empty_chromosome_list(tmp_path):
    """Was 'split.train: chromosome 'chr1' is not in the dataset ()'."""
    with pytest.raises(ConfigError, match=r"chromatin.chroms: an empty list; expected the "
                                          r"chromosomes to bin \(or null"):
        build_genome_bins({**_world(tmp_path), "chroms": []}, tmp_path / "ds", progress=False)


def test_one_file_named_by_two_tracks(tmp_path, capsys, caplog):
    """The plus strand's path copied into minus: both channels held the plus strand and
    the dataset was built without a word (as two targets from one file)."""
    cfg = _world(tmp_path)
    err = prepare_fails(tmp_path, capsys, "chromatin", "chromatin_cnn",
                        {**cfg, "signal": {"plus": cfg["signal"]["plus"],
                                           "minus": cfg["signal"]["plus"]}})
    # (the run YAML is written with sorted keys: minus first)
    assert "chromatin.signal: signal.minus and signal.plus name one file (" in err
    assert "expected each track's own file" in err
    with pytest.raises(ConfigError, match=r"targets.K4 and targets.K27 name one file"):
        build_genome_bins({**cfg, "targets": {"K4": cfg["targets"]["K4"],
                                              "K27": str(tmp_path / "." / "k4.bw")}},
                          tmp_path / "ds", progress=False)
    with caplog.at_level(logging.WARNING):
        build_genome_bins({**cfg, "targets": {"K4": cfg["signal"]["plus"]}}, tmp_path / "leak",
                          progress=False)
    assert "chromatin: signal.plus and targets.K4 name one file" in caplog.text
    assert "the model is given the values it is to predict" in caplog.text


def test_chromosome_names_holding_colons(tmp_path):
    """hs38DH's HLA contigs (``HLA-A*01:01:01:01``) in the files' header: with no train
    list, the default one named them and the build failed with "split: cannot parse
    'HLA-A*01:01:01:01'", an entry the user never wrote; listing one failed the same."""
    hla = "HLA-A*01:01:01:01"
    cfg = _world(tmp_path, {"chr1": 5_000, "chr2": 2_000, hla: 3_503})
    ds = build_genome_bins({**cfg, "split": {"method": "chromosome", "valid": ["chr2"],
                                             "test": ["chr1"]}}, tmp_path / "ds",
                           progress=False)
    assert ds.split_counts == {"train": 71, "valid": 40, "test": 100, "none": 0}
    ranged = ds.with_split({"method": "chromosome", "train": ["chr1", f"{hla}:0-0.5"],
                            "valid": [f"{hla}:0.5-1"], "test": ["chr2"]})
    assert ranged.split_counts == {"train": 136, "valid": 35, "test": 40, "none": 0}


@pytest.mark.parametrize("rule", ["threshold", "peaks"])
def test_binary_rule_making_every_bin_a_peak(tmp_path, rule):
    """``peak_threshold: 0`` (every smoothed value is >= 0), or a peak file covering
    every chromosome: peak_fraction 1.0, a one-class dataset built without a word (training
    then failed on class_weight, naming neither setting)."""
    cfg = {**_world(tmp_path), "label": "binary"}
    if rule == "threshold":
        cfg["peak_threshold"] = 0
        message = "chromatin.peak_threshold: every bin of K4 (161 of 161) reaches 0"
    else:
        peaks = tmp_path / "all.bed"
        peaks.write_text("".join(f"{c}\t0\t{n}\tp\n" for c, n in SIZES.items()))
        cfg.update(peaks=str(peaks), peak_overlap=0)
        message = "chromatin.peaks: every bin (161 of 161) is covered on 0 of its bases"
    with pytest.raises(ConfigError, match="needs 'no peak' bins too") as err:
        build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert message in str(err.value)
    assert not (tmp_path / "ds").exists()


def test_every_track_a_bedgraph_ending_at_different_bases(tmp_path, caplog):
    """bedGraphs only (no file gives chromosome sizes): each chromosome of each file ended
    at that file's last interval, so files ending at different bases failed with
    "minus.bedGraph: chr1 has length 4950, plus.bedGraph says 5000". Each chromosome
    now ends at the last interval of any of the files: the same bins as the bigWigs'."""
    cfg = _world(tmp_path)  # seed 5: for each chromosome, some file ends at its end
    graphs, ends = {}, {}
    for name in ("plus", "minus", "k4"):
        rows = bigwig_intervals(tmp_path / f"{name}.bw")
        graphs[name] = write_bedgraph(tmp_path / f"{name}.bedGraph", rows)
        ends[name] = [max(e for c2, _, e, _ in rows if c2 == c) for c in SIZES]
    assert ends["plus"] != ends["minus"]  # chr1 ends at 5000 and 4850 ...
    assert np.max(list(ends.values()), axis=0).tolist() == list(SIZES.values())
    ref = build_genome_bins(cfg, tmp_path / "ref", progress=False)
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins({**cfg, "signal": {"plus": graphs["plus"], "minus": graphs["minus"]},
                                "targets": {"K4": graphs["k4"]}}, tmp_path / "ds", progress=False)
    assert "every track is a bedGraph" in caplog.text
    assert ds.meta["chrom_lengths"] == list(SIZES.values())
    for key in ("signal", "targets"):
        np.testing.assert_array_equal(np.asarray(ds.arrays[key]), np.asarray(ref.arrays[key]))
