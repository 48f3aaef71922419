"""kerasgene.models.inference: the compiled in-process predictor equals ``model.predict``
for every registry model (small hyperparameters), whatever the batch split, input form
and dtype."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerasgene import models  # noqa: E402
from kerasgene.errors import ConfigError  # noqa: E402
from kerasgene.models import inference  # noqa: E402

_DEEPRAGE = dict(seq_len=60, n_regulators=6, filters=4, filter_length=9, regulator_units=8,
                 units=8)
SMALL = {
    "isegnet": dict(seq_len=120, k1=4, n_tracks=3, kernel_length=10, merge_filters=8),
    "deeprage_concat": _DEEPRAGE,
    "deeprage_tensor": {**_DEEPRAGE, "regulator_units": None, "task": "classification",
                        "n_classes": 3},
    "deeprage_rnn": {**_DEEPRAGE, "rnn_units": 4},
    "chromatin_dnn": dict(n_channels=2, units=(16, 8)),
    "chromatin_cnn": dict(window=1000, n_channels=2),
    "histone_fcn": dict(n_channels=5, base_filters=4),
    "histone_fcn_ensemble": dict(n_models=2, n_channels=5, base_filters=4),
    "deepchrome": dict(n_bins=50, n_marks=3),
    "linear": dict(inputs={"sequence": (50, 4), "epigenome": (50, 7)}),
}


def random_inputs(model, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {t.name: rng.random((n, *t.shape[1:]), dtype=np.float32) for t in model.inputs}


def test_every_registry_model_is_covered():
    assert sorted(SMALL) == sorted(models.names())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_predict_equals_model_predict(name):
    keras.utils.set_random_seed(0)
    model = models.build(name, **SMALL[name])
    x = random_inputs(model, 5)
    want = model.predict(x, verbose=0)
    got = inference.predict(model, x, batch_size=2)  # chunks of 2, 2 and 1 rows
    assert keras.tree.flatten(keras.tree.map_structure(np.shape, got)) == \
        keras.tree.flatten(keras.tree.map_structure(np.shape, want))
    for g, w in zip(keras.tree.flatten(got), keras.tree.flatten(want)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_input_forms_dtypes_and_reuse():
    keras.utils.set_random_seed(0)
    model = models.build("isegnet", **SMALL["isegnet"])
    rng = np.random.default_rng(1)
    seq = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (3, 120))]
    epi = rng.random((3, 120, 3), dtype=np.float32)
    want = model.predict({"sequence": seq.astype(np.float32), "epigenome": epi}, verbose=0)
    f = inference.predictor(model)
    by_name = f({"sequence": seq, "epigenome": epi})  # uint8 one-hot cast inside
    in_order = f([epi, seq])  # model input order: Keras sorts dict inputs by name
    np.testing.assert_allclose(by_name["expression"], want["expression"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(in_order["expression"], by_name["expression"])
    assert inference._COMPILED[model] is inference._COMPILED.get(model)  # built once
    one = f({"sequence": seq[:1], "epigenome": epi[:1]})["expression"]
    np.testing.assert_allclose(one, want["expression"][:1], rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="lack"):
        f({"sequence": seq})
    with pytest.raises(ConfigError, match="batch_size"):
        inference.predict(model, [epi, seq], batch_size=0)


def test_the_cache_does_not_keep_a_model_alive():
    model = models.build("linear", inputs={"x": (4,)})
    inference.predict(model, np.ones((2, 4), np.float32))
    assert model in inference._COMPILED
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
