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
    (default all). Gasch's matrix as the Stanford Microarray Database ships it (PCL:
    ``YORF NAME GWEIGHT cond1 …``, an ``EWEIGHT`` row) reads as it is: ``NAME``,
    ``GWEIGHT`` and the ``EWEIGHT`` row are annotation, left out
    (:func:`kerasgene.io.expression.read_expression_table`).
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
    [−1, −0.5, 0.5, 1] (our choice: the paper names 5 bins without their edges; a value
    on a threshold goes to the class farther from 0, :func:`kerasgene.io.expression.
    discretize`); ``class_thresholds`` overrides either.
``split`` = ``{method: random, fractions: [0.8, 0.1, 0.1], seed: 42}`` (the code's split)
    ``random`` pairs, ``unseen_gene``, ``unseen_condition`` or ``unseen_pair``. The unseen
    splits' ``fractions`` hold out together the genes of one promoter sequence, and the
    conditions of one regulator-state vector (the shipped MEDUSA states give 16 of the 173
    conditions no active regulator) or one name (its ``#2``, ``#3`` repeats), each group
    named in a warning (:func:`split_groups`): a held-out pair would otherwise be, input
    for input, a training pair. Explicit ``valid`` / ``test`` lists are kept as given, and
    their held-out pairs with a training pair's input counted in a warning.
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

import itertools
import logging
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from kerasgene.config import check_names, yaml_number_hint
from kerasgene.datasets import base, splits, storage
from kerasgene.datasets.dropped import Dropped, max_outside
from kerasgene.datasets.pair_sources import expression_table, promoter_sequences, regulator_states
from kerasgene.errors import ConfigError, InputFileError, shown
from kerasgene.io.expression import discretize
from kerasgene.io.regulators import unique_labels

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

    def split_groups(self, spec: Mapping) -> dict[str, np.ndarray] | None:
        a = self.arrays
        return split_groups(spec, self.gene_ids, a["sequence"], self.conditions,
                            a["regulators"], a["pair_gene"], a["pair_cond"])

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

    table, table_labels = expression_table(cfg, inputs)
    dropped = Dropped("deeprage")
    regs, reg_names, used_pos = regulator_states(cfg, base_dir, list(table.columns), dropped,
                                                  table_labels)
    table = table.iloc[:, used_pos]
    used = list(table.columns)
    gene_ids, seq = promoter_sequences(cfg, base_dir, [str(g) for g in table.index], length,
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
    groups = split_groups(cfg["split"], gene_ids, seq, used, regs, pg, pc)
    index, split_meta = storage.finish_split(index, cfg["split"], None,
                                             PairsDataset._split_defaults(), groups)
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
        "class_names": class_names(thresholds), "dropped": dropped.counts(), **split_meta,
    }
    with writer:
        for name, values in arrays.items():
            writer.save(name, values)
        dropped.write(writer.tmp)
        return writer.commit(index, meta)


#: The split methods that hold out genes and / or conditions (the columns they hold out).
HOLDOUT_COLUMNS = {"unseen_gene": ("gene_id",), "unseen_condition": ("condition",),
                   "unseen_pair": ("gene_id", "condition")}


def split_groups(spec: Mapping | None, gene_ids: Sequence[str], sequences, conditions:
                 Sequence[str], regulators, pair_gene: np.ndarray, pair_cond: np.ndarray
                 ) -> dict[str, np.ndarray] | None:
    """The group keys of the pairs under an unseen split (None for ``random``): genes of
    one promoter sequence, conditions of one regulator-state vector or one name (``x``,
    ``x#2``, …), :func:`kerasgene.datasets.splits.input_groups`; the groups of the columns
    the method holds out are named in a warning.

    Parameters
    ----------
    sequences : (G, L, 4) one-hot promoters of ``gene_ids``; regulators : (C, R) states of
        ``conditions``; pair_gene, pair_cond : (n,) each pair's gene and condition rows

    Returns
    -------
    ``{"gene_id": (n,) str, "condition": (n,) str}`` or None
    """
    method = splits.check_split_keys(spec or {})
    if method not in HOLDOUT_COLUMNS:
        return None
    genes = splits.input_groups(gene_ids, sequences)
    conds = splits.input_groups(conditions, regulators, repeats=True)
    for column, names, keys, what in (
            ("gene_id", gene_ids, genes, "genes share their promoter sequence"),
            ("condition", conditions, conds, "conditions share their regulator states, or "
                                             "their name (x, x#2, ...),")):
        if column in HOLDOUT_COLUMNS[method]:
            _warn_groups(method, np.asarray(names).astype(str), keys, what)
    return {"gene_id": genes[np.asarray(pair_gene)], "condition": conds[np.asarray(pair_cond)]}


def _warn_groups(method: str, names: np.ndarray, keys: np.ndarray, what: str) -> None:
    """One warning naming the groups of more than one of ``names`` (their ``keys``),
    largest first."""
    uniq, counts = np.unique(keys, return_counts=True)
    multi = sorted(uniq[counts > 1], key=lambda k: (-int(np.sum(keys == k)), k))
    if not multi:
        return
    members = [sorted(names[keys == k]) for k in multi]
    log.warning("split %s: %d of the %d %s with another and are held out together, in %d "
                "group(s) (a held-out pair would otherwise repeat a training pair's input; "
                "the sets' sizes follow the groups'): %s", method,
                sum(len(m) for m in members), len(names), what, len(members),
                "; ".join(f"{shown(m, 3)} ({len(m)})" for m in members[:3])
                + ("; ..." if len(members) > 3 else ""))


def _number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and bool(np.isfinite(x))


def class_names(thresholds: list[float]) -> list[str]:
    """The classes' names: ``down``, ``baseline``, ``up`` for two thresholds around 0;
    ``strongly down``, ``down``, ``baseline``, ``up``, ``strongly up`` for four (two on
    each side); else each class's interval of log-fold changes (a value on a threshold
    belongs to the class farther from 0: :func:`kerasgene.io.expression.discretize`)."""
    t = [float(x) for x in thresholds]
    below, above = sum(x <= 0 for x in t), sum(x > 0 for x in t)
    if (below, above) == (1, 1):
        return ["down", "baseline", "up"]
    if (below, above) == (2, 2):
        return ["strongly down", "down", "baseline", "up", "strongly up"]
    edges = [-np.inf, *t, np.inf]
    return [("[" if lo > 0 else "(") + f"{lo:g}, {hi:g}" + ("]" if hi <= 0 else ")")
            for lo, hi in itertools.pairwise(edges)]


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
    if cfg["conditions"] is not None:
        check_names(cfg["conditions"], "deeprage.conditions", "column names of the expression "
                    "table (or null for all)", "condition")
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


__all__ = ["CLASS_THRESHOLDS", "DEEPRAGE_N", "PairsDataset", "build_pairs",
           "unique_labels"]
