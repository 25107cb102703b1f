"""The bundle's model for shipping: a SavedModel, and TFLite in float32 and int8, inside the bundle folder.

    models/annotator/
      model.keras, bundle.json      the bundle (`bundle.write`)
      saved_model/                  TensorFlow SavedModel, signature `serve`: float32 [n, s, s, 3] pixels 0-255
      model_float32.tflite          TFLite, float32 weights and activations
      model_int8.tflite             TFLite, full-integer int8 weights and activations (float32 in and out)
      export.json                   the bundle binding they were made from, sizes, and agreement with Keras

Every format takes what the Keras model takes: RGB pixels 0-255 as float32, prepared as
`annotate` prepares them (the model rescales inside), and gives class probabilities in
bundle.json's class order. int8 quantization is calibrated on a representative dataset:
`representative` images from the training split (the bundle stage), or given images.

Agreement is the share of images on which a format's top-1 class is the Keras model's,
measured on the test split: the float TFLite model must agree on >= 99.5% (`FLOAT_GOAL`),
the int8 one is measured and reported. `export.json` binds the exports to the bundle's
`binding` digest, so `lite` refuses exports left from another model.

The folder is rewritten once, atomically, with the exports added (`add_to_bundle`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from fashioncat.errors import FashionError
from fashioncat.io import atomic_dir, read_json, usable_cores, write_json

SAVED_MODEL = "saved_model"
TFLITE = {"float32": "model_float32.tflite", "int8": "model_int8.tflite"}
EXPORT_FILE = "export.json"
REPRESENTATIVE = 200  # calibration images for int8 (TFLite's guidance: a few hundred)
AGREEMENT_IMAGES = 2000  # test images the agreement is measured on, at most
FLOAT_GOAL = 0.995


# ---- converting ---------------------------------------------------------------------------------------------


def saved_model(model, folder: Path) -> None:
    """The Keras model as a TensorFlow SavedModel (inference only, signature `serve`)."""
    model.export(str(folder), format="tf_saved_model", verbose=False)


def tflite(saved: Path, representative: np.ndarray | None = None) -> bytes:
    """TFLite from a SavedModel: float32, or full-integer int8 calibrated on `representative` (uint8 [n, s, s, 3])."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if representative is not None:
        if not len(representative):
            raise FashionError("int8 export needs at least one representative image")

        def calibration():
            for image in representative:
                yield [image[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


class Lite:
    """A TFLite model on the CPU (LiteRT's interpreter): probabilities for a float32 batch of pixels."""

    def __init__(self, content: bytes, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=content, num_threads=threads or usable_cores())
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.batch: int | None = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        if self.batch != len(images):  # the batch dimension is fixed per allocation
            self.interpreter.resize_tensor_input(self.input["index"], [len(images), *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self.batch = len(images)
        self.interpreter.set_tensor(self.input["index"], images)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self.output))


def predict_in_batches(predict, images: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.concatenate([np.asarray(predict(images[i : i + batch])) for i in range(0, len(images), batch)])


def agreement(reference: np.ndarray, other: np.ndarray) -> float:
    """Share of rows whose top-1 class is the same in both."""
    return float(np.mean(np.argmax(reference, axis=1) == np.argmax(other, axis=1)))


# ---- images -------------------------------------------------------------------------------------------------


def split_images(manifest: Path, classes: list[str], image_size: int, n: int, seed: int = 0):
    """Up to `n` images of a split (evenly drawn, seeded), decoded as training decodes them, and their labels."""
    from fashioncat.model import inputs

    paths, labels = inputs.load_split(manifest, classes)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(paths))[:n])
    return inputs.decode_all([str(p) for p in paths[chosen]], image_size), labels[chosen]


# ---- the bundle ---------------------------------------------------------------------------------------------


def add_to_bundle(
    folder: str | Path,
    split: str | Path | None = None,
    *,
    calibration: np.ndarray | None = None,
    source: str = "",
    representative: int = REPRESENTATIVE,
    agreement_images: int = AGREEMENT_IMAGES,
) -> dict:
    """Export the bundle's model into its folder; calibrate on split/train.csv (or `calibration`, images from
    `source`), and with a split, measure on split/test.csv.

    Returns the report written to export.json: file sizes, and with a test split, the
    agreement of each TFLite model with Keras (and every format's accuracy).
    """
    from fashioncat.annotate import bundle

    folder = Path(folder)
    model, settings = bundle.load(folder)
    if calibration is None:
        if split is None:
            raise FashionError("int8 export needs representative images: a split folder or given images")
        calibration, _ = split_images(Path(split) / "train.csv", settings.classes, settings.image_size, representative)
        source = str(Path(split) / "train.csv")
    with atomic_dir(folder) as tmp:
        for path in folder.iterdir():
            if path.name != SAVED_MODEL and path.name not in TFLITE.values() and path.name != EXPORT_FILE:
                shutil.copy2(path, tmp / path.name)
        saved_model(model, tmp / SAVED_MODEL)
        content = {"float32": tflite(tmp / SAVED_MODEL), "int8": tflite(tmp / SAVED_MODEL, calibration)}
        for kind, data in content.items():
            (tmp / TFLITE[kind]).write_bytes(data)
        report = {
            "binding": settings.binding,
            "saved_model": SAVED_MODEL,
            "tflite": TFLITE,
            "bytes": {
                "keras": (tmp / bundle.MODEL_FILE).stat().st_size,
                "saved_model": sum(p.stat().st_size for p in (tmp / SAVED_MODEL).rglob("*") if p.is_file()),
                **{f"tflite_{kind}": len(data) for kind, data in content.items()},
            },
            "representative": {"images": int(len(calibration)), "from": source},
        }
        if split is not None:
            test, labels = split_images(
                Path(split) / "test.csv", settings.classes, settings.image_size, agreement_images
            )
            report["agreement"] = measure(model, content, test, labels)
            report["agreement"]["split"] = str(Path(split) / "test.csv")
        write_json(tmp / EXPORT_FILE, report)
    return report


def measure(model, content: dict[str, bytes], images: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """Top-1 agreement of each TFLite model with Keras on `images`; accuracy of each too when `labels` are given."""
    reference = predict_in_batches(model.predict_on_batch, images.astype(np.float32))
    found = {kind: predict_in_batches(Lite(data).predict, images) for kind, data in content.items()}
    out: dict = {"images": int(len(images)), "float_goal": FLOAT_GOAL}
    for kind, probs in found.items():
        out[f"{kind}_vs_keras"] = round(agreement(reference, probs), 4)
    if labels is not None:
        out["accuracy"] = {
            name: round(float(np.mean(np.argmax(p, axis=1) == labels)), 4)
            for name, p in {"keras": reference, **found}.items()
        }
    out["float_goal_met"] = out["float32_vs_keras"] >= FLOAT_GOAL
    return out


def lite(folder: str | Path, kind: str = "float32") -> Lite:
    """A bundle's TFLite model, once export.json says it was made from this bundle's model and classes."""
    from fashioncat.annotate import bundle

    folder = Path(folder)
    if kind not in TFLITE:
        raise FashionError(f"TFLite kind {kind!r}: one of {', '.join(TFLITE)}")
    path = folder / TFLITE[kind]
    if not path.is_file() or not (folder / EXPORT_FILE).is_file():
        raise FashionError(f"{path}: not exported (run `dvc repro bundle`, or python -m fashioncat.annotate.export)")
    made_from = read_json(folder / EXPORT_FILE).get("binding")
    if made_from != bundle.read_settings(folder / bundle.SETTINGS_FILE).binding:
        raise FashionError(f"{folder / EXPORT_FILE}: the exports were made from another model; export again")
    return Lite(path.read_bytes())
