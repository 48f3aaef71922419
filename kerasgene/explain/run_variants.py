"""Variant effects of a VCF for a trained run (``kerasgene variants``), and the readers that
feed each system's model from its prepared dataset.

>>> res = variants_of_run("runs/isegnet", config, "calls.vcf", ism="SIMG000001")  # doctest: +SKIP
>>> res.table[["variant_id", "gene_id", "delta", "status"]]                      # doctest: +SKIP

:func:`variants_of_run` reads the model of the run's completion record (``run.json``; a
run killed or failed during training is refused) and the run config's prepared dataset,
and writes one row per (variant, gene whose window holds it, context) with the columns of
:data:`kerasgene.explain.variants.COLUMNS` to ``out`` (default
``RUN_DIR/variants/<vcf name>.tsv``; ``RUN_DIR/variants/sources.json`` records the VCF of
each default table and the model that scored it, and a default table made from another VCF
of the same name — ``calls.vcf`` and ``calls.vcf.gz``, or ``a/calls.vcf`` and
``b/calls.vcf`` — is refused, see :func:`default_table`; the folder's tables of another
model, the run retrained since, are named in a warning). The system's ``variant_reader``
(:attr:`kerasgene.systems.System.variant_reader`) says what its model reads:

- **isegnet** (:func:`isegnet_reader`): the TSS ⊕ TTS window of every gene of the dataset;
  the epigenome of each sample stays as stored in the dataset (one row per sample). A run
  trained on a subset of the inputs (``training.inputs``, e.g. an ablation run) is fed that
  subset: only its tracks; without the epigenome one row per gene (context ``sequence
  only``); a model that reads no DNA is an error (no variant can change its prediction).
- **deeprage** (:func:`deeprage_reader`): the promoter of every gene against every
  condition of the dataset (or ``conditions``); the row holds the mean over conditions.
  With a ``promoters:`` FASTA the VCF names the promoter record in CHROM and the position
  inside it in POS.
- **histone** (:func:`histone_reader`; histone FCN with ``kmers:``): the k-mer channels of
  TSS ± window/2 are recounted, marks and per-cell statistics stay as stored (one row per
  cell type). DeepChrome (marks only) and chromatin imputation read no DNA: an error says
  so.

``ism=GENE`` adds in silico saturation mutagenesis of that gene's window in one context:
``<out>_ism_<gene>.png`` (heatmap) and ``<out>_ism_<gene>.tsv`` (one row per position: the
reference base and Δ for A, C, G, T). Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from kerasgene import systems
from kerasgene._io import (
    check_output_file,
    exclusive_lock,
    read_json_object,
    safe_name,
    write_json,
    write_tsv,
)
from kerasgene.datasets.dropped import FILENAME as DROPPED_FILE
from kerasgene.dna import one_hot
from kerasgene.errors import ConfigError, InputFileError, shown
from kerasgene.explain.readers import RegionReader
from kerasgene.io.genome import Genome

if TYPE_CHECKING:
    import pandas

log = logging.getLogger(__name__)


@dataclasses.dataclass
class RunVariants:
    """What :func:`variants_of_run` computed and wrote.

    Attributes
    ----------
    table : the effects table (columns :data:`kerasgene.explain.variants.COLUMNS`)
    n_variants : the VCF's records (one per ALT allele)
    paths : the files written: the table, then the mutagenesis TSV and PNG (``ism``)
    n_excluded : of ``n_variants``, those left out for a failed VCF filter
        (``exclude_filtered``)
    n_at_dropped_genes : of ``n_variants``, those in the window of a gene the dataset
        left out (``dropped.tsv``; no row for that gene, a warning names them)
    n_distinct : the distinct CHROM, POS, REF, ALT of the records scored (a repeated
        record has the rows of the first again)
    n_outside : of ``n_distinct``, those with no row: outside every gene window (and not
        in the window of a gene the dataset left out)
    """

    table: pandas.DataFrame
    n_variants: int
    paths: list[Path]
    n_excluded: int = 0
    n_at_dropped_genes: int = 0
    n_distinct: int = 0
    n_outside: int = 0


def variants_of_run(run: str | os.PathLike, config: Mapping, vcf: str | os.PathLike, *,
                    out: str | os.PathLike | None = None, ism: str | None = None,
                    context: str | None = None, conditions: Sequence[str] | None = None,
                    batch_size: int = 512, exclude_filtered: bool = False) -> RunVariants:
    """Variant effects of ``vcf`` for the trained model of ``run`` (see the module docstring).

    Parameters
    ----------
    run : a complete run directory (``run.json``, the model)
    config : its run configuration (the run's ``config.yaml``)
    vcf : VCF 4.x (plain or bgzip) or BCF
    out : the table to write (default :func:`default_table`: ``RUN_DIR/variants/<vcf
        name>.tsv``, refused when it holds the effects of another VCF of that name)
    ism : a gene id of the dataset for saturation mutagenesis, or None
    context : sample / cell type of ``ism`` (default: the gene's first)
    conditions : DeepRAGE: condition names to average over (default: all)
    batch_size : model rows per call
    exclude_filtered : leave out the variants whose FILTER is neither PASS nor ``.``
        (default: scored, FILTER in the table's ``filter`` column; counted either way)

    Raises
    ------
    KerasgeneError
        a ``batch_size`` below 1, an ``out`` that cannot be written (a folder, a path
        below a file), a default table made from another VCF of the same name, an
        unreadable VCF, an incomplete run, a system or model that reads
        no DNA, an unknown ``ism`` gene, ``context`` or condition — all before anything is
        written.
    """
    from kerasgene.explain import variants as V

    V.check_count(batch_size, "--batch-size")
    run = Path(run)
    by_default = not out
    out = default_table(run, vcf) if by_default else check_output_file(out, {"VCF": vcf})
    variants = V.read_vcf(vcf)
    model, dataset, system, record = _checked_run(run, config)
    reader, genes, fasta = systems.resolve(system.variant_reader)(dataset, conditions)
    ism_gene = _ism_gene(genes, reader, ism, context) if ism else None
    aliases = (dataset.meta.get("inputs", {}).get("chrom_aliases") or {}).get("path")
    with Genome(fasta, aliases=aliases) as genome:
        table = V.variant_effects(model, variants, genome, genes, reader,
                                  batch_size=batch_size, exclude_filtered=exclude_filtered)
        left_out = variants_at_dropped_genes(variants, dataset, genes, reader, genome)
        paths = [_write_default_table(out, vcf, table, record.get("model_sha256"))
                 if by_default else write_tsv(out, table)]
        if ism_gene is not None:
            paths += write_ism(model, genome, ism_gene, reader, out, context=context,
                               batch_size=batch_size)
    excluded = sum(v.filtered for v in variants) if exclude_filtered else 0
    scored = {(v.chrom, v.pos, v.ref, v.alt) for v in variants
              if not (exclude_filtered and v.filtered)}
    rows = set(table[["chrom", "pos", "ref", "alt"]].itertuples(index=False, name=None))
    at_left_out = {(v.chrom, v.pos, v.ref, v.alt) for v in variants if v.id in left_out}
    return RunVariants(table, len(variants), paths, excluded, len(left_out), len(scored),
                       len(scored - rows - at_left_out))


def variants_at_dropped_genes(variants, dataset, genes, reader, genome) -> dict[str, list[str]]:
    """The variants in the window of a gene that the dataset's build left out (its
    ``dropped.tsv``: zero expression, ...), which have no row for that gene: one warning
    counts them and names the first few with the genes and reasons.

    Parameters
    ----------
    variants : the VCF's records (:func:`kerasgene.explain.variants.read_vcf`)
    dataset : the run's prepared dataset
    genes : the dataset's genes (those the variant table covers)
    reader : the model's reader (its ``tss_flank``, ``tts_flank``)
    genome : the open FASTA (its chromosome aliases)

    Returns
    -------
    ``{variant id: ["GENE (reason)", ...]}`` of those variants (empty without a
    ``dropped.tsv`` with genes of the annotation).
    """
    from kerasgene.explain.variants import WindowIndex

    left_out = _dropped_genes(dataset, {g.id for g in genes})
    if not left_out:
        return {}
    index = WindowIndex([g for g, _ in left_out], reader.tss_flank, reader.tts_flank,
                         genome.alias_table)
    hits = {}
    for v in variants:
        at = index.genes_at(v.chrom, v.start, v.end)
        if at:
            hits[v.id] = [
                f"{left_out[k][0].id} ({left_out[k][1]})" for k in at]
    if hits:
        log.warning("%d variant(s) lie in the window of genes the run's dataset left out "
                    "(not in the model's dataset, so no row for them; listed with the "
                    "reason in %s): %s", len(hits), Path(dataset.path) / DROPPED_FILE,
                    shown(f"{v} at {', '.join(g)}" for v, g in hits.items()))
    return hits


def _dropped_genes(dataset, kept: set[str]) -> list[tuple]:
    """``(gene, reason)`` of each gene of the dataset's ``dropped.tsv`` not in ``kept``
    with its locus and strand there (a :class:`~kerasgene.io.annotation.Gene` under the
    dropped id); none for a dataset built before ``dropped.tsv`` had a strand."""
    import pandas as pd

    from kerasgene.io.annotation import Gene

    path = Path(dataset.path) / DROPPED_FILE
    if not path.is_file():
        return []
    rows = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "strand" not in rows:
        return []
    rows = rows[rows["strand"].isin(["+", "-"]) & ~rows["example"].isin(kept)]
    out = {}
    for r in rows.itertuples(index=False):
        gene = Gene(r.example, r.example, r.chrom, int(r.start), int(r.end), r.strand)
        out.setdefault(r.example, (gene, r.reason))
    return list(out.values())


def _checked_run(run: Path, config: Mapping):
    """The run's model, dataset, system and completion record, checked: the system has a
    variant reader and the model reads DNA and takes the dataset's inputs."""
    from kerasgene.explain.attribution import input_names
    from kerasgene.explain.readers import reader_kind
    from kerasgene.train import records, runs
    from kerasgene.train.evaluation import is_classification

    model, record = records.load_run(run)
    dataset = runs.run_dataset(run, dict(config), record)
    where = run / "config.yaml"
    system = systems.get(config["system"], f"{where}: system")
    if system.variant_reader is None:
        reader_kind(model)  # names the model's inputs and why (chromatin reads no DNA)
        raise ConfigError(f"{where}: system {system.name!r} reads no DNA around genes; "
                          "variant effects need a system with a variant reader ("
                          + ", ".join(n for n in systems.names() if systems.get(n).variant_reader)
                          + ")")
    if "histone" not in dataset.input_names and "sequence" not in dataset.input_names:
        raise ConfigError(f"{run}: the model was trained without 'sequence' (training.inputs "
                          f"{record.get('training_inputs')}); it reads no DNA, so no variant "
                          "can change its prediction")
    if is_classification(dataset):
        raise ConfigError(f"{run}: a classification run ({int(dataset.meta.get('n_classes', 2))} "
                          "classes); variant effects are differences of one predicted value: "
                          "expected a regression run (e.g. DeepRAGE data.target=expression)")
    names = set(input_names(model))
    if names != set(dataset.input_names):
        raise ConfigError(f"{where}: the model takes inputs {sorted(names)} but the "
                          f"run's dataset gives {sorted(dataset.input_names)}")
    return model, dataset, system, record


#: RUN_DIR/variants/: ``{default table name: {"vcf": its VCF's resolved path,
#: "model_sha256": the model that scored it}}`` (older files: ``{name: VCF path}``)
SOURCES = "sources.json"


def default_table(run: Path, vcf: str | os.PathLike) -> Path:
    """``RUN_DIR/variants/<vcf name>.tsv``, the table of ``vcf`` when no ``out`` is given,
    checked against the VCF recorded for it in ``RUN_DIR/variants/sources.json``.

    Raises
    ------
    InputFileError
        the table exists and was made from another VCF of the same name (``calls.vcf``
        and ``calls.vcf.gz``; ``a/calls.vcf`` and ``b/calls.vcf``): one would silently
        replace the other's effects.
    """
    out = run / "variants" / f"{_stem(Path(vcf))}.tsv"
    if out.exists() and out.name not in _table_sources(out.parent):
        log.warning("%s exists, and %s records no VCF for it (written by an older kerasgene, "
                    "or through --out); it is replaced by the effects of %s", out,
                    out.parent / SOURCES, vcf)
    _check_table_source(out, vcf)
    return out


def _check_table_source(out: Path, vcf: str | os.PathLike) -> None:
    """InputFileError when the table ``out`` exists and sources.json records another VCF
    for it than ``vcf``."""
    made_from = _table_sources(out.parent).get(out.name, {}).get("vcf")
    if out.exists() and made_from is not None and made_from != _resolved(vcf):
        raise InputFileError(f"{out} holds the effects of {made_from}; refusing to replace "
                             f"them with those of {vcf} (the two VCFs share the default "
                             "table name); expected --out PATH for this VCF's table")


def _table_sources(folder: Path) -> dict[str, dict]:
    """``{table name: {"vcf", "model_sha256"}}`` of ``folder/sources.json`` (empty when
    there is none; a table recorded by an older kerasgene has its VCF only; an entry of
    neither form counts as no record)."""
    path = folder / SOURCES
    doc = read_json_object(path, "the VCF of each variant table") if path.is_file() else {}
    return {name: {"vcf": rec} if isinstance(rec, str) else dict(rec)
            for name, rec in doc.items() if isinstance(rec, str | Mapping)}


def _write_default_table(out: Path, vcf: str | os.PathLike, table,
                         model_sha256: str | None = None) -> Path:
    """Write ``table`` as ``vcf``'s default table ``out`` (:func:`default_table`) and
    record ``vcf`` and the model (``model_sha256``, from ``run.json``) for it in the
    folder's sources.json; a warning names the folder's other tables that another model
    scored (the run was retrained since).

    Runs into one run at once: the check of :func:`default_table` is made again, and the
    table and the record written, under a lock on the folder itself
    (:func:`kerasgene._io.exclusive_lock`), so no run's record is lost and a run of
    another VCF of the same name that wrote its table meanwhile is not overwritten (the
    later run is refused, as it would have been had it started later)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out.parent):
        _check_table_source(out, vcf)
        write_tsv(out, table)
        sources = {**_table_sources(out.parent),
                   out.name: {"vcf": _resolved(vcf), "model_sha256": model_sha256}}
        write_json(out.parent / SOURCES, sources)
    other = [name for name, rec in sources.items()
             if rec.get("model_sha256") not in (None, model_sha256)
             and (out.parent / name).exists()]
    if other and model_sha256 is not None:
        log.warning("%s: %d other tables hold the effects of another model (the run was "
                    "retrained since): %s; rerun kerasgene variants for their VCFs (%s)",
                    out.parent, len(other), shown(other, 5),
                    shown([sources[n]["vcf"] for n in other], 3))
    return out


def _resolved(path: str | os.PathLike) -> str:
    return str(Path(path).resolve())


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bgz", ".vcf"):
        name = name.removesuffix(suffix)
    return name or "variants"


def _ism_gene(genes, reader, gene_id: str, context: str | None):
    """The gene of ``ism``, checked (with ``context``) before any work is done."""
    gene = next((g for g in genes if g.id == gene_id), None)
    if gene is None:
        raise ConfigError(f"--ism: gene {gene_id!r} is not in the run's dataset")
    contexts = reader.contexts(gene)
    if context is not None and context not in contexts:
        raise ConfigError(f"--context: {context!r} is not a context of gene {gene.id!r} "
                          f"(it has {contexts})")
    return gene


def write_ism(model, genome, gene, reader, out: Path, *, context: str | None = None,
              batch_size: int = 512) -> list[Path]:
    """Saturation mutagenesis of ``gene`` in ``context`` → ``<out>_ism_<gene>.tsv`` (one
    row per position) and ``.png`` (heatmap); returns the two paths.

    The table's ``position`` indexes the window, ``anchor`` / ``offset`` place it 5'→3' of
    the gene; ``chrom``, ``pos`` (1-based, as a VCF's POS; empty in the padding before a
    chromosome's start), ``strand`` and ``genome_ref`` (the FASTA's base, as a VCF's REF)
    place it on the genome. ``ref_base`` and ``delta_A`` … ``delta_T`` are read 5'→3' of
    the gene, as the model sees it: on a − strand gene ``delta_A`` is the FASTA's T (a VCF's
    ALT T)."""
    import pandas as pd

    from kerasgene.explain import plots as P
    from kerasgene.explain.mutagenesis import saturation_mutagenesis
    from kerasgene.explain.sites import window_offset

    m = saturation_mutagenesis(model, genome, gene, reader, context=context,
                                 batch_size=batch_size)
    base = out.with_name(f"{out.stem}_ism_{safe_name(gene.id, 'gene')}")
    anchors = [window_offset(i, m.layout) for i in range(len(m.sequence))]
    tab = pd.DataFrame({"position": np.arange(len(m.sequence)),
                        "anchor": [a for a, _ in anchors], "offset": [o for _, o in anchors],
                        **_genomic_columns(gene, anchors, m.sequence),
                        "ref_base": list(m.sequence),
                        **{f"delta_{b}": m.deltas[k] for k, b in enumerate("ACGT")}})
    title = (f"{gene.id} ({gene.name}, {gene.strand} strand), {m.context}: saturation "
             f"mutagenesis, reference prediction {m.reference:.3g}")
    # with_name, not with_suffix: a dotted stem (sample.hg38) or gene id (ENSG….17) keeps
    # its dots (with_suffix wrote sample.hg38's heatmap over sample.tsv / sample.png)
    return [write_tsv(base.with_name(f"{base.name}.tsv"), tab),
            P.plot_mutagenesis(m.deltas, base.with_name(f"{base.name}.png"), layout=m.layout,
                               title=title)]


def _genomic_columns(gene, anchors: list[tuple[str, int]], sequence: str) -> dict:
    """``chrom``, ``pos`` (1-based; None before the chromosome's start), ``strand`` and
    ``genome_ref`` (the + strand's base) of each window position (``anchors``: its
    ``(anchor, offset)``, 5'→3' of ``gene``)."""
    import pandas as pd

    from kerasgene.dna import reverse_complement

    sign = 1 if gene.strand == "+" else -1
    at = {"TSS": gene.tss, "TTS": gene.tts}
    pos = [at[a] + sign * o + 1 for a, o in anchors]
    return {"chrom": gene.chrom,
            "pos": pd.array([p if p >= 1 else None for p in pos], dtype="Int64"),
            "strand": gene.strand,
            "genome_ref": list(sequence if sign == 1 else reverse_complement(sequence)[::-1])}


# --------------------------------------------------------------------------------------
# readers from a prepared dataset
# --------------------------------------------------------------------------------------


class ExampleRows(Mapping):
    """Gene id → one stored example's input (read lazily from the dataset's memory maps)."""

    def __init__(self, rows: Mapping[str, int], get: Callable[[int], np.ndarray]):
        self.rows, self.get = dict(rows), get

    def __getitem__(self, gene_id: str) -> np.ndarray:
        return self.get(self.rows[gene_id])

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _input_path(dataset, key: str) -> str:
    spec = dataset.meta.get("inputs", {}).get(key)
    if spec is None:
        raise ConfigError(f"{dataset.path}: the dataset records no {key!r} input file")
    return spec["path"]


def _by_context(index, column: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for i, (ctx, gid) in enumerate(zip(index[column].astype(str), index["gene_id"].astype(str))):
        out.setdefault(ctx, {}).setdefault(gid, i)
    return out


def isegnet_reader(dataset, conditions: Sequence[str] | None = None):
    """RegionReader over the stored epigenome rows (the channels of the dataset's input
    selection), the dataset's genes and FASTA; a :class:`SequenceRegionReader` when the
    selection has no epigenome. ``conditions`` is not used (iSEGnet has none).

    Returns
    -------
    ``(reader, genes, FASTA path)``
    """
    from kerasgene.io.annotation import Gene

    params = dataset.meta["params"]
    flanks = tuple(params["tss_flank"]), tuple(params["tts_flank"])
    first = dataset.index.drop_duplicates("gene_id")
    genes = [Gene(str(r.gene_id), str(r.gene_name), str(r.chrom),
                  int(r.tss) if r.strand == "+" else int(r.tts),
                  int(r.tts) + 1 if r.strand == "+" else int(r.tss) + 1, str(r.strand))
             for r in first.itertuples(index=False)]
    if "epigenome" not in dataset.input_names:
        rows = dict(zip(first["gene_id"].astype(str), first.index))
        reader = SequenceRegionReader({"sequence only": ExampleRows(rows, lambda i: None)},
                                      *flanks)
        return reader, genes, _input_path(dataset, "fasta")
    epi = dataset.arrays["epigenome"]
    keep = dataset.meta.get("input_selection", {}).get("epigenome", slice(None))
    contexts = {ctx: ExampleRows(rows, lambda i: np.asarray(epi[i][:, keep]))
                for ctx, rows in _by_context(dataset.index, "sample").items()}
    reader = RegionReader(contexts, *flanks)
    return reader, genes, _input_path(dataset, "fasta")


def deeprage_reader(dataset, conditions: Sequence[str] | None = None):
    """PromoterReader over the dataset's conditions (or those named in ``conditions``), the
    dataset's genes and the FASTA of their promoters (or the genome).

    Raises
    ------
    ConfigError
        a condition the dataset does not have, or an empty ``conditions``.
    """
    from kerasgene.explain.readers import PromoterReader
    from kerasgene.explain.variants import promoter_genes
    from kerasgene.io.annotation import read_gtf

    params = dataset.meta["params"]
    regs = np.asarray(dataset.arrays["regulators"])
    names = dataset.conditions
    if conditions is not None:
        wanted = list(conditions)
        missing = [c for c in wanted if c not in names]
        if missing or not wanted:
            raise ConfigError(f"--conditions: {missing or wanted} not among the dataset's "
                              f"{len(names)} conditions (e.g. {names[:3]})")
        regs = regs[[names.index(c) for c in wanted]]
    ids = set(dataset.gene_ids)
    if params.get("promoters"):
        fasta = _input_path(dataset, "promoters")
        with Genome(fasta) as genome:
            genes = promoter_genes(genome, dataset.gene_ids)
    else:
        fasta = _input_path(dataset, "fasta")
        genes = [g for g in read_gtf(_input_path(dataset, "gtf")) if g.id in ids]
    reader = PromoterReader(regs, int(params["promoter_length"]), tuple(params["n_value"]))
    return reader, genes, fasta


def histone_reader(dataset, conditions: Sequence[str] | None = None):
    """KmerReader over the stored inputs per cell type; the GTF gives gene coordinates.
    ``conditions`` is not used (the contexts are the cell types).

    Raises
    ------
    ConfigError
        the dataset has no k-mer channels (its model reads no DNA).
    """
    from kerasgene.datasets.regions import match_gene_ids
    from kerasgene.explain.readers import KmerReader
    from kerasgene.io.annotation import read_gtf

    params = dataset.meta["params"]
    kcfg = params.get("kmers")
    if not kcfg or not dataset.meta.get("kmers"):
        raise ConfigError(f"{dataset.path}: this histone dataset has no k-mer channels "
                          "(kmers: in the config), so its model reads no DNA")
    gtf = _input_path(dataset, "gtf")
    ids = dataset.index["gene_id"].astype(str).unique().tolist()
    matched = match_gene_ids(ids, read_gtf(gtf, params.get("biotypes")), gtf)
    genes = [_histone_gene(dataset_id, g, bool(params.get("strand_orient", True)))
             for dataset_id, g in matched.items()]
    contexts = {ctx: ExampleRows(rows, lambda i: dataset.gather([i])["histone"][0])
                for ctx, rows in _by_context(dataset.index, "cell").items()}
    reader = KmerReader(contexts, list(dataset.meta["kmers"]), int(params["window"]),
                        int(params["n_bins"]), str(kcfg.get("alphabet", "ACGTN")))
    return reader, genes, _input_path(dataset, "fasta")


def _histone_gene(dataset_id: str, gene, oriented: bool):
    """The GTF gene under the dataset's id; unoriented windows read on ``+`` from the TSS."""
    if oriented:
        return dataclasses.replace(gene, id=dataset_id)
    return dataclasses.replace(gene, id=dataset_id, start=gene.tss, end=gene.tss + 1,
                               strand="+")


@dataclasses.dataclass
class SequenceRegionReader(RegionReader):
    """iSEGnet trained without the epigenome (``training.inputs``): the one-hot TSS ⊕ TTS
    window only, in one context per gene."""

    input_names: ClassVar[tuple[str, ...]] = ("sequence",)

    def inputs(self, seqs, genes, contexts) -> dict[str, np.ndarray]:
        return {"sequence": one_hot("".join(seqs), 0, dtype=np.float32).reshape(len(seqs), -1, 4)}
