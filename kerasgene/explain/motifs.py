"""Motifs: first-layer filters as PWMs, Tomtom against JASPAR, FIMO enrichment.

- :func:`filter_pwms` — a position frequency matrix per first-layer convolution filter
  from the ``top_n`` (100) sequences with the highest activation: the nucleotide
  frequencies of the subsequence at each sequence's maximum (DeepRAGE §5.2, the Basset
  protocol). Activations are computed from the layer's own kernel and bias on the one-hot
  input (with the zero padding that precedes the layer in the model), streamed in
  batches so only the per-sequence maximum and its position are kept.
- :func:`jaspar_motifs` — JASPAR matrices from pyjaspar's offline databases (choose the
  release, the collection and the taxon: "fungi" for yeast, "vertebrates" for human);
  :func:`meme_motifs` — a user's MEME-format motif file (HOCOMOCO, CIS-BP, ...) instead.
- :func:`tomtom_matches` — every filter PWM against every JASPAR matrix with Tomtom as
  implemented by ``memelite`` (both strands, complete scores, Euclidean column
  distance). As in MEME's Tomtom, ``E = p × number of targets`` and the q-values of a
  query are computed from its p-values against all targets with Storey's method
  (π0 estimated with the bootstrap over λ ∈ [0, 0.5)), see :func:`storey_qvalues`.
- :func:`motif_enrichment` — AME-style enrichment of JASPAR motifs in foreground regions
  (e.g. high-attribution ±50 bp) against background regions: FIMO (memelite, p < 1e-4,
  both strands) decides which sequences contain each motif, a one-sided Fisher's exact
  test per motif compares the fractions, Benjamini–Hochberg q-values over motifs.

memelite compiles its kernels with numba on first use on a machine (~80–200 s; cached on
disk afterwards; ``make install`` does it, :func:`compile_kernels`). Its compiled
specialisations depend on the dtypes of the arrays, so this module always passes float64
``(4, w)`` motif matrices to Tomtom and float32 ``(n, 4, L)`` one-hot arrays to FIMO.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasgene._io import check_readable, open_text, write_text
from kerasgene.dna import BASES, Motif
from kerasgene.errors import ConfigError, InputFileError, KerasgeneError

log = logging.getLogger(__name__)

DEFAULT_RELEASE = "JASPAR2026"


# --------------------------------------------------------------------------------------
# motif matrices
# --------------------------------------------------------------------------------------


def information_content(pwm: np.ndarray) -> np.ndarray:
    """(w,) information content in bits of each column of a (w, 4) frequency matrix."""
    p = np.clip(np.asarray(pwm, np.float64), 1e-12, 1)
    return 2 + (p * np.log2(p)).sum(axis=1)


def trim_pwm(pwm: np.ndarray, min_ic: float = 0.2, min_width: int = 4) -> tuple[int, int]:
    """``(start, end)`` of the PWM after removing flanking columns below ``min_ic`` bits
    (never narrower than ``min_width``)."""
    ic = information_content(pwm)
    keep = np.flatnonzero(ic >= min_ic)
    w = len(ic)
    if not len(keep):
        return 0, w
    a, b = int(keep[0]), int(keep[-1]) + 1
    while b - a < min(min_width, w):
        if a > 0:
            a -= 1
        if b - a < min(min_width, w) and b < w:
            b += 1
    return a, b


def reverse_complement_pwm(pwm: np.ndarray) -> np.ndarray:
    """Reverse complement of a (w, 4) A, C, G, T matrix."""
    return np.asarray(pwm)[::-1, ::-1]


@functools.lru_cache(maxsize=8)
def _jaspar_cached(release: str, collection: str, tax_group: tuple[str, ...] | None):
    try:
        from pyjaspar import jaspardb
    except ImportError as err:  # pragma: no cover
        raise KerasgeneError(f"JASPAR matrices need pyjaspar (pip install pyjaspar): {err}") from err
    db = jaspardb(release=release)
    if getattr(db, "conn", None) is None:
        raise ConfigError(f"JASPAR release {release!r} is not available; pyjaspar has "
                          f"{db.get_releases()}")
    kw = {"collection": collection}
    if tax_group:
        kw["tax_group"] = list(tax_group)
    out = []
    for m in db.fetch_motifs(**kw):
        counts = np.array([m.counts[b] for b in BASES], np.float64).T
        out.append(Motif(str(m.matrix_id), str(m.name), counts))
    return tuple(out)


def jaspar_motifs(
    release: str = DEFAULT_RELEASE,
    tax_group: str | Sequence[str] | None = "fungi",
    collection: str = "CORE",
) -> list[Motif]:
    """JASPAR matrices from pyjaspar's offline database (cached per process).

    Parameters
    ----------
    release : e.g. "JASPAR2026" (pyjaspar's latest), "JASPAR2024", "JASPAR2020"
    tax_group : "fungi" (yeast, DeepRAGE), "vertebrates" (human, iSEGnet), a list, or None
    collection : "CORE" (default), "UNVALIDATED", ...
    """
    tg = None if tax_group is None else ((tax_group,) if isinstance(tax_group, str)
                                         else tuple(tax_group))
    motifs = list(_jaspar_cached(release, collection, tg))
    if not motifs:
        raise ConfigError(f"no JASPAR motifs for release={release!r}, collection={collection!r}, "
                          f"tax_group={tax_group!r}")
    return motifs


#: how far a MEME matrix row's probabilities may sum from 1 (files round them)
MEME_ROW_TOLERANCE = 0.02


def meme_motifs(path: str | os.PathLike) -> list[Motif]:
    """The DNA motifs of a MEME-format motif file (plain or gzip), read with memelite: the
    MEME suite's ``motif_databases``, HOCOMOCO, CIS-BP or JASPAR's MEME downloads, a
    TF-MoDISco or STREME result. A motif's id is the first field of its ``MOTIF`` line,
    its name the second (else the id); ``counts`` holds the letter probabilities.

    Raises
    ------
    InputFileError
        naming the file (and the motif and position) when it cannot be read, has no
        ``MOTIF`` line (saying what the file looks like: JASPAR, HOMER, TRANSFAC, a bare
        matrix, empty), another alphabet than ACGT, a motif id twice, a matrix whose
        ``w=``/``alength=`` do not fit its rows (:func:`check_meme_matrices`), a ``MOTIF``
        line without its own matrix (a truncated file, or a motif memelite would give the
        next motif's matrix), or a matrix row that is not four finite probabilities >= 0
        summing to 1 (within :data:`MEME_ROW_TOLERANCE`).
    """
    from memelite.io import read_meme

    path = check_readable(path, "MEME motif file")
    try:
        with open_text(path) as fh:
            text = fh.read()
    except (UnicodeDecodeError, OSError, EOFError) as err:
        raise InputFileError(f"{path}: cannot read the MEME motif file ({err})") from None
    ids = [line.split()[1] for line in text.splitlines()
           if line.startswith("MOTIF") and len(line.split()) > 1]
    if not ids:
        raise InputFileError(f"{path}: no MOTIF line{_other_motif_format(text)}; expected a "
                             "MEME motif file ('MOTIF id name' lines, each followed by a "
                             "letter-probability matrix)")
    alphabet = re.search(r"^ALPHABET\s*=\s*(\S+)", text, re.M)
    if alphabet and alphabet.group(1).upper() != "ACGT":
        raise InputFileError(f"{path}: alphabet {alphabet.group(1)!r}; expected DNA motifs "
                             "(ALPHABET= ACGT)")
    counts = Counter(ids)
    twice = [i for i in counts if counts[i] > 1]
    if twice:
        raise InputFileError(f"{path}: motif id {twice[0]!r} appears {counts[twice[0]]} "
                             "times; expected each motif id once")
    check_meme_matrices(text.splitlines(), path)
    with tempfile.TemporaryDirectory() as tmp:  # memelite reads plain text only
        plain = Path(tmp) / "motifs.meme"
        plain.write_text(text)
        try:
            pwms = read_meme(str(plain))
        except (ValueError, AttributeError, IndexError) as err:
            raise InputFileError(f"{path}: not a readable MEME motif file (memelite: {err}); "
                                 "expected a 'letter-probability matrix: ... w= N' line and "
                                 "N rows of 4 numbers after each MOTIF line") from None
    read = {key.split()[0]: (key, pwm) for key, pwm in pwms.items()}
    if len(read) != len(ids):
        first = next((i for i in ids if i not in read), ids[-1])
        raise InputFileError(f"{path}: {len(ids)} MOTIF lines but {len(read)} matrices read; "
                             f"lines and matrices part ways at motif {first!r} (a motif "
                             "without its matrix at or just before it, or a truncated file); "
                             "expected each MOTIF line followed by its letter-probability "
                             "matrix")
    out = []
    for motif_id in ids:
        key, pwm = read[motif_id]
        probs = np.asarray(pwm, np.float64).T  # (w, 4)
        sums = probs.sum(axis=1)
        bad = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1) | (
            np.abs(sums - 1) > MEME_ROW_TOLERANCE)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise InputFileError(f"{path}: motif {motif_id!r}, position {k + 1}: "
                                 f"{' '.join(f'{v:g}' for v in probs[k])}; expected four "
                                 "probabilities >= 0 summing to 1 (a letter-probability "
                                 "matrix, not counts)")
        fields = key.split()
        out.append(Motif(motif_id, fields[1] if len(fields) > 1 else motif_id, probs))
    return out


def _other_motif_format(text: str) -> str:
    """What a file without ``MOTIF`` lines looks like instead, for the error: ``" (an
    empty file)"``, a JASPAR/HOMER file (``>`` first), TRANSFAC, a bare .pfm matrix, or
    ``""``."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), None)
    if first is None:
        return " (an empty file)"
    if first.startswith(">"):
        return (" (a JASPAR .jaspar/.pfm, HOMER .motif or FASTA-style file: its first line "
                f"starts with '>': {first[:40]!r})")
    if first.split()[0] in ("AC", "ID", "VV", "XX", "DE", "P0", "PO"):
        return f" (a TRANSFAC-style file: its first line is {first[:40]!r})"
    if _numbers(first) is not None:
        return f" (a bare matrix, as in a JASPAR .pfm file: its first line is {first[:40]!r})"
    return ""


def _numbers(line: str) -> list[float] | None:
    """The numbers of a matrix row, or None when ``line`` is not one (blank, text)."""
    try:
        values = [float(v) for v in line.split()]
    except ValueError:
        return None
    return values or None


def check_meme_matrices(lines: Sequence[str], path) -> None:
    """Check that each ``letter-probability matrix:`` line of a MEME file's ``lines``
    gives ``w= N`` (N >= 1) and, if it gives one, ``alength= 4``, and is followed by
    exactly N rows of 4 numbers, from the next line on (as memelite reads them). A file
    that ends inside a matrix is left to :func:`meme_motifs`' count of the matrices read
    (a truncated file).

    Raises
    ------
    InputFileError
        ``"PATH: not a readable MEME motif file: motif 'X' (line K): ..."`` naming what
        is wrong: a missing or zero ``w=``, another ``alength``, a blank line before the
        rows, a row of another length, more or fewer rows than ``w`` (memelite reads the
        first ``w`` rows and drops the rest without a word).
    """
    motif, k = None, 0
    while k < len(lines):
        line = lines[k]
        k += 1
        if line.startswith("MOTIF"):
            motif = (line.split()[1:2] or ["?"])[0]
        if not line.startswith("letter-probability matrix"):
            continue
        where = f"{path}: not a readable MEME motif file: motif {motif!r} (line {k})"
        fields = dict(re.findall(r"\b(\w+)=\s*(\S+)", line))
        if not fields.get("w", "").isdigit() or int(fields["w"]) < 1:
            raise InputFileError(f"{where}: w= {fields.get('w', '(missing)')}; expected the "
                                 "motif's width as 'w= N' (N >= 1) on its "
                                 "'letter-probability matrix:' line")
        width = int(fields["w"])
        if fields.get("alength", "4") != "4":
            raise InputFileError(f"{where}: alength= {fields['alength']}; expected DNA motifs "
                                 "(alength= 4: A, C, G, T)")
        if k < len(lines) and not lines[k].strip():
            raise InputFileError(f"{where}: a blank line after it; expected the matrix rows "
                                 "right after the 'letter-probability matrix:' line")
        n = 0
        while k < len(lines) and (row := _numbers(lines[k])) is not None:
            if len(row) != 4:
                raise InputFileError(f"{where}, line {k + 1}: {len(row)} numbers; expected "
                                     "4 (the probabilities of A, C, G, T)")
            n, k = n + 1, k + 1
        if n != width and (n > width or k < len(lines)):
            raise InputFileError(f"{where}: w= {width} but {n} rows; expected as many "
                                 "rows as w= gives (one per position)")


def write_meme(path, pwms: Mapping[str, np.ndarray], *, background=(0.25, 0.25, 0.25, 0.25),
               nsites: Mapping[str, int] | None = None) -> None:
    """Write (w, 4) frequency matrices as a MEME-format motif file (MEME suite, memelite)."""
    parts = ["MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n",
             "Background letter frequencies\n",
             " ".join(f"{b} {p:.3f}" for b, p in zip(BASES, background)) + "\n\n"]
    for name, pwm in pwms.items():
        pwm = np.asarray(pwm, np.float64)
        ns = (nsites or {}).get(name, 20)
        parts.append(f"MOTIF {name}\nletter-probability matrix: alength= 4 w= {len(pwm)} "
                     f"nsites= {ns} E= 0\n")
        parts += [" ".join(f"{v:.6f}" for v in row) + "\n" for row in pwm]
        parts.append("\n")
    write_text(path, "".join(parts))


# --------------------------------------------------------------------------------------
# first-layer filters → PWMs
# --------------------------------------------------------------------------------------


def _producer(tensor):
    hist = getattr(tensor, "_keras_history", None)
    return None if hist is None else hist.operation


def first_conv_layer(model, input_name: str = "sequence"):
    """The first convolution applied to the input ``input_name`` (following only
    layers without weights: padding, reshape, ...)."""
    import keras

    names = [t.name for t in model.inputs]
    if input_name not in names:
        raise ConfigError(f"model {model.name!r} has no input {input_name!r}; inputs: {names}")
    source = model.inputs[names.index(input_name)]
    convs = [la for la in model.layers if isinstance(la, keras.layers.Conv1D | keras.layers.Conv2D)]
    for conv in convs:
        t = conv.input
        for _ in range(20):
            if t is source:
                return conv
            op = _producer(t)
            if op is None or op.weights or isinstance(op, keras.layers.InputLayer):
                break
            t = op.input
            if isinstance(t, list | tuple):
                break
    raise ConfigError(f"no convolution layer reads input {input_name!r} directly in "
                      f"model {model.name!r}")


def _conv_geometry(layer) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Kernel (w, 4, F), bias (F,) or None, and (left, right) zero padding before it."""
    import keras

    k = np.asarray(layer.kernel.numpy() if hasattr(layer.kernel, "numpy") else layer.kernel)
    if k.ndim == 4:  # Conv2D over a (L, 4, 1) image with a (w, 4) kernel
        if k.shape[1] != 4 or k.shape[2] != 1:
            raise ConfigError(f"layer {layer.name!r} kernel {k.shape} is not a (w, 4) filter bank "
                              "over one-hot DNA")
        k = k[:, :, 0, :]
    if k.ndim != 3 or k.shape[1] != 4:
        raise ConfigError(f"layer {layer.name!r} kernel {k.shape} is not a (w, 4, F) filter "
                          "bank over one-hot DNA")
    if getattr(layer, "dilation_rate", (1,))[0] != 1 or getattr(layer, "strides", (1,))[0] != 1:
        raise ConfigError(f"layer {layer.name!r}: dilated/strided first convolutions are not "
                          "supported")
    bias = None
    if getattr(layer, "use_bias", False) and layer.bias is not None:
        bias = np.asarray(layer.bias.numpy())
    w = k.shape[0]
    pad = (0, 0)
    if getattr(layer, "padding", "valid") == "same":
        pad = ((w - 1) // 2, w // 2)
    t = layer.input
    for _ in range(20):
        op = _producer(t)
        if op is None or op.weights or isinstance(op, keras.layers.InputLayer):
            break
        if isinstance(op, keras.layers.ZeroPadding1D):
            p = op.padding
            pad = (pad[0] + int(p[0]), pad[1] + int(p[1]))
        elif isinstance(op, keras.layers.ZeroPadding2D):
            p = op.padding[0]
            pad = (pad[0] + int(p[0]), pad[1] + int(p[1]))
        t = op.input
    return k.astype(np.float32), None if bias is None else bias.astype(np.float32), pad


@dataclass
class FilterPWMs:
    """Per-filter PWMs from the top-activating subsequences.

    Attributes
    ----------
    pwms : (F, w, 4) nucleotide frequencies (A, C, G, T) per filter
    counts : (F, w, 4) summed one-hot rows of the top subsequences
    n_sites : (F,) subsequences used (≤ top_n; only activations > min_activation)
    max_activation : (F,) the largest activation over all sequences
    top_sequences : (F, top_n) indices of the top sequences (−1 where fewer)
    top_positions : (F, top_n) start of the subsequence in the (unpadded) input, may be
        negative where the filter overlaps the zero padding
    layer : name of the convolution layer
    """

    pwms: np.ndarray
    counts: np.ndarray
    n_sites: np.ndarray
    max_activation: np.ndarray
    top_sequences: np.ndarray
    top_positions: np.ndarray
    layer: str

    def names(self, prefix: str = "filter") -> list[str]:
        return [f"{prefix}{i}" for i in range(len(self.pwms))]

    def as_dict(self, prefix: str = "filter", min_sites: int = 1) -> dict[str, np.ndarray]:
        """``{name: (w, 4)}`` of the filters with at least ``min_sites`` subsequences."""
        return {n: p for n, p, s in zip(self.names(prefix), self.pwms, self.n_sites)
                if s >= min_sites}


def filter_pwms(
    model,
    sequences: np.ndarray,
    *,
    layer=None,
    input_name: str = "sequence",
    top_n: int = 100,
    batch_size: int = 256,
    min_activation: float = 0.0,
) -> FilterPWMs:
    """PWM of every first-layer filter from its ``top_n`` most activating sequences.

    Parameters
    ----------
    model : keras model whose first convolution on ``input_name`` reads one-hot DNA
    sequences : (n, L, 4) one-hot (uint8 or float; may be memory-mapped). For DeepRAGE
        pass each gene's sequence once, not once per condition.
    layer : the convolution (name or layer); default :func:`first_conv_layer`
    top_n : sequences per filter (DeepRAGE: 100)
    min_activation : only maxima above this count (0: the ReLU fired)

    Returns
    -------
    FilterPWMs
    """
    import tensorflow as tf

    if layer is None:
        layer = first_conv_layer(model, input_name)
    elif isinstance(layer, str):
        layer = model.get_layer(layer)
    kernel, bias, (pl, pr) = _conv_geometry(layer)
    w, _, F = kernel.shape
    n = len(sequences)
    if n == 0:
        raise ConfigError("filter_pwms needs at least one sequence")
    k_tf = tf.constant(kernel)
    b_tf = tf.constant(bias if bias is not None else np.zeros(F, np.float32))

    @tf.function(reduce_retracing=True)
    def act_max(x):
        x = tf.pad(x, [[0, 0], [pl, pr], [0, 0]])
        a = tf.nn.conv1d(x, k_tf, stride=1, padding="VALID") + b_tf
        return tf.reduce_max(a, axis=1), tf.argmax(a, axis=1, output_type=tf.int32)

    maxes = np.empty((n, F), np.float32)
    argm = np.empty((n, F), np.int32)
    for lo in range(0, n, batch_size):
        x = np.asarray(sequences[lo:lo + batch_size], np.float32)
        mx, am = act_max(tf.constant(x))
        maxes[lo:lo + len(x)] = mx.numpy()
        argm[lo:lo + len(x)] = am.numpy()

    top_n = int(min(top_n, n))
    top_seq = np.full((F, top_n), -1, np.int64)
    top_pos = np.zeros((F, top_n), np.int64)
    counts = np.zeros((F, w, 4), np.float64)
    n_sites = np.zeros(F, np.int64)
    for f in range(F):
        col = maxes[:, f]
        idx = np.argpartition(-col, top_n - 1)[:top_n] if top_n < n else np.arange(n)
        idx = idx[np.argsort(-col[idx], kind="stable")]
        idx = idx[col[idx] > min_activation]
        n_sites[f] = len(idx)
        top_seq[f, :len(idx)] = idx
        starts = argm[idx, f] - pl  # in unpadded coordinates
        top_pos[f, :len(idx)] = starts
        for i, s in zip(idx, starts):
            a, b = max(0, s), min(sequences.shape[1], s + w)
            if b > a:
                counts[f, a - s:b - s] += np.asarray(sequences[i, a:b], np.float64)
    tot = counts.sum(axis=2, keepdims=True)
    pwms = np.where(tot > 0, counts / np.where(tot > 0, tot, 1), 0.25)
    return FilterPWMs(pwms, counts, n_sites, maxes.max(axis=0), top_seq, top_pos, layer.name)


# --------------------------------------------------------------------------------------
# q-values
# --------------------------------------------------------------------------------------


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (monotone, capped at 1)."""
    p = np.asarray(p, np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    q = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(q[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def storey_pi0(p: np.ndarray, *, n_bootstrap: int = 100, max_lambda: float = 0.5,
               n_lambda: int = 100, seed: int = 0) -> float:
    """Proportion of true nulls by Storey's bootstrap method (Storey, Taylor & Siegmund
    2004), as MEME's ``compute_qvalues`` estimates it: π0(λ) = #{p > λ} / (m(1 − λ))
    over a grid λ ∈ [0, max_lambda); the λ minimising the bootstrap MSE against
    min π0(λ) is used; π0 ≤ 1."""
    p = np.asarray(p, np.float64)
    m = len(p)
    if m == 0:
        return 1.0
    lambdas = np.arange(n_lambda) * (max_lambda / n_lambda)

    def pi0s(x):
        return np.array([(x > lam).sum() / (len(x) * (1 - lam)) for lam in lambdas])

    est = pi0s(p)
    target = est.min()
    rng = np.random.default_rng(seed)
    mse = np.zeros(len(lambdas))
    for _ in range(n_bootstrap):
        mse += (pi0s(rng.choice(p, m, replace=True)) - target) ** 2
    return float(min(1.0, est[int(np.argmin(mse))]))


def storey_qvalues(p: np.ndarray, **kw) -> np.ndarray:
    """q-values = π0 × Benjamini–Hochberg q-values, π0 from :func:`storey_pi0`."""
    p = np.asarray(p, np.float64)
    return np.minimum(1.0, storey_pi0(p, **kw) * bh_qvalues(p))


# --------------------------------------------------------------------------------------
# Tomtom
# --------------------------------------------------------------------------------------


def _tomtom_arrays(pwms) -> list[np.ndarray]:
    return [np.ascontiguousarray(np.asarray(p, np.float64).T) for p in pwms]


def tomtom_matches(
    queries: Mapping[str, np.ndarray],
    motifs: Sequence[Motif],
    *,
    n_best: int = 1,
    trim_ic: float | None = None,
    min_ic: float | None = None,
    pseudocount: float = 0.0,
) -> list[dict]:
    """Compare every query PWM with every JASPAR motif using Tomtom (memelite).

    Parameters
    ----------
    queries : ``{name: (w, 4) frequencies}`` (e.g. :meth:`FilterPWMs.as_dict`)
    motifs : target motifs (:func:`jaspar_motifs`)
    n_best : rows kept per query, best p-value first
    trim_ic : trim query flanks below this information content (bits) first
    min_ic : skip queries whose total information content (after trimming) is below
        this many bits: Tomtom's Euclidean column score gives uninformative (near
        uniform) queries small p-values against low-complexity targets. Skipped
        queries get one row with an empty ``target_id`` and p = q = 1.
    pseudocount : added to the JASPAR counts before normalising

    Returns
    -------
    list of dict rows: ``query, rank, target_id, target_name, p_value, e_value, q_value,
    offset, overlap, strand`` (strand "-" = the reverse complement of the target
    matched). Pass to ``pandas.DataFrame`` for a table.
    """
    from memelite import tomtom

    if not queries:
        return []
    if len(motifs) < 2:
        raise ConfigError("Tomtom needs a database of target motifs (got fewer than 2)")
    names, Q, skipped = [], [], []
    for nm in queries:
        q = np.asarray(queries[nm], np.float64)
        if trim_ic is not None:
            a, b = trim_pwm(q, trim_ic)
            q = q[a:b]
        if min_ic is not None and information_content(q).sum() < min_ic:
            skipped.append(nm)
            continue
        names.append(nm)
        Q.append(q)
    n_t = len(motifs)
    rows = [{"query": nm, "rank": 1, "target_id": "", "target_name": "(uninformative filter)",
             "p_value": 1.0, "e_value": float(n_t), "q_value": 1.0, "offset": 0,
             "overlap": 0, "strand": "+"} for nm in skipped]
    if not Q:
        return rows
    T = [m.probabilities(pseudocount) for m in motifs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _scores, offsets, overlaps, strands = tomtom(_tomtom_arrays(Q), _tomtom_arrays(T))
    for i, nm in enumerate(names):
        pi = np.clip(p[i], 0, 1)
        qi = storey_qvalues(pi)
        order = np.argsort(pi, kind="stable")[:n_best]
        for r, j in enumerate(order):
            rows.append({
                "query": nm, "rank": r + 1, "target_id": motifs[j].matrix_id,
                "target_name": motifs[j].name, "p_value": float(pi[j]),
                "e_value": float(pi[j] * n_t), "q_value": float(qi[j]),
                "offset": int(offsets[i, j]), "overlap": int(overlaps[i, j]),
                "strand": "-" if strands[i, j] else "+",
            })
    return rows


def filter_matches(filters: FilterPWMs, motifs: Sequence[Motif], *, n_best: int = 1,
                   trim_ic: float | None = 0.3, min_ic: float | None = 3.0,
                   min_sites: int = 10, prefix: str = "filter") -> list[dict]:
    """Tomtom rows for the filters of :func:`filter_pwms` (DeepRAGE §5.2), with the
    usual clean-up of filter PWMs: flanks below ``trim_ic`` bits trimmed, filters with
    fewer than ``min_sites`` activating subsequences or less than ``min_ic`` bits in total
    reported as uninformative. Rows carry ``n_sites`` and the trimmed ``start``/``end``
    within the filter."""
    pw = filters.as_dict(prefix)
    sites = dict(zip(filters.names(prefix), filters.n_sites.tolist()))
    keep = {k: v for k, v in pw.items() if sites[k] >= min_sites}
    rows = tomtom_matches(keep, motifs, n_best=n_best, trim_ic=trim_ic, min_ic=min_ic)
    for nm in pw:
        if nm not in keep:
            rows.append({"query": nm, "rank": 1, "target_id": "",
                         "target_name": "(too few activating sequences)", "p_value": 1.0,
                         "e_value": float(len(motifs)), "q_value": 1.0, "offset": 0,
                         "overlap": 0, "strand": "+"})
    order = {nm: i for i, nm in enumerate(pw)}
    for r in rows:
        a, b = trim_pwm(pw[r["query"]], trim_ic) if trim_ic is not None else (0, len(pw[r["query"]]))
        r.update(n_sites=int(sites[r["query"]]), start=int(a), end=int(b))
    rows.sort(key=lambda r: (order[r["query"]], r["rank"]))
    return rows


#: a JASPAR matrix ID with its version: ``MA0337.2`` (CORE), ``PB0001.1``, ``POL001.1``
_JASPAR_VERSIONED = re.compile(r"^([A-Z]{2,3}\d{3,})\.\d+$")


def matrix_base(matrix_id: str) -> str:
    """A JASPAR ID without its version (``MA0337.2`` → ``MA0337``); any other ID whole
    (HOCOMOCO's ``AHR.H12CORE.0.P.B`` and ``AHR.H12CORE.1.P.B`` are two motifs)."""
    m = _JASPAR_VERSIONED.match(str(matrix_id))
    return m.group(1) if m else str(matrix_id)


def motif_recovery(matches: Sequence[Mapping], planted: Sequence[str], *,
                   q_threshold: float | None = None, max_rank: int = 1
                   ) -> dict[str, list[str]]:
    """For each planted JASPAR ID, the queries (filters) that match that motif within
    their ``max_rank`` best matches (1: their best; optionally with q ≤ ``q_threshold``).
    Matching ignores the version suffix (MA0337.2 ≈ MA0337.1)."""
    out: dict[str, list[str]] = {mid: [] for mid in planted}
    for row in matches:
        if row["rank"] > max_rank or (q_threshold is not None and row["q_value"] > q_threshold):
            continue
        for mid in planted:
            if row["target_id"] and matrix_base(row["target_id"]) == matrix_base(mid):
                out[mid].append(row["query"])
    return out


# --------------------------------------------------------------------------------------
# FIMO enrichment
# --------------------------------------------------------------------------------------


def _to_fimo_array(seqs) -> np.ndarray:
    """(n, L, 4) one-hot or a list of strings → float32 (n, 4, L), zero-padded (N)."""
    if isinstance(seqs, np.ndarray) and seqs.ndim == 3:
        return np.ascontiguousarray(np.asarray(seqs, np.float32).transpose(0, 2, 1))
    seqs = list(seqs)
    if seqs and isinstance(seqs[0], str):
        L = max(len(s) for s in seqs)
        out = np.zeros((len(seqs), 4, L), np.float32)
        lut = {b: i for i, b in enumerate(BASES)}
        for i, s in enumerate(seqs):
            for j, ch in enumerate(s.upper()):
                k = lut.get(ch)
                if k is not None:
                    out[i, k, j] = 1
        return out
    arrs = [np.asarray(s, np.float32) for s in seqs]
    L = max(len(a) for a in arrs) if arrs else 0
    out = np.zeros((len(arrs), 4, L), np.float32)
    for i, a in enumerate(arrs):
        out[i, :, :len(a)] = a.T
    return out


def sequences_with_hits(motifs: Sequence[Motif], sequences, *, threshold: float = 1e-4,
                        pseudocount: float = 0.0) -> np.ndarray:
    """(n_motifs, n_sequences) boolean: does FIMO (memelite, both strands) report a hit
    with p < ``threshold`` of each motif in each sequence."""
    from memelite import fimo

    X = _to_fimo_array(sequences)
    n = len(X)
    out = np.zeros((len(motifs), n), bool)
    if n == 0:
        return out
    keys = [f"m{i}" for i in range(len(motifs))]
    pwms = {k: np.ascontiguousarray(m.probabilities(pseudocount).T) for k, m in zip(keys, motifs)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hits = fimo(pwms, X, threshold=threshold)
    for i, df in enumerate(hits):
        if len(df):
            out[i, np.unique(df["sequence_name"].to_numpy().astype(np.int64))] = True
    return out


def compile_kernels() -> None:
    """Compile memelite's numba kernels (Tomtom, FIMO) into numba's on-disk cache with the
    dtypes this module passes them, on two shipped motifs and one short sequence. ``make
    install`` runs it: otherwise the first analysis (or test) in a fresh environment pays
    the compilation."""
    from kerasgene.dna import shipped_motifs

    motifs = list(shipped_motifs().values())[:2]
    tomtom_matches({"query": motifs[0].probabilities()}, motifs)
    sequences_with_hits(motifs, ["ACGT" * 50])


def motif_enrichment(
    foreground,
    background,
    motifs: Sequence[Motif],
    *,
    threshold: float = 1e-4,
) -> list[dict]:
    """Enrichment of each motif in foreground vs background sequences (AME-style).

    Parameters
    ----------
    foreground, background : (n, L, 4) one-hot arrays or lists of strings (e.g. the
        ±50 bp top-attribution regions and random windows of the same genes)
    motifs : JASPAR motifs to test
    threshold : FIMO p-value for a hit

    Returns
    -------
    list of dict rows sorted by p-value: ``motif_id, name, fg_hits, fg_n, bg_hits, bg_n,
    odds_ratio, p_value`` (one-sided Fisher's exact test, more frequent in the
    foreground) and ``q_value`` (Benjamini–Hochberg over the motifs tested).
    """
    from scipy.stats import fisher_exact

    fg = sequences_with_hits(motifs, foreground, threshold=threshold)
    bg = sequences_with_hits(motifs, background, threshold=threshold)
    n_fg, n_bg = fg.shape[1], bg.shape[1]
    if n_fg == 0 or n_bg == 0:
        raise ConfigError("motif enrichment needs foreground and background sequences")
    rows = []
    for i, m in enumerate(motifs):
        a, c = int(fg[i].sum()), int(bg[i].sum())
        table = [[a, n_fg - a], [c, n_bg - c]]
        odds, p = fisher_exact(table, alternative="greater")
        rows.append({"motif_id": m.matrix_id, "name": m.name, "fg_hits": a, "fg_n": n_fg,
                     "bg_hits": c, "bg_n": n_bg, "odds_ratio": float(odds), "p_value": float(p)})
    q = bh_qvalues(np.array([r["p_value"] for r in rows]))
    for r, qv in zip(rows, q):
        r["q_value"] = float(qv)
    rows.sort(key=lambda r: (r["p_value"], r["motif_id"]))
    return rows


def random_windows(sequences: np.ndarray, n: int, width: int = 101, *, seed: int = 0,
                   exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` random windows of ``width`` bp from (N, L, 4) one-hot windows (background
    regions for :func:`motif_enrichment`); ``exclude`` (N, L) boolean marks positions a
    window may not overlap (e.g. the foreground)."""
    rng = np.random.default_rng(seed)
    N, L = sequences.shape[:2]
    if width > L:
        raise ConfigError(f"window width {width} exceeds the sequence length {L}")
    out = np.zeros((n, width, sequences.shape[2]), np.float32)
    got, tries = 0, 0
    while got < n and tries < 50 * n:
        tries += 1
        i = int(rng.integers(N))
        s = int(rng.integers(L - width + 1))
        if exclude is not None and exclude[i, s:s + width].any():
            continue
        out[got] = sequences[i, s:s + width]
        got += 1
    if got < n:
        log.warning("random_windows: only %d of %d background windows avoid the excluded "
                    "positions", got, n)
    return out[:got]
