"""``kerasgene variants``: reference vs alternative predictions of a VCF for a trained run.

    kerasgene variants --run RUN_DIR --vcf FILE [--out TSV] [--ism GENE [--context NAME]]

reads ``RUN_DIR/config.yaml``, its prepared dataset and the model of the run's completion
record (``run.json``; a run killed or failed during training is refused), and writes one row
per (variant, gene whose window holds it, context) with the columns of
:data:`kerasgene.explain.variants.COLUMNS` to ``--out`` (default
``RUN_DIR/variants/<vcf name>.tsv``). Per task:

- **isegnet**: the TSS ⊕ TTS window of every gene of the dataset; the epigenome of each
  sample stays as stored in the dataset (one row per sample). A run trained on a subset
  of the inputs (``training.inputs``, e.g. an ablation run) is fed that subset: only its
  tracks; without the epigenome one row per gene (context ``sequence only``); a model
  that reads no DNA is an error (no variant can change its prediction).
- **deeprage**: the promoter of every gene against every condition of the dataset (or
  ``--conditions``); the row holds the mean over conditions. With a ``promoters:`` FASTA
  the VCF names the promoter record in CHROM and the position inside it in POS.
- **histone** (histone FCN with ``kmers:``): the k-mer channels of TSS ± window/2 are
  recounted, marks and per-cell statistics stay as stored (one row per cell type).
  DeepChrome (marks only) and chromatin imputation read no DNA: an error says so.

``--ism GENE`` adds in silico saturation mutagenesis of that gene's window in one context:
``<out>_ism_<gene>.png`` (heatmap) and ``<out>_ism_<gene>.tsv`` (one row per position: the
reference base and Δ for A, C, G, T). Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from kerasgene import systems
from kerasgene._io import write_atomic
from kerasgene.dna import one_hot
from kerasgene.errors import ConfigError, InputFileError
from kerasgene.explain.variants import RegionReader
from kerasgene.io.genome import Genome

log = logging.getLogger(__name__)


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``variants`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "variants", help="variant effects of a VCF (+ in silico mutagenesis) for a trained run",
        description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, metavar="RUN_DIR",
                   help="run directory written by `kerasgene train` (config.yaml, model.keras)")
    p.add_argument("--vcf", required=True, help="VCF 4.x file (plain or bgzip) or BCF")
    p.add_argument("--out", help="output TSV (default: RUN_DIR/variants/<vcf name>.tsv)")
    p.add_argument("--ism", metavar="GENE", help="gene id for saturation mutagenesis")
    p.add_argument("--context", help="sample / cell type of --ism (default: the gene's first)")
    p.add_argument("--conditions", help="DeepRAGE: comma-separated condition names to "
                   "average over (default: all)")
    p.add_argument("--batch-size", type=int, default=512, help="model rows per call")
    p.set_defaults(func=run_variants_command)
    return p


def run_variants_command(args: argparse.Namespace) -> int:
    """Entry point of ``kerasgene variants``."""
    from kerasgene.config import load_config
    from kerasgene.explain import variants as V
    from kerasgene.explain.attribution import input_names
    from kerasgene.train import runs

    run = Path(args.run)
    variants = V.read_vcf(args.vcf)
    config_path = run / "config.yaml"
    if not config_path.is_file():
        raise InputFileError(f"{run}: no config.yaml; expected a run directory written by "
                             "`kerasgene train`")
    model, record = runs.load_run(run)
    config = load_config(config_path)
    config["run_dir"] = str(run)
    dataset = runs.run_dataset(run, config, record)
    system = systems.get(config["system"], f"{config_path}: system")
    if system.variant_reader is None:
        V.reader_kind(model)  # names the model's inputs and why (chromatin reads no DNA)
        raise ConfigError(f"{config_path}: system {system.name!r} reads no DNA around genes; "
                          "variant effects need a system with a variant reader ("
                          + ", ".join(n for n in systems.names() if systems.get(n).variant_reader)
                          + ")")
    reads_kmers = "histone" in dataset.input_names
    if not reads_kmers and "sequence" not in dataset.input_names:
        raise ConfigError(f"{run}: the model was trained without 'sequence' (training.inputs "
                          f"{record.get('training_inputs')}); it reads no DNA, so no variant "
                          "can change its prediction")
    names = set(input_names(model))
    if names != set(dataset.input_names):
        raise ConfigError(f"{config_path}: the model takes inputs {sorted(names)} but the "
                          f"run's dataset gives {sorted(dataset.input_names)}")
    reader, genes, fasta = systems.resolve(system.variant_reader)(dataset, args)
    ism_gene = _ism_gene(genes, reader, args) if args.ism else None
    aliases = (dataset.meta.get("inputs", {}).get("chrom_aliases") or {}).get("path")
    with Genome(fasta, aliases=aliases) as genome:
        table = V.variant_effects(model, variants, genome, genes, reader,
                                  batch_size=args.batch_size)
        out = Path(args.out) if args.out else run / "variants" / f"{_stem(Path(args.vcf))}.tsv"
        write_atomic(out, lambda tmp: table.to_csv(tmp, sep="\t", index=False,
                                                   float_format="%.6g"))
        listed = table.drop_duplicates(["chrom", "pos", "ref", "alt"])
        counts = listed["status"].value_counts()
        unplaced = ("unknown_chrom", "past_chrom_end")
        inside = int((~listed["status"].isin(unplaced)).sum())
        print(f"{len(variants)} variants: {inside} in gene windows (" +
              ", ".join(f"{counts.get(s, 0)} {s}" for s in V.STATUSES if s not in unplaced) +
              "), " + ", ".join(f"{counts.get(s, 0)} {s}" for s in unplaced) +
              f"; {len(table)} rows")
        print(f"wrote {out}")
        if ism_gene is not None:
            for path in write_ism(model, genome, ism_gene, reader, args, out):
                print(f"wrote {path}")
    return 0


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".bgz", ".vcf"):
        name = name.removesuffix(suffix)
    return name or "variants"


def _ism_gene(genes, reader, args):
    """The gene of ``--ism``, checked (with ``--context``) before any work is done."""
    gene = next((g for g in genes if g.id == args.ism), None)
    if gene is None:
        raise ConfigError(f"--ism: gene {args.ism!r} is not in the run's dataset")
    contexts = reader.contexts(gene)
    if args.context is not None and args.context not in contexts:
        raise ConfigError(f"--context: {args.context!r} is not a context of gene {gene.id!r} "
                          f"(it has {contexts})")
    return gene


def write_ism(model, genome, gene, reader, args, out: Path) -> Iterator[Path]:
    """Saturation mutagenesis of ``gene`` → PNG heatmap and per-position TSV."""
    import pandas as pd

    from kerasgene.explain import plots as P
    from kerasgene.explain import variants as V
    from kerasgene.explain.sites import window_offset

    m = V.saturation_mutagenesis(model, genome, gene, reader, context=args.context,
                                 batch_size=args.batch_size)
    base = out.with_name(f"{out.stem}_ism_{_safe(gene.id)}")
    anchors = [window_offset(i, m.layout) for i in range(len(m.sequence))]
    tab = pd.DataFrame({"position": np.arange(len(m.sequence)),
                        "anchor": [a for a, _ in anchors], "offset": [o for _, o in anchors],
                        "ref_base": list(m.sequence),
                        **{f"delta_{b}": m.deltas[k] for k, b in enumerate("ACGT")}})
    yield write_atomic(base.with_suffix(".tsv"), lambda tmp: tab.to_csv(
        tmp, sep="\t", index=False, float_format="%.6g"))
    title = (f"{gene.id} ({gene.name}, {gene.strand} strand), {m.context}: saturation "
             f"mutagenesis, reference prediction {m.reference:.3g}")
    yield write_atomic(base.with_suffix(".png"),
                       lambda tmp: P.plot_mutagenesis(m.deltas, tmp, layout=m.layout, title=title))


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in str(name)) or "gene"


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


def isegnet_reader(dataset, args):
    """RegionReader over the stored epigenome rows (the channels of the dataset's input
    selection), the dataset's genes and FASTA; a :class:`SequenceRegionReader` when the
    selection has no epigenome."""
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


def deeprage_reader(dataset, args):
    """PromoterReader over the dataset's conditions (or ``--conditions``)."""
    from kerasgene.explain.variants import PromoterReader, promoter_genes
    from kerasgene.io.annotation import read_gtf

    params = dataset.meta["params"]
    regs = np.asarray(dataset.arrays["regulators"])
    names = dataset.conditions
    if args.conditions:
        wanted = [c.strip() for c in args.conditions.split(",") if c.strip()]
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


def histone_reader(dataset, args):
    """KmerReader over the stored inputs per cell type; the GTF gives gene coordinates."""
    from kerasgene.datasets.regions import match_gene_ids
    from kerasgene.explain.variants import KmerReader
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
