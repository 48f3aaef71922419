"""Forward + backward time of each paper-default model: against the authors' layout of
the same network, and as FLOP/s against this machine's peaks, float32 and bfloat16.
Prints JSON.

``layouts`` — for each builder: kerasgene vs the authors' layout
(``tests/reference_layouts.py``) on the same batch. For each builder: build both models at the stated hyperparameters, trace one
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

``flops`` — for each builder: its forward+backward step in float32 and under the
``mixed_bfloat16`` policy (``models.build(..., mixed_precision="bfloat16")``, same
weights; float32 variables, loss and outputs), interleaved, best of reps, wall and CPU
time; ``bf16_speedup`` = float32 time / bfloat16 time. FLOPs are counted analytically
from the layers (:func:`forward_flops`): 2 × the multiply-adds of every Conv, Dense, Dot
and recurrent (GRU/LSTM: input and recurrent kernels at every step) layer; element-wise
work (activations, BatchNorm, pooling, dropout) is not counted; a step is 3 × the
forward FLOPs (the backward pass computes the gradients of the activations and of the
weights, each about one forward). Beside them, this machine's peaks measured in the same
process: a 4096² matmul and the forward+backward of iSEGnet's second convolution
(64 → 128 channels, width 20, over 2509 positions), float32 and bfloat16; each model's
FLOP/s as a fraction of the conv peak of its dtype (``of_conv_peak``). Every rate is
given per wall second and per CPU second of this process (``*_cpu``; the machine is
shared, and CPU time is the less load-sensitive of the two).

Usage: ``python bench/bench_models.py [--what layouts,flops] [--reps 3]
[--only isegnet,deepchrome]`` (about 5 minutes on 2 CPU cores; ``BENCH_ISEGNET_BATCH``
sets iSEGnet's batch, 32 by default, 100 in the paper). Not run by pytest.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
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


def grad_step(model: keras.Model, jit_compile: bool = False):
    """A traced function returning the gradients of a scalar loss (training mode);
    ``jit_compile``: XLA-compiled."""
    weights = model.trainable_variables

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
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
    best, cpu, first = interleaved(steps, x, reps)
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
    out["first_call_s"] = {k: round(v, 2) for k, v in first.items()}
    return out


# --------------------------------------------------------------------------------------
# FLOP/s: float32 and bfloat16 against the machine's peaks
# --------------------------------------------------------------------------------------


def _size(shape) -> int:
    return int(math.prod(int(d) for d in shape))


def layer_flops(layer: keras.layers.Layer) -> int:
    """Forward FLOPs of one layer for one example: 2 × its multiply-adds (Conv, Dense,
    Dot, recurrent layers; 0 for the element-wise rest)."""
    if isinstance(layer, keras.Model):
        return forward_flops(layer)
    if isinstance(layer, keras.layers.Bidirectional | keras.layers.RNN):
        # GRU, LSTM: the input and recurrent kernels at every step, in each direction
        steps = int(layer.input.shape[1])
        rnns = ([layer.forward_layer, layer.backward_layer]
                if isinstance(layer, keras.layers.Bidirectional) else [layer])
        return sum(2 * steps * (_size(r.cell.kernel.shape)
                                + _size(r.cell.recurrent_kernel.shape)) for r in rnns)
    if isinstance(layer, keras.layers.Dot):
        a = layer.input[0].shape
        axis = layer.axes[0] if isinstance(layer.axes, list | tuple) else layer.axes
        return 2 * _size(layer.output.shape[1:]) * int(a[axis])
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return 0
    if isinstance(layer, keras.layers.Dense):  # over every leading position
        return 2 * _size(layer.input.shape[1:-1]) * _size(kernel.shape)
    # convolutions: every output position applies the whole kernel (÷ groups)
    groups = getattr(layer, "groups", 1)
    return 2 * _size(layer.output.shape[1:-1]) * _size(kernel.shape) // groups


def forward_flops(model: keras.Model) -> int:
    """Forward FLOPs of ``model`` for one example (sum of :func:`layer_flops`)."""
    return sum(layer_flops(layer) for layer in model.layers)


def _peak_steps(dtype: str, conv_batch: int) -> dict:
    """{name: (traced step, its FLOPs)}: a 4096² matmul, and iSEGnet's second conv
    forward+backward (input (conv_batch, 2509, 64), kernel (20, 64, 128))."""
    n = 4096
    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    x = tf.cast(tf.random.normal((conv_batch, 2509, 64)), dtype)
    w = tf.Variable(tf.cast(tf.random.normal((20, 64, 128)) * 0.05, dtype))

    @tf.function(jit_compile=False)
    def matmul(_):
        return [tf.matmul(a, b)]

    @tf.function(jit_compile=False)
    def conv(_):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_mean(tf.nn.conv1d(x, w, 1, "VALID"))
        return tape.gradient(loss, [x, w])

    conv_flops = 3 * 2 * conv_batch * (2509 - 19) * 20 * 64 * 128
    return {"matmul_4096": (matmul, 2 * n**3), "conv_isegnet_second": (conv, conv_flops)}


def interleaved(steps: dict, x, reps: int) -> tuple[dict, dict, dict]:
    """Best wall and CPU seconds of each step over ``reps`` interleaved calls, and the
    wall seconds of the untimed first call (tracing + first run)."""
    first = {k: timed(s, x)[0] for k, s in steps.items()}
    times = {k: [] for k in steps}
    for _ in range(reps):
        for k, s in steps.items():
            times[k].append(timed(s, x))
    return ({k: min(t[0] for t in v) for k, v in times.items()},
            {k: min(t[1] for t in v) for k, v in times.items()}, first)


def peaks(reps: int, conv_batch: int) -> dict:
    """The machine's measured peaks: {dtype: {matmul_4096, conv_...}} in GFLOP per wall
    second (``gflops``) and per CPU second of this process (``gflops_per_cpu_s``: less
    sensitive to other processes; × the cores used for the machine's rate)."""
    steps, flops = {}, {}
    for dtype in ("float32", "bfloat16"):
        for name, (step, n) in _peak_steps(dtype, conv_batch).items():
            steps[(dtype, name)], flops[(dtype, name)] = step, n
    wall, cpu, _ = interleaved(steps, None, reps)
    out = {}
    for key, times in (("gflops", wall), ("gflops_per_cpu_s", cpu)):
        out[key] = {"float32": {}, "bfloat16": {}}
        for (dtype, name), t in times.items():
            out[key][dtype][name] = round(flops[(dtype, name)] / t / 1e9, 1)
    return out


def _conv_peak(peak: dict, step: str) -> float:
    """The conv peak of a step's dtype (``"bfloat16_xla"`` → bfloat16)."""
    return peak[step.removesuffix("_xla")]["conv_isegnet_second"]


def flops_one(name: str, hparams: dict, batch: int, reps: int, peak: dict,
              xla: bool = False) -> dict:
    """One model's step in float32 and bfloat16 (mixed): time, GFLOP/s, ratios; with
    ``xla`` also both XLA-compiled (``*_xla``; ``xla_speedup`` = plain / XLA time)."""
    f32 = models.build(name, **hparams)
    bf16 = models.build(name, mixed_precision="bfloat16", **hparams)
    bf16.set_weights(f32.get_weights())
    x = {k: tf.constant(v) for k, v in random_inputs(f32, batch).items()}
    steps = {"float32": grad_step(f32), "bfloat16": grad_step(bf16)}
    if xla:
        steps.update(float32_xla=grad_step(f32, True), bfloat16_xla=grad_step(bf16, True))
    wall, cpu, _ = interleaved(steps, x, reps)
    flops = 3 * forward_flops(f32) * batch
    gflops = {k: flops / t / 1e9 for k, t in wall.items()}
    per_cpu = {k: flops / t / 1e9 for k, t in cpu.items()}
    return {
        "batch": batch,
        "gflop_per_step": round(flops / 1e9, 2),
        "step_s": {k: round(v, 4) for k, v in wall.items()},
        "cpu_s": {k: round(v, 4) for k, v in cpu.items()},
        "gflops": {k: round(v, 1) for k, v in gflops.items()},
        "gflops_per_cpu_s": {k: round(v, 1) for k, v in per_cpu.items()},
        "of_conv_peak": {k: round(v / _conv_peak(peak["gflops"], k), 3)
                         for k, v in gflops.items()},
        "of_conv_peak_cpu": {k: round(v / _conv_peak(peak["gflops_per_cpu_s"], k), 3)
                             for k, v in per_cpu.items()},
        "bf16_speedup": round(wall["float32"] / wall["bfloat16"], 2),
        "bf16_speedup_cpu": round(cpu["float32"] / cpu["bfloat16"], 2),
        **({"xla_speedup": {k: round(wall[k] / wall[f"{k}_xla"], 2)
                            for k in ("float32", "bfloat16")},
            "xla_speedup_cpu": {k: round(cpu[k] / cpu[f"{k}_xla"], 2)
                                for k in ("float32", "bfloat16")}} if xla else {}),
    }


def bench_flops(names: list[str], reps: int, xla: bool = False) -> dict:
    """Peaks, then every model's float32 / bfloat16 step against them."""
    peak = peaks(reps, BATCH_ISEGNET)
    results = {}
    for name in names:
        hparams, batch = CASES[name][:2]
        print(f"flops {name} (batch {batch}) ...", file=sys.stderr, flush=True)
        results[name] = flops_one(name, hparams, batch, reps, peak, xla)
        keras.backend.clear_session()
    return {"what": "forward+backward step, best of reps; GFLOP/s = 3 × analytic forward "
                    "FLOPs / wall time; bf16_speedup = float32 s / bfloat16 s",
            "peaks_gflops": peak, "conv_peak_batch": BATCH_ISEGNET, "results": results}


def bench_layouts(names: list[str], reps: int) -> dict:
    """kerasgene's layout vs the authors' for every model in ``names``."""
    results = {}
    for name in names:
        hparams, batch, reference, what = CASES[name]
        print(f"bench {name} (batch {batch}) ...", file=sys.stderr, flush=True)
        results[name] = {**bench_one(name, hparams, batch, reference, reps),
                         "layouts": what}
        keras.backend.clear_session()
    return {"what": "forward+backward wall time, best of reps; speedup = authors_layout / "
                    "kerasgene", "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed calls per model")
    parser.add_argument("--only", default="", help="comma-separated builder names")
    parser.add_argument("--what", default="layouts,flops",
                        help="comma-separated parts: layouts, flops")
    parser.add_argument("--xla", action="store_true",
                        help="flops: also time the XLA-compiled steps")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(CASES)
    parts = {"layouts": bench_layouts, "flops": functools.partial(bench_flops, xla=args.xla)}
    keras.utils.set_random_seed(0)
    t0 = time.perf_counter()
    report = {
        "reps": args.reps,
        "machine": {"cpus": os.cpu_count(), "load_avg_1min": round(os.getloadavg()[0], 2),
                    "tensorflow": tf.__version__, "keras": keras.__version__},
        **{part: parts[part](names, args.reps) for part in args.what.split(",") if part},
        "not_benchmarked": {k: v for k, v in NOT_BENCHMARKED.items() if not args.only},
        "load_avg_1min_end": round(os.getloadavg()[0], 2),
        "total_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
