import gzip

import pytest

from kerasgene.annotation import Gene, parse_attributes, read_bed, read_gtf
from kerasgene.errors import InputFileError

GTF = """##description: test
chr1\tHAVANA\tgene\t11\t100\t.\t+\t.\tgene_id "G1.1"; gene_type "protein_coding"; gene_name "ALPHA";
chr1\tHAVANA\ttranscript\t11\t100\t.\t+\t.\tgene_id "G1.1"; transcript_id "T1";
chr1\tHAVANA\texon\t11\t40\t.\t+\t.\tgene_id "G1.1"; transcript_id "T1";
chr2\tHAVANA\tgene\t201\t300\t.\t-\t.\tgene_id "G2"; gene_type "lncRNA"; gene_name "BETA";
chrM\tENSEMBL\tgene\t1\t50\t.\t-\t.\tgene_id "G3"; gene_biotype "protein_coding";
"""


def test_read_gtf_coordinates_and_strand(tmp_path):
    path = tmp_path / "a.gtf"
    path.write_text(GTF)
    genes = read_gtf(path)
    assert [g.id for g in genes] == ["G1.1", "G2", "G3"]
    g1, g2, g3 = genes
    assert (g1.chrom, g1.start, g1.end, g1.strand, g1.name, g1.biotype) == (
        "chr1", 10, 100, "+", "ALPHA", "protein_coding")
    assert (g1.tss, g1.tts) == (10, 99)
    assert (g2.tss, g2.tts) == (299, 200)  # minus strand: TSS is the last base
    assert g3.name == "G3" and g3.biotype == "protein_coding"
    assert [g.id for g in read_gtf(path, biotypes=["protein_coding"])] == ["G1.1", "G3"]


def test_read_gtf_gzip_and_ucsc_style_without_gene_lines(tmp_path):
    text = (
        'chr1\tucsc\texon\t101\t200\t0\t-\t.\tgene_id "U1"; transcript_id "U1.a";\n'
        'chr1\tucsc\texon\t301\t400\t0\t-\t.\tgene_id "U1"; transcript_id "U1.a";\n'
    )
    path = tmp_path / "u.gtf.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    (gene,) = read_gtf(path)
    assert gene == Gene("U1", "U1", "chr1", 100, 400, "-", "")
    assert gene.tss == 399


def test_gtf_errors(tmp_path):
    bad = tmp_path / "bad.gtf"
    bad.write_text("chr1\tx\tgene\t1\t10\t.\t+\n")
    with pytest.raises(InputFileError, match=r"bad\.gtf:1: .*7 tab-separated columns, expected 9"):
        read_gtf(bad)
    bad.write_text('chr1\tx\tgene\t1\t10\t.\t+\t.\tgene_name "A";\n')
    with pytest.raises(InputFileError, match=r"bad\.gtf:1: gene record without a gene_id"):
        read_gtf(bad)
    bad.write_text('chr1\tx\tgene\t1\t10\t.\t*\t.\tgene_id "A";\n')
    with pytest.raises(InputFileError, match="strand must be"):
        read_gtf(bad)
    with pytest.raises(InputFileError, match="not found"):
        read_gtf(tmp_path / "none.gtf")


def test_parse_attributes_unquoted_values():
    assert parse_attributes('gene_id "A"; level 2; tag "x"; tag "y";') == {
        "gene_id": "A", "level": "2", "tag": "x"}


def test_read_bed6(tmp_path):
    path = tmp_path / "g.bed"
    path.write_text("track name=x\nchr1\t10\t20\tA\t0\t+\nchr2\t5\t9\tB\t0\t-\n")
    a, b = read_bed(path)
    assert (a.start, a.end, a.tss) == (10, 20, 10) and (b.tss, b.tts) == (8, 5)
    path.write_text("chr1\t10\t20\n")
    with pytest.raises(InputFileError, match="BED6"):
        read_bed(path)
