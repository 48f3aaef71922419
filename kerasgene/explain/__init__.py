"""Interpretation: integrated gradients, saliency, filter motifs, knockouts, figures.

Stateless functions ``f(model, X, *, batch_size=...)`` over plain arrays, so they run on
any model and data; :func:`explain_run`, :func:`variants_of_run` and :func:`run_ablation`
apply them to a trained run (``kerasgene explain``, ``variants``, ``ablate``):

>>> from kerasgene.explain import integrated_gradients
>>> res = integrated_gradients(model, {"sequence": seq, "epigenome": epi}, n_steps=200)
>>> res.attributions[0].shape, res.residual.shape      # model input order
((16, 2500, 7), (16,))

Submodules, one concept each: :mod:`~kerasgene.explain.attribution` (the result type,
baselines, model input/output plumbing), :mod:`~kerasgene.explain.ig` (IG engines
"native" and "alibi", quadrature, adaptive steps), :mod:`~kerasgene.explain.saliency`,
:mod:`~kerasgene.explain.sites` (site/track aggregation, top-site regions, differential
attribution, FASTA/BED), :mod:`~kerasgene.explain.truth` (scores against a simulated
planted truth), :mod:`~kerasgene.explain.motifs` (filter PWMs, Tomtom vs JASPAR, FIMO enrichment),
:mod:`~kerasgene.explain.knockout` (filter and motif knockouts, rank-sum / Fisher tests),
:mod:`~kerasgene.explain.ablation` (input ablation subsets; ``kerasgene ablate``: iSEGnet
retrained on each input subset, Fig. 4A), :mod:`~kerasgene.explain.variants` (VCF variant
effects and saturation mutagenesis for iSEGnet, DeepRAGE and histone-FCN k-mer models),
:mod:`~kerasgene.explain.plots` (PNG figures). A trained run:
:mod:`~kerasgene.explain.options` (:class:`ExplainOptions`, the run config's ``explain:``
section), :mod:`~kerasgene.explain.analyses` (IG, filters, knockouts, saliency of a run),
:mod:`~kerasgene.explain.run` (:func:`explain_run`),
:mod:`~kerasgene.explain.run_variants` (:func:`variants_of_run`, the systems' variant
readers). TensorFlow, memelite, pyjaspar and matplotlib are imported only when a function
needs them.
"""

from __future__ import annotations

from kerasgene.datasets.regions import ISEGNET_TRACKS
from kerasgene.explain.ablation import ablation_inputs, ablation_table, run_ablation, select_inputs
from kerasgene.explain.attribution import Attribution, make_baselines
from kerasgene.explain.ig import integrated_gradients, iter_integrated_gradients, quadrature
from kerasgene.explain.knockout import (
    KnockoutTest,
    filter_knockout_scan,
    gene_effects,
    knockout_effects,
    knockout_test,
    mask_motif,
    zero_filters,
)
from kerasgene.explain.motifs import (
    FilterPWMs,
    Motif,
    filter_matches,
    filter_pwms,
    first_conv_layer,
    jaspar_motifs,
    motif_enrichment,
    motif_recovery,
    tomtom_matches,
)
from kerasgene.explain.mutagenesis import Mutagenesis, saturation_mutagenesis
from kerasgene.explain.options import ExplainOptions, explain_options
from kerasgene.explain.readers import KmerReader, PromoterReader, RegionReader, reader_kind
from kerasgene.explain.run import explain_run
from kerasgene.explain.run_variants import RunVariants, variants_of_run
from kerasgene.explain.saliency import mean_saliency
from kerasgene.explain.sites import (
    ISEGNET_LAYOUT,
    DifferentialSites,
    Region,
    attribution_tracks,
    differential_attribution,
    differential_regions,
    site_attribution,
    top_site_regions,
    track_profiles,
    write_bed,
    write_fasta,
)
from kerasgene.explain.truth import (
    auroc,
    planted_position_auroc,
    planted_track_aurocs,
    truth_signal_mask,
)
from kerasgene.explain.variants import (
    Variant,
    apply_variant,
    promoter_genes,
    read_vcf,
    ref_matches,
    variant_effects,
    window_sequence,
)

__all__ = [
    "ISEGNET_LAYOUT",
    "ISEGNET_TRACKS",
    "Attribution",
    "DifferentialSites",
    "ExplainOptions",
    "FilterPWMs",
    "KmerReader",
    "KnockoutTest",
    "Motif",
    "Mutagenesis",
    "PromoterReader",
    "Region",
    "RegionReader",
    "RunVariants",
    "Variant",
    "ablation_inputs",
    "ablation_table",
    "apply_variant",
    "attribution_tracks",
    "auroc",
    "differential_attribution",
    "differential_regions",
    "explain_options",
    "explain_run",
    "filter_knockout_scan",
    "filter_matches",
    "filter_pwms",
    "first_conv_layer",
    "gene_effects",
    "integrated_gradients",
    "iter_integrated_gradients",
    "jaspar_motifs",
    "knockout_effects",
    "knockout_test",
    "make_baselines",
    "mask_motif",
    "mean_saliency",
    "motif_enrichment",
    "motif_recovery",
    "planted_position_auroc",
    "planted_track_aurocs",
    "promoter_genes",
    "quadrature",
    "read_vcf",
    "reader_kind",
    "ref_matches",
    "run_ablation",
    "saturation_mutagenesis",
    "select_inputs",
    "site_attribution",
    "tomtom_matches",
    "top_site_regions",
    "track_profiles",
    "truth_signal_mask",
    "variant_effects",
    "variants_of_run",
    "window_sequence",
    "write_bed",
    "write_fasta",
    "zero_filters",
]
