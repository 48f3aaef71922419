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
    assert "shuffled labels -0.012 ± 0.004" in table
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
