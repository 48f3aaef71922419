"""The backup folder of a multi-worker training: what a stopped training resumes from.

``<run_dir>/backup/<task>_<index>/`` holds one process' state after its last epoch
(Keras' BackupAndRestore, or :func:`kerasgene.train.block_trainer.fit_blocks`'s files);
the same command resumes from it. ``<run_dir>/backup/training.json`` says which training
the state belongs to (:func:`fingerprint`: the system, model, training settings, seed,
prepared dataset and number of workers), written by the chief before the fit. A
``train`` into the run directory with another fingerprint is refused
(:func:`check_resume`): it would resume the other training's weights, optimizer state and
epoch and go on with its own settings — a model trained half under one config and half
under another, recorded as the second.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from kerasgene._io import to_plain, write_json
from kerasgene.errors import ConfigError

#: Folder of a run directory with the backup state of each multi-worker process.
BACKUP = "backup"
#: The fingerprint of the training the backups belong to, in :data:`BACKUP`.
FINGERPRINT_FILE = "training.json"
#: ``training`` keys that change only what is shown or logged, not what is trained.
DISPLAY_KEYS = ("verbose", "tensorboard")


def process_dir(out: Path, kind: str, index: int) -> Path:
    """The backup folder of the multi-worker process ``kind`` ``index`` of run ``out``."""
    return out / BACKUP / f"{kind}_{index}"


def fingerprint(config: dict, training: dict, cache_key: str | None, workers: int) -> dict:
    """What a resumed training must share with the stopped one: ``system``, ``model``,
    the resolved training settings (``training``: the recipe's with the config's and the
    run's keys, defaults filled in) but for :data:`DISPLAY_KEYS`, ``seed``, the prepared
    dataset's ``cache_key`` (its inputs' contents and parameters) and ``workers``.
    Plain JSON types."""
    settings = {k: v for k, v in training.items() if k not in DISPLAY_KEYS}
    return to_plain({"system": config.get("system"), "model": config.get("model"),
                     "training": settings, "seed": int(config.get("seed", 0)),
                     "dataset": cache_key, "workers": int(workers)})


def _differences(old, new, path: str = "") -> list[str]:
    """``"key: old -> new"`` of every leaf where two plain structures differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in _differences(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))]
    return [] if old == new else [f"{path}: {json.dumps(old)} -> {json.dumps(new)}"]


def stopped_workers(out: Path) -> list[str]:
    """Names of the process folders of a stopped training in ``out`` (none when absent)."""
    folder = out / BACKUP
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def check_resume(out: Path, new: dict, multi_worker: bool) -> None:
    """Refuse a training into run directory ``out`` that cannot resume the backups there.

    Parameters
    ----------
    out : the run directory
    new : this training's :func:`fingerprint`
    multi_worker : whether this training runs under ``multi_worker`` (only such a training
        resumes; a one-process training would leave the backups to be resumed by a later
        multi-worker one into a run they do not belong to)

    Raises
    ------
    ConfigError
        backups there and a one-process training, or a recorded fingerprint that differs
        (naming the first differences and how to go on). Backups without a fingerprint
        (a training stopped before the chief recorded it) are resumed as they are.
    """
    workers = stopped_workers(out)
    if not workers:
        return
    folder = out / BACKUP
    fresh = f"or remove {folder} to train anew"
    if not multi_worker:
        raise ConfigError(f"{folder} holds the backups of a stopped multi-worker training "
                          f"({', '.join(workers)}): a one-process training cannot resume "
                          f"them; run the same command with --workers {len(workers)}, {fresh}")
    recorded = folder / FINGERPRINT_FILE
    if not recorded.is_file():
        return
    try:
        old = json.loads(recorded.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{recorded}: unreadable ({err}); remove {folder} to train "
                          "anew") from None
    differences = _differences(old, new)
    if differences:
        more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
        raise ConfigError(f"{folder} holds the backups of a stopped training with another "
                          f"config ({'; '.join(differences[:3])}{more}): resuming them would "
                          f"train on from its weights with this config's settings; run that "
                          f"config again to resume it, {fresh}")


def record(out: Path, new: dict) -> None:
    """Write this training's :func:`fingerprint` to the backup folder (the chief, before
    the fit)."""
    (out / BACKUP).mkdir(parents=True, exist_ok=True)
    write_json(out / BACKUP / FINGERPRINT_FILE, new)


def release(process: Path) -> None:
    """After a finished fit: remove this process' emptied backup folder
    (:func:`process_dir`), and the fingerprint and backup folder once every process'
    folder is gone (the last process to finish does)."""
    with contextlib.suppress(OSError):  # gone already
        process.rmdir()
    folder = process.parent
    if not stopped_workers(folder.parent):
        (folder / FINGERPRINT_FILE).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # gone, or another process' file came back
            folder.rmdir()
