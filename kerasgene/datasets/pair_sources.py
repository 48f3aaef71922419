"""DeepRAGE's input files (config keys in :mod:`kerasgene.datasets.pairs`): the gene ×
condition table of log-fold changes (:func:`expression_table`: its header as written,
repaired from ``condition_names`` when names hold the separator), the regulator states
(:func:`regulator_states`: triplets or a table, with the name files) and the promoters
(:func:`promoter_sequences`: a FASTA of promoters, or a genome FASTA + GTF).
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from kerasgene._io import check_readable, open_text
from kerasgene.datasets import base
from kerasgene.datasets.dropped import REASONS, Dropped, max_outside
from kerasgene.datasets.windows import screen_genes
from kerasgene.dna import one_hot
from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError
from kerasgene.io.annotation import read_gtf
from kerasgene.io.expression import (
    HEADER_ROWS,
    MAX_ABS_LOG_RATIO,
    check_range,
    header_rows,
    is_number,
    pcl_columns,
    read_expression_table,
    table_rows,
    table_separator,
)
from kerasgene.io.genome import Genome
from kerasgene.io.regulators import clean_name, read_names, read_triplets, unique_labels

log = logging.getLogger(__name__)


def _is_triplets(path) -> bool:
    """True when the first line of ``path`` that is not blank or a ``#`` comment is three
    numbers (:func:`_fields`: separated by tabs, commas or spaces, as
    :func:`read_triplets` reads them).

    Raises
    ------
    ConfigError
        A header line above three numbers: triplets under a header line, or a table of two
        conditions with numeric regulator ids — ``auto`` cannot tell (read as a table,
        triplets became 'duplicate gene id' errors). A ``#`` line right above them is such
        a header when it has three fields (a table's ``#regulator<TAB>cond1<TAB>cond2``);
        other ``#`` lines are comments."""
    above, rows = "", []
    try:
        with open_text(path) as fh:
            for line in (ln.strip() for ln in fh if ln.strip()):
                if not line.startswith("#"):
                    rows.append(line)
                    if len(rows) == 2:
                        break
                elif not rows:
                    above = line
    except (UnicodeDecodeError, EOFError, OSError):
        return False  # the table reader says what is wrong with the file
    first, second = [*rows, "", ""][:2]
    if _three_numbers(first):
        if len(_fields(above.removeprefix("#"))) != 3:
            return True
        header, advice = above, "set regulator_format: triplets or table"
    elif _three_numbers(second):
        header, advice = first, ("remove the header line (triplets have none) or set "
                                 "regulator_format: table")
    else:
        return False
    raise ConfigError(
        f"{path}: deeprage.regulator_format auto cannot tell a header line {header!r} above "
        f"'row col state' triplets from a table of two conditions; {advice}")


def _fields(line: str) -> list[str]:
    """The fields of a line of a regulator file: separated by tabs when it has one, else
    by commas when it has one, else by spaces."""
    sep = "\t" if "\t" in line else "," if "," in line else None
    return line.split(sep) if sep else line.split()


def _unique_names(path) -> list[str]:
    """The regulator names of ``path`` (:func:`read_names`); a name given twice is an
    InputFileError (knockouts and motif matches look regulators up by name)."""
    names = read_names(path)
    seen: dict[str, int] = {}
    for k, name in enumerate(names, 1):
        if seen.setdefault(name, k) != k:
            raise InputFileError(f"{path}: regulator {name!r} is named twice (names {seen[name]} "
                                 f"and {k} of {len(names)}); expected each regulator once")
    return names


def _three_numbers(line: str) -> bool:
    """Whether ``line`` is three numbers (:func:`_fields`)."""
    fields = _fields(line)
    return len(fields) == 3 and all(is_number(f) for f in fields)


def _header(path, id_column: int | str = 0, known_names: Sequence[str] | None = None
            ) -> tuple[list[str], bool]:
    """Column names of a table's header row as written (pandas would rename duplicates).

    Returns (names, repaired). Empty fields after the last name, and after the last value
    of the first data row beyond the header's count (the trailing separator Excel and R
    write), are ignored as :func:`read_expression_table` ignores them, and so are comment
    lines before the header, PCL annotation columns (``NAME``, ``GWEIGHT``) and a GCT
    file's ``Description``; the header
    is the line that function takes for it (:func:`~kerasgene.io.expression.header_rows`:
    a ``#gene<TAB>cond1...`` line above the first data row too). When the header has more
    fields than the first data row because condition names contain the separator, and
    ``known_names`` (the raw names of the condition list) joined by the separator give
    exactly the header, the known names are returned with ``repaired=True`` (not for a PCL
    file: its annotation columns make the counts differ, an error). Any other mismatch of
    field counts raises InputFileError, since the columns would be shifted.
    """
    sep = table_separator(path)
    table, gct, _ = header_rows(path, id_column, limit=HEADER_ROWS)  # not the whole file
    top = [r for _, r in table[:2]]  # header, first row
    row = _trim(top[0], 0)
    if not isinstance(id_column, int) and id_column not in row:
        raise InputFileError(f"{path}: no gene-id column {id_column!r}; columns: {row}")
    pos = id_column if isinstance(id_column, int) else row.index(id_column)
    annotation = [i for i in (0, 1) if i != pos] if gct else \
        pcl_columns([c.strip() for c in row], pos)  # a GCT's Description; PCL's NAME...
    skip = {pos, *annotation}
    names = [str(c) for i, c in enumerate(row) if i not in skip]
    first = _trim(top[1], len(row)) if len(top) > 1 else row
    if len(first) < len(row):
        known = None if known_names is None else len(known_names) + 1
        if (known is not None and pos == 0 and len(_trim(first, known)) == known
                and sep.join(clean_name(n) for n in names) == sep.join(clean_name(n) for n in known_names)):
            log.warning("%s: condition names in the header contain the separator; using the "
                        "condition_names file's %d names", path, len(known_names))
            return list(known_names), True
        raise InputFileError(f"{path}: the header has {len(row)} fields but the first row has "
                             f"{len(first)}; does a condition name contain the separator?")
    if len(first) > len(row):
        raise InputFileError(
            f"{path}: the header has {len(row)} fields but the first row has {len(first)}; "
            "expected a name for every column, the gene-id column's too (R's write.table "
            "leaves it out: write.table(..., col.names=NA) writes it)")
    return names, False


def _trim(fields: list[str], n: int) -> list[str]:
    """``fields`` without the empty fields after the first ``n`` (trailing separators)."""
    end = len(fields)
    while end > n and not fields[end - 1].strip():
        end -= 1
    return fields[:end]


def _read_repaired(path, labels: list[str]) -> pd.DataFrame:
    """Data rows of a table whose header could not be parsed, with the given labels.

    Read as :func:`read_expression_table` reads a table (plain or gzip told by content,
    cells stripped, blank lines and trailing separators skipped); a row with another
    number of fields, a gene id given twice or a value that is not a number raises
    InputFileError naming the line."""
    sep = table_separator(path)
    n = len(labels) + 1
    ids: dict[str, int] = {}
    cells = []
    try:
        with open_text(path) as fh:
            rows = list(table_rows(fh, sep))
    except (csv.Error, UnicodeDecodeError, EOFError, OSError) as err:
        raise InputFileError(f"{path}: cannot parse as a delimited table ({err})") from None
    for line, row in rows[1:]:
        row = [c.strip() for c in _trim(row, n)]
        if len(row) != n:
            raise InputFileError(
                f"{path}:{line}: {len(row)} fields; expected {n}, the gene id and one value "
                f"for each of the {n - 1} conditions of the condition_names file")
        if row[0] in ids:
            raise InputFileError(f"{path}:{line}: gene id {row[0]!r} again (first on line "
                                 f"{ids[row[0]]}); expected each gene once")
        ids[row[0]] = line
        cells.append(row[1:])
    raw = pd.DataFrame(cells, columns=labels, dtype=str)
    values = raw.replace({"": "nan", "NA": "nan"}).apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & ~raw.isin(["", "NA", "NaN", "nan"])
    if bad.any().any():
        r, c = np.argwhere(bad.to_numpy())[0]
        raise InputFileError(f"{path}:{list(ids.values())[r]}: non-numeric value "
                             f"{raw.iat[r, c]!r} for gene {list(ids)[r]!r}, column "
                             f"{labels[c]!r}; expected a number")
    values.index = pd.Index(list(ids), name="gene_id")
    return values.astype(np.float64)


def regulator_states(cfg, base_dir, expr_labels: list[str], dropped: Dropped,
                      table_labels: list[str] | None = None
                      ) -> tuple[np.ndarray, list[str], list[int]]:
    """(C, R) regulator states of the matched expression columns, regulator names, and the
    positions of those columns in ``expr_labels`` (matched by unique label); conditions
    without regulator states go to ``dropped``.

    ``table_labels`` are all the condition columns of the expression table (default
    ``expr_labels``, the ones ``conditions`` selects): without ``condition_names``, triplet
    column j is the table's j-th condition column."""
    path = check_readable(base.resolve_path(cfg["regulators"], base_dir), "regulator file")
    table_labels = list(expr_labels if table_labels is None else table_labels)
    fmt = cfg["regulator_format"]
    if fmt not in ("auto", "triplets", "table"):
        raise ConfigError(f"deeprage.regulator_format: expected auto, triplets or table, got {fmt!r}")
    if fmt == "auto":
        fmt = "triplets" if _is_triplets(path) else "table"
    names_path = (base.resolve_path(cfg["regulator_names"], base_dir)
                  if cfg["regulator_names"] else None)
    reg_names = _unique_names(names_path) if names_path else None
    row_ids: list[str] = []
    source = path  # the file whose names the expression table's conditions must match
    if fmt == "table":
        table = read_expression_table(path, rows="regulator")
        row_ids = [str(i) for i in table.index]
        dense = table.to_numpy(np.float32)  # (R, C)
        if reg_names is None:
            reg_names = row_ids
        else:
            dense = _table_rows(path, names_path, dense, row_ids, reg_names)
        cond_labels = unique_labels(_header(path)[0])
    else:
        conds_path = (base.resolve_path(cfg["condition_names"], base_dir)
                      if cfg["condition_names"] else None)
        cond_labels = unique_labels(read_names(conds_path)) if conds_path else None
        source = conds_path or path
        dense = read_triplets(path)
        if reg_names is not None:
            _check_count(path, dense.shape[0], reg_names, names_path, "regulator")
        if cond_labels is not None:
            _check_count(path, dense.shape[1], cond_labels, conds_path, "condition")
        n_reg = len(reg_names) if reg_names is not None else dense.shape[0]
        n_cond = len(cond_labels) if cond_labels is not None else len(table_labels)
        if dense.shape[1] > n_cond:
            raise InputFileError(
                f"{path}: {dense.shape[1]} conditions but the expression table has {n_cond} "
                "condition columns; give condition_names to match them by name")
        if cond_labels is None:
            cond_labels = table_labels
            unnamed = [c for c in cond_labels[dense.shape[1]:] if c in expr_labels]
            if unnamed:
                log.warning(
                    "deeprage: %s: the triplets name condition columns 1 to %d only, so %d "
                    "conditions after them in the expression table's %d condition columns get "
                    "all-zero regulator states (%s); without condition_names, triplet column j "
                    "is the table's j-th condition column: if the table has other columns "
                    "(e.g. a weight or count), give condition_names", path, dense.shape[1],
                    len(unnamed), n_cond,
                    ", ".join(unnamed[:3]) + (", ..." if len(unnamed) > 3 else ""))
        dense = np.pad(dense, ((0, n_reg - dense.shape[0]), (0, n_cond - dense.shape[1])))
        if reg_names is None:
            reg_names = [str(i + 1) for i in range(n_reg)]
    _check_states(path, dense, reg_names, cond_labels)
    pos = {n: j for j, n in enumerate(cond_labels)}
    used, cols = [], []
    for i, c in enumerate(expr_labels):
        j = pos.get(c)
        if j is not None:
            used.append(i)
            cols.append(j)
    if not used:
        transposed = sorted(set(unique_labels(row_ids)) & set(expr_labels))
        raise InputFileError(
            f"{path}: none of the expression table's conditions "
            f"({', '.join(expr_labels[:3])}, ...) has regulator states" + (
                f"; its rows name {len(transposed)} of them (e.g. {transposed[0]!r}): expected "
                "one row per regulator and one column per condition (transpose the table)"
                if transposed else ""))
    for i in sorted(set(range(len(expr_labels))) - set(used)):
        dropped.add(expr_labels[i], "no_regulator_states",
                    detail=f"every gene's pair in this condition; not in {source}")
    return dense[:, cols].T.copy(), reg_names, used


#: first lines of a names file that are a column's name, not a regulator's or condition's
#: (``pd.Series(names, name="regulator").to_csv(path, index=False)`` writes one)
_HEADER_WORDS = frozenset({"regulator", "regulators", "regulator_name", "regulator_names",
                           "condition", "conditions", "condition_name", "condition_names",
                           "experiment", "experiments", "name", "names", "gene", "genes",
                           "gene_id", "gene_name", "orf", "id", "tf", "tfs"})


def _check_count(path, largest: int, names: list[str], names_path, what: str) -> None:
    """Check the largest triplet index of one axis (``what``: regulator rows or condition
    columns) against the names of that axis's names file: each index must have a name, and
    names after the largest index (their states all zero) are counted in a warning, with
    the hint that a header line puts every name on the previous index's states.

    Raises
    ------
    InputFileError
        An index past the names, naming both files and both counts; names after the
        largest index where the first name is a column's name (:data:`_HEADER_WORDS`)."""
    axis, key = {"regulator": ("row", "regulator_names"),
                 "condition": ("column", "condition_names")}[what]
    if largest > len(names):
        raise InputFileError(
            f"{path}: triplets name {what} {axis} {largest} but the {key} file {names_path} "
            f"lists {len(names)} {what}s; expected {axis} indices 1 to {len(names)}")
    extra = names[largest:]
    if extra and names[0].strip().lower() in _HEADER_WORDS:
        raise InputFileError(
            f"{names_path}:1: {names[0]!r} is a column header (a column name, and the file "
            f"lists {len(names)} {what}s where the triplets of {path} name {axis}s 1 to "
            f"{largest}); expected one name per line and no header (line j names triplet "
            f"index j): remove the line (pandas: to_csv(..., header=False))")
    if extra:
        log.warning(
            "deeprage: the %s file %s lists %d %ss but the triplets of %s name %ss 1 to %d "
            "only: no triplet names the last %d %ss (%s), their regulator states are all 0; "
            "if its first name %r is a column header, remove it (it puts each name on the "
            "next %s's states)", key, names_path, len(names), what, path, axis, largest,
            len(extra), what, ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else ""),
            names[0], what)


def _table_rows(path, names_path, dense: np.ndarray, row_ids: list[str], names: list[str]
                ) -> np.ndarray:
    """The rows of a regulator table in the order of the ``regulator_names`` file.

    Rows numbered 1..R (or 0..R-1) are named by position; rows named by regulator must
    be the regulators the file names (in any order).

    Raises
    ------
    InputFileError
        A row the names file does not name, or a name without a row (the table's names
        would be replaced by the file's, silently, one regulator's states under another's
        name); rows numbered by position and another number of names."""
    numbered = row_ids in ([str(k) for k in range(1, len(row_ids) + 1)],
                           [str(k) for k in range(len(row_ids))])
    if numbered and len(row_ids) != len(names):
        raise InputFileError(
            f"{path}: {len(row_ids)} rows numbered {row_ids[0]} to {row_ids[-1]} but "
            f"{names_path} lists {len(names)} regulators; expected one name for each row, "
            "in the rows' order")
    if row_ids == names or numbered:
        return dense
    index = {r: k for k, r in enumerate(row_ids)}
    extra = [r for r in row_ids if r not in set(names)]
    missing = [n for n in names if n not in index]
    if extra or missing:
        raise InputFileError(
            f"{path}: the table's rows are not the regulators of {names_path} ({len(extra)} "
            f"rows it does not name, e.g. {extra[:1]}; {len(missing)} names without a row, e.g. "
            f"{missing[:1]}); expected a row for each regulator it names (or no "
            "regulator_names: a table names its rows)")
    return dense[[index[n] for n in names]]


def _check_states(path, dense: np.ndarray, reg_names: list[str], cond_labels: list[str]
                  ) -> None:
    """Raise InputFileError at a missing (NaN) regulator state (a table's empty / NA cell
    would reach the model as NaN); warn, with a count and examples, about
    states other than -1, 0 and 1 (DeepRAGE's states are MEDUSA's discretised -1 / 0 / +1;
    other values are used as given)."""
    bad = np.isnan(dense)  # a table's empty / NA cell (inf is refused when it is read)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise InputFileError(
            f"{path}: regulator {reg_names[r]!r}, condition {cond_labels[c]!r}: missing state "
            f"(empty, NA or NaN; {int(bad.sum())} such cells); expected a state for every "
            "regulator and condition (0 for no change)")
    other = ~np.isin(dense, (-1.0, 0.0, 1.0))
    if other.any():
        cells = np.argwhere(other)[:3]
        log.warning("deeprage: %s: %d regulator states are not -1, 0 or 1, used as given "
                    "(DeepRAGE's states are discretised -1 / 0 / +1): e.g. %s", path,
                    int(other.sum()), ", ".join(f"{reg_names[r]} in {cond_labels[c]!r}: "
                                                f"{dense[r, c]:g}" for r, c in cells))


def promoter_sequences(cfg, base_dir, gene_ids: list[str], length: int, n_value, dropped: Dropped
               ) -> tuple[list[str], np.ndarray]:
    """(kept gene ids, (G, L, 4) float32 one-hot); genes left out go to ``dropped``."""
    seqs: dict[str, str] = {}
    records = ""
    if cfg["promoters"]:
        path = base.resolve_path(cfg["promoters"], base_dir)
        with Genome(path) as genome:
            records = f"; the records of {path} are named e.g. {', '.join(list(genome.chroms)[:3])}"
            for gid in gene_ids:
                if gid in genome.chroms:
                    n = genome.chroms[gid]
                    seqs[gid] = genome.fetch(gid, n - length, n)
                else:
                    dropped.add(gid, "no_promoter", detail=f"no record {gid!r} in {path}")
            short = [g for g in seqs if genome.chroms[g] < length]
            long = [g for g in seqs if genome.chroms[g] > length]
        if long:
            log.warning("deeprage: %d promoters longer than %d bp were cut to their last %d "
                        "bases, next to the TSS (e.g. %s)", len(long), length, length,
                        ", ".join(long[:3]))
        if short:
            log.warning("deeprage: %d promoters shorter than %d bp were N-padded on the 5' "
                        "side (e.g. %s)", len(short), length, ", ".join(short[:3]))
    elif cfg["fasta"] and cfg["gtf"]:
        seqs = _gtf_promoters(cfg, base_dir, gene_ids, length, dropped)
    else:
        raise ConfigError("deeprage: give 'promoters' (a FASTA of promoter sequences) or "
                          "'fasta' and 'gtf'")
    kept = [g for g in gene_ids if g in seqs]
    if not kept:
        rows = [r for r in dropped.rows if r[5] != "no_regulator_states"]
        why = "; ".join(f"{n} {REASONS[reason]} (e.g. {row[0]}: {row[6]})"
                        for reason, n in Counter(r[5] for r in rows).items()
                        for row in [next(r for r in rows if r[5] == reason)])
        raise InputFileError("deeprage: no expression gene id has a promoter sequence "
                             f"(e.g. {', '.join(gene_ids[:3])}): {why}{records}")
    other = {g: n for g in kept
             if (n := len(seqs[g]) - sum(seqs[g].upper().count(b) for b in "ACGTN"))}
    if other:
        log.warning("deeprage: %d promoters hold %d characters other than A, C, G, T, N "
                    "(IUPAC ambiguity codes), encoded like N (e.g. %s)", len(other),
                    sum(other.values()), ", ".join(list(other)[:3]))
    onehot = one_hot("".join(seqs[g] for g in kept), np.asarray(n_value, np.float32),
                     dtype=np.float32).reshape(len(kept), length, 4)
    return kept, onehot


def _gtf_promoters(cfg, base_dir, gene_ids: list[str], length: int, dropped: Dropped
                   ) -> dict[str, str]:
    """``length`` bp upstream of each gene's TSS (strand-oriented) from ``fasta`` + ``gtf``;
    ids absent from the annotation, on unknown chromosomes or outside them → ``dropped``."""
    gtf = base.resolve_path(cfg["gtf"], base_dir)
    fasta = base.resolve_path(cfg["fasta"], base_dir)
    annotation = read_gtf(gtf)
    genes = {g.id: g for g in annotation}
    for gid in gene_ids:
        if gid not in genes:
            why = annotation.skipped.get(gid)
            dropped.add(gid, "skipped_in_annotation" if why else "not_in_annotation",
                        detail=why or f"not in {gtf}")
    found = [genes[g] for g in gene_ids if g in genes]
    seqs = {}
    with Genome(fasta, aliases=base.resolve_path(cfg["chrom_aliases"], base_dir)) as genome:
        lengths = {}
        for chrom in {g.chrom for g in found}:
            try:
                lengths[chrom] = genome.chroms[genome.resolve(chrom)]
            except UnknownChromosomeError:
                continue
        bad = screen_genes(found, lengths, (length, 0), (0, 0), task="deeprage",
                           annotation=str(gtf), genome=str(fasta),
                           max_outside=max_outside(cfg["max_genes_outside"], "deeprage"),
                           padded_with="N, as a promoter record shorter than promoter_length")
        for g in found:
            if g.id in bad:
                dropped.add_gene(g.id, g, bad[g.id][0], detail=bad[g.id][1])
            elif g.strand == "+":
                seqs[g.id] = genome.fetch(g.chrom, g.tss - length, g.tss, "+")
            else:
                seqs[g.id] = genome.fetch(g.chrom, g.tss + 1, g.tss + 1 + length, "-")
    return seqs


def expression_table(cfg: Mapping, inputs: Mapping) -> tuple[pd.DataFrame, list[str]]:
    """The log-fold-change table (genes × conditions), columns named by
    :func:`unique_labels` (a header split by tabs inside names repaired), restricted to
    ``conditions`` when given; values checked to be finite or missing and in range. And
    the labels of all its condition columns, in order (positional triplets are matched
    to them)."""
    raw_names = (read_names(inputs["condition_names"], keep_tabs=True)
                 if "condition_names" in inputs else None)
    header, repaired = _header(inputs["expression"], cfg["gene_column"], raw_names)
    labels = unique_labels(" ".join(h.split("\t")) for h in header)
    table = (_read_repaired(inputs["expression"], labels) if repaired
             else read_expression_table(inputs["expression"], cfg["gene_column"]))
    if len(labels) != table.shape[1]:
        raise InputFileError(f"{inputs['expression']}: header has {len(labels)} condition names "
                             f"for {table.shape[1]} columns")
    table.columns = labels
    if cfg["conditions"] is not None:
        missing = [c for c in cfg["conditions"] if c not in labels]
        if missing:
            raise ConfigError(f"deeprage.conditions: {missing[0]!r} is not a column of "
                              f"{inputs['expression']}")
        table = table[list(cfg["conditions"])]
    check_range(table, str(inputs["expression"]), low=-MAX_ABS_LOG_RATIO,
                high=MAX_ABS_LOG_RATIO, what="log-fold change")
    return table, labels


__all__ = ["expression_table", "promoter_sequences", "regulator_states"]
