"""``kerasgene explain | ablate | variants | impute``: interpretation and uses of trained
runs.

Each handler turns its arguments into one library call:
:func:`kerasgene.explain.run.explain_run` (with the
:class:`~kerasgene.explain.options.ExplainOptions` of the run config's ``explain:`` section
and the flags given), :func:`kerasgene.explain.ablation.run_ablation`,
:func:`kerasgene.explain.run_variants.variants_of_run` and
:func:`kerasgene.explain.impute.impute_track`. ``explain``, ``variants`` and ``impute``
name the run with ``--run RUN_DIR`` or ``--config FILE`` (:mod:`kerasgene.cli._common`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kerasgene.cli._common import (
    add_config_arguments,
    add_run_arguments,
    check_run_location,
    run_config,
)
from kerasgene.explain.modisco import ATTRIBUTIONS, SUMMARIES
from kerasgene.explain.options import ANALYSES, OPTION_SPECS, ExplainOptions

#: The defaults shown in ``--help``.
DEFAULTS = ExplainOptions()


def register(sub) -> None:
    """Add ``explain``, ``ablate``, ``variants`` and ``impute``."""
    _register_explain(sub)
    p = sub.add_parser(
        "ablate", help="retrain iSEGnet on subsets of its inputs (Fig. 4A): ablation.tsv/.png",
        description="Retrain the config's iSEGnet model on each input subset (all inputs, "
        "sequence only, the marks without the sequence, each mark alone) in OUT/<subset>/ "
        "and write OUT/ablation.tsv and ablation.png (kerasgene.explain.ablation).")
    add_config_arguments(p, "YAML run config (an iSEGnet one)")
    p.add_argument("--subsets", help='comma-separated subset names, e.g. "all,sequence only,'
                   'DNase only" (default: all inputs, sequence only, epigenome only and '
                   "each track alone)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/ablation)")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser(
        "variants", help="variant effects of a VCF (+ in silico mutagenesis) for a trained run",
        description="Reference vs alternative predictions of every variant of a VCF in every "
        "gene window of the run's dataset (kerasgene.explain.run_variants).")
    add_run_arguments(p)
    p.add_argument("--vcf", required=True, help="VCF 4.x file (plain or bgzip) or BCF")
    p.add_argument("--out", help="output TSV (default: RUN_DIR/variants/<vcf name>.tsv; "
                   "refused when another VCF of that name made it)")
    p.add_argument("--ism", metavar="GENE", help="gene id for saturation mutagenesis")
    p.add_argument("--context", help="sample / cell type of --ism (default: the gene's first)")
    p.add_argument("--conditions", type=_names, help="DeepRAGE: comma-separated condition "
                   "names to average over (default: all)")
    p.add_argument("--batch-size", type=int, default=512, help="model rows per call")
    p.add_argument("--exclude-filtered", action="store_true",
                   help="leave out records whose FILTER is neither PASS nor '.' (default: "
                   "scored, FILTER in the table's filter column)")
    p.set_defaults(func=cmd_variants)

    p = sub.add_parser(
        "impute", help="a chromatin run's imputed track (bigWig) from a sample's GRO-/PRO-seq",
        description="Bin the signal files as the run's training data were, predict every bin "
        "(or one in --stride) with the run's model and write a bigWig of the predicted mark, "
        "with a JSON record of what made it beside it (kerasgene.explain.impute).")
    add_run_arguments(p)
    p.add_argument("--signal", action="append", required=True, metavar="NAME=FILE",
                   help="one signal channel's file, named as the run's channels (repeat: "
                   "--signal plus=gro_plus.bw --signal minus=gro_minus.bw); bigWig, bigBed "
                   "or bedGraph")
    p.add_argument("--out", required=True, metavar="BIGWIG",
                   help="imputed track; its record is written beside it as .json")
    p.add_argument("--chroms", type=_names, help="comma-separated chromosomes to impute "
                   "(default: every chromosome of the signal files)")
    p.add_argument("--stride", type=int, default=1, help="predict the middle bin of every N, "
                   "its value covering the N bins (default: every bin)")
    p.add_argument("--chrom-aliases", metavar="TABLE", help="chromosome alias table (UCSC "
                   "chromAlias.txt or a user table) relating the files' names")
    p.add_argument("--observed", metavar="FILE", help="a measured track of the run's target "
                   "in the same sample: scores the imputation (Pearson r, Spearman, R²)")
    p.add_argument("--batch-size", type=int, default=512, help="windows per model call")
    p.set_defaults(func=cmd_impute)


def _register_explain(sub) -> None:
    p = sub.add_parser(
        "explain", help="interpretation of a trained run: IG, motifs, TF-MoDISco, knockouts, "
        "saliency",
        description="The papers' interpretation tables and figures for a trained run, "
        "written to RUN_DIR/explain (kerasgene.explain.run). Every option may also be set "
        "in the run config's explain: section (same names, e.g. max_examples); a flag "
        "overrides it.")
    add_run_arguments(p)
    p.add_argument("--out", help="output directory (default: RUN_DIR/explain)")
    p.add_argument("--analyses", type=_names, help=f"comma-separated subset of "
                   f"{','.join(ANALYSES)} (default: the system's analyses)")
    _option(p, "--split", help="examples to explain (train|valid|test|all)")
    _option(p, "--max-examples", type=int,
            help="explain at most this many examples with IG, 10 times as many with "
            "saliency, sampled with --seed")
    _option(p, "--seed", type=int)
    _option(p, "--target-class", metavar="ID|NAME",
            help="a classifier (class probabilities): the class whose probability IG, "
            "saliency, knockouts and TF-MoDISco explain, as an id or a name of the dataset's "
            "classes (default: the last class: binary, the positive one; refused for a "
            "regression or a score, whose value is explained)")
    g = p.add_argument_group("integrated gradients")
    _option(g, "--engine", choices=["native", "alibi"])
    _option(g, "--n-steps", type=_steps, help="quadrature nodes, or 'auto'")
    _option(g, "--method", help="gausslegendre | riemann_{left,right,middle,trapezoid}")
    _option(g, "--baseline", type=parse_baseline, help="zeros | ones | uniform (DNA input "
            "only), or per input: sequence=uniform,epigenome=zeros")
    _option(g, "--batch-size", type=int, help="path points per pass")
    _option(g, "--gene-plots", type=int,
            help="per-gene attribution figures for the top-predicted genes")
    _option(g, "--flank", type=int, help="bp around top/differential sites")
    _option(g, "--compare", help="second run directory for differential attribution")
    _option(g, "--labels", type=_labels, help="names of the two runs (differential)")
    _option(g, "--top-fraction", type=float,
            help="differential sites: top fraction of |difference|")
    g = p.add_argument_group("motifs and knockouts")
    _option(g, "--top-n", type=int, help="sequences per filter PWM")
    _option(g, "--jaspar-release")
    _option(g, "--tax-group", help="JASPAR taxon: fungi | vertebrates | ... (default: fungi "
            "for deeprage, vertebrates otherwise)")
    _option(g, "--motif-db", help="MEME-format motif file (plain or gzip: HOCOMOCO, CIS-BP, "
            "JASPAR's MEME download, ...) to match instead of pyjaspar's JASPAR")
    _option(g, "--q-threshold", type=float,
            help="Tomtom q-value for a filter to count as matched (paper: 0.1)")
    _option(g, "--trim-ic", type=float,
            help="trim filter PWM flanks below this many bits before Tomtom")
    _option(g, "--logos", type=int, help="logo figures for the best filters")
    _option(g, "--truth", help="truth.json of simulated data: DeepRAGE regulators and "
            "targets (knockouts), iSEGnet planted positions (IG AUROC)")
    _option(g, "--targets", help="file of target gene ids (one per line) for a knockout")
    _option(g, "--target-motif", help="motif id (a JASPAR ID, or a MOTIF id of --motif-db) "
            "whose matching filters --targets knocks out")
    _option(g, "--filters", type=_filters, help="comma-separated filter indices to knock out")
    _option(g, "--top-k", type=int, help="Fisher test on the top-k genes")
    _option(g, "--max-conditions", type=int,
            help="conditions per gene for DeepRAGE knockouts (sampled with --seed)")
    g = p.add_argument_group("TF-MoDISco (--analyses modisco)")
    _option(g, "--modisco-attribution", choices=list(ATTRIBUTIONS),
            help="hypothetical contributions: mean-normalised gradients (saliency) or IG "
            "multipliers from the uniform sequence (ig, --n-steps)")
    _option(g, "--modisco-summary", choices=list(SUMMARIES),
            help="DeepRAGE: a gene's predictions over all conditions as their mean or "
            "spread (half the variance)")
    _option(g, "--modisco-split", help="examples to discover motifs in, one per gene")
    _option(g, "--modisco-max-examples", type=int, help="at most this many sequences")
    _option(g, "--modisco-max-seqlets", type=int, help="seqlets per metacluster")
    p.set_defaults(func=cmd_explain)


def _option(p, flag: str, help: str = "", **kw) -> None:
    """An option of :class:`ExplainOptions`: unset (None) unless given, so that the run
    config's ``explain:`` section applies; ``--help`` shows the built-in default."""
    default = getattr(DEFAULTS, flag[2:].replace("-", "_"))
    shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
    text = " ".join(filter(None, [help, f"(default: {shown})" if default is not None else ""]))
    p.add_argument(flag, default=None, help=text or None, **kw)


# ----------------------------------------------------------------------------- values
def _names(text: str) -> tuple[str, ...]:
    """``"a, b,"`` → ``("a", "b")``."""
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _steps(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def _labels(text: str) -> tuple[str, str]:
    """``"tumour,normal"``: the names of the run and of ``--compare``."""
    names = [n.strip() for n in text.split(",")]
    if len(names) != 2 or not all(names):
        raise argparse.ArgumentTypeError(f"expected two comma-separated names (the run's, "
                                         f"then --compare's), got {text!r}")
    return names[0], names[1]


def _filters(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(f) for f in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from None


def parse_baseline(text: str) -> str | float | dict[str, str | float]:
    """``--baseline`` text → a baseline spec: ``"zeros"``, ``"0.5"`` → 0.5,
    ``"sequence=uniform,epigenome=0"`` → ``{"sequence": "uniform", "epigenome": 0.0}``."""
    def value(v: str) -> str | float:
        try:
            return float(v)
        except ValueError:
            return v.strip()

    if "=" not in text:
        return value(text)
    return {k.strip(): value(v) for k, _, v in (part.partition("=") for part in text.split(","))}


# ----------------------------------------------------------------------------- handlers
def cmd_explain(args: argparse.Namespace) -> int:
    from kerasgene.explain.options import explain_options
    from kerasgene.explain.run import explain_dir, explain_run, summary_lines

    run, config = run_config(args)
    flags = {k: getattr(args, k, None) for k in OPTION_SPECS}
    section = config.get("explain")
    options = explain_options(section, flags)
    _check_used(options, config, [k for k, v in flags.items() if v is not None],
                [k for k in section or {} if flags.get(k) is None])
    summary = explain_run(run, config, options, out=args.out)
    for line in summary_lines(summary):
        print(line)
    print(f"wrote {explain_dir(run, args.out)}")
    return 0


def _check_used(options, config, flags: list[str], section: list[str]) -> None:
    """A flag that none of the analyses to run reads (or that sets how conditions are
    read, on a run without conditions) is an error, an ``explain:`` key of the run config
    a warning (the section may hold settings for other analyses)."""
    import logging

    from kerasgene import systems
    from kerasgene.errors import ConfigError
    from kerasgene.explain.options import (
        JASPAR_OPTIONS,
        requested_analyses,
        unused_options,
        without_conditions,
    )

    system = systems.get(config["system"], "system").name
    analyses = requested_analyses(options, system)
    for name in unused_options(flags, options, analyses, system):
        raise ConfigError(_unused_message(name, analyses, system, options.motif_db))
    unused = unused_options(section, options, analyses, system)
    if unused:
        logging.getLogger(__name__).warning(
            "explain: %s of the run config not read by the analyses to run (%s)%s",
            ", ".join(f"explain.{k}" for k in unused), ",".join(analyses),
            "".join(f"; {k}: the {system} run has no conditions" for k in unused
                    if without_conditions(k, system))
            + ("; the motifs come from motif_db" if options.motif_db
               and set(unused) & set(JASPAR_OPTIONS) else ""))


def _unused_message(name: str, analyses: tuple[str, ...], system: str,
                    motif_db: str | None = None) -> str:
    """Why flag ``name`` is refused: the run has no conditions for it to read, the motifs
    come from ``motif_db`` rather than JASPAR, or none of ``analyses`` reads it."""
    from kerasgene.explain.options import (
        CONDITION_OPTIONS,
        JASPAR_OPTIONS,
        USED_BY,
        without_conditions,
    )

    flag = "--" + name.replace("_", "-")
    if name in JASPAR_OPTIONS and motif_db:
        return (f"{flag}: chooses JASPAR's matrices, but the motifs come from --motif-db "
                f"{motif_db}; expected one of the two")
    if without_conditions(name, system):
        return (f"{flag}: the {system} run has no conditions {CONDITION_OPTIONS[name]} (only "
                "DeepRAGE pair models predict per condition); expected it only on a DeepRAGE "
                "run")
    users = ", ".join(USED_BY[name]) + (" (with --modisco-attribution ig)"
                                        if name == "n_steps" else "")
    return (f"{flag}: not read by the analyses to run ({','.join(analyses)}); it applies to "
            f"{users} (--analyses)")


def cmd_ablate(args: argparse.Namespace) -> int:
    from kerasgene.config import load_config
    from kerasgene.explain.ablation import ablation_dir, run_ablation

    config = load_config(args.config, args.overrides)
    check_run_location(args.config, config, args.overrides,
                       f"run_dir={Path(args.config).parent} to ablate that run")
    out = ablation_dir(config, args.out)
    rows = run_ablation(config, None if args.subsets is None else _names(args.subsets), out)
    width = max(len(r["inputs"]) for r in rows)
    print(f"{'inputs':<{width}}  {'test R²':>8}  {'Pearson r':>9}")
    for r in rows:
        print(f"{r['inputs']:<{width}}  {r['r2']:>8.3f}  {r['pearson']:>9.3f}")
    print(f"wrote {out / 'ablation.tsv'} and {out / 'ablation.png'}")
    return 0


def cmd_variants(args: argparse.Namespace) -> int:
    from kerasgene import systems
    from kerasgene.errors import ConfigError
    from kerasgene.explain.run_variants import variants_of_run
    from kerasgene.explain.variants import STATUSES

    if args.context is not None and args.ism is None:
        raise ConfigError("--context: picks the sample of --ism; expected --ism GENE with it "
                          "(the variant table has a row for every context)")
    run, config = run_config(args)
    if args.conditions is not None:
        system = systems.get(config["system"], "system").name
        if system != "deeprage":
            raise ConfigError(f"--conditions: the {system} run has no conditions; expected it "
                              "only on a DeepRAGE run")
        if not args.conditions:
            raise ConfigError("--conditions: no condition name given; expected "
                              "comma-separated names (or no --conditions for all)")
    res = variants_of_run(run, config, args.vcf, out=args.out, ism=args.ism,
                          context=args.context, conditions=args.conditions,
                          batch_size=args.batch_size, exclude_filtered=args.exclude_filtered)
    listed = res.table.drop_duplicates(["chrom", "pos", "ref", "alt"])
    counts = listed["status"].value_counts()
    unplaced = ("unknown_chrom", "past_chrom_end")
    inside = int((~listed["status"].isin(unplaced)).sum())
    excluded = f" ({res.n_excluded} failing a VCF filter left out)" if res.n_excluded else ""
    repeats = res.n_variants - res.n_excluded - res.n_distinct
    repeated = f" ({repeats} repeat an earlier record: counted once)" if repeats else ""
    dropped = (f"; {res.n_at_dropped_genes} in windows of genes the dataset left out (no row "
               "for those genes)" if res.n_at_dropped_genes else "")
    print(f"{res.n_variants} variants{excluded}{repeated}: {inside} in gene windows (" +
          ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES if s not in unplaced) +
          "), " + ", ".join(f"{counts.get(s, 0)} {s}" for s in unplaced) +
          f", {res.n_outside} outside every gene window (no row){dropped}; "
          f"{len(res.table)} rows")
    for path in res.paths:
        print(f"wrote {path}")
    return 0


def cmd_impute(args: argparse.Namespace) -> int:
    from kerasgene.errors import ConfigError
    from kerasgene.explain.impute import impute_track, record_path

    ignored = [o for o in args.overrides if args.run is not None or not o.startswith("run_dir=")]
    if ignored:
        raise ConfigError(f"impute: {' '.join(ignored)}: the run's own settings "
                          "(preprocessing.json) bin the signal; expected no KEY=VALUE "
                          "overrides (but run_dir= with --config)")
    run, _ = run_config(args)
    res = impute_track(run, _signal_files(args.signal), args.out, chroms=args.chroms,
                       stride=args.stride, chrom_aliases=args.chrom_aliases,
                       observed=args.observed, batch_size=args.batch_size)
    chroms = res["chroms"]
    every = f", one bin in {res['stride']}" if res["stride"] > 1 else ""
    print(f"imputed {res['values']}: {sum(c['predicted'] for c in chroms.values()):,} bins of "
          f"{res['bin_size']} bp on {len(chroms)} chromosome{'s' * (len(chroms) > 1)}{every}")
    if "scores" in res:
        s = res["scores"]
        held = "; in-sample: " + ", ".join(f"{k} {', '.join(v)}" for k, v in
                                           res["in_sample"].items()) if res["in_sample"] else ""
        print(f"against {res['observed']}: Pearson r {s['pearson']:.3f}, Spearman "
              f"{s['spearman']:.3f}, R² {s['r2']:.3f} (n = {s['n']:,}){held}")
        nz = res.get("nonzero_scores")
        if nz and nz["n_zero"]:
            print(f"  over its {nz['n']:,} bins that are not 0 (what the masked loss trained "
                  f"on; {nz['n_zero']:,} are 0): Pearson r {nz['pearson']:.3f}, R² "
                  f"{nz['r2']:.3f}")
    print(f"wrote {args.out} and {record_path(args.out)}")
    return 0


def _signal_files(values: list[str]) -> dict[str, str]:
    """``["plus=a.bw", "minus=b.bw"]`` → ``{"plus": "a.bw", "minus": "b.bw"}``."""
    from kerasgene.errors import ConfigError

    out: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"--signal {value}: expected NAME=FILE (a channel name of the "
                              "run, then its file)")
        if name.strip() in out:
            raise ConfigError(f"--signal: channel {name.strip()!r} given twice")
        out[name.strip()] = path.strip()
    return out
