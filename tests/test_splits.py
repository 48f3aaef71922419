import numpy as np
import pandas as pd
import pytest

from kerasgene.datasets import splits
from kerasgene.errors import ConfigError


def test_random_split_fractions_disjoint_deterministic():
    a = splits.random_split(1000, (0.6, 0.2, 0.2), seed=3)
    b = splits.random_split(1000, (0.6, 0.2, 0.2), seed=3)
    c = splits.random_split(1000, (0.6, 0.2, 0.2), seed=4)
    assert (a == b).all() and (a != c).any()
    assert {s: int((a == s).sum()) for s in splits.SETS} == {"train": 600, "valid": 200, "test": 200}


def test_grouped_split_keeps_groups_together_and_ignores_order():
    groups = np.repeat([f"g{i}" for i in range(50)], 3)
    labels = splits.random_split(len(groups), seed=1, groups=groups)
    for g in np.unique(groups):
        assert len(set(labels[groups == g])) == 1
    perm = np.random.default_rng(0).permutation(len(groups))
    again = splits.random_split(len(groups), seed=1, groups=groups[perm])
    assert (again == labels[perm]).all()


def test_chromosome_split_and_aliases():
    chroms = np.array(["chr1", "chr2", "3", "chr10", "chrX"])
    got = splits.chromosome_split(chroms, None, valid=["10"], test=["chr3"])
    assert list(got) == ["train", "train", "test", "valid", "train"]
    got = splits.chromosome_split(chroms, ["chr1"], valid=["chr2"], test=["chrX"])
    assert list(got) == ["train", "valid", "none", "none", "test"]
    with pytest.raises(ConfigError, match="both"):
        splits.chromosome_split(chroms, ["chr1"], valid=["1"])


def test_unseen_gene_condition_pair_hold_out_whole_units():
    genes = np.repeat([f"g{i}" for i in range(40)], 10)
    conds = np.tile([f"c{j}" for j in range(10)], 40)
    for method, col in (("unseen_gene", genes), ("unseen_condition", conds)):
        labels = splits.pair_split(genes, conds, method, (0.6, 0.2, 0.2), seed=0)
        for v in np.unique(col):
            assert len(set(labels[col == v])) == 1, method
        splits.check_nonempty(labels)
    labels = splits.pair_split(genes, conds, "unseen_pair", (0.6, 0.2, 0.2), seed=0)
    train_g, train_c = set(genes[labels == "train"]), set(conds[labels == "train"])
    test = labels == "test"
    assert test.any()
    assert not (set(genes[test]) & train_g) and not (set(conds[test]) & train_c)
    rnd = splits.pair_split(genes, conds, "random", (0.8, 0.1, 0.1), seed=42)
    assert (rnd == "train").sum() == 320


def test_input_groups_join_equal_rows_and_repeated_names():
    """Names of equal input rows (bytes), and a name's ``#k`` repeats, share one key: the
    first of them in sorted order; a name alone keeps its own, so data without shared
    inputs is split as before."""
    rows = np.array([[1, 0], [0, 0], [2, 2], [0, 0], [5, 5], [0, 0], [3, 3]], np.float32)
    names = ["b", "z0", "hs", "a0", "hs#2", "m0", "x#2"]  # x#2 without x: not a repeat
    keys = splits.input_groups(names, rows, repeats=True)
    assert list(keys) == ["b", "a0", "hs", "a0", "hs", "a0", "x#2"]
    assert list(splits.input_groups(names, rows)) == ["b", "a0", "hs", "a0", "hs#2", "a0",
                                                      "x#2"]
    values = np.array([f"c{i:02d}" for i in range(30)])
    alone = splits.input_groups(values, np.arange(30)[:, None])
    assert (alone == values).all()
    for seed in range(3):
        assert (splits.holdout_split(values, seed=seed, groups=alone)
                == splits.holdout_split(values, seed=seed)).all()


def test_holdout_fractions_keep_shared_inputs_together_and_lists_are_told(caplog):
    """unseen_condition with groups: conditions of one input always share a set, whatever
    the seed; explicit lists are kept as given, their held-out pairs with a training
    pair's input counted in one warning."""
    genes = np.repeat([f"g{i}" for i in range(4)], 12)
    conds = np.tile([f"c{j:02d}" for j in range(12)], 4)
    same = {"c03": "c01", "c07": "c01", "c10": "c02"}  # c01 = c03 = c07, c02 = c10
    groups = {"gene_id": genes, "condition": np.array([same.get(c, c) for c in conds])}
    table = pd.DataFrame({"gene_id": genes, "condition": conds})
    for seed in range(8):
        labels = splits.assign_split({"method": "unseen_condition", "seed": seed}, table,
                                     groups=groups)
        for members in (["c01", "c03", "c07"], ["c02", "c10"]):
            assert len(set(labels[np.isin(conds, members)])) == 1, seed
    caplog.set_level("WARNING", "kerasgene.datasets.splits")
    assert not caplog.records
    spec = {"method": "unseen_condition", "valid": ["c05"], "test": ["c03", "c04"]}
    labels = splits.assign_split(spec, table, groups=groups)
    assert set(conds[labels == "test"]) == {"c03", "c04"}
    assert [r.getMessage() for r in caplog.records] == [
        "split.test (unseen_condition): 4 of its 8 examples have the inputs of a training "
        "example (their gene_id and condition share their inputs with a training "
        "example's): the model is scored on inputs it was trained on; expected the values "
        "that share an input in one set (e.g. g0 × c03, g1 × c03, g2 × c03, ...)"]


def test_overlapping_folds_two_thirds():
    idx = np.arange(10, 310)
    folds = splits.overlapping_folds(idx, k=3, seed=0)
    assert len(folds) == 3
    held = []
    for fit, hold in folds:
        assert len(fit) == 200 and len(hold) == 100
        assert not set(fit) & set(hold) and set(fit) | set(hold) == set(idx)
        held.append(set(hold))
    assert set().union(*held) == set(idx)  # 3 folds: every index held out exactly once
    assert len(set(folds[0][0]) & set(folds[1][0])) == 100  # training sets overlap by 1/3
    five = splits.overlapping_folds(idx, k=5, seed=0)
    assert all(len(f) == 200 for f, _ in five)
    assert [list(f) for f, _ in splits.overlapping_folds(idx, 3, seed=0)] == [list(f) for f, _ in folds]


def test_overlapping_folds_keep_a_group_together():
    """Grouped by gene (the histone FCN's gene × cell-type examples): each gene's examples
    are fitted or held out together; over genes, the folds are the ungrouped ones'."""
    genes = np.repeat([f"g{i}" for i in range(60)], 4)  # 4 cell types per gene
    idx = np.arange(100, 340)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(idx))  # examples in any order
    folds = splits.overlapping_folds(idx[order], k=3, seed=0, groups=genes[order])
    by_gene = dict(zip(idx, genes))
    held = []
    for fit, hold in folds:
        assert not {by_gene[i] for i in fit} & {by_gene[i] for i in hold}
        assert len(hold) == 80 and len(fit) == 160
        held.append({by_gene[i] for i in hold})
    assert set().union(*held) == set(genes)
    names = sorted(set(genes))  # the folds do not depend on the examples' order
    ungrouped = splits.overlapping_folds(np.arange(60), k=3, seed=0)
    assert [sorted(h) for h in held] == [sorted(names[i] for i in h) for _, h in ungrouped]
    with pytest.raises(ConfigError, match="1 groups are too few for 3 folds"):
        splits.overlapping_folds(idx[:4], k=3, groups=genes[:4])  # one gene's examples


def test_assign_split_config_errors():
    table = pd.DataFrame({"gene_id": [f"g{i}" for i in range(3)], "chrom": ["chr1"] * 3})
    with pytest.raises(ConfigError, match="'train' set is empty"):
        splits.assign_split({"method": "chromosome", "test": ["chr1"]}, table)
    with pytest.raises(ConfigError, match="did you mean 'fractions'"):
        splits.assign_split({"method": "random", "fractons": [0.6, 0.2, 0.2]}, table)
    with pytest.raises(ConfigError, match="did you mean 'unseen_gene'"):
        splits.assign_split({"method": "unseen_genes"}, table)
    with pytest.raises(ConfigError, match="fractions"):
        splits.assign_split({"method": "random", "fractions": [0.5, 0.5]}, table)
    with pytest.raises(ConfigError, match="condition"):
        splits.assign_split({"method": "unseen_condition"}, table)
    with pytest.raises(ConfigError, match="not in the data"):
        splits.assign_split({"method": "unseen_gene", "test": ["nope"]}, table)


@pytest.mark.parametrize("seed", [-1, "abc", 1.5, True, 2**32])
def test_split_seed_must_be_a_nonnegative_integer(seed):
    """-1 and 'abc' were numpy / int() tracebacks; 1.5 and true were truncated to 1."""
    with pytest.raises(ConfigError, match=r"split\.seed: expected an integer >= 0"):
        splits.check_split_keys({"method": "random", "seed": seed})


@pytest.mark.parametrize(("fractions", "hint"), [
    (["6e-1", "0.2", "0.2"], "; YAML reads a number without a dot such as 6e-1 as a string: "
                             "write it with a dot (e.g. 1.0e-4)"),
    (["0.6", 0.2, 0.2], "; YAML reads a number in quotes as a string: drop the quotes"),
    ([True, 0.2, 0.2], ""), (0.6, ""),
])
def test_split_fractions_must_be_numbers(fractions, hint):
    """Text such as '6e-1' was read as the number 0.6 without a word (a number given as
    text elsewhere, ``training.epochs: "1"``, is refused); 0.6 alone was a TypeError."""
    with pytest.raises(ConfigError) as err:
        splits.check_split_keys({"method": "random", "fractions": fractions})
    assert str(err.value) == ("split: fractions must be three positive numbers (train, valid, "
                              f"test) summing to 1, got {fractions!r}{hint}")


@pytest.mark.parametrize("n_values", [3, 40])  # a lookup table / np.isin over sparse keys
def test_seen_inputs_marks_held_out_examples_with_a_training_input(n_values):
    rng = np.random.default_rng(n_values)
    genes = rng.integers(0, n_values, 60).astype(str)
    conds = rng.integers(0, n_values, 60).astype(str)
    labels = rng.choice(["train", "valid", "test"], 60)
    got = splits.seen_inputs(labels, [genes, conds])
    train = {(g, c) for g, c, s in zip(genes, conds, labels, strict=True) if s == "train"}
    for s in ("valid", "test"):
        want = [lab == s and (g, c) in train for g, c, lab in zip(genes, conds, labels,
                                                                   strict=True)]
        assert got[s].tolist() == want
