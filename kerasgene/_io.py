"""Shared file helpers: readable inputs, atomic writes, conversion to plain JSON/YAML types.

Input files are checked by :func:`check_readable`. Every file kerasgene writes goes through :func:`atomic_path` (or one of the wrappers
below): the content is written to a hidden temporary file in the same directory, flushed
to disk, and renamed over the target only when complete. A failure or a kill leaves
either the old file or none — never a half-written one — and the temporary file is
removed on any error. Leftovers of a killed process (``.NAME.tmp-PID-RANDOM``) are
recognised by :func:`is_temporary` and removed by :func:`remove_stale_temporaries`.
Commands that write a folder of results stage it with :func:`staged_folder`.
The one exception, a log that several processes append lines to, goes through
:func:`append_line`.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import io
import json
import logging
import os
import re
import secrets
import shutil
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene.errors import InputFileError

log = logging.getLogger(__name__)

#: Marker in the names of temporary files and folders (``.model.tmp-123-ab12cd.keras``).
TMP_MARKER = ".tmp-"


def temporary_name(path: str | os.PathLike) -> Path:
    """A hidden, unique sibling of ``path`` keeping its suffix (Keras and matplotlib choose
    the format from it): ``dir/.NAME.tmp-PID-RANDOM.SUFFIX``."""
    path = Path(path)
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f".{stem}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(3)}{suffix}")


def _fsync(path: Path) -> None:
    """Flush a written file (or every file of a written folder) to disk."""
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The caller writes a file (or a folder) at the yielded path by any means (a library's
    ``save(path)``); on leaving the block it is flushed and renamed into place. On any
    exception the temporary is removed and ``path`` is left as it was. Temporaries of
    ``path`` left by killed processes (SIGTERM, SIGKILL) are removed first, with a warning.

    Examples
    --------
    >>> with atomic_path("run/model.keras") as tmp:    # doctest: +SKIP
    ...     model.save(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    suffix = "".join(path.suffixes[-1:])
    stale = remove_stale_temporaries(
        path.parent, pattern=f".{path.name[: len(path.name) - len(suffix)]}{TMP_MARKER}*{suffix}")
    if stale:
        log.warning("%s: removed %d temporaries of it left by killed processes (%s)", path,
                    len(stale), ", ".join(p.name for p in stale))
    try:
        yield tmp
        _fsync(tmp)
        if path.is_dir() and tmp.is_dir():  # a folder is replaced as a whole
            _remove(path)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike, *, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside the folder ``path``; on success move each
    of its entries into ``path``.

    For commands that write many files into a folder that may already hold other things
    (an earlier run's files, the user's own): on leaving the block ``path`` is created if
    need be, the entries named in ``replaces`` and those of the same name as a staged
    entry are removed from it, and the staged entries are moved in; other entries stay.
    On any exception (Ctrl-C included) the temporary folder is removed and ``path`` is
    left as it was: no half-written output. Staging folders of ``path`` left by killed
    processes (SIGKILL, the OOM killer) are removed first, with a warning.

    Examples
    --------
    >>> with staged_folder("run/explain") as tmp:    # doctest: +SKIP
    ...     write_json(tmp / "explain.json", summary)
    """
    path = Path(path)
    tmp = temporary_name(path)
    stale = remove_stale_temporaries(tmp.parent, pattern=f".{path.name}{TMP_MARKER}*")
    if stale:
        log.warning("%s: removed %d staging folder(s) left by killed runs (%s)", path,
                    len(stale), ", ".join(p.name for p in stale))
    tmp.mkdir(parents=True)
    try:
        yield tmp
        _fsync(tmp)
        path.mkdir(parents=True, exist_ok=True)
        for name in replaces:
            _remove(path / name)
        for p in sorted(tmp.iterdir()):
            if (path / p.name).is_dir() and not (path / p.name).is_symlink():
                _remove(path / p.name)  # a folder is replaced as a whole
            os.replace(p, path / p.name)
    finally:
        _remove(tmp)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename; see
    :func:`atomic_path`. Returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` (numpy scalars, arrays and paths allowed) as JSON, atomically."""
    return write_text(path, json.dumps(to_plain(obj), indent=indent) + "\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as YAML (keys in their order), atomically."""
    import yaml

    return write_text(path, yaml.safe_dump(to_plain(obj), sort_keys=False))


def append_line(path: str | os.PathLike, line: str) -> Path:
    """Append ``line`` and a newline to ``path`` (created if missing) in one ``write`` on a
    descriptor opened with ``O_APPEND``, so lines appended by several processes at once
    (a log shared by tuning workers) are never interleaved. Not atomic: a log, not a
    document."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
    return Path(path)


def write_tsv(path: str | os.PathLike, table: Any, *,
              float_format: str | None = "%.6g") -> Path:
    """Write a table as tab-separated text with a header row and no index, atomically.

    Parameters
    ----------
    path : the file to write
    table : a ``pandas.DataFrame``, rows (a sequence of mappings) or columns (a mapping
        of equal-length sequences)
    float_format : how floats are written (default 6 significant digits)
    """
    import pandas as pd

    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    return write_atomic(path, lambda tmp: frame.to_csv(tmp, sep="\t", index=False,
                                                       float_format=float_format))


def safe_name(name: Any, default: str = "x") -> str:
    """``name`` as part of a file name: each run of characters other than letters, digits,
    ``_``, ``.`` and ``-`` becomes one ``_``, leading and trailing ``_`` are dropped, and an
    empty result is ``default`` (``"DNase only"`` → ``DNase_only``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or default


def to_plain(value: Any) -> Any:
    """``value`` with mappings, sequences, numpy scalars / arrays and paths turned into the
    plain Python types that ``json`` and ``yaml.safe_dump`` accept (keys become str)."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def is_temporary(path: str | os.PathLike) -> bool:
    """True for a temporary file or folder written by :func:`atomic_path` (or by older
    kerasgene versions: ``NAME.tmp-…``)."""
    return TMP_MARKER in Path(path).name


def remove_stale_temporaries(folder: str | os.PathLike, *, pattern: str = "*") -> list[Path]:
    """Remove temporaries left in ``folder`` by processes that no longer run.

    A temporary's owner is the PID in its name; one whose process is alive (another run
    writing now) is kept. Returns the removed paths.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.glob(pattern):
        if not is_temporary(p):
            continue
        pid = _owner_pid(p.name)
        if pid is not None and _alive(pid):
            continue
        _remove(p)
        removed.append(p)
    return removed


def _owner_pid(name: str) -> int | None:
    tail = name.split(TMP_MARKER, 1)[1]
    digits = tail.split("-", 1)[0].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_text(path: str | os.PathLike):
    """Open a text file for reading, gzip (or bgzip) or plain, told apart by its first
    bytes rather than its name; UTF-8, a leading byte-order mark removed (spreadsheets on
    Windows write one), universal newlines (CRLF reads as LF)."""
    return _text_stream(open(path, "rb"))


def _text_stream(raw) -> io.TextIOWrapper:
    """:func:`open_text`'s text over the binary handle ``raw`` (closed with it)."""
    gz = raw.read(2) == b"\x1f\x8b"
    raw.seek(0)
    return io.TextIOWrapper(gzip.GzipFile(fileobj=raw) if gz else raw, encoding="utf-8-sig")


#: seconds a :func:`text_lines` read with ``progress`` runs before its bar shows
TEXT_BAR_DELAY_S = 2.0


def text_lines(path: str | os.PathLike, what: str, progress: bool = False
               ) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline) of a plain or gzip text file; a truncated
    or corrupt gzip stream or bytes that are not UTF-8 text are one-line errors.
    ``progress``: a tqdm bar over the file's bytes (compressed bytes of a gzip file), shown
    once the read has taken :data:`TEXT_BAR_DELAY_S` (a small file shows none)."""
    from tqdm.auto import tqdm

    lineno = 0
    try:
        raw = open(path, "rb")  # closed with its text stream
        with _text_stream(raw) as fh, tqdm(total=os.path.getsize(path), unit="B",
                                           unit_scale=True, desc=f"reading {Path(path).name}",
                                           disable=not progress, delay=TEXT_BAR_DELAY_S) as bar:
            for lineno, line in enumerate(fh, 1):
                if progress and not lineno % 65536:
                    bar.update(raw.tell() - bar.n)
                yield lineno, line.rstrip("\r\n")
            bar.update(bar.total - bar.n)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise InputFileError(f"{path}: truncated or corrupt gzip {what} (after line {lineno}: "
                             f"{err or type(err).__name__}); re-download or re-compress "
                             "it") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{path}:{lineno + 1}: not a text {what} (bytes that are not "
                             "UTF-8)") from None


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, waiting: str | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` itself (a file or a folder) while the block
    runs: processes and threads that lock the same path wait their turn, and no lock file
    is left behind (the lock goes with the descriptor, also when a process is killed).
    ``waiting``: what a wait for another holder shows (:func:`elapsed_bar`, e.g. another
    process indexing the same genome)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with elapsed_bar(waiting) if waiting else contextlib.nullcontext():
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def elapsed_bar(desc: str) -> Iterator[None]:
    """A tqdm line ``DESC … 00:42`` on stderr while the block runs, for a long step that
    offers no progress hook (pyfaidx indexing a genome): shown, as :func:`text_lines`'s
    bar, once the block has run :data:`TEXT_BAR_DELAY_S` (a quick step shows nothing),
    then redrawn twice a second; it ends as ``DESC: done in 01:03``, or where it was when
    the block raised."""
    from tqdm.auto import tqdm

    stop = threading.Event()
    with tqdm(desc=f"{desc} …", bar_format="{desc} {elapsed}", delay=TEXT_BAR_DELAY_S) as bar:
        def tick() -> None:
            while not stop.wait(0.5):
                bar.update(0)  # redraws once the bar's delay has passed

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
        bar.set_description_str(f"{desc}: done in", refresh=False)


def read_json_object(path: str | os.PathLike, what: str) -> dict:
    """The JSON object in ``path``; InputFileError naming the file and ``what`` it should
    hold when it cannot be read, is not JSON or is not an object."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise InputFileError(f"{path}: cannot read {what} ({err.strerror})") from None
    except ValueError as err:
        raise InputFileError(f"{path}: {what} is not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise InputFileError(f"{path}: {what} must be a JSON object")
    return doc


def check_folder_path(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path where a folder is or can be made, or raise InputFileError
    naming ``what`` when it, or the nearest existing path above it, is a file (checked
    before any work, instead of a FileExistsError / NotADirectoryError at the end)."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if p.is_dir():
                return path
            if p == path:
                raise InputFileError(f"{what}: {path} is a file; expected a folder (or a path "
                                     "that does not exist yet)")
            raise InputFileError(f"{what}: {path}: {p} is a file, not a folder; expected a "
                                 "path where a folder can be made")
    return path


def check_output_file(path: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None],
                      option: str = "--out", kind: str = "TSV") -> Path:
    """Return ``path`` as a Path where a file can be written, checked before any work.

    Parameters
    ----------
    path : the output file an option names
    inputs : ``{what: path}`` of the command's input files (``None`` for one not given),
        e.g. ``{"--genome file": "g.fa"}``
    option, kind : the option and the kind of file it writes, for the messages

    Raises
    ------
    InputFileError
        ``path`` is one of ``inputs`` (the output would replace it), a directory, below a
        file, or in a folder this process may not write into.
    """
    path = Path(path)
    for what, source in inputs.items():
        if source is not None and path.exists() and os.path.exists(source) \
                and path.samefile(source):
            raise InputFileError(f"{option}: {path} is the {what} itself; expected another path "
                                 f"for the {kind} (the {kind} would replace the {what})")
    if path.is_dir():
        raise InputFileError(f"{option}: {path} is a directory; expected the path of the "
                             f"{kind} to write (e.g. {path / f'out.{kind.lower()}'})")
    if not path.exists():  # a path below a file names both
        check_folder_path(path, option)
    parent = next(p for p in (path.parent, *path.parent.parents) if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputFileError(f"{option}: {path}: cannot write into {parent} (permission denied)")
    return path


def check_readable(path: str | os.PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise InputFileError if it cannot be read."""
    path = Path(path)
    try:
        if not path.exists():
            raise InputFileError(f"{path}: {what} not found")
        if path.is_dir():
            raise InputFileError(f"{path}: expected a {what}, found a directory")
        with open(path, "rb"):
            pass
    except PermissionError:
        raise InputFileError(f"{path}: {what} is not readable (permission denied)") from None
    return path
