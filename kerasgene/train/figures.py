"""Training figures (matplotlib, written as PNG): loss curves, predicted vs observed,
confusion matrix, and the demo's summary table."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kerasgene._io import write_atomic


def _save(fig, path: Path) -> None:
    try:
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def plot_history(history: pd.DataFrame, path: Path, title: str = "") -> None:
    """Training and validation loss (and the monitored metric) per epoch."""
    metric = next((m for m in ("r2", "accuracy") if f"val_{m}" in history), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(9 if metric else 5, 3.5), squeeze=False)
    epochs = np.arange(1, len(history) + 1)
    ax = axes[0, 0]
    for col, label in (("loss", "training"), ("val_loss", "validation")):
        if col in history:
            ax.plot(epochs, history[col], label=label)
    ax.set(xlabel="epoch", ylabel="loss", title=f"{title} loss".strip())
    ax.legend(frameon=False)
    if metric:
        ax = axes[0, 1]
        for col, label in ((metric, "training"), (f"val_{metric}", "validation")):
            if col in history:
                ax.plot(epochs, history[col], label=label)
        ax.set(xlabel="epoch", ylabel="R²" if metric == "r2" else "accuracy",
               title=f"{title} {'R²' if metric == 'r2' else 'accuracy'}".strip())
        ax.legend(frameon=False)
    fig.tight_layout()
    _save(fig, path)


def plot_scatter(observed, predicted, path: Path, title: str = "",
                 label: str = "log expression") -> None:
    """Predicted vs observed values with the identity line."""
    observed, predicted = np.ravel(observed), np.ravel(predicted)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.scatter(observed, predicted, s=6, alpha=0.5, linewidths=0)
    lo = float(min(observed.min(), predicted.min()))
    hi = float(max(observed.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--", label="y = x")
    ax.set(xlabel=f"observed {label}", ylabel=f"predicted {label}", title=title)
    ax.legend(frameon=False, loc="upper left")
    _save(fig, path)


def plot_confusion(confusion: np.ndarray, path: Path, labels: list[str] | None = None) -> None:
    """Confusion matrix (rows observed, columns predicted) with counts."""
    confusion = np.asarray(confusion)
    n = len(confusion)
    labels = labels or [str(i) for i in range(n)]
    fig, ax = plt.subplots(figsize=(1.2 * n + 2, 1.2 * n + 1.5))
    im = ax.imshow(confusion, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center",
                    color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=labels, yticklabels=labels,
           xlabel="predicted class", ylabel="observed class", title="test confusion matrix")
    fig.colorbar(im, ax=ax, label="examples")
    _save(fig, path)
