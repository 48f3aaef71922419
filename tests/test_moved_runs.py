"""A trained run whose folder or input files change after training: copied or moved run
folders named through their own config.yaml, a dataset index edited by hand, an input
file edited where its fingerprint does not look. Tiny real files (run_world.py),
in-process CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from run_world import write_world

from kerasgene.cli import main

COPIED = "the run was copied or moved, or its relative run_dir resolves from another working"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A complete run of the tiny world (absolute paths in its config.yaml)."""
    d = tmp_path_factory.mktemp("moved_world")
    write_world(d)
    assert main(["train", "--config", str(d / "run.yaml")]) == 0
    return d / "run"


def _snapshot(run: Path) -> dict[str, bytes]:
    return {n: (run / n).read_bytes() for n in ("run.json", "metrics.json", "model.keras")}


def test_a_copied_runs_config_names_the_copy_or_is_refused(trained, tmp_path, capsys):
    """``evaluate --config COPY/config.yaml`` evaluated the original run (its run_dir) and
    rewrote the original's metrics.json, exit 0; ``train --config COPY/config.yaml``
    retrained the original. Both are refused now, naming ``--run COPY`` /
    ``run_dir=COPY``; an explicit run_dir override, and ``--run COPY``, read the copy."""
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    before = _snapshot(trained)
    assert main(["evaluate", "--config", str(copy / "config.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and COPIED in err and f"expected --run {copy}" in err
    assert main(["train", "--config", str(copy / "config.yaml")]) == 2
    err = capsys.readouterr().err
    assert COPIED in err and f"expected run_dir={copy} to retrain that run" in err
    assert main(["ablate", "--config", str(copy / "config.yaml")]) == 2  # into the original's
    assert f"expected run_dir={copy} to ablate that run" in capsys.readouterr().err
    assert _snapshot(trained) == before and not (trained / "ablation").exists()
    (copy / "metrics.json").unlink()
    assert main(["evaluate", "--config", str(copy / "config.yaml"), f"run_dir={copy}"]) == 0
    assert (copy / "metrics.json").is_file() and _snapshot(trained) == before
    assert main(["evaluate", "--run", str(copy)]) == 0


def test_a_moved_runs_config_is_refused_not_run_dir_not_found(trained, tmp_path, capsys):
    """The run moved away (its config.yaml's run_dir gone): ``runs/x: run directory not
    found`` named the old folder only; now the same error as a copy, naming the new one."""
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(trained, moved, ignore=shutil.ignore_patterns("dataset"))
    config = yaml.safe_load((moved / "config.yaml").read_text())
    config["run_dir"] = str(tmp_path / "gone")
    (moved / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["explain", "--config", str(moved / "config.yaml"), "--analyses", "ig"]) == 2
    assert f"{COPIED} directory; expected --run {moved}" in capsys.readouterr().err


def test_a_hand_edited_dataset_index_is_refused(trained, tmp_path, capsys):
    """index.tsv of the run's dataset edited (train and test swapped): the cached dataset
    was reused and the model scored on its own training genes (R² −0.41 → −4.1),
    metrics.json rewritten, exit 0. Refused now; deleting the dataset rebuilds it."""
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    index = pd.read_csv(copy / "dataset" / "index.tsv", sep="\t")
    index["split"] = index["split"].replace({"train": "test", "test": "train"})
    index.to_csv(copy / "dataset" / "index.tsv", sep="\t", index=False)
    metrics = (copy / "metrics.json").read_bytes()
    assert main(["evaluate", "--run", str(copy)]) == 2
    err = capsys.readouterr().err
    assert (f"{copy / 'dataset' / 'index.tsv'} differs from the one the model was trained "
            "with (its examples or their train/valid/test sets were edited)") in err
    assert (copy / "metrics.json").read_bytes() == metrics
    shutil.rmtree(copy / "dataset")
    assert main(["evaluate", "--run", str(copy)]) == 0
    assert json.loads((copy / "metrics.json").read_text())["test"] == \
        json.loads(metrics)["test"]


def test_an_input_edited_past_its_fingerprint_is_refused(tmp_path, capsys):
    """A TPM table over 2 MiB (a wide notes column) with one value tripled in its middle,
    at the same size: the fingerprint (size, first and last MiB) matched the run's, the
    dataset was rebuilt (new mtime) with the new labels and scored, exit 0."""
    config = write_world(tmp_path)
    table = pd.read_csv(tmp_path / "tpm.tsv", sep="\t")
    table.insert(1, "notes", "x" * 60_000)
    table["s1"] = table["s1"].map(lambda v: f"{v:.6f}")
    table.to_csv(tmp_path / "tpm.tsv", sep="\t", index=False)
    assert main(["train", "--config", str(tmp_path / "run.yaml")]) == 0
    path = tmp_path / "tpm.tsv"
    lines = path.read_text().splitlines(keepends=True)
    gene, notes, value = lines[20].rstrip("\n").split("\t")
    tripled = f"{float(value) * 3:.6f}"[: len(value)].ljust(len(value), "0")
    lines[20] = f"{gene}\t{notes}\t{tripled}\n"
    size = path.stat().st_size
    path.write_text("".join(lines))
    assert path.stat().st_size == size > 2 << 20 and tripled != value
    run = Path(config["run_dir"])
    metrics = (run / "metrics.json").read_bytes()
    assert main(["evaluate", "--run", str(run)]) == 2
    assert (f"the dataset {run / 'dataset'} differs from the one the model was trained on "
            "(expression.npy)") in capsys.readouterr().err
    assert (run / "metrics.json").read_bytes() == metrics


def test_a_runs_preprocessing_json_deleted_or_edited_is_refused(trained, tmp_path, capsys):
    """preprocessing.json deleted: ``export`` wrote a servable without its constants
    (predict then applied the paper's default transforms, not the run's 5 bp DNase
    regions), exit 0; its track order edited: exported as given (predict feeds DNase as
    WGBS). Both are refused now, like a changed model.keras."""
    run = shutil.copytree(trained, tmp_path / "run", ignore=shutil.ignore_patterns("dataset"))
    prep = run / "preprocessing.json"
    constants = json.loads(prep.read_text())
    prep.unlink()
    base = tmp_path / "models"
    assert main(["export", "--run", str(run), "--base-dir", str(base), "--name", "m"]) == 2
    assert (f"{prep}: missing, but {run / 'run.json'} records it; restore the file, or "
            "retrain") in capsys.readouterr().err
    prep.write_text(json.dumps({**constants, "track_names": constants["track_names"][::-1]}))
    assert main(["export", "--run", str(run), "--base-dir", str(base), "--name", "m"]) == 2
    assert f"{prep}: changed since training (SHA-256 differs from" in capsys.readouterr().err
    assert not base.exists()
    shutil.copyfile(trained / "preprocessing.json", prep)
    assert main(["export", "--run", str(run), "--base-dir", str(base), "--name", "m"]) == 0


def _rewrite_array(dataset: Path, name: str, change) -> None:
    """Replace ``name.npy`` of a dataset by ``change(values)``, its meta.json digest with
    it (a dataset as another build made it)."""
    from kerasgene.datasets.base import file_digest

    path = dataset / f"{name}.npy"
    np.save(path, change(np.load(path)))
    meta = json.loads((dataset / "meta.json").read_text())
    meta["arrays"][name]["blake2b"] = file_digest(path)
    (dataset / "meta.json").write_text(json.dumps(meta))


def test_a_rebuild_differing_in_the_last_bits_is_the_same_data(trained, tmp_path, capsys):
    """A rebuild on another CPU (numpy's SIMD ``log``) may differ from the training's
    arrays in their last bits: still the run's data (compared by sketch, not by digest);
    two labels swapped are not."""
    copy = shutil.copytree(trained, tmp_path / "copy")
    _rewrite_array(copy / "dataset", "expression",
                   lambda y: np.nextafter(y, np.float32(np.inf)))
    assert main(["evaluate", "--run", str(copy)]) == 0
    capsys.readouterr()
    _rewrite_array(copy / "dataset", "expression", lambda y: y[[1, 0, *range(2, len(y))]])
    assert main(["evaluate", "--run", str(copy)]) == 2
    assert "differs from the one the model was trained on (expression.npy)" in \
        capsys.readouterr().err


def test_moved_data_of_an_absolute_data_dir_names_data_dir(trained, tmp_path, monkeypatch,
                                                           capsys):
    """Data files gone from an absolute ``data_dir`` (moved, another machine), command run
    from another folder: the hint said ``run the command there`` (the folder the run was
    trained from), which an absolute data_dir does not depend on."""
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", "--run", str(trained), f"data_dir={tmp_path / 'gone'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run the command there" not in err
    assert (f"(the run's config reads its data files from data_dir {tmp_path / 'gone'}; if "
            "they moved, give their folder: data_dir=FOLDER)") in err


def test_a_moved_ablation_sub_run_reads_the_moved_dataset(trained, tmp_path, capsys):
    """An ablation sub-run's config.yaml names its parent's dataset (``dataset_dir``):
    after the parent was moved, ``evaluate --run MOVED/ablation/all`` rebuilt that dataset
    at the old path, a folder outside the run. It reads the moved one now."""
    parent = shutil.copytree(trained, tmp_path / "parent")
    assert main(["ablate", "--config", str(parent / "config.yaml"), f"run_dir={parent}",
                 "--subsets", "all"]) == 0
    capsys.readouterr()
    moved = shutil.move(parent, tmp_path / "moved")
    assert main(["evaluate", "--run", str(Path(moved) / "ablation" / "all"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test"]
    assert not parent.exists()
