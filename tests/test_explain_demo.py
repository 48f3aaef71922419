"""Interpretation of the trained demo models against the planted truth (interpretation
issue): ``kerasgene explain`` on the session's demo runs (conftest ``demo_run``)."""

import json

import pytest
from conftest import explain_demo_run as _explain

from kerasgene import cli

pytestmark = pytest.mark.demo  # trains a whole system: `make test-fast` skips it


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


def test_isegnet_planted_motif_sites_carry_no_attribution(demo_run, truth):
    """Why TF-MoDISco finds neither of iSEGnet's planted motifs (README, "Motif
    discovery"): the demo model does not use them. Its saliency contributions at the
    CREB1 and REST sites are within half a standard deviation of windows at the same
    positions in other genes (measured on the seed-0 demo: -0.22 and 0.03), while the
    test residuals still depend on them (the model leaves the motifs' effect unexplained)."""
    import numpy as np

    from kerasgene.config import load_config
    from kerasgene.explain.modisco import hypothetical_contributions
    from kerasgene.explain.options import ExplainOptions
    from kerasgene.explain.sequence_analyses import ATTRIBUTED_SD, modisco_inputs
    from kerasgene.explain.truth import planted_site_contributions
    from kerasgene.train import records, runs

    run = demo_run[0] / "runs" / "isegnet"
    model, record = records.load_run(run)
    dataset = runs.run_dataset(run, load_config(run / "config.yaml", []), record)
    inputs, _, ids = modisco_inputs(model, dataset, ExplainOptions(), np.random.default_rng(0))
    hyp = hypothetical_contributions(model, inputs, method="saliency", batch_size=64)
    section = json.loads(truth.read_text())["tasks"]["isegnet"]
    got = planted_site_contributions((inputs["sequence"] * hyp).sum(-1), ids,
                                     section["motif_instances"], ["CREB1", "REST"],
                                     rng=np.random.default_rng(0))
    print("\nplanted-site attribution (sd):", got)
    assert got["CREB1"]["n_sites"] > 300 and got["REST"]["n_sites"] > 150
    assert all(abs(g["effect_sd"]) < ATTRIBUTED_SD for g in got.values()), got
    # the repressor's effect is left in the residuals (seed 0: -0.22 against +0.21)
    import pandas as pd

    pred = pd.read_csv(run / "predictions.tsv", sep="\t").query("split == 'test'")
    rest = {g for g, sites in section["motif_instances"].items()
            if any(i["motif"] == "REST" and i["effective"] for i in sites)}
    residual = (pred["observed"] - pred["predicted"]).groupby(pred["gene_id"].isin(rest)).mean()
    assert residual[True] < residual[False] - 0.2, residual


def test_deeprage_filters_match_planted_motifs_and_their_knockouts_hit_targets(
        demo_run, truth, tmp_path):
    """The issue's bar: for at least half of the planted regulators, some filter's best
    JASPAR match (Tomtom rank 1, any q) is the planted motif and knocking those filters
    out moves the regulator's targets more than the other genes (rank-sum p < 0.01).
    The knockout is the functional check a chance best match (a noisy filter's top hit
    at q ~ 0.5) fails; the stricter count at Tomtom q <= 0.1 is asserted too."""
    import pandas as pd

    summary = _explain(demo_run[0] / "runs" / "deeprage_tensor", truth, tmp_path,
                       "--analyses", "motifs,knockout", "--q-threshold", "1")
    regulators = json.loads(truth.read_text())["tasks"]["deeprage"]["regulators"]
    rows = summary["knockout"]["rows"]
    assert len(rows) + len(summary["knockout"]["unmatched"]) == len(regulators)
    matches = pd.read_csv(tmp_path / "filter_matches.tsv", sep="\t", keep_default_na=False)
    q_of = dict(zip(matches["query"], matches["q_value"]))
    recovered = {r["name"]: (r["filters"], r["ranksum_p"],
                             min(q_of[f"filter{f}"] for f in str(r["filters"]).split(",")))
                 for r in rows if r["ranksum_p"] < 0.01}
    print("\nrecovered (filters, knockout rank-sum p, best Tomtom q):", recovered)
    assert len(recovered) >= len(regulators) / 2
    strict = [name for name, (_, _, q) in recovered.items() if q <= 0.1]
    # measured (seed 0, 1,000 promoters): AFT1, GCN4, NRG1, RPN4, YAP1, ZAP1 (with 500
    # promoters: AFT1, NRG1, YAP1, ZAP1)
    assert len(strict) >= 6, strict
    assert (tmp_path / "filter_matches.tsv").exists()
    assert list((tmp_path / "logos").glob("*.png"))


def test_destroying_planted_yap1_sites_lowers_the_trained_deeprage_prediction(
        demo_run, truth, tmp_path):
    """Variant effects on the *trained* demo DeepRAGE-TP: replace each planted YAP1 site
    (an activator, up in 19 of the 173 conditions) by N in the promoters of genes carrying
    exactly one, and predict over the conditions where YAP1 is up."""
    import numpy as np
    import pandas as pd
    import pysam

    from kerasgene.io.genome import Genome
    from kerasgene.io.regulators import read_names, read_triplets, unique_labels

    out = demo_run[0]
    run = out / "runs" / "deeprage_tensor"
    deeprage = json.loads(truth.read_text())["tasks"]["deeprage"]
    yap1 = next(r for r in deeprage["regulators"] if r["tf"] == "YAP1")
    yeast = out / "data" / "yeast"
    names = unique_labels(read_names(yeast / "expt_names_E.txt"))  # as the pairs builder
    states = read_triplets(yeast / "reg_exp_RxE.tab", shape=(472, len(names)))
    # regulator_index is the 1-based line of reg_names_R.txt, as in the triplets
    up = {names[c] for c in np.flatnonzero(states[yap1["regulator_index"] - 1] > 0)}
    assert len(up) == yap1["n_conditions_up"]
    sites = {g: s for g, ss in deeprage["motif_instances"].items()
             if len(s := [x for x in ss if "YAP1" in x["tfs"]]) == 1}
    genes = sorted(sites)[:30]
    header = pysam.VariantHeader()
    with Genome(out / "data" / "yeast" / "promoters.fa") as genome:
        for g in genes:
            header.contigs.add(g, length=genome.chroms[g])
        vcf_path = tmp_path / "yap1_sites.vcf"
        with pysam.VariantFile(str(vcf_path), "w", header=header) as vcf:
            for g in genes:
                s = sites[g][0]
                start = genome.chroms[g] - 1000 + s["start"]
                ref = genome.fetch(g, start, start + s["end"] - s["start"])
                vcf.write(vcf.new_record(contig=g, start=start, stop=start + len(ref),
                                         alleles=(ref, "N" * len(ref)), id=f"{g}_YAP1"))
    chosen = sorted(up)
    table_path = tmp_path / "effects.tsv"
    assert cli.main(["variants", "--run", str(run), "--vcf", str(vcf_path), "--out",
                     str(table_path), "--conditions", ",".join(chosen)]) == 0
    effects = pd.read_csv(table_path, sep="\t")
    print("\nYAP1 sites destroyed:", effects.delta.describe().round(3).to_dict())
    assert (effects.status == "ok").all() and len(effects) == len(genes)
    assert effects.delta.median() < -0.2
    assert (effects.delta < 0).mean() >= 0.8

