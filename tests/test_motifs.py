"""Tests of kerasgene.explain.motifs: filter PWMs, JASPAR, Tomtom, FIMO enrichment.

memelite compiles its numba kernels the first time on a machine (~80–200 s, then cached
on disk; ``make install`` does it): the session fixture ``memelite_ready`` makes sure,
with the same dtypes as the library uses, before any test calls Tomtom or FIMO.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("memelite")
pytest.importorskip("pyjaspar")
from keras import layers  # noqa: E402

from kerasgene.errors import ConfigError  # noqa: E402
from kerasgene.explain import motifs as M  # noqa: E402


@pytest.fixture(scope="session")
def fungi():
    return M.jaspar_motifs("JASPAR2026", "fungi")


@pytest.fixture(scope="session")
def memelite_ready():
    """Compile (or load from the numba cache) memelite's Tomtom and FIMO kernels once, as
    ``make install`` does."""
    M.compile_kernels()
    return True


def _plant(rng, n, L, pwm, at=None):
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, L))]
    cons = np.eye(4, dtype=np.float32)[np.argmax(pwm, axis=1)]
    pos = []
    for i in range(n):
        p = int(rng.integers(0, L - len(pwm))) if at is None else at
        x[i, p:p + len(pwm)] = cons
        pos.append(p)
    return x, np.array(pos)


def test_jaspar(fungi):
    assert len(fungi) > 100
    ids = {m.matrix_id.split(".")[0] for m in fungi}
    assert "MA0337" in ids  # MIG1
    m = fungi[0]
    p = m.probabilities()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert m.counts.shape == (m.width, 4)
    with pytest.raises(ConfigError):
        M.jaspar_motifs("JASPAR1999")


def test_information_content_and_trim():
    pwm = np.vstack([np.full((2, 4), 0.25), np.eye(4), np.full((3, 4), 0.25)])
    ic = M.information_content(pwm)
    np.testing.assert_allclose(ic[:2], 0, atol=1e-9)
    np.testing.assert_allclose(ic[2:6], 2, atol=1e-6)
    assert M.trim_pwm(pwm, 0.5) == (2, 6)
    np.testing.assert_array_equal(M.reverse_complement_pwm(np.eye(4)[[0, 1]]),
                                  np.eye(4)[[2, 3]])


def _conv_model(kernel: np.ndarray, L: int, pad=None, name="sequence_conv"):
    s = keras.Input((L, 4), name="sequence")
    r = keras.Input((3,), name="regulators")
    x = s
    if pad:
        x = layers.ZeroPadding1D(pad, name="pad")(x)
    c = layers.Conv1D(kernel.shape[-1], kernel.shape[0], name=name)
    x = layers.GlobalMaxPooling1D()(c(x))
    y = layers.Dense(1, name="expression")(layers.Concatenate()([x, r]))
    m = keras.Model({"sequence": s, "regulators": r}, {"expression": y})
    c.set_weights([kernel.astype(np.float32), np.full(kernel.shape[-1], -3.0, np.float32)])
    return m


def test_filter_pwms_recovers_planted_motif(fungi):
    rng = np.random.default_rng(0)
    # a specific motif (≥ 12 bits), so random background cannot tie with the consensus
    motif = next(m for m in fungi if 8 <= m.width <= 14
                 and M.information_content(m.probabilities()).sum() > 12)
    pwm = motif.probabilities()
    w = len(pwm)
    # filter 0 = the motif's log-odds, filter 1 = random
    lo = np.log2((pwm + 0.01) / 0.25)
    kernel = np.stack([lo, rng.normal(0, 0.3, lo.shape)], axis=-1)
    x_pos, pos = _plant(rng, 100, 80, pwm)
    x_neg = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (200, 80))]
    seqs = np.concatenate([x_pos, x_neg])
    model = _conv_model(kernel, 80)
    assert M.first_conv_layer(model).name == "sequence_conv"
    res = M.filter_pwms(model, seqs.astype(np.uint8), top_n=100, batch_size=64)
    assert res.pwms.shape == (2, w, 4) and res.layer == "sequence_conv"
    np.testing.assert_allclose(res.pwms.sum(axis=2), 1.0)
    assert res.n_sites[0] == 100
    assert np.all(res.top_sequences[0] < 100)  # all from the planted sequences
    np.testing.assert_array_equal(res.top_positions[0], pos[res.top_sequences[0]])
    assert np.array_equal(res.pwms[0].argmax(1), pwm.argmax(1))


def test_filter_pwms_padding_geometry():
    """With a ZeroPadding1D before the conv (iSEGnet), positions are in input coordinates
    and a window hanging over the padding counts only its real bases."""
    k = np.zeros((6, 4, 1), np.float32)
    k[np.arange(6), [0, 1, 2, 3, 0, 1], 0] = 1.0  # ACGTAC
    seqs = np.zeros((3, 30, 4), np.float32)
    seqs[:, :, 3] = 1  # all T
    seqs[0, 0:4] = np.eye(4)[[2, 3, 0, 1]]  # "GTAC" at the start: ACGTAC shifted by -2
    seqs[1, 10:16] = np.eye(4)[[0, 1, 2, 3, 0, 1]]
    model = _conv_model(k, 30, pad=(5, 4))
    assert M._conv_geometry(model.get_layer("sequence_conv"))[2] == (5, 4)
    res = M.filter_pwms(model, seqs, top_n=2, min_activation=-10)
    top = dict(zip(res.top_sequences[0].tolist(), res.top_positions[0].tolist()))
    assert top[1] == 10 and top[0] == -2


def test_first_conv_layer_on_registry_models():
    from kerasgene.models import build

    iseg = build("isegnet", seq_len=120, k1=4, kernel_length=10, dense_units=(8,))
    assert M.first_conv_layer(iseg, "sequence").name == "sequence_conv1_conv"
    assert M.first_conv_layer(iseg, "epigenome").name == "epigenome_conv1_conv"
    assert M._conv_geometry(iseg.get_layer("sequence_conv1_conv"))[2] == (10, 9)
    dr = build("deeprage_concat", seq_len=100, filters=8, filter_length=9, units=16,
               regulator_units=8, n_regulators=5)
    assert M.first_conv_layer(dr).name == "sequence_conv"
    res = M.filter_pwms(dr, np.eye(4, dtype=np.float32)[np.zeros((5, 100), int)], top_n=3,
                        min_activation=-1e9)
    assert res.pwms.shape == (8, 9, 4)
    with pytest.raises(ConfigError):
        M.first_conv_layer(dr, "regulators")


def test_qvalues():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.9])
    q = M.bh_qvalues(p)
    np.testing.assert_allclose(q, [0.05, 0.2 / 3, 0.2 / 3, 0.25, 0.9])
    from scipy.stats import false_discovery_control

    r = np.random.default_rng(1).random(50) ** 3
    np.testing.assert_allclose(M.bh_qvalues(r), false_discovery_control(r), rtol=1e-12)
    rng = np.random.default_rng(0)
    null = rng.random(2000)
    assert 0.85 < M.storey_pi0(null) <= 1.0
    mixed = np.concatenate([rng.random(1000) * 1e-4, rng.random(1000)])
    assert 0.35 < M.storey_pi0(mixed) < 0.65
    assert np.all(M.storey_qvalues(mixed) <= M.bh_qvalues(mixed) + 1e-12)


def test_tomtom_finds_the_motif(memelite_ready, fungi):
    mig1 = next(m for m in fungi if m.matrix_id.startswith("MA0337"))
    gcn4 = next(m for m in fungi if m.name.upper() == "GCN4")
    q = {"f_mig1": mig1.probabilities(0.5),
         "f_gcn4_rc": M.reverse_complement_pwm(gcn4.probabilities(0.5)),
         "f_flat": np.full((10, 4), 0.25) + np.random.default_rng(0).normal(0, 0.01, (10, 4))}
    rows = M.tomtom_matches(q, fungi, n_best=2)
    best = {r["query"]: r for r in rows if r["rank"] == 1}
    assert best["f_mig1"]["target_id"] == mig1.matrix_id
    assert best["f_mig1"]["p_value"] < 1e-4 and best["f_mig1"]["q_value"] < 0.05
    assert best["f_gcn4_rc"]["target_id"] == gcn4.matrix_id
    assert best["f_gcn4_rc"]["strand"] == "-"
    # Tomtom alone calls a flat query significant (Euclidean scores favour low-complexity
    # targets); min_ic reports it as uninformative instead
    skip = M.tomtom_matches({"f_flat": q["f_flat"]}, fungi, min_ic=3)
    assert skip[0]["target_id"] == "" and skip[0]["q_value"] == 1.0
    for r in rows:
        assert 0 <= r["p_value"] <= 1 and 0 <= r["q_value"] <= 1
        assert r["e_value"] == pytest.approx(r["p_value"] * len(fungi))
    rec = M.motif_recovery(rows, [mig1.matrix_id, "MA9999.1"], q_threshold=0.1)
    assert rec[mig1.matrix_id] == ["f_mig1"] and rec["MA9999.1"] == []


def test_filter_matches(memelite_ready, fungi):
    mig1 = next(m for m in fungi if m.matrix_id.startswith("MA0337"))
    core = mig1.probabilities(0.5)
    padded = np.vstack([np.full((4, 4), 0.25), core, np.full((3, 4), 0.25)])
    fp = M.FilterPWMs(np.stack([padded, np.full_like(padded, 0.25), padded]),
                      np.zeros((3, *padded.shape)), np.array([100, 100, 3]),
                      np.ones(3), np.zeros((3, 1), int), np.zeros((3, 1), int), "conv")
    rows = M.filter_matches(fp, fungi)
    assert [r["query"] for r in rows] == ["filter0", "filter1", "filter2"]
    assert rows[0]["target_id"] == mig1.matrix_id and (rows[0]["start"], rows[0]["end"]) == (4, 4 + len(core))
    assert rows[1]["target_id"] == "" and rows[2]["target_name"].startswith("(too few")


def test_motif_enrichment(memelite_ready, fungi):
    rng = np.random.default_rng(1)
    # a specific motif: a consensus hit of a 6 bp motif cannot reach FIMO's p < 1e-4
    mot = next(m for m in fungi if 8 <= m.width <= 14
               and M.information_content(m.probabilities()).sum() > 12)
    fg, _ = _plant(rng, 40, 101, mot.probabilities())
    bg = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (80, 101))]
    test_set = [mot, *[m for m in fungi if m.width >= 8 and m is not mot][:15]]
    rows = M.motif_enrichment(fg, bg, test_set)
    assert rows[0]["motif_id"] == mot.matrix_id
    assert rows[0]["fg_hits"] == 40 and rows[0]["q_value"] < 1e-6
    assert all(0 <= r["q_value"] <= 1 for r in rows)
    # strings work too (variable length, padded with N)
    strs = ["".join("ACGT"[i] for i in s.argmax(1)) for s in fg[:5]]
    hits = M.sequences_with_hits([mot], [*strs, "ACGT"])
    assert hits.shape == (1, 6) and hits[0, :5].all()


def test_random_windows_and_meme(tmp_path):
    rng = np.random.default_rng(0)
    seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (4, 300))]
    excl = np.zeros((4, 300), bool)
    excl[:, :150] = True
    w = M.random_windows(seqs, 20, 101, exclude=excl)
    assert w.shape == (20, 101, 4)
    M.write_meme(tmp_path / "f.meme", {"filter0": np.full((5, 4), 0.25)}, nsites={"filter0": 7})
    from memelite.io import read_meme

    got = read_meme(str(tmp_path / "f.meme"))
    assert list(got) == ["filter0"] and got["filter0"].shape == (4, 5)


# ----------------------------------------------------------------------------- MEME files
def _meme_of(fungi, path, n=12):
    """The first ``n`` fungal JASPAR matrices written by memelite as a MEME file, their
    MOTIF lines 'ID NAME' as in JASPAR's and HOCOMOCO's downloads."""
    from memelite.io import write_meme

    chosen = fungi[:n]
    write_meme(str(path), {f"{m.matrix_id} {m.name}": m.probabilities().T for m in chosen})
    return chosen


def test_a_meme_motif_file_reads_as_the_matrices_written(fungi, tmp_path):
    import gzip

    chosen = _meme_of(fungi, tmp_path / "db.meme")
    got = M.meme_motifs(tmp_path / "db.meme")
    assert [(m.matrix_id, m.name) for m in got] == [(m.matrix_id, m.name) for m in chosen]
    for a, b in zip(got, chosen, strict=True):
        np.testing.assert_allclose(a.probabilities(), b.probabilities(), atol=1e-12)
    (tmp_path / "db.meme.gz").write_bytes(gzip.compress((tmp_path / "db.meme").read_bytes()))
    again = M.meme_motifs(tmp_path / "db.meme.gz")
    assert [m.matrix_id for m in again] == [m.matrix_id for m in chosen]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("MOTIF", "MOTEF"), "no MOTIF line; expected a MEME motif file"),
    (lambda t: t.replace("ALPHABET= ACGT", "ALPHABET= ACDEFGHIKLMNPQRSTVWY"),
     "alphabet 'ACDEFGHIKLMNPQRSTVWY'; expected DNA motifs (ALPHABET= ACGT)"),
    # memelite gave the first motif the second's matrix and dropped the second, silently
    (lambda t: re.sub(r"letter-probability matrix:[^\n]*\n", "", t, count=1),
     "12 MOTIF lines but 11 matrices read; lines and matrices part ways at motif "),
    (lambda t: "\n".join(t.rstrip().splitlines()[:-3]) + "\n",  # the last 2 rows cut off
     "12 MOTIF lines but 11 matrices read"),
    (lambda t: t.replace(t.split("MOTIF ")[2].split()[0], t.split("MOTIF ")[1].split()[0], 1),
     "appears 2 times; expected each motif id once"),
    (lambda t: t.replace("letter-probability matrix: alength= 4 w= ", "letter-probability "
                         "matrix: alength= 4 w = ", 1), "not a readable MEME motif file"),
])
def test_meme_motif_file_errors(fungi, tmp_path, edit, message):
    """memelite's reader takes what it can: these files were read without a word (a
    motif labelled with another's matrix, a truncated last motif dropped, a duplicate id
    overwriting the first) or failed with its own traceback."""
    from kerasgene.errors import InputFileError

    _meme_of(fungi, tmp_path / "db.meme")
    bad = tmp_path / "bad.meme"
    bad.write_text(edit((tmp_path / "db.meme").read_text()))
    with pytest.raises(InputFileError, match="^" + str(bad).replace(".", r"\.") + ": ") as err:
        M.meme_motifs(bad)
    assert message in str(err.value), str(err.value)


def test_meme_counts_instead_of_probabilities(fungi, tmp_path):
    from memelite.io import write_meme

    from kerasgene.errors import InputFileError

    m = fungi[0]
    write_meme(str(tmp_path / "counts.meme"), {m.matrix_id: m.counts.T})
    with pytest.raises(InputFileError, match=rf"motif '{m.matrix_id}', position 1: .*; "
                       "expected four probabilities >= 0 summing to 1"):
        M.meme_motifs(tmp_path / "counts.meme")
