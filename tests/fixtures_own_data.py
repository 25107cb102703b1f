"""Tiny datasets in the exact COCO, DeepFashion2, ImageFolder and Kaggle-CSV formats, bad cases included.

Each writer returns {reason: count} of the bad entries it planted, as the crop report counts
them (the reader's drops plus the crop step's), for the options in the matching *_OPTIONS.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from fixtures import garment, jpeg
from PIL import Image

from fashioncat.config import CocoOptions, CsvOptions, DeepFashion2Options

MAPPING = "classes:\n  top: [Blouse]\n  dress: [Dress]\n  trousers: [Jeans]\n  skirt: [Skirt]\n"  # fixtures.MAPPING
CLASSES = ("top", "dress", "trousers", "skirt")


def photo(seed: int, boxes: list[tuple[int, int, int, int]], size=(96, 80)) -> bytes:
    """A JPEG of noise with one bright rectangle per box (x1, y1, x2, y2), each a colour of its own."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        pixels[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = rng.integers(80, 255, 3, dtype=np.uint8)
    return jpeg(Image.fromarray(pixels))


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


# --- COCO -------------------------------------------------------------------------------------------
# cocodataset.org/#format-data ("Object Detection"); the categories as Fashionpedia names them
# (github.com/cvdfoundation/fashionpedia), whose ids start at 0.
COCO_CATEGORIES = [
    {"id": 0, "name": "shirt, blouse", "supercategory": "upperbody"},
    {"id": 6, "name": "pants", "supercategory": "lowerbody"},
    {"id": 8, "name": "skirt", "supercategory": "lowerbody"},
    {"id": 10, "name": "dress", "supercategory": "wholebody"},
    {"id": 31, "name": "sleeve", "supercategory": "garment parts"},  # a part: left out of the mapping
]
COCO_MAPPING = 'classes:\n  top: ["shirt, blouse"]\n  dress: [dress]\n  trousers: [pants]\n  skirt: [skirt]\n'
COCO_OPTIONS = CocoOptions(annotations="annotations/instances_train.json", images="train", min_box_side=8)
COCO_PAIRS = [(0, 6), (0, 8), (10, None), (8, 6), (10, 0), (6, None)]  # two garments a photo, or one
BOX_A, BOX_B = (6, 6, 40, 60), (50, 20, 90, 74)  # x1, y1, x2, y2


def coco(root: Path, photos: int = 6, bad: bool = True, pairs=COCO_PAIRS) -> dict:
    """A Fashionpedia-like COCO release: train/<file_name> and annotations/instances_train.json.

    Photo k holds the garments of pairs[k % len(pairs)]: most photos two, so two crops each.
    """
    images, annotations = [], []
    planted: dict[str, int] = {}

    def image(image_id: int, name: str, data: bytes | None, size=(96, 80)) -> None:
        images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1], "license": 1})
        if data is not None:
            write(root / "train" / name, data)

    def annotation(image_id, category_id, bbox, **extra) -> dict:
        ok = isinstance(bbox, list) and len(bbox) == 4
        x, y, w, h = bbox if ok else (0, 0, 0, 0)
        entry = {
            "id": 1000 + len(annotations),
            "image_id": image_id,
            "category_id": category_id,
            "bbox": bbox,
            "area": w * h,
            "iscrowd": 0,
            "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
        }
        entry.update(extra)
        annotations.append(entry)
        return entry

    def plant(reason: str) -> None:
        planted[reason] = planted.get(reason, 0) + 1

    xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
    for k in range(photos):
        first, second = pairs[k % len(pairs)]
        boxes = [BOX_A] if second is None else [BOX_A, BOX_B]
        image(k + 1, f"{k + 1:08x}.jpg", photo(k + 1, boxes))
        annotation(k + 1, first, xywh(BOX_A))
        if second is not None:
            annotation(k + 1, second, xywh(BOX_B))
    if bad:
        annotation(1, 31, [10, 10, 8, 8])  # a sleeve: a part, mapped to no class
        plant("category not mapped to a class")
        annotation(1, 10, xywh(BOX_B), iscrowd=1, segmentation={"counts": [0, 5], "size": [80, 96]})
        plant("crowd annotation")
        annotation(2, 0, [30, 30, 0, 20])  # zero width
        plant("bounding box has zero area")
        annotation(2, 0, [20, 20, 5, 40])  # 5 px wide, under min_box_side 8
        plant("box side under min_box_side")
        annotation(2, 10, [200, 200, 30, 30])  # outside the 96x80 photo: the crop step finds out
        plant("bounding box outside the image")
        annotation(3, 99, xywh(BOX_A))  # a category id the categories do not list
        plant("unknown category id")
        annotation(777, 0, xywh(BOX_A))  # an image id the images do not list
        plant("unknown image id")
        annotations.append(dict(annotations[0]))  # the very same annotation twice: one id, two entries
        plant("duplicate annotation id")
        image(900, "listed_never_written.jpg", None)
        annotation(900, 8, xywh(BOX_A))
        plant("image file missing")
        image(901, "../../outside.jpg", None)
        write(root.parent / "outside.jpg", photo(901, [BOX_A]))  # exists, but outside the dataset
        annotation(901, 8, xywh(BOX_A))
        plant("path escapes dataset folder")
        image(902, "truncated.jpg", photo(902, [BOX_A])[:300])
        annotation(902, 6, xywh(BOX_A))
        plant("unreadable image")
        annotation(3, 0, "10 10 20 20")  # a box as a string
        annotations.append(["not", "an", "object"])
        annotation(3, 0, [1, 2, 3])
        plant("malformed annotation")
        plant("malformed annotation")
        plant("malformed annotation")
        annotation(3, 0, None)
        del annotations[-1]["bbox"]
        plant("no bounding box")
    data = {
        "info": {"year": 2020, "version": "1.0", "description": "fixture"},
        "licenses": [{"id": 1, "name": "CC BY 2.0"}],
        "images": images,
        "annotations": annotations,
        "categories": COCO_CATEGORIES,
        "attributes": [{"id": 0, "name": "classic (t-shirt)", "supercategory": "nickname", "level": 1}],
    }
    write(root / "annotations/instances_train.json", json.dumps(data))
    return planted


# --- DeepFashion2 ----------------------------------------------------------------------------------
# github.com/switchablenorms/DeepFashion2, README "Data Organization": image/NNNNNN.jpg beside
# annos/NNNNNN.json, whose item1, item2, … are the garments.
DF2_MAPPING = (
    "classes:\n  top: [short sleeve top, long sleeve top]\n  dress: [short sleeve dress]\n"
    "  trousers: [trousers]\n  skirt: [skirt]\n"
)
DF2_OPTIONS = DeepFashion2Options(min_box_side=8, max_occlusion=2, viewpoints=[2, 3])
DF2_GARMENTS = [(1, "short sleeve top"), (8, "trousers"), (9, "skirt"), (10, "short sleeve dress")]


def df2_item(category: tuple[int, str], box, **extra) -> dict:
    x1, y1, x2, y2 = box
    item = {
        "category_id": category[0],
        "category_name": category[1],
        "style": 1,
        "bounding_box": list(box),
        "landmarks": [x1 + 2, y1 + 2, 2, x2 - 2, y1 + 2, 2, x1 + 2, y2 - 2, 1],
        "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]],
        "scale": 2,
        "occlusion": 1,
        "zoom_in": 1,
        "viewpoint": 2,
    }
    item.update(extra)
    return item


def deepfashion2(root: Path, photos: int = 6, bad: bool = True) -> dict:
    """One DeepFashion2 set (as train/): photo k wears garments k and k+1 of DF2_GARMENTS (two crops)."""
    planted: dict[str, int] = {}
    number = 0

    def add(items: dict, data: bytes | None, *, raw: str | None = None) -> str:
        nonlocal number
        number += 1
        stem = f"{number:06d}"
        if data is not None:
            write(root / f"image/{stem}.jpg", data)
        write(root / f"annos/{stem}.json", raw if raw is not None else json.dumps(items))
        return stem

    def plant(reason: str, n: int = 1) -> None:
        planted[reason] = planted.get(reason, 0) + n

    for k in range(photos):
        first, second = DF2_GARMENTS[k % 4], DF2_GARMENTS[(k + 1) % 4]
        items = {"source": "user" if k % 2 else "shop", "pair_id": k // 2 + 1}
        items |= {"item1": df2_item(first, BOX_A), "item2": df2_item(second, BOX_B)}
        add(items, photo(100 + k, [BOX_A, BOX_B]))
    if bad:
        base = {"source": "user", "pair_id": 99}
        add(base | {"item1": df2_item((6, "sling"), BOX_A)}, photo(200, [BOX_A]))  # not in DF2_MAPPING
        add(base | {"item1": df2_item((9, "cape"), BOX_A)}, photo(201, [BOX_A]))  # not one of the 13
        plant("category not mapped to a class", 2)
        add(base | {"item1": df2_item(DF2_GARMENTS[0], BOX_A, occlusion=3)}, photo(202, [BOX_A]))
        plant("occlusion above max_occlusion")
        add(base | {"item1": df2_item(DF2_GARMENTS[1], BOX_A, viewpoint=1)}, photo(203, [BOX_A]))
        plant("viewpoint not allowed")
        add(base | {"item1": df2_item(DF2_GARMENTS[2], (30, 30, 30, 60))}, photo(204, [BOX_A]))
        plant("bounding box has zero area")
        add(base | {"item1": df2_item(DF2_GARMENTS[2], (30, 30, 34, 60))}, photo(205, [BOX_A]))
        plant("box side under min_box_side")
        add(base | {"item1": df2_item(DF2_GARMENTS[3], (300, 300, 340, 360))}, photo(206, [BOX_A]))
        plant("bounding box outside the image")
        add(base | {"item1": df2_item(DF2_GARMENTS[0], BOX_A), "item2": df2_item(DF2_GARMENTS[1], BOX_B)}, None)
        plant("image file missing", 2)  # listed, never written: both its items
        add({}, photo(207, [BOX_A]), raw='{"source": "user", "item1": {"category_name": ')  # cut short
        plant("malformed annotation file")
        good = json.dumps(df2_item(DF2_GARMENTS[3], BOX_A))
        add({}, photo(208, [BOX_A]), raw=f'{{"source": "shop", "pair_id": 7, "item1": {good}, "item1": {good}}}')
        plant("duplicate annotation")  # the second item1 (the first is kept)
        add(base | {"item1": "short sleeve top", "item2": df2_item(DF2_GARMENTS[0], BOX_A, occlusion="heavy")}, None)
        plant("malformed annotation", 2)
        add(base, photo(209, [BOX_A]))
        plant("no items")
        add(base | {"item1": df2_item(DF2_GARMENTS[1], BOX_A)}, photo(210, [BOX_A])[:300])
        plant("unreadable image")
    write(root / "image/999999.jpg", photo(999, [BOX_A]))  # an image without annotations: not listed anywhere
    return planted


# --- ImageFolder ----------------------------------------------------------------------------------
# torchvision.datasets.ImageFolder (pytorch.org/vision/stable/generated/torchvision.datasets.ImageFolder.html):
# root/<class>/<image>, any depth below the class folder.
FOLDER_MAPPING = "classes:\n  top: [tops]\n  dress: [dresses]\n  trousers: [trousers]\n  skirt: [skirts]\n"
FOLDERS = ("tops", "dresses", "trousers", "skirts")


def imagefolder(root: Path, per_class: int = 4, bad: bool = True, size=(48, 64)) -> dict:
    """root/<folder>/<n>.jpg per class; the last image of each class in a sub folder, one saved as PNG."""
    planted: dict[str, int] = {}
    for k, folder in enumerate(FOLDERS):
        for n in range(per_class):
            seed = 1000 + 10 * k + n
            if n == per_class - 1:
                buffer = io.BytesIO()
                garment(seed, size).save(buffer, format="PNG")
                write(root / folder / "more" / f"{n}.PNG", buffer.getvalue())  # upper-case extension: kept
            else:
                write(root / folder / f"{n}.jpg", jpeg(garment(seed, size)))
    write(root / ".DS_Store", b"\x00\x00\x00\x01Bud1")  # hidden: not part of the dataset
    write(root / "tops/.hidden/x.jpg", jpeg(garment(1, size)))
    if bad:
        write(root / "kimonos/0.jpg", jpeg(garment(1100, size)))
        planted["category not mapped to a class"] = 1
        write(root / "stray.jpg", jpeg(garment(1101, size)))
        planted["not in a class folder"] = 1
        write(root / "README.txt", "Scraped 2024; one folder per category.\n")
        write(root / "dresses/notes.pdf", b"%PDF-1.4\n")
        planted["file extension not listed"] = 2
        write(root / "skirts/broken.jpg", jpeg(garment(1102, size))[:200])
        write(root / "trousers/empty.png", b"")
        planted["unreadable image"] = 2
        (root / "tops/elsewhere.jpg").symlink_to(root.parent / "elsewhere.jpg")  # a link out of the dataset
        write(root.parent / "elsewhere.jpg", jpeg(garment(1103, size)))
        planted["path escapes dataset folder"] = 1
    return planted


# --- CSV (Kaggle Fashion Product Images) -----------------------------------------------------------
# kaggle.com/datasets/paramaggarwal/fashion-product-images-dataset (and its -small version):
# styles.csv beside images/<id>.jpg; productDisplayName is quoted when it holds a comma.
STYLES_HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"
STYLES_MAPPING = (
    "classes:\n  top: [Tshirts, Tops]\n  dress: [Dresses]\n  trousers: [Jeans, Trousers]\n  skirt: [Skirts]\n"
)
STYLES_OPTIONS = CsvOptions(
    file="styles.csv", image_column="id", image_template="images/{}.jpg", label_column="articleType"
)
ARTICLES = [
    ("Men", "Apparel", "Topwear", "Tshirts", "Navy Blue", "Fall", "2011", "Casual", "Turtle Check Men Navy Blue Shirt"),
    ("Women", "Apparel", "Dress", "Dresses", "Red", "Summer", "2012", "Party", "Tokyo Talkies Women Red Dress"),
    ("Men", "Apparel", "Bottomwear", "Jeans", "Blue", "Winter", "2016", "Casual", "Peter England Men Party Blue Jeans"),
    ("Women", "Apparel", "Bottomwear", "Skirts", "Black", "Summer", "2012", "Casual", "Vero Moda Women Black Skirt"),
]


def styles(root: Path, per_class: int = 3, bad: bool = True, bom: bool = False) -> dict:
    """styles.csv and images/<id>.jpg as Kaggle publishes them; product names with commas quoted."""
    rows, planted = [], {}
    number = 15970  # Kaggle's ids are numbers like these
    for k, article in enumerate(ARTICLES):
        for n in range(per_class):
            number += 1
            name = article[-1] if n else f"{article[-1]}, Pack of 2"  # a comma: the field is quoted
            rows.append([str(number), *article[:-1], name])
            write(root / f"images/{number}.jpg", jpeg(garment(2000 + 10 * k + n, (60, 80))))
    lines = [STYLES_HEADER, *(_csv_line(r) for r in rows)]
    if bad:
        lines.append("39386,Men,Accessories,Watches,Watches,Black,Winter,2016,Casual,Titan Men Black Watch")
        write(root / "images/39386.jpg", jpeg(garment(2100, (60, 80))))
        planted["category not mapped to a class"] = 1
        lines.append("12345,Men,Apparel,Topwear,Tshirts,Red,Fall,2011,Casual,Listed But Never Photographed")
        planted["image file missing"] = 1
        lines.append("23456,Women,Apparel,Topwear,Tops,White,Fall,2011,Casual,Name, With An Unquoted Comma")
        lines.append("34567,Women,Apparel,Topwear,Tops,White")  # cut short
        lines.append(",Women,Apparel,Topwear,Tops,White,Fall,2011,Casual,No Id")
        planted["malformed row"] = 3
        lines.append(_csv_line(rows[0]))  # the same row again
        planted["duplicate annotation row"] = 1
        lines.append(_csv_line([rows[per_class][0], *ARTICLES[2][:-1], "Relabelled"]))  # a dress, now also jeans
        planted["image listed under several classes"] = 2
        lines.append("../../secret,Men,Apparel,Topwear,Tshirts,Red,Fall,2011,Casual,Escapes")
        planted["path escapes dataset folder"] = 1
        lines.append("45678,Men,Apparel,Topwear,Tshirts,Red,Fall,2011,Casual,Truncated Photo")
        write(root / "images/45678.jpg", jpeg(garment(2101, (60, 80)))[:250])
        planted["unreadable image"] = 1
        lines.append("")  # a blank line carries nothing
    text = "\r\n".join(lines) + "\r\n"
    write(root / "styles.csv", ("\ufeff" if bom else "") + text)
    return planted


def _csv_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()
