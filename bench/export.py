"""The shipped formats: size, CPU latency at batch 1 and 32, and top-1 agreement with Keras on a test split.

    python bench/export.py [--model models/annotator --split data/split/source] [--stand-in]
                           [--rounds 30] [--results FILE]

Exports the bundle's model (`annotate/export.py`: SavedModel, TFLite float32, TFLite int8
calibrated on 200 training images) into a scratch copy of the bundle, then:

- agreement: the share of test images whose top-1 class each TFLite model shares with
  Keras (goal: float32 >= 99.5%; int8 measured);
- latency: one call at batch 1 and at batch 32 for Keras (`predict_on_batch`), the
  SavedModel's `serve` and both TFLite models (LiteRT, all cores), in interleaved rounds
  after a warm-up; the median per image and its IQR. The row's verdict: the int8 model
  at least as fast as Keras at batch 1 (per-round ratio, judged as in benchstats.py);
- size of each format on disk.

Without the bundle (models/ is a DVC output), `--stand-in` builds the project's ResNet50
at 32 px for 10 classes (params.yaml's `train.hyper`) and trains it 2 epochs on
synthetic coloured squares, and says so on every line and in the table: latency and
size are the project's architecture's, agreement is that of a briefly trained one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchstats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLOAT_GOAL = 0.995
PALETTE = np.array(
    [[230, 30, 30], [30, 200, 30], [30, 30, 230], [230, 230, 30], [230, 30, 230], [30, 230, 230],
     [240, 140, 20], [120, 60, 20], [250, 250, 250], [20, 20, 20]],
    dtype=float,
)  # fmt: skip


def synthetic_split(root: Path, train: int, test: int) -> Path:
    """data/split/source of 10 classes of 32-px squares: a palette colour, faint to clear, on noise."""
    from PIL import Image

    from fashioncat.data import manifest

    rng = np.random.default_rng(0)
    folder = root / "data/split/source"
    folder.mkdir(parents=True)
    classes = [f"class_{i}" for i in range(len(PALETTE))]
    for name, per_class in (("train", train), ("test", test)):
        lines = [",".join(manifest.FIELDS)]
        for c, label in enumerate(classes):
            for i in range(per_class):
                strength = rng.uniform(0.15, 0.8)
                pixels = (1 - strength) * 128 + strength * PALETTE[c] + rng.normal(0, 25, (32, 32, 3))
                path = f"images/{name}_{c}_{i}.png"  # relative to the repository root, as the stages write them
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / path)
                lines.append(f"{path},{label},g,1024,{path},o")
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    (folder / "classes.json").write_text(json.dumps(classes))
    return folder


def stand_in(root: Path) -> tuple[Path, Path]:
    """The project's ResNet50 at 32 px, trained 2 epochs on the synthetic split, bundled (run from `root`)."""
    import keras

    from fashioncat.annotate import bundle
    from fashioncat.config import Hyper
    from fashioncat.model import inputs, models

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    split = synthetic_split(root, train=150, test=60)
    classes = json.loads((split / "classes.json").read_text())
    paths, labels = inputs.load_split(split / "train.csv", classes)
    keras.utils.set_random_seed(0)
    model = models.build("resnet50", len(classes), 32, Hyper(**params["train"]["hyper"]))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    x = inputs.decode_all(list(paths), 32).astype("float32")
    model.fit(x, keras.utils.to_categorical(labels, len(classes)), epochs=2, batch_size=32, verbose=0)
    model.save(root / "stand_in.keras")
    bundle.write(
        root / "stand_in.keras", split / "classes.json", root / "annotator", image_size=32, margin=0.05, crop_size=32,
        fit="stretch",
    )  # fmt: skip
    return root / "annotator", split


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/annotator", help="bundle folder (default: models/annotator)")
    p.add_argument("--split", default="data/split/source", help="split folder: train.csv calibrates, test.csv measures")
    p.add_argument("--rounds", type=int, default=30, help="timed calls per format and batch size (after a warm-up)")
    p.add_argument("--stand-in", action="store_true", help="no bundle: the project's ResNet50 briefly trained, says so")
    p.add_argument("--results", help="append the table rows to this JSON-lines file (make bench)")
    args = p.parse_args()
    args.results = args.results and os.path.abspath(args.results)  # the stand-in runs from a scratch folder
    title = "export: TFLite top-1 agreement with Keras; SavedModel/TFLite size and CPU latency"
    if not Path(args.model).is_dir() and not args.stand_in:
        print(f"error: no bundle at {args.model}: `dvc repro bundle` first, or --stand-in", file=sys.stderr)
        benchstats.record(
            args.results, benchmark=title, figure=f"not measured: no bundle at {args.model}",
            goal=f"float32 agreement >= {FLOAT_GOAL:.1%}", verdict="not measured",
        )  # fmt: skip
        sys.exit(2)
    stand = "" if Path(args.model).is_dir() else "STAND-IN (ResNet50 trained 2 epochs on synthetic squares): "

    import tensorflow as tf

    from fashioncat.annotate import bundle, export

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        if stand:
            os.chdir(root)  # split manifests name images relative to the repository root
            folder, split = stand_in(root)
        else:
            folder, split = root / "annotator", Path(args.split)
            shutil.copytree(args.model, folder)
        report = export.add_to_bundle(folder, split)
        model, settings = bundle.load(folder)
        agreement = report["agreement"]
        sizes = {
            "Keras": size_mb(folder / bundle.MODEL_FILE),
            "SavedModel": size_mb(folder / export.SAVED_MODEL),
            "TFLite float32": size_mb(folder / export.TFLITE["float32"]),
            "TFLite int8": size_mb(folder / export.TFLITE["int8"]),
        }
        saved = tf.saved_model.load(str(folder / export.SAVED_MODEL))
        lite = {kind: export.lite(folder, kind) for kind in export.TFLITE}
        predictors = {
            "Keras": model.predict_on_batch,
            "SavedModel": lambda x: saved.serve(tf.constant(x)),
            "TFLite float32": lite["float32"].predict,
            "TFLite int8": lite["int8"].predict,
        }
        latency = {}
        for batch in (1, 32):
            x = np.random.default_rng(batch).integers(0, 256, (batch, *model.input_shape[1:])).astype(np.float32)
            sides = {name: benchstats.timed(lambda f=f, x=x: f(x)) for name, f in predictors.items()}
            times = benchstats.rounds(sides, args.rounds, warmup=2)
            latency[batch] = {name: (t, benchstats.spread([1000 * s / batch for s in t])) for name, t in times.items()}
    faster = benchstats.spread(benchstats.ratios(latency[1]["Keras"][0], latency[1]["TFLite int8"][0]))
    speed_verdict = benchstats.verdict(faster, 1.0, at_least=True)
    agree_verdict = benchstats.MET if agreement["float32_vs_keras"] >= FLOAT_GOAL else benchstats.NOT_MET

    print(f"{stand}export benchmark: {model.name}, {model.count_params():,} parameters, {benchstats.machine()}")
    print(
        f"  {stand}agreement with Keras on {agreement['images']} test images: float32 "
        f"{agreement['float32_vs_keras']:.2%}, int8 {agreement['int8_vs_keras']:.2%} "
        f"(accuracy: {', '.join(f'{k} {v:.2%}' for k, v in agreement['accuracy'].items())}): {agree_verdict}"
    )
    for name, mb in sizes.items():
        line = "  ".join(
            f"batch {b:>2}: {latency[b][name][1].median:7.2f} ms/image (IQR {latency[b][name][1].q1:.2f}-"
            f"{latency[b][name][1].q3:.2f})"
            for b in (1, 32)
        )
        print(f"  {stand}{name:<15} {mb:7.1f} MB  {line}")
    print(f"  {stand}int8 vs Keras at batch 1: {benchstats.describe(faster)}: {speed_verdict}")

    def ms(b):
        return ", ".join(f"{name} {latency[b][name][1].median:.2f}" for name in predictors)

    benchstats.record(
        args.results,
        benchmark=f"{stand}{title} ({model.name}, {agreement['images']} test images)",
        figure=(
            f"agreement float32 {agreement['float32_vs_keras']:.2%}, int8 {agreement['int8_vs_keras']:.2%}; "
            f"MB: {', '.join(f'{n} {mb:.1f}' for n, mb in sizes.items())}; ms/image at batch 1: {ms(1)}; "
            f"at batch 32: {ms(32)}"
        ),
        goal=f"float32 agreement >= {FLOAT_GOAL:.1%}",
        verdict=agree_verdict,
    )
    benchstats.record(
        args.results,
        benchmark=f"{stand}export: int8 TFLite against Keras, latency at batch 1 ({model.name})",
        figure=benchstats.describe(faster),
        goal="int8 at least as fast (>= 1.00x)",
        verdict=speed_verdict,
    )


if __name__ == "__main__":
    main()
