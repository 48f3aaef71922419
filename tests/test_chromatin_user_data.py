"""The chromatin-imputation regression on a biologist's own files: a target file without
data on the chromosomes of a split (an ENCODE bigWig made for fewer chromosomes than its
header lists, a chromosome without reads). The dataset was built without a word about the
split; training then scored NaN on it, or learnt from nothing."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pyBigWig
import pytest

from kerasgene.datasets.genome_bins import build_genome_bins
from kerasgene.errors import ConfigError
from kerasgene.io.tracks import write_bigwig

SIZES = {"chr1": 5_000, "chr2": 2_000, "chr3": 1_010}
SPLIT = {"method": "chromosome", "train": ["chr1"], "valid": ["chr2"], "test": ["chr3"]}


def _world(d, empty: str | None) -> dict:
    """Strand bigWigs (minus as values <= 0) and a mark whose file has no interval on
    chromosome ``empty`` (None: none), ~30 % of the other bins non-zero; the regression's config."""
    rng = np.random.default_rng(5)

    def bursts():
        return {c: np.repeat(rng.gamma(2, 2, -(-n // 50)) * (rng.random(-(-n // 50)) < 0.3),
                             50)[:n] for c, n in SIZES.items()}

    write_bigwig(d / "plus.bw", SIZES, bursts())
    write_bigwig(d / "minus.bw", SIZES, {c: -v for c, v in bursts().items()})
    write_bigwig(d / "k4.bw", SIZES, {**bursts(), **({empty: np.zeros(SIZES[empty])} if empty else {})})
    return {"signal": {"plus": str(d / "plus.bw"), "minus": str(d / "minus.bw")},
            "targets": {"K4": str(d / "k4.bw")}, "window": 5, "sigma": 1, "split": SPLIT}


def test_test_split_of_a_target_without_data_is_warned(tmp_path, caplog):
    """The mark's file has no data on the test chromosome: its 21 example bins are all 0
    (checked with pyBigWig), so R² and Pearson r on it are NaN; the split is named, at
    build and at a re-split, whose build_warnings drop the old split's (none for held-out
    ranges with data)."""
    cfg = _world(tmp_path, "chr3")
    bw = pyBigWig.open(cfg["targets"]["K4"])
    assert not bw.intervals("chr3") and bw.intervals("chr2")
    bw.close()
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert not ds.gather(ds.split_indices("test"))["target"].any()
    said = (f"split.test (chr3): all of its 21 example bins of K4 are 0 (no data in "
            f"{tmp_path / 'k4.bw'} there?); R², Pearson and Spearman are undefined on it (NaN "
            "in its metrics)")
    assert said in caplog.text and said in ds.meta["build_warnings"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        moved = ds.with_split({**SPLIT, "valid": ["chr3"], "test": ["chr2"]})
    assert f"split.valid (chr3): all of its 21 example bins of K4 are 0 (no data in " \
           f"{tmp_path / 'k4.bw'} there?)" in caplog.text
    assert "early stopping ranks epochs on bins without data" in caplog.text
    assert not any(m.startswith("split.test") for m in moved.meta["build_warnings"])
    ranges = ds.with_split({**SPLIT, "valid": ["chr2:0-0.5"], "test": ["chr2:0.5-1"],
                            "train": ["chr1", "chr3"]})  # held out where there is data
    assert not any(m.startswith("split.") for m in ranges.meta["build_warnings"])


def test_training_split_of_a_target_without_data_is_an_error(tmp_path):
    """No target data on the training chromosome: every weight of the masked loss was 0,
    and training ran to exit 0 (test R² -5.8); an error naming the split and file, nothing
    written."""
    cfg = _world(tmp_path, "chr1")
    with pytest.raises(ConfigError) as err:
        build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert str(err.value) == (f"split.train (chr1): all of its 100 example bins of K4 are 0 "
                              f"(no data in {tmp_path / 'k4.bw'} there?); the model has "
                              "nothing to learn; put chromosomes with K4 signal in train")
    assert not (tmp_path / "ds").exists()


def test_one_file_of_both_strands_adds_them_up(tmp_path, caplog):
    """One GRO-seq file of both strands (plus as values > 0, minus as values < 0, as some
    GEO files are) as the only channel: ``signal_abs`` took the absolute value of each
    bin's mean, so a bin with reads of both strands cancelled to 0 (a promoter's
    divergent transcription lost). Now every base's absolute value, checked against the
    file read with pyBigWig."""
    cfg = _world(tmp_path, "chr3")
    both = np.zeros(SIZES["chr1"])
    both[1000:1025], both[1025:1050] = 4.0, -4.0  # bin 20: both strands
    both[2000:2050] = -2.0  # bin 40: the minus strand alone
    write_bigwig(tmp_path / "both.bw", SIZES, {"chr1": both, "chr2": np.ones(SIZES["chr2"]),
                                                "chr3": np.ones(SIZES["chr3"])})
    cfg = {**cfg, "signal": {"gro": str(tmp_path / "both.bw")},
           "targets": {"K4": str(tmp_path / "plus.bw")}}  # a mark with data on chr3
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins(cfg, tmp_path / "ds", progress=False)
    bw = pyBigWig.open(str(tmp_path / "both.bw"))
    expected = np.abs(np.nan_to_num(bw.values("chr1", 0, 5000, numpy=True))).reshape(100, 50)
    bw.close()
    half = cfg["window"] // 2  # signal rows: window // 2 zero bins, then chr1's bins
    got = np.asarray(ds.arrays["signal"][half : half + 100, 0])
    np.testing.assert_allclose(got, expected.mean(axis=1))
    assert got[20] == 4.0 and got[40] == 2.0
    assert "both.bw (signal.gro): holds both negative (down to -4) and positive" in caplog.text
    assert "signal_abs takes the absolute value of every base, so the two signs add up in " \
           "a bin" in caplog.text


@pytest.mark.parametrize(("label", "harm"), [
    ({}, "these 0 targets would distort its R², Pearson and Spearman"),
    ({"label": "binary", "peak_threshold": 1.0},
     "labelled 'no peak' throughout (peak_threshold), these bins would distort its AUPRC "
     "and AUROC"),
], ids=["regression", "peak_threshold"])
def test_held_out_chromosome_without_target_data_beside_others_is_an_error(tmp_path, caplog,
                                                                           label, harm):
    """test: [chr2 half, chr3], the mark's file without data on chr3: the split was built
    and scored with chr3's 21 bins of 0 targets mixed into a finite R² that looked right
    (the binary task's peak_threshold labelled them all "no peak", scored as true
    negatives). Now an error naming split, chromosome and file (nothing written), at build
    and at a re-split; a training chromosome without data is still only the per-file
    warning (weight 0 in the masked loss)."""
    cfg = {**_world(tmp_path, "chr3"), **label}
    mixed = {**SPLIT, "valid": ["chr2:0-0.5"], "test": ["chr2:0.5-1", "chr3"]}
    said = (f"split.test (chr2, chr3): all 21 example bins of K4 on chr3 are 0 (no data in "
            f"{tmp_path / 'k4.bw'} there?); scored with the split's other chromosomes, {harm}; "
            "drop chr3 from split.test (or give a K4 file with data there)")
    with pytest.raises(ConfigError) as err:
        build_genome_bins({**cfg, "split": mixed}, tmp_path / "ds", progress=False)
    assert str(err.value) == said and not (tmp_path / "ds").exists()
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins({**cfg, "split": {**SPLIT, "train": ["chr1", "chr3"],
                                                 "valid": ["chr2:0-0.5"],
                                                 "test": ["chr2:0.5-1"]}},
                               tmp_path / "ds", progress=False)
    assert "k4.bw: no data on 1 of the dataset's 3 chromosomes (chr3)" in caplog.text
    assert not any(m.startswith("split.") for m in ds.meta["build_warnings"])
    with pytest.raises(ConfigError) as err:
        ds.with_split(mixed)
    assert str(err.value) == said


def test_held_out_chromosome_without_input_data_is_an_error(tmp_path):
    """The plus-strand file without data on chr3 (a file made for fewer chromosomes): the
    test chromosome was scored on a channel of zeros with only the per-file warning. Now
    an error naming split, chromosome and file, at build (nothing written) and
    when a re-split moves chr3 from train (where it is only warned about) to valid."""
    cfg = _world(tmp_path, "chr3")
    rng = np.random.default_rng(7)
    write_bigwig(tmp_path / "plus3.bw", SIZES, {c: np.repeat(rng.gamma(2, 2, -(-n // 50)),
                                                             50)[:n]
                                                for c, n in SIZES.items() if c != "chr3"})
    cfg = {**cfg, "signal": {**cfg["signal"], "plus": str(tmp_path / "plus3.bw")},
           "targets": {"K4": cfg["signal"]["plus"]}}  # a mark with data on chr3
    with pytest.raises(ConfigError) as err:
        build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert str(err.value) == (f"split.test (chr3): no data in {tmp_path / 'plus3.bw'} on "
                              "chr3 (all its bins there are 0), so the model would be scored "
                              "there on an input channel of zeros; drop chr3 from split.test "
                              "(or give an input file with data there)")
    assert not (tmp_path / "ds").exists()
    trained = {**SPLIT, "train": ["chr1", "chr3"], "test": ["chr2:0.5-1"],
               "valid": ["chr2:0-0.5"]}
    ds = build_genome_bins({**cfg, "split": trained}, tmp_path / "ds", progress=False)
    assert ds.meta["signal_no_data"] == {str(tmp_path / "plus3.bw"): ["chr3"]}
    with pytest.raises(ConfigError, match=r"^split\.valid \(chr3\): no data in .*plus3\.bw "
                                          r"on chr3 "):
        ds.with_split({**SPLIT, "valid": ["chr3"], "test": ["chr2"]})


@pytest.mark.parametrize(("key", "value", "said"), [
    ("sigma", 500, "chromatin.sigma: 500 bins of 50 bp span 25,000 bp, at least 10,000 bp; "
                   "sigma counts bins, not bp (the paper's 500 bp is sigma: 10): if 500 bp "
                   "was meant, set sigma: 10"),
    ("window", 10_000, "chromatin.window: 10,000 bins of 50 bp span 500,000 bp, at least "
                       "500,000 bp; window counts bins, not bp (the paper's 128 kb is window: "
                       "2561): if 10,000 bp was meant, set window: 200"),
    ("sigma", 10, None), ("window", 200, None), ("window", 2561, None),
])
def test_sigma_or_window_given_in_bp_is_warned_about(tmp_path, caplog, key, value, said):
    """``sigma: 500`` meant as the paper's 500 bp smoothed over 500 bins (25 kb) and
    ``window: 10000`` meant as 10 kb read 500 kb around each bin, silently; the paper's
    settings (sigma 10, window 200 or 2561) build without a word."""
    cfg = {**_world(tmp_path, "chr3"), "split": {**SPLIT, "test": ["chr2:0.5-1"],
                                                 "valid": ["chr2:0-0.5"]}}
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins({**cfg, key: value}, tmp_path / "ds", progress=False)
    assert ds.meta["params"][key] == value
    if said is None:
        assert "counts bins, not bp" not in caplog.text
    else:
        assert said in caplog.text


def test_a_masked_loss_run_scores_every_bin_and_the_bins_it_trained_on(tmp_path, caplog):
    """The masked MSE skips targets of 0; metrics.json scores every test bin (as before)
    and, under ``nonzero_targets``, the bins the loss trained on, counting those left out;
    a run with ``mask_zero_targets: false`` has no such entry."""
    from kerasgene.metrics import regression_metrics
    from kerasgene.train import runs

    data = _world(tmp_path, None)
    config = {"system": "chromatin", "seed": 0, "data": data, "run_dir": str(tmp_path / "run"),
              "model": {"name": "chromatin_dnn", "hparams": {"units": [4]}},
              "training": {"epochs": 1, "verbose": 0}}
    with caplog.at_level(logging.INFO):
        runs.train(config)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    table = pd.read_csv(tmp_path / "run" / "predictions.tsv", sep="\t")
    y, pred = table["observed"].to_numpy(), table["predicted"].to_numpy()
    keep = y != 0
    assert 0 < (~keep).sum() < len(y)
    assert metrics["test"]["n"] == len(y)
    assert metrics["test"]["nonzero_targets"] == pytest.approx(
        {**regression_metrics(y[keep], pred[keep]), "n_zero": int((~keep).sum())})
    assert (f"{(~keep).sum()} of {len(y)} test targets are 0 (weighed 0 in training: "
            "mask_zero_targets)") in caplog.text
    runs.train({**config, "run_dir": str(tmp_path / "mse"),
                "data": {**data, "mask_zero_targets": False}})
    assert "nonzero_targets" not in json.loads((tmp_path / "mse" / "metrics.json").read_text())["test"]
