"""The shuffled-label control (issue 17): permuted labels within each split, and a control
trained and early-stopped like the real model, reported as mean ± sd over permutations."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kerasgene.cli import main
from kerasgene.config import load_config
from kerasgene.errors import ConfigError
from kerasgene.train.run_config import check_config
from kerasgene.train.runs import prepare

CONFIGS = Path(__file__).parents[1] / "configs"


@pytest.fixture(scope="module")
def histone(small_sim, tmp_path_factory):
    run = tmp_path_factory.mktemp("controls") / "run"
    overrides = [f"data_dir={small_sim[0]}", f"run_dir={run}", "model.name=histone_fcn",
                 "model.hparams={base_filters: 4}", "training.verbose=0", "baselines=[]"]
    return overrides, prepare(load_config(CONFIGS / "histone_fcn.yaml", overrides))


def test_permuted_labels_move_within_their_split_and_inputs_stay(histone):
    dataset = histone[1]
    view = dataset.with_permuted_labels(("train", "valid"), seed=[0, 1])
    for split in ("train", "valid"):
        real, moved = dataset.labels(split), view.labels(split)
        assert not np.array_equal(real, moved) and np.array_equal(np.sort(real), np.sort(moved))
        idx = dataset.split_indices(split)[:50]
        got = view.gather(idx)
        assert np.array_equal(got["target"], moved[:50])
        assert np.array_equal(got["histone"], dataset.gather(idx)["histone"])
    assert np.array_equal(view.labels("test"), dataset.labels("test"))
    again = dataset.with_permuted_labels(("train", "valid"), seed=[0, 1])
    assert np.array_equal(again.labels("train"), view.labels("train"))
    other = dataset.with_permuted_labels(("train", "valid"), seed=[0, 2])
    assert not np.array_equal(other.labels("train"), view.labels("train"))


@pytest.mark.slow  # three trainings
def test_control_trains_like_the_model_and_reports_mean_and_sd(histone):
    overrides = [*histone[0], "training.epochs=2", "training.steps_per_epoch=4",
                 "training.controls=[shuffled]", "training.control_permutations=2"]
    config = load_config(CONFIGS / "histone_fcn.yaml", overrides)
    assert main(["train", "--config", str(CONFIGS / "histone_fcn.yaml"), *overrides]) == 0
    run = Path(config["run_dir"])
    controls = json.loads((run / "metrics.json").read_text())["controls"]
    r2 = [r["r2"] for r in controls["shuffled_runs"]]
    assert len(r2) == 2 and r2[0] != r2[1]
    assert controls["shuffled"]["r2"] == pytest.approx(np.mean(r2))
    assert controls["shuffled_sd"]["r2"] == pytest.approx(np.std(r2, ddof=1))
    real = pd.read_csv(run / "history.csv")
    for k in range(2):  # same schedule, callbacks and logged metrics as the real model
        hist = pd.read_csv(run / "control_shuffled" / f"permutation_{k}" / "history.csv")
        assert list(hist.columns) == list(real.columns) and len(hist) == len(real)


def test_control_is_refused_with_factorized_training(small_sim):
    cfg = load_config(CONFIGS / "deeprage.yaml", [f"data_dir={small_sim[0]}",
                                                  "training.controls=[shuffled]"])
    with pytest.raises(ConfigError, match=r"training\.controls: not available"):
        check_config(cfg)


@pytest.mark.parametrize("monitor, start, scores, restored", [
    ("val_r2", 0.01, [-0.05, -0.02], True), ("val_r2", 0.01, [-0.05, 0.3], False),
    ("val_loss", 1.0, [1.2, 1.1], True), ("val_loss", 1.0, [1.2, 0.9], False),
    ("val_r2", 0.3, [0.3], False)])
def test_early_stopping_keeps_the_starting_weights_when_no_epoch_beats_them(
        monitor, start, scores, restored, tmp_path):
    import keras

    from kerasgene.train.recipes import keep_start_if_better

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    initial = [w.copy() for w in model.get_weights()]
    model.set_weights([w + 1.0 for w in initial])
    keep_start_if_better(model, (start, initial), scores, monitor, tmp_path)
    now = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(now, initial, strict=True)) == restored


@pytest.mark.parametrize("start_score, epochs_run", [(None, 4), (-1e9, 4), (1.0, 3)])
def test_early_stopping_patience_runs_from_the_starting_score(start_score, epochs_run, rng):
    """A model that cannot improve (learning rate ~0) on a val_r2 it cannot beat (1.0)
    stops after ``patience`` epochs when the start is the baseline, ``patience + 1``
    without one; a start that every epoch beats (-1e9) changes nothing."""
    import keras
    import tensorflow as tf

    from kerasgene.train import recipes

    x = rng.normal(size=(64, 3)).astype("float32")
    y = rng.normal(size=64).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(1)(inp))
    cfg = recipes.resolve_training({"epochs": 10, "patience": 3, "verbose": 0,
                                    "learning_rate": 1e-12}, "linear", False)
    recipes.compile_model(model, cfg)
    history = recipes.fit(model, ds, ds, cfg, start_score=start_score)
    assert cfg["monitor"] == "val_r2"
    assert len(history.history["val_r2"]) == epochs_run
