"""Forward + backward time of each kerasgene builder vs the authors' layout of the same
network (``tests/reference_layouts.py``), on the same batch. Prints JSON.

For each builder: build both models at the stated hyperparameters, trace one
``tf.function`` per model computing the gradients of a scalar loss (mean of the
squared outputs + the L2 penalties) with respect to every trainable weight in training
mode (dropout and batch statistics active), warm it up once, then time ``--reps`` calls
of each, interleaved so both see the same machine load; the best wall time counts
(``cpu_s`` / ``speedup_cpu``: the same with this process's CPU time, less sensitive to
other processes sharing the cores).
``speedup`` = authors' layout time / kerasgene time. For models with BatchNorm,
``speedup_layout_only`` uses kerasgene's layout with the stock Keras BatchNormalization
(kerasgene uses TensorFlow's fused kernel, which tf.keras 2 used on its own for 4-D
inputs but Keras 3 does not).

Usage: ``python bench/bench_models.py [--reps 3] [--only isegnet,deepchrome]``
(about 2 minutes on 2 CPU cores). Not run by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import keras  # noqa: E402
import reference_layouts as ref  # noqa: E402
import tensorflow as tf  # noqa: E402
from model_checks import random_inputs  # noqa: E402

from kerasgene import models  # noqa: E402
from kerasgene.models.blocks import FusedBatchNormalization  # noqa: E402

BATCH_ISEGNET = int(os.environ.get("BENCH_ISEGNET_BATCH", "32"))

#: builder → (hyperparameters, batch size, reference layout, what differs)
CASES = {
    "isegnet": ({}, BATCH_ISEGNET, ref.isegnet_reference,
                "Conv1D over (2500, m) channels vs Conv2D (l, m) over (2500, m, 1)"),
    "deeprage_concat": ({}, 64, ref.deeprage_concat_reference,
                        "Conv1D over (1000, 4) + ReLU after pooling vs Conv2D (4, 19) over "
                        "(4, 1000, 1) + ReLU before pooling"),
    "deeprage_tensor": ({}, 32, ref.deeprage_tensor_reference,
                        "Conv1D + global max + Dot outer product vs Conv2D + MaxPool2D + "
                        "broadcast Multiply"),
    "deeprage_rnn": ({}, 32, ref.deeprage_rnn_reference,
                     "Conv1D + MaxPool1D vs Conv2D + MaxPool2D; same GRU"),
    "histone_fcn": ({}, 100, ref.histone_fcn_reference,
                    "channels-last (100, 79) vs channels-first (79, 100)"),
    "chromatin_cnn": ({}, 100, ref.chromatin_cnn_reference,
                      "same layout (the appendix table is already Conv1D channels-last)"),
    "deepchrome": ({}, 100, ref.deepchrome_reference,
                   "same layout (Torch TemporalConvolution is channels-last)"),
}

NOT_BENCHMARKED = {
    "chromatin_dnn": "Flatten + Dense only: no alternative layout",
    "histone_fcn_ensemble": "n × histone_fcn (see histone_fcn)",
    "linear": "one Dense layer: no alternative layout",
}


def grad_step(model: keras.Model):
    """A traced function returning the gradients of a scalar loss (training mode)."""
    weights = model.trainable_variables

    @tf.function(jit_compile=False, reduce_retracing=True)
    def step(x):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = tf.add_n([tf.reduce_mean(tf.square(v)) for v in out.values()])
            if model.losses:
                loss += tf.add_n(model.losses)
        return tape.gradient(loss, weights)

    return step


def timed(step, x) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    grads = step(x)
    _ = [g.numpy() for g in grads[-1:]]  # block until done
    return time.perf_counter() - t0, time.process_time() - c0


def with_keras_batchnorm(model: keras.Model) -> keras.Model | None:
    """``model`` with every FusedBatchNormalization replaced by the stock Keras layer
    (None if it has none): separates the layout's gain from the fused kernel's."""
    if not any(isinstance(layer, FusedBatchNormalization) for layer in model.layers):
        return None

    def clone(layer):
        cls = (keras.layers.BatchNormalization if isinstance(layer, FusedBatchNormalization)
               else layer.__class__)
        return cls.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def bench_one(name: str, hparams: dict, batch: int, reference, reps: int) -> dict:
    ours = models.build(name, **hparams)
    theirs = reference(**hparams)
    assert ours.count_params() == theirs.count_params(), name
    x = {k: tf.constant(v) for k, v in random_inputs(ours, batch).items()}
    steps = {"kerasgene": grad_step(ours), "authors_layout": grad_step(theirs)}
    plain = with_keras_batchnorm(ours)
    if plain is not None:
        steps["kerasgene_keras_bn"] = grad_step(plain)
    warm = {k: timed(s, x) for k, s in steps.items()}  # tracing + first run
    times = {k: [] for k in steps}
    for _ in range(reps):
        for k, s in steps.items():
            times[k].append(timed(s, x))
    best = {k: min(t[0] for t in v) for k, v in times.items()}
    cpu = {k: min(t[1] for t in v) for k, v in times.items()}
    out = {
        "batch": batch,
        "hparams": hparams or "defaults",
        "params": int(ours.count_params()),
        "kerasgene_s": round(best["kerasgene"], 4),
        "authors_layout_s": round(best["authors_layout"], 4),
        "speedup": round(best["authors_layout"] / best["kerasgene"], 2),
        "cpu_s": {k: round(v, 4) for k, v in cpu.items()},
        "speedup_cpu": round(cpu["authors_layout"] / cpu["kerasgene"], 2),
    }
    if "kerasgene_keras_bn" in best:
        out["kerasgene_keras_bn_s"] = round(best["kerasgene_keras_bn"], 4)
        out["speedup_layout_only"] = round(
            best["authors_layout"] / best["kerasgene_keras_bn"], 2)
    out["first_call_s"] = {k: round(v[0], 2) for k, v in warm.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed calls per model")
    parser.add_argument("--only", default="", help="comma-separated builder names")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(CASES)
    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    results = {}
    for name in names:
        hparams, batch, reference, what = CASES[name]
        print(f"bench {name} (batch {batch}) ...", file=sys.stderr, flush=True)
        results[name] = {**bench_one(name, hparams, batch, reference, args.reps),
                         "layouts": what}
        keras.backend.clear_session()
    report = {
        "what": "forward+backward wall time, best of reps; speedup = authors_layout / kerasgene",
        "reps": args.reps,
        "machine": {"cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
                    "tensorflow": tf.__version__, "keras": keras.__version__},
        "results": results,
        "not_benchmarked": {k: v for k, v in NOT_BENCHMARKED.items() if not args.only},
        "total_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
