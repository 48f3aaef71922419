"""Shared parts of the simulator: scales, constants, small numeric helpers, bigWig writers."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasgene._io import write_text
from kerasgene.io.track_formats import value_runs, write_bigwig_entries

log = logging.getLogger(__name__)

#: Bumped whenever a (seed, scale) pair writes other data: 1.1.0 doubled the small scale's
#: yeast promoters (500 -> 1,000; DeepRAGE-TP learned only 7 of the 11 planted motifs from 500).
GENERATOR_VERSION = "1.1.0"


#: Motif thresholds as background p-values per site and strand (see :class:`PlantingScanner`):
#: the background is purged of every site with P <= purge, a site with P <= call is an
#: instance, planted instances have P <= plant.
MOTIF_P = {"purge": 1e-3, "call": 1e-4, "plant": 1e-5}

CEILING_TARGETS = {"isegnet": 0.85, "deeprage": 0.80, "histone_fcn": 0.80}


@dataclass(frozen=True)
class Scale:
    """Sizes of one simulation scale."""

    chrom_sizes: tuple[int, ...]
    n_genes: int
    n_biosamples: int
    n_cells: int
    n_yeast_genes: int


SCALES = {
    "small": Scale((1_500_000, 1_300_000, 1_100_000, 900_000), 1200, 2, 4, 1000),
    "medium": Scale((2_000_000, 1_600_000, 1_400_000, 1_200_000, 1_000_000, 800_000),
                    2000, 2, 6, 1000),
}


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def oriented_interval(anchor: int, strand: str, o1: int, o2: int) -> tuple[int, int]:
    """Genomic ``[start, end)`` of the oriented window ``[o1, o2)`` around ``anchor``."""
    if strand == "+":
        return anchor + o1, anchor + o2
    return anchor - o2 + 1, anchor - o1 + 1


def fmt(x: float, digits: int = 4) -> str:
    s = f"{x:.{digits}f}"
    return "0" if float(s) == 0 else s.rstrip("0").rstrip(".") if "." in s else s


def noise_sd(variance: float, ceiling: float) -> float:
    """Noise sd giving a noiseless function of ``variance`` the R² ``ceiling``."""
    return math.sqrt(variance * (1 - ceiling) / ceiling)


def floored_noise(rng: np.random.Generator, f: np.ndarray, sd: float, floor: float) -> np.ndarray:
    """Gaussian noise ε ~ N(0, sd²) of ``f``'s shape, redrawn wherever ``f + ε < floor``."""
    eps = rng.normal(0, sd, f.shape)
    bad = f + eps < floor
    while bad.any():
        eps[bad] = rng.normal(0, sd, int(bad.sum()))
        bad = f + eps < floor
    return eps


def write_gene_table(path: Path, gene_ids: list[str], columns: list[str],
                     values: np.ndarray) -> None:
    """Write a tab-separated ``gene_id`` × ``columns`` table of ``values`` (genes, columns)
    with :func:`fmt`."""
    lines = ["gene_id\t" + "\t".join(columns)]
    for gid, row in zip(gene_ids, values):
        lines.append(gid + "\t" + "\t".join(fmt(v) for v in row))
    write_text(path, "\n".join(lines) + "\n")


#: Zoom levels of the simulator's bigWigs (fixed: the files are part of its output).
SIM_ZOOMS = 6


# --------------------------------------------------------------------------------------
# bigWig writing and binned arrays
# --------------------------------------------------------------------------------------


def write_bigwig_binned(path: Path, chroms: dict[str, int], binned: dict[str, np.ndarray],
                        bin_size: int) -> None:
    """Write per-bin values as bedGraph-like runs (equal neighbours merged, zeros omitted)."""
    entries = {}
    for chrom, length in chroms.items():
        starts, ends, values = value_runs(np.asarray(binned[chrom], dtype=np.float32))
        entries[chrom] = (starts * bin_size, np.minimum(ends * bin_size, length), values)
    write_bigwig_entries(path, chroms, entries, max_zooms=SIM_ZOOMS)


def write_bigwig_sites(path: Path, chroms: dict[str, int], sites: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write single-base entries (WGBS: percent methylation at CpG positions)."""
    entries = {c: (pos, pos.astype(np.int64) + 1, val) for c, (pos, val) in sites.items()}
    write_bigwig_entries(path, chroms, entries, max_zooms=SIM_ZOOMS)


def bin_prefix(v: np.ndarray, bin_size: int, length: int):
    """Return P(x) = sum of per-base values over [0, x) for a binned track."""
    v = np.asarray(v, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(v * bin_size)])

    def prefix(x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x), 0, length)
        k = np.minimum(x // bin_size, len(v) - 1)
        return cum[k] + (x - k * bin_size) * v[k]

    return prefix


def window_means(prefix, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    return (prefix(ends) - prefix(starts)) / (ends - starts)


def gauss(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sd) ** 2)

