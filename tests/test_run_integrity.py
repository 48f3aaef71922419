"""Runs are complete or absent; the dataset cache detects corruption; `serve` refuses an
empty repository; `predict` applies the recorded transforms; `training.inputs` reaches
explain, variants, tune and ablate. Tiny real files (run_world.py), in-process CLI."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pysam
import pytest
import yaml
from conftest import cli_error, write_fasta
from run_world import DNASE, write_world

from kerasgene.cli import main
from kerasgene.datasets import Dataset
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io import track_checks as tracks
from kerasgene.train import preprocessing, records, runs

KILLED = ("no trained model (model.keras and checkpoint.keras without run.json: training "
          "was killed, failed or is still running)")


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("run_world")
    return d, write_world(d)


@pytest.fixture(scope="module")
def trained(world):
    """A complete run of the tiny world (DNase with 5 bp regions, WGBS as percent)."""
    d, _ = world
    assert main(["train", "--config", str(d / "run.yaml")]) == 0
    return d / "run"


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    assert main(["export", "--run", str(trained), "--base-dir", str(base), "--name", "toy"]) == 0
    return base


def _config(world, **changes) -> dict:
    _, config = world
    return {**json.loads(json.dumps(config)), **changes}


def _copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("dataset"))
    return to


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _vcf(path: Path, records) -> str:
    """A VCF written by pysam: (chrom, 1-based pos, ref, alt) records."""
    header = pysam.VariantHeader()
    for chrom in dict.fromkeys(r[0] for r in records):
        header.contigs.add(chrom)
    with pysam.VariantFile(str(path), "w", header=header) as vcf:
        for chrom, pos, ref, alt in records:
            vcf.write(vcf.new_record(contig=chrom, start=pos - 1, stop=pos - 1 + len(ref),
                                     alleles=(ref, alt)))
    return str(path)




# ----------------------------------------------------------------------------- complete runs
def test_train_writes_the_completion_record_last(trained):
    record = json.loads((trained / "run.json").read_text())
    assert record["status"] == "complete" and record["model"] == "model.keras"
    assert record["model_bytes"] == (trained / "model.keras").stat().st_size
    assert record["input_names"] == ["sequence", "epigenome"] and record["training_inputs"] is None
    assert records.check_run(trained) == record
    # written after everything else
    newest = max(p.stat().st_mtime_ns for p in trained.iterdir() if p.is_file())
    assert (trained / "run.json").stat().st_mtime_ns == newest
    assert not [p for p in trained.rglob("*") if ".tmp-" in p.name or p.name == "checkpoint.keras"]


def test_evaluate_refuses_another_split_or_other_files_and_changes_nothing(trained, world,
                                                                          tmp_path, capsys):
    """``evaluate --run RUN data.split.seed=7`` re-split the run's dataset on disk and
    scored the model on genes it was trained on, over metrics.json; from another project's
    folder it rebuilt the run's dataset from that folder's files. Both are refused now,
    before anything is rebuilt, re-split or written."""
    d, _ = world
    metrics = (trained / "metrics.json").read_bytes()
    index = (trained / "dataset" / "index.tsv").read_bytes()
    record = json.loads((trained / "run.json").read_text())
    assert record["dataset"]["split"] and record["dataset"]["inputs"] and record["cwd"]
    assert main(["evaluate", "--run", str(trained), "data.split.seed=7"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the model was trained with split" in err
    other = tmp_path / "other"  # another project: the same file names, other values
    shutil.copytree(d, other, ignore=shutil.ignore_patterns("run", "*.yaml"))
    table = pd.read_csv(other / "tpm.tsv", sep="\t")
    table["s1"] = table["s1"].to_numpy()[::-1]
    table.to_csv(other / "tpm.tsv", sep="\t", index=False)
    assert main(["evaluate", "--run", str(trained), f"data_dir={other}"]) == 2
    assert ("the model was trained on other input files (samples[0].expression differ in "
            "size or content") in capsys.readouterr().err
    changed = sorted(p for p in other.iterdir() if p.is_file() and p.suffix != ".fai")
    for path in changed:  # every input file of the other project differs: all are counted
        path.write_bytes(path.read_bytes() + b"\n")
    assert main(["evaluate", "--run", str(trained), f"data_dir={other}"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"the model was trained on other input files \([^()]+, [^()]+, [^()]+ "
                     r"and \d+ more differ in size or content", err), err
    assert err.rstrip().endswith("or train a new run (to predict from other files: kerasgene "
                                 "export, then predict)")
    # another log base scored the model on labels of another scale, silently
    assert main(["evaluate", "--run", str(trained), "data.log_base=10"]) == 2
    assert ("the model was trained on a dataset built with other settings (log_base: 2.0 → "
            "10); nothing was changed") in capsys.readouterr().err
    assert (trained / "metrics.json").read_bytes() == metrics
    assert (trained / "dataset" / "index.tsv").read_bytes() == index
    assert main(["evaluate", "--run", str(trained)]) == 0  # its own settings: as before
    moved = tmp_path / "moved"  # the same files elsewhere: the same data
    shutil.copytree(d, moved, ignore=shutil.ignore_patterns("run", "*.yaml"))
    assert main(["evaluate", "--run", str(trained), f"data_dir={moved}"]) == 0


def test_settings_named_like_files_are_compared():
    """A chromatin target ``H3K4me3.rep1`` changed to ``H3K27ac.rep1`` at ``evaluate``, or
    DeepChrome marks ``H3K4me3.fc`` … reordered, looked like file names (a dot and
    letters) and were not compared: the model was scored against another mark's labels
    (R² −0.015 → −1.65 over metrics.json) or fed its channels permuted, exit 0. Values are
    files by key now (the input fingerprints' names; a track's ``.path``)."""
    from kerasgene.datasets.storage import changed_params

    want = {"target": "H3K4me3.rep1", "targets": {"H3K4me3.rep1": "chromatin/k4.bigWig"},
            "marks": ["H3K4me3.fc", "H3K9me3.fc"],
            "samples": [{"tracks": {"DNase": {"path": "a/dnase.bw", "transform": "neglog10p"}}}]}
    have = {"target": "H3K27ac.rep1", "targets": {"H3K4me3.rep1": "/moved/k4.bigWig"},
            "marks": ["H3K9me3.fc", "H3K4me3.fc"],
            "samples": [{"tracks": {"DNase": {"path": "/b/dnase.bw", "transform": "neglog10p"}}}]}
    files = frozenset({"targets.H3K4me3.rep1", "samples[0].tracks.DNase"})
    assert changed_params(want, have, files=files) == ["marks[0]", "marks[1]", "target"]


def test_training_overrides_on_a_trained_run_are_named_as_unused(trained, caplog):
    """``evaluate --run RUN training.epochs=5`` changed nothing, without a word."""
    with caplog.at_level(logging.WARNING):
        assert main(["evaluate", "--run", str(trained), "training.epochs=5",
                     "model.hparams.l2=0.5"]) == 0
    assert ("training.epochs=5, model.hparams.l2=0.5: not used — the run's model is trained "
            "already (retrain with kerasgene train to change them)") in caplog.text


def test_run_dir_that_is_a_file_is_refused_before_the_dataset_is_read(world, tmp_path,
                                                                      capsys):
    d, _ = world
    (tmp_path / "runfile").write_text("not a run")
    for command in ("prepare", "train"):
        assert main([command, "--config", str(d / "run.yaml"),
                     f"run_dir={tmp_path / 'runfile'}"]) == 2
        assert "run_dir: " in capsys.readouterr().err
    assert (tmp_path / "runfile").read_text() == "not a run"


def test_preprocessing_records_the_transforms_actually_used(trained, world):
    from kerasgene.io.tracks import Track

    d, _ = world
    prep = json.loads((trained / "preprocessing.json").read_text())
    with Track(d / "dnase.bw") as track:
        scale = track.max_value
    assert prep["transforms"] == {
        "DNase": {**DNASE, "max_value": None, "scale_used": {"s1": scale},
                  "scale_chroms": ["chr1", "chr2"]},
        "WGBS": {"name": "percent"}}
    assert prep["track_names"] == ["DNase", "WGBS"] and prep["epigenome_dtype"] == "float16"


def test_killed_training_is_refused_by_every_command(trained, world, tmp_path, capsys):
    """model.keras and checkpoint.keras without run.json: what a kill mid-training leaves."""
    d, _ = world
    run = _copy_run(trained, tmp_path / "killed")
    (run / "run.json").unlink()
    shutil.copy(run / "model.keras", run / "checkpoint.keras")
    before = sorted(p.name for p in run.iterdir())
    base = tmp_path / "models"
    msg = cli_error(capsys, "export", "--run", str(run), "--base-dir", str(base), "--name", "x")
    assert msg == f"{run}: {KILLED}; run `kerasgene train` to completion first"
    assert not base.exists()
    config = ["--config", str(d / "run.yaml"), f"run_dir={run}",
              f"dataset_dir={trained / 'dataset'}"]
    assert KILLED in cli_error(capsys, "evaluate", *config)
    assert KILLED in cli_error(capsys, "explain", *config)
    vcf = _vcf(tmp_path / "v.vcf", [("chr1", 350, "A", "C")])
    assert KILLED in cli_error(capsys, "variants", "--run", str(run), "--vcf", vcf)
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written by any of them


@pytest.mark.parametrize("case, message", [
    ("checkpoint", "the checkpoint of a fit in progress or interrupted, not a trained model"),
    ("temporary", "a temporary file (left by an interrupted save)"),
    ("unrecorded", "no trained model (model.keras and checkpoint.keras without run.json"),
    ("changed", "model.keras: changed since training (size or SHA-256 differs from"),
    ("failed", "run.json: not a completion record (expected status 'complete'"),
])
def test_export_refuses_what_is_not_a_recorded_model(trained, tmp_path, capsys, case, message):
    run = _copy_run(trained, tmp_path / "run")
    target = run
    if case == "checkpoint":
        target = run / "checkpoint.keras"
        shutil.copy(run / "model.keras", target)
    elif case == "temporary":
        target = run / f".model.tmp-{_dead_pid()}-a1b2c3.keras"
        target.write_bytes(b"")  # a kill while saving
    elif case == "unrecorded":
        shutil.copy(run / "model.keras", run / "checkpoint.keras")
        (run / "run.json").unlink()
        target = run / "model.keras"
    elif case == "changed":
        blob = bytearray((run / "model.keras").read_bytes())
        blob[len(blob) // 2] ^= 0xFF  # same size
        (run / "model.keras").write_bytes(bytes(blob))
    elif case == "failed":
        record = json.loads((run / "run.json").read_text())
        (run / "run.json").write_text(json.dumps({**record, "status": "failed"}))
    base = tmp_path / "models"
    assert message in cli_error(capsys, "export", "--run", str(target), "--base-dir", str(base),
                             "--name", "x")
    assert not base.exists()


def test_failed_training_removes_what_it_wrote(trained, world, tmp_path, monkeypatch, caplog):
    """A crash after an epoch (checkpoint.keras and history.csv on disk): a retrain into a
    complete run leaves neither the old run nor the failed attempt; a new run dir is
    removed; stale temporaries of killed runs are cleaned first."""
    from kerasgene.train import recipes

    fit = recipes.fit

    def crash(model, train, valid, cfg, run_dir=None, **kwargs):
        fit(model, train, valid, {**cfg, "epochs": 1}, run_dir, **kwargs)
        assert (Path(run_dir) / "checkpoint.keras").is_file()
        raise RuntimeError("simulated crash after the first epoch")

    monkeypatch.setattr(recipes, "fit", crash)
    old = _copy_run(trained, tmp_path / "old")
    stale = old / f".model.tmp-{_dead_pid()}-abcdef.keras"
    stale.write_bytes(b"")
    config = _config(world, run_dir=str(old), dataset_dir=str(trained / "dataset"))
    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError, match="simulated"):
        runs.train(config)
    assert list(old.iterdir()) == []
    assert "removed 1 temporaries left by killed runs" in caplog.text
    assert "training failed; removed the" in caplog.text
    new = tmp_path / "new"
    with pytest.raises(RuntimeError, match="simulated"):
        runs.train({**config, "run_dir": str(new)})
    assert not new.exists()


def test_record_run_for_a_model_trained_elsewhere(trained, tmp_path):
    run = tmp_path / "hand"
    run.mkdir()
    shutil.copy(trained / "model.keras", run / "model.keras")
    with pytest.raises(InputFileError, match="no trained model"):
        records.check_run(run)
    record = records.record_run(run, task="isegnet")
    assert records.check_run(run) == record and record["task"] == "isegnet"
    with pytest.raises(InputFileError, match="no model file to record"):
        records.record_run(tmp_path, "none.keras")


# ----------------------------------------------------------------------------- dataset cache
def test_prepare_cleans_killed_builds_and_rebuilds_a_corrupted_cache(world, tmp_path, caplog):
    ds_dir = tmp_path / "ds"
    config = _config(world, dataset_dir=str(ds_dir))
    first = runs.prepare(config)
    expression = np.array(first.arrays["expression"])
    dead = tmp_path / f"ds.tmp-{_dead_pid()}-0a1b2c3d"
    dead.mkdir()
    (dead / "sequence.npy").write_bytes(b"\x00" * 100)
    alive = tmp_path / f"ds.tmp-{os.getpid()}-0a1b2c3e"  # another build writing now
    alive.mkdir()
    path = ds_dir / "expression.npy"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01  # the last value's lowest bit: same size, still a valid .npy
    path.write_bytes(bytes(blob))
    with pytest.raises(InputFileError, match=r"expression.npy: contents differ from the "
                                             r"blake2b digest recorded in meta.json"):
        Dataset.open(ds_dir, verify=True)
    with caplog.at_level(logging.WARNING):
        again = runs.prepare(config)
    assert "removed 1 temporary folders of killed builds" in caplog.text
    assert "expression.npy: contents differ" in caplog.text and "rebuilding" in caplog.text
    assert not dead.exists() and alive.exists()
    np.testing.assert_array_equal(again.arrays["expression"], expression)
    Dataset.open(ds_dir, verify=True)  # the rebuilt cache verifies


def test_cache_without_digests_is_rebuilt(world, tmp_path, caplog):
    ds_dir = tmp_path / "ds"
    config = _config(world, dataset_dir=str(ds_dir))
    runs.prepare(config)
    meta = json.loads((ds_dir / "meta.json").read_text())
    for spec in meta["arrays"].values():
        del spec["blake2b"]
    (ds_dir / "meta.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        runs.prepare(config)
    assert "no blake2b digest in meta.json" in caplog.text
    assert "blake2b" in json.loads((ds_dir / "meta.json").read_text())["arrays"]["sequence"]


# ----------------------------------------------------------------------------- serving
def test_serve_refuses_a_repository_without_servable_models(exported, tmp_path, capsys):
    from kerasgene.serving.server import Server

    empty = tmp_path / "empty"
    empty.mkdir()
    serve = ["serve", "--port", "0", "--poll-seconds", "0", "--model-base-path"]
    assert cli_error(capsys, *serve, str(empty)) == (
        f"serve: {empty}: no model folder (expected {empty}/NAME/VERSION/saved_model.pb, "
        "written by `kerasgene export`); pass --allow-empty to start anyway and serve "
        "exports made later")
    (empty / "toy" / ".tmp-export-x1y2" / "1").mkdir(parents=True)  # an unfinished export
    (empty / "toy" / ".tmp-export-x1y2" / "1" / "saved_model.pb").write_bytes(b"")
    assert "no servable version in toy (expected NAME/<integer>/saved_model.pb" in cli_error(
        capsys, *serve, str(empty))
    assert f"serve: {exported / 'toy'} holds version folders itself (1): give its parent" in \
        cli_error(capsys, *serve, str(exported / "toy"))
    broken = tmp_path / "broken"
    (broken / "toy" / "1").mkdir(parents=True)
    (broken / "toy" / "1" / "saved_model.pb").write_bytes(b"not a protobuf")
    assert "no version could be loaded (toy version 1:" in cli_error(capsys, *serve, str(broken))
    server = Server(empty, port=0, poll_seconds=0, allow_empty=True).start()
    server.stop()


def test_predict_applies_the_recorded_transforms(trained, exported, world):
    """The run's DNase used 5 bp regions, not the paper's 20: predictions through the
    server equal the model on the training arrays, and differ from the paper's default."""
    from kerasgene.io.annotation import read_gtf
    from kerasgene.models import load_model
    from kerasgene.serving.client import Client
    from kerasgene.serving.server import Server

    d, _ = world
    dataset = Dataset.open(trained / "dataset")
    x, _ = dataset.arrays_for("all")
    model = load_model(trained / "model.keras")
    expected = model.predict(x, verbose=0)["expression"].reshape(-1)
    genes = {g.id: g for g in read_gtf(d / "genes.gtf")}
    ordered = [genes[i] for i in dataset.index["gene_id"]]
    tracks = {"WGBS": d / "wgbs.bw", "DNase": d / "dnase.bw"}
    from kerasgene.io.tracks import TrackSet

    server = Server(exported, port=0, poll_seconds=0, allow_empty=False).start()
    try:
        with Client(f"127.0.0.1:{server.port}", "toy") as client:
            got = client.predict_genes(ordered, d / "genome.fa", tracks)["expression"]
            constants = client.constants()
            # a TrackSet's own transforms are used: one with the paper's defaults is refused
            with TrackSet({"DNase": (d / "dnase.bw", "neglog10p"),
                           "WGBS": (d / "wgbs.bw", "percent")}) as defaults, \
                    pytest.raises(ConfigError, match=r"track 'DNase' applies NegLog10PValue\("
                                  r"resolution=20.*trained on NegLog10PValue\(resolution=5"):
                client.predict_genes(ordered, d / "genome.fa", defaults)
            with TrackSet({"DNase": (d / "dnase.bw", DNASE),
                           "WGBS": (d / "wgbs.bw", "percent")}) as recorded:
                same = client.predict_genes(ordered, d / "genome.fa", recorded)["expression"]
    finally:
        server.stop()
    np.testing.assert_array_equal(same, got)
    np.testing.assert_allclose(got.reshape(-1), expected, rtol=1e-5, atol=1e-5)
    assert constants["run"]["model_sha256"] == records.check_run(trained)["model_sha256"]
    paper = dataset.arrays_for("all")[0]
    from kerasgene.datasets.windows import extract_regions
    from kerasgene.io.genome import Genome

    with Genome(d / "genome.fa") as genome, TrackSet(
            {"DNase": (d / "dnase.bw", "neglog10p"), "WGBS": (d / "wgbs.bw", "percent")}) as ts:
        paper["epigenome"] = extract_regions(ordered, genome, ts, (40, 20), (20, 20))[1]
    default = model.predict(paper, verbose=0)["expression"].reshape(-1)
    assert np.abs(default - expected).max() > 1e-3  # the default would have been wrong


def test_a_bigbed_track_is_read_from_its_trained_field_at_prediction(world, tmp_path):
    """DNase trained from a narrowPeak bigBed's ``signalValue`` (``value_column``):
    ``predict`` with that bigBed read its default ``score`` (a constant 500 here) and
    predicted from it without a word, and preprocessing.json's ``scale_used`` was the
    score's maximum. Now the run records the field, predict reads it, and the
    predictions are the model's on the training arrays."""
    from real_files import write_bigbed

    from kerasgene.io.annotation import read_gtf
    from kerasgene.models import load_model
    from kerasgene.serving.client import Client
    from kerasgene.serving.server import Server

    d, _ = world
    with pyBigWig.open(str(d / "dnase.bw")) as bw:
        sizes = bw.chroms()
        features = [(c, s, s + 5, float(np.mean(bw.values(c, s, s + 5))))
                    for c, n in sizes.items() for s in range(0, n - 4, 5)]
    write_bigbed(tmp_path / "dnase.bb", sizes, features)
    config = _config(world, run_dir=str(tmp_path / "run"))
    config["data"]["samples"][0]["tracks"]["DNase"] = {
        "path": str(tmp_path / "dnase.bb"), "transform": DNASE, "value_column": "signalValue"}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(tmp_path / "run.yaml")]) == 0
    prep = json.loads((tmp_path / "run" / "preprocessing.json").read_text())
    assert prep["value_columns"] == {"DNase": "signalValue"}
    assert prep["transforms"]["DNase"]["scale_used"] == {
        "s1": pytest.approx(max(f[3] for f in features), rel=1e-6)}  # float32 in the file
    assert main(["export", "--run", str(tmp_path / "run"), "--base-dir", str(tmp_path / "m"),
                 "--name", "bb"]) == 0
    dataset = Dataset.open(tmp_path / "run" / "dataset")
    x, _ = dataset.arrays_for("all")
    expected = load_model(tmp_path / "run" / "model.keras").predict(x, verbose=0)["expression"]
    genes = {g.id: g for g in read_gtf(d / "genes.gtf")}
    server = Server(tmp_path / "m", port=0, poll_seconds=0, allow_empty=False).start()
    try:
        with Client(f"127.0.0.1:{server.port}", "bb") as client:
            got = client.predict_genes([genes[i] for i in dataset.index["gene_id"]],
                                       d / "genome.fa",
                                       {"DNase": tmp_path / "dnase.bb", "WGBS": d / "wgbs.bw"})
    finally:
        server.stop()
    np.testing.assert_allclose(got["expression"].reshape(-1), expected.reshape(-1), rtol=1e-5,
                               atol=1e-5)


def test_predict_warns_when_a_track_is_not_on_the_training_scale(trained, exported, world,
                                                                  tmp_path, caplog):
    """A DNase bigWig of another kind (one pile-up of 10^5 reads, as raw counts over a
    repeat have) is scaled by its own maximum like the training file was, so every value
    came out ~1,000x smaller, and a WGBS file with no data over the genes gave zeros: the
    predictions looked like any others, without a word. The run records the training
    windows' statistics; predict names each track off that scale."""
    from kerasgene.io.annotation import read_gtf
    from kerasgene.io.tracks import write_bigwig
    from kerasgene.serving.client import Client
    from kerasgene.serving.server import Server

    d, _ = world
    dataset = Dataset.open(trained / "dataset")
    train = dataset.gather(dataset.split_indices("train"))["epigenome"]  # < 512 windows
    prep = json.loads((trained / "preprocessing.json").read_text())
    assert prep["track_stats"] == tracks.track_statistics(train, ["DNase", "WGBS"])
    assert prep["track_stats"]["DNase"]["windows"] == len(train) >= 20
    with pyBigWig.open(str(d / "dnase.bw")) as bw:
        sizes = bw.chroms()
        dnase = {c: np.nan_to_num(np.asarray(bw.values(c, 0, n))) for c, n in sizes.items()}
    dnase["chr2"][-1] = 1e5
    write_bigwig(tmp_path / "counts.bw", sizes, dnase)
    far = {c: np.where(np.arange(n) >= n - 100, 50.0, 0.0) for c, n in sizes.items()}
    write_bigwig(tmp_path / "far.bw", sizes, far)  # data only past the last gene
    genes = read_gtf(d / "genes.gtf")
    server = Server(exported, port=0, poll_seconds=0, allow_empty=False).start()
    try:
        with Client(f"127.0.0.1:{server.port}", "toy") as client:
            def predict(**files):
                tracks = {"DNase": d / "dnase.bw", "WGBS": d / "wgbs.bw", **files}
                caplog.clear()
                with caplog.at_level(logging.WARNING):
                    return client.predict_genes(genes, d / "genome.fa", tracks)["expression"]

            same = predict()
            assert "training data" not in caplog.text and "windows" not in caplog.text
            other = predict(DNase=tmp_path / "counts.bw", WGBS=tmp_path / "far.bw")
    finally:
        server.stop()
    assert np.isfinite(other).all() and not np.allclose(other, same)  # valid-looking numbers
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("predict_genes: track 'DNase': mean ") and (
        "x smaller than the training data's" in lines[0]) and "-log10 p-values" in lines[0]
    assert lines[1].startswith("predict_genes: track 'WGBS' is 0 in all 40 windows, where ")


def test_predict_warns_about_a_chromosome_without_signal_and_a_hard_masked_genome(
        trained, exported, world, tmp_path, caplog):
    """A DNase file whose header lists chr2 but holds data on chr1 only gave chr2's genes
    an all-zero channel, and a genome hard-masked like Ensembl's ``dna_rm`` (half the
    bases N, in 300 bp runs) N for sequence: both predicted without a word, the scale
    check of the first chunk (chr1's genes, real sequence) seeing nothing."""
    from kerasgene.io.annotation import read_gtf
    from kerasgene.io.genome import Genome
    from kerasgene.io.tracks import write_bigwig
    from kerasgene.serving.client import Client
    from kerasgene.serving.server import Server

    d, _ = world
    with pyBigWig.open(str(d / "dnase.bw")) as bw:
        sizes = bw.chroms()
        dnase = {c: np.nan_to_num(np.asarray(bw.values(c, 0, n))) for c, n in sizes.items()}
    dnase["chr2"][:] = 0
    write_bigwig(tmp_path / "chr1_only.bw", sizes, dnase)
    with Genome(d / "genome.fa") as genome:
        seqs = {c: genome.fetch(c, 0, n) for c, n in genome.chroms.items()}
    masked = {c: "".join("N" * 300 if (i // 300) % 2 else seq[i : i + 300]
                         for i in range(0, len(seq), 300))[: len(seq)] for c, seq in seqs.items()}
    write_fasta(tmp_path / "genome_rm.fa", masked)
    genes = read_gtf(d / "genes.gtf")  # chr1's first: the first chunk holds them alone
    server = Server(exported, port=0, poll_seconds=0, allow_empty=False).start()
    try:
        with Client(f"127.0.0.1:{server.port}", "toy") as client:
            def warnings(genome="genome.fa", **files):
                caplog.clear()
                with caplog.at_level(logging.WARNING):
                    client.predict_genes(genes, (tmp_path if genome != "genome.fa" else d)
                                         / genome, {"DNase": d / "dnase.bw",
                                                    "WGBS": d / "wgbs.bw", **files},
                                         chunk_size=20)
                return [r.getMessage() for r in caplog.records]

            assert warnings() == []
            chr1_only = warnings(DNase=tmp_path / "chr1_only.bw")
            hard_masked = warnings("genome_rm.fa")
    finally:
        server.stop()
    assert len(chr1_only) == 1 and chr1_only[0].startswith(
        f"predict_genes: {tmp_path / 'chr1_only.bw'} (predict, track DNase): no signal around "
        "any of the 20 genes on 1 of the 2 chromosomes with genes (chr2)"), chr1_only
    assert len(hard_masked) == 1 and "% of the sequence in 40 gene windows is N, against 0.0% " \
        "of the training windows': a hard-masked genome" in hard_masked[0], hard_masked


def test_a_sample_whose_track_is_on_another_scale_is_named_when_building(world, tmp_path,
                                                                         caplog):
    """Two samples whose DNase files are of different kinds (one with a pile-up of 10^5
    reads, scaled ~1,000x smaller by its maximum) were stacked into one dataset, silently:
    one model learnt from one track on two scales."""
    from kerasgene.io.tracks import write_bigwig

    d, config = world
    with pyBigWig.open(str(d / "dnase.bw")) as bw:
        sizes = bw.chroms()
        dnase = {c: np.nan_to_num(np.asarray(bw.values(c, 0, n))) for c, n in sizes.items()}
    dnase["chr2"][-1] = 1e5
    write_bigwig(tmp_path / "counts.bw", sizes, dnase)
    first = config["data"]["samples"][0]
    second = {**first, "name": "s2", "tracks": {**first["tracks"], "DNase": {
        "path": str(tmp_path / "counts.bw"), "transform": DNASE}}}
    data = {**config["data"], "samples": [first, second]}
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump({**config, "data": data, "run_dir": str(tmp_path / "run")}))
    with caplog.at_level(logging.WARNING):
        assert main(["prepare", "--config", str(path)]) == 0
    lines = [r.getMessage() for r in caplog.records if "scale" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(
        "isegnet: sample 's2': track 'DNase': mean "), lines
    assert "x smaller than sample s1's " in lines[0] and "two scales" in lines[0]
    caplog.clear()
    same = {**config, "data": {**data, "samples": [first, {**first, "name": "s2"}]},
            "run_dir": str(tmp_path / "same")}
    path.write_text(yaml.safe_dump(same))
    with caplog.at_level(logging.WARNING):  # files of one kind: nothing to say
        assert main(["prepare", "--config", str(path)]) == 0
    assert "scale" not in caplog.text and (tmp_path / "same" / "dataset").is_dir()


def test_track_scale_comparison():
    rng = np.random.default_rng(0)
    values = rng.gamma(2.0, 0.05, (30, 50, 2))
    stats = tracks.track_statistics(values, ["a", "b"])
    assert stats["a"]["windows"] == 30 and 0 < stats["a"]["mean"] < stats["a"]["p99"]
    assert stats["a"]["nonzero"] == 1.0
    assert tracks.scale_mismatches(stats, stats) == []
    # 4x (another cell type) passes; 6x is named, as is a 99th percentile alone
    four = tracks.track_statistics(values * [4, 1], ["a", "b"])
    assert tracks.scale_mismatches(stats, four) == []
    six = tracks.track_statistics(values * [1, 6], ["a", "b"])
    assert [m[:30] for m in tracks.scale_mismatches(stats, six)] == [
        "track 'b': mean 0.595 over 30 "]
    spiky = values.copy()
    spiky[:, :, 0] = 0
    spiky[:, 0, 0] = 10.0  # the same mean as a's, all of it in 2 % of the values
    assert "99th percentile" in tracks.scale_mismatches(
        stats, tracks.track_statistics(spiky, ["a", "b"]))[0]
    few = tracks.track_statistics(values[:19] * 100, ["a", "b"])
    assert tracks.scale_mismatches(stats, few) == []  # too few windows to compare
    with pytest.raises(ValueError, match=r"expected \(n, length, 3\) values"):
        tracks.track_statistics(values, ["a", "b", "c"])


def test_old_export_without_transforms_warns_and_a_gap_is_an_error(caplog):
    from kerasgene.serving.gene_inputs import recorded_transforms

    with caplog.at_level(logging.WARNING):
        assert recorded_transforms(None, ["DNase", "WGBS"]) == {"DNase": "neglog10p",
                                                                 "WGBS": "percent"}
    assert "records no track transforms" in caplog.text and "DNase, WGBS" in caplog.text
    with pytest.raises(ConfigError, match=r"transforms record no \['WGBS'\]"):
        recorded_transforms({"DNase": None}, ["DNase", "WGBS"])
    assert recorded_transforms({"DNase": {**DNASE, "scale_used": {"s1": 3.0}}}, ["DNase"]) == {
        "DNase": DNASE}


# ----------------------------------------------------------------------------- training.inputs
@pytest.fixture(scope="module")
def dnase_run(world, trained, tmp_path_factory):
    """A run trained on the sequence and the DNase track only (an ablation-style run)."""
    d, _ = world
    run = tmp_path_factory.mktemp("dnase") / "run"
    assert main(["train", "--config", str(d / "run.yaml"), f"run_dir={run}",
                 f"dataset_dir={trained / 'dataset'}",
                 "training.inputs={epigenome: [DNase]}"]) == 0
    return run


def test_inputs_are_recorded(dnase_run):
    record = records.check_run(dnase_run)
    assert record["training_inputs"] == {"epigenome": ["DNase"]}
    prep = json.loads((dnase_run / "preprocessing.json").read_text())
    assert prep["track_names"] == ["DNase"] and list(prep["transforms"]) == ["DNase"]
    assert prep["input_shapes"]["epigenome"] == [100, 1]


def test_explain_and_variants_feed_the_run_its_inputs(dnase_run, world, trained, tmp_path,
                                                      capsys):
    d, _ = world
    out = tmp_path / "explain"
    assert main(["explain", "--run", str(dnase_run), "--out", str(out), "--analyses",
                 "ig", "--n-steps", "8", "--max-examples", "4", "--gene-plots", "0",
                 "--split", "all"]) == 0
    header = (out / "ig_profiles.tsv").read_text().splitlines()[0].split("\t")
    assert "DNase_mean" in header and "WGBS_mean" not in header
    gene = Dataset.open(trained / "dataset").index.iloc[0]
    pos = int(gene.tss) + 1 if gene.strand == "+" else int(gene.tts) + 1
    with pysam.FastaFile(str(d / "genome.fa")) as fa:
        ref = fa.fetch(gene.chrom, pos - 1, pos)
    vcf = _vcf(tmp_path / "one.vcf", [(gene.chrom, pos, ref, "ACGT"[("ACGT".index(ref) + 1) % 4])])
    table = tmp_path / "effects.tsv"
    assert main(["variants", "--run", str(dnase_run), "--vcf", vcf, "--out", str(table)]) == 0
    import pandas as pd

    effects = pd.read_csv(table, sep="\t")
    assert (effects["status"] == "ok").all() and effects["gene_id"].iloc[0] == gene.gene_id
    capsys.readouterr()


def test_an_interrupted_explain_leaves_its_folder_as_it_was(dnase_run, tmp_path, monkeypatch,
                                                           capsys):
    """Ctrl-C after IG wrote its files: the --out folder holds what it held before (the
    user's own file; nothing when it did not exist), no temporary is left; a later
    complete call adds its files beside the user's."""
    import kerasgene.explain.analyses as A

    argv = ["explain", "--run", str(dnase_run), "--analyses", "ig", "--n-steps", "4",
            "--max-examples", "2", "--gene-plots", "0", "--split", "all"]
    real_ig = A.explain_isegnet_ig

    def interrupted_after_ig(model, dataset, out, *args, **kwargs):
        real_ig(model, dataset, out, *args, **kwargs)
        assert (out / "ig_summary.tsv").is_file()
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(A, "explain_isegnet_ig", interrupted_after_ig)
        assert main([*argv, "--out", str(tmp_path / "new")]) == 130
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "notes.txt").write_text("keep")
        assert main([*argv, "--out", str(mine)]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "kerasgene explain: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert main([*argv, "--out", str(mine)]) == 0
    assert {"notes.txt", "ig_summary.tsv", "explain.json"} <= {p.name for p in mine.iterdir()}
    assert (mine / "notes.txt").read_text() == "keep"
    capsys.readouterr()


def test_a_retrain_names_the_kept_analyses_and_explain_drops_the_old_models_files(
        world, trained, tmp_path, caplog, capsys):
    """Retraining keeps RUN/explain/ and says its files are the previous model's; the
    next explain there removes the files of that model it does not write again (a gene
    plot), keeps the user's own, and records the model and its files in explain.json."""
    d, _ = world
    run = tmp_path / "run"
    train = ["train", "--config", str(d / "run.yaml"), f"run_dir={run}",
             f"dataset_dir={trained / 'dataset'}"]
    explain = ["explain", "--run", str(run), "--analyses", "ig", "--n-steps", "4",
               "--max-examples", "2", "--split", "all"]
    assert main(train) == 0
    assert main([*explain, "--gene-plots", "1"]) == 0
    old_plots = {p.name for p in (run / "explain").glob("gene_*.png")}
    assert old_plots
    (run / "explain" / "notes.txt").write_text("mine")
    assert main([*train, "seed=1"]) == 0
    assert ("; kept explain/: analyses of the previous model — rerun them for the new one"
            in caplog.text)
    caplog.clear()
    assert main([*explain, "--gene-plots", "0"]) == 0
    files = {p.name for p in (run / "explain").iterdir()}
    assert not files & old_plots and (run / "explain" / "notes.txt").read_text() == "mine"
    assert (f"removed {len(old_plots)} files that an earlier explain wrote for another model "
            f"(of {run}: retrained since, or another run) and this one did not write again "
            f"({', '.join(sorted(old_plots))})" in caplog.text)
    summary = json.loads((run / "explain" / "explain.json").read_text())
    assert summary["model_sha256"] == records.check_run(run)["model_sha256"]
    assert summary["files"] == sorted(files - {"notes.txt"})
    caplog.clear()
    assert main([*explain, "--gene-plots", "0"]) == 0  # the same model: nothing removed
    assert "another model" not in caplog.text
    (run / "explain" / "explain.json").write_text("{trunc")  # unreadable: replaced, said
    assert main([*explain, "--gene-plots", "0"]) == 0
    assert ("the summary of an earlier explain is not valid JSON" in caplog.text
            and "it is replaced, the folder's other files kept" in caplog.text)
    assert json.loads((run / "explain" / "explain.json").read_text())["model_sha256"]
    capsys.readouterr()


def test_variants_refuse_a_model_that_reads_no_dna(trained, world, tmp_path, capsys):
    import keras

    run = tmp_path / "epi_only"
    run.mkdir()
    config = _config(world, run_dir=str(run), dataset_dir=str(trained / "dataset"),
                     training={"inputs": {"sequence": False, "epigenome": ["DNase"]}})
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    x = keras.Input((100, 1), name="epigenome")
    keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(x))).save(run / "model.keras")
    records.record_run(run, training_inputs=config["training"]["inputs"], input_names=["epigenome"])
    vcf = _vcf(tmp_path / "v.vcf", [("chr1", 350, "A", "C")])
    assert "the model was trained without 'sequence'" in cli_error(
        capsys, "variants", "--run", str(run), "--vcf", vcf)
    assert not (run / "variants").exists()


def test_tune_and_ablate_honour_training_inputs(world, trained, tmp_path, capsys):
    from kerasgene import tuning
    from kerasgene.explain.ablation import choose_subsets

    d, _ = world
    config = _config(world, dataset_dir=str(trained / "dataset"),
                     training={"epochs": 1, "inputs": {"sequence": False,
                                                        "epigenome": ["DNase"]}},
                     model={"name": "isegnet", "hparams": {"k1": 2, "kernel_length": 4,
                                                           "merge_filters": 4,
                                                           "pointwise_filters": 2,
                                                           "dense_units": [4]}},
                     tuning={"space": {"dropout": [0.1]}, "directory": str(tmp_path / "t")})
    plan = tuning.plan_search(config, validate=True)[0]
    assert plan.dataset.input_names == ["epigenome"]
    assert plan.hypermodel.fixed["inputs"] == ["epigenome"]
    assert plan.hypermodel.fixed["n_tracks"] == 1
    assert plan.identity["dataset"]["inputs"] == {"sequence": False, "epigenome": ["DNase"]}
    assert choose_subsets(["DNase"], None, sequence=False) == {
        "all": {"sequence": False, "epigenome": ["DNase"]},
        "DNase only": {"sequence": False, "epigenome": ["DNase"]}}
    out = tmp_path / "ablation"
    msg = cli_error(capsys, "ablate", "--config", str(d / "run.yaml"),
                 f"dataset_dir={trained / 'dataset'}", "training.inputs={sequence: false}",
                 "--subsets", "all,sequence only", "--out", str(out))
    assert msg == ("ablation subsets: unknown ['sequence only']; valid: all, DNase only, "
                   "WGBS only")
    assert not out.exists()


def test_one_transform_per_track_across_samples(world):
    d, _ = world
    samples = [{"name": n, "tracks": {"DNase": {"path": str(d / "dnase.bw"), "transform": t}}}
               for n, t in (("s1", DNASE), ("s2", "neglog10p"))]
    with pytest.raises(ConfigError, match=r"track 'DNase': samples use different transforms"):
        preprocessing.transform_record(samples, "DNase")
    same = preprocessing.transform_record(samples[:1] * 2, "DNase")
    assert same["resolution"] == 5 and same["scale_used"]["s1"] > 0
    moved = [{"name": "s1", "tracks": {"DNase": {"path": str(d / "gone.bw"),
                                                  "transform": "neglog10p"}}}]
    assert preprocessing.transform_record(moved, "DNase")["scale_used"] == {"s1": None}


def test_recorded_scale_is_the_maximum_over_the_datasets_genome(tmp_path):
    """preprocessing.json's ``scale_used`` was each file's maximum over all its
    chromosomes, a contig the genome lacks (ENCODE's chrEBV) included, while the dataset
    divided by the maximum over the genome's chromosomes."""
    write_fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 50})
    bw = pyBigWig.open(str(tmp_path / "d.bw"), "w")
    bw.addHeader([("1", 200), ("chrEBV", 100)])
    bw.addEntries(["1", "chrEBV"], [0, 0], ends=[20, 20], values=[6.0, 900.0])
    bw.close()
    meta = {"params": {}, "inputs": {"fasta": {"path": str(tmp_path / "g.fa"), "size": 1}}}
    genome = preprocessing.genome_record(meta)
    assert genome == ({"chr1": 200}, None)
    samples = [{"name": "s1", "tracks": {"DNase": {"path": str(tmp_path / "d.bw"),
                                                  "transform": "neglog10p"}}}]
    recorded = preprocessing.transform_record(samples, "DNase", genome)
    assert recorded["scale_used"] == {"s1": 6.0} and recorded["scale_chroms"] == ["chr1"]
    assert preprocessing.transform_record(samples, "DNase")["scale_used"] == {"s1": 900.0}


def test_swapped_track_files_are_told_by_their_profiles(small_isegnet_dataset):
    """Two tracks given each other's files are on one scale (−log10 p-values scaled to
    [0, 1]), so the scale check saw nothing and the predictions moved (correlation 0.76 to
    0.83 with the right files' on a trained model) without a word. Their positional
    profiles along the window give them away when the two differ (DNase at the TSS,
    H3K36me3 over the gene body); other windows of the right files and the flat tracks
    (WGBS, H3K9me3) raise nothing, and two tracks of one shape (DNase and H3K4me3 in
    these short windows, profiles correlated 0.8) are not told apart."""
    dataset = Dataset.open(small_isegnet_dataset)
    names = dataset.meta["track_names"]
    train = dataset.gather(dataset.split_indices("train")[:512])["epigenome"]
    trained = tracks.track_profiles(train, names)
    other = dataset.gather(dataset.split_indices("valid")[:40])["epigenome"]
    assert tracks.swapped_tracks(trained, tracks.track_profiles(other, names), 40) == []

    def swapped(a: str, b: str, windows: int = 40) -> list[str]:
        i, j = names.index(a), names.index(b)
        x = other.copy()
        x[..., [i, j]] = other[..., [j, i]]
        return tracks.swapped_tracks(trained, tracks.track_profiles(x, names), windows)

    messages = swapped("DNase", "H3K36me3")
    assert [m.split(":")[0] for m in messages] == ["track 'DNase'", "track 'H3K36me3'"], messages
    assert messages[0].startswith("track 'DNase': its mean profile along the 40 windows "
                                  "follows the training data's 'H3K36me3' (correlation ")
    assert swapped("DNase", "H3K36me3", windows=19) == []  # too few windows to judge
    assert swapped("DNase", "H3K4me3") == []


def test_a_sample_with_two_tracks_swapped_is_named_when_building(small_sim, tmp_path, caplog):
    """simA_rep2's DNase and H3K36me3 files given each other's names: one model would learn
    each channel from two marks; the samples' profiles along the window tell it."""
    from kerasgene.datasets import build

    sim = small_sim[0] / "isegnet"
    marks = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")

    def sample(name: str, swap: bool) -> dict:
        files = {t: str(sim / name / f"{t}.bigWig") for t in marks}
        if swap:
            files["DNase"], files["H3K36me3"] = files["H3K36me3"], files["DNase"]
        return {"name": name, "expression": str(sim / "expression_tpm.tsv"),
                "expression_column": name, "tracks": files}

    config = {"gtf": str(small_sim[0] / "genes.gtf"), "fasta": str(small_sim[0] / "genome.fa"),
              "tss_flank": [100, 50], "tts_flank": [50, 50],
              "samples": [sample("simA_rep1", False), sample("simA_rep2", True)]}
    with caplog.at_level(logging.WARNING):
        build("isegnet", config, tmp_path / "swapped", progress=False)
    lines = [r.getMessage() for r in caplog.records if "profile" in r.getMessage()]
    assert [line.split(": its")[0] for line in lines] == [
        "isegnet: sample 'simA_rep2': track 'DNase'",
        "isegnet: sample 'simA_rep2': track 'H3K36me3'"], lines
    assert "follows sample simA_rep1's 'H3K36me3'" in lines[0] and "two marks" in lines[0]
    caplog.clear()
    config["samples"][1] = sample("simA_rep2", False)
    with caplog.at_level(logging.WARNING):  # the replicates' own files: nothing to say
        build("isegnet", config, tmp_path / "right", progress=False)
    assert "profile" not in caplog.text


def test_train_refuses_a_given_dataset_split_otherwise(world, trained, tmp_path):
    """``runs.train(config, dataset=prepare(other))`` with another split seed trained, and
    the run's config.yaml (seed 0) then contradicted its run.json (seed 7): every later
    ``evaluate`` / ``explain`` refused the run. Now refused before anything is written."""
    from kerasgene.config import load_config

    d, _ = world

    config = load_config(d / "run.yaml", [f"run_dir={tmp_path / 'run'}",
                                          f"dataset_dir={tmp_path / 'ds7'}",
                                          "data.split.seed=7"])
    other = runs.prepare(config)
    mine = load_config(d / "run.yaml", [f"run_dir={tmp_path / 'run'}", "data.split.seed=0"])
    with pytest.raises(ConfigError, match=r"is split with seed=7; the config's data.split "
                       r"gives seed=0; expected the dataset prepared from this config"):
        runs.train(mine, dataset=other)
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_dataset_of_another_system(world, tmp_path):
    """``runs.train(isegnet config, dataset=<a DeepRAGE dataset>)`` trained the config's
    linear model on the DeepRAGE pairs — a run whose config.yaml describes iSEGnet files
    (with iSEGnet's CNN it failed in the model builder, and a DeepRAGE config on an iSEGnet
    dataset with a bare ``KeyError: 'regulators'``); now one line names the dataset's
    system, before anything is written."""
    from real_files import write_deeprage_files

    from kerasgene.config import load_config
    from kerasgene.datasets import build

    d, _ = world
    files = write_deeprage_files(tmp_path)
    pairs = build("deeprage", {**files["cfg"], "split": {"method": "random", "seed": 0}},
                  tmp_path / "pairs", progress=False)
    mine = load_config(d / "run.yaml", [f"run_dir={tmp_path / 'run'}", "data.split.seed=0"])
    with pytest.raises(ConfigError, match=r"pairs was prepared for system 'deeprage' \(DeepRAGE"
                       r".*the config's system 'isegnet' reads a dataset of its own"):
        runs.train(mine, dataset=pairs)
    assert not (tmp_path / "run").exists()


def test_numpy_numbers_in_a_config_and_a_run_folder_for_a_model(trained):
    """From a notebook: ``seed=np.int64(3)`` was refused as not an integer, and
    ``load_model(RUN_DIR)`` said "no such model file" of a folder that exists."""
    from kerasgene.config import Spec
    from kerasgene.models import load_model

    assert Spec("int", min=0).accepts(np.int64(3)) and not Spec("int").accepts(np.bool_(True))
    assert Spec("number").accepts(np.float32(0.5)) and not Spec("number").accepts(np.nan)
    with pytest.raises(InputFileError, match=rf"a folder, not a model file .*; expected "
                       rf"{trained / 'model.keras'}$"):
        load_model(trained)
