"""A Label Studio export of the review queue, merged into `config/corrections/<dataset>.csv`.

Everything is checked before the file is written (atomically), so a wrong export fails in
one line and leaves the corrections as they were:
- it must be a JSON list of tasks from the review queue (`label_issues`' tasks carry
  `source_image` and `given_label`), every field of its JSON type (`review_answers`);
- every label must be one of the dataset's classes (compared in Unicode NFC, written in NFC);
- every image must be one of the dataset's, as the crop stage recorded them, with the label
  the correction expects when the crop stage recorded labels (else `balance` could not apply it).

The answers to an image, in the file and in the export, are ordered by their time and the
newest is the image's label: a second review of a corrected image composes with the first
(dress -> coat, then coat -> bag, is dress -> bag), and an older answer imported later
changes nothing. Two answers with the same time and different labels are an error. An answer
equal to the given label confirms it: it needs no row, but it updates the image's row if it has one.
Tasks nobody answered are named and skipped: a review is usually done in parts.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from fashioncat.annotate import review_answers
from fashioncat.annotate.review_answers import Answer, parse_time, shown
from fashioncat.data.corrections import FIELDS, Correction, nfc, read, read_classes
from fashioncat.errors import FashionError
from fashioncat.io import write_csv


def dataset_labels(records: Path) -> dict[str, str | None]:
    """The images of a dataset as its crop stage recorded them (records.csv), with their labels if it has them."""
    try:
        with open(records, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if "source_image" not in (reader.fieldnames or []):
                raise FashionError(f"{records}:1: no source_image column (not a crop stage's records.csv)")
            return {row["source_image"]: row.get("label") for row in reader}
    except FileNotFoundError:
        raise FashionError(f"{records}: no such file (run `dvc repro crop` first, or pass --records)") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FashionError(f"{records}: not a readable records.csv ({exc})") from None


def merged(existing: list[Correction], answers: list[Answer], where: Path) -> tuple[list[Correction], int]:
    """The corrections once `answers` are composed with `existing` (from `where`), and how many rows changed."""
    rows = {c.image: Correction(c.image, nfc(c.old_label), nfc(c.new_label), c.by, c.at) for c in existing}
    grouped: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        grouped[answer.image].append(answer)
    changed = 0
    for image, found in grouped.items():
        row = composed(rows.get(image), found, where)
        if row is not None and row != rows.get(image):
            rows[image], changed = row, changed + 1
    return sorted(rows.values(), key=lambda c: c.image), changed


def composed(row: Correction | None, answers: list[Answer], where: Path) -> Correction | None:
    """The image's row once its `answers` are added: the dataset's label, and the newest answer."""
    steps = [(a.when, a.label, a.by, a.at, a.where) for a in answers]
    if row is not None:
        when = parse_time(row.at)
        if when is None:
            raise FashionError(
                f"{where}: {shown(row.image)}: at {row.at!r} is not an ISO 8601 time, so the row cannot be ordered"
                f" against the answer in {answers[0].where}; give it its time"
            )
        steps.append((when, row.new_label, row.by, row.at, str(where)))
    newest = max(steps, key=lambda s: s[0])
    rival = next((s for s in steps if s[0] == newest[0] and s[1] != newest[1]), None)
    if rival is not None:
        raise FashionError(
            f"{newest[4]}: {shown(answers[0].image)}: answers {newest[1]!r} and {rival[1]!r} ({rival[4]}) have the"
            f" same time {newest[3]}, so neither is the newer"
        )
    original = row.old_label if row is not None else min(answers, key=lambda a: a.when).given
    if row is None and all(a.label == original for a in answers):
        return None  # confirmed: nothing to correct
    return Correction(answers[0].image, original, newest[1], newest[2], newest[3])


def checked(answers: list[Answer], labels: dict[str, str | None]) -> list[Answer]:
    """`answers`, once every image is one of the dataset's."""
    for a in answers:
        if a.image not in labels:
            raise FashionError(f"{a.where}: {shown(a.image)}: not an image of this dataset (wrong dataset or project?)")
    return answers


def applicable(rows: list[Correction], answers: list[Answer], labels: dict[str, str | None], records: Path) -> None:
    """Every answered image's row expects the label the crop stage recorded (when it recorded labels)."""
    where = {a.image: a.where for a in answers}
    for c in rows:
        recorded = labels.get(c.image)
        if c.image in where and recorded is not None and nfc(recorded) != c.old_label:
            raise FashionError(
                f"{where[c.image]}: {shown(c.image)}: the correction expects label {c.old_label!r}, {records} has"
                f" {recorded!r}: the review is of another version of the dataset, balance could not apply it"
            )


def import_export(export_path: str | Path, out: str | Path, classes: Sequence[str], records: str | Path) -> dict:
    """Merge a Label Studio export into the corrections file `out`; return what happened."""
    export_path, out, records = Path(export_path), Path(out), Path(records)
    try:
        export = json.loads(export_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FashionError(f"{export_path}: no such file") from None
    except ValueError as exc:  # not UTF-8, not JSON, or a number of more than 4,300 digits
        raise FashionError(f"{export_path}: not a JSON export ({exc})") from None
    except RecursionError:
        raise FashionError(f"{export_path}: not a JSON export (nested too deeply)") from None
    answers, unanswered = review_answers.read(export, str(export_path), list(classes))
    labels = dataset_labels(records)
    rows, changed = merged(read(out, classes), checked(answers, labels), out)
    applicable(rows, answers, labels, records)
    write_csv(out, (asdict(c) for c in rows), FIELDS)
    return {"tasks": len(export), "corrections": changed, "in_file": len(rows), "unanswered": unanswered}


def add_command(subparsers) -> None:
    p = subparsers.add_parser("corrections", help="import a Label Studio export into config/corrections/")
    p.add_argument("export", help="Label Studio's JSON export of the review project")
    p.add_argument("--dataset", default="source", help="whose corrections file to update (default: source)")
    p.add_argument("--classes", help="classes.json (default: data/split/<dataset>/classes.json)")
    p.add_argument("--records", help="the dataset's images (default: data/cropped/<dataset>/records.csv)")
    p.add_argument("--out", help="corrections file (default: config/corrections/<dataset>.csv)")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    out = Path(args.out or f"config/corrections/{args.dataset}.csv")
    classes_path = Path(args.classes or f"data/split/{args.dataset}/classes.json")
    records = Path(args.records or f"data/cropped/{args.dataset}/records.csv")
    try:
        if not classes_path.is_file():
            raise FashionError(f"{classes_path}: no classes file (run `dvc repro split@{args.dataset}` first)")
        report = import_export(args.export, out, read_classes(classes_path), records)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for task in report["unanswered"]:
        print(f"skipped: {task}", file=sys.stderr)
    print(
        f"{out}: {report['corrections']} correction(s) from {report['tasks']} task(s), {report['in_file']} in the"
        f" file; `git diff {out}` shows them, `dvc repro` applies them",
        file=sys.stderr,
    )
    return 0
