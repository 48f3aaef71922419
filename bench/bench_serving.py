"""Serving overhead over loopback gRPC: latency, batched throughput, concurrent clients.

A small iSEGnet (registry ``isegnet`` at the paper's input size, 2500 × (4 + 7), with
few filters) is exported with :func:`kerasgene.serving.export` and served by
``python -m kerasgene serve`` on 127.0.0.1 (a separate process, as in use).
Prints one JSON document:

- ``one_gene``: p50/p99 of a one-gene Predict round trip through
  :class:`kerasgene.serving.Client`, of an in-process call of the exported signature
  (the same computation the server runs), of an empty RPC (GetModelStatus: the
  transport's floor) and of :func:`kerasgene.models.inference.predictor`, measured call
  by call in a new random order each round, with the client's earlier path (a protobuf
  request built per call: ``round_trip_protobuf_request``); then ``model.predict`` and an
  eager call. The order is random because on a small machine the in-process TensorFlow
  calls keep this process' thread pool busy for a moment after they return: a round trip
  always measured right after one paid for it (on 2 cores, 1.9–2.5 ms instead of 1.1–1.2
  ms of paired overhead).
  ``overhead_paired_p50_ms`` (the median of round trip − signature call over the pairs)
  is the transport + serialisation cost (goal ≤ 2 ms).
- ``batched``: 10,000 genes sent in client batches vs in-process ``model.predict`` and
  :func:`kerasgene.models.inference.predict` with the same batch size, interleaved pool
  by pool (so load from other processes hits all alike); ``ratio`` = serving throughput
  ÷ ``model.predict``'s (goal ≥ 0.8), ``ratio_vs_compiled`` the same over the compiled one.
- ``concurrent``: 8 clients (own channels, threads) sending small batches at once;
  errors (goal 0) and throughput.

Usage: python bench/bench_serving.py [--genes 10000] [--batch 64] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def percentiles(samples_s: list[float]) -> dict[str, float]:
    a = np.asarray(samples_s) * 1e3
    return {"p50_ms": round(float(np.percentile(a, 50)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3),
            "mean_ms": round(float(a.mean()), 3)}


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def make_genes(n: int, seq_len: int, n_tracks: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    seq = np.zeros((n, seq_len, 4), np.float32)
    idx = rng.integers(0, 4, (n, seq_len))
    np.put_along_axis(seq, idx[..., None], 1.0, axis=-1)
    epi = rng.random((n, seq_len, n_tracks), dtype=np.float32)
    return {"sequence": seq, "epigenome": epi}


def start_server(base: Path, workdir: Path, max_batch: int) -> tuple[subprocess.Popen, int]:
    port_file = workdir / "port"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kerasgene", "serve", "--model-base-path", str(base),
         "--port", "0", "--port-file", str(port_file), "--poll-seconds", "0",
         "--max-batch-size", str(max_batch), "--max-message-mb", "512"],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "server.log", "w"), env=env, cwd=ROOT)
    deadline = time.monotonic() + 300
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start:\n{(workdir / 'server.log').read_text()}")
        time.sleep(0.1)
    return proc, int(port_file.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genes", type=int, default=10_000, help="genes of the batched run")
    ap.add_argument("--batch", type=int, default=64, help="client batch = in-process batch")
    ap.add_argument("--pool", type=int, default=2_000, help="distinct genes (memory)")
    ap.add_argument("--latency-repeats", type=int, default=300)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="a smaller run for smoke tests")
    args = ap.parse_args()
    if args.quick:
        args.genes, args.pool, args.latency_repeats = 1_000, 500, 50

    import keras
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

    from kerasgene import models
    from kerasgene.models import inference
    from kerasgene.serving import Client, export
    from kerasgene.serving.client import fill_tensor_proto, make_ndarray

    def decode(resp):
        return {k: make_ndarray(v) for k, v in resp.outputs.items()}

    hp = dict(seq_len=2500, n_tracks=7, k1=8, merge_filters=16, pointwise_filters=8,
              dense_units=(32, 16, 8))
    keras.utils.set_random_seed(0)
    model = models.build("isegnet", **hp)
    pool = make_genes(args.pool, hp["seq_len"], hp["n_tracks"])
    one = {k: v[:1] for k, v in pool.items()}
    result: dict = {
        "bench": "serving", "model": {"name": "isegnet", **hp, "params": model.count_params()},
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                 "tensorflow": tf.__version__, "load_average": os.getloadavg()},
        "transport": "gRPC over 127.0.0.1, server in a separate process",
    }

    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        tmp = Path(tmp)
        path = export(model, tmp / "models", "isegnet")
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        proc, port = start_server(tmp / "models", tmp, max_batch=max(args.batch, 256))
        try:
            target = f"127.0.0.1:{port}"
            client = Client(target, "isegnet", batch_size=args.batch, max_in_flight=2,
                            max_message_bytes=512 << 20)

            # ---- one gene
            def sig_call():
                signature(**{k: tf.constant(v) for k, v in one.items()})

            for _ in range(20):  # warm-up every path
                model.predict(one, verbose=0)
                sig_call()
                client.predict(one)
            n = args.latency_repeats
            n_slow = min(n, 60)  # model.predict / eager call: ~10-100x slower per call
            t_predict = timed(lambda: model.predict(one, verbose=0), n_slow)
            t_call = timed(lambda: model(one, training=False), n_slow)
            compiled = inference.predictor(model)
            status = get_model_status_pb2.GetModelStatusRequest()
            status.model_spec.name = "isegnet"
            # interleaved call by call, so load from other processes hits all alike; the
            # overhead is the median of the paired differences (round trip − signature)
            def protobuf_round_trip():  # the client's earlier path: a request per call
                req = predict_pb2.PredictRequest()
                req.model_spec.name, req.model_spec.signature_name = "isegnet", "serving_default"
                for k, a in one.items():
                    fill_tensor_proto(req.inputs[k], a)
                decode(client._predict.Predict(req, timeout=60))

            calls = {
                "signature": sig_call, "round_trip": lambda: client.predict(one),
                "protobuf": protobuf_round_trip,
                "empty_rpc": lambda: client._models.GetModelStatus(status),
                "compiled": lambda: compiled(one),
            }
            times: dict[str, list[float]] = {name: [] for name in calls}
            order_rng = np.random.default_rng(0)
            for _ in range(n):  # a new random order each time: no call always follows TF
                for name in order_rng.permutation(list(calls)):
                    times[name] += timed(calls[name], 1)
            t_sig, t_rt, t_rpc, t_comp, t_pb = (times[k] for k in (
                "signature", "round_trip", "empty_rpc", "compiled", "protobuf"))
            rt, mp, sg = percentiles(t_rt), percentiles(t_predict), percentiles(t_sig)
            paired = percentiles(np.subtract(t_rt, t_sig).tolist())
            paired_pb = percentiles(np.subtract(t_pb, t_sig).tolist())
            result["one_gene"] = {
                "round_trip": rt, "model_predict": mp, "model_call": percentiles(t_call),
                "signature_call": sg, "compiled_predictor": percentiles(t_comp),
                "empty_rpc_get_model_status": percentiles(t_rpc),
                "repeats": {"round_trip": n, "signature_call": n, "empty_rpc": n,
                            "compiled_predictor": n, "protobuf_request": n,
                            "model_predict": n_slow,
                            "model_call": n_slow},
                "overhead_vs_model_predict_p50_ms": round(rt["p50_ms"] - mp["p50_ms"], 3),
                "overhead_vs_signature_call_p50_ms": round(rt["p50_ms"] - sg["p50_ms"], 3),
                "overhead_vs_signature_call_p99_ms": round(rt["p99_ms"] - sg["p99_ms"], 3),
                "overhead_paired_p50_ms": paired["p50_ms"],
                "round_trip_protobuf_request": percentiles(t_pb),
                "overhead_paired_p50_ms_protobuf_request": paired_pb["p50_ms"],
                "goal_paired_p50_overhead_le_2ms": paired["p50_ms"] <= 2.0,
            }

            # ---- 10,000 genes in client batches (pool reused; identical work both sides)
            reps = max(1, args.genes // args.pool)
            genes = reps * args.pool
            model.predict({k: v[: args.batch] for k, v in pool.items()},
                          batch_size=args.batch, verbose=0)
            # interleaved, so load from other processes hits both sides alike
            inference.predict(model, pool, batch_size=args.batch)
            t_in = t_srv = t_comp_b = 0.0
            for _ in range(reps):
                t = time.perf_counter()
                ref = model.predict(pool, batch_size=args.batch, verbose=0)
                t_in += time.perf_counter() - t
                t = time.perf_counter()
                got = client.predict(pool)
                t_srv += time.perf_counter() - t
                t = time.perf_counter()
                inference.predict(model, pool, batch_size=args.batch)
                t_comp_b += time.perf_counter() - t
            diff = float(np.max(np.abs(got["expression"] - ref["expression"])))
            ratio = t_in / t_srv
            bytes_per_gene = sum(v[0].nbytes for v in pool.values())
            result["batched"] = {
                "genes": genes, "client_batch": args.batch,
                "in_process_genes_per_s": round(genes / t_in, 1),
                "in_process_compiled_genes_per_s": round(genes / t_comp_b, 1),
                "served_genes_per_s": round(genes / t_srv, 1),
                "served_MB_per_s": round(genes * bytes_per_gene / t_srv / 1e6, 1),
                "ratio": round(ratio, 3), "goal_ratio_ge_0.8": ratio >= 0.8,
                "ratio_vs_compiled": round(t_comp_b / t_srv, 3),
                "max_abs_diff": diff,
            }

            # ---- concurrent clients
            per_client, batch = (40, 16) if not args.quick else (10, 8)
            errors, done = [], []
            barrier = threading.Barrier(args.clients)

            def worker(cid: int):
                with Client(target, "isegnet", batch_size=batch) as c:
                    c.metadata()
                    barrier.wait()
                    for i in range(per_client):
                        lo = (cid * per_client + i) * batch % (args.pool - batch)
                        try:
                            out = c.predict({k: v[lo : lo + batch] for k, v in pool.items()})
                            if out["expression"].shape != (batch, 1):
                                errors.append("shape")
                        except Exception as err:
                            errors.append(repr(err))
                    done.append(cid)

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join(600)
            t_conc = time.perf_counter() - t
            total = args.clients * per_client * batch
            result["concurrent"] = {
                "clients": args.clients, "requests": args.clients * per_client,
                "genes_per_request": batch, "errors": len(errors), "error_samples": errors[:3],
                "clients_finished": len(done), "seconds": round(t_conc, 2),
                "genes_per_s": round(total / t_conc, 1),
                "requests_per_s": round(args.clients * per_client / t_conc, 1),
            }
            client.close()
        finally:
            proc.terminate()
            try:
                result["server_exit_code"] = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                result["server_exit_code"] = "killed"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
