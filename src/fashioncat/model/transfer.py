"""Transfer of the tuned source model to the target dataset: the four experiments of Table 6.

benchmark    the source model predicts the target test split as it is, no training.
last_layer   every layer frozen but the classifier (the application's final Dense softmax),
             trained with `finetune.last_layer`'s optimizer, learning rate and decay.
whole_model  every layer trainable from the tuned weights, with `finetune.whole_model`'s
             (gentler) optimizer, learning rate and decay.
scratch      the tuned configuration (architecture, hyperparameters, augmentation) built
             afresh and trained on the target, no source weights.

Fair comparison: the three trained experiments use the same target train/val splits,
seed, batch size, tuned augmentation, epoch budget (`finetune.epochs`, early stopping on
validation loss when `finetune.patience` > 0) and the same clock (`training.fit`'s
fit_seconds: wall time of the epochs only; loading, building and scoring are left out,
and each first epoch includes tracing the training step alike). All are scored on the
target TEST split.

Batch normalization (`finetune.batch_norm`): `frozen` sets every BatchNormalization
layer `trainable=False`, which in Keras 3 also runs it in inference mode, so its moving
mean and variance stay the source statistics and gamma/beta are not trained; `train`
lets them update on target batches. `last_layer` freezes them whatever the setting
(every layer but the classifier is frozen); `scratch` always trains them.

Classes: source and target class lists are matched BY NAME. Identical lists (the
default: both are the ten Fashion-MNIST names) map one to one whatever their order.
For the benchmark, a target class the source model cannot name gets probability 0, so
its images are always errors (counted in `target_classes_unknown`); the scores of
source classes the target lacks are dropped and the rest renormalised, i.e. the model
chooses among the target classes it knows (`source_only_top1` says how often its top
class was one the target lacks). For last_layer and whole_model, the same set in another
order keeps the source classifier with its columns reordered; a different set gets a
new classifier of len(target classes) units with the tuned initializer and regularizer.

Each experiment returns a dict of JSON-ready numbers plus two entries that are not:
"probabilities" (test split, target class order) and "model" (None for the benchmark).
`report` drops those two. A diverged run (NaN loss) is scored as a uniform guess.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from fashioncat.config import FinetuneConfig, Retrain
from fashioncat.contracts import EXPERIMENTS, Choice
from fashioncat.errors import FashionError
from fashioncat.model import evaluation, models, training
from fashioncat.model.checkpoints import fingerprint
from fashioncat.model.splits import Splits, train_val
from fashioncat.spec import TrainingSpec

NOT_JSON = ("probabilities", "model")


@dataclass(frozen=True)
class Setup:
    """What every trained experiment shares, so the three differ only in what they train.

    `scratch` is the tuned configuration's training from random weights (`spec.scratch`); its
    seed, batch size and engine are those of the retrained experiments too.
    """

    choice: Choice
    finetune: FinetuneConfig
    scratch: TrainingSpec
    checkpoints: Path
    live_dir: Path | None = None
    verbose: int = 2


def run_experiment(
    name: str, source: keras.Model | None, source_classes: list[str], target: Splits, setup: Setup
) -> dict:
    """One experiment by name; `source` is trained in place by last_layer and whole_model."""
    if name not in EXPERIMENTS:
        raise FashionError(f"unknown transfer experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
    if name == "scratch":
        return scratch(target, setup)
    if name == "benchmark":
        return benchmark(source, source_classes, target)
    return retrain(name, source, source_classes, target, setup)


def benchmark(source: keras.Model, source_classes: list[str], target: Splits) -> dict:
    """The source model on the target test split, untrained; classes matched by name."""
    columns = class_columns(source_classes, target.classes)
    raw = training.probabilities(source, target.images["test"])
    probs = map_probabilities(raw, columns)
    shared = [c for c in columns if c is not None]
    source_only = ~np.isin(evaluation.predicted(raw), shared)
    extra = {
        "target_classes_unknown": [t for t, c in zip(target.classes, columns) if c is None],
        "source_only_top1": round(float(source_only.mean()), 4),
    }
    return _outcome("benchmark", None, probs, target, training.Result(), 0, extra)


def scratch(target: Splits, setup: Setup) -> dict:
    """The tuned configuration trained on the target from random weights (the paper's 'without pre-trained weights')."""
    model, result = training.train_model(
        setup.scratch, target, checkpoints=setup.checkpoints, live_dir=setup.live_dir, verbose=setup.verbose
    )
    return _scored("scratch", model, target, result)


def settings_of(name: str, setup: Setup) -> Retrain:
    """How `name` (last_layer or whole_model) retrains: its own settings, or the tuned ones when it says `tuned`."""
    own: Retrain = getattr(setup.finetune, name)
    if not own.tuned:
        return own
    hyper = setup.choice.hyper
    return dataclasses.replace(own, optimizer=hyper.optimizer, learning_rate=hyper.learning_rate, decay=hyper.decay)


def retrain(name: str, source: keras.Model, source_classes: list[str], target: Splits, setup: Setup) -> dict:
    """last_layer or whole_model: the source weights, a classifier for the target, then training."""
    settings = settings_of(name, setup)
    run = setup.scratch  # the seed, batch size and engine all three share
    training.prepare(run.seed, run.engine)  # before the new head draws its weights
    digest = weights_digest(source)  # of the source weights, before any change, to match checkpoints
    model, head = adapt_head(source, source_classes, target.classes, setup.choice.hyper)
    if name == "last_layer":
        freeze_all_but(model, classifier(model))
    else:
        set_batch_norm(model, trainable=setup.finetune.batch_norm == "train")
    training.compile_model(model, models.OPTIMIZERS[settings.optimizer](learning_rate=settings.learning_rate))
    key = fingerprint(
        name,
        digest,
        asdict(settings),
        setup.finetune.batch_norm,
        setup.finetune.epochs,
        setup.finetune.patience,
        setup.finetune.min_delta,
        run.batch_size,
        run.seed,
        setup.choice.as_dict(),
        target.digest(),
        source_classes,
        asdict(run.engine),
    )
    train, val = train_val(target, setup.choice.augment, batch_size=run.batch_size, seed=run.seed)
    model, result = training.fit(
        model,
        train,
        val,
        epochs=setup.finetune.epochs,
        patience=setup.finetune.patience,
        min_delta=setup.finetune.min_delta,
        checkpoints=setup.checkpoints,
        fingerprint=key,
        live_dir=setup.live_dir,
        verbose=setup.verbose,
        callbacks=(models.EpochDecay(settings.learning_rate, settings.decay),),
    )
    return _scored(name, model, target, result, {"head": head})


# --- classes ---------------------------------------------------------------------------------------


def class_columns(source_classes: list[str], target_classes: list[str]) -> list[int | None]:
    """For each target class, the source model's output column of the same name, or None."""
    index = {name: i for i, name in enumerate(source_classes)}
    columns = [index.get(name) for name in target_classes]
    if all(c is None for c in columns):
        raise FashionError(
            "the source and target datasets share no class name: the source model cannot be "
            f"applied as is (source: {', '.join(source_classes)}; target: {', '.join(target_classes)})"
        )
    return columns


def map_probabilities(probs: np.ndarray, columns: list[int | None]) -> np.ndarray:
    """Source-class probabilities -> target-class probabilities (see the module docstring)."""
    out = np.zeros((len(probs), len(columns)))
    for j, column in enumerate(columns):
        if column is not None:
            out[:, j] = probs[:, column]
    total = out.sum(axis=1, keepdims=True)
    known = np.array([c is not None for c in columns], dtype=float)
    # a row whose every shared class underflowed to 0 becomes a uniform guess among them, not a NaN
    return np.where(total > 0, out / np.where(total > 0, total, 1), known / known.sum())


# --- model surgery ---------------------------------------------------------------------------------


def _leaves(layer) -> list:
    """Every non-container layer, inside nested models too (models.build nests the application)."""
    if isinstance(layer, keras.Model):
        return [leaf for inner in layer.layers for leaf in _leaves(inner)]
    return [layer]


def classifier(model: keras.Model) -> keras.layers.Dense:
    """The final Dense softmax: the output layer of the (possibly nested) network."""
    last = model.layers[-1]
    if isinstance(last, keras.Model):
        return classifier(last)
    if not isinstance(last, keras.layers.Dense):
        raise FashionError(
            f"model {model.name!r} does not end in a Dense classifier (it ends in {type(last).__name__})"
        )
    return last


def adapt_head(model: keras.Model, source_classes: list[str], target_classes: list[str], hyper) -> tuple:
    """The model with a classifier for `target_classes`, and how: 'source', 'reordered' or 'new'."""
    if list(source_classes) == list(target_classes):
        return model, "source"
    head = classifier(model)
    if sorted(source_classes) == sorted(target_classes):
        kernel, bias = head.get_weights()
        order = [source_classes.index(name) for name in target_classes]
        head.set_weights([kernel[:, order], bias[order]])
        return model, "reordered"
    return _with_new_head(model, len(target_classes), hyper), "new"


def _with_new_head(model: keras.Model, units: int, hyper) -> keras.Model:
    """The same layers and weights with a fresh classifier of `units` outputs in place of the old one."""
    last = model.layers[-1]
    if isinstance(last, keras.Model):
        inner = _with_new_head(last, units, hyper)
        # models.build's outer model is a chain: input -> rescaling -> network; rebuild it around the new network
        x = inputs_ = keras.Input(model.input_shape[1:], name=model.layers[0].name)
        for layer in model.layers[1:-1]:
            x = layer(x)
        return keras.Model(inputs_, inner(x), name=model.name)
    head = classifier(model)
    initializer = keras.initializers.get(models.INITIALIZERS[hyper.initializer])
    new = keras.layers.Dense(
        units,
        activation="softmax",
        name=head.name,
        dtype=models.output_dtype(),
        kernel_initializer=initializer,
        kernel_regularizer=models.regularizer(hyper),
    )
    return keras.Model(model.input, new(head.input), name=model.name)


def freeze_all_but(model: keras.Model, keep) -> None:
    """Only `keep` trains; batch-norm layers, being frozen, run in inference mode."""
    for layer in _leaves(model):
        layer.trainable = layer is keep


def set_batch_norm(model: keras.Model, *, trainable: bool) -> None:
    """Every layer trainable, batch norm only if `trainable` (frozen: source statistics kept)."""
    for layer in _leaves(model):
        layer.trainable = trainable or not isinstance(layer, keras.layers.BatchNormalization)


def trainable_params(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def weights_digest(model: keras.Model) -> str:
    """A digest of every weight, so a checkpoint is reused only for the same source model."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:16]


# --- scores ----------------------------------------------------------------------------------------


def _scored(name: str, model: keras.Model, target: Splits, result: training.Result, extra: dict | None = None) -> dict:
    probs = training.probabilities(model, target.images["test"])
    if not np.isfinite(probs).all():
        probs = np.full_like(probs, 1 / probs.shape[1])  # diverged weights: no prediction at all
    return _outcome(name, model, probs, target, result, trainable_params(model), extra or {})


def _outcome(name, model, probs, target, result: training.Result, n_trainable: int, extra: dict) -> dict:
    return {
        "experiment": name,
        **evaluation.summary(target.labels["test"], probs, target.classes),
        "fit_seconds": round(result.fit_seconds, 1),
        "epochs": result.epochs,
        "seconds_per_epoch": round(result.fit_seconds / result.epochs, 2) if result.epochs else 0.0,
        "trainable_params": n_trainable,
        "diverged": result.diverged,
        "resumed_from_epoch": result.resumed_from,
        **extra,
        "probabilities": probs,
        "model": model,
    }


def report(outcome: dict) -> dict:
    """The JSON-ready part of an experiment's outcome."""
    return {k: v for k, v in outcome.items() if k not in NOT_JSON}
