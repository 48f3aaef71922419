"""Benchmark of integrated gradients on an iSEGnet (a trained run's, or the paper default);
prints JSON.

The papers' set-up is alibi ``IntegratedGradients`` (gausslegendre, n_steps = 200,
internal batch 100). It runs on one or both references, on the same genes:

- ``authors``: the authors' Conv2D layout (tests/reference_layouts.py) **built from the
  model's own hyperparameters** (input length and tracks, k1, l, merge filters, pooling,
  read off its layers) and given its weights — the paper's code on the user's network.
  A model that layout cannot express (one input branch, k2 ≠ 2·k1, another merge kernel
  or dense stack, a classification head) is reported as such and skipped: the weights
  do not copy or the predictions differ;
- ``same``: alibi on the kerasgene model itself — the engines alone, same function,
  same layout; works on any model.

kerasgene's native engine then runs on the kerasgene model:

- ``native_200``: 200 Gauss–Legendre nodes (the papers' quadrature), with and without
  XLA (``jit_compile``);
- ``native_auto``: ``n_steps="auto"`` with ``rtol`` = the papers' set-up's worst relative
  residual over the same genes and ``atol = 0``, so its worst relative residual is no
  worse by construction (unless ``max_steps`` stops a gene first: reported);
  gradients per gene reported.

Every variant runs ``--repeats`` times, interleaved (so load from other processes hits
them alike); the best wall and the best CPU time of each are kept. Ratios are genes/s
of a variant over genes/s of a reference, from the same process. ``overhead`` divides
native IG time by (passes × one forward+backward of a batch of the same size), the IG
machinery's cost beyond the passes; ``rss`` is the peak RSS of a child process on G and
10·G genes.

Inputs: ``--dataset`` (a prepared dataset directory) or, when the model lies in a run
directory with a ``dataset/``, that one's test genes; otherwise random inputs of the
model's input shapes. Without ``--model`` the model is an untrained paper-default
iSEGnet with randomised BatchNorm statistics and the head bias set so that the output
ReLU is active (otherwise every attribution is zero and completeness trivial).

    python bench/bench_ig.py --model RUN/model.keras [--genes 16] [--repeats 2]
                             [--reference both|authors|same] [--start-steps N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402


def random_inputs(shapes: dict[str, tuple], n: int, seed: int = 0) -> dict:
    """One-hot "sequence", sparse peaky tracks in [0, 1] for every other input."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if name == "sequence":
            out[name] = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, shape[0]))]
        else:
            out[name] = ((rng.random((n, *shape)) < 0.3) * rng.random((n, *shape))
                         ).astype(np.float32)
    return out


def dataset_inputs(path: str, n: int, seed: int = 0) -> dict:
    """``n`` test-split genes of a prepared dataset, drawn at random with ``seed``."""
    from kerasgene.datasets import Dataset

    ds = Dataset.open(path)
    idx = ds.split_indices("test")
    idx = np.sort(np.random.default_rng(seed).choice(idx, min(n, len(idx)), replace=False))
    got = ds.gather(idx)
    return {k: got[k] for k in ds.input_names}


def load(model_path: str | None):
    import keras

    from kerasgene.models import build, load_model

    if model_path:
        return load_model(model_path), True
    from reference_layouts import randomize_batchnorm

    keras.utils.set_random_seed(0)
    model = build("isegnet")
    randomize_batchnorm(model, seed=0)
    model.get_layer("head_dense").bias.assign([2.0])
    return model, False


def authors_reference(model, X: dict):
    """(the authors' Conv2D iSEGnet with ``model``'s hyperparameters and weights, None),
    or (None, why not)."""
    try:
        from reference_layouts import copy_weights, isegnet_reference
    except ImportError:
        return None, "tests/reference_layouts.py not found"
    try:
        conv1 = model.get_layer("sequence_conv1_conv")
        shapes = {t.name: tuple(t.shape[1:]) for t in model.inputs}
        hp = dict(seq_len=shapes["sequence"][0], n_tracks=shapes["epigenome"][1],
                  k1=conv1.filters, kernel_length=conv1.kernel_size[0],
                  merge_filters=model.get_layer("merge_conv1_conv").filters,
                  pool="max" if "Max" in type(model.get_layer("sequence_pool")).__name__
                  else "avg")
        ref = isegnet_reference(**hp)
        copy_weights(model, ref)
    except (KeyError, ValueError) as err:
        return None, f"not expressible in the authors' layout: {type(err).__name__}: {err}"
    ours = model.predict(X, verbose=0)["expression"]
    theirs = ref.predict(X, verbose=0)["expression"]
    diff = float(np.abs(ours - theirs).max())
    if diff > 1e-4 * max(1.0, float(np.abs(ours).max())):
        return None, f"the authors' layout with these weights differs by {diff:.3g}"
    return ref, None


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def interleaved(variants: dict, repeats: int) -> dict:
    """Run every variant ``repeats`` times, round-robin; (result, best wall, best CPU)."""
    best: dict = {}
    for _ in range(repeats):
        for name, fn in variants.items():
            out, w, c = timed(fn)
            _, bw, bc = best.get(name, (None, np.inf, np.inf))
            best[name] = (out, min(w, bw), min(c, bc))
    return best


def fwd_bwd_time(model, X: dict, n_points: int, repeats: int = 3) -> tuple[float, float]:
    """Wall and CPU seconds of one forward+backward pass over ``n_points`` inputs."""
    import keras
    import tensorflow as tf

    idx = np.arange(n_points) % len(next(iter(X.values())))
    xs = [tf.constant(np.asarray(X[t.name][idx], np.float32)) for t in model.inputs]
    f = keras.Model(list(model.inputs), model.outputs[0])

    @tf.function(jit_compile=False)
    def step(*a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = tf.reduce_sum(f(list(a), training=False))
        return tape.gradient(y, a)

    step(*xs)
    _, w, c = timed(lambda: [step(*xs) for _ in range(repeats)])
    return w / repeats, c / repeats


def rss_child(model_path: str | None, n: int, steps: int, batch: int) -> int:
    """Peak RSS (kB) of a child process running native IG on ``n`` random genes."""
    code = f"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r})
sys.path.insert(0, {str(ROOT / 'tests')!r})
from bench_ig import load, random_inputs
from kerasgene.explain import iter_integrated_gradients
m, _ = load({model_path!r})
X = random_inputs({{t.name: tuple(t.shape[1:]) for t in m.inputs}}, {n}, seed=2)
for sl, part in iter_integrated_gradients(m, X, n_steps={steps}, batch_size={batch}):
    pass  # streamed: a caller writes each chunk to disk
print([l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")][0])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip().splitlines()[-1])


def summary(res, G: int, wall: float, cpu: float, against=None) -> dict:
    """Per-gene times, residuals and steps of one IG result (``against``: attributions
    to correlate with)."""
    out = {"genes_per_s_wall": G / wall, "genes_per_s_cpu": G / cpu,
           "s_per_gene_wall": wall / G, "s_per_gene_cpu": cpu / G,
           "max_abs_residual": float(np.abs(res.residual).max()),
           "max_relative_residual": float(res.relative_residual.max()),
           "mean_gradients_per_gene": float(np.mean(res.n_steps))}
    if against is not None:
        out["correlation_with_native_200"] = {
            nm: float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
            for nm, a, b in zip(res.input_names, res.attributions, against.attributions)}
    return out


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a trained iSEGnet .keras file (default: untrained)")
    ap.add_argument("--dataset", help="a prepared dataset directory (default: the run's "
                                      "dataset/ beside --model, else random inputs)")
    ap.add_argument("--genes", type=int, default=16)
    ap.add_argument("--reference", choices=("both", "authors", "same"), default="both")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved repetitions")
    ap.add_argument("--batch-size", type=int, default=50, help="native path points per pass")
    ap.add_argument("--start-steps", type=int, default=None,
                    help="n_steps='auto': first intervals (default: the library's)")
    ap.add_argument("--rss-genes", type=int, default=8)
    ap.add_argument("--rss-steps", type=int, default=8)
    ap.add_argument("--skip-rss", action="store_true")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    import tensorflow as tf

    from kerasgene.explain import integrated_gradients

    model, trained = load(args.model)
    run_data = Path(args.model).parent / "dataset" if args.model else None
    data = args.dataset or (str(run_data) if run_data and run_data.is_dir() else None)
    shapes = {t.name: tuple(t.shape[1:]) for t in model.inputs}
    X = dataset_inputs(data, args.genes) if data else random_inputs(shapes, args.genes)
    G = len(next(iter(X.values())))
    report: dict = {
        "model": args.model or "isegnet paper defaults (untrained, randomised BN, head bias 2)",
        "params": model.count_params(), "trained": trained, "genes": G,
        "inputs": f"test genes of {data}" if data else "random",
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "cpu_count": os.cpu_count(), "repeats": args.repeats,
        "load_average_start": os.getloadavg()}

    refs = {}
    if args.reference in ("both", "authors"):
        ref, why = authors_reference(model, X)
        if ref is None:
            report["authors_layout"] = why
        else:
            refs["authors"] = ref
    if args.reference in ("both", "same") or not refs:
        refs["same"] = model
    one = {k: v[:1] for k, v in X.items()}
    ig = integrated_gradients
    variants = {}
    for name, ref in refs.items():
        ig(ref, one, n_steps=200, engine="alibi", batch_size=100)  # warm-up (tracing)
        variants[f"alibi_200_{name}"] = (
            lambda ref=ref: ig(ref, X, n_steps=200, engine="alibi", batch_size=100))
    for jit in (False, True):
        ig(model, one, n_steps=200, batch_size=args.batch_size, jit_compile=jit)
        variants[f"native_200_xla_{'on' if jit else 'off'}"] = (
            lambda jit=jit: ig(model, X, n_steps=200, batch_size=args.batch_size,
                               jit_compile=jit))
    # the adaptive rule's tolerance: the papers' worst relative residual on these genes,
    # from one alibi run (the timed runs give the same residuals)
    papers = {name: ig(ref, X, n_steps=200, engine="alibi", batch_size=100)
              for name, ref in refs.items()}
    rtol = min(float(p.relative_residual.max()) for p in papers.values())
    auto_kw = dict(n_steps="auto", rtol=rtol, atol=0.0, batch_size=args.batch_size)
    if args.start_steps is not None:
        auto_kw["start_steps"] = args.start_steps
    for jit in (False, True):
        ig(model, one, jit_compile=jit, **auto_kw)
        variants[f"native_auto_xla_{'on' if jit else 'off'}"] = (
            lambda jit=jit: ig(model, X, jit_compile=jit, **auto_kw))
    best = interleaved(variants, args.repeats)

    nat = best["native_200_xla_off"][0]
    for name, (res, w, c) in best.items():
        report[name] = summary(res, G, w, c, None if name.startswith("native_200") else nat)
    report["auto_tolerance"] = {"rtol": rtol, "atol": 0.0,
                                "start_steps": args.start_steps or "library default",
                                "genes_at_max_steps_or_above_tolerance": int(np.sum(
                                    best["native_auto_xla_off"][0].relative_residual > rtol))}
    report["speedup_genes_per_s"] = {
        f"{v}_vs_alibi_{r}_{kind}": report[v][f"genes_per_s_{kind}"]
        / report[f"alibi_200_{r}"][f"genes_per_s_{kind}"]
        for v in best if v.startswith("native") for r in refs for kind in ("wall", "cpu")}
    report["xla_on_vs_off_genes_per_s_cpu"] = {
        kind: report[f"native_{kind}_xla_on"]["genes_per_s_cpu"]
        / report[f"native_{kind}_xla_off"]["genes_per_s_cpu"] for kind in ("200", "auto")}

    fb_w, fb_c = fwd_bwd_time(model, X, args.batch_size)
    passes = G * int(np.ceil(200 / args.batch_size))
    report["overhead"] = {
        "path_points_per_pass": args.batch_size, "passes": passes,
        "fwd_bwd_s_wall": fb_w, "fwd_bwd_s_cpu": fb_c,
        "ratio_wall": best["native_200_xla_off"][1] / (passes * fb_w),
        "ratio_cpu": best["native_200_xla_off"][2] / (passes * fb_c)}
    if not args.skip_rss:
        r1 = rss_child(args.model, args.rss_genes, args.rss_steps, args.batch_size)
        r10 = rss_child(args.model, 10 * args.rss_genes, args.rss_steps, args.batch_size)
        report["rss"] = {"genes": [args.rss_genes, 10 * args.rss_genes],
                         "n_steps": args.rss_steps, "peak_rss_mb": [r1 / 1024, r10 / 1024],
                         "ratio": r10 / r1}
    report["load_average_end"] = os.getloadavg()
    report["peak_rss_mb_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
