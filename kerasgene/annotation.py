"""Gene annotation: GTF (GENCODE/Ensembl/UCSC) and BED6 into :class:`Gene` records.

Coordinates are converted to 0-based half-open. ``tss`` and ``tts`` are the 0-based
positions of the first and last transcribed base, strand-aware.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kerasgene.errors import InputFileError
from kerasgene.genome import check_readable

_ATTR = re.compile(r'\s*([^\s";]+)\s+(?:"([^"]*)"|([^\s;]+))\s*;?')
_BIOTYPE_KEYS = ("gene_type", "gene_biotype")


@dataclass(frozen=True)
class Gene:
    """One gene. ``start``/``end`` are 0-based half-open; ``tss``/``tts`` are 0-based."""

    id: str
    name: str
    chrom: str
    start: int
    end: int
    strand: str
    biotype: str = ""

    @property
    def tss(self) -> int:
        return self.start if self.strand == "+" else self.end - 1

    @property
    def tts(self) -> int:
        return self.end - 1 if self.strand == "+" else self.start


def _open_text(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gz else open(path, encoding="utf-8")


def parse_attributes(text: str) -> dict[str, str]:
    """Parse a GTF attribute column (``key "value"; key value;``); first value wins."""
    attrs: dict[str, str] = {}
    for m in _ATTR.finditer(text):
        attrs.setdefault(m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
    return attrs


def _gtf_records(path: Path) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9:
                raise InputFileError(
                    f"{path}:{lineno}: GTF line has {len(cols)} tab-separated columns, expected 9"
                )
            yield lineno, cols, parse_attributes(cols[8])


def _interval(path: Path, lineno: int, start: str, end: str, strand: str) -> tuple[int, int]:
    try:
        lo, hi = int(start), int(end)
    except ValueError:
        raise InputFileError(f"{path}:{lineno}: start/end must be integers, got {start!r}, {end!r}") from None
    if strand not in ("+", "-"):
        raise InputFileError(f"{path}:{lineno}: strand must be '+' or '-', got {strand!r}")
    return lo, hi


def read_gtf(path: str | os.PathLike, biotypes: Iterable[str] | None = None) -> list[Gene]:
    """Read the genes of a GTF file (plain or gzip).

    ``gene`` records are used when the file has them (GENCODE, Ensembl); otherwise each
    gene spans its transcripts/exons (UCSC-style GTFs).

    Parameters
    ----------
    path
        GTF file.
    biotypes
        Keep only these ``gene_type``/``gene_biotype`` values (e.g. ``["protein_coding"]``).

    Returns
    -------
    list of Gene, in file order.
    """
    path = check_readable(path, "GTF file")
    genes: dict[str, Gene] = {}
    spans: dict[str, list] = {}
    for lineno, cols, attrs in _gtf_records(path):
        chrom, _, feature, start, end, _, strand = cols[:7]
        if "gene_id" not in attrs:
            raise InputFileError(f"{path}:{lineno}: {feature} record without a gene_id attribute")
        lo, hi = _interval(path, lineno, start, end, strand)
        gid = attrs["gene_id"]
        name = attrs.get("gene_name", gid)
        biotype = next((attrs[k] for k in _BIOTYPE_KEYS if k in attrs), "")
        if feature == "gene":
            genes[gid] = Gene(gid, name, chrom, lo - 1, hi, strand, biotype)
        else:
            span = spans.setdefault(gid, [name, chrom, lo - 1, hi, strand, biotype])
            span[2], span[3] = min(span[2], lo - 1), max(span[3], hi)
    if not genes:
        genes = {gid: Gene(gid, *span) for gid, span in spans.items()}
    if not genes:
        raise InputFileError(f"{path}: no gene records found")
    return filter_biotype(genes.values(), biotypes)


def filter_biotype(genes: Iterable[Gene], biotypes: Iterable[str] | None) -> list[Gene]:
    """Genes whose biotype is in ``biotypes`` (all genes when ``biotypes`` is None)."""
    if biotypes is None:
        return list(genes)
    keep = set(biotypes)
    return [g for g in genes if g.biotype in keep]


def read_bed(path: str | os.PathLike) -> list[Gene]:
    """Read a BED6 file (chrom, start, end, name, score, strand) as genes.

    BED is already 0-based half-open. Lines starting with ``#``, ``track`` or ``browser``
    are skipped.
    """
    path = check_readable(path, "BED file")
    genes = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 6:
                raise InputFileError(
                    f"{path}:{lineno}: BED line has {len(cols)} columns, expected at least 6 (BED6)"
                )
            lo, hi = _interval(path, lineno, cols[1], cols[2], cols[5])
            genes.append(Gene(cols[3], cols[3], cols[0], lo, hi, cols[5]))
    return genes
