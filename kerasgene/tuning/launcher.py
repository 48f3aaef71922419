"""A chief and N workers on this machine (``kerasgene tune --workers N``).

:func:`launch_local` starts ``python -m kerasgene tune`` as a chief (serves the oracle on
127.0.0.1) and N workers, with KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP /
KERASTUNER_ORACLE_PORT set, each worker with CPUs // N TensorFlow threads (``pin``: also
pinned to its own CPUs), and waits for them; if any of them fails the others are stopped.
:func:`setup_process` is what such a process (or any tune process) does first; it and
the other process helpers live in :mod:`kerasgene.train.launcher` (``train --workers``).

Light: no TensorFlow is imported here (but by :func:`setup_process` when it sets threads),
so the launcher process stays small.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import yaml

from kerasgene.errors import ConfigError, KerasgeneError
from kerasgene.train.launcher import (
    ENV_CPUS,
    ENV_PARENT,
    ENV_THREADS,
    exit_note,
    free_port,
    setup_process,
    stop_processes,
    stopped_on_signal,
)
from kerasgene.tuning.config import apply_selection, load_tune_config, project_tasks

__all__ = ["free_port", "launch_local", "setup_process"]  # the helpers from kerasgene.train.launcher

log = logging.getLogger(__name__)

def _environments(workers: int, host: str, port: int, threads: int | None,
                  pin: bool) -> dict[str, dict[str, str]]:
    """``{tuner id: environment}`` of the chief and each worker."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        list(range(os.cpu_count() or 1))
    per = threads or max(1, len(cpus) // workers)
    base = {**os.environ, "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port),
            ENV_PARENT: str(os.getpid())}
    base.pop(ENV_CPUS, None)
    base.pop(ENV_THREADS, None)
    envs = {"chief": {**base, "KERASTUNER_TUNER_ID": "chief"}}
    for i in range(workers):
        env = {**base, "KERASTUNER_TUNER_ID": f"worker{i}", ENV_THREADS: str(per)}
        if pin and len(cpus) >= workers:
            mine = [cpus[(i * per + j) % len(cpus)] for j in range(per)]
            env[ENV_CPUS] = ",".join(map(str, sorted(set(mine))))
        envs[f"worker{i}"] = env
    return envs


def _wait(procs: dict[str, subprocess.Popen], timeout: float | None, worker_grace: float,
          restart: Callable[[str], subprocess.Popen] | None = None, restarts: int = 0) -> None:
    """Until the chief is done and every worker has exited (or is stopped after
    ``worker_grace`` s). A worker killed by a signal (SIGKILL, the OOM killer) is started
    again with ``restart(name)`` — same tuner id, so the oracle gives it back its
    unfinished trial while the others go on — at most ``restarts`` times each; any other
    failure stops the others."""
    start = time.monotonic()
    chief_done_at = None
    restarted = dict.fromkeys(procs, 0)
    while True:
        time.sleep(0.2)
        for name, p in list(procs.items()):
            rc = p.poll()
            if rc in (None, 0):
                continue
            if (rc < 0 and name != "chief" and restart is not None
                    and restarted[name] < restarts and procs["chief"].poll() is None):
                restarted[name] += 1
                log.warning("tune --workers: %s was killed (signal %d); restarting it (%d of "
                            "%d): it resumes its trial", name, -rc, restarted[name], restarts)
                procs[name] = restart(name)
                continue
            stop_processes({k: v for k, v in procs.items() if k != name})
            raise KerasgeneError(f"tune --workers: {name} exited with status {rc}; stopped "
                                 f"the others; {exit_note(rc)}")
        if procs["chief"].poll() == 0:
            if chief_done_at is None:
                chief_done_at = time.monotonic()
            if all(p.poll() is not None for p in procs.values()):
                return
            if time.monotonic() - chief_done_at > worker_grace:
                late = [k for k, p in procs.items() if p.poll() is None]
                log.warning("search finished; stopping idle %s", ", ".join(late))
                stop_processes(procs)
                return
        if timeout is not None and time.monotonic() - start > timeout:
            stop_processes(procs)
            raise KerasgeneError(f"tune --workers: not finished after {timeout:.0f} s; "
                                 "stopped (re-run to resume)")


def launch_local(config_path: str | os.PathLike, overrides: Sequence[str] = (), workers: int = 2,
                 *, max_trials: int | None = None, subset: Mapping[str, list] | None = None,
                 threads: int | None = None, pin: bool = False, host: str = "127.0.0.1",
                 port: int | None = None, timeout: float | None = None,
                 worker_grace: float = 10.0, restarts: int = 2, python: str = sys.executable,
                 stdout=None, stderr=None) -> int:
    """Run a chief and ``workers`` workers on this machine and wait for them.

    Each worker gets ``threads`` TensorFlow threads (default: CPUs // workers) and, with
    ``pin``, its own CPUs (sched_setaffinity; on a machine shared with other jobs a
    pinned worker cannot move off a busy core, hence off by default). The chief is never
    pinned (it only serves the oracle and writes the results). ``max_trials`` and
    ``subset`` select trials as in :func:`~kerasgene.tuning.config.apply_selection`. A
    worker killed by a signal mid-trial is restarted (at most ``restarts`` times) with
    its tuner id and re-runs its trial while the others go on; if a process fails
    otherwise, the others are stopped and a KerasgeneError says which (the project
    resumes with the same command). When the chief is done, workers still starting up are
    stopped after ``worker_grace`` s.

    Returns 0 on success.
    """
    if workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {workers}")
    config = load_tune_config(config_path, overrides)  # fail fast on a bad file
    cmd = [python, "-m", "kerasgene", "tune", "--config", str(config_path), *overrides]
    if max_trials is not None or subset:  # the whole selected section, as one override
        tuning = apply_selection(config, max_trials, subset)["tuning"]
        cmd.append("tuning=" + yaml.safe_dump(tuning, default_flow_style=True, width=2**20)
                   .strip())
    _prepare_dataset(config)  # build once here, not concurrently in every worker
    port = port or free_port(host, len(project_tasks(config)[0]))
    procs: dict[str, subprocess.Popen] = {}

    envs = _environments(workers, host, port, threads, pin)

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(cmd, env=envs[name], stdout=stdout, stderr=stderr)

    def run() -> int:
        for name in envs:
            procs[name] = start(name)
        _wait(procs, timeout, worker_grace, start, restarts)
        return 0

    return stopped_on_signal(run, procs, "tune --workers")


def _prepare_dataset(config: Mapping) -> None:
    if config.get("data") is not None:
        from kerasgene.train import runs

        # built (or reused) once, before the workers start; light: no Keras import here
        runs.prepare(dict(config), light=True)
