"""``kerasgene tune`` on bad or unusual input: ``--subset`` / ``--threads`` values, project
folders that are files, failed (NaN) trials, a best trial whose weights are gone.

Searches are of tiny iSEGnets on a small dataset (250 bp windows, at most 32 examples per
split, one epoch), in this process; no worker processes.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras_tuner as kt
import pandas as pd
import pytest
import yaml

from kerasgene import tuning
from kerasgene.cli import main as cli_main
from kerasgene.datasets import build
from kerasgene.tuning import runner
from kerasgene.tuning.results import SearchResult, format_top

TRACKS = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, small_sim):
    """A small iSEGnet dataset (250 bp windows) of the session's simulation."""
    d = tmp_path_factory.mktemp("tune_inputs")
    sim = small_sim[0]
    iseg = {"gtf": str(sim / "genes.gtf"), "fasta": str(sim / "genome.fa"),
            "samples": [{"name": "simA_rep1",
                         "expression": str(sim / "isegnet" / "expression_tpm.tsv"),
                         "expression_column": "simA_rep1",
                         "tracks": {t: str(sim / "isegnet" / "simA_rep1" / f"{t}.bigWig")
                                    for t in TRACKS}}],
            "tss_flank": [100, 50], "tts_flank": [50, 50]}
    build("isegnet", iseg, d / "iseg", progress=False)
    return d / "iseg"


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
    assert not runner._older_failures(o, err)  # the latest trials failed: stop
    o = oracle()  # re-run: the third failed trial is not run again
    assert o.end_order == ["0000", "0001", "0002"] and not o.ongoing_trials
    state = json.loads((tmp_path / "p" / "trial_0002" / "trial.json").read_text())
    assert state["status"] == "FAILED"
    err = end(o, "COMPLETED")  # keras-tuner still counts the failures before it
    assert err is not None and runner._older_failures(o, err)  # go on
    assert oracle().end_order == ["0000", "0001", "0002", "0003"]


def test_a_search_stopped_by_failed_trials(dataset, tmp_path, capsys):
    """Three diverging (NaN) trials: the stop names them, trials.tsv lists all three."""
    path = config(tmp_path, dataset, optimizer="sgd", learning_rate=1.0e12)
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
