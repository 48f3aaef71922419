"""The chromosome split of genome bins: which bins of which chromosomes are training,
validation and test examples (:func:`segments_for`: chromosomes or fraction ranges of
them, the ``split`` key of :mod:`kerasgene.datasets.genome_bins`), and the bins left in
no split (:func:`uncovered_bins`, listed in ``dropped.tsv`` as ``not_in_split``), the
example bins of a split (:func:`example_slices`) and a regression split whose target is 0
in every example bin, or on some held-out chromosomes (:func:`check_split_targets`; binary
labels from a threshold on the target: :func:`check_threshold_labels`), and a held-out
chromosome without input data (:func:`check_held_out_inputs`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from kerasgene.datasets import splits as _splits
from kerasgene.datasets.dropped import Dropped
from kerasgene.errors import ConfigError, UnknownChromosomeError
from kerasgene.io.chroms import alias_map, load_aliases
from kerasgene.io.chroms import resolve as resolve_chrom

log = logging.getLogger(__name__)

#: ``chr1`` or ``chr1:0-0.25``; a name may hold ':' (hs38DH's ``HLA-A*01:01:01:01``).
_RANGE = re.compile(r"^(?P<chrom>.+?)(?::(?P<lo>[0-9.]+)-(?P<hi>[0-9.]+))?$")


def parse_entry(entry: str) -> tuple[str, float, float]:
    """``(chromosome, start, end)`` of a split entry: ``chr1`` (the whole chromosome,
    0 to 1) or a fraction range ``chr1:0-0.25``."""
    m = _RANGE.match(str(entry).strip())
    if not m:
        raise ConfigError(f"split: cannot parse {entry!r}; expected 'chr1' or 'chr1:0-0.25'")
    lo = float(m.group("lo")) if m.group("lo") is not None else 0.0
    hi = float(m.group("hi")) if m.group("hi") is not None else 1.0
    if not 0 <= lo < hi <= 1:
        raise ConfigError(f"split: range {entry!r} must satisfy 0 <= start < end <= 1")
    return m.group("chrom"), lo, hi


def segments_for(spec: Mapping, chroms: list[str], n_bins: list[int], stride: int,
                 aliases=None) -> pd.DataFrame:
    """Segment table (chrom, start_bin, end_bin, split, ex_offset, n_examples) of a split.

    Parameters
    ----------
    spec : the ``split`` config; its chromosome names are looked up among ``chroms`` as
        ``chroms:`` names are (exact name first, then the built-in aliases ``chr1`` / ``1``,
        ``chrM`` / ``MT`` and those of ``aliases``)
    chroms, n_bins : the dataset's chromosomes (as named in its files) and their bins
    stride : an example every ``stride`` bins
    aliases : optional alias table (:func:`kerasgene.io.chroms.load_aliases`)

    Raises
    ------
    ConfigError
        When an entry names no chromosome of the dataset, or two entries overlap.
    """
    method = _splits.check_split_keys(spec)
    if method != "chromosome":
        raise ConfigError(f"split: genome bins support method 'chromosome' (with optional "
                          f"fraction ranges), got {method!r}")
    position = {c: i for i, c in enumerate(chroms)}
    names = alias_map(chroms, load_aliases(aliases))

    def chrom_index(split: str, chrom: str) -> int:
        try:
            return position[resolve_chrom(chrom, names, "dataset")]
        except UnknownChromosomeError:
            raise ConfigError(f"split.{split}: chromosome {chrom!r} is not in the dataset "
                              f"({', '.join(chroms[:8])}; also tried its aliases)") from None

    rows = []
    covered: dict[int, list[tuple[int, int, str]]] = {}
    lists = {s: spec.get(s) for s in _splits.SETS}
    for split, entries in lists.items():
        if entries is not None and not isinstance(entries, list | tuple):
            raise ConfigError(f"split.{split}: expected a list of chromosomes or ranges "
                              f"(e.g. [chr1, 'chr2:0-0.5']), got {entries!r}")
    if lists["train"] is None:
        listed = {chrom_index(s, parse_entry(e)[0]) for s in ("valid", "test")
                  for e in (lists[s] or ())}
        lists["train"] = [c for i, c in enumerate(chroms) if i not in listed]
    for split in _splits.SETS:
        for entry in lists[split] or ():
            chrom, lo, hi = parse_entry(entry)
            ci = chrom_index(split, chrom)
            a, b = int(round(lo * n_bins[ci])), int(round(hi * n_bins[ci]))
            for a2, b2, s2 in covered.get(ci, []):
                if a < b2 and a2 < b:
                    raise ConfigError(f"split: {entry!r} ({split}) overlaps a range listed in "
                                      f"{s2!r}")
            covered.setdefault(ci, []).append((a, b, split))
            first = a + (-a) % stride
            n = max(0, (b - first + stride - 1) // stride)
            rows.append({"chrom": chroms[ci], "chrom_id": ci, "start_bin": first, "end_bin": b,
                         "split": split, "n_examples": n})
    seg = pd.DataFrame(rows, columns=["chrom", "chrom_id", "start_bin", "end_bin", "split",
                                      "n_examples"])
    seg = seg.sort_values(["chrom_id", "start_bin"], kind="stable").reset_index(drop=True)
    seg["ex_offset"] = np.concatenate([[0], np.cumsum(seg["n_examples"].to_numpy())[:-1]]) \
        if len(seg) else []
    for col in ("chrom_id", "start_bin", "end_bin", "n_examples", "ex_offset"):
        seg[col] = seg[col].astype(np.int64)
    labels = np.repeat(seg["split"].to_numpy().astype(str), seg["n_examples"].to_numpy())
    _splits.check_nonempty(labels, where="split (genome bins)")
    return seg


def uncovered_bins(index: pd.DataFrame, n_bins: list[int], stride: int = 1
                   ) -> list[tuple[int, int, int]]:
    """Bin ranges that no segment of ``index`` (:func:`segments_for`) covers.

    Returns
    -------
    list of (chromosome index, first bin, end bin); gaps shorter than ``stride`` (bins
    skipped by the stride itself) are not listed.
    """
    out = []
    for ci, n in enumerate(n_bins):
        seg = index[index["chrom_id"] == ci].sort_values("start_bin")
        cursor = 0
        for lo, hi in zip(seg["start_bin"], seg["end_bin"]):
            if lo - cursor >= stride:
                out.append((ci, cursor, int(lo)))
            cursor = max(cursor, int(hi))
        if n - cursor >= stride:
            out.append((ci, cursor, n))
    return out


def dropped_ranges(index: pd.DataFrame, chroms: list[str], lengths: list[int],
                    bin_size: int, stride: int) -> Dropped:
    """The ranges of :func:`uncovered_bins` as ``not_in_split`` rows (bp coordinates)."""
    dropped = Dropped("chromatin")
    n_bins = [-(-n // bin_size) for n in lengths]
    for ci, lo, hi in uncovered_bins(index, n_bins, stride):
        c, end = chroms[ci], min(hi * bin_size, lengths[ci])
        dropped.add(f"{c}:{lo * bin_size}-{end}", "not_in_split", chrom=c,
                    start=lo * bin_size, end=end, detail=f"{hi - lo} bins")
    return dropped


def example_slices(index: pd.DataFrame, bin_offsets, stride: int, split: str
                   ) -> tuple[list[str], list[slice]]:
    """The example bins of one split.

    Parameters
    ----------
    index : the segment table (:func:`segments_for`)
    bin_offsets : chromosome ``i``'s first bin in an array of every chromosome's bins
    stride : a segment's examples are every ``stride``-th bin from its ``start_bin``
    split : train, valid or test

    Returns
    -------
    The split's chromosomes (in index order, each once) and one slice per segment with
    examples into an array of every chromosome's bins.
    """
    seg = index[(index["split"] == split) & (index["n_examples"] > 0)]
    offsets = np.asarray(bin_offsets, np.int64)
    starts = offsets[seg["chrom_id"].to_numpy(np.int64)] + seg["start_bin"].to_numpy(np.int64)
    slices = [slice(int(a), int(a + k * stride), stride)
              for a, k in zip(starts, seg["n_examples"].to_numpy(np.int64))]
    return list(dict.fromkeys(seg["chrom"])), slices


#: The warnings of a held-out split whose example bins hold one value: one class
#: (:func:`kerasgene.datasets.peak_labels.check_split_classes`) or a regression target of
#: 0 (:func:`check_split_targets`); replaced in ``build_warnings`` on a re-split.
ONE_VALUE_SPLIT = re.compile(r"split\.(valid|test) \(.*\): (none|all) of its \d+ example bins ")


def held_out_verdict(split: str, what: str, no_learning: str, undefined: str,
                     valid_note: str) -> str:
    """The verdict on a split whose example bins hold one value (``what`` says so): a
    ConfigError for train (``what; no_learning``), else the warning ``what; undefined``
    (``; valid_note`` for valid), logged and returned (:data:`ONE_VALUE_SPLIT` matches it)."""
    if split == "train":
        raise ConfigError(f"{what}; {no_learning}")
    said = f"{what}; {undefined}" + (f"; {valid_note}" if split == "valid" else "")
    log.warning("%s", said)
    return said


def split_names(chroms: list[str]) -> str:
    """``chr1, chr2, ...``: at most ten chromosomes of a split, for messages."""
    return ", ".join(chroms[:10]) + (", ..." if len(chroms) > 10 else "")


def check_split_targets(index: pd.DataFrame, values: np.ndarray, bin_offsets, stride: int,
                        target: str, path) -> list[str]:
    """A regression split whose example bins of ``target`` are all 0 (the target file has
    no data there: made for fewer chromosomes than its header lists, or a chromosome
    without reads), as a whole or on some of its chromosomes; returns the warnings logged
    (:data:`ONE_VALUE_SPLIT` matches them).

    Parameters
    ----------
    index : the segment table (:func:`segments_for`)
    values : (total bins,) the (smoothed) target, or where it is not 0 (bool), of every
        chromosome's bins, chromosome ``i`` from ``bin_offsets[i]`` (a memory-mapped column
        is read at the split's example bins only)
    stride : a segment's examples are every ``stride``-th bin from its ``start_bin``
    target, path : the target and its file (for the messages)

    Raises
    ------
    ConfigError
        when the train split's example bins are all 0: nothing to learn (the masked loss
        weighs none of them). The same in valid or test is a warning: R², Pearson and
        Spearman are undefined there (NaN in metrics.json), and early stopping on a
        validation split of zeros ranks epochs on bins without data.
        Also when some chromosomes of a valid or test split, not all, have example bins
        all 0: the evaluation scores every example bin (the masked loss's weights apply
        to training only), so a block of 0 targets would be mixed into finite R²,
        Pearson and Spearman that look right. They are refused rather than left out
        because the split is the user's (a held-out chromosome without data is a file
        made for fewer chromosomes, or chrY of a female sample): dropping it from
        ``split`` says what the scores are of, and the dataset keeps the split given.
        In train such chromosomes only weigh nothing in the masked loss (as the
        zero-target bins of any chromosome), with the per-file warning of the build. A
        held-out split without data on every chromosome stays the warning above: its
        scores are NaN, not numbers that look right.
    """
    said = []
    for split in _splits.SETS:
        chroms, slices = example_slices(index, bin_offsets, stride, split)
        if not slices:
            continue
        if split == "train":  # only a train split of zeros as a whole is refused
            blank = {} if any(np.any(values[s]) for s in slices) else dict.fromkeys(chroms)
        else:
            blank = blank_chroms(index, values, bin_offsets, stride, split)
        if len(blank) == len(chroms):
            n = sum(len(values[s]) for s in slices)
            what = (f"split.{split} ({split_names(chroms)}): all of its {n} example bins of "
                    f"{target} are 0 (no data in {path} there?)")
            said.append(held_out_verdict(
                split, what, f"the model has nothing to learn; put chromosomes with {target} "
                "signal in train", "R², Pearson and Spearman are undefined on it (NaN in its "
                "metrics)", "early stopping ranks epochs on bins without data"))
        elif blank:
            raise _partly_blank(split, chroms, blank, values, target, path,
                                "these 0 targets would distort its R², Pearson and Spearman")
    return said


def check_threshold_labels(index: pd.DataFrame, values: np.ndarray, bin_offsets, stride: int,
                           target: str, path) -> None:
    """Binary labels from a threshold on the target (``peak_threshold``): a valid or test
    split whose target is 0 in every example bin of some of its chromosomes, not all.

    Parameters
    ----------
    index, values, bin_offsets, stride, target, path : as :func:`check_split_targets`

    Raises
    ------
    ConfigError
        naming the split, the chromosomes and the file: those bins are all labelled "no
        peak" (the file has no data there), which AUPRC and AUROC would score as true
        negatives beside the split's other chromosomes (finite scores that look right;
        a split without data on every chromosome is one class, warned about by
        :func:`kerasgene.datasets.peak_labels.check_split_classes`).
    """
    for split in _splits.SETS[1:]:
        chroms, _ = example_slices(index, bin_offsets, stride, split)
        blank = blank_chroms(index, values, bin_offsets, stride, split)
        if blank and len(blank) < len(chroms):
            raise _partly_blank(split, chroms, blank, values, target, path,
                                "labelled 'no peak' throughout (peak_threshold), these bins "
                                "would distort its AUPRC and AUROC")


def blank_chroms(index: pd.DataFrame, values: np.ndarray, bin_offsets, stride: int,
                 split: str) -> dict[str, list[slice]]:
    """The chromosomes of ``split`` whose example bins of ``values`` (as
    :func:`check_split_targets`) are all 0 → their example slices (:func:`example_slices`)."""
    chroms, _ = example_slices(index, bin_offsets, stride, split)
    by_chrom = {c: example_slices(index[index["chrom"] == c], bin_offsets, stride, split)[1]
                for c in chroms}
    return {c: parts for c, parts in by_chrom.items()
            if not any(np.any(values[s]) for s in parts)}


def _partly_blank(split: str, chroms: list[str], blank: Mapping[str, list[slice]],
                  values: np.ndarray, target: str, path, harm: str) -> ConfigError:
    """The error of a held-out split without ``target`` data on the chromosomes ``blank``
    (:func:`blank_chroms`) beside others with some; ``harm``: what scoring them would do."""
    names = list(blank)
    n = sum(len(values[s]) for parts in blank.values() for s in parts)
    return ConfigError(
        f"split.{split} ({split_names(chroms)}): all {n} example bins of {target} on "
        f"{split_names(names)} are 0 (no data in {path} there?); scored with the split's "
        f"other chromosomes, {harm}; drop {split_names(names)} from split.{split} (or give "
        f"a {target} file with data there)")


def check_held_out_inputs(index: pd.DataFrame, no_data: Mapping[str, list[str]]) -> None:
    """A valid or test chromosome on which an input track (GRO-seq / PRO-seq strand) has
    no data.

    Parameters
    ----------
    index : the segment table (:func:`segments_for`)
    no_data : each input file → the dataset's chromosomes on which all its bins are 0
        (``meta.json``'s ``signal_no_data``)

    Raises
    ------
    ConfigError
        naming the split, the chromosomes and the file: the model would be scored there
        on a channel of zeros, finite scores that look right (a training chromosome so
        is only warned about, per file, at build).
    """
    for split in _splits.SETS[1:]:
        held = index[(index["split"] == split) & (index["n_examples"] > 0)]
        chroms = list(dict.fromkeys(held["chrom"]))
        for path, blank in no_data.items():
            hit = [c for c in chroms if c in blank]
            if hit:
                raise ConfigError(
                    f"split.{split} ({split_names(chroms)}): no data in {path} on "
                    f"{split_names(hit)} (all its bins there are 0), so the model would be "
                    f"scored there on an input channel of zeros; drop {split_names(hit)} "
                    f"from split.{split} (or give an input file with data there)")
