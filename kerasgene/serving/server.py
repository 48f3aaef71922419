"""A TensorFlow-Serving-compatible gRPC server for development, tests and laptops.

Production runs the official ``tensorflow/serving`` GPU image (``serving/`` at the top
level). Its binary cannot be installed here, so this module implements the part of its
gRPC API the client uses, with the official ``tensorflow-serving-api`` messages:

- ``tensorflow.serving.PredictionService/Predict`` and ``/GetModelMetadata``
- ``tensorflow.serving.ModelService/GetModelStatus``

(Classify, Regress, MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED.)

Models (:mod:`kerasgene.serving.repository`)
--------------------------------------------
``model_base_path`` is a model repository as written by :func:`kerasgene.serving.export`:
one directory per model, one integer-named SavedModel directory per version. Every model
found there is served; new models and versions appearing while the server runs are
picked up by a poll every ``poll_seconds`` (TF Serving's
``--file_system_poll_wait_seconds``, default 1 s). A ``models.config`` file
(``ModelServerConfig`` text proto, as given to ``tensorflow_model_server
--model_config_file``) restricts and names the models instead; its ``base_path`` entries
are used as given, resolved against the config file's directory when relative, or, when
``model_base_path`` is also given, replaced by ``model_base_path/<last part of
base_path>`` (so ``serving/models.config``, written for the ``/models`` mount of the
container, serves a local export directory). ``model_version_policy`` (latest N, all,
specific) and ``version_labels`` are honoured; the default is the newest version only,
as in TF Serving. A new version is loaded before the old one is released, so requests
never see a gap; a version that fails to load is reported by GetModelStatus and the
previous one keeps serving.

Status codes (chosen to match TF Serving where it has a rule)
------------------------------------------------------------
=====================  ==============================================================
NOT_FOUND              unknown model; requested version or label not loaded
FAILED_PRECONDITION    the model is known (configured or its directory exists) but has
                       no servable version (none exported yet, or every load failed)
INVALID_ARGUMENT       unknown signature; missing or unexpected input (named); wrong
                       dtype or shape (input named, expected vs received); inputs with
                       different batch sizes; a NaN or infinite value (input, count
                       and first position named); malformed tensor payload; a typed
                       value list of other than the shape's count of values (or one
                       value, which fills the shape; TF Serving pads shorter lists);
                       an empty batch; batch larger
                       than ``max_batch_size`` (TF Serving's batcher says
                       INVALID_ARGUMENT for a task larger than its maximum batch);
                       unknown output in ``output_filter``; empty model name;
                       GetModelMetadata without ``metadata_field: "signature_def"``
RESOURCE_EXHAUSTED     message larger than ``max_message_bytes`` (rejected by gRPC
                       before it is parsed); more than ``max_concurrent_rpcs`` calls
                       in flight
INTERNAL               the model raised while running (the server keeps serving)
=====================  ==============================================================

Safety: a request is parsed as protobuf messages only; tensors are decoded from their
typed fields (``tensor_content`` or the ``*_val`` lists) after their dtype, rank, shape
and payload size have been checked against the signature. Nothing in a request is
unpickled, evaluated or used as a path. The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import logging
import math
import signal
import socket
import threading
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from kerasgene.errors import ConfigError
from kerasgene.serving.client import fill_tensor_proto
from kerasgene.serving.protocol import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_SIGNATURE, nonfinite
from kerasgene.serving.repository import ModelRepository, RpcError, TensorSpec

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_SIZE = 1024
_State = get_model_status_pb2.ModelVersionStatus.State
# tensorflow.error.Code values used in StatusProto (error_codes.proto)
_TF_OK, _TF_UNKNOWN = 0, 2

#: request dtypes decoded from tensor_content (fixed-size numeric types)
_NUMERIC = {
    types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_HALF, types_pb2.DT_BFLOAT16,
    types_pb2.DT_INT8, types_pb2.DT_INT16, types_pb2.DT_INT32, types_pb2.DT_INT64,
    types_pb2.DT_UINT8, types_pb2.DT_UINT16, types_pb2.DT_UINT32, types_pb2.DT_UINT64,
    types_pb2.DT_BOOL,
}


#: the typed value list of each request dtype (TensorProto fields)
_VALUE_FIELDS = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_HALF: "half_val", types_pb2.DT_BFLOAT16: "half_val",
    types_pb2.DT_INT8: "int_val", types_pb2.DT_INT16: "int_val", types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val", types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val", types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val", types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
}


def _dtype_name(enum: int) -> str:
    try:
        return types_pb2.DataType.Name(enum)
    except ValueError:
        return f"dtype #{enum}"


# ------------------------------------------------------------------------------ tensors
def _decode_input(
    name: str, proto: tensor_pb2.TensorProto, spec: TensorSpec, max_bytes: int
) -> np.ndarray:
    """Check one request tensor against its signature entry and decode it."""
    if proto.dtype != spec.dtype:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input {name!r}: dtype {_dtype_name(proto.dtype)}, expected {_dtype_name(spec.dtype)}",
        )
    if proto.tensor_shape.unknown_rank:
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r}: shape has unknown rank")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if spec.shape is not None:
        expected = "(" + ", ".join("?" if s < 0 else str(s) for s in spec.shape) + ")"
        if len(shape) != len(spec.shape) or any(
            e >= 0 and s != e for s, e in zip(shape, spec.shape, strict=False)
        ):
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {name!r}: shape {shape}, expected {expected}",
            )
    if any(s < 0 for s in shape):
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r}: negative dimension {shape}")
    count = math.prod(shape)
    if proto.dtype in _NUMERIC:
        np_dtype = tf.as_dtype(proto.dtype).as_numpy_dtype
        nbytes = count * np.dtype(np_dtype).itemsize
        if nbytes > max_bytes:
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {name!r}: {nbytes} bytes exceeds the limit of {max_bytes}",
            )
        if proto.tensor_content:
            if len(proto.tensor_content) != nbytes:
                raise RpcError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"input {name!r}: tensor_content has {len(proto.tensor_content)} bytes, "
                    f"shape {shape} of {_dtype_name(proto.dtype)} needs {nbytes}",
                )
            return np.frombuffer(proto.tensor_content, dtype=np_dtype).reshape(shape)
        _check_value_count(name, proto, shape, count)
        # one value fills the shape: refuse a tiny request that would expand into a
        # large allocation
        if nbytes > max(1 << 16, 8 * proto.ByteSize()):
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {name!r}: {proto.ByteSize()} bytes of values would expand to "
                f"{nbytes} bytes for shape {shape}; send the full tensor (tensor_content)",
            )
    elif proto.dtype != types_pb2.DT_STRING:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input {name!r}: dtype {_dtype_name(proto.dtype)} is not accepted",
        )
    else:
        _check_value_count(name, proto, shape, count)
        if count > max(1024, 8 * len(proto.string_val)):
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"input {name!r}: {len(proto.string_val)} strings for shape {shape}",
            )
    try:
        return tf.make_ndarray(proto)  # typed value lists (float_val, string_val, ...)
    except Exception as err:  # malformed payload of any kind
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT, f"input {name!r}: malformed tensor ({err})"
        ) from None


def _check_value_count(name: str, proto: tensor_pb2.TensorProto, shape: tuple,
                       count: int) -> None:
    """Refuse a typed value list (``float_val``, ``string_val``, ...) of other than
    ``count`` values or one value.

    TensorFlow (and so TF Serving) fills the rest of a shorter list with its last value,
    or with zeros when it is empty: a truncated request was predicted from silently. One
    value filling the whole shape (``tf.make_tensor_proto(0.0, shape=...)``) stays
    accepted.

    Raises
    ------
    RpcError
        INVALID_ARGUMENT naming the input, the number of values given and expected.
    """
    field = _VALUE_FIELDS[proto.dtype]
    given = len(getattr(proto, field))
    if given != count and given != 1:
        raise RpcError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input {name!r}: {given} values in {field} for shape {shape}; expected "
            f"{count} (or 1 to fill the shape)",
        )


# ------------------------------------------------------------------------------ services
def _guard(method):
    """Turn RpcError into a status and any other exception into INTERNAL."""

    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except RpcError as err:
            context.abort(err.code, err.message)
        except tf.errors.InvalidArgumentError as err:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, err.message)
        except tf.errors.ResourceExhaustedError as err:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, err.message)
        except Exception as err:
            log.exception("%s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}")

    wrapper.__name__ = method.__name__
    return wrapper


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over a :class:`ModelRepository`."""

    def __init__(self, repo: ModelRepository, max_batch_size: int, max_tensor_bytes: int):
        self.repo = repo
        self.max_batch_size = max_batch_size
        self.max_tensor_bytes = max_tensor_bytes

    @_guard
    def Predict(self, request, context):
        version = self.repo.resolve(request.model_spec)
        sig_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        sig = version.signatures.get(sig_name)
        if sig is None:
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"signature {sig_name!r} not found in model {request.model_spec.name!r} "
                f"(signatures: {sorted(version.signatures)})",
            )
        sent, wanted = set(request.inputs), set(sig.inputs)
        if sent != wanted:
            parts = []
            if wanted - sent:
                parts.append(f"missing input(s) {sorted(wanted - sent)}")
            if sent - wanted:
                parts.append(f"unexpected input(s) {sorted(sent - wanted)}")
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"signature {sig_name!r}: {'; '.join(parts)} (expected {sorted(wanted)})",
            )
        arrays, batch = {}, None
        for key in sorted(sig.inputs):
            spec = sig.inputs[key]
            arr = _decode_input(key, request.inputs[key], spec, self.max_tensor_bytes)
            why = nonfinite(key, arr)
            if why:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, why)
            if spec.shape and spec.shape[0] < 0:
                if arr.shape[0] == 0:
                    raise RpcError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"input {key!r}: an empty batch, shape {arr.shape}; expected at "
                        "least one example",
                    )
                if arr.shape[0] > self.max_batch_size:
                    raise RpcError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"input {key!r}: batch size {arr.shape[0]} exceeds the server's "
                        f"maximum of {self.max_batch_size}; split the request",
                    )
                if batch is not None and arr.shape[0] != batch[1]:
                    raise RpcError(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"input {key!r}: batch size {arr.shape[0]} differs from input "
                        f"{batch[0]!r} ({batch[1]})",
                    )
                batch = (key, arr.shape[0])
            arrays[key] = arr
        wanted_out = list(request.output_filter) or sig.outputs
        unknown = sorted(set(wanted_out) - set(sig.outputs))
        if unknown:
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"output_filter: unknown output(s) {unknown} (outputs: {sig.outputs})",
            )
        result = sig.fn(**{k: tf.constant(a) for k, a in arrays.items()})
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version.number
        response.model_spec.signature_name = sig_name
        for key in wanted_out:
            fill_tensor_proto(response.outputs[key], result[key].numpy())
        return response

    @_guard
    def GetModelMetadata(self, request, context):
        fields = list(request.metadata_field)
        if not fields:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                           "metadata_field is empty; ask for 'signature_def'")
        bad = [f for f in fields if f != "signature_def"]
        if bad:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"metadata field(s) {bad} not supported; only 'signature_def'")
        version = self.repo.resolve(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version.number
        response.metadata["signature_def"].Pack(version.signature_defs)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus over a :class:`ModelRepository`."""

    def __init__(self, repo: ModelRepository):
        self.repo = repo

    @_guard
    def GetModelStatus(self, request, context):
        response = get_model_status_pb2.GetModelStatusResponse()
        for v in self.repo.statuses(request.model_spec):
            s = response.model_version_status.add()
            s.version = v.number
            s.state = v.state
            s.status.error_code = _TF_UNKNOWN if v.error else _TF_OK
            s.status.error_message = v.error
        return response


# ------------------------------------------------------------------------------ server
def _check_options(port: int, poll_seconds: float, counts: dict[str, int]) -> None:
    """Refuse option values that gRPC or the poll loop would silently turn into others.

    gRPC takes a port modulo 65536 (-1 listened on 65535, 65536 on a random free port),
    a ``maximum_concurrent_rpcs`` of 0 or less answers every call RESOURCE_EXHAUSTED,
    and a negative or NaN ``poll_seconds`` never polled.

    Parameters
    ----------
    port : int
        The port to listen on (0: any free port).
    poll_seconds : float
        Seconds between polls of the model repository (0: never).
    counts : dict
        Option name → a value that must be an integer >= 1.

    Raises
    ------
    ConfigError
        One line naming the first bad option, its value and what was expected.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"serve: port must be an integer from 0 to 65535 (0: any free port; "
                          f"got {port!r})")
    if not 0 <= poll_seconds < math.inf:
        raise ConfigError(f"serve: poll_seconds must be a finite number of seconds >= 0 "
                          f"(0: never look for new versions; got {poll_seconds})")
    for name, value in counts.items():
        if value < 1:
            raise ConfigError(f"serve: {name} must be >= 1 (got {value})")


def _bind_error(host: str, port: int) -> str | None:
    """Why this process cannot bind ``port`` on every address ``host`` resolves to, as
    the system says it (``Address already in use on 127.0.0.1``), or None.

    gRPC listens on the addresses it can bind and fails only when it binds none:
    ``localhost`` with 127.0.0.1 held by another server listened on [::1] alone, and
    clients of 127.0.0.1 reached the other server. Its own message only says it failed.
    """
    try:
        resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                      flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return f"cannot resolve host {host!r}: {err.strerror}"
    for family, kind, proto, _, address in resolved:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does
            try:
                probe.bind(address)
            except OSError as err:
                return f"{err.strerror} on {address[0]} (port {port})"
    return None


class Server:
    """The gRPC server with its model repository and poll thread.

    Parameters
    ----------
    model_base_path, model_config_file : see :class:`ModelRepository`
    host, port : where to listen; port 0 picks a free port (see :attr:`port`)
    poll_seconds : how often to look for new models and versions (0: never)
    max_batch_size : largest batch one Predict may carry
    max_message_bytes : largest request or response (gRPC message limits)
    max_workers : threads answering RPCs
    max_concurrent_rpcs : calls in flight beyond which gRPC answers RESOURCE_EXHAUSTED
    load_threads : model versions loaded concurrently
    allow_empty : start even when the first poll finds no servable version (exports made
        later are picked up); when false, :meth:`start` raises :class:`ConfigError`
    """

    def __init__(
        self,
        model_base_path=None,
        model_config_file=None,
        *,
        host: str = "127.0.0.1",
        port: int = 8500,
        poll_seconds: float = 1.0,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_workers: int = 8,
        max_concurrent_rpcs: int = 64,
        load_threads: int = 2,
        allow_empty: bool = True,
    ):
        _check_options(port, poll_seconds, {
            "max_batch_size": max_batch_size, "max_workers": max_workers,
            "max_concurrent_rpcs": max_concurrent_rpcs, "load_threads": load_threads})
        if not 1 <= max_message_bytes < (1 << 31):
            raise ConfigError(
                f"serve: max_message_bytes must be in [1, 2**31) (got {max_message_bytes})")
        self.repo = ModelRepository(model_base_path, model_config_file, load_threads)
        self.host, self.poll_seconds = host, poll_seconds
        self.allow_empty = allow_empty
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="serve"),
            options=options,
            maximum_concurrent_rpcs=max_concurrent_rpcs,
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionService(self.repo, max_batch_size, max_message_bytes), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelService(self.repo), self._server
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        reason = _bind_error(host, port) if port else None  # before gRPC binds a part
        if reason is None:
            try:
                self.port = self._server.add_insecure_port(address)
            except RuntimeError as err:
                reason = str(err)
            else:
                reason = None if self.port else _bind_error(host, port) or "address in use?"
        if reason is not None:
            raise ConfigError(f"serve: cannot listen on {address} ({reason}); "
                              "expected a free port (--port, or 0 for any)")

    def start(self) -> Server:
        """Load the models, start answering and start polling; returns ``self``.

        Raises
        ------
        ConfigError
            nothing is servable after loading and ``allow_empty`` is false (a wrong
            ``--model-base-path``, no export yet, or every version failed to load); with
            ``allow_empty`` this is a warning and the server waits for exports.
        """
        self.repo.poll()
        if not any(self.repo.servable().values()):
            why = self.repo.describe_empty()
            if not self.allow_empty:
                self._server.stop(0)
                raise ConfigError(f"serve: {why}; pass --allow-empty to start anyway and "
                                  "serve exports made later")
            log.warning("serve: %s; serving nothing until a model is exported there", why)
        self._server.start()
        if self.poll_seconds > 0:
            self._poller = threading.Thread(target=self._poll_loop, name="poll", daemon=True)
            self._poller.start()
        log.info("serving %s on %s:%d", self.repo.names(), self.host, self.port)
        return self

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.repo.poll()
            except Exception:  # a bad directory entry must not end polling
                log.exception("model poll failed")

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting calls, let calls in flight finish (``grace`` s), stop polling."""
        self._stop.set()
        self._server.stop(grace).wait()
        if self._poller is not None:
            self._poller.join(timeout=60)

    def wait(self) -> None:
        self._server.wait_for_termination()


def serve_forever(server: Server, on_ready=None) -> int:
    """Start ``server`` and block until SIGTERM or SIGINT; then stop cleanly; return 0."""
    done = threading.Event()
    previous = {}

    def handler(signum, frame):
        log.info("received signal %d, shutting down", signum)
        done.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        server.start()
        if on_ready is not None:
            on_ready(server)
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, h in previous.items():
            signal.signal(sig, h)
    return 0
