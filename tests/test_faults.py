"""Faults around the stages: a full disk, two `dvc repro` at once. Each ends in one clear line,
with nothing partial left where DVC or the next run would take it for a finished output."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dvcrepo import ENV, dvc, fit_metrics, tiny_project

# Holds the repository lock until told to go on, so a second `dvc repro` meets it.
WAIT = """\
import pathlib, time, yaml
pathlib.Path("started").write_text("")
deadline = time.monotonic() + 120
while not pathlib.Path("release").exists() and time.monotonic() < deadline:
    time.sleep(0.1)
size = yaml.safe_load(open("params.yaml"))["size"]
out = pathlib.Path("data/made")
out.mkdir(parents=True, exist_ok=True)
for i in range(size):
    (out / f"{i}.txt").write_text(str(i) * (i + 1))
"""


@pytest.mark.slow
def test_two_dvc_repro_at_once_the_second_stops_with_dvcs_lock_message_and_nothing_breaks(tmp_path):
    repo = tiny_project(tmp_path, size=3)
    (repo / "make.py").write_text(WAIT)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump({**params, "size": 5}))
    first = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro"], cwd=repo, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not (repo / "started").exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first dvc repro never started its stage"
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "dvc", "repro"], cwd=repo, env=ENV, capture_output=True, text=True, timeout=120
        )
        (repo / "release").write_text("")
        out, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert second.returncode != 0
    # DVC 3 holds the repository lock only while planning; the stage's outputs carry a
    # read-write lock naming the process that holds it
    assert "data/made' is busy, it is being blocked by" in second.stderr, second.stderr
    assert f"(PID {first.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, err.decode()
    assert sorted(p.name for p in (repo / "data/made").iterdir()) == [f"{i}.txt" for i in range(5)]
    assert fit_metrics(repo)["files"] == 5
    (repo / "started").unlink()
    (repo / "release").unlink()
    assert "Data and pipelines are up to date" in dvc(repo, "status")
    assert "up to date" in dvc(repo, "repro")
    dvc(repo, "checkout")  # the cache holds every output whole: checkout has nothing to repair
    assert fit_metrics(repo)["files"] == 5
    assert Path(repo / "data/made/4.txt").read_text() == "44444"
