"""Chromosome names: one chromosome under the names different files give it.

Names meet wherever two files do (FASTA or 2bit genome, every track, GTF/GFF3, VCF). A
name is looked up in a file as itself first, then under its aliases:

- built in: with or without the ``chr`` prefix (``chr1`` / ``1``), and the mitochondrion's
  names (``chrM`` / ``chrMT`` / ``MT`` / ``M``);
- from an alias table (:class:`AliasTable`, the ``data.chrom_aliases`` config key): a UCSC
  ``chromAlias.txt`` (header ``# ucsc	assembly	genbank	refseq``, rows such as
  ``chr1	1	CM000663.2	NC_000001.11``), the older UCSC database table
  (``alias	chrom	source`` rows, e.g. ``NC_000001.11	chr1	refseq``), or a user table:
  tab-separated (or whitespace-separated) rows of two or more names of one chromosome.
  So NCBI accessions (``NC_000001.11``) resolve to ``chr1`` and back.

Aliases combine: with the row ``chr1 NC_000001.11``, ``1`` also finds ``NC_000001.11``.
An alias naming two chromosomes (``1`` in a row of ``chr1`` and in a row of ``chr2``) is an
error naming both; exact names in a file always win over aliases.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from kerasgene.errors import InputFileError, UnknownChromosomeError

_MITO = ("chrM", "chrMT", "MT", "M")
#: Empty cells of alias tables (UCSC leaves them empty, NCBI reports write ``na``).
_MISSING = {"", "na", "NA", "n/a", "."}
#: Third-column values of the older UCSC ``chromAlias`` database table (alias, chrom, source).
_SOURCES = {"ucsc", "refseq", "genbank", "ensembl", "assembly", "ncbi", "gencode", "custom"}


def is_mitochondrial(name: str) -> bool:
    """Whether ``name`` is one of the mitochondrial genome's usual names (``chrM``,
    ``chrMT``, ``MT``, ``M``)."""
    return name in _MITO


def _variants(name: str) -> list[str]:
    """Built-in aliases of ``name`` (``chr`` prefix, mitochondrion), ``name`` first."""
    if name in _MITO:
        return [name] + [m for m in _MITO if m != name]
    bare = name[3:] if name.startswith("chr") else name
    return list(dict.fromkeys([name, bare, "chr" + bare]))


class AliasTable:
    """Groups of names that denote one chromosome (see the module docstring).

    Parameters
    ----------
    groups
        One sequence of names per chromosome, its primary (UCSC) name first.
    source
        Where the groups come from, named in error messages.
    """

    def __init__(self, groups: Iterable[Iterable[str]], source: str = "alias table"):
        self.source = source
        self._group: dict[str, tuple[str, ...]] = {}
        for group in groups:
            names = tuple(dict.fromkeys(str(n) for n in group if str(n) not in _MISSING))
            for n in names:
                self._group[n] = names

    @classmethod
    def read(cls, path: str | os.PathLike) -> AliasTable:
        """Read a UCSC ``chromAlias.txt`` (either layout) or a user table.

        Raises
        ------
        InputFileError
            When the file is unreadable, holds no row, or one alias names two chromosomes
            (the message names the file, both lines and both chromosomes).
        """
        from kerasgene._io import check_readable

        path = check_readable(path, "chromosome alias table")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputFileError(f"{path}: not a text file; expected a chromosome alias table "
                                 f"(tab-separated names of one chromosome per row)") from None
        rows = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            rows.append((lineno, [f.strip() for f in fields]))
        if not rows:
            raise InputFileError(f"{path}: no alias rows; expected tab-separated names of one "
                                 f"chromosome per row (e.g. UCSC chromAlias.txt)")
        if all(len(f) == 3 and _is_source_tag(f[2]) for _, f in rows):  # alias, chrom, source
            rows = [(n, [f[1], f[0]]) for n, f in rows]
        return cls(_group_rows(rows, path), str(path))

    def names(self, name: str) -> tuple[str, ...]:
        """Every name of ``name``'s chromosome in the table (``(name,)`` when absent)."""
        return self._group.get(name, (name,))

    def __len__(self) -> int:
        return len({id(g) for g in self._group.values()})


def _is_source_tag(value: str) -> bool:
    return bool(value) and all(part in _SOURCES for part in value.lower().split(","))


def _group_rows(rows: list[tuple[int, list[str]]], path: Path) -> list[list[str]]:
    """Merge rows by their primary (first) name; an alias under two primaries is an error."""
    owner: dict[str, str] = {}  # name -> primary name of its chromosome
    line_of: dict[str, int] = {}
    groups: dict[str, list[str]] = {}
    for lineno, fields in rows:
        names = [f for f in fields if f not in _MISSING]
        if not names:
            continue
        primary = owner.get(names[0], names[0])
        for n in names:
            if owner.get(n, primary) != primary:
                raise InputFileError(
                    f"{path} line {lineno}: alias {n!r} names both {owner[n]!r} (line "
                    f"{line_of[n]}) and {primary!r}; expected each alias to name one chromosome")
            if n not in owner:
                owner[n], line_of[n] = primary, lineno
                groups.setdefault(primary, []).append(n)
    return list(groups.values())


def load_aliases(spec: AliasTable | str | os.PathLike | None) -> AliasTable | None:
    """An :class:`AliasTable` from a table, a path to one, or None (built-in aliases only)."""
    if spec is None or isinstance(spec, AliasTable):
        return spec
    return AliasTable.read(spec)


def equivalents(name: str, table: AliasTable | None = None) -> list[str]:
    """Every name of ``name``'s chromosome: built-in aliases and the table's, combined
    (``name`` first)."""
    seen = dict.fromkeys([name])
    todo = [name]
    while todo:
        current = todo.pop()
        found = _variants(current) + (list(table.names(current)) if table is not None else [])
        for alias in found:
            if alias not in seen:
                seen[alias] = None
                todo.append(alias)
    return list(seen)


def canonical(name: str, table: AliasTable | None = None) -> str:
    """One name per chromosome, equal for every alias of it (to compare chromosome sets)."""
    return min(equivalents(name, table))


def alias_map(available: Iterable[str], table: AliasTable | None = None) -> dict[str, str]:
    """Map every alias of every available chromosome to its name in the file.

    Exact names win over aliases, so a file holding both ``1`` and ``chr1`` keeps both. An
    alias shared by two of the file's chromosomes maps to both (a tuple), which
    :func:`resolve` reports as ambiguous.
    """
    available = list(available)
    mapping: dict[str, str | tuple[str, ...]] = {}
    for name in available:
        for alias in equivalents(name, table):
            prev = mapping.get(alias)
            if prev is None:
                mapping[alias] = name
            elif prev != name and not (isinstance(prev, tuple) and name in prev):
                mapping[alias] = (*(prev if isinstance(prev, tuple) else (prev,)), name)
    mapping.update({name: name for name in available})
    return mapping


def resolves(name: str, aliases: Mapping[str, str]) -> bool:
    """Whether chromosome ``name`` is among ``aliases`` (:func:`alias_map`), as :func:`resolve`
    finds it."""
    try:
        resolve(name, aliases, "")
    except UnknownChromosomeError:
        return False
    return True


def sort_key(name: str) -> tuple[int, int, str]:
    """Karyotype order of chromosome names: ``chr2`` before ``chr10`` (``2`` before ``10``),
    then the others by name (``chrM``, ``chrX``, scaffolds)."""
    bare = name[3:] if name.startswith("chr") else name
    return (0, int(bare), "") if bare.isdigit() else (1, 0, bare)


def resolve(name: str, aliases: dict[str, str], source: str) -> str:
    """Return the file's own name for chromosome ``name``.

    Raises
    ------
    UnknownChromosomeError
        When no alias of ``name`` is in ``aliases`` (the message names ``source`` and a few
        of the chromosomes it does have), or when the alias names two of its chromosomes.
    """
    found = aliases.get(name)
    if found is None:
        for alias in _variants(name):
            if alias in aliases:
                found = aliases[alias]
                break
    if isinstance(found, tuple):
        raise UnknownChromosomeError(
            f"{source}: chromosome {name!r} is ambiguous: it is an alias of {found[0]!r} and "
            f"{found[1]!r}; expected one chromosome per name")
    if found is not None:
        return found
    known = sorted({v for v in aliases.values() if isinstance(v, str)})
    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    raise UnknownChromosomeError(
        f"{source}: unknown chromosome {str(name)!r} (also tried its aliases); file has: {shown}"
    )
