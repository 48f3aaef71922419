"""Model builders and their registry.

Builders are registered by the system they belong to (:mod:`kerasgene.systems`, looked
up at call time); this package holds them and the generic helpers. Every builder is a
pure function of keyword hyperparameters (the papers' values as
defaults) returning an **uncompiled** functional :class:`keras.Model` with named inputs
(``"sequence"``, ``"epigenome"``, ``"regulators"``, ``"signal"``, ``"histone"``) and a
dict of named outputs (``"expression"``, ``"class_probabilities"`` or the chromatin
target, e.g. ``"H3K4me3"``). Outputs are a dict so that ``model.export()`` names the
serving signature's outputs after them; ``model(x)`` / ``model.predict(x)`` therefore
return ``{name: array}``, and ``fit`` accepts ``y`` either as an array or as
``{name: array}``. Every model takes ``{input_name: array}`` (single-input ones too).

Mixed precision: ``build(name, mixed_precision="bfloat16")`` (or ``"float16"``) builds
under Keras' ``mixed_bfloat16`` / ``mixed_float16`` policy: float32 variables,
computations in the low precision, float32 outputs (the heads' layers are float32,
:data:`kerasgene.models.blocks.OUTPUT_DTYPE`), BatchNorm statistics in float32. The
policy is stored in every layer's configuration, so a saved model reloads with it.
A convolution whose low-precision kernel on this machine computes wrong results is
switched to float32 when the model is built or loaded, with a warning
(:mod:`kerasgene.models.kernel_checks`).

>>> from kerasgene import models
>>> model = models.build("isegnet", k1=32)
>>> model.count_params()
1772247
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras

from kerasgene.errors import ConfigError, InputFileError
from kerasgene.models import kernel_checks
from kerasgene.models.chromatin import chromatin_cnn, chromatin_dnn
from kerasgene.models.deepchrome import deepchrome
from kerasgene.models.deeprage import deeprage_concat, deeprage_rnn, deeprage_tensor
from kerasgene.models.histone_fcn import ensemble_members, histone_fcn, histone_fcn_ensemble
from kerasgene.models.isegnet import isegnet
from kerasgene.models.linear import linear
from kerasgene.models.losses import masked_mse, rmse

__all__ = [
    "MIXED_PRECISION",
    "build",
    "chromatin_cnn",
    "chromatin_dnn",
    "deepchrome",
    "deeprage_concat",
    "deeprage_rnn",
    "deeprage_tensor",
    "describe",
    "dtype_policy",
    "ensemble_members",
    "histone_fcn",
    "histone_fcn_ensemble",
    "hyperparameters",
    "isegnet",
    "linear",
    "masked_mse",
    "names",
    "rmse",
]


def all_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of ``model``: each nested model, then its own layers, recursively."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def names() -> list[str]:
    """Registry names, in a fixed order (the papers' order, baselines last): the models of
    every system of :mod:`kerasgene.systems`."""
    from kerasgene import systems

    return systems.model_names()


def _builder(name: str) -> Callable[..., keras.Model]:
    from kerasgene import systems

    return systems.model_builder(name)


def hyperparameters(name: str) -> dict[str, Any]:
    """``{argument: default}`` of a registry builder (what ``build`` accepts)."""
    sig = inspect.signature(_builder(name))
    return {
        k: p.default
        for k, p in sig.parameters.items()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


#: ``training.mixed_precision`` value → Keras dtype policy
MIXED_PRECISION = {None: "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@contextlib.contextmanager
def dtype_policy(mixed_precision: str | None) -> Iterator[str]:
    """Keras' global dtype policy set to that of ``mixed_precision`` (:data:`MIXED_PRECISION`)
    for the layers created inside the ``with`` block; the previous policy is restored
    after it. Yields the policy's name.

    Raises
    ------
    ConfigError
        ``mixed_precision`` not None, "bfloat16" or "float16".
    """
    if mixed_precision not in MIXED_PRECISION:
        raise ConfigError(f"mixed_precision: expected one of {list(MIXED_PRECISION)}, "
                          f"got {mixed_precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED_PRECISION[mixed_precision])
    try:
        yield MIXED_PRECISION[mixed_precision]
    finally:
        keras.config.set_dtype_policy(previous)


def build(name: str, *, mixed_precision: str | None = None, **hparams: Any) -> keras.Model:
    """Build registry model ``name`` with ``hparams`` overriding its defaults.

    Parameters
    ----------
    name : one of :func:`names`
    mixed_precision : None (float32), "bfloat16" or "float16": the dtype policy the
        layers are built under (:func:`dtype_policy`)
    **hparams : keyword arguments of the builder (see its docstring)

    Returns
    -------
    keras.Model, uncompiled

    Raises
    ------
    ConfigError
        unknown ``name``, unknown argument, or an impossible hyperparameter value.
    """
    builder = _builder(name)
    allowed = hyperparameters(name)
    accepts_any = any(p.kind == p.VAR_KEYWORD
                      for p in inspect.signature(builder).parameters.values())
    if not accepts_any:
        unknown = sorted(set(hparams) - set(allowed))
        if unknown:
            raise ConfigError(
                f"{name}: unknown hyperparameter(s) {unknown}; expected a subset of "
                f"{sorted(allowed)}")
    try:
        with dtype_policy(mixed_precision):
            model = builder(**hparams)
    except TypeError as err:  # e.g. an unknown member argument of the ensemble
        raise ConfigError(f"{name}: {err}") from err
    if mixed_precision is not None:
        kernel_checks.float32_where_wrong(model, name)
    return model


def load_model(path: str | os.PathLike, *, compile: bool = False) -> keras.Model:
    """Load a ``.keras`` file in Keras' safe mode (no code from the file runs), with
    kerasgene's custom layers and losses (:mod:`kerasgene.models.losses`) registered.

    Raises
    ------
    InputFileError
        The file is missing or is not a Keras model (one line naming it).
    """
    path = Path(path)
    if path.is_dir():
        inside = path / "model.keras"
        hint = f"; expected {inside}" if inside.is_file() else ""
        raise InputFileError(f"{path}: a folder, not a model file (a .keras file from "
                             f"`kerasgene train`){hint}")
    if not path.is_file():
        raise InputFileError(f"{path}: no such model file (a .keras file from `kerasgene train`)")
    try:
        model = keras.models.load_model(path, safe_mode=True, compile=compile)
    except Exception as err:  # Keras raises ValueError / TypeError / OSError variants
        reason = " ".join(str(err).split()) or type(err).__name__
        raise InputFileError(f"{path}: cannot load Keras model ({reason})") from None
    kernel_checks.float32_where_wrong(model, str(path))
    return model


def _shapes(tensors) -> dict[str, tuple]:
    return {t.name: tuple(t.shape[1:]) for t in tensors}


def describe() -> list[dict[str, Any]]:
    """One row per registry model at its defaults (each built once per process: the paper
    defaults include a 67-million-parameter model).

    Returns
    -------
    list of {"name": str, "params": int (count_params, BatchNorm statistics included),
    "inputs": {input_name: shape without batch}, "outputs": {output_name: shape}}
    """
    return [copy.deepcopy(_describe_one(name, _builder(name))) for name in names()]


@functools.cache
def _describe_one(name: str, builder: Callable[..., keras.Model]) -> dict[str, Any]:
    """:func:`describe`'s row of one model (cached by name and builder)."""
    model = build(name)
    out_names = list(model.output_names)
    row = {
        "name": name,
        "params": int(model.count_params()),
        "inputs": _shapes(model.inputs),
        "outputs": {n: tuple(t.shape[1:]) for n, t in zip(out_names, model.outputs, strict=True)},
    }
    del model
    gc.collect()
    return row
