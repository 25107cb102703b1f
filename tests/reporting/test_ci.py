"""The PR workflow, its metrics report and the DVC remote, with real git and dvc."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvcrepo import ENV, commit, dvc, fit_metrics, set_params, sh, tiny_project

pytestmark = pytest.mark.slow  # every test here runs git and DVC for real

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github/workflows/pr-metrics.yml"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known id of the empty tree


def makefile_targets() -> set[str]:
    """Rule names in the Makefile: `name:` at the start of a line, not `:=` assignments."""
    names = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^([\w./$()-]+(?:\s+[\w./$()-]+)*)\s*:(?!=)", line)
        if match:
            names.update(match.group(1).split())
    return names


def run_scripts() -> list[str]:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["metrics"]["steps"]
    return [step["run"] for step in steps if "run" in step]


def test_workflow_parses_and_is_a_pull_request_check_with_least_permissions():
    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads the bare key `on` as true
    assert "pull_request" in triggers
    assert flow["permissions"] == {"contents": "read", "pull-requests": "write"}
    steps = flow["jobs"]["metrics"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    python = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert str(python["with"]["python-version"]) == "3.11"
    assert any(s.get("uses", "").startswith("actions/setup-node") for s in steps)
    assert "cml comment update --target=pr --watermark-title=" in "\n".join(run_scripts())


def test_workflow_run_steps_reference_only_what_the_repo_has():
    targets = makefile_targets()
    assert {"repro", "test", "venv", "report", "exps"} <= targets
    made = set()  # files an earlier step writes (OUT=comment.md) may be read by a later one
    for script in run_scripts():
        script = re.sub(r"\$\{\{[^}]*\}\}", "main", script)  # GitHub fills ${{ ... }} in before bash runs
        for args in re.findall(r"\bmake\s+([^;&|\n]*)", script):
            wanted = [w for w in args.split() if not w.startswith("-") and "=" not in w]
            assert wanted and set(wanted) <= targets, f"unknown make target in: make {args}"
            sh(ROOT, "make", "-n", *args.split())  # make itself agrees the targets exist
        for module in re.findall(r"python -m ([\w.]+)", script):
            path = ROOT / "src" / module.replace(".", "/")
            assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), module
        made.update(re.findall(r"(?:OUT=|>\s*)([\w./-]+\.\w+)", script))
        for name in re.findall(
            r"(?<![\w$/.-])((?:\.ci/|stages/|scripts/|bench/)?[\w.-]+\.(?:py|sh|txt|yaml|yml|toml|md))\b", script
        ):
            assert name in made or (ROOT / name).is_file(), f"{name} is not in the repository"


def test_make_report_passes_base_and_out():
    out = sh(ROOT, "make", "-n", "report", "BASE=origin/main", "OUT=comment.md")
    assert "python -m fashioncat.reporting.pr_comment --base origin/main --out comment.md" in out


def report(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fashioncat.reporting.pr_comment", *args],
        cwd=repo,
        env=ENV,
        capture_output=True,
        text=True,
    )


def png(seed: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes([seed]) * 16  # content is all that matters to git


def test_report_shows_changed_metric_params_and_plots(tmp_path):
    repo = tiny_project(tmp_path, width=1)
    (repo / "plots/3_final").mkdir(parents=True)
    (repo / "plots/1_table1").mkdir()
    for name, seed in (("1_table1/table1.png", 1), ("same.png", 2), ("other.png", 3)):
        (repo / "plots" / name).write_bytes(png(seed))
    commit(repo, "plots")
    sh(repo, "git", "checkout", "-qb", "feature")
    set_params(repo, width=2)
    dvc(repo, "repro", "-q")
    (repo / "plots/other.png").write_bytes(png(4))
    commit(repo, "wider")

    done = report(repo, "--base", "main", "--out", "comment.md")
    assert done.returncode == 0, done.stderr
    text = (repo / "comment.md").read_text()
    assert "| metrics/fit.json | score | 0.6 | 0.9 | +0.3 |" in text
    assert "1 changed, 1 unchanged" in text and "| files |" not in text
    assert "| params.yaml | width | 1 | 2 |" in text and "| size |" not in text
    assert "![plots/1_table1/table1.png](plots/1_table1/table1.png)" in text  # a key plot: always shown
    assert "(plots/other.png)" in text and "same.png" not in text and "confusion.png" not in text

    all_rows = report(repo, "--base", "main", "--all").stdout
    assert "| metrics/fit.json | files | 3 | 3 | 0 |" in all_rows


def test_report_without_changes_without_base_metrics_and_with_a_bad_base(tmp_path):
    repo = tiny_project(tmp_path)
    same = report(repo, "--base", "HEAD").stdout
    assert "No metric changed (0 changed, 2 unchanged)." in same and "No param changed." in same

    empty = sh(repo, "git", "commit-tree", EMPTY_TREE, "-m", "nothing yet").strip()
    first = report(repo, "--base", empty).stdout
    assert "has no metrics yet" in first and "| metrics/fit.json | score | — | 0.6 | new |" in first
    assert "| params.yaml | width | — | 1 |" in first

    bad = report(repo, "--base", "no-such-branch")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: dvc metrics diff no-such-branch")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_push_clone_pull_and_a_ci_style_partial_rerun(tmp_path):
    repo = tiny_project(tmp_path)
    dvc(repo, "remote", "add", "-d", "local", "../storage")  # as typed in the repo root
    # DVC stores relative URLs relative to .dvc/, where the config file is
    assert "url = ../../storage" in (repo / ".dvc/config").read_text()
    assert "4 files pushed" in dvc(repo, "push")  # three files and the folder's listing
    commit(repo, "remote")

    sh(tmp_path, "git", "clone", "-q", "repo", "clone")
    clone = tmp_path / "clone"
    assert not (clone / "data/made").exists()
    dvc(clone, "pull")
    assert sorted(p.name for p in (clone / "data/made").iterdir()) == ["0.txt", "1.txt", "2.txt"]
    assert (clone / "data/made/2.txt").read_text() == "222"
    assert "Data and pipelines are up to date" in dvc(clone, "status")

    # What the workflow does with a remote: rerun only what the change touches.
    sh(tmp_path, "git", "clone", "-q", "repo", "ci")
    ci = tmp_path / "ci"
    set_params(ci, width=2)
    out = dvc(ci, "repro", "--pull", "--allow-missing")
    assert "Running stage 'fit'" in out and "Running stage 'make'" not in out
    assert fit_metrics(ci) == {"score": 0.9, "files": 3}


def test_the_repository_default_remote_is_a_folder_next_to_it():
    storage = re.escape(str(ROOT.parent / "fashioncat-dvc-storage"))
    assert re.search(rf"^local\s+{storage}\s+\(default\)$", dvc(ROOT, "remote", "list"), re.M)
