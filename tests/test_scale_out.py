"""Scale-out for real (issue #15): ``training.strategy: multi_worker`` with two local
processes over 127.0.0.1 (``kerasgene train --workers 2``), each reading its own shard,
the chief alone writing the run directory, and a killed worker's job resumed from its
backup. Every process started here is ended here (bounded waits, then SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from run_world import write_world

from kerasgene.cli.train import launched_peer
from kerasgene.config import load_config
from kerasgene.errors import ConfigError, KerasgeneError
from kerasgene.train import backups, launcher
from kerasgene.train.backups import BACKUP
from kerasgene.train.runs import prepare, train

#: epochs of every run (3 steps of a global batch of 8 each)
EPOCHS = 6
#: seconds a launched 2-worker training may take before the test stops it
LAUNCH_TIMEOUT = 240
#: relative tolerance between the 2-worker run and the 1-process run with the same global
#: batch: every worker shuffles with the same seed and keeps its half of each batch, so the
#: two runs train on the same batches and differ only in float32 summation order (measured:
#: ~1e-6; the linear model has no dropout or BatchNorm, whose per-replica randomness and
#: statistics would add more)
TOLERANCE = 1e-4

def _files(run: Path) -> set[str]:
    return {str(p.relative_to(run)) for p in run.rglob("*") if "dataset" not in p.parts}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny run world with a long-enough linear training, its dataset prepared once
    (``dataset_dir`` shared by the runs), and a 1-process reference run."""
    d = tmp_path_factory.mktemp("scale")
    config = write_world(d)
    config["dataset_dir"] = str(d / "dataset")
    config["training"].update({"epochs": EPOCHS, "patience": 100, "reduce_lr_patience": 100})
    config["run_dir"] = str(d / "single")
    (d / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    prepare(config)
    single = train(load_config(d / "run.yaml"))
    return d, single


def _launch(d: Path, name: str, log: Path, workers: int = 2) -> Path:
    with log.open("ab") as out:
        return launcher.launch_training(d / "run.yaml", [f"run_dir={d / name}"], workers,
                                        timeout=LAUNCH_TIMEOUT, python=sys.executable,
                                        stdout=out, stderr=out)


def test_shards_split_every_batch_of_one_stream(world):
    d, _ = world
    dataset = prepare(load_config(d / "run.yaml"))

    def targets(**kw):
        return [y.numpy() for _, y in dataset.to_tf_dataset("train", 9, shuffle=True, seed=3,
                                                             **kw)]

    whole = targets()
    shards = [targets(shard=(i, 3)) for i in range(3)]
    assert len(whole) == 3 and all(len(s) == len(whole) for s in shards)
    for step, batch in enumerate(whole):  # replicas together: the one-process batch
        together = np.concatenate([s[step] for s in shards])
        assert sorted(together.tolist()) == sorted(batch.tolist())


def test_only_the_task_that_writes_the_run_says_it_trained_it(monkeypatch):
    def peer(config: dict, kind: str, index: int, chief: bool = False) -> str | None:
        cluster = {"worker": ["h:1", "h:2"], **({"chief": ["h:3"]} if chief else {})}
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                    "task": {"type": kind, "index": index}}))
        return launched_peer(config)

    config = {"training": {"strategy": "multi_worker"}}
    assert peer(config, "worker", 0) is None
    assert peer(config, "worker", 1) == "worker 1"
    assert peer(config, "worker", 0, chief=True) == "worker 0"
    assert peer(config, "chief", 0, chief=True) is None
    assert peer({"training": {}}, "worker", 1) is None


def test_idle_spinning_is_off_in_the_suite_and_set_only_before_the_first_op():
    """tests/conftest.py turns it off before TensorFlow's first op and before OpenMP loads,
    as the demo's and the launched workers' processes do; once ops have run the call
    changes TensorFlow's threads no more."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    tf.constant(1.0) + 1.0  # the context runs
    assert context.context().config.experimental.disable_thread_spinning
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # for XGBoost's OpenMP, loaded later
    assert launcher.stop_idle_spinning() is False


@pytest.mark.slow  # worker processes
def test_two_workers_train_like_one_process(world, tmp_path):
    d, single = world
    run = _launch(d, "two", tmp_path / "workers.log")
    assert _files(run) == _files(single)  # the chief's run directory, nothing else
    printed = (tmp_path / "workers.log").read_text()  # worker 0 alone says it wrote the run
    assert printed.count("trained: ") == 1 and "worker 1: trained its share" in printed
    assert not (run / BACKUP).exists()
    one = json.loads((single / "metrics.json").read_text())["test"]
    two = json.loads((run / "metrics.json").read_text())["test"]
    assert two["n"] == one["n"]
    for key in ("r2", "mse"):
        assert two[key] == pytest.approx(one[key], rel=TOLERANCE), key
    curves = [pd.read_csv(r / "history.csv") for r in (single, run)]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(curves[1][key], curves[0][key], rtol=TOLERANCE)


def _fake_backups(run: Path, config: dict, workers: int = 2) -> dict:
    """What a stopped ``workers``-process training of ``config`` leaves in ``run``: the
    chief's fingerprint and a state folder per process. Returns the fingerprint."""
    fingerprint = backups.fingerprint(config, config["training"], "key", workers)
    backups.record(run, fingerprint)
    for i in range(workers):
        (backups.process_dir(run, "worker", i)).mkdir()
        (backups.process_dir(run, "worker", i) / "training_metadata.json").write_text("{}")
    return fingerprint


def test_a_one_process_training_refuses_a_stopped_multi_worker_training(world, tmp_path):
    """Its backups would stay for a later ``--workers`` run to resume into a run that they
    do not belong to; the run directory is left as it was."""
    d, _ = world
    config = load_config(d / "run.yaml", [f"run_dir={tmp_path / 'run'}"])
    _fake_backups(tmp_path / "run", config)
    before = _files(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"backups of a stopped multi-worker training "
                       r"\(worker_0, worker_1\).*--workers 2"):
        train(config)
    assert _files(tmp_path / "run") == before


def test_a_resumed_training_must_have_the_stopped_ones_fingerprint(tmp_path):
    config = {"system": "isegnet", "model": {"name": "isegnet", "hparams": {"k1": 16}},
              "training": {"learning_rate": 0.001, "epochs": 5, "verbose": 2}, "seed": 0}
    stopped = _fake_backups(tmp_path, config)
    backups.check_resume(tmp_path, stopped, multi_worker=True)  # the same: resumes
    shown = {**config, "training": {**config["training"], "verbose": 0}}
    backups.check_resume(tmp_path, backups.fingerprint(shown, shown["training"], "key", 2),
                          multi_worker=True)
    other = {**config, "model": {"name": "isegnet", "hparams": {"k1": 32}}, "seed": 1}
    with pytest.raises(ConfigError, match=r"another config \(model.hparams.k1: 16 -> 32; "
                       r"seed: 0 -> 1\)"):
        backups.check_resume(tmp_path, backups.fingerprint(other, config["training"], "key", 2),
                              True)
    with pytest.raises(ConfigError, match="dataset: \"key\" -> \"rebuilt\"; workers: 2 -> 3"):
        backups.check_resume(tmp_path, backups.fingerprint(config, config["training"], "rebuilt", 3),
                              True)
    for i in range(2):  # each process' emptied folder, then the last one the rest
        (backups.process_dir(tmp_path, "worker", i) / "training_metadata.json").unlink()
        backups.release(backups.process_dir(tmp_path, "worker", i))
        assert (tmp_path / BACKUP).exists() == (i == 0)


def _backed_up_epoch(meta: Path) -> int:
    """Epochs a process has backed up (0 before its first backup or mid-write): Keras'
    ``training_metadata.json`` or the factorised trainer's ``.npz``."""
    try:
        if meta.suffix == ".npz":
            with np.load(meta) as saved:
                return int(json.loads(str(saved["state"]))["epoch"])
        return int(json.loads(meta.read_text()).get("epoch", 0))
    except (OSError, ValueError, KeyError):
        return 0


def _kill_worker_1_after_epoch_2(command: list[str], meta: Path, log: Path) -> None:
    """Start 2 workers of ``command``, SIGKILL worker 1 once ``meta`` shows 2 epochs
    backed up, stop the chief as the launcher does when a worker fails."""
    with log.open("ab") as out:
        procs = launcher.start_workers(command, 2, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while time.monotonic() < deadline and procs["worker1"].poll() is None:
            if _backed_up_epoch(meta) >= 2:
                break
            time.sleep(0.1)
        assert procs["worker1"].poll() is None, "training ended before a worker was killed"
        procs["worker1"].send_signal(signal.SIGKILL)
        procs["worker1"].wait()
    finally:
        launcher.stop_processes(procs)


@pytest.mark.slow  # worker processes
def test_a_killed_worker_resumes_from_its_backup(world, tmp_path):
    d, single = world
    run, log = d / "killed", tmp_path / "workers.log"
    command = launcher.training_command(d / "run.yaml", [f"run_dir={run}"], sys.executable)
    _kill_worker_1_after_epoch_2(command, run / BACKUP / "worker_1" / "training_metadata.json",
                                 log)
    assert not (run / "run.json").exists()
    assert (run / BACKUP / "worker_0").is_dir() and (run / BACKUP / "worker_1").is_dir()
    # another learning rate on one worker would resume these weights: refused, the
    # backups left for the right command (one worker: one interpreter's start-up)
    with pytest.raises(KerasgeneError, match="exited with status 2"), log.open("ab") as out:
        launcher.launch_training(d / "run.yaml", [f"run_dir={run}", "training.learning_rate=0.5"],
                                 1, timeout=LAUNCH_TIMEOUT, python=sys.executable,
                                 stdout=out, stderr=out)
    assert "another config (training.learning_rate: 0.01 -> 0.5; workers: 2 -> 1)" \
        in log.read_text()
    assert (run / BACKUP / "worker_1" / "training_metadata.json").is_file()
    _launch(d, "killed", log)
    assert "resuming from the backup" in log.read_text()
    assert _files(run) == _files(single) and (run / "run.json").is_file()
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and int(history[-1].split(",")[0]) == EPOCHS - 1
    assert len(history) - 1 < EPOCHS  # the resumed fit ran only the epochs not backed up


@pytest.mark.slow  # worker processes
def test_a_killed_factorized_worker_resumes_from_its_backup(small_sim, tmp_path):
    """``kerasgene train`` of DeepRAGE-C on gene × condition blocks with 2 workers: worker
    1 killed after its second epoch, the same command resumes both from their backups and
    trains the remaining epochs. Blocks of 64 × 64 pairs (the default 32 × 32 made 4 times
    the steps, each a collective all-reduce between the workers: 6 CPU-s more here for
    the same epochs, backups and resume)."""
    from kerasgene.train.block_trainer import BACKUP_FILE

    epochs, run = 5, tmp_path / "run"
    config = load_config(Path(__file__).parents[1] / "configs" / "deeprage.yaml", [
        f"data_dir={small_sim[0]}", f"run_dir={run}", f"dataset_dir={tmp_path / 'dataset'}",
        "model.hparams={filters: 8, units: 16, regulator_units: 16}", "baselines=[]",
        f"training.epochs={epochs}", "training.patience=100",
        "training.genes_per_block=64", "training.conditions_per_block=64"])
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    prepare(config)
    log = tmp_path / "workers.log"
    command = launcher.training_command(tmp_path / "run.yaml", [], sys.executable)
    _kill_worker_1_after_epoch_2(command, run / BACKUP / "worker_1" / BACKUP_FILE, log)
    assert not (run / "run.json").exists() and (run / BACKUP / "worker_0").is_dir()
    with log.open("ab") as out:
        launcher.launch_training(tmp_path / "run.yaml", [], 2, timeout=LAUNCH_TIMEOUT,
                                 python=sys.executable, stdout=out, stderr=out)
    assert log.read_text().count("resuming from the backup") >= 2  # both workers
    assert (run / "run.json").is_file() and not (run / BACKUP).exists()
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == list(range(epochs))  # earlier epochs from the backup


def _pairwise_reference(model, blocks, lr: float, epochs: int) -> list[float]:
    """One process, no strategy: one SGD step per two consecutive blocks on the mean of
    their losses — what 2 replicas taking a block each compute."""
    import keras
    import tensorflow as tf

    from kerasgene.train.block_trainer import FactorizedPairTrainer

    trainer = FactorizedPairTrainer(model, keras.optimizers.SGD(lr))
    losses = []
    for _ in range(epochs):
        steps = []
        for pair in zip(blocks[::2], blocks[1::2], strict=True):
            with tf.GradientTape() as tape:
                loss = tf.add_n([trainer.block_loss(*trainer._tensors(*b)) for b in pair]) / 2
            grads = tape.gradient(loss, model.trainable_variables)
            trainer.optimizer.apply(grads, model.trainable_variables)
            steps.append(float(loss))
        losses.append(float(np.mean(steps)))
    return losses


def test_factorized_trainer_under_mirrored_strategy_equals_plain():
    import keras
    import tensorflow as tf
    from factorized_worker import blocks_and_model

    from kerasgene.train.block_trainer import FactorizedPairTrainer

    model, blocks = blocks_and_model()
    start = model.get_weights()
    FactorizedPairTrainer(model, keras.optimizers.SGD(0.05)).train_epoch(blocks)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        mirrored, _ = blocks_and_model()
        mirrored.set_weights(start)
        trainer = FactorizedPairTrainer(mirrored, keras.optimizers.SGD(0.05), strategy=strategy)
        trainer.train_epoch(blocks)
    for a, b in zip(mirrored.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=TOLERANCE, atol=1e-6)


def _interrupted_keras_fit(backup: Path, stop_at: int) -> list[list[np.ndarray]]:
    """A small fit with Keras' BackupAndRestore (as ``recipes.make_callbacks`` makes it)
    stopped at the start of epoch ``stop_at``; the weights after every epoch done."""
    import keras

    from kerasgene.train.recipes import make_callbacks

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    after: list = []

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == stop_at:
                raise KeyboardInterrupt

        def on_epoch_end(self, epoch, logs=None):
            after.append(self.model.get_weights())

    cfg = {"monitor": "loss", "patience": 10, "reduce_lr_patience": 10, "tensorboard": False}
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, x[:, :1], epochs=5, verbose=0,
                  callbacks=[*make_callbacks(cfg, None, backup), Stop()])
    return after


def _backup_weights(backup: Path) -> list[np.ndarray]:
    """The model's (not the optimizer's) arrays in a Keras ``.weights.h5``."""
    import h5py

    with h5py.File(backup / "latest.weights.h5") as f:
        found = []
        f["layers"].visititems(
            lambda name, obj: found.append(obj[()]) if hasattr(obj, "shape") else None)
        return found


def test_workers_one_epoch_apart_resume_from_the_same_keras_backup(tmp_path):
    """Keras' backups of 3 epochs done: a worker that must resume after epoch 2 (another
    saved only 2) gets its previous backup back; one whose last save was cut short after
    the copy aside (weights newer than the metadata) resumes from the copy; agreeing on
    0 removes the backup."""
    from kerasgene.train.recipes import resume_keras_backup_at, whole_keras_backup

    backup = tmp_path / "backup" / "worker_0"
    after = _interrupted_keras_fit(backup, stop_at=3)
    assert whole_keras_backup(backup) == 3
    assert resume_keras_backup_at(backup, 3, 2) == 2
    assert _backed_up_epoch(backup / "training_metadata.json") == 2
    saved = sorted(_backup_weights(backup), key=np.size)
    for got, want in zip(saved, sorted(after[1], key=np.size), strict=True):
        np.testing.assert_array_equal(got, want)

    cut = tmp_path / "cut"
    after = _interrupted_keras_fit(cut, stop_at=3)
    # as after "copy aside" and "save weights" but before the metadata of epoch 4
    for name in ("latest.weights.h5", "training_metadata.json"):
        (cut / (name + ".bkp")).write_bytes((cut / name).read_bytes())
    (cut / "latest.weights.h5").write_bytes(b"half written")
    assert whole_keras_backup(cut) == 3
    assert sorted(map(np.size, _backup_weights(cut))) == [1, 3]
    assert resume_keras_backup_at(cut, 3, 0) == 0 and not cut.exists()


class _BlockData:
    """``grouped_batches`` of a PairsDataset over the fixed blocks of
    :func:`factorized_worker.blocks_and_model` (training blocks in a per-epoch order);
    ``stop_at``: the training epoch whose blocks raise, as a killed process stops."""

    def __init__(self, blocks, stop_at: int | None = None):
        self.blocks, self.stop_at = blocks, stop_at
        self.conditions = [f"condition_{i}" for i in range(6)]  # blocks_and_model's 6

    def grouped_batches(self, split, g, c, shuffle=False, seed=0, epoch=0):
        if split == "valid":
            return iter(self.blocks)
        if epoch == self.stop_at:
            raise KeyboardInterrupt(f"stopped in epoch {epoch}")
        order = np.random.default_rng([seed, epoch]).permutation(len(self.blocks))
        return (self.blocks[i] for i in order)


@pytest.mark.parametrize("latest_lost", [False, True])
def test_factorized_training_resumes_from_its_backup(tmp_path, latest_lost):
    """fit_blocks stopped after 2 of 5 epochs and called again with the same backup folder
    ends where an uninterrupted fit ends: same weights, same history (Adam's moments,
    the learning-rate schedule and the best weights are in the backup, not only the
    weights). ``latest_lost``: the process died as it replaced its last backup, so the
    fit resumes from the one before (epoch 1)."""
    from factorized_worker import blocks_and_model

    from kerasgene.train.block_trainer import BACKUP_FILE, PREVIOUS_BACKUP_FILE, fit_blocks

    tcfg = {"optimizer": "adam", "learning_rate": 0.01, "epochs": 5, "verbose": 0,
            "patience": 10, "reduce_lr_patience": 1}
    model, blocks = blocks_and_model()
    start = model.get_weights()
    (tmp_path / "whole").mkdir()
    fit_blocks(model, _BlockData(blocks), tcfg, 4, 3, tmp_path / "whole", seed=0)
    whole = pd.read_csv(tmp_path / "whole" / "history.csv")
    assert (whole["learning_rate"] < 0.01).any()  # the schedule acted: it must be restored

    backup, out = tmp_path / "backup", tmp_path / "resumed"
    out.mkdir()
    stopped, _ = blocks_and_model()
    stopped.set_weights(start)
    with pytest.raises(KeyboardInterrupt):
        fit_blocks(stopped, _BlockData(blocks, stop_at=2), tcfg, 4, 3, out, 0, backup_dir=backup)
    assert (backup / BACKUP_FILE).is_file() and not (out / "history.csv").exists()
    assert (backup / PREVIOUS_BACKUP_FILE).is_file()
    if latest_lost:
        (backup / BACKUP_FILE).unlink()
    resumed, _ = blocks_and_model()
    resumed.set_weights([w * 0 for w in start])  # the backup, not these, must be used
    fit_blocks(resumed, _BlockData(blocks), tcfg, 4, 3, out, 0, backup_dir=backup)
    assert not backup.exists()
    pd.testing.assert_frame_equal(pd.read_csv(out / "history.csv"), whole, rtol=1e-5)
    for a, b in zip(resumed.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.slow  # worker processes
def test_factorized_trainer_with_two_workers(tmp_path):
    from factorized_worker import blocks_and_model

    script = Path(__file__).with_name("factorized_worker.py")
    with (tmp_path / "workers.log").open("ab") as out:
        procs = launcher.start_workers([sys.executable, str(script), str(tmp_path)], 2,
                                       stdout=out, stderr=out)
        try:
            launcher.wait_all(procs, LAUNCH_TIMEOUT, "factorised workers")
        finally:
            launcher.stop_processes(procs)
    got = [np.load(tmp_path / f"{i}.npz") for i in range(2)]
    model, blocks = blocks_and_model()
    losses = _pairwise_reference(model, blocks, 0.05, 3)
    expected = model.get_weights()
    for worker in got:  # both replicas hold the weights of the one-process pairwise steps
        np.testing.assert_allclose(worker["losses"], losses, rtol=TOLERANCE)
        for i, w in enumerate(expected):
            np.testing.assert_allclose(worker[f"arr_{i}"], w, rtol=TOLERANCE, atol=1e-6)


@pytest.mark.slow  # worker processes
def test_a_batch_with_fewer_examples_than_workers_is_refused(world, tmp_path):
    """A global batch whose last, partial batch holds fewer examples than workers gave
    one worker an empty batch: a TensorFlow traceback in that worker (convolutions), or
    here, with the linear model, a run that trained unlike one process without a word.
    Every worker now stops before training, naming the batch sizes that work."""
    from kerasgene.datasets import Dataset
    from kerasgene.errors import KerasgeneError

    d, _ = world
    n_train = Dataset.open(d / "dataset").split_counts["train"]
    log = tmp_path / "workers.log"
    with pytest.raises(KerasgeneError, match="exited with status 2; stopped the others; its "
                       "error is above: fix the input and run the command again"), \
            log.open("ab") as out:
        launcher.launch_training(d / "run.yaml", [f"run_dir={tmp_path / 'run'}",
                                                  f"training.batch_size={n_train - 1}"], 2,
                                 timeout=LAUNCH_TIMEOUT, python=sys.executable,
                                 stdout=out, stderr=out)
    assert (f"training.batch_size: {n_train - 1} over 2 workers leaves the last batch of the "
            f"train split ({n_train} examples) with 1, fewer than one per worker"
            in log.read_text()), log.read_text()[-2000:]
    assert not (tmp_path / "run" / "run.json").exists()
