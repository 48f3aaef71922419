"""``kerasgene tune`` on bad or unusual input: ``--subset`` / ``--threads`` values, project
folders that are files, project names that are paths, failed (NaN) trials, a best trial
whose weights are gone.

Searches are of tiny iSEGnets on a small dataset (250 bp windows, at most 32 examples per
split, one epoch), in this process; no worker processes.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import keras_tuner as kt
import numpy as np
import pandas as pd
import pytest
import yaml

from kerasgene import tuning
from kerasgene.cli import main as cli_main
from kerasgene.errors import ConfigError
from kerasgene.tuning.results import SearchResult, format_top


@pytest.fixture(scope="module")
def dataset(small_isegnet_dataset):
    """The small iSEGnet dataset (250 bp windows; conftest)."""
    return Path(small_isegnet_dataset)


def config(tmp_path: Path, dataset_dir, space=None, **training) -> Path:
    """A tune YAML of tiny iSEGnets (default grid: k1 × kernel_length × l2, 8 points)."""
    cfg = {
        "system": "isegnet", "seed": 0, "dataset_dir": str(dataset_dir),
        "model": {"name": "isegnet", "hparams": {"dense_units": [4, 4, 4], "merge_filters": 2,
                                                 "pointwise_filters": 2}},
        "training": {"epochs": 1, "patience": 1, "batch_size": 32, "verbose": 0, **training},
        "tuning": {"space": space or {"k1": [2, 4], "kernel_length": [5, 9],
                                      "l2": [1.0e-4, 1.0e-2]},
                   "directory": str(tmp_path / "runs"), "project_name": "p",
                   "max_examples": 32, "run_eagerly": True},
    }
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def tune(capsys, *args) -> tuple[int, list[str], str]:
    """``kerasgene tune ARGS`` in this process: (exit status, stderr lines, stdout)."""
    code = cli_main(["tune", *args])
    captured = capsys.readouterr()
    return code, [ln for ln in captured.err.splitlines() if ln.strip()], captured.out


def error_line(capsys, *args) -> str:
    code, err, _ = tune(capsys, *args)
    errors = [ln for ln in err if ln.startswith("kerasgene: error:")]
    assert code == 2 and len(errors) == 1, err
    return errors[0]


# ----------------------------------------------------------------------------- the task
def test_class_labels_are_tuned_as_classes(tmp_path, capsys):
    """A dataset of class labels (DeepChrome's binary label) is searched as a classifier
    when the config names no task, as ``kerasgene train`` trains it — it was a regression
    on the 0 / 1 labels, ranked by val_r2 (DeepChrome: an error naming val_r2; the
    chromatin peak task: masked MSE, exit 0) —; a regression asked for is refused."""
    from conftest import deepchrome_csv_files

    files = deepchrome_csv_files(tmp_path, (("train", 16), ("valid", 8), ("test", 8)))
    cfg = {"system": "deepchrome", "seed": 0, "dataset_dir": str(tmp_path / "dataset"),
           "data": {"source": "deepchrome_csv", "cells": {"E003": files}, "label": "binary"},
           "model": {"name": "deepchrome", "hparams": {"units": [4, 4]}},
           "training": {"epochs": 1, "verbose": 0},
           "tuning": {"space": {"filters": [2, 4]}, "directory": str(tmp_path / "runs"),
                      "project_name": "p", "run_eagerly": True}}
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    plan, = tuning.plan_search(tuning.load_tune_config(path), validate=False)
    assert plan.hypermodel.task == "classification"
    assert plan.hypermodel.objective_name == "val_accuracy"
    assert plan.hypermodel.recipe("deepchrome")["loss"] == "crossentropy"
    code, _, out = tune(capsys, "--config", str(path))
    valid = plan.dataset.labels("valid")  # all of them: no tuning.max_examples
    share = 100 * np.bincount(valid).max() / len(valid)
    assert code == 0 and (f"top 2 by val_accuracy (max); the commonest class is {share:.1f} % "
                          "of the validation examples") in out, out
    with pytest.raises(ConfigError, match=r"^task regression: the dataset .* holds class "
                       r"labels \(its target: class\); expected tuning\.space\.task: "
                       r"\[classification\]"):
        tuning.plan_search(tuning.load_tune_config(path, ["tuning.space.task=[regression]"]),
                           validate=False)


# ----------------------------------------------------------------------------- options
def test_subset_and_threads_options(tmp_path, capsys):
    """Bad ``--subset`` / ``--threads`` values: one line, exit 2, before anything is read."""
    path = config(tmp_path, tmp_path / "no_dataset")
    # a YAML flow list: was a yaml ParserError traceback
    assert error_line(capsys, "--config", str(path), "--subset", "k1=[2,4]", "--dry-run") == (
        "kerasgene: error: --subset 'k1=[2,4]': expected AXIS=V1[,V2...] (e.g. k1=16,32), "
        "each value a number or a word (no brackets)")
    assert error_line(capsys, "--config", str(path), "--subset", "=2", "--dry-run") == (
        "kerasgene: error: --subset '=2': expected AXIS=V1[,V2...] (e.g. k1=16,32)")
    # --threads 0 was ignored; a negative one aborted TensorFlow (a C++ check failure)
    for bad in ("0", "-2"):
        assert error_line(capsys, "--config", str(path), "--threads", bad) == (
            f"kerasgene: error: --threads: expected a whole number >= 1, got {bad}")
    assert not (tmp_path / "runs").exists()


def test_a_run_configs_own_training_keys_are_left_to_its_run(dataset, tmp_path, capsys):
    """A shipped run config with a tuning section (configs/chromatin.yaml's
    `baseline_max_examples: null`, isegnet.yaml's controls, deeprage.yaml's factorized): its
    run-only training keys were refused as unknown; they are not the search's (the same
    project with and without them) and stay in the config best_run.yaml is made of."""
    plain = config(tmp_path, dataset)
    code, _, out = tune(capsys, "--config", str(plain), "--dry-run")
    assert code == 0, out
    path = config(tmp_path, dataset, baseline_max_examples=None, controls=["shuffled"],
                  control_permutations=2)
    code, err, out2 = tune(capsys, "--config", str(path), "--dry-run")
    assert code == 0, err
    assert out2 == out  # the same project: the keys are no search setting
    plan, = tuning.plan_search(tuning.load_tune_config(path), validate=False)
    assert plan.run_config["training"]["controls"] == ["shuffled"]


@pytest.mark.parametrize("n_models, warned", [(3, True), (1, False)])
def test_a_search_of_the_histone_ensemble_says_its_trials_fit_the_members_jointly(
        tmp_path, caplog, n_models, warned):
    """A trial fits the members together on the training split; `train` fits each on its
    fold: the search's ranking is not the runs' (H5: valid R² 0.638 as a trial, 0.613 as
    the best point's run), said at plan time."""
    from kerasgene.tuning.plans import _warn_joint_ensemble, hypermodels_from_config

    cfg = {"system": "histone_fcn", "seed": 0,
           "model": {"name": "histone_fcn_ensemble",
                     "hparams": {"base_filters": 4, "n_models": n_models}},
           "training": {"epochs": 1},
           "tuning": {"space": {"dropout": [0.1, 0.2]}, "directory": str(tmp_path)}}
    (_, hm), = hypermodels_from_config(cfg)
    with caplog.at_level(logging.WARNING):
        _warn_joint_ensemble(hm)
    assert ("a trial fits the histone_fcn_ensemble's members together" in caplog.text) is warned


def test_subset_values_against_the_grid(dataset, tmp_path, capsys):
    path = config(tmp_path, dataset)
    # 1e-4 (no dot) is a string to YAML: it used to be "not in the grid (0.0001, 0.01)"
    code, _, out = tune(capsys, "--config", str(path), "--subset", "l2=1e-4", "--dry-run")
    assert code == 0 and "p: 8 grid points, 4 selected, 0 completed" in out
    code, _, out = tune(capsys, "--config", str(path), "tuning.subset={l2: [1e-2]}", "--dry-run")
    assert code == 0 and "p: 8 grid points, 4 selected, 0 completed" in out
    # an empty list selected no point: the search made the project, then a KeyError traceback
    assert error_line(capsys, "--config", str(path), "tuning.subset={k1: []}") == (
        "kerasgene: error: subset: k1: no values (expected some of 2, 4); an empty subset "
        "selects no grid point")
    assert error_line(capsys, "--config", str(path), "--subset", "task=regression",
                      "--dry-run").endswith(
        "'task' is not an axis of the grid (k1, kernel_length, l2); the task projects are "
        "chosen with tuning.space.task (e.g. tuning.space.task=[regression])")
    assert not (tmp_path / "runs").exists()


def test_a_subset_off_the_grid_is_refused_before_the_dataset(tmp_path, capsys):
    """The dataset was opened (on real data: built, minutes) before the subset was
    checked; here the missing dataset was the error."""
    path = config(tmp_path, tmp_path / "no_dataset")
    assert error_line(capsys, "--config", str(path), "--subset", "k1=8", "--dry-run") == (
        "kerasgene: error: subset: k1 = 8 is not in the grid (2, 4)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.yaml"]


def test_project_folders_that_are_files(dataset, tmp_path, capsys):
    """Was a FileExistsError / NotADirectoryError traceback (for run_dir: after the whole
    search had run); the dry run did not notice."""
    path = config(tmp_path, dataset)
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for override, key, where in (
            (f"tuning.directory={a_file}", "tuning.directory", a_file),
            (f"tuning.directory={a_file / 'sub'}", "tuning.directory", a_file),
            (f"tuning.project_name={a_file.name}", "tuning.project_name", a_file),
            (f"run_dir={a_file}", "run_dir", a_file)):
        if key == "tuning.project_name":
            override = f"{override} tuning.directory={tmp_path}"
        for extra in (["--dry-run"], ["--max-trials", "1"]):
            assert error_line(capsys, "--config", str(path), *override.split(), *extra) == (
                f"kerasgene: error: {key}: {where} is not a directory (expected a directory, "
                "or a path that does not exist yet)")
    assert not (tmp_path / "runs").exists() and a_file.read_text() == ""


def test_project_names_that_are_paths(tmp_path, capsys):
    """``tuning.project_name`` ../x, a/b or an absolute path put the project folder (every
    trial) outside tuning.directory; '.' and '..' made it the directory or its parent."""
    path = config(tmp_path, tmp_path / "no_dataset")
    for name in ("../x", "a/b", str(tmp_path / "abs"), ".", "..", "''", "x\\y"):
        for extra in (["--dry-run"], ["--max-trials", "1"]):
            assert error_line(capsys, "--config", str(path), f"tuning.project_name={name}",
                              *extra) == (
                "kerasgene: error: tuning.project_name: expected a plain folder name, made "
                "inside tuning.directory (no '/' or '\\', not '.', '..' or empty), got "
                f"{yaml.safe_load(name)!r}")
    assert [p.name for p in tmp_path.iterdir()] == ["tune.yaml"]
    # a number is a folder name too (was a TypeError traceback: Path / int)
    config_ = tuning.load_tune_config(path, ["tuning.project_name=2024"])
    assert tuning.tuning_section(config_)["project_name"] == "2024"


# ----------------------------------------------------------------------------- failed trials
def test_failures_that_stop_the_search_are_saved_and_do_not_stop_it_again(tmp_path):
    """keras-tuner raises "Number of consecutive failures exceeded" from ``end_trial``
    before saving the trial (a re-run ran it again and stopped again, forever) and counts
    any earlier run of failures (a resumed project stopped after every trial)."""
    hm = tuning.BuilderHyperModel("isegnet")

    def oracle():
        o = tuning.ResumableGridOracle(kt.Objective("val_r2", "max"),
                                       hyperparameters=hm.space())
        o._set_project_dir(str(tmp_path), "p")
        if (tmp_path / "p" / "oracle.json").exists():
            o.reload()
        return o

    def end(o, status):
        t = o.create_trial("tuner0")
        assert t.status == "RUNNING"
        if status == "COMPLETED":
            o.update_trial(t.trial_id, {"val_r2": 0.5})
        t.status = status
        try:
            o.end_trial(t)
        except RuntimeError as err:
            return err
        return None

    o = oracle()
    assert end(o, "FAILED") is None and end(o, "FAILED") is None
    err = end(o, "FAILED")
    assert str(err).startswith("Number of consecutive failures exceeded the limit of 3")
    o = oracle()  # re-run: the third failed trial is not run again
    assert o.end_order == ["0000", "0001", "0002"] and not o.ongoing_trials
    state = json.loads((tmp_path / "p" / "trial_0002" / "trial.json").read_text())
    assert state["status"] == "FAILED"
    assert end(o, "COMPLETED") is None  # keras-tuner counted the failures before it: raised
    assert oracle().end_order == ["0000", "0001", "0002", "0003"]


@pytest.mark.slow  # a three-trial search
def test_a_search_stopped_by_failed_trials(dataset, tmp_path, capsys):
    """Three diverging trials (NaN loss: the recipe's divergence check fails each): the stop
    names them, trials.tsv lists all three."""
    path = config(tmp_path, dataset, optimizer="sgd", learning_rate=1.0e30)
    line = error_line(capsys, "--config", str(path), "--max-trials", "3")
    assert line.startswith("kerasgene: error: p: the search stopped: Number of consecutive "
                           "failures exceeded the limit of 3. (failed trials: 0000, 0001, "
                           "0002; trials.tsv and trial logs in ")
    project = tmp_path / "runs" / "p"
    table = pd.read_csv(project / "trials.tsv", sep="\t", dtype={"trial_id": str})
    assert list(table["trial_id"]) == ["0000", "0001", "0002"]
    assert set(table["status"]) == {"FAILED"}
    assert json.loads((project / "oracle.json").read_text())["ongoing_trials"] == {}


def test_top_table_names_failed_trials(dataset, tmp_path):
    plan, = tuning.plan_search(tuning.load_tune_config(config(tmp_path, dataset)),
                               validate=False)
    table = pd.DataFrame({"trial_id": ["0000", "0001", "0002"],
                          "status": ["FAILED", "COMPLETED", "FAILED"],
                          "k1": [2, 2, 2], "kernel_length": [5, 5, 9],
                          "l2": [1e-4, 1e-2, 1e-4], "objective": [None, 0.25, None]})
    text = format_top(SearchResult(plan, table, tmp_path / "trials.tsv", None, None))
    assert text.splitlines()[0] == ("p: 1 of 8 grid points completed; 2 failed (not retried; "
                                    "see trials.tsv): 0000, 0002; top 1 by val_r2 (max)")
    text = format_top(SearchResult(plan, table.iloc[[0]], tmp_path / "trials.tsv", None, None))
    assert text == "p: no completed trial; 1 failed (not retried; see trials.tsv): 0000"


# ----------------------------------------------------------------------------- best model
@pytest.mark.slow  # a one-trial search, three times
def test_best_trial_without_its_weights(dataset, tmp_path, capsys):
    path = config(tmp_path, dataset)
    assert tune(capsys, "--config", str(path), "--max-trials", "1")[0] == 0
    project = tmp_path / "runs" / "p"
    weights = project / "trial_0000" / "checkpoint.weights.h5"
    weights.unlink()
    # was an h5py FileNotFoundError traceback
    assert error_line(capsys, "--config", str(path), "--max-trials", "1") == (
        f"kerasgene: error: {weights}: missing, so the best trial (0000) cannot be exported "
        f"to {project / 'best_model.keras'} (trials.tsv is up to date); set "
        "tuning.export_best=false to skip the export")
    code, _, out = tune(capsys, "--config", str(path), "--max-trials", "1",
                        "tuning.export_best=false")
    assert code == 0 and "p: 1 of 8 grid points completed" in out


# ----------------------------------------------------------------------------- the best run
@pytest.mark.slow  # a two-trial search (one trial, then a resume) and a one-epoch run
def test_the_best_trial_trains_as_a_run(dataset, tmp_path, capsys):
    """``best_run.yaml``, written as trials finish, is a run config ``kerasgene train``
    takes as it is: the best trial's hyperparameters, a run folder of its own."""
    copied = tmp_path / "dataset"  # reused by tune and train (same inputs and parameters)
    shutil.copytree(dataset, copied)
    meta = json.loads((copied / "meta.json").read_text())
    path = config(tmp_path, copied)
    cfg = yaml.safe_load(path.read_text())
    cfg["data"] = {**meta["params"], "split": meta["split"],  # the keys that built it
                   **{k: meta["inputs"][k]["path"] for k in ("gtf", "fasta")}}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    project = tmp_path / "runs" / "p"
    best_run = project / "best_run.yaml"
    assert tune(capsys, "--config", str(path), "--max-trials", "1")[0] == 0
    assert "trial 0000: val_r2 = " in best_run.read_text().splitlines()[1]
    code, _, out = tune(capsys, "--config", str(path), "--max-trials", "2")  # a resume
    best = json.loads((project / "best_hyperparameters.json").read_text())
    text = best_run.read_text()
    assert code == 0 and f"kerasgene train --config {best_run}" in out
    assert text.startswith("# kerasgene run configuration of the best trial of tuning "
                           f"project p\n# trial {best['trial_id']}: val_r2 = "
                           f"{best['score']:.6g} (max); k1=")
    assert meta["built"] == json.loads((copied / "meta.json").read_text())["built"]

    assert cli_main(["train", "--config", str(best_run)]) == 0
    run = project / "best_run"
    assert f"trained: {run / 'model.keras'}" in capsys.readouterr().out
    trained = yaml.safe_load((run / "config.yaml").read_text())
    assert trained["model"] == {"name": "isegnet", "hparams": {
        **cfg["model"]["hparams"], **best["values"]}}
    assert trained["training"] == cfg["training"] and trained["dataset_dir"] == str(copied)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "tuning" not in trained and isinstance(metrics["test"]["r2"], float)


def test_best_run_config_of_a_deeprage_point(tmp_path):
    """DeepRAGE's ``variant`` picks the registry model, the paired learning rate goes to
    ``training``; the classification project's run builds a dataset of class labels."""
    config_ = tuning.load_tune_config(Path(__file__).parents[1] / "tuning" /
                                      "deeprage_grid.yaml", ["training.epochs=3"])
    point = {"variant": "tensor", "optimizer": "adam", "learning_rate": 0.001}
    runs = {}
    for (task, hm), (_, project, results) in zip(tuning.hypermodels_from_config(config_),
                                                 tuning.project_layout(config_)):
        plan = tuning.SearchPlan(
            hypermodel=hm, dataset=SimpleNamespace(path=tmp_path / "ds",
                                                   target_name="expression"),
            target="class" if task == "classification" else "expression",
            directory=tmp_path, project_name=project, results_dir=results,
            run_config={k: v for k, v in config_.items() if k != "tuning"})
        runs[task] = tuning.best_run_config(plan, point)
    reg, cls = runs["regression"], runs["classification"]
    assert reg["model"] == cls["model"] == {"name": "deeprage_tensor", "hparams": {}}
    assert reg["training"] == {**config_["training"], "optimizer": "adam",
                               "learning_rate": 0.001}
    assert reg["run_dir"] == "runs/tuning/deeprage_grid_regression/best_run"
    assert reg["dataset_dir"] == str(tmp_path / "ds") and reg["data"] == config_["data"]
    assert "dataset_dir" not in cls and cls["data"] == {**config_["data"], "target": "class"}
    assert "tuning" not in reg and reg["system"] == "deeprage"
    # hparams of one variant given in the tune config stay with that variant only (a
    # concat point's run kept rnn_units: "unknown hyperparameter(s) ['rnn_units']")
    plan.run_config["model"] = {"hparams": {"rnn_units": 32}}
    for variant, kept in (("concat", {}), ("rnn", {"rnn_units": 32})):
        got = tuning.best_run_config(plan, {**point, "variant": variant})["model"]["hparams"]
        assert got == kept, variant


# ----------------------------------------------------------------------------- the oracle's stop
# "Number of consecutive failures exceeded" on the oracle itself, as a single process and a
# chief (whose oracle ends the workers' trials, over gRPC) both use it: a 9-point grid, no
# model, no worker process.
def tiny_oracle(tmp_path: Path) -> tuning.ResumableGridOracle:
    """A ResumableGridOracle on a 9-point grid in ``tmp_path/o``, reloaded if saved there."""
    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2, 3])
    hp.Choice("b", [1, 2, 3])
    o = tuning.ResumableGridOracle(kt.Objective("score", "max"), hyperparameters=hp)
    o._set_project_dir(str(tmp_path), "o")
    if (tmp_path / "o" / "oracle.json").exists():
        o.reload()
    return o


def start(o, tuner_id: str = "tuner0"):
    trial = o.create_trial(tuner_id)
    assert trial.status == "RUNNING"
    return trial


def finish(o, trial, status: str, message: str | None = None) -> RuntimeError | None:
    """End ``trial`` with ``status``: the error ``end_trial`` raised, if any."""
    if status == "COMPLETED":
        o.update_trial(trial.trial_id, {"score": 0.5})
    trial.status, trial.message = status, message
    try:
        o.end_trial(trial)
    except RuntimeError as err:
        return err
    return None


def saved(tmp_path: Path) -> tuple[list, dict, dict]:
    """(end_order, ongoing_trials, {trial id: status}) as saved in ``tmp_path/o``."""
    state = json.loads((tmp_path / "o" / "oracle.json").read_text())
    statuses = {p.parent.name[len("trial_"):]: json.loads(p.read_text())["status"]
                for p in (tmp_path / "o").glob("trial_*/trial.json")}
    return state["end_order"], state["ongoing_trials"], statuses


def test_the_oracle_saves_the_trial_that_stops_the_search(tmp_path):
    o = tiny_oracle(tmp_path)
    for i in range(2):
        assert finish(o, start(o), "FAILED", f"boom {i}") is None
    err = finish(o, start(o), "FAILED", "boom 2")
    assert str(err) == "Number of consecutive failures exceeded the limit of 3.\nboom 2"
    assert o.end_order == ["0000", "0001", "0002"] and o.ongoing_trials == {}
    assert saved(tmp_path) == (["0000", "0001", "0002"], {},
                               {"0000": "FAILED", "0001": "FAILED", "0002": "FAILED"})
    o = tiny_oracle(tmp_path)  # resumed: the stopping trial is neither retried nor re-run
    assert o._retry_queue == [] and o.ongoing_trials == {}
    trial = start(o)
    assert trial.trial_id == "0003" and len(o._tried_so_far) == 4


def test_the_oracle_counts_only_the_latest_failures(tmp_path):
    o = tiny_oracle(tmp_path)
    errors = [finish(o, start(o), "FAILED") for _ in range(3)]
    assert errors[:2] == [None, None] and errors[2] is not None
    o = tiny_oracle(tmp_path)  # resumed: trials that complete no longer stop the search
    assert [finish(o, start(o), s) for s in ("COMPLETED", "FAILED", "FAILED")] == [None] * 3
    err = finish(o, start(o), "FAILED")  # 0004, 0005 and this one: the latest three failed
    assert str(err).startswith("Number of consecutive failures exceeded the limit of 3")
    ended = ["0000", "0001", "0002", "0003", "0004", "0005", "0006"]
    assert o.end_order == ended and saved(tmp_path)[:2] == (ended, {})
    o = tiny_oracle(tmp_path)  # a stop after older failures resumes too
    assert finish(o, start(o), "COMPLETED") is None and o.end_order == [*ended, "0007"]


def test_the_oracle_stop_leaves_other_tuners_trials_running(tmp_path):
    """A chief: the stop ends one worker's trial; another worker's trial goes on and ends
    without stopping the search again."""
    o = tiny_oracle(tmp_path)
    assert finish(o, start(o, "worker0"), "FAILED") is None
    other = start(o, "worker1")
    assert finish(o, start(o, "worker0"), "FAILED") is None
    assert finish(o, start(o, "worker0"), "FAILED") is not None
    assert list(o.ongoing_trials) == ["worker1"]
    assert saved(tmp_path)[:2] == (["0000", "0002", "0003"], {"worker1": other.trial_id})
    assert finish(o, other, "COMPLETED") is None
    assert saved(tmp_path) == (["0000", "0002", "0003", "0001"], {},
                               {"0000": "FAILED", "0001": "COMPLETED", "0002": "FAILED",
                                "0003": "FAILED"})


def test_the_chief_oracle_is_not_locked_after_the_stop(tmp_path):
    """The stop raised in the chief's gRPC thread (``OracleServicer.EndTrial``): the trial
    is saved and the chief's main thread can still ask whether the search is over."""
    import threading

    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    o = tiny_oracle(tmp_path)
    servicer = oracle_chief.OracleServicer(o)
    raised = []

    def end_over_grpc(trial):
        trial.status = "FAILED"
        try:
            servicer.EndTrial(protos.get_service().EndTrialRequest(trial=trial.to_proto()), None)
        except RuntimeError as err:
            raised.append(str(err))

    for _ in range(3):
        thread = threading.Thread(target=end_over_grpc, args=(start(o, "worker0"),))
        thread.start()
        thread.join(10)
    assert len(raised) == 1 and raised[0].startswith("Number of consecutive failures")
    assert saved(tmp_path)[:2] == (["0000", "0001", "0002"], {})
    answer = []
    asker = threading.Thread(target=lambda: answer.append(oracle_chief.exit_chief(o)),
                             daemon=True)
    asker.start()
    asker.join(5)
    assert answer == [False]  # not blocked; worker0 has not been told to stop yet


# ----------------------------------------------------------------------------- the grid
def test_an_empty_space_is_an_error(tmp_path, capsys):
    """``tuning.space: {}`` searched the paper's 144-point grid without a word."""
    path = config(tmp_path, tmp_path / "no_dataset")
    assert error_line(capsys, "--config", str(path), "tuning.space={}", "--dry-run") == (
        "kerasgene: error: tuning.space: an empty mapping; expected {axis: [values]} (leave "
        "tuning.space out to search the paper's grid)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.yaml"]


def test_a_grid_too_large_to_search_is_refused_before_it_is_enumerated(tmp_path, capsys):
    """A range with a step of 1 where 10 was meant (10^8 points) made even ``--dry-run``
    enumerate for minutes; the count is now taken from the axes."""
    path = config(tmp_path, tmp_path / "no_dataset")
    assert error_line(capsys, "--config", str(path),
                      "tuning.space.k1={min: 2, max: 100000001, step: 1}", "--dry-run") == (
        "kerasgene: error: tuning.space: 400,000,000 grid points (k1 100,000,000 × "
        "kernel_length 2 × l2 2); a grid search takes at most 100,000: use a larger step or "
        "fewer values")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.yaml"]


def test_grid_counts_and_the_range_values_validated():
    """Counts agree with keras-tuner's enumeration; a range is validated at its ends."""
    from kerasgene.tuning.spaces import check_grid_size, grid_points, parse_space

    axes = parse_space({"k1": {"min": 2, "max": 64, "step": 2, "sampling": "log"},
                        "l2": {"min": 0.0, "max": 0.5, "step": 0.1}, "dropout": [0.1, 0.3],
                        "optimizer": ["sgd", "adam"],
                        "learning_rate": {"by": "optimizer", "values": {"sgd": 0.01,
                                                                         "adam": 0.001}}})
    hp = __import__("keras_tuner").HyperParameters()
    for axis in axes.values():
        axis.declare(hp)
    assert check_grid_size(axes) == len(grid_points(hp)) == 5 * 6 * 2 * 2
    assert axes["k1"].values_to_validate() == [2, 64.0]
    assert axes["l2"].values_to_validate() == [0.0, axes["l2"].grid_values()[-1]]
    assert axes["dropout"].values_to_validate() == [0.1, 0.3]


def test_a_derived_value_for_no_value_of_its_axis_is_told(dataset, tmp_path, capsys, caplog):
    """``learning_rate: {by: optimizer, values: {sgd: .., adam: .., rmsprop: ..}}`` with
    ``optimizer: [sgd, adam]``: the dry run listed rmsprop's rate as if it were searched."""
    path = config(tmp_path, dataset, space={
        "k1": [2], "optimizer": ["sgd", "adam"],
        "learning_rate": {"by": "optimizer", "values": {"sgd": 0.01, "adam": 0.001,
                                                         "rmsprop": 0.002}}})
    with caplog.at_level("WARNING"):
        code, _, out = tune(capsys, "--config", str(path), "--dry-run")
    assert code == 0
    warned = [r.getMessage() for r in caplog.records if "not used" in r.getMessage()]
    assert len(warned) == 1 and set(warned) == {
        "tuning.space.learning_rate: optimizer = 'rmsprop' not on the optimizer axis ('sgd', "
        "'adam'): their values are not used"}, warned
    assert "0.01 (optimizer sgd)" in out and "rmsprop" not in out


def test_an_impossible_first_value_names_its_axis(dataset, tmp_path, capsys):
    """``k1: [0, 2]`` was blamed on another axis (``tuning.space.kernel_length = 9:
    impossible ...``): each other value was built with k1 = 0."""
    path = config(tmp_path, dataset)
    assert error_line(capsys, "--config", str(path), "tuning.space.k1=[0,2]", "--dry-run"
                      ).startswith("kerasgene: error: tuning.space.k1 = 0: impossible for "
                                   "isegnet: isegnet: k1 must be an integer >= 1 (got 0)")
    assert error_line(capsys, "--config", str(path), "tuning.space.k1=[2,0]", "--dry-run"
                      ).startswith("kerasgene: error: tuning.space.k1 = 0: impossible")


def test_the_dry_run_refuses_a_project_of_another_search(dataset, tmp_path, capsys):
    """The dry run counted the completed trials of a project made by another search
    (another grid), which the search itself refuses."""
    from kerasgene.tuning.runner import check_project

    path = config(tmp_path, dataset)
    plan = tuning.plan_search(tuning.load_tune_config(path, ["tuning.space.k1=[4,8]"]),
                              validate=False)[0]
    check_project(plan)  # the project of a k1 = 4, 8 search
    (plan.project_dir / "trial_0000").mkdir()
    (plan.project_dir / "trial_0000" / "trial.json").write_text('{"status": "COMPLETED"}')
    message = (f"kerasgene: error: {plan.project_dir} holds the tuner state of a different "
               "search (differs in space.k1); use another tuning.project_name or "
               f"tuning.directory, or delete {plan.project_dir}")
    assert error_line(capsys, "--config", str(path), "--dry-run") == message
    code, _, out = tune(capsys, "--config", str(path), "tuning.space.k1=[4,8]", "--dry-run")
    assert code == 0 and "p: 8 grid points, 8 selected, 1 completed" in out
    assert sorted(p.name for p in plan.project_dir.iterdir()) == [
        "kerasgene_search.json", "trial_0000"]


def test_a_home_folder_directory_is_expanded(dataset, tmp_path, capsys, monkeypatch):
    """``tuning.directory: ~/t`` made a literal ``./~/t`` folder (the trials went there),
    then a pandas traceback (it expands ``~``) when trials.tsv was written."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    path = config(tmp_path, dataset)
    code, _, out = tune(capsys, "--config", str(path), "tuning.directory=~/t", "--dry-run")
    assert code == 0 and out.rstrip().endswith(str(tmp_path / "home" / "t" / "p"))
