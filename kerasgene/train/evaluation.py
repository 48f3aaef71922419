"""A trained model's predictions and scores on a split of its dataset: ``predictions.tsv``,
``metrics.json``'s model scores and the plots of a run (:mod:`kerasgene.train.runs`)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kerasgene.metrics import evaluate_predictions, predicted_classes, regression_metrics

log = logging.getLogger(__name__)


def is_classification(dataset) -> bool:
    """True when the dataset's selected target is a class label."""
    return dataset.target_name == "class"


def check_split_classes(dataset, splits=("train", "valid", "test")) -> None:
    """The classes of each split of a class target, before training: a training split
    of one class is a ConfigError (nothing to learn); a class absent from a split is a
    warning naming the split, the class and every class's count — a class the training
    split lacks is one the model never learns, and its test examples count as errors in
    an accuracy that otherwise looks like any other (a DeepRAGE unseen-condition split
    without ``up`` pairs trained and scored without a word).

    Raises
    ------
    ConfigError
        the training split holds one class (or none).
    """
    from kerasgene.errors import ConfigError, shown

    n_classes = int(dataset.meta.get("n_classes", 2))
    names = list(dataset.meta.get("class_names") or [])
    label = [f"{k} ({names[k]})" if len(names) == n_classes else str(k)
             for k in range(n_classes)]
    counts = {split: np.bincount(dataset.labels(split).astype(np.int64), minlength=n_classes)
              for split in splits if len(dataset.split_indices(split))}
    train = counts.get("train")
    if train is not None and (train > 0).sum() < 2:
        raise ConfigError(f"split.train: its {int(train.sum())} examples hold class "
                          f"{shown([label[k] for k in np.flatnonzero(train)])} only; a "
                          "classifier has nothing to learn (counts per class: "
                          f"{', '.join(map(str, train.tolist()))})")
    for split, got in counts.items():
        per_class = ", ".join(map(str, got.tolist()))
        absent = np.flatnonzero(got == 0)
        if len(absent):
            never = ": the model never learns to predict it" if split == "train" else ""
            log.warning("split.%s: no example of class %s (examples per class: %s)%s", split,
                        shown([label[k] for k in absent]), per_class, never)
        unlearned = [] if train is None or split == "train" else \
            [k for k in np.flatnonzero(got) if train[k] == 0]
        if unlearned:
            log.warning("split.%s: %d of its %d examples are of class %s, which the training "
                        "split lacks: the model never predicts it (examples per class: %s)",
                        split, sum(int(got[k]) for k in unlearned), int(got.sum()),
                        shown([label[k] for k in unlearned]), per_class)


def predict_split(model, dataset, split, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(observed, predicted) over a split, in index order; predictions are the model's
    single output (class probabilities for classifiers). DeepRAGE-C and -TP pairs go
    through the factorised outputs (:func:`kerasgene.train.block_trainer.predict_pairs`)."""
    from kerasgene.models.inference import predictor

    if "pair_gene" in dataset.arrays:
        from kerasgene.train.block_trainer import predict_pairs

        got = predict_pairs(model, dataset, split)
        if got is not None:
            return got
    infer = predictor(model)  # traced once; model.predict's per-call set-up skipped
    ys, preds = [], []
    for batch in dataset.to_tf_dataset(split, batch_size, weights=False):
        x, y = batch[0], batch[1]
        out = infer(x)
        out = next(iter(out.values())) if isinstance(out, dict) else out
        ys.append(np.asarray(y))
        preds.append(np.asarray(out))
    pred = np.concatenate(preds)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    return np.concatenate(ys), pred


def predict_metrics(model, dataset, split: str) -> dict:
    """Metrics of ``model`` on one split."""
    y, pred = predict_split(model, dataset, split)
    return evaluate_predictions(y, pred, is_classification(dataset))


def nonzero_target_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    """:func:`~kerasgene.metrics.regression_metrics` over the targets that are not 0 — what
    a model trained with the masked MSE (zero targets weighed 0) was trained on — with
    ``n_zero``, the targets left out. ``y`` and ``pred`` are of one
    shape ((N,) or (N, L))."""
    y, pred = np.asarray(y).reshape(-1), np.asarray(pred).reshape(-1)
    keep = y != 0
    return {**regression_metrics(y[keep], pred[keep]), "n_zero": int((~keep).sum())}


def zero_targets_masked(dataset) -> bool:
    """True when training weighs the dataset's targets of 0 by 0 (the chromatin dataset's
    ``mask_zero_targets``, the paper's masked MSE) — a regression target only."""
    params = dataset.meta.get("params") or {}
    return bool(params.get("mask_zero_targets")) and not is_classification(dataset)


def _bin_table(dataset, idx: np.ndarray):
    """predictions.tsv's first columns for genome-bin examples ``idx``: ``example``,
    ``chrom``, ``start``, ``end`` (the bin, 0-based half-open, clipped at the chromosome's
    end)."""
    import pandas as pd

    chrom, k = dataset.positions(idx)
    size = int(dataset.meta["params"]["bin_size"])
    lengths = np.asarray(dataset.meta["chrom_lengths"], np.int64)[chrom]
    return pd.DataFrame({"example": idx, "chrom": np.asarray(dataset.meta["chroms"])[chrom],
                         "start": k * size, "end": np.minimum((k + 1) * size, lengths)})


def _class_labels(dataset, n: int) -> list[str]:
    """The dataset's ``class_names`` (spaces as ``_``), else the class ids 0 … n − 1."""
    names = dataset.meta.get("class_names")
    if names and len(names) == n:
        return [str(x).replace(" ", "_") for x in names]
    return [str(j) for j in range(n)]


def evaluate_model(model, dataset, out: Path) -> dict:
    """Test/valid metrics, predictions.tsv and the plots of a trained model.

    Every example is scored. Where training skipped targets of 0
    (:func:`zero_targets_masked`) each split's metrics also hold ``nonzero_targets``
    (:func:`nonzero_target_metrics`: the scores over the targets it trained on), and the
    count of zero targets is logged."""
    import pandas as pd

    from kerasgene.train import figures

    classification = is_classification(dataset)
    metrics = {"model": model.name, "params": int(model.count_params())}
    for split in ("valid", "test"):
        if not len(dataset.split_indices(split)):
            continue
        y, pred = predict_split(model, dataset, split)
        metrics[split] = evaluate_predictions(y, pred, classification)
        if zero_targets_masked(dataset):
            metrics[split]["nonzero_targets"] = nonzero_target_metrics(y, pred)
            log.info("%s: %d of %d %s targets are 0 (weighed 0 in training: mask_zero_targets): "
                     "scored in metrics.json's %s, left out of its %s.nonzero_targets",
                     out, metrics[split]["nonzero_targets"]["n_zero"], np.size(y), split,
                     split, split)
        if split == "test":
            idx = dataset.split_indices("test")
            if len(dataset.index) == dataset.n_examples:  # one index row per example
                table = dataset.index.iloc[idx].reset_index(drop=True).copy()
            else:  # genome bins: the index lists chromosome segments
                table = _bin_table(dataset, idx)
            table["observed"] = y
            if classification:
                table["predicted"] = predicted_classes(pred)
                if pred.ndim == 1:  # a binary score: keep it for thresholds of one's own
                    table["score"] = pred
                else:  # class probabilities: for AUROC / AUPRC and thresholds of one's own
                    for j, name in enumerate(_class_labels(dataset, pred.shape[1])):
                        table[f"p_{name}"] = pred[:, j]
            else:
                table["predicted"] = pred
            table.to_csv(out / "predictions.tsv", sep="\t", index=False)
            if classification:
                figures.plot_confusion(np.array(metrics[split]["confusion"]), out / "confusion.png",
                                       dataset.meta.get("class_names"))
            else:
                figures.plot_scatter(y, pred, out / "predicted_vs_observed.png",
                                    title=f"{model.name}: test R² = {metrics[split]['r2']:.3f}")
    for hist in sorted(out.glob("**/history.csv")):
        if "control_shuffled" in hist.relative_to(out).parts:
            continue
        figures.plot_history(pd.read_csv(hist), hist.with_name("loss.png"), title=hist.parent.name)
    return metrics
