"""Benchmark of ``kerasgene tune`` on an 8-point grid of small iSEGnets; prints JSON.

(a) distribution overhead: the search in one process vs a chief + 1 worker
    (``--workers 1``, the worker with every CPU) — wall time ratio, goal ≤ 1.1;
(b) parallel throughput: chief + 1 worker with both cores (2 TensorFlow threads) vs
    chief + 2 workers with one core each (1 TensorFlow intra/inter-op thread each;
    ``--pin`` also pins each worker to its own core with ``sched_setaffinity``) —
    trials/hour ratio, goal ≥ 1.5 (small trials are overhead-bound).

Every run is a fresh project, timed end to end (process start-up, TensorFlow import,
search, results), with the CPU seconds of its processes (``cores_used`` = CPU / wall
shows how much of the machine the run actually got). The search phase alone (first trial
start → last trial end, from the project's runs.log) is reported too, with the fixed
costs either side of it (``start_up_s``: launch → first trial, every process importing
TensorFlow; ``wind_down_s``: last trial → results written): trials per hour in the
search phase is the rate a long grid runs at, end to end is what 8 small trials cost. Data: the
simulator's small scale, iSEGnet windows shortened to 250 bp, 96 train / 96 valid
examples, 2 epochs per trial. Trials run eagerly by default (``--graph`` traces
tf.functions as in production: each trial then spends most of its time tracing).

(c) ``--scaling 1,2,4``: instead of (a) and (b), chief + N workers for each N (CPUs // N
    TensorFlow threads each, at least 1) on trials of realistic length (``--epochs 180
    --max-examples 1000`` in graph mode: about a minute per trial here): trials/hour end
    to end and in the search phase, the ratio to N = 1, and, from the fixed costs and the
    search-phase speed-up measured, the trial length at which N workers reach 1.5× one
    (none when the search phase itself does not).

(d) ``--pipeline``: instead of (a) to (c), in this process, the cost of each trial's own
    shuffled training pipeline (``fit_data``'s ``make_train``: one shared by the trials
    carried its shuffle order from trial to trial) against one pipeline reused: eight
    "trials" of one epoch's iteration each (no model), seconds per trial and the ratio.

    .venv/bin/python bench/bench_tuning.py [--graph] [--repeats N] [--pin]
    .venv/bin/python bench/bench_tuning.py --graph --scaling 1,2,4 --epochs 180 --max-examples 1000
    .venv/bin/python bench/bench_tuning.py --pipeline --max-examples 1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from kerasgene.datasets import build
from kerasgene.simulate import simulate
from kerasgene.tuning import launch_local

TRACKS = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")


def prepare(work: Path) -> Path:
    sim = work / "sim"
    simulate(sim, seed=0, scale="small")
    cfg = {"gtf": str(sim / "genes.gtf"), "fasta": str(sim / "genome.fa"),
           "samples": [{"name": "simA_rep1",
                        "expression": str(sim / "isegnet" / "expression_tpm.tsv"),
                        "expression_column": "simA_rep1",
                        "tracks": {t: str(sim / "isegnet" / "simA_rep1" / f"{t}.bigWig")
                                   for t in TRACKS}}],
           "tss_flank": [100, 50], "tts_flank": [50, 50]}
    return build("isegnet", cfg, work / "iseg", progress=False).path


def write_config(work: Path, dataset: Path, project: str, eager: bool, epochs: int = 2,
                 max_examples: int = 96) -> Path:
    cfg = {
        "system": "isegnet", "seed": 0, "dataset_dir": str(dataset),
        "model": {"name": "isegnet", "hparams": {"dense_units": [16, 8, 4], "merge_filters": 8,
                                                 "pointwise_filters": 8}},
        "training": {"epochs": epochs, "patience": epochs, "batch_size": 32, "verbose": 0},
        "tuning": {"space": {"k1": [4, 8], "kernel_length": [5, 9], "dropout": [0.1, 0.5]},
                   "directory": str(work / "runs"), "project_name": project,
                   "max_examples": max_examples, "run_eagerly": eager, "plot": False},
    }
    path = work / f"{project}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def search_phase(project_dir: Path) -> tuple[float, float, float]:
    """(first trial start, last trial end, mean trial seconds), epoch seconds, from the
    project's runs.log."""
    events = [json.loads(line) for line in (project_dir / "runs.log").read_text().splitlines()]
    starts = [e["time"] for e in events if e["event"] == "start"]
    ends = [e for e in events if e["event"] == "end"]
    assert len(ends) == 8, f"{project_dir}: {len(ends)} trials ended"
    return min(starts), max(e["end"] for e in ends), sum(e["seconds"] for e in ends) / 8


def run(work: Path, dataset: Path, name: str, eager: bool, workers: int = 0,
        threads: int | None = None, pin: bool = False, epochs: int = 2,
        max_examples: int = 96) -> dict:
    config = write_config(work, dataset, name, eager, epochs, max_examples)
    cpu0 = _children_cpu()
    launched = time.time()
    t0 = time.perf_counter()
    with open(work / f"{name}.log", "w") as log:
        if workers:
            launch_local(config, [], workers=workers, threads=threads, pin=pin, timeout=900,
                         stdout=log, stderr=subprocess.STDOUT)
        else:
            cmd = [sys.executable, "-m", "kerasgene", "tune", "--config",
                   str(config)]
            subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, timeout=900)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    first, last, trial = search_phase(work / "runs" / name)
    search = last - first
    return {"wall_s": round(wall, 2), "search_s": round(search, 2),
            "mean_trial_s": round(trial, 2),
            "start_up_s": round(first - launched, 2),
            "wind_down_s": round(launched + wall - last, 2), "cpu_s": round(cpu, 2),
            "cores_used": round(cpu / wall, 2),
            "trials_per_hour": round(8 * 3600 / wall, 1),
            "trials_per_hour_search_phase": round(8 * 3600 / search, 1)}


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["wall_s"])


def length_for(one: dict, many: dict, target: float = 1.5) -> float | None:
    """Trial length (seconds, as one worker runs it) at which ``many`` workers reach
    ``target`` × one worker's trials/hour end to end, from each run's fixed costs F (wall −
    search phase) and search-phase speed-up s (8 trials of length L take 8 L / s):
    F1 + 8 L / s1 = target (Fn + 8 L / sn). None when the search phase alone is below
    ``target``."""
    def fixed_and_speed(r):
        return r["wall_s"] - r["search_s"], 8 * one["mean_trial_s"] / r["search_s"]

    (f1, s1), (fn, sn) = fixed_and_speed(one), fixed_and_speed(many)
    slope = 8 / s1 - target * 8 / sn
    return round((target * fn - f1) / slope, 1) if slope > 0 else None


def scaling(work: Path, dataset: Path, counts: list[int], args, cpus: int) -> dict:
    """(c): chief + N workers for each N in ``counts`` on the same grid."""
    runs = {n: run(work, dataset, f"scale{n}", not args.graph, workers=n,
                   threads=max(1, cpus // n), pin=args.pin, epochs=args.epochs,
                   max_examples=args.max_examples) for n in counts}
    base = runs[counts[0]]
    table = {}
    for n, r in runs.items():
        table[f"chief_plus_{n}"] = {
            **r, "ratio_end_to_end": round(r["trials_per_hour"] / base["trials_per_hour"], 3),
            "ratio_search_phase": round(r["trials_per_hour_search_phase"]
                                        / base["trials_per_hour_search_phase"], 3),
            "trial_s_for_1.5x": None if n == counts[0] else length_for(base, r)}
    return table


def pipeline_cost(work: Path, dataset: Path, max_examples: int, trials: int = 8) -> dict:
    """(d): seconds per trial of iterating one epoch of a fresh pipeline (built for the
    trial) against one pipeline reused by every trial, in this process."""
    from kerasgene import tuning
    from kerasgene.tuning.runner import fit_data, search_indices

    config = write_config(work, dataset, "pipeline", True, max_examples=max_examples)
    plan, = tuning.plan_search(tuning.load_tune_config(config), validate=False)
    make_train, _ = fit_data(plan, 32)

    def epoch(ds) -> int:
        return sum(1 for _ in ds)

    shared = make_train()
    epoch(shared)  # warm-up: first iteration, imports
    t0 = time.perf_counter()
    batches = sum(epoch(shared) for _ in range(trials))
    reused = (time.perf_counter() - t0) / trials
    t0 = time.perf_counter()
    assert sum(epoch(make_train()) for _ in range(trials)) == batches
    fresh = (time.perf_counter() - t0) / trials
    return {"train_examples": len(search_indices(plan, "train")),
            "batches_per_epoch": batches // trials, "reused_s_per_trial": round(reused, 4),
            "fresh_s_per_trial": round(fresh, 4), "ratio_fresh_to_reused": round(fresh / reused, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="trace tf.functions (slower)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting (best kept)")
    parser.add_argument("--pin", action="store_true", help="(b): pin each worker to a core")
    parser.add_argument("--scaling", help="(c) instead: worker counts, e.g. 1,2,4")
    parser.add_argument("--pipeline", action="store_true",
                        help="(d) instead: a trial's own training pipeline vs one reused")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of every trial")
    parser.add_argument("--max-examples", type=int, default=96,
                        help="train / valid examples of every trial")
    args = parser.parse_args()
    eager = not args.graph
    cpus = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_tuning_") as tmp:
        work = Path(tmp)
        dataset = prepare(work)
        if args.pipeline:
            print(json.dumps({"bench": "tuning_pipeline", "cpus": cpus, "in_memory": "auto",
                              "d_pipeline": pipeline_cost(work, dataset, args.max_examples)},
                             indent=1))
            return
        if args.scaling:
            table = scaling(work, dataset, [int(n) for n in args.scaling.split(",")], args,
                            cpus)
            print(json.dumps({
                "bench": "tuning", "grid_points": 8, "run_eagerly": eager, "cpus": cpus,
                "pinned": args.pin, "epochs": args.epochs, "max_examples": args.max_examples,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "c_scaling": table}, indent=1))
            return
        single, one, two = [], [], []
        for r in range(args.repeats):  # interleaved: the machine's load drifts
            single.append(run(work, dataset, f"single{r}", eager, epochs=args.epochs,
                              max_examples=args.max_examples))
            one.append(run(work, dataset, f"one{r}", eager, workers=1, threads=cpus,
                           epochs=args.epochs, max_examples=args.max_examples))
            two.append(run(work, dataset, f"two{r}", eager, workers=2, threads=max(1, cpus // 2),
                           pin=args.pin, epochs=args.epochs, max_examples=args.max_examples))
    single, one, two = best(single), best(one), best(two)
    a_ratio = one["wall_s"] / single["wall_s"]
    b_ratio = two["trials_per_hour"] / one["trials_per_hour"]
    b_search = two["trials_per_hour_search_phase"] / one["trials_per_hour_search_phase"]
    print(json.dumps({
        "bench": "tuning", "grid_points": 8, "model": "isegnet 250 bp, k1 {4,8} x l {5,9} x "
        "dropout {0.1,0.5}, 2 epochs, 96/96 examples", "run_eagerly": eager,
        "cpus": cpus, "repeats": args.repeats, "pinned": args.pin,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "a_distribution_overhead": {
            "in_process": single, "chief_plus_1_worker": one,
            "time_ratio": round(a_ratio, 3),
            "cpu_ratio": round(one["cpu_s"] / single["cpu_s"], 3),
            "goal": "<= 1.1", "met": a_ratio <= 1.1},
        "b_parallel_workers": {
            "chief_plus_1_worker_2_threads": one,
            "chief_plus_2_workers_1_core_each": two,
            "trials_per_hour_ratio_end_to_end": round(b_ratio, 3),
            "trials_per_hour_ratio_search_phase": round(b_search, 3),
            "goal": ">= 1.5", "met_end_to_end": b_ratio >= 1.5,
            "met_search_phase": b_search >= 1.5},
    }, indent=1))


if __name__ == "__main__":
    main()
