"""Training-input overhead: a full `train` epoch through our pipeline against model.fit on in-memory tensors.

    python bench/train_overhead.py [--arch resnet50v2] [--size 32] [--images 1024] [--augment]

Both sides train one freshly built model (models.build, Table 1's settings) on
the same images: one warm-up epoch each (graph tracing), then timed epochs taken
alternately, the median reported.
"ours" is what the train stage does: split manifest -> decode_all -> inputs.dataset
(seeded shuffle, optional paper augmentation) -> fit. The baseline is fit on
tensors already in memory, so the gap is the input pipeline's overhead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fixtures  # noqa: E402

from fashioncat.config import (
    Augment,
    Hyper,  # noqa: E402
)
from fashioncat.model import inputs, models, training  # noqa: E402

TABLE1 = Hyper(
    initializer="glorot_uniform", optimizer="adam", learning_rate=0.01, decay=0.9, regularizer="l1", l1=1e-5, l2=1e-4
)
PAPER_AUGMENT = Augment(rotation=10, shear=0.2, zoom=0.05, horizontal_flip=True)


def fresh_model(arch: str, classes: int, size: int):
    training.make_deterministic(1)
    return training.compile_model(models.build(arch, classes, size, TABLE1), models.optimizer(TABLE1))


def epoch_seconds(model, *args, **kwargs) -> float:
    start = time.perf_counter()
    model.fit(*args, epochs=1, verbose=0, **kwargs)
    return time.perf_counter() - start


def median_rates(n: int, runs: dict, repeats: int) -> dict[str, float]:
    """Images/s per side, timing the sides' epochs alternately so machine noise hits both alike."""
    for model, args, kwargs in runs.values():
        epoch_seconds(model, *args, **kwargs)  # warm-up: graph tracing
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (model, args, kwargs) in runs.items():
            times[name].append(epoch_seconds(model, *args, **kwargs))
    return {name: n / statistics.median(values) for name, values in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet50v2")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--augment", action="store_true", help="use the paper's best augmentation on our side")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per side (median reported)")
    args = p.parse_args()
    classes = ["a", "b", "c", "d"]
    per_class = args.images // len(classes)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        fixtures.split_folder(root, classes=classes, per_split=(per_class, 1, 1), size=args.size)
        paths, labels = inputs.load_split(root / "data/split/source/train.csv", classes, root=root)
        images = inputs.decode_all(list(paths), args.size)
    n = len(images)
    augment = PAPER_AUGMENT if args.augment else None
    ours_ds = inputs.dataset(
        images, labels, num_classes=len(classes), batch_size=32, augment=augment, shuffle=True, seed=1
    )
    x = images.astype("float32")
    y = np.eye(len(classes), dtype="float32")[labels]
    # One model for both sides: separately built models of the same architecture ran at
    # different speeds here (about 50 or 84 images/s, apparently by oneDNN's kernel choice).
    model = fresh_model(args.arch, len(classes), args.size)
    rates = median_rates(
        n, {"base": (model, (x, y), {"batch_size": 32}), "ours": (model, (ours_ds,), {"shuffle": False})}, args.repeats
    )
    base, ours = rates["base"], rates["ours"]
    label = "with the paper's augmentation" if args.augment else "no augmentation (Table 1)"
    print(
        f"training epoch, {args.arch} at {args.size}x{args.size}, {n} images, batch 32, {label}, "
        f"median of {args.repeats} alternating epochs"
    )
    print(f"  model.fit on in-memory tensors : {base:6.1f} images/s")
    print(f"  our train pipeline             : {ours:6.1f} images/s")
    print(f"  overhead                       : {100 * (base - ours) / base:+5.1f}%")


if __name__ == "__main__":
    main()
