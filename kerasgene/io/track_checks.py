"""What a user's track files and values say about their mistakes, checked by the
builders and ``predict``: a config's track entry (:func:`track_entry`) and the field read
from a bigBed given without one (:func:`note_bigbed_field`), one file named by two tracks
(:func:`shared_files`) or two files of identical bytes (:func:`identical_files`; both:
:func:`same_data`), a track
without data around the genes of some chromosomes (:func:`note_signal`,
:func:`no_signal_messages`), and tracks not on the scale of a reference — the training
data, or a dataset's other samples (:func:`track_statistics`, :func:`scale_mismatches`,
:func:`sample_scale_mismatches`; per chromosome: :func:`chrom_scale_mismatches`), binned
at another resolution than training's (:func:`resolution_mismatches`), or with the
positional profile of another track (:func:`track_profiles`, :func:`swapped_tracks`: two
files given each other's names). :func:`window_sums` are the statistics' sums, which add
up over chunks of windows (:func:`add_sums`).
"""

from __future__ import annotations

import filecmp
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from kerasgene.config import check_keys
from kerasgene.errors import ConfigError, shown
from kerasgene.io import chroms as _chroms
from kerasgene.io.track_formats import bigbed_number_fields

log = logging.getLogger(__name__)

#: the keys of a config's track entry given as a mapping (:func:`track_entry`)
TRACK_ENTRY_KEYS = ("path", "value_column")


def track_entry(value: Any, where: str) -> tuple[str | os.PathLike, str | int | None]:
    """The file and bigBed field of a config's track entry: a path, or ``{path: ...,
    value_column: ...}`` (as iSEGnet's tracks), ``value_column`` naming the bigBed field
    of the values — an autoSql field (narrowPeak's ``signalValue``) or a 1-based BED
    column number.

    Returns
    -------
    ``(path, value_column)``: the path as given, None for no ``value_column``.

    Raises
    ------
    ConfigError
        naming ``where`` (``chromatin.targets.K4``): no path, an unknown key, or a
        ``value_column`` that is neither a name nor a column number.
    """
    column = None
    if isinstance(value, Mapping):
        check_keys(value, TRACK_ENTRY_KEYS, where)
        if "path" not in value:
            raise ConfigError(f"{where}: missing required key 'path'")
        column = value.get("value_column")
        if column is not None and (isinstance(column, bool) or column == ""
                                   or not isinstance(column, str | int)):
            raise ConfigError(f"{where}.value_column: expected a bigBed field name (e.g. "
                              f"signalValue) or a BED column number, got {column!r}")
        value = value["path"]
    if not isinstance(value, str | os.PathLike) or not str(value).strip():
        raise ConfigError(f"{where}: expected the path of a bigWig, bigBed or bedGraph file, "
                          f"got {value!r}")
    return value, column


def note_bigbed_field(path: str | os.PathLike, where: str) -> None:
    """Say which field of a bigBed track given without ``value_column`` is read: its
    ``score`` (BED column 5, the default). A WARNING naming the other numeric fields when
    it has some (a narrowPeak's score is a browser shade, 0-1000, its ``signalValue`` the
    enrichment), else INFO. ``where`` names the track (``targets.K4``)."""
    others = bigbed_number_fields(path)
    if others:
        log.warning("%s (%s): a bigBed, read from its score field (the default value_column), "
                    "though it has the numeric fields %s (a narrowPeak's score is a browser "
                    "shade, 0-1000); give {path: %s, value_column: %s} to read another, or "
                    "value_column: score to keep this one", path, where, ", ".join(others),
                    path, others[0])
    else:
        log.info("%s (%s): a bigBed, read from its score field (the default value_column)",
                 path, where)


def note_signal(by_chrom: dict[str, tuple[int, np.ndarray]], chroms: Sequence[str],
                values: np.ndarray) -> None:
    """Add windows to ``by_chrom`` (chromosome → (windows, whether each track is ever not
    0 in them)): ``values`` (n, length, tracks) of windows on ``chroms`` (n names)."""
    nonzero = (np.asarray(values) != 0).any(axis=1)
    names = np.asarray(chroms, dtype=object)
    for c in dict.fromkeys(names):
        on = names == c
        n, seen = by_chrom.get(c, (0, np.zeros(nonzero.shape[1], bool)))
        by_chrom[c] = (n + int(on.sum()), seen | nonzero[on].any(axis=0))


def no_signal_messages(by_chrom: Mapping[str, tuple[int, np.ndarray]],
                       tracks: Mapping[str, str | os.PathLike], what: str) -> list[str]:
    """One message per track of ``tracks`` (name → file, in channel order) that is 0 in
    every window of every gene on some chromosomes (``by_chrom``: :func:`note_signal`):
    a file made for fewer chromosomes than its header lists, or a chromosome without
    reads — those genes' channel is all 0. ``what`` names the owner (``sample s1``)."""
    chroms = sorted(by_chrom, key=_chroms.sort_key)
    out = []
    for j, (name, path) in enumerate(tracks.items()):
        empty = [c for c in chroms if not by_chrom[c][1][j]]
        if empty:
            out.append(f"{path} ({what}, track {name}): no signal around any of the "
                       f"{sum(by_chrom[c][0] for c in empty)} genes on {len(empty)} of the "
                       f"{len(chroms)} chromosomes with genes ({', '.join(empty[:10])}"
                       f"{', ...' if len(empty) > 10 else ''}): their {name} windows are all "
                       "0; is the file made for fewer chromosomes than its header lists?")
    return out


def shared_files(paths: Mapping[str, str | os.PathLike | tuple]) -> list[tuple[str, str, str]]:
    """``(first name, name, path)`` for each entry of ``paths`` (name → a file path, or
    ``(path, *fields)`` when the same file read for other fields counts as another track,
    as a bigBed under two ``value_column``) that names the file of an earlier entry:
    compared by real path (links and ``./`` resolved). A path copied from another track's
    entry gives two channels of one file."""
    seen: dict[tuple, str] = {}
    out = []
    for name, value in paths.items():
        path, *fields = value if isinstance(value, tuple) else (value,)
        first = seen.setdefault((os.path.realpath(path), *fields), name)
        if first != name:
            out.append((first, name, str(path)))
    return out


def identical_files(paths: Mapping[str, str | os.PathLike | tuple]
                    ) -> list[tuple[str, str, str, str]]:
    """``(first name, name, first path, path)`` for each entry of ``paths`` (as for
    :func:`shared_files`) whose file is another than every earlier entry's but holds the
    same bytes as one of them (read for the same fields): a file copied under another
    name (one strand's download saved as both strands) gives two equal channels, as one
    path named twice does — which :func:`shared_files` reports, not this.

    Only files of equal size are read, up to their first difference
    (:func:`filecmp.cmp`): a stat per file, a whole read only of identical copies. A file
    that cannot be read is left to the track readers' error.
    """
    # (size, *fields) → real path → (the first entry naming it, its path as given)
    groups: dict[tuple, dict[str, tuple[str, str]]] = {}
    out = []
    for name, value in paths.items():
        path, *fields = value if isinstance(value, tuple) else (value,)
        real = os.path.realpath(path)
        try:
            group = groups.setdefault((os.path.getsize(real), *fields), {})
            if real in group:  # one path named twice
                continue
            same = next((first for other, first in group.items()
                         if filecmp.cmp(other, real, shallow=False)), None)
        except OSError:
            continue
        if same is not None:
            out.append((same[0], name, same[1], str(path)))
        group[real] = (name, str(path))
    return out


def same_data(paths: Mapping[str, str | os.PathLike | tuple]) -> list[tuple[str, str, str]]:
    """``(first name, name, what)`` for each entry of ``paths`` (as for
    :func:`shared_files`) that names an earlier entry's file (``what``: ``"name one file
    (PATH)"``, :func:`shared_files`) or a copy of it (``"hold identical data (A and B are
    byte-identical: a file copied under another name?)"``, :func:`identical_files`): its
    channel would repeat the other's."""
    out = [(first, name, f"name one file ({path})") for first, name, path in shared_files(paths)]
    out += [(first, name, f"hold identical data ({first_path} and {path} are byte-identical: "
                          "a file copied under another name?)")
            for first, name, first_path, path in identical_files(paths)]
    return out


#: windows summarised per training set (``preprocessing.json``'s ``track_stats``, evenly
#: spaced) or per sample of a dataset being built (its first ones)
STATS_WINDOWS = 512
#: a track whose mean or 99th percentile differs from training's by more than this factor
#: (either way) is reported by :func:`scale_mismatches`; replicates of the demo's tracks
#: differ by at most 1.3x
SCALE_FACTOR = 5.0
#: fewer windows than this are not compared (a few genes' tracks are no distribution)
MIN_COMPARED_WINDOWS = 20
#: a chromosome whose windows with signal of a track are fewer than this is compared
#: alone (:func:`chrom_scale_mismatches`) by :data:`SPARSE_CHROM_FACTOR`, not
#: :data:`SCALE_FACTOR`: sparse tracks simulated alike on both sides (peaks in 3-8 % of
#: the windows) raised no false warning at 5x in 10 runs of 22 chromosomes with 100 or
#: more such windows, where 20-80 windows did in up to 10 of 10
MIN_CHROM_SIGNAL_WINDOWS = 100
#: the factor off the training scale a chromosome with 20 to 99 windows of a track's
#: signal must be to be named
SPARSE_CHROM_FACTOR = 20.0


#: positions of a track's mean profile along the window (:func:`track_profiles`)
PROFILE_BINS = 50
#: a profile whose coefficient of variation is below this is flat (WGBS, broad marks): its
#: shape tells nothing of which file it came from
PROFILE_MIN_CV = 0.25
#: :func:`swapped_tracks` reports a track whose profile correlates at most this with its
#: own training profile and at least :data:`SWAP_OTHER_CORRELATION` with another's
SWAP_OWN_CORRELATION, SWAP_OTHER_CORRELATION = 0.3, 0.9


#: :func:`track_statistics` gives no ``change_bp`` from fewer value changes than this
MIN_CHANGES = 20
#: a track whose values change this many times less often along the window than
#: training's did (its intervals that much longer) is reported by
#: :func:`resolution_mismatches`: 200 bp bins where 20 bp were trained are 10x over
#: 2,500 bp windows (4.5x over 100 bp ones). A per-base pileup's intervals lengthen as
#: its depth falls (simulated: 3.8x for a 4x shallower library, 5.7x for 6x), which the
#: message names as the other possible cause
RESOLUTION_FACTOR = 4.0


def window_sums(epigenome: np.ndarray, bins: int = PROFILE_BINS, p99: bool = True
                ) -> dict[str, Any]:
    """Per-track sums of model inputs that add up over chunks of windows
    (:func:`add_sums`), for :func:`track_statistics` and :func:`track_profiles`.

    Parameters
    ----------
    epigenome : (n_windows, length, n_tracks) track values as the model takes them
    bins : stretches of the profile (at most ``length``; the last ``length % bins``
        positions are left out)
    p99 : compute the 99th percentile (else 0: the sums of one chromosome's windows of a
        chunk, whose percentile would depend on how the genes are ordered)

    Returns
    -------
    ``windows``, ``positions`` (n_windows × length), and per track (arrays of n_tracks):
    ``sum``, ``nonzero`` (values not 0), ``signal_windows`` (windows with a value not 0),
    ``p99`` (99th percentile × n_windows: summed over chunks, a window-weighted mean),
    ``pairs`` (neighbouring positions both not 0), ``changes`` (of those, pairs of two
    different values) and ``profile`` ((bins, n_tracks) sums over the windows of each
    stretch's mean).
    """
    values = np.asarray(epigenome)
    n, length, m = values.shape
    bins = min(bins, length)
    out: dict[str, Any] = {"windows": n, "positions": n * length, "sum": np.zeros(m),
                           "nonzero": np.zeros(m), "signal_windows": np.zeros(m),
                           "p99": np.zeros(m), "pairs": np.zeros(m), "changes": np.zeros(m),
                           "profile": np.zeros((bins, m))}
    for j in range(m):
        v = values[..., j].astype(np.float64, copy=False)
        nonzero = v != 0
        both = nonzero[:, 1:] & nonzero[:, :-1]
        out["sum"][j] = v.sum()
        out["nonzero"][j] = np.count_nonzero(nonzero)
        out["signal_windows"][j] = np.count_nonzero(nonzero.any(axis=1))
        out["p99"][j] = np.percentile(v, 99) * n if n and p99 else 0.0
        out["pairs"][j] = np.count_nonzero(both)
        out["changes"][j] = np.count_nonzero(both & (v[:, 1:] != v[:, :-1]))
        cut = v[:, : length // bins * bins].reshape(n, bins, length // bins)
        out["profile"][:, j] = cut.mean(axis=2).sum(axis=0)
    return out


def add_sums(total: Mapping[str, Any] | None, part: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`window_sums` of the windows of both ``total`` (None: none) and ``part``."""
    if total is None:
        return dict(part)
    return {k: total[k] + part[k] for k in part}


def track_statistics(epigenome: np.ndarray | Mapping, names: Sequence[str]) -> dict[str, dict]:
    """Per-track summary of model inputs.

    Parameters
    ----------
    epigenome : (n_windows, length, n_tracks) track values as the model takes them, or
        their :func:`window_sums`
    names : the n_tracks track names, in channel order

    Returns
    -------
    ``{name: {"mean", "p99", "nonzero", "windows", "change_bp"}}``: the mean and 99th
    percentile of the values (of summed chunks: their window-weighted mean), the fraction
    of values that are not 0, n_windows, and the bp per change of value between
    neighbouring non-zero positions — the length of the file's intervals as the model
    sees them (None below :data:`MIN_CHANGES` changes).
    """
    sums = epigenome if isinstance(epigenome, Mapping) else None
    if sums is None:
        values = np.asarray(epigenome)
        if values.ndim != 3 or values.shape[-1] != len(names):
            raise ValueError(f"track_statistics: expected (n, length, {len(names)}) values, "
                             f"got shape {values.shape}")
        sums = window_sums(values)
    n, size = sums["windows"], max(sums["positions"], 1)
    out = {}
    for j, name in enumerate(names):
        changes = float(sums["changes"][j])
        out[name] = {"mean": float(sums["sum"][j] / size),
                     "p99": float(sums["p99"][j] / max(n, 1)),
                     "nonzero": float(sums["nonzero"][j] / size), "windows": int(n),
                     "change_bp": (float(sums["pairs"][j] / changes)
                                   if changes >= MIN_CHANGES else None)}
    return out


#: What a track off the training scale may be (:func:`scale_mismatches`' default).
OTHER_KIND = ("read counts or fold change instead of -log10 p-values, a fraction instead "
              "of a percentage, another assay")


def _scale_finding(old: Mapping, new: Mapping, reference: str,
                   stats: Sequence[str] = ("mean", "p99"), factor: float = SCALE_FACTOR,
                   kinds: str = OTHER_KIND) -> str | None:
    """What is off in ``new`` against ``old`` (one track's :func:`track_statistics`) in
    its ``stats`` by more than ``factor``, worded to follow the track's name (``kinds``:
    what such a file may be); None when on scale or not comparable."""
    if old is None or new["windows"] < MIN_COMPARED_WINDOWS:
        return None
    if new["nonzero"] == 0 and old["nonzero"] > 0:
        return (f" is 0 in all {new['windows']} windows, where {old['nonzero']:.0%} of "
                f"{reference} values were not: a file without data over these genes?")
    if old["mean"] * new["mean"] < 0:
        return (f": mean {new['mean']:.3g} over {new['windows']} windows, of the other sign "
                f"than {reference} {old['mean']:.3g}: values stored with the other sign (a "
                "minus-strand file's counts as negative values, or the reverse)?")
    labels = {"mean": "mean", "p99": "99th percentile"}
    for stat, label in ((k, labels[k]) for k in stats):
        a, b = old[stat], new[stat]
        if a > 0 and b > 0 and max(a / b, b / a) > factor:
            return (f": {label} {b:.3g} over {new['windows']} windows, "
                    f"{max(a / b, b / a):.0f}x {'larger' if b > a else 'smaller'} than "
                    f"{reference} {a:.3g}: a file of another unit or kind ({kinds})?")
    return None


def scale_mismatches(trained: Mapping[str, Mapping], got: Mapping[str, Mapping],
                     reference: str = "the training data's", kinds: str = OTHER_KIND
                     ) -> list[str]:
    """One message per track whose values in ``got`` are not on the scale of ``trained``
    (both :func:`track_statistics`): zero in every window where training's were not, or a
    mean or 99th percentile more than :data:`SCALE_FACTOR` times larger or smaller.
    Tracks missing from either, and ``got`` of fewer than :data:`MIN_COMPARED_WINDOWS`
    windows, are not compared; ``reference`` names ``trained`` in the messages, ``kinds``
    what a file off the scale may be (default :data:`OTHER_KIND`).

    A heuristic for gross mistakes only — a file of another unit or kind (read counts or
    fold change where the model saw −log10 p-values, a fraction where it saw a percentage,
    a file with no data over these genes) — which give predictions that look valid but are
    not; differences between cell types of the same assay stay well inside the factor.
    """
    findings = {name: _scale_finding(trained.get(name), new, reference, kinds=kinds)
                for name, new in got.items()}
    return [f"track {name!r}{f}" for name, f in findings.items() if f]


def chrom_scale_mismatches(trained: Mapping[str, Mapping], total: Mapping,
                           by_chrom: Mapping[str, Mapping], names: Sequence[str],
                           reference: str = "the training data's", kinds: str = OTHER_KIND,
                           windows: str = "gene windows") -> list[str]:
    """:func:`scale_mismatches` of all windows (``total``: their :func:`window_sums`),
    then, for each track on scale over all, of the mean of each chromosome's windows
    (``by_chrom``: chromosome → :func:`window_sums`): one message per track off scale on
    some chromosomes (a file of another unit on later chromosomes only), naming them and
    the first one's values. Only the mean is compared per chromosome (it adds up exactly,
    whatever the order of the genes), by :data:`SCALE_FACTOR` where at least
    :data:`MIN_CHROM_SIGNAL_WINDOWS` windows carry the track's signal and by
    :data:`SPARSE_CHROM_FACTOR` where 20 to 99 do: the mean of a few dozen windows of a
    sparse track (peaks in a few percent of them) strays beyond 5x by chance, not beyond
    20x (a count file on one chromosome is 40x). A track 0 on a whole chromosome is left
    to :func:`no_signal_messages`. ``kinds`` as for :func:`scale_mismatches`; ``windows``
    names what the windows are in the messages."""
    overall = track_statistics(total, names)
    stats = {c: track_statistics(by_chrom[c], names) for c in sorted(by_chrom, key=_chroms.sort_key)}
    messages = []
    for j, name in enumerate(names):
        finding = _scale_finding(trained.get(name), overall[name], reference, kinds=kinds)
        if finding:
            messages.append(f"track {name!r}{finding}")
            continue
        signal = {c: by_chrom[c]["signal_windows"][j] for c in stats}
        compared = [c for c in stats if signal[c] >= MIN_COMPARED_WINDOWS]
        off = {c: f for c in compared if (f := _scale_finding(
            trained.get(name), stats[c][name], reference, ("mean",),
            SCALE_FACTOR if signal[c] >= MIN_CHROM_SIGNAL_WINDOWS else SPARSE_CHROM_FACTOR,
            kinds))}
        if off:
            first = next(iter(off))
            messages.append(f"track {name!r} on {len(off)} of the {len(compared)} chromosomes "
                            f"with >= {MIN_COMPARED_WINDOWS} {windows} of its signal "
                            f"({shown(off, 10)}), on scale on the others; on {first}{off[first]}")
    return messages


def resolution_mismatches(trained: Mapping[str, Mapping], got: Mapping[str, Mapping],
                          reference: str = "the training data's") -> list[str]:
    """One message per track whose values in ``got`` change between neighbouring
    positions :data:`RESOLUTION_FACTOR` times less often than in ``trained`` (both
    :func:`track_statistics`; their ``change_bp``): a bigWig binned at 200 bp for a
    model trained on 20 bp or per-base intervals gives blocky windows the model never
    saw, on the same scale. Finer intervals than training's are not reported: a deeper
    library's pileup changes value more often at the same resolution. Tracks without ``change_bp`` on either side (exports made
    before it was recorded, too few changes) and ``got`` of fewer than
    :data:`MIN_COMPARED_WINDOWS` windows are not compared."""
    messages = []
    for name, new in got.items():
        old = trained.get(name) or {}
        a, b = old.get("change_bp"), new.get("change_bp")
        if a is None or b is None or new["windows"] < MIN_COMPARED_WINDOWS:
            continue
        if b / a >= RESOLUTION_FACTOR:
            messages.append(f"track {name!r}: its values change about every {b:.0f} bp along "
                            f"{new['windows']} windows, against every {a:.0f} bp in "
                            f"{reference}: a file binned at a coarser resolution than the "
                            "model was trained on (or, for a per-base pileup, of a library several "
                            "times shallower)?")
    return messages


def _each_against_the_others(samples: list[str]) -> Iterator[tuple[str, list[str]]]:
    """``(sample, the other samples)`` for each sample to compare with the others: with
    two only the second (which of two is off cannot be told), with more every one."""
    for i, name in enumerate(samples):
        if len(samples) != 2 or i == 1:
            yield name, [o for o in samples if o != name]


def window_scale_mismatches(windows: Mapping[str, np.ndarray], names: Sequence[str]
                            ) -> list[str]:
    """:func:`sample_scale_mismatches` of each sample's first windows (sample → (n, length,
    len(names)) values as the model takes them, :func:`track_statistics` of each); none
    for a single sample."""
    if len(windows) < 2:
        return []
    return sample_scale_mismatches({s: track_statistics(w, names) for s, w in windows.items()})


def sample_file_mismatches(windows: Mapping[str, np.ndarray], names: Sequence[str], *,
                           samples: str = "sample", tracks: str = "tracks") -> list[str]:
    """The builders' cross-sample checks of their samples' first windows (sample → (n,
    length, len(names))): :func:`window_scale_mismatches` (a file of another kind) and,
    with two samples or more, :func:`sample_swapped_tracks` (two files given each other's
    names), each message followed by what to do; ``samples`` and ``tracks`` name them in
    it (iSEGnet's samples and tracks, the histone FCN's cell types and marks)."""
    out = [f"{m} One model would learn from {tracks} on two scales; give every {samples} "
           "the same kind of file" for m in window_scale_mismatches(windows, names)]
    if len(windows) > 1:
        out += [f"{m} One model would learn one channel from two marks; give every "
                f"{samples}'s {tracks} their own files"
                for m in sample_swapped_tracks(windows, names)]
    return out


def sample_scale_mismatches(stats: Mapping[str, Mapping[str, Mapping]]) -> list[str]:
    """:func:`scale_mismatches` between the samples of one dataset: ``stats`` is sample
    name → :func:`track_statistics` of its windows. With two samples the second is compared
    with the first (which one is off cannot be told); with more, each with the per-track
    median of all of them, itself included (with three, the median of the other two of a
    sample on the right scale would sit halfway to the one that is off, and name all
    three). Messages start with ``sample NAME:``."""
    messages = []
    for name, other_names in _each_against_the_others(list(stats)):
        pool = [stats[o] for o in (other_names if len(stats) == 2 else stats)]
        median = {t: {k: float(np.median([o[t][k] for o in pool if t in o]))
                      for k in ("mean", "p99", "nonzero")}
                  for t in stats[name] if any(t in o for o in pool)}
        label = f"sample {other_names[0]}'s" if len(stats) == 2 else "the samples' median"
        messages += [f"sample {name!r}: {m}" for m in scale_mismatches(median, stats[name], label)]
    return messages


def track_profiles(epigenome: np.ndarray | Mapping, names: Sequence[str],
                   bins: int = PROFILE_BINS) -> dict[str, list[float]]:
    """Each track's mean over the windows at ``bins`` evenly cut stretches of the window.

    Parameters
    ----------
    epigenome : (n_windows, length, n_tracks) track values as the model takes them, or
        their :func:`window_sums` (of its ``bins``)
    names : the n_tracks track names, in channel order
    bins : stretches (at most ``length``; the last ``length % bins`` positions are left out)

    Returns
    -------
    ``{name: [mean of stretch 0, ...]}`` (``bins`` floats each)
    """
    sums = epigenome if isinstance(epigenome, Mapping) else window_sums(epigenome, bins)
    n = max(sums["windows"], 1)
    return {name: (sums["profile"][:, j] / n).tolist() for j, name in enumerate(names)}


def _shaped(profile) -> bool:
    """Whether ``profile`` varies enough along the window to tell tracks apart."""
    p = np.asarray(profile, dtype=np.float64)
    return p.mean() > 0 and p.std() / p.mean() >= PROFILE_MIN_CV


def swapped_tracks(trained: Mapping[str, Sequence[float]], got: Mapping[str, Sequence[float]],
                   windows: int, reference: str = "the training data's") -> list[str]:
    """One message per track whose profile along the window (:func:`track_profiles`)
    matches another track's training profile instead of its own: the files of two tracks
    given each other's names (``--track DNase=H3K4me3.bw``), which the scale check cannot
    see when both are on one scale (−log10 p-values scaled to [0, 1]).

    Only tracks whose training profiles are shaped (:data:`PROFILE_MIN_CV`; flat ones —
    WGBS, broad repressive marks — tell nothing) and ``windows`` ≥
    :data:`MIN_COMPARED_WINDOWS` are compared; a track is reported when its correlation
    with its own training profile is ≤ :data:`SWAP_OWN_CORRELATION` and with another's ≥
    :data:`SWAP_OTHER_CORRELATION`; ``reference`` names ``trained`` in the messages. Tracks of one shape (DNase and H3K4me3 both at the
    TSS, as in many cell types) are not told apart: a swap of those is not seen.
    """
    if windows < MIN_COMPARED_WINDOWS:
        return []
    shaped = [t for t in trained if t in got and _shaped(trained[t])]
    messages = []
    for t in shaped:
        if not _shaped(got[t]):
            continue
        corr = {o: float(np.corrcoef(got[t], trained[o])[0, 1]) for o in shaped}
        other = max((o for o in shaped if o != t), key=corr.get, default=None)
        if other is not None and corr[t] <= SWAP_OWN_CORRELATION \
                and corr[other] >= SWAP_OTHER_CORRELATION:
            messages.append(f"track {t!r}: its mean profile along the {windows} windows "
                            f"follows {reference} {other!r} (correlation "
                            f"{corr[other]:.2f}), not its own ({corr[t]:.2f}): the files of "
                            "two tracks given each other's names?")
    return messages


def sample_swapped_tracks(windows: Mapping[str, np.ndarray], names: Sequence[str]) -> list[str]:
    """:func:`swapped_tracks` between the samples of one dataset: ``windows`` is sample
    name → (n, length, len(names)) values. With two samples the second is compared with the
    first; with more, each with the mean profile of the others. Messages start with
    ``sample NAME:``."""
    profiles = {s: track_profiles(w, names) for s, w in windows.items()}
    messages = []
    for name, others in _each_against_the_others(list(profiles)):
        mean = {t: np.mean([profiles[o][t] for o in others], axis=0).tolist() for t in names}
        label = f"sample {others[0]}'s" if len(profiles) == 2 else "the other samples'"
        messages += [f"sample {name!r}: {m}" for m in swapped_tracks(
            mean, profiles[name], len(windows[name]), label)]
    return messages
