"""Reviewers' label corrections: imported from a Label Studio export, versioned in git, applied by `balance`.

`config/corrections/<dataset>.csv` has one row per corrected image:

    image,old_label,new_label,by,at
    img/Sheer_Pleated-Front_Blouse/img_00000001.jpg,blouse,dress,ana@example.com,2026-11-30T07:01:02Z

`image` is the image as the dataset names it (`source_image` in the manifests), so a
correction survives new crop settings. `new_label` is a class, or `drop` to leave the
image out. A correction whose image is missing, or whose image no longer carries
`old_label`, is reported and changes nothing: a stale correction never relabels
something a reviewer did not see.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from fashioncat.data.records import Drop
from fashioncat.errors import FashionError
from fashioncat.io import write_csv

FIELDS = ("image", "old_label", "new_label", "by", "at")
DROP = "drop"
DROPPED = "dropped by a label correction"


@dataclass(frozen=True)
class Correction:
    image: str
    old_label: str
    new_label: str
    by: str = ""
    at: str = ""


def read(path: str | Path, classes: Sequence[str]) -> list[Correction]:
    """The corrections in `path` (none when it does not exist), each checked; a bad row names its line."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FIELDS[:3] if c not in (reader.fieldnames or [])]
        if missing:
            raise FashionError(f"{path}:1: missing column(s) {', '.join(missing)} (need {', '.join(FIELDS)})")
        found: dict[str, int] = {}
        out = []
        for row in reader:
            line = reader.line_num
            image, new = (row.get("image") or "").strip(), (row.get("new_label") or "").strip()
            if not image:
                raise FashionError(f"{path}:{line}: no image")
            if new != DROP and new not in classes:
                raise FashionError(f"{path}:{line}: new_label {new!r} is neither a class nor {DROP!r}")
            if image in found:
                raise FashionError(f"{path}:{line}: {image} is corrected twice (also on line {found[image]})")
            found[image] = line
            out.append(
                Correction(image, (row.get("old_label") or "").strip(), new, row.get("by", ""), row.get("at", ""))
            )
        return out


def apply(rows: list[dict], corrections: Iterable[Correction]) -> tuple[list[dict], list[Drop], list[str]]:
    """Rows relabelled or dropped as corrected, the drops, and why each unapplied correction was not applied."""
    wanted = {c.image: c for c in corrections}
    kept, drops, used = [], [], set()
    for row in rows:
        correction = wanted.get(row["source_image"])
        if correction is None or correction.old_label != row["label"]:
            kept.append(row)
            continue
        used.add(correction.image)
        if correction.new_label == DROP:
            drops.append(Drop(row["origin"], DROPPED, row["label"], correction.image))
        else:
            kept.append({**row, "label": correction.new_label})
    labels = {row["source_image"]: row["label"] for row in rows}
    unapplied = [
        f"{c.image}: no such image"
        if c.image not in labels
        else f"{c.image}: labelled {labels[c.image]!r}, the correction expects {c.old_label!r}"
        for c in wanted.values()
        if c.image not in used
    ]
    return kept, drops, unapplied


def from_label_studio(export: list, where: str) -> tuple[list[Correction], list[str]]:
    """Corrections in a Label Studio export (JSON), and the tasks that could not become one, with why.

    A task must carry `source_image` and `given_label` in its data, as the review queue's
    tasks do. Its newest annotation that was not cancelled is the reviewer's answer; an
    answer equal to the given label confirms it and needs no correction.
    """
    corrections, problems = [], []
    if not isinstance(export, list):
        raise FashionError(f"{where}: not a Label Studio JSON export (a list of tasks)")
    for index, task in enumerate(export):
        data = task.get("data", {}) if isinstance(task, dict) else {}
        image, given = data.get("source_image"), data.get("given_label")
        if not image or not given:
            problems.append(f"{where}[{index}]: task has no source_image/given_label (not from the review queue)")
            continue
        answer, by, at = _answer(task)
        if answer is None:
            problems.append(f"{where}[{index}]: {image}: no finished annotation")
        elif answer != given:
            corrections.append(Correction(image, given, answer, by, at))
    return corrections, problems


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


def merged(existing: list[Correction], new: list[Correction]) -> list[Correction]:
    """`existing` with `new` added; a newer correction of the same image replaces the older one."""
    by_image = {c.image: c for c in existing}
    by_image.update({c.image: c for c in new})
    return sorted(by_image.values(), key=lambda c: c.image)


def import_export(export_path: str | Path, out: str | Path, classes: Sequence[str]) -> dict:
    """Merge a Label Studio export into the corrections file `out`; return what happened."""
    export_path = Path(export_path)
    try:
        export = json.loads(export_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FashionError(f"{export_path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FashionError(f"{export_path}: not a JSON export ({exc})") from None
    new, problems = from_label_studio(export, str(export_path))
    unknown = [c for c in new if c.new_label not in classes]
    if unknown:
        raise FashionError(f"{export_path}: {unknown[0].image}: label {unknown[0].new_label!r} is not a class")
    rows = merged(read(out, classes), new)
    write_csv(out, (asdict(c) for c in rows), FIELDS)
    return {"tasks": len(export), "corrections": len(new), "in_file": len(rows), "problems": problems}


def add_command(subparsers) -> None:
    p = subparsers.add_parser("corrections", help="import a Label Studio export into config/corrections/")
    p.add_argument("export", help="Label Studio's JSON export of the review project")
    p.add_argument("--dataset", default="source", help="whose corrections file to update (default: source)")
    p.add_argument("--classes", help="classes.json (default: data/split/<dataset>/classes.json)")
    p.add_argument("--out", help="corrections file (default: config/corrections/<dataset>.csv)")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    out = Path(args.out or f"config/corrections/{args.dataset}.csv")
    classes_path = Path(args.classes or f"data/split/{args.dataset}/classes.json")
    try:
        if not classes_path.is_file():
            raise FashionError(f"{classes_path}: no classes file (run `dvc repro split@{args.dataset}` first)")
        report = import_export(args.export, out, json.loads(classes_path.read_text(encoding="utf-8")))
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in report["problems"]:
        print(f"skipped: {problem}", file=sys.stderr)
    print(
        f"{out}: {report['corrections']} correction(s) from {report['tasks']} task(s), {report['in_file']} in the"
        f" file; `git diff {out}` shows them, `dvc repro` applies them",
        file=sys.stderr,
    )
    return 0
