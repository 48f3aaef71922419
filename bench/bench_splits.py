"""Benchmark: a DeepRAGE unseen split holding out shared inputs together, vs by name alone.

At real yeast scale (6,000 promoters × the 173 conditions = 1,038,000 pairs; synthetic
one-hot promoters, 16 all-zero regulator-state vectors as in the shipped MEDUSA states):
``grouped`` = :func:`kerasgene.datasets.pairs.split_groups` (BLAKE2b per row, the groups)
then :func:`kerasgene.datasets.splits.assign_split` with them (and its check of held-out
pairs with a training input); ``reference`` = ``assign_split`` by name alone (before).

Prints JSON; ``ratio_cpu`` = grouped CPU s ÷ reference CPU s (the cost of the grouping).
Usage: ``python bench/bench_splits.py [--reps 3]`` (about 20 s). Not run by pytest.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np
import pandas as pd
from _timing import timed

from kerasgene.datasets import splits
from kerasgene.datasets.pairs import split_groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # the grouping's warning, once per rep
    rng = np.random.default_rng(0)
    n_genes, n_conds = 6000, 173
    seq = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n_genes, 1000))]
    regs = rng.choice([-1.0, 0.0, 1.0], (n_conds, 472)).astype(np.float32)
    regs[:16] = 0
    genes = [f"Y{i:05d}" for i in range(n_genes)]
    conds = [f"c{j:03d}" for j in range(n_conds)]
    pg, pc = np.repeat(np.arange(n_genes), n_conds), np.tile(np.arange(n_conds), n_genes)
    table = pd.DataFrame({"gene_id": np.asarray(genes)[pg], "condition": np.asarray(conds)[pc]})
    spec = {"method": "unseen_condition", "seed": 1}

    def grouped():
        groups = split_groups(spec, genes, seq, conds, regs, pg, pc)
        return splits.assign_split(spec, table, groups=groups)

    def reference():
        return splits.assign_split(spec, table)

    best = {}
    for name, fn in (("grouped", grouped), ("reference", reference)):
        runs = [timed(fn)[1] for _ in range(args.reps)]
        best[name] = {k: min(r[k] for r in runs) for k in ("wall_s", "cpu_s")}
    print(json.dumps({"pairs": len(pg), **best,
                      "ratio_cpu": round(best["grouped"]["cpu_s"] / best["reference"]["cpu_s"], 2),
                      "ratio_wall": round(best["grouped"]["wall_s"]
                                          / best["reference"]["wall_s"], 2)}, indent=1))


if __name__ == "__main__":
    main()
