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

import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

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
        A Keras optimizer (the paper: SGD, learning rate 0.01).
    merge_layer
        Name of the merge layer; by default ``"concat"``, else ``"product"``.

    Attributes
    ----------
    optimizer
        ``optimizer``, or a ``LossScaleOptimizer`` around it for a ``mixed_float16`` model.
    """

    def __init__(self, model: keras.Model, optimizer: keras.optimizers.Optimizer, *,
                 gene_input: str = "sequence", condition_input: str = "regulators",
                 merge_layer: str | None = None):
        self.model = model
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
        if (following.dtype_policy.name == "mixed_float16"
                and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer)):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        self.optimizer = optimizer
        self.head = _head_chain(model, self.first_dense)
        self.gene_input, self.condition_input = gene_input, condition_input
        self._step = tf.function(self._train_step, reduce_retracing=True)

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

    def _train_step(self, genes, conditions, targets, weights):
        with tf.GradientTape() as tape:
            pred = self.block_outputs(genes, conditions, training=True)
            err = tf.square(tf.cast(targets, pred.dtype) - pred) * weights
            loss = tf.reduce_sum(err) / tf.maximum(tf.reduce_sum(weights), 1.0)
            if self.model.losses:
                loss = loss + tf.add_n([tf.cast(v, loss.dtype) for v in self.model.losses])
            scaled = (self.optimizer.scale_loss(loss)
                      if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer) else loss)
        variables = self.model.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        return loss

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
            Mean block loss (NaN when no block had a pair to train on).
        """
        losses = []
        for x, y, w in blocks:
            if not np.any(w):
                continue
            loss = self._step(tf.constant(x[self.gene_input], tf.float32),
                              tf.constant(x[self.condition_input], tf.float32),
                              tf.constant(y, tf.float32), tf.constant(w, tf.float32))
            losses.append(float(loss))
        return float(np.mean(losses)) if losses else math.nan

    def predict_blocks(self, blocks: Iterable) -> tuple[np.ndarray, np.ndarray]:
        """(targets, predictions) of the weighted pairs of ``blocks``, flattened."""
        ys, preds = [], []
        for x, y, w in blocks:
            pred = self.block_outputs(tf.constant(x[self.gene_input], tf.float32),
                                      tf.constant(x[self.condition_input], tf.float32)).numpy()
            keep = np.asarray(w) > 0
            ys.append(np.asarray(y)[keep])
            preds.append(pred[keep])
        return np.concatenate(ys), np.concatenate(preds)


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


def fit_blocks(model, dataset, tcfg: dict, genes_per_block: int, conditions_per_block: int,
               out_dir: Path, seed: int) -> None:
    """Train ``model`` (DeepRAGE-C or -TP) on gene × condition blocks of ``dataset`` with
    the resolved training settings ``tcfg`` (:func:`kerasgene.train.recipes.resolve_training`),
    doing by hand what :func:`kerasgene.train.recipes.make_callbacks` does for ``fit``:
    learning rate ×0.5 after ``reduce_lr_patience`` epochs without a better validation
    R², early stopping after ``patience``, best weights restored. Writes
    ``out_dir/history.csv``."""
    import pandas as pd

    from kerasgene.metrics import regression_metrics
    from kerasgene.train import recipes

    optimizer = recipes.OPTIMIZERS[tcfg["optimizer"]](learning_rate=tcfg["learning_rate"])
    trainer = FactorizedPairTrainer(model, optimizer)
    g, c = genes_per_block, conditions_per_block
    best, best_weights, wait, plateau, rows = -np.inf, model.get_weights(), 0, 0, []
    for epoch in range(tcfg["epochs"]):
        if tcfg["verbose"]:  # Keras-style "Epoch i/n" then one line with the epoch's numbers
            print(f"Epoch {epoch + 1}/{tcfg['epochs']}", flush=True)
        progress = keras.utils.Progbar(1, verbose=tcfg["verbose"], unit_name="epoch",
                                       stateful_metrics=["loss", "val_r2"])
        loss = trainer.train_epoch(dataset.grouped_batches("train", g, c, shuffle=True,
                                                           seed=seed, epoch=epoch))
        y, pred = trainer.predict_blocks(dataset.grouped_batches("valid", g, c))
        r2 = regression_metrics(y, pred)["r2"]
        lr = float(optimizer.learning_rate.numpy())
        rows.append({"epoch": epoch, "learning_rate": lr, "loss": loss, "val_r2": r2})
        progress.update(1, [("loss", loss), ("val_r2", r2)], finalize=True)
        if r2 > best:
            best, best_weights, wait, plateau = r2, model.get_weights(), 0, 0
            continue
        wait, plateau = wait + 1, plateau + 1
        if wait >= tcfg["patience"]:
            break
        if plateau >= tcfg["reduce_lr_patience"]:
            optimizer.learning_rate.assign(max(lr * 0.5, 1e-6))
            plateau = 0
    model.set_weights(best_weights)
    pd.DataFrame(rows).to_csv(out_dir / "history.csv", index=False)
