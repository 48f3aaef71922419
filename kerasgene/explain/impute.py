"""Imputed tracks: a trained chromatin-imputation run applied to another sample's
GRO-/PRO-seq, written as a bigWig of the predicted mark per bin.

This is what the chromatin-imputation paper's models are for: a histone mark or DNase
where only nascent transcription was measured. :func:`impute_track` reads the new signal
files and bins them exactly as the run's training data were
(:mod:`kerasgene.datasets.genome_bins` with the run's ``preprocessing.json``: ``bin_size``,
``window``, ``signal_abs``, ``signal_log1p``, ``merge_signal`` and the channel order;
bigWig, bigBed or bedGraph; chromosome aliases), cuts each bin's window from the padded
chromosome (zeros past its ends, as at training), predicts every ``stride``-th bin with
the trained model and writes the predictions as a bigWig (each value over its bin, or over
the ``stride`` bins it stands for) and, beside it, a JSON record of what made it.

Values: a regression run predicts the target's bin mean, gaussian-smoothed by ``sigma``
bins as its labels were, in the training target file's units; a binary run (``label:
binary``) the peak score (class 1 ⇔ score > 0: a hinge margin, or a logit under
cross-entropy). ``observed``, a measured track of the target in the same sample, binned
and smoothed as the training labels were, scores the imputation at the predicted bins
(Pearson r — the paper's metric —, Spearman, R², MSE).

The new signal is compared with the training windows' (``signal_stats`` of
``preprocessing.json``, :func:`kerasgene.io.track_checks.scale_mismatches`): a channel
whose mean or 99th percentile is off by more than 5× (another normalisation, another
assay, a file without reads) gives a warning, since its imputation would look like any
other. Signal files that are the run's own training files make the run's training and
validation chromosomes in-sample: said in a warning, and in the record.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from kerasgene import systems
from kerasgene._io import write_json
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.io.track_checks import STATS_WINDOWS, scale_mismatches, track_statistics

log = logging.getLogger(__name__)

#: What a signal file off the training scale may be (the scale warning's hint).
SIGNAL_KINDS = ("counts per million or another normalisation instead of read counts, "
                "another assay, a file of fewer reads")
#: The settings of a run's ``preprocessing.json`` that bin the signal (and the labels).
BIN_SETTINGS = ("bin_size", "window", "sigma", "signal_abs", "signal_log1p", "merge_signal")


def impute_track(run: str | os.PathLike, signal: Mapping[str, str | os.PathLike | Mapping],
                 out: str | os.PathLike, *, chroms: Sequence[str] | None = None,
                 stride: int = 1, chrom_aliases: str | os.PathLike | None = None,
                 observed: str | os.PathLike | None = None, batch_size: int = 512,
                 progress: bool = True) -> dict:
    """Write the imputed track of a chromatin run for the nascent-transcription files
    ``signal`` (module docstring).

    Parameters
    ----------
    run : a complete run directory of the chromatin system (``kerasgene train``)
    signal : channel name → file (a path, or ``{path, value_column}`` for a bigBed), one
        per channel the run was trained on (its ``data.signal`` names)
    out : the bigWig to write (atomically); the record goes to ``out`` with the suffix
        ``.json``
    chroms : the chromosomes to impute, named as in any of the files (default: every
        chromosome of the first signal file, which every file must share)
    stride : predict every ``stride``-th bin; each prediction covers its ``stride`` bins
    chrom_aliases : a chromosome alias table (UCSC ``chromAlias.txt`` or a user table)
    observed : a measured track of the run's target in the same sample, to score the
        imputation (regression runs)
    batch_size : windows per model call
    progress : a progress bar over the bins

    Returns
    -------
    The record written beside ``out``: ``run``, ``model_sha256``, ``target``, ``values``
    (what the bigWig holds), ``signal``, the binning settings, ``stride``, ``chroms``
    (chromosome → ``{"bins", "predicted", "mean"}``), ``in_sample`` (chromosomes the run
    trained or validated on, when the signal files are its training files), ``no_signal``
    (signal file → the imputed chromosomes where it has no data, also warned about), and with
    ``observed`` its ``scores`` (:func:`kerasgene.metrics.regression_metrics` over every
    predicted bin).
    """
    from kerasgene.datasets import genome_bins as gb
    from kerasgene.io.chroms import load_aliases
    from kerasgene.io.track_checks import track_entry
    from kerasgene.io.track_formats import write_bigwig_entries
    from kerasgene.io.tracks import Track
    from kerasgene.models.inference import predictor
    from kerasgene.train.records import load_run

    run, out = Path(run), Path(out)
    if int(stride) < 1 or int(batch_size) < 1:
        raise ConfigError(f"stride and batch_size must be >= 1, got {stride} and {batch_size}")
    model, record = load_run(run)
    pre = _chromatin_settings(run, record)
    names = _signal_order(run, pre, signal)
    binary = pre.get("label") == "binary"
    if observed is not None and binary:
        raise ConfigError(f"observed: {run} predicts peaks (label: binary); an observed "
                          "track scores a regression run's imputation")
    _check_model_input(model, pre, run)
    entries = {f"signal.{n}": track_entry(signal[n], f"signal.{n}") for n in names}
    if observed is not None:
        entries["targets.observed"] = (observed, None)
    gb.check_track_files(entries, "--")
    _check_out(out, entries)
    table = load_aliases(chrom_aliases)
    opened: dict[str, Track] = {}
    try:
        gb.open_tracks(entries, table, opened)
        tracks = [opened[f"signal.{n}"] for n in names]
        gb.check_signs(pre, names, tracks)
        targets = [opened["targets.observed"]] if observed is not None else []
        chosen = gb.bin_chromosomes(None if chroms is None else list(chroms), tracks, targets,
                                    "--chroms")
        gb.sizes_from_intervals(list(opened.values()), chosen)
        in_sample = _in_sample(record, entries, names, chosen, table)
        sizes = {c: tracks[0].chroms[c] for c in chosen}
        predicted = _PredictedChroms(predictor(model), pre, tracks, sizes, int(stride),
                                     int(batch_size), progress, targets[0] if targets else None)
        try:
            write_bigwig_entries(out, sizes, predicted)
        finally:
            predicted.bar.close()
    finally:
        for t in opened.values():
            t.close()
    result = {"run": str(run.resolve()), "model_sha256": record.get("model_sha256"),
              "target": pre["target"],
              "values": "peak score (class 1 where > 0)" if binary else
              f"{pre['target']}, gaussian-smoothed bin mean (sigma {pre['sigma']} bins)",
              "signal": {n: str(entries[f"signal.{n}"][0]) for n in names},
              **{k: pre[k] for k in BIN_SETTINGS}, "stride": int(stride),
              "chroms": predicted.summary, "in_sample": in_sample,
              "no_signal": predicted.no_signal}
    _warn_no_signal(predicted.no_signal, chosen)
    if observed is not None:
        from kerasgene.metrics import regression_metrics

        result["observed"] = str(observed)
        result["scores"] = regression_metrics(np.concatenate(predicted.observed),
                                              np.concatenate(predicted.predictions))
    write_json(record_path(out), result)
    return result


def record_path(out: str | os.PathLike) -> Path:
    """The JSON record written beside the imputed bigWig ``out``."""
    return Path(out).with_suffix(".json")


def _check_out(out: Path, entries: Mapping[str, tuple]) -> None:
    """The output is none of the input files (nor its record)."""
    for key, (path, _) in entries.items():
        if any(os.path.realpath(p) == os.path.realpath(path) for p in (out, record_path(out))):
            raise ConfigError(f"--out {out}: is the input {key} ({path}); expected a new file")


def _chromatin_settings(run: Path, record: Mapping) -> dict:
    """The run's ``preprocessing.json``, checked to be a chromatin run's."""
    system = record.get("system")
    if system not in systems.names() or systems.get(system).name != "chromatin":
        raise ConfigError(f"{run}: a run of system {system}; imputing a track needs a "
                          "chromatin run (a model of genome bins from GRO-/PRO-seq: kerasgene "
                          "train --config configs/chromatin.yaml)")
    path = run / "preprocessing.json"
    try:
        pre = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: cannot read the run's preprocessing constants "
                             f"({err}); retrain the run") from None
    missing = [k for k in ("target", "signal", *BIN_SETTINGS) if k not in pre]
    if missing:
        raise InputFileError(f"{path}: no {', '.join(missing)}; expected a chromatin run's "
                             "preprocessing constants (retrain the run)")
    return pre


def _signal_order(run: Path, pre: Mapping, signal: Mapping) -> list[str]:
    """The run's signal channels in the model's order (``signal_names`` of runs trained
    since it was recorded; before, the order of the run's config.yaml), checked against
    the names given."""
    trained = list(pre["signal"])
    if pre.get("signal_names") and not pre["merge_signal"]:
        trained = list(pre["signal_names"])
    elif not pre["merge_signal"]:
        import yaml

        config = yaml.safe_load((run / "config.yaml").read_text())
        trained = list((config.get("data") or {}).get("signal") or trained)
    missing = [n for n in trained if n not in signal]
    extra = [n for n in signal if n not in trained]
    if missing or extra:
        raise ConfigError(
            f"signal: {run} was trained on the channels {', '.join(trained)}; "
            + "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                      extra and f"not trained on {', '.join(map(str, extra))}"]))
            + "; give NAME=FILE for each trained channel")
    return trained


def _check_model_input(model, pre: Mapping, run: Path) -> None:
    """The model takes one ``signal`` input of the run's window and channel count."""
    shape = pre.get("input_shapes", {}).get("signal")
    got = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in model.inputs}
    if shape is None or got != {"signal": tuple(shape)}:
        raise InputFileError(f"{run}: the model takes {got}, the run's preprocessing.json "
                             f"records signal {shape}; retrain the run")


class _PredictedChroms(Mapping):
    """Chromosome → ``(starts, ends, values)`` of its imputed bins, computed when the
    bigWig writer asks for it (one chromosome in memory at a time). Keeps a summary per
    chromosome and, with an observed track, the observed and predicted values; after the
    first chromosome, compares its windows with the training signal (:func:`_warn_scale`)."""

    def __init__(self, f, pre: Mapping, tracks, sizes: Mapping[str, int], stride: int,
                 batch_size: int, progress: bool, observed=None):
        self.f, self.pre, self.tracks, self.sizes = f, pre, tracks, sizes
        self.stride, self.batch_size, self.observed_track = stride, batch_size, observed
        bin_size = int(pre["bin_size"])
        self.n_bins = {c: -(-n // bin_size) for c, n in sizes.items()}
        total = sum(-(-n // stride) for n in self.n_bins.values())
        self.bar = tqdm(total=total, desc="imputed bins", unit="bin", disable=not progress,
                        smoothing=0.1)
        self.summary: dict[str, dict] = {}
        self.predictions: list[np.ndarray] = []
        self.observed: list[np.ndarray] = []
        self._last: tuple[str, tuple] | None = None
        self.no_signal: dict[str, list[str]] = {}  # file → chromosomes where it is all 0

    def __getitem__(self, chrom: str):
        if self._last is None or self._last[0] != chrom:
            self._last = chrom, self._impute(chrom)
        return self._last[1]

    def _impute(self, chrom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from kerasgene.datasets.genome_bins import binned_means, signal_bins
        from kerasgene.io.tracks import gaussian_smooth

        n, bin_size, window = self.n_bins[chrom], int(self.pre["bin_size"]), int(self.pre["window"])
        sig = signal_bins(self.pre, self.tracks, chrom, n, self.no_signal)
        windows = np.lib.stride_tricks.sliding_window_view(sig, window, axis=0)  # (n, C, w)
        bins = np.arange(0, n, self.stride)
        if not self.summary:
            sample = np.linspace(0, n - 1, min(n, STATS_WINDOWS)).round().astype(np.int64)
            _warn_scale(self.pre, windows[sample].transpose(0, 2, 1), chrom)
        values = np.empty(len(bins), np.float32)
        for lo in range(0, len(bins), self.batch_size):
            k = bins[lo : lo + self.batch_size]
            x = np.ascontiguousarray(windows[k].transpose(0, 2, 1))
            values[lo : lo + len(k)] = _single_output(self.f({"signal": x}))
            self.bar.update(len(k))
        self.summary[chrom] = {"bins": int(n), "predicted": int(len(bins)),
                               "mean": float(values.mean(dtype=np.float64))}
        if self.observed_track is not None:
            means = binned_means(self.observed_track, chrom, n, bin_size)
            self.observed.append(gaussian_smooth(means, float(self.pre["sigma"]))[bins])
            self.predictions.append(values)
        starts = bins * bin_size
        ends = np.minimum((bins + self.stride) * bin_size, self.sizes[chrom])
        return starts, ends, values

    def __iter__(self):
        return iter(self.sizes)

    def __len__(self) -> int:
        return len(self.sizes)

    def __contains__(self, chrom) -> bool:  # without imputing it (Mapping's would)
        return chrom in self.sizes


def _single_output(outputs) -> np.ndarray:
    """The one output of a chromatin model, (n,) float32."""
    (value,) = outputs.values() if isinstance(outputs, Mapping) else (outputs,)
    return np.asarray(value, np.float32).reshape(-1)


def _warn_scale(pre: Mapping, windows: np.ndarray, chrom: str) -> None:
    """Warn about channels of ``windows`` ((n, window, channels): evenly spaced windows of
    the first imputed chromosome, ``chrom``) off the training windows' scale in the files'
    units (:func:`kerasgene.io.track_checks.scale_mismatches` of the bin means against
    ``signal_stats``; a run trained before they were recorded: said at INFO)."""
    trained = pre.get("signal_stats")
    if not trained:
        log.info("impute: the run records no signal_stats (trained before they were); the "
                 "new signal's scale is not compared with the training signal's")
        return
    from kerasgene.datasets.genome_bins import signal_file_units

    names = list(pre.get("signal_names") or trained)
    stats = track_statistics(signal_file_units(windows, pre), names)
    for message in scale_mismatches(trained, stats, "the training signal's", SIGNAL_KINDS):
        log.warning("impute: %s: signal %s; its imputed values would look like any others",
                    chrom, message)


def _warn_no_signal(no_signal: Mapping[str, list[str]], chroms: list[str]) -> None:
    """One warning per signal file without data on some imputed chromosomes: their windows
    are zeros there, and the track holds what the model makes of no signal."""
    for path, names in no_signal.items():
        log.warning("impute: %s: no signal on %d of the %d imputed chromosomes (%s%s); the "
                    "track there is the model's output for a channel of zeros",
                    path, len(names), len(chroms), ", ".join(names[:10]),
                    ", ..." if len(names) > 10 else "")


def _in_sample(record: Mapping, entries: Mapping, names: list[str], chosen: list[str],
               table) -> dict[str, list[str]]:
    """When every signal file holds the data of the run's own training file of its channel
    (the size and SHA-256 prefix its dataset recorded: :func:`kerasgene.datasets.storage.
    input_contents`), the imputed chromosomes among the run's training or validation
    chromosomes (``{"train": [...], "valid": [...]}``), with a warning: the model has seen
    their bins (training) or was chosen on them (validation)."""
    from kerasgene.datasets.base import fingerprint
    from kerasgene.datasets.storage import input_contents
    from kerasgene.io.chroms import alias_map, resolve, resolves

    dataset = record.get("dataset") or {}
    trained = dataset.get("inputs") or {}
    given = input_contents({f"signal.{n}": fingerprint(entries[f"signal.{n}"][0])
                            for n in names})
    if any(trained.get(k) != v for k, v in given.items()):
        return {}
    lookup = alias_map(dict.fromkeys(chosen, 0), table)
    found = {}
    for part in ("train", "valid"):
        listed = {str(e).split(":")[0] for e in (dataset.get("split") or {}).get(part) or []}
        hits = {resolve(c, lookup, "") for c in listed if resolves(c, lookup)}
        if hits:
            found[part] = [c for c in chosen if c in hits]
    if found:
        log.warning("impute: the signal files hold the run's training data, so its predictions "
                    "on the run's %s are not held out",
                    " and ".join(f"{k} chromosomes ({', '.join(v)})" for k, v in found.items()))
    return found


__all__ = ["impute_track", "record_path"]
