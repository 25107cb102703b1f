"""The images to annotate: a folder, .txt list or .csv read into `Item`s, and the links Label Studio reaches them by.

A folder gives every image below it, at any depth; a .txt list one path per line; a
.csv a column `image` (or `path`) and optionally a box per row. Relative entries are
relative to the list's own folder. Every problem is a `FashionError` naming the file
and line, raised before a model is loaded.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fashioncat.annotate import label_studio
from fashioncat.data.records import Box
from fashioncat.errors import FashionError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
PATH_COLUMNS = ("image", "path")  # the first one present in an input CSV names the images
BOX_COLUMNS = ("x_1", "y_1", "x_2", "y_2")


@dataclass(frozen=True)
class Item:
    """One image to annotate. `path` is how the output names it (and how --resume recognises it)."""

    path: str
    file: Path
    box: Box | None = None

    @property
    def key(self) -> tuple[str, Box | None]:
        # the same photo may be listed once per garment box, so the box is part of the identity
        return self.path, self.box


# ---- listing ------------------------------------------------------------------------------------------------


def gather(source: str | Path) -> tuple[list[Item], bool]:
    """The images a folder, .txt list or .csv names, and whether the input gives boxes."""
    source = Path(source)
    if source.is_dir():
        return _folder(source), False
    if source.suffix.lower() not in (".txt", ".csv"):
        what = "does not exist" if not source.exists() else "is not a folder, .txt list or .csv"
        raise FashionError(f"{source}: {what}")
    try:
        with open(source, newline="", encoding="utf-8-sig") as f:  # -sig: CSVs saved by Excel start with a BOM
            return (_text_list(source, f), False) if source.suffix.lower() == ".txt" else _csv_list(source, f)
    except FileNotFoundError:
        raise FashionError(f"{source}: image list does not exist") from None
    except UnicodeDecodeError as exc:
        raise FashionError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _folder(folder: Path) -> list[Item]:
    """Images under `folder` at any depth, in a stable (sorted) order."""
    found = []

    def unreadable(exc: OSError) -> None:  # a subfolder we may not list is reported, not fatal
        print(f"warning: {exc.filename}: cannot list folder ({exc.strerror})", file=sys.stderr)

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                path = Path(root) / name
                found.append(Item(str(path), path))
    if not found:
        raise FashionError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} at any depth)")
    return found


def _resolve(listing: Path, entry: str) -> Path:
    """Relative entries are relative to the list's own folder, so a list works from any directory."""
    path = Path(entry).expanduser()
    return path if path.is_absolute() else listing.parent / path


def _text_list(listing: Path, lines) -> list[Item]:
    """One path per line; blank lines and lines starting with # are skipped."""
    entries = [line.strip() for line in lines]
    items = [Item(e, _resolve(listing, e)) for e in entries if e and not e.startswith("#")]
    if not items:
        raise FashionError(f"{listing}: lists no images")
    return items


def _csv_list(listing: Path, f) -> tuple[list[Item], bool]:
    reader = csv.DictReader(f)
    header = reader.fieldnames or []
    column = next((c for c in PATH_COLUMNS if c in header), None)
    if column is None:
        raise FashionError(f"{listing}:1: needs a column named {' or '.join(PATH_COLUMNS)} (has: {', '.join(header)})")
    present = [c for c in BOX_COLUMNS if c in header]
    if present and len(present) < len(BOX_COLUMNS):
        missing = [c for c in BOX_COLUMNS if c not in header]
        raise FashionError(f"{listing}:1: box columns come as a set; {', '.join(missing)} missing")
    items = []
    try:
        for row in reader:
            entry = (row.get(column) or "").strip()
            if not entry:
                raise FashionError(f"{listing}:{reader.line_num}: empty {column}")
            box = _box(listing, reader.line_num, row) if present else None
            items.append(Item(entry, _resolve(listing, entry), box))
    except csv.Error as exc:
        raise FashionError(f"{listing}:{reader.line_num}: not valid CSV ({exc})") from None
    if not items:
        raise FashionError(f"{listing}: lists no images")
    return items, bool(present)


def _box(listing: Path, line: int, row: dict) -> Box | None:
    """The row's box in pixels; all four cells empty means the whole image."""
    cells = [(row.get(c) or "").strip() for c in BOX_COLUMNS]
    if not any(cells):
        return None
    try:
        x1, y1, x2, y2 = (int(cell) for cell in cells)
    except ValueError:
        raise FashionError(
            f"{listing}:{line}: box {' '.join(cells) or '(empty)'} must be four whole numbers "
            f"x_1 y_1 x_2 y_2 (or all empty)"
        ) from None
    if min(x1, y1) < 0 or x2 <= x1 or y2 <= y1:
        raise FashionError(
            f"{listing}:{line}: box {x1} {y1} {x2} {y2} is not a box (need 0 <= x_1 < x_2 and 0 <= y_1 < y_2)"
        )
    return x1, y1, x2, y2


# ---- links for Label Studio ---------------------------------------------------------------------------------


def is_url(image_root: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", image_root) is not None


def image_links(items: Sequence[Item], image_root: str | None) -> dict[str, str]:
    """How Label Studio reaches each image (by `Item.path`), checked for every image before the run.

    `image_root` a URL: URL/<path>, where no path may hold '..' (the link would leave the
    root). Otherwise a folder, by default the images' common folder: links to Label Studio's
    local-files server relative to it, for LOCAL_FILES_DOCUMENT_ROOT=<that folder>; an image
    outside it is refused.
    """
    if image_root and is_url(image_root):
        for item in items:
            if ".." in re.split(r"[/\\]", item.path):
                raise FashionError(
                    f"{item.path}: '..' in an image path would lead its link out of --image-root {image_root}; "
                    "name the images without '..' (run from a folder above them)"
                )
        return {item.path: label_studio.image_reference(item.path, image_root) for item in items}
    folder = image_root or default_image_root(items)
    return {item.path: label_studio.local_file(_below(item, folder)) for item in items}


def default_image_root(items: Sequence[Item]) -> str:
    """The folder all the images are in, at any depth: the document root their links need."""
    return os.path.commonpath([os.path.dirname(os.path.abspath(item.file)) for item in items]) if items else "."


def _below(item: Item, folder: str) -> str:
    """`item`'s file relative to `folder`, as a '/' path; a FashionError if it is not below it."""
    for form in (os.path.abspath, os.path.realpath):  # as written first; through links when that fails
        relative = os.path.relpath(form(item.file), form(folder))
        if relative != ".." and not relative.startswith(".." + os.sep) and not os.path.isabs(relative):
            return Path(relative).as_posix()
    raise FashionError(
        f"{item.path}: not below {folder}, the folder Label Studio serves the images from "
        "(LOCAL_FILES_DOCUMENT_ROOT); give --image-root a folder that holds every image"
    )
