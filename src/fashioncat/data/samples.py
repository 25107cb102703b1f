"""Small synthetic copies of DeepFashion and iMaterialist-Fashion 2018, in their exact published layouts.

    deepfashion(root, class_map, per_class)              img/, Anno/list_*.txt, Eval/list_eval_partition.txt
    imaterialist(root, class_map, per_class, base_url, served)
                                                         train.json, validation.json; the images in `served`,
                                                         named as the URLs name them (`base_url/<id>.jpg`)
    serve(folder)                                        a loopback HTTP server for those URLs

Each garment is a plain coloured shape on a noisy background, its colour and place set by its
class, so a model can learn something in one epoch. The categories and labels are the real
datasets' (DeepFashion's 50 category names in id order; iMaterialist's label ids from the
organisers' table that the class map names), so the paper's class maps read them unchanged.
bench/paper_smoke.py runs the paper profile on them; the tests use them too. No TensorFlow.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from fashioncat.data.classmap import load_classmap
from fashioncat.io import write_bytes, write_json, write_text

# DeepFashion's Category and Attribute Prediction benchmark: its 50 categories in id order
# (Anno/list_category_cloth.txt; ids 1-20 upper body, 21-36 lower body, 37-50 full body).
DEEPFASHION_CATEGORIES = (
    "Anorak Blazer Blouse Bomber Button-Down Cardigan Flannel Halter Henley Hoodie Jacket Jersey Parka Peacoat "
    "Poncho Sweater Tank Tee Top Turtleneck "
    "Capris Chinos Culottes Cutoffs Gauchos Jeans Jeggings Jodhpurs Joggers Leggings Sarong Shorts Skirt "
    "Sweatpants Sweatshorts Trunks "
    "Caftan Cape Coat Coverup Dress Jumpsuit Kaftan Kimono Nightdress Onesie Robe Romper Shirtdress Sundress"
).split()
_LONG_SIDE = 300  # DeepFashion's images: long side 300 px
_COLOUR_LABEL = "Black"  # a non-category label every iMaterialist entry also carries, as real entries do


def _category_type(category_id: int) -> int:
    return 1 if category_id <= 20 else 2 if category_id <= 36 else 3


def garment(class_index: int, number: int, size: tuple[int, int]) -> tuple[bytes, tuple[int, int, int, int]]:
    """A JPEG of `size` (width, height) and the garment's box (x1, y1, x2, y2)."""
    rng = np.random.default_rng([class_index, number])
    width, height = size
    pixels = rng.integers(0, 70, (height, width, 3), dtype=np.uint8)
    hue = np.array([(class_index * 97) % 256, (class_index * 53 + 80) % 256, (class_index * 181 + 40) % 256])
    x1, y1 = int(width * rng.uniform(0.1, 0.25)), int(height * rng.uniform(0.1, 0.25))
    x2, y2 = int(width * rng.uniform(0.75, 0.9)), int(height * rng.uniform(0.75, 0.9))
    pixels[y1:y2, x1:x2] = np.clip(hue + rng.integers(-20, 20, 3), 0, 255).astype(np.uint8)
    stripe = (class_index % 5 + 1) * (y2 - y1) // 7
    pixels[y1 + stripe : y1 + stripe + (y2 - y1) // 8, x1:x2] = 255 - pixels[y1 + stripe, x1]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), (x1, y1, x2, y2)


def _list_file(path: Path, header: str, rows: list[str]) -> None:
    write_text(path, "\n".join([str(len(rows)), header, *rows]) + "\n")


def deepfashion(root: Path, class_map: Path, per_class: int) -> int:
    """Write `per_class` images of every class of `class_map` as DeepFashion; return the image count.

    A class's images take its categories in turn, so every category the map names appears.
    """
    classes = load_classmap(class_map)
    ids = {name: number for number, name in enumerate(DEEPFASHION_CATEGORIES, start=1)}
    by_class: dict[str, list[str]] = {c: [] for c in classes.classes}
    for category in DEEPFASHION_CATEGORIES:
        found = classes.classify([category])[0]
        if found is not None:
            by_class[found].append(category)
    categories, boxes, partition = [], [], []
    number = 0
    for class_index, name in enumerate(classes.classes):
        for k in range(per_class):
            number += 1
            category = by_class[name][k % len(by_class[name])]
            image = f"img/Synthetic_{category}_{class_index}/img_{number:08d}.jpg"
            size = (_LONG_SIDE, 200 + number % 80) if number % 2 else (200 + number % 80, _LONG_SIDE)
            data, box = garment(class_index, number, size)
            write_bytes(root / image, data)
            categories.append(f"{image} {ids[category]}")
            boxes.append(f"{image} {' '.join(map(str, box))}")
            partition.append(f"{image} {('train', 'train', 'train', 'val', 'test')[k % 5]}")
    cloth = [f"{name} {_category_type(i)}" for i, name in enumerate(DEEPFASHION_CATEGORIES, start=1)]
    _list_file(root / "Anno/list_category_cloth.txt", "category_name  category_type", cloth)
    _list_file(root / "Anno/list_category_img.txt", "image_name  category_label", categories)
    _list_file(root / "Anno/list_bbox.txt", "image_name  x_1  y_1  x_2  y_2", boxes)
    _list_file(root / "Eval/list_eval_partition.txt", "image_name  evaluation_status", partition)
    return number


def imaterialist(root: Path, class_map: Path, per_class: int, base_url: str, served: Path) -> int:
    """Write train.json and validation.json with `per_class` images of every class; return the image count.

    Each entry's `url` is `<base_url>/<imageId>.jpg` and its image is written to `served`, the folder
    `serve` answers from; labels are the map's category ids plus a colour label, as in the release.
    """
    classes = load_classmap(class_map)
    by_class: dict[str, list[str]] = {c: [] for c in classes.classes}
    for label, name in sorted(classes.lookup.items(), key=lambda item: int(item[0])):
        by_class[name].append(label)
    colour = _label_id(class_map, _COLOUR_LABEL)
    files = {"train": {"images": [], "annotations": []}, "validation": {"images": [], "annotations": []}}
    number = 0
    for class_index, name in enumerate(classes.classes):
        for k in range(per_class):
            number += 1
            image_id = str(number)
            data, _ = garment(class_index, 10_000 + number, (320 + number % 200, 320 + (number * 7) % 200))
            write_bytes(Path(served) / f"{image_id}.jpg", data)
            split = "validation" if k % 7 == 6 else "train"
            files[split]["images"].append({"url": f"{base_url}/{image_id}.jpg", "imageId": image_id})
            label = by_class[name][k % len(by_class[name])]
            files[split]["annotations"].append({"labelId": [label, colour], "imageId": image_id})
    for split, data in files.items():
        write_json(root / f"{split}.json", data)
    return number


def _label_id(class_map: Path, name: str) -> str:
    """The id of label `name` in the organisers' table the class map names."""
    table = yaml.safe_load(Path(class_map).read_text(encoding="utf-8"))["label_names"]
    with open(Path(class_map).parent / table, newline="", encoding="utf-8") as f:
        return next(row["labelId"] for row in csv.DictReader(f) if row["labelName"] == name)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the downloader's workers connect at once
    daemon_threads = True


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder`'s files over HTTP on 127.0.0.1 while the block runs; yields the base URL."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = _Server(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
