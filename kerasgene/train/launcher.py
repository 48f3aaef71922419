"""Several local processes of one job: ``kerasgene train --workers N`` (and the process
helpers ``kerasgene tune --workers N`` shares).

:func:`launch_training` prepares the run's dataset once, then starts N ``python -m
kerasgene train`` processes with ``training.strategy=multi_worker`` and a ``TF_CONFIG``
naming N ports on 127.0.0.1 (worker 0 is the chief: it alone writes the run directory),
each with CPUs // N TensorFlow threads, and waits for them; if one fails the others are
stopped and the same command resumes from their backups (``<run_dir>/backup``). On
several machines start one ``kerasgene train`` per machine with its own ``TF_CONFIG``
instead (docs/scale_out.md).

Light: no TensorFlow is imported here (but by :func:`setup_process` when it sets
threads), so the launcher process stays small.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing.process
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kerasgene.errors import ConfigError, KerasgeneError

log = logging.getLogger(__name__)

#: environment of a launched worker: CPUs to pin to ("0,1") and TensorFlow threads
ENV_CPUS = "KERASGENE_CPUS"
ENV_THREADS = "KERASGENE_TF_THREADS"
ENV_PARENT = "KERASGENE_PARENT_PID"


def sleep_idle_openmp_threads() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the variable is set: idle OpenMP threads
    (XGBoost's, TF-MoDISco's numba kernels') sleep instead of spinning. An OpenMP runtime
    reads it once, when it loads, and TensorFlow's import already loads scikit-learn's
    libgomp, which XGBoost and numba share: call this before importing TensorFlow (as
    :func:`kerasgene.cli.import_tensorflow_quietly` does with ``share_cores``, and the
    command line for :data:`kerasgene.cli.SLEEPING_OPENMP_COMMANDS`). The demo's chromatin
    XGBoost beside a histone-FCN training on this 2-core machine: 26 → 17 CPU-s, the same
    model to the last digit."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def stop_idle_spinning() -> bool:
    """Make TensorFlow's idle CPU threads sleep instead of spinning; for processes that
    share the cores with others (the demo's, the launched workers', the test suite's).
    Call it before TensorFlow runs its first op; returns False (and changes nothing) when
    it has run one already. OpenMP's threads are set apart, before TensorFlow's import
    (:func:`sleep_idle_openmp_threads`).

    Spinning shortens a lone process's wake-ups, but where processes outnumber the cores
    the spinning threads burn CPU the others need. Two histone-FCN demo runs at once on
    this 2-core machine: 133 and 135 CPU-s, 161 and 152 s wall with TensorFlow's threads
    spinning; 120 and 121 CPU-s, 135 and 137 s without (one run alone: 135 and 124 CPU-s,
    104 and 107 s). The same results to the last digit: only the threads' waiting
    changes, not how the work is split. TensorFlow has no public switch for
    ``ConfigProto.experimental.disable_thread_spinning`` in eager mode: it goes into the
    eager context's configuration before the context starts (TensorFlow 2.21)."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    if ctx._context_handle is not None:
        return False
    config = config_pb2.ConfigProto()
    if ctx._config is not None:
        config.CopyFrom(ctx._config)
    config.experimental.disable_thread_spinning = True
    ctx._config = config
    return True


def setup_process(threads: int | None = None) -> None:
    """Pin to ``$KERASGENE_CPUS``, limit TensorFlow to ``threads`` (or
    ``$KERASGENE_TF_THREADS``) intra/inter-op threads, and die with the launcher; a
    launched process (``$KERASGENE_PARENT_PID``) shares the cores with the others, so its
    TensorFlow threads do not spin (:func:`stop_idle_spinning`)."""
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
    if parent:
        stop_idle_spinning()


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


def _running(p: subprocess.Popen | multiprocessing.process.BaseProcess) -> bool:
    return p.poll() is None if isinstance(p, subprocess.Popen) else p.is_alive()


def _wait(p: subprocess.Popen | multiprocessing.process.BaseProcess,
          timeout: float | None) -> None:
    if isinstance(p, subprocess.Popen):
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=timeout)
    else:
        p.join(timeout)


def stop_processes(procs: Mapping[str, subprocess.Popen | multiprocessing.process.BaseProcess],
                   grace: float = 5.0) -> None:
    """Terminate the processes still running (``subprocess.Popen`` or ``multiprocessing``
    processes), kill those alive after ``grace`` s."""
    for p in procs.values():
        if _running(p):
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs.values():
        _wait(p, max(0.1, deadline - time.monotonic()))
        if _running(p):
            p.kill()
            _wait(p, None)


def stopped_on_signal(run: Callable[[], int],
                      procs: Mapping[str, subprocess.Popen | multiprocessing.process.BaseProcess],
                      what: str, after: str | Callable[[], str] = "re-run the same command to resume"
                      ) -> int:
    """``run()`` with SIGTERM turned into KeyboardInterrupt (main thread); the processes
    (``procs`` as it is when ``run`` ends: ``run`` may add to it) are stopped however it
    ends, and an interruption raises a KerasgeneError whose message ends with ``after``
    (or what ``after()`` returns then)."""
    old_term = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        signal.signal(signal.SIGTERM, on_term)
    try:
        return run()
    except KeyboardInterrupt:
        stop_processes(procs)
        said = after() if callable(after) else after
        raise KerasgeneError(f"{what}: interrupted; stopped its processes ({said})") from None
    finally:
        stop_processes(procs)
        if main_thread:
            signal.signal(signal.SIGTERM, old_term)


def cluster_environments(workers: int, host: str, port: int,
                         threads: int | None = None) -> list[dict[str, str]]:
    """The environment of each of ``workers`` local multi-worker training processes:
    ``TF_CONFIG`` naming ports ``port .. port + workers - 1`` on ``host`` (task i =
    worker i; worker 0 is the chief) and CPUs // workers TensorFlow threads each."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    per = threads or max(1, cpus // workers)
    cluster = {"worker": [f"{host}:{port + i}" for i in range(workers)]}
    base = {**os.environ, ENV_PARENT: str(os.getpid()), ENV_THREADS: str(per)}
    base.pop(ENV_CPUS, None)
    return [{**base, "TF_CONFIG": json.dumps({"cluster": cluster,
                                              "task": {"type": "worker", "index": i}})}
            for i in range(workers)]


#: The exit status of a kerasgene command refused for bad input (``kerasgene.cli``).
BAD_INPUT_STATUS = 2


def exit_note(*statuses: int) -> str:
    """What to do about launched processes that exited with ``statuses``: a bad input
    (:data:`BAD_INPUT_STATUS`, its one-line error printed above) is fixed, not resumed."""
    if BAD_INPUT_STATUS in statuses:
        return "its error is above: fix the input and run the command again"
    return "re-run the same command to resume"


def wait_all(procs: Mapping[str, subprocess.Popen], timeout: float | None, what: str) -> None:
    """Until every process has exited with 0; one that fails (or the ``timeout``) stops
    the others and raises a KerasgeneError naming it."""
    start = time.monotonic()
    while any(p.poll() is None for p in procs.values()):
        time.sleep(0.2)
        for name, p in procs.items():
            rc = p.poll()
            if rc not in (None, 0):
                stop_processes({k: v for k, v in procs.items() if k != name})
                raise KerasgeneError(f"{what}: {name} exited with status {rc}; stopped the "
                                     f"others; {exit_note(rc)}")
        if timeout is not None and time.monotonic() - start > timeout:
            stop_processes(procs)
            raise KerasgeneError(f"{what}: not finished after {timeout:.0f} s; stopped "
                                 "(re-run the same command to resume)")
    failed = {k: p.returncode for k, p in procs.items() if p.returncode}
    if failed:
        raise KerasgeneError(f"{what}: {', '.join(failed)} failed (status "
                             f"{', '.join(map(str, failed.values()))}); "
                             f"{exit_note(*failed.values())}")


def training_command(config_path: str | os.PathLike, overrides: Sequence[str] = (),
                     python: str = sys.executable) -> list[str]:
    """``python -m kerasgene train`` of one multi-worker process."""
    return [python, "-m", "kerasgene", "train", "--config", str(config_path), *overrides,
            "training.strategy=multi_worker"]


def start_workers(command: Sequence[str], workers: int, *, host: str = "127.0.0.1",
                  port: int | None = None, threads: int | None = None,
                  stdout=None, stderr=None) -> dict[str, subprocess.Popen]:
    """Start ``workers`` copies of ``command`` as one multi-worker cluster on ``host``
    (:func:`cluster_environments`); ``{"worker<i>": process}``."""
    if workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {workers}")
    port = port or free_port(host, workers)
    procs: dict[str, subprocess.Popen] = {}
    try:
        for i, env in enumerate(cluster_environments(workers, host, port, threads)):
            procs[f"worker{i}"] = subprocess.Popen(list(command), env=env, stdout=stdout,
                                                   stderr=stderr)
    except BaseException:
        stop_processes(procs)
        raise
    return procs


def launch_training(config_path: str | os.PathLike, overrides: Sequence[str] = (),
                    workers: int = 2, *, force_prepare: bool = False,
                    threads: int | None = None, host: str = "127.0.0.1",
                    port: int | None = None, timeout: float | None = None,
                    python: str = sys.executable, stdout=None, stderr=None) -> Path:
    """Train the run of ``config_path`` with ``workers`` local processes
    (MultiWorkerMirroredStrategy over gRPC on ``host``) and wait for them.

    The dataset is prepared here first (once, not concurrently in every worker;
    ``force_prepare``: rebuilt). If a process fails the others are stopped and a
    KerasgeneError says which; the same command then resumes from the last epoch every
    process backed up.

    Returns the run directory.
    """
    from kerasgene.config import load_config
    from kerasgene.train import runs
    from kerasgene.train.run_config import run_dir

    if workers < 1:
        raise ConfigError(f"--workers: expected at least 1, got {workers}")
    config = load_config(config_path, overrides)
    runs.prepare(config, force=force_prepare, light=True)
    procs: dict[str, subprocess.Popen] = {}

    def run() -> int:
        procs.update(start_workers(training_command(config_path, overrides, python), workers,
                                   host=host, port=port, threads=threads, stdout=stdout,
                                   stderr=stderr))
        wait_all(procs, timeout, "train --workers")
        return 0

    stopped_on_signal(run, procs, "train --workers")
    return run_dir(config)
