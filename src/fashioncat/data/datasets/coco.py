"""COCO instances JSON (cocodataset.org/#format-data): Fashionpedia, ModaNet, or DeepFashion2
converted by its evaluation/deepfashion2_to_coco.py.

    <options.annotations>   {"images":      [{"id", "file_name", "width", "height"}],
                             "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h],
                                              "area", "iscrowd", "segmentation"}],
                             "categories":  [{"id", "name", "supercategory"}]}
    <options.images>/<file_name>

Every annotation is one garment and becomes one record, so one crop: a photo of a blouse and
a skirt gives two. The crops of one photo share the digest of its pixels (their `group`), and
`split` never divides a group, so they always land in the same split.
"""

from __future__ import annotations

from pathlib import Path

from fashioncat.config import CocoOptions
from fashioncat.data.classmap import ClassMap
from fashioncat.data.datasets import json_file
from fashioncat.data.datasets.checks import (
    MALFORMED,
    ImageFiles,
    box_problem,
    check_mapping,
    corners,
    named_file,
    pixel_box,
    printable,
    single_file,
)
from fashioncat.data.records import Drop, Parsed, Record
from fashioncat.errors import FashionError

ANNOTATIONS = "annotations"  # where COCO releases keep the JSON, beside the image folders
CONFLICT = object()  # an image id listed twice with different files


def check_layout(root: Path) -> None:
    """Raise unless `root` holds an annotation JSON at the top or in annotations/."""
    folders = [f for f in (root, root / ANNOTATIONS) if f.is_dir()]
    if not any(p.suffix.lower() == ".json" for folder in folders for p in folder.iterdir()):
        raise FashionError(f"{root}: not a COCO folder, no annotation JSON at the top or in {ANNOTATIONS}/")


def annotation_file(root: Path, options: CocoOptions) -> Path:
    if options.annotations:
        return named_file(root, options.annotations, "COCO annotations", "annotations")
    return single_file(root, [ANNOTATIONS], ".json", "COCO annotation JSON", "annotations")


def is_id(value) -> bool:
    """COCO ids are integers; some tools write strings. Neither true/false nor 1.0 is an id."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value != "" and printable(value) == value
    )


def load(path: Path) -> dict:
    data = json_file.load(path)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise FashionError(
            f"{path}: not a COCO instances file "
            "(expected an object with 'images', 'annotations' and 'categories' lists)"
        )
    return data


def categories(path: Path, entries: list, field: str) -> dict:
    """category id -> the value the class mapping names (None when the category lacks the field)."""
    found = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not is_id(entry.get("id")) or not isinstance(entry.get("name"), str):
            raise FashionError(f"{path}: categories[{index}] is not an object with an id and a name")
        if entry["id"] in found:
            raise FashionError(f"{path}: categories[{index}]: category id {entry['id']!r} is listed twice")
        value = str(entry["id"]) if field == "id" else entry.get(field)
        found[entry["id"]] = value if isinstance(value, str) else None
    return found


def images(entries: list) -> dict:
    """image id -> file_name, or None for an entry without a usable file_name, or CONFLICT."""
    found: dict = {}
    for entry in entries:
        if not isinstance(entry, dict) or not is_id(entry.get("id")):
            continue  # annotations naming it are dropped as "unknown image id"
        name = entry.get("file_name") if isinstance(entry.get("file_name"), str) else None
        image_id = entry["id"]
        found[image_id] = name if found.get(image_id, name) == name else CONFLICT
    return found


def read(root: Path, classmap: ClassMap, options: CocoOptions | None = None) -> Parsed:
    """One record per annotation whose category maps to a class and whose box and image are usable."""
    options = options or CocoOptions()
    path = annotation_file(root, options)
    shown = printable(path.relative_to(root).as_posix())
    data = load(path)
    labels = categories(path, data["categories"], options.category_field)
    check_mapping(classmap, {v for v in labels.values() if v is not None}, f"{path} (its {options.category_field}s)")
    files = images(data["images"])
    finder = ImageFiles(root)
    parsed, seen = Parsed(), set()
    for index, entry in enumerate(data["annotations"]):
        origin = f"{shown}: annotations[{index}]"
        found = _entry(origin, entry, labels, files, finder, options, classmap, seen)
        (parsed.records if isinstance(found, Record) else parsed.drops).append(found)
    return parsed


def _entry(origin, entry, labels, files, finder, options, classmap, seen) -> Record | Drop:
    if not isinstance(entry, dict) or not is_id(entry.get("id")):
        return Drop(origin, MALFORMED)
    if entry["id"] in seen:  # two garments under one id: which crop would it name?
        return Drop(origin, "duplicate annotation id", detail=printable(str(entry["id"])))
    seen.add(entry["id"])
    image_id, category_id = entry.get("image_id"), entry.get("category_id")
    if not is_id(image_id) or not is_id(category_id):
        return Drop(origin, MALFORMED)
    if image_id not in files:
        return Drop(origin, "unknown image id", detail=printable(str(image_id)))
    if category_id not in labels:
        return Drop(origin, "unknown category id", detail=printable(str(category_id)))
    value = labels[category_id]
    label = classmap.classify([value])[0] if value is not None else None
    if label is None:
        return Drop(origin, "category not mapped to a class", detail=printable(str(value)))
    crowd = entry.get("iscrowd", 0)
    if crowd not in (0, 1):
        return Drop(origin, MALFORMED, label)
    if crowd == 1 and options.crowd == "drop":
        return Drop(origin, "crowd annotation", label)
    if "bbox" not in entry:
        return Drop(origin, "no bounding box", label)
    box = corners(entry["bbox"], "xywh")
    if box is None:
        return Drop(origin, MALFORMED, label)
    problem = box_problem(box, options.min_box_side)
    if problem:
        return Drop(origin, problem, label, " ".join(f"{v:g}" for v in box))
    name = files[image_id]
    if name is CONFLICT:
        return Drop(origin, "image id listed twice", label, printable(str(image_id)))
    image, problem = finder.find(_joined(options.images, name) if name is not None else None)
    if problem:
        return Drop(origin, problem, label, printable(name or ""))
    return Record(image, label, origin, pixel_box(box), item=str(entry["id"]))


def _joined(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if folder else name
