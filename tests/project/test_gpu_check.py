"""bench/gpu_check.py: exits 0 with one line where there is no GPU; its estimate is the stated arithmetic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fashioncat import profile as profile_module

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import gpu_check  # noqa: E402
from gpu_check import PAPER, Rates, estimate, training_seconds  # noqa: E402


def test_without_a_gpu_it_measures_nothing_and_exits_0():
    # CUDA_VISIBLE_DEVICES=-1 hides any GPU, so this stays fast on a GPU machine too
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/gpu_check.py")], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("no GPU: nothing to measure")
    assert "images/s of:" in done.stdout and "50 trainings" in done.stdout


def test_one_training_is_epochs_times_train_and_val_passes():
    # 35,000 / 100 + 7,500 / 300 = 375 s per epoch
    assert PAPER.images(PAPER.source_per_class) == (35_000, 7_500)
    assert training_seconds(2, (35_000, 7_500), Rates(100, 300)) == pytest.approx(750)


def test_estimate_on_given_rates():
    one, mirrored, ray = Rates(100, 300), Rates(200, 600), Rates(400, 1200)
    result = estimate(1, one, mirrored, ray)
    # one GPU: 50 trainings x 375 s (both datasets are 35,000 + 7,500)
    assert result.one_gpu == pytest.approx(50 * 375)
    # Table 1 + final + scratch mirrored: 5 x 187.5; tune_noise, last_layer, whole_model: 5 x 375;
    # tuning: rounds 4,3,3,1,6,5,9,9 -> 1+1+1+1+2+2+3+3 = 14 waves, each trial at 400/4, 1200/4 -> 375 s
    assert result.all_gpus == pytest.approx(5 * 187.5 + 5 * 375 + 14 * 375)
    assert sum(result.parts.values()) == pytest.approx(result.all_gpus)
    # epochs scale everything
    assert estimate(30, one, mirrored, ray).all_gpus == pytest.approx(30 * result.all_gpus)


def test_estimate_without_mirrored_or_ray_rates_is_one_gpu_throughout():
    one = Rates(100, 300)
    result = estimate(3, one)
    assert result.all_gpus == pytest.approx(result.one_gpu) == pytest.approx(3 * 50 * 375)


def test_the_workload_matches_the_paper_profile():
    profile = yaml.safe_load((ROOT / "config/profiles/paper.yaml").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    classes = yaml.safe_load((ROOT / profile["datasets"]["source"]["classes"]).read_text())["classes"]
    target = yaml.safe_load((ROOT / profile["datasets"]["target"]["classes"]).read_text())["classes"]
    assert (PAPER.classes, PAPER.classes) == (len(classes), len(target))
    assert PAPER.source_per_class == profile["datasets"]["source"]["per_class"]
    assert PAPER.target_per_class == profile["datasets"]["target"]["per_class"]
    assert (PAPER.train_fraction, PAPER.val_fraction) == (params["split"]["train"], params["split"]["val"])
    assert PAPER.table1 == len(params["train"]["architectures"])
    assert PAPER.noise == profile.get("tune", {}).get("noise_seeds", params["tune"]["noise_seeds"])
    # the augmentation sweep's later rounds each meet the current best again, which has
    # Table 1's value (no augmentation) for every knob not yet swept: the memo skips it
    grids = profile_module.load_profile("paper", ROOT / "config/profiles")["tune"]["grids"]
    sweep = grids["augmentation"]
    knobs = list(sweep)
    assert all(params["train"]["augment"][knob] in sweep[knob] for knob in knobs[1:])
    # counted by hand from Tables 2-4: rotation 4, shear 4-1, zoom 4-1, flip 2-1; 6; 5; 3x3; 3x3
    assert PAPER.tuning_rounds == (4, 3, 3, 1, 6, 5, 9, 9)
    assert PAPER.trainings == 3 + 3 + 40 + 1 + 3


def test_the_toy_cpu_run_keeps_whole_batches():
    toy = gpu_check.CPU_TOY
    assert toy["images"] % toy["batch"] == 0 and toy["size"] >= 32
