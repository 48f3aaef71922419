import numpy as np
import pyBigWig
import pytest

from kerasgene.errors import ConfigError, InputFileError, InvalidRegionError, UnknownChromosomeError
from kerasgene.tracks import (
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
