"""Dataset builders on small real files written here (FASTA, GTF, bigWig, TSV, CSV, npz)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_fasta
from scipy.ndimage import gaussian_filter1d

from kerasgene.datasets import Dataset, build, splits
from kerasgene.datasets import regions as regions_mod
from kerasgene.datasets.histone_bins import read_deepchrome_csv
from kerasgene.datasets.pairs import unique_labels
from kerasgene.datasets.windows import extract_regions, gene_windows
from kerasgene.dna import kmer_counts, kmer_names, one_hot, reverse_complement
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.genome import Genome
from kerasgene.io.regulators import read_names
from kerasgene.io.tracks import TrackSet, write_bigwig

SIZES = {"chr1": 20_000, "chr2": 12_000}
TRACKS = ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")
# (id, chrom, start, end, strand): near both chromosome ends, both strands
FIXED_GENES = [
    ("gA", "chr1", 3000, 6000, "+"), ("gB", "chr1", 8000, 11000, "-"),
    ("gC", "chr1", 100, 2000, "+"), ("gD", "chr1", 17000, 19500, "-"),
    ("gE", "chr1", 12000, 15000, "+"), ("gF", "chr2", 2000, 5000, "-"),
    ("gG", "chr2", 6000, 9000, "+"), ("gH", "chr2", 9500, 11000, "-"),
]


def _runs(rng, n, scale, p_zero=0.3):
    """Piecewise-constant signal with runs of 1..60 bases (small bigWigs)."""
    out = np.empty(n)
    i = 0
    while i < n:
        r = int(rng.integers(1, 60))
        out[i : i + r] = 0.0 if rng.random() < p_zero else round(float(rng.gamma(2.0, scale)), 3)
        i += r
    return out


def _write_gtf(path, genes):
    with open(path, "w") as fh:
        for gid, chrom, start, end, strand in genes:
            attrs = f'gene_id "{gid}"; gene_name "{gid.upper()}"; gene_type "protein_coding";'
            fh.write(f"{chrom}\ttest\tgene\t{start + 1}\t{end}\t.\t{strand}\t.\t{attrs}\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Genome, GTF, 7 iSEGnet tracks x 2 biosamples, TPM table; returns paths and truth."""
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("world")
    seqs = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in SIZES.items()}
    seqs["chr1"] = seqs["chr1"][:5000] + "N" * 40 + seqs["chr1"][5040:]
    fasta = write_fasta(d / "genome.fa", seqs)
    genes = list(FIXED_GENES)
    for i in range(16):
        chrom = "chr1" if i % 2 else "chr2"
        start = int(rng.integers(0, SIZES[chrom] - 3000))
        genes.append((f"r{i}", chrom, start, start + int(rng.integers(600, 3000)),
                      "+-"[i % 3 == 0]))
    _write_gtf(d / "genes.gtf", genes)
    signals = {}
    for b in ("bs1", "bs2"):
        (d / b).mkdir()
        for t in TRACKS:
            if t == "WGBS":
                sig = {c: np.where(rng.random(n) < 0.05, np.round(rng.uniform(1, 100, n), 1), 0.0)
                       for c, n in SIZES.items()}
            else:
                sig = {c: _runs(rng, n, 3.0) for c, n in SIZES.items()}
            write_bigwig(d / b / f"{t}.bw", SIZES, sig)
            signals[b, t] = sig
    ids = [g[0] for g in genes]
    tpm = np.round(rng.gamma(1.0, 20.0, len(ids)), 3)
    tpm[ids.index("gE")] = 0.0
    table = pd.DataFrame({"gene_id": [f"{g}.1" if g == "gA" else g for g in ids],
                          "rep1": tpm, "rep2": np.round(tpm * 1.1 + 1, 3)})
    table.loc[len(table)] = ["notInGtf", 5.0, 5.0]
    table.to_csv(d / "tpm.tsv", sep="\t", index=False)
    return {"dir": d, "fasta": fasta, "gtf": str(d / "genes.gtf"), "seqs": seqs,
            "genes": genes, "signals": signals, "tpm": dict(zip(ids, tpm)),
            "table": str(d / "tpm.tsv")}


def _sample(world, name, column):
    tracks = {t: str(world["dir"] / name / f"{t}.bw") for t in TRACKS}
    return {"name": name, "expression": world["table"], "expression_column": column,
            "tracks": tracks}


def _isegnet_cfg(world, samples=(("bs1", "rep1"),), **kw):
    cfg = {"gtf": world["gtf"], "fasta": world["fasta"],
           "samples": [_sample(world, b, c) for b, c in samples]}
    cfg.update(kw)
    return cfg


@pytest.fixture(scope="module")
def isegnet_ds(world):
    return build("isegnet", _isegnet_cfg(world), world["dir"] / "ds_isegnet", progress=False)


# ----------------------------------------------------------------------------- iSEGnet
def test_gene_windows_orientation():
    from kerasgene.io.annotation import Gene

    plus, minus = Gene("p", "p", "c", 5000, 9000, "+"), Gene("m", "m", "c", 5000, 9000, "-")
    chroms, starts, ends, strands = gene_windows([plus, minus])
    assert list(chroms) == ["c", "c"] and list(strands) == ["+", "-"]
    assert starts.tolist() == [[4000, 8499], [8500, 4501]]
    assert ends.tolist() == [[5500, 9499], [10000, 5501]]
    # oriented offset 1000 of the TSS window is the TSS; offset 500 of the TTS window the TTS
    assert starts[0, 0] + 1000 == plus.tss and ends[1, 0] - 1 - 1000 == minus.tss
    assert starts[0, 1] + 500 == plus.tts and ends[1, 1] - 1 - 500 == minus.tts


def test_gene_ids_match_without_version_only_where_the_stem_names_one_gene(tmp_path):
    """``ENSG1`` matches ``ENSG1.3``; ``ZK1010.7`` matched ZK1010.1 (another gene, the first
    of two sharing the stem) and gave it its label; a table id whose versioned gene the
    reader skipped is reported with the reader's reason, not as absent."""
    from kerasgene.datasets.dropped import Dropped
    from kerasgene.io.annotation import read_gtf

    rows = [("I", 11, 200, "+", "ZK1010.1"), ("I", 5011, 5200, "-", "ZK1010.2"),
            ("I", 9011, 9200, "+", "ENSG1.3"), ("I", 12011, 12200, ".", "ENSG2.4"),
            ("X", 11, 200, "+", "ENSG5.1"), ("Y", 11, 200, "+", "ENSG5.1_PAR_Y")]
    (tmp_path / "g.gtf").write_text("".join(
        f'{c}\tsrc\tgene\t{a}\t{b}\t.\t{st}\t.\tgene_id "{gid}";\n' for c, a, b, st, gid in rows))
    dropped = Dropped("isegnet")
    got = regions_mod.match_gene_ids(["ZK1010.1", "ZK1010.7", "ENSG1", "ENSG2", "ENSG5"],
                                     read_gtf(tmp_path / "g.gtf"), "tpm.tsv", dropped, "s1")
    assert {t: g.id for t, g in got.items()} == {"ZK1010.1": "ZK1010.1", "ENSG1": "ENSG1.3",
                                                 "ENSG5": "ENSG5.1"}  # the PAR gene's X copy
    table = dropped.table().set_index("example")
    assert table.loc["ZK1010.7", "reason"] == "not_in_annotation"
    assert "matches 2 genes (ZK1010.1, ZK1010.2), so none is taken" in table.loc["ZK1010.7", "detail"]
    assert table.loc["ENSG2", "reason"] == "skipped_in_annotation"
    assert table.loc["ENSG2", "detail"].startswith("no strand")


def test_window_fit_classes():
    from kerasgene.datasets.windows import window_fit
    from kerasgene.io.annotation import Gene

    genes = [Gene("in", "in", "c", 3000, 5000, "+"), Gene("pad", "pad", "c", 200, 900, "+"),
             Gene("padm", "padm", "c", 8000, 9900, "-"), Gene("past", "past", "c", 9000, 10_200, "-"),
             Gene("beyond", "beyond", "c", 10_000, 11_000, "+"), Gene("u", "u", "z", 1, 2, "+")]
    assert window_fit(genes, {"c": 10_000}, (1000, 500), (500, 500)).tolist() == [
        "inside", "padded", "padded", "past_chrom_end", "beyond_chrom_end", "unknown_chrom"]
    assert window_fit(genes[:1], {"c": 10_000}, (3001, 0), (0, 0)).tolist() == ["padded"]
    assert window_fit(genes[:1], {"c": 10_000}, (3000, 0), (0, 0)).tolist() == ["inside"]


def test_isegnet_shapes_dtypes_labels(isegnet_ds, world):
    ds = isegnet_ds
    assert ds.input_names == ["sequence", "epigenome"] and ds.target_name == "expression"
    assert ds.input_shapes == {"sequence": (2500, 4), "epigenome": (2500, 7)}
    a = ds.arrays
    assert a["sequence"].dtype == np.uint8 and a["epigenome"].dtype == np.float16
    assert isinstance(a["epigenome"], np.memmap)
    ids = list(ds.index["gene_id"])
    assert "gE" not in ids and "notInGtf" not in ids  # zero expression; absent from the GTF
    assert "gA" in ids  # versioned id "gA.1" matched
    assert len(ids) == len(world["genes"]) - 1
    want = np.log2(np.array([world["tpm"][g] for g in ids]) + 1)
    np.testing.assert_allclose(a["expression"], want, rtol=1e-5)
    assert ((a["sequence"].sum(-1) == 1) | (a["sequence"].sum(-1) == 0)).all()
    epi = np.asarray(a["epigenome"], dtype=np.float32)
    assert epi.min() >= 0 and epi.max() <= 1
    counts = ds.split_counts
    assert counts["train"] + counts["valid"] + counts["test"] == len(ds)
    assert min(counts["train"], counts["valid"], counts["test"]) > 0


def _expected_track(world, sample, track, chrom, start, end, strand):
    """Independent reference of the iSEGnet transforms from the arrays the test wrote."""
    raw = world["signals"][sample, track]
    full = raw[chrom]
    if track == "WGBS":
        vals = full / 100.0
    else:
        vmax = max(v.max() for v in raw.values())
        vals = np.repeat(full.reshape(-1, 20).mean(1), 20) / vmax
        vals = np.clip(vals, 0, 1)
    out = np.zeros(end - start)
    lo, hi = max(start, 0), min(end, len(full))
    out[lo - start : hi - start] = vals[lo:hi]
    return out[::-1] if strand == "-" else out


def _expected_seq(world, chrom, start, end, strand):
    s = world["seqs"][chrom]
    seq = "N" * max(0, -start) + s[max(start, 0) : min(end, len(s))] + "N" * max(0, end - len(s))
    return reverse_complement(seq) if strand == "-" else seq


@pytest.mark.parametrize("gene", ["gB", "gD", "gC"])
def test_isegnet_hand_checked_window(isegnet_ds, world, gene):
    """Minus-strand genes (gD runs past the chromosome end), plus-strand near the start."""
    ds = isegnet_ds
    i = int(np.flatnonzero(ds.index["gene_id"].to_numpy() == gene)[0])
    _, chrom, start, end, strand = next(g for g in world["genes"] if g[0] == gene)
    tss = start if strand == "+" else end - 1
    tts = end - 1 if strand == "+" else start
    if strand == "+":
        wins = [(tss - 1000, tss + 500), (tts - 500, tts + 500)]
    else:  # 5'→3' on the minus strand: the window's first base is the highest coordinate
        wins = [(tss - 499, tss + 1001), (tts - 499, tts + 501)]
    seq = "".join(_expected_seq(world, chrom, a, b, strand) for a, b in wins)
    x = ds.arrays_for([i])[0]
    np.testing.assert_array_equal(x["sequence"][0], one_hot(seq, 0))
    assert seq[1000] in "ACGT"  # the TSS base itself
    for c, t in enumerate(TRACKS):
        want = np.concatenate([_expected_track(world, "bs1", t, chrom, a, b, strand)
                               for a, b in wins])
        np.testing.assert_allclose(x["epigenome"][0, :, c], want, atol=1e-3, rtol=2e-3)
    if gene == "gD":
        assert (x["sequence"][0, :500] == 0).all()  # 5' end of the TSS window is past chr1's end


def test_extract_regions_matches_dataset(isegnet_ds, world):
    from kerasgene.io.annotation import read_gtf

    genes = {g.id: g for g in read_gtf(world["gtf"])}
    ids = list(isegnet_ds.index["gene_id"][:5])
    tracks = {t: (p, regions_mod.default_transform(t))
              for t, p in _sample(world, "bs1", "rep1")["tracks"].items()}
    with Genome(world["fasta"]) as g, TrackSet(tracks) as ts:
        seq, epi = extract_regions([genes[i] for i in ids], g, ts, epigenome_dtype=np.float16)
    np.testing.assert_array_equal(seq, isegnet_ds.arrays["sequence"][isegnet_ds.arrays["sequence_row"][:5]])
    np.testing.assert_array_equal(epi, isegnet_ds.arrays["epigenome"][:5])


def test_isegnet_pooled_samples_share_sequence(world, tmp_path):
    ds = build("isegnet", _isegnet_cfg(world, (("bs1", "rep1"), ("bs2", "rep2"))),
               tmp_path / "pooled", progress=False)
    n = len(world["genes"])  # gE has TPM 0 in rep1 only
    assert len(ds) == 2 * n - 1 and ds.arrays["sequence"].shape[0] == n
    assert "gE" in set(ds.index.gene_id[ds.index["sample"] == "bs2"])
    assert set(ds.index["sample"]) == {"bs1", "bs2"}
    for g, grp in ds.index.groupby("gene_id"):  # replicates of a gene never straddle sets
        assert grp["split"].nunique() == 1, g
    x, y = ds.arrays_for("all")
    i1 = np.flatnonzero((ds.index["gene_id"] == "gB") & (ds.index["sample"] == "bs1"))[0]
    i2 = np.flatnonzero((ds.index["gene_id"] == "gB") & (ds.index["sample"] == "bs2"))[0]
    np.testing.assert_array_equal(x["sequence"][i1], x["sequence"][i2])
    assert not np.array_equal(x["epigenome"][i1], x["epigenome"][i2])
    assert y[i2] == pytest.approx(np.log2(world["tpm"]["gB"] * 1.1 + 1 + 1), rel=1e-4)


def test_isegnet_split_options_labels_and_assemblies(world, tmp_path, caplog):
    """``split: {seed: 3}`` keeps grouping by gene (it replaced the whole default: a gene's
    two samples landed in different sets); log_base / pseudocount are checked (1 gave inf
    labels); a track whose chromosome has another length than the FASTA's (another
    assembly) leaves that chromosome's genes out, named (its values were read at the
    FASTA's coordinates, 0 past the track's end)."""
    pooled = (("bs1", "rep1"), ("bs2", "rep2"))
    ds = build("isegnet", _isegnet_cfg(world, pooled, split={"seed": 3}), tmp_path / "s",
               progress=False)
    cfg = _isegnet_cfg(world)
    del cfg["samples"][0]["expression_column"]  # "bs1" is no column: the first, rep1, is read
    with caplog.at_level(logging.WARNING):
        build("isegnet", cfg, tmp_path / "c", progress=False)
    assert ("isegnet: sample 'bs1' reads column 'rep1' of " in caplog.text
            and "the first of its 2 sample columns" in caplog.text)
    assert ds.meta["split"]["group"] == "gene_id"
    assert (ds.index.groupby("gene_id")["split"].nunique() == 1).all()
    for key, value, message in [("log_base", 1, r"isegnet\.log_base: expected a number > 0 "
                                                r"other than 1"),
                                ("pseudocount", -1, r"isegnet\.pseudocount: expected a number >= 0")]:
        with pytest.raises(ConfigError, match=message):
            build("isegnet", _isegnet_cfg(world, **{key: value}), tmp_path / "x")
    short = tmp_path / "short"
    short.mkdir()
    for t in TRACKS:  # chr2 1,000 bp shorter in every track than in the FASTA
        sizes = {**SIZES, "chr2": SIZES["chr2"] - 1000}
        write_bigwig(short / f"{t}.bw", sizes,
                     {c: world["signals"]["bs1", t][c][:n] for c, n in sizes.items()})
    cfg = _isegnet_cfg(world)
    cfg["samples"][0]["tracks"] = {t: str(short / f"{t}.bw") for t in TRACKS}
    with caplog.at_level(logging.WARNING):
        ds = build("isegnet", cfg, tmp_path / "a", progress=False)
    assert set(ds.index.chrom) == {"chr1"}
    got = _dropped(ds)
    on_chr2 = got[got.reason == "chrom_length_mismatch"]
    assert len(on_chr2) == sum(g[1] == "chr2" for g in world["genes"] if g[0] != "gE")
    assert on_chr2.detail.iloc[0].startswith(f"chr2 has {SIZES['chr2']:,} bp in ")
    assert "chromosome of another length in a track than in the genome" in caplog.text


def test_isegnet_as_given_track_order_is_part_of_the_cache_key(world, tmp_path):
    """With ``track_order: as_given`` a reordered tracks mapping reused the cached dataset
    in the old channel order (the key's JSON sorts the mapping)."""
    cfg = _isegnet_cfg(world, track_order="as_given")
    first = build("isegnet", cfg, tmp_path / "d", progress=False).meta["track_names"]
    tracks = cfg["samples"][0]["tracks"]
    cfg["samples"][0]["tracks"] = dict(reversed(list(tracks.items())))
    again = build("isegnet", cfg, tmp_path / "d", progress=False).meta["track_names"]
    assert again == first[::-1] == list(cfg["samples"][0]["tracks"])


def test_isegnet_to_tf_dataset(isegnet_ds):
    import tensorflow as tf

    ds = isegnet_ds
    tfds = ds.to_tf_dataset("train", batch_size=4)
    x_all, y_all = ds.arrays_for("train")
    xs, ys = [], []
    for x, y in tfds:
        assert x["sequence"].dtype == tf.float32 and x["epigenome"].dtype == tf.float32
        xs.append(x["epigenome"].numpy())
        ys.append(y.numpy())
    np.testing.assert_array_equal(np.concatenate(xs), x_all["epigenome"])
    np.testing.assert_array_equal(np.concatenate(ys), y_all)
    assert tfds.element_spec[0]["sequence"].shape.as_list() == [None, 2500, 4]

    def order(seed):
        sh = ds.to_tf_dataset("all", batch_size=5, shuffle=True, seed=seed)
        return [np.concatenate([y.numpy() for _, y in sh]) for _ in range(2)]

    e1, e2 = order(1)
    assert sorted(e1) == sorted(y for y in ds.arrays["expression"])
    assert not np.array_equal(e1, e2)  # reshuffled every epoch
    np.testing.assert_array_equal(order(1)[0], e1)  # reproducible for a seed
    rep = ds.to_tf_dataset("valid", batch_size=2, repeat=True)
    assert len(list(rep.take(20))) == 20


def test_cache_reuse_split_change_and_rebuild_after_input_change(world, tmp_path):
    table = tmp_path / "tpm.tsv"
    table.write_bytes(Path(world["table"]).read_bytes())
    cfg = _isegnet_cfg(world)
    cfg["samples"][0]["expression"] = str(table)
    out = tmp_path / "ds"
    ds1 = build("isegnet", cfg, out, progress=False)
    seq_inode = os.stat(out / "sequence.npy").st_ino
    ds2 = build("isegnet", cfg, out, progress=False)
    assert os.stat(out / "sequence.npy").st_ino == seq_inode  # reused, not rewritten
    assert ds2.meta["cache_key"] == ds1.meta["cache_key"]

    cfg2 = {**cfg, "split": {"method": "random", "fractions": [0.5, 0.25, 0.25], "seed": 5}}
    ds3 = build("isegnet", cfg2, out, progress=False)
    assert os.stat(out / "sequence.npy").st_ino == seq_inode  # only the index was rewritten
    assert Dataset.open(out).meta["split"]["seed"] == 5
    assert (Dataset.open(out).index["split"] == ds3.index["split"]).all()

    df = pd.read_csv(table, sep="\t")
    df.loc[df["gene_id"] == "gB", "rep1"] = 1234.0
    df.to_csv(table, sep="\t", index=False)
    assert ds3.is_stale()
    ds4 = build("isegnet", cfg2, out, progress=False)
    assert ds4.meta["cache_key"] != ds1.meta["cache_key"]
    i = int(np.flatnonzero(ds4.index["gene_id"] == "gB")[0])
    assert ds4.arrays["expression"][i] == pytest.approx(np.log2(1235.0))
    assert not ds4.is_stale()
    assert not list(tmp_path.glob("ds.tmp-*"))


def test_a_dataset_cached_by_an_earlier_build_revision_is_rebuilt(world, tmp_path,
                                                                   monkeypatch):
    """kerasgene's version never changed with a reader fix, so a dataset cached before
    the fix (a bedGraph read as peaks) was reused with the same files; the build revision
    is in the cache key now."""
    from kerasgene.datasets import storage

    out = tmp_path / "ds"
    monkeypatch.setattr(storage, "BUILD_REVISION", storage.BUILD_REVISION - 1)
    old = build("isegnet", _isegnet_cfg(world), out, progress=False)
    inode = os.stat(out / "sequence.npy").st_ino
    monkeypatch.undo()
    new = build("isegnet", _isegnet_cfg(world), out, progress=False)
    assert os.stat(out / "sequence.npy").st_ino != inode  # rewritten, not reused
    assert new.meta["cache_key"] != old.meta["cache_key"]
    assert (old.meta["build_revision"], new.meta["build_revision"]) == (
        storage.BUILD_REVISION - 1, storage.BUILD_REVISION)


def test_failed_build_leaves_no_partial_directory(world, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = regions_mod.extract_regions

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(regions_mod, "extract_regions", flaky)
    with pytest.raises(RuntimeError, match="disk full"):
        build("isegnet", _isegnet_cfg(world, chunk_size=4), tmp_path / "ds", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_open_rejects_pickled_and_mismatched_arrays(isegnet_ds, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(isegnet_ds.path, copy)
    np.save(copy / "expression.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match=r"expression\.npy"):
        Dataset.open(copy)
    np.save(copy / "expression.npy", np.zeros(3, np.float32))
    with pytest.raises(InputFileError, match="shape"):
        Dataset.open(copy)
    with pytest.raises(InputFileError, match="not a kerasgene dataset"):
        Dataset.open(tmp_path)


def test_isegnet_bad_input(world, tmp_path, caplog):
    with pytest.raises(ConfigError, match=r"'tss_flnk'.*did you mean 'tss_flank'"):
        build("isegnet", _isegnet_cfg(world, tss_flnk=[1000, 500]), tmp_path / "a")
    cfg = _isegnet_cfg(world)
    cfg["samples"][0]["expresion"] = "x"
    with pytest.raises(ConfigError, match="did you mean 'expression'"):
        build("isegnet", cfg, tmp_path / "a")
    with pytest.raises(ConfigError, match="did you mean 'isegnet'"):
        build("isegnett", {}, tmp_path / "a")
    bad = tmp_path / "none.tsv"
    bad.write_text("gene_id\tTPM\nzz1\t3\nzz2\t4\n")
    cfg = _isegnet_cfg(world)
    cfg["samples"][0].update(expression=str(bad), expression_column=None)
    with pytest.raises(InputFileError, match="none of its 2 gene ids"):
        build("isegnet", cfg, tmp_path / "a")
    with caplog.at_level(logging.WARNING, logger="kerasgene"):
        build("isegnet", _isegnet_cfg(world), tmp_path / "b", progress=False)
    assert ("isegnet: left out 1 (gene id absent from the annotation): notInGtf [bs1]; "
            "all listed in dropped.tsv") in caplog.text
    other = {"chr1": 20_000}
    write_bigwig(tmp_path / "short.bw", other, {"chr1": np.ones(20_000)})
    cfg = _isegnet_cfg(world)
    cfg["samples"][0]["tracks"]["WGBS"] = str(tmp_path / "short.bw")
    with pytest.raises(InputFileError, match="chromosomes differ"):
        build("isegnet", cfg, tmp_path / "c")
    with pytest.raises(ConfigError, match="'valid' set is empty"):
        build("isegnet", _isegnet_cfg(world, split={"method": "chromosome", "train": ["chr1"],
                                                    "test": ["chr2"]}), tmp_path / "d",
              progress=False)
    assert not (tmp_path / "d").exists()
    with pytest.raises(ConfigError, match="empty"):
        build("isegnet", _isegnet_cfg(world), tmp_path / "b", progress=False).to_tf_dataset("none", 4)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "precious.txt").write_text("x")
    with pytest.raises(ConfigError, match="not a kerasgene dataset"):
        build("isegnet", _isegnet_cfg(world), tmp_path / "e", progress=False)


# ----------------------------------------------------------------------------- DeepRAGE
@pytest.fixture(scope="module")
def yeast(tmp_path_factory):
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("yeast")
    genes = [f"Y{i:03d}" for i in range(30)]
    seqs = {g: "".join(rng.choice(list("ACGT"), 1000)) for g in genes}
    seqs["Y001"] = seqs["Y001"][:900]  # short promoter → N-padded on the 5' side
    seqs["Y002"] = "N" * 10 + seqs["Y002"][10:]
    write_fasta(d / "promoters.fa", {g: s for g, s in seqs.items() if g != "Y029"})
    conds = ["heat 5", "heat 10", "dtt", "diamide", "starve", "cold"]
    n_reg = 8
    states = rng.choice([-1, 0, 0, 1], size=(n_reg, len(conds)))
    with open(d / "reg_exp_RxE.tab", "w") as fh:
        for r, c in zip(*np.nonzero(states)):
            fh.write(f"{r + 1}\t{c + 1}\t{states[r, c]}\n")
    (d / "expt_names_E.txt").write_text("".join(f"{i + 1}\t{c}\n" for i, c in enumerate(conds)))
    (d / "reg_names_R.txt").write_text("".join(f"REG{i}\n" for i in range(n_reg)))
    lfc = np.round(rng.normal(0, 0.8, (len(genes), len(conds))), 3)
    lfc[0, 0] = -0.5
    lfc[0, 1] = 0.5
    lfc[3, 2] = np.nan
    order = [2, 0, 5, 1, 4, 3]  # expression columns in another order than the names file
    df = pd.DataFrame(lfc[:, order], columns=[conds[j] for j in order])
    df.insert(0, "gene", genes)
    df.to_csv(d / "logfc.tsv", sep="\t", index=False, na_rep="NA")
    cfg = {"expression": str(d / "logfc.tsv"), "regulators": str(d / "reg_exp_RxE.tab"),
           "regulator_names": str(d / "reg_names_R.txt"),
           "condition_names": str(d / "expt_names_E.txt"), "promoters": str(d / "promoters.fa")}
    return {"dir": d, "cfg": cfg, "genes": genes, "conds": conds, "states": states,
            "lfc": lfc, "seqs": seqs}


def test_deeprage_pairs_on_the_fly(yeast, tmp_path):
    ds = build("deeprage", yeast["cfg"], tmp_path / "dr", progress=False)
    a = ds.arrays
    assert ds.input_names == ["sequence", "regulators"]
    assert ds.input_shapes == {"sequence": (1000, 4), "regulators": (8,)}
    assert a["sequence"].shape == (29, 1000, 4) and a["regulators"].shape == (6, 8)
    assert len(ds) == 29 * 6 - 1  # Y029 has no promoter; one NaN label
    np.testing.assert_allclose(a["sequence"][1, 0], [0.31, 0.19, 0.19, 0.31])  # padding
    np.testing.assert_allclose(a["sequence"][2, 5], [0.31, 0.19, 0.19, 0.31])  # N
    np.testing.assert_array_equal(a["sequence"][0], one_hot(yeast["seqs"]["Y000"], 0))
    for i in np.random.default_rng(0).choice(len(ds), 25, replace=False):
        gene, cond = ds.index.loc[i, ["gene_id", "condition"]]
        gi, ci = yeast["genes"].index(gene), yeast["conds"].index(cond)
        x, y = ds.arrays_for([i])
        np.testing.assert_array_equal(x["regulators"][0], yeast["states"][:, ci])
        assert y[0] == pytest.approx(yeast["lfc"][gi, ci])
        cls = ds.arrays_for([i], target="class")[1][0]
        want = 0 if yeast["lfc"][gi, ci] <= -0.5 else 2 if yeast["lfc"][gi, ci] >= 0.5 else 1
        assert cls == want
    # thresholds are inclusive: -0.5 → down, 0.5 → up
    i = ds.index.index[(ds.index.gene_id == "Y000") & (ds.index.condition == "heat 5")][0]
    j = ds.index.index[(ds.index.gene_id == "Y000") & (ds.index.condition == "heat 10")][0]
    assert list(ds.arrays_for([i, j], target="class")[1]) == [0, 2]
    assert ds.meta["split"]["seed"] == 42
    counts = ds.split_counts
    assert counts["train"] == round(0.8 * len(ds))
    x, y = next(iter(ds.to_tf_dataset("train", 16, target="class")))
    assert x["sequence"].shape == (16, 1000, 4) and y.dtype.name == "int32"


def test_deeprage_splits_and_grouped_batches(yeast, tmp_path):
    cfg = {**yeast["cfg"], "classes": 5,
           "split": {"method": "unseen_gene", "fractions": [0.6, 0.2, 0.2], "seed": 1}}
    ds = build("deeprage", cfg, tmp_path / "dr", progress=False)
    assert ds.meta["n_classes"] == 5 and ds.meta["class_thresholds"] == [-1.0, -0.5, 0.5, 1.0]
    tr = set(ds.index.gene_id[ds.index.split == "train"])
    te = set(ds.index.gene_id[ds.index.split == "test"])
    assert tr and te and not tr & te
    dc = ds.with_split({"method": "unseen_condition", "fractions": [0.5, 0.25, 0.25], "seed": 0})
    assert not set(dc.index.condition[dc.index.split == "train"]) & set(
        dc.index.condition[dc.index.split == "valid"])
    seen = 0
    for x, y, mask in ds.grouped_batches("train", 7, 4, shuffle=True, seed=3):
        assert x["sequence"].shape[0] == y.shape[0] and x["regulators"].shape[0] == y.shape[1]
        seen += int(mask.sum())
    assert seen == ds.split_counts["train"]
    gtf = ds.to_grouped_tf_dataset("train", 7, 4, shuffle=True)
    total = [sum(float(m.numpy().sum()) for _, _, m in gtf) for _ in range(2)]
    assert total == [seen, seen]


def test_deeprage_unseen_splits_hold_out_shared_inputs_together(yeast, tmp_path, caplog):
    """Two conditions of one regulator-state vector and two genes of one promoter are
    held out together by the unseen splits (a held-out pair was, input for input, a
    training pair at some seeds, without a word), at the build and at a re-split, and
    named in one warning each; ``random`` is split as before."""
    d = tmp_path / "in"
    d.mkdir()
    states = yeast["states"].copy()
    states[:, 5] = states[:, 4]  # "cold" = "starve"
    with open(d / "reg_exp_RxE.tab", "w") as fh:
        for r, c in zip(*np.nonzero(states)):
            fh.write(f"{r + 1}\t{c + 1}\t{states[r, c]}\n")
    seqs = {g: s for g, s in yeast["seqs"].items() if g != "Y029"}
    seqs["Y029"] = seqs["Y007"]  # one promoter, two gene ids
    write_fasta(d / "promoters.fa", seqs)
    cfg = {**yeast["cfg"], "regulators": str(d / "reg_exp_RxE.tab"),
           "promoters": str(d / "promoters.fa")}
    caplog.set_level("WARNING", "kerasgene.datasets")
    labels = {}
    for seed in range(6):
        spec = {"method": "unseen_pair", "fractions": [0.5, 0.25, 0.25], "seed": seed}
        ds = build("deeprage", {**cfg, "split": spec}, tmp_path / "dr", progress=False)
        idx = ds.index
        for col, members in (("condition", ["starve", "cold"]), ("gene_id", ["Y007", "Y029"])):
            sets = [set(idx.split[idx[col] == m]) - {"none"} for m in members]
            assert sets[0] == sets[1], (seed, col)
        labels[seed] = idx.split.to_numpy()
    messages = [r.getMessage() for r in caplog.records if "held out together" in r.getMessage()]
    assert messages[:2] == [
        "split unseen_pair: 2 of the 30 genes share their promoter sequence with another and "
        "are held out together, in 1 group(s) (a held-out pair would otherwise repeat a "
        "training pair's input; the sets' sizes follow the groups'): Y007, Y029 (2)",
        "split unseen_pair: 2 of the 6 conditions share their regulator states, or their "
        "name (x, x#2, ...), with another and are held out together, in 1 group(s) (a "
        "held-out pair would otherwise repeat a training pair's input; the sets' sizes "
        "follow the groups'): cold, starve (2)"]
    again = ds.with_split({"method": "unseen_pair", "fractions": [0.5, 0.25, 0.25], "seed": 2})
    assert (again.index.split.to_numpy() == labels[2]).all()
    caplog.clear()
    rnd = ds.with_split({"method": "random", "fractions": [0.8, 0.1, 0.1], "seed": 42})
    assert (rnd.index.split.to_numpy() == splits.random_split(len(ds), (0.8, 0.1, 0.1), 42)).all()
    assert not caplog.records


def test_factorized_validation_scores_the_valid_pairs_whatever_the_blocks(yeast, tmp_path):
    """fit_blocks validates on blocks of every condition (not the training blocks of 7
    genes × 2 conditions): its val_r2 is the R² of the model's own pair predictions on
    the valid split."""
    import keras

    from kerasgene.metrics import regression_metrics
    from kerasgene.models import build as build_model
    from kerasgene.train.block_trainer import fit_blocks

    ds = build("deeprage", yeast["cfg"], tmp_path / "dr", progress=False)
    keras.utils.set_random_seed(0)
    model = build_model("deeprage_tensor", seq_len=1000, n_regulators=8, filters=6,
                        filter_length=5, regulator_units=4, units=10, dropout=0.0)
    tcfg = {"optimizer": "adam", "learning_rate": 0.01, "epochs": 1, "verbose": 0,
            "patience": 5, "reduce_lr_patience": 5}
    fit_blocks(model, ds, tcfg, 7, 2, tmp_path, seed=0)
    x, y = ds.arrays_for(ds.split_indices("valid"))
    pred = model.predict(x, verbose=0)["expression"].ravel()
    history = pd.read_csv(tmp_path / "history.csv")
    assert history.val_r2[0] == pytest.approx(regression_metrics(y, pred)["r2"], abs=1e-5)


@pytest.mark.parametrize("name, kw, target", [
    ("deeprage_concat", {}, "expression"),
    ("deeprage_tensor", {"task": "classification"}, "class"),
    ("deeprage_rnn", {"pool_size": 10, "rnn_units": 4}, "expression")],
    ids=["C", "TP-classes", "RNN"])
def test_run_predictions_of_pairs_are_the_models_own_in_index_order(yeast, tmp_path, name,
                                                                   kw, target):
    """A run's test predictions (:func:`kerasgene.train.evaluation.predict_split`: DeepRAGE-C
    and -TP through the factorised pair outputs, the RNN pair by pair) are the model's
    own predictions of each pair of the split, in index order, and its labels."""
    import keras

    from kerasgene.models import build as build_model
    from kerasgene.train.block_trainer import predict_pairs
    from kerasgene.train.evaluation import predict_split

    ds = build("deeprage", {**yeast["cfg"], "target": target}, tmp_path / "dr", progress=False)
    keras.utils.set_random_seed(0)
    model = build_model(name, seq_len=1000, n_regulators=8, filters=6, filter_length=5,
                        regulator_units=4, units=10, **kw)
    assert (predict_pairs(model, ds, "test") is None) == (name == "deeprage_rnn")
    for split in ("valid", "test"):
        idx = ds.split_indices(split)
        x, y = ds.arrays_for(idx)
        expected = model.predict(x, verbose=0)
        expected = np.asarray(next(iter(expected.values())) if isinstance(expected, dict)
                              else expected)
        observed, pred = predict_split(model, ds, split)
        np.testing.assert_array_equal(observed, y)
        np.testing.assert_allclose(pred, expected[:, 0] if target == "expression" else expected,
                                   rtol=1e-5, atol=1e-6)


def test_deeprage_bad_input(yeast, tmp_path):
    names = tmp_path / "names.txt"
    names.write_bytes(b"1\tHeat 0 min hs-2\tR\r\n2\tHeat 0 min hs-2\tR\r\n3\tcold\r\n")
    assert read_names(names) == ["Heat 0 min hs-2 R"] * 2 + ["cold"]
    assert unique_labels(read_names(names)) == [
        "Heat 0 min hs-2 R", "Heat 0 min hs-2 R#2", "cold"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("gene\ta\tb\tR\tc\nY000\t1\t2\t3\n")
    with pytest.raises(InputFileError, match="header has 5 fields but the first row has 4"):
        build("deeprage", {**yeast["cfg"], "expression": str(bad)}, tmp_path / "x")
    # ... unless the condition list explains it (the real names contain a tab)
    conds = yeast["conds"]
    tabbed = tmp_path / "tabbed_names.txt"
    tabbed.write_text("".join(f"{i + 1}\t{c.replace(' ', chr(9), 1) if i < 2 else c}\r\n"
                              for i, c in enumerate(conds)))
    df = pd.read_csv(yeast["cfg"]["expression"], sep="\t", index_col=0)[conds]
    raw = ["\t".join(["gene", *[c.replace(" ", "\t", 1) if i < 2 else c
                                 for i, c in enumerate(conds)]])]
    raw += ["\t".join([g, *map(str, row)]) for g, row in zip(df.index, df.to_numpy())]
    (tmp_path / "tabbed.tsv").write_text("\n".join(raw) + "\n")
    ds = build("deeprage", {**yeast["cfg"], "expression": str(tmp_path / "tabbed.tsv"),
                            "condition_names": str(tabbed)}, tmp_path / "t", progress=False)
    assert ds.conditions[:3] == ["heat 5", "heat 10", "dtt"] and len(ds.conditions) == 6
    i = ds.index.index[(ds.index.gene_id == "Y004") & (ds.index.condition == "heat 10")][0]
    assert ds.arrays_for([i])[1][0] == pytest.approx(yeast["lfc"][4, 1])
    np.testing.assert_array_equal(ds.arrays_for([i])[0]["regulators"][0], yeast["states"][:, 1])
    with pytest.raises(ConfigError, match="did you mean 'promoter_length'"):
        build("deeprage", {**yeast["cfg"], "promotor_length": 500}, tmp_path / "x")
    cfg = {**yeast["cfg"], "promoters": None}
    with pytest.raises(ConfigError, match="promoters"):
        build("deeprage", cfg, tmp_path / "x")
    other = tmp_path / "other.fa"
    write_fasta(other, {"nope": "ACGT" * 10})
    with pytest.raises(InputFileError, match="no expression gene id has a promoter"):
        build("deeprage", {**yeast["cfg"], "promoters": str(other)}, tmp_path / "x")


def test_deeprage_gene_column_bom_and_ambiguity_codes(yeast, tmp_path, caplog):
    """A gene column the header lacks is a one-line error (was a ValueError traceback),
    a BOM before the header is not part of the column name, and IUPAC codes in a promoter
    (encoded like N) are counted and named."""
    text = Path(yeast["cfg"]["expression"]).read_text()
    with pytest.raises(InputFileError, match=r"logfc\.tsv: no gene-id column 'ORF'"):
        build("deeprage", {**yeast["cfg"], "gene_column": "ORF"}, tmp_path / "x")
    bom = tmp_path / "bom.tsv"
    bom.write_text("\ufeff" + text, encoding="utf-8")
    ds = build("deeprage", {**yeast["cfg"], "expression": str(bom), "gene_column": "gene"},
               tmp_path / "b", progress=False)
    assert len(ds.conditions) == 6
    head, rest = text.split("\n", 1)  # a blank line after the header: skipped, as pandas does
    (tmp_path / "blank.tsv").write_text(head + "\n\n" + rest)
    ds = build("deeprage", {**yeast["cfg"], "expression": str(tmp_path / "blank.tsv")},
               tmp_path / "n", progress=False)
    assert len(ds.conditions) == 6
    seqs = {g: s for g, s in yeast["seqs"].items() if g != "Y029"}
    seqs["Y005"] = seqs["Y005"][:-20] + "RYKM" + seqs["Y005"][-16:]
    write_fasta(tmp_path / "iupac.fa", seqs)
    with caplog.at_level(logging.WARNING):
        build("deeprage", {**yeast["cfg"], "promoters": str(tmp_path / "iupac.fa")},
              tmp_path / "i", progress=False)
    assert ("deeprage: 1 promoters hold 4 characters other than A, C, G, T, N (IUPAC "
            "ambiguity codes), encoded like N (e.g. Y005)") in caplog.text


# ----------------------------------------------------------------------------- histone bins
MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")


@pytest.fixture(scope="module")
def histone_world(world):
    rng = np.random.default_rng(11)
    d = world["dir"] / "histone"
    d.mkdir()
    signals = {}
    cells = {}
    for cell in ("cellA", "cellB"):
        marks = {}
        for m in MARKS:
            sig = {c: _runs(rng, n, 2.0) for c, n in SIZES.items()}
            write_bigwig(d / f"{cell}_{m}.bw", SIZES, sig)
            signals[cell, m] = sig
            marks[m] = str(d / f"{cell}_{m}.bw")
        cells[cell] = {"marks": marks}
    ids = [g[0] for g in world["genes"]]
    expr = pd.DataFrame({"gene_id": ids, "cellA": np.round(rng.gamma(1, 10, len(ids)), 2),
                         "cellB": np.round(rng.gamma(1, 10, len(ids)), 2)})
    expr.to_csv(d / "expr.tsv", sep="\t", index=False)
    cfg = {"cells": cells, "gtf": world["gtf"], "fasta": world["fasta"],
           "expression": str(d / "expr.tsv")}
    return {"dir": d, "cfg": cfg, "signals": signals, "expr": expr}


def test_histone_kmers_through_a_chromosome_alias_table(world, histone_world, tmp_path):
    """A GTF naming chromosomes by RefSeq accession beside a chr-named FASTA and bigWigs,
    with their alias table: with k-mers, every gene was left out as on an unknown
    chromosome (the screen opened the FASTA without the aliases)."""
    acc = {c: f"NC_00000{i}.1" for i, c in enumerate(SIZES, 1)}
    gtf = tmp_path / "refseq.gtf"
    gtf.write_text("".join(acc.get(ln.split("\t", 1)[0], "") + "\t" + ln.split("\t", 1)[1]
                           if not ln.startswith("#") else ln
                           for ln in Path(world["gtf"]).read_text().splitlines(keepends=True)))
    alias = tmp_path / "chromAlias.txt"
    alias.write_text("# ucsc\trefseq\n" + "".join(f"{c}\t{a}\n" for c, a in acc.items()))
    cfg = {**histone_world["cfg"], "gtf": str(gtf), "chrom_aliases": str(alias),
           "kmers": {"k": 3, "min_count": 3000},
           "split": {"method": "random", "group": "gene_id", "seed": 0}}
    ds = build("histone", cfg, tmp_path / "h", progress=False)
    assert len(ds) == 2 * len(world["genes"])


def test_histone_checks_lengths_options_and_kmer_alphabets(world, histone_world, tmp_path,
                                                           caplog):
    """Chromosome lengths came from the first cell's first bigWig only: a cell whose chr2
    is shorter read 0 past its end (or, cells swapped, the build failed); bad kmers
    options were tracebacks after every bigWig was read; log_base 1 gave inf labels."""
    short = tmp_path / "short"
    short.mkdir()
    sizes = {**SIZES, "chr2": SIZES["chr2"] - 2000}
    marks = {}
    for m in MARKS:
        write_bigwig(short / f"{m}.bw", sizes,
                     {c: histone_world["signals"]["cellB", m][c][:n] for c, n in sizes.items()})
        marks[m] = str(short / f"{m}.bw")
    cfg = {**histone_world["cfg"], "cells": {**histone_world["cfg"]["cells"],
                                             "cellB": {"marks": marks}},
           "split": {"method": "random", "group": "gene_id", "seed": 0}}
    with caplog.at_level(logging.WARNING):
        ds = build("histone", cfg, tmp_path / "h", progress=False)
    assert set(ds.index.chrom) == {"chr1"}
    assert set(_dropped(ds).reason) == {"chrom_length_mismatch"}
    for kmers, message in [({"k": 0}, r"kmers\.k: expected an integer from 1 to 8"),
                           ({"min_count": None}, r"kmers\.min_count: expected an integer >= 0"),
                           ({"alphabet": "ACGT"}, r"kmers\.alphabet: expected distinct letters "
                                                  r"ending in N")]:
        with pytest.raises(ConfigError, match=message):
            build("histone", {**histone_world["cfg"], "kmers": kmers}, tmp_path / "x")
    with pytest.raises(ConfigError, match=r"histone\.log_base: expected a number > 0 other than 1"):
        build("histone", {**histone_world["cfg"], "log_base": 1}, tmp_path / "x")


def test_histone_bigwig_stats_and_kmers(world, histone_world, tmp_path):
    cfg = {**histone_world["cfg"], "cell_stats": True, "kmers": {"k": 3, "min_count": 3000},
           "split": {"method": "unseen_cell", "test": ["cellB"], "valid": []}}
    with pytest.raises(ConfigError, match="'valid' set is empty"):
        build("histone", cfg, tmp_path / "h0", progress=False)
    cfg["split"] = {"method": "random", "group": "gene_id", "seed": 0}
    ds = build("histone", cfg, tmp_path / "h", progress=False)
    n_genes = len(world["genes"])
    k = len(ds.meta["kmers"])
    kept = set(ds.meta["kmers"])
    assert set(kmer_names(3, "ACGT")) <= kept and k < 125
    assert "NNN" in kept  # N-padding of genes near chromosome ends is frequent too
    assert ds.input_names == ["histone"] and ds.input_shapes["histone"] == (100, 15 + k)
    assert len(ds) == 2 * n_genes and ds.arrays["kmers"].shape == (n_genes, 100, k)
    x, y = ds.arrays_for("all")
    # hand-check a minus-strand gene: TSS ± 5 kb, 100 bp bins, 5'→3'
    i = int(np.flatnonzero((ds.index.gene_id == "gB") & (ds.index.cell == "cellB"))[0])
    _, chrom, _start, end, _strand = FIXED_GENES[1]
    tss = end - 1
    lo, hi = tss - 4999, tss + 5001
    for c, m in enumerate(MARKS):
        raw = histone_world["signals"]["cellB", m][chrom][lo:hi][::-1]
        np.testing.assert_allclose(x["histone"][i, :, c], raw.reshape(100, 100).mean(1), rtol=1e-5)
    seq = reverse_complement(world["seqs"][chrom][lo:hi])
    names = kmer_names(3)
    cols = [names.index(km) for km in ds.meta["kmers"]]
    np.testing.assert_array_equal(x["histone"][i, :, 15:], kmer_counts(seq, 3, 100)[cols].T)
    # cell statistics: mean and std over the cell type's genes
    cell_b = (ds.index.cell == "cellB").to_numpy()
    np.testing.assert_allclose(x["histone"][i, :, 5:10], x["histone"][cell_b, :, :5].mean(0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x["histone"][i, :, 10:15], x["histone"][cell_b, :, :5].std(0),
                               rtol=1e-3, atol=1e-4)
    want = np.log2(histone_world["expr"].set_index("gene_id").loc["gB", "cellB"] + 1)
    assert y[i] == pytest.approx(want, rel=1e-5)
    cls = ds.arrays_for("all", target="class")[1]
    med = np.median(histone_world["expr"]["cellA"])
    a_rows = ~cell_b
    want = (histone_world["expr"].set_index("gene_id").loc[ds.index.gene_id[a_rows], "cellA"]
            > med).to_numpy()
    np.testing.assert_array_equal(cls[a_rows], want.astype(int))
    with pytest.raises(ConfigError, match="'train' set is empty"):
        ds.with_split({"method": "unseen_cell", "test": ["cellB"], "valid": ["cellA"]})
    folds = ds.folds("train", k=3)  # by gene: a member holds out whole genes
    genes = ds.index["gene_id"].to_numpy()
    for fit, hold in folds:
        assert len(fit) + len(hold) == len(ds.split_indices("train"))
        assert not set(genes[fit]) & set(genes[hold])


def _write_deepchrome_csv(path, ids, marks, labels, header=False):
    with open(path, "w") as fh:
        if header:
            fh.write("GeneID,BinID," + ",".join(MARKS) + ",label\n")
        for gid, m, lab in zip(ids, marks, labels):
            for b in range(100):
                fh.write(f"{gid},{b + 1}," + ",".join(str(int(v)) for v in m[b]) + f",{lab}\n")


def test_histone_deepchrome_csv_and_kaggle_npz(tmp_path):
    rng = np.random.default_rng(5)
    files = {}
    truth = {}
    for split, n in (("train", 12), ("valid", 4), ("test", 4)):
        ids = [f"{split}{i:04d}" for i in range(n)]
        marks = rng.integers(0, 20, (n, 100, 5))
        labels = rng.integers(0, 2, n)
        _write_deepchrome_csv(tmp_path / f"{split}.csv", ids, marks, labels, header=split == "test")
        files[split] = str(tmp_path / f"{split}.csv")
        truth.update({g: (m, lab) for g, m, lab in zip(ids, marks, labels)})
    ds = build("histone", {"cells": {"E003": files}, "label": "binary"}, tmp_path / "dc",
               progress=False)
    assert ds.target_name == "class" and ds.targets == ["class"]
    assert ds.input_shapes["histone"] == (100, 5)
    assert ds.split_counts == {"train": 12, "valid": 4, "test": 4, "none": 0}
    x, y = ds.arrays_for("test")
    gid = ds.index.gene_id[ds.split_indices("test")[0]]
    np.testing.assert_array_equal(x["histone"][0], truth[gid][0])
    assert y[0] == truth[gid][1]
    with pytest.raises(ConfigError, match="binary"):
        build("histone", {"cells": {"E003": files}}, tmp_path / "dc2")

    genes = rng.integers(1, 10**6, 30)
    arrs = {}
    for cell in ("E1", "E2", "E3"):
        arr = np.zeros((30, 100, 7))
        arr[:, :, 0] = genes[:, None]
        arr[:, :, 1:6] = rng.integers(0, 30, (30, 100, 5))
        arr[:, :, 6] = rng.gamma(1, 2, 30)[:, None]
        arrs[cell] = arr
    np.savez(tmp_path / "train.npz", **arrs)
    ds = build("histone", {"npz": str(tmp_path / "train.npz"), "cell_stats": True,
                           "split": {"method": "unseen_cell", "valid": ["E2"], "test": ["E3"]}},
               tmp_path / "kg", progress=False)
    assert ds.input_shapes["histone"] == (100, 15) and len(ds) == 90
    assert set(ds.index.cell[ds.index.split == "test"]) == {"E3"}
    x, y = ds.arrays_for("test")
    np.testing.assert_array_equal(x["histone"][:, :, :5], arrs["E3"][:, :, 1:6])
    np.testing.assert_allclose(x["histone"][0, :, 5:10], arrs["E3"][:, :, 1:6].mean(0), rtol=1e-5)
    np.testing.assert_allclose(y, arrs["E3"][:, 0, 6], rtol=1e-6)  # npz values used as given
    assert ds.index.gene_id[0] == str(int(genes[0]))


def test_npz_files_named_by_set_are_the_split_and_merged_ones_are_said(tmp_path, caplog):
    """Kaggle's train.npz + eval.npz (a cell type only in eval): merged and split at random
    by gene, with a warning that the files' division is not kept (the demo's notebook
    claimed that cell type unseen); files named train / valid / test are the split."""
    rng = np.random.default_rng(2)

    def npz(path, cells, genes):
        arrs = {}
        for cell in cells:
            arr = np.zeros((len(genes), 100, 7))
            arr[:, :, 0] = np.asarray(genes)[:, None]
            arr[:, :, 1:6] = rng.integers(0, 30, (len(genes), 100, 5))
            arr[:, :, 6] = rng.gamma(1, 2, len(genes))[:, None]
            arrs[cell] = arr
        np.savez(path, **arrs)
        return str(path)

    train = npz(tmp_path / "train.npz", ("E1", "E2"), range(1, 41))
    valid = npz(tmp_path / "valid.npz", ("E1", "E2"), range(41, 51))
    test = npz(tmp_path / "eval.npz", ("E1", "E2", "E3"), range(51, 61))
    with caplog.at_level(logging.WARNING):
        ds = build("histone", {"npz": {"train": train, "eval": test}}, tmp_path / "a",
                   progress=False)
    assert ds.meta["split"]["method"] == "random"
    assert "E3" in set(ds.index.cell[ds.split_indices("train")])
    assert ("histone: split random over the merged npz files (train: E1, E2; eval: E1, E2, "
            "E3): their division is not kept: the genes of a file not named train / valid / "
            "test may be trained on, and cell types absent from the train file (E3) are "
            "trained on; name every file train, valid or test") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ds = build("histone", {"npz": {"train": train, "valid": valid, "test": test}},
                   tmp_path / "b", progress=False)
    assert ds.meta["split"] == {"method": "given"} and "npz files" not in caplog.text
    assert set(ds.index.cell[ds.split_indices("train")]) == {"E1", "E2"}
    assert ds.split_counts == {"train": 80, "valid": 20, "test": 30, "none": 0}


def test_read_real_deepchrome_toy_csv():
    """The authors' toy file (tests/data/README.md) reads as DeepChrome's layout."""
    ids, marks, labels = read_deepchrome_csv(Path(__file__).parent / "data" / "deepchrome_toy"
                                             / "train.csv")
    assert marks.shape == (len(ids), 100, 5) and ids[0] == "000003"
    assert set(np.unique(labels)) <= {0, 1}


# ----------------------------------------------------------------------------- chromatin bins
@pytest.fixture(scope="module")
def chromatin_world(tmp_path_factory):
    rng = np.random.default_rng(9)
    d = tmp_path_factory.mktemp("chromatin")
    sizes = {"chrA": 10_000, "chrB": 6_025}
    sig = {}
    for name in ("plus", "minus", "K4", "K27"):
        vals = {c: _runs(rng, n, 1.0, p_zero=0.6) * (-1 if name == "minus" else 1)
                for c, n in sizes.items()}
        write_bigwig(d / f"{name}.bw", sizes, vals)
        sig[name] = vals
    cfg = {"signal": {"plus": str(d / "plus.bw"), "minus": str(d / "minus.bw")},
           "targets": {"K4": str(d / "K4.bw"), "K27": str(d / "K27.bw")},
           "window": 21, "sigma": 2, "split": {"method": "chromosome", "train": ["chrA:0-0.5"],
                                               "valid": ["chrA:0.5-1"], "test": ["chrB"]}}
    return {"dir": d, "cfg": cfg, "sig": sig, "sizes": sizes}


def _binned(v, size=50):
    n = -(-len(v) // size)
    return np.pad(v, (0, n * size - len(v))).reshape(n, size).mean(1)


def test_chromatin_windows_smoothing_weights(chromatin_world, tmp_path):
    cw = chromatin_world
    ds = build("chromatin", cw["cfg"], tmp_path / "ch", progress=False)
    assert ds.input_names == ["signal"] and ds.input_shapes == {"signal": (21, 2)}
    assert ds.split_counts == {"train": 100, "valid": 100, "test": 121, "none": 0}
    assert ds.target_name == "K4"
    x, y, w = ds.arrays_for("all", with_weights=True)
    for chrom, first in (("chrA", 0), ("chrB", 200)):
        plus = _binned(cw["sig"]["plus"][chrom])
        minus = np.abs(_binned(cw["sig"]["minus"][chrom]))
        k4 = gaussian_filter1d(_binned(cw["sig"]["K4"][chrom]), 2)
        padded = np.pad(np.stack([plus, minus], 1), ((10, 10), (0, 0)))
        for k in (0, 3, 57, len(plus) - 1):  # edges are zero-padded
            np.testing.assert_allclose(x["signal"][first + k], padded[k : k + 21], rtol=1e-5, atol=1e-6)
            assert y[first + k] == pytest.approx(k4[k], rel=1e-4, abs=1e-6)
            assert w[first + k] == float(y[first + k] != 0)
    tfds = ds.to_tf_dataset("test", 32, target="K27")
    xb, yb, wb = next(iter(tfds))
    assert xb["signal"].shape == (32, 21, 2) and wb.shape == (32,)
    k27 = gaussian_filter1d(_binned(cw["sig"]["K27"]["chrB"]), 2)
    np.testing.assert_allclose(yb.numpy(), k27[:32], rtol=1e-4, atol=1e-6)
    # stride and re-split
    ds2 = build("chromatin", {**cw["cfg"], "stride": 3}, tmp_path / "ch3", progress=False)
    assert ds2.split_counts["test"] == 41
    x2, _ = ds2.arrays_for("test")
    np.testing.assert_array_equal(x2["signal"][1], x["signal"][200 + 3])
    merged = build("chromatin", {**cw["cfg"], "merge_signal": True}, tmp_path / "chm",
                   progress=False)
    xm, _ = merged.arrays_for([0, 57])
    assert merged.input_shapes == {"signal": (21, 1)}
    np.testing.assert_allclose(xm["signal"][..., 0], x["signal"][[0, 57]].sum(-1), rtol=1e-6)
    with pytest.raises(ConfigError, match="overlaps"):
        build("chromatin", {**cw["cfg"], "split": {"method": "chromosome", "train": ["chrA"],
                                                   "valid": ["chrA:0-0.1"], "test": ["chrB"]}},
              tmp_path / "bad")
    with pytest.raises(ConfigError, match="not in the dataset"):
        ds.with_split({"method": "chromosome", "train": ["chr9"], "valid": ["chrA"],
                       "test": ["chrB"]})


def test_chromatin_differing_chromosomes(chromatin_world, tmp_path):
    write_bigwig(tmp_path / "other.bw", {"chrA": 10_000}, {"chrA": np.ones(10_000)})
    cfg = {**chromatin_world["cfg"], "targets": {"K4": str(tmp_path / "other.bw")}}
    with pytest.raises(InputFileError, match="chromosomes differ"):
        build("chromatin", cfg, tmp_path / "x")
    ds = build("chromatin", {**cfg, "chroms": ["chrA"], "split": {
        "method": "chromosome", "train": ["chrA:0-0.6"], "valid": ["chrA:0.6-0.8"],
        "test": ["chrA:0.8-1"]}}, tmp_path / "y", progress=False)
    assert ds.chroms == ["chrA"] and len(ds) == 200


def _smoothed_k4(cw, chrom):
    return gaussian_filter1d(_binned(cw["sig"]["K4"][chrom]), 2)


def test_chromatin_binary_labels_from_a_threshold(chromatin_world, tmp_path):
    cw = chromatin_world
    cfg = {**cw["cfg"], "label": "binary", "peak_threshold": 1.2}
    ds = build("chromatin", cfg, tmp_path / "ch", progress=False)
    assert (ds.target_name, ds.targets, ds.mark) == ("class", ["K4", "K27", "class"], "K4")
    assert ds.meta["n_classes"] == 2
    _, y = ds.arrays_for("all")
    _, k4 = ds.arrays_for("all", target="K4")
    want = np.concatenate([_smoothed_k4(cw, c) >= 1.2 for c in ("chrA", "chrB")])
    assert y.dtype == np.int32 and 0 < want.mean() < 1
    np.testing.assert_array_equal(y, want.astype(np.int32))
    np.testing.assert_array_equal(y, (k4 >= 1.2).astype(np.int32))  # same smoothed values
    assert ds.meta["peak_fraction"] == pytest.approx(want.mean())
    batch = next(iter(ds.to_tf_dataset("test", 16)))  # no sample weight for classes
    assert len(batch) == 2 and batch[1].dtype.name == "int32" and batch[1].shape == (16,)


def _write_narrowpeak(path, rows):
    import gzip

    lines = ["track type=narrowPeak name=test"]
    lines += [f"{c}\t{a}\t{b}\tpeak{i}\t100\t.\t5.0\t-1\t3.2\t10"
              for i, (c, a, b) in enumerate(rows)]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


def test_chromatin_binary_labels_from_peaks(chromatin_world, tmp_path):
    # bin k = [50k, 50k + 50); chromosomes named without "chr" (aliases) and one unknown
    peaks = [("A", 100, 125), ("A", 160, 170), ("A", 190, 230), ("A", 220, 260),
             ("Z", 0, 500), ("B", 6000, 6025)]
    _write_narrowpeak(tmp_path / "k4.narrowPeak.gz", peaks)
    cfg = {**chromatin_world["cfg"], "label": "binary", "peaks": str(tmp_path / "k4.narrowPeak.gz")}
    half = build("chromatin", cfg, tmp_path / "half", progress=False)
    _, y = half.arrays_for("all")
    # 25 of 50 bp in bin 2; 10 + 10 in bin 3 (two peaks); 50 in bin 4 (two overlapping
    # peaks counted once); 10 in bin 5; chrB's last bin (25 bp long) fully covered
    assert np.flatnonzero(y).tolist() == [2, 4, 200 + 120]
    anyb = build("chromatin", {**cfg, "peak_overlap": 0}, tmp_path / "any", progress=False)
    assert np.flatnonzero(anyb.arrays_for("all")[1]).tolist() == [2, 3, 4, 5, 320]
    _write_narrowpeak(tmp_path / "past.bed.gz", [("chrB", 6000, 6100)])
    with pytest.raises(InputFileError, match=r"past\.bed\.gz: peak chrB:6000-6100 ends past "
                                             r"the chromosome's end \(6,025 bp"):
        build("chromatin", {**cfg, "peaks": str(tmp_path / "past.bed.gz")}, tmp_path / "x")
    _write_narrowpeak(tmp_path / "other.bed.gz", [("chrZ", 0, 100)])
    with pytest.raises(InputFileError, match="no peak on the dataset's chromosomes"):
        build("chromatin", {**cfg, "peaks": str(tmp_path / "other.bed.gz")}, tmp_path / "x")
    (tmp_path / "bad.bed").write_text("chrA\t10\t20\nchrA\t30\n")
    with pytest.raises(InputFileError, match=r"bad\.bed:2: 2 columns; expected at least 3"):
        build("chromatin", {**cfg, "peaks": str(tmp_path / "bad.bed")}, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_peak_bins_match_base_level_coverage():
    from kerasgene.datasets.peak_labels import peak_bins

    rng = np.random.default_rng(3)
    starts = rng.integers(0, 2000, 40)
    ends = starts + rng.integers(1, 120, 40)
    bases = np.zeros(2050, bool)
    for a, b in zip(starts, ends):
        bases[a:b] = True
    covered = bases.reshape(41, 50).sum(1)
    for need in (1, 25, 50):
        np.testing.assert_array_equal(peak_bins(starts, ends, 41, 50, need), covered >= need)
    assert not peak_bins(np.empty(0), np.empty(0), 3, 50).any()


@pytest.mark.parametrize(("extra", "message"), [
    ({"label": "binary"}, "binary needs exactly one of peaks .* got neither"),
    ({"label": "binary", "peak_threshold": 1, "peaks": "k4.bed"}, "exactly one of"),
    ({"peak_threshold": 1.0}, "chromatin.peak_threshold: used only by the binary task"),
    ({"label": "peaks"}, "chromatin.label: expected regression or binary, got 'peaks'"),
    ({"label": "binary", "peak_threshold": "high"}, "peak_threshold: expected a number"),
    ({"label": "binary", "peak_threshold": 1, "peak_overlap": 1.5},
     r"peak_overlap: expected a fraction of the bin in \[0, 1\], got 1.5"),
    ({"label": "binary", "peak_threshold": 1e6},
     "chromatin.peak_threshold: no bin of K4 reaches 1000000.0"),
])
def test_chromatin_binary_config_errors(chromatin_world, tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        build("chromatin", {**chromatin_world["cfg"], **extra}, tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_meta_json_records_inputs(isegnet_ds, world):
    meta = json.loads((isegnet_ds.path / "meta.json").read_text())
    for key in ("task", "cache_key", "kerasgene_version", "params", "inputs", "arrays"):
        assert key in meta
    fasta = meta["inputs"]["fasta"]
    assert fasta["path"] == str(Path(world["fasta"]).resolve())
    assert {"size", "mtime_ns", "sha256_prefix"} <= set(fasta)
    assert meta["arrays"]["sequence"]["dtype"] == "|u1"
    assert splits.SETS == ("train", "valid", "test")


# ----------------------------------------------------------------------------- what is left out
def _dropped(ds) -> pd.DataFrame:
    return pd.read_csv(ds.path / "dropped.tsv", sep="\t", dtype=str, keep_default_na=False)


def test_isegnet_dropped_tsv_lists_every_left_out_example(isegnet_ds, world):
    got = _dropped(isegnet_ds)
    assert list(got.columns) == ["example", "context", "chrom", "start", "end", "reason",
                                 "detail", "strand"]
    assert got[["example", "context", "chrom", "start", "end", "reason"]].values.tolist() == [
        ["notInGtf", "bs1", "", "", "", "not_in_annotation"],
        ["gE", "bs1", "chr1", "12000", "15000", "zero_expression"]]
    assert got["strand"].tolist() == ["", "+"]  # a gene's strand, where it is known
    assert isegnet_ds.meta["dropped"] == {"not_in_annotation": 1, "zero_expression": 1}
    assert len(isegnet_ds) + len(got) == len(world["genes"]) + 1


def _variant_world(world, tmp_path, extra_genes, rows, *, gff3=False):
    """The world's GTF (or the same genes as GFF3) plus ``extra_genes``, and its TPM
    table plus ``rows`` (gene id → TPM text)."""
    genes = list(world["genes"]) + list(extra_genes)
    ann = tmp_path / ("genes.gff3.gz" if gff3 else "genes.gtf")
    if gff3:
        import gzip

        with gzip.open(ann, "wt") as fh:
            fh.write("##gff-version 3\n")
            for gid, chrom, start, end, strand in genes:
                fh.write(f"{chrom}\tRefSeq\tgene\t{start + 1}\t{end}\t.\t{strand}\t.\t"
                         f"ID=gene-{gid};Name={gid.upper()};gene_biotype=protein_coding\n"
                         f"{chrom}\tRefSeq\tmRNA\t{start + 1}\t{end}\t.\t{strand}\t.\t"
                         f"ID=rna-{gid}.t1;Parent=gene-{gid}\n")
    else:
        _write_gtf(ann, genes)
    table = Path(world["table"]).read_text().splitlines()
    table += [f"{gid}\t{tpm}\t{tpm}" for gid, tpm in rows.items()]
    (tmp_path / "tpm.tsv").write_text("\n".join(table) + "\n")
    cfg = _isegnet_cfg(world)
    cfg["gtf"] = str(ann)
    cfg["samples"][0]["expression"] = str(tmp_path / "tpm.tsv")
    return cfg


def test_isegnet_gff3_gives_the_same_dataset_as_gtf(world, isegnet_ds, tmp_path):
    cfg = _variant_world(world, tmp_path, [], {}, gff3=True)
    ds = build("isegnet", cfg, tmp_path / "ds", progress=False)
    for name in ("sequence", "epigenome", "expression", "sequence_row"):
        np.testing.assert_array_equal(ds.arrays[name], isegnet_ds.arrays[name])
    pd.testing.assert_frame_equal(ds.index, isegnet_ds.index)


def test_isegnet_odd_rows_are_dropped_and_listed(world, tmp_path, caplog):
    """Missing TPM, a second id of one gene, an unstranded gene: each left out, counted
    and listed; one gene past the end of chr2 is dropped without failing the build."""
    rows = {"gA": "7", "nanGene": "", "naGene": "NA", "flat": "3", "gPast": "4"}
    extra = [("nanGene", "chr1", 500, 900, "+"), ("naGene", "chr2", 300, 700, "-"),
             ("flat", "chr1", 700, 950, "."), ("gPast", "chr2", 11_500, 12_400, "+")]
    cfg = _variant_world(world, tmp_path, extra, rows)
    with caplog.at_level(logging.WARNING):
        ds = build("isegnet", cfg, tmp_path / "ds", progress=False)
    got = _dropped(ds).set_index("example")
    assert got.loc[["nanGene", "naGene"], "reason"].tolist() == ["missing_expression"] * 2
    assert got.loc["gA.1", "reason"] == "duplicate_gene"  # "gA" matches exactly and wins
    assert got.loc["gA.1", "detail"] == "gene gA is matched by gA"
    assert (got.loc["flat", "reason"], got.loc["flat", "detail"]) == (
        "skipped_in_annotation", "no strand ('.') in genes.gtf")
    assert got.loc["gPast", ["chrom", "start", "end", "reason"]].tolist() == [
        "chr2", "11500", "12400", "past_chrom_end"]
    assert "gA" in set(ds.index.gene_id) and "gPast" not in set(ds.index.gene_id)
    i = int(np.flatnonzero(ds.index.gene_id == "gA")[0])
    assert ds.arrays["expression"][i] == pytest.approx(np.log2(8.0))
    assert ("isegnet: left out 2 (missing expression value (empty, NA or NaN)): nanGene [bs1], "
            "naGene [bs1]; all listed in dropped.tsv") in caplog.text
    assert ("isegnet: left out 1 (gene runs past the end of its chromosome): gPast [bs1]; e.g. "
            "chr2 has 12000 bp in") in caplog.text
    assert "gene windows run past a chromosome end; the part outside is N" in caplog.text


def _prepare_config(tmp_path, data) -> Path:
    import yaml

    run = tmp_path / "run"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"system": "isegnet", "run_dir": str(run), "data": data}))
    return path


@pytest.mark.parametrize("extra, rows, expected", [
    ([("gPast", "chr2", 11_500, 12_400, "+"), ("gBeyond", "chr2", 15_000, 16_000, "-")],
     {"gPast": "4", "gBeyond": "5"},
     "do not match: 2 of 13 genes on chr2 lie past its end (12,000 bp; e.g. gPast, gBeyond); "
     "use the genome the annotation was made for, or set isegnet.max_genes_outside: 1"),
    ([], {"huge": "1e96"}, "tpm.tsv [rep1]: TPM 1e+96 for gene 'huge', column 'rep1' "
                           "(1 values outside the bounds); expected TPM >= 0 and <= 1e+07"),
    ([], {"neg": "-3"}, "TPM -3 for gene 'neg'"),
    ([], {"inf": "inf"}, "tpm.tsv: infinite value 'inf' for gene 'inf', column 'rep1'"),
])
def test_cli_prepare_bad_expression_or_mismatched_genome_exits_2(world, tmp_path, capsys,
                                                                  extra, rows, expected):
    """One line naming the files, exit 2, and no run or dataset folder left behind."""
    from kerasgene.cli import main

    cfg = _variant_world(world, tmp_path, extra, rows)
    config = _prepare_config(tmp_path, cfg)
    assert main(["prepare", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    if extra:
        assert str(world["fasta"]) in err and str(cfg["gtf"]) in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case, expected", [
    ("truncated", "genes.gtf.gz: truncated or corrupt gzip GTF file (after line"),
    ("swapped", "genes.gtf.gz:3: start 3000 > end 2000; expected start <= end"),
    ("no_id", "genes.gtf.gz:2: GFF3 gene record without an ID or gene_id attribute"),
])
def test_cli_prepare_bad_annotation_exits_2(world, tmp_path, capsys, case, expected):
    import gzip

    from kerasgene.cli import main

    lines = Path(world["gtf"]).read_text().splitlines(keepends=True)
    if case == "swapped":
        lines[2] = lines[2].replace("\t101\t2000\t", "\t3000\t2000\t")
    if case == "no_id":
        lines = ["##gff-version 3\n", "chr1\tx\tgene\t1\t100\t.\t+\t.\tName=A\n"]
    data = gzip.compress("".join(lines * (300 if case == "truncated" else 1)).encode())
    (tmp_path / "genes.gtf.gz").write_bytes(data[: len(data) // 2] if case == "truncated"
                                            else data)
    cfg = _isegnet_cfg(world)
    cfg["gtf"] = str(tmp_path / "genes.gtf.gz")
    assert main(["prepare", "--config", str(_prepare_config(tmp_path, cfg))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert not (tmp_path / "run").exists()


def test_mismatch_can_be_allowed_and_is_listed(world, tmp_path, caplog):
    cfg = _variant_world(world, tmp_path, [("gPast", "chr2", 11_500, 12_400, "+"),
                                           ("gBeyond", "chr2", 15_000, 16_000, "-")],
                         {"gPast": "4", "gBeyond": "5"})
    with pytest.raises(ConfigError, match="max_genes_outside: expected a fraction between 0 "
                                          "and 1, got 2"):
        build("isegnet", {**cfg, "max_genes_outside": 2}, tmp_path / "ds")
    with caplog.at_level(logging.WARNING):
        ds = build("isegnet", {**cfg, "max_genes_outside": 1}, tmp_path / "ds", progress=False)
    got = _dropped(ds).set_index("example")
    assert got.loc[["gPast", "gBeyond"], "reason"].tolist() == ["past_chrom_end",
                                                               "beyond_chrom_end"]
    assert "left out 1 (gene lies wholly beyond the end of its chromosome): gBeyond" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build("isegnet", {**cfg, "max_genes_outside": 1}, tmp_path / "ds", progress=False)
    assert ("reusing the cached dataset; its build left out 4 examples (1 beyond_chrom_end, "
            "1 not_in_annotation, 1 past_chrom_end, 1 zero_expression)") in caplog.text


def test_histone_drops_missing_expression_and_genes_past_the_end(world, histone_world,
                                                                 tmp_path, caplog):
    expr = histone_world["expr"].copy()
    expr["cellA"] = expr["cellA"].astype(object)
    expr.loc[expr.gene_id == "gB", "cellA"] = ""
    expr.loc[len(expr)] = ["gPast", 3.0, 4.0]
    expr.to_csv(tmp_path / "expr.tsv", sep="\t", index=False)
    _write_gtf(tmp_path / "genes.gtf", [*world["genes"], ("gPast", "chr1", 19_000, 21_000, "-")])
    cfg = {**histone_world["cfg"], "expression": str(tmp_path / "expr.tsv"),
           "gtf": str(tmp_path / "genes.gtf")}
    with caplog.at_level(logging.WARNING):
        ds = build("histone", cfg, tmp_path / "h", progress=False)
    got = _dropped(ds)
    assert got[["example", "context", "reason"]].values.tolist() == [
        ["gB", "cellA", "missing_expression"], ["gPast", "cellA", "past_chrom_end"],
        ["gPast", "cellB", "past_chrom_end"]]
    assert len(ds) == 2 * len(world["genes"]) - 1
    assert "histone: left out 2 (gene runs past the end of its chromosome)" in caplog.text
    expr.loc[expr.gene_id == "gA", "cellB"] = -1.0
    expr.to_csv(tmp_path / "expr.tsv", sep="\t", index=False)
    with pytest.raises(InputFileError, match=r"expr\.tsv \[cellB\]: TPM -1 for gene 'gA'"):
        build("histone", cfg, tmp_path / "h2", progress=False)
    assert not (tmp_path / "h2").exists()


def test_deeprage_dropped_pairs_promoters_and_bounds(yeast, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        ds = build("deeprage", yeast["cfg"], tmp_path / "dr", progress=False)
    got = _dropped(ds)
    assert got[["example", "context", "reason"]].values.tolist() == [
        ["Y029", "", "no_promoter"], ["Y003", "dtt", "missing_expression"]]
    assert "deeprage: left out 1 (no promoter sequence): Y029" in caplog.text
    table = pd.read_csv(yeast["cfg"]["expression"], sep="\t")
    table.iloc[4, 2] = 1e96
    table.to_csv(tmp_path / "lfc.tsv", sep="\t", index=False)
    with pytest.raises(InputFileError, match=r"lfc\.tsv: log-fold change 1e\+96 for gene 'Y004'"
                                             r".*expected log-fold change >= -100 and <= 100"):
        build("deeprage", {**yeast["cfg"], "expression": str(tmp_path / "lfc.tsv")},
              tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_chromatin_ranges_in_no_split_are_listed(chromatin_world, tmp_path, caplog):
    cfg = {**chromatin_world["cfg"], "split": {"method": "chromosome", "train": ["chrA:0-0.5"],
                                               "valid": ["chrB:0.5-1"], "test": ["chrA:0.8-1"]}}
    with caplog.at_level(logging.WARNING):
        ds = build("chromatin", cfg, tmp_path / "ch", progress=False)
    got = _dropped(ds)
    assert got[["example", "start", "end", "reason", "detail"]].values.tolist() == [
        ["chrA:5000-8000", "5000", "8000", "not_in_split", "60 bins"],
        ["chrB:0-3000", "0", "3000", "not_in_split", "60 bins"]]
    assert ("chromatin: left out 2 (chromosome range in no split list): chrA:5000-8000, "
            "chrB:0-3000") in caplog.text
    resplit = build("chromatin", chromatin_world["cfg"], tmp_path / "ch", progress=False)
    assert resplit.meta["dropped"] == {} and len(_dropped(resplit)) == 0


# ----------------------------------------------------------------------------- simulator output
@pytest.fixture(scope="module")
def sim(small_sim):
    return small_sim


def test_sim_isegnet(sim, tmp_path):
    out, truth = sim
    t = truth["tasks"]["isegnet"]
    files = t["files"]
    samples = [{"name": b, "expression": str(out / files["expression"]),
                "tracks": {k: str(out / p) for k, p in files["tracks"][b].items()}}
               for b in t["biosamples"]]
    for s in samples:  # any mapping order: channels follow the paper's order
        s["tracks"] = dict(sorted(s["tracks"].items()))
    ds = build("isegnet", {"gtf": str(out / files["gtf"]), "fasta": str(out / files["fasta"]),
                           "samples": samples}, tmp_path / "ds", progress=False)
    assert ds.meta["track_names"] == list(TRACKS)  # channels in the paper's order
    tpm = pd.read_csv(out / files["expression"], sep="\t", index_col=0)
    assert len(ds) == int((tpm[t["biosamples"]] > 0).sum().sum())
    assert ds.input_shapes == {"sequence": (2500, 4), "epigenome": (2500, 7)}
    truth_genes = pd.read_csv(out / files["per_gene_truth"], sep="\t")
    truth_genes = truth_genes.set_index(["gene_id", "biosample"])
    key = list(zip(ds.index.gene_id, ds.index["sample"]))
    np.testing.assert_allclose(ds.arrays["expression"], truth_genes.loc[key, "log2_tpm1"],
                               atol=1e-3)
    # the per-gene features of truth.json, recomputed from our oriented windows
    x, _ = ds.arrays_for("all")
    maxima = {}
    for s in samples:
        for f in t["features"]:
            if f["track"] != "WGBS":
                with TrackSet({f["track"]: s["tracks"][f["track"]]}) as ts:
                    maxima[s["name"], f["track"]] = ts.tracks[f["track"]].max_value
    for f in t["features"]:
        if f["track"] == "WGBS":
            continue
        lo, hi = f["window_index"]
        c = TRACKS.index(f["track"])
        scale = np.array([maxima[s, f["track"]] for s in ds.index["sample"]])
        got = x["epigenome"][:, lo:hi, c].mean(1) * scale
        want = truth_genes.loc[key, f["name"]].to_numpy()
        np.testing.assert_allclose(got, want, rtol=5e-3, atol=5e-3 * want.max())
    minus = ds.index.strand.to_numpy() == "-"
    assert minus.any() and (~minus).any()


def test_sim_histone(sim, tmp_path):
    out, truth = sim
    t = truth["tasks"]["histone_fcn"]
    files = t["files"]
    cells = {c: {"marks": {m: str(out / files["tracks"][c][m]) for m in MARKS}}
             for c in t["cells"]}
    ds = build("histone", {"cells": cells, "gtf": str(out / files["gtf"]),
                           "fasta": str(out / files["fasta"]),
                           "expression": str(out / files["expression"]), "cell_stats": True,
                           "kmers": {"k": 3, "min_count": 10_000}}, tmp_path / "bw",
               progress=False)
    k = len(ds.meta["kmers"])
    assert k >= 64 and ds.input_shapes["histone"] == (100, 15 + k)
    assert len(ds) == len(t["cells"]) * truth["genome"]["n_genes"]
    expr = pd.read_csv(out / files["expression"], sep="\t", index_col=0)
    y = ds.arrays["expression"]
    want = np.log2(expr.stack().loc[list(zip(ds.index.gene_id, ds.index.cell))].to_numpy() + 1)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    x, _ = ds.arrays_for(np.arange(50))
    assert np.isfinite(x["histone"]).all()

    csv = build("histone", {"cells": {c: {s: str(out / p) for s, p in v.items()}
                                      for c, v in files["deepchrome_csv"].items()},
                            "label": "binary"}, tmp_path / "csv", progress=False)
    assert csv.input_shapes["histone"] == (100, 5) and csv.meta["split"] == {"method": "given"}
    assert min(csv.split_counts[s] for s in splits.SETS) > 0

    npz = {k: str(out / p) for k, p in files["kaggle_npz"].items()}
    kg = build("histone", {"npz": npz, "cell_stats": True,
                           "split": {"method": "unseen_cell", "valid": ["cell03"],
                                     "test": ["cell04"]}}, tmp_path / "npz", progress=False)
    assert kg.input_shapes["histone"] == (100, 15)
    assert set(kg.index.cell[kg.split_indices("test")]) == {"cell04"}
    assert set(kg.index.file[kg.index.cell == "cell04"]) == {"test"}  # only in eval.npz


def test_sim_deeprage(sim, tmp_path):
    out, truth = sim
    f = truth["tasks"]["deeprage"]["files"]
    cfg = {"expression": str(out / f["logfc"]), "regulators": str(out / f["regulator_states"]),
           "regulator_names": str(out / f["regulator_names"]),
           "condition_names": str(out / f["condition_names"]),
           "promoters": str(out / f["promoters"])}
    ds = build("deeprage", cfg, tmp_path / "dr", progress=False)
    n_genes = len((out / f["genes"]).read_text().split())
    assert ds.arrays["sequence"].shape == (n_genes, 1000, 4)
    assert ds.arrays["regulators"].shape == (173, 472)  # duplicate condition names kept apart
    assert len(set(ds.conditions)) == 173
    table = np.loadtxt(out / f["regulator_states"], ndmin=2)
    states = np.zeros((472, 173))
    states[table[:, 0].astype(int) - 1, table[:, 1].astype(int) - 1] = table[:, 2]
    np.testing.assert_array_equal(ds.arrays["regulators"], states.T)
    # data rows parsed without the header (real condition names contain tabs and quotes)
    rows = pd.read_csv(out / f["logfc"], sep="\t", header=None, skiprows=1, index_col=0)
    lfc, genes = rows.to_numpy(), list(rows.index)
    rows = [genes.index(g) for g in ds.gene_ids]
    np.testing.assert_allclose(ds.arrays["lfc"], lfc[rows], rtol=1e-6)


def test_sim_chromatin(sim, tmp_path):
    import pyBigWig

    out, truth = sim
    t = truth["tasks"]["chromatin"]
    f = t["files"]
    cfg = {"signal": {k: str(out / f["inputs"][k]) for k in ("groseq_plus", "groseq_minus")},
           "targets": {k: str(out / p) for k, p in f["targets"].items()}, "target": "H3K4me3",
           "window": 2561, "split": {"method": "chromosome", **t["suggested_split"]}}
    ds = build("chromatin", cfg, tmp_path / "ch", progress=False)
    sizes = truth["genome"]["chrom_sizes"]
    assert ds.split_counts["test"] == -(-sizes["chr4"] // 50)
    idx = ds.split_indices("test")[[0, 5000, -1]]
    x, y = ds.arrays_for(idx)
    bw = pyBigWig.open(str(out / f["inputs"]["groseq_plus"]))
    n = -(-sizes["chr4"] // 50)
    plus = np.nan_to_num(np.array(bw.stats("chr4", 0, n * 50, type="sum", nBins=n, exact=True),
                                  dtype=float)) / 50
    padded = np.pad(plus, (1280, 1280))
    for j, k in enumerate((0, 5000, n - 1)):
        np.testing.assert_allclose(x["signal"][j, :, 0], padded[k : k + 2561], rtol=1e-4, atol=1e-5)
    assert ds.input_shapes == {"signal": (2561, 2)} and y.dtype == np.float32
