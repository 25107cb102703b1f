"""Reviewers' label corrections: versioned in git, applied by `balance` (imported by `annotate.review_import`).

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
