"""Variant effects on a biologist's own inputs: VCF text as editors and tools write it,
indels at a minus-strand window's 5' edge, alleles given from Python, and the output
paths of ``kerasgene variants`` (docs/bad_input.md, section Variants)."""

from __future__ import annotations

import logging

import numpy as np
import pysam
import pytest

from kerasgene.cli import main
from kerasgene.dna import reverse_complement
from kerasgene.errors import InputFileError
from kerasgene.explain import readers as R
from kerasgene.explain import variants as V
from kerasgene.io.annotation import Gene

HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
T = "\t.\t.\t.\n"  # QUAL FILTER INFO


def tiny_model(seq_len: int, index: int, base: str):
    """Prediction = 1 when the window holds ``base`` at ``index``, else 0 (iSEGnet inputs)."""
    keras = pytest.importorskip("keras")
    from keras import layers

    seq = keras.Input((seq_len, 4), name="sequence")
    epi = keras.Input((seq_len, 2), name="epigenome")
    pick = layers.Dense(1, name="pick")
    zero = layers.Dense(1, name="epi", kernel_initializer="zeros")
    model = keras.Model([seq, epi], layers.Add()([pick(layers.Flatten()(seq)),
                                                  zero(layers.Flatten()(epi))]))
    w = np.zeros((seq_len, 4), np.float32)
    w[index, "ACGT".index(base)] = 1
    pick.set_weights([w.reshape(-1, 1), np.zeros(1, np.float32)])
    return model


# --------------------------------------------------------------------------------------
# an insertion at the 5' edge of a minus-strand window
# --------------------------------------------------------------------------------------


def test_minus_strand_insertion_at_the_window_5prime_edge(genome):
    """A minus-strand window [a, b) starts (5') at genomic base b-1. VCF writes an
    insertion after its anchor base: anchored at b-1 the new bases lie 5' of the window
    and stay out of it (as on the plus strand, where an insertion anchored just before
    the window's first base changes nothing); anchored at b-2 they follow the first base.
    The window used to take them in and shift by the insertion's length."""
    g, s = genome
    gene = Gene("m", "M", "chr1", 100, 301, "-")        # TSS 300
    flanks = ((30, 20), (0, 0))                          # genomic [281, 331)
    a, b = 281, 331
    ref = V.window_sequence(g, gene, *flanks)
    assert ref == reverse_complement(s[a:b])
    edge = V.Variant("chr1", b, "edge", s[b - 1], s[b - 1] + "GAT")       # anchor b-1
    assert V.window_sequence(g, gene, *flanks, edge) == ref
    inside = V.Variant("chr1", b - 1, "inside", s[b - 2], s[b - 2] + "GAT")  # anchor b-2
    assert V.window_sequence(g, gene, *flanks, inside) == reverse_complement(
        s[a + 3 : b - 1] + "GAT" + s[b - 1])
    plus = Gene("p", "P", "chr1", 300, 380, "+")         # TSS 300: [270, 320)
    before = V.Variant("chr1", 270, "before", s[269], s[269] + "GAT")    # anchor 269
    assert V.window_sequence(g, plus, *flanks, before) == V.window_sequence(g, plus, *flanks)
    # a deletion whose REF ends at b-1 still pulls in bases from the 3' (genomic left) side
    dele = V.Variant("chr1", b - 2, "del", s[b - 3 : b], s[b - 3])
    assert V.window_sequence(g, gene, *flanks, dele) == reverse_complement(s[a - 2 : b - 2])


# --------------------------------------------------------------------------------------
# VCF text
# --------------------------------------------------------------------------------------


def test_read_vcf_counts_reference_calls_and_repeated_alleles(tmp_path, caplog):
    """Records with ALT '.' used to vanish without a word; a repeated record gave
    repeated rows the CLI summary counted once."""
    path = tmp_path / "calls.vcf"
    path.write_text(HEADER + "chr1\t10\trs1\tA\tC" + T + "chr1\t12\t.\tG\t." + T
                    + "chr1\t10\trs1\tA\tC,T" + T + "chr2\t3\t.\tT\t." + T)
    with caplog.at_level(logging.WARNING):
        got = V.read_vcf(path)
    assert [(v.pos, v.alt) for v in got] == [(10, "C"), (10, "C"), (10, "T")]
    assert f"{path}: skipped 2 records with ALT '.' (no alternative allele): chr1:12, chr2:3" \
        in caplog.text
    assert (f"{path}: 1 alleles repeat an earlier record's CHROM, POS, REF and ALT (kept: "
            "their rows repeat in the table): chr1:10 A>C") in caplog.text


@pytest.mark.parametrize("text, expected", [
    (HEADER + "chr1\t10\t.\tA\tC" + T + "\n",
     "record 2 (after chr1:10): expected a VCF/BCF file: unable to parse next record; "
     "line 4 is empty (expected a record)"),
    ("##fileformat=VCFv4.2\nchr1\t10\t.\tA\tC" + T,
     "; line 2: a record before the '#CHROM' line; expected the header line #CHROM POS ID "
     "REF ALT QUAL FILTER INFO (tab-separated) above the records"),
    ("##fileformat=VCFv4.2\n#CHROM POS ID REF ALT QUAL FILTER INFO\nchr1 10 . A C . . .\n",
     "; line 2: the '#CHROM' line has 1 tab-separated field(s), expected 8"),
    (HEADER + "chr1\t10\t.\tA\tC" + T + "chr1\t12x4\t.\tG\tA" + T,
     "record 2 (after chr1:10): expected a VCF/BCF file: truncated file; line 4: POS "
     "'12x4', expected a positive integer"),
    (HEADER + "chr1\t10\t.\tA\tC" + T + "chr1\t12\t.\tG\tA\n",
     "; line 4: 5 tab-separated field(s), expected at least 8 (#CHROM POS ID REF ALT QUAL "
     "FILTER INFO)"),
    (HEADER + "chr1\t10\t.\tA\tC" + T + "chr1 12 . G A . . .\n",
     "; line 4: fields separated by spaces; expected tabs (#CHROM POS ID REF ALT QUAL "
     "FILTER INFO)"),
], ids=["empty_line", "no_chrom_line", "spaces_for_tabs", "pos", "few_fields",
        "record_spaces"])
def test_read_vcf_names_the_line_that_breaks_the_format(tmp_path, text, expected):
    """A trailing empty line (printf '...\\n\\n'), a lost '#CHROM' line, spaces for tabs,
    a record with a POS that is no number or too few fields: htslib's message alone
    ("truncated file") did not say which line or what was expected."""
    path = tmp_path / "hand.vcf"
    path.write_text(text)
    with pytest.raises(InputFileError) as err:
        V.read_vcf(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


@pytest.mark.parametrize("bgzip", [False, True])
def test_read_vcf_with_a_byte_order_mark(tmp_path, bgzip):
    """Windows editors may start a UTF-8 file with a byte-order mark; htslib refused it
    ("invalid file"), as every other text input of kerasgene reads it."""
    path = tmp_path / "bom.vcf"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "chr1\t10\trs1\tA\tC" + T).encode())
    if bgzip:
        pysam.tabix_compress(str(path), str(tmp_path / "bom.vcf.gz"), force=True)
        path = tmp_path / "bom.vcf.gz"
    assert V.read_vcf(path) == [V.Variant("chr1", 10, "rs1", "A", "C")]
    assert [p.name for p in tmp_path.iterdir() if "kerasgene" in p.name] == []


# --------------------------------------------------------------------------------------
# variant_effects from Python
# --------------------------------------------------------------------------------------


def test_lower_case_alleles_from_python_are_bases(genome):
    """Variants handed to variant_effects (not read from a VCF) with lower-case alleles
    were reported as IUPAC ambiguity codes (status ambiguous_allele, no prediction)."""
    g, s = genome
    gene = Gene("p", "P", "chr1", 40, 120, "+")              # TSS 40: [20, 50) ⊕ [109, 129)
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, (20, 10), (10, 10))
    base = "A" if s[23] != "A" else "C"
    lower = V.Variant("chr1", 24, "v", s[23].lower(), base.lower())
    table = V.variant_effects(tiny_model(50, 3, base), [lower], g, [gene], reader)
    row = table.iloc[0]
    assert (row.status, row.ref, row.alt) == ("ok", s[23], base)
    assert (row.ref_prediction, row.alt_prediction) == (0.0, 1.0)


# --------------------------------------------------------------------------------------
# output paths
# --------------------------------------------------------------------------------------


def test_ism_files_keep_a_dotted_name(genome, tmp_path):
    """``--vcf sample.hg38.vcf --ism G`` wrote the heatmap's TSV and PNG to sample.tsv /
    sample.png (Path.with_suffix cut at the last dot), over any file of that name."""
    from kerasgene.explain.run_variants import write_ism

    g, _ = genome
    gene = Gene("ENSG01.7", "P", "chr1", 40, 120, "+")
    reader = R.RegionReader({"rep1": {gene.id: np.zeros((50, 2))}}, (20, 10), (10, 10))
    (tmp_path / "sample.tsv").write_text("the user's own file\n")
    paths = write_ism(tiny_model(50, 3, "A"), g, gene, reader, tmp_path / "sample.hg38.tsv")
    assert [p.name for p in paths] == ["sample.hg38_ism_ENSG01.7.tsv",
                                       "sample.hg38_ism_ENSG01.7.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert (tmp_path / "sample.tsv").read_text() == "the user's own file\n"
    assert not (tmp_path / "sample.png").exists()


def test_cli_out_that_cannot_be_written_is_refused_first(tmp_path, capsys):
    """``--out`` naming a folder (or a path below a file) failed with a traceback after
    every prediction had been made; ``--out`` naming the VCF itself replaced the VCF by
    the table. Now exit 2 before the VCF or the run is read."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("system: isegnet\nseed: 0\ndata_dir: .\n"
                                     "data: {gtf: genes.gtf, fasta: genome.fa}\n")
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(HEADER + "chr1\t10\t.\tA\tC" + T)
    folder = tmp_path / "results"
    folder.mkdir()
    for out, expected in [
            (vcf, f"--out: {vcf} is the VCF itself; expected another path for the TSV (the "
                  "TSV would replace the VCF)"),
            (folder, f"--out: {folder} is a directory; expected the path of the TSV to write "
                     f"(e.g. {folder / 'out.tsv'})"),
            (vcf / "sub" / "x.tsv", f"--out: {vcf / 'sub' / 'x.tsv'}: {vcf} is a file, not a folder; "
                                    "expected a path where a folder can be made")]:
        assert main(["variants", "--run", str(run), "--vcf", str(vcf), "--out", str(out)]) == 2
        assert capsys.readouterr().err == f"kerasgene: error: {expected}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.vcf", "results", "run"]
    assert vcf.read_text() == HEADER + "chr1\t10\t.\tA\tC" + T
    assert list(folder.iterdir()) == []


def test_batch_and_block_sizes_below_one_are_refused(genome, tmp_path, capsys):
    """``--batch-size -1`` on a DeepRAGE run wrote uninitialised memory as predictions
    (1e-313) with exit 0; ``0`` was a ValueError traceback; ``block_size=-1`` gave an empty
    table."""
    from kerasgene.errors import ConfigError
    from kerasgene.explain.mutagenesis import saturation_mutagenesis

    g, _ = genome
    gene = Gene("p", "P", "chr1", 40, 120, "+")
    reader = R.RegionReader({"rep1": {"p": np.zeros((50, 2))}}, (20, 10), (10, 10))
    model = tiny_model(50, 3, "A")
    variants = [V.Variant("chr1", 24, "v", "A", "C")]
    with pytest.raises(ConfigError, match=r"^batch_size: expected an integer >= 1, got -1$"):
        V.variant_effects(model, variants, g, [gene], reader, batch_size=-1)
    with pytest.raises(ConfigError, match=r"^block_size: expected an integer >= 1, got 0$"):
        V.variant_effects(model, variants, g, [gene], reader, block_size=0)
    with pytest.raises(ConfigError, match=r"^batch_size: expected an integer >= 1, got 0$"):
        saturation_mutagenesis(model, g, gene, reader, batch_size=0)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("system: deeprage\nseed: 0\ndata_dir: .\ndata: {}\n")
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(HEADER + "chr1\t10\t.\tA\tC" + T)
    for size in ("-1", "0"):
        assert main(["variants", "--run", str(run), "--vcf", str(vcf), "--out",
                     str(tmp_path / "out.tsv"), "--batch-size", size]) == 2
        assert capsys.readouterr().err == (f"kerasgene: error: --batch-size: expected an "
                                           f"integer >= 1, got {size}\n")
    assert not (tmp_path / "out.tsv").exists()
