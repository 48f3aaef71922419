"""Motif instances in simulated sequence: exact thresholds, purging the background, sampling instances."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from kerasgene.dna import Motif, Scanner
from kerasgene.simulate.common import MOTIF_P

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# motifs
# --------------------------------------------------------------------------------------


def planting_pseudocount(motif: Motif) -> np.ndarray:
    """The simulator's prior: 0.8 % of each column's count, spread over the four bases
    ((w, 1), added to ``motif.counts``)."""
    return 0.8 * motif.counts.sum(1, keepdims=True) / 100.0 / 4.0


class PlantingScanner(Scanner):
    """The simulator's scanner (:class:`kerasgene.dna.Scanner` with the 0.8 % prior) and
    its three thresholds from the exact background score distribution: ``purge``
    (P ≤ MOTIF_P["purge"]; the background is cleaned of every site at or above it),
    ``call`` (P ≤ MOTIF_P["call"]; a site "is" an instance) and ``plant``
    (P ≤ MOTIF_P["plant"]; every planted instance reaches it). Each is capped at the best
    score, and ``purge < call <= plant``.
    """

    def __init__(self, motif: Motif, background: np.ndarray):
        super().__init__(motif, background, planting_pseudocount(motif))
        call = min(self.threshold(MOTIF_P["call"]), self.max_score)
        plant = min(max(self.threshold(MOTIF_P["plant"]), call), self.max_score)
        purge = min(self.threshold(MOTIF_P["purge"]), call - 1)
        self.thresholds = {"purge": purge, "call": call, "plant": plant}

    def describe(self) -> dict[str, Any]:
        """Thresholds in bits, for truth.json."""
        return {**super().describe(),
                **{f"{k}_bits": v / 100 for k, v in self.thresholds.items()}}

    def sample_instances(self, rng: np.random.Generator, n: int,
                         others: tuple[PlantingScanner, ...] = ()) -> np.ndarray:
        """``n`` instances drawn from the PFM, conditioned on scoring >= the plant threshold
        and on no narrower motif in ``others`` reaching its purge threshold inside them."""
        probs = self.motif.probabilities(planting_pseudocount(self.motif))
        cum = np.cumsum(probs, axis=1)
        pool: list[np.ndarray] = []
        have = 0
        for _ in range(200):
            u = rng.random((4096, self.width))
            seqs = np.minimum((u[:, :, None] > cum[None, :, :]).sum(2), 3).astype(np.uint8)
            ok = self.strand_scores(seqs)[0][:, 0] >= self.thresholds["plant"]
            for other in others:
                if other.width <= self.width:
                    ok &= other.best(seqs).max(1) < other.thresholds["purge"]
            good = seqs[ok]
            pool.append(good)
            have += len(good)
            if have >= n:
                break
        pool_arr = np.concatenate(pool)
        if len(pool_arr) == 0:  # pragma: no cover - every shipped PFM reaches the bar
            pool_arr = probs.argmax(1).astype(np.uint8)[None, :]
        return pool_arr[rng.integers(0, len(pool_arr), size=n)]


def scoring_doc(background: np.ndarray) -> dict[str, Any]:
    return {
        "score": ("sum over the site of round(100 * log2(p / background)) / 100 bits, p = JASPAR counts "
                  "+ 0.8 % pseudocount spread over the bases, column-normalised"),
        "background": {b: float(v) for b, v in zip("ACGT", background)},
        "p_values": dict(MOTIF_P),
        "rule": "purge: background has no site >= purge; call: a site >= call on either strand is an instance; plant: planted instances score >= plant",
    }


def purge(codes: np.ndarray, scanners: list[PlantingScanner], rng: np.random.Generator,
           protect: np.ndarray | None = None, max_rounds: int = 200) -> int:
    """Mutate ``codes`` (1-D, in place) until no site of any scanner reaches its purge
    threshold, except sites that cannot be broken without touching ``protect``.

    Each round rescans only the neighbourhood of the previous round's mutations.
    ``protect`` (bool, same length) marks positions that must not change. Returns the
    number of mutations made.
    """
    n_mut = 0
    wmax = max(s.width for s in scanners)
    regions: np.ndarray | None = None  # None = scan everything
    attempts: dict[tuple[int, int], int] = {}
    for _ in range(max_rounds):
        starts: list[np.ndarray] = []
        for sc in scanners:
            thr = sc.thresholds["purge"]
            if regions is None:
                starts.append(np.flatnonzero(sc.best(codes) >= thr))
            else:
                idx = np.clip(regions[:, None] + np.arange(2 * wmax)[None, :], 0, len(codes) - 1)
                rr, cc = np.nonzero(sc.best(codes[idx]) >= thr)
                starts.append(np.unique(regions[rr] + cc))
        changed = []
        for k, (sc, st) in enumerate(zip(scanners, starts)):
            for p in st:
                key = (k, int(p))
                attempts[key] = attempts.get(key, 0) + 1
                if attempts[key] > 12:  # cannot be broken without touching a planted site
                    continue
                cand = int(p) + rng.permutation(sc.width)
                if protect is not None:
                    cand = cand[~protect[cand]]
                if len(cand) == 0:  # wholly inside a planted site: tolerated
                    continue
                q = int(cand[0])
                codes[q] = (codes[q] + rng.integers(1, 4)) % 4
                changed.append(q)
                n_mut += 1
        if not changed:
            return n_mut
        ch = np.unique(np.array(changed))
        regions = np.maximum(ch - wmax, 0)
    raise RuntimeError("motif purge did not converge")  # pragma: no cover

