"""DeepRAGE's regulator files: sparse (regulator, condition, state) triplets
(:func:`read_triplets`) and the name lists of regulators and conditions
(:func:`read_names`, :func:`clean_name`, :func:`unique_labels`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from kerasgene._io import check_readable, open_text
from kerasgene.errors import InputFileError


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
