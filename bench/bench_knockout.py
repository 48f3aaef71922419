"""Benchmark: DeepRAGE filter knockouts as ``kerasgene explain --analyses knockout`` runs
them, against the way it ran them before, in one process.

A DeepRAGE-TP with the demo's layers (96 filters, 64 units, 32 regulator units; untrained,
seeded), 1,000 random 1 kb promoters, 173 random regulator-state vectors of which 8 are
sampled per gene, and ``--sets`` knockout sets of two first-layer filters each (the demo
knocks out 6 such sets):

- ``current`` — :func:`kerasgene.explain.analyses._knockout_predictor`: the wild type
  predicted once, each set's filters zeroed in the model itself
  (:func:`kerasgene.explain.knockout.filters_zeroed`), every prediction through the
  factorised pair outputs traced once (each promoter through its branch once);
- ``reference`` — before: per set a knocked-out copy of the whole model
  (:func:`~kerasgene.explain.knockout.zero_filters`) and
  :func:`~kerasgene.explain.knockout.knockout_effects` on every gene × condition pair,
  wild type included, in eager batches of 256.

Prints JSON with CPU and wall seconds of each, ``ratio_cpu`` = reference ÷ current, and the
largest difference between the two paths' knockout effects (Δ). Usage:
``python bench/bench_knockout.py [--sets 6]`` (about a minute on 2 CPU cores). Not run by
pytest.
"""

from __future__ import annotations

import argparse
import json
import os
from types import SimpleNamespace

from _timing import timed

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=6, help="knockout sets of two filters")
    args = parser.parse_args()

    import keras
    import numpy as np

    from kerasgene.explain import knockout as K
    from kerasgene.explain.sequence_analyses import _knockout_predictor
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    genes, conditions, sampled = 1000, 173, 8
    seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (genes, 1000))]
    regs = rng.choice([-1.0, 0.0, 1.0], (conditions, 472)).astype(np.float32)
    model = build("deeprage_tensor", filters=96, units=64, regulator_units=32, dropout=0.3)
    sets = [[2 * k, 2 * k + 1] for k in range(args.sets)]
    dataset = SimpleNamespace(gene_ids=[f"g{i}" for i in range(genes)],
                              arrays={"regulators": regs})

    def current():
        predict, _, _ = _knockout_predictor(model, dataset, seqs, sampled,
                                            np.random.default_rng(0))
        wild = predict()
        deltas = []
        for filters in sets:
            with K.filters_zeroed(model, "sequence_conv", filters):
                deltas.append(predict() - wild)
        return deltas

    def reference():
        conds = np.sort(np.random.default_rng(0).choice(conditions, sampled, replace=False))
        pairs = {"sequence": np.repeat(seqs, sampled, axis=0),
                 "regulators": np.tile(regs[conds], (genes, 1))}
        return [K.knockout_effects(model, pairs, knockout_model=K.zero_filters(
            model, "sequence_conv", filters))["delta"] for filters in sets]

    now, cur = timed(current)
    before, ref = timed(reference)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(now, before))
    scale = max(float(np.abs(b).max()) for b in before)
    print(json.dumps({"knockout": {
        "current": cur, "reference": ref,
        "ratio_cpu": round(ref["cpu_s"] / cur["cpu_s"], 2),
        "ratio_wall": round(ref["wall_s"] / cur["wall_s"], 2),
        "sets": len(sets), "pairs": genes * sampled,
        "max_abs_delta_difference": diff, "max_abs_delta": scale},
        "load_avg_1min_end": round(os.getloadavg()[0], 2)}, indent=2))


if __name__ == "__main__":
    main()
