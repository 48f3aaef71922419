"""``kerasgene demo``: simulate planted-truth data, then prepare, train and evaluate every
task from the YAML configs in ``configs/`` and compare each model with its baselines and
with the noise ceiling that ``truth.json`` states.

Writes ``OUT/data`` (the simulated files), ``OUT/runs/<task>`` (one run directory per
model) and ``OUT/summary.json``::

    {"tasks": {"isegnet": {"metric": "r2", "test": ..., "ceiling": ..., "baselines": {...},
                           "shuffled_control": ...},
               "deeprage": {..., "best_variant": ..., "variants": {...}},
               "chromatin": {...}, "histone_fcn": {..., "single_model": ...}}}
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import kerasgene
from kerasgene.config import load_config
from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)

CONFIG_DIR = Path(kerasgene.__file__).resolve().parents[1] / "configs"
DEEPRAGE_VARIANTS = ("deeprage_concat", "deeprage_tensor", "deeprage_rnn")
#: Per-variant overrides. DeepRAGE-C and -TP train on factorised gene × condition blocks
#: (:mod:`kerasgene.train.block_trainer`); TP with demo-sized layers and Adam (the paper's SGD 0.01
#: needs far more epochs than a demo has); the RNN on pair batches, capped per epoch.
#: C and the RNN get short schedules: on this product-shaped truth they stay far below TP.
#: TP's 96 filters (paper: 256): with 64, the filters learned AFT1, NRG1, YAP1, ZAP1 and
#: XBP1 (test R² 0.732); with 96, AFT1, INO4, NRG1, RPN4, YAP1 and ZAP1 (0.731), in the
#: same time; 128 learned as many but scored 0.726 (seed 0, small).
DEEPRAGE_VARIANT_OVERRIDES = {
    "deeprage_concat": ["training.epochs=10"],
    "deeprage_tensor": ["model.hparams={filters: 96, units: 64, regulator_units: 32}",
                        "training.optimizer=adam", "training.learning_rate=0.001",
                        "training.epochs=40", "training.patience=8",
                        "training.reduce_lr_patience=3"],
    "deeprage_rnn": ["training.factorized=false", "training.steps_per_epoch=100",
                     "training.epochs=5",
                     "model.hparams={filters: 32, units: 64, regulator_units: 32, rnn_units: 32}"],
}


def _config(name: str, data: Path, runs: Path, seed: int, overrides=()) -> dict:
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"{path}: demo config not found (run the demo from a kerasgene checkout)")
    return load_config(path, [f"data_dir={data}", f"run_dir={runs / name}", f"seed={seed}",
                              *overrides])


def _train(config: dict) -> dict:
    from kerasgene.train.runs import run_dir, train

    t0 = time.perf_counter()
    train(config)
    metrics = json.loads((run_dir(config) / "metrics.json").read_text())
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    return metrics


def _score(metrics: dict, metric: str) -> float:
    return float(metrics["test"][metric])


def _isegnet(data, runs, seed, truth, overrides) -> dict:
    m = _train(_config("isegnet", data, runs, seed, overrides))
    return {"metric": "r2", "test": _score(m, "r2"), "ceiling": truth["isegnet"]["ceiling_r2"],
            "baselines": {k: v["r2"] for k, v in m.get("baselines", {}).items()},
            "shuffled_control": m["controls"]["shuffled"]["r2"], "seconds": m["seconds"]}


def _deeprage(data, runs, seed, truth, overrides) -> dict:
    variants, baselines, seconds = {}, {}, 0.0
    for variant in DEEPRAGE_VARIANTS:
        cfg = _config("deeprage", data, runs, seed,
                      [*overrides, f"model.name={variant}", *DEEPRAGE_VARIANT_OVERRIDES[variant]])
        cfg["run_dir"] = str(runs / variant)
        if variant != "deeprage_concat":
            cfg["baselines"] = []
        m = _train(cfg)
        variants[variant] = _score(m, "r2")
        baselines.update({k: v["r2"] for k, v in m.get("baselines", {}).items()})
        seconds += m["seconds"]
    best = max(variants, key=variants.get)
    return {"metric": "r2", "test": variants[best], "best_variant": best, "variants": variants,
            "ceiling": truth["deeprage"]["ceiling_r2"], "baselines": baselines,
            "seconds": round(seconds, 1)}


def _chromatin(data, runs, seed, truth, overrides) -> dict:
    m = _train(_config("chromatin", data, runs, seed, overrides))
    target = truth["chromatin"]["primary_target"]
    return {"metric": "pearson", "target": target, "test": _score(m, "pearson"),
            "ceiling": truth["chromatin"]["targets"][target]["ceiling_pearson_smoothed"],
            "baselines": {k: v["pearson"] for k, v in m.get("baselines", {}).items()},
            "seconds": m["seconds"]}


def _histone(data, runs, seed, truth, overrides) -> dict:
    m = _train(_config("histone_fcn", data, runs, seed, overrides))
    members = [x["r2"] for x in m.get("members", [])]
    return {"metric": "r2", "test": _score(m, "r2"), "ceiling": truth["histone_fcn"]["ceiling_r2"],
            "single_model": max(members) if members else None, "members": members,
            "baselines": {k: v["r2"] for k, v in m.get("baselines", {}).items()},
            "seconds": m["seconds"]}


TASKS = {"isegnet": _isegnet, "deeprage": _deeprage, "chromatin": _chromatin,
         "histone_fcn": _histone}


def format_summary(summary: dict) -> str:
    """The summary as a fixed-width table (one row per task)."""
    lines = [f"{'task':<12} {'metric':<8} {'test':>7} {'ceiling':>8} {'ratio':>6}  baselines / notes"]
    for task, row in summary["tasks"].items():
        ratio = row["test"] / row["ceiling"] if row.get("ceiling") else float("nan")
        notes = ", ".join(f"{k} {v:.3f}" for k, v in row.get("baselines", {}).items())
        if "shuffled_control" in row:
            notes += f"; shuffled labels {row['shuffled_control']:.3f}"
        if "best_variant" in row:
            notes += "; " + ", ".join(f"{k} {v:.3f}" for k, v in row["variants"].items())
        if row.get("single_model") is not None:
            notes += f"; best single sub-model {row['single_model']:.3f}"
        lines.append(f"{task:<12} {row['metric']:<8} {row['test']:>7.3f} {row['ceiling']:>8.3f} "
                     f"{ratio:>6.2f}  {notes}")
    return "\n".join(lines)


def run_demo(out: Path, seed: int = 0, scale: str = "small", tasks=None, verbose: int = 2
             ) -> dict:
    """Simulate (reusing ``OUT/data`` when it holds the same seed and scale), train and
    evaluate ``tasks``; print and return the summary (also ``OUT/summary.json``).

    ``verbose`` is Keras' training verbosity (2: one line per epoch; 0: silent).
    """
    from kerasgene._io import write_json
    from kerasgene.simulate import simulate

    out = Path(out)
    data, runs = out / "data", out / "runs"
    truth_path = data / "truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    if truth is None or (truth["generator"]["seed"], truth["generator"]["scale"]) != (seed, scale):
        truth = simulate(data, seed=seed, scale=scale)
    summary = {"seed": seed, "scale": scale, "tasks": {}}
    for task in tasks or TASKS:
        if task not in TASKS:
            raise ConfigError(f"demo: unknown task {task!r}; expected one of {', '.join(TASKS)}")
        log.info("demo: %s", task)
        summary["tasks"][task] = TASKS[task](data, runs, seed, truth["tasks"],
                                             [f"training.verbose={verbose}"])
        write_json(out / "summary.json", summary)
    print(format_summary(summary))
    return summary
