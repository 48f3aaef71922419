import gzip
import logging
import multiprocessing as mp
import os
import re
import struct
import time
from pathlib import Path

import numpy as np
import py2bit
import pytest
from conftest import write_fasta
from real_files import write_twobit

from kerasgene.dna import kmer_counts, kmer_names, one_hot, reverse_complement
from kerasgene.errors import InputFileError, InvalidRegionError, UnknownChromosomeError
from kerasgene.io.genome import Genome


@pytest.fixture
def fasta(tmp_path, rng):
    chr1 = "".join(rng.choice(list("ACGT"), 1000))
    chr1 = chr1[:100] + chr1[100:150].lower() + "N" * 30 + chr1[180:]  # soft mask + N run
    chr2 = "".join(rng.choice(list("ACGTacgt"), 333))
    path = write_fasta(tmp_path / "g.fa", {"chr1": chr1, "chrM": chr2}, width=70)
    return path, {"chr1": chr1, "chrM": chr2}


def test_fetch_matches_written_sequence(fasta):
    path, seqs = fasta
    g = Genome(path)
    assert g.chroms == {"chr1": 1000, "chrM": 333}
    assert g.fetch("chr1", 90, 200) == seqs["chr1"][90:200].upper()
    assert "acgt" not in g.fetch("chr1", 100, 150)  # soft-masked bases upper-cased
    assert g.fetch("chr1", 150, 180) == "N" * 30


def test_fetch_minus_strand_is_reverse_complement(fasta):
    path, seqs = fasta
    g = Genome(path)
    fwd = seqs["chr1"][10:40].upper()
    comp = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}
    assert g.fetch("chr1", 10, 40, "-") == "".join(comp[b] for b in reversed(fwd))


def test_fetch_pads_past_both_ends(fasta):
    path, seqs = fasta
    g = Genome(path)
    assert g.fetch("chr1", -5, 3) == "N" * 5 + seqs["chr1"][:3].upper()
    assert g.fetch("chr1", 995, 1010) == seqs["chr1"][995:].upper() + "N" * 10
    assert g.fetch("chr1", 2000, 2004) == "NNNN"
    assert g.fetch("chr1", -3, 2, "-") == reverse_complement("NNN" + seqs["chr1"][:2].upper())


def test_aliases_and_unknown_chromosome(fasta):
    path, seqs = fasta
    g = Genome(path)
    assert g.fetch("1", 0, 5) == seqs["chr1"][:5].upper()
    assert g.fetch("MT", 0, 5) == seqs["chrM"][:5].upper()
    with pytest.raises(UnknownChromosomeError, match=r"g\.fa.*'chr7'"):
        g.fetch("chr7", 0, 5)


def test_bad_windows(fasta):
    g = Genome(fasta[0])
    with pytest.raises(InvalidRegionError, match="start > end"):
        g.fetch("chr1", 10, 5)
    with pytest.raises(InvalidRegionError, match="strand"):
        g.fetch("chr1", 0, 5, "x")


def test_missing_and_invalid_fasta(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        Genome(tmp_path / "absent.fa")
    bad = tmp_path / "bad.fa"
    bad.write_text(">chr1\nACGT\nAC\nACGT\n")  # inconsistent line lengths
    with pytest.raises(InputFileError, match="not a valid FASTA"):
        Genome(bad)


def test_unreadable_fasta_names_the_file(fasta, tmp_path):
    """Drops root privileges in a forked child, where chmod 000 really denies reading."""
    path = Path(fasta[0])
    os.chmod(path, 0)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        status = 1
        try:
            if os.geteuid() == 0:
                os.setuid(65534)
            Genome(path)
        except InputFileError as err:
            os.write(write, str(err).encode())
            status = 0
        except BaseException as err:  # reported by the parent's assertion
            os.write(write, repr(err).encode())
        finally:
            os._exit(status)
    os.close(write)
    message = os.read(read, 4096).decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, message
    assert str(path) in message and "permission denied" in message



def test_replaced_fasta_with_an_older_mtime_gets_a_new_index(tmp_path, seqs, caplog):
    """``mv``, ``cp -p``, ``tar x``, ``rsync -t`` give the new FASTA an mtime older than the
    ``.fai`` of the file it replaces: the index must still describe the new file."""
    path = Path(write_fasta(tmp_path / "g.fa", seqs))
    assert Genome(path).fetch("chrM", 0, 10) == seqs["chrM"][:10]
    renamed = {"chr1": seqs["chr1"][:500], "chr2": seqs["chrM"][::-1]}  # other names and layout
    new = tmp_path / "new.fa"
    new.write_text(_fasta_text(renamed, width=50))
    old_mtime = (path.with_suffix(".fa.fai").stat().st_mtime_ns - 10**9,) * 2
    os.utime(new, ns=old_mtime)
    os.replace(new, path)
    with caplog.at_level(logging.INFO, logger="kerasgene"):
        g = Genome(path)
    assert g.chroms == {"chr1": 500, "chr2": 333}
    assert g.fetch("chr2", 0, 10) == renamed["chr2"][:10].upper()
    assert g.fetch("chr1", 440, 460) == renamed["chr1"][440:460].upper()
    assert "rebuilding the FASTA index" in caplog.text
    caplog.clear()
    new.write_text(_fasta_text({"chrX": renamed["chr1"], "chr2": renamed["chr2"]}, width=50))
    os.utime(new, ns=old_mtime)
    os.replace(new, path)  # the same byte layout: only a name differs
    assert Genome(path).chroms == {"chrX": 500, "chr2": 333}
    with caplog.at_level(logging.INFO, logger="kerasgene"):
        assert Genome(path).fetch("chrX", 0, 5) == renamed["chr1"][:5].upper()
    assert "rebuilding" not in caplog.text  # a current index is reused


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_whitespace_in_sequence_lines_is_an_error(tmp_path, seqs, line_end):
    """pyfaidx counts a space or tab as a base: every later position would be wrong."""
    lines = _fasta_text(seqs).splitlines()
    lines[0] += " assembly GRCh38\tprimary"
    good = tmp_path / "good.fa"
    good.write_bytes("".join(line + line_end for line in lines).encode())
    g = Genome(good)  # CRLF, lower case, N and whitespace in a header are valid
    assert g.chroms == {"chr1": 1001, "chrM": 333}
    assert g.fetch("chr1", 95, 185) == seqs["chr1"][95:185].upper()
    lines[5] += " "  # a trailing space on line 6, inside chr1
    bad = tmp_path / "bad.fa"
    bad.write_bytes("".join(line + line_end for line in lines).encode())
    with pytest.raises(InputFileError) as err:
        Genome(bad)
    assert str(err.value) == (f"{bad}:6: sequence line contains whitespace (' '); expected bases "
                              f"only — strip trailing spaces (e.g. sed 's/[[:space:]]*$//')")
    lines[5], lines[-1] = lines[5].rstrip(), "\t" + lines[-1]
    bad.write_bytes("".join(line + line_end for line in lines).encode())
    with pytest.raises(InputFileError, match=rf"bad\.fa:{len(lines)}: .*whitespace \('\\t'\)"):
        Genome(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fa", "good.fa", "good.fa.fai"]


def test_cr_only_line_ends_are_an_error(tmp_path, seqs):
    """pyfaidx splits lines at LF only: with classic Mac OS line ends (CR alone) the whole
    file was one record of length 0, every other chromosome missing."""
    text = _fasta_text(seqs)
    path = tmp_path / "mac.fa"
    path.write_bytes(text.replace("\n", "\r").encode())
    with pytest.raises(InputFileError) as err:
        Genome(path)
    assert str(err.value) == (f"{path}:1: line ends in a carriage return alone ('\\r', classic "
                              f"Mac OS line ends); expected LF or CRLF line ends (convert with "
                              f"tr '\\r' '\\n')")
    lines = text.splitlines()
    path.write_bytes(("\n".join(lines[:3]) + "\r" + "\n".join(lines[3:]) + "\n").encode())
    with pytest.raises(InputFileError, match=r"mac\.fa:3: line ends in a carriage return alone"):
        Genome(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mac.fa"]  # no index left


def _open_genome(path):
    return Genome(path).chroms["chr1"]


def test_index_built_once_under_race(tmp_path, rng):
    seq = "".join(rng.choice(list("ACGT"), 50_000))
    path = tmp_path / "race.fa"
    path.write_text(">chr1\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
    with mp.get_context("spawn").Pool(2) as pool:
        assert pool.map(_open_genome, [str(path)] * 4) == [50_000] * 4
    assert (tmp_path / "race.fa.fai").exists()
    assert not list(tmp_path.glob("*.tmp-*"))


def test_one_hot_lookup(rng):
    x = one_hot("ACGTNacgtR")
    assert x.shape == (10, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:4], np.eye(4))
    np.testing.assert_array_equal(x[5:9], np.eye(4))
    assert not x[4].any() and not x[9].any()
    y = one_hot("NR", n_value=[0.31, 0.19, 0.19, 0.31])
    np.testing.assert_allclose(y, [[0.31, 0.19, 0.19, 0.31]] * 2)
    assert one_hot("N", n_value=0.25).sum() == pytest.approx(1.0)
    seq = "".join(rng.choice(list("ACGT"), 200))
    ref = np.array([[b == c for c in "ACGT"] for b in seq], dtype=np.float32)
    np.testing.assert_array_equal(one_hot(seq, dtype=np.uint8), ref.astype(np.uint8))
    np.testing.assert_array_equal(one_hot(b"ACGTN"), one_hot("ACGTN"))
    with pytest.raises(InvalidRegionError, match="expected one DNA string, got list"):
        one_hot(["ACGT", "TTGA"])  # an AttributeError traceback before


def test_reverse_complement():
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("acgR") == "Ycgt"


def test_kmer_counts_match_naive_count(rng):
    seq = "".join(rng.choice(list("ACGTN"), 300)) + "R"
    seq = seq[:300]
    k, n_bins = 3, 3
    counts = kmer_counts(seq, k, n_bins)
    names = kmer_names(k)
    assert counts.shape == (125, 3)
    for b in range(n_bins):
        chunk = seq[b * 100 : (b + 1) * 100]
        naive = {}
        for i in range(100 - k + 1):
            naive[chunk[i : i + k]] = naive.get(chunk[i : i + k], 0) + 1
        got = {names[r]: int(counts[r, b]) for r in np.flatnonzero(counts[:, b])}
        assert got == naive
    assert counts.sum() == n_bins * (100 - k + 1)


def test_kmer_counts_iupac_as_n_and_bad_k():
    counts = kmer_counts("AARA", 2, 1)
    names = kmer_names(2)
    assert counts[names.index("AN"), 0] == 1 and counts[names.index("NA"), 0] == 1
    with pytest.raises(InvalidRegionError, match="k must be >= 1"):
        kmer_counts("ACGT", 0, 1)
    with pytest.raises(InvalidRegionError, match="multiple of n_bins"):
        kmer_counts("ACGTA", 2, 2)


# ----------------------------------------------------------------------------- formats
def _fasta_text(seqs: dict[str, str], width: int = 60) -> str:
    return "".join(f">{n}\n" + "".join(s[i : i + width] + "\n" for i in range(0, len(s), width))
                   for n, s in seqs.items())


@pytest.fixture
def seqs(rng):
    chr1 = "".join(rng.choice(list("ACGT"), 1001))
    chr1 = chr1[:100] + chr1[100:150].lower() + "N" * 30 + chr1[180:]
    return {"chr1": chr1, "chrM": "".join(rng.choice(list("ACGT"), 333))}


def _same_genome(a: Genome, b: Genome, seqs):
    assert a.chroms == b.chroms == {n: len(s) for n, s in seqs.items()}
    for chrom, start, end, strand in [("chr1", 90, 200, "+"), ("1", -5, 1010, "-"),
                                      ("MT", 320, 340, "+"), ("chrM", 0, 333, "-")]:
        assert a.fetch(chrom, start, end, strand) == b.fetch(chrom, start, end, strand)


def test_gzip_fasta_read_through_a_cached_bgzip_copy(tmp_path, seqs, caplog):
    plain = Genome(write_fasta(tmp_path / "g.fa", seqs))
    gz = tmp_path / "g.fa.gz"
    with gzip.open(gz, "wt") as fh:  # plain gzip, as UCSC and Ensembl ship genomes
        fh.write(_fasta_text(seqs))
    with caplog.at_level(logging.INFO, logger="kerasgene"):
        g = Genome(gz)
    assert g.format == "gzip" and "recompressing gzip to bgzip once" in caplog.text
    _same_genome(g, plain, seqs)
    copies = sorted(p.name for p in tmp_path.glob("g.fa.gz.kg-*"))
    assert [c.rsplit(".", 1)[-1] for c in copies] == ["bgz", "fai", "gzi"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kerasgene"):
        _same_genome(Genome(gz), plain, seqs)  # reused, not recompressed
    assert "recompressing" not in caplog.text
    with gzip.open(gz, "wt") as fh:  # the source changes: a new copy replaces the old one
        fh.write(_fasta_text({"chr1": seqs["chr1"][:500]}))
    os.utime(gz, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert Genome(gz).chroms == {"chr1": 500}
    assert len(list(tmp_path.glob("g.fa.gz.kg-*.bgz"))) == 1
    assert not list(tmp_path.glob("*.tmp-*")) and not list(tmp_path.glob("*.lock"))


def test_bgzip_fasta_read_in_place(tmp_path, seqs):
    from Bio import bgzf

    path = tmp_path / "g.fa.gz"
    with bgzf.BgzfWriter(str(path), "wb") as fh:
        fh.write(_fasta_text(seqs).encode())
    g = Genome(path)
    assert g.format == "bgzf"
    _same_genome(g, Genome(write_fasta(tmp_path / "g.fa", seqs)), seqs)
    assert (tmp_path / "g.fa.gz.fai").exists() and (tmp_path / "g.fa.gz.gzi").exists()
    assert not list(tmp_path.glob("*.kg-*"))  # no copy needed


def test_twobit_genome_equals_fasta(tmp_path, seqs):
    path = write_twobit(tmp_path / "g.2bit", seqs)
    assert py2bit.open(path).sequence("chr1") == seqs["chr1"].upper()  # the writer is right
    g = Genome(path)
    assert g.format == "2bit"
    _same_genome(g, Genome(write_fasta(tmp_path / "g.fa", seqs)), seqs)
    assert g.fetch("chr1", 95, 185) == seqs["chr1"][95:185].upper()  # soft mask, N block
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("g.2bit.")]  # no index


@pytest.mark.parametrize("content, found", [
    (b"PK\x03\x04\x14\x00" + bytes(100), "binary data"),  # a zip archive
    (b"chr1\t10\t20\n", "text starting 'chr1\\t10\\t20'"),
    (b"", "an empty file"),
])
def test_file_that_is_no_genome(tmp_path, content, found):
    path = tmp_path / "genome.fa"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as err:
        Genome(path)
    assert str(err.value) == (f"{path}: not a genome file: expected FASTA (plain, gzip or bgzip) "
                              f"or 2bit (a FASTA starts with '>'), found {found}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.fa"]


def test_reads_or_variants_given_as_a_genome_are_named(tmp_path):
    """A BAM is bgzf: it was taken for a bgzip FASTA and refused as 'binary data'."""
    import pysam
    from real_files import write_alignments

    bam = write_alignments(tmp_path / "reads.bam", {"chr1": 200})
    header = pysam.VariantHeader()
    header.contigs.add("chr1", length=200)
    with pysam.VariantFile(str(tmp_path / "calls.bcf"), "wb", header=header) as out:
        out.write(out.new_record(contig="chr1", start=9, alleles=("A", "C")))
    for path, found in ((bam, "a BAM file (aligned reads)"),
                        (tmp_path / "calls.bcf", "a BCF file (variants)")):
        with pytest.raises(InputFileError, match=re.escape(f"found {found}")):
            Genome(path)


def test_broken_compressed_and_2bit_genomes(tmp_path, seqs):
    gz = tmp_path / "g.fa.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(_fasta_text(seqs))
    data = gz.read_bytes()
    gz.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"g\.fa\.gz: truncated or corrupt gzip file"):
        Genome(gz)
    text_gz = tmp_path / "notes.fa.gz"
    with gzip.open(text_gz, "wt") as fh:
        fh.write("hello\n")
    with pytest.raises(InputFileError, match=r"notes\.fa\.gz: gzip file does not hold a FASTA"):
        Genome(text_gz)
    tb = Path(write_twobit(tmp_path / "g.2bit", seqs))
    whole = tb.read_bytes()
    tb.write_bytes(whole[:-10])  # py2bit itself would read past the end without a word
    with pytest.raises(InputFileError, match=r"g\.2bit: truncated 2bit file: record 'chrM'"):
        Genome(tb)
    tb.write_bytes(whole[:4] + os.urandom(12))
    with pytest.raises(InputFileError, match=r"g\.2bit: truncated 2bit file"):
        Genome(tb)
    big_endian = tmp_path / "be.2bit"
    big_endian.write_bytes(struct.pack(">IIII", 0x1A412743, 0, 0, 0))
    with pytest.raises(InputFileError, match="big-endian 2bit"):
        Genome(big_endian)
    assert not list(tmp_path.glob("*.tmp-*")) and not list(tmp_path.glob("*.kg-*.bgz"))
    assert not list(tmp_path.glob("*.lock"))


def test_failed_indexing_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">chr1\nACGT\nAC\nACGT\n")
    with pytest.raises(InputFileError, match=r"bad\.fa: not a valid FASTA file"):
        Genome(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.fa"]


def test_genome_with_an_alias_table(tmp_path, seqs):
    path = write_fasta(tmp_path / "ncbi.fa", {"NC_000001.11": seqs["chr1"]})
    table = tmp_path / "aliases.txt"
    table.write_text("# ucsc\tassembly\tgenbank\trefseq\nchr1\t1\tCM000663.2\tNC_000001.11\n")
    g = Genome(path, aliases=table)
    assert g.resolve("chr1") == g.resolve("1") == "NC_000001.11"
    assert g.fetch("chr1", 0, 10) == seqs["chr1"][:10]
    with pytest.raises(UnknownChromosomeError, match=r"ncbi\.fa: unknown chromosome 'chr1'"):
        Genome(path).fetch("chr1", 0, 10)
