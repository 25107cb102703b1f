"""Fitting a model: determinism, per-epoch progress and logs, checkpoints and resume, timing.

A run that is interrupted (Ctrl-C, a killed process) leaves a checkpoint of its
last finished epoch under its checkpoint folder; the next run with the same
fingerprint (same parameters and data) resumes there instead of starting over.
The checkpoint folder is not a DVC output, so `dvc repro` does not delete it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import evaluation, inputs, models
from .errors import FashionError
from .io import atomic_path, read_json, write_json

MODEL_FILE = "last.keras"
STATE_FILE = "state.json"


def make_deterministic(seed: int) -> None:
    """Same seed, same parameters, same CPU: same weights and metrics."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class Result:
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0
    fit_seconds: float = 0.0
    resumed_from: int = 0
    diverged: str = ""  # why training stopped early because of NaN/inf loss, else ""


def load_model(path: str | Path) -> keras.Model:
    """A saved model, or a FashionError that names the file when it is not one."""
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise FashionError(f"{path}: not a readable Keras model ({type(exc).__name__}: {exc})") from None


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
        save_model(self.model, self.folder / MODEL_FILE)
        state = {"fingerprint": self.fingerprint, **asdict(self.result)}
        write_json(self.folder / STATE_FILE, state)


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
    state_path = folder / STATE_FILE
    if not state_path.is_file() or not (folder / MODEL_FILE).is_file():
        return None, Result()
    state = json.loads(state_path.read_text())
    if state.pop("fingerprint", None) != fingerprint:
        shutil.rmtree(folder)  # another configuration's leftovers
        return None, Result()
    result = Result(**state)
    result.resumed_from = result.epochs
    return load_model(folder / MODEL_FILE), result


def fit(model: keras.Model, train, val, *, epochs: int, patience: int, checkpoints: Path, fingerprint: str,
        live_dir: Path | None = None, callbacks: tuple = (), verbose: int = 2) -> tuple[keras.Model, Result]:
    """Train (or resume training) `model`; return the trained model and what happened.

    `model` must already be compiled. `patience` > 0 stops early when the
    validation loss has not improved for that many epochs and keeps the best
    weights. `live_dir` receives dvclive curves. On success the checkpoint
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
        hooks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True))
    if result.epochs < epochs:
        model.fit(train, validation_data=val, epochs=epochs, initial_epoch=result.epochs, callbacks=hooks, shuffle=False,
                  verbose=verbose)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return model, result


def compile_model(model: keras.Model, optimizer) -> keras.Model:
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def save_model(model: keras.Model, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        keras_path = tmp.with_suffix(".keras")
        model.save(keras_path)
        os.replace(keras_path, tmp)


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


@dataclass
class Splits:
    """Decoded images and labels of a dataset's splits, decoded once and reused."""

    classes: list[str]
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    paths: dict[str, list[str]]


def load_splits(split_dir: str | Path, image_size: int, names=("train", "val", "test")) -> Splits:
    split_dir = Path(split_dir)
    classes = read_json(split_dir / "classes.json")
    splits = Splits(classes, {}, {}, {})
    for name in names:
        paths, labels = inputs.load_split(split_dir / f"{name}.csv", classes)
        splits.images[name] = inputs.decode_all(list(paths), image_size)
        splits.labels[name], splits.paths[name] = labels, list(paths)
    return splits


def fingerprint(*parts) -> str:
    """A digest of everything that determines a training run, to match checkpoints to runs."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def train_model(architecture: str, splits: Splits, hyper, augment, *, image_size: int, batch_size: int,
                epochs: int, patience: int, seed: int, checkpoints: Path, live_dir: Path | None = None,
                verbose: int = 2) -> tuple[keras.Model, Result]:
    """Build `architecture` from scratch and train it on the train split, validating on val."""
    make_deterministic(seed)
    model = models.build(architecture, len(splits.classes), image_size, hyper)
    compile_model(model, models.optimizer(hyper))
    common = {"num_classes": len(splits.classes), "batch_size": batch_size, "seed": seed}
    train = inputs.dataset(splits.images["train"], splits.labels["train"], augment=augment, shuffle=True, **common)
    val = inputs.dataset(splits.images["val"], splits.labels["val"], augment=None, shuffle=False, **common)
    key = fingerprint(architecture, asdict(hyper), augment, image_size, batch_size, epochs, patience, seed,
                      splits.paths["train"], splits.classes)
    return fit(model, train, val, epochs=epochs, patience=patience, checkpoints=checkpoints, fingerprint=key,
               live_dir=live_dir, callbacks=(models.EpochDecay(hyper.learning_rate, hyper.decay),), verbose=verbose)


def probabilities(model: keras.Model, images, batch_size: int = 64):
    """Class probabilities for uint8 images, in order."""
    return np.asarray(model.predict(images.astype("float32"), batch_size=batch_size, verbose=0), dtype="float64")


def scores(model: keras.Model, splits: Splits, names=("val", "test")) -> dict:
    """evaluation.summary for each named split, keyed by split name."""
    return {name: evaluation.summary(splits.labels[name], probabilities(model, splits.images[name]), splits.classes)
            for name in names}
