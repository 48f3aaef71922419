"""The histone-bins set (DeepChrome / Team Jamaica): five marks per cell type, expression."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene._io import write_text
from kerasgene.metrics import r2_score
from kerasgene.simulate.common import (
    CEILING_TARGETS,
    Scale,
    bin_prefix,
    fmt,
    gauss,
    sigmoid,
    write_bigwig_binned,
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
    module = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 8, n))
    on = rng.random((len(cells), 8)) < 0.5
    for c in range(len(cells)):  # at least two modules on and two off
        if on[c].sum() < 2 or on[c].sum() > 6:
            on[c] = np.isin(np.arange(8), rng.choice(8, 4, replace=False))
    base_act = rng.uniform(0.3, 1.0, n)
    off_kind = rng.choice(3, size=n, p=[0.55, 0.20, 0.25])  # polycomb, heterochromatin, unmarked
    depth = np.round(rng.uniform(0.6, 1.7, (len(cells), 5)), 3)
    B = HISTONE_BIN
    x_all = np.zeros((len(cells), n, 100, 5), dtype=np.float32)
    for c, cell in enumerate(cells):
        act = np.where(module < 0, np.clip(base_act * np.exp(rng.normal(0, 0.15, n)), 0, 1),
                       np.where(on[c, np.maximum(module, 0)], np.clip(base_act * np.exp(rng.normal(0, 0.3, n)), 0, 1), 0.0))
        act = np.where((module >= 0) & ~on[c, np.maximum(module, 0)], 0.0, act)
        lam = {m: {} for m in HISTONE_MARKS}
        for chrom, length in genome.chroms.items():
            nb = -(-length // B)
            for m in HISTONE_MARKS:
                lam[m][chrom] = np.ones(nb)
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
        counts = {}
        for mi, m in enumerate(HISTONE_MARKS):
            counts[m] = {}
            for chrom in genome.chroms:
                v = rng.poisson(depth[c, mi] * lam[m][chrom]).astype(np.float32)
                for c2, s, e in genome.n_runs:
                    if c2 == chrom:
                        v[s // B : -(-e // B)] = 0
                counts[m][chrom] = v
            write_bigwig_binned(out_dir / cell / f"{m}.bigWig", genome.chroms, counts[m], B)
        # DeepChrome bins: TSS-relative 100 bp bins, 5' → 3'
        for chrom, length in genome.chroms.items():
            idx = [i for i, g in enumerate(genome.genes) if g.chrom == chrom]
            prefixes = [bin_prefix(counts[m][chrom], B, length) for m in HISTONE_MARKS]
            for i in idx:
                g = genome.genes[i]
                s, e = g.interval("TSS", -5000, 5000)
                edges = np.arange(s, e + 1, B)
                for mi, prefix in enumerate(prefixes):
                    vals = np.diff(prefix(edges)) / B
                    x_all[c, i, :, mi] = vals if g.strand == "+" else vals[::-1]
    x_all = np.round(x_all, 2)
    depth_g = np.repeat(depth[:, None, :], n, axis=1)
    f_all = histone_function(x_all.reshape(-1, 100, 5), depth_g.reshape(-1, 5)).reshape(len(cells), n)
    target = CEILING_TARGETS["histone_fcn"]
    sd = math.sqrt(float(np.var(f_all)) * (1 - target) / target)
    eps = rng.normal(0, sd, f_all.shape)
    bad = f_all + eps < 0
    while bad.any():
        eps[bad] = rng.normal(0, sd, int(bad.sum()))
        bad = f_all + eps < 0
    tpm = np.round(2.0 ** (f_all + eps) - 1, 4)
    y = np.log2(tpm + 1)
    lines = ["gene_id\t" + "\t".join(cells)]
    for i, g in enumerate(genome.genes):
        lines.append(g.gene_id + "\t" + "\t".join(fmt(tpm[c, i]) for c in range(len(cells))))
    write_text(out_dir / "expression.tsv", "\n".join(lines) + "\n")
    # splits over genes (shared by all cells) and the DeepChrome CSVs
    perm = rng.permutation(n)
    n_tr, n_va = int(0.6 * n), int(0.2 * n)
    split_idx = {"train": np.sort(perm[:n_tr]), "valid": np.sort(perm[n_tr : n_tr + n_va]),
                 "test": np.sort(perm[n_tr + n_va :])}
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
            write_text(out_dir / "deepchrome" / cell / f"{split}.csv", text + "\n")
    # Kaggle npz: train.npz = first cells minus one held out, train+valid genes; eval.npz = all cells, test genes
    heldout = cells[-1:]
    train_cells = [c for c in cells if c not in heldout]

    def kaggle(cell_list, idx):
        arrs = {}
        for cell in cell_list:
            c = cells.index(cell)
            a = np.zeros((len(idx), 100, 7), dtype=np.float64)
            a[:, :, 0] = np.array([genome.genes[i].index for i in idx])[:, None]
            a[:, :, 1:6] = x_all[c, idx]
            a[:, :, 6] = np.round(y[c, idx], 6)[:, None]
            arrs[cell] = a
        return arrs

    (out_dir / "kaggle").mkdir(parents=True, exist_ok=True)
    tr_idx = np.sort(np.concatenate([split_idx["train"], split_idx["valid"]]))
    for name, arrs in (("train", kaggle(train_cells, tr_idx)), ("eval", kaggle(cells, split_idx["test"]))):
        path = out_dir / "kaggle" / f"{name}.npz"
        tmp = out_dir / "kaggle" / f"{name}.tmp.npz"
        np.savez(tmp, **arrs)
        os.replace(tmp, path)
    return {
        "dataset": "histone",
        "serves": ["histone_fcn", "deepchrome"],
        "files": {
            "tracks": {cell: {m: f"histone/{cell}/{m}.bigWig" for m in HISTONE_MARKS} for cell in cells},
            "expression": "histone/expression.tsv",
            "deepchrome_csv": {cell: {s: f"histone/deepchrome/{cell}/{s}.csv" for s in split_idx} for cell in cells},
            "kaggle_npz": {"train": "histone/kaggle/train.npz", "eval": "histone/kaggle/eval.npz"},
            "gtf": "genes.gtf", "fasta": "genome.fa",
        },
        "cells": cells,
        "heldout_cells": heldout,
        "marks": list(HISTONE_MARKS),
        "bins": {"n": 100, "size": B, "window": {"anchor": "TSS", "start": -5000, "end": 5000},
                 "orientation": "5'→3' of the gene (bin 51 starts at the TSS)"},
        "track_units": "read counts per 100 bp (Poisson), on a genome-wide 100 bp grid",
        "label": "log2(TPM + 1); DeepChrome label = 1 if above the cell type's median",
        "gene_id_numeric": "DeepChrome GeneID / Kaggle column 0 = numeric part of gene_id (SIMG000123 → 123)",
        "split": {k: [genome.genes[i].gene_id for i in v] for k, v in split_idx.items()},
        "depth": {cell: {m: float(depth[c, mi]) for mi, m in enumerate(HISTONE_MARKS)} for c, cell in enumerate(cells)},
        "programs": {"modules_on": {cell: [int(k) for k in np.flatnonzero(on[c])] for c, cell in enumerate(cells)},
                     "gene_module": {g.gene_id: int(module[i]) for i, g in enumerate(genome.genes)}},
        "noise": {"distribution": "normal, redrawn where f + ε < 0", "sd": sd, "variance": sd * sd},
        "ceiling_r2": r2_score(y.ravel(), f_all.ravel()),
        "ceiling_r2_per_cell": {cell: r2_score(y[c], f_all[c]) for c, cell in enumerate(cells)},
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

