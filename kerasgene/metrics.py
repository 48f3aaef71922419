"""Scores of predictions: R², Pearson and Spearman correlation, MSE.

One definition of each, used by the training loop's evaluation, the simulator's noise
ceilings, the baselines and the tuning tables. R² of a constant target is undefined and
returned as NaN (never silently 0 or 1).
"""

from __future__ import annotations

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
    """R², Pearson r, Spearman ρ and MSE of flattened predictions."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    resid = np.sum((y_true - y_pred) ** 2)
    constant = np.std(y_pred) == 0 or np.std(y_true) == 0
    return {
        "r2": r2_score(y_true, y_pred),
        "pearson": float("nan") if constant else float(stats.pearsonr(y_true, y_pred)[0]),
        "spearman": float("nan") if constant else float(stats.spearmanr(y_true, y_pred)[0]),
        "mse": float(resid / len(y_true)),
        "n": int(len(y_true)),
    }


def classification_metrics(y_true, proba) -> dict:
    """Accuracy, AUROC/AUPRC (binary, or one-vs-rest macro) and the confusion matrix."""
    from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

    y_true = np.asarray(y_true).astype(int).ravel()
    proba = np.asarray(proba, dtype=np.float64).reshape(len(y_true), -1)
    n_classes = proba.shape[1]
    pred = proba.argmax(axis=1)
    out = {"accuracy": float((pred == y_true).mean()), "n": int(len(y_true)),
           "confusion": confusion_matrix(y_true, pred, labels=list(range(n_classes))).tolist()}
    present = np.unique(y_true)
    if len(present) == n_classes:
        if n_classes == 2:
            out["auroc"] = float(roc_auc_score(y_true, proba[:, 1]))
            out["auprc"] = float(average_precision_score(y_true, proba[:, 1]))
        else:
            onehot = np.eye(n_classes)[y_true]
            out["auroc"] = float(roc_auc_score(onehot, proba, average="macro"))
            out["auprc"] = float(average_precision_score(onehot, proba, average="macro"))
    return out


def evaluate_predictions(y_true, y_pred, classification: bool) -> dict:
    """Metrics for one split, regression or classification."""
    return classification_metrics(y_true, y_pred) if classification else regression_metrics(y_true, y_pred)
