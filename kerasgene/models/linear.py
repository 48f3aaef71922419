"""Linear baselines as Keras models: ridge regression and (multinomial) logistic
regression on the flattened inputs of any task.

A later study found that a 12-parameter linear model (``reduce="mean"`` on DeepChrome's
100 × 5 input: 5 mean marks × 2 classes + 2 biases) matches DeepChrome, so every task
reports one beside its deep model. Being Keras models, they train, export and serve
like the deep ones; scikit-learn versions live in ``kerasgene.train.baselines``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import layers

from kerasgene.models import blocks

_DEFAULT_INPUTS = {"histone": (100, 5)}


def linear(
    inputs: Mapping[str, Sequence[int]] | None = None,
    task: str = "regression",
    n_classes: int = 2,
    l2: float = 1e-4,
    *,
    reduce: str = "flatten",
    output_name: str | None = None,
    name: str = "linear",
) -> keras.Model:
    """Dense(1) (ridge) or Dense(n_classes, softmax) (logistic) on the inputs.

    Architecture::

        each input → Flatten (or mean over its first axis) ─ concat ─ Dense (L2 on the
        kernel, none on the bias) → output

    count_params = (Σ features + 1) × (1 | n_classes): 501 for a (100, 5) regression,
    1,002 for a 2-class logistic, 12 with ``reduce="mean"``.

    Parameters
    ----------
    inputs : ``{input_name: shape without batch}``, e.g. ``{"histone": (100, 5)}``
        (default) or ``{"sequence": (2500, 4), "epigenome": (2500, 7)}``; names are
        those of the deep model of the same task, so the same dataset feeds both
    task : "regression" (ridge; MSE loss) or "classification" (logistic; cross-entropy)
    n_classes : classes of the logistic model (≥ 2)
    l2 : penalty λ · Σ w² added to the loss; with a mean-squared-error loss this is
        scikit-learn's Ridge with ``alpha = λ · n_samples``
    reduce : "flatten" (every value a feature) or "mean" (average over the first axis
        of each rank-2 input: one feature per channel)
    output_name : default "expression" (regression) or "class_probabilities"; pass a
        target name (e.g. "H3K4me3") for the chromatin task
    name : model name

    Inputs / outputs
    ----------------
    as given by ``inputs``; output ``output_name``: (1,) or (n_classes,)

    No authors' code to follow: the 12-parameter model is the later study's
    description (mean signal per mark, logistic regression).

    Raises
    ------
    ConfigError
        empty or malformed ``inputs``, n_classes < 2, l2 < 0, unknown reduce.
    """
    m = "linear"
    inputs = dict(_DEFAULT_INPUTS if inputs is None else inputs)
    if not inputs:
        raise blocks.ConfigError(f"{m}: inputs must name at least one input shape (got {{}})")
    task, n_classes = blocks.check_task(m, task, n_classes)
    l2 = blocks.check_float(m, "l2", l2, 0.0)
    blocks.check_choice(m, "reduce", reduce, ("flatten", "mean"))
    output_name = blocks.check_name(
        m, "output_name", output_name or blocks.default_output_name(task))

    tensors, features = {}, []
    for key, shape in inputs.items():
        blocks.check_name(m, "inputs", key)
        if isinstance(shape, int) or not shape:
            raise blocks.ConfigError(
                f"{m}: inputs[{key!r}] must be a non-empty shape tuple (got {shape!r})")
        shape = tuple(blocks.check_int(m, f"inputs[{key!r}]", d, 1) for d in shape)
        if reduce == "mean" and len(shape) > 2:
            raise blocks.ConfigError(
                f"{m}: reduce='mean' needs inputs of rank 1 or 2 "
                f"(inputs[{key!r}] has shape {shape})")
        t = keras.Input(shape, name=key)
        tensors[key] = t
        if reduce == "mean" and len(shape) == 2:
            features.append(layers.GlobalAveragePooling1D(name=f"{key}_mean")(t))
        elif len(shape) == 1:
            features.append(t)
        else:
            features.append(layers.Flatten(name=f"{key}_flatten")(t))
    x = features[0] if len(features) == 1 else layers.Concatenate(name="concat")(features)
    out = blocks.output_head(x, task=task, output_name=output_name, n_classes=n_classes,
                             l2=l2)
    return blocks.functional_model(tensors, out, name)
