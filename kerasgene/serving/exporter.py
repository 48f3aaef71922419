"""Export a Keras model as a SavedModel in TensorFlow Serving's directory layout.

Layout (what ``tensorflow_model_server --model_config_file`` and ``kerasgene serve``
poll)::

    base_dir/
      name/
        1/  saved_model.pb  variables/  assets/kerasgene.json  fingerprint.pb
        2/  ...

Signatures of every version:

``serving_default``
    inputs keyed by the model's input names ("sequence", "epigenome", "signal", ...),
    float batch-first tensors with the model's own shapes; outputs keyed by the model's
    output names ("expression", "class_probabilities", a target name). A model whose
    outputs are a dict keeps its keys; a bare output is named after its layer.
``kerasgene_metadata``
    no inputs; returns ``{"json": string scalar}``, the content of
    ``assets/kerasgene.json``. It lets a client read the preprocessing constants through
    the Predict RPC of any server, including the official TF Serving binary, which does
    not serve asset files.

Atomicity: each version is written to ``name/.tmp-<version>-<random>`` (a name no server
takes for a version, since versions are integers) and renamed into place when complete,
so a server polling ``name/`` sees either no version or the whole SavedModel.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from kerasgene._io import is_temporary, read_json_object, to_plain
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.serving.protocol import CONSTANTS_FILE, DEFAULT_SIGNATURE, METADATA_SIGNATURE

log = logging.getLogger(__name__)

#: model names: what TF Serving and a file system both accept without quoting
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: format tag of kerasgene.json
FORMAT = "kerasgene-serving/1"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`ConfigError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"export: model name must match {_NAME.pattern} (letters, digits, '_', '.', '-'; "
            f"got {name!r})"
        )
    return name


def list_versions(model_dir: str | os.PathLike) -> list[int]:
    """Complete versions under ``model_dir``: integer-named directories with a
    ``saved_model.pb`` (or ``.pbtxt``), ascending. A missing directory has none."""
    model_dir = Path(model_dir)
    out = []
    try:
        entries = list(os.scandir(model_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if not entry.name.isdigit() or not entry.is_dir():
            continue
        p = Path(entry.path)
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            out.append(int(entry.name))
    return sorted(out)


def _next_version(model_dir: Path) -> int:
    """One more than the largest integer-named entry (complete or not)."""
    used = [int(e.name) for e in os.scandir(model_dir) if e.name.isdigit()]
    return max(used, default=0) + 1


def _input_specs(model) -> dict[str, Any]:
    """Name → tf.TensorSpec (batch dimension free) of each model input."""
    import tensorflow as tf

    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise ConfigError(
            f"export: model {getattr(model, 'name', model)!r} has no symbolic inputs; "
            "build it with the functional API (keras.Input(..., name=...))"
        )
    specs = {}
    for t in inputs:
        name = t.name
        if name in specs:
            raise ConfigError(f"export: model {model.name!r} has two inputs named {name!r}")
        shape = (None, *tuple(t.shape[1:]))
        specs[name] = tf.TensorSpec(shape, tf.as_dtype(t.dtype), name=name)
    return specs


def _call_structure(model, tensors: dict):
    """Arguments for ``model(...)`` in the structure the model was built with."""
    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict) or len(tensors) > 1:
        return dict(tensors)
    return next(iter(tensors.values()))


def _named_outputs(model, outputs) -> dict:
    if isinstance(outputs, dict):
        return dict(outputs)
    names = list(getattr(model, "output_names", None) or [])
    outs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
    if len(names) != len(outs):
        names = [f"output_{i}" for i in range(len(outs))]
    return dict(zip(names, outs, strict=True))


def export(
    model,
    base_dir: str | os.PathLike,
    name: str,
    version: int | None = None,
    metadata: dict | None = None,
    run: dict | None = None,
) -> Path:
    """Write ``model`` as version ``version`` of servable ``name`` under ``base_dir``.

    Parameters
    ----------
    model : keras.Model
        A functional model with named inputs (any number), e.g. iSEGnet's
        ``{"sequence": (batch, L, 4), "epigenome": (batch, L, m)}``.
    base_dir : path
        Root of the model repository (``--model-base-path`` of ``kerasgene serve``; the
        directory mounted at ``/models`` in ``serving/docker-compose.yml``).
    name : str
        Servable name (letters, digits, ``_ . -``).
    version : int, optional
        Version number (≥ 1). ``None`` takes one more than the largest existing version.
        An existing version is never overwritten.
    metadata : dict, optional
        Preprocessing constants a client needs to build the inputs from raw files (window
        layout, track order, transforms, log base, ...), as produced by the datasets
        layer; stored verbatim under ``"preprocessing"`` in ``assets/kerasgene.json``.
    run : dict, optional
        The completion record of the run the model comes from
        (:func:`kerasgene.train.records.check_run`), stored under ``"run"`` (provenance: time,
        kerasgene version, model SHA-256, training inputs).

    Returns
    -------
    Path
        ``base_dir/name/<version>``.

    Raises
    ------
    ConfigError
        bad name or version, the version exists, a model without symbolic inputs,
        metadata that is not JSON serialisable.
    """
    name = check_name(name)
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ConfigError(f"export: version must be an integer >= 1 (got {version!r})")
    specs = _input_specs(model)
    constants = _constants(model, name, specs, metadata, run)
    model_dir = Path(base_dir) / name
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputFileError(f"{model_dir}: cannot create model directory ({err.strerror})") from None

    tmp = Path(tempfile.mkdtemp(prefix=".tmp-export-", dir=model_dir))
    try:
        for _ in range(100):
            v = version if version is not None else _next_version(model_dir)
            target = model_dir / str(v)
            if target.exists():
                raise ConfigError(f"export: {target} exists; versions are never overwritten")
            constants["version"] = v
            out = tmp / str(v)
            _write_version(model, specs, out, json.dumps(to_plain(constants), indent=1))
            if _claim(out, target, fixed=version is not None):
                log.info("exported %s version %d to %s", name, v, target)
                return target
            # another exporter took this number: take the next one
        raise ConfigError(f"export: could not find a free version under {model_dir}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_metadata(specs: dict[str, Any], metadata: dict, name: str) -> None:
    """Refuse preprocessing constants that describe another model (:func:`export_run`):
    an ``input_shapes`` entry or a ``track_names`` count that differs from the model's
    inputs (``--metadata`` of another run); ``kerasgene predict`` would build inputs the
    model cannot take."""
    def model_shape(key):
        return [None if d is None else int(d) for d in specs[key].shape[1:]]

    shapes = metadata.get("input_shapes")
    if isinstance(shapes, dict):
        for key, shape in shapes.items():
            if key in specs and isinstance(shape, list | tuple) and \
                    [None if d in (None, -1) else int(d) for d in shape] != model_shape(key):
                raise ConfigError(
                    f"export: the preprocessing constants of {name!r} give input {key!r} shape "
                    f"{list(shape)}, but the model's is {model_shape(key)}; give the "
                    "--metadata (preprocessing.json) of the run that trained this model")
    tracks = metadata.get("track_names")
    if isinstance(tracks, list) and "epigenome" in specs:
        channels = specs["epigenome"].shape[-1]
        if channels is not None and len(tracks) != int(channels):
            raise ConfigError(
                f"export: the preprocessing constants of {name!r} name {len(tracks)} tracks "
                f"{tracks}, but the model's 'epigenome' input has {int(channels)} channels; "
                "give the --metadata (preprocessing.json) of the run that trained this model")


def _first_difference(given: dict, own: dict) -> str | None:
    """The first way the preprocessing constants ``given`` describe other inputs than
    ``own``: their ``track_names`` (order included) or an ``input_shapes`` entry; None
    when they agree on both."""
    tracks, own_tracks = given.get("track_names"), own.get("track_names")
    if tracks != own_tracks:
        if isinstance(tracks, list) and isinstance(own_tracks, list) and \
                len(tracks) == len(own_tracks):
            i = next(i for i, (a, b) in enumerate(zip(tracks, own_tracks, strict=True)) if a != b)
            return f"track_names[{i}] is {tracks[i]!r} where the run's is {own_tracks[i]!r}"
        return f"track_names are {tracks}, the run's {own_tracks}"
    shapes, own_shapes = given.get("input_shapes") or {}, own.get("input_shapes") or {}
    for key in sorted(set(shapes) | set(own_shapes)):
        if shapes.get(key) != own_shapes.get(key):
            return f"input_shapes[{key!r}] is {shapes.get(key)} where the run's is {own_shapes.get(key)}"
    return None


def _check_run_metadata(given: dict, source: str, prep: Path) -> None:
    """Refuse ``--metadata`` (``given``, read from ``source``) that disagrees with the
    run's own ``preprocessing.json`` (``prep``) on the track order or the input shapes.

    Another run's file with the same track count (or an edited copy) used to be exported:
    predict then fed the model's channels from the wrong tracks, silently.

    Raises
    ------
    ConfigError
        One line naming both files and the first difference.
    """
    why = _first_difference(given, read_json_object(prep, "metadata"))
    if why:
        raise ConfigError(
            f"export: --metadata {source} disagrees with the run's own {prep}: {why}; give "
            "the run's preprocessing.json (or leave --metadata out)")


def _constants(model, name: str, specs: dict[str, Any], metadata: dict | None,
               run: dict | None) -> dict[str, Any]:
    """The ``kerasgene.json`` document (its ``version`` still None): inputs, outputs (from
    a symbolic call; no data needed), versions, preprocessing and run."""
    import keras
    import tensorflow as tf

    import kerasgene

    probe = _named_outputs(model, model(_call_structure(model, {
        n: keras.KerasTensor(s.shape, dtype=s.dtype.name, name=n) for n, s in specs.items()
    })))
    constants = {
        "format": FORMAT,
        "name": name,
        "version": None,
        "model": getattr(model, "name", None),
        "inputs": {n: {"dtype": s.dtype.name, "shape": list(s.shape)} for n, s in specs.items()},
        "outputs": {n: {"dtype": str(t.dtype), "shape": list(t.shape)} for n, t in probe.items()},
        "signatures": [DEFAULT_SIGNATURE, METADATA_SIGNATURE],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kerasgene_version": getattr(kerasgene, "__version__", None),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "preprocessing": dict(metadata or {}),
        "run": dict(run) if run is not None else None,
    }
    try:
        json.dumps(to_plain(constants))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"export: metadata for {name!r} is not JSON serialisable ({err})") from None
    return constants


def _write_version(model, specs: dict[str, Any], out: Path, document: str) -> None:
    """Write the SavedModel of ``model`` with both signatures and ``document`` as
    ``assets/kerasgene.json`` at ``out``."""
    import tensorflow as tf
    from keras.export import ExportArchive

    def serve(inputs):
        return _named_outputs(model, model(_call_structure(model, inputs), training=False))

    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint(DEFAULT_SIGNATURE, serve, input_signature=[specs])
    archive.add_endpoint(
        METADATA_SIGNATURE,
        tf.function(lambda: {"json": tf.constant(document)}),
        input_signature=[],
    )
    archive.write_out(str(out), verbose=False)
    (out / "assets").mkdir(exist_ok=True)
    (out / CONSTANTS_FILE).write_text(document + "\n")


def _claim(out: Path, target: Path, fixed: bool) -> bool:
    """Rename the written version ``out`` to ``target`` (atomic; fails if the target
    appeared meanwhile). A taken number is an error for a ``fixed`` (requested) version;
    otherwise ``out`` is removed and False returned (try the next number)."""
    try:
        os.rename(out, target)
    except OSError:
        if fixed:
            raise ConfigError(
                f"export: {target} was created concurrently; versions are never overwritten"
            ) from None
        shutil.rmtree(out, ignore_errors=True)
        return False
    return True


def read_constants(version_dir: str | os.PathLike) -> dict:
    """The ``assets/kerasgene.json`` document of an exported version."""
    path = Path(version_dir) / CONSTANTS_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(f"{path}: not found (was the model exported by kerasgene?)") from None
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: not a readable JSON document ({err})") from None


def _model_of(run: Path) -> tuple[Path, dict | None]:
    """``(model file, completion record or None)`` of a run directory or model file.

    A directory must be a complete run (:func:`kerasgene.train.records.check_run`); its record
    names the model. A file must be a ``.keras`` model that is neither a temporary, nor a
    ``checkpoint.keras``, nor inside a run directory (a folder with ``config.yaml`` or
    ``run.json``) other than as the recorded model of a complete run.

    Raises
    ------
    InputFileError
        one line naming the path and why it is refused.
    """
    from kerasgene.train.records import RUN_RECORD, check_run

    if run.is_dir():
        record = check_run(run)
        return run / record["model"], record
    if not run.is_file():
        raise InputFileError(f"{run}: run directory or .keras file not found")
    if is_temporary(run):
        raise InputFileError(f"{run}: a temporary file (left by an interrupted save); export "
                             "a complete run directory")
    if run.name == "checkpoint.keras":
        raise InputFileError(f"{run}: the checkpoint of a fit in progress or interrupted, not "
                             "a trained model; export the run directory once training completes")
    if run.suffix != ".keras":
        raise InputFileError(f"{run}: expected a .keras model file or a run directory")
    folder = run.parent
    if (folder / RUN_RECORD).is_file() or (folder / "config.yaml").is_file():
        record = check_run(folder)
        if (folder / record["model"]).resolve() != run.resolve():
            raise InputFileError(f"{run}: not the model recorded in {folder / RUN_RECORD} "
                                 f"({record['model']})")
        return run, record
    return run, None


def export_run(run: str | os.PathLike, base_dir: str | os.PathLike, name: str,
               version: int | None = None, metadata: dict | str | os.PathLike | None = None
               ) -> Path:
    """Export the model of a complete run (or a ``.keras`` file) as a servable version.

    Parameters
    ----------
    run
        A run directory (its ``run.json`` must say complete: a killed or failed training
        is refused) or a ``.keras`` model file outside any run directory.
    base_dir, name, version
        As :func:`export`.
    metadata
        The preprocessing constants, or a JSON file of them; default: the run's
        ``preprocessing.json`` (a model file without one is exported with a warning);
        given for a run that has one, it must agree with it on ``track_names`` (their
        order) and ``input_shapes``.

    Returns
    -------
    Path of the new version directory.

    Raises
    ------
    InputFileError
        One line naming the path: not a complete run, a checkpoint, a temporary file.
    ConfigError
        As :func:`export`; or the metadata's ``input_shapes`` / ``track_names`` describe
        other inputs than the model's (the preprocessing constants of another run), or
        (a run with its own ``preprocessing.json``) differ from that file's, the track
        order included.
    """
    from kerasgene.models import load_model

    run = Path(run)
    model_file, record = _model_of(run)
    prep = model_file.parent / "preprocessing.json"
    own = record is not None and prep.is_file()
    given = metadata is not None
    source = str(metadata) if isinstance(metadata, str | os.PathLike) else "(a dict)"
    if isinstance(metadata, str | os.PathLike):
        metadata = read_json_object(Path(metadata), "metadata")
    elif metadata is None and own:
        metadata = read_json_object(prep, "metadata")
    elif metadata is None:
        log.warning("%s: no preprocessing.json; exporting without preprocessing constants "
                    "(kerasgene predict will need them)", run)
        metadata = {}
    if given and own:
        _check_run_metadata(metadata, source, prep)
    model = load_model(model_file)
    _check_metadata(_input_specs(model), metadata, check_name(name))
    return export(model, base_dir, name, version, metadata, run=record)
