"""`python -m fashioncat parallel`: independent stages at once, one device each, committed as `dvc repro` would.

A throw-away git + DVC repository whose `work@<item>` stages record the device they saw, their
DVC_STAGE and when they ran, so concurrency and device assignment can be read back. Real DVC.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from dvcrepo import ENV, commit, dvc, set_params, sh

ROOT = Path(__file__).resolve().parents[1]

WORK = """\
import json, os, pathlib, sys, time, yaml
item = sys.argv[1]
if item == "broken":
    print("cannot work on", item)
    sys.exit(3)
size = yaml.safe_load(open("params.yaml"))["size"]
start = time.time()
time.sleep(1.5)
out = pathlib.Path("out") / item
out.mkdir(parents=True, exist_ok=True)
(out / "result.json").write_text(json.dumps({
    "device": os.environ.get("CUDA_VISIBLE_DEVICES"), "stage": os.environ.get("DVC_STAGE"),
    "files": len(list(pathlib.Path("data/made").iterdir())), "start": start, "end": time.time(),
}))
"""

MAKE = """\
import pathlib, yaml
size = yaml.safe_load(open("params.yaml"))["size"]
out = pathlib.Path("data/made")
out.mkdir(parents=True, exist_ok=True)
for i in range(size):
    (out / f"{i}.txt").write_text(str(i))
"""


def project(root: Path, items: list[str]) -> Path:
    repo = root / "repo"
    repo.mkdir()
    sh(repo, "git", "init", "-q", "-b", "main")
    dvc(repo, "init", "-q")
    (repo / "make.py").write_text(MAKE)
    (repo / "work.py").write_text(WORK)
    pipeline = {
        "stages": {
            "make": {"cmd": "python make.py", "deps": ["make.py"], "params": ["size"], "outs": ["data/made"]},
            "work": {
                "foreach": items,
                "do": {
                    "cmd": "python work.py ${item}",
                    "deps": ["work.py", "data/made"],
                    "outs": ["out/${item}"],
                },
            },
        }
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    set_params(repo, size=3)
    dvc(repo, "repro", "-q", "make")
    commit(repo, "pipeline")
    return repo


def parallel(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**ENV, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "fashioncat", "parallel", *args], cwd=repo, env=env, capture_output=True, text=True
    )


def result(repo: Path, item: str) -> dict:
    return json.loads((repo / "out" / item / "result.json").read_text())


def test_stages_run_at_once_one_device_each_and_dvc_finds_them_up_to_date(tmp_path):
    repo = project(tmp_path, ["a", "b", "c"])
    done = parallel(repo, "work@a", "work@b", "work@c", "--devices", "0,1")
    assert done.returncode == 0, done.stderr
    runs = {item: result(repo, item) for item in "abc"}
    assert {r["stage"] for r in runs.values()} == {"work@a", "work@b", "work@c"}
    assert all(r["files"] == 3 for r in runs.values())
    # two devices: a and b start together, c takes the device the first to finish gave back
    assert runs["a"]["device"] == "0" and runs["b"]["device"] == "1" and runs["c"]["device"] in {"0", "1"}
    assert runs["a"]["start"] < runs["b"]["end"] and runs["b"]["start"] < runs["a"]["end"], "a and b overlapped"
    assert runs["c"]["start"] >= min(runs["a"]["end"], runs["b"]["end"]) - 0.5, "never three at once"
    assert "committed to dvc.lock: work@a, work@b, work@c" in done.stdout
    assert "Data and pipelines are up to date" in dvc(repo, "status")
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert {"work@a", "work@b", "work@c"} <= set(lock)
    # DVC's own run of the same stages finds nothing to do, and the cache holds the outputs
    assert "Running stage" not in dvc(repo, "repro")
    (repo / "out/a/result.json").unlink()
    dvc(repo, "checkout", "-q", "work@a")
    assert result(repo, "a") == runs["a"]


def test_a_failed_stage_is_reported_and_not_committed_the_others_are(tmp_path):
    repo = project(tmp_path, ["a", "broken"])
    done = parallel(repo, "work@a", "work@broken", "--jobs", "2")
    assert done.returncode == 1
    assert "work@broken failed (exit 3)" in done.stderr and "cannot work on broken" in done.stderr
    assert "committed to dvc.lock: work@a" in done.stdout
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert "work@a" in lock and "work@broken" not in lock
    assert result(repo, "a")["device"] is None  # no --devices: the environment's own


def test_refuses_before_running_anything(tmp_path):
    repo = project(tmp_path, ["a", "b"])
    cases = [
        (("work@a", "make"), "work@a depends on make"),
        (("work@a", "work@zz"), "work@zz: not a stage of dvc.yaml"),
        (("work@a", "work@a"), "a stage is named twice"),
        (("work@a", "--jobs", "3", "--devices", "0"), "--jobs 3 needs as many --devices"),
    ]
    for args, message in cases:
        done = parallel(repo, *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    set_params(repo, size=4)  # `make` is now stale: the work stages would read old inputs
    done = parallel(repo, "work@a", "work@b")
    assert done.returncode == 2 and "not up to date: make; run `dvc repro make` first" in done.stderr
    assert not (repo / "out").exists(), "nothing may run when a check fails"
