"""Grid experiments with `dvc exp` (queue, run, compare, promote) and a readable `exp show`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dvcrepo import ENV, commit, dvc, fit_metrics, tiny_project

pytestmark = pytest.mark.slow  # every test here runs git and DVC for real

ROOT = Path(__file__).resolve().parents[2]
QUEUE_TIMEOUT_S = 150


def wait_for_queue(repo: Path, names: set[str]) -> str:
    """Poll `dvc queue status` until every named task has finished (the worker exits by itself)."""
    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    while time.monotonic() < deadline:
        status = dvc(repo, "queue", "status")
        states = {
            line.split()[1]: line.split()[-1]
            for line in status.splitlines()
            if len(line.split()) >= 4 and line.split()[1] in names
        }
        if len(states) == len(names) and not {"Queued", "Running"} & set(states.values()):
            return status
        time.sleep(2)
    raise AssertionError(f"queue not done after {QUEUE_TIMEOUT_S} s:\n{status}")


def experiments(repo: Path) -> dict[str, dict]:
    """Name -> {params, metrics, state} of the baseline's experiments, from `dvc exp show --json`."""
    found = {}
    for baseline in json.loads(dvc(repo, "exp", "show", "--json")):
        for exp in baseline.get("experiments") or []:
            data = exp["revs"][0]["data"]
            found[exp["name"]] = {
                "params": data["params"]["params.yaml"]["data"],
                "metrics": data["metrics"]["metrics/fit.json"]["data"],
                "state": exp["executor"]["state"] if exp.get("executor") else None,
            }
    return found


def test_queue_a_grid_compare_sorted_and_apply_the_best(tmp_path):
    repo = tiny_project(tmp_path, width=1)  # `dvc exp run` needs a commit to branch from
    for width in (2, 3):
        dvc(repo, "exp", "run", "--queue", "-S", f"width={width}", "-n", f"w{width}")
    try:
        dvc(repo, "queue", "start", "-j", "1")
        status = wait_for_queue(repo, {"w2", "w3"})
    finally:
        subprocess.run([sys.executable, "-m", "dvc", "queue", "stop"], cwd=repo, env=ENV, capture_output=True)
    assert status.count("Success") == 2, status

    found = experiments(repo)
    assert {name: (e["params"]["width"], e["metrics"]["score"]) for name, e in found.items()} == {
        "w2": (2, 0.9),
        "w3": (3, 1.0),
    }

    table = dvc(repo, "exp", "show", "--md", "--sort-by", "metrics/fit.json:score", "--sort-order", "desc")
    rows = [line for line in table.splitlines() if "[w" in line]
    assert ["[w3]" in rows[0], "[w2]" in rows[1]] == [True, True], table
    assert table.splitlines()[0].split("|")[1].strip() == "Experiment" and "score" in table.splitlines()[0]

    dvc(repo, "exp", "apply", "w3")  # the best into the workspace, ready to commit
    assert yaml.safe_load((repo / "params.yaml").read_text())["width"] == 3
    assert fit_metrics(repo)["score"] == 1.0
    assert "Data and pipelines are up to date" in dvc(repo, "status")
    commit(repo, "promote w3")
    assert dvc(repo, "metrics", "show", "--json").count('"score": 1.0') == 1


def numeric_leaves(node) -> int:
    if isinstance(node, dict):
        return sum(numeric_leaves(v) for v in node.values())
    return int(isinstance(node, (int, float)) and not isinstance(node, bool))


def test_this_repository_s_metrics_fit_on_a_screen_and_all_load():
    """On the committed default run: only headline figures are DVC metrics (details are plain outputs)."""
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "metrics", "show", "--json"], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    assert done.returncode == 0 and "failed to load" not in done.stderr, done.stderr
    files = next(iter(json.loads(done.stdout).values()))["data"]  # keyed by "" or "workspace", by DVC version
    assert all("error" not in entry for entry in files.values()), files
    assert 20 <= sum(numeric_leaves(entry["data"]) for entry in files.values()) <= 40
    assert "metrics/evaluate.json" in files and not any(path.startswith("metrics/details/") for path in files)
