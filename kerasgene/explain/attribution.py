"""Attribution results and model plumbing shared by the attribution methods.

- :class:`Attribution` — the result of integrated gradients (attributions, completeness
  residual, outputs at input and baseline, steps used);
- inputs as lists in the model's input order (:func:`as_input_list`), one scalar output
  (:func:`scalar_model`), input and output names;
- baselines (:func:`make_baselines`): zeros (the papers), ones, uniform DNA, arrays;
- the class a classifier's attributions explain (:func:`resolve_class`,
  :class:`ExplainedClass`): by default the last (binary: the positive class).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from kerasgene.errors import ConfigError

# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass
class Attribution:
    """Integrated-gradients result for ``n`` examples.

    Attributes
    ----------
    attributions : list of float32 arrays, one per attributed tensor (the model's inputs
        in the model's input order, or the one internal layer), each with the shape of
        that tensor, ``(n, ...)``
    residual : (n,) ``Σ attributions − (F(x) − F(baseline))`` (float64)
    delta : (n,) ``F(x) − F(baseline)``
    output_x, output_baseline : (n,) the attributed scalar output at the input and the
        baseline
    n_steps : (n,) quadrature nodes used per example
    input_names : names of the attributed tensors
    engine, method : how it was computed
    layer : name of the internal layer attributed to, or None for the inputs
    """

    attributions: list[np.ndarray]
    residual: np.ndarray
    delta: np.ndarray
    output_x: np.ndarray
    output_baseline: np.ndarray
    n_steps: np.ndarray
    input_names: list[str]
    engine: str
    method: str
    layer: str | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        """The attribution array of the input (or layer) called ``name``."""
        try:
            return self.attributions[self.input_names.index(name)]
        except ValueError:
            raise KeyError(f"no attribution for {name!r}; have {self.input_names}") from None

    @property
    def relative_residual(self) -> np.ndarray:
        """(n,) ``|residual| / |F(x) − F(baseline)|``; where the output difference is below
        1e-6 of the output scale, relative to that scale instead."""
        return np.abs(self.residual) / residual_scale(self.output_x, self.output_baseline)

    def __len__(self) -> int:
        return len(self.residual)


def residual_scale(output_x: np.ndarray, output_baseline: np.ndarray) -> np.ndarray:
    """(n,) what a relative completeness residual is relative to: ``|F(x) − F(baseline)|``,
    or 1e-6 of the output scale ``max(|F(x)|, |F(baseline)|, 1)`` where that is larger."""
    fx, fb = np.asarray(output_x, np.float64), np.asarray(output_baseline, np.float64)
    scale = np.maximum.reduce([np.abs(fx), np.abs(fb), np.ones_like(fx)])
    return np.maximum(np.abs(fx - fb), 1e-6 * scale)


# --------------------------------------------------------------------------------------
# model plumbing
# --------------------------------------------------------------------------------------


def input_names(model) -> list[str]:
    """Names of the model's inputs in the model's input order."""
    return [t.name for t in model.inputs]


def output_names(model) -> list[str]:
    """Names of the model's outputs, in the order of ``model.outputs``."""
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, Mapping):
        by_id = {id(t): k for k, t in struct.items()}
        return [by_id.get(id(t), t._keras_history.operation.name) for t in model.outputs]
    return [t._keras_history.operation.name for t in model.outputs]


def output_tensor(model, output: str | int | None):
    """The symbolic output tensor called ``output`` (name or index; the only one if None)
    and its name."""
    outs = list(model.outputs)
    names = output_names(model)
    if output is None:
        if len(outs) != 1:
            raise ConfigError(f"model {model.name!r} has outputs {names}; pass output=<name>")
        return outs[0], names[0]
    if isinstance(output, int):
        return outs[output], names[output]
    if output not in names:
        raise ConfigError(f"model {model.name!r} has no output {output!r}; outputs are {names}")
    return outs[names.index(output)], output


def resolve_layer(model, layer):
    """``layer`` (a name, a layer or None) as a layer of ``model``."""
    import keras

    if layer is None or isinstance(layer, keras.layers.Layer):
        return layer
    try:
        return model.get_layer(layer)
    except ValueError:
        raise ConfigError(f"model {model.name!r} has no layer {layer!r}") from None


def scalar_model(model, output: str | int | None = None):
    """A functional view of ``model`` taking a list of inputs (model input order) and
    returning one output tensor; shares the layers and weights of ``model``."""
    import keras

    if not getattr(model, "inputs", None) or not getattr(model, "outputs", None):
        raise ConfigError(f"model {getattr(model, 'name', model)!r} is not a functional Keras "
                          "model (it has no symbolic inputs/outputs)")
    out, _ = output_tensor(model, output)
    return keras.Model(list(model.inputs), out, name=f"{model.name}_scalar")


def as_input_list(model, inputs) -> list:
    """Inputs as a list of arrays in the model's input order (arrays are not copied),
    checked once (:func:`kerasgene.models.inference.checked_inputs`: names, numeric
    values, shape per example and batch axis, numbers of examples, NaN or infinite values).

    ``inputs`` is a dict keyed by input name, a list/tuple in model input order, or a
    single array for a single-input model.
    """
    from kerasgene.models.inference import checked_inputs

    return checked_inputs(model, inputs)


# --------------------------------------------------------------------------------------
# baselines and quadrature
# --------------------------------------------------------------------------------------


def _one_baseline(spec, x_shape: tuple, name: str) -> np.ndarray:
    """A float32 array broadcastable to ``(n, *x_shape[1:])``: shape (1, ...) or (n, ...)."""
    per = tuple(x_shape[1:])
    if spec is None or (isinstance(spec, str) and spec == "zeros"):
        return np.zeros((1, *per), np.float32)
    if isinstance(spec, str):
        if spec == "ones":
            return np.ones((1, *per), np.float32)
        if spec == "uniform":
            if per[-1] != 4:
                raise ConfigError(f"baseline 'uniform' (0.25 per base) is for one-hot DNA with 4 "
                                  f"channels; input {name!r} has {per[-1]}. Use a dict, e.g. "
                                  "{'sequence': 'uniform'} (other inputs default to zeros)")
            return np.full((1, *per), 0.25, np.float32)
        raise ConfigError(f"unknown baseline {spec!r} for input {name!r}; expected 'zeros', "
                          "'ones', 'uniform', a number or an array")
    if isinstance(spec, int | float | np.floating | np.integer):
        return np.full((1, *per), float(spec), np.float32)
    arr = np.asarray(spec, np.float32)
    if arr.shape == per:
        return arr[None]
    if arr.shape == tuple(x_shape) or (arr.ndim == len(x_shape) and arr.shape[0] == 1
                                       and arr.shape[1:] == per):
        return arr
    raise ConfigError(f"baseline for input {name!r} has shape {arr.shape}; expected {per}, "
                      f"(1, *{per}) or {tuple(x_shape)}")


def make_baselines(model, inputs, baselines="zeros") -> list[np.ndarray]:
    """Baselines as a list (model input order) of float32 arrays broadcastable to each
    input: shape ``(1, ...)`` for a shared baseline or ``(n, ...)`` for one per example.

    ``baselines`` is ``"zeros"`` (the papers), ``"ones"`` (e.g. methylation),
    ``"uniform"`` (0.25 per base, one-hot DNA only), a number, an array, or a per-input
    mix as a dict ``{input name: spec}`` (missing inputs get zeros) or a list.
    """
    names = input_names(model)
    xs = as_input_list(model, inputs)
    if isinstance(baselines, Mapping):
        unknown = set(baselines) - set(names)
        if unknown:
            raise ConfigError(f"baselines name unknown inputs {sorted(unknown)}; inputs are {names}")
        specs = [baselines.get(n, "zeros") for n in names]
    elif isinstance(baselines, list | tuple):
        if len(baselines) != len(names):
            raise ConfigError(f"got {len(baselines)} baselines for inputs {names}")
        specs = list(baselines)
    else:
        specs = [baselines] * len(names)
    return [_one_baseline(s, x.shape, n) for s, x, n in zip(specs, xs, names)]


def chunk_inputs(xs: list, sl: slice) -> list[np.ndarray]:
    """Rows ``sl`` of every input array as float32 (memory-mapped uint8 inputs are read
    one chunk at a time, never whole)."""
    return [np.asarray(x[sl], dtype=np.float32) for x in xs]


def default_unit(model, output: str | int | None = None) -> int | None:
    """The output unit explained when no target is given: the last class of a classifier
    with several class units (:func:`resolve_class`'s default, the class ``kerasgene
    explain`` attributes), None otherwise (a one-unit output's value — a single sigmoid
    unit is P(class 1) already — or the first unit of several without a softmax or
    sigmoid)."""
    cls = resolve_class(model, None, output=output)
    return None if cls is None else cls.id


def format_target(target, n: int, xs: list, predict: Callable | None) -> np.ndarray | None:
    if target is None:
        return None
    if isinstance(target, str):
        if target != "argmax":
            raise ConfigError(f"target must be None, an int, an array or 'argmax', got {target!r}")
        if predict is None:
            raise ConfigError("target='argmax' needs a model")
        return predict(xs)
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, int(t))
    if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer):
        raise ConfigError(f"target must be an integer or {n} integers, got shape {t.shape}")
    return t.astype(np.int32)


def check_target(model, output: str | int | None, t: np.ndarray | None) -> None:
    """Refuse class targets ``t`` (from :func:`format_target`) that the output cannot
    have: any target of a one-unit output without a sigmoid (a regression, whose target 0
    would attribute ``1 − prediction``), or a class outside a multi-unit output's units."""
    if t is None:
        return
    tensor, name = output_tensor(model, output)
    n_out = int(np.prod(tensor.shape[1:]))
    layer = tensor._keras_history.operation
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if n_out == 1 and activation != "sigmoid":
        raise ConfigError(f"target: output {name!r} of model {model.name!r} is one unit without "
                          f"a sigmoid (its last layer {layer.name!r} is {type(layer).__name__}"
                          f"{f' {activation}' if activation else ''}), not a classifier; "
                          "expected target=None, which attributes its value")
    bad = t[(t < 0) | (t >= max(n_out, 2))]
    if len(bad):
        raise ConfigError(f"target: class {int(bad[0])} of output {name!r} of model "
                          f"{model.name!r}, which has {max(n_out, 2)} classes; expected "
                          f"targets in [0, {max(n_out, 2)})")


def select_output(y, t, n_out: int):
    """Scalar per example from the output ``y`` (batch, k) given targets ``t`` (or None)."""
    import tensorflow as tf

    y = tf.reshape(y, [tf.shape(y)[0], -1])
    if t is None:
        return y[:, 0]
    if n_out == 1:  # single-unit binary classifier: target 1 → p, target 0 → 1 − p
        tf_t = tf.cast(t, y.dtype)
        return tf_t * y[:, 0] + (1 - tf_t) * (1 - y[:, 0])
    return tf.gather(y, t, axis=1, batch_dims=1)


def argmax_predictions(model, output, xl: list, batch_size: int) -> np.ndarray:
    """(n,) int32 predicted class of every example (a single sigmoid unit: p ≥ 0.5)."""
    view = scalar_model(model, output)
    out = []
    for lo in range(0, len(xl[0]), batch_size):
        out.append(np.asarray(view(chunk_inputs(xl, slice(lo, lo + batch_size)), training=False)))
    y = np.concatenate(out).reshape(len(xl[0]), -1)
    if y.shape[1] == 1:
        return (y[:, 0] >= 0.5).astype(np.int32)
    return np.argmax(y, axis=1).astype(np.int32)


# --------------------------------------------------------------------------------------
# the explained class of a classifier
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainedClass:
    """The class whose probability the attributions of a classifier explain.

    Attributes
    ----------
    id : the class's unit of the output
    name : its name (the dataset's ``class_names``), None where unknown
    n_classes : units of the output
    """

    id: int
    name: str | None
    n_classes: int

    @property
    def label(self) -> str:
        """``"class 1: above median"``, or ``"class 1"`` without a name."""
        return f"class {self.id}" + (f": {self.name}" if self.name else "")

    def as_dict(self) -> dict:
        """``{id, name, n_classes}`` (JSON-able)."""
        return {"id": self.id, "name": self.name, "n_classes": self.n_classes}


def _output_activation(layer) -> str | None:
    """Name of the activation that ends ``layer`` (``softmax`` for a Softmax layer)."""
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(layer, "activation", None), "__name__", None)


def _class_list(n_classes: int, names: list[str] | None) -> str:
    """``"0 'below', 1 'above'"``, or ``"0 to 2"`` without names."""
    if not names:
        return f"0 to {n_classes - 1}"
    return ", ".join(f"{k} {n!r}" for k, n in enumerate(names))


def resolve_class(model, value: int | str | None, class_names=None, *,
                  option: str = "--target-class",
                  output: str | int | None = None) -> ExplainedClass | None:
    """The class a classifier's attributions explain: ``value`` (a class id, or a name of
    ``class_names``), by default the last class (binary: the positive class the metrics
    use). None for an output that is not class probabilities (one unit — a regression or
    a score, whose value is explained — or several units without a softmax or sigmoid).
    ``output``: the output of a multi-output model (name or index).

    Raises
    ------
    ConfigError
        ``value`` given for an output that is not class probabilities; a name that is not
        one of ``class_names``; an id out of range (naming ``option`` and the classes).
    """
    tensor, out_name = output_tensor(model, output)
    n_units = int(np.prod(tensor.shape[1:]))
    layer = tensor._keras_history.operation
    activation = _output_activation(layer)
    if n_units < 2 or activation not in ("softmax", "sigmoid"):
        if value is not None:
            what = ("one unit (a regression or a score)" if n_units < 2 else
                    f"{n_units} units without a softmax or sigmoid")
            raise ConfigError(f"{option}: output {out_name!r} of model {model.name!r} is "
                              f"{what}, not class probabilities; its value is explained "
                              "(expected no class)")
        return None
    names = [str(n) for n in class_names] if class_names and len(class_names) == n_units \
        else None
    if value is None:
        k = n_units - 1
    elif isinstance(value, str):
        if names is None or value not in names:
            raise ConfigError(f"{option}: {value!r} is not a class of the model (classes "
                              f"{_class_list(n_units, names)}); expected a class id"
                              f"{' or name' if names else ''}")
        k = names.index(value)
    elif not 0 <= value < n_units:
        raise ConfigError(f"{option}: class {value} out of range (classes "
                          f"{_class_list(n_units, names)}); expected a class id"
                          f"{' or name' if names else ''}")
    else:
        k = int(value)
    return ExplainedClass(k, names[k] if names else None, n_units)
