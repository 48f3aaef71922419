"""Scores of predictions: R², Pearson and Spearman correlation, MSE; accuracy, AUROC,
AUPRC, precision and recall of classes.

One definition of each, used by the training loop's evaluation, the simulator's noise
ceilings, the baselines and the tuning tables. R² of a constant target is undefined and
returned as NaN (never silently 0 or 1).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination ``1 − SS_res / SS_tot`` over all elements.

    Parameters
    ----------
    y_true, y_pred : arrays of the same shape

    Returns
    -------
    float — NaN when ``y_true`` is constant (SS_tot = 0).
    """
    y = np.asarray(y_true, dtype=np.float64)
    f = np.asarray(y_pred, dtype=np.float64)
    ss_res = float(np.sum((y - f) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """R², Pearson r, Spearman ρ and MSE of flattened predictions; NaN where undefined (a
    constant target or prediction, fewer than two values; MSE of no values)."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    n = len(y_true)
    if n == 0:
        return {"r2": float("nan"), "pearson": float("nan"), "spearman": float("nan"),
                "mse": float("nan"), "n": 0}
    resid = np.sum((y_true - y_pred) ** 2)
    undefined = n < 2 or np.std(y_pred) == 0 or np.std(y_true) == 0
    return {
        "r2": r2_score(y_true, y_pred),
        "pearson": float("nan") if undefined else float(stats.pearsonr(y_true, y_pred)[0]),
        "spearman": float("nan") if undefined else float(stats.spearmanr(y_true, y_pred)[0]),
        "mse": float(resid / n),
        "n": n,
    }


def predicted_classes(pred) -> np.ndarray:
    """The class each prediction decides: the argmax of class probabilities (N, n_classes),
    or ``score > 0`` for one binary score per example ((N,) or (N, 1): a logit or a hinge
    margin).

    Returns
    -------
    (N,) int64
    """
    pred = np.asarray(pred, dtype=np.float64)
    pred = pred.reshape(len(pred), -1)
    if pred.shape[1] == 1:
        return (pred[:, 0] > 0).astype(np.int64)
    return pred.argmax(axis=1)


def classification_metrics(y_true, pred) -> dict:
    """Accuracy, AUROC / AUPRC and the confusion matrix of class predictions.

    Parameters
    ----------
    y_true : (N,) int class labels
    pred : (N, n_classes) class probabilities (or any scores whose argmax is the class),
        or one binary score per example, (N,) or (N, 1): a logit (cross-entropy), a hinge
        margin (hinge loss, XGBoost ``binary:hinge``) — class 1 ⇔ score > 0.

    Returns
    -------
    dict — ``accuracy``, ``n``, ``majority_fraction`` (of the commonest class of
    ``y_true``: the accuracy of predicting it everywhere), ``confusion`` (rows: true
    class, columns: predicted) and,
    when every class occurs in ``y_true``, ``auroc`` and ``auprc`` (average precision;
    binary: of class 1 ranked by its score, multi-class: one-vs-rest macro), else
    ``undefined`` saying why they are absent. AUROC and
    AUPRC are rank statistics, so a logit and its probability give the same values.
    Binary tasks also report ``precision``, ``recall`` and ``f1`` of class 1 and
    ``positive_fraction`` (of ``y_true``).
    """
    from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

    y_true = np.asarray(y_true).astype(int).ravel()
    scores = np.asarray(pred, dtype=np.float64).reshape(len(y_true), -1)
    n_classes = max(2, scores.shape[1])
    positive = scores[:, 0] if scores.shape[1] == 1 else scores[:, -1]
    predicted = predicted_classes(scores)
    out = {"accuracy": float((predicted == y_true).mean()), "n": int(len(y_true)),
           "majority_fraction": float(np.bincount(y_true).max() / len(y_true)) if len(y_true)
           else float("nan"),
           "confusion": confusion_matrix(y_true, predicted, labels=list(range(n_classes))).tolist()}
    if n_classes == 2:
        out.update(_binary_scores(y_true, predicted))
    if len(np.unique(y_true)) == n_classes:
        if n_classes == 2:
            out["auroc"] = float(roc_auc_score(y_true, positive))
            out["auprc"] = float(average_precision_score(y_true, positive))
        else:
            onehot = np.eye(n_classes)[y_true]
            out["auroc"] = float(roc_auc_score(onehot, scores, average="macro"))
            out["auprc"] = float(average_precision_score(onehot, scores, average="macro"))
    else:
        present = ", ".join(map(str, np.unique(y_true)))
        out["undefined"] = (f"auroc, auprc: the labels hold class {present} only, of "
                            f"{n_classes}; a ranking needs every class")
    return out


def _binary_scores(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of class 1 (0 where undefined: nothing predicted or
    present) and the fraction of class 1 in ``y_true``."""
    tp = float(np.sum((predicted == 1) & (y_true == 1)))
    precision = tp / max(1, int(np.sum(predicted == 1)))
    recall = tp / max(1, int(np.sum(y_true == 1)))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "positive_fraction": float(np.mean(y_true == 1))}


def evaluate_predictions(y_true, y_pred, classification: bool) -> dict:
    """Metrics for one split, regression or classification."""
    return classification_metrics(y_true, y_pred) if classification else regression_metrics(y_true, y_pred)


#: The scores :func:`score_line` shows, in order, with their names.
_SHOWN = (("r2", "R²"), ("pearson", "Pearson r"), ("accuracy", "accuracy"), ("auroc", "AUROC"),
          ("auprc", "AUPRC"))


def score_line(metrics: Mapping) -> str:
    """A run's ``metrics.json`` in one line: its test scores, its baselines' scores by the
    first of R², AUPRC and accuracy that the model's test scores hold, and the
    shuffled-label control, e.g. ``test R² 0.568, Pearson r 0.814 (n = 370); baselines'
    R²: ridge 0.567, random_forest 0.744``; ``valid`` where there is no test split. A
    binary task's counts give the positive fraction, against which its accuracy reads
    (5 % positive: 0.95 by predicting no peak anywhere)."""
    split = "test" if "test" in metrics else "valid"
    scores = metrics.get(split) or {}
    shown = [f"{name} {scores[key]:.3f}" for key, name in _SHOWN
             if isinstance(scores.get(key), float)]
    counts = [f"n = {scores['n']}"] if "n" in scores else []
    if isinstance(scores.get("positive_fraction"), float):  # binary: accuracy's baseline
        counts.append(f"{100 * scores['positive_fraction']:.1f} % positive")
    elif isinstance(scores.get("majority_fraction"), float):  # multi-class: the same
        counts.append(f"commonest class {100 * scores['majority_fraction']:.1f} %")
    line = f"{split} " + (", ".join(shown) or "not scored") + (
        f" ({', '.join(counts)})" if counts else "")
    key = next((k for k in ("r2", "auprc", "accuracy") if isinstance(scores.get(k), float)),
               None)
    line += _baseline_part(metrics.get("baselines") or {}, key, scores.get("n"))
    controls = metrics.get("controls") or {}
    mean, sd = (controls.get(k) or {} for k in ("shuffled", "shuffled_sd"))
    if isinstance(mean.get(key), float):
        several = len(controls.get("shuffled_runs") or [None, None]) > 1
        line += f"; shuffled labels {mean[key]:.3f}" + (
            f" ± {sd[key]:.3f}" if several and isinstance(sd.get(key), float) else "")
    return line


def _baseline_part(baselines: Mapping, key: str | None, n: int | None) -> str:
    """``"; baselines' R²: ridge 0.567, …"`` of :func:`score_line`: a baseline without the
    score (undefined on its test sample) says so; test examples other than the model's
    (a run of a version that scored baselines on a sample of them) are counted."""
    parts = [f"{name} {got[key]:.3f}" if isinstance(got.get(key), float) else f"{name} undefined"
             for name, got in baselines.items()]
    if not parts or key is None:
        return ""
    other = {got.get("n") for got in baselines.values()} - {n, None}
    on = f" (on {', '.join(map(str, sorted(other)))} test examples)" if other else ""
    return f"; baselines' {dict(_SHOWN)[key]}{on}: " + ", ".join(parts)
