"""Serving: SavedModels in TensorFlow Serving's layout, a gRPC client, a compatible server.

- :func:`export` writes ``base_dir/name/<version>/`` (a SavedModel whose
  ``serving_default`` signature takes the model's named inputs and returns its named
  outputs, plus ``assets/kerasgene.json`` with the preprocessing constants).
- :class:`Client` talks to TensorFlow Serving (production, ``serving/`` at the top level)
  or to ``kerasgene serve`` (:mod:`kerasgene.serving.server`) with the official
  ``tensorflow-serving-api`` stubs only, so the same client works with both.

Heavy modules (TensorFlow, gRPC) are imported on first use, so ``import
kerasgene.serving`` stays cheap for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kerasgene.errors import KerasgeneError

if TYPE_CHECKING:  # pragma: no cover
    from kerasgene.serving.client import Client

__all__ = [
    "CONSTANTS_FILE",
    "DEFAULT_SIGNATURE",
    "METADATA_SIGNATURE",
    "Client",
    "ServingError",
    "export",
    "list_versions",
    "read_constants",
]

#: the signature TF Serving uses when a request names none
DEFAULT_SIGNATURE = "serving_default"
#: an input-less signature returning ``{"json": <kerasgene.json as a string>}``, so a
#: client can fetch the preprocessing constants from TF Serving itself
METADATA_SIGNATURE = "kerasgene_metadata"
#: the preprocessing constants, beside the SavedModel
CONSTANTS_FILE = "assets/kerasgene.json"


class ServingError(KerasgeneError):
    """A serving call failed; ``code`` is the gRPC status code name (e.g. "NOT_FOUND")."""

    def __init__(self, message: str, code: str = "UNKNOWN"):
        super().__init__(message)
        self.code = code


# export.py imports TensorFlow inside its functions only; importing it here binds the
# name ``export`` to the function rather than to the submodule
from kerasgene.serving.export import export, list_versions, read_constants  # noqa: E402

_LAZY = {"Client": "kerasgene.serving.client"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kerasgene.serving' has no attribute {name!r}")
