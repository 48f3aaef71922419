"""Running a plan: the project check, the training data, the search, its results.

:func:`run_search` runs (or resumes, or joins as chief / worker) one project;
:func:`run_config` every project of a tune configuration. ``kerasgene_search.json``
(:data:`SEARCH_FILE`) in the project directory identifies the search (space, builder,
dataset, objective, training): a directory holding a different search's state is an
error, not silently reused.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

import numpy as np
from keras_tuner.src.engine import trial as trial_module

from kerasgene._io import is_temporary, write_json
from kerasgene.errors import ConfigError, InputFileError, KerasgeneError
from kerasgene.tuning.oracle import GridTuner, role
from kerasgene.tuning.plans import SearchPlan, plan_search
from kerasgene.tuning.results import SearchResult, write_progress, write_results

log = logging.getLogger(__name__)

#: The search identity in a project directory.
SEARCH_FILE = "kerasgene_search.json"
#: Splits up to this size are loaded in memory (``tuning.in_memory: auto``).
_IN_MEMORY_BYTES = 512 * 2**20


def _differences(saved: Mapping, mine: Mapping) -> list[str]:
    """Keys (``section.key`` one level down) where two search identities differ."""
    detail = []
    for k in sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k)):
        a, b = saved.get(k), mine.get(k)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            detail += [f"{k}.{s}" for s in sorted(set(a) | set(b)) if a.get(s) != b.get(s)]
        else:
            detail.append(k)
    return detail


def check_project(plan: SearchPlan) -> None:
    """Refuse a project directory that holds another search's tuner state; record this
    search's identity (:data:`SEARCH_FILE`) in a new one."""
    pdir = plan.project_dir
    path = pdir / SEARCH_FILE
    # looked at before the identity file: every kerasgene process writes that file before
    # any tuner state, so state seen here without it (looked for next) is not ours — and
    # the identity a peer writes meanwhile is never taken for foreign state: neither once
    # written nor while its temporary file (``.kerasgene_search.tmp-….json``) waits to be
    # renamed
    foreign = pdir.is_dir() and (
        any(p.name != SEARCH_FILE and not is_temporary(p) for p in pdir.glob("*.json"))
        or any(pdir.glob("trial_*")))
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise InputFileError(f"{path}: not valid JSON; delete {pdir} to start over") from None
        mine = json.loads(json.dumps(plan.identity))
        if saved != mine:
            raise ConfigError(
                f"{pdir} holds the tuner state of a different search (differs in "
                f"{', '.join(_differences(saved, mine))}); use another tuning.project_name "
                f"or tuning.directory, or delete {pdir}")
        return
    if foreign:
        raise ConfigError(f"{pdir} holds keras-tuner state without {SEARCH_FILE} (the "
                          "record of which search it is: written by another tool, or the "
                          "file was deleted); use another tuning.project_name or "
                          f"tuning.directory, or delete {pdir}")
    pdir.mkdir(parents=True, exist_ok=True)
    write_json(path, plan.identity)


def _subsample(idx: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or len(idx) <= n:
        return idx
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(idx, n, replace=False))


def training_label_mean(plan: SearchPlan) -> float:
    """The mean label of the search's training examples (those :func:`fit_data` streams),
    where a regression trial's output bias starts, as a run's does."""
    from kerasgene.train.runs import label_mean

    return label_mean(plan.dataset, search_indices(plan, "train"), plan.hypermodel.seed,
                      target=plan.target)


def search_indices(plan: SearchPlan, split: str) -> np.ndarray:
    """The examples of ``split`` (train or valid) a search fits on and validates on: at
    most ``tuning.max_examples`` of them, drawn with the search's seed (valid: seed + 1)."""
    seed = plan.hypermodel.seed + (split == "valid")
    return _subsample(plan.dataset.split_indices(split), plan.max_examples, seed)


def _class_weights(plan: SearchPlan, train: np.ndarray) -> np.ndarray | None:
    """Per-class weights of ``training.class_weight: balanced`` over the search's training
    examples, as ``kerasgene train`` weights a run (:func:`kerasgene.train.recipes.class_weights`);
    None for a regression or unweighted classes."""
    from kerasgene.train import recipes

    hm = plan.hypermodel
    if not hm.classification or hm.recipe(hm.first_builder())["class_weight"] != "balanced":
        return None
    return recipes.class_weights(plan.dataset.labels(train, target=plan.target),
                                 {"class_weight": "balanced"},
                                 int(plan.dataset.meta.get("n_classes", 2)))


def fit_data(plan: SearchPlan, batch_size: int):
    """``(train, valid)`` of the plan's dataset (in memory when small), their examples
    weighted by class under ``training.class_weight: balanced`` (the training split's
    weights, as ``kerasgene train`` weighs both): ``valid`` a tf.data pipeline, ``train`` a
    function of the execution k (``tuning.executions_per_trial``; 0 by default) making a
    fresh one shuffled by ``seed + k`` for each trial — one pipeline shared by the trials of
    a process carried its shuffle order from trial to trial, so a grid point scored
    differently after other points than first (a resumed search, ``--subset``,
    ``--workers``)."""
    import tensorflow as tf

    ds, seed = plan.dataset, plan.hypermodel.seed
    train, valid = search_indices(plan, "train"), search_indices(plan, "valid")
    if len(train) == 0 or len(valid) == 0:
        raise ConfigError(f"{ds.path}: the train and valid splits must not be empty "
                          f"({len(train)} / {len(valid)} examples)")
    weights = _class_weights(plan, train)
    in_memory = plan.in_memory
    if in_memory == "auto":
        per = sum(4 * int(np.prod(s)) for s in ds.input_shapes.values()) + 4
        in_memory = per * (len(train) + len(valid)) <= _IN_MEMORY_BYTES
    elif not isinstance(in_memory, bool):
        raise ConfigError(f"tuning.in_memory: expected auto, true or false, got {in_memory!r}")
    if not in_memory:
        return (lambda execution=0: ds.to_tf_dataset(
                    train, batch_size, shuffle=True, seed=seed + execution, target=plan.target,
                    class_weight=weights),
                ds.to_tf_dataset(valid, batch_size, target=plan.target, class_weight=weights))

    def examples(idx):
        x, y = ds.arrays_for(idx, target=plan.target)
        return (x, y) if weights is None else (x, y, weights[np.asarray(y, np.int64)])

    train_examples = examples(train)

    def make_train(execution: int = 0):
        return tf.data.Dataset.from_tensor_slices(train_examples).shuffle(
            len(train), seed=seed + execution, reshuffle_each_iteration=True).batch(
            batch_size).prefetch(tf.data.AUTOTUNE)

    va = tf.data.Dataset.from_tensor_slices(examples(valid)).batch(batch_size)
    return make_train, va.prefetch(tf.data.AUTOTUNE)


def run_search(plan: SearchPlan, verbose: int = 1) -> SearchResult | None:
    """Run (or resume, or join as chief / worker) the plan's grid search.

    Returns the results on the chief and in a single process, ``None`` on a worker.
    """
    base_port = os.environ.get("KERASTUNER_ORACLE_PORT")
    who = role()
    if who != "single" and plan.port_offset:
        os.environ["KERASTUNER_ORACLE_PORT"] = str(int(base_port) + plan.port_offset)
    try:
        check_project(plan)
        hm = plan.hypermodel

        def progress(oracle):
            try:
                write_progress(oracle, plan)
            except OSError as err:  # pragma: no cover - results are rewritten at the end
                log.warning("trials.tsv / best_run.yaml not updated: %s", err)

        try:
            tuner = GridTuner(hm, directory=plan.directory, project_name=plan.project_name,
                              subset=plan.subset, max_trials=plan.max_trials,
                              executions_per_trial=plan.executions_per_trial,
                              on_trial_end=progress)
        except RuntimeError as err:  # keras-tuner: a state it cannot reload
            raise ConfigError(f"{plan.project_dir}: {err}") from None
        tuner.oracle.verbose = verbose
        try:
            if who == "chief":
                tuner.search()
            else:
                batch = hm.recipe(hm.first_builder())["batch_size"]
                train, valid = fit_data(plan, batch)
                hm.label_mean = training_label_mean(plan)
                tuner.search(train, validation_data=valid)
        except RuntimeError as err:  # the oracle: the latest trials failed (it saved them)
            failed = []
            if who != "worker":  # a worker's oracle is the chief's (over gRPC)
                progress(tuner.oracle)
                failed = [t for t in tuner.oracle.end_order
                          if tuner.oracle.trials[t].status == trial_module.TrialStatus.FAILED]
            lines = [ln for ln in str(err).splitlines() if ln.strip()]
            detail = f"{lines[0]} ... {lines[-1]}" if len(lines) > 1 else (lines or [""])[0]
            which = f"failed trials: {', '.join(failed)}; " if failed else ""
            raise KerasgeneError(f"{plan.project_name}: the search stopped: {detail} ({which}"
                                 f"trials.tsv and trial logs in {plan.project_dir}; re-run "
                                 "to go on with the next grid points)") from err
        if who == "worker":
            return None
        return write_results(tuner, plan)
    finally:
        if base_port is not None:
            os.environ["KERASTUNER_ORACLE_PORT"] = base_port


def run_config(config: Mapping, verbose: int = 1) -> list[SearchResult]:
    """Plan and run every project of a tune configuration, one after the other.

    A worker does not build the models to validate the space: its chief did (the
    project's identity, checked by every process, ties them to the same search)."""
    results = []
    for plan in plan_search(config, validate=role() != "worker"):
        res = run_search(plan, verbose=verbose)
        if res is not None:
            results.append(res)
    return results
