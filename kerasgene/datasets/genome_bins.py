"""Chromatin imputation from nascent transcription: genome-wide 50 bp bins.

Every chromosome is binned once (exact bigWig means per ``bin_size`` bin): the input
channels (GRO-seq / PRO-seq plus and minus strand) into ``signal`` and the targets
(H3K4me3, H3K27ac, H3K27me3, DNase, ...) into ``targets``, each target smoothed along the
whole chromosome with a gaussian of ``sigma`` bins (so no window edge is baked in). An
example is one target bin; its input is the ``window`` bins centred on it (bins
[k − window//2, k − window//2 + window)), cut on the fly from ``signal``, which is stored
with window//2 zero bins before and window − 1 − window//2 after each chromosome so that
edge windows are zero-padded and never cross into the next chromosome. Nothing
per-example is stored.

Stored arrays: ``signal`` (total padded bins, n_channels) float32, ``targets`` (total bins,
n_targets) float32. Because a genome has tens of millions of bins, ``index.tsv`` here has
one row per *segment* (chrom, start_bin, end_bin, split, first example, n_examples)
rather than one per example; example ids run through the segments in order.

Config keys (``build_genome_bins(config, out_dir)`` / the ``chromatin`` YAML section)
-------------------------------------------------------------------------------------
``signal`` (required)
    Ordered mapping channel name → track file (e.g. ``{gro_plus: ..., gro_minus: ...}``),
    each a path or, for a bigBed, ``{path: ..., value_column: signalValue}`` (the field of
    the values, as iSEGnet's tracks; default ``score``, said at INFO, or in a warning when
    the bigBed has other numeric fields).
    ``signal_abs`` = true (minus-strand files often store negative values): the absolute
    value of every base, before the bins' means;
    ``signal_log1p`` = false (applied after merging);
    ``merge_signal`` = false: true sums the channels into one (plus + minus strand →
    the appendix CNN's ``Input (2561, 1)``).
    A signal file holding negative values under ``signal_abs: false`` with
    ``signal_log1p`` or ``merge_signal`` is an error (they would be clipped to 0 or cancel
    the plus strand); under ``signal_abs``, a file of both signs and a channel named
    plus / forward holding only negative values (swapped strands?) are warned about.
    A track without data on some chromosomes (all their bins 0) is warned about, naming
    them; a signal file without data on a valid or test chromosome is a ConfigError naming
    split, chromosome and file (the model would be scored on a channel of zeros), at build
    and at re-split (``meta.json``'s ``signal_no_data`` keeps them). Each track is its own
    file: two channels (or two targets) naming one file, or two files of identical bytes
    (a copy), are a ConfigError (one bigBed under two ``value_column`` is fine); a signal
    file that is also a target is warned about.
``targets`` (required)
    Ordered mapping target name → track file (as ``signal``). ``target``: the one yielded
    by default (first).
``bin_size`` = 50; ``window`` = 2561 (128 kb; 200 for the 5 kb models); ``sigma`` = 10
    ``window`` and ``sigma`` count bins of ``bin_size``, not bp. A gaussian of ``sigma`` ×
    ``bin_size`` ≥ 10 kb or a window of ``window`` × ``bin_size`` ≥ 500 kb
    (:data:`SIGMA_SPAN_MAX`, :data:`WINDOW_SPAN_MAX`) is built with a warning that it
    looks given in bp (the paper's 500 bp as ``sigma: 500`` smooths over 25 kb), naming
    the setting in bins.
``chroms`` = null (every chromosome present in all files, in the first signal file's order;
an empty list is a ConfigError)
``stride`` = 1 (an example every ``stride`` bins)
``chrom_aliases`` = null: optional chromosome alias table (UCSC ``chromAlias.txt`` or a user
table; :mod:`kerasgene.io.chroms`); files naming a chromosome differently (``chr1`` / ``1``)
agree through it and the built-in aliases. Tracks may be bigWig, bigBed or bedGraph
(:mod:`kerasgene.io.track_formats`); a bedGraph takes its chromosome sizes from the first
bigWig / bigBed track (signal, then targets). Without one (every track a bedGraph), each
chromosome ends at the last interval of any of the bedGraphs, with a warning naming the
chromosomes.
``mask_zero_targets`` = true
    Yield a sample weight of 0 for bins whose (smoothed) target is 0, 1 otherwise: the
    paper's masked MSE (mean over bins with a non-zero target) is the weighted MSE
    normalised by the sum of weights. (Regression targets only: the class target has no
    weight.) ``meta.json``'s ``zero_target_bins`` counts each target's bins of value 0
    (logged at INFO for ``target``).
``label`` = regression | binary
    binary: the report's binary task — the dataset also yields the target ``class``
    (int8: 1 = peak, 0 = no peak, at ``target``'s bin) and yields it by default. Its
    labels come from exactly one of:

    ``peaks`` = null
        A peak file of ``target`` (BED3 or wider: MACS2 narrowPeak / broadPeak, plain or
        gzip; :func:`kerasgene.io.peaks.read_peaks`). A bin is a peak when the union
        of the intervals covers at least ``peak_overlap`` × ``bin_size`` of its bases
        (at least one base); ``peak_overlap`` = 0.5 (≥ 25 of 50 bp, the rule of DeepSEA's
        200 bp bins; 0: any overlap). Chromosome names go through the aliases (exact
        name first); a file naming one chromosome two ways (``chr1`` and ``1``) has the
        peaks of both names used, with a warning; an interval past its chromosome's end
        (another assembly?) is an error — but with every track a bedGraph (each chromosome
        ending at its last interval), a warning counting and naming such peaks, whose
        bases past the end label no bin. A signal track (a bigWig, a text file whose
        track line says ``type=bedGraph``, a bedGraph without a track line) is refused.
        Peaks on chromosomes absent from the signal files are left out with a warning
        (INFO for those only left out of ``chroms``); dataset chromosomes without any
        peak are all 'no peak', with a warning naming them.
    ``peak_threshold`` = null
        A bin is a peak when ``target``'s regression value — the bin's mean fold change,
        gaussian-smoothed with ``sigma`` — is ≥ this value (in the bigWig's units).

    A rule that labels no bin, or every bin, a peak is a ConfigError; so is a train split
    whose example bins are all of one class (nothing to learn), while a valid or test
    split of one class is warned about, naming its chromosomes (AUPRC / AUROC undefined
    there; a one-class valid split ranks epochs by that class alone), at build and at
    re-split. The report states neither rule; its XGBoost table implies 1–6 % positive
    bins.
``split`` (required)
    ``{method: chromosome, train: [...], valid: [...], test: [...]}``; entries are a
    chromosome (``chr1``) or a fraction range of one (``chr1:0-0.25`` = its first quarter,
    the paper's XGBoost protocol). Parts of chromosomes in no list yield no examples (they
    still provide window context); one warning counts them and ``dropped.tsv`` lists each
    range (reason ``not_in_split``; :mod:`kerasgene.datasets.dropped`). Without ``train``,
    every chromosome not listed for valid / test is a training chromosome. Names are
    looked up as ``chroms`` names are (``chr1`` / ``1``, ``chrM`` / ``MT``, the alias
    table). ``chroms`` listing one chromosome twice (``chr1`` and ``1``) is a ConfigError.
    In the regression, a split whose example bins of ``target`` are all 0 (its file without
    data there) is a ConfigError for train (nothing to learn) and a warning for valid or
    test (R² and correlations undefined), at build and at re-split. A valid or test split
    whose example bins are all 0 on some of its chromosomes only is a ConfigError naming
    them and the file (evaluation scores every example bin, so their 0 targets would be
    mixed into finite scores; drop them from the split); in train they weigh 0 in the
    masked loss (:func:`kerasgene.datasets.bin_splits.check_split_targets`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping

import numpy as np
from tqdm.auto import tqdm

from kerasgene._io import to_plain
from kerasgene.config import Spec, check_value, yaml_number_hint
from kerasgene.datasets import base, storage
from kerasgene.datasets import splits as _splits
from kerasgene.datasets.bin_splits import (
    ONE_VALUE_SPLIT,
    check_held_out_inputs,
    check_split_targets,
    check_threshold_labels,
    dropped_ranges,
    segments_for,
)
from kerasgene.datasets.dropped import Dropped
from kerasgene.datasets.peak_labels import (
    check_peak_bins,
    check_split_classes,
    class_bins,
    peaks_by_chrom,
)
from kerasgene.errors import ConfigError, InputFileError, UnknownChromosomeError
from kerasgene.io.chroms import alias_map, load_aliases, resolves
from kerasgene.io.chroms import resolve as resolve_chrom
from kerasgene.io.track_checks import note_bigbed_field, same_data, track_entry
from kerasgene.io.track_formats import sniff_track
from kerasgene.io.tracks import Track, chrom_difference, gaussian_smooth

log = logging.getLogger(__name__)

DEFAULTS = {
    "signal": base.REQUIRED, "targets": base.REQUIRED, "target": None, "bin_size": 50,
    "window": 2561, "sigma": 10.0, "chroms": None, "stride": 1, "signal_abs": True,
    "signal_log1p": False, "merge_signal": False, "mask_zero_targets": True, "split": base.REQUIRED,
    "chrom_aliases": None, "label": "regression", "peaks": None, "peak_threshold": None,
    "peak_overlap": 0.5,
}
#: The class target of ``label: binary``.
CLASS_TARGET = "class"
#: What the scalar settings must be (checked before any file is read).
_SPECS = {"bin_size": Spec("int", min=1), "window": Spec("int", min=1),
          "stride": Spec("int", min=1), "sigma": Spec("number", min=0),
          "signal_abs": Spec("bool"), "signal_log1p": Spec("bool"), "merge_signal": Spec("bool"),
          "mask_zero_targets": Spec("bool"), "chroms": Spec("list", null=True),
          "peaks": Spec("path", null=True), "chrom_aliases": Spec("path", null=True)}
#: The widest gaussian (``sigma`` × ``bin_size``, bp) and input window (``window`` ×
#: ``bin_size``, bp) taken as given in bins without a warning: the paper's are 500 bp
#: (sigma 10) and 10 kb / 128 kb (window 200 / 2561); the same values given in bp read as
#: 25 kb and 500 kb / 6.4 Mb.
SIGMA_SPAN_MAX, WINDOW_SPAN_MAX = 10_000, 500_000


def binned_means(track: Track, chrom: str, n_bins: int, bin_size: int,
                 block_bins: int = 100_000, *, absolute: bool = False) -> np.ndarray:
    """Mean of every ``bin_size`` bin of a whole chromosome (bases without data and bases past
    the chromosome end count as 0), read in blocks of per-base values.

    Same numbers as ``Track.binned(..., "mean")``, whose exact pyBigWig statistics take ~2 s
    per 20,000 bins; reading values and averaging is ~100x faster. ``absolute``: the mean
    of the bases' absolute values (``signal_abs``: a file of both strands' counts, minus as
    negative values, adds them up rather than cancelling them within a bin).
    """
    out = np.empty(n_bins, dtype=np.float32)
    for lo in range(0, n_bins, block_bins):
        hi = min(lo + block_bins, n_bins)
        vals = track.values(chrom, lo * bin_size, hi * bin_size)
        if absolute:
            vals = np.abs(vals)
        out[lo:hi] = vals.reshape(hi - lo, bin_size).mean(axis=1, dtype=np.float64)
    return out


@base.register("chromatin")
class GenomeBinsDataset(base.Dataset):
    """Examples = target bins; input ``signal`` (window, n_channels) cut on the fly."""

    checks_split_classes = True  # :func:`kerasgene.datasets.peak_labels.check_split_classes`

    @property
    def window(self) -> int:
        return int(self.meta["params"]["window"])

    @property
    def chroms(self) -> list[str]:
        return list(self.meta["chroms"])

    @property
    def mark(self) -> str:
        """The chromatin target the examples are about (its peaks for ``class``)."""
        return str(self.meta["params"]["target"])

    def split_indices(self, split):
        if not isinstance(split, str) or split == "all":
            return super().split_indices(split)
        if split not in (*_splits.SETS, _splits.NONE):
            raise ConfigError(f"unknown split {split!r}; expected train, valid, test, none or all")
        seg = self.index[self.index["split"] == split]
        parts = [np.arange(o, o + n, dtype=np.int64)
                 for o, n in zip(seg["ex_offset"], seg["n_examples"])]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    @property
    def split_counts(self) -> dict[str, int]:
        return {s: int(self.index.loc[self.index["split"] == s, "n_examples"].sum())
                for s in (*_splits.SETS, _splits.NONE)}

    def with_split(self, spec):
        table = (self.meta.get("inputs", {}).get("chrom_aliases") or {}).get("path")
        index = segments_for(spec, self.chroms, list(self.meta["chrom_bins"]),
                             int(self.meta["params"]["stride"]),
                             table if table and os.path.exists(table) else None)
        meta = {**self.meta, "split": to_plain(dict(spec)),
                "n_examples": int(index["n_examples"].sum())}
        # the old split's warnings of one-class (or all-zero) splits no longer hold
        meta["build_warnings"] = [m for m in self.meta.get("build_warnings") or []
                                  if not ONE_VALUE_SPLIT.match(m)] + self._check_split(index)
        new = type(self)(self.path, meta, index, self.arrays)
        new.meta["split_counts"] = new.split_counts
        new.meta["dropped"] = new._dropped().counts()
        return new

    def _check_split(self, index) -> list[str]:
        """The warnings of a split ``index`` whose held-out example bins are of one class
        (binary) or all 0 (regression); a train split so is a ConfigError, and so is a
        held-out chromosome without input data, or (regression) without target data beside
        chromosomes with some (:func:`check_split_targets`)."""
        stride, offsets = int(self.meta["params"]["stride"]), self.meta["bin_offsets"]
        check_held_out_inputs(index, self.meta.get("signal_no_data") or {})
        values = self.arrays["targets"][:, self.targets.index(self.mark)]
        path = (self.meta.get("inputs", {}).get(f"targets.{self.mark}") or {}).get("path")
        if "classes" in self.arrays:
            if self.meta["params"].get("peak_threshold") is not None:
                check_threshold_labels(index, values, offsets, stride, self.mark, path)
            return check_split_classes(index, self.arrays["classes"], offsets, stride,
                                       self.mark)
        return check_split_targets(index, values, offsets, stride, self.mark, path)

    def _dropped(self) -> Dropped:
        """The chromosome ranges this split leaves out."""
        params = self.meta["params"]
        bin_size = int(params["bin_size"])
        lengths = self.meta.get("chrom_lengths") or [n * bin_size
                                                     for n in self.meta["chrom_bins"]]
        return dropped_ranges(self.index, self.chroms, list(lengths), bin_size,
                               int(params["stride"]))

    def save_split(self) -> None:
        """Persist the split (index.tsv, meta.json) and the ranges it leaves out
        (dropped.tsv); warn about them."""
        dropped = self._dropped()
        dropped.warn()
        dropped.write(self.path)
        super().save_split()

    def positions(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """(chromosome index, bin within the chromosome) of examples ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        off, start, chrom = self._segments
        seg = np.searchsorted(off, idx, side="right") - 1
        k = start[seg] + (idx - off[seg]) * int(self.meta["params"]["stride"])
        return chrom[seg], k

    @functools.cached_property
    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nonempty = self.index[self.index["n_examples"] > 0]
        return (nonempty["ex_offset"].to_numpy(np.int64), nonempty["start_bin"].to_numpy(np.int64),
                nonempty["chrom_id"].to_numpy(np.int64))

    def _output_spec(self, target):
        spec = {"signal": ((self.window, self.arrays["signal"].shape[1]), np.dtype(np.float32))}
        if self._target(target) == CLASS_TARGET:
            return {**spec, "target": ((), np.dtype(np.int8))}
        spec["target"] = ((), np.dtype(np.float32))
        if self.meta["params"]["mask_zero_targets"]:
            spec["weight"] = ((), np.dtype(np.float32))
        return spec

    def _labels(self, idx, target):
        c, k = self.positions(idx)
        at = np.asarray(self.meta["bin_offsets"], np.int64)[c] + k
        if target == CLASS_TARGET:
            return np.asarray(self.arrays["classes"][at])
        return np.asarray(self.arrays["targets"][at, self.targets.index(target)])

    def _gather(self, idx, target=None):
        target = self._target(target)
        c, k = self.positions(idx)
        starts = np.asarray(self.meta["pad_offsets"], np.int64)[c] + k
        if len(starts) and (np.diff(starts) >= 0).all() and starts[-1] - starts[0] < 4 * self.window:
            lo = int(starts[0])
            block = np.asarray(self.arrays["signal"][lo : int(starts[-1]) + self.window])
            win = block[(starts - lo)[:, None] + np.arange(self.window)]
        else:
            win = self.arrays["signal"][starts[:, None] + np.arange(self.window)]
        y = self._labels(idx, target)
        out = {"signal": win, "target": y}
        if target != CLASS_TARGET and self.meta["params"]["mask_zero_targets"]:
            out["weight"] = (y != 0).astype(np.float32)
        return out


def build_genome_bins(config: Mapping | None = None, out_dir: str | os.PathLike | None = None, *,
                      force: bool = False, progress: bool = True,
                      base_dir: str | os.PathLike | None = None, **kwargs) -> GenomeBinsDataset:
    """Prepare the chromatin-imputation dataset (config keys in the module docstring)."""
    cfg = base.resolve_config(config, kwargs, DEFAULTS, "chromatin")
    if out_dir is None:
        raise ConfigError("chromatin: out_dir is required")
    cfg = {**cfg, "target": _check_config(cfg)}
    tracks = track_entries(cfg, base_dir)
    check_track_files(tracks)
    signal_names = [k.split(".", 1)[1] for k in tracks if k.startswith("signal.")]
    inputs = {k: path for k, (path, _) in tracks.items()}
    for key in ("chrom_aliases", "peaks"):
        if cfg[key] is not None:
            inputs[key] = base.resolve_path(cfg[key], base_dir)
    params = {k: v for k, v in cfg.items() if k != "split"}
    split_spec = dict(cfg["split"])
    writer, cached = storage.writer_or_cached(out_dir, "chromatin", params, inputs, split_spec,
                                              force)
    if cached is not None:
        return cached

    table = load_aliases(inputs.get("chrom_aliases"))
    opened: dict[str, Track] = {}
    try:
        open_tracks(tracks, table, opened)
        sig_tracks = [opened[k] for k in tracks if k.startswith("signal.")]
        tgt_tracks = [opened[k] for k in tracks if k.startswith("targets.")]
        check_signs(cfg, signal_names, sig_tracks)
        chroms = bin_chromosomes(cfg["chroms"], sig_tracks, tgt_tracks)
        guessed = sizes_from_intervals(list(opened.values()), chroms)
        peaks = peaks_by_chrom(inputs["peaks"], chroms, sig_tracks[0].chroms, table,
                               sizes_from_intervals=guessed) if "peaks" in inputs else None
        return _write_bins(writer, cfg, split_spec, chroms, sig_tracks, tgt_tracks,
                           signal_names, progress, peaks, table)
    finally:
        for t in opened.values():
            t.close()


def track_entries(cfg: Mapping, base_dir) -> dict[str, tuple[os.PathLike, str | int | None]]:
    """``{"signal.NAME" / "targets.NAME": (resolved path, value_column or None)}`` of a
    checked config's tracks, signal channels first, each in the config's order."""
    out = {}
    for key in ("signal", "targets"):
        for name, value in cfg[key].items():
            path, column = track_entry(value, f"chromatin.{key}.{name}")
            out[f"{key}.{name}"] = (base.resolve_path(path, base_dir), column)
    return out


def open_tracks(tracks: Mapping[str, tuple], table, opened: dict) -> None:
    """Open ``tracks`` (key → (path, value_column): :func:`track_entries`) into
    ``opened`` (filled as they open, so the caller can close them on error): bigWigs and
    bigBeds first (a bigBed without value_column read from its score, said by
    :func:`note_bigbed_field`), then every bedGraph with the chromosome sizes of the first
    of them (a bedGraph alone does not know where its chromosomes end). Without a bigWig
    or bigBed, every bedGraph takes the sizes of the ends of the last intervals of all of
    them (the longest, per chromosome)."""
    paths = {k: path for k, (path, _) in tracks.items()}
    bedgraphs = [k for k in tracks if sniff_track(paths[k]) == "bedgraph"]
    for k, (path, column) in tracks.items():
        if k not in bedgraphs:
            opened[k] = Track(path, aliases=table, value_column=column)
            if column is None and opened[k].format == "bigbed":
                note_bigbed_field(path, k)
    sizes = next(iter(opened.values())).chroms if opened else None
    for k in bedgraphs:
        opened[k] = Track(paths[k], aliases=table, chrom_sizes=sizes,
                          value_column=tracks[k][1])
    if sizes is None and len(bedgraphs) > 1:
        # every track a bedGraph, each chromosome ending at its own last interval: files
        # ending at different bases would differ in length
        union: dict[str, int] = {}  # chromosome (first file's name) → longest end
        for k in bedgraphs:
            for c, n in opened[k].chroms.items():
                names = alias_map(union, table)
                c = resolve_chrom(c, names, "") if resolves(c, names) else c
                union[c] = max(union.get(c, 0), n)
        names = alias_map(union, table)
        for k in bedgraphs:
            if any(union[resolve_chrom(c, names, "")] != n for c, n in opened[k].chroms.items()):
                opened.pop(k).close()
                opened[k] = Track(paths[k], aliases=table, chrom_sizes=union)


def check_signs(cfg: Mapping, names: list[str], tracks: list[Track]) -> None:
    """Negative values in the signal files (their header's minimum): minus-strand GRO-seq /
    PRO-seq files store counts as values <= 0. Under ``signal_abs: false`` they cannot go
    through ``signal_log1p`` (clipped to 0) or ``merge_signal`` (they would cancel the plus
    strand): an error. Under ``signal_abs``, a file of both signs (not one strand's counts)
    and a plus-named channel of only negative values (plus and minus swapped?) are warned
    about."""
    for name, t in zip(names, tracks):
        if t.header.get("minVal") is None or t.header.get("maxVal") is None:
            continue
        # values are float32: libBigWig (pyBigWig) writes 2.2e-308 as the maximum of a file
        # of negative values only
        lo, hi = (float(np.float32(t.header[k])) for k in ("minVal", "maxVal"))
        if not np.isfinite([lo, hi]).all() or lo >= 0:
            continue
        where = f"{t.path} (signal.{name})"
        if not cfg["signal_abs"]:
            effects = {"signal_log1p": "clip them to 0",
                       "merge_signal": "subtract them from the other channels"}
            for key, effect in effects.items():
                if cfg[key]:
                    raise InputFileError(
                        f"{where}: holds negative values (down to {lo:g}), as minus-strand "
                        f"files do; with signal_abs: false, {key} would {effect}; set "
                        "signal_abs: true to use their absolute values")
        elif hi > 0:
            log.warning("%s: holds both negative (down to %g) and positive (up to %g) values, "
                        "where a strand's file holds one sign; signal_abs takes the absolute "
                        "value of every base, so the two signs add up in a bin (both strands "
                        "in one channel); give each strand's file its own channel to keep them "
                        "apart", where, lo, hi)
        elif re.search(r"plus|fwd|forward|pos", name, re.IGNORECASE):
            log.warning("%s: holds only negative values, as a minus-strand file does, but is "
                        "channel %r; are the plus and minus files swapped?", where, name)


def sizes_from_intervals(tracks: list[Track], chroms: list[str]) -> bool:
    """True when no bigWig or bigBed is among ``tracks``: the bedGraphs' chromosomes then
    end at their last interval; say so (WARNING), naming the chromosomes."""
    if any(t.format != "bedgraph" for t in tracks):
        return False
    log.warning("chromatin: every track is a bedGraph, so no file gives chromosome sizes; the "
                "lengths of %d chromosomes (%s) are the ends of their last intervals and bins "
                "past them are absent; add a bigWig track to give the genome's sizes",
                len(chroms), ", ".join(chroms[:10]) + (", ..." if len(chroms) > 10 else ""))
    return True


def _check_config(cfg: Mapping) -> str:
    """Check the sizes and target of a resolved config (its track entries:
    :func:`track_entries`); return the target (default: the first of ``targets``)."""
    for key in ("signal", "targets"):
        if not isinstance(cfg[key], Mapping) or not cfg[key]:
            raise ConfigError(f"chromatin.{key}: expected a mapping name → bigWig")
    for key, spec in _SPECS.items():
        value = cfg[key].item() if isinstance(cfg[key], np.generic) else cfg[key]
        check_value(value, spec, f"chromatin.{key}")
    if cfg["chroms"] is not None and not len(cfg["chroms"]):
        raise ConfigError("chromatin.chroms: an empty list; expected the chromosomes to bin "
                          "(or null for every chromosome of the signal files)")
    if not np.isfinite(cfg["sigma"]):
        raise ConfigError(f"chromatin.sigma: expected a finite number >= 0 (bins), got "
                          f"{cfg['sigma']!r}")
    _check_bin_units(cfg)
    target_names = [str(t) for t in cfg["targets"]]
    target = cfg["target"] or target_names[0]
    if target not in target_names:
        raise ConfigError(f"chromatin.target: {target!r} is not one of targets {target_names}")
    if CLASS_TARGET in target_names:
        raise ConfigError(f"chromatin.targets: {CLASS_TARGET!r} is the name of the binary "
                          "task's target; name the track otherwise")
    _check_label(cfg)
    return target


def _check_bin_units(cfg: Mapping) -> None:
    """Warn about a ``sigma`` or ``window`` that looks given in bp, not in bins of
    ``bin_size``: a gaussian of ``sigma`` × ``bin_size`` ≥ :data:`SIGMA_SPAN_MAX` bp, or
    a window of ``window`` × ``bin_size`` ≥ :data:`WINDOW_SPAN_MAX` bp. Wider settings
    are possible (broad marks, long-range models), so they are built, with the rule and
    the setting in bins that the value would be in bp."""
    bin_size = int(cfg["bin_size"])
    for key, bound, paper in (("sigma", SIGMA_SPAN_MAX, "500 bp is sigma: 10"),
                              ("window", WINDOW_SPAN_MAX, "128 kb is window: 2561")):
        value = cfg[key]
        if value * bin_size >= bound:
            in_bins = value / bin_size if key == "sigma" else max(1, round(value / bin_size))
            log.warning("chromatin.%s: %s bins of %d bp span %s bp, at least %s bp; %s counts "
                        "bins, not bp (the paper's %s): if %s bp was meant, set %s: %s", key,
                        f"{value:,.10g}", bin_size, f"{value * bin_size:,.10g}", f"{bound:,}",
                        key, paper, f"{value:,.10g}", key, f"{in_bins:.10g}")


def check_track_files(tracks: Mapping[str, tuple], prefix: str = "chromatin.") -> None:
    """One file named by two tracks (a path copied from another entry), or two files of
    identical bytes (a file copied under another name); ``tracks``: :func:`track_entries`
    (one bigBed under two value_column is two tracks). Two signal channels or two targets:
    ConfigError (a channel would repeat another, e.g. the plus strand twice and no minus
    strand), the setting named ``prefix`` + ``signal`` / ``targets``. A signal file also a
    target: a warning (the model is given its own target as input)."""
    for first, where, what in same_data(tracks):
        key = where.split(".")[0]
        if first.split(".")[0] == key:
            raise ConfigError(f"{prefix}{key}: {first} and {where} {what}; expected each "
                              "track's own file")
        log.warning("chromatin: %s and %s %s: the target is also an input channel, so the "
                    "model is given the values it is to predict", first, where, what)


def _check_label(cfg: Mapping) -> None:
    """``label`` and its rule: binary needs exactly one of ``peaks`` / ``peak_threshold``,
    regression neither; ``peak_overlap`` in [0, 1]."""
    if cfg["label"] not in ("regression", "binary"):
        raise ConfigError(f"chromatin.label: expected regression or binary, got "
                          f"{cfg['label']!r}")
    rules = [k for k in ("peaks", "peak_threshold") if cfg[k] is not None]
    if cfg["label"] == "regression" and rules:
        raise ConfigError(f"chromatin.{rules[0]}: used only by the binary task; set "
                          "label: binary (or remove it)")
    if cfg["label"] == "binary" and len(rules) != 1:
        raise ConfigError("chromatin.label: binary needs exactly one of peaks (a BED / "
                          "narrowPeak file of the target's peaks) or peak_threshold (a value "
                          f"of the smoothed target), got {rules or 'neither'}")
    threshold, overlap = cfg["peak_threshold"], cfg["peak_overlap"]
    if threshold is not None and not _finite_number(threshold):
        raise ConfigError(f"chromatin.peak_threshold: expected a number, got {threshold!r}"
                          f"{yaml_number_hint([threshold])}")
    if not _finite_number(overlap) or not 0 <= overlap <= 1:
        raise ConfigError(f"chromatin.peak_overlap: expected a fraction of the bin in "
                          f"[0, 1], got {overlap!r}")


def _finite_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and bool(np.isfinite(value))


def _shared_chromosomes(files: list[Track], where: str) -> list[str]:
    """The chromosomes of every file, named and ordered as in the first. A chromosome
    missing from a bedGraph is one without an interval there (``bedtools genomecov -bg``
    writes none for a chromosome without reads): those are left out, with a warning naming
    them; one missing from a bigWig or bigBed is an InputFileError (another assembly or
    naming?), as is any difference when ``where`` lists none."""
    from kerasgene.io.chroms import canonical

    ref = files[0]
    table = next((t.alias_table for t in files if t.alias_table is not None), None)
    keys = [{canonical(c, table): c for c in t.chroms} for t in files]
    named = {k: c for got in reversed(keys) for k, c in got.items()}  # the first file's name
    lacking = {t.path: sorted(named[k] for k in named.keys() - got.keys())
               for t, got in zip(files, keys) if named.keys() - got.keys()}
    for t in files:  # a bigWig / bigBed without a chromosome of another file
        if lacking.get(t.path) and t.format != "bedgraph":
            other = next(u for u in files if u is not t and chrom_difference(t, u))
            first, second = (t, other) if other is ref else (other, t)
            raise InputFileError(f"{first.path}: chromosomes differ from {second.path}: "
                                 f"{chrom_difference(first, second)}; list the chromosomes "
                                 f"to use in {where}")
    shared = [c for c in ref.chroms if all(canonical(c, table) in k for k in keys)]
    for path, missing in lacking.items():
        log.warning("%s: no interval on %d chromosomes of the other files (%s): they are "
                    "left out (%s not given: every chromosome that each file holds)", path,
                    len(missing), ", ".join(missing[:10]) + (", ..." if len(missing) > 10
                                                             else ""), where)
    if not shared:
        raise InputFileError(f"{ref.path}: no chromosome is in every file; list the "
                             f"chromosomes to use in {where}")
    return shared


def bin_chromosomes(listed: list | None, sig_tracks: list[Track], tgt_tracks: list[Track],
                    where: str = "chromatin.chroms") -> list[str]:
    """The chromosomes to bin, named as in the first signal file: ``listed`` (each must be
    in every file, and listed once: two names of one chromosome, ``chr1`` and ``1``, are a
    ConfigError) or all of the first signal file's, which every file must share but for
    chromosomes a bedGraph has no interval on (left out with a warning:
    :func:`_shared_chromosomes`); every file must give them the same lengths. ``where``:
    the setting that lists them, named in the errors."""
    ref = sig_tracks[0]
    if listed is None:
        chroms = _shared_chromosomes(sig_tracks + tgt_tracks, where)
    else:
        chroms = [ref.resolve(str(c)) for c in listed]
        first: dict[str, str] = {}
        for entry, c in zip(listed, chroms):
            if c in first:
                raise ConfigError(f"{where}: {first[c]!r} and {entry!r} are one "
                                  f"chromosome ({c} in {ref.path}); list each chromosome once")
            first[c] = str(entry)
        for t in sig_tracks + tgt_tracks:
            for c in chroms:
                _resolve_listed(t, c, where)
    for t in sig_tracks + tgt_tracks:
        for c in chroms:
            if t.chroms[t.resolve(c)] != ref.chroms[c]:
                raise InputFileError(f"{t.path}: {c} has length {t.chroms[t.resolve(c)]}, "
                                     f"{ref.path} says {ref.chroms[c]}")
    return chroms


def _resolve_listed(track: Track, chrom: str, where: str) -> str:
    """``chrom`` (listed in ``where``) as ``track`` names it; a bedGraph without a line on
    it (it names no chromosome it has no interval on) is said to hold no data there."""
    try:
        return track.resolve(chrom)
    except UnknownChromosomeError:
        if track.format != "bedgraph":
            raise
        raise InputFileError(f"{track.path}: no interval on {chrom}, which {where} lists (a "
                             "bedGraph names only the chromosomes it has lines on); expected "
                             f"data on every listed chromosome, or {chrom} left out of "
                             f"{where}") from None


def _write_bins(writer: storage.DatasetWriter, cfg: Mapping, split_spec: dict, chroms: list[str],
                sig_tracks: list[Track], tgt_tracks: list[Track], signal_names: list[str],
                progress: bool, peaks: dict | None, table=None) -> GenomeBinsDataset:
    """Bin every chromosome into ``signal`` (padded by window), ``targets`` and (binary
    task) ``classes``; commit the dataset with its segment index (split names through the
    alias ``table``), dropped ranges and meta."""
    ref = sig_tracks[0]
    bin_size, window, stride = int(cfg["bin_size"]), int(cfg["window"]), int(cfg["stride"])
    n_bins = [-(-ref.chroms[c] // bin_size) for c in chroms]
    pad_lens = [n + window - 1 for n in n_bins]
    pad_offsets = np.concatenate([[0], np.cumsum(pad_lens)[:-1]]).astype(np.int64)
    bin_offsets = np.concatenate([[0], np.cumsum(n_bins)[:-1]]).astype(np.int64)
    index = segments_for(split_spec, chroms, n_bins, stride, table)
    lengths = [ref.chroms[c] for c in chroms]
    dropped = dropped_ranges(index, chroms, lengths, bin_size, stride)
    dropped.warn()
    binary = cfg["label"] == "binary"
    mark = [str(t) for t in cfg["targets"]].index(cfg["target"])
    labels = np.zeros(int(sum(n_bins)) if binary else 0, np.int8)  # every bin's class
    nonzero = np.zeros(int(sum(n_bins)), bool)  # every bin's target != 0
    empty: dict[str, list[str]] = {}  # track → chromosomes where every bin is 0
    zero_bins = np.zeros(len(tgt_tracks), np.int64)  # per target: bins of value 0
    with writer:
        n_sig = 1 if cfg["merge_signal"] else len(sig_tracks)
        sig_out = writer.array("signal", (int(sum(pad_lens)), n_sig), np.float32)
        tgt_out = writer.array("targets", (int(sum(n_bins)), len(tgt_tracks)), np.float32)
        cls_out = writer.array("classes", (int(sum(n_bins)),), np.int8) if binary else None
        for c, n, at in tqdm(list(zip(chroms, n_bins, bin_offsets)), desc="chromatin bins",
                             unit="chrom", disable=not progress):
            sig_out.append(signal_bins(cfg, sig_tracks, c, n, empty))
            tgt = np.empty((n, len(tgt_tracks)), np.float32)
            for j, t in enumerate(tgt_tracks):
                means = binned_means(t, c, n, bin_size)
                if not means.any():
                    empty.setdefault(str(t.path), []).append(c)
                tgt[:, j] = gaussian_smooth(means, float(cfg["sigma"]))
            zero_bins += (tgt == 0).sum(axis=0)
            tgt_out.append(tgt)
            if binary:
                labels[at : at + n] = class_bins(cfg, tgt[:, mark],
                                                 None if peaks is None else peaks.get(c))
                cls_out.append(labels[at : at + n])
            nonzero[at : at + n] = tgt[:, mark] != 0
        signal_no_data = {str(t.path): empty[str(t.path)] for t in sig_tracks
                          if str(t.path) in empty}
        check_held_out_inputs(index, signal_no_data)
        if binary:
            check_peak_bins(cfg, int(labels.sum(dtype=np.int64)), len(labels))
            if cfg["peak_threshold"] is not None:
                check_threshold_labels(index, nonzero, bin_offsets, stride, cfg["target"],
                                       tgt_tracks[mark].path)
            check_split_classes(index, labels, bin_offsets, stride, cfg["target"])
        else:
            check_split_targets(index, nonzero, bin_offsets, stride, cfg["target"],
                                tgt_tracks[mark].path)
        _warn_empty(empty, chroms)
        zero = dict(zip([str(t) for t in cfg["targets"]], zero_bins.tolist()))
        if cfg["mask_zero_targets"] and not binary:
            log.info("chromatin: %d of %d bins (%.2f%%) of %s are 0 after smoothing: weight 0 "
                     "in the masked loss (mask_zero_targets)", zero[cfg["target"]],
                     sum(n_bins), 100 * zero[cfg["target"]] / sum(n_bins), cfg["target"])
        meta = {
            "n_examples": int(index["n_examples"].sum()), "chroms": chroms,
            "chrom_bins": n_bins, "pad_offsets": pad_offsets, "bin_offsets": bin_offsets,
            "input_names": ["signal"],
            "input_shapes": {"signal": [window, n_sig]},
            "signal_names": ["+".join(signal_names)] if cfg["merge_signal"] else signal_names,
            "target_name": CLASS_TARGET if binary else cfg["target"],
            "targets": [str(t) for t in cfg["targets"]] + ([CLASS_TARGET] if binary else []),
            "split": split_spec,
            "split_counts": {s: int(index.loc[index["split"] == s, "n_examples"].sum())
                             for s in (*_splits.SETS, _splits.NONE)},
            "dropped": dropped.counts(), "chrom_lengths": lengths, "zero_target_bins": zero,
            "signal_no_data": signal_no_data,
        }
        if binary:
            meta.update(n_classes=2, class_names=["no peak", "peak"],
                        peak_fraction=float(labels.mean()))
        dropped.write(writer.tmp)
        return writer.commit(index, meta)


def signal_bins(cfg: Mapping, tracks: list[Track], chrom: str, n: int,
                 empty: dict | None = None) -> np.ndarray:
    """Input channels of one chromosome of ``n`` bins, with window // 2 zero bins before
    and window − 1 − window // 2 after: (n + window − 1, channels) float32. A track whose
    bins are all 0 here is listed in ``empty`` (path → chromosomes)."""
    window = int(cfg["window"])
    half = window // 2
    n_sig = 1 if cfg["merge_signal"] else len(tracks)
    sig = np.zeros((n + window - 1, n_sig), np.float32)
    for j, t in enumerate(tracks):
        v = binned_means(t, chrom, n, int(cfg["bin_size"]), absolute=cfg["signal_abs"])
        if empty is not None and not v.any():
            empty.setdefault(str(t.path), []).append(chrom)
        sig[half : half + n, 0 if cfg["merge_signal"] else j] += v
    if cfg["signal_log1p"]:
        sig = np.log1p(np.maximum(sig, 0))
    return sig


def signal_file_units(signal: np.ndarray, cfg: Mapping) -> np.ndarray:
    """The bins' means of :func:`signal_bins` values (``signal_log1p`` undone): the scale
    of the files, which a sample of another normalisation is told by
    (``preprocessing.json``'s ``signal_stats``, :mod:`kerasgene.explain.impute`)."""
    return np.expm1(signal) if cfg["signal_log1p"] else np.asarray(signal)


def _warn_empty(empty: Mapping[str, list[str]], chroms: list[str]) -> None:
    """One warning per track without data on some of the dataset's chromosomes (a file
    made for fewer chromosomes than its header lists, or a chromosome without reads):
    their bins are 0 (targets: weight 0 under mask_zero_targets)."""
    for path, names in empty.items():
        log.warning("%s: no data on %d of the dataset's %d chromosomes (%s%s): all their bins "
                    "are 0; list the chromosomes to use in chromatin.chroms if that is not "
                    "meant", path, len(names), len(chroms), ", ".join(names[:10]),
                    ", ..." if len(names) > 10 else "")


__all__ = ["CLASS_TARGET", "GenomeBinsDataset", "bin_chromosomes", "binned_means",
           "build_genome_bins", "check_signs", "check_track_files", "open_tracks",
           "signal_bins", "signal_file_units", "sizes_from_intervals", "track_entries"]
