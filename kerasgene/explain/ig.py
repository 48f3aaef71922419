"""Integrated gradients: two engines, quadrature rules and adaptive steps.

Integrated gradients (Sundararajan et al. 2017) of a scalar model output ``F`` at an
input ``x`` relative to a baseline ``x'``::

    IG_i(x) = (x_i - x'_i) · ∫_0^1 ∂F(x' + α(x - x'))/∂x_i dα
            ≈ (x_i - x'_i) · Σ_k w_k ∂F(x' + α_k(x - x'))/∂x_i

with the quadrature nodes ``α_k`` and weights ``w_k`` of Gauss–Legendre or a Riemann
rule. Completeness: ``Σ_i IG_i = F(x) − F(x')``; the difference between the two sides is
the **residual** reported per example, the measure of quadrature error.

Two engines compute the same quadrature:

- ``engine="native"`` — one ``tf.function`` that builds the path points of a chunk of
  examples from (example, α, weight) triples, runs them as one batch through the model,
  takes the input gradients and reduces them per example with the quadrature weights
  inside the graph, so only the weighted sums leave the function. ``batch_size`` is the
  number of path points per forward+backward pass. With XLA (``jit_compile``; default:
  on where a GPU is visible, off on CPU, where ``bench/bench_ig.py`` measured it slower)
  every pass is padded to the same shapes, so the model is compiled once whatever the
  step count; without, the batch axis is free and nothing is padded.
- ``engine="alibi"`` — :class:`alibi.explainers.IntegratedGradients`, the iSEGnet
  paper's tool (``method="gausslegendre"``, ``n_steps=200``), fed a few examples at a
  time so its ``n_steps × examples`` path arrays stay bounded; its logging is silenced
  (:mod:`kerasgene.explain.ig_alibi`).

``n_steps="auto"`` (native engine) integrates each example by adaptive composite trapezoid
quadrature (:mod:`kerasgene.explain.ig_adaptive`). Along a straight path a ReLU network is
piecewise linear, so the integrand is piecewise constant with jumps where units switch,
and every fixed rule (Gauss–Legendre included) converges like 1/n. But F itself is known
exactly at every node, so every sub-interval has its own completeness residual, and
these add up to the example's residual: the intervals with the largest ones are halved
until ``|residual| <= atol + rtol·s`` with ``s`` the denominator of
:attr:`Attribution.relative_residual` (``|F(x) − F(x')|``), or ``max_steps`` gradient
evaluations, or float32 rounding of F (:mod:`~kerasgene.explain.ig_adaptive`) — so
``atol=0`` bounds each example's relative residual by ``rtol`` (a warning names the
examples where it could not). The
nodes go where the units switch. ``Attribution.n_steps`` reports the gradient
evaluations per example; ``bench/bench_ig.py`` compares them with the papers' 200
Gauss–Legendre nodes at the papers' worst relative residual.

Inputs are given as a dict ``{input name: array}``, a list in the model's input order
(``[t.name for t in model.inputs]`` — Keras sorts dict inputs by name, so iSEGnet's order
is ``["epigenome", "sequence"]``), or one array for a single-input model. Arrays are
converted to float32 one chunk at a time, so memory-mapped uint8 one-hot datasets are
never copied whole.
"""

from __future__ import annotations

import functools
import logging
import re
import weakref
from collections.abc import Iterator, Mapping

import numpy as np
from tqdm.auto import tqdm

from kerasgene.errors import ConfigError
from kerasgene.explain.attribution import (
    Attribution,
    argmax_predictions,
    as_input_list,
    check_target,
    chunk_inputs,
    default_unit,
    format_target,
    input_names,
    make_baselines,
    output_tensor,
    residual_scale,
    resolve_layer,
    select_output,
)
from kerasgene.explain.ig_adaptive import adaptive_integrals, point_batches
from kerasgene.explain.ig_alibi import alibi_chunk, alibi_explainer

log = logging.getLogger(__name__)

_RIEMANN = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
METHODS = ("gausslegendre", *_RIEMANN)


def quadrature(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``α`` in [0, 1] and weights ``w`` (Σw = 1) of the quadrature rule; the same
    rules as alibi/captum: ``gausslegendre``, ``riemann_{left,right,middle,trapezoid}``
    (``riemann`` = trapezoid). Computed once per (method, n) and returned read-only
    (Gauss–Legendre nodes are the eigenvalues of an n × n matrix: seconds for n = 2000)."""
    if method == "riemann":
        method = "riemann_trapezoid"
    if method not in METHODS:
        raise ConfigError(f"unknown IG method {method!r}; expected one of {METHODS}")
    n = int(n_steps)
    if n < 2:
        raise ConfigError(f"n_steps must be >= 2, got {n_steps}")
    return _rule(method, n)


@functools.lru_cache(maxsize=64)
def _rule(method: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = _nodes_and_weights(method, n)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


def _nodes_and_weights(method: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (x + 1), 0.5 * w
    w = np.full(n, 1.0 / n)
    if method == "riemann_trapezoid":
        w[0] /= 2
        w[-1] /= 2
        return np.linspace(0, 1, n), w
    if method == "riemann_left":
        return np.linspace(0, 1 - 1 / n, n), w
    if method == "riemann_right":
        return np.linspace(1 / n, 1, n), w
    return np.linspace(1 / (2 * n), 1 - 1 / (2 * n), n), w


# --------------------------------------------------------------------------------------
# native engine
# --------------------------------------------------------------------------------------

#: What TensorFlow says when XLA cannot compile a function: an op without an XLA kernel
#: (``tf.py_function``, some RNN and string kernels) raises ``InvalidArgumentError``
#: "Detected unsupported operations when trying to compile graph ... on XLA_CPU_JIT" /
#: "tf2xla conversion failed while converting ..." (TF 2.21); XLA's own gaps raise
#: ``UnimplementedError`` naming XLA.
_XLA_UNSUPPORTED = re.compile(r"Detected unsupported operations when trying to compile|"
                              r"tf2xla conversion failed")


def is_xla_compile_error(err: BaseException) -> bool:
    """True when ``err`` says that XLA cannot compile a ``jit_compile=True`` function (so
    the same function would run without XLA); false for every other error, out-of-memory
    (``ResourceExhaustedError``) included."""
    import tensorflow as tf

    if isinstance(err, tf.errors.InvalidArgumentError):
        return bool(_XLA_UNSUPPORTED.search(str(err)))
    return isinstance(err, tf.errors.UnimplementedError) and "XLA" in str(err)



def default_jit_compile() -> bool:
    """Whether the native engine uses XLA by default: where TensorFlow sees a GPU. On CPU
    ``bench/bench_ig.py`` measured XLA slower than plain graphs (TF 2.21, 2 cores), so
    it is off there; pass ``jit_compile=True`` to have it anyway."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


class _Native:
    """Compiled pieces of the native engine for one model / output / layer.

    The core, :meth:`grad_points`, takes a fixed-size batch of path points given as
    (example index, α, weight) triples over a fixed-size block of examples, builds the
    points ``b[e] + α (x[e] − b[e])`` inside the graph, runs them through the model as
    one batch, and returns ``Σ_points weight · ∂F/∂input`` summed per example
    (``unsorted_segment_sum``). Every call has the same shapes whatever the step count
    or the mix of examples, so XLA compiles the model once (without XLA the batches are
    not padded: the batch axis is free). :meth:`grad_each` returns the gradient of every
    point with F and dF/dα there (``n_steps="auto"``).
    """

    def __init__(self, model, output, layer, jit_compile):
        import keras

        self.model_name = model.name
        out, self.output_name = output_tensor(model, output)
        self.n_out = int(np.prod(out.shape[1:]))
        self.layer = layer
        if layer is None:
            self.path_model = keras.Model(list(model.inputs), out)
            self.pre_model = None
        else:
            # f = f2(layer activation, inputs); the path runs in activation space with the
            # inputs held at x (they feed the branches that do not pass through the layer)
            self.pre_model = keras.Model(list(model.inputs), layer.output)
            self.path_model = keras.Model([layer.output, *model.inputs], out)
        self.jit = jit_compile
        self._build()

    def _build(self):
        import tensorflow as tf

        fn, n_out = self.path_model, self.n_out
        jit = bool(self.jit)

        def per_point(v, like):  # (P,) → (P, 1, ..., 1) broadcastable against ``like``
            rank = len(like.shape)
            return tf.reshape(tf.cast(v, like.dtype),
                              tf.concat([[-1], tf.ones([rank - 1], tf.int32)], 0))

        def points(xs, bs, fixed, ex, alphas, t):
            """Path points b[e] + α (x[e] − b[e]), their steps x[e] − b[e], the fixed
            inputs and targets of the (example, α) pairs."""
            paths, steps = [], []
            for x, b in zip(xs, bs):
                xb, bb = tf.gather(x, ex), tf.gather(b, ex)
                paths.append(bb + per_point(alphas, xb) * (xb - bb))
                steps.append(xb - bb)
            fixed_p = [tf.gather(f, ex) for f in fixed]
            return paths, steps, fixed_p, (None if t is None else tf.gather(t, ex))

        def value_and_grads(paths, fixed_p, tt):
            with tf.GradientTape() as tape:
                tape.watch(paths)
                y = select_output(fn([*paths, *fixed_p], training=False), tt, n_out)
            return y, tape.gradient(y, paths)

        def grad_points(xs, bs, fixed, ex, alphas, weights, t):
            paths, _, fixed_p, tt = points(xs, bs, fixed, ex, alphas, t)
            _, grads = value_and_grads(paths, fixed_p, tt)
            n_ex = tf.shape(xs[0])[0]
            return [tf.math.unsorted_segment_sum(per_point(weights, g) * g, ex, n_ex)
                    for g in grads]

        def grad_each(xs, bs, fixed, ex, alphas, t):
            """Per point: F, dF/dα = Σ (x − b)·∂F/∂x, and the gradients themselves."""
            paths, steps, fixed_p, tt = points(xs, bs, fixed, ex, alphas, t)
            y, grads = value_and_grads(paths, fixed_p, tt)
            slope = tf.add_n([tf.reduce_sum(tf.reshape(d * g, [tf.shape(g)[0], -1]), axis=1)
                              for d, g in zip(steps, grads)])
            return y, slope, grads

        def forward(xs, t):
            return select_output(fn(xs, training=False), t, n_out)

        self._grad_points = tf.function(grad_points, jit_compile=jit, reduce_retracing=True)
        self._grad_each = tf.function(grad_each, jit_compile=jit, reduce_retracing=True)
        self._forward = tf.function(forward, jit_compile=jit, reduce_retracing=True)
        if self.pre_model is not None:
            pre = self.pre_model
            self._pre = tf.function(lambda xs: pre(xs, training=False),
                                    jit_compile=jit, reduce_retracing=True)

    def _call(self, name, *args):
        """Run a compiled function. When XLA cannot compile it (:func:`is_xla_compile_error`)
        this engine — this model, output and layer only — switches to plain graph mode with
        a warning and runs it again; every other error propagates."""
        try:
            return getattr(self, name)(*args)
        except Exception as err:
            if not (self.jit and is_xla_compile_error(err)):
                raise
            log.warning("XLA cannot compile the integrated-gradients graph of model %r (%s); "
                        "using tf.function without jit_compile for this model",
                        self.model_name, str(err).splitlines()[0][:200])
            self.jit = False
            self._build()
            return getattr(self, name)(*args)

    def grad_points(self, xs, bs, fixed, ex, alphas, weights, t):
        return self._call("_grad_points", xs, bs, fixed, ex, alphas, weights, t)

    def grad_each(self, xs, bs, fixed, ex, alphas, t):
        return self._call("_grad_each", xs, bs, fixed, ex, alphas, t)

    def forward(self, xs, t):
        return self._call("_forward", xs, t)

    def pre(self, xs):
        return self._call("_pre", xs)


_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _engine(model, output, layer, jit_compile) -> _Native:
    """The compiled engine of (model, output, layer), built once per model."""
    key = (output, None if layer is None else layer.name, bool(jit_compile))
    try:
        cache = _ENGINES.setdefault(model, {})
    except TypeError:  # not weak-referenceable
        return _Native(model, output, layer, jit_compile)
    if key not in cache:
        cache[key] = _Native(model, output, layer, jit_compile)
    return cache[key]


def _chunk_baselines(bs: list[np.ndarray], sl: slice, c: int) -> list[np.ndarray]:
    out = []
    for b in bs:
        b = b[sl] if b.shape[0] != 1 else b
        out.append(np.ascontiguousarray(np.broadcast_to(b, (c, *b.shape[1:]))))
    return out


def _pad_rows(arrs: list[np.ndarray], c: int) -> list[np.ndarray]:
    """Pad each array with zero rows to ``c`` rows (keeps compiled shapes fixed)."""
    out = []
    for a in arrs:
        if len(a) < c:
            a = np.concatenate([a, np.zeros((c - len(a), *a.shape[1:]), a.dtype)])
        out.append(a)
    return out


class _Block:
    """One block of examples, padded to ``capacity`` rows, in tensors; ``fx``, ``fb``:
    (m,) float64 F at the inputs and at the baselines."""

    def __init__(self, eng: _Native, x_in, b_in, t, capacity: int):
        import tensorflow as tf

        self.m = len(x_in[0])
        pad = lambda arrs: [tf.constant(a) for a in _pad_rows(arrs, capacity)]  # noqa: E731
        tp = None if t is None else tf.constant(_pad_rows([np.asarray(t, np.int32)],
                                                          capacity)[0])
        self.t = tp
        if eng.pre_model is not None:
            self.fixed = pad(x_in)
            self.xs = [eng.pre(self.fixed)]
            self.bs = [eng.pre(pad(b_in))]
            self.fx = eng.forward([self.xs[0], *self.fixed], tp).numpy()[: self.m]
            self.fb = eng.forward([self.bs[0], *self.fixed], tp).numpy()[: self.m]
        else:
            self.fixed = []
            self.xs, self.bs = pad(x_in), pad(b_in)
            self.fx = eng.forward(self.xs, tp).numpy()[: self.m]
            self.fb = eng.forward(self.bs, tp).numpy()[: self.m]
        self.fx, self.fb = self.fx.astype(np.float64), self.fb.astype(np.float64)


def _block_integrals(eng: _Native, blk: _Block, steps: dict[int, int], method: str,
                     batch_size: int) -> list[np.ndarray]:
    """Σ_k w_k ∂F/∂x(b + α_k(x − b)) per example of the block, for the examples listed
    in ``steps`` ({example row: node count}), in batches of ``batch_size`` points."""
    ex, al, wt = [], [], []
    for i, n in steps.items():
        a, w = quadrature(method, n)
        ex.append(np.full(n, i, np.int32))
        al.append(a)
        wt.append(w)
    sums = None
    for e, a, w, _ in point_batches(np.concatenate(ex), np.concatenate(al).astype(np.float32),
                                    np.concatenate(wt).astype(np.float32), batch_size,
                                    pad=eng.jit):
        g = eng.grad_points(blk.xs, blk.bs, blk.fixed, e, a, w, blk.t)
        sums = g if sums is None else [s + gi for s, gi in zip(sums, g)]
    return [s.numpy() for s in sums]


def _native_chunk(eng: _Native, x_in, b_in, t, method: str, batch_size: int, capacity: int,
                  n_steps: int | None = None, auto: dict | None = None):
    """IG of the examples of one chunk. Returns (attrs, F(x), F(b), steps per example).
    With XLA the chunk is padded to ``capacity`` examples (one compiled shape)."""
    blk = _Block(eng, x_in, b_in, t, capacity if eng.jit else len(x_in[0]))
    m = blk.m
    xs = [x.numpy()[:m] for x in blk.xs]
    bs = [b.numpy()[:m] for b in blk.bs]
    if auto is not None:
        tol = auto["atol"] + auto["rtol"] * residual_scale(blk.fx, blk.fb)
        sums, steps = adaptive_integrals(eng, blk, tol, int(auto["start_steps"]),
                                         int(auto["max_steps"]), batch_size)
    else:
        sums = _block_integrals(eng, blk, dict.fromkeys(range(m), n_steps), method, batch_size)
        steps = np.full(m, n_steps)
    attrs = [(x - b) * s[:m] for x, b, s in zip(xs, bs, sums)]
    return attrs, blk.fx, blk.fb, steps


def _residual(attrs: list[np.ndarray], fx: np.ndarray, fb: np.ndarray) -> np.ndarray:
    total = sum(a.reshape(len(a), -1).astype(np.float64).sum(axis=1) for a in attrs)
    return total - (fx - fb)


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------


def _check_arguments(engine: str, n_steps: int | str, method: str, batch_size: int) -> bool:
    """Check the engine, step and batch arguments; true for ``n_steps="auto"``."""
    if engine not in ("native", "alibi"):
        raise ConfigError(f"engine must be 'native' or 'alibi', got {engine!r}")
    auto = isinstance(n_steps, str)
    if auto and n_steps != "auto":
        raise ConfigError(f"n_steps must be an integer or 'auto', got {n_steps!r}")
    if auto and engine != "native":
        raise ConfigError("n_steps='auto' is implemented by the native engine only")
    if not auto:
        quadrature(method, int(n_steps))  # validates
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    return auto


def _chunk_size(chunk_size: int | None, engine: str, batch_size: int, n_steps, n: int) -> int:
    """Examples per chunk: native 8, alibi up to 8 with ``n_steps × examples`` path points
    at most ``4 × batch_size``; never more than ``n``."""
    if chunk_size is None:
        chunk_size = max(1, min(8, 4 * batch_size // max(n_steps, 1))) if engine == "alibi" else 8
    return max(1, min(int(chunk_size), n))


def iter_integrated_gradients(
    model,
    inputs,
    *,
    baselines="zeros",
    n_steps: int | str = 200,
    method: str = "gausslegendre",
    engine: str = "native",
    batch_size: int = 64,
    target=None,
    output: str | int | None = None,
    layer=None,
    chunk_size: int | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-6,
    start_steps: int = 16,
    max_steps: int = 512,
    jit_compile: bool | None = None,
    progress: bool = False,
) -> Iterator[tuple[slice, Attribution]]:
    """Integrated gradients chunk by chunk: yields ``(rows, Attribution)`` for consecutive
    slices of the examples, so attributions of many genes can be streamed to disk with
    memory bounded by one chunk. Same arguments as :func:`integrated_gradients`
    (``progress``: a tqdm bar over the examples, off by default here)."""
    auto = _check_arguments(engine, n_steps, method, batch_size)
    n_steps = n_steps if auto else int(n_steps)
    batch_size = int(batch_size)
    layer = resolve_layer(model, layer)
    xs = as_input_list(model, inputs)
    bs = make_baselines(model, xs, baselines)
    n = len(xs[0])
    names = input_names(model) if layer is None else [layer.name]
    explainer, n_out = None, 1
    if engine == "alibi":
        explainer, n_out = alibi_explainer(model, output, layer, method, n_steps, batch_size)
    # the alibi engine uses a plain-graph native one for F(x), F(baseline)
    jit = default_jit_compile() if jit_compile is None else bool(jit_compile)
    eng = _engine(model, output, layer, jit and explainer is None)
    if target is None:  # a classifier's last class, as `kerasgene explain`
        target = default_unit(model, output)
    t_all = format_target(target, n, xs,
                          lambda xl: argmax_predictions(model, output, xl, batch_size))
    check_target(model, output, t_all)
    if explainer is not None and t_all is not None and n_out == 1:
        raise ConfigError("engine='alibi' with a single-unit classifier is not supported "
                          "(its sign convention differs); use engine='native'")
    chunk_size = _chunk_size(chunk_size, engine, batch_size, n_steps, n)
    auto_opts = dict(rtol=rtol, atol=atol, start_steps=start_steps, max_steps=max_steps)
    with tqdm(total=n, desc="integrated gradients", unit="example",
              disable=not progress) as bar:
        for lo in range(0, n, chunk_size):
            sl = slice(lo, min(n, lo + chunk_size))
            x_in = chunk_inputs(xs, sl)
            m = len(x_in[0])
            b_in = _chunk_baselines(bs, sl, m)
            t = None if t_all is None else t_all[sl]
            if explainer is not None:
                attrs, fx, fb = alibi_chunk(explainer, eng, x_in, b_in, t, layer)
                steps = np.full(m, n_steps)
            else:
                attrs, fx, fb, steps = _native_chunk(
                    eng, x_in, b_in, t, method, batch_size, chunk_size,
                    n_steps=None if auto else n_steps, auto=auto_opts if auto else None)
            attrs = [a.astype(np.float32, copy=False) for a in attrs]  # "auto" sums in float64
            bar.update(m)
            yield sl, Attribution(attrs, _residual(attrs, fx, fb), fx - fb, fx, fb,
                                  steps.astype(np.int32), list(names), engine,
                                  "adaptive_trapezoid" if auto else method,
                                  None if layer is None else layer.name)


def integrated_gradients(
    model,
    inputs,
    *,
    baselines="zeros",
    n_steps: int | str = 200,
    method: str = "gausslegendre",
    engine: str = "native",
    batch_size: int = 64,
    target=None,
    output: str | int | None = None,
    layer=None,
    chunk_size: int | None = None,
    rtol: float = 1e-3,
    atol: float = 1e-6,
    start_steps: int = 16,
    max_steps: int = 512,
    jit_compile: bool | None = None,
    progress: bool = True,
) -> Attribution:
    """Integrated gradients of one scalar model output with respect to every model input
    (or one internal layer).

    Parameters
    ----------
    model : functional keras.Model (named inputs; dict or list outputs)
    inputs : dict ``{input name: (n, ...)}``, list in model input order, or one array;
        arrays may be memory-mapped / uint8, they are converted per chunk
    baselines : "zeros" (papers), "ones", "uniform" (0.25 per base, one-hot DNA), a
        number, an array of shape ``(...)``/``(1, ...)``/``(n, ...)``, or a per-input mix
        ``{input name: spec}`` / list (see :func:`make_baselines`)
    n_steps : quadrature nodes (papers: 200), or "auto" (native engine): adaptive
        composite trapezoid rule per example, starting from ``start_steps`` equal
        intervals (``start_steps + 1`` gradients) and halving those with the largest
        completeness residual until ``|residual| <= atol + rtol·|F(x) − F(baseline)|``
        (so ``atol=0`` bounds ``relative_residual`` by ``rtol``), ``max_steps``
        gradient evaluations, or float32 rounding of F (then a warning) (``method`` is
        then not used)
    method : "gausslegendre" (papers) or "riemann_{left,right,middle,trapezoid}"
    engine : "native" (tf.function) or "alibi" (alibi.explainers.IntegratedGradients)
    batch_size : path points per forward+backward pass (alibi: ``internal_batch_size``)
    target : None for a one-unit regression output; for a classifier the class index
        per example (int or ``(n,)`` ints) or "argmax" (the predicted class). For a
        single-unit sigmoid output, target 1 attributes p and target 0 attributes 1 − p.
        None: a one-unit output's value (a single sigmoid unit: p), or on a classifier
        with several class units its last class, the class ``kerasgene explain``
        attributes by default (:func:`kerasgene.explain.attribution.default_unit`)
    output : name (or index) of the output to explain when the model has several
    layer : name (or layer) of an internal layer to attribute to instead of the inputs;
        the path runs from the baseline's activation to the input's activation with the
        model inputs held at x. ``attributions`` then has the layer output's shape.
    chunk_size : examples per chunk (memory bound; native default 8, alibi up to 8 so that
        its ``n_steps × examples`` path arrays stay small)
    jit_compile : XLA-compile the native engine; None (default): where a GPU is visible
        (:func:`default_jit_compile`). When XLA cannot compile the model's graph (an op
        without an XLA kernel) that model's engine falls back to plain graphs with a
        warning (:func:`is_xla_compile_error`); other errors propagate
    progress : show a progress bar over the examples (tqdm, on stderr)

    Returns
    -------
    Attribution
        ``.attributions`` (list of ``(n, ...)`` float32 arrays, model input order),
        ``.residual`` (n,), ``.delta``, ``.n_steps``, ``.relative_residual``. The
        attributions are float32 whatever the engine and ``n_steps``: the model's own
        precision (its gradients are float32); ``n_steps="auto"`` adds its sub-interval
        integrals in float64 and rounds once at the end. The residual, outputs and deltas
        are float64, computed from the returned float32 attributions.

    Examples
    --------
    >>> res = integrated_gradients(model, {"sequence": seq, "epigenome": epi})
    >>> res["sequence"].shape, res.residual.shape
    ((16, 2500, 4), (16,))
    """
    kw = dict(baselines=baselines, n_steps=n_steps, method=method, engine=engine,
              batch_size=batch_size, target=target, output=output, layer=layer,
              chunk_size=chunk_size, rtol=rtol, atol=atol, start_steps=start_steps,
              max_steps=max_steps, jit_compile=jit_compile)
    full = None
    for sl, part in iter_integrated_gradients(model, inputs, progress=progress, **kw):
        if full is None:
            full = _empty_attribution(part, _n_examples(inputs))
        _fill_attribution(full, sl, part)
    if full is None:
        raise ConfigError("no examples to explain (inputs are empty)")
    if n_steps != "auto":  # the adaptive rule warns where it misses its own tolerance
        warn_incomplete(full, f"{n_steps} {method} steps")
    return full


#: The relative completeness residual above which attributions are warned about: "in
#: practice, somewhere between 20 and 300 steps are enough to approximate the integral
#: (within 5%)" (Sundararajan et al. 2017, §3), what the IG paper tells a user to check.
COMPLETENESS_TOLERANCE = 0.05


def warn_incomplete(res: Attribution, how: str) -> None:
    """Warn when some examples' attributions miss ``F(x) − F(baseline)`` by more than
    :data:`COMPLETENESS_TOLERANCE` of it (:attr:`Attribution.relative_residual`): the
    integral was approximated too coarsely (``how``: the rule used) for their sums to
    mean what integrated gradients promise."""
    rel = np.asarray(res.relative_residual, np.float64)
    off = rel > COMPLETENESS_TOLERANCE
    if off.any():
        log.warning("integrated gradients: the attributions of %d of %d examples miss "
                    "F(x) − F(baseline) by more than %.0f%% of it (at most %.0f%%; %s): "
                    "raise n_steps (--n-steps) or use n_steps='auto'", int(off.sum()),
                    len(rel), 100 * COMPLETENESS_TOLERANCE, 100 * float(rel.max()), how)


def _n_examples(inputs) -> int:
    """Rows of the first array of ``inputs`` (a dict, a list in model input order or one
    array), read after :func:`iter_integrated_gradients` has checked them all."""
    if isinstance(inputs, Mapping):
        inputs = list(inputs.values())
    return len(inputs[0] if isinstance(inputs, list | tuple) else inputs)


def _empty_attribution(like: Attribution, n: int) -> Attribution:
    """An :class:`Attribution` of ``n`` examples with the per-example shapes and dtypes
    of ``like`` (one chunk), to be filled chunk by chunk (:func:`_fill_attribution`)."""
    empty = lambda a: np.empty((n, *a.shape[1:]), a.dtype)  # noqa: E731
    return Attribution([empty(a) for a in like.attributions], empty(like.residual),
                       empty(like.delta), empty(like.output_x), empty(like.output_baseline),
                       empty(like.n_steps), like.input_names, like.engine, like.method,
                       like.layer)


def _fill_attribution(full: Attribution, rows: slice, part: Attribution) -> None:
    """Copy the chunk ``part`` into the examples ``rows`` of ``full``: the whole result
    is held once (a list of chunks then concatenated held it twice at the end)."""
    for a, p in zip(full.attributions, part.attributions):
        a[rows] = p
    for name in ("residual", "delta", "output_x", "output_baseline", "n_steps"):
        getattr(full, name)[rows] = getattr(part, name)
