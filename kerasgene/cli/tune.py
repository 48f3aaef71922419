"""``kerasgene tune``: the papers' grid searches with keras-tuner (resumable; chief/worker).

::

    kerasgene tune --config tuning/isegnet_grid.yaml [KEY=VALUE ...]
                   [--max-trials N] [--subset AXIS=V1,V2 ...] [--workers N] [--threads T]
                   [--pin-cores] [--dry-run]

- Re-running the same command resumes the project (finished trials are kept; an
  interrupted one is re-run).
- ``--workers N`` launches, on this machine, a chief (serves the oracle on 127.0.0.1)
  and N workers as subprocesses of this one (``python -m kerasgene tune`` with
  KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT set), each worker
  with CPUs // N TensorFlow threads (``--pin-cores``: also pinned to its own CPUs); if
  any of them fails the others are stopped. Without ``--workers`` the command runs the
  search in this process, or joins a distributed search as chief / worker when the
  KERASTUNER_* variables are set (``tuning/README.md``: one command per host).

The handler calls :func:`kerasgene.tuning.tune`; this module imports neither TensorFlow
nor keras-tuner, so the launcher process stays light.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import yaml

from kerasgene.cli._common import add_overrides
from kerasgene.errors import ConfigError


def register(sub) -> None:
    """Add ``tune``."""
    p = sub.add_parser(
        "tune", help="grid search with keras-tuner (resumable, chief/worker)",
        description="Grid search with keras-tuner: the papers' grids (tuning/*.yaml), "
                    "resumable (re-run the same command), distributed (--workers N here, or "
                    "KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT "
                    "per host: tuning/README.md).")
    p.add_argument("--config", required=True, help="tune YAML (e.g. tuning/isegnet_grid.yaml)")
    add_overrides(p, "config overrides, e.g. training.epochs=5 tuning.project_name=quick")
    p.add_argument("--max-trials", type=int, default=None,
                   help="at most N trials in the project (counting finished ones)")
    p.add_argument("--subset", action="append", default=[], metavar="AXIS=V1,V2",
                   help="run only the grid points with these values (repeatable)")
    p.add_argument("--workers", type=int, default=0,
                   help="launch a chief and N workers on this machine")
    p.add_argument("--threads", type=int, default=None,
                   help="TensorFlow threads per process (per worker with --workers)")
    p.add_argument("--pin-cores", action="store_true",
                   help="with --workers: pin each worker to its own CPUs")
    p.add_argument("--dry-run", action="store_true",
                   help="check the config and the grid, build the dataset; run no trial")
    p.set_defaults(func=cmd_tune)


def parse_subset(items: Sequence[str]) -> dict[str, list]:
    """``["k1=16,32", "dropout=0.5"]`` → ``{"k1": [16, 32], "dropout": [0.5]}`` (values
    parsed as YAML; an axis given twice gets the values of both)."""
    out: dict[str, list] = {}
    form = "expected AXIS=V1[,V2...] (e.g. k1=16,32)"
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"--subset {item!r}: {form}")
        name, raw = item.split("=", 1)
        try:
            values = [yaml.safe_load(v) for v in raw.split(",") if v.strip()]
        except yaml.YAMLError:
            values = [None]
        if not values:
            raise ConfigError(f"--subset {item!r}: no values")
        if not all(isinstance(v, (bool, int, float, str)) for v in values):
            raise ConfigError(f"--subset {item!r}: {form}, each value a number or a word "
                              "(no brackets)")
        out.setdefault(name.strip(), []).extend(values)
    return out


def cmd_tune(args: argparse.Namespace) -> int:
    from kerasgene.tuning.search import tune

    outcome = tune(args.config, args.overrides, max_trials=args.max_trials,
                   subset=parse_subset(args.subset), workers=args.workers,
                   threads=args.threads, pin_cores=args.pin_cores, dry_run=args.dry_run)
    if outcome.summaries:
        from kerasgene.tuning.plans import format_summary

        print("\n".join(format_summary(info) for info in outcome.summaries))
    if outcome.role == "worker":
        print(f"kerasgene tune: {os.environ.get('KERASTUNER_TUNER_ID')} done")
    if outcome.results:
        from kerasgene.tuning.results import format_top

        print("\n".join(format_top(res) for res in outcome.results))
    return 0
