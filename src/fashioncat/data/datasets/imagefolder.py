"""One folder per category (torchvision's ImageFolder layout); each image kept whole.

    <category>/<image>.jpg
    <category>/<any sub folders>/<image>.png

The class mapping lists folder names. Every file under the root (hidden ones and hidden folders
aside) is a record or a counted drop: an extension not listed, a file outside any class folder,
a folder the mapping does not name.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from fashioncat.config import ImageFolderOptions
from fashioncat.data.classmap import ClassMap
from fashioncat.data.datasets.checks import ImageFiles, printable
from fashioncat.data.records import Drop, Parsed, Record
from fashioncat.errors import FashionError


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"  # .DS_Store, .git, a Mac archive's resource forks


def check_layout(root: Path) -> None:
    """Raise unless `root` holds at least one folder (a category)."""
    if not root.is_dir() or not any(p.is_dir() and not _hidden(p.name) for p in root.iterdir()):
        raise FashionError(f"{root}: not an image folder dataset, no category folders in it")


def files(root: Path) -> list[str]:
    """Every non-hidden file under `root`, as sorted POSIX paths relative to it; links to folders not followed."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        base = Path(folder).relative_to(root)
        found += [(base / n).as_posix() for n in names if not _hidden(n)]
    return sorted(found)


def read(root: Path, classmap: ClassMap, options: ImageFolderOptions | None = None) -> Parsed:
    """A record per image in a folder the class mapping names."""
    options = options or ImageFolderOptions()
    check_layout(root)
    extensions = {e.lower() for e in options.extensions}
    parsed, finder = Parsed(), ImageFiles(root)
    for name in files(root):
        found = _entry(name, extensions, finder, classmap)
        (parsed.records if isinstance(found, Record) else parsed.drops).append(found)
    return parsed


def _entry(name: str, extensions: set[str], finder: ImageFiles, classmap: ClassMap) -> Record | Drop:
    shown = printable(name)
    if shown != name:
        return Drop(shown, "file name not UTF-8")
    if Path(name).suffix.lower() not in extensions:
        return Drop(name, "file extension not listed", detail=Path(name).suffix)
    folder, _, rest = name.partition("/")
    if not rest:
        return Drop(name, "not in a class folder")
    label = classmap.classify([unicodedata.normalize("NFC", folder)])[0]
    if label is None:
        return Drop(name, "category not mapped to a class", detail=folder)
    image, problem = finder.find(name)
    if problem:  # a link out of the folder, or one that leads nowhere
        return Drop(name, problem, label)
    return Record(image, label, name)
