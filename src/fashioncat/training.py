"""Fitting a model: determinism, per-epoch progress and logs, checkpoints and resume, timing.

A run that is interrupted (Ctrl-C, a killed process) leaves a checkpoint of its
last finished epoch under its checkpoint folder; the next run with the same
fingerprint (same parameters and data) resumes there instead of starting over.
The checkpoint folder is not a DVC output, so `dvc repro` does not delete it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from .errors import FashionError
from .io import atomic_path, write_json

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


class _Diverged(keras.callbacks.Callback):
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
        callbacks: tuple = (), verbose: int = 2) -> tuple[keras.Model, Result]:
    """Train (or resume training) `model`; return the trained model and what happened.

    `model` must already be compiled. `patience` > 0 stops early when the
    validation loss has not improved for that many epochs and keeps the best
    weights. On success the checkpoint folder is removed.
    """
    checkpoints.mkdir(parents=True, exist_ok=True)
    saved, result = resume_state(checkpoints, fingerprint)
    if saved is not None:
        model = saved
        print(f"resuming from epoch {result.epochs} of {epochs} (checkpoint in {checkpoints})", flush=True)
    hooks = [_Checkpoint(checkpoints, fingerprint, result), _Diverged(result), *callbacks]
    if patience > 0:
        hooks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True))
    if result.epochs < epochs:
        model.fit(train, validation_data=val, epochs=epochs, initial_epoch=result.epochs, callbacks=hooks,
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
