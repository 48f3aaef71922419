"""keras-tuner grid search: exact grids, a small search, SIGKILL + resume, chief + 2 workers.

Searches run on a small dataset built from the simulator (iSEGnet windows shortened to
250 bp, at most 64 examples per split, tiny iSEGnet models run eagerly) so the file stays
within a few minutes on two cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from math import prod
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pandas as pd
import pytest
import yaml

from kerasgene import tuning
from kerasgene._io import temporary_name
from kerasgene.cli import main as cli_main
from kerasgene.datasets import build
from kerasgene.errors import ConfigError, KerasgeneError

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data(tmp_path_factory, small_sim, small_isegnet_dataset):
    """Simulated demo files (small scale), the small iSEGnet dataset (250 bp windows)."""
    return {"iseg": Path(small_isegnet_dataset), "sim": small_sim[0],
            "dir": tmp_path_factory.mktemp("tuning_data")}


@pytest.fixture(scope="module")
def deeprage_data(data):
    """The DeepRAGE pairs dataset (100 bp promoters) of the same simulation."""
    y = data["sim"] / "yeast"
    dr = {"expression": str(y / "logfc.tsv"), "regulators": str(y / "reg_exp_RxE.tab"),
          "regulator_names": str(y / "reg_names_R.txt"),
          "condition_names": str(y / "expt_names_E.txt"), "promoters": str(y / "promoters.fa"),
          "promoter_length": 100}
    return build("deeprage", dr, data["dir"] / "deeprage", progress=False).path


def small_config(tmp_path: Path, data, project: str, epochs: int = 2) -> Path:
    """A 4-point grid of tiny iSEGnets (k1 × kernel length) on the small dataset."""
    cfg = {
        "system": "isegnet", "seed": 0, "dataset_dir": str(data["iseg"]),
        "model": {"name": "isegnet", "hparams": {"dense_units": [8, 4, 4], "merge_filters": 4,
                                                 "pointwise_filters": 4}},
        "training": {"epochs": epochs, "patience": 2, "batch_size": 64, "verbose": 0},
        "tuning": {"space": {"k1": [2, 4], "kernel_length": [5, 9]},
                   "directory": str(tmp_path / "runs"), "project_name": project,
                   "max_examples": 64, "run_eagerly": True},
    }
    path = tmp_path / f"{project}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "kerasgene", "tune", *args]


def run_log(project_dir: Path) -> list[dict]:
    """The project's runs.log (a line being appended right now is skipped)."""
    path = project_dir / "runs.log"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


def trial_states(project_dir: Path) -> dict[str, dict]:
    out = {}
    for f in sorted(project_dir.glob("trial_*/trial.json")):
        state = json.loads(f.read_text())
        out[state["trial_id"]] = state
    return out


# ----------------------------------------------------------------------------- spaces
def test_isegnet_space_is_the_papers_144_point_grid():
    hm = tuning.BuilderHyperModel("isegnet")
    space = hm.space()
    assert prod(len(hp.values) for hp in space.space) == 144
    points = hm.grid()  # keras-tuner's own GridSearch enumeration, not trials
    assert len(points) == 144
    assert len({tuple(sorted(p.items())) for p in points}) == 144
    for name, values in tuning.paper_space("isegnet").items():
        assert sorted({p[name] for p in points}) == sorted(values)
    # the shipped YAML is the same grid
    config = tuning.load_tune_config(REPO / "tuning" / "isegnet_grid.yaml")
    assert tuning.grid_size(config) == 144
    (_, from_yaml), = tuning.hypermodels_from_config(config)
    assert from_yaml.grid() == points and from_yaml.objective_name == "val_r2"


def test_deeprage_grid_variant_optimizer_task():
    config = tuning.load_tune_config(REPO / "tuning" / "deeprage_grid.yaml")
    hms = dict(tuning.hypermodels_from_config(config))
    assert list(hms) == ["regression", "classification"]
    assert tuning.grid_size(config) == 12 == 3 * 2 * 2
    for task, hm in hms.items():
        space = hm.space()
        assert prod(len(hp.values) for hp in space.space) == 6 == hm.grid_size()
        assert hm.objective_name == {"regression": "val_r2", "classification": "val_accuracy"}[task]
        for point in hm.grid():  # learning rate paired with the optimizer (paper §4.4)
            hp = kt.HyperParameters()
            hp.values.update(point)
            values = hm.values(hp)
            builder, _, cfg = hm.trial_settings(values)
            assert builder == f"deeprage_{point['variant']}"
            assert (cfg["optimizer"], cfg["learning_rate"]) in {("sgd", 0.01), ("adam", 0.001)}
            assert cfg["optimizer"] == point["optimizer"]


@pytest.mark.slow  # builds every DeepRAGE variant per task
def test_deeprage_plans_on_demo_data(deeprage_data, tmp_path):
    config = tuning.load_tune_config(
        REPO / "tuning" / "deeprage_grid.yaml",
        ["data=null", f"dataset_dir={deeprage_data}", f"tuning.directory={tmp_path}",
         "model.hparams={filters: 4, regulator_units: 4, units: 8, rnn_units: 4}"])
    plans = tuning.plan_search(config)  # builds every variant once per task
    assert [p.project_name for p in plans] == ["deeprage_grid_regression",
                                               "deeprage_grid_classification"]
    reg, cls = plans
    assert (reg.target, cls.target) == ("expression", "class")
    assert reg.hypermodel.fixed["seq_len"] == 100
    assert reg.hypermodel.fixed["n_regulators"] == reg.dataset.input_shapes["regulators"][0]
    assert cls.hypermodel.fixed["n_classes"] == 3 and "n_classes" not in reg.hypermodel.fixed


@pytest.mark.parametrize("in_memory", [True, False])
def test_balanced_class_weights_reach_the_trials(deeprage_data, tmp_path, in_memory):
    """``training.class_weight: balanced`` weighs a classification search's examples as
    ``kerasgene train`` weighs a run's (the trials trained unweighted, their records
    saying balanced)."""
    from kerasgene.train import recipes
    from kerasgene.tuning.runner import fit_data, search_indices

    config = tuning.load_tune_config(
        REPO / "tuning" / "deeprage_grid.yaml",
        ["data=null", f"dataset_dir={deeprage_data}", f"tuning.directory={tmp_path}",
         "tuning.space.task=[classification]", "training.class_weight=balanced",
         f"tuning.in_memory={str(in_memory).lower()}",
         "model.hparams={filters: 4, regulator_units: 4, units: 8, rnn_units: 4}"])
    cls, = tuning.plan_search(config, validate=False)
    want = recipes.class_weights(cls.dataset.labels(search_indices(cls, "train"),
                                                     target="class"),
                                 {"class_weight": "balanced"}, 3)
    assert len(set(want.round(6))) == 3  # the classes are unbalanced: weights differ
    make_train, valid = fit_data(cls, 64)
    for split in (make_train(), valid):
        _, y, w = next(iter(split))
        np.testing.assert_allclose(w.numpy(), want[y.numpy().astype(int)], rtol=1e-6)


def test_executions_of_a_trial_are_seeded_apart(data, tmp_path):
    """``tuning.executions_per_trial``: keras-tuner builds and fits a trial once per
    execution; execution k starts from seed + k (weights and shuffle order), the next
    trial's first from the seed again — with a fresh pipeline per trial alone, the
    executions would repeat each other."""
    import keras_tuner as kt

    from kerasgene.tuning.runner import fit_data

    plan, = tuning.plan_search(tuning.load_tune_config(small_config(tmp_path, data, "ex")),
                               validate=False)
    hm, hp, other = plan.hypermodel, kt.HyperParameters(), kt.HyperParameters()
    first, second, next_trial = (hm.build(h).get_weights()[0] for h in (hp, hp, other))
    assert not np.array_equal(first, second) and np.array_equal(first, next_trial)
    make_train, _ = fit_data(plan, 8)

    def labels(execution: int) -> np.ndarray:
        return next(iter(make_train(execution)))[1].numpy()

    assert np.array_equal(labels(0), labels(0)) and not np.array_equal(labels(0), labels(1))


# ----------------------------------------------------------------------------- bad input
def test_unknown_or_impossible_hyperparameters(data, tmp_path):
    path = small_config(tmp_path, data, "bad")  # grid k1 {2, 4} x kernel_length {5, 9}

    def plan(*overrides):
        return tuning.plan_search(tuning.load_tune_config(path, overrides))

    with pytest.raises(ConfigError, match=r"unknown hyperparameter 'kernel_size' \(did you mean "
                                          r"'kernel_length'\?\).*valid builder arguments: seq_len, "
                                          r"n_tracks, k1, kernel_length, dropout, l2"):
        plan("tuning.space.kernel_size=[3, 5]")
    with pytest.raises(ConfigError, match=r"tuning\.space\.dropout = 1\.5: impossible for "
                                          r"isegnet.*valid builder arguments"):
        plan("tuning.space.dropout=[0.5, 1.5]")
    with pytest.raises(ConfigError, match=r"kernel_length = 400: impossible.*seq_len"):
        plan("tuning.space.kernel_length=[5, 400]")  # longer than the 250 bp windows
    with pytest.raises(ConfigError, match=r"impossible value '1e-4'.*with a dot"):
        plan("tuning.space.l2=[1e-4]")
    with pytest.raises(ConfigError, match=r"mixed value types.*with a dot"):
        plan("tuning.space.l2=[1e-4, 0.1]")
    with pytest.raises(ConfigError, match="without a step is not a grid"):
        plan("tuning.space.k1={min: 16, max: 128}")
    with pytest.raises(ConfigError, match=r"model\.hparams: unknown argument 'k3'"):
        plan("model.hparams={k3: 4}")
    with pytest.raises(ConfigError, match=r"subset: k1 = 8 is not in the grid \(2, 4\)"):
        plan("tuning.subset={k1: [8]}")


@pytest.mark.slow  # builds every DeepRAGE variant per task
def test_objective_must_be_a_model_metric(data, deeprage_data, tmp_path):
    config = tuning.load_tune_config(small_config(tmp_path, data, "obj"),
                                     ["tuning.objective=val_auc"])
    with pytest.raises(ConfigError, match=r"'val_auc' is not produced by the compiled isegnet "
                                          r"\(regression\).*its metrics are loss, r2.*val_r2"):
        tuning.plan_search(config)
    config = tuning.load_tune_config(
        REPO / "tuning" / "deeprage_grid.yaml",
        ["data=null", f"dataset_dir={deeprage_data}", "tuning.objective=val_r2",
         "model.hparams={filters: 4, regulator_units: 4, units: 8, rnn_units: 4}"])
    with pytest.raises(ConfigError, match=r"'val_r2' is not produced by the compiled "
                                          r"deeprage_concat \(classification\)"):
        tuning.plan_search(config)


def test_directory_with_another_projects_state(data, tmp_path):
    path = small_config(tmp_path, data, "p")
    config = tuning.load_tune_config(path)
    plan, = tuning.plan_search(config, validate=False)
    tuning.check_project(plan)  # records this search's identity
    tuning.check_project(plan)  # the same search: fine (resume)
    other = tuning.load_tune_config(path, ["tuning.space.k1=[2, 8]", "training.epochs=5"])
    plan2, = tuning.plan_search(other, validate=False)
    with pytest.raises(ConfigError, match=r"holds the tuner state of a different search "
                                          r"\(differs in space\.k1, training\.epochs\)"):
        tuning.check_project(plan2)
    # a peer process writing the identity of the same search: its temporary file is not
    # foreign state (a chief + 2 workers run failed on it: worker exit 2)
    peer = tmp_path / "runs" / "peer"
    peer.mkdir(parents=True)
    half_written = temporary_name(peer / "kerasgene_search.json")
    half_written.write_text("{")
    plan_peer, = tuning.plan_search(tuning.load_tune_config(path, ["tuning.project_name=peer"]),
                                    validate=False)
    tuning.check_project(plan_peer)
    assert (peer / "kerasgene_search.json").is_file()
    # keras-tuner state written by something else (e.g. a RandomSearch of another script)
    foreign = tmp_path / "runs" / "foreign"
    foreign.mkdir(parents=True)
    (foreign / "oracle.json").write_text("{}")
    third = tuning.load_tune_config(path, ["tuning.project_name=foreign"])
    plan3, = tuning.plan_search(third, validate=False)
    with pytest.raises(ConfigError, match=r"holds keras-tuner state without kerasgene_search\.json "):
        tuning.check_project(plan3)
    # through the CLI: one line, exit status 2
    code = cli_main(["tune", "--config", str(path), "tuning.project_name=foreign"])
    assert code == 2


def test_cli_reports_bad_grid_in_one_line(data, tmp_path, capsys):
    path = small_config(tmp_path, data, "bad")
    code = cli_main(["tune", "--config", str(path), "tuning.space.kernel_size=[3]"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("kerasgene: error: tuning.space: unknown hyperparameter 'kernel_size'")


# ----------------------------------------------------------------------------- oracle
def _finish(oracle, trial, score):
    oracle.update_trial(trial.trial_id, {"val_r2": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_oracle_serves_each_point_once_in_parallel_and_resumes(tmp_path):
    """The grid bookkeeping without training: two tuners asking at once, a "SIGKILL"
    (a new oracle reloaded from disk while a trial runs), subset and max_trials."""
    hm = tuning.BuilderHyperModel("isegnet")

    def oracle(name="p", **kw):
        o = tuning.ResumableGridOracle(kt.Objective("val_r2", "max"),
                                       hyperparameters=hm.space(), **kw)
        o._set_project_dir(str(tmp_path), name)
        if (tmp_path / name / "oracle.json").exists():
            o.reload()
        return o

    o = oracle()
    a, b = o.create_trial("worker0"), o.create_trial("worker1")
    assert a.status == b.status == "RUNNING"
    assert a.hyperparameters.values != b.hyperparameters.values
    _finish(o, a, 0.5)
    before = json.loads((tmp_path / "p" / f"trial_{a.trial_id}" / "trial.json").read_text())
    o = oracle()  # the process died while b was running
    retried = o.create_trial("worker0")
    assert retried.trial_id == b.trial_id
    _finish(o, retried, 0.1)
    seen = [tuple(sorted(a.hyperparameters.values.items())),
            tuple(sorted(retried.hyperparameters.values.items()))]
    while True:
        t = o.create_trial(f"worker{len(seen) % 2}")
        if t.status == "STOPPED":
            break
        seen.append(tuple(sorted(t.hyperparameters.values.items())))
        _finish(o, t, 0.2)
    assert len(seen) == len(set(seen)) == 144
    after = json.loads((tmp_path / "p" / f"trial_{a.trial_id}" / "trial.json").read_text())
    assert after == before  # a finished trial is never rewritten

    sub = oracle("sub", subset={"k1": [16], "dropout": [0.5]}, max_trials=5)
    got = []
    while (t := sub.create_trial("w")).status != "STOPPED":
        got.append(t.hyperparameters.values)
        _finish(sub, t, 0.0)
    assert len(got) == 5 and all(v["k1"] == 16 and v["dropout"] == 0.5 for v in got)


# ----------------------------------------------------------------------------- searches
@pytest.mark.slow  # a whole 4-point search, twice
def test_four_point_search_writes_results(data, tmp_path, capsys):
    path = small_config(tmp_path, data, "four")
    assert cli_main(["tune", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "four: 4 of 4 grid points completed; top 4 by val_r2 (max)" in out
    project = tmp_path / "runs" / "four"
    table = pd.read_csv(project / "trials.tsv", sep="\t", dtype={"trial_id": str})
    assert len(table) == 4 and set(table["status"]) == {"COMPLETED"}
    assert {"k1", "kernel_length", "objective", "epochs", "best_epoch", "seconds",
            "val_r2"} <= set(table.columns)
    assert sorted(zip(table["k1"], table["kernel_length"])) == [(2, 5), (2, 9), (4, 5), (4, 9)]
    assert (table["epochs"] <= 2).all() and (table["seconds"] > 0).all()
    assert (project / "grid.png").stat().st_size > 10_000
    best = json.loads((project / "best_hyperparameters.json").read_text())
    assert best["score"] == pytest.approx(table["objective"].max())
    model = keras.models.load_model(project / "best_model.keras")
    assert sorted(t.name for t in model.inputs) == ["epigenome", "sequence"]
    # a re-run finds nothing left to do and leaves the trials as they were
    assert cli_main(["tune", "--config", str(path)]) == 0
    again = pd.read_csv(project / "trials.tsv", sep="\t", dtype={"trial_id": str})
    pd.testing.assert_frame_equal(table, again)
    # the last point searched alone scores what it scored after the other three: one
    # training pipeline shared by a process's trials carried its shuffle order on (H5)
    assert cli_main(["tune", "--config", str(path), "--subset", "k1=4",
                     "--subset", "kernel_length=9", "tuning.project_name=alone"]) == 0
    alone = pd.read_csv(tmp_path / "runs" / "alone" / "trials.tsv", sep="\t")
    last = table.set_index(["k1", "kernel_length"]).loc[(4, 9), "objective"]
    assert alone["objective"].item() == pytest.approx(last, rel=1e-6)


@pytest.mark.slow  # tuner processes
def test_sigkill_mid_trial_then_resume(data, tmp_path):
    path = small_config(tmp_path, data, "killed")
    project = tmp_path / "runs" / "killed"
    proc = subprocess.Popen(cli("--config", str(path)), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            events = run_log(project)
            ended = {e["trial_id"] for e in events if e["event"] == "end"}
            running = [e["trial_id"] for e in events
                       if e["event"] == "start" and e["trial_id"] not in ended]
            if ended and running:
                time.sleep(0.2)  # inside the running trial (each takes seconds)
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the search ended before it could be killed"
    events = run_log(project)
    ended = {e["trial_id"] for e in events if e["event"] == "end"}
    running = [e["trial_id"] for e in events
               if e["event"] == "start" and e["trial_id"] not in ended]
    assert len(running) == 1, "the kill did not land inside a trial"
    killed_id = running[0]
    finished = {k: v for k, v in trial_states(project).items() if v["status"] == "COMPLETED"}
    assert finished and killed_id not in finished
    rows_before = pd.read_csv(project / "trials.tsv", sep="\t", dtype={"trial_id": str})

    # the resume runs in this process: all it resumes from is on disk, and a second
    # interpreter added only its start-up (TensorFlow's import: ~9 CPU-s)
    assert cli_main(["tune", "--config", str(path)]) == 0
    states = trial_states(project)
    assert len(states) == 4 and {s["status"] for s in states.values()} == {"COMPLETED"}
    for tid, state in finished.items():
        assert states[tid] == state  # finished trials unchanged
    points = {tuple(sorted(s["hyperparameters"]["values"].items())) for s in states.values()}
    assert len(points) == 4
    starts = [e["trial_id"] for e in run_log(project) if e["event"] == "start"]
    assert starts.count(killed_id) == 2  # the interrupted trial was re-run ...
    assert all(starts.count(t) == 1 for t in finished)  # ... the finished ones were not
    rows_after = pd.read_csv(project / "trials.tsv", sep="\t", dtype={"trial_id": str})
    pd.testing.assert_frame_equal(
        rows_before[rows_before["trial_id"].isin(finished)].reset_index(drop=True),
        rows_after[rows_after["trial_id"].isin(finished)].reset_index(drop=True))


@pytest.mark.slow  # tuner processes
def test_chief_and_two_workers_on_localhost(data, tmp_path):
    path = small_config(tmp_path, data, "dist", epochs=1)
    project = tmp_path / "runs" / "dist"
    log_path = tmp_path / "launch.log"
    with open(log_path, "w") as fh:
        code = tuning.launch_local(path, [], workers=2, timeout=300,
                                   stdout=fh, stderr=subprocess.STDOUT)
    assert code == 0, log_path.read_text()[-3000:]
    states = trial_states(project)
    assert len(states) == 4 and {s["status"] for s in states.values()} == {"COMPLETED"}
    events = run_log(project)
    starts = [e["trial_id"] for e in events if e["event"] == "start"]
    assert sorted(starts) == sorted(states)  # every trial started exactly once
    values = [tuple(sorted(e["values"].items())) for e in events if e["event"] == "start"]
    assert len(set(values)) == 4  # and no grid point twice
    assert {e["tuner_id"] for e in events} <= {"worker0", "worker1"}
    table = pd.read_csv(project / "trials.tsv", sep="\t", dtype={"trial_id": str})
    assert len(table) == 4 and (project / "best_model.keras").exists()
    assert "dist: 4 of 4 grid points completed" in log_path.read_text()


def test_launcher_stops_the_chief_when_a_worker_dies(data, tmp_path):
    """A worker that dies (here: exits 3 at start-up) stops the chief and the launch."""
    path = small_config(tmp_path, data, "fails")
    pid_file = tmp_path / "chief.pid"
    fake = tmp_path / "python.sh"
    fake.write_text(f"""#!/bin/sh
if [ "$KERASTUNER_TUNER_ID" = worker0 ]; then sleep 2; exit 3; fi
echo $$ > {pid_file}
exec {sys.executable} "$@"
""")
    fake.chmod(0o755)
    t0 = time.monotonic()
    with pytest.raises(KerasgeneError, match=r"worker0 exited with status 3; stopped the others"):
        tuning.launch_local(path, [], workers=1, timeout=120, python=str(fake),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert time.monotonic() - t0 < 60
    chief = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(chief, 0)  # terminated and reaped by the launcher


@pytest.mark.slow  # tuner processes
def test_a_worker_killed_mid_trial_is_restarted_and_the_search_goes_on(data, tmp_path, caplog):
    """SIGKILL one of 2 workers inside a trial: the launcher restarts it with its tuner
    id, it re-runs that trial, the other worker goes on, and the search completes."""
    import threading

    path = small_config(tmp_path, data, "restart")
    project = tmp_path / "runs" / "restart"
    fake = tmp_path / "python.sh"  # the real interpreter, its pid written per tuner id
    fake.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/$KERASTUNER_TUNER_ID.pid\n"
                    f'exec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    killed: dict = {}

    def kill_worker1_in_a_trial():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            events = run_log(project)
            ended = {e["trial_id"] for e in events if e["event"] == "end"}
            mine = [e["trial_id"] for e in events if e["event"] == "start"
                    and e["tuner_id"] == "worker1" and e["trial_id"] not in ended]
            if mine:
                killed["trial"] = mine[0]
                os.kill(int((tmp_path / "worker1.pid").read_text()), signal.SIGKILL)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_worker1_in_a_trial, daemon=True)
    killer.start()
    with open(tmp_path / "launch.log", "w") as fh:
        code = tuning.launch_local(path, [], workers=2, timeout=300, python=str(fake),
                                   stdout=fh, stderr=subprocess.STDOUT)
    killer.join(5)
    assert code == 0 and killed, (tmp_path / "launch.log").read_text()[-3000:]
    states = trial_states(project)
    assert len(states) == 4 and {s["status"] for s in states.values()} == {"COMPLETED"}
    starts = [(e["trial_id"], e["tuner_id"]) for e in run_log(project) if e["event"] == "start"]
    trials = [t for t, _ in starts]
    assert trials.count(killed["trial"]) == 2  # re-run by the restarted worker ...
    assert all(trials.count(t) == 1 for t in states if t != killed["trial"])  # ... only it
    assert starts.count((killed["trial"], "worker1")) == 2
    assert "worker1 was killed (signal 9); restarting it" in caplog.text


@pytest.mark.slow  # three one-trial searches
def test_trials_train_like_a_run(data, tmp_path):
    """A trial ran ``model.fit`` with early stopping alone: ``training.recalibrate_bn`` and
    ``training.init_output_bias`` passed the checks (and named the project) but changed
    nothing — the same objective to the bit — so the grid was ranked under another
    protocol than ``train`` trains by (BatchNorm statistics of dropout-trained batches:
    validation R² below 0 where recalibrated weights scored 0.7). Trials now train through
    the recipe's fit, as runs do."""
    def objective(name: str, **training) -> float:
        path = small_config(tmp_path, data, name)
        cfg = yaml.safe_load(path.read_text())
        cfg["training"].update(training)
        cfg["tuning"]["max_trials"] = 1
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        assert cli_main(["tune", "--config", str(path)]) == 0
        return json.loads((tmp_path / "runs" / name / "best_hyperparameters.json")
                          .read_text())["score"]

    both = objective("both")
    assert objective("no_recalibration", recalibrate_bn=False) != both
    assert objective("no_output_bias", init_output_bias=False) != both
