"""Explaining many examples: the whole-result paths give the values of the chunked and
whole-array computations they replace (no timings here: see bench/)."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerasgene import dna  # noqa: E402
from kerasgene.explain import saliency as S  # noqa: E402
from kerasgene.explain import sites as SI  # noqa: E402
from kerasgene.explain.ig import integrated_gradients, iter_integrated_gradients  # noqa: E402
from tests.test_explain import two_input_cnn  # noqa: E402

L = 48


@pytest.fixture(scope="module")
def toy_inputs():
    rng = np.random.default_rng(3)
    seq = np.stack([dna.one_hot("".join(rng.choice(list("ACGT"), L))) for _ in range(21)])
    epi = rng.standard_normal((21, L, 3)).astype(np.float32)
    return two_input_cnn(), {"sequence": seq, "epigenome": epi}


@pytest.mark.parametrize("n_steps", [8, "auto"])
def test_integrated_gradients_equals_its_chunks(toy_inputs, n_steps):
    """Filled chunk by chunk into one result: the chunks of iter_integrated_gradients,
    concatenated (the former implementation), value for value; 21 examples in chunks of
    8 (a short last chunk)."""
    model, inputs = toy_inputs
    kw = dict(n_steps=n_steps, chunk_size=8, batch_size=16)
    whole = integrated_gradients(model, inputs, progress=False, **kw)
    parts = [p for _, p in iter_integrated_gradients(model, inputs, **kw)]
    for i, a in enumerate(whole.attributions):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, np.concatenate([p.attributions[i] for p in parts]))
    for name in ("residual", "delta", "output_x", "output_baseline", "n_steps"):
        got = getattr(whole, name)
        want = np.concatenate([getattr(p, name) for p in parts])
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert whole.input_names == parts[0].input_names


def test_integrated_gradients_progress(toy_inputs, capsys):
    """A progress bar over the examples on stderr, none with progress=False."""
    model, inputs = toy_inputs
    integrated_gradients(model, inputs, n_steps=4, chunk_size=8)
    assert "integrated gradients" in capsys.readouterr().err
    integrated_gradients(model, inputs, n_steps=4, chunk_size=8, progress=False)
    assert "integrated gradients" not in capsys.readouterr().err


def _profiles_whole(v: np.ndarray) -> dict[str, np.ndarray]:
    """The former track_profiles of one track: a float64 copy of the whole track."""
    v = np.asarray(v, np.float64)
    return {"mean": v.mean(axis=0), "sem": v.std(axis=0, ddof=1) / math.sqrt(len(v))}


def test_track_profiles_equal_whole_array(toy_inputs, monkeypatch):
    """Block-wise mean and SEM equal those of the whole float64 track (to rounding), with
    blocks smaller than the genes (7 rows of 21) and one block; one gene: SEM 0."""
    model, inputs = toy_inputs
    res = integrated_gradients(model, inputs, n_steps=8, progress=False)
    tracks = SI.attribution_tracks(res, track_names={"epigenome": ["a", "b", "c"]})
    for rows in (7, 1024):
        monkeypatch.setattr(SI, "_mean_squares",
                            lambda v, rows=rows, f=SI._mean_squares: f(v, rows))
        prof = SI.track_profiles(tracks)
        for t, v in tracks.items():
            want = _profiles_whole(v)
            for k in ("mean", "sem"):
                assert prof[t][k].dtype == np.float64
                np.testing.assert_allclose(prof[t][k], want[k], rtol=1e-12, atol=1e-15)
    one = SI.track_profiles({"a": tracks["a"][:1]})["a"]
    np.testing.assert_array_equal(one["mean"], tracks["a"][0].astype(np.float64))
    np.testing.assert_array_equal(one["sem"], np.zeros(L))


def test_mean_saliency_equals_group_copies(toy_inputs, capsys):
    """Group means read in place equal the means of each group's copied rows, value for
    value (three groups, interleaved, and one group of all); saliency shows a bar."""
    model, inputs = toy_inputs
    grads = S.saliency(model, inputs, batch_size=8)
    assert "saliency" in capsys.readouterr().err
    groups = np.array(["b", "a", "c"] * 7)
    for g in grads:
        for labels in (groups, np.array(["all"] * len(g))):
            got = S.mean_saliency(g, labels)
            assert list(got) == list(dict.fromkeys(labels.tolist()))
            for k, mean in got.items():
                want = g[labels == k].mean(axis=0)
                assert mean.dtype == want.dtype
                np.testing.assert_array_equal(mean, want)
    S.saliency(model, inputs, batch_size=8, progress=False)
    assert "saliency" not in capsys.readouterr().err


def test_interrupted_integrated_gradients_end_their_progress_line(toy_inputs, monkeypatch,
                                                                   capsys):
    """Ctrl-C inside integrated gradients: the bar is closed with its newline, so the CLI's
    ``kerasgene explain: interrupted`` gets a line of its own."""
    from kerasgene.explain import ig as IG

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    model, inputs = toy_inputs
    monkeypatch.setattr(IG, "_native_chunk", interrupted)
    try:
        integrated_gradients(model, inputs, n_steps=4)
    except KeyboardInterrupt:  # read while the traceback still holds the bar, as the CLI does
        err = capsys.readouterr().err
    assert "integrated gradients" in err and err.endswith("\n"), repr(err)
