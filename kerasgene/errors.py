"""Errors raised by kerasgene.

Every error a user can cause derives from :class:`KerasgeneError`; the CLI turns any of
them into a one-line message on stderr and exit status 2. Messages name the file, the
field and what was expected.
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
