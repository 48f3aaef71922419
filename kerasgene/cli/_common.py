"""Arguments every command group shares: how a command names a run and its config."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from kerasgene.errors import ConfigError


def add_config_arguments(p: argparse.ArgumentParser, what: str = "YAML run config") -> None:
    """``--config FILE`` and trailing ``KEY=VALUE`` overrides (commands that make a run)."""
    p.add_argument("--config", required=True, help=f"{what} (configs/*.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides, e.g. training.epochs=5")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """How a command names a trained run: ``--run RUN_DIR`` (its own ``config.yaml``) or
    ``--config FILE [KEY=VALUE ...]`` (the run is the config's ``run_dir``)."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--run", metavar="RUN_DIR", help="a run directory written by `kerasgene train`")
    g.add_argument("--config", help="YAML run config; the run is its run_dir")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")


def run_config(args: argparse.Namespace) -> tuple[Path, dict]:
    """``(run directory, configuration)`` named by :func:`add_run_arguments`.

    ``--run DIR`` reads ``DIR/config.yaml`` (the resolved config ``train`` wrote) with the
    overrides and sets its ``run_dir`` to ``DIR``.
    """
    from kerasgene.config import load_config
    from kerasgene.errors import InputFileError
    from kerasgene.train.run_config import run_dir

    _warn_training_overrides(args.overrides)
    if args.run is None:
        config = load_config(args.config, args.overrides)
        return run_dir(config), config
    run = Path(args.run)
    if not (run / "config.yaml").is_file():
        raise InputFileError(f"{run}: no config.yaml; expected a run directory written by "
                             "`kerasgene train`")
    config = load_config(run / "config.yaml", args.overrides)
    config["run_dir"] = str(run)
    return run, config


#: Config sections a trained run's commands do not read: the model is trained already.
TRAINING_SECTIONS = ("model", "training", "baselines")


def _warn_training_overrides(overrides: Iterable[str]) -> None:
    """Warn about overrides of :data:`TRAINING_SECTIONS` given to a command on a trained
    run (``evaluate --run RUN training.epochs=5`` changed nothing, without a word)."""
    import logging

    unused = [o for o in overrides if o.partition("=")[0].split(".")[0] in TRAINING_SECTIONS]
    if unused:
        logging.getLogger(__name__).warning(
            "%s: not used — the run's model is trained already (retrain with kerasgene train "
            "to change %s)", ", ".join(unused), "them" if len(unused) > 1 else "it")


def name_value_pairs(items: Iterable[str], option: str, form: str) -> dict[str, str]:
    """``NAME=VALUE`` items of a repeated option as a dict (names unique)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"{option} {item!r}: expected {form}")
        if name in out:
            raise ConfigError(f"{option} {name!r} given twice")
        out[name] = value
    return out
