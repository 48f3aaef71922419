"""Writing datasets: atomic builds, the cache key, and the integrity of the cache.

Builders (:mod:`kerasgene.datasets.regions`, ``pairs``, ``genome_bins``, ``histone_bins``)
write through :class:`DatasetWriter` and reuse a complete dataset with :func:`reuse_or_none`;
the format itself is described in :mod:`kerasgene.datasets.base`.

Writing and caching
-------------------
A builder writes into ``DIR.tmp-<pid>-<random>`` and renames it to ``DIR`` only when
complete; on any error the temporary directory is removed, so a partial dataset never
exists under ``DIR``. ``cache_key`` is the SHA-256 of the meta fields known before
building (format, task, kerasgene version, :data:`BUILD_REVISION`, params, input
fingerprints). Re-running a builder with the same key reuses ``DIR``; any change of an
input file (size, mtime or content prefix), of a parameter or of the build revision gives
a new key and a rebuild, which replaces ``DIR`` atomically. The split is deliberately
not in the key: changing only ``split:`` rewrites ``index.tsv`` and ``meta.json`` in place
(each replaced atomically) without re-reading the genome.

Integrity of the cache
----------------------
Before a cached dataset is reused, every ``.npy`` is hashed again and compared with the
``blake2b`` digest meta.json recorded at build time (:meth:`Dataset.verify`): a file
changed at the same size (a flipped byte, a partial overwrite, a copy gone wrong) or
truncated is detected. The dataset is then **rebuilt** from its inputs, with a warning
naming the file: the cache is derived data and the inputs are still there (their
fingerprints are in the cache key), so rebuilding is the repair a careful user would do
by hand; a dataset opened without a builder (``Dataset.open(path, verify=True)``, e.g.
``tune`` with only ``dataset_dir``) raises :class:`InputFileError` instead. A dataset
written before digests were recorded cannot be verified and is rebuilt once.
Verification reads every array once: BLAKE2b-128 ran at about 0.7 GB/s on one core here
(files in the page cache), i.e. 0.10 s for the small demo's iSEGnet dataset (74 MB) and
0.01 s or less for its histone (7.7 MB), DeepRAGE (9.5 MB), chromatin and DeepChrome
(2.4 MB each) datasets — 0.13 s for all five, against 8 s to build them — and about
1.4 s per GB of arrays (more when the files come from a cold disk). Builds hash the
bytes as they write them and cost nothing extra. Temporaries of killed builds (``DIR.tmp-<pid>-…`` folders whose
process is gone) are removed, with a warning, whenever a builder runs for ``DIR``.

The dataset a run was trained on
--------------------------------
A run's ``run.json`` records what its model saw (:func:`built_contents`): the digest of
index.tsv (the examples and their split sets) and, per array, its digest and a sketch
(:func:`array_sketch`). Commands on the run compare the dataset they prepare with it
(:func:`check_built`): the input fingerprints see a file's size and first and last MiB
only, so an input edited in between rebuilds another dataset under the same contents.
Arrays whose digest differs (a rebuild) are compared by sketch, within
:data:`SKETCH_RTOL`, since a rebuild on another CPU may differ in the last bits.
Sketching reads every array once more (0.36 s for 140 MB of float16 here), at the end of
training and on a rebuild only.

Warnings of the build
---------------------
What a build says about the user's files (a track without data on a chromosome, a class
left empty, promoters cut to length, ...) must not pass silently when a later command
reuses the dataset. While a builder builds, :class:`WarningRecorder` collects the
messages of the WARNING (or worse) records that the ``kerasgene`` loggers emit in the
building thread; meta.json keeps them as ``build_warnings``, with the build time as
``built``. Each reuse logs every message again as one WARNING line, ``(dataset built
TIME) MESSAGE``. The left-out counts of :class:`~kerasgene.datasets.dropped.Dropped` are
not recorded: :func:`~kerasgene.datasets.dropped.remind` already repeats them, in one
warning. Neither key is in the cache key, and a dataset cached before they existed is
reused without them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kerasgene
from kerasgene._io import remove_stale_temporaries, to_plain
from kerasgene.datasets import dropped as _dropped
from kerasgene.datasets import splits as _splits
from kerasgene.datasets.base import (
    DIGEST,
    FORMAT_VERSION,
    Dataset,
    _digest,
    file_digest,
    fingerprint,
)
from kerasgene.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

#: The readers' and builders' revision, in every cache key: bumped by a fix that changes
#: what a dataset built from the same files and parameters holds, or that now refuses such
#: files, so that a dataset cached before the fix is rebuilt (kerasgene's version does not
#: change with fixes). 2 (stop 39): a bedGraph without a track line is refused as a peak
#: file, which earlier builds read as peaks. 3 (stop 40): iSEGnet's ``neglog10p`` scale is
#: the maximum over the genome's chromosomes only (a contig the genome lacks set it), and
#: the transform refuses a track holding negative values (clipped to 0 before); MACS's
#: ``peaks.xls`` is read 1-based, a binned bedGraph without a track line is refused as a
#: peak file, a DeepRAGE names file with a header line is refused (it shifted every
#: state by one), and so is a byte-identical copy of a track under another name;
#: gffread's GFF3 transcripts are grouped into their genes (each was a gene); dropped.tsv
#: has a strand column. 4 (stop 42): ``signal_abs`` takes the absolute value of every
#: base before a bin's mean (a file of both strands' signs cancelled within bins); a
#: DeepRAGE names file whose first line is a column's name (``regulator``) is refused;
#: histone npz arrays whose columns are in another order (gene id, expression) or whose
#: float32 ids were rounded are refused, and two cell types reading one expression
#: column; chromatin splits whose target is all 0 are checked. 5 (stop 43): a chromatin
#: valid or test chromosome without target data beside others with some, or without
#: input data, is refused (meta.json's ``signal_no_data``); histone k-mer windows holding
#: IUPAC codes are warned about; the scale check of three or more samples names only the
#: one off (the build warnings a dataset keeps). 6 (stop 45): DeepRAGE class labels of
#: values equal to a positive threshold other than the last go to the upper class (5
#: classes: 0.5 is up, as −0.5 is down).
BUILD_REVISION = 6


def cache_key(task: str, params: Mapping, inputs: Mapping) -> str:
    """SHA-256 of the canonical JSON of what determines a dataset's arrays."""
    blob = json.dumps({"format": FORMAT_VERSION, "task": task,
                       "kerasgene_version": kerasgene.__version__,
                       "build_revision": BUILD_REVISION,
                       "params": to_plain(params), "inputs": to_plain(inputs)},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class WarningRecorder(logging.Handler):
    """Collects, one line each, the messages of the WARNING (or worse) records that reach
    it from the thread that created it — except those of
    :mod:`~kerasgene.datasets.dropped`, whose counts meta.json keeps under ``dropped``.

    Attributes
    ----------
    messages : list[str]
        The messages, in the order they were logged (line breaks replaced by spaces).
    """

    def __init__(self):
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread or record.name == _dropped.log.name:
            return
        try:
            self.messages.append(" ".join(record.getMessage().splitlines()))
        except Exception:  # a malformed call, reported as logging's own handlers do
            self.handleError(record)


class NpyAppender:
    """Write a ``.npy`` file of known shape chunk by chunk along axis 0 (no memory map,
    so written pages do not count towards the process's resident memory)."""

    def __init__(self, path: Path, shape: Sequence[int], dtype):
        self.path, self.shape, self.dtype = path, tuple(int(s) for s in shape), np.dtype(dtype)
        self.rows = 0
        self.hash = _digest()  # of every byte written: the file's digest when complete
        self._fh = open(path, "wb")
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                     "fortran_order": False, "shape": self.shape})
        self._write(header.getvalue())

    def _write(self, data) -> None:
        self._fh.write(data)
        self.hash.update(data)

    def append(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype)
        if chunk.shape[1:] != self.shape[1:]:
            raise ValueError(f"{self.path.name}: chunk shape {chunk.shape} does not match "
                             f"{self.shape}")
        if self.rows + len(chunk) > self.shape[0]:
            raise ValueError(f"{self.path.name}: more rows than the declared {self.shape[0]}")
        self._write(memoryview(chunk).cast("B"))
        self.rows += len(chunk)

    def close(self) -> None:
        self._fh.close()
        if self.rows != self.shape[0]:
            raise ValueError(f"{self.path.name}: wrote {self.rows} rows, declared {self.shape[0]}")


class DatasetWriter:
    """Builds a dataset in ``DIR.tmp-*`` and renames it into place on :meth:`commit`.

    Use as a context manager; leaving the block with an exception removes the temporary
    directory.

    Parameters
    ----------
    out_dir
        Final dataset directory.
    task
        Task name stored in meta.json (``isegnet``, ``histone``, ``deeprage``, ``chromatin``).
    params
        Resolved builder parameters (JSON-serialisable; the split excluded).
    inputs
        Name → input file path; fingerprinted into the cache key.
    """

    def __init__(self, out_dir: str | os.PathLike, task: str, params: Mapping,
                 inputs: Mapping[str, str | os.PathLike]):
        self.out_dir = Path(out_dir)
        self.task = task
        self.params = to_plain(params)
        self.inputs = {}
        for name, p in inputs.items():
            try:
                self.inputs[name] = fingerprint(p)
            except InputFileError as err:  # name the config field too
                raise InputFileError(f"{task}.{name}: {err}") from None
        self.key = cache_key(task, self.params, self.inputs)
        self.tmp: Path | None = None
        self._arrays: dict[str, NpyAppender] = {}
        self._shapes: dict[str, dict] = {}
        self._recorder: WarningRecorder | None = None
        self._detach: weakref.finalize | None = None
        self.remove_stale()

    def remove_stale(self) -> list[Path]:
        """Remove temporaries of killed builds of this dataset (``DIR.tmp-<pid>-…`` whose
        process is gone; ``DIR.tmp-old-…`` left by a kill during a replace); logged."""
        removed = remove_stale_temporaries(self.out_dir.parent,
                                           pattern=f"{self.out_dir.name}.tmp-*")
        if removed:
            log.warning("%s: removed %d temporary folders of killed builds (%s)", self.out_dir,
                        len(removed), ", ".join(p.name for p in removed[:3]))
        return removed

    def existing(self) -> Dataset | None:
        """The dataset already at ``out_dir`` if it is complete, has this cache key and its
        arrays match their recorded digests (:meth:`Dataset.verify`); else None (rebuild,
        with a warning when the cache is corrupted)."""
        meta_path = self.out_dir / "meta.json"
        if not meta_path.is_file():
            return None
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if meta.get("cache_key") != self.key:
            log.info("%s: inputs or parameters changed (cache key differs); rebuilding",
                     self.out_dir)
            return None
        try:
            return Dataset.open(self.out_dir, verify=True)
        except InputFileError as err:
            log.warning("%s: cached dataset not reused (%s); rebuilding", self.out_dir, err)
            return None

    def record_warnings(self) -> None:
        """Start collecting the warnings of the build (:class:`WarningRecorder` on the
        ``kerasgene`` logger) for meta.json's ``build_warnings``. Collecting stops at
        :meth:`commit`, on leaving the writer's block, or when the writer is garbage
        collected (a build that failed before its block)."""
        self._recorder = WarningRecorder()
        logger = logging.getLogger(kerasgene.__name__)
        logger.addHandler(self._recorder)
        self._detach = weakref.finalize(self, logger.removeHandler, self._recorder)

    def _recorded(self) -> list[str]:
        """Stop collecting warnings; the messages collected (none when not collecting)."""
        if self._recorder is None:
            return []
        self._detach()
        return self._recorder.messages

    def __enter__(self) -> DatasetWriter:
        if (self.out_dir.exists() and not (self.out_dir / "meta.json").is_file()
                and (not self.out_dir.is_dir() or any(self.out_dir.iterdir()))):
            raise ConfigError(f"{self.out_dir}: exists and is not a kerasgene dataset; "
                                  f"refusing to overwrite it")
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out_dir.with_name(
            f"{self.out_dir.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        self.tmp.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._recorded()
        for appender in self._arrays.values():
            if not appender._fh.closed:
                appender._fh.close()
        if self.tmp is not None and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)

    def array(self, name: str, shape: Sequence[int], dtype) -> NpyAppender:
        """Open ``name.npy`` for chunked writing."""
        appender = NpyAppender(self.tmp / f"{name}.npy", shape, dtype)
        self._arrays[name] = appender
        self._shapes[name] = {"shape": list(appender.shape), "dtype": appender.dtype.str}
        return appender

    def _close_arrays(self) -> None:
        """Close every array and record its digest."""
        for name, appender in self._arrays.items():
            if not appender._fh.closed:
                appender.close()
            self._shapes[name][DIGEST] = appender.hash.hexdigest()

    def save(self, name: str, values: np.ndarray) -> None:
        """Write a whole array at once."""
        values = np.asarray(values)
        appender = self.array(name, values.shape, values.dtype)
        if values.ndim == 0:
            raise ValueError(f"{name}: scalars are stored in meta.json, not as arrays")
        appender.append(values)
        appender.close()

    def commit(self, index: pd.DataFrame, meta: Mapping) -> Dataset:
        """Write index.tsv and meta.json (with the build's warnings, :meth:`record_warnings`),
        rename into place, and open the result."""
        self._close_arrays()
        full = {"format": FORMAT_VERSION, "task": self.task,
                "kerasgene_version": kerasgene.__version__, "build_revision": BUILD_REVISION,
                "cache_key": self.key,
                "params": self.params, "inputs": self.inputs, "arrays": self._shapes,
                "index_columns": {c: str(index[c].dtype) for c in index.columns},
                "built": datetime.now().astimezone().isoformat(timespec="seconds"),
                "build_warnings": self._recorded(), **to_plain(dict(meta))}
        index.to_csv(self.tmp / "index.tsv", sep="\t", index=False)
        (self.tmp / "meta.json").write_text(json.dumps(full, indent=1, sort_keys=True))
        old = None
        if self.out_dir.exists():
            old = self.out_dir.with_name(
                f"{self.out_dir.name}.tmp-old-{os.getpid()}-{secrets.token_hex(4)}")
            os.rename(self.out_dir, old)
        os.rename(self.tmp, self.out_dir)
        self.tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        log.info("wrote dataset %s (%s, %d examples)", self.out_dir, self.task,
                 full.get("n_examples", len(index)))
        return Dataset.open(self.out_dir)


def repeat_warnings(dataset: Dataset) -> None:
    """On reuse of a cached dataset, log again, one WARNING each, the warnings its build
    recorded (meta.json's ``build_warnings``; none in a dataset cached before they were
    recorded), each prefixed ``(dataset built TIME)``."""
    for message in dataset.meta.get("build_warnings") or []:
        log.warning("(dataset built %s) %s", dataset.meta["built"], message)


def finish_split(writer_index: pd.DataFrame, spec: Mapping | None, table: pd.DataFrame | None,
                 defaults: Mapping, groups: Mapping[str, np.ndarray] | None = None
                 ) -> tuple[pd.DataFrame, dict]:
    """Assign the split column of a new index (``groups``: :func:`kerasgene.datasets.splits.assign_split`'s);
    return (index, split meta)."""
    spec = dict(spec or {})
    labels = _splits.assign_split(spec, writer_index if table is None else table, **defaults,
                                  groups=groups)
    index = writer_index.copy()
    index["split"] = labels
    counts = {s: int((labels == s).sum()) for s in (*_splits.SETS, _splits.NONE)}
    return index, {"split": spec, "split_counts": counts}


def reuse_or_none(writer: DatasetWriter, split_spec: Mapping | None, force: bool
                  ) -> Dataset | None:
    """The cached dataset (re-split on disk if only ``split`` changed), or None to build."""
    if force:
        return None
    ds = writer.existing()
    if ds is None:
        return None
    spec = to_plain(dict(split_spec or {}))
    if ds.meta.get("split") != spec:
        log.info("%s: only the split changed; rewriting index.tsv", ds.path)
        ds = ds.with_split(spec)
        ds.save_split()
    else:
        log.info("%s: reusing cached dataset (same inputs and parameters)", ds.path)
    return ds


#: ``(input contents, split, who, params)`` a build must match (:func:`expecting`); None: any.
_EXPECTED: contextvars.ContextVar = contextvars.ContextVar("expected_dataset", default=None)
#: Builder parameters that change how a dataset is built, not its arrays.
BUILD_ONLY_PARAMS = frozenset({"chunk_size", "max_genes_outside"})


def input_contents(fingerprints: Mapping[str, Mapping]) -> dict[str, str]:
    """``{input: "SIZE:SHA256-PREFIX"}`` of a dataset's input fingerprints (meta.json's
    ``inputs``): what the files hold, whatever their path or mtime (a copied or moved
    project is the same data)."""
    return {name: f"{f['size']}:{f['sha256_prefix']}" for name, f in fingerprints.items()}


#: Relative tolerance of :func:`array_sketch` comparisons, of the array's norm: far above
#: the last-bit differences of a rebuild on another CPU (SIMD ``log``), far below one label
#: changed among 20,000.
SKETCH_RTOL = 1e-6
#: The frequencies of :func:`array_sketch`'s projections (irrational: no two examples of
#: one array share a weight).
_SKETCH_FREQUENCIES = (1.0, 2 ** 0.5, 3 ** 0.5, 5 ** 0.5)


def array_sketch(values: np.ndarray) -> list[float]:
    """``[norm, p1, p2, p3, p4]`` of an array whose axis 0 is its examples: the sums of
    each example's values (float64), their Euclidean norm and their projections on fixed
    weights ``cos(i·f)`` — what :func:`check_built` compares with :data:`SKETCH_RTOL`
    where two builds of the same data need not agree to the bit (another CPU's ``log``).
    A changed value, or two examples' values swapped, moves a projection; read in chunks
    of about 128 MB."""
    n = len(values)
    row = max(1, int(np.prod(values.shape[1:], dtype=np.int64)))
    step = max(1, (1 << 24) // row)
    sums = np.zeros(n, np.float64)
    for i in range(0, n, step):
        block = np.asarray(values[i : i + step], np.float64)
        sums[i : i + len(block)] = block.reshape(len(block), -1).sum(axis=1)
    ids = np.arange(n, dtype=np.float64)
    return [float(np.linalg.norm(sums)),
            *(float(np.cos(ids * f) @ sums) for f in _SKETCH_FREQUENCIES)]


def built_contents(dataset: Dataset) -> dict:
    """``{"index": digest, "arrays": {name: {"blake2b": digest, "sketch": [...]}}}`` of a
    prepared dataset: the BLAKE2b of its index.tsv (the examples and their split sets), and
    of each array as meta.json recorded it when written, with its :func:`array_sketch` —
    what a model trained on it saw."""
    return {"index": file_digest(Path(dataset.path) / "index.tsv"),
            "arrays": {name: {DIGEST: spec.get(DIGEST), "sketch": array_sketch(
                dataset.arrays[name])} for name, spec in dataset.meta["arrays"].items()}}


def _same_array(want: Mapping | None, have: Mapping | None, values) -> bool:
    """Whether an array (``values``, recorded as ``have`` in meta.json) holds what
    :func:`built_contents` recorded as ``want``: the same digest, or else (a rebuild) a
    sketch within :data:`SKETCH_RTOL`."""
    if want is None or have is None:
        return want is None and have is None
    if want.get(DIGEST) == have.get(DIGEST):
        return True
    a, b = np.asarray(want.get("sketch"), np.float64), np.asarray(array_sketch(values))
    return a.shape == b.shape and bool(
        np.all(np.abs(a - b) <= SKETCH_RTOL * max(a[0], b[0], np.finfo(float).tiny)))


def check_built(dataset: Dataset, recorded: Mapping | None, who: str) -> None:
    """Refuse ``dataset`` when it differs from the one a run's model was trained on
    (``recorded``: its :func:`built_contents`; None: a run recorded before they were, not
    checked): another index.tsv, or an array that differs (:func:`_same_array`). The input
    fingerprints read a file's size and its first and last MiB only: an input edited in
    between at the same size (one TPM value of a large table) rebuilt the dataset with
    other labels, and an index.tsv edited by hand moved training examples into the test
    set — both scored without a word.

    Raises
    ------
    ConfigError
        naming ``who``, the files that differ and what to do.
    """
    if not recorded:
        return
    want = recorded.get("arrays") or {}
    have = dataset.meta["arrays"]
    arrays = sorted(k for k in set(want) | set(have) if not _same_array(
        want.get(k), have.get(k), dataset.arrays.get(k)))
    if arrays:
        raise ConfigError(
            f"{who}: the dataset {dataset.path} differs from the one the model was trained "
            f"on ({', '.join(f'{a}.npy' for a in arrays[:3])}): an input file changed where "
            "its fingerprint does not look (the same size, first and last MiB), or another "
            "kerasgene builds it otherwise; nothing was scored — restore the inputs the run "
            "was trained on, or train a new run")
    if recorded.get("index") != file_digest(Path(dataset.path) / "index.tsv"):
        raise ConfigError(
            f"{who}: {Path(dataset.path) / 'index.tsv'} differs from the one the model was "
            "trained with (its examples or their train/valid/test sets were edited), so its "
            "test set may hold training examples; nothing was scored — delete "
            f"{dataset.path} to rebuild it from the inputs, or train a new run")


@contextlib.contextmanager
def expecting(contents: Mapping[str, str] | None, split: Mapping | None, who: str,
              params: Mapping | None = None):
    """Builds inside the block must read inputs of these :func:`input_contents`, split them
    by ``split`` and build them with these ``params`` (any None: not checked) — the dataset
    a run's model was trained on; any other raises ConfigError naming ``who`` before
    anything is rebuilt or re-split (an ``evaluate`` with another split scored the model on
    its own training genes, one from another directory rebuilt the run's dataset from that
    directory's files, and one with another ``log_base`` or window scored the model on
    labels or inputs it was not trained on). Parameters naming files, and
    :data:`BUILD_ONLY_PARAMS`, are not compared."""
    token = _EXPECTED.set((None if contents is None else dict(contents),
                           None if split is None else to_plain(dict(split)), who,
                           None if params is None else to_plain(dict(params))))
    try:
        yield
    finally:
        _EXPECTED.reset(token)


def changed_params(want: Any, have: Any, key: str = "", files: frozenset = frozenset()
                   ) -> list[str]:
    """Dotted keys (``samples[0].tracks.DNase.transform``) where the builder parameters
    ``have`` differ from ``want``, ignoring :data:`BUILD_ONLY_PARAMS` and the values that
    name input files: ``files`` holds their keys (the names of the datasets' input
    fingerprints, ``samples[0].tracks.DNase``, whose ``.path`` is the file too), whose
    contents :func:`input_contents` compares instead — a moved or copied project is the
    same data. Names are told by key, not by shape: a mark named ``H3K4me3.rep1`` is a
    setting."""
    if isinstance(want, Mapping) and isinstance(have, Mapping):
        return [k for name in sorted(set(want) | set(have), key=str)
                if name not in BUILD_ONLY_PARAMS
                for k in changed_params(want.get(name), have.get(name),
                                        f"{key}.{name}" if key else str(name), files)]
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        return [k for i, (a, b) in enumerate(zip(want, have))
                for k in changed_params(a, b, f"{key}[{i}]", files)]
    if isinstance(want, str) and isinstance(have, str) and (
            key in files or key.removesuffix(".path") in files):
        return []
    return [] if want == have else [key]


def _check_expected(fingerprints: Mapping[str, Mapping], params: Mapping,
                    split_spec: Mapping | None) -> None:
    expected = _EXPECTED.get()
    if expected is None:
        return
    want, want_split, who, want_params = expected
    have = input_contents(fingerprints)
    if want is not None and have != want:
        other = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        more = f" and {len(other) - 3} more" if len(other) > 3 else ""
        raise ConfigError(
            f"{who}: the model was trained on other input files ({', '.join(other[:3])}{more} "
            "differ in size or content, or are new or gone); nothing was changed — use the "
            "run's own config.yaml, or train a new run (to predict from other files: "
            "kerasgene export, then predict)")
    files = frozenset(want or ()) | frozenset(fingerprints)
    changed = [] if want_params is None else changed_params(want_params, to_plain(dict(params)),
                                                            files=files)
    if changed:
        raise ConfigError(
            f"{who}: the model was trained on a dataset built with other settings ("
            + ", ".join(f"{k}: {_value_at(want_params, k)!r} → {_value_at(params, k)!r}"
                        for k in changed[:3])
            + (f", and {len(changed) - 3} more" if len(changed) > 3 else "")
            + "); nothing was changed — use the run's own config.yaml, or train a new run")
    split = to_plain(dict(split_spec or {}))
    if want_split is not None and split != want_split:
        raise ConfigError(
            f"{who}: the model was trained with split {want_split}; the config now gives "
            f"{split}, whose test set would hold training examples; nothing was changed — "
            "train a new run to change the split")


def _value_at(params: Any, key: str) -> Any:
    """The value of ``params`` at a dotted key of :func:`changed_params` (None if absent)."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            i = int(part[1:-1])
            params = params[i] if isinstance(params, list) and i < len(params) else None
        else:
            params = params.get(part) if isinstance(params, Mapping) else None
    return params


def writer_or_cached(out_dir: str | os.PathLike, kind: str, params: Mapping,
                     inputs: Mapping[str, str | os.PathLike], split_spec: Mapping | None,
                     force: bool) -> tuple[DatasetWriter, Dataset | None]:
    """A builder's first step: its :class:`DatasetWriter`, and the complete cached dataset
    to return instead of building (:func:`reuse_or_none`; its left-out examples repeated
    in one warning, the other warnings of its build one by one), or None to build (the
    writer then records the build's warnings). Inside :func:`expecting`, a dataset other
    than the expected one is an error."""
    writer = DatasetWriter(out_dir, kind, params, inputs)
    _check_expected(writer.inputs, writer.params, split_spec)
    cached = reuse_or_none(writer, split_spec, force)
    if cached is None:
        writer.record_warnings()
    else:
        _dropped.remind(cached)
        repeat_warnings(cached)
    return writer, cached
