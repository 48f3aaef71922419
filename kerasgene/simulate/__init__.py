"""Planted-truth demo data: a simulated genome, tracks and expression for all four tasks.

:func:`simulate` writes **real files** (FASTA + ``.fai``, GTF, bigWig, TSV, CSV, NPZ) whose
content comes from a documented generative model, plus ``truth.json`` with everything
needed to judge what a trained model learned (noise-ceiling R², the positions and tracks
that carry signal, the JASPAR motifs planted where and driving which genes, the direction
of every effect). The files are then read by the ordinary pipeline exactly as a user's
files would be. The generative model of every set is documented in
``docs/simulated_data.md``; the short version is in each ``simulate_*`` docstring.

What is real: the motif matrices (JASPAR 2026 CORE, shipped as package data in
``kerasgene/data/jaspar_motifs.json``, extracted from pyjaspar's offline database) and the
yeast regulator states of the DeepRAGE / MEDUSA data (``kerasgene/data/deeprage_yeast/``).
Everything else (sequence, tracks, expression) is simulated.

Coordinates are 0-based, half-open. A gene ``[start, end)`` on strand ``s`` has
``tss = start`` (``+``) or ``end - 1`` (``-``) and ``tts = end - 1`` (``+``) or ``start``
(``-``). An *oriented offset* ``o`` from an anchor ``a`` is the genomic base ``a + o`` on
``+`` and ``a - o`` on ``-``; the oriented window ``[o1, o2)`` is the genomic interval
``[a + o1, a + o2)`` on ``+`` and ``[a - o2 + 1, a - o1 + 1)`` on ``-`` (read reversed).

Determinism: every random draw comes from ``numpy.random.default_rng`` streams spawned from
``SeedSequence(seed)``; tables are written with fixed float formats, so the same seed
gives byte-identical tables and identical FASTA/bigWig content.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from kerasgene._io import check_folder_path, staged_folder, write_text
from kerasgene.dna import decode, shipped_jaspar_release, shipped_motifs
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.simulate.chromatin import chromatin_function, simulate_chromatin
from kerasgene.simulate.common import CEILING_TARGETS, GENERATOR_VERSION, MOTIF_P, SCALES
from kerasgene.simulate.genome import make_genome, write_fasta, write_gtf
from kerasgene.simulate.histone import histone_function, simulate_histone
from kerasgene.simulate.isegnet import isegnet_function, isegnet_latent, simulate_isegnet
from kerasgene.simulate.truth import TRUTH_SCHEMA, validate_truth
from kerasgene.simulate.yeast import deeprage_function, simulate_yeast

log = logging.getLogger(__name__)

__all__ = ["SCALES", "TRUTH_SCHEMA", "chromatin_function", "deeprage_function",
           "histone_function", "isegnet_function", "simulate", "validate_truth"]

# --------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------

_OWNED = ("isegnet", "chromatin", "histone", "yeast", "genome.fa", "genome.fa.fai", "genes.gtf",
          "truth.json", "README.md")


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputFileError(f"{out_dir}: output path exists and is not a directory")
    check_folder_path(out_dir, "simulate: output directory")  # not below a file
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "truth.json").exists():
        raise ConfigError(f"{out_dir}: output directory is not empty and holds no earlier simulation "
                          "(truth.json); choose an empty or new directory")


def simulate(out_dir: Path, seed: int = 0, scale: str = "medium") -> dict:
    """Write the planted-truth demo data for all four tasks and return the truth dict.

    Parameters
    ----------
    out_dir
        Output directory (created; an existing one must be empty or hold an earlier
        simulation, whose files are replaced).
    seed
        Non-negative integer; the same seed gives the same data.
    scale
        ``"small"`` (tests; ~800 genes, 3.2 Mb) or ``"medium"`` (``make demo``; ~2,000
        genes, 8 Mb, 1,000 yeast genes).

    Returns
    -------
    dict
        The content of ``out_dir/truth.json`` (schema: :data:`TRUTH_SCHEMA`).
    """
    from kerasgene import __version__

    if scale not in SCALES:
        raise ConfigError(f"simulate: scale must be one of {sorted(SCALES)}, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"simulate: seed must be a non-negative integer, got {seed!r}")
    out_dir = Path(out_dir)
    _check_out(out_dir)
    # generate into a hidden sibling directory, then move the files in: a failure leaves
    # the output directory as it was
    with staged_folder(out_dir, replaces=_OWNED) as tmp:
        truth = _generate(tmp, int(seed), scale, __version__)
    return truth


def _generate(out_dir: Path, seed: int, scale: str, version: str) -> dict:
    """Write every file of one simulation into ``out_dir``; return the truth dict."""
    sc = SCALES[scale]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
    motifs = shipped_motifs()
    log.info("simulate: genome (%s)", scale)
    genome = make_genome(streams[0], sc)
    lat = isegnet_latent(streams[1], len(genome.genes))
    log.info("simulate: iSEGnet set")
    iseg = simulate_isegnet(streams[2], genome, motifs, out_dir, sc, lat)
    # FASTA after planting/purging (the promoters changed)
    write_fasta(out_dir / "genome.fa", [(c, decode(genome.codes[c], genome.soft[c])) for c in genome.chroms])
    write_gtf(out_dir / "genes.gtf", genome.genes)
    log.info("simulate: chromatin set")
    chrom = simulate_chromatin(streams[3], genome, lat, out_dir)
    log.info("simulate: histone set")
    hist = simulate_histone(streams[4], genome, out_dir, sc)
    log.info("simulate: yeast set")
    yeast = simulate_yeast(streams[5], motifs, out_dir, sc)
    acgt = np.concatenate([genome.codes[c] for c in genome.chroms])
    acgt = acgt[acgt < 4]
    truth = {
        "generator": {"name": "kerasgene.simulate", "version": GENERATOR_VERSION,
                      "kerasgene_version": version, "seed": seed, "scale": scale,
                      "jaspar_release": shipped_jaspar_release()},
        "parameters": {"scale": asdict(sc), "ceiling_targets": dict(CEILING_TARGETS),
                       "motif_p_values": dict(MOTIF_P)},
        "genome": {
            "fasta": "genome.fa", "gtf": "genes.gtf", "chrom_sizes": dict(genome.chroms),
            "n_genes": len(genome.genes),
            "gc_fraction": float(np.isin(acgt, (1, 2)).mean()),
            "soft_masked_fraction": float(np.mean(np.concatenate(list(genome.soft.values())))),
            "n_runs": [[c, s, e] for c, s, e in genome.n_runs],
            "genes_near_chrom_end": [g.id for g in genome.genes
                                     if min(g.tss, genome.chroms[g.chrom] - 1 - g.tss) < 5_000],
            "coordinates": ("0-based half-open; tss = start (+) / end-1 (-); tts = end-1 (+) / start (-); "
                            "oriented window [o1,o2) around anchor a = [a+o1, a+o2) on +, [a-o2+1, a-o1+1) reversed on -"),
        },
        "tasks": {"isegnet": iseg, "deeprage": yeast, "chromatin": chrom, "histone_fcn": hist},
    }
    truth = json.loads(json.dumps(truth))  # plain JSON types (tuples → lists, numpy → python)
    validate_truth(truth)
    write_text(out_dir / "truth.json", json.dumps(truth, indent=1, sort_keys=True) + "\n")
    write_text(out_dir / "README.md", _README.format(seed=seed, scale=scale, version=GENERATOR_VERSION))
    return truth


_README = """# kerasgene simulated demo data (seed {seed}, scale {scale}, generator {version})

SIMULATED data with a planted truth — not real ENCODE / Roadmap / yeast measurements.
Real parts: JASPAR motif matrices used to plant motif instances, and the yeast regulator
states (DeepRAGE / MEDUSA). `truth.json` documents the generative model, the noise, the
noise-ceiling R² of each task and where the signal is. See docs/simulated_data.md.
"""
