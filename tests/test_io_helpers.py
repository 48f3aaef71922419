"""kerasgene._io: atomic writes leave the old file or the new one, never a partial one."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasgene import _io


def test_write_json_plain_types(tmp_path):
    path = tmp_path / "sub" / "m.json"
    _io.write_json(path, {"a": np.float32(1.5), "b": np.arange(3), "c": (tmp_path, 1)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": [str(tmp_path), 1]}
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]


def test_failed_write_keeps_old_file_and_removes_temporary(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        _io.write_atomic(path, broken)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.tsv"]


def test_temporary_keeps_suffix_and_folders_are_replaced(tmp_path):
    tmp = _io.temporary_name(tmp_path / "model.keras")
    assert tmp.suffix == ".keras" and tmp.name.startswith(".model.tmp-")
    assert _io.is_temporary(tmp) and not _io.is_temporary(tmp_path / "model.keras")
    target = tmp_path / "version"
    (target / "old").mkdir(parents=True)
    with _io.atomic_path(target) as d:
        (d / "new").mkdir(parents=True)
    assert [p.name for p in target.iterdir()] == ["new"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".model.tmp-{dead}-abc123.keras"
    stale.write_bytes(b"")
    folder = tmp_path / f"dataset.tmp-{dead}-deadbeef"
    folder.mkdir()
    live = tmp_path / f".metrics.tmp-{os.getpid()}-abc123.json"
    live.write_text("{}")
    keep = tmp_path / "model.keras"
    keep.write_bytes(b"x")
    removed = _io.remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale.name, folder.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "model.keras"])


def test_atomic_path_removes_the_temporaries_of_its_file_left_by_killed_processes(tmp_path,
                                                                                 caplog):
    """A SIGTERMed ``kerasgene impute`` left ``.k4.tmp-PID-….bw``; the next write of
    k4.bw removes it, says so, and keeps a live writer's and other files' temporaries."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    killed = tmp_path / f".k4.tmp-{dead}-abc123.bw"
    killed.write_bytes(b"half")
    live = tmp_path / f".k4.tmp-{os.getpid()}-def456.bw"
    live.write_bytes(b"")
    other = tmp_path / f".k27.tmp-{dead}-abc123.bw"
    other.write_bytes(b"")
    with caplog.at_level("WARNING"), _io.atomic_path(tmp_path / "k4.bw") as tmp:
        tmp.write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["k4.bw", live.name, other.name])
    assert f"removed 1 temporaries of it left by killed processes ({killed.name})" in caplog.text


def test_staged_folder_moves_its_entries_in_and_keeps_the_others(tmp_path):
    target = tmp_path / "explain"
    (target / "logos").mkdir(parents=True)
    (target / "logos" / "old.png").write_text("old")
    (target / "notes.txt").write_text("mine")
    (target / "stale.fai").write_text("stale")
    (target / "table.tsv").write_text("old")
    with _io.staged_folder(target, replaces=["stale.fai"]) as tmp:
        assert tmp.parent == tmp_path and _io.is_temporary(tmp)
        (tmp / "logos").mkdir()
        (tmp / "logos" / "new.png").write_text("new")
        (tmp / "table.tsv").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["explain"]
    assert sorted(p.name for p in target.iterdir()) == ["logos", "notes.txt", "table.tsv"]
    assert [p.name for p in (target / "logos").iterdir()] == ["new.png"]
    assert (target / "table.tsv").read_text() == "new"


def test_staged_folder_removes_the_staging_folders_of_killed_runs(tmp_path, caplog):
    """A SIGKILLed explain or simulate leaves its staging folder; the next run into the
    same folder removes it (its owner is dead), says so, and keeps a live run's."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    killed = tmp_path / f".out.tmp-{dead}-abc123"
    (killed / "sub").mkdir(parents=True)
    live = tmp_path / f".out.tmp-{os.getpid()}-def456"
    live.mkdir()
    other = tmp_path / f".other.tmp-{dead}-abc123"
    other.mkdir()
    with caplog.at_level("WARNING"), _io.staged_folder(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", live.name, other.name])
    assert f"removed 1 staging folder(s) left by killed runs ({killed.name})" in caplog.text


@pytest.mark.parametrize("exists", [True, False])
def test_staged_folder_on_error_leaves_the_folder_as_it_was(tmp_path, exists):
    target = tmp_path / "out"
    if exists:
        target.mkdir()
        (target / "table.tsv").write_text("old")
    with pytest.raises(KeyboardInterrupt), _io.staged_folder(target) as tmp:
        (tmp / "table.tsv").write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == (["out"] if exists else [])
    if exists:
        assert [p.read_text() for p in target.iterdir()] == ["old"]
