"""Scores of predictions: R², Pearson and Spearman correlation, MSE.

One definition of each, used by the training loop's evaluation, the simulator's noise
ceilings, the baselines and the tuning tables. R² of a constant target is undefined and
returned as NaN (never silently 0 or 1).
"""

from __future__ import annotations

import numpy as np


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
