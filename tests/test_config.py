"""The run-config schema: every bad value is one line naming the key, the value and what
was expected, found before `prepare` or `train` writes anything; YAML errors name the line."""

from __future__ import annotations

import pytest
import yaml
from run_world import write_world

from kerasgene.cli import main
from kerasgene.config import Spec, check_section, load_config
from kerasgene.errors import ConfigError, InputFileError


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny world's files and config path (nothing prepared)."""
    d = tmp_path_factory.mktemp("config_world")
    return d, write_world(d)


def _fails(capsys, world, tmp_path, *overrides, command="train", config=None):
    """Run the command into a fresh run dir; assert exit 2, one line on stderr and that
    neither the run dir nor a dataset was created. Returns the message."""
    d, _ = world
    run = tmp_path / "run"
    status = main([command, "--config", str(config or d / "run.yaml"), f"run_dir={run}",
                   *overrides])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("kerasgene: error: "), err
    assert not run.exists() and not list(tmp_path.iterdir())
    return err.removeprefix("kerasgene: error: ").strip()


@pytest.mark.parametrize("override, message", [
    ("training.epochs=ten", "training.epochs: expected an integer >= 1, got 'ten'"),
    ("training.epochs=-1", "training.epochs: expected an integer >= 1, got -1"),
    ("training.epochs=2.5", "training.epochs: expected an integer >= 1, got 2.5"),
    ("training.batch_size=0", "training.batch_size: expected an integer >= 1 or null, got 0"),
    ("training.learning_rate=0", "training.learning_rate: expected a number > 0 or null, got 0"),
    ("training.learning_rate=1e-3", "got '1e-3'; YAML reads a number without a dot such as "
                                    "1e-3 as a string: write it with a dot"),
    ("training.patience=-2", "training.patience: expected an integer >= 0, got -2"),
    ("training.verbose=3", "training.verbose: expected one of 0, 1, 2, got 3"),
    ("training.tensorboard=yes please", "training.tensorboard: expected true or false, got "
                                        "'yes please'"),
    ("training.optimizer=adamw", "training.optimizer: expected one of adam, sgd, rmsprop or "
                                 "null, got 'adamw'"),
    ("training.strategy=tpu", "training.strategy: expected one of default, mirrored, "
                              "multi_worker, got 'tpu'"),
    ("training.controls=[shufled]", "training.controls: expected a list of shuffled, got "
                                    "['shufled']"),
    ("training.control_permutations=0", "training.control_permutations: expected an integer >= 1"),
    ("training.baseline_max_examples=0",  # null: every training example
     "training.baseline_max_examples: expected an integer >= 1 or null, got 0"),
    ("training.inputs=DNase", "training.inputs: expected a mapping or null, got 'DNase'"),
    ("training.epoch=3", "training: unknown key 'epoch'; did you mean 'epochs'?"),
    ("training.monitor=val_r3", "training.monitor: expected one of val_r2, val_loss, "
                                "val_accuracy, r2, loss, accuracy or null, got 'val_r3'"),
    ("seed=-1", "seed: expected an integer >= 0 and <= 4294967295, got -1"),
    ("system=isegnt", "system: unknown system 'isegnt'; did you mean 'isegnet'? (expected one "
                      "of isegnet, deeprage, chromatin, histone_fcn, deepchrome)"),
    ("baselines=[ridge, lasso]", "baselines: expected a list of ridge, random_forest, "
                                 "random_forest_200, svr_rbf, svr_linear, nusvr_rbf, xgboost"),
    ("model.name=isegent", "model.name: unknown model 'isegent'; did you mean 'isegnet'?"),
    ("model.hparams={l3: 1.0}", "model.hparams: unknown argument 'l3' for linear; did you "
                                "mean 'l2'?"),
    ("model.hparams={l2: high}", "model.hparams.l2: expected float like the default 0.0001, "
                                 "got 'high'"),
    ("model.hparams=[1]", "model.hparams: expected a mapping or null, got [1]"),
    ("training={factorized: true, inputs: {sequence: false}}",
     "training.inputs: not available with training.factorized"),
])
def test_bad_values_fail_before_anything_is_written(world, tmp_path, capsys, override, message):
    assert message in _fails(capsys, world, tmp_path, override)


def test_prepare_checks_the_training_section_too(world, tmp_path, capsys):
    """`prepare` validates everything, not only `data` (no dataset folder is started)."""
    ds = tmp_path / "ds"
    assert "training.batch_size: expected an integer >= 1 or null, got 0" in _fails(
        capsys, world, tmp_path, f"dataset_dir={ds}", "training.batch_size=0",
        command="prepare")


def test_train_needs_a_model_name(world, tmp_path, capsys):
    assert "model: missing 'name' (one of isegnet," in _fails(
        capsys, world, tmp_path, "model={hparams: {}}")


def test_missing_data_file_names_the_field_and_the_file(world, tmp_path, capsys):
    msg = _fails(capsys, world, tmp_path, "data.gtf=none.gtf")
    assert msg.startswith("isegnet.gtf: ") and "none.gtf: cannot read input file" in msg


def test_missing_data_dir(world, tmp_path, capsys):
    msg = _fails(capsys, world, tmp_path, f"data_dir={tmp_path / 'nowhere'}")
    assert msg == (f"data_dir: {tmp_path / 'nowhere'} is not a directory (expected the folder "
                   "holding the data files)")


def test_unknown_top_level_key(world, tmp_path, capsys):
    assert "unknown key 'trainig'; did you mean 'training'?" in _fails(
        capsys, world, tmp_path, "trainig.epochs=2")


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_a_tune_config_given_to_a_run_command_names_the_best_run_file(world, tmp_path, capsys,
                                                                    command):
    """``kerasgene train --config tuning/isegnet_grid.yaml`` said "unknown key 'tuning';
    did you mean 'training'?"; it now says to tune, then where the search writes the run
    config of its best point."""
    from pathlib import Path

    grid = Path(__file__).parents[1] / "tuning" / "isegnet_grid.yaml"
    message = _fails(capsys, world, tmp_path, command=command, config=grid)
    assert message == (
        f"{grid}: a tune configuration (it has a 'tuning' section); run the search with "
        f"`kerasgene tune --config {grid}`, then train its best point with `kerasgene train "
        f"--config {tmp_path / 'run'}/best_run.yaml` (the search writes it)")


def test_a_tune_config_without_data_says_what_the_best_run_needs(world, tmp_path, capsys):
    """A tune config naming only ``dataset_dir`` writes no best_run.yaml (a run builds its
    dataset from the files of ``data:``): the message says so instead of "the search writes
    it"."""
    d, _ = world
    grid = tmp_path.parent / f"{tmp_path.name}_grid.yaml"  # _fails wants tmp_path empty
    grid.write_text(yaml.safe_dump({"system": "isegnet", "dataset_dir": str(d / "ds"),
                                    "model": {"name": "isegnet"}, "tuning": {}}))
    message = _fails(capsys, world, tmp_path, config=grid)
    assert "give the tune configuration a data: section (it names only dataset_dir), then " \
        "the search writes" in message and "(the search writes it)" not in message


def test_yaml_syntax_error_names_line_and_column(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("system: isegnet\ntraining:\n  epochs: [1, 2\n  patience: 3\n")
    assert main(["train", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{cfg}: line 4, column 11: not valid YAML (" in err
    with pytest.raises(InputFileError, match=r"line 1, column 8: not valid YAML \(while scanning for the next token: found character .\\t."):
        bad = tmp_path / "tab.yaml"
        bad.write_text("system:\tisegnet: x\n")
        load_config(bad)


def test_bad_override_yaml_and_empty_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("system: isegnet\n")
    with pytest.raises(ConfigError, match=r"override 'training.epochs=\[1': line 1, column 3"):
        load_config(cfg, ["training.epochs=[1"])
    with pytest.raises(ConfigError, match=r"empty key in 'training.'"):
        load_config(cfg, ["training.=3"])


def test_override_into_a_section_left_empty(tmp_path):
    """``training:`` with nothing under it is YAML's null: an override fills it (was
    refused as "'training' is not a section")."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("system: isegnet\ntraining:\nmodel:\n  name: isegnet\n  hparams:\n")
    got = load_config(cfg, ["training.epochs=3", "model.hparams.l2=0.001"])
    assert got["training"]["epochs"] == 3 and got["model"]["hparams"] == {"l2": 0.001}


def test_binary_config_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"system: \xff\xfe\n")
    with pytest.raises(InputFileError, match=r"c.yaml: not a text \(UTF-8\) YAML file"):
        load_config(cfg)


def test_spec_accepts_and_describes():
    assert Spec("int", min=1).accepts(3) and not Spec("int", min=1).accepts(True)
    assert Spec("number", above=0).accepts(1) and not Spec("number", above=0).accepts(float("nan"))
    assert Spec("choice", choices=(0, 1, 2)).accepts(1)
    assert not Spec("choice", choices=(0, 1, 2)).accepts(True)
    assert Spec("int", min=1, null=True).describe() == "an integer >= 1 or null"
    with pytest.raises(ConfigError, match=r"^s.a: expected true or false, got 1$"):
        check_section({"a": 1}, {"a": Spec("bool")}, "s")


def test_valid_configs_of_the_repository_pass(tmp_path):
    """Every shipped config passes the schema (data_dir aside: it points at demo output)."""
    from pathlib import Path

    from kerasgene.train.run_config import check_config

    root = Path(__file__).parents[1]
    for path in [*root.glob("configs/*.yaml"), *root.glob("tuning/*.yaml")]:
        config = yaml.safe_load(path.read_text())
        config.pop("data_dir", None)
        check_config(config, train=path.parent.name == "configs")


def test_legacy_task_key_reads_as_system(tmp_path, caplog):
    cfg = tmp_path / "old.yaml"
    cfg.write_text("task: histone\nseed: 3\n")
    with caplog.at_level("WARNING"):
        config = load_config(cfg)
    assert config == {"system": "histone", "seed": 3}
    assert "the key 'task' is now called 'system'" in caplog.text
