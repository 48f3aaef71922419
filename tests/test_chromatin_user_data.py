"""The chromatin-imputation regression on a biologist's own files: a target file without
data on the chromosomes of a split (an ENCODE bigWig made for fewer chromosomes than its
header lists, a chromosome without reads). The dataset was built without a word about the
split; training then scored NaN on it, or learnt from nothing."""

from __future__ import annotations

import logging

import numpy as np
import pyBigWig
import pytest

from kerasgene.datasets.genome_bins import build_genome_bins
from kerasgene.errors import ConfigError
from kerasgene.io.tracks import write_bigwig

SIZES = {"chr1": 5_000, "chr2": 2_000, "chr3": 1_010}
SPLIT = {"method": "chromosome", "train": ["chr1"], "valid": ["chr2"], "test": ["chr3"]}


def _world(d, empty: str) -> dict:
    """Strand bigWigs (minus as values <= 0) and a mark whose file has no interval on
    chromosome ``empty``, ~30 % of the other bins non-zero; the regression's config."""
    rng = np.random.default_rng(5)

    def bursts():
        return {c: np.repeat(rng.gamma(2, 2, -(-n // 50)) * (rng.random(-(-n // 50)) < 0.3),
                             50)[:n] for c, n in SIZES.items()}

    write_bigwig(d / "plus.bw", SIZES, bursts())
    write_bigwig(d / "minus.bw", SIZES, {c: -v for c, v in bursts().items()})
    write_bigwig(d / "k4.bw", SIZES, {**bursts(), empty: np.zeros(SIZES[empty])})
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
