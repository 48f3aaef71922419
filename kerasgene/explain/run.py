"""Interpretation of a trained run: the papers' tables and figures (``kerasgene explain``).

>>> from kerasgene.explain import ExplainOptions, explain_run
>>> summary = explain_run("runs/isegnet", config, ExplainOptions(analyses=("ig",)))  # doctest: +SKIP

:func:`explain_run` reads the model of a complete run (its ``run.json`` completion record;
a run killed or failed during training is refused) and the prepared dataset as that
model was trained on it (``training.inputs`` of the run's record: an ablation run gets
its subset of inputs and tracks; :func:`kerasgene.train.runs.run_dataset`), and writes
into ``RUN_DIR/explain/`` (or ``out``), per system:

- **isegnet** (``ig``, ``motifs``): ``ig_summary.tsv`` (per gene: prediction, F(x) −
  F(baseline), completeness residual, steps), ``ig_profiles.tsv`` + ``ig_track_profiles.png``
  (mean attribution per track, TSS/TTS marked; Fig. 4B–D), ``gene_<id>.png`` (attribution
  beside the observed signal; Fig. 5B/C), ``top_sites_<track>.fa/.bed`` (±50 bp around each
  gene's top site), ``enrichment_<track>.tsv/.png`` (FIMO + Fisher + BH vs random windows),
  and the filter analysis below on the sequence branch. With ``compare`` (a second run
  directory; ``differential``): ``differential_<track>.tsv/.fa/.bed/.png`` (top 10 % sites).
- **deeprage** (``motifs``, ``knockout``): ``filter_matches.tsv`` (filter, best JASPAR
  match, p, E, q), ``filters.meme``, ``logos/filter<k>.png``; with ``truth`` (a
  ``truth.json``) or ``targets`` (a file of gene ids): ``knockout.tsv`` (rank-sum and top-k
  Fisher per regulator), ``knockout_<name>.png`` and ``knockout_<name>_genes.tsv``.
- **any model with a sequence input** (``modisco``): ``modisco_patterns.tsv`` (pattern,
  metacluster, seqlets, best JASPAR match, p, q), ``modisco_patterns.meme``,
  ``modisco_results.h5`` (modisco's own format), ``modisco_logos/<pattern>.png`` and
  ``modisco_report.html`` (open it in a browser); with ``truth``, ``motif_recovery.tsv``
  (the planted motifs found by the patterns, by the filters and by either).
- **histone / deepchrome / chromatin** (``saliency``): ``saliency_<group>_<part>.png``
  heatmaps (marks × bins, k-mers × bins) of the mean signed gradient per cell type.
- A classifier's analyses explain the probability of one class (``target_class``; by
  default the last: binary, the positive class), named in ``explain.json``, the summary
  lines and the figures.
- ``explain.json``: the summary :func:`explain_run` returns (system, run, analyses, the
  settings, what each analysis found, the model's SHA-256 and the files written). An
  ``explain`` into a folder of another model's analyses (the run retrained since, or
  ``--out`` naming another run's folder) removes that model's files (a warning names
  them), so one folder never mixes two models' analyses.

The settings are an :class:`~kerasgene.explain.options.ExplainOptions`; by default they are
the run config's ``explain:`` section over the defaults
(:func:`~kerasgene.explain.options.explain_options`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene import systems
from kerasgene._io import (
    check_folder_path,
    read_json_object,
    staged_folder,
    to_plain,
    write_json,
)
from kerasgene.errors import ConfigError, InputFileError, KerasgeneError, shown
from kerasgene.explain.options import USED_BY, ExplainOptions, explain_options, requested_analyses

log = logging.getLogger(__name__)

#: The summary of an explain call, in its output folder.
EXPLAIN_JSON = "explain.json"


def explain_dir(run: str | Path, out: str | Path | None = None) -> Path:
    """``out``, or ``RUN_DIR/explain``."""
    return Path(out) if out else Path(run) / "explain"


def runnable_analyses(analyses: tuple[str, ...], model, explicit: bool) -> tuple[str, ...]:
    """``analyses`` without the sequence analyses (``motifs``, ``knockout``,
    ``modisco``) when the model reads no DNA (a run trained with ``training.inputs: {sequence: false}``): skipped
    with a warning when they were the system's default, an error when asked for."""
    from kerasgene.explain.attribution import input_names

    needs = [a for a in analyses if a in ("motifs", "knockout", "modisco")]
    if not needs or "sequence" in input_names(model):
        return analyses
    if explicit:
        raise ConfigError(f"analyses {','.join(needs)}: the model reads no DNA (inputs "
                          f"{input_names(model)}; training.inputs of the run)")
    log.warning("explain: skipping %s: the model reads no DNA (inputs %s)", ", ".join(needs),
                input_names(model))
    return tuple(a for a in analyses if a not in needs)


def check_out_dir(out: Path, config: Mapping, option: str = "--out") -> Path:
    """``out``, a folder to write into, refused before any work when it is a file, lies
    below a file, or inside the run's prepared dataset (``dataset_dir``: a cache that
    ``prepare`` replaces as a whole)."""
    from kerasgene.train.run_config import dataset_dir

    out = check_folder_path(out, option)
    cache = dataset_dir(dict(config)).resolve()
    if out.resolve() == cache or cache in out.resolve().parents:
        raise ConfigError(f"{option}: {out} is inside the run's prepared dataset {cache}; "
                          "expected a folder outside it (the dataset is a cache, rebuilt as "
                          "a whole)")
    return out


def check_request(analyses: tuple[str, ...], options: ExplainOptions, system, model, dataset,
                  compare=None) -> list[str] | None:
    """What ``analyses`` need of the run and of the options, checked before any of them
    runs: integrated gradients need one gene window per example with per-position inputs,
    knockouts a model that predicts from DNA (DeepRAGE: DNA x regulator states),
    ``truth`` the section of the run's own simulated data, ``targets`` a file with
    ``filters`` (indices of the first convolution's filters) or ``target_motif``.

    Returns
    -------
    The genes of the ``targets`` file (read once, here: its warnings logged) for the
    knockout, None without a knockout of ``targets``.

    Raises
    ------
    KerasgeneError
        naming the analysis or the option and what was expected.
    """
    from kerasgene.explain import analyses as A
    from kerasgene.explain.attribution import input_names

    names = input_names(model)
    for a in ("ig", "differential"):
        if a not in analyses:
            continue
        flat = {t.name: tuple(t.shape[1:]) for t in model.inputs if len(t.shape) != 3}
        if flat:
            name, shape = next(iter(flat.items()))
            raise ConfigError(f"analyses {a}: integrated gradients need per-position inputs "
                              f"(n, positions, channels) of one gene window per example "
                              f"(isegnet, histone); the {system.name} model's input {name!r} "
                              f"has shape {shape}")
        if len(dataset.index) != getattr(dataset, "n_examples", len(dataset.index)):
            raise ConfigError(f"analyses {a}: integrated gradients need one gene window per "
                              f"example (isegnet, histone); the {system.name} dataset's "
                              "examples are genome bins")
    if compare is not None:
        _check_compare_inputs(options.compare, compare, model)
    targets = None
    if "knockout" in analyses:
        if dataset.arrays.get("regulators") is None and names != ["sequence"]:
            raise ConfigError(f"analyses knockout: filter knockouts predict from the DNA alone "
                              f"or with regulator states (deeprage); the {system.name} model "
                              f"also takes {[n for n in names if n != 'sequence']}")
        targets = _check_targets(options, model, dataset)
    if options.truth:
        for a, key in (("ig", "isegnet"), ("knockout", "deeprage"),
                       ("modisco", system.truth_key or system.name)):
            if a not in analyses:
                continue
            if key != system.truth_key:
                raise ConfigError(f"--truth: analysis {a} reads the planted truth of "
                                  f"{key} (tasks.{key}), which the {system.name} run has not; "
                                  f"expected no --truth with analyses {a}")
            A.check_truth(options.truth, dataset, key)
    return targets


def _check_compare_inputs(path, compare, model) -> None:
    """The ``--compare`` model at ``path`` takes some of ``model``'s inputs, each of the
    same shape per example (it is fed the run's windows: another window layout, as with
    other ``tss_flank``/``tts_flank``, failed after the run's own attributions).

    Raises
    ------
    ConfigError
        naming ``--compare``, the input and the two shapes.
    """
    from kerasgene.explain.attribution import input_names

    ours = {t.name: tuple(t.shape[1:]) for t in model.inputs}
    theirs = {t.name: tuple(t.shape[1:]) for t in compare.inputs}
    if not set(theirs) <= set(ours):
        raise ConfigError(f"--compare {path}: its model takes inputs {input_names(compare)}, "
                          f"the run's {input_names(model)}; expected a run of the same inputs")
    for name, shape in theirs.items():
        if shape != ours[name]:
            raise ConfigError(f"--compare {path}: its model takes input {name!r} of shape "
                              f"{shape} per example, the run's {ours[name]} (another window "
                              "layout: tss_flank, tts_flank or bins); expected a run on windows "
                              "of the same layout")


def load_compare(run: str | Path, compare: str | Path):
    """The model of the ``--compare`` run, checked against ``run``: the compared model is
    fed this run's inputs, so one that reads the epigenome must read the same tracks in
    the same order (``track_names`` of each run's ``preprocessing.json``).

    Raises
    ------
    KerasgeneError
        ``compare`` is not a complete run, a run's ``preprocessing.json`` is unreadable,
        or the runs' tracks differ (names or order).
    """
    from kerasgene.train import records

    model = records.load_run(compare)[0]
    ours, theirs = _track_names(run), _track_names(compare)
    if theirs and theirs != ours:  # a model without the epigenome reads no tracks
        raise ConfigError(f"--compare {compare}: its model reads tracks {theirs}, the run "
                          f"{run}'s {ours} (track_names of each preprocessing.json); expected "
                          "a run of the same tracks in the same order (its model is fed this "
                          "run's inputs)")
    return model


def _track_names(run: str | Path) -> list[str] | None:
    """``track_names`` of a complete run's ``preprocessing.json`` (None: no epigenome)."""
    prep = read_json_object(Path(run) / "preprocessing.json", "the run's preprocessing "
                            "constants")
    names = prep.get("track_names")
    return None if names is None else list(names)


def check_motif_database(options: ExplainOptions, analyses: tuple[str, ...],
                         tax_group: str) -> None:
    """The motif database, checked before the run is read when one of ``analyses``
    matches motifs (``motifs``, ``knockout``, ``modisco``): ``motif_db`` read whole
    (:func:`kerasgene.explain.motifs.meme_motifs`), else ``jaspar_release`` and
    ``tax_group`` as pyjaspar's offline databases have them
    (:func:`kerasgene.explain.motifs.jaspar_motifs`); a knockout's ``target_motif`` must
    be one of its motifs (``tax_group``: the system's taxon, when the options name none).

    Raises
    ------
    InputFileError
        ``motif_db`` is not a readable MEME file of DNA motifs.
    ConfigError
        an unknown release, or a taxon without CORE matrices in it, listing those there
        are; a ``target_motif`` not in the database.
    """
    if not set(analyses) & set(USED_BY["jaspar_release"]):
        return
    if options.motif_db:
        from kerasgene.explain.motifs import meme_motifs

        meme_motifs(options.motif_db)
    else:
        _check_jaspar(options)
    if options.target_motif and "knockout" in analyses:
        _check_target_motif(options, tax_group)


def _check_target_motif(options: ExplainOptions, tax_group: str) -> None:
    """``target_motif`` is an id of the motif database
    (:func:`kerasgene.explain.sequence_analyses.check_target_motif`)."""
    from kerasgene.explain.analyses import motif_database
    from kerasgene.explain.sequence_analyses import check_target_motif

    motifs, source = motif_database(options, tax_group)
    check_target_motif(options.target_motif, motifs, source)


def _check_jaspar(options: ExplainOptions) -> None:
    """``jaspar_release`` and ``tax_group`` as pyjaspar's offline databases have them."""
    try:
        from pyjaspar import jaspardb
    except ImportError as err:  # pragma: no cover
        raise KerasgeneError(f"JASPAR matrices need pyjaspar (pip install pyjaspar): {err}") \
            from err
    releases = jaspardb().get_releases()
    if options.jaspar_release not in releases:
        raise ConfigError(f"--jaspar-release: unknown release {options.jaspar_release!r}; "
                          f"expected one of pyjaspar's: {', '.join(releases)}")
    if options.tax_group is None:
        return
    groups = _tax_groups(jaspardb(release=options.jaspar_release))
    if options.tax_group.lower() not in groups:
        raise ConfigError(f"--tax-group: {options.tax_group!r} has no {options.jaspar_release} "
                          f"CORE matrices; expected one of {', '.join(groups)}")


def _tax_groups(db) -> list[str]:
    """The taxa of the CORE matrices (those :func:`~kerasgene.explain.motifs.jaspar_motifs`
    reads) of pyjaspar database ``db``."""
    rows = db.conn.execute(
        "SELECT DISTINCT a.VAL FROM MATRIX_ANNOTATION a JOIN MATRIX m ON m.ID = a.ID "
        "WHERE a.TAG = 'tax_group' AND m.COLLECTION = 'CORE'")
    return sorted({v.lower() for (v,) in rows})


def _check_targets(options: ExplainOptions, model, dataset) -> list[str] | None:
    """``targets``, ``filters`` and ``target_motif`` of a knockout; the ids of ``targets``
    must name genes of ``dataset``. Returns those genes
    (:func:`~kerasgene.explain.sequence_analyses.target_genes`, its warnings logged), None
    without ``targets``."""
    from kerasgene.explain.motifs import first_conv_layer
    from kerasgene.explain.sequence_analyses import dataset_gene_ids, target_genes

    if not options.targets:
        extra = [f for f, v in (("--filters", options.filters),
                                ("--target-motif", options.target_motif)) if v]
        if extra:
            raise ConfigError(f"{extra[0]}: picks the filters of the --targets knockout; "
                              "expected --targets FILE (target gene ids) with it")
        return None
    if not Path(options.targets).is_file():
        raise ConfigError(f"--targets: {options.targets}: file not found (expected a file of "
                          "target gene ids, one per line)")
    if not (options.filters or options.target_motif):
        raise ConfigError("--targets needs the filters to knock out: --filters or "
                          "--target-motif")
    targets = target_genes(options.targets, dataset_gene_ids(dataset))
    n = first_conv_layer(model).filters
    bad = [f for f in options.filters or () if f >= n]
    if bad:
        raise ConfigError(f"--filters: {bad} out of range; the model's first convolution "
                          f"has {n} filters (0 to {n - 1})")
    return targets


def explain_run(run: str | Path, config: Mapping,
                options: ExplainOptions | Mapping | None = None, *,
                out: str | Path | None = None) -> dict[str, Any]:
    """Run the interpretation analyses of a trained run and write their files.

    Parameters
    ----------
    run : a complete run directory (``run.json``, the model)
    config : its run configuration (the dataset is prepared, or reused, from it)
    options : the settings: an :class:`~kerasgene.explain.options.ExplainOptions`, or a
        mapping of its fields checked as the config's ``explain:`` section is (default:
        :func:`~kerasgene.explain.options.explain_options` of that section)
    out : output directory (default ``RUN_DIR/explain``); its files are moved in when
        every analysis is done (an error or Ctrl-C leaves it as it was), replacing those
        of the same name, keeping the others

    Returns
    -------
    The summary also written to ``explain.json``: ``system``, ``run``, ``analyses``,
    ``settings``, ``target_class`` (a classifier's: the class whose probability the
    analyses explain, ``{id, name, n_classes}``;
    :func:`~kerasgene.explain.analyses.explained_class`), one entry per analysis run (``ig``, ``motifs``, ``knockout``,
    ``modisco``, ``saliency``), ``model_sha256`` (the model's, from ``run.json``) and
    ``files`` (what the call wrote); ``kept_files`` and ``kept_analyses``: what earlier
    calls wrote into the folder for the same model and this one did not write again
    (:func:`kept_files`). Files an earlier call wrote into the folder for another model
    (the run retrained since, or another run's) are removed with a warning
    (:func:`other_model_files`).

    Raises
    ------
    KerasgeneError
        an incomplete run, bad options, or inputs the analyses cannot use.
    """
    from kerasgene.explain import analyses as A
    from kerasgene.explain import sequence_analyses as S
    from kerasgene.train import records, runs

    if options is None:
        options = explain_options(config.get("explain"))
    elif isinstance(options, Mapping):
        options = explain_options(options, where="options")
    elif not isinstance(options, ExplainOptions):
        raise ConfigError(f"options: expected ExplainOptions or a mapping of its fields, got "
                          f"{type(options).__name__}")
    system = systems.get(config["system"], "system")
    final = check_out_dir(explain_dir(run, out), config)
    requested = requested_analyses(options, system.name)
    check_motif_database(options, requested, system.jaspar_tax_group)
    model, record = records.load_run(run)
    dataset = runs.run_dataset(run, dict(config), record)
    analyses = runnable_analyses(requested, model, bool(options.analyses))
    compare = load_compare(run, options.compare) if "differential" in analyses else None
    targets = check_request(analyses, options, system, model, dataset, compare)
    explained = (A.explained_class(model, dataset, options)
                 if set(analyses) & set(USED_BY["target_class"]) else None)
    summary: dict[str, Any] = {"system": system.name, "run": str(run),
                               "analyses": list(analyses),
                               "settings": to_plain(dataclasses.asdict(options)),
                               "model_sha256": record.get("model_sha256")}
    if explained is not None:
        summary["target_class"] = explained.as_dict()
    previous, earlier_run = other_model_files(final, summary["model_sha256"])
    rng = np.random.default_rng(options.seed)
    # written into a temporary folder, moved into `final` at the end: an error or Ctrl-C
    # leaves `final` as it was
    with staged_folder(final, replaces=previous) as out:
        if "ig" in analyses or "differential" in analyses:
            summary["ig"] = A.explain_isegnet_ig(model, dataset, out, options, rng,
                                                 compare=compare)
        filter_rows = None
        if "motifs" in analyses:
            summary["motifs"] = S.explain_filters(model, dataset, out, options, system.name)
            filter_rows = summary["motifs"].pop("_rows", None)
        if "knockout" in analyses:
            summary["knockout"] = S.explain_knockout(
                model, dataset, out, options, rng,
                filter_rows if filter_rows is not None else _earlier_filter_rows(final),
                targets)
        if "modisco" in analyses:
            summary["modisco"] = S.explain_modisco(model, dataset, out, options, rng,
                                                   system.name, filter_rows=filter_rows)
        if "saliency" in analyses:
            summary["saliency"] = A.explain_saliency(model, dataset, out, options, rng)
        written = {p.name for p in out.iterdir()} | {EXPLAIN_JSON}
        summary["files"] = sorted(written)
        kept, kept_analyses = kept_files(final, summary["model_sha256"], written)
        if kept:  # an earlier call's analyses of this model, still in the folder
            summary["kept_files"] = kept
            summary["kept_analyses"] = [a for a in kept_analyses if a not in analyses]
        write_json(out / EXPLAIN_JSON, summary)
    gone = [name for name in previous if name not in summary["files"]]
    if gone:
        log.warning("%s: removed %d files that an earlier explain wrote for another model "
                    "(of %s: retrained since, or another run) and this one did not write "
                    "again (%s)", final, len(gone), earlier_run, shown(gone, 5))
    return summary


def other_model_files(folder: Path, model_sha256: str | None) -> tuple[list[str], str | None]:
    """The files an earlier ``explain`` wrote into ``folder`` for another model than
    ``model_sha256`` (its ``explain.json`` records the model's SHA-256, its run and the
    files it wrote) and that run: the run was retrained since, or ``--out`` names a
    folder of another run's analyses, and keeping them beside this model's would mix two
    models' analyses in one folder under one ``explain.json``. ``([], None)`` when
    ``folder`` holds no such record, one written before kerasgene recorded the model, or
    one that cannot be read (warned): nothing to tell it by."""
    path = folder / EXPLAIN_JSON
    if not path.is_file() or model_sha256 is None:
        return [], None
    try:
        earlier = read_json_object(path, "the summary of an earlier explain")
    except InputFileError as err:
        log.warning("%s; it is replaced, the folder's other files kept (the model they "
                    "describe cannot be told)", err)
        return [], None
    if earlier.get("model_sha256") in (None, model_sha256):
        return [], None
    names = [name for name in [*(earlier.get("files") or [EXPLAIN_JSON]),
                               *(earlier.get("kept_files") or [])]
             if isinstance(name, str) and Path(name).name == name and (folder / name).exists()]
    return names, str(earlier.get("run"))


def kept_files(folder: Path, model_sha256: str | None, written: set[str]
               ) -> tuple[list[str], list[str]]:
    """What earlier ``explain`` calls wrote into ``folder`` for the model ``model_sha256``
    (its ``explain.json``: ``files`` and ``kept_files``) that is still there and that this
    call does not write again (``written``), and their analyses: a second call with other
    analyses keeps the first's files, which its ``explain.json`` lists (they were in the
    folder unlisted). ``([], [])`` without such a record."""
    path = folder / EXPLAIN_JSON
    if not path.is_file() or model_sha256 is None:
        return [], []
    try:
        earlier = read_json_object(path, "the summary of an earlier explain")
    except InputFileError:  # told by other_model_files
        return [], []
    if earlier.get("model_sha256") != model_sha256:
        return [], []
    names = sorted({name for name in [*(earlier.get("files") or []),
                                      *(earlier.get("kept_files") or [])]
                    if isinstance(name, str) and Path(name).name == name
                    and name not in written and (folder / name).exists()})
    analyses = list(dict.fromkeys(a for a in [*(earlier.get("analyses") or []),
                                              *(earlier.get("kept_analyses") or [])]
                                  if isinstance(a, str)))
    return names, analyses


def _earlier_filter_rows(out: Path) -> list[dict] | None:
    """The filters' JASPAR matches an earlier ``--analyses motifs`` wrote into ``out``
    (``filter_matches.tsv``), or None."""
    path = out / "filter_matches.tsv"
    if not path.exists():
        return None
    import pandas as pd

    return pd.read_csv(path, sep="\t", keep_default_na=False).to_dict("records")


def summary_lines(summary: Mapping) -> list[str]:
    """The findings of an :func:`explain_run` summary, one line each (the class explained
    of a classifier, IG completeness and planted-position AUROCs, JASPAR matches,
    TF-MoDISco patterns and the planted motifs found, knockout tests)."""
    lines = []
    cls = summary.get("target_class")
    if cls:
        name = f" ({cls['name']})" if cls.get("name") else ""
        lines.append(f"explained: the probability of class {cls['id']}{name} of "
                     f"{cls['n_classes']} classes (--target-class to change)")
    ig = summary.get("ig")
    if ig:
        lines.append(f"IG: {ig['n_examples']} examples, max relative residual "
                     f"{ig['max_relative_residual']:.2e}, steps {ig['steps_used']}")
        if ig.get("planted_auroc"):
            lines.append("planted-position AUROC of |attribution|: " + ", ".join(
                f"{t} {v:.3f}" for t, v in ig["planted_auroc"].items()))
    mo = summary.get("motifs")
    if mo:
        lines.append(f"filters: {mo['n_matched']} of {mo['n_filters']} match JASPAR at "
                     f"q <= {mo['q_threshold']}")
    md = summary.get("modisco")
    if md:
        lines.append(f"TF-MoDISco: {md['n_patterns']} patterns from {md['n_sequences']} "
                     f"sequences, {md['n_matched']} match JASPAR at q <= "
                     f"{summary['settings']['q_threshold']} ("
                     + ", ".join(f"{k} {v:g} s" for k, v in md["seconds"].items()) + ")")
        for source, names in md.get("planted", {}).items():
            lines.append(f"planted motifs found by {source}: {len(names)} of "
                         f"{md['n_planted']} ({', '.join(names)})")
        if "planted_attributed" in md:
            names = md["planted_attributed"]
            lines.append(f"planted motifs whose sites carry the model's attribution (>= "
                         f"{md['attributed_sd']:g} sd of position-matched random windows): "
                         f"{len(names)} of {md['n_planted']} ({', '.join(names)})")
        for key, lenient in md.items():
            if key.startswith("planted_top"):
                names = lenient["union"]
                lines.append(f"planted motifs among the {key.removeprefix('planted_top')} "
                             f"best matches of a query: {len(names)} of {md['n_planted']} "
                             f"({', '.join(names)})")
    ko = summary.get("knockout")
    if ko:
        for r in ko.get("rows", []):
            lines.append(f"knockout {r['name']}: filters {r['filters']} rank-sum p = "
                         f"{r['ranksum_p']:.2g}, {r['targets_in_top_k']}/{r['top_k']} top genes "
                         "are targets")
        for name in ko.get("unmatched", []):
            lines.append(f"knockout {name}: no filter matches its motif at q <= "
                         f"{summary['settings']['q_threshold']}; nothing knocked out")
    return lines
