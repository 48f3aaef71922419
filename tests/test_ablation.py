"""Input ablation (iSEGnet Fig. 4A): one-branch builder, input selection of a prepared
dataset, and ``kerasgene ablate`` on a tiny world whose expression depends on DNase only."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_fasta

from kerasgene.cli import main
from kerasgene.config import load_config
from kerasgene.errors import ConfigError
from kerasgene.explain.ablation import run_ablation
from kerasgene.io.tracks import write_bigwig
from kerasgene.models import isegnet
from kerasgene.train import records, runs

TRACKS = ("DNase", "H3K4me3", "H3K27me3")
N_GENES, SPACING = 200, 1000
WINDOW = 160  # tss_flank [60, 40] + tts_flank [30, 30]
SMALL = dict(k1=4, kernel_length=8, dropout=0.1, merge_filters=8, pointwise_filters=4,
             dense_units=[8])


def _world(d: Path) -> dict:
    """Genes 400 bp long every kb on both strands; every track constant over each gene ±
    100 bp at a random per-gene level; log2(TPM + 1) = 1 + 6 · DNase level."""
    rng = np.random.default_rng(0)
    half = N_GENES // 2
    sizes = {"chr1": half * SPACING + 1000, "chr2": half * SPACING + 1000}
    write_fasta(d / "genome.fa", {c: "".join(rng.choice(list("ACGT"), n))
                                  for c, n in sizes.items()})
    level = {t: rng.uniform(0.1, 1.0, N_GENES) for t in TRACKS}
    signal = {t: {c: np.zeros(n) for c, n in sizes.items()} for t in TRACKS}
    gtf, tpm = [], []
    for i in range(N_GENES):
        chrom, start = ("chr1", 500 + i * SPACING) if i < half else \
            ("chr2", 500 + (i - half) * SPACING)
        gtf.append(f"{chrom}\tt\tgene\t{start + 1}\t{start + 400}\t.\t{'+-'[i % 2]}\t.\t"
                   f'gene_id "g{i:03d}"; gene_type "protein_coding";\n')
        for t in TRACKS:
            signal[t][chrom][start - 100 : start + 500] = 10 * level[t][i]
        tpm.append((f"g{i:03d}", 2 ** (1 + 6 * level["DNase"][i]) - 1))
    (d / "genes.gtf").write_text("".join(gtf))
    for t in TRACKS:
        write_bigwig(d / f"{t}.bw", sizes, signal[t])
    pd.DataFrame(tpm, columns=["gene_id", "s1"]).to_csv(d / "tpm.tsv", sep="\t", index=False)
    return {
        "system": "isegnet", "seed": 0, "run_dir": str(d / "run"),
        "dataset_dir": str(d / "dataset"),
        "data": {"gtf": str(d / "genes.gtf"), "fasta": str(d / "genome.fa"),
                 "samples": [{"name": "s1", "expression": str(d / "tpm.tsv"),
                              "expression_column": "s1",
                              "tracks": {t: str(d / f"{t}.bw") for t in TRACKS}}],
                 "tss_flank": [60, 40], "tts_flank": [30, 30], "track_order": "as_given"},
        "model": {"name": "isegnet", "hparams": dict(SMALL)},
        "training": {"epochs": 5, "batch_size": 8, "learning_rate": 1e-2, "patience": 5,
                     "verbose": 0},
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(config, its YAML path, the prepared dataset)."""
    d = tmp_path_factory.mktemp("ablation_world")
    config = _world(d)
    path = d / "isegnet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config, path, runs.prepare(config)


@pytest.fixture(scope="module")
def ablated(world, tmp_path_factory):
    """``kerasgene ablate`` over three subsets, counting the dataset preparations."""
    path = world[1]
    out = tmp_path_factory.mktemp("ablation_out")
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        prepare = runs.prepare
        mp.setattr(runs, "prepare", lambda *a, **k: calls.append(1) or prepare(*a, **k))
        status = main(["ablate", "--config", str(path), "--out", str(out),
                       "--subsets", "all, DNase only, H3K27me3 only"])
    return status, out, len(calls)


# --------------------------------------------------------------------------------------
# model side
# --------------------------------------------------------------------------------------


def _branch_params(width: int, k1: int = 4, k2: int = 8, kl: int = 8) -> int:
    """conv1 (no bias) + BN, conv2 + BN of one branch."""
    return width * kl * k1 + 4 * k1 + (kl * k1 * k2 + k2) + 4 * k2


def test_isegnet_with_one_branch():
    both = isegnet(seq_len=WINDOW, n_tracks=3, **SMALL)
    seq = isegnet(seq_len=WINDOW, n_tracks=3, inputs=("sequence",), **SMALL)
    epi = isegnet(seq_len=WINDOW, n_tracks=3, inputs="epigenome", **SMALL)
    assert [t.name for t in seq.inputs] == ["sequence"]
    assert [t.name for t in epi.inputs] == ["epigenome"]
    assert "merge_concat" not in {layer.name for layer in seq.layers}
    merge = 2 * 8 * 8  # merge conv: kernel 2 × k2 input channels × merge_filters
    assert both.count_params() - seq.count_params() == _branch_params(3) + merge
    assert both.count_params() - epi.count_params() == _branch_params(4) + merge
    x = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (2, WINDOW))]
    y = seq.predict_on_batch({"sequence": x})["expression"]
    assert y.shape == (2, 1) and np.isfinite(y).all()
    for bad in ((), ("dna",), ("sequence", "sequence")):
        with pytest.raises(ConfigError, match="isegnet: inputs must be 'sequence', "
                                              "'epigenome' or both"):
            isegnet(seq_len=WINDOW, inputs=bad)


# --------------------------------------------------------------------------------------
# data side
# --------------------------------------------------------------------------------------


def test_select_inputs_streams_only_the_selected_tracks(world):
    config, _, ds = world
    view = ds.select_inputs({"sequence": False, "epigenome": ["H3K27me3", "DNase"]})
    assert view.input_names == ["epigenome"]
    assert view.input_shapes == {"epigenome": (WINDOW, 2)}
    assert view.channel_names("epigenome") == ["DNase", "H3K27me3"]  # the dataset's order
    assert ds.input_names == ["sequence", "epigenome"] and ds.meta["track_names"] == list(TRACKS)
    # still the memory maps: each batch is read and sliced, nothing loaded up front
    assert view.arrays["epigenome"] is ds.arrays["epigenome"]
    assert isinstance(view.arrays["epigenome"], np.memmap)
    full = np.asarray(ds.arrays["epigenome"], np.float32)
    idx = ds.split_indices("test")
    x, y = next(iter(view.to_tf_dataset("test", len(idx))))
    assert set(x) == {"epigenome"}
    np.testing.assert_array_equal(x["epigenome"].numpy(), full[idx][..., [0, 2]])
    np.testing.assert_array_equal(y.numpy(), ds.arrays["expression"][idx])
    xv, _ = view.arrays_for("valid")
    np.testing.assert_array_equal(xv["epigenome"], full[ds.split_indices("valid")][..., [0, 2]])
    # a selection of a selection picks from what is left
    one = view.select_inputs({"epigenome": "H3K27me3"})
    np.testing.assert_array_equal(one.gather(idx)["epigenome"], full[idx][..., [2]])
    # the model of the config follows the dataset's inputs
    dna = ds.select_inputs({"epigenome": False})
    model = runs.build_model(config, dna)
    assert [t.name for t in model.inputs] == ["sequence"]
    xs, _ = next(iter(dna.to_tf_dataset("test", 4)))
    assert model.predict_on_batch(xs)["expression"].shape == (4, 1)


@pytest.mark.parametrize("spec, message", [
    ({"epigenome": ["DNAse"]}, r"training\.inputs\.epigenome: unknown channel\(s\) "
                               r"\['DNAse'\]; valid: DNase, H3K4me3, H3K27me3$"),
    ({"dna": True}, r"training\.inputs: unknown input 'dna'; this dataset has sequence, "
                    r"epigenome$"),
    ({"sequence": ["A"]}, r"training\.inputs\.sequence: input 'sequence' has no named "
                          r"channels"),
    ({"sequence": False, "epigenome": []}, r"training\.inputs: selects no input"),
    ({"epigenome": 3}, r"training\.inputs\.epigenome: expected true, false or a list"),
    (["DNase"], r"training\.inputs: expected a mapping"),
])
def test_select_inputs_errors(world, spec, message):
    with pytest.raises(ConfigError, match=message):
        world[2].select_inputs(spec, "training.inputs")


# --------------------------------------------------------------------------------------
# kerasgene ablate
# --------------------------------------------------------------------------------------


def _is_png(path: Path) -> bool:
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # trains one model per input subset
def test_ablate_writes_one_run_and_row_per_subset(ablated):
    status, out, n_prepared = ablated
    assert status == 0 and n_prepared == 1  # the dataset is prepared once for every subset
    table = pd.read_csv(out / "ablation.tsv", sep="\t", keep_default_na=False)
    assert list(table["inputs"]) == ["all", "DNase only", "H3K27me3 only"]
    assert list(table["n_inputs"]) == [4, 1, 1]
    assert list(table["tracks"]) == [",".join(TRACKS), "DNase", "H3K27me3"]
    assert np.isfinite(table[["r2", "pearson", "mse", "valid_r2"]].to_numpy(float)).all()
    assert (table["n"] == table["n"][0]).all() and table["n"][0] > 0
    assert table["params"][0] > table["params"][1] == table["params"][2]
    assert _is_png(out / "ablation.png")
    for slug in ("all", "DNase_only", "H3K27me3_only"):
        assert (out / slug / "model.keras").exists(), slug
        metrics = json.loads((out / slug / "metrics.json").read_text())
        assert "controls" not in metrics and "baselines" not in metrics
    sub = load_config(out / "DNase_only" / "config.yaml")
    assert sub["training"]["inputs"] == {"sequence": False, "epigenome": ["DNase"]}
    # the subset's config re-scores its run on the same dataset and inputs
    again = runs.evaluate(sub)
    assert again["test"]["r2"] == pytest.approx(table["r2"][1], abs=1e-5)


@pytest.mark.slow  # trains one model per input subset
def test_ablate_planted_track_alone_beats_another_track_alone(ablated):
    """Expression depends on DNase only: the DNase-only model explains it, the
    H3K27me3-only model cannot (DNase R² ≥ 0.89 over seeds 0–3 of the world)."""
    table = pd.read_csv(ablated[1] / "ablation.tsv", sep="\t").set_index("inputs")
    assert table.loc["DNase only", "r2"] > 0.6
    assert table.loc["DNase only", "r2"] > table.loc["H3K27me3 only", "r2"] + 0.5


@pytest.mark.slow  # trains one model
def test_a_second_ablate_with_fewer_subsets_says_which_rows_it_drops(world, ablated, tmp_path,
                                                                    caplog):
    """``ablate --subsets "DNase only"`` into a folder whose ablation.tsv listed three
    subsets rewrote it with one row without a word, while the other two runs stayed."""
    import shutil

    out = tmp_path / "ablation"
    shutil.copytree(ablated[1], out)
    with caplog.at_level(logging.WARNING):
        assert main(["ablate", "--config", str(world[1]), "--out", str(out),
                     "--subsets", "DNase only"]) == 0
    assert pd.read_csv(out / "ablation.tsv", sep="\t")["inputs"].tolist() == ["DNase only"]
    assert (f"{out / 'ablation.tsv'}: rewritten with the 1 subsets of this call; the earlier "
            f"rows (all, H3K27me3 only) left out, their runs kept in {out}") in caplog.text
    assert (out / "all" / "run.json").is_file()


@pytest.mark.slow  # trains one model
def test_an_interrupted_ablate_keeps_no_table_of_an_earlier_call(world, ablated, tmp_path,
                                                                monkeypatch, caplog):
    """A second ``ablate`` into the folder of a first, stopped (Ctrl-C, an error) during
    a later subset, left the first call's ablation.tsv and .png beside runs it had
    replaced or emptied, without a word."""
    import shutil

    out = tmp_path / "ablation"
    shutil.copytree(ablated[1], out)
    train = runs.train
    calls = []

    def train_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(*args, **kwargs)

    monkeypatch.setattr(runs, "train", train_then_stop)
    with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
        run_ablation(load_config(world[1]), ["H3K27me3 only", "DNase only"], out)
    table = pd.read_csv(out / "ablation.tsv", sep="\t")
    assert table["inputs"].tolist() == ["H3K27me3 only"]  # this call's row, its new run
    metrics = json.loads((out / "H3K27me3_only" / "metrics.json").read_text())
    assert table["r2"][0] == pytest.approx(metrics["test"]["r2"], abs=1e-5)
    assert not (out / "ablation.png").exists()
    assert (f"{out}: removed the earlier ablation.tsv and ablation.png (they described the "
            "runs this call retrains)") in caplog.text
    assert (f"{out}: ablation stopped during subset 2 of 2 (DNase only); ablation.tsv lists "
            "the 1 finished (H3K27me3 only), no ablation.png") in caplog.text


def test_explain_compare_refuses_a_run_of_another_track_order(ablated, tmp_path, capsys):
    """``explain --compare RUN2`` fed RUN2's model this run's channels whatever RUN2's track
    order: with the same tracks in another order every track "differed", exit 0."""
    import shutil

    from kerasgene.explain.run import load_compare

    run = ablated[1] / "all"
    other = tmp_path / "other"
    shutil.copytree(run, other)
    assert load_compare(run, other).inputs  # same tracks, same order: compared
    prep = json.loads((other / "preprocessing.json").read_text())
    prep["track_names"] = prep["track_names"][::-1]
    (other / "preprocessing.json").write_text(json.dumps(prep))
    records.record_run(other)  # another run's record: run.json records preprocessing.json
    assert main(["explain", "--run", str(run), "--analyses", "ig,differential",
                 "--compare", str(other), "--labels", "a,b",
                 "--out", str(tmp_path / "explain")]) == 2
    assert capsys.readouterr().err == (
        f"kerasgene: error: --compare {other}: its model reads tracks "
        f"{list(TRACKS[::-1])}, the run {run}'s {list(TRACKS)} (track_names of each "
        "preprocessing.json); expected a run of the same tracks in the same order (its model "
        "is fed this run's inputs)\n")
    assert not (tmp_path / "explain").exists()


def test_ablate_and_train_reject_unknown_names(world, tmp_path, capsys):
    _, path, _ = world
    assert main(["ablate", "--config", str(path), "--subsets", "all,Foo only",
                 "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ablation subsets: unknown ['Foo only']; valid: all, " \
        "sequence only, epigenome only, DNase only, H3K4me3 only, H3K27me3 only" in err
    assert not (tmp_path / "a").exists()
    assert main(["train", "--config", str(path), f"run_dir={tmp_path / 'r'}",
                 "training.inputs={epigenome: [Foo]}"]) == 2
    err = capsys.readouterr().err
    assert err == ("kerasgene: error: training.inputs.epigenome: unknown channel(s) ['Foo']; "
                   "valid: DNase, H3K4me3, H3K27me3\n")
    with pytest.raises(ConfigError, match="system: the ablation retrains iSEGnet"):
        run_ablation({"system": "histone_fcn", "data": {}})
