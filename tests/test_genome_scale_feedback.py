"""What a user is told, and what is kept, on genome-scale inputs: a default variant table
that another VCF of the same name would overwrite, IUPAC ambiguity codes in iSEGnet
windows, the one-off FASTA index, and the histone builder's k-mer counts over all genes at
once. Real files (pyfaidx FASTA, pysam VCF, pyBigWig tracks, GTF and TPM tables) in
tmp_path."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from Bio import bgzf
from conftest import write_fasta
from test_isegnet_inputs import _config, _sample, _world
from test_variants import run_dir, sim, write_vcf  # noqa: F401 (fixtures: test_variants' run)

import kerasgene._io as kio
from kerasgene.cli import main
from kerasgene.datasets.histone_bins import _sequences
from kerasgene.datasets.regions import build_regions
from kerasgene.datasets.windows import other_characters
from kerasgene.dna import binned_kmer_counts, kmer_counts, kmer_ids, kmer_names
from kerasgene.errors import InputFileError
from kerasgene.io.annotation import Gene
from kerasgene.io.genome import Genome
from kerasgene.train.records import check_run

# --------------------------------------------------------------------------------------
# kerasgene variants: one default table name for calls.vcf and calls.vcf.gz
# --------------------------------------------------------------------------------------


def test_a_default_table_made_from_another_vcf_of_that_name_is_not_replaced(request, tmp_path,
                                                                            capsys, caplog):
    """``variants --vcf calls.vcf`` then ``--vcf calls.vcf.gz`` (other calls) both wrote
    RUN/variants/calls.tsv: the second replaced the first's effects with exit 0. Now the
    second is refused naming both VCFs and --out; the same VCF again replaces its own
    table, and --out gives the other VCF its own. RUN/variants/sources.json records each
    default table's VCF; a table without a record is replaced with a warning."""
    d, _, records = request.getfixturevalue("run_dir")  # test_variants' run, imported above
    plain = write_vcf(tmp_path / "calls.vcf", records[:1])
    gz = write_vcf(tmp_path / "calls.vcf.gz", records[1:2], "wz")
    table = d / "variants" / "calls.tsv"
    assert main(["variants", "--run", str(d), "--vcf", plain]) == 0
    first = table.read_text()
    capsys.readouterr()
    assert main(["variants", "--run", str(d), "--vcf", gz]) == 2
    assert (f"kerasgene: error: {table} holds the effects of {Path(plain).resolve()}; refusing "
            f"to replace them with those of {gz} (the two VCFs share the default table name); "
            "expected --out PATH for this VCF's table") in capsys.readouterr().err
    assert table.read_text() == first
    assert main(["variants", "--run", str(d), "--vcf", plain]) == 0
    assert main(["variants", "--run", str(d), "--vcf", gz, "--out", str(tmp_path / "gz.tsv")]) == 0
    assert pd.read_csv(table, sep="\t")["variant_id"].tolist() == [records[0][2]]
    assert pd.read_csv(tmp_path / "gz.tsv", sep="\t")["variant_id"].tolist() == [records[1][2]]
    sources = d / "variants" / "sources.json"
    model_sha256 = check_run(d)["model_sha256"]
    assert json.loads(sources.read_text()) == {
        "calls.tsv": {"vcf": str(Path(plain).resolve()), "model_sha256": model_sha256}}
    sources.unlink()  # a table written before kerasgene recorded its VCF: replaced, said
    with caplog.at_level(logging.WARNING):
        assert main(["variants", "--run", str(d), "--vcf", gz]) == 0
    assert (f"{table} exists, and {sources} records no VCF for it (written by an older "
            f"kerasgene, or through --out); it is replaced by the effects of {gz}") in caplog.text
    assert pd.read_csv(table, sep="\t")["variant_id"].tolist() == [records[1][2]]
    # tables another model scored (the run retrained since) are named; an older
    # kerasgene's record (the VCF only) is read and cannot be told
    for name in ("old.tsv", "other.tsv"):
        (d / "variants" / name).write_text("variant_id\n")
    sources.write_text(json.dumps({
        "old.tsv": "/data/old.vcf", "other.tsv": {"vcf": "/data/o.vcf", "model_sha256": "0" * 64},
        "edited.tsv": 5,  # an entry of neither form: no record
        "calls.tsv": {"vcf": str(Path(gz).resolve()), "model_sha256": model_sha256}}))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["variants", "--run", str(d), "--vcf", gz]) == 0
    assert (f"{d / 'variants'}: 1 other tables hold the effects of another model (the run was "
            "retrained since): other.tsv; rerun kerasgene variants for their VCFs "
            "(/data/o.vcf)") in caplog.text
    assert json.loads(sources.read_text())["old.tsv"] == {"vcf": "/data/old.vcf"}
    assert "edited.tsv" not in json.loads(sources.read_text())


# --------------------------------------------------------------------------------------
# iSEGnet windows holding IUPAC ambiguity codes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1000, 1])
def test_iupac_codes_in_isegnet_windows_are_counted_in_one_warning(tmp_path, caplog, chunk):
    """R, k (lower case) and y in two genes' windows were one-hot encoded as all-zero rows,
    like N, without a word. Now one warning counts windows and characters and names the
    genes; N (an assembly gap, in a third gene's window) stays silent and uncounted. One
    warning for the build, also when the genes are read in chunks of one."""
    ids = _world(tmp_path)
    with Genome(tmp_path / "genome.fa") as genome:
        seqs = {c: genome.fetch(c, 0, n) for c, n in genome.chroms.items()}
    chr1, chr2 = list(seqs["chr1"]), list(seqs["chr2"])
    chr1[110], chr1[111] = "R", "k"  # ENSG00000.3 (+, chr1:100): TSS window 60-120
    chr1[210] = "N"                  # ENSG00002.3 (+, chr1:200): TSS window 160-220
    chr2[165] = "y"                  # ENSG00001.3 (-, chr2:100-180): TSS window 160-220
    (tmp_path / "genome.fa.fai").unlink()
    write_fasta(tmp_path / "genome.fa", {"chr1": "".join(chr1), "chr2": "".join(chr2)})
    (tmp_path / "tpm.tsv").write_text("gene_id\tTPM\n" + "".join(f"{g}\t5\n" for g in ids))
    with caplog.at_level(logging.WARNING):
        ds = build_regions({**_config(tmp_path, [_sample(tmp_path, "tpm.tsv")]),
                            "chunk_size": chunk}, tmp_path / "ds", progress=False)
    warned = [r.getMessage() for r in caplog.records if "IUPAC" in r.getMessage()]
    assert warned == [f"{tmp_path / 'genome.fa'}: 2 gene windows hold 3 characters other than "
                      "A, C, G, T, N (IUPAC ambiguity codes), encoded like N (e.g. ENSG00000.3, "
                      "ENSG00001.3)"]
    assert other_characters("ACGTN" * 4 + "acgtn" * 4, 2, 20).tolist() == [0, 0]
    assert other_characters("ACGTN" * 4 + "acgtR" * 4, 2, 20).tolist() == [0, 4]
    row = list(ds.index.drop_duplicates("gene_id")["gene_id"]).index("ENSG00000.3")
    seq = np.asarray(ds.arrays["sequence"])[row]
    assert seq[50:52].sum() == 0 and (seq[:50].sum(axis=1) == 1).all()  # 110-60, 111-60


# --------------------------------------------------------------------------------------
# the one-off FASTA index
# --------------------------------------------------------------------------------------


def test_building_a_fasta_index_is_announced_with_its_seconds(tmp_path, caplog):
    """pyfaidx indexes a FASTA line by line (0.7 s per 120 Mb plain, 2.9 s bgzip: about 20 s
    and 75 s for hg38) without a word, so a first build seemed to hang. Now an INFO line says the index is being built (with the
    file's size) and another how long it took; an index that exists says nothing."""
    path = tmp_path / "g.fa"
    path.write_text(">chr1\n" + "ACGT" * 15 + "\nACGTN\n")
    with caplog.at_level(logging.INFO, logger="kerasgene.io.genome"):
        Genome(path).close()
    said = [r.getMessage() for r in caplog.records]
    assert said[0] == (f"{path}: indexing the FASTA once (0 MB; pyfaidx reads every line, which "
                       f"takes a while for a whole genome) into {path}.fai")
    assert said[1].startswith(f"{path}: FASTA index {path}.fai written in ")
    assert said[1].endswith(" s") and len(said) == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kerasgene.io.genome"), Genome(path) as genome:
        assert genome.fetch("chr1", 60, 65) == "ACGTN"
    assert caplog.records == []


@pytest.mark.parametrize("bgzip", [False, True], ids=["plain", "bgzip"])
def test_a_slow_fasta_index_shows_a_line_on_stderr_at_default_verbosity(tmp_path, capsys,
                                                                        monkeypatch, bgzip):
    """The INFO lines above show only with -v: at default verbosity a first command on
    hg38 waited a minute with no output. Now a build running longer than the bars' delay
    (made 0 here: every build is slow) shows ``indexing NAME (SIZE, once) …`` and ends
    ``done in``, at any log level; the index is the one pyfaidx writes, no temporary left."""
    path = tmp_path / ("g.fa.gz" if bgzip else "g.fa")
    text = ">chr1\n" + "ACGT" * 15 + "\nACGTN\n"
    with bgzf.BgzfWriter(str(path), "wb") if bgzip else open(path, "w") as fh:
        fh.write(text.encode() if bgzip else text)
    with Genome(path) as genome:  # the default delay: a small file's index says nothing
        assert genome.fetch("chr1", 60, 65) == "ACGTN"
    assert capsys.readouterr().err == ""
    index = Path(f"{path}.fai").read_text()
    Path(f"{path}.fai").unlink()
    monkeypatch.setattr(kio, "TEXT_BAR_DELAY_S", 0)
    with Genome(path) as genome:
        assert genome.fetch("chr1", 60, 65) == "ACGTN"
    size = f"{path.stat().st_size:.1f}B"
    err = capsys.readouterr().err
    assert err.startswith(f"\rindexing {path.name} ({size}, once) … 00:00")
    assert err.endswith(f"\rindexing {path.name} ({size}, once): done in 00:00\n"), err
    assert Path(f"{path}.fai").read_text() == index
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, f"{path.name}.fai", *[f"{path.name}.gzi"] * bgzip])


def test_a_failing_slow_fasta_index_ends_its_line_where_it_stopped(tmp_path, capsys,
                                                                   monkeypatch):
    """A build that fails (a space in a sequence line) ends its line where it was (no
    ``done``) before the error is raised; no index or temporary is left."""
    path = tmp_path / "g.fa"
    path.write_text(">chr1\nACGT \nACGT\n")
    monkeypatch.setattr(kio, "TEXT_BAR_DELAY_S", 0)
    with pytest.raises(InputFileError, match=r"g\.fa:2: sequence line contains whitespace"):
        Genome(path)
    err = capsys.readouterr().err
    assert err.endswith("\rindexing g.fa (17.0B, once) … 00:00\n") and "done" not in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["g.fa"]


def test_waiting_for_another_process_indexing_the_fasta_shows_a_line(tmp_path, capsys,
                                                                    monkeypatch):
    """A second process started on the same new genome waited for the first one's index in
    silence; now ``waiting for another process indexing NAME …`` shows (the delay made 0
    here), then the index the other wrote is read. A thread holding the FASTA's lock for
    0.5 s while it writes the index stands in for that process (a lock taken through
    another open file blocks within one process too)."""
    import threading
    import time

    path = write_fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 30})  # indexed by pyfaidx
    index = Path(f"{path}.fai").read_text()
    Path(f"{path}.fai").unlink()
    monkeypatch.setattr(kio, "TEXT_BAR_DELAY_S", 0)
    held = threading.Event()

    def other_process() -> None:
        with kio.exclusive_lock(path):
            held.set()
            time.sleep(0.5)
            Path(f"{path}.fai").write_text(index)

    other = threading.Thread(target=other_process)
    other.start()
    held.wait()
    with Genome(path) as genome:
        assert genome.fetch("chr1", 0, 4) == "ACGT"
    other.join()
    err = capsys.readouterr().err
    assert err.startswith("\rwaiting for another process indexing g.fa … 00:00"), err
    assert "waiting for another process indexing g.fa: done in 00:0" in err
    assert "\rindexing" not in err  # the index the other wrote was taken


# --------------------------------------------------------------------------------------
# histone k-mers over all genes at once
# --------------------------------------------------------------------------------------


def _former_kmer_counts(seq: str, k: int, n_bins: int, alphabet: str) -> np.ndarray:
    """``kerasgene.dna.kmer_counts`` as it was before it counted through ``kmer_ids``: one
    sequence, (len(alphabet) ** k, n_bins) int32."""
    bin_len, size = len(seq) // n_bins, len(alphabet)
    lut = np.full(256, size - 1, dtype=np.int64)
    for i, letter in enumerate(alphabet):
        lut[ord(letter.upper())] = lut[ord(letter.lower())] = i
    codes = lut[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)].reshape(n_bins, bin_len)
    n_pos = bin_len - k + 1
    counts = np.zeros((n_bins, size**k), dtype=np.int32)
    if n_pos <= 0:
        return counts.T
    ids = np.zeros((n_bins, n_pos), dtype=np.int64)
    for j in range(k):
        ids = ids * size + codes[:, j : j + n_pos]
    flat = ids + (np.arange(n_bins) * size**k)[:, None]
    counts.reshape(-1)[:] = np.bincount(flat.ravel(), minlength=n_bins * size**k)
    return counts.T.copy()


@pytest.mark.parametrize(("k", "alphabet", "n_bins"), [(3, "ACGTN", 10), (2, "TGCAN", 5),
                                                       (1, "ACGTN", 4), (3, "ACGTN", 500)])
def test_kmer_counts_of_all_genes_at_once_equal_the_per_gene_counts(tmp_path, k, alphabet,
                                                                    n_bins):
    """The builder counted each gene's k-mers with kmer_counts, one call per gene (8 of
    a 29 s build); kmer_ids + binned_kmer_counts count a block of genes at once, and must
    give exactly those counts: lower case, N gaps, IUPAC codes, windows past the
    chromosome's ends, both strands, bins shorter than k (500 bins of 2 bp)."""
    rng = np.random.default_rng(3)
    s = np.array(list("".join(rng.choice(list("ACGTacgtNRy"), 3000))))
    s[400:700] = "N"
    write_fasta(tmp_path / "g.fa", {"chr1": "".join(s)})
    genes = [Gene(f"g{i}", f"g{i}", "chr1", int(t), int(t) + 50, "+-"[i % 2])
             for i, t in enumerate([0, 150, 500, 1200, 2000, 2990])]
    names = kmer_names(k, alphabet)
    with Genome(tmp_path / "g.fa") as genome:
        seqs = _sequences(genome, genes, 1000, True)  # upper case, as Genome reads
    seqs += [q[:300].lower() + q[300:] for q in seqs]  # as a caller's own strings may be
    per_gene = [_former_kmer_counts(q, k, n_bins, alphabet) for q in seqs]
    assert all(np.array_equal(kmer_counts(q, k, n_bins, alphabet), c)
               for q, c in zip(seqs, per_gene, strict=True))
    ids = kmer_ids(seqs, k, n_bins, alphabet)
    totals = np.bincount(ids.ravel(), minlength=len(names))
    np.testing.assert_array_equal(totals, sum(c.sum(axis=1) for c in per_gene))
    for keep in (np.flatnonzero(totals > np.median(totals)), np.arange(len(names))):
        np.testing.assert_array_equal(binned_kmer_counts(ids, keep, len(names)),
                                      np.stack([c[keep].T for c in per_gene]))
