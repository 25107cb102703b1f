"""Annotation output: CSV, JSON lines or Label Studio tasks, written atomically, or appended to with --resume.

The output's extension chooses the format. Without --resume the file appears only when
the run finishes (a temporary file renamed into place); with it, rows are appended and
`done_keys` reads back which images an earlier run already wrote, cutting a last line a
killed run left half-written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from fashioncat.annotate import label_studio
from fashioncat.annotate.inputs import BOX_COLUMNS
from fashioncat.errors import FashionError
from fashioncat.io import atomic_path

OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "label-studio"}


def output_format(out: str | Path) -> str:
    fmt = OUTPUT_FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise FashionError(
            f"{out}: output must end in .csv, .jsonl or .json (Label Studio tasks): the extension chooses the format"
        )
    if Path(out).is_dir():
        raise FashionError(f"{out}: is a folder; --out takes a file name")
    return fmt


def csv_columns(top_k: int, boxes: bool) -> list[str]:
    ranks = [name for i in range(1, top_k + 1) for name in (f"label_{i}", f"prob_{i}")]
    return ["path", *(BOX_COLUMNS if boxes else ()), *ranks, "review", "error"]


class Sink:
    """Writes rows as CSV or JSON lines to an open text file, or gathers Label Studio tasks for `close`."""

    def __init__(self, f, fmt: str, top_k: int, boxes: bool, model_version: str = "", links: dict | None = None):
        self.f, self.fmt, self.top_k, self.boxes = f, fmt, top_k, boxes
        self.csv = csv.writer(f) if fmt == "csv" else None
        self.model_version, self.links = model_version, links or {}
        self.tasks: list[dict] = []

    def header(self) -> None:
        if self.csv is not None:
            self.csv.writerow(csv_columns(self.top_k, self.boxes))

    def write(self, row: dict) -> None:
        item = row["item"]
        if self.fmt == "label-studio":
            if row["error"]:  # nothing to pre-annotate: reported on stderr, not sent
                print(f"not sent to Label Studio: {item.path}: {row['error']}", file=sys.stderr)
            else:
                label, score = row["top"][0]
                box = {"box": list(item.box)} if item.box else {}
                self.tasks.append(
                    label_studio.task(
                        item.path,
                        label,
                        score,
                        self.model_version,
                        self.links[item.path],
                        **box,
                    )
                )
            return
        if self.csv is not None:
            ranks = [v for label, p in row["top"] for v in (label, f"{p:.4f}")]
            ranks += [""] * (2 * self.top_k - len(ranks))
            box = [*(item.box or ("",) * 4)] if self.boxes else []
            self.csv.writerow([item.path, *box, *ranks, str(row["review"]).lower(), row["error"]])
            return
        record = {
            "path": item.path,
            **({"box": list(item.box) if item.box else None} if self.boxes else {}),
            "top": [{"label": label, "probability": round(p, 4)} for label, p in row["top"]],
            "review": row["review"],
            "error": row["error"] or None,
        }
        self.f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self.fmt == "label-studio":
            json.dump(self.tasks, self.f, ensure_ascii=False, indent=1)


@contextlib.contextmanager
def destination(out: Path, resume: bool) -> Iterator:
    """The open output file: appended to when resuming, else a temp file renamed into place at the end."""
    if resume:
        with open(out, "a", newline="", encoding="utf-8") as f:
            yield f
        return
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        yield f


# ---- resuming -----------------------------------------------------------------------------------------------


def _drop_partial_line(out: Path) -> None:
    """A run killed mid-write leaves a last line without its newline; it is cut so the row is redone."""
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(out, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
        print(f"note: {out}: dropped an incomplete last line; that image is redone", file=sys.stderr)


def done_keys(out: Path, fmt: str, top_k: int, boxes: bool, classes: Sequence[str] | None = None) -> set:
    """Keys of the images an earlier run already wrote to `out` (for --resume).

    With `classes`, every label already in `out` must be one of them: rows from a bundle
    with other classes would otherwise end up in one file with this bundle's.
    """
    if not out.exists() or out.stat().st_size == 0:
        return set()
    _drop_partial_line(out)
    with open(out, newline="", encoding="utf-8") as f:
        rows = _csv_rows(out, f, top_k, boxes) if fmt == "csv" else _jsonl_rows(out, f)
        keys = set()
        for number, key, labels in rows:
            foreign = [label for label in labels if classes is not None and label not in classes]
            if foreign:
                raise FashionError(
                    f"{out}:{number}: class {foreign[0]!r} is not one of this bundle's classes: the file was "
                    f"written with another bundle; choose another --out"
                )
            keys.add(key)
        return keys


def _csv_rows(out: Path, f, top_k: int, boxes: bool) -> Iterator[tuple[int, tuple, list[str]]]:
    reader = csv.reader(f)
    header = next(reader, [])
    if header != csv_columns(top_k, boxes):
        raise FashionError(
            f"{out}:1: columns differ from this run's; resume with the same --top-k and input "
            f"(with or without boxes), or choose another --out"
        )
    for number, values in enumerate(reader, start=2):
        row = dict(zip(header, values))
        box = tuple(int(row[c]) for c in BOX_COLUMNS) if boxes and row.get("x_1") else None
        labels = [row[f"label_{i}"] for i in range(1, top_k + 1) if row.get(f"label_{i}")]
        yield number, (row.get("path", ""), box), labels


def _jsonl_rows(out: Path, f) -> Iterator[tuple[int, tuple, list[str]]]:
    for number, line in enumerate(f, 1):
        try:
            record = json.loads(line)
            key = (record["path"], tuple(record["box"]) if record.get("box") else None)
            labels = [str(t["label"]) for t in record["top"]]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise FashionError(f"{out}:{number}: not a row this tool wrote; cannot resume into it") from None
        yield number, key, labels
