"""Property-based tests of the COCO, DeepFashion2, ImageFolder and CSV readers: whatever the bytes,
Unicode or JSON types, every annotation, item, file or row is read or dropped with its origin and a
reason, the drops can be written to the crop report, the crop step takes every record, and nothing
raises but a one-line FashionError for a file that cannot be read at all."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from pathlib import Path

import fixtures_own_data as own
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fashioncat.config import CocoOptions, CsvOptions, DeepFashion2Options
from fashioncat.data import datasets
from fashioncat.data.classmap import load_classmap
from fashioncat.data.crop import crop_all
from fashioncat.data.records import DROP_FIELDS, Record, drop_rows
from fashioncat.errors import FashionError
from fashioncat.io import write_csv

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PHOTO = own.photo(1, [own.BOX_A, own.BOX_B])

JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["1", "a.jpg", "../a.jpg", "/etc/passwd", "\ud800", "a\x00b", "1\u00b2", "", "NaN"]),
)
JSON_VALUE = st.recursive(
    JSON_SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
)
NUMBER = st.one_of(
    st.integers(-100, 200),
    st.floats(-1e3, 1e3, allow_nan=False),
    st.sampled_from([0, 10**30, -(10**30), 1e308, 1.5, True, "10", None]),
)
BOX = st.one_of(st.lists(NUMBER, min_size=4, max_size=4), st.lists(NUMBER, max_size=6), JSON_VALUE)


def classmap(folder: Path, text: str):
    (folder / "map.yaml").write_text(text)
    return load_classmap(folder / "map.yaml")


def written(parsed, folder: Path) -> None:
    """What crop writes: the drops as report rows, and a crop (or a counted drop) per record."""
    write_csv(folder / "dropped.csv", drop_rows(parsed.drops), DROP_FIELDS)
    rows, lost = crop_all(
        parsed.records, folder / "raw", folder / "out", margin=0.05, size=8, fit="stretch", workers=1, image_prefix="p"
    )
    assert len(rows) + len(lost) == len(parsed.records)
    write_csv(folder / "lost.csv", drop_rows(lost), DROP_FIELDS)


def one_line_error(exc: FashionError, *paths: Path) -> None:
    """A one-line error naming the file at fault (the data, or the class mapping that names what it lacks)."""
    text = str(exc)
    assert text.startswith(tuple(str(p) for p in paths)) and "\n" not in text, text


# --- COCO ---------------------------------------------------------------------------------------

IDS = st.one_of(st.sampled_from([1, 2, 3, 0, 6, 8, 10, 31, "1"]), JSON_SCALAR)


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Three draws in four from `good`: most entries well-formed (so records come out and crop takes them)."""
    return st.integers(0, 3).flatmap(lambda k: bad if k == 0 else good)


SIDE = st.integers(1, 80)
CORNERS = st.tuples(st.integers(-20, 100), st.integers(-20, 80), SIDE, SIDE).map(
    lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]]
)


COCO_ANNOTATION = mostly(
    st.fixed_dictionaries(
        {
            "id": mostly(st.integers(1, 6), IDS),
            "image_id": mostly(st.sampled_from([1, 2, 3]), IDS),
            "category_id": mostly(st.sampled_from([0, 6, 8, 10, 31, 99]), IDS),
            "bbox": mostly(st.tuples(st.integers(-20, 100), st.integers(-20, 80), SIDE, SIDE).map(list), BOX),
        },
        optional={"iscrowd": mostly(st.sampled_from([0, 1]), JSON_SCALAR), "area": JSON_VALUE},
    ),
    JSON_VALUE,
)
COCO_IMAGE = mostly(
    st.fixed_dictionaries(
        {
            "id": mostly(st.sampled_from([1, 2, 3]), IDS),
            "file_name": mostly(st.sampled_from(["a.jpg", "b.jpg", "missing.jpg", "../x.jpg"]), JSON_SCALAR),
        }
    ),
    JSON_VALUE,
)


@SETTINGS
@given(annotations=st.lists(COCO_ANNOTATION, max_size=8), images=st.lists(COCO_IMAGE, max_size=5))
@example(
    annotations=[{"id": 1, "image_id": 1, "category_id": 0, "bbox": [1e308, 1e308, 1e308, 1e308]}],
    images=[{"id": 1, "file_name": "a.jpg"}],
)
@example(
    annotations=[{"id": "\ud800", "image_id": 1, "category_id": 0, "bbox": [1, 1, 30, 30]}],
    images=[{"id": 1, "file_name": "a.jpg"}],
)
def test_every_coco_annotation_is_read_or_dropped_with_its_index_and_reason(annotations, images):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        own.write(folder / "raw/a.jpg", PHOTO)
        own.write(folder / "raw/b.jpg", PHOTO)
        listed = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}, *images]
        data = {"images": listed, "annotations": annotations, "categories": own.COCO_CATEGORIES}
        own.write(folder / "raw/annotations.json", json.dumps(data))
        parsed = datasets.read("coco", folder / "raw", classmap(folder, own.COCO_MAPPING), CocoOptions(min_box_side=2))
        written(parsed, folder)
    origins = sorted(
        int(re.fullmatch(r"annotations.json: annotations\[(\d+)\]", o.origin).group(1))
        for o in [
            *parsed.records,
            *parsed.drops,
        ]
    )
    assert origins == list(range(len(annotations)))
    assert all(d.reason for d in parsed.drops)
    assert all(r.image in ("a.jpg", "b.jpg") and all(isinstance(v, int) for v in r.box) for r in parsed.records)
    assert max(Counter((r.image, r.item) for r in parsed.records).values(), default=1) == 1


@SETTINGS
@given(categories=st.lists(JSON_VALUE, max_size=4), top=JSON_VALUE)
def test_any_coco_categories_or_top_level_are_read_or_one_line_naming_the_file(categories, top):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = folder / "raw/annotations.json"
        for data in ({"images": [], "annotations": [], "categories": categories}, top):
            own.write(path, json.dumps(data))
            try:
                datasets.read("coco", folder / "raw", classmap(folder, 'classes:\n  a: ["x"]\n'))
            except FashionError as exc:
                one_line_error(exc, path, folder / "map.yaml")


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_as_coco_json_are_one_line_errors(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "raw/instances.json"
        own.write(path, data)
        try:
            datasets.read("coco", path.parent, classmap(Path(folder), own.COCO_MAPPING))
        except FashionError as exc:
            one_line_error(exc, path, Path(folder) / "map.yaml")


# --- DeepFashion2 -------------------------------------------------------------------------------

LEVEL = mostly(st.sampled_from([1, 2, 3]), JSON_SCALAR)
DF2_ITEM = mostly(
    st.fixed_dictionaries(
        {
            "category_name": mostly(st.sampled_from(["short sleeve top", "trousers", "skirt", "sling"]), JSON_SCALAR),
            "bounding_box": mostly(CORNERS, BOX),
            "occlusion": LEVEL,
            "viewpoint": LEVEL,
        },
        optional={"category_id": JSON_SCALAR, "landmarks": JSON_VALUE},
    ),
    JSON_VALUE,
)
ITEM_KEY = mostly(
    st.sampled_from(["item1", "item2", "item3", "item10"]), st.sampled_from(["item0", "item01", "source"])
)


@SETTINGS
@given(
    files=st.lists(
        mostly(st.dictionaries(ITEM_KEY, DF2_ITEM, min_size=1, max_size=4), JSON_VALUE), min_size=1, max_size=4
    ),
    raw=st.binary(max_size=80),
)
def test_every_deepfashion2_item_or_broken_file_is_read_or_dropped_with_its_origin(files, raw):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for n, content in enumerate(files, start=1):
            own.write(folder / f"raw/image/{n:06d}.jpg", PHOTO)
            own.write(folder / f"raw/annos/{n:06d}.json", json.dumps(content))
        own.write(folder / "raw/annos/999999.json", raw)  # any bytes; its image missing
        options = DeepFashion2Options(min_box_side=2, max_occlusion=2, viewpoints=[2, 3])
        parsed = datasets.read("deepfashion2", folder / "raw", classmap(folder, own.DF2_MAPPING), options)
        written(parsed, folder)
    outcomes = Counter(o.origin.split(":")[0] for o in [*parsed.records, *parsed.drops])
    for n, content in enumerate(files, start=1):
        items = [k for k in content if re.fullmatch(r"item[1-9]\d{0,5}", k)] if isinstance(content, dict) else []
        assert outcomes[f"annos/{n:06d}.json"] == max(len(items), 1)
    assert outcomes["annos/999999.json"] >= 1 and all(d.reason for d in parsed.drops)


# --- ImageFolder --------------------------------------------------------------------------------

NAME = st.one_of(
    st.sampled_from(["a.jpg", "b.PNG", "c.txt", ".hidden.jpg", "d.jpeg", "e"]),
    st.text(st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]), min_size=1, max_size=10),
    st.binary(min_size=1, max_size=8).filter(lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")),
)
FOLDER = st.one_of(st.sampled_from(["tops", "dresses", "kimonos", "", "tops/sub", ".git"]), NAME)


@SETTINGS
@given(files=st.lists(st.tuples(FOLDER, NAME, st.sampled_from(["photo", "bytes", "empty"])), max_size=8))
@example(files=[("tops", b"\xff\xfe.jpg", "photo"), (b"\xe9t\xe9", "a.jpg", "photo")])
def test_every_file_of_an_image_folder_is_read_or_dropped_whatever_its_name(files):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        root = folder / "raw"
        (root / "tops").mkdir(parents=True)
        made = set()
        for parent, name, kind in files:
            parent = os.fsdecode(parent) if isinstance(parent, bytes) else parent
            name = os.fsdecode(name) if isinstance(name, bytes) else name
            if parent in (".", "..") or name in (".", ".."):
                continue
            path = root / parent / name
            if path in made or any(p in made for p in path.parents) or path.is_dir():
                continue
            try:
                own.write(path, {"photo": PHOTO, "bytes": b"\x89PNG broken", "empty": b""}[kind])
            except (OSError, ValueError):  # a name the file system refuses, or a file where a folder is
                continue
            made.add(path)
        parsed = datasets.read("imagefolder", root, classmap(folder, own.FOLDER_MAPPING))
        written(parsed, folder)
        visible = [
            p for p in made if not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(root).parts)
        ]
    assert len(parsed.records) + len(parsed.drops) == len(visible)
    assert all(d.reason for d in parsed.drops)
    assert all(
        isinstance(r, Record) and r.box is None and r.label in ("top", "dress", "trousers", "skirt")
        for r in parsed.records
    )


# --- CSV ----------------------------------------------------------------------------------------

FIELD = st.one_of(
    st.sampled_from(["1", "2", "Tshirts", "Dresses", "Watches", "", " ", '"', "a,b", "x\ny", "\ufeff", "../1", "²"]),
    st.text(max_size=8),
)
HEADERS = {  # header -> where the id and the label go
    own.STYLES_HEADER: (0, 4),
    "\ufeff" + own.STYLES_HEADER: (0, 4),
    "articleType;id": (1, 0),
    "image": None,  # no id column: a one-line error
}
BOX_FIELD = mostly(st.integers(-10, 100).map(str), FIELD)


def table(header: str, boxes: bool) -> st.SearchStrategy:
    """Rows mostly of the header's width, naming the photos there are and labels the mapping has."""
    width = len(header.split(";" if ";" in header else ",")) + 4 * boxes
    where = HEADERS[header] or (0, 0)

    def row(values):
        fields, image, label, box = values
        fields[where[0]], fields[where[1]] = image, label
        return fields[: width - 4 * boxes] + box if boxes else fields

    good = st.tuples(
        st.lists(FIELD, min_size=width, max_size=width),
        mostly(st.sampled_from(["1", "2", "3"]), FIELD),
        mostly(st.sampled_from(["Tshirts", "Dresses", "Watches"]), FIELD),
        st.lists(BOX_FIELD, min_size=4, max_size=4),
    ).map(row)
    return st.lists(mostly(good, st.lists(FIELD, min_size=1, max_size=12)), max_size=8)


def csv_text(rows: list[list[str]], delimiter: str) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


@SETTINGS
@given(header=st.sampled_from(sorted(HEADERS)), boxes=st.booleans(), data=st.data())
def test_any_csv_table_is_read_row_by_row_or_one_line_naming_the_file(header, boxes, data):
    rows = data.draw(table(header, boxes))
    delimiter = ";" if ";" in header else ","
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        own.write(folder / "raw/images/1.jpg", PHOTO)
        own.write(folder / "raw/images/2.jpg", PHOTO)
        cells = [[c.encode("utf-8", "replace").decode("utf-8") for c in row] for row in rows]
        if boxes:
            header += delimiter.join(["", "x1", "y1", "x2", "y2"])
        path = folder / "raw/styles.csv"
        own.write(path, header + "\r\n" + csv_text(cells, delimiter))
        options = CsvOptions(
            image_column="id",
            image_template="images/{}.jpg",
            label_column="articleType",
            box_columns=["x1", "y1", "x2", "y2"] if boxes else [],
            delimiter=delimiter,
        )
        try:
            parsed = datasets.read("csv", folder / "raw", classmap(folder, own.STYLES_MAPPING), options)
        except FashionError as exc:
            one_line_error(exc, path)
            assert ":1: no column" in str(exc) or "not valid CSV" in str(exc), str(exc)
            return
        written(parsed, folder)
    lines = [int(o.origin.rsplit(":", 1)[1]) for o in [*parsed.records, *parsed.drops]]
    assert len(lines) == len(set(lines)) == sum(1 for row in cells if any(c.strip() for c in row))
    assert all(d.reason for d in parsed.drops)


@SETTINGS
@given(data=st.binary(max_size=300), delimiter=st.sampled_from([",", ";", "\t"]))
def test_random_bytes_as_a_csv_table_are_read_or_one_line_errors(data, delimiter):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = folder / "raw/labels.csv"
        own.write(path, data)
        try:
            parsed = datasets.read(
                "csv", path.parent, classmap(folder, own.STYLES_MAPPING), CsvOptions(delimiter=delimiter)
            )
        except FashionError as exc:
            one_line_error(exc, path)
            return
        written(parsed, folder)
