"""Arguments every command group shares: how a command names a run and its config."""

from __future__ import annotations

import argparse
import os
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
    overrides and sets its ``run_dir`` to ``DIR`` (and a ``dataset_dir`` beside the run to
    where the run now is: :func:`moved_dataset_dir`).
    """
    from kerasgene.config import load_config
    from kerasgene.errors import InputFileError
    from kerasgene.train.run_config import run_dir

    _warn_training_overrides(args.overrides)
    if args.run is None:
        config = load_config(args.config, args.overrides)
        check_run_location(args.config, config, args.overrides, f"--run {Path(args.config).parent}")
        _warn_config_differs(config, run_dir(config), args.config, args.overrides)
        return run_dir(config), config
    run = Path(args.run)
    if not (run / "config.yaml").is_file():
        raise InputFileError(f"{run}: no config.yaml; expected a run directory written by "
                             "`kerasgene train`")
    config = load_config(run / "config.yaml", args.overrides)
    dataset = None if _overridden(args.overrides, "dataset_dir") else \
        moved_dataset_dir(config.get("run_dir"), config.get("dataset_dir"), run)
    if dataset is not None:
        config["dataset_dir"] = str(dataset)
    config["run_dir"] = str(run)
    return run, config


def _overridden(overrides: Iterable[str], key: str) -> bool:
    """Whether the ``KEY=VALUE`` overrides set the top-level ``key``."""
    return any(o.partition("=")[0].strip() == key for o in overrides)


def moved_dataset_dir(saved_run: str | None, dataset: str | None, run: Path) -> Path | None:
    """Where the ``dataset_dir`` of a run's config.yaml lies now that the run is ``run``:
    the same place relative to it as to the config's ``run_dir`` (``saved_run``), when a
    dataset is there. An ablation sub-run reads its parent's dataset
    (``<parent>/dataset`` beside ``<parent>/ablation/<subset>``): after the parent was
    moved or copied, ``--run MOVED/ablation/all`` rebuilt that dataset at the old path, a
    folder outside the run (the copy: read the original's). None: keep the config's (no
    ``dataset_dir``, the run where it was, or no dataset at the new place)."""
    if not saved_run or not dataset:
        return None
    old, data, new = Path(saved_run).resolve(), Path(dataset).resolve(), run.resolve()
    if old == new:
        return None
    common = Path(os.path.commonpath([old, data]))
    base = new
    for _ in old.relative_to(common).parts:
        base = base.parent
    moved = base / data.relative_to(common)
    return moved if moved != data and (moved / "meta.json").is_file() else None


def check_run_location(source: str | Path, config: Mapping, overrides: Iterable[str],
                       hint: str) -> None:
    """Refuse the ``config.yaml`` of a run directory (``run.json`` beside it) whose
    ``run_dir`` names another folder: the run was copied or moved (``run_dir`` still names
    the original), or its relative ``run_dir`` resolves from another working directory.
    The command would read, rewrite or retrain that other folder's run without a word
    (``evaluate --config COPY/config.yaml`` rewrote the original's metrics.json). An
    explicit ``run_dir=`` override is taken as given.

    Parameters
    ----------
    source : the ``--config`` file
    config : the configuration read from it, overrides applied
    overrides : the ``KEY=VALUE`` overrides
    hint : what to give instead (``--run DIR``, ``run_dir=DIR``)

    Raises
    ------
    ConfigError
        naming the file, both folders and ``hint``.
    """
    from kerasgene.train.records import RUN_RECORD
    from kerasgene.train.run_config import run_dir

    folder = Path(source).parent
    if not (folder / RUN_RECORD).is_file() or _overridden(overrides, "run_dir"):
        return
    named = run_dir(config)
    if named.resolve() == folder.resolve():
        return
    raise ConfigError(f"{source}: the config of the run in {folder} ({RUN_RECORD} beside "
                      f"it), but its run_dir is {named} ({named.resolve()}): the run was "
                      "copied or moved, or its relative run_dir resolves from another "
                      f"working directory; expected {hint}")


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
