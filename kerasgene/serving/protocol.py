"""What the exporter, the client and the server agree on: signature names, where the
preprocessing constants live, and the error a failed serving call raises."""

from __future__ import annotations

from kerasgene.errors import KerasgeneError

#: bytes in a mebibyte (message-size limits are given in MiB)
MiB = 1 << 20
#: the largest request or response, by default (TF Serving's own limit is 2 GiB − 1)
DEFAULT_MAX_MESSAGE_BYTES = 256 * MiB
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
