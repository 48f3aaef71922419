"""Low-precision convolutions checked against float32 on this machine's kernels.

Some CPU kernels compute wrong low-precision convolutions without any error. On Intel
CPUs with AMX (Sapphire Rapids and later), the oneDNN that TensorFlow 2.21 and PyTorch
2.13 bundle returns a bfloat16 ``Conv1D`` / ``Conv2D`` forward pass that is off by about
100 % of the output for inputs of 4, 8 or 12 channels when channels × kernel width is a
multiple of 32 of at least 64 (8 channels × width 20, 4 × 16, 12 × 8; measured on this
machine's Xeon: 45 of 630 shapes tried, every one of them such a shape; the gradients
were right). A model with such a layer trains and predicts without complaint, only
worse. ``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`` avoids the kernel but makes every
bfloat16 step slower than float32 here (0.89x against AMX's 1.58x,
``bench/bench_demo_precision.py``).

:func:`float32_where_wrong` therefore runs each convolution layer of a low-precision
model once, on random inputs of its own shape, in its precision and in float32, and has
a layer whose result is off compute in float32 (its dtype policy; the rest of the model
keeps the low precision), with a warning naming it. Results are cached per process by
layer configuration and input shape.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

log = logging.getLogger(__name__)

#: largest |low precision − float32| accepted, as a fraction of the float32 output's
#: largest magnitude: bfloat16's rounding gave ≤ 0.4 % on the shapes its kernels get
#: right, the wrong kernel 83–137 %
TOLERANCE = 0.05

#: the layers checked: every Keras convolution (transposed and depthwise ones included)
CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                keras.layers.Conv3DTranspose, keras.layers.DepthwiseConv1D,
                keras.layers.DepthwiseConv2D, keras.layers.SeparableConv1D,
                keras.layers.SeparableConv2D)

_checked: dict[tuple, float] = {}


def relative_error(layer: keras.layers.Layer, input_shape: tuple) -> float:
    """Max |``layer``'s output − the float32 output| / max |float32 output| on one random
    input of ``input_shape`` (batch 2; ``None`` lengths 256), with random weights: two
    fresh copies of ``layer``'s configuration, one in its dtype policy, one in float32.
    Cached per (configuration, policy, shape)."""
    config = {k: v for k, v in layer.get_config().items() if k not in ("name", "dtype")}
    shape = (2, *(256 if d is None else d for d in input_shape[1:]))
    key = (type(layer).__name__, repr(sorted(config.items())), layer.dtype_policy.name, shape)
    if key not in _checked:
        rng = np.random.default_rng(0)
        reference = type(layer).from_config({**config, "dtype": "float32"})
        tested = type(layer).from_config({**config, "dtype": layer.dtype_policy.name})
        reference.build(shape)
        tested.build(shape)
        weights = [rng.standard_normal(w.shape).astype(np.float32) * 0.1
                   for w in reference.get_weights()]
        reference.set_weights(weights)
        tested.set_weights(weights)
        x = rng.standard_normal(shape).astype(np.float32)
        want = keras.ops.convert_to_numpy(reference(x)).astype(np.float64)
        got = keras.ops.convert_to_numpy(keras.ops.cast(tested(x), "float32")).astype(np.float64)
        scale = float(np.max(np.abs(want))) or 1.0
        _checked[key] = float(np.max(np.abs(got - want))) / scale
    return _checked[key]


def float32_where_wrong(model: keras.Model, what: str) -> list[str]:
    """Switch each convolution of ``model`` whose low-precision result is wrong on this
    machine (:func:`relative_error` > :data:`TOLERANCE`) to compute in float32, with one
    warning naming them (``what``: the model's name in it). Float32 layers are not
    checked. Returns the names of the switched layers (empty: nothing changed)."""
    from kerasgene.models import all_layers  # the package imports this module

    wrong = {}
    for layer in all_layers(model):
        if not isinstance(layer, CONVOLUTIONS) or layer.compute_dtype == "float32":
            continue
        error = relative_error(layer, tuple(layer.input.shape))
        if error > TOLERANCE:
            wrong[layer.name] = (layer, error)
    for layer, _ in wrong.values():
        layer.dtype_policy = keras.DTypePolicy("float32")
    if wrong:
        shown = ", ".join(f"'{name}' (off by {error:.0%})" for name, (_, error) in wrong.items())
        log.warning("%s: on this machine the low-precision kernel gives wrong results for "
                    "convolution(s) %s (checked against float32): computed in float32 "
                    "instead; the rest of the model keeps its mixed precision", what, shown)
    return list(wrong)
