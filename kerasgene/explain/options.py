"""The settings of ``kerasgene explain`` (:func:`kerasgene.explain.run.explain_run`).

:class:`ExplainOptions` holds every setting with its default. They come from three places,
later ones winning: the defaults here, the run config's ``explain:`` section (same key
names, checked by :func:`explain_options`: an unknown key or a wrong type is a one-line
:class:`~kerasgene.errors.ConfigError` naming ``explain.<key>``), and the command line's
flags (``--max-examples`` for ``max_examples``)::

    explain:
      analyses: [ig]            # subset of ig, motifs, knockout, saliency, differential,
                                # modisco
      split: test
      max_examples: 50
      n_steps: auto             # or an integer >= 2
      baseline: {sequence: uniform, epigenome: zeros}
      truth: demo_out/data/truth.json
      target_class: 1           # a classifier: the class explained (id, or a class name)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from kerasgene import systems
from kerasgene.config import Spec, check_keys, check_value
from kerasgene.errors import ConfigError
from kerasgene.explain.ig import METHODS
from kerasgene.explain.modisco import ATTRIBUTIONS, SUMMARIES

#: What ``kerasgene explain`` can run.
ANALYSES = ("ig", "motifs", "knockout", "saliency", "differential", "modisco")
#: The example sets ``split`` and ``modisco_split`` may name
#: (:meth:`kerasgene.datasets.Dataset.split_indices`).
SPLITS = ("train", "valid", "test", "none", "all")


@dataclass(frozen=True)
class ExplainOptions:
    """Settings of the interpretation of a trained run.

    Attributes
    ----------
    analyses : subset of :data:`ANALYSES`; None = the system's
        (:attr:`kerasgene.systems.System.explain_analyses`, plus ``differential`` with
        ``compare``)
    split : examples to explain (``train``, ``valid``, ``test``, ``all``)
    max_examples : at most this many examples, sampled with ``seed`` (IG; saliency ×10)
    seed : seed of the sampling of examples, conditions and background windows
    target_class : a model whose output is class probabilities (softmax or sigmoid over
        k >= 2 units): the class whose probability IG, saliency, knockouts and
        TF-MoDISco's attributions explain, as an id or a name of the dataset's
        ``class_names``; None = the last class (binary: the positive class). Refused for a
        one-unit output (a regression or a score, whose value is explained)
        (:func:`kerasgene.explain.attribution.resolve_class`)
    engine, n_steps, method, baseline, batch_size : integrated gradients
        (:func:`kerasgene.explain.ig.integrated_gradients`); ``baseline`` is a name, a
        number, or ``{input name: name or number}``
    gene_plots : per-gene attribution figures for the top-predicted genes
    flank : bp around each top or differential site
    compare : a second run directory for differential attribution
    labels : names of the two runs in the differential figures
    top_fraction : differential sites: the top fraction of |difference|
    top_n : sequences per filter PWM
    jaspar_release, tax_group : the JASPAR motifs (``tax_group`` None = the system's)
    motif_db : a MEME-format motif file (HOCOMOCO, CIS-BP, ...) matched instead of JASPAR
        (:func:`kerasgene.explain.motifs.meme_motifs`); ``jaspar_release`` and
        ``tax_group`` are then not read
    q_threshold : Tomtom q-value for a filter to count as matched (paper: 0.1)
    trim_ic : filter PWM flanks below this many bits are trimmed before Tomtom
    logos : logo figures for the best-matched filters
    truth : ``truth.json`` of simulated data (DeepRAGE regulators and targets, iSEGnet
        planted positions)
    targets : file of target gene ids (one per line) for a knockout
    target_motif : JASPAR ID whose matching filters ``targets`` knocks out
    filters : filter indices to knock out with ``targets``
    top_k : genes ranked by |Δ| in the knockout's Fisher test
    max_conditions : conditions per gene in DeepRAGE knockouts (sampled with ``seed``)
    modisco_attribution : ``saliency`` (mean-normalised gradients) or ``ig`` (IG
        multipliers from the uniform sequence, ``n_steps``); see
        :mod:`kerasgene.explain.modisco`
    modisco_summary : pair models (DeepRAGE): the gene's prediction over every condition
        summarised as their ``mean`` or ``spread`` (½ variance)
    modisco_split : the examples TF-MoDISco reads (one per gene; pair datasets: every
        gene); motif discovery summarises what the model learned, so ``all`` by default
    modisco_max_examples : at most this many sequences (sampled with ``seed``)
    modisco_max_seqlets : seqlets per metacluster (modisco's default 20,000 takes
        minutes per thousand on a few cores)
    """

    analyses: tuple[str, ...] | None = None
    split: str = "test"
    max_examples: int = 200
    seed: int = 0
    target_class: int | str | None = None
    engine: str = "native"
    n_steps: int | str = 200
    method: str = "gausslegendre"
    baseline: str | float | Mapping[str, str | float] = "zeros"
    batch_size: int = 64
    gene_plots: int = 3
    flank: int = 50
    compare: str | None = None
    labels: tuple[str, str] = ("A", "B")
    top_fraction: float = 0.1
    top_n: int = 100
    jaspar_release: str = "JASPAR2026"
    tax_group: str | None = None
    motif_db: str | None = None
    q_threshold: float = 0.1
    trim_ic: float = 0.3
    logos: int = 16
    truth: str | None = None
    targets: str | None = None
    target_motif: str | None = None
    filters: tuple[int, ...] | None = None
    top_k: int = 5
    max_conditions: int = 8
    modisco_attribution: str = "saliency"
    modisco_summary: str = "mean"
    modisco_split: str = "all"
    modisco_max_examples: int = 5000
    modisco_max_seqlets: int = 2000

    def __post_init__(self):
        """Check every option as the config's ``explain:`` section and the flags are
        (:func:`check_option`; lists become tuples): options built from Python
        (``ExplainOptions(max_examples="5")``) failed deep in an analysis, or ran with a
        value the flags refuse (``n_steps=4.5`` as 4, ``analyses="ig"`` letter by letter)."""
        for f in fields(self):
            object.__setattr__(self, f.name, check_option(f.name, getattr(self, f.name),
                                                          f"ExplainOptions.{f.name}"))


def _is_int(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_baseline(v: Any) -> bool:
    def one(x):
        return isinstance(x, str | int | float) and not isinstance(x, bool)

    if isinstance(v, Mapping):
        return bool(v) and all(isinstance(k, str) and one(x) for k, x in v.items())
    return one(v)


#: What each option must be (:class:`kerasgene.config.Spec`); ``any`` ones are checked by
#: :data:`_SPECIAL`.
OPTION_SPECS = {
    "analyses": Spec("list", choices=ANALYSES, null=True), "split": Spec("str"),
    "max_examples": Spec("int", min=1), "seed": Spec("int", min=0),
    "target_class": Spec("any"),
    "engine": Spec("choice", choices=("native", "alibi")), "n_steps": Spec("any"),
    "method": Spec("choice", choices=(*METHODS, "riemann")), "baseline": Spec("any"),
    "batch_size": Spec("int", min=1), "gene_plots": Spec("int", min=0),
    "flank": Spec("int", min=0), "compare": Spec("path", null=True), "labels": Spec("any"),
    "top_fraction": Spec("number", above=0, max=1), "top_n": Spec("int", min=1),
    "jaspar_release": Spec("str"), "tax_group": Spec("str", null=True),
    "motif_db": Spec("path", null=True), "q_threshold": Spec("number", min=0, max=1), "trim_ic": Spec("number", min=0),
    "logos": Spec("int", min=0), "truth": Spec("path", null=True),
    "targets": Spec("path", null=True), "target_motif": Spec("str", null=True),
    "filters": Spec("any"), "top_k": Spec("int", min=1), "max_conditions": Spec("int", min=1),
    "modisco_attribution": Spec("choice", choices=ATTRIBUTIONS),
    "modisco_summary": Spec("choice", choices=SUMMARIES), "modisco_split": Spec("str"),
    "modisco_max_examples": Spec("int", min=1), "modisco_max_seqlets": Spec("int", min=100),
}
#: Options of more than one type: (check, what is expected).
_SPECIAL: dict[str, tuple[Callable[[Any], bool], str]] = {
    **dict.fromkeys(("split", "modisco_split"), (lambda v: v in SPLITS,
                                                  f"one of {', '.join(SPLITS)}")),
    "analyses": (lambda v: v is None or len(v) > 0,
                 f"at least one of {', '.join(ANALYSES)} (or null for the system's)"),
    "n_steps": (lambda v: v == "auto" or _is_int(v, 2), "an integer >= 2 or 'auto'"),
    "baseline": (_is_baseline, "zeros, ones, uniform, a number, or a mapping of input "
                               "names to those"),
    "labels": (lambda v: isinstance(v, list | tuple) and len(v) == 2
               and all(isinstance(x, str) for x in v), "a list of two names"),
    "target_class": (lambda v: v is None or _is_int(v, 0)
                     or (isinstance(v, str) and bool(v.strip())),
                     "a class id (an integer >= 0) or a class name"),
    "target_motif": (lambda v: v is None or bool(v.strip()),
                     "a motif id (a JASPAR ID, or a MOTIF id of --motif-db)"),
    "filters": (lambda v: v is None or (isinstance(v, list | tuple)
                                        and all(_is_int(x, 0) for x in v)),
                "a list of filter indices (integers >= 0)"),
}
#: Options held as tuples (a YAML list is read as a list).
_TUPLES = ("analyses", "labels", "filters")
#: Options held without surrounding whitespace (an id pasted with a space: ``" MA0337.1"``).
_STRIPPED = ("target_motif", "target_class")


def check_option(key: str, value: Any, where: str) -> Any:
    """``value`` of option ``key`` after checking it (lists become tuples; surrounding
    whitespace of a :data:`_STRIPPED` one is dropped; a ``target_class`` of digits, as
    a flag gives it, is a class id).

    Raises
    ------
    ConfigError
        ``"<where>: expected <what>, got <value>"``
    """
    check_value(value, OPTION_SPECS[key], where)
    if key in _SPECIAL:
        ok, what = _SPECIAL[key]
        if not ok(value):
            raise ConfigError(f"{where}: expected {what}, got {value!r}")
    if value is not None and key in _TUPLES:
        return tuple(value)
    if isinstance(value, str) and key in _STRIPPED:
        value = value.strip()
    if key == "target_class" and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def explain_options(section: Mapping | None = None, flags: Mapping[str, Any] | None = None,
                    *, where: str = "explain") -> ExplainOptions:
    """The options of a run: the defaults, updated with the config's ``explain:`` section,
    updated with command-line ``flags``.

    Parameters
    ----------
    section : the run config's ``explain:`` section (keys: the fields of
        :class:`ExplainOptions`); errors name ``<where>.<key>``
    flags : option values given on the command line (None values are not given); errors
        name the flag (``--max-examples``)

    Raises
    ------
    ConfigError
        an unknown key, or a value of the wrong type or range.
    """
    if section is not None:
        check_keys(section, OPTION_SPECS, where)
    values = {k: check_option(k, v, f"{where}.{k}") for k, v in (section or {}).items()}
    values.update({k: check_option(k, v, "--" + k.replace("_", "-"))
                   for k, v in (flags or {}).items() if v is not None})
    return ExplainOptions(**values)


#: The analyses that read each option (``seed`` and ``analyses``: all of them).
USED_BY: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("split", "max_examples"), ("ig", "differential", "saliency")),
    **dict.fromkeys(("engine", "method", "baseline", "gene_plots", "flank"),
                    ("ig", "differential")),
    "n_steps": ("ig", "differential", "modisco"),  # modisco: with modisco_attribution ig
    "target_class": ("ig", "differential", "saliency", "knockout", "modisco"),
    "batch_size": ("ig", "differential", "saliency", "modisco"),
    **dict.fromkeys(("compare", "labels", "top_fraction"), ("differential",)),
    **dict.fromkeys(("top_n", "trim_ic", "logos"), ("motifs", "knockout")),
    **dict.fromkeys(("jaspar_release", "tax_group", "motif_db", "q_threshold"),
                    ("motifs", "knockout", "modisco")),
    "truth": ("ig", "knockout", "modisco"),
    **dict.fromkeys(("targets", "target_motif", "filters", "top_k", "max_conditions"),
                    ("knockout",)),
    **{k: ("modisco",) for k in OPTION_SPECS if k.startswith("modisco_")},
}


#: Options that set how a pair model's conditions are read (DeepRAGE: a prediction per
#: gene × condition), with what of them: no other system's run reads them.
CONDITION_OPTIONS = {"max_conditions": "to sample per gene", "modisco_summary": "to summarise"}
#: The systems whose models are pair models.
PAIR_SYSTEMS = ("deeprage",)


def without_conditions(name: str, system: str) -> bool:
    """Whether option ``name`` sets how conditions are read and ``system``'s models have
    none (:data:`CONDITION_OPTIONS`, :data:`PAIR_SYSTEMS`)."""
    return name in CONDITION_OPTIONS and system not in PAIR_SYSTEMS


#: The options that choose JASPAR's matrices: not read with a ``motif_db``.
JASPAR_OPTIONS = ("jaspar_release", "tax_group")


def unused_options(names, options: ExplainOptions, analyses: tuple[str, ...],
                   system: str) -> list[str]:
    """The options among ``names`` that none of ``analyses`` reads on a run of ``system``
    (``n_steps`` counts for ``modisco`` only with ``modisco_attribution: ig``; the
    :data:`CONDITION_OPTIONS` only on pair models; the :data:`JASPAR_OPTIONS` not with a
    ``motif_db``)."""
    def used(name: str) -> bool:
        if without_conditions(name, system) or (name in JASPAR_OPTIONS and options.motif_db):
            return False
        users = set(USED_BY.get(name, analyses)) & set(analyses)
        if name == "n_steps" and options.modisco_attribution != "ig":
            users.discard("modisco")
        return bool(users)

    return [n for n in names if not used(n)]


def requested_analyses(options: ExplainOptions, system: str) -> tuple[str, ...]:
    """The analyses to run: ``options.analyses``, or the system's defaults (and
    ``differential`` with ``compare``).

    Raises
    ------
    ConfigError
        an unknown analysis, or ``differential`` without ``compare``.
    """
    if not options.analyses:
        base = systems.get(system).explain_analyses or ("saliency",)
        return (*base, "differential") if options.compare else base
    got = tuple(options.analyses)
    bad = [a for a in got if a not in ANALYSES]
    if bad:
        raise ConfigError(f"analyses: unknown {bad}; expected a subset of {list(ANALYSES)}")
    if "differential" in got and not options.compare:
        raise ConfigError("analyses: differential needs compare (--compare RUN_DIR2)")
    return got
