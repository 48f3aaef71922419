"""The analyses of ``kerasgene explain`` that read a model's DNA input (each takes
``(model, dataset, out, options, rng)`` like those of :mod:`kerasgene.explain.analyses`):

- :func:`explain_filters` (``motifs``): first-layer filter PWMs matched to JASPAR;
- :func:`explain_knockout` (``knockout``): DeepRAGE filter knockouts of regulators'
  targets;
- :func:`explain_modisco` (``modisco``): TF-MoDISco patterns of the hypothetical
  contributions matched to JASPAR, their logos and an HTML report.

The files each writes are listed in :mod:`kerasgene.explain.run`.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kerasgene import systems
from kerasgene._io import safe_name, write_tsv
from kerasgene.errors import ConfigError, InputFileError, shown
from kerasgene.explain.analyses import (
    explained_class,
    model_inputs,
    motif_database,
    prediction_label,
    sample_indices,
    truth_section,
)

if TYPE_CHECKING:
    from kerasgene.explain.options import ExplainOptions

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# filters (both systems) and knockouts (DeepRAGE)
# --------------------------------------------------------------------------------------


def _gene_sequences(dataset) -> np.ndarray:
    seq = dataset.arrays.get("sequence")
    if seq is None:
        raise ConfigError("this dataset has no 'sequence' array for filter motifs")
    return seq  # one row per gene in the iSEGnet and DeepRAGE datasets


def explain_filters(model, dataset, out: Path, options: ExplainOptions,
                    system: str = "isegnet") -> dict:
    """Filter PWMs → Tomtom table against the motif database (:func:`motif_database`; the
    best match per filter), MEME file and logos; the JASPAR taxon is
    ``options.tax_group`` or the ``system``'s. The summary's
    ``_rows`` hold each filter's three best matches (``rank`` 1–3)."""
    from kerasgene.explain import motifs as M
    from kerasgene.explain import plots as P

    fp = M.filter_pwms(model, _gene_sequences(dataset), top_n=options.top_n)
    motifs, source = motif_database(options, systems.get(system).jaspar_tax_group)
    from kerasgene.explain.modisco import N_MATCHES

    ranked = M.filter_matches(fp, motifs, trim_ic=options.trim_ic, n_best=N_MATCHES)
    rows = [r for r in ranked if r["rank"] == 1]
    write_tsv(out / "filter_matches.tsv", rows)
    M.write_meme(out / "filters.meme", fp.as_dict(),
                 nsites=dict(zip(fp.names(), fp.n_sites.tolist())))
    by_id = {m.matrix_id: m for m in motifs}
    matched = [r for r in rows if r["target_id"] and r["q_value"] <= options.q_threshold]
    (out / "logos").mkdir(exist_ok=True)
    for r in sorted(matched, key=lambda r: r["p_value"])[: options.logos]:
        k = int(r["query"].removeprefix("filter"))
        m = by_id[r["target_id"]]
        P.plot_filter_match(fp.pwms[k][r["start"]:r["end"]], m.probabilities(),
                            out / "logos" / f"{r['query']}_{safe_name(m.name)}.png",
                            filter_name=f"{fp.layer} {r['query']}", n_sites=r["n_sites"],
                            match_id=m.matrix_id, match_name=m.name, p_value=r["p_value"],
                            q_value=r["q_value"], strand=r["strand"])
    return {"layer": fp.layer, "n_filters": len(fp.pwms), "n_matched": len(matched),
            "q_threshold": options.q_threshold, "motif_db": source,
            "matches": {r["query"]: f"{r['target_id']} {r['target_name']}" for r in matched},
            "_rows": ranked}


def dataset_gene_ids(dataset) -> np.ndarray:
    """The genes of a run's dataset, each once: a pair dataset's ``gene_ids`` (DeepRAGE),
    else the ``gene_id`` column of its index."""
    return np.asarray(dataset.gene_ids if hasattr(dataset, "gene_ids")
                      else dataset.index["gene_id"].unique(), dtype=str)


def read_targets(path, gene_ids) -> tuple[list[str], list[str]]:
    """The genes of ``gene_ids`` that a ``--targets`` file lists, and warnings about the
    rest.

    The file (plain or gzip) holds one gene id per line, its first field (blank lines
    and ``#`` comments skipped; CRLF reads as LF). An id is matched exactly, else both
    without their version suffix where that stem names one gene (``ENSG….5`` ↔ ``ENSG…``;
    :func:`kerasgene.io.annotation.gene_id_candidates`).

    Returns
    -------
    targets : the matched genes of ``gene_ids``, each once, in the file's order
    notes : one warning each (counted, the first few named) for the ids listed more than
        once, those matched without their version, and those not genes of the dataset (a
        header line, ids of another naming), which are left out

    Raises
    ------
    InputFileError
        naming the file: no id in it, none a gene of the dataset (its first ids and the
        dataset's are shown: gene names are not translated to ids), or every gene a
        target (the knockout test compares the targets with the other genes).
    """
    from kerasgene._io import text_lines
    from kerasgene.errors import shown
    from kerasgene.io.annotation import gene_id_candidates, gene_stem_index

    listed = Counter(line.split()[0] for _, line in text_lines(path, "target gene list")
                     if line.strip() and not line.lstrip().startswith("#"))
    if not listed:
        raise InputFileError(f"{path}: no gene id; expected target gene ids, one per line")
    ids = [str(g) for g in gene_ids]
    known, by_stem = set(ids), gene_stem_index(ids)
    candidates = {w: gene_id_candidates(w, known, by_stem) for w in listed}
    found = {w: c[0] if len(c) == 1 else None for w, c in candidates.items()}
    targets = list(dict.fromkeys(g for g in found.values() if g is not None))
    missing = [w for w, g in found.items() if g is None]
    if not targets:
        raise InputFileError(f"{path}: none of its {len(listed)} ids is a gene of the run's "
                             f"dataset (file: {shown(missing, 3)}; dataset: {shown(ids, 3)}); "
                             "expected the dataset's gene ids (names are not translated)")
    if len(targets) == len(known):
        raise InputFileError(f"{path}: lists all {len(known)} genes of the run's dataset; "
                             "expected a subset (the knockout compares the targets with the "
                             "other genes)")
    twice = [w for w, n in listed.items() if n > 1]
    unversioned = [f"{w} as {g}" for w, g in found.items() if g is not None and g != w]
    notes = [f"{path}: {what}: {shown(items)}" for what, items in (
        (f"{len(twice)} id(s) listed more than once, counted once", twice),
        (f"{len(unversioned)} id(s) matched without the version suffix", unversioned),
        (f"{len(missing)} of {len(listed)} ids not genes of the run's dataset, left out",
         missing)) if items]
    return targets, notes


def target_genes(path, gene_ids) -> list[str]:
    """The genes of ``gene_ids`` that the ``--targets`` file ``path`` lists
    (:func:`read_targets`), its warnings logged."""
    targets, notes = read_targets(path, gene_ids)
    for note in notes:
        log.warning("knockout: %s", note)
    return targets


def check_target_motif(target: str, motifs, source: str) -> None:
    """Raise ConfigError unless ``target`` is the id of one of ``motifs`` (its JASPAR
    version aside, as the knockout matches it:
    :func:`kerasgene.explain.motifs.motif_recovery`).

    The message names, when there are some, the motifs whose id (in any case, any version)
    or name is ``target`` (``MIG1`` → ``MA0337.2``; ``MEME-1`` → that motif's id, not
    ``MEME-10``'s: names are compared whole); else up to five whose id or name is close
    to it (:func:`difflib.get_close_matches`, ratio ≥ 0.8, any case: ``MIG`` → the MIG1,
    MIG2 and MIG3 matrices).

    Parameters
    ----------
    target : the ``--target-motif`` value (stripped and not blank, as
        :mod:`kerasgene.explain.options` holds it)
    motifs : the database's motifs (``matrix_id`` and ``name`` of each), e.g.
        :func:`kerasgene.explain.analyses.motif_database`'s
    source : the database, as the message names it (``JASPAR2026 fungi``, a file)
    """
    from kerasgene.explain.motifs import matrix_base

    if matrix_base(target) in {matrix_base(m.matrix_id) for m in motifs}:
        return
    raise ConfigError(f"--target-motif: {target!r} is not a motif of {source} ({len(motifs)} "
                      f"motifs{_motif_hint(target, motifs)}); expected one of its motif ids")


def _motif_hint(target: str, motifs) -> str:
    """``"; those naming it: IDS"`` or ``"; the closest: ID (NAME), ..."`` or ``""``: see
    :func:`check_target_motif`."""
    from kerasgene.explain.motifs import matrix_base

    def base(matrix_id: str) -> str:  # any case, any version
        return matrix_base(matrix_id.upper()).casefold()

    wanted = target.casefold()
    naming = [m.matrix_id for m in motifs
              if base(m.matrix_id) == base(target) or m.name.casefold() == wanted]
    if naming:
        return f"; those naming it: {shown(naming)}"
    called: dict[str, list] = {}
    for m in motifs:
        for word in {m.matrix_id.casefold(), m.name.casefold()}:
            called.setdefault(word, []).append(m)
    close = dict.fromkeys(m.matrix_id if m.name == m.matrix_id else f"{m.matrix_id} ({m.name})"
                          for word in difflib.get_close_matches(wanted, called, n=5, cutoff=0.8)
                          for m in called[word])
    return f"; the closest: {shown(close)}" if close else ""


def knockout_sets(options: ExplainOptions, rows: list[dict], gene_ids,
                  targets: list[str] | None = None) -> list[dict]:
    """``[{name, motif, targets, filters}]`` from ``options.truth`` (every planted
    regulator) and ``options.targets`` (with ``filters`` or ``target_motif``): its genes
    ``targets`` as :func:`target_genes` read them (read here when None, its ids matched to
    ``gene_ids``); ``rows`` are the filter matches (:func:`explain_filters`)."""
    from kerasgene.explain.motifs import motif_recovery

    def matching(mid):  # filters whose best match is the motif
        return [int(q.removeprefix("filter")) for q in
                motif_recovery(rows, [mid], q_threshold=options.q_threshold)[mid]]

    sets = []
    if options.truth:
        regs = truth_section(options.truth, "deeprage").get("regulators", [])
        if not regs:
            raise InputFileError(f"{options.truth}: no tasks.deeprage.regulators")
        for r in regs:  # the matrix the simulator planted (MSN4's sites are MSN2's STRE)
            motif = r.get("called_with", r["jaspar_id"])
            sets.append({"name": r.get("tf", r["jaspar_id"]), "motif": motif,
                         "targets": list(r["target_genes"]), "filters": matching(motif)})
    if options.targets:
        lines = targets if targets is not None else target_genes(options.targets, gene_ids)
        if options.filters:
            filters = [int(f) for f in options.filters]
        elif options.target_motif:
            filters = matching(options.target_motif)
        else:
            raise ConfigError("targets (--targets) needs filters (--filters) or target_motif "
                              "(--target-motif)")
        sets.append({"name": options.target_motif or Path(options.targets).stem,
                     "motif": options.target_motif or "", "targets": lines, "filters": filters})
    return sets


def _knockout_predictor(model, dataset, seqs, max_conditions: int, rng, unit: int):
    """``(predict, gene ids, gene row per example)``: ``predict()`` is the model's current
    prediction (its output unit ``unit``: a classifier's explained class, as
    :func:`kerasgene.explain.knockout.knockout_effects`) for every gene × up to
    ``max_conditions`` sampled conditions (DeepRAGE; gene-major, through the factorised
    pair outputs traced once: :func:`kerasgene.train.block_trainer.pair_outputs`), or for
    every gene once."""
    from kerasgene.explain import knockout as K

    gene_ids = dataset_gene_ids(dataset)
    regs = dataset.arrays.get("regulators")
    n_genes = len(gene_ids)
    if regs is None:
        inputs = model_inputs(model, {"sequence": seqs})
        return ((lambda: K.predict_examples(model, inputs)[:, unit]), gene_ids,
                np.arange(n_genes))
    import tensorflow as tf

    from kerasgene.train.block_trainer import gene_block_outputs, pair_outputs

    conds = np.sort(rng.choice(len(regs), min(max_conditions, len(regs)), replace=False))
    outputs = tf.function(pair_outputs(model), reduce_retracing=True)

    def predict() -> np.ndarray:
        out = gene_block_outputs(outputs, seqs, np.arange(n_genes), regs[conds])
        return (out if out.ndim == 2 else out[..., unit]).reshape(-1)
    return predict, gene_ids, np.repeat(np.arange(n_genes), len(conds))


def _knockout_one(eff: dict, s: dict, out: Path, top_k: int, units: dict) -> dict:
    """Test one set's knockout effects (:func:`kerasgene.explain.knockout.effects`) on its
    targets, write its table and figure (``units``: its y label, where not the
    default)."""
    from kerasgene.explain import knockout as K
    from kerasgene.explain import plots as P

    ge = K.gene_effects(eff)
    test = K.knockout_test(ge["gene"], ge["abs_delta"], s["targets"], top_k=top_k)
    name = safe_name(s["name"])
    is_t = np.isin(ge["gene"], s["targets"])
    write_tsv(out / f"knockout_{name}_genes.tsv", {
        "gene_id": ge["gene"], "is_target": is_t, "wild_type": ge["wild_type"],
        "knockout": ge["knockout"], "delta": ge["delta"], "abs_delta": ge["abs_delta"]})
    P.plot_knockout(ge["abs_delta"], is_t, out / f"knockout_{name}.png",
                    title=f"Knockout of filters {s['filters']} ({s['name']} {s['motif']})",
                    ranksum_p=test.ranksum_p,
                    fisher=(test.targets_in_top_k, test.top_k, test.fisher_p), **units)
    return {"name": s["name"], "motif": s["motif"], "filters": ",".join(map(str, s["filters"])),
            **test.as_dict(), "top_genes": ",".join(map(str, test.top_genes))}


def explain_knockout(model, dataset, out: Path, options: ExplainOptions, rng,
                     filter_rows: list[dict] | None = None,
                     targets: list[str] | None = None) -> dict:
    """Filter knockouts of DeepRAGE: effect per gene averaged over sampled conditions.
    The wild type is predicted once; each set's filters are zeroed in the model itself
    for its prediction (:func:`kerasgene.explain.knockout.filters_zeroed`).
    ``filter_rows``: the filters' JASPAR matches (:func:`explain_filters`' ``_rows``, or
    ``filter_matches.tsv`` of an earlier call read back); computed here when None.
    ``targets``: the genes of ``options.targets`` as
    :func:`kerasgene.explain.run.check_request` read them; read here when None.
    A classifier's effects are on the probability of :func:`explained_class` (named in
    the figures' y label and in the summary's ``target_class``)."""
    from kerasgene.explain import knockout as K
    from kerasgene.explain import motifs as M

    if not (options.truth or options.targets):
        log.warning("knockout: no --truth or --targets given; skipped")
        return {"skipped": "no targets"}
    rows = filter_rows
    if rows is None:
        rows = explain_filters(model, dataset, out, options, "deeprage")["_rows"]
    layer = M.first_conv_layer(model).name
    sets = knockout_sets(options, rows, dataset_gene_ids(dataset), targets)
    cls = explained_class(model, dataset, options)
    predict, gene_ids, gi = _knockout_predictor(model, dataset, _gene_sequences(dataset),
                                                options.max_conditions, rng,
                                                0 if cls is None else cls.id)
    units = {} if cls is None else {"units": f"|Δ {prediction_label(cls)}| (mean over "
                                             "conditions)"}
    wild_type = predict() if any(s["filters"] for s in sets) else None
    table = []
    for s in sets:
        if not s["filters"]:
            table.append({"name": s["name"], "motif": s["motif"], "filters": "",
                          "note": "no filter matches the motif"})
            continue
        with K.filters_zeroed(model, layer, s["filters"]):
            knocked = predict()
        table.append(_knockout_one(K.effects(gene_ids[gi], wild_type, knocked), s, out,
                                   options.top_k, units))
    write_tsv(out / "knockout.tsv", table)
    summary = {"layer": layer, "rows": [r for r in table if "ranksum_p" in r],
               "unmatched": [r["name"] for r in table if "ranksum_p" not in r]}
    if cls is not None:
        summary["target_class"] = cls.as_dict()
    return summary


# --------------------------------------------------------------------------------------
# TF-MoDISco (any model with a sequence input)
# --------------------------------------------------------------------------------------


def modisco_inputs(model, dataset, options: ExplainOptions, rng):
    """``(inputs, conditions, gene ids)`` for :func:`kerasgene.explain.modisco.discover_motifs`.

    A pair dataset (a ``regulators`` array: DeepRAGE) gives every gene's sequence once
    (pairs are split at random, so every gene is in every split) with every condition;
    any other the examples of ``options.modisco_split``, one per gene. At most
    ``options.modisco_max_examples`` sequences, sampled with ``rng``.
    """
    regs = dataset.arrays.get("regulators")
    if regs is not None:
        seqs = _gene_sequences(dataset)
        idx = sample_indices(np.arange(len(seqs)), options.modisco_max_examples, rng)
        ids = np.asarray(dataset.gene_ids, dtype=str)[idx]
        return {"sequence": np.asarray(seqs[idx])}, {"regulators": np.asarray(regs)}, ids
    idx = dataset.split_indices(options.modisco_split)
    if "gene_id" in dataset.index.columns:  # one example per gene (iSEGnet: per biosample)
        genes = dataset.index["gene_id"].to_numpy()[idx]
        idx = idx[np.unique(genes, return_index=True)[1]]
    idx = sample_indices(np.sort(idx), options.modisco_max_examples, rng)
    if not len(idx):
        raise ConfigError(f"split {options.modisco_split!r} has no examples")
    ids = (dataset.index["gene_id"].astype(str).to_numpy()[idx]
           if "gene_id" in dataset.index.columns else idx.astype(str))
    return model_inputs(model, dataset.gather(idx)), None, ids


#: a planted motif counts as attributed by the model when its sites carry at least this
#: many standard deviations of position-matched random windows, either sign (the demo
#: models: 0.8 to 8.5 for the motifs TF-MoDISco or the filters found, 0.03 to 0.22 for
#: iSEGnet's CREB1 and REST and DeepRAGE-TP's MIG1)
ATTRIBUTED_SD = 0.5


def _add_site_scores(recovery: list[dict], summary: dict, found, inputs, ids, section,
                     seed: int) -> None:
    """Each planted motif's site attribution (:func:`kerasgene.explain.truth.planted_site_contributions`
    of TF-MoDISco's contributions) into its ``recovery`` row (``site_effect_sd``,
    ``site_z``, ``attributed``) and ``summary["planted_attributed"]``: which planted motifs
    the model uses at all, hence which a discovery method could find."""
    from kerasgene.explain.truth import planted_site_contributions

    actual = (np.asarray(inputs["sequence"]) * found.contributions).sum(-1)  # (n, L)
    scores = planted_site_contributions(actual, ids, section["motif_instances"],
                                        [r["name"] for r in recovery],
                                        rng=np.random.default_rng(seed))
    outside = {k: v["n_outside"] for k, v in scores.items() if v["n_outside"]}
    if outside:
        log.warning("planted-site attribution: %d sites outside the model's %d positions not "
                    "scored (%s)", sum(outside.values()), actual.shape[1],
                    ", ".join(f"{k} {v}" for k, v in outside.items()))
    for r in recovery:
        got = scores[r["name"]]
        r["site_effect_sd"], r["site_z"] = got["effect_sd"], got["z"]
        r["attributed"] = bool(abs(got["effect_sd"]) >= ATTRIBUTED_SD)
    summary["planted_attributed"] = sorted(r["name"] for r in recovery if r["attributed"])
    summary["attributed_sd"] = ATTRIBUTED_SD


def explain_modisco(model, dataset, out: Path, options: ExplainOptions, rng,
                    system: str = "isegnet", filter_rows: list[dict] | None = None) -> dict:
    """TF-MoDISco patterns matched to JASPAR: ``modisco_patterns.tsv``, ``.meme``,
    ``modisco_results.h5`` (modisco's format), ``modisco_logos/``,
    ``modisco_report.html``; with ``options.truth`` the planted motifs found by the
    patterns and by the filters (``filter_rows``: every Tomtom rank) in
    ``motif_recovery.tsv``: as a query's best match (``planted`` in the summary) and
    among its three best (``planted_top3``; :func:`~kerasgene.explain.modisco.planted_recovery`).
    ``seconds``: wall seconds of the attribution, modisco-lite, Tomtom and the report
    (logos and page)."""
    from kerasgene.explain import modisco as MD
    from kerasgene.explain import motifs as M
    from kerasgene.explain.report_html import write_modisco_report

    inputs, conditions, ids = modisco_inputs(model, dataset, options, rng)
    motifs, source = motif_database(options, systems.get(system).jaspar_tax_group)
    cls = explained_class(model, dataset, options)
    found = MD.discover_motifs(
        model, inputs, conditions=conditions, motifs=motifs,
        target=None if cls is None else cls.id,
        method=options.modisco_attribution, summary=options.modisco_summary,
        n_steps=options.n_steps, batch_size=options.batch_size,
        max_seqlets=options.modisco_max_seqlets)
    import pandas as pd

    write_tsv(out / "modisco_patterns.tsv", pd.DataFrame(found.rows, columns=MD.PATTERN_COLUMNS))
    M.write_meme(out / "modisco_patterns.meme",
                 {p.name: p.ppm[slice(*p.trim())] for p in found.patterns},
                 nsites={p.name: p.n_seqlets for p in found.patterns})
    MD.save_modisco_h5(out / "modisco_results.h5", found.raw)
    summary = {"n_sequences": len(found.contributions), "attribution": options.modisco_attribution,
               "summary": options.modisco_summary if conditions else None,
               "n_patterns": len(found.patterns), "seconds": found.seconds,
               "motif_db": source,
               "patterns": {r["pattern"]: f"{r['target_id']} {r['target_name']} "
                            f"q={r['q_value']:.2g} ({r['n_seqlets']} seqlets)"
                            for r in found.rows},
               "n_matched": sum(bool(r["target_id"]) and r["q_value"] <= options.q_threshold
                                for r in found.rows)}
    if cls is not None:
        summary["target_class"] = cls.as_dict()
    recovery = None
    if options.truth:
        sources = {"modisco": found.matches, **({"filters": filter_rows} if filter_rows else {})}
        section = truth_section(options.truth, systems.get(system).truth_key or system)
        planted = MD.planted_motifs(section)
        recovery = MD.planted_recovery(sources, planted, q_threshold=options.q_threshold)
        if section.get("motif_instances"):
            _add_site_scores(recovery, summary, found, inputs, ids, section, options.seed)
        lenient = MD.planted_recovery(sources, planted, q_threshold=options.q_threshold,
                                      max_rank=MD.N_MATCHES)
        top = f"top{MD.N_MATCHES}"
        for strict, loose in zip(recovery, lenient):
            strict[top] = "; ".join(f"{s}: {loose[s]} (q {loose[f'{s}_q']:.2g})"
                                    for s in sources if loose[s])
            strict[f"recovered_{top}"] = loose["recovered"]
        write_tsv(out / "motif_recovery.tsv", recovery)
        for key, rec in (("planted", recovery), (f"planted_{top}", lenient)):
            summary[key] = {s: sorted(m["name"] for m in rec if m[s]) for s in sources}
            summary[key]["union"] = sorted(m["name"] for m in rec if m["recovered"])
        summary["n_planted"] = len(planted)
    settings = {"run system": system, "attribution": options.modisco_attribution,
                **({} if cls is None else {"explained": prediction_label(cls)}),
                "sequences": summary["n_sequences"], "motifs": summary["motif_db"],
                "seconds": ", ".join(f"{k} {v:g}" for k, v in found.seconds.items())}
    if conditions:
        settings["conditions summarised by"] = (f"{options.modisco_summary} over "
                                                f"{len(conditions['regulators'])} conditions")
    started = time.perf_counter()
    write_modisco_report(out, found.patterns, found.rows, motifs,
                         title=f"TF-MoDISco patterns: {system}", settings=settings,
                         q_threshold=options.q_threshold, recovery=recovery)
    summary["seconds"] = {**found.seconds, "report": round(time.perf_counter() - started, 1)}
    return summary
