"""bench/paper_smoke.py: its overlay changes only counts and cuts the grids, and the result passes check_params."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fashioncat import paper, profile

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import paper_smoke  # noqa: E402
from gpu_check import PAPER, Rates, training_seconds  # noqa: E402

GRID_PREFIX = "tune.grids."


def _at(data: dict, dotted: str):
    for part in dotted.split("."):
        data = data[part]
    return data


def test_the_overlay_sets_only_counts_the_local_settings_and_the_grids():
    keys = set(profile.leaves(paper_smoke.overlay()))
    others = {k for k in keys if not k.startswith(GRID_PREFIX)}
    assert others == set(paper_smoke.COUNT_KEYS) | set(paper_smoke.LOCAL_KEYS)
    assert profile.leaves(paper_smoke.overlay())["download.allowed_hosts"] == ["127.0.0.1"]


def test_every_count_is_a_positive_whole_number_no_larger_than_the_paper_profiles():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    paper_profile = profile.load_profile("paper", ROOT / "config/profiles")
    values = profile.leaves(paper_smoke.overlay())
    for key in paper_smoke.COUNT_KEYS:
        value = values[key]
        try:
            ceiling = _at(paper_profile, key)
        except KeyError:
            ceiling = _at(params, key)  # a key the profile leaves as params.yaml has it
        assert isinstance(value, int) and value > 0, key
        assert ceiling == 0 or value <= ceiling, key  # 0 (all) is the largest count of all


def test_each_tuning_grid_is_the_papers_first_two_values_of_every_knob():
    grids = paper_smoke.overlay()["tune"]["grids"]
    assert set(grids) == set(paper.GRIDS)
    for step, knobs in paper.GRIDS.items():
        assert set(grids[step]) == set(knobs), step
        for knob, values in knobs.items():
            assert grids[step][knob] == values[:2], f"{step}.{knob}"


def test_the_paper_profile_with_the_overlay_passes_check_params(tmp_path):
    for name in ("params.yaml", "stages/check_params.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    paper_smoke.apply(tmp_path / "params.yaml", tmp_path / "config/profiles")
    done = subprocess.run(
        [sys.executable, "stages/check_params.py", "--out", "params.ok"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert params["train"]["image_size"] == 224 and params["crop"]["size"] == 224  # the profile's, kept
    assert params["datasets"]["source"]["classes"] == "config/classes/deepfashion_paper.yaml"
    assert params["tune"]["grids"]["lr_decay"] == {"learning_rate": [0.01, 0.1], "decay": [0.98, 0.95]}
    assert params["datasets"]["target"]["per_class"] == paper_smoke.PER_CLASS


def test_a_scratch_folder_that_is_not_empty_is_refused_in_one_line(tmp_path):
    (tmp_path / "left.txt").write_text("x")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/paper_smoke.py"), "--workdir", str(tmp_path), "--out", "unused.md"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path}: the scratch folder must be empty or absent"]


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_images_per_second_and_the_paper_time_follow_the_stated_arithmetic(tmp_path):
    details = tmp_path / "metrics/details"
    for name in ("source", "target"):
        _write(details / f"data/split_{name}.json", {"images": {"train": 40, "val": 10, "test": 10}})
    for arch in paper_smoke.TABLE1:
        _write(details / f"train/{arch}.json", {"epochs": 1, "fit_seconds": 25.0, "val_accuracy": 0.1})
    _write(details / "table1.json", {"best": "vgg16"})
    budget = {"epochs": 1, "subset": 20, "val_subset": 0, "patience": 5, "train_images": 20}
    for step in paper.GRIDS:
        trial = {"fit_seconds": 15.0, "val_accuracy": 0.1, "epochs": 1}
        carried = {"fit_seconds": None, "val_accuracy": 0.2, "epochs": 1}
        trials = [trial, carried, dict(trial)]  # the last: the memo's reuse of the first, not a training
        _write(details / f"tune/{step}.json", {"trial_budget": budget, "trials": trials})
    _write(details / "final.json", {"epochs": 1, "fit_seconds": 10.0})
    for experiment in paper_smoke.TRANSFER:
        _write(details / f"finetune/{experiment}.json", {"epochs": 1, "fit_seconds": 50.0})

    rows = {r["stage"]: r for r in paper_smoke.stage_rates(tmp_path)}
    assert rows["train@vgg16"]["rate"] == 2.0  # (40 + 10) images / 25 s
    assert rows["tune@optimizer"]["trainings"] == 1 and rows["tune@optimizer"]["rate"] == 2.0  # (20 + 10) / 15 s
    assert rows["final"]["rate"] == 5.0 and rows["finetune@scratch"]["rate"] == 1.0
    parts = paper_smoke.paper_hours(list(rows.values()), 30)
    images = PAPER.images(PAPER.source_per_class)
    assert parts["Table 1"] == 3 * training_seconds(30, images, Rates(2.0, 2.0))
    assert parts["final"] == 30 * (35_000 + 7_500) / 5.0
    text = paper_smoke.table(list(rows.values()), 30, 1200.0, 1100.0, 6, None, paper_smoke.chosen(tmp_path))
    assert "select_best chose vgg16 (validation accuracy vgg16 0.1, resnet50 0.1, resnet50v2 0.1;" in text
    assert "| train@vgg16 | 1 | 50 | 25.0 | 2.00 | - |" in text  # no stage_seconds in these files
    assert "| one GPU | not measured here" in text


@pytest.mark.slow  # git, DVC and the data stages for real (about 30 s)
def test_the_samples_go_through_download_crop_balance_and_split_under_the_smoke_params(tmp_path):
    from fashioncat.data import samples

    work = tmp_path / "work"
    work.mkdir()
    paper_smoke.scratch_copy(work)
    paper_smoke.apply(work / "params.yaml", work / "config/profiles", per_class=3)
    (work / paper_smoke.SERVED).mkdir(parents=True)
    with samples.serve(work / paper_smoke.SERVED) as url:
        samples.deepfashion(work / paper_smoke.SOURCE, work / "config/classes/deepfashion_paper.yaml", 3)
        target_map = work / "config/classes/imaterialist_paper.yaml"
        samples.imaterialist(work / paper_smoke.TARGET, target_map, 3, url, work / paper_smoke.SERVED)
        done = subprocess.run(
            [sys.executable, "-m", "dvc", "repro", "split@source", "split@target"],
            cwd=work,
            env=paper_smoke._env(work),
            capture_output=True,
            text=True,
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    download = json.loads((work / "metrics/details/data/download_target.json").read_text())
    assert download["fetched"] == 30  # every URL through the loopback server
    for name in ("source", "target"):
        split = json.loads((work / f"metrics/details/data/split_{name}.json").read_text())
        assert split["images"] == {"train": 10, "val": 10, "test": 10}, name  # 3 per class: 1 / 1 / 1
