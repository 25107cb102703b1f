"""Model files and training checkpoints.

A checkpoint is a folder holding the model and the run's state (epochs done, curves,
fit time). It is written under a temporary name and renamed into place, so a run
killed at any moment leaves either the previous checkpoint or the new one, never a
model from one epoch beside the state of another.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import keras

from fashioncat.deps import code_digest
from fashioncat.errors import FashionError
from fashioncat.io import atomic_path, read_json, write_json

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip member can carry
CURRENT = "current"  # the checkpoint folder's one complete checkpoint
MODEL_FILE = "model.keras"
STATE_FILE = "state.json"


def load_model(path: str | Path) -> keras.Model:
    """A saved model, or a FashionError that names the file when it is not one."""
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise FashionError(f"{path}: not a readable Keras model ({type(exc).__name__}: {exc})") from None


def save_model(model: keras.Model, path: str | Path) -> None:
    """Save `model` atomically, with the same bytes for the same weights (see `_without_save_time`)."""
    with atomic_path(path) as tmp:
        keras_path = tmp.with_suffix(".keras")
        model.save(keras_path)
        _without_save_time(keras_path, tmp)
        keras_path.unlink()


def _without_save_time(saved: Path, out: Path) -> None:
    """Copy the .keras archive `saved` to `out` minus the two things that record when it was written.

    Keras stamps metadata.json with `date_saved` and the weights member with the save
    time; both would make a retrained but identical model a new DVC object and rerun
    every stage after it.
    """
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "metadata.json":
                meta = json.loads(data)
                meta.pop("date_saved", None)
                data = json.dumps(meta, sort_keys=True).encode()
            member = zipfile.ZipInfo(info.filename, date_time=_EPOCH)
            member.compress_type, member.external_attr = info.compress_type, info.external_attr
            dst.writestr(member, data)


def fingerprint(*parts) -> str:
    """A digest of everything that determines a training run, to match checkpoints to runs."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def save_checkpoint(folder: Path, model: keras.Model, state: dict) -> None:
    """Replace the checkpoint in `folder` by `model` and `state`, in one rename."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    model.save(staging / MODEL_FILE)
    write_json(staging / STATE_FILE, {**state, "code": code_digest()})
    current = folder / CURRENT
    retired = folder / f".retired-{staging.name}"
    if current.exists():
        os.rename(current, retired)  # the rename pair below is the only window; see read_checkpoint
    os.rename(staging, current)
    shutil.rmtree(retired, ignore_errors=True)


def read_checkpoint(folder: Path, fingerprint_: str) -> tuple[keras.Model | None, dict]:
    """The model and state of the checkpoint in `folder` if it belongs to the run `fingerprint_`.

    The run is its parameters and data (`fingerprint_`) and the code that trains it
    (`deps.code_digest`): a checkpoint saved before a change to the stage's code, even one
    byte of it, is another run's, and training starts from scratch.

    A kill between the two renames of save_checkpoint leaves only a retired folder,
    which is as complete as any: it is taken back.
    """
    current = folder / CURRENT
    if not current.is_dir():
        retired = sorted(folder.glob(".retired-*")) if folder.is_dir() else []
        if not retired:
            return None, {}
        os.rename(retired[-1], current)
    state = read_json(current / STATE_FILE)
    if state.pop("fingerprint", None) != fingerprint_ or state.pop("code", None) != code_digest():
        shutil.rmtree(folder)  # another configuration's leftovers
        return None, {}
    return load_model(current / MODEL_FILE), state
