"""One process of a 2-worker factorised DeepRAGE training (tests/test_scale_out.py):
``python factorized_worker.py OUT`` with TF_CONFIG set; trains the small DeepRAGE-C on
fixed blocks under MultiWorkerMirroredStrategy and writes its weights and losses to
``OUT/<task index>.npz``."""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def blocks_and_model():
    """The small model (seeded) and the 4 blocks of every epoch, the same in any process."""
    import keras

    from kerasgene.models import build
    from kerasgene.train.block_trainer import blocks_from_arrays

    rng = np.random.default_rng(0)
    seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (8, 60))]
    regs = rng.choice([-1.0, 0.0, 1.0], (6, 12)).astype(np.float32)
    targets = rng.normal(size=(8, 6)).astype(np.float32)
    blocks = list(blocks_from_arrays(seqs, regs, targets, np.ones_like(targets), 4, 3))
    keras.utils.set_random_seed(0)
    model = build("deeprage_concat", seq_len=60, n_regulators=12, filters=6, filter_length=5,
                  regulator_units=8, units=10, pool_size=4, pool_stride=3, dropout=0.0)
    return model, blocks


def main(out: str) -> None:
    import keras
    import tensorflow as tf

    from kerasgene.train.block_trainer import FactorizedPairTrainer

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model, blocks = blocks_and_model()
        trainer = FactorizedPairTrainer(model, keras.optimizers.SGD(0.05), strategy=strategy)
        losses = [trainer.train_epoch(blocks) for _ in range(3)]
    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    weights = {f"arr_{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    np.savez(os.path.join(out, f"{task}.npz"), losses=np.array(losses), **weights)


if __name__ == "__main__":
    main(sys.argv[1])
