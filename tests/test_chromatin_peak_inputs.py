"""The chromatin binary task's labels from a user's own peak files: splits left with one
class (a held-out chromosome without peaks), peaks past the end of bedGraph-only
chromosomes, and a signal track given as the peak file. Each case gives a one-line error
naming the split or file, or builds with a warning that counts and names what follows."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pytest
from real_files import bigwig_intervals, write_bedgraph

from kerasgene.datasets.genome_bins import build_genome_bins
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.peaks import read_peaks
from kerasgene.io.tracks import write_bigwig

SIZES = {"chr1": 5_000, "chr2": 2_000, "chr3": 1_010}
SPLIT = {"method": "chromosome", "train": ["chr1"], "valid": ["chr2"], "test": ["chr3"]}


def _world(d, sizes=SIZES) -> dict:
    """Strand bigWigs (minus as values <= 0) and a mark, ~30 % of the bins non-zero; the
    binary task's config (a peak file still to give)."""
    rng = np.random.default_rng(3)

    def bursts():
        return {c: np.repeat(rng.gamma(2, 2, -(-n // 50)) * (rng.random(-(-n // 50)) < 0.3),
                             50)[:n] for c, n in sizes.items()}

    write_bigwig(d / "plus.bw", sizes, bursts())
    write_bigwig(d / "minus.bw", sizes, {c: -v for c, v in bursts().items()})
    write_bigwig(d / "k4.bw", sizes, bursts())
    return {"signal": {"plus": str(d / "plus.bw"), "minus": str(d / "minus.bw")},
            "targets": {"K4": str(d / "k4.bw")}, "window": 5, "sigma": 1, "split": SPLIT,
            "label": "binary"}


def _peaks(path, rows) -> str:
    """A BED3 file of ``(chrom, start, end)`` rows."""
    path.write_text("".join(f"{c}\t{a}\t{b}\n" for c, a, b in rows))
    return str(path)


def test_held_out_splits_without_peak_bins_are_warned(tmp_path, caplog):
    """Peaks on the training chromosome only: valid and test were built without a word,
    and their metrics had no AUPRC / AUROC (undefined with one class)."""
    cfg = {**_world(tmp_path), "peaks": _peaks(tmp_path / "p.bed", [("chr1", 1000, 1500)])}
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert ds.split_counts == {"train": 100, "valid": 40, "test": 21, "none": 0}
    assert "split.valid (chr2): none of its 40 example bins is a K4 peak; AUPRC and AUROC " \
           "are undefined on it and absent from its metrics; early stopping ranks epochs " \
           "by one class alone" in caplog.text
    assert "split.test (chr3): none of its 21 example bins is a K4 peak; AUPRC and AUROC " \
           "are undefined on it and absent from its metrics\n" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # a split changed later is checked as well
        ds.with_split({**SPLIT, "valid": ["chr3"], "test": ["chr2"]})
    assert "split.valid (chr3): none of its 21 example bins" in caplog.text


def test_a_new_split_replaces_the_one_class_warnings(tmp_path, caplog):
    """The dataset reused under another split (only index.tsv rewritten): the warnings of
    its build are repeated, and the old split's 'none of its ... is a peak' must not be."""
    peaks = _peaks(tmp_path / "p.bed", [("chr1", 1000, 1500), ("chr3", 100, 300)])
    cfg = {**_world(tmp_path), "peaks": peaks}
    build_genome_bins(cfg, tmp_path / "ds", progress=False)
    moved = {**cfg, "split": {**SPLIT, "valid": ["chr3"], "test": ["chr2"]}}
    for _ in range(2):  # re-split, then reuse as it is
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            ds = build_genome_bins(moved, tmp_path / "ds", progress=False)
        assert "split.test (chr2): none of its 40 example bins is a K4 peak" in caplog.text
        assert "split.valid (chr2)" not in caplog.text
    assert not any("split.valid" in m for m in ds.meta["build_warnings"])


def test_held_out_split_of_peak_bins_only_is_warned(tmp_path, caplog):
    """A validation chromosome covered by peaks: every one of its bins a peak, no AUROC."""
    peaks = [("chr1", 1000, 1500), ("chr2", 0, 2000), ("chr3", 0, 300)]
    cfg = {**_world(tmp_path), "peaks": _peaks(tmp_path / "p.bed", peaks)}
    with caplog.at_level(logging.WARNING):
        build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert "split.valid (chr2): all of its 40 example bins are K4 peaks; AUPRC and AUROC " \
           "are undefined on it" in caplog.text
    assert "split.test" not in caplog.text


def test_training_split_without_peak_bins_is_an_error(tmp_path):
    """Peaks only on held-out chromosomes: a training set of 'no peak' alone was built
    (nothing to learn; training then failed on the recipe's balanced class weights,
    naming neither the split nor the peaks, or with class_weight: none learnt one class);
    a re-split is checked as well."""
    cfg = {**_world(tmp_path), "peaks": _peaks(tmp_path / "p.bed", [("chr2", 100, 400),
                                                                    ("chr3", 100, 300)])}
    with pytest.raises(ConfigError) as err:
        build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert str(err.value) == "split.train (chr1): none of its 100 example bins is a K4 peak; " \
                             "the binary task has nothing to learn; put chromosomes with " \
                             "peaks in train"
    assert not (tmp_path / "ds").exists()
    ds = build_genome_bins({**cfg, "split": {**SPLIT, "train": ["chr2"], "valid": ["chr1"]}},
                           tmp_path / "ok", progress=False)
    with pytest.raises(ConfigError, match=r"^split.train \(chr1\): none of its 100"):
        ds.with_split(SPLIT)


def test_training_examples_missing_every_peak_bin_by_stride(tmp_path):
    """One-bin peaks on odd bins with ``stride: 2``: the dataset has peak bins, but no
    training example is one (examples are the even bins)."""
    peaks = [("chr1", 50 * k, 50 * k + 50) for k in (11, 31, 51)] + [("chr2", 100, 400),
                                                                      ("chr3", 100, 300)]
    cfg = {**_world(tmp_path), "peaks": _peaks(tmp_path / "p.bed", peaks), "stride": 2}
    with pytest.raises(ConfigError, match=r"^split.train \(chr1\): none of its 50 example "
                                          r"bins is a K4 peak"):
        build_genome_bins(cfg, tmp_path / "ds", progress=False)


def test_peaks_past_the_last_interval_of_bedgraph_only_tracks(tmp_path, caplog):
    """Every track a bedGraph, so each chromosome ends at its last interval (3,960 bp
    here): a peak past it was refused as if on "another assembly?", though the bedGraphs
    had only left the chromosome's zero end out. Now built: the peak's bases inside label
    their bins (the last bin, [3950, 4000), holds 10 of them), and a warning counts and
    names the peaks reaching past."""
    rows = [("chr1", 0, 100, 2.0), ("chr1", 1_000, 1_200, 3.0), ("chr1", 3_900, 3_960, 1.0)]
    graphs = {"plus": write_bedgraph(tmp_path / "plus.bedGraph", rows),
              "minus": write_bedgraph(tmp_path / "minus.bedGraph",
                                      [(c, s, e, -v) for c, s, e, v in rows]),
              "K4": write_bedgraph(tmp_path / "k4.bedGraph", [("chr1", 0, 3_960, 1.0)])}
    peaks = _peaks(tmp_path / "p.bed", [("chr1", 1000, 1200), ("chr1", 3_800, 4_000),
                                        ("chr1", 4_500, 4_600)])
    cfg = {"signal": {"plus": graphs["plus"], "minus": graphs["minus"]},
           "targets": {"K4": graphs["K4"]}, "window": 5, "sigma": 1, "label": "binary",
           "peaks": peaks,
           "split": {"method": "chromosome", "train": ["chr1:0-0.5"],
                     "valid": ["chr1:0.5-0.75"], "test": ["chr1:0.75-1"]}}
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert ds.meta["chrom_lengths"] == [3_960]
    assert f"{peaks}: 2 peaks (1 of them wholly) end past the last interval of their " \
           "chromosome in the bedGraphs (chr1:3800-4000, chr1:4500-4600), the chromosome's " \
           "end when every track is a bedGraph; the bins stop there, so their bases past " \
           "it label no bin; add a bigWig track to give the genome's sizes" in caplog.text
    assert np.flatnonzero(np.asarray(ds.arrays["classes"])).tolist() == [20, 21, 22, 23, 76,
                                                                         77, 78]


def test_signal_track_given_as_the_peak_file(tmp_path):
    """The mark's bedGraph (or bigWig) in ``peaks``: a bedGraph was read as peaks (every
    interval with a value a peak, 25 % of the bins here) without a word; a bigWig was
    'not a text peak file (bytes that are not UTF-8)'."""
    cfg = _world(tmp_path)
    graph = write_bedgraph(tmp_path / "k4.bedGraph", bigwig_intervals(tmp_path / "k4.bw"))
    with pytest.raises(InputFileError) as err:
        build_genome_bins({**cfg, "peaks": graph}, tmp_path / "ds", progress=False)
    assert str(err.value) == f"{graph}:1: a bedGraph track line, a signal track whose " \
                             "intervals are values, not peaks; expected a peak file (BED / " \
                             "narrowPeak / broadPeak intervals, plain or gzip, or a bigBed " \
                             "of them)"
    with pytest.raises(InputFileError, match=r"k4\.bw: a bigWig, a signal track; expected a "
                                             r"peak file \(BED"):
        build_genome_bins({**cfg, "peaks": cfg["targets"]["K4"]}, tmp_path / "ds",
                          progress=False)
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_bedgraph_without_its_track_line_is_no_peak_file(tmp_path, shuffled):
    """MACS2's ``--bdg``, ``bigWigToBedGraph`` and bamCoverage write bedGraphs without a
    track line: such a file was read as peaks (every interval with a value a peak)
    without a word. Its intervals touch (here 19 of 51, the zeros not stored); merged
    peaks with a number in column 4 (SICER's islands) do not, and stay peaks."""
    cfg = _world(tmp_path)
    graph = write_bedgraph(tmp_path / "k4.bedGraph", bigwig_intervals(tmp_path / "k4.bw"),
                           header=False, shuffle_seed=1 if shuffled else None)
    with pytest.raises(InputFileError) as err:
        build_genome_bins({**cfg, "peaks": graph}, tmp_path / "ds", progress=False)
    assert str(err.value) == (
        f"{graph}: 19 of 51 intervals start where the one before ends, each with a number in "
        "column 4: a bedGraph (a signal track) without a track line, whose every interval "
        "with a value would be a peak; expected a peak file (BED / narrowPeak / broadPeak "
        "intervals, plain or gzip, or a bigBed of them) (call peaks, e.g. with MACS2, or "
        "label bins by peak_threshold on the signal)")
    assert not (tmp_path / "ds").exists()
    islands = _peaks(tmp_path / "islands.bed", [])
    Path(islands).write_text("chr1\t100\t300\t12.5\nchr1\t400\t650\t3.25\nchr2\t0\t200\t7.0\n"
                             "chr2\t250\t300\t1.5\n")
    assert {c: s.tolist() for c, (s, _) in read_peaks(islands).items()} == {
        "chr1": [100, 400], "chr2": [0, 250]}


def _macs2_rows(rng, sizes: dict[str, int], n: int) -> list[tuple[str, int, int, int]]:
    """``n`` peaks per chromosome as MACS2 calls them: 0-based half-open, widths of
    200-800 bp, and the summit's offset from the start."""
    rows = []
    for c, size in sizes.items():
        for s in np.sort(rng.choice(size - 1000, n, replace=False)):
            w = int(rng.integers(200, 800))
            rows.append((c, int(s), int(s) + w, int(rng.integers(0, w))))
    return rows


def test_a_macs2_xls_is_read_one_based(tmp_path, caplog):
    """MACS2's ``NAME_peaks.xls`` (1-based starts, inclusive ends) was read as 0-based
    BED: its header skipped as a column header (INFO), every peak one base off (starting
    one base to the right). Now its header tells it, and its peaks are those of the same
    call's ``NAME_peaks.narrowPeak``."""
    rows = _macs2_rows(np.random.default_rng(4), {"chr1": 50_000, "chr2": 30_000}, 15)
    narrow = tmp_path / "x_peaks.narrowPeak"
    narrow.write_text("".join(f"{c}\t{s}\t{e}\tx_peak_{k}\t{300 + k}\t.\t6.1\t20.5\t18.2\t{o}\n"
                              for k, (c, s, e, o) in enumerate(rows, 1)))
    xls = tmp_path / "x_peaks.xls"
    xls.write_text(
        "# This file is generated by MACS version 2.2.7.1\n"
        "# Command line: callpeak -t x.bam -f BAM -g hs -n x\n# ARGUMENTS LIST:\n"
        "# name = x\n# d = 200\n\n"
        "chr\tstart\tend\tlength\tabs_summit\tpileup\t-log10(pvalue)\tfold_enrichment\t"
        "-log10(qvalue)\tname\n"
        + "".join(f"{c}\t{s + 1}\t{e}\t{e - s}\t{s + o + 1}\t30\t20.5\t6.1\t18.2\tx_peak_{k}\n"
                  for k, (c, s, e, o) in enumerate(rows, 1)))
    with caplog.at_level(logging.INFO, logger="kerasgene.io.peaks"):
        got = read_peaks(xls)
    want = read_peaks(narrow)
    assert list(got) == list(want) == ["chr1", "chr2"]
    for c in want:
        assert got[c][0].tolist() == want[c][0].tolist()
        assert got[c][1].tolist() == want[c][1].tolist()
    assert f"{xls}:7: a MACS peaks.xls header (chr start end length ...): its 1-based " \
           "starts and inclusive ends are read as such" in caplog.text
    assert "skipped a column-header line" not in caplog.text


def test_a_sparse_binned_bedgraph_without_track_line_is_no_peak_file(tmp_path):
    """A sparse signal bedGraph without a track line (``bigWigToBedGraph`` of GRO-seq:
    50 bp bins, runs of equal values merged, 18 % of the intervals touching the one before)
    passed the touching test (a quarter) and was read as peaks: every interval with a read
    a peak, without a word. Its intervals all start and end on the 50 bp grid; SICER's
    islands (ending one base before the window grid) and fixed-width peaks around
    summits do not, and stay peaks."""
    rng = np.random.default_rng(5)
    counts = rng.integers(1, 6, 4_000) * (rng.random(4_000) < 0.2)  # reads per 50 bp bin
    rows, k = [], 0
    while k < len(counts):  # runs of one value: one interval, as a bigWig stores them
        run = k + 1
        while run < len(counts) and counts[run] == counts[k]:
            run += 1
        if counts[k]:
            rows.append(("chr1", 50 * k, 50 * run, float(counts[k])))
        k = run
    graph = write_bedgraph(tmp_path / "groseq_plus.bedGraph", rows, header=False)
    touching = sum(a[2] == b[1] for a, b in itertools.pairwise(rows))
    assert {e - s for _, s, e, _ in rows} >= {50, 100} and 0 < 4 * touching < len(rows) - 1
    with pytest.raises(InputFileError) as err:
        read_peaks(graph)
    assert str(err.value) == (
        f"{graph}: all {len(rows)} intervals start and end on multiples of 50 bp, each with "
        "a number in column 4: a bedGraph (a signal track) without a track line, whose "
        "every interval with a value would be a peak; expected a peak file (BED / "
        "narrowPeak / broadPeak intervals, plain or gzip, or a bigBed of them) (call peaks, "
        "e.g. with MACS2, or label bins by peak_threshold on the signal)")
    starts = np.sort(rng.choice(1_000, 30, replace=False)) * 400
    islands = tmp_path / "x-W200-G600.scoreisland"
    islands.write_text("".join(f"chr1\t{s}\t{s + 200 * int(rng.integers(1, 4)) - 1}\t14.1\n"
                               for s in starts))
    assert read_peaks(islands)["chr1"][0].tolist() == starts.tolist()
    summits = starts + rng.integers(0, 200, len(starts))
    fixed = tmp_path / "summits_500bp.bed"
    fixed.write_text("".join(f"chr1\t{m - 250}\t{m + 250}\t8.5\n" for m in summits))
    assert read_peaks(fixed)["chr1"][1].tolist() == (summits + 250).tolist()


def test_peaks_over_most_bins_are_warned(tmp_path, caplog):
    """Peaks covering 75 % of the bins (a tiling or a signal track's intervals in BED3)
    were built with the fraction at INFO only, which the command line does not show."""
    peaks = _peaks(tmp_path / "p.bed", [("chr1", 0, 4_000), ("chr2", 0, 1_500),
                                        ("chr3", 0, 500)])
    with caplog.at_level(logging.WARNING):
        ds = build_genome_bins({**_world(tmp_path), "peaks": peaks}, tmp_path / "ds",
                               progress=False)
    said = f"chromatin.peaks ({peaks}): 120 of 161 bins (74.53%) are peaks, more than " \
           "called peaks cover (a few per cent of a genome, broad marks up to ~30 %); is it " \
           "a signal track or a tiling of the genome, not called peaks?"
    assert said in caplog.text
    assert said in ds.meta["build_warnings"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # 40 % of the bins: called peaks may
        build_genome_bins({**_world(tmp_path), "peaks": _peaks(tmp_path / "q.bed", [
            ("chr1", 0, 2_000), ("chr2", 0, 1_000), ("chr3", 0, 500)])}, tmp_path / "ds2",
            progress=False)
    assert "are peaks, more than called peaks cover" not in caplog.text


def test_summits_as_peaks_name_the_file_and_the_remedy(tmp_path):
    """MACS2's ``NAME_summits.bed`` (1 bp) as ``peaks``: the error was ``chromatin.peaks:
    no bin is covered on 0.5 of its bases; the binary task needs peak bins``, naming
    neither the file nor why. Now it names both, and the remedy it gives, a smaller
    ``peak_overlap``, builds: each summit's bin is a peak."""
    summits = tmp_path / "x_summits.bed"
    summits.write_text("chr1\t1030\t1031\tx_peak_1\t25.3\nchr1\t2210\t2211\tx_peak_2\t9.1\n"
                       "chr2\t480\t481\tx_peak_3\t12.0\nchr3\t333\t334\tx_peak_4\t7.7\n")
    cfg = {**_world(tmp_path), "peaks": str(summits)}
    with pytest.raises(ConfigError) as err:
        build_genome_bins(cfg, tmp_path / "ds", progress=False)
    assert str(err.value) == (
        f"chromatin.peaks ({summits}): no bin is covered on 0.5 of its bases (25 of 50 bp); "
        "the binary task needs peak bins; peaks narrower than 25 bp, such as the 1 bp "
        "summits of MACS2's NAME_summits.bed, label none: give NAME_peaks.narrowPeak, or "
        "peak_overlap: 0.02 or less (1 base of a bin)")
    assert not (tmp_path / "ds").exists()
    ds = build_genome_bins({**cfg, "peak_overlap": 0.02}, tmp_path / "ds", progress=False)
    assert np.flatnonzero(np.asarray(ds.arrays["classes"])).tolist() == [20, 44, 109, 146]
