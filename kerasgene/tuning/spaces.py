"""Search spaces: YAML space entries → axes → keras-tuner hyperparameters → grid points.

Every axis is an ``hp.Choice`` (a list), an ``hp.Int`` / ``hp.Float`` with a ``step``
(``{min, max, step, sampling}``), an ``hp.Fixed`` (a scalar) or a value *derived* from a
choice axis (``{by: optimizer, values: {sgd: 0.01, adam: 0.001}}``: not searched), so
that ``keras_tuner.GridSearch`` enumerates exactly the grid. The papers' grids are kept
with their systems (:attr:`kerasgene.systems.System.tuning`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras_tuner as kt
from keras_tuner.src.tuners.gridsearch import GridSearchOracle

from kerasgene import systems
from kerasgene.config import check_keys, yaml_number_hint
from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)

#: Axes that are not builder arguments.
SEARCH_ARGUMENTS = ("variant", "optimizer", "learning_rate", "task")
#: The most points a grid may have: the papers' largest is 144; 100,000 trials of even a
#: minute each would run for ten weeks, and enumerating 10^8 points (a range with a step
#: of 1 where 10 was meant) took minutes before a dry run printed anything.
MAX_GRID_POINTS = 100_000


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

    def _range_hp(self):
        """A range axis as keras-tuner's ``Int`` / ``Float``."""
        hp = kt.HyperParameters()
        self.declare(hp)
        return hp.space[0]

    def grid_values(self) -> list:
        """The values the grid takes on this axis, in enumeration order."""
        if self.kind in ("choice", "fixed"):
            return list(self.values)
        if self.kind == "range":
            return list(self._range_hp().values)
        return sorted(set(self.mapping.values()), key=str)

    def grid_count(self) -> int:
        """How many values the grid takes on this axis (1 for a derived axis: it is not
        searched), counted without enumerating them (keras-tuner's own count for a
        range)."""
        if self.kind in ("choice", "fixed"):
            return len(self.values)
        if self.kind == "range":
            return self._range_hp()._get_n_values()
        return 1

    def values_to_validate(self) -> list:
        """The grid values a model is built with before a search: every listed value, a
        range's first and last (the builders' limits on a size or a rate are bounds, so
        the ends of a range are the values that can break them)."""
        values = self.grid_values()
        return values if self.kind != "range" else list(dict.fromkeys([values[0], values[-1]]))

    def describe(self) -> Any:
        """The axis as plain data, in its YAML form."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "range":
            return {"min": self.min, "max": self.max, "step": self.step,
                    "sampling": self.sampling}
        return {"by": self.by, "values": dict(self.mapping)}


def _scalar(value: Any, where: str) -> Any:
    """``value`` when it can be a grid value: a boolean, a string or a finite number (a
    NaN equals no value, so keras-tuner cannot find it in its own list of values)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
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


def _range_axis(name: str, spec: Mapping, here: str) -> Axis:
    check_keys(spec, ("min", "max", "step", "sampling"), here)
    missing = [k for k in ("min", "max", "step") if spec.get(k) is None]
    if missing:
        raise ConfigError(f"{here}: a range needs min, max and step (a range without a "
                          f"step is not a grid); missing {missing}")
    lo, hi, step = (spec[k] for k in ("min", "max", "step"))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in (lo, hi, step)):
        raise ConfigError(f"{here}: min, max and step must be finite numbers, got "
                          f"{[lo, hi, step]!r}{yaml_number_hint([lo, hi, step])}")
    sampling = spec.get("sampling", "linear")
    if sampling not in ("linear", "log", "reverse_log"):
        raise ConfigError(f"{here}.sampling: expected linear, log or reverse_log, "
                          f"got {sampling!r}")
    if hi < lo or step <= 0 or (sampling != "linear" and (lo <= 0 or step <= 1)):
        raise ConfigError(f"{here}: impossible range {dict(spec)!r}")
    if not all(isinstance(v, int) for v in (lo, hi, step)):
        lo, hi, step = float(lo), float(hi), float(step)
    return Axis(name, "range", min=lo, max=hi, step=step, sampling=sampling)


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
    if isinstance(spec, Mapping) and "by" in spec:
        check_keys(spec, ("by", "values"), here)
        if not isinstance(spec.get("values"), Mapping) or not spec["values"]:
            raise ConfigError(f"{here}: 'values' must map each value of {spec['by']!r} "
                              "to a value")
        mapping = {k: _scalar(v, here) for k, v in spec["values"].items()}
        return Axis(name, "derived", by=str(spec["by"]), mapping=mapping)
    if isinstance(spec, Mapping):
        return _range_axis(name, spec, here)
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
        unused = [k for k in axis.mapping if k not in parent.values]
        if unused:
            log.warning("%s.%s: %s not on the %s axis (%s): their values are not used",
                        where, axis.name, ", ".join(f"{axis.by} = {k!r}" for k in unused),
                        axis.by, ", ".join(map(repr, parent.values)))
    check_grid_size(axes, where)
    return axes


def check_grid_size(axes: Mapping[str, Axis], where: str = "tuning.space") -> int:
    """The number of grid points of ``axes`` (the product of each axis' count), counted
    before anything enumerates them.

    Raises
    ------
    ConfigError
        over :data:`MAX_GRID_POINTS`, naming each axis' count.
    """
    counts = {name: axis.grid_count() for name, axis in axes.items() if axis.kind != "derived"}
    size = math.prod(counts.values())
    if size > MAX_GRID_POINTS:
        per_axis = " × ".join(f"{name} {n:,}" for name, n in counts.items())
        raise ConfigError(f"{where}: {size:,} grid points ({per_axis}); a grid search "
                          f"takes at most {MAX_GRID_POINTS:,}: use a larger step or fewer "
                          "values")
    return size


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


def objective_direction(objective: str) -> str:
    """``"min"`` for a loss or an error metric, ``"max"`` otherwise."""
    low = objective.lower()
    minimise = low.endswith("loss") or any(s in low for s in ("mse", "mae", "error"))
    return "min" if minimise else "max"


def format_value(value: Any) -> str:
    """A grid value as text (floats in ``%g``)."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
