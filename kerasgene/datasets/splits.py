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
    or explicit ``valid`` / ``test`` lists of values (the rest train). A builder may pass
    ``groups`` — values whose model inputs are the same (:func:`input_groups`: DeepRAGE's
    genes of one promoter sequence, conditions of one regulator-state vector) — that
    ``fractions`` then hold out together, so that no held-out example repeats a training
    example's input.
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
import logging
import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from kerasgene.config import yaml_number_hint
from kerasgene.errors import ConfigError, shown

log = logging.getLogger(__name__)

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
    groups: Sequence | None = None,
) -> np.ndarray:
    """Hold out whole values (genes, conditions, cell types).

    Either explicit ``valid`` / ``test`` lists (every other value is train) or seeded
    ``fractions`` over the unique values — over ``groups`` where given (one group key per
    entry of ``values``, :func:`input_groups`: each group goes to one set).

    Returns
    -------
    np.ndarray of str, one label per entry of ``values``
    """
    values = np.asarray(values).astype(str)
    if valid is not None or test is not None:  # the user's lists, whatever ``groups``
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
    return random_split(len(values), fractions, seed,
                        groups=values if groups is None else groups)


def input_groups(names: Sequence[str], rows, repeats: bool = False) -> np.ndarray:
    """A group key per name: the first (sorted) of the names whose input rows are equal
    — and, with ``repeats``, the ``x#2``, ``x#3`` … repeats of a name ``x``
    (:func:`kerasgene.io.regulators.unique_labels`) with ``x`` —, so that a split by
    :func:`holdout_split` puts them in one set. A name alone in its group is its own key
    (the split of data without such names is unchanged).

    Parameters
    ----------
    names : (n,) names of the rows (gene ids, condition names)
    rows : (n, ...) array-like, row i the input of ``names[i]``, compared byte for byte
        (BLAKE2b of each row: a memory map is read row by row)

    Returns
    -------
    (n,) np.ndarray of str
    """
    import hashlib

    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    names = np.asarray(names).astype(str)
    n = len(names)
    digests = np.array([hashlib.blake2b(np.ascontiguousarray(rows[i]).tobytes(),
                                        digest_size=16).digest() for i in range(n)], dtype=object)
    _, first, same = np.unique(digests, return_index=True, return_inverse=True)
    edges = [(i, int(first[same[i]])) for i in range(n)]
    if repeats:
        where = {name: i for i, name in enumerate(names)}
        edges += [(i, where[base]) for i, name in enumerate(names)
                  if (base := name.rpartition("#")[0]) in where
                  and name.rpartition("#")[2].isdigit()]
    i, j = np.array(edges, dtype=np.int64).reshape(-1, 2).T
    _, component = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)),
                                        directed=False)
    order = np.argsort(names, kind="stable")
    key = {}
    for k in order:  # the sorted first name of each component
        key.setdefault(int(component[k]), names[k])
    return np.array([key[int(c)] for c in component], dtype=str)


def seen_inputs(labels: np.ndarray, keys: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Which valid / test examples have the input of a training example: those whose
    group keys (one array per input, e.g. the gene's and the condition's
    :func:`input_groups`) all equal a training example's.

    Returns
    -------
    ``{"valid": bool mask, "test": bool mask}`` over the examples (``labels``' length)
    """
    codes = [pd.factorize(np.asarray(k))[0].astype(np.int64) for k in keys]  # hashed: O(n)
    key = codes[0]
    for c in codes[1:]:
        key = key * (int(c.max()) + 1) + c
    train = key[labels == "train"]
    if len(key) and key.max() < 8 * len(key):  # a lookup table, not a sort (DeepRAGE's pairs)
        in_train = np.zeros(int(key.max()) + 1, bool)
        in_train[train] = True
        seen = in_train[key]
    else:
        seen = np.isin(key, train)
    return {s: (labels == s) & seen for s in ("valid", "test")}


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
    gene_groups: Sequence | None = None,
    condition_groups: Sequence | None = None,
) -> np.ndarray:
    """DeepRAGE splits of (gene, condition) pairs.

    ``random`` (pairs), ``unseen_gene``, ``unseen_condition`` or ``unseen_pair`` (a pair is
    in a set only when its gene and its condition both are; otherwise ``"none"``); genes
    and conditions held out by their ``gene_groups`` / ``condition_groups`` where given
    (:func:`holdout_split`).
    """
    genes = np.asarray(genes).astype(str)
    conditions = np.asarray(conditions).astype(str)
    if method == "random":
        return random_split(len(genes), fractions, seed)
    if method == "unseen_gene":
        return holdout_split(genes, fractions, seed, groups=gene_groups)
    if method == "unseen_condition":
        return holdout_split(conditions, fractions, seed, groups=condition_groups)
    if method == "unseen_pair":
        g = holdout_split(genes, fractions, seed, groups=gene_groups)
        c = holdout_split(conditions, fractions, seed + 1, groups=condition_groups)
        return np.where(g == c, g, NONE).astype(str)
    raise ConfigError(f"split: unknown pair method {method!r}; expected random, unseen_gene, "
                      f"unseen_condition or unseen_pair")


def overlapping_folds(
    indices: Sequence[int],
    k: int = 3,
    fraction: float = 2 / 3,
    seed: int = 0,
    groups: Sequence | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` overlapping training subsets, each ``fraction`` of ``indices`` (histone FCN).

    The indices (with ``groups``: their distinct groups) are permuted once; sub-model ``i``
    holds out the cyclic block of ``round(n·(1−fraction))`` of them starting at ``i·n/k``
    and trains on the rest. With ``k=3, fraction=2/3`` this is exactly 3-fold
    cross-validation's complements: the three training sets overlap pairwise by one third
    and every index is held out once.

    Parameters
    ----------
    indices : (n,) example indices
    groups : (n,) a group key per index (e.g. its gene id), or None; one group's indices
        fall in one block, so no held-out example shares its group with a fitted one

    Returns
    -------
    list of (fit_indices, holdout_indices), each sorted, int64.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if k < 2:
        raise ConfigError(f"overlapping_folds: k must be >= 2, got {k}")
    if not 0 < fraction < 1:
        raise ConfigError(f"overlapping_folds: fraction must be in (0, 1), got {fraction}")
    if groups is None:
        codes = np.arange(len(indices))
    else:
        codes = np.unique(np.asarray(groups), return_inverse=True)[1]  # sorted: order-free
    n = int(codes.max()) + 1 if len(codes) else 0
    n_hold = int(round(n * (1 - fraction)))
    if n_hold < 1 or n - n_hold < 1:
        what = "examples" if groups is None else "groups"
        raise ConfigError(f"overlapping_folds: {n} {what} are too few for {k} folds")
    perm = np.random.default_rng(seed).permutation(n)
    folds = []
    for i in range(k):
        start = (i * n) // k
        held = np.zeros(n, dtype=bool)
        held[perm[(start + np.arange(n_hold)) % n]] = True
        mask = held[codes]
        folds.append((np.sort(indices[~mask]), np.sort(indices[mask])))
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
                 default_seed: int = 0, groups: Mapping[str, np.ndarray] | None = None
                 ) -> np.ndarray:
    """Labels for the rows of ``table`` from a ``split:`` config section.

    ``table`` supplies the columns a method needs: ``gene_id``, ``chrom``, ``condition``,
    ``cell`` or ``given_split``; ``groups``, per column, a group key per row that the
    holdout methods' ``fractions`` keep together (:func:`holdout_split`); with them, held-out
    examples whose every group equals a training example's (explicit ``valid`` / ``test``
    lists, or a grouped column the method does not hold out) are counted in a warning
    (:func:`seen_inputs`). Raises ConfigError when a set ends up empty.
    """
    groups = groups or {}
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
                               spec.get("test"), what=col, groups=groups.get(col))
    elif method == "unseen_pair":
        labels = pair_split(column("gene_id"), column("condition"), method, fractions, seed,
                            groups.get("gene_id"), groups.get("condition"))
    else:  # given
        labels = column("given_split")
        bad = sorted(set(labels) - set(SETS) - {NONE})
        if bad:
            raise ConfigError(f"split: given split labels must be train/valid/test, found {bad[0]!r}")
    check_nonempty(labels, where=f"split method {method!r}")
    if groups and method != "random":
        _warn_seen_inputs(method, labels, table, groups)
    return labels


def _warn_seen_inputs(method: str, labels: np.ndarray, table: pd.DataFrame,
                      groups: Mapping[str, np.ndarray]) -> None:
    """Warn, per held-out set, about its examples whose inputs (``groups``' every column)
    are a training example's (:func:`seen_inputs`), naming a few by their columns."""
    cols = list(groups)
    for name, mask in seen_inputs(labels, [groups[c] for c in cols]).items():
        if not mask.any():
            continue
        named = [" × ".join(str(v) for v in row)
                 for row in table.loc[mask, cols].drop_duplicates().itertuples(index=False)]
        log.warning("split.%s (%s): %d of its %d examples have the inputs of a training "
                    "example (their %s share their inputs with a training example's): the "
                    "model is scored on inputs it was trained on; expected the values that "
                    "share an input in one set (e.g. %s)", name, method, int(mask.sum()),
                    int(np.sum(labels == name)), " and ".join(cols), shown(named, 3))


def check_nonempty(labels: np.ndarray, sets: Sequence[str] = SETS, where: str = "split") -> None:
    """Raise ConfigError naming the first of ``sets`` that has no example."""
    counts = {s: int(np.sum(labels == s)) for s in sets}
    for s, c in counts.items():
        if c == 0:
            raise ConfigError(
                f"{where}: the {s!r} set is empty ({', '.join(f'{k}={v}' for k, v in counts.items())}"
                f" of {len(labels)} examples); change the fractions or lists"
            )
