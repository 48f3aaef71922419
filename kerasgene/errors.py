"""Errors raised by kerasgene.

Every error a user can cause derives from :class:`KerasgeneError`; the CLI turns any of
them into a one-line message on stderr and exit status 2. Messages name the file, the
field and what was expected; a message about many items shows the first few
(:func:`shown`).
"""

from __future__ import annotations


class KerasgeneError(Exception):
    """Base class of every error kerasgene raises on bad input or configuration."""


class InputFileError(KerasgeneError):
    """An input file is missing, unreadable or not in the expected format."""


class UnknownChromosomeError(KerasgeneError):
    """A chromosome name is not present in a FASTA or bigWig file (after aliasing)."""


class InvalidRegionError(KerasgeneError):
    """A genomic window is malformed (negative start, start > end, bad strand)."""


class ConfigError(KerasgeneError):
    """A configuration value or hyperparameter is invalid."""


def shown(items, n: int = 5) -> str:
    """The first ``n`` of ``items`` for a message about many: ``"a, b, c, ..."`` (``...``
    when some are left out); each item as ``str``."""
    items = [str(i) for i in items]
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")
