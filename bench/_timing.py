"""Timing shared by the bench scripts (importable as ``_timing`` when a script in
``bench/`` runs: its folder is first on ``sys.path``)."""

from __future__ import annotations

import time


def timed(fn):
    """``(fn(), {"wall_s", "cpu_s"})``: its result, and the wall-clock and process CPU
    seconds it took, rounded to 0.01 s."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, {"wall_s": round(time.perf_counter() - w, 2),
                 "cpu_s": round(time.process_time() - c, 2)}
