"""keras-tuner's grid search made resumable and parallel: the oracle, the tuner, the chief.

keras-tuner 1.4.8's ``GridSearchOracle`` keeps its ordered list and queue of next
combinations in memory only: reloaded after an interruption mid-trial, it re-runs the
interrupted trial and then fails with a ``KeyError`` in ``populate_space`` (checked with
1.4.8); and with several workers it runs at most one trial at a time after the first two
(a finished trial queues one successor, the others get IDLE). :class:`ResumableGridOracle`
keeps keras-tuner's own enumeration (``GridSearchOracle._get_next_combination``) but serves
the first grid point whose values hash is not in the oracle's persisted ``tried_so_far``
set: finished trials are never re-run, an interrupted one is retried from keras-tuner's
retry queue, any number of workers each get the next free point, and its state files are
written atomically (a SIGKILL during a write cannot truncate ``oracle.json``).
keras-tuner also saves the oracle *before* removing an ended trial from
``ongoing_trials``; a chief killed before its next save would re-run that finished
trial, so the state is saved again after ``end_trial``. And its "Number of consecutive
failures exceeded" stop (``Oracle._check_consecutive_failures``) is raised from
``end_trial`` before the trial is saved and dropped from ``ongoing_trials`` (a re-run
ran it again and stopped again), counts any earlier run of failed trials in the
project's history (a resumed search stopped after every trial) and leaves keras-tuner's
oracle lock held (a chief would wait for it forever); here only the trailing run of
ended trials counts, the trial is saved and dropped first, and the lock is released —
in a single process and on a chief alike.

Distribution: keras-tuner's chief/worker mode (``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``, a shared directory; :func:`role`).
The chief serves the oracle with keras-tuner's ``OracleServicer`` (:func:`serve_oracle`
polls every 0.1 s where keras-tuner's own loop sleeps up to 20 s before exiting) and
writes the results; workers run trials. ``runs.log`` in the project directory has a JSON
line when a trial execution starts and one when it ends (which tuner ran which trial,
when; a re-run trial appears twice); ``trial_<id>/kerasgene_run.json`` the last.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import keras_tuner as kt
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.tuners.gridsearch import GridSearchOracle

from kerasgene._io import append_line, read_json_object, to_plain, write_json
from kerasgene.errors import ConfigError, InputFileError, KerasgeneError, shown
from kerasgene.tuning.spaces import grid_points

if TYPE_CHECKING:  # pragma: no cover
    from kerasgene.tuning.hypermodels import BuilderHyperModel

log = logging.getLogger(__name__)

#: Per-trial record of the execution that ended it (tuner, host, pid, times).
RUN_FILE = "kerasgene_run.json"


class ConsecutiveFailures(RuntimeError):
    """The latest ``max_consecutive_failed_trials`` ended trials all failed (keras-tuner's
    message): raised by :meth:`ResumableGridOracle.end_trial` once the trial is saved."""


@contextmanager
def _oracle_lock(oracle):
    """keras-tuner's ``synchronized`` lock of ``oracle`` (re-entrant per thread), released
    even when the body raises: ``synchronized`` leaves it held then, and the next caller
    from another thread (the chief's ``exit_chief``) waits forever."""
    thread = threading.current_thread().name
    acquire = oracle_module.THREADS[oracle] != thread
    if acquire:
        oracle_module.LOCKS[oracle].acquire()
        oracle_module.THREADS[oracle] = thread
    try:
        yield
    finally:
        if acquire:
            oracle_module.THREADS[oracle] = None
            oracle_module.LOCKS[oracle].release()


class ResumableGridOracle(GridSearchOracle):
    """GridSearchOracle that resumes, parallelises and restricts (see the module docstring).

    ``subset``: ``{axis: allowed values}``; ``max_trials``: at most this many trials in
    the project (keras-tuner's meaning), enforced here so trial ids keep one width.
    """

    def __init__(self, objective, *, subset: Mapping[str, Iterable] | None = None,
                 max_trials: int | None = None, **kwargs):
        super().__init__(objective=objective, max_trials=None, **kwargs)
        self.subset = {k: list(v) for k, v in (subset or {}).items()}
        self.trial_cap = max_trials
        self._grid_cache: tuple[int, list[dict]] | None = None

    def grid(self) -> list[dict]:
        key = len(self.hyperparameters.space)
        if self._grid_cache is None or self._grid_cache[0] != key:
            self._grid_cache = (key, grid_points(self.hyperparameters))
        return self._grid_cache[1]

    def in_subset(self, values: Mapping) -> bool:
        return all(values.get(k) in allowed for k, allowed in self.subset.items())

    def populate_space(self, trial_id):
        stopped = {"status": trial_module.TrialStatus.STOPPED, "values": None}
        if self.trial_cap is not None and len(self.trials) >= self.trial_cap:
            return stopped
        for values in self.grid():
            if self.in_subset(values) and \
                    self._compute_values_hash(values) not in self._tried_so_far:
                return {"status": trial_module.TrialStatus.RUNNING, "values": dict(values)}
        if self.ongoing_trials:  # a running trial may still fail and be retried
            return {"status": trial_module.TrialStatus.IDLE, "values": None}
        return stopped

    def _check_consecutive_failures(self):
        # keras-tuner counts any run of failures in end_order, not only the latest one
        limit = self.max_consecutive_failed_trials
        run = 0
        for trial_id in reversed(self.end_order):
            trial = self.trials.get(trial_id)
            if trial is None or trial.status != trial_module.TrialStatus.FAILED:
                break
            run += 1
        if limit and run >= limit:
            last = self.trials[self.end_order[-1]]
            raise ConsecutiveFailures(
                f"Number of consecutive failures exceeded the limit of {limit}.\n"
                + (last.message or ""))

    def end_trial(self, trial):
        with _oracle_lock(self):
            stop = None
            try:
                super().end_trial(trial)
            except ConsecutiveFailures as err:
                # raised once the end is recorded, before keras-tuner saves the trial and
                # drops it from ongoing_trials: a re-run would run it again and stop again
                stop = err
                ended = self.trials[trial.trial_id]
                self._save_trial(ended)
                self._display.on_trial_end(ended)
                for tuner_id, running in list(self.ongoing_trials.items()):
                    if running.trial_id == ended.trial_id:
                        del self.ongoing_trials[tuner_id]
            # keras-tuner saves the state *before* dropping the trial from ongoing_trials; a
            # chief killed before its next save would re-run (and rewrite) a finished trial
            self.save()
        if stop is not None:
            raise stop

    def reload(self):
        check_saved_state(Path(self._project_dir))
        super().reload()
        # an ended trial is never retried, even from a state saved by another oracle
        ended = set(self.end_order)
        queue = []
        for trial_id in self._retry_queue:
            if trial_id not in ended and trial_id not in queue:
                queue.append(trial_id)
        self._retry_queue = queue

    def save(self):
        write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        write_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                     trial.get_state())


def check_saved_state(project_dir: Path) -> None:
    """Raise unless the oracle state of ``project_dir`` can be resumed: ``oracle.json`` and
    every ``trial_*/trial.json`` readable JSON objects, and the folder of every trial that
    ``oracle.json`` lists present.

    keras-tuner names a new trial by the number of trials it reloaded: with a listed
    trial's folder gone (deleted by hand) the next trial would take a finished trial's id,
    overwrite it and free its grid point, and two trials would take turns without end.

    Raises
    ------
    InputFileError
        A state file is missing or not a JSON object.
    ConfigError
        Trials listed in ``oracle.json`` have no folder.
    """
    over = f"restore it, or delete {project_dir} to start the search over"
    trials = sorted(project_dir.glob("trial_*/trial.json"))
    try:
        state = read_json_object(project_dir / "oracle.json", "keras-tuner state")
        for path in trials:
            read_json_object(path, "keras-tuner state")
    except InputFileError as err:
        raise InputFileError(f"{err}; {over}") from None
    listed = [*state.get("start_order", []), *state.get("ongoing_trials", {}).values()]
    gone = sorted({t for t in listed
                   if not (project_dir / f"trial_{t}" / "trial.json").is_file()})
    if gone:
        raise ConfigError(f"{project_dir}: {len(gone)} trial folder(s) listed in oracle.json "
                          f"are missing: {shown(f'trial_{t}' for t in gone)}; restore them, "
                          f"or delete {project_dir} to start the search over")


class GridTuner(kt.GridSearch):
    """``keras_tuner.GridSearch`` with :class:`ResumableGridOracle`, a shared state file
    name for the single process and the chief (either can resume the other's project),
    a backoff while the oracle is idle, per-trial timing and a ``runs.log``."""

    def __init__(self, hypermodel: BuilderHyperModel, *, directory: str | os.PathLike,
                 project_name: str, subset: Mapping | None = None,
                 max_trials: int | None = None, executions_per_trial: int = 1,
                 on_trial_end=None):
        self.seed = hypermodel.seed
        self._idle_polls = 0
        self._on_trial_end = on_trial_end
        oracle = ResumableGridOracle(
            kt.Objective(hypermodel.objective_name, hypermodel.direction),
            subset=subset, max_trials=max_trials, seed=hypermodel.seed + 1)
        kt.Tuner.__init__(self, oracle, hypermodel, directory=str(directory),
                          project_name=project_name, overwrite=False,
                          executions_per_trial=executions_per_trial)

    def _populate_initial_space(self):
        # keras-tuner reloads a project only when the tuner's own file (tuner0.json, an
        # empty state) is there: without it every finished trial was run again
        if not self._is_worker() and os.path.exists(self.oracle._get_oracle_fname()):
            self.oracle.reload()
            return
        # The spaces have no conditional scopes, so declaring the axes is the whole space;
        # keras-tuner would also build and compile a model here (once per process).
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def load_model(self, trial):
        """The trial's best-epoch model (optimizer state included, no load warning)."""
        model = self._try_build(trial.hyperparameters)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self._get_checkpoint_fname(trial.trial_id))
        return model

    def _get_tuner_fname(self):
        name = self.tuner_id if self._is_worker() else "tuner0"
        return os.path.join(str(self.project_dir), f"{name}.json")

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_json(self._get_tuner_fname(), self.get_state())

    def pre_create_trial(self):
        if self._idle_polls:
            time.sleep(min(0.5, 0.05 * self._idle_polls))
        self._idle_polls += 1

    def on_trial_begin(self, trial):
        self._idle_polls = 0
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self._idle_polls = 0
        if self._on_trial_end is not None and not self._is_worker():
            self._on_trial_end(self.oracle)

    def run_trial(self, trial, *args, **kwargs):
        started = time.time()
        t0 = time.perf_counter()
        _append_run_log(self.project_dir, {"event": "start", "trial_id": trial.trial_id,
                                           "tuner_id": self.tuner_id, "time": started,
                                           "values": to_plain(trial.hyperparameters.values)})
        results = super().run_trial(trial, *args, **kwargs)
        seconds = time.perf_counter() - t0
        for r in results:
            if isinstance(r, dict):
                r["seconds"] = seconds
        record = {"event": "end", "trial_id": trial.trial_id, "tuner_id": self.tuner_id,
                  "host": socket.gethostname(), "pid": os.getpid(), "start": started,
                  "end": time.time(), "seconds": seconds,
                  "values": to_plain(trial.hyperparameters.values)}
        write_json(os.path.join(self.get_trial_dir(trial.trial_id), RUN_FILE), record)
        _append_run_log(self.project_dir, record)
        return results

    def search(self, *fit_args, **fit_kwargs):
        if dist_utils.is_chief_oracle():
            self.save()
            serve_oracle(self.oracle, on_trial_end=self._on_trial_end)
            return
        super().search(*fit_args, **fit_kwargs)


def _append_run_log(project_dir: str, record: Mapping) -> None:
    append_line(os.path.join(project_dir, "runs.log"), json.dumps(record))


def serve_oracle(oracle, poll: float = 0.1, on_trial_end=None) -> None:
    """Chief: serve ``oracle`` over gRPC (keras-tuner's OracleServicer) on
    ``KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`` until the search is over (a worker
    was told to stop, no trial runs and every worker has been told to stop)."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise KerasgeneError(f"chief: cannot listen on {address} (port in use?)")
    server.start()
    log.info("chief: oracle served on %s", address)
    ended = len(oracle.end_order)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll)
            if on_trial_end is not None and len(oracle.end_order) != ended:
                ended = len(oracle.end_order)
                on_trial_end(oracle)
    finally:
        server.stop(grace=1).wait()


def role() -> str:
    """``"chief"``, ``"worker"`` or ``"single"`` from the KERASTUNER_* variables."""
    try:
        if not dist_utils.has_chief_oracle():
            return "single"
    except RuntimeError as err:
        raise ConfigError(f"keras-tuner environment: {err}") from None
    return "chief" if dist_utils.is_chief_oracle() else "worker"


