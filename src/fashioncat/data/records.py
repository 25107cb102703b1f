"""The one in-memory shape every dataset reader returns, and the data reports.

A reader never silently loses an entry: each one becomes either a `Record`
(kept) or a `Drop` with a reason, and `tally` turns both into the per-class
counts that each data stage writes under metrics/details/data/.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, top-left inclusive


@dataclass(frozen=True)
class Record:
    image: str  # path relative to the dataset root
    label: str  # one of the mapped classes
    origin: str  # "file:line" of the annotation that produced it
    box: Box | None = None  # None: the whole image
    item: str = ""  # which garment of a photo holding several (its annotation id); "" where a photo is one record


@dataclass(frozen=True)
class Drop:
    origin: str
    reason: str
    label: str = ""  # the class when it is known
    detail: str = ""


@dataclass
class Parsed:
    records: list[Record] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)


UNKNOWN = "(unknown)"


def tally(kept: Iterable[str], drops: Iterable[Drop], classes: Iterable[str] = ()) -> dict:
    """Counts of entries in, kept and dropped by reason, overall and per class."""
    kept = Counter(kept)
    dropped: dict[str, Counter] = defaultdict(Counter)
    for drop in drops:
        dropped[drop.label or UNKNOWN][drop.reason] += 1
    names = list(dict.fromkeys([*classes, *sorted(kept), *sorted(dropped)]))
    per_class = {}
    for name in names:
        lost = dropped.get(name, Counter())
        per_class[name] = {
            "in": kept[name] + sum(lost.values()),
            "kept": kept[name],
            "dropped": dict(sorted(lost.items())),
        }
    total_lost = sum((c for c in dropped.values()), Counter())
    return {
        "in": sum(kept.values()) + sum(total_lost.values()),
        "kept": sum(kept.values()),
        "dropped": dict(sorted(total_lost.items())),
        "dropped_total": sum(total_lost.values()),
        "per_class": per_class,
    }


def drop_rows(drops: Iterable[Drop]) -> list[dict]:
    return [{"origin": d.origin, "reason": d.reason, "label": d.label, "detail": d.detail} for d in drops]


DROP_FIELDS = ("origin", "reason", "label", "detail")
