"""Bad options of ``kerasgene explain``, ``ablate`` and ``variants``: each is a one-line
error (exit 2) naming the option, before the run is read or any analysis runs, or is
checked against the run before any analysis runs (docs/bad_input.md). No model is trained:
the command-line cases stop before the run is read; the run-dependent checks are called
on tiny models and in-memory datasets."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import cli_error

keras = pytest.importorskip("keras")

from kerasgene import systems  # noqa: E402
from kerasgene.cli import main  # noqa: E402
from kerasgene.errors import ConfigError, KerasgeneError  # noqa: E402
from kerasgene.explain import analyses as A  # noqa: E402
from kerasgene.explain.options import ExplainOptions  # noqa: E402
from kerasgene.explain.run import check_request  # noqa: E402

TRACKS = {"DNase": "d.bw", "H3K4me3": "k.bw"}


@pytest.fixture
def config(tmp_path):
    """An iSEGnet run config whose run and dataset do not exist (nothing may be read)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "system": "isegnet", "run_dir": str(tmp_path / "run"),
        "data": {"samples": [{"name": "s", "tracks": TRACKS}]}}))
    return cfg




@pytest.mark.parametrize("argv, message", [
    (["--analyses", ""], "--analyses: expected at least one of ig, motifs"),
    (["--split", "tset"], "--split: expected one of train, valid, test, none, all, got 'tset'"),
    (["--modisco-split", "tests"], "--modisco-split: expected one of train, valid"),
    (["--analyses", "saliency", "--truth", "t.json"],
     "--truth: not read by the analyses to run (saliency); it applies to ig, knockout, modisco"),
    (["--analyses", "motifs", "--compare", "other"],
     "--compare: not read by the analyses to run (motifs); it applies to differential"),
    (["--analyses", "motifs", "--n-steps", "8"], "--n-steps: not read by the analyses"),
    (["--targets", "t.txt"], "--targets: not read by the analyses to run (ig,motifs)"),
    (["--analyses", "ig", "--modisco-max-seqlets", "500"],
     "--modisco-max-seqlets: not read by the analyses to run (ig)"),
])
def test_explain_flag_errors(config, tmp_path, capsys, argv, message):
    assert cli_error(capsys, "explain", "--config", str(config), *argv).startswith(message)
    assert not (tmp_path / "run").exists()


def test_labels_are_two_names_and_q_threshold_a_probability(config, capsys):
    """``--labels a`` became ("a", "A") and ``--labels a,b,c`` dropped c, silently; a
    q-value threshold above 1 matched every filter."""
    for labels in ("a", "a,b,c", "a,"):
        with pytest.raises(SystemExit) as stop:  # argparse's usage line and error
            main(["explain", "--config", str(config), "--compare", "x", "--labels", labels])
        assert stop.value.code == 2
        assert (f"--labels: expected two comma-separated names (the run's, then --compare's), "
                f"got {labels!r}") in capsys.readouterr().err
    assert cli_error(capsys, "explain", "--config", str(config), "--q-threshold", "5"
                  ).startswith("--q-threshold: expected")


def test_explain_flags_that_are_read_pass_the_check(config, monkeypatch):
    import kerasgene.explain.run as R

    monkeypatch.setattr(R, "explain_run", lambda *a, **k: {})
    assert main(["explain", "--config", str(config), "--analyses", "modisco", "--n-steps", "8",
                 "--modisco-attribution", "ig", "--truth", "t.json"]) == 0
    assert main(["explain", "--config", str(config), "--compare", "x", "--labels", "a,b"]) == 0


def test_explain_section_keys_not_read_are_a_warning(config, monkeypatch, caplog):
    import kerasgene.explain.run as R

    monkeypatch.setattr(R, "explain_run", lambda *a, **k: {})
    with caplog.at_level("WARNING"):
        assert main(["explain", "--config", str(config), "explain.max_conditions=3",
                     "--analyses", "ig"]) == 0
    assert "explain.max_conditions of the run config not read by the analyses to run (ig); " \
        "max_conditions: the isegnet run has no conditions" in caplog.text


@pytest.mark.parametrize("system", ["isegnet", "chromatin", "histone_fcn", "deepchrome"])
@pytest.mark.parametrize("argv, message", [
    (["--analyses", "modisco", "--modisco-summary", "spread"],
     "--modisco-summary: the {system} run has no conditions to summarise (only DeepRAGE pair "
     "models predict per condition); expected it only on a DeepRAGE run"),
    (["--analyses", "knockout", "--max-conditions", "3"],
     "--max-conditions: the {system} run has no conditions to sample per gene (only DeepRAGE "
     "pair models predict per condition); expected it only on a DeepRAGE run"),
])
def test_condition_flags_off_deeprage(tmp_path, capsys, system, argv, message):
    """A pair model's conditions options on a run without conditions were ignored."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"system": system, "run_dir": str(tmp_path / "run")}))
    out = tmp_path / "out"
    assert cli_error(capsys, "explain", "--config", str(cfg), "--out", str(out), *argv
                  ) == message.format(system=system)
    assert not out.exists() and not (tmp_path / "run").exists()


def test_condition_flags_on_deeprage_pass_the_check(tmp_path, monkeypatch):
    import kerasgene.explain.run as R

    monkeypatch.setattr(R, "explain_run", lambda *a, **k: {})
    cfg = tmp_path / "d.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deeprage", "run_dir": str(tmp_path / "run")}))
    assert main(["explain", "--config", str(cfg), "--analyses", "knockout,modisco",
                 "--modisco-summary", "spread", "--max-conditions", "3"]) == 0


JASPAR2020_TAXA = "fungi, insects, nematodes, plants, urochordates, vertebrates"


@pytest.mark.parametrize("argv, message", [
    (["--jaspar-release", "JASPAR2030"],
     "--jaspar-release: unknown release 'JASPAR2030'; expected one of pyjaspar's: JASPAR2026, "
     "JASPAR2024, JASPAR2022, JASPAR2020, JASPAR2018, JASPAR2016, JASPAR2014"),
    (["--tax-group", "fungus"], "--tax-group: 'fungus' has no JASPAR2026 CORE matrices; "
                                "expected one of diatoms, " + JASPAR2020_TAXA),
    (["--jaspar-release", "JASPAR2020", "--tax-group", "diatoms"],
     "--tax-group: 'diatoms' has no JASPAR2020 CORE matrices; expected one of " + JASPAR2020_TAXA),
    (["explain.tax_group=fungus"], "--tax-group: 'fungus' has no JASPAR2026 CORE matrices"),
])
def test_jaspar_release_and_taxon_checked_before_the_run_is_read(config, tmp_path, capsys,
                                                                 argv, message):
    """An unknown release or taxon failed only when the filters were matched, after IG."""
    out = tmp_path / "out"
    assert cli_error(capsys, "explain", "--config", str(config), "--out", str(out),
                  "--analyses", "ig,motifs", *argv).startswith(message)
    assert not out.exists() and not (tmp_path / "run").exists()


def test_known_jaspar_taxon_passes_the_check(config, tmp_path, capsys):
    """Any case, as pyjaspar reads it; the run is read next (here: there is none)."""
    assert "run directory not found" in cli_error(capsys, "explain", "--config", str(config),
                                        "--analyses", "motifs", "--tax-group", "Plants",
                                        "--jaspar-release", "JASPAR2020")


def test_motif_db_checked_before_the_run_is_read(config, tmp_path, capsys):
    """A MEME motif file replaces JASPAR: a missing or broken one, or JASPAR's options
    beside it, are refused before the run is read; a good one passes to the run."""
    from memelite.io import write_meme

    good, bad = tmp_path / "db.meme", tmp_path / "bad.meme"
    write_meme(str(good), {"H12.GCN4 GCN4": np.full((4, 8), 0.25)})
    bad.write_text(good.read_text().replace("0.25 0.25 0.25 0.25", "5 3 1 1", 1))
    base = ["explain", "--config", str(config), "--analyses", "motifs"]
    assert cli_error(capsys, *base, "--motif-db", str(tmp_path / "none.meme")) == (
        f"{tmp_path / 'none.meme'}: MEME motif file not found")
    assert cli_error(capsys, *base, "--motif-db", str(bad)).startswith(
        f"{bad}: motif 'H12.GCN4', position 1: 5 3 1 1; expected four probabilities")
    assert cli_error(capsys, *base, "--motif-db", str(good), "--tax-group", "fungi") == (
        f"--tax-group: chooses JASPAR's matrices, but the motifs come from --motif-db {good}; "
        "expected one of the two")
    assert "run directory not found" in cli_error(capsys, *base, "--motif-db", str(good))
    assert "run directory not found" in cli_error(capsys, *base, f"explain.motif_db={good}")


@pytest.mark.parametrize("where, message", [
    ("file", "--out: {out} is a file; expected a folder"),
    ("below", "--out: {out}: {tmp}/file is a file, not a folder"),
    ("dataset", "--out: {out} is inside the run's prepared dataset"),
])
def test_explain_and_ablate_out_errors(config, tmp_path, capsys, where, message):
    (tmp_path / "file").write_text("mine\n")
    out = {"file": tmp_path / "file", "below": tmp_path / "file" / "x",
           "dataset": tmp_path / "run" / "dataset" / "explain"}[where]
    expected = message.format(out=out, tmp=tmp_path)
    assert cli_error(capsys, "explain", "--config", str(config), "--out", str(out)
                  ).startswith(expected)
    assert cli_error(capsys, "ablate", "--config", str(config), "--out", str(out)
                  ).startswith(expected)
    assert (tmp_path / "file").read_text() == "mine\n" and not (tmp_path / "run").exists()


@pytest.mark.parametrize("subsets, message", [
    ("", "ablation subsets: none given; valid: all, sequence only, epigenome only, DNase only, "
         "H3K4me3 only"),
    ("all,Foo only", "ablation subsets: unknown ['Foo only']; valid: all,"),
])
def test_ablate_subsets_checked_before_the_dataset_is_prepared(config, tmp_path, capsys,
                                                             subsets, message):
    assert cli_error(capsys, "ablate", "--config", str(config), "--subsets", subsets
                  ).startswith(message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["--context", "simA_rep1"], "--context: picks the sample of --ism; expected --ism GENE"),
    (["--conditions", "a,b"], "--conditions: the isegnet run has no conditions"),
])
def test_variants_options_without_effect(config, tmp_path, capsys, argv, message):
    vcf = tmp_path / "x.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    assert cli_error(capsys, "variants", "--config", str(config), "--vcf", str(vcf), *argv
                  ).startswith(message)


def test_variants_empty_conditions(tmp_path, capsys):
    cfg = tmp_path / "d.yaml"
    cfg.write_text(yaml.safe_dump({"system": "deeprage", "run_dir": str(tmp_path / "run")}))
    assert cli_error(capsys, "variants", "--config", str(cfg), "--vcf", "x.vcf",
                  "--conditions", "").startswith("--conditions: no condition name given")


# --------------------------------------------------------------------------------------
# checks against the run (check_request), before any analysis
# --------------------------------------------------------------------------------------


class Data:
    """What the checks read of a dataset."""

    def __init__(self, index, arrays=None, meta=None, n_examples=None):
        self.index, self.arrays, self.meta = index, arrays or {}, meta or {}
        self.n_examples = len(index) if n_examples is None else n_examples


def _model(**inputs):
    """A model with those inputs ({name: shape}), a first convolution of 4 filters on
    ``sequence``, one output."""
    ins = [keras.Input(shape, name=n) for n, shape in inputs.items()]
    parts = []
    for t in ins:
        x = keras.layers.Conv1D(4, 3)(t) if t.name == "sequence" and len(t.shape) == 3 else t
        parts.append(keras.layers.Flatten()(x) if len(x.shape) == 3 else x)
    x = keras.layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    return keras.Model(ins, keras.layers.Dense(1)(x))


GENES = Data(pd.DataFrame({"gene_id": ["g0", "g1"]}))


@pytest.mark.parametrize("analyses, model, data, message", [
    (("ig",), dict(sequence=(20, 4), regulators=(5,)), GENES,
     "analyses ig: integrated gradients need per-position inputs (n, positions, channels) of "
     "one gene window per example (isegnet, histone); the deeprage model's input 'regulators' "
     "has shape (5,)"),
    (("ig",), dict(signal=(20, 2)), Data(pd.DataFrame({"chrom": ["chr1"]}), n_examples=40),
     "analyses ig: integrated gradients need one gene window per example (isegnet, histone); "
     "the deeprage dataset's examples are genome bins"),
    (("knockout",), dict(sequence=(20, 4), epigenome=(20, 2)), GENES,
     "analyses knockout: filter knockouts predict from the DNA alone or with regulator states "
     "(deeprage); the deeprage model also takes ['epigenome']"),
])
def test_analyses_the_run_cannot_do(analyses, model, data, message):
    with pytest.raises(KerasgeneError) as err:
        check_request(analyses, ExplainOptions(), systems.get("deeprage"), _model(**model), data)
    assert str(err.value) == message


@pytest.mark.parametrize("opts, message", [
    (dict(targets="missing.txt", filters=(1,)), "--targets: missing.txt: file not found"),
    (dict(targets="TARGETS", filters=(1, 4)), "--filters: [4] out of range; the model's first "
                                              "convolution has 4 filters (0 to 3)"),
    (dict(targets="TARGETS"), "--targets needs the filters to knock out: --filters or "
                              "--target-motif"),
    (dict(filters=(1,)), "--filters: picks the filters of the --targets knockout"),
    (dict(truth="TRUTH"), "--truth: analysis knockout reads the planted truth of deeprage "
                          "(tasks.deeprage), which the isegnet run has not"),
])
def test_knockout_options_checked_before_the_knockout(tmp_path, opts, message):
    (tmp_path / "t.txt").write_text("g0\n")
    opts = {k: str(tmp_path / "t.txt") if v == "TARGETS" else str(tmp_path / "x.json")
            if v == "TRUTH" else v for k, v in opts.items()}
    data = Data(GENES.index, arrays={"regulators": np.zeros((3, 5))})
    system = systems.get("isegnet" if "truth" in opts else "deeprage")
    with pytest.raises(KerasgeneError) as err:
        check_request(("knockout",), ExplainOptions(**opts), system,
                      _model(sequence=(20, 4), regulators=(5,)), data)
    assert str(err.value).startswith(message)


def _simulated(d, seed: int, genome: str):
    """A truth.json of seed ``seed`` beside its genome.fa."""
    d.mkdir()
    (d / "genome.fa").write_text(genome)
    (d / "truth.json").write_text(json.dumps({
        "generator": {"seed": seed, "scale": "small"},
        "tasks": {"isegnet": {"files": {"fasta": "genome.fa", "gtf": "genes.gtf"}}}}))
    return d / "truth.json"


def test_truth_of_other_data(tmp_path):
    """A truth.json of another simulation, or for a run on real files, is refused before IG;
    the run's own (or a copy alone) is read."""
    from kerasgene.datasets.base import fingerprint

    own = _simulated(tmp_path / "data", 0, ">chr1\nACGT\n")
    other = _simulated(tmp_path / "data1", 1, ">chr1\nTTGA\n")
    data = Data(GENES.index, meta={"inputs": {"fasta": fingerprint(tmp_path / "data" /
                                                                   "genome.fa")}})
    run = (("ig",), systems.get("isegnet"), _model(sequence=(20, 4)), data)

    def check(truth):
        check_request(run[0], ExplainOptions(truth=str(truth)), *run[1:])

    check(own)
    alone = tmp_path / "alone.json"
    alone.write_text(own.read_text())
    check(alone)
    with pytest.raises(KerasgeneError, match=r"^--truth: .*data1/truth.json describes other "
                       r"data \(seed 1, scale small\): its genome.fa is not the .*data/genome.fa "
                       "the run was trained on"):
        check(other)
    data.meta["inputs"]["fasta"]["path"] = "/real/hg38.fa"
    with pytest.raises(KerasgeneError, match="the run's dataset reads none of the files it "
                       "describes"):
        check(own)
    with pytest.raises(KerasgeneError, match=r"^--truth: .*nowhere\.json: expected a truth\.json"):
        check(tmp_path / "nowhere.json")


def test_saliency_of_a_genome_bins_dataset(tmp_path):
    """A chromatin-like dataset indexes segments, not examples: one group, no IndexError."""
    from kerasgene.explain.options import explain_options

    x = np.random.default_rng(0).random((30, 8, 2)).astype(np.float32)
    model = _model(signal=(8, 2))

    class Bins(Data):
        def split_indices(self, split):
            return np.arange(30)

        def gather(self, idx):
            return {"signal": x[idx]}

    data = Bins(pd.DataFrame({"chrom": ["chr1", "chr2"], "split": "test"}), n_examples=30)
    s = A.explain_saliency(model, data, tmp_path, explain_options(None),
                           np.random.default_rng(0))
    assert s["group_by"] == "all" and s["n_examples"] == 30
    assert s["figures"] == ["saliency_all_marks.png"]


def test_explain_run_takes_a_mapping_of_options_checked_like_the_section(config, tmp_path):
    """``explain_run(run, config, {"analyses": ["ig"]})`` — a notebook's natural guess —
    was an AttributeError ('dict' object has no attribute 'analyses'); a mapping is now
    checked like the config's ``explain:`` section, before the run is read."""
    from kerasgene.explain import explain_run

    cfg = yaml.safe_load(config.read_text())
    with pytest.raises(ConfigError, match=r"^options\.max_examples: "):
        explain_run(tmp_path / "run", cfg, {"max_examples": "5"})
    with pytest.raises(ConfigError, match=r"^options: expected ExplainOptions or a mapping"):
        explain_run(tmp_path / "run", cfg, 42)
    with pytest.raises(KerasgeneError, match="run"):  # accepted: the missing run is next
        explain_run(tmp_path / "run", cfg, {"analyses": ["ig"], "max_examples": 5})


@pytest.mark.parametrize("kw, message", [
    ({"max_examples": "5"}, "ExplainOptions.max_examples: expected an integer >= 1"),
    ({"n_steps": 4.5}, "ExplainOptions.n_steps: expected an integer >= 2 or 'auto', got 4.5"),
    ({"analyses": "ig"}, "ExplainOptions.analyses: expected a list of ig"),
    ({"split": "tset"}, "ExplainOptions.split: expected one of train"),
])
def test_explain_options_built_in_python_are_checked_like_the_flags(kw, message):
    """``ExplainOptions(max_examples="5")`` was a TypeError deep in the IG analysis,
    ``n_steps=4.5`` ran 4 steps (explain.json said 4.5) and ``analyses="ig"`` was read
    letter by letter."""
    from kerasgene.explain.options import ExplainOptions

    with pytest.raises(ConfigError, match=re.escape(message)):
        ExplainOptions(**kw)
    assert ExplainOptions(analyses=["ig"], n_steps="auto").analyses == ("ig",)
