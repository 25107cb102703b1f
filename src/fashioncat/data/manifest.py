"""Balancing classes and splitting them, on manifest rows (dicts with image, label, group).

`group` is the digest of an image's pixels: images with the same pixels share a
group, and a group is never divided between splits.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from fashioncat.data.records import Drop
from fashioncat.errors import FashionError

SPLITS = ("train", "val", "test")
# One row per image, in every data stage. `pixels` is a digest of the cropped PNG itself, so a
# change of crop settings changes every manifest after it and DVC retrains on the new pixels.
FIELDS = ("image", "label", "group", "pixels", "source_image", "origin")


def by_label(rows: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["label"]].append(row)
    return grouped


def balanced(
    rows: list[dict], classes: list[str], per_class: int, seed: int, allow_smaller: bool, where: str = "balance"
) -> list[dict]:
    """`per_class` rows of every class, chosen with `seed`, in class order."""
    grouped = by_label(rows)
    short = {c: len(grouped.get(c, [])) for c in classes if len(grouped.get(c, [])) < per_class}
    if short and not allow_smaller:
        listing = ", ".join(f"{c} has {n}" for c, n in short.items())
        raise FashionError(
            f"{where}: fewer than {per_class} images in some classes ({listing}); lower "
            f"per_class or set balance.allow_smaller: true to keep them smaller"
        )
    rng = random.Random(seed)
    chosen = []
    for name in classes:
        candidates = sorted(grouped.get(name, []), key=lambda r: r["image"])
        chosen += sorted(rng.sample(candidates, min(per_class, len(candidates))), key=lambda r: r["image"])
    return chosen


def split(rows: list[dict], ratios: dict[str, float], seed: int) -> dict[str, list[dict]]:
    """Stratified, seeded split where rows sharing a group always land together.

    Each class's groups are shuffled and dealt to test, then val, until each
    holds its share of the class; the rest is train. A group holding several
    classes (same pixels, different labels) goes with its most common class.
    """
    members = defaultdict(list)
    for row in rows:
        members[row["group"]].append(row)
    groups_of = defaultdict(list)
    for group, items in sorted(members.items()):
        label = Counter(r["label"] for r in items).most_common(1)[0][0]
        groups_of[label].append(group)
    rng = random.Random(seed)
    out = {name: [] for name in SPLITS}
    for label in sorted(groups_of):
        groups = groups_of[label]
        rng.shuffle(groups)
        total = sum(len(members[g]) for g in groups)
        for name, group in zip(_deal(groups, members, total, ratios), groups):
            out[name] += members[group]
    return {name: sorted(items, key=lambda r: r["image"]) for name, items in out.items()}


def check_filled(splits: dict[str, list[dict]], classes: list[str], where: str = "split") -> None:
    """Raise unless every split holds at least one image of every class.

    A class too small for the ratios (or one duplicate group) would otherwise leave
    val or test without it, and training would run on, validated on nothing.
    """
    for name in classes:
        counts = {s: sum(1 for r in splits[s] if r["label"] == name) for s in SPLITS}
        if all(counts.values()):
            continue
        total = sum(counts.values())
        distinct = len({r["group"] for s in SPLITS for r in splits[s] if r["label"] == name})
        shares = ", ".join(f"{n} {s}" for s, n in counts.items())
        raise FashionError(
            f"{where}: class {name!r} has {total} images ({distinct} distinct), split as {shares}; every split "
            f"needs at least one image of every class: give the class more images or leave it out of the mapping"
        )


def _deal(groups: list[str], members: dict, total: int, ratios: dict[str, float]) -> list[str]:
    """The split of each group in order: test and val filled to their share first."""
    # a class of three or more images always gets at least one in val and test
    quota = {name: max(round(total * ratios[name]), 1 if total >= 3 else 0) for name in ("test", "val")}
    filled = Counter()
    names = []
    for group in groups:
        size = len(members[group])
        name = next((n for n in ("test", "val") if filled[n] + size <= quota[n]), "train")
        filled[name] += size
        names.append(name)
    return names


def split_report(splits: dict[str, list[dict]], classes: list[str]) -> dict:
    """Counts per split and class, and how many duplicate groups were kept together."""
    report = {"images": {name: len(items) for name, items in splits.items()}}
    for name, items in splits.items():
        counts = Counter(r["label"] for r in items)
        report[name] = {c: counts.get(c, 0) for c in classes}
    sizes = Counter(r["group"] for items in splits.values() for r in items)
    report["duplicate_groups"] = sum(1 for n in sizes.values() if n > 1)
    report["images_in_duplicate_groups"] = sum(n for n in sizes.values() if n > 1)
    return report


def surplus_drop(row: dict) -> Drop:
    """The data-report entry for an image left out to balance its class."""
    return Drop(row["origin"], "over the per-class count", row["label"], row["image"])
