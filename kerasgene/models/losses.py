"""The papers' custom losses, registered with Keras so that saved models load with them.

``masked_mse`` (chromatin imputation: targets equal to 0 are missing) and ``rmse`` (the
imputation report's dense network). Written with ``keras.ops`` only, so they run under
every Keras backend.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kerasgene")
def masked_mse(y_true, y_pred):
    """Mean squared error over targets that are non-zero (chromatin imputation).

    Returns one value per example; examples whose targets are all zero contribute 0.
    """
    y_true = keras.ops.cast(y_true, y_pred.dtype)
    mask = keras.ops.cast(keras.ops.not_equal(y_true, 0), y_pred.dtype)
    err = keras.ops.square(y_true - y_pred) * mask
    axes = list(range(1, len(y_pred.shape)))
    return keras.ops.sum(err, axis=axes) / keras.ops.maximum(keras.ops.sum(mask, axis=axes), 1.0)


@keras.saving.register_keras_serializable(package="kerasgene")
def rmse(y_true, y_pred):
    """Root mean squared error of the batch (the imputation paper's dense-network loss)."""
    y_true = keras.ops.cast(y_true, y_pred.dtype)
    return keras.ops.sqrt(keras.ops.mean(keras.ops.square(y_true - y_pred)) + 1e-12)
