"""Arguments every command group shares: how a command names a run and its config."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path

from kerasgene.errors import ConfigError


class IntermixedParser(argparse.ArgumentParser):
    """The parser of each command (:func:`kerasgene.cli.build_parser`'s subparsers):
    ``KEY=VALUE`` overrides may stand on both sides of its options (``ablate --config
    c.yaml run_dir=x --subsets all seed=7``) — argparse's intermixed parsing, which the
    top-level parser cannot use (it has subcommands)."""

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixing:  # the two passes of parse_known_intermixed_args
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def add_overrides(p: argparse.ArgumentParser, text: str = "config overrides, e.g. "
                  "training.epochs=5") -> None:
    """The ``KEY=VALUE`` overrides of a command, taken wherever they stand among its
    options (``p``: an :class:`IntermixedParser`)."""
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=text)


def add_config_arguments(p: argparse.ArgumentParser, what: str = "YAML run config") -> None:
    """``--config FILE`` and ``KEY=VALUE`` overrides (commands that make a run)."""
    p.add_argument("--config", required=True, help=f"{what} (configs/*.yaml)")
    add_overrides(p)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """How a command names a trained run: ``--run RUN_DIR`` (its own ``config.yaml``) or
    ``--config FILE [KEY=VALUE ...]`` (the run is the config's ``run_dir``)."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--run", metavar="RUN_DIR", help="a run directory written by `kerasgene train`")
    g.add_argument("--config", help="YAML run config; the run is its run_dir")
    add_overrides(p, "config overrides")


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
        _warn_config_differs(config, run_dir(config), args.config, args.overrides)
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
    unused = [o for o in overrides if o.partition("=")[0].split(".")[0] in TRAINING_SECTIONS]
    if unused:
        _warn_unused(f"{', '.join(unused)}: not used", len(unused))


def _warn_config_differs(config: Mapping, run: Path, source: str,
                         overrides: Iterable[str]) -> None:
    """Warn about the values of :data:`TRAINING_SECTIONS` in which ``config`` (read from
    ``source``) differs from the run's record (``run/config.yaml``), as about an override
    of them (``evaluate --config other_model.yaml`` changed nothing, without a word);
    keys set by ``overrides`` are warned about by :func:`_warn_training_overrides`."""
    from kerasgene._io import to_plain
    from kerasgene.config import load_config

    record = run / "config.yaml"
    if not record.is_file():
        return
    saved = to_plain(load_config(record))
    given = to_plain(dict(config))
    overridden = [o.partition("=")[0].strip() for o in overrides]
    differ = [k for k in _differences(saved, given, TRAINING_SECTIONS)
              if not any(o == k or o.startswith(f"{k}.") or k.startswith(f"{o}.")
                         for o in overridden)]
    if differ:
        _warn_unused(f"{source}: {', '.join(differ)} (differ{'s' if len(differ) == 1 else ''} "
                     f"from the run's {record}): not used", len(differ))


def _differences(saved: Mapping, given: Mapping, sections: Iterable[str]) -> list[str]:
    """``section`` or ``section.key`` (one level down) where two configurations differ."""
    out = []
    for section in sections:
        a, b = saved.get(section), given.get(section)
        if isinstance(a, Mapping | None) and isinstance(b, Mapping | None):
            a, b = a or {}, b or {}
            out += [f"{section}.{k}" for k in sorted(set(a) | set(b), key=str)
                    if a.get(k) != b.get(k)]
        elif a != b:
            out.append(section)
    return out


def _warn_unused(subject: str, n: int) -> None:
    """Warn that ``subject`` (``n`` overrides or config values) changes nothing: the run's
    model is trained already."""
    import logging

    logging.getLogger(__name__).warning(
        "%s — the run's model is trained already (retrain with kerasgene train to change "
        "%s)", subject, "them" if n > 1 else "it")


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
