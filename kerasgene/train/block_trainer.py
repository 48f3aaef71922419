"""Factorised training of two-branch pair models on gene × condition blocks (DeepRAGE).

DeepRAGE's examples are (gene, condition) pairs, but its sequence branch depends only on
the gene and its regulator branch only on the condition. The first Dense layer after the
merge can be split too:

- concatenation (DeepRAGE-C): ``W·[y; x] + b = W_y·y + W_x·x + b`` — compute ``W_x·x``
  once per gene and ``W_y·y + b`` once per condition, and add them for every pair;
- outer product (DeepRAGE-TP): ``W·vec(y ⊗ x) + b = Σ_ij y_i x_j W_ij + b`` — contract
  ``x`` with ``W`` once per gene (``A_g = Σ_j x_j W_·j``, a U × H matrix) and then ``y``
  with ``A_g`` for every condition, never forming the U·F-wide product per pair.

The rest of the head runs per pair. :class:`FactorizedPairTrainer` trains the *same*
Keras model (same layers, same weights, same loss — the weighted MSE over the pairs of a
block equals the naive pair loss) on such blocks; the model itself is unchanged and is
saved, exported and evaluated as usual. A model built under a mixed-precision policy
(``training.mixed_precision``) is trained in it: the factorised Dense computes in the
layer's dtype (bfloat16 / float16, float32 kernel cast as Keras does), the loss in
float32, and a float16 model's optimizer is wrapped in Keras' ``LossScaleOptimizer``. ``bench/bench_deeprage_grouped.py`` measures
pairs/s against naive pair batches.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kerasgene._io import atomic_path
from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)

#: Merge layers the trainer can factorise, tried in this order.
MERGE_LAYERS = ("concat", "product")


def _head_chain(model: keras.Model, first: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Layers after ``first`` that form a single chain ending at the model output."""
    layers = model.layers
    chain, prev = [], first
    for layer in layers[layers.index(first) + 1 :]:
        if layer.input is not prev.output:
            raise ConfigError(
                f"{model.name}: layer {layer.name!r} does not follow {prev.name!r}; "
                "factorised training needs a single chain after the first Dense"
            )
        chain.append(layer)
        prev = layer
    return chain


def _consumer(model: keras.Model, tensor) -> keras.layers.Layer | None:
    """The only layer reading ``tensor``, or None when there is not exactly one."""
    readers = [layer for layer in model.layers if getattr(layer, "input", None) is tensor]
    return readers[0] if len(readers) == 1 else None


def _merge_layer(model: keras.Model, merge_layer: str | None) -> keras.layers.Layer:
    names = [merge_layer] if merge_layer else MERGE_LAYERS
    for name in names:
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        if isinstance(layer, keras.layers.Concatenate | keras.layers.Dot):
            return layer
    raise ConfigError(f"{model.name}: no Concatenate or outer-product Dot layer named "
                      f"{' or '.join(map(repr, names))}; factorised training applies to "
                      "deeprage_concat and deeprage_tensor")


class FactorizedPairTrainer:
    """Train a two-input pair model on blocks of G genes × C conditions.

    Parameters
    ----------
    model
        A model with inputs ``gene_input`` and ``condition_input`` whose branches meet in
        a Concatenate layer (``deeprage_concat``) or in an outer-product Dot of a
        (U, 1) and a (1, F) tensor followed by a Flatten (``deeprage_tensor``); the merge
        feeds one Dense layer and then a chain of single-input layers to one output.
    optimizer
        A Keras optimizer (the paper: SGD, learning rate 0.01); None for inference only
        (:meth:`block_outputs`, :func:`pair_outputs`).
    merge_layer
        Name of the merge layer; by default ``"concat"``, else ``"product"``.

    Attributes
    ----------
    strategy
        A ``tf.distribute`` strategy the model and optimizer were built under
        (MirroredStrategy, MultiWorkerMirroredStrategy): each replica trains on its own
        block of every group of ``num_replicas_in_sync`` blocks (``strategy.run``), the
        gradients summed over the replicas of the loss divided by their number, i.e. one
        step on the mean of the block losses.

    Attributes
    ----------
    optimizer
        ``optimizer``, or a ``LossScaleOptimizer`` around it for a ``mixed_float16`` model.
    """

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, *,
                 gene_input: str = "sequence", condition_input: str = "regulators",
                 merge_layer: str | None = None, strategy: tf.distribute.Strategy | None = None):
        self.model = model
        self.strategy = strategy
        merge = _merge_layer(model, merge_layer)
        self.mode = "concat" if isinstance(merge, keras.layers.Concatenate) else "product"
        parts = list(merge.input)
        if self.mode == "product" and not (parts[0].shape[-1] == 1 and parts[1].shape[1] == 1):
            raise ConfigError(f"{model.name}: {merge.name!r} is not an outer product of a "
                              "(U, 1) and a (1, F) tensor")
        branches = {name: self._branch(model, name, parts, merge.name)
                    for name in (gene_input, condition_input)}
        self.gene_branch = keras.Model(model.input[gene_input], parts[branches[gene_input]])
        self.condition_branch = keras.Model(model.input[condition_input],
                                            parts[branches[condition_input]])
        self._branches = branches  # input name → position among the merged tensors
        self._gene_first = branches[gene_input] == 0
        self._widths = [int(np.prod(t.shape[1:])) for t in parts]
        following = _consumer(model, merge.output)
        if self.mode == "product" and isinstance(following, keras.layers.Flatten):
            following = _consumer(model, following.output)
        if not isinstance(following, keras.layers.Dense):
            raise ConfigError(f"{model.name}: {merge.name!r} must feed exactly one Dense layer")
        self.first_dense = following
        if (optimizer is not None and following.dtype_policy.name == "mixed_float16"
                and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        self.optimizer = optimizer
        self.head = _head_chain(model, self.first_dense)
        self.gene_input, self.condition_input = gene_input, condition_input
        # inference on blocks, traced once per block shape: eager calls cost as much as
        # the training epoch (3.2 s vs 2.8 s per epoch of the demo's TP)
        self._outputs = tf.function(self.block_outputs, reduce_retracing=True)
        # the optimizer's variables built here: in a replica they may not be created, and
        # a step that creates them is traced twice (see recipes.compile_model)
        if optimizer is not None:
            self.optimizer.build(model.trainable_variables)
        self._step = tf.function(self._train_step if strategy is None else
                                 self._distributed_step, reduce_retracing=True)

    @staticmethod
    def _branch(model: keras.Model, name: str, parts: list, merge_layer: str) -> int:
        """Index of the merged tensor that depends on input ``name`` alone."""
        for i, tensor in enumerate(parts):
            try:
                keras.Model(model.input[name], tensor)
            except ValueError:  # graph disconnected: another input feeds this part
                continue
            return i
        raise ConfigError(f"{model.name}: no input of {merge_layer!r} depends on {name!r} alone")

    def _weight(self, variable) -> tf.Tensor:
        """A weight of the first Dense in the layer's compute dtype (as Keras casts it)."""
        return tf.cast(variable, self.first_dense.compute_dtype)

    def _part(self, name: str) -> tf.Tensor:
        """Rows of the first Dense kernel that multiply input ``name``'s branch (concat)."""
        i = self._branches[name]
        start = sum(self._widths[:i])
        return self._weight(self.first_dense.kernel)[start:start + self._widths[i]]

    def _first_dense_outputs(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """Pre-activation of the first Dense for every (gene, condition), (G, C, H)."""
        x, y = self._weight(x), self._weight(y)
        if self.mode == "concat":
            h = (tf.matmul(x, self._part(self.gene_input))[:, None, :]
                 + tf.matmul(y, self._part(self.condition_input))[None, :, :])
        else:  # Flatten(outer(part0, part1)) is row-major: W[i * n1 + j] pairs part0_i part1_j
            kernel = tf.reshape(self._weight(self.first_dense.kernel), (*self._widths, -1))
            if self._gene_first:
                per_gene = tf.einsum("gi,ijh->gjh", x, kernel)
                h = tf.einsum("cj,gjh->gch", y, per_gene)
            else:
                per_gene = tf.einsum("gj,ijh->gih", x, kernel)
                h = tf.einsum("ci,gih->gch", y, per_gene)
        return h + self._weight(self.first_dense.bias) if self.first_dense.use_bias else h

    def block_outputs(self, genes, conditions, training: bool = False) -> tf.Tensor:
        """Model outputs for every pair of a block, shape (G, C) (regression) or
        (G, C, n_classes)."""
        x = self.gene_branch(genes, training=training)
        y = self.condition_branch(conditions, training=training)
        x = tf.reshape(x, (tf.shape(x)[0], -1))
        y = tf.reshape(y, (tf.shape(y)[0], -1))
        h = self._first_dense_outputs(x, y)
        g, c = tf.shape(h)[0], tf.shape(h)[1]
        h = tf.reshape(h, (g * c, h.shape[-1]))
        if self.first_dense.activation is not None:
            h = self.first_dense.activation(h)
        for layer in self.head:
            h = layer(h, training=training)
        return tf.reshape(h, (g, c, -1)) if h.shape[-1] > 1 else tf.reshape(h, (g, c))

    def block_loss(self, genes, conditions, targets, weights) -> tf.Tensor:
        """Weighted MSE over the pairs of one block (0 when no pair has weight) plus the
        model's regularisation losses, in training mode."""
        pred = self.block_outputs(genes, conditions, training=True)
        err = tf.square(tf.cast(targets, pred.dtype) - pred) * weights
        loss = tf.reduce_sum(err) / tf.maximum(tf.reduce_sum(weights), 1.0)
        if self.model.losses:
            loss = loss + tf.add_n([tf.cast(v, loss.dtype) for v in self.model.losses])
        return loss

    def _train_step(self, genes, conditions, targets, weights, replicas: int = 1):
        with tf.GradientTape() as tape:
            loss = self.block_loss(genes, conditions, targets, weights)
            scaled = loss / replicas  # the optimizer sums the replicas' gradients
            if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
                scaled = self.optimizer.scale_loss(scaled)
        variables = self.model.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        return loss

    def _distributed_step(self, genes, conditions, targets, weights):
        """One step of every replica on its block (PerReplica values); the mean loss."""
        n = self.strategy.num_replicas_in_sync
        losses = self.strategy.run(self._train_step, args=(genes, conditions, targets,
                                                            weights, n))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    def _replica_groups(self, blocks: Iterable) -> Iterator[list]:
        """``blocks`` (those with a pair to train on) in groups of one per replica; the
        last group is completed with zero-weight blocks (no gradient)."""
        n = self.strategy.num_replicas_in_sync
        group = []
        for x, y, w in blocks:
            if np.any(w):
                group.append((x, y, w))
            if len(group) == n:
                yield group
                group = []
        if group:
            x, y, w = group[0]
            yield group + [(x, y, np.zeros_like(w))] * (n - len(group))

    def _step_on(self, group: list) -> tf.Tensor:
        """The step of one group of blocks: block i on replica i of the cluster (only the
        local replicas' blocks are used here)."""
        if self.strategy is None:
            x, y, w = group[0]
            return self._step(*self._tensors(x, y, w))

        def value(index: int):
            return self.strategy.experimental_distribute_values_from_function(
                lambda ctx: self._tensors(*group[ctx.replica_id_in_sync_group])[index])

        return self._step(*(value(i) for i in range(4)))

    def _tensors(self, x, y, w) -> tuple[tf.Tensor, ...]:
        return (tf.constant(x[self.gene_input], tf.float32),
                tf.constant(x[self.condition_input], tf.float32),
                tf.constant(y, tf.float32), tf.constant(w, tf.float32))

    def train_epoch(self, blocks: Iterable) -> float:
        """One pass over ``blocks`` of ``(inputs, targets, weights)``.

        Parameters
        ----------
        blocks
            Iterable of ``({gene_input: (G, L, 4), condition_input: (C, R)}, targets (G, C),
            weights (G, C))``; weights are 1 for the pairs to train on, 0 otherwise — as
            yielded by :meth:`kerasgene.datasets.PairsDataset.grouped_batches` or
            :func:`blocks_from_arrays`.

        Returns
        -------
        float
            Mean block loss (NaN when no block had a pair to train on); with a strategy,
            the mean over the steps of the replicas' mean loss.
        """
        if self.strategy is None:
            groups = ([b] for b in blocks if np.any(b[2]))
        else:
            groups = self._replica_groups(blocks)
        losses = [float(self._step_on(group)) for group in groups]
        return float(np.mean(losses)) if losses else math.nan

    def predict_blocks(self, blocks: Iterable) -> tuple[np.ndarray, np.ndarray]:
        """(targets, predictions) of the weighted pairs of ``blocks``, flattened."""
        ys, preds = [], []
        for x, y, w in blocks:
            pred = self._outputs(tf.constant(x[self.gene_input], tf.float32),
                                 tf.constant(x[self.condition_input], tf.float32)).numpy()
            keep = np.asarray(w) > 0
            ys.append(np.asarray(y)[keep])
            preds.append(pred[keep])
        return np.concatenate(ys), np.concatenate(preds)


def factorised_outputs(model: keras.Model, gene_input: str = "sequence",
                       condition_input: str = "regulators"):
    """The factorised ``f(genes, conditions) -> outputs (G, C[, units])`` of a pair model
    (:meth:`FactorizedPairTrainer.block_outputs`: DeepRAGE-C, -TP), or None for a model
    that does not factorise (DeepRAGE-RNN). Not traced."""
    try:
        return FactorizedPairTrainer(model, None, gene_input=gene_input,
                                     condition_input=condition_input).block_outputs
    except ConfigError:
        return None


def pair_outputs(model: keras.Model, gene_input: str = "sequence",
                 condition_input: str = "regulators"):
    """``f(genes, conditions) -> outputs (G, C)`` of a pair model for every gene ×
    condition: the factorised :meth:`FactorizedPairTrainer.block_outputs` where the model
    allows it (DeepRAGE-C, -TP: each promoter through its branch once, not once per
    condition), else the model itself on every pair (DeepRAGE-RNN). Not traced: wrap it
    in ``tf.function`` to call it more than a few times.

    Parameters
    ----------
    genes : (G, L, 4) one-hot promoters; conditions : (C, R) regulator states

    Returns
    -------
    (G, C) tensor (one output unit) or (G, C, units), row-major (gene-major) over the
    pairs, as :meth:`FactorizedPairTrainer.block_outputs`.
    """
    factorised = factorised_outputs(model, gene_input, condition_input)
    if factorised is not None:
        return factorised

    def pairs(genes, conds):
        g, c = tf.shape(genes)[0], tf.shape(conds)[0]
        out = tf.nest.flatten(model({gene_input: tf.repeat(genes, c, axis=0),
                                     condition_input: tf.tile(conds, [g, 1])},
                                    training=False))[0]
        return tf.reshape(out, (g, c) if out.shape[-1] == 1 else (g, c, out.shape[-1]))
    return pairs


def gene_block_outputs(outputs, sequences, genes: np.ndarray, states) -> np.ndarray:
    """``outputs`` (a traced :func:`pair_outputs` or :func:`factorised_outputs`) of the
    promoters ``sequences[genes]`` against every row of ``states``, 64 genes per call
    (only those promoters read).

    Parameters
    ----------
    sequences : (n_genes, L, 4) array-like (a dataset's memory map); genes : (G,) rows of it
    states : (C, R) regulator states

    Returns
    -------
    (G, C) or (G, C, units), gene-major.
    """
    states = tf.constant(np.asarray(states, np.float32))
    return np.concatenate([
        outputs(tf.constant(np.asarray(sequences[genes[a:a + 64]], np.float32)), states).numpy()
        for a in range(0, len(genes), 64)])


def predict_pairs(model: keras.Model, dataset, split) -> tuple[np.ndarray, np.ndarray] | None:
    """(observed, predicted) over the pairs of ``split`` of a DeepRAGE pairs dataset, in
    index order, through the factorised outputs (:func:`factorised_outputs`, traced once):
    each promoter of the split through its branch once, against every condition of the
    split, instead of once per pair. None when the model does not factorise
    (DeepRAGE-RNN): the caller then predicts every pair through the model.

    Parameters
    ----------
    dataset : :class:`kerasgene.datasets.PairsDataset` (inputs ``sequence`` (L, 4) and
        ``regulators`` (R,); pairs ``pair_gene``, ``pair_cond``)
    split : as :meth:`~kerasgene.datasets.Dataset.split_indices`

    Returns
    -------
    observed (N,) as :meth:`~kerasgene.datasets.Dataset.labels`; predicted (N,) (one
    output unit) or (N, units), float32.
    """
    outputs = factorised_outputs(model)
    if outputs is None:
        return None
    idx = dataset.split_indices(split)
    genes, gene_pos = np.unique(np.asarray(dataset.arrays["pair_gene"][idx]), return_inverse=True)
    conds, cond_pos = np.unique(np.asarray(dataset.arrays["pair_cond"][idx]), return_inverse=True)
    every = gene_block_outputs(tf.function(outputs, reduce_retracing=True),
                               dataset.arrays["sequence"], genes,
                               dataset.arrays["regulators"][conds])
    return dataset.labels(idx), every[gene_pos, cond_pos]


def blocks_from_arrays(sequences: np.ndarray, regulators: np.ndarray, targets: np.ndarray,
                       weights: np.ndarray, genes_per_block: int = 32,
                       conditions_per_block: int = 32, seed: int = 0) -> Iterator:
    """Blocks over in-memory arrays, genes and conditions in a seeded random order.

    Parameters
    ----------
    sequences : (n_genes, L, 4); regulators : (n_conditions, R)
    targets, weights : (n_genes, n_conditions)

    Yields
    ------
    ({"sequence": (G, L, 4), "regulators": (C, R)}, targets (G, C), weights (G, C))
    """
    rng = np.random.default_rng(seed)
    genes, conds = rng.permutation(len(sequences)), rng.permutation(len(regulators))
    for i in range(0, len(genes), genes_per_block):
        g = genes[i : i + genes_per_block]
        for j in range(0, len(conds), conditions_per_block):
            c = conds[j : j + conditions_per_block]
            yield ({"sequence": sequences[g], "regulators": regulators[c]},
                   targets[np.ix_(g, c)], weights[np.ix_(g, c)])


#: Files of a :func:`fit_blocks` backup folder: the state after the last epoch, and after
#: the one before (the workers of a killed job may be one epoch apart).
BACKUP_FILE, PREVIOUS_BACKUP_FILE = "block_training.npz", "block_training.previous.npz"


def _save_backup(backup_dir: Path, model, optimizer, best_weights: list, state: dict) -> None:
    """Write the state after an epoch to ``backup_dir/BACKUP_FILE`` in one atomic file
    (the model's and the optimizer's variables, the best weights so far, and ``state`` —
    next epoch, best score, patience counters, history rows — as JSON); the file it
    replaces becomes :data:`PREVIOUS_BACKUP_FILE`."""
    arrays = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"optimizer_{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)})
    arrays.update({f"best_{i}": w for i, w in enumerate(best_weights)})
    path = backup_dir / BACKUP_FILE
    with atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, state=np.array(json.dumps(state)), **arrays)
        if path.exists():
            path.replace(backup_dir / PREVIOUS_BACKUP_FILE)


def _backed_up_epochs(backup_dir: Path | None) -> dict[int, Path]:
    """``{epochs done: file}`` of the backups in ``backup_dir`` (none when missing)."""
    found = {}
    for name in () if backup_dir is None else (PREVIOUS_BACKUP_FILE, BACKUP_FILE):
        path = backup_dir / name
        if path.is_file():
            with np.load(path) as saved:
                found[int(json.loads(str(saved["state"]))["epoch"])] = path
    return found


def _load_backup(path: Path, model, optimizer) -> tuple[list, dict]:
    """Restore the model's and optimizer's variables from a :func:`_save_backup` file;
    returns ``(best_weights, state)``."""
    with np.load(path) as saved:
        def arrays(prefix: str) -> list[np.ndarray]:
            n = sum(k.startswith(prefix) for k in saved.files)
            return [saved[f"{prefix}{i}"] for i in range(n)]

        state = json.loads(str(saved["state"]))
        model.set_weights(arrays("weight_"))
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        for variable, value in zip(optimizer.variables, arrays("optimizer_"), strict=True):
            variable.assign(value)
        return arrays("best_"), state


def fit_blocks(model, dataset, tcfg: dict, genes_per_block: int, conditions_per_block: int,
               out_dir: Path, seed: int, strategy: tf.distribute.Strategy | None = None,
               backup_dir: Path | None = None) -> None:
    """Train ``model`` (DeepRAGE-C or -TP) on gene × condition blocks of ``dataset`` with
    the resolved training settings ``tcfg`` (:func:`kerasgene.train.recipes.resolve_training`),
    doing by hand what :func:`kerasgene.train.recipes.make_callbacks` does for ``fit``:
    learning rate ×0.5 after ``reduce_lr_patience`` epochs without a better validation
    R², early stopping after ``patience``, best weights restored; a training loss that is
    not finite raises :func:`kerasgene.train.recipes.diverged`. Writes
    ``out_dir/history.csv``. ``strategy``: the one the model was built under (called
    inside its scope; :class:`FactorizedPairTrainer`); every process validates on all
    blocks, so that all take the same decisions. ``backup_dir``: as Keras'
    ``BackupAndRestore`` does for ``fit``, the state after every epoch is kept there
    (weights, optimizer, schedule and history; :data:`BACKUP_FILE`), a restarted call
    resumes after the last saved epoch — with a strategy, the last epoch every process has
    saved (each keeps two) — and the folder is removed when training ends. The shuffles
    are seeded per epoch, so a resumed run sees the blocks it would have."""
    import pandas as pd

    from kerasgene.metrics import regression_metrics
    from kerasgene.train import recipes

    optimizer = recipes.OPTIMIZERS[tcfg["optimizer"]](learning_rate=tcfg["learning_rate"])
    trainer = FactorizedPairTrainer(model, optimizer, strategy=strategy)
    g, c = genes_per_block, conditions_per_block
    # validation (no gradient) on blocks of up to 1,024 conditions: the gene branch runs
    # once per gene instead of once per block of c conditions (the demo's TP: 0.2 s per
    # validation instead of 3.2 s); the scores do not depend on the blocks
    valid_c = max(c, min(len(dataset.conditions), 1024))
    best, best_weights, wait, plateau, rows, start = -np.inf, model.get_weights(), 0, 0, [], 0
    backups = _backed_up_epochs(backup_dir)
    resume = max(backups, default=0)
    if backup_dir is not None:  # the workers resume from the same epoch
        resume = recipes.agreed_epoch(strategy, resume)
    if resume > 0:
        if resume not in backups:
            raise recipes.no_backup_at(backup_dir, resume, sorted(backups))
        log.warning("%s: resuming from the backup of a stopped training", backup_dir)
        best_weights, state = _load_backup(backups[resume], model, trainer.optimizer)
        best, wait, plateau = state["best"], state["wait"], state["plateau"]
        rows, start = state["rows"], state["epoch"]
    for epoch in range(start, tcfg["epochs"]):
        if tcfg["verbose"]:  # Keras-style "Epoch i/n" then one line with the epoch's numbers
            print(f"Epoch {epoch + 1}/{tcfg['epochs']}", flush=True)
        progress = keras.utils.Progbar(1, verbose=tcfg["verbose"], unit_name="epoch",
                                       stateful_metrics=["loss", "val_r2"])
        loss = trainer.train_epoch(dataset.grouped_batches("train", g, c, shuffle=True,
                                                           seed=seed, epoch=epoch))
        lr = float(optimizer.learning_rate.numpy())
        if not math.isfinite(loss):
            raise recipes.diverged(loss, epoch + 1, lr)
        y, pred = trainer.predict_blocks(dataset.grouped_batches("valid", g, valid_c))
        r2 = regression_metrics(y, pred)["r2"]
        rows.append({"epoch": epoch, "learning_rate": lr, "loss": loss, "val_r2": r2})
        progress.update(1, [("loss", loss), ("val_r2", r2)], finalize=True)
        if r2 > best:
            best, best_weights, wait, plateau = r2, model.get_weights(), 0, 0
        else:
            wait, plateau = wait + 1, plateau + 1
            if wait >= tcfg["patience"]:
                break
            if plateau >= tcfg["reduce_lr_patience"]:
                optimizer.learning_rate.assign(max(lr * 0.5, 1e-6))
                plateau = 0
        if backup_dir is not None:
            _save_backup(backup_dir, model, trainer.optimizer, best_weights,
                         {"epoch": epoch + 1, "best": best, "wait": wait,
                          "plateau": plateau, "rows": rows})
    model.set_weights(best_weights)
    pd.DataFrame(rows).to_csv(out_dir / "history.csv", index=False)
    if backup_dir is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)
