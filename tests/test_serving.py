"""Serving: export layout, the TF-Serving-compatible server, the client and the CLI.

One server process per module (``python -m kerasgene serve``, port 0, loopback)
serves a model repository written by :func:`kerasgene.serving.export`: every registry
model at small hyperparameters, tiny toy models, an empty and a broken model directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import keras
import numpy as np
import pytest
from model_checks import SMALL_HPARAMS as SMALL
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from kerasgene import models
from kerasgene.cli import serve as commands
from kerasgene.errors import ConfigError
from kerasgene.serving import Client, ServingError, export, list_versions, read_constants
from kerasgene.serving.client import encode_inputs, fill_tensor_proto, make_tensor_proto
from kerasgene.serving.exporter import _call_structure
from kerasgene.train import records

ROOT = Path(__file__).resolve().parents[1]
MAX_BATCH = 64
MAX_MESSAGE_MB = 8
START_TIMEOUT = 180  # s, bounded wait for the server to come up
C = grpc.StatusCode

# ----------------------------------------------------------------------------- helpers
def toy_model(seed: int = 0, length: int = 20) -> keras.Model:
    """Two named inputs, one named output; small enough for thousands of requests."""
    keras.utils.set_random_seed(seed)
    seq = keras.Input((length, 4), name="sequence")
    epi = keras.Input((length, 3), name="epigenome")
    x = keras.layers.Concatenate()([keras.layers.Conv1D(4, 5, activation="relu")(seq),
                                    keras.layers.Conv1D(4, 5, activation="relu")(epi)])
    x = keras.layers.GlobalAveragePooling1D()(x)
    out = keras.layers.Dense(1, name="expression")(x)
    return keras.Model({"sequence": seq, "epigenome": epi}, {"expression": out}, name="toy")


def toy_cls_model() -> keras.Model:
    keras.utils.set_random_seed(1)
    sig = keras.Input((16, 2), name="signal")
    x = keras.layers.Flatten()(sig)
    out = keras.layers.Dense(3, activation="softmax", name="class_probabilities")(x)
    return keras.Model(sig, {"class_probabilities": out}, name="toy_cls")


def random_inputs(model: keras.Model, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: rng.random((n, *t.shape[1:])).astype(np.float32) for t in model.inputs}


def reference(model: keras.Model, inputs: dict) -> dict[str, np.ndarray]:
    out = model.predict(_call_structure(model, inputs), verbose=0)
    return {k: np.asarray(v) for k, v in out.items()}


def max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b), (sorted(a), sorted(b))
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


def wait_for(predicate, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def start_server(args: list[str], workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    port_file = workdir / f"port-{time.monotonic_ns()}"
    log_path = workdir / f"{port_file.name}.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kerasgene", "serve", "--port", "0",
             "--port-file", str(port_file), *args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
        return port_file.exists() and port_file.read_text().strip()

    port = int(wait_for(ready, START_TIMEOUT, "the server's port file", step=0.2))
    return proc, port, log_path


def stop_server(proc: subprocess.Popen, log_path: Path) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"server ignored SIGTERM:\n{log_path.read_text()}") from None


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def server(base_dir, tmp_path_factory):
    """The server process, started on the (still empty) repository so that its start-up
    overlaps the exports; it picks the models up by polling."""
    workdir = tmp_path_factory.mktemp("server")
    proc, port, log_path = start_server(
        ["--model-base-path", str(base_dir), "--max-batch-size", str(MAX_BATCH),
         "--max-message-mb", str(MAX_MESSAGE_MB), "--poll-seconds", "0.2", "--allow-empty"],
        workdir)
    yield f"127.0.0.1:{port}", proc
    rc = stop_server(proc, log_path)
    assert rc == 0, log_path.read_text()


@pytest.fixture(scope="module")
def repo(base_dir, server):
    """Model repository: registry models (reg_<name>), toys, an empty and a broken model;
    returns once the server has loaded every version."""
    base = base_dir
    built = {}
    for name in models.names():
        model = models.build(name, **SMALL.get(name, {}))
        export(model, base, f"reg_{name}", metadata={"registry_name": name})
        built[f"reg_{name}"] = model
    built["toy"] = toy_model()
    export(built["toy"], base, "toy", metadata={"log_base": 2})
    built["toy_cls"] = toy_cls_model()
    export(built["toy_cls"], base, "toy_cls")
    built["hot"] = toy_model(seed=10)
    export(built["hot"], base, "hot")
    (base / "empty").mkdir()
    (base / "broken" / "1").mkdir(parents=True)
    (base / "broken" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    for name in built:
        with Client(server[0], name) as client:
            wait_for(lambda c=client: _available(c), 120, f"model {name!r} to load", step=0.2)
    return base, built


@pytest.fixture(scope="module")
def stubs(server):
    target, _ = server
    channel = grpc.insecure_channel(target, options=[
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.max_receive_message_length", 64 << 20)])
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def predict_request(model: str, inputs: dict, *, version=None, signature=None):
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model
    if version is not None:
        req.model_spec.version.value = version
    if signature is not None:
        req.model_spec.signature_name = signature
    for k, v in inputs.items():
        req.inputs[k].CopyFrom(make_tensor_proto(np.asarray(v)))
    return req


def expect_code(call, request, code: grpc.StatusCode, *words: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    err = info.value
    assert err.code() == code, (err.code(), err.details())
    for w in words:
        assert w in err.details(), (w, err.details())
    return err.details()


# ----------------------------------------------------------------------------- export
@pytest.mark.slow  # saved_model_cli processes
def test_export_layout_constants_and_saved_model_cli(tmp_path):
    model = toy_model()
    meta = {"tss_flank": [1000, 500], "track_names": ["DNase", "WGBS"], "log_base": 2,
            "scale": np.float32(0.5)}
    first = export(model, tmp_path, "toy", metadata=meta)
    second = export(model, tmp_path, "toy")
    assert first == tmp_path / "toy" / "1" and second == tmp_path / "toy" / "2"
    assert export(model, tmp_path, "toy", version=7).name == "7"
    assert export(model, tmp_path, "toy").name == "8"
    assert list_versions(tmp_path / "toy") == [1, 2, 7, 8]
    assert sorted(os.listdir(tmp_path / "toy")) == ["1", "2", "7", "8"]  # no temp left

    doc = read_constants(first)
    assert doc["version"] == 1 and doc["name"] == "toy"
    assert doc["preprocessing"] == {**meta, "scale": 0.5}
    assert doc["inputs"] == {"epigenome": {"dtype": "float32", "shape": [None, 20, 3]},
                             "sequence": {"dtype": "float32", "shape": [None, 20, 4]}}
    assert list(doc["outputs"]) == ["expression"]

    cli = Path(sys.executable).parent / "saved_model_cli"
    out = subprocess.run([str(cli), "show", "--all", "--dir", str(first)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    serving = out.split("signature_def['serving_default']")[1]
    for key in ("inputs['sequence']", "inputs['epigenome']", "outputs['expression']",
                "shape: (-1, 20, 4)", "shape: (-1, 20, 3)", "tensorflow/serving/predict"):
        assert key in serving, key
    assert "signature_def['kerasgene_metadata']" in out and "outputs['json']" in out


def test_hand_encoded_inputs_parse_to_the_protobuf_request():
    """The client's requests (a reused head + :func:`encode_inputs`, payloads straight
    from the arrays' buffers) parse to the request protobuf builds: numeric dtypes,
    a non-contiguous slice, an empty array, a scalar, strings (through protobuf)."""
    rng = np.random.default_rng(0)
    arrays = {"sequence": rng.random((2, 300, 4), dtype=np.float32),
              "epigenome": np.arange(12, dtype=np.uint8).reshape(4, 3)[:, ::2],
              "empty": np.zeros((0, 3), np.float32), "scalar": np.float64(3.5),
              "flags": np.array([True, False]), "names": np.array(["a", "bc"])}
    ref = predict_pb2.PredictRequest()
    ref.model_spec.name, ref.model_spec.signature_name = "toy", "serving_default"
    ref.output_filter.append("expression")
    head = ref.SerializeToString()
    for k, a in arrays.items():
        fill_tensor_proto(ref.inputs[k], a)
    assert predict_pb2.PredictRequest.FromString(b"".join([head, *encode_inputs(arrays)])) == ref
    client = Client("127.0.0.1:1", "toy")  # no call is made
    assert predict_pb2.PredictRequest.FromString(client._request(arrays, ["expression"])) == ref
    client.close()


def test_export_refuses_bad_requests(tmp_path):
    model = toy_model()
    export(model, tmp_path, "m", version=1)
    with pytest.raises(ConfigError, match="exists"):
        export(model, tmp_path, "m", version=1)
    for bad in ("", "../x", "a/b", ".hidden", "x" * 200):
        with pytest.raises(ConfigError, match="model name"):
            export(model, tmp_path, bad)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="version"):
            export(model, tmp_path, "m", version=bad)
    with pytest.raises(ConfigError, match="JSON"):
        export(model, tmp_path, "m", metadata={"f": object()})
    assert sorted(os.listdir(tmp_path / "m")) == ["1"]


def test_export_concurrent_writers_get_distinct_versions(tmp_path):
    model = toy_model()
    out, errors = [], []

    def run():
        try:
            out.append(export(model, tmp_path, "m"))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(p.name for p in out) == ["1", "2", "3"]
    assert list_versions(tmp_path / "m") == [1, 2, 3]


def test_list_versions_ignores_partial_and_temporary(tmp_path):
    (tmp_path / "m" / ".tmp-export-abc").mkdir(parents=True)
    (tmp_path / "m" / ".tmp-export-abc" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "m" / "5").mkdir()  # integer name, no saved_model.pb yet
    (tmp_path / "m" / "notes").mkdir()
    assert list_versions(tmp_path / "m") == []
    assert list_versions(tmp_path / "missing") == []


# ----------------------------------------------------------------------------- serving
@pytest.mark.slow  # the model server process
@pytest.mark.parametrize("name", [f"reg_{n}" for n in models.names()] + ["toy", "toy_cls"])
def test_served_predictions_equal_model_predict(repo, server, name):
    _, built = repo
    target, _ = server
    model = built[name]
    inputs = random_inputs(model, 5, seed=3)
    with Client(target, name, timeout=60) as client:
        served = client.predict(inputs)
        meta = client.metadata()
        status = client.status()
    assert max_diff(served, reference(model, inputs)) < 1e-5
    sig = meta["signatures"]["serving_default"]
    assert set(sig["inputs"]) == {t.name for t in model.inputs}
    assert set(sig["outputs"]) == set(served)
    assert status == [{"version": 1, "state": "AVAILABLE", "error_code": 0, "error_message": ""}]


@pytest.mark.slow  # the model server process
def test_client_batches_large_requests_and_casts(repo, server):
    _, built = repo
    target, _ = server
    inputs = random_inputs(built["toy"], 300, seed=4)
    ref = reference(built["toy"], inputs)
    as64 = {k: v.astype(np.float64) for k, v in inputs.items()}
    with Client(target, "toy", batch_size=50, max_in_flight=3) as client:
        got = client.predict(as64)  # 6 requests, float64 cast to the signature's float32
        assert got["expression"].shape == (300, 1)
        assert max_diff(got, ref) < 1e-5
        assert client.constants()["preprocessing"] == {"log_base": 2}
    with Client(target, "toy", batch_size=1000) as client, \
            pytest.raises(ServingError, match="batch size 300 exceeds") as info:
        client.predict(inputs)
    assert info.value.code == "INVALID_ARGUMENT"
    with Client(target, "no_such_model") as client, pytest.raises(ServingError) as info:
        client.predict(inputs)
    assert info.value.code == "NOT_FOUND"


@pytest.mark.slow  # the model server process
def test_bad_requests_get_the_right_code_and_the_server_keeps_serving(repo, server, stubs):
    _, built = repo
    _, proc = server
    predict, model_service = stubs
    good = random_inputs(built["toy"], 2, seed=5)
    ref = reference(built["toy"], good)
    P = predict.Predict

    cases = [
        (predict_request("nope", good), C.NOT_FOUND, "'nope'"),
        (predict_request("toy", good, version=9), C.NOT_FOUND, "version 9"),
        (predict_request("toy", good, signature="serving_other"), C.INVALID_ARGUMENT,
         "serving_other"),
        (predict_request("toy", {"sequence": good["sequence"]}), C.INVALID_ARGUMENT,
         "missing input(s) ['epigenome']"),
        (predict_request("toy", {**good, "extra": good["sequence"]}), C.INVALID_ARGUMENT,
         "unexpected input(s) ['extra']"),
        (predict_request("toy", {**good, "epigenome": good["epigenome"].astype(np.float64)}),
         C.INVALID_ARGUMENT, "input 'epigenome': dtype DT_DOUBLE, expected DT_FLOAT"),
        (predict_request("toy", {**good, "sequence": np.zeros((2, 21, 4), np.float32)}),
         C.INVALID_ARGUMENT, "input 'sequence': shape (2, 21, 4), expected (?, 20, 4)"),
        (predict_request("toy", {**good, "sequence": np.zeros((2, 20), np.float32)}),
         C.INVALID_ARGUMENT, "input 'sequence'"),
        (predict_request("toy", {**good, "sequence": np.zeros((3, 20, 4), np.float32)}),
         C.INVALID_ARGUMENT, "batch size 3 differs"),
        (predict_request("toy", {k: np.zeros((MAX_BATCH + 1, *v.shape[1:]), np.float32)
                                 for k, v in good.items()}),
         C.INVALID_ARGUMENT, f"batch size {MAX_BATCH + 1} exceeds"),
        (predict_request("toy", {**good, "sequence": np.array(["ACGT"] * 2)}),
         C.INVALID_ARGUMENT, "input 'sequence': dtype DT_STRING"),
        (predict_request("empty", good), C.FAILED_PRECONDITION, "no servable version"),
        (predict_request("broken", good), C.FAILED_PRECONDITION, "no servable version"),
        (predict_request("", good), C.INVALID_ARGUMENT, "model_spec.name"),
    ]
    truncated = predict_request("toy", good)
    truncated.inputs["sequence"].tensor_content = truncated.inputs["sequence"].tensor_content[:-4]
    cases.append((truncated, C.INVALID_ARGUMENT, "input 'sequence': tensor_content"))
    expanding = predict_request("reg_isegnet", {})  # 1 value each for 64 x 100 x (4 | 7)
    for key, width in (("sequence", 4), ("epigenome", 7)):
        expanding.inputs[key].dtype = 1  # DT_FLOAT
        for d in (MAX_BATCH, 100, width):
            expanding.inputs[key].tensor_shape.dim.add(size=d)
        expanding.inputs[key].float_val.append(0.5)
    cases.append((expanding, C.INVALID_ARGUMENT, "expand"))
    filtered = predict_request("toy", good)
    filtered.output_filter.append("nonsense")
    cases.append((filtered, C.INVALID_ARGUMENT, "nonsense"))
    # a request above the message cap is refused by gRPC before it is parsed
    huge = {k: np.zeros((40_000, *v.shape[1:]), np.float32) for k, v in good.items()}
    cases.append((predict_request("toy", huge), C.RESOURCE_EXHAUSTED, ""))

    for request, code, words in cases:
        expect_code(P, request, code, words)
        answer = P(predict_request("toy", good), timeout=30)  # still serving, correctly
        got = {k: np.frombuffer(v.tensor_content, np.float32).reshape(ref[k].shape)
               for k, v in answer.outputs.items()}
        assert max_diff(got, ref) < 1e-5

    # typed value lists (float_val) are accepted as TF Serving accepts them
    listed = predict_request("toy", {})
    for k, v in good.items():
        listed.inputs[k].dtype = 1  # DT_FLOAT
        for d in v.shape:
            listed.inputs[k].tensor_shape.dim.add(size=d)
        listed.inputs[k].float_val.extend(v.ravel().tolist())
    answer = P(listed, timeout=30)
    got = np.frombuffer(answer.outputs["expression"].tensor_content, np.float32)
    np.testing.assert_allclose(got, ref["expression"].ravel(), atol=1e-5)

    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = "toy"
    expect_code(predict.GetModelMetadata, meta, C.INVALID_ARGUMENT, "metadata_field")
    meta.metadata_field.append("warmup")
    expect_code(predict.GetModelMetadata, meta, C.INVALID_ARGUMENT, "warmup")
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "nope"
    expect_code(model_service.GetModelStatus, status, C.NOT_FOUND, "'nope'")
    status.model_spec.name = "broken"
    (entry,) = model_service.GetModelStatus(status, timeout=30).model_version_status
    assert entry.version == 1 and entry.state == get_model_status_pb2.ModelVersionStatus.END
    assert entry.status.error_code != 0 and entry.status.error_message
    status.model_spec.name = "empty"
    assert len(model_service.GetModelStatus(status, timeout=30).model_version_status) == 0
    assert proc.poll() is None


@pytest.mark.slow  # the model server process
def test_new_version_is_served_without_restart(repo, server):
    base, built = repo
    target, proc = server
    old, new = built["hot"], toy_model(seed=11)
    inputs = random_inputs(old, 3, seed=6)
    ref_old, ref_new = reference(old, inputs), reference(new, inputs)
    assert max_diff(ref_old, ref_new) > 1e-3
    # a half-copied version (no saved_model.pb) and an exporter's temp dir are ignored
    (base / "hot" / "9").mkdir()
    (base / "hot" / ".tmp-export-x").mkdir()

    seen, failures, stop = set(), [], threading.Event()

    def hammer():  # requests keep succeeding while the version changes
        with Client(target, "hot") as client:
            while not stop.is_set():
                try:
                    got = client.predict(inputs)
                except ServingError as err:
                    failures.append(err)
                    continue
                if max_diff(got, ref_old) < 1e-5:
                    seen.add("old")
                elif max_diff(got, ref_new) < 1e-5:
                    seen.add("new")
                else:
                    failures.append(got)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        wait_for(lambda: "old" in seen, 30, "answers from version 1")
        export(new, base, "hot", version=2)
        with Client(target, "hot") as client:
            wait_for(lambda: any(s["version"] == 2 and s["state"] == "AVAILABLE"
                                 for s in client.status()), 60, "version 2 to load")
            wait_for(lambda: "new" in seen, 30, "answers from version 2")
            assert max_diff(client.predict(inputs), ref_new) < 1e-5
            states = {s["version"]: s["state"] for s in client.status()}
            assert states == {1: "END", 2: "AVAILABLE"}
        with Client(target, "hot", version=1) as client, pytest.raises(ServingError) as info:
            client.predict(inputs)
        assert info.value.code == "NOT_FOUND"
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures[:3]
    assert proc.poll() is None


@pytest.mark.slow  # the model server process
def test_load_10000_mixed_requests_from_8_threads(repo, server, stubs):
    _, built = repo
    _, proc = server
    predict, _ = stubs
    model = built["toy"]
    rng = np.random.default_rng(7)
    goods = []
    for i in range(40):
        inputs = random_inputs(model, int(rng.integers(1, 5)), seed=100 + i)
        goods.append((predict_request("toy", inputs), reference(model, inputs)["expression"]))
    g = random_inputs(model, 2, seed=99)
    bads = [
        (predict_request("nope", g), C.NOT_FOUND),
        (predict_request("toy", g, signature="x"), C.INVALID_ARGUMENT),
        (predict_request("toy", {"sequence": g["sequence"]}), C.INVALID_ARGUMENT),
        (predict_request("toy", {**g, "epigenome": g["epigenome"].astype(np.float64)}),
         C.INVALID_ARGUMENT),
        (predict_request("toy", {**g, "sequence": np.zeros((2, 19, 4), np.float32)}),
         C.INVALID_ARGUMENT),
        (predict_request("toy", {k: np.zeros((MAX_BATCH + 5, *v.shape[1:]), np.float32)
                                 for k, v in g.items()}), C.INVALID_ARGUMENT),
        (predict_request("empty", g), C.FAILED_PRECONDITION),
    ]
    n_requests, n_threads = 10_000, 8
    counts = {"good": 0, "bad": 0}
    problems: list = []
    lock = threading.Lock()

    def worker(tid: int):
        local = {"good": 0, "bad": 0}
        for i in range(tid, n_requests, n_threads):
            if i % 4 == 3:
                request, code = bads[(i // 4) % len(bads)]
                try:
                    predict.Predict(request, timeout=60)
                    problems.append(("bad request answered", i))
                except grpc.RpcError as err:
                    if err.code() != code:
                        problems.append((i, err.code(), err.details()))
                local["bad"] += 1
            else:
                request, expected = goods[i % len(goods)]
                try:
                    answer = predict.Predict(request, timeout=60)
                except grpc.RpcError as err:
                    problems.append((i, err.code(), err.details()))
                    continue
                got = np.frombuffer(answer.outputs["expression"].tensor_content, np.float32)
                if got.shape != (expected.size,) or np.max(np.abs(got - expected.ravel())) >= 1e-5:
                    problems.append(("wrong answer", i))
                local["good"] += 1
        with lock:
            for k in counts:
                counts[k] += local[k]

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    elapsed = time.perf_counter() - start
    assert not problems, problems[:5]
    assert counts == {"good": 7500, "bad": 2500}
    assert proc.poll() is None, "the server crashed"
    with Client(server[0], "toy") as client:
        assert client.status()[0]["state"] == "AVAILABLE"
    print(f"10,000 mixed requests from 8 threads in {elapsed:.1f} s")


@pytest.mark.slow  # a model server process
def test_model_config_file_and_sigterm_in_process(repo, tmp_path):
    """A server from a models.config (absolute and relative base_path, version policy),
    run by serve_forever in this process, answers, then returns 0 on SIGTERM.
    (The module's server process is stopped by SIGTERM too, and must exit with 0.)"""
    from kerasgene.serving.server import Server, serve_forever

    base, built = repo
    config = tmp_path / "models.config"
    config.write_text(
        'model_config_list {\n'
        f'  config {{ name: "renamed" base_path: "{base / "toy"}" model_platform: "tensorflow" }}\n'
        '  config { name: "rel" base_path: "models_rel/toy_cls"\n'
        '           model_version_policy { specific { versions: 1 } } }\n'
        '}\n')
    (tmp_path / "models_rel").mkdir()
    shutil.copytree(base / "toy_cls", tmp_path / "models_rel" / "toy_cls")
    server = Server(model_config_file=config, port=0, poll_seconds=0)
    results, ready = {}, threading.Event()

    def exercise():
        try:
            ready.wait(120)
            target = f"127.0.0.1:{server.port}"
            inputs = random_inputs(built["toy"], 4)
            with Client(target, "renamed") as client:
                results["renamed"] = max_diff(client.predict(inputs),
                                              reference(built["toy"], inputs))
            x = random_inputs(built["toy_cls"], 2)
            with Client(target, "rel") as client:
                results["rel"] = max_diff(client.predict(x), reference(built["toy_cls"], x))
            with Client(target, "toy") as client:
                try:
                    client.status()
                except ServingError as err:
                    results["toy"] = err.code  # only the configured names are served
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=exercise)
    thread.start()
    before = signal.getsignal(signal.SIGTERM)
    assert serve_forever(server, on_ready=lambda s: ready.set()) == 0
    thread.join(60)
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored
    assert results["renamed"] < 1e-5 and results["rel"] < 1e-5
    assert results["toy"] == "NOT_FOUND"


def test_docker_compose_config_validates():
    """Debian's docker-compose 1.29 (installed by .ci/run / the Makefile) validates the
    deployment file without a Docker engine, and rejects a misspelt key."""
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed (apt-get install --no-install-recommends docker-compose)"
    compose = ROOT / "serving" / "docker-compose.yml"
    ok = subprocess.run([exe, "-f", str(compose), "config"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "tensorflow/serving:" in ok.stdout and "-gpu" in ok.stdout
    assert "capabilities:" in ok.stdout and "- gpu" in ok.stdout
    assert "8500" in ok.stdout and "8501" in ok.stdout


def test_docker_compose_rejects_a_misspelt_key(tmp_path):
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed"
    for name in ("models.config", "batching.config"):
        shutil.copy(ROOT / "serving" / name, tmp_path / name)
    text = (ROOT / "serving" / "docker-compose.yml").read_text()
    (tmp_path / "docker-compose.yml").write_text(text.replace("restart:", "restrat:"))
    bad = subprocess.run([exe, "-f", str(tmp_path / "docker-compose.yml"), "config"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "restrat" in (bad.stderr + bad.stdout)


def test_deployment_configs_parse():
    from kerasgene.serving.repository import read_model_config

    entries = read_model_config(ROOT / "serving" / "models.config")
    assert [e.name for e in entries] == models.names()
    assert all(str(e.base_path) == f"/models/{e.name}" for e in entries)
    remapped = read_model_config(ROOT / "serving" / "models.config", "/srv/m")
    assert str(remapped[0].base_path) == "/srv/m/isegnet"
    # batching.config: only BatchingParameters fields, max_batch_size = last allowed size
    fields = {}
    for line in (ROOT / "serving" / "batching.config").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            key = line.split("{")[0].split(":")[0].strip()
            fields.setdefault(key, []).append(line)
    assert set(fields) <= {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                           "num_batch_threads", "allowed_batch_sizes",
                           "pad_variable_length_inputs", "thread_pool_name"}
    max_batch = int(fields["max_batch_size"][0].split("value:")[1].strip(" }"))
    assert int(fields["allowed_batch_sizes"][-1].split(":")[1]) == max_batch


# ----------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kerasgene")
    commands.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_export_from_run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    model = toy_model()
    model.save(run / "model.keras")
    (run / "preprocessing.json").write_text('{"log_base": 10}')
    records.record_run(run)  # a model trained outside `kerasgene train`
    args = _parser().parse_args(["export", "--run", str(run), "--base-dir",
                                 str(tmp_path / "m"), "--name", "toy"])
    assert args.func(args) == 0
    assert read_constants(tmp_path / "m" / "toy" / "1")["preprocessing"] == {"log_base": 10}
    args = _parser().parse_args(["export", "--run", str(tmp_path / "nothing"), "--base-dir",
                                 str(tmp_path / "m"), "--name", "toy"])
    with pytest.raises(Exception, match="not found"):
        args.func(args)


def _write_gene_files(tmp_path, rng):
    from conftest import write_fasta

    from kerasgene.io.tracks import write_bigwig

    size = 3000
    seq = "".join(rng.choice(list("ACGT"), size))
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": seq})
    dnase = np.round(rng.gamma(2.0, 2.0, size), 2)
    wgbs = np.round(rng.uniform(0, 100, size), 1)
    write_bigwig(tmp_path / "dnase.bw", {"chr1": size}, {"chr1": dnase})
    write_bigwig(tmp_path / "wgbs.bw", {"chr1": size}, {"chr1": wgbs})
    rows = [("g1", 200, 900, "+"), ("g2", 1000, 1600, "-"), ("g3", 10, 400, "-"),
            ("g4", 2500, 2990, "+"), ("g5", 1400, 2300, "+")]
    with open(tmp_path / "genes.gtf", "w") as fh:
        for gid, lo, hi, strand in rows:
            fh.write(f'chr1\tt\tgene\t{lo + 1}\t{hi}\t.\t{strand}\t.\tgene_id "{gid}"; '
                     f'gene_name "N{gid}"; gene_type "protein_coding";\n')
    return fasta, tmp_path / "genes.gtf"


@pytest.mark.slow  # the model server process
def test_cli_predict_genes_writes_tsv(repo, server, tmp_path, rng):
    import pandas as pd

    from kerasgene.datasets.windows import extract_regions
    from kerasgene.io.annotation import read_gtf
    from kerasgene.io.genome import Genome
    from kerasgene.io.tracks import TrackSet

    base, _ = repo
    target, _ = server
    fasta, gtf = _write_gene_files(tmp_path, rng)
    tss_flank, tts_flank = [30, 20], [20, 30]
    transforms = {"DNase": {"name": "neglog10p", "resolution": 20}, "WGBS": "percent"}
    model = models.build("isegnet", **{**SMALL["isegnet"], "n_tracks": 2})
    export(model, base, "genes", metadata={
        "tss_flank": tss_flank, "tts_flank": tts_flank, "track_names": ["DNase", "WGBS"],
        "transforms": transforms, "log_base": 2, "pseudocount": 1})
    with Client(target, "genes") as client:
        wait_for(lambda: _available(client), 60, "model 'genes' to load")

    out = tmp_path / "pred.tsv"
    args = _parser().parse_args([
        "predict", "--target", target, "--model", "genes", "--genes", str(gtf),
        "--genome", fasta, "--track", f"WGBS={tmp_path / 'wgbs.bw'}",
        "--track", f"DNase={tmp_path / 'dnase.bw'}", "--out", str(out)])
    assert args.func(args) == 0
    table = pd.read_csv(out, sep="\t")
    assert list(table.columns) == ["gene_id", "gene_name", "chrom", "start", "end", "strand",
                                   "expression", "tpm"]
    assert list(table.gene_id) == ["g1", "g2", "g3", "g4", "g5"]

    genes = read_gtf(gtf)
    with Genome(fasta) as genome, TrackSet({
            "DNase": (tmp_path / "dnase.bw", transforms["DNase"]),
            "WGBS": (tmp_path / "wgbs.bw", transforms["WGBS"])}) as ts:
        seq, epi = extract_regions(genes, genome, ts, tss_flank, tts_flank)
    ref = reference(model, {"sequence": seq.astype(np.float32), "epigenome": epi})
    np.testing.assert_allclose(table.expression, ref["expression"][:, 0], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(table.tpm, 2.0 ** table.expression - 1, rtol=1e-4, atol=1e-5)

    # a gene list needs the annotation; missing tracks are named
    (tmp_path / "ids.txt").write_text("g2\nNg4\n")
    args = _parser().parse_args([
        "predict", "--target", target, "--model", "genes", "--genes", str(tmp_path / "ids.txt"),
        "--annotation", str(gtf), "--genome", fasta, "--track", f"DNase={tmp_path / 'dnase.bw'}",
        "--out", str(tmp_path / "p2.tsv")])
    with pytest.raises(ConfigError, match=r"missing \['WGBS'\]"):
        args.func(args)
    assert not (tmp_path / "p2.tsv").exists()
    args.track.append(f"WGBS={tmp_path / 'wgbs.bw'}")
    assert args.func(args) == 0
    two = pd.read_csv(tmp_path / "p2.tsv", sep="\t")
    assert list(two.gene_id) == ["g2", "g4"]
    np.testing.assert_allclose(two.expression, table.expression.iloc[[1, 3]], atol=1e-6)

    # an NCBI-named genome and a gzip GFF3 reach the same predictions through an alias table
    import gzip

    from conftest import write_fasta

    with Genome(fasta) as genome:
        ncbi = write_fasta(tmp_path / "ncbi.fa", {"NC_000001.11": genome.fetch("chr1", 0, 3000)})
    aliases = tmp_path / "chromAlias.txt"
    aliases.write_text("# ucsc\tassembly\tgenbank\trefseq\nchr1\t1\tCM000663.2\tNC_000001.11\n")
    with gzip.open(tmp_path / "genes.gff3.gz", "wt") as fh:
        fh.write("##gff-version 3\n" + "".join(
            f"chr1\tt\tgene\t{g.start + 1}\t{g.end}\t.\t{g.strand}\t.\tID=gene:{g.id};"
            f"Name={g.name};gene_id={g.id};biotype=protein_coding\n" for g in genes))
    args = _parser().parse_args([
        "predict", "--target", target, "--model", "genes", "--genes",
        str(tmp_path / "genes.gff3.gz"), "--genome", ncbi, "--chrom-aliases", str(aliases),
        "--track", f"WGBS={tmp_path / 'wgbs.bw'}", "--track", f"DNase={tmp_path / 'dnase.bw'}",
        "--out", str(tmp_path / "p3.tsv")])
    assert args.func(args) == 0
    three = pd.read_csv(tmp_path / "p3.tsv", sep="\t")
    np.testing.assert_allclose(three.expression, table.expression, atol=1e-6)


def _available(client: Client) -> bool:
    try:
        return any(s["state"] == "AVAILABLE" for s in client.status())
    except ServingError:
        return False
