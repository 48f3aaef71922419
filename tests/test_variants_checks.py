"""Variant effects refusing or flagging what was silently scored: a TrackSet in another
channel order than the run's, VCF records that failed a filter, genotype columns, a VCF
header declaring contigs of another assembly than the FASTA, and runs of other VCFs
recording their tables at once (docs/bad_input.md, section Variants). Files are written
by pysam, pyBigWig and the suite's FASTA writer."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pysam
import pytest
from conftest import write_fasta
from run_world import write_world

from kerasgene.datasets import Dataset
from kerasgene.datasets.regions import default_transform
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.explain import readers as R
from kerasgene.explain import variants as V
from kerasgene.io.annotation import Gene, read_gtf
from kerasgene.io.genome import Genome
from kerasgene.io.tracks import TrackSet, write_bigwig

keras = pytest.importorskip("keras")

FLANKS = ((20, 10), (10, 10))  # a window of 50 bp: TSS [20, 50) ⊕ TTS [109, 129) of GENE
GENE = Gene("p", "P1", "chr1", 40, 120, "+")


def epigenome_model(channel: int, n_tracks: int = 2):
    """Prediction = mean over the window of epigenome channel ``channel`` (DNA unused)."""
    from keras import layers

    seq = keras.Input((50, 4), name="sequence")
    epi = keras.Input((50, n_tracks), name="epigenome")
    zero = layers.Dense(1, kernel_initializer="zeros")
    pick = layers.Dense(1)
    model = keras.Model([seq, epi], layers.Add()([zero(layers.Flatten()(seq)),
                                                  pick(layers.GlobalAveragePooling1D()(epi))]))
    w = np.zeros((n_tracks, 1), np.float32)
    w[channel] = 1
    pick.set_weights([w, np.zeros(1, np.float32)])
    return model


def snv(s: str, pos: int, ident: str = "v") -> V.Variant:
    """An SNV at 1-based ``pos`` of chr1 = ``s``."""
    ref = s[pos - 1]
    return V.Variant("chr1", pos, ident, ref, "ACGT"[("ACGT".index(ref) + 1) % 4])


# --------------------------------------------------------------------------------------
# a TrackSet in another order than the run's channels
# --------------------------------------------------------------------------------------


def test_trackset_in_another_order_than_the_run_is_refused(genome, tmp_path):
    """A TrackSet of the model's tracks in another order read swapped channels without a
    word; ``track_names`` (the run's preprocessing.json) now checks every TrackSet."""
    g, s = genome
    paths = {name: str(write_bigwig(tmp_path / f"{name}.bw", {"chr1": 400},
                                    {"chr1": np.full(400, value)}))
             for name, value in (("H3K4me3", 2.0), ("H3K27ac", 7.0))}
    order = ["H3K4me3", "H3K27ac"]
    model = epigenome_model(0)                          # reads the run's first channel
    with TrackSet({t: paths[t] for t in order}) as right, \
            TrackSet({t: paths[t] for t in order[::-1]}) as swapped:
        with pytest.raises(ConfigError, match=r"RegionReader: the TrackSet of 'K562' gives "
                           r"tracks \['H3K27ac', 'H3K4me3'\]; expected \['H3K4me3', "
                           r"'H3K27ac'\] in this order"):
            R.RegionReader({"K562": swapped}, *FLANKS, track_names=order)
        with pytest.raises(ConfigError, match=r"gives tracks \['H3K4me3', 'H3K27ac'\]; "
                           r"expected \['H3K4me3', 'DNase'\]"):
            R.RegionReader({"K562": right}, *FLANKS, track_names=["H3K4me3", "DNase"])
        with pytest.raises(ConfigError, match=r"the TrackSet of 'GM12878' gives tracks "
                           r"\['H3K27ac', 'H3K4me3'\]; expected \['H3K4me3', 'H3K27ac'\]"):
            R.RegionReader({"K562": right, "GM12878": swapped}, *FLANKS)
        reader = R.RegionReader({"K562": right}, *FLANKS, track_names=order)
        table = V.variant_effects(model, [snv(s, 30)], g, [GENE], reader)
    assert table.status.tolist() == ["ok"]
    np.testing.assert_allclose(table.ref_prediction, 2.0, rtol=1e-6)   # H3K4me3, not H3K27ac


def test_trackset_without_track_names_warns_that_its_order_is_unchecked(tmp_path, caplog):
    paths = [str(write_bigwig(tmp_path / f"{n}.bw", {"chr1": 400}, {"chr1": np.ones(400)}))
             for n in ("a", "b")]
    with TrackSet({"a": paths[0], "b": paths[1]}) as ts, caplog.at_level(logging.WARNING):
        R.RegionReader({"K562": ts}, *FLANKS)
    assert "no track_names; the TrackSets' order ['a', 'b'] is taken as the model's" \
        in caplog.text


# --------------------------------------------------------------------------------------
# a reader built from a trained run: its transforms, window, order and dtype
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_world(tmp_path_factory):
    """run_world's tiny iSEGnet world trained (``kerasgene train``): DNase with 5 bp
    regions (not the paper's transform), WGBS; window (40, 20) ⊕ (20, 20); float16 rows."""
    from kerasgene.cli import main

    d = tmp_path_factory.mktemp("run_world")
    write_world(d)
    assert main(["train", "--config", str(d / "run.yaml")]) == 0
    return d


def test_reader_from_run_reads_the_rows_the_model_was_trained_on(trained_world):
    """README's Python path built the TrackSet with the paper's default transforms: for a
    run whose config gave DNase another transform the model got other inputs than the
    dataset's, without a word. ``from_run`` reads the run's preprocessing.json."""
    from kerasgene.explain.run_variants import isegnet_reader
    from kerasgene.models import load_model

    d = trained_world
    dataset = Dataset.open(d / "run" / "dataset")
    names = json.loads((d / "run" / "preprocessing.json").read_text())["track_names"]
    files = {"WGBS": str(d / "wgbs.bw"), "DNase": str(d / "dnase.bw")}  # not the run's order
    genes = {g.id: g for g in read_gtf(d / "genes.gtf")}
    rows = dataset.index[dataset.index["sample"] == "s1"]
    with R.RegionReader.from_run(d / "run", {"s1": files}) as reader, \
            TrackSet({t: (files[t], default_transform(t)) for t in names}) as by_hand:
        assert (reader.tss_flank, reader.tts_flank, list(reader.track_names)) == (
            (40, 20), (20, 20), ["DNase", "WGBS"])
        readme = R.RegionReader({"s1": by_hand}, reader.tss_flank, reader.tts_flank, names)
        for i, gid in zip(rows.index, rows["gene_id"]):
            want = np.asarray(dataset.arrays["epigenome"][i], np.float32)
            seq = ["A" * len(want)]
            got = reader.inputs(seq, [genes[gid]], ["s1"])["epigenome"][0]
            np.testing.assert_array_equal(got, want, err_msg=gid)
            assert not np.allclose(readme.inputs(seq, [genes[gid]], ["s1"])["epigenome"][0],
                                   want)
        gene = genes[rows["gene_id"].iloc[0]]
        with Genome(d / "genome.fa") as g:
            v = snv(g.fetch("chr1", 0, 400), gene.tss + 1)
            model = load_model(d / "run" / "model.keras")
            stored = V.variant_effects(model, [v], g, [gene], isegnet_reader(dataset)[0])
            mine = V.variant_effects(model, [v], g, [gene], reader)
    np.testing.assert_allclose(mine.ref_prediction, stored.ref_prediction, rtol=1e-6)
    np.testing.assert_allclose(mine.delta, stored.delta, rtol=1e-5, atol=1e-7)


def test_reader_from_run_refuses_other_tracks_and_incomplete_runs(trained_world, tmp_path):
    d = trained_world
    run = d / "run"
    with pytest.raises(ConfigError, match=r"preprocessing.json, tracks of 'K562': .*expects "
                       r"tracks \['DNase', 'WGBS'\]; missing \['WGBS'\], unexpected "
                       r"\['H3K4me3'\]$"):
        R.RegionReader.from_run(run, {"K562": {"DNase": d / "dnase.bw",
                                               "H3K4me3": d / "wgbs.bw"}})
    with TrackSet({"DNase": str(d / "dnase.bw"), "WGBS": str(d / "wgbs.bw")}) as defaults, \
            pytest.raises(ConfigError, match=r"tracks of 's1': .*track 'DNase' applies "):
        R.RegionReader.from_run(run, {"s1": defaults})
    with pytest.raises(ConfigError, match=r"tracks of 'K562': expected \{track name: path\} "
                       r"for the run's \['DNase', 'WGBS'\], got '.*dnase.bw'$"):
        R.RegionReader.from_run(run, {"K562": str(d / "dnase.bw"), "x": {}})  # a ValueError
    for flat in ({"DNase": d / "dnase.bw", "WGBS": d / "wgbs.bw"}, None, []):  # no context
        with pytest.raises(ConfigError, match=r"expected tracks as \{context: \{track name: "
                           r"path\}\}"):
            R.RegionReader.from_run(run, flat)
    (tmp_path / "model.keras").write_bytes((run / "model.keras").read_bytes())
    with pytest.raises(InputFileError, match=r"no trained model \(model.keras without "
                       r"run.json"):
        R.RegionReader.from_run(tmp_path, {"s1": {"DNase": d / "dnase.bw"}})


# --------------------------------------------------------------------------------------
# FILTER and genotype columns
# --------------------------------------------------------------------------------------


def write_called_vcf(path, s: str, filters: list[tuple[str, ...]], *,
                     contigs: dict[str, int | None] | None = None, samples=("S1",)) -> str:
    """A VCF (pysam) of one SNV per entry of ``filters`` at 26, 27, ... of the first of
    ``contigs`` (chr1 = ``s``, by any name; inside GENE's TSS window), with those FILTER
    names (() for '.') and a 0/1 genotype per sample."""
    header = pysam.VariantHeader()
    for name, length in (contigs or {"chr1": 400}).items():
        header.contigs.add(name, length=length)
    header.filters.add("q10", None, None, "Quality below 10")
    header.filters.add("LowQual", None, None, "Low quality")
    header.formats.add("GT", 1, "String", "Genotype")
    for sample in samples:
        header.add_sample(sample)
    chrom = next(iter(header.contigs))
    with pysam.VariantFile(str(path), "w", header=header) as vcf:
        for k, names in enumerate(filters):
            v = snv(s, 26 + k, f"v{k}")
            rec = vcf.new_record(contig=chrom, start=v.start, stop=v.end,
                                 alleles=(v.ref, v.alt), id=v.id)
            for name in names:
                rec.filter.add(name)
            for sample in samples:
                rec.samples[sample]["GT"] = (0, 1)
            vcf.write(rec)
    return str(path)


FILTERS = [("PASS",), (), ("q10",), ("q10", "LowQual")]


def test_filter_column_and_a_warning_for_failed_records(genome, tmp_path, caplog):
    """Records that failed a filter were scored as if they had passed, with nothing in
    the table saying so; now their FILTER is a column and a warning counts them."""
    g, s = genome
    vcf = write_called_vcf(tmp_path / "calls.vcf", s, FILTERS)
    model = epigenome_model(0)
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, *FLANKS)
    with caplog.at_level(logging.WARNING):
        table = V.variant_effects(model, vcf, g, [GENE], reader)
    assert table["filter"].tolist() == ["PASS", ".", "q10", "q10;LowQual"]
    assert (table.status == "ok").all()
    assert ("2 of 4 variants failed a VCF filter (FILTER neither PASS nor '.'; scored, "
            "their FILTER in the table's filter column): v2 (q10), v3 (q10;LowQual)"
            in caplog.text)


def test_exclude_filtered_keeps_pass_and_unfiltered(genome, tmp_path, caplog):
    g, s = genome
    vcf = write_called_vcf(tmp_path / "calls.vcf", s, FILTERS)
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, *FLANKS)
    with caplog.at_level(logging.WARNING):
        table = V.variant_effects(epigenome_model(0), vcf, g, [GENE], reader,
                                  exclude_filtered=True)
    assert table.variant_id.tolist() == ["v0", "v1"]
    assert "2 of 4 variants failed a VCF filter" in caplog.text
    assert "left out: exclude_filtered" in caplog.text


def test_genotypes_are_not_read_and_a_warning_says_so(genome, tmp_path, caplog):
    """Every ALT allele is scored whatever the samples carry; a VCF with samples says so."""
    _, s = genome
    vcf = write_called_vcf(tmp_path / "calls.vcf", s, [("PASS",)], samples=("S1", "S2"))
    with caplog.at_level(logging.WARNING):
        assert len(V.read_vcf(vcf)) == 1
    assert "the genotypes of its 2 samples (S1, S2) are not read" in caplog.text


# --------------------------------------------------------------------------------------
# ##contig lengths of another assembly
# --------------------------------------------------------------------------------------


def test_a_contig_of_another_length_than_the_fasta_is_refused(genome, tmp_path):
    """The header's ``##contig`` lengths were not compared with the FASTA: an hg19 VCF on
    hg38 with REF alleles matching by chance was scored at the wrong places."""
    g, s = genome
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, *FLANKS)
    model = epigenome_model(0)
    bad = write_called_vcf(tmp_path / "hg19.vcf", s, [("PASS",)],  # variants on "1"
                           contigs={"1": 500, "chrUn": 99})
    for vcf in (bad, V.read_vcf(bad)):   # a path, or read_vcf's list (as the CLI passes)
        with pytest.raises(InputFileError, match=r"hg19.vcf: ##contig=<ID=1,length=500> but "
                           r"chr1 of .*g.fa is 400 bp: another assembly\?"):
            V.variant_effects(model, vcf, g, [GENE], reader)
    good = write_called_vcf(tmp_path / "ok.vcf", s, [("PASS",)],
                            contigs={"1": 400, "chrUn": 99, "chr2": None})
    assert V.read_vcf(good).contigs == {"1": 400, "chrUn": 99}
    assert V.variant_effects(model, good, g, [GENE], reader).status.tolist() == ["ok"]


def test_contigs_without_variants_and_the_mitochondrion_are_not_compared(genome, tmp_path):
    """An hg19 FASTA (chrM 16,571 bp) with a GRCh37 VCF (MT 16,569 bp: rCRS) whose
    variants are on chr1: the same chromosomes, but the whole VCF was refused for MT's
    length; a header contig without variants is no evidence either."""
    _, s = genome
    fasta = write_fasta(tmp_path / "hg19.fa", {"chr1": s, "chrM": "ACGT" * 8, "chr2": "A" * 50})
    calls = write_called_vcf(tmp_path / "b37.vcf", s, [("PASS",)],
                             contigs={"1": 400, "MT": 30, "2": 77})
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, *FLANKS)
    with Genome(fasta) as g:
        table = V.variant_effects(epigenome_model(0), calls, g, [GENE], reader)
    assert table.status.tolist() == ["ok"]


# --------------------------------------------------------------------------------------
# RUN/variants/sources.json written by runs at once
# --------------------------------------------------------------------------------------


def test_runs_of_other_vcfs_recording_at_once_all_keep_their_record(tmp_path):
    """sources.json was read, updated and written with no lock: two ``kerasgene variants``
    runs of other VCFs finishing at once in one run lost a record (the last write held
    only its own VCF), and the first table then counted as made by no VCF. 16 runs'
    tables written at the same instant (threads: the lock is on the folder's open file,
    as between processes) all keep their record, and no lock or temporary file is left.
    Two runs of VCFs of one name (a/calls.vcf, b/calls.vcf) at once both passed the check
    made when they started, and the later one replaced the other's table: one of them is
    refused now."""
    from kerasgene.errors import InputFileError
    from kerasgene.explain.run_variants import SOURCES, _write_default_table

    folder = tmp_path / "run" / "variants"
    vcfs = [tmp_path / f"calls{i}.vcf.gz" for i in range(16)]
    together = threading.Barrier(len(vcfs))

    def write(vcf):
        together.wait()
        out = folder / f"{vcf.name.removesuffix('.vcf.gz')}.tsv"
        return _write_default_table(out, vcf, pd.DataFrame({"vcf": [vcf.name]}))

    with ThreadPoolExecutor(len(vcfs)) as pool:
        assert sorted(pool.map(write, vcfs)) == sorted(folder / f"calls{i}.tsv"
                                                       for i in range(16))
    assert json.loads((folder / SOURCES).read_text()) == {
        f"calls{i}.tsv": {"vcf": str(vcf.resolve()), "model_sha256": None}
        for i, vcf in enumerate(vcfs)}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [SOURCES, *(f"calls{i}.tsv" for i in range(16))])
    same = [tmp_path / d / "calls.vcf" for d in ("a", "b")]
    together = threading.Barrier(2)

    def write_same(vcf):
        together.wait()
        try:
            table = pd.DataFrame({"vcf": [str(vcf.resolve())]})
            return _write_default_table(folder / "calls.tsv", vcf, table)
        except InputFileError as err:
            return err

    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(write_same, same))
    refused = [g for g in got if isinstance(g, InputFileError)]
    assert len(refused) == 1 and "refusing to replace them" in str(refused[0])
    kept = json.loads((folder / SOURCES).read_text())["calls.tsv"]["vcf"]
    assert pd.read_csv(folder / "calls.tsv", sep="\t")["vcf"].tolist() == [kept]


# --------------------------------------------------------------------------------------
# histone runs with strand_orient: false (a guard: found right, no change)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("orient", [True, False])
@pytest.mark.parametrize("window", [100, 101])
def test_histone_variant_windows_are_the_datasets(genome, orient, window):
    """The k-mer window a variant is applied to is the histone builder's own, for a
    minus-strand gene with and without ``strand_orient``: the same sequence, so a variant
    lands in the bin the dataset counted it in (unoriented: read on + from TSS − w/2)."""
    from kerasgene.datasets.histone_bins import _sequences
    from kerasgene.explain.run_variants import _histone_gene

    g, s = genome
    gene = Gene("m", "M1", "chr1", 150, 260, "-")                 # TSS at 259
    reader = R.KmerReader({}, ["AAA"], window, 1)
    mine = _histone_gene("m", gene, orient)
    flanks = (reader.tss_flank, reader.tts_flank)
    assert V.window_sequence(g, mine, *flanks) == _sequences(g, [gene], window, orient)[0]
    v = snv(s, gene.tss + 1 + 7)                                  # 7 bp 3' of the TSS on +
    edited = V.window_sequence(g, mine, *flanks, v)
    ref = V.window_sequence(g, mine, *flanks)
    at = [i for i in range(window) if edited[i] != ref[i]]
    assert at == [window // 2 - 7 if orient else window // 2 + 7]
