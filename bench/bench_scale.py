"""Training throughput of one process vs N local multi-worker processes; prints JSON.

The same run (configs/isegnet.yaml on the simulator's small data, ``model.hparams.k1``
as given, the same global batch) is trained by ``kerasgene train`` in one process and by
``kerasgene train --workers N``, interleaved ``--repeats`` times. Throughput is training
examples per second of the fit alone: the chief's Keras log gives each epoch's seconds
(``verbose: 2``; whole seconds) and the first epoch (tracing) is left out. Wall and CPU
seconds of every whole command (start-up, TensorFlow import, evaluation) are reported
beside it, with the load average. On a machine with fewer cores than workers × threads
the workers share cores, so the ratio measures gRPC and collective overhead, not scaling.

    .venv/bin/python bench/bench_scale.py [--workers 2] [--epochs 4] [--k1 8] [--repeats 1]

``--step-times`` instead measures the seconds per training example of each paper's model
at its full size (the builders' defaults; random inputs of the right shape, MSE, Adam,
one ``train_on_batch`` of ``--batch`` examples, best of 3 after 2 warm-up steps; CPU time
beside wall): the figures docs/scale_out.md turns into hours per run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = Path(__file__).parents[1] / "configs" / "isegnet.yaml"
EPOCH_LINE = re.compile(r"^(\d+)/\1 - (\d+)s ", re.M)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str], log: Path) -> dict:
    cpu, start = _children_cpu(), time.perf_counter()
    with log.open("w") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    epochs = [int(s) for _, s in EPOCH_LINE.findall(log.read_text())]
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "epoch_s": epochs}


#: the papers' models at full size (DeepRAGE per naive pair; the factorised trainer is
#: faster: bench/bench_deeprage_grouped.py)
FULL_SIZE = ("isegnet", "deeprage_concat", "deeprage_tensor", "chromatin_cnn", "histone_fcn")


def step_times(batch: int) -> dict:
    """Seconds per training example of each :data:`FULL_SIZE` model (best of 3)."""
    import numpy as np

    from kerasgene.models import build

    rng = np.random.default_rng(0)
    out = {}
    for name in FULL_SIZE:
        model = build(name)
        model.compile(optimizer="adam", loss="mse")
        x = {t.name: rng.random((batch, *t.shape[1:]), dtype=np.float32) for t in model.inputs}
        y = rng.random((batch, 1), dtype=np.float32)
        for _ in range(2):
            model.train_on_batch(x, y)
        best = None
        for _ in range(3):
            cpu, start = time.process_time(), time.perf_counter()
            model.train_on_batch(x, y)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            if best is None or wall < best[0]:
                best = (wall, cpu)
        out[name] = {"params": int(model.count_params()), "s_per_example": best[0] / batch,
                     "cpu_s_per_example": best[1] / batch}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--k1", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data", help="simulated data folder (default: simulate one)")
    parser.add_argument("--step-times", action="store_true",
                        help="per-example step time of each paper's full-size model")
    args = parser.parse_args()
    if args.step_times:
        print(json.dumps({"batch": args.batch, "load_average": os.getloadavg(),
                          "cpus": os.cpu_count(), "models": step_times(args.batch)}, indent=2))
        return

    from kerasgene.config import load_config
    from kerasgene.simulate import simulate
    from kerasgene.train.runs import prepare

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale-"))
    data = Path(args.data) if args.data else tmp / "data"
    if not args.data:
        simulate(data, seed=0, scale="small")
    common = [f"data_dir={data}", f"dataset_dir={tmp / 'dataset'}", "training.verbose=2",
              f"training.epochs={args.epochs}", f"training.batch_size={args.batch}",
              f"training.patience={args.epochs}", "training.controls=[]", "baselines=[]",
              f"model.hparams={{k1: {args.k1}}}"]
    dataset = prepare(load_config(CONFIG, common))
    n_train = len(dataset.split_indices("train"))
    base = [sys.executable, "-m", "kerasgene", "train", "--config", str(CONFIG), *common]
    runs = {"1 process": [], f"{args.workers} workers": []}
    for r in range(args.repeats):
        runs["1 process"].append(_run([*base, f"run_dir={tmp / f'one{r}'}"], tmp / f"one{r}.log"))
        runs[f"{args.workers} workers"].append(_run(
            [*base, f"run_dir={tmp / f'multi{r}'}", "--workers", str(args.workers)],
            tmp / f"multi{r}.log"))
    rates = {}
    for name, results in runs.items():
        best = min(sum(r["epoch_s"][1:]) / max(1, len(r["epoch_s"]) - 1) for r in results)
        rates[name] = n_train / best if best else float("nan")
    names = list(runs)
    print(json.dumps({
        "train_examples": n_train, "global_batch": args.batch, "k1": args.k1,
        "epochs": args.epochs, "load_average": os.getloadavg(), "cpus": os.cpu_count(),
        "examples_per_s": {k: round(v, 1) for k, v in rates.items()},
        "ratio": round(rates[names[1]] / rates[names[0]], 3), "runs": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
