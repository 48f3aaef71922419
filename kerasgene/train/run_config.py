"""A run configuration: the folders it names and the checks made before anything is
written (:func:`check_config`, and those :func:`kerasgene.train.runs.train` makes once the
dataset and the model are known).

The keys of the ``training`` section read by :mod:`kerasgene.train.runs` rather than by
:mod:`kerasgene.train.recipes` are :data:`RUN_TRAINING_KEYS`; ``kerasgene.config`` lists
the sections.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from kerasgene import config as _config
from kerasgene import systems
from kerasgene._io import check_folder_path, to_plain
from kerasgene.config import Spec
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.train.baselines import BASELINES

#: Extra keys of the ``training`` section handled here rather than by kerasgene.train.recipes.
RUN_TRAINING_KEYS = {"controls": [], "factorized": False, "genes_per_block": 32,
                     "conditions_per_block": 32, "baseline_max_examples": 5_000,
                     "control_permutations": 3, "inputs": None}
#: Type and range of each key of :data:`RUN_TRAINING_KEYS`.
RUN_TRAINING_SPECS = {
    "controls": Spec("list", choices=("shuffled",)), "factorized": Spec("bool"),
    "genes_per_block": Spec("int", min=1), "conditions_per_block": Spec("int", min=1),
    "baseline_max_examples": Spec("int", min=1, null=True),
    "control_permutations": Spec("int", min=1),
    "inputs": Spec("mapping", null=True),
}
#: ``training`` keys the factorised trainer does not read, with the value it acts as if
#: given (:func:`kerasgene.train.block_trainer.fit_blocks`); any other value is refused.
FACTORIZED_READS = {"batch_size": None, "steps_per_epoch": None, "loss": "mse",
                    "monitor": "val_r2", "tensorboard": False}
#: Type of each top-level value (``data`` is checked by the dataset builder,
#: ``model.hparams`` against the builder's arguments).
TOP_LEVEL_SPECS = {
    "system": Spec("str"), "seed": Spec("int", min=0, max=2**32 - 1),
    "run_dir": Spec("path"), "data_dir": Spec("path"), "dataset_dir": Spec("path"),
    "data": Spec("mapping", null=True), "model": Spec("mapping", null=True),
    "training": Spec("mapping", null=True), "baselines": Spec("list", choices=BASELINES, null=True),
    "explain": Spec("mapping", null=True), "tuning": Spec("mapping", null=True),
}


def run_dir(config: dict) -> Path:
    """The run directory of a configuration (``run_dir``, default ``runs/<system>``)."""
    return Path(config.get("run_dir") or Path("runs") / config["system"])


def dataset_dir(config: dict) -> Path:
    """Where the prepared dataset lives (``dataset_dir``, default ``<run_dir>/dataset``)."""
    return Path(config.get("dataset_dir") or run_dir(config) / "dataset")


def check_config(config: Mapping, *, train: bool = False, light: bool = False) -> None:
    """Check a run configuration before anything is written.

    Checked: the type of every top-level value (:data:`TOP_LEVEL_SPECS`), that
    ``data_dir`` is a directory, every ``training`` key (:data:`kerasgene.train.recipes.TRAINING_SPECS`
    and :data:`RUN_TRAINING_SPECS`: ``epochs: ten``, ``batch_size: 0``, ``epochs: -1`` and
    unknown keys are errors) and the ``model`` section (a registry name; ``hparams`` among
    the builder's arguments, each of its default's type). ``data`` is checked by its
    builder, which also fails on a missing input file before writing anything.

    Parameters
    ----------
    config : a run configuration (:func:`kerasgene.config.load_config`)
    train : ``model.name`` is required (``kerasgene train``)
    light : skip what needs Keras (the ``training`` value specs and ``model``), for a
        process that must stay light (the ``tune --workers`` launcher)

    Raises
    ------
    ConfigError
        one line naming the key, the value and what was expected.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"config: expected a mapping of sections, got {type(config).__name__}")
    if "system" not in config:
        raise ConfigError("config: missing required key 'system'")
    for key, spec in TOP_LEVEL_SPECS.items():
        if key in config:
            _config.check_value(config[key], spec, key)
    systems.get(config["system"], "system")
    base = config.get("data_dir")
    if base is not None and not Path(base).is_dir():
        raise InputFileError(f"data_dir: {base} is not a directory (expected the folder "
                             "holding the data files)")
    for key, where in (("run_dir", run_dir(config)), ("dataset_dir", dataset_dir(config))):
        check_folder_path(where, key)
    section = dict(config.get("training") or {})
    extra = {k: v for k, v in section.items() if k in RUN_TRAINING_SPECS}
    if light:
        _config.check_section(extra, RUN_TRAINING_SPECS, "training")
    else:
        from kerasgene.train.recipes import TRAINING_SPECS

        _config.check_section(section, {**TRAINING_SPECS, **RUN_TRAINING_SPECS}, "training")
    if extra.get("factorized") and extra.get("inputs") is not None:
        raise ConfigError("training.inputs: not available with training.factorized (the "
                          "gene × condition blocks read every input)")
    if extra.get("factorized") and extra.get("controls"):
        raise ConfigError("training.controls: not available with training.factorized (the "
                          "shuffled-label control permutes the labels of examples, not blocks)")
    if extra.get("factorized"):
        _check_factorized(section)
    if not light:
        _check_model_section(config.get("model"), train)


def _check_factorized(section: Mapping) -> None:
    """Refuse a ``training`` value the factorised trainer would not read
    (:data:`FACTORIZED_READS`)."""
    for key, used in FACTORIZED_READS.items():
        value = section.get(key)
        if value not in (None, used):
            raise ConfigError(f"training.{key}: {value!r} is not read by training.factorized "
                              "(every gene × condition block each epoch, genes_per_block × "
                              "conditions_per_block pairs a step, mse loss, early stopping on "
                              "val_r2); remove it, or set training.factorized: false")


def _check_model_section(section: Mapping | None, train: bool) -> None:
    """``model.name`` a registry model (required when ``train``) and ``model.hparams``
    among its builder's arguments, each like its default."""
    from kerasgene import models

    if section is None and not train:
        return
    section = dict(section or {})
    _config.check_keys(section, ("name", "hparams"), "model")
    name = section.get("name")
    if name is None:
        if train:
            raise ConfigError(f"model: missing 'name' (one of {', '.join(models.names())})")
        return
    if name not in models.names():
        if not train:  # a tuning family (``deeprage``) is checked by ``kerasgene tune``
            return
        near = difflib.get_close_matches(str(name), models.names(), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigError(f"model.name: unknown model {name!r}{hint} (expected one of "
                          f"{', '.join(models.names())})")
    hparams = section.get("hparams")
    _config.check_value(hparams, Spec("mapping", null=True), "model.hparams")
    defaults = {k: v for k, v in models.hyperparameters(name).items() if k != "name"}
    for key, value in (hparams or {}).items():
        if key not in defaults:
            near = difflib.get_close_matches(str(key), list(defaults), n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"model.hparams: unknown argument {key!r} for {name}{hint} "
                              f"(valid: {', '.join(defaults)})")
        if not _config.like_default(value, defaults[key]):
            raise ConfigError(f"model.hparams.{key}: expected {type(defaults[key]).__name__} "
                              f"like the default {defaults[key]!r}, got {value!r}"
                              f"{_config.yaml_number_hint([value])}")


def check_given_dataset(config: dict, dataset) -> None:
    """Refuse a ``dataset`` given to :func:`~kerasgene.train.runs.train` that is not the
    one the config would prepare: one made by another system's builder (its ``task``
    names that system; a DeepRAGE dataset under an iSEGnet config failed deep in the
    model builder, or with a bare ``KeyError``), or one split otherwise than the config's
    ``data.split`` in a key the config sets (the run's config.yaml would describe another
    model than its run.json, and every later command would refuse the run)."""
    mine = systems.get(config["system"])
    try:
        maker = systems.get(dataset.task)
    except ConfigError:  # a dataset class whose task names no system: nothing to compare
        maker = mine
    if maker.dataset != mine.dataset:
        raise ConfigError(f"dataset: {dataset.path} was prepared for system {maker.name!r} "
                          f"({maker.title}); the config's system {mine.name!r} reads a "
                          "dataset of its own: expected the dataset prepared from this config")
    wanted = to_plain((config.get("data") or {}).get("split") or {})
    have = dataset.meta.get("split") or {}
    differ = [k for k in wanted if k in have and wanted[k] != have[k]]
    if differ:
        raise ConfigError(
            f"dataset: {dataset.path} is split with "
            + ", ".join(f"{k}={have[k]!r}" for k in differ)
            + "; the config's data.split gives "
            + ", ".join(f"{k}={wanted[k]!r}" for k in differ)
            + "; expected the dataset prepared from this config")


def check_validation(dataset, monitor: str, factorized: bool) -> None:
    """Refuse a validation split on which early stopping's ``val_r2`` is undefined:
    fewer than two different labels (one example: the R² of one value). Keras scores it
    0 every epoch, so early stopping would stop after ``patience`` epochs whatever the
    model learnt (the factorised trainer, NaN: it kept the untrained weights)."""
    if monitor != "val_r2":
        return
    y = dataset.labels("valid")
    if (y != y.flat[0]).any():
        return
    other = "" if factorized else ", or training.monitor: val_loss"
    raise ConfigError(f"training.monitor: val_r2 is undefined on a validation set of {len(y)} "
                      f"example(s), all labelled {y.flat[0]:g} (R² needs at least 2 different "
                      f"labels); expected a larger validation set (data.split){other}")


def check_replica_batches(counts: Mapping[str, int], batch_size: int, replicas: int) -> None:
    """Refuse a batch size that leaves a replica of a multi-worker run without examples.

    Every global batch is dealt to the ``replicas`` (:func:`kerasgene.train.recipes.distributed`:
    replica i takes examples i, i + n, ...), so a batch of fewer examples than replicas —
    every batch when ``batch_size < replicas``, or a split's last, partial batch — gives
    some replica an empty batch: a convolution fails on it (a TensorFlow traceback in one
    worker, the same on every re-run), and where the layers accept it (the linear model)
    the run silently stops training like one process (validation loss 0.941 against 0.765
    after the first epoch, where a run with full batches agrees to ~1e-6).

    Parameters
    ----------
    counts : ``{split: examples}`` of the splits streamed batch by batch (the training
        split is not when ``steps_per_epoch`` repeats it)
    batch_size : the global batch
    replicas : ``num_replicas_in_sync``

    Raises
    ------
    ConfigError
        naming the split, its size and the nearest batch sizes that work.
    """
    def fits(b: int) -> bool:
        return b >= replicas and all(n % b == 0 or n % b >= replicas for n in counts.values())

    if fits(batch_size):
        return
    ok = [b for b in range(max(replicas, batch_size // 2), 2 * batch_size + replicas + 1)
          if fits(b)]
    nearest = sorted(sorted(ok, key=lambda b: (abs(b - batch_size), b))[:2])
    hint = f" (e.g. {' or '.join(map(str, nearest))})" if nearest else ""
    if batch_size < replicas:
        why = "gives some worker no example of each batch"
    else:
        split, n = next((s, n) for s, n in counts.items() if 0 < n % batch_size < replicas)
        why = (f"leaves the last batch of the {split} split ({n} examples) with "
               f"{n % batch_size}, fewer than one per worker")
    raise ConfigError(f"training.batch_size: {batch_size} over {replicas} workers {why}; "
                      f"expected a batch size whose batches hold at least {replicas} "
                      f"examples{hint}")
