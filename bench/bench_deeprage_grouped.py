"""Benchmark: DeepRAGE-C training pairs/s, factorised G × C blocks vs naive pair batches.

Same model (paper defaults: 256 filters of width 19 over 1 kb, 472 regulators, 512-unit
layers), same SGD(0.01), same MSE. The naive reference is ``model.fit`` on in-memory
pair tensors in batches of 100 pairs (the paper's batch size); the factorised run is
:class:`kerasgene.train.block_trainer.FactorizedPairTrainer` on blocks of 32 genes × 32
conditions. Prints JSON; ratio = factorised pairs/s ÷ naive pairs/s (goal ≥ 10).
"""

from __future__ import annotations

import argparse
import json
import time

import keras
import numpy as np

from kerasgene.models import build
from kerasgene.train.block_trainer import FactorizedPairTrainer, blocks_from_arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=256)
    parser.add_argument("--conditions", type=int, default=173)
    parser.add_argument("--naive-batches", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.genes, 1000))]
    regs = rng.choice([-1.0, 0.0, 1.0], (args.conditions, 472), p=[0.1, 0.8, 0.1]).astype(np.float32)
    targets = rng.normal(size=(args.genes, args.conditions)).astype(np.float32)

    keras.utils.set_random_seed(0)
    model = build("deeprage_concat")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    n_pairs = 100 * args.naive_batches
    g = rng.integers(0, args.genes, n_pairs)
    c = rng.integers(0, args.conditions, n_pairs)
    x = {"sequence": seqs[g], "regulators": regs[c]}
    model.fit(x, targets[g, c], batch_size=100, epochs=1, steps_per_epoch=2, verbose=0)  # warm-up
    t0 = time.perf_counter()
    model.fit(x, targets[g, c], batch_size=100, epochs=1, verbose=0)
    naive = n_pairs / (time.perf_counter() - t0)

    trainer = FactorizedPairTrainer(model, keras.optimizers.SGD(0.01))
    weights = np.ones_like(targets)
    trainer.train_epoch(blocks_from_arrays(seqs[:64], regs[:64], targets[:64, :64],
                                           weights[:64, :64]))  # warm-up
    t0 = time.perf_counter()
    trainer.train_epoch(blocks_from_arrays(seqs, regs, targets, weights, seed=1))
    grouped = targets.size / (time.perf_counter() - t0)
    print(json.dumps({
        "benchmark": "bench_deeprage_grouped", "model": "deeprage_concat (paper defaults)",
        "naive_pairs_per_s": round(naive, 1), "factorized_pairs_per_s": round(grouped, 1),
        "block": "32 genes x 32 conditions", "ratio": round(grouped / naive, 2), "goal": ">= 10",
    }, indent=2))


if __name__ == "__main__":
    main()
