"""A tune configuration: a run configuration with a ``tuning:`` section.

Reading the file, the section's defaults and checks, the task projects it implies, and
the trial selection (``max_trials``, ``subset``) a caller adds. Light: no TensorFlow, so
the ``--workers`` launcher can read a configuration without importing it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from kerasgene.config import TOP_LEVEL_KEYS, load_config, with_defaults
from kerasgene.errors import ConfigError

#: Top-level keys of a tune configuration.
TUNE_KEYS = (*TOP_LEVEL_KEYS, "tuning")
#: What a search can optimise; DeepRAGE's grid runs one project per task.
TASKS = ("regression", "classification")

TUNING_DEFAULTS: dict[str, Any] = {
    "space": None, "objective": None, "directory": "runs/tuning", "project_name": None,
    "max_trials": None, "subset": None, "max_examples": None, "executions_per_trial": 1,
    "in_memory": "auto", "export_best": True, "plot": True, "threads": None,
    "run_eagerly": False,
}
_COUNTS = ("max_trials", "max_examples", "executions_per_trial")


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
    return config


def tuning_section(config: Mapping) -> dict:
    """The ``tuning`` section with :data:`TUNING_DEFAULTS` filled in, its keys and its
    counts (``max_trials``, ``max_examples``, ``executions_per_trial``) checked."""
    tuning = with_defaults(config.get("tuning"), TUNING_DEFAULTS, "tuning")
    for key in _COUNTS:
        v = tuning[key]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ConfigError(f"tuning.{key}: expected a positive integer, got {v!r}")
    return tuning


def project_tasks(config: Mapping) -> tuple[list[str], bool, dict]:
    """``(tasks, one project per task?, space without the task axis)``.

    A ``task`` entry of ``tuning.space`` lists tasks, each searched in a project of its
    own (it changes the labels and the objective); otherwise the one task is
    ``model.hparams.task`` (default regression).
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
