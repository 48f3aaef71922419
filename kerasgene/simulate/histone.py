"""The histone-bins set (DeepChrome / Team Jamaica): five marks per cell type, expression."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene._io import atomic_path, write_text
from kerasgene.metrics import r2_score
from kerasgene.simulate.common import (
    CEILING_TARGETS,
    Scale,
    bin_prefix,
    floored_noise,
    gauss,
    noise_sd,
    sigmoid,
    write_bigwig_binned,
    write_gene_table,
)
from kerasgene.simulate.genome import Genome

log = logging.getLogger(__name__)

HISTONE_MARKS = ("H3K27me3", "H3K36me3", "H3K4me1", "H3K4me3", "H3K9me3")  # DeepChrome order

#: Histone-bins expression function: (name, mark, bins [b0, b1) 0-based, slope, centre);
#: f = base + amplitude · Π_k σ(slope_k · (log1p(mean(x[b0:b1, mark_k]) / depth) − centre_k)).
HISTONE_FEATURES = (
    ("P4", "H3K4me3", 47, 54, 3.0, 1.8),
    ("B36", "H3K36me3", 55, 100, 3.0, 1.0),
    ("R27", "H3K27me3", 30, 70, -3.0, 1.3),
    ("R9", "H3K9me3", 30, 70, -3.0, 1.3),
)
HISTONE_PARAMS = {"base": 0.5, "amplitude": 11.0}

# --------------------------------------------------------------------------------------
# histone-bins set (DeepChrome / Team Jamaica)
# --------------------------------------------------------------------------------------

HISTONE_BIN = 100


def histone_function(x: np.ndarray, depth: np.ndarray, params: dict[str, float] = HISTONE_PARAMS,
                     features: tuple = HISTONE_FEATURES) -> np.ndarray:
    """Noiseless log2(TPM + 1) from DeepChrome bins: an AND of four soft gates.

    ``f = base + amplitude · Π_k σ(slope_k · (log1p(mean(x[:, b0:b1, mark_k]) / depth[mark_k])
    − centre_k))``: H3K4me3 at the TSS and H3K36me3 over the body must be present,
    H3K27me3 and H3K9me3 absent (:data:`HISTONE_FEATURES`). H3K4me1 has no effect.

    Parameters
    ----------
    x : array (n, 100, 5)
        Bins × marks in DeepChrome order (H3K27me3, H3K36me3, H3K4me1, H3K4me3, H3K9me3).
    depth : array (n, 5)
        Per-cell sequencing-depth factor of each mark (truth.json ``depth``).
    """
    gate = np.ones(len(x))
    for _name, mark, b0, b1, slope, centre in features:
        m = HISTONE_MARKS.index(mark)
        v = np.log1p(x[:, b0:b1, m].mean(1) / depth[:, m])
        gate = gate * sigmoid(slope * (v - centre))
    return params["base"] + params["amplitude"] * gate


def simulate_histone(rng: np.random.Generator, genome: Genome, out: Path, scale: Scale) -> dict[str, Any]:
    """Histone-bins set: several cell types with different activity programs.

    Genes are housekeeping (30 %) or belong to one of 8 modules; each cell type switches a
    random half of the modules on. Active genes carry H3K4me3 at the TSS, H3K36me3 over
    the body and H3K4me1 flanks; switched-off module genes are polycomb (H3K27me3, 55 %),
    heterochromatin (H3K9me3, 20 %) or unmarked. Counts per 100 bp = Poisson(depth[cell,
    mark] · (1 + signal)), depth ∈ [0.6, 1.7] per cell and mark. ``log2(TPM+1) =
    histone_function(bins, depth) + ε``.
    """
    out_dir = out / "histone"
    cells = [f"cell{c + 1:02d}" for c in range(scale.n_cells)]
    n = len(genome.genes)
    prog = _programs(rng, n, len(cells))
    x_all = np.zeros((len(cells), n, 100, 5), dtype=np.float32)
    for c, cell in enumerate(cells):
        lam = _mark_rates(rng, genome, prog, c)
        counts = _mark_counts(rng, genome, lam, prog["depth"][c])
        for m in HISTONE_MARKS:
            write_bigwig_binned(out_dir / cell / f"{m}.bigWig", genome.chroms, counts[m],
                                HISTONE_BIN)
        x_all[c] = _deepchrome_bins(genome, counts)
    x_all = np.round(x_all, 2)
    depth_g = np.repeat(prog["depth"][:, None, :], n, axis=1)
    f_all = histone_function(x_all.reshape(-1, 100, 5), depth_g.reshape(-1, 5)).reshape(len(cells), n)
    sd = noise_sd(float(np.var(f_all)), CEILING_TARGETS["histone_fcn"])
    eps = floored_noise(rng, f_all, sd, 0)
    tpm = np.round(2.0 ** (f_all + eps) - 1, 4)
    y = np.log2(tpm + 1)
    write_gene_table(out_dir / "expression.tsv", [g.id for g in genome.genes], cells,
                     tpm.T)
    # splits over genes (shared by all cells) and the DeepChrome CSVs
    perm = rng.permutation(n)
    n_tr, n_va = int(0.6 * n), int(0.2 * n)
    split_idx = {"train": np.sort(perm[:n_tr]), "valid": np.sort(perm[n_tr : n_tr + n_va]),
                 "test": np.sort(perm[n_tr + n_va :])}
    _write_deepchrome_csvs(out_dir / "deepchrome", genome, cells, x_all, y, split_idx)
    # Kaggle npz, one file per set of the genes' split: train.npz and valid.npz hold every
    # cell type but the held-out one; eval.npz (the test genes) every cell type
    heldout = cells[-1:]
    seen = [c for c in cells if c not in heldout]
    kaggle = {"train": ("train", seen, split_idx["train"]), "valid": ("valid", seen, split_idx["valid"]),
              "test": ("eval", cells, split_idx["test"])}
    for name, cell_list, idx in kaggle.values():
        arrs = {cell: _kaggle_array(genome, x_all[cells.index(cell)], y[cells.index(cell)], idx)
                for cell in cell_list}
        with atomic_path(out_dir / "kaggle" / f"{name}.npz") as tmp:
            np.savez(tmp, **arrs)
    return {
        "dataset": "histone",
        "serves": ["histone_fcn", "deepchrome"],
        "files": {
            "tracks": {cell: {m: f"histone/{cell}/{m}.bigWig" for m in HISTONE_MARKS} for cell in cells},
            "expression": "histone/expression.tsv",
            "deepchrome_csv": {cell: {s: f"histone/deepchrome/{cell}/{s}.csv" for s in split_idx} for cell in cells},
            "kaggle_npz": {s: f"histone/kaggle/{name}.npz" for s, (name, _, _) in kaggle.items()},
            "gtf": "genes.gtf", "fasta": "genome.fa",
        },
        "cells": cells,
        "heldout_cells": heldout,
        "marks": list(HISTONE_MARKS),
        "bins": {"n": 100, "size": HISTONE_BIN, "window": {"anchor": "TSS", "start": -5000, "end": 5000},
                 "orientation": "5'→3' of the gene (bin 51 starts at the TSS)"},
        "track_units": "read counts per 100 bp (Poisson), on a genome-wide 100 bp grid",
        "label": "log2(TPM + 1); DeepChrome label = 1 if above the cell type's median",
        "gene_id_numeric": "DeepChrome GeneID / Kaggle column 0 = numeric part of gene_id (SIMG000123 → 123)",
        "split": {k: [genome.genes[i].id for i in v] for k, v in split_idx.items()},
        "depth": {cell: {m: float(prog["depth"][c, mi]) for mi, m in enumerate(HISTONE_MARKS)}
                  for c, cell in enumerate(cells)},
        "programs": {"modules_on": {cell: [int(k) for k in np.flatnonzero(prog["on"][c])]
                                    for c, cell in enumerate(cells)},
                     "gene_module": {g.id: int(prog["module"][i]) for i, g in enumerate(genome.genes)}},
        "noise": {"distribution": "normal, redrawn where f + ε < 0", "sd": sd, "variance": sd * sd},
        "ceiling_r2": r2_score(y.ravel(), f_all.ravel()),
        "ceiling_r2_per_cell": {cell: r2_score(y[c], f_all[c]) for c, cell in enumerate(cells)},
        **_model_doc(),
    }


def _model_doc() -> dict[str, Any]:
    """The generative model's documentation in truth.json (function, features, effects)."""
    return {
        "function": {
            "name": "kerasgene.simulate.histone_function",
            "formula": ("f = base + amplitude * prod_k sigmoid(slope_k * (log1p(mean(x[b0_k:b1_k, mark_k]) "
                        "/ depth[cell, mark_k]) - centre_k)); bins 0-based half-open"),
            "parameters": dict(HISTONE_PARAMS),
        },
        "features": [{"name": n_, "mark": m, "bins": [b0, b1], "slope": sl, "centre": ce,
                      "direction": "+" if sl > 0 else "-"}
                     for n_, m, b0, b1, sl, ce in HISTONE_FEATURES],
        "effects": [{"mark": "H3K4me1", "direction": "0", "kind": "no effect (decoy)"},
                    {"mark": "depth", "direction": "0", "kind": "per-cell depth factors scale the counts but not expression: the gates act on depth-normalised signal"}],
    }



def _programs(rng: np.random.Generator, n: int, n_cells: int) -> dict[str, np.ndarray]:
    """Gene modules (−1 = housekeeping), modules on per cell (n_cells, 8), base activity,
    kind of silencing (0 polycomb, 1 heterochromatin, 2 unmarked) and depth (n_cells, 5)."""
    module = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 8, n))
    on = rng.random((n_cells, 8)) < 0.5
    for c in range(n_cells):  # at least two modules on and two off
        if on[c].sum() < 2 or on[c].sum() > 6:
            on[c] = np.isin(np.arange(8), rng.choice(8, 4, replace=False))
    base_act = rng.uniform(0.3, 1.0, n)
    off_kind = rng.choice(3, size=n, p=[0.55, 0.20, 0.25])  # polycomb, heterochromatin, unmarked
    depth = np.round(rng.uniform(0.6, 1.7, (n_cells, 5)), 3)
    return {"module": module, "on": on, "base_act": base_act, "off_kind": off_kind,
            "depth": depth}


def _activity(rng: np.random.Generator, prog: dict[str, np.ndarray], c: int) -> np.ndarray:
    """Activity of every gene in cell ``c`` (0 for genes of switched-off modules)."""
    module, on, base_act = prog["module"], prog["on"], prog["base_act"]
    n = len(module)
    act = np.where(module < 0, np.clip(base_act * np.exp(rng.normal(0, 0.15, n)), 0, 1),
                   np.where(on[c, np.maximum(module, 0)], np.clip(base_act * np.exp(rng.normal(0, 0.3, n)), 0, 1), 0.0))
    return np.where((module >= 0) & ~on[c, np.maximum(module, 0)], 0.0, act)


def _mark_rates(rng: np.random.Generator, genome: Genome, prog: dict[str, np.ndarray],
                c: int) -> dict[str, dict[str, np.ndarray]]:
    """Poisson rate per mark, chromosome and 100 bp bin of cell ``c`` (before depth):
    1 + the shapes of active and silenced genes."""
    B = HISTONE_BIN
    act = _activity(rng, prog, c)
    module, on, off_kind = prog["module"], prog["on"], prog["off_kind"]
    lam = {m: {chrom: np.ones(-(-length // B)) for chrom, length in genome.chroms.items()}
           for m in HISTONE_MARKS}
    for i, g in enumerate(genome.genes):
        nb = len(lam["H3K4me3"][g.chrom])
        lo = max(0, (min(g.start, g.end) - 8_000) // B)
        hi = min(nb, (max(g.start, g.end) + 8_000) // B + 1)
        centers = np.arange(lo, hi) * B + B / 2
        o = (centers - g.tss) if g.strand == "+" else (g.tss - centers)
        sl = slice(lo, hi)
        a = act[i]
        silent = (module[i] >= 0) and not on[c, module[i]]
        if a > 0:
            lam["H3K4me3"][g.chrom][sl] += 20 * a * gauss(o, 150, 500)
            lam["H3K4me1"][g.chrom][sl] += 6 * np.sqrt(a) * (gauss(o, -1500, 500) + gauss(o, 1500, 500))
            body = (o >= 500) & (o < g.length)
            lam["H3K36me3"][g.chrom][sl] += 6 * a * body * np.clip(o / 3000, 0.3, 1)
        if silent and off_kind[i] == 0:
            lam["H3K27me3"][g.chrom][sl] += 8 * rng.uniform(0.5, 1.0) * sigmoid((o + 5000) / 300) * sigmoid((g.length + 3000 - o) / 300)
        if silent and off_kind[i] == 1:
            lam["H3K9me3"][g.chrom][sl] += 6 * rng.uniform(0.5, 1.0) * sigmoid((o + 7000) / 300) * sigmoid((g.length + 5000 - o) / 300)
    return lam


def _mark_counts(rng: np.random.Generator, genome: Genome, lam: dict[str, dict[str, np.ndarray]],
                 depth: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Poisson counts per mark and chromosome (``depth``: (5,) factors), 0 in N runs."""
    B = HISTONE_BIN
    counts = {}
    for mi, m in enumerate(HISTONE_MARKS):
        counts[m] = {}
        for chrom in genome.chroms:
            v = rng.poisson(depth[mi] * lam[m][chrom]).astype(np.float32)
            for c2, s, e in genome.n_runs:
                if c2 == chrom:
                    v[s // B : -(-e // B)] = 0
            counts[m][chrom] = v
    return counts


def _deepchrome_bins(genome: Genome, counts: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """DeepChrome bins of one cell: TSS-relative 100 bp bins, 5' → 3'; (genes, 100, 5)."""
    B = HISTONE_BIN
    x = np.zeros((len(genome.genes), 100, 5), dtype=np.float32)
    for chrom, length in genome.chroms.items():
        idx = [i for i, g in enumerate(genome.genes) if g.chrom == chrom]
        prefixes = [bin_prefix(counts[m][chrom], B, length) for m in HISTONE_MARKS]
        for i in idx:
            g = genome.genes[i]
            s, e = g.interval("TSS", -5000, 5000)
            edges = np.arange(s, e + 1, B)
            for mi, prefix in enumerate(prefixes):
                vals = np.diff(prefix(edges)) / B
                x[i, :, mi] = vals if g.strand == "+" else vals[::-1]
    return x


def _write_deepchrome_csvs(out_dir: Path, genome: Genome, cells: list[str], x_all: np.ndarray,
                           y: np.ndarray, split_idx: dict[str, np.ndarray]) -> None:
    """``out_dir/CELL/SPLIT.csv`` in DeepChrome's layout (GeneID, BinID, 5 marks, label =
    expression above the cell's median)."""
    gnum = np.array([g.index for g in genome.genes], dtype=np.float64)
    row_fmt = "%06d,%d,%g,%g,%g,%g,%g,%d"
    for c, cell in enumerate(cells):
        med = float(np.median(y[c]))
        for split, idx in split_idx.items():
            k = len(idx)
            arr = np.zeros((k, 100, 8))
            arr[:, :, 0] = gnum[idx][:, None]
            arr[:, :, 1] = np.arange(1, 101)[None, :]
            arr[:, :, 2:7] = x_all[c, idx]
            arr[:, :, 7] = (y[c, idx] > med)[:, None]
            text = "\n".join(row_fmt % tuple(r) for r in arr.reshape(-1, 8).tolist())
            write_text(out_dir / cell / f"{split}.csv", text + "\n")


def _kaggle_array(genome: Genome, x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One cell's Kaggle array (genes ``idx``, 100, 7): numeric gene id, 5 marks, expression."""
    a = np.zeros((len(idx), 100, 7), dtype=np.float64)
    a[:, :, 0] = np.array([genome.genes[i].index for i in idx])[:, None]
    a[:, :, 1:6] = x[idx]
    a[:, :, 6] = np.round(y[idx], 6)[:, None]
    return a
