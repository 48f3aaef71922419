"""Benchmark: 20,000 gene windows of 2,500 bp × 7 tracks from bigWig files.

Compares :meth:`kerasgene.io.tracks.TrackSet.read_windows` with the obvious reference — one
``pyBigWig.values(numpy=True)`` call per window and track, NaN → 0 — over the same
windows, in the same process, at two densities:

* ``spread``: windows scattered over a human-sized genome (24 chromosomes, 3.1 Gb; data
  written around the windows only, which is all either reader touches);
* ``dense``: windows packed into one 50 Mb chromosome fully covered by intervals.

Intervals are runs of geometric length (mean 50 bp) with gamma-distributed values, like
ENCODE signal tracks. Prints one JSON object; ratio = kerasgene throughput ÷ reference.
Usage: ``python bench/bench_io.py [--windows 20000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyBigWig

from kerasgene.io.tracks import TrackSet

WINDOW = 2_500
N_TRACKS = 7
HUMAN = [248_956_422, 242_193_529, 198_295_559, 190_214_555, 181_538_259, 170_805_979,
         159_345_973, 145_138_636, 138_394_717, 133_797_422, 135_086_622, 133_275_309,
         114_364_328, 107_043_718, 101_991_189, 90_338_345, 83_257_441, 80_373_285,
         58_617_616, 64_444_167, 46_709_983, 50_818_468, 156_040_895, 57_227_415]


def _runs(rng, lo: int, hi: int, mean_len: float = 50.0):
    """Interval starts/ends/values tiling [lo, hi) with geometric run lengths."""
    n = int((hi - lo) / mean_len * 1.2) + 10
    ends = lo + np.cumsum(rng.geometric(1 / mean_len, n))
    ends = ends[ends < hi]
    ends = np.append(ends, hi)
    starts = np.concatenate([[lo], ends[:-1]])
    values = np.round(rng.gamma(0.6, 2.0, len(starts)), 3)
    return starts, ends, values


def write_track(path: Path, sizes: dict[str, int], regions: dict[str, list], seed: int) -> None:
    """Write one bigWig covering ``regions`` (chrom → sorted merged (lo, hi) list)."""
    rng = np.random.default_rng(seed)
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()), maxZooms=10)
    for chrom in sizes:
        parts = [_runs(rng, lo, hi) for lo, hi in regions.get(chrom, [])]
        if not parts:
            continue
        s, e, v = (np.concatenate(x) for x in zip(*parts))
        bw.addEntries([chrom] * len(s), s.tolist(), ends=e.tolist(), values=v.tolist())
    bw.close()


def _merge(intervals):
    out = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def layout(density: str, n: int, rng):
    """Chromosome sizes, covered regions and windows (chroms, starts, strands)."""
    if density == "dense":
        sizes = {"chr1": 50_000_000}
        starts = np.sort(rng.integers(0, sizes["chr1"] - WINDOW, n))
        chroms = np.array(["chr1"] * n)
        regions = {"chr1": [(0, sizes["chr1"])]}
    else:
        sizes = {f"chr{i + 1}": s for i, s in enumerate(HUMAN)}
        names = np.array(list(sizes))
        weights = np.array(HUMAN, dtype=float) / sum(HUMAN)
        chroms = rng.choice(names, n, p=weights)
        starts = np.array([rng.integers(0, sizes[c] - WINDOW) for c in chroms])
        regions = {}
        for c, s in zip(chroms, starts):
            regions.setdefault(c, []).append((max(0, s - 5_000), min(sizes[c], s + WINDOW + 5_000)))
        regions = {c: _merge(r) for c, r in regions.items()}
    order = rng.permutation(n)  # genes arrive in annotation order, not sorted
    strands = rng.choice(["+", "-"], n)
    return sizes, regions, chroms[order], starts[order], strands


def reference_read(paths, chroms, starts, strands) -> np.ndarray:
    """One pyBigWig.values call per window and track."""
    out = np.empty((len(starts), WINDOW, len(paths)), dtype=np.float32)
    handles = [pyBigWig.open(str(p)) for p in paths]
    for i, (c, s, strand) in enumerate(zip(chroms, starts, strands)):
        for t, bw in enumerate(handles):
            vals = np.nan_to_num(bw.values(c, int(s), int(s) + WINDOW, numpy=True))
            out[i, :, t] = vals[::-1] if strand == "-" else vals
    for bw in handles:
        bw.close()
    return out


def run(density: str, n: int, workdir: Path, repeats: int = 2) -> dict:
    rng = np.random.default_rng(1)
    sizes, regions, chroms, starts, strands = layout(density, n, rng)
    paths = [workdir / f"{density}_{t}.bw" for t in range(N_TRACKS)]
    t0 = time.perf_counter()
    for t, p in enumerate(paths):
        write_track(p, sizes, regions, seed=t)
    write_s = time.perf_counter() - t0

    ref_s, kg_s = [], []
    for _ in range(repeats):  # interleaved; the best of each resists background load
        t0 = time.perf_counter()
        ref = reference_read(paths, chroms, starts, strands)
        ref_s.append(time.perf_counter() - t0)
        del ref
        t0 = time.perf_counter()
        with TrackSet({f"t{t}": p for t, p in enumerate(paths)}) as ts:
            got = ts.read_windows(chroms, starts, starts + WINDOW, strands)
        kg_s.append(time.perf_counter() - t0)
        del got
    ref_s, kg_s = min(ref_s), min(kg_s)
    sample = rng.choice(n, min(n, 500), replace=False)
    with TrackSet({f"t{t}": p for t, p in enumerate(paths)}) as ts:
        got = ts.read_windows(chroms[sample], starts[sample], starts[sample] + WINDOW, strands[sample])
    ref = reference_read(paths, chroms[sample], starts[sample], strands[sample])
    assert np.array_equal(got, ref), "kerasgene and reference reads differ"
    return {
        "windows": n, "tracks": N_TRACKS, "window_bp": WINDOW, "repeats": repeats,
        "write_seconds": round(write_s, 2),
        "reference_seconds": round(ref_s, 3), "kerasgene_seconds": round(kg_s, 3),
        "reference_windows_per_s": round(n / ref_s, 1),
        "kerasgene_windows_per_s": round(n / kg_s, 1),
        "ratio": round(ref_s / kg_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20_000)
    args = parser.parse_args()
    result = {"benchmark": "bench_io", "goal": {"spread": ">= 1.0", "dense": ">= 1.5"}}
    with tempfile.TemporaryDirectory() as tmp:
        for density in ("spread", "dense"):
            result[density] = run(density, args.windows, Path(tmp))
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
