"""TF-MoDISco on the trained demo DeepRAGE-TP against the planted motifs (issue #17's
count): ``kerasgene explain --analyses motifs,modisco`` on the session's demo run (conftest
``demo_run``). A module of its own: pytest-xdist gives a module to one worker, and this
test alone takes as long as the rest of tests/test_explain_demo.py."""

import pytest
from conftest import explain_demo_run as _explain

pytestmark = pytest.mark.demo  # trains a whole system: `make test-fast` skips it


def test_deeprage_modisco_patterns_and_filters_recover_planted_motifs(demo_run, truth,
                                                                     tmp_path):
    """Issue #17's count: planted regulators whose JASPAR matrix is the best Tomtom match
    at q <= 0.1 of a TF-MoDISco pattern or of a first-layer filter (strict), or among
    its three best (lenient: INO4's and PHO4's patterns match a paralog's matrix of the
    same site first). Measured on the seed-0 demo's DeepRAGE-TP on a Xeon: TF-MoDISco 6
    of 12 (AFT1, GCN4, NRG1, RPN4, YAP1, ZAP1), the filters the same 6, their union 6;
    lenient 8 (+ INO4, PHO4) — the issue asked for 10 (README). The model itself
    attributes 11 of the 12 (sites at 0.8 to 14 standard deviations of position-matched
    random windows; not MIG1, -0.2): MSN2/MSN4's STRE and XBP1 are in the model but not
    recovered. On an AVX2-only AMD EPYC the demo trains another TP (R² 0.738 against
    0.759: other float sums): TF-MoDISco 5 (not GCN4), the filters 6, their union 6;
    lenient 7 (+ PHO4, not INO4); attributed 11 (MIG1 among them, not GCN4, which a
    filter matches).
    TF-MoDISco's Leiden runs have fixed seeds and the demo trains the same model to the
    last digit on one CPU, so the counts are asserted as measured, at the lower of the
    two CPUs' counts."""
    summary = _explain(demo_run[0] / "runs" / "deeprage_tensor", truth, tmp_path,
                       "--analyses", "motifs,modisco")["modisco"]
    planted, lenient = summary["planted"], summary["planted_top3"]
    print("\nplanted motifs recovered:", planted, "among the 3 best:", lenient,
          "seconds:", summary["seconds"])
    assert summary["n_planted"] == 12 and summary["n_sequences"] == 1000
    assert set(planted["union"]) == set(planted["modisco"]) | set(planted["filters"])
    assert len(planted["modisco"]) >= 5 and len(planted["union"]) >= 6
    assert set(planted["union"]) <= set(lenient["union"]) and len(lenient["union"]) >= 7
    attributed = set(summary["planted_attributed"])
    assert len(attributed) >= 10, attributed
    assert len(set(lenient["union"]) - attributed) <= 1  # the AMD TP: GCN4
    assert (tmp_path / "modisco_report.html").is_file()
    assert len(list((tmp_path / "modisco_logos").glob("*.png"))) == summary["n_patterns"]
