"""gRPC client of TensorFlow Serving (and of ``kerasgene serve``), official stubs only.

>>> from kerasgene.serving import Client                          # doctest: +SKIP
>>> with Client("127.0.0.1:8500", "isegnet") as c:                 # doctest: +SKIP
...     out = c.predict({"sequence": seq, "epigenome": epi})       # (N, 2500, 4), (N, 2500, 7)
...     out["expression"].shape
(N, 1)

Large requests are split along the batch axis into chunks of at most ``batch_size``
examples and ``max_message_bytes`` bytes, and up to ``max_in_flight`` chunks are sent
concurrently (the next chunk is serialised while the server computes the previous one).
Arrays are cast to the signature's dtypes (read once from GetModelMetadata), so float64
or uint8 one-hot arrays may be passed; an input holding NaN or infinite values is refused
before it is sent. Failures raise :class:`ServingError` whose
``code`` is the gRPC status name.

:meth:`Client.predict_genes` builds iSEGnet's inputs from genomic coordinates with the
preprocessing constants stored in the export (signature ``kerasgene_metadata``, the same
document as ``assets/kerasgene.json``), so client and training read windows alike
(:mod:`kerasgene.serving.gene_inputs`).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tqdm.auto import tqdm

from kerasgene._io import write_atomic
from kerasgene.errors import ConfigError, InputFileError, shown
from kerasgene.serving import gene_inputs as gi
from kerasgene.serving.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_SIGNATURE,
    METADATA_SIGNATURE,
    ServingError,
    nonfinite,
)

log = logging.getLogger(__name__)


_NP_TO_DT = {
    np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.float16): types_pb2.DT_HALF, np.dtype(np.int8): types_pb2.DT_INT8,
    np.dtype(np.int16): types_pb2.DT_INT16, np.dtype(np.int32): types_pb2.DT_INT32,
    np.dtype(np.int64): types_pb2.DT_INT64, np.dtype(np.uint8): types_pb2.DT_UINT8,
    np.dtype(np.uint16): types_pb2.DT_UINT16, np.dtype(np.uint32): types_pb2.DT_UINT32,
    np.dtype(np.uint64): types_pb2.DT_UINT64, np.dtype(np.bool_): types_pb2.DT_BOOL,
}
_DT_TO_NP = {v: k for k, v in _NP_TO_DT.items()}
_NP_NAMES = {d.name: d for d in _NP_TO_DT}
#: the full name of TF Serving's Predict method (as in prediction_service_pb2_grpc)
_PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
_STATES = {v: k for k, v in get_model_status_pb2.ModelVersionStatus.State.items()}
#: HOST:PORT, the host a name, an IPv4 address or a bracketed IPv6 address
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
#: the gRPC name-resolver schemes a target may start with instead
_GRPC_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")


def check_target(target: str) -> str:
    """Return ``target`` if it is a gRPC endpoint: HOST:PORT, or a target starting with a
    gRPC resolver scheme (``dns:///host:port``, ``unix:/path``, ...).

    gRPC takes a target without a port to mean port 443, and reports a URL
    (``http://host:8500``) or a stray character only once a call fails, as UNAVAILABLE.

    Raises
    ------
    ConfigError
        One line naming the target and what was expected.
    """
    if isinstance(target, str) and target.startswith(_GRPC_SCHEMES):
        return target
    match = _HOST_PORT.match(target) if isinstance(target, str) else None
    if match is None or not 1 <= int(match.group(1)) <= 65535:
        raise ConfigError(f"Client: target {target!r}: expected HOST:PORT of a gRPC endpoint "
                          "(e.g. 127.0.0.1:8500, [::1]:8500; no scheme such as http://, no "
                          "path; a port from 1 to 65535)")
    return target


def fill_tensor_proto(proto: tensor_pb2.TensorProto, array: np.ndarray) -> None:
    """Write ``array`` into ``proto`` in place (numeric: one copy into
    ``tensor_content``; other dtypes through ``tf.make_tensor_proto``)."""
    array = np.asarray(array)
    dt = _NP_TO_DT.get(array.dtype)
    if dt is None:
        import tensorflow as tf

        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    proto.dtype = dt
    for s in array.shape:
        proto.tensor_shape.dim.add(size=int(s))
    proto.tensor_content = np.ascontiguousarray(array).tobytes()


def make_tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """TensorProto of an array (see :func:`fill_tensor_proto`)."""
    proto = tensor_pb2.TensorProto()
    fill_tensor_proto(proto, array)
    return proto


def make_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """ndarray of a TensorProto (``tensor_content`` without a copy when possible)."""
    dt = _DT_TO_NP.get(proto.dtype)
    if dt is not None and proto.tensor_content:
        shape = [d.size for d in proto.tensor_shape.dim]
        return np.frombuffer(proto.tensor_content, dtype=dt).reshape(shape)
    import tensorflow as tf

    return tf.make_ndarray(proto)


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _length_prefix(field: int, length: int) -> bytes:
    """Tag and length of a length-delimited protobuf field (wire type 2)."""
    return _varint(field << 3 | 2) + _varint(length)


def encode_inputs(arrays: Mapping[str, np.ndarray]) -> list:
    """The serialised ``inputs`` map of a ``PredictRequest`` as pieces to join: numeric
    arrays as ``tensor_content`` straight from their buffer (a memoryview; the one copy is
    the join), other dtypes through :func:`make_tensor_proto`. Protobuf merges
    concatenated fields, so ``b"".join(pieces)`` appended to a serialised request without
    inputs is that request with them; tests/test_serving.py checks it parses to the
    request :func:`fill_tensor_proto` builds."""
    pieces: list = []
    for key, array in arrays.items():
        a = np.asarray(array)
        dt = _NP_TO_DT.get(a.dtype)
        if dt is None:
            body = [make_tensor_proto(a).SerializeToString()]
        else:
            head = tensor_pb2.TensorProto(dtype=dt)
            for n in a.shape:
                head.tensor_shape.dim.add(size=int(n))
            content = memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
            body = [head.SerializeToString(), _length_prefix(4, a.nbytes), content]
        size = sum(len(b) for b in body)
        name = key.encode()
        key_field = _length_prefix(1, len(name)) + name
        value_field = _length_prefix(2, size)
        entry = len(key_field) + len(value_field) + size
        pieces += [_length_prefix(2, entry), key_field, value_field, *body]
    return pieces


def _tensor_info(info) -> dict:
    dtype = _DT_TO_NP.get(info.dtype)
    return {
        "dtype": dtype.name if dtype is not None else types_pb2.DataType.Name(info.dtype),
        "shape": None if info.tensor_shape.unknown_rank
        else [int(d.size) for d in info.tensor_shape.dim],
    }


class Client:
    """Predict, metadata and status calls to one model of a TF Serving endpoint.

    Parameters
    ----------
    target : "host:port" of the gRPC endpoint (8500 for TF Serving), or a target with a
        gRPC resolver scheme (``dns:///host:port``, ``unix:/path``); see :func:`check_target`
    model_name : servable name
    timeout : seconds allowed for each RPC
    version : ask for this version (default: the newest the server has)
    signature : signature name (default "serving_default")
    batch_size : largest batch sent in one request (keep ≤ the server's cap)
    max_message_bytes : largest request or response; raise both here and on the server
    max_in_flight : chunks of one :meth:`predict` call in flight at once
    """

    def __init__(
        self,
        target: str,
        model_name: str,
        *,
        timeout: float = 60.0,
        version: int | None = None,
        signature: str = DEFAULT_SIGNATURE,
        batch_size: int = 256,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_in_flight: int = 2,
    ):
        if batch_size < 1 or max_in_flight < 1:
            raise ConfigError("Client: batch_size and max_in_flight must be >= 1")
        if not timeout > 0:
            raise ConfigError(f"Client: timeout must be > 0 seconds (got {timeout})")
        self.target, self.model_name = check_target(target), model_name
        self.timeout, self.version, self.signature = timeout, version, signature
        self.batch_size, self.max_message_bytes = batch_size, max_message_bytes
        self.max_in_flight = max_in_flight
        self._channel = grpc.insecure_channel(
            target,
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        # Predict with requests serialised by :meth:`_request` (bytes)
        self._predict_bytes = self._channel.unary_unary(
            _PREDICT_METHOD, request_serializer=None,
            response_deserializer=predict_pb2.PredictResponse.FromString)
        self._request_heads: dict[tuple, bytes] = {}
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._signature_cache: dict[int | None, dict] = {}
        self._constants: dict | None = None
        #: the version the cached constants were read from (None: the server named none)
        self._constants_version: int | None = None

    # --------------------------------------------------------------------- plumbing
    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spec(self, msg, signature: str | None = None, version: int | None = None) -> None:
        """Name the model, ``version`` (default: the client's) and ``signature`` in
        ``msg.model_spec``."""
        msg.model_spec.name = self.model_name
        version = self.version if version is None else version
        if version is not None:
            msg.model_spec.version.value = int(version)
        if signature is not None:
            msg.model_spec.signature_name = signature

    def _error(self, err: grpc.RpcError, what: str) -> ServingError:
        code = err.code() if hasattr(err, "code") else None
        name = code.name if code is not None else "UNKNOWN"
        details = err.details() if hasattr(err, "details") else str(err)
        if name == "UNAVAILABLE":
            details += (f" (is a model server running at {self.target}? start one with "
                        "kerasgene serve or TF Serving)")
        elif name == "RESOURCE_EXHAUSTED":
            details += (" (a message over the server's size limit — send fewer examples per "
                        "request: predict --batch-size, Client(batch_size=...) — or raise the "
                        "limit: serve --max-message-mb; or more calls at once than it takes: "
                        "serve --max-concurrent-rpcs)")
        return ServingError(
            f"{self.target} model {self.model_name!r}: {what} failed: {name}: {details}", name
        )

    # --------------------------------------------------------------------- metadata
    def metadata(self, version: int | None = None) -> dict[str, Any]:
        """Signatures of the served version.

        Parameters
        ----------
        version : the version to describe (default: the client's ``version``, else the
            newest the server has)

        Returns
        -------
        dict with ``name``, ``version`` and ``signatures``: signature name →
        ``{"inputs": {key: {"dtype", "shape"}}, "outputs": {...}, "method_name"}``
        (shape ``-1`` = any size, e.g. the batch axis).
        """
        req = get_model_metadata_pb2.GetModelMetadataRequest()
        self._spec(req, version=version)
        req.metadata_field.append("signature_def")
        try:
            resp = self._predict.GetModelMetadata(req, timeout=self.timeout)
        except grpc.RpcError as err:
            raise self._error(err, "GetModelMetadata") from None
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        resp.metadata["signature_def"].Unpack(sig_map)
        sigs = {}
        for name, sd in sig_map.signature_def.items():
            if name.startswith("__"):
                continue
            sigs[name] = {
                "inputs": {k: _tensor_info(v) for k, v in sorted(sd.inputs.items())},
                "outputs": {k: _tensor_info(v) for k, v in sorted(sd.outputs.items())},
                "method_name": sd.method_name,
            }
        return {"name": resp.model_spec.name, "version": resp.model_spec.version.value,
                "signatures": sigs}

    def status(self) -> list[dict[str, Any]]:
        """State of every version the server knows: ``[{"version", "state", "error_code",
        "error_message"}]`` with state one of START, LOADING, AVAILABLE, UNLOADING, END."""
        req = get_model_status_pb2.GetModelStatusRequest()
        self._spec(req)
        try:
            resp = self._models.GetModelStatus(req, timeout=self.timeout)
        except grpc.RpcError as err:
            raise self._error(err, "GetModelStatus") from None
        return [
            {"version": s.version, "state": _STATES.get(s.state, str(s.state)),
             "error_code": s.status.error_code, "error_message": s.status.error_message}
            for s in resp.model_version_status
        ]

    def constants(self) -> dict[str, Any]:
        """The export's ``kerasgene.json`` (preprocessing constants under
        ``"preprocessing"``), fetched once through the ``kerasgene_metadata`` signature;
        the version they came from is recorded (:meth:`predict_genes` pins its requests
        to it)."""
        if self._constants is None:
            req = predict_pb2.PredictRequest()
            self._spec(req, METADATA_SIGNATURE)
            try:
                resp = self._predict.Predict(req, timeout=self.timeout)
            except grpc.RpcError as err:
                raise self._error(err, "reading the kerasgene_metadata signature") from None
            raw = make_ndarray(resp.outputs["json"])
            text = raw.item() if raw.shape == () else raw.reshape(-1)[0]
            self._constants = json.loads(text.decode() if isinstance(text, bytes) else text)
            self._constants_version = resp.model_spec.version.value or None
        return self._constants

    def _input_signature(self, version: int | None = None) -> dict[str, dict]:
        """The inputs of the client's signature in ``version`` (default: the client's),
        read once per version."""
        if version not in self._signature_cache:
            sigs = self.metadata(version)["signatures"]
            if self.signature not in sigs:
                raise ServingError(
                    f"{self.target} model {self.model_name!r}: no signature "
                    f"{self.signature!r} (signatures: {sorted(sigs)})", "INVALID_ARGUMENT")
            self._signature_cache[version] = sigs[self.signature]["inputs"]
        return self._signature_cache[version]

    # --------------------------------------------------------------------- predict
    def _request(self, arrays: Mapping[str, np.ndarray], output_filter,
                 version: int | None = None) -> bytes:
        """A serialised PredictRequest: the model spec (``version``: see :meth:`_spec`) and
        output filter, serialised once per version and output filter and reused, then
        :func:`encode_inputs`."""
        key = (version, *(output_filter or ()))
        head = self._request_heads.get(key)
        if head is None:
            req = predict_pb2.PredictRequest()
            self._spec(req, self.signature, version)
            req.output_filter.extend(key[1:])
            head = self._request_heads[key] = req.SerializeToString()
        return b"".join([head, *encode_inputs(arrays)])

    def _decode(self, resp) -> dict[str, np.ndarray]:
        return {k: make_ndarray(v) for k, v in resp.outputs.items()}

    def predict(
        self,
        inputs: Mapping[str, Any],
        *,
        output_filter: Sequence[str] | None = None,
        cast: bool = True,
        version: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Run the signature on ``inputs`` (batch-first arrays keyed by input name).

        Parameters
        ----------
        inputs : {name: array of shape (N, ...)}, every array with the same N >= 1
        output_filter : outputs to return (default: all)
        cast : check the arrays' shapes against the signature and cast them to its
            dtypes (one GetModelMetadata call per version, cached)
        version : ask for this version (default: the client's ``version``)

        Returns
        -------
        {output name: np.ndarray of shape (N, ...)}

        Raises
        ------
        ServingError
            the call failed; or (code INVALID_ARGUMENT, before any call) an input holds
            NaN or infinite values (also those a cast to float32 overflowed to), which no
            model predicts from meaningfully; or (with ``cast``) an input is not numeric,
            has an empty batch or another shape than the signature's.
        """
        given = {k: np.asarray(v) for k, v in inputs.items()}
        arrays = self._cast(given, version) if cast else given
        for k, a in arrays.items():
            why = nonfinite(k, a)
            if why:
                cast_note = (f" (after the cast from {given[k].dtype} to the signature's "
                             f"{a.dtype})" if a.dtype != given[k].dtype else "")
                raise ServingError(f"{self.target} model {self.model_name!r}: {why}{cast_note}",
                                   "INVALID_ARGUMENT")
        sizes = {k: (a.shape[0] if a.ndim else None) for k, a in arrays.items()}
        n_set = set(sizes.values())
        if not arrays or None in n_set or len(n_set) != 1:
            return self._decode(self._call(self._request(arrays, output_filter, version)))
        n = n_set.pop()
        per_example = sum(a.nbytes // max(n, 1) for a in arrays.values()) or 1
        chunk = max(1, min(self.batch_size, int(0.9 * self.max_message_bytes) // per_example))
        if n <= chunk:
            return self._decode(self._call(self._request(arrays, output_filter, version)))
        starts = list(range(0, n, chunk))
        results: list[dict | None] = [None] * len(starts)
        pending: collections.deque = collections.deque()
        for i, lo in enumerate(starts):
            req = self._request({k: a[lo : lo + chunk] for k, a in arrays.items()},
                                output_filter, version)
            pending.append((i, self._predict_bytes.future(req, timeout=self.timeout)))
            while len(pending) >= self.max_in_flight:
                j, fut = pending.popleft()
                results[j] = self._decode(self._result(fut))
        while pending:
            j, fut = pending.popleft()
            results[j] = self._decode(self._result(fut))
        return {k: np.concatenate([r[k] for r in results]) for k in results[0]}

    def _cast(self, arrays: dict[str, np.ndarray], version: int | None) -> dict[str, np.ndarray]:
        """``arrays`` checked against the signature of ``version`` (:func:`_shape_error`)
        and cast to its dtypes (values beyond float32 become inf, which :meth:`predict`
        then refuses). A mismatch is checked again against a fresh signature: the
        cached one may be of a version the server has since replaced."""
        sig = self._input_signature(version)
        why = _shape_error(arrays, sig)
        if why:
            del self._signature_cache[version]
            sig = self._input_signature(version)
            why = _shape_error(arrays, sig)
        if why:
            raise ServingError(f"{self.target} model {self.model_name!r}: {why}",
                               "INVALID_ARGUMENT")
        out = dict(arrays)
        with np.errstate(over="ignore"):
            for k, a in arrays.items():
                want = sig.get(k, {}).get("dtype")
                if want in _NP_NAMES and a.dtype != _NP_NAMES[want]:
                    out[k] = a.astype(_NP_NAMES[want])
        return out

    def _call(self, req: bytes):
        try:
            return self._predict_bytes(req, timeout=self.timeout)
        except grpc.RpcError as err:
            raise self._error(err, "Predict") from None

    def _result(self, fut):
        try:
            return fut.result()
        except grpc.RpcError as err:
            raise self._error(err, "Predict") from None

    # --------------------------------------------------------------------- genes
    def predict_genes(
        self,
        genes,
        genome,
        tracks,
        *,
        chrom_aliases=None,
        chunk_size: int = 1024,
        progress: bool = True,
    ) -> dict[str, np.ndarray]:
        """Predict for genes from genomic coordinates, preprocessed as at training.

        Parameters
        ----------
        genes : sequence of :class:`kerasgene.io.annotation.Gene`, or a GTF / GFF3 / BED path
        genome : :class:`kerasgene.io.genome.Genome` or genome path (FASTA, gzip, 2bit) (for
            "sequence")
        tracks : {track name: bigWig / bigBed / bedGraph path} (any order; reordered and
            transformed as the export says), or a :class:`kerasgene.io.tracks.TrackSet`
            already in the export's order (its own transforms are used); for "epigenome"
        chrom_aliases : chromosome alias table (:class:`kerasgene.io.chroms.AliasTable` or the
            path of a UCSC ``chromAlias.txt`` / user table) for the genome and tracks
        chunk_size : genes read from the files per step (memory ∝ chunk_size)
        progress : show a tqdm bar of the genes predicted, one step per chunk

        Returns
        -------
        {output name: np.ndarray of shape (n_genes, ...)}, rows in the order of ``genes``;
        plus ``"tpm"`` (shape (n_genes,)) = log_base**expression − pseudocount when the
        export records ``log_base`` and the model has an "expression" output. A gene the
        files cannot give inputs for (its chromosome absent from the genome or a track,
        or given different lengths by them; its body past the chromosome's end) is not
        sent: its rows are NaN, and a warning counts and names such genes by reason
        (all of them: :class:`InputFileError`). An empty ``genes`` gives ``{}``. Every
        predicted window is summarised per chromosome (:func:`gene_inputs.note_inputs`)
        and, after the last chunk, compared with the export's record of the training
        windows (:func:`gene_inputs.warn_inputs`): a track not on their scale, over all
        windows or on some chromosomes, binned at another resolution, following another
        track's profile, or 0 around every gene of some chromosomes, and a sequence much
        more N (a hard-masked genome; later chromosomes all N) are named in warnings.

        The constants are read afresh at each call (unless the client is pinned to a
        version) and every request of the call is pinned to the version they came from:
        a version deployed meanwhile may order or transform the tracks otherwise.
        """
        from kerasgene.io.annotation import read_genes

        if self.version is None:
            self._constants = None  # the newest version may have changed since
        constants = self.constants()
        version = self._constants_version
        settings = gi.preprocessing_settings(constants)
        needed = set(constants.get("inputs") or self._input_signature(version))
        flanks = gi.window_layout(self.model_name, constants, needed, settings)
        if isinstance(genes, str | os.PathLike):
            genes = read_genes(genes)
        genes = list(genes)
        if not genes:
            return {}
        with contextlib.ExitStack() as stack:
            genome = gi.genome_input(genome, needed, chrom_aliases, stack)
            trackset = gi.track_input(tracks, needed, settings, chrom_aliases, genome, stack)
            epi_dtype = np.dtype(settings.get("epigenome_dtype") or np.float32)
            keep = gi.predictable_genes(genes, genome, trackset, flanks)
            parts, summary = [], {}
            with tqdm(total=len(keep), desc="predict genes", unit="gene",
                      disable=not progress) as bar:
                for lo in range(0, len(keep), chunk_size):
                    chunk = [genes[i] for i in keep[lo : lo + chunk_size]]
                    inputs = gi.window_inputs(chunk, genome, trackset, flanks, epi_dtype)
                    gi.note_inputs(summary, [g.chrom for g in chunk], inputs)
                    parts.append(self.predict(inputs, version=version))
                    bar.update(len(chunk))
            gi.warn_inputs(settings, summary, trackset)
        out = {}
        for k in parts[0]:
            values = np.concatenate([p[k] for p in parts])
            _warn_nonfinite(k, values, [genes[i].id for i in keep])
            if len(keep) < len(genes):  # rows of the genes left out are NaN
                full = np.full((len(genes), *values.shape[1:]), np.nan,
                               dtype=np.result_type(values.dtype, np.float32))
                full[keep] = values
                values = full
            out[k] = values
        log_base = settings.get("log_base")
        if log_base and "expression" in out:
            pseudo = float(settings.get("pseudocount", 1.0))
            out["tpm"] = np.power(float(log_base), out["expression"].reshape(len(genes), -1)[:, 0]
                                  .astype(np.float64)) - pseudo
        return out


def _shape_error(arrays: Mapping[str, np.ndarray], sig: Mapping[str, dict]) -> str | None:
    """Why ``arrays`` do not fit the signature inputs ``sig`` (``{name: {"dtype",
    "shape"}}``, -1 for any size), or None: the first input whose values are not numbers
    where numbers are expected, whose batch is empty, or whose shape differs; inputs the
    signature does not name are left to the server."""
    for name, a in arrays.items():
        want = sig.get(name)
        if want is None:
            continue
        if want["dtype"] in _NP_NAMES and a.dtype.kind not in "biuf":
            return (f"input {name!r}: {a.dtype} values (e.g. {a.reshape(-1)[:1].tolist()}), "
                    f"expected {want['dtype']} numbers")
        shape = want["shape"]
        if shape is None:
            continue
        expected = "(" + ", ".join("?" if s < 0 else str(s) for s in shape) + ")"
        if a.ndim != len(shape) or any(0 <= s != n for s, n in zip(shape, a.shape, strict=True)):
            hint = "; one example needs a batch axis: x[None]" if a.ndim == len(shape) - 1 else ""
            return f"input {name!r}: shape {a.shape}, expected {expected}{hint}"
        if shape and shape[0] < 0 and a.shape[0] == 0:
            return f"input {name!r}: an empty batch, shape {a.shape}; expected {expected} with ? >= 1"
    return None


def _warn_nonfinite(output: str, values: np.ndarray, ids: Sequence[str]) -> None:
    """Warn, naming them, about the genes ``ids`` (rows of ``values``) for which the model
    itself returned NaN or infinite values of ``output`` (its inputs are finite: a
    broken model, e.g. NaN weights)."""
    if values.dtype.kind != "f":
        return
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        named = [i for i, b in zip(ids, bad, strict=True) if b]
        log.warning("predict_genes: the model returned NaN or infinite %r for %d of %d "
                    "genes (their cells are empty; the inputs were finite): %s", output,
                    len(named), len(ids), shown(named))


def write_predictions(path: str | os.PathLike, genes, outputs: dict) -> Path:
    """One row per gene: coordinates, then every output (``name`` for one column,
    ``name_0, name_1, ...`` for several); written to a temporary file and renamed."""
    import pandas as pd

    table = pd.DataFrame({
        "gene_id": [g.id for g in genes], "gene_name": [g.name for g in genes],
        "chrom": [g.chrom for g in genes], "start": [g.start for g in genes],
        "end": [g.end for g in genes], "strand": [g.strand for g in genes],
    })
    for name, values in outputs.items():
        values = np.asarray(values).reshape(len(genes), -1)
        if values.shape[1] == 1:
            table[name] = values[:, 0]
        else:
            for j in range(values.shape[1]):
                table[f"{name}_{j}"] = values[:, j]
    path = Path(path)
    try:
        write_atomic(path, lambda tmp: table.to_csv(tmp, sep="\t", index=False,
                                                      float_format="%.6g"))
    except OSError as err:
        raise InputFileError(f"{path}: cannot write predictions ({err.strerror})") from None
    return path
