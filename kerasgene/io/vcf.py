"""VCF / BCF variants (pysam): one :class:`Variant` per ALT allele.

Plain, bgzipped or BCF files are read with :class:`pysam.VariantFile`; a sites-only VCF
without its INFO column (7 columns) is read through a temporary copy with INFO ``.``.
Symbolic alleles are skipped with a counted warning; IUPAC ambiguity codes are kept and
counted (:func:`kerasgene.explain.variants.variant_effects` gives them the status
``ambiguous_allele``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pysam

from kerasgene._io import check_readable, open_text
from kerasgene.errors import InputFileError

log = logging.getLogger(__name__)

#: A REF/ALT allele of plain bases (no IUPAC ambiguity code).
ALLELE = re.compile(r"^[ACGTN]+$")
_IUPAC = re.compile(r"^[ACGTNRYSWKMBDHV]+$")
_SHOWN = 5


@dataclass(frozen=True)
class Variant:
    """One alternative allele of a VCF record (multi-allelic records give one each).

    ``pos`` is VCF's 1-based position of the first REF base; ``start``/``end`` the
    0-based half-open genomic span of REF.
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str

    @property
    def start(self) -> int:
        return self.pos - 1

    @property
    def end(self) -> int:
        return self.pos - 1 + len(self.ref)


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


def _add_info_column(path: Path, out: Path) -> None:
    """Copy a 7-column sites-only VCF to ``out`` with an INFO column of ``.``."""
    with open_text(path) as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            line = line.rstrip("\r\n")
            n = len(line.split("\t"))
            if line.startswith("#CHROM") and n == 7:
                line += "\tINFO"
            elif not line.startswith("#") and n == 7:
                line += "\t."
            dst.write(line + "\n")


def read_vcf(path: str | os.PathLike) -> list[Variant]:
    """Variants of a VCF or BCF file, read with :class:`pysam.VariantFile` (plain VCF,
    bgzipped VCF or BCF): one :class:`Variant` per ALT allele, in file order.

    ALT ``.`` (no variant) is skipped; symbolic alleles (``<DEL>``, ``*``, breakends) are
    skipped with one warning giving their count. An ``ID`` of ``.`` becomes
    ``CHROM:POS:REF:ALT``; alleles are upper-cased. A REF or ALT with IUPAC ambiguity
    codes (``M``, ``R``, ...) is kept and counted in one warning: :func:`variant_effects`
    gives it the status ``ambiguous_allele``. A sites-only VCF without its INFO column
    (7 columns) is read through a temporary copy with INFO ``.``. htslib's messages
    (contigs missing from the header, no index) are silenced while the file is read.

    Raises
    ------
    InputFileError
        One line naming the file: when it is missing or unreadable; when pysam cannot read
        it as VCF/BCF (pysam's message, and the record it failed on; a gzip file that is not
        bgzip is one); or for a record whose POS is not positive or whose REF/ALT is not a
        DNA string (IUPAC letters).
    """
    path = check_readable(path, "VCF file")
    header, first = _vcf_columns(path)
    if header == 7 or (header == 8 and first == 7):
        scratch = Path(tempfile.mkdtemp(prefix="kerasgene-vcf-"))
        try:
            log.info("%s: no INFO column (sites-only, 7 columns); reading it with INFO '.'",
                     path)
            _add_info_column(path, scratch / "sites.vcf")
            return _read_vcf(scratch / "sites.vcf", path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return _read_vcf(path, path)


def _read_vcf(path: Path, name: Path) -> list[Variant]:
    """:func:`read_vcf` of ``path``, errors naming ``name`` (the user's file)."""
    out: list[Variant] = []
    symbolic = 0
    ambiguous: list[str] = []
    at = ""  # where a pysam error happened: nothing while opening, then the record
    verbosity = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(str(path)) as vcf:
            at = "record 1: "
            for n, rec in enumerate(vcf, 1):
                chrom, pos = rec.chrom, rec.pos
                here = f"{name}: record {n} ({chrom}:{pos})"
                if pos < 1:
                    raise InputFileError(f"{here}: POS must be a positive integer, got {pos}")
                ref = (rec.ref or "").upper()
                if not _IUPAC.match(ref):
                    raise InputFileError(f"{here}: REF must be bases A, C, G, T, N (or IUPAC "
                                         f"codes), got {ref!r}")
                for alt in rec.alts or ():  # None for ALT "."
                    alt = alt.upper()
                    if _is_symbolic(alt):
                        symbolic += 1
                        continue
                    if not _IUPAC.match(alt):
                        raise InputFileError(f"{here}: ALT must be bases A, C, G, T, N (or "
                                             f"IUPAC codes) or a symbolic allele, got "
                                             f"{','.join(rec.alts)!r}")
                    if not (ALLELE.match(ref) and ALLELE.match(alt)):
                        ambiguous.append(f"{chrom}:{pos} {ref}>{alt}")
                    ident = rec.id or f"{chrom}:{pos}:{ref}:{alt}"
                    out.append(Variant(chrom, pos, ident, ref, alt))
                at = f"record {n + 1} (after {chrom}:{pos}): "
    except NotImplementedError as err:  # pysam cannot open gzip that is not bgzip (pysam#536)
        raise InputFileError(f"{name}: expected a VCF/BCF file, plain or compressed with bgzip "
                             f"(not gzip): {_one_line(err)}; recompress it with "
                             "'zcat FILE | bgzip > FILE.vcf.gz'") from None
    except (ValueError, OSError) as err:
        raise InputFileError(f"{name}: {at}expected a VCF/BCF file: {_one_line(err)}") from None
    finally:
        pysam.set_verbosity(verbosity)
    if symbolic:
        log.warning("%s: skipped %d symbolic ALT alleles (<DEL>, *, breakends): only "
                    "sequence alleles are predicted", name, symbolic)
    if ambiguous:
        log.warning("%s: %d alleles have IUPAC ambiguity codes (status ambiguous_allele, not "
                    "predicted): %s", name, len(ambiguous), _shown(ambiguous))
    return out


def _shown(items: Sequence[str]) -> str:
    return ", ".join(items[:_SHOWN]) + (", ..." if len(items) > _SHOWN else "")
