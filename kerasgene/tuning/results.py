"""What a search leaves: the trials table, ``trials.tsv``, the grid plot, the best model
and the best trial's run configuration.

In ``run_dir`` (default: the project directory), written by the chief or the single
process: ``trials.tsv`` and ``best_run.yaml`` (rewritten after every trial), ``grid.png``,
``best_model.keras`` and ``best_hyperparameters.json``. ``best_run.yaml``
(:data:`~kerasgene.tuning.config.BEST_RUN_FILE`, :func:`best_run_config`) is a run
configuration of the best trial's hyperparameters that ``kerasgene train --config`` takes
as it is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from keras_tuner.src.engine import trial as trial_module

from kerasgene import models
from kerasgene._io import to_plain, write_atomic, write_json, write_text
from kerasgene.errors import InputFileError
from kerasgene.tuning.config import BEST_RUN_FILE
from kerasgene.tuning.oracle import RUN_FILE
from kerasgene.tuning.plans import SearchPlan
from kerasgene.tuning.spaces import format_value

if TYPE_CHECKING:  # pragma: no cover
    from kerasgene.tuning.oracle import GridTuner

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """What a finished search wrote (chief or single process)."""

    plan: SearchPlan
    table: pd.DataFrame
    trials_tsv: Path
    plot: Path | None
    best_model: Path | None
    best_run: Path | None = None

    def top(self, n: int = 5) -> pd.DataFrame:
        """The ``n`` best completed trials, best first."""
        return top_trials(self.table, self.plan.hypermodel.direction, n)


def trials_table(oracle, plan: SearchPlan) -> pd.DataFrame:
    """One row per trial: id, status, every axis (derived ones too), objective, epochs,
    best_epoch, seconds, the tuner that ran it and the validation metrics."""
    hm = plan.hypermodel
    names = [n for n, a in hm.axes.items() if a.kind != "derived"]
    rows = []
    for tid in sorted(oracle.trials):
        trial = oracle.trials[tid]
        values = trial.hyperparameters.values
        row = {"trial_id": tid, "status": trial.status}
        row.update({n: values.get(n) for n in names})
        for n, axis in hm.axes.items():
            if axis.kind == "derived":
                row[n] = axis.mapping.get(values.get(axis.by))
        score = trial.score if trial.status == trial_module.TrialStatus.COMPLETED else None
        row["objective"] = score
        metrics = trial.metrics
        for m in ("epochs", "best_epoch", "seconds"):
            row[m] = metrics.get_last_value(m) if metrics.exists(m) else None
        run = plan.project_dir / f"trial_{tid}" / RUN_FILE
        try:
            row["tuner_id"] = json.loads(run.read_text())["tuner_id"]
        except (OSError, ValueError, KeyError):
            row["tuner_id"] = None
        for m in sorted(metrics.metrics):
            if m.startswith("val_") or m in ("loss",):
                row[m] = metrics.get_last_value(m)
        rows.append(row)
    table = pd.DataFrame(rows, columns=None if rows else ["trial_id", "status", *names,
                                                          "objective"])
    for col in ("epochs", "best_epoch"):
        if col in table:
            table[col] = table[col].astype("Int64")
    return table


def write_trials_tsv(table: pd.DataFrame, path: Path) -> Path:
    """Write a :func:`trials_table` as ``path`` (tab-separated, atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda tmp: table.to_csv(tmp, sep="\t", index=False, na_rep=""))


def top_trials(table: pd.DataFrame, direction: str, n: int = 5) -> pd.DataFrame:
    """The ``n`` best completed rows of a :func:`trials_table` (``direction``: min / max)."""
    done = table[table["status"] == trial_module.TrialStatus.COMPLETED]
    done = done.sort_values("objective", ascending=direction == "min", kind="stable")
    return done.head(n)


def plot_grid(table: pd.DataFrame, plan: SearchPlan, path: Path) -> Path | None:
    """Objective by each grid axis: one panel per axis with more than one value, every
    completed trial a dot, the mean a bar and the best a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hm = plan.hypermodel
    done = table[table["status"] == trial_module.TrialStatus.COMPLETED]
    if done.empty:
        return None
    axes = [n for n, a in hm.axes.items() if a.kind != "derived" and len(a.grid_values()) > 1]
    axes = axes or [n for n, a in hm.axes.items() if a.kind != "derived"][:1]
    fig, panels = plt.subplots(1, len(axes), figsize=(max(6.4, 3.2 * len(axes) + 0.8), 4.2),
                               sharey=True, squeeze=False)
    rng = np.random.default_rng(0)
    for ax, name in zip(panels[0], axes):
        levels = hm.axes[name].grid_values()
        for i, level in enumerate(levels):
            ys = done.loc[done[name] == level, "objective"].astype(float).dropna().to_numpy()
            if ys.size == 0:
                continue
            ax.scatter(i + rng.uniform(-0.12, 0.12, ys.size), ys, s=16, alpha=0.6,
                       color="tab:blue", edgecolor="none")
            ax.hlines(ys.mean(), i - 0.25, i + 0.25, color="black", lw=1.5)
            best = ys.max() if hm.direction == "max" else ys.min()
            ax.scatter([i], [best], marker="*", s=90, color="tab:red", zorder=3)
        paired = [(n, a) for n, a in hm.axes.items() if a.kind == "derived" and a.by == name]
        labels = ["\n".join([format_value(v), *(f"{n} {format_value(a.mapping[v])}" for n, a in paired)])
                  for v in levels]
        ax.set_xticks(range(len(levels)), labels)
        ax.set_xlim(-0.6, len(levels) - 0.4)
        ax.set_xlabel(name, fontsize=11)
        ax.tick_params(labelsize=9)
        ax.grid(axis="y", alpha=0.3)
    better = "higher" if hm.direction == "max" else "lower"
    panels[0][0].set_ylabel(f"{hm.objective_name} ({better} is better)", fontsize=10)
    best_val = top_trials(table, hm.direction, 1)["objective"].iloc[0]
    fig.suptitle(f"{plan.project_name}: {len(done)} of {hm.grid_size()} grid points done; "
                 f"best {hm.objective_name} = {best_val:.4g}\n"
                 "dot: one trial, bar: mean, star: best", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def best_run_config(plan: SearchPlan, values: Mapping[str, Any]) -> dict | None:
    """The run configuration (``kerasgene train --config``) of one grid point.

    The tune configuration's sections (:attr:`SearchPlan.run_config`) with the point's
    builder arguments added to ``model.hparams`` (the given ones kept where the point's
    builder takes them: DeepRAGE's ``rnn_units`` leave a concat point), the registry model it builds as
    ``model.name`` (DeepRAGE's ``variant`` → ``deeprage_<variant>``), its ``optimizer``
    and ``learning_rate`` in ``training``, the objective as ``training.monitor`` when it
    is not the recipe's, and ``run_dir`` ``<results>/best_run``. The run reuses the
    search's dataset (``dataset_dir``), except when the task project trains another
    target than the dataset's default (DeepRAGE classification): then ``data.target``
    names it and the run builds its own dataset in its run folder.

    Parameters
    ----------
    plan : the search's plan
    values : the point's hyperparameters, derived ones included
        (:meth:`~kerasgene.tuning.hypermodels.BuilderHyperModel.values`)

    Returns
    -------
    dict or None
        Plain YAML types; None when the tune configuration has no ``data`` section
        (``kerasgene train`` builds its dataset from the input files it names).
    """
    base = plan.run_config
    if base.get("data") is None:
        return None
    hm = plan.hypermodel
    builder, _, settings = hm.trial_settings(values)
    allowed = models.hyperparameters(builder)
    given = (base.get("model") or {}).get("hparams") or {}
    hparams = {k: v for k, v in {**given, **values}.items() if k in allowed}
    training = {**(base.get("training") or {}),
                **{k: settings[k] for k in ("optimizer", "learning_rate") if k in values}}
    if hm.objective_name != hm.recipe(builder)["monitor"]:
        training["monitor"] = hm.objective_name
    run = {"run_dir": plan.results_dir / "best_run",
           **{k: v for k, v in base.items() if k != "run_dir"},
           "model": {"name": builder, "hparams": hparams}, "training": training}
    if plan.target in (None, plan.dataset.target_name):
        run["dataset_dir"] = plan.dataset.path
    else:
        run["data"] = {**base["data"], "target": plan.target}
        run.pop("dataset_dir", None)
    return to_plain(run)


def _best_run_header(plan: SearchPlan, trial, values: Mapping[str, Any], path: Path) -> str:
    """The comment lines above a :func:`best_run_config`: project, trial, objective."""
    hm = plan.hypermodel
    point = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
    return (f"# kerasgene run configuration of the best trial of tuning project "
            f"{plan.project_name}\n"
            f"# trial {trial.trial_id}: {hm.objective_name} = {trial.score:.6g} "
            f"({hm.direction}); {point}\n"
            "# Rewritten by `kerasgene tune` as trials finish. Train it from the folder the "
            "search ran in\n# (relative paths are kept as they are); the run uses the whole "
            "dataset (tuning.max_examples\n# limited the search only):\n"
            f"#   kerasgene train --config {path} [training.epochs=N]\n")


def write_best_run(oracle, plan: SearchPlan, table: pd.DataFrame) -> Path | None:
    """Write :data:`~kerasgene.tuning.config.BEST_RUN_FILE` of the best completed trial
    of ``table`` (a :func:`trials_table`) atomically; None when no trial is completed or
    the configuration has no ``data`` section."""
    top = top_trials(table, plan.hypermodel.direction, 1)
    if top.empty or not np.isfinite(top["objective"].iloc[0]):  # none, or all diverged
        return None
    trial = oracle.trials[top["trial_id"].iloc[0]]
    values = plan.hypermodel.values(trial.hyperparameters.copy())
    run = best_run_config(plan, values)
    if run is None:
        return None
    path = plan.results_dir / BEST_RUN_FILE
    return write_text(path, _best_run_header(plan, trial, values, path)
                      + yaml.safe_dump(run, sort_keys=False))


def write_progress(oracle, plan: SearchPlan) -> tuple[pd.DataFrame, Path, Path | None]:
    """After a trial: ``trials.tsv`` and ``best_run.yaml`` (:func:`write_best_run`);
    returns the table and the two paths (None: no best run written)."""
    table = trials_table(oracle, plan)
    tsv = write_trials_tsv(table, plan.results_dir / "trials.tsv")
    return table, tsv, write_best_run(oracle, plan, table)


def write_results(tuner: GridTuner, plan: SearchPlan) -> SearchResult:
    """trials.tsv, best_run.yaml, grid.png, best_model.keras and best_hyperparameters.json."""
    out = plan.results_dir
    out.mkdir(parents=True, exist_ok=True)
    table, tsv, best_run = write_progress(tuner.oracle, plan)
    png = plot_grid(table, plan, out / "grid.png") if plan.plot else None
    best_path = None
    top = top_trials(table, plan.hypermodel.direction, 1)
    if best_run is None and not top.empty and plan.run_config.get("data") is None:
        log.warning("%s: the tune configuration has no `data:` section, so no %s is "
                    "written (kerasgene train builds its dataset from the input files)",
                    plan.project_name, BEST_RUN_FILE)
    if plan.export_best and not top.empty:
        trial = tuner.oracle.get_trial(top["trial_id"].iloc[0])
        weights = Path(tuner._get_checkpoint_fname(trial.trial_id))
        if not weights.is_file():
            raise InputFileError(
                f"{weights}: missing, so the best trial ({trial.trial_id}) cannot be exported "
                f"to {out / 'best_model.keras'} (trials.tsv is up to date); set "
                "tuning.export_best=false to skip the export")
        model = tuner.load_model(trial)
        best_path = out / "best_model.keras"
        write_atomic(best_path, model.save)
        write_json(out / "best_hyperparameters.json",
                   {"trial_id": trial.trial_id, "objective": plan.hypermodel.objective_name,
                    "score": trial.score,
                    "values": to_plain(plan.hypermodel.values(trial.hyperparameters.copy()))})
    elif plan.export_best:
        log.warning("%s: no completed trial; no best model exported", plan.project_name)
    return SearchResult(plan, table, tsv, png, best_path, best_run)


def _commonest_class(plan) -> str:
    """``"; the commonest class is 64.8 % of the validation examples"`` of a
    classification search (an accuracy at that level is one class predicted everywhere:
    a DeepRAGE search's best trial was that, with nothing to read it against), else ``""``."""
    if not plan.hypermodel.classification:
        return ""
    from kerasgene.tuning.runner import search_indices

    labels = plan.dataset.labels(search_indices(plan, "valid"), target=plan.target)
    share = np.bincount(labels.astype(np.int64)).max() / max(len(labels), 1)
    return f"; the commonest class is {100 * share:.1f} % of the validation examples"


def format_top(result: SearchResult, n: int = 5) -> str:
    """The top-``n`` table of a search, with the files it wrote, as text."""
    hm = result.plan.hypermodel
    top = result.top(n)
    failed = result.table.loc[result.table["status"] == trial_module.TrialStatus.FAILED,
                              "trial_id"].tolist()
    failures = (f"; {len(failed)} failed (not retried; see trials.tsv): {', '.join(failed)}"
                if failed else "")
    if top.empty:
        return f"{result.plan.project_name}: no completed trial{failures}"
    cols = ["trial_id", *hm.axes, "objective", "epochs", "seconds"]
    shown = top[[c for c in cols if c in top.columns]].copy()
    shown.insert(0, "rank", range(1, len(shown) + 1))
    shown = shown.rename(columns={"objective": hm.objective_name})
    done = int((result.table["status"] == "COMPLETED").sum())
    head = (f"{result.plan.project_name}: {done} of {hm.grid_size()} grid points completed"
            f"{failures}; top {len(shown)} by {hm.objective_name} ({hm.direction})"
            f"{_commonest_class(result.plan)}")
    body = shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    files = [f"  trials: {result.trials_tsv}"]
    if result.plot:
        files.append(f"  plot:   {result.plot}")
    if result.best_model:
        files.append(f"  best:   {result.best_model}")
    if result.best_run:
        files.append(f"  train the best point: kerasgene train --config {result.best_run}")
    return "\n".join([head, body, *files])
