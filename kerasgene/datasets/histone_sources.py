"""The three sources of the histone-bins set (:mod:`kerasgene.datasets.histone_bins`):
DeepChrome CSVs, Kaggle npz files and bigWig marks with expression tables.

Readers of the two array formats, and per source the collection of a config's cells
(cell type, gene ids, marks or track paths, expression or labels, given split).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from kerasgene._io import check_readable
from kerasgene.datasets import base
from kerasgene.errors import ConfigError, InputFileError

SOURCES = ("bigwig", "deepchrome_csv", "kaggle_npz")
BIGWIG_CELL_KEYS = {"marks", "expression", "expression_column", "gene_column"}


def read_deepchrome_csv(path: str | os.PathLike, n_marks: int = 5, n_bins: int = 100
                        ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a DeepChrome CSV (``GeneID,BinID,<marks>,label``, ``n_bins`` rows per gene).

    Returns
    -------
    gene_ids : list of str (leading zeros kept)
    marks : np.ndarray float32, shape (G, n_bins, n_marks), bins in BinID order
    labels : np.ndarray int8, shape (G,)
    """
    path = check_readable(path, "DeepChrome CSV")
    with open(path, encoding="utf-8") as fh:
        first = fh.readline()
    header = 0 if first.split(",")[0].strip().lower() in ("geneid", "gene_id", "gene") else None
    try:
        df = pd.read_csv(path, header=header, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputFileError(f"{path}: cannot parse as CSV ({err})") from None
    if df.shape[1] != n_marks + 3:
        raise InputFileError(f"{path}: {df.shape[1]} columns, expected {n_marks + 3} "
                             f"(GeneID, BinID, {n_marks} marks, label)")
    try:
        nums = df.iloc[:, 1:].astype(np.float64).to_numpy()
    except ValueError as err:
        raise InputFileError(f"{path}: non-numeric bin, mark or label value ({err})") from None
    genes = df.iloc[:, 0].str.strip().to_numpy()
    if len(df) % n_bins:
        raise InputFileError(f"{path}: {len(df)} rows is not a multiple of {n_bins} bins per gene")
    genes = genes.reshape(-1, n_bins)
    if (genes != genes[:, :1]).any():
        bad = int(np.argwhere((genes != genes[:, :1]).any(axis=1))[0, 0])
        raise InputFileError(f"{path}: gene {genes[bad, 0]!r} does not have {n_bins} consecutive "
                             f"rows")
    nums = nums.reshape(-1, n_bins, n_marks + 2)
    order = np.argsort(nums[:, :, 0], axis=1, kind="stable")
    nums = np.take_along_axis(nums, order[:, :, None], axis=1)
    if (nums[:, :, 0] != np.arange(1, n_bins + 1)).any():
        raise InputFileError(f"{path}: BinID must run 1..{n_bins} for every gene")
    labels = nums[:, :, -1]
    if (labels != labels[:, :1]).any() or not np.isin(labels, (0, 1)).all():
        raise InputFileError(f"{path}: label must be 0 or 1 and the same on every row of a gene")
    return list(genes[:, 0]), nums[:, :, 1:-1].astype(np.float32), labels[:, 0].astype(np.int8)


def read_kaggle_npz(path: str | os.PathLike, n_marks: int = 5) -> dict[str, tuple]:
    """Read a Kaggle npz: per cell type an array (genes, n_bins, 2 + n_marks) = gene id,
    marks, expression (expression and gene id taken from bin 0).

    Returns
    -------
    dict cell → (gene_ids list[str], marks float32 (G, n_bins, n_marks), expression float64 (G,))
    """
    path = check_readable(path, "npz file")
    out = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for cell in npz.files:
                arr = npz[cell]
                if arr.ndim != 3 or arr.shape[2] != n_marks + 2:
                    raise InputFileError(f"{path}: array {cell!r} has shape {arr.shape}, expected "
                                         f"(genes, bins, {n_marks + 2})")
                ids = arr[:, 0, 0]
                gene_ids = [str(int(v)) if float(v).is_integer() else str(v) for v in ids]
                out[cell] = (gene_ids, arr[:, :, 1:-1].astype(np.float32),
                             arr[:, 0, -1].astype(np.float64))
    except ValueError as err:
        raise InputFileError(f"{path}: not a plain numeric npz ({err})") from None
    except (OSError, EOFError) as err:
        raise InputFileError(f"{path}: cannot read npz ({err})") from None
    return out


def infer_source(cfg: Mapping) -> str:
    """The ``source`` of a resolved histone config: given, or inferred from its keys."""
    if cfg["source"] is not None:
        if cfg["source"] not in SOURCES:
            raise ConfigError(f"histone.source: expected one of {SOURCES}, got {cfg['source']!r}")
        return cfg["source"]
    if cfg["npz"] is not None:
        return "kaggle_npz"
    cells = cfg["cells"]
    if not cells:
        raise ConfigError("histone: give 'cells' (bigWigs or DeepChrome CSVs) or 'npz'")
    first = next(iter(cells.values()))
    return "bigwig" if isinstance(first, Mapping) and "marks" in first else "deepchrome_csv"


def collect_cells(cfg: Mapping, source: str, base_dir: str | os.PathLike | None,
                  inputs: dict) -> list[dict]:
    """Per cell: {cell, gene_ids, marks (G,B,M) | None, expression | None, label | None,
    given_split | None, genes (list[Gene]) | None, trackset spec | None}; the files read
    are added to ``inputs`` (config field → path)."""
    if source == "kaggle_npz":
        cells = _collect_npz(cfg, base_dir, inputs)
    elif source == "deepchrome_csv":
        cells = _collect_csv(cfg, base_dir, inputs)
    else:
        cells = _collect_bigwig(cfg, base_dir, inputs)
    if not cells:
        raise ConfigError("histone: no cell types to read")
    if len({c["cell"] for c in cells}) != len(cells):
        raise ConfigError("histone: duplicate cell type names")
    return cells


def _collect_npz(cfg, base_dir, inputs) -> list[dict]:
    """Cells of Kaggle npz files, a cell type present in several files merged."""
    marks, n_bins = list(cfg["marks"]), int(cfg["n_bins"])
    spec = cfg["npz"]
    if isinstance(spec, Mapping):
        files = [(str(k), v) for k, v in spec.items()]
    else:
        paths = spec if isinstance(spec, (list, tuple)) else [spec]
        files = [(None, v) for v in paths]
    merged: dict[str, dict] = {}
    for i, (name, p) in enumerate(files):
        p = base.resolve_path(p, base_dir)
        inputs[f"npz.{name or i}"] = p
        label = name if name in ("train", "valid", "test") else "none"
        for cell, (ids, m, expr) in read_kaggle_npz(p, len(marks)).items():
            if cfg["cell_types"] is not None and cell not in cfg["cell_types"]:
                continue
            if m.shape[1] != n_bins:
                raise InputFileError(f"{p}: {cell!r} has {m.shape[1]} bins, n_bins={n_bins}")
            c = merged.setdefault(cell, {"cell": cell, "gene_ids": [], "marks": [],
                                         "expression": [], "label": None,
                                         "given_split": [], "file": []})
            c["gene_ids"] += ids
            c["marks"].append(m)
            c["expression"].append(expr)
            c["given_split"] += [label] * len(ids)
            c["file"] += [name or p.stem] * len(ids)
    cells = []
    for c in merged.values():
        dup = pd.Index(c["gene_ids"]).duplicated()
        if dup.any():
            raise InputFileError(f"histone.npz: gene {c['gene_ids'][int(np.argmax(dup))]!r} "
                                 f"appears twice for cell type {c['cell']!r}")
        c["marks"] = np.concatenate(c["marks"])
        c["expression"] = np.concatenate(c["expression"])
        cells.append(c)
    if cfg["cell_types"] is not None:
        missing = sorted(set(cfg["cell_types"]) - set(merged))
        if missing:
            raise ConfigError(f"histone.cell_types: {missing[0]!r} is not in the npz files")
    return cells


def _collect_csv(cfg, base_dir, inputs) -> list[dict]:
    """Cells of DeepChrome CSVs (one file, a list, or one per split)."""
    marks, n_bins = list(cfg["marks"]), int(cfg["n_bins"])
    cells = []
    for cell, spec in (cfg["cells"] or {}).items():
        if isinstance(spec, Mapping):
            base.check_keys(spec, {"train", "valid", "test"}, f"histone.cells.{cell}")
            files = list(spec.items())
        elif isinstance(spec, (list, tuple)):
            files = [(None, p) for p in spec]
        else:
            files = [(None, spec)]
        ids, ms, labels, given = [], [], [], []
        for split, p in files:
            p = base.resolve_path(p, base_dir)
            inputs[f"cells.{cell}.{split or len(ids)}"] = p
            gid, m, lab = read_deepchrome_csv(p, len(marks), n_bins)
            ids += gid
            ms.append(m)
            labels.append(lab)
            given += [split or "none"] * len(gid)
        cells.append({"cell": str(cell), "gene_ids": ids, "marks": np.concatenate(ms),
                      "expression": None, "label": np.concatenate(labels),
                      "given_split": given})
    return cells


def _collect_bigwig(cfg, base_dir, inputs) -> list[dict]:
    """Cells of bigWig marks (tracks in ``histone.marks`` order) and expression tables."""
    marks = list(cfg["marks"])
    if not cfg["gtf"]:
        raise ConfigError("histone: the bigwig source needs 'gtf'")
    cells = []
    for cell, spec in (cfg["cells"] or {}).items():
        where = f"histone.cells.{cell}"
        base.check_keys(spec, BIGWIG_CELL_KEYS, where)
        if "marks" not in spec:
            raise ConfigError(f"{where}: missing required key 'marks'")
        if set(spec["marks"]) != set(marks):
            raise ConfigError(f"{where}.marks: names {sorted(spec['marks'])} differ from "
                              f"histone.marks {marks}")
        tracks = {}
        for mark in marks:  # channels in histone.marks order
            p = spec["marks"][mark]
            p = base.resolve_path(p, base_dir)
            inputs[f"cells.{cell}.marks.{mark}"] = p
            tracks[mark] = str(p)
        expr = spec.get("expression", cfg["expression"])
        if expr is None:
            raise ConfigError(f"{where}: no expression table (give histone.expression)")
        expr = base.resolve_path(expr, base_dir)
        inputs[f"cells.{cell}.expression"] = expr
        cells.append({"cell": str(cell), "tracks": tracks, "expression_path": expr,
                      "expression_column": spec.get("expression_column"),
                      "gene_column": spec.get("gene_column", 0), "label": None,
                      "given_split": None})
    return cells


__all__ = ["BIGWIG_CELL_KEYS", "SOURCES", "collect_cells", "infer_source", "read_deepchrome_csv",
           "read_kaggle_npz"]
