"""Fitting a model: determinism, per-epoch progress and logs, resume, timing.

A run that is interrupted (Ctrl-C, a killed process) leaves a checkpoint of its
last finished epoch under its checkpoint folder (see `checkpoints`); the next run
with the same fingerprint (same parameters and data) resumes there instead of
starting over. The checkpoint folder is not a DVC output, so `dvc repro` does not
delete it.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fashioncat.config import DEFAULT_ENGINE, Augment, Engine
from fashioncat.model import evaluation, inputs, models
from fashioncat.model.checkpoints import fingerprint, read_checkpoint, save_checkpoint
from fashioncat.model.splits import Splits, TrainBatches, train_val
from fashioncat.spec import TrainingSpec


def prepare(seed: int, engine: Engine = DEFAULT_ENGINE) -> None:
    """Seeds, op determinism and the dtype policy, before a model is built.

    With `engine.deterministic` (the default) the same seed, parameters and CPU give the
    same weights and metrics. Without it TensorFlow may pick faster non-deterministic
    kernels, and Keras' default `jit_compile="auto"` then compiles with XLA where a GPU is
    visible (it never does on a CPU-only machine, nor under op determinism or a strategy).
    Op determinism cannot be switched off again in a process, hence a stage-wide setting.
    """
    keras.utils.set_random_seed(seed)
    if engine.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(models.dtype_policy(engine.precision))


@dataclass
class Result:
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0
    fit_seconds: float = 0.0
    resumed_from: int = 0
    diverged: str = ""  # why training stopped early because of NaN/inf loss, else ""


class _Checkpoint(keras.callbacks.Callback):
    """Saves model and state after every epoch, atomically; tracks wall time of fit."""

    def __init__(self, folder: Path, fingerprint: str, result: Result):
        super().__init__()
        self.folder, self.fingerprint, self.result = folder, fingerprint, result
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.result.fit_seconds += time.perf_counter() - self.started
        for key, value in (logs or {}).items():
            self.result.history.setdefault(key, []).append(float(value))
        self.result.epochs = epoch + 1
        if not all(math.isfinite(float(v)) for v in (logs or {}).values()):
            return  # never checkpoint a diverged model
        if self.result.epochs == self.params.get("epochs"):
            return  # the last epoch: the stage saves the model itself (a checkpoint costs 1-2 s at 280 MB)
        save_checkpoint(self.folder, self.model, {"fingerprint": self.fingerprint, **asdict(self.result)})


class Diverged(keras.callbacks.Callback):
    """Stops training at the first non-finite batch loss and records why in `result.diverged`."""

    def __init__(self, result: Result):
        super().__init__()
        self.result = result

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.result.diverged = f"loss became {float(loss)} at batch {batch + 1}"
            self.model.stop_training = True


def resume_state(folder: Path, fingerprint: str) -> tuple[keras.Model | None, Result]:
    """The model and result saved by an interrupted run with the same fingerprint, if any."""
    model, state = read_checkpoint(folder, fingerprint)
    if model is None:
        return None, Result()
    result = Result(**state)
    result.resumed_from = result.epochs
    return model, result


def fit(
    model: keras.Model,
    train: TrainBatches,
    val,
    *,
    epochs: int,
    patience: int,
    checkpoints: Path,
    fingerprint: str,
    live_dir: Path | None = None,
    callbacks: tuple = (),
    verbose: int = 2,
    min_delta: float = 0.0,
) -> tuple[keras.Model, Result]:
    """Train (or resume training) `model`; return the trained model and what happened.

    `model` must already be compiled. `patience` > 0 stops early when the
    validation loss has not improved by more than `min_delta` for that many epochs
    and keeps the best weights. `live_dir` receives dvclive curves. On success the checkpoint
    folder is removed.
    """
    checkpoints.mkdir(parents=True, exist_ok=True)
    saved, result = resume_state(checkpoints, fingerprint)
    if saved is not None:
        model = saved
        print(f"resuming from epoch {result.epochs} of {epochs} (checkpoint in {checkpoints})", flush=True)
    hooks = [*callbacks, _Checkpoint(checkpoints, fingerprint, result), Diverged(result)]
    if live_dir is not None:
        hooks.append(LiveLog(live_dir, result.history))
    if patience > 0:
        hooks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, min_delta=min_delta, restore_best_weights=True
            )
        )
    if result.epochs < epochs:
        model.fit(
            train.epochs(result.epochs, epochs),
            steps_per_epoch=train.steps,
            validation_data=val,
            epochs=epochs,
            initial_epoch=result.epochs,
            callbacks=hooks,
            shuffle=False,
            verbose=verbose,
        )
    shutil.rmtree(checkpoints, ignore_errors=True)
    return model, result


def compile_model(model: keras.Model, optimizer, *, label_smoothing: float = 0.0) -> keras.Model:
    """Compile for training, with the optimizer's slots created now.

    Slots created here, eagerly, rather than lazily inside the first traced step keep
    about 6,500 variable-creation ops out of the graph: that step traces about 6 s
    faster on 2 cores, with the same weights after training (measured).
    `label_smoothing` s trains towards 1 - s + s/K on the true class and s/K on the others (K classes).
    """
    loss = (
        keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        if label_smoothing
        else "categorical_crossentropy"
    )
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    model.optimizer.build(model.trainable_variables)
    return model


def _metric_name(key: str) -> str:
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


class LiveLog(keras.callbacks.Callback):
    """Per-epoch curves for `dvc plots`: train/<metric> and val/<metric> against the epoch.

    A fresh dvclive folder is written on every run; a resumed run replays the
    epochs it inherited first, so the curves never have a gap.
    """

    def __init__(self, folder: str | Path, inherited: dict[str, list[float]]):
        super().__init__()
        from dvclive import Live

        # dvcyaml=None: dvclive must not rewrite the hand-written dvc.yaml
        self.live = Live(str(folder), dvcyaml=None, save_dvc_exp=False, report=None)
        for epoch in range(len(next(iter(inherited.values()), []))):
            self._log({key: values[epoch] for key, values in inherited.items()})

    def _log(self, logs: dict) -> None:
        for key, value in logs.items():
            if key != "learning_rate":
                self.live.log_metric(_metric_name(key), float(value))
        self.live.next_step()

    def on_epoch_end(self, epoch, logs=None):
        self._log(logs or {})

    def on_train_end(self, logs=None):
        self.live.end()


def train_model(
    spec: TrainingSpec,
    splits: Splits,
    *,
    checkpoints: Path,
    live_dir: Path | None = None,
    verbose: int = 2,
) -> tuple[keras.Model, Result]:
    """Build `spec.architecture` from scratch and train it on the train split, validating on val.

    Where it is built and compiled: `spec.distribute` (models.strategy_scope); how TensorFlow
    computes: `spec.engine` (see `prepare`). The checkpoint fingerprint covers the whole spec
    and the data.
    """
    prepare(spec.seed, spec.engine)
    with models.strategy_scope(spec.distribute):
        model = models.build(
            spec.architecture, len(splits.classes), spec.image_size, spec.hyper, spec.batch_norm_momentum
        )
        compile_model(model, models.optimizer(spec.hyper, ema=spec.ema), label_smoothing=spec.label_smoothing)
    augment = spec.augment or Augment()
    train, val = train_val(splits, augment, batch_size=spec.batch_size, seed=spec.seed)
    return fit(
        model,
        train,
        val,
        epochs=spec.epochs,
        patience=spec.patience,
        checkpoints=checkpoints,
        fingerprint=fingerprint(asdict(spec), splits.digest()),
        live_dir=live_dir,
        callbacks=(models.schedule(spec.hyper, anneal=spec.anneal, epochs=spec.epochs, steps=train.steps),),
        verbose=verbose,
        min_delta=spec.min_delta,
    )


def predict_batch(image_size: int) -> int:
    """Images per prediction batch: 256 up to 64 px, fewer for larger images (activations stay about as large).

    At 32 px on 2 cores, batch 256 predicted about 1.35x the images per second of batch 64.
    """
    return max(32, min(256, 256 * 64 * 64 // (image_size * image_size)))


def probabilities(model: keras.Model, images, batch_size: int | None = None, *, flip: bool = False):
    """Class probabilities for uint8 images [N, s, s, 3], in order.

    `flip`: the mean of each image's probabilities and those of its left-right mirror
    (test-time augmentation). It helps a model that has seen mirrored images; one trained
    without horizontal flips may score its mirrors worse (docs/tuning.md).
    """
    batch_size = batch_size or predict_batch(images.shape[1])
    probs = _predict(model, images, batch_size, mirror=False)
    if flip:
        probs = (probs + _predict(model, images, batch_size, mirror=True)) / 2
    return probs


def _predict(model: keras.Model, images, batch_size: int, *, mirror: bool) -> np.ndarray:
    """`model.predict` over uint8 images fed as float32 batches by a tf.data pipeline without its autotuner.

    Given the array itself, Keras builds a pipeline with the autotuner on, and deleting its
    iterator stalled some calls by about 2 s (docs/performance.md, "Epochs at half speed"); the
    batches, and so the probabilities, are the same. The float32 copy is made one batch at a time.
    """

    def as_float(batch):
        batch = tf.cast(batch, tf.float32)
        return tf.reverse(batch, axis=[2]) if mirror else batch

    ds = tf.data.Dataset.from_tensor_slices(images).batch(batch_size).map(as_float)
    ds = inputs.fixed_options(ds).prefetch(inputs.PREFETCH)
    return np.asarray(model.predict(ds, verbose=0), dtype="float64")


def scores(model: keras.Model, splits: Splits, names=("val", "test"), *, flip: bool = False) -> dict:
    """evaluation.summary for each named split, keyed by split name (`flip`: see `probabilities`)."""
    return {
        name: evaluation.summary(
            splits.labels[name], probabilities(model, splits.images[name], flip=flip), splits.classes
        )
        for name in names
    }
