"""Benchmark: one sample of a GTEx-style GCT (``#1.2``, gzip) read by
:func:`kerasgene.io.expression.read_expression_table` (``columns=[sample]``, as a run's
``expression_column`` reads it) against two references in the same process:

* ``pandas``: ``pandas.read_csv(..., skiprows=2, usecols=[Name, sample])``, what a user
  would write (no checks of the header, the dimensions or the rows' fields);
* ``every_cell``: kerasgene reading every sample of the table (``columns=None``: every
  cell as text, then as a number) — more than the one-sample read did before it kept
  only the asked columns past the first rows (every cell as text, one column as numbers:
  1.58 s and 588 MB peak RSS against 0.56 s and 96 MB after, on these defaults, measured
  across the two versions in stop 37's closing note).

Time is the best of ``--repeats``; memory the tracemalloc peak of one read. Prints one
JSON object; ``ratio`` = reference seconds ÷ kerasgene's (above 1: kerasgene faster).
Usage: ``python bench/bench_expression.py [--genes 20000] [--samples 300]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from kerasgene.io.expression import read_expression_table


def write_gct(path: Path, genes: int, samples: int, seed: int = 0) -> list[str]:
    """A GCT 1.2 of random TPMs (gzip, level 1); returns the sample names."""
    names = [f"GTEX-{k:04d}" for k in range(samples)]
    values = np.round(np.random.default_rng(seed).gamma(0.5, 20.0, (genes, samples)), 3)
    with gzip.open(path, "wt", compresslevel=1) as fh:
        fh.write(f"#1.2\n{genes}\t{samples}\nName\tDescription\t" + "\t".join(names) + "\n")
        for i, row in enumerate(values):
            fh.write(f"ENSG{i:011d}.5\tGENE{i}\t" + "\t".join(map(str, row)) + "\n")
    return names


def measure(read, repeats: int) -> dict:
    """Best wall time of ``repeats`` calls and the tracemalloc peak of one."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        read()
        best = min(best, time.perf_counter() - t)
    tracemalloc.start()
    read()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": round(best, 3), "peak_mb": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gene_tpm.gct.gz"
        sample = write_gct(path, args.genes, args.samples)[args.samples // 2]
        ours = read_expression_table(path, columns=[sample])[sample]
        theirs = pd.read_csv(path, sep="\t", skiprows=2, usecols=["Name", sample],
                             index_col="Name")[sample]
        assert np.allclose(ours.to_numpy(), theirs.to_numpy())  # the same values
        kerasgene = measure(lambda: read_expression_table(path, columns=[sample]), args.repeats)
        refs = {"pandas": lambda: pd.read_csv(path, sep="\t", skiprows=2,
                                              usecols=["Name", sample]),
                "every_cell": lambda: read_expression_table(path)}
        result = {"genes": args.genes, "samples": args.samples, "kerasgene": kerasgene}
        for name, read in refs.items():
            got = measure(read, args.repeats)
            result[name] = {**got, "ratio": round(got["seconds"] / kerasgene["seconds"], 2),
                            "memory_ratio": round(got["peak_mb"] / kerasgene["peak_mb"], 2)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
