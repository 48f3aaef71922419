import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasgene.errors import ConfigError
from kerasgene.metrics import classification_metrics, regression_metrics
from kerasgene.models.losses import masked_mse, rmse
from kerasgene.train import recipes


def test_masked_mse_ignores_zero_targets():
    y = np.array([[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    p = np.array([[5.0, 1.0, -3.0, 3.0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    got = keras.ops.convert_to_numpy(masked_mse(y, p))
    np.testing.assert_allclose(got, [(1.0 + 4.0) / 2, 0.0])


def test_rmse():
    got = float(rmse(np.array([1.0, 3.0]), np.array([0.0, 0.0])))
    assert got == pytest.approx(np.sqrt(5.0))


def test_regression_metrics_match_numpy(rng):
    y = rng.normal(size=200)
    p = y + rng.normal(scale=0.5, size=200)
    m = regression_metrics(y, p)
    assert m["r2"] == pytest.approx(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
    assert m["pearson"] == pytest.approx(np.corrcoef(y, p)[0, 1])
    assert m["mse"] == pytest.approx(np.mean((y - p) ** 2))


def test_classification_metrics():
    y = np.array([0, 1, 1, 0, 2, 2])
    proba = np.eye(3)[[0, 1, 0, 0, 2, 1]] * 0.8 + 0.2 / 3
    m = classification_metrics(y, proba)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert 0.5 < m["auroc"] <= 1.0


def test_resolve_training_recipes_and_errors():
    cfg = recipes.resolve_training({"epochs": 3}, "deeprage_concat", classification=False)
    assert (cfg["optimizer"], cfg["learning_rate"], cfg["monitor"], cfg["loss"]) == ("sgd", 0.01, "val_r2", "mse")
    cfg = recipes.resolve_training(None, "deeprage_rnn", classification=True)
    assert (cfg["optimizer"], cfg["loss"], cfg["monitor"]) == ("adam", "crossentropy", "val_accuracy")
    assert recipes.resolve_training(None, "chromatin_cnn", False)["loss"] == "masked_mse"
    with pytest.raises(ConfigError, match="unknown key 'epoch'; did you mean 'epochs'"):
        recipes.resolve_training({"epoch": 3}, "isegnet", False)
    with pytest.raises(ConfigError, match=r"training\.optimizer"):
        recipes.resolve_training({"optimizer": "adamw"}, "isegnet", False)
    with pytest.raises(ConfigError, match="multi_worker"):
        recipes.get_strategy("nccl")


def test_short_fit_learns_and_writes_history(tmp_path, rng):
    recipes.set_seed(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (x @ rng.normal(size=8)).astype("float32")
    inp = keras.Input((8,), name="features")
    model = keras.Model({"features": inp}, keras.layers.Dense(1, name="expression")(inp))
    cfg = recipes.resolve_training({"epochs": 30, "verbose": 0, "learning_rate": 0.05}, "linear", False)
    recipes.compile_model(model, cfg)
    ds = tf.data.Dataset.from_tensor_slices(({"features": x}, y)).batch(64)
    hist = recipes.fit(model, ds, ds, cfg, tmp_path)
    assert hist.history["val_r2"][-1] > 0.95
    assert (tmp_path / "history.csv").read_text().startswith("epoch")
    assert (tmp_path / "checkpoint.keras").exists()


def test_step_variables_built_before_fit_trace_the_step_once_to_the_same_weights(rng):
    """Keras (TensorFlow, no strategy) creates the optimizer's and the R² metric's
    variables in the first trace of the train step, which a tf.function then traces
    again; built beforehand (as recipes.fit does) the step's Python runs once, and the
    weights after training are the same to the bit."""
    from kerasgene.models import build

    x = {"sequence": np.eye(4, dtype=np.float32)[rng.integers(0, 4, (48, 200))],
         "epigenome": rng.random((48, 200, 7)).astype(np.float32)}
    y = rng.random((48, 1)).astype(np.float32)
    cfg = recipes.resolve_training({}, "isegnet", False)

    def train(prebuild: bool):
        recipes.set_seed(0)
        model = recipes.compile_model(build("isegnet", seq_len=200, k1=2, dropout=0.3), cfg)
        traces = []
        step = model.train_step
        model.train_step = lambda data: (traces.append(1), step(data))[1]
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(48, seed=1).batch(16)
        if prebuild:
            recipes.build_step_variables(model, ds.element_spec)
            assert model.optimizer.built
        model.fit(ds, epochs=2, verbose=0, shuffle=False)
        return len(traces), model.get_weights()

    (deferred, w0), (built, w1) = train(False), train(True)
    assert (deferred, built) == (2, 1)
    assert all(np.array_equal(a, b) for a, b in zip(w0, w1, strict=True))


@pytest.mark.parametrize(("name", "kwargs", "layer"), [
    ("isegnet", {"seq_len": 200, "k1": 2}, "head_dense"),
    ("chromatin_cnn", {}, "H3K4me3"),
    ("histone_fcn", {}, "output_conv"),
    ("deeprage_concat", {"filters": 4, "regulator_units": 4, "units": 4}, "expression"),
])
def test_init_output_bias_sets_the_regression_output_level(name, kwargs, layer):
    from kerasgene.models import build

    model = build(name, **kwargs)
    assert recipes.output_bias_layer(model).name == layer
    assert recipes.init_output_bias(model, 5.5)
    x = {t.name: np.zeros((3, *t.shape[1:]), "float32") for t in model.inputs}
    out = model.predict(x, verbose=0)
    # all-zero inputs: every later bias-free path gives 0, so the output is the bias alone
    if name != "isegnet":  # iSEGnet's BatchNorm shifts zero inputs
        np.testing.assert_allclose(np.asarray(out[model.output_names[0]]).ravel(), 5.5, atol=1e-5)


def test_init_output_bias_skips_classifiers_and_sets_every_ensemble_member():
    """A histone FCN ensemble (the mean of its members): every member's bias — a tune
    trial of the ensemble started from 0, silently, where `train` starts each member at
    the label mean (H5)."""
    from kerasgene.models import build
    from kerasgene.models.histone_fcn import ensemble_members

    assert recipes.output_bias_layer(build("deepchrome")) is None
    assert not recipes.init_output_bias(build("deepchrome"), 1.0)
    for n in (1, 3):
        ens = build("histone_fcn_ensemble", n_models=n, base_filters=4)
        assert recipes.output_bias_layer(ens) is None and recipes.init_output_bias(ens, 1.5)
        biases = [recipes.output_bias_layer(m).bias.numpy() for m in ensemble_members(ens)]
        assert len(biases) == n and all(np.allclose(b, 1.5) for b in biases)


def test_recalibrate_batch_norm_uses_dropout_free_statistics(rng):
    inp = keras.Input((6,), name="x")
    h = keras.layers.Dropout(0.5, name="drop")(inp)
    h = keras.layers.Dense(3, name="dense")(h)
    out = keras.layers.BatchNormalization(momentum=0.99, name="bn")(h)
    model = keras.Model(inp, out)
    batches = [rng.normal(size=(40, 6)).astype("float32") + 2 for _ in range(3)]
    assert recipes.has_dropout_and_batch_norm(model)
    assert recipes.recalibrate_batch_norm(model, iter(batches)) == 3
    pre = [model.get_layer("dense")(b).numpy() for b in batches]  # dropout off
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([p.mean(0) for p in pre], 0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([p.var(0) for p in pre], 0),
                               rtol=1e-4, atol=1e-5)
    assert model.get_layer("drop").rate == 0.5 and bn.momentum == 0.99
    # one traced forward pass kept across calls (as the fit's callback keeps it): each
    # call's statistics are its own batches'
    forward = recipes.training_forward(model)
    for shift in (5.0, -1.0):
        more = [b + shift for b in batches[:2]]
        assert recipes.recalibrate_batch_norm(model, iter(more), forward) == 2
        pre = [model.get_layer("dense")(b).numpy() for b in more]
        np.testing.assert_allclose(bn.moving_mean.numpy(),
                                   np.mean([p.mean(0) for p in pre], 0), rtol=1e-5, atol=1e-5)
    assert model.get_layer("drop").rate == 0.5 and bn.momentum == 0.99


def test_fit_recalibrates_before_validation(rng):
    """Validation after one epoch scores the model with dropout-free statistics: the same
    as an explicit recalibration on the same training batches."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, name="d1")(keras.layers.Dropout(0.5)(inp))
    h = keras.layers.Dense(1, name="out")(keras.layers.BatchNormalization(name="bn")(h))
    model = keras.Model(inp, h)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=8)).astype("float32")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    cfg = recipes.resolve_training({"epochs": 1, "verbose": 0}, "linear", False)
    recipes.compile_model(model, cfg)
    recipes.fit(model, train, train, cfg)
    bn = model.get_layer("bn")
    mean = bn.moving_mean.numpy()
    expected = model.get_layer("d1")(x).numpy().mean(0)  # 512 examples > 256: all batches
    np.testing.assert_allclose(mean, expected, rtol=1e-4, atol=1e-4)


def test_score_line_shows_a_runs_metrics_in_one_line():
    """What ``kerasgene train`` prints after its run: the test scores, the baselines by
    the model's headline score (R², else AUPRC), the shuffled control; NaN as NaN."""
    from kerasgene.metrics import score_line

    y = np.array([0.0, 1.0, 2.0, 3.0])
    metrics = {"test": regression_metrics(y, y + np.array([0.1, -0.1, 0.2, 0.0])),
               "baselines": {"ridge": regression_metrics(y, y[::-1])},
               "controls": {"shuffled": {"r2": -0.0123}, "shuffled_sd": {"r2": 0.004}}}
    assert score_line(metrics) == ("test R² 0.988, Pearson r 0.995 (n = 4); baselines' R²: "
                                   "ridge -3.000; shuffled labels -0.012 ± 0.004")
    labels = np.array([0, 1, 1, 0, 1])
    classes = {"valid": classification_metrics(labels, np.array([-1.0, 2, 0.5, 0.2, -0.3])),
               "baselines": {"xgboost": classification_metrics(labels, -np.ones(5))}}
    assert score_line(classes) == ("valid accuracy 0.600, AUROC 0.833, AUPRC 0.917 (n = 5, "
                                   "60.0 % positive); baselines' AUPRC: xgboost 0.600")
    assert score_line({"test": regression_metrics(y, np.ones(4))}) == (
        "test R² -0.200, Pearson r nan (n = 4)")


def test_score_line_reads_multi_class_scores_against_the_commonest_class():
    """A review's DeepRAGE class run predicted "baseline" for every pair and printed
    accuracy 0.670 — the share of that class — with nothing to read it against; its
    baselines scored on 1,000 test pairs against the model's 17,300, one of them undefined
    there (a class absent), left out of the line; a one-permutation control printed
    "± 0.000"."""
    from kerasgene.metrics import score_line

    labels = np.array([1, 1, 1, 1, 0, 2])
    everywhere = np.tile([0.1, 0.8, 0.1], (6, 1))  # "baseline" for every example
    test = classification_metrics(labels, everywhere)
    assert test["majority_fraction"] == pytest.approx(4 / 6) == test["accuracy"]
    metrics = {"test": test,
               "baselines": {"ridge": classification_metrics(labels[:3], everywhere[:3]),
                             "xgboost": {"undefined": "…", "n": 3}},
               "controls": {"shuffled": {"auprc": 0.34}, "shuffled_sd": {"auprc": 0.0},
                            "shuffled_runs": [{"auprc": 0.34}]}}
    assert score_line(metrics) == (
        "test accuracy 0.667, AUROC 0.500, AUPRC 0.333 (n = 6, commonest class 66.7 %); "
        "baselines' AUPRC (on 3 test examples): ridge undefined, xgboost undefined; "
        "shuffled labels 0.340")


def test_scores_of_too_few_values_are_nan_not_an_error():
    """A chromatin test split whose targets are all 0 leaves no bin for ``nonzero_targets``
    (scipy's pearsonr raised on it, so evaluation crashed); one value has no correlation."""
    from kerasgene.train.evaluation import nonzero_target_metrics

    none = nonzero_target_metrics(np.zeros(5), np.ones(5))
    assert (none["n"], none["n_zero"]) == (0, 5)
    assert all(np.isnan(none[k]) for k in ("r2", "pearson", "spearman", "mse"))
    one = regression_metrics([2.0], [1.5])
    assert one["n"] == 1 and one["mse"] == 0.25
    assert all(np.isnan(one[k]) for k in ("r2", "pearson", "spearman"))


class _SplitLabels:
    """The two methods and the meta that :func:`check_split_classes` reads, over given
    labels per split (a DeepRAGE-like 3-class target)."""

    def __init__(self, labels: dict):
        self._labels = {k: np.asarray(v) for k, v in labels.items()}
        self.meta = {"n_classes": 3, "class_names": ["down", "baseline", "up"]}

    def split_indices(self, split):
        return np.arange(len(self._labels.get(split, [])))

    def labels(self, split):
        return self._labels[split]


def test_split_classes_are_checked_before_training(caplog):
    """A class a split lacks is named with every class's count; test examples of a class
    the training split lacks are counted (the model never predicts them: an unseen-condition
    DeepRAGE split without 'up' pairs trained and scored without a word); a training split
    of one class is an error."""
    from kerasgene.train.evaluation import check_split_classes

    ds = _SplitLabels({"train": [0] * 67 + [1] * 313, "valid": [0, 1, 1, 2],
                       "test": [1] * 49 + [2] * 27})
    with caplog.at_level("WARNING", logger="kerasgene"):
        check_split_classes(ds)
    assert [r.getMessage() for r in caplog.records] == [
        "split.train: no example of class 2 (up) (examples per class: 67, 313, 0): the "
        "model never learns to predict it",
        "split.valid: 1 of its 4 examples are of class 2 (up), which the training split "
        "lacks: the model never predicts it (examples per class: 1, 2, 1)",
        "split.test: no example of class 0 (down) (examples per class: 0, 49, 27)",
        "split.test: 27 of its 76 examples are of class 2 (up), which the training split "
        "lacks: the model never predicts it (examples per class: 0, 49, 27)"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="kerasgene"):
        check_split_classes(_SplitLabels({"train": [0, 1, 2], "test": [2, 1, 0]}))
    assert not caplog.records
    with pytest.raises(ConfigError, match=r"^split\.train: its 5 examples hold class 1 "
                       r"\(baseline\) only; a classifier has nothing to learn \(counts per "
                       r"class: 0, 5, 0\)$"):
        check_split_classes(_SplitLabels({"train": [1] * 5}))
