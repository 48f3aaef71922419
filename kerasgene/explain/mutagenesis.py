"""In silico saturation mutagenesis of one gene's window: every base changed to every
other base, the model's prediction for each (iSEGnet Fig. 5-style heatmaps, and the
``--ism`` option of ``kerasgene variants``). Windows are built exactly as for variant
effects (:mod:`kerasgene.explain.variants`: the same readers and window sequences).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kerasgene.datasets.windows import warn_other_characters, window_layout
from kerasgene.dna import BASES
from kerasgene.errors import ConfigError
from kerasgene.explain.readers import Reader
from kerasgene.explain.variants import (
    check_count,
    count_other_characters,
    open_genome,
    predictor,
    window_sequence,
)
from kerasgene.io.annotation import Gene
from kerasgene.io.genome import Genome


@dataclass
class Mutagenesis:
    """Saturation mutagenesis of one gene's window in one context.

    Attributes
    ----------
    gene_id, context : str
    sequence : str
        The reference window (gene orientation), length L.
    reference : float
        Prediction for the reference window.
    deltas : np.ndarray, shape (4, L)
        Prediction with base A, C, G, T (rows) at each window position minus the
        reference prediction; 0 at the reference base.
    layout : tuple of (anchor, first offset, end offset)
        The window's parts (see :func:`window_layout`).
    """

    gene_id: str
    context: str
    sequence: str
    reference: float
    deltas: np.ndarray
    layout: tuple[tuple[str, int, int], ...]


def _mutants(seq: str, lo: int, hi: int) -> Iterator[tuple[int, int, str]]:
    """(position, base index, mutant) for every non-reference base at positions [lo, hi)."""
    for i in range(lo, hi):
        for b, base in enumerate(BASES):
            if seq[i] != base:
                yield i, b, seq[:i] + base + seq[i + 1:]


def saturation_mutagenesis(
    model,
    genome: Genome | str | os.PathLike,
    gene: Gene,
    reader: Reader,
    *,
    context: str | None = None,
    batch_size: int = 512,
) -> Mutagenesis:
    """Δ prediction of every single-base substitution in ``gene``'s window.

    Parameters
    ----------
    model, reader, batch_size
        As in :func:`variant_effects`.
    genome
        FASTA of the gene's coordinates.
    gene
        The gene.
    context
        Sample / cell type (default: the reader's first context for the gene).

    Returns
    -------
    Mutagenesis with ``deltas`` of shape (4, L); substitutions are made in gene
    orientation (row A at a minus-strand gene's position is a T in the FASTA).
    """
    check_count(batch_size, "batch_size")
    contexts = reader.contexts(gene)
    if not contexts or (context is not None and context not in contexts):
        raise ConfigError(f"saturation mutagenesis: gene {gene.id!r} has no context "
                          f"{context!r}; it has {contexts}")
    context = context or contexts[0]
    genome, owned = open_genome(genome)
    try:
        seq = window_sequence(genome, gene, reader.tss_flank, reader.tts_flank)
    finally:
        if owned:
            genome.close()
    found_other: dict[str, int] = {}
    count_other_characters([seq], [gene], found_other)
    warn_other_characters(found_other, genome.path)
    predict = predictor(model, reader)
    ref = float(predict([seq], [gene], [context], batch_size)[0])
    deltas = np.zeros((4, len(seq)), np.float64)
    step = max(1, batch_size // (3 * reader.fanout))
    for lo in range(0, len(seq), step):
        muts = list(_mutants(seq, lo, min(lo + step, len(seq))))
        pred = predict([m for *_, m in muts], [gene] * len(muts), [context] * len(muts),
                       batch_size)
        pos = np.array([i for i, _, _ in muts], np.int64)
        base = np.array([b for _, b, _ in muts], np.int64)
        deltas[base, pos] = pred - ref
    return Mutagenesis(gene.id, context, seq, ref, deltas,
                       window_layout(reader.tss_flank, reader.tts_flank))


