"""VCF / BCF variants (pysam): one :class:`Variant` per ALT allele, and where they lie on a
FASTA (:func:`placement`, :func:`allele_status`; a VCF of another assembly or of no
sequence of it refused: :func:`check_assembly`).

Plain, bgzipped or BCF files are read with :class:`pysam.VariantFile`; a sites-only VCF
without its INFO column (7 columns) is read through a temporary copy with INFO ``.``
(one starting with a byte-order mark, through a copy without it). Symbolic alleles and
records with ALT ``.`` are skipped with a counted warning; repeated alleles and IUPAC
ambiguity codes are kept and counted (:func:`kerasgene.explain.variants.variant_effects` gives them the status
``ambiguous_allele``). Each variant keeps its record's FILTER; the header's
``##contig=<ID=...,length=...>`` lengths are kept with the list (:class:`Variants`) and
compared with the FASTA's (:func:`check_contig_lengths`). Sample columns are not read: a
sites-only scorer scores every ALT allele, whatever the genotypes (a warning says so).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pysam

from kerasgene._io import check_readable, open_text
from kerasgene.errors import InputFileError, UnknownChromosomeError, shown
from kerasgene.io.chroms import is_mitochondrial
from kerasgene.io.genome import Genome

log = logging.getLogger(__name__)

#: A REF/ALT allele of plain bases (no IUPAC ambiguity code).
ALLELE = re.compile(r"^[ACGTN]+$")
_IUPAC = re.compile(r"^[ACGTNRYSWKMBDHV]+$")
_HEADER = "#CHROM POS ID REF ALT QUAL FILTER INFO"


@dataclass(frozen=True)
class Variant:
    """One alternative allele of a VCF record (multi-allelic records give one each).

    ``pos`` is VCF's 1-based position of the first REF base; ``start``/``end`` the
    0-based half-open genomic span of REF. ``filter`` is the record's FILTER: ``PASS``,
    ``.`` (no filter applied; the default of a variant built in Python) or the names of
    the filters it failed, joined by ``;``.
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    filter: str = "."

    @property
    def filtered(self) -> bool:
        """True when the record failed a filter (FILTER neither ``PASS`` nor ``.``)."""
        return self.filter not in ("PASS", ".")

    @property
    def start(self) -> int:
        return self.pos - 1

    @property
    def end(self) -> int:
        return self.pos - 1 + len(self.ref)


class Variants(list):
    """A list of :class:`Variant` that also holds its VCF's path and header contig lengths.

    Attributes
    ----------
    contigs : dict[str, int]
        ``##contig`` ID → declared ``length`` (contigs declared without one are absent).
    path : str
        The VCF read ("variants" for a list built in Python), named in errors.
    """

    def __init__(self, variants: Iterable[Variant] = (),
                 contigs: Mapping[str, int] | None = None, path: str = "variants"):
        super().__init__(variants)
        self.contigs: dict[str, int] = dict(contigs or {})
        self.path = path


def _is_symbolic(allele: str) -> bool:
    """``<ID>``, ``*``, a breakend: mated (``G]chr2:42]``) or single (``G.``, ``.G``;
    VCF 4.2 §5.4.9)."""
    single_breakend = len(allele) > 1 and (allele.startswith(".") or allele.endswith("."))
    return (allele.startswith("<") or allele == "*" or "[" in allele or "]" in allele
            or single_breakend)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _vcf_columns(path: Path) -> tuple[int, int]:
    """Fields of the ``#CHROM`` header line and of the first record of a text VCF (plain,
    gzip or bgzip); (0, 0) for a file that is not VCF text (BCF, other bytes)."""
    header = 0
    try:
        with open_text(path) as fh:
            for line in fh:
                if line.startswith("#CHROM"):
                    header = len(line.rstrip("\r\n").split("\t"))
                elif not line.startswith("#") and line.strip():
                    return header, len(line.rstrip("\r\n").split("\t"))
    except (OSError, EOFError, UnicodeDecodeError):
        return 0, 0
    return header, 0


def _has_bom(path: Path) -> bool:
    """True when a text VCF (plain, gzip or bgzip) starts with a UTF-8 byte-order mark
    (some Windows editors write one; htslib refuses the file)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(3)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                head = fh.read(3)
    except (OSError, EOFError):
        return False
    return head == b"\xef\xbb\xbf"


def _add_info_column(path: Path, out: Path) -> None:
    """Copy a VCF to ``out`` as plain text without a byte-order mark, with an INFO column
    of ``.`` added to a 7-column sites-only VCF."""
    with open_text(path) as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            line = line.rstrip("\r\n")
            n = len(line.split("\t"))
            if line.startswith("#CHROM") and n == 7:
                line += "\tINFO"
            elif not line.startswith("#") and n == 7:
                line += "\t."
            dst.write(line + "\n")


def read_vcf(path: str | os.PathLike) -> Variants:
    """Variants of a VCF or BCF file, read with :class:`pysam.VariantFile` (plain VCF,
    bgzipped VCF or BCF): one :class:`Variant` per ALT allele, in file order, with its
    record's FILTER, and the header's contig lengths (:attr:`Variants.contigs`).

    Genotypes are not read: every ALT allele is a variant to score, whether or not a
    sample carries it (as a sites-only VCF is scored); a VCF with sample columns gets a
    warning saying so, with their count.

    Records with ALT ``.`` (no variant) are skipped with one warning giving their count and
    the first of them, as are symbolic alleles (``<DEL>``, ``*``, breakends). An allele
    repeating an earlier record's CHROM, POS, REF and ALT is kept and counted in a warning. An ``ID`` of ``.`` becomes
    ``CHROM:POS:REF:ALT``; alleles are upper-cased. A REF or ALT with IUPAC ambiguity
    codes (``M``, ``R``, ...) is kept and counted in one warning: :func:`variant_effects`
    gives it the status ``ambiguous_allele``. A sites-only VCF without its INFO column
    (7 columns), or a text VCF starting with a UTF-8 byte-order mark, is read through a
    temporary copy (with INFO ``.``; without the mark). htslib's messages
    (contigs missing from the header, no index) are silenced while the file is read.

    Raises
    ------
    InputFileError
        One line naming the file: when it is missing or unreadable; when pysam cannot read
        it as VCF/BCF (pysam's message, the record it failed on and, in a text VCF, the line
        that breaks the format: an empty line, a record above the ``#CHROM`` line, a
        ``#CHROM`` line not separated by tabs; a gzip file that is not bgzip is one); or for a record whose POS is not positive or whose REF/ALT is not a
        DNA string (IUPAC letters).
    """
    path = check_readable(path, "VCF file")
    header, first = _vcf_columns(path)
    sites_only = header == 7 or (header == 8 and first == 7)
    if sites_only or _has_bom(path):
        scratch = Path(tempfile.mkdtemp(prefix="kerasgene-vcf-"))
        try:
            if sites_only:
                log.info("%s: no INFO column (sites-only, 7 columns); reading it with INFO "
                         "'.'", path)
            else:
                log.info("%s: starts with a byte-order mark; reading it without", path)
            _add_info_column(path, scratch / "sites.vcf")
            return _read_vcf(scratch / "sites.vcf", path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return _read_vcf(path, path)


def _read_vcf(path: Path, name: Path) -> Variants:
    """:func:`read_vcf` of ``path``, errors naming ``name`` (the user's file)."""
    out = Variants(path=str(name))
    symbolic: list[str] = []
    ambiguous: list[str] = []
    no_alt: list[str] = []
    seen: set[tuple[str, int, str, str]] = set()
    repeated: list[str] = []
    at = ""  # where a pysam error happened: nothing while opening, then the record
    failed = 0  # the record pysam failed on (0: the header)
    verbosity = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(str(path)) as vcf:
            out.contigs = {c.name: c.length for c in vcf.header.contigs.values()
                           if c.length is not None}
            samples = list(vcf.header.samples)
            at, failed = "record 1: ", 1
            for n, rec in enumerate(vcf, 1):
                chrom, pos = rec.chrom, rec.pos
                here = f"{name}: record {n} ({chrom}:{pos})"
                if pos < 1:
                    raise InputFileError(f"{here}: POS must be a positive integer, got {pos}")
                ref = (rec.ref or "").upper()
                if not _IUPAC.match(ref):
                    raise InputFileError(f"{here}: REF must be bases A, C, G, T, N (or IUPAC "
                                         f"codes), got {ref!r}")
                filters = ";".join(rec.filter.keys()) or "."
                if not rec.alts:  # ALT "." (a reference call)
                    no_alt.append(f"{chrom}:{pos}")
                for given in rec.alts or ():
                    alt = given.upper()
                    if _is_symbolic(alt):
                        symbolic.append(f"{chrom}:{pos} {given}")
                        continue
                    if not _IUPAC.match(alt):
                        raise InputFileError(f"{here}: ALT must be bases A, C, G, T, N (or "
                                             f"IUPAC codes) or a symbolic allele, got "
                                             f"{','.join(rec.alts)!r}")
                    if not (ALLELE.match(ref) and ALLELE.match(alt)):
                        ambiguous.append(f"{chrom}:{pos} {ref}>{alt}")
                    ident = rec.id or f"{chrom}:{pos}:{ref}:{alt}"
                    out.append(Variant(chrom, pos, ident, ref, alt, filters))
                    if (chrom, pos, ref, alt) in seen:
                        repeated.append(f"{chrom}:{pos} {ref}>{alt}")
                    seen.add((chrom, pos, ref, alt))
                at, failed = f"record {n + 1} (after {chrom}:{pos}): ", n + 1
    except NotImplementedError as err:  # pysam cannot open gzip that is not bgzip (pysam#536)
        raise InputFileError(f"{name}: expected a VCF/BCF file, plain or compressed with bgzip "
                             f"(not gzip): {_one_line(err)}; recompress it with "
                             "'zcat FILE | bgzip > FILE.vcf.gz'") from None
    except (ValueError, OSError) as err:
        raise InputFileError(f"{name}: {at}expected a VCF/BCF file: {_one_line(err)}"
                             f"{_text_problem(path, failed)}") from None
    finally:
        pysam.set_verbosity(verbosity)
    if failed == 1:  # pysam read the header and no record
        log.warning("%s: holds no variant record (a header only); the table will be empty",
                    name)
    if symbolic:
        log.warning("%s: skipped %d symbolic ALT alleles (<DEL>, *, breakends): only "
                    "sequence alleles are predicted: %s", name, len(symbolic), shown(symbolic))
    if no_alt:
        log.warning("%s: skipped %d records with ALT '.' (no alternative allele): %s", name,
                    len(no_alt), shown(no_alt))
    if repeated:
        log.warning("%s: %d alleles repeat an earlier record's CHROM, POS, REF and ALT (kept: "
                    "their rows repeat in the table): %s", name, len(repeated), shown(repeated))
    if ambiguous:
        log.warning("%s: %d alleles have IUPAC ambiguity codes (status ambiguous_allele, not "
                    "predicted): %s", name, len(ambiguous), shown(ambiguous))
    if samples:
        log.warning("%s: the genotypes of its %d samples (%s) are not read: every ALT allele "
                    "is scored, whether or not a sample carries it", name, len(samples),
                    shown(samples))
    return out


def _text_problem(path: Path, failed: int) -> str:
    """Where a text VCF that htslib refused breaks the format, as ``"; line N: ..."``: a
    record before the ``#CHROM`` line or a ``#CHROM`` line of too few tab-separated fields
    (``failed`` 0: the header), or an empty line as record ``failed``; ``""`` otherwise."""
    header, records = False, 0
    try:
        with open_text(path) as fh:
            for n, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if n == 1 and line.startswith("BCF"):
                    return ""  # a BCF read as text: its header is binary
                if line.startswith("#CHROM"):
                    fields = len(line.split("\t"))
                    if fields < 7:
                        return (f"; line {n}: the '#CHROM' line has {fields} tab-separated "
                                f"field(s), expected 8 ({_HEADER}, separated by tabs)")
                    header = True
                elif line.startswith("#"):
                    continue
                elif not line.strip() and (not header or records + 1 == failed):
                    return f"; line {n} is empty (expected a {'record' if header else 'header line'})"
                elif not header:
                    return (f"; line {n}: a record before the '#CHROM' line; expected the "
                            f"header line {_HEADER} (tab-separated) above the records")
                elif not failed:
                    return ""  # the header failed, not for a reason seen here
                else:
                    records += 1
                    if records == failed:
                        return _record_problem(line, n)
    except (OSError, EOFError, UnicodeDecodeError):
        return ""
    return ""


def _record_problem(line: str, n: int) -> str:
    """Why record line ``n`` of a text VCF breaks the format, as ``"; line N: ..."`` (too
    few tab-separated fields, fields separated by spaces, a POS that is no positive
    integer), or ``""`` when none of these."""
    fields = line.split("\t")
    if len(fields) < 8:
        if len(line.split()) >= 8:
            return f"; line {n}: fields separated by spaces; expected tabs ({_HEADER})"
        return (f"; line {n}: {len(fields)} tab-separated field(s), expected at least 8 "
                f"({_HEADER})")
    if not (fields[1].isdigit() and int(fields[1]) > 0):
        return f"; line {n}: POS {fields[1]!r}, expected a positive integer"
    return ""


def filtered(variants: Sequence[Variant], exclude: bool) -> Sequence[Variant]:
    """``variants``, less those that failed a VCF filter when ``exclude``; a warning counts
    the failed ones and shows the first with their FILTER."""
    failed = [f"{v.id} ({v.filter})" for v in variants if v.filtered]
    if not failed:
        return variants
    log.warning("%d of %d variants failed a VCF filter (FILTER neither PASS nor '.'; %s): %s",
                len(failed), len(variants), "left out: exclude_filtered" if exclude
                else "scored, their FILTER in the table's filter column", shown(failed))
    return [v for v in variants if not v.filtered] if exclude else variants



def ref_matches(genome: Genome, variant: Variant) -> bool:
    """True when the FASTA holds the variant's REF at its position (case-insensitive)."""
    return genome.fetch(variant.chrom, variant.start, variant.end) == variant.ref.upper()


def placement(genome: Genome, variant: Variant) -> str:
    """``ok``, ``unknown_chrom`` (the FASTA lacks the chromosome) or ``past_chrom_end``."""
    try:
        length = genome.chroms[genome.resolve(variant.chrom)]
    except UnknownChromosomeError:
        return "unknown_chrom"
    return "past_chrom_end" if variant.end > length else "ok"


def _on_genome(genome: Genome, chrom: str) -> bool:
    """Whether ``chrom`` names a sequence of ``genome`` (through its aliases)."""
    try:
        genome.resolve(chrom)
    except UnknownChromosomeError:
        return False
    return True


def allele_status(genome: Genome, variant: Variant) -> str:
    if not (ALLELE.match(variant.ref) and ALLELE.match(variant.alt)):
        return "ambiguous_allele"
    try:
        return "ok" if ref_matches(genome, variant) else "ref_mismatch"
    except UnknownChromosomeError:
        return "unknown_chrom"


def check_contig_lengths(contigs: Mapping[str, int], genome: Genome, source: str,
                         used: Iterable[str]) -> None:
    """Refuse a VCF whose header declares, for a contig that carries variants (``used``),
    another length than the FASTA's sequence of that name (resolved through the genome's
    aliases: ``1`` is ``chr1``): calls against another assembly. Not compared: contigs the
    FASTA lacks, contigs without variants (a GRCh37 header lists every scaffold), and the
    mitochondrial genome, whose sequences differ between assemblies of identical
    chromosomes (hg19's chrM, 16,571 bp, and rCRS ``MT``, 16,569 bp, beside the same
    chr1–22, X, Y): its variants meet the REF check instead.

    Raises
    ------
    InputFileError
        naming ``source``, the contig, both lengths and the FASTA.
    """
    used = set(used)
    for contig, length in contigs.items():
        if contig not in used or is_mitochondrial(contig):
            continue
        try:
            name = genome.resolve(contig)
        except UnknownChromosomeError:
            continue
        if genome.chroms[name] != length and not is_mitochondrial(name):
            raise InputFileError(
                f"{source}: ##contig=<ID={contig},length={length}> but {name} of "
                f"{genome.path} is {genome.chroms[name]} bp: another assembly? expected the "
                "FASTA the variants were called against (or lift the VCF over)")


#: Variants whose REF :func:`check_assembly` compares with the FASTA (evenly spaced), the
#: fewest it judges from, and the fraction of mismatches it refuses.
ASSEMBLY_SAMPLE, ASSEMBLY_MIN_CHECKED, ASSEMBLY_MAX_MISMATCH = 1000, 10, 0.5


def check_assembly(variants: Sequence[Variant], genome: Genome, source: str) -> None:
    """Refuse a VCF of another assembly than the FASTA: when the REF allele of more than
    :data:`ASSEMBLY_MAX_MISMATCH` of up to :data:`ASSEMBLY_SAMPLE` evenly spaced variants
    (on the FASTA's chromosomes, without ambiguity codes; at least
    :data:`ASSEMBLY_MIN_CHECKED`) differs from the FASTA. Calls against the right
    assembly match at every site; against another one a REF matches by chance (about
    a third of SNVs), and those would be predicted at the wrong place.

    Also refused: variants of which none lies on a sequence of the FASTA (a genome VCF
    on a run trained from promoter sequences, whose CHROM must name a promoter record),
    and :class:`Variants` whose header declares a contig of another length than the
    FASTA's (:func:`check_contig_lengths`).

    Raises
    ------
    InputFileError
        naming ``source``, the FASTA, the counts and the first mismatches (or names).
    """
    check_contig_lengths(getattr(variants, "contigs", {}), genome, source,
                         (v.chrom for v in variants))
    chroms = list(dict.fromkeys(v.chrom for v in variants))
    if chroms and not any(_on_genome(genome, c) for c in chroms):
        records = list(genome.chroms)
        raise InputFileError(
            f"{source}: none of its {len(variants)} variants lies on a sequence of "
            f"{genome.path} (the VCF names {', '.join(chroms[:3])}{', ...' if len(chroms) > 3 else ''}; "
            f"the FASTA holds {', '.join(records[:3])}{', ...' if len(records) > 3 else ''}); "
            "expected CHROM to name a sequence of the FASTA, or an alias table relating the "
            "names (chrom_aliases); for a run trained from promoter sequences, the "
            "promoter's record, with POS the position in it")
    step = max(1, len(variants) // ASSEMBLY_SAMPLE)
    statuses = [(v, allele_status(genome, v)) for v in variants[::step]
                if placement(genome, v) == "ok"]
    checked = [v for v, status in statuses if status in ("ok", "ref_mismatch")]
    bad = [v for v, status in statuses if status == "ref_mismatch"]
    if len(checked) >= ASSEMBLY_MIN_CHECKED and len(bad) > ASSEMBLY_MAX_MISMATCH * len(checked):
        raise InputFileError(
            f"{source}: the REF allele of {len(bad)} of {len(checked)} variants checked does "
            f"not match {genome.path} ({', '.join(f'{v.chrom}:{v.pos} {v.ref}' for v in bad[:3])}"
            "): the VCF and the FASTA are of different assemblies (hg19 and hg38?); expected "
            "the FASTA the variants were called against (or lift the VCF over)")
