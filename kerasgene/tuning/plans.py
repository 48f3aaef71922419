"""A tune configuration resolved into search plans: one keras-tuner project per task.

:func:`plan_search` opens (or builds) the dataset, fills the builder arguments it implies
(:func:`kerasgene.systems.builder_arguments`), picks the target of each task, checks the
subset and, with ``validate``, builds every axis value once. The plan's identity (space,
builders, dataset, objective, training) is what ``kerasgene_search.json`` records.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerasgene import systems
from kerasgene._io import is_temporary, to_plain
from kerasgene.config import check_keys
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.train.run_config import RUN_TRAINING_KEYS
from kerasgene.tuning.config import project_layout, project_tasks, tuning_section
from kerasgene.tuning.hypermodels import BuilderHyperModel
from kerasgene.tuning.spaces import format_value

log = logging.getLogger(__name__)


@dataclass
class SearchPlan:
    """One keras-tuner project: a HyperModel, its data and where it lives."""

    hypermodel: BuilderHyperModel
    dataset: Any
    target: str | None
    directory: Path
    project_name: str
    results_dir: Path
    subset: dict = field(default_factory=dict)
    max_trials: int | None = None
    max_examples: int | None = None
    executions_per_trial: int = 1
    in_memory: str | bool = "auto"
    export_best: bool = True
    plot: bool = True
    port_offset: int = 0
    identity: dict = field(default_factory=dict)
    #: the tune configuration without its ``tuning`` section: the base of the best
    #: trial's run configuration (:func:`kerasgene.tuning.results.best_run_config`)
    run_config: dict = field(default_factory=dict)

    @property
    def project_dir(self) -> Path:
        return self.directory / self.project_name


def open_dataset(config: Mapping):
    """The search's Dataset, as for ``kerasgene train`` (:mod:`kerasgene.train.runs`): built (or
    reused when inputs and parameters are unchanged) from ``data`` (relative paths from
    ``data_dir``) into ``dataset_dir``; without ``data``, ``dataset_dir`` must hold a
    prepared dataset (its arrays checked against their digests). ``training.inputs``
    restricts it as for ``train``: every trial sees only those inputs and tracks."""
    from kerasgene.datasets import Dataset
    from kerasgene.train import runs

    if config.get("data") is not None:
        return runs.training_inputs(dict(config), runs.prepare(dict(config)))
    path = config.get("dataset_dir")
    if not path:
        raise ConfigError("dataset_dir: required when the config has no `data:` section")
    if not (Path(path) / "meta.json").is_file():
        raise InputFileError(f"dataset_dir: {path} is not a prepared dataset (no meta.json) "
                             "and the config has no `data:` section to build it")
    return runs.training_inputs(dict(config), Dataset.open(path, verify=True))


def _objective(tuning: Mapping, task: str) -> tuple[str | None, str | None]:
    """``(objective, direction)`` of a task: ``tuning.objective`` is a metric name, a
    ``{name, direction}`` mapping or a ``{task: metric}`` mapping."""
    objective = tuning.get("objective")
    if not isinstance(objective, Mapping):
        return objective, None
    if "name" in objective:
        check_keys(objective, ("name", "direction"), "tuning.objective")
        return objective["name"], objective.get("direction")
    return objective.get(task), None


def hypermodels_from_config(config: Mapping) -> list[tuple[str, BuilderHyperModel]]:
    """``[(task, HyperModel)]`` of a tune configuration, without opening the dataset
    (dataset-derived arguments not filled; enough to enumerate the grid)."""
    tuning = tuning_section(config)
    if tuning["space"] == {}:
        raise ConfigError("tuning.space: an empty mapping; expected {axis: [values]} (leave "
                          "tuning.space out to search the paper's grid)")
    model = dict(config.get("model") or {})
    check_keys(model, ("name", "hparams"), "model")
    name = model.get("name") or config.get("system")
    tasks, _, space = project_tasks(config)
    fixed = {k: v for k, v in (model.get("hparams") or {}).items() if k != "task"}
    # a run's own keys (baselines' cap, controls, factorised blocks; inputs: applied to the
    # dataset, open_dataset) are not the search's: left to best_run.yaml's run
    training = {k: v for k, v in (config.get("training") or {}).items()
                if k not in RUN_TRAINING_KEYS}
    out = []
    for task in tasks:
        objective, direction = _objective(tuning, task)
        hm = BuilderHyperModel(name, space or None, fixed, task=task,
                               training={"verbose": 0, **training}, objective=objective,
                               direction=direction, seed=int(config.get("seed") or 0))
        hm.run_eagerly = bool(tuning["run_eagerly"])
        out.append((task, hm))
    return out


def grid_size(config: Mapping) -> int:
    """Points of the whole search (all task projects), counted from the spaces."""
    return sum(hm.grid_size() for _, hm in hypermodels_from_config(config))


def _target(hm: BuilderHyperModel, ds) -> str | None:
    """The dataset target a task trains on: ``class`` or ``expression`` of a dataset with
    both labels (DeepRAGE), else None (the dataset's own, whose kind must be the task's:
    a regression on class labels fitted 0 / 1 as numbers)."""
    if set(ds.targets) >= {"class", "expression"}:
        return "class" if hm.classification else "expression"
    holds_classes = ds.target_name == "class"
    if hm.classification != holds_classes:
        what = "class labels" if holds_classes else "no class labels"
        raise ConfigError(f"task {hm.task}: the dataset {ds.path} holds {what} (its target: "
                          f"{ds.target_name}); expected tuning.space.task: "
                          f"[{'classification' if holds_classes else 'regression'}] (or no "
                          "task: the dataset's own)")
    return None


def _with_dataset_task(config: Mapping, ds) -> Mapping:
    """``config`` with ``model.hparams.task: classification`` when its dataset's selected
    labels are classes (``data.label: binary``, DeepRAGE's ``data.target: class``,
    DeepChrome) and the config names no task (``tuning.space.task``,
    ``model.hparams.task``): the search then trains what ``kerasgene train`` trains on that
    dataset (it trained a regression on the 0 / 1 labels, ranked by val_r2)."""
    model = dict(config.get("model") or {})
    hparams = dict(model.get("hparams") or {})
    if "task" in hparams or project_tasks(config)[1] or ds.target_name != "class":
        return config
    model["hparams"] = {**hparams, "task": "classification"}
    return {**config, "model": model}


def _fix_dataset_arguments(hm: BuilderHyperModel, ds, target: str | None) -> None:
    """Hold the builder arguments the dataset implies fixed (the task stays the
    HyperModel's); refuse a ``model.hparams`` value or an axis that contradicts them."""
    derived = systems.builder_arguments(hm.first_builder(), ds, target=target)
    derived.pop("task", None)
    for key, value in derived.items():
        if key in hm.fixed and hm.fixed[key] != value:
            raise ConfigError(f"model.hparams.{key} = {hm.fixed[key]!r} but the dataset "
                              f"{ds.path} implies {value!r}")
        if key in hm.axes:
            raise ConfigError(f"tuning.space.{key}: fixed by the dataset ({value!r})")
    hm.fixed.update(derived)


def _checked_subsets(config: Mapping) -> list[tuple[BuilderHyperModel, dict]]:
    """``[(HyperModel, subset)]`` of each task project, ``tuning.subset`` checked against
    its grid (values matched to the grid's); without the dataset, so that
    :func:`plan_search` refuses a subset off the grid before it builds one."""
    subset = tuning_section(config)["subset"] or {}
    return [(hm, _check_subset(hm, subset)) for _, hm in hypermodels_from_config(config)]


def _check_subset(hm: BuilderHyperModel, subset: Mapping) -> dict:
    if not isinstance(subset, Mapping):
        raise ConfigError(f"tuning.subset: expected {{axis: [values]}}, got {subset!r}")
    out = {}
    for name, values in subset.items():
        axis = hm.axes.get(name)
        if axis is None or axis.kind == "derived":
            axes = [n for n, a in hm.axes.items() if a.kind != "derived"]
            hint = ("; the task projects are chosen with tuning.space.task (e.g. "
                    "tuning.space.task=[regression])") if name == "task" else ""
            raise ConfigError(f"subset: {name!r} is not an axis of the grid "
                              f"({', '.join(axes)}){hint}")
        values = values if isinstance(values, (list, tuple)) else [values]
        grid = axis.grid_values()
        if not values:
            raise ConfigError(f"subset: {name}: no values (expected some of "
                              f"{', '.join(map(format_value, grid))}); an empty subset selects "
                              "no grid point")
        picked = []
        for v in values:
            num = _number(v)
            match = [g for g in grid if g == v and isinstance(g, bool) == isinstance(v, bool)]
            match = match or [g for g in grid if isinstance(g, float) and num is not None
                              and math.isclose(g, num, rel_tol=1e-9)]
            if not match:
                raise ConfigError(f"subset: {name} = {v!r} is not in the grid "
                                  f"({', '.join(map(format_value, grid))})")
            picked.append(match[0])
        out[name] = picked
    return out


def _number(value: Any) -> float | None:
    """``value`` as a number: an int or a float, or text that reads as one (YAML 1.1 and
    ``--subset`` read ``1e-4``, a number without a dot, as a string); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    return None


def _check_folder(path: Path, key: str) -> None:
    """Raise InputFileError when ``path``, or the nearest existing path above it, is not
    a directory (a project or results folder cannot be made there)."""
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                raise InputFileError(f"{key}: {p} is not a directory (expected a directory, "
                                     "or a path that does not exist yet)")
            return


def _identity(hm: BuilderHyperModel, ds, target: str | None, config: Mapping,
              tuning: Mapping) -> dict:
    """What makes a search this search (``kerasgene_search.json``)."""
    identity = {"format": 1, **hm.describe(),
                # the cache key identifies the inputs and parameters; the path only
                # when there is none (hosts may mount a shared directory differently)
                "dataset": {"cache_key": ds.meta.get("cache_key")
                            or str(Path(ds.path).resolve()),
                            "split": to_plain(ds.meta.get("split")), "target": target},
                "max_examples": tuning["max_examples"],
                "executions_per_trial": tuning["executions_per_trial"]}
    inputs = (config.get("training") or {}).get("inputs")
    if inputs is not None:  # another subset of the inputs is another search
        identity["dataset"]["inputs"] = to_plain(inputs)
    return identity


def plan_search(config: Mapping, *, dataset=None, validate: bool = True) -> list[SearchPlan]:
    """Resolve a tune configuration into one :class:`SearchPlan` per task project;
    opens (or builds) the dataset and, with ``validate``, checks every axis value and
    the objective by building models."""
    tuning = tuning_section(config)
    _, per_task, _ = project_tasks(config)
    directory = Path(tuning["directory"])
    _check_folder(directory, "tuning.directory")  # before the dataset is opened or built
    if config.get("run_dir"):
        _check_folder(Path(config["run_dir"]), "run_dir")
    checked = _checked_subsets(config)  # before a dataset is built (minutes on real data)
    ds = dataset if dataset is not None else open_dataset(config)
    if (with_task := _with_dataset_task(config, ds)) is not config:
        config, checked = with_task, _checked_subsets(with_task)
    run_config = {k: v for k, v in config.items() if k != "tuning"}
    plans = []
    for i, ((_, project, results), (hm, subset)) in enumerate(
            zip(project_layout(config), checked)):
        target = _target(hm, ds)
        _fix_dataset_arguments(hm, ds, target)
        _check_folder(directory / project, "tuning.project_name")
        if config.get("run_dir") and per_task:
            _check_folder(results, "run_dir")
        if validate:
            hm.validate(ds.input_names)
        _warn_joint_ensemble(hm)
        plans.append(SearchPlan(
            hypermodel=hm, dataset=ds, target=target, directory=directory,
            project_name=project, results_dir=results, subset=subset,
            max_trials=tuning["max_trials"], max_examples=tuning["max_examples"],
            executions_per_trial=tuning["executions_per_trial"],
            in_memory=tuning["in_memory"], export_best=bool(tuning["export_best"]),
            plot=bool(tuning["plot"]), port_offset=i,
            identity=_identity(hm, ds, target, config, tuning), run_config=run_config))
    return plans


def _warn_joint_ensemble(hm: BuilderHyperModel) -> None:
    """Warn that a trial of a several-member histone FCN ensemble fits the members jointly
    on the training split, where ``kerasgene train`` fits each on its own fold."""
    points = [hm.trial_settings(values)[:2] for values in hm.grid()]
    if any(b == "histone_fcn_ensemble" and kw.get("n_models", 3) > 1 for b, kw in points):
        log.warning("tune: a trial fits the histone_fcn_ensemble's members together on the "
                    "whole training split, stopped on valid, where kerasgene train fits each "
                    "on its own two thirds of the training genes and stops it on the third "
                    "left (the write-up's protocol): a point's score and its run's differ; to "
                    "rank the member's architecture, tune model.name: histone_fcn (or "
                    "n_models: 1) and train the ensemble of the best point")


def plan_summary(plan: SearchPlan) -> dict:
    """What a search would run: grid points, those selected by subset / max_trials, and
    the trials already completed in the project directory.

    Raises
    ------
    ConfigError
        The project directory holds another search's tuner state: the run would refuse it
        (:func:`_check_existing_project`).
    """
    _check_existing_project(plan)
    hm = plan.hypermodel
    grid = hm.grid()
    selected = [p for p in grid if all(p.get(k) in v for k, v in plan.subset.items())]
    done = 0
    for path in plan.project_dir.glob("trial_*/trial.json"):
        with contextlib.suppress(OSError, ValueError):
            done += json.loads(path.read_text()).get("status") == "COMPLETED"
    n = len(selected) if plan.max_trials is None else min(len(selected), plan.max_trials)
    fmt = format_value
    return {"project": plan.project_name, "project_dir": str(plan.project_dir),
            "grid_points": len(grid), "selected": n, "completed": done,
            "objective": f"{hm.objective_name} ({hm.direction})",
            "axes": {k: ([f"{fmt(v)} ({a.by} {fmt(w)})" for w, v in a.mapping.items()
                          if w in hm.axes[a.by].values]
                         if a.kind == "derived" else [fmt(v) for v in a.grid_values()])
                     for k, a in hm.axes.items()}}


def _check_existing_project(plan: SearchPlan) -> None:
    """Refuse, as the search itself would (:func:`kerasgene.tuning.runner.check_project`,
    :func:`kerasgene.tuning.oracle.check_saved_state`), a project directory holding another
    search's tuner state or a state it cannot resume, writing nothing: the checks are
    made only when the directory holds tuner state (which they then only read)."""
    from kerasgene.tuning.oracle import check_saved_state
    from kerasgene.tuning.runner import SEARCH_FILE, check_project

    pdir = plan.project_dir
    if (pdir / SEARCH_FILE).is_file() or any(pdir.glob("trial_*")) or any(
            not is_temporary(p) for p in pdir.glob("*.json")):
        check_project(plan)
    if (pdir / "oracle.json").is_file() or (pdir / "tuner0.json").is_file():
        check_saved_state(pdir)


def format_summary(info: Mapping) -> str:
    """A :func:`plan_summary` as three lines of text."""
    axes = "; ".join(f"{k}: {', '.join(v)}" for k, v in info["axes"].items())
    return (f"{info['project']}: {info['grid_points']} grid points, {info['selected']} "
            f"selected, {info['completed']} completed; objective {info['objective']}\n"
            f"  {axes}\n  {info['project_dir']}")
