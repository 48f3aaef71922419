"""The ``alibi`` engine of integrated gradients (:mod:`kerasgene.explain.ig`):
:class:`alibi.explainers.IntegratedGradients`, the iSEGnet paper's tool, fed a few
examples at a time so that its ``n_steps × examples`` path arrays stay bounded, with its
logging silenced; F(x) and F(baseline) for the completeness residual come from the
native engine's forward pass. alibi is imported on first use.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import TYPE_CHECKING

import numpy as np

from kerasgene.errors import ConfigError, KerasgeneError
from kerasgene.explain.attribution import scalar_model

if TYPE_CHECKING:
    from kerasgene.explain.ig import _Native


@contextlib.contextmanager
def _quiet_alibi():
    """Silence alibi's loggers and warnings (and TF's retracing chatter) inside the block."""
    loggers = [logging.getLogger(n) for n in ("alibi", "tensorflow", "absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _import_alibi_ig():
    with _quiet_alibi():
        try:
            from alibi.explainers import IntegratedGradients
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise KerasgeneError(
                "engine='alibi' needs alibi (pip install --no-deps alibi==0.9.6, see the "
                f"Makefile): {err}") from err
    return IntegratedGradients


def alibi_explainer(model, output, layer, method: str, n_steps: int, batch_size: int):
    """alibi's ``IntegratedGradients`` over the attributed scalar output, and the size of
    that output."""
    if layer is not None and len(model.inputs) > 1:
        raise ConfigError("engine='alibi' with layer= is supported for single-input models "
                          "only: alibi feeds zeros to the other inputs during layer "
                          "attribution; use engine='native' (inputs held at x)")
    IG = _import_alibi_ig()
    wrapper = scalar_model(model, output)
    n_out = int(np.prod(wrapper.outputs[0].shape[1:]))
    return IG(wrapper, layer=layer, method=method, n_steps=n_steps,
              internal_batch_size=batch_size), n_out


def alibi_chunk(explainer, eng: _Native, x_in, b_in, t, layer):
    """alibi's attributions of one chunk, with F(x) and F(baseline) from ``eng`` (a
    plain-graph native engine of the same model)."""
    import tensorflow as tf

    X = x_in if len(x_in) > 1 else x_in[0]
    B = b_in if len(b_in) > 1 else b_in[0]
    with _quiet_alibi():
        exp = explainer.explain(X, baselines=B, target=t)
    attrs = [np.asarray(a, np.float32) for a in exp.attributions]
    t_tf = None if t is None else tf.constant(t, tf.int32)
    if layer is None:
        fx = eng.forward([tf.constant(x) for x in x_in], t_tf)
        fb = eng.forward([tf.constant(b) for b in b_in], t_tf)
    else:
        fixed = [tf.constant(x) for x in x_in]
        fx = eng.forward([eng.pre(fixed), *fixed], t_tf)
        fb = eng.forward([eng.pre([tf.constant(b) for b in b_in]), *fixed], t_tf)
    return attrs, fx.numpy().astype(np.float64), fb.numpy().astype(np.float64)
