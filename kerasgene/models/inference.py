"""Compiled in-process inference: a model's predictions without ``model.predict``.

``model.predict`` builds a data adapter, callbacks and a progress bar on every call
(about 200 ms for one iSEGnet gene here, for a forward pass of a few milliseconds), and
an eager ``model(x)`` runs op by op. Small predictions — the evaluation of a split, the
alleles of a few variants — go through :func:`predictor` instead: under TensorFlow one
``tf.function`` per model, traced once with a free batch axis (``input_signature``) and
kept for the model's lifetime; under another Keras backend the backend's compiled
``predict_on_batch``. :func:`predict` runs it over many rows in fixed-size chunks.

Both give what ``model(x, training=False)`` gives, as numpy arrays in the model's output
structure (``{name: (n, ...)}`` for the registry's models); tests/test_inference.py
checks them against ``model.predict``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

from kerasgene.errors import ConfigError

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def checked_inputs(model, inputs) -> list[np.ndarray]:
    """``inputs`` as numpy arrays in the model's input order, checked against the model's
    inputs once, before any of them reaches TensorFlow.

    Parameters
    ----------
    model : a functional keras.Model
    inputs : a dict ``{input name: (n, ...)}`` (other keys, such as a gathered
        ``"target"``, are not read), a list or tuple in the model's input order, or one
        array for a single-input model; arrays, memory maps (not copied), nested lists or
        pandas objects of any numeric dtype

    Returns
    -------
    list of np.ndarray, one per model input

    Raises
    ------
    ConfigError
        an input missing (naming the inputs given), values that are not numbers (a DNA
        string), another shape per example than the model's (one example without its
        batch axis: the hint ``x[None]``), different numbers of examples, or NaN or
        infinite values.
    """
    from kerasgene.serving.protocol import nonfinite

    names = [t.name for t in model.inputs]
    xs = [np.asarray(x) for x in _input_list(model, inputs)]
    for name, x, t in zip(names, xs, model.inputs):
        if x.dtype.kind not in "biuf":
            first = str(x.reshape(-1)[0]) if x.size else ""
            first = first if len(first) <= 20 else first[:20] + "..."
            raise ConfigError(f"model {model.name!r}: input {name!r}: {x.dtype} values (e.g. "
                              f"{first!r}), expected numbers (DNA: kerasgene.dna.one_hot)")
        want = tuple(t.shape[1:])
        if x.ndim != len(want) + 1 or any(w is not None and w != g
                                          for w, g in zip(want, x.shape[1:])):
            hint = ("; one example needs a batch axis: x[None]"
                    if x.ndim == len(want) and len(want) else "")
            order = "" if isinstance(inputs, Mapping) else f" (a list is read in the order {names})"
            raise ConfigError(f"model {model.name!r}: input {name!r} has shape {x.shape}, "
                              f"expected (n, {', '.join(str(w) for w in want)}){hint}{order}")
        if len(x) != len(xs[0]):
            raise ConfigError(f"model {model.name!r}: input {name!r} has {len(x)} examples, "
                              f"{names[0]!r} has {len(xs[0])}")
        why = nonfinite(name, x)
        if why:
            raise ConfigError(f"model {model.name!r}: {why}")
    return xs


def _input_list(model, inputs) -> list:
    """``inputs`` (a dict by input name, a list in model input order or one array) as a
    list in the model's input order."""
    names = [t.name for t in model.inputs]
    if isinstance(inputs, Mapping):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ConfigError(f"model {model.name!r}: inputs lack {missing} (given: "
                              f"{list(inputs)}); it takes {names}")
        return [inputs[n] for n in names]
    xs = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    if len(xs) != len(names):
        raise ConfigError(f"model {model.name!r}: got {len(xs)} input arrays; it takes "
                          f"{names} (a dict by name, or a list in this order)")
    return xs


def _packed(model, xs: list):
    """A list in input order in the structure the model was built with (dict or list)."""
    struct = getattr(model, "_inputs_struct", None)
    return xs if struct is None else keras.tree.pack_sequence_as(struct, xs)


def _tf_function(model) -> Callable[[list], Any]:
    """``model(x, training=False)`` as a ``tf.function`` over a list of tensors in input
    order, batch axis free; holds the model weakly (the cache entry dies with it)."""
    import tensorflow as tf

    specs = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in model.inputs]
    ref = weakref.ref(model)

    @tf.function(input_signature=[specs], jit_compile=False, reduce_retracing=True)
    def call(xs):
        model = ref()
        return model(_packed(model, xs), training=False)

    def run(xs: list):
        tensors = [tf.cast(x, s.dtype) for x, s in zip(xs, specs)]
        return keras.tree.map_structure(lambda t: t.numpy(), call(tensors))

    return run


def predictor(model) -> Callable[[Any], Any]:
    """A compiled ``f(inputs) -> outputs`` for ``model`` in inference mode.

    Parameters
    ----------
    model : a functional keras.Model (the registry's models, their views)

    Returns
    -------
    callable
        ``f(inputs)`` with ``inputs`` a dict ``{input name: (n, ...)}``, a list in the
        model's input order or one array (numpy arrays or tensors, any numeric dtype:
        cast to the input's dtype); returns ``model(inputs, training=False)`` as numpy
        arrays in the model's output structure. Built once per model and reused.
    """
    if keras.backend.backend() != "tensorflow":
        return lambda inputs: model.predict_on_batch(_packed(model, _input_list(model, inputs)))
    run = _COMPILED.get(model)
    if run is None:
        run = _COMPILED[model] = _tf_function(model)
    return lambda inputs: run(_input_list(model, inputs))


def predict(model, inputs, batch_size: int = 256):
    """Predictions of ``model`` over every row of ``inputs``, ``batch_size`` rows per call
    of :func:`predictor`.

    Parameters
    ----------
    model : as for :func:`predictor`
    inputs : dict ``{input name: (n, ...)}``, list in input order, or one array, checked
        by :func:`checked_inputs` (n >= 1)
    batch_size : rows per compiled call (memory bound)

    Returns
    -------
    The model's output structure of ``(n, ...)`` numpy arrays.
    """
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    f = predictor(model)
    xs = checked_inputs(model, inputs)
    n = len(xs[0])
    if n == 0:
        raise ConfigError(f"model {model.name!r}: no examples to predict (inputs of shape "
                          f"{xs[0].shape})")
    parts = [f([x[lo:lo + batch_size] for x in xs]) for lo in range(0, n, batch_size)]
    return keras.tree.map_structure(lambda *a: np.concatenate(a), *parts)
