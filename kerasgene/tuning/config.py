"""A tune configuration: a run configuration with a ``tuning:`` section.

Reading the file, the section's defaults and checks, the task projects it implies, and
the trial selection (``max_trials``, ``subset``) a caller adds. Light: no TensorFlow, so
the ``--workers`` launcher can read a configuration without importing it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kerasgene.config import (
    TOP_LEVEL_KEYS,
    Spec,
    check_keys,
    check_value,
    load_config,
    with_defaults,
)
from kerasgene.errors import ConfigError

#: Top-level keys of a tune configuration.
TUNE_KEYS = (*TOP_LEVEL_KEYS, "tuning")
#: What a search can optimise; DeepRAGE's grid runs one project per task.
TASKS = ("regression", "classification")
#: The run configuration of a project's best trial (``kerasgene train --config``), in the
#: project's results folder beside ``best_hyperparameters.json``.
BEST_RUN_FILE = "best_run.yaml"

TUNING_DEFAULTS: dict[str, Any] = {
    "space": None, "objective": None, "directory": "runs/tuning", "project_name": None,
    "max_trials": None, "subset": None, "max_examples": None, "executions_per_trial": 1,
    "in_memory": "auto", "export_best": True, "plot": True, "threads": None,
    "run_eagerly": False,
}
_COUNTS = ("max_trials", "max_examples", "executions_per_trial")
#: What the other ``tuning`` values must be (``objective`` is checked by :func:`_objective`).
_SPECS = {"space": Spec("mapping", null=True), "directory": Spec("path"),
          "subset": Spec("mapping", null=True),
          "export_best": Spec("bool"), "plot": Spec("bool"), "run_eagerly": Spec("bool"),
          "threads": Spec("int", min=1, null=True)}


def load_tune_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> dict:
    """Read a tune YAML and apply ``a.b=value`` overrides (YAML-parsed values).

    Raises
    ------
    ConfigError
        An unknown top-level key, or a ``tuning`` value that is not a mapping.
    """
    config = load_config(path, overrides, allowed_keys=TUNE_KEYS)
    if not isinstance(config.get("tuning") or {}, dict):
        raise ConfigError(f"{path}: 'tuning' must be a mapping")
    tuning_section(config)  # before any dataset is built or thread count set
    return config


def tuning_section(config: Mapping) -> dict:
    """The ``tuning`` section with :data:`TUNING_DEFAULTS` filled in, its keys and its
    counts (``max_trials``, ``max_examples``, ``executions_per_trial``) checked."""
    tuning = with_defaults(config.get("tuning"), TUNING_DEFAULTS, "tuning")
    for key in _COUNTS:
        v = tuning[key]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ConfigError(f"tuning.{key}: expected a positive integer, got {v!r}")
    for key, spec in _SPECS.items():
        check_value(tuning[key], spec, f"tuning.{key}")
    in_memory = tuning["in_memory"]
    if not (in_memory == "auto" or isinstance(in_memory, bool)):
        raise ConfigError(f"tuning.in_memory: expected auto, true or false, got {in_memory!r}")
    _objective(tuning["objective"])
    tuning["project_name"] = _project_name(tuning["project_name"])
    return tuning


def _project_name(name: Any) -> str | None:
    """``tuning.project_name`` as a folder name (a number such as 2024 as text), or None.

    Raises
    ------
    ConfigError
        Unless ``name`` is null or a plain folder name: the project folder is made inside
        ``tuning.directory``, so a path (``../x``, ``a/b``, an absolute path), ``.``,
        ``..`` or an empty name would put the trials elsewhere.
    """
    if name is None:
        return None
    text = str(name) if isinstance(name, str | int) and not isinstance(name, bool) else ""
    if text in ("", ".", "..") or "/" in text or "\\" in text:
        raise ConfigError(f"tuning.project_name: expected a plain folder name, made inside "
                          "tuning.directory (no '/' or '\\', not '.', '..' or empty), "
                          f"got {name!r}")
    return text


def _objective(objective: Any) -> None:
    """Raise ConfigError unless ``objective`` is null, a metric name, ``{name, direction}``
    or ``{task: metric name}`` with tasks of :data:`TASKS`."""
    where = "tuning.objective"
    if objective is None or isinstance(objective, str):
        return
    if not isinstance(objective, Mapping):
        raise ConfigError(f"{where}: expected a metric name (e.g. val_r2), {{name, direction}} "
                          f"or {{task: metric name}}, got {objective!r}")
    if "name" in objective:
        check_keys(objective, ("name", "direction"), where)
        check_value(objective["name"], Spec("str"), f"{where}.name")
        check_value(objective.get("direction"), Spec("choice", choices=("min", "max"),
                                                     null=True), f"{where}.direction")
        return
    check_keys(objective, TASKS, where)
    for task, name in objective.items():
        check_value(name, Spec("str"), f"{where}.{task}")


def project_tasks(config: Mapping) -> tuple[list[str], bool, dict]:
    """``(tasks, one project per task?, space without the task axis)``.

    A ``task`` entry of ``tuning.space`` lists tasks, each searched in a project of its
    own (it changes the labels and the objective); otherwise the one task is
    ``model.hparams.task`` (default regression; :func:`kerasgene.tuning.plans.plan_search`
    makes it classification on a dataset of class labels).
    """
    space = dict((config.get("tuning") or {}).get("space") or {})
    if "task" in space:
        tasks = space.pop("task")
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        bad = [t for t in tasks if t not in TASKS]
        if bad or not tasks:
            raise ConfigError(f"tuning.space.task: expected a list of {TASKS}, got {tasks!r}")
        return tasks, True, space
    hparams = dict((config.get("model") or {}).get("hparams") or {})
    return [hparams.get("task", "regression")], False, space


def project_layout(config: Mapping) -> list[tuple[str, str, Path]]:
    """``[(task, project name, results folder)]``, one per task project.

    The project is ``tuning.project_name`` (default ``<model>_grid``), suffixed
    ``_<task>`` when the space lists tasks; its results (``trials.tsv``, the best model,
    :data:`BEST_RUN_FILE`) go to ``run_dir`` (``run_dir/<task>`` per task) when set, else
    to the project folder in ``tuning.directory``.
    """
    tuning = tuning_section(config)
    tasks, per_task, _ = project_tasks(config)
    model_name = (config.get("model") or {}).get("name") or config["system"]
    base = tuning["project_name"] or f"{model_name}_grid"
    out = []
    for task in tasks:
        project = f"{base}_{task}" if per_task else base
        results = Path(tuning["directory"]) / project
        if config.get("run_dir"):
            results = Path(config["run_dir"]) / task if per_task else Path(config["run_dir"])
        out.append((task, project, results))
    return out


def apply_selection(config: dict, max_trials: int | None = None,
                    subset: Mapping[str, list] | None = None) -> dict:
    """Set ``tuning.max_trials`` and merge ``subset`` (``{axis: [values]}``, replacing
    the file's values of the same axes) into ``tuning.subset``, in place; returns it."""
    tuning = config.setdefault("tuning", {}) or {}
    config["tuning"] = tuning
    if max_trials is not None:
        if max_trials < 1:
            raise ConfigError(f"max_trials: expected a positive integer, got {max_trials}")
        tuning["max_trials"] = max_trials
    if subset:
        tuning["subset"] = {**(tuning.get("subset") or {}), **subset}
    return config
