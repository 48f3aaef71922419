"""The ``kerasgene`` command line: one module per command group.

=============  =================================  ====================================
module         commands                           library calls
=============  =================================  ====================================
``data``       models, simulate, prepare          kerasgene.models, .simulate, .train.runs
``train``      train, evaluate, demo              kerasgene.train.runs, kerasgene.demo
``explain``    explain, ablate, variants, impute  kerasgene.explain
``tune``       tune                               kerasgene.tuning
``serve``      export, serve, predict             kerasgene.serving
=============  =================================  ====================================

Every handler, ``cmd_<command>(args) -> int``, turns its arguments into a typed library
call; no library function sees argparse. A command that makes a run takes ``--config FILE
[KEY=VALUE ...]``; one that reads a trained run takes ``--run RUN_DIR`` or, equivalently,
the ``--config`` whose ``run_dir`` it is (:mod:`kerasgene.cli._common`). A
:class:`KerasgeneError` becomes a one-line message on stderr and exit status 2
(``--debug`` shows the traceback); Ctrl-C, the line ``kerasgene COMMAND: interrupted`` and
exit status 130, after the command's own clean-up as on any failure (``train`` removes
the files of the run it was writing, ``simulate`` leaves no folder).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import tempfile

from kerasgene.cli._common import IntermixedParser
from kerasgene.errors import KerasgeneError
from kerasgene.train import launcher

log = logging.getLogger("kerasgene")

#: The command groups: modules of this package, each adding its subcommands with
#: ``register(subparsers)`` in the order of the ``--help`` listing.
COMMAND_GROUPS = ("data", "train", "explain", "tune", "serve")


#: Lines TensorFlow's C++ runtime prints to stderr while it starts, before its logging
#: can be configured (TF_CPP_MIN_LOG_LEVEL does not reach them): the oneDNN notice and the
#: absent CUDA driver of a CPU machine.
TF_START_UP_NOISE = re.compile(
    r"absl::InitializeLog\(\) is called|\] oneDNN custom operations are on|"
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers|cpu_feature_guard\.cc|"
    r"^To enable the following instructions|cuda_platform\.cc:\d+\] failed call to cuInit")
#: Subcommands that never load TensorFlow.
LIGHT_COMMANDS = ("simulate",)
#: Subcommands whose idle OpenMP threads sleep even alone
#: (:func:`kerasgene.train.launcher.sleep_idle_openmp_threads`): TF-MoDISco's numba
#: kernels run on OpenMP; on the demo's DeepRAGE-TP ``explain --analyses modisco`` took
#: 82.7 and 81.7 s in modisco-lite against 91.3 and 85.3 s with OpenMP's default (175 and
#: 176 against 195 and 185 CPU-s for the command; the same patterns). Not for every
#: command: XGBoost alone fits slower so (8.9 and 10.0 against 8.1 and 8.3 s).
SLEEPING_OPENMP_COMMANDS = ("explain",)


def import_tensorflow_quietly(share_cores: bool = False) -> None:
    """Import TensorFlow and find its devices with stderr captured, then pass on every
    captured line except :data:`TF_START_UP_NOISE` (everything if the import fails).

    ``share_cores``: a process that shares the cores with others (the demo's, the test
    suite's) — its idle threads sleep instead of spinning
    (:func:`kerasgene.train.launcher.sleep_idle_openmp_threads` before the import, which
    loads an OpenMP runtime; :func:`kerasgene.train.launcher.stop_idle_spinning` after)."""
    if share_cores:
        launcher.sleep_idle_openmp_threads()
    if "tensorflow" not in sys.modules:
        _import_tensorflow_filtered()
    if share_cores:
        launcher.stop_idle_spinning()


def _import_tensorflow_filtered() -> None:
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


#: What ``kerasgene --help`` says first, and the first commands it suggests.
DESCRIPTION = """Deep-learning models of gene regulation rebuilt from four papers (iSEGnet,
DeepRAGE, chromatin imputation, the histone FCN ensemble): prepare datasets from
genomics files, train, evaluate, explain, tune, export and serve."""
EPILOG = """a first session (README.md walks through it):
  kerasgene simulate --out data --scale small
  kerasgene train --config configs/isegnet.yaml data_dir=data run_dir=runs/isegnet
  kerasgene explain --run runs/isegnet
  kerasgene export --run runs/isegnet --base-dir models --name isegnet

`kerasgene COMMAND --help` lists a command's options; docs/real_data.md shows each
system's config on one's own files."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``kerasgene`` command."""
    parser = argparse.ArgumentParser(prog="kerasgene", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=IntermixedParser)
    for group in COMMAND_GROUPS:
        importlib.import_module(f"kerasgene.cli.{group}").register(sub)
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
    if args.command in SLEEPING_OPENMP_COMMANDS:
        launcher.sleep_idle_openmp_threads()  # before TensorFlow's import loads OpenMP
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
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"kerasgene {args.command}: interrupted", file=sys.stderr)
        return 130

