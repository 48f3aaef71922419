"""Training step of the demo-sized iSEGnet (configs/isegnet.yaml: k1 = 16, l = 20, batch
32) under ``training.mixed_precision: bfloat16`` vs float32, in one process. Prints JSON.

Both models are compiled with MSE and Adam, warmed up, then timed ``--reps`` times,
interleaved so that both see the same load; each repetition runs about 200 examples of
``train_on_batch``; the best milliseconds per example count, wall and this process's CPU
time (the ratio that matters on a shared machine). ``ratio_cpu`` = float32 / bfloat16.

Usage: ``python bench/bench_demo_precision.py [--reps 3] [--batch 32]`` (about a minute on
2 CPU cores). Not run by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _model(precision: str | None):
    from kerasgene import models

    model = models.build("isegnet", mixed_precision=precision, seq_len=2500,
                         inputs=["sequence", "epigenome"], n_tracks=7, k1=16,
                         kernel_length=20, dropout=0.3, l2=1e-4)
    model.compile(optimizer="adam", loss="mse")
    return model


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = {}
    for precision in ("float32", "bfloat16"):
        model = _model(None if precision == "float32" else precision)
        x = {i.name: rng.random((args.batch, *i.shape[1:]), np.float32) for i in model.inputs}
        y = rng.random(args.batch, np.float32)
        for _ in range(2):
            model.train_on_batch(x, y)
        cases[precision] = (model, x, y)
    best = {k: [float("inf"), float("inf")] for k in cases}
    steps = max(1, 200 // args.batch)
    for _ in range(args.reps):
        for name, (model, x, y) in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                model.train_on_batch(x, y)
            n = steps * args.batch
            best[name][0] = min(best[name][0], (time.perf_counter() - wall) / n * 1e3)
            best[name][1] = min(best[name][1], (time.process_time() - cpu) / n * 1e3)
    print(json.dumps({
        "model": "isegnet k1=16 l=20 (configs/isegnet.yaml)", "batch": args.batch,
        **{f"{k}_ms_per_example": {"wall": round(v[0], 2), "cpu": round(v[1], 2)}
           for k, v in best.items()},
        "ratio_wall": round(best["float32"][0] / best["bfloat16"][0], 2),
        "ratio_cpu": round(best["float32"][1] / best["bfloat16"][1], 2),
        "loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()
