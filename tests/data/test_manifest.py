"""Balancing and splitting: seeded, stratified, duplicates kept on one side."""

from collections import Counter

import pytest

from fashioncat.data.manifest import balanced, check_filled, split, split_report
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


@pytest.mark.parametrize(
    "counts,duplicates,message",
    [
        ({"a": 40, "b": 2}, 0, "class 'b' has 2 images \\(2 distinct\\), split as 2 train, 0 val, 0 test"),
        ({"a": 40, "b": 1}, 0, "class 'b' has 1 images \\(1 distinct\\), split as 1 train, 0 val, 0 test"),
        ({"a": 40, "b": 0}, 0, "class 'b' has 0 images \\(0 distinct\\), split as 0 train, 0 val, 0 test"),
    ],
)
def test_a_class_too_small_for_every_split_stops_split_with_one_line(counts, duplicates, message):
    """Issue 14, case 6: val and test used to be left without the class, without a word."""
    parts = split(rows(counts, duplicates), RATIOS, seed=1)
    with pytest.raises(FashionError, match=f"^split@source: {message}; every split needs") as info:
        check_filled(parts, ["a", "b"], where="split@source")
    assert "\n" not in str(info.value)


def test_a_class_of_one_duplicated_picture_cannot_be_split():
    data = rows({"a": 40}) + [{"image": f"b/{i}.png", "label": "b", "group": "same"} for i in range(10)]
    parts = split(data, RATIOS, seed=1)
    with pytest.raises(FashionError, match="class 'b' has 10 images \\(1 distinct\\), split as 10 train, 0 val"):
        check_filled(parts, ["a", "b"])


def test_three_images_a_class_fill_every_split():
    parts = split(rows({"a": 3, "b": 3}), RATIOS, seed=1)
    check_filled(parts, ["a", "b"])
    assert {name: len(items) for name, items in parts.items()} == {"train": 2, "val": 2, "test": 2}


def test_the_split_stage_stops_before_writing_anything(tmp_path):
    import csv
    import json
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "config", tmp_path / "config")
    shutil.copy(root / "params.yaml", tmp_path / "params.yaml")
    balanced = tmp_path / "data/balanced/source"
    balanced.mkdir(parents=True)
    with open(balanced / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "label", "group"])
        writer.writeheader()
        writer.writerows(rows({"a": 20, "b": 2}))
    (balanced / "classes.json").write_text(json.dumps(["a", "b"]))
    args = ["--dataset", "source", "--balanced", str(balanced), "--out", "data/split/source", "--details", "m.json"]
    done = subprocess.run(
        [sys.executable, str(root / "stages/split.py"), *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: split@source: class 'b' has 2 images") and done.stderr.count("\n") == 1
    assert not (tmp_path / "data/split").exists() and not (tmp_path / "m.json").exists()
