"""What the exporter, the client and the server agree on: signature names, where the
preprocessing constants live, and the error a failed serving call raises."""

from __future__ import annotations

import numpy as np

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


def nonfinite(name: str, array: np.ndarray) -> str | None:
    """Why input ``name`` cannot be predicted from: its NaN or infinite values.

    No kerasgene model gives a meaningful prediction from them, and some hide them: a
    max-pooling classifier (deepchrome) turns one NaN into confident, finite class
    probabilities.

    Parameters
    ----------
    name : str
        The input's name in the signature.
    array : np.ndarray
        Its values; arrays of other kinds than floating point always pass.

    Returns
    -------
    str or None
        One line naming the input, the count and the first such value with its position
        (its first index is the example), or None when every value is finite.
    """
    if array.dtype.kind != "f" or np.isfinite(array).all():
        return None
    bad = ~np.isfinite(array)
    first = np.unravel_index(int(np.argmax(bad)), array.shape)
    return (f"input {name!r}: {int(bad.sum())} NaN or infinite value(s), the first "
            f"{array[first]} at {[int(i) for i in first]}; expected finite numbers")
