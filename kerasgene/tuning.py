"""Hyperparameter search with keras-tuner: the papers' grids, resumable and distributed.

A :class:`BuilderHyperModel` maps keras-tuner hyperparameters to the keyword arguments of
a registry builder (:func:`kerasgene.models.build`) and compiles the model with the
paper's recipe (:mod:`kerasgene.train.recipes`); without a ``tuning.space`` it searches the
paper's grid, kept with its system (:attr:`kerasgene.systems.System.tuning`). Every grid
axis is an
``hp.Choice``, an ``hp.Int``/``hp.Float`` with a ``step``, or an ``hp.Fixed``, so that
``keras_tuner.GridSearch`` enumerates exactly the grid:

- iSEGnet (paper §2.3): k1 ∈ {16, 32, 64, 128} (k2 = 2·k1, the builder's default),
  kernel length ∈ {20, 50, 100}, L2 ∈ {1e-4, 1e-2, 0.1, 1.0}, dropout ∈ {0.1, 0.3, 0.5}
  → 144 points.
- DeepRAGE (paper §4.4): variant ∈ {concat, tensor, rnn} × optimizer ∈ {SGD (lr 0.01),
  Adam (lr 0.001)} × task ∈ {regression, classification} → 12 points. The learning rate
  is *paired* with the optimizer (a derived value, not a grid axis). The task changes the
  labels and the objective (validation R² against validation accuracy), and a
  keras-tuner oracle ranks trials by one objective, so each task is its own keras-tuner
  project ``<project_name>_<task>`` (2 × 6 points).

The grid YAML (``tuning/*.yaml``, read by ``kerasgene tune``) is a run configuration
with a ``tuning`` section::

    system: isegnet                # kerasgene.systems (the dataset builder and grid)
    seed: 0
    data_dir: demo_out/data        # base of relative paths in `data`
    data: {...}                    # the dataset builder's keys, split included
    dataset_dir: runs/tuning/isegnet_dataset   # built / reused there (kerasgene.train.runs)
    model:
      name: isegnet                # a registry name, or "deeprage" (variants via the grid)
      hparams: {}                  # builder arguments held fixed for every trial
    training: {...}                # kerasgene.train.recipes settings: epochs per trial, patience...
    tuning:
      space:                       # one entry per grid axis:
        k1: [16, 32, 64, 128]      #   list → hp.Choice
        dropout: {min: 0.1, max: 0.5, step: 0.2}   # → hp.Float / hp.Int with a step
        pool: avg                  #   scalar → hp.Fixed
        learning_rate: {by: optimizer, values: {sgd: 0.01, adam: 0.001}}  # derived
      objective: null              # default: val_r2 (regression) / val_accuracy
      directory: runs/tuning
      project_name: isegnet_grid
      max_trials: null             # at most this many trials in the project (quick runs)
      subset: null                 # {axis: [values]}: only these points (quick runs)
      max_examples: null           # at most this many train / valid examples (seeded)
      executions_per_trial: 1
      in_memory: auto              # load the splits in memory when small (≤ 512 MB)
      export_best: true            # best model → <results>/best_model.keras
      plot: true                   # grid summary → <results>/grid.png
      threads: null                # TensorFlow intra/inter-op threads of this process
      run_eagerly: false           # tiny smoke runs: skip tf.function tracing per trial

``training.verbose`` defaults to 0 here (keras-tuner prints a summary per trial).

Resuming: the project is reloaded (``overwrite=False``). keras-tuner 1.4.8's
``GridSearchOracle`` keeps its ordered list and queue of next combinations in memory
only: reloaded after an interruption mid-trial, it re-runs the interrupted trial and
then fails with a ``KeyError`` in ``populate_space`` (checked with 1.4.8); and with
several workers it runs at most one trial at a time after the first two (a finished
trial queues one successor, the others get IDLE). :class:`ResumableGridOracle` keeps
keras-tuner's own enumeration (``GridSearchOracle._get_next_combination``) but serves
the first grid point whose values hash is not in the oracle's persisted ``tried_so_far``
set: finished trials are never re-run, an interrupted one is retried from keras-tuner's
retry queue, any number of workers each get the next free point, and its state files are
written atomically (a SIGKILL during a write cannot truncate ``oracle.json``).
keras-tuner also saves the oracle *before* removing an ended trial from
``ongoing_trials``; a chief killed before its next save would re-run that finished
trial, so the state is saved again after ``end_trial``. ``kerasgene_search.json`` in the
project directory identifies the search (space, builder, dataset, objective, training);
a directory holding a different search's state is an error, not silently reused.

Distribution: keras-tuner's chief/worker mode (``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``, a shared directory). The chief
serves the oracle with keras-tuner's ``OracleServicer`` (:func:`serve_oracle` polls every
0.1 s where keras-tuner's own loop sleeps up to 20 s before exiting) and writes the
results; workers run trials. With several tasks (DeepRAGE), task ``i`` uses port
``KERASTUNER_ORACLE_PORT + i``.

Results (chief or single process), in ``run_dir`` (default: the project directory):
``trials.tsv`` (one row per trial; rewritten after every trial), ``grid.png``,
``best_model.keras``, ``best_hyperparameters.json``; ``runs.log`` in the project
directory has a JSON line when a trial execution starts and one when it ends (which
tuner ran which trial, when; a re-run trial appears twice).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import math
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np
import pandas as pd
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.tuners.gridsearch import GridSearchOracle

from kerasgene import models, systems
from kerasgene._io import to_plain, write_atomic, write_json
from kerasgene.config import check_keys, like_default, yaml_number_hint
from kerasgene.errors import ConfigError, InputFileError, KerasgeneError
from kerasgene.train import recipes

log = logging.getLogger(__name__)

def family(name: str) -> dict[str, str]:
    """``variant`` value → registry model of a system searched over its variants (DeepRAGE's
    ``{"concat": "deeprage_concat", ...}``), empty for any other name."""
    if name in systems.names() and systems.get(name).tuning is not None:
        return dict(systems.get(name).tuning.family)
    return {}


def paper_space(name: str) -> Mapping[str, Any] | None:
    """The paper's grid (:attr:`kerasgene.systems.TuningEntry.space`) of a system or of the
    system a registry model belongs to; None when the paper gave none."""
    system = systems.get(name) if name in systems.names() else systems.for_model(name)
    return None if system.tuning is None else system.tuning.space


#: Axes that are not builder arguments.
SEARCH_ARGUMENTS = ("variant", "optimizer", "learning_rate", "task")
TASKS = ("regression", "classification")

TUNING_DEFAULTS: dict[str, Any] = {
    "space": None, "objective": None, "directory": "runs/tuning", "project_name": None,
    "max_trials": None, "subset": None, "max_examples": None, "executions_per_trial": 1,
    "in_memory": "auto", "export_best": True, "plot": True, "threads": None,
    "run_eagerly": False,
}
SEARCH_FILE = "kerasgene_search.json"
RUN_FILE = "kerasgene_run.json"
_IN_MEMORY_BYTES = 512 * 2**20
_IGNORED_TRAINING = ("verbose", "tensorboard", "strategy")


# ============================================================================ space
@dataclass(frozen=True)
class Axis:
    """One entry of a search space.

    kind: ``choice`` (values), ``range`` (min, max, step, sampling), ``fixed`` (one
    value) or ``derived`` (``by`` another choice axis, ``mapping`` value → value).
    """

    name: str
    kind: str
    values: tuple = ()
    min: float | int | None = None
    max: float | int | None = None
    step: float | int | None = None
    sampling: str = "linear"
    by: str | None = None
    mapping: Mapping | None = None

    def declare(self, hp: kt.HyperParameters) -> Any:
        """Register the axis in ``hp`` and return its value (derived axes: nothing)."""
        if self.kind == "choice":
            return hp.Choice(self.name, list(self.values))
        if self.kind == "fixed":
            return hp.Fixed(self.name, self.values[0])
        if self.kind == "range":
            cls = hp.Int if isinstance(self.min, int) and isinstance(self.step, int) else hp.Float
            return cls(self.name, self.min, self.max, step=self.step, sampling=self.sampling)
        return None

    def grid_values(self) -> list:
        """The values the grid takes on this axis, in enumeration order."""
        if self.kind in ("choice", "fixed"):
            return list(self.values)
        if self.kind == "range":
            hp = kt.HyperParameters()
            self.declare(hp)
            return list(hp.space[0].values)
        return sorted(set(self.mapping.values()), key=str)

    def describe(self) -> Any:
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "range":
            return {"min": self.min, "max": self.max, "step": self.step,
                    "sampling": self.sampling}
        return {"by": self.by, "values": dict(self.mapping)}


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"{where}: expected a number, a string or a boolean, got {value!r}")


def _homogeneous(values: list, where: str) -> list:
    """keras-tuner's Choice needs one type: ints with floats become floats."""
    kinds = {type(v) for v in values}
    if kinds <= {int, float} and float in kinds:
        return [float(v) for v in values]
    if len(kinds) > 1:
        raise ConfigError(f"{where}: mixed value types {sorted(k.__name__ for k in kinds)} "
                          f"in {values!r}{yaml_number_hint(values)}")
    return values


def parse_axis(name: str, spec: Any, where: str = "tuning.space") -> Axis:
    """One YAML space entry → :class:`Axis` (see the module docstring for the forms)."""
    here = f"{where}.{name}"
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ConfigError(f"{here}: empty list of values")
        values = _homogeneous([_scalar(v, here) for v in spec], here)
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"{here}: repeated values in {values!r}")
        return Axis(name, "choice", tuple(values))
    if isinstance(spec, Mapping):
        if "by" in spec:
            check_keys(spec, ("by", "values"), here)
            if not isinstance(spec.get("values"), Mapping) or not spec["values"]:
                raise ConfigError(f"{here}: 'values' must map each value of {spec['by']!r} "
                                  "to a value")
            mapping = {k: _scalar(v, here) for k, v in spec["values"].items()}
            return Axis(name, "derived", by=str(spec["by"]), mapping=mapping)
        check_keys(spec, ("min", "max", "step", "sampling"), here)
        missing = [k for k in ("min", "max", "step") if spec.get(k) is None]
        if missing:
            raise ConfigError(f"{here}: a range needs min, max and step (a range without a "
                              f"step is not a grid); missing {missing}")
        lo, hi, step = (spec[k] for k in ("min", "max", "step"))
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi, step)):
            raise ConfigError(f"{here}: min, max and step must be numbers")
        sampling = spec.get("sampling", "linear")
        if sampling not in ("linear", "log", "reverse_log"):
            raise ConfigError(f"{here}.sampling: expected linear, log or reverse_log, "
                              f"got {sampling!r}")
        if hi < lo or step <= 0 or (sampling != "linear" and (lo <= 0 or step <= 1)):
            raise ConfigError(f"{here}: impossible range {dict(spec)!r}")
        if not all(isinstance(v, int) for v in (lo, hi, step)):
            lo, hi, step = float(lo), float(hi), float(step)
        return Axis(name, "range", min=lo, max=hi, step=step, sampling=sampling)
    return Axis(name, "fixed", (_scalar(spec, here),))


def parse_space(space: Mapping, where: str = "tuning.space") -> dict[str, Axis]:
    """A YAML ``space`` mapping → ``{name: Axis}`` (in the file's order)."""
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(f"{where}: expected a mapping of hyperparameter → values")
    axes = {str(k): parse_axis(str(k), v, where) for k, v in space.items()}
    for axis in axes.values():
        if axis.kind != "derived":
            continue
        parent = axes.get(axis.by)
        if parent is None or parent.kind not in ("choice", "fixed"):
            raise ConfigError(f"{where}.{axis.name}: 'by' must name a list axis of the space, "
                              f"got {axis.by!r}")
        missing = [v for v in parent.values if v not in axis.mapping]
        if missing:
            raise ConfigError(f"{where}.{axis.name}: no value for {axis.by} = {missing}")
    return axes


def grid_points(hps: kt.HyperParameters) -> list[dict]:
    """Every point GridSearch visits, in its order, from keras-tuner's own enumeration
    (``GridSearchOracle._get_next_combination`` from the defaults)."""
    oracle = GridSearchOracle(objective=kt.Objective("score", "max"), hyperparameters=hps.copy())
    space = oracle.get_space()
    point = {hp.name: hp.default for hp in space.space if space.is_active(hp)}
    points = [point]
    while (point := oracle._get_next_combination(point)) is not None:
        point = dict(point)
        points.append(point)
    return points


def _direction(objective: str) -> str:
    low = objective.lower()
    minimise = low.endswith("loss") or any(s in low for s in ("mse", "mae", "error"))
    return "min" if minimise else "max"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ============================================================================ HyperModels
class BuilderHyperModel(kt.HyperModel):
    """keras-tuner HyperModel over one registry builder (or a family of variants).

    Parameters
    ----------
    model : registry name (``kerasgene.models.names()``) or a system searched over its
        variants (:func:`family`; ``"deeprage"``: the ``variant`` axis picks the builder)
    space : ``{name: YAML space entry}`` (default: the paper's grid, :func:`paper_space`); names are
        builder arguments (checked with ``inspect.signature``) or ``optimizer``,
        ``learning_rate``, ``variant``
    fixed : builder arguments held fixed (e.g. ``seq_len`` from the dataset)
    task : "regression" or "classification" (the builder's head and the recipe's loss)
    training : ``training`` section (:data:`kerasgene.train.recipes.TRAINING_DEFAULTS`)
    objective : metric to optimise (default: the recipe's monitor, ``val_r2`` /
        ``val_accuracy``); checked against the compiled model's metrics by :meth:`validate`
    seed : seeds Python/NumPy/TF before every build (same initialisation per trial)

    ``build(hp)`` returns a compiled model; ``fit`` adds early stopping and
    ReduceLROnPlateau on the objective (:func:`kerasgene.train.recipes.make_callbacks`) and
    returns the metrics of the best epoch plus ``epochs`` (run) and ``best_epoch``.
    """

    def __init__(self, model: str | None = None, space: Mapping | None = None,
                 fixed: Mapping | None = None, *, task: str = "regression",
                 training: Mapping | None = None, objective: str | None = None,
                 direction: str | None = None, seed: int = 0, name: str | None = None):
        if model is None:
            raise ConfigError("model.name: required")
        super().__init__(name=name or f"{model}_grid", tunable=True)
        self.model_name = model
        families = [n for n in systems.names() if family(n)]
        if family(model):
            self.variants = family(model)
        elif model in models.names():
            self.variants = {model: model}
        else:
            near = difflib.get_close_matches(model, [*models.names(), *families], n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"model.name: unknown model {model!r}{hint} (expected one of "
                              f"{', '.join([*models.names(), *families])})")
        space = paper_space(model) if space is None else space
        if space is None:
            raise ConfigError(f"tuning.space: required for {model} (no paper grid)")
        self.axes = parse_space(space)
        if task not in TASKS:
            raise ConfigError(f"task: expected one of {TASKS}, got {task!r}")
        self.task = task
        self.fixed = dict(fixed or {})
        self.training_section = dict(training or {})
        self.seed = int(seed)
        self.run_eagerly = False
        self._check_names()
        self.objective_name = objective or self.recipe(self.first_builder())["monitor"]
        self.direction = direction or _direction(self.objective_name)
        if self.direction not in ("min", "max"):
            raise ConfigError(f"tuning.objective direction: expected min or max, got "
                              f"{self.direction!r}")

    # ------------------------------------------------------------------ names
    @property
    def classification(self) -> bool:
        return self.task == "classification"

    def first_builder(self) -> str:
        axis = self.axes.get("variant")
        return self.variants[axis.values[0]] if axis else next(iter(self.variants.values()))

    def builder_arguments(self) -> list[str]:
        """Arguments accepted by every builder of the family (``inspect.signature``)."""
        common = None
        for builder in self.variants.values():
            args = [a for a in models.hyperparameters(builder) if a != "name"]
            common = args if common is None else [a for a in common if a in args]
        return common

    def _check_names(self) -> None:
        valid = self.builder_arguments()
        special = [s for s in SEARCH_ARGUMENTS if s != "task"]
        if len(self.variants) == 1:
            special.remove("variant")
        builders = "/".join(self.variants.values())
        for name in self.axes:
            if name == "task":
                raise ConfigError("tuning.space.task: the task is not an axis of one "
                                  "project (it changes the labels and the objective); pass "
                                  "task= per HyperModel, or list tasks in the YAML space, "
                                  "which runs one project per task")
            if name in valid or name in special:
                continue
            near = difflib.get_close_matches(name, valid + special, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"tuning.space: unknown hyperparameter {name!r}{hint} for {builders}; valid "
                f"builder arguments: {', '.join(valid)}; search arguments: "
                f"{', '.join(special)}")
        any_variant = []  # a fixed argument may belong to some variants (rnn_units)
        for builder in self.variants.values():
            any_variant += [a for a in models.hyperparameters(builder)
                            if a != "name" and a not in any_variant]
        for name in self.fixed:
            if name not in any_variant:
                near = difflib.get_close_matches(name, any_variant, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ConfigError(f"model.hparams: unknown argument {name!r}{hint} for "
                                  f"{builders}; valid arguments: {', '.join(any_variant)}")
            if name in self.axes:
                raise ConfigError(f"model.hparams.{name}: also a grid axis (tuning.space.{name})")
        if "variant" in self.axes:
            axis = self.axes["variant"]
            bad = [v for v in axis.grid_values() if v not in self.variants]
            if bad:
                raise ConfigError(f"tuning.space.variant: unknown variant(s) {bad}; "
                                  f"{self.model_name} has {', '.join(self.variants)}")
        elif len(self.variants) > 1:
            raise ConfigError(f"tuning.space: {self.model_name} needs a 'variant' axis "
                              f"({', '.join(self.variants)})")
        if "optimizer" in self.axes:
            bad = [v for v in self.axes["optimizer"].grid_values() if v not in recipes.OPTIMIZERS]
            if bad:
                raise ConfigError(f"tuning.space.optimizer: unknown optimizer(s) {bad}; "
                                  f"expected {', '.join(recipes.OPTIMIZERS)}")
        if "learning_rate" in self.axes:
            values = self.axes["learning_rate"].grid_values()
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                       for v in values):
                raise ConfigError(f"tuning.space.learning_rate: expected positive numbers, "
                                  f"got {values}")
        # value types against the builder's defaults
        defaults = {}
        for builder in self.variants.values():
            defaults.update(models.hyperparameters(builder))
        for name, axis in self.axes.items():
            if name in defaults:
                for value in axis.grid_values():
                    _check_type(f"tuning.space.{name}", value, defaults[name], builders, valid)

    # ------------------------------------------------------------------ space
    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        for axis in self.axes.values():
            axis.declare(hp)

    def space(self) -> kt.HyperParameters:
        """The declared search space (a fresh ``HyperParameters``)."""
        hp = kt.HyperParameters()
        self.declare_hyperparameters(hp)
        return hp

    def grid(self) -> list[dict]:
        """The grid points in GridSearch order (derived values not included)."""
        return grid_points(self.space())

    def grid_size(self) -> int:
        return len(self.grid())

    def values(self, hp: kt.HyperParameters) -> dict[str, Any]:
        """Declare the axes in ``hp`` and return every value, derived ones included."""
        out = {}
        for name, axis in self.axes.items():
            if axis.kind != "derived":
                out[name] = axis.declare(hp)
        for name, axis in self.axes.items():
            if axis.kind == "derived":
                out[name] = axis.mapping[out[axis.by]]
        return out

    # ------------------------------------------------------------------ building
    def recipe(self, builder: str) -> dict:
        return recipes.resolve_training(dict(self.training_section), builder,
                                         self.classification)

    def trial_settings(self, values: Mapping[str, Any]) -> tuple[str, dict, dict]:
        """``(registry name, builder kwargs, training settings)`` of one grid point."""
        builder = self.variants[values["variant"]] if "variant" in values else self.first_builder()
        allowed = models.hyperparameters(builder)
        kwargs = {k: v for k, v in self.fixed.items() if k in allowed}
        kwargs.update({k: v for k, v in values.items() if k in allowed})
        if "task" in allowed:
            kwargs["task"] = self.task
        cfg = self.recipe(builder)
        if "optimizer" in values:
            cfg["optimizer"] = values["optimizer"]
        if "learning_rate" in values:
            cfg["learning_rate"] = float(values["learning_rate"])
        cfg["monitor"] = self.objective_name
        return builder, kwargs, cfg

    def build_point(self, values: Mapping[str, Any], compile: bool = True) -> keras.Model:
        builder, kwargs, cfg = self.trial_settings(values)
        recipes.set_seed(self.seed)
        model = models.build(builder, **kwargs)
        if compile:
            recipes.compile_model(model, cfg)
            model.run_eagerly = self.run_eagerly
        return model

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        return self.build_point(self.values(hp))

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args, callbacks=None, **kwargs):
        _, _, cfg = self.trial_settings(self.values(hp))
        callbacks = list(callbacks or []) + recipes.make_callbacks(cfg, None)
        kwargs.setdefault("epochs", cfg["epochs"])
        kwargs.setdefault("verbose", cfg["verbose"])
        kwargs.setdefault("shuffle", False)  # the tf.data pipelines shuffle themselves
        if cfg["steps_per_epoch"]:
            kwargs.setdefault("steps_per_epoch", cfg["steps_per_epoch"])
        history = model.fit(*args, callbacks=callbacks, **kwargs)
        return best_epoch_metrics(history.history, self.objective_name, self.direction)

    # ------------------------------------------------------------------ checks
    def metric_names(self, model: keras.Model) -> list[str]:
        """Names the compiled model reports to ``fit``'s logs (``val_`` ones included)."""
        config = model.get_compile_config() or {}
        names = ["loss"]
        for m in config.get("metrics") or []:
            if isinstance(m, str):
                names.append(m)
            elif isinstance(m, Mapping):
                names.append(m.get("config", {}).get("name") or m.get("class_name"))
        return names + [f"val_{n}" for n in names]

    def validate(self, input_names: Sequence[str] | None = None) -> None:
        """Build every axis value once (the others at their first value) so an
        impossible value fails now, not in trial 97; check that the objective is one of
        the compiled model's metrics and that the model's inputs are the dataset's."""
        first = dict(self.grid()[0])
        for name, axis in self.axes.items():
            if axis.kind == "derived":
                continue
            builder_arg = name in self.builder_arguments() or name == "variant"
            if not builder_arg:
                continue
            for value in axis.grid_values()[1:] if name != "variant" else axis.grid_values():
                point = {**first, name: value}
                self._try_build(point, f"tuning.space.{name} = {value!r}")
                keras.backend.clear_session()  # free it (DeepRAGE-TP: 67 M parameters)
        model = self._try_build(first, "the first grid point", compile=True)
        available = self.metric_names(model)
        if self.objective_name not in available:
            near = difflib.get_close_matches(self.objective_name, available, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"tuning.objective: {self.objective_name!r} is not produced by the compiled "
                f"{model.name} ({self.task}){hint}; its metrics are {', '.join(available)}")
        if input_names is not None:
            got = sorted(t.name for t in model.inputs)
            if got != sorted(input_names):
                raise ConfigError(f"model.name: {model.name} takes inputs {got} but the "
                                  f"dataset provides {sorted(input_names)}")
        del model
        keras.backend.clear_session()

    def _try_build(self, point: Mapping, what: str, compile: bool = False) -> keras.Model:
        try:
            return self.build_point(point, compile=compile)
        except ConfigError as err:
            raise ConfigError(f"{what}: impossible for {self.trial_settings(point)[0]}: {err}; "
                              f"valid builder arguments: {', '.join(self.builder_arguments())}"
                              ) from None
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{what}: the builder failed: {err}") from None

    def describe(self) -> dict:
        """Plain-data identity of the search space (for ``kerasgene_search.json``)."""
        return {"model": self.model_name, "variants": self.variants, "task": self.task,
                "space": {n: a.describe() for n, a in self.axes.items()},
                "fixed": to_plain(self.fixed), "objective": self.objective_name,
                "direction": self.direction, "seed": self.seed,
                "training": {k: v for k, v in self.recipe(self.first_builder()).items()
                             if k not in _IGNORED_TRAINING}}


def _check_type(where: str, value: Any, default: Any, builders: str,
                valid: Sequence[str]) -> None:
    if not like_default(value, default):
        raise ConfigError(f"{where}: impossible value {value!r} for {builders} (expected "
                          f"{type(default).__name__}, like the default {default!r})"
                          f"{yaml_number_hint([value])}; valid builder arguments: "
                          f"{', '.join(valid)}")


def best_epoch_metrics(history: Mapping[str, Sequence[float]], objective: str,
                       direction: str) -> dict[str, float]:
    """Metrics of the best epoch (by ``objective``) plus ``epochs`` and ``best_epoch``
    (1-based). A NaN objective in every epoch gives NaN (keras-tuner marks it invalid)."""
    if objective not in history:
        raise KerasgeneError(f"objective {objective!r} missing from the training logs "
                             f"({', '.join(history)})")
    values = np.asarray(history[objective], dtype=float)
    if np.all(np.isnan(values)):
        best = len(values) - 1
    else:
        best = int(np.nanargmax(values) if direction == "max" else np.nanargmin(values))
    out = {k: float(v[best]) for k, v in history.items() if len(v) == len(values)}
    out["epochs"] = float(len(values))
    out["best_epoch"] = float(best + 1)
    return out


# ============================================================================ oracle, tuner
class ResumableGridOracle(GridSearchOracle):
    """GridSearchOracle that resumes, parallelises and restricts (see the module docstring).

    ``subset``: ``{axis: allowed values}``; ``max_trials``: at most this many trials in
    the project (keras-tuner's meaning), enforced here so trial ids keep one width.
    """

    def __init__(self, objective, *, subset: Mapping[str, Iterable] | None = None,
                 max_trials: int | None = None, **kwargs):
        super().__init__(objective=objective, max_trials=None, **kwargs)
        self.subset = {k: list(v) for k, v in (subset or {}).items()}
        self.trial_cap = max_trials
        self._grid_cache: tuple[int, list[dict]] | None = None

    def grid(self) -> list[dict]:
        key = len(self.hyperparameters.space)
        if self._grid_cache is None or self._grid_cache[0] != key:
            self._grid_cache = (key, grid_points(self.hyperparameters))
        return self._grid_cache[1]

    def in_subset(self, values: Mapping) -> bool:
        return all(values.get(k) in allowed for k, allowed in self.subset.items())

    def populate_space(self, trial_id):
        stopped = {"status": trial_module.TrialStatus.STOPPED, "values": None}
        if self.trial_cap is not None and len(self.trials) >= self.trial_cap:
            return stopped
        for values in self.grid():
            if self.in_subset(values) and \
                    self._compute_values_hash(values) not in self._tried_so_far:
                return {"status": trial_module.TrialStatus.RUNNING, "values": dict(values)}
        if self.ongoing_trials:  # a running trial may still fail and be retried
            return {"status": trial_module.TrialStatus.IDLE, "values": None}
        return stopped

    @oracle_module.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        # keras-tuner saves the state *before* dropping the trial from ongoing_trials; a
        # chief killed before its next save would re-run (and rewrite) a finished trial
        self.save()

    def reload(self):
        super().reload()
        # an ended trial is never retried, even from a state saved by another oracle
        ended = set(self.end_order)
        queue = []
        for trial_id in self._retry_queue:
            if trial_id not in ended and trial_id not in queue:
                queue.append(trial_id)
        self._retry_queue = queue

    def save(self):
        write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        write_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                     trial.get_state())


class GridTuner(kt.GridSearch):
    """``keras_tuner.GridSearch`` with :class:`ResumableGridOracle`, a shared state file
    name for the single process and the chief (either can resume the other's project),
    a backoff while the oracle is idle, per-trial timing and a ``runs.log``."""

    def __init__(self, hypermodel: BuilderHyperModel, *, directory: str | os.PathLike,
                 project_name: str, subset: Mapping | None = None,
                 max_trials: int | None = None, executions_per_trial: int = 1,
                 on_trial_end=None):
        self.seed = hypermodel.seed
        self._idle_polls = 0
        self._on_trial_end = on_trial_end
        oracle = ResumableGridOracle(
            kt.Objective(hypermodel.objective_name, hypermodel.direction),
            subset=subset, max_trials=max_trials, seed=hypermodel.seed + 1)
        kt.Tuner.__init__(self, oracle, hypermodel, directory=str(directory),
                          project_name=project_name, overwrite=False,
                          executions_per_trial=executions_per_trial)

    def _populate_initial_space(self):
        # The spaces have no conditional scopes, so declaring the axes is the whole space;
        # keras-tuner would also build and compile a model here (once per process).
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def load_model(self, trial):
        """The trial's best-epoch model (optimizer state included, no load warning)."""
        model = self._try_build(trial.hyperparameters)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self._get_checkpoint_fname(trial.trial_id))
        return model

    def _get_tuner_fname(self):
        name = self.tuner_id if self._is_worker() else "tuner0"
        return os.path.join(str(self.project_dir), f"{name}.json")

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_json(self._get_tuner_fname(), self.get_state())

    def pre_create_trial(self):
        if self._idle_polls:
            time.sleep(min(0.5, 0.05 * self._idle_polls))
        self._idle_polls += 1

    def on_trial_begin(self, trial):
        self._idle_polls = 0
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self._idle_polls = 0
        if self._on_trial_end is not None and not self._is_worker():
            self._on_trial_end(self.oracle)

    def run_trial(self, trial, *args, **kwargs):
        started = time.time()
        t0 = time.perf_counter()
        _append_run_log(self.project_dir, {"event": "start", "trial_id": trial.trial_id,
                                           "tuner_id": self.tuner_id, "time": started,
                                           "values": to_plain(trial.hyperparameters.values)})
        results = super().run_trial(trial, *args, **kwargs)
        seconds = time.perf_counter() - t0
        for r in results:
            if isinstance(r, dict):
                r["seconds"] = seconds
        record = {"event": "end", "trial_id": trial.trial_id, "tuner_id": self.tuner_id,
                  "host": socket.gethostname(), "pid": os.getpid(), "start": started,
                  "end": time.time(), "seconds": seconds,
                  "values": to_plain(trial.hyperparameters.values)}
        write_json(os.path.join(self.get_trial_dir(trial.trial_id), RUN_FILE), record)
        _append_run_log(self.project_dir, record)
        return results

    def search(self, *fit_args, **fit_kwargs):
        if dist_utils.is_chief_oracle():
            self.save()
            serve_oracle(self.oracle, on_trial_end=self._on_trial_end)
            return
        super().search(*fit_args, **fit_kwargs)


def _append_run_log(project_dir: str, record: Mapping) -> None:
    line = json.dumps(record) + "\n"
    fd = os.open(os.path.join(project_dir, "runs.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def serve_oracle(oracle, poll: float = 0.1, on_trial_end=None) -> None:
    """Chief: serve ``oracle`` over gRPC (keras-tuner's OracleServicer) on
    ``KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`` until the search is over (a worker
    was told to stop, no trial runs and every worker has been told to stop)."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise KerasgeneError(f"chief: cannot listen on {address} (port in use?)")
    server.start()
    log.info("chief: oracle served on %s", address)
    ended = len(oracle.end_order)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll)
            if on_trial_end is not None and len(oracle.end_order) != ended:
                ended = len(oracle.end_order)
                on_trial_end(oracle)
    finally:
        server.stop(grace=1).wait()


def role() -> str:
    """``"chief"``, ``"worker"`` or ``"single"`` from the KERASTUNER_* variables."""
    try:
        if not dist_utils.has_chief_oracle():
            return "single"
    except RuntimeError as err:
        raise ConfigError(f"keras-tuner environment: {err}") from None
    return "chief" if dist_utils.is_chief_oracle() else "worker"


# ============================================================================ plans
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


def dataset_arguments(ds, builder_args: Sequence[str], classification: bool) -> dict:
    """Builder arguments implied by the dataset: ``seq_len``, ``n_tracks``,
    ``n_regulators``, ``n_classes``, and ``inputs`` when a ``training.inputs`` selection
    leaves iSEGnet one branch."""
    shapes = ds.input_shapes
    out = {}
    if "sequence" in shapes and "seq_len" in builder_args:
        out["seq_len"] = int(shapes["sequence"][0])
    if "epigenome" in shapes and "n_tracks" in builder_args:
        out["n_tracks"] = int(shapes["epigenome"][-1])
    if "regulators" in shapes and "n_regulators" in builder_args:
        out["n_regulators"] = int(shapes["regulators"][0])
    if classification and "n_classes" in builder_args and ds.meta.get("n_classes"):
        out["n_classes"] = int(ds.meta["n_classes"])
    if "inputs" in builder_args and set(shapes) < {"sequence", "epigenome"}:
        out["inputs"] = list(ds.input_names)  # iSEGnet with one branch (training.inputs)
    return out


def _tasks_of(config: Mapping, tuning: Mapping) -> tuple[list[str], bool, dict]:
    """(tasks, one project per task?, space without the task axis)."""
    space = dict(tuning.get("space") or {})
    hparams = dict((config.get("model") or {}).get("hparams") or {})
    if "task" in space:
        tasks = space.pop("task")
        tasks = [tasks] if isinstance(tasks, str) else list(tasks)
        bad = [t for t in tasks if t not in TASKS]
        if bad or not tasks:
            raise ConfigError(f"tuning.space.task: expected a list of {TASKS}, got {tasks!r}")
        return tasks, True, space
    return [hparams.get("task", "regression")], False, space


def hypermodels_from_config(config: Mapping) -> list[tuple[str, BuilderHyperModel]]:
    """``[(task, HyperModel)]`` of a tune configuration, without opening the dataset
    (dataset-derived arguments not filled; enough to enumerate the grid)."""
    tuning = _tuning_section(config)
    model = dict(config.get("model") or {})
    check_keys(model, ("name", "hparams"), "model")
    name = model.get("name") or config.get("system")
    tasks, _, space = _tasks_of(config, tuning)
    fixed = {k: v for k, v in (model.get("hparams") or {}).items() if k != "task"}
    out = []
    for task in tasks:
        objective = tuning.get("objective")
        direction = None
        if isinstance(objective, Mapping):
            if "name" in objective:
                check_keys(objective, ("name", "direction"), "tuning.objective")
                objective, direction = objective["name"], objective.get("direction")
            else:
                objective = objective.get(task)
        training_section = {k: v for k, v in (config.get("training") or {}).items()
                            if k != "inputs"}  # applied to the dataset (open_dataset)
        hm = BuilderHyperModel(name, space or None, fixed, task=task,
                 training={"verbose": 0, **training_section},
                 objective=objective, direction=direction, seed=int(config.get("seed") or 0))
        hm.run_eagerly = bool(tuning["run_eagerly"])
        out.append((task, hm))
    return out


def grid_size(config: Mapping) -> int:
    """Points of the whole search (all task projects), counted from the spaces."""
    return sum(hm.grid_size() for _, hm in hypermodels_from_config(config))


def _tuning_section(config: Mapping) -> dict:
    tuning = dict(config.get("tuning") or {})
    check_keys(tuning, TUNING_DEFAULTS, "tuning")
    return {**TUNING_DEFAULTS, **tuning}


def plan_search(config: Mapping, *, dataset=None, validate: bool = True) -> list[SearchPlan]:
    """Resolve a tune configuration into one :class:`SearchPlan` per task project;
    opens (or builds) the dataset and, with ``validate``, checks every axis value and
    the objective by building models."""
    tuning = _tuning_section(config)
    ds = dataset if dataset is not None else open_dataset(config)
    _, per_task, _ = _tasks_of(config, tuning)
    model_name = (config.get("model") or {}).get("name") or config["system"]
    base_name = tuning["project_name"] or f"{model_name}_grid"
    directory = Path(tuning["directory"])
    plans = []
    for i, (task, hm) in enumerate(hypermodels_from_config(config)):
        derived = dataset_arguments(ds, hm.builder_arguments(), hm.classification)
        for key, value in derived.items():
            if key in hm.fixed and hm.fixed[key] != value:
                raise ConfigError(f"model.hparams.{key} = {hm.fixed[key]!r} but the dataset "
                                  f"{ds.path} implies {value!r}")
            if key in hm.axes:
                raise ConfigError(f"tuning.space.{key}: fixed by the dataset ({value!r})")
        hm.fixed.update(derived)
        target = ("class" if hm.classification else "expression") \
            if set(ds.targets) >= {"class", "expression"} else None
        if hm.classification and target is None:
            raise ConfigError(f"task classification: the dataset {ds.path} has no class "
                              f"labels (targets: {ds.targets})")
        subset = _check_subset(hm, tuning["subset"] or {})
        project = f"{base_name}_{task}" if per_task else base_name
        results = Path(config["run_dir"]) if config.get("run_dir") else directory / project
        if config.get("run_dir") and per_task:
            results = results / task
        max_examples = tuning["max_examples"]
        if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 1):
            raise ConfigError(f"tuning.max_examples: expected a positive integer, got "
                              f"{max_examples!r}")
        for key in ("max_trials", "executions_per_trial"):
            v = tuning[key]
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ConfigError(f"tuning.{key}: expected a positive integer, got {v!r}")
        if validate:
            hm.validate(ds.input_names)
        identity = {"format": 1, **hm.describe(),
                    # the cache key identifies the inputs and parameters; the path only
                    # when there is none (hosts may mount a shared directory differently)
                    "dataset": {"cache_key": ds.meta.get("cache_key")
                                or str(Path(ds.path).resolve()),
                                "split": to_plain(ds.meta.get("split")), "target": target},
                    "max_examples": max_examples,
                    "executions_per_trial": tuning["executions_per_trial"]}
        inputs = (config.get("training") or {}).get("inputs")
        if inputs is not None:  # another subset of the inputs is another search
            identity["dataset"]["inputs"] = to_plain(inputs)
        plans.append(SearchPlan(
            hypermodel=hm, dataset=ds, target=target, directory=directory,
            project_name=project, results_dir=results, subset=subset,
            max_trials=tuning["max_trials"], max_examples=max_examples,
            executions_per_trial=tuning["executions_per_trial"],
            in_memory=tuning["in_memory"], export_best=bool(tuning["export_best"]),
            plot=bool(tuning["plot"]), port_offset=i, identity=identity))
    return plans


def _check_subset(hm: BuilderHyperModel, subset: Mapping) -> dict:
    if not isinstance(subset, Mapping):
        raise ConfigError(f"tuning.subset: expected {{axis: [values]}}, got {subset!r}")
    out = {}
    for name, values in subset.items():
        axis = hm.axes.get(name)
        if axis is None or axis.kind == "derived":
            axes = [n for n, a in hm.axes.items() if a.kind != "derived"]
            raise ConfigError(f"subset: {name!r} is not an axis of the grid ({', '.join(axes)})")
        values = values if isinstance(values, (list, tuple)) else [values]
        grid = axis.grid_values()
        picked = []
        for v in values:
            match = [g for g in grid if g == v or (
                isinstance(g, float) and isinstance(v, (int, float))
                and math.isclose(g, v, rel_tol=1e-9))]
            if not match:
                raise ConfigError(f"subset: {name} = {v!r} is not in the grid "
                                  f"({', '.join(map(_fmt, grid))})")
            picked.append(match[0])
        out[name] = picked
    return out


# ============================================================================ running
def check_project(plan: SearchPlan) -> None:
    """Refuse a project directory that holds another search's tuner state; record this
    search's identity in a new one."""
    pdir = plan.project_dir
    path = pdir / SEARCH_FILE
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise InputFileError(f"{path}: not valid JSON; delete {pdir} to start over") from None
        mine = json.loads(json.dumps(plan.identity))
        if saved != mine:
            diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
            detail = []
            for k in diff:
                a, b = saved.get(k), mine.get(k)
                if isinstance(a, Mapping) and isinstance(b, Mapping):
                    detail += [f"{k}.{s}" for s in sorted(set(a) | set(b)) if a.get(s) != b.get(s)]
                else:
                    detail.append(k)
            raise ConfigError(
                f"{pdir} holds the tuner state of a different search (differs in "
                f"{', '.join(detail)}); use another tuning.project_name or "
                f"tuning.directory, or delete {pdir}")
        return
    if pdir.is_dir() and (any(pdir.glob("*.json")) or any(pdir.glob("trial_*"))):
        raise ConfigError(f"{pdir} holds keras-tuner state that `kerasgene tune` did not "
                          f"write (no {SEARCH_FILE}); use another tuning.project_name or "
                          f"tuning.directory, or delete {pdir}")
    pdir.mkdir(parents=True, exist_ok=True)
    write_json(path, plan.identity)


def _subsample(idx: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or len(idx) <= n:
        return idx
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(idx, n, replace=False))


def fit_data(plan: SearchPlan, batch_size: int):
    """``(train, valid)`` tf.data pipelines of the plan's dataset (in memory when small)."""
    import tensorflow as tf

    ds, seed = plan.dataset, plan.hypermodel.seed
    train = _subsample(ds.split_indices("train"), plan.max_examples, seed)
    valid = _subsample(ds.split_indices("valid"), plan.max_examples, seed + 1)
    if len(train) == 0 or len(valid) == 0:
        raise ConfigError(f"{ds.path}: the train and valid splits must not be empty "
                          f"({len(train)} / {len(valid)} examples)")
    in_memory = plan.in_memory
    if in_memory == "auto":
        per = sum(4 * int(np.prod(s)) for s in ds.input_shapes.values()) + 4
        in_memory = per * (len(train) + len(valid)) <= _IN_MEMORY_BYTES
    elif not isinstance(in_memory, bool):
        raise ConfigError(f"tuning.in_memory: expected auto, true or false, got {in_memory!r}")
    if not in_memory:
        return (ds.to_tf_dataset(train, batch_size, shuffle=True, seed=seed, target=plan.target),
                ds.to_tf_dataset(valid, batch_size, target=plan.target))
    xt, yt = ds.arrays_for(train, target=plan.target)
    xv, yv = ds.arrays_for(valid, target=plan.target)
    tr = tf.data.Dataset.from_tensor_slices((xt, yt)).shuffle(
        len(train), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    va = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(batch_size)
    return tr.prefetch(tf.data.AUTOTUNE), va.prefetch(tf.data.AUTOTUNE)


@dataclass
class SearchResult:
    """What a finished search wrote (chief or single process)."""

    plan: SearchPlan
    table: pd.DataFrame
    trials_tsv: Path
    plot: Path | None
    best_model: Path | None

    def top(self, n: int = 5) -> pd.DataFrame:
        return top_trials(self.table, self.plan.hypermodel.direction, n)


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
                write_trials_tsv(trials_table(oracle, plan), plan.results_dir / "trials.tsv")
            except OSError as err:  # pragma: no cover - results are rewritten at the end
                log.warning("trials.tsv not updated: %s", err)

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
                tuner.search(train, validation_data=valid)
        except RuntimeError as err:  # keras-tuner: too many consecutive failed trials
            lines = [ln for ln in str(err).splitlines() if ln.strip()]
            detail = f"{lines[0]} ... {lines[-1]}" if len(lines) > 1 else (lines or [""])[0]
            raise KerasgeneError(f"{plan.project_name}: the search stopped: {detail} (trial "
                                 f"logs in {plan.project_dir}; re-run to resume)") from err
        if who == "worker":
            return None
        return write_results(tuner, plan)
    finally:
        if base_port is not None:
            os.environ["KERASTUNER_ORACLE_PORT"] = base_port


def plan_summary(plan: SearchPlan) -> dict:
    """What a search would run: grid points, those selected by subset / max_trials, and
    the trials already completed in the project directory."""
    hm = plan.hypermodel
    grid = hm.grid()
    selected = [p for p in grid if all(p.get(k) in v for k, v in plan.subset.items())]
    done = 0
    for path in plan.project_dir.glob("trial_*/trial.json"):
        with contextlib.suppress(OSError, ValueError):
            done += json.loads(path.read_text()).get("status") == "COMPLETED"
    n = len(selected) if plan.max_trials is None else min(len(selected), plan.max_trials)
    return {"project": plan.project_name, "project_dir": str(plan.project_dir),
            "grid_points": len(grid), "selected": n, "completed": done,
            "objective": f"{hm.objective_name} ({hm.direction})",
            "axes": {k: ([f"{_fmt(v)} ({a.by} {_fmt(w)})" for w, v in a.mapping.items()]
                         if a.kind == "derived" else [_fmt(v) for v in a.grid_values()])
                     for k, a in hm.axes.items()}}


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


# ============================================================================ results
def trials_table(oracle, plan: SearchPlan) -> pd.DataFrame:
    """One row per trial: id, status, every axis (derived ones too), objective, epochs,
    best_epoch, seconds, the tuner that ran it and the validation metrics."""
    hm = plan.hypermodel
    names = [n for n, a in hm.axes.items() if a.kind != "derived"]
    rows = []
    for tid in sorted(oracle.trials):
        trial = oracle.trials[tid]
        values = trial.hyperparameters.values
        row = {"trial_id": tid, "status": trial.status}
        row.update({n: values.get(n) for n in names})
        for n, axis in hm.axes.items():
            if axis.kind == "derived":
                row[n] = axis.mapping.get(values.get(axis.by))
        score = trial.score if trial.status == trial_module.TrialStatus.COMPLETED else None
        row["objective"] = score
        metrics = trial.metrics
        for m in ("epochs", "best_epoch", "seconds"):
            row[m] = metrics.get_last_value(m) if metrics.exists(m) else None
        run = plan.project_dir / f"trial_{tid}" / RUN_FILE
        try:
            row["tuner_id"] = json.loads(run.read_text())["tuner_id"]
        except (OSError, ValueError, KeyError):
            row["tuner_id"] = None
        for m in sorted(metrics.metrics):
            if m.startswith("val_") or m in ("loss",):
                row[m] = metrics.get_last_value(m)
        rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("epochs", "best_epoch"):
        if col in table:
            table[col] = table[col].astype("Int64")
    return table


def write_trials_tsv(table: pd.DataFrame, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda tmp: table.to_csv(tmp, sep="\t", index=False, na_rep=""))


def top_trials(table: pd.DataFrame, direction: str, n: int = 5) -> pd.DataFrame:
    done = table[table["status"] == trial_module.TrialStatus.COMPLETED]
    done = done.sort_values("objective", ascending=direction == "min", kind="stable")
    return done.head(n)


def plot_grid(table: pd.DataFrame, plan: SearchPlan, path: Path) -> Path | None:
    """Objective by each grid axis: one panel per axis with more than one value, every
    completed trial a dot, the mean a bar and the best a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hm = plan.hypermodel
    done = table[table["status"] == trial_module.TrialStatus.COMPLETED]
    if done.empty:
        return None
    axes = [n for n, a in hm.axes.items() if a.kind != "derived" and len(a.grid_values()) > 1]
    axes = axes or [n for n, a in hm.axes.items() if a.kind != "derived"][:1]
    fig, panels = plt.subplots(1, len(axes), figsize=(max(6.4, 3.2 * len(axes) + 0.8), 4.2),
                               sharey=True, squeeze=False)
    rng = np.random.default_rng(0)
    for ax, name in zip(panels[0], axes):
        levels = hm.axes[name].grid_values()
        for i, level in enumerate(levels):
            ys = done.loc[done[name] == level, "objective"].astype(float).dropna().to_numpy()
            if ys.size == 0:
                continue
            ax.scatter(i + rng.uniform(-0.12, 0.12, ys.size), ys, s=16, alpha=0.6,
                       color="tab:blue", edgecolor="none")
            ax.hlines(ys.mean(), i - 0.25, i + 0.25, color="black", lw=1.5)
            best = ys.max() if hm.direction == "max" else ys.min()
            ax.scatter([i], [best], marker="*", s=90, color="tab:red", zorder=3)
        paired = [(n, a) for n, a in hm.axes.items() if a.kind == "derived" and a.by == name]
        labels = ["\n".join([_fmt(v), *(f"{n} {_fmt(a.mapping[v])}" for n, a in paired)])
                  for v in levels]
        ax.set_xticks(range(len(levels)), labels)
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_xlabel(name, fontsize=11)
        ax.tick_params(labelsize=9)
        ax.grid(axis="y", alpha=0.3)
    better = "higher" if hm.direction == "max" else "lower"
    panels[0][0].set_ylabel(f"{hm.objective_name} ({better} is better)", fontsize=10)
    best_val = top_trials(table, hm.direction, 1)["objective"].iloc[0]
    fig.suptitle(f"{plan.project_name}: {len(done)} of {hm.grid_size()} grid points done; "
                 f"best {hm.objective_name} = {best_val:.4g}\n"
                 "dot: one trial, bar: mean, star: best", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_results(tuner: GridTuner, plan: SearchPlan) -> SearchResult:
    """trials.tsv, grid.png, best_model.keras and best_hyperparameters.json."""
    out = plan.results_dir
    out.mkdir(parents=True, exist_ok=True)
    table = trials_table(tuner.oracle, plan)
    tsv = write_trials_tsv(table, out / "trials.tsv")
    png = plot_grid(table, plan, out / "grid.png") if plan.plot else None
    best_path = None
    top = top_trials(table, plan.hypermodel.direction, 1)
    if plan.export_best and not top.empty:
        trial = tuner.oracle.get_trial(top["trial_id"].iloc[0])
        model = tuner.load_model(trial)
        best_path = out / "best_model.keras"
        write_atomic(best_path, model.save)
        write_json(out / "best_hyperparameters.json",
                     {"trial_id": trial.trial_id, "objective": plan.hypermodel.objective_name,
                      "score": trial.score,
                      "values": to_plain(plan.hypermodel.values(trial.hyperparameters.copy()))})
    elif plan.export_best:
        log.warning("%s: no completed trial; no best model exported", plan.project_name)
    return SearchResult(plan, table, tsv, png, best_path)

