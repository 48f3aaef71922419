"""Tests of kerasgene.explain: IG engines, aggregation, knockouts, plots (motifs are in
tests/test_motifs.py). Tiny functional models with named inputs keep the suite fast."""

from __future__ import annotations

import logging

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from kerasgene import dna  # noqa: E402
from kerasgene.errors import ConfigError  # noqa: E402
from kerasgene.explain import ablation as AB  # noqa: E402
from kerasgene.explain import attribution as A  # noqa: E402
from kerasgene.explain import ig as IG  # noqa: E402
from kerasgene.explain import knockout as K  # noqa: E402
from kerasgene.explain import plots as P  # noqa: E402
from kerasgene.explain import saliency as S  # noqa: E402
from kerasgene.explain import sites as SI  # noqa: E402
from kerasgene.explain import truth as T  # noqa: E402
from kerasgene.explain.ig import integrated_gradients  # noqa: E402

L = 48


def two_input_cnn(seed: int = 0, L: int = L) -> keras.Model:
    """iSEGnet-like: a conv branch per input, concat, dense head, dict I/O."""
    keras.utils.set_random_seed(seed)
    s = keras.Input((L, 4), name="sequence")
    e = keras.Input((L, 3), name="epigenome")
    a = layers.Conv1D(8, 5, activation="relu", name="sequence_conv")(s)
    b = layers.Conv1D(4, 5, activation="relu", name="epigenome_conv")(e)
    x = layers.Concatenate(name="merge")([a, b])
    x = layers.AveragePooling1D(4, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(8, activation="relu", name="hidden")(x)
    y = layers.Dense(1, name="expression")(x)
    return keras.Model({"sequence": s, "epigenome": e}, {"expression": y}, name="toy2")


def classifier(n_classes: int, seed: int = 1) -> keras.Model:
    keras.utils.set_random_seed(seed)
    s = keras.Input((L, 4), name="sequence")
    x = layers.Conv1D(6, 7, activation="relu", name="sequence_conv")(s)
    x = layers.GlobalMaxPooling1D()(x)
    act = "sigmoid" if n_classes == 1 else "softmax"
    y = layers.Dense(n_classes, activation=act, name="class_probabilities")(x)
    return keras.Model(s, {"class_probabilities": y}, name=f"cls{n_classes}")


def one_hot(rng, n, L=L, dtype=np.float32):
    return np.eye(4, dtype=dtype)[rng.integers(0, 4, (n, L))]


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    model = two_input_cnn()
    X = {"sequence": one_hot(rng, 5), "epigenome": rng.random((5, L, 3)).astype(np.float32)}
    return model, X


# --------------------------------------------------------------------------------------
# integrated gradients
# --------------------------------------------------------------------------------------


def test_input_order_and_shapes(toy):
    model, X = toy
    res = integrated_gradients(model, X, n_steps=32)
    assert res.input_names == A.input_names(model) == ["epigenome", "sequence"]
    assert [a.shape for a in res.attributions] == [(5, L, 3), (5, L, 4)]
    assert res.residual.shape == (5,) and res["sequence"].shape == (5, L, 4)
    # a list in model input order gives the same result as the dict
    res2 = integrated_gradients(model, [X["epigenome"], X["sequence"]], n_steps=32)
    np.testing.assert_allclose(res2["sequence"], res["sequence"], atol=1e-7)


def test_engines_agree_and_complete(toy):
    model, X = toy
    nat = integrated_gradients(model, X, n_steps=200, engine="native")
    ali = integrated_gradients(model, X, n_steps=200, engine="alibi", batch_size=100)
    assert nat.relative_residual.max() < 1e-3
    assert ali.relative_residual.max() < 1e-3
    for a, b in zip(nat.attributions, ali.attributions):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
        np.testing.assert_allclose(a, b, atol=1e-5)
    # residual is Σ attributions − (F(x) − F(baseline))
    total = sum(a.reshape(5, -1).sum(1) for a in nat.attributions)
    np.testing.assert_allclose(nat.residual, total - nat.delta, atol=1e-6)


def test_riemann_and_quadrature_match_alibi():
    from alibi.utils.approximation_methods import approximation_parameters

    for method in IG.METHODS:
        steps_f, alphas_f = approximation_parameters(method)
        a, w = IG.quadrature(method, 17)
        np.testing.assert_allclose(a, alphas_f(17), atol=1e-12)
        np.testing.assert_allclose(w, steps_f(17), atol=1e-12)
    with pytest.raises(ConfigError):
        IG.quadrature("simpson", 10)


def test_riemann_engines_agree(toy):
    model, X = toy
    a = integrated_gradients(model, X, n_steps=50, method="riemann_trapezoid")
    b = integrated_gradients(model, X, n_steps=50, method="riemann_trapezoid", engine="alibi")
    for u, v in zip(a.attributions, b.attributions):
        np.testing.assert_allclose(u, v, atol=1e-5)


def test_step_slicing_and_chunking_are_exact(toy):
    model, X = toy
    ref = integrated_gradients(model, X, n_steps=120, batch_size=1024)
    sliced = integrated_gradients(model, X, n_steps=120, batch_size=32)  # 4 slices per gene
    chunked = integrated_gradients(model, X, n_steps=8, batch_size=24, chunk_size=2)
    for a, b in zip(ref.attributions, sliced.attributions):
        np.testing.assert_allclose(a, b, atol=1e-6)
    parts = list(IG.iter_integrated_gradients(model, X, n_steps=8, batch_size=24, chunk_size=2))
    assert [(s.start, s.stop) for s, _ in parts] == [(0, 2), (2, 4), (4, 5)]
    np.testing.assert_allclose(np.concatenate([p["sequence"] for _, p in parts]),
                               chunked["sequence"], atol=1e-7)


def test_baselines(toy):
    model, X = toy
    bl = A.make_baselines(model, X, {"sequence": "uniform", "epigenome": "ones"})
    assert bl[1].shape == (1, L, 4) and np.all(bl[1] == 0.25) and np.all(bl[0] == 1)
    arr = np.full((L, 3), 0.5, np.float32)
    bl = A.make_baselines(model, X, {"epigenome": arr})
    assert np.all(bl[0] == 0.5) and np.all(bl[1] == 0)
    with pytest.raises(ConfigError, match="one-hot DNA"):
        A.make_baselines(model, X, "uniform")
    with pytest.raises(ConfigError, match="unknown inputs"):
        A.make_baselines(model, X, {"dna": "zeros"})
    res = integrated_gradients(model, X, n_steps=200,
                               baselines={"sequence": "uniform", "epigenome": 0.5})
    np.testing.assert_allclose(res.output_baseline, res.output_baseline[0], rtol=1e-6)
    # kinks of the ReLUs along a non-zero path: looser than the zero-baseline 1e-3
    assert np.all(np.abs(res.residual) <= 2e-2 * np.abs(res.delta) + 1e-4)
    # per-example baseline array
    per = {"epigenome": X["epigenome"][::-1].copy()}
    res = integrated_gradients(model, X, n_steps=64, baselines=per)
    assert not np.allclose(res.output_baseline, res.output_baseline[0])


def test_uint8_memmap_inputs(tmp_path, toy):
    model, X = toy
    np.save(tmp_path / "seq.npy", X["sequence"].astype(np.uint8))
    mm = np.load(tmp_path / "seq.npy", mmap_mode="r")
    a = integrated_gradients(model, {"sequence": mm, "epigenome": X["epigenome"]}, n_steps=16)
    b = integrated_gradients(model, X, n_steps=16)
    np.testing.assert_allclose(a["sequence"], b["sequence"], atol=1e-7)


def test_auto_steps_meet_tolerance(toy):
    model, X = toy
    res = integrated_gradients(model, X, n_steps="auto", rtol=0, atol=1e-5, start_steps=4,
                               max_steps=256)
    assert res.n_steps.min() >= 4 and res.n_steps.max() <= 256
    assert np.all((np.abs(res.residual) <= 1e-5) | (res.n_steps == 256))
    with pytest.raises(ConfigError):
        integrated_gradients(model, X, n_steps="auto", engine="alibi")


def test_auto_bounds_the_relative_residual_and_converges(toy):
    """With atol=0 every example's relative residual is at most rtol (unless max_steps
    stops it first); a tight rtol gives the attributions of a fine fixed rule."""
    model, X = toy
    for rtol in (1e-2, 1e-4):
        res = integrated_gradients(model, X, n_steps="auto", rtol=rtol, atol=0.0,
                                   start_steps=4, max_steps=1024)
        assert np.all((res.relative_residual <= rtol) | (res.n_steps == 1024)), rtol
        assert np.all(res.n_steps >= 5)  # start_steps + 1 nodes at least
    fine = integrated_gradients(model, X, n_steps=1000)
    tight = integrated_gradients(model, X, n_steps="auto", rtol=1e-5, atol=0.0,
                                 start_steps=16, max_steps=1024)
    for a, b in zip(tight.attributions, fine.attributions):
        np.testing.assert_allclose(a, b, atol=2e-3 * np.abs(b).max())
    # below float32 rounding of F the rule stops refining (it used to halve one interval
    # until its midpoint equalled an end, and loop there forever)
    floor = integrated_gradients(model, X, n_steps="auto", rtol=1e-12, atol=0.0,
                                 start_steps=32, max_steps=256)
    assert floor.n_steps.max() <= 256 and floor.relative_residual.max() < 1e-4


def test_xla_and_plain_graphs_agree(toy):
    """The engine gives the same attributions with and without XLA (which pads every pass
    to one shape) for the fixed and the adaptive rules."""
    model, X = toy
    for kw in (dict(n_steps=24, batch_size=10), dict(n_steps="auto", rtol=1e-3,
                                                     start_steps=4, batch_size=10)):
        on = integrated_gradients(model, X, jit_compile=True, chunk_size=2, **kw)
        off = integrated_gradients(model, X, jit_compile=False, chunk_size=2, **kw)
        np.testing.assert_array_equal(on.n_steps, off.n_steps)
        for a, b in zip(on.attributions, off.attributions):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * np.abs(b).max())
    assert IG.default_jit_compile() is bool(__import__("tensorflow").config
                                            .list_physical_devices("GPU"))


def test_auto_puts_nodes_at_the_kink_of_a_relu_path():
    """F(α) = relu(α·s − c) along the path: one kink at α* = c/s. A uniform midpoint rule
    with n nodes misses it by up to s/(2n); the adaptive rule halves only the interval
    holding the kink, so it meets a 1e-6 tolerance with a few dozen gradients."""
    inp = keras.Input((5,), name="x")
    dense = layers.Dense(1, activation="relu", name="unit")
    model = keras.Model(inp, dense(inp))
    dense.set_weights([np.ones((5, 1), np.float32), np.array([-1.3], np.float32)])
    x = np.full((1, 5), 0.7, np.float32)  # s = 3.5: kink at α* = 1.3 / 3.5 ≈ 0.371
    res = integrated_gradients(model, x, n_steps="auto", rtol=0, atol=1e-6, start_steps=4,
                               max_steps=512, batch_size=8)
    assert abs(res.residual[0]) <= 1e-6
    assert res.n_steps[0] <= 64, res.n_steps
    np.testing.assert_allclose(res.attributions[0].sum(), 3.5 - 1.3, atol=1e-6)
    fixed = integrated_gradients(model, x, n_steps=64, method="riemann_middle")
    assert abs(fixed.residual[0]) > 1e-4  # the same node count spread evenly misses it


def test_too_few_steps_are_warned_about(caplog):
    """F(α) = relu(α·s − c): two Riemann midpoint nodes (α = 0.25, 0.75) give 3.5/2 against
    F(x) − F(0) = 2.2, 20 % off — a warning counts the example and says what to do; 200
    Gauss–Legendre nodes stay within 5 % and say nothing, nor does ``n_steps='auto'``."""
    inp = keras.Input((5,), name="x")
    dense = layers.Dense(1, activation="relu", name="unit")
    model = keras.Model(inp, dense(inp))
    dense.set_weights([np.ones((5, 1), np.float32), np.array([-1.3], np.float32)])
    x = np.full((2, 5), 0.7, np.float32)
    with caplog.at_level(logging.WARNING, logger="kerasgene.explain.ig"):
        coarse = integrated_gradients(model, x, n_steps=2, method="riemann_middle",
                                      progress=False)
    assert coarse.relative_residual == pytest.approx([0.2045, 0.2045], abs=1e-3)
    assert ("integrated gradients: the attributions of 2 of 2 examples miss F(x) − "
            "F(baseline) by more than 5% of it (at most 20%; 2 riemann_middle steps): raise "
            "n_steps (--n-steps) or use n_steps='auto'") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="kerasgene.explain.ig"):
        integrated_gradients(model, x, progress=False)
        integrated_gradients(model, x, n_steps="auto", progress=False)
    assert "integrated gradients" not in caplog.text


def test_attributions_are_float32_whatever_the_engine_and_steps(toy):
    model, X = toy
    for kw in (dict(n_steps=16), dict(n_steps="auto", start_steps=4, max_steps=32),
               dict(n_steps=16, engine="alibi"), dict(n_steps=16, layer="sequence_conv")):
        res = integrated_gradients(model, X, **kw)
        assert {a.dtype for a in res.attributions} == {np.dtype(np.float32)}, kw
        assert res.residual.dtype == np.float64, kw
        total = sum(a.reshape(5, -1).astype(np.float64).sum(1) for a in res.attributions)
        np.testing.assert_allclose(res.residual, total - res.delta, atol=1e-12)


class PyIdentity(layers.Layer):
    """Identity through ``tf.py_function``: an op XLA cannot compile (identity gradient)."""

    def call(self, x):
        import tensorflow as tf

        @tf.custom_gradient
        def ident(v):
            y = tf.py_function(lambda a: a, [v], tf.float32)
            y.set_shape(v.shape)
            return y, lambda dy: dy

        return ident(x)


def test_xla_fallback_only_for_xla_compile_errors_per_model(toy, caplog):
    """A model XLA cannot compile falls back to plain graphs (a warning naming it), with
    the same attributions; another model keeps XLA; other errors propagate."""
    import logging

    import tensorflow as tf

    inp = keras.Input((L, 4), name="sequence")
    y = layers.Dense(1, name="out")(layers.Flatten()(PyIdentity()(inp)))
    odd = keras.Model(inp, y, name="py_function_model")
    x = one_hot(np.random.default_rng(5), 3)
    with caplog.at_level(logging.WARNING, logger="kerasgene.explain.ig"):
        res = integrated_gradients(odd, x, n_steps=8, jit_compile=True)
    assert "XLA cannot compile" in caplog.text and "py_function_model" in caplog.text
    plain = integrated_gradients(odd, x, n_steps=8, jit_compile=False)
    np.testing.assert_allclose(res.attributions[0], plain.attributions[0], atol=1e-6)
    assert IG._engine(odd, None, None, True).jit is False
    model, X = toy
    integrated_gradients(model, X, n_steps=8, jit_compile=True)
    eng = IG._engine(model, None, None, True)
    assert eng.jit is True  # the fallback of one model leaves the others compiled

    def out_of_memory(*args):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    eng._forward = out_of_memory
    try:
        with pytest.raises(tf.errors.ResourceExhaustedError):
            integrated_gradients(model, X, n_steps=8, jit_compile=True)
        assert eng.jit is True
    finally:
        IG._ENGINES.pop(model, None)  # rebuilt by the next test that needs it


def test_is_xla_compile_error():
    import tensorflow as tf

    def compile_error():
        try:
            tf.function(lambda v: tf.strings.as_string(v), jit_compile=True)(tf.ones(2))
        except Exception as err:
            return err
        raise AssertionError("XLA compiled a string op")

    assert IG.is_xla_compile_error(compile_error())
    assert not IG.is_xla_compile_error(tf.errors.ResourceExhaustedError(None, None, "OOM"))
    assert not IG.is_xla_compile_error(tf.errors.InvalidArgumentError(None, None, "bad index"))
    assert not IG.is_xla_compile_error(ValueError("Detected unsupported operations"))


def test_classification_targets():
    rng = np.random.default_rng(3)
    x = one_hot(rng, 4)
    m3 = classifier(3)
    t = np.array([0, 1, 2, 1])
    nat = integrated_gradients(m3, x, n_steps=100, target=t)
    ali = integrated_gradients(m3, x, n_steps=100, target=t, engine="alibi")
    np.testing.assert_allclose(nat.attributions[0], ali.attributions[0], atol=1e-5)
    p = m3.predict(x, verbose=0)["class_probabilities"]
    np.testing.assert_allclose(nat.output_x, p[np.arange(4), t], rtol=1e-5)
    am = integrated_gradients(m3, x, n_steps=16, target="argmax")
    np.testing.assert_allclose(am.output_x, p.max(axis=1), rtol=1e-5)
    with pytest.raises(ConfigError):
        integrated_gradients(m3, x, n_steps=16, target=np.array([0.5, 1, 2, 1]))
    # single-unit sigmoid: target 0 explains 1 - p
    m1 = classifier(1)
    r0 = integrated_gradients(m1, x, n_steps=200, target=0)
    r1 = integrated_gradients(m1, x, n_steps=200, target=1)
    np.testing.assert_allclose(r0.attributions[0], -r1.attributions[0], atol=1e-6)
    assert r1.relative_residual.max() < 1e-3


def test_internal_layer_attribution(toy):
    model, X = toy
    res = integrated_gradients(model, X, n_steps=200, layer="sequence_conv")
    assert res.input_names == ["sequence_conv"]
    assert res.attributions[0].shape == (5, L - 4, 8)
    assert res.relative_residual.max() < 1e-2
    with pytest.raises(ConfigError, match="single-input"):
        integrated_gradients(model, X, n_steps=16, layer="sequence_conv", engine="alibi")
    with pytest.raises(ConfigError, match="no layer"):
        integrated_gradients(model, X, n_steps=16, layer="nope")


def test_bad_inputs(toy):
    model, X = toy
    with pytest.raises(ConfigError, match="lack"):
        integrated_gradients(model, {"sequence": X["sequence"]})
    with pytest.raises(ConfigError, match="shape"):
        integrated_gradients(model, {"sequence": X["sequence"][:, :10],
                                     "epigenome": X["epigenome"]})
    with pytest.raises(ConfigError, match="engine"):
        integrated_gradients(model, X, engine="captum")


def test_registry_isegnet_small():
    """Completeness of both engines on the registry iSEGnet at small hyperparameters."""
    from kerasgene.models import build

    keras.utils.set_random_seed(0)
    model = build("isegnet", seq_len=120, k1=4, kernel_length=10, dense_units=(8,),
                  dropout=0.1)
    model.get_layer("head_dense").bias.assign([1.0])  # keep the output ReLU active
    rng = np.random.default_rng(0)
    X = {"sequence": one_hot(rng, 2, 120), "epigenome": rng.random((2, 120, 7)).astype("f4")}
    nat = integrated_gradients(model, X, n_steps=200)
    ali = integrated_gradients(model, X, n_steps=200, engine="alibi", batch_size=100)
    assert np.all(nat.delta != 0)
    assert nat.relative_residual.max() < 1e-3 and ali.relative_residual.max() < 1e-3
    for a, b in zip(nat.attributions, ali.attributions):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


# --------------------------------------------------------------------------------------
# saliency and aggregation
# --------------------------------------------------------------------------------------


def test_saliency_linear_model():
    inp = keras.Input((6, 2), name="histone")
    y = layers.Dense(1, name="expression")(layers.Flatten()(inp))
    m = keras.Model(inp, {"expression": y})
    w = np.arange(12, dtype=np.float32).reshape(12, 1) / 10
    m.get_layer("expression").set_weights([w, np.zeros(1, np.float32)])
    x = np.random.default_rng(0).random((3, 6, 2)).astype(np.float32)
    g = S.saliency(m, x, batch_size=2)[0]
    np.testing.assert_allclose(g, np.broadcast_to(w.reshape(6, 2), (3, 6, 2)), rtol=1e-6)
    gi = S.saliency(m, x, times_input=True)[0]
    np.testing.assert_allclose(gi, g * x, rtol=1e-6)
    means = S.mean_saliency(g, ["a", "b", "a"])
    assert list(means) == ["a", "b"] and means["a"].shape == (6, 2)


def test_tracks_and_profiles(toy):
    model, X = toy
    res = integrated_gradients(model, X, n_steps=16)
    tracks = SI.attribution_tracks(res, track_names={"epigenome": ["DNase", "K4", "K36"]})
    assert list(tracks) == ["DNase", "K4", "K36", "DNA"]
    np.testing.assert_allclose(tracks["DNA"], res["sequence"].sum(-1))
    prof = SI.track_profiles(tracks)
    assert prof["DNA"]["mean"].shape == (L,) and np.all(prof["DNA"]["sem"] >= 0)
    with pytest.raises(ConfigError):
        SI.attribution_tracks(res, track_names={"epigenome": ["a"]})
    with pytest.raises(ConfigError, match="track_names: expected"):
        SI.attribution_tracks(res, track_names=["DNase", "K4", "K36"])


def test_seven_epigenome_channels_are_not_named_by_guess():
    """Any 7-channel epigenome was named as the paper's tracks in the paper's order, so a
    user's own 7 tracks (or another order) were mislabelled without a word."""
    a = np.random.default_rng(0).normal(size=(2, 10, 7)).astype(np.float32)
    res = A.Attribution([a], *[np.zeros(2)] * 5, ["epigenome"], "native", "gausslegendre")
    assert list(SI.attribution_tracks(res)) == [f"epigenome[{k}]" for k in range(7)]
    mine = ["ATAC", "H3K27ac", "H3K4me1", "H3K4me3", "CTCF", "H3K9me3", "H3K27me3"]
    tracks = SI.attribution_tracks(res, track_names={"epigenome": mine})
    assert list(tracks) == mine
    np.testing.assert_array_equal(tracks["CTCF"], a[..., 4])


def test_planted_position_auroc_and_truth_mask():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (20, 100))
    mask = np.zeros(100, bool)
    mask[30:40] = True
    a[:, mask] += np.sign(rng.normal(size=(20, 10))) * 5
    assert T.planted_position_auroc(a, mask) == 1.0
    assert abs(T.planted_position_auroc(rng.normal(size=(50, 100)), mask) - 0.5) < 0.05
    truth = {"window": [{"anchor": "TSS", "start": -1000, "end": 500},
                        {"anchor": "TTS", "start": -500, "end": 500}],
             "features": [{"name": "D", "track": "DNase", "window_index": [700, 1100]}]}
    m = T.truth_signal_mask(truth, "DNase")
    assert m.shape == (2500,) and m.sum() == 400 and m[700] and not m[1100]
    with pytest.raises(ConfigError, match="tracks with signal"):
        T.truth_signal_mask(truth, "H3K4me1")
    tr = np.zeros((4, 2500))
    tr[:, 800] = 1.0
    tr[:, 2000] = 0.5
    got = T.planted_track_aurocs({"DNase": tr, "WGBS": tr}, truth)
    assert list(got) == ["DNase"] and got["DNase"] > 0.5


def test_binned_windows_count_bp_and_a_gene_of_two_contexts_gets_two_figures(tmp_path):
    """A histone window (TSS ± 5 kb in 100 bp bins): positions map to bp from the TSS,
    regions span whole bins; a gene among the top examples in two cell types gets one
    figure per cell type (the second overwrote the first, titled with neither)."""
    from types import SimpleNamespace

    from kerasgene.explain.analyses import _gene_plots, _window_layout

    layout = _window_layout({"window": 10_000, "n_bins": 100}, 100)
    assert layout == (("TSS", -5000, 5000, 100),) and SI.layout_step(layout) == 100
    assert SI.window_offset(0, layout) == ("TSS", -5000)
    assert SI.window_offset(50, layout) == ("TSS", 0)
    assert SI.window_offset(99, layout) == ("TSS", 4900)
    assert _window_layout({"window": 10_000, "n_bins": 100}, 2500)[0][0] == "TSS"  # iSEGnet's
    site = np.zeros((1, 100))
    site[0, 52] = 1.0
    genes = {"a": {"chrom": "chr1", "strand": "-", "tss": 20_000, "tts": 15_000}}
    (r,) = SI.top_site_regions(site, ["a"], genes=genes, track="H3K4me3", flank=1,
                               layout=layout)
    assert (r.start, r.end, r.offset_start, r.offset_end) == (51, 54, 100, 400)
    assert (r.gstart, r.gend) == (20_000 - 400 + 1, 20_000 - 100 + 1)
    tracks = {"H3K4me3": np.ones((3, 100))}
    res = SimpleNamespace(output_x=np.array([0.9, 0.8, 0.1]))
    inputs = {"histone": np.ones((3, 100, 1), np.float32)}
    _gene_plots(res, tracks, inputs, ["g1", "g1", "g2"], ["cellA", "cellB", "cellA"],
                {"histone": ["H3K4me3"]}, layout, tmp_path, 3, "prediction")
    assert sorted(f.name for f in tmp_path.glob("gene_*.png")) == [
        "gene_g1_cellA.png", "gene_g1_cellB.png", "gene_g2.png"]


def test_window_offsets_and_regions(tmp_path, caplog):
    assert SI.window_offset(0) == ("TSS", -1000)
    assert SI.window_offset(1000) == ("TSS", 0)
    assert SI.window_offset(1500) == ("TTS", -500)
    assert SI.window_offset(2499) == ("TTS", 499)
    rng = np.random.default_rng(1)
    seq = one_hot(rng, 2, 2500)
    site = np.zeros((2, 2500))
    site[0, 1000] = 3.0  # TSS of gene a
    site[1, 1510] = 2.0  # 10 bp after the junction: clipped to the TTS part
    genes = {"a": {"chrom": "chr1", "strand": "+", "tss": 5000, "tts": 9000},
             "b": {"chrom": "chr2", "strand": "-", "tss": 8000, "tts": 3000}}
    regs = SI.top_site_regions(site, ["a", "b"], sequences=seq, genes=genes, track="DNase")
    a, b = regs
    assert (a.start, a.end, a.anchor, a.offset_start, a.offset_end) == (950, 1051, "TSS", -50, 51)
    assert (a.gstart, a.gend) == (4950, 5051) and len(a.sequence) == 101
    assert a.sequence == dna.decode_one_hot(seq[0, 950:1051])
    assert (b.start, b.end) == (1500, 1561) and b.anchor == "TTS"
    # minus strand: oriented offsets [-500, -439) from the TTS at 3000
    assert (b.gstart, b.gend, b.strand) == (3000 + 439 + 1, 3000 + 500 + 1, "-")
    SI.write_fasta(regs, tmp_path / "r.fa")
    SI.write_bed(regs, tmp_path / "r.bed")
    fa = (tmp_path / "r.fa").read_text().splitlines()
    assert fa[0].startswith(">a|DNase|TSS-50..+51 chr1:4950-5051(+)")
    bed = (tmp_path / "r.bed").read_text().splitlines()
    assert bed[1].split("\t")[:3] == ["chr2", "3440", "3501"] and bed[1].endswith("\t-")
    named = SI.top_site_regions(site, ["a", "b"], genes=genes, track="DNase",
                                contexts=["rep1", "rep2"])  # two samples' examples
    assert [r.name for r in named] == ["a|rep1|DNase|TSS-50..+51", "b|rep2|DNase|TTS-500..-439"]
    from kerasgene.explain.analyses import _one_site_per_gene

    twice = SI.top_site_regions(np.stack([site[0], site[0] * 2]), ["a", "a"], sequences=seq,
                                track="DNA", contexts=["rep1", "rep2"])
    assert _one_site_per_gene(twice) == [twice[1].sequence]  # one gene, its best site once
    # a gene near its chromosome's ends (a window padded with N): the BED stays inside it
    ends = {"a": {"chrom": "chr1", "strand": "+", "tss": 20, "tts": 900},
            "b": {"chrom": "chr2", "strand": "-", "tss": 8000, "tts": 3480}}
    regs = SI.top_site_regions(site, ["a", "b"], genes=ends, track="DNase")
    assert [(r.gstart, r.gend) for r in regs] == [(-30, 71), (3920, 3981)]
    with caplog.at_level(logging.WARNING):
        SI.write_bed(regs, tmp_path / "ends.bed", {"chr1": 40, "chr2": 3900})
    assert [ln.split("\t")[:3] for ln in (tmp_path / "ends.bed").read_text().splitlines()] \
        == [["chr1", "0", "40"]]  # cut; b wholly past chr2's end: not written
    assert "2 region(s) ran past their chromosome's start or end (a gene window's N " \
           "padding): 1 cut to the chromosome, 1 wholly outside it not written" in caplog.text


def test_decode_one_hot():
    x = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0.25] * 4,
                  [0.31, 0.19, 0.19, 0.31]], np.float32)
    assert dna.decode_one_hot(x) == "ATNNN"


def test_differential_attribution_and_regions():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, (10, 2500))
    b = a + rng.normal(0, 0.01, a.shape)
    b[:, 1200:1210] += 1.0  # a strong differential block in every gene
    d = SI.differential_attribution(a, b, top_fraction=0.1)
    assert abs(d.mask.mean() - 0.1) < 0.001
    assert d.mask[:, 1200:1210].all()
    regions = SI.differential_regions(d, [f"g{i}" for i in range(10)], track="H3K4me3",
                                     flank=50)
    top = [r for r in regions if r.start <= 1200 < r.end]
    assert len(top) == 10 and all(r.score > 0.9 for r in top)
    assert regions[0].score >= regions[-1].score
    # every region lies inside one window segment
    assert all(r.end <= 1500 or r.start >= 1500 for r in regions)
    with pytest.raises(ConfigError):
        SI.differential_attribution(a, b[:, :10])


# --------------------------------------------------------------------------------------
# knockout
# --------------------------------------------------------------------------------------


def test_zero_filters(toy):
    model, X = toy
    ko = K.zero_filters(model, "sequence_conv", [1, 3])
    k, bias = ko.get_layer("sequence_conv").get_weights()
    k0, _b0 = model.get_layer("sequence_conv").get_weights()
    assert np.all(k[..., [1, 3]] == 0) and np.all(bias[[1, 3]] == 0)
    np.testing.assert_array_equal(k[..., 0], k0[..., 0])
    assert np.any(k0[..., 1] != 0)  # original untouched
    eff = K.knockout_effects(model, X, knockout_model=ko, ids=list("abcde"))
    np.testing.assert_allclose(eff["delta"], eff["knockout"] - eff["wild_type"])
    all_off = K.zero_filters(model, "sequence_conv", range(8))
    eff2 = K.knockout_effects(model, X, knockout_model=all_off)
    assert np.any(eff2["delta"] != 0)
    with pytest.raises(ConfigError):
        K.zero_filters(model, "sequence_conv", 8)
    with pytest.raises(ConfigError):
        K.zero_filters(model, "nope", 0)


def test_filters_zeroed_knocks_out_in_place_and_restores(toy):
    model, X = toy
    before = [w.copy() for w in model.get_weights()]
    copy = K.predict_examples(K.zero_filters(model, "sequence_conv", [1, 3]), X)
    with K.filters_zeroed(model, "sequence_conv", [1, 3]) as same:
        assert same is model
        np.testing.assert_array_equal(K.predict_examples(model, X), copy)
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    with pytest.raises(RuntimeError), K.filters_zeroed(model, "sequence_conv", 0):
        raise RuntimeError("restored however the block is left")
    for w, w0 in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    with pytest.raises(ConfigError, match="out of range"):
        K.filters_zeroed(model, "sequence_conv", 8).__enter__()


def test_mask_motif():
    rng = np.random.default_rng(0)
    pwm = np.eye(4)[[0, 1, 2, 3, 3, 0]]  # ACGTTA
    x = one_hot(rng, 3, 60)
    x[0, 10:16] = pwm
    x[1, 30:36] = pwm[::-1, ::-1]  # reverse complement TAACGT
    masked, n = K.mask_motif(x, pwm, min_score=0.99)
    assert n[0] >= 1 and n[1] >= 1
    np.testing.assert_allclose(masked[0, 10:16], 0.25)
    np.testing.assert_allclose(masked[1, 30:36], 0.25)
    if n[2] == 0:
        np.testing.assert_array_equal(masked[2], x[2])


def test_knockout_test_and_gene_effects():
    rng = np.random.default_rng(0)
    genes = np.array([f"g{i}" for i in range(60)])
    d = rng.random(60) * 0.1
    d[:8] += 1.0  # targets move more
    res = K.knockout_test(genes, d, genes[:8], top_k=5)
    assert res.ranksum_p < 1e-4 and res.targets_in_top_k == 5 and res.fisher_p < 0.01
    null = K.knockout_test(genes, rng.random(60), genes[:8])
    assert null.ranksum_p > 0.01
    with pytest.raises(ConfigError, match="target"):
        K.knockout_test(genes, d, ["x"])
    eff = {"id": np.array(["a", "a", "b"]), "wild_type": np.array([1.0, 2, 3]),
           "knockout": np.array([0.0, 2, 4]), "delta": np.array([-1.0, 0, 1])}
    ge = K.gene_effects(eff)
    assert ge["gene"].tolist() == ["a", "b"]
    np.testing.assert_allclose(ge["abs_delta"], [0.5, 1.0])
    np.testing.assert_allclose(ge["delta"], [-0.5, 1.0])


def test_filter_knockout_scan(toy):
    model, X = toy
    rows = K.filter_knockout_scan(model, "sequence_conv", [0, 1], X,
                                  genes=["a", "b", "c", "d", "e"], targets=["a", "b"], top_k=2)
    assert [r["filter"] for r in rows] == [0, 1] and all(0 <= r["ranksum_p"] <= 1 for r in rows)


def test_ablation_helpers():
    subsets = AB.ablation_inputs(["DNase", "H3K4me3"])
    assert list(subsets) == ["all", "sequence only", "epigenome only", "DNase only",
                             "H3K4me3 only"]
    x = {"sequence": np.zeros((2, 5, 4)), "epigenome": np.ones((2, 5, 2))}
    sel = AB.select_inputs(x, subsets["H3K4me3 only"])
    assert list(sel) == ["epigenome"] and sel["epigenome"].shape == (2, 5, 1)
    assert list(AB.select_inputs(x, subsets["sequence only"])) == ["sequence"]
    rows = AB.ablation_table(lambda name, s: {"r2": float(len(name))}, subsets)
    assert rows[1] == {"inputs": "sequence only", "r2": 13.0}


# --------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------


def _is_png(path) -> bool:
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots(tmp_path):
    rng = np.random.default_rng(0)
    prof = {t: {"mean": rng.normal(size=2500), "sem": np.abs(rng.normal(size=2500)) * 0.1}
            for t in ("DNA", "DNase", "H3K4me3")}
    assert _is_png(P.plot_track_profiles(prof, tmp_path / "p.png", n_genes=10))
    attr = {t: rng.normal(size=2500) for t in ("DNA", "DNase")}
    sig = {"DNase": rng.random(2500)}
    assert _is_png(P.plot_gene_tracks(attr, sig, tmp_path / "g.png", gene="MYC",
                                      highlight=[(900, 1000)]))
    assert _is_png(P.plot_saliency_heatmap(rng.normal(size=(5, 100)), list("ABCDE"),
                                           tmp_path / "h.png", title="cell 1"))
    pwm = np.eye(4)[[0, 1, 2, 3]] * 0.9 + 0.025
    assert _is_png(P.plot_filter_match(pwm, pwm[::-1, ::-1], tmp_path / "l.png",
                                       filter_name="filter3", n_sites=100, match_id="MA0001.1",
                                       match_name="X", p_value=1e-5, q_value=1e-3, strand="-"))
    assert _is_png(P.plot_knockout(rng.random(30), np.arange(30) < 5, tmp_path / "k.png",
                                   title="filter 3 (MIG1)", ranksum_p=1e-3, fisher=(3, 5, 0.01)))
    rows = [{"name": "CREB1", "motif_id": "MA0018.5", "q_value": 1e-4, "fg_hits": 30,
             "fg_n": 100, "bg_hits": 5, "bg_n": 100}]
    assert _is_png(P.plot_enrichment(rows, tmp_path / "e.png", title="DNase top sites"))
    assert _is_png(P.plot_differential(rng.normal(size=2500), rng.normal(size=2500),
                                       rng.random(2500), tmp_path / "d.png",
                                       labels=("tumour", "normal"), track="WGBS", n_genes=12))
