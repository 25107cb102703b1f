"""`python -m fashioncat next-batch`: the least certain images as the next Label Studio tasks, real model and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_annotation import CLASSES, COLOURS
from test_serve import make_bundle

from fashioncat.__main__ import main as cli
from fashioncat.annotate import label_studio
from fashioncat.data import manifest, shards


def tinted(colour: str, strength: float) -> Image.Image:
    """Grey moved `strength` of the way to `colour`: the model is the less sure the smaller `strength`."""
    grey, target = np.array(COLOURS["grey"], float), np.array(COLOURS[colour], float)
    pixels = np.broadcast_to(grey + strength * (target - grey), (40, 40, 3))
    return Image.fromarray(pixels.round().astype(np.uint8))


STRENGTHS = {"red": (0.9, 0.03), "green": (0.8, 0.3), "blue": (0.7, 0.1)}  # per colour: a sure image, an unsure one


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository's current folder: a bundle, and a crop stage manifest of tinted images (one mislabelled)."""
    monkeypatch.chdir(tmp_path)
    make_bundle(tmp_path / "models" / "annotator")
    folder = tmp_path / "data/cropped/source/images"
    folder.mkdir(parents=True)
    rows = []
    for colour, strengths in STRENGTHS.items():
        for k, strength in enumerate(strengths):
            name = f"data/cropped/source/images/{colour}_{k}.png"
            tinted(colour, strength).save(name)
            given = "blue" if (colour, k) == ("red", 0) else colour  # a sure red image labelled blue
            rows.append({"image": name, "label": given, "source_image": f"img/{colour}_{k}.jpg"})
    with open(tmp_path / "data/cropped/source/records.csv", "w", newline="") as f:
        f.write(",".join(manifest.FIELDS) + "\n")
        for r in rows:
            f.write(f"{r['image']},{r['label']},g,1,{r['source_image']},o\n")
    return tmp_path


def next_batch(*args: str) -> int:
    return cli(["next-batch", "--model", "models/annotator", *args])


def test_a_folder_gives_the_n_least_certain_images_as_tasks_least_certain_first(repo):
    assert next_batch("--images", "data/cropped/source/images", "--n", "3", "--out", "batch.json") == 0
    tasks = json.loads(Path("batch.json").read_text())
    assert [Path(t["data"]["path"]).name for t in tasks] == ["red_1.png", "blue_1.png", "green_1.png"]
    assert [t["data"]["rank"] for t in tasks] == [1, 2, 3]
    margins = [t["data"]["margin"] for t in tasks]
    assert margins == sorted(margins) and all("entropy" in t["data"] for t in tasks)
    assert all("label_quality" not in t["data"] and "given_label" not in t["data"] for t in tasks)
    (prediction,) = tasks[0]["predictions"]
    assert prediction["model_version"] == label_studio.model_version("models/annotator")
    assert prediction["result"][0]["value"]["choices"] == ["red"] and 0.33 < prediction["score"] < 0.5
    assert tasks[0]["data"]["image"] == label_studio.LOCAL_FILES + "red_1.png"  # relative to the images' folder
    assert Path("batch.label_config.xml").read_text() == label_studio.labeling_config(CLASSES)


def test_a_manifest_gives_review_tasks_with_the_given_label_and_its_quality(repo, capsys):
    assert next_batch("--images", "data/cropped/source/records.csv", "--n", "6", "--out", "review.json") == 0
    tasks = json.loads(Path("review.json").read_text())
    assert len(tasks) == 6 and "6 least certain of 6 images by margin" in capsys.readouterr().err
    for t in tasks:
        assert t["data"]["source_image"].startswith("img/") and t["data"]["given_label"] in CLASSES
        assert 0 <= t["data"]["label_quality"] <= 1
        assert t["data"]["image"] == label_studio.LOCAL_FILES + t["data"]["path"]  # relative to the repository
    by_quality = cli_tasks("--by", "label_quality", "--n", "1")
    assert by_quality[0]["data"]["source_image"] == "img/red_0.jpg"  # the sure red labelled blue


def test_a_manifest_of_shard_members_gives_tasks_linked_to_copies_of_the_chosen_images(repo):
    records = Path("data/cropped/source/records.csv")
    lines = records.read_text().splitlines()
    originals = {}
    with shards.Writer("data/cropped/source/shards") as writer:  # the crop stage's layout
        for i, line in enumerate(lines[1:], 1):
            image, rest = line.split(",", 1)
            originals[Path(image).name] = Path(image).read_bytes()
            lines[i] = f"data/cropped/source/shards/{writer.add(Path(image).name, originals[Path(image).name])}/"
            lines[i] += f"{Path(image).name},{rest}"
            Path(image).unlink()
    records.write_text("\n".join(lines) + "\n")
    assert next_batch("--images", str(records), "--n", "2", "--out", "review/batch.json") == 0
    tasks = json.loads(Path("review/batch.json").read_text())
    assert [Path(t["data"]["path"]).name for t in tasks] == ["red_1.png", "blue_1.png"]  # as from loose files
    for t in tasks:
        copy = Path("review/batch_images") / Path(t["data"]["path"]).name
        assert t["data"]["image"] == label_studio.LOCAL_FILES + copy.as_posix()
        assert copy.read_bytes() == originals[copy.name]
    assert sorted(p.name for p in Path("review/batch_images").iterdir()) == ["blue_1.png", "red_1.png"]  # chosen only


def cli_tasks(*args: str) -> list[dict]:
    assert next_batch("--images", "data/cropped/source/records.csv", "--out", "more.json", *args) == 0
    return json.loads(Path("more.json").read_text())


def test_images_already_reviewed_are_left_out(repo):
    Path("corrections.csv").write_text("image,old_label,new_label,by,at\nimg/red_1.jpg,red,green,1,2026-01-01T00:00Z\n")
    first = cli_tasks("--n", "2", "--skip", "corrections.csv")
    assert "img/red_1.jpg" not in [t["data"]["source_image"] for t in first]
    second = cli_tasks("--n", "2", "--skip", "corrections.csv", "--skip", "more.json")
    assert not {t["data"]["source_image"] for t in first} & {t["data"]["source_image"] for t in second}


def test_next_batch_input_errors_are_one_line(repo, capsys):
    cases = [
        (["--images", "data/cropped/source/images", "--n", "2"], "give --out TASKS.json, --url URL --project ID"),
        (["--images", "data/cropped/source/images", "--out", "x.csv"], "x.csv: tasks are written as .json"),
        (["--images", "data/cropped/source/images", "--out", "x.json", "--by", "label_quality"], "needs given labels"),
        (["--images", "nowhere", "--out", "x.json"], "nowhere: does not exist"),
        (["--images", "data/cropped/source/images", "--url", "http://127.0.0.1:9"], "--url needs --project ID"),
        (["--images", "data/cropped/source/images", "--out", "x.json", "--skip", "gone.csv"], "gone.csv: no such file"),
    ]
    for args, message in cases:
        assert next_batch(*args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
