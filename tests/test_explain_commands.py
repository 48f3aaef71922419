"""Tests of ``kerasgene explain`` (kerasgene.explain.run, .analyses, .options and the
handler in kerasgene.cli.explain) on tiny models and an in-memory stand-in for a prepared
dataset; the demo run is exercised by the demo tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

keras = pytest.importorskip("keras")

from kerasgene.cli import build_parser, main  # noqa: E402
from kerasgene.cli import explain as CLI  # noqa: E402
from kerasgene.errors import ConfigError  # noqa: E402
from kerasgene.explain import analyses as C  # noqa: E402
from kerasgene.explain import knockout as K  # noqa: E402
from kerasgene.explain import sequence_analyses as S  # noqa: E402
from kerasgene.explain.options import (  # noqa: E402
    OPTION_SPECS,
    ExplainOptions,
    explain_options,
    requested_analyses,
)


class FakeDataset:
    """What the explain command uses of a kerasgene Dataset."""

    def __init__(self, arrays, index, meta, per_example, gene_ids=None):
        self.arrays, self.index, self.meta = arrays, index, meta
        self._per = per_example
        if gene_ids is not None:
            self.gene_ids = gene_ids

    def split_indices(self, split):
        return np.arange(len(self.index))

    def gather(self, idx):
        return {k: f(idx) for k, f in self._per.items()}


def parse(argv):
    return build_parser().parse_args(["explain", "--run", "r", *argv])


def options(argv, section=None) -> ExplainOptions:
    """The options ``kerasgene explain`` builds from ``argv`` over a config ``section``."""
    args = parse(argv)
    return explain_options(section, {k: getattr(args, k) for k in OPTION_SPECS})


def test_register_parser():
    args = parse(["--n-steps", "auto", "--baseline", "sequence=uniform", "k1=3"])
    assert args.func is CLI.cmd_explain
    assert args.overrides == ["k1=3"] and args.n_steps == "auto"
    assert args.baseline == {"sequence": "uniform"}
    assert CLI.parse_baseline("0.5") == 0.5 and options(["--n-steps", "auto"]).n_steps == "auto"
    with pytest.raises(Exception, match="differential"):
        requested_analyses(options(["--analyses", "ig,differential"]), "isegnet")
    assert requested_analyses(options(["--compare", "x"]), "isegnet") == (
        "ig", "motifs", "differential")


def test_every_option_has_a_spec_and_a_flag():
    fields = list(ExplainOptions.__dataclass_fields__)
    assert list(OPTION_SPECS) == fields
    args = parse([])
    assert all(getattr(args, f) is None for f in fields)  # unset flags leave the config's
    assert options([]) == ExplainOptions()


def test_config_section_gives_defaults_and_flags_override():
    section = {"max_examples": 50, "n_steps": "auto", "analyses": ["ig"],
               "baseline": {"sequence": "uniform"}, "labels": ["a", "b"], "filters": [1, 2]}
    got = options(["--max-examples", "7", "--seed", "3"], section)
    assert (got.max_examples, got.seed, got.n_steps) == (7, 3, "auto")
    assert got.analyses == ("ig",) and got.labels == ("a", "b") and got.filters == (1, 2)
    assert got.baseline == {"sequence": "uniform"} and got.split == "test"
    assert explain_options(None) == ExplainOptions()


@pytest.mark.parametrize("section, message", [
    ({"max_exampels": 5}, "explain: unknown key 'max_exampels'; did you mean 'max_examples'?"),
    ({"max_examples": "ten"}, "explain.max_examples: expected an integer >= 1, got 'ten'"),
    ({"n_steps": 1}, "explain.n_steps: expected an integer >= 2 or 'auto', got 1"),
    ({"analyses": ["ig", "shap"]}, "explain.analyses: expected a list of ig, motifs"),
    ({"engine": "captum"}, "explain.engine: expected one of native, alibi, got 'captum'"),
    ({"labels": ["one"]}, "explain.labels: expected a list of two names, got ['one']"),
    ({"baseline": [0]}, "explain.baseline: expected zeros, ones, uniform"),
    ([1, 2], "explain: expected a mapping, got list"),
])
def test_config_section_errors(section, message):
    with pytest.raises(ConfigError) as err:
        explain_options(section)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_cli_reads_the_explain_section(tmp_path, monkeypatch, capsys):
    """``kerasgene explain --config`` passes the config's ``explain:`` section, with the
    flags over it, to explain_run; a bad section is a one-line error (exit 2)."""
    import kerasgene.explain.run as R

    seen = {}

    def fake_run(run, config, opts, *, out=None):
        seen.update(run=run, options=opts, out=out)
        return {"system": config["system"]}

    monkeypatch.setattr(R, "explain_run", fake_run)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": "isegnet", "run_dir": str(tmp_path / "r"),
                                   "explain": {"max_examples": 50, "split": "all"}}))
    assert main(["explain", "--config", str(cfg), "--max-examples", "7"]) == 0
    assert seen["run"] == tmp_path / "r" and seen["out"] is None
    assert (seen["options"].max_examples, seen["options"].split) == (7, "all")
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'r' / 'explain'}"
    assert main(["explain", "--config", str(cfg), "explain.split=3"]) == 2
    assert capsys.readouterr().err == ("kerasgene: error: explain.split: expected a string, "
                                       "got 3\n")


@pytest.fixture(scope="module")
def iseg():
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    model = build("isegnet", k1=4, dense_units=(8,), dropout=0.1)
    model.get_layer("head_dense").bias.assign([1.0])
    rng = np.random.default_rng(0)
    n = 6
    seq = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, 2500))]
    epi = rng.random((n, 2500, 7)).astype(np.float16)
    index = pd.DataFrame({"gene_id": [f"G{i}" for i in range(n)], "sample": "s1",
                          "chrom": "chr1", "strand": ["+", "-"] * 3,
                          "tss": 10_000 + 5000 * np.arange(n), "tts": 12_000 + 5000 * np.arange(n)})
    ds = FakeDataset({"sequence": seq, "epigenome": epi}, index,
                     {"track_names": ["DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3",
                                      "H3K36me3", "WGBS"]},
                     {"sequence": lambda i: seq[i], "epigenome": lambda i: epi[i]})
    return model, ds


def test_isegnet_ig_outputs(tmp_path, iseg):
    model, ds = iseg
    args = options(["--n-steps", "16", "--gene-plots", "1", "--analyses", "ig"])
    s = C.explain_isegnet_ig(model, ds, tmp_path, args, np.random.default_rng(0))
    assert s["n_examples"] == 6 and s["steps_used"] == [16]
    summ = pd.read_csv(tmp_path / "ig_summary.tsv", sep="\t")
    assert list(summ.columns[:5]) == ["gene_id", "sample", "prediction", "delta", "residual"]
    prof = pd.read_csv(tmp_path / "ig_profiles.tsv", sep="\t")
    assert len(prof) == 2500 and {"DNA_mean", "DNase_sem"} <= set(prof.columns)
    assert prof["anchor"].iloc[1000] == "TSS" and prof["offset_bp"].iloc[1000] == 0
    for name in ("ig_track_profiles.png", "top_sites_DNA.fa", "top_sites_WGBS.bed"):
        assert (tmp_path / name).stat().st_size > 0
    assert len(list(tmp_path.glob("gene_G*.png"))) == 1
    bed = (tmp_path / "top_sites_DNase.bed").read_text().splitlines()
    assert len(bed) == 6 and bed[0].startswith("chr1\t")


def test_isegnet_differential(tmp_path, iseg):
    model, ds = iseg
    other = keras.models.clone_model(model)
    other.set_weights([w * 1.1 for w in model.get_weights()])
    args = options(["--n-steps", "8", "--gene-plots", "0", "--compare", "x",
                    "--analyses", "ig,differential", "--labels", "tumour,normal"])
    s = C.explain_isegnet_ig(model, ds, tmp_path, args, np.random.default_rng(0), compare=other)
    assert s["differential"]["DNA"]["n_regions"] > 0
    tab = pd.read_csv(tmp_path / "differential_H3K4me3.tsv", sep="\t")
    assert {"gene_id", "anchor", "offset_start", "max_abs_difference"} <= set(tab.columns)
    assert (tmp_path / "differential_H3K4me3.png").exists()


def _deeprage(name: str, n_genes: int, n_conditions: int, **kw):
    """A small seeded DeepRAGE model and a pair dataset of random 100 bp promoters and
    regulator states: ``(model, sequences, states, gene ids, dataset)``."""
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    model = build(name, seq_len=100, filters=8, filter_length=9, units=16, regulator_units=8,
                  n_regulators=5, **kw)
    rng = np.random.default_rng(0)
    seq = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n_genes, 100))]
    regs = rng.choice([-1.0, 0.0, 1.0], (n_conditions, 5)).astype(np.float32)
    genes = [f"Y{i:03d}" for i in range(n_genes)]
    ds = FakeDataset({"sequence": seq, "regulators": regs},
                     pd.DataFrame({"gene_id": genes}), {}, {}, gene_ids=genes)
    return model, seq, regs, genes, ds


def test_filters_matched_to_a_meme_motif_file(tmp_path):
    """``--motif-db`` (a MEME file, here HOCOMOCO-style ids written by memelite): the
    filters are matched to its motifs, not JASPAR's."""
    from memelite.io import write_meme

    from kerasgene.explain import motifs as M

    model, _, _, _, ds = _deeprage("deeprage_concat", 30, 4)
    fungi = M.jaspar_motifs("JASPAR2026", "fungi")[:40]
    db = {f"H12CORE.{m.name}.{i} {m.name}": m.probabilities().T for i, m in enumerate(fungi)}
    write_meme(str(tmp_path / "db.meme"), db)
    args = options(["--top-n", "10", "--motif-db", str(tmp_path / "db.meme")])
    got = S.explain_filters(model, ds, tmp_path, args, "deeprage")
    assert got["motif_db"] == str(tmp_path / "db.meme")
    tab = pd.read_csv(tmp_path / "filter_matches.tsv", sep="\t", keep_default_na=False)
    ids = [t for t in tab["target_id"] if t]
    assert ids and set(ids) <= {k.split()[0] for k in db}, ids


def test_deeprage_filters_and_knockout(tmp_path):
    G = 30
    model, _, _, genes, ds = _deeprage("deeprage_concat", G, 4)
    (tmp_path / "targets.txt").write_text("\n".join(genes[:6]) + "\n")
    truth = {"tasks": {"deeprage": {"regulators": [
        {"tf": "MIG1", "jaspar_id": "MA0337.2", "target_genes": genes[:5]}]}}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    args = options(["--tax-group", "fungi", "--top-n", "10", "--targets",
                    str(tmp_path / "targets.txt"), "--filters", "0,1", "--truth",
                    str(tmp_path / "truth.json"), "--max-conditions", "3"])
    mo = S.explain_filters(model, ds, tmp_path, args, "deeprage")
    assert mo["n_filters"] == 8 and mo["layer"] == "sequence_conv"
    tab = pd.read_csv(tmp_path / "filter_matches.tsv", sep="\t", keep_default_na=False)
    assert len(tab) == 8 and {"query", "target_id", "p_value", "q_value"} <= set(tab.columns)
    assert (tmp_path / "filters.meme").exists()
    ko = S.explain_knockout(model, ds, tmp_path, args, np.random.default_rng(0), mo["_rows"])
    ko_tab = pd.read_csv(tmp_path / "knockout.tsv", sep="\t", keep_default_na=False)
    assert len(ko_tab) == 2  # MIG1 from truth (no matching filter here) + the targets file
    assert ko["rows"][0]["filters"] == "0,1" and 0 <= ko["rows"][0]["ranksum_p"] <= 1
    genes_tab = pd.read_csv(tmp_path / "knockout_targets_genes.tsv", sep="\t")
    assert len(genes_tab) == G and genes_tab["is_target"].sum() == 6
    assert (tmp_path / "knockout_targets.png").exists()


@pytest.mark.parametrize("name, kw", [
    ("deeprage_concat", {}), ("deeprage_tensor", {"task": "classification"}),
    ("deeprage_rnn", {"pool_size": 10, "rnn_units": 4})], ids=["C", "TP-classes", "RNN"])
def test_deeprage_knockout_is_the_knocked_out_copy_on_every_pair(name, kw, tmp_path):
    """The explain knockout (filters zeroed in the model itself, the wild type once, the
    factorised pair outputs for C and TP, every pair for the RNN) predicts what a
    knocked-out copy of the model predicts on every sampled gene x condition pair (a
    classifier's last class, the default --target-class), and leaves the model as it
    was."""
    G, Cn = 12, 6
    model, seq, regs, genes, ds = _deeprage(name, G, Cn, **kw)
    (tmp_path / "targets.txt").write_text("\n".join(genes[:4]) + "\n")
    args = options(["--tax-group", "fungi", "--targets", str(tmp_path / "targets.txt"),
                    "--filters", "0,1", "--max-conditions", "3"])
    before = [w.copy() for w in model.get_weights()]
    S.explain_knockout(model, ds, tmp_path, args, np.random.default_rng(0))
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    genes_tab = pd.read_csv(tmp_path / "knockout_targets_genes.tsv", sep="\t")
    conds = np.sort(np.random.default_rng(0).choice(Cn, 3, replace=False))
    pairs = {"sequence": np.repeat(seq, 3, axis=0).astype(np.float32),
             "regulators": np.tile(regs[conds], (G, 1))}
    eff = K.knockout_effects(model, pairs, knockout_model=K.zero_filters(model, "sequence_conv",
                                                                          [0, 1]),
                             ids=np.repeat(genes, 3), unit=model.outputs[0].shape[-1] - 1)
    ge = K.gene_effects(eff)
    np.testing.assert_allclose(genes_tab["wild_type"], ge["wild_type"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(genes_tab["delta"], ge["delta"], rtol=1e-5, atol=1e-6)
    assert np.abs(ge["delta"]).max() > 1e-4  # the knockout moves predictions


def test_saliency_heatmaps(tmp_path):
    inp = keras.Input((20, 7), name="histone")
    x = keras.layers.Conv1D(4, 3, activation="relu")(inp)
    y = keras.layers.Dense(1, name="expression")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inp, {"expression": y})
    rng = np.random.default_rng(0)
    h = rng.random((12, 20, 7)).astype(np.float32)
    names = ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3", "AAA", "AAC"]
    ds = FakeDataset({"histone": h}, pd.DataFrame({"gene_id": range(12),
                                                  "cell": ["E003", "E004"] * 6}),
                     {"channel_names": names, "kmers": ["AAA", "AAC"]},
                     {"histone": lambda i: h[i]})
    s = C.explain_saliency(model, ds, tmp_path, options([]), np.random.default_rng(0))
    assert s["group_by"] == "cell"
    assert sorted(s["figures"]) == ["saliency_E003_kmers.png", "saliency_E003_marks.png",
                                    "saliency_E004_kmers.png", "saliency_E004_marks.png"]
