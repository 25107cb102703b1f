"""Reviewers' label corrections: versioned in git, applied by `balance` (imported by `annotate.review_import`).

`config/corrections/<dataset>.csv` has one row per corrected image:

    image,old_label,new_label,by,at
    img/Sheer_Pleated-Front_Blouse/img_00000001.jpg,blouse,dress,ana@example.com,2026-11-30T07:01:02Z

`image` is the image as the dataset names it (`source_image` in the manifests), so a
correction survives new crop settings. `old_label` is the label the dataset gives the
image; `new_label` is the newest reviewer's answer, a class, or `drop` to leave the image
out; `by` and `at` say whose answer it is and when it was given. Labels are compared in
Unicode NFC, so a label typed in another normalization still names its class.

A correction whose image is missing, or whose image no longer carries `old_label`, is
stale: it never relabels something a reviewer did not see. `balance` fails on one unless
`balance.skip_stale_corrections` is true, when it is skipped, reported and counted.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fashioncat.data.records import Drop
from fashioncat.errors import FashionError

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


def nfc(label: str) -> str:
    """`label` in Unicode NFC, the one form labels are compared and written in."""
    return unicodedata.normalize("NFC", label)


def read_classes(path: str | Path) -> list[str]:
    """A classes.json, checked: a non-empty list of distinct class names (distinct in NFC too)."""
    path = Path(path)
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FashionError(f"{path}: no classes file") from None
    except UnicodeDecodeError:
        raise FashionError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise FashionError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # a number of more than 4,300 digits, nesting too deep
        raise FashionError(f"{path}: not a list of class names ({type(exc).__name__}: {exc})") from None
    if not isinstance(classes, list) or not classes:
        raise FashionError(f"{path}: must be a non-empty JSON list of class names")
    seen: dict[str, int] = {}
    for index, name in enumerate(classes):
        if not isinstance(name, str) or not name.strip():
            raise FashionError(f"{path}: [{index}]: a class name must be a non-empty string, not {name!r}")
        if nfc(name) in seen:
            raise FashionError(f"{path}: [{index}]: class {name!r} repeats [{seen[nfc(name)]}] (compared in NFC)")
        seen[nfc(name)] = index
    return classes


def class_names(classes: Sequence[str]) -> dict[str, str]:
    """Each class as classes.json spells it, by its NFC form."""
    return {nfc(c): c for c in classes}


def read(path: str | Path, classes: Sequence[str]) -> list[Correction]:
    """The corrections in `path` (none when it does not exist), each checked; a bad row names its line.

    `new_label` comes back spelled as in `classes`, `old_label` in NFC.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        return _rows(path, class_names(classes))
    except UnicodeDecodeError:
        raise FashionError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise FashionError(f"{path}: not a readable CSV file ({exc})") from None


def _rows(path: Path, names: dict[str, str]) -> list[Correction]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in FIELDS[:3] if c not in (reader.fieldnames or [])]
        if missing:
            raise FashionError(f"{path}:1: missing column(s) {', '.join(missing)} (need {', '.join(FIELDS)})")
        found: dict[str, int] = {}
        out = []
        for row in reader:
            line = reader.line_num
            image, new = (row.get("image") or "").strip(), nfc((row.get("new_label") or "").strip())
            if not image:
                raise FashionError(f"{path}:{line}: no image")
            if new != DROP and new not in names:
                raise FashionError(f"{path}:{line}: new_label {new!r} is neither a class nor {DROP!r}")
            if image in found:
                raise FashionError(f"{path}:{line}: {image} is corrected twice (also on line {found[image]})")
            found[image] = line
            old = nfc((row.get("old_label") or "").strip())
            out.append(Correction(image, old, names.get(new, new), row.get("by") or "", row.get("at") or ""))
        return out


def apply(rows: list[dict], corrections: Iterable[Correction]) -> tuple[list[dict], list[Drop], list[str]]:
    """Rows relabelled or dropped as corrected, the drops, and why each stale correction was not applied."""
    wanted = {c.image: c for c in corrections}
    kept, drops, used = [], [], set()
    for row in rows:
        correction = wanted.get(row["source_image"])
        if correction is None or nfc(correction.old_label) != nfc(row["label"]):
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


def stale_error(path: str | Path, unapplied: Sequence[str]) -> FashionError:
    """The one-line error for stale corrections: the first named, the others counted, the way out said."""
    more = f" (and {len(unapplied) - 1} more)" if len(unapplied) > 1 else ""
    return FashionError(
        f"{path}: cannot apply the correction of {unapplied[0]}{more}; fix or delete the row, or set"
        " balance.skip_stale_corrections: true to skip stale corrections"
    )
