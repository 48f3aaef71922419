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

import difflib
import os
from collections.abc import Mapping

from kerasgene.datasets import splits
from kerasgene.datasets.base import Dataset, DatasetWriter, check_keys, fingerprint
from kerasgene.datasets.genome_bins import GenomeBinsDataset, build_genome_bins
from kerasgene.datasets.histone_bins import HistoneDataset, build_histone
from kerasgene.datasets.pairs import PairsDataset, build_pairs
from kerasgene.datasets.regions import (
    RegionsDataset,
    build_regions,
    extract_regions,
    gene_windows,
)
from kerasgene.errors import ConfigError

BUILDERS = {
    "isegnet": build_regions,
    "histone": build_histone,
    "deeprage": build_pairs,
    "chromatin": build_genome_bins,
}
ALIASES = {
    "regions": "isegnet", "histone_bins": "histone", "histone_fcn": "histone",
    "deepchrome": "histone", "pairs": "deeprage", "genome_bins": "chromatin",
    "imputation": "chromatin",
}


def build(task: str, config: Mapping | None, out_dir: str | os.PathLike, **kwargs) -> Dataset:
    """Build (or reuse) the dataset of ``task`` from ``config`` into ``out_dir``.

    ``task`` is ``isegnet``, ``histone``, ``deeprage`` or ``chromatin`` (aliases:
    ``regions``, ``histone_bins``, ``histone_fcn``, ``deepchrome``, ``pairs``,
    ``genome_bins``, ``imputation``). Keyword arguments go to the builder (``force``,
    ``progress``, ``base_dir`` for relative paths, or config overrides).
    """
    name = ALIASES.get(task, task)
    if name not in BUILDERS:
        near = difflib.get_close_matches(str(task), list(BUILDERS) + list(ALIASES), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(f"unknown dataset task {task!r}{hint}; expected one of "
                          f"{', '.join(BUILDERS)}")
    return BUILDERS[name](config, out_dir, **kwargs)


__all__ = [
    "ALIASES", "BUILDERS", "Dataset", "DatasetWriter", "GenomeBinsDataset", "HistoneDataset",
    "PairsDataset", "RegionsDataset", "build", "build_genome_bins", "build_histone",
    "build_pairs", "build_regions", "check_keys", "extract_regions", "fingerprint",
    "gene_windows", "splits",
]
