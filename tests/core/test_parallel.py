"""`python -m fashioncat parallel`: independent stages at once, one device each, committed as `dvc repro` would.

A throw-away git + DVC repository whose `work@<item>` stages record the device they saw, their
DVC_STAGE and when they ran, so concurrency and device assignment can be read back. Real DVC.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dvcrepo import ENV, commit, dvc, set_params, sh

ROOT = Path(__file__).resolve().parents[2]

WORK = """\
import json, os, pathlib, sys, time, yaml
item = sys.argv[1]
if item == "broken":
    print("cannot work on", item)
    sys.exit(3)
if item == "noout":  # succeeds without writing its output: `dvc commit` then fails
    sys.exit(0)
size = yaml.safe_load(open("params.yaml"))["size"]
if item.startswith("slow"):  # runs until stopped, with a child of its own
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    pathlib.Path("pids").mkdir(exist_ok=True)
    (pathlib.Path("pids") / item).write_text(f"{os.getpid()} {child.pid}")
    time.sleep(120)
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
        [sys.executable, "-m", "fashioncat", "parallel", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a run that never ends (issue 33: a negative --jobs) fails instead of hanging the suite
    )


def result(repo: Path, item: str) -> dict:
    return json.loads((repo / "out" / item / "result.json").read_text())


@pytest.mark.slow  # git and dvc for real
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


@pytest.mark.slow  # git and dvc for real
def test_a_failed_stage_is_reported_and_not_committed_the_others_are(tmp_path):
    repo = project(tmp_path, ["a", "broken"])
    done = parallel(repo, "work@a", "work@broken", "--jobs", "2")
    assert done.returncode == 1
    assert "work@broken failed (exit 3)" in done.stderr and "cannot work on broken" in done.stderr
    assert "committed to dvc.lock: work@a" in done.stdout
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert "work@a" in lock and "work@broken" not in lock
    assert result(repo, "a")["device"] is None  # no --devices: the environment's own


@pytest.mark.slow  # git and dvc for real
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


@pytest.mark.parametrize("jobs", ["-1", "0"])
def test_a_jobs_count_below_one_is_refused_in_one_line(tmp_path, jobs):
    """Issue 33: a negative --jobs never started a stage and never ended."""
    done = parallel(tmp_path, "work@a", "--jobs", jobs)
    assert done.returncode == 2 and done.stderr == f"error: --jobs must be at least 1, not {jobs}\n"


def test_outside_a_dvc_repository_is_one_line(tmp_path):
    done = parallel(tmp_path, "work@a")
    assert done.returncode == 2 and done.stderr == f"error: {tmp_path}: not inside a DVC repository\n"


@pytest.mark.slow
def test_run_from_a_subfolder_works_on_the_root_and_leaves_the_subfolder_alone(tmp_path):
    """Issue 33: from a subfolder, outputs were removed relative to it, and the stages ran there."""
    repo = project(tmp_path, ["a"])
    decoy = repo / "docs" / "out" / "a" / "keep.txt"  # where out/a would be, relative to docs/
    decoy.parent.mkdir(parents=True)
    decoy.write_text("not an output")
    (repo / "out" / "a").mkdir(parents=True)
    (repo / "out" / "a" / "old.txt").write_text("left by an earlier run")
    done = parallel(repo / "docs", "work@a")
    assert done.returncode == 0, done.stderr
    assert decoy.read_text() == "not an output"
    assert sorted(p.name for p in (repo / "out" / "a").iterdir()) == ["result.json"]  # removed first, as DVC does
    assert result(repo, "a")["files"] == 3 and not (repo / "docs" / ".dvc").exists()
    assert "Data and pipelines are up to date" in dvc(repo, "status")


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie nobody reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.slow
def test_sigterm_ends_every_running_stage_and_its_children_and_commits_nothing(tmp_path):
    """Issue 33: stopping the command left its stages running."""
    repo = project(tmp_path, ["slow1", "slow2"])
    env = {**ENV, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "fashioncat", "parallel", "work@slow1", "work@slow2", "--jobs", "2"]
    runner = subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = repo / "pids"
    until = time.monotonic() + 120
    while not (pids.is_dir() and len(list(pids.iterdir())) == 2) and time.monotonic() < until:
        assert runner.poll() is None, runner.communicate()
        time.sleep(0.1)
    started = [int(pid) for path in pids.iterdir() for pid in path.read_text().split()]
    assert len(started) == 4 and all(alive(pid) for pid in started)
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines() == [
        "error: stopped by SIGTERM: ended the running stages (work@slow1, work@slow2); nothing was committed"
    ]
    until = time.monotonic() + 10
    while any(alive(pid) for pid in started) and time.monotonic() < until:
        time.sleep(0.1)
    assert not [pid for pid in started if alive(pid)], "a stage or its child outlived the command"
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert not {"work@slow1", "work@slow2"} & set(lock)


@pytest.mark.slow
def test_a_failing_dvc_commit_is_one_line(tmp_path):
    """Issue 33: a stage that succeeded without its output made `dvc commit` fail with a traceback."""
    repo = project(tmp_path, ["noout"])
    done = parallel(repo, "work@noout")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: dvc commit work@noout failed (exit ") and "out/noout" in line, line
    assert line.endswith("their outputs are in the workspace but not in dvc.lock")
    assert "work@noout" not in yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
