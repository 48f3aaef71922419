"""Readers: what a model reads around a gene, beside the DNA of its window — the
inputs :func:`kerasgene.explain.variants.variant_effects` and
:func:`kerasgene.explain.mutagenesis.saturation_mutagenesis` give the model for a
reference or an edited sequence:

- :class:`RegionReader` (iSEGnet): TSS[−1000, +500) ⊕ TTS[−500, +500) one-hot (L, 4),
  beside the epigenome of each sample (a TrackSet, or the rows stored in a dataset);
- :class:`PromoterReader` (DeepRAGE): ``length`` bp upstream of the TSS, one-hot with
  DeepRAGE's N row, against every condition's regulator vector;
- :class:`KmerReader` (histone FCN, Team Jamaica): TSS ± window/2 as k-mer counts per bin
  (the last channels), beside the marks and per-cell statistics of each cell type.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from kerasgene._io import read_json_object
from kerasgene.dna import kmer_counts, kmer_names, one_hot
from kerasgene.errors import ConfigError
from kerasgene.io.annotation import Gene

log = logging.getLogger(__name__)

class Reader(Protocol):
    """How a model reads a gene: DNA window flanks, contexts, and model inputs.

    ``fanout`` model rows are predicted per sequence and averaged (DeepRAGE: one row per
    condition; 1 otherwise).
    """

    tss_flank: tuple[int, int]
    tts_flank: tuple[int, int]
    input_names: tuple[str, ...]

    @property
    def fanout(self) -> int: ...

    def contexts(self, gene: Gene) -> list[str]: ...

    def inputs(self, seqs: Sequence[str], genes: Sequence[Gene], contexts: Sequence[str]
               ) -> dict[str, np.ndarray]: ...


def _is_trackset(src) -> bool:
    """A :class:`~kerasgene.io.tracks.TrackSet` (read over windows) rather than stored rows."""
    return hasattr(src, "read_windows")


def _observed(sources: Mapping[str, object], genes: Sequence[Gene], contexts: Sequence[str],
              read) -> np.ndarray:
    """Stack the observed (non-DNA) input of each (gene, context), read once per pair."""
    seen: dict[tuple[str, str], np.ndarray] = {}
    for g, c in zip(genes, contexts):
        if (g.id, c) not in seen:
            seen[g.id, c] = read(sources[c], g)
    return np.stack([seen[g.id, c] for g, c in zip(genes, contexts)]).astype(np.float32)


def check_track_order(epigenome: Mapping[str, object],
                      track_names: Sequence[str] | None) -> None:
    """Raise ConfigError unless every TrackSet of ``epigenome`` holds ``track_names`` in
    that order (None: the first TrackSet's, taken as the model's with a warning); stored
    rows have no names (they keep the dataset's order)."""
    given = {ctx: list(src.names) for ctx, src in epigenome.items() if _is_trackset(src)}
    if not given:
        return
    want = list(track_names) if track_names is not None else next(iter(given.values()))
    for ctx, names in given.items():
        if names != want:
            raise ConfigError(f"RegionReader: the TrackSet of {ctx!r} gives tracks {names}; "
                              f"expected {want} in this order (the model's channels)")
    if track_names is None and len(want) > 1:
        log.warning("RegionReader: no track_names; the TrackSets' order %s is taken as the "
                    "model's channel order, unchecked (give the run's preprocessing.json "
                    "'track_names' to check it)", want)


def _run_preprocessing(run: str | os.PathLike) -> dict:
    """The ``preprocessing.json`` of a complete run (:func:`kerasgene.train.records.check_run`);
    InputFileError when the run is not complete or the file is missing or not a JSON
    object."""
    from kerasgene.train.records import check_run

    check_run(run)
    return read_json_object(Path(run) / "preprocessing.json",
                            "the run's preprocessing constants")


@dataclass
class RegionReader:
    """iSEGnet: one-hot TSS ⊕ TTS window beside the observed epigenome.

    Parameters
    ----------
    epigenome
        Context (biosample) name → a :class:`~kerasgene.io.tracks.TrackSet` (read over the
        gene's window with its transforms) or a mapping gene id → array (L, n_tracks)
        (e.g. the rows of a prepared dataset). A gene is predicted in every context that
        has it.
    tss_flank, tts_flank
        The window (:func:`~kerasgene.datasets.windows.gene_windows`).
    track_names
        The model's epigenome channels in order (the run's ``preprocessing.json``
        ``track_names``): every TrackSet must hold them in this order, else a ConfigError
        (:func:`check_track_order`); None: the first TrackSet's order, with a warning.
    epigenome_dtype
        The dtype a TrackSet's values are rounded to, as the training data were (the
        run's ``epigenome_dtype``, e.g. float16); stored rows are read as they are.

    A reader of a trained run's window, track order, transforms and dtype is built from
    the run's ``preprocessing.json`` by :meth:`from_run` (close it, or use it in a
    ``with`` block, to close the files it opened).
    """

    epigenome: Mapping[str, object]
    tss_flank: tuple[int, int] = (1000, 500)
    tts_flank: tuple[int, int] = (500, 500)
    track_names: Sequence[str] | None = None
    epigenome_dtype: str = "float32"
    input_names: ClassVar[tuple[str, ...]] = ("sequence", "epigenome")
    _opened: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, init=False,
                                          repr=False, compare=False)

    def __post_init__(self) -> None:
        check_track_order(self.epigenome, self.track_names)

    @classmethod
    def from_run(cls, run: str | os.PathLike,
                 tracks: Mapping[str, Mapping[str, str | os.PathLike] | object], *,
                 chrom_aliases=None) -> RegionReader:
        """The reader of a complete iSEGnet run: each context's tracks read with the
        transforms, bigBed value fields, channel order, window and dtype the run's
        training data had (its ``preprocessing.json``), as ``kerasgene predict`` builds
        them (:func:`kerasgene.serving.gene_inputs.track_input`).

        Parameters
        ----------
        run
            A complete run directory (:func:`kerasgene.train.records.check_run`).
        tracks
            Context (biosample) name → {track name → bigWig / bigBed / bedGraph path}
            (every track of the run, no other), or a TrackSet (checked against the run's
            order and transforms).
        chrom_aliases
            Chromosome alias table of the track files, as for ``predict_genes``.

        Raises
        ------
        InputFileError
            Not a complete run; no readable ``preprocessing.json``.
        ConfigError
            The run's model reads no epigenome; a context's tracks miss some of the run's
            or name others; a TrackSet in another order or with other transforms.
        """
        from kerasgene.serving.gene_inputs import preprocessing_settings, track_input

        prep = Path(run) / "preprocessing.json"
        settings = preprocessing_settings({"preprocessing": _run_preprocessing(run)})
        if "epigenome" not in (settings.get("input_names") or ()) \
                or not settings.get("track_names"):
            raise ConfigError(f"{prep}: the model takes inputs {settings.get('input_names')}; "
                              "expected an iSEGnet run reading 'epigenome' tracks")
        if not isinstance(tracks, Mapping) or not tracks or all(
                isinstance(v, str | os.PathLike) for v in tracks.values()):
            raise ConfigError(f"{prep}: expected tracks as {{context: {{track name: path}}}} "
                              f"(a sample or cell type, then the run's "
                              f"{settings['track_names']}), got {tracks!r}")
        with contextlib.ExitStack() as stack:
            epigenome = {}
            for ctx, files in tracks.items():
                if not (isinstance(files, Mapping) or _is_trackset(files)):
                    raise ConfigError(f"{prep}, tracks of {ctx!r}: expected {{track name: "
                                      f"path}} for the run's {settings['track_names']}, got "
                                      f"{files!r}")
                try:
                    epigenome[ctx] = track_input(files, {"epigenome"}, settings, chrom_aliases,
                                                 None, stack)
                except ConfigError as err:
                    raise ConfigError(f"{prep}, tracks of {ctx!r}: {err}") from None
            reader = cls(epigenome, tuple(settings["tss_flank"]), tuple(settings["tts_flank"]),
                         settings["track_names"], settings.get("epigenome_dtype") or "float32")
            reader._opened = stack.pop_all()
        return reader

    def close(self) -> None:
        """Close the track files :meth:`from_run` opened (TrackSets given are left open)."""
        self._opened.close()

    def __enter__(self) -> RegionReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def fanout(self) -> int:
        return 1

    def contexts(self, gene: Gene) -> list[str]:
        return [name for name, src in self.epigenome.items()
                if _is_trackset(src) or gene.id in src]

    def _read(self, src, gene: Gene) -> np.ndarray:
        if _is_trackset(src):
            from kerasgene.datasets.windows import extract_regions

            return extract_regions([gene], None, src, self.tss_flank, self.tts_flank,
                                   np.dtype(self.epigenome_dtype))[1][0]
        return np.asarray(src[gene.id])

    def inputs(self, seqs, genes, contexts) -> dict[str, np.ndarray]:
        x = one_hot("".join(seqs), 0, dtype=np.float32).reshape(len(seqs), -1, 4)
        return {"sequence": x, "epigenome": _observed(self.epigenome, genes, contexts,
                                                      self._read)}


@dataclass
class PromoterReader:
    """DeepRAGE: the promoter (``length`` bp upstream of the TSS) against every condition.

    Parameters
    ----------
    regulators
        (C, R) regulator vectors of the conditions to predict against; the prediction of
        a sequence is the mean over them.
    length
        Promoter length (the pairs dataset's ``promoter_length``).
    n_value
        One-hot row of N; None: DeepRAGE's [.31, .19, .19, .31]
        (:data:`kerasgene.datasets.pairs.DEEPRAGE_N`).
    """

    regulators: np.ndarray
    length: int = 1000
    n_value: Sequence[float] | None = None
    input_names: ClassVar[tuple[str, ...]] = ("sequence", "regulators")

    @property
    def tss_flank(self) -> tuple[int, int]:
        return (self.length, 0)

    @property
    def tts_flank(self) -> tuple[int, int]:
        return (0, 0)

    @property
    def fanout(self) -> int:
        return len(self.regulators)

    def contexts(self, gene: Gene) -> list[str]:
        return [f"mean of {self.fanout} conditions"]

    def promoters(self, seqs: Sequence[str]) -> np.ndarray:
        """(n, length, 4) float32 one-hot promoters (N as ``n_value``)."""
        from kerasgene.datasets.pairs import DEEPRAGE_N

        n_row = DEEPRAGE_N if self.n_value is None else self.n_value
        x = one_hot("".join(seqs), np.asarray(n_row, np.float32), dtype=np.float32)
        return x.reshape(len(seqs), self.length, 4)

    def inputs(self, seqs, genes, contexts) -> dict[str, np.ndarray]:
        x = self.promoters(seqs)
        regs = np.asarray(self.regulators, np.float32)
        return {"sequence": np.repeat(x, len(regs), axis=0),
                "regulators": np.tile(regs, (len(seqs), 1))}


@dataclass
class KmerReader:
    """Histone FCN (Team Jamaica): k-mer counts per bin of TSS ± window/2, recomputed for
    each sequence, replacing the k-mer channels of the observed input.

    Parameters
    ----------
    histone
        Context (cell type) name → mapping gene id → observed input (n_bins, channels)
        whose last ``len(kmers)`` channels are the k-mer counts.
    kmers
        The k-mers of those channels, in channel order (the dataset's ``kmers``).
    window, n_bins, alphabet
        As the histone dataset was built (:func:`kerasgene.io.genome.kmer_counts`).
    """

    histone: Mapping[str, Mapping[str, np.ndarray]]
    kmers: Sequence[str]
    window: int = 10_000
    n_bins: int = 100
    alphabet: str = "ACGTN"
    input_names: ClassVar[tuple[str, ...]] = ("histone",)

    def __post_init__(self) -> None:
        names = kmer_names(len(self.kmers[0]), self.alphabet) if self.kmers else []
        bad = [m for m in self.kmers if m not in names]
        if not self.kmers or bad:
            raise ConfigError(f"KmerReader.kmers: expected k-mers of one length over "
                              f"{self.alphabet!r}, got {list(self.kmers)[:5]}")
        self._rows = np.array([names.index(m) for m in self.kmers])

    @property
    def tss_flank(self) -> tuple[int, int]:
        return (self.window // 2, self.window - self.window // 2)

    @property
    def tts_flank(self) -> tuple[int, int]:
        return (0, 0)

    @property
    def fanout(self) -> int:
        return 1

    def contexts(self, gene: Gene) -> list[str]:
        return [name for name, rows in self.histone.items() if gene.id in rows]

    def counts(self, seq: str) -> np.ndarray:
        """(n_bins, K) counts of the reader's k-mers in ``seq``."""
        k = len(self.kmers[0])
        return kmer_counts(seq, k, self.n_bins, self.alphabet)[self._rows].T

    def inputs(self, seqs, genes, contexts) -> dict[str, np.ndarray]:
        x = _observed(self.histone, genes, contexts, lambda src, g: np.asarray(src[g.id]))
        x[:, :, x.shape[2] - len(self.kmers):] = np.stack([self.counts(s) for s in seqs])
        return {"histone": x}


def reader_kind(model) -> str:
    """``isegnet``, ``deeprage`` or ``histone`` from the model's input names.

    Raises
    ------
    ConfigError
        For other inputs (chromatin imputation reads no DNA). A ``histone`` model reads DNA
        only through k-mer channels, which the caller checks (DeepChrome has none).
    """
    from kerasgene.explain.attribution import input_names

    names = set(input_names(model))
    kinds = {frozenset(("sequence", "epigenome")): "isegnet",
             frozenset(("sequence", "regulators")): "deeprage", frozenset(("histone",)): "histone"}
    if frozenset(names) not in kinds:
        raise ConfigError(f"variant effects: model {model.name!r} takes inputs {sorted(names)}; "
                          "expected iSEGnet (sequence, epigenome), DeepRAGE (sequence, "
                          "regulators) or a histone FCN with k-mer channels (histone)")
    return kinds[frozenset(names)]
