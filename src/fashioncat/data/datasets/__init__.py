"""Readers for the dataset formats: each returns records and counted drops."""

from __future__ import annotations

from pathlib import Path

from fashioncat.data.classmap import ClassMap
from fashioncat.data.datasets import deepfashion, imaterialist
from fashioncat.data.records import Parsed
from fashioncat.errors import FashionError


def read(fmt: str, root: Path, classmap: ClassMap) -> Parsed:
    """Read the dataset of format `fmt` under `root` into records."""
    readers = {"deepfashion": deepfashion.read, "imaterialist": imaterialist.read}
    if fmt not in readers:
        raise FashionError(f"unknown dataset format {fmt!r} (known: {', '.join(readers)})")
    return readers[fmt](Path(root), classmap)
