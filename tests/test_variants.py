"""Tests of kerasgene.explain.variants and ``kerasgene variants``: VCF parsing, alleles in
oriented windows (strand, indels), REF checks, and effects of planted motifs on the
simulated demo data, through models whose behaviour is known by construction."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pysam
import pytest
import yaml

keras = pytest.importorskip("keras")

from conftest import write_fasta  # noqa: E402

from kerasgene.cli import main  # noqa: E402
from kerasgene.dna import kmer_counts, kmer_names, one_hot, reverse_complement  # noqa: E402
from kerasgene.errors import ConfigError, InputFileError  # noqa: E402
from kerasgene.explain import readers as R  # noqa: E402
from kerasgene.explain import variants as V  # noqa: E402
from kerasgene.explain.mutagenesis import saturation_mutagenesis  # noqa: E402
from kerasgene.io.annotation import Gene, read_gtf  # noqa: E402
from kerasgene.io.genome import Genome  # noqa: E402
from kerasgene.io.vcf import check_assembly  # noqa: E402

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
CREB1, GCN4 = "MA0018.5", "MA0303.3"
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def planted_probabilities(matrix_id: str) -> np.ndarray:
    """(w, 4) frequencies of a shipped JASPAR matrix with the simulator's prior."""
    from kerasgene.dna import shipped_motifs
    from kerasgene.simulate.planting import planting_pseudocount

    motif = shipped_motifs()[matrix_id]
    return motif.probabilities(planting_pseudocount(motif))


def write_vcf(path, records, mode: str = "w") -> str:
    """VCF (``mode`` "w"), bgzipped VCF ("wz") or BCF ("wb") written by pysam, of
    (chrom, pos, id, ref, alt) records; ``alt`` may hold comma-separated alleles."""
    header = pysam.VariantHeader()
    # pysam sets INFO/END for symbolic alleles; a BCF needs it declared before writing
    header.add_line('##INFO=<ID=END,Number=1,Type=Integer,Description="End position">')
    for chrom in dict.fromkeys(r[0] for r in records):
        header.contigs.add(chrom)
    with pysam.VariantFile(str(path), mode, header=header) as vcf:
        for chrom, pos, ident, ref, alt in records:
            vcf.write(vcf.new_record(contig=chrom, start=pos - 1, stop=pos - 1 + len(ref),
                                     alleles=(ref, *alt.split(",")),
                                     id=None if ident == "." else ident))
    return str(path)


# --------------------------------------------------------------------------------------
# models whose behaviour is known by construction
# --------------------------------------------------------------------------------------


def pwm_model(seq_len: int, probs: np.ndarray, other: str, other_shape: tuple,
              *, context_weight: float = 0.0, fraction: float = 0.7):
    """Prediction = Σ over both strands of max(0, best PWM log-odds score − threshold)
    + ``context_weight`` · mean of the other input: mutating a motif instance lowers it."""
    from keras import layers

    lo = np.log2(probs / 0.25)
    seq = keras.Input((seq_len, 4), name="sequence")
    oth = keras.Input(other_shape, name=other)
    conv = layers.Conv1D(2, len(lo), name="motif")
    x = layers.GlobalMaxPooling1D()(layers.ReLU()(conv(seq)))
    total = layers.Dense(1, name="strands")
    o = oth if len(other_shape) == 1 else layers.GlobalAveragePooling1D()(oth)
    ctx = layers.Dense(1, name="context")
    out = layers.Add(name="expression")([total(x), ctx(o)])
    model = keras.Model([seq, oth], out)
    kernel = np.stack([lo, lo[::-1, ::-1]], axis=-1).astype(np.float32)
    threshold = fraction * np.log2(probs.max(axis=1) / 0.25).sum()
    conv.set_weights([kernel, np.full(2, -threshold, np.float32)])
    total.set_weights([np.ones((2, 1), np.float32), np.zeros(1, np.float32)])
    n_ctx = other_shape[-1]
    ctx.set_weights([np.full((n_ctx, 1), context_weight / n_ctx, np.float32),
                     np.zeros(1, np.float32)])
    return model


def base_at_model(seq_len: int, index: int, base: str, n_tracks: int = 2):
    """Prediction = 1 when the window holds ``base`` at ``index``, else 0."""
    from keras import layers

    seq = keras.Input((seq_len, 4), name="sequence")
    epi = keras.Input((seq_len, n_tracks), name="epigenome")
    dense = layers.Dense(1, name="pick")
    zero = layers.Dense(1, name="epi", kernel_initializer="zeros")
    out = layers.Add(name="expression")([dense(layers.Flatten()(seq)),
                                         zero(layers.Flatten()(epi))])
    model = keras.Model([seq, epi], out)
    w = np.zeros((seq_len, 4), np.float32)
    w[index, "ACGT".index(base)] = 1
    dense.set_weights([w.reshape(-1, 1), np.zeros(1, np.float32)])
    return model


# --------------------------------------------------------------------------------------
# VCF parsing
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, name", [("w", "x.vcf"), ("wz", "x.vcf.gz"), ("wb", "x.bcf")])
def test_read_vcf_splits_alleles_and_skips_symbolic(tmp_path, caplog, mode, name):
    """The same records from a plain VCF, a bgzipped VCF and a BCF written by pysam."""
    records = [("chr1", 10, "rs1", "A", "G,t"), ("1", 20, ".", "ac", "A"),
               ("chr1", 30, "sv1", "A", "<DEL>"), ("chr1", 40, ".", "C", "T,*"),
               ("chr1", 50, ".", "G", "G]chr2:100]"), ("chr1", 60, ".", "T", "T.,.T")]
    path = write_vcf(tmp_path / name, records, mode)
    with caplog.at_level(logging.WARNING):
        got = V.read_vcf(path)
    assert [(v.chrom, v.pos, v.id, v.ref, v.alt) for v in got] == [
        ("chr1", 10, "rs1", "A", "G"), ("chr1", 10, "rs1", "A", "T"),
        ("1", 20, "1:20:AC:A", "AC", "A"), ("chr1", 40, "chr1:40:C:T", "C", "T")]
    assert (got[2].start, got[2].end) == (19, 21)
    assert (f"{path}: skipped 5 symbolic ALT alleles (<DEL>, *, breakends): only sequence "
            "alleles are predicted: chr1:30 <DEL>, chr1:40 *, chr1:50 G]chr2:100], chr1:60 T., "
            "chr1:60 .T") in caplog.text  # single breakends too, each named
    empty = write_vcf(tmp_path / f"empty{name[1:]}", [], mode)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert V.read_vcf(empty) == []
    assert f"{empty}: holds no variant record (a header only)" in caplog.text


def test_read_vcf_is_quiet_and_restores_verbosity(tmp_path, capfd):
    """A hand-written VCF without ##contig lines (htslib warns about each contig) and a
    record without ALT: no htslib noise on stderr; pysam's verbosity is restored."""
    path = tmp_path / "hand.vcf"
    path.write_text(HEADER + "chr1\t10\t.\tA\tC\t.\t.\t.\n"
                             "chr2\t20\tnone\tG\t.\t.\t.\t.\n")
    previous = pysam.set_verbosity(3)  # htslib default: warnings and errors
    try:
        assert V.read_vcf(path) == [V.Variant("chr1", 10, "chr1:10:A:C", "A", "C")]
        path.write_text(HEADER + "chr1\t10\t.\tA\n")
        with pytest.raises(InputFileError):
            V.read_vcf(path)
        assert pysam.set_verbosity(3) == 3
    finally:
        pysam.set_verbosity(previous)
    assert capfd.readouterr().err == ""


T = "\t.\t.\t.\n"  # QUAL FILTER INFO


@pytest.mark.parametrize("body, expected", [
    ("chr1\t10\t.\tA\tG" + T, "x.vcf: expected a VCF/BCF file: invalid file"),
    ("##fileformat=VCFv4.2\n#CHROM POS ID REF ALT\n",
     "x.vcf: expected a VCF/BCF file: file"),
    ("##fileformat=VCFv4.2\n", "does not have valid header"),
    ("", "x.vcf: expected a VCF/BCF file: invalid file"),
    (b"\x00\x01not a VCF\xff", "x.vcf: expected a VCF/BCF file:"),
    (HEADER + "chr1\t10\t.\tA\n",
     "x.vcf: record 1: expected a VCF/BCF file: unable to parse next record"),
    (HEADER + "chr1\t10\t.\tA\tG" + T + "chr1\tten\t.\tA\tG" + T,
     "x.vcf: record 2 (after chr1:10): expected a VCF/BCF file:"),
    (HEADER + "chr1\t10\t.\tA\tG" + T + "chr1\t11\t.\tAZ\tG" + T,
     "x.vcf: record 2 (chr1:11): REF must be bases A, C, G, T, N (or IUPAC codes), got 'AZ'"),
    (HEADER + "chr1\t10\t.\tA\tG,C-" + T, "x.vcf: record 1 (chr1:10): ALT must be bases"),
    (HEADER + "chr1\t0\t.\tA\tG" + T,
     "x.vcf: record 1 (chr1:0): POS must be a positive integer, got 0"),
])
def test_read_vcf_malformed_file_one_line_error(tmp_path, body, expected):
    """Broken files are written as raw text (or bytes): that is what a broken file is."""
    path = tmp_path / "x.vcf"
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    with pytest.raises(InputFileError) as err:
        V.read_vcf(path)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(str(path))


def test_read_vcf_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="VCF file not found"):
        V.read_vcf(tmp_path / "none.vcf")


def test_read_vcf_gzip_not_bgzip_asks_for_bgzip(tmp_path):
    """pysam cannot open a gzip (not bgzip) VCF; the error says how to recompress it."""
    plain = write_vcf(tmp_path / "plain.vcf", [("chr2", 5, "a", "G", "C")])
    path = tmp_path / "v.vcf.gz"
    with open(plain, "rb") as src, gzip.open(path, "wb") as dst:
        dst.write(src.read())
    with pytest.raises(InputFileError) as err:
        V.read_vcf(path)
    assert str(err.value).startswith(f"{path}: expected a VCF/BCF file, plain or compressed "
                                     "with bgzip (not gzip)")
    assert "| bgzip" in str(err.value) and "\n" not in str(err.value)
    assert V.read_vcf(plain) == [V.Variant("chr2", 5, "a", "G", "C")]


@pytest.mark.parametrize("name", ["sites.vcf", "sites.vcf.gz"])
def test_read_sites_only_vcf_without_info_column(tmp_path, name):
    """7 columns (no INFO), plain or bgzip-compatible gzip: read as if INFO were '.'."""
    text = ("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\n"
            "chr1\t10\trs1\tA\tG\t50\tPASS\nchr2\t7\t.\tCT\tC,CTT\t.\t.\n")
    path = tmp_path / name
    if name.endswith(".gz"):
        plain = tmp_path / "plain.vcf"
        plain.write_text(text)
        pysam.tabix_compress(str(plain), str(path), force=True)  # bgzip, as tools write it
    else:
        path.write_text(text)
    assert V.read_vcf(path) == [V.Variant("chr1", 10, "rs1", "A", "G", "PASS"),
                                V.Variant("chr2", 7, "chr2:7:CT:C", "CT", "C"),
                                V.Variant("chr2", 7, "chr2:7:CT:CTT", "CT", "CTT")]
    assert [p.name for p in tmp_path.iterdir() if "kerasgene" in p.name] == []
    header8 = tmp_path / "h8.vcf"  # an INFO header over 7-column records
    header8.write_text(HEADER + "chr1\t10\trs1\tA\tG\t50\tPASS\n")
    assert V.read_vcf(header8) == [V.Variant("chr1", 10, "rs1", "A", "G", "PASS")]
    broken = tmp_path / "broken.vcf"  # a later record with a missing column still fails
    broken.write_text(text + "chr1\t20\t.\tA\n")
    with pytest.raises(InputFileError, match=r"broken\.vcf: record 3 \(after chr2:7\): "
                                             r"expected a VCF/BCF file"):
        V.read_vcf(broken)


def test_read_vcf_keeps_iupac_alleles_and_counts_them(tmp_path, caplog):
    """A REF of M (GRCh38 holds a few) or an ALT of R no longer rejects the file."""
    path = write_vcf(tmp_path / "iupac.vcf", [("chr1", 10, "a", "A", "G"),
                                              ("chr1", 12, "b", "M", "G"),
                                              ("chr1", 14, "c", "C", "R")])
    with caplog.at_level(logging.WARNING):
        got = V.read_vcf(path)
    assert [v.id for v in got] == ["a", "b", "c"]
    assert (f"{path}: 2 alleles have IUPAC ambiguity codes (status ambiguous_allele, not "
            "predicted): chr1:12 M>G, chr1:14 C>R") in caplog.text


# --------------------------------------------------------------------------------------
# alleles in oriented windows
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mirror_genome(tmp_path_factory):
    """chrP = S and chrM = reverse complement of S: a gene on + of chrP is mirrored by a
    gene on − of chrM."""
    d = tmp_path_factory.mktemp("mirror")
    s = "".join(np.random.default_rng(3).choice(list("ACGT"), 400))
    path = write_fasta(d / "mirror.fa", {"chrP": s, "chrM": reverse_complement(s),
                                         "chr1": s})
    with Genome(path) as genome:
        yield genome, s


def mirrored(v: V.Variant, n: int, s: str) -> V.Variant:
    """The same edit on the reverse complement (VCF anchor bases stay on the left)."""
    if len(v.ref) == len(v.alt):
        return V.Variant("chrM", n - v.end + 1, v.id, reverse_complement(v.ref),
                         reverse_complement(v.alt))
    changed_end = v.end if len(v.ref) > 1 else v.start + 1  # deletion | insertion
    new_start = n - changed_end - 1                            # anchor base on chrM
    anchor = reverse_complement(s[changed_end])
    if len(v.ref) > 1:
        return V.Variant("chrM", new_start + 1, v.id, anchor + reverse_complement(v.ref[1:]),
                         anchor)
    return V.Variant("chrM", new_start + 1, v.id, anchor, anchor + reverse_complement(v.alt[1:]))


def test_plus_strand_snv_deletion_insertion(mirror_genome):
    genome, s = mirror_genome
    gene = Gene("g", "g", "chrP", 100, 300, "+")        # TSS 100, TTS 299
    flanks = ((10, 5), (5, 5))                            # [90, 105) ⊕ [294, 304)
    ref = V.window_sequence(genome, gene, *flanks)
    assert ref == s[90:105] + s[294:304]
    snv = V.Variant("chrP", 96, "snv", s[95], "ACGT"[("ACGT".index(s[95]) + 1) % 4])
    alt = V.window_sequence(genome, gene, *flanks, snv)
    assert alt == s[90:95] + snv.alt + s[96:105] + s[294:304]
    dele = V.Variant("chrP", 96, "del", s[95:99], s[95])  # deletes 96..98
    assert V.window_sequence(genome, gene, *flanks, dele) == \
        s[90:96] + s[99:108] + s[294:304]                 # downstream bases pulled in
    ins = V.Variant("chrP", 96, "ins", s[95], s[95] + "GGG")
    assert V.window_sequence(genome, gene, *flanks, ins) == \
        s[90:96] + "GGG" + s[96:102] + s[294:304]         # 3' end pushed out
    edge = V.Variant("chrP", 88, "edge", s[87:92], s[87])  # deletes 88..91 across the start
    assert V.window_sequence(genome, gene, *flanks, edge) == s[92:107] + s[294:304]
    mnv = V.Variant("chrP", 89, "mnv", s[88:92], "ACGT")   # 88..91 replaced across the start
    assert V.window_sequence(genome, gene, *flanks, mnv) == "GT" + s[92:105] + s[294:304]
    far = V.Variant("chrP", 200, "far", s[199], "N")
    assert V.window_sequence(genome, gene, *flanks, far) == ref


@pytest.mark.parametrize("kind", ["snv", "deletion", "insertion", "deletion_across_5'",
                                  "deletion_across_3'"])
def test_minus_strand_mirrors_plus_strand(mirror_genome, kind):
    genome, s = mirror_genome
    n = len(s)
    plus = Gene("p", "p", "chrP", 100, 300, "+")
    minus = Gene("m", "m", "chrM", n - 300, n - 100, "-")  # mirror: TSS n-101, TTS n-300
    flanks = ((30, 20), (10, 10))
    v = {"snv": V.Variant("chrP", 91, "v", s[90], "T" if s[90] != "T" else "A"),
         "deletion": V.Variant("chrP", 91, "v", s[90:94], s[90]),
         "insertion": V.Variant("chrP", 91, "v", s[90], s[90] + "CCAT"),
         "deletion_across_5'": V.Variant("chrP", 66, "v", s[65:75], s[65]),
         "deletion_across_3'": V.Variant("chrP", 116, "v", s[115:125], s[115])}[kind]
    w = mirrored(v, n, s)
    assert V.ref_matches(genome, v) and V.ref_matches(genome, w)
    assert V.window_sequence(genome, minus, *flanks) == V.window_sequence(genome, plus, *flanks)
    got = V.window_sequence(genome, minus, *flanks, w)
    assert got == V.window_sequence(genome, plus, *flanks, v)
    assert got != V.window_sequence(genome, plus, *flanks)
    if kind == "snv":  # indels: VCF's anchor base is on the genomic left of either gene
        assert V.anchor_offset(minus, w.start, *flanks) == V.anchor_offset(plus, v.start, *flanks)


def test_ref_alt_order_and_strand_in_the_table(mirror_genome):
    """A model that outputs 1 when the window holds base B at index i: ref 0, alt 1 for
    an SNV putting B at i — on a minus-strand gene, the FASTA's alt is B's complement at
    the mirrored genomic position."""
    genome, s = mirror_genome
    flanks = ((20, 10), (10, 10))                                # L = 50
    minus = Gene("m", "M1", "chr1", 200, 301, "-")               # TSS 300: [291, 321) reversed
    plus = Gene("p", "P1", "chr1", 40, 120, "+")                 # TSS 40: [20, 50)
    i, base = 7, "G"                                             # oriented index 7 → TSS−13
    pos_minus = 300 + 20 - i                                     # genomic 0-based
    ref_minus = s[pos_minus]
    alt_minus = base.translate(COMPLEMENT)
    assert ref_minus != alt_minus                                # the ref window has no G at i
    model = base_at_model(50, i, base)
    epi = {"rep1": {"m": np.zeros((50, 2)), "p": np.zeros((50, 2))}}
    reader = R.RegionReader(epi, *flanks)
    variants = [V.Variant("chr1", pos_minus + 1, "vm", ref_minus, alt_minus),
                V.Variant("chr1", 20 + i + 1, "vp", s[20 + i], base)]
    table = V.variant_effects(model, variants, genome, [minus, plus], reader)
    assert list(table.columns) == list(V.COLUMNS)
    rm = table.set_index("variant_id").loc["vm"]
    assert (rm.gene_id, rm.strand, rm.anchor, rm.offset) == ("m", "-", "TSS", -13)
    assert (rm.ref_prediction, rm.alt_prediction, rm.delta) == (0.0, 1.0, 1.0)
    rp = table.set_index("variant_id").loc["vp"]
    assert rp.gene_id == "p" and (rp.anchor, rp.offset) == ("TSS", -13)
    assert rp.delta == (0.0 if s[20 + i] == base else 1.0)
    m = saturation_mutagenesis(model, genome, minus, reader)
    expected = np.zeros((4, 50))
    if m.sequence[i] != base:
        expected[2, i] = 1.0
    np.testing.assert_allclose(m.deltas, expected, atol=1e-6)
    assert m.layout == (("TSS", -20, 10), ("TTS", -10, 10)) and m.context == "rep1"


def test_variant_statuses_are_reported(mirror_genome, caplog):
    """REF ≠ FASTA, an IUPAC allele, an unknown chromosome and a REF past the chromosome
    end each get a row with their status (no prediction) and a counted warning."""
    genome, s = mirror_genome
    gene = Gene("p", "P1", "chr1", 40, 120, "+")
    flanks = ((20, 10), (10, 10))
    model = base_at_model(50, 3, "A")
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, *flanks)
    wrong = "ACGT"[("ACGT".index(s[29]) + 2) % 4]
    variants = [V.Variant("1", 30, "bad", wrong, s[29]),            # REF ≠ FASTA; alias 1 → chr1
                V.Variant("chr1", 31, "good", s[30], "N"),
                V.Variant("chr1", 32, "iupac", "M", "G"),
                V.Variant("chr1", 200, "outside", s[199], "A"),
                V.Variant("chrX", 10, "other_chrom", "A", "C"),
                V.Variant("chr1", 400, "past_end", s[399] + "A", "A")]  # chr1 has 400 bases
    with caplog.at_level(logging.INFO):
        table = V.variant_effects(model, variants, genome, [gene], reader)
    assert table["variant_id"].tolist() == ["bad", "good", "iupac", "other_chrom", "past_end"]
    assert table["status"].tolist() == ["ref_mismatch", "ok", "ambiguous_allele",
                                        "unknown_chrom", "past_chrom_end"]
    good = table.iloc[1]
    assert np.isfinite(good.delta)
    others = table[table.status != "ok"]
    assert others[["ref_prediction", "alt_prediction", "delta"]].isna().all().all()
    assert (table.gene_id.tolist()[3:], table.context.tolist()[3:]) == (["", ""], ["", ""])
    assert ("1 of 3 variants in gene windows have a REF allele that does not match the FASTA "
            "(status ref_mismatch; not predicted): bad") in caplog.text
    assert ("1 of 3 variants in gene windows have an IUPAC ambiguity code in REF or ALT "
            "(status ambiguous_allele; not predicted): iupac") in caplog.text
    assert "1 of 6 variants lie on a chromosome missing from the FASTA" in caplog.text
    assert ("1 of 6 variants run past the end of their chromosome in the FASTA "
            "(status past_chrom_end; not predicted): past_end") in caplog.text
    assert "1 of 6 variants lie outside every gene window" in caplog.text
    one_by_one = V.variant_effects(model, variants, genome, [gene], reader, block_size=1)
    pd.testing.assert_frame_equal(one_by_one, table)


def test_ncbi_named_vcf_through_an_alias_table(mirror_genome, tmp_path):
    """A VCF naming chromosomes by NCBI accession finds the genes and the FASTA's chr1
    through a UCSC chromAlias.txt (without the table no variant is on the FASTA: an
    error naming both sides' names and the alias table)."""
    genome, s = mirror_genome
    table = tmp_path / "chromAlias.txt"
    table.write_text("# ucsc\tassembly\tgenbank\trefseq\nchr1\t1\tCM000663.2\tNC_000001.11\n")
    gene = Gene("p", "P1", "chr1", 40, 120, "+")
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, (20, 10), (10, 10))
    model = base_at_model(50, 3, "A")
    variant = V.Variant("NC_000001.11", 31, "ncbi", s[30], "N")
    with pytest.raises(InputFileError, match=r"the VCF names NC_000001.11; the FASTA holds "
                       r"chrP, chrM, chr1\).*an alias table relating the names"):
        V.variant_effects(model, [variant], genome, [gene], reader)
    aliased = V.variant_effects(model, [variant], genome.path, [gene], reader,
                                chrom_aliases=table)
    assert aliased["status"].tolist() == ["ok"] and aliased["gene_id"].tolist() == ["p"]


def test_model_kinds_and_reader_mismatch(mirror_genome):
    from keras import layers

    genome, _ = mirror_genome
    x = keras.Input((100, 2), name="signal")
    chromatin = keras.Model(x, layers.Dense(1)(layers.Flatten()(x)))
    with pytest.raises(ConfigError, match=r"takes inputs \['signal'\]"):
        R.reader_kind(chromatin)
    model = base_at_model(50, 0, "A")
    assert R.reader_kind(model) == "isegnet"
    with pytest.raises(ConfigError, match="KmerReader gives"):
        V.variant_effects(model, [], genome, [], R.KmerReader({}, ["ACG"]))


def test_histone_kmer_channels_are_recounted(mirror_genome):
    """Marks stay as observed; the k-mer channels are recounted on the alt window."""
    from keras import layers

    genome, s = mirror_genome
    gene = Gene("h", "H1", "chr1", 150, 260, "-")                 # TSS 259
    observed: dict[str, np.ndarray] = {}
    reader = R.KmerReader({"cellA": observed}, ["ACG", "CGT", "TTT"], window=40, n_bins=4)
    seq = V.window_sequence(genome, gene, reader.tss_flank, reader.tts_flank)
    marks = np.random.default_rng(0).random((4, 2))
    observed["h"] = np.concatenate([marks, reader.counts(seq)], axis=1)
    x = keras.Input((4, 5), name="histone")
    dense = layers.Dense(1)
    model = keras.Model(x, dense(layers.Flatten()(x)))
    w = np.zeros((4, 5), np.float32)
    w[:, 0] = 10.0                                                 # a mark
    w[:, 2] = 1.0                                                  # ACG counts
    dense.set_weights([w.reshape(-1, 1), np.zeros(1, np.float32)])
    pos = 259 - 3                                                  # oriented index 23
    v = V.Variant("chr1", pos + 1, "v", s[pos], "T" if s[pos] != "T" else "G")
    table = V.variant_effects(model, [v], genome, [gene], reader)
    alt = V.window_sequence(genome, gene, reader.tss_flank, reader.tts_flank, v)
    assert alt[23] == v.alt.translate(COMPLEMENT) and alt[:23] == seq[:23]
    acg = kmer_names(3).index("ACG")
    ref_acg, alt_acg = (kmer_counts(x, 3, 4)[acg].sum() for x in (seq, alt))
    row = table.iloc[0]
    assert row.context == "cellA" and row.status == "ok"
    np.testing.assert_allclose(row.ref_prediction, 10 * marks[:, 0].sum() + ref_acg, rtol=1e-5)
    np.testing.assert_allclose(row.delta, alt_acg - ref_acg, atol=1e-5)


def test_iupac_codes_of_the_fasta_in_a_window_are_told(tmp_path, caplog):
    """An ambiguity code of the reference genome inside a gene's window is read like N by
    every reader; variant effects and saturation mutagenesis say so in one warning
    naming the gene (the k-mer reader counted them as N without a word)."""
    from keras import layers

    s = list("".join(np.random.default_rng(5).choice(list("ACGT"), 300)))
    s[40], s[45] = "R", "y"                          # inside gene a's window [30, 70)
    path = write_fasta(tmp_path / "iupac.fa", {"chr1": "".join(s)})
    genes = [Gene("a", "A", "chr1", 50, 120, "+"), Gene("b", "B", "chr1", 200, 260, "+")]
    reader = R.KmerReader({"c": {}}, ["ACG", "CGT"], window=40, n_bins=4)
    x = keras.Input((4, 2), name="histone")
    model = keras.Model(x, layers.Dense(1)(layers.Flatten()(x)))
    with Genome(path) as genome:
        for g in genes:
            reader.histone["c"][g.id] = reader.counts(
                V.window_sequence(genome, g, reader.tss_flank, reader.tts_flank))
        variants = [V.Variant("chr1", 51, "va", s[50], "T" if s[50] != "T" else "G"),
                    V.Variant("chr1", 201, "vb", s[200], "T" if s[200] != "T" else "G")]
        with caplog.at_level(logging.WARNING, logger="kerasgene"):
            table = V.variant_effects(model, variants, genome, genes, reader)
            assert list(table.status) == ["ok", "ok"]
            warned = [r.getMessage() for r in caplog.records if "IUPAC" in r.getMessage()]
            assert warned == [f"{path}: 1 gene windows hold 2 characters other than A, C, G, "
                              "T, N (IUPAC ambiguity codes), encoded like N (e.g. a)"]
            caplog.clear()
            saturation_mutagenesis(model, genome, genes[1], reader)
            assert not [r for r in caplog.records if "IUPAC" in r.getMessage()]
            saturation_mutagenesis(model, genome, genes[0], reader)
            assert [r.getMessage() for r in caplog.records if "IUPAC" in r.getMessage()] \
                == warned


# --------------------------------------------------------------------------------------
# planted motifs of the simulated demo data
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(small_sim):
    return small_sim


def single_creb1_genes(out, truth) -> dict[str, tuple[Gene, dict]]:
    """One expressed gene per strand whose window holds exactly one CREB1 instance, an
    effective activator site (positive effect on expression)."""
    iseg = truth["tasks"]["isegnet"]
    genes = {g.id: g for g in read_gtf(out / "genes.gtf")}
    tpm = pd.read_csv(out / "isegnet" / "expression_tpm.tsv", sep="\t", index_col=0)
    picked: dict[str, tuple[Gene, dict]] = {}
    for gid, inst in iseg["motif_instances"].items():
        creb = [i for i in inst if i["jaspar_id"] == CREB1]
        if (len(creb) == 1 and creb[0]["role"] == "activator" and creb[0]["effective"]
                and tpm.loc[gid].min() > 0):
            picked.setdefault(genes[gid].strand, (genes[gid], creb[0]))
    return picked


def destroying_snv(genome: Genome, gene: Gene, site: dict, probs: np.ndarray,
                   window: str) -> V.Variant:
    """The SNV at the site's most constrained motif column, to its least likely base,
    written in genomic (+ strand) coordinates from the oriented window index."""
    ws, w = site["window_start"], len(probs)
    oriented = window[ws : ws + w]
    fwd = sum(np.log(probs[j, "ACGT".index(b)]) for j, b in enumerate(oriented))
    rc = sum(np.log(probs[::-1, ::-1][j, "ACGT".index(b)]) for j, b in enumerate(oriented))
    p = probs if fwd >= rc else probs[::-1, ::-1]
    j = int(np.argmax(p.max(axis=1) / p.min(axis=1)))
    new = "ACGT"[int(np.argmin(p[j]))]
    if gene.strand == "+":
        pos = gene.tss - 1000 + ws + j
    else:
        pos, new = gene.tss + 1000 - (ws + j), new.translate(COMPLEMENT)
    return V.Variant(site["chrom"], pos + 1, f"{gene.id}_motif", genome.fetch(site["chrom"],
                     pos, pos + 1), new)


def test_planted_motif_mutation_lowers_prediction(sim):
    from kerasgene.io.tracks import TrackSet

    out, truth = sim
    probs = planted_probabilities(CREB1)
    model = pwm_model(2500, probs, "epigenome", (2500, 7))
    picked = single_creb1_genes(out, truth)
    assert set(picked) == {"+", "-"}
    rep = out / "isegnet" / "simA_rep1"
    tracks = {t: str(rep / f"{t}.bigWig") for t in
              ("DNase", "H3K4me1", "H3K4me3", "H3K9me3", "H3K27me3", "H3K36me3", "WGBS")}
    with Genome(out / "genome.fa") as genome, TrackSet(tracks) as ts:
        reader = R.RegionReader({"simA_rep1": ts})
        variants, genes = [], []
        for gene, site in picked.values():
            window = V.window_sequence(genome, gene, reader.tss_flank, reader.tts_flank)
            variants.append(destroying_snv(genome, gene, site, probs, window))
            control = gene.tss + (400 if gene.strand == "+" else -400)  # TSS+400, oriented
            variants.append(V.Variant(gene.chrom, control + 1, f"{gene.id}_control",
                                      genome.fetch(gene.chrom, control, control + 1), "N"))
            genes.append(gene)
        table = V.variant_effects(model, variants, genome, genes, reader).set_index("variant_id")
        assert (table["status"] == "ok").all() and len(table) == 4
        for gene, site in picked.values():
            row = table.loc[f"{gene.id}_motif"]
            first = site["window_start"] - 1000                    # oriented offset of the site
            assert row.gene_id == gene.id and row.anchor == "TSS"
            assert first <= row.offset < first + len(probs)
            assert row.ref_prediction > 1.0 and row.delta < -1.0
            assert abs(table.loc[f"{gene.id}_control"].delta) < 1e-5
        gene, site = picked["-"]
        m = saturation_mutagenesis(model, genome, gene, reader)
    assert m.deltas.shape == (4, 2500)
    low = int(np.argmin(m.deltas.min(axis=0)))
    assert site["window_start"] <= low < site["window_start"] + len(probs)
    assert m.deltas.min() < -1.0
    ref_rows = np.array(["ACGT".index(b) for b in m.sequence])
    assert not m.deltas[ref_rows, np.arange(2500)].any()       # 0 at the reference base


def test_deeprage_promoter_variant_mean_over_conditions(sim):
    """VCF positions inside promoter records; the table gives the mean over conditions."""
    from kerasgene.datasets.pairs import DEEPRAGE_N

    out, truth = sim
    probs = planted_probabilities(GCN4)
    regs = np.array([[1, 0, -1], [0, 0, 0], [1, 1, 1]], np.float32)
    model = pwm_model(1000, probs, "regulators", (3,), context_weight=0.5)
    inst = truth["tasks"]["deeprage"]["motif_instances"]
    gid, site = next((g, gcn4[0]) for g, sites in inst.items()
                     if len(gcn4 := [x for x in sites if x["jaspar_id"] == GCN4]) == 1)
    with Genome(out / "yeast" / "promoters.fa") as genome:
        genes = V.promoter_genes(genome, [gid, "YAL037W"])
        reader = R.PromoterReader(regs)
        seq = genome.fetch(gid, genome.chroms[gid] - 1000, genome.chroms[gid])
        assert V.window_sequence(genome, genes[0], reader.tss_flank, reader.tts_flank) == seq
        p = probs if site["strand"] == "+" else probs[::-1, ::-1]
        j = int(np.argmax(p.max(axis=1) / p.min(axis=1)))
        pos = genome.chroms[gid] - 1000 + site["start"] + j
        v = V.Variant(gid, pos + 1, "gcn4", seq[site["start"] + j],
                      "ACGT"[int(np.argmin(p[j]))])
        table = V.variant_effects(model, [v], genome, genes, reader)
    assert len(table) == 1 and table.iloc[0].context == "mean of 3 conditions"
    x = one_hot(seq, np.asarray(DEEPRAGE_N, np.float32))[None].repeat(3, axis=0)
    direct = np.asarray(model({"sequence": x, "regulators": regs})).mean()
    np.testing.assert_allclose(table.iloc[0].ref_prediction, direct, rtol=1e-5)
    assert table.iloc[0].delta < -1.0


@pytest.mark.parametrize("name, kw", [
    ("deeprage_concat", {}), ("deeprage_tensor", {}),
    ("deeprage_rnn", {"pool_size": 10, "rnn_units": 4})], ids=["C", "TP", "RNN"])
def test_deeprage_predictions_are_the_mean_of_every_pair(name, kw):
    """DeepRAGE variant and mutagenesis predictions (C and TP through the factorised pair
    outputs, each promoter once; the RNN pair by pair) are the model's mean over the
    reader's conditions of its prediction on every promoter x condition pair, whatever
    the promoters per call; a classifier is refused."""
    import keras

    from kerasgene.models import build
    from kerasgene.train.block_trainer import factorised_outputs

    keras.utils.set_random_seed(0)
    model = build(name, seq_len=100, filters=8, filter_length=9, units=16,
                  regulator_units=8, n_regulators=5, **kw)
    assert (factorised_outputs(model) is None) == (name == "deeprage_rnn")
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), 100)) for _ in range(7)]
    reader = R.PromoterReader(rng.choice([-1.0, 0.0, 1.0], (6, 5)).astype(np.float32), 100)
    x = reader.inputs(seqs, [None] * 7, [None] * 7)
    out = model.predict(x, verbose=0)
    out = next(iter(out.values())) if isinstance(out, dict) else out
    direct = np.asarray(out).reshape(7, 6).mean(axis=1)
    predict = V.predictor(model, reader)
    for batch_size in (2, 512):
        np.testing.assert_allclose(predict(seqs, [None] * 7, [None] * 7, batch_size), direct,
                                   rtol=1e-5, atol=1e-6)
    classes = build(name, seq_len=100, filters=8, filter_length=9, units=16,
                    regulator_units=8, n_regulators=5, task="classification", **kw)
    with pytest.raises(ConfigError, match="values per example"):
        V.predictor(classes, reader)(seqs, [None] * 7, [None] * 7, 512)


# --------------------------------------------------------------------------------------
# the command line on a run directory
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(sim, tmp_path_factory):
    """A run directory over 12 simulated genes (one sample) with the CREB1 model."""

    out, truth = sim
    d = tmp_path_factory.mktemp("run")
    picked = single_creb1_genes(out, truth)
    tpm = pd.read_csv(out / "isegnet" / "expression_tpm.tsv", sep="\t", index_col=0)
    keep = {g.id for g, _ in picked.values()}
    keep |= set(tpm.index[tpm["simA_rep1"] > 0][:10])
    lines = [ln for ln in (out / "genes.gtf").read_text().splitlines()
             if ln.startswith("#") or any(f'"{k}"' in ln for k in keep)]
    (d / "genes.gtf").write_text("\n".join(lines) + "\n")
    rep = "isegnet/simA_rep1"
    config = {"system": "isegnet", "seed": 0, "data_dir": str(out), "run_dir": str(d),
              "data": {"gtf": str(d / "genes.gtf"), "fasta": "genome.fa",
                       "samples": [{"name": "simA_rep1",
                                    "expression": "isegnet/expression_tpm.tsv",
                                    "expression_column": "simA_rep1",
                                    "tracks": {t: f"{rep}/{t}.bigWig" for t in (
                                        "DNase", "H3K4me1", "H3K4me3", "H3K9me3",
                                        "H3K27me3", "H3K36me3", "WGBS")}}],
                       "split": {"method": "random", "fractions": [0.6, 0.2, 0.2],
                                 "seed": 0, "group": "gene_id"}}}
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    probs = planted_probabilities(CREB1)
    pwm_model(2500, probs, "epigenome", (2500, 7)).save(d / "model.keras")
    from kerasgene.train import records

    records.record_run(d)  # a hand-made model: `variants` needs the run's completion record
    with Genome(out / "genome.fa") as genome:
        records = []
        for gene, site in picked.values():
            window = V.window_sequence(genome, gene, (1000, 500), (500, 500))
            v = destroying_snv(genome, gene, site, probs, window)
            records.append((v.chrom, v.pos, v.id, v.ref, v.alt))
        gene = picked["+"][0]
        wrong = "ACGT"[("ACGT".index(genome.fetch(gene.chrom, gene.tss, gene.tss + 1)) + 1) % 4]
        records.append((gene.chrom.removeprefix("chr"), gene.tss + 1, "mismatch", wrong, "A"))
    return d, picked, records


def test_cli_variants_table_and_mutagenesis(run_dir, capsys):
    d, picked, records = run_dir
    vcf = write_vcf(d / "calls.vcf", records)
    out = d / "res" / "effects.tsv"
    gid = picked["+"][0].id
    assert main(["variants", "--run", str(d), "--vcf", vcf, "--out", str(out),
                 "--ism", gid]) == 0
    printed = capsys.readouterr().out
    assert ("3 variants: 3 in gene windows (2 ok, 1 ref_mismatch, 0 ambiguous_allele), "
            "0 unknown_chrom, 0 past_chrom_end, 0 outside every gene window (no row); "
            "3 rows") in printed
    tab = pd.read_csv(out, sep="\t").set_index("variant_id")
    assert list(tab.reset_index().columns) == list(V.COLUMNS)
    for gene, _ in picked.values():
        row = tab.loc[f"{gene.id}_motif"]
        assert row.status == "ok" and row.context == "simA_rep1" and row.delta < -1.0
    assert tab.loc["mismatch"].status == "ref_mismatch" and np.isnan(tab.loc["mismatch"].delta)
    ism = pd.read_csv(d / "res" / f"effects_ism_{gid}.tsv", sep="\t")
    assert len(ism) == 2500 and ism["anchor"].iloc[1000] == "TSS" and ism["offset"][1000] == 0
    site = picked["+"][1]["window_start"]
    low = int(ism[["delta_A", "delta_C", "delta_G", "delta_T"]].min(axis=1).idxmin())
    assert site <= low < site + 8
    assert (d / "res" / f"effects_ism_{gid}.png").stat().st_size > 0
    assert sorted(p.name for p in (d / "res").iterdir()) == sorted(
        ["effects.tsv", f"effects_ism_{gid}.tsv", f"effects_ism_{gid}.png"])


def test_ism_rows_place_a_minus_strand_gene_on_the_genome(run_dir, sim, capsys):
    """The ISM table of a − strand gene joined to a VCF: the row whose ``pos`` is the
    variant's POS has ``genome_ref`` = its REF, and the variant's delta in the column of
    its ALT complemented (the table reads bases 5'→3' of the gene); it gave only window
    indices (H4)."""
    from kerasgene.dna import reverse_complement

    d, picked, records = run_dir
    gene = picked["-"][0]
    chrom, pos, vid, ref, alt = next(r for r in records if r[2] == f"{gene.id}_motif")
    vcf = write_vcf(d / "minus.vcf", [(chrom, pos, vid, ref, alt)])
    out = d / "minus" / "effects.tsv"
    assert main(["variants", "--run", str(d), "--vcf", vcf, "--out", str(out),
                 "--ism", gene.id]) == 0
    delta = pd.read_csv(out, sep="\t").set_index("variant_id").loc[vid, "delta"]
    ism = pd.read_csv(d / "minus" / f"effects_ism_{gene.id}.tsv", sep="\t")
    assert set(ism["strand"]) == {"-"} and set(ism["chrom"]) == {gene.chrom}
    assert ism.loc[1000, "pos"] == gene.tss + 1  # offset 0 of the TSS
    row = ism.set_index("pos").loc[pos]
    assert row.genome_ref == ref and row.ref_base == reverse_complement(ref)
    assert row[f"delta_{reverse_complement(alt)}"] == pytest.approx(delta, rel=1e-4, abs=1e-6)
    with Genome(sim[0] / "genome.fa") as genome:
        seq = genome.fetch(gene.chrom, int(ism["pos"].min()) - 1, int(ism["pos"].max()))
    first = int(ism["pos"].min())
    assert all(seq[p - first] == b for p, b in zip(ism["pos"], ism["genome_ref"]))
    capsys.readouterr()


def test_cli_variants_names_variants_at_genes_the_dataset_left_out(run_dir, sim, tmp_path,
                                                                  capsys, caplog):
    """A variant in the window of an annotated gene that the dataset left out (zero TPM,
    in dropped.tsv) got no row and no word: the summary said "2 variants: 1 in gene
    windows", as for a variant far from every gene."""
    import shutil

    from kerasgene.train import records

    d, _, calls = run_dir
    out, _ = sim
    tpm = pd.read_csv(out / "isegnet" / "expression_tpm.tsv", sep="\t", index_col=0)
    kept = read_gtf(d / "genes.gtf")
    far = [g for g in read_gtf(out / "genes.gtf") if tpm.loc[g.id, "simA_rep1"] == 0
           and all(g.chrom != k.chrom or abs(g.tss - k.tss) > 5000 for k in kept)]
    zero = far[0]
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(d / "model.keras", run)
    (run / "genes.gtf").write_text((d / "genes.gtf").read_text() + "".join(
        ln + "\n" for ln in (out / "genes.gtf").read_text().splitlines()
        if f'"{zero.id}"' in ln))
    config = yaml.safe_load((d / "config.yaml").read_text())
    config.update(run_dir=str(run))
    config["data"]["gtf"] = str(run / "genes.gtf")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    records.record_run(run)
    with Genome(out / "genome.fa") as genome:
        ref = genome.fetch(zero.chrom, zero.tss, zero.tss + 1)
    left_out = (zero.chrom, zero.tss + 1, "at_left_out", ref, "ACGT"[("ACGT".index(ref) + 1) % 4])
    vcf = write_vcf(tmp_path / "calls.vcf", [calls[0], left_out])
    with caplog.at_level(logging.WARNING):
        assert main(["variants", "--run", str(run), "--vcf", vcf,
                     "--out", str(tmp_path / "effects.tsv")]) == 0
    assert ("2 variants: 1 in gene windows (1 ok, 0 ref_mismatch, 0 ambiguous_allele), "
            "0 unknown_chrom, 0 past_chrom_end, 0 outside every gene window (no row); 1 in "
            "windows of genes the dataset left out "
            "(no row for those genes); 1 rows") in capsys.readouterr().out
    assert ("1 variant(s) lie in the window of genes the run's dataset left out (not in the "
            "model's dataset, so no row for them; listed with the reason in "
            f"{run / 'dataset' / 'dropped.tsv'}): at_left_out at {zero.id} (zero_expression)"
            ) in caplog.text
    assert pd.read_csv(tmp_path / "effects.tsv", sep="\t")["variant_id"].tolist() == [calls[0][2]]


def test_cli_variants_exclude_filtered(run_dir, tmp_path, capsys):
    """``--exclude-filtered`` leaves out a record that failed a VCF filter (GATK's
    ``--exclude-filtered``) and says how many; without it the record is scored, its
    FILTER in the table."""
    d, _, records = run_dir
    header = pysam.VariantHeader()
    header.filters.add("q10", None, None, "Quality below 10")
    for chrom in dict.fromkeys(r[0] for r in records[:2]):
        header.contigs.add(chrom)
    vcf = tmp_path / "filtered.vcf"
    with pysam.VariantFile(str(vcf), "w", header=header) as out:
        for k, (chrom, pos, ident, ref, alt) in enumerate(records[:2]):
            rec = out.new_record(contig=chrom, start=pos - 1, stop=pos - 1 + len(ref),
                                 alleles=(ref, alt), id=ident)
            rec.filter.add("q10" if k == 0 else "PASS")
            out.write(rec)
    for flags, ids in (([], [records[0][2], records[1][2]]), (["--exclude-filtered"],
                                                              [records[1][2]])):
        table = tmp_path / f"effects{len(flags)}.tsv"
        assert main(["variants", "--run", str(d), "--vcf", str(vcf), "--out", str(table),
                     *flags]) == 0
        printed = capsys.readouterr().out
        assert ("(1 failing a VCF filter left out)" in printed) == bool(flags), printed
        tab = pd.read_csv(table, sep="\t")
        assert tab["variant_id"].tolist() == ids
        assert tab["filter"].tolist() == ["q10", "PASS"][-len(ids):]


def test_cli_variants_off_the_genome_get_rows_and_warnings(run_dir, tmp_path, capsys, caplog):
    """A variant on a chromosome the FASTA lacks and one past a chromosome end: exit 0,
    a row of each status (today no longer an empty table) and a counted warning."""
    d, _, records = run_dir
    fasta = yaml.safe_load((d / "config.yaml").read_text())["data_dir"] + "/genome.fa"
    with Genome(fasta) as genome:
        chrom = records[0][0]
        n = genome.chroms[genome.resolve(chrom)]
        tail = genome.fetch(chrom, n - 1, n)
        head = genome.fetch(chrom, 0, 1)  # the chromosome's first base: in no gene window
    vcf = write_vcf(tmp_path / "off.vcf", [records[0], ("chrUn_X", 5, "nowhere", "A", "C"),
                                           (chrom, n, "past", tail + "A", tail)])
    out = tmp_path / "off.tsv"
    with caplog.at_level(logging.WARNING):
        assert main(["variants", "--run", str(d), "--vcf", vcf, "--out", str(out)]) == 0
    assert ("3 variants: 1 in gene windows (1 ok, 0 ref_mismatch, 0 ambiguous_allele), "
            "1 unknown_chrom, 1 past_chrom_end, 0 outside every gene window (no row); 3 rows"
            ) in capsys.readouterr().out
    # a repeated record and one outside every window: the line's counts add up (it said
    # "18 variants: 14 in gene windows" for 16 in windows and 2 outside, H3)
    again = write_vcf(tmp_path / "again.vcf", [records[0], records[0], (
        chrom, 1, "outside", head, "ACGT"[("ACGT".index(head) + 1) % 4])])
    assert main(["variants", "--run", str(d), "--vcf", again,
                 "--out", str(tmp_path / "again.tsv")]) == 0
    assert ("3 variants (1 repeat an earlier record: counted once): 1 in gene windows (1 ok, "
            "0 ref_mismatch, 0 ambiguous_allele), 0 unknown_chrom, 0 past_chrom_end, 1 outside "
            "every gene window (no row); 2 rows") in capsys.readouterr().out
    tab = pd.read_csv(out, sep="\t", keep_default_na=False).set_index("variant_id")
    assert (tab.loc["nowhere", "status"], tab.loc["past", "status"]) == ("unknown_chrom",
                                                                       "past_chrom_end")
    assert tab.loc[["nowhere", "past"], "delta"].eq("").all()
    assert "1 of 3 variants lie on a chromosome missing from the FASTA" in caplog.text
    assert "1 of 3 variants run past the end of their chromosome in the FASTA" in caplog.text


def test_cli_bad_inputs_exit_2_with_one_line(run_dir, tmp_path, capsys):
    d, _, _ = run_dir

    def err(*argv):
        assert main(["variants", *argv]) == 2
        # progress bars (tqdm's "\r" lines) may come first when the call builds the
        # run's dataset; the error itself is one line
        lines = [ln for ln in capsys.readouterr().err.split("\n") if not ln.startswith("\r")]
        assert len(lines) == 2 and lines[0].startswith("kerasgene: error: ") and not lines[1]
        return lines[0]

    assert "none.vcf: VCF file not found" in err("--run", str(d), "--vcf", str(tmp_path / "none.vcf"))
    bad = tmp_path / "bad.vcf"
    bad.write_text(HEADER + "chr1\t12\t.\tA\n")
    assert "bad.vcf: record 1: expected a VCF/BCF file" in err("--run", str(d), "--vcf", str(bad))
    good = write_vcf(tmp_path / "ok.vcf", [("chr1", 1, ".", "A", "C")])
    no_model = tmp_path / "run_without_model"
    no_model.mkdir()
    (no_model / "config.yaml").write_text((d / "config.yaml").read_text())
    assert "no trained model" in err("--run", str(no_model), "--vcf", good)
    assert "no config.yaml" in err("--run", str(tmp_path / "nowhere"), "--vcf", good)
    assert "is not in the run's dataset" in err("--run", str(d), "--vcf", good, "--out",
                                                str(tmp_path / "t.tsv"), "--ism", "NOPE")
    gid = next(iter(pd.read_csv(d / "dataset" / "index.tsv", sep="\t")["gene_id"]))
    assert "--context: 'rep9' is not a context" in err("--run", str(d), "--vcf", good, "--out",
                                                       str(tmp_path / "t.tsv"), "--ism", gid,
                                                       "--context", "rep9")
    assert not (tmp_path / "t.tsv").exists()


def test_variants_of_run_from_python_and_by_config(run_dir, tmp_path, capsys):
    """The library call behind ``kerasgene variants``, and the run named by its config."""
    from kerasgene.config import load_config
    from kerasgene.explain import variants_of_run

    d, _, records = run_dir
    vcf = write_vcf(tmp_path / "two.vcf", records[:2])
    res = variants_of_run(d, load_config(d / "config.yaml"), vcf, out=tmp_path / "py.tsv")
    assert res.n_variants == 2 and res.paths == [tmp_path / "py.tsv"]
    assert (res.table["status"] == "ok").all() and len(res.table) == 2
    assert main(["variants", "--config", str(d / "config.yaml"), "--vcf", vcf, "--out",
                 str(tmp_path / "cli.tsv")]) == 0
    assert f"wrote {tmp_path / 'cli.tsv'}" in capsys.readouterr().out
    assert (tmp_path / "cli.tsv").read_text() == (tmp_path / "py.tsv").read_text()


def test_truth_window_starts_match_window_sequence(sim):
    """The simulator's oriented window_start of every planted site (both strands) holds
    the site read in gene orientation: an independent check of the window mapping."""
    out, truth = sim
    genes = {g.id: g for g in read_gtf(out / "genes.gtf")}
    checked = 0
    with Genome(out / "genome.fa") as genome:
        for gid, inst in list(truth["tasks"]["isegnet"]["motif_instances"].items())[:60]:
            g = genes[gid]
            window = V.window_sequence(genome, g, (1000, 500), (500, 500))
            for site in inst:
                s = genome.fetch(site["chrom"], site["start"], site["end"], g.strand)
                ws = site["window_start"]
                assert window[ws : ws + len(s)] == s
                checked += 1
    assert checked > 50


def _deeprage_config(data, run, **data_keys) -> dict:
    """A DeepRAGE run config on the simulator's yeast files, written to RUN/config.yaml."""
    y = "yeast/"
    config = {"system": "deeprage", "seed": 0, "data_dir": str(data), "run_dir": str(run),
              "data": {"expression": y + "logfc.tsv", "regulators": y + "reg_exp_RxE.tab",
                       "regulator_names": y + "reg_names_R.txt",
                       "condition_names": y + "expt_names_E.txt",
                       "promoters": y + "promoters.fa", **data_keys}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return config


def test_cli_deeprage_run_against_chosen_conditions(sim, tmp_path, capsys):
    """A DeepRAGE run on promoters.fa: CHROM is the promoter record, the row holds the
    mean over --conditions."""
    from kerasgene.train import records, runs

    out, truth = sim
    config = _deeprage_config(out, tmp_path)
    dataset = runs.prepare(config)
    n_regs = dataset.input_shapes["regulators"][0]
    probs = planted_probabilities(GCN4)
    pwm_model(1000, probs, "regulators", (n_regs,), context_weight=1.0).save(
        tmp_path / "model.keras")
    records.record_run(tmp_path)
    inst = truth["tasks"]["deeprage"]["motif_instances"]
    gid, site = next((g, gcn4[0]) for g, sites in inst.items() if g in dataset.gene_ids
                     and len(gcn4 := [x for x in sites if x["jaspar_id"] == GCN4]) == 1)
    p = probs if site["strand"] == "+" else probs[::-1, ::-1]
    j = int(np.argmax(p.max(axis=1) / p.min(axis=1)))
    with Genome(out / "yeast" / "promoters.fa") as genome:
        pos = genome.chroms[gid] - 1000 + site["start"] + j
        record = (gid, pos + 1, "gcn4", genome.fetch(gid, pos, pos + 1),
                  "ACGT"[int(np.argmin(p[j]))])
    vcf = write_vcf(tmp_path / "promoter.vcf", [record])
    chosen = dataset.conditions[:4]
    assert main(["variants", "--run", str(tmp_path), "--vcf", vcf,
                 "--conditions", ",".join(chosen)]) == 0
    tab = pd.read_csv(tmp_path / "variants" / "promoter.tsv", sep="\t")
    assert len(tab) == 1 and tab.context[0] == "mean of 4 conditions"
    assert tab.status[0] == "ok" and tab.delta[0] < -1.0
    capsys.readouterr()
    assert main(["variants", "--run", str(tmp_path), "--vcf", vcf, "--conditions", "nope"]) == 2
    assert "--conditions: ['nope'] not among" in capsys.readouterr().err


def test_cli_deeprage_class_run_is_refused_before_any_work(sim, tmp_path, capsys):
    """A DeepRAGE run on class targets (down / baseline / up): its effects would be a
    difference of three probabilities; refused in one line before the VCF is scored
    (it failed after the progress bar had started)."""
    from kerasgene.train import records, runs

    out, _ = sim
    config = _deeprage_config(out, tmp_path, target="class")
    dataset = runs.prepare(config)
    pwm_model(1000, planted_probabilities(GCN4), "regulators",
              (dataset.input_shapes["regulators"][0],)).save(tmp_path / "model.keras")
    records.record_run(tmp_path)
    with Genome(out / "yeast" / "promoters.fa") as genome:
        gid = next(iter(genome.chroms))
        vcf = write_vcf(tmp_path / "one.vcf", [(gid, 10, "v", genome.fetch(gid, 9, 10),
                                                "A" if genome.fetch(gid, 9, 10) != "A" else "C")])
    capsys.readouterr()
    assert main(["variants", "--run", str(tmp_path), "--vcf", vcf]) == 2
    err = capsys.readouterr().err
    assert (f"{tmp_path}: a classification run (3 classes); variant effects are differences of "
            "one predicted value: expected a regression run") in err
    assert "variant effects:" not in err and not (tmp_path / "variants").exists()


def test_cli_histone_without_kmers_reads_no_dna():
    from types import SimpleNamespace

    from kerasgene.explain.run_variants import histone_reader

    dataset = SimpleNamespace(path="prepared/deepchrome", meta={"params": {"kmers": None},
                                                                 "kmers": []})
    with pytest.raises(ConfigError, match="no k-mer channels"):
        histone_reader(dataset, None)


def test_cli_histone_kmer_run(sim, tmp_path, capsys):
    """A histone FCN-style run with k-mer channels (bigWig source): the model sums the
    AAA counts, so an insertion of A's raises it by the recount in the oriented window."""
    from keras import layers

    from kerasgene.train import records, runs

    out, _ = sim
    marks = ["H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3"]
    config = {"system": "histone_fcn", "seed": 0, "data_dir": str(out), "run_dir": str(tmp_path),
              "data": {"source": "bigwig", "gtf": "genes.gtf", "fasta": "genome.fa",
                       "expression": "histone/expression.tsv", "cell_stats": True,
                       "kmers": {"k": 3, "min_count": 1000},
                       "cells": {c: {"marks": {m: f"histone/{c}/{m}.bigWig" for m in marks}}
                                 for c in ("cell01", "cell02")}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    dataset = runs.prepare(config)
    channels = dataset.meta["channel_names"]
    x = keras.Input((100, len(channels)), name="histone")
    dense = layers.Dense(1)
    model = keras.Model(x, dense(layers.Flatten()(x)))
    w = np.zeros((100, len(channels)), np.float32)
    w[:, channels.index("AAA")] = 1.0
    dense.set_weights([w.reshape(-1, 1), np.zeros(1, np.float32)])
    model.save(tmp_path / "model.keras")
    records.record_run(tmp_path)
    genes = {g.id: g for g in read_gtf(out / "genes.gtf")}
    gene = next(genes[i] for i in dataset.index["gene_id"] if genes[i].strand == "-")
    with Genome(out / "genome.fa") as genome:
        pos = gene.tss - 10                                     # TSS+10, oriented
        v = V.Variant(gene.chrom, pos + 1, "ins", genome.fetch(gene.chrom, pos, pos + 1),
                      genome.fetch(gene.chrom, pos, pos + 1) + "AAAAAA")
        flanks = ((5000, 5000), (0, 0))
        aaa = kmer_names(3).index("AAA")
        expected = (kmer_counts(V.window_sequence(genome, gene, *flanks, v), 3, 100)[aaa].sum()
                    - kmer_counts(V.window_sequence(genome, gene, *flanks), 3, 100)[aaa].sum())
    vcf = write_vcf(tmp_path / "h.vcf", [(v.chrom, v.pos, v.id, v.ref, v.alt)])
    assert main(["variants", "--run", str(tmp_path), "--vcf", vcf]) == 0
    tab = pd.read_csv(tmp_path / "variants" / "h.tsv", sep="\t")
    mine = tab[tab.gene_id == gene.id]
    assert sorted(mine.context) == ["cell01", "cell02"] and (mine.status == "ok").all()
    assert (mine.anchor.tolist(), mine.offset.tolist()) == (["TSS"] * 2, [10, 10])
    assert expected > 0
    np.testing.assert_allclose(mine.delta, expected, atol=1e-4)


def test_a_vcf_of_another_assembly_is_refused(tmp_path):
    """Calls against another assembly than the FASTA match its REF by chance only (a third
    of them here); those were predicted as ``ok`` at the wrong place, the others warned
    about as ``ref_mismatch``. Most REF alleles differing is an error naming the FASTA;
    a few (an odd record, a normalisation difference) stay rows of status ref_mismatch."""
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGT"), 5000))
    write_fasta(tmp_path / "g.fa", {"chr1": seq})
    positions = sorted(rng.choice(np.arange(1, 5001), 30, replace=False).tolist())

    def snvs(n_wrong: int) -> list:
        out = []
        for k, pos in enumerate(positions):
            ref = seq[pos - 1] if k >= n_wrong else "ACGT"[("ACGT".index(seq[pos - 1]) + 1) % 4]
            out.append(V.Variant("chr1", pos, f"v{k}", ref, "ACGT"[("ACGT".index(ref) + 2) % 4]))
        return out

    with Genome(tmp_path / "g.fa") as genome:
        check_assembly(snvs(0), genome, "calls.vcf")
        check_assembly(snvs(4), genome, "calls.vcf")  # a few: rows of status ref_mismatch
        check_assembly(snvs(30)[:5], genome, "calls.vcf")  # too few to judge
        with pytest.raises(InputFileError, match=r"calls.vcf: the REF allele of 20 of 30 "
                           r"variants checked does not match .*g.fa \(chr1:\d+ [ACGT], .*\): "
                           r"the VCF and the FASTA are of different assemblies"):
            check_assembly(snvs(20), genome, "calls.vcf")


def test_a_vcf_on_no_sequence_of_the_fasta_is_refused(tmp_path):
    """A genome VCF (chrXIV) on a DeepRAGE run trained from promoter sequences: every row
    ``unknown_chrom``, a warning and exit 0; now one line saying what CHROM must name."""
    write_fasta(tmp_path / "promoters.fa", {"YAL001C": "ACGT" * 50, "YAL002W": "TTGA" * 50})
    variants = [V.Variant("chrXIV", 100, "a", "A", "G"), V.Variant("chrII", 7, "b", "C", "T")]
    with Genome(tmp_path / "promoters.fa") as genome:
        with pytest.raises(InputFileError, match=r"calls.vcf: none of its 2 variants lies on a "
                           r"sequence of .*promoters.fa \(the VCF names chrXIV, chrII; the FASTA "
                           r"holds YAL001C, YAL002W\); expected CHROM to name a sequence"):
            check_assembly(variants, genome, "calls.vcf")
        check_assembly([*variants, V.Variant("YAL001C", 3, "c", "G", "A")], genome, "calls.vcf")


def test_a_reader_of_fewer_tracks_than_the_model_is_one_line(mirror_genome):
    """A TrackSet with one track fewer than the model's channels reached the model: a
    TensorFlow ``TypeError: Binding inputs to tf.function failed`` with an array dump."""
    genome, s = mirror_genome
    gene = Gene("p", "P1", "chrP", 40, 120, "+")
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 1))}}, (20, 10), (10, 10))
    variant = V.Variant("chrP", 31, "v", s[30], "A" if s[30] != "A" else "C")
    with pytest.raises(ConfigError, match=r"the RegionReader gives 'epigenome' of shape "
                       r"\(50, 1\) per example; model .* takes \(50, 2\)"):
        V.variant_effects(base_at_model(50, 3, "A"), [variant], genome, [gene], reader)
