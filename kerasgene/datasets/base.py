"""The on-disk Dataset: its format, opening it, and streaming it to ``tf.data``.

Layout of a dataset directory
-----------------------------
``<name>.npy``
    One file per array, read memory-mapped with ``allow_pickle=False`` (a crafted file
    cannot run code; an object array is rejected). uint8 for one-hot DNA, float16 for
    [0, 1]-scaled tracks where the rounding (≤ 2⁻¹¹ relative) is far below the data's noise,
    float32 / int otherwise.
``meta.json``
    ``format``, ``task``, ``kerasgene_version``, ``build_revision``
    (:data:`kerasgene.datasets.storage.BUILD_REVISION`), ``cache_key``, ``params`` (the resolved
    builder config, split excluded), ``inputs`` (every input file: absolute path, size,
    mtime_ns and ``sha256_prefix`` = the first 16 hex digits of the SHA-256 of the file's
    first and last MiB — cheap on multi-GB bigWigs, and with size + mtime enough to
    notice a changed file), ``arrays`` (shape, dtype and ``blake2b``, the BLAKE2b-128 digest of each whole
    ``.npy`` file, computed while it is written), ``input_names``,
    ``input_shapes``, ``target_name``, ``targets``, ``split`` (the split config),
    ``split_counts``, ``built`` (the build's local time, ISO 8601) and ``build_warnings``
    (the messages the build warned with, repeated on every reuse; see
    :mod:`kerasgene.datasets.storage`), plus task-specific fields.
``index.tsv``
    One row per example (gene id, chrom, strand, sample / condition / cell, split); the
    genome-bins task has one row per chromosome segment instead (see genome_bins.py).

Writing, caching and the integrity of the cache: :mod:`kerasgene.datasets.storage`.

Streaming
---------
:meth:`Dataset.to_tf_dataset` batches example indices in ``tf.data`` and gathers each
batch from the memory maps in one ``tf.numpy_function`` call (pairs and genome windows
are assembled there from the base arrays, never materialised), casts in the graph and
prefetches. ``bench/bench_pipeline.py`` compares it with in-memory tensors.
:meth:`Dataset.select_inputs` gives a view that yields only some inputs or channels (the
iSEGnet ablation's ``training.inputs``): each gathered batch is sliced, so it streams too.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from kerasgene._io import to_plain, write_text
from kerasgene.config import check_keys
from kerasgene.datasets import splits as _splits
from kerasgene.errors import ConfigError, InputFileError, shown

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
REQUIRED = object()
_HASH_BYTES = 1 << 20
#: Digest of each ``.npy`` recorded in meta.json (``arrays.<name>.blake2b``).
DIGEST = "blake2b"


def _digest():
    return hashlib.blake2b(digest_size=16)


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b-128 hex digest of a whole file (the ``blake2b`` of meta.json's arrays)."""
    h = _digest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- config helpers
def resolve_config(config: Mapping | None, kwargs: Mapping, defaults: Mapping,
                   section: str) -> dict:
    """Merge ``config`` and keyword overrides over ``defaults``; check keys and required."""
    merged_in = dict(config or {})
    merged_in.update(kwargs)
    check_keys(merged_in, defaults.keys(), section)
    cfg = {**defaults, **merged_in}
    for key, value in cfg.items():
        if value is REQUIRED:
            raise ConfigError(f"{section}: missing required key {key!r}")
    return cfg


def resolve_selection(spec: Mapping, channel_names: Mapping[str, Sequence[str] | None],
                      where: str = "inputs") -> dict[str, bool | list[int]]:
    """Resolve an input selection (:meth:`Dataset.select_inputs`) against a dataset.

    Parameters
    ----------
    spec : ``{input name: true | false | channel name | [channel names]}``
    channel_names : every input name → its channel names (None: not selectable by name)
    where : config field named in error messages

    Returns
    -------
    ``{input name: True (whole) | False (dropped) | [channel indices, ascending]}`` for
    every input of ``channel_names``.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping input name → true, false or a list "
                          f"of channel names, got {type(spec).__name__}")
    out: dict[str, bool | list[int]] = dict.fromkeys(channel_names, True)
    for name, value in spec.items():
        if name not in channel_names:
            raise ConfigError(f"{where}: unknown input {name!r}; this dataset has "
                              f"{', '.join(channel_names)}")
        if isinstance(value, bool):
            out[name] = value
            continue
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}.{name}: expected true, false or a list of channel "
                              f"names, got {value!r}")
        valid = channel_names[name]
        if valid is None and value:
            raise ConfigError(f"{where}.{name}: input {name!r} has no named channels; "
                              f"expected true or false")
        bad = [v for v in value if v not in valid]
        if bad:
            raise ConfigError(f"{where}.{name}: unknown channel(s) {bad}; valid: "
                              f"{', '.join(valid)}")
        out[name] = sorted({list(valid).index(v) for v in value}) or False
    if not any(out.values()):
        raise ConfigError(f"{where}: selects no input (the dataset has "
                          f"{', '.join(channel_names)})")
    return out


def example_indices(idx, n_examples: int, where: str = "idx") -> np.ndarray:
    """``idx`` as int64 indices of a dataset's examples, checked once.

    Parameters
    ----------
    idx : a 1-D sequence of indices in ``[0, n_examples)`` (list, array, pandas Series;
        integral floats such as a pandas column with NaN removed are accepted), or a
        boolean mask of one value per example (``dataset.index["split"] == "test"``),
        which selects the examples where it is true
    n_examples : how many examples the dataset has
    where : the argument named in error messages

    Returns
    -------
    np.ndarray of int64, in the given order

    Raises
    ------
    ConfigError
        a string (a split name), a scalar, an array of more dimensions, a mask of another
        length, values that are not whole numbers, or indices outside the dataset.
    """
    if isinstance(idx, str):
        raise ConfigError(f"{where}: expected example indices, got the string {idx!r}; for "
                          f"the examples of a split pass split_indices({idx!r})")
    arr = np.asarray(idx)
    if arr.ndim != 1:
        hint = f"; for one example pass [{idx!r}]" if arr.ndim == 0 else ""
        raise ConfigError(f"{where}: expected a 1-D sequence of example indices, got "
                          f"{'a scalar' if arr.ndim == 0 else f'shape {arr.shape}'}{hint}")
    if arr.dtype == bool:
        if len(arr) != n_examples:
            raise ConfigError(f"{where}: a boolean mask of {len(arr)} values; expected one per "
                              f"example of the dataset ({n_examples}), or integer indices")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size == 0:
        return np.empty(0, np.int64)
    whole = arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and bool(
        np.isfinite(arr).all() and (arr == np.round(arr)).all()))
    if not whole:
        odd = [v for v in arr.tolist() if not (isinstance(v, int | float) and float(v).is_integer())]
        raise ConfigError(f"{where}: expected integer example indices, got {arr.dtype} values "
                          f"({shown(odd or arr.tolist(), 3)})")
    out = arr.astype(np.int64)
    bad = out[(out < 0) | (out >= n_examples)]
    if len(bad):
        raise ConfigError(f"{where}: {len(bad)} index(es) outside [0, {n_examples}) "
                          f"({shown(bad.tolist(), 3)}); the dataset has {n_examples} examples")
    return out


def resolve_path(value: str | os.PathLike | None, base_dir: str | os.PathLike | None
                 ) -> Path | None:
    """A config path, relative paths taken from ``base_dir`` (default: the working dir);
    a leading ``~`` of either is the home folder (:func:`os.path.expanduser`)."""
    if value is None:
        return None
    p = Path(os.path.expanduser(str(value)))
    if not p.is_absolute() and base_dir is not None:
        p = Path(os.path.expanduser(str(base_dir))) / p
    return p


def fingerprint(path: str | os.PathLike) -> dict:
    """Size, mtime and a SHA-256 prefix (first + last MiB) of an input file."""
    p = Path(path)
    try:
        st = p.stat()
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            h.update(fh.read(_HASH_BYTES))
            if st.st_size > 2 * _HASH_BYTES:
                fh.seek(-_HASH_BYTES, os.SEEK_END)
                h.update(fh.read(_HASH_BYTES))
    except OSError as err:
        raise InputFileError(f"{p}: cannot read input file ({err.strerror})") from None
    return {"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256_prefix": h.hexdigest()[:16]}



# ----------------------------------------------------------------------------- reading
def load_array(path: Path, shape: Sequence[int] | None = None, dtype: str | None = None
               ) -> np.ndarray:
    """Memory-map one ``.npy`` (``allow_pickle=False``) and check it against meta.json."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:  # object arrays, or an empty file that cannot be mapped
        if "empty" in str(err).lower() or "cannot mmap" in str(err).lower():
            try:
                arr = np.load(path, allow_pickle=False)
            except ValueError as err2:
                raise InputFileError(f"{path}: not a plain numeric .npy array ({err2})") from None
        else:
            raise InputFileError(f"{path}: not a plain numeric .npy array ({err})") from None
    except (OSError, EOFError) as err:
        raise InputFileError(f"{path}: cannot read array ({err})") from None
    if arr.dtype.hasobject:
        raise InputFileError(f"{path}: object arrays are not allowed")
    if shape is not None and list(arr.shape) != list(shape):
        raise InputFileError(f"{path}: shape {list(arr.shape)}, meta.json says {list(shape)}")
    if dtype is not None and arr.dtype.str != dtype:
        raise InputFileError(f"{path}: dtype {arr.dtype.str}, meta.json says {dtype}")
    return arr


_TASKS: dict[str, type[Dataset]] = {}


def register(task: str):
    """Class decorator: ``Dataset.open`` returns this class for meta.json's ``task``."""
    def deco(cls):
        cls.task = task
        _TASKS[task] = cls
        return cls
    return deco


class Dataset:
    """A prepared dataset directory, memory-mapped.

    Attributes
    ----------
    path : Path
    meta : dict
        Contents of meta.json.
    index : pandas.DataFrame
        index.tsv (one row per example; one per segment for genome bins).
    arrays : dict[str, np.memmap]
        Every ``.npy`` of the directory, memory-mapped read-only.
    input_names : list[str]
        Names of the model inputs, in order (keys of the input dict).
    input_shapes : dict[str, tuple]
        Per-example shape of each input.
    target_name : str
        The target yielded by default (``targets`` lists the alternatives).
    """

    task: ClassVar[str] = ""
    index_columns: ClassVar[Mapping[str, str]] = {}
    #: Input name → the meta.json key listing the names of its channels (last axis),
    #: for inputs whose channels :meth:`select_inputs` can pick by name.
    channel_keys: ClassVar[Mapping[str, str]] = {}
    #: The builder checks the classes of each split of a class target itself, at the build
    #: and at a re-split (the chromatin peak task); otherwise training does
    #: (:func:`kerasgene.train.evaluation.check_split_classes`).
    checks_split_classes: ClassVar[bool] = False

    def __init__(self, path: Path, meta: dict, index: pd.DataFrame,
                 arrays: dict[str, np.ndarray]):
        self.path = Path(path)
        self.meta = meta
        self.index = index
        self.arrays = arrays
        #: example → the example whose label it yields (:meth:`with_permuted_labels`)
        self.label_source: np.ndarray | None = None

    # ------------------------------------------------------------------ opening
    @staticmethod
    def open(path: str | os.PathLike, verify: bool = False) -> Dataset:
        """Open a dataset directory written by a builder.

        ``verify``: also check every array against its recorded digest (:meth:`verify`;
        reads every file once) and raise :class:`InputFileError` on a mismatch.
        """
        path = Path(path)
        meta_path = path / "meta.json"
        if not meta_path.is_file():
            raise InputFileError(f"{path}: not a kerasgene dataset (no meta.json)")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as err:
            raise InputFileError(f"{meta_path}: invalid JSON ({err})") from None
        task = meta.get("task")
        if task not in _TASKS:
            raise InputFileError(f"{meta_path}: unknown task {task!r}; expected one of "
                                 f"{sorted(_TASKS)}")
        if meta.get("format") != FORMAT_VERSION:
            raise InputFileError(f"{meta_path}: dataset format {meta.get('format')!r}, this "
                                 f"kerasgene reads format {FORMAT_VERSION}; rebuild it")
        arrays = {name: load_array(path / f"{name}.npy", spec["shape"], spec["dtype"])
                  for name, spec in meta["arrays"].items()}
        index = _read_index(path / "index.tsv", meta.get("index_columns", {}))
        dataset = _TASKS[task](path, meta, index, arrays)
        if verify:
            dataset.verify()
        return dataset

    def verify(self) -> None:
        """Check every ``.npy`` against the digest meta.json recorded when it was written.

        Raises
        ------
        InputFileError
            a file whose digest differs (changed or corrupted, even at the same size), or
            no digest recorded (a dataset written by an older kerasgene).
        """
        for name, spec in self.meta["arrays"].items():
            path = self.path / f"{name}.npy"
            want = spec.get(DIGEST)
            if want is None:
                raise InputFileError(f"{path}: no {DIGEST} digest in meta.json (written by "
                                     "an older kerasgene); cannot verify it")
            if file_digest(path) != want:
                raise InputFileError(f"{path}: contents differ from the {DIGEST} digest "
                                     "recorded in meta.json (corrupted cache)")

    # ------------------------------------------------------------------ properties
    @property
    def input_names(self) -> list[str]:
        return list(self.meta["input_names"])

    @property
    def input_shapes(self) -> dict[str, tuple]:
        return {k: tuple(v) for k, v in self.meta["input_shapes"].items()}

    @property
    def target_name(self) -> str:
        return self.meta["target_name"]

    @property
    def targets(self) -> list[str]:
        return list(self.meta.get("targets", [self.target_name]))

    @property
    def n_examples(self) -> int:
        return int(self.meta["n_examples"])

    @property
    def split_counts(self) -> dict[str, int]:
        return {s: len(self.split_indices(s)) for s in (*_splits.SETS, _splits.NONE)}

    def __len__(self) -> int:
        return self.n_examples

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.split_counts.items() if v)
        return f"<{type(self).__name__} {self.path} task={self.task} {counts}>"

    def is_stale(self) -> bool:
        """True when an input file recorded in meta.json changed or disappeared."""
        for spec in self.meta.get("inputs", {}).values():
            try:
                now = fingerprint(spec["path"])
            except InputFileError:
                return True
            if any(now[k] != spec[k] for k in ("size", "mtime_ns", "sha256_prefix")):
                return True
        return False

    # ------------------------------------------------------------------ splits
    def split_indices(self, split: str | Sequence[int] | np.ndarray) -> np.ndarray:
        """Sorted example indices of ``split`` (``train``/``valid``/``test``/``none``/``all``);
        indices or a boolean mask over the examples are returned as int64 indices
        (:func:`example_indices`)."""
        if not isinstance(split, str):
            return example_indices(split, self.n_examples, "split")
        if split == "all":
            return np.arange(self.n_examples, dtype=np.int64)
        if split not in (*_splits.SETS, _splits.NONE):
            raise ConfigError(f"unknown split {split!r}; expected train, valid, test, none or all")
        return np.flatnonzero(self.index["split"].to_numpy() == split).astype(np.int64)

    def _nonempty(self, split) -> np.ndarray:
        idx = self.split_indices(split)
        if len(idx) == 0:
            raise ConfigError(f"{self.path}: split {split if isinstance(split, str) else '(indices)'}"
                              f" is empty")
        return idx

    def split_table(self) -> pd.DataFrame:
        """The columns a split method reads (gene_id, chrom, condition, cell, ...)."""
        return self.index

    def split_groups(self, spec: Mapping) -> dict[str, np.ndarray] | None:
        """Per split-table column, a group key per example that ``spec``'s holdout
        fractions keep in one set (:func:`kerasgene.datasets.splits.assign_split`); None:
        every value its own group."""
        return None

    def with_split(self, spec: Mapping) -> Dataset:
        """A copy (same memory maps) whose examples are re-split by ``spec``."""
        index = self.index.copy()
        index["split"] = _splits.assign_split(spec, self.split_table(), **self._split_defaults(),
                                              groups=self.split_groups(spec))
        meta = {**self.meta, "split": to_plain(dict(spec))}
        new = type(self)(self.path, meta, index, self.arrays)
        new.meta["split_counts"] = dict(new.split_counts.items())
        return new

    def save_split(self) -> None:
        """Persist this object's split to index.tsv and meta.json (atomic replaces)."""
        write_text(self.path / "index.tsv", self.index.to_csv(sep="\t", index=False))
        write_text(self.path / "meta.json", json.dumps(self.meta, indent=1, sort_keys=True))

    @classmethod
    def _split_defaults(cls) -> dict:
        return {"default_fractions": (0.6, 0.2, 0.2), "default_seed": 0}

    def folds(self, split: str = "train", k: int = 3, fraction: float = 2 / 3, seed: int = 0
              ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``k`` overlapping (fit, holdout) index pairs over ``split`` (histone FCN ensemble),
        grouped by ``gene_id`` where the index has it: a gene's examples (one per cell type)
        are fitted or held out together, so a member's holdout genes are genes it never saw."""
        idx = self._nonempty(split)
        groups = self.index["gene_id"].to_numpy()[idx] if "gene_id" in self.index else None
        return _splits.overlapping_folds(idx, k, fraction, seed, groups)

    # ------------------------------------------------------------------ input selection
    def channel_names(self, name: str) -> list[str] | None:
        """Names of the channels (last axis) of input ``name``, None when not recorded."""
        key = self.channel_keys.get(name)
        return list(self.meta[key]) if key in self.meta else None

    def select_inputs(self, spec: Mapping, where: str = "inputs") -> Dataset:
        """A copy (same memory maps and split) that yields only some inputs and channels.

        Parameters
        ----------
        spec : ``{input name: true | false | [channel names]}``; true keeps the input
            whole, false or ``[]`` drops it, a list (or one name) keeps those channels
            (names of :meth:`channel_names`, e.g. iSEGnet's ``track_names``) in the
            dataset's order. Inputs not listed are kept whole.
        where : the config field named in error messages (e.g. ``training.inputs``)

        Returns
        -------
        Dataset whose ``input_names``, ``input_shapes``, channel names (meta.json key of
        :attr:`channel_keys`), :meth:`gather`, :meth:`arrays_for` and
        :meth:`to_tf_dataset` see only the selection. Each batch is still read from the
        memory maps and sliced in memory: nothing else is loaded.

        Raises
        ------
        ConfigError
            unknown input or channel names, channels asked of an input without channel
            names, or nothing left to feed a model.
        """
        channels = {n: self.channel_names(n) for n in self.input_names}
        keep = resolve_selection(spec, channels, where)
        kept = [n for n in self.input_names if keep[n] is not False]
        meta = {**self.meta, "input_names": kept,
                "input_shapes": {n: self.meta["input_shapes"][n] for n in kept}}
        selection = dict(self.meta.get("input_selection", {}))  # indices into the arrays
        for name, k in keep.items():
            if isinstance(k, list):
                stored = selection.get(name, range(self.input_shapes[name][-1]))
                selection[name] = [stored[j] for j in k]
                meta["input_shapes"][name] = [*self.input_shapes[name][:-1], len(k)]
                meta[self.channel_keys[name]] = [channels[name][j] for j in k]
            elif k is False:
                selection[name] = False
        meta["input_selection"] = selection
        return type(self)(self.path, meta, self.index, self.arrays)

    def with_permuted_labels(self, splits: Sequence[str] = ("train", "valid"), seed: int = 0
                             ) -> Dataset:
        """A copy (same memory maps, split and inputs) whose labels are permuted within
        each of ``splits`` (the shuffled-label control of :mod:`kerasgene.train.runs`).

        Every example keeps its inputs and yields the target — and the per-example
        weight, when the task has one — of another example of the same split, drawn by
        a permutation seeded with ``seed``; other splits keep their labels.
        """
        rng = np.random.default_rng(seed)
        source = np.arange(self.n_examples, dtype=np.int64) if self.label_source is None \
            else self.label_source.copy()
        for split in splits:
            idx = self.split_indices(split)
            source[idx] = source[rng.permutation(idx)]
        new = copy.copy(self)
        new.label_source = source
        return new

    # ------------------------------------------------------------------ gathering
    def _output_spec(self, target: str) -> dict[str, tuple[tuple, np.dtype]]:
        """Storage dtype and per-example shape of every stored array, inputs first."""
        raise NotImplementedError

    def _gather(self, idx: np.ndarray, target: str | None) -> dict[str, np.ndarray]:
        """Every stored input of examples ``idx``, ``"target"`` and ``"weight"`` (when
        the task has them), before the input selection."""
        raise NotImplementedError

    def _selected_spec(self, target: str) -> dict[str, tuple[tuple, np.dtype]]:
        """:meth:`_output_spec` with the channel counts of :meth:`select_inputs`."""
        spec = self._output_spec(target)
        for name, keep in self.meta.get("input_selection", {}).items():
            if keep is not False:
                spec[name] = ((*spec[name][0][:-1], len(keep)), spec[name][1])
        return spec

    def gather(self, idx: Sequence[int] | np.ndarray, target: str | None = None
               ) -> dict[str, np.ndarray]:
        """Arrays of examples ``idx`` in storage dtypes: one entry per input name (only
        the inputs and channels of :meth:`select_inputs`), then ``"target"`` and (when
        the task has them) ``"weight"``, each with the examples on its first axis.

        ``idx``: example indices or a boolean mask over the examples, checked by
        :func:`example_indices` (a split name, a scalar or an index outside the dataset
        is a :class:`ConfigError`)."""
        return self._take(example_indices(idx, self.n_examples), target)

    def _take(self, idx: np.ndarray, target: str | None) -> dict[str, np.ndarray]:
        """:meth:`gather` of int64 indices already checked (the streaming loop's)."""
        got = self._gather(idx, target)
        if self.label_source is not None:  # labels (and weights) of other examples
            moved = self.label_source[np.asarray(idx, dtype=np.int64)]
            if "weight" in got:
                other = self._gather(moved, target)
                got["target"], got["weight"] = other["target"], other["weight"]
            else:
                got["target"] = self._labels(moved, self._target(target))
        for name, keep in self.meta.get("input_selection", {}).items():
            if keep is False:
                del got[name]
            else:
                got[name] = got[name][..., keep]
        return got

    def _target(self, target: str | None) -> str:
        target = target or self.target_name
        if target not in self.targets:
            raise ConfigError(f"unknown target {target!r}; this dataset has {self.targets}")
        return target

    def labels(self, split: str | Sequence[int] = "all", target: str | None = None
               ) -> np.ndarray:
        """The target values of a split in index order, without the inputs: (N,) int32
        (classes) or float32. A builder whose targets are stored apart from its inputs
        overrides :meth:`_labels` to read them alone."""
        target = self._target(target)
        idx = self._nonempty(split)
        if self.label_source is not None:
            idx = self.label_source[idx]
        y = np.concatenate([self._labels(idx[i : i + 4096], target)
                            for i in range(0, len(idx), 4096)])
        return y.astype(np.int32) if np.issubdtype(y.dtype, np.integer) else y.astype(np.float32)

    def _labels(self, idx: np.ndarray, target: str) -> np.ndarray:
        return self._gather(idx, target)["target"]

    def arrays_for(self, split: str | Sequence[int] = "all", target: str | None = None,
                   with_weights: bool = False):
        """In-memory ``(inputs, targets)`` (or ``(inputs, targets, weights)``) of a split.

        Inputs are float32 (a dict keyed by input name), targets float32 (regression) or
        int32 (classes). Meant for small sets and scikit-learn baselines.
        """
        target = self._target(target)
        got = self._take(self._nonempty(split), target)
        x = {n: np.asarray(got[n], dtype=np.float32) for n in self.input_names}
        y = got["target"]
        y = y.astype(np.int32) if np.issubdtype(y.dtype, np.integer) else y.astype(np.float32)
        if with_weights:
            w = got.get("weight")
            w = np.ones(len(y), np.float32) if w is None else np.asarray(w, np.float32)
            return x, y, w
        return x, y

    def to_tf_dataset(self, split: str | Sequence[int], batch_size: int, shuffle: bool = False,
                      seed: int = 0, repeat: bool = False, *, target: str | None = None,
                      drop_remainder: bool = False, weights: bool | None = None,
                      class_weight: Sequence[float] | np.ndarray | None = None,
                      parallel: int | None = None, shard: tuple[int, int] | None = None):
        """A ``tf.data.Dataset`` of ``({input_name: float32}, target[, sample_weight])``.

        Parameters
        ----------
        split
            ``"train"``, ``"valid"``, ``"test"``, ``"all"`` or an array of example indices.
        batch_size
            Examples per batch.
        shuffle, seed
            Reshuffle the examples every epoch, reproducibly for a given seed.
        repeat
            Repeat forever (use ``steps_per_epoch``).
        target
            Which target to yield (``self.targets``); default ``self.target_name``.
        weights
            Yield a per-example sample weight (default: when the task has them, e.g.
            the masked loss of genome bins).
        class_weight
            Weight of each class of a class target (index = class; e.g. balanced
            classes): yields a sample weight, the example's class weight times any
            weight the task has.
        parallel
            Batches gathered concurrently (default: ``tf.data.AUTOTUNE``).
        shard
            ``(i, n)``: of every batch (``batch_size`` is then the global batch of n
            replicas) only the examples ``i, i + n, i + 2n, …``. The n replicas, shuffled
            with the same seed, thus see together exactly the batches of one unsharded
            stream (every example once per epoch), each reading only its own examples.
        """
        import tensorflow as tf

        target = self._target(target)
        idx = self._nonempty(split)
        spec = self._selected_spec(target)
        if weights is None:
            weights = "weight" in spec or class_weight is not None
        if weights and "weight" not in spec:
            spec = {**spec, "weight": ((), np.dtype(np.float32))}
        names = list(self.input_names) + ["target"] + (["weight"] if weights else [])
        tout = [tf.as_dtype(spec[n][1]) for n in names]
        by_class = None if class_weight is None else np.asarray(class_weight, np.float32)

        def fetch(batch: np.ndarray):
            if shuffle:
                batch = np.sort(batch)  # sequential reads from the memory maps
            got = self._take(batch, target)
            if weights and "weight" not in got:
                got["weight"] = np.ones(len(batch), np.float32)
            if by_class is not None:
                got["weight"] = got["weight"] * by_class[got["target"].astype(np.int64)]
            return [np.ascontiguousarray(got[n]) for n in names]

        def tf_fetch(batch):
            outs = tf.numpy_function(fetch, [batch], tout, stateful=False)
            res = {}
            for name, t in zip(names, outs):
                t.set_shape((None, *spec[name][0]))
                if name in self.input_names or name == "weight":
                    t = tf.cast(t, tf.float32)
                elif t.dtype.is_integer:
                    t = tf.cast(t, tf.int32)
                else:
                    t = tf.cast(t, tf.float32)
                res[name] = t
            x = {n: res[n] for n in self.input_names}
            return (x, res["target"], res["weight"]) if weights else (x, res["target"])

        ds = tf.data.Dataset.from_tensor_slices(idx)
        if shuffle:
            ds = ds.shuffle(len(idx), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        if shard is not None:
            first, step = int(shard[0]), int(shard[1])
            ds = ds.map(lambda batch: batch[first::step])
        ds = ds.map(tf_fetch, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)


def _read_index(path: Path, columns: Mapping[str, str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputFileError(f"{path}: cannot read dataset index ({err})") from None
    for col, dtype in columns.items():
        if col not in df.columns:
            raise InputFileError(f"{path}: missing column {col!r}")
        if dtype != "object" and not dtype.startswith(("str", "string")):
            try:
                df[col] = df[col].astype(dtype)
            except (TypeError, ValueError) as err:
                raise InputFileError(f"{path}: column {col!r} is not {dtype} ({err})") from None
    return df
