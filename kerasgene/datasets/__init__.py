"""Dataset builders: user files → an on-disk Dataset → ``tf.data``.

One builder per task, each taking a config mapping (the task's YAML section; see the
builder module's docstring for its keys) and an output directory:

=========  ===========================================  =====================================
task       builder                                      inputs → target
=========  ===========================================  =====================================
isegnet    :func:`regions.build_regions`                 sequence (2500, 4), epigenome
                                                         (2500, 7) → expression (log TPM)
histone    :func:`histone_bins.build_histone`            histone (100, 5 [+10] [+K]) →
                                                         expression or class
deeprage   :func:`pairs.build_pairs`                     sequence (1000, 4), regulators (472,)
                                                         → expression (log-fold change) or class
chromatin  :func:`genome_bins.build_genome_bins`         signal (window, 2) → target bin value
=========  ===========================================  =====================================

>>> ds = build("isegnet", cfg, "prepared/isegnet")          # doctest: +SKIP
>>> ds = Dataset.open("prepared/isegnet")                     # doctest: +SKIP
>>> train = ds.to_tf_dataset("train", 100, shuffle=True)      # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from kerasgene.datasets import splits
from kerasgene.datasets.base import Dataset, check_keys, fingerprint
from kerasgene.datasets.genome_bins import GenomeBinsDataset, build_genome_bins
from kerasgene.datasets.histone_bins import HistoneDataset, build_histone
from kerasgene.datasets.pairs import PairsDataset, build_pairs
from kerasgene.datasets.regions import RegionsDataset, build_regions
from kerasgene.datasets.storage import DatasetWriter
from kerasgene.datasets.windows import extract_regions, gene_windows


def build(system: str, config: Mapping | None, out_dir: str | os.PathLike, **kwargs) -> Dataset:
    """Build (or reuse) the dataset of ``system`` from ``config`` into ``out_dir``.

    ``system`` is a system of :mod:`kerasgene.systems` (``isegnet``, ``deeprage``,
    ``chromatin``, ``histone_fcn`` / ``histone``, ``deepchrome``); its dataset builder is
    called. Keyword arguments go to the builder (``force``, ``progress``, ``base_dir`` for
    relative paths, or config overrides).
    """
    from kerasgene import systems

    builder = systems.resolve(systems.get(system, "dataset system").dataset)
    return builder(config, out_dir, **kwargs)


__all__ = [
    "Dataset", "DatasetWriter", "GenomeBinsDataset", "HistoneDataset",
    "PairsDataset", "RegionsDataset", "build", "build_genome_bins", "build_histone",
    "build_pairs", "build_regions", "check_keys", "extract_regions", "fingerprint",
    "gene_windows", "splits",
]
