"""``kerasgene tune``: grid search with keras-tuner (resumable; chief/worker).

::

    kerasgene tune --config tuning/isegnet_grid.yaml [KEY=VALUE ...]
                   [--max-trials N] [--subset AXIS=V1,V2 ...] [--workers N] [--threads T]
                   [--pin-cores] [--dry-run]

- Re-running the same command resumes the project (finished trials are kept; an
  interrupted one is re-run).
- ``--workers N`` launches, on this machine, a chief (serves the oracle on 127.0.0.1)
  and N workers as subprocesses of this one (``python -m kerasgene``
  with KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT set), each
  worker with CPUs // N TensorFlow threads (``--pin-cores``: also pinned to its own
  CPUs); if any of them fails the others are stopped. Without ``--workers`` the command
  runs the search in this process, or joins a distributed search as chief / worker when
  the KERASTUNER_* variables are set (``tuning/README.md``: one command per host).

This module imports TensorFlow only inside functions: the launcher process stays light.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence

import yaml

from kerasgene.config import TOP_LEVEL_KEYS, load_config
from kerasgene.errors import ConfigError, KerasgeneError

log = logging.getLogger(__name__)

TUNE_KEYS = (*TOP_LEVEL_KEYS, "tuning")
#: environment of a launched worker: CPUs to pin to ("0,1") and TensorFlow threads
ENV_CPUS = "KERASGENE_CPUS"
ENV_THREADS = "KERASGENE_TF_THREADS"
ENV_PARENT = "KERASGENE_PARENT_PID"


# ----------------------------------------------------------------------------- config
def load_tune_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> dict:
    """Read a tune YAML (a run configuration with a ``tuning`` section) and apply
    ``a.b=value`` overrides (YAML-parsed values)."""
    config = load_config(path, overrides, allowed_keys=TUNE_KEYS)
    if not isinstance(config.get("tuning") or {}, dict):
        raise ConfigError(f"{path}: 'tuning' must be a mapping")
    return config


def parse_subset(items: Sequence[str]) -> dict[str, list]:
    """``["k1=16,32", "dropout=0.5"]`` → ``{"k1": [16, 32], "dropout": [0.5]}``."""
    out: dict[str, list] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--subset {item!r}: expected AXIS=V1[,V2...] (e.g. k1=16,32)")
        name, raw = item.split("=", 1)
        values = [yaml.safe_load(v) for v in raw.split(",") if v.strip()]
        if not values:
            raise ConfigError(f"--subset {item!r}: no values")
        out.setdefault(name.strip(), []).extend(values)
    return out


def apply_cli(config: dict, max_trials: int | None, subset: Mapping[str, list]) -> dict:
    tuning = config.setdefault("tuning", {}) or {}
    config["tuning"] = tuning
    if max_trials is not None:
        if max_trials < 1:
            raise ConfigError(f"--max-trials: expected a positive integer, got {max_trials}")
        tuning["max_trials"] = max_trials
    if subset:
        tuning["subset"] = {**(tuning.get("subset") or {}), **subset}
    return config


# ----------------------------------------------------------------------------- process setup
def setup_process(threads: int | None = None) -> None:
    """Pin to ``$KERASGENE_CPUS``, limit TensorFlow to ``threads`` (or
    ``$KERASGENE_TF_THREADS``) intra/inter-op threads, and die with the launcher."""
    cpus = os.environ.get(ENV_CPUS)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    threads = threads or (int(os.environ[ENV_THREADS]) if os.environ.get(ENV_THREADS) else None)
    if threads:
        for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
            os.environ[var] = str(threads)
    parent = os.environ.get(ENV_PARENT)
    if parent and parent == str(os.getppid()) and sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PDEATHSIG
        except OSError:  # pragma: no cover
            pass
    if threads:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # pragma: no cover - TF already initialised
            log.warning("TensorFlow already initialised; threads not changed")


# ----------------------------------------------------------------------------- launcher
def free_port(host: str = "127.0.0.1", span: int = 1) -> int:
    """A port such that ``port .. port + span - 1`` can be bound on ``host`` now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port + span > 65535:
            continue
        ok = True
        for p in range(port, port + span):
            with socket.socket() as s:
                try:
                    s.bind((host, p))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise KerasgeneError(f"no {span} consecutive free ports on {host}")


def _stop(procs: Mapping[str, subprocess.Popen], grace: float = 5.0) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs.values():
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def launch_local(config_path: str | os.PathLike, overrides: Sequence[str] = (), workers: int = 2,
                 *, max_trials: int | None = None, subset: Sequence[str] = (),
                 threads: int | None = None, pin: bool = False, host: str = "127.0.0.1",
                 port: int | None = None, timeout: float | None = None,
                 worker_grace: float = 10.0, python: str = sys.executable,
                 stdout=None, stderr=None) -> int:
    """Run a chief and ``workers`` workers on this machine and wait for them.

    Each worker gets ``threads`` TensorFlow threads (default: CPUs // workers) and, with
    ``pin``, its own CPUs (sched_setaffinity; on a machine shared with other jobs a
    pinned worker cannot move off a busy core, hence off by default). The chief is never
    pinned (it only serves the oracle and writes the results). If a process fails, the
    others are stopped and a KerasgeneError says which (the project resumes with the
    same command). When the chief is done, workers still starting up are stopped after
    ``worker_grace`` s.

    Returns 0 on success.
    """
    if workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {workers}")
    config = load_tune_config(config_path, overrides)  # fail fast on a bad file
    _prepare_dataset(config)  # build once here, not concurrently in every worker
    n_tasks = _n_projects(config)
    port = port or free_port(host, n_tasks)
    cmd = [python, "-m", "kerasgene", "tune", "--config", str(config_path),
           *overrides]
    if max_trials is not None:
        cmd += ["--max-trials", str(max_trials)]
    for item in subset:
        cmd += ["--subset", item]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        list(range(os.cpu_count() or 1))
    per = threads or max(1, len(cpus) // workers)
    base = {**os.environ, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port),
            ENV_PARENT: str(os.getpid())}
    base.pop(ENV_CPUS, None)
    base.pop(ENV_THREADS, None)
    procs: dict[str, subprocess.Popen] = {}
    old_term = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    if _main_thread():
        signal.signal(signal.SIGTERM, on_term)
    try:
        procs["chief"] = subprocess.Popen(cmd, env={**base, "KERASTUNER_TUNER_ID": "chief"},
                                          stdout=stdout, stderr=stderr)
        for i in range(workers):
            env = {**base, "KERASTUNER_TUNER_ID": f"worker{i}", ENV_THREADS: str(per)}
            if pin and len(cpus) >= workers:
                mine = [cpus[(i * per + j) % len(cpus)] for j in range(per)]
                env[ENV_CPUS] = ",".join(map(str, sorted(set(mine))))
            procs[f"worker{i}"] = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr)
        start = time.monotonic()
        chief_done_at = None
        while True:
            time.sleep(0.2)
            for name, p in procs.items():
                rc = p.poll()
                if rc not in (None, 0):
                    others = {k: v for k, v in procs.items() if k != name}
                    _stop(others)
                    raise KerasgeneError(
                        f"tune --workers: {name} exited with status {rc}; stopped the "
                        f"others. Re-run the same command to resume the search.")
            if procs["chief"].poll() == 0:
                if chief_done_at is None:
                    chief_done_at = time.monotonic()
                if all(p.poll() is not None for p in procs.values()):
                    return 0
                if time.monotonic() - chief_done_at > worker_grace:
                    late = [k for k, p in procs.items() if p.poll() is None]
                    log.warning("search finished; stopping idle %s", ", ".join(late))
                    _stop(procs)
                    return 0
            if timeout is not None and time.monotonic() - start > timeout:
                _stop(procs)
                raise KerasgeneError(f"tune --workers: not finished after {timeout:.0f} s; "
                                     "stopped (re-run to resume)")
    except KeyboardInterrupt:
        _stop(procs)
        raise KerasgeneError("tune --workers: interrupted; stopped the chief and workers "
                             "(re-run the same command to resume)") from None
    finally:
        _stop(procs)
        if _main_thread():
            signal.signal(signal.SIGTERM, old_term)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _prepare_dataset(config: Mapping) -> None:
    if config.get("data") is not None:
        from kerasgene.train import runs

        # built (or reused) once, before the workers start; light: no Keras import here
        runs.prepare(dict(config), light=True)


def _n_projects(config: Mapping) -> int:
    space = ((config.get("tuning") or {}).get("space") or {})
    tasks = space.get("task") if isinstance(space, Mapping) else None
    if tasks is None:
        return 1
    return 1 if isinstance(tasks, str) else max(1, len(tasks))


# ----------------------------------------------------------------------------- command
def format_top(result, n: int = 5) -> str:
    """The top-``n`` table of a search as text."""
    hm = result.plan.hypermodel
    top = result.top(n)
    if top.empty:
        return f"{result.plan.project_name}: no completed trial"
    cols = ["trial_id", *hm.axes, "objective", "epochs", "seconds"]
    shown = top[[c for c in cols if c in top.columns]].copy()
    shown.insert(0, "rank", range(1, len(shown) + 1))
    shown = shown.rename(columns={"objective": hm.objective_name})
    done = int((result.table["status"] == "COMPLETED").sum())
    head = (f"{result.plan.project_name}: {done} of {hm.grid_size()} grid points completed; "
            f"top {len(shown)} by {hm.objective_name} ({hm.direction})")
    body = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    files = [f"  trials: {result.trials_tsv}"]
    if result.plot:
        files.append(f"  plot:   {result.plot}")
    if result.best_model:
        files.append(f"  best:   {result.best_model}")
    return "\n".join([head, body, *files])


def dry_run(config_path, overrides: Sequence[str], max_trials: int | None,
            subset: Sequence[str]) -> int:
    """Check the config, build the dataset if needed, print each project's grid; no trial."""
    config = load_tune_config(config_path, overrides)
    apply_cli(config, max_trials, parse_subset(subset))
    from kerasgene import tuning

    for plan in tuning.plan_search(config, validate=True):
        info = tuning.plan_summary(plan)
        axes = "; ".join(f"{k}: {', '.join(v)}" for k, v in info["axes"].items())
        print(f"{info['project']}: {info['grid_points']} grid points, {info['selected']} "
              f"selected, {info['completed']} completed; objective {info['objective']}\n"
              f"  {axes}\n  {info['project_dir']}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Run ``kerasgene tune``."""
    subset = list(args.subset or [])
    if args.dry_run:
        return dry_run(args.config, args.overrides, args.max_trials, subset)
    if args.workers:
        if os.environ.get("KERASTUNER_TUNER_ID"):
            raise ConfigError("--workers launches its own chief and workers; unset "
                              "KERASTUNER_TUNER_ID or drop --workers")
        return launch_local(args.config, args.overrides, args.workers,
                            max_trials=args.max_trials, subset=subset, threads=args.threads,
                            pin=args.pin_cores)
    config = load_tune_config(args.config, args.overrides)
    apply_cli(config, args.max_trials, parse_subset(subset))
    setup_process(args.threads or (config.get("tuning") or {}).get("threads"))
    from kerasgene import tuning

    who = tuning.role()
    results = tuning.run_config(config, verbose=1)
    if who == "worker":
        print(f"kerasgene tune: {os.environ.get('KERASTUNER_TUNER_ID')} done")
    for res in results:
        print(format_top(res))
    return 0


def register(subparsers) -> None:
    """Add the ``tune`` subcommand to the ``kerasgene`` parser's subparsers."""
    p = subparsers.add_parser(
        "tune", help="grid search with keras-tuner (resumable, chief/worker)",
        description="Grid search with keras-tuner: the papers' grids (tuning/*.yaml), "
                    "resumable (re-run the same command), distributed (--workers N here, or "
                    "KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT "
                    "per host: tuning/README.md).")
    p.add_argument("--config", required=True, help="tune YAML (e.g. tuning/isegnet_grid.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides, e.g. training.epochs=5 tuning.project_name=quick")
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
