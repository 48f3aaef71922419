"""``kerasgene models | simulate | prepare``: the registry, demo data, datasets."""

from __future__ import annotations

import argparse

from kerasgene.cli._common import add_config_arguments


def register(sub) -> None:
    """Add ``models``, ``simulate`` and ``prepare``."""
    p = sub.add_parser("models", help="list the model registry with parameter counts")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("simulate", help="write planted-truth demo data as real files")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", choices=["small", "medium"], default="medium")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("prepare", help="build (or reuse) the dataset of a run config")
    add_config_arguments(p)
    p.add_argument("--force", action="store_true", help="rebuild the dataset")
    p.set_defaults(func=cmd_prepare)


def cmd_models(args: argparse.Namespace) -> int:
    from kerasgene.models import describe

    rows = describe()
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'parameters':>12}  inputs -> outputs")
    for r in rows:
        ins = ", ".join(f"{k}{tuple(v)}" for k, v in r["inputs"].items())
        outs = ", ".join(f"{k}{tuple(v)}" for k, v in r["outputs"].items())
        print(f"{r['name']:<{width}}  {r['params']:>12,}  {ins} -> {outs}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from kerasgene._io import check_folder_path
    from kerasgene.simulate import simulate

    truth = simulate(check_folder_path(args.out, "simulate --out"), seed=args.seed,
                     scale=args.scale)
    print(f"wrote simulated data to {args.out} (truth.json: {len(truth)} sections)")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from kerasgene.config import load_config
    from kerasgene.train.runs import prepare

    dataset = prepare(load_config(args.config, args.overrides), force=args.force)
    print(f"{dataset.path}: {dataset.n_examples} examples, splits {dataset.split_counts}")
    return 0
