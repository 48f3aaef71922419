"""The model repository a server serves: TF Serving's layout, versions, signatures.

:class:`ModelRepository` polls ``model_base_path`` (or the models of a
``models.config`` file, :func:`read_model_config`) for integer-named version folders,
loads the newest complete SavedModel of each model with its signatures
(:func:`load_version`) and unloads the old one — the behaviour of TensorFlow Serving's
default version policy. :mod:`kerasgene.serving.server` answers RPCs from it.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from kerasgene.errors import ConfigError, InputFileError
from kerasgene.serving.exporter import list_versions
from kerasgene.serving.protocol import DEFAULT_SIGNATURE
from kerasgene.train.records import RUN_RECORD

log = logging.getLogger(__name__)

_State = get_model_status_pb2.ModelVersionStatus.State


class RpcError(Exception):
    """An answer with a non-OK status; the handler turns it into ``context.abort``."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class TensorSpec:
    dtype: int  # types_pb2 enum
    shape: tuple[int, ...] | None  # None: unknown rank; -1: any size


@dataclass
class Signature:
    name: str
    fn: object
    inputs: dict[str, TensorSpec]
    outputs: list[str]


@dataclass
class Version:
    number: int
    path: Path
    state: int = _State.START
    error: str = ""
    loaded: object = None
    signatures: dict[str, Signature] = field(default_factory=dict)
    signature_defs: object = None  # SignatureDefMap for GetModelMetadata
    mtime: float = 0.0


@dataclass
class ModelEntry:
    """One served model: a name, a directory of versions, a version policy."""

    name: str
    base_path: Path
    policy: str = "latest"  # "latest" | "all" | "specific"
    num_versions: int = 1
    specific: tuple[int, ...] = ()
    labels: dict[str, int] = field(default_factory=dict)

    def aspired(self, on_disk: list[int]) -> list[int]:
        """Versions to serve among those on disk."""
        if self.policy == "all":
            return list(on_disk)
        if self.policy == "specific":
            return [v for v in on_disk if v in self.specific]
        return list(on_disk[-self.num_versions:]) if self.num_versions > 0 else []


def read_model_config(path: str | os.PathLike, model_base_path: str | os.PathLike | None = None
                      ) -> list[ModelEntry]:
    """Parse a ``ModelServerConfig`` text proto (``models.config``) into model entries.

    Relative ``base_path`` entries are resolved against the file's directory; with
    ``model_base_path`` every ``base_path`` becomes ``model_base_path/<its last part>``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputFileError(f"{path}: cannot read model config ({err.strerror})") from None
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise InputFileError(f"{path}: not a ModelServerConfig text proto ({err})") from None
    if not config.HasField("model_config_list"):
        raise InputFileError(f"{path}: model_config_list is required (custom_model_config "
                             "is not supported)")
    entries, seen = [], set()
    for cfg in config.model_config_list.config:
        if not cfg.name:
            raise InputFileError(f"{path}: a config entry has no name")
        if cfg.name in seen:
            raise InputFileError(f"{path}: model {cfg.name!r} is listed twice")
        seen.add(cfg.name)
        if cfg.model_platform not in ("", "tensorflow"):
            raise InputFileError(
                f"{path}: model {cfg.name!r}: model_platform {cfg.model_platform!r}, "
                "expected 'tensorflow'")
        if not cfg.base_path:
            raise InputFileError(f"{path}: model {cfg.name!r} has no base_path")
        base = Path(cfg.base_path)
        if model_base_path is not None:
            base = Path(model_base_path) / base.name
        elif not base.is_absolute():
            base = path.parent / base
        entry = ModelEntry(cfg.name, base, labels=dict(cfg.version_labels))
        pol = cfg.model_version_policy
        which = pol.WhichOneof("policy_choice")
        if which == "all":
            entry.policy = "all"
        elif which == "specific":
            entry.policy, entry.specific = "specific", tuple(pol.specific.versions)
        elif which == "latest":
            entry.num_versions = pol.latest.num_versions or 1
        entries.append(entry)
    return entries


def _signature_spec(sig_def, name: str) -> dict[str, TensorSpec]:
    out = {}
    for key, info in getattr(sig_def, name).items():
        shape = None if info.tensor_shape.unknown_rank else tuple(
            int(d.size) for d in info.tensor_shape.dim
        )
        out[key] = TensorSpec(info.dtype, shape)
    return out


def load_version(path: Path, number: int) -> Version:
    """Load one SavedModel version directory."""
    v = Version(number, path, state=_State.LOADING)
    pb = path / "saved_model.pb"
    v.mtime = pb.stat().st_mtime if pb.exists() else 0.0
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(pb.read_bytes())
    meta = next((m for m in sm.meta_graphs if "serve" in m.meta_info_def.tags), None)
    if meta is None:
        raise ValueError(f"{path}: no MetaGraph tagged 'serve'")
    loaded = tf.saved_model.load(str(path), tags=["serve"])
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for name, sig_def in meta.signature_def.items():
        if name.startswith("__"):
            continue
        sig_map.signature_def[name].CopyFrom(sig_def)
        if name not in loaded.signatures:
            continue
        v.signatures[name] = Signature(
            name, loaded.signatures[name], _signature_spec(sig_def, "inputs"),
            sorted(sig_def.outputs),
        )
    if DEFAULT_SIGNATURE not in v.signatures:
        raise ValueError(f"{path}: no {DEFAULT_SIGNATURE!r} signature")
    v.loaded, v.signature_defs, v.state = loaded, sig_map, _State.AVAILABLE
    return v


class ServedModel:
    def __init__(self, entry: ModelEntry):
        self.entry = entry
        self.versions: dict[int, Version] = {}  # every version seen, any state

    def available(self) -> dict[int, Version]:
        return {n: v for n, v in self.versions.items() if v.state == _State.AVAILABLE}


class ModelRepository:
    """The models a server serves, refreshed from disk by :meth:`poll`.

    Parameters
    ----------
    model_base_path : directory of model directories (``None`` with a config file)
    model_config_file : ``models.config`` restricting and naming the models
    load_threads : versions loaded concurrently (TF Serving's ``--num_load_threads``)
    """

    def __init__(self, model_base_path=None, model_config_file=None, load_threads: int = 2):
        self.load_threads = max(1, int(load_threads))
        if model_base_path is None and model_config_file is None:
            raise ConfigError("serve: give --model-base-path, --model-config-file or both")
        self.base = Path(model_base_path) if model_base_path is not None else None
        if self.base is not None and not self.base.is_dir():
            raise InputFileError(f"{self.base}: model base path is not a directory")
        self.fixed = (read_model_config(model_config_file, model_base_path)
                      if model_config_file is not None else None)
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._models: dict[str, ServedModel] = {}

    def _entries(self) -> list[ModelEntry]:
        if self.fixed is not None:
            return self.fixed
        entries = []
        for d in sorted(self.base.iterdir()):
            if d.is_dir() and not d.name.startswith("."):
                entries.append(ModelEntry(d.name, d))
        return entries

    def poll(self) -> None:
        """Load aspired versions not yet loaded (``load_threads`` at a time), then release
        the versions no longer aspired."""
        with self._poll_lock:
            plan, jobs = [], []
            for entry in self._entries():
                with self._lock:
                    model = self._models.setdefault(entry.name, ServedModel(entry))
                aspired = entry.aspired(list_versions(entry.base_path))
                plan.append((model, aspired))
                for n in aspired:
                    path = entry.base_path / str(n)
                    if self._wants_load(model.versions.get(n), path):
                        jobs.append((model, n, path))
            if len(jobs) > 1 and self.load_threads > 1:
                with futures.ThreadPoolExecutor(self.load_threads, "load") as pool:
                    list(pool.map(lambda job: self._load(*job), jobs))
            else:
                for job in jobs:
                    self._load(*job)
            with self._lock:
                for model, aspired in plan:
                    for n, v in list(model.versions.items()):
                        if n not in aspired and v.state == _State.AVAILABLE:
                            log.info("unloading %s version %d", model.entry.name, n)
                            model.versions[n] = Version(n, v.path, state=_State.END)

    @staticmethod
    def _wants_load(old: Version | None, path: Path) -> bool:
        if old is None:
            return True
        if old.state in (_State.AVAILABLE, _State.LOADING):
            return False
        if old.state == _State.END and old.error:
            try:  # failed before: retry only once the files change
                return (path / "saved_model.pb").stat().st_mtime != old.mtime
            except OSError:
                return False
        return True

    def _load(self, model: ServedModel, n: int, path: Path) -> None:
        name = model.entry.name
        with self._lock:
            model.versions[n] = Version(n, path, state=_State.LOADING)
        try:
            v = load_version(path, n)
        except Exception as err:  # a broken export must not stop the server
            log.warning("cannot load %s version %d from %s: %s", name, n, path, err)
            try:
                mtime = (path / "saved_model.pb").stat().st_mtime
            except OSError:
                mtime = 0.0
            v = Version(n, path, state=_State.END, error=f"{type(err).__name__}: {err}",
                         mtime=mtime)
        else:
            log.info("loaded %s version %d from %s", name, n, path)
        with self._lock:
            model.versions[n] = v

    # ------------------------------------------------------------------ lookups
    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def servable(self) -> dict[str, list[int]]:
        """Model name → its versions loaded and available now."""
        with self._lock:
            return {name: sorted(m.available()) for name, m in self._models.items()}

    def describe_empty(self) -> str:
        """Why nothing is servable, in words, for an error or a warning."""
        where = str(self.base) if self.base is not None else "the model config file"
        with self._lock:
            failed = [f"{name} version {n}: {v.error}" for name, m in self._models.items()
                      for n, v in sorted(m.versions.items()) if v.error]
        if failed:
            return f"{where}: no version could be loaded ({'; '.join(failed[:3])})"
        misplaced = self._not_a_repository()
        if misplaced:
            return misplaced
        if self.base is not None and list_versions(self.base):
            return (f"{where} holds version folders itself ({', '.join(map(str, list_versions(self.base)))}): "
                    "give its parent (--model-base-path is the folder of model folders)")
        names = self.names()
        if not names:
            return (f"{where}: no model folder (expected {where}/NAME/VERSION/saved_model.pb, "
                    f"written by `kerasgene export`)")
        return (f"{where}: no servable version in {', '.join(names)} (expected "
                "NAME/<integer>/saved_model.pb; temporaries of unfinished exports do not count)")

    def _not_a_repository(self) -> str | None:
        """Why ``model_base_path`` is a version folder or a run directory rather than a
        model repository (their subfolders ``assets``, ``variables``, ``dataset``... would be
        named as models without versions), or None."""
        if self.base is None:
            return None
        if (self.base / "saved_model.pb").is_file():
            return (f"{self.base} is a version folder itself (it holds saved_model.pb): give "
                    f"{self.base.parent.parent} (--model-base-path is the folder of model "
                    "folders)")
        if (self.base / RUN_RECORD).is_file() or (self.base / "config.yaml").is_file():
            return (f"{self.base} is a run directory, not a model repository: "
                    f"export it first (kerasgene export --run {self.base} --base-dir MODELS "
                    "--name NAME) and serve MODELS")
        return None

    def _named(self, spec):
        """The model a ModelSpec names (call with the lock held)."""
        if not spec.name:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "model_spec.name is empty")
        model = self._models.get(spec.name)
        if model is None:
            held = ", ".join(sorted(self._models)) or "none"
            raise RpcError(grpc.StatusCode.NOT_FOUND,
                           f"model {spec.name!r} not found (models served: {held})")
        return model

    def resolve(self, spec) -> Version:
        """The version a ModelSpec asks for (newest available when it names none)."""
        with self._lock:
            model = self._named(spec)
            available = model.available()
            choice = spec.WhichOneof("version_choice")
            if choice == "version":
                n = spec.version.value
                if n not in available:
                    raise RpcError(grpc.StatusCode.NOT_FOUND,
                                   f"model {spec.name!r} version {n} is not loaded "
                                   f"(loaded: {sorted(available)})")
                return available[n]
            if choice == "version_label":
                label = spec.version_label
                n = model.entry.labels.get(label)
                if n is None or n not in available:
                    raise RpcError(grpc.StatusCode.NOT_FOUND,
                                   f"model {spec.name!r}: version label {label!r} not found")
                return available[n]
            if not available:
                raise RpcError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"model {spec.name!r} has no servable version yet")
            return available[max(available)]

    def statuses(self, spec) -> list[Version]:
        with self._lock:
            model = self._named(spec)
            versions = dict(model.versions)
        if spec.WhichOneof("version_choice") == "version":
            n = spec.version.value
            if n not in versions:
                raise RpcError(grpc.StatusCode.NOT_FOUND,
                               f"model {spec.name!r} version {n} not found")
            return [versions[n]]
        return [versions[n] for n in sorted(versions)]


