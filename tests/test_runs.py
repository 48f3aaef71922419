"""A run config end to end on simulated files: prepare → train → evaluate → re-evaluate."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kerasgene.cli import main
from kerasgene.config import load_config
from kerasgene.errors import InputFileError
from kerasgene.train.runs import evaluate

CONFIGS = Path(__file__).parents[1] / "configs"


@pytest.fixture(scope="module")
def data(small_sim):
    return small_sim[0]


def _histone_overrides(data, run, hparams: str, *extra: str) -> list[str]:
    """KEY=VALUE overrides of configs/histone_fcn.yaml for a small, quiet run."""
    return [f"data_dir={data}", f"run_dir={run}", "training.verbose=0",
            f"model.hparams={hparams}", *extra]


@pytest.mark.slow  # a whole ensemble run
def test_histone_ensemble_run_writes_the_run_directory(data, tmp_path, capsys):
    run = tmp_path / "run"
    overrides = _histone_overrides(data, run, "{base_filters: 4}", "training.epochs=2",
                                   "training.steps_per_epoch=4",
                                   "training.baseline_max_examples=500")
    assert main(["train", "--config", str(CONFIGS / "histone_fcn.yaml"), *overrides]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["members"]) == 3 and "ridge" in metrics["baselines"]
    assert metrics["test"]["n"] == len((run / "predictions.tsv").read_text().splitlines()) - 1
    # fitted on 500 training examples, scored on every test example, as the model is
    ridge = metrics["baselines"]["ridge"]
    assert metrics["test"]["n"] > 500 and ridge["n"] == metrics["test"]["n"]
    assert ridge["n_train"] == 500
    for name in ("config.yaml", "model.keras", "preprocessing.json", "predicted_vs_observed.png",
                 "member_0/history.csv", "member_2/loss.png", "run.json"):
        assert (run / name).exists(), name
    assert not list(run.rglob("checkpoint.keras"))
    # what the dataset left out travels with the run (9 windows padded at chromosome ends
    # are kept; the left-out rows, if any, are the dataset's own)
    assert (run / "dropped.tsv").read_text() == (run / "dataset" / "dropped.tsv").read_text()
    again = evaluate(load_config(CONFIGS / "histone_fcn.yaml", overrides))
    assert again["test"]["r2"] == pytest.approx(metrics["test"]["r2"], abs=1e-6)
    # re-evaluation replaces the model's scores and keeps what only `train` computes
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["baselines"] == metrics["baselines"] and on_disk["members"] == metrics["members"]


@pytest.mark.slow  # a whole run
def test_a_one_member_histone_ensemble_fits_train_and_stops_on_valid(data, tmp_path):
    """``n_models: 1`` (the builder's single member): no folds to make; it was refused
    after the dataset was built (``overlapping_folds: k must be >= 2``)."""
    run = tmp_path / "one"
    overrides = _histone_overrides(data, run, "{base_filters: 4, n_models: 1}",
                                   "training.epochs=1", "training.steps_per_epoch=2",
                                   "baselines=[]")
    assert main(["train", "--config", str(CONFIGS / "histone_fcn.yaml"), *overrides]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["members"]) == 1 and (run / "member_0" / "history.csv").exists()
    history = pd.read_csv(run / "member_0" / "history.csv")
    assert "val_loss" in history.columns and len(history) == 1


def test_deepchrome_classification_run(data, tmp_path):
    run = tmp_path / "dc"
    overrides = [f"data_dir={data}", f"run_dir={run}", "training.epochs=2", "training.verbose=0",
                 "baselines=[]"]
    assert main(["train", "--config", str(CONFIGS / "deepchrome.yaml"), *overrides]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and len(metrics["test"]["confusion"]) == 2
    assert (run / "confusion.png").exists()
    # the class probabilities beside the call: AUROC / AUPRC recomputed from the table
    from sklearn.metrics import roc_auc_score

    table = pd.read_csv(run / "predictions.tsv", sep="\t")
    low, high = "p_below_median", "p_above_median"  # the dataset's class_names
    assert list(table.columns[-4:]) == ["observed", "predicted", low, high]
    np.testing.assert_allclose(table[low] + table[high], 1.0, rtol=1e-5)
    assert (table["predicted"] == (table[high] > table[low]).astype(int)).all()
    assert roc_auc_score(table["observed"], table[high]) == pytest.approx(
        metrics["test"]["auroc"], rel=1e-5)


def test_evaluate_without_a_trained_model(data, tmp_path):
    cfg = load_config(CONFIGS / "histone_fcn.yaml", [f"data_dir={data}", f"run_dir={tmp_path}"])
    with pytest.raises(InputFileError, match="no trained model"):
        evaluate(cfg)
