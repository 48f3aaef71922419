"""Input paths rewritten for genome-scale speed give the former values: bgzip FASTA reads
at block boundaries, histone bins read mark by mark (bench/bench_inputs.py times them)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pyBigWig
import pytest
from Bio import bgzf

from kerasgene.datasets.histone_bins import _bin_windows
from kerasgene.datasets.windows import gene_windows
from kerasgene.dna import reverse_complement
from kerasgene.io.annotation import Gene
from kerasgene.io.genome import Genome
from kerasgene.io.tracks import TrackSet


def _fasta(path, rng, sizes):
    with open(path, "w") as fh:
        for name, n in sizes.items():
            seq = "".join(rng.choice(list("ACGTN"), n))
            fh.write(f">{name}\n" + "\n".join(seq[i : i + 60] for i in range(0, n, 60)) + "\n")


def _block_starts(gzi) -> list[int]:
    """Uncompressed offsets of a bgzip file's blocks, from its ``.gzi``."""
    raw = gzi.read_bytes()
    return [struct.unpack_from("<QQ", raw, 8 + 16 * i)[1]
            for i in range(struct.unpack_from("<Q", raw)[0])]


@pytest.mark.parametrize("compression", ["bgzip", "gzip"])
def test_bgzip_fasta_reads_at_block_starts(tmp_path, compression, monkeypatch):
    monkeypatch.setenv("KERASGENE_CACHE", str(tmp_path / "cache"))
    plain = tmp_path / "genome.fa"
    _fasta(plain, np.random.default_rng(0), {"chr1": 300_000, "chr2": 5_000})
    packed = tmp_path / "genome.fa.gz"
    with open(plain, "rb") as src, (bgzf.BgzfWriter(str(packed), "wb") if compression == "bgzip"
                                    else gzip.open(packed, "wb")) as dst:
        dst.write(src.read())
    with Genome(plain) as want, Genome(packed) as got:
        gzi = next(tmp_path.rglob("*.gzi"))
        starts = [u for u in _block_starts(gzi) if u > 0]
        assert len(starts) >= 4
        for u in starts:  # "chr1\n" + 60 bases and a newline per line
            base = (u - 6) - (u - 6) // 61
            for lo in range(base - 3, base + 3):
                for strand in "+-":
                    assert got.fetch("chr1", lo, lo + 150, strand) == \
                        want.fetch("chr1", lo, lo + 150, strand)
        for lo, hi in [(-20, 30), (299_950, 300_040), (0, 300_000)]:  # ends: N padding
            assert got.fetch("chr1", lo, hi, "-") == want.fetch("chr1", lo, hi, "-")
        assert got.fetch("chr2", 4_990, 5_010) == want.fetch("chr2", 4_990, 5_010)



@pytest.mark.parametrize("compression", ["bgzip", "gzip"])
def test_a_record_whose_first_base_starts_a_block_reads_from_its_start(tmp_path, compression,
                                                                        monkeypatch):
    """chr2's header ends on byte 65,536, the first block's end (Bio.bgzf's blocks, those of
    the gzip source's bgzip copy too): pyfaidx cannot start a read there."""
    monkeypatch.setenv("KERASGENE_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(1)
    chr1 = "".join(rng.choice(list("ACGT"), 60 * 1074 + 11))  # ">chr1\n" + 65,526 bytes
    chr2 = "".join(rng.choice(list("acgt"), 500))
    text = ">chr1\n" + "".join(chr1[i : i + 60] + "\n" for i in range(0, len(chr1), 60))
    text += ">c2\n" + "".join(chr2[i : i + 60] + "\n" for i in range(0, len(chr2), 60))
    assert text.index(">c2\n") + 4 == 65_536
    packed = tmp_path / "genome.fa.gz"
    with (bgzf.BgzfWriter(str(packed), "wb") if compression == "bgzip"
          else gzip.open(packed, "wb")) as dst:
        dst.write(text.encode())
    with Genome(packed) as got:
        assert 65_536 in _block_starts(next(tmp_path.rglob("*.gzi")))
        for lo, hi in [(0, 1), (0, 10), (0, 500), (-5, 3), (1, 61)]:
            want = "N" * max(0, -lo) + chr2[max(lo, 0) : hi].upper()
            assert got.fetch("c2", lo, hi) == want, (lo, hi)
        assert got.fetch("c2", 0, 40, "-") == reverse_complement(chr2[:40].upper())


def _former_bins(trackset, genes, window, n_bins, stat):
    """``_bin_windows`` before it read mark by mark."""
    half = window // 2
    chroms, starts, ends, strands = gene_windows(genes, (half, window - half), (0, 0))
    vals = trackset.read_windows(chroms, starts[:, 0], ends[:, 0], strands)
    vals = vals.reshape(len(genes), n_bins, window // n_bins, -1)
    return vals.sum(axis=2) if stat == "sum" else vals.mean(axis=2)


def _bigwig(path, size, rng):
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader([("chr1", size)])
    ends = np.unique(np.append(rng.integers(1, size, size // 20), size))
    starts = np.append(0, ends[:-1])
    keep = rng.random(len(starts)) > 0.3  # gaps: missing data, read as 0
    values = rng.gamma(0.6, 2.0, len(starts))
    values[rng.random(len(starts)) < 0.05] = np.nan  # NaN: read as 0
    bw.addEntries(["chr1"] * keep.sum(), starts[keep].tolist(), ends=ends[keep].tolist(),
                  values=values[keep].tolist())
    bw.close()


@pytest.mark.parametrize("stat", ["mean", "sum"])
def test_histone_bins_mark_by_mark_equal_former(tmp_path, stat):
    rng = np.random.default_rng(1)
    size = 60_000
    paths = {}
    for k in range(3):
        paths[f"m{k}"] = tmp_path / f"m{k}.bw"
        _bigwig(paths[f"m{k}"], size, rng)
    tss = [0, 150, size - 1, size - 700, *rng.integers(0, size, 40).tolist()]  # ends: padded
    genes = [Gene(f"g{i}", f"g{i}", "chr1", t, t + 1, "+-"[i % 2]) for i, t in enumerate(tss)]
    with TrackSet(paths) as ts:
        got = _bin_windows(ts, genes, 2_000, 20, stat, True)
        want = _former_bins(ts, genes, 2_000, 20, stat)
    assert got.shape == (len(genes), 20, 3) and got.dtype == np.float32
    assert np.array_equal(got, want)
    # bins before the chromosome start: first for a + gene at 0, last for a - gene at 150
    assert (got[0, :10] == 0).all() and (got[1, -8:] == 0).all()
