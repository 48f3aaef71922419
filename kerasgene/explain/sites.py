"""From attributions to sites, tracks and regions: site-level attribution per track,
track profiles (iSEGnet Fig. 4B-D), the top site per gene +/- flank as FASTA/BED, and
differential attribution between two models."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerasgene._io import write_text
from kerasgene.datasets.regions import ISEGNET_LAYOUT
from kerasgene.dna import decode_one_hot
from kerasgene.errors import ConfigError
from kerasgene.explain.attribution import Attribution

log = logging.getLogger(__name__)





# --------------------------------------------------------------------------------------
# aggregation: sites and tracks
# --------------------------------------------------------------------------------------


def site_attribution(attr: np.ndarray, *, one_hot: bool = True) -> np.ndarray:
    """Site-level attribution: ``(n, L, 4)`` one-hot DNA → ``(n, L)`` (sum over the four
    channels; with a zero baseline that is the attribution of the observed base);
    other inputs are returned unchanged (``(n, L, tracks)``)."""
    attr = np.asarray(attr)
    return attr.sum(axis=-1) if one_hot else attr


def attribution_tracks(
    result: Attribution,
    *,
    dna_inputs: Sequence[str] = ("sequence",),
    track_names: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Site-level attribution per track: ``{track name: (n, L)}``.

    DNA inputs (one-hot) become one track named ``"DNA (<input>)"`` (``"DNA"`` for the
    input called "sequence"), summed over bases; every channel of another input becomes
    its own track, named from ``track_names[input]`` (a dataset's ``meta["track_names"]``
    for iSEGnet's epigenome) or ``"<input>[k]"``. Channels are never named by guess: any
    7-channel epigenome was named as the paper's tracks, in the paper's order, whatever
    the user's tracks were.
    """
    if track_names is not None and not isinstance(track_names, Mapping):
        raise ConfigError(f"track_names: expected {{input name: [channel names]}} (e.g. "
                          f"{{'epigenome': dataset.meta['track_names']}}), got "
                          f"{type(track_names).__name__}")
    track_names = dict(track_names or {})
    out: dict[str, np.ndarray] = {}
    for name, a in zip(result.input_names, result.attributions):
        if a.ndim != 3:
            raise ConfigError(f"attribution of {name!r} has shape {a.shape}; site-level "
                              "tracks need (n, positions, channels)")
        if name in dna_inputs:
            out["DNA" if name == "sequence" else f"DNA ({name})"] = site_attribution(a)
            continue
        names = track_names.get(name)
        if names is None:
            names = [f"{name}[{k}]" for k in range(a.shape[-1])]
        if len(names) != a.shape[-1]:
            raise ConfigError(f"track_names[{name!r}] has {len(names)} names for "
                              f"{a.shape[-1]} channels")
        for k, tn in enumerate(names):
            out[str(tn)] = a[..., k]
    return out


def track_profiles(tracks: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Mean and standard error across genes of each site-level track (iSEGnet Fig. 4B–D).

    Returns ``{track: {"mean": (L,), "sem": (L,)}}`` (float64, accumulated over blocks of
    genes: no float64 copy of a whole ``(n, L)`` track is made)."""
    out = {}
    for k, v in tracks.items():
        mean, ss = _mean_squares(v)
        n = len(v)
        sem = np.sqrt(ss / (n - 1)) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
        out[k] = {"mean": mean, "sem": sem}
    return out


def _mean_squares(v: np.ndarray, rows: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sum of squared deviations from it over axis 0 of ``v`` ``(n, L)``, in
    float64, in two passes over blocks of ``rows`` rows.

    Returns
    -------
    mean, ss : (L,) float64
    """
    total = np.zeros(v.shape[1:], np.float64)
    for lo in range(0, len(v), rows):
        total += np.asarray(v[lo:lo + rows], np.float64).sum(axis=0)
    mean = total / len(v)
    ss = np.zeros_like(mean)
    for lo in range(0, len(v), rows):
        d = np.asarray(v[lo:lo + rows], np.float64) - mean
        ss += (d * d).sum(axis=0)
    return mean, ss


# --------------------------------------------------------------------------------------
# windows, regions, differential attribution
# --------------------------------------------------------------------------------------


def layout_step(layout: Sequence[tuple] = ISEGNET_LAYOUT) -> int:
    """Bases per window position: a layout part's optional fourth element (the histone
    datasets' 100 bp bins: ``("TSS", -5000, 5000, 100)``), else 1."""
    return int(layout[0][3]) if len(layout[0]) > 3 else 1


def window_segments(layout: Sequence[tuple] = ISEGNET_LAYOUT):
    """``[(anchor, o1, o2, first index, last index + 1)]`` of each segment of a window:
    ``o1``, ``o2`` in bp from the anchor, the indices in window positions (one per
    :func:`layout_step` bp)."""
    segs, pos = [], 0
    step = layout_step(layout)
    for anchor, o1, o2, *_ in layout:
        n = (int(o2) - int(o1)) // step
        segs.append((anchor, int(o1), int(o2), pos, pos + n))
        pos += n
    return segs


def window_offset(index: int, layout=ISEGNET_LAYOUT) -> tuple[str, int]:
    """Window position → (anchor, oriented offset in bp from the anchor: of the
    position's first base)."""
    for anchor, o1, _o2, a, b in window_segments(layout):
        if a <= index < b:
            return anchor, o1 + (index - a) * layout_step(layout)
    raise ConfigError(f"window index {index} outside the layout {layout}")


@dataclass
class Region:
    """A region of a gene's window, with its genomic interval when the gene is known.

    ``start``/``end`` index the window (0-based, half-open); ``anchor``, ``offset_start``,
    ``offset_end`` are the oriented offsets; ``chrom``/``gstart``/``gend``/``strand`` the
    genomic interval (0-based half-open, BED), ``sequence`` read 5'→3' of the gene."""

    gene_id: str
    track: str
    start: int
    end: int
    score: float
    anchor: str
    offset_start: int
    offset_end: int
    sequence: str = ""
    chrom: str | None = None
    gstart: int | None = None
    gend: int | None = None
    strand: str | None = None
    context: str = ""

    @property
    def name(self) -> str:
        """``gene|track|anchor+o1..+o2`` (offsets end-exclusive), ``gene|context|track|…``
        when the example has a context (its sample or cell type)."""
        gene = f"{self.gene_id}|{self.context}" if self.context else self.gene_id
        return f"{gene}|{self.track}|{self.anchor}{self.offset_start:+d}..{self.offset_end:+d}"


def _gene_field(g, name):
    return g[name] if isinstance(g, Mapping) else getattr(g, name)


def _make_region(gene_id, track, a, b, score, layout, seq_onehot, gene) -> Region:
    anchor, o1 = window_offset(a, layout)
    o2 = o1 + (b - a) * layout_step(layout)
    reg = Region(gene_id, track, int(a), int(b), float(score), anchor, o1, o2)
    if seq_onehot is not None:
        reg.sequence = decode_one_hot(seq_onehot[a:b])
    if gene is not None:
        strand = _gene_field(gene, "strand")
        pos = _gene_field(gene, anchor.lower())
        if strand == "+":
            gs, ge = pos + o1, pos + o2
        else:
            gs, ge = pos - o2 + 1, pos - o1 + 1
        reg.chrom, reg.gstart, reg.gend, reg.strand = _gene_field(gene, "chrom"), gs, ge, strand
    return reg


def _clip_to_segment(center: int, flank: int, layout) -> tuple[int, int]:
    for _anchor, _o1, _o2, a, b in window_segments(layout):
        if a <= center < b:
            return max(a, center - flank), min(b, center + flank + 1)
    raise ConfigError(f"window index {center} outside the layout {layout}")


def top_site_regions(
    site_attr: np.ndarray,
    gene_ids: Sequence[str],
    *,
    sequences: np.ndarray | None = None,
    genes: Mapping[str, Any] | None = None,
    track: str = "",
    flank: int = 50,
    layout=ISEGNET_LAYOUT,
    absolute: bool = False,
    contexts: Sequence[str] | None = None,
) -> list[Region]:
    """The highest-attribution site of each gene ± ``flank`` bp (iSEGnet §3.5: [−50, +50]
    around the top site per gene and mark, for AME-style enrichment).

    Parameters
    ----------
    site_attr : (n, L) site-level attribution of one track
    gene_ids : (n,) gene identifiers
    sequences : (n, L, 4) one-hot windows (for the region sequences), optional
    genes : ``{gene id: Gene or dict with chrom, strand, tss, tts}`` for genomic
        coordinates, optional
    absolute : rank sites by |attribution| instead of attribution
    contexts : (n,) each example's sample or cell type, in the region's name, optional
    Regions are clipped to the window segment (TSS or TTS part) of their site.
    """
    site_attr = np.asarray(site_attr)
    score = np.abs(site_attr) if absolute else site_attr
    out = []
    for i, gid in enumerate(gene_ids):
        c = int(np.argmax(score[i]))
        a, b = _clip_to_segment(c, flank, layout)
        reg = _make_region(str(gid), track, a, b, site_attr[i, c], layout,
                           None if sequences is None else sequences[i],
                           None if genes is None else genes.get(str(gid)))
        reg.context = "" if contexts is None else str(contexts[i])
        out.append(reg)
    return out


@dataclass
class DifferentialSites:
    """Sites whose attribution differs most between two models/conditions.

    ``diff`` (n, L) = a − b; ``mask`` (n, L) marks the top ``top_fraction`` of all
    (gene, site) pairs by ``|diff|`` (or ``diff``); ``threshold`` is the cut-off."""

    diff: np.ndarray
    mask: np.ndarray
    threshold: float
    top_fraction: float


def differential_attribution(
    a: np.ndarray, b: np.ndarray, *, top_fraction: float = 0.1, absolute: bool = True
) -> DifferentialSites:
    """Differential attribution sites between two conditions (iSEGnet case studies: a
    site is differential if its attribution difference is among the top 10 % of all
    input sites of the gene set).

    Parameters
    ----------
    a, b : (n, L) site-level attributions of the same genes and track under the two
        models/conditions (e.g. tumour, normal)
    top_fraction : fraction of (gene, site) pairs kept (0.1)
    absolute : rank by |a − b| (default) or by a − b (gains in ``a`` only)
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ConfigError(f"differential attribution needs equal shapes, got {a.shape} and {b.shape}")
    if not 0 < top_fraction <= 1:
        raise ConfigError(f"top_fraction must be in (0, 1], got {top_fraction}")
    diff = a - b
    score = np.abs(diff) if absolute else diff
    thr = float(np.quantile(score, 1 - top_fraction))
    mask = score >= thr
    if absolute and thr == 0:
        mask &= score > 0
    return DifferentialSites(diff, mask, thr, top_fraction)


def differential_regions(
    sites: DifferentialSites,
    gene_ids: Sequence[str],
    *,
    sequences: np.ndarray | None = None,
    genes: Mapping[str, Any] | None = None,
    track: str = "",
    flank: int = 50,
    layout=ISEGNET_LAYOUT,
) -> list[Region]:
    """Differential sites ± ``flank`` bp merged into regions per gene (within a window
    segment), scored by the largest |diff| they contain; sorted by score."""
    out = []
    segs = window_segments(layout)
    for i, gid in enumerate(gene_ids):
        idx = np.flatnonzero(sites.mask[i])
        if not len(idx):
            continue
        for _anchor, _o1, _o2, sa, sb in segs:
            sel = idx[(idx >= sa) & (idx < sb)]
            if not len(sel):
                continue
            lo = np.maximum(sel - flank, sa)
            hi = np.minimum(sel + flank + 1, sb)
            start, end = lo[0], hi[0]
            for s, e in zip(lo[1:], hi[1:]):
                if s <= end:
                    end = max(end, e)
                    continue
                out.append((i, gid, start, end))
                start, end = s, e
            out.append((i, gid, start, end))
    regions = []
    for i, gid, a, b in out:
        score = float(np.abs(sites.diff[i, a:b]).max())
        regions.append(_make_region(str(gid), track, int(a), int(b), score, layout,
                                    None if sequences is None else sequences[i],
                                    None if genes is None else genes.get(str(gid))))
    regions.sort(key=lambda r: -r.score)
    return regions


def write_fasta(regions: Sequence[Region], path) -> None:
    """Write the regions' sequences as FASTA (header = region name and coordinates)."""
    lines = []
    for r in regions:
        loc = f" {r.chrom}:{r.gstart}-{r.gend}({r.strand})" if r.chrom is not None else ""
        lines.append(f">{r.name}{loc} score={r.score:.4g}\n")
        seq = r.sequence or ""
        lines += [seq[k:k + 60] + "\n" for k in range(0, len(seq), 60)]
    write_text(path, "".join(lines))


def write_bed(regions: Sequence[Region], path, chrom_sizes: Mapping[str, int] | None = None
              ) -> None:
    """Write the regions with genomic coordinates as BED6 (name, score = attribution).

    Regions without a gene location are skipped with a warning. With ``chrom_sizes``
    (chromosome → length, named as the genes are), a region of a gene window that runs past
    its chromosome's start or end (the window's N padding) is cut to the chromosome, and one
    wholly outside it is not written, both counted in a warning: BED intervals lie within
    their chromosome."""
    placed = [r for r in regions if r.chrom is not None]
    rows, cut, outside = [], 0, 0
    for r in placed:
        size = (chrom_sizes or {}).get(r.chrom)
        start, end = (r.gstart, r.gend) if size is None else (max(r.gstart, 0), min(r.gend, size))
        if start >= end:
            outside += 1
            continue
        cut += (start, end) != (r.gstart, r.gend)
        rows.append(f"{r.chrom}\t{start}\t{end}\t{r.name}\t{r.score:.6g}\t{r.strand}\n")
    write_text(path, "".join(rows))
    skipped = len(regions) - len(placed)
    if skipped:
        log.warning("%s: %d region(s) without gene coordinates were not written", path, skipped)
    if cut or outside:
        log.warning("%s: %d region(s) ran past their chromosome's start or end (a gene window's "
                    "N padding): %d cut to the chromosome, %d wholly outside it not written",
                    path, cut + outside, cut, outside)
