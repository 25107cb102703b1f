"""DeepFashion "Category and Attribute Prediction" benchmark layout.

    img/<folder>/img_00000001.jpg
    Anno/list_category_cloth.txt   category_name category_type   (id = row number)
    Anno/list_category_img.txt     image_name category_label
    Anno/list_bbox.txt             image_name x_1 y_1 x_2 y_2
    Eval/list_eval_partition.txt   image_name evaluation_status  (not used: we resplit)

Every list file starts with a count line and a header line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fashioncat.data.classmap import ClassMap
from fashioncat.data.records import Drop, Parsed, Record
from fashioncat.errors import FashionError
from fashioncat.io import contained

CLOTH = "Anno/list_category_cloth.txt"
CATEGORY = "Anno/list_category_img.txt"
BBOX = "Anno/list_bbox.txt"
PARTITION = "Eval/list_eval_partition.txt"
REQUIRED = (CLOTH, CATEGORY, BBOX)


def check_layout(root: Path) -> None:
    """Raise unless `root` holds the annotation files the reader needs."""
    missing = [name for name in REQUIRED if not (root / name).is_file()]
    if missing:
        raise FashionError(f"{root}: not a DeepFashion folder, missing {', '.join(missing)}")


def rows(root: Path, name: str, width: int) -> Iterator[tuple[str, list[str] | None]]:
    """Yield ("file:line", fields) per data row; fields is None when the row is malformed."""
    path = root / name
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if number <= 2 or not line.strip():
                continue  # the count and the column names
            fields = line.split()
            yield f"{name}:{number}", fields if len(fields) == width else None


def category_names(root: Path) -> list[str]:
    names = []
    for origin, fields in rows(root, CLOTH, 2):
        if fields is None:
            raise FashionError(f"{root / origin}: expected 'category_name category_type'")
        names.append(fields[0])
    return names


def boxes(root: Path) -> tuple[dict[str, tuple[int, int, int, int]], list[Drop]]:
    found, bad = {}, []
    for origin, fields in rows(root, BBOX, 5):
        try:
            x1, y1, x2, y2 = (int(v) for v in fields[1:])  # type: ignore[index]
        except (TypeError, ValueError):
            bad.append(Drop(origin, "malformed annotation line"))
            continue
        name = os.path.normpath(fields[0])  # img/a.jpg and img//a.jpg are one file
        if name in found:  # the first box is kept, as the first category row is
            bad.append(Drop(origin, "duplicate bounding box row", detail=fields[0]))
            continue
        found[name] = (x1, y1, x2, y2)
    return found, bad


def read(root: Path, classmap: ClassMap) -> Parsed:
    check_layout(root)
    names = category_names(root)
    unknown = sorted(set(classmap.lookup) - set(names))
    if unknown:
        raise FashionError(f"{classmap.path}: categories {', '.join(unknown)} are not in {root / CLOTH}")
    box_of, parsed_drops = boxes(root)
    parsed = Parsed(drops=parsed_drops)
    results = [_entry(root, origin, fields, names, box_of, classmap) for origin, fields in rows(root, CATEGORY, 2)]
    for record_or_drop in _once_per_image(results):
        (parsed.records if isinstance(record_or_drop, Record) else parsed.drops).append(record_or_drop)
    return parsed


def _once_per_image(results: list[Record | Drop]) -> list[Record | Drop]:
    """An image listed on several rows is kept once; listed under two classes, it is kept nowhere.

    A second row would put the same picture twice into one split (or, labelled
    differently, teach both labels); the extra rows are dropped and counted.
    """
    key = lambda r: os.path.normpath(r.image)  # img/a.jpg and img//a.jpg are one file
    classes: dict[str, set[str]] = {}
    for r in results:
        if isinstance(r, Record):
            classes.setdefault(key(r), set()).add(r.label)
    seen: set[str] = set()
    out = []
    for r in results:
        if not isinstance(r, Record):
            out.append(r)
        elif len(classes[key(r)]) > 1:
            out.append(Drop(r.origin, "image listed under several classes", r.label, r.image))
        elif key(r) in seen:
            out.append(Drop(r.origin, "duplicate annotation row", r.label, r.image))
        else:
            seen.add(key(r))
            out.append(r)
    return out


def _entry(root, origin, fields, names, box_of, classmap) -> Record | Drop:
    # isdigit() alone would pass '²', which int() refuses
    if fields is None or not (fields[1].isascii() and fields[1].isdigit()) or not 1 <= int(fields[1]) <= len(names):
        return Drop(origin, "malformed annotation line")
    image, category = fields[0], names[int(fields[1]) - 1]
    if "\x00" in image:  # no file name holds one (and the OS refuses to look it up)
        return Drop(origin, "malformed annotation line")
    label, why = classmap.classify([category])
    if label is None:
        return Drop(origin, "category not mapped to a class", detail=category)
    path = contained(root, image)
    if path is None:
        return Drop(origin, "path escapes dataset folder", label, image)
    if not path.is_file():
        return Drop(origin, "image file missing", label, image)
    box = box_of.get(os.path.normpath(image))
    if box is None:
        return Drop(origin, "no bounding box", label, image)
    return Record(image, label, origin, box)
