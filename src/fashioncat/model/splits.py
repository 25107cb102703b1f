"""The decoded splits of a dataset, and the train/val batches every training builds from them.

Images are decoded once into memory (`inputs.decode_all`); training, tuning and transfer
all make their batches with `train_val`, so the three can never feed a model differently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashioncat.config import Augment
from fashioncat.io import read_json
from fashioncat.model import inputs


@dataclass
class Splits:
    """Decoded images and labels of a dataset's splits, decoded once and reused."""

    classes: list[str]
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    paths: dict[str, list[str]]

    def digest(self, names=("train", "val")) -> str:
        """A digest of the pixels and labels of `names`, to tie a checkpoint to the data it saw."""
        h = hashlib.sha256("\n".join(self.classes).encode())
        for name in names:
            h.update(name.encode())
            h.update(np.ascontiguousarray(self.images[name]).tobytes())
            h.update(np.ascontiguousarray(self.labels[name]).tobytes())
        return h.hexdigest()[:16]


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of about `size` images with every class equally represented; 0 or too large means all."""
    if size <= 0 or size >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    per_class = max(1, size // len(classes))
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(picked))


def with_subsets(splits: Splits, sizes: dict[str, int], seed: int, names=("train", "val", "test")) -> Splits:
    """`splits` (those in `names`), each split named in `sizes` cut to a stratified, seeded subset (0: all)."""
    out = Splits(splits.classes, {}, {}, {})
    for name in names:
        rows = stratified_subset(splits.labels[name], sizes.get(name, 0), seed)
        out.images[name] = splits.images[name][rows]
        out.labels[name] = splits.labels[name][rows]
        out.paths[name] = [splits.paths[name][i] for i in rows]
    return out


def load_splits(
    split_dir: str | Path,
    image_size: int,
    names=("train", "val", "test"),
    subsets: dict[str, int] | None = None,
    seed: int = 0,
) -> Splits:
    """The splits in `names`, decoded at `image_size`.

    `subsets` cuts the splits it names to stratified, seeded subsets before any image is
    decoded: the same images, in the same order, as `with_subsets(load_splits(...), subsets,
    seed)`, without decoding the rest (a trial reads 640 of 35,000 training images).
    """
    split_dir = Path(split_dir)
    classes = read_json(split_dir / "classes.json")
    splits = Splits(classes, {}, {}, {})
    for name in names:
        paths, labels = inputs.load_split(split_dir / f"{name}.csv", classes)
        rows = stratified_subset(labels, (subsets or {}).get(name, 0), seed)
        paths, labels = list(paths[rows]), labels[rows]
        splits.images[name] = inputs.decode_all(paths, image_size)
        splits.labels[name], splits.paths[name] = labels, paths
    return splits


@dataclass(frozen=True)
class TrainBatches:
    """The training split as shuffled, augmented batches, for any run of epochs (see `inputs.dataset`)."""

    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    batch_size: int
    augment: Augment
    seed: int

    @property
    def steps(self) -> int:
        """Batches per epoch."""
        return -(-len(self.labels) // self.batch_size)

    def epochs(self, first: int, last: int):
        """Epochs first .. last - 1, back to back, as one tf.data.Dataset."""
        return inputs.dataset(
            self.images,
            self.labels,
            num_classes=self.num_classes,
            batch_size=self.batch_size,
            augment=self.augment,
            shuffle=True,
            seed=self.seed,
            epochs=(first, last),
        )


def train_val(splits: Splits, augment: Augment, *, batch_size: int, seed: int):
    """Training batches (shuffled, augmented, by epoch) and validation batches (in order, as they are)."""
    train = TrainBatches(splits.images["train"], splits.labels["train"], len(splits.classes), batch_size, augment, seed)
    val = inputs.dataset(
        splits.images["val"],
        splits.labels["val"],
        num_classes=len(splits.classes),
        batch_size=batch_size,
        augment=None,
        shuffle=False,
        seed=seed,
    )
    return train, val
