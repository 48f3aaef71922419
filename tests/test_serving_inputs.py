"""``kerasgene predict`` / ``export`` / ``serve`` fed a user's own files and values: genes the
genome or a track cannot hold, tracks of another assembly, exports without preprocessing
constants or with another model's, a missing or empty ``--genes``, no server, an ``--out``
naming an input, NaN or infinite inputs, a ``--target`` that is not HOST:PORT, ``serve``
option values gRPC would change.

One in-process server (port 0) serves a tiny two-track model exported with its
preprocessing constants (``toy``) and the same model exported without any (``bare``);
every input is a real file written by pyfaidx, pyBigWig, gzip or pysam.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import shutil

import grpc
import keras
import numpy as np
import pandas as pd
import pyBigWig
import pysam
import pytest
from conftest import write_fasta

from kerasgene.cli import main
from kerasgene.errors import ConfigError
from kerasgene.serving import Client, ServingError, export
from kerasgene.serving.client import make_tensor_proto
from kerasgene.serving.exporter import list_versions
from kerasgene.serving.server import Server

SIZES = {"chr1": 3000, "chr2": 2000}
TSS, TTS = [30, 20], [20, 30]
LENGTH = sum(TSS) + sum(TTS)
META = {"tss_flank": TSS, "tts_flank": TTS, "track_names": ["DNase", "WGBS"],
        "transforms": {"DNase": {"name": "neglog10p", "resolution": 20}, "WGBS": "percent"},
        "input_shapes": {"sequence": [LENGTH, 4], "epigenome": [LENGTH, 2]},
        "log_base": 2, "pseudocount": 1}


def tiny_model(length: int = LENGTH) -> keras.Model:
    keras.utils.set_random_seed(0)
    seq = keras.Input((length, 4), name="sequence")
    epi = keras.Input((length, 2), name="epigenome")
    x = keras.layers.Concatenate()([keras.layers.Conv1D(4, 5, activation="relu")(seq),
                                    keras.layers.Conv1D(4, 5, activation="relu")(epi)])
    out = keras.layers.Dense(1, name="expression")(keras.layers.GlobalAveragePooling1D()(x))
    return keras.Model({"sequence": seq, "epigenome": epi}, {"expression": out}, name="tiny")


def write_bw(path, sizes: dict[str, int], rng, scale: float, step: int = 10) -> str:
    """A bigWig with one value per ``step`` bp on every chromosome of ``sizes`` (pyBigWig)."""
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for chrom, n in sizes.items():
        starts = list(range(0, n, step))
        bw.addEntries([chrom] * len(starts), starts, ends=[min(s + step, n) for s in starts],
                      values=[float(v) for v in np.round(rng.uniform(0, scale, len(starts)), 2)])
    bw.close()
    return str(path)


def gtf(path, rows) -> str:
    text = "".join(f'{c}\tt\tgene\t{lo + 1}\t{hi}\t.\t{s}\t.\tgene_id "{g}"; gene_name "N{g}"; '
                   f'gene_type "protein_coding";\n' for g, c, lo, hi, s in rows)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return str(path)


GOOD = [("g1", "chr1", 200, 900, "+"), ("g2", "chr1", 1000, 1600, "-"),
        ("g3", "chr2", 500, 1200, "+")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    files = {
        "fasta": write_fasta(d / "g.fa", {c: "".join(rng.choice(list("ACGT"), n))
                                          for c, n in SIZES.items()}),
        "dnase": write_bw(d / "dnase.bw", SIZES, rng, 8.0),
        "wgbs": write_bw(d / "wgbs.bw", SIZES, rng, 100.0),
    }
    base = d / "models"
    model = tiny_model()
    export(model, base, "toy", metadata=META)
    export(tiny_model(2500), base, "bare")  # no preprocessing constants; the paper's 2,500 bp
    broken = tiny_model()
    kernel, bias = broken.get_layer("expression").get_weights()
    broken.get_layer("expression").set_weights([kernel, np.full_like(bias, np.nan)])
    export(broken, base, "broken", metadata=META)  # outputs NaN from finite inputs
    server = Server(base, port=0, poll_seconds=0, allow_empty=False).start()
    try:
        yield d, files, f"127.0.0.1:{server.port}", base
    finally:
        server.stop()


def predict(world, genes, out, *extra, model="toy", tracks=None, genome=None):
    _, files, target, _ = world
    tracks = tracks or {"DNase": files["dnase"], "WGBS": files["wgbs"]}
    argv = ["predict", "--target", target, "--model", model, "--genes", str(genes),
            "--genome", str(genome or files["fasta"]), "--out", str(out), *extra]
    for name, path in tracks.items():
        argv += ["--track", f"{name}={path}"]
    return main(argv)


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasgene: error: "), err
    return err


def test_genes_the_files_cannot_hold_are_left_out_counted_and_named(world, tmp_path, capsys,
                                                                     caplog):
    """A gene on a chromosome the FASTA lacks used to stop the whole prediction; a gene
    beyond its chromosome's end was predicted on all-N / all-0 inputs; a window padded
    past an end went without a word."""
    rows = [*GOOD, ("gUn", "chr9", 100, 600, "+"),            # chromosome absent
            ("gBey", "chr2", 2500, 2900, "+"),                # beyond chr2's 2,000 bp
            ("gPad", "chr2", 1900, 1990, "+")]                # window runs past the end
    genes = gtf(tmp_path / "genes.gtf.gz", rows)
    with caplog.at_level(logging.WARNING):
        assert predict(world, genes, tmp_path / "p.tsv") == 0
    table = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert list(table.gene_id) == [r[0] for r in rows]
    missing = table.set_index("gene_id").expression.isna()
    assert list(missing[missing].index) == ["gUn", "gBey"]
    assert "wrote predictions for 4 of 6 genes" in capsys.readouterr().err
    assert "2 of 6 genes not predicted" in caplog.text
    assert "1 unknown_chrom (gUn: chr9 is not in" in caplog.text
    assert "1 beyond_chrom_end (gBey: chr2 has 2,000 bp in" in caplog.text
    assert "1 gene windows run past a chromosome end" in caplog.text and "gPad" in caplog.text
    # the predicted rows are those of the good genes alone (rows stay aligned)
    assert predict(world, gtf(tmp_path / "good.gtf", GOOD), tmp_path / "good.tsv") == 0
    good = pd.read_csv(tmp_path / "good.tsv", sep="\t")
    np.testing.assert_allclose(table.expression.iloc[:3], good.expression, rtol=1e-6)


def test_genes_the_annotation_reader_skips_are_counted_in_the_summary(world, tmp_path, capsys):
    """An unstranded gene of the --genes GTF has no row (its reader skips it with a
    warning); the summary counted only the genes read, so the table and the file
    disagreed without a word there."""
    rows = [*GOOD, ("gNo", "chr1", 300, 700, ".")]
    genes = gtf(tmp_path / "genes.gtf", rows)
    assert predict(world, genes, tmp_path / "p.tsv") == 0
    assert list(pd.read_csv(tmp_path / "p.tsv", sep="\t").gene_id) == [r[0] for r in GOOD]
    assert (f"wrote predictions for 3 of 3 genes to {tmp_path / 'p.tsv'}; 1 more genes of "
            f"{genes} were skipped by its reader (no strand, several loci, ...: see the "
            "warnings) and have no row") in capsys.readouterr().err


def test_nan_outputs_of_the_model_are_named_in_a_warning(world, tmp_path, capsys, caplog):
    """A model that returns NaN from finite inputs (NaN weights): the table's cells are
    empty and the line said "see the warning", but there was none."""
    with caplog.at_level(logging.WARNING):
        assert predict(world, gtf(tmp_path / "g.gtf", GOOD), tmp_path / "p.tsv",
                       model="broken") == 0
    assert pd.read_csv(tmp_path / "p.tsv", sep="\t").expression.isna().all()
    assert f"wrote predictions for 0 of {len(GOOD)} genes" in capsys.readouterr().err
    assert (f"the model returned NaN or infinite 'expression' for {len(GOOD)} of {len(GOOD)} "
            "genes (their cells are empty; the inputs were finite): "
            + ", ".join(r[0] for r in GOOD)) in caplog.text


def test_an_unknown_model_name_lists_the_models_served(world, tmp_path, capsys):
    """NOT_FOUND named the model asked for but not those the server holds."""
    assert predict(world, gtf(tmp_path / "g.gtf", GOOD), tmp_path / "p.tsv", model="tpy") == 2
    err = capsys.readouterr().err
    assert "model 'tpy' not found (models served: bare, broken, toy)" in err, err
    assert not (tmp_path / "p.tsv").exists()


def test_a_track_of_another_assembly_or_missing_a_chromosome(world, tmp_path, capsys, caplog):
    """A DNase bigWig whose chr1 is shorter (another assembly) was read at the FASTA's
    coordinates, silently; one without chr2 stopped the run naming no gene."""
    _, files, _, _ = world
    rng = np.random.default_rng(1)
    other = write_bw(tmp_path / "hg19_dnase.bw", {"chr1": 2500, "chr2": 2000}, rng, 8.0)
    no_chr2 = write_bw(tmp_path / "chr1_dnase.bw", {"chr1": 3000}, rng, 8.0)
    genes = gtf(tmp_path / "genes.gtf", GOOD)
    with caplog.at_level(logging.WARNING):
        assert predict(world, genes, tmp_path / "a.tsv",
                       tracks={"DNase": other, "WGBS": files["wgbs"]}) == 0
    assert "2 chrom_length_mismatch (g1, g2: chr1 has 3,000 bp in" in caplog.text
    assert "hg19_dnase.bw 2,500 bp (another assembly?)" in caplog.text
    assert pd.read_csv(tmp_path / "a.tsv", sep="\t").expression.isna().tolist() == [
        True, True, False]
    caplog.clear()
    capsys.readouterr()
    only_chr2 = gtf(tmp_path / "chr2.gtf", GOOD[2:])
    assert predict(world, only_chr2, tmp_path / "b.tsv",
                   tracks={"DNase": no_chr2, "WGBS": files["wgbs"]}) == 2
    err = one_error(capsys)
    assert "none of the 1 genes can be predicted: 1 unknown_chrom (g3: chr2 is not in" in err
    assert "chr1_dnase.bw" in err
    assert not (tmp_path / "b.tsv").exists()


def test_user_formats_give_the_same_predictions(world, tmp_path, caplog):
    """gzip GFF3, plain-gzip and bgzip FASTA, a gzip bedGraph and Ensembl-named ('1')
    bigWigs: the same numbers as the plain files."""
    _, files, _, _ = world
    assert predict(world, gtf(tmp_path / "genes.gtf", GOOD), tmp_path / "ref.tsv") == 0
    ref = pd.read_csv(tmp_path / "ref.tsv", sep="\t").expression
    with gzip.open(tmp_path / "genes.gff3.gz", "wt") as fh:
        fh.write("##gff-version 3\n" + "".join(
            f"{c}\tt\tgene\t{lo + 1}\t{hi}\t.\t{s}\t.\tID=gene:{g};gene_id={g};"
            "biotype=protein_coding\n" for g, c, lo, hi, s in GOOD))
    with open(files["fasta"], "rb") as src, gzip.open(tmp_path / "g.fa.gz", "wb") as dst:
        dst.write(src.read())
    pysam.tabix_compress(files["fasta"], str(tmp_path / "g.bgz.fa.gz"))
    bw = pyBigWig.open(files["dnase"])
    with gzip.open(tmp_path / "dnase.bedGraph.gz", "wt") as fh:
        for chrom in SIZES:
            fh.writelines(f"{chrom}\t{a}\t{b}\t{v}\n" for a, b, v in bw.intervals(chrom))
    ensembl = {k.removeprefix("chr"): n for k, n in SIZES.items()}
    wgbs = pyBigWig.open(files["wgbs"])
    ens = pyBigWig.open(str(tmp_path / "wgbs_ens.bw"), "w")
    ens.addHeader(list(ensembl.items()))
    for chrom in SIZES:
        iv = wgbs.intervals(chrom)
        ens.addEntries([chrom.removeprefix("chr")] * len(iv), [a for a, _, _ in iv],
                       ends=[b for _, b, _ in iv], values=[v for _, _, v in iv])
    ens.close()
    bw.close()
    wgbs.close()
    for genome in ("g.fa.gz", "g.bgz.fa.gz"):
        out = tmp_path / f"{genome}.tsv"
        assert predict(world, tmp_path / "genes.gff3.gz", out, genome=tmp_path / genome,
                       tracks={"DNase": tmp_path / "dnase.bedGraph.gz",
                               "WGBS": tmp_path / "wgbs_ens.bw"}) == 0
        np.testing.assert_allclose(pd.read_csv(out, sep="\t").expression, ref, rtol=1e-6)
    assert "not predicted" not in caplog.text


def test_an_export_without_track_order_is_refused_for_several_tracks(world, tmp_path, capsys,
                                                                      caplog):
    """An export made without preprocessing constants took the channel order from the
    order of --track options: swapping two options changed every prediction, silently."""
    genes = gtf(tmp_path / "genes.gtf", GOOD)
    with caplog.at_level(logging.WARNING):
        assert predict(world, genes, tmp_path / "p.tsv", model="bare") == 2
    err = one_error(capsys)
    assert "the export records no track order (exported without preprocessing constants)" in err
    assert "re-export with --metadata RUN/preprocessing.json" in err
    assert "records no window layout" in caplog.text
    assert not (tmp_path / "p.tsv").exists()


def test_export_refuses_the_metadata_of_another_model(world, tmp_path, capsys):
    """--metadata of a run with another track count used to be exported; predict then
    failed at the server with a shape error blaming the request."""
    meta = tmp_path / "other.json"
    meta.write_text('{"track_names": ["DNase", "H3K4me3", "WGBS"], "tss_flank": [30, 20]}')
    model = tiny_model()
    model.save(tmp_path / "best_model.keras")
    base = tmp_path / "models"
    assert main(["export", "--run", str(tmp_path / "best_model.keras"), "--base-dir", str(base),
                 "--name", "x", "--metadata", str(meta)]) == 2
    err = one_error(capsys)
    assert "name 3 tracks ['DNase', 'H3K4me3', 'WGBS'], but the model's 'epigenome' input " \
           "has 2 channels" in err
    meta.write_text('{"input_shapes": {"epigenome": [100, 3]}}')
    assert main(["export", "--run", str(tmp_path / "best_model.keras"), "--base-dir", str(base),
                 "--name", "x", "--metadata", str(meta)]) == 2
    assert "give input 'epigenome' shape [100, 3], but the model's is [100, 2]" in \
        one_error(capsys)
    assert list_versions(base / "x") == []


def test_genes_argument_missing_or_empty_and_no_server(world, tmp_path, capsys, caplog):
    """A mistyped --genes path was read as a gene id ('a list of gene ids needs an
    annotation'); a list without ids wrote an empty table; a stopped server gave gRPC's
    words only; --timeout 0 was a DEADLINE_EXCEEDED."""
    out = tmp_path / "p.tsv"
    assert predict(world, tmp_path / "genes.gft", out) == 2
    assert f"--genes {tmp_path / 'genes.gft'}: file not found" in one_error(capsys)
    (tmp_path / "ids.txt").write_text("# my genes\n\n")
    assert predict(world, tmp_path / "ids.txt", out, "--annotation",
                   gtf(tmp_path / "a.gtf", GOOD)) == 2
    assert "ids.txt: no gene in the file (only blank or comment lines)" in one_error(capsys)
    (tmp_path / "header.gtf").write_text("##description: nothing yet\n")
    assert predict(world, tmp_path / "header.gtf", out) == 2
    assert "header.gtf: no gene in the file" in one_error(capsys)
    assert predict(world, gtf(tmp_path / "g.gtf", GOOD), out, "--timeout", "0") == 2
    assert "timeout must be > 0 seconds" in one_error(capsys)
    _, files, _, _ = world
    assert main(["predict", "--target", "127.0.0.1:1", "--model", "toy", "--genes",
                 str(tmp_path / "g.gtf"), "--genome", files["fasta"], "--track",
                 f"DNase={files['dnase']}", "--track", f"WGBS={files['wgbs']}", "--out",
                 str(out)]) == 2
    assert "UNAVAILABLE" in (err := one_error(capsys))
    assert "is a model server running at 127.0.0.1:1?" in err
    assert not out.exists()
    # the same file for two tracks is named in a warning
    with caplog.at_level(logging.WARNING):
        assert predict(world, tmp_path / "g.gtf", out,
                       tracks={"DNase": files["dnase"], "WGBS": files["dnase"]}) == 0
    assert "tracks 'DNase' and 'WGBS' are the same file" in caplog.text


def test_out_naming_an_input_a_folder_or_a_path_below_a_file(world, tmp_path, capsys):
    """--out naming one of the inputs (also when the input is given through a link)
    replaced it with the table; a folder or a path below a file was refused only after
    every prediction had been made."""
    _, files, _, _ = world
    genome = shutil.copy(files["fasta"], tmp_path / "g.fa")  # copies: the old code wrote
    dnase = shutil.copy(files["dnase"], tmp_path / "dnase.bw")  # over them
    genes = gtf(tmp_path / "genes.gtf", GOOD)
    ids = tmp_path / "ids.txt"
    ids.write_text("g1\ng3\n")
    aliases = tmp_path / "aliases.txt"
    aliases.write_text("chr1\t1\nchr2\t2\n")
    link = tmp_path / "link.fa"
    link.symlink_to(genome)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    tracks = {"DNase": dnase, "WGBS": files["wgbs"]}
    cases = [("g.fa", "--genome file", genome, genes), ("g.fa", "--genome file", link, genes),
             ("dnase.bw", "--track DNase file", genome, genes),
             ("genes.gtf", "--genes file", genome, genes),
             ("genes.gtf", "--annotation file", genome, ids, "--annotation", genes),
             ("aliases.txt", "--chrom-aliases table", genome, genes, "--chrom-aliases",
              str(aliases))]
    for out, what, fasta, spec, *extra in cases:
        assert predict(world, spec, tmp_path / out, *extra, genome=fasta, tracks=tracks) == 2
        assert one_error(capsys) == (
            f"kerasgene: error: --out: {tmp_path / out} is the {what} itself; expected another "
            f"path for the TSV (the TSV would replace the {what})\n")
    assert predict(world, genes, tmp_path, tracks=tracks) == 2
    assert one_error(capsys) == (f"kerasgene: error: --out: {tmp_path} is a directory; expected "
                                 f"the path of the TSV to write (e.g. {tmp_path / 'out.tsv'})\n")
    assert predict(world, genes, tmp_path / "genes.gtf" / "p.tsv", tracks=tracks) == 2
    assert one_error(capsys) == (
        f"kerasgene: error: --out: {tmp_path / 'genes.gtf' / 'p.tsv'}: {tmp_path / 'genes.gtf'} "
        "is a file, not a folder; expected a path where a folder can be made\n")
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written


def test_nan_or_infinite_inputs_are_refused_by_the_client_and_the_server(world):
    """A NaN or infinite input was predicted from: NaN rows at best, and from a
    max-pooling classifier (deepchrome) confident finite class probabilities ([1, 0] for
    one NaN among 500 values); a float64 value beyond float32 became inf in the cast."""
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    _, _, target, _ = world
    rng = np.random.default_rng(2)
    good = {"sequence": rng.random((3, LENGTH, 4), dtype=np.float32),
            "epigenome": rng.random((3, LENGTH, 2), dtype=np.float32)}
    nan = {**good, "sequence": good["sequence"].copy()}
    nan["sequence"][1, 7, 2] = np.nan
    nan["sequence"][2, 0, 0] = -np.inf
    huge = {**good, "epigenome": good["epigenome"].astype(np.float64)}
    huge["epigenome"][0, 3, 1] = 1e39
    with Client(target, "toy") as client:
        with pytest.raises(ServingError) as info:
            client.predict(nan)
        assert info.value.code == "INVALID_ARGUMENT"
        assert str(info.value) == (f"{target} model 'toy': input 'sequence': 2 NaN or infinite "
                                   "value(s), the first nan at [1, 7, 2]; expected finite numbers")
        with pytest.raises(ServingError, match=r"input 'epigenome': 1 NaN or infinite value\(s\)"
                           r", the first inf at \[0, 3, 1\]; expected finite numbers \(after "
                           r"the cast from float64 to the signature's float32\)"):
            client.predict(huge)
        assert client.predict(good)["expression"].shape == (3, 1)
    # another client: the server refuses it too
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    for key, value in nan.items():
        request.inputs[key].CopyFrom(make_tensor_proto(value))
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as info:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == ("input 'sequence': 2 NaN or infinite value(s), the first nan "
                                    "at [1, 7, 2]; expected finite numbers")


@pytest.mark.parametrize("target", ["127.0.0.1", "http://127.0.0.1:8500", "127.0.0.1:8500/",
                                    "127.0.0.1:85O0", "127.0.0.1:0", "127.0.0.1:70000", ""])
def test_a_target_that_is_not_host_port_is_refused(target):
    """gRPC took a target without a port to mean port 443, and a URL or a stray
    character failed only at the first call, as 'UNAVAILABLE ... (is a model server
    running at http://127.0.0.1:8500?)'."""
    with pytest.raises(ConfigError) as info:
        Client(target, "toy")
    assert str(info.value) == (
        f"Client: target {target!r}: expected HOST:PORT of a gRPC endpoint (e.g. "
        "127.0.0.1:8500, [::1]:8500; no scheme such as http://, no path; a port from 1 to "
        "65535)")


def test_predict_target_is_checked_before_any_input_is_read(world, tmp_path, capsys):
    """``predict --target 127.0.0.1`` (no port) tried port 443 and answered UNAVAILABLE."""
    _, files, target, _ = world
    out = tmp_path / "p.tsv"
    assert main(["predict", "--target", "127.0.0.1", "--model", "toy", "--genes",
                 gtf(tmp_path / "g.gtf", GOOD), "--genome", files["fasta"], "--out",
                 str(out)]) == 2
    assert "Client: target '127.0.0.1': expected HOST:PORT" in one_error(capsys)
    assert not out.exists()
    for ok in (target, target.replace("127.0.0.1", "localhost"), f"dns:///{target}", "[::1]:1"):
        Client(ok, "toy").close()


def test_serve_refuses_option_values_grpc_would_change(world, capsys):
    """gRPC took --port modulo 65536 (-1 listened on 65535, 65536 on a random free port),
    answered every call RESOURCE_EXHAUSTED under --max-concurrent-rpcs 0, and
    --max-workers 0 was a ValueError traceback; a negative --poll-seconds never polled."""
    base = world[3]
    assert main(["serve", "--model-base-path", str(base), "--max-workers", "0"]) == 2
    assert one_error(capsys) == "kerasgene: error: serve: max_workers must be >= 1 (got 0)\n"
    cases = [({"port": -1}, "port must be an integer from 0 to 65535 (0: any free port; got -1)"),
             ({"port": 65536}, "got 65536"),
             ({"max_concurrent_rpcs": 0}, "max_concurrent_rpcs must be >= 1 (got 0)"),
             ({"load_threads": 0}, "load_threads must be >= 1 (got 0)"),
             ({"poll_seconds": -1.0}, "poll_seconds must be a finite number of seconds >= 0 "
                                      "(0: never look for new versions; got -1.0)"),
             ({"poll_seconds": float("nan")}, "got nan")]
    for options, words in cases:
        with pytest.raises(ConfigError) as info:
            Server(base, **{"port": 0, **options})
        assert words in str(info.value), (options, str(info.value))


def test_a_request_over_the_servers_message_limit_says_what_to_change(world):
    """RESOURCE_EXHAUSTED came without a word on which limit or option."""
    server = Server(world[3], port=0, poll_seconds=0, max_message_bytes=1 << 20).start()
    try:
        n = (1 << 20) // (LENGTH * 6 * 4) + 8  # a little over 1 MiB of float32
        with Client(f"127.0.0.1:{server.port}", "toy", batch_size=n) as client, \
                pytest.raises(ServingError) as info:
            client.predict({"sequence": np.zeros((n, LENGTH, 4), np.float32),
                            "epigenome": np.zeros((n, LENGTH, 2), np.float32)})
    finally:
        server.stop()
    assert info.value.code == "RESOURCE_EXHAUSTED"
    assert ("send fewer examples per request: predict --batch-size, Client(batch_size=...) "
            "— or raise the limit: serve --max-message-mb") in str(info.value), str(info.value)


def test_serve_on_a_port_in_use_says_so(world, capsys):
    """gRPC's own message said only "Failed to bind to address ...; set GRPC_VERBOSITY"."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model-base-path", str(world[3]), "--port", str(port)]) == 2
    assert one_error(capsys) == (
        f"kerasgene: error: serve: cannot listen on 127.0.0.1:{port} (Address already in use "
        f"on 127.0.0.1 (port {port})); expected a free port (--port, or 0 for any)\n")


def test_serve_names_a_version_folder_or_a_run_directory_given_as_the_repository(world,
                                                                                  tmp_path,
                                                                                  capsys):
    """--model-base-path at a version folder or at a run directory was answered 'no
    servable version in assets, variables' (or 'in dataset, explain'): their subfolders
    taken for models."""
    base = world[3]
    run = tmp_path / "run"
    (run / "dataset").mkdir(parents=True)
    (run / "explain").mkdir()
    (run / "config.yaml").write_text("system: isegnet\n")
    serve = ["serve", "--port", "0", "--poll-seconds", "0", "--model-base-path"]
    allow = "; pass --allow-empty to start anyway and serve exports made later\n"
    assert main([*serve, str(base / "toy" / "1")]) == 2
    assert one_error(capsys) == (
        f"kerasgene: error: serve: {base / 'toy' / '1'} is a version folder itself (it holds "
        f"saved_model.pb): give {base} (--model-base-path is the folder of model folders)"
        + allow)
    assert main([*serve, str(run)]) == 2
    assert one_error(capsys) == (
        f"kerasgene: error: serve: {run} is a run directory, not a model repository: export "
        f"it first (kerasgene export --run {run} --base-dir MODELS --name NAME) and serve "
        "MODELS" + allow)


# ------------------------------------------- checks against the training windows' record
CHECKED_SIZES = {"chr1": 42_000, "chr2": 42_000, "chr3": 42_000}
CHECKED_GENES = [(f"{c}_{i}", c, 300 + 380 * i, 500 + 380 * i, "+-"[i % 2])
                 for c in CHECKED_SIZES for i in range(110)]  # chr1's first


def rewrite_bw(path, source, values_of) -> str:
    """A bigWig of ``source``'s intervals with ``values_of(chrom, values)`` as values."""
    with pyBigWig.open(str(source)) as bw:
        sizes, runs = bw.chroms(), {c: bw.intervals(c) for c in bw.chroms()}
    out = pyBigWig.open(str(path), "w")
    out.addHeader(list(sizes.items()))
    for c, rows in runs.items():
        values = values_of(c, np.array([v for _, _, v in rows]))
        out.addEntries([c] * len(rows), [s for s, _, _ in rows], ends=[e for _, e, _ in rows],
                       values=[float(v) for v in values])
    out.close()
    return str(path)


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """The tiny model exported with the record of its training windows (``track_stats``,
    ``track_profiles``, ``sequence_n_fraction``) of 330 genes on three chromosomes whose
    tracks hold one value per 20 bp; served in-process: ``(folder, files, client)``."""
    from kerasgene.io.annotation import read_gtf
    from kerasgene.io.genome import Genome
    from kerasgene.io.track_checks import track_profiles, track_statistics
    from kerasgene.io.tracks import TrackSet
    from kerasgene.serving.gene_inputs import window_inputs

    d = tmp_path_factory.mktemp("checked")
    rng = np.random.default_rng(1)
    files = {"fasta": write_fasta(d / "g.fa", {c: "".join(rng.choice(list("ACGT"), n))
                                               for c, n in CHECKED_SIZES.items()}),
             "DNase": write_bw(d / "dnase.bw", CHECKED_SIZES, rng, 8.0, step=20),
             "WGBS": write_bw(d / "wgbs.bw", CHECKED_SIZES, rng, 100.0, step=20),
             "genes": gtf(d / "genes.gtf", CHECKED_GENES)}
    with Genome(files["fasta"]) as genome, TrackSet(
            {t: (files[t], META["transforms"][t]) for t in META["track_names"]}) as tracks:
        train = window_inputs(read_gtf(files["genes"]), genome, tracks, (TSS, TTS),
                              np.dtype(np.float32))
    record = {**META, "track_stats": track_statistics(train["epigenome"], META["track_names"]),
              "track_profiles": track_profiles(train["epigenome"], META["track_names"]),
              "sequence_n_fraction": 0.0}
    export(tiny_model(), d / "models", "checked", metadata=record)
    server = Server(d / "models", port=0, poll_seconds=0, allow_empty=False).start()
    try:
        with Client(f"127.0.0.1:{server.port}", "checked") as client:
            yield d, files, client
    finally:
        server.stop()


def checked_warnings(checked, caplog, chunk_size=1024, **files) -> list[str]:
    """The warnings of predicting the 330 genes from the checked world's files, some
    replaced by ``files``."""
    from kerasgene.io.annotation import read_gtf

    _, world_files, client = checked
    given = {**world_files, **files}
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        out = client.predict_genes(read_gtf(given["genes"]), given["fasta"],
                                   {t: given[t] for t in META["track_names"]},
                                   chunk_size=chunk_size)
    assert np.isfinite(out["expression"]).all()
    return [r.getMessage() for r in caplog.records]


def test_a_track_binned_at_a_coarser_resolution_is_named(checked, caplog):
    """A DNase bigWig of the same signal binned at 200 bp (as pipelines write coarse
    tracks) where the model was trained on 20 bp intervals is on the training scale, so
    it was predicted from blocky windows without a word. The record's ``change_bp``
    (bp per change of value along the windows) names it."""
    d, files, _ = checked
    assert checked_warnings(checked, caplog) == []

    def binned(chrom, values):  # 10 intervals of 20 bp → one 200 bp value, as bins
        return np.repeat(values.reshape(-1, 10).mean(axis=1), 10)

    coarse = rewrite_bw(d / "dnase_200bp.bw", files["DNase"], binned)
    with pyBigWig.open(coarse) as bw:
        assert len({round(v, 6) for _, _, v in bw.intervals("chr1", 0, 200)}) == 1
    lines = checked_warnings(checked, caplog, DNase=coarse)
    assert len(lines) == 1 and lines[0].startswith("predict_genes: track 'DNase': its values "
                                                   "change about every "), lines
    got, trained = map(int, re.search(r"every (\d+) bp along 330 windows, against every "
                                      r"(\d+) bp in the training data's: a file binned at "
                                      r"a coarser resolution than the model was trained on",
                                      lines[0]).groups())
    assert 15 <= trained <= 20 and got >= 4 * trained  # 50 bp stretches: their ends count


@pytest.fixture(scope="module")
def broken_later(checked):
    """Files of the checked world that are fine on chr1 and broken on chr2 and chr3: a
    WGBS file whose later chromosomes hold fractions (0-1) instead of percentages, a
    FASTA whose later chromosomes are all N."""
    from kerasgene.io.genome import Genome

    d, files, _ = checked
    wgbs = rewrite_bw(d / "wgbs_fraction_later.bw", files["WGBS"],
                      lambda c, v: v if c == "chr1" else v / 100)
    with Genome(files["fasta"]) as genome:
        seqs = {c: genome.fetch(c, 0, n) if c == "chr1" else "N" * n
                for c, n in genome.chroms.items()}
    return {"WGBS": wgbs, "fasta": write_fasta(d / "later_n.fa", seqs)}


def test_every_chunk_is_checked_per_chromosome(checked, broken_later, caplog):
    """Files fine on chr1 and broken on later chromosomes passed the checks of the first
    chunk (chr1's genes alone) without a word. Every chunk's windows are summed per
    chromosome (``note_inputs``, as ``predict_genes`` reads them) and checked at the end
    (``warn_inputs``): the chromosomes off the training record are named."""
    from kerasgene.io.annotation import read_gtf
    from kerasgene.io.genome import Genome
    from kerasgene.io.tracks import TrackSet
    from kerasgene.serving import gene_inputs as gi

    _, files, client = checked
    settings = gi.preprocessing_settings(client.constants())
    genes = read_gtf(files["genes"])

    def warnings(fasta, wgbs) -> list[str]:
        caplog.clear()
        summary: dict = {}
        with Genome(fasta) as genome, TrackSet(
                {"DNase": (files["DNase"], META["transforms"]["DNase"]),
                 "WGBS": (wgbs, META["transforms"]["WGBS"])}) as tracks, \
                caplog.at_level(logging.WARNING):
            for lo in range(0, len(genes), 20):  # chunks of 20 genes: the first chr1's
                chunk = genes[lo : lo + 20]
                gi.note_inputs(summary, [g.chrom for g in chunk], gi.window_inputs(
                    chunk, genome, tracks, (TSS, TTS), np.dtype(np.float32)))
            gi.warn_inputs(settings, summary, tracks)
        return [r.getMessage() for r in caplog.records]

    assert warnings(files["fasta"], files["WGBS"]) == []
    sorted_genes = genes  # a list not sorted by chromosome (--genes ids.txt keeps its order)
    genes = [sorted_genes[k + 110 * c] for k in range(110) for c in range(3)]
    assert [g.chrom for g in genes[:3]] == ["chr1", "chr2", "chr3"]
    assert warnings(files["fasta"], files["WGBS"]) == []  # one window per chromosome run
    genes = sorted_genes
    lines = warnings(broken_later["fasta"], broken_later["WGBS"])
    assert len(lines) == 2, lines
    assert lines[0].startswith("predict_genes: 100% of the sequence in 220 gene windows of "
                               "chr2, chr3 (2 of the 3 chromosomes with >= 20 gene windows) "
                               "is N, against "
                               "0.0% of the training windows': a hard-masked genome"), lines[0]
    assert lines[1].startswith("predict_genes: track 'WGBS' on 2 of the 3 chromosomes with "
                               ">= 20 gene windows of its signal (chr2, chr3), on scale on "
                               "the others; on chr2: mean "), lines[1]
    assert "x smaller than the training data's" in lines[1]


def test_the_checks_of_every_window_do_not_depend_on_the_order_of_the_genes(caplog):
    """A sparse track (peaks in 10 % of the windows) predicted from the same kind of file
    as training's: with the genes' chromosomes interleaved (``--genes ids.txt`` keeps the
    list's order) each chromosome's run was one window, the 99th percentile the mean of
    those windows' (1.07 against 9.05: "8x smaller", a false warning; one percentile per
    chunk of 1 window: the same). The percentile is now that of a uniform sample of every
    window's positions, and the chromosomes are compared by their mean: no warning in any
    order or chunk size, the same percentile within 5 %."""
    from kerasgene.io.track_checks import track_statistics
    from kerasgene.serving import gene_inputs as gi

    rng = np.random.default_rng(0)

    def sparse(n):
        x = np.zeros((n, 2000, 1), np.float32)
        for i in rng.choice(n, n // 10, replace=False):
            start = rng.integers(0, 1700)
            x[i, start:start + 300, 0] = rng.uniform(5, 15)
        return x

    settings = {"track_stats": track_statistics(sparse(400), ["H3K4me3"])}
    windows = sparse(400)
    tracks = type("Tracks", (), {"names": ["H3K4me3"], "tracks": {}})()
    p99 = []
    for chroms, chunk in (([f"chr{1 + i % 5}" for i in range(400)], 400),
                          ([f"chr{1 + i // 80}" for i in range(400)], 400),
                          ([f"chr{1 + i // 80}" for i in range(400)], 1)):  # chunk_size=1
        summary: dict = {}
        for lo in range(0, 400, chunk):
            gi.note_inputs(summary, chroms[lo:lo + chunk], {"epigenome": windows[lo:lo + chunk]})
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            gi.warn_inputs(settings, summary, tracks)
        assert caplog.records == [], caplog.text
        p99.append(np.percentile(summary["sample"][0][:, 0], 99))
    assert p99 == pytest.approx([np.percentile(windows, 99)] * 3, rel=0.05)


def test_a_sparse_track_of_counts_on_one_chromosome_is_named():
    """A peak track (signal in 10 % of the windows) whose chr2 holds read counts (40x): with
    chromosomes compared only where 100 windows carry signal, chr2's 30 went unchecked and
    the overall mean moved 3x, under 5x: no warning. Chromosomes with 20 to 99 such windows
    are compared at 20x: named, while the same files without the counts raise nothing."""
    from kerasgene.io.track_checks import add_sums, chrom_scale_mismatches, track_statistics
    from kerasgene.io.track_checks import window_sums as sums

    rng = np.random.default_rng(3)

    def peaks(n, scale=1.0):
        x = np.zeros((n, 2000, 1))
        for i in np.flatnonzero(rng.random(n) < 0.1):
            start = rng.integers(0, 1600)
            x[i, start:start + 300, 0] = rng.lognormal(1.5, 0.8) * scale
        return x

    trained = track_statistics(peaks(512), ["H3K27ac"])
    for broken in (False, True):
        by_chrom = {f"chr{k}": sums(peaks(300, 40.0 if broken and k == 2 else 1.0), p99=False)
                    for k in range(1, 23)}
        total = add_sums(None, by_chrom["chr1"])
        for c in list(by_chrom)[1:]:
            total = add_sums(total, by_chrom[c])
        total["p99"] = np.array([trained["H3K27ac"]["p99"] * total["windows"]])
        got = chrom_scale_mismatches(trained, total, by_chrom, ["H3K27ac"])
        assert len(got) == broken, got
        assert not broken or re.match(r"track 'H3K27ac' on 1 of the 2\d chromosomes with "
                                      r">= 20 gene windows of its signal \(chr2\), on scale "
                                      r"on the others; on chr2: mean .* 4\dx larger", got[0])


def test_window_sums_add_up_over_chunks_and_coarser_intervals_are_named():
    """The statistics of two chunks' summed ``window_sums`` are those of their windows
    together (the 99th percentile: their window-weighted mean), and a track whose values
    change 10x less often than training's is named; 10x more often is not (a deeper
    library's per-base pileup changes value more often at the same resolution)."""
    from kerasgene.io.track_checks import (
        add_sums,
        resolution_mismatches,
        track_profiles,
        track_statistics,
        window_sums,
    )

    base = np.random.default_rng(0).uniform(0.1, 1.0, (40, 40, 2))
    # 200 bp windows: 40 runs of 5 bp, or 4 of 50 bp (199 neighbours, 3 changes: 66 bp)
    fine, coarse = np.repeat(base, 5, axis=1), np.repeat(base[:, ::10], 50, axis=1)
    names = ["DNase", "WGBS"]
    whole = track_statistics(fine, names)
    summed = add_sums(window_sums(fine[:15]), window_sums(fine[15:]))
    for k in ("mean", "nonzero", "windows", "change_bp"):
        assert track_statistics(summed, names)["DNase"][k] == pytest.approx(whole["DNase"][k])
    assert np.allclose(track_profiles(summed, names)["WGBS"], track_profiles(fine, names)["WGBS"])
    assert whole["DNase"]["change_bp"] == pytest.approx(199 / 39)
    blocky = track_statistics(coarse, names)
    assert [m[:60] for m in resolution_mismatches(whole, blocky)] == [
        "track 'DNase': its values change about every 66 bp along 40 ",
        "track 'WGBS': its values change about every 66 bp along 40 w"]
    assert resolution_mismatches(blocky, whole) == []
    assert resolution_mismatches({"DNase": {"mean": 1.0}}, blocky) == []  # not recorded


def test_predict_genes_checks_every_chunk(checked, broken_later, caplog):
    """Files fine on chr1 and broken on chr2 and chr3 (a WGBS file of fractions, a FASTA
    all N there), predicted in chunks of 20 genes (the first chr1's alone): the scale and
    N checks read the first chunk only and said nothing; the checks of every window after
    the last chunk name the later chromosomes."""
    assert checked_warnings(checked, caplog, chunk_size=20) == []
    lines = checked_warnings(checked, caplog, chunk_size=20, **broken_later)
    assert len(lines) == 2, lines
    assert "100% of the sequence in 220 gene windows of chr2, chr3 (2 of the 3 " in lines[0]
    assert lines[1].startswith("predict_genes: track 'WGBS' on 2 of the 3 chromosomes")


def swapped_track_model() -> keras.Model:
    """:func:`tiny_model` with its two epigenome channels swapped in its first layer: the
    same predictions from tracks given in the order WGBS, DNase."""
    model = tiny_model()
    layer = next(la for la in model.layers if la.get_weights() and
                 la.get_weights()[0].shape[1] == 2)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel[:, ::-1, :], bias])
    return model


def test_predict_genes_uses_the_constants_of_the_version_it_predicts_with(world, tmp_path):
    """A Client read the export's constants once: after a new version with another track
    order was loaded, its predict_genes built inputs in the old order and sent them,
    unpinned, to the new version: wrong predictions, silently."""
    _, files, _, _ = world
    base = tmp_path / "models"
    export(tiny_model(), base, "m", metadata=META)
    genes = gtf(tmp_path / "genes.gtf", GOOD)
    tracks = {"DNase": files["dnase"], "WGBS": files["wgbs"]}
    server = Server(base, port=0, poll_seconds=0).start()
    try:
        with Client(f"127.0.0.1:{server.port}", "m") as client:
            first = client.predict_genes(genes, files["fasta"], tracks)["expression"]
            export(swapped_track_model(), base, "m", metadata={
                **META, "track_names": ["WGBS", "DNase"]})
            server.repo.poll()  # version 2 replaces version 1
            assert [s["version"] for s in client.status() if s["state"] == "AVAILABLE"] == [2]
            again = client.predict_genes(genes, files["fasta"], tracks)["expression"]
            assert client.constants()["preprocessing"]["track_names"] == ["WGBS", "DNase"]
    finally:
        server.stop()
    np.testing.assert_allclose(again, first, atol=1e-5)


def test_export_refuses_metadata_that_disagrees_with_the_runs_own(world, tmp_path, capsys):
    """``export --metadata`` of another run with as many tracks (or an edited copy) was
    exported: the track order could be swapped and predict fed the model's channels from
    the wrong files, silently."""
    from kerasgene.train import records

    run = tmp_path / "run"
    run.mkdir()
    tiny_model().save(run / "model.keras")
    (run / "preprocessing.json").write_text(json.dumps(META))
    records.record_run(run)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**META, "track_names": ["WGBS", "DNase"]}))
    argv = ["export", "--run", str(run), "--base-dir", str(tmp_path / "m"), "--name", "x"]
    assert main([*argv, "--metadata", str(other)]) == 2
    assert one_error(capsys) == (
        f"kerasgene: error: export: --metadata {other} disagrees with the run's own "
        f"{run / 'preprocessing.json'}: track_names[0] is 'WGBS' where the run's is 'DNase'; "
        "give the run's preprocessing.json (or leave --metadata out)\n")
    other.write_text(json.dumps({**META, "input_shapes": {"sequence": [LENGTH, 4]}}))
    assert main([*argv, "--metadata", str(other)]) == 2
    assert "input_shapes['epigenome'] is None where the run's is [100, 2]" in one_error(capsys)
    assert list_versions(tmp_path / "m" / "x") == []
    shutil.copy(run / "preprocessing.json", other)
    assert main([*argv, "--metadata", str(other)]) == 0


def test_serve_refuses_a_port_in_use_on_any_address_of_the_host(world):
    """``serve --host localhost`` with 127.0.0.1:PORT held by another server listened on
    [::1] alone and started: clients of 127.0.0.1 reached the other server."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            Server(world[3], host="localhost", port=port)
    assert str(info.value) == (
        f"serve: cannot listen on localhost:{port} (Address already in use on 127.0.0.1 "
        f"(port {port})); expected a free port (--port, or 0 for any)")


def typed_request(model: str, values: dict[str, tuple[tuple, list]]):
    """A PredictRequest with ``float_val`` lists, as Java, Go and C++ clients write them:
    ``{input: (shape, values)}``."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for key, (shape, listed) in values.items():
        request.inputs[key].dtype = 1  # DT_FLOAT
        for n in shape:
            request.inputs[key].tensor_shape.dim.add(size=n)
        request.inputs[key].float_val.extend(listed)
    return request


def test_the_server_refuses_value_lists_shorter_than_the_shape(world):
    """A ``float_val`` list shorter than its shape was padded (no values: zeros; some:
    the last value repeated) and predicted from."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    seq, epi = ((1, LENGTH, 4), [0.25] * LENGTH * 4), ((1, LENGTH, 2), [0.5] * LENGTH * 2)
    with grpc.insecure_channel(world[2]) as channel:
        call = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
        for short, given in ((((1, LENGTH, 4), []), 0), (((1, LENGTH, 4), [0.25] * 300), 300)):
            with pytest.raises(grpc.RpcError) as info:
                call(typed_request("toy", {"sequence": short, "epigenome": epi}), timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert info.value.details() == (
                f"input 'sequence': {given} values in float_val for shape (1, {LENGTH}, 4); "
                f"expected {LENGTH * 4} (or 1 to fill the shape)")
        full = call(typed_request("toy", {"sequence": seq, "epigenome": epi}), timeout=30)
        one = call(typed_request("toy", {"sequence": ((1, LENGTH, 4), [0.25]),
                                         "epigenome": epi}), timeout=30)  # fills the shape
    assert one.outputs["expression"] == full.outputs["expression"]


def test_malformed_client_inputs_are_refused_naming_the_input_and_shape(world):
    """One window without the batch axis was split into chunks and reported as a shape
    the user never sent ((256, 2)); an empty batch was a multi-line TensorFlow error;
    a DNA string as 'sequence' a raw numpy ValueError."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    target = world[2]
    rng = np.random.default_rng(3)
    seq = rng.random((1, LENGTH, 4), dtype=np.float32)
    epi = rng.random((1, LENGTH, 2), dtype=np.float32)
    cases = [
        ({"sequence": seq[0], "epigenome": epi[0]}, f"input 'sequence': shape ({LENGTH}, 4), "
         f"expected (?, {LENGTH}, 4); one example needs a batch axis: x[None]"),
        ({"sequence": seq[:0], "epigenome": epi[:0]}, f"input 'sequence': an empty batch, "
         f"shape (0, {LENGTH}, 4); expected (?, {LENGTH}, 4) with ? >= 1"),
        ({"sequence": np.array([["ACGT"]]), "epigenome": epi}, "input 'sequence': <U4 values "
         "(e.g. ['ACGT']), expected float32 numbers"),
    ]
    with Client(target, "toy", batch_size=16) as client:
        for inputs, words in cases:
            with pytest.raises(ServingError) as info:
                client.predict(inputs)
            assert info.value.code == "INVALID_ARGUMENT"
            assert str(info.value) == f"{target} model 'toy': {words}"
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as info:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(typed_request(
            "toy", {"sequence": ((0, LENGTH, 4), []), "epigenome": ((0, LENGTH, 2), [])}),
            timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == (f"input 'epigenome': an empty batch, shape (0, {LENGTH}, "
                                    "2); expected at least one example")
