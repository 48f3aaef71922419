"""Non-deep baselines on flattened inputs: scikit-learn and XGBoost, one contract.

Every baseline is a scikit-learn estimator (``fit``/``predict``, ``predict_proba`` for
classifiers) built by :func:`make_baseline`, so all are trained and scored the same way
on the same split (:func:`run_baselines`).

=================  ==========================================================================
name               estimator (paper)
=================  ==========================================================================
ridge              RidgeCV / LogisticRegression (the linear baseline every task reports)
random_forest      RandomForest, 100 trees (iSEGnet)
random_forest_200  RandomForest, 200 trees (iSEGnet)
svr_rbf            SVR(rbf), GridSearchCV 5-fold over C (iSEGnet)
svr_linear         SVR(linear), GridSearchCV 5-fold over C (iSEGnet)
nusvr_rbf          NuSVR(rbf), GridSearchCV 5-fold over nu, C (iSEGnet)
xgboost            XGBRegressor (RMSE) / XGBClassifier (binary:hinge, scored by its margin;
                   with more than two classes XGBoost's multi:softprob, scored by its
                   probabilities) (chromatin imputation)
=================  ==========================================================================

A classifier is fitted on the classes its training sample holds (numbered 0 … m−1 for
XGBoost) and its scores are put back in the columns of the task's classes: a class its
sample lacks (a rare class missed by ``baseline_max_examples``) is predicted nowhere,
with a warning; a sample of one class fits no classifier (its metrics say why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np

from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)

BASELINES = ("ridge", "random_forest", "random_forest_200", "svr_rbf", "svr_linear",
             "nusvr_rbf", "xgboost")


def make_baseline(name: str, classification: bool = False, seed: int = 0):
    """A fresh, unfitted estimator for baseline ``name`` (see the module table)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR, NuSVR

    if name not in BASELINES:
        raise ConfigError(f"baselines: unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")
    grid = {"cv": 5, "n_jobs": 1}
    if name == "ridge":
        if classification:
            return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 5, 15)))
    if name.startswith("random_forest"):
        trees = 200 if name.endswith("200") else 100
        cls = RandomForestClassifier if classification else RandomForestRegressor
        return cls(n_estimators=trees, n_jobs=-1, random_state=seed, max_features="sqrt")
    if name == "xgboost":
        import xgboost as xgb

        if classification:
            return xgb.XGBClassifier(objective="binary:hinge", n_estimators=200, max_depth=6,
                                     learning_rate=0.1, random_state=seed, n_jobs=2)
        return xgb.XGBRegressor(objective="reg:squarederror", eval_metric="rmse", n_estimators=200,
                                max_depth=6, learning_rate=0.1, random_state=seed, n_jobs=2)
    if classification:
        kernel = "linear" if name == "svr_linear" else "rbf"
        return make_pipeline(StandardScaler(), GridSearchCV(
            SVC(kernel=kernel, probability=True, random_state=seed), {"C": [0.1, 1, 10]}, **grid))
    if name == "nusvr_rbf":
        return make_pipeline(StandardScaler(), GridSearchCV(
            NuSVR(kernel="rbf"), {"nu": [0.25, 0.5, 0.75], "C": [0.1, 1, 10]}, **grid))
    kernel = "linear" if name == "svr_linear" else "rbf"
    return make_pipeline(StandardScaler(), GridSearchCV(SVR(kernel=kernel), {"C": [0.1, 1, 10]}, **grid))


def flatten_inputs(inputs: dict[str, np.ndarray] | np.ndarray) -> np.ndarray:
    """Concatenate every input, flattened per example, into one (N, features) float32 matrix."""
    if isinstance(inputs, dict):
        parts = [np.asarray(v, dtype=np.float32).reshape(len(v), -1) for v in inputs.values()]
        return np.concatenate(parts, axis=1)
    return np.asarray(inputs, dtype=np.float32).reshape(len(inputs), -1)


def predict(estimator, X: np.ndarray, classification: bool,
            classes: np.ndarray | None = None, n_classes: int = 2) -> np.ndarray:
    """Predictions (regression) or class scores (classification), (N, n_classes) whose
    argmax is the predicted class: class probabilities, or for XGBoost's ``binary:hinge``
    (which has none) the margins ``[−m, m]`` — the class is 1 ⇔ m > 0, and AUROC /
    AUPRC rank the examples by m (hard 0 / 1 labels would leave them one threshold).

    ``classes``: the task's class of each of the estimator's (it was fitted on labels
    0 … m−1, :func:`run_baselines`; default: the estimator's own ``classes_``); their
    scores go to those columns of the ``n_classes`` ones, a class the estimator never saw
    scoring below every other."""
    if not classification:
        return estimator.predict(X)
    if _is_hinge(estimator):
        margin = np.asarray(estimator.predict(X, output_margin=True), np.float64)
        fitted = np.stack([-margin, margin], axis=1)
    else:
        fitted = np.asarray(estimator.predict_proba(X), np.float64)
    classes = np.asarray(estimator.classes_ if classes is None else classes, np.int64)
    n_classes = max(int(n_classes), int(classes.max()) + 1)
    if len(classes) == n_classes and (classes == np.arange(n_classes)).all():
        return fitted
    out = np.full((len(fitted), n_classes), fitted.min() - 1.0)
    out[:, classes] = fitted
    return out


def _is_hinge(estimator) -> bool:
    return getattr(estimator, "objective", "") == "binary:hinge"


def run_baselines(
    names: Iterable[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    classification: bool = False,
    seed: int = 0,
    n_classes: int = 2,
) -> dict[str, dict]:
    """Fit each baseline on ``train`` and score it on ``test`` with the deep models' metrics.

    Parameters
    ----------
    names
        Baseline names (module table).
    train
        (X, y) with X of shape (N, features) — see :func:`flatten_inputs`.
    test
        (X, y) likewise, or a function returning an iterator over (X, y) chunks of the
        test rows (called once per baseline; the whole test split scored without holding
        it in memory at once).
    classification, n_classes
        A class target and the task's number of classes (labels 0 … n_classes − 1).

    Returns
    -------
    dict
        name → metrics dict (:func:`kerasgene.metrics.evaluate_predictions`, with
        ``n_train``, the examples it was fitted on); a classifier whose training sample
        holds one class: ``{"undefined": why, "n": ...}``.
    """
    from kerasgene.metrics import evaluate_predictions

    chunks = (lambda: iter([test])) if isinstance(test, tuple) else test
    y = np.asarray(train[1]).ravel()
    classes = np.unique(y).astype(np.int64) if classification else None
    if classification:
        missing = sorted(set(range(n_classes)) - set(classes.tolist()))
        if len(classes) < 2:
            why = (f"its training sample of {len(y)} examples holds class "
                   f"{classes.tolist()} only; a classifier needs two")
            log.warning("baselines: not fitted: %s", why)
            n = sum(len(yt) for _, yt in chunks())
            return {name: {"undefined": why, "n": int(n)} for name in names}
        if missing:
            log.warning("baselines: their training sample of %d examples holds no example of "
                        "class %s (of %d; training.baseline_max_examples sampled them): they "
                        "predict it nowhere", len(y), ", ".join(map(str, missing)), n_classes)
        y = np.searchsorted(classes, y)  # 0 … m−1, as XGBoost requires
    results = {}
    for name in names:
        est = make_baseline(name, classification, seed)
        log.info("fitting baseline %s on %d examples × %d features", name, *train[0].shape)
        est.fit(train[0], y)
        observed, predicted = zip(*((yt, predict(est, X, classification, classes, n_classes))
                                    for X, yt in chunks()))
        results[name] = {**evaluate_predictions(np.concatenate(observed),
                                                np.concatenate(predicted), classification),
                         "n_train": int(len(y))}
    return results
