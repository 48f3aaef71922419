"""Bad input met while training a run: a one-line error (exit 2) and no run record,
instead of a traceback or a model that looks trained (docs/bad_input.md)."""

from pathlib import Path

import pytest
import yaml

from kerasgene import cli
from kerasgene.config import load_config
from kerasgene.errors import ConfigError

CONFIGS = Path(__file__).parents[1] / "configs"
SMALL_DEEPRAGE = "model.hparams={filters: 4, units: 8, regulator_units: 8}"


def train_fails(capsys, config: Path, run: Path, *overrides: str) -> str:
    """``kerasgene train`` (in-process, one epoch) of ``config`` into ``run``, which must
    fail with exit 2 and leave no run record; returns the error line."""
    status = cli.main(["train", "--config", str(config), f"run_dir={run}", "baselines=[]",
                       "training.verbose=0", "training.epochs=1", *overrides])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2, err
    assert err[-1].startswith("kerasgene: error: "), err
    assert not (run / "run.json").exists() and not (run / "model.keras").exists()
    return err[-1]


@pytest.mark.parametrize("config, overrides", [
    ("deepchrome", ["training.steps_per_epoch=3"]),  # classification: a NaN model
    ("histone_fcn", ["model.name=histone_fcn", "model.hparams={base_filters: 4}",
                     "training.steps_per_epoch=3"]),  # regression: the start kept
    ("deeprage", [SMALL_DEEPRAGE]),  # the factorised trainer: the start kept
])
def test_diverging_training_is_an_error(small_sim, tmp_path, capsys, config, overrides):
    line = train_fails(capsys, CONFIGS / f"{config}.yaml", tmp_path / "run",
                       f"data_dir={small_sim[0]}", "training.learning_rate=1.0e+12", *overrides)
    assert "training.learning_rate: training diverged: the training loss is nan in epoch 1 " \
           "(learning rate 1e+12)" in line


def test_validation_set_of_one_example_is_refused_under_val_r2(small_sim, tmp_path, capsys):
    sim = small_sim[0]
    config = {"system": "isegnet", "seed": 0, "data_dir": str(sim),
              "data": {"gtf": "genes.gtf", "fasta": "genome.fa",
                       "samples": [{"name": "simA_rep1",
                                    "expression": "isegnet/expression_tpm.tsv",
                                    "expression_column": "simA_rep1",
                                    "tracks": {"DNase": "isegnet/simA_rep1/DNase.bigWig"}}],
                       "tss_flank": [100, 50], "tts_flank": [50, 50],
                       # 924 genes: one in the validation set
                       "split": {"method": "random", "fractions": [0.7989, 0.0011, 0.2]}},
              "model": {"name": "isegnet", "hparams": {"k1": 4, "kernel_length": 8}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    line = train_fails(capsys, tmp_path / "run.yaml", tmp_path / "run")
    assert "training.monitor: val_r2 is undefined on a validation set of 1 example(s)" in line
    assert line.endswith("or training.monitor: val_loss")


@pytest.mark.parametrize("override", [
    "training.steps_per_epoch=5", "training.batch_size=64", "training.loss=rmse",
    "training.monitor=val_loss", "training.tensorboard=true"])
def test_factorized_training_refuses_settings_it_does_not_read(small_sim, tmp_path, capsys,
                                                               override):
    run = tmp_path / "run"
    line = train_fails(capsys, CONFIGS / "deeprage.yaml", run, f"data_dir={small_sim[0]}",
                       SMALL_DEEPRAGE, override)
    key = override.removeprefix("training.").split("=")[0]
    assert line.startswith(f"kerasgene: error: training.{key}: ") and \
        "is not read by training.factorized" in line
    assert not run.exists()  # found before the dataset is built


def test_factorized_training_of_a_class_target_is_refused(small_sim, tmp_path, capsys):
    line = train_fails(capsys, CONFIGS / "deeprage.yaml", tmp_path / "run",
                       f"data_dir={small_sim[0]}", SMALL_DEEPRAGE, "data.target=class")
    assert "training.factorized: trains a regression target" in line
    assert line.endswith("set training.factorized: false")


def test_factorized_training_with_the_settings_it_uses_is_accepted(small_sim, tmp_path):
    config = load_config(CONFIGS / "deeprage.yaml", [
        f"data_dir={small_sim[0]}", "training.loss=mse", "training.monitor=val_r2",
        "training.tensorboard=false"])
    from kerasgene.train.run_config import check_config

    check_config(config, train=True)


def test_replica_batches_need_an_example_for_every_worker():
    """The batch sizes a multi-worker run may take: every batch of every streamed split
    holds at least one example per worker (the launched check:
    tests/test_scale_out.py::test_a_batch_with_fewer_examples_than_workers_is_refused)."""
    from kerasgene.train.run_config import check_replica_batches

    check_replica_batches({"valid": 300, "train": 700}, 100, 2)
    check_replica_batches({"valid": 302}, 100, 2)
    with pytest.raises(ConfigError) as got:
        check_replica_batches({"valid": 301, "train": 720}, 100, 2)
    assert str(got.value) == (
        "training.batch_size: 100 over 2 workers leaves the last batch of the valid split "
        "(301 examples) with 1, fewer than one per worker; expected a batch size whose "
        "batches hold at least 2 examples (e.g. 99 or 101)")
    with pytest.raises(ConfigError, match="1 over 2 workers gives some worker no example of "
                                          r"each batch; .* \(e.g. 2 or 3\)"):
        check_replica_batches({"valid": 50}, 1, 2)


def test_a_worker_refused_for_bad_input_is_not_called_resumable():
    """The launcher told the user to re-run to resume after a worker refused the config
    (exit 2): the same refusal again. A bad input says to fix it; a crash or a kill
    (any other status) still says to resume."""
    from kerasgene.train.launcher import exit_note

    assert exit_note(2) == "its error is above: fix the input and run the command again"
    assert exit_note(1, -9) == "re-run the same command to resume"
    assert exit_note(-9, 2) == exit_note(2)
