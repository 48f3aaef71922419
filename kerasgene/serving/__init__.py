"""Serving: SavedModels in TensorFlow Serving's layout, a gRPC client, a compatible server.

- :func:`export` (:mod:`~kerasgene.serving.exporter`) writes ``base_dir/name/<version>/``
  (a SavedModel whose ``serving_default`` signature takes the model's named inputs and
  returns its named outputs, plus ``assets/kerasgene.json`` with the preprocessing
  constants); :func:`export_run` exports a complete run.
- :class:`Client` (:mod:`~kerasgene.serving.client`) talks to TensorFlow Serving
  (production, ``serving/`` at the top level) or to ``kerasgene serve``
  (:mod:`~kerasgene.serving.server`) with the official ``tensorflow-serving-api`` stubs
  only, so the same client works with both.
- :mod:`~kerasgene.serving.protocol`: signature names and :class:`ServingError`.

The names below are imported from their modules on first use, so ``import
kerasgene.serving`` stays cheap (no TensorFlow, no gRPC) for the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from kerasgene.serving.protocol import (
    CONSTANTS_FILE,
    DEFAULT_SIGNATURE,
    METADATA_SIGNATURE,
    ServingError,
)

if TYPE_CHECKING:  # pragma: no cover
    from kerasgene.serving.client import Client
    from kerasgene.serving.exporter import export, export_run, list_versions, read_constants

__all__ = [
    "CONSTANTS_FILE",
    "DEFAULT_SIGNATURE",
    "METADATA_SIGNATURE",
    "Client",
    "ServingError",
    "export",
    "export_run",
    "list_versions",
    "read_constants",
]

_LAZY = {"Client": "kerasgene.serving.client", "export": "kerasgene.serving.exporter",
         "export_run": "kerasgene.serving.exporter", "list_versions": "kerasgene.serving.exporter",
         "read_constants": "kerasgene.serving.exporter"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerasgene.serving' has no attribute {name!r}")
