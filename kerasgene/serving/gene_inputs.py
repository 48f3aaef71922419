"""A served gene-window model's inputs built from a user's files, as at training.

:meth:`kerasgene.serving.client.Client.predict_genes` reads the export's preprocessing
constants and, through these functions, the genes' windows from a genome and tracks.
Keys read from the export's ``preprocessing`` dict (or its ``params`` sub-dict):
``tss_flank``, ``tts_flank`` (default [1000, 500], [500, 500]), ``track_names`` (channel
order of "epigenome"; also accepted: ``tracks`` as a list), ``transforms`` (track name →
transform spec of :func:`kerasgene.io.tracks.make_transform`, as ``kerasgene train`` records
it in preprocessing.json: every parameter, plus the informational ``scale_used``),
``epigenome_dtype`` (the dataset's storage dtype: the tracks are rounded to it, as the
training data were), ``log_base`` and ``pseudocount`` (to report TPM beside log
expression). An export without recorded ``transforms`` (made before they were recorded)
gets the paper's defaults (:func:`kerasgene.datasets.regions.default_transform`) with a
warning naming the tracks; a track missing from a recorded ``transforms`` is an error.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kerasgene.errors import ConfigError, InputFileError, shown

log = logging.getLogger(__name__)


#: Positions of the predicted windows kept, uniformly at random, for the tracks' 99th
#: percentile (:func:`note_inputs`): 1,000 values above it.
P99_SAMPLE = 100_000


def note_inputs(summary: dict, chroms: Sequence[str], inputs: Mapping[str, np.ndarray]) -> None:
    """Add one chunk of model inputs to ``summary`` for the checks of every predicted
    window (:func:`warn_inputs`): ``summary["epigenome"]`` is chromosome →
    :func:`~kerasgene.io.track_checks.window_sums` of its windows (without percentiles),
    ``summary["sample"]`` the tracks' values at :data:`P99_SAMPLE` positions drawn
    uniformly from every window so far (each position a random key, the smallest kept:
    the 99th percentile of all windows, whatever the order of the genes or the chunks'
    size — one percentile per chunk or per chromosome run was biased low on a sparse
    track), ``summary["sequence"]`` chromosome → [N positions, positions, windows] of a
    one-hot "sequence".

    Parameters
    ----------
    summary : the summary so far (``{}`` before the first chunk); updated in place
    chroms : the chromosome of each window of the chunk
    inputs : the chunk's :func:`window_inputs`
    """
    from kerasgene.dna import n_fraction
    from kerasgene.io.track_checks import add_sums, window_sums

    names = np.asarray(chroms, dtype=object)
    epi, seq = inputs.get("epigenome"), inputs.get("sequence")
    if epi is not None and len(epi):
        _sample_positions(summary, epi)
    for c in dict.fromkeys(names):
        rows = np.flatnonzero(names == c)
        if rows[-1] - rows[0] + 1 == len(rows):  # one run (genes sorted): a view, no copy
            rows = slice(rows[0], rows[-1] + 1)
        if epi is not None:
            by_chrom = summary.setdefault("epigenome", {})
            by_chrom[c] = add_sums(by_chrom.get(c), window_sums(epi[rows], p99=False))
        if seq is not None and seq.shape[-1] == 4:
            part = seq[rows]
            size = part.shape[0] * part.shape[1]
            n, total, windows = summary.setdefault("sequence", {}).get(c, (0.0, 0, 0))
            summary["sequence"][c] = (n + n_fraction(part) * size, total + size,
                                      windows + len(part))


def _sample_positions(summary: dict, epigenome: np.ndarray) -> None:
    """Keep in ``summary["sample"]`` (values, keys) the :data:`P99_SAMPLE` positions of
    smallest random key among those kept and those of ``epigenome`` (n, length, tracks):
    a uniform sample of every position seen (seeded: the same predictions, the same
    warnings)."""
    def smallest_keys(values, keys):  # the chunk cut first: no copy of all its positions
        if len(keys) <= P99_SAMPLE:
            return values, keys
        keep = np.argpartition(keys, P99_SAMPLE)[:P99_SAMPLE]
        return values[keep], keys[keep]

    rng = summary.setdefault("rng", np.random.default_rng(0))
    values = epigenome.reshape(-1, epigenome.shape[-1])
    values, keys = smallest_keys(values, rng.random(len(values)))
    if "sample" in summary:
        old_values, old_keys = summary["sample"]
        values, keys = smallest_keys(np.concatenate([old_values, values]),
                                     np.concatenate([old_keys, keys]))
    summary["sample"] = (np.asarray(values, np.float64), keys)


def warn_inputs(settings: Mapping, summary: Mapping, trackset) -> None:
    """Warn about what every predicted window (``summary``: :func:`note_inputs`) says of
    the user's files against the export's record of the training windows: tracks off
    its scale, overall or on some chromosomes, binned at another resolution or following
    another track's profile (:func:`warn_track_sums`), a sequence much more N, overall or
    on some chromosomes (:func:`warn_n_counts`), and tracks 0 around every gene of some
    chromosomes (:func:`warn_no_signal`)."""
    from kerasgene.io.track_checks import MIN_COMPARED_WINDOWS

    if summary.get("sequence"):
        warn_n_counts(settings.get("sequence_n_fraction"), summary["sequence"])
    by_chrom = summary.get("epigenome")
    if trackset is None or not by_chrom:
        return
    warn_track_sums(settings, by_chrom, summary["sample"][0], trackset.names)
    windows = sum(s["windows"] for s in by_chrom.values())
    signal = {c: (s["windows"], s["nonzero"] > 0) for c, s in by_chrom.items()}
    warn_no_signal(signal, trackset,
                   bool(settings.get("track_stats")) and windows >= MIN_COMPARED_WINDOWS)


def warn_track_sums(settings: Mapping, by_chrom: Mapping[str, Mapping], sample: np.ndarray,
                    names: Sequence[str]) -> None:
    """Warn about each track whose values in the windows of ``by_chrom`` (chromosome →
    :func:`~kerasgene.io.track_checks.window_sums`; ``sample``: (positions, tracks) values
    drawn from them for the 99th percentile, :func:`note_inputs`) are not on the scale of
    the training data's (an export's ``track_stats``), over all windows or on some
    chromosomes
    (:func:`~kerasgene.io.track_checks.chrom_scale_mismatches`), change value at another
    interval length (its ``change_bp``:
    :func:`~kerasgene.io.track_checks.resolution_mismatches`), or whose profile along the
    window follows another track's (its ``track_profiles``:
    :func:`~kerasgene.io.track_checks.swapped_tracks`); exports made before any was
    recorded are not checked for it."""
    from kerasgene.io.track_checks import (
        add_sums,
        chrom_scale_mismatches,
        resolution_mismatches,
        swapped_tracks,
        track_profiles,
        track_statistics,
    )

    total = functools.reduce(add_sums, by_chrom.values(), None)
    total["p99"] = np.percentile(sample, 99, axis=0) * total["windows"]
    messages = []
    if settings.get("track_stats"):
        messages += chrom_scale_mismatches(settings["track_stats"], total, by_chrom, names)
        messages += resolution_mismatches(settings["track_stats"],
                                          track_statistics(total, names))
    if settings.get("track_profiles"):
        messages += swapped_tracks(settings["track_profiles"], track_profiles(total, names),
                                   total["windows"])
    for message in messages:
        log.warning("predict_genes: %s Predictions from it look valid but are not; "
                    "compare it with the file the model was trained on", message)


#: How much more of the predicted windows' sequence may be N than of the training
#: windows' (an absolute fraction) before :func:`warn_n_counts` warns.
N_EXCESS = 0.1


def warn_n_counts(trained: float | None, by_chrom: Mapping[str, Sequence[float]]) -> None:
    """Warn when more of the one-hot windows of ``by_chrom`` (chromosome → [N positions,
    positions, windows]: :func:`note_inputs`) is N than :data:`N_EXCESS` above
    ``trained`` (an export's ``sequence_n_fraction``; 0 for an export made before it was
    recorded), over all windows, or over those of the chromosomes (≥
    :data:`~kerasgene.io.track_checks.MIN_COMPARED_WINDOWS` windows) that are, named
    when not all of them: a hard-masked genome
    (Ensembl's ``dna_rm``, UCSC's ``.fa.masked``), a FASTA of another assembly, or one
    whose later chromosomes are N, which the model reads as no base."""
    from kerasgene.io.chroms import sort_key
    from kerasgene.io.track_checks import MIN_COMPARED_WINDOWS

    before = float(trained or 0.0)
    compared = [c for c in sorted(by_chrom, key=sort_key)
                if by_chrom[c][2] >= MIN_COMPARED_WINDOWS]
    chroms = [c for c in compared if by_chrom[c][0] / by_chrom[c][1] - before > N_EXCESS]
    n, size, windows = (sum(v[i] for v in by_chrom.values()) for i in range(3))
    where = f"{windows} gene windows"
    if chroms and len(chroms) < len(compared):
        n, size, windows = (sum(by_chrom[c][i] for c in chroms) for i in range(3))
        where = (f"{windows} gene windows of {shown(chroms, 10)} ({len(chroms)} of the "
                 f"{len(compared)} chromosomes with >= {MIN_COMPARED_WINDOWS} gene windows)")
    elif n / max(size, 1) - before <= N_EXCESS:
        return
    log.warning("predict_genes: %.0f%% of the sequence in %s is N, against %.1f%% of the "
                "training windows': a hard-masked genome (Ensembl dna_rm, UCSC .fa.masked) "
                "or another assembly's FASTA? The model reads N as no base; predictions "
                "from it look valid but are not; expected the (soft-masked) genome the "
                "model was trained on", 100 * n / size, where, 100 * before)


def warn_no_signal(by_chrom: Mapping, trackset, scale_checked: bool) -> None:
    """Warn about each track that is 0 around every gene of some chromosomes
    (``by_chrom``: :func:`kerasgene.io.track_checks.note_signal` of every predicted
    window), as the training builders do: those genes got an all-zero channel. With
    ``scale_checked`` (the export's ``track_stats`` compared with the windows:
    :func:`warn_track_sums`) a track 0 around every gene is left to that check's
    message."""
    from kerasgene.io.track_checks import no_signal_messages

    if not by_chrom:
        return
    names = list(trackset.tracks)
    anywhere = np.any([seen for _, seen in by_chrom.values()], axis=0)
    keep = [j for j in range(len(names)) if anywhere[j] or not scale_checked]
    paths = {names[j]: trackset.tracks[names[j]].path for j in keep}
    reduced = {c: (n, seen[keep]) for c, (n, seen) in by_chrom.items()}
    for message in no_signal_messages(reduced, paths, "predict"):
        log.warning("predict_genes: %s Their predictions look valid but are not", message)


def preprocessing_settings(constants: Mapping) -> dict[str, Any]:
    """An export's preprocessing constants: its ``preprocessing`` dict over the ``params``
    sub-dict (a key of both is taken from ``preprocessing``)."""
    prep = dict(constants.get("preprocessing") or {})
    params = prep.get("params") if isinstance(prep.get("params"), Mapping) else {}
    return {**params, **prep}


def window_layout(model_name: str, constants: Mapping, needed: set[str],
                   settings: Mapping) -> tuple[tuple[int, int], tuple[int, int]]:
    """(tss_flank, tts_flank) of a gene-window model, checked against its input shapes."""
    unknown = needed - {"sequence", "epigenome"}
    if unknown:
        raise ConfigError(
            f"predict_genes: model {model_name!r} takes inputs {sorted(needed)}; "
            "only gene-window models (inputs 'sequence' and/or 'epigenome') are supported"
        )
    if "tss_flank" not in settings or "tts_flank" not in settings:
        log.warning("predict_genes: the export of %r records no window layout (exported "
                    "without preprocessing constants); assuming the paper's tss_flank "
                    "[1000, 500] and tts_flank [500, 500]", model_name)
    tss_flank = tuple(int(v) for v in settings.get("tss_flank", (1000, 500)))
    tts_flank = tuple(int(v) for v in settings.get("tts_flank", (500, 500)))
    length = sum(tss_flank) + sum(tts_flank)
    for name in needed:
        shape = (constants.get("inputs") or {}).get(name, {}).get("shape")
        if shape and shape[1] not in (None, -1) and shape[1] != length:
            raise ConfigError(
                f"predict_genes: input {name!r} has {shape[1]} positions but the export's "
                f"window layout gives {length} (tss_flank {list(tss_flank)}, tts_flank "
                f"{list(tts_flank)})")
    return tss_flank, tts_flank


def genome_input(genome, needed: set[str], chrom_aliases, stack: contextlib.ExitStack):
    """The genome for "sequence" (a path is opened, and closed with ``stack``), or None
    when the model does not take it."""
    from kerasgene.io.genome import Genome

    if "sequence" not in needed:
        return None
    if genome is None:
        raise ConfigError("predict_genes: the model needs 'sequence'; give a genome FASTA")
    if isinstance(genome, Genome):
        return genome
    return stack.enter_context(Genome(genome, aliases=chrom_aliases))


def track_input(tracks, needed: set[str], settings: Mapping, chrom_aliases, genome,
                 stack: contextlib.ExitStack):
    """The TrackSet for "epigenome" in the export's track order and transforms (paths are
    opened, and closed with ``stack``), or None when the model does not take it."""
    from kerasgene.io.track_checks import shared_files
    from kerasgene.io.tracks import TrackSet

    if "epigenome" not in needed:
        return None
    order = settings.get("track_names") or (settings.get("tracks")
                                            if isinstance(settings.get("tracks"), list) else None)
    if tracks is None:
        raise ConfigError("predict_genes: the model needs 'epigenome'; give tracks")
    if isinstance(tracks, TrackSet):
        if order and list(tracks.names) != list(order):
            raise ConfigError(f"predict_genes: tracks {tracks.names} are not in the "
                              f"export's order {list(order)}")
        check_trackset_transforms(tracks, settings.get("transforms"))
        return tracks
    tracks = dict(tracks)
    if not order and len(tracks) > 1:
        raise ConfigError(
            f"predict_genes: the export records no track order (exported without "
            f"preprocessing constants), so the channel order of tracks {sorted(tracks)} is "
            "unknown; re-export with --metadata RUN/preprocessing.json, or pass a TrackSet in "
            "the model's channel order")
    order = list(order) if order else list(tracks)
    missing = [t for t in order if t not in tracks]
    extra = [t for t in tracks if t not in order]
    if missing or extra:
        raise ConfigError(
            f"predict_genes: the export expects tracks {order}; missing {missing}, "
            f"unexpected {extra}")
    files = {t: tracks[t] for t in order if isinstance(tracks[t], str | os.PathLike)}
    for first, t, path in shared_files(files):
        log.warning("predict_genes: tracks %r and %r are the same file (%s); each channel "
                    "of the model should get its own track", first, t, path)
    specs = recorded_transforms(settings.get("transforms"), order)
    columns = recorded_value_columns(settings.get("value_columns"), tracks)
    return stack.enter_context(TrackSet(
        {t: (tracks[t], spec, columns.get(t)) for t, spec in specs.items()},
        aliases=chrom_aliases, chrom_sizes=None if genome is None else genome.chroms))


def recorded_value_columns(recorded: Mapping | None, tracks: Mapping) -> dict[str, Any]:
    """Track name → the field to read from the client's bigBed for that track: the one
    the model's training data read (an export's ``value_columns``), so that a bigBed
    narrowPeak gives its ``signalValue`` at prediction as at training, not the default
    ``score``. Tracks given as bigWig or bedGraph files, or trained without a recorded
    field, read as they are (INFO when a client's bigBed then gives its ``score``)."""
    from kerasgene.io.track_formats import sniff_bbi

    out = {}
    for t, path in tracks.items():
        if not isinstance(path, str | os.PathLike) or not os.path.isfile(path) \
                or sniff_bbi(path) != "bigbed":
            continue
        if (recorded or {}).get(t) is not None:
            out[t] = recorded[t]
            log.info("predict_genes: track %r: %s read from its field %r, as in training", t,
                     path, out[t])
        else:
            log.info("predict_genes: track %r: %s is a bigBed read from its 'score' field "
                     "(the training data recorded no other)", t, path)
    return out


def check_trackset_transforms(trackset, recorded: Mapping | None) -> None:
    """Refuse a TrackSet whose tracks apply other transforms than the model's training
    data did (an export's recorded ``transforms``; none recorded: not checked): a
    TrackSet's own transforms are used as they are, and one built with the paper's
    defaults for a run trained with others gave other inputs without a word. The
    chromosomes a ``neglog10p`` maximum is taken over (``scale_chroms``) are not
    compared: a TrackSet's tracks take theirs from its genome."""
    import dataclasses

    from kerasgene.io.tracks import NegLog10PValue, make_transform

    def compared(transform):
        return (dataclasses.replace(transform, scale_chroms=None)
                if isinstance(transform, NegLog10PValue) else transform)

    if not recorded:
        return
    wanted = recorded_transforms(recorded, trackset.names)
    for name, track in trackset.tracks.items():
        want = compared(make_transform(wanted[name]))
        if want != compared(track.transform):
            raise ConfigError(f"predict_genes: the TrackSet's track {name!r} applies "
                              f"{track.transform!r}; the model was trained on {want!r}; "
                              "expected a TrackSet built with the export's transforms, or "
                              "the tracks' paths (the export's transforms are then applied)")


def predictable_genes(genes: list, genome, trackset,
                 flanks: tuple[tuple[int, int], tuple[int, int]]) -> list[int]:
    """Indices of the genes the files can give inputs for, as the training builder
    screens them (:func:`kerasgene.datasets.windows.window_fit`): a gene on a chromosome
    the genome or a track lacks, on a chromosome the files give different lengths
    (another assembly), or whose body runs past its chromosome's end is left out with a
    warning counting and naming them; windows padded past an end are counted in a warning.

    Raises
    ------
    InputFileError
        No gene can be predicted.
    """
    from kerasgene.datasets.windows import chrom_length_mismatches, missing_chrom, window_fit

    files = ([] if genome is None else [genome]) + (
        [] if trackset is None else list(trackset.tracks.values()))
    lengths: dict[str, int] = {}
    why: dict[str, tuple[str, str]] = {}
    for chrom in dict.fromkeys(g.chrom for g in genes):
        absent = missing_chrom(chrom, files)
        if absent:
            why[chrom] = ("unknown_chrom", absent)
            continue
        other = chrom_length_mismatches([chrom], files)
        if other:
            why[chrom] = ("chrom_length_mismatch", other[chrom] + " (another assembly?)")
            continue
        lengths[chrom] = files[0].chroms[files[0].resolve(chrom)]
    fit = window_fit(genes, lengths, *flanks)
    left_out: dict[str, list[tuple[str, str]]] = {}
    for g, f in zip(genes, fit, strict=True):
        if f in ("unknown_chrom", "past_chrom_end", "beyond_chrom_end"):
            reason, detail = why.get(g.chrom) or (
                f, f"{g.chrom} has {lengths.get(g.chrom, 0):,} bp in {files[0].path}")
            left_out.setdefault(reason, []).append((g.id, detail))
    summary = "; ".join(
        f"{len(items)} {reason} ({', '.join(i for i, _ in items[:5])}"
        f"{', ...' if len(items) > 5 else ''}: {items[0][1]})"
        for reason, items in left_out.items())
    keep = [i for i, f in enumerate(fit) if f in ("inside", "padded")]
    if not keep:
        raise InputFileError(f"predict_genes: none of the {len(genes)} genes can be predicted: "
                             f"{summary}; expected the genes, genome and tracks of one assembly")
    if left_out:
        log.warning("predict_genes: %d of %d genes not predicted (their output cells are "
                    "empty): %s", len(genes) - len(keep), len(genes), summary)
    padded = [g.id for g, f in zip(genes, fit, strict=True) if f == "padded"]
    if padded:
        log.warning("predict_genes: %d gene windows run past a chromosome end; the part "
                    "outside is N (sequence) and 0 (tracks), as at training: %s", len(padded),
                    ", ".join(padded[:5]) + (", ..." if len(padded) > 5 else ""))
    return keep


def window_inputs(genes: list, genome, trackset, flanks: tuple[tuple[int, int], tuple[int, int]],
                   epi_dtype: np.dtype) -> dict[str, np.ndarray]:
    """The model inputs of ``genes``: "sequence" (n, L, 4) and / or "epigenome" (n, L, m)."""
    from kerasgene.datasets.windows import extract_regions

    seq, epi = extract_regions(genes, genome, trackset, *flanks, epigenome_dtype=epi_dtype)
    inputs = {}
    if seq is not None:
        inputs["sequence"] = seq
    if epi is not None:
        inputs["epigenome"] = epi
    return inputs


def recorded_transforms(recorded: Mapping | None, order: Sequence[str]) -> dict[str, Any]:
    """Track name → transform spec (:func:`kerasgene.io.tracks.make_transform`) for the
    tracks of ``order``, from an export's recorded ``transforms``.

    ``scale_used`` (provenance) is dropped. Without a record (an export made before
    kerasgene recorded transforms) the paper's defaults are used with a warning.

    Raises
    ------
    ConfigError
        the record exists but lacks one of the tracks.
    """
    from kerasgene.datasets.regions import default_transform

    if recorded is None:
        log.warning("the export records no track transforms (exported without preprocessing "
                    "constants, or by an older kerasgene); applying the paper's defaults to "
                    "%s — re-export the run (export --run RUN, or --metadata "
                    "RUN/preprocessing.json) if it was trained with other transforms",
                    ", ".join(order))
        return {t: default_transform(t) for t in order}
    missing = [t for t in order if t not in recorded]
    if missing:
        raise ConfigError(f"predict_genes: the export's transforms record no {missing} "
                          f"(it has {sorted(recorded)})")
    out = {}
    for t in order:
        spec = recorded[t]
        out[t] = ({k: v for k, v in spec.items() if k != "scale_used"}
                  if isinstance(spec, Mapping) else spec)
    return out
