"""Tests of kerasgene.explain.modisco (hypothetical contributions, pair models summarised
over conditions, TF-MoDISco, Tomtom, the planted truth), the HTML report and
``kerasgene explain --analyses modisco`` on small synthetic inputs.

tfmodisco-lite compiles its numba kernels the first time on a machine (~2 minutes, then
cached on disk); the tests that run TF-MoDISco use small inputs and 2 Leiden runs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("modiscolite")
pytest.importorskip("memelite")
pytest.importorskip("pyjaspar")

from kerasgene.errors import ConfigError, KerasgeneError  # noqa: E402
from kerasgene.explain import modisco as MD  # noqa: E402
from kerasgene.explain import motifs as M  # noqa: E402
from kerasgene.explain.options import ExplainOptions, explain_options  # noqa: E402


@pytest.fixture(scope="module")
def fungi():
    return M.jaspar_motifs("JASPAR2026", "fungi")


def _linear_model(L: int, w: np.ndarray):
    """F(sequence, epigenome) = Σ w · sequence + Σ epigenome: every gradient is known."""
    s = keras.Input((L, 4), name="sequence")
    e = keras.Input((L, 2), name="epigenome")
    d = keras.layers.Dense(1, use_bias=False, name="w")
    y = keras.layers.Add(name="expression")([d(keras.layers.Flatten()(s)),
                                            keras.ops.sum(e, axis=(1, 2))[:, None]])
    model = keras.Model({"sequence": s, "epigenome": e}, y)
    d.set_weights([w.reshape(-1, 1).astype(np.float32)])
    return model


@pytest.mark.parametrize("method", ["saliency", "ig"])
def test_hypothetical_contributions_of_a_linear_model(method):
    """Saliency and the IG multipliers of a linear model are its weights, mean-normalised
    per position; the other input is held at its value."""
    rng = np.random.default_rng(0)
    L = 12
    w = rng.normal(size=(L, 4))
    x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (5, L))]
    x[0, 3] = 0  # an N base
    inputs = {"sequence": x, "epigenome": rng.random((5, L, 2)).astype(np.float32)}
    hyp = MD.hypothetical_contributions(_linear_model(L, w), inputs, method=method, n_steps=4)
    assert hyp.shape == (5, L, 4)
    expected = np.broadcast_to(w - w.mean(axis=1, keepdims=True), hyp.shape)
    np.testing.assert_allclose(hyp, expected, atol=1e-5)
    with pytest.raises(ConfigError, match="modisco attribution"):
        MD.hypothetical_contributions(_linear_model(L, w), inputs, method="shap")


@pytest.mark.parametrize("name", ["deeprage_tensor", "deeprage_rnn"])
def test_condition_model_summarises_the_predictions_over_conditions(name):
    """DeepRAGE-TP goes through the factorised block outputs, the RNN through every
    pair; both give ½ variance (spread) and mean of the model's own predictions."""
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    kw = dict(pool_size=8, rnn_units=4) if name == "deeprage_rnn" else {}
    model = build(name, seq_len=40, filters=4, filter_length=5, n_regulators=3, units=8,
                  regulator_units=4, **kw)
    rng = np.random.default_rng(0)
    seq = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 40))]
    regs = rng.choice([-1.0, 0.0, 1.0], (6, 3)).astype(np.float32)
    pred = model.predict({"sequence": np.repeat(seq, 6, axis=0),
                          "regulators": np.tile(regs, (3, 1))}, verbose=0)
    pred = np.asarray(pred["expression"] if isinstance(pred, dict) else pred).reshape(3, 6)
    spread = MD.condition_model(model, {"regulators": regs}, summary="spread")
    np.testing.assert_allclose(spread.predict(seq, verbose=0)[:, 0], 0.5 * pred.var(axis=1),
                               rtol=1e-4, atol=1e-7)
    mean = MD.condition_model(model, {"regulators": regs})
    np.testing.assert_allclose(mean.predict(seq, verbose=0)[:, 0], pred.mean(axis=1),
                               rtol=1e-4, atol=1e-6)
    hyp = MD.hypothetical_contributions(spread, {"sequence": seq})
    assert hyp.shape == seq.shape and np.abs(hyp.sum(axis=2)).max() < 1e-6
    with pytest.raises(ConfigError, match="modisco summary"):
        MD.condition_model(model, {"regulators": regs}, summary="max")


@pytest.mark.parametrize("name", ["deeprage_tensor", "deeprage_rnn"])
def test_condition_model_of_a_class_model_summarises_one_class_probability(name):
    """A DeepRAGE class model (down / baseline / up) is summarised by the probability of
    the target class over the conditions; without a class, or with a class for a
    regression, it is refused in one line (it refused every class model before)."""
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    kw = dict(pool_size=8, rnn_units=4) if name == "deeprage_rnn" else {}
    shape = dict(seq_len=40, filters=4, filter_length=5, n_regulators=3, units=8,
                 regulator_units=4, **kw)
    model = build(name, task="classification", n_classes=3, **shape)
    rng = np.random.default_rng(0)
    seq = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, 40))]
    regs = rng.choice([-1.0, 0.0, 1.0], (6, 3)).astype(np.float32)
    pred = model.predict({"sequence": np.repeat(seq, 6, axis=0),
                          "regulators": np.tile(regs, (3, 1))}, verbose=0)
    pred = np.asarray(pred["class_probabilities"] if isinstance(pred, dict) else pred)
    pred = pred.reshape(3, 6, 3)
    for k in (0, 2):
        mean = MD.condition_model(model, {"regulators": regs}, target=k)
        np.testing.assert_allclose(mean.predict(seq, verbose=0)[:, 0], pred[:, :, k].mean(axis=1),
                                   rtol=1e-4, atol=1e-6)
    spread = MD.condition_model(model, {"regulators": regs}, summary="spread", target=2)
    np.testing.assert_allclose(spread.predict(seq, verbose=0)[:, 0],
                               0.5 * pred[:, :, 2].var(axis=1), rtol=1e-3, atol=1e-8)
    for target in (None, 3):
        with pytest.raises(ConfigError, match=rf"^condition_model: model '{model.name}' "
                                              rf"predicts 3 classes; expected the target class "
                                              rf"whose probability is summarised, in \[0, 3\), "
                                              rf"got {target}$"):
            MD.condition_model(model, {"regulators": regs}, target=target)
    regression = build(name, **shape)
    with pytest.raises(ConfigError, match=r"has one output unit \(a regression\), not "
                                          r"classes; expected no target, got 1$"):
        MD.condition_model(regression, {"regulators": regs}, target=1)


def _planted(fungi, rng, n=400, L=100):
    """One-hot sequences with GCN4 (MA0303) sites in 80 % of them and hypothetical
    contributions that credit the site's PWM (plus noise)."""
    pwm = next(m for m in fungi if m.matrix_id.startswith("MA0303")).probabilities()
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, L))]
    hyp = rng.normal(0, 0.05, (n, L, 4))
    for i in range(n):
        if rng.random() < 0.8:
            s = int(rng.integers(0, L - len(pwm)))
            x[i, s:s + len(pwm)] = np.eye(4)[pwm.argmax(axis=1)]
            hyp[i, s:s + len(pwm)] += pwm
    return x, MD.mean_normalise(hyp)


@pytest.mark.slow  # modisco-lite's Leiden runs
def test_modisco_finds_a_planted_motif_and_the_report_shows_it(fungi, tmp_path):
    from kerasgene.explain.report_html import write_modisco_report

    x, hyp = _planted(fungi, np.random.default_rng(0))
    patterns, raw = MD.run_modisco(x, hyp, max_seqlets=500, n_leiden_runs=2)
    assert patterns and patterns[0].metacluster == "positive"
    p = patterns[0]
    assert p.ppm.shape == p.cwm.shape and p.n_seqlets >= 20
    rows = MD.pattern_rows(patterns, MD.pattern_matches(patterns, fungi))
    assert list(rows[0]) == list(MD.PATTERN_COLUMNS)
    assert rows[0]["target_id"].startswith("MA0303") and rows[0]["q_value"] <= 0.1
    planted = [{"name": "GCN4", "ids": ["MA0303.3"]}, {"name": "MIG1", "ids": ["MA0337.2"]}]
    filters = [{"query": "filter3", "rank": 1, "target_id": "MA0337.1", "q_value": 0.05}]
    rec = MD.planted_recovery({"modisco": rows, "filters": filters}, planted)
    assert [(r["name"], r["modisco"], r["filters"], r["recovered"]) for r in rec] == [
        ("GCN4", p.name, "", True), ("MIG1", "", "filter3", True)]
    page = write_modisco_report(tmp_path, patterns, rows, fungi, title="t",
                                settings={"attribution": "saliency"}, q_threshold=0.1,
                                recovery=rec).read_text()
    assert page.startswith("<!DOCTYPE html>") and "GCN4" in page
    assert f'src="modisco_logos/{p.name}.png"' in page
    assert (tmp_path / "modisco_logos" / f"{p.name}.png").stat().st_size > 0
    MD.save_modisco_h5(tmp_path / "r.h5", raw)
    import h5py

    with h5py.File(tmp_path / "r.h5") as f:
        assert "pattern_0" in f["pos_patterns"]


def test_planted_motifs_of_both_truth_sections():
    section = {"regulators": [{"tf": "MSN4", "jaspar_id": "MA0342.1", "called_with": "MA0341.1"},
                              {"tf": "MIG1", "jaspar_id": "MA0337.2"}],
               "motifs": [{"name": "REST", "jaspar_id": "MA0138.3"}]}
    assert MD.planted_motifs(section) == [{"name": "MSN4", "ids": ["MA0342.1", "MA0341.1"]},
                                          {"name": "MIG1", "ids": ["MA0337.2"]},
                                          {"name": "REST", "ids": ["MA0138.3"]}]


def test_modisco_options():
    assert ExplainOptions().modisco_attribution == "saliency"
    got = explain_options({"analyses": ["modisco"], "modisco_summary": "mean"},
                          {"modisco_max_seqlets": 500})
    assert got.analyses == ("modisco",) and got.modisco_summary == "mean"
    with pytest.raises(ConfigError, match=r"^explain.modisco_attribution: expected one of "
                                          r"saliency, ig, got 'shap'"):
        explain_options({"modisco_attribution": "shap"})


def test_explain_modisco_on_a_pair_dataset(tmp_path, fungi):
    """The analysis on a tiny untrained DeepRAGE model: every file is written even when
    modisco finds no pattern, and the truth table names filters and patterns."""
    from test_explain_commands import FakeDataset

    from kerasgene.explain import sequence_analyses as C
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    model = build("deeprage_tensor", seq_len=60, filters=4, filter_length=5, units=8,
                  regulator_units=4, n_regulators=3)
    rng = np.random.default_rng(0)
    seq = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (20, 60))]
    regs = rng.choice([-1.0, 0.0, 1.0], (5, 3)).astype(np.float32)
    genes = [f"Y{i:03d}" for i in range(20)]
    ds = FakeDataset({"sequence": seq, "regulators": regs}, pd.DataFrame({"gene_id": genes}),
                     {}, {}, gene_ids=genes)
    sites = {g: [{"motif": "MIG1", "tfs": ["MIG1"], "start": 10, "end": 18}] for g in genes[:8]}
    truth = {"tasks": {"deeprage": {"regulators": [{"tf": "MIG1", "jaspar_id": "MA0337.2"}],
                                    "motif_instances": sites}}}
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    opts = ExplainOptions(tax_group="fungi", truth=str(tmp_path / "truth.json"),
                          modisco_max_examples=16)
    filters = [{"query": "filter0", "rank": 1, "target_id": "MA0337.2", "q_value": 0.01}]
    s = C.explain_modisco(model, ds, tmp_path, opts, np.random.default_rng(0), "deeprage",
                          filter_rows=filters)
    assert s["n_sequences"] == 16 and s["summary"] == "mean"
    assert s["planted"] == {"modisco": [], "filters": ["MIG1"], "union": ["MIG1"]}
    assert s["planted_top3"]["union"] == ["MIG1"]
    assert s["planted_attributed"] in ([], ["MIG1"]) and s["attributed_sd"] == 0.5
    assert set(s["seconds"]) == {"attribution", "modisco", "tomtom", "report"}
    assert all(v >= 0 for v in s["seconds"].values())
    tab = pd.read_csv(tmp_path / "modisco_patterns.tsv", sep="\t")
    assert list(tab.columns) == list(MD.PATTERN_COLUMNS) and len(tab) == s["n_patterns"]
    for name in ("modisco_patterns.meme", "modisco_results.h5", "modisco_report.html",
                 "motif_recovery.tsv"):
        assert (tmp_path / name).exists()
    recovery = pd.read_csv(tmp_path / "motif_recovery.tsv", sep="\t")
    assert np.isfinite(recovery["site_effect_sd"]).all() and "attributed" in recovery
    assert "site attribution (sd)" in (tmp_path / "modisco_report.html").read_text()


def test_explain_modisco_on_a_class_pair_model_explains_the_last_class(tmp_path, fungi):
    """A DeepRAGE class model goes through the analysis: the mean probability of ``up``
    (the last class, as every other analysis explains by default) over the conditions,
    named in the summary and the report; ``--target-class down`` the first."""
    from test_explain_commands import FakeDataset

    from kerasgene.explain import sequence_analyses as C
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    model = build("deeprage_tensor", seq_len=60, filters=4, filter_length=5, units=8,
                  regulator_units=4, n_regulators=3, task="classification", n_classes=3)
    rng = np.random.default_rng(0)
    seq = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (20, 60))]
    regs = rng.choice([-1.0, 0.0, 1.0], (5, 3)).astype(np.float32)
    genes = [f"Y{i:03d}" for i in range(20)]
    ds = FakeDataset({"sequence": seq, "regulators": regs}, pd.DataFrame({"gene_id": genes}),
                     {"class_names": ["down", "baseline", "up"]}, {}, gene_ids=genes)
    for target, want in ((None, {"id": 2, "name": "up", "n_classes": 3}),
                         ("down", {"id": 0, "name": "down", "n_classes": 3})):
        out = tmp_path / str(target)
        out.mkdir()
        opts = ExplainOptions(tax_group="fungi", modisco_max_examples=16, target_class=target)
        s = C.explain_modisco(model, ds, out, opts, np.random.default_rng(0), "deeprage")
        assert s["target_class"] == want and s["n_sequences"] == 16
        page = (out / "modisco_report.html").read_text()
        assert f"P(class {want['id']}: {want['name']})" in page
        assert "mean over 5 conditions" in page


def test_planted_site_contributions_tell_used_from_unused_motifs():
    """Sites that carry contribution stand out against windows at the same positions in
    sequences without the motif; sites that do not, in a region where every sequence
    carries more attribution, do not (the null is matched for position); sites outside
    the motif's effective region and motifs without sites are left out."""
    from kerasgene.explain.truth import planted_site_contributions

    rng = np.random.default_rng(0)
    contrib = rng.normal(0, 0.1, (60, 100))
    contrib[:, :50] += 0.5  # promoter-proximal positions: more attribution everywhere
    ids = [f"g{i}" for i in range(60)]
    instances = {}
    for i in range(30):  # motif A: used by the model
        contrib[i, 20:28] += 1.0
        instances[ids[i]] = [{"motif": "A", "start": 20, "end": 28}]
    for i in range(30, 45):  # one STRE-like site shared by two regulators, unused
        instances[ids[i]] = [{"motif": "S", "tfs": ["B1", "B2"], "start": 35, "end": 41}]
    instances[ids[50]] = [{"motif": "A", "start": 70, "end": 78, "effective": False}]
    instances[ids[51]] = [{"motif": "A", "start": 96, "end": 104}]  # past the window's end
    got = planted_site_contributions(contrib, ids, instances, ["A", "B1", "B2", "C"],
                                     rng=np.random.default_rng(1))
    assert got["A"]["n_sites"] == 30 and got["A"]["n_outside"] == 1
    assert got["A"]["effect_sd"] > 3
    assert got["A"]["z"] == pytest.approx(got["A"]["effect_sd"] * np.sqrt(30))
    assert got["B1"]["n_sites"] == 15 and abs(got["B1"]["effect_sd"]) < 0.5
    assert got["B2"]["n_sites"] == 15
    assert got["C"]["n_sites"] == 0 and np.isnan(got["C"]["effect_sd"])
    with pytest.raises(ConfigError, match=r"motif_instances\['g0'\]: a A site without 'start'"):
        planted_site_contributions(contrib, ids, {"g0": [{"motif": "A", "end": 8}]}, ["A"],
                                   rng=np.random.default_rng(1))


def test_planted_recovery_strict_and_among_the_three_best():
    """A query whose best match is a paralog's matrix counts only in the lenient count,
    and only where the planted matrix itself reaches the q threshold."""
    planted = [{"name": "INO4", "ids": ["MA0322.1"]}, {"name": "PHO4", "ids": ["MA0357.1"]},
               {"name": "XBP1", "ids": ["MA0414.2"]}]
    rows = [{"query": "pos_pattern_0", "rank": 1, "target_id": "MA0321.1", "q_value": 0.0005},
            {"query": "pos_pattern_0", "rank": 2, "target_id": "MA0376.2", "q_value": 0.0006},
            {"query": "pos_pattern_0", "rank": 3, "target_id": "MA0322.1", "q_value": 0.002},
            {"query": "neg_pattern_2", "rank": 1, "target_id": "MA0357.1", "q_value": 0.003},
            {"query": "neg_pattern_7", "rank": 1, "target_id": "MA0414.2", "q_value": 0.12},
            {"query": "filter4", "rank": 4, "target_id": "MA0414.2", "q_value": 0.01}]
    strict = MD.planted_recovery({"modisco": rows}, planted, q_threshold=0.1)
    assert [(r["name"], r["modisco"], r["recovered"]) for r in strict] == [
        ("INO4", "", False), ("PHO4", "neg_pattern_2", True), ("XBP1", "", False)]
    lenient = MD.planted_recovery({"modisco": rows}, planted, q_threshold=0.1,
                                  max_rank=MD.N_MATCHES)
    ino4 = lenient[0]
    assert (ino4["name"], ino4["modisco"], ino4["modisco_q"]) == ("INO4", "pos_pattern_0", 0.002)
    assert [r["recovered"] for r in lenient] == [True, True, False]


def test_a_modisco_lite_failure_is_one_line_naming_the_zero_contributions(monkeypatch):
    """modisco-lite raises sklearn's ``Input contains NaN`` when its pattern merging
    compares all-zero seqlets (Jaccard 0/0; DeepRAGE-TP with IG multipliers, 77 % of the
    positions exactly 0, README). Reproducing it takes minutes of TF-MoDISco, so the
    library's failure is stood in for here; the message must name it and the zeros."""
    import modiscolite.tfmodisco

    def fails(*args, **kwargs):
        raise ValueError("Input contains NaN.")

    monkeypatch.setattr(modiscolite.tfmodisco, "TFMoDISco", fails)
    x = np.zeros((2, 10, 4), np.float32)
    x[:, :, 0] = 1
    hyp = np.zeros_like(x)
    hyp[0, :5] = 0.1
    with pytest.raises(KerasgeneError, match=r"^TF-MoDISco \(modisco-lite\) failed on these "
                                             r"contributions: Input contains NaN\. \(75% of") as e:
        MD.run_modisco(x, hyp)
    assert "\n" not in str(e.value)


def test_an_interrupted_discovery_ends_its_progress_line(monkeypatch, capsys):
    """Ctrl-C inside TF-MoDISco: the phase bar is closed with its newline, so the CLI's
    ``kerasgene explain: interrupted`` gets a line of its own."""
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MD, "run_modisco", interrupted)
    monkeypatch.setattr(MD, "hypothetical_contributions",
                        lambda model, inputs, **kw: np.zeros_like(inputs["sequence"]))
    x = np.eye(4, dtype=np.float32)[np.zeros((2, 10), int)]
    try:
        MD.discover_motifs(None, {"sequence": x})
    except KeyboardInterrupt:  # read while the traceback still holds the bar, as the CLI does
        err = capsys.readouterr().err
    assert "TF-MoDISco" in err and err.endswith("\n"), repr(err)
