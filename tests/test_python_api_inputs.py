"""What the Python API does with a notebook user's inputs: example indices of a dataset
(masks, scalars, split names, floats), model inputs of predict / integrated gradients /
saliency (a missing batch axis, NaN, strings, lists, the list order), class targets of a
regression output, and numpy numbers as hyperparameters."""

from __future__ import annotations

import numpy as np
import pytest

from kerasgene.datasets import Dataset
from kerasgene.errors import ConfigError
from kerasgene.explain import integrated_gradients
from kerasgene.explain.saliency import saliency
from kerasgene.models import build
from kerasgene.models.inference import predict

L = 60  # window of the tiny model


@pytest.fixture(scope="module")
def dataset(small_isegnet_dataset):
    return Dataset.open(small_isegnet_dataset)


@pytest.fixture(scope="module")
def model():
    return build("isegnet", seq_len=L, k1=4, pointwise_filters=4, merge_filters=6,
                 dense_units=(8,))


@pytest.fixture(scope="module")
def x():
    rng = np.random.default_rng(0)
    return {"sequence": np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3, L))],
            "epigenome": rng.random((3, L, 7), dtype=np.float32)}


def test_a_boolean_mask_selects_the_examples_where_it_is_true(dataset):
    test = dataset.split_indices("test")
    mask = dataset.index["split"] == "test"  # a pandas Series, as a notebook writes it
    np.testing.assert_array_equal(dataset.split_indices(mask), test)
    np.testing.assert_array_equal(dataset.labels(mask), dataset.labels("test"))
    got, want = dataset.gather(mask.to_numpy()), dataset.gather(test)
    np.testing.assert_array_equal(got["epigenome"], want["epigenome"])
    np.testing.assert_array_equal(dataset.gather(test[:3].astype(float))["target"],
                                  want["target"][:3])


@pytest.mark.parametrize(("idx", "message"), [
    (lambda n: 5, "expected a 1-D sequence of example indices, got a scalar; for one "
                  r"example pass \[5\]"),
    (lambda n: [1.5, 2.0], r"expected integer example indices, got float64 values \(1.5\)"),
    (lambda n: [-1], r"1 index\(es\) outside \[0, {n}\) \(-1\)"),
    (lambda n: [0, n], r"1 index\(es\) outside \[0, {n}\) \({n}\)"),
    (lambda n: np.ones(3, bool), "a boolean mask of 3 values; expected one per example of the "
                                 r"dataset \({n}\)"),
])
def test_example_indices_that_name_no_example_are_refused(dataset, idx, message):
    n = dataset.n_examples
    message = message.format(n=n)
    with pytest.raises(ConfigError, match=f"^idx: {message}"):
        dataset.gather(idx(n))
    with pytest.raises(ConfigError, match=f"^split: {message}"):
        dataset.split_indices(idx(n))


def test_a_split_name_is_not_taken_for_indices(dataset):
    with pytest.raises(ConfigError, match=r"^idx: expected example indices, got the string "
                                          r"'test'; for the examples of a split pass "
                                          r"split_indices\('test'\)"):
        dataset.gather("test")


def test_lists_and_float64_inputs_give_the_array_predictions(model, x):
    want = predict(model, x)["expression"]
    as_lists = {k: v.tolist() for k, v in x.items()}
    np.testing.assert_allclose(predict(model, as_lists)["expression"], want, rtol=1e-6)
    wide = {k: v.astype(np.float64) for k, v in x.items()}
    np.testing.assert_allclose(integrated_gradients(model, wide, n_steps=4).output_x,
                               want[:, 0], rtol=1e-5)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda x: {k: v[0] for k, v in x.items()},
     r"input 'epigenome' has shape \(60, 7\), expected \(n, 60, 7\); one example needs a "
     r"batch axis: x\[None\]"),
    (lambda x: {**x, "epigenome": np.where(x["epigenome"] > 0.5, np.nan, x["epigenome"])},
     r"input 'epigenome': \d+ NaN or infinite value\(s\), the first nan at \[0, \d+, \d+\]; "
     "expected finite numbers"),
    (lambda x: {**x, "sequence": np.array(["ACGT" * 15] * 3)},
     r"input 'sequence': <U60 values \(e.g. 'ACGTACGTACGTACGTACGT...'\), expected numbers"),
    (lambda x: [x["sequence"], x["epigenome"]],
     r"input 'epigenome' has shape \(3, 60, 4\), expected \(n, 60, 7\) \(a list is read in "
     r"the order \['epigenome', 'sequence'\]\)"),
    (lambda x: {"seqeunce": x["sequence"], "epigenome": x["epigenome"]},
     r"inputs lack \['sequence'\] \(given: \['seqeunce', 'epigenome'\]\)"),
    (lambda x: {k: v[:, :50] for k, v in x.items()},
     r"input 'epigenome' has shape \(3, 50, 7\), expected \(n, 60, 7\)$"),
])
@pytest.mark.parametrize("call", ["predict", "integrated_gradients", "saliency"])
def test_model_inputs_are_checked_before_tensorflow_sees_them(model, x, edit, message, call):
    run = {"predict": lambda i: predict(model, i),
           "integrated_gradients": lambda i: integrated_gradients(model, i, n_steps=4),
           "saliency": lambda i: saliency(model, i)}[call]
    with pytest.raises(ConfigError, match=f"^model 'isegnet': {message}"):
        run(edit(x))


def test_predict_of_no_examples_is_refused(model, x):
    with pytest.raises(ConfigError, match=r"no examples to predict \(inputs of shape "
                                          r"\(0, 60, 7\)\)"):
        predict(model, {k: v[:0] for k, v in x.items()})


def test_a_class_target_of_a_regression_output_is_refused(model, x):
    message = ("target: output 'expression' of model 'isegnet' is one unit without a sigmoid "
               r"\(its last layer 'expression' is Activation relu\), not a classifier")
    for target in (0, 1, "argmax"):
        with pytest.raises(ConfigError, match=message):
            integrated_gradients(model, x, n_steps=4, target=target)
    with pytest.raises(ConfigError, match=message):
        saliency(model, x, target=0)


def test_a_class_outside_the_outputs_classes_is_refused(x):
    clf = build("isegnet", task="classification", seq_len=L, k1=4, pointwise_filters=4,
                merge_filters=6, dense_units=(8,))
    assert integrated_gradients(clf, x, n_steps=4, target=1).output_x.shape == (3,)
    with pytest.raises(ConfigError, match=r"target: class 2 of output 'class_probabilities' of "
                                          r"model 'isegnet', which has 2 classes"):
        integrated_gradients(clf, x, n_steps=4, target=2)


def test_numpy_numbers_are_hyperparameters_like_pythons():
    a = build("isegnet", seq_len=L, k1=np.int64(4), dropout=np.float32(0.25),
              l2=np.float64(1e-3), dense_units=(8,))
    b = build("isegnet", seq_len=L, k1=4, dropout=0.25, l2=1e-3, dense_units=(8,))
    assert a.count_params() == b.count_params()
    with pytest.raises(ConfigError, match=r"isegnet: k1 must be an integer >= 1 \(got "
                                          r"np.float64\(2.5\)\)"):
        build("isegnet", seq_len=L, k1=np.float64(2.5))
