"""Annotation throughput and memory: images/s from JPEG files on disk to the output CSV, and peak memory.

    python bench/annotate_throughput.py [--model models/annotator] [--images 10000] [--timed 2000]
                                        [--rounds 3] [--stand-in] [--results FILE]

Writes `--images` JPEGs (200x150, a garment-like picture each) to a temporary
folder. Throughput: `annotation.annotate` in this process at batch sizes 1
and 64 over the first `--timed` images, after a warm-up that traces the model,
`--rounds` times each (interleaved; median and IQR), so the figure is the steady
state of a long run. Memory: the real command (`python -m fashioncat annotate`)
in a fresh process over 64, 1,000 and all images; its peak resident set
(ru_maxrss) should not grow with the count, since rows are streamed (goal: the
largest run within 5% of the smallest).

The model is the bundle `dvc repro bundle` makes (`--model`, default
models/annotator). Without it the benchmark refuses to run (exit status 2; with
`--results`, its table row says "not measured"). `--stand-in` bundles a tiny
untrained CNN instead and says so on every line it prints and in the table: those
figures measure the input side, not the project's ResNet.
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
import benchstats  # noqa: E402
import fixtures  # noqa: E402

from fashioncat.annotate import bundle  # noqa: E402
from fashioncat.annotate import cli as annotation  # noqa: E402
from fashioncat.annotate.inputs import Item  # noqa: E402

CLASSES = [f"class_{i}" for i in range(10)]
MEMORY_GROWTH = 0.05


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


def throughput(model, settings, items, out: Path, batch_size: int):
    """A side for benchstats.rounds: one pass over `items` at this batch size, timed."""
    return benchstats.timed(
        lambda: annotation.annotate(items, model, settings, out, batch_size=batch_size, progress=False)
    )


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
    p.add_argument("--rounds", type=int, default=3, help="timed passes per batch size (after one warm-up pass)")
    p.add_argument("--stand-in", action="store_true", help="no bundle: measure with a tiny untrained CNN, says so")
    p.add_argument("--results", help="append the table row to this JSON-lines file (make bench)")
    args = p.parse_args()
    title = "annotate: throughput at batch 64, files -> CSV; peak memory of the command"
    if not Path(args.model).is_dir() and not args.stand_in:
        print(
            f"error: no annotation bundle at {args.model}: run `dvc repro bundle` (or `make repro`) first, "
            "or pass --stand-in to measure the input side with a tiny untrained CNN",
            file=sys.stderr,
        )
        benchstats.record(
            args.results,
            benchmark=title,
            figure=f"not measured: no bundle at {args.model} (`dvc repro bundle`)",
            goal=f"memory growth < {MEMORY_GROWTH:.0%}",
            verdict="not measured",
        )
        sys.exit(2)
    stand_in = "" if Path(args.model).is_dir() else "STAND-IN CNN, NOT THE PROJECT'S MODEL: "
    if stand_in:
        print(f"{stand_in}no bundle at {args.model}; these figures measure the input side only", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_dir = stand_in_bundle(root) if stand_in else Path(args.model)
        paths = make_images(root / "photos", args.images)
        model, settings = bundle.load(model_dir)
        items = [Item(str(p), p) for p in paths[: args.timed]]
        sides = {bs: throughput(model, settings, items, root / "rate.csv", bs) for bs in (1, 64)}
        times = benchstats.rounds(sides, args.rounds)
        memory = {}
        for count in sorted({64, min(1_000, args.images), args.images}):
            listing = root / f"first_{count}.txt"
            listing.write_text("\n".join(str(p) for p in paths[:count]) + "\n")
            memory[count] = peak_memory(model_dir, listing, root / f"mem_{count}.csv")
    print(
        f"{stand_in}annotate benchmark: model {model_dir} ({model.name}, {model.count_params():,} parameters), "
        f"JPEG 200x150 -> crop {settings.crop_size} -> {settings.image_size} px, {benchstats.machine()}"
    )
    rates = {bs: benchstats.spread([len(items) / s for s in t]) for bs, t in times.items()}
    for bs, rate in rates.items():
        print(
            f"  {stand_in}batch size {bs:>2}: {rate.median:7.1f} images/s (IQR {rate.q1:.1f}-{rate.q3:.1f}; "
            f"{len(items)} images, files -> CSV, after warm-up)"
        )
    for count, (mb, seconds) in memory.items():
        print(
            f"  {stand_in}command on {count:>6,} images: peak RSS {mb:6.0f} MB, {seconds:6.1f} s wall "
            f"({count / seconds:6.1f} images/s incl. TensorFlow start and model load)"
        )
    smallest, largest = memory[min(memory)][0], memory[max(memory)][0]
    growth = largest / smallest - 1
    verdict = benchstats.MET if growth < MEMORY_GROWTH else benchstats.NOT_MET
    print(f"  {stand_in}memory growth {min(memory):,} -> {max(memory):,} images: {growth:+.1%}: {verdict}")
    benchstats.record(
        args.results,
        benchmark=f"{stand_in}{title} ({model.name}, {args.timed} images timed, RSS at {max(memory):,})",
        figure=(
            f"{rates[64].median:.0f} images/s (IQR {rates[64].q1:.0f}-{rates[64].q3:.0f}; {rates[64].n} rounds); "
            f"peak RSS {smallest:.0f} -> {largest:.0f} MB ({growth:+.1%})"
        ),
        goal=f"memory growth < {MEMORY_GROWTH:.0%}",
        verdict=verdict,
    )


if __name__ == "__main__":
    main()
