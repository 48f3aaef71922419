"""One call for a whole search from a tune YAML: :func:`tune` (``kerasgene tune``).

Light: TensorFlow and keras-tuner are imported only when the search runs in this
process, so ``tune(..., workers=N)`` keeps the launcher small.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kerasgene.errors import ConfigError
from kerasgene.tuning.config import apply_selection, load_tune_config
from kerasgene.tuning.launcher import launch_local, setup_process


@dataclass
class TuneOutcome:
    """What :func:`tune` did.

    Attributes
    ----------
    role : ``"single"``, ``"chief"`` or ``"worker"`` (the search ran in this process),
        ``"launcher"`` (a local chief and workers ran it) or ``"dry-run"``
    results : :class:`~kerasgene.tuning.results.SearchResult` of each project (single
        process and chief)
    summaries : :func:`~kerasgene.tuning.plans.plan_summary` of each project (dry run)
    """

    role: str
    results: list[Any] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)


def tune(config_path: str | os.PathLike, overrides: Sequence[str] = (), *,
         max_trials: int | None = None, subset: Mapping[str, list] | None = None,
         workers: int = 0, threads: int | None = None, pin_cores: bool = False,
         dry_run: bool = False, verbose: int = 1) -> TuneOutcome:
    """Run, resume or check the grid search of a tune YAML.

    Parameters
    ----------
    config_path, overrides : the tune YAML and ``a.b=value`` overrides
    max_trials, subset : which trials run (:func:`~kerasgene.tuning.config.apply_selection`)
    workers : launch a chief and this many workers on this machine
        (:func:`~kerasgene.tuning.launcher.launch_local`); 0: run in this process, or join
        a distributed search as chief / worker when the KERASTUNER_* variables are set
    threads : TensorFlow threads of this process (per worker with ``workers``; default
        ``tuning.threads``)
    pin_cores : with ``workers``, pin each worker to its own CPUs
    dry_run : check the configuration and the grid and build the dataset; run no trial
    verbose : keras-tuner's progress output
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ConfigError(f"--threads: expected a whole number >= 1, got {threads!r}")
    if dry_run:
        from kerasgene.tuning.plans import plan_search, plan_summary

        config = apply_selection(load_tune_config(config_path, overrides), max_trials, subset)
        return TuneOutcome("dry-run", summaries=[plan_summary(plan)
                                                 for plan in plan_search(config, validate=True)])
    if workers:
        if os.environ.get("KERASTUNER_TUNER_ID"):
            raise ConfigError("--workers launches its own chief and workers; unset "
                              "KERASTUNER_TUNER_ID or drop --workers")
        launch_local(config_path, overrides, workers, max_trials=max_trials, subset=subset,
                     threads=threads, pin=pin_cores)
        return TuneOutcome("launcher")
    config = apply_selection(load_tune_config(config_path, overrides), max_trials, subset)
    setup_process(threads or (config.get("tuning") or {}).get("threads"))
    from kerasgene.tuning.oracle import role
    from kerasgene.tuning.runner import run_config

    who = role()
    return TuneOutcome(who, results=run_config(config, verbose=verbose))
