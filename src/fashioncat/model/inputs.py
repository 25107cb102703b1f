"""Training and evaluation inputs: split manifests -> decoded arrays -> tf.data batches.

Images are decoded and resized once (`decode_all`) into a uint8 array kept in
memory, so epochs and tuning trials never touch the PNGs (in the crop stage's
shards, or loose files) again. Augmentation
reproduces the paper's tool, Keras' classic `ImageDataGenerator` (rotation,
shear in DEGREES, independent x/y zoom, horizontal flip, 'nearest' fill), but
composes the whole affine map into one projective transform per image and warps
a whole batch with a single `ImageProjectiveTransformV3` call.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from fashioncat.config import Augment
from fashioncat.data import shards
from fashioncat.data.images import ImageProblem, fit, open_rgb
from fashioncat.errors import FashionError
from fashioncat.io import usable_cores

if TYPE_CHECKING:
    from PIL import Image

REQUIRED_COLUMNS = ("image", "label")

# tf.data runs without its autotuner: each pipeline's iterator then starts no model thread, and
# deleting it (Keras does, for the validation data after every epoch) does not wait for that
# thread's next wake-up, which stalled an epoch by up to tens of seconds with every thread asleep
# (docs/performance.md, "Epochs at half speed"). What the pipelines yield does not change.
PARALLEL_CALLS = usable_cores()  # the map's parallel calls: one per core this process may use
PREFETCH = 2  # batches made ahead of the model


def fixed_options(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` in its given order, with fixed parallelism and buffers: tf.data's autotuner off."""
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return ds.with_options(options)


def load_split(manifest: Path, classes: list[str], *, root: Path = Path(".")) -> tuple[np.ndarray, np.ndarray]:
    """Image paths (under `root`, the repository root) and class indices of one split.

    Every row is checked before any decoding starts, so a bad manifest fails in
    a second with its file and line, not minutes into a stage.
    """
    manifest = Path(manifest)
    index = {name: i for i, name in enumerate(classes)}
    paths, labels = [], []
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise FashionError(f"{manifest}:1: missing column(s) {', '.join(missing)}")
            base = str(Path(root))
            for row in reader:
                paths.append(_checked_image(manifest, reader.line_num, row["image"], base))
                labels.append(_checked_label(manifest, reader.line_num, row["label"], index))
    except FileNotFoundError:
        raise FashionError(f"{manifest}: split manifest does not exist") from None
    if not paths:
        raise FashionError(f"{manifest}: split manifest has no rows")
    return np.array(paths, dtype=str), np.array(labels, dtype=np.int64)


def _checked_image(manifest: Path, line: int, image: str | None, root: str) -> str:
    """The image's path under `root` (a file, or a shard member); it must be relative, inside root, and exist.

    String work where the name is already clean, as the stages write it (pathlib took most of
    a split's checking time): the same string `str(Path(root) / image)` gives.
    """
    if not image or image.startswith("/") or ".." in image.split("/"):
        raise FashionError(f"{manifest}:{line}: image {image!r} is not a path relative to the repository root")
    if "//" in image or image.startswith("./") or "/./" in image or image.endswith(("/", "/.")) or image == ".":
        path = str(Path(root) / image)
    else:
        path = image if root == "." else f"{root}/{image}"
    if not shards.exists(path):
        raise FashionError(f"{manifest}:{line}: image {image} does not exist")
    return path


def _checked_label(manifest: Path, line: int, label: str | None, index: dict[str, int]) -> int:
    """The label's index in classes.json; an unknown label is a manifest error."""
    if label not in index:
        raise FashionError(f"{manifest}:{line}: label {label!r} is not one of the classes in classes.json")
    return index[label]


def decode_all(paths: Sequence[str], image_size: int) -> np.ndarray:
    """All images as uint8 [N, s, s, 3], decoded and resized once.

    The usual image, an 8-bit RGB PNG already s x s as `crop` writes it, is decoded
    by tf.data on both cores (PNG is lossless: the same pixels PIL gives): a shard's
    members from bytes read through one open file per shard, loose files by path.
    Anything else (other modes or sizes, not PNG, or a file libpng rejects) goes
    through the cropping stage's own decoder and bicubic resize. A plain PIL loop
    holds the GIL and was about 1.5x slower here on 64 px crops.
    """
    out = np.empty((len(paths), image_size, image_size, 3), dtype=np.uint8)
    loose, members = [], {}
    for i, path in enumerate(paths):
        named = shards.member_of(path)
        if named is not None:
            members.setdefault(named[0], []).append((i, named[1]))
        elif _is_plain_png(_head(path), image_size):
            loose.append(i)
        else:
            out[i] = _decode_one(path, image_size)
    if loose:
        named = [paths[i] for i in loose]
        _decode_pngs(named, named, out, loose, image_size, from_files=True)
    if members:
        _decode_members(members, out, paths, image_size)
    return out


DECODE_BYTES = 256 * 2**20  # PNG bytes held at once before they are decoded (at 224 px, about 4,000 images)


def _decode_members(members: dict[str, list[tuple[int, str]]], out: np.ndarray, paths, image_size: int) -> None:
    """Shard members into out[i]: bytes read shard by shard, decoded in passes of about DECODE_BYTES.

    Few long tf.data passes rather than one per shard: a short pass spends much of its
    time starting up and draining its parallel decoders.
    """
    data: list[bytes] = []
    where: list[int] = []
    held = 0  # bytes in data

    def flush() -> None:
        nonlocal held
        plain = [k for k, d in enumerate(data) if _is_plain_png(d[:26], image_size)]
        for k in sorted(set(range(len(data))) - set(plain)):
            out[where[k]] = _decode_one(paths[where[k]], image_size)
        if plain:
            into = [where[k] for k in plain]
            _decode_pngs([data[k] for k in plain], [paths[i] for i in into], out, into, image_size, from_files=False)
        data.clear()
        where.clear()
        held = 0

    for shard, wanted in members.items():
        try:
            found = shards.index(shard)
        except (OSError, ValueError) as exc:
            raise FashionError(f"{shard}: cannot read the shard ({exc})") from None
        missing = [name for _, name in wanted if name not in found]
        if missing:
            raise FashionError(f"{shard}: holds no image {missing[0]} ({len(missing)} missing in all)")
        for start in range(0, len(wanted), SHARD_READ):
            part = wanted[start : start + SHARD_READ]
            read = shards.read_at(shard, [found[name] for _, name in part])
            data += read
            where += [i for i, _ in part]
            held += sum(map(len, read))
            if held >= DECODE_BYTES:
                flush()
    flush()


SHARD_READ = 1000  # members read from a shard at a time


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(26)
    except OSError:
        return b""  # the PIL path reports it


def _is_plain_png(head: bytes, image_size: int) -> bool:
    """Whether the PNG header says 8-bit RGB (colour type 2), image_size square."""
    return (
        len(head) == 26
        and head[:8] == b"\x89PNG\r\n\x1a\n"
        and head[12:16] == b"IHDR"
        and int.from_bytes(head[16:20], "big") == image_size == int.from_bytes(head[20:24], "big")
        and head[24] == 8
        and head[25] == 2
    )


def _decode_pngs(
    sources: list, named: list[str], out: np.ndarray, where: list[int], image_size: int, *, from_files: bool
) -> None:
    """Decode PNGs (their paths when `from_files`, else their bytes) in parallel with tf.data into out[where].

    From the first bad one on, they go through PIL, which names the image (`named`).
    """

    def decode(source):
        data = tf.io.read_file(source) if from_files else source
        return tf.ensure_shape(tf.io.decode_png(data, channels=3), (image_size, image_size, 3))

    ds = (
        tf.data.Dataset.from_tensor_slices(np.array(sources, dtype=object))  # from a list: 20x slower to build
        .map(decode, num_parallel_calls=PARALLEL_CALLS, deterministic=True)
        .batch(256)
    )
    ds = fixed_options(ds)
    done = 0
    try:
        for batch in ds:
            out[where[done : done + len(batch)]] = batch.numpy()
            done += len(batch)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.DataLossError):
        for i, path in zip(where[done:], named[done:]):
            out[i] = _decode_one(path, image_size)


def _decode_one(path: str, image_size: int) -> np.ndarray:
    """One image (a file or a shard member) as uint8 [s, s, 3]; an unreadable one is a user-facing error."""
    try:
        img = open_rgb(path)
    except ImageProblem as exc:
        raise FashionError(f"{path}: {exc}") from None
    return at_training_size(img, image_size)


def at_training_size(img: Image.Image, image_size: int) -> np.ndarray:
    """An RGB image as the model reads it: uint8 [s, s, 3], stretched to s x s when its size differs.

    The one resize between an image and the model: training applies it to any image not
    already the training size (`decode_all`), and annotation and the Label Studio backend
    to the crops they prepare in memory (`annotate.predict.pixels`), so a served image is
    the array a trained one was.
    """
    if img.size != (image_size, image_size):
        img = fit(img, image_size, "stretch")
    return np.asarray(img, dtype=np.uint8)


def transform_from_parameters(theta, shear, zx, zy, flip, image_size: int) -> tf.Tensor:
    """[B, 8] projective transforms from per-image parameters (degrees, factors, 0/1 flip).

    Same matrix as legacy `apply_affine_transform` followed by `flip_axis`:
    A = rotation @ shear @ zoom, centred on ((s-1)/2, (s-1)/2). Keras builds A in
    (x, y) order and then swaps rows and columns for scipy's (row, col) arrays,
    so A's first coordinate is the column, which is exactly the (x=col, y=row)
    convention of `ImageProjectiveTransformV3`; both map output pixels to input
    pixels. The flip after the warp is a mirror of the output coordinates, i.e.
    A @ diag(-1, 1) about the centre.
    """
    theta, shear, zx, zy, flip = (tf.cast(tf.convert_to_tensor(v), tf.float32) for v in (theta, shear, zx, zy, flip))
    t = theta * (math.pi / 180)
    ts = t + shear * (math.pi / 180)  # rotation @ shear = [[cos t, -sin(t+s)], [sin t, cos(t+s)]]
    mirror = 1 - 2 * flip
    a0, a1 = tf.cos(t) * zx * mirror, -tf.sin(ts) * zy
    b0, b1 = tf.sin(t) * zx * mirror, tf.cos(ts) * zy
    c = (image_size - 1) / 2
    a2 = c - (a0 * c + a1 * c)
    b2 = c - (b0 * c + b1 * c)
    zero = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=-1)


def random_transforms(batch_size, image_size: int, augment: Augment, seed) -> tf.Tensor:
    """[B, 8] transforms with parameters drawn as `ImageDataGenerator.get_random_transform` draws them.

    Stateless: the same `seed` ([2] ints) always gives the same transforms.
    """
    u = tf.random.stateless_uniform(tf.stack([batch_size, 5]), seed=seed, dtype=tf.float32)
    theta = (2 * u[:, 0] - 1) * augment.rotation
    shear = (2 * u[:, 1] - 1) * augment.shear
    zx = 1 + (2 * u[:, 2] - 1) * augment.zoom
    zy = 1 + (2 * u[:, 3] - 1) * augment.zoom
    flip = tf.cast(u[:, 4] < 0.5, tf.float32) * float(augment.horizontal_flip)
    return transform_from_parameters(theta, shear, zx, zy, flip, image_size)


def apply_transforms(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    """Warp float images [B, s, s, 3] with one op: bilinear, edges extended ('nearest')."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="NEAREST",
    )


def augment_batch(images: tf.Tensor, augment: Augment | None, seed_tensor) -> tf.Tensor:
    """Randomly transformed float32 batch; unchanged when augmentation is off."""
    if augment is None or not augment.active:
        return images
    size = images.shape[1]
    if size is None or images.shape[2] != size:
        raise ValueError(f"augmentation needs square images of known size, got {images.shape}")
    return apply_transforms(images, random_transforms(tf.shape(images)[0], size, augment, seed_tensor))


def dataset(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    batch_size: int,
    augment: Augment | None,
    shuffle: bool,
    seed: int,
    epochs: tuple[int, int] = (0, 1),
) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 255], one-hot float32 labels), epoch after epoch.

    Pixels are NOT rescaled: the model rescales itself (`models.build`'s
    Rescaling layer), so the same arrays serve training and annotation.

    Epochs `epochs[0]` to `epochs[1] - 1` follow each other in one dataset. Epoch e's
    order (when `shuffle`) and augmentation depend on (seed, e) alone, through
    stateless random ops, so a training resumed at epoch k in a new process sees
    exactly the batches the interrupted one would have seen. Evaluation
    (shuffle=False, no augmentation) keeps manifest order. The image array is copied
    into TensorFlow once; shuffling moves indices, not pixels.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    pixels = tf.constant(images, dtype=tf.uint8)
    targets = tf.one_hot(tf.constant(labels, dtype=tf.int64), num_classes, dtype=tf.float32)
    count = len(images)
    root = tf.constant([seed, 0], dtype=tf.int64)
    augmenting = augment is not None and augment.active

    def one_epoch(epoch):
        key = tf.random.experimental.stateless_fold_in(root, epoch)
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=key)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return batches.map(lambda step, idx: (tf.random.experimental.stateless_fold_in(key, step), idx))

    def load(key, idx):
        x = tf.cast(tf.gather(pixels, idx), tf.float32)
        return (augment_batch(x, augment, key) if augmenting else x), tf.gather(targets, idx)

    ds = tf.data.Dataset.range(*epochs).flat_map(one_epoch)
    ds = ds.map(load, num_parallel_calls=PARALLEL_CALLS if augmenting else None)
    return fixed_options(ds).prefetch(PREFETCH)
