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
