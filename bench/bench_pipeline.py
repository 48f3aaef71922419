"""Benchmark: preparing and streaming the iSEGnet dataset.

1. **Preparation memory.** Writes a synthetic genome (10 chromosomes × 8 Mb), a GTF of
   ``--genes`` genes (default 20,000) on both strands, seven bigWigs (runs of geometric
   length, mean 200 bp; WGBS as sparse CpG-like sites) and a TPM table into
   ``bench/out/pipeline/`` (reused between runs), then runs
   :func:`kerasgene.datasets.build_regions` in a child process and reports its wall time and
   peak resident memory (``ru_maxrss``). Goal: < 1.5 GB.
2. **Training throughput.** The same model (``kerasgene.models.build("isegnet", k1=16)``,
   MSE, Adam) trained on ``--examples`` training examples, batch 100, shuffled:

   * ``pipeline``: ``Dataset.to_tf_dataset("train"-subset, 100, shuffle=True, repeat=True)``
     — gathered from the memory maps per batch;
   * ``in_memory``: the same examples as float32 tensors in memory
     (``tf.data.Dataset.from_tensor_slices(...).shuffle().batch().repeat()``);
   * ``numpy_fit``: ``model.fit(x_numpy, y, batch_size=100, shuffle=True)``.

   Steps/s are timed over ``--steps`` steps after a warm-up, alternating the variants
   ``--repeats`` times (median). ratio = pipeline ÷ the faster in-memory variant; goal ≥ 0.95.
   Wall-clock steps/s swing with other processes on a shared machine, so the process's own
   CPU time per step is reported too (``steps_per_cpu_s``, ``..._cpu`` ratio): the extra
   work of gathering from memory maps shows there whatever the machine's load.
3. **Input pipeline alone** (no model): batches/s of ``to_tf_dataset``'s per-batch
   ``numpy_function`` gather from the memory maps vs ``tf.gather`` from in-memory constants
   — the two designs the streaming could use.

Prints one JSON object. Usage: ``python bench/bench_pipeline.py [--genes 20000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = Path(__file__).resolve().parent / "out" / "pipeline"
TRACKS = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")
N_CHROMS, CHROM_LEN = 10, 8_000_000


# ----------------------------------------------------------------------------- data
def _write_fasta(path: Path, rng) -> None:
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as fh:
        for c in range(N_CHROMS):
            fh.write(f">chr{c + 1}\n".encode())
            codes = letters[rng.integers(0, 4, CHROM_LEN)]
            lines = codes.reshape(-1, 80)
            body = np.concatenate([lines, np.full((len(lines), 1), ord("\n"), np.uint8)], 1)
            fh.write(body.tobytes())


def _write_bigwig(path: Path, rng, sparse: bool) -> None:
    import pyBigWig

    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([(f"chr{c + 1}", CHROM_LEN) for c in range(N_CHROMS)], maxZooms=10)
    for c in range(N_CHROMS):
        name = f"chr{c + 1}"
        if sparse:  # WGBS: percent methylation at ~1 % of bases
            pos = np.unique(rng.integers(0, CHROM_LEN, CHROM_LEN // 100))
            bw.addEntries(name, pos.tolist(), values=np.round(rng.uniform(0, 100, len(pos)), 1)
                          .tolist(), span=1)
            continue
        ends = np.cumsum(rng.geometric(1 / 200, CHROM_LEN // 150))
        ends = np.append(ends[ends < CHROM_LEN], CHROM_LEN)
        starts = np.concatenate([[0], ends[:-1]])
        vals = np.round(rng.gamma(0.6, 4.0, len(starts)), 3)
        keep = vals > 0.05
        bw.addEntries([name] * int(keep.sum()), starts[keep].tolist(), ends=ends[keep].tolist(),
                      values=vals[keep].tolist())
    bw.close()


def make_data(out: Path, n_genes: int, seed: int = 0) -> dict:
    """Synthetic inputs for ``n_genes`` genes (reused when already written)."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / f"done-{n_genes}-{seed}"
    cfg = {"gtf": str(out / f"genes{n_genes}.gtf"), "fasta": str(out / "genome.fa"),
           "samples": [{"name": "bs1", "expression": str(out / f"tpm{n_genes}.tsv"),
                        "expression_column": "TPM",
                        "tracks": {t: str(out / f"{t}.bw") for t in TRACKS}}]}
    if stamp.exists():
        return cfg
    rng = np.random.default_rng(seed)
    if not (out / "genome.fa").exists():
        _write_fasta(out / "genome.fa", rng)
        for t in TRACKS:
            _write_bigwig(out / f"{t}.bw", rng, sparse=t == "WGBS")
    with open(cfg["gtf"], "w") as gtf, open(cfg["samples"][0]["expression"], "w") as tpm:
        tpm.write("gene_id\tTPM\n")
        for i in range(n_genes):
            chrom = f"chr{i % N_CHROMS + 1}"
            start = int(rng.integers(2_000, CHROM_LEN - 30_000))
            end = start + int(rng.integers(1_000, 25_000))
            strand = "+-"[int(rng.integers(0, 2))]
            gtf.write(f'{chrom}\tbench\tgene\t{start + 1}\t{end}\t.\t{strand}\t.\t'
                      f'gene_id "G{i:05d}"; gene_type "protein_coding";\n')
            tpm.write(f"G{i:05d}\t{0.0 if rng.random() < 0.05 else rng.gamma(0.8, 30):.3f}\n")
    stamp.touch()
    return cfg


# ----------------------------------------------------------------------------- phase 1
def prepare_child(cfg_path: str, out_dir: str) -> None:
    """Run in a fresh process: build the dataset, print wall time and peak RSS."""
    from kerasgene.datasets import build_regions

    cfg = json.loads(Path(cfg_path).read_text())
    t0 = time.perf_counter()
    ds = build_regions(cfg, out_dir, force=True, progress=False)
    dt = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": round(dt, 1), "peak_rss_mb": round(peak_kb / 1024, 1),
                      "n_examples": len(ds),
                      "dataset_mb": round(sum(f.stat().st_size for f in Path(out_dir).iterdir())
                                          / 2**20, 1)}))


def measure_prepare(cfg: dict, out_dir: Path) -> dict:
    cfg_path = OUT / "bench_cfg.json"
    cfg_path.write_text(json.dumps(cfg))
    res = subprocess.run([sys.executable, __file__, "--prepare-child", str(cfg_path), str(out_dir)],
                         capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"prepare child failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- phase 2
def measure_input_only(ds_dir: Path, n_examples: int, batch: int, n_batches: int = 60,
                       seed: int = 0) -> dict:
    """Batches/s of the input pipeline alone: numpy_function gather from the memory maps
    (what ``to_tf_dataset`` does) vs ``tf.gather`` from in-memory constants."""
    import tensorflow as tf

    from kerasgene.datasets import Dataset

    ds = Dataset.open(ds_dir)
    idx = ds.split_indices("train")[:n_examples]
    seq = tf.constant(np.asarray(ds.arrays["sequence"][ds.arrays["sequence_row"][idx]]))
    epi = tf.constant(np.asarray(ds.arrays["epigenome"][idx]))
    y = tf.constant(np.asarray(ds.arrays["expression"][idx]))

    def tf_gather(b):
        return ({"sequence": tf.cast(tf.gather(seq, b), tf.float32),
                 "epigenome": tf.cast(tf.gather(epi, b), tf.float32)}, tf.gather(y, b))

    native = (tf.data.Dataset.range(len(idx)).shuffle(len(idx), seed=seed).repeat()
              .batch(batch).map(tf_gather, num_parallel_calls=tf.data.AUTOTUNE)
              .prefetch(tf.data.AUTOTUNE))
    variants = {"numpy_function_memmap": ds.to_tf_dataset(idx, batch, shuffle=True, seed=seed,
                                                          repeat=True),
                "tf_gather_constants": native}
    out = {}
    for name, data in variants.items():
        it = iter(data)
        for _ in range(5):
            next(it)
        t0 = time.perf_counter()
        for _ in range(n_batches):
            next(it)
        out[name] = round(n_batches / (time.perf_counter() - t0), 1)
    return {"batches_per_s": out, "batch_size": batch}


def measure_training(ds_dir: Path, n_examples: int, steps: int, repeats: int, batch: int,
                     seed: int = 0) -> dict:
    import keras
    import tensorflow as tf

    from kerasgene.datasets import Dataset

    keras.utils.set_random_seed(seed)
    ds = Dataset.open(ds_dir)
    idx = ds.split_indices("train")[:n_examples]
    try:
        from kerasgene.models import build as build_model

        model = build_model("isegnet", k1=16)
        model_name = "kerasgene.models isegnet k1=16"
    except Exception as err:  # models not importable: a small model with the same inputs
        print(f"# kerasgene.models unavailable ({err}); using a small stand-in", file=sys.stderr)
        seq = keras.Input((2500, 4), name="sequence")
        epi = keras.Input((2500, 7), name="epigenome")
        h = keras.layers.Concatenate()([seq, epi])
        h = keras.layers.Conv1D(32, 20, activation="relu")(h)
        h = keras.layers.AveragePooling1D(25)(h)
        h = keras.layers.Flatten()(h)
        out = keras.layers.Dense(1, name="expression")(h)
        model = keras.Model([seq, epi], {"expression": out})
        model_name = "stand-in conv1d"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

    x_np, y_np = ds.arrays_for(idx)
    pipeline = ds.to_tf_dataset(idx, batch, shuffle=True, seed=seed, repeat=True)
    mem = (tf.data.Dataset.from_tensor_slices(({k: tf.constant(v) for k, v in x_np.items()},
                                               tf.constant(y_np)))
           .shuffle(len(y_np), seed=seed).batch(batch).repeat().prefetch(tf.data.AUTOTUNE))
    variants = {
        "pipeline": lambda n: model.fit(pipeline, epochs=1, steps_per_epoch=n, verbose=0),
        "in_memory": lambda n: model.fit(mem, epochs=1, steps_per_epoch=n, verbose=0),
        "numpy_fit": lambda n: model.fit(x_np, y_np, batch_size=batch, shuffle=True, epochs=1,
                                         steps_per_epoch=n, verbose=0),
    }
    for fit in variants.values():  # trace + warm caches
        fit(3)
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fit in variants.items():
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            fit(steps)
            r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            times[name].append(steps / (t1 - t0))
            cpu[name].append(steps / (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime))
    sps = {k: round(statistics.median(v), 3) for k, v in times.items()}
    cps = {k: round(statistics.median(v), 3) for k, v in cpu.items()}
    best_mem = max(sps["in_memory"], sps["numpy_fit"])
    best_mem_cpu = max(cps["in_memory"], cps["numpy_fit"])
    return {"model": model_name, "batch_size": batch, "train_examples": int(len(idx)),
            "steps_timed": steps, "repeats": repeats, "steps_per_s": sps,
            "all_steps_per_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
            "steps_per_cpu_s": cps,
            "ratio_pipeline_vs_in_memory": round(sps["pipeline"] / best_mem, 3),
            "ratio_pipeline_vs_in_memory_cpu": round(cps["pipeline"] / best_mem_cpu, 3),
            "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--examples", type=int, default=2_000, help="training examples timed")
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--skip-prepare", action="store_true", help="reuse the prepared dataset")
    p.add_argument("--no-train", action="store_true", help="skip the training comparison")
    p.add_argument("--prepare-child", nargs=2, metavar=("CFG", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.prepare_child:
        prepare_child(*args.prepare_child)
        return
    t0 = time.perf_counter()
    cfg = make_data(OUT, args.genes)
    gen_s = time.perf_counter() - t0
    ds_dir = OUT / f"isegnet_{args.genes}"
    result = {"benchmark": "pipeline", "genes": args.genes,
              "data_generation_s": round(gen_s, 1)}
    if not (args.skip_prepare and (ds_dir / "meta.json").exists()):
        prep = measure_prepare(cfg, ds_dir)
        result["prepare"] = {**prep, "goal_peak_rss_mb": 1536,
                             "ok": prep["peak_rss_mb"] < 1536}
    result["input_pipeline_only"] = measure_input_only(ds_dir, args.examples, args.batch)
    if not args.no_train:
        train = measure_training(ds_dir, args.examples, args.steps, args.repeats, args.batch)
        result["training"] = {**train, "goal_ratio": 0.95,
                              "ok": train["ratio_pipeline_vs_in_memory"] >= 0.95}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
