"""Run and tune configurations as users write them: a key given twice in the YAML, an
override into a list, and ``tuning:`` values of the wrong type are one-line errors naming
the file, line or field (exit 2), found before any dataset is built."""

from __future__ import annotations

import pytest

from kerasgene.cli import main
from kerasgene.config import apply_override, load_config
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.tuning.config import load_tune_config

RUN = """\
system: deeprage
seed: 0
run_dir: {run}
data:
  expression: lfc.tsv
  regulators: reg.tab
  promoters: promoters.fa
model:
  name: deeprage_concat
training:
  epochs: 3
  patience: 2
"""

TUNE = RUN.replace("run_dir: {run}\n", "dataset_dir: {run}\n") + """\
tuning:
  space:
    variant: [concat, tensor]
    optimizer: [sgd, adam]
    learning_rate: {{by: optimizer, values: {{sgd: 0.01, adam: 0.001}}}}
  objective: val_r2
  directory: {run}/tuning
"""


def _cli_fails(capsys, tmp_path, text: str, *args, command: str = "prepare") -> str:
    """Exit status 2, one ``kerasgene: error:`` line on stderr, nothing written."""
    path = tmp_path / "c.yaml"
    path.write_text(text.format(run=tmp_path / "run"))
    status = main([command, "--config", str(path), *args])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("kerasgene: error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
    return err


@pytest.mark.parametrize(("text", "message"), [
    (RUN + "seed: 5\n", "line 13, column 1: not valid YAML (key 'seed' appears twice in one "
                        "mapping (first on line 2); YAML would keep only the last value: "
                        "remove one)"),
    (RUN.replace("  epochs: 3\n", "  epochs: 3\n  epochs: 30\n"),
     "line 12, column 3: not valid YAML (key 'epochs' appears twice in one mapping (first on "
     "line 11)"),
    (RUN + "training:\n  epochs: 1\n", "line 13, column 1: not valid YAML (key 'training' "
                                      "appears twice in one mapping (first on line 10)"),
])
def test_a_key_given_twice_is_an_error(capsys, tmp_path, text, message):
    """PyYAML keeps the last of two equal keys without a word: the second `training:`
    section replaced the first, patience and all."""
    err = _cli_fails(capsys, tmp_path, text)
    assert f"{tmp_path / 'c.yaml'}: {message}" in err


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("system: deeprage\ndata: &d {expression: a.tsv, regulators: r.tab}\n"
                    "model: {name: deeprage_concat}\ntraining:\n  epochs: 2\n")
    assert load_config(path)["training"] == {"epochs": 2}
    assert apply_override({"data": {"x": 1}}, "data.x=2") is None


def test_duplicate_keys_in_an_override_value():
    config = {"training": {}}
    with pytest.raises(ConfigError, match=r"override 'training=\{epochs: 1, epochs: 2\}': line "
                                          r"1, column 13: not valid YAML \(key 'epochs' appears "
                                          r"twice"):
        apply_override(config, "training={epochs: 1, epochs: 2}")


def test_an_override_into_a_list_says_to_set_the_whole_list(capsys, tmp_path):
    err = _cli_fails(capsys, tmp_path, RUN + "baselines: [ridge]\n", "baselines.0=ridge")
    assert ("override 'baselines.0=ridge': 'baselines' is a list, not a section; set the whole "
            "list (e.g. baselines=[...])") in err


@pytest.mark.parametrize(("override", "message"), [
    ("tuning.export_best='no'", "tuning.export_best: expected true or false, got 'no'"),
    ("tuning.plot='false'", "tuning.plot: expected true or false, got 'false'"),
    ("tuning.run_eagerly=yes please", "tuning.run_eagerly: expected true or false, got "
                                      "'yes please'"),
    ("tuning.in_memory=maybe", "tuning.in_memory: expected auto, true or false, got 'maybe'"),
    ("tuning.threads=-3", "tuning.threads: expected an integer >= 1 or null, got -3"),
    ("tuning.directory=null", "tuning.directory: expected a path, got None"),
    ("tuning.space=[1, 2]", "tuning.space: expected a mapping or null, got [1, 2]"),
    ("tuning.subset=k1", "tuning.subset: expected a mapping or null, got 'k1'"),
    ("tuning.objective={regresion: val_loss}",
     "tuning.objective: unknown key 'regresion'; did you mean 'regression'?"),
    ("tuning.objective={regression: [val_r2]}",
     "tuning.objective.regression: expected a string, got ['val_r2']"),
    ("tuning.objective={name: val_r2, direction: up}",
     "tuning.objective.direction: expected one of min, max or null, got 'up'"),
    ("tuning.objective=5", "tuning.objective: expected a metric name (e.g. val_r2), "
                           "{name, direction} or {task: metric name}, got 5"),
])
def test_tuning_values_are_checked_when_the_file_is_read(capsys, tmp_path, override, message):
    """'no' and 'false' (strings) were true; a task's misspelt objective was replaced by
    the default without a word; a list as space, or directory null, were tracebacks;
    -3 threads reached TensorFlow."""
    err = _cli_fails(capsys, tmp_path, TUNE, "--dry-run", override, command="tune")
    assert message in err


def test_an_axis_given_twice_in_a_tune_file(tmp_path):
    """The second `optimizer:` replaced the first: a smaller grid, silently."""
    path = tmp_path / "t.yaml"
    path.write_text(TUNE.format(run=tmp_path / "run").replace(
        "  objective:", "    optimizer: [adam]\n  objective:"))
    with pytest.raises(InputFileError, match=r"t\.yaml: line 18, column 5: not valid YAML "
                                             r"\(key 'optimizer' appears twice in one mapping "
                                             r"\(first on line 16\)"):
        load_tune_config(path)


def test_valid_tuning_values_still_load(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(TUNE.format(run=tmp_path / "run"))
    config = load_tune_config(path, ["tuning.in_memory=false", "tuning.threads=2",
                                     "tuning.objective={regression: val_loss}",
                                     "tuning.project_name=2024"])
    assert config["tuning"]["in_memory"] is False and config["tuning"]["threads"] == 2


def test_a_home_folder_path_is_expanded(tmp_path, monkeypatch):
    """``~`` in run_dir, data_dir, dataset_dir or tuning.directory was kept: a literal
    ``./~`` folder was made, then pandas (which expands ``~``) wrote elsewhere: a
    traceback, exit 1, the ``./~`` folder left behind."""
    from kerasgene.datasets.base import resolve_path

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "c.yaml"
    path.write_text(TUNE.format(run="~/run").replace("seed: 0\n", "seed: 0\ndata_dir: ~/d\n"))
    config = load_tune_config(path, ["run_dir=~/out"])
    home = tmp_path / "home"
    assert (config["run_dir"], config["data_dir"], config["dataset_dir"],
            config["tuning"]["directory"]) == (
        str(home / "out"), str(home / "d"), str(home / "run"), str(home / "run/tuning"))
    assert config["data"]["promoters"] == "promoters.fa"  # a data path: resolve_path's
    assert resolve_path("promoters.fa", "~/d") == home / "d" / "promoters.fa"


def test_a_path_read_as_a_number_says_to_quote_it(capsys, tmp_path):
    """``run_dir: 2024`` said only "expected a path, got 2024"."""
    err = _cli_fails(capsys, tmp_path, RUN.replace("run_dir: {run}", "run_dir: 2024"))
    assert err.strip() == ("kerasgene: error: run_dir: expected a path, got 2024; YAML reads "
                           "2024 as a number: quote it ('2024') for the path 2024")
    assert not (tmp_path / "2024").exists()
