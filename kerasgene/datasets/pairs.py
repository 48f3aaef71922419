"""DeepRAGE: gene × condition pairs, gathered on the fly.

The promoter one-hot is stored once per gene (``sequence``, (G, L, 4) float32, N rows =
``n_value``), the regulator vector once per condition (``regulators``, (C, R) float32),
the labels once as a (G, C) matrix (``lfc`` float32, NaN = missing; ``classes`` int8,
−1 = missing), and the pairs as two index arrays (``pair_gene``, ``pair_cond``). An example
is a pair with a finite label; :meth:`PairsDataset.gather` assembles pair batches from the
base arrays, so the G × C × L × 4 product is never materialised.
:meth:`PairsDataset.grouped_batches` yields G' genes × C' conditions blocks instead (for
models that compute the promoter branch once per gene).

Config keys (``build_pairs(config, out_dir)`` / the ``deeprage`` YAML section)
-------------------------------------------------------------------------------
``expression`` (required)
    Gene × condition table of log-fold changes (rows gene ids, a header of condition
    names; TSV, or CSV by extension; trailing separators ignored). ``gene_column`` = 0
    (a name, or a 0-based position). ``conditions``: optional list of columns to use
    (default all).
``regulators`` (required)
    Regulator states per condition: sparse 1-based ``regulator condition value`` triplets
    (DeepRAGE's ``reg_exp_RxE.tab``; absent = 0), or a table with one row per regulator and
    one column per condition. ``regulator_format`` = ``auto`` | ``triplets`` | ``table``.
``regulator_names``, ``condition_names``
    Optional name files (``reg_names_R.txt``, ``expt_names_E.txt``): line j names triplet
    row (column) j; lines written ``index<TAB>name`` must be numbered in order. With
    ``condition_names``, triplet column j is the condition named on line j and expression
    columns are matched by name; without it, triplet column j is the expression table's
    j-th condition column (``conditions`` picks among them by name), and columns after the
    triplets' last get all-zero states with a warning. With a regulator table,
    ``regulator_names`` must name the table's rows (in any order; the file's order is
    used) unless the rows are numbered 1..R.
``promoters``
    FASTA of promoter sequences, one record per gene id (the last ``promoter_length``
    bases are used — those next to the TSS — and shorter records are N-padded on the 5'
    side). Or ``fasta`` + ``gtf``: ``promoter_length`` bases immediately upstream of each
    gene's TSS, strand-oriented. Either genome file may be a FASTA (plain, gzip, bgzip)
    or 2bit; ``chrom_aliases`` (optional; :mod:`kerasgene.io.chroms`) maps the GTF's
    chromosome names to the genome's.
``promoter_length`` = 1000; ``n_value`` = [0.31, 0.19, 0.19, 0.31]
    One-hot row for N (A, C, G, T), as in the authors' code.
``target`` = ``expression`` | ``class``
    The target yielded by default (both are stored).
``classes`` = 3; ``class_thresholds`` = null
    3 classes: down ≤ −0.5, baseline, up ≥ 0.5 (code); 5 classes default thresholds
    [−1, −0.5, 0.5, 1] (our choice: the paper names 5 bins without their edges);
    ``class_thresholds`` overrides either.
``split`` = ``{method: random, fractions: [0.8, 0.1, 0.1], seed: 42}`` (the code's split)
    ``random`` pairs, ``unseen_gene``, ``unseen_condition`` or ``unseen_pair``.
``max_genes_outside`` = 0.01
    With ``fasta`` + ``gtf``: genes outside their chromosome are dropped; more than one and
    more than this fraction of a chromosome's genes is an error naming both files (as in
    :mod:`kerasgene.datasets.regions`).

What is left out, and why
-------------------------
Counted in one warning per reason and listed in ``dropped.tsv``
(:mod:`kerasgene.datasets.dropped`): pairs with a missing (empty / NA) log-fold change,
conditions without regulator states, genes without a promoter record, or (``gtf``, GTF
or GFF3, matched by exact id) absent from the annotation, on a chromosome the FASTA lacks,
or outside their chromosome. Log-fold changes must be finite with ``|x| ≤ 100``.
Every regulator state must be given (a table's empty / NA cell is an error); states other
than −1, 0, 1 are used as given with a warning. Promoter records longer or shorter than
``promoter_length`` (cut / N-padded) and class thresholds leaving a class without any
pair are counted in warnings.
"""

from __future__ import annotations

import csv
import itertools
import logging
import numbers
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from kerasgene._io import check_readable, open_text
from kerasgene.config import yaml_number_hint
from kerasgene.datasets import base, storage
from kerasgene.datasets.dropped import REASONS, Dropped, max_outside
from kerasgene.datasets.regions import screen_genes
from kerasgene.dna import one_hot
from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError
from kerasgene.io.annotation import read_gtf
from kerasgene.io.expression import (
    MAX_ABS_LOG_RATIO,
    check_range,
    clean_name,
    discretize,
    read_expression_table,
    read_names,
    read_triplets,
    unique_labels,
)
from kerasgene.io.genome import Genome

log = logging.getLogger(__name__)

DEEPRAGE_N = (0.31, 0.19, 0.19, 0.31)
CLASS_THRESHOLDS = {3: (-0.5, 0.5), 5: (-1.0, -0.5, 0.5, 1.0)}
DEFAULTS = {
    "expression": base.REQUIRED, "regulators": base.REQUIRED, "gene_column": 0,
    "conditions": None, "regulator_format": "auto", "regulator_names": None,
    "condition_names": None, "promoters": None, "fasta": None, "gtf": None,
    "promoter_length": 1000, "n_value": list(DEEPRAGE_N), "target": "expression",
    "classes": 3, "class_thresholds": None, "max_genes_outside": 0.01,
    "chrom_aliases": None,
    "split": {"method": "random", "fractions": [0.8, 0.1, 0.1], "seed": 42},
}


@base.register("deeprage")
class PairsDataset(base.Dataset):
    """DeepRAGE pairs: inputs ``sequence`` (L, 4) and ``regulators`` (R,); targets
    ``expression`` (log-fold change, float32) and ``class`` (int)."""

    @classmethod
    def _split_defaults(cls) -> dict:
        return {"default_fractions": (0.8, 0.1, 0.1), "default_seed": 42}

    @property
    def gene_ids(self) -> list[str]:
        return list(self.meta["gene_ids"])

    @property
    def conditions(self) -> list[str]:
        return list(self.meta["conditions"])

    @property
    def class_thresholds(self) -> list[float]:
        return list(self.meta["class_thresholds"])

    def _output_spec(self, target):
        a = self.arrays
        label = a["lfc"] if target == "expression" else a["classes"]
        return {"sequence": (a["sequence"].shape[1:], a["sequence"].dtype),
                "regulators": (a["regulators"].shape[1:], a["regulators"].dtype),
                "target": ((), label.dtype)}

    def _gather(self, idx, target=None):
        target = self._target(target)
        idx = np.asarray(idx, dtype=np.int64)
        g = np.asarray(self.arrays["pair_gene"][idx])
        c = np.asarray(self.arrays["pair_cond"][idx])
        label = self.arrays["lfc"] if target == "expression" else self.arrays["classes"]
        return {"sequence": self.arrays["sequence"][g],
                "regulators": self.arrays["regulators"][c],
                "target": np.asarray(label[g, c])}

    def _labels(self, idx, target):  # the labels alone, without gathering promoters
        label = self.arrays["lfc"] if target == "expression" else self.arrays["classes"]
        idx = np.asarray(idx, dtype=np.int64)
        return np.asarray(label[self.arrays["pair_gene"][idx], self.arrays["pair_cond"][idx]])

    def grouped_batches(self, split: str | Sequence[int], genes_per_batch: int,
                        conditions_per_batch: int, shuffle: bool = False, seed: int = 0,
                        target: str | None = None, epoch: int = 0
                        ) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
        """One pass over ``split`` in blocks of genes × conditions.

        Yields
        ------
        ({"sequence": (G', L, 4), "regulators": (C', R)}, labels (G', C'), mask (G', C'))
            ``mask`` is 1.0 for pairs of the split (with a label), 0.0 otherwise; blocks
            without any pair of the split are skipped. Every pair of the split is in
            exactly one block. With ``shuffle``, genes and conditions are permuted with
            ``seed + epoch``.
        """
        target = self._target(target)
        idx = self._nonempty(split)
        g_all = np.asarray(self.arrays["pair_gene"][idx])
        c_all = np.asarray(self.arrays["pair_cond"][idx])
        genes, conds = np.unique(g_all), np.unique(c_all)
        if shuffle:
            rng = np.random.default_rng([seed, epoch])
            genes, conds = rng.permutation(genes), rng.permutation(conds)
        member = np.zeros(self.arrays["lfc"].shape, dtype=bool)
        member[g_all, c_all] = True
        label = self.arrays["lfc"] if target == "expression" else self.arrays["classes"]
        for gi in range(0, len(genes), genes_per_batch):
            gb = np.sort(genes[gi : gi + genes_per_batch])
            seq = self.arrays["sequence"][gb]
            sub_member = member[gb]
            sub_label = np.asarray(label[gb])
            for ci in range(0, len(conds), conditions_per_batch):
                cb = np.sort(conds[ci : ci + conditions_per_batch])
                mask = sub_member[:, cb]
                if not mask.any():
                    continue
                y = sub_label[:, cb].copy()
                y[~mask] = 0
                y = y.astype(np.int32 if np.issubdtype(y.dtype, np.integer) else np.float32)
                yield ({"sequence": seq, "regulators": self.arrays["regulators"][cb]},
                       y, mask.astype(np.float32))

    def to_grouped_tf_dataset(self, split, genes_per_batch: int, conditions_per_batch: int,
                              shuffle: bool = False, seed: int = 0, repeat: bool = False,
                              target: str | None = None):
        """``tf.data`` over :meth:`grouped_batches` (a new permutation every pass)."""
        import tensorflow as tf

        target = self._target(target)
        a = self.arrays
        label_dtype = tf.float32 if target == "expression" else tf.int32
        counter = {"epoch": 0}

        def gen():
            epoch = counter["epoch"]
            counter["epoch"] += 1
            yield from self.grouped_batches(split, genes_per_batch, conditions_per_batch,
                                            shuffle, seed, target, epoch)

        sig = ({"sequence": tf.TensorSpec((None, *a["sequence"].shape[1:]), tf.float32),
                "regulators": tf.TensorSpec((None, a["regulators"].shape[1]), tf.float32)},
               tf.TensorSpec((None, None), label_dtype), tf.TensorSpec((None, None), tf.float32))
        ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
        if repeat:
            ds = ds.repeat()
        return ds.prefetch(tf.data.AUTOTUNE)


def _is_triplets(path) -> bool:
    """True when the first non-blank line of ``path`` is three numbers.

    Raises
    ------
    ConfigError
        The first line is a header and the next is three numbers: triplets under a header
        line, or a table of two conditions with numeric regulator ids — ``auto`` cannot
        tell (read as a table, triplets became 'duplicate gene id' errors)."""
    try:
        with open_text(path) as fh:
            lines = list(itertools.islice((ln for ln in fh if ln.strip()), 2))
    except (UnicodeDecodeError, EOFError, OSError):
        return False  # the table reader says what is wrong with the file
    first, second = [*lines, "", ""][:2]
    if _three_numbers(first):
        return True
    if _three_numbers(second):
        raise ConfigError(
            f"{path}: deeprage.regulator_format auto cannot tell a header line {first.strip()!r} "
            "above 'row col state' triplets from a table of two conditions; remove the header "
            "line (triplets have none) or set regulator_format: table")
    return False


def _unique_names(path) -> list[str]:
    """The regulator names of ``path`` (:func:`_numbered_names`); a name given twice is an
    InputFileError (knockouts and motif matches look regulators up by name)."""
    names = _numbered_names(path)
    seen: dict[str, int] = {}
    for k, name in enumerate(names, 1):
        if seen.setdefault(name, k) != k:
            raise InputFileError(f"{path}: regulator {name!r} is named twice (names {seen[name]} "
                                 f"and {k} of {len(names)}); expected each regulator once")
    return names


def _three_numbers(line: str) -> bool:
    fields = line.split()
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return len(fields) == 3


def _header(path, id_column: int | str = 0, known_names: Sequence[str] | None = None
            ) -> tuple[list[str], bool]:
    """Column names of a table's header row as written (pandas would rename duplicates).

    Returns (names, repaired). Empty fields after the last name, and after the last value
    of the first data row beyond the header's count (the trailing separator Excel and R
    write), are ignored as :func:`read_expression_table` ignores them. When the header has
    more fields than the first data row because condition names contain the separator,
    and ``known_names`` (the raw names of the condition list) joined by the separator give
    exactly the header, the known names are returned with ``repaired=True``. Any other
    mismatch of field counts raises InputFileError, since the columns would be shifted.
    """
    sep = "," if str(path).lower().removesuffix(".gz").endswith(".csv") else "\t"
    with open_text(path) as fh:  # the header and the first data row (blank lines skipped)
        rows = list(itertools.islice(filter(None, csv.reader(fh, delimiter=sep)), 2))
    if not rows:
        raise InputFileError(f"{path}: empty table")
    row = _trim(rows[0], 0)
    if not isinstance(id_column, int) and id_column not in row:
        raise InputFileError(f"{path}: no gene-id column {id_column!r}; columns: {row}")
    pos = id_column if isinstance(id_column, int) else row.index(id_column)
    names = [str(c) for i, c in enumerate(row) if i != pos]
    first = _trim(rows[1], len(row)) if len(rows) > 1 else row
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
    sep = "," if str(path).lower().removesuffix(".gz").endswith(".csv") else "\t"
    n = len(labels) + 1
    ids: dict[str, int] = {}
    cells = []
    try:
        with open_text(path) as fh:
            rows = [(i, r) for i, r in enumerate(csv.reader(fh, delimiter=sep), 1) if r]
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


def _regulator_matrix(cfg, base_dir, expr_labels: list[str], dropped: Dropped,
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
    if fmt == "table":
        table = read_expression_table(path)
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
        cond_labels = unique_labels(_numbered_names(conds_path)) if conds_path else None
        dense = read_triplets(path)
        n_reg = len(reg_names) if reg_names is not None else dense.shape[0]
        n_cond = len(cond_labels) if cond_labels is not None else len(table_labels)
        if dense.shape[0] > n_reg:
            raise InputFileError(
                f"{path}: triplets name regulator row {dense.shape[0]} but the regulator_names "
                f"file {names_path} lists {n_reg} regulators; expected row indices 1 to {n_reg}")
        if dense.shape[1] > n_cond and conds_path:
            raise InputFileError(
                f"{path}: triplets name condition column {dense.shape[1]} but the "
                f"condition_names file lists {n_cond} conditions; expected column indices 1 "
                f"to {n_cond}")
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
                    "(e.g. GWEIGHT), give condition_names", path, dense.shape[1], len(unnamed),
                    n_cond,
                    ", ".join(unnamed[:3]) + (", ..." if len(unnamed) > 3 else ""))
        dense = np.pad(dense, ((0, n_reg - dense.shape[0]), (0, n_cond - dense.shape[1])))
        if reg_names is None:
            reg_names = [str(i + 1) for i in range(n_reg)]
    if dense.shape[0] != len(reg_names):
        raise InputFileError(f"{path}: {dense.shape[0]} regulators but {len(reg_names)} names")
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
                    detail=f"every gene's pair in this condition; not in {path}")
    return dense[:, cols].T.copy(), reg_names, used


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
        name)."""
    if row_ids == names or row_ids in ([str(k) for k in range(1, len(row_ids) + 1)],
                                       [str(k) for k in range(len(row_ids))]):
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


def _numbered_names(path) -> list[str]:
    """:func:`read_names` of a name file whose line j names triplet row or column j; lines
    written ``index<TAB>name`` must be numbered in order (1, 2, 3, ... or from 0): a
    sorted or edited file would give its names to other rows or columns.

    Raises
    ------
    InputFileError
        Naming the first line whose number is out of order."""
    with open_text(path) as fh:
        lines = [(i, ln) for i, ln in enumerate(fh, 1) if ln.strip()]
    start = None
    for k, (i, ln) in enumerate(lines):
        first, sep, _ = ln.partition("\t")
        if not (sep and first.strip().isdigit()):
            continue
        if start is None:
            start = int(first) - k if int(first) - k in (0, 1) else 1
        if int(first) != start + k:
            raise InputFileError(
                f"{path}:{i}: name {k + 1} is numbered {first.strip()}; expected the lines "
                f"numbered {start}, {start + 1}, {start + 2}, ... in order (line j names triplet "
                "index j, whatever its number)")
    return read_names(path)


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


def _promoters(cfg, base_dir, gene_ids: list[str], length: int, n_value, dropped: Dropped
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
                           max_outside=max_outside(cfg["max_genes_outside"], "deeprage"))
        for g in found:
            if g.id in bad:
                dropped.add_gene(g.id, g, bad[g.id][0], detail=bad[g.id][1])
            elif g.strand == "+":
                seqs[g.id] = genome.fetch(g.chrom, g.tss - length, g.tss, "+")
            else:
                seqs[g.id] = genome.fetch(g.chrom, g.tss + 1, g.tss + 1 + length, "-")
    return seqs


def build_pairs(config: Mapping | None = None, out_dir: str | os.PathLike | None = None, *,
                force: bool = False, progress: bool = True,
                base_dir: str | os.PathLike | None = None, **kwargs) -> PairsDataset:
    """Prepare the DeepRAGE dataset (config keys in the module docstring)."""
    cfg = base.resolve_config(config, kwargs, DEFAULTS, "deeprage")
    if out_dir is None:
        raise ConfigError("deeprage: out_dir is required")
    thresholds = _thresholds(cfg, "classes" in {**(config or {}), **kwargs})
    _check_options(cfg)
    length = int(cfg["promoter_length"])
    max_outside(cfg["max_genes_outside"], "deeprage")
    inputs = {k: base.resolve_path(cfg[k], base_dir) for k in
              ("expression", "regulators", "regulator_names", "condition_names", "promoters",
               "fasta", "gtf", "chrom_aliases") if cfg[k]}
    params = {k: v for k, v in cfg.items() if k != "split"}
    params["class_thresholds"] = thresholds
    writer, cached = storage.writer_or_cached(out_dir, "deeprage", params, inputs, cfg["split"],
                                              force)
    if cached is not None:
        return cached

    table, table_labels = _expression_table(cfg, inputs)
    dropped = Dropped("deeprage")
    regs, reg_names, used_pos = _regulator_matrix(cfg, base_dir, list(table.columns), dropped,
                                                  table_labels)
    table = table.iloc[:, used_pos]
    used = list(table.columns)
    gene_ids, seq = _promoters(cfg, base_dir, [str(g) for g in table.index], length,
                               cfg["n_value"], dropped)
    lfc = table.loc[gene_ids].to_numpy(np.float32)
    finite = np.isfinite(lfc)
    for gi, ci in zip(*np.nonzero(~finite)):
        dropped.add(gene_ids[gi], "missing_expression", context=used[ci],
                    detail=f"empty or NA in {inputs['expression']}")
    dropped.warn()
    classes = np.where(finite, discretize(np.nan_to_num(lfc), thresholds), -1).astype(np.int8)
    _warn_empty_classes(classes, thresholds)
    pg, pc = np.nonzero(finite)
    if len(pg) == 0:
        raise InputFileError(f"{inputs['expression']}: no finite log-fold change")
    index = pd.DataFrame({"gene_id": np.asarray(gene_ids)[pg],
                          "condition": np.asarray(used)[pc]})
    index, split_meta = storage.finish_split(index, cfg["split"], None,
                                          PairsDataset._split_defaults())
    arrays = {"sequence": seq, "regulators": regs.astype(np.float32), "lfc": lfc,
              "classes": classes, "pair_gene": pg.astype(np.int32),
              "pair_cond": pc.astype(np.int32)}
    meta = {
        "n_examples": int(len(pg)), "n_genes": len(gene_ids), "n_conditions": len(used),
        "gene_ids": gene_ids, "conditions": used, "regulator_names": reg_names,
        "input_names": ["sequence", "regulators"],
        "input_shapes": {"sequence": [length, 4], "regulators": [regs.shape[1]]},
        "target_name": cfg["target"], "targets": ["expression", "class"],
        "class_thresholds": thresholds, "n_classes": len(thresholds) + 1,
        "dropped": dropped.counts(), **split_meta,
    }
    with writer:
        for name, values in arrays.items():
            writer.save(name, values)
        dropped.write(writer.tmp)
        return writer.commit(index, meta)


def _number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and bool(np.isfinite(x))


def _thresholds(cfg: Mapping, classes_given: bool = False) -> list[float]:
    """Check ``target``, ``classes`` and ``class_thresholds``; the class thresholds (given,
    or those of ``classes``)."""
    if cfg["target"] not in ("expression", "class"):
        raise ConfigError(f"deeprage.target: expected 'expression' or 'class', got {cfg['target']!r}")
    classes, thresholds = cfg["classes"], cfg["class_thresholds"]
    if thresholds is None:
        if (isinstance(classes, bool) or not isinstance(classes, numbers.Integral)
                or int(classes) not in CLASS_THRESHOLDS):
            raise ConfigError(f"deeprage.classes: expected 3 or 5 (or give class_thresholds), "
                              f"got {classes!r}")
        return [float(t) for t in CLASS_THRESHOLDS[int(classes)]]
    if (not isinstance(thresholds, list | tuple) or not thresholds
            or not all(map(_number, thresholds))
            or any(b <= a for a, b in itertools.pairwise(thresholds))):
        values = thresholds if isinstance(thresholds, list | tuple) else [thresholds]
        raise ConfigError(f"deeprage.class_thresholds: expected a list of increasing numbers "
                          f"(e.g. [-0.5, 0.5] for 3 classes) or null, got {thresholds!r}"
                          f"{yaml_number_hint(values)}")
    if classes_given and classes != len(thresholds) + 1:
        raise ConfigError(f"deeprage.classes: {classes!r}, but class_thresholds {list(thresholds)} "
                          f"make {len(thresholds) + 1} classes; give one or the other")
    return [float(t) for t in thresholds]


def _check_options(cfg: Mapping) -> None:
    """Check ``gene_column``, ``promoter_length``, ``n_value``, ``conditions`` and the
    promoter source before any file is read."""
    column = cfg["gene_column"]
    if not ((isinstance(column, str) and column.strip())
            or (isinstance(column, numbers.Integral) and not isinstance(column, bool)
                and column >= 0)):
        raise ConfigError(f"deeprage.gene_column: expected the name or the 0-based position "
                          f"of the expression table's gene-id column, got {column!r}")
    length = cfg["promoter_length"]
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ConfigError(f"deeprage.promoter_length: expected an integer >= 1 (bp), got "
                          f"{length!r}{yaml_number_hint([length])}")
    n_value = cfg["n_value"]
    if not (_number(n_value) or (isinstance(n_value, list | tuple) and len(n_value) == 4
                                 and all(map(_number, n_value)))):
        values = n_value if isinstance(n_value, list | tuple) else [n_value]
        raise ConfigError(f"deeprage.n_value: expected the one-hot row of N, 4 numbers for A, "
                          f"C, G, T (e.g. {list(DEEPRAGE_N)}) or one number, got {n_value!r}"
                          f"{yaml_number_hint(values)}")
    conditions = cfg["conditions"]
    if conditions is not None:
        if (not isinstance(conditions, list | tuple) or not conditions
                or not all(isinstance(c, str) for c in conditions)):
            raise ConfigError(f"deeprage.conditions: expected a list of column names of the "
                              f"expression table (or null for all), got {conditions!r}")
        twice = sorted({c for c in conditions if conditions.count(c) > 1})
        if twice:
            raise ConfigError(f"deeprage.conditions: {twice[0]!r} is listed more than once; "
                              "expected each condition once")
    if cfg["promoters"] and (cfg["fasta"] or cfg["gtf"]):
        raise ConfigError("deeprage: give either 'promoters' (a FASTA of promoter sequences) "
                          "or 'fasta' and 'gtf', not both")


def _warn_empty_classes(classes: np.ndarray, thresholds: list[float]) -> None:
    """Warn when the thresholds leave a class without any pair (its range and the count
    of every class named)."""
    counts = np.bincount(classes[classes >= 0].ravel(), minlength=len(thresholds) + 1)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        edges = [-np.inf, *thresholds, np.inf]
        ranges = [f"class {k} ({edges[k]:g} to {edges[k + 1]:g})" for k in empty]
        log.warning("deeprage: class_thresholds %s leave %s without any pair (pairs per "
                    "class: %s)", thresholds, ", ".join(ranges),
                    ", ".join(str(int(n)) for n in counts))


def _expression_table(cfg: Mapping, inputs: Mapping) -> tuple[pd.DataFrame, list[str]]:
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


__all__ = ["CLASS_THRESHOLDS", "DEEPRAGE_N", "PairsDataset", "build_pairs",
           "unique_labels"]
