"""Your own data through the whole pipeline (`dvc repro report`): a COCO source whose photos hold
two garments, and an ImageFolder target, on tiny fixtures in a throw-away repository."""

from __future__ import annotations

import csv
import json

import fixtures_own_data as own
import pytest
from dvcrepo import dvc
from test_pipeline import TINY_GRIDS, metrics, project

pytestmark = pytest.mark.slow  # git, DVC and a (tiny) training for real

# per class: two photos of two garments and two of one, so six crops from four photos
PAIRS = [(c, c) for c in (0, 6, 8, 10)] * 2 + [(c, None) for c in (0, 6, 8, 10)] * 2


def own_data(params: dict, repo) -> None:
    planted = {
        "coco": own.coco(repo / "fixtures/coco", photos=len(PAIRS), pairs=PAIRS),
        "folders": own.imagefolder(repo / "fixtures/folders", per_class=4),
    }
    (repo / "fixtures/planted.json").write_text(json.dumps(planted))
    (repo / "config/classes/own_coco.yaml").write_text(own.COCO_MAPPING)
    (repo / "config/classes/own_folders.yaml").write_text(own.FOLDER_MAPPING)
    params["datasets"] = {
        "source": {
            "format": "coco",
            "location": "fixtures/coco",
            "classes": "config/classes/own_coco.yaml",
            "per_class": 6,
            "options": {"annotations": "annotations/instances_train.json", "images": "train", "min_box_side": 8},
        },
        "target": {
            "format": "imagefolder",
            "location": "fixtures/folders",
            "classes": "config/classes/own_folders.yaml",
            "per_class": 4,
            "options": {"extensions": [".jpg", ".png"]},
        },
    }
    # `report` reads metrics/details/data, where `embed` writes too: the embedded default is rendered tiny
    params["embedded"].update(source_per_class=6, target_per_class=5, dead_links=2, multi_label=2)
    params["crop"]["size"] = 32
    params["split"].update(train=0.5, val=0.25, test=0.25)
    params["train"].update(image_size=32, epochs=1, batch_size=4, subset=0, architectures={"vgg16": {}})
    params["tune"].update(
        trial={"epochs": 1, "subset": 0, "val_subset": 0, "patience": 0}, grids=TINY_GRIDS, noise_seeds=2
    )
    params["final"].update(epochs=1, batch_size=4)
    params["finetune"]["epochs"] = 1
    params["label_issues"]["sheet"] = 4


def test_a_coco_source_and_an_image_folder_target_run_through_the_whole_pipeline(tmp_path):
    repo = project(tmp_path, own_data)
    out = dvc(repo, "repro", "report")
    for stage in ("download@source", "crop@source", "crop@target", "split@source", "final", "finetune@scratch"):
        assert f"Running stage '{stage}'" in out
    planted = json.loads((repo / "fixtures/planted.json").read_text())

    crop = metrics(repo, "crop_source.json")
    assert crop["kept"] == 24 and crop["dropped"] == planted["coco"]
    assert crop["per_class"]["top"]["dropped"]["box side under min_box_side"] == 1
    target = metrics(repo, "crop_target.json")
    lost = {k: v for k, v in planted["folders"].items() if k != "path escapes dataset folder"}  # links not copied
    assert target["kept"] == 16 and target["dropped"] == lost
    assert metrics(repo, "download_source.json")["files"] > 0

    where: dict[str, set[str]] = {}
    for name in ("train", "val", "test"):
        with open(repo / f"data/split/source/{name}.csv", newline="") as f:
            for row in csv.DictReader(f):
                where.setdefault(row["source_image"], set()).add(name)
    assert len(where) == 16 and all(len(splits) == 1 for splits in where.values())  # a photo's crops stay together
    assert metrics(repo, "split_source.json")["duplicate_groups"] == 8  # the eight two-garment photos
    assert (repo / "metrics/report.md").read_text().count("Table 6") >= 1
    assert "Data and pipelines are up to date" in dvc(repo, "status", "report")
