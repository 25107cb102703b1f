"""A stage killed with SIGKILL part-way and run again ends exactly where an uninterrupted run ends.

Each case runs the real stage script twice in separate processes: once straight through,
once killed after its first checkpoint and then rerun. Same CPU, same parameters: the
models must be byte-identical and the reports equal but for timings.
"""

from __future__ import annotations

import json
import os
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

ROOT = Path(__file__).resolve().parents[2]
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


def command_of(stage: str, code: Path = ROOT) -> list[str]:
    return [sys.executable, str(code / COMMANDS[stage][0]), *COMMANDS[stage][1:]]


def run(root: Path, stage: str, code: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(command_of(stage, code), cwd=root, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def killed(root: Path, stage: str, code: Path = ROOT, env: dict | None = None) -> None:
    """Start the stage and SIGKILL it once it has saved part of its progress."""
    first = subprocess.Popen(
        command_of(stage, code), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    deadline = time.time() + 300
    while not checkpointed(root, stage) and first.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert checkpointed(root, stage), "the run should be killed part-way, after a checkpoint"
    assert not (root / "report.json").exists()


def killed_then_rerun(root: Path, stage: str) -> subprocess.CompletedProcess:
    killed(root, stage)
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


def test_a_one_byte_change_to_the_stages_code_deps_makes_the_rerun_start_from_scratch(tmp_path):
    """A checkpoint is trusted only by the code that wrote it; the control run, unchanged, resumes."""
    code = tmp_path / "code"
    shutil.copytree(ROOT / "stages", code / "stages")
    shutil.copytree(ROOT / "src", code / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    env = {**os.environ, "PYTHONPATH": str(code / "src")}  # the copy, not the installed package

    control = project(tmp_path / "control")
    killed(control, "train", code, env)
    assert "resuming from epoch" in run(control, "train", code, env).stdout

    changed = project(tmp_path / "changed")
    killed(changed, "train", code, env)
    with (code / "src/fashioncat/model/inputs.py").open("a", encoding="utf-8") as f:
        f.write("\n")  # one byte in a module the train stage imports
    rerun = run(changed, "train", code, env)
    assert "resuming from epoch" not in rerun.stdout
    assert json.loads((changed / "report.json").read_text())["resumed_from_epoch"] == 0
