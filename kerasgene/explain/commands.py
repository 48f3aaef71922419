"""``kerasgene explain``: the papers' interpretation tables and figures for a trained run.

    kerasgene explain --config configs/isegnet.yaml [--run RUN_DIR] [--out DIR] [KEY=VALUE ...]

reads the model of a complete run (its ``run.json`` completion record; a run killed or
failed during training is refused) and the prepared dataset as that model was trained
on it (``training.inputs`` of the run's record: an ablation run gets its subset of
inputs and tracks; :func:`kerasgene.train.runs.run_dataset`), and writes into
``RUN_DIR/explain/`` (or ``--out``), per task:

- **isegnet** (``ig``, ``motifs``): ``ig_summary.tsv`` (per gene: prediction, F(x) −
  F(baseline), completeness residual, steps), ``ig_profiles.tsv`` + ``ig_track_profiles.png``
  (mean attribution per track, TSS/TTS marked; Fig. 4B–D), ``gene_<id>.png`` (attribution
  beside the observed signal; Fig. 5B/C), ``top_sites_<track>.fa/.bed`` (±50 bp around each
  gene's top site), ``enrichment_<track>.tsv/.png`` (FIMO + Fisher + BH vs random windows),
  and the filter analysis below on the sequence branch. With ``--compare RUN_DIR2``
  (``differential``): ``differential_<track>.tsv/.fa/.bed/.png`` (top 10 % sites).
- **deeprage** (``motifs``, ``knockout``): ``filter_matches.tsv`` (filter, best JASPAR
  match, p, E, q), ``filters.meme``, ``logos/filter<k>.png``; with ``--truth truth.json``
  or ``--targets FILE``: ``knockout.tsv`` (rank-sum and top-k Fisher per regulator),
  ``knockout_<name>.png`` and ``knockout_<name>_genes.tsv``.
- **histone / deepchrome / chromatin** (``saliency``): ``saliency_<group>_<part>.png``
  heatmaps (marks × bins, k-mers × bins) of the mean signed gradient per cell type.
- ``explain.json`` summarises what was run with which settings.

The parser is added by :func:`register`; heavy imports happen inside the command.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerasgene import systems
from kerasgene.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

ANALYSES = ("ig", "motifs", "knockout", "saliency", "differential")


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``explain`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "explain", help="interpretation of a trained run: IG, motifs, knockouts, saliency",
        description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="YAML run config (configs/*.yaml)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--run", help="run directory with model.keras (default: the config's run_dir)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/explain)")
    p.add_argument("--analyses", help=f"comma-separated subset of {','.join(ANALYSES)} "
                   "(default: the system's analyses)")
    p.add_argument("--split", default="test", help="examples to explain (train|valid|test|all)")
    p.add_argument("--max-examples", type=int, default=200,
                   help="explain at most this many examples, sampled with --seed (IG, saliency)")
    p.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("integrated gradients")
    g.add_argument("--engine", choices=["native", "alibi"], default="native")
    g.add_argument("--n-steps", default="200", help="quadrature nodes, or 'auto'")
    g.add_argument("--method", default="gausslegendre",
                   help="gausslegendre | riemann_{left,right,middle,trapezoid}")
    g.add_argument("--baseline", default="zeros",
                   help="zeros | ones | uniform (DNA input only), or per input: "
                        "sequence=uniform,epigenome=zeros")
    g.add_argument("--batch-size", type=int, default=64, help="path points per pass")
    g.add_argument("--gene-plots", type=int, default=3,
                   help="per-gene attribution figures for the top-predicted genes")
    g.add_argument("--flank", type=int, default=50, help="bp around top/differential sites")
    g.add_argument("--compare", help="second run directory for differential attribution")
    g.add_argument("--labels", default="A,B", help="names of the two runs (differential)")
    g.add_argument("--top-fraction", type=float, default=0.1,
                   help="differential sites: top fraction of |difference|")
    g = p.add_argument_group("motifs and knockouts")
    g.add_argument("--top-n", type=int, default=100, help="sequences per filter PWM")
    g.add_argument("--jaspar-release", default="JASPAR2026")
    g.add_argument("--tax-group", help="JASPAR taxon: fungi | vertebrates | ... "
                   "(default: fungi for deeprage, vertebrates otherwise)")
    g.add_argument("--q-threshold", type=float, default=0.1,
                   help="Tomtom q-value for a filter to count as matched (paper: 0.1)")
    g.add_argument("--trim-ic", type=float, default=0.3,
                   help="trim filter PWM flanks below this many bits before Tomtom")
    g.add_argument("--logos", type=int, default=16, help="logo figures for the best filters")
    g.add_argument("--truth", help="truth.json of simulated data: DeepRAGE regulators and "
                   "targets (knockouts), iSEGnet planted positions (IG AUROC)")
    g.add_argument("--targets", help="file of target gene ids (one per line) for a knockout")
    g.add_argument("--target-motif", help="JASPAR ID whose matching filters --targets uses")
    g.add_argument("--filters", help="comma-separated filter indices to knock out")
    g.add_argument("--top-k", type=int, default=5, help="Fisher test on the top-k genes")
    g.add_argument("--max-conditions", type=int, default=8,
                   help="conditions per gene for DeepRAGE knockouts (sampled with --seed)")
    p.set_defaults(func=run_explain_command)
    return p


# --------------------------------------------------------------------------------------
# command
# --------------------------------------------------------------------------------------


def run_explain_command(args: argparse.Namespace) -> int:
    """Entry point of ``kerasgene explain``."""
    from kerasgene.config import load_config
    from kerasgene.train import runs

    config = load_config(args.config, args.overrides)
    system = systems.get(config["system"], "system")
    run = Path(args.run) if args.run else runs.run_dir(config)
    model, record = runs.load_run(run)
    dataset = runs.run_dataset(run, config, record)
    analyses = _sequence_analyses(_analyses(args, system.name), model, bool(args.analyses))
    compare = _compare_model(args, analyses)
    out = Path(args.out) if args.out else run / "explain"
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"system": system.name, "run": str(run), "analyses": list(analyses),
                               "settings": {k: v for k, v in vars(args).items()
                                            if k != "func" and _jsonable(v)}}
    rng = np.random.default_rng(args.seed)
    if "ig" in analyses or "differential" in analyses:
        summary["ig"] = explain_isegnet_ig(model, dataset, out, args, rng, compare=compare)
    if "motifs" in analyses:
        summary["motifs"] = explain_filters(model, dataset, out, args, system)
        summary["motifs"].pop("_rows", None)
    if "knockout" in analyses:
        summary["knockout"] = explain_knockout(model, dataset, out, args, rng)
    if "saliency" in analyses:
        summary["saliency"] = explain_saliency(model, dataset, out, args, rng)
    (out / "explain.json").write_text(json.dumps(summary, indent=2, default=_default) + "\n")
    for line in _report_lines(summary):
        print(line)
    print(f"wrote {out}")
    return 0


def load_run_model(run: Path):
    """The model of a complete run (:func:`kerasgene.train.runs.load_run`), loaded in Keras'
    safe mode."""
    from kerasgene.train.runs import load_run

    return load_run(run)[0]


def _sequence_analyses(analyses: tuple[str, ...], model, explicit: bool) -> tuple[str, ...]:
    """``analyses`` without the filter analyses (``motifs``, ``knockout``) when the model
    reads no DNA (a run trained with ``training.inputs: {sequence: false}``): skipped
    with a warning when they were the task's default, an error when asked for."""
    from kerasgene.explain.attribution import input_names

    needs = [a for a in analyses if a in ("motifs", "knockout")]
    if not needs or "sequence" in input_names(model):
        return analyses
    if explicit:
        raise ConfigError(f"--analyses {','.join(needs)}: the model reads no DNA (inputs "
                          f"{input_names(model)}; training.inputs of the run)")
    log.warning("explain: skipping %s: the model reads no DNA (inputs %s)", ", ".join(needs),
                input_names(model))
    return tuple(a for a in analyses if a not in needs)


def _analyses(args, system: str) -> tuple[str, ...]:
    if not args.analyses:
        base = systems.get(system).explain_analyses or ("saliency",)
        return (*base, "differential") if args.compare else base
    got = tuple(a.strip() for a in args.analyses.split(",") if a.strip())
    bad = [a for a in got if a not in ANALYSES]
    if bad:
        raise ConfigError(f"--analyses: unknown {bad}; expected a subset of {list(ANALYSES)}")
    if "differential" in got and not args.compare:
        raise ConfigError("--analyses differential needs --compare RUN_DIR2")
    return got


def _compare_model(args, analyses):
    if "differential" not in analyses:
        return None
    return load_run_model(Path(args.compare))


def _jsonable(v) -> bool:
    return isinstance(v, str | int | float | bool | type(None) | list)


def _default(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, Path):
        return str(v)
    raise TypeError(type(v).__name__)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or "x"


def _write_tsv(rows: Sequence[Mapping] | Mapping[str, Sequence], path: Path) -> Path:
    import pandas as pd

    df = pd.DataFrame(rows)
    df.to_csv(path, sep="\t", index=False, float_format="%.6g")
    return path


def _sample(idx: np.ndarray, n: int, rng) -> np.ndarray:
    if len(idx) > n:
        idx = np.sort(rng.choice(idx, n, replace=False))
    return idx


def _parse_baseline(text: str):
    if "=" not in text:
        try:
            return float(text)
        except ValueError:
            return text
    out = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        try:
            out[k.strip()] = float(v)
        except ValueError:
            out[k.strip()] = v.strip()
    return out


def _n_steps(text: str):
    return "auto" if str(text) == "auto" else int(text)


def _report_lines(summary: Mapping) -> list[str]:
    lines = []
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
    ko = summary.get("knockout")
    if ko:
        for r in ko.get("rows", []):
            lines.append(f"knockout {r['name']}: filters {r['filters']} rank-sum p = "
                         f"{r['ranksum_p']:.2g}, {r['targets_in_top_k']}/{r['top_k']} top genes "
                         "are targets")
    return lines


# --------------------------------------------------------------------------------------
# iSEGnet: integrated gradients, top sites, enrichment, differential attribution
# --------------------------------------------------------------------------------------


def _genes_from_index(index) -> dict[str, dict]:
    cols = {"chrom", "strand", "tss", "tts"}
    if not cols <= set(index.columns):
        return {}
    out = {}
    for row in index[["gene_id", "chrom", "strand", "tss", "tts"]].itertuples(index=False):
        out[str(row.gene_id)] = {"chrom": row.chrom, "strand": row.strand,
                                 "tss": int(row.tss), "tts": int(row.tts)}
    return out


def _window_layout(params: Mapping) -> tuple[tuple[str, int, int], ...]:
    """The TSS ⊕ TTS window layout of the dataset's ``tss_flank`` and ``tts_flank``
    (default: iSEGnet's [-1000, +500] ⊕ [-500, +500])."""
    from kerasgene.datasets.regions import DEFAULTS, window_layout

    return window_layout(params.get("tss_flank", DEFAULTS["tss_flank"]),
                         params.get("tts_flank", DEFAULTS["tts_flank"]))


def _model_inputs(model, got: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    from kerasgene.explain.attribution import input_names

    names = input_names(model)
    missing = [n for n in names if n not in got]
    if missing:
        raise ConfigError(f"the dataset has no input {missing} that the model takes ({names})")
    return {n: got[n] for n in names}


def explain_isegnet_ig(model, dataset, out: Path, args, rng, compare=None) -> dict:
    """IG tables and figures of an iSEGnet-like run (see the module docstring)."""
    from kerasgene.datasets.regions import ISEGNET_TRACKS
    from kerasgene.explain import plots as P
    from kerasgene.explain.ig import integrated_gradients
    from kerasgene.explain.sites import (
        attribution_tracks,
        top_site_regions,
        track_profiles,
        window_offset,
        write_bed,
        write_fasta,
    )
    from kerasgene.explain.truth import planted_track_aurocs

    idx = _sample(dataset.split_indices(args.split), args.max_examples, rng)
    if not len(idx):
        raise ConfigError(f"split {args.split!r} has no examples")
    got = dataset.gather(idx)
    inputs = _model_inputs(model, got)
    index = dataset.index.iloc[idx].reset_index(drop=True)
    gene_ids = index["gene_id"].astype(str).tolist()
    track_names = {"epigenome": list(dataset.meta.get("track_names") or ISEGNET_TRACKS)}
    layout = _window_layout(dataset.meta.get("params") or {})
    length = next(iter(inputs.values())).shape[1]
    if sum(o2 - o1 for _, o1, o2 in layout) != length:
        layout = (("start", 0, length),)
    kw = dict(baselines=_parse_baseline(args.baseline), n_steps=_n_steps(args.n_steps),
              method=args.method, engine=args.engine, batch_size=args.batch_size)
    res = integrated_gradients(model, inputs, **kw)
    tracks = attribution_tracks(res, track_names=track_names)
    prof = track_profiles(tracks)
    _write_tsv({"gene_id": gene_ids, "sample": index.get("sample", [""] * len(idx)),
                "prediction": res.output_x, "delta": res.delta, "residual": res.residual,
                "relative_residual": res.relative_residual, "n_steps": res.n_steps},
               out / "ig_summary.tsv")
    pos = np.arange(length)
    cols: dict[str, Any] = {"window_index": pos}
    offs = [window_offset(int(i), layout) for i in pos]
    cols["anchor"] = [a for a, _ in offs]
    cols["offset_bp"] = [o for _, o in offs]
    for t, v in prof.items():
        cols[f"{t}_mean"] = v["mean"]
        cols[f"{t}_sem"] = v["sem"]
    _write_tsv(cols, out / "ig_profiles.tsv")
    P.plot_track_profiles(prof, out / "ig_track_profiles.png", layout=layout, n_genes=len(idx),
                          title=f"Mean IG attribution per track ({args.split} genes, "
                                f"{args.baseline} baseline)")
    genes = _genes_from_index(index) if layout[0][0] == "TSS" else {}
    seq = inputs.get("sequence")
    # per-gene tracks for the highest-predicted genes
    signal_names = track_names["epigenome"]
    for i in np.argsort(-res.output_x)[: args.gene_plots]:
        sig = ({t: np.asarray(inputs["epigenome"][i, :, k], np.float64)
                for k, t in enumerate(signal_names)} if "epigenome" in inputs else None)
        P.plot_gene_tracks({t: v[i] for t, v in tracks.items()}, sig,
                           out / f"gene_{_safe(gene_ids[i])}.png", gene=gene_ids[i],
                           layout=layout)
    regions_by_track = {}
    for t, v in tracks.items():
        regs = top_site_regions(v, gene_ids, sequences=seq, genes=genes, track=t,
                                  flank=args.flank, layout=layout)
        write_fasta(regs, out / f"top_sites_{_safe(t)}.fa")
        if genes:
            write_bed(regs, out / f"top_sites_{_safe(t)}.bed")
        regions_by_track[t] = regs
    summary = {"n_examples": len(idx), "engine": res.engine, "method": res.method,
               "max_relative_residual": float(res.relative_residual.max()),
               "steps_used": sorted({int(s) for s in res.n_steps}),
               "tracks": list(tracks)}
    if args.truth:  # simulated data: do planted positions get the attribution?
        summary["planted_auroc"] = planted_track_aurocs(tracks, _truth_task(args.truth, "isegnet"))
    if seq is not None and "motifs" in _analyses(args, "isegnet"):
        summary["enrichment"] = _enrichment(regions_by_track, np.asarray(seq), args, out, rng)
    if compare is not None:
        summary["differential"] = _differential(model, compare, inputs, res, tracks, gene_ids,
                                                genes, seq, track_names, layout, kw, args, out)
    return summary


def _enrichment(regions_by_track, seq, args, out, rng) -> dict:
    from kerasgene.explain import motifs as M
    from kerasgene.explain import plots as P

    motifs = M.jaspar_motifs(args.jaspar_release, args.tax_group or "vertebrates")
    res = {}
    width = 2 * args.flank + 1
    for t, regs in regions_by_track.items():
        fg = [r.sequence for r in regs if r.sequence]
        if not fg:
            continue
        excl = np.zeros(seq.shape[:2], bool)
        for i, r in enumerate(regs):
            excl[i, r.start:r.end] = True
        bg = M.random_windows(seq, 2 * len(fg), width, seed=int(rng.integers(1 << 31)),
                              exclude=excl)
        rows = M.motif_enrichment(fg, bg, motifs)
        _write_tsv(rows, out / f"enrichment_{_safe(t)}.tsv")
        P.plot_enrichment(rows, out / f"enrichment_{_safe(t)}.png",
                          title=f"{t}: motifs in ±{args.flank} bp around each gene's top site "
                                f"vs random windows ({args.jaspar_release})")
        res[t] = [r["name"] for r in rows if r["q_value"] <= 0.05][:10]
    return res


def _differential(model, other, inputs, res_a, tracks_a, gene_ids, genes, seq, track_names,
                  layout, kw, args, out) -> dict:
    from kerasgene.explain import plots as P
    from kerasgene.explain.ig import integrated_gradients
    from kerasgene.explain.sites import (
        attribution_tracks,
        differential_attribution,
        differential_regions,
        write_bed,
        write_fasta,
    )

    labels = ([*args.labels.split(","), "A", "B"])[:2]
    res_b = integrated_gradients(other, _model_inputs(other, inputs), **kw)
    tracks_b = attribution_tracks(res_b, track_names=track_names)
    summary = {}
    for t, a in tracks_a.items():
        if t not in tracks_b:
            continue
        d = differential_attribution(a, tracks_b[t], top_fraction=args.top_fraction)
        regs = differential_regions(d, gene_ids, sequences=seq, genes=genes, track=t,
                                      flank=args.flank, layout=layout)
        base = out / f"differential_{_safe(t)}"
        _write_tsv([{"gene_id": r.gene_id, "start": r.start, "end": r.end, "anchor": r.anchor,
                     "offset_start": r.offset_start, "offset_end": r.offset_end,
                     "max_abs_difference": r.score, "chrom": r.chrom, "gstart": r.gstart,
                     "gend": r.gend, "strand": r.strand} for r in regs], base.with_suffix(".tsv"))
        write_fasta(regs, base.with_suffix(".fa"))
        if genes:
            write_bed(regs, base.with_suffix(".bed"))
        P.plot_differential(a.mean(0), tracks_b[t].mean(0), d.mask.mean(0),
                            base.with_suffix(".png"), labels=tuple(labels), track=t,
                            n_genes=len(gene_ids), layout=layout)
        summary[t] = {"threshold": d.threshold, "n_regions": len(regs)}
    return summary


# --------------------------------------------------------------------------------------
# filters (both tasks) and knockouts (DeepRAGE)
# --------------------------------------------------------------------------------------


def _gene_sequences(dataset) -> np.ndarray:
    seq = dataset.arrays.get("sequence")
    if seq is None:
        raise ConfigError("this dataset has no 'sequence' array for filter motifs")
    return seq  # one row per gene in the iSEGnet and DeepRAGE datasets


def explain_filters(model, dataset, out: Path, args, system: systems.System) -> dict:
    """Filter PWMs → Tomtom vs JASPAR table, MEME file and logos."""
    from kerasgene.explain import motifs as M
    from kerasgene.explain import plots as P

    seqs = _gene_sequences(dataset)
    fp = M.filter_pwms(model, seqs, top_n=args.top_n)
    tax = args.tax_group or system.jaspar_tax_group
    motifs = M.jaspar_motifs(args.jaspar_release, tax)
    rows = M.filter_matches(fp, motifs, trim_ic=args.trim_ic)
    _write_tsv(rows, out / "filter_matches.tsv")
    M.write_meme(out / "filters.meme", fp.as_dict(),
                 nsites=dict(zip(fp.names(), fp.n_sites.tolist())))
    by_id = {m.matrix_id: m for m in motifs}
    matched = [r for r in rows if r["target_id"] and r["q_value"] <= args.q_threshold]
    (out / "logos").mkdir(exist_ok=True)
    for r in sorted(matched, key=lambda r: r["p_value"])[: args.logos]:
        k = int(r["query"].removeprefix("filter"))
        m = by_id[r["target_id"]]
        P.plot_filter_match(fp.pwms[k][r["start"]:r["end"]], m.probabilities(),
                            out / "logos" / f"{r['query']}_{_safe(m.name)}.png",
                            filter_name=f"{fp.layer} {r['query']}", n_sites=r["n_sites"],
                            match_id=m.matrix_id, match_name=m.name, p_value=r["p_value"],
                            q_value=r["q_value"], strand=r["strand"])
    return {"layer": fp.layer, "n_filters": len(fp.pwms), "n_matched": len(matched),
            "q_threshold": args.q_threshold, "jaspar": f"{args.jaspar_release} {tax}",
            "matches": {r["query"]: f"{r['target_id']} {r['target_name']}" for r in matched},
            "_rows": rows}


def _truth_task(path: str, task: str) -> dict:
    """``tasks.<task>`` of a simulator truth.json."""
    try:
        truth = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InputFileError(f"{path}: expected a truth.json written by kerasgene simulate "
                             f"({err})") from None
    section = truth.get("tasks", {}).get(task) if isinstance(truth, dict) else None
    if not isinstance(section, dict):
        raise InputFileError(f"{path}: no tasks.{task} section (not a kerasgene simulate truth.json?)")
    return section


def _knockout_sets(args, rows: list[dict]) -> list[dict]:
    """[{name, motif, targets, filters}] from --truth or --targets/--filters."""
    def base(mid):
        return str(mid).split(".")[0]

    def matching(mid):
        return [int(r["query"].removeprefix("filter")) for r in rows
                if r["target_id"] and base(r["target_id"]) == base(mid)
                and r["q_value"] <= args.q_threshold]

    sets = []
    if args.truth:
        regs = _truth_task(args.truth, "deeprage").get("regulators", [])
        if not regs:
            raise InputFileError(f"{args.truth}: no tasks.deeprage.regulators")
        for r in regs:  # the matrix the simulator planted (MSN4's sites are MSN2's STRE)
            motif = r.get("called_with", r["jaspar_id"])
            sets.append({"name": r.get("tf", r["jaspar_id"]), "motif": motif,
                         "targets": list(r["target_genes"]), "filters": matching(motif)})
    if args.targets:
        lines = Path(args.targets).read_text().split()
        if args.filters:
            filters = [int(f) for f in args.filters.split(",")]
        elif args.target_motif:
            filters = matching(args.target_motif)
        else:
            raise ConfigError("--targets needs --filters or --target-motif")
        sets.append({"name": args.target_motif or Path(args.targets).stem,
                     "motif": args.target_motif or "", "targets": lines, "filters": filters})
    return sets


def explain_knockout(model, dataset, out: Path, args, rng) -> dict:
    """Filter knockouts of DeepRAGE: effect per gene averaged over sampled conditions."""
    from kerasgene.explain import knockout as K
    from kerasgene.explain import motifs as M
    from kerasgene.explain import plots as P

    if not (args.truth or args.targets):
        log.warning("knockout: no --truth or --targets given; skipped")
        return {"skipped": "no targets"}
    rows_path = out / "filter_matches.tsv"
    if rows_path.exists():
        import pandas as pd

        rows = pd.read_csv(rows_path, sep="\t", keep_default_na=False).to_dict("records")
    else:
        rows = explain_filters(model, dataset, out, args, systems.get("deeprage"))["_rows"]
    layer = M.first_conv_layer(model).name
    sets = _knockout_sets(args, rows)
    seqs = _gene_sequences(dataset)
    gene_ids = np.asarray(dataset.gene_ids if hasattr(dataset, "gene_ids")
                          else dataset.index["gene_id"].unique(), dtype=str)
    regs = dataset.arrays.get("regulators")
    G = len(gene_ids)
    if regs is not None:
        conds = np.sort(rng.choice(len(regs), min(args.max_conditions, len(regs)), replace=False))
        gi = np.repeat(np.arange(G), len(conds))
        ci = np.tile(conds, G)
        inputs = {"sequence": _Take(seqs, gi), "regulators": _Take(regs, ci)}
    else:
        gi = np.arange(G)
        inputs = {"sequence": seqs}
    table = []
    for s in sets:
        if not s["filters"]:
            table.append({"name": s["name"], "motif": s["motif"], "filters": "",
                          "note": "no filter matches the motif"})
            continue
        ko = K.zero_filters(model, layer, s["filters"])
        eff = K.knockout_effects(model, _model_inputs(model, inputs), knockout_model=ko,
                                 ids=gene_ids[gi])
        ge = K.gene_effects(eff)
        test = K.knockout_test(ge["gene"], ge["abs_delta"], s["targets"], top_k=args.top_k)
        name = _safe(s["name"])
        is_t = np.isin(ge["gene"], s["targets"])
        _write_tsv({"gene_id": ge["gene"], "is_target": is_t, "wild_type": ge["wild_type"],
                    "knockout": ge["knockout"], "delta": ge["delta"],
                    "abs_delta": ge["abs_delta"]}, out / f"knockout_{name}_genes.tsv")
        P.plot_knockout(ge["abs_delta"], is_t, out / f"knockout_{name}.png",
                        title=f"Knockout of filters {s['filters']} ({s['name']} {s['motif']})",
                        ranksum_p=test.ranksum_p,
                        fisher=(test.targets_in_top_k, test.top_k, test.fisher_p))
        table.append({"name": s["name"], "motif": s["motif"],
                      "filters": ",".join(map(str, s["filters"])), **test.as_dict(),
                      "top_genes": ",".join(map(str, test.top_genes))})
        del ko
    _write_tsv(table, out / "knockout.tsv")
    return {"layer": layer, "rows": [r for r in table if "ranksum_p" in r],
            "unmatched": [r["name"] for r in table if "ranksum_p" not in r]}


class _Take:
    """Lazy ``base[rows]`` with array-like slicing (keeps gene × condition pairs virtual)."""

    def __init__(self, base, rows):
        self.base, self.rows = base, np.asarray(rows)
        self.shape = (len(self.rows), *base.shape[1:])
        self.dtype = base.dtype

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, sl):
        return np.asarray(self.base[self.rows[sl]])


# --------------------------------------------------------------------------------------
# saliency (Team Jamaica)
# --------------------------------------------------------------------------------------


def explain_saliency(model, dataset, out: Path, args, rng) -> dict:
    """Mean signed input gradients per cell type (or sample) as heatmaps."""
    from kerasgene.explain import plots as P
    from kerasgene.explain.attribution import input_names
    from kerasgene.explain.saliency import mean_saliency, saliency

    idx = _sample(dataset.split_indices(args.split), args.max_examples * 10, rng)
    got = dataset.gather(idx)
    inputs = _model_inputs(model, got)
    grads = saliency(model, inputs, batch_size=max(args.batch_size, 128))
    index = dataset.index.iloc[idx]
    col = next((c for c in ("cell", "sample", "condition") if c in index.columns), None)
    groups = index[col].astype(str).to_numpy() if col else np.array(["all"] * len(idx))
    names = dict(zip(input_names(model), grads))
    channel_names = list(dataset.meta.get("channel_names") or [])
    kmers = set(dataset.meta.get("kmers") or [])
    written = []
    for inp, g in names.items():
        if g.ndim != 3:
            continue
        for grp, mean in mean_saliency(g, groups).items():
            mat = mean.T  # (channels, positions)
            labels = (channel_names if len(channel_names) == mat.shape[0]
                      else [f"{inp}[{k}]" for k in range(mat.shape[0])])
            parts = {"marks": [k for k, n in enumerate(labels) if n not in kmers]}
            if kmers:
                parts["kmers"] = [k for k, n in enumerate(labels) if n in kmers]
            for part, rows in parts.items():
                if not rows:
                    continue
                path = out / f"saliency_{_safe(grp)}_{part}.png"
                n = int((groups == grp).sum())
                P.plot_saliency_heatmap(mat[rows], [labels[k] for k in rows], path,
                                        title=f"{grp}: mean signed gradient over {n} genes "
                                              f"({part})",
                                        ylabel="k-mer count" if part == "kmers" else "feature")
                written.append(path.name)
    return {"n_examples": len(idx), "group_by": col or "all", "figures": written}
