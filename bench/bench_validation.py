"""Benchmark: the validation work of every epoch, traced vs the eager calls it replaced.

Two parts, each against its reference in the same process (best of ``--reps``, CPU time of
this process and wall time):

- ``recalibration`` — the BatchNorm recalibration before every validation
  (:func:`kerasgene.train.recipes.recalibrate_batch_norm`) on the demo-sized histone FCN
  (16 base filters, 8 batches of 64) and iSEGnet (k1 = 16, 16 batches of 32): one traced
  forward pass kept across calls (what a fit does now) vs ``model(x, training=True)``
  called eagerly per batch (before).
- ``block_validation`` — a factorised DeepRAGE-TP (the demo's layers: 96 filters, 64
  units, 32 regulator units) scoring 1,000 promoters × 173 conditions: the traced
  ``predict_blocks`` on blocks of every condition (what ``fit_blocks`` does now) vs
  ``block_outputs`` called eagerly on the 32 × 32 training blocks (before).

Prints JSON; ``ratio_cpu`` = reference CPU s ÷ current CPU s. Usage:
``python bench/bench_validation.py [--reps 3]`` (about a minute on 2 CPU cores). Not run
by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _best(fn, reps: int) -> dict:
    """Best wall and CPU seconds of ``reps`` calls of ``fn`` (after one warm-up call)."""
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall_s": round(min(wall), 4), "cpu_s": round(min(cpu), 4)}


def _compare(current: dict, reference: dict) -> dict:
    return {"current": current, "reference": reference,
            "ratio_cpu": round(reference["cpu_s"] / current["cpu_s"], 2),
            "ratio_wall": round(reference["wall_s"] / current["wall_s"], 2)}


def _recalibration_one(model, batches: list, reps: int) -> dict:
    """The current recalibration vs the eager one it replaced, on one model."""
    import keras

    from kerasgene.train import recipes

    forward = recipes.training_forward(model)
    norms = [lay for lay in model.layers if isinstance(lay, keras.layers.BatchNormalization)]

    def eager():  # before this change: eager calls, momentum n/(n+1) (a running mean)
        for n, x in enumerate(batches):
            for lay in norms:
                lay.momentum = n / (n + 1)
            model(x, training=True)

    return _compare(
        _best(lambda: recipes.recalibrate_batch_norm(model, iter(batches), forward), reps),
        _best(eager, reps))


def recalibration(reps: int) -> dict:
    import numpy as np

    from kerasgene import models

    cases = {"histone_fcn": ({"base_filters": 16}, 64, 8),
             "isegnet": ({"seq_len": 2500, "inputs": ["sequence", "epigenome"], "n_tracks": 7,
                          "k1": 16, "kernel_length": 20, "dropout": 0.3}, 32, 16)}
    rng = np.random.default_rng(0)
    out = {}
    for name, (hparams, batch, n_batches) in cases.items():
        model = models.build(name, **hparams)
        batches = [{t.name: rng.normal(size=(batch, *t.shape[1:])).astype("float32")
                    for t in model.inputs} for _ in range(n_batches)]
        out[name] = {**_recalibration_one(model, batches, reps),
                     "batches": f"{n_batches} x {batch}"}
    return out


def block_validation(reps: int) -> dict:
    import numpy as np
    import tensorflow as tf

    from kerasgene.models import build
    from kerasgene.train.block_trainer import FactorizedPairTrainer, blocks_from_arrays

    rng = np.random.default_rng(0)
    genes, conditions = 1000, 173
    seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (genes, 1000))]
    regs = rng.choice([-1.0, 0.0, 1.0], (conditions, 472)).astype(np.float32)
    targets = rng.normal(size=(genes, conditions)).astype(np.float32)
    weights = np.ones_like(targets)
    model = build("deeprage_tensor", filters=96, units=64, regulator_units=32, dropout=0.3)
    trainer = FactorizedPairTrainer(model, None)

    def current():
        trainer.predict_blocks(blocks_from_arrays(seqs, regs, targets, weights, 32, conditions))

    def eager():
        for x, _, _ in blocks_from_arrays(seqs, regs, targets, weights, 32, 32):
            trainer.block_outputs(tf.constant(x["sequence"]), tf.constant(x["regulators"]))

    return {"deeprage_tensor": {**_compare(_best(current, reps), _best(eager, reps)),
                                "pairs": genes * conditions}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps({"recalibration": recalibration(args.reps),
                      "block_validation": block_validation(args.reps),
                      "load_avg_1min_end": round(os.getloadavg()[0], 2)}, indent=2))


if __name__ == "__main__":
    main()
