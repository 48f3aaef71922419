"""The ``kerasgene`` command line.

Every subcommand is a thin wrapper over a library function. A :class:`KerasgeneError`
becomes a one-line message on stderr and exit status 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

from kerasgene.errors import KerasgeneError

log = logging.getLogger("kerasgene")

#: Modules that add their own subcommands with ``register(subparsers)``.
COMMAND_MODULES = ("kerasgene.serving.commands", "kerasgene.tuning_commands",
                   "kerasgene.explain.commands", "kerasgene.explain.variant_commands",
                   "kerasgene.explain.ablation")


#: Lines TensorFlow's C++ runtime prints to stderr while it starts, before its logging
#: can be configured (TF_CPP_MIN_LOG_LEVEL does not reach them): the oneDNN notice and the
#: absent CUDA driver of a CPU machine.
TF_START_UP_NOISE = re.compile(
    r"absl::InitializeLog\(\) is called|\] oneDNN custom operations are on|"
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers|cpu_feature_guard\.cc|"
    r"^To enable the following instructions|cuda_platform\.cc:\d+\] failed call to cuInit")
#: Subcommands that never load TensorFlow.
LIGHT_COMMANDS = ("simulate",)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and find its devices with stderr captured, then pass on every
    captured line except :data:`TF_START_UP_NOISE` (everything if the import fails)."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    failed = True
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines()
            kept = [ln for ln in lines if ln.strip()
                    and (failed or not TF_START_UP_NOISE.search(ln))]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _cmd_models(args: argparse.Namespace) -> int:
    from kerasgene.models import describe

    rows = describe()
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'parameters':>12}  inputs -> outputs")
    for r in rows:
        ins = ", ".join(f"{k}{tuple(v)}" for k, v in r["inputs"].items())
        outs = ", ".join(f"{k}{tuple(v)}" for k, v in r["outputs"].items())
        print(f"{r['name']:<{width}}  {r['params']:>12,}  {ins} -> {outs}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from kerasgene.simulate import simulate

    truth = simulate(Path(args.out), seed=args.seed, scale=args.scale)
    print(f"wrote simulated data to {args.out} (truth.json: {len(truth)} sections)")
    return 0


def _load(args: argparse.Namespace) -> dict:
    from kerasgene.config import load_config

    return load_config(args.config, args.overrides)


def _cmd_prepare(args: argparse.Namespace) -> int:
    from kerasgene.train.runs import prepare

    dataset = prepare(_load(args), force=args.force)
    print(f"{dataset.path}: {dataset.n_examples} examples, splits {dataset.split_counts}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from kerasgene.train.runs import train

    out = train(_load(args), force_prepare=args.force)
    print(f"trained: {out / 'model.keras'}; metrics in {out / 'metrics.json'}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from kerasgene.train.runs import evaluate

    print(json.dumps(evaluate(_load(args)), indent=2, default=float))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from kerasgene.demo import run_demo

    names = args.systems.split(",") if args.systems else None
    run_demo(Path(args.out), seed=args.seed, scale=args.scale, names=names)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``kerasgene`` command."""
    parser = argparse.ArgumentParser(prog="kerasgene", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the model registry with parameter counts")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("simulate", help="write planted-truth demo data as real files")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", choices=["small", "medium"], default="medium")
    p.set_defaults(func=_cmd_simulate)

    for name, func, text in (
        ("prepare", _cmd_prepare, "build (or reuse) the dataset of a run config"),
        ("train", _cmd_train, "prepare, train and evaluate the model of a run config"),
        ("evaluate", _cmd_evaluate, "re-evaluate the trained model of a run config"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", required=True, help="YAML run config (configs/*.yaml)")
        p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="config overrides, e.g. training.epochs=5")
        if name != "evaluate":
            p.add_argument("--force", action="store_true", help="rebuild the dataset")
        p.set_defaults(func=func)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)

    p = sub.add_parser("demo", help="simulate, train and evaluate every task")
    p.add_argument("--out", default="demo_out", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", choices=["small", "medium"], default="small")
    p.add_argument("--systems", help="comma-separated subset of isegnet,deeprage,chromatin,histone_fcn")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kerasgene`` console script; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # tf.function retracing notices and the like
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        if args.command not in LIGHT_COMMANDS and not getattr(args, "workers", None):
            import_tensorflow_quietly()  # the launcher of `tune --workers` stays light
    try:
        return args.func(args)
    except KerasgeneError as err:
        if args.debug:
            raise
        print(f"kerasgene: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
