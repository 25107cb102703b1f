"""Likely label errors: planted wrong labels must be found, and the stage's CSV and contact sheet written."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import fixtures
import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict

from fashioncat.annotate import label_issues
from fashioncat.config import LABEL_FILTERS
from fashioncat.data import shards
from fashioncat.errors import FashionError
from fashioncat.reporting import plots

CLASSES = ["red", "green", "blue"]


def flip(labels: np.ndarray, count: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`labels` with `count` of them moved to another class; returns (noisy labels, flipped indices)."""
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), count, replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, classes, count)) % classes
    return noisy, flipped


@pytest.mark.parametrize("filter_by", LABEL_FILTERS)  # every method params.yaml accepts must work in cleanlab
def test_planted_errors_are_found_from_out_of_sample_probabilities(filter_by):
    rng = np.random.default_rng(3)
    centres = np.array([[0, 0], [4, 0], [2, 3.5]])
    truth = np.repeat(np.arange(3), 100)
    points = centres[truth] + rng.normal(0, 1.0, (len(truth), 2))  # overlapping a little: probabilities vary
    noisy, flipped = flip(truth, 10, 3, seed=4)
    # out-of-sample, as cleanlab requires: each point is predicted by a model fitted without it
    probs = cross_val_predict(LogisticRegression(), points, noisy, cv=5, method="predict_proba")
    ranked = label_issues.find(noisy, probs, filter_by)
    found = set(ranked.tolist())
    assert len(found & set(flipped.tolist())) >= 7  # at least 70 % recall
    assert len(found) <= 30  # and not by flagging everything
    given = probs[ranked, noisy[ranked]]
    assert np.all(np.diff(given) >= 0)  # ranked by self-confidence, least confident first


def colour_split(root: Path, per_class: int, flips: int) -> set[str]:
    """data/split/source with a test split of coloured squares, `flips` of them mislabelled; returns those paths."""
    folder, pictures = root / "data/split/source", root / "data/cropped/images"
    folder.mkdir(parents=True)
    pictures.mkdir(parents=True)
    truth = np.repeat(np.arange(3), per_class)
    noisy, flipped = flip(truth, flips, 3, seed=5) if flips else (truth, np.array([], dtype=int))
    rng = np.random.default_rng(6)
    lines = ["image,label"]
    for i, (true, given) in enumerate(zip(truth, noisy)):
        pixels = np.clip(rng.normal(60, 20, (64, 64, 3)), 0, 255)
        pixels[..., true] += rng.uniform(60, 180)  # how saturated varies: so does the model's confidence
        name = f"data/cropped/images/{i:04d}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / name)
        lines.append(f"{name},{CLASSES[given]}")
    (folder / "test.csv").write_text("\n".join(lines) + "\n")
    (folder / "classes.json").write_text(json.dumps(CLASSES))
    fixtures.colour_model().save(root / "final.keras")
    return {f"data/cropped/images/{i:04d}.png" for i in flipped}


def test_stage_writes_ranked_csv_and_contact_sheet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planted = colour_split(tmp_path, per_class=20, flips=6)
    report = label_issues.run(
        "final.keras",
        "data/split/source",
        "plots/5_label_issues/label_issues.csv",
        "plots/5_label_issues/label_issues.png",
        filter_by="prune_by_noise_rate",
        sheet=4,
        draw=plots.contact_sheet_png,
        tasks_path="plots/5_label_issues/review_tasks.json",
    )
    with open("plots/5_label_issues/label_issues.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    tasks = json.loads(Path("plots/5_label_issues/review_tasks.json").read_text())
    assert [t["data"]["given_label"] for t in tasks] == [r["given"] for r in rows]
    assert [t["predictions"][0]["result"][0]["value"]["choices"] for t in tasks] == [[r["suggested"]] for r in rows]
    assert [t["data"]["source_image"] for t in tasks] == [r["image"] for r in rows]  # this split names no source
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=" + rows[0]["image"]
    config = Path("plots/5_label_issues/review_tasks.label_config.xml").read_text()
    assert all(f'<Choice value="{name}"/>' in config for name in CLASSES)
    assert list(rows[0]) == list(label_issues.COLUMNS)
    assert report["issues"] == len(rows) and report["n"] == 60 and report["method"] == "prune_by_noise_rate"
    # the colour model is fixed, not trained: it finds every planted error and flags nothing else (measured)
    assert {r["image"] for r in rows} == planted and len(planted) == 6
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["given"] != r["suggested"] for r in rows if r["image"] in planted)
    with Image.open("plots/5_label_issues/label_issues.png") as sheet:
        assert sheet.format == "PNG" and sheet.width > 200


def test_images_in_shards_are_reviewed_through_copies_of_their_bytes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planted = colour_split(tmp_path, per_class=20, flips=6)
    test_csv = tmp_path / "data/split/source/test.csv"
    lines = test_csv.read_text().splitlines()
    with shards.Writer(tmp_path / "data/cropped/source/shards", per_shard=25) as writer:  # as the crop stage packs
        moved = {}
        for i, line in enumerate(lines[1:], 1):
            image, label = line.split(",")
            shard = writer.add(Path(image).name, (tmp_path / image).read_bytes())
            moved[image] = f"data/cropped/source/shards/{shard}/{Path(image).name}"
            lines[i] = f"{moved[image]},{label}"
    originals = {image: (tmp_path / image).read_bytes() for image in moved}
    for image in moved:
        (tmp_path / image).unlink()  # only the shards hold the images now
    test_csv.write_text("\n".join(lines) + "\n")
    label_issues.run(
        "final.keras",
        "data/split/source",
        "issues.csv",
        "issues.png",
        filter_by="prune_by_noise_rate",
        sheet=4,
        draw=plots.contact_sheet_png,
        tasks_path="tasks.json",
        images_dir="data/label_issues/review_images",
    )
    tasks = json.loads(Path("tasks.json").read_text())
    assert {t["data"]["path"] for t in tasks} == {moved[image] for image in planted}  # the same six found
    for task in tasks:
        original = next(image for image, name in moved.items() if name == task["data"]["path"])
        copy = "data/label_issues/review_images/" + Path(original).name
        assert task["data"]["image"] == "/data/local-files/?d=" + copy
        assert Path(copy).read_bytes() == originals[original]  # Label Studio serves the image that was judged
    assert len(list(Path("data/label_issues/review_images").iterdir())) == len(tasks)


def test_clean_split_gives_an_empty_list_and_still_a_sheet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    colour_split(tmp_path, per_class=10, flips=0)
    report = label_issues.run(
        "final.keras",
        "data/split/source",
        "out.csv",
        "out.png",
        filter_by="both",
        sheet=16,
        draw=plots.contact_sheet_png,
    )
    assert report["issues"] == 0
    assert Path("out.csv").read_text().strip() == ",".join(label_issues.COLUMNS)
    assert Path("out.png").stat().st_size > 0  # DVC expects the output even when there is nothing to show


def test_missing_cleanlab_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)  # what an environment without cleanlab raises
    with pytest.raises(FashionError, match="cleanlab, which is not installed"):
        label_issues.find(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), "both")
