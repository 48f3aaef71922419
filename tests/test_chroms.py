import pytest

from kerasgene.errors import InputFileError, UnknownChromosomeError
from kerasgene.io.chroms import AliasTable, alias_map, canonical, equivalents, load_aliases, resolve

UCSC = ("# ucsc\tassembly\tgenbank\trefseq\n"
        "chr1\t1\tCM000663.2\tNC_000001.11\n"
        "chr2\t2\tCM000664.2\tNC_000002.12\n"
        "chrM\tMT\tJ01415.2\tNC_012920.1\n"
        "chrUn_KI270302v1\t\tKI270302.1\t\n")


@pytest.fixture
def ucsc(tmp_path):
    path = tmp_path / "hg38.chromAlias.txt"
    path.write_text(UCSC)
    return AliasTable.read(path)


def test_builtin_aliases_without_a_table():
    names = alias_map(["chr1", "chrM", "X"])
    assert resolve("1", names, "f") == "chr1" and resolve("MT", names, "f") == "chrM"
    assert resolve("chrX", names, "f") == "X"
    with pytest.raises(UnknownChromosomeError, match=r"f: unknown chromosome 'NC_000001\.11'"):
        resolve("NC_000001.11", names, "f")


def test_ucsc_chromalias_resolves_ncbi_accessions(ucsc):
    assert len(ucsc) == 4
    by_ucsc = alias_map(["chr1", "chr2", "chrM"], ucsc)
    assert resolve("NC_000001.11", by_ucsc, "f") == "chr1"
    assert resolve("CM000664.2", by_ucsc, "f") == "chr2"
    assert resolve("NC_012920.1", by_ucsc, "f") == "chrM"
    by_ncbi = alias_map(["NC_000001.11", "NC_000002.12"], ucsc)  # an NCBI FASTA
    assert resolve("chr1", by_ncbi, "f") == "NC_000001.11"
    assert resolve("2", by_ncbi, "f") == "NC_000002.12"
    assert ucsc.names("chrUn_KI270302v1") == ("chrUn_KI270302v1", "KI270302.1")  # empty cells


def test_table_and_builtin_aliases_combine(tmp_path):
    path = tmp_path / "user.tsv"
    path.write_text("1 NC_000001.11\n")  # whitespace-separated user table, no chr names
    table = load_aliases(path)
    assert "chr1" in equivalents("NC_000001.11", table)
    assert resolve("chr1", alias_map(["NC_000001.11"], table), "f") == "NC_000001.11"
    assert canonical("chr1", table) == canonical("NC_000001.11", table) == canonical("1", table)
    assert canonical("chr1", table) != canonical("chr2", table)


def test_old_ucsc_database_layout(tmp_path):
    path = tmp_path / "chromAlias.txt"  # alias, chrom, source: several rows per chromosome
    path.write_text("1\tchr1\tensembl\nNC_000001.11\tchr1\trefseq\nCM000663.2\tchr1\tgenbank\n"
                    "2\tchr2\tensembl,refseq\n")
    table = AliasTable.read(path)
    assert set(table.names("chr1")) == {"chr1", "1", "NC_000001.11", "CM000663.2"}
    assert resolve("CM000663.2", alias_map(["chr1", "chr2"], table), "f") == "chr1"


def test_ambiguous_alias_names_both_chromosomes(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("# two chromosomes claim one alias\nchr1\tNC_000001.11\nchr2\tNC_000001.11\n")
    with pytest.raises(InputFileError, match=r"bad\.tsv line 3: alias 'NC_000001\.11' names "
                                             r"both 'chr1' \(line 2\) and 'chr2'"):
        AliasTable.read(path)


def test_rows_naming_one_chromosome_merge(tmp_path):
    path = tmp_path / "merge.tsv"
    path.write_text("chr1\tNC_000001.11\nNC_000001.11\tCM000663.2\n")
    assert set(AliasTable.read(path).names("CM000663.2")) == {"chr1", "NC_000001.11",
                                                              "CM000663.2"}


def test_bad_alias_tables(tmp_path):
    with pytest.raises(InputFileError, match="chromosome alias table not found"):
        AliasTable.read(tmp_path / "absent.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("# ucsc\tassembly\n\n")
    with pytest.raises(InputFileError, match=r"empty\.txt: no alias rows"):
        AliasTable.read(empty)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InputFileError, match=r"bin\.txt: not a text file"):
        AliasTable.read(binary)


def test_alias_shared_by_two_chromosomes_of_a_file_is_ambiguous(ucsc):
    names = alias_map(["chr1", "NC_000002.12", "2"], ucsc)  # chr2 is both NC_… and 2 here
    assert resolve("2", names, "f") == "2"  # exact names win
    with pytest.raises(UnknownChromosomeError, match=r"'chr2' is ambiguous: it is an alias of "
                                                     r"'NC_000002\.12' and '2'"):
        resolve("chr2", names, "f")
