"""iMaterialist-Fashion 2018 (FGVC5) layout.

The release is JSON only: {"images": [{"url", "imageId"}], "annotations":
[{"imageId", "labelId": [...]}]}, ids as strings, images given by URL. The
download stage copies the JSON files to `<root>/annotations/` and fetches the
images it needs to `<root>/images/<json stem>/<imageId>.jpg`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from fashioncat.data.classmap import ClassMap
from fashioncat.data.records import Drop, Parsed, Record
from fashioncat.errors import FashionError

SPLIT_FILES = ("train.json", "validation.json")  # test.json has no labels
ANNOTATIONS = "annotations"
IMAGES = "images"


@dataclass(frozen=True)
class Entry:
    origin: str  # "train.json: annotations[12]"
    stem: str  # which JSON file it came from
    image_id: str
    url: str | None
    label: str | None  # the one class its labels map to
    problem: str  # why it cannot be used, or ""


def annotation_files(location: Path) -> list[Path]:
    """The labelled JSON files at `location` (one file, or a folder holding them)."""
    if location.is_file():
        return [location]
    files = [location / name for name in SPLIT_FILES if (location / name).is_file()]
    if not files:
        raise FashionError(f"{location}: no iMaterialist annotations ({' or '.join(SPLIT_FILES)}) found")
    return files


def downloaded_files(folder: Path) -> list[Path]:
    """The JSON files the download stage kept, whatever their names: a single file given as
    `location` may be called anything. Dot files are left-overs of interrupted writes."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    if not files:
        raise FashionError(f"{folder}: no iMaterialist annotations found (run download first)")
    return files


def load_json(path: Path) -> dict:
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FashionError(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FashionError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise FashionError(f"{path}: JSON nested too deeply to read") from None
    except OSError as exc:
        raise FashionError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise FashionError(f"{path}: expected an object with an 'annotations' list (is this a test file?)")
    if not isinstance(data.get("images", []), list):
        raise FashionError(f"{path}: 'images' must be a list")
    return data


def entries(path: Path, classmap: ClassMap) -> list[Entry]:
    """Every annotation of one JSON file, classified, with its URL when listed."""
    data = load_json(path)
    urls = {str(img.get("imageId")): img.get("url") for img in data.get("images", []) if isinstance(img, dict)}
    found = [_entry(path, index, item, urls, classmap) for index, item in enumerate(data["annotations"])]
    seen: set[str] = set()
    for k, entry in enumerate(found):
        if entry.problem != "malformed annotation":
            if entry.image_id in seen:  # one picture, one row: a repeat would sit twice in a split
                found[k] = dataclasses.replace(entry, problem="duplicate annotation")
            seen.add(entry.image_id)
    return found


def _entry(path: Path, index: int, item, urls: dict, classmap: ClassMap) -> Entry:
    origin = f"{path.name}: annotations[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("labelId"), list) or "imageId" not in item:
        return Entry(origin, path.stem, "", None, None, "malformed annotation")
    image_id = str(item["imageId"])
    if not image_id or not all(c.isalnum() or c in "-_" for c in image_id):
        return Entry(origin, path.stem, image_id, None, None, "malformed annotation")
    label, why = classmap.classify([str(v) for v in item["labelId"]])
    url = urls.get(image_id)
    problem = why or ("" if isinstance(url, str) and url else "no image URL")
    if not problem and not _encodable(url):
        problem = "malformed image URL"  # a lone surrogate from a JSON escape: no file name, no report line
    return Entry(origin, path.stem, image_id, url, label, problem)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def image_path(entry: Entry) -> str:
    """Where the image of `entry` is kept: named by its id AND its URL, so a new URL is a new file."""
    url_key = hashlib.sha1(entry.url.encode()).hexdigest()[:12]
    return f"{IMAGES}/{entry.stem}/{entry.image_id}-{url_key}.jpg"


def chosen(all_entries: list[Entry], max_per_class: int, seed: int) -> list[Entry]:
    """The usable entries to fetch: all, or a seeded sample of at most max_per_class per class."""
    usable = [e for e in all_entries if not e.problem]
    if max_per_class <= 0:
        return usable
    by_class = defaultdict(list)
    for entry in usable:
        by_class[entry.label].append(entry)
    rng = random.Random(seed)
    picked = []
    for label in sorted(by_class):
        group = by_class[label]
        picked += rng.sample(group, min(max_per_class, len(group)))
    keep = {entry.origin for entry in picked}
    return [entry for entry in usable if entry.origin in keep]


def read(root: Path, classmap: ClassMap) -> Parsed:
    """Records for every annotation whose image was downloaded under `root`."""
    parsed = Parsed()
    for path in downloaded_files(root / ANNOTATIONS):
        for entry in entries(path, classmap):
            if entry.problem:
                parsed.drops.append(Drop(entry.origin, entry.problem, entry.label or "", entry.image_id))
            elif not (root / image_path(entry)).is_file():
                parsed.drops.append(Drop(entry.origin, "image not downloaded", entry.label, entry.url))
            else:
                parsed.records.append(Record(image_path(entry), entry.label, entry.origin))
    return parsed
