"""A stage killed with SIGKILL part-way and run again ends exactly where an uninterrupted run ends.

Each case runs the real stage script twice in separate processes: once straight through,
once killed after its first checkpoint and then rerun. Same CPU, same parameters: the
models must be byte-identical and the reports equal but for timings.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import fixtures
import pytest
import yaml

from fashioncat.config import Augment, Hyper
from fashioncat.contracts import Choice, write_choice

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HYPER = Hyper(
    initializer="glorot_uniform", optimizer="adam", learning_rate=0.001, decay=0.9, regularizer="l2", l1=0.0, l2=1e-4
)
TIMINGS = ("fit_seconds", "stage_seconds", "resumed_from_epoch")


def project(root: Path) -> Path:
    fixtures.split_folder(root, per_split=(40, 8, 8))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(epochs=4, batch_size=8, image_size=32)
    params["train"]["augment"].update(rotation=10, horizontal_flip=True)
    params["train"]["hyper"].update(learning_rate=0.001)
    params["final"].update(epochs=4)
    params["tune"]["trial"].update(epochs=1, subset=0)
    params["tune"]["grids"]["optimizer"]["optimizer"] = ["adam", "sgd", "adamax"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(ROOT / "config", root / "config")
    write_choice(root / "start.json", Choice("vgg16", HYPER, Augment(rotation=10, horizontal_flip=True)))
    return root


# Both trainings write the same outputs; only what they train differs.
TRAINED = [
    "--split",
    "data/split/source",
    "--model",
    "out.keras",
    "--live",
    "live",
    "--checkpoints",
    "ck",
    "--details",
    "report.json",
]
COMMANDS = {
    "train": ["stages/train.py", "--arch", "vgg16", *TRAINED],
    "final": ["stages/final.py", "--choice", "start.json", "--curves", "curves.png", *TRAINED],
    "tune": [
        "stages/tune.py",
        "--step",
        "optimizer",
        "--start",
        "start.json",
        "--split",
        "data/split/source",
        "--choice",
        "out.json",
        "--plot",
        "trials.png",
        "--checkpoints",
        "ck",
        "--details",
        "report.json",
    ],
}


def checkpointed(root: Path, stage: str) -> bool:
    """Whether the run has saved some, but not all, of its progress."""
    if stage == "tune":
        memo = root / "ck/trials.json"
        return memo.is_file() and 1 <= len(json.loads(memo.read_text())["trials"]) < 3
    return (root / "ck/current/state.json").is_file()


def run(root: Path, stage: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / COMMANDS[stage][0]), *COMMANDS[stage][1:]]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def killed_then_rerun(root: Path, stage: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / COMMANDS[stage][0]), *COMMANDS[stage][1:]]
    first = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not checkpointed(root, stage) and first.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert checkpointed(root, stage), "the run should be killed part-way, after a checkpoint"
    assert not (root / "report.json").exists()
    return run(root, stage)


def report(root: Path) -> dict:
    data = json.loads((root / "report.json").read_text())
    for key in TIMINGS:
        data.pop(key, None)
    for trial in data.get("trials", []):
        trial.pop("fit_seconds")
    return data


@pytest.mark.parametrize("stage", ["train", "final", "tune"])
def test_killed_and_resumed_equals_uninterrupted(tmp_path, stage):
    straight = project(tmp_path / "straight")
    run(straight, stage)
    resumed = project(tmp_path / "resumed")
    rerun = killed_then_rerun(resumed, stage)
    if stage == "tune":
        assert (resumed / "out.json").read_text() == (straight / "out.json").read_text()
    else:
        assert "resuming from epoch" in rerun.stdout
        assert (resumed / "out.keras").read_bytes() == (straight / "out.keras").read_bytes()
        curve = (resumed / "live/plots/metrics/train/loss.tsv").read_text()
        assert curve == (straight / "live/plots/metrics/train/loss.tsv").read_text()
    assert report(resumed) == report(straight)
    assert not (resumed / "ck").exists()
