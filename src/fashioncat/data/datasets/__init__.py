"""Readers for the dataset formats: each returns records and counted drops.

Every reader has one shape, `read(root, classmap[, options])`, and returns the same `Parsed`
records (image, class, box, origin, item); crop, balance and split never know the format.
Each format's options are typed and checked in `fashioncat.config` (OPTIONS).
"""

from __future__ import annotations

from pathlib import Path

from fashioncat.data.classmap import ClassMap
from fashioncat.data.datasets import coco, csv_table, deepfashion, deepfashion2, imagefolder, imaterialist
from fashioncat.data.records import Parsed
from fashioncat.errors import FashionError

READERS = {
    "deepfashion": lambda root, classmap, options: deepfashion.read(root, classmap),
    "imaterialist": lambda root, classmap, options: imaterialist.read(root, classmap),
    "coco": coco.read,
    "deepfashion2": deepfashion2.read,
    "imagefolder": imagefolder.read,
    "csv": csv_table.read,
}
# The formats the download stage copies whole from a folder or archive, with the check of their layout.
LAYOUTS = {
    "coco": coco.check_layout,
    "deepfashion2": deepfashion2.check_layout,
    "imagefolder": imagefolder.check_layout,
    "csv": csv_table.check_layout,
}


def read(fmt: str, root: Path, classmap: ClassMap, options=None) -> Parsed:
    """Read the dataset of format `fmt` under `root` into records; `options` as config.OPTIONS[fmt] (None: defaults)."""
    if fmt not in READERS:
        raise FashionError(f"unknown dataset format {fmt!r} (known: {', '.join(READERS)})")
    return READERS[fmt](Path(root), classmap, options)
