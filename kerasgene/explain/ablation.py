"""The iSEGnet input ablation (the paper's Fig. 4A; ``kerasgene ablate``).

- :func:`ablation_inputs` — the subsets: all inputs, sequence only, all marks without
  sequence, each mark alone; :func:`select_inputs` restricts input arrays to one;
  :func:`ablation_table` runs a caller's train-and-score function on each;
- :func:`run_ablation` — retrain a config's model on each subset.

:func:`run_ablation` prepares the config's dataset once, then, for every subset of
:func:`ablation_inputs` (default: all of them), trains the config's model with
``training.inputs`` set to the subset in its own run directory ``OUT/<subset>/``. A config
that already restricts its inputs (``training.inputs``) is ablated within that
restriction: ``all`` is the config's selection, the tracks are the selected ones, and
subsets that need an input it drops (``sequence only`` without the sequence) are not
offered. Each run is the ``kerasgene train`` machinery, so early stopping and the
BatchNorm re-estimation apply, without the shuffled-label control and the baselines.
``kerasgene evaluate --config OUT/<subset>/config.yaml`` re-scores one. ``OUT`` (default
``RUN_DIR/ablation``) gets:

- ``ablation.tsv``: one row per subset, rewritten as each finishes (an earlier call's
  table and plot are removed first): ``inputs`` (subset name), ``n_inputs`` (tracks fed
  to the model, the DNA counting as one), ``sequence``, ``tracks``, the test metrics
  (``r2``, ``pearson``, ``spearman``, ``mse``, ``n``), ``valid_r2``, ``params``,
  ``seconds`` (training and evaluation) and ``run_dir``;
- ``ablation.png``: test R² per subset, the all-inputs bar in its own colour.

The paper reports these models (Fig. 4A) without saying how a network without one of
its two branches is wired; ours feeds the other branch straight to the merge conv
(``inputs`` of :func:`kerasgene.models.isegnet`).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from kerasgene._io import safe_name, write_tsv
from kerasgene.errors import ConfigError, shown

log = logging.getLogger(__name__)

#: Test metrics copied from each run's metrics.json into ablation.tsv.
METRICS = ("r2", "pearson", "spearman", "mse", "n")


# --------------------------------------------------------------------------------------
# subsets
# --------------------------------------------------------------------------------------


def ablation_inputs(track_names: Sequence[str], *, sequence: str = "sequence",
                    epigenome: str = "epigenome") -> dict[str, dict[str, list[int] | bool]]:
    """The iSEGnet ablation subsets: all inputs, sequence only, all marks without
    sequence, and each mark alone (without sequence).

    Returns ``{subset name: {sequence: bool, epigenome: [track indices]}}``.
    """
    out: dict[str, dict[str, list[int] | bool]] = {
        "all": {sequence: True, epigenome: list(range(len(track_names)))},
        "sequence only": {sequence: True, epigenome: []},
        "epigenome only": {sequence: False, epigenome: list(range(len(track_names)))},
    }
    for k, t in enumerate(track_names):
        out[f"{t} only"] = {sequence: False, epigenome: [k]}
    return out


def select_inputs(inputs: Mapping[str, np.ndarray], subset: Mapping[str, list[int] | bool]
                  ) -> dict[str, np.ndarray]:
    """Inputs restricted to a subset of :func:`ablation_inputs`: inputs marked False or
    with no tracks are dropped, others keep the listed channels."""
    out = {}
    for name, keep in subset.items():
        if keep is True:
            out[name] = inputs[name]
        elif keep:
            out[name] = np.asarray(inputs[name])[..., list(keep)]
    return out


def ablation_table(fit_and_score: Callable[[str, Mapping], Mapping[str, float]],
                   subsets: Mapping[str, Mapping]) -> list[dict]:
    """Run ``fit_and_score(name, subset)`` (train a model on the subset's inputs and
    return test metrics, e.g. ``{"r2": ...}``) for every subset; one row per subset."""
    rows = []
    for i, (name, subset) in enumerate(subsets.items(), start=1):
        log.info("ablation %d/%d: training on %s", i, len(subsets), name)
        rows.append({"inputs": name, **dict(fit_and_score(name, subset))})
    return rows


def choose_subsets(track_names: Sequence[str], names: Sequence[str] | None = None,
                   sequence: bool = True) -> dict[str, dict[str, bool | list[str]]]:
    """The ablation subsets as ``training.inputs`` values, in the order of ``names``.

    Parameters
    ----------
    track_names : the dataset's epigenome tracks, in channel order
    names : subset names of :func:`ablation_inputs` (e.g.
        ``"sequence only"``, ``"DNase only"``); None = every subset
    sequence : whether the sequence may be fed (false: the config's ``training.inputs``
        drops it; ``all`` is then the tracks alone and subsets with the sequence are out)

    Returns
    -------
    ``{name: {"sequence": bool, "epigenome": [track names]}}``
    """
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


def _check_subset_names(config: Mapping, names: Sequence[str] | None) -> None:
    """Subset names that no dataset of ``config`` can offer (not ``all``, ``sequence
    only``, ``epigenome only`` or ``<track> only`` of a track its samples name), refused
    before the dataset is prepared; :func:`choose_subsets` checks the rest after."""
    if names is None:
        return
    samples = (config.get("data") or {}).get("samples")
    first = samples[0] if isinstance(samples, list) and samples else None
    tracks = first.get("tracks") if isinstance(first, Mapping) else None
    if isinstance(tracks, Mapping) and tracks:
        choose_subsets(list(tracks), names)


def ablation_dir(config: Mapping, out: str | Path | None = None) -> Path:
    """``out``, or ``RUN_DIR/ablation`` of the config."""
    from kerasgene.train.run_config import run_dir

    return Path(out) if out else run_dir(dict(config)) / "ablation"


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


def _warn_dropped_rows(table: Path, names: Sequence[str]) -> None:
    """Warn when the ablation.tsv about to be rewritten lists subsets that the new one,
    of ``names``, will not (an earlier call's): their runs stay in the folder."""
    import pandas as pd

    if not table.is_file():
        return
    try:
        earlier = pd.read_csv(table, sep="\t", keep_default_na=False)["inputs"].tolist()
    except (ValueError, KeyError, OSError):  # not an ablation table of ours: replaced
        return
    gone = [n for n in earlier if n not in names]
    if gone:
        log.warning("%s: rewritten with the %d subsets of this call; the earlier %s (%s) "
                    "left out, their runs kept in %s (name them in --subsets to list them "
                    "again)", table, len(names), "row" if len(gone) == 1 else "rows",
                    shown(gone), table.parent)


def _remove_earlier_results(out: Path, names: Sequence[str]) -> None:
    """Remove an earlier call's ablation.tsv and ablation.png from ``out``, saying so,
    before the first subset is retrained: its rows would describe runs that this call
    replaces (or leaves half-done when interrupted)."""
    _warn_dropped_rows(out / "ablation.tsv", names)
    gone = [p for p in (out / "ablation.tsv", out / "ablation.png") if p.is_file()]
    for p in gone:
        p.unlink()
    if gone:
        log.warning("%s: removed the earlier %s (they described the runs this call "
                    "retrains); ablation.tsv is rewritten as each subset finishes, "
                    "ablation.png at the end", out, " and ".join(p.name for p in gone))


def _warn_stopped(out: Path, done: Sequence[str], order: Sequence[str]) -> None:
    """Say what an ablation stopped by an error or Ctrl-C left in ``out``: ablation.tsv
    of the subsets ``done`` (if any), no ablation.png."""
    left = (f"ablation.tsv lists the {len(done)} finished ({shown(done)}), no ablation.png"
            if done else "no ablation.tsv or ablation.png written")
    log.warning("%s: ablation stopped during subset %d of %d (%s); %s", out, len(done) + 1,
                len(order), order[len(done)], left)


def run_ablation(config: dict, subsets: Sequence[str] | None = None,
                 out: str | Path | None = None) -> list[dict]:
    """Retrain the config's model on each input subset; write ablation.tsv and .png.

    An earlier call's ablation.tsv and ablation.png in ``out`` are removed (with a
    warning) before the first subset is retrained, and ablation.tsv is rewritten as each
    subset finishes: a call interrupted or failing during a subset leaves a table of the
    subsets it finished (their runs as they are now), no plot, and never rows of runs
    since replaced.

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
    from kerasgene.explain import plots as P
    from kerasgene.explain.run import check_out_dir
    from kerasgene.train import records, runs
    from kerasgene.train.run_config import dataset_dir

    if systems.get(config["system"], "system").name != "isegnet":
        raise ConfigError(f"system: the ablation retrains iSEGnet (system isegnet), got "
                          f"{config['system']!r}")
    out = check_out_dir(ablation_dir(config, out), config)
    _check_subset_names(config, subsets)  # before the dataset is prepared (minutes)
    dataset = runs.prepare(config)
    base = runs.training_inputs(config, dataset)  # the config's own restriction, if any
    tracks = base.channel_names("epigenome") if "epigenome" in base.input_names else []
    chosen = choose_subsets(tracks, subsets, sequence="sequence" in base.input_names)
    order = list(chosen)

    done: list[dict] = []
    _remove_earlier_results(out, order)

    def fit_and_score(name: str, inputs: Mapping) -> dict:
        run = out / safe_name(name, "subset")
        start = time.perf_counter()
        runs.train(subset_config(config, inputs, run, dataset_dir(config)),
                   dataset=dataset)
        seconds = time.perf_counter() - start
        keras.backend.clear_session()  # the next subset builds a new model
        records.check_run(run)  # complete: the record is written after metrics.json
        row = ablation_row(inputs, json.loads((run / "metrics.json").read_text()), run,
                           seconds)
        log.info("ablation %d/%d: %s done in %.0f s (%s), test R² %.3f",
                 order.index(name) + 1, len(order), name, seconds, run, row["r2"])
        done.append({"inputs": name, **row})
        write_tsv(out / "ablation.tsv", done)  # the subsets done so far, and only those
        return row

    try:
        rows = ablation_table(fit_and_score, chosen)
    except BaseException:  # Ctrl-C included
        _warn_stopped(out, [r["inputs"] for r in done], order)
        raise
    table = pd.DataFrame(rows)
    title = (f"Input ablation (iSEGnet Fig. 4A): {len(rows)} models retrained, "
             f"{rows[0]['n']} test examples")
    P.plot_ablation(table["inputs"], table["r2"], out / "ablation.png", title=title)
    return rows
