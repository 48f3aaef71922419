"""Runs: a run configuration → prepared dataset → trained model → evaluation, on disk.

A run directory (``run_dir`` of the config) holds::

    config.yaml       the resolved configuration
    model.keras       the trained model (ensembles: the averaging model)
    history.csv       per-epoch losses and metrics (ensembles: history_member_<i>.csv)
    dropped.tsv       every example the dataset left out, and why (a copy of the
                      dataset's; :mod:`kerasgene.datasets.dropped`)
    metrics.json      test (and valid) metrics of the model, the baselines and controls
    predictions.tsv   test predictions beside the observed values (genome bins: with
                      chrom, start, end; class probabilities: one p_<class> column each)
    *.png             loss curves, predicted vs observed or the confusion matrix
    preprocessing.json  what a client needs to build inputs
                      (:func:`kerasgene.train.preprocessing.preprocessing_constants`)
    run.json          the completion record, written last (:mod:`kerasgene.train.records`)

Complete or absent
------------------
``train`` first checks the whole configuration
(:func:`kerasgene.train.run_config.check_config`: types, ranges,
model arguments, ``data_dir``) and prepares the dataset; nothing is written in the run
directory before both succeed. It then removes stale temporaries of killed processes
and the previous run's record and outputs (:data:`kerasgene.train.records.RUN_OUTPUTS`; ``explain/``,
``variants/``, ``ablation/``, the dataset and unknown files are kept, the warning naming
the analyses' folders as the previous model's), trains, and writes
``run.json`` last, atomically: ``{"status": "complete", "finished", "kerasgene_version",
"model": "model.keras", "model_sha256", "model_bytes", "files" (the SHA-256 of
preprocessing.json), "system", "model_name", "training_inputs", "input_names", "dataset"
(its inputs' contents, settings, split, and the digests and sketches of its index and
arrays: :func:`kerasgene.datasets.storage.built_contents`), "cwd"}``. If training raises (a bad value found late,
a crash, Ctrl-C), what this attempt wrote is removed again and a run directory created by
it is removed when nothing else is left in it (a complete prepared dataset stays: it is a
valid cache). A killed ``train`` leaves files but no ``run.json``; ``evaluate``,
``explain``, ``variants``, ``export`` and ``ablate`` accept only a run with a valid record
(:func:`kerasgene.train.records.check_run`: present, ``status: complete``, model file present with the recorded
size and SHA-256), so an untrained or half-written model never reaches them.
:func:`kerasgene.train.records.record_run` writes the record for a model trained outside
``kerasgene train``.

Configuration keys beyond the dataset's (``kerasgene.config`` lists the sections)::

    model: {name: isegnet, hparams: {k1: 16}}   # registry name and builder arguments
    training: {...}                             # kerasgene.train.recipes
    baselines: [ridge, random_forest]           # kerasgene.train.baselines, on flattened inputs
    controls: [shuffled]                        # listed under ``training.controls``

More ``training`` keys read here: ``factorized`` (DeepRAGE-C/TP on gene × condition
blocks, ``genes_per_block`` × ``conditions_per_block``), ``baseline_max_examples`` (cap on
the training examples the baselines are fitted on, null for all; they are scored on the whole
test split), ``control_permutations`` (how many label permutations
the shuffled-label control trains, each exactly like the real model:
:func:`shuffled_control`) and ``inputs`` (train on a subset of the
dataset's inputs, e.g. ``{sequence: false, epigenome: [DNase]}``; see
:meth:`kerasgene.datasets.Dataset.select_inputs` and ``kerasgene ablate``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from kerasgene import config as _config
from kerasgene import systems
from kerasgene._io import write_atomic, write_json
from kerasgene.datasets import storage
from kerasgene.datasets.dropped import FILENAME as DROPPED_FILE
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.train import backups
from kerasgene.train.evaluation import (
    check_split_classes,
    evaluate_model,
    is_classification,
    predict_metrics,
)
from kerasgene.train.preprocessing import preprocessing_constants
from kerasgene.train.records import (
    KEPT_ANALYSES,
    RUN_RECORD,
    check_run,
    clean_stale,
    load_run,
    record_run,
    remove_outputs,
    removed_if_failed,
)
from kerasgene.train.run_config import (
    RUN_TRAINING_KEYS,
    check_config,
    check_given_dataset,
    check_replica_batches,
    check_validation,
    dataset_dir,
    run_dir,
)

log = logging.getLogger(__name__)

@contextlib.contextmanager
def timed_phase(seconds: dict, phase: str) -> Iterator[None]:
    """Add the wall-clock and CPU seconds (every thread of the process) of the block to
    ``seconds[phase]`` as ``{"wall", "cpu"}``."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        got = seconds.setdefault(phase, {"wall": 0.0, "cpu": 0.0})
        got["wall"] = round(got["wall"] + time.perf_counter() - wall, 1)
        got["cpu"] = round(got["cpu"] + time.process_time() - cpu, 1)


# ----------------------------------------------------------------------------- datasets
def prepare(config: dict, force: bool = False, *, light: bool = False):
    """Build (or reuse, when inputs and parameters are unchanged) the run's dataset.

    The configuration is checked first (:func:`check_config`; ``light``: without the
    checks that need Keras). Temporaries of killed builds of this dataset are removed and
    a cached dataset whose arrays fail their checksums is rebuilt
    (:mod:`kerasgene.datasets.base`).
    """
    from kerasgene import datasets

    check_config(config, light=light)
    if config.get("data") is None:
        raise ConfigError("config: missing the 'data' section (the dataset's input files)")
    with removed_if_failed(dataset_dir(config).parent):
        return datasets.build(config["system"], config["data"], dataset_dir(config),
                              force=force, base_dir=config.get("data_dir"))


def training_inputs(config: dict, dataset):
    """``dataset`` restricted to ``training.inputs`` (unchanged when the key is unset)."""
    spec = (config.get("training") or {}).get("inputs")
    return dataset if spec is None else dataset.select_inputs(spec, "training.inputs")


def run_dataset(run: str | Path, config: dict, record: Mapping | None = None):
    """The prepared dataset of ``config`` as the model of ``run`` was trained on it: with
    the ``training_inputs`` of the run's completion record (an ablation run's subset), and
    checked against the record: the inputs' contents, settings and split before it is
    built or re-split (:func:`kerasgene.datasets.storage.expecting`), then its index and
    arrays (:func:`kerasgene.datasets.storage.check_built`) and ``input_names``.

    Parameters
    ----------
    run : a complete run directory (:func:`check_run`)
    config : the configuration whose dataset is prepared (its ``training.inputs`` is used
        only when the record has no ``training_inputs`` entry)
    record : the run's completion record (default: :func:`check_run`)
    """
    record = check_run(run) if record is None else record
    trained_on = record.get("dataset") or {}
    split = trained_on.get("split")
    if split is None and trained_on.get("path"):  # a run recorded before its split was
        meta = Path(trained_on["path"]) / "meta.json"
        split = json.loads(meta.read_text()).get("split") if meta.is_file() else None
    try:
        with storage.expecting(trained_on.get("inputs"), split, str(Path(run) / RUN_RECORD),
                               trained_on.get("params")):
            dataset = prepare(config)
    except (ConfigError, InputFileError) as err:
        hint = _data_hint(config, record, err)
        if hint:
            raise type(err)(f"{err} ({hint})") from None
        raise
    storage.check_built(dataset, trained_on.get("built"), str(Path(run) / RUN_RECORD))
    spec = record["training_inputs"] if "training_inputs" in record else \
        (config.get("training") or {}).get("inputs")
    if spec is not None:
        dataset = dataset.select_inputs(spec, f"{Path(run) / RUN_RECORD}: training_inputs")
    names = record.get("input_names")
    if names is not None and list(names) != list(dataset.input_names):
        raise ConfigError(f"{Path(run) / RUN_RECORD}: the model was trained on inputs {names} "
                          f"but the config's dataset gives {dataset.input_names}")
    return dataset


def _data_hint(config: dict, record: Mapping, err: Exception) -> str | None:
    """Where a run's config looks for its data files, for an error of
    :func:`run_dataset`: the working directory it was trained from when ``data_dir`` is
    relative or unset and that differs from this one; with an absolute ``data_dir``, whose
    files are not found (moved, or another machine), how to point at them. None: no hint
    (an absolute ``data_dir`` does not depend on the working directory)."""
    base = config.get("data_dir")
    if base is not None and Path(os.path.expanduser(str(base))).is_absolute():
        if not isinstance(err, InputFileError):
            return None
        return (f"the run's config reads its data files from data_dir {base}; if they "
                "moved, give their folder: data_dir=FOLDER")
    cwd = record.get("cwd")
    if not cwd or cwd == os.getcwd():
        return None
    return (f"the run was trained from {cwd}: relative paths in its config resolve against "
            "the working directory; run the command there, or give the folder of its data "
            "files: data_dir=FOLDER")


def build_model(config: dict, dataset):
    """The registry model of ``config['model']`` shaped for ``dataset``, under the dtype
    policy of ``training.mixed_precision``."""
    from kerasgene import models

    section = config.get("model") or {}
    _config.check_keys(section, ("name", "hparams"), "model")
    name = section.get("name")
    if name is None:
        raise ConfigError("model: missing 'name' (one of kerasgene.models.names())")
    hparams = {**systems.builder_arguments(name, dataset), **(section.get("hparams") or {})}
    precision = (config.get("training") or {}).get("mixed_precision")
    try:
        model = models.build(name, mixed_precision=precision, **hparams)
    except (TypeError, ValueError) as err:  # a value the builder or Keras rejects
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"model.hparams: {name} cannot be built with "
                          f"{section.get('hparams') or {}} ({first})") from None
    _check_class_output(model, name, dataset)
    return model


def _check_class_output(model, name: str, dataset) -> None:
    """Refuse a class target for a model of one regression output (no classification
    head: the histone FCN), which crashed in the first training step with TensorFlow's
    ``Received a label value of 1 which is outside the valid range of [0, 1)``."""
    if (dataset.target_name != "class" or systems.for_model(name).models[name].classification
            or model.outputs[0].shape[-1] != 1):
        return
    raise ConfigError(
        f"model.name: {name} predicts one value per example (a regression output), but the "
        f"dataset's target is a class label ({int(dataset.meta.get('n_classes', 2))} classes: "
        "a binary label, or the labels of a DeepChrome CSV); expected a regression label "
        f"for {name} (histone: label: regression), or a model with a class output "
        "(system deepchrome: deepchrome, linear)")


def _split_training(section: dict | None) -> tuple[dict, dict]:
    section = dict(section or {})
    extra = {k: section.pop(k, v) for k, v in RUN_TRAINING_KEYS.items()}
    return section, extra


def label_mean(dataset, split, seed: int = 0, max_examples: int = 2000,
               target: str | None = None) -> float:
    """Mean training label (weighted by the masked-loss weights when the task has them),
    estimated from at most ``max_examples`` seeded random examples of ``split``
    (``target``: which of a dataset's targets; None: its default)."""
    idx = dataset.split_indices(split)
    if len(idx) > max_examples:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_examples, replace=False))
    got = dataset.gather(idx, target)
    y = np.asarray(got["target"], np.float64)
    w = np.asarray(got.get("weight", np.ones_like(y)), np.float64)
    return float(np.sum(y * w) / np.sum(w)) if np.sum(w) > 0 else float("nan")


def _fit_one(model, model_name: str, dataset, train_idx, valid_idx, tsection: dict,
             out_dir: Path, seed: int, strategy=None, backup_dir: Path | None = None):
    """Compile ``model`` with the paper's recipe and fit it on example indices.

    Early stopping counts the starting weights (output bias at the mean training label)
    as epoch 0: their validation score is its baseline (the patience runs from the start
    while no epoch beats it) and when no epoch beats it they are kept
    (:func:`~kerasgene.train.recipes.keep_start_if_better`; a model that learns anything is
    unaffected; not under a multi-worker strategy, where every worker would have to agree
    on it).

    Under a MultiWorkerMirroredStrategy ``batch_size`` is the global batch, every worker
    shuffles with the same seed and reads only its share of each batch
    (:func:`kerasgene.train.recipes.distributed`), so the replicas together train on the
    batches of a one-process run; the BatchNorm recalibration reads the same global
    batches on every worker, so that they agree; ``backup_dir`` keeps the worker's
    BackupAndRestore state.
    """
    from kerasgene.train import recipes

    multi = strategy is not None and recipes.is_multi_worker(strategy)
    tcfg = recipes.resolve_training(tsection, model_name, is_classification(dataset))
    recipes.compile_model(model, tcfg)
    if tcfg["init_output_bias"] and not is_classification(dataset):
        recipes.init_output_bias(model, label_mean(dataset, train_idx, seed))
    weights = recipes.class_weights(dataset.labels(train_idx), tcfg,
                                    int(dataset.meta.get("n_classes", 2))) \
        if tcfg["class_weight"] == "balanced" else None
    # with an epoch cap the stream repeats, so later epochs never run out of batches
    repeat = tcfg["steps_per_epoch"] is not None

    def stream(idx, shard=None, **kwargs):
        return dataset.to_tf_dataset(idx, tcfg["batch_size"], class_weight=weights,
                                     shard=shard, **kwargs)

    if multi:
        train = recipes.distributed(strategy, lambda i, n: stream(
            train_idx, (i, n), shuffle=True, seed=seed, repeat=repeat))
        valid = recipes.distributed(strategy, lambda i, n: stream(valid_idx, (i, n)))
        local, start = stream(train_idx, shuffle=True, seed=seed), None
    else:
        train = stream(train_idx, shuffle=True, seed=seed, repeat=repeat)
        valid, local = stream(valid_idx), None
        start = recipes.starting_point(model, valid, tcfg["monitor"])
    history = recipes.fit(model, train, valid, tcfg, out_dir, strategy=strategy if multi else None,
                          backup_dir=backup_dir, local_train=local,
                          start_score=None if start is None else start[0])
    # the best weights are restored in memory; the checkpoint only guarded the fit
    (out_dir / "checkpoint.keras").unlink(missing_ok=True)
    recipes.keep_start_if_better(model, start, history.history.get(tcfg["monitor"]),
                                 tcfg["monitor"], out_dir)
    return history


def _fit_factorized(model, model_name: str, dataset, tsection: dict, extra: dict,
                    out_dir: Path, seed: int, strategy=None, backup: Path | None = None) -> None:
    """DeepRAGE-C or -TP on gene × condition blocks (:func:`kerasgene.train.block_trainer.fit_blocks`)
    with the paper's recipe and the output bias at the mean training label; ``backup``:
    the process' backup folder (:func:`_backup_dir`)."""
    from kerasgene.train import recipes
    from kerasgene.train.block_trainer import fit_blocks

    tcfg = recipes.resolve_training(tsection, model_name, False)
    if tcfg["init_output_bias"]:
        recipes.init_output_bias(model, label_mean(dataset, "train", seed))
    fit_blocks(model, dataset, tcfg, extra["genes_per_block"], extra["conditions_per_block"],
               out_dir, seed, strategy if recipes.is_mirrored(strategy) else None, backup)


def shuffled_control(config: dict, dataset, tsection: dict, out_dir: Path, seed: int,
                     n_permutations: int = 3) -> dict:
    """The shuffled-label control: the run's model trained and early-stopped exactly like
    the real one (:func:`_fit_one`: same recipe, schedule, output-bias start and seed) on
    the dataset with its training *and* validation labels permuted
    (:meth:`~kerasgene.datasets.Dataset.with_permuted_labels`, permutation ``k`` seeded
    with ``[seed, k]``), then scored against the real test labels — once per permutation.

    Validation labels are permuted too: early stopping keeps the epoch with the best
    validation score, and with real validation labels that choice alone would select
    whatever an untrained network's outputs happen to share with the target. Early
    stopping also counts the starting weights (:func:`_fit_one`): a network fitted to
    shuffled labels predicts fitted noise, whose spread costs R² (−var(pred)/var(y), and
    more when the noise happens to anti-correlate with the target: R² −0.14 on one seed
    before); when no epoch beats the start on the shuffled validation labels, the control
    keeps the start, which predicts the mean training label.

    Returns
    -------
    ``{"mean": metrics, "sd": metrics, "runs": [metrics of each permutation]}`` — the
    scalar test metrics (:func:`kerasgene.metrics.evaluate_predictions`) averaged over the
    permutations and their standard deviation (ddof 1; 0 for one permutation).
    """
    from kerasgene.train import recipes

    name = config["model"]["name"]
    runs = []
    for k in range(n_permutations):
        recipes.set_seed(seed)
        model = build_model(config, dataset)
        view = dataset.with_permuted_labels(("train", "valid"), seed=[seed, k])
        run_out = out_dir / f"permutation_{k}"
        run_out.mkdir(parents=True, exist_ok=True)
        _fit_one(model, name, view, "train", "valid", tsection, run_out, seed)
        runs.append(predict_metrics(model, dataset, "test"))
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    values = {k: np.array([r[k] for r in runs], np.float64) for k in keys}
    return {"mean": {k: float(v.mean()) for k, v in values.items()},
            "sd": {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()},
            "runs": runs}


#: Test rows flattened at once to score the baselines.
BASELINE_CHUNK = 5_000


def _baseline_test_chunks(dataset, chunk: int):
    """A function iterating over the whole test split in flattened (X, y) chunks of
    ``chunk`` rows: the baselines are scored on the rows the model is (they are fitted on
    at most ``baseline_max_examples`` training rows: :func:`_baseline_arrays`)."""
    from kerasgene.train.baselines import flatten_inputs

    idx = dataset.split_indices("test")

    def chunks():
        for lo in range(0, len(idx), chunk):
            x, y = dataset.arrays_for(idx[lo : lo + chunk])
            yield flatten_inputs(x), y
    return chunks


def _baseline_arrays(dataset, split: str, max_examples: int | None, seed: int):
    """The flattened (X, y) of ``split``, a random ``max_examples`` of its rows (None: all)."""
    from kerasgene.train.baselines import flatten_inputs

    idx = dataset.split_indices(split)
    if max_examples is not None and len(idx) > max_examples:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_examples, replace=False))
    x, y = dataset.arrays_for(idx)
    return flatten_inputs(x), y


def train(config: dict, *, force_prepare: bool = False, dataset=None) -> Path:
    """Prepare the data, train the configured model, evaluate it; returns the run dir.

    Ensembles (``histone_fcn_ensemble``) train each member on its own overlapping
    two-thirds fold of the training set, validated on the remaining third.
    ``training.factorized: true`` trains DeepRAGE-C or -TP on gene × condition blocks.
    ``dataset``: the config's dataset already prepared (several runs over one dataset,
    e.g. the ablation); ``training.inputs`` is applied to it here.

    The run is complete or absent (module docstring): everything is checked before the
    run directory is touched, ``run.json`` is written last, and a failed attempt removes
    what it wrote.
    """
    from kerasgene.train import recipes

    check_config(config, train=True)
    seed = int(config.get("seed", 0))
    out = run_dir(config)
    seconds: dict = {}
    with removed_if_failed(out):
        if dataset is None:
            with timed_phase(seconds, "prepare"):
                dataset = prepare(config, force=force_prepare)
        else:
            check_given_dataset(config, dataset)
        dataset = training_inputs(config, dataset)
        tsection, extra = _split_training(config.get("training"))
        strategy = recipes.get_strategy((tsection or {}).get("strategy", "default"))
        recipes.set_seed(seed)
        with strategy.scope():
            model = build_model(config, dataset)
        # fail now, not after training: the recipe against the model's head and the
        # validation set, the constants
        tcfg = recipes.resolve_training(tsection, config["model"]["name"],
                                        is_classification(dataset))
        recipes.model_loss(model, tcfg["loss"])
        if is_classification(dataset) and not dataset.checks_split_classes:
            check_split_classes(dataset)
        if extra["factorized"] and is_classification(dataset):
            raise ConfigError("training.factorized: trains a regression target (the "
                              "expression of each pair); this dataset's target is 'class': "
                              "set training.factorized: false")
        multi = recipes.is_multi_worker(strategy)
        if config["model"]["name"] != "histone_fcn_ensemble":  # members: folds of train
            check_validation(dataset, tcfg["monitor"], extra["factorized"])
            if multi and not extra["factorized"]:
                counts = dataset.split_counts  # a property: every split's indices
                streamed = ["valid"] + ([] if tcfg["steps_per_epoch"] else ["train"])
                check_replica_batches({k: counts[k] for k in streamed},
                                      tcfg["batch_size"], strategy.num_replicas_in_sync)
        fingerprint = _fingerprint(config, dataset, strategy, tcfg, extra)
        backups.check_resume(out, fingerprint, multi)
        if not recipes.is_chief(strategy):  # a multi-worker peer: trains, writes nothing
            _train_worker(config, dataset, model, strategy, tsection, extra, out, seed)
            return out
        constants = preprocessing_constants(dataset)
        _begin_run(out)
        if multi:
            backups.record(out, fingerprint)
        try:
            _train_run(config, dataset, model, strategy, tsection, extra, out, seed, constants,
                       seconds)
        except BaseException:
            gone = remove_outputs(out)
            log.warning("%s: training failed; removed the %d files and folders it wrote",
                        out, len(gone))
            raise
    return out


def _begin_run(out: Path) -> None:
    """Make ``out`` ready for a new training: stale temporaries of killed runs and the
    previous run's record and outputs removed (logged)."""
    out.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    gone = remove_outputs(out)
    if gone:
        kept = [name for name in KEPT_ANALYSES if (out / name).is_dir()]
        log.warning("%s: replacing the previous run (removed %s)%s", out,
                    ", ".join(p.name for p in gone),
                    f"; kept {', '.join(f'{n}/' for n in kept)}: analyses of the previous "
                    "model — rerun them for the new one (explain replaces the previous "
                    "model's files in its folder)" if kept else "")


def _train_run(config: dict, dataset, model, strategy, tsection: dict, extra: dict, out: Path,
               seed: int, constants: dict, seconds: dict) -> None:
    """Fit, save, evaluate and record one run in ``out`` (see :func:`train`); the
    seconds of each phase (``seconds`` holds the dataset's) go to ``metrics.json``."""
    from kerasgene import models

    _config.save_config(config, out / "config.yaml")
    dropped = Path(dataset.path) / DROPPED_FILE
    if dropped.is_file():
        write_atomic(out / DROPPED_FILE, lambda tmp: shutil.copyfile(dropped, tmp))
    name = config["model"]["name"]
    with timed_phase(seconds, "fit"):
        _fit_model(config, dataset, model, strategy, tsection, extra, out, seed,
                   _backup_dir(out, strategy))
    with timed_phase(seconds, "evaluate"):
        write_atomic(out / "model.keras", model.save)
        write_json(out / "preprocessing.json", constants)
        metrics = evaluate_model(model, dataset, out)
        if name == "histone_fcn_ensemble":
            metrics["members"] = [predict_metrics(m, dataset, "test")
                                  for m in models.ensemble_members(model)]
    if "shuffled" in extra["controls"]:
        with timed_phase(seconds, "control"):
            control = shuffled_control(config, dataset, tsection, out / "control_shuffled",
                                       seed, extra["control_permutations"])
        metrics["controls"] = {"shuffled": control["mean"], "shuffled_sd": control["sd"],
                               "shuffled_runs": control["runs"]}
    names = config.get("baselines") or []
    if names:
        from kerasgene.train.baselines import run_baselines

        cap = extra["baseline_max_examples"]  # None: every training example
        with timed_phase(seconds, "baselines"):
            arrays = (_baseline_arrays(dataset, "train", cap, seed),
                      _baseline_test_chunks(dataset, BASELINE_CHUNK))
        metrics["baselines"] = {}
        for baseline in names:
            with timed_phase(seconds, "baselines"), timed_phase(seconds, baseline):
                metrics["baselines"].update(run_baselines(
                    [baseline], *arrays, is_classification(dataset), seed,
                    int(dataset.meta.get("n_classes", 2))))
    metrics["seconds"] = seconds
    write_json(out / "metrics.json", metrics)
    record_run(out, "model.keras", system=config["system"], model_name=name,
               training_inputs=extra["inputs"], input_names=dataset.input_names,
               dataset={"path": str(dataset.path), "cache_key": dataset.meta.get("cache_key"),
                        "split": dataset.meta.get("split"), "params": dataset.meta.get("params"),
                        "inputs": storage.input_contents(dataset.meta.get("inputs", {})),
                        "built": storage.built_contents(dataset)},
               cwd=os.getcwd())


def _backup_dir(out: Path, strategy) -> Path | None:
    """Where this process of a multi-worker training keeps its backup state
    (:func:`kerasgene.train.backups.process_dir`; None for any other strategy). Kept when
    the training fails or is killed, so that the same command resumes from it; removed when
    the fit ends (by Keras' BackupAndRestore, or :func:`~kerasgene.train.block_trainer.fit_blocks`)."""
    from kerasgene.train import recipes

    if not recipes.is_multi_worker(strategy):
        return None
    return backups.process_dir(out, *recipes.worker_task(strategy))


def _fingerprint(config: dict, dataset, strategy, tcfg: dict, extra: dict) -> dict:
    """This training's :func:`kerasgene.train.backups.fingerprint` (``tcfg``: the resolved
    recipe, ``extra``: the run's training keys)."""
    return backups.fingerprint(config, {**tcfg, **extra}, dataset.meta.get("cache_key"),
                               strategy.num_replicas_in_sync)


def _fit_model(config: dict, dataset, model, strategy, tsection: dict, extra: dict, out: Path,
               seed: int, backup: Path | None) -> None:
    """Fit the run's model (ensemble members one by one, factorised, or plain) with its
    logs in ``out``."""
    from kerasgene import models

    name = config["model"]["name"]
    with strategy.scope():
        if name == "histone_fcn_ensemble":
            members = models.ensemble_members(model)
            # one member (n_models: 1) has no folds: it fits train, early-stopped on valid
            folds = dataset.folds("train", k=len(members), seed=seed) if len(members) > 1 \
                else [("train", "valid")]
            for i, (member, (fit_idx, hold_idx)) in enumerate(zip(members, folds, strict=True)):
                member_dir = out / f"member_{i}"
                member_dir.mkdir(exist_ok=True)
                _fit_one(member, "histone_fcn", dataset, fit_idx, hold_idx, tsection, member_dir,
                         seed + i, strategy, None if backup is None else backup / member_dir.name)
        elif extra["factorized"]:
            _fit_factorized(model, name, dataset, tsection, extra, out, seed, strategy, backup)
        else:
            _fit_one(model, name, dataset, "train", "valid", tsection, out, seed, strategy,
                     backup)
    if backup is not None:
        backups.release(backup)


def _train_worker(config: dict, dataset, model, strategy, tsection: dict, extra: dict,
                  out: Path, seed: int) -> None:
    """One non-chief worker of a multi-worker training: the same fit as the chief's, with
    its logs and checkpoint in a temporary directory (removed) and its backup in the run
    directory (:func:`_backup_dir`); the chief alone writes and evaluates the run."""
    import tempfile

    quiet = {**tsection, "verbose": 0}  # the chief's progress is the job's
    with tempfile.TemporaryDirectory(prefix="kerasgene-worker-") as tmp:
        _fit_model(config, dataset, model, strategy, quiet, extra, Path(tmp), seed,
                   _backup_dir(out, strategy))
        # as the chief does (saving may read distributed variables), then thrown away
        model.save(Path(tmp) / "model.keras")


def evaluate(config: dict) -> dict:
    """Re-evaluate a complete run (:func:`check_run`; the model is loaded with Keras' safe
    mode); the model's scores in ``metrics.json`` are replaced, the baselines and controls
    of ``train`` kept."""
    out = run_dir(config)
    model, record = load_run(out)
    dataset = run_dataset(out, config, record)
    metrics_path = out / "metrics.json"
    previous = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics = {**previous, **evaluate_model(model, dataset, out)}
    write_json(metrics_path, metrics)
    return metrics


