"""Tiny datasets in the exact DeepFashion and iMaterialist formats, bad cases included."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

CATEGORIES = ["Blouse", "Dress", "Jeans", "Skirt", "Kimono"]  # Kimono stays unmapped in MAPPING
MAPPING = "classes:\n  top: [Blouse]\n  dress: [Dress]\n  trousers: [Jeans]\n  skirt: [Skirt]\n"


def garment(seed: int, size=(60, 80), mode="RGB") -> Image.Image:
    """A distinct picture: a coloured rectangle on noise, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = rng.integers(80, 255, 3, dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode) if mode != "RGB" else Image.fromarray(pixels)


def jpeg(img: Image.Image, **kw) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", **kw)
    return buffer.getvalue()


def save(img: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def list_file(path: Path, header: str, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([str(len(lines)), header, *lines]) + "\n")


def deepfashion(root: Path, per_class: int = 4, bad: bool = True) -> dict:
    """Write a DeepFashion tree; return {reason: count} of the bad entries it planted."""
    cats, boxes, files = [], [], {}
    number = 0

    def add(data: bytes | None, category: int, box: str | None, name: str | None = None):
        nonlocal number
        number += 1
        name = name or f"img/Folder_{category}/img_{number:08d}.jpg"
        if data is not None:
            files[name] = data
        cats.append(f"{name} {category}")
        if box is not None:
            boxes.append(f"{name} {box}")
        return name

    for category in range(1, 5):
        for k in range(per_class):
            add(jpeg(garment(category * 100 + k)), category, "10 15 50 70")
    planted = {}
    if bad:
        add(jpeg(garment(900)), 5, "10 10 50 50")  # Kimono: unmapped
        planted["category not mapped to a class"] = 1
        add(jpeg(garment(901))[:300], 1, "10 10 50 50")  # truncated
        add(b"this is not an image", 1, "10 10 50 50")
        planted["unreadable image"] = 2
        add(jpeg(garment(902)), 2, "200 200 300 300")
        planted["bounding box outside the image"] = 1
        add(jpeg(garment(903)), 2, "30 30 30 60")
        planted["bounding box has zero area"] = 1
        add(None, 3, "10 10 50 50")  # listed, never written
        planted["image file missing"] = 1
        add(None, 3, "1 1 5 5", name="../outside.jpg")
        root.mkdir(parents=True, exist_ok=True)
        (root.parent / "outside.jpg").write_bytes(jpeg(garment(904)))
        planted["path escapes dataset folder"] = 1
        add(jpeg(garment(905)), 4, None)
        planted["no bounding box"] = 1
        cats.append("img/broken_line_without_label")
        cats.append("img/Folder_1/x.jpg notanumber")
        cats.append("img/Folder_1/y.jpg 77")
        boxes.append("img/Folder_1/img_00000001.jpg 1 2 three 4")  # malformed box row (the image keeps its first box)
        planted["malformed annotation line"] = 4
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    list_file(
        root / "Anno/list_category_cloth.txt",
        "category_name  category_type",
        [f"{c} {1 if c in ('Blouse', 'Kimono') else 2}" for c in CATEGORIES],
    )
    list_file(root / "Anno/list_category_img.txt", "image_name  category_label", cats)
    list_file(root / "Anno/list_bbox.txt", "image_name  x_1  y_1  x_2  y_2", boxes)
    list_file(
        root / "Eval/list_eval_partition.txt", "image_name  evaluation_status", [f"{c.split()[0]} train" for c in cats]
    )
    return planted


IM_MAPPING = 'classes:\n  top: ["190", "193"]\n  dress: ["62"]\n  trousers: ["201"]\n  skirt: ["170"]\n'
IM_LABELS = {"top": "190", "dress": "62", "trousers": "201", "skirt": "170"}


def imaterialist(folder: Path, per_class: int = 3, bad: bool = True, server: str | None = None) -> dict:
    """Write train.json and validation.json whose URLs point at files in folder/remote/."""
    images, annotations = [], []
    planted = {}

    def add(image_id: str, labels: list, url: str | None, data: bytes | None = None):
        if url is not None:
            images.append({"url": url, "imageId": image_id})
        annotations.append({"labelId": labels, "imageId": image_id})
        if data is not None:
            (folder / "remote").mkdir(parents=True, exist_ok=True)
            (folder / "remote" / f"{image_id}.jpg").write_bytes(data)

    number = 0
    for label in IM_LABELS.values():
        for _ in range(per_class):
            number += 1
            add(str(number), [label, "17"], f"file:remote/{number}.jpg", jpeg(garment(number)))
    if bad:
        add("101", ["190", "62"], "file:remote/101.jpg", jpeg(garment(101)))
        planted["labels map to several classes"] = 1
        add("102", ["190", "193", "17"], "file:remote/102.jpg", jpeg(garment(102)))  # both 'top': kept
        add("103", ["17", "19"], "file:remote/103.jpg", jpeg(garment(103)))
        planted["no label maps to a class"] = 1
        add("104", ["62"], "file:remote/missing.jpg")
        planted["image not downloaded"] = 1
        add("105", ["62"], None)
        planted["no image URL"] = 1
        annotations.append({"imageId": "106"})
        annotations.append({"labelId": ["62"], "imageId": "../../escape"})
        planted["malformed annotation"] = 2
    folder.mkdir(parents=True, exist_ok=True)
    train = {"images": images, "annotations": annotations}
    (folder / "train.json").write_text(json.dumps(train))
    (folder / "validation.json").write_text(json.dumps({"images": [], "annotations": []}))
    return planted


def split_folder(root: Path, classes=("a", "b"), per_split=(12, 4, 4), size: int = 32) -> Path:
    """data/split/source under `root`: PNGs plus train/val/test manifests, paths relative to `root`.

    Class k's pictures are bright in a different quarter, so a model can learn them quickly.
    """
    folder = root / "data/split/source"
    (root / "data/cropped/images").mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    number = 0
    for split, count in zip(("train", "val", "test"), per_split):
        lines = ["image,label,group"]
        for k, label in enumerate(classes):
            for _ in range(count):
                number += 1
                rng = np.random.default_rng(number)
                pixels = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
                half = size // 2
                y, x = divmod(k % 4, 2)
                pixels[y * half : (y + 1) * half, x * half : (x + 1) * half] += 150
                name = f"data/cropped/images/{number:05d}.png"
                Image.fromarray(pixels).save(root / name)
                lines.append(f"{name},{label},g{number}")
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n")
    (folder / "classes.json").write_text(json.dumps(list(classes)))
    return folder


def colour_model(size: int = 32):
    """Softmax over the mean colour (red, green, blue): confident on saturated pictures, undecided on grey."""
    import keras

    inputs = keras.Input((size, size, 3))
    mean = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(mean))
    dense.set_weights([np.eye(3, dtype="float32") * 12, np.zeros(3, dtype="float32")])
    return model
