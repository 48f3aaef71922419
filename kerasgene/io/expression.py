"""Expression tables: TPM per gene, gene × condition matrices, sparse triplets.

Plus the label transforms of the papers: log transform, zero filtering and
discretisation by thresholds (DeepRAGE: down ≤ −0.5 < baseline < 0.5 ≤ up) or quantiles
(DeepChrome: above / below the median).

Values
------
An empty cell, ``NA`` or ``NaN`` is a missing value (NaN): the dataset builders drop
those examples with a counted warning and list them in ``dropped.tsv``. ``inf`` is an
error (no measurement is infinite; a missing value is written empty or ``NA``). Labels
are checked against documented bounds by :func:`check_range`: a TPM must be ≥ 0 and
≤ :data:`MAX_TPM` (TPMs of a sample sum to 10⁶, so a larger value means counts, another
unit, or a corrupt file); a log-fold change must satisfy ``|x| ≤`` :data:`MAX_ABS_LOG_RATIO`.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from kerasgene._io import check_readable, open_text
from kerasgene.errors import ConfigError, InputFileError

#: Largest TPM accepted (see the module docstring).
MAX_TPM = 1e7
#: Largest absolute log-fold change accepted (a 2¹⁰⁰-fold change is no measurement).
MAX_ABS_LOG_RATIO = 100.0


def _separator(path) -> str:
    name = str(path).lower().removesuffix(".gz")
    return "," if name.endswith(".csv") else "\t"


def read_expression_table(path: str | os.PathLike, gene_column: str | int = 0,
                          columns: list[str] | None = None) -> pd.DataFrame:
    """Read an expression table: one row per gene, one numeric column per sample.

    Works for a TPM table (``gene_id<TAB>TPM``, one or several samples) and for a gene ×
    condition matrix (DeepRAGE's log-fold changes). CSV when the name ends in ``.csv``,
    TSV otherwise; gzip is detected. Empty cells are NaN.

    Parameters
    ----------
    path
        Table with a header row.
    gene_column
        Name or position of the gene-id column.
    columns
        The value columns to read (None: every column but the gene ids). The others are
        left out unread, whatever they hold: the text columns of a quantifier's output
        (RSEM's ``transcript_id(s)``, StringTie's ``Gene Name`` and ``Strand``) beside
        its ``TPM``.

    Returns
    -------
    pandas.DataFrame, float64, indexed by gene id (str), columns = sample names (or
    ``columns``).

    Raises
    ------
    InputFileError
        A column of ``columns`` not in the header, a duplicate gene id, or a value that
        is not a number (in a column read).
    """
    path = check_readable(path, "expression table")
    df = _read_cells(path, _separator(path))
    if isinstance(gene_column, int):
        if gene_column >= len(df.columns):
            raise InputFileError(f"{path}: no column {gene_column} for gene ids")
        gene_column = df.columns[gene_column]
    elif gene_column not in df.columns:
        raise InputFileError(f"{path}: no gene-id column {gene_column!r}; columns: {list(df.columns)}")
    if df.shape[1] < 2:
        raise InputFileError(f"{path}: expected a gene-id column and at least one sample column")
    ids = df.pop(gene_column)
    if columns is not None:
        absent = [c for c in columns if c not in df.columns]
        if absent:
            raise InputFileError(f"{path}: no column {absent[0]!r} (columns: {list(df.columns)})")
        df = df[list(columns)]
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputFileError(
            f"{path}: duplicate gene id {dup.iloc[0]!r} ({len(dup)} duplicate rows); ids must be unique"
        )
    values = df.apply(lambda col: pd.to_numeric(col.replace("", "nan").replace("NA", "nan"),
                                                errors="coerce"))
    bad = values.isna() & ~df.isin(["", "NA", "NaN", "nan"])
    if bad.any().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputFileError(
            f"{path}: non-numeric value {df.iat[row, col]!r} for gene {ids.iat[row]!r}, "
            f"column {df.columns[col]!r}; expected a number"
        )
    values.index = pd.Index(ids, name="gene_id")
    values = values.astype(np.float64)
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise InputFileError(
            f"{path}: infinite value {df.iat[row, col]!r} for gene {ids.iat[row]!r}, column "
            f"{df.columns[col]!r} ({int(infinite.sum())} such cells); expected a finite "
            "number (leave the cell empty or NA for a missing value)")
    return values


def _read_cells(path: Path, sep: str) -> pd.DataFrame:
    """Every cell of a delimited table with a header row, as text without outer spaces
    (``" NA"`` is ``NA`` as ``" 3"`` is 3; blank lines skipped).

    Each row must have the header's number of fields: a row with more (its extra fields
    not all empty, as the trailing separator spreadsheets write leaves them) or fewer would
    shift or lose columns, and a repeated column name would be ambiguous; each raises
    InputFileError naming the line."""
    try:
        with open_text(path) as fh:
            rows = [(i, r) for i, r in enumerate(csv.reader(fh, delimiter=sep), 1) if r]
    except (csv.Error, UnicodeDecodeError, EOFError, OSError) as err:
        raise InputFileError(f"{path}: cannot parse as a delimited table ({err})") from None
    if not rows:
        raise InputFileError(f"{path}: empty table; expected a header row and one row per gene")
    header = [c.strip() for c in rows[0][1]]
    while header and not header[-1]:  # a trailing separator
        header = header[:-1]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise InputFileError(f"{path}: column name {repeated[0]!r} appears more than once in "
                             "the header; expected unique column names")
    cells = []
    for line, row in rows[1:]:
        if len(row) > len(header) and not any(c.strip() for c in row[len(header):]):
            row = row[:len(header)]  # trailing separators
        if len(row) != len(header):
            raise InputFileError(
                f"{path}:{line}: {len(row)} fields but the header has {len(header)}; expected "
                "one value per column (a missing value is written empty or NA)")
        cells.append([c.strip() for c in row])
    return pd.DataFrame(cells, columns=header, dtype=str)


def check_range(values: pd.Series | pd.DataFrame, source: str, *, low: float, high: float,
                what: str) -> None:
    """Raise InputFileError at the first value outside ``[low, high]`` or infinite (NaN is
    missing and passes), naming the gene, the column, the count and the bound.

    Parameters
    ----------
    values : Series (index gene ids, ``name`` the column) or DataFrame (genes × columns)
    source : the file (and column) named in the message
    low, high : the documented bounds, e.g. 0 and :data:`MAX_TPM` for TPM
    what : the quantity, e.g. ``"TPM"``
    """
    frame = values.to_frame() if isinstance(values, pd.Series) else values
    arr = frame.to_numpy(np.float64)
    bad = (arr < low) | (arr > high) | np.isinf(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputFileError(
            f"{source}: {what} {arr[row, col]:g} for gene {frame.index[row]!r}, column "
            f"{frame.columns[col]!r} ({int(bad.sum())} values outside the bounds); expected "
            f"{what} >= {low:g} and <= {high:g}")


def read_triplets(
    path: str | os.PathLike,
    shape: tuple[int, int] | None = None,
    one_based: bool = True,
) -> np.ndarray:
    """Read sparse ``row<TAB>column<TAB>value`` triplets into a dense matrix (absent = 0).

    The DeepRAGE regulator-state file ``reg_exp_RxE.tab`` is in this form (1-based
    regulator and condition indices, states −1/+1).

    Parameters
    ----------
    path
        Triplet file, no header.
    shape
        (n_rows, n_cols); inferred from the largest indices when None.
    one_based
        Indices start at 1.

    Returns
    -------
    np.ndarray, float32, shape ``shape``.

    Raises
    ------
    InputFileError
        an empty file, another number of columns, an index that is not a whole number or
        outside ``shape``, a value that is not finite, or a cell given twice.
    """
    path = check_readable(path, "triplet file")
    try:
        with open_text(path) as fh, warnings.catch_warnings():  # plain or gzip, by content
            warnings.simplefilter("ignore", UserWarning)  # "Empty input file": said below
            table = np.loadtxt(fh, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise InputFileError(f"{path}: expected numeric 'row col value' triplets ({err})") from None
    if not table.size:
        raise InputFileError(f"{path}: no 'row col value' triplets (an empty file); expected "
                             "one line per non-zero state")
    if table.shape[1] != 3:
        raise InputFileError(f"{path}: expected 3 columns (row, col, value), found {table.shape[1]}")
    _check_triplets(path, table)
    rows = table[:, 0].astype(np.int64) - int(one_based)
    cols = table[:, 1].astype(np.int64) - int(one_based)
    if rows.min() < 0 or cols.min() < 0:
        raise InputFileError(f"{path}: negative or zero index with one_based={one_based}")
    if shape is None:
        shape = (int(rows.max()) + 1, int(cols.max()) + 1)
    if rows.max() >= shape[0] or cols.max() >= shape[1]:
        raise InputFileError(f"{path}: index outside the expected shape {shape}")
    dense = np.zeros(shape, dtype=np.float32)
    dense[rows, cols] = table[:, 2]
    return dense


def _check_triplets(path: Path, table: np.ndarray) -> None:
    """Raise InputFileError naming the line of the first triplet whose indices are not
    whole numbers, whose value is not finite, or whose cell repeats an earlier triplet's
    (which of two values would be meant?)."""
    bad_index = ~np.all(np.isfinite(table[:, :2]) & (table[:, :2] == np.round(table[:, :2])), axis=1)
    bad_value = ~np.isfinite(table[:, 2])
    _, first = np.unique(table[:, :2], axis=0, return_index=True)
    repeated = np.ones(len(table), bool)
    repeated[first] = False
    for bad, expected in ((bad_index, "whole-number row and column indices"),
                          (bad_value, "a finite value"),
                          (repeated, "each (row, column) cell once")):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            with open_text(path) as fh:  # the k-th line np.loadtxt read (not blank, not #)
                line = [i for i, ln in enumerate(fh, 1)
                        if ln.strip() and not ln.lstrip().startswith("#")][k]
            raise InputFileError(
                f"{path}:{line}: {' '.join(f'{v:g}' for v in table[k])} ({int(bad.sum())} "
                f"such triplets); expected {expected}")


def read_names(path: str | os.PathLike, keep_tabs: bool = False) -> list[str]:
    """Read a list of names, one per line; ``index<TAB>name`` lines keep all of the name.

    The real DeepRAGE ``expt_names_E.txt`` has CRLF line ends and names that contain a tab
    (``Heat Shock 000 minutes  hs-2<TAB>R``); a tab inside a name becomes one space (unless
    ``keep_tabs``), so the names can be table headers.
    """
    path = check_readable(path, "name list")
    names = []
    with open_text(path) as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            first, sep, rest = line.partition("\t")
            name = rest if sep and first.strip().isdigit() else line
            names.append(name.strip() if keep_tabs else " ".join(name.split("\t")).strip())
    return names


def clean_name(name: str) -> str:
    """A name as a CSV/TSV reader sees it: outer spaces and double quotes removed."""
    name = str(name).strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    return name


def unique_labels(names) -> list[str]:
    """Names made unique by occurrence: the k-th repeat of ``x`` becomes ``x#k`` (the real
    DeepRAGE condition list names three different arrays "Heat Shock 000 minutes  hs-2").
    Names are cleaned with :func:`clean_name` first."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        n = clean_name(n)
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}#{seen[n]}")
    return out


def check_log_options(base, pseudocount, where: str) -> None:
    """Raise ConfigError (naming ``where``.log_base / .pseudocount) unless ``base`` is a
    number > 0 other than 1 and ``pseudocount`` a number >= 0."""
    def number(x) -> bool:
        return isinstance(x, (int, float, np.number)) and not isinstance(x, bool) \
            and bool(np.isfinite(x))

    if not number(base) or base <= 0 or base == 1:
        raise ConfigError(f"{where}.log_base: expected a number > 0 other than 1 (2 for "
                          f"log2), got {base!r}")
    if not number(pseudocount) or pseudocount < 0:
        raise ConfigError(f"{where}.pseudocount: expected a number >= 0, got {pseudocount!r}")


def log_transform(values, base: float = 2.0, pseudocount: float = 1.0) -> np.ndarray:
    """``log_base(values + pseudocount)``; iSEGnet trains on log TPM."""
    check_log_options(base, pseudocount, "log_transform")
    values = np.asarray(values, dtype=np.float64)
    if (values + pseudocount <= 0).any():
        raise ConfigError("log_transform: values + pseudocount must be > 0")
    return np.log(values + pseudocount) / np.log(base)


def nonzero_genes(table: pd.DataFrame) -> pd.DataFrame:
    """Rows with non-zero expression in every sample (iSEGnet drops zero-expression genes)."""
    return table[(table != 0).all(axis=1) & table.notna().all(axis=1)]


def discretize(values, thresholds=(-0.5, 0.5)) -> np.ndarray:
    """Class labels 0..len(thresholds) from sorted thresholds (a value equal to a threshold
    goes to the upper class only for the last threshold, as DeepRAGE's
    ``down ≤ −0.5, up ≥ 0.5``).

    Returns
    -------
    np.ndarray of int64
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or len(thresholds) < 1 or (np.diff(thresholds) <= 0).any():
        raise ConfigError(f"discretize: thresholds must be strictly increasing, got {thresholds}")
    values = np.asarray(values, dtype=np.float64)
    labels = np.searchsorted(thresholds[:-1], values, side="left")
    return (labels + (values >= thresholds[-1])).astype(np.int64)


def discretize_quantiles(values, n_classes: int = 2) -> np.ndarray:
    """Class labels by quantiles (``n_classes=2`` is DeepChrome's above/below median:
    1 if the value is above the median)."""
    if n_classes < 2:
        raise ConfigError(f"discretize_quantiles: n_classes must be >= 2, got {n_classes}")
    values = np.asarray(values, dtype=np.float64)
    edges = np.quantile(values, np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.searchsorted(edges, values, side="left").astype(np.int64)
