"""YAML run configurations: loading, ``key.sub=value`` overrides and key checking.

A run configuration has these top-level sections (each documented where it is used)::

    system: isegnet          # kerasgene.systems: isegnet | deeprage | chromatin | histone_fcn | deepchrome
    seed: 0
    run_dir: runs/isegnet    # resolved config, model, history, metrics, plots
    data_dir: data           # base of relative paths in ``data`` (default: the cwd)
    data: {...}              # the dataset builder's keys, ``split`` included (kerasgene.datasets)
    model: {name: isegnet, hparams: {...}}
    training: {...}          # kerasgene.train.recipes.TRAINING_DEFAULTS
    baselines: [ridge, random_forest]
    explain: {...}           # kerasgene.explain.options: settings of `kerasgene explain`
                             # (ExplainOptions field names; command-line flags win)

Checking values
---------------
Each section's values are described by :class:`Spec` objects next to the section's
defaults (``kerasgene.train.recipes.TRAINING_SPECS``, ``kerasgene.train.run_config.RUN_TRAINING_SPECS``,
``kerasgene.train.run_config.TOP_LEVEL_SPECS``, ``kerasgene.explain.options.OPTION_SPECS``);
:func:`check_section` checks keys, types and ranges
and raises a one-line :class:`ConfigError` naming the key, the value and what was
expected (``training.epochs: expected an integer >= 1, got 'ten'``).
:func:`kerasgene.train.run_config.check_config` applies them to a whole run configuration before
``prepare`` or ``train`` writes anything; the ``explain:`` section is checked by
:func:`kerasgene.explain.options.explain_options` when ``kerasgene explain`` reads it.
YAML syntax errors name the line and column.
"""

from __future__ import annotations

import copy
import datetime
import difflib
import logging
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kerasgene._io import check_readable, write_yaml
from kerasgene.errors import ConfigError, InputFileError, KerasgeneError

log = logging.getLogger(__name__)

TOP_LEVEL_KEYS = ("system", "seed", "run_dir", "data_dir", "data", "model", "training",
                  "baselines", "explain", "dataset_dir")
#: The path values of a configuration outside ``data`` (whose paths
#: :func:`kerasgene.datasets.base.resolve_path` resolves), as ``key`` or ``section.key``:
#: :func:`load_config` expands their leading ``~`` as a shell would.
PATH_KEYS = ("run_dir", "data_dir", "dataset_dir", "tuning.directory", "explain.compare",
             "explain.motif_db", "explain.truth", "explain.targets")


def check_keys(section: Mapping, allowed: Iterable[str], where: str) -> None:
    """Raise ConfigError naming the first unknown key of ``section`` and the nearest valid one."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
    allowed = sorted(allowed)
    for key in section:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else f"; valid keys: {', '.join(allowed)}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")


def with_defaults(section: Mapping | None, defaults: Mapping, where: str) -> dict:
    """``defaults`` updated with ``section`` after checking its keys against ``defaults``."""
    section = dict(section or {})
    check_keys(section, defaults, where)
    return {**copy.deepcopy(dict(defaults)), **section}


@dataclass(frozen=True)
class Spec:
    """What one configuration value must be.

    Parameters
    ----------
    kind : ``int``, ``number`` (int or float), ``bool``, ``str``, ``path`` (a string or
        path object), ``choice`` (one of ``choices``), ``list`` (items among ``choices``
        when given), ``mapping`` or ``any``
    min, max : inclusive bounds of an ``int`` / ``number``
    above : exclusive lower bound of a ``number`` (``learning_rate > 0``)
    choices : the allowed values of a ``choice``, or of the items of a ``list``
    null : ``None`` (YAML ``null``) is allowed too
    """

    kind: str
    min: float | None = None
    max: float | None = None
    above: float | None = None
    choices: tuple = ()
    null: bool = False

    def describe(self) -> str:
        """What is expected, in words (``an integer >= 1 or null``)."""
        if self.kind in ("int", "number"):
            text = "an integer" if self.kind == "int" else "a number"
            bounds = [f">= {_number(self.min)}" if self.min is not None else "",
                      f"> {_number(self.above)}" if self.above is not None else "",
                      f"<= {_number(self.max)}" if self.max is not None else ""]
            text = " ".join([text, " and ".join(b for b in bounds if b)]).strip()
        elif self.kind == "choice":
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.kind == "list":
            text = ("a list of " + ", ".join(map(str, self.choices))) if self.choices \
                else "a list"
        else:
            text = {"bool": "true or false", "str": "a string", "path": "a path",
                    "mapping": "a mapping", "any": "a value"}[self.kind]
        return f"{text} or null" if self.null else text

    def accepts(self, value: Any) -> bool:
        """True when ``value`` satisfies this spec."""
        if value is None:
            return self.null or self.kind == "any"
        if self.kind in ("int", "number"):  # numpy's scalars too (np.int64(3) from Python)
            numeric = numbers.Integral if self.kind == "int" else numbers.Real
            if isinstance(value, bool) or not isinstance(value, numeric):
                return False
            return ((self.min is None or value >= self.min)
                    and (self.max is None or value <= self.max)
                    and (self.above is None or value > self.above)
                    and value == value)  # NaN
        if self.kind == "choice":
            return (isinstance(value, str | int | float) and not isinstance(value, bool)
                    and value in self.choices)
        if self.kind == "list":
            return isinstance(value, list | tuple) and (
                not self.choices or all(isinstance(v, str) and v in self.choices for v in value))
        return {"bool": lambda v: isinstance(v, bool), "str": lambda v: isinstance(v, str),
                "path": lambda v: isinstance(v, str | os.PathLike) and str(v) != "",
                "mapping": lambda v: isinstance(v, Mapping), "any": lambda v: True}[self.kind](value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def yaml_number_hint(values: Iterable) -> str:
    """A hint when a value is text that reads as a number, fitted to why it is text: a
    number YAML would read without its quotes (``"5"``: drop them), or one YAML 1.1
    reads as a string even unquoted — ``1e-3`` (no dot: write it with one) or ``1.0e3``
    (an exponent without a sign: ``1.0e+3``); a whole number is also offered as an
    integer (``1e3``: ``1000``). Empty otherwise (``nan`` and ``inf`` too)."""
    for value in values:
        if not isinstance(value, str):
            continue
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            continue
        if not math.isfinite(number):
            continue
        try:
            plain = yaml.safe_load(text)
        except yaml.YAMLError:
            plain = None
        if isinstance(plain, int | float) and not isinstance(plain, bool):
            return "; YAML reads a number in quotes as a string: drop the quotes"
        mantissa, e, exponent = text.lower().partition("e")
        if not e:
            continue
        whole = (f", or {int(number)} for a whole number"
                 if number.is_integer() and abs(number) < 1e15 else "")
        if "." not in mantissa:
            return (f"; YAML reads a number without a dot such as {value} as a string: "
                    f"write it with a dot (e.g. 1.0e-4){whole}")
        return (f"; YAML reads a number whose exponent has no sign such as {value} as a "
                f"string: write {mantissa}e+{exponent}{whole}")
    return ""


def check_value(value: Any, spec: Spec, where: str) -> None:
    """Raise ConfigError ``"<where>: expected <spec>, got <value>"`` unless ``spec``
    accepts ``value``."""
    if not spec.accepts(value):
        raise ConfigError(f"{where}: expected {spec.describe()}, got {value!r}"
                          f"{_path_hint(value) if spec.kind == 'path' else ''}"
                          f"{yaml_number_hint([value])}")


def _path_hint(value: Any) -> str:
    """A hint for a path YAML read as a number or a date (``run_dir: 2024``): quote it."""
    if isinstance(value, numbers.Real | datetime.date) and not isinstance(value, bool):
        kind = "date" if isinstance(value, datetime.date) else "number"
        return f"; YAML reads {value} as a {kind}: quote it ('{value}') for the path {value}"
    return ""


def check_section(section: Mapping | None, specs: Mapping[str, Spec], where: str) -> None:
    """Check the keys of ``section`` against ``specs`` (unknown key: the nearest valid one
    is named) and every value against its :class:`Spec`. ``None`` is an empty section."""
    if section is None:
        return
    check_keys(section, specs, where)
    for key, value in section.items():
        check_value(value, specs[key], f"{where}.{key}")


def check_names(value: Any, where: str, what: str, one: str) -> list[str]:
    """``value`` as a list of distinct, non-empty names, or ConfigError ``"<where>: expected
    a list of <what>, got <value>"`` / ``"<where>: 'x' is listed more than once; expected
    each <one> once"``."""
    if (not isinstance(value, list | tuple) or not value
            or not all(isinstance(v, str) and v for v in value)):
        raise ConfigError(f"{where}: expected a list of {what}, got {value!r}")
    twice = sorted({v for v in value if value.count(v) > 1})
    if twice:
        raise ConfigError(f"{where}: {twice[0]!r} is listed more than once; expected each "
                          f"{one} once")
    return list(value)


def check_column_name(value: Any, where: str) -> None:
    """Raise ConfigError unless ``value`` is a table's column name (non-empty text) or
    None. A YAML number (``expression_column: 1``) is refused rather than matched to a
    column named ``1``: it could as well mean a position (``gene_column`` takes one), and a
    wrong guess would read another column without a word."""
    if value is None or (isinstance(value, str) and value.strip()):
        return
    if isinstance(value, int | float) and not isinstance(value, bool):
        kind = "integer" if isinstance(value, int) else "number"
        raise ConfigError(f"{where}: expected a column name (text), got the {kind} {value!r}: "
                          f"quote it ('{value}') for the column named {value} (columns are "
                          "chosen by name, not by position)")
    raise ConfigError(f"{where}: expected a column name (text) or null, got {value!r}")


def like_default(value: Any, default: Any) -> bool:
    """True when ``value`` has the type of a builder argument's ``default`` (an int for a
    float is fine; a bool is not a number; ``None``, list and dict defaults accept
    anything)."""
    if default is None or isinstance(default, tuple | list | dict):
        return True
    check = {bool: lambda v: isinstance(v, bool),
             int: lambda v: isinstance(v, int) and not isinstance(v, bool),
             float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
             str: lambda v: isinstance(v, str)}.get(type(default))
    return check is None or check(value)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the
    last value without a word; keys brought in by a ``<<:`` merge may be overridden)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: SafeLoader says so
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice in one mapping (first on "
                        f"line {first.start_mark.line + 1}); YAML would keep only the last "
                        "value: remove one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str):
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: safe


def _yaml_error(err: yaml.YAMLError, source: str) -> str:
    """One line for a YAML syntax error: where (line, column: 1-based) and what."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    what = f"{context}: {problem}" if context else problem
    if mark is None:
        return f"{source}: not valid YAML ({what})"
    return f"{source}: line {mark.line + 1}, column {mark.column + 1}: not valid YAML ({what})"


def apply_override(config: dict, override: str) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML."""
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected KEY=VALUE (e.g. training.epochs=5)")
    dotted, raw = override.split("=", 1)
    keys = dotted.strip().split(".")
    if not all(keys):
        raise ConfigError(f"override {override!r}: empty key in {dotted!r} (expected e.g. "
                          "training.epochs=5)")
    node = config
    for depth, key in enumerate(keys[:-1], 1):
        if node.get(key) is None:  # absent, or left empty in the YAML (``training:``)
            node[key] = {}
        node = node[key]
        if isinstance(node, list):
            whole = ".".join(keys[:depth])
            raise ConfigError(f"override {override!r}: {key!r} is a list, not a section; set "
                              f"the whole list (e.g. {whole}=[...])")
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {key!r} is not a section")
    try:
        node[keys[-1]] = _load_yaml(raw)
    except yaml.YAMLError as err:
        raise ConfigError(_yaml_error(err, f"override {override!r}")) from None


def load_config(path: str | os.PathLike, overrides: Iterable[str] = (),
                allowed_keys: Iterable[str] = TOP_LEVEL_KEYS) -> dict:
    """Read a YAML run configuration, apply ``overrides`` and check its top-level keys.

    Relative paths inside the file stay relative to the current directory, as on the
    command line; a leading ``~`` of a path (:data:`PATH_KEYS`) is the home folder, as
    in a shell.
    """
    path = check_readable(path, "config file")
    try:
        config = _load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise InputFileError(_yaml_error(err, str(path))) from None
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}: not a text (UTF-8) YAML file (byte {err.start})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for override in overrides:
        apply_override(config, override)
    _expand_home(config)
    if "task" in config and "system" not in config:
        log.warning("%s: the key 'task' is now called 'system'; read as system: %s", path,
                    config["task"])
        config = {("system" if k == "task" else k): v for k, v in config.items()}
    if "tuning" in config and "tuning" not in allowed_keys:
        raise ConfigError(_tune_config_message(config, path))
    check_keys(config, allowed_keys, str(path))
    if "system" not in config:
        raise ConfigError(f"{path}: missing required key 'system' (the paper: one of "
                          "kerasgene.systems.names())")
    return config


def _expand_home(config: dict) -> None:
    """Expand a leading ``~`` or ``~user`` (:func:`os.path.expanduser`) in the string
    values of :data:`PATH_KEYS`, in place; other values are left to be checked."""
    for dotted in PATH_KEYS:
        *sections, key = dotted.split(".")
        node = config
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(key), str):
            node[key] = os.path.expanduser(node[key])


def _tune_config_message(config: Mapping, path) -> str:
    """A run command given a tune configuration: say where the search writes the run
    configuration of its best point (:data:`kerasgene.tuning.config.BEST_RUN_FILE`)."""
    from kerasgene.tuning.config import BEST_RUN_FILE, project_layout

    try:
        best = " or ".join(str(results / BEST_RUN_FILE) for *_, results in
                           project_layout(config))
    except (KerasgeneError, KeyError, TypeError, AttributeError):  # a malformed tuning section
        best = f"<results folder>/{BEST_RUN_FILE}"
    if config.get("data") is None:
        return (f"{path}: a tune configuration (it has a 'tuning' section); run the search "
                f"with `kerasgene tune --config {path}`; to train its best point as a run, "
                "give the tune configuration a data: section"
                + (" (it names only dataset_dir)" if config.get("dataset_dir") else "")
                + f", then the search writes {best}")
    return (f"{path}: a tune configuration (it has a 'tuning' section); run the search with "
            f"`kerasgene tune --config {path}`, then train its best point with `kerasgene "
            f"train --config {best}` (the search writes it)")


def save_config(config: Mapping, path: str | os.PathLike) -> None:
    """Write a resolved configuration as YAML (atomically)."""
    write_yaml(path, config)
