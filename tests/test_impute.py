"""``kerasgene impute``: a trained chromatin run's imputed track (bigWig) from a sample's
GRO-/PRO-seq files, read and binned as the run's training data were.

The checks are independent of the imputation's code: the run's own evaluation
(predictions.tsv, metrics.json) and the dataset builder reading the new files."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest
import yaml
from conftest import cli_error

from kerasgene.cli import main
from kerasgene.datasets.genome_bins import build_genome_bins
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.explain.impute import impute_track, record_path
from kerasgene.io.tracks import write_bigwig
from kerasgene.models import load_model
from kerasgene.models.inference import predict

SIZES = {"chr1": 60_000, "chr2": 30_010}
SPLIT = {"method": "chromosome", "train": ["chr1:0-0.8"], "valid": ["chr1:0.8-1"],
         "test": ["chr2"]}
DATA = {"window": 21, "sigma": 2, "stride": 2, "signal_log1p": True, "split": SPLIT}


def _sample(d, seed: int, scale: float = 1.0) -> dict[str, str]:
    """Strand bigWigs of GRO-seq-like bursts (minus as values <= 0) and a mark following
    them (smoothed bursts); file paths by name."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    plus, minus, mark = {}, {}, {}
    for c, n in SIZES.items():
        burst = (rng.random(-(-n // 50)) < 0.05) * rng.gamma(3.0, 4.0, -(-n // 50))
        plus[c] = np.repeat(burst, 50)[:n] * scale
        minus[c] = -np.repeat(np.roll(burst, 3) * 0.5, 50)[:n] * scale
        mark[c] = np.repeat(gaussian_filter1d(burst, 4) * 3, 50)[:n] + 0.1
    paths = {k: d / f"{k}.bw" for k in ("plus", "minus", "mark")}
    for k, v in (("plus", plus), ("minus", minus), ("mark", mark)):
        write_bigwig(paths[k], SIZES, v)
    return {k: str(p) for k, p in paths.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A chromatin regression run trained on sample A (its config's stride 2) and the
    files of sample B (other bursts, the same assay)."""
    d = tmp_path_factory.mktemp("impute")
    a, b = _sample(d / "a", 1), _sample(d / "b", 2)
    config = {
        "system": "chromatin", "seed": 0, "data_dir": str(d), "run_dir": str(d / "run"),
        "data": {"signal": {"plus": a["plus"], "minus": a["minus"]}, "targets": {"K4": a["mark"]},
                 **DATA},
        "model": {"name": "chromatin_dnn", "hparams": {"units": [16, 8]}},
        "training": {"epochs": 2, "verbose": 0, "learning_rate": 0.003},
        "baselines": [],
    }
    (d / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["train", "--config", str(d / "run.yaml")]) == 0
    return {"dir": d, "run": d / "run", "a": a, "b": b}


def _values(path, chrom: str, bins: np.ndarray, bin_size: int = 50) -> np.ndarray:
    with pyBigWig.open(str(path)) as bw:
        return np.array([bw.values(chrom, int(k) * bin_size, int(k) * bin_size + 1)[0]
                         for k in bins])


def test_the_run_records_its_channels_and_their_scale(world):
    pre = json.loads((world["run"] / "preprocessing.json").read_text())
    assert pre["signal_names"] == ["plus", "minus"]
    assert set(pre["signal_stats"]) == {"plus", "minus"}
    assert pre["signal_stats"]["plus"]["mean"] > 0 and pre["signal_stats"]["plus"]["windows"] > 20


def test_the_test_chromosome_imputed_as_the_run_evaluated_it(world, tmp_path):
    """The training sample's files over the test chromosome: the bigWig's value at every
    test example's bin is that example's prediction in predictions.tsv, and the scores
    against the observed mark are those of the bigWig's values against the dataset's
    stored (smoothed) labels of every bin."""
    from kerasgene.datasets.base import Dataset
    from kerasgene.metrics import regression_metrics

    run, a = world["run"], world["a"]
    out = tmp_path / "k4.bigWig"
    res = impute_track(run, {"plus": a["plus"], "minus": a["minus"]}, out, chroms=["chr2"],
                       observed=a["mark"], progress=False)
    table = pd.read_csv(run / "predictions.tsv", sep="\t")
    ds = Dataset.open(run / "dataset")
    chrom, k = ds.positions(table["example"].to_numpy())
    assert {ds.meta["chroms"][c] for c in chrom} == {"chr2"}
    np.testing.assert_allclose(_values(out, "chr2", k), table["predicted"], rtol=1e-5, atol=1e-6)
    n = -(-SIZES["chr2"] // 50)
    at = ds.meta["bin_offsets"][ds.meta["chroms"].index("chr2")]
    labels = np.asarray(ds.arrays["targets"][at : at + n, 0])
    expected = regression_metrics(labels, _values(out, "chr2", np.arange(n)))
    for key in ("pearson", "spearman", "r2", "n"):
        assert res["scores"][key] == pytest.approx(expected[key], rel=1e-4, abs=1e-6)
    assert res["chroms"]["chr2"] == {"bins": n, "predicted": n,
                                     "mean": pytest.approx(res["chroms"]["chr2"]["mean"])}
    assert res["in_sample"] == {} and res["warnings"] == []
    assert res["out"] == str(out) and res["observed"] == a["mark"]
    assert json.loads(record_path(out).read_text()) == json.loads(json.dumps(res))
    with pyBigWig.open(str(out)) as bw:
        assert bw.chroms() == {"chr2": SIZES["chr2"]}
        ivs = bw.intervals("chr2")
    assert len(ivs) == n and ivs[0][:2] == (0, 50) and ivs[-1][:2] == ((n - 1) * 50, SIZES["chr2"])


def test_an_observed_track_with_a_gap_is_also_scored_where_it_has_data(world, tmp_path,
                                                                        caplog):
    """An observed mark without data over part of chr2 (bins of 0, which the masked loss
    never trained on): ``scores`` over every bin as before, ``nonzero_scores`` over the bins
    that are not 0, and a warning with their count."""
    from kerasgene.metrics import regression_metrics

    a = world["a"]
    with pyBigWig.open(a["mark"]) as bw:
        mark = {c: np.nan_to_num(np.asarray(bw.values(c, 0, n))) for c, n in SIZES.items()}
    mark["chr2"][: SIZES["chr2"] // 2] = 0  # no reads over the first half
    write_bigwig(tmp_path / "gap.bw", SIZES, mark)
    with caplog.at_level(logging.WARNING):
        res = impute_track(world["run"], {"plus": a["plus"], "minus": a["minus"]},
                           tmp_path / "k4.bw", chroms=["chr2"], observed=str(tmp_path / "gap.bw"),
                           progress=False)
    whole, nz = res["scores"], res["nonzero_scores"]
    assert nz["n_zero"] > 0 and nz["n"] + nz["n_zero"] == whole["n"]
    from kerasgene.datasets.genome_bins import binned_means
    from kerasgene.io.tracks import Track, gaussian_smooth

    n = -(-SIZES["chr2"] // 50)
    with Track(tmp_path / "gap.bw") as t:
        y = gaussian_smooth(binned_means(t, "chr2", n, 50), float(DATA["sigma"]))
    pred = _values(tmp_path / "k4.bw", "chr2", np.arange(n))
    assert nz["r2"] == pytest.approx(regression_metrics(y[y != 0], pred[y != 0])["r2"], rel=1e-4)
    said = f"impute: {tmp_path / 'gap.bw'}: {nz['n_zero']} of the {n} scored bins are 0"
    assert said in caplog.text and res["warnings"][0].startswith(said)


def test_a_stride_writes_each_intervals_middle_bin(world, tmp_path):
    """--stride 4: one interval per 4 bins (the last one clipped at the chromosome's end),
    each holding the every-bin track's value at its middle bin."""
    b = world["b"]
    signal = {"plus": b["plus"], "minus": b["minus"]}
    impute_track(world["run"], signal, tmp_path / "all.bw", chroms=["chr2"], progress=False)
    impute_track(world["run"], signal, tmp_path / "s4.bw", chroms=["chr2"], stride=4,
                 progress=False)
    n = -(-SIZES["chr2"] // 50)  # 601 bins: the last interval is one bin
    with pyBigWig.open(str(tmp_path / "s4.bw")) as bw:
        ivs = np.array(bw.intervals("chr2"))
    starts = np.arange(0, n, 4)
    ends = np.minimum(starts + 4, n)
    np.testing.assert_array_equal(ivs[:, 0], starts * 50)
    np.testing.assert_array_equal(ivs[:, 1], np.minimum(ends * 50, SIZES["chr2"]))
    np.testing.assert_allclose(ivs[:, 2], _values(tmp_path / "all.bw", "chr2",
                                                  (starts + ends - 1) // 2), rtol=1e-6)


def test_another_sample_through_the_command_line(world, tmp_path, capsys):
    """Sample B's files, every bin of every chromosome: the values are the model's
    predictions on the windows the dataset builder makes of the same files."""
    run, b = world["run"], world["b"]
    out = tmp_path / "b.bw"
    assert main(["impute", "--run", str(run), "--signal", f"minus={b['minus']}",
                 "--signal", f"plus={b['plus']}", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    n_bins = sum(-(-n // 50) for n in SIZES.values())
    assert f"{n_bins:,} bins of 50 bp on 2 chromosomes" in said and f"wrote {out}" in said
    built = build_genome_bins({"signal": {"plus": b["plus"], "minus": b["minus"]},
                               "targets": {"K4": b["mark"]}, **DATA, "stride": 1},
                              tmp_path / "ds", progress=False)
    idx = np.arange(built.meta["n_examples"])  # every bin: the split covers the genome
    chrom, k = built.positions(idx)
    expected = predict(load_model(run / "model.keras"), {"signal": built.gather(idx)["signal"]})
    expected = next(iter(expected.values())).reshape(-1)
    got = np.concatenate([_values(out, c, k[chrom == i]) for i, c in
                          enumerate(built.meta["chroms"])])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    record = json.loads(record_path(out).read_text())
    assert record["signal"] == {"plus": b["plus"], "minus": b["minus"]}
    assert record["in_sample"] == {} and record["no_signal"] == {} and "scores" not in record
    assert record["warnings"] == []


def test_a_chromosome_without_signal_is_warned_about(world, tmp_path, caplog):
    """Sample B's minus strand without reads on chr2 (a file made for fewer chromosomes
    than its header lists): a warning naming the file and chromosome, and the record."""
    b = world["b"]
    with pyBigWig.open(b["minus"]) as bw:
        minus = {c: np.nan_to_num(np.asarray(bw.values(c, 0, n))) for c, n in SIZES.items()}
    write_bigwig(tmp_path / "minus.bw", SIZES, {"chr1": minus["chr1"]})
    with caplog.at_level(logging.WARNING):
        res = impute_track(world["run"], {"plus": b["plus"], "minus": str(tmp_path / "minus.bw")},
                           tmp_path / "b.bw", stride=50, progress=False)
    assert res["no_signal"] == {str(tmp_path / "minus.bw"): ["chr2"]}
    said = (f"impute: {tmp_path / 'minus.bw'}: no data on 1 of the 2 imputed chromosomes (chr2)")
    assert res["warnings"] == [said]
    assert (f"{said}; where it is a signal file, the track there is the model's output for a "
            "channel of zeros") in caplog.text


def test_a_bedgraph_channel_imputes_as_its_bigwig(world, tmp_path):
    """The plus strand as a bedGraph (its bigWig's intervals as text) gives the same track."""
    from real_files import bigwig_intervals, write_bedgraph

    run, b = world["run"], world["b"]
    write_bedgraph(tmp_path / "plus.bedGraph", bigwig_intervals(b["plus"]))
    one = impute_track(run, {"plus": b["plus"], "minus": b["minus"]}, tmp_path / "bw.bw",
                       chroms=["chr2"], stride=5, progress=False)
    two = impute_track(run, {"plus": str(tmp_path / "plus.bedGraph"), "minus": b["minus"]},
                       tmp_path / "bg.bw", chroms=["2"], stride=5, progress=False)
    assert one["chroms"] == two["chroms"]
    bins = np.arange(0, -(-SIZES["chr2"] // 50), 5)
    np.testing.assert_array_equal(_values(tmp_path / "bg.bw", "chr2", bins),
                                  _values(tmp_path / "bw.bw", "chr2", bins))


def test_a_bedgraph_without_a_chromosome_leaves_it_out_with_a_warning(world, tmp_path,
                                                                      caplog):
    """A bedGraph strand with no interval on a chromosome (``bedtools genomecov -bg``
    writes none for a chromosome without reads) leaves that chromosome out of the default
    set, named in a warning; it was an error asking to list every other chromosome
    (hundreds of contigs on hg38). A bigWig lacking one stays an error."""
    from real_files import bigwig_intervals, write_bedgraph

    run, b = world["run"], world["b"]
    rows = [r for r in bigwig_intervals(b["minus"]) if r[0] != "chr2"]
    minus = write_bedgraph(tmp_path / "minus.bedGraph", rows)
    with caplog.at_level(logging.WARNING):
        res = impute_track(run, {"plus": b["plus"], "minus": minus}, tmp_path / "m.bw",
                           stride=50, progress=False)
    assert list(res["chroms"]) == ["chr1"]
    assert (f"{minus}: no interval on 1 chromosomes of the other files (chr2): they are left "
            "out (--chroms not given: every chromosome that each file holds)") in caplog.text
    with pytest.raises(InputFileError) as err:  # listed: was "unknown chromosome 'chr2'"
        impute_track(run, {"plus": b["plus"], "minus": minus}, tmp_path / "l.bw",
                     chroms=["chr1", "chr2"], progress=False)
    assert str(err.value) == (f"{minus}: no interval on chr2, which --chroms lists (a bedGraph "
                              "names only the chromosomes it has lines on); expected data on "
                              "every listed chromosome, or chr2 left out of --chroms")
    with pyBigWig.open(b["minus"]) as bw:
        values = bw.values("chr1", 0, SIZES["chr1"], numpy=True)
    write_bigwig(tmp_path / "minus.bw", {"chr1": SIZES["chr1"]}, {"chr1": values})
    with pytest.raises(InputFileError, match=r"minus\.bw: chromosomes differ from .*: "
                                             r"\['chr2'\]; list the chromosomes to use in "
                                             r"--chroms"):
        impute_track(run, {"plus": b["plus"], "minus": str(tmp_path / "minus.bw")},
                     tmp_path / "n.bw", stride=50, progress=False)


def test_the_training_files_on_training_chromosomes_are_said_in_sample(world, tmp_path, caplog):
    run, a = world["run"], world["a"]
    with caplog.at_level(logging.WARNING):
        res = impute_track(run, {"plus": a["plus"], "minus": a["minus"]}, tmp_path / "a.bw",
                           stride=50, progress=False)
    assert res["in_sample"] == {"train": ["chr1"], "valid": ["chr1"]}
    assert ("the signal files hold the run's training data, so its predictions on the run's "
            "train chromosomes (chr1) and valid chromosomes (chr1) are not held out"
            in caplog.text)


def test_a_signal_of_another_scale_is_warned_about(world, tmp_path, caplog):
    """Sample B's counts × 1,000 (another normalisation): a warning naming the channel and
    the factor as soon as the first chromosome is read, then over all chromosomes, kept in
    the record; the track is still written. Sample B itself (the same assay) is on scale."""
    c = _sample(tmp_path / "c", 2, scale=1000.0)
    with caplog.at_level(logging.WARNING):
        res = impute_track(world["run"], {"plus": c["plus"], "minus": c["minus"]},
                           tmp_path / "c.bw", stride=25, progress=False)
    first = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("impute: chr1 (the first chromosome): signal track 'plus'")]
    assert first and "larger than the training signal's" in first[0], caplog.text
    assert "counts per million or another normalisation instead of read counts" in first[0]
    assert any(w.startswith("impute: the imputed chromosomes: signal track 'plus': mean")
               for w in res["warnings"]), res["warnings"]
    assert (tmp_path / "c.bw").exists()
    caplog.clear()
    b = world["b"]
    with caplog.at_level(logging.WARNING):
        res = impute_track(world["run"], {"plus": b["plus"], "minus": b["minus"]},
                           tmp_path / "b.bw", stride=25, progress=False)
    assert "impute:" not in caplog.text and res["warnings"] == []


def test_a_later_chromosome_off_scale_is_named(world, tmp_path, caplog):
    """chr2 of the plus strand × 10, chr1 as trained: the first chromosome's check and the
    mean over all (3.7×) are silent, the check per chromosome names chr2."""
    b = world["b"]
    with pyBigWig.open(b["plus"]) as bw:
        plus = {c: np.nan_to_num(np.asarray(bw.values(c, 0, n))) for c, n in SIZES.items()}
    write_bigwig(tmp_path / "plus.bw", SIZES, {"chr1": plus["chr1"], "chr2": plus["chr2"] * 10})
    with caplog.at_level(logging.WARNING):
        res = impute_track(world["run"], {"plus": str(tmp_path / "plus.bw"), "minus": b["minus"]},
                           tmp_path / "x.bw", stride=25, progress=False)
    assert len(res["warnings"]) == 1, res["warnings"]
    assert res["warnings"][0].startswith(
        "impute: the imputed chromosomes: signal track 'plus' on 1 of the 2 chromosomes with >= "
        "20 sampled windows of its signal (chr2), on scale on the others; on chr2: mean")
    assert "chr1 (the first chromosome)" not in caplog.text


def test_a_strand_of_the_other_sign_is_warned_about(world, tmp_path, caplog):
    """A run trained without signal_abs on a minus strand of counts >= 0; the new sample's
    minus strand stored as negative values (the usual minus-strand bigWig): warned."""
    b = world["b"]
    positive = {}
    for name in ("plus", "minus"):
        with pyBigWig.open(b[name]) as bw:
            positive[name] = {c: np.abs(np.nan_to_num(np.asarray(bw.values(c, 0, n))))
                              for c, n in SIZES.items()}
        write_bigwig(tmp_path / f"{name}.bw", SIZES, positive[name])
    write_bigwig(tmp_path / "minus_neg.bw", SIZES, {c: -v for c, v in positive["minus"].items()})
    config = yaml.safe_load((world["dir"] / "run.yaml").read_text())
    config["run_dir"] = str(tmp_path / "run")
    config["data"].update(signal={"plus": str(tmp_path / "plus.bw"),
                                  "minus": str(tmp_path / "minus.bw")},
                          signal_abs=False, signal_log1p=False)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["train", "--config", str(tmp_path / "run.yaml")]) == 0
    with caplog.at_level(logging.WARNING):
        res = impute_track(tmp_path / "run", {"plus": str(tmp_path / "plus.bw"),
                                              "minus": str(tmp_path / "minus_neg.bw")},
                           tmp_path / "x.bw", stride=25, progress=False)
    assert any("signal track 'minus': mean -" in w and "of the other sign than the training "
               "signal's" in w and "a minus-strand file's counts as negative values" in w
               for w in res["warnings"]), res["warnings"]


@pytest.mark.parametrize("signal, message", [
    ({"plus": "P"}, "signal: RUN was trained on the channels plus, minus; missing minus; give "
                    "NAME=FILE for each trained channel"),
    ({"plus": "P", "minus": "M", "K4": "P"},
     "signal: RUN was trained on the channels plus, minus; not trained on K4; give NAME=FILE "
     "for each trained channel"),
    ({"plus": "P", "minus": "P"}, "--signal: signal.plus and signal.minus name one file (P)"),
])
def test_channels_that_are_not_the_runs(world, tmp_path, signal, message):
    b = world["b"]
    files = {"P": b["plus"], "M": b["minus"]}
    with pytest.raises(ConfigError) as err:
        impute_track(world["run"], {k: files[v] for k, v in signal.items()}, tmp_path / "x.bw",
                     progress=False)
    assert message.replace("RUN", str(world["run"])).replace("(P)", f"({b['plus']})") \
        in str(err.value)
    assert not list(tmp_path.iterdir())  # nothing written


def test_bad_arguments_exit_2_in_one_line_and_write_nothing(world, tmp_path, capsys):
    b, run = world["b"], str(world["run"])
    cases = [
        (["--signal", "plus", "--signal", f"minus={b['minus']}"],
         "--signal plus: expected NAME=FILE"),
        (["--signal", f"plus={b['plus']}", "--signal", f"plus={b['minus']}"],
         "--signal: channel 'plus' given twice"),
        (["--signal", f"plus={b['plus']}", "--signal", f"minus={b['minus']}",
          "--chroms", "chr9"], "chr9"),
        (["--signal", f"plus={b['plus']}", "--signal", f"minus={b['minus']}", "--stride", "0"],
         "stride and batch_size must be >= 1"),
        (["--signal", f"plus={b['plus']}", "--signal", f"minus={tmp_path / 'typo.bw'}"],
         f"{tmp_path / 'typo.bw'}: signal.minus file not found"),
        (["--signal", f"plus={b['plus']}", "--signal", f"minus={b['minus']}", "--chroms", ""],
         "--chroms: no chromosome named"),
    ]
    for extra, said in cases:
        assert said in cli_error(capsys, "impute", "--run", run, *extra, "--out",
                                 str(tmp_path / "x.bw"))
    (tmp_path / "folder").mkdir()
    assert main(["impute", "--run", run, "--signal", f"plus={b['plus']}", "--signal",
                 f"minus={b['minus']}", "--out", str(tmp_path / "folder")]) == 2
    assert f"--out {tmp_path / 'folder'}: is a directory" in capsys.readouterr().err
    (tmp_path / "folder").rmdir()
    assert main(["impute", "--run", run, "--signal", f"plus={b['plus']}", "--signal",
                 f"minus={b['minus']}", "--out", b["plus"]]) == 2
    assert f"--out {b['plus']}: is the input signal.plus" in capsys.readouterr().err
    assert main(["impute", "--run", run, "--signal", f"plus={b['plus']}", "--signal",
                 f"minus={b['minus']}", "--out", str(tmp_path / "x.bw"), "seed=3"]) == 2
    assert "expected no KEY=VALUE overrides (but run_dir= with --config)" in capsys.readouterr().err
    config = str(world["run"] / "config.yaml")
    assert main(["impute", "--config", config, f"run_dir={run}", "data.window=5", "--signal",
                 f"plus={b['plus']}", "--signal", f"minus={b['minus']}", "--out",
                 str(tmp_path / "x.bw")]) == 2
    assert "impute: data.window=5: the run's own settings" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_output_that_would_replace_a_file_of_the_run_is_refused(world, tmp_path, capsys):
    """The run's training target, its model, a file its record would replace (X.bw writes
    X.json: RUN/metrics.bw → metrics.json), or a path below a file: exit 2, one line, the
    files as they were. An earlier imputed track (in the run's folder too) is replaced."""
    import hashlib

    run, b = world["run"], world["b"]
    signal = ["--signal", f"plus={b['plus']}", "--signal", f"minus={b['minus']}"]

    def digest(path):
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    target = world["a"]["mark"]
    before = {p: digest(p) for p in (target, run / "model.keras", run / "metrics.json")}
    for out, said in [
        (target, f"--out: {target} is the run's training input targets.K4 file itself; "
                 "expected another path for the imputed bigWig"),
        (run / "model.keras", f"--out: {run / 'model.keras'} is the run's file model.keras "
                              "itself"),
        (run / "metrics.bw", f"--out: {run / 'metrics.json'} is the run's file metrics.json "
                             "itself; expected another path for the imputed bigWig's record"),
        (Path(b["plus"]) / "x.bw", f"--out: {Path(b['plus']) / 'x.bw'}: {b['plus']} is a "
                                   "file, not a folder"),
        (tmp_path / "K4.bedGraph", f"--out {tmp_path / 'K4.bedGraph'}: a .bedGraph name, but "
                                   "impute writes a bigWig; expected a .bw or .bigWig name "
                                   "(K4.bw)"),
    ]:
        assert main(["impute", "--run", str(run), *signal, "--chroms", "chr2", "--out",
                     str(out)]) == 2
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
    assert {p: digest(p) for p in before} == before
    assert not (run / "metrics.bw").exists()
    again = run / "imputed" / "K4.bw"
    for _ in range(2):  # the second call replaces the first's track and record
        assert main(["impute", "--run", str(run), *signal, "--chroms", "chr2", "--out",
                     str(again)]) == 0
    assert json.loads(record_path(again).read_text())["out"] == str(again)
    shutil.rmtree(run / "imputed")


def test_a_run_of_another_system_is_refused(world, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(world["run"], run)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "system": "isegnet"}))
    b = world["b"]
    with pytest.raises(ConfigError, match=r"a run of system isegnet; imputing a track needs a "
                                          r"chromatin run"):
        impute_track(run, {"plus": b["plus"], "minus": b["minus"]}, tmp_path / "x.bw")
    assert not (tmp_path / "x.bw").exists()


def test_a_binary_run_writes_its_peak_scores(world, tmp_path):
    """A peak-task run (label: binary): the track holds the score of predictions.tsv (peak
    ⇔ score > 0); an observed track is refused."""
    a = world["a"]
    config = yaml.safe_load((world["dir"] / "run.yaml").read_text())
    config["run_dir"] = str(tmp_path / "peaks")
    config["data"].update(label="binary", peak_threshold=2.0)
    (tmp_path / "peaks.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["train", "--config", str(tmp_path / "peaks.yaml")]) == 0
    run = tmp_path / "peaks"
    res = impute_track(run, {"plus": a["plus"], "minus": a["minus"]}, tmp_path / "p.bw",
                       chroms=["chr2"], progress=False)
    assert res["values"] == "peak score (class 1 where > 0)"
    table = pd.read_csv(run / "predictions.tsv", sep="\t")
    from kerasgene.datasets.base import Dataset

    _, k = Dataset.open(run / "dataset").positions(table["example"].to_numpy())
    np.testing.assert_allclose(_values(tmp_path / "p.bw", "chr2", k), table["score"],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="predicts peaks"):
        impute_track(run, {"plus": a["plus"], "minus": a["minus"]}, tmp_path / "q.bw",
                     observed=a["mark"])


@pytest.mark.parametrize("name, record", [("k4.bigWig", "k4.json"), ("k4.bw", "k4.json"),
                                          ("K562.H3K4me3", "K562.H3K4me3.json"),
                                          ("k4.json", "k4.json.json")])
def test_the_record_is_named_after_the_whole_output_name(name, record, tmp_path):
    assert record_path(tmp_path / name) == tmp_path / record
