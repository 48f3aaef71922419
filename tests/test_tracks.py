import logging
import struct
from pathlib import Path

import numpy as np
import pyBigWig
import pytest
from conftest import write_fasta
from real_files import bigwig_intervals, write_alignments, write_bedgraph, write_bigbed

from kerasgene.errors import ConfigError, InputFileError, InvalidRegionError, UnknownChromosomeError
from kerasgene.io.tracks import (
    NegLog10PValue,
    PercentToFraction,
    Track,
    TrackSet,
    gaussian_smooth,
    make_transform,
    write_bigwig,
)

SIZES = {"chr1": 5_000, "chrM": 400}


def _signal(rng, size, gap=(1000, 1300)):
    """Per-base signal with NaN where no interval is written."""
    vals = np.round(rng.gamma(2.0, 3.0, size), 3).astype(np.float64)
    vals[gap[0] : gap[1]] = np.nan
    return vals


def _write_with_pybigwig(path, signals):
    """Write per-base intervals (variable-step entries) directly with pyBigWig."""
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(SIZES.items()))
    for chrom, vals in signals.items():
        pos = np.flatnonzero(~np.isnan(vals))
        bw.addEntries([chrom] * len(pos), pos.tolist(), ends=(pos + 1).tolist(),
                      values=vals[pos].tolist())
    bw.close()
    return str(path)


@pytest.fixture
def bigwig(tmp_path, rng):
    signals = {c: _signal(rng, n) for c, n in SIZES.items()}
    return _write_with_pybigwig(tmp_path / "t.bw", signals), signals


def expected(signals, chrom, start, end, strand="+"):
    """Independent reference: NaN → 0, zero padding outside the chromosome."""
    vals = np.nan_to_num(signals[chrom])
    out = np.zeros(end - start)
    lo, hi = max(start, 0), min(end, len(vals))
    if hi > lo:
        out[lo - start : hi - start] = vals[lo:hi]
    return out[::-1] if strand == "-" else out


@pytest.mark.parametrize("window", [(100, 600), (900, 1400), (-50, 20), (4_990, 5_030), (6000, 6010)])
@pytest.mark.parametrize("strand", ["+", "-"])
def test_values_against_written_arrays(bigwig, window, strand):
    path, signals = bigwig
    got = Track(path).values("chr1", *window, strand=strand)
    assert got.dtype == np.float32 and got.shape == (window[1] - window[0],)
    np.testing.assert_allclose(got, expected(signals, "chr1", *window, strand), rtol=1e-6)


def test_aliases_and_unknown_chromosome(bigwig):
    path, signals = bigwig
    t = Track(path)
    np.testing.assert_allclose(t.values("MT", 0, 50), expected(signals, "chrM", 0, 50), rtol=1e-6)
    np.testing.assert_allclose(t.values("1", 0, 50), expected(signals, "chr1", 0, 50), rtol=1e-6)
    with pytest.raises(UnknownChromosomeError, match="chr9"):
        t.values("chr9", 0, 10)


def test_bad_inputs(tmp_path, bigwig):
    with pytest.raises(InputFileError, match="not found"):
        Track(tmp_path / "none.bw")
    fake = tmp_path / "fake.bw"
    fake.write_text("##fileformat=VCFv4.2\nchr1\t10\t.\tA\tC\n")
    with pytest.raises(InputFileError, match=r"fake\.bw: not a track file: expected bigWig, "
                                             r"bigBed or bedGraph \(plain or gzip\), found text"):
        Track(fake)
    with pytest.raises(InvalidRegionError, match="start > end"):
        Track(bigwig[0]).values("chr1", 10, 0)


@pytest.mark.parametrize("fmt", ["bam", "cram"])
def test_aligned_reads_given_as_a_track_are_named_with_the_way_to_a_coverage_track(tmp_path, fmt):
    genome = write_fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 50})
    reads = write_alignments(tmp_path / f"groseq.{fmt}", {"chr1": 200}, fmt, reference=genome)
    with pytest.raises(InputFileError) as err:
        Track(reads)
    assert str(err.value).startswith(
        f"{reads}: not a track file: expected bigWig, bigBed or bedGraph (plain or gzip), "
        f"found a {fmt.upper()} file (aligned reads); make a coverage track of it first (e.g. "
        "deepTools bamCoverage")


@pytest.mark.parametrize("stat", ["mean", "sum", "max", "min", "coverage"])
def test_binned_exact_stats(bigwig, stat):
    path, signals = bigwig
    t = Track(path)
    start, end, size = -100, 5_100, 50  # overhangs both chromosome ends
    got = t.binned("chr1", start, end, size, stat=stat)
    raw = np.full(end - start, np.nan)
    raw[100:5_100] = signals["chr1"]
    bins = raw.reshape(-1, size)
    covered = ~np.isnan(bins)
    with np.errstate(all="ignore"):
        ref = {
            "mean": np.nansum(bins, 1) / size,
            "sum": np.nansum(bins, 1),
            "max": np.where(covered.any(1), np.nanmax(np.where(covered, bins, -np.inf), 1), 0),
            "min": np.where(covered.any(1), np.nanmin(np.where(covered, bins, np.inf), 1), 0),
            "coverage": covered.mean(1),
        }[stat]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    rev = t.binned("chr1", start, end, size, stat=stat, strand="-")
    np.testing.assert_allclose(rev, got[::-1])


def test_binned_rejects_ragged_bins(bigwig):
    with pytest.raises(InvalidRegionError, match="multiple of bin_size"):
        Track(bigwig[0]).binned("chr1", 0, 105, 50)
    with pytest.raises(ConfigError, match="stat must be one of"):
        Track(bigwig[0]).binned("chr1", 0, 100, 50, stat="median")


def test_neglog10p_transform_per_region_and_scaled(bigwig):
    path, signals = bigwig
    t = Track(path, NegLog10PValue(resolution=20))
    got = t.values("chr1", 33, 433, "-")
    base = np.nan_to_num(signals["chr1"])
    regions = np.repeat(base[20:440].reshape(-1, 20).mean(1), 20)[13:413]
    scale = np.nanmax(signals["chr1"].tolist() + signals["chrM"].tolist())
    np.testing.assert_allclose(got, (regions / scale)[::-1], rtol=1e-5)
    assert got.max() <= 1.0


@pytest.mark.parametrize("nan", [False, True])
def test_neglog10p_scale_is_the_maximum_over_the_genomes_chromosomes(tmp_path, nan):
    """ENCODE's GRCh38 bigWigs carry chrEBV: its maximum set the scale of every window,
    and a channel shrank 48-fold, silently. With the genome's sizes (any naming) only
    its chromosomes count; without them, every chromosome of the file; with the
    transform's ``scale_chroms`` (a run's record), those, whatever the genome given
    (predict with a FASTA of one chromosome scaled the files otherwise)."""
    bw = pyBigWig.open(str(tmp_path / "ebv.bw"), "w")
    bw.addHeader([("1", 1_000), ("2", 1_000), ("chrEBV", 1_000)])
    entries = [("1", 0, 20, np.nan if nan else 1.0), ("1", 20, 40, 8.0), ("2", 0, 20, 5.0),
               ("chrEBV", 0, 20, 900.0)]
    for chrom, s, e, v in entries:
        bw.addEntries([chrom], [s], ends=[e], values=[v])
    bw.close()
    assert Track(tmp_path / "ebv.bw").max_value == 900.0
    genome = {"chr1": 1_000, "chr2": 1_000}
    t = Track(tmp_path / "ebv.bw", "neglog10p", chrom_sizes=genome)
    assert t.max_value == 8.0
    np.testing.assert_allclose(t.values("chr2", 0, 20), np.full(20, 5 / 8))
    # a run's recorded chromosomes, not the FASTA given to predict (here chr2 alone)
    recorded = {"name": "neglog10p", "scale_chroms": ["chr1", "chr2"]}
    t = Track(tmp_path / "ebv.bw", recorded, chrom_sizes={"chr2": 1_000})
    assert t.max_value == 5.0 and t.max_over(["chr1", "chr2"]) == 8.0
    np.testing.assert_allclose(t.values("chr2", 0, 20), np.full(20, 5 / 8))
    with pytest.raises(ConfigError, match="scale_chroms 'chr1': expected a list"):
        make_transform({"name": "neglog10p", "scale_chroms": "chr1"})


def test_neglog10p_refuses_a_track_with_negative_values(tmp_path):
    """A signed track (log2 fold change) had every negative value clipped to 0 (65 % of
    the bases around TSSs in a new user's DNase file), without a word."""
    path = tmp_path / "log2fc.bw"
    write_bigwig(path, {"chr1": 100}, {"chr1": np.linspace(-3, 4, 100)})
    with pytest.raises(InputFileError) as err:
        Track(path, "neglog10p").values("chr1", 0, 20)
    assert str(err.value) == (
        f"{path}: holds negative values (down to -3), but the 'neglog10p' transform expects "
        "-log10 p-values (>= 0) and would clip them to 0: a signed track (log2 fold change?); "
        "give it 'transform: null' to use its values as they are, or use the signal p-value "
        "file")
    assert Track(path).values("chr1", 0, 1)[0] == -3.0  # as they are without the transform


@pytest.mark.parametrize("params, message", [
    ({"resolution": 0}, r"resolution 0: expected a positive integer"),
    ({"resolution": -20}, r"resolution -20: expected a positive integer"),
    ({"resolution": 2.5}, r"resolution 2\.5: expected a positive integer"),
    ({"max_value": -3}, r"max_value -3: expected a finite number > 0"),
    ({"max_value": 0}, r"max_value 0: expected a finite number > 0"),
])
def test_neglog10p_parameters_are_checked(params, message):
    with pytest.raises(ConfigError, match=r"transform 'neglog10p': " + message):
        make_transform({"name": "neglog10p", **params})


@pytest.mark.parametrize("top, message", [
    (1.0, r"reach only 1: fractions \(0-1\)\? give this track 'transform: null'"),
    (250.0, r"expects percent methylation \(0-100\), but the file's values reach 250")])
def test_percent_transform_refuses_fractions_and_values_above_100(tmp_path, top, message):
    """A WGBS file of fractions (Roadmap's FractionalMethylation) became values under 0.01
    without a word; one above 100 is not percent."""
    path = tmp_path / "wgbs.bw"
    write_bigwig(path, {"chr1": 100}, {"chr1": np.linspace(0, top, 100)})
    t = Track(path, "percent")
    with pytest.raises(InputFileError, match=message):
        t.values("chr1", 0, 10)


def test_percent_transform_and_config_form(bigwig):
    path, signals = bigwig
    t = Track(path, "percent")
    assert isinstance(t.transform, PercentToFraction)
    np.testing.assert_allclose(t.values("chr1", 0, 10), expected(signals, "chr1", 0, 10) / 100, rtol=1e-6)
    assert make_transform({"name": "neglog10p", "resolution": 10}).resolution == 10
    with pytest.raises(ConfigError, match="unknown name 'log'"):
        make_transform("log")


@pytest.mark.parametrize("transform", [None, "neglog10p"])
def test_read_windows_equals_single_reads(bigwig, rng, transform):
    path, _ = bigwig
    t = Track(path, transform)
    n = 40
    chroms = rng.choice(["chr1", "chrM", "1"], n)
    starts = rng.integers(-300, 5_200, n)
    strands = rng.choice(["+", "-"], n)
    got = t.read_windows(chroms, starts, starts + 250, strands, merge_gap=100, max_span=2_000)
    for i in range(n):
        np.testing.assert_array_equal(got[i], t.values(chroms[i], starts[i], starts[i] + 250, strands[i]))


def test_trackset_window_order_and_chrom_check(tmp_path, rng):
    a = write_bigwig(tmp_path / "a.bw", SIZES, {"chr1": np.arange(5_000, dtype=float)})
    b = write_bigwig(tmp_path / "b.bw", SIZES, {"chr1": np.full(5_000, 2.0)})
    ts = TrackSet({"A": a, "B": (b, "percent")})
    win = ts.window("chr1", 10, 14, "-")
    np.testing.assert_allclose(win, [[13, .02], [12, .02], [11, .02], [10, .02]])
    many = ts.read_windows(["chr1", "chr1"], [10, 3_000], [14, 3_004], ["-", "+"])
    np.testing.assert_allclose(many[0], win)
    ts.check_same_chroms()
    c = write_bigwig(tmp_path / "c.bw", {"chr1": 5_000}, {"chr1": np.ones(5_000)})
    with pytest.raises(InputFileError, match="chromosomes differ"):
        TrackSet({"A": a, "C": c}).check_same_chroms()


def test_write_bigwig_roundtrip_runs(tmp_path):
    vals = np.zeros(5_000)
    vals[100:200] = 1.5
    vals[300:310] = np.arange(10)
    path = write_bigwig(tmp_path / "r.bw", SIZES, {"chr1": vals})
    bw = pyBigWig.open(str(path))
    assert bw.intervals("chr1", 100, 200) == ((100, 200, 1.5),)
    np.testing.assert_allclose(Track(path).values("chr1", 0, 5_000), vals)


def test_gaussian_smooth():
    x = np.zeros(101)
    x[50] = 1
    y = gaussian_smooth(x, 10)
    assert y.argmax() == 50 and y.sum() == pytest.approx(1.0, abs=1e-3)
    assert y[40] == pytest.approx(y[50] * np.exp(-0.5), rel=1e-2)
    with pytest.raises(ConfigError, match="sigma"):
        gaussian_smooth(x, -1)


# ----------------------------------------------------------------------------- other formats
@pytest.fixture
def runs_bigwig(tmp_path, rng):
    """A bigWig of piecewise-constant runs (with gaps) on chr1 and chrM."""
    signals = {}
    for chrom, size in SIZES.items():
        vals = np.repeat(np.round(rng.gamma(2.0, 3.0, size // 20), 3), 20)[:size]
        vals[rng.random(size // 20).repeat(20)[:size] < 0.3] = 0.0
        signals[chrom] = vals
    return write_bigwig(tmp_path / "runs.bw", SIZES, signals)


def _same_track(a: Track, b: Track):
    assert a.chroms == b.chroms
    for chrom, size in a.chroms.items():
        np.testing.assert_array_equal(a.values(chrom, -10, size + 10),
                                      b.values(chrom, -10, size + 10))
        np.testing.assert_array_equal(a.binned(chrom, 0, size, 100, "max"),
                                      b.binned(chrom, 0, size, 100, "max"))


@pytest.mark.parametrize("gz", [False, True])
def test_bedgraph_equals_the_bigwig_it_was_made_from(tmp_path, runs_bigwig, gz, caplog):
    path = write_bedgraph(tmp_path / ("t.bedGraph.gz" if gz else "t.bedGraph"),
                          bigwig_intervals(runs_bigwig), gz=gz, shuffle_seed=1)
    with caplog.at_level(logging.INFO, logger="kerasgene"):
        t = Track(path, chrom_sizes=SIZES)
    assert t.format == "bedgraph" and "converting to bigWig once" in caplog.text
    _same_track(t, Track(runs_bigwig))  # base for base, unsorted input
    assert t.path == Path(path) and t.bigwig.suffix == ".bw"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kerasgene"):
        Track(path, chrom_sizes=SIZES)
    assert "converting" not in caplog.text  # the cached bigWig is reused


def test_bedgraph_sizes_without_a_genome_and_through_aliases(tmp_path):
    path = write_bedgraph(tmp_path / "t.bg", [("1", 10, 20, 1.5), ("1", 30, 35, 2.0)])
    assert Track(path).chroms == {"1": 35}  # the end of the last interval
    t = Track(path, chrom_sizes={"chr1": 5_000, "chr2": 100})
    assert t.chroms == {"1": 5_000}
    np.testing.assert_array_equal(t.values("chr1", 18, 32), [1.5, 1.5] + [0] * 10 + [2, 2])


@pytest.mark.parametrize("lines, message", [
    ("chr1\t0\t10\t1\nchr1\t5\t20\t2\n", r"line 3: interval chr1:5-20 overlaps line 2 "
                                          r"\(chr1:0-10\); expected non-overlapping"),
    ("chr1\t0\t10\t1\nchr1\t4990\t5010\t2\n", r"line 3: interval ends at 5010, past the end of "
                                               r"chr1 \(5000 bp in the genome\)"),
    ("chr1\t0\t10\tabc\n", r"line 2: value 'abc': expected a number"),
    ("chr1\t0\t10\tinf\n", r"line 2: value 'inf': expected a finite number"),
    ("chr1\t0\t10\t-1e39\n", r"line 2: value '-1e39': expected a finite number within "
                             r"float32 range \(\|x\| <= 3\.4e38\)"),
    ("chr1\t10\t10\t1\n", r"line 2: interval \[10, 10\): expected 0 <= start < end"),
    ("chr1\tx\t10\t1\n", r"line 2: start 'x' / end '10': expected integers"),
    ("chr1\t0\t10\t1\tname\n", r"line 2: 5 fields; expected 4 \(chrom, start, end, value\)"),
    ("", r"holds no interval"),
])
def test_bad_bedgraph_lines(tmp_path, lines, message):
    path = tmp_path / "bad.bedGraph"
    path.write_text("track type=bedGraph\n" + lines)
    with pytest.raises(InputFileError, match=r"bad\.bedGraph:? " + message):
        Track(path, chrom_sizes=SIZES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bedGraph"]  # nothing cached


@pytest.mark.parametrize("start, end", [(-5, 10), (10, -5)])
def test_bedgraph_without_track_line_with_a_bad_first_interval(tmp_path, start, end):
    """Recognised as a bedGraph (not 'not a track file'), so the error names the line."""
    path = tmp_path / "neg.bedGraph"
    path.write_text(f"chr1\t{start}\t{end}\t2\nchr1\t20\t30\t1\n")
    with pytest.raises(InputFileError, match=rf"neg\.bedGraph line 1: interval \[{start}, "
                                             rf"{end}\): expected 0 <= start < end"):
        Track(path)


def test_bedgraph_naming_one_chromosome_two_ways_is_refused(tmp_path):
    """Before: a bigWig with chromosomes 'chr1' and '1'; reading chr1 lost the '1' lines."""
    path = write_bedgraph(tmp_path / "two.bedGraph", [("chr1", 0, 10, 1), ("1", 20, 30, 5)])
    with pytest.raises(InputFileError, match=r"two\.bedGraph: names 'chr1' \(line 2\) and '1' "
                                             r"\(line 3\) both mean genome chromosome chr1; use "
                                             r"one name per chromosome"):
        Track(path, chrom_sizes=SIZES)


def test_a_bigwig_converted_before_the_bedgraph_checks_is_made_again(tmp_path):
    """The conversion's version is part of the cached bigWig's name: a bigWig an earlier
    version made from a bedGraph naming one chromosome two ways (it held both) is removed,
    and the bedGraph converted again — and refused."""
    from kerasgene.io.cache import derived_path

    path = write_bedgraph(tmp_path / "two.bedGraph", [("chr1", 0, 10, 1), ("1", 20, 30, 5)])
    params = {"format": "bedgraph", "sizes": sorted(SIZES.items()), "aliases": None}
    old = derived_path(path, ".bw", params)  # version 0: the name before this check
    write_bigwig(old, {"chr1": SIZES["chr1"], "1": SIZES["chr1"]},
                 {"chr1": np.ones(SIZES["chr1"]), "1": np.ones(SIZES["chr1"])})
    with pytest.raises(InputFileError, match="both mean genome chromosome chr1"):
        Track(path, chrom_sizes=SIZES)
    assert not old.exists()


def test_bedgraph_nan_and_unknown_chromosomes_are_counted(tmp_path, caplog):
    path = tmp_path / "w.bedGraph"
    path.write_text("chr1\t0\t10\tnan\nchr1\t10\t20\t3\nchrUn_x\t0\t5\t1\nchrUn_y\t0\t5\t1\n")
    with caplog.at_level(logging.WARNING, logger="kerasgene"):
        t = Track(path, chrom_sizes=SIZES)
    assert "1 lines with value NaN read as missing data (0), e.g. lines 1" in caplog.text
    assert ("2 intervals on 2 chromosomes absent from the genome dropped (e.g. chrUn_x, "
            "chrUn_y)") in caplog.text
    np.testing.assert_array_equal(t.values("chr1", 8, 12), [0, 0, 3, 3])
    path.write_text("chrUn_x\t0\t5\t1\n")
    with pytest.raises(InputFileError, match=r"w\.bedGraph: none of its chromosomes \(chrUn_x\)"):
        Track(path, chrom_sizes=SIZES)


def test_bigbed_value_column(tmp_path, runs_bigwig, caplog):
    features = bigwig_intervals(runs_bigwig)
    bb = write_bigbed(tmp_path / "peaks.bb", SIZES, features, value_field="signalValue")
    _same_track(Track(bb, value_column="signalValue"), Track(runs_bigwig))
    _same_track(Track(bb, value_column=7), Track(runs_bigwig))  # BED column number
    assert Track(bb).values("chr1", 0, 5_000).max() == 500  # default: the score column
    with pytest.raises(ConfigError, match=r"peaks\.bb: no field 'signal' for the track's values;"
                                          r" expected value_column to be one of name, score"):
        Track(bb, value_column="signal")
    with pytest.raises(ConfigError, match="value_column applies to bigBed tracks; this is a "
                                          "bigWig"):
        Track(runs_bigwig, value_column="score")


@pytest.mark.parametrize("value", [np.inf, 1e39])
def test_bigbed_value_beyond_float32_is_refused(tmp_path, value):
    bb = write_bigbed(tmp_path / "v.bb", SIZES, [("chr1", 10, 50, 2.0), ("chr1", 100, 120, value)])
    with pytest.raises(InputFileError, match=r"v\.bb: feature chr1:100-120: field 'signalValue' "
                                             r"is '(inf|1e\+39)'; expected a finite number "
                                             r"within float32 range"):
        Track(bb, value_column="signalValue")


def test_bigbed_overlapping_features_take_the_maximum(tmp_path, caplog):
    bb = write_bigbed(tmp_path / "o.bb", SIZES, [("chr1", 10, 50, 2.5), ("chr1", 40, 80, 1.5),
                                                 ("chr1", 45, 60, 9.0), ("chrM", 0, 20, 4.0)])
    with caplog.at_level(logging.WARNING, logger="kerasgene"):
        t = Track(bb, value_column="signalValue")
    assert ("2 features overlap others; overlapping bases take the maximum signalValue "
            "(e.g. chr1:40-80, chr1:45-60)") in caplog.text
    expect = np.zeros(100)
    expect[10:50], expect[50:80], expect[45:60] = 2.5, 1.5, 9.0
    np.testing.assert_array_equal(t.values("chr1", 0, 100), expect)
    np.testing.assert_array_equal(t.values("chrM", 0, 25), [4.0] * 20 + [0] * 5)


def _nan_bigwig(path):
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(SIZES.items()), maxZooms=10)
    bw.addEntries(["chr1"] * 3, [0, 100, 200], ends=[50, 150, 250],
                  values=[1.0, float("nan"), 3.0])
    bw.close()
    return path


def test_bigwig_with_nan_values_reads_them_as_missing(tmp_path, caplog):
    """pyBigWig's header() segfaults on this file; exact stats lose whole bins to one NaN."""
    with caplog.at_level(logging.WARNING, logger="kerasgene"):
        t = Track(_nan_bigwig(tmp_path / "nan.bw"))
    assert t.nan_bases == 50
    assert "nan.bw: 50 bases hold NaN values; read as missing data (0)" in caplog.text
    assert np.isnan(t.header["sumData"]) and t.header["nBasesCovered"] == 150
    vals = t.values("chr1", 0, 300)
    assert not np.isnan(vals).any() and vals[120] == 0 and vals[220] == 3
    np.testing.assert_allclose(t.binned("chr1", 0, 300, 150, "mean"), [50 / 150, 150 / 150])
    np.testing.assert_allclose(t.binned("chr1", 0, 300, 150, "coverage"), [50 / 150, 50 / 150])
    np.testing.assert_allclose(t.binned("chr1", 0, 300, 150, "max"), [1, 3])
    assert t.max_value == 3.0


@pytest.mark.parametrize("chroms, entries", [
    ({"chr1": 1_000}, [("chr1", 0, 20, np.nan), ("chr1", 20, 40, 8.0), ("chr1", 40, 60, 4.0)]),
    ({"chr1": 1_000, "chr2": 1_000}, [("chr1", 0, 20, np.nan), ("chr1", 20, 40, 8.0),
                                      ("chr2", 0, 20, 2.0)]),
    ({"chr1": 1_000_000}, [("chr1", 0, 20, 1.0), ("chr1", 500_000, 500_020, np.nan),
                           ("chr1", 500_020, 500_040, 8.0)]),
])
def test_max_value_of_a_bigwig_whose_summary_bin_starts_with_nan(tmp_path, chroms, entries):
    """pyBigWig's stats(type="max") gives None or 1.0 here: the maximum 8 was lost."""
    bw = pyBigWig.open(str(tmp_path / "n.bw"), "w")
    bw.addHeader(list(chroms.items()))
    for chrom, s, e, v in entries:
        bw.addEntries([chrom], [s], ends=[e], values=[v])
    bw.close()
    assert Track(tmp_path / "n.bw").max_value == 8.0
    start = next(s for _, s, _, v in entries if v == 8.0)
    t = Track(tmp_path / "n.bw", "neglog10p")
    np.testing.assert_array_equal(t.values("chr1", start, start + 20), np.ones(20))


def test_bigwig_without_any_interval_is_refused(tmp_path):
    path = write_bigwig(tmp_path / "empty.bw", SIZES, {})
    with pytest.raises(InputFileError, match=r"empty\.bw: holds no data \(no interval on any "
                                             r"chromosome\); as a track it would be an all-zero"):
        Track(path)


@pytest.mark.parametrize("cut", [100, 400, 520, -40, -1])
def test_truncated_bigwig(tmp_path, bigwig, cut):
    data = Path(bigwig[0]).read_bytes()
    path = tmp_path / "cut.bw"
    path.write_bytes(data[:cut])
    with pytest.raises(InputFileError, match=r"cut\.bw: corrupt or truncated bigWig file \(.*\);"
                                             r" expected a complete bigWig file"):
        Track(path)


def test_random_bytes_behind_a_bigwig_magic_number(tmp_path):
    """libBigWig trusts the header's offsets: this file crashed the process before."""
    path = tmp_path / "rand.bw"
    path.write_bytes(struct.pack("<I", 0x888FFC26) + np.random.default_rng(3).bytes(2_000))
    with pytest.raises(InputFileError, match=r"rand\.bw: corrupt or truncated bigWig file"):
        Track(path)


def test_same_chromosomes_through_aliases(tmp_path):
    a = write_bigwig(tmp_path / "a.bw", {"chrX": 100, "chr1": 50}, {"chrX": np.ones(100)})
    b = write_bigwig(tmp_path / "b.bw", {"X": 100, "1": 50}, {"X": np.ones(100)})
    TrackSet({"A": a, "B": b}).check_same_chroms()  # one sample, two naming styles
    c = write_bigwig(tmp_path / "c.bw", {"NC_000023.11": 100, "1": 50}, {"1": np.ones(50)})
    with pytest.raises(InputFileError, match=r"c\.bw: chromosomes differ from track 'A' .*"
                                             r"\['NC_000023\.11', 'chrX'\]"):
        TrackSet({"A": a, "C": c}).check_same_chroms()
    table = tmp_path / "alias.txt"
    table.write_text("chrX\tNC_000023.11\n")
    ts = TrackSet({"A": a, "C": c}, aliases=table)
    ts.check_same_chroms()
    np.testing.assert_array_equal(ts.window("X", 98, 100)[:, 1], [0, 0])
    np.testing.assert_array_equal(ts.window("1", 48, 50)[:, 1], [1, 1])
