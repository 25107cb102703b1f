"""A CSV table naming each image and its label, and optionally a box to crop it to.

Kaggle's Fashion Product Images (kaggle.com/datasets/paramaggarwal/fashion-product-images-dataset)
is one such table:

    styles.csv    id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName
    images/<id>.jpg

read with options `file: styles.csv`, `image_column: id`, `image_template: images/{}.jpg`,
`label_column: articleType`. The first line names the columns; a byte-order mark before it is
ignored; a field holding the delimiter is quoted. A row whose field count differs from the
header's (an unquoted comma in a product name) cannot be read safely and is dropped.

Without box columns a row is an image, kept whole, and an image on several rows is kept once
(on rows of different classes, not at all). With box columns a row is a garment, and one image
may give several crops; they share the photo's pixels' digest and so land in the same split.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fashioncat.config import CsvOptions
from fashioncat.data.classmap import ClassMap
from fashioncat.data.datasets.checks import MALFORMED as BAD_NAME
from fashioncat.data.datasets.checks import (
    ImageFiles,
    box_problem,
    corners,
    named_file,
    once_per_image,
    pixel_box,
    printable,
    single_file,
)
from fashioncat.data.records import Drop, Parsed, Record
from fashioncat.errors import FashionError

MALFORMED = "malformed row"


def check_layout(root: Path) -> None:
    """Raise unless `root` holds a .csv file at its top."""
    if not any(p.suffix.lower() == ".csv" and p.is_file() for p in root.iterdir()):
        raise FashionError(f"{root}: not a CSV dataset, no .csv file at its top")


def table_file(root: Path, options: CsvOptions) -> Path:
    if options.file:
        return named_file(root, options.file, "CSV table", "file")
    return single_file(root, [], ".csv", "CSV table", "file")


def text_of(path: Path) -> str:
    try:
        raw = path.read_bytes()
        return raw.decode("utf-8-sig")  # Excel writes a byte-order mark first
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FashionError(f"{path}:{line}: not UTF-8 text (byte {exc.start}); save the table as UTF-8") from None
    except OSError as exc:
        raise FashionError(f"{path}: cannot read ({exc.strerror})") from None


def columns(path: Path, header: list[str], options: CsvOptions) -> dict[str, int]:
    """Where each column the options name is: option -> index; a missing one is a one-line error."""
    names = [h.strip() for h in header]
    wanted = {"image_column": options.image_column, "label_column": options.label_column}
    wanted |= {f"box_columns[{i}]": c for i, c in enumerate(options.box_columns)}
    found = {}
    for option, column in wanted.items():
        if column not in names:
            shown = ", ".join(printable(n) for n in names[:12]) + (", …" if len(names) > 12 else "")
            raise FashionError(
                f"{path}:1: no column {printable(column)!r} (datasets.<name>.options.{option}); the header has {shown}"
            )
        found[option] = names.index(column)
    return found


def rows(path: Path, text: str, delimiter: str):
    """(line where the row starts, fields) per row, blank lines skipped; broken quoting is a one-line error."""
    # strict: a quote left open would otherwise swallow every row after it into one field
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FashionError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
        if any(f.strip() for f in fields):
            yield start, fields


def read(root: Path, classmap: ClassMap, options: CsvOptions | None = None) -> Parsed:
    """A record per row (per image, or per box) whose label maps to a class."""
    options = options or CsvOptions()
    path = table_file(root, options)
    shown = printable(path.relative_to(root).as_posix())
    table = rows(path, text_of(path), options.delimiter)
    first = next(table, None)
    if first is None:
        raise FashionError(f"{path}: empty; a CSV table starts with a line naming its columns")
    header = first[1]
    where = columns(path, header, options)
    finder = ImageFiles(root)
    results = [_row(f"{shown}:{line}", fields, len(header), where, finder, options, classmap) for line, fields in table]
    kept = once_per_box(results) if options.box_columns else once_per_image(results)
    return Parsed([r for r in kept if isinstance(r, Record)], [r for r in kept if isinstance(r, Drop)])


def once_per_box(results: list[Record | Drop]) -> list[Record | Drop]:
    """A garment (image and box) on several rows is kept once, on its first."""
    seen: set = set()
    out: list[Record | Drop] = []
    for r in results:
        if isinstance(r, Record) and (r.image, r.box) in seen:
            r = Drop(r.origin, "duplicate annotation row", r.label, r.image)
        elif isinstance(r, Record):
            seen.add((r.image, r.box))
        out.append(r)
    return out


def _row(origin, fields, width, where, finder, options, classmap) -> Record | Drop:
    if len(fields) != width:
        return Drop(origin, MALFORMED, detail=f"{len(fields)} fields, the header names {width}")
    value, category = fields[where["image_column"]].strip(), fields[where["label_column"]].strip()
    if not value:
        return Drop(origin, MALFORMED, detail="no image")
    label = classmap.classify([category])[0]
    if label is None:
        return Drop(origin, "category not mapped to a class", detail=printable(category))
    box = None
    if options.box_columns:
        box = corners([_float(fields[where[f"box_columns[{i}]"]]) for i in range(4)], options.box_format)
        if box is None:
            return Drop(origin, MALFORMED, label, "box not four numbers")
        problem = box_problem(box, 0)
        if problem:
            return Drop(origin, problem, label, " ".join(f"{v:g}" for v in box))
    image, problem = finder.find(options.image_template.replace("{}", value))
    if problem:
        return Drop(origin, MALFORMED if problem == BAD_NAME else problem, label, printable(value))
    if box is None:
        return Record(image, label, origin)
    return Record(image, label, origin, pixel_box(box), item=origin.rsplit(":", 1)[1])


def _float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None
