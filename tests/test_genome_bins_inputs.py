"""Chromatin imputation bins from a user's own files: GRO-/PRO-seq strand bigWigs whose
minus strand is stored as negative values, peak files missing chromosomes, tracks without
data on some chromosomes and mistyped settings give one-line errors naming the field or
file (exit 2, nothing written) or a warning that counts and names what was changed."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import prepare_fails

from kerasgene.datasets.genome_bins import build_genome_bins
from kerasgene.errors import ConfigError
from kerasgene.io.tracks import write_bigwig

SIZES = {"chr1": 5_000, "chr2": 2_000, "chr3": 1_010}
SPLIT = {"method": "chromosome", "train": ["chr1:0-0.8"], "valid": ["chr1:0.8-1", "chr3"],
         "test": ["chr2"]}


def _bursts(rng, sizes=SIZES):
    """Per-base values in 50 bp runs, ~30 % of the bins non-zero."""
    out = {}
    for c, n in sizes.items():
        k = -(-n // 50)
        out[c] = np.repeat(rng.gamma(2, 2, k) * (rng.random(k) < 0.3), 50)[:n]
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """PRO-seq-like strand bigWigs (minus stored as values <= 0, as ENCODE / GEO files), a
    file of both signs, a mark and a mark with data on chr1 only."""
    rng = np.random.default_rng(11)
    d = tmp_path_factory.mktemp("bins_inputs")
    plus, minus, mark = _bursts(rng), _bursts(rng), _bursts(rng)
    write_bigwig(d / "pro_plus.bw", SIZES, plus)
    write_bigwig(d / "pro_minus.bw", SIZES, {c: -v for c, v in minus.items()})
    mixed = {c: v * np.where(rng.random(len(v)) < 0.5, -1, 1) for c, v in plus.items()}
    write_bigwig(d / "mixed.bw", SIZES, mixed)
    write_bigwig(d / "k4.bw", SIZES, mark)
    write_bigwig(d / "k4_chr1.bw", SIZES, {"chr1": mark["chr1"]})
    cfg = {"signal": {"plus": str(d / "pro_plus.bw"), "minus": str(d / "pro_minus.bw")},
           "targets": {"K4": str(d / "k4.bw")}, "window": 5, "sigma": 1, "split": SPLIT}
    return {"dir": d, "cfg": cfg, "plus": plus, "minus": minus}


def _binned(v, size=50):
    n = -(-len(v) // size)
    return np.pad(v, (0, n * size - len(v))).reshape(n, size).mean(1)


def _fails(tmp_path, data, capsys) -> str:
    return prepare_fails(tmp_path, capsys, "chromatin", "chromatin_cnn", data)


def test_negative_minus_strand_is_read_as_counts(files, tmp_path, caplog):
    """The default (signal_abs) gives the minus strand's counts; no warning for a file of
    one sign under its own name."""
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins({**files["cfg"], "signal_log1p": True}, tmp_path / "ds",
                               progress=False)
    assert "pro_minus" not in caplog.text
    n1 = ds.meta["chrom_bins"][0]
    sig = np.asarray(ds.arrays["signal"])[2 : 2 + n1]  # window 5: 2 padding bins
    np.testing.assert_allclose(sig[:, 1], np.log1p(_binned(files["minus"]["chr1"])), rtol=1e-5)
    np.testing.assert_allclose(sig[:, 0], np.log1p(_binned(files["plus"]["chr1"])), rtol=1e-5)


@pytest.mark.parametrize(("option", "effect"), [("signal_log1p", "clip them to 0"),
                                                ("merge_signal", "subtract them")])
def test_negative_minus_strand_without_signal_abs(files, tmp_path, capsys, option, effect):
    """signal_abs: false with a minus strand of values <= 0: log1p made the channel all 0
    (np.maximum(sig, 0)) and merge_signal subtracted it from the plus strand, silently."""
    err = _fails(tmp_path, {**files["cfg"], "signal_abs": False, option: True}, capsys)
    assert "pro_minus.bw (signal.minus): holds negative values (down to -" in err
    assert f"{option} would {effect}" in err and "set signal_abs: true" in err


def test_strand_file_of_both_signs_or_swapped_strands_are_warned_about(files, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        build_genome_bins({**files["cfg"], "signal": {"plus": files["cfg"]["signal"]["minus"],
                                                      "minus": files["cfg"]["signal"]["plus"]}},
                          tmp_path / "swapped", progress=False)
    assert "pro_minus.bw (signal.plus): holds only negative values, as a minus-strand file " \
           "does, but is channel 'plus'; are the plus and minus files swapped?" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_genome_bins({**files["cfg"], "signal": {"gro": str(files["dir"] / "mixed.bw")}},
                          tmp_path / "mixed", progress=False)
    assert "mixed.bw (signal.gro): holds both negative (down to -" in caplog.text


def test_peak_file_without_peaks_on_a_dataset_chromosome(files, tmp_path, caplog):
    """Peaks on chr1 and chr2 only (none on chr3, e.g. chrM or chrY): was a KeyError
    traceback. Peaks on chromosomes absent from the signal files were logged at INFO only,
    which the command line does not show."""
    peaks = tmp_path / "k4_peaks.narrowPeak"
    peaks.write_text("track type=narrowPeak\nchr1\t100\t300\tp1\t0\t.\t5\t-1\t3\t50\n"
                     "chr2\t0\t60\tp2\t0\t.\t5\t-1\t3\t20\nchrUn_gl000220\t0\t80\tp3\t0\t.\t5\t-1\t3\t5\n")
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins({**files["cfg"], "label": "binary", "peaks": str(peaks)},
                               tmp_path / "ds", progress=False)
    classes = np.asarray(ds.arrays["classes"])
    assert np.flatnonzero(classes).tolist() == [2, 3, 4, 5, 100]  # chr2 starts at bin 100
    assert "no peak on 1 of the dataset's 3 chromosomes (chr3); every bin of them is " \
           "labelled 'no peak'" in caplog.text
    assert "1 peaks on 1 chromosomes absent from the signal files left out " \
           "(chrUn_gl000220)" in caplog.text


def test_track_without_data_on_some_chromosomes_is_warned_about(files, tmp_path, caplog):
    """A mark with data on chr1 only: chr2 (the test chromosome) and chr3 were all-zero
    targets, every one of them weight 0 in the masked loss, without a word. (chr3 is left
    out of the validation split: a held-out split with data on some chromosomes only is
    refused, test_chromatin_user_data.py.)"""
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins({**files["cfg"], "split": {**SPLIT, "valid": ["chr1:0.8-1"]},
                                "targets": {"K4": str(files["dir"] / "k4_chr1.bw")}},
                               tmp_path / "ds", progress=False)
    assert "k4_chr1.bw: no data on 2 of the dataset's 3 chromosomes (chr2, chr3): all their " \
           "bins are 0" in caplog.text
    n1 = ds.meta["chrom_bins"][0]
    targets = np.asarray(ds.arrays["targets"])[:, 0]
    assert ds.meta["zero_target_bins"] == {"K4": int((targets == 0).sum())}
    assert ds.meta["zero_target_bins"]["K4"] >= len(targets) - n1


@pytest.mark.parametrize(("key", "value", "message"), [
    ("sigma", "abc", "chromatin.sigma: expected a number >= 0, got 'abc'"),
    ("sigma", -1, "chromatin.sigma: expected a number >= 0, got -1"),
    ("sigma", float("inf"), "chromatin.sigma: expected a finite number >= 0 (bins), got inf"),
    ("bin_size", 50.5, "chromatin.bin_size: expected an integer >= 1, got 50.5"),
    ("bin_size", True, "chromatin.bin_size: expected an integer >= 1, got True"),
    ("window", 5.9, "chromatin.window: expected an integer >= 1, got 5.9"),
    ("stride", "x", "chromatin.stride: expected an integer >= 1, got 'x'"),
    ("signal_abs", "false", "chromatin.signal_abs: expected true or false, got 'false'"),
    ("signal_log1p", "no", "chromatin.signal_log1p: expected true or false, got 'no'"),
    ("mask_zero_targets", "false",
     "chromatin.mask_zero_targets: expected true or false, got 'false'"),
    ("chroms", "chr1", "chromatin.chroms: expected a list or null, got 'chr1'"),
    ("split", {**SPLIT, "train": "chr1"},
     "split.train: expected a list of chromosomes or ranges (e.g. [chr1, 'chr2:0-0.5']), "
     "got 'chr1'"),
])
def test_settings_of_the_wrong_type(files, tmp_path, key, value, message):
    """Were ValueError tracebacks (sigma 'abc', NaN or inf; stride 'x'), silent
    truncations (bin_size 50.5 → 50, window 5.9 → 5, bin_size true → 1 bp bins), a string
    'false' read as true, and lists read letter by letter ("chromosome 'c' is not in the
    dataset")."""
    with pytest.raises(ConfigError) as err:
        build_genome_bins({**files["cfg"], key: value}, tmp_path / "ds", progress=False)
    assert message in str(err.value)
    assert not (tmp_path / "ds").exists()


def test_setting_errors_through_the_command_line(files, tmp_path, capsys):
    err = _fails(tmp_path, {**files["cfg"], "sigma": float("nan")}, capsys)
    assert "chromatin.sigma: expected a number >= 0, got nan" in err
    err = _fails(tmp_path, {**files["cfg"], "label": "binary", "peak_threshold": "1e3"}, capsys)
    assert "chromatin.peak_threshold: expected a number, got '1e3'; YAML reads a number " \
           "without a dot such as 1e3 as a string" in err
