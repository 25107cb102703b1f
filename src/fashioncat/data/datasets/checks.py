"""The checks the readers of the own-data formats share: one entry's image file, its box, its labels.

Each check answers with the reason an entry is dropped ("" when it passes), in the words the
DeepFashion reader and the crop step already count ("image file missing", "bounding box has
zero area"), so that one reason is one line of the crop report whatever the format.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

from fashioncat.data.classmap import ClassMap
from fashioncat.data.records import Box, Drop, Record
from fashioncat.errors import FashionError
from fashioncat.io import contained

MALFORMED = "malformed annotation"


def printable(text: str) -> str:
    """`text` as it can be written to a UTF-8 report: a lone surrogate (an undecodable file name,
    a JSON escape) becomes its backslash escape instead of stopping the write."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def number(value) -> float | None:
    """A finite JSON number as a float; None for anything else (true and false are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer beyond every float
        return None
    return value if math.isfinite(value) else None


def corners(values, kind: str = "xyxy") -> tuple[float, float, float, float] | None:
    """x1, y1, x2, y2 from four numbers given as corners (xyxy) or corner and size (xywh); None if malformed."""
    if not isinstance(values, list | tuple) or len(values) != 4:
        return None
    found = [number(v) for v in values]
    if any(v is None for v in found):
        return None
    x1, y1, a, b = found
    x2, y2 = (x1 + a, y1 + b) if kind == "xywh" else (a, b)
    return (x1, y1, x2, y2) if all(math.isfinite(v) for v in (x2, y2)) else None


def box_problem(box: tuple[float, float, float, float], min_side: float) -> str:
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return "bounding box has zero area"
    if min(x2 - x1, y2 - y1) < min_side:
        return "box side under min_box_side"
    return ""


def pixel_box(box: tuple[float, float, float, float]) -> Box:
    """The whole pixels a box of fractional corners touches."""
    x1, y1, x2, y2 = box
    return math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)


class ImageFiles:
    """Where each image named by an annotation lies under `root`, looked up once per name."""

    def __init__(self, root: Path):
        self.root = root
        self._seen: dict[str, tuple[str, str]] = {}

    def find(self, relative) -> tuple[str, str]:
        """(the image's path as records name it, "") or ("", why it cannot be used)."""
        if not isinstance(relative, str) or not relative or "\x00" in relative or printable(relative) != relative:
            return "", MALFORMED
        if relative not in self._seen:
            self._seen[relative] = self._look(relative)
        return self._seen[relative]

    def _look(self, relative: str) -> tuple[str, str]:
        path = contained(self.root, relative)
        if path is None:
            return "", "path escapes dataset folder"
        try:
            found = path.is_file()
        except OSError:  # a name too long for the file system
            found = False
        return (posixpath.normpath(relative.replace(os.sep, "/")), "") if found else ("", "image file missing")


def check_mapping(classmap: ClassMap, known: Iterable[str], where: str) -> None:
    """Raise unless every label the class mapping lists is one the dataset has (a typo maps nothing)."""
    unknown = sorted(set(classmap.lookup) - set(known))
    if unknown:
        listed = ", ".join(repr(printable(label)) for label in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise FashionError(f"{classmap.path}: categories {listed} are not in {where}")


def once_per_image(results: list[Record | Drop]) -> list[Record | Drop]:
    """An image on several rows is kept once; listed under two classes, it is kept nowhere.

    A second row would put the same picture twice into one split (or, labelled
    differently, teach both labels): the extra rows are dropped and counted.
    """
    classes: dict[str, set[str]] = {}
    for r in results:
        if isinstance(r, Record):
            classes.setdefault(r.image, set()).add(r.label)
    seen: set[str] = set()
    out: list[Record | Drop] = []
    for r in results:
        if not isinstance(r, Record):
            out.append(r)
        elif len(classes[r.image]) > 1:
            out.append(Drop(r.origin, "image listed under several classes", r.label, r.image))
        elif r.image in seen:
            out.append(Drop(r.origin, "duplicate annotation row", r.label, r.image))
        else:
            seen.add(r.image)
            out.append(r)
    return out


def single_file(root: Path, folders: Iterable[str], suffix: str, what: str, option: str) -> Path:
    """The one file ending in `suffix` at the top of `root` or in `folders` under it, or a one-line error."""
    found = sorted(
        p
        for folder in (root, *(root / f for f in folders))
        if folder.is_dir()
        for p in folder.iterdir()
        if p.suffix.lower() == suffix and p.is_file() and not p.name.startswith(".")
    )
    if len(found) != 1:
        names = ", ".join(printable(p.relative_to(root).as_posix()) for p in found[:5])
        raise FashionError(
            f"{root}: {'no' if not found else len(found)} {what} found{f' ({names})' if found else ''}; "
            f"name the one to read in datasets.<name>.options.{option}"
        )
    return found[0]


def named_file(root: Path, relative: str, what: str, option: str) -> Path:
    """`root/relative`, which the options name, or a one-line error."""
    path = contained(root, relative)
    if path is None or not path.is_file():
        raise FashionError(f"{root / relative}: {what} not found (datasets.<name>.options.{option})")
    return root / relative  # as the stage names it (contained() resolves: a relative root would not prefix it)
