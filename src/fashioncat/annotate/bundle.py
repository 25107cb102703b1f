"""The annotator bundle: a trained model plus everything needed to feed it, in one folder.

A bundle is `model.keras` and `bundle.json` (class names, image size, and the
crop settings the training images were made with). It is self-contained: copy
the folder anywhere and `python -m fashioncat annotate --model FOLDER` works
without params.yaml or the data. The model is saved without its optimizer
state, which the annotator never uses and which is two thirds of an
Adam-trained file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras

from fashioncat.config import FITS
from fashioncat.errors import FashionError
from fashioncat.io import atomic_dir, read_json, write_json
from fashioncat.model.checkpoints import save_model

MODEL_FILE = "model.keras"
SETTINGS_FILE = "bundle.json"
FORMAT = 2  # bumped when bundle.json changes meaning, so old annotators refuse new bundles (2: `binding`)


@dataclass(frozen=True)
class Settings:
    """How images must be prepared for the bundled model, and what its outputs mean."""

    classes: list[str]
    image_size: int  # pixels per side the model takes
    margin: float  # a given box is grown by this fraction per side before cropping
    crop_size: int  # images are fitted to crop_size first, as the crop stage did ...
    fit: str  # ... with this mode (stretch | pad), then resized to image_size
    source: dict = field(default_factory=dict)  # where the model came from
    binding: str = ""  # digest of model.keras and the class list together: see `binding`


def binding(model_file: Path, classes: list[str]) -> str:
    """One digest of the bundled model's bytes and the class names in order.

    A model's outputs mean its classes only in the order it was trained with: a bundle
    whose class list was reordered, or whose model file was swapped, would label every
    image wrongly without an error. `load` recomputes this and refuses a mismatch.
    """
    return hashlib.sha256(_sha256(model_file).encode() + json.dumps(classes).encode()).hexdigest()


def write(
    model_path: str | Path,
    classes_path: str | Path,
    out: str | Path,
    *,
    image_size: int,
    margin: float,
    crop_size: int,
    fit: str,
) -> Settings:
    """Make the bundle folder `out` (replaced atomically) from a trained model and its classes.json."""
    classes = _classes(Path(classes_path))  # checked before Keras reads the model
    model = _load(Path(model_path))
    source = {
        "model": str(model_path),
        "sha256": _sha256(Path(model_path)),
        "name": model.name,
        "keras": keras.__version__,
    }
    settings = Settings(classes, image_size, margin, crop_size, fit, source)
    _check_fits(model, settings, Path(model_path))
    with atomic_dir(out) as tmp:
        save_model(model, tmp / MODEL_FILE)
        settings = replace(settings, binding=binding(tmp / MODEL_FILE, classes))
        write_json(tmp / SETTINGS_FILE, {"format": FORMAT, **asdict(settings)})
        _shareable(tmp)
    return settings


def load(folder: str | Path) -> tuple[keras.Model, Settings]:
    """The bundled model and its settings; a FashionError naming the file when anything is missing or wrong.

    bundle.json and the binding are checked before Keras reads model.keras: a file that is
    not the bundle's own is never loaded.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FashionError(f"{folder}: model bundle folder does not exist (make one with `dvc repro bundle`)")
    settings = read_settings(folder / SETTINGS_FILE)
    model_path = folder / MODEL_FILE
    if not model_path.is_file():
        raise FashionError(f"{model_path}: model file missing from the bundle")
    if binding(model_path, settings.classes) != settings.binding:
        raise FashionError(
            f"{folder / SETTINGS_FILE}: its classes and {MODEL_FILE} are not the pair the bundle was made with "
            f"(class order or model changed, or {MODEL_FILE} damaged); remake the bundle with `dvc repro bundle`"
        )
    model = _load(model_path)
    _check_fits(model, settings, model_path)
    return model, settings


def read_settings(path: Path) -> Settings:
    """bundle.json, checked key by key so a hand-edited file fails with the key at fault."""
    try:
        raw = read_json(path)
    except FileNotFoundError:
        raise FashionError(f"{path}: bundle settings file missing") from None
    except json.JSONDecodeError as exc:
        raise FashionError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise FashionError(f"{path}: must be a JSON object")
    if raw.get("format") != FORMAT:
        raise FashionError(f"{path}: bundle format {raw.get('format')!r}, this version reads format {FORMAT}")
    expected = {
        "classes": list,
        "image_size": int,
        "margin": (int, float),
        "crop_size": int,
        "fit": str,
        "source": dict,
        "binding": str,
    }
    for key, kind in expected.items():
        if not isinstance(raw.get(key), kind) or isinstance(raw.get(key), bool):
            raise FashionError(f"{path}: key {key!r} missing or of the wrong type")
    if raw["fit"] not in FITS or not raw["classes"] or raw["image_size"] < 1 or raw["crop_size"] < 1:
        raise FashionError(f"{path}: fit, classes, image_size or crop_size has an impossible value")
    _check_classes(path, raw["classes"], "key 'classes'")
    if not re.fullmatch(r"[0-9a-f]{64}", raw["binding"]):
        raise FashionError(
            f"{path}: key 'binding' must be a SHA-256 digest (64 hex digits), not {raw['binding']!r:.80}"
        )
    return Settings(**{key: raw[key] for key in expected})


def _check_classes(path: Path, classes: list, what: str) -> None:
    """Class names must be non-empty strings, each once: an output index must mean one class."""
    for i, name in enumerate(classes):
        if not isinstance(name, str) or not name.strip():
            raise FashionError(f"{path}: {what}: entry {i} must be a class name (non-empty text), not {name!r:.80}")
    seen: dict[str, int] = {}
    for i, name in enumerate(classes):
        if name in seen:
            raise FashionError(f"{path}: {what}: class {name!r:.80} is listed twice (entries {seen[name]} and {i})")
        seen[name] = i


def _load(path: Path) -> keras.Model:
    """The model without optimizer state (compile=False): inference needs only the weights."""
    if not path.is_file():
        raise FashionError(f"{path}: model file does not exist")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise FashionError(f"{path}: not a readable Keras model ({type(exc).__name__}: {exc})") from None


def _classes(path: Path) -> list[str]:
    try:
        classes = read_json(path)
    except FileNotFoundError:
        raise FashionError(f"{path}: classes file does not exist") from None
    except json.JSONDecodeError as exc:
        raise FashionError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(classes, list) or not classes:
        raise FashionError(f"{path}: must be a non-empty JSON list of class names")
    _check_classes(path, classes, "class list")
    return classes


def _check_fits(model: keras.Model, settings: Settings, where: Path) -> None:
    """The model's input and output must match the settings, or every prediction would be wrong."""
    expected_in = (settings.image_size, settings.image_size, 3)
    if tuple(model.input_shape[1:]) != expected_in:
        raise FashionError(f"{where}: model takes {tuple(model.input_shape[1:])} images, settings say {expected_in}")
    if model.output_shape[-1] != len(settings.classes):
        raise FashionError(f"{where}: model has {model.output_shape[-1]} outputs for {len(settings.classes)} classes")


def _shareable(folder: Path) -> None:
    """Usual permissions under the umask: temporary files are created private (0600/0700),
    which would stop anyone else from using a bundle copied to a shared place."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~umask)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
