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

    .venv/bin/python bench/bench_tuning.py [--graph] [--repeats N] [--pin]
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


def write_config(work: Path, dataset: Path, project: str, eager: bool) -> Path:
    cfg = {
        "system": "isegnet", "seed": 0, "dataset_dir": str(dataset),
        "model": {"name": "isegnet", "hparams": {"dense_units": [16, 8, 4], "merge_filters": 8,
                                                 "pointwise_filters": 8}},
        "training": {"epochs": 2, "patience": 2, "batch_size": 32, "verbose": 0},
        "tuning": {"space": {"k1": [4, 8], "kernel_length": [5, 9], "dropout": [0.1, 0.5]},
                   "directory": str(work / "runs"), "project_name": project,
                   "max_examples": 96, "run_eagerly": eager, "plot": False},
    }
    path = work / f"{project}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def search_phase(project_dir: Path) -> tuple[float, float]:
    """(first trial start, last trial end), epoch seconds, from the project's runs.log."""
    events = [json.loads(line) for line in (project_dir / "runs.log").read_text().splitlines()]
    starts = [e["time"] for e in events if e["event"] == "start"]
    ends = [e["end"] for e in events if e["event"] == "end"]
    assert len(ends) == 8, f"{project_dir}: {len(ends)} trials ended"
    return min(starts), max(ends)


def run(work: Path, dataset: Path, name: str, eager: bool, workers: int = 0,
        threads: int | None = None, pin: bool = False) -> dict:
    config = write_config(work, dataset, name, eager)
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
    first, last = search_phase(work / "runs" / name)
    search = last - first
    return {"wall_s": round(wall, 2), "search_s": round(search, 2),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="trace tf.functions (slower)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting (best kept)")
    parser.add_argument("--pin", action="store_true", help="(b): pin each worker to a core")
    args = parser.parse_args()
    eager = not args.graph
    cpus = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_tuning_") as tmp:
        work = Path(tmp)
        dataset = prepare(work)
        single, one, two = [], [], []
        for r in range(args.repeats):  # interleaved: the machine's load drifts
            single.append(run(work, dataset, f"single{r}", eager))
            one.append(run(work, dataset, f"one{r}", eager, workers=1, threads=cpus))
            two.append(run(work, dataset, f"two{r}", eager, workers=2, threads=max(1, cpus // 2),
                           pin=args.pin))
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
