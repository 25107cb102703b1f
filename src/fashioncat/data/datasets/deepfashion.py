"""DeepFashion "Category and Attribute Prediction" benchmark layout.

    img/<folder>/img_00000001.jpg
    Anno/list_category_cloth.txt   category_name category_type   (id = row number)
    Anno/list_category_img.txt     image_name category_label
    Anno/list_bbox.txt             image_name x_1 y_1 x_2 y_2
    Eval/list_eval_partition.txt   image_name evaluation_status  (not used: we resplit)

Every list file starts with a count line and a header line. Both are checked: a count that
disagrees with the rows, or a header line that is missing (its place taken by the first
row), means rows were lost or added, and is a one-line error naming the file and line.
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
REQUIRED = (CLOTH, CATEGORY, BBOX)
HEADERS = {
    CLOTH: ("category_name", "category_type"),
    CATEGORY: ("image_name", "category_label"),
    BBOX: ("image_name", "x_1", "y_1", "x_2", "y_2"),
}


def check_layout(root: Path) -> None:
    """Raise unless `root` holds the annotation files the reader needs."""
    missing = [name for name in REQUIRED if not (root / name).is_file()]
    if missing:
        raise FashionError(f"{root}: not a DeepFashion folder, missing {', '.join(missing)}")


def rows(root: Path, name: str, width: int) -> Iterator[tuple[str, list[str] | None]]:
    """Yield ("file:line", fields) per data row; fields is None when the row is malformed.

    Raises a FashionError naming the file and line when the count line is not a number,
    the header line is not the file's column names, or, once all rows are read, the
    count disagrees with them (blank lines may count as rows or not).
    """
    path = root / name
    count, number, found, blank = None, 0, 0, 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if number == 1:
                count = _count(path, line)
            elif number == 2:
                _header(path, name, line)
            elif not line.strip():
                blank += 1  # blank lines carry nothing
            else:
                found += 1
                fields = line.split()
                yield f"{name}:{number}", fields if len(fields) == width else None
    if number == 0:
        raise FashionError(f"{path}: empty; a DeepFashion list file starts with a count line and a header line")
    if number == 1:
        raise FashionError(f"{path}:2: header line missing (expected {' '.join(HEADERS.get(name, ()))!r})")
    if count not in (found, found + blank):
        raise FashionError(
            f"{path}:1: the count line says {count} rows but the file has {found}: rows were lost or added "
            "(a cut or edited file?)"
        )


def _count(path: Path, line: str) -> int:
    text = line.strip().lstrip("\ufeff")  # a byte-order mark from an editor
    if not (text.isascii() and text.isdigit()):
        raise FashionError(f"{path}:1: expected the number of rows, got {_shown(text)}")
    return int(text)


def _header(path: Path, name: str, line: str) -> None:
    expected = HEADERS.get(name)
    if expected is not None and tuple(line.split()) != expected:
        raise FashionError(
            f"{path}:2: expected the header line {' '.join(expected)!r}, got {_shown(line.strip())} "
            "(a missing header would make the first row vanish)"
        )


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


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
