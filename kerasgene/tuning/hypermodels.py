"""The keras-tuner HyperModel over kerasgene's registry builders and training recipes.

:class:`BuilderHyperModel` maps keras-tuner hyperparameters to the keyword arguments of
a registry builder (:func:`kerasgene.models.build`) and compiles the model with the
paper's recipe (:mod:`kerasgene.train.recipes`); without a space it searches the paper's
grid (:func:`~kerasgene.tuning.spaces.paper_space`). A trial's result is the metrics of
its best epoch (:func:`best_epoch_metrics`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from kerasgene import models, systems
from kerasgene._io import to_plain
from kerasgene.config import like_default, yaml_number_hint
from kerasgene.errors import ConfigError, KerasgeneError
from kerasgene.train import recipes
from kerasgene.tuning.config import TASKS
from kerasgene.tuning.spaces import (
    SEARCH_ARGUMENTS,
    check_grid_size,
    family,
    grid_points,
    objective_direction,
    paper_space,
    parse_space,
)

#: Training settings that do not change a trial's result (left out of the search identity).
_IGNORED_TRAINING = ("verbose", "tensorboard", "strategy")


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
        #: the mean training label of the search's data, where each trial's output bias
        #: starts (``training.init_output_bias``; set by the runner; None: not set)
        self.label_mean: float | None = None
        #: the trial whose executions are being built (its HyperParameters) and which one
        #: (:meth:`build`): execution k of a trial seeds its weights and shuffle with seed + k
        self._trial_hp: kt.HyperParameters | None = None
        self._execution = 0
        self._check_names()
        self.objective_name = objective or self.recipe(self.first_builder())["monitor"]
        self.direction = direction or objective_direction(self.objective_name)
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
        """Check the axes' and the fixed arguments' names, then the axes' values."""
        self._check_axis_names()
        self._check_fixed_names()
        self._check_axis_values()

    def _builders(self) -> str:
        return "/".join(self.variants.values())

    def _check_axis_names(self) -> None:
        valid = self.builder_arguments()
        special = [s for s in SEARCH_ARGUMENTS if s != "task"]
        if len(self.variants) == 1:
            special.remove("variant")
        for name in self.axes:
            if name == "task":
                raise ConfigError("tuning.space.task: the task is not an axis of one "
                                  "project (it changes the labels and the objective); pass "
                                  "task= per HyperModel, or list tasks in the YAML space, "
                                  "which runs one project per task")
            if name == "n_classes" and not self.classification:
                raise ConfigError("tuning.space.n_classes: no effect on a regression model "
                                  "(only a classification head has classes; with class "
                                  "labels the dataset fixes their number), so every grid "
                                  "point would be trained once per value")
            if name in valid or name in special:
                continue
            near = difflib.get_close_matches(name, valid + special, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"tuning.space: unknown hyperparameter {name!r}{hint} for {self._builders()}; "
                f"valid builder arguments: {', '.join(valid)}; search arguments: "
                f"{', '.join(special)}")

    def _check_fixed_names(self) -> None:
        any_variant = []  # a fixed argument may belong to some variants (rnn_units)
        for builder in self.variants.values():
            any_variant += [a for a in models.hyperparameters(builder)
                            if a != "name" and a not in any_variant]
        for name in self.fixed:
            if name not in any_variant:
                near = difflib.get_close_matches(name, any_variant, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ConfigError(f"model.hparams: unknown argument {name!r}{hint} for "
                                  f"{self._builders()}; valid arguments: "
                                  f"{', '.join(any_variant)}")
            if name in self.axes:
                raise ConfigError(f"model.hparams.{name}: also a grid axis (tuning.space.{name})")

    def _check_axis_values(self) -> None:
        if "variant" in self.axes:
            bad = [v for v in self.axes["variant"].grid_values() if v not in self.variants]
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
                                  f"got {values}{yaml_number_hint(values)}")
        defaults = {}  # value types against the builders' defaults
        for builder in self.variants.values():
            defaults.update(models.hyperparameters(builder))
        valid = self.builder_arguments()
        for name, axis in self.axes.items():
            if name in defaults:
                for value in axis.grid_values():
                    _check_type(f"tuning.space.{name}", value, defaults[name],
                                self._builders(), valid)

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
        """The number of grid points, counted without enumerating them."""
        return check_grid_size(self.axes)

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

    def build_point(self, values: Mapping[str, Any], compile: bool = True,
                    execution: int = 0) -> keras.Model:
        """The model of one grid point, its weights seeded by ``seed + execution``."""
        builder, kwargs, cfg = self.trial_settings(values)
        recipes.set_seed(self.seed + execution)
        model = models.build(builder, mixed_precision=cfg["mixed_precision"], **kwargs)
        if compile:
            recipes.compile_model(model, cfg)
            model.run_eagerly = self.run_eagerly
        return model

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """keras-tuner builds a trial's model once per execution
        (``tuning.executions_per_trial``), one execution after the other: the k-th build
        of one trial's ``hp`` is execution k, seeded apart from the others."""
        if hp is self._trial_hp:
            self._execution += 1
        else:
            self._trial_hp, self._execution = hp, 0
        return self.build_point(self.values(hp), execution=self._execution)

    def fit(self, hp: kt.HyperParameters, model: keras.Model, train=None, *args,
            validation_data=None, callbacks=None, **kwargs):
        """Train one trial as ``kerasgene train`` trains a run (:func:`kerasgene.train.recipes.fit`:
        divergence check, BatchNorm recalibration, early stopping with the starting weights
        as epoch 0, the output bias at :attr:`label_mean`), keras-tuner's ``callbacks``
        last; returns the best epoch's metrics (:func:`best_epoch_metrics`). ``train``: a
        tf.data pipeline, or a function making the trial's execution its own, shuffled by
        ``seed + execution`` (:func:`kerasgene.tuning.runner.fit_data`)."""
        train = train(self._execution) if callable(train) else train
        _, _, cfg = self.trial_settings(self.values(hp))
        if cfg["init_output_bias"] and not self.classification and self.label_mean is not None:
            recipes.init_output_bias(model, self.label_mean)
        start = recipes.starting_point(model, validation_data, cfg["monitor"])
        history = recipes.fit(model, train, validation_data, cfg,
                              start_score=None if start is None else start[0],
                              extra_callbacks=callbacks or ())
        recipes.keep_start_if_better(model, start, history.history.get(cfg["monitor"]),
                                     cfg["monitor"], "trial")
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
        """Build the first grid point, then every other listed axis value and a range's
        last value once (the others at their first value), so an impossible value fails
        now, not in trial 97, naming its axis; check that the objective is one of the
        compiled model's metrics and that the model's inputs are the dataset's."""
        first = dict(self.grid()[0])
        model = self._build_first(first)
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
        for name, value in self._other_values():
            self._try_build({**first, name: value}, f"tuning.space.{name} = {value!r}")
            keras.backend.clear_session()  # free it (DeepRAGE-TP: 67 M parameters)

    def _other_values(self) -> list[tuple[str, Any]]:
        """``(axis, value)`` of every builder axis value to validate
        (:meth:`~kerasgene.tuning.spaces.Axis.values_to_validate`) but the first grid
        point's (every ``variant``: each is another builder)."""
        out = []
        for name, axis in self.axes.items():
            if axis.kind == "derived" or not (name in self.builder_arguments()
                                              or name == "variant"):
                continue
            values = axis.values_to_validate()
            out += [(name, v) for v in (values if name == "variant" else values[1:])]
        return out

    def _build_first(self, first: Mapping) -> keras.Model:
        """The compiled model of the first grid point; when it cannot be built, the error
        names the axis whose first value is to blame: the first whose other value
        builds (else, or when only compiling fails, the first grid point as a whole)."""
        try:
            return self.build_point(first)
        except (ConfigError, ValueError, TypeError):
            keras.backend.clear_session()
        what = "the first grid point"
        if not self._builds(first):
            what = next((f"tuning.space.{name} = {first[name]!r}"
                         for name, value in self._other_values()
                         if self._builds({**first, name: value})), what)
        return self._try_build(first, what, compile=True)

    def _builds(self, point: Mapping) -> bool:
        """True when the model of ``point`` can be built (not compiled; freed again)."""
        try:
            self.build_point(point, compile=False)
        except (ConfigError, ValueError, TypeError):
            return False
        finally:
            keras.backend.clear_session()
        return True

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


