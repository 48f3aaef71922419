"""What a client needs to build a trained model's inputs from its own files.

``train`` saves :func:`preprocessing_constants` as ``preprocessing.json`` beside the model;
``kerasgene export`` puts it into the SavedModel (``assets/kerasgene.json``), and
``kerasgene predict`` / :meth:`kerasgene.serving.client.Client.predict_genes` read it, so
new genes get the window, track order and per-track transforms the model was trained on,
and are warned when a track's values are not on the scale the model was trained on
(:func:`kerasgene.io.track_checks.scale_mismatches`).
"""

from __future__ import annotations

import json
import logging

import numpy as np

from kerasgene.dna import n_fraction
from kerasgene.errors import ConfigError, KerasgeneError
from kerasgene.io.track_checks import track_profiles, track_statistics

log = logging.getLogger(__name__)


def preprocessing_constants(dataset) -> dict:
    """What a client needs to build model inputs from its own files (saved beside the model;
    ``kerasgene export --run`` puts it in the SavedModel's assets/kerasgene.json).

    Returns
    -------
    ``task``, ``input_names``, ``input_shapes``, ``target_name``, ``class_names`` (a
    class target's, in the order of the model's class units), ``track_names`` (after
    ``training.inputs``), the builder parameters (``tss_flank``, ``tts_flank``,
    ``log_base``, ``pseudocount``, ``epigenome_dtype``, ...), ``kerasgene_version`` and,
    for datasets built from tracks, ``transforms``: track name → the transform the
    dataset applied, with every parameter (:func:`transform_record`), so that
    ``kerasgene predict`` feeds the model what it was trained on, and ``value_columns``:
    track name → the bigBed field its values were read from (:func:`value_column_record`;
    tracks read from other formats, or a bigBed's default ``score``, absent); for datasets with an
    ``"epigenome"`` input also ``track_stats`` and ``track_profiles``
    (:func:`kerasgene.io.track_checks.track_statistics` — the scale and ``change_bp``, the
    bp per change of value —, :func:`~kerasgene.io.track_checks.track_profiles`
    of :func:`training_windows`), for those with a ``"signal"`` input (chromatin) its
    channel names in order (``signal_names``) and their ``signal_stats`` (the same
    statistics of the same windows' bin means, before ``signal_log1p``), and
    for those with a one-hot ``"sequence"`` ``sequence_n_fraction`` (:func:`kerasgene.dna.n_fraction`
    of the same windows), which predictions from other files are compared with
    (:func:`kerasgene.io.track_checks.scale_mismatches`,
    :func:`~kerasgene.io.track_checks.swapped_tracks`,
    :func:`kerasgene.serving.gene_inputs.warn_n_counts`).
    """
    meta = dataset.meta
    params = {k: v for k, v in meta["params"].items() if k != "samples"}
    out = {"task": meta["task"], "input_names": meta["input_names"],
           "input_shapes": meta["input_shapes"], "target_name": meta["target_name"],
           "track_names": meta.get("track_names"), **params,
           "kerasgene_version": meta["kerasgene_version"]}
    if meta["target_name"] == "class" and meta.get("class_names"):
        # what each column of the class probabilities is (an export's kerasgene.json)
        out["class_names"] = list(meta["class_names"])
    samples = meta["params"].get("samples")
    if samples and meta.get("track_names") is not None:
        genome = genome_record(meta)
        out["transforms"] = {t: transform_record(samples, t, genome)
                             for t in meta["track_names"]}
        columns = {t: value_column_record(samples, t) for t in meta["track_names"]}
        out["value_columns"] = {t: c for t, c in columns.items() if c is not None}
    windows = None
    if "epigenome" in meta["input_names"] and meta.get("track_names"):
        windows = training_windows(dataset)
        out["track_stats"] = track_statistics(windows["epigenome"], meta["track_names"])
        out["track_profiles"] = track_profiles(windows["epigenome"], meta["track_names"])
    if "signal" in meta["input_names"] and meta.get("signal_names"):
        from kerasgene.datasets.genome_bins import signal_file_units

        windows = training_windows(dataset)
        out["signal_names"] = meta["signal_names"]
        units = signal_file_units(windows["signal"], meta["params"])
        out["signal_stats"] = track_statistics(units, meta["signal_names"])
    if "sequence" in meta["input_names"] and meta["input_shapes"]["sequence"][-1] == 4:
        windows = training_windows(dataset) if windows is None else windows
        out["sequence_n_fraction"] = n_fraction(windows["sequence"])
    return out


def training_windows(dataset) -> dict[str, np.ndarray]:
    """The inputs of at most :data:`~kerasgene.io.track_checks.STATS_WINDOWS` evenly
    spaced training examples of ``dataset`` (after ``training.inputs``), which predictions
    from other files are compared with."""
    from kerasgene.io.track_checks import STATS_WINDOWS

    idx = dataset.split_indices("train")
    if len(idx) > STATS_WINDOWS:
        idx = idx[np.linspace(0, len(idx) - 1, STATS_WINDOWS).round().astype(np.int64)]
    return dataset.gather(idx)


def genome_record(meta: dict) -> tuple[dict[str, int] | None, str | None]:
    """``(chromosome sizes, alias table path)`` of the dataset's genome, as it was built
    from (``meta.json``'s ``inputs``: ``fasta``, ``chrom_aliases``): the chromosomes a
    track's genome-wide maximum is taken over; sizes None when the FASTA cannot be read
    now (or the dataset has none)."""
    from kerasgene.io.genome import Genome

    inputs = meta.get("inputs") or {}
    path, aliases = (v.get("path") if isinstance(v, dict) else v
                     for v in (inputs.get("fasta"), inputs.get("chrom_aliases")))
    if not path:
        return None, aliases
    try:
        with Genome(path, aliases=aliases) as genome:
            return dict(genome.chroms), aliases
    except (KerasgeneError, OSError) as err:  # moved since the build
        log.info("%s: the genome's chromosomes not read (%s)", path, err)
        return None, aliases


def transform_record(samples: list, track: str,
                     genome: tuple[dict[str, int] | None, str | None] = (None, None)
                     ) -> dict | None:
    """The transform of ``track`` in the dataset's ``samples`` (``meta.json`` params), as
    a full spec for :func:`kerasgene.io.tracks.make_transform` plus ``scale_used`` (sample →
    the divisor the training data got, for ``neglog10p`` without a fixed ``max_value``:
    each file's genome-wide maximum, over the chromosomes of ``genome`` (sizes, alias
    table: :func:`genome_record`) as the build took it; null where the file cannot be
    read now) and ``scale_chroms``, those chromosomes' names, which ``predict`` takes
    the maximum of its own files over (whatever FASTA it is given).

    Raises
    ------
    ConfigError
        the samples use different transforms for ``track`` (one model, one transform).
    """
    import dataclasses

    from kerasgene.io.tracks import TRANSFORMS, NegLog10PValue, Track, make_transform

    specs = {}
    for s in samples:
        entry = s["tracks"][track]
        obj = make_transform(entry.get("transform"))
        if obj is None:
            specs[s["name"]] = None
            continue
        name = next(k for k, cls in TRANSFORMS.items() if isinstance(obj, cls))
        specs[s["name"]] = {"name": name, **dataclasses.asdict(obj)}
    distinct = {json.dumps(v, sort_keys=True) for v in specs.values()}
    if len(distinct) > 1:
        raise ConfigError(f"track {track!r}: samples use different transforms {specs}; one "
                          "model needs one transform per track")
    spec = next(iter(specs.values()))
    if spec is None:
        return None
    obj = make_transform(spec)
    if isinstance(obj, NegLog10PValue) and obj.max_value is None:
        used = {}
        for s in samples:
            entry = s["tracks"][track]
            try:
                track_file = Track(entry["path"], value_column=entry.get("value_column"),
                                   aliases=genome[1], chrom_sizes=genome[0])
            except (KerasgeneError, OSError, RuntimeError) as err:  # moved since the build
                log.info("%s: scale not recorded (%s)", entry["path"], err)
                used[s["name"]] = None
                continue
            used[s["name"]] = track_file.max_value
            track_file.close()
        spec["scale_used"] = used
        if genome[0] is not None:
            spec["scale_chroms"] = list(genome[0])
    return spec


def value_column_record(samples: list, track: str) -> str | int | None:
    """The bigBed field the dataset's ``samples`` read ``track``'s values from (their
    ``value_column``), or None when none sets one (bigWig / bedGraph files, or a bigBed's
    default ``score``).

    Raises
    ------
    ConfigError
        the samples read it from different fields (one model, one kind of value per
        track; a client could not tell which field of its own bigBed to read).
    """
    columns = {s["name"]: s["tracks"][track].get("value_column") for s in samples}
    distinct = {c for c in columns.values() if c is not None}
    if len(distinct) > 1:
        raise ConfigError(f"track {track!r}: samples read their bigBeds' values from different "
                          f"fields {columns}; one model needs one kind of value per track")
    return next(iter(distinct), None)
