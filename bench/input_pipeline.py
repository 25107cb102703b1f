"""Augmented-input throughput: our tf.data pipeline against Keras' ImageDataGenerator.

    python bench/input_pipeline.py [--images 2000] [--size 64] [--batch 32]

Writes `--images` PNGs of size x size into class sub-folders of a temporary
directory (flow_from_directory needs that layout) plus a split manifest naming
the same files, then produces one epoch of batches of 32 with the paper's best
augmentation (rotation 10, shear 0.2 degrees, zoom 0.05, horizontal flip) both
ways, end to end from the files:

  ImageDataGenerator(...).flow_from_directory(...): scan + load + augment, every epoch.
  ours: load_split + decode_all once, then dataset(...) for the epoch.

A second epoch is timed for both, since ours pays decoding only once per run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fixtures  # noqa: E402

from fashioncat.config import Augment
from fashioncat.model.inputs import dataset, decode_all, load_split  # noqa: E402

CLASSES = ["dress", "skirt", "top", "trousers"]
PAPER = Augment(rotation=10, shear=0.2, zoom=0.05, horizontal_flip=True)


def make_images(root: Path, count: int, size: int) -> Path:
    """PNGs in root/<class>/ and a manifest (paths relative to root) naming them all."""
    lines = ["image,label"]
    for i in range(count):
        label = CLASSES[i % len(CLASSES)]
        name = f"{label}/{i:06d}.png"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        fixtures.garment(i, size=(size, size)).save(root / name)
        lines.append(f"{name},{label}")
    manifest = root / "train.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def keras_epochs(root: Path, size: int, batch: int) -> tuple[float, float, int]:
    """Seconds for the first and second epoch of flow_from_directory, and images per epoch."""
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    start = time.perf_counter()
    generator = ImageDataGenerator(rotation_range=10, shear_range=0.2, zoom_range=0.05, horizontal_flip=True)
    flow = generator.flow_from_directory(
        str(root), target_size=(size, size), batch_size=batch, class_mode="categorical", shuffle=True, seed=0
    )
    times = []
    for _ in range(2):
        for i in range(len(flow)):
            flow[i]
        flow.on_epoch_end()
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return times[0], times[1], flow.n


def our_epochs(manifest: Path, root: Path, size: int, batch: int) -> tuple[float, float, float, int]:
    """Seconds to decode once, for the first and second epoch, and images per epoch."""
    start = time.perf_counter()
    paths, labels = load_split(manifest, CLASSES, root=root)
    images = decode_all(paths, size)
    decode = time.perf_counter() - start
    ds = dataset(images, labels, num_classes=len(CLASSES), batch_size=batch, augment=PAPER, shuffle=True, seed=0)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        for x, y in ds:
            x.numpy(), y.numpy()
        times.append(time.perf_counter() - start)
    return decode, times[0], times[1], len(images)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--size", type=int, nargs="+", default=[64])
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    for size in args.size:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            manifest = make_images(root, args.images, size)
            k1, k2, kn = keras_epochs(root, size, args.batch)
            decode, o1, o2, on = our_epochs(manifest, root, size, args.batch)
        assert kn == on == args.images
        n = args.images
        keras_rate, ours_rate = n / k1, n / (decode + o1)
        print(f"size {size}, {n} PNGs, batch {args.batch}, paper augmentation")
        print(
            f"  ImageDataGenerator.flow_from_directory: epoch 1 {k1:6.2f} s = {keras_rate:7.0f} img/s;"
            f" epoch 2 {n / k2:7.0f} img/s"
        )
        print(
            f"  ours: decode_all {decode:6.2f} s + epoch 1 {o1:6.2f} s = {ours_rate:7.0f} img/s;"
            f" epoch 2 alone {n / o2:7.0f} img/s"
        )
        print(f"  speed-up: first epoch end to end {ours_rate / keras_rate:.1f}x, later epochs {k2 / o2:.1f}x")


if __name__ == "__main__":
    main()
