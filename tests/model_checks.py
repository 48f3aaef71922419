"""The contract every model builder meets (keras-hub style): one helper each builder's
test calls with what the architecture implies.

:func:`check_builder` builds the model at its defaults and at a second hyperparameter
point and checks, for both, the input / output names and shapes and ``count_params``
against a value derived independently from the architecture. At one point (``heavy``,
small for big models) it then checks that

- one training step on random data leaves the loss, the weights and the predictions
  finite;
- ``model.export()`` writes a SavedModel whose ``serving_default`` signature takes the
  model's input names and returns its output names, and that reloading it with
  :class:`keras.layers.TFSMLayer` gives the same predictions;
- :func:`keras.models.clone_model` and ``Model.from_config(model.get_config())``
  rebuild the same architecture, which computes the same function once given the
  weights (keras-tuner relies on both).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from kerasgene import models

Shapes = dict[str, tuple]

#: registry hyperparameters small enough to build, train a step, export and serve in about
#: a second each (serving, mixed-precision and backend tests)
SMALL_HPARAMS = {
    "isegnet": dict(seq_len=100, k1=8, merge_filters=16, pointwise_filters=8,
                    dense_units=(16, 8, 4)),
    "deeprage_concat": dict(seq_len=100, n_regulators=12, filters=8, filter_length=9,
                            regulator_units=16, units=16),
    "deeprage_tensor": dict(seq_len=100, n_regulators=12, filters=4, filter_length=9,
                            regulator_units=4, units=16),
    "deeprage_rnn": dict(seq_len=100, n_regulators=12, filters=8, filter_length=9,
                         regulator_units=16, pool_size=10, rnn_units=8, units=16),
    "chromatin_dnn": dict(window=50, units=(16, 8)),
    "chromatin_cnn": dict(window=200, n_conv=3, filters=4),
    "histone_fcn": dict(n_channels=5, base_filters=4, max_filters=16),
    "histone_fcn_ensemble": dict(n_models=2, n_channels=5, base_filters=4),
    "deepchrome": dict(filters=8, units=(16, 8)),
    "linear": dict(),
}

#: largest deviation of a model's outputs under a mixed-precision policy from the float32
#: outputs of the same weights, as a fraction of the largest float32 output
#: (tests/test_mixed_precision.py states why)
MIXED_RTOL = {"bfloat16": 0.06, "float16": 0.01}


@dataclass
class BuilderCase:
    """What a builder's test states about it.

    Attributes
    ----------
    name : registry name
    params : hparams (defaults merged with the point) → expected count_params, derived
        from the architecture (not from Keras)
    inputs, outputs : hparams → expected ``{name: shape without batch}``
    second : the second hyperparameter point
    heavy : point for the training step / export / clone checks (``{}`` = defaults)
    classification : hparams → True if the output is class probabilities
    """

    name: str
    params: Callable[[dict], int]
    inputs: Callable[[dict], Shapes]
    outputs: Callable[[dict], Shapes]
    second: dict
    heavy: dict = field(default_factory=dict)
    classification: Callable[[dict], bool] = lambda hp: hp.get("task") == "classification"


class KeywordTFSMLayer(keras.layers.TFSMLayer):
    """A :class:`TFSMLayer` that passes a dict of inputs as keyword arguments.

    A ``serving_default`` signature accepts keyword arguments only; the stock layer
    passes its input positionally, which works for one bare array but not for a dict
    of named inputs.
    """

    def call(self, inputs, training=False, **kwargs):
        if isinstance(inputs, dict):
            return self.call_endpoint_fn(**inputs, **kwargs)
        return super().call(inputs, training=training, **kwargs)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def input_shapes(model: keras.Model) -> Shapes:
    return {t.name: tuple(t.shape[1:]) for t in model.inputs}


def output_shapes(model: keras.Model) -> Shapes:
    return {n: tuple(t.shape[1:])
            for n, t in zip(model.output_names, model.outputs, strict=True)}


def random_inputs(model: keras.Model, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch for every input: one-hot for "sequence", −1/0/+1 for "regulators",
    uniform [0, 1) otherwise."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        shape = (batch, *t.shape[1:])
        if t.name == "sequence":
            x = np.eye(4, dtype="float32")[rng.integers(0, 4, shape[:-1])]
        elif t.name == "regulators":
            x = rng.integers(-1, 2, shape).astype("float32")
        else:
            x = rng.random(shape, dtype=np.float32)
        out[t.name] = x
    return out


def random_targets(model: keras.Model, batch: int, classification: bool, seed: int = 1):
    rng = np.random.default_rng(seed)
    (shape,) = output_shapes(model).values()
    if classification:
        return rng.integers(0, shape[-1], (batch,)).astype("int32")
    return rng.normal(size=(batch, *shape)).astype("float32")


def predict(model, x) -> dict[str, np.ndarray]:
    """Inference-mode outputs as numpy, ``{output_name: array}``."""
    y = model(x, training=False)
    return {k: keras.ops.convert_to_numpy(v) for k, v in y.items()}


def assert_same_outputs(a: dict, b: dict, atol: float = 1e-5, what: str = "") -> None:
    assert set(a) == set(b), f"{what}: output names {sorted(a)} != {sorted(b)}"
    for k in a:
        np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), atol=atol, rtol=0,
                                   err_msg=f"{what}: output {k!r}")


def _check_point(case: BuilderCase, point: dict) -> keras.Model:
    model = models.build(case.name, **point)
    hp = {**models.hyperparameters(case.name), **point}
    assert isinstance(model, keras.Model) and not model.compiled
    assert isinstance(model.output, dict), "outputs must be a dict keyed by output name"
    assert input_shapes(model) == case.inputs(hp), f"{case.name}{point}: inputs"
    assert output_shapes(model) == case.outputs(hp), f"{case.name}{point}: outputs"
    expected = case.params(hp)
    assert model.count_params() == expected, (
        f"{case.name}{point}: count_params {model.count_params():,} != {expected:,}")
    return model


# --------------------------------------------------------------------------------------
# the contract
# --------------------------------------------------------------------------------------


def check_training_step(model: keras.Model, classification: bool, batch: int = 4) -> None:
    """One optimiser step on random data: loss, weights and predictions stay finite."""
    x = random_inputs(model, batch)
    y = random_targets(model, batch, classification)
    loss = "sparse_categorical_crossentropy" if classification else "mse"
    # eager: one step does not repay tracing and optimising a tf.function graph
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, run_eagerly=True)
    value = model.train_on_batch(x, y)
    value = value[0] if isinstance(value, list | tuple) else value
    assert math.isfinite(float(value)), f"{model.name}: loss {value}"
    for w in model.weights:
        assert np.isfinite(keras.ops.convert_to_numpy(w)).all(), f"{model.name}: {w.path}"
    for k, v in predict(model, x).items():
        assert np.isfinite(v).all(), f"{model.name}: prediction {k}"


def check_export(model: keras.Model, path: Path, batch: int = 3) -> None:
    """``model.export`` → signature names → TFSMLayer reload gives the same outputs."""
    import tensorflow as tf  # here: tests/backend_probe.py's JAX / torch processes skip it

    path = str(path)
    model.export(path, format="tf_saved_model", verbose=False)
    sig = tf.saved_model.load(path).signatures["serving_default"]
    assert set(sig.structured_outputs) == set(model.output_names), (
        f"{model.name}: signature outputs {sorted(sig.structured_outputs)}")
    assert set(sig.structured_input_signature[1]) == set(input_shapes(model)), (
        f"{model.name}: signature inputs {sorted(sig.structured_input_signature[1])}")
    x = random_inputs(model, batch, seed=2)
    reloaded = KeywordTFSMLayer(path, call_endpoint="serving_default")
    got = {k: v.numpy() for k, v in reloaded(x).items()}
    assert_same_outputs(predict(model, x), got, what=f"{model.name} export/reload")


def check_clone_and_config(model: keras.Model, batch: int = 2) -> None:
    """clone_model and from_config(get_config()) rebuild the same function."""
    x = random_inputs(model, batch, seed=3)
    ref = predict(model, x)
    clone = keras.models.clone_model(model)
    restored = keras.Model.from_config(model.get_config())
    for other, how in ((clone, "clone_model"), (restored, "from_config")):
        assert other.count_params() == model.count_params(), how
        assert input_shapes(other) == input_shapes(model), how
        assert output_shapes(other) == output_shapes(model), how
        other.set_weights(model.get_weights())
        assert_same_outputs(ref, predict(other, x), what=f"{model.name} {how}")


def check_builder(case: BuilderCase, tmp_path: Path) -> None:
    """Run the whole contract for one builder (see the module docstring)."""
    default = _check_point(case, {})
    second = _check_point(case, case.second)
    if case.heavy == {}:
        heavy = default
    elif case.heavy == case.second:
        heavy = second
    else:
        heavy = _check_point(case, case.heavy)
    del default, second
    hp = {**models.hyperparameters(case.name), **case.heavy}
    check_training_step(heavy, case.classification(hp))
    check_export(heavy, tmp_path / f"{case.name}_export")
    check_clone_and_config(heavy)
