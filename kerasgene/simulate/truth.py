"""The schema of truth.json and its validation."""

from __future__ import annotations

import logging
import math
from typing import Any

from kerasgene.errors import InputFileError

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# truth schema
# --------------------------------------------------------------------------------------

#: Required structure of truth.json: key → type, or a nested dict for sub-objects.
TRUTH_SCHEMA: dict[str, Any] = {
    "generator": {"name": str, "version": str, "kerasgene_version": str, "seed": int,
                  "scale": str, "jaspar_release": str},
    "parameters": dict,
    "genome": {"fasta": str, "gtf": str, "chrom_sizes": dict, "n_genes": int,
               "gc_fraction": float, "soft_masked_fraction": float, "n_runs": list,
               "coordinates": str},
    "tasks": {
        "isegnet": {"files": dict, "biosamples": list, "track_order": list, "window": list,
                    "label": str, "noise": {"sd": float, "variance": float}, "ceiling_r2": float,
                    "function": {"formula": str, "parameters": dict}, "features": list,
                    "effects": list, "motifs": list, "motif_instances": dict,
                    "n_expressed": int, "n_zero_expression": int},
        "deeprage": {"files": dict, "noise": {"sd": float, "variance": float}, "ceiling_r2": float,
                     "function": {"formula": str}, "regulators": list, "motif_instances": dict,
                     "n_genes": int, "n_conditions": int},
        "chromatin": {"files": dict, "bin_size": int, "ceiling_r2": float, "targets": dict,
                      "function": {"formula": str}, "primary_target": str},
        "histone_fcn": {"files": dict, "cells": list, "marks": list, "noise": {"sd": float, "variance": float},
                        "ceiling_r2": float, "function": {"formula": str, "parameters": dict},
                        "features": list, "depth": dict, "split": dict},
    },
}


def _check(obj: Any, spec: Any, path: str) -> None:
    if isinstance(spec, dict):
        if not isinstance(obj, dict):
            raise InputFileError(f"truth.json: {path or 'top level'} must be an object, got {type(obj).__name__}")
        for key, sub in spec.items():
            if key not in obj:
                raise InputFileError(f"truth.json: missing field {path + '.' if path else ''}{key}")
            _check(obj[key], sub, f"{path + '.' if path else ''}{key}")
        return
    ok = isinstance(obj, spec) and not (spec is int and isinstance(obj, bool))
    if spec is float:
        ok = isinstance(obj, (int, float)) and not isinstance(obj, bool) and math.isfinite(obj)
    if not ok:
        raise InputFileError(f"truth.json: field {path} must be {spec.__name__}, got {type(obj).__name__}")


def validate_truth(truth: dict) -> None:
    """Check ``truth`` against :data:`TRUTH_SCHEMA` and its invariants.

    Raises
    ------
    InputFileError
        Naming the first offending field: missing, wrong type, a ceiling outside [0, 1],
        a negative noise variance, a motif without a JASPAR ID, or a target gene that is
        not in the data.
    """
    _check(truth, TRUTH_SCHEMA, "")
    for name, task in truth["tasks"].items():
        c = task["ceiling_r2"]
        if not 0.0 <= c <= 1.0:
            raise InputFileError(f"truth.json: tasks.{name}.ceiling_r2 = {c} is outside [0, 1]")
        if "noise" in task and task["noise"]["variance"] < 0:
            raise InputFileError(f"truth.json: tasks.{name}.noise.variance must be >= 0")
    iseg = truth["tasks"]["isegnet"]
    for k, m in enumerate(iseg["motifs"]):
        for field in ("jaspar_id", "role", "direction", "effective_region", "target_genes"):
            if field not in m:
                raise InputFileError(f"truth.json: missing field tasks.isegnet.motifs[{k}].{field}")
        if not str(m["jaspar_id"]).startswith("MA"):
            raise InputFileError(f"truth.json: tasks.isegnet.motifs[{k}].jaspar_id {m['jaspar_id']!r} is not a JASPAR ID")
    for k, r in enumerate(truth["tasks"]["deeprage"]["regulators"]):
        for field in ("tf", "orf", "jaspar_id", "weight", "direction", "target_genes"):
            if field not in r:
                raise InputFileError(f"truth.json: missing field tasks.deeprage.regulators[{k}].{field}")
        if not str(r["jaspar_id"]).startswith("MA"):
            raise InputFileError(f"truth.json: tasks.deeprage.regulators[{k}].jaspar_id {r['jaspar_id']!r} is not a JASPAR ID")
        if (r["weight"] > 0) != (r["direction"] == "activator"):
            raise InputFileError(f"truth.json: tasks.deeprage.regulators[{k}]: direction disagrees with weight sign")
        unknown = set(r["target_genes"]) - set(truth["tasks"]["deeprage"]["motif_instances"])
        if unknown:
            raise InputFileError(f"truth.json: tasks.deeprage.regulators[{k}].target_genes has genes without instances: {sorted(unknown)[:3]}")
    for t, v in truth["tasks"]["chromatin"]["targets"].items():
        for field in ("ceiling_r2_bins", "ceiling_r2_smoothed"):
            if field not in v:
                raise InputFileError(f"truth.json: missing field tasks.chromatin.targets.{t}.{field}")

