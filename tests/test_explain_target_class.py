"""The class ``kerasgene explain`` explains on a classifier (``--target-class``).

A softmax classifier's IG, saliency, knockouts and TF-MoDISco attributed its first class
without a word: on DeepChrome (class 1 = above the median expression) the saliency figure
was ``−∂P(above median)/∂x``, the biology inverted. By default the last class (binary:
the positive one) is explained, ``--target-class`` picks another, and the class is named
in explain.json, the summary lines and the figures. A tiny DeepChrome run is trained from
CSV files in the paper's layout; the attributions are checked against gradients and
probabilities computed here with ``tf.GradientTape``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import cli_error, deepchrome_csv_files

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from kerasgene.cli import main  # noqa: E402
from kerasgene.errors import ConfigError  # noqa: E402
from kerasgene.explain.attribution import resolve_class  # noqa: E402
from kerasgene.explain.options import explain_options  # noqa: E402

MARKS = ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3"]


@pytest.fixture(scope="module")
def deepchrome_run(tmp_path_factory):
    """A DeepChrome run (2-class softmax) trained for one epoch: ``(run dir, config)``."""
    d = tmp_path_factory.mktemp("dc")
    files = deepchrome_csv_files(d)
    config = {"system": "deepchrome", "seed": 0, "run_dir": str(d / "run"),
              "data_dir": str(d),
              "data": {"source": "deepchrome_csv", "cells": {"E003": files}, "label": "binary"},
              "model": {"name": "deepchrome", "hparams": {"filters": 4, "units": [8, 8]}},
              "training": {"epochs": 1}, "baselines": []}
    (d / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(d / "run.yaml")]) == 0
    return d / "run", config


def _explain(run, out, *args) -> dict:
    assert main(["explain", "--run", str(run), "--out", str(out), "--analyses", "ig,saliency",
                 "--n-steps", "16", "--gene-plots", "0", *args]) == 0
    return json.loads((out / "explain.json").read_text())


def _probabilities_and_delta(run, config, gene_ids, k: int):
    """P(class k) of each gene's window and ``P(x) − P(zeros)``, computed here."""
    from kerasgene.train import runs
    from kerasgene.train.records import load_run

    model, record = load_run(run)
    ds = runs.run_dataset(run, config, record)
    rows = pd.Series(np.arange(len(ds.index)), index=ds.index["gene_id"].astype(str))
    x = np.asarray(ds.gather(rows[gene_ids].to_numpy())["histone"], np.float32)
    p = model.predict({"histone": x}, verbose=0)["class_probabilities"][:, k]
    p0 = model.predict({"histone": np.zeros_like(x)}, verbose=0)["class_probabilities"][:, k]
    return p, p - p0


NAMES = ["below median", "above median"]  # the histone dataset's class_names


@pytest.mark.parametrize("args, k", [([], 1), (["--target-class", "0"], 0),
                                     (["--target-class", "below median"], 0)])
def test_ig_explains_the_chosen_class(deepchrome_run, tmp_path, capsys, args, k):
    """IG's F(x) and F(x) − F(baseline) are P(class k): the last class by default, or
    the one given by id or by the dataset's name of it."""
    run, config = deepchrome_run
    got = _explain(run, tmp_path / "out", *args)
    table = pd.read_csv(tmp_path / "out" / "ig_summary.tsv", sep="\t", dtype={"gene_id": str})
    p, delta = _probabilities_and_delta(run, config, table["gene_id"].tolist(), k)
    np.testing.assert_allclose(table["prediction"], p, atol=1e-5)
    np.testing.assert_allclose(table["delta"], delta, atol=1e-5)
    assert got["target_class"] == {"id": k, "name": NAMES[k], "n_classes": 2}
    assert got["ig"]["target_class"] == got["saliency"]["target_class"] == got["target_class"]
    assert got["settings"]["target_class"] == (({"0": 0}.get(args[1], args[1])) if args else None)
    out = capsys.readouterr().out
    assert f"explained: the probability of class {k} ({NAMES[k]}) of 2 classes" in out


def test_saliency_is_the_gradient_of_the_explained_class(deepchrome_run):
    """The gradients behind ``saliency_*_marks.png`` are ∂P(class 1)/∂x by default and
    ∂P(class 0)/∂x with ``target_class: 0``."""
    from kerasgene.explain.analyses import explained_class, model_inputs
    from kerasgene.explain.saliency import saliency
    from kerasgene.train import runs
    from kerasgene.train.records import load_run

    run, config = deepchrome_run
    model, record = load_run(run)
    ds = runs.run_dataset(run, config, record)
    inputs = model_inputs(model, ds.gather(ds.split_indices("test")))
    x = tf.constant(np.asarray(inputs["histone"], np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        probs = model({"histone": x}, training=False)["class_probabilities"]
        p0, p1 = probs[:, 0], probs[:, 1]
    want = {None: tape.gradient(p1, x).numpy(), 0: tape.gradient(p0, x).numpy()}
    for value, grad in want.items():
        cls = explained_class(model, ds, explain_options({"target_class": value}))
        got = saliency(model, inputs, target=cls.id, progress=False)[0]
        np.testing.assert_allclose(got, grad, atol=1e-6)
    assert np.abs(want[None] + want[0]).max() < 1e-5  # two classes: opposite gradients


def test_the_run_records_its_class_names(deepchrome_run):
    """preprocessing.json (an export's ``assets/kerasgene.json``) says what each class
    unit is: a client of the served model could not tell which column was above median."""
    run, _ = deepchrome_run
    pre = json.loads((run / "preprocessing.json").read_text())
    assert pre["class_names"] == NAMES and pre["target_name"] == "class"


def test_the_python_functions_explain_the_last_class_by_default(deepchrome_run):
    """``saliency``, ``integrated_gradients`` and ``knockout_effects`` without a target
    explain what ``kerasgene explain`` does by default, P(class 1: above median) — they
    explained P(class 0) before, the biology inverted without a word."""
    from kerasgene.explain.analyses import model_inputs
    from kerasgene.explain.ig import integrated_gradients
    from kerasgene.explain.knockout import knockout_effects
    from kerasgene.explain.saliency import saliency
    from kerasgene.train import runs
    from kerasgene.train.records import load_run

    run, config = deepchrome_run
    model, record = load_run(run)
    ds = runs.run_dataset(run, config, record)
    inputs = model_inputs(model, ds.gather(ds.split_indices("test")))
    for target in (None, 1):
        np.testing.assert_allclose(saliency(model, inputs, target=target, progress=False)[0],
                                   saliency(model, inputs, target=1, progress=False)[0])
    ig = {t: integrated_gradients(model, inputs, n_steps=8, target=t, progress=False)
          for t in (None, 0, 1)}
    np.testing.assert_allclose(ig[None].attributions[0], ig[1].attributions[0])
    assert np.abs(ig[None].attributions[0] - ig[0].attributions[0]).max() > 1e-4
    half = {"histone": np.asarray(inputs["histone"]) * 0.5}
    p = model.predict(inputs, verbose=0)["class_probabilities"]
    p_half = model.predict(half, verbose=0)["class_probabilities"]
    got = knockout_effects(model, inputs, knockout_inputs=half)
    np.testing.assert_allclose(got["delta"], p_half[:, 1] - p[:, 1], atol=1e-6)
    got = knockout_effects(model, inputs, knockout_inputs=half, unit=0)
    np.testing.assert_allclose(got["delta"], p_half[:, 0] - p[:, 0], atol=1e-6)


def test_ig_figures_name_the_histone_channels_and_the_class(deepchrome_run, tmp_path,
                                                            monkeypatch):
    """IG on a histone run names its tracks by the dataset's marks (they were
    ``histone[0]`` …) and its figures the explained probability (they said Δ log₂ TPM);
    its positions are the 100 bp bins of TSS ± 5 kb (they were bp from a "start": bin 49
    read as "start +49 bp"), each example's cell type is in ``ig_summary.tsv``'s sample
    column (it was empty), and no FASTA of sites is written for a model without DNA
    (its records were empty)."""
    from kerasgene.explain import plots as P

    titles, labels, xlabels = [], [], []
    save = P._save

    def keep_text(fig, path):
        titles.append(fig._suptitle.get_text())
        labels.extend(ax.get_ylabel() for ax in fig.axes)
        xlabels.extend(ax.get_xlabel() for ax in fig.axes)
        labels.append(fig._supylabel.get_text() if fig._supylabel else "")
        return save(fig, path)

    run, _ = deepchrome_run
    monkeypatch.setattr(P, "_save", keep_text)
    got = _explain(run, tmp_path / "out", "--analyses", "ig", "--gene-plots", "1")
    assert got["ig"]["tracks"] == MARKS
    profiles = pd.read_csv(tmp_path / "out" / "ig_profiles.tsv", sep="\t")
    assert [c for c in profiles.columns if c.endswith("_mean")] == [f"{m}_mean" for m in MARKS]
    text = " ".join(titles + labels)
    assert "Δ P(class 1: above median)" in text and "TPM" not in text, text
    assert any(t.endswith("blue lowers P(class 1: above median); units Δ P(class 1: above "
                          "median))") for t in titles), titles
    assert "H3K4me3\nsignal\n(as input)" in labels, labels
    assert set(profiles.anchor) == {"TSS"}
    assert profiles.offset_bp.tolist() == list(range(-5000, 5000, 100))
    assert ("Position relative to the anchor (bp): TSS[-5000, +5000) bp in 100 bp bins"
            in xlabels), xlabels
    summary = pd.read_csv(tmp_path / "out" / "ig_summary.tsv", sep="\t")
    assert set(summary["sample"]) == {"E003"}
    assert not list((tmp_path / "out").glob("top_sites_*.fa"))


def test_a_second_explain_lists_the_first_ones_files_it_keeps(deepchrome_run, tmp_path):
    """``explain --analyses saliency`` then ``--analyses ig`` into one folder: the saliency
    figures stay (same model) and the second explain.json lists them with their analysis
    (they were there unlisted, H3); a third call rewriting saliency keeps the IG files."""
    run, _ = deepchrome_run
    out = tmp_path / "out"

    def saliency_only() -> dict:
        assert main(["explain", "--run", str(run), "--out", str(out),
                     "--analyses", "saliency"]) == 0
        return json.loads((out / "explain.json").read_text())

    first = saliency_only()
    saliency = [f for f in first["files"] if f != "explain.json"]
    assert saliency and "kept_files" not in first
    second = _explain(run, out, "--analyses", "ig")
    assert second["kept_files"] == sorted(saliency) and second["kept_analyses"] == ["saliency"]
    assert all((out / f).exists() for f in second["kept_files"] + second["files"])
    third = saliency_only()
    ig = [f for f in second["files"] if f != "explain.json"]
    assert third["kept_files"] == sorted(ig) and third["kept_analyses"] == ["ig"]


def test_regression_figures_name_the_label_units():
    """A regression's attributions are in its label's units where the dataset states
    them (iSEGnet: ``log2(TPM + 1)``, or another base), else plain ``prediction``."""
    from kerasgene.explain.analyses import prediction_label

    assert prediction_label(None, {"label": "log10(TPM + 0.1)"}) == "predicted log10(TPM + 0.1)"
    assert prediction_label(None, {"target_name": "expression"}) == "prediction"
    assert prediction_label(None, None) == "prediction"


@pytest.mark.parametrize("value, message", [
    ("2", "--target-class: class 2 out of range (classes 0 'below median', 1 'above "
          "median'); expected a class id or name"),
    ("up", "--target-class: 'up' is not a class of the model (classes 0 'below median', 1 "
           "'above median'); expected a class id or name"),
])
def test_a_class_the_model_has_not_is_one_line(deepchrome_run, tmp_path, capsys, value,
                                               message):
    run, _ = deepchrome_run
    assert cli_error(capsys, "explain", "--run", str(run), "--out", str(tmp_path / "out"),
                  "--analyses", "saliency", "--target-class", value) == message
    assert not (tmp_path / "out").exists()


def test_target_class_in_the_config_section_and_unread(tmp_path, capsys):
    """``explain.target_class`` is checked like the flag; a flag no analysis reads is an
    error before the run is read."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deepchrome", "run_dir": str(tmp_path / "run"),
                                   "data": {"source": "deepchrome_csv"},
                                   "explain": {"target_class": True}}))
    assert cli_error(capsys, "explain", "--config", str(cfg)) == (
        "explain.target_class: expected a class id (an integer >= 0) or a class name, got True")
    assert cli_error(capsys, "explain", "--config", str(cfg), "explain.target_class=1",
                  "--analyses", "motifs", "--target-class", "1").startswith(
        "--target-class: not read by the analyses to run (motifs)")
    assert explain_options({"target_class": " peak "}).target_class == "peak"
    assert explain_options(None, {"target_class": "1"}).target_class == 1


def _head(units: int, activation: str | None):
    inp = keras.Input((6, 2), name="signal")
    y = keras.layers.Dense(units, activation=activation, name="out")(
        keras.layers.Flatten()(inp))
    return keras.Model(inp, {"out": y}, name="tiny")


def test_class_names_and_outputs_that_are_not_class_probabilities():
    """A name of the dataset's ``class_names`` picks its class; a regression or a score
    (one unit, its value explained) has no class to pick."""
    names = ["no peak", "peak"]
    softmax = _head(2, "softmax")
    assert resolve_class(softmax, None, names).as_dict() == {"id": 1, "name": "peak",
                                                             "n_classes": 2}
    assert resolve_class(softmax, "no peak", names).label == "class 0: no peak"
    with pytest.raises(ConfigError, match=r"^--target-class: 'Peak' is not a class of the "
                       r"model \(classes 0 'no peak', 1 'peak'\); expected a class id or name$"):
        resolve_class(softmax, "Peak", names)
    for units, activation in ((1, None), (1, "sigmoid"), (3, None)):
        model = _head(units, activation)
        assert resolve_class(model, None, names) is None
        with pytest.raises(ConfigError, match=r"^--target-class: output 'out' of model 'tiny' "
                           r"is .*, not class probabilities; its value is explained"):
            resolve_class(model, 1, names)
