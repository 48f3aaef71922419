"""Benchmark: DeepRAGE saturation mutagenesis (``kerasgene variants --ism``) as it runs
now, against the way it ran before, in one process.

A DeepRAGE-TP with the demo's layers (96 filters, 64 units, 32 regulator units; untrained,
seeded), one random 1 kb promoter in a FASTA, and 173 random regulator-state vectors (the
real data's conditions): the 3,000 single-base substitutions of the promoter, each
predicted as the mean over the 173 conditions, by
:func:`kerasgene.explain.mutagenesis.saturation_mutagenesis` at its default batch size:

- ``current`` — :func:`kerasgene.explain.variants.predictor` for a DeepRAGE-C or -TP
  model: each mutant promoter through the sequence branch once, then against every
  condition through the factorised pair outputs, traced once;
- ``reference`` — before: the generic reader path, every mutant × condition pair through
  the whole model (the promoter branch once per condition), as it still runs for the RNN.

Prints JSON with CPU and wall seconds of each, ``ratio_cpu`` = reference ÷ current, and the
largest difference between the two Δ matrices. Usage: ``python bench/bench_variants.py``
(about a minute on 2 CPU cores). Not run by pytest.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

from _timing import timed

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    import keras
    import numpy as np

    from kerasgene.explain import readers as R
    from kerasgene.explain import variants as V
    from kerasgene.explain.mutagenesis import saturation_mutagenesis
    from kerasgene.io.genome import Genome
    from kerasgene.models import build
    from kerasgene.simulate.genome import write_fasta

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = build("deeprage_tensor", filters=96, units=64, regulator_units=32, dropout=0.3)
    reader = R.PromoterReader(rng.choice([-1.0, 0.0, 1.0], (173, 472)).astype(np.float32))
    # the same reader seen as any other reader: the generic path of V.predictor
    generic = SimpleNamespace(input_names=reader.input_names, fanout=reader.fanout,
                              inputs=reader.inputs, contexts=reader.contexts,
                              tss_flank=reader.tss_flank, tts_flank=reader.tts_flank)
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "promoters.fa"
        write_fasta(fasta, [("YBENCH", "".join(rng.choice(list("ACGT"), 1000)))])
        with Genome(fasta) as genome:
            gene = V.promoter_genes(genome)[0]
        now, cur = timed(lambda: saturation_mutagenesis(model, fasta, gene, reader))
        before, ref = timed(lambda: saturation_mutagenesis(model, fasta, gene, generic))
    print(json.dumps({"deeprage_ism": {
        "current": cur, "reference": ref,
        "ratio_cpu": round(ref["cpu_s"] / cur["cpu_s"], 2),
        "ratio_wall": round(ref["wall_s"] / cur["wall_s"], 2),
        "mutants": 3 * len(now.sequence), "conditions": reader.fanout,
        "max_abs_delta_difference": float(np.abs(now.deltas - before.deltas).max()),
        "max_abs_delta": float(np.abs(before.deltas).max())},
        "load_avg_1min_end": round(os.getloadavg()[0], 2)}, indent=2))


if __name__ == "__main__":
    main()
