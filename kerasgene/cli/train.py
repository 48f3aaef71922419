"""``kerasgene train | evaluate | demo``: runs from configs, and the whole demo."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from kerasgene.cli._common import (
    add_config_arguments,
    add_run_arguments,
    check_run_location,
    run_config,
)
from kerasgene.demo import default_jobs
from kerasgene.errors import ConfigError


def register(sub) -> None:
    """Add ``train``, ``evaluate`` and ``demo``."""
    p = sub.add_parser("train", help="prepare, train and evaluate the model of a run config")
    add_config_arguments(p)
    p.add_argument("--force", action="store_true", help="rebuild the dataset")
    p.add_argument("--workers", type=int, default=0,
                   help="train with N local processes (training.strategy=multi_worker over "
                        "127.0.0.1; worker 0 writes the run; re-run to resume a failed one)")
    p.add_argument("--timeout", type=float, default=None,
                   help="with --workers: stop them after this many seconds")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="re-evaluate the trained model of a run")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true",
                   help="print the run's metrics.json (for scripts) instead of the score line")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="simulate, train and evaluate every system")
    p.add_argument("--out", default="demo_out", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", choices=["small", "medium"], default="small")
    p.add_argument("--systems", help="comma-separated subset of "
                   "isegnet,deeprage,chromatin,histone_fcn")
    p.add_argument("--jobs", type=int, default=default_jobs(),
                   help="systems trained at once, each in its own process (default: one per "
                        "CPU core, at most 4: %(default)s here)")
    p.set_defaults(func=cmd_demo)


def cmd_train(args: argparse.Namespace) -> int:
    from kerasgene.config import load_config
    from kerasgene.train.launcher import launch_training, setup_process

    if args.timeout is not None and not args.workers:
        raise ConfigError("train --timeout: stops the --workers processes; expected "
                          "--workers N with it (or no --timeout)")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ConfigError(f"train --timeout: expected a number of seconds > 0, got "
                          f"{args.timeout}")
    config = load_config(args.config, args.overrides)
    check_run_location(args.config, config, args.overrides,
                       f"run_dir={Path(args.config).parent} to retrain that run")
    if args.workers:
        out = launch_training(args.config, args.overrides, args.workers,
                              force_prepare=args.force, timeout=args.timeout)
        print(trained_line(out, f"trained with {args.workers} workers"))
        return 0
    setup_process()  # a launched worker's threads (no-op otherwise)
    from kerasgene.train.runs import train

    out = train(config, force_prepare=args.force)
    peer = launched_peer(config)
    if peer:
        print(f"{peer}: trained its share; the run is written to {out} by the task that "
              "writes it (chief, else worker 0)")
    else:
        print(trained_line(out))
    return 0


def trained_line(run: Path, what: str = "trained") -> str:
    """What ``train`` prints when it wrote a run: ``what``, the model, its scores in one
    line (:func:`~kerasgene.metrics.score_line`) and where the metrics are."""
    from kerasgene._io import read_json_object
    from kerasgene.metrics import score_line

    metrics = read_json_object(run / "metrics.json", "the run's metrics")
    return (f"{what}: {run / 'model.keras'}; {score_line(metrics)}; metrics in "
            f"{run / 'metrics.json'}")


def launched_peer(config: dict) -> str | None:
    """``"worker <i>"`` when this process is a multi-worker peer that does not write the
    run (``training.strategy: multi_worker``; its task read from ``TF_CONFIG`` by
    TensorFlow's resolver, as the strategy does), else None."""
    if (config.get("training") or {}).get("strategy") != "multi_worker":
        return None
    import tensorflow as tf

    from kerasgene.train.recipes import task_writes_run

    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    kind, index = resolver.task_type or "worker", int(resolver.task_id or 0)
    if task_writes_run(kind, index, resolver.cluster_spec().as_dict()):
        return None
    return f"{kind} {index}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from kerasgene.train.runs import evaluate

    run, config = run_config(args)
    metrics = evaluate(config)
    if args.json:
        print(json.dumps(metrics, indent=2, default=float))
    else:
        print(trained_line(run, "evaluated") + " (baselines and controls: train's)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from kerasgene._io import check_folder_path
    from kerasgene.demo import run_demo

    names = None if args.systems is None else _demo_systems(args.systems)
    if args.jobs < 1:
        raise ConfigError(f"demo --jobs: expected a whole number ≥ 1, got {args.jobs}")
    out = check_folder_path(args.out, "demo --out")
    run_demo(out, seed=args.seed, scale=args.scale, names=names, jobs=args.jobs)
    return 0


def _demo_systems(text: str) -> list[str]:
    """``--systems`` text (``"isegnet, chromatin"``) as names (at least one;
    :func:`~kerasgene.demo.run_demo` checks them)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"demo --systems: no system given ({text!r}); expected "
                          "comma-separated system names")
    return names
