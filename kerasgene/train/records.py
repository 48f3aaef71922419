"""Run records: a run directory is complete or absent.

``kerasgene train`` writes ``run.json`` last, atomically (:func:`record_run`); every
command that reads a trained run checks it first (:func:`check_run`, :func:`load_run`):
present, ``status: complete``, and the model file present with the recorded size and
SHA-256 — so a killed or failed training never reaches ``evaluate``, ``explain``,
``variants``, ``ablate`` or ``export``. :func:`remove_outputs` and
:func:`clean_stale` clear what an earlier or a killed run left before a new training.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import kerasgene
from kerasgene._io import _remove, is_temporary, remove_stale_temporaries, write_json
from kerasgene.errors import InputFileError

log = logging.getLogger(__name__)

#: The completion record of a run directory.
RUN_RECORD = "run.json"
#: What ``train`` writes in a run directory (glob patterns): removed when a new training
#: starts there, and removed again when that training fails.
RUN_OUTPUTS = ("run.json", "config.yaml", "model.keras", "checkpoint.keras", "preprocessing.json",
               "dropped.tsv", "metrics.json", "predictions.tsv", "history.csv", "loss.png",
               "predicted_vs_observed.png", "confusion.png", "member_*", "control_shuffled",
               "tensorboard")
#: Folders of later commands' outputs that a new training in the run directory keeps
#: (the user may still want them), naming them in its warning as the previous model's.
KEPT_ANALYSES = ("explain", "variants", "ablation")
#: Files of a run that later commands read besides the model (``export`` embeds it in the
#: servable, ``variants`` and ``predict`` build inputs by it): their SHA-256 is recorded.
RECORDED_FILES = ("preprocessing.json",)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def record_run(run: str | Path, model_file: str = "model.keras", **fields) -> dict:
    """Write ``run.json``, the completion record of ``run`` (atomically), for its model
    file; ``fields`` (task, model_name, training_inputs, input_names, dataset, ...) are
    stored beside the status, time, kerasgene version, model size and SHA-256, and the
    SHA-256 of each of :data:`RECORDED_FILES` present (``files``).

    ``kerasgene train`` calls it last; call it yourself for a model trained outside
    kerasgene that you want ``explain``, ``variants`` or ``export`` to accept.
    """
    run = Path(run)
    model = run / model_file
    if not model.is_file() or is_temporary(model):
        raise InputFileError(f"{model}: no model file to record")
    record = {"status": "complete", "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "kerasgene_version": kerasgene.__version__, "model": model_file,
              "model_bytes": model.stat().st_size, "model_sha256": _sha256(model),
              "files": {n: _sha256(run / n) for n in RECORDED_FILES if (run / n).is_file()},
              **fields}
    write_json(run / RUN_RECORD, record)
    return record


def check_run(run: str | Path) -> dict:
    """The completion record of a run directory, after checking it.

    Returns
    -------
    the ``run.json`` document; ``record["model"]`` names the model file in ``run``.

    Raises
    ------
    InputFileError
        no such directory; no ``run.json`` (training never finished here: it was killed,
        failed or still runs); a record that is not complete; the model file missing or
        changed since (size or SHA-256); a recorded file (:data:`RECORDED_FILES`) missing
        or changed since.
    """
    run = Path(run)
    if not run.is_dir():
        raise InputFileError(f"{run}: run directory not found")
    path = run / RUN_RECORD
    if not path.is_file():
        found = [n for n in ("model.keras", "checkpoint.keras") if (run / n).is_file()]
        what = (f"{' and '.join(found)} without {RUN_RECORD}: training was killed, failed or "
                "is still running" if found else f"no {RUN_RECORD}")
        raise InputFileError(f"{run}: no trained model ({what}); run `kerasgene train` to "
                             "completion first")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: unreadable completion record ({err}); retrain") from None
    if not isinstance(record, dict) or record.get("status") != "complete" \
            or not isinstance(record.get("model"), str) or Path(record["model"]).name != record["model"]:
        raise InputFileError(f"{path}: not a completion record (expected status 'complete' "
                             "and the name of a model file in the run directory); retrain")
    model = run / record["model"]
    if not model.is_file():
        raise InputFileError(f"{model}: missing, but {path} records it; retrain")
    if model.stat().st_size != record.get("model_bytes") or _sha256(model) != record.get(
            "model_sha256"):
        raise InputFileError(f"{model}: changed since training (size or SHA-256 differs from "
                             f"{path}); retrain, or restore the file")
    _check_recorded_files(run, record)
    return record


def _check_recorded_files(run: Path, record: dict) -> None:
    """Each of :data:`RECORDED_FILES` the record holds a SHA-256 of is present and
    unchanged: a deleted preprocessing.json was exported without its constants (predict
    then applied the paper's default transforms), an edited or another run's one with the
    wrong track order or transforms, without a word. Runs recorded before: not checked."""
    files = record.get("files") if isinstance(record.get("files"), dict) else {}
    for name in RECORDED_FILES:
        if name not in files:
            continue
        path = run / name
        if not path.is_file():
            raise InputFileError(f"{path}: missing, but {run / RUN_RECORD} records it; "
                                 "restore the file, or retrain")
        if _sha256(path) != files[name]:
            raise InputFileError(f"{path}: changed since training (SHA-256 differs from "
                                 f"{run / RUN_RECORD}); restore the file, or retrain")


def load_run(run: str | Path):
    """``(model, record)`` of a complete run (:func:`check_run`), the model loaded in
    Keras' safe mode."""
    from kerasgene.models import load_model

    record = check_run(run)
    return load_model(Path(run) / record["model"]), record


def remove_outputs(out: Path) -> list[Path]:
    """Remove what ``train`` writes (:data:`RUN_OUTPUTS`) from ``out``; returns it."""
    gone = [p for pattern in RUN_OUTPUTS for p in sorted(out.glob(pattern))]
    for p in gone:
        _remove(p)
    return gone


def clean_stale(folder: Path) -> None:
    """Remove temporaries of killed processes in ``folder`` and its sub-folders, logged."""
    if not folder.is_dir():
        return
    removed = []
    for d in [folder, *(p for p in folder.iterdir() if p.is_dir() and not is_temporary(p))]:
        removed += remove_stale_temporaries(d)
    if removed:
        log.warning("%s: removed %d temporaries left by killed runs: %s", folder, len(removed),
                    ", ".join(str(p.relative_to(folder)) for p in removed[:5])
                    + (" ..." if len(removed) > 5 else ""))


@contextlib.contextmanager
def removed_if_failed(folder: Path) -> Iterator[None]:
    """Remove ``folder`` (and parents) created inside the block when the block raises and
    they are empty."""
    created = []
    for p in [folder, *folder.parents]:
        if p.exists():
            break
        created.append(p)
    try:
        yield
    except BaseException:
        for p in created:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()
        raise
