"""Annotation throughput and memory: images/s from JPEG files on disk to the output CSV, and peak memory.

    python bench/annotate_throughput.py [--model models/annotator] [--images 10000] [--timed 2000]

Writes `--images` JPEGs (200x150, a garment-like picture each) to a temporary
folder. Throughput: `annotation.annotate` in this process at batch sizes 1
and 64 over the first `--timed` images, after a warm-up that traces the model,
so the figure is the steady state of a long run. Memory: the real command
(`python -m fashioncat annotate`) in a fresh process over 64, 1,000 and all
images; its peak resident set (ru_maxrss) should not grow with the count,
since rows are streamed. The default model is the bundle `dvc repro bundle`
makes; when it does not exist yet, a tiny stand-in CNN is bundled so the
benchmark always runs (its figures then measure the input side, not ResNet).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fixtures  # noqa: E402

from fashioncat.annotate import bundle  # noqa: E402
from fashioncat.annotate import cli as annotation  # noqa: E402

CLASSES = [f"class_{i}" for i in range(10)]


def stand_in_bundle(folder: Path) -> Path:
    """A small untrained CNN bundled with the pipeline's default crop settings."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    for filters in (16, 32):
        x = keras.layers.MaxPooling2D()(keras.layers.Conv2D(filters, 3, activation="relu", padding="same")(x))
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inputs, outputs, name="stand_in_cnn").save(folder / "stand_in.keras")
    (folder / "classes.json").write_text(json.dumps(CLASSES))
    bundle.write(
        folder / "stand_in.keras",
        folder / "classes.json",
        folder / "annotator",
        image_size=32,
        margin=0.05,
        crop_size=64,
        fit="stretch",
    )
    return folder / "annotator"


def make_images(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"{i // 1000:02d}" / f"{i:06d}.jpg"  # 1,000 per subfolder, as a photo dump might be
        path.parent.mkdir(parents=True, exist_ok=True)
        fixtures.garment(i, size=(150, 200)).save(path, quality=90)
        paths.append(path)
    return paths


def throughput(model, settings, items, out: Path, batch_size: int) -> float:
    annotation.annotate(items[: batch_size * 2], model, settings, out, batch_size=batch_size, progress=False)  # warm-up
    started = time.perf_counter()
    annotation.annotate(items, model, settings, out, batch_size=batch_size, progress=False)
    return len(items) / (time.perf_counter() - started)


def peak_memory(model_dir: Path, listing: Path, out: Path) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of the annotate command in a fresh process, TensorFlow import included."""
    code = (
        "import resource, sys; from fashioncat.__main__ import main; "
        f"rc = main(['annotate', {str(listing)!r}, '--out', {str(out)!r}, '--model', {str(model_dir)!r}]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024, time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=annotation.DEFAULT_MODEL, help="bundle folder (default: models/annotator)")
    p.add_argument("--images", type=int, default=10_000, help="images for the memory runs")
    p.add_argument("--timed", type=int, default=2_000, help="images per throughput measurement")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_dir = Path(args.model) if Path(args.model).is_dir() else stand_in_bundle(root)
        paths = make_images(root / "photos", args.images)
        model, settings = bundle.load(model_dir)
        items = [annotation.Item(str(p), p) for p in paths[: args.timed]]
        rates = {bs: throughput(model, settings, items, root / "rate.csv", bs) for bs in (1, 64)}
        memory = {}
        for count in sorted({64, min(1_000, args.images), args.images}):
            listing = root / f"first_{count}.txt"
            listing.write_text("\n".join(str(p) for p in paths[:count]) + "\n")
            memory[count] = peak_memory(model_dir, listing, root / f"mem_{count}.csv")
    print(
        f"annotate benchmark: model {model_dir} ({model.name}, {model.count_params():,} parameters), "
        f"JPEG 200x150 -> crop {settings.crop_size} -> {settings.image_size} px"
    )
    for bs, rate in rates.items():
        print(f"  batch size {bs:>2}: {rate:7.1f} images/s  ({len(items)} images, files -> CSV, after warm-up)")
    for count, (mb, seconds) in memory.items():
        print(
            f"  command on {count:>6,} images: peak RSS {mb:6.0f} MB, {seconds:6.1f} s wall "
            f"({count / seconds:6.1f} images/s incl. TensorFlow start and model load)"
        )


if __name__ == "__main__":
    main()
