"""Examples a dataset builder leaves out, and why: one warning per reason and ``dropped.tsv``.

Every builder collects what it leaves out in a :class:`Dropped` — expression ids absent
from the annotation, missing or zero expression, genes on chromosomes the genome or a
track lacks, genes outside their chromosome, conditions without regulator states, parts
of chromosomes in no split — logs one warning per reason (count and the first ids) and
writes the rows to ``dropped.tsv`` inside the dataset directory, atomically with it (the
file exists, with its header only, when nothing was dropped). ``meta.json`` records the
counts per reason under ``dropped``.

``dropped.tsv`` columns
-----------------------
``example``
    The id as the input names it (an expression-table gene id, a condition, a range).
``context``
    Sample, cell type or condition of the example (empty when it does not apply).
``chrom``, ``start``, ``end``
    0-based half-open coordinates of the gene (or range) when known, else empty.
``reason``
    One of :data:`REASONS`; ``detail`` says more (the gene it duplicates, the loci of an
    ambiguous id, the chromosome length).
``strand``
    The gene's strand (``+`` / ``-``) when known, else empty: with the coordinates, where
    its windows lie (``kerasgene variants`` names the variants in them).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import pandas as pd

from kerasgene._io import write_text
from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)

FILENAME = "dropped.tsv"
COLUMNS = ("example", "context", "chrom", "start", "end", "reason", "detail", "strand")
#: reason → what the warning says about it
REASONS = {
    "not_in_annotation": "gene id absent from the annotation",
    "skipped_in_annotation": "gene skipped when reading the annotation (no strand, "
                             "several loci, or a biotype not asked for)",
    "duplicate_gene": "another id of the table matched the same gene",
    "missing_expression": "missing expression value (empty, NA or NaN)",
    "zero_expression": "zero expression (the paper's filter)",
    "unknown_chrom": "chromosome missing from the genome or a track",
    "chrom_length_mismatch": "chromosome of another length in a track than in the genome "
                             "(another assembly)",
    "past_chrom_end": "gene runs past the end of its chromosome",
    "beyond_chrom_end": "gene lies wholly beyond the end of its chromosome",
    "no_promoter": "no promoter sequence",
    "no_regulator_states": "condition without regulator states",
    "not_in_split": "chromosome range in no split list",
}
_SHOWN = 5
_DETAILED = ("skipped_in_annotation", "duplicate_gene", "unknown_chrom",
             "chrom_length_mismatch", "past_chrom_end", "beyond_chrom_end")


class Dropped:
    """The examples a builder leaves out.

    Parameters
    ----------
    task : the builder's name, first word of its warnings (``isegnet``, ``histone``, ...)
    """

    def __init__(self, task: str):
        self.task = task
        self.rows: list[tuple] = []

    def add(self, example: str, reason: str, *, context: str = "", chrom: str = "",
            start: int | None = None, end: int | None = None, detail: str = "",
            strand: str = "") -> None:
        """Record one left-out example (``reason`` a key of :data:`REASONS`)."""
        if reason not in REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")
        self.rows.append((str(example), str(context), str(chrom),
                          "" if start is None else int(start), "" if end is None else int(end),
                          reason, str(detail), str(strand)))

    def add_gene(self, example: str, gene, reason: str, *, context: str = "",
                 detail: str = "") -> None:
        """Record an example of ``gene`` (a :class:`~kerasgene.io.annotation.Gene`)."""
        self.add(example, reason, context=context, chrom=gene.chrom, start=gene.start,
                 end=gene.end, detail=detail, strand=gene.strand)

    def __len__(self) -> int:
        return len(self.rows)

    def counts(self) -> dict[str, int]:
        """Reason → number of rows, in order of first occurrence."""
        return dict(Counter(r[5] for r in self.rows))

    def warn(self) -> None:
        """One warning per reason: the count, the first examples and a detail."""
        for reason, n in self.counts().items():
            rows = [r for r in self.rows if r[5] == reason]
            shown = ", ".join(f"{r[0]} [{r[1]}]" if r[1] else r[0] for r in rows[:_SHOWN])
            more = ", ..." if n > _SHOWN else ""
            detail = f"; e.g. {rows[0][6]}" if reason in _DETAILED and rows[0][6] else ""
            log.warning("%s: left out %d (%s): %s%s%s; all listed in %s", self.task, n,
                        REASONS[reason], shown, more, detail, FILENAME)

    def summary(self) -> str:
        """``"left out: 924 chromosome missing from the genome or a track (e.g. chr1 is not
        in A.bigWig)"``, one clause per reason, for an error that follows :meth:`warn`."""
        parts = []
        for reason, n in self.counts().items():
            first = next(r for r in self.rows if r[5] == reason)
            parts.append(f"{n} {REASONS[reason]}" + (f" (e.g. {first[6]})" if first[6] else ""))
        return "left out: " + "; ".join(parts) if parts else "nothing left out"

    def table(self) -> pd.DataFrame:
        """The rows as a DataFrame with :data:`COLUMNS`."""
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def write(self, directory: str | os.PathLike) -> Path:
        """Write ``dropped.tsv`` into ``directory`` (the dataset's temporary directory)."""
        return write_text(Path(directory) / FILENAME,
                          self.table().to_csv(sep="\t", index=False))


def max_outside(value, section: str) -> float:
    """The ``max_genes_outside`` setting checked: a fraction in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{section}.max_genes_outside: expected a fraction between 0 and 1, "
                          f"got {value!r}")
    return float(value)


def remind(dataset) -> None:
    """On reuse of a cached dataset, repeat (as one warning) what its build left out."""
    counts = dataset.meta.get("dropped") or {}
    if counts:
        total = sum(counts.values())
        parts = ", ".join(f"{n} {reason}" for reason, n in counts.items())
        log.warning("%s: reusing the cached dataset; its build left out %d examples (%s), "
                    "listed in %s", dataset.path, total, parts, Path(dataset.path) / FILENAME)


__all__ = ["COLUMNS", "FILENAME", "REASONS", "Dropped", "max_outside", "remind"]
