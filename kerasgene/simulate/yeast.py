"""The yeast DeepRAGE set: promoters with planted JASPAR motifs x real regulator states."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene._io import write_text
from kerasgene.dna import Motif, decode, revcomp_codes
from kerasgene.io.regulators import read_names, unique_labels
from kerasgene.metrics import r2_score
from kerasgene.simulate.common import CEILING_TARGETS, Scale, noise_sd, write_gene_table
from kerasgene.simulate.genome import random_codes, write_fasta
from kerasgene.simulate.planting import PlantingScanner, purge, scoring_doc

log = logging.getLogger(__name__)

YEAST_BG = np.array([0.31, 0.19, 0.19, 0.31])
#: Yeast regulators with planted motifs: (common name, ORF in reg_names_R.txt, JASPAR ID,
#: weight of state x motif in the log-fold change). Signs follow the literature role
#: (Mig1, Xbp1, Nrg1 repress; the others activate).
YEAST_REGULATORS = (
    ("MIG1", "YGL035C", "MA0337.2", -1.6),
    ("MSN2", "YMR037C", "MA0341.1", 1.4),
    ("MSN4", "YKL062W", "MA0342.1", 1.4),
    ("GCN4", "YEL009C", "MA0303.3", 1.6),
    ("XBP1", "YIL101C", "MA0414.2", -1.2),
    ("AFT1", "YGL071W", "MA0269.2", 1.3),
    ("YAP1", "YML007W", "MA0415.2", 1.5),
    ("NRG1", "YDR043C", "MA0347.3", -1.2),
    ("RPN4", "YDL020C", "MA0373.1", 1.3),
    ("INO4", "YOL108C", "MA0322.1", 1.2),
    ("PHO4", "YFR034C", "MA0357.1", 1.5),
    ("ZAP1", "YJL056C", "MA0440.1", 1.3),
)

#: Regulators whose presence is called with another regulator's matrix (same motif).
YEAST_CALLED_WITH = {"MSN4": "MA0341.1"}

# --------------------------------------------------------------------------------------
# yeast DeepRAGE set
# --------------------------------------------------------------------------------------


def load_yeast_regulator_data() -> dict[str, Any]:
    """The real DeepRAGE regulator data shipped as package data.

    Returns a dict with ``regulators`` (472 ORFs), ``conditions`` (173 names as
    :func:`kerasgene.io.regulators.unique_labels` makes them: tabs become spaces, outer quotes
    go, repeats are suffixed ``#2``, ``#3``),
    ``genes`` (6,099 target ORFs), ``states`` (int8 array 472 × 173, values −1/0/+1) and
    ``raw`` (the four files' text, for copying).
    """
    base = resources.files("kerasgene").joinpath("data/deeprage_yeast")
    raw = {name: base.joinpath(name).read_text() for name in
           ("reg_names_R.txt", "expt_names_E.txt", "target_gene_names_G.txt", "reg_exp_RxE.tab")}
    regs = [ln.strip() for ln in raw["reg_names_R.txt"].splitlines() if ln.strip()]
    conds = unique_labels(read_names(base.joinpath("expt_names_E.txt")))
    genes = [ln.strip() for ln in raw["target_gene_names_G.txt"].splitlines() if ln.strip()]
    states = np.zeros((len(regs), len(conds)), dtype=np.int8)
    for ln in raw["reg_exp_RxE.tab"].splitlines():
        if ln.strip():
            r, c, s = ln.split()
            states[int(r) - 1, int(c) - 1] = int(float(s))
    return {"regulators": regs, "conditions": conds, "genes": genes, "states": states, "raw": raw}


def deeprage_function(presence: np.ndarray, states: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Noiseless log-fold change (genes × conditions).

    ``presence`` (genes × TFs, 0/1), ``states`` (TFs × conditions, −1/0/+1), ``weights``
    (TFs,): ``f[g, c] = Σ_t presence[g, t] · weights[t] · states[t, c]``.
    """
    return (presence * weights[None, :]) @ states


#: Promoter length (bp) and the N bases after each promoter when they are scanned as one.
_LENGTH = 1000
_SEP = 30


def simulate_yeast(rng: np.random.Generator, motifs: dict[str, Motif], out: Path, scale: Scale) -> dict[str, Any]:
    """Yeast DeepRAGE set.

    1 kb promoters (GC 38 %, i.i.d.) purged of chance sites of the regulators' motifs;
    each motif is planted in 22 % of genes (1 instance, 30 %: 2) at a uniform position and
    random orientation. ``logFC[g, c] = Σ_t present[g, t] · w_t · state[t, c] + ε`` with
    the real regulator states and ``present`` = a site scoring ≥ CALL on either strand of
    the final sequence. MSN2 and MSN4 bind the same STRE (AGGGG): both are called with
    MSN2's matrix, so they share their target genes.
    """
    out_dir = out / "yeast"
    data = load_yeast_regulator_data()
    gene_idx = np.sort(rng.choice(len(data["genes"]), size=scale.n_yeast_genes, replace=False))
    genes = [data["genes"][i] for i in gene_idx]
    n, L = len(genes), _LENGTH
    seqs = random_codes(rng, n * L, 0.38).reshape(n, L)
    called = [YEAST_CALLED_WITH.get(tf, mid) for tf, _orf, mid, _w in YEAST_REGULATORS]
    motif_ids = list(dict.fromkeys(called))
    scanners = [PlantingScanner(motifs[mid], YEAST_BG) for mid in motif_ids]
    cat = _concat(seqs)
    n_purged = purge(cat, scanners, rng)
    seqs = _split(cat, n)
    occupied = _plant_sites(rng, seqs, scanners)
    cat = _concat(seqs)
    protect = _concat(occupied.astype(np.uint8)).astype(bool)
    protect[np.flatnonzero(cat == 4)] = True
    purge(cat, scanners, rng, protect=protect)
    seqs = _split(cat, n)
    motif_presence, instances, ambiguous = _call_sites(seqs, scanners, genes, called)
    presence = motif_presence[:, [motif_ids.index(c) for c in called]]
    reg_rows = [data["regulators"].index(orf) for _tf, orf, _m, _w in YEAST_REGULATORS]
    states = data["states"][reg_rows].astype(np.float64)
    weights = np.array([w for *_x, w in YEAST_REGULATORS])
    f = deeprage_function(presence, states, weights)
    sd = noise_sd(float(np.var(f)), CEILING_TARGETS["deeprage"])
    y = np.round(f + rng.normal(0, sd, f.shape), 4)
    write_fasta(out_dir / "promoters.fa", [(g, decode(seqs[i])) for i, g in enumerate(genes)])
    conds = data["conditions"]
    write_gene_table(out_dir / "logfc.tsv", genes, conds, y)
    for name, text in data["raw"].items():
        write_text(out_dir / name, text)
    write_text(out_dir / "genes.txt", "\n".join(genes) + "\n")
    return {
        "dataset": "deeprage",
        "files": {"promoters": "yeast/promoters.fa", "logfc": "yeast/logfc.tsv",
                  "regulator_names": "yeast/reg_names_R.txt", "condition_names": "yeast/expt_names_E.txt",
                  "regulator_states": "yeast/reg_exp_RxE.tab", "genes": "yeast/genes.txt"},
        "real_inputs": "regulator states, regulator / condition / gene names: DeepRAGE (DeepRegret) MEDUSA data, commit 1a38007",
        "promoter": {"length": L, "orientation": "5'→3', last base just upstream of the TSS", "gc": 0.38},
        "n_genes": n, "n_conditions": len(conds), "n_regulators": len(data["regulators"]),
        "label": "log-fold change",
        "noise": {"distribution": "normal", "sd": sd, "variance": sd * sd},
        "ceiling_r2": r2_score(y.ravel(), f.ravel()),
        "function": {"name": "kerasgene.simulate.deeprage_function",
                     "formula": "logFC[g, c] = sum_t present[g, t] * weight[t] * state[t, c] + noise",
                     "presence": "a site scoring >= the matrix's call threshold on either strand anywhere in the promoter (position-independent)"},
        "regulators": _regulator_truth(data, motifs, called, genes, presence),
        "motif_scoring": {**scoring_doc(YEAST_BG), "matrices": [sc.describe() for sc in scanners],
                          "background_mutations": n_purged, "ambiguous_sites": ambiguous},
        "motif_instances": {g: rows for g, rows in instances.items() if rows},
        "class_thresholds": {"down": -0.5, "up": 0.5},
    }


def _concat(seqs: np.ndarray) -> np.ndarray:
    """Promoters (n, L) as one 1-D sequence, each followed by :data:`_SEP` N (code 4)."""
    return np.concatenate([seqs, np.full((len(seqs), _SEP), 4, np.uint8)], axis=1).ravel()


def _split(cat: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`_concat`: (n, L) promoters (a copy)."""
    return cat.reshape(n, _LENGTH + _SEP)[:, :_LENGTH].copy()


def _plant_sites(rng: np.random.Generator, seqs: np.ndarray,
                 scanners: list[PlantingScanner]) -> np.ndarray:
    """Plant each motif in 22 % of the promoters (in place; 1 instance, 30 %: 2, never
    overlapping another); return the planted positions (n, L) bool."""
    n = len(seqs)
    occupied = np.zeros(seqs.shape, dtype=bool)
    for sc in scanners:
        others = tuple(o for o in scanners if o is not sc)
        pool = sc.sample_instances(rng, n, others)
        for gi in range(n):
            if rng.random() >= 0.22:
                continue
            n_inst = 1 if rng.random() < 0.7 else 2
            for _ in range(n_inst):
                _plant_one(rng, seqs[gi], occupied[gi], sc, pool)
    return occupied


def _plant_one(rng: np.random.Generator, seq: np.ndarray, occupied: np.ndarray,
               sc: PlantingScanner, pool: np.ndarray) -> None:
    """Plant one instance of ``pool`` (either strand) at a free position of ``seq`` (30
    tries; ``seq`` and ``occupied`` are changed in place)."""
    for _try in range(30):
        p = int(rng.integers(10, len(seq) - sc.width - 10))
        if occupied[p - 1 : p + sc.width + 1].any():
            continue
        inst = pool[int(rng.integers(0, len(pool)))]
        if rng.random() < 0.5:
            inst = revcomp_codes(inst)
        seq[p : p + sc.width] = inst
        occupied[p : p + sc.width] = True
        return


def _call_sites(seqs: np.ndarray, scanners: list[PlantingScanner], genes: list[str],
                called: list[str]):
    """Motif presence (genes, motifs), the called instances per gene and the number of
    sites between the purge and call thresholds."""
    motif_presence = np.zeros((len(seqs), len(scanners)), dtype=np.float64)
    instances: dict[str, list[dict[str, Any]]] = {g: [] for g in genes}
    ambiguous = 0
    for t, sc in enumerate(scanners):
        f, r = sc.strand_scores(seqs)
        best = np.maximum(f, r)
        thr = sc.thresholds
        ambiguous += int(((best >= thr["purge"]) & (best < thr["call"])).sum())
        gi_, pos_ = np.nonzero(best >= thr["call"])
        tfs = [tf for (tf, *_x), c in zip(YEAST_REGULATORS, called) if c == sc.motif.matrix_id]
        for gi, p in zip(gi_, pos_):
            motif_presence[gi, t] = 1
            instances[genes[gi]].append({
                "tfs": tfs, "jaspar_id": sc.motif.matrix_id, "motif": sc.motif.name,
                "start": int(p), "end": int(p) + sc.width,
                "strand": "+" if f[gi, p] >= r[gi, p] else "-", "score_bits": float(best[gi, p]) / 100,
            })
    return motif_presence, instances, ambiguous


def _regulator_truth(data: dict[str, Any], motifs: dict[str, Motif], called: list[str],
                     genes: list[str], presence: np.ndarray) -> list[dict[str, Any]]:
    """truth.json's entry per planted regulator: motif, weight, states and target genes."""
    regs_truth = []
    for t, (tf, orf, mid, w) in enumerate(YEAST_REGULATORS):
        ridx = data["regulators"].index(orf)
        regs_truth.append({
            "tf": tf, "orf": orf, "regulator_index": ridx + 1, "jaspar_id": mid,
            "called_with": called[t], "motif_name": motifs[called[t]].name, "weight": w,
            "direction": "activator" if w > 0 else "repressor",
            "n_conditions_up": int((data["states"][ridx] > 0).sum()),
            "n_conditions_down": int((data["states"][ridx] < 0).sum()),
            "target_genes": [genes[i] for i in np.flatnonzero(presence[:, t])],
        })
    return regs_truth
