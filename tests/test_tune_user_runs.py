"""``kerasgene tune`` as a user runs it on their own setup: search-space values that no
grid can hold, an axis that changes nothing, and a project resumed after its keras-tuner
state was edited by hand (a trial folder, ``oracle.json``, a ``trial.json`` or
``tuner0.json`` deleted or truncated).

Searches are of tiny iSEGnets on the small dataset (250 bp windows, at most 32 examples
per split, one epoch), in this process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from kerasgene.cli import main as cli_main


def config(tmp_path: Path, dataset_dir, space=None) -> Path:
    """A tune YAML of tiny iSEGnets (default grid: k1 × kernel_length, 4 points)."""
    cfg = {
        "system": "isegnet", "seed": 0, "dataset_dir": str(dataset_dir),
        "model": {"name": "isegnet", "hparams": {"dense_units": [4, 4, 4], "merge_filters": 2,
                                                 "pointwise_filters": 2}},
        "training": {"epochs": 1, "patience": 1, "batch_size": 32, "verbose": 0},
        "tuning": {"space": space or {"k1": [2, 4], "kernel_length": [5, 9]},
                   "directory": str(tmp_path / "runs"), "project_name": "p",
                   "max_examples": 32, "run_eagerly": True, "plot": False},
    }
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def tune(capsys, *args) -> tuple[int, list[str]]:
    """``kerasgene tune ARGS`` in this process: (exit status, the error lines)."""
    code = cli_main(["tune", *args])
    err = capsys.readouterr().err.splitlines()
    return code, [ln for ln in err if ln.startswith("kerasgene: error:")]


# ----------------------------------------------------------------------------- the space
@pytest.mark.parametrize(("space", "message"), [
    # a NaN equals no value: keras-tuner's grid enumeration raised IndexError
    ("{k1: [2], l2: [.nan]}", "tuning.space.l2: expected a finite number, got nan"),
    # a NaN or infinite range: ValueError (cannot convert float NaN to integer)
    ("{k1: {min: 1, max: .inf, step: 1}}",
     "tuning.space.k1: min, max and step must be finite numbers, got [1, inf, 1]"),
    # YAML 1.1 reads 1e-4 as a string: the hint the list form gives
    ("{k1: [2], l2: {min: 1e-4, max: 1.0, step: 10, sampling: log}}",
     "tuning.space.l2: min, max and step must be finite numbers, got ['1e-4', 1.0, 10]; "
     "YAML reads a number without a dot such as 1e-4 as a string: write it with a dot"),
    ("{k1: [2], learning_rate: [1e-3]}",
     "tuning.space.learning_rate: expected positive numbers, got ['1e-3']; YAML reads a "
     "number without a dot such as 1e-3 as a string"),
    # a regression head has no classes: the grid was doubled with identical trials
    ("{k1: [2], n_classes: [2, 3]}", "tuning.space.n_classes: no effect on a regression "
                                     "model"),
])
def test_space_values_no_grid_can_hold(tmp_path, capsys, space, message):
    """Refused in one line when the file is read, before the dataset is opened."""
    path = config(tmp_path, tmp_path / "no_dataset")
    code, errors = tune(capsys, "--config", str(path), f"tuning.space={space}", "--dry-run")
    assert code == 2 and len(errors) == 1 and errors[0].startswith(
        f"kerasgene: error: {message}"), errors
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- resuming
@pytest.fixture(scope="module")
def finished(small_isegnet_dataset, tmp_path_factory):
    """A project with two finished trials (0000, 0001) of the 4-point grid: the folder
    and its config, to be copied by each test."""
    root = tmp_path_factory.mktemp("finished")
    path = config(root, small_isegnet_dataset)
    assert cli_main(["tune", "--config", str(path), "--max-trials", "2"]) == 0
    return root


def copy_of(finished: Path, tmp_path: Path, capsys) -> tuple[Path, Path]:
    """``(config, project folder)`` of a copy of the finished project in ``tmp_path``."""
    capsys.readouterr()
    shutil.copytree(finished / "runs", tmp_path / "runs")
    cfg = yaml.safe_load((finished / "tune.yaml").read_text())
    return config(tmp_path, cfg["dataset_dir"]), tmp_path / "runs" / "p"


def state(project: Path) -> dict[str, bytes]:
    """Every file of the project, by path relative to it."""
    return {str(p.relative_to(project)): p.read_bytes()
            for p in sorted(project.rglob("*")) if p.is_file()}


@pytest.mark.slow  # a two-trial search shared by the module
@pytest.mark.parametrize(("damage", "message"), [
    # the next trial took id 0001 and two grid points took turns as trial 0001 forever
    (lambda p: shutil.rmtree(p / "trial_0000"),
     "{p}: 1 trial folder(s) listed in oracle.json are missing: trial_0000; restore them, "
     "or delete {p} to start the search over"),
    # tensorflow NotFoundError traceback
    (lambda p: (p / "oracle.json").unlink(),
     "{p}/oracle.json: cannot read keras-tuner state (No such file or directory); restore "
     "it, or delete {p} to start the search over"),
    # json.decoder.JSONDecodeError traceback
    (lambda p: (p / "trial_0001" / "trial.json").write_text('{"trial_id": "0001", "hyp'),
     "{p}/trial_0001/trial.json: keras-tuner state is not valid JSON"),
], ids=["trial_folder", "oracle_json", "trial_json"])
def test_resuming_a_project_whose_state_was_damaged(finished, tmp_path, capsys, damage,
                                                    message):
    """The run and its dry run refuse the project in one line and change nothing in it."""
    path, project = copy_of(finished, tmp_path, capsys)
    damage(project)
    before = state(project)
    for dry in ([], ["--dry-run"]):
        code, errors = tune(capsys, "--config", str(path), "--max-trials", "3", *dry)
        assert code == 2 and len(errors) == 1, errors
        assert errors[0].startswith(f"kerasgene: error: {message.format(p=project)}"), errors
    assert state(project) == before


@pytest.mark.slow  # a two-trial search shared by the module, and one more trial
def test_resuming_without_the_tuner_file(finished, tmp_path, capsys):
    """Without ``tuner0.json`` (an empty state) the project resumes from ``oracle.json``:
    keras-tuner started the search over, running and rewriting every finished trial."""
    path, project = copy_of(finished, tmp_path, capsys)
    (project / "tuner0.json").unlink()
    done = {t: (project / f"trial_{t}" / "trial.json").read_bytes() for t in ("0000", "0001")}
    assert tune(capsys, "--config", str(path), "--max-trials", "3") == (0, [])
    runs = [json.loads(ln) for ln in (project / "runs.log").read_text().splitlines()]
    assert [r["trial_id"] for r in runs if r["event"] == "end"] == ["0000", "0001", "0002"]
    assert {t: (project / f"trial_{t}" / "trial.json").read_bytes() for t in done} == done
    assert (project / "tuner0.json").is_file()
