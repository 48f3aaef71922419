"""Runs: a run configuration → prepared dataset → trained model → evaluation, on disk.

A run directory (``run_dir`` of the config) holds::

    config.yaml       the resolved configuration
    model.keras       the trained model (ensembles: the averaging model)
    history.csv       per-epoch losses and metrics (ensembles: history_member_<i>.csv)
    metrics.json      test (and valid) metrics of the model, the baselines and controls
    predictions.tsv   test predictions beside the observed values
    *.png             loss curves, predicted vs observed or the confusion matrix

Configuration keys beyond the dataset's (``kerasgene.config`` lists the sections)::

    model: {name: isegnet, hparams: {k1: 16}}   # registry name and builder arguments
    training: {...}                             # kerasgene.training
    baselines: [ridge, random_forest]           # kerasgene.baselines, on flattened inputs
    controls: [shuffled]                        # listed under ``training.controls``

More ``training`` keys read here: ``factorized`` (DeepRAGE-C/TP on gene × condition
blocks, ``genes_per_block`` × ``conditions_per_block``), ``baseline_max_examples`` (cap on
the examples the baselines see), ``control_epochs`` (cap on the epochs of the
shuffled-label control: it has nothing to learn, and early stopping ends it after
``patience`` epochs anyway; null = ``epochs``) and ``inputs`` (train on a subset of the
dataset's inputs, e.g. ``{sequence: false, epigenome: [DNase]}``; see
:meth:`kerasgene.datasets.Dataset.select_inputs` and ``kerasgene ablate``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from kerasgene import config as _config
from kerasgene._io import write_atomic, write_json
from kerasgene.errors import ConfigError

log = logging.getLogger(__name__)

#: Task of a run config → dataset builder task.
DATASET_TASK = {"isegnet": "isegnet", "deeprage": "deeprage", "chromatin": "chromatin",
                "histone": "histone", "histone_fcn": "histone", "deepchrome": "histone"}
#: Extra keys of the ``training`` section handled here rather than by kerasgene.training.
RUN_TRAINING_KEYS = {"controls": [], "factorized": False, "genes_per_block": 32,
                     "conditions_per_block": 32, "baseline_max_examples": 5_000,
                     "control_epochs": None, "inputs": None}


def run_dir(config: dict) -> Path:
    """The run directory of a configuration (``run_dir``, default ``runs/<task>``)."""
    return Path(config.get("run_dir") or Path("runs") / config["task"])


def dataset_dir(config: dict) -> Path:
    """Where the prepared dataset lives (``dataset_dir``, default ``<run_dir>/dataset``)."""
    return Path(config.get("dataset_dir") or run_dir(config) / "dataset")


def prepare(config: dict, force: bool = False):
    """Build (or reuse, when inputs and parameters are unchanged) the run's dataset."""
    from kerasgene import datasets

    task = config["task"]
    if task not in DATASET_TASK:
        raise ConfigError(f"task: expected one of {', '.join(DATASET_TASK)}, got {task!r}")
    if "data" not in config:
        raise ConfigError("config: missing the 'data' section (the dataset's input files)")
    return datasets.build(DATASET_TASK[task], config["data"], dataset_dir(config), force=force,
                          base_dir=config.get("data_dir"))


def training_inputs(config: dict, dataset):
    """``dataset`` restricted to ``training.inputs`` (unchanged when the key is unset)."""
    spec = (config.get("training") or {}).get("inputs")
    return dataset if spec is None else dataset.select_inputs(spec, "training.inputs")


def is_classification(dataset) -> bool:
    """True when the dataset's selected target is a class label."""
    return dataset.target_name == "class"


def shape_hparams(model_name: str, dataset) -> dict:
    """Builder arguments implied by the dataset (input shapes, task, target name)."""
    shapes = dataset.input_shapes
    hp: dict = {}
    if model_name == "isegnet":
        hp = {"seq_len": next(iter(shapes.values()))[0], "inputs": list(shapes)}
        if "epigenome" in shapes:
            hp["n_tracks"] = shapes["epigenome"][1]
    elif model_name.startswith("deeprage"):
        hp = {"seq_len": shapes["sequence"][0], "n_regulators": shapes["regulators"][0]}
    elif model_name.startswith("chromatin"):
        hp = {"window": shapes["signal"][0], "n_channels": shapes["signal"][1],
              "target": dataset.target_name}
    elif model_name.startswith("histone_fcn"):
        hp = {"n_bins": shapes["histone"][0], "n_channels": shapes["histone"][1]}
    elif model_name == "deepchrome":
        hp = {"n_bins": shapes["histone"][0], "n_marks": shapes["histone"][1]}
    elif model_name == "linear":
        hp = {"inputs": {k: list(v) for k, v in shapes.items()}}
    if is_classification(dataset) and model_name in ("isegnet", "linear", "deeprage_concat",
                                                      "deeprage_tensor", "deeprage_rnn"):
        hp.update(task="classification", n_classes=int(dataset.meta.get("n_classes", 2)))
    return hp


def build_model(config: dict, dataset):
    """The registry model of ``config['model']`` shaped for ``dataset``."""
    from kerasgene import models

    section = config.get("model") or {}
    _config.check_keys(section, ("name", "hparams"), "model")
    name = section.get("name")
    if name is None:
        raise ConfigError("model: missing 'name' (one of kerasgene.models.names())")
    hparams = {**shape_hparams(name, dataset), **(section.get("hparams") or {})}
    return models.build(name, **hparams)


def _split_training(section: dict | None) -> tuple[dict, dict]:
    section = dict(section or {})
    extra = {k: section.pop(k, v) for k, v in RUN_TRAINING_KEYS.items()}
    return section, extra


def label_mean(dataset, split, seed: int = 0, max_examples: int = 2000) -> float:
    """Mean training label (weighted by the masked-loss weights when the task has them),
    estimated from at most ``max_examples`` seeded random examples of ``split``."""
    idx = dataset.split_indices(split)
    if len(idx) > max_examples:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_examples, replace=False))
    got = dataset.gather(idx)
    y = np.asarray(got["target"], np.float64)
    w = np.asarray(got.get("weight", np.ones_like(y)), np.float64)
    return float(np.sum(y * w) / np.sum(w)) if np.sum(w) > 0 else float("nan")


def _fit_one(model, model_name: str, dataset, train_idx, valid_idx, tsection: dict,
             out_dir: Path, seed: int):
    """Compile ``model`` with the paper's recipe and fit it on example indices."""
    from kerasgene import training

    tcfg = training.resolve_training(tsection, model_name, is_classification(dataset))
    training.compile_model(model, tcfg)
    if tcfg["init_output_bias"] and not is_classification(dataset):
        training.init_output_bias(model, label_mean(dataset, train_idx, seed))
    bs = tcfg["batch_size"]
    # with an epoch cap the stream repeats, so later epochs never run out of batches
    train = dataset.to_tf_dataset(train_idx, bs, shuffle=True, seed=seed,
                                  repeat=tcfg["steps_per_epoch"] is not None)
    valid = dataset.to_tf_dataset(valid_idx, bs)
    history = training.fit(model, train, valid, tcfg, out_dir)
    # the best weights are restored in memory; the checkpoint only guarded the fit
    (out_dir / "checkpoint.keras").unlink(missing_ok=True)
    return history


def _fit_factorized(model, model_name: str, dataset, tsection: dict, extra: dict,
                    out_dir: Path, seed: int):
    """DeepRAGE-C or -TP on gene × condition blocks (:mod:`kerasgene.factorized`), with the
    paper's optimizer and the callbacks of :func:`kerasgene.training.make_callbacks` done by
    hand: learning rate ×0.5 after ``reduce_lr_patience`` epochs without a better
    validation R², early stopping after ``patience``, best weights restored."""
    import keras
    import pandas as pd

    from kerasgene import training
    from kerasgene.factorized import FactorizedPairTrainer

    tcfg = training.resolve_training(tsection, model_name, False)
    optimizer = training.OPTIMIZERS[tcfg["optimizer"]](learning_rate=tcfg["learning_rate"])
    if tcfg["init_output_bias"]:
        training.init_output_bias(model, label_mean(dataset, "train", seed))
    trainer = FactorizedPairTrainer(model, optimizer)
    g, c = extra["genes_per_block"], extra["conditions_per_block"]
    best, best_weights, wait, plateau, rows = -np.inf, model.get_weights(), 0, 0, []
    for epoch in range(tcfg["epochs"]):
        if tcfg["verbose"]:  # Keras-style "Epoch i/n" then one line with the epoch's numbers
            print(f"Epoch {epoch + 1}/{tcfg['epochs']}", flush=True)
        progress = keras.utils.Progbar(1, verbose=tcfg["verbose"], unit_name="epoch",
                                       stateful_metrics=["loss", "val_r2"])
        loss = trainer.train_epoch(dataset.grouped_batches("train", g, c, shuffle=True,
                                                           seed=seed, epoch=epoch))
        y, pred = trainer.predict_blocks(dataset.grouped_batches("valid", g, c))
        r2 = training.regression_metrics(y, pred)["r2"]
        lr = float(optimizer.learning_rate.numpy())
        rows.append({"epoch": epoch, "learning_rate": lr, "loss": loss, "val_r2": r2})
        progress.update(1, [("loss", loss), ("val_r2", r2)], finalize=True)
        if r2 > best:
            best, best_weights, wait, plateau = r2, model.get_weights(), 0, 0
            continue
        wait, plateau = wait + 1, plateau + 1
        if wait >= tcfg["patience"]:
            break
        if plateau >= tcfg["reduce_lr_patience"]:
            optimizer.learning_rate.assign(max(lr * 0.5, 1e-6))
            plateau = 0
    model.set_weights(best_weights)
    pd.DataFrame(rows).to_csv(out_dir / "history.csv", index=False)


def _shuffled_control(config: dict, dataset, tsection: dict, out_dir: Path, seed: int,
                      epochs: int | None = None) -> dict:
    """Train the same model on permuted labels (at most ``epochs`` epochs) and score it
    against the real test labels.

    Training *and* validation labels are permuted: early stopping keeps the epoch with the
    best validation score, and with real validation labels that choice alone would
    select whatever an untrained network's outputs happen to share with expression.
    """
    import tensorflow as tf

    from kerasgene import training

    name = config["model"]["name"]
    model = build_model(config, dataset)
    tcfg = training.resolve_training(tsection, name, is_classification(dataset))
    if epochs is not None:
        tcfg["epochs"] = min(int(epochs), tcfg["epochs"])
    training.compile_model(model, tcfg)
    rng = np.random.default_rng(seed)
    x, y = dataset.arrays_for("train")
    y = rng.permutation(y)
    if tcfg["init_output_bias"] and not is_classification(dataset):
        training.init_output_bias(model, float(np.mean(y)))
    xv, yv = dataset.arrays_for("valid")
    yv = rng.permutation(yv)
    bs = tcfg["batch_size"]
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=seed).batch(bs)
    valid = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(bs)
    training.fit(model, train, valid, tcfg, out_dir)
    (out_dir / "checkpoint.keras").unlink(missing_ok=True)
    y_test, pred = predict_split(model, dataset, "test")
    return training.evaluate_predictions(y_test, pred, is_classification(dataset))


def predict_split(model, dataset, split, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(observed, predicted) over a split, in index order; predictions are the model's
    single output (class probabilities for classifiers)."""
    ys, preds = [], []
    for batch in dataset.to_tf_dataset(split, batch_size, weights=False):
        x, y = batch[0], batch[1]
        out = model.predict_on_batch(x)
        out = next(iter(out.values())) if isinstance(out, dict) else out
        ys.append(np.asarray(y))
        preds.append(np.asarray(out))
    pred = np.concatenate(preds)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    return np.concatenate(ys), pred


def _baseline_arrays(dataset, split: str, max_examples: int, seed: int):
    from kerasgene.baselines import flatten_inputs

    idx = dataset.split_indices(split)
    if len(idx) > max_examples:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_examples, replace=False))
    x, y = dataset.arrays_for(idx)
    return flatten_inputs(x), y


def train(config: dict, *, force_prepare: bool = False, dataset=None) -> Path:
    """Prepare the data, train the configured model, evaluate it; returns the run dir.

    Ensembles (``histone_fcn_ensemble``) train each member on its own overlapping
    two-thirds fold of the training set, validated on the remaining third.
    ``training.factorized: true`` trains DeepRAGE-C or -TP on gene × condition blocks.
    ``dataset``: the config's dataset already prepared (several runs over one dataset,
    e.g. the ablation); ``training.inputs`` is applied to it here.
    """
    from kerasgene import models, training

    seed = int(config.get("seed", 0))
    training.set_seed(seed)
    out = run_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    _config.save_config(config, out / "config.yaml")
    if dataset is None:
        dataset = prepare(config, force=force_prepare)
    dataset = training_inputs(config, dataset)
    tsection, extra = _split_training(config.get("training"))
    if extra["factorized"] and extra["inputs"] is not None:
        raise ConfigError("training.inputs: not available with training.factorized (the "
                          "gene × condition blocks read every input)")
    strategy = training.get_strategy((tsection or {}).get("strategy", "default"))
    name = (config.get("model") or {}).get("name")
    with strategy.scope():
        model = build_model(config, dataset)
        if name == "histone_fcn_ensemble":
            members = models.ensemble_members(model)
            folds = dataset.folds("train", k=len(members), seed=seed)
            for i, (member, (fit_idx, hold_idx)) in enumerate(zip(members, folds, strict=True)):
                member_dir = out / f"member_{i}"
                member_dir.mkdir(exist_ok=True)
                _fit_one(member, "histone_fcn", dataset, fit_idx, hold_idx, tsection, member_dir,
                         seed + i)
        elif extra["factorized"]:
            _fit_factorized(model, name, dataset, tsection, extra, out, seed)
        else:
            _fit_one(model, name, dataset, "train", "valid", tsection, out, seed)
    write_atomic(out / "model.keras", model.save)
    write_json(out / "preprocessing.json", preprocessing_constants(dataset))
    metrics = evaluate_model(model, dataset, out)
    if name == "histone_fcn_ensemble":
        metrics["members"] = [predict_metrics(m, dataset, "test") for m in models.ensemble_members(model)]
    if "shuffled" in extra["controls"]:
        ctrl_dir = out / "control_shuffled"
        ctrl_dir.mkdir(exist_ok=True)
        control = _shuffled_control(config, dataset, tsection, ctrl_dir, seed,
                                    extra["control_epochs"])
        metrics["controls"] = {"shuffled": control}
    names = config.get("baselines") or []
    if names:
        from kerasgene.baselines import run_baselines

        cap = int(extra["baseline_max_examples"])
        metrics["baselines"] = run_baselines(
            names, _baseline_arrays(dataset, "train", cap, seed),
            _baseline_arrays(dataset, "test", cap, seed), is_classification(dataset), seed)
    write_json(out / "metrics.json", metrics)
    return out


def preprocessing_constants(dataset) -> dict:
    """What a client needs to build model inputs from its own files (saved beside the model;
    ``kerasgene export --run`` puts it in the SavedModel's assets/kerasgene.json)."""
    meta = dataset.meta
    params = {k: v for k, v in meta["params"].items() if k != "samples"}
    return {"task": meta["task"], "input_names": meta["input_names"],
            "input_shapes": meta["input_shapes"], "target_name": meta["target_name"],
            "track_names": meta.get("track_names"), **params,
            "kerasgene_version": meta["kerasgene_version"]}


def predict_metrics(model, dataset, split: str) -> dict:
    """Metrics of ``model`` on one split."""
    from kerasgene import training

    y, pred = predict_split(model, dataset, split)
    return training.evaluate_predictions(y, pred, is_classification(dataset))


def evaluate_model(model, dataset, out: Path) -> dict:
    """Test/valid metrics, predictions.tsv and the plots of a trained model."""
    import pandas as pd

    from kerasgene import report, training

    classification = is_classification(dataset)
    metrics = {"model": model.name, "params": int(model.count_params())}
    for split in ("valid", "test"):
        if not len(dataset.split_indices(split)):
            continue
        y, pred = predict_split(model, dataset, split)
        metrics[split] = training.evaluate_predictions(y, pred, classification)
        if split == "test":
            idx = dataset.split_indices("test")
            if len(dataset.index) == dataset.n_examples:  # one index row per example
                table = dataset.index.iloc[idx].reset_index(drop=True).copy()
            else:  # genome bins: the index lists chromosome segments
                table = pd.DataFrame({"example": idx})
            table["observed"] = y
            if classification:
                table["predicted"] = pred.argmax(axis=1)
            else:
                table["predicted"] = pred
            table.to_csv(out / "predictions.tsv", sep="\t", index=False)
            if classification:
                report.plot_confusion(np.array(metrics[split]["confusion"]), out / "confusion.png")
            else:
                report.plot_scatter(y, pred, out / "predicted_vs_observed.png",
                                    title=f"{model.name}: test R² = {metrics[split]['r2']:.3f}")
    for hist in sorted(out.glob("**/history.csv")):
        if hist.parent.name == "control_shuffled":
            continue
        report.plot_history(pd.read_csv(hist), hist.with_name("loss.png"), title=hist.parent.name)
    return metrics


def evaluate(config: dict) -> dict:
    """Re-evaluate a trained run (the model is loaded with Keras' safe mode); the model's
    scores in ``metrics.json`` are replaced, the baselines and controls of ``train`` kept."""
    from kerasgene.models import load_model

    out = run_dir(config)
    path = out / "model.keras"
    if not path.exists():
        raise ConfigError(f"{path}: no trained model; run `kerasgene train` first")
    dataset = training_inputs(config, prepare(config))
    model = load_model(path)
    metrics_path = out / "metrics.json"
    previous = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics = {**previous, **evaluate_model(model, dataset, out)}
    write_json(metrics_path, metrics)
    return metrics


