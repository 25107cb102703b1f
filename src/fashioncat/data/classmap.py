"""Class mapping files: dataset labels -> the classes a model predicts.

Mappings are YAML files under config/classes/, so that a user changes which
categories make up a class without touching code. The order of `classes` in
the file is the order of the model's outputs.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import yaml

from fashioncat.errors import FashionError


@dataclass(frozen=True)
class ClassMap:
    classes: tuple[str, ...]
    lookup: dict[str, str]  # dataset label (category name or label id) -> class
    path: str

    def classify(self, labels) -> tuple[str | None, str]:
        """The one class `labels` map to, or None and why not."""
        found = {self.lookup[label] for label in labels if label in self.lookup}
        if not found:
            return None, "no label maps to a class"
        if len(found) > 1:
            return None, "labels map to several classes"
        return found.pop(), ""


def load_classmap(path: str | Path) -> ClassMap:
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FashionError(f"{path}: cannot read class mapping ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("classes"), dict) or not spec["classes"]:
        raise FashionError(f"{path}: a class mapping needs a non-empty 'classes:' mapping of class -> labels")
    names = _label_names(path, spec.get("label_names"))
    lookup: dict[str, str] = {}
    for cls, labels in spec["classes"].items():
        if not isinstance(labels, list):
            raise FashionError(f"{path}: classes.{cls} must be a list of labels")
        for label in labels:
            key = _label_key(path, cls, str(label), names)
            if key in lookup and lookup[key] != cls:
                raise FashionError(f"{path}: label {label!r} is under both {lookup[key]!r} and {cls!r}")
            lookup[key] = str(cls)
    return ClassMap(tuple(str(c) for c in spec["classes"]), lookup, str(path))


def _label_names(path: Path, table: str | None) -> dict[str, str] | None:
    """labelName -> labelId from an iMaterialist label table, when the mapping names one."""
    if table is None:
        return None
    table_path = (path.parent / table) if not Path(table).is_absolute() else Path(table)
    try:
        with open(table_path, newline="", encoding="utf-8") as f:
            return {row["labelName"]: row["labelId"] for row in csv.DictReader(f)}
    except (OSError, KeyError) as exc:
        raise FashionError(f"{path}: label_names table {table_path} is unreadable ({exc})") from None


def _label_key(path: Path, cls: str, label: str, names: dict[str, str] | None) -> str:
    if names is None:
        return label
    if label in names:
        return names[label]
    if label in names.values():
        return label
    raise FashionError(f"{path}: classes.{cls}: {label!r} is not a label name or id in the label table")
