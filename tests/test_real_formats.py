"""Genomes and tracks as users have them, end to end through the iSEGnet builder and the CLI.

One tiny world (two chromosomes of a few kb, six genes, a DNase and a WGBS track) is
written as FASTA + GTF + bigWigs, and again as gzip FASTA + gzip GFF3, 2bit, bedGraph
(plain and gzip), bigBed and NCBI-named FASTA + UCSC chromAlias.txt. Every variant must
give the same dataset, array for array. Broken files must stop ``kerasgene prepare`` with
exit status 2, one line naming the file and what was expected, and nothing left in the
run directory.
"""

from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_fasta
from real_files import bigwig_intervals, write_bedgraph, write_bigbed, write_twobit

from kerasgene.datasets import build
from kerasgene.io.tracks import write_bigwig

SIZES = {"chr1": 6_000, "chr2": 4_000}
GENES = [("g1", "chr1", 1500, 3000, "+"), ("g2", "chr1", 2500, 4800, "-"),
         ("g3", "chr2", 1200, 2500, "+"), ("g4", "chr2", 1800, 3000, "-"),
         ("g5", "chr1", 4000, 5200, "+"), ("g6", "chr2", 1100, 2900, "-")]
SPLIT = {"method": "random", "fractions": [0.5, 0.25, 0.25], "seed": 0, "group": "gene_id"}


def _runs(rng, n, scale):
    vals = np.repeat(np.round(rng.gamma(2.0, scale, n // 25 + 1), 2), 25)[:n]
    vals[np.repeat(rng.random(n // 25 + 1) < 0.3, 25)[:n]] = 0.0
    return vals


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    rng = np.random.default_rng(14)
    d = tmp_path_factory.mktemp("formats")
    seqs = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in SIZES.items()}
    seqs["chr1"] = seqs["chr1"][:1800] + "N" * 25 + seqs["chr1"][1825:]  # in g1's window
    with open(d / "genes.gtf", "w") as fh:
        for gid, chrom, start, end, strand in GENES:
            fh.write(f'{chrom}\ttest\tgene\t{start + 1}\t{end}\t.\t{strand}\t.\tgene_id "{gid}"; '
                     f'gene_name "{gid.upper()}"; gene_type "protein_coding";\n')
    (d / "tpm.tsv").write_text("gene_id\trep1\n" + "".join(
        f"{g[0]}\t{v}\n" for g, v in zip(GENES, [3.5, 12.0, 0.7, 40.25, 5.0, 9.5])))
    write_bigwig(d / "DNase.bw", SIZES, {c: _runs(rng, n, 2.0) for c, n in SIZES.items()})
    write_bigwig(d / "WGBS.bw", SIZES, {c: np.round(_runs(rng, n, 20.0), 1) % 100
                                        for c, n in SIZES.items()})
    return {"dir": d, "seqs": seqs, "fasta": write_fasta(d / "genome.fa", seqs),
            "gtf": str(d / "genes.gtf"), "tpm": str(d / "tpm.tsv"),
            "DNase": str(d / "DNase.bw"), "WGBS": str(d / "WGBS.bw")}


def _cfg(world, fasta=None, dnase=None, wgbs=None, gtf=None, **extra):
    tracks = {"DNase": dnase or world["DNase"], "WGBS": wgbs or world["WGBS"]}
    return {"gtf": gtf or world["gtf"], "fasta": fasta or world["fasta"], "split": SPLIT,
            "samples": [{"name": "s1", "expression": world["tpm"], "expression_column": "rep1",
                         "tracks": tracks}], **extra}


@pytest.fixture(scope="module")
def reference(world):
    return build("isegnet", _cfg(world), world["dir"] / "ref", progress=False)


def _assert_same_dataset(a, b):
    names = sorted(p.name for p in Path(a.path).glob("*.npy"))
    assert names == sorted(p.name for p in Path(b.path).glob("*.npy"))
    assert {"sequence.npy", "epigenome.npy", "expression.npy"} <= set(names)
    for name in names:
        x, y = np.load(Path(a.path) / name), np.load(Path(b.path) / name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert (Path(a.path) / "index.tsv").read_text() == (Path(b.path) / "index.tsv").read_text()


def test_reference_dataset_is_not_trivial(reference):
    epi = np.load(Path(reference.path) / "epigenome.npy")
    seq = np.load(Path(reference.path) / "sequence.npy")
    assert epi.shape == (6, 2500, 2) and (epi[..., 0] > 0).mean() > 0.3
    assert (epi[..., 1] > 0).any() and seq.sum(-1).min() == 0 and seq.sum() > 0.9 * seq[..., 0].size


def _write_gff3_gz(path, genes) -> str:
    """The GTF's genes as an Ensembl-style GFF3 (gene + mRNA + exon), gzip-compressed."""
    lines = ["##gff-version 3"]
    for gid, chrom, start, end, strand in genes:
        lines += [f"{chrom}\ttest\tgene\t{start + 1}\t{end}\t.\t{strand}\t.\t"
                  f"ID=gene:{gid};Name={gid.upper()};biotype=protein_coding;gene_id={gid}",
                  f"{chrom}\ttest\tmRNA\t{start + 1}\t{end}\t.\t{strand}\t.\t"
                  f"ID=transcript:{gid}.1;Parent=gene:{gid};biotype=protein_coding",
                  f"{chrom}\ttest\texon\t{start + 1}\t{end}\t.\t{strand}\t.\t"
                  f"Parent=transcript:{gid}.1"]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    return str(path)


def test_gzip_fasta_gff3_and_bedgraph_tracks_give_the_same_dataset(world, reference, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    fasta_gz = src / "genome.fa.gz"
    with gzip.open(fasta_gz, "wb") as fh:
        fh.write(Path(world["fasta"]).read_bytes())
    gff3 = _write_gff3_gz(src / "genes.gff3.gz", GENES)
    dnase = write_bedgraph(src / "DNase.bedGraph", bigwig_intervals(world["DNase"]),
                           shuffle_seed=0)
    wgbs = write_bedgraph(src / "WGBS.bedGraph.gz", bigwig_intervals(world["WGBS"]), gz=True)
    ds = build("isegnet", _cfg(world, str(fasta_gz), dnase, wgbs, gtf=gff3), tmp_path / "ds",
               progress=False)
    _assert_same_dataset(ds, reference)


def test_twobit_genome_and_bigbed_track_give_the_same_dataset(world, reference, tmp_path):
    twobit = write_twobit(tmp_path / "genome.2bit", world["seqs"])
    peaks = write_bigbed(tmp_path / "DNase.bb", SIZES, bigwig_intervals(world["DNase"]))
    cfg = _cfg(world, twobit, dnase={"path": peaks, "value_column": "signalValue"})
    _assert_same_dataset(build("isegnet", cfg, tmp_path / "ds", progress=False), reference)


def test_ncbi_names_through_ucsc_chromalias_give_the_same_dataset(world, reference, tmp_path):
    ncbi = {"chr1": "NC_000001.11", "chr2": "NC_000002.12"}
    fasta = write_fasta(tmp_path / "ncbi.fa", {ncbi[c]: s for c, s in world["seqs"].items()})
    table = tmp_path / "hg38.chromAlias.txt"
    table.write_text("# ucsc\tassembly\tgenbank\trefseq\nchr1\t1\tCM000663.2\tNC_000001.11\n"
                     "chr2\t2\tCM000664.2\tNC_000002.12\n")
    wgbs = write_bedgraph(tmp_path / "WGBS.bedGraph",  # Ensembl names: 1, 2
                          [(c[3:], s, e, v) for c, s, e, v in bigwig_intervals(world["WGBS"])])
    cfg = _cfg(world, fasta, wgbs=wgbs, chrom_aliases=str(table))
    _assert_same_dataset(build("isegnet", cfg, tmp_path / "ds", progress=False), reference)


# ----------------------------------------------------------------------------- the CLI
def _prepare(tmp_path, data: dict, capsys) -> tuple[int, str, Path]:
    from kerasgene.cli import main

    run = tmp_path / "run"
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"system": "isegnet", "run_dir": str(run), "data": data}))
    capsys.readouterr()
    status = main(["prepare", "--config", str(cfg)])
    return status, capsys.readouterr().err, run


def test_tracks_of_other_chromosome_names_are_one_line_naming_the_files(world, tmp_path,
                                                                          capsys):
    """NCBI-named bigWigs beside a UCSC-named FASTA and GTF, without chrom_aliases: every
    gene is left out, and the error said only "no gene left after matching …" after a
    warning that chr1 "is not in genome.fa or a track" — the FASTA, which has it. It
    names the tracks lacking the genes' chromosomes and chrom_aliases."""
    ncbi = {"chr1": "NC_000001.11", "chr2": "NC_000002.12"}
    rng = np.random.default_rng(3)
    tracks = {name: str(write_bigwig(tmp_path / f"{name}.bw", {ncbi[c]: n for c, n in SIZES.items()},
                                     {ncbi[c]: _runs(rng, n, 2.0) for c, n in SIZES.items()}))
              for name in ("DNase", "WGBS")}
    status, err, run = _prepare(tmp_path, _cfg(world, dnase=tracks["DNase"],
                                               wgbs=tracks["WGBS"]), capsys)
    assert status == 2 and not run.exists()
    last = err.strip().splitlines()[-1]
    assert last == (
        "kerasgene: error: isegnet: no gene left after matching expression, annotation, FASTA "
        f"and tracks (left out: 6 chromosome missing from the genome or a track (e.g. chr1 is "
        f"not in {tracks['DNase']}, {tracks['WGBS']})); expected files that name the "
        "chromosomes alike, or chrom_aliases mapping their names (chr1 / 1 / NC_000001.11)")
    assert "or a track;" not in err and f"not in {world['fasta']}" not in err


def _broken(world, tmp_path, case: str) -> tuple[dict, str, str]:
    """(config data section, the broken file, expected message) of one case."""
    d = tmp_path / "in"
    d.mkdir()
    bw = Path(world["DNase"]).read_bytes()
    if case == "random_fasta":
        path = d / "genome.fa"
        path.write_bytes(b"PK\x03\x04" + bytes(200))
        return _cfg(world, str(path)), path, "not a genome file: expected FASTA"
    if case == "truncated_fasta_gz":
        path = d / "genome.fa.gz"
        path.write_bytes(gzip.compress(Path(world["fasta"]).read_bytes())[:3000])
        return _cfg(world, str(path)), path, "truncated or corrupt gzip file"
    if case == "truncated_2bit":
        path = Path(write_twobit(d / "genome.2bit", world["seqs"]))
        path.write_bytes(path.read_bytes()[:-100])
        return _cfg(world, str(path)), path, "truncated 2bit file: record 'chr2'"
    if case == "truncated_bigwig":
        path = d / "DNase.bw"
        path.write_bytes(bw[: len(bw) // 2])
        return _cfg(world, dnase=str(path)), path, "corrupt or truncated bigWig file"
    if case == "random_bigwig":
        path = d / "DNase.bw"
        path.write_bytes(bw[:4] + np.random.default_rng(1).bytes(3000))
        return _cfg(world, dnase=str(path)), path, "corrupt or truncated bigWig file"
    if case == "empty_bigwig":
        path = write_bigwig(d / "DNase.bw", SIZES, {})
        return _cfg(world, dnase=str(path)), path, "holds no data"
    if case == "vcf_as_track":
        path = d / "DNase.bw"
        path.write_text("##fileformat=VCFv4.2\nchr1\t10\t.\tA\tC\t.\t.\n")
        return _cfg(world, dnase=str(path)), path, "not a track file: expected bigWig, bigBed"
    if case == "overlapping_bedgraph":
        path = write_bedgraph(d / "DNase.bedGraph", [("chr1", 0, 100, 1.0), ("chr1", 50, 80, 2.0)])
        return _cfg(world, dnase=path), path, "line 3: interval chr1:50-80 overlaps line 2"
    if case == "bedgraph_past_chrom_end":
        path = write_bedgraph(d / "DNase.bedGraph", [("chr2", 3_990, 4_010, 1.0)])
        return _cfg(world, dnase=path), path, "line 2: interval ends at 4010, past the end of chr2"
    if case == "bigbed_value_column":
        path = write_bigbed(d / "DNase.bb", SIZES, [("chr1", 10, 20, 1.0)])
        return (_cfg(world, dnase={"path": path, "value_column": "signal"}), path,
                "no field 'signal' for the track's values")
    if case == "ambiguous_aliases":
        path = d / "aliases.txt"
        path.write_text("chr1\tNC_000001.11\nchr2\tNC_000001.11\n")
        return (_cfg(world, chrom_aliases=str(path)), path,
                "line 2: alias 'NC_000001.11' names both 'chr1' (line 1) and 'chr2'")
    raise AssertionError(case)


@pytest.mark.parametrize("case", [
    "random_fasta", "truncated_fasta_gz", "truncated_2bit", "truncated_bigwig", "random_bigwig",
    "empty_bigwig", "vcf_as_track", "overlapping_bedgraph", "bedgraph_past_chrom_end",
    "bigbed_value_column", "ambiguous_aliases",
])
def test_cli_refuses_broken_files_with_one_line(world, tmp_path, capsys, case):
    data, path, message = _broken(world, tmp_path, case)
    status, err, run = _prepare(tmp_path, data, capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kerasgene: error: {path}"), err
    assert message in lines[0]
    assert not run.exists() or not any(run.iterdir())
    leftovers = [p.name for p in (tmp_path / "in").iterdir() if p != Path(path)]
    assert leftovers == [], leftovers  # no index, lock, temporary or cached conversion


def test_cli_accepts_nan_bigwig_and_mixed_chromosome_names_with_warnings(world, tmp_path,
                                                                         capsys, caplog):
    import pyBigWig

    nan_bw = tmp_path / "DNase.bw"
    bw = pyBigWig.open(str(nan_bw), "w")
    bw.addHeader(list(SIZES.items()), maxZooms=10)
    bw.addEntries(["chr1"] * 3, [100, 600, 5000], ends=[500, 700, 5900], values=[2.0, np.nan, 4.0])
    bw.addEntries(["chr2"], [0], ends=[4000], values=[1.0])
    bw.close()
    ensembl = write_bigwig(tmp_path / "WGBS.bw", {"1": 6_000, "2": 4_000},  # 1, 2 not chr1, chr2
                           {"1": np.full(6_000, 50.0), "2": np.full(4_000, 20.0)})
    with caplog.at_level(logging.WARNING, logger="kerasgene"):
        status, err, run = _prepare(tmp_path, _cfg(world, dnase=str(nan_bw), wgbs=str(ensembl)),
                                    capsys)
    assert status == 0, err
    assert f"{nan_bw}: 100 bases hold NaN values; read as missing data (0)" in caplog.text
    epi = np.load(run / "dataset" / "epigenome.npy")
    assert np.isfinite(epi).all()
    assert set(np.unique(epi[..., 1]).tolist()) == {float(np.float16(v)) for v in (0.2, 0.5)}


def test_bigwig_header_check_reads_the_written_layout(world):
    """The structural check accepts the files pyBigWig and pybigtools write."""
    from kerasgene.io.track_formats import read_bbi_header

    info = read_bbi_header(world["DNase"])
    assert info.kind == "bigwig" and not info.empty and not info.has_nan
    data = Path(world["DNase"]).read_bytes()
    assert struct.unpack("<I", data[-4:])[0] == 0x888FFC26
