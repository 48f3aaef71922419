"""Imputed tracks: a trained chromatin-imputation run applied to another sample's
GRO-/PRO-seq, written as a bigWig of the predicted mark per bin.

This is what the chromatin-imputation paper's models are for: a histone mark or DNase
where only nascent transcription was measured. :func:`impute_track` reads the new signal
files and bins them exactly as the run's training data were
(:mod:`kerasgene.datasets.genome_bins` with the run's ``preprocessing.json``: ``bin_size``,
``window``, ``signal_abs``, ``signal_log1p``, ``merge_signal`` and the channel order;
bigWig, bigBed or bedGraph; chromosome aliases), cuts each bin's window from the padded
chromosome (zeros past its ends, as at training), predicts every bin with the trained
model (or, with ``stride`` N, the middle bin of every N) and writes the predictions as a
bigWig (each value over its bin, or over the N bins it stands for; chromosomes named as
in the first signal file) and, beside it, a JSON record of what made it.

Values: a regression run predicts the target's bin mean, gaussian-smoothed by ``sigma``
bins as its labels were, in the training target file's units; a binary run (``label:
binary``) the peak score (class 1 ⇔ score > 0: a hinge margin, or a logit under
cross-entropy). ``observed``, a measured track of the target in the same sample, binned
and smoothed as the training labels were, scores the imputation at the predicted bins
(Pearson r — the paper's metric —, Spearman, R², MSE).

The new signal is compared with the training windows' in the files' units (``signal_stats``
of ``preprocessing.json``, :func:`kerasgene.io.track_checks.chrom_scale_mismatches`), on
the first chromosome as soon as it is read and then over all and per chromosome: a channel
whose mean or 99th percentile is off by more than 5× (another normalisation, another
assay), of the other sign (a minus strand stored as negative values where training's was
not) or without data gives a warning, kept in the record, since its imputation would look
like any other. Signal files that are the run's own training files make the run's training
and validation chromosomes in-sample: said in a warning, and in the record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from kerasgene import systems
from kerasgene._io import check_output_file, check_readable, write_json
from kerasgene.errors import ConfigError, InputFileError, shown

log = logging.getLogger(__name__)

#: What a signal file off the training scale may be (the scale warning's hint).
SIGNAL_KINDS = ("counts per million or another normalisation instead of read counts, "
                "another assay, a file of fewer reads")
#: Windows sampled over all imputed chromosomes for the scale check (spread by their size).
SCALE_SAMPLE = 4096
#: ... and at least this many of each chromosome's.
MIN_SAMPLE = 32
#: Names of text track formats, refused for the bigWig that impute writes.
TEXT_TRACK_SUFFIXES = (".bedgraph", ".bg", ".bdg", ".wig", ".bed", ".gz", ".txt", ".tsv")
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
    out : the bigWig to write (atomically; replaced if it exists); the record goes to
        :func:`record_path` of it
    chroms : the chromosomes to impute, named as in any of the files (default: every
        chromosome of the first signal file, which every file must share)
    stride : predict the middle bin of every ``stride`` bins, its value covering them
    chrom_aliases : a chromosome alias table (UCSC ``chromAlias.txt`` or a user table)
    observed : a measured track of the run's target in the same sample, to score the
        imputation (regression runs)
    batch_size : windows per model call
    progress : a progress bar over the bins

    Returns
    -------
    The record written beside ``out``: ``out``, ``run``, ``model_sha256``, ``target``, ``values``
    (what the bigWig holds), ``signal``, the binning settings, ``stride``, ``chroms``
    (chromosome → ``{"bins", "predicted", "mean"}``), ``in_sample`` (chromosomes the run
    trained or validated on, when the signal files are its training files), ``no_signal``
    (signal or observed file → the imputed chromosomes where it has no data), ``warnings``
    (those and the scale check's messages, as logged), and with
    ``observed`` its ``scores`` (:func:`kerasgene.metrics.regression_metrics` over every
    predicted bin) and, for a run trained with the masked MSE (``mask_zero_targets``), its
    ``nonzero_scores`` (over the bins whose observed value is not 0, with ``n_zero``).
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
    if chroms is not None and not list(chroms):
        raise ConfigError("--chroms: no chromosome named; expected comma-separated names (or "
                          "no --chroms for every chromosome of the signal files)")
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
    for key, (path, _) in entries.items():
        check_readable(path, f"{key} file")
    gb.check_track_files(entries, "--")
    _check_out(out, entries, run, record)
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
        with logging_redirect_tqdm():
            try:
                write_bigwig_entries(out, sizes, predicted)
            finally:
                predicted.bar.close()
    finally:
        for t in opened.values():
            t.close()
    warnings = _warn_no_signal(predicted.no_signal, chosen) + predicted.scale_warnings()
    result = {"out": str(out.resolve()), "run": str(run.resolve()),
              "model_sha256": record.get("model_sha256"), "target": pre["target"],
              "values": "peak score (class 1 where > 0)" if binary else
              f"{pre['target']}, gaussian-smoothed bin mean (sigma {pre['sigma']} bins)",
              "signal": {n: str(Path(entries[f"signal.{n}"][0]).resolve()) for n in names},
              **{k: pre[k] for k in BIN_SETTINGS}, "stride": int(stride),
              "chroms": predicted.summary, "in_sample": in_sample,
              "no_signal": predicted.no_signal, "warnings": warnings}
    if observed is not None:
        from kerasgene.metrics import regression_metrics

        y, pred = np.concatenate(predicted.observed), np.concatenate(predicted.predictions)
        result["observed"] = str(Path(observed).resolve())
        result["scores"] = regression_metrics(y, pred)
        if pre.get("mask_zero_targets"):
            result["nonzero_scores"], said = _nonzero_scores(y, pred, observed)
            result["warnings"] += said
    write_json(record_path(out), result)
    return result


def _nonzero_scores(y: np.ndarray, pred: np.ndarray, observed) -> tuple[dict, list[str]]:
    """The scores over the observed bins that are not 0 — what a run trained with the
    masked MSE learned from (:func:`kerasgene.train.evaluation.nonzero_target_metrics`: bins
    of 0 are no data or no signal, and weighed 0 in training) — and the warning logged when
    some are 0."""
    from kerasgene.train.evaluation import nonzero_target_metrics

    scores = nonzero_target_metrics(y, pred)
    if not scores["n_zero"]:
        return scores, []
    message = (f"impute: {observed}: {scores['n_zero']} of the {len(y)} scored bins are 0 (no "
               "data there, or no signal; the run's masked loss trained on no such bin): over "
               f"the other {scores['n']}, Pearson r {scores['pearson']:.3f}, R² "
               f"{scores['r2']:.3f} (nonzero_scores; scores: every bin)")
    log.warning("%s", message)
    return scores, [message]


def record_path(out: str | os.PathLike) -> Path:
    """The JSON record written beside the imputed bigWig ``out``: its ``.bw`` /
    ``.bigWig`` suffix replaced by ``.json``, or ``.json`` added to any other name
    (``K562.H3K4me3`` → ``K562.H3K4me3.json``)."""
    out = Path(out)
    if out.suffix.lower() in (".bw", ".bigwig"):
        return out.with_suffix(".json")
    return out.with_name(out.name + ".json")


def _check_out(out: Path, entries: Mapping[str, tuple], run: Path, record: Mapping) -> None:
    """The output and its record are file names where files can be written (not a folder,
    not below a file) and replace none of the input files, nor a file of the run (its
    folder, its dataset, the files it was trained on); an earlier imputed track and its
    record are replaced."""
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a directory; expected the imputed bigWig's file "
                          "name (e.g. DIR/H3K4me3_imputed.bigWig)")
    if out.suffix.lower() in TEXT_TRACK_SUFFIXES:
        raise ConfigError(f"--out {out}: a {out.suffix} name, but impute writes a bigWig; "
                          f"expected a .bw or .bigWig name ({out.with_suffix('.bw').name})")
    for key, (path, _) in entries.items():
        if any(os.path.realpath(p) == os.path.realpath(path) for p in (out, record_path(out))):
            raise ConfigError(f"--out {out}: is the input {key} ({path}); expected a new file")
    earlier = _earlier_imputation(out)
    kept = {what: path for what, path in _run_files(run, record).items()
            if os.path.realpath(path) not in earlier}
    check_output_file(out, kept, "--out", "imputed bigWig")
    check_output_file(record_path(out), kept, "--out", "imputed bigWig's record")


def _earlier_imputation(out: Path) -> set[str]:
    """The real paths of ``out`` and its record when they are an earlier imputation's (the
    record names ``out`` as its output), else an empty set."""
    try:
        doc = json.loads(record_path(out).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(doc, dict) or doc.get("out") != str(out.resolve()):
        return set()
    return {os.path.realpath(out), os.path.realpath(record_path(out))}


def _run_files(run: Path, record: Mapping) -> dict[str, str]:
    """What an imputed track must not replace: every file of the run's folder and of its
    dataset's, and the files its dataset was built from (``{what: path}``)."""
    dataset = record.get("dataset") or {}
    folder = Path(os.path.expanduser(str(dataset["path"]))) if dataset.get("path") else None
    if folder is not None and not folder.is_absolute() and record.get("cwd"):
        folder = Path(record["cwd"]) / folder
    files = {f"run's file {p.relative_to(run)}": str(p) for p in run.rglob("*") if p.is_file()}
    if folder is not None and folder.is_dir():
        files.update({f"run's dataset file {p.name}": str(p) for p in folder.iterdir() if p.is_file()})
        with contextlib.suppress(OSError, ValueError, AttributeError):
            inputs = json.loads((folder / "meta.json").read_text()).get("inputs") or {}
            files.update({f"run's training input {key} file": spec["path"]
                          for key, spec in inputs.items()})
    return files


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
    since it was recorded; else, and for merged channels, the order of the run's
    config.yaml), checked against the names given."""
    trained = list(pre["signal"])
    if pre.get("signal_names") and not pre["merge_signal"]:
        trained = list(pre["signal_names"])
    else:
        import yaml

        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
        listed = list((config.get("data") or {}).get("signal") or [])
        trained = listed if sorted(listed) == sorted(trained) else trained
    missing = [n for n in trained if n not in signal]
    extra = [n for n in signal if n not in trained]
    if missing or extra:
        raise ConfigError(
            f"signal: {run} was trained on the channels {', '.join(trained)}"
            + (" (summed into one: merge_signal)" if pre["merge_signal"] else "") + "; "
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
    chromosome, the chromosomes where a file has no data, the sums of a sample of each
    chromosome's windows for the scale check (the first chromosome's checked at once:
    :func:`_warn_scale`) and, with an observed track, the observed and predicted values.

    With ``stride`` > 1 each value is the prediction of the middle bin of the ``stride``
    bins its interval covers (the chromosome's last interval: of its own bins)."""

    def __init__(self, f, pre: Mapping, tracks, sizes: Mapping[str, int], stride: int,
                 batch_size: int, progress: bool, observed=None):
        self.f, self.pre, self.tracks, self.sizes = f, pre, tracks, sizes
        self.stride, self.batch_size, self.observed_track = stride, batch_size, observed
        bin_size = int(pre["bin_size"])
        self.n_bins = {c: -(-n // bin_size) for c, n in sizes.items()}
        total = sum(-(-n // stride) for n in self.n_bins.values())
        self.sample_every = max(1, sum(self.n_bins.values()) // SCALE_SAMPLE)
        self.bar = tqdm(total=total, desc="imputed bins", unit="bin", disable=not progress,
                        smoothing=0.1)
        self.summary: dict[str, dict] = {}
        self.sums: dict[str, dict] = {}  # chromosome → window_sums of its sampled windows
        self.predictions: list[np.ndarray] = []
        self.observed: list[np.ndarray] = []
        self.no_signal: dict[str, list[str]] = {}  # file → chromosomes where it is all 0
        self._last: tuple[str, tuple] | None = None

    def __getitem__(self, chrom: str):
        if self._last is None or self._last[0] != chrom:
            self._last = chrom, self._impute(chrom)
        return self._last[1]

    def __iter__(self):
        return iter(self.sizes)

    def __len__(self) -> int:
        return len(self.sizes)

    def __contains__(self, chrom) -> bool:  # without imputing it (Mapping's would)
        return chrom in self.sizes

    def _impute(self, chrom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from kerasgene.datasets.genome_bins import binned_means, signal_bins
        from kerasgene.io.tracks import gaussian_smooth

        n, bin_size, window = self.n_bins[chrom], int(self.pre["bin_size"]), int(self.pre["window"])
        sig = signal_bins(self.pre, self.tracks, chrom, n, self.no_signal)
        windows = np.lib.stride_tricks.sliding_window_view(sig, window, axis=0)  # (n, C, w)
        self._note_scale(chrom, windows)
        starts = np.arange(0, n, self.stride)
        ends = np.minimum(starts + self.stride, n)
        bins = (starts + ends - 1) // 2  # the middle bin of each interval
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
            if not means.any():
                self.no_signal.setdefault(str(self.observed_track.path), []).append(chrom)
            self.observed.append(gaussian_smooth(means, float(self.pre["sigma"]))[bins])
            self.predictions.append(values)
        return (starts * bin_size, np.minimum(ends * bin_size, self.sizes[chrom]), values)

    def _note_scale(self, chrom: str, windows: np.ndarray) -> None:
        """Sum a sample of the chromosome's windows (every ``sample_every``-th bin, at
        least :data:`MIN_SAMPLE` of them) in the files' units; check the first chromosome
        at once."""
        from kerasgene.datasets.genome_bins import signal_file_units
        from kerasgene.io.track_checks import window_sums

        n = len(windows)
        sample = np.union1d(np.arange(0, n, self.sample_every),
                            np.linspace(0, n - 1, min(n, MIN_SAMPLE)).round().astype(np.int64))
        self.sums[chrom] = window_sums(signal_file_units(windows[sample].transpose(0, 2, 1),
                                                         self.pre))
        if len(self.sums) == 1:
            _warn_scale(self.pre, {chrom: self.sums[chrom]}, f"{chrom} (the first chromosome)")

    def scale_warnings(self) -> list[str]:
        """The scale check of every imputed chromosome (:func:`_warn_scale`); the messages."""
        return _warn_scale(self.pre, self.sums, "the imputed chromosomes")


def _single_output(outputs) -> np.ndarray:
    """The one output of a chromatin model, (n,) float32."""
    (value,) = outputs.values() if isinstance(outputs, Mapping) else (outputs,)
    return np.asarray(value, np.float32).reshape(-1)


def _warn_scale(pre: Mapping, by_chrom: Mapping[str, Mapping], where: str) -> list[str]:
    """Warn about signal channels off the training windows' scale in the files' units
    (:func:`kerasgene.io.track_checks.chrom_scale_mismatches` of ``by_chrom``, chromosome →
    :func:`~kerasgene.io.track_checks.window_sums` of sampled windows' bin means, against
    ``signal_stats``: over all of them, then per chromosome); returns the messages. A run
    trained before ``signal_stats`` were recorded: said at INFO, nothing compared."""
    from kerasgene.io.track_checks import add_sums, chrom_scale_mismatches

    trained = pre.get("signal_stats")
    if not trained:
        log.info("impute: the run records no signal_stats (trained before they were); the "
                 "new signal's scale is not compared with the training signal's")
        return []
    names = list(pre.get("signal_names") or trained)
    total = None
    for sums in by_chrom.values():
        total = add_sums(total, sums)
    messages = [f"impute: {where}: signal {m}; its imputed values would look like any others"
                for m in chrom_scale_mismatches(trained, total, by_chrom, names,
                                                "the training signal's", SIGNAL_KINDS,
                                                "sampled windows")]
    for message in messages:
        log.warning("%s", message)
    return messages


def _warn_no_signal(no_signal: Mapping[str, list[str]], chroms: list[str]) -> list[str]:
    """One warning per file without data on some imputed chromosomes (a signal file: its
    windows are zeros there, and the track holds what the model makes of no signal; the
    observed track: no scores there); returns the messages."""
    messages = [f"impute: {path}: no data on {len(names)} of the {len(chroms)} imputed "
                f"chromosomes ({shown(names, 10)})"
                for path, names in no_signal.items()]
    for message in messages:
        log.warning("%s; where it is a signal file, the track there is the model's output "
                    "for a channel of zeros", message)
    return messages


def _in_sample(record: Mapping, entries: Mapping, names: list[str], chosen: list[str],
               table) -> dict[str, list[str]]:
    """When every signal file holds the data of the run's own training file of its channel
    (the size and SHA-256 prefix its dataset recorded: :func:`kerasgene.datasets.storage.
    input_contents`), the imputed chromosomes among the run's training or validation
    chromosomes (``{"train": [...], "valid": [...]}``), with a warning: the model has seen
    their bins (training) or was chosen on them (validation)."""
    from kerasgene.datasets.base import fingerprint
    from kerasgene.datasets.bin_splits import parse_entry
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
        listed = {parse_entry(e)[0] for e in (dataset.get("split") or {}).get(part) or []}
        hits = {resolve(c, lookup, "") for c in listed if resolves(c, lookup)}
        if hits:
            found[part] = [c for c in chosen if c in hits]
    if found:
        log.warning("impute: the signal files hold the run's training data, so its predictions "
                    "on the run's %s are not held out",
                    " and ".join(f"{k} chromosomes ({', '.join(v)})" for k, v in found.items()))
    return found


__all__ = ["impute_track", "record_path"]
