"""The chromatin-imputation report's binary task (peak / no peak per 50 bp bin): hinge
loss on a one-unit score, AUPRC / AUROC of scores, the XGBoost ``binary:hinge`` baseline
scored by its margin, and one small run through the command line. The labels
themselves are tested with the other chromatin datasets (tests/test_datasets.py)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score, f1_score, precision_score, roc_auc_score

from kerasgene import models
from kerasgene.cli import main
from kerasgene.errors import ConfigError
from kerasgene.io.tracks import write_bigwig
from kerasgene.metrics import classification_metrics, predicted_classes
from kerasgene.train import recipes
from kerasgene.train.baselines import make_baseline, predict


def test_metrics_of_a_binary_score_are_those_of_its_probability():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    score = rng.normal(size=300) + 2.5 * y - 1.5  # a logit or a margin: class 1 ⇔ > 0
    m = classification_metrics(y, score)
    pred = (score > 0).astype(int)
    np.testing.assert_array_equal(predicted_classes(score), pred)
    assert m["accuracy"] == pytest.approx(np.mean(pred == y))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(np.sum(pred & y) / y.sum())
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["auprc"] == pytest.approx(average_precision_score(y, score))
    assert m["auroc"] == pytest.approx(roc_auc_score(y, score))
    assert m["positive_fraction"] == pytest.approx(y.mean())
    # rank statistics: the probability, the (N, 1) column and [−s, s] give the same scores
    for same in (1 / (1 + np.exp(-score)) - 0.5, score[:, None], np.stack([-score, score], 1)):
        got = classification_metrics(y, same)
        assert got.pop("confusion") == m["confusion"]
        assert got == pytest.approx({k: v for k, v in m.items() if k != "confusion"})
    none = classification_metrics(y, -np.abs(score) - 1)  # nothing predicted: 0, not NaN
    assert (none["precision"], none["recall"], none["f1"]) == (0.0, 0.0, 0.0)
    # one class: AUROC / AUPRC left out, and metrics.json says why (it said nothing)
    alone = classification_metrics(np.zeros(300, int), score)
    assert "auprc" not in alone and "auroc" not in alone
    assert alone["undefined"] == ("auroc, auprc: the labels hold class 0 only, of 2; a "
                                  "ranking needs every class")


def _score_model() -> keras.Model:
    return models.build("chromatin_dnn", window=6, units=(4,), task="classification")


def test_hinge_reads_labels_zero_one_as_minus_one_plus_one():
    """The report's loss on {0, 1} labels: mean(max(0, 1 − t · s)) with t = 2y − 1, for
    batches of both classes and of one class only; cross-entropy takes the score as a
    logit."""
    model = _score_model()
    x = {"signal": np.random.default_rng(1).random((6, 6, 1), dtype=np.float32)}
    s = keras.ops.convert_to_numpy(model(x)["class_score"])[:, 0].astype(np.float64)
    for y in (np.array([0, 1, 0, 1, 1, 0]), np.zeros(6, int), np.ones(6, int)):
        t = 2 * y - 1
        cfg = recipes.resolve_training({"verbose": 0}, "chromatin_dnn", classification=True)
        assert (cfg["loss"], cfg["monitor"]) == ("hinge", "val_loss")
        recipes.compile_model(model, cfg)
        got = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
        assert got == pytest.approx(np.mean(np.maximum(0, 1 - t * s)), rel=1e-5)
        recipes.compile_model(model, {**cfg, "loss": "crossentropy"})
        got = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
        assert got == pytest.approx(np.mean(np.logaddexp(0, -t * s)), rel=1e-4)


def test_recipes_match_the_loss_to_the_head():
    cfg = recipes.resolve_training(None, "chromatin_cnn", classification=True)
    assert (cfg["loss"], cfg["optimizer"], cfg["batch_size"]) == ("hinge", "adam", 128)
    assert cfg["class_weight"] == "balanced"
    regression = recipes.resolve_training(None, "chromatin_cnn", False)
    assert (regression["loss"], regression["class_weight"]) == ("masked_mse", None)
    with pytest.raises(ConfigError, match="class_weight: 'balanced' weights classes; this "
                                          "is a regression model"):
        recipes.resolve_training({"class_weight": "balanced"}, "chromatin_cnn", False)
    assert recipes.resolve_training(None, "deepchrome", True)["loss"] == "crossentropy"
    with pytest.raises(ConfigError, match="'mse' does not train a classification model; "
                                          "expected one of crossentropy, hinge"):
        recipes.resolve_training({"loss": "mse"}, "chromatin_cnn", True)
    with pytest.raises(ConfigError, match="'hinge' does not train a regression model"):
        recipes.resolve_training({"loss": "hinge"}, "chromatin_cnn", False)
    with pytest.raises(ConfigError, match="'hinge' needs a binary score output"):
        recipes.model_loss(models.build("deepchrome"), "hinge")
    assert recipes.is_score_classifier(_score_model())
    assert recipes.is_classifier(_score_model())


def test_balanced_class_weights():
    y = np.array([0] * 90 + [1] * 10)
    w = recipes.class_weights(y, {"class_weight": "balanced"})
    np.testing.assert_allclose(w, [100 / (2 * 90), 100 / (2 * 10)])
    assert np.sum(w[y]) == pytest.approx(len(y)) and w[0] * 90 == pytest.approx(w[1] * 10)
    assert recipes.class_weights(y, {"class_weight": "none"}) is None
    with pytest.raises(ConfigError, match=r"every class.*counts are \[5, 0\]"):
        recipes.class_weights(np.zeros(5, int), {"class_weight": "balanced"})
    # the task's last class absent from the training labels (DeepRAGE's "up" on an
    # unseen-condition split): one line, not TensorFlow's index error during fit
    with pytest.raises(ConfigError, match=r"every class.*counts are \[3, 2, 0\]"):
        recipes.class_weights(np.array([0, 0, 0, 1, 1]), {"class_weight": "balanced"}, 3)


def test_xgboost_hinge_baseline_is_ranked_by_its_margin():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + 0.8 * rng.normal(size=400) > 1.2).astype(int)
    est = make_baseline("xgboost", classification=True).fit(X[:300], y[:300])
    scores = predict(est, X[300:], classification=True)
    margin = est.predict(X[300:], output_margin=True)
    np.testing.assert_allclose(scores, np.stack([-margin, margin], 1), rtol=1e-6)
    np.testing.assert_array_equal(scores.argmax(1), est.predict(X[300:]))
    m = classification_metrics(y[300:], scores)
    assert m["auprc"] == pytest.approx(average_precision_score(y[300:], margin))
    assert m["auprc"] > 2 * y[300:].mean()  # far above chance


@pytest.fixture(scope="module")
def peak_world(tmp_path_factory):
    """Two chromosomes of GRO-seq-like bursts; the mark follows them (a peak where the
    smoothed mark is ≥ 1); a run config of the binary task with a small dense network."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("peaks")
    sizes = {"chr1": 40_000, "chr2": 20_000}
    plus, mark = {}, {}
    for c, n in sizes.items():
        burst = (rng.random(n // 50) < 0.04) * rng.gamma(3.0, 3.0, n // 50)
        plus[c] = np.repeat(burst, 50)
        mark[c] = np.repeat(gaussian_filter1d(burst, 3) * 2, 50) + 0.05
    write_bigwig(d / "plus.bw", sizes, plus)
    write_bigwig(d / "mark.bw", sizes, mark)
    config = {
        "system": "chromatin", "seed": 0, "data_dir": str(d), "run_dir": str(d / "run"),
        "data": {"signal": {"plus": "plus.bw"}, "targets": {"K4": "mark.bw"},
                 "label": "binary", "peak_threshold": 1.0, "window": 21, "sigma": 2,
                 "split": {"method": "chromosome", "train": ["chr1:0-0.8"],
                           "valid": ["chr1:0.8-1"], "test": ["chr2"]}},
        "model": {"name": "chromatin_dnn", "hparams": {"units": [16, 8]}},
        "training": {"epochs": 3, "verbose": 0, "patience": 3, "learning_rate": 0.01},
        "baselines": ["xgboost"],
    }
    (d / "binary.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return d


def test_labels_and_class_weighted_stream(peak_world):
    from kerasgene import datasets

    cfg = yaml.safe_load((peak_world / "binary.yaml").read_text())
    ds = datasets.build("chromatin", cfg["data"], peak_world / "labels_ds", progress=False,
                        base_dir=peak_world)
    y = ds.labels("train")
    np.testing.assert_array_equal(y, ds.arrays_for("train")[1])
    np.testing.assert_allclose(ds.labels("test", target="K4"), ds.arrays_for("test", "K4")[1])
    w = recipes.class_weights(y, {"class_weight": "balanced"})
    streamed = [(b[1].numpy(), b[2].numpy())
                for b in ds.to_tf_dataset("train", 256, class_weight=w)]
    classes, weights = (np.concatenate(p) for p in zip(*streamed))
    np.testing.assert_array_equal(classes, y)
    np.testing.assert_allclose(weights, w[y])


def test_binary_run_through_the_command_line(peak_world, capsys):
    d = peak_world
    assert main(["train", "--config", str(d / "binary.yaml")]) == 0
    run = d / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    test = metrics["test"]
    assert {"accuracy", "auroc", "auprc", "precision", "recall", "f1"} <= set(test)
    assert test["auprc"] > 2 * test["positive_fraction"], test  # far above chance
    assert metrics["baselines"]["xgboost"]["auprc"] > 2 * test["positive_fraction"]
    table = pd.read_csv(run / "predictions.tsv", sep="\t")
    assert list(table.columns) == ["example", "chrom", "start", "end", "observed",
                                   "predicted", "score"]
    from kerasgene.datasets.base import Dataset

    ds = Dataset.open(run / "dataset")
    chrom, k = ds.positions(table["example"].to_numpy())
    assert (table["chrom"] == np.asarray(ds.meta["chroms"])[chrom]).all()
    assert (table["start"] == k * 50).all() and (table["end"] - table["start"] == 50).all()
    np.testing.assert_array_equal(table["predicted"], (table["score"] > 0).astype(int))
    assert set(table["observed"]) == {0, 1}
    model = keras.models.load_model(run / "model.keras")
    assert model.output_names == ["class_score"]
    history = pd.read_csv(run / "history.csv")
    assert {"auprc", "val_auprc", "val_loss"} <= set(history.columns)
    assert json.loads((run / "preprocessing.json").read_text())["target_name"] == "class"
    capsys.readouterr()
    assert main(["evaluate", "--config", str(d / "binary.yaml")]) == 0
    said = capsys.readouterr().out.strip()  # the score line, not metrics.json's 100 lines
    assert said.startswith(f"evaluated: {run / 'model.keras'}; test accuracy ") and \
        said.endswith(f"metrics in {run / 'metrics.json'} (baselines and controls: train's)")
    assert "baselines' AUPRC" in said and len(said.splitlines()) == 1
    again = json.loads((run / "metrics.json").read_text())
    assert again["test"]["auprc"] == pytest.approx(test["auprc"], rel=1e-5)
    assert again["baselines"] == metrics["baselines"]


# ----------------------------------------------------------- builder: names, sizes, overlap
def _bins_world(d, sizes=None, name="sig.bw"):
    """A constant bigWig of ``sizes`` and a config using it as signal and target."""
    sizes = sizes or {"chr1": 5_000, "chr2": 2_000}
    write_bigwig(d / name, sizes, {c: np.full(n, 1.0) for c, n in sizes.items()})
    return {"signal": {"plus": str(d / name)}, "targets": {"K4": str(d / name)}, "window": 5,
            "sigma": 1, "split": {"method": "chromosome", "train": ["chr1:0-0.8"],
                                  "valid": ["chr1:0.8-1"], "test": ["chr2"]}}


@pytest.mark.parametrize("bin_size,overlap", [(50, 0.14), (50, 0.28), (50, 0.56),
                                              (100, 0.07), (100, 0.55)])
def test_peak_overlap_is_exact_for_fractions_not_exact_in_binary(tmp_path, bin_size, overlap):
    """0.56 × 50 is 28.000000000000004 in floating point: 28 covered bases are a peak."""
    from kerasgene.datasets.genome_bins import build_genome_bins

    cfg = _bins_world(tmp_path)
    need = round(overlap * bin_size)
    peaks = tmp_path / "p.bed"
    peaks.write_text(f"chr1\t{10 * bin_size}\t{10 * bin_size + need}\n"
                     f"chr1\t{40 * bin_size}\t{40 * bin_size + need - 1}\nchr2\t0\t{bin_size}\n")
    ds = build_genome_bins({**cfg, "bin_size": bin_size, "label": "binary", "peaks": str(peaks),
                            "peak_overlap": overlap}, tmp_path / "ds", progress=False)
    n1 = ds.meta["chrom_bins"][0]
    assert np.flatnonzero(np.asarray(ds.arrays["classes"])[:n1]).tolist() == [10]


def test_peak_file_naming_a_chromosome_two_ways_keeps_both(tmp_path, caplog):
    from kerasgene.datasets.genome_bins import build_genome_bins

    cfg = _bins_world(tmp_path)
    peaks = tmp_path / "p.bed"
    peaks.write_text("chr1\t100\t150\nchr2\t0\t50\n1\t1000\t1050\n")
    with caplog.at_level("WARNING"):
        ds = build_genome_bins({**cfg, "label": "binary", "peaks": str(peaks)}, tmp_path / "ds",
                               progress=False)
    assert np.flatnonzero(np.asarray(ds.arrays["classes"])[:100]).tolist() == [2, 20]
    assert "chromosome chr1 is named 2 ways (chr1, 1)" in caplog.text


def test_split_names_go_through_the_chromosome_aliases(tmp_path):
    """Ensembl-named files: a UCSC-named split without train (the default train list
    leaves out chr2 / chr3), and chrM for MT, as in ``chroms``."""
    from kerasgene.datasets.genome_bins import build_genome_bins

    cfg = _bins_world(tmp_path, {"1": 4_000, "2": 2_000, "3": 2_000, "MT": 1_000})
    ds = build_genome_bins({**cfg, "split": {"method": "chromosome", "valid": ["chr3"],
                                             "test": ["chr2", "chrM"]}},
                           tmp_path / "ds", progress=False)
    assert ds.split_counts == {"train": 80, "valid": 40, "test": 60, "none": 0}
    mito = build_genome_bins({**cfg, "chroms": ["chr1", "chrM"], "split": {
        "method": "chromosome", "train": ["chr1:0-0.8"], "valid": ["chr1:0.8-1"],
        "test": ["chrM"]}}, tmp_path / "mt",
        progress=False)
    assert mito.meta["chroms"] == ["1", "MT"] and mito.split_counts["test"] == 20
    with pytest.raises(ConfigError, match=r"split.test: chromosome 'chr9' is not in the dataset"):
        ds.with_split({"method": "chromosome", "valid": ["chr3"], "test": ["chr9"]})
    again = ds.with_split({"method": "chromosome", "train": ["chr1"], "valid": ["chr3"],
                           "test": ["MT"]})
    assert again.split_counts == {"train": 80, "valid": 40, "test": 20, "none": 0}


def test_chroms_listing_one_chromosome_twice_is_an_error(tmp_path):
    from kerasgene.datasets.genome_bins import build_genome_bins

    cfg = _bins_world(tmp_path)
    with pytest.raises(ConfigError, match=r"chromatin.chroms: 'chr1' and '1' are one chromosome"):
        build_genome_bins({**cfg, "chroms": ["chr1", "1", "chr2"]}, tmp_path / "ds",
                          progress=False)


def test_bedgraph_track_takes_the_bigwig_chromosome_sizes(tmp_path, caplog):
    from kerasgene.datasets.genome_bins import build_genome_bins

    cfg = _bins_world(tmp_path, {"chr1": 10_000, "chr2": 5_000})
    bg = tmp_path / "plus.bedGraph"
    bg.write_text("chr1\t100\t200\t3\nchr1\t5000\t5100\t2\nchr2\t50\t150\t1\n")
    ds = build_genome_bins({**cfg, "signal": {"plus": str(bg)}}, tmp_path / "ds",
                           progress=False)
    assert ds.meta["chrom_bins"] == [200, 100]
    sig = np.asarray(ds.arrays["signal"])[2 : 2 + 200, 0]  # window 5: 2 padding bins
    expected = np.zeros(200, np.float32)
    expected[[2, 3]], expected[[100, 101]] = 3, 2
    np.testing.assert_array_equal(sig, expected)
    with caplog.at_level("WARNING"):
        only = build_genome_bins({**cfg, "signal": {"plus": str(bg)}, "targets": {"K4": str(bg)}},
                                 tmp_path / "only", progress=False)
    assert only.meta["chrom_lengths"] == [5100, 150]
    assert "lengths of 2 chromosomes (chr1, chr2) are the ends of their last intervals" \
        in caplog.text
