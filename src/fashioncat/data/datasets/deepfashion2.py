"""DeepFashion2 (github.com/switchablenorms/DeepFashion2, README "Data Organization"), one set of it:

    image/000001.jpg
    annos/000001.json   {"source": "user" | "shop", "pair_id": 1,
                         "item1": {"category_id": 1, "category_name": "short sleeve top", "style": 0,
                                   "bounding_box": [x1, y1, x2, y2], "landmarks": [...], "segmentation": [[...]],
                                   "scale": 1-3, "occlusion": 1-3, "zoom_in": 1-3, "viewpoint": 1-3},
                         "item2": {...}, ...}

Point `location` at train/ or validation/ (test/ has no annotations). Every item is one garment
and becomes one record, so one crop; the crops of one photo share its pixels' digest and so
always land in the same split. Occlusion: 1 slight, 2 medium, 3 heavy; viewpoint: 1 no wear,
2 frontal, 3 side or back.
"""

from __future__ import annotations

import re
from pathlib import Path

from fashioncat.config import DeepFashion2Options
from fashioncat.data.classmap import ClassMap
from fashioncat.data.datasets import json_file
from fashioncat.data.datasets.checks import (
    MALFORMED,
    ImageFiles,
    box_problem,
    check_mapping,
    corners,
    pixel_box,
    printable,
)
from fashioncat.data.records import Drop, Parsed, Record
from fashioncat.errors import FashionError

IMAGES, ANNOS = "image", "annos"
# category_id 1-13, in order (the names the annotation files use; deepfashion2_to_coco.py renames them)
CATEGORIES = (
    "short sleeve top",
    "long sleeve top",
    "short sleeve outwear",
    "long sleeve outwear",
    "vest",
    "sling",
    "shorts",
    "trousers",
    "skirt",
    "short sleeve dress",
    "long sleeve dress",
    "vest dress",
    "sling dress",
)
ITEM = re.compile(r"item([1-9][0-9]{0,5})")


def check_layout(root: Path) -> None:
    """Raise unless `root` holds image/ and annos/."""
    missing = [name for name in (IMAGES, ANNOS) if not (root / name).is_dir()]
    if missing:
        raise FashionError(
            f"{root}: not a DeepFashion2 set, missing {' and '.join(m + '/' for m in missing)} "
            "(point location at train/ or validation/)"
        )


def read(root: Path, classmap: ClassMap, options: DeepFashion2Options | None = None) -> Parsed:
    """One record per item whose category maps to a class and that passes the options' filters."""
    options = options or DeepFashion2Options()
    check_layout(root)
    check_mapping(classmap, CATEGORIES, "DeepFashion2's 13 categories")
    parsed, finder = Parsed(), ImageFiles(root)
    for path in sorted(p for p in (root / ANNOS).iterdir() if p.suffix == ".json" and not p.name.startswith(".")):
        shown = f"{ANNOS}/{printable(path.name)}"
        try:
            data = json_file.load(path, keep_repeats=True)
        except FashionError as exc:
            detail = printable(str(exc).replace(str(path), shown, 1))  # the same wherever the folder is
            parsed.drops.append(Drop(shown, "malformed annotation file", detail=detail))
            continue
        if not isinstance(data, dict):
            parsed.drops.append(Drop(shown, "malformed annotation file", detail="not a JSON object"))
            continue
        items = sorted((k for k in data if ITEM.fullmatch(k)), key=lambda k: int(k[4:]))
        if not items:
            parsed.drops.append(Drop(shown, "no items"))
            continue
        image = f"{IMAGES}/{path.stem}.jpg"
        for key in items:
            found = _item(f"{shown}: {key}", key, data[key], image, finder, options, classmap)
            (parsed.records if isinstance(found, Record) else parsed.drops).append(found)
        parsed.drops += [Drop(f"{shown}: {k}", "duplicate annotation") for k in data.repeated if ITEM.fullmatch(k)]
    return parsed


def _level(item: dict, name: str) -> int | None:
    value = item.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 3 else None


def _item(origin, key, item, image, finder, options, classmap) -> Record | Drop:
    if not isinstance(item, dict) or not isinstance(item.get("category_name"), str):
        return Drop(origin, MALFORMED)
    name = item["category_name"]
    label = classmap.classify([name])[0]
    if label is None:
        return Drop(origin, "category not mapped to a class", detail=printable(name))
    occlusion, viewpoint = _level(item, "occlusion"), _level(item, "viewpoint")
    if occlusion is None or viewpoint is None:
        return Drop(origin, MALFORMED, label)
    if occlusion > options.max_occlusion:
        return Drop(origin, "occlusion above max_occlusion", label, str(occlusion))
    if viewpoint not in options.viewpoints:
        return Drop(origin, "viewpoint not allowed", label, str(viewpoint))
    if "bounding_box" not in item:
        return Drop(origin, "no bounding box", label)
    box = corners(item["bounding_box"])
    if box is None:
        return Drop(origin, MALFORMED, label)
    problem = box_problem(box, options.min_box_side)
    if problem:
        return Drop(origin, problem, label, " ".join(f"{v:g}" for v in box))
    path, problem = finder.find(image)
    if problem:
        return Drop(origin, problem, label, printable(image))
    return Record(path, label, origin, pixel_box(box), item=key)
