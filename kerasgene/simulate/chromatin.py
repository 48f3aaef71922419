"""The chromatin-imputation set: GRO-seq strands and four smoothed chromatin targets in 50 bp bins."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene.metrics import r2_score
from kerasgene.simulate.common import write_bigwig_binned
from kerasgene.simulate.genome import Genome

log = logging.getLogger(__name__)

CHROMATIN_INPUTS = ("groseq_plus", "groseq_minus")
CHROMATIN_TARGETS = ("H3K4me3", "H3K27ac", "H3K27me3", "DNase")

# --------------------------------------------------------------------------------------
# chromatin-imputation set
# --------------------------------------------------------------------------------------

CHROMATIN_BIN = 50
CHROMATIN_KERNELS = {  # target: (driver, gaussian kernel sd in bins, amplitude, smoothed-ceiling goal)
    "H3K4me3": ("divergent", 12.0, 70.0, 0.75),
    "H3K27ac": ("total", 25.0, 120.0, 0.75),
    "DNase": ("divergent", 2.0, 12.0, 0.60),
    "H3K27me3": ("repressed", 100.0, 3.0, None),
}
CHROMATIN_NOISE_SMOOTH = 20.0  # bins
CHROMATIN_NOISE_SMOOTH_FRACTION = 0.5
CHROMATIN_K27_NOISE_SD = 0.3
CHROMATIN_K27_DOMAINS = (0.3, 1.5)  # amplitude range of polycomb domains unrelated to GRO-seq
CHROMATIN_DRIVERS = {"box_half_width": 4, "divergent_half_saturation": 8.0, "total_half_saturation": 15.0,
                     "repressed_scale": 0.1}


def _gauss_kernel(sd: float) -> np.ndarray:
    half = int(math.ceil(4 * sd))
    x = np.arange(-half, half + 1)
    k = np.exp(-0.5 * (x / sd) ** 2)
    return k / k.sum()


def chromatin_drivers(plus: np.ndarray, minus: np.ndarray) -> dict[str, np.ndarray]:
    """Nonlinear drivers of the chromatin targets from binned GRO-seq (one chromosome).

    ``Ps, Ms`` = sums over ±4 bins; ``divergent = √(Ps·Ms)/(√(Ps·Ms) + 8)`` (initiation on
    both strands: promoters, enhancers); ``total = (Ps+Ms)/(Ps+Ms+15)``.
    """
    hw = CHROMATIN_DRIVERS["box_half_width"]
    box = np.ones(2 * hw + 1)
    ps = np.convolve(plus, box, mode="same")
    ms = np.convolve(minus, box, mode="same")
    div = np.sqrt(ps * ms)
    tot = ps + ms
    return {"divergent": div / (div + CHROMATIN_DRIVERS["divergent_half_saturation"]),
            "total": tot / (tot + CHROMATIN_DRIVERS["total_half_saturation"])}


def chromatin_function(plus: np.ndarray, minus: np.ndarray) -> dict[str, np.ndarray]:
    """Noiseless fold-change of every target per 50 bp bin, from binned GRO-seq."""
    from scipy.signal import fftconvolve

    d = chromatin_drivers(plus, minus)
    out = {}
    for target, (driver, sd, amp, _goal) in CHROMATIN_KERNELS.items():
        if driver == "repressed":
            near = fftconvolve(d["total"], _gauss_kernel(sd), mode="same")
            out[target] = 1.0 + amp * np.exp(-np.maximum(near, 0) / CHROMATIN_DRIVERS["repressed_scale"])
        else:
            out[target] = 1.0 + amp * np.maximum(fftconvolve(d[driver], _gauss_kernel(sd), mode="same"), 0)
    return out


@dataclass
class _Signals:
    """Per chromosome: GRO-seq counts (``plus``, ``minus``), non-N bins (``valid``), the
    noiseless targets (``clean``: target → array), unit-variance log noise (``unit``) and
    the H3K27me3 polycomb domains (``domains``)."""

    plus: dict[str, np.ndarray]
    minus: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    clean: dict[str, dict[str, np.ndarray]]
    unit: dict[str, dict[str, np.ndarray]]
    domains: dict[str, np.ndarray] = field(default_factory=dict)


def simulate_chromatin(rng: np.random.Generator, genome: Genome, lat: dict[str, np.ndarray],
                        out: Path) -> dict[str, Any]:
    """Chromatin-imputation set (50 bp bins).

    GRO-seq: for active genes a sense pause peak at TSS+50 (60·activity), a divergent
    antisense peak at TSS−200 (85 % of genes), gene-body transcription with 1-4 kb
    read-through; poised genes a small sense-only peak; enhancers (1 per 20 kb) initiate on
    both strands, "unidirectional" sites (1 per 20 kb) on one; Poisson counts. Targets
    (fold change) = ``chromatin_function(plus, minus)`` + white and smooth gaussian noise;
    H3K27me3 gets independent polycomb domains as well, so it is only weakly coupled.
    N runs are 0 in every track (unmappable).
    """
    out_dir = out / "chromatin"
    B = CHROMATIN_BIN
    plus_d, minus_d = _initiation_rates(rng, genome)
    _add_gene_transcription(rng, genome, lat, plus_d, minus_d)
    sig = _observe_groseq(rng, genome, plus_d, minus_d)
    sig.domains = _polycomb_domains(rng, genome, sig.valid)
    targets_truth = {}
    for target in CHROMATIN_TARGETS:
        goal = CHROMATIN_KERNELS[target][3]
        sd = CHROMATIN_K27_NOISE_SD if goal is None else _calibrated_sd(genome, sig, target, goal)
        obs = _observe(genome, sig, target, sd)
        write_bigwig_binned(out_dir / f"{target}.bigWig", genome.chroms, obs, B)
        targets_truth[target] = _target_truth(target, sd, _ceilings(genome, sig, obs, target))
    write_bigwig_binned(out_dir / "groseq_plus.bigWig", genome.chroms, sig.plus, B)
    write_bigwig_binned(out_dir / "groseq_minus.bigWig", genome.chroms, sig.minus, B)
    names = list(genome.chroms)
    return {
        "dataset": "chromatin",
        "files": {"inputs": {k: f"chromatin/{k}.bigWig" for k in CHROMATIN_INPUTS},
                  "targets": {t: f"chromatin/{t}.bigWig" for t in CHROMATIN_TARGETS}},
        "bin_size": B,
        "input_units": "GRO-seq read counts per 50 bp bin; minus-strand values stored as positive numbers",
        "target_units": "fold change over input per 50 bp bin (0 in N runs)",
        "primary_target": "H3K4me3",
        "ceiling_r2": targets_truth["H3K4me3"]["ceiling_r2_smoothed"],
        "ceiling_definition": "R² of the noiseless function vs the written target over non-N bins; '_smoothed' after a gaussian filter with sd 10 bins applied to both (the paper's label smoothing)",
        "function": {"name": "kerasgene.simulate.chromatin_function", "drivers": dict(CHROMATIN_DRIVERS),
                     "formula": "target = 1 + amplitude * (gaussian_kernel * driver); H3K27me3 = 1 + 3*exp(-(gaussian_100 * total)/0.1) + mean-centred polycomb domains"},
        "targets": targets_truth,
        "suggested_split": {"train": [c for c in names if c not in (names[1], names[-1])],
                            "valid": [names[1]], "test": [names[-1]]},
        "effects": [
            {"input": "divergent transcription (both strands within ±200 bp)", "target": "H3K4me3", "direction": "+"},
            {"input": "total local initiation", "target": "H3K27ac", "direction": "+"},
            {"input": "divergent transcription, narrow", "target": "DNase", "direction": "+"},
            {"input": "no transcription within ~5 kb", "target": "H3K27me3", "direction": "+ (weak)"},
        ],
    }


def _initiation_rates(rng: np.random.Generator, genome: Genome
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """GRO-seq rates (plus, minus) per chromosome and 50 bp bin: background, enhancers
    (both strands) and unidirectional initiation sites."""
    B = CHROMATIN_BIN
    plus_d, minus_d = {}, {}
    for chrom, length in genome.chroms.items():
        nb = -(-length // B)
        lam_p = np.full(nb, 0.03)
        lam_m = np.full(nb, 0.03)
        for _ in range(int(length / 20_000)):  # enhancers
            b = int(rng.integers(5, nb - 5))
            a = rng.uniform(5, 30)
            lam_m[b - 2] += a * rng.uniform(0.5, 1.0)
            lam_p[b + 2] += a * rng.uniform(0.5, 1.0)
        for _ in range(int(length / 20_000)):  # unidirectional initiation
            b = int(rng.integers(0, nb))
            (lam_p if rng.random() < 0.5 else lam_m)[b] += rng.uniform(5, 30)
        plus_d[chrom], minus_d[chrom] = lam_p, lam_m
    return plus_d, minus_d


def _put(track: dict[str, np.ndarray], g, offset: int, amount: float) -> None:
    """Add ``amount`` to the bin ``offset`` bp downstream of gene ``g``'s TSS, if any."""
    nb = len(track[g.chrom])
    b = (g.tss + (1 if g.strand == "+" else -1) * offset) // CHROMATIN_BIN
    if 0 <= b < nb:
        track[g.chrom][b] += amount


def _add_gene_transcription(rng: np.random.Generator, genome: Genome, lat: dict[str, np.ndarray],
                            plus_d: dict[str, np.ndarray], minus_d: dict[str, np.ndarray]) -> None:
    """Add (in place) the pause peaks, divergent antisense peaks and gene-body transcription
    of active genes and the small sense peaks of poised genes."""
    for i, g in enumerate(genome.genes):
        st = lat["state"][i]
        sense, anti = (plus_d, minus_d) if g.strand == "+" else (minus_d, plus_d)
        if st == 0:
            a = lat["activity"][i]
            for off, frac in ((0, 0.15), (50, 0.7), (100, 0.15)):
                _put(sense, g, off, 60 * a * frac)
            if rng.random() < 0.85:
                _put(anti, g, -200, 60 * a * rng.uniform(0.2, 0.8))
            rt = int(rng.integers(1_000, 4_000))
            offs = np.arange(300, g.length + rt, CHROMATIN_BIN)
            b = (g.tss + (1 if g.strand == "+" else -1) * offs) // CHROMATIN_BIN
            ok = (b >= 0) & (b < len(sense[g.chrom]))
            np.add.at(sense[g.chrom], b[ok], 0.6 * a)
        elif st == 1:
            _put(sense, g, 50, 10 * lat["aK4"][i])


def _observe_groseq(rng: np.random.Generator, genome: Genome, plus_d: dict[str, np.ndarray],
                    minus_d: dict[str, np.ndarray]) -> _Signals:
    """Poisson GRO-seq counts (0 in N runs), the noiseless targets and the unit-variance
    log-scale noise of every target (white + 1 kb-correlated)."""
    from scipy.ndimage import gaussian_filter1d

    B = CHROMATIN_BIN
    sig = _Signals({}, {}, {}, {}, {})
    for chrom in genome.chroms:
        p = rng.poisson(plus_d[chrom]).astype(np.float32)
        m = rng.poisson(minus_d[chrom]).astype(np.float32)
        valid = np.ones(len(p), dtype=bool)
        for c2, s, e in genome.n_runs:
            if c2 == chrom:
                valid[s // B : -(-e // B)] = False
        p[~valid] = 0
        m[~valid] = 0
        sig.plus[chrom], sig.minus[chrom], sig.valid[chrom] = p, m, valid
        sig.clean[chrom] = {t: np.where(valid, v, 0.0) for t, v in chromatin_function(p, m).items()}
        sig.unit[chrom] = {}
        for target in CHROMATIN_TARGETS:
            smooth = gaussian_filter1d(rng.normal(0, 1, len(p)), CHROMATIN_NOISE_SMOOTH)
            smooth /= math.sqrt(1.0 / (2 * math.sqrt(math.pi) * CHROMATIN_NOISE_SMOOTH))
            sig.unit[chrom][target] = math.sqrt(1 - CHROMATIN_NOISE_SMOOTH_FRACTION) * rng.normal(0, 1, len(p)) \
                + math.sqrt(CHROMATIN_NOISE_SMOOTH_FRACTION) * smooth
    return sig


def _polycomb_domains(rng: np.random.Generator, genome: Genome, valid: dict[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
    """Polycomb domains unrelated to transcription, mean-centred over the non-N bins (so
    they are pure noise)."""
    domains = {}
    for chrom in genome.chroms:
        nb = len(valid[chrom])
        extra = np.zeros(nb)
        for _ in range(max(1, int(nb * CHROMATIN_BIN / 60_000))):
            c0 = int(rng.integers(0, nb))
            half = int(rng.uniform(100, 600))
            extra[max(0, c0 - half) : c0 + half] += rng.uniform(*CHROMATIN_K27_DOMAINS)
        domains[chrom] = extra - extra[valid[chrom]].mean()
    return domains


def _observe(genome: Genome, sig: _Signals, target: str, sd: float) -> dict[str, np.ndarray]:
    """The written target: clean × mean-preserving log-normal noise of sd ``sd``, rounded."""
    out_ = {}
    for c in genome.chroms:
        base = sig.clean[c][target] + (sig.domains[c] if target == "H3K27me3" else 0.0)
        v = np.maximum(base, 0) * np.exp(sd * sig.unit[c][target] - sd * sd / 2)
        v = np.round(np.where(sig.valid[c], v, 0), 3)
        out_[c] = v.astype(np.float32)
    return out_


def _ceilings(genome: Genome, sig: _Signals, obs: dict[str, np.ndarray], target: str
              ) -> tuple[float, float, float]:
    """R² of the clean target on the observed bins, R² and Pearson r after smoothing
    both with a gaussian of sd 10 bins (non-N bins)."""
    from scipy.ndimage import gaussian_filter1d

    ys, fs, ys10, fs10 = [], [], [], []
    for c in genome.chroms:
        v = sig.valid[c]
        y, f = obs[c].astype(np.float64), sig.clean[c][target]
        ys.append(y[v])
        fs.append(f[v])
        ys10.append(gaussian_filter1d(y, 10)[v])
        fs10.append(gaussian_filter1d(f, 10)[v])
    y, f, y10, f10 = (np.concatenate(a) for a in (ys, fs, ys10, fs10))
    return r2_score(y, f), r2_score(y10, f10), float(np.corrcoef(y10, f10)[0, 1])


def _calibrated_sd(genome: Genome, sig: _Signals, target: str, goal: float) -> float:
    """Log-noise sd whose smoothed ceiling R² is ``goal`` (14 bisection steps)."""
    lo, hi = 0.01, 4.0
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        if _ceilings(genome, sig, _observe(genome, sig, target, mid), target)[1] > goal:
            lo = mid
        else:
            hi = mid
    return round(0.5 * (lo + hi), 4)


def _target_truth(target: str, sd: float, ceilings: tuple[float, float, float]) -> dict[str, Any]:
    """truth.json entry of one target."""
    drv, ksd, amp, _goal = CHROMATIN_KERNELS[target]
    r2b, r2s, rs = ceilings
    return {
        "file": f"chromatin/{target}.bigWig",
        "driver": drv, "kernel": {"type": "gaussian", "sd_bins": ksd, "normalised": "sum 1"},
        "amplitude": amp,
        "noise": {"kind": "multiplicative, mean-preserving: obs = clean * exp(sd*n - sd^2/2)",
                  "sd": sd, "variance": sd * sd,
                  "n": f"unit variance; {CHROMATIN_NOISE_SMOOTH_FRACTION:.0%} of it gaussian-smoothed (sd {CHROMATIN_NOISE_SMOOTH} bins)"},
        "unexplained_signal": (f"independent polycomb domains (+{CHROMATIN_K27_DOMAINS[0]}..{CHROMATIN_K27_DOMAINS[1]} over 10-60 kb, mean-centred)"
                               if target == "H3K27me3" else None),
        "coupling": "weak (deliberate)" if target == "H3K27me3" else "strong",
        "ceiling_r2_bins": r2b,
        "ceiling_r2_smoothed": r2s,
        "ceiling_pearson_smoothed": rs,
    }
