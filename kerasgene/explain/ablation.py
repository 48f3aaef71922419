"""``kerasgene ablate``: retrain iSEGnet on subsets of its inputs (the paper's Fig. 4A).

    kerasgene ablate --config configs/isegnet.yaml [--subsets "all,sequence only,DNase only"]
                     [--out DIR] [KEY=VALUE ...]

prepares the config's dataset once, then, for every subset of
:func:`kerasgene.explain.knockout.ablation_inputs` (all inputs, sequence only, all marks
without sequence, each mark alone; default: all of them), trains the config's model with
``training.inputs`` set to the subset in its own run directory ``OUT/<subset>/``. A config
that already restricts its inputs (``training.inputs``) is ablated within that
restriction: ``all`` is the config's selection, the tracks are the selected ones, and
subsets that need an input it drops (``sequence only`` without the sequence) are not
offered. Each run is the ``kerasgene train`` machinery, so
early stopping and the BatchNorm re-estimation apply, without the shuffled-label control
and the baselines. ``kerasgene evaluate --config OUT/<subset>/config.yaml`` re-scores one.
``OUT`` (default ``RUN_DIR/ablation``) gets:

- ``ablation.tsv``: one row per subset: ``inputs`` (subset name), ``n_inputs`` (tracks fed
  to the model, the DNA counting as one), ``sequence``, ``tracks``, the test metrics
  (``r2``, ``pearson``, ``spearman``, ``mse``, ``n``), ``valid_r2``, ``params``,
  ``seconds`` (training and evaluation) and ``run_dir``;
- ``ablation.png``: test R² per subset, the all-inputs bar in its own colour.

The paper reports these models (Fig. 4A) without saying how a network without one of
its two branches is wired; ours feeds the other branch straight to the merge conv
(``inputs`` of :func:`kerasgene.models.isegnet`).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)

#: Test metrics copied from each run's metrics.json into ablation.tsv.
METRICS = ("r2", "pearson", "spearman", "mse", "n")


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``ablate`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "ablate", help="retrain iSEGnet on subsets of its inputs (Fig. 4A): ablation.tsv/.png",
        description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML run config (configs/isegnet.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--subsets", help='comma-separated subset names, e.g. "all,sequence only,'
                   'DNase only" (default: all inputs, sequence only, epigenome only and '
                   "each track alone)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/ablation)")
    p.set_defaults(func=run_ablation_command)
    return p


def run_ablation_command(args: argparse.Namespace) -> int:
    """Entry point of ``kerasgene ablate``."""
    from kerasgene.config import load_config

    config = load_config(args.config, args.overrides)
    subsets = [s.strip() for s in args.subsets.split(",")] if args.subsets else None
    out = ablation_dir(config, args.out)
    rows = run_ablation(config, subsets, out)
    width = max(len(r["inputs"]) for r in rows)
    print(f"{'inputs':<{width}}  {'test R²':>8}  {'Pearson r':>9}")
    for r in rows:
        print(f"{r['inputs']:<{width}}  {r['r2']:>8.3f}  {r['pearson']:>9.3f}")
    print(f"wrote {out / 'ablation.tsv'} and {out / 'ablation.png'}")
    return 0


# --------------------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------------------


def choose_subsets(track_names: Sequence[str], names: Sequence[str] | None = None,
                   sequence: bool = True) -> dict[str, dict[str, bool | list[str]]]:
    """The ablation subsets as ``training.inputs`` values, in the order of ``names``.

    Parameters
    ----------
    track_names : the dataset's epigenome tracks, in channel order
    names : subset names of :func:`~kerasgene.explain.knockout.ablation_inputs` (e.g.
        ``"sequence only"``, ``"DNase only"``); None = every subset
    sequence : whether the sequence may be fed (false: the config's ``training.inputs``
        drops it; ``all`` is then the tracks alone and subsets with the sequence are out)

    Returns
    -------
    ``{name: {"sequence": bool, "epigenome": [track names]}}``
    """
    from kerasgene.explain.knockout import ablation_inputs

    every = ablation_inputs(track_names)
    if not sequence:
        every = {n: {**v, "sequence": False} for n, v in every.items()
                 if n not in ("sequence only", "epigenome only")}
    if not track_names:
        every = {"all": every["all"]}
    names = list(every) if names is None else list(names)
    bad = [n for n in names if n not in every]
    if bad or not names:
        what = f"unknown {bad}" if bad else "none given"
        raise ConfigError(f"ablation subsets: {what}; valid: {', '.join(every)}")
    return {n: {"sequence": every[n]["sequence"],
                "epigenome": [track_names[k] for k in every[n]["epigenome"]]}
            for n in dict.fromkeys(names)}


def ablation_dir(config: Mapping, out: str | Path | None = None) -> Path:
    """``out``, or ``RUN_DIR/ablation`` of the config."""
    from kerasgene.train.runs import run_dir

    return Path(out) if out else run_dir(dict(config)) / "ablation"


def subset_slug(name: str) -> str:
    """Directory name of a subset's run: ``"DNase only"`` → ``DNase_only``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "subset"


def subset_config(config: Mapping, inputs: Mapping, run: Path, dataset_dir: Path) -> dict:
    """A copy of ``config`` that trains on ``inputs`` (``training.inputs``) in ``run``
    over the already-prepared ``dataset_dir``, with no controls and no baselines."""
    sub = copy.deepcopy(dict(config))
    sub.update(run_dir=str(run), dataset_dir=str(dataset_dir), baselines=[])
    sub["training"] = {**(sub.get("training") or {}), "inputs": dict(inputs), "controls": []}
    return sub


def ablation_row(inputs: Mapping, metrics: Mapping, run: Path, seconds: float) -> dict:
    """One row of ablation.tsv (without the ``inputs`` name) from a run's metrics.json."""
    test, valid = metrics["test"], metrics.get("valid", {})
    return {"n_inputs": int(inputs["sequence"]) + len(inputs["epigenome"]),
            "sequence": bool(inputs["sequence"]), "tracks": ",".join(inputs["epigenome"]),
            **{k: test[k] for k in METRICS}, "valid_r2": valid.get("r2", float("nan")),
            "params": metrics["params"], "seconds": round(seconds, 1), "run_dir": str(run)}


# --------------------------------------------------------------------------------------
# the ablation
# --------------------------------------------------------------------------------------


def run_ablation(config: dict, subsets: Sequence[str] | None = None,
                 out: str | Path | None = None) -> list[dict]:
    """Retrain the config's model on each input subset; write ablation.tsv and .png.

    Parameters
    ----------
    config : an iSEGnet run configuration (:func:`kerasgene.config.load_config`)
    subsets : subset names (see :func:`choose_subsets`); None = all of them
    out : output directory (default ``RUN_DIR/ablation``); the runs go to ``out/<slug>/``

    Returns
    -------
    The rows of ablation.tsv, one dict per subset, in the order of ``subsets``.

    Raises
    ------
    ConfigError
        a task other than isegnet, unknown subset names, or what ``kerasgene train``
        rejects.
    """
    import keras
    import pandas as pd

    from kerasgene import systems
    from kerasgene._io import write_atomic
    from kerasgene.explain import plots as P
    from kerasgene.explain.knockout import ablation_table
    from kerasgene.train import runs

    if systems.get(config["system"], "system").name != "isegnet":
        raise ConfigError(f"system: the ablation retrains iSEGnet (system isegnet), got "
                          f"{config['system']!r}")
    dataset = runs.prepare(config)
    base = runs.training_inputs(config, dataset)  # the config's own restriction, if any
    tracks = base.channel_names("epigenome") if "epigenome" in base.input_names else []
    chosen = choose_subsets(tracks, subsets, sequence="sequence" in base.input_names)
    out = ablation_dir(config, out)
    order = list(chosen)

    def fit_and_score(name: str, inputs: Mapping) -> dict:
        run = out / subset_slug(name)
        start = time.perf_counter()
        runs.train(subset_config(config, inputs, run, runs.dataset_dir(config)),
                   dataset=dataset)
        seconds = time.perf_counter() - start
        keras.backend.clear_session()  # the next subset builds a new model
        runs.check_run(run)  # complete: the record is written after metrics.json
        row = ablation_row(inputs, json.loads((run / "metrics.json").read_text()), run,
                           seconds)
        log.info("ablation %d/%d: %s done in %.0f s (%s), test R² %.3f",
                 order.index(name) + 1, len(order), name, seconds, run, row["r2"])
        return row

    rows = ablation_table(fit_and_score, chosen)
    table = pd.DataFrame(rows)
    write_atomic(out / "ablation.tsv",
                 lambda tmp: table.to_csv(tmp, sep="\t", index=False, float_format="%.6g"))
    title = (f"Input ablation (iSEGnet Fig. 4A): {len(rows)} models retrained, "
             f"{rows[0]['n']} test examples")
    write_atomic(out / "ablation.png", lambda tmp: P.plot_ablation(
        table["inputs"], table["r2"], tmp, title=title))
    return rows
