"""Run by ``tests/test_backends.py`` in a subprocess whose ``KERAS_BACKEND`` is set (the
backend is fixed when Keras is imported): for every registry model at
:data:`model_checks.SMALL_HPARAMS`, build it, compare its compiled predictions on 16
examples with those of the same weights under the ``mixed_bfloat16`` policy, and train
one compiled step on a batch of 4 (under JAX both are ``jax.jit``, i.e. XLA, programs;
calling the models op by op instead took JAX twice as long). Prints one JSON object on
the last line of stdout::

    {"backend": name, "models": {name: {"loss", "outputs", "scale", "dtypes",
                                        "bf16_rel_diff"} | {"error": message}}}

Usage: ``KERAS_BACKEND=jax python tests/backend_probe.py [name ...]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import numpy as np
from keras.src.utils.module_utils import tensorflow as _lazy_tensorflow
from model_checks import SMALL_HPARAMS, random_inputs, random_targets

from kerasgene import models

# Keras imports TensorFlow where it is installed, whatever the backend, to seed it
# (keras.utils.set_random_seed) and to ask whether an object is a TensorFlow type
# (serialize_keras_object, which Bidirectional calls): 7–8 CPU-s of this process, though
# no TensorFlow op runs and no TensorFlow object exists here. Keras' lazy module answers
# "not available" instead (an attribute of it would still import TensorFlow).
_lazy_tensorflow._available = sys.modules.get("tensorflow") is not None


def _numpy(outputs: dict) -> dict[str, np.ndarray]:
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


def _compare(name: str, seed: int) -> tuple[keras.Model, dict, float, float, list]:
    """The float32 model built at ``seed``, its inputs, the smallest largest |output|,
    and the bfloat16 policy's largest deviation from it relative to that."""
    keras.utils.set_random_seed(seed)
    model = models.build(name, **SMALL_HPARAMS[name])
    mixed = models.build(name, mixed_precision="bfloat16", **SMALL_HPARAMS[name])
    mixed.set_weights(model.get_weights())
    x = random_inputs(model, 16)
    ref, low = _numpy(model.predict_on_batch(x)), _numpy(mixed.predict_on_batch(x))
    scale = min(float(np.max(np.abs(v))) for v in ref.values())
    rel = max(float(np.max(np.abs(ref[k] - low[k]))) / max(scale, 1e-12) for k in ref)
    return model, x, scale, rel, sorted({str(v.dtype) for v in low.values()})


def probe(name: str) -> dict:
    """Build, one training step, float32 vs bfloat16 predictions of one registry model.

    A model whose ReLU output is 0 for every random input at one initialisation (iSEGnet
    at seed 0 under torch) is rebuilt at the next seed, so that the comparison compares
    something (at most 10 seeds).
    """
    for seed in range(10):
        model, x, scale, rel, dtypes = _compare(name, seed)
        if scale > 0:
            break
    classification = model.output_names[0] == "class_probabilities"
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy" if classification else "mse")
    x = {k: v[:4] for k, v in x.items()}
    loss = model.train_on_batch(x, random_targets(model, 4, classification))
    loss = float(loss[0] if isinstance(loss, list | tuple) else loss)
    return {"loss": loss, "outputs": sorted(model.output_names), "scale": scale,
            "bf16_rel_diff": rel, "dtypes": dtypes, "seed": seed}


def main(names: list[str]) -> dict:
    out = {}
    for name in names or models.names():
        try:
            out[name] = probe(name)
        except Exception as err:  # reported per model: the test names the ones that fail
            out[name] = {"error": f"{type(err).__name__}: {' '.join(str(err).split())[:500]}"}
    return out


if __name__ == "__main__":
    print(json.dumps({"backend": keras.backend.backend(), "models": main(sys.argv[1:])}))
