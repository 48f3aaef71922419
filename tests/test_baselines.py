"""The common contract of every baseline (scikit-learn estimator_checks style)."""

import numpy as np
import pytest

from kerasgene.errors import ConfigError
from kerasgene.train.baselines import (
    BASELINES,
    flatten_inputs,
    make_baseline,
    predict,
    run_baselines,
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(240, 3, 2)), "b": rng.normal(size=(240, 4))}
    X = flatten_inputs(x)
    y = X[:, 0] * 2 - X[:, 7] + 0.1 * rng.normal(size=240)
    return X, y


def test_flatten_inputs_concatenates_per_example(data):
    X, _ = data
    assert X.shape == (240, 10) and X.dtype == np.float32


@pytest.mark.parametrize("name", BASELINES)
def test_regression_baseline_learns_signal(name, data):
    X, y = data
    res = run_baselines([name], (X[:180], y[:180]), (X[180:], y[180:]))[name]
    shuffled = run_baselines([name], (X[:180], np.random.default_rng(1).permutation(y[:180])),
                             (X[180:], y[180:]))[name]
    assert res["r2"] > 0.5 and res["r2"] > shuffled["r2"] + 0.3


@pytest.mark.parametrize("name", ["ridge", "random_forest", "xgboost"])
def test_classification_baseline(name, data):
    X, y = data
    labels = (y > np.median(y)).astype(int)
    est = make_baseline(name, classification=True).fit(X[:180], labels[:180])
    proba = predict(est, X[180:], classification=True)
    assert proba.shape == (60, 2)
    assert (proba.argmax(1) == labels[180:]).mean() > 0.75


def test_unknown_baseline():
    with pytest.raises(ConfigError, match="unknown baseline 'svm'"):
        make_baseline("svm")


@pytest.mark.parametrize("name", ["ridge", "random_forest", "xgboost"])
def test_a_class_missing_from_the_training_sample_keeps_the_class_columns(name, data, caplog):
    """Three classes; the baselines' training sample (a capped subsample) holds classes 1
    and 2 only. Their scores were read as classes 0 and 1 (ridge: accuracy 0.082 where its
    own predict gave 0.84, a 2 × 2 confusion matrix) and XGBoost raised; now the columns
    are the task's classes, class 0 is predicted nowhere, with a warning."""
    X, y = data
    labels = np.digitize(y, np.quantile(y, [0.1, 0.55]))  # 0 (10 %), 1, 2
    train = labels[:180] > 0
    with caplog.at_level("WARNING"):
        res = run_baselines([name], (X[:180][train], labels[:180][train]),
                            (X[180:], labels[180:]), classification=True, n_classes=3)[name]
    assert "holds no example of class 0 (of 3" in caplog.text
    assert np.asarray(res["confusion"]).shape == (3, 3)
    assert np.asarray(res["confusion"])[:, 0].sum() == 0  # never predicted
    est = make_baseline(name, classification=True).fit(X[:180][train], labels[:180][train] - 1)
    own = est.predict(X[180:]).ravel() + 1  # the estimator's own calls, as task classes
    assert res["accuracy"] == pytest.approx(float((own == labels[180:]).mean()))
    assert res["accuracy"] > 0.6


def test_a_training_sample_of_one_class_fits_no_classifier(data, caplog):
    X, y = data
    with caplog.at_level("WARNING"):
        res = run_baselines(["ridge", "xgboost"], (X[:50], np.ones(50, int)),
                            (X[180:], (y[180:] > 0).astype(int)), classification=True)
    assert res["ridge"] == res["xgboost"] == {
        "undefined": "its training sample of 50 examples holds class [1] only; a classifier "
                     "needs two", "n": 60}
    assert "baselines: not fitted" in caplog.text
