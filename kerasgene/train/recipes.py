"""Training recipes of the four papers: losses, optimizers, callbacks, metrics, ensembles.

``training:`` section of a run configuration (defaults in :data:`TRAINING_DEFAULTS`; a
value of ``null`` takes the paper's recipe for the model, kept with its system in
:mod:`kerasgene.systems`)::

    epochs: 100             # upper bound; early stopping decides
    batch_size: null        # 100 in iSEGnet and DeepRAGE
    optimizer: null         # adam | sgd | rmsprop
    learning_rate: null
    loss: null              # mse | masked_mse | rmse | crossentropy | hinge
    monitor: null           # val_r2 | val_loss | val_accuracy
    patience: 10            # early stopping, best weights restored
    reduce_lr_patience: 5   # ReduceLROnPlateau ×0.5
    strategy: default       # default | mirrored | multi_worker (tf.distribute)
    tensorboard: false
    verbose: 1
    steps_per_epoch: null   # cap per epoch (quick runs)
    init_output_bias: true  # regression output starts at the mean training label
    recalibrate_bn: true    # BatchNorm statistics re-estimated with dropout off
    mixed_precision: null   # null (float32) | bfloat16 | float16
    class_weight: null      # balanced | none (classification: weight each class by
                            # n / (n_classes · n_class) of the training labels)

``mixed_precision`` builds the model under Keras' ``mixed_bfloat16`` / ``mixed_float16``
policy (:func:`kerasgene.models.build`): float32 variables, outputs, loss and BatchNorm
statistics, everything else in the low precision; float16 adds Keras' dynamic loss
scaling (``compile`` wraps the optimizer in a ``LossScaleOptimizer``; so does the
factorised trainer). bfloat16 needs no loss scaling and is the one to use on a CPU with
AVX512_BF16 / AMX or on a recent GPU; ``bench/bench_models.py`` measures both. A
convolution whose low-precision kernel gives wrong results on the machine (oneDNN's AMX
bfloat16 kernel for some shapes) computes in float32, with a warning
(:mod:`kerasgene.models.kernel_checks`).

``init_output_bias`` is ours: the papers' code starts every bias at 0, so a model whose
labels average ~6 (log2 TPM) first spends epochs moving the output up — with iSEGnet's
output ReLU it can stall at 0. Starting the output at the label mean is the usual
initialisation; set it false to reproduce the papers' start exactly.

``recalibrate_bn`` is ours too. In a model with dropout before BatchNormalization (iSEGnet
has it in every block) the moving statistics are collected on dropout-inflated
activations, so in inference mode the network sees other statistics than it was trained
with (the "variance shift" of Li et al., CVPR 2019): iSEGnet on the demo data scored a
validation R² below 0 for its first ten epochs while the same weights with re-estimated
statistics scored 0.7. Before every validation, :class:`BatchNormRecalibration` re-estimates
the moving mean and variance of every BatchNormalization layer from a few training batches
with dropout off (weights untouched); the saved model keeps those statistics. Models without
both BatchNormalization and Dropout are unaffected.

``class_weight: balanced`` weights every training and validation example by its class,
n / (n_classes · n_c) over the training labels (scikit-learn's "balanced"), so that each
class weighs as much in the loss as the others. The chromatin binary task's recipe sets
it (:mod:`kerasgene.systems`): with 5 % peak bins, the hinge loss alone settles on
"never a peak" (margin −1 everywhere, loss ≈ 2 × 5 %) and stays there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasgene import systems
from kerasgene.config import Spec
from kerasgene.errors import ConfigError, KerasgeneError
from kerasgene.models import all_layers
from kerasgene.models.blocks import SCORE_OUTPUT
from kerasgene.models.losses import masked_mse, rmse

log = logging.getLogger(__name__)

TRAINING_DEFAULTS = {
    "epochs": 100, "batch_size": None, "optimizer": None, "learning_rate": None,
    "loss": None, "monitor": None, "patience": 10, "reduce_lr_patience": 5,
    "strategy": "default", "tensorboard": False, "verbose": 1, "steps_per_epoch": None,
    "init_output_bias": True, "recalibrate_bn": True, "mixed_precision": None,
    "class_weight": None,
}

def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (``keras.utils.set_random_seed``)."""
    keras.utils.set_random_seed(int(seed))


def get_strategy(name: str = "default") -> tf.distribute.Strategy:
    """The tf.distribute strategy named in the config.

    ``mirrored`` uses every local GPU (CPU when none); ``multi_worker`` reads the cluster
    from ``TF_CONFIG`` (one process per machine).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("training.strategy 'multi_worker' needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"training.strategy: expected default, mirrored or multi_worker, got {name!r}")


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """True for a MultiWorkerMirroredStrategy (several processes train one model)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_mirrored(strategy: tf.distribute.Strategy | None) -> bool:
    """True for ``mirrored`` and ``multi_worker`` (replicas that sum their gradients)."""
    return isinstance(strategy, tf.distribute.MirroredStrategy) or is_multi_worker(strategy)


def worker_task(strategy: tf.distribute.Strategy) -> tuple[str, int]:
    """``(task type, task index)`` of this process in a multi-worker cluster
    (``("worker", 0)`` for any other strategy)."""
    resolver = getattr(strategy, "cluster_resolver", None) if is_multi_worker(strategy) else None
    if resolver is None or not resolver.task_type:
        return "worker", 0
    return str(resolver.task_type), int(resolver.task_id or 0)


def task_writes_run(kind: str, index: int, cluster: Mapping) -> bool:
    """True for the task of a cluster (``TF_CONFIG``'s ``task`` type and index, its
    ``cluster``) that writes the run directory: ``chief``, else worker 0 of a cluster
    without one."""
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True for the process that writes the run directory (:func:`task_writes_run`), and
    the only process of any strategy but ``multi_worker``."""
    kind, index = worker_task(strategy)
    cluster = strategy.cluster_resolver.cluster_spec().as_dict() if is_multi_worker(strategy) \
        else {}
    return task_writes_run(kind, index, cluster)


def distributed(strategy: tf.distribute.Strategy, make: Callable[[int, int], tf.data.Dataset]):
    """A dataset spread over the replicas of ``strategy``
    (``strategy.distribute_datasets_from_function``): ``make(i, n)`` builds replica i's
    stream of n (global batches, of which replica i keeps its share: ``to_tf_dataset``'s
    ``shard``); a worker with several local replicas interleaves their streams. No
    worker reads another's examples and TensorFlow's auto-sharding is not involved."""
    def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        n = context.num_replicas_in_sync
        local = n // context.num_input_pipelines
        first = context.input_pipeline_id * local
        streams = [make(first + r, n) for r in range(local)]
        if local == 1:
            return streams[0]
        order = tf.data.Dataset.range(local).repeat()
        return tf.data.Dataset.choose_from_datasets(streams, order)

    return strategy.distribute_datasets_from_function(per_worker)


def agreed_epoch(strategy: tf.distribute.Strategy | None, epoch: int) -> int:
    """The smallest ``epoch`` over every process of ``strategy`` (a collective: every
    process calls it at the same point); ``epoch`` itself without a strategy."""
    if strategy is None:
        return epoch
    mine = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant([epoch], tf.int64))
    return int(tf.reduce_min(strategy.gather(mine, axis=0)))


#: Files of Keras' BackupAndRestore (``double_checkpoint=True``): the state after the last
#: epoch and, with the suffix, after the one before.
KERAS_BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")
KERAS_PREVIOUS_SUFFIX = ".bkp"


def _keras_backup_epoch(path: Path) -> int:
    """Epochs done in a BackupAndRestore ``training_metadata.json`` (0 when missing or
    unreadable: a process killed while writing it)."""
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _keras_backup_paths(backup_dir: Path) -> tuple[list[Path], list[Path]]:
    """(latest, previous) files of a BackupAndRestore folder: [weights, metadata] each."""
    return ([backup_dir / name for name in KERAS_BACKUP_FILES],
            [backup_dir / (name + KERAS_PREVIOUS_SUFFIX) for name in KERAS_BACKUP_FILES])


def _put_back_previous(backup_dir: Path) -> None:
    for latest, previous in zip(*_keras_backup_paths(backup_dir), strict=True):
        previous.replace(latest)


def whole_keras_backup(backup_dir: Path) -> int:
    """Epochs done in the BackupAndRestore (``double_checkpoint=True``) folder
    ``backup_dir``, after putting the previous backup back when the last save was
    interrupted: Keras copies the backup aside, then writes the weights, then the
    metadata, so a copy naming the same epoch as the metadata means the weights may be
    newer (or half written). 0 without a backup."""
    latest, previous = _keras_backup_paths(backup_dir)
    mine = _keras_backup_epoch(latest[1])
    if mine and _keras_backup_epoch(previous[1]) == mine and previous[0].is_file():
        _put_back_previous(backup_dir)
    return mine


def resume_keras_backup_at(backup_dir: Path, mine: int, agreed: int) -> int:
    """Make ``backup_dir`` (backed up after epoch ``mine``) resume after epoch ``agreed``,
    the last one every process backed up: unchanged when equal; removed (a fresh start)
    when ``agreed`` is 0; else its previous backup put back in place (a process killed
    while the others saved leaves them one epoch apart). Returns ``agreed``."""
    if agreed == mine:
        return agreed
    log.warning("%s: backed up after epoch %d, another worker after %d: all resume after "
                "epoch %d", backup_dir, mine, agreed, agreed)
    _, previous = _keras_backup_paths(backup_dir)
    if agreed == 0:
        shutil.rmtree(backup_dir, ignore_errors=True)
    elif _keras_backup_epoch(previous[1]) == agreed and previous[0].is_file():
        _put_back_previous(backup_dir)
    else:
        raise no_backup_at(backup_dir, agreed, [mine])
    return agreed


def no_backup_at(backup_dir: Path, agreed: int, here: list[int]) -> KerasgeneError:
    """The error of a process that cannot resume after the epoch the others agreed on."""
    return KerasgeneError(f"{backup_dir}: no backup after epoch {agreed}, which another "
                          f"worker resumes from (here: after {here}); remove "
                          f"{backup_dir.parent} to start again")


def reconcile_keras_backups(strategy: tf.distribute.Strategy, backup_dir: Path) -> int:
    """Before a multi-worker ``fit`` with BackupAndRestore: every process resumes from a
    whole backup (:func:`whole_keras_backup`) after the same epoch, the last one all of
    them backed up (one collective, :func:`resume_keras_backup_at`). Returns that epoch."""
    mine = whole_keras_backup(backup_dir)
    return resume_keras_backup_at(backup_dir, mine, agreed_epoch(strategy, mine))


def build_step_variables(model: keras.Model, element_spec) -> None:
    """Create the optimizer's, the loss's and the compiled metrics' variables of a compiled
    ``model`` now, from the shapes and dtypes of its training batches (``element_spec``
    of the tf.data stream), as Keras does before ``fit`` under a distribution strategy.

    Without one, Keras (TensorFlow backend) defers this to the first trace of the train
    step, and a ``tf.function`` that creates variables is traced twice: built here, the
    step is traced once — a demo-sized iSEGnet's first ``fit`` epoch 1.6 s sooner, every
    weight the same to the bit (the variables start at zero either way). A no-op when
    the model has a strategy (Keras builds it then) or is built already."""
    if getattr(model, "_distribute_strategy", None) is None:
        model._symbolic_build(data_batch=element_spec)


def _build_on_local_batch(model: keras.Model, strategy: tf.distribute.Strategy,
                          element_spec) -> None:
    """Work around keras-team/keras#20329 (Keras 3.15): before ``fit`` Keras builds the
    model on the *mean over the replicas* of the first batch (``strategy.reduce`` on a
    dict of PerReplica inputs), which MultiWorkerMirroredStrategy cannot reduce ("Attempt
    to convert a value ({'sequence': PerReplica: ...}) ... to a Tensor"). Only the
    shapes matter for that build: it is done on a batch of zeros of ``element_spec`` (no
    batch is drawn, so every worker's shuffle order stays that of a one-process run)."""
    def zeros(spec):
        return tf.zeros([1 if d is None else d for d in spec.shape], spec.dtype)

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=tf.nest.map_structure(zeros, element_spec))

    model._maybe_symbolic_build = build


@contextlib.contextmanager
def _multi_worker_logs() -> Iterator[None]:
    """Work around Keras 3.15 averaging the step logs of a MultiWorkerMirroredStrategy
    with ``strategy.reduce("MEAN", v, axis=0)``, which fails on the scalar loss and
    metrics ("Invalid reduction dimension 0 for input with 0 dimensions"): inside the
    block scalars are averaged over the replicas with ``axis=None``."""
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not is_multi_worker(strategy):
            return original(values, strategy, reduction)

        def mean(v):
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

        return tf.nest.map_structure(mean, values)

    tf_trainer.reduce_per_replica = reduce
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original


# ----------------------------------------------------------------------------- losses
LOSSES: dict[str, Callable | str] = {
    "mse": "mse", "masked_mse": masked_mse, "rmse": rmse,
    "crossentropy": "sparse_categorical_crossentropy", "hinge": "hinge",
}
#: Losses of a classifier; every other loss is a regression loss.
CLASS_LOSSES = ("crossentropy", "hinge")

OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
              "rmsprop": keras.optimizers.RMSprop}

#: Type and range of every key of :data:`TRAINING_DEFAULTS` (null: the paper's recipe).
TRAINING_SPECS = {
    "epochs": Spec("int", min=1), "batch_size": Spec("int", min=1, null=True),
    "optimizer": Spec("choice", choices=tuple(OPTIMIZERS), null=True),
    "learning_rate": Spec("number", above=0, null=True),
    "loss": Spec("choice", choices=tuple(LOSSES), null=True),
    "monitor": Spec("choice", null=True, choices=("val_r2", "val_loss", "val_accuracy", "r2",
                                                  "loss", "accuracy")),
    "patience": Spec("int", min=0),
    "reduce_lr_patience": Spec("int", min=0),
    "strategy": Spec("choice", choices=("default", "mirrored", "multi_worker")),
    "tensorboard": Spec("bool"), "verbose": Spec("choice", choices=(0, 1, 2)),
    "steps_per_epoch": Spec("int", min=1, null=True), "init_output_bias": Spec("bool"),
    "recalibrate_bn": Spec("bool"),
    "mixed_precision": Spec("choice", choices=("bfloat16", "float16"), null=True),
    "class_weight": Spec("choice", choices=("balanced", "none"), null=True),
}


def is_classifier(model: keras.Model) -> bool:
    """True when the model's (first) output is named ``class_probabilities`` or is a
    binary score (:func:`is_score_classifier`)."""
    return model.output_names[0] in ("class_probabilities", SCORE_OUTPUT)


def is_score_classifier(model: keras.Model) -> bool:
    """True when the model's (first) output is one binary score named ``class_score``
    (:func:`kerasgene.models.blocks.score_head`; class 1 ⇔ score > 0)."""
    return model.output_names[0] == SCORE_OUTPUT


def resolve_training(section: dict | None, model_name: str, classification: bool) -> dict:
    """Training settings: the config section over the paper's recipe of ``model_name``
    (:attr:`kerasgene.systems.ModelEntry.recipe`) over the defaults.

    Raises
    ------
    ConfigError
        an unknown key, or a value of the wrong type or range (:data:`TRAINING_SPECS`).
    """
    from kerasgene.config import check_section, with_defaults

    check_section(section, TRAINING_SPECS, "training")
    cfg = with_defaults(section, TRAINING_DEFAULTS, "training")
    entry = systems.model_entry(model_name)
    if classification:
        recipe = {**entry.recipe, "loss": "crossentropy", "monitor": "val_accuracy",
                  **entry.class_recipe}
    else:
        recipe = {"loss": "mse", "monitor": "val_r2", **entry.recipe}
    metric = "accuracy" if classification else "r2"
    if cfg["monitor"] is not None and cfg["monitor"].removeprefix("val_") not in (metric, "loss"):
        raise ConfigError(f"training.monitor: {cfg['monitor']!r} is not reported by a "
                          f"{'classification' if classification else 'regression'} model; "
                          f"expected val_{metric}, val_loss, {metric} or loss")
    for key, value in recipe.items():
        if cfg.get(key) is None:
            cfg[key] = value
    if cfg["loss"] not in LOSSES:
        raise ConfigError(f"training.loss: expected one of {sorted(LOSSES)}, got {cfg['loss']!r}")
    if cfg["class_weight"] == "balanced" and not classification:
        raise ConfigError("training.class_weight: 'balanced' weights classes; this is a "
                          "regression model (use none or null)")
    if (cfg["loss"] in CLASS_LOSSES) != classification:
        kind, losses = (("classification", CLASS_LOSSES) if classification else
                        ("regression", tuple(k for k in LOSSES if k not in CLASS_LOSSES)))
        raise ConfigError(f"training.loss: {cfg['loss']!r} does not train a {kind} model; "
                          f"expected one of {', '.join(losses)}")
    if cfg["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"training.optimizer: expected one of {sorted(OPTIMIZERS)}, got {cfg['optimizer']!r}")
    return cfg


_BIAS_PASS_THROUGH = (keras.layers.Activation, keras.layers.ReLU, keras.layers.Identity,
                      keras.layers.Flatten, keras.layers.GlobalAveragePooling1D)


def output_bias_layer(model: keras.Model) -> keras.layers.Layer | None:
    """The Dense / Conv layer whose single bias sets the level of a one-output regression
    model (walking back through activations, identity, flatten and average pooling), or
    None (classifiers, ensembles, several outputs)."""
    if len(model.outputs) != 1:
        return None
    tensor = model.outputs[0]
    while True:
        layer = tensor._keras_history.operation
        bias = getattr(layer, "bias", None)
        if bias is not None:
            return layer if tuple(bias.shape) == (1,) else None
        if not isinstance(layer, _BIAS_PASS_THROUGH):
            return None
        tensor = layer.input


def init_output_bias(model: keras.Model, value: float) -> bool:
    """Set the output bias of a regression model to ``value`` (the mean training label);
    of a histone FCN ensemble (the mean of its members), every member's; returns False
    when the model has no such bias (:func:`output_bias_layer`)."""
    from kerasgene.models.histone_fcn import ensemble_members

    if not np.isfinite(value):
        return False
    layers = [output_bias_layer(m) for m in ensemble_members(model) or [model]]
    if not layers or any(layer is None for layer in layers):
        return False
    for layer in layers:
        layer.bias.assign(np.full((1,), value, dtype=layer.bias.dtype))
    return True


def training_forward(model: keras.Model) -> Callable:
    """``model(x, training=True)`` as a traced function (one graph per input signature)
    for :func:`recalibrate_batch_norm`: a batch costs its compute, not the eager per-layer
    overhead (histone FCN: 1.4 s → 0.2 s per recalibration on the demo). The graph keeps
    the dropout rates and BatchNormalization momenta of its first call: call it only
    inside :func:`recalibrate_batch_norm`."""
    return tf.function(lambda x: model(x, training=True), reduce_retracing=True)


def recalibrate_batch_norm(model: keras.Model, batches, forward: Callable | None = None
                           ) -> int:
    """Re-estimate the moving mean and variance of every BatchNormalization layer (nested
    models included) as the average over ``batches`` of model inputs of each batch's
    statistics, computed in training mode with every Dropout layer switched off; returns
    the number of batches used.

    Only the BatchNormalization statistics change; dropout rates and momenta are restored.
    ``forward``: a :func:`training_forward` of ``model`` kept from an earlier call (a new
    one is traced otherwise).
    """
    layers = list(all_layers(model))
    norms = [lay for lay in layers if isinstance(lay, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    rates = {lay: lay.rate for lay in layers if isinstance(lay, keras.layers.Dropout)}
    momenta = {lay: lay.momentum for lay in norms}
    forward = training_forward(model) if forward is None else forward
    sums = [[np.zeros(lay.moving_mean.shape), np.zeros(lay.moving_variance.shape)]
            for lay in norms]
    n = 0
    try:
        for lay in rates:
            lay.rate = 0.0
        for lay in norms:  # momentum 0: the moving statistics become the batch's
            lay.momentum = 0.0
        for x in batches:
            forward(x)
            for (mean, var), lay in zip(sums, norms, strict=True):
                mean += lay.moving_mean.numpy()
                var += lay.moving_variance.numpy()
            n += 1
    finally:
        for lay, rate in rates.items():
            lay.rate = rate
        for lay, momentum in momenta.items():
            lay.momentum = momentum
    if n:
        for (mean, var), lay in zip(sums, norms, strict=True):
            lay.moving_mean.assign(mean / n)
            lay.moving_variance.assign(var / n)
    return n


class BatchNormRecalibration(keras.callbacks.Callback):
    """Before every validation pass, :func:`recalibrate_batch_norm` from the first
    ``n_batches`` batches of ``train`` (a tf.data dataset of ``(x, y[, w])``), through
    one traced forward pass for the whole fit."""

    def __init__(self, train, n_batches: int):
        super().__init__()
        self.train, self.n_batches = train, n_batches
        self.forward = None

    def on_test_begin(self, logs=None):
        if self.forward is None:
            self.forward = training_forward(self.model)
        recalibrate_batch_norm(self.model, (b[0] for b in self.train.take(self.n_batches)),
                               self.forward)


def diverged(loss: float, epoch: int, learning_rate: float) -> ConfigError:
    """The error of a training whose loss is no longer finite after ``epoch`` (1-based)."""
    return ConfigError(f"training.learning_rate: training diverged: the training loss is "
                       f"{loss} in epoch {epoch} (learning rate {learning_rate:g}); expected "
                       "a finite loss: lower training.learning_rate")


class StopOnDivergence(keras.callbacks.Callback):
    """Raise :func:`diverged` at the end of an epoch whose training loss is NaN or
    infinite: the weights are then NaN (or about to be), and neither they nor the
    starting weights that early stopping would keep are a trained model."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            raise diverged(loss, epoch + 1, rate)


def has_dropout_and_batch_norm(model: keras.Model) -> bool:
    """True when the model (or a nested model) has both Dropout and BatchNormalization."""
    kinds = {type(lay) for lay in all_layers(model)}
    return (any(issubclass(k, keras.layers.Dropout) for k in kinds)
            and any(issubclass(k, keras.layers.BatchNormalization) for k in kinds))


def class_weights(labels: np.ndarray, cfg: dict, n_classes: int = 2) -> np.ndarray | None:
    """Weight of each class (index = class) for ``training.class_weight: balanced``, None
    otherwise: n / (n_classes · n_c) over ``labels`` (the training labels, int classes
    0 … ``n_classes`` − 1, the task's); every class must occur — the last one too (a
    training split without it failed in TensorFlow, index out of bounds).

    Raises
    ------
    ConfigError
        a class without training examples.
    """
    if cfg.get("class_weight") != "balanced":
        return None
    counts = np.bincount(np.asarray(labels, np.int64).ravel(), minlength=int(n_classes))
    if len(counts) < 2 or (counts == 0).any():
        raise ConfigError(f"training.class_weight: balanced needs every class in the "
                          f"training labels; their counts are {counts.tolist()}")
    weights = (len(labels) / (len(counts) * counts)).astype(np.float32)
    log.info("class weights (balanced): %s", ", ".join(f"{c}: {w:.3g}"
                                                      for c, w in enumerate(weights)))
    return weights


def model_loss(model: keras.Model, loss: str) -> Callable | str:
    """The Keras loss of ``loss`` (a :data:`LOSSES` name) for ``model``'s head.

    A binary score head (:func:`is_score_classifier`) takes ``hinge`` (Keras' hinge: labels
    {0, 1} are read as −1 / +1, loss = mean(max(0, 1 − t · score))) or ``crossentropy``
    (binary cross-entropy of the score as a logit); a class-probability head takes
    ``crossentropy`` (sparse categorical).

    Raises
    ------
    ConfigError
        ``hinge`` for a head that outputs probabilities.
    """
    if is_score_classifier(model) and loss == "crossentropy":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    if loss == "hinge" and not is_score_classifier(model):
        raise ConfigError(f"training.loss: 'hinge' needs a binary score output "
                          f"('{SCORE_OUTPUT}'); {model.name} outputs {model.output_names[0]!r} "
                          "(use crossentropy)")
    return LOSSES[loss]


def model_metrics(model: keras.Model) -> list[keras.metrics.Metric]:
    """Metrics compiled into ``model``: R² (regression; Pearson r comes from
    :func:`kerasgene.metrics.regression_metrics`, per split), accuracy (classifiers) and,
    for a binary score, AUPRC and AUROC (named ``auprc``, ``auroc``; Keras' binned
    estimates on the sigmoid of the score — the run's metrics.json has the exact ones)."""
    if is_score_classifier(model):
        return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),
                keras.metrics.AUC(curve="PR", from_logits=True, name="auprc"),
                keras.metrics.AUC(curve="ROC", from_logits=True, name="auroc")]
    if is_classifier(model):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    return [keras.metrics.R2Score(name="r2")]


def compile_model(model: keras.Model, cfg: dict) -> keras.Model:
    """Compile with the resolved training settings (:func:`model_loss`,
    :func:`model_metrics`)."""
    loss = model_loss(model, cfg["loss"])
    optimizer = OPTIMIZERS[cfg["optimizer"]](learning_rate=cfg["learning_rate"])
    model.compile(optimizer=optimizer, loss=loss, metrics=model_metrics(model))
    return model


def make_callbacks(cfg: dict, run_dir: Path | None, backup_dir: Path | None = None,
                   start_score: float | None = None) -> list[keras.callbacks.Callback]:
    """Early stopping (best weights restored), ReduceLROnPlateau ×0.5, with a run
    directory ModelCheckpoint, CSVLogger and optionally TensorBoard, and with
    ``backup_dir`` Keras' BackupAndRestore (weights and epoch saved after every epoch; a
    restarted fit resumes after the last saved epoch and the history is appended to).

    ``start_score``: the monitored score of the starting weights, early stopping's
    baseline — the patience then runs from the start (epoch 0) as long as no epoch beats
    it, so a model with nothing to learn stops after ``patience`` epochs instead of
    ``patience`` epochs after its best one, however far below the start that is; it does
    not choose the weights restored (the caller keeps the start:
    :func:`kerasgene.train.runs._fit_one`)."""
    monitor = cfg["monitor"]
    mode = "min" if monitor.endswith("loss") else "max"
    callbacks = [
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=cfg["patience"],
                                      baseline=start_score, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5,
                                          patience=cfg["reduce_lr_patience"], min_lr=1e-6),
    ]
    resuming = backup_dir is not None and (Path(backup_dir) / "training_metadata.json").is_file()
    if backup_dir is not None:  # first: the others then see the restored epoch
        callbacks.insert(0, keras.callbacks.BackupAndRestore(str(backup_dir),
                                                             double_checkpoint=True))
        if resuming:
            log.warning("%s: resuming from the backup of a stopped training", backup_dir)
    if run_dir is not None:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        callbacks += [
            keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoint.keras"), monitor=monitor,
                                            mode=mode, save_best_only=True),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resuming),
        ]
        if cfg["tensorboard"]:
            callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    return callbacks


def fit(model: keras.Model, train, valid, cfg: dict, run_dir: Path | None = None, *,
        strategy: tf.distribute.Strategy | None = None, backup_dir: Path | None = None,
        local_train=None, start_score: float | None = None,
        extra_callbacks: Sequence[keras.callbacks.Callback] = ()):
    """Fit a compiled model on tf.data datasets; returns the Keras History.

    A training loss that turns NaN or infinite raises :func:`diverged` at the end of
    that epoch (:class:`StopOnDivergence`). With ``recalibrate_bn`` (and a model with
    Dropout and BatchNormalization) the BatchNormalization statistics are re-estimated
    from ≥ 512 training examples before every validation
    (:class:`BatchNormRecalibration`), taken from ``train``.
    ``strategy``: the MultiWorkerMirroredStrategy that distributed ``train`` and
    ``valid`` (:func:`distributed`), if any; ``local_train`` is then the undistributed
    training stream (global batches, the same on every worker): the recalibration reads
    it, so that the workers agree. ``backup_dir``, ``start_score``: :func:`make_callbacks`.
    ``extra_callbacks`` (keras-tuner's, for a trial) come last: they see the recalibrated
    model.
    """
    multi_worker = strategy is not None and is_multi_worker(strategy)
    if multi_worker and backup_dir is not None:
        reconcile_keras_backups(strategy, Path(backup_dir))
    callbacks = make_callbacks(cfg, run_dir, backup_dir, start_score)
    if multi_worker:
        _build_on_local_batch(model, strategy, local_train.element_spec)
    else:
        build_step_variables(model, train.element_spec)
    if cfg.get("recalibrate_bn") and has_dropout_and_batch_norm(model):
        n_batches = max(1, math.ceil(512 / cfg["batch_size"]))
        # after the backup, before the checkpoint and early stopping: they see the
        # recalibrated model
        at = 1 if backup_dir is not None else 0
        callbacks.insert(at, BatchNormRecalibration(
            train if local_train is None else local_train, n_batches))
    callbacks.insert(0, StopOnDivergence())  # first: a diverged epoch is not backed up
    callbacks += list(extra_callbacks)
    with _multi_worker_logs() if multi_worker else contextlib.nullcontext():
        return model.fit(
            train, validation_data=valid, epochs=cfg["epochs"], verbose=cfg["verbose"],
            steps_per_epoch=cfg["steps_per_epoch"], callbacks=callbacks,
            shuffle=False,  # tf.data pipelines shuffle themselves
        )


def starting_point(model: keras.Model, valid, monitor: str) -> tuple[float, list] | None:
    """The validation score of the untrained model (its output at the label mean) and its
    weights, when early stopping monitors a validation score; else None."""
    if not monitor.startswith("val_"):
        return None
    scores = model.evaluate(valid, verbose=0, return_dict=True)
    return float(scores[monitor.removeprefix("val_")]), model.get_weights()


def keep_start_if_better(model: keras.Model, start, scores, monitor: str, where) -> None:
    """Early stopping with the starting weights (:func:`starting_point`) as epoch 0:
    restore them when no epoch beat their validation score (a model with nothing to learn
    — the shuffled-label control — then predicts the mean training label instead of
    fitted noise); ``where`` names the fit in the log."""
    if start is None or not scores:
        return
    better = min if monitor.endswith("loss") else max
    if better(start[0], better(scores)) == start[0] and start[0] != better(scores):
        model.set_weights(start[1])
        log.info("%s: no epoch beat the starting weights' %s %.4f; kept them", where,
                 monitor, start[0])


# ----------------------------------------------------------------------------- metrics
