import gzip
import logging

import pytest

from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.annotation import (
    Gene,
    parse_attributes,
    read_bed,
    read_genes,
    read_gtf,
    sniff_annotation,
)

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


# ----------------------------------------------------------------------------- GFF3
# A few real-looking lines of each flavour (the attributes as each provider writes them).
ENSEMBL_GFF3 = """##gff-version 3
##sequence-region   1 1 248956422
#!genome-build GRCh38.p14
1\tGRCh38\tchromosome\t1\t248956422\t.\t.\t.\tID=chromosome:1;Alias=CM000663.2,chr1,NC_000001.11
###
1\thavana\tncRNA_gene\t11869\t14409\t.\t+\t.\tID=gene:ENSG00000290825;Name=DDX11L2;biotype=lncRNA;description=DEAD/H-box helicase 11 like 2 (pseudogene);gene_id=ENSG00000290825;logic_name=havana_homo_sapiens;version=1
1\thavana\tlnc_RNA\t11869\t14409\t.\t+\t.\tID=transcript:ENST00000456328;Parent=gene:ENSG00000290825;Name=DDX11L2-202;biotype=lncRNA;transcript_id=ENST00000456328;version=2
1\thavana\texon\t11869\t12227\t.\t+\t.\tParent=transcript:ENST00000456328;Name=ENSE00002234944;exon_id=ENSE00002234944;rank=1;version=1
###
1\tensembl_havana\tgene\t65419\t71585\t.\t+\t.\tID=gene:ENSG00000186092;Name=OR4F5;biotype=protein_coding;description=olfactory receptor family 4 subfamily F member 5 [Source:HGNC Symbol%3BAcc:HGNC:14825];gene_id=ENSG00000186092;logic_name=ensembl_havana_gene_homo_sapiens;version=7
1\tensembl_havana\tmRNA\t65419\t71585\t.\t+\t.\tID=transcript:ENST00000641515;Parent=gene:ENSG00000186092;Name=OR4F5-201;biotype=protein_coding;transcript_id=ENST00000641515;version=2
1\tensembl_havana\texon\t65419\t65433\t.\t+\t.\tParent=transcript:ENST00000641515;exon_id=ENSE00003812156;rank=1
1\tensembl_havana\tCDS\t65565\t65573\t.\t+\t0\tID=CDS:ENSP00000493376;Parent=transcript:ENST00000641515;protein_id=ENSP00000493376
###
17\thavana\tpseudogene\t7661779\t7662000\t.\t-\t.\tID=gene:ENSG00000999999;Name=FAKEP1;biotype=processed_pseudogene;gene_id=ENSG00000999999;version=1
"""

GENCODE_GFF3 = """##gff-version 3
#description: evidence-based annotation of the human genome (GRCh38), version 46 (Ensembl 112)
##sequence-region chr1 1 248956422
chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tID=ENSG00000290825.1;gene_id=ENSG00000290825.1;gene_type=lncRNA;gene_name=DDX11L2;level=2;tag=overlaps_pseudogene
chr1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tID=ENST00000456328.2;Parent=ENSG00000290825.1;gene_id=ENSG00000290825.1;transcript_id=ENST00000456328.2;gene_type=lncRNA;gene_name=DDX11L2;transcript_type=lncRNA
chr1\tHAVANA\texon\t11869\t12227\t.\t+\t.\tID=exon:ENST00000456328.2:1;Parent=ENST00000456328.2;gene_id=ENSG00000290825.1;transcript_id=ENST00000456328.2;exon_number=1
chrX\tHAVANA\tgene\t276322\t303356\t.\t+\t.\tID=ENSG00000228572.7;gene_id=ENSG00000228572.7;gene_type=protein_coding;gene_name=PPP2R3B;level=2
chrY\tHAVANA\tgene\t276322\t303356\t.\t+\t.\tID=ENSG00000228572.7_PAR_Y;gene_id=ENSG00000228572.7_PAR_Y;gene_type=protein_coding;gene_name=PPP2R3B;level=2;tag=PAR
"""

NCBI_GFF3 = """##gff-version 3
#!gff-spec-version 1.21
#!processor NCBI annotwriter
##sequence-region NC_000017.11 1 83257441
NC_000017.11\tRefSeq\tregion\t1\t83257441\t.\t+\t.\tID=NC_000017.11:1..83257441;Dbxref=taxon:9606;Name=17;chromosome=17;gbkey=Src;genome=chromosome;mol_type=genomic DNA
NC_000017.11\tBestRefSeq\tgene\t7661779\t7687538\t.\t-\t.\tID=gene-TP53;Dbxref=GeneID:7157,HGNC:HGNC:11998,MIM:191170;Name=TP53;description=tumor protein p53;gbkey=Gene;gene=TP53;gene_biotype=protein_coding;gene_synonym=BCC7,LFS1,P53,TRP53
NC_000017.11\tBestRefSeq\tmRNA\t7661779\t7687538\t.\t-\t.\tID=rna-NM_000546.6;Parent=gene-TP53;Dbxref=Ensembl:ENST00000269305.9,GeneID:7157,GenBank:NM_000546.6;Name=NM_000546.6;gbkey=mRNA;gene=TP53;product=tumor protein p53%2C transcript variant 1;transcript_id=NM_000546.6
NC_000017.11\tBestRefSeq\texon\t7687377\t7687538\t.\t-\t.\tID=exon-NM_000546.6-1;Parent=rna-NM_000546.6;Dbxref=GeneID:7157;gbkey=mRNA;gene=TP53
NC_000017.11\tBestRefSeq\tgene\t7668421\t7687490\t.\t+\t.\tID=gene-WRAP53;Dbxref=GeneID:55135,HGNC:HGNC:25522;Name=WRAP53;gbkey=Gene;gene=WRAP53;gene_biotype=protein_coding
"""


def _write(path, text):
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def test_read_ensembl_gff3(tmp_path):
    genes = read_genes(_write(tmp_path / "Homo_sapiens.GRCh38.112.gff3.gz", ENSEMBL_GFF3))
    assert [(g.id, g.name, g.chrom, g.start, g.end, g.strand, g.biotype) for g in genes] == [
        ("ENSG00000290825", "DDX11L2", "1", 11868, 14409, "+", "lncRNA"),
        ("ENSG00000186092", "OR4F5", "1", 65418, 71585, "+", "protein_coding"),
        ("ENSG00000999999", "FAKEP1", "17", 7661778, 7662000, "-", "processed_pseudogene")]
    assert genes[2].tss == 7661999
    assert [g.id for g in read_gtf(tmp_path / "Homo_sapiens.GRCh38.112.gff3.gz",
                                   biotypes=["protein_coding"])] == ["ENSG00000186092"]


def test_read_gencode_gff3_keeps_versions_and_par_y(tmp_path):
    genes = read_genes(_write(tmp_path / "gencode.v46.annotation.gff3", GENCODE_GFF3))
    assert [(g.id, g.name, g.chrom, g.biotype) for g in genes] == [
        ("ENSG00000290825.1", "DDX11L2", "chr1", "lncRNA"),
        ("ENSG00000228572.7", "PPP2R3B", "chrX", "protein_coding"),
        ("ENSG00000228572.7_PAR_Y", "PPP2R3B", "chrY", "protein_coding")]


def test_read_ncbi_gff3_ids_and_geneid_xrefs(tmp_path):
    genes = read_genes(_write(tmp_path / "GCF_000001405.40_GRCh38.p14_genomic.gff", NCBI_GFF3))
    tp53, wrap53 = genes
    assert (tp53.id, tp53.name, tp53.chrom, tp53.start, tp53.end, tp53.strand, tp53.biotype) == (
        "TP53", "TP53", "NC_000017.11", 7661778, 7687538, "-", "protein_coding")
    assert tp53.xrefs == ("7157",) and wrap53.xrefs == ("55135",)
    assert (tp53.tss, wrap53.tss) == (7687537, 7668420)


def test_gff3_without_header_is_told_by_its_attributes(tmp_path):
    body = "\n".join(ln for ln in NCBI_GFF3.splitlines() if not ln.startswith("#")) + "\n"
    path = _write(tmp_path / "genes.gff", body)
    assert sniff_annotation(path) == "gff3"
    assert [g.id for g in read_gtf(path)] == ["TP53", "WRAP53"]


def test_gff3_and_gtf_of_the_same_genes_agree(tmp_path):
    gtf = ('chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id "ENSG00000290825.1"; '
           'gene_type "lncRNA"; gene_name "DDX11L2"; level 2;\n'
           'chrX\tHAVANA\tgene\t276322\t303356\t.\t+\t.\tgene_id "ENSG00000228572.7"; '
           'gene_type "protein_coding"; gene_name "PPP2R3B";\n'
           'chrY\tHAVANA\tgene\t276322\t303356\t.\t+\t.\tgene_id "ENSG00000228572.7_PAR_Y"; '
           'gene_type "protein_coding"; gene_name "PPP2R3B";\n')
    a = read_genes(_write(tmp_path / "a.gtf", gtf))
    b = read_genes(_write(tmp_path / "b.gff3", GENCODE_GFF3))
    assert a == b and len(a) == 3


def test_gff3_errors_name_the_line(tmp_path):
    path = _write(tmp_path / "bad.gff3", "##gff-version 3\n"
                  "chr1\tx\tgene\t200\t100\t.\t+\t.\tID=gene-A;Name=A\n")
    with pytest.raises(InputFileError, match=r"bad\.gff3:2: start 200 > end 100; expected "
                                             r"start <= end"):
        read_genes(path)
    path.write_text("##gff-version 3\nchr1\tx\tgene\t1\t100\t.\t+\t.\tName=A\n")
    with pytest.raises(InputFileError, match=r"bad\.gff3:2: GFF3 gene record without an ID"):
        read_genes(path)


# ----------------------------------------------------------------------------- odd records
def test_unstranded_genes_are_skipped_with_a_counted_warning(tmp_path, caplog):
    text = (GTF + 'chr1\tStringTie\ttranscript\t501\t900\t1000\t.\t.\tgene_id "STRG.7"; '
            'transcript_id "STRG.7.1";\n'
            'chr1\tStringTie\texon\t501\t900\t1000\t.\t.\tgene_id "STRG.7"; '
            'transcript_id "STRG.7.1";\n'
            'chr2\tx\tgene\t1\t50\t.\t.\t.\tgene_id "G9";\n')
    path = _write(tmp_path / "u.gtf", text)
    with caplog.at_level(logging.WARNING):
        genes = read_gtf(path)
    assert [g.id for g in genes] == ["G1.1", "G2", "G3"]
    assert genes.skipped == {"STRG.7": "no strand ('.') in u.gtf", "G9": "no strand ('.') in u.gtf"}
    assert f"{path}: skipped 2 GTF genes without a strand ('.'): G9, STRG.7" in caplog.text


def test_start_after_end_is_an_error_naming_the_line(tmp_path):
    path = _write(tmp_path / "swap.gtf", GTF.replace("\t201\t300\t", "\t300\t201\t"))
    with pytest.raises(InputFileError, match=r"swap\.gtf:5: start 300 > end 201; expected "
                                             r"start <= end") as err:
        read_gtf(path)
    assert "\n" not in str(err.value)
    path.write_text('chr1\tx\tgene\t0\t10\t.\t+\t.\tgene_id "A";\n')
    with pytest.raises(InputFileError, match=r"swap\.gtf:1: start must be >= 1, got 0"):
        read_gtf(path)


def _ucsc(chrom, start, end, strand, gene, tx):
    return (f'{chrom}\tucsc\texon\t{start}\t{end}\t0\t{strand}\t.\tgene_id "{gene}"; '
            f'transcript_id "{tx}";\n')


def test_gene_id_at_several_loci_is_never_one_span(tmp_path, caplog):
    """UCSC-style: a symbol at two primary loci is skipped (ambiguous); a copy on an alt
    haplotype is ignored for the primary locus; transcripts of one locus are merged."""
    text = (_ucsc("chr1", 1000, 2000, "+", "DUP1", "NM_1") +
            _ucsc("chr5", 5000, 6000, "+", "DUP1", "NM_1_2") +
            _ucsc("chr2", 100, 200, "-", "FAR1", "NM_2") +
            _ucsc("chr2", 900000, 900100, "-", "FAR1", "NM_3") +
            _ucsc("chr6", 29941260, 29945884, "+", "HLA-A", "NM_4") +
            _ucsc("chr6_GL000250v2_alt", 1000, 5000, "+", "HLA-A", "NM_4_1") +
            _ucsc("chr3", 100, 300, "+", "ONE", "NM_5") +
            _ucsc("chr3", 500, 800, "+", "ONE", "NM_5") +
            _ucsc("chr3", 250, 600, "+", "ONE", "NM_6"))
    path = _write(tmp_path / "hg38.refGene.gtf.gz", text)
    with caplog.at_level(logging.WARNING):
        genes = read_gtf(path)
    assert [(g.id, g.chrom, g.start, g.end) for g in genes] == [
        ("HLA-A", "chr6", 29941259, 29945884), ("ONE", "chr3", 99, 800)]
    assert genes.skipped["DUP1"] == ("several loci in hg38.refGene.gtf.gz: chr1:1000-2000(+), "
                                     "chr5:5000-6000(+)")
    assert genes.skipped["FAR1"].startswith("several loci in hg38.refGene.gtf.gz: chr2:100-200(-)")
    assert "skipped 2 gene ids found at several loci" in caplog.text
    assert "1 gene ids also lie on alt / patch / unplaced sequences" in caplog.text


def test_gene_records_mixed_with_transcript_only_genes(tmp_path):
    """Ensembl genes (gene records) merged with StringTie genes (transcripts only)."""
    text = (GTF + 'chr1\tStringTie\ttranscript\t501\t900\t1000\t+\t.\tgene_id "STRG.3"; '
            'transcript_id "STRG.3.1";\n'
            'chr1\tStringTie\texon\t501\t600\t1000\t+\t.\tgene_id "STRG.3"; '
            'transcript_id "STRG.3.1";\n'
            'chr1\tStringTie\texon\t801\t950\t1000\t+\t.\tgene_id "STRG.3"; '
            'transcript_id "STRG.3.2";\n')
    genes = read_gtf(_write(tmp_path / "merged.gtf", text))
    assert [g.id for g in genes] == ["G1.1", "G2", "G3", "STRG.3"]
    assert (genes[3].start, genes[3].end, genes[3].strand) == (500, 950, "+")
    assert genes[0] == Gene("G1.1", "ALPHA", "chr1", 10, 100, "+", "protein_coding")


def test_truncated_gzip_gtf_is_a_one_line_error(tmp_path):
    full = _write(tmp_path / "full.gtf.gz", GTF * 200)
    path = tmp_path / "cut.gtf.gz"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(InputFileError, match=r"cut\.gtf\.gz: truncated or corrupt gzip") as err:
        read_gtf(path)
    assert "\n" not in str(err.value)


def test_read_genes_dispatch_and_not_an_annotation(tmp_path):
    bed = _write(tmp_path / "genes.txt", "chr1\t10\t20\tA\t0\t+\nchr1\t30\t40\tB\t0\t.\n")
    assert sniff_annotation(bed) == "bed" and [g.id for g in read_genes(bed)] == ["A"]
    listing = _write(tmp_path / "ids.txt", "TP53\nWRAP53\n")
    assert sniff_annotation(listing) is None
    with pytest.raises(InputFileError, match=r"ids\.txt: not a GTF, GFF3 or BED annotation"):
        read_genes(listing)
    listing.write_text("chr1\tx\tgene\t1\t10\t.\t+\t.\tgene_id \"A\";\t\n")  # a trailing tab
    with pytest.raises(InputFileError, match=r"ids\.txt:1: GTF line has 10 tab-separated columns"):
        read_genes(listing)
    bed.write_text("chr1\t30\t20\tA\t0\t+\n")
    with pytest.raises(InputFileError, match=r"genes\.txt:1: start 30 > end 20"):
        read_genes(bed)


# ----------------------------------------------------------------------------- predict --genes
def test_predict_genes_reads_gff3_as_annotation_and_lists_through_it(tmp_path, caplog):
    from kerasgene.io.annotation import select_genes

    gff3 = _write(tmp_path / "refseq.gff3", NCBI_GFF3)
    assert [g.id for g in select_genes(str(gff3), None)] == ["TP53", "WRAP53"]
    listing = _write(tmp_path / "ids.txt", "7157\nWRAP53\n")
    assert [g.id for g in select_genes(str(listing), str(gff3))] == ["TP53", "WRAP53"]
    packed = tmp_path / "ids.txt.gz"  # a gzip list was a UnicodeDecodeError traceback
    packed.write_bytes(gzip.compress(listing.read_bytes()))
    assert [g.id for g in select_genes(str(packed), str(gff3))] == ["TP53", "WRAP53"]
    with caplog.at_level(logging.WARNING):
        assert [g.id for g in select_genes("TP53,WRAP53,TP53", str(gff3))] == [
            "TP53", "WRAP53", "TP53"]
        select_genes(str(gff3), str(listing))
    assert "gene list: 1 gene(s) listed more than once, predicted once per listing: TP53" \
        in caplog.text
    assert f"{gff3} is itself an annotation: its genes are used, and {listing} is not read" \
        in caplog.text
    with pytest.raises(InputFileError, match=r"gene list: 1 gene\(s\) not in .*refseq\.gff3: BRCA1"):
        select_genes("TP53,BRCA1", str(gff3))


def test_cli_predict_broken_gff3_exits_2_naming_the_line(tmp_path, capsys):
    from kerasgene.cli import main

    gff3 = _write(tmp_path / "x.gff3", NCBI_GFF3.replace("\t7668421\t7687490\t", "\t9\t8\t"))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["predict", "--target", "127.0.0.1:1", "--model", "m", "--genes", str(gff3),
                 "--out", str(out / "p.tsv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x.gff3:9: start 9 > end 8; expected start <= end" in err
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------- quoting, cut files, empty rows
def test_gtf_gene_id_inside_another_quoted_value_is_not_the_gene_id(tmp_path):
    col = 'note "merged from; gene_id BAD"; gene_id "G1"; gene_name "A;B";'
    path = _write(tmp_path / "q.gtf", f"chr1\tsrc\tgene\t11\t20\t.\t+\t.\t{col}\n"
                  f"chr1\tsrc\texon\t31\t40\t.\t+\t.\ttag \"x; transcript_id BAD\"; "
                  f"gene_id \"U1\"; transcript_id \"T1\";\n")
    genes = read_gtf(path)
    assert [(g.id, g.name) for g in genes] == [("G1", "A;B"), ("U1", "U1")]
    assert parse_attributes(col)["gene_id"] == "G1"


def test_gff3_transcripts_of_a_missing_gene_line_make_a_gene(tmp_path, caplog):
    text = ("##gff-version 3\n"
            "chr1\tens\tgene\t101\t500\t.\t+\t.\tID=gene:G1;gene_id=G1;biotype=protein_coding\n"
            "chr1\tens\tmRNA\t101\t500\t.\t+\t.\tID=transcript:T1;Parent=gene:G1\n"
            "chr1\tens\tmRNA\t1001\t1500\t.\t-\t.\tID=transcript:T2;Parent=gene:G2;"
            "Name=G2-201;biotype=protein_coding\n"
            "chr1\tens\texon\t1001\t1100\t.\t-\t.\tParent=transcript:T2\n"
            "chr1\tens\tmRNA\t1201\t1700\t.\t-\t.\tID=transcript:T3;Parent=gene:G2\n"
            "chr1\tens\tmRNA\t3001\t3100\t.\t+\t.\tID=rna-T4;Parent=seg-S1;gene=S\n"
            "chr1\tens\tV_gene_segment\t3001\t3100\t.\t+\t.\tID=seg-S1;Parent=gene:G1\n"
            "chr2\tens\tmRNA\t51\t90\t.\t+\t.\tID=transcript:T5;Parent=gene:G3\n"
            "chr2\tens\tgene\t11\t90\t.\t+\t.\tID=gene:G3;Name=THREE\n")
    path = _write(tmp_path / "cut.gff3", text)
    with caplog.at_level(logging.WARNING):
        genes = read_gtf(path)
    assert genes == [Gene("G1", "G1", "chr1", 100, 500, "+", "protein_coding"),
                     Gene("G3", "THREE", "chr2", 10, 90, "+"),
                     Gene("G2", "G2", "chr1", 1000, 1700, "-", "protein_coding")]
    assert genes.skipped == {}
    assert f"{path}: 1 gene ids have transcripts but no gene line" in caplog.text


def test_gene_lists_match_a_versionless_id_or_a_name_of_one_gene_only(tmp_path):
    """``predict --genes`` ids against GENCODE: the X copy of a PAR gene by its versionless
    id (its Y copy's stem keeps ``_PAR_Y``); a name or stem of two genes is an error naming
    them (the first was taken, silently)."""
    from kerasgene.io.annotation import gene_id_stem, select_genes

    assert gene_id_stem("ENSG00000228572.7_PAR_Y") == "ENSG00000228572_PAR_Y"
    assert gene_id_stem("ENSG00000141510.17") == "ENSG00000141510"
    gtf = _write(tmp_path / "g.gtf", GTF.split("\n", 1)[0] + "\n" + "".join(
        f'{c}\tsrc\tgene\t{a}\t{a + 99}\t.\t+\t.\tgene_id "{gid}"; gene_name "{name}";\n'
        for c, a, gid, name in [("chrX", 101, "ENSG1.7", "PAR1"), ("chrY", 101, "ENSG1.7_PAR_Y", "PAR1"),
                                ("I", 301, "ZK1010.1", "a"), ("I", 501, "ZK1010.2", "b")]))
    assert [g.id for g in select_genes("ENSG1,ENSG1_PAR_Y,ZK1010.1,b", gtf)] == [
        "ENSG1.7", "ENSG1.7_PAR_Y", "ZK1010.1", "ZK1010.2"]
    with pytest.raises(InputFileError, match=r"1 name\(s\) match several genes .* 'PAR1': "
                                             r"ENSG1\.7, ENSG1\.7_PAR_Y; give the full gene id"):
        select_genes("PAR1", gtf)
    with pytest.raises(InputFileError, match=r"'ZK1010\.7': ZK1010\.1, ZK1010\.2"):
        select_genes("ZK1010.7", gtf)


def test_genes_of_other_biotypes_are_skipped_with_their_biotype(tmp_path):
    """So that a builder reports a lncRNA's expression row as filtered out, not as absent
    from the annotation."""
    path = _write(tmp_path / "b.gtf",
                  'chr1\tsrc\tgene\t11\t20\t.\t+\t.\tgene_id "P"; gene_type "protein_coding";\n'
                  'chr1\tsrc\tgene\t31\t40\t.\t+\t.\tgene_id "L"; gene_type "lncRNA";\n')
    genes = read_gtf(path, ["protein_coding"])
    assert [g.id for g in genes] == ["P"]
    with pytest.raises(ConfigError, match=r"biotypes: expected a list of biotype names"):
        read_gtf(path, "protein_coding")  # was read letter by letter: every gene filtered
    assert genes.skipped == {"L": "biotype 'lncRNA' is not in biotypes ['protein_coding']"}


def test_headerless_gff3_with_dot_attributes_first_is_gff3(tmp_path):
    path = _write(tmp_path / "a.gff3",
                  "chr1\tsrc\tregion\t1\t1000\t.\t+\t.\t.\n"
                  "chr1\tsrc\tgene\t11\t20\t.\t+\t.\tID=gene:G1;gene_id=G1\n")
    assert sniff_annotation(path) == "gff3"
    assert [g.id for g in read_genes(path)] == ["G1"]
    path.write_text("chr1\tsrc\tregion\t1\t1000\t.\t+\t.\t.\n"
                    'chr1\tsrc\tgene\t11\t20\t.\t+\t.\tgene_id "G1";\n')
    assert sniff_annotation(path) == "gtf"


def test_bed_row_with_start_equal_to_end_is_an_error_naming_the_line(tmp_path):
    path = _write(tmp_path / "e.bed", "chr1\t200\t300\tOK\t0\t+\nchr1\t100\t100\tEMPTY\t0\t+\n")
    with pytest.raises(InputFileError, match=r"e\.bed:2: empty interval \[100, 100\) "
                                             r"\(start == end\) cannot be placed; expected "
                                             r"start < end") as err:
        read_genes(path)
    assert "\n" not in str(err.value)


def test_bed_given_as_the_gtf_is_named_a_bed_file(tmp_path):
    """A BED6 gene file given as a config's gtf (read_gtf) gave 'genes.bed:1: GTF line has
    6 tab-separated columns, expected 9', nothing saying BED is not taken there. It is
    named a BED file and what is expected said; read_genes (predict --genes) still reads
    it."""
    bed = _write(tmp_path / "genes.bed",
                 "chr1\t1500\t2800\tG1\t0\t+\nchr1\t3720\t7738\tG2\t0\t-\n")
    with pytest.raises(InputFileError) as err:
        read_gtf(bed)
    assert str(err.value) == (
        f"{bed}: a BED file (chrom, start, end, ... columns); expected GTF or GFF3 (gene or "
        "transcript records and their exons), as a config's gtf: takes them")
    assert [g.id for g in read_genes(bed)] == ["G1", "G2"]


def test_gffread_gff3_transcripts_are_grouped_into_their_genes(tmp_path):
    """gffread's GFF3 (``gffread genes.gtf -o genes.gff3``: transcripts with
    ``ID=<transcript>;geneID=<gene>``, exons with Parent, no gene lines) was read with each
    transcript a gene of its own, named by the transcript id (the expression table then
    matched nothing). Transcripts of one geneID make one gene spanning them, named by
    gene_name (never by a transcript's Name) — the genes read from the GTF gffread
    converted."""
    gtf = _write(tmp_path / "genes.gtf", "".join(
        f'chr1\tsrc\t{kind}\t{lo}\t{hi}\t.\t{strand}\t.\tgene_id "{g}"; transcript_id "{t}";'
        + (f' gene_name "{name}";\n' if name else "\n")
        for g, name, strand, t, kind, lo, hi in [
            ("G1", "ALPHA", "+", "T1", "transcript", 101, 500),
            ("G1", "ALPHA", "+", "T1", "exon", 101, 200),
            ("G1", "ALPHA", "+", "T1", "exon", 401, 500),
            ("G1", "ALPHA", "+", "T2", "transcript", 151, 900),
            ("G1", "ALPHA", "+", "T2", "exon", 151, 900),
            ("G2", "", "-", "T3", "transcript", 2001, 2400),
            ("G2", "", "-", "T3", "exon", 2001, 2400)]))
    gff3 = _write(tmp_path / "genes.gff3", """##gff-version 3
chr1\tsrc\ttranscript\t101\t500\t.\t+\t.\tID=T1;geneID=G1;gene_name=ALPHA
chr1\tsrc\texon\t101\t200\t.\t+\t.\tParent=T1
chr1\tsrc\texon\t401\t500\t.\t+\t.\tParent=T1
chr1\tsrc\ttranscript\t151\t900\t.\t+\t.\tID=T2;geneID=G1;gene_name=ALPHA
chr1\tsrc\texon\t151\t900\t.\t+\t.\tParent=T2
chr1\tsrc\tmRNA\t2001\t2400\t.\t-\t.\tID=T3;geneID=G2;Name=G2-201
chr1\tsrc\texon\t2001\t2400\t.\t-\t.\tParent=T3
""")
    genes = read_gtf(gff3)
    assert genes == [Gene("G1", "ALPHA", "chr1", 100, 900, "+"),
                     Gene("G2", "G2", "chr1", 2000, 2400, "-")]
    assert genes == read_gtf(gtf)


@pytest.mark.parametrize("gz", [False, True])
def test_read_gtf_shows_a_bar_over_the_file_only_when_asked(tmp_path, capsys, monkeypatch,
                                                             gz):
    """A bar over the bytes read (a gzip file's compressed bytes), to the file's size, once
    the read has taken TEXT_BAR_DELAY_S (0 here; 2 s by default: a small file shows none);
    the genes the same with and without it."""
    import numpy as np
    from real_files import write_random_genes_gtf

    from kerasgene import _io

    plain = tmp_path / "genes.gtf"
    ids = write_random_genes_gtf(plain, np.random.default_rng(0), {"chr1": 50_000,
                                                                    "chr2": 40_000}, n=300)
    path = plain
    if gz:
        path = tmp_path / "genes.gtf.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
    quiet = read_gtf(path)
    assert read_gtf(path, progress=True) == quiet  # faster than the delay: no bar
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(_io, "TEXT_BAR_DELAY_S", 0.0)
    shown = read_gtf(path, progress=True)
    err = capsys.readouterr().err
    assert f"reading {path.name}" in err and "100%" in err, err
    assert [g.id for g in shown] == [g.id for g in quiet] == ids
    assert [(g.chrom, g.start, g.end, g.strand) for g in shown] == \
        [(g.chrom, g.start, g.end, g.strand) for g in quiet]
