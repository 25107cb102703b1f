"""A Label Studio export of the review queue, merged into `config/corrections/<dataset>.csv`.

Everything is checked before the file is written, so a wrong export fails in one line
and leaves the corrections as they were:
- it must be a JSON list of tasks from the review queue (`label_issues`' tasks carry
  `source_image` and `given_label`; tasks of any other project do not);
- every answer must be one of the dataset's classes;
- every image must be one of the dataset's, as the crop stage recorded them.

Tasks nobody answered are named and skipped: a review is usually done in parts.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from fashioncat.data.corrections import FIELDS, Correction, read
from fashioncat.errors import FashionError
from fashioncat.io import write_csv

REVIEW_FIELDS = ("source_image", "given_label")


def from_label_studio(export, where: str) -> tuple[list[Correction], list[str]]:
    """Corrections in a Label Studio export, and the unanswered tasks, each named.

    A task's newest annotation that was not cancelled is the reviewer's answer; an
    answer equal to the given label confirms it and needs no correction.
    """
    if not isinstance(export, list):
        raise FashionError(f"{where}: not a Label Studio JSON export (a list of tasks)")
    corrections, unanswered = [], []
    for index, task in enumerate(export):
        data = task.get("data", {}) if isinstance(task, dict) else {}
        image, given = (data.get(key) for key in REVIEW_FIELDS)
        if not image or not given:
            raise FashionError(
                f"{where}[{index}]: task has no source_image/given_label: this is not an export of the review"
                " queue (plots/5_label_issues/review_tasks.json)"
            )
        answer, by, at = _answer(task)
        if answer is None:
            unanswered.append(f"{where}[{index}]: {image}: no finished annotation")
        elif answer != given:
            corrections.append(Correction(image, given, answer, by, at))
    return corrections, unanswered


def _answer(task: dict) -> tuple[str | None, str, str]:
    done = [a for a in task.get("annotations", []) if not a.get("was_cancelled")]
    done.sort(key=lambda a: a.get("updated_at") or a.get("created_at") or "")
    for annotation in reversed(done):
        for result in annotation.get("result", []):
            choices = result.get("value", {}).get("choices")
            if result.get("type") == "choices" and choices:
                by = annotation.get("completed_by")
                by = by.get("email", "") if isinstance(by, dict) else str(by or "")
                return choices[0], by, annotation.get("updated_at") or annotation.get("created_at") or ""
    return None, "", ""


def dataset_images(records: Path) -> set[str]:
    """The images of a dataset as its crop stage recorded them (`source_image` of records.csv)."""
    try:
        with open(records, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if "source_image" not in (reader.fieldnames or []):
                raise FashionError(f"{records}:1: no source_image column (not a crop stage's records.csv)")
            return {row["source_image"] for row in reader}
    except FileNotFoundError:
        raise FashionError(f"{records}: no such file (run `dvc repro crop` first, or pass --records)") from None


def merged(existing: list[Correction], new: list[Correction]) -> list[Correction]:
    """`existing` with `new` added; a newer correction of the same image replaces the older one."""
    by_image = {c.image: c for c in existing}
    by_image.update({c.image: c for c in new})
    return sorted(by_image.values(), key=lambda c: c.image)


def checked(new: list[Correction], classes: Sequence[str], images: set[str], where: Path) -> list[Correction]:
    """`new`, once every answer is a class and every image one of the dataset's."""
    for c in new:
        if c.new_label not in classes:
            raise FashionError(f"{where}: {c.image}: label {c.new_label!r} is not a class")
        if c.image not in images:
            raise FashionError(f"{where}: {c.image}: not an image of this dataset (wrong dataset or project?)")
    return new


def import_export(export_path: str | Path, out: str | Path, classes: Sequence[str], records: str | Path) -> dict:
    """Merge a Label Studio export into the corrections file `out`; return what happened."""
    export_path = Path(export_path)
    try:
        export = json.loads(export_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FashionError(f"{export_path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FashionError(f"{export_path}: not a JSON export ({exc})") from None
    new, unanswered = from_label_studio(export, str(export_path))
    new = checked(new, classes, dataset_images(Path(records)), export_path)
    rows = merged(read(out, classes), new)
    write_csv(out, (asdict(c) for c in rows), FIELDS)
    return {"tasks": len(export), "corrections": len(new), "in_file": len(rows), "unanswered": unanswered}


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
        classes = json.loads(classes_path.read_text(encoding="utf-8"))
        report = import_export(args.export, out, classes, records)
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
