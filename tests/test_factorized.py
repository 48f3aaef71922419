import keras
import numpy as np
import pytest

from kerasgene.errors import ConfigError
from kerasgene.models import build
from kerasgene.train.block_trainer import FactorizedPairTrainer, blocks_from_arrays

SMALL = {"seq_len": 60, "n_regulators": 12, "filters": 6, "filter_length": 5,
         "regulator_units": 8, "units": 10}
POOL = {"pool_size": 4, "pool_stride": 3}
VARIANTS = {"deeprage_concat": {**SMALL, **POOL}, "deeprage_tensor": SMALL}


def _small(name, **kwargs):
    return build(name, **{**VARIANTS[name], **kwargs})


@pytest.fixture
def block(rng):
    seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (5, 60))]
    regs = rng.choice([-1.0, 0.0, 1.0], (4, 12)).astype(np.float32)
    targets = rng.normal(size=(5, 4)).astype(np.float32)
    return seqs, regs, targets


def _pairs(seqs, regs):
    g, c = np.meshgrid(np.arange(len(seqs)), np.arange(len(regs)), indexing="ij")
    return {"sequence": seqs[g.ravel()], "regulators": regs[c.ravel()]}


@pytest.mark.parametrize("name", VARIANTS)
def test_block_outputs_equal_pairwise_predictions(block, name):
    seqs, regs, _ = block
    model = _small(name)
    trainer = FactorizedPairTrainer(model, keras.optimizers.SGD(0.01))
    naive = model.predict(_pairs(seqs, regs), verbose=0)["expression"].reshape(5, 4)
    np.testing.assert_allclose(trainer.block_outputs(seqs, regs), naive, atol=1e-5)
    w = np.ones((5, 4))
    w[0, 1] = 0
    y, pred = trainer.predict_blocks(blocks_from_arrays(seqs, regs, naive, w, 2, 3))
    assert len(y) == 19
    np.testing.assert_allclose(pred, y, atol=1e-5)


@pytest.mark.parametrize("name", VARIANTS)
def test_one_step_equals_naive_pair_step(block, name):
    """Same loss, same gradients: one SGD step on a block moves the weights exactly as
    one naive step on all of the block's pairs (no dropout, so both are deterministic)."""
    seqs, regs, targets = block
    keras.utils.set_random_seed(0)
    model = _small(name, dropout=0.0)
    naive = keras.models.clone_model(model)
    naive.set_weights(model.get_weights())
    naive.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    naive.train_on_batch(_pairs(seqs, regs), targets.reshape(-1, 1))

    trainer = FactorizedPairTrainer(model, keras.optimizers.SGD(0.1))
    trainer.train_epoch(blocks_from_arrays(seqs, regs, targets, np.ones_like(targets), 5, 4))
    for a, b in zip(model.get_weights(), naive.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_weights_mask_pairs_out_of_the_loss(block):
    seqs, regs, targets = block
    model = _small("deeprage_concat", dropout=0.0)
    before = model.get_weights()
    trainer = FactorizedPairTrainer(model, keras.optimizers.SGD(0.1))
    assert np.isnan(trainer.train_epoch(blocks_from_arrays(seqs, regs, targets,
                                                           np.zeros_like(targets))))
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_training_reduces_loss(block, rng):
    seqs = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (40, 60))]
    regs = rng.choice([-1.0, 0.0, 1.0], (30, 12)).astype(np.float32)
    gc_content = seqs[:, :, 1:3].sum((1, 2)) / 60
    targets = (gc_content[:, None] - 0.5) * 4 * regs[None, :, 0]
    keras.utils.set_random_seed(0)
    trainer = FactorizedPairTrainer(_small("deeprage_concat", dropout=0.0),
                                    keras.optimizers.Adam(3e-3))
    w = np.ones_like(targets)
    losses = [trainer.train_epoch(blocks_from_arrays(seqs, regs, targets, w, 8, 8, seed=e))
              for e in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_rejects_a_merge_that_feeds_no_dense():
    with pytest.raises(ConfigError, match="must feed exactly one Dense layer"):
        FactorizedPairTrainer(build("deeprage_rnn", seq_len=60, n_regulators=12, filters=4,
                                    filter_length=5, regulator_units=4, units=8, rnn_units=4),
                              keras.optimizers.SGD(0.01))


def test_rejects_a_concat_without_dense():
    inp = {"sequence": keras.Input((4,), name="sequence"),
           "regulators": keras.Input((3,), name="regulators")}
    z = keras.layers.Concatenate(name="concat")([inp["sequence"], inp["regulators"]])
    model = keras.Model(inp, {"expression": keras.layers.Activation("relu", name="expression")(z)})
    with pytest.raises(ConfigError, match="exactly one Dense"):
        FactorizedPairTrainer(model, keras.optimizers.SGD(0.01))


def test_rejects_models_without_a_merge_layer():
    inp = keras.Input((4,), name="sequence")
    model = keras.Model(inp, keras.layers.Dense(1, name="expression")(inp))
    with pytest.raises(ConfigError, match="no Concatenate or outer-product Dot layer"):
        FactorizedPairTrainer(model, keras.optimizers.SGD(0.01))
