"""Gene annotation: GTF, GFF3 and BED6 into :class:`Gene` records (peak files:
:mod:`kerasgene.io.peaks`).

Coordinates are converted to 0-based half-open. ``tss`` and ``tts`` are the 0-based
positions of the first and last transcribed base, strand-aware.

:func:`read_genes` reads any of the three (plain or gzip), telling them apart by content
(:func:`sniff_annotation`): a ``##gff-version 3`` header or ``key=value`` attributes make
GFF3, ``key "value";`` attributes GTF, and ``chrom<TAB>start<TAB>end`` lines BED.
:func:`read_gtf` reads GTF and GFF3 (a config's ``gtf:`` may name either; a BED file is
refused there, by name).

Gene ids
--------
GTF
    ``gene_id`` as written (GENCODE ``ENSG….5``, Ensembl ``ENSG…``, UCSC: the gene symbol
    or transcript name, StringTie ``STRG.1``).
GFF3
    ``gene_id`` when the record has one (GENCODE: ``ENSG….5``; Ensembl: ``ENSG…``), or
    gffread's ``geneID`` (on its transcript lines), else
    ``ID`` without its ``gene:`` / ``gene-`` prefix (NCBI RefSeq ``ID=gene-TP53`` →
    ``TP53``, the ``gene_id`` of NCBI's GTF); NCBI ``Dbxref=GeneID:7157`` adds ``7157``
    to :attr:`Gene.xrefs`. Names come from ``gene_name`` / ``Name`` / ``gene``, biotypes
    from ``gene_type`` / ``gene_biotype`` / ``biotype``.
BED
    The name column.

Expression tables are matched to these ids exactly, then with the version suffix removed
on both sides (``ENSG….5`` ↔ ``ENSG…``), then through :attr:`Gene.xrefs`
(:func:`kerasgene.datasets.regions.match_gene_ids`).

Which genes are read, and odd records
-------------------------------------
- A gene is its ``gene`` record (GFF3: ``gene``, ``*_gene`` or ``pseudogene``; also a
  transcript-level feature without ``Parent``, under its ``gene_id`` / ``geneID`` when it
  has one, its ``ID`` otherwise). A gene id without a gene record (UCSC-style GTFs,
  StringTie genes in a GTF merged with Ensembl's, gffread's GFF3: transcripts with
  ``geneID`` and no gene lines) spans its transcripts, each transcript spanning its exons
  (GFF3: its own line), named by ``gene_name`` / ``gene``; both kinds may be mixed in one
  file.
- A GFF3 transcript whose ``Parent`` is defined by no line of the file (a subset cut
  with ``grep``, a tool that writes no gene lines) is kept the same way: its gene is
  named by the ``Parent`` id (without its ``gene:`` / ``gene-`` prefix, as ``ID``
  above) and spans its transcripts; one warning gives the count and the first ids.
- Strand ``.`` or ``?`` (a StringTie single-exon transcript, an unstranded feature): the
  gene is skipped, with one warning giving the count and the first ids.
- A gene id at several loci (different chromosomes or strands, or records that do not
  overlap: UCSC GTFs repeat a symbol at each copy, Ensembl repeats PAR genes on chrY):
  when exactly one locus lies on a primary chromosome (a name without ``_``, or an NCBI
  ``NC_`` accession) the copies on alt / fix / random / unplaced sequences are ignored
  (one warning with the count); otherwise the id is ambiguous and skipped (one warning
  with the count and the first ids and loci). It never becomes one span from the first
  start to the last end.
- Skipped ids are kept in :attr:`Genes.skipped` (id → reason) so that dataset builders
  can say why an expression id found no gene (``dropped.tsv``).
- ``start > end``, a start below 1, a BED row with ``start == end`` (an empty interval),
  non-integer coordinates, another strand character, a wrong number of columns, a GTF
  record without ``gene_id``, a GFF3 gene without ``ID`` or ``gene_id``, and a
  truncated or corrupt gzip file are errors naming the file and line.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from kerasgene._io import check_readable, open_text, text_lines
from kerasgene.errors import ConfigError, InputFileError, shown

log = logging.getLogger(__name__)

_ATTR = re.compile(r'\s*([^\s";]+)\s+(?:"([^"]*)"|([^\s;]+))\s*;?')
_GFF3_ATTR = re.compile(r"^\s*[^\s=;\"]+=")
# ``key value`` at an attribute boundary: whole attributes (a ';' inside quotes is text) are
# skipped from the start of the column until one is ``key``. Used with ``match``.
_GTF_ID = {key: re.compile(rf'(?:[^";]*+(?:"[^"]*+"[^";]*+)*+;)*?\s*{key}\s+'
                           rf'(?:"([^"]*)"|([^\s;"]+))')
           for key in ("gene_id", "transcript_id")}
_BIOTYPE_KEYS = ("gene_type", "gene_biotype", "biotype")
_NAME_KEYS = ("gene_name", "Name", "gene")
_ID_PREFIXES = ("gene:", "gene-", "transcript:", "rna-")
_TRANSCRIPT_TYPES = {"transcript", "mRNA", "primary_transcript", "pseudogenic_transcript",
                     "unconfirmed_transcript"}
_NO_STRAND = (".", "?")
#: A gene id's version: ``.5`` of ``ENSG….5`` (and of GENCODE's ``ENSG….5_PAR_Y``).
_VERSION = re.compile(r"\.\d+(?=(?:_PAR_Y)?$)")
#: Records :func:`sniff_annotation` reads at most for one whose attribute column is not ``.``.
_SNIFF_RECORDS = 1000
#: Number of ids shown in a warning.
SHOWN = 5


@dataclass(frozen=True)
class Gene:
    """One gene. ``start``/``end`` are 0-based half-open; ``tss``/``tts`` are 0-based.

    ``xrefs`` are other ids of the gene an expression table may use (NCBI GeneID); they
    do not take part in comparisons.
    """

    id: str
    name: str
    chrom: str
    start: int
    end: int
    strand: str
    biotype: str = ""
    xrefs: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def tss(self) -> int:
        return self.start if self.strand == "+" else self.end - 1

    @property
    def tts(self) -> int:
        return self.end - 1 if self.strand == "+" else self.start


class Genes(list):
    """A list of :class:`Gene` that also says which gene ids of the file were skipped.

    Attributes
    ----------
    skipped : dict[str, str]
        Gene id → why it is not in the list (``no strand ('.')``, ``several loci: …``).
    """

    def __init__(self, genes: Iterable[Gene] = (), skipped: dict[str, str] | None = None):
        super().__init__(genes)
        self.skipped: dict[str, str] = dict(skipped or {})


def sniff_annotation(path: str | os.PathLike) -> str | None:
    """``"gff3"``, ``"gtf"``, ``"bed"`` or None (not an annotation: e.g. a list of gene
    ids), from a file's header and first record.

    A 9-column record whose attribute column is ``.`` (allowed in GFF3, e.g. a ``region``
    line) tells neither GFF3 nor GTF: the first of the next records (up to
    ``_SNIFF_RECORDS`` in all) whose attribute column is not ``.`` decides; the lines
    between that are not 9 columns are left to the parser to report. Without one the
    file is taken for GTF.
    """
    path = check_readable(path, "annotation file")
    records = 0
    for _, line in text_lines(path, "annotation file"):
        if line.startswith("##gff-version"):
            version = line.split()[1:2]
            return "gff3" if version and version[0].startswith("3") else "gtf"
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        records += 1
        if records > _SNIFF_RECORDS:
            break
        cols = line.split("\t")
        if len(cols) == 9:
            if cols[8].strip() in (".", ""):
                continue
            return "gff3" if _GFF3_ATTR.match(cols[8]) else "gtf"
        if records > 1:  # after records without attributes: a GTF or GFF3 file
            continue
        if len(cols) >= 3 and cols[1].strip().isdigit() and cols[2].strip().isdigit():
            return "bed"
        if len(cols) >= 5 and cols[3].strip().isdigit() and cols[4].strip().isdigit():
            return "gtf"  # a GTF line with missing or extra columns: the parser says which
        return None
    return "gtf" if records else None


# ----------------------------------------------------------------------------- attributes
def parse_attributes(text: str) -> dict[str, str]:
    """Parse a GTF attribute column (``key "value"; key value;``); first value wins."""
    attrs: dict[str, str] = {}
    for m in _ATTR.finditer(text):
        attrs.setdefault(m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
    return attrs


def parse_gff3_attributes(text: str) -> dict[str, str]:
    """Parse a GFF3 attribute column (``key=value;key=v1,v2``), values URL-unescaped
    (``%3B`` → ``;``); a list value stays one comma-separated string."""
    attrs: dict[str, str] = {}
    for part in text.strip().split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            attrs.setdefault(key, unquote(value.strip()))
    return attrs


# ----------------------------------------------------------------------------- records
@dataclass
class _Record:
    """What the readers gather per gene id: its spans and its first record's fields."""

    name: str
    biotype: str
    xrefs: tuple[str, ...]
    spans: list[tuple[str, str, int, int]] = field(default_factory=list)


def _columns(path: Path, lineno: int, line: str, what: str) -> list[str]:
    cols = line.split("\t")
    if len(cols) != 9:
        raise InputFileError(f"{path}:{lineno}: {what} line has {len(cols)} tab-separated "
                             "columns, expected 9")
    return cols


def parse_interval(path: Path, lineno: int, start: str, end: str, strand: str,
                   one_based: bool) -> tuple[int, int]:
    """0-based half-open [start, end) of a record; errors name the line (a 0-based
    ``start == end`` is an empty interval: an error)."""
    try:
        lo, hi = int(start), int(end)
    except ValueError:
        raise InputFileError(f"{path}:{lineno}: start/end must be integers, got {start!r}, "
                             f"{end!r}") from None
    if lo < int(one_based):
        raise InputFileError(f"{path}:{lineno}: start must be >= {int(one_based)}, got {lo}")
    if hi < lo:
        raise InputFileError(f"{path}:{lineno}: start {start} > end {end}; expected start "
                             f"{'<=' if one_based else '<'} end")
    if hi == lo and not one_based:
        raise InputFileError(f"{path}:{lineno}: empty interval [{lo}, {hi}) (start == end) "
                             "cannot be placed; expected start < end")
    if strand not in ("+", "-", *_NO_STRAND):
        raise InputFileError(f"{path}:{lineno}: strand must be '+', '-' or '.', got {strand!r}")
    return (lo - 1, hi) if one_based else (lo, hi)


def _primary(chrom: str) -> bool:
    """A chromosome of the primary assembly (not an alt / fix / random / unplaced piece)."""
    return "_" not in chrom or chrom.startswith("NC_")


def _loci(spans: list[tuple[str, str, int, int]]) -> list[tuple[str, str, int, int]]:
    """Spans merged into loci: same chromosome and strand, overlapping or touching."""
    loci: list[list] = []
    for chrom, strand, lo, hi in sorted(spans):
        last = loci[-1] if loci else None
        if last is not None and last[0] == chrom and last[1] == strand and lo <= last[3]:
            last[3] = max(last[3], hi)
        else:
            loci.append([chrom, strand, lo, hi])
    return [tuple(x) for x in loci]


def _fmt(locus: tuple[str, str, int, int]) -> str:
    chrom, strand, lo, hi = locus
    return f"{chrom}:{lo + 1}-{hi}({strand})"


def _assemble(path: Path, records: dict[str, _Record], what: str) -> Genes:
    """One gene per id from its spans; unstranded and multi-locus ids skipped with a
    warning (see the module docstring)."""
    genes, skipped = [], {}
    unstranded, ambiguous, alt_copies = [], [], []
    for gid, rec in records.items():
        stranded = [s for s in rec.spans if s[1] not in _NO_STRAND]
        if not stranded:
            skipped[gid] = f"no strand ({rec.spans[0][1]!r}) in {path.name}"
            unstranded.append(gid)
            continue
        loci = _loci(stranded)
        if len(loci) > 1:
            primary = [x for x in loci if _primary(x[0])]
            if len(primary) == 1:
                alt_copies.append(gid)
                loci = primary
            else:
                where = ", ".join(_fmt(x) for x in loci[:3]) + (", ..." if len(loci) > 3 else "")
                skipped[gid] = f"several loci in {path.name}: {where}"
                ambiguous.append(f"{gid} ({where})")
                continue
        chrom, strand, lo, hi = loci[0]
        genes.append(Gene(gid, rec.name or gid, chrom, lo, hi, strand, rec.biotype, rec.xrefs))
    if unstranded:
        log.warning("%s: skipped %d %s genes without a strand ('.'): %s", path,
                    len(unstranded), what, shown(unstranded))
    if alt_copies:
        log.warning("%s: %d gene ids also lie on alt / patch / unplaced sequences; using "
                    "their primary-chromosome locus: %s", path, len(alt_copies),
                    shown(alt_copies))
    if ambiguous:
        log.warning("%s: skipped %d gene ids found at several loci (different chromosomes, "
                    "strands or non-overlapping records): %s", path, len(ambiguous),
                    shown(ambiguous, 3))
    return Genes(genes, skipped)




def _gtf_records(path: Path, progress: bool = False) -> dict[str, _Record]:
    """Gene id → record: ``gene`` lines where the id has them, else one span per
    transcript (its exons' extent); ``progress``: a bar over the file."""
    gene_recs: dict[str, _Record] = {}
    tx_recs: dict[str, _Record] = {}
    tx_span: dict[tuple, list[int]] = {}
    for lineno, line in text_lines(path, "GTF file", progress):
        if not line.strip() or line.startswith("#"):
            continue
        cols = _columns(path, lineno, line, "GTF")
        chrom, _, feature, start, end, _, strand = cols[:7]
        gid = _gtf_value(cols[8], "gene_id")
        if gid is None:
            raise InputFileError(f"{path}:{lineno}: {feature} record without a gene_id "
                                 "attribute")
        lo, hi = parse_interval(path, lineno, start, end, strand, one_based=True)
        if feature == "gene":
            rec = gene_recs.setdefault(gid, _new_record(parse_attributes(cols[8]), gid))
            rec.spans.append((chrom, strand, lo, hi))
            continue
        if gid not in tx_recs:  # the full attributes once per gene (name, biotype)
            tx_recs[gid] = _new_record(parse_attributes(cols[8]), gid)
        key = (gid, _gtf_value(cols[8], "transcript_id") or "", chrom, strand)
        span = tx_span.setdefault(key, [lo, hi])
        span[0], span[1] = min(span[0], lo), max(span[1], hi)
    for (gid, _, chrom, strand), (lo, hi) in tx_span.items():
        if gid not in gene_recs:
            tx_recs[gid].spans.append((chrom, strand, lo, hi))
    records = dict(gene_recs)
    for gid, rec in tx_recs.items():
        if gid not in gene_recs:
            records[gid] = rec
    return records


def _gtf_value(text: str, key: str) -> str | None:
    """The first value of attribute ``key`` in a GTF attribute column (None if absent)."""
    m = _GTF_ID[key].match(text)
    return None if m is None else (m.group(1) if m.group(1) is not None else m.group(2))


def _new_record(attrs: dict[str, str], gid: str, names: tuple[str, ...] = _NAME_KEYS
                ) -> _Record:
    name = next((attrs[k] for k in names if attrs.get(k)), gid)
    biotype = next((attrs[k] for k in _BIOTYPE_KEYS if attrs.get(k)), "")
    xrefs = []
    for ref in attrs.get("Dbxref", "").split(","):
        db, _, value = ref.partition(":")
        if db == "GeneID" and value:
            xrefs.append(value)
    return _Record(name, biotype, tuple(xrefs))


def _is_gene_type(feature: str) -> bool:
    return feature in ("gene", "pseudogene") or feature.endswith("_gene")


def _gff3_gene_id(path: Path, lineno: int, attrs: dict[str, str]) -> str:
    """The gene id of a GFF3 gene record or transcript without Parent: its ``gene_id``,
    else gffread's ``geneID``, else its ``ID`` (:func:`_unprefixed`)."""
    gene = attrs.get("gene_id") or attrs.get("geneID")
    if gene:
        return gene
    ident = attrs.get("ID", "")
    if not ident:
        raise InputFileError(f"{path}:{lineno}: GFF3 gene record without an ID or gene_id "
                             "attribute")
    return _unprefixed(ident)


def _unprefixed(ident: str) -> str:
    """A GFF3 ID without its ``gene:`` / ``gene-`` / ``transcript:`` / ``rna-`` prefix."""
    for prefix in _ID_PREFIXES:
        if ident.startswith(prefix):
            return ident[len(prefix):]
    return ident


def _gff3_records(path: Path, progress: bool = False) -> dict[str, _Record]:
    """Gene id → record of a GFF3 file: gene features, transcripts without Parent (those
    of one ``gene_id`` / ``geneID`` together), and the transcripts of a Parent defined by
    no line of the file (see the module docstring); ``progress``: a bar over the file."""
    records: dict[str, _Record] = {}
    defined: set[str] = set()  # IDs of the gene and transcript records
    # Parent not defined before its transcripts → (first one's attributes, their spans)
    children: dict[str, tuple[dict, list]] = {}
    for lineno, line in text_lines(path, "GFF3 file", progress):
        if line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        cols = _columns(path, lineno, line, "GFF3")
        feature = cols[2]
        gene_like = _is_gene_type(feature)
        if not gene_like and not (feature in _TRANSCRIPT_TYPES or feature.endswith("RNA")):
            continue
        attrs = parse_gff3_attributes(cols[8])
        span = (cols[0], cols[6], *parse_interval(path, lineno, cols[3], cols[4], cols[6],
                                             one_based=True))
        defined.add(attrs.get("ID", ""))
        if not gene_like and attrs.get("Parent"):
            for parent in filter(None, attrs["Parent"].split(",")):
                if parent not in defined:  # defined later, by another feature, or never
                    children.setdefault(parent, (attrs, []))[1].append(span)
            continue
        gid = _gff3_gene_id(path, lineno, attrs)
        # a transcript of a gene (gffread's geneID) is named by gene-level keys only
        own = gene_like or gid == _unprefixed(attrs.get("ID", ""))
        names = _NAME_KEYS if own else ("gene_name", "gene")
        records.setdefault(gid, _new_record(attrs, gid, names)).spans.append(span)
    orphans = set(children) - defined
    if orphans:  # a Parent may be another feature (e.g. a gene segment): look once more
        for _, line in text_lines(path, "GFF3 file"):
            if line.startswith("##FASTA"):
                break
            if not line.startswith("#"):  # 9 columns, as read above
                orphans.discard(parse_gff3_attributes(line.rpartition("\t")[2]).get("ID"))
    missing = []
    for parent in (p for p in children if p in orphans):
        attrs, spans = children[parent]
        gid = _unprefixed(parent)
        if gid not in records:  # else the gene record of that id spans the gene
            # named by gene-level keys: a transcript's Name is its own
            records[gid] = _new_record(attrs, gid, ("gene_name", "gene"))
            records[gid].spans.extend(spans)
            missing.append(gid)
    if missing:
        log.warning("%s: %d gene ids have transcripts but no gene line (their Parent is on "
                    "no line of the file); each spans its transcripts: %s", path, len(missing),
                    shown(missing))
    return records


# ----------------------------------------------------------------------------- public readers
def read_gtf(path: str | os.PathLike, biotypes: Iterable[str] | None = None,
             progress: bool = False) -> Genes:
    """Read the genes of a GTF or GFF3 file (plain or gzip; GFF3 told apart by content).

    Parameters
    ----------
    path
        GTF or GFF3 file.
    biotypes
        Keep only these ``gene_type``/``gene_biotype``/``biotype`` values (e.g.
        ``["protein_coding"]``).
    progress
        A tqdm bar over the file's bytes (a GENCODE GTF of ~1.5 M lines reads in ~9 s).

    Returns
    -------
    Genes (a list of Gene, in file order, with ``skipped``); see the module docstring
    for ids, odd records and errors.

    Raises
    ------
    InputFileError
        A BED file (told by content: :func:`sniff_annotation`), said to be one; and as
        the module docstring says.
    """
    path = check_readable(path, "GTF file")
    kind = sniff_annotation(path)
    if kind == "bed":
        raise InputFileError(f"{path}: a BED file (chrom, start, end, ... columns); expected "
                             "GTF or GFF3 (gene or transcript records and their exons), as "
                             "a config's gtf: takes them")
    if kind == "gff3":
        genes = _assemble(path, _gff3_records(path, progress), "GFF3")
    else:
        genes = _assemble(path, _gtf_records(path, progress), "GTF")
    if not genes and not genes.skipped:
        raise InputFileError(f"{path}: no gene records found")
    return filter_biotype(genes, biotypes, path)


def read_genes(path: str | os.PathLike, biotypes: Iterable[str] | None = None) -> Genes:
    """Genes of a GTF, GFF3 or BED file (plain or gzip), the format told by content.

    Raises
    ------
    InputFileError
        When the file is none of the three (its first record is named), or as
        :func:`read_gtf` / :func:`read_bed`.
    """
    path = check_readable(path, "annotation file")
    kind = sniff_annotation(path)
    if kind == "bed":
        return filter_biotype(read_bed(path), biotypes, path)
    if kind is None:
        raise InputFileError(f"{path}: not a GTF, GFF3 or BED annotation (expected 9 "
                             "tab-separated GTF/GFF3 columns or BED's chrom, start, end)")
    return read_gtf(path, biotypes)


def filter_biotype(genes: Iterable[Gene], biotypes: Iterable[str] | None,
                   source: str | os.PathLike | None = None) -> Genes:
    """Genes whose biotype is in ``biotypes`` (all genes when ``biotypes`` is None); the
    others are added to :attr:`Genes.skipped` with their biotype (so that an expression id
    of a lncRNA is reported as filtered out, not as absent from the annotation).

    Raises
    ------
    ConfigError
        ``biotypes`` not a list of names, or a list that keeps none of ``genes`` (a
        misspelt name such as ``protein-coding``, or an annotation without biotypes, as
        UCSC's GTFs): the message names ``source`` and the biotypes the genes have.
    """
    skipped = dict(getattr(genes, "skipped", {}))
    if biotypes is None:
        return Genes(genes, skipped)
    if isinstance(biotypes, str) or not all(isinstance(b, str) for b in biotypes):
        raise ConfigError(f"biotypes: expected a list of biotype names (e.g. "
                          f"[protein_coding]), got {biotypes!r}")
    keep = set(biotypes)
    kept = []
    found: Counter[str] = Counter()
    for g in genes:
        found[g.biotype or "not given"] += 1
        if g.biotype in keep:
            kept.append(g)
        else:
            skipped[g.id] = (f"biotype {g.biotype or 'not given'!r} is not in biotypes "
                             f"{sorted(keep)}")
    if found and not kept:
        where = f"biotypes {sorted(keep)}: no gene of {source or 'the annotation'} has one of them"
        if set(found) == {"not given"}:
            raise ConfigError(f"{where}: none of its {found['not given']} genes has a biotype "
                              f"({', '.join(_BIOTYPE_KEYS)} attribute); expected no biotypes "
                              "setting for such an annotation")
        have = ", ".join(f"{b!r} ({n})" for b, n in found.most_common(SHOWN))
        raise ConfigError(f"{where}; its genes' biotypes: {have}"
                          f"{', ...' if len(found) > SHOWN else ''}; expected names as the "
                          "annotation writes them")
    return Genes(kept, skipped)


def read_bed(path: str | os.PathLike) -> Genes:
    """Read a BED6 file (chrom, start, end, name, score, strand) as genes.

    BED is already 0-based half-open. Lines starting with ``#``, ``track`` or ``browser``
    are skipped; so are rows with strand ``.`` (one warning with the count). Rows are kept
    as they are, one gene each (a name may repeat).

    Raises
    ------
    InputFileError
        Fewer than 6 columns, non-integer coordinates, a negative start, ``start > end``,
        an empty interval (``start == end``) or another strand character (naming the line).
    """
    path = check_readable(path, "BED file")
    genes, skipped = [], {}
    for lineno, line in text_lines(path, "BED file"):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t")
        if len(cols) < 6:
            raise InputFileError(
                f"{path}:{lineno}: BED line has {len(cols)} columns, expected at least 6 (BED6)"
            )
        lo, hi = parse_interval(path, lineno, cols[1], cols[2], cols[5], one_based=False)
        if cols[5] in _NO_STRAND:
            skipped[cols[3]] = f"no strand ({cols[5]!r}) in {path.name}"
            continue
        genes.append(Gene(cols[3], cols[3], cols[0], lo, hi, cols[5]))
    if skipped:
        log.warning("%s: skipped %d BED rows without a strand ('.'): %s", path, len(skipped),
                    shown(list(skipped)))
    return Genes(genes, skipped)


def gene_id_stem(gene_id) -> str:
    """A gene id without its version (``ENSG00000141510.17`` → ``ENSG00000141510``;
    GENCODE's ``ENSG00000228572.7_PAR_Y`` → ``ENSG00000228572_PAR_Y``, the Y copy of a
    pseudoautosomal gene stays apart from its X copy). Ids whose dot is part of the name
    (C. elegans ``ZK1010.1``) get a stem too: callers match by stem only where it names one
    gene."""
    return _VERSION.sub("", str(gene_id), count=1)


def gene_stem_index(gene_ids: Iterable[str]) -> dict[str, list[str]]:
    """The ids of ``gene_ids`` by their version-less stem (:func:`gene_id_stem`), each
    stem's ids in their order (an id listed twice is there twice)."""
    index: dict[str, list[str]] = {}
    for gene_id in gene_ids:
        index.setdefault(gene_id_stem(gene_id), []).append(gene_id)
    return index


def gene_id_candidates(query, known: Container, by_stem: Mapping[str, list[str]]
                       ) -> list[str]:
    """The gene ids ``query`` may name: itself where ``known`` holds it, else the ids
    sharing its version-less stem (``by_stem``: :func:`gene_stem_index` of ``known``;
    ``ENSG….5`` ↔ ``ENSG…``).

    One candidate is a match; several are ambiguous (C. elegans ``ZK1010`` for
    ``ZK1010.1`` and ``ZK1010.2``, so none is taken); none, an unknown id."""
    if query in known:
        return [query]
    return list(by_stem.get(gene_id_stem(query), []))


def select_genes(spec: str | os.PathLike, annotation: str | os.PathLike | None = None
                 ) -> list[Gene]:
    """Genes named by ``spec``: an annotation file (GTF, GFF3 or BED, told by content), or
    a file of gene ids / names (one per line), or comma-separated ids — both looked up in
    ``annotation`` (exact id, else id without version, else NCBI GeneID, else name), in
    their order.

    Raises
    ------
    ConfigError
        A list of ids without ``annotation``.
    InputFileError
        Ids not found in ``annotation`` (the first five named, with why they were skipped),
        or a name or versionless id that names several genes (a symbol of two loci, the X
        and Y copies of a PAR gene, C. elegans ``ZK1010`` for ``ZK1010.1`` and ``.2``).
    """
    spec = os.fspath(spec)
    if os.path.isfile(spec) and sniff_annotation(spec) is not None:
        if annotation is not None and not os.path.samefile(spec, annotation):
            log.warning("%s is itself an annotation: its genes are used, and %s is not read",
                        spec, annotation)
        return read_genes(spec)
    if os.path.isfile(spec):
        with open_text(spec) as fh:  # plain or gzip
            wanted = [line.split()[0] for line in fh if line.strip() and not line.startswith("#")]
        source = spec
    else:
        wanted = [w for w in spec.split(",") if w]
        source = "gene list"
    if annotation is None:
        raise ConfigError(f"{source}: a list of gene ids needs an annotation (GTF, GFF3 or BED) "
                          "to find them")
    repeated = [w for w, n in Counter(wanted).items() if n > 1]
    if repeated:
        log.warning("%s: %d gene(s) listed more than once, predicted once per listing: %s",
                    source, len(repeated), shown(repeated))
    genes = read_genes(annotation)
    keys: list[dict[str, list[Gene]]] = [{}, {}, {}]  # id, xref, name
    for g in genes:
        for table, names in zip(keys, ([g.id], g.xrefs, [g.name]), strict=True):
            for key in dict.fromkeys(names):
                table.setdefault(key, []).append(g)
    by_id, by_xref, by_name = keys
    by_stem = gene_stem_index(by_id)

    def candidates(w: str) -> list[Gene]:  # id or stem (ambiguous ones too), xref, name
        ids = gene_id_candidates(w, by_id, by_stem)
        return [g for i in ids for g in by_id[i]] or by_xref.get(w) or by_name.get(w, [])

    found = {w: candidates(w) for w in wanted}
    missing = [w for w, c in found.items() if not c]
    if missing:
        why = [f"{w} ({genes.skipped[w]})" if w in genes.skipped else w for w in missing[:5]]
        raise InputFileError(f"{source}: {len(missing)} gene(s) not in {annotation}: "
                             f"{', '.join(why)}{' ...' if len(missing) > 5 else ''}")
    ambiguous = {w: c for w, c in found.items() if len(c) > 1}
    if ambiguous:
        w, c = next(iter(ambiguous.items()))
        raise InputFileError(f"{source}: {len(ambiguous)} name(s) match several genes of "
                             f"{annotation}, e.g. {w!r}: {', '.join(g.id for g in c[:5])}; "
                             "give the full gene id")
    return [found[w][0] for w in wanted]
