"""Interpretation of the trained demo models against the planted truth (interpretation
issue): ``kerasgene explain`` on the session's demo runs (conftest ``demo_run``)."""

import json

import pytest

from kerasgene import cli


def _explain(run, truth, out, *args) -> dict:
    rc = cli.main(["explain", "--config", str(run / "config.yaml"), "--run", str(run),
                   "--out", str(out), "--truth", str(truth), *args])
    assert rc == 0
    return json.loads((out / "explain.json").read_text())


@pytest.fixture(scope="module")
def truth(demo_run):
    return demo_run[0] / "data" / "truth.json"


def test_isegnet_attribution_ranks_planted_positions_high(demo_run, truth, tmp_path):
    summary = _explain(demo_run[0] / "runs" / "isegnet", truth, tmp_path,
                       "--analyses", "ig", "--max-examples", "24", "--n-steps", "64")
    aurocs = summary["ig"]["planted_auroc"]
    print("\nplanted-position AUROC:", aurocs)
    # DNase at the promoter gates every expressed gene: the strongest planted track
    assert max(aurocs, key=aurocs.get) == "DNase"
    assert aurocs["DNase"] >= 0.9
    # tracks without planted signal for expressed genes get no AUROC
    assert "H3K4me1" not in aurocs and "H3K9me3" not in aurocs
    pngs = {p.name for p in tmp_path.glob("*.png")}
    assert "ig_track_profiles.png" in pngs
    assert any(name.startswith("gene_") for name in pngs)


def test_deeprage_filters_match_planted_motifs_and_their_knockouts_hit_targets(
        demo_run, truth, tmp_path):
    summary = _explain(demo_run[0] / "runs" / "deeprage_tensor", truth, tmp_path,
                       "--analyses", "motifs,knockout")
    regulators = json.loads(truth.read_text())["tasks"]["deeprage"]["regulators"]
    rows = summary["knockout"]["rows"]
    print("\nregulators with a matching filter:",
          {r["name"]: (r["filters"], f"{r['ranksum_p']:.1e}") for r in rows})
    assert len(rows) + len(summary["knockout"]["unmatched"]) == len(regulators)
    # The interpretation issue asks for half of the 12 planted regulators; the demo-sized
    # DeepRAGE-TP (64 filters, 40 epochs) recovers AFT1, NRG1, YAP1 and ZAP1 (seed 0):
    # the bar is not met yet and the issue stays open. This guards what it does recover.
    assert len(rows) >= 4
    for row in rows:
        assert row["ranksum_p"] < 0.01, row
    assert (tmp_path / "filter_matches.tsv").exists()
    assert list((tmp_path / "logos").glob("*.png"))
