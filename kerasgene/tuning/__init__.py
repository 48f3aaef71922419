"""Hyperparameter search with keras-tuner: the papers' grids, resumable and distributed.

The papers chose their models by grid search; each paper's grid is kept with its
system (:attr:`kerasgene.systems.System.tuning`):

- iSEGnet (paper §2.3): k1 ∈ {16, 32, 64, 128} (k2 = 2·k1, the builder's default),
  kernel length ∈ {20, 50, 100}, L2 ∈ {1e-4, 1e-2, 0.1, 1.0}, dropout ∈ {0.1, 0.3, 0.5}
  → 144 points.
- DeepRAGE (paper §4.4): variant ∈ {concat, tensor, rnn} × optimizer ∈ {SGD (lr 0.01),
  Adam (lr 0.001)} × task ∈ {regression, classification} → 12 points. The learning rate
  is *paired* with the optimizer (a derived value, not a grid axis). The task changes the
  labels and the objective (validation R² against validation accuracy), and a
  keras-tuner oracle ranks trials by one objective, so each task is its own keras-tuner
  project ``<project_name>_<task>`` (2 × 6 points).

The grid YAML (``tuning/*.yaml``, read by ``kerasgene tune``) is a run configuration
with a ``tuning`` section::

    system: isegnet                # kerasgene.systems (the dataset builder and grid)
    seed: 0
    data_dir: demo_out/data        # base of relative paths in `data`
    data: {...}                    # the dataset builder's keys, split included
    dataset_dir: runs/tuning/isegnet_dataset   # built / reused there (kerasgene.train.runs)
    model:
      name: isegnet                # a registry name, or "deeprage" (variants via the grid)
      hparams: {}                  # builder arguments held fixed for every trial
    training: {...}                # kerasgene.train.recipes settings: epochs per trial, patience...
    tuning:
      space:                       # one entry per grid axis:
        k1: [16, 32, 64, 128]      #   list → hp.Choice
        dropout: {min: 0.1, max: 0.5, step: 0.2}   # → hp.Float / hp.Int with a step
        pool: avg                  #   scalar → hp.Fixed
        learning_rate: {by: optimizer, values: {sgd: 0.01, adam: 0.001}}  # derived
      objective: null              # default: val_r2 (regression) / val_accuracy
      directory: runs/tuning
      project_name: isegnet_grid
      max_trials: null             # at most this many trials in the project (quick runs)
      subset: null                 # {axis: [values]}: only these points (quick runs)
      max_examples: null           # at most this many train / valid examples (seeded)
      executions_per_trial: 1
      in_memory: auto              # load the splits in memory when small (≤ 512 MB)
      export_best: true            # best model → <results>/best_model.keras
      plot: true                   # grid summary → <results>/grid.png
      threads: null                # TensorFlow intra/inter-op threads of this process
      run_eagerly: false           # tiny smoke runs: skip tf.function tracing per trial

``training.verbose`` defaults to 0 here (keras-tuner prints a summary per trial).

Modules, one concept each (``tuning/README.md``: running a search on one or many hosts):

=================================  =====================================================
:mod:`~kerasgene.tuning.config`    the tune YAML, the ``tuning:`` section, the task
                                   projects, the trial selection (no TensorFlow)
:mod:`~kerasgene.tuning.spaces`    YAML space entries → :class:`Axis` → grid points
:mod:`~kerasgene.tuning.hypermodels`  :class:`BuilderHyperModel`: builder + recipe per
                                   grid point, best-epoch metrics
:mod:`~kerasgene.tuning.oracle`    :class:`ResumableGridOracle`, :class:`GridTuner`, the
                                   chief's oracle server, :func:`role`
:mod:`~kerasgene.tuning.plans`     a configuration → one :class:`SearchPlan` per project
:mod:`~kerasgene.tuning.runner`    :func:`run_search`, :func:`run_config`
:mod:`~kerasgene.tuning.results`   ``trials.tsv``, ``grid.png``, the best model, the
                                   best trial's run config (``best_run.yaml``)
:mod:`~kerasgene.tuning.launcher`  a local chief and N workers (no TensorFlow)
:mod:`~kerasgene.tuning.search`    :func:`tune`: one call for ``kerasgene tune``
=================================  =====================================================

The names below are imported from their modules on first use, so ``import
kerasgene.tuning`` (and the ``--workers`` launcher) does not import TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from kerasgene.tuning.config import (
        BEST_RUN_FILE,
        TASKS,
        TUNING_DEFAULTS,
        apply_selection,
        load_tune_config,
        project_layout,
        project_tasks,
        tuning_section,
    )
    from kerasgene.tuning.hypermodels import BuilderHyperModel, best_epoch_metrics
    from kerasgene.tuning.launcher import free_port, launch_local, setup_process
    from kerasgene.tuning.oracle import GridTuner, ResumableGridOracle, role, serve_oracle
    from kerasgene.tuning.plans import (
        SearchPlan,
        format_summary,
        grid_size,
        hypermodels_from_config,
        open_dataset,
        plan_search,
        plan_summary,
    )
    from kerasgene.tuning.results import (
        SearchResult,
        best_run_config,
        format_top,
        plot_grid,
        top_trials,
        trials_table,
        write_best_run,
        write_progress,
        write_results,
        write_trials_tsv,
    )
    from kerasgene.tuning.runner import check_project, fit_data, run_config, run_search
    from kerasgene.tuning.search import TuneOutcome, tune
    from kerasgene.tuning.spaces import (
        Axis,
        family,
        grid_points,
        paper_space,
        parse_axis,
        parse_space,
    )

_LAZY = {
    "config": ("BEST_RUN_FILE", "TASKS", "TUNING_DEFAULTS", "apply_selection",
               "load_tune_config", "project_layout", "project_tasks", "tuning_section"),
    "spaces": ("Axis", "family", "grid_points", "paper_space", "parse_axis", "parse_space"),
    "hypermodels": ("BuilderHyperModel", "best_epoch_metrics"),
    "oracle": ("GridTuner", "ResumableGridOracle", "role", "serve_oracle"),
    "plans": ("SearchPlan", "format_summary", "grid_size", "hypermodels_from_config",
              "open_dataset", "plan_search", "plan_summary"),
    "runner": ("check_project", "fit_data", "run_config", "run_search"),
    "results": ("SearchResult", "best_run_config", "format_top", "plot_grid", "top_trials",
                "trials_table", "write_best_run", "write_progress", "write_results",
                "write_trials_tsv"),
    "launcher": ("free_port", "launch_local", "setup_process"),
    "search": ("TuneOutcome", "tune"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "BEST_RUN_FILE",
    "TASKS",
    "TUNING_DEFAULTS",
    "Axis",
    "BuilderHyperModel",
    "GridTuner",
    "ResumableGridOracle",
    "SearchPlan",
    "SearchResult",
    "TuneOutcome",
    "apply_selection",
    "best_epoch_metrics",
    "best_run_config",
    "check_project",
    "family",
    "fit_data",
    "format_summary",
    "format_top",
    "free_port",
    "grid_points",
    "grid_size",
    "hypermodels_from_config",
    "launch_local",
    "load_tune_config",
    "open_dataset",
    "paper_space",
    "parse_axis",
    "parse_space",
    "plan_search",
    "plan_summary",
    "plot_grid",
    "project_layout",
    "project_tasks",
    "role",
    "run_config",
    "run_search",
    "serve_oracle",
    "setup_process",
    "top_trials",
    "trials_table",
    "tune",
    "tuning_section",
    "write_best_run",
    "write_progress",
    "write_results",
    "write_trials_tsv",
]


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"kerasgene.tuning.{_HOME[name]}"), name)
    raise AttributeError(f"module 'kerasgene.tuning' has no attribute {name!r}")
