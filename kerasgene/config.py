"""YAML run configurations: loading, ``key.sub=value`` overrides and key checking.

A run configuration has these top-level sections (each documented where it is used)::

    task: isegnet            # isegnet | deeprage | chromatin | histone | deepchrome
    seed: 0
    run_dir: runs/isegnet    # resolved config, model, history, metrics, plots
    data_dir: data           # base of relative paths in ``data`` (default: the cwd)
    data: {...}              # the dataset builder's keys, ``split`` included (kerasgene.datasets)
    model: {name: isegnet, hparams: {...}}
    training: {...}          # kerasgene.training.TRAINING_DEFAULTS
    baselines: [ridge, random_forest]
    explain: {...}           # kerasgene.explain
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from kerasgene._io import write_yaml
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.genome import check_readable

TOP_LEVEL_KEYS = ("task", "seed", "run_dir", "data_dir", "data", "model", "training",
                  "baselines", "explain", "dataset_dir")


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


def apply_override(config: dict, override: str) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML."""
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected KEY=VALUE (e.g. training.epochs=5)")
    dotted, raw = override.split("=", 1)
    keys = dotted.strip().split(".")
    node = config
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {key!r} is not a section")
    node[keys[-1]] = yaml.safe_load(raw)


def load_config(path: str | os.PathLike, overrides: Iterable[str] = (),
                allowed_keys: Iterable[str] = TOP_LEVEL_KEYS) -> dict:
    """Read a YAML run configuration, apply ``overrides`` and check its top-level keys.

    Relative paths inside the file stay relative to the current directory, as on the
    command line.
    """
    path = check_readable(path, "config file")
    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as err:
        raise InputFileError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for override in overrides:
        apply_override(config, override)
    check_keys(config, allowed_keys, str(path))
    if "task" not in config:
        raise ConfigError(f"{path}: missing required key 'task'")
    return config


def save_config(config: Mapping, path: str | os.PathLike) -> None:
    """Write a resolved configuration as YAML (atomically)."""
    write_yaml(path, config)
