"""The demo's printed tables, from a summary (no training): scores with the shuffled
control's mean ± sd, and where the time went per system and phase."""

import pytest

from kerasgene import demo
from kerasgene.demo import format_summary, format_timings

PHASES = {"prepare": {"wall": 3.0, "cpu": 5.0}, "fit": {"wall": 40.0, "cpu": 70.0},
          "evaluate": {"wall": 2.0, "cpu": 3.0}, "control": {"wall": 30.0, "cpu": 50.0},
          "baselines": {"wall": 6.0, "cpu": 9.0}, "ridge": {"wall": 1.0, "cpu": 2.0},
          "random_forest": {"wall": 5.0, "cpu": 7.0}}
SUMMARY = {"seed": 1, "scale": "small", "seconds": {"simulate": {"wall": 20.0, "cpu": 21.0},
                                                    "total": {"wall": 120.0, "cpu": 180.0}},
           "systems": {"isegnet": {"metric": "r2", "test": 0.78, "ceiling": 0.85,
                                   "baselines": {"ridge": 0.5}, "shuffled_control": -0.012,
                                   "shuffled_control_sd": 0.004, "phases": PHASES,
                                   "ceiling_test_examples": 0.83},
                       "chromatin": {"metric": "pearson", "test": 0.8, "ceiling": 0.86,
                                     "baselines": {}, "phases": {"fit": {"wall": 9.0,
                                                                         "cpu": 15.0}},
                                     "binary": {"metric": "auprc", "test": 0.6,
                                                "ceiling": None, "baselines": {},
                                                "phases": {}}}}}


def test_summary_shows_the_control_mean_and_sd():
    table = format_summary(SUMMARY)
    assert "shuffled labels -0.012 ± 0.004;" in table  # a summary without the count
    assert "ceiling on the test examples 0.830 (ratio 0.94)" in table
    assert "chromatin.binary" in table
    # every column starts where its header does, a name longer than "histone_fcn" too
    lines = table.splitlines()
    column = lines[0].index("metric")
    assert all(line[column:].split()[0] in ("metric", "r2", "pearson", "auprc")
               and line[column - 1] == " " for line in lines), table


def test_timings_sum_the_phases_and_list_each_baseline():
    lines = format_timings(SUMMARY).splitlines()
    assert lines[0].split() == ["system", "prepare", "fit", "evaluate", "control",
                                "baselines", "total"]
    isegnet = next(line for line in lines if line.startswith("isegnet"))
    assert isegnet.split()[-2:] == ["81", "(137)"]  # 3 + 40 + 2 + 30 + 6 (CPU 5+70+3+50+9)
    assert "ridge 1 (2), random_forest 5 (7)" in lines[lines.index(isegnet) + 1]
    assert any(line.startswith("chromatin.binary") for line in lines)
    assert lines[-2].split() == ["simulate", "20", "(21)"]
    assert lines[-1].split() == ["total", "120", "(180)"]


@pytest.mark.parametrize("cores, jobs", [(None, 1), (1, 1), (2, 2), (3, 3), (16, 4)])
def test_demo_trains_one_system_per_core_by_default(cores, jobs, monkeypatch):
    monkeypatch.setattr(demo.os, "cpu_count", lambda: cores)
    assert demo.default_jobs() == jobs


def test_each_demo_entry_is_a_job_and_the_further_entries_come_last():
    """`--jobs N` hands out a system's own run(s) first and its further entries (the
    chromatin binary task) after every system's, so that short jobs fill the end."""
    assert demo._entries(["isegnet", "deeprage", "chromatin", "histone_fcn"]) == [
        ("isegnet", None), ("deeprage", None), ("chromatin", None), ("histone_fcn", None),
        ("chromatin", "binary")]
    assert demo._entries(["chromatin"]) == [("chromatin", None), ("chromatin", "binary")]


# ----------------------------------------------------------- the demo's processes stopping
SYSTEMS = ["isegnet", "deeprage", "chromatin", "histone_fcn"]


def _run_in_processes(tmp_path, behaviour: dict, finished=None):
    import demo_entries

    demo._run_systems_in_processes(SYSTEMS, tmp_path, tmp_path, 0, behaviour, 2,
                                   finished or (lambda name, row: None),
                                   entry=demo_entries.entry)


def _no_process_left_and_nothing_started(tmp_path) -> None:
    import multiprocessing
    import time

    assert not multiprocessing.active_children()
    time.sleep(1.5)  # a process still running would write its marker now
    assert not list(tmp_path.glob("*.started"))


@pytest.mark.slow  # starts processes
def test_a_failed_entry_stops_every_process_at_once(tmp_path):
    """The first failure is raised at once: the entry still running (60 s) and those not
    started are stopped, nothing more starts (each entry writes its marker after 1 s)."""
    import time

    from kerasgene.errors import KerasgeneError

    t0 = time.monotonic()
    with pytest.raises(KerasgeneError, match="isegnet: a planted failure"):
        _run_in_processes(tmp_path, {"isegnet": "fail", "deeprage": "sleep"})
    assert time.monotonic() - t0 < 30
    _no_process_left_and_nothing_started(tmp_path)


@pytest.mark.slow  # starts processes
def test_a_killed_entry_process_is_an_error_naming_what_did_not_finish(tmp_path):
    from kerasgene.errors import KerasgeneError

    with pytest.raises(KerasgeneError, match=r"ended abruptly .*not finished: .*isegnet"):
        _run_in_processes(tmp_path, {"isegnet": "kill", "deeprage": "sleep"})
    _no_process_left_and_nothing_started(tmp_path)


@pytest.mark.slow  # starts processes
def test_sigterm_stops_the_demo_and_its_processes(tmp_path):
    """SIGTERM (a job scheduler, `timeout`) or Ctrl-C: every process stopped at once, a
    one-line error; the systems that finished were reported."""
    import os
    import signal
    import threading

    from kerasgene.errors import KerasgeneError

    done = []
    timer = threading.Timer(4.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(KerasgeneError, match="demo: interrupted; stopped its processes"):
            _run_in_processes(tmp_path, dict.fromkeys(SYSTEMS[1:], "sleep"),
                              lambda name, row: done.append(name))
    finally:
        timer.cancel()
    assert done == ["isegnet"]
    for p in tmp_path.glob("*.started"):
        p.unlink()  # isegnet's, and the sleepers' written before the signal
    _no_process_left_and_nothing_started(tmp_path)


def test_sigterm_on_one_process_says_that_no_system_finished(tmp_path, monkeypatch):
    """One system (no processes): SIGTERM was the bare signal (exit -15, no message) and
    the interrupted message named a summary.json that did not exist; an earlier demo's
    summary.json is not left to look like this one's."""
    import json
    import os
    import signal
    import threading
    import time

    from kerasgene.errors import KerasgeneError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "truth.json").write_text(json.dumps(
        {"generator": {"seed": 0, "scale": "small"}, "tasks": {}}))
    (tmp_path / "summary.json").write_text("{}")  # an earlier demo's
    monkeypatch.setattr(demo, "run_system", lambda *a, **k: time.sleep(30))
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(KerasgeneError) as err:
            demo.run_demo(tmp_path, names=["histone_fcn"], jobs=1)
    finally:
        timer.cancel()
    assert str(err.value) == "demo: interrupted; stopped its processes (no system had finished)"
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("n, shown", [(3, "-0.012 ± 0.004 (3 permutations)"),
                                      (1, "-0.012 (1 permutation)")])
def test_the_control_states_its_permutations_and_one_has_no_sd(n, shown):
    row = {**SUMMARY["systems"]["isegnet"], "shuffled_control_permutations": n}
    table = format_summary({**SUMMARY, "systems": {"isegnet": row}})
    assert f"shuffled labels {shown};" in table
