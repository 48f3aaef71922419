"""Chromosome names: resolving UCSC / Ensembl aliases ("chr1" / "1", "chrM" / "MT")."""

from __future__ import annotations

from collections.abc import Iterable

from kerasgene.errors import UnknownChromosomeError

_MITO = ("chrM", "chrMT", "MT", "M")


def _variants(name: str) -> list[str]:
    """Names under which ``name`` may appear in another file, most likely first."""
    if name in _MITO:
        return list(_MITO)
    bare = name[3:] if name.startswith("chr") else name
    return [name, bare, "chr" + bare]


def alias_map(available: Iterable[str]) -> dict[str, str]:
    """Map every alias of every available chromosome to its name in the file.

    Exact names win over aliases, so a file holding both ``1`` and ``chr1`` keeps both.
    """
    available = list(available)
    mapping: dict[str, str] = {}
    for name in available:
        for alias in _variants(name):
            mapping.setdefault(alias, name)
    mapping.update({name: name for name in available})
    return mapping


def resolve(name: str, aliases: dict[str, str], source: str) -> str:
    """Return the file's own name for chromosome ``name``.

    Raises
    ------
    UnknownChromosomeError
        When no alias of ``name`` is in ``aliases``; the message names ``source`` and a few
        of the chromosomes it does have.
    """
    try:
        return aliases[name]
    except KeyError:
        pass
    for alias in _variants(name):
        if alias in aliases:
            return aliases[alias]
    known = sorted(set(aliases.values()))
    shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
    raise UnknownChromosomeError(
        f"{source}: unknown chromosome {name!r} (also tried its aliases); file has: {shown}"
    )
