"""Train / validation / test splits: pure functions of ids, chromosomes and a seed.

Every function returns one label per example — ``"train"``, ``"valid"``, ``"test"`` or
``"none"`` (an example that belongs to no set, e.g. a pair mixing a held-out gene with a
training condition under ``unseen_pair``) — as a numpy array of str. The same inputs and
seed always give the same labels, whatever the order of the examples (groups are sorted
before they are permuted).

Methods (the ``method`` of a ``split:`` config section, see :func:`assign_split`)
--------------------------------------------------------------------------------
``random``
    Seeded random ``fractions`` (default 60/20/20, iSEGnet). With ``group`` (a column such
    as ``gene_id``) whole groups go to one set, so the replicates of a gene pooled from
    several biosamples never straddle train and test.
``chromosome``
    Explicit lists ``train`` / ``valid`` / ``test`` of chromosomes (``train`` omitted = every
    chromosome not listed elsewhere).
``unseen_gene`` / ``unseen_condition`` / ``unseen_cell``
    Whole genes (conditions, cell types) held out: ``fractions`` over the unique values,
    or explicit ``valid`` / ``test`` lists of values (the rest train).
``unseen_pair``
    DeepRAGE's strictest split: genes and conditions are each split by ``fractions``; a
    pair is in a set when its gene and its condition both are, else ``"none"``. Train
    pairs are then f_train² of all pairs (36 % at 60/20/20): use e.g. 80/10/10.
``given``
    Labels already present in the data (DeepChrome's train/valid/test CSV files).

K overlapping folds (the histone FCN ensemble) come from :func:`overlapping_folds`.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from kerasgene.config import yaml_number_hint
from kerasgene.errors import ConfigError

SETS = ("train", "valid", "test")
NONE = "none"
METHODS = ("random", "chromosome", "unseen_gene", "unseen_condition", "unseen_cell",
           "unseen_pair", "given")
_HOLDOUT_COLUMN = {"unseen_gene": "gene_id", "unseen_condition": "condition",
                   "unseen_cell": "cell"}
_KEYS = {
    "random": {"method", "fractions", "seed", "group"},
    "chromosome": {"method", "train", "valid", "test"},
    "unseen_gene": {"method", "fractions", "seed", "valid", "test"},
    "unseen_condition": {"method", "fractions", "seed", "valid", "test"},
    "unseen_cell": {"method", "fractions", "seed", "valid", "test"},
    "unseen_pair": {"method", "fractions", "seed"},
    "given": {"method"},
}


def _fractions(fractions: Sequence[float]) -> np.ndarray:
    """``fractions`` as a float array, or ConfigError unless they are three positive
    numbers (not text that reads as one) summing to 1."""
    items = list(fractions) if isinstance(fractions, list | tuple | np.ndarray) else [fractions]
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
                  for v in items)
    f = np.asarray(items, dtype=np.float64) if numeric else np.zeros(0)
    if f.shape != (3,) or (f <= 0).any() or abs(f.sum() - 1.0) > 1e-6:
        raise ConfigError(
            f"split: fractions must be three positive numbers (train, valid, test) summing to 1, "
            f"got {fractions!r}{yaml_number_hint(items)}"
        )
    return f


def _counts(n: int, fractions: np.ndarray) -> tuple[int, int]:
    n_train = int(round(fractions[0] * n))
    n_valid = int(round(fractions[1] * n))
    return n_train, n_valid


def random_split(
    n: int,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    groups: Sequence | None = None,
) -> np.ndarray:
    """Seeded random split of ``n`` examples (or of their ``groups``).

    Parameters
    ----------
    n
        Number of examples.
    fractions
        (train, valid, test), positive, summing to 1; set sizes are rounded.
    seed
        Seed of the permutation (``numpy.random.default_rng``).
    groups
        Optional length-``n`` group ids (e.g. gene ids): groups, not examples, are split.

    Returns
    -------
    np.ndarray of str, shape (n,)
    """
    f = _fractions(fractions)
    rng = np.random.default_rng(seed)
    if groups is None:
        order = rng.permutation(n)
        n_train, n_valid = _counts(n, f)
        labels = np.empty(n, dtype=object)
        labels[order[:n_train]] = "train"
        labels[order[n_train : n_train + n_valid]] = "valid"
        labels[order[n_train + n_valid :]] = "test"
        return labels.astype(str)
    groups = np.asarray(groups).astype(str)
    if len(groups) != n:
        raise ConfigError(f"split: {len(groups)} group ids for {n} examples")
    uniq, inverse = np.unique(groups, return_inverse=True)
    return random_split(len(uniq), fractions, seed)[inverse]


def holdout_split(
    values: Sequence,
    fractions: Sequence[float] | None = (0.6, 0.2, 0.2),
    seed: int = 0,
    valid: Iterable | None = None,
    test: Iterable | None = None,
    what: str = "value",
) -> np.ndarray:
    """Hold out whole values (genes, conditions, cell types).

    Either explicit ``valid`` / ``test`` lists (every other value is train) or seeded
    ``fractions`` over the unique values.

    Returns
    -------
    np.ndarray of str, one label per entry of ``values``
    """
    values = np.asarray(values).astype(str)
    if valid is not None or test is not None:
        valid = {str(v) for v in (valid or ())}
        test = {str(v) for v in (test or ())}
        uniq = set(np.unique(values))
        for name, chosen in (("valid", valid), ("test", test)):
            missing = sorted(chosen - uniq)
            if missing:
                raise ConfigError(
                    f"split: {what} {missing[0]!r} listed in {name!r} is not in the data "
                    f"({len(missing)} unknown)"
                )
        both = sorted(valid & test)
        if both:
            raise ConfigError(f"split: {what} {both[0]!r} is listed in both 'valid' and 'test'")
        labels = np.full(len(values), "train", dtype=object)
        labels[np.isin(values, list(valid))] = "valid"
        labels[np.isin(values, list(test))] = "test"
        return labels.astype(str)
    return random_split(len(values), fractions, seed, groups=values)


def chromosome_split(
    chroms: Sequence[str],
    train: Iterable[str] | None = None,
    valid: Iterable[str] = (),
    test: Iterable[str] = (),
) -> np.ndarray:
    """Split by chromosome lists; ``train=None`` means every chromosome not in valid/test.

    Chromosomes in no list get ``"none"``. Names are compared with and without ``chr``.
    """
    chroms = np.asarray(chroms).astype(str)

    def norm(c: str) -> str:
        c = str(c)
        return c[3:] if c.startswith("chr") else c

    normed = np.array([norm(c) for c in chroms])
    labels = np.full(len(chroms), NONE if train is not None else "train", dtype=object)
    lists = {"train": train or (), "valid": valid or (), "test": test or ()}
    seen: dict[str, str] = {}
    for name, members in lists.items():
        for c in members:
            if norm(c) in seen and seen[norm(c)] != name:
                raise ConfigError(f"split: chromosome {c!r} is listed in both {seen[norm(c)]!r} "
                                  f"and {name!r}")
            seen[norm(c)] = name
    for name in ("train", "valid", "test"):
        members = [norm(c) for c in lists[name]]
        labels[np.isin(normed, members)] = name
    return labels.astype(str)


def pair_split(
    genes: Sequence,
    conditions: Sequence,
    method: str = "random",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 42,
) -> np.ndarray:
    """DeepRAGE splits of (gene, condition) pairs.

    ``random`` (pairs), ``unseen_gene``, ``unseen_condition`` or ``unseen_pair`` (a pair is
    in a set only when its gene and its condition both are; otherwise ``"none"``).
    """
    genes = np.asarray(genes).astype(str)
    conditions = np.asarray(conditions).astype(str)
    if method == "random":
        return random_split(len(genes), fractions, seed)
    if method == "unseen_gene":
        return holdout_split(genes, fractions, seed)
    if method == "unseen_condition":
        return holdout_split(conditions, fractions, seed)
    if method == "unseen_pair":
        g = holdout_split(genes, fractions, seed)
        c = holdout_split(conditions, fractions, seed + 1)
        return np.where(g == c, g, NONE).astype(str)
    raise ConfigError(f"split: unknown pair method {method!r}; expected random, unseen_gene, "
                      f"unseen_condition or unseen_pair")


def overlapping_folds(
    indices: Sequence[int],
    k: int = 3,
    fraction: float = 2 / 3,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` overlapping training subsets, each ``fraction`` of ``indices`` (histone FCN).

    The indices are permuted once; sub-model ``i`` holds out the cyclic block of
    ``round(n·(1−fraction))`` indices starting at ``i·n/k`` and trains on the rest. With
    ``k=3, fraction=2/3`` this is exactly 3-fold cross-validation's complements: the
    three training sets overlap pairwise by one third and every index is held out once.

    Returns
    -------
    list of (fit_indices, holdout_indices), each sorted, int64.
    """
    indices = np.asarray(indices, dtype=np.int64)
    n = len(indices)
    if k < 2:
        raise ConfigError(f"overlapping_folds: k must be >= 2, got {k}")
    if not 0 < fraction < 1:
        raise ConfigError(f"overlapping_folds: fraction must be in (0, 1), got {fraction}")
    n_hold = int(round(n * (1 - fraction)))
    if n_hold < 1 or n - n_hold < 1:
        raise ConfigError(f"overlapping_folds: {n} examples are too few for {k} folds")
    perm = np.random.default_rng(seed).permutation(indices)
    folds = []
    for i in range(k):
        start = (i * n) // k
        pos = (start + np.arange(n_hold)) % n
        mask = np.zeros(n, dtype=bool)
        mask[pos] = True
        folds.append((np.sort(perm[~mask]), np.sort(perm[mask])))
    return folds


def check_split_keys(spec: Mapping) -> str:
    """Validate a ``split:`` config section without the data (keys, seed, fractions);
    return its method."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"split: expected a mapping with a 'method' key, got {spec!r}")
    method = spec.get("method", "random")
    if method not in METHODS:
        near = difflib.get_close_matches(str(method), METHODS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"split.method: unknown method {method!r}{hint}; expected one of "
                          f"{', '.join(METHODS)}")
    valid = _KEYS[method]
    for key in spec:
        if key not in valid:
            near = difflib.get_close_matches(str(key), sorted(valid), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"split: unknown key {key!r} for method {method!r}{hint}")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"split.seed: expected an integer >= 0 and < 2**32, got {seed!r}")
    if "fractions" in spec:
        _fractions(spec["fractions"])
    return method


def assign_split(spec: Mapping, table: pd.DataFrame, default_fractions=(0.6, 0.2, 0.2),
                 default_seed: int = 0) -> np.ndarray:
    """Labels for the rows of ``table`` from a ``split:`` config section.

    ``table`` supplies the columns a method needs: ``gene_id``, ``chrom``, ``condition``,
    ``cell`` or ``given_split``. Raises ConfigError when a set ends up empty.
    """
    method = check_split_keys(spec)
    fractions = spec.get("fractions", default_fractions)
    seed = int(spec.get("seed", default_seed))

    def column(name: str) -> np.ndarray:
        if name not in table.columns:
            raise ConfigError(f"split: method {method!r} needs a {name!r} column, which this "
                              f"dataset does not have (columns: {list(table.columns)})")
        return table[name].to_numpy().astype(str)

    if method == "random":
        group = spec.get("group")
        labels = random_split(len(table), fractions, seed,
                              groups=None if group is None else column(group))
    elif method == "chromosome":
        labels = chromosome_split(column("chrom"), spec.get("train"), spec.get("valid", ()),
                                  spec.get("test", ()))
    elif method in _HOLDOUT_COLUMN:
        col = _HOLDOUT_COLUMN[method]
        labels = holdout_split(column(col), fractions, seed, spec.get("valid"),
                               spec.get("test"), what=col)
    elif method == "unseen_pair":
        labels = pair_split(column("gene_id"), column("condition"), method, fractions, seed)
    else:  # given
        labels = column("given_split")
        bad = sorted(set(labels) - set(SETS) - {NONE})
        if bad:
            raise ConfigError(f"split: given split labels must be train/valid/test, found {bad[0]!r}")
    check_nonempty(labels, where=f"split method {method!r}")
    return labels


def check_nonempty(labels: np.ndarray, sets: Sequence[str] = SETS, where: str = "split") -> None:
    """Raise ConfigError naming the first of ``sets`` that has no example."""
    counts = {s: int(np.sum(labels == s)) for s in sets}
    for s, c in counts.items():
        if c == 0:
            raise ConfigError(
                f"{where}: the {s!r} set is empty ({', '.join(f'{k}={v}' for k, v in counts.items())}"
                f" of {len(labels)} examples); change the fractions or lists"
            )
