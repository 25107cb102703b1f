"""Balancing and splitting: seeded, stratified, duplicates kept on one side."""

from collections import Counter

import pytest

from fashioncat.data.manifest import balanced, split, split_report
from fashioncat.errors import FashionError

RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}


def rows(counts: dict[str, int], duplicates: int = 0) -> list[dict]:
    out = [{"image": f"{c}/{i}.png", "label": c, "group": f"{c}-{i}"} for c, n in counts.items() for i in range(n)]
    for k in range(duplicates):  # same pixels as an existing image of the same class
        out.append({"image": f"a/dup{k}.png", "label": "a", "group": f"a-{k}"})
    return out


def test_balance_takes_the_same_number_per_class_with_the_seed():
    data = rows({"a": 50, "b": 30, "c": 80})
    first = balanced(data, ["a", "b", "c"], 20, seed=3, allow_smaller=False)
    assert Counter(r["label"] for r in first) == {"a": 20, "b": 20, "c": 20}
    assert first == balanced(list(reversed(data)), ["a", "b", "c"], 20, seed=3, allow_smaller=False)
    assert first != balanced(data, ["a", "b", "c"], 20, seed=4, allow_smaller=False)


def test_balance_short_class_is_an_error_unless_allowed():
    data = rows({"a": 50, "b": 5})
    with pytest.raises(FashionError, match="b has 5"):
        balanced(data, ["a", "b"], 20, seed=1, allow_smaller=False, where="datasets.x.per_class")
    kept = balanced(data, ["a", "b"], 20, seed=1, allow_smaller=True)
    assert Counter(r["label"] for r in kept) == {"a": 20, "b": 5}


def test_split_is_stratified_disjoint_and_seeded():
    data = rows({"a": 100, "b": 100, "c": 60})
    parts = split(data, RATIOS, seed=5)
    images = [r["image"] for part in parts.values() for r in part]
    assert len(images) == len(set(images)) == len(data)
    for label, n in {"a": 100, "b": 100, "c": 60}.items():
        counts = {name: sum(r["label"] == label for r in part) for name, part in parts.items()}
        assert counts["test"] == round(n * 0.15) and counts["val"] == round(n * 0.15)
    assert parts == split(list(reversed(data)), RATIOS, seed=5)
    assert parts != split(data, RATIOS, seed=6)


def test_duplicates_never_straddle_splits():
    data = rows({"a": 40, "b": 40}, duplicates=10)
    parts = split(data, RATIOS, seed=1)
    side = {}
    for name, part in parts.items():
        for r in part:
            assert side.setdefault(r["group"], name) == name
    report = split_report(parts, ["a", "b"])
    assert report["duplicate_groups"] == 10 and report["images_in_duplicate_groups"] == 20
    assert sum(report["images"].values()) == 90
