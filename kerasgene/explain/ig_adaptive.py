"""``n_steps="auto"`` of integrated gradients (:mod:`kerasgene.explain.ig`): adaptive
composite trapezoid quadrature per example, and the batching of path points shared with
the fixed rules.

Along a straight path a ReLU network is piecewise linear, so the integrand ∂F/∂x(α) is
piecewise constant with jumps where units switch, and every fixed rule (Gauss–Legendre
included) converges like 1/n. But F itself is known exactly at every node (the forward
pass of a gradient evaluation gives it), so each sub-interval [a, b] has its own
completeness residual ``r = (b − a)·(F′(a) + F′(b))/2 − (F(b) − F(a))`` (F′ = dF/dα =
Σ (x − x')·∂F/∂x), and these add up to the example's residual. Start from
``start_steps`` equal intervals, then, while ``|Σ r|`` exceeds the tolerance, halve the
intervals with the largest ``|r|``: nodes go where the network's units switch, not
where it is linear. It stops at ``max_steps`` gradients, or when every interval left is
narrower than :data:`MIN_WIDTH` or has a residual within float32 rounding of F (a
tolerance below that cannot be met: it is reported with a warning). Halving costs one gradient evaluation (the new node serves both
halves); the midpoint rule this replaces paid two and dropped the old midpoint's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kerasgene.explain.ig import _Block, _Native

log = logging.getLogger(__name__)

#: narrowest interval halved: the model sees α in float32 (spacing 6e-8 near 1), so
#: nodes closer than this are barely distinct points of the path
MIN_WIDTH = 2.0**-20
#: an interval residual below this (two roundings) times max(|F(x)|, |F(baseline)|), or 4 × the
#: difference between F at α = 0, 1 from a path pass and from the forward pass (the same
#: point in another batch), is float32 rounding of F(b) − F(a)
_F32_NOISE = 2 * float(np.finfo(np.float32).eps)


def point_batches(ex: np.ndarray, alphas: np.ndarray, weights: np.ndarray | None,
                  batch_size: int, pad: bool) -> Iterator[tuple]:
    """(example, α[, weight]) triples in batches of ``batch_size``, as tensors, with the
    number of real points in each. With ``pad`` (XLA: one compiled shape) the last batch
    is padded with α = 0, weight 0 on example 0; without, it is shorter."""
    import tensorflow as tf

    for lo in range(0, len(ex), batch_size):
        e, a = ex[lo:lo + batch_size], alphas[lo:lo + batch_size]
        w = None if weights is None else weights[lo:lo + batch_size]
        n = len(e)
        if pad and n < batch_size:
            fill = batch_size - n
            e = np.concatenate([e, np.zeros(fill, np.int32)])
            a = np.concatenate([a, np.zeros(fill, np.float32)])
            w = None if w is None else np.concatenate([w, np.zeros(fill, np.float32)])
        yield (tf.constant(e.astype(np.int32)), tf.constant(a.astype(np.float32)),
               None if w is None else tf.constant(w.astype(np.float32)), n)


class _Nodes:
    """The nodes of every example of a block: α → (F, F′ = dF/dα, ∂F/∂input)."""

    def __init__(self, eng: _Native, blk: _Block, batch_size: int):
        self.eng, self.blk, self.batch_size = eng, blk, batch_size
        self.at: list[dict[float, tuple]] = [{} for _ in range(blk.m)]
        #: per example, |F| of a path pass at α = 0 or 1 minus the plain forward pass
        #: there: how far float32 rounding moves F between two batches
        self.mismatch = np.zeros(blk.m)

    def evaluate(self, pairs: list[tuple[int, float]]) -> None:
        """Gradient evaluations at the (example, α) pairs, in batches."""
        blk = self.blk
        ex = np.array([i for i, _ in pairs], np.int32)
        al = np.array([a for _, a in pairs], np.float64)
        k = 0
        for e, a, _, n in point_batches(ex, al.astype(np.float32), None, self.batch_size,
                                        self.eng.jit):
            y, slope, grads = self.eng.grad_each(blk.xs, blk.bs, blk.fixed, e, a, blk.t)
            y, slope, grads = y.numpy(), slope.numpy(), [g.numpy() for g in grads]
            for j in range(n):
                i, alpha = pairs[k + j]
                f = blk.fb[i] if alpha == 0.0 else blk.fx[i] if alpha == 1.0 else float(y[j])
                self.mismatch[i] = max(self.mismatch[i], abs(float(y[j]) - f))
                self.at[i][alpha] = (f, float(slope[j]), [g[j] for g in grads])
            k += n

    def residuals(self, i: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Completeness residuals of the intervals [a, b] of example ``i`` (nodes known)."""
        at = self.at[i]
        fa, sa = np.array([at[x][:2] for x in a.tolist()]).T.reshape(2, -1)
        fb, sb = np.array([at[x][:2] for x in b.tolist()]).T.reshape(2, -1)
        return (b - a) * (sa + sb) / 2 - (fb - fa)

    def integrals(self, n_inputs: int) -> list[np.ndarray]:
        """Σ_k w_k ∂F/∂x(α_k) per example (composite trapezoid weights over its nodes),
        in float64, one ``(m, ...)`` array per input."""
        out = []
        for q in range(n_inputs):
            rows = []
            for nodes in self.at:
                alphas = np.array(sorted(nodes))
                gaps = np.diff(alphas)
                w = np.concatenate([[0.0], gaps]) / 2 + np.concatenate([gaps, [0.0]]) / 2
                g = np.stack([nodes[a][2][q] for a in alphas]).astype(np.float64)
                rows.append(np.tensordot(w, g, axes=1))
            out.append(np.stack(rows))
        return out


def adaptive_integrals(eng: _Native, blk: _Block, tol: np.ndarray, start: int,
                       max_steps: int, batch_size: int) -> tuple[list[np.ndarray], np.ndarray]:
    """∫ ∂F/∂x dα per example of ``blk`` by adaptive composite trapezoid quadrature.

    Parameters
    ----------
    eng, blk : the compiled engine and the block of examples
    tol : (m,) the largest acceptable |completeness residual| per example
    start : first equal intervals (``start + 1`` gradient evaluations)
    max_steps : gradient evaluations per example at most
    batch_size : path points per forward+backward pass

    Returns
    -------
    (the integrals, one ``(m, ...)`` float64 array per attributed tensor; the gradient
    evaluations per example, ``(m,)``)
    """
    m = blk.m
    start = max(1, min(int(start), int(max_steps) - 1))
    edges = np.linspace(0.0, 1.0, start + 1)
    nodes = _Nodes(eng, blk, batch_size)
    nodes.evaluate([(i, float(a)) for i in range(m) for a in edges])
    # per example: the intervals' left and right ends and their residuals
    lo = [edges[:-1].copy() for _ in range(m)]
    hi = [edges[1:].copy() for _ in range(m)]
    res = [nodes.residuals(i, lo[i], hi[i]) for i in range(m)]
    # F is float32: an interval's residual below a few roundings of F is noise, and
    # halving it again only moves the noise (the loop would chase it forever)
    noise = np.maximum(_F32_NOISE * np.maximum(np.abs(blk.fx), np.abs(blk.fb)),
                       4 * nodes.mismatch)
    while True:
        todo = {}
        for i in range(m):
            excess = abs(res[i].sum()) - tol[i]
            budget = max_steps - len(nodes.at[i])
            if excess > 0 and budget > 0:
                todo[i] = _worst(res[i], hi[i] - lo[i], excess, budget,
                                 max(1e-3 * tol[i], noise[i]))
        todo = {i: k for i, k in todo.items() if len(k)}
        if not todo:
            break
        nodes.evaluate([(i, float(x)) for i, k in todo.items()
                        for x in (lo[i][k] + hi[i][k]) / 2])
        for i, k in todo.items():
            mid = (lo[i][k] + hi[i][k]) / 2
            keep = np.ones(len(lo[i]), bool)
            keep[k] = False
            lo[i] = np.concatenate([lo[i][keep], lo[i][k], mid])
            hi[i] = np.concatenate([hi[i][keep], mid, hi[i][k]])
            new = nodes.residuals(i, lo[i][-2 * len(k):], hi[i][-2 * len(k):])
            res[i] = np.concatenate([res[i][keep], new])
    total = np.array([r.sum() for r in res])
    steps = np.array([len(n) for n in nodes.at], np.int64)
    above = np.flatnonzero(np.abs(total) > tol)
    if len(above):
        log.warning("n_steps='auto': %d example(s) of a chunk still above tolerance "
                    "(max_steps=%d reached, or what is left is float32 rounding of F; "
                    "chunk rows %s)", len(above), max_steps, above.tolist()[:10])
    return nodes.integrals(len(blk.xs)), steps


def _worst(residuals: np.ndarray, widths: np.ndarray, excess: float, budget: int,
           negligible: float) -> np.ndarray:
    """Indices of the intervals to halve: largest |residual| first, until their residuals
    cover the excess over the tolerance, at most ``budget``; none whose |residual| is
    ``negligible`` (a linear stretch, or float32 noise: halving it changes nothing) or
    whose width is below :data:`MIN_WIDTH`."""
    mag = np.where(widths >= MIN_WIDTH, np.abs(residuals), 0.0)
    order = np.argsort(-mag, kind="stable")
    covered = np.cumsum(mag[order])
    # the intervals before the one whose residual makes the cover reach the excess, and it
    n = int(np.searchsorted(covered, excess)) + 1
    n = min(n, budget, int(np.sum(mag > negligible)))
    return order[:n]
