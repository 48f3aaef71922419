"""Expression tables: TPM per gene, gene × condition matrices (DeepRAGE's regulator
triplets and name lists: :mod:`kerasgene.io.regulators`).

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
:func:`warn_not_tpm` warns about a column given as TPM that holds counts or logged values,
:func:`read_expression_table` about columns read that are counts by the table's format
(:func:`count_columns`: featureCounts, RSEM's ``expected_count``...), whatever their sum.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from kerasgene._io import check_readable, open_text, text_lines
from kerasgene.errors import ConfigError, InputFileError, shown

#: Largest TPM accepted (see the module docstring).
MAX_TPM = 1e7
#: Largest absolute log-fold change accepted (a 2¹⁰⁰-fold change is no measurement).
MAX_ABS_LOG_RATIO = 100.0
#: A sample's TPMs sum to 10⁶; a column summing to more than this times 10⁶ is not TPM.
TPM_SUM_SLACK = 1.1
#: A column whose values never exceed LOG_MAX_VALUE over LOG_MIN_GENES expressed genes or
#: more is taken for log-transformed values (log2 of 10⁶ TPM + 1 is 19.9).
LOG_MAX_VALUE, LOG_MIN_GENES = 20.0, 1000
#: Annotation columns of the PCL format (Stanford Microarray Database, Eisen's Cluster; Gasch
#: et al. 2000), read as such right after the id column: not values.
PCL_COLUMNS = ("NAME", "GWEIGHT", "GORDER")
#: Annotation rows of the PCL format (array weights and order), right after the header.
PCL_ROWS = ("EWEIGHT", "EORDER")
#: Names of an id column (any case): a header whose id field is one of them is a header,
#: whatever its value columns are named (a time course ``gene<TAB>0<TAB>15<TAB>30``).
ID_COLUMN_NAMES = ("gene", "gene_id", "geneid", "gene_name", "gene_symbol", "symbol", "name",
                   "id", "orf", "yorf", "locus", "target_id", "tracking_id")
#: First line of a GCT file (Broad; GTEx's ``*_gene_tpm.gct.gz``), the version read.
GCT_VERSION = "#1.2"
#: Field separators a table's header line may show (:func:`table_separator`), by name.
SEPARATORS = {"\t": "tab", ",": "comma", ";": "semicolon"}
#: featureCounts' columns between the gene id and the samples' read counts.
FEATURECOUNTS_COLUMNS = ("Chr", "Start", "End", "Strand", "Length")
#: Quantifiers' columns of read counts (lower case) → whose they are.
COUNT_COLUMNS = {"expected_count": "RSEM's expected_count",
                 "posterior_mean_count": "RSEM's posterior_mean_count",
                 "numreads": "salmon's NumReads", "est_counts": "kallisto's est_counts"}
#: Columns named in a message; the others are counted.
SHOWN_COLUMNS = 8
_MISSING = ("", "NA", "NaN", "nan")

log = logging.getLogger(__name__)


def table_separator(path: str | os.PathLike) -> str:
    """The field separator of a delimited table: comma when its name ends in ``.csv``
    (``.csv.gz``), tab otherwise — unless its header line (the first that is neither
    blank nor a ``#`` comment) lacks that separator and it and the line below hold exactly
    one other of :data:`SEPARATORS` (a comma table named ``tpm.txt``, a tab table named
    ``tpm.csv``, Excel's ``;`` CSV): that one is used, said at INFO. No silent misreading
    follows from it: every row must then have the header's number of fields, and every
    value read be a number.

    Raises
    ------
    InputFileError
        A header line without the name's separator that holds several others, or words
        separated by spaces over rows without it either (R's ``write.table`` default):
        the message names the line, the separator tried, the one column found and the
        separator seen.
    """
    by_name = "," if str(path).lower().removesuffix(".gz").endswith(".csv") else "\t"
    lines = ((n, t) for n, t in text_lines(path, "table")
             if t.strip() and not t.startswith("#"))
    (line, text), *below = list(itertools.islice(lines, 2)) or [(0, "")]
    row = below[0][1] if below else None  # the first row, None for a table of one line
    if by_name in text:
        return by_name
    found = [s for s in SEPARATORS if s in text and (row is None or s in row)]
    if len(found) == 1:
        log.info("%s: read %s-separated: its header line (line %d) has no %s, the separator "
                 "its name gives", path, SEPARATORS[found[0]], line, SEPARATORS[by_name])
        return found[0]
    if found or (" " in text.strip() and (row is None or by_name not in row)):
        seems = " and ".join(SEPARATORS[s] for s in found) or "space"
        raise InputFileError(
            f"{path}:{line}: the header is one column {_clipped(text)!r} when read "
            f"{SEPARATORS[by_name]}-separated, as the file's name says (comma for .csv, tab "
            f"otherwise); the file seems {seems}-separated; expected a tab- or "
            "comma-separated table (R: write.table(x, sep = '\\t', col.names = NA))")
    return by_name  # one column: its rows' fields are checked against it


def _clipped(text: str, n: int = 40) -> str:
    """``text`` for a message: its first ``n`` characters, ``…`` when it is longer."""
    return text if len(text) <= n else text[:n] + "…"


def _columns_text(columns) -> str:
    """Column names for a message: the first :data:`SHOWN_COLUMNS`, quoted, and how many
    there are when some are left out."""
    columns = list(columns)
    more = f" ({len(columns)} in all)" if len(columns) > SHOWN_COLUMNS else ""
    return shown(map(repr, columns), SHOWN_COLUMNS) + more


def _transposed_hint(name: str, ids, id_column: str, rows: str) -> str:
    """The end of a message about a column ``name`` missing from a table's header: when
    ``name`` is one of the ids (``ids``, the column ``id_column``), the table looks
    transposed; else empty."""
    if name not in set(ids):
        return ""
    return (f"; {name!r} is a row (in column {id_column!r}): the table looks transposed "
            f"(samples as rows); expected one row per {rows} and one column per sample")


def read_expression_table(path: str | os.PathLike, gene_column: str | int = 0,
                          columns: list[str] | None = None, *, rows: str = "gene"
                          ) -> pd.DataFrame:
    """Read an expression table: one row per gene, one numeric column per sample.

    Works for a TPM table (``gene_id<TAB>TPM``, one or several samples), a quantifier's
    output (RSEM, StringTie, featureCounts), a GCT file (GTEx), and a gene × condition
    matrix (DeepRAGE's log-fold changes, Gasch's PCL file). CSV when the name ends in
    ``.csv``, TSV otherwise, unless the header line shows another separator
    (:func:`table_separator`); gzip is detected. Empty cells are NaN.

    The header is the first line that is neither blank nor a comment: lines starting with
    ``#`` before it are skipped (featureCounts' ``# Program:featureCounts …; Command:…``);
    a ``#`` line after the header is a row like any other. The ``#`` line right above that
    first line is the header instead (``#gene_id<TAB>TPM``, as bedtools and tabix tables
    write it) when, ``#`` removed, it has that line's number of fields and that line looks
    like a data row (below); a ``#`` line above a refused first line is named in the error.
    A header whose value-column names are all numbers (or empty / NA), and whose id field is
    shaped like the ids below it (runs of capitals, small letters and digits: ``ENSG0001``
    and ``ENSG0002``, ``YAL001C`` and ``YAL002W``, ``7157`` and ``672``), is taken for the
    first data row of a table without a header and refused: read as a header, its gene
    would be lost and its values would name the columns. Samples named by numbers (a time
    course ``gene<TAB>0<TAB>15<TAB>30``) read when the id field is an id column's name
    (:data:`ID_COLUMN_NAMES`, any case) or unlike the ids, or when the caller names a
    header column (``gene_column`` or ``columns`` by name).

    GCT 1.2 files (Broad, GTEx's ``*_gene_tpm.gct.gz``), told by their first line ``#1.2``
    whatever their name: the second line gives the numbers of rows and samples, checked
    against the table; the header is ``Name<TAB>Description<TAB>`` then the samples, and
    the first two columns other than the id column (``Description``, the gene symbol) are
    annotation, left out unread. Versioned Ensembl ids (``ENSG00000223972.5``) are kept as
    written: the dataset builders match them to the annotation's ids with or without
    their version.

    PCL files (Stanford Microarray Database, Eisen's Cluster; Gasch et al. 2000): columns
    named exactly ``NAME``, ``GWEIGHT`` or ``GORDER`` right after the id column
    (:data:`PCL_COLUMNS`) are annotation and left out unread, as are rows whose id is
    ``EWEIGHT`` or ``EORDER`` right after the header (:data:`PCL_ROWS`).

    Columns read that hold read counts by the table's format — featureCounts' sample
    columns, RSEM's ``expected_count``, salmon's ``NumReads``, kallisto's ``est_counts``
    (:func:`count_columns`) — are warned about whatever their values (``rows="gene"``):
    the labels made from them would be log counts, not log TPM.

    Parameters
    ----------
    path
        Table with a header row.
    gene_column
        Name or position of the gene-id column.
    columns
        The value columns to read (None: every column but the gene ids). The others are
        left out unread, whatever they hold: the text columns of a quantifier's output
        (RSEM's ``transcript_id(s)``, StringTie's ``Gene Name`` and ``Strand``,
        featureCounts' ``Chr``) beside its value column.
    rows
        What a row is, for the messages: ``"gene"``, or ``"regulator"`` for DeepRAGE's
        regulator table.

    Returns
    -------
    pandas.DataFrame, float64, indexed by gene id (str), columns = sample names (or
    ``columns``).

    Raises
    ------
    InputFileError
        A first line that looks like a data row (see above), a GCT file of another version
        or whose dimensions line differs from its table, a column of ``columns`` not in the
        header (said to look transposed when it is a row), a duplicate gene id, or a value
        that is not a number (in a column read); a header line of another separator than
        the name's (:func:`table_separator`).
    """
    path = check_readable(path, "expression table")
    df, h = _cells(path, gene_column, columns, rows)
    if df.shape[1] < 2:
        raise InputFileError(f"{path}: expected a {rows}-id column and at least one value "
                             "column (a sample or a condition)")
    ids = df.pop(h.id_column)
    if columns is not None:
        absent = [c for c in columns if c not in df.columns]
        if absent:
            raise InputFileError(
                f"{path}: no column {absent[0]!r} (columns: {_columns_text(df.columns)})"
                f"{_transposed_hint(absent[0], ids, h.id_column, rows)}")
        df = df[list(columns)]
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputFileError(
            f"{path}: duplicate {rows} id {dup.iloc[0]!r} ({len(dup)} duplicate rows); ids "
            "must be unique")
    values = _numbers(path, df, ids, rows)
    counts = count_columns(h.header, h.header.index(h.id_column), values.columns)
    if counts and rows == "gene":
        log.warning("%s: reads %d column(s) of read counts, not TPM: %s; a model trained "
                    "on them learns log2(count + 1), not log2(TPM + 1) (counts grow with gene "
                    "length and sequencing depth); expected TPM (RSEM, salmon, kallisto and "
                    "StringTie write it)", path, len(counts),
                    shown(f"{c!r} ({whose})" for c, whose in counts.items()))
    return values


def count_columns(header: list[str], id_pos: int, columns) -> dict[str, str]:
    """Those of ``columns`` that hold read counts by the table's format, each with whose
    counts they are: every column after :data:`FEATURECOUNTS_COLUMNS` when these follow
    the id column (at ``id_pos`` of ``header``: a featureCounts table), and quantifiers'
    count columns (:data:`COUNT_COLUMNS`, any case)."""
    featurecounts = header[id_pos + 1:id_pos + 6] == list(FEATURECOUNTS_COLUMNS)
    counts = {}
    for c in columns:
        if c.lower() in COUNT_COLUMNS:
            counts[c] = COUNT_COLUMNS[c.lower()]
        elif featurecounts and c not in FEATURECOUNTS_COLUMNS:
            counts[c] = "featureCounts' reads per gene"
    return counts


#: Value columns of quantifiers' gene tables that are not a sample's expression (lower
#: case): RSEM ``genes.results``, salmon ``quant(.genes).sf``, kallisto ``abundance.tsv``,
#: StringTie ``-A`` gene abundances, featureCounts.
QUANTIFIER_COLUMNS = frozenset({
    "transcript_id(s)", "length", "effective_length", "expected_count", "fpkm",
    "posterior_mean_count", "efflength", "effectivelength", "numreads", "eff_length",
    "est_counts", "gene name", "reference", "strand", "start", "end", "coverage", "chr",
    # Cufflinks genes.fpkm_tracking (its FPKM is no TPM: name it to read it)
    "class_code", "nearest_ref_id", "gene_id", "gene_short_name", "tss_id", "locus",
    "fpkm_conf_lo", "fpkm_conf_hi", "fpkm_status",
})


def sample_column(path: str | os.PathLike, gene_column: str | int, name: str,
                  owner: str, first: bool = True) -> str:
    """The column of an expression table read for sample ``name`` when the config names
    none: the column called ``name``, or the one named after it (:func:`_named_after`:
    featureCounts' ``/data/s2.bam`` for ``s2``; of several, its TPM, else the first with a
    warning); else a quantifier's ``TPM`` column (RSEM, salmon,
    kallisto's ``tpm``, StringTie; logged at INFO); else (``first``) the first column that
    is not one of a quantifier's other columns (:data:`QUANTIFIER_COLUMNS`: never
    ``length`` or ``expected_count``), with a warning when there are several (``owner``
    names the sample in it).

    Raises
    ------
    InputFileError
        when no column is left to read (every value column a quantifier's length or
        count, or — not ``first`` — none named ``name`` or TPM; said to look transposed
        when ``name`` is a row).
    """
    path = check_readable(path, "expression table")
    h = _told_header(path, gene_column, None, "gene")
    header = [c for c in h.header if c != h.id_column and c not in h.annotation]
    if name in header:
        return name
    named = [c for c in header if _named_after(c, name)]
    if len(named) > 1:  # s2.TPM and s2.counts
        named = [c for c in named if "tpm" in c.lower()] or named
    if len(named) == 1:  # featureCounts names a sample's column by its BAM: /data/s2.bam
        log.info("%s: reads column %r of %s (the only column named after it)", owner,
                 named[0], path)
        return named[0]
    if named:
        log.warning("%s reads column %r of %s, the first of its %d columns named after it "
                    "(%s); set expression_column to choose", owner, named[0], path,
                    len(named), ", ".join(named))
        return named[0]
    tpm = [c for c in header if c.lower() == "tpm"]
    if len(tpm) == 1:
        log.info("%s: reads column %r of %s (a quantifier's TPM; no column is named %r); set "
                 "expression_column to choose another", owner, tpm[0], path, name)
        return tpm[0]
    samples = [c for c in header if c.lower() not in QUANTIFIER_COLUMNS]
    if not first:
        ids = [r[h.header.index(h.id_column)] for r in h.cells]
        hint = _transposed_hint(name, ids, h.id_column, "gene")
        raise InputFileError(f"{path}: no column {name!r} (columns: {_columns_text(header)}); "
                             f"expected a column named like {owner.split(': ', 1)[-1]}, or "
                             f"its expression_column{hint}")
    if not samples:
        raise InputFileError(f"{path}: no expression column for {owner} (columns: "
                             f"{_columns_text(header)}, a quantifier's lengths and counts); "
                             "expected expression_column")
    if len(samples) > 1:  # two replicates, one column?
        log.warning("%s reads column %r of %s, the first of its %d sample columns (no column "
                    "is named %r); set expression_column to choose", owner, samples[0], path,
                    len(samples), name)
    return samples[0]


def _named_after(column: str, name: str) -> bool:
    """Whether a column names sample ``name`` by a file or a field of it: its file name
    (a path's last part) is ``name``, or starts with it before a ``.`` or ``_``
    (``/data/s2.bam``, ``s2.sorted.bam``, ``s2_R1.bam``, ``s2.TPM``; not ``s20.bam``)."""
    base = Path(column).name
    return base == name or base.startswith((f"{name}.", f"{name}_"))


#: Rows read to tell a table's header (a GCT's dimensions line, the header and the 1,000
#: rows below it that :func:`_check_header` and :func:`_is_header_above` read).
HEADER_ROWS = 1002


class _Header(NamedTuple):
    """A table's header as told and checked from its first rows (:func:`_told_header`)."""

    header: list[str]
    cells: list[list[str]]  # the first rows below it
    line: int  # the header's line number
    id_column: str
    annotation: list[str]  # columns that are no sample (a GCT's Description, PCL's NAME...)
    gct_dims: tuple[int, int] | None
    complete: bool  # ``cells`` are every row of the table


def _told_header(path: Path, gene_column: str | int, columns: list[str] | None, rows: str
                 ) -> _Header:
    """The header of a table, from its first :data:`HEADER_ROWS` rows: checked
    (:func:`_check_header`, unless the caller names columns it has; column names unique),
    its id column and annotation columns."""
    table, dims, comment = header_rows(path, gene_column, rows, HEADER_ROWS)
    header, cells, line = _header_and_cells(path, table, rows)
    id_column = _id_column(path, header, gene_column, rows)
    pos = header.index(id_column)
    given = ([gene_column] if isinstance(gene_column, str) else []) + list(columns or [])
    if not given or not set(given) <= set(header):
        _check_header(path, header, pos, [r[pos] for r in cells[:1000]], line, rows,
                      comment is not None)
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        name = repeated[0]
        raise InputFileError(
            f"{path}:{line}: column name {name!r} appears {header.count(name)} times in the "
            f"header ({len(repeated)} repeated name(s)); expected unique column names: "
            f"kerasgene numbers repeats NAME#2, NAME#3 ({name + '#2'!r}, ...), as it names "
            "repeated conditions (kerasgene.io.regulators.unique_labels)")
    annotation = [c for c in header[:2] if c != id_column] if dims else \
        [header[k] for k in pcl_columns(header, pos)]
    return _Header(header, cells, line, id_column, annotation, dims,
                   len(table) < HEADER_ROWS - 1)


def _cells(path: Path, gene_column: str | int, columns: list[str] | None, rows: str
           ) -> tuple[pd.DataFrame, _Header]:
    """The cells of a table as text, annotation (PCL, GCT) left out, and its header
    (:class:`_Header`); the header told and checked from the first rows
    (:func:`_told_header`), a GCT's dimensions against its rows. When the caller names
    columns the header has, only those and the id column are kept (a GTEx GCT of
    hundreds of samples read for one)."""
    h = _told_header(path, gene_column, columns, rows)
    keep = list(range(len(h.header)))
    if columns is not None and set(columns) <= set(h.header):
        keep = sorted({h.header.index(h.id_column), *(h.header.index(c) for c in columns)})
    if not h.complete:  # the rest of the table, read once
        cells = list(_kept_cells(path, h.line, len(h.header), keep))
    else:
        cells = [[row[k] for k in keep] for row in h.cells]
    if h.gct_dims:
        _check_gct_dimensions(path, h.gct_dims, (len(cells), len(h.header) - 2), h.line - 1)
    kept = [h.header[k] for k in keep]
    return _without_annotation(pd.DataFrame(cells, columns=kept, dtype=str), h.id_column,
                               [c for c in h.annotation if c in kept]), h


def _kept_cells(path: Path, header_line: int, n_fields: int, keep: list[int]
                ) -> Iterator[list[str]]:
    """The fields ``keep`` (outer spaces removed) of every row below the header (on
    ``header_line``), each row checked to have the header's ``n_fields`` as
    :func:`_header_and_cells` checks it."""
    try:
        with open_text(path) as fh:
            for line, row in table_rows(fh, table_separator(path)):
                if line > header_line:
                    row = _checked_row(path, line, row, n_fields)
                    yield [row[k].strip() for k in keep]
    except (csv.Error, UnicodeDecodeError, EOFError, OSError) as err:
        raise InputFileError(f"{path}: cannot parse as a delimited table ({err})") from None


def header_rows(path: str | os.PathLike, gene_column: str | int = 0, rows: str = "gene",
                limit: int | None = None
                ) -> tuple[list[tuple[int, list[str]]], tuple[int, int] | None, list[str] | None]:
    """The rows of a table as :func:`read_expression_table` takes them, its header first:
    a ``#`` header line (``#gene<TAB>cond1...``) above the first data row counted in
    (:func:`_is_header_above`), a GCT file's dimensions line taken out.

    ``limit``: read only the first rows (the header is told from the first 1,000 below it).
    The separator is :func:`table_separator`'s.

    Returns
    -------
    ``(table, gct_dims, comment)``: (line number, fields) of each row, the header first;
    a GCT file's (rows, samples) or None; the fields of a ``#`` line right above the
    first row that was not taken for the header, or None.

    Raises
    ------
    InputFileError
        A file that cannot be parsed or holds no row; a GCT file of another version.
    """
    path = Path(path)
    sep = table_separator(path)
    table = _read_rows(path, sep, rows, limit)
    dims = _gct_dimensions(path, table)
    comment = None if dims else _comment_above(path, sep, table[0][0])
    if comment is not None and _is_header_above(comment, table, gene_column):
        table.insert(0, (table[0][0] - 1, comment))
        comment = None
    return table, dims, comment


def _gct_dimensions(path: Path, table: list[tuple[int, list[str]]]) -> tuple[int, int] | None:
    """For a GCT file (first line ``#1.2``, :data:`GCT_VERSION`): its (rows, samples), the
    dimensions row taken out of ``table``; None for another table. InputFileError for
    another GCT version or a dimensions line that is not two whole numbers."""
    with open_text(path) as fh:
        first = fh.readline().strip()
    if not re.fullmatch(r"#\d+\.\d+", first):
        return None
    if first != GCT_VERSION:
        raise InputFileError(f"{path}:1: GCT version {first[1:]!r}; expected GCT "
                             f"{GCT_VERSION[1:]} ({GCT_VERSION!r} on line 1)")
    line, dims = table.pop(0)
    dims = [d.strip() for d in dims if d.strip()]
    if len(dims) != 2 or not all(d.isdigit() for d in dims):
        raise InputFileError(f"{path}:{line}: GCT dimensions {dims!r}; expected two whole "
                             "numbers, rows<TAB>samples")
    return int(dims[0]), int(dims[1])


def _check_gct_dimensions(path: Path, given: tuple[int, int], found: tuple[int, int],
                          line: int) -> None:
    """Raise InputFileError when a GCT's dimensions line (on ``line``) differs from the
    (rows, samples) of its table."""
    if given != found:
        raise InputFileError(
            f"{path}:{line}: GCT dimensions line says {given[0]} rows and {given[1]} samples, "
            f"the table has {found[0]} rows and {found[1]} samples (after Name and "
            "Description); expected the same counts (a truncated or edited file?)")


def _comment_above(path: Path, sep: str, line: int) -> list[str] | None:
    """The fields (outer spaces removed) of line ``line - 1`` without its leading ``#``
    when it is a comment line; None otherwise."""
    if line < 2:
        return None
    with open_text(path) as fh:
        text = next(itertools.islice(fh, line - 2, None)).rstrip("\r\n")
    if not text.startswith("#"):
        return None
    return [c.strip() for c in next(csv.reader([text[1:]], delimiter=sep))]


def _is_header_above(comment: list[str], table: list[tuple[int, list[str]]],
                     gene_column: str | int) -> bool:
    """Whether the ``#`` line above a table (``comment``, its fields) is its header: as
    many fields as the table's first row, which looks like a data row — by its values
    (:func:`_data_row_number`), or by its id shaped like the ids below under an id column's
    name (:data:`ID_COLUMN_NAMES`: ``#gene_id`` above a first gene of NA or a symbol
    column) — with the id column (``gene_column``, a name looked up in ``comment``) where
    ``comment`` has it."""
    first = [c.strip() for c in table[0][1]]
    if len(comment) != len(first):
        return False
    pos = gene_column if isinstance(gene_column, int) else \
        comment.index(gene_column) if gene_column in comment else len(first)
    if pos >= len(first):
        return False
    ids = [r[pos].strip() for _, r in table[1:1001] if len(r) > pos]
    if first[pos].lower() in ID_COLUMN_NAMES:  # the first row is a header itself
        return False
    if comment[pos].lower() in ID_COLUMN_NAMES and (
            not ids or _shape(first[pos]) in map(_shape, ids)):
        return True  # '#gene_id' above an id like those below (or a table of one row)
    return _data_row_number(first, pos, ids) is not None


def _numbers(path: Path, df: pd.DataFrame, ids: pd.Series, rows: str) -> pd.DataFrame:
    """The cells of ``df`` as float64, indexed by ``ids``; InputFileError at the first
    cell that is not a number (empty / NA / NaN are missing) or is infinite."""
    values = df.apply(lambda col: pd.to_numeric(col.replace("", "nan").replace("NA", "nan"),
                                                errors="coerce"))
    bad = values.isna() & ~df.isin(list(_MISSING))
    if bad.any().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        value = df.iat[row, col]
        comma = (" without a comma (a decimal comma, as European spreadsheets write, or a "
                 "thousands separator)") if re.fullmatch(r"[-+]?\d+,\d+", value) else ""
        raise InputFileError(
            f"{path}: non-numeric value {value!r} for {rows} {ids.iat[row]!r}, "
            f"column {df.columns[col]!r}; expected a number{comma}")
    values.index = pd.Index(ids, name="gene_id")
    values = values.astype(np.float64)
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise InputFileError(
            f"{path}: infinite value {df.iat[row, col]!r} for {rows} {ids.iat[row]!r}, column "
            f"{df.columns[col]!r} ({int(infinite.sum())} such cells); expected a finite "
            "number (leave the cell empty or NA for a missing value)")
    return values


def _id_column(path: Path, header: list[str], gene_column: str | int, rows: str) -> str:
    """The name of the id column given by name or position."""
    if isinstance(gene_column, int):
        if gene_column >= len(header):
            raise InputFileError(f"{path}: no column {gene_column} for {rows} ids")
        return header[gene_column]
    if gene_column not in header:
        raise InputFileError(f"{path}: no {rows}-id column {gene_column!r}; columns: "
                             f"{_columns_text(header)}")
    return gene_column


def _shape(text: str) -> str:
    """``ENSG00000141510.5`` → ``A9.9``: each run of capitals, small letters or digits as
    one ``A``, ``a`` or ``9``; other characters kept."""
    return re.sub(r"[A-Z]+", "A", re.sub(r"[a-z]+", "a", re.sub(r"[0-9]+", "9", text)))


def is_number(text: str) -> bool:
    """Whether ``float(text)`` succeeds (``"1e3"``, ``" 5 "``, ``"nan"`` and ``"inf"``
    included)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _data_row_number(header: list[str], pos: int, ids: list[str]) -> str | None:
    """The first number among the value-column names of ``header`` when it looks like a
    data row: those names all numbers or missing (at least one a number), and its id field
    (at ``pos``) not an id column's name (:data:`ID_COLUMN_NAMES`) and shaped
    (:func:`_shape`) like one of ``ids``, those of the rows below; None otherwise."""
    id_column = header[pos]
    names = header[:pos] + header[pos + 1:]
    numbers = [h for h in names if is_number(h)]
    if not numbers or len(numbers) + sum(h in _MISSING for h in names) < len(names):
        return None
    if id_column.lower() in ID_COLUMN_NAMES or _shape(id_column) not in map(_shape, ids):
        return None
    return numbers[0]


def _check_header(path: Path, header: list[str], pos: int, ids: list[str], line: int,
                  rows: str, after_comment: bool = False) -> None:
    """Raise InputFileError when the header on ``line`` looks like a data row
    (:func:`_data_row_number`; ``ids``: those of the rows below), naming the ``#`` line
    above it, skipped as a comment, when ``after_comment``."""
    number = _data_row_number(header, pos, ids)
    if number is None:
        return
    hint = (f"; if line {line} is the header (columns named by numbers), give the gene-id "
            "column by name (gene_column)") if rows == "gene" else ""
    if after_comment:
        hint += (f"; line {line - 1} starts with '#' and was skipped as a comment (a '#' "
                 f"line is read as the header only with line {line}'s number of fields)")
    raise InputFileError(
        f"{path}: line {line} looks like a data row, not a header ({header[pos]!r} is shaped "
        f"like the {rows} ids below it, {number!r} is a number); expected a header row "
        f"naming the columns ({rows} id, then each sample or condition){hint}")


def _without_annotation(df: pd.DataFrame, id_column: str, drop: list[str]) -> pd.DataFrame:
    """``df`` without the annotation columns ``drop`` and the PCL annotation rows right
    after the header (:data:`PCL_ROWS`)."""
    ids = df[id_column].tolist()
    first = next((k for k, i in enumerate(ids) if i not in PCL_ROWS), len(ids))
    return df.drop(columns=drop).iloc[first:]


def pcl_columns(header: list[str], id_pos: int) -> list[int]:
    """Positions in ``header`` of the PCL annotation columns (:data:`PCL_COLUMNS`) that
    follow the id column at ``id_pos`` without a gap."""
    return list(itertools.takewhile(lambda k: header[k] in PCL_COLUMNS,
                                    range(id_pos + 1, len(header))))


def table_rows(fh, sep: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank row of an open delimited table, after the
    blank lines and comment lines (starting with ``#``) before its header."""
    skipped = 0
    for text in fh:
        if text.strip() and not text.startswith("#"):
            break
        skipped += 1
    else:
        return
    reader = csv.reader(itertools.chain([text], fh), delimiter=sep)
    for row in reader:
        if row:
            yield skipped + reader.line_num, row


def _read_rows(path: Path, sep: str, rows: str, limit: int | None = None
               ) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the rows of a delimited table (:func:`table_rows`: blank
    lines and leading ``#`` lines skipped), the first ``limit`` (None: all);
    InputFileError for a file that cannot be parsed or holds no row."""
    try:
        with open_text(path) as fh:
            table = list(itertools.islice(table_rows(fh, sep), limit))
    except (csv.Error, UnicodeDecodeError, EOFError, OSError) as err:
        raise InputFileError(f"{path}: cannot parse as a delimited table ({err})") from None
    if not table:
        raise InputFileError(f"{path}: empty table; expected a header row and one row per "
                             f"{rows}")
    return table


def _header_and_cells(path: Path, table: list[tuple[int, list[str]]], rows: str
                      ) -> tuple[list[str], list[list[str]], int]:
    """The header, the rows and the header's line number of a table's rows (``table``,
    the first the header), every cell as text without outer spaces (``" NA"`` is ``NA``
    as ``" 3"`` is 3).

    Each row must have the header's number of fields: a row with more (its extra fields
    not all empty, as the trailing separator spreadsheets write leaves them) or fewer would
    shift or lose columns; InputFileError names the line."""
    if not table:
        raise InputFileError(f"{path}: no header row; expected a header row and one row per "
                             f"{rows}")
    header = [c.strip() for c in table[0][1]]
    while header and not header[-1]:  # a trailing separator
        header = header[:-1]
    cells = [[c.strip() for c in _checked_row(path, line, row, len(header))]
             for line, row in table[1:]]
    return header, cells, table[0][0]


def _checked_row(path: Path, line: int, row: list[str], n_fields: int) -> list[str]:
    """``row`` without the empty fields of trailing separators; InputFileError naming the
    line when it has not the header's ``n_fields``."""
    if len(row) > n_fields and not any(c.strip() for c in row[n_fields:]):
        row = row[:n_fields]  # trailing separators
    if len(row) != n_fields:
        raise InputFileError(
            f"{path}:{line}: {len(row)} fields but the header has {n_fields}; expected "
            "one value per column (a missing value is written empty or NA)")
    return row


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


def warn_not_tpm(values: np.ndarray, source: str, owner: str) -> None:
    """Warn when one sample's expression, given as TPM, cannot be TPM: it sums to more
    than the 10⁶ (plus :data:`TPM_SUM_SLACK` for rounding) that a sample's TPMs sum to
    (read counts, FPKM of a deep library), or, over at least :data:`LOG_MIN_GENES`
    expressed genes, never exceeds :data:`LOG_MAX_VALUE` (values already logged, as
    log2(TPM + 1) tables are: the labels would be logged twice).

    Parameters
    ----------
    values : the sample's values (NaN missing)
    source : the file and column, e.g. ``"tpm.tsv [TPM]"``
    owner : who reads them, the start of the message: ``"isegnet: sample 's1'"``
    """
    values = np.asarray(values, dtype=np.float64)
    total = float(np.nansum(values))
    expressed = int((values > 0).sum())
    if total > 1e6 * TPM_SUM_SLACK:
        log.warning("%s: %s sums to %.3g, more than the 1e+06 that a sample's TPMs sum to: "
                    "read counts or another unit? The labels are log(value + pseudocount) "
                    "of whatever the column holds; expected TPM", owner, source, total)
    elif expressed >= LOG_MIN_GENES and np.nanmax(values) <= LOG_MAX_VALUE:
        log.warning("%s: %s reaches only %.3g over %d expressed genes, as log-transformed "
                    "values (log2(TPM + 1) <= 20) do, not TPM: the labels would be logged "
                    "twice; expected TPM", owner, source, float(np.nanmax(values)), expressed)


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
    """Class labels 0..len(thresholds) from sorted thresholds; a value equal to a
    threshold goes to the class farther from 0 — the lower one for a threshold ≤ 0, the
    upper one for a threshold > 0 — as DeepRAGE's ``down ≤ −0.5, up ≥ 0.5``, for any
    number of classes (5 classes at [−1, −0.5, 0.5, 1]: −0.5 is down and 0.5 up, −1
    strongly down and 1 strongly up).

    Returns
    -------
    np.ndarray of int64
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or len(thresholds) < 1 or (np.diff(thresholds) <= 0).any():
        raise ConfigError(f"discretize: thresholds must be strictly increasing, got {thresholds}")
    values = np.asarray(values, dtype=np.float64)
    lower = np.searchsorted(thresholds, values, side="left")  # equal: the lower class
    upper = np.searchsorted(thresholds, values, side="right")  # equal: the upper class
    at_positive = (upper > lower) & (thresholds[np.minimum(lower, len(thresholds) - 1)] > 0)
    return np.where(at_positive, upper, lower).astype(np.int64)


def discretize_quantiles(values, n_classes: int = 2) -> np.ndarray:
    """Class labels by quantiles (``n_classes=2`` is DeepChrome's above/below median:
    1 if the value is above the median)."""
    if n_classes < 2:
        raise ConfigError(f"discretize_quantiles: n_classes must be >= 2, got {n_classes}")
    values = np.asarray(values, dtype=np.float64)
    edges = np.quantile(values, np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.searchsorted(edges, values, side="left").astype(np.int64)
