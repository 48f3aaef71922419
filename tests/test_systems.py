"""The system registry: every paper is one record, and a sixth system needs no other module.

The toy system below is a whole "paper" in a few lines — a builder, a dataset builder
reading a CSV, one :func:`kerasgene.systems.register` call — and goes through the
ordinary command line: prepare, train (with a baseline), evaluate, export.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from kerasgene import systems
from kerasgene.cli import main
from kerasgene.datasets import base, storage
from kerasgene.errors import ConfigError
from kerasgene.serving import read_constants


# ----------------------------------------------------------------------------- the toy paper
def toy_mlp(n_features: int = 6, units: int = 8) -> keras.Model:
    """A one-hidden-layer network from input ``x`` to output ``y``."""
    x = keras.Input((n_features,), name="x")
    h = keras.layers.Dense(units, activation="relu", name="hidden")(x)
    return keras.Model({"x": x}, {"y": keras.layers.Dense(1, name="y")(h)}, name="toy_mlp")


@base.register("toy")
class ToyDataset(base.Dataset):
    """Rows of a CSV: features ``x`` (n_features,) → target ``y``."""

    def _output_spec(self, target):
        n = self.meta["input_shapes"]["x"][0]
        return {"x": ((n,), np.dtype(np.float32)), "target": ((), np.dtype(np.float32))}

    def _gather(self, idx, target=None):
        idx = np.asarray(idx, dtype=np.int64)
        return {"x": np.asarray(self.arrays["x"][idx]), "target": np.asarray(self.arrays["y"][idx])}


def build_toy(config, out_dir, *, force=False, base_dir=None, progress=True):
    """Dataset of a CSV whose last column is the target (config key ``table``)."""
    table = base.resolve_path(config["table"], base_dir)
    params = {k: v for k, v in config.items() if k != "split"}
    writer, cached = storage.writer_or_cached(out_dir, "toy", params, {"table": table},
                                              config.get("split"), force)
    if cached is not None:
        return cached
    rows = np.loadtxt(table, delimiter=",", dtype=np.float32)
    with writer:
        writer.save("x", rows[:, :-1])
        writer.save("y", rows[:, -1])
        index, split = storage.finish_split(pd.DataFrame({"example": np.arange(len(rows))}),
                                         config.get("split"), None, {})
        return writer.commit(index, {"input_names": ["x"], "input_shapes": {"x": [rows.shape[1] - 1]},
                                     "target_name": "y", "n_examples": len(rows), **split})


TOY = systems.System(
    name="toy", title="A toy paper", dataset=build_toy,
    models={"toy_mlp": systems.ModelEntry(toy_mlp, {"optimizer": "adam", "learning_rate": 0.01,
                                                   "batch_size": 32})},
    shape_hparams=lambda model, dataset: {"n_features": dataset.input_shapes["x"][0]},
)


@pytest.fixture
def toy_system():
    systems.register(TOY)
    yield TOY
    systems.unregister("toy")


# ----------------------------------------------------------------------------- tests
def test_every_paper_is_one_record_with_its_models_and_dataset():
    assert systems.names() == ["isegnet", "deeprage", "chromatin", "histone_fcn", "deepchrome"]
    assert systems.get("histone").name == "histone_fcn"  # the alias of old configs
    assert systems.for_model("deeprage_tensor").name == "deeprage"
    assert systems.model_entry("chromatin_cnn").recipe["loss"] == "masked_mse"
    assert systems.get("deeprage").tuning.family["tensor"] == "deeprage_tensor"
    for name in systems.names():
        system = systems.get(name)
        assert callable(systems.resolve(system.dataset)), name
        for model in system.models:
            assert callable(systems.model_builder(model)), model
    with pytest.raises(ConfigError, match=r"system: unknown system 'isegnt'; did you mean 'isegnet'"):
        systems.get("isegnt")
    with pytest.raises(ConfigError, match="already registered"):
        systems.register(systems.get("isegnet"))


def test_a_sixth_system_trains_evaluates_and_exports_through_the_cli(toy_system, tmp_path,
                                                                      capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = x @ rng.normal(size=6) + 0.1 * rng.normal(size=300)
    np.savetxt(tmp_path / "rows.csv", np.column_stack([x, y]), delimiter=",")
    config = tmp_path / "toy.yaml"
    config.write_text(json.dumps({
        "system": "toy", "seed": 0, "data_dir": str(tmp_path), "run_dir": str(tmp_path / "run"),
        "data": {"table": "rows.csv",
                 "split": {"method": "random", "fractions": [0.6, 0.2, 0.2], "seed": 0}},
        "model": {"name": "toy_mlp", "hparams": {"units": 16}},
        "training": {"epochs": 60, "patience": 10, "verbose": 0},
        "baselines": ["ridge"]}))
    assert main(["train", "--config", str(config)]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "toy_mlp" and metrics["test"]["n"] == 60
    assert metrics["test"]["r2"] > 0.9 and metrics["baselines"]["ridge"]["r2"] > 0.9
    assert json.loads((run / "run.json").read_text())["system"] == "toy"
    assert main(["evaluate", "--run", str(run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test"]["r2"] == pytest.approx(metrics["test"]["r2"], abs=1e-6)
    assert main(["export", "--run", str(run), "--base-dir", str(tmp_path / "models"),
                 "--name", "toy"]) == 0
    constants = read_constants(tmp_path / "models" / "toy" / "1")
    assert constants["preprocessing"]["task"] == "toy"
    assert constants["inputs"] == {"x": {"dtype": "float32", "shape": [None, 6]}}
