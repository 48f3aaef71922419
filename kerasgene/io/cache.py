"""Files derived once from a user's file (indexes, recompressed genomes, converted tracks).

Where: beside the source file when its folder is writable (so the derived file travels
with the data, as a ``.fai`` does), else in ``$KERASGENE_CACHE`` or ``~/.cache/kerasgene``.
Named ``SOURCE_NAME.kg-OWNER-STATE.SUFFIX``: OWNER identifies the source by its absolute
path and the derivation's parameters (so two conversions of one file coexist), STATE the
source's size and mtime, so a changed source gives a new name and the files derived from
its older versions with the same parameters are removed.
Written atomically (:mod:`kerasgene._io`); temporaries of killed processes are removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from kerasgene._io import remove_stale_temporaries, to_plain
from kerasgene.errors import InputFileError

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """``$KERASGENE_CACHE`` or ``~/.cache/kerasgene``."""
    return Path(os.environ.get("KERASGENE_CACHE") or Path.home() / ".cache" / "kerasgene")


def cache_dir(source: str | os.PathLike) -> Path:
    """The folder of ``source`` when writable, else :func:`cache_root` (created)."""
    folder = Path(source).resolve().parent
    if os.access(folder, os.W_OK | os.X_OK):
        return folder
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputFileError(f"{source}: its folder is read-only and the cache folder {root} "
                             f"cannot be created ({err.strerror}); set KERASGENE_CACHE") from None
    return root


def _digest(value: Any, n: int) -> str:
    blob = json.dumps(to_plain(value), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def derived_path(source: str | os.PathLike, suffix: str, params: Any = None,
                 version: int = 0) -> Path:
    """Path of the file derived from ``source`` with ``params`` (see the module docstring).

    Parameters
    ----------
    source
        The user's file.
    suffix
        Ending of the derived file, e.g. ``".bgz"``, ``".bw"``, ``".fai"``.
    params
        JSON-serialisable parameters of the derivation (part of the name's OWNER).
    version
        The derivation's version, part of the STATE: raising it (a conversion that now
        checks or writes something else) makes every file derived before stale, and
        :func:`remove_older_versions` removes them (0 leaves the names as they were).
    """
    source = Path(source)
    st = source.stat()
    owner = _digest([str(source.resolve()), params], 8)
    state = _digest([st.st_size, st.st_mtime_ns, *([version] if version else [])], 10)
    return cache_dir(source) / f"{source.name}.kg-{owner}-{state}{suffix}"


def remove_older_versions(path: Path) -> list[Path]:
    """Remove other versions of the derived file ``path`` (same source and parameters, other
    STATE), the files derived from them (``.fai``, ``.gzi``) and stale temporaries of the same source."""
    name = path.name
    prefix = name[: name.rindex("-") + 1]  # SOURCE.kg-OWNER-
    removed = remove_stale_temporaries(path.parent, pattern=f".{prefix}*")
    for p in path.parent.glob(f"{prefix}*"):
        if not p.name.startswith(name) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        log.info("removed %d outdated cached file(s) of %s", len(removed), prefix[:-1])
    return removed
