"""DeepRAGE's regulator files: sparse (regulator, condition, state) triplets
(:func:`read_triplets`) and the name lists of regulators and conditions
(:func:`read_names`, :func:`clean_name`, :func:`unique_labels`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from kerasgene._io import check_readable, text_lines
from kerasgene.errors import InputFileError
from kerasgene.io.expression import is_number


def read_triplets(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read sparse ``row<TAB>column<TAB>value`` triplets into a dense matrix (absent = 0).

    The DeepRAGE regulator-state file ``reg_exp_RxE.tab`` is in this form (1-based
    regulator and condition indices, states −1/+1).

    Parameters
    ----------
    path
        Triplet file, no header; fields separated by tabs or spaces, or by commas
        (``DataFrame.to_csv(index=False, header=False)``); ``#`` lines are comments.
    shape
        (n_rows, n_cols); inferred from the largest indices when None.

    Returns
    -------
    np.ndarray, float32, shape ``shape``.

    Raises
    ------
    InputFileError
        an empty file, another number of columns, an index that is not a whole number
        from 1 or is outside ``shape``, a value that is not finite, or a cell given twice.
    """
    path = check_readable(path, "triplet file")
    lines = _data_lines(path)
    sep = "," if lines and "," in lines[0][1] else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Empty input file": said below
            table = np.loadtxt([text for _, text in lines], dtype=np.float64, delimiter=sep,
                               ndmin=2)
    except ValueError as err:
        raise InputFileError(f"{path}: expected numeric 'row col value' triplets, separated "
                             f"by tabs, spaces or commas ({err})") from None
    if not table.size:
        raise InputFileError(f"{path}: no 'row col value' triplets (an empty file); expected "
                             "one line per non-zero state")
    if table.shape[1] != 3:
        raise InputFileError(f"{path}: expected 3 columns (row, col, value), found {table.shape[1]}")
    _check_triplets(path, table, [line for line, _ in lines])
    rows = table[:, 0].astype(np.int64) - 1
    cols = table[:, 1].astype(np.int64) - 1
    if shape is None:
        shape = (int(rows.max()) + 1, int(cols.max()) + 1)
    if rows.max() >= shape[0] or cols.max() >= shape[1]:
        raise InputFileError(f"{path}: index outside the expected shape {shape}")
    dense = np.zeros(shape, dtype=np.float32)
    dense[rows, cols] = table[:, 2]
    return dense


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines of a triplet file that are not blank or ``#``
    comments: the lines ``np.loadtxt`` reads."""
    return [(i, text) for i, text in text_lines(path, "triplet file")
            if text.strip() and not text.lstrip().startswith("#")]


def _check_triplets(path: Path, table: np.ndarray, lines: list[int]) -> None:
    """Raise InputFileError naming the line (``lines``: the file's line number of each
    triplet) of the first triplet whose indices are not whole numbers from 1, whose value
    is not finite, or whose cell repeats an earlier triplet's (which of two values would
    be meant?)."""
    index = table[:, :2]
    bad_index = ~np.all(np.isfinite(index) & (index == np.round(index)), axis=1)
    below_one = ~bad_index & np.any(index < 1, axis=1)
    from_zero = "; 0 found: a 0-based file? add 1 to both indices" if (index == 0).any() else ""
    bad_value = ~np.isfinite(table[:, 2])
    _, first = np.unique(index, axis=0, return_index=True)
    repeated = np.ones(len(table), bool)
    repeated[first] = False
    for bad, expected in ((bad_index, "whole-number row and column indices"),
                          (below_one, "row and column indices from 1 (1-based, as in DeepRAGE's "
                                      f"reg_exp_RxE.tab){from_zero}"),
                          (bad_value, "a finite value"),
                          (repeated, "each (row, column) cell once")):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise InputFileError(
                f"{path}:{lines[k]}: {' '.join(f'{v:g}' for v in table[k])} ({int(bad.sum())} "
                f"such triplets); expected {expected}")


def _name_index(line: str) -> int | None:
    """The index of an ``index<TAB>name`` line of a name list; None for a line without one."""
    first, sep, _ = line.partition("\t")
    return int(first) if sep and first.strip().isdecimal() else None


def read_names(path: str | os.PathLike, keep_tabs: bool = False) -> list[str]:
    """Read a list of names, one per line; ``index<TAB>name`` lines keep all of the name.

    The real DeepRAGE ``expt_names_E.txt`` has CRLF line ends and names that contain a tab
    (``Heat Shock 000 minutes  hs-2<TAB>R``); a tab inside a name becomes one space (unless
    ``keep_tabs``), so the names can be table headers. Line j names triplet row or column
    j, so numbered lines must be numbered in order (1, 2, 3, ... or from 0: a sorted or
    edited file would give its names to other rows or columns), and a header line
    (:func:`_check_no_header`) is refused.

    Raises
    ------
    InputFileError
        A header line; the first line whose number is out of order.
    """
    path = check_readable(path, "name list")
    lines = [(i, text) for i, text in text_lines(path, "name list") if text.strip()]
    _check_no_header(path, lines)
    start = None
    names = []
    for k, (i, line) in enumerate(lines):
        index = _name_index(line)
        if index is not None:
            if start is None:
                start = index - k if index - k in (0, 1) else 1
            if index != start + k:
                raise InputFileError(
                    f"{path}:{i}: name {k + 1} is numbered {index}; expected the lines "
                    f"numbered {start}, {start + 1}, {start + 2}, ... in order (line j names "
                    "triplet index j, whatever its number)")
            line = line.partition("\t")[2]
        names.append(line.strip() if keep_tabs else " ".join(line.split("\t")).strip())
    return names


def _check_no_header(path: Path, lines: list[tuple[int, str]]) -> None:
    """Raise InputFileError when the first of the (line number, text) ``lines`` of a name
    list is a column header: a line without an index above a line numbered 0 or 1, which
    is then the first name (``DataFrame.to_csv(sep="\\t", index_label="id")`` writes
    ``id<TAB>condition`` above ``1<TAB>heat 5``), or ``0`` above a name that is not a
    number (pandas' header of a list saved with ``to_csv(index=False)``). A header would be
    taken for the first name and put every name on the next row's or column's states."""
    if len(lines) < 2:
        return
    (i, first), (j, second) = lines[:2]
    below = _name_index(second)
    if _name_index(first) is None and below in (0, 1):
        why = f"it has no index and line {j} is numbered {below}"
    elif first.strip() == "0" and below is None and not is_number(second):
        why = "pandas writes 0 above a list saved with to_csv(index=False)"
    else:
        return
    raise InputFileError(
        f"{path}:{i}: {first!r} is a column header ({why}); expected one name per "
        "line and no header (line j names triplet index j): remove the line (pandas: "
        "to_csv(..., header=False))")


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
