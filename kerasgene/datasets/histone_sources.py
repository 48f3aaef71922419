"""The three sources of the histone-bins set (:mod:`kerasgene.datasets.histone_bins`):
DeepChrome CSVs, Kaggle npz files and bigWig marks with expression tables.

Readers of the two array formats, and per source the collection of a config's cells
(cell type, gene ids, marks or track paths, expression or labels, given split).
"""

from __future__ import annotations

import array
import csv
import logging
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kerasgene._io import check_readable, open_text
from kerasgene.config import check_column_name
from kerasgene.datasets import base
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.expression import is_number
from kerasgene.io.track_checks import identical_files, same_data, track_entry

log = logging.getLogger(__name__)

SOURCES = ("bigwig", "deepchrome_csv", "kaggle_npz")
BIGWIG_CELL_KEYS = {"marks", "expression", "expression_column", "gene_column"}


DEEPCHROME_MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")
GENE_HEADERS = ("geneid", "gene_id", "gene")


def read_deepchrome_csv(path: str | os.PathLike, marks: Sequence[str] = DEEPCHROME_MARKS,
                        n_bins: int = 100) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read a DeepChrome CSV (``GeneID,BinID,<marks>,label``, ``n_bins`` rows per gene).

    Plain or gzip, UTF-8 (a byte-order mark and quoted fields allowed). The header is
    optional: with one (first field ``GeneID``, ``gene_id`` or ``gene``) its mark columns
    are matched to ``marks`` by name, in any order; without one they are taken to be in
    the order of ``marks``.

    Parameters
    ----------
    path : the CSV file
    marks : the mark names, in the order of the returned channels
    n_bins : rows (bins) per gene

    Returns
    -------
    gene_ids : list of str (leading zeros kept)
    marks : np.ndarray float32, shape (G, n_bins, len(marks)), bins in BinID order
    labels : np.ndarray int8, shape (G,)

    Raises
    ------
    InputFileError
        naming the file (and the line, gene, bin or mark) when the file cannot be read,
        its header names other marks, or a value is not as expected: a mark value must be
        a finite count >= 0, a label 0 or 1 on every row of a gene, BinIDs 1..n_bins once
        per gene.
    """
    path = check_readable(path, "DeepChrome CSV")
    marks = list(marks)
    genes, nums, lines, order = _read_csv(path, marks)
    if not genes:
        raise InputFileError(f"{path}: no data rows; expected {n_bins} rows per gene")
    _check_gene_rows(path, genes, lines, n_bins)
    genes = np.array(genes, dtype=object).reshape(-1, n_bins)
    lines = np.array(lines).reshape(-1, n_bins)
    nums = nums[:, [0, *(1 + k for k in order), -1]].reshape(-1, n_bins, len(marks) + 2)
    by_bin = np.argsort(nums[:, :, 0], axis=1, kind="stable")
    nums = np.take_along_axis(nums, by_bin[:, :, None], axis=1)
    lines = np.take_along_axis(lines, by_bin, axis=1)
    bad = nums[:, :, 0] != np.arange(1, n_bins + 1)
    if bad.any():
        g, b = np.argwhere(bad)[0]
        raise InputFileError(f"{path}:{lines[g, b]}: gene {genes[g, 0]!r} has BinID "
                             f"{nums[g, b, 0]:g}; expected BinIDs 1..{n_bins}, each once per gene")
    labels = nums[:, :, -1]
    bad = (labels != labels[:, :1]) | ~np.isin(labels, (0, 1))
    if bad.any():
        g, b = np.argwhere(bad)[0]
        raise InputFileError(f"{path}:{lines[g, b]}: gene {genes[g, 0]!r} has label "
                             f"{labels[g, b]:g}; expected 0 or 1, the same on every row of a gene")
    values = nums[:, :, 1:-1]
    bad = _bad_count(values, marks)
    if bad:
        g, b, what = bad
        raise InputFileError(f"{path}:{lines[g, b]}: gene {genes[g, 0]!r}, {what}")
    return list(genes[:, 0]), values.astype(np.float32), labels[:, 0].astype(np.int8)


def _check_gene_rows(path: Path, genes: list[str], lines: list[int], n_bins: int) -> None:
    """Raise InputFileError, naming the gene and its lines, at the first run of rows of one
    GeneID that is not ``n_bins`` rows long (a bin missing or repeated, or a gene's rows
    apart), with the number of such runs."""
    ids = np.array(genes, dtype=object)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    lengths = np.diff(np.r_[starts, len(ids)])
    bad = np.flatnonzero(lengths != n_bins)
    if bad.size:
        first, n = starts[bad[0]], lengths[bad[0]]
        raise InputFileError(
            f"{path}:{lines[first]}: gene {ids[first]!r} has {n} rows one after the other "
            f"(lines {lines[first]}-{lines[first + n - 1]}; {bad.size} of the file's "
            f"{len(starts)} runs of one gene's rows are not {n_bins} long); expected {n_bins} "
            "rows per gene, one per bin, one after the other")


def _bad_count(values: np.ndarray, marks: Sequence[str]) -> tuple[int, int, str] | None:
    """``(gene, bin, "bin B, mark 'M': value V; expected …")`` of the first mark value
    (genes × bins × marks) that is not a finite count >= 0; None when all are."""
    bad = ~np.isfinite(values) | (values < 0)
    if not bad.any():
        return None
    g, b, k = np.argwhere(bad)[0]
    return int(g), int(b), (f"bin {b + 1}, mark {marks[k]!r}: value {values[g, b, k]:g}; "
                            "expected a finite count >= 0")


def _read_csv(path: Path, marks: list[str]
              ) -> tuple[list[str], np.ndarray, list[int], list[int]]:
    """The data rows of a DeepChrome CSV, read through :func:`open_text` (blank lines
    skipped).

    Returns
    -------
    genes : the GeneID of each row (outer spaces removed)
    nums : float64 (rows, len(marks) + 2): BinID, the mark columns as in the file, label
    lines : the line number of each row
    order : the file's mark column of each of ``marks`` (0 = the first mark column)
    """
    n_cols = len(marks) + 3
    genes, nums, lines, order = [], array.array("d"), [], list(range(len(marks)))
    line = 0
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh)
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if not genes and row[0].strip().lower() in GENE_HEADERS:
                    order = _mark_columns(path, row, marks)
                    continue
                if len(row) != n_cols:
                    raise InputFileError(f"{path}:{line}: {len(row)} columns, expected {n_cols} "
                                         f"(GeneID, BinID, {len(marks)} marks, label)")
                try:
                    nums.extend(map(float, row[1:]))
                except ValueError:
                    col = next(j for j, v in enumerate(row[1:], 2) if not is_number(v))
                    raise InputFileError(f"{path}:{line}: column {col} is {row[col - 1]!r}; "
                                         "expected a number (BinID, mark value or label)"
                                         ) from None
                genes.append(row[0].strip())
                lines.append(line)
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}:{_undecodable_line(path)}: byte "
                             f"{err.object[err.start]:#04x} is not UTF-8 ({err.reason}); "
                             "expected UTF-8 text") from None
    except csv.Error as err:
        raise InputFileError(f"{path}: cannot parse as CSV after line {line} ({err})") from None
    except (EOFError, OSError, zlib.error) as err:
        raise InputFileError(f"{path}: cannot read ({err})") from None
    return genes, np.frombuffer(nums).reshape(-1, n_cols - 1), lines, order


def _undecodable_line(path: Path) -> int:
    """The number of the first line of a text file that is not UTF-8 (text is decoded in
    blocks, so a UnicodeDecodeError does not tell the line)."""
    line = 0
    with open_text(path) as fh:
        for line, raw in enumerate(fh.buffer, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return line
    return line


def _mark_columns(path: Path, header: list[str], marks: list[str]) -> list[int]:
    """The position among a header's mark columns of each of ``marks`` (matched by name)."""
    found = [c.strip() for c in header[2:-1]]
    if sorted(found) != sorted(marks):
        raise InputFileError(f"{path}: header marks {found} are not histone.marks {marks}; "
                             "expected those names, in any order")
    return [found.index(m) for m in marks]


def read_kaggle_npz(path: str | os.PathLike, marks: Sequence[str] = DEEPCHROME_MARKS
                    ) -> dict[str, tuple]:
    """Read a Kaggle npz: per cell type an array (genes, n_bins, 2 + len(marks)) = gene id,
    marks, expression (expression and gene id taken from bin 0).

    Parameters
    ----------
    path : the npz file (as ``numpy.savez`` writes, read with ``allow_pickle=False``)
    marks : the names of the mark columns, in their order (for messages)

    Returns
    -------
    dict cell → (gene_ids list[str], marks float32 (G, n_bins, len(marks)),
    expression float64 (G,))

    Raises
    ------
    InputFileError
        naming the file when it is not a readable npz of numeric arrays of that shape,
        naming the cell type, gene and bin of a gene id that is not a finite whole number
        held exactly by the array's dtype or not the same on every bin of its gene (an
        array reshaped in another order than gene by gene), of an expression that is not
        the same on every bin of its gene (columns in another order), or of a mark value
        that is not a finite count >= 0.
    """
    path = check_readable(path, "npz file")
    n_marks = len(marks)
    try:
        npz = np.load(path, allow_pickle=False)
    except ValueError:  # no zip or .npy signature: np.load would try to unpickle it
        raise InputFileError(f"{path}: cannot read as npz (not a zip archive of .npy "
                             "arrays)") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise InputFileError(f"{path}: cannot read as npz ({err})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise InputFileError(f"{path}: cannot read as npz (a single .npy array; expected an "
                             "archive of one array per cell type, as numpy.savez writes)")
    out = {}
    try:
        with npz:
            for cell in npz.files:
                arr = npz[cell]
                if arr.ndim != 3 or arr.shape[2] != n_marks + 2:
                    raise InputFileError(f"{path}: array {cell!r} has shape {arr.shape}, expected "
                                         f"(genes, bins, {n_marks + 2})")
                if arr.dtype.kind not in "iuf":
                    raise InputFileError(f"{path}: array {cell!r} holds {arr.dtype} values; "
                                         "expected numbers (integers or floats)")
                _check_gene_id_column(path, cell, arr[:, :, 0], arr.dtype, n_marks)
                gene_ids = [_id_text(v) for v in arr[:, 0, 0]]
                _check_expression_column(path, cell, arr[:, :, -1], gene_ids, n_marks)
                values = arr[:, :, 1:-1]
                bad = _bad_count(values, marks)
                if bad:
                    raise InputFileError(f"{path}: array {cell!r}, gene {gene_ids[bad[0]]!r}, "
                                         f"{bad[2]}")
                out[cell] = (gene_ids, values.astype(np.float32), arr[:, 0, -1].astype(np.float64))
    except ValueError as err:
        raise InputFileError(f"{path}: not a plain numeric npz ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise InputFileError(f"{path}: cannot read as npz ({err})") from None
    return out


def _check_gene_id_column(path: Path, cell: str, ids: np.ndarray, dtype: np.dtype,
                          n_marks: int) -> None:
    """Raise InputFileError unless the gene-id column ``ids`` (genes, bins) of array
    ``cell`` holds one whole number per gene, the same on every bin, that ``dtype`` holds
    exactly.

    A (genes × bins, 7) table reshaped in another order than gene by gene (e.g. sorted by
    bin first) mixes the rows of many genes into one; only bin 0's id would be read. Ids
    that are not whole numbers are another column (the expression, in an array whose
    columns are in another order); a float32 array rounds ids above 2**24 to a neighbour's.
    """
    finite = np.isfinite(ids)
    if not finite.all():
        g, b = np.argwhere(~finite)[0]
        raise InputFileError(f"{path}: array {cell!r}, row {g} (bin {b + 1}): gene id "
                             f"{ids[g, b]}; expected a finite number")
    whole = ids == np.round(ids)
    if not whole.all():
        g, b = np.argwhere(~whole)[0]
        raise InputFileError(
            f"{path}: array {cell!r}, row {g} (bin {b + 1}): gene id {ids[g, b]:g} is not a "
            f"whole number ({int((~whole).any(axis=1).sum())} of {len(ids)} genes); expected "
            f"the columns gene id (a whole number), {n_marks} marks, expression: are the "
            "array's columns in another order?")
    exact = 2 ** (np.finfo(dtype).nmant + 1) if dtype.kind == "f" else None
    if exact is not None and np.abs(ids).max() > exact:
        g, b = np.unravel_index(int(np.argmax(np.abs(ids))), ids.shape)
        raise InputFileError(
            f"{path}: array {cell!r}, row {g}: gene id {_id_text(ids[g, b])} is above "
            f"{exact:,}, the largest whole number that {dtype} holds exactly, so ids may have "
            "been rounded to a neighbour's; expected an array of float64 (or integers)")
    bad = ids != ids[:, :1]
    if bad.any():
        g, b = np.argwhere(bad)[0]
        n = int(bad.any(axis=1).sum())
        raise InputFileError(
            f"{path}: array {cell!r}, gene {_id_text(ids[g, 0])} (row {g}) holds gene id "
            f"{_id_text(ids[g, b])} in bin {b + 1} ({n} of {len(ids)} genes hold several ids); "
            "expected each gene's id on all of its bins: was the array reshaped in another "
            "order than gene by gene?")


def _check_expression_column(path: Path, cell: str, expr: np.ndarray, gene_ids: list[str],
                             n_marks: int) -> None:
    """Raise InputFileError unless the expression column ``expr`` (genes, bins) of array
    ``cell`` holds one value per gene, the same on every bin (NaN: missing on every bin).

    Only bin 0's value is read: a column that varies along the bins is a mark, in an array
    whose columns are in another order."""
    first = expr[:, :1]
    bad = ~((expr == first) | (np.isnan(expr) & np.isnan(first)))
    if bad.any():
        g, b = np.argwhere(bad)[0]
        raise InputFileError(
            f"{path}: array {cell!r}, gene {gene_ids[g]!r}: expression {expr[g, 0]:g} in bin 1 "
            f"but {expr[g, b]:g} in bin {b + 1} ({int(bad.any(axis=1).sum())} of {len(expr)} "
            f"genes vary along their bins); expected the columns gene id, {n_marks} marks, "
            "expression, each gene's expression on all of its bins: is the last column a "
            "mark?")


def _id_text(value) -> str:
    """A whole-number gene id as text: ``12`` for 12.0."""
    return str(int(value))


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
    names = pd.Index([c["cell"] for c in cells])
    if names.duplicated().any():
        raise ConfigError(f"histone.cells: cell type {names[names.duplicated()][0]!r} is given "
                          "twice (as the number and as the text, e.g. 1 and '1'); expected each "
                          "cell type once")
    return cells


def _collect_npz(cfg, base_dir, inputs) -> list[dict]:
    """Cells of Kaggle npz files, a cell type present in several files merged."""
    marks, n_bins = list(cfg["marks"]), int(cfg["n_bins"])
    cell_types = cfg["cell_types"]
    if cell_types is not None and (not isinstance(cell_types, (list, tuple))
                                   or not all(isinstance(c, str) for c in cell_types)):
        raise ConfigError(f"histone.cell_types: expected a list of cell type names (keys of "
                          f"the npz files), got {cell_types!r}")
    spec = cfg["npz"]
    if isinstance(spec, Mapping):
        files = [(str(k), v) for k, v in spec.items()]
    else:
        paths = spec if isinstance(spec, (list, tuple)) else [spec]
        files = [(None, v) for v in paths]
    merged: dict[str, dict] = {}
    paths: dict[str, list[Path]] = {}  # per cell type, each gene's file
    for i, (name, p) in enumerate(files):
        p = base.resolve_path(p, base_dir)
        inputs[f"npz.{name or i}"] = p
        label = name if name in ("train", "valid", "test") else "none"
        for cell, (ids, m, expr) in read_kaggle_npz(p, marks).items():
            if cell_types is not None and cell not in cell_types:
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
            paths.setdefault(cell, []).extend([p] * len(ids))
    cells = []
    for c in merged.values():
        _check_unique_genes(c["cell"], c["gene_ids"], paths[c["cell"]])
        c["marks"] = np.concatenate(c["marks"])
        c["expression"] = np.concatenate(c["expression"])
        c["source"] = f"{', '.join(map(str, dict.fromkeys(paths[c['cell']])))} [{c['cell']}]"
        cells.append(c)
    if cell_types is not None:
        missing = sorted(set(cell_types) - set(merged))
        if missing:
            raise ConfigError(f"histone.cell_types: {missing[0]!r} is not in the npz files")
    return cells


def _check_unique_genes(cell: str, gene_ids: list[str], paths: list[Path]) -> None:
    """Raise InputFileError at the first gene listed twice for a cell type, naming the
    file(s) of both rows (``paths``: each gene's file)."""
    dup = pd.Index(gene_ids).duplicated()
    if dup.any():
        i = int(np.argmax(dup))
        first = gene_ids.index(gene_ids[i])
        where = (f"twice in {paths[i]}" if paths[i] == paths[first]
                 else f"in {paths[first]} and in {paths[i]}")
        raise InputFileError(f"gene {gene_ids[i]!r} appears twice for cell type {cell!r} "
                             f"({where}); expected each gene once per cell type")


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
        ids, ms, labels, given, paths = [], [], [], [], []
        for split, p in files:
            p = base.resolve_path(p, base_dir)
            inputs[f"cells.{cell}.{split or len(ids)}"] = p
            gid, m, lab = read_deepchrome_csv(p, marks, n_bins)
            ids += gid
            ms.append(m)
            labels.append(lab)
            given += [split or "none"] * len(gid)
            paths += [p] * len(gid)
        _check_unique_genes(str(cell), ids, paths)
        cells.append({"cell": str(cell), "gene_ids": ids, "marks": np.concatenate(ms),
                      "expression": None, "label": np.concatenate(labels),
                      "given_split": given})
    return cells


def _collect_bigwig(cfg, base_dir, inputs) -> list[dict]:
    """Cells of bigWig marks and expression tables: ``tracks`` (mark → path) and
    ``value_columns`` (mark → the bigBed field given as ``{path: ..., value_column: ...}``,
    else None), both in ``histone.marks`` order."""
    marks = list(cfg["marks"])
    if not cfg["gtf"]:
        raise ConfigError("histone: the bigwig source needs 'gtf'")
    cells = []
    for cell, spec in (cfg["cells"] or {}).items():
        where = f"histone.cells.{cell}"
        base.check_keys(spec, BIGWIG_CELL_KEYS, where)
        check_column_name(spec.get("expression_column"), f"{where}.expression_column")
        if "marks" not in spec:
            raise ConfigError(f"{where}: missing required key 'marks'")
        if not isinstance(spec["marks"], Mapping):
            raise ConfigError(f"{where}.marks: expected a mapping mark name → track file "
                              f"(e.g. {{{marks[0]}: {marks[0]}.bw}}), got "
                              f"{type(spec['marks']).__name__}")
        if set(spec["marks"]) != set(marks):
            raise ConfigError(f"{where}.marks: names {sorted(spec['marks'])} differ from "
                              f"histone.marks {marks}")
        tracks, columns = {}, {}
        for mark in marks:  # channels in histone.marks order
            p, columns[mark] = track_entry(spec["marks"][mark], f"{where}.marks.{mark}")
            p = base.resolve_path(p, base_dir)
            inputs[f"cells.{cell}.marks.{mark}"] = p
            tracks[mark] = str(p)
        _check_mark_files(where, {m: (p, columns[m]) for m, p in tracks.items()})
        expr = spec.get("expression", cfg["expression"])
        if expr is None:
            raise ConfigError(f"{where}: no expression table (give histone.expression)")
        expr = base.resolve_path(expr, base_dir)
        inputs[f"cells.{cell}.expression"] = expr
        cells.append({"cell": str(cell), "tracks": tracks, "value_columns": columns,
                      "expression_path": expr,
                      "expression_column": spec.get("expression_column"),
                      "gene_column": spec.get("gene_column", 0), "label": None,
                      "given_split": None})
    _warn_shared_mark_files(cells)
    return cells


def _check_mark_files(where: str, tracks: Mapping[str, tuple]) -> None:
    """Raise ConfigError when one file, or two files of identical bytes (a copy), are
    given for two marks of a cell type (``tracks``: mark → (path, value_column)): the two
    channels would hold the same values. One bigBed under two value_column is fine."""
    for first, mark, what in same_data(tracks)[:1]:
        raise ConfigError(f"{where}.marks: {first} and {mark} {what}; expected each mark's "
                          "own file")


def _warn_shared_mark_files(cells: Sequence[dict]) -> None:
    """Warn, per mark, about a file read by several cell types, or files of identical
    bytes: their channels of that mark are the same (a path copied from another cell
    type's entry, or the file copied under another name?)."""
    readers: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for c in cells:
        for mark, p in c["tracks"].items():
            readers.setdefault((mark, os.path.realpath(p)), (p, []))[1].append(c["cell"])
    for (mark, _), (p, names) in readers.items():
        if len(names) > 1:
            log.warning("histone: %d cell types (%s) read one %s file (%s): their %s channels "
                        "are the same; expected each cell type's own file", len(names),
                        ", ".join(names), mark, p, mark)
    for mark in cells[0]["tracks"] if cells else ():
        files = {c["cell"]: (c["tracks"][mark], c["value_columns"][mark]) for c in cells}
        for first, cell, first_path, p in identical_files(files):
            log.warning("histone: cell types %s and %s read identical %s files (%s and %s are "
                        "byte-identical): their %s channels are the same; expected each cell "
                        "type's own file", first, cell, mark, first_path, p, mark)


__all__ = ["BIGWIG_CELL_KEYS", "DEEPCHROME_MARKS", "SOURCES", "collect_cells", "infer_source",
           "read_deepchrome_csv", "read_kaggle_npz"]
