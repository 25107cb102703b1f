"""The pull-request comment names the CPU kinds it compared, and judges runs from two kinds fairly.

Recorded runs: the same commit's Table 1 and final-model figures as measured on an Intel Xeon
(the committed run of 1 December 2026) and on an AMD EPYC (issue 34's measurement). The CPU
model alone moved Table 1's ResNets by 6-8 points, more than a new seed does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dvcrepo import ENV, commit, sh, tiny_project

from fashioncat.reporting import machines, pr_comment
from fashioncat.reporting.pr_comment import Row

INTEL = "Intel(R) Xeon(R) Processor (family 6, model 207)"
AMD = "AMD EPYC (family 26, model 2)"
RECORDED = {
    INTEL: {"resnet50": 0.5577, "resnet50v2": 0.5657, "final_test": 0.8533},
    AMD: {"resnet50": 0.618, "resnet50v2": 0.644, "final_test": 0.837},
}


def test_a_machine_string_is_its_cpu_kind_without_the_core_count():
    assert machines.kind(f"{AMD}, 2 cores") == AMD
    assert machines.kind(f"{INTEL}, 16 cores") == INTEL
    assert machines.kinds([{"machine": f"{AMD}, 2 cores"}, {"stage_seconds": 1}, "x"]) == {AMD}


def test_across_cpu_kinds_only_a_band_spanning_both_gives_a_verdict():
    row = Row("metrics/table1.json", "resnet50", 0.5577, 0.618)
    seed_band = {"band": {"metrics/table1.json:resnet50": 0.1}, "cpu_kinds": [INTEL]}
    assert pr_comment.verdict(row, seed_band) == "within seed noise (±0.1)"
    assert pr_comment.verdict(row, seed_band, across_cpus=True) == "other CPU kind: no band spans both"
    spanning = {"band": {"metrics/table1.json:resnet50": 0.0603}, "cpu_kinds": [AMD, INTEL]}
    # 0.618 - 0.5577 = 0.0603: the recorded CPU spread itself, so just within
    assert pr_comment.verdict(row, spanning, across_cpus=True, band_spans_cpus=True) == (
        "within seed and CPU noise (±0.0603)"
    )
    moved = Row("metrics/table1.json", "resnet50", 0.5577, 0.70)
    assert pr_comment.verdict(moved, spanning, across_cpus=True, band_spans_cpus=True) == (
        "outside seed and CPU noise (±0.0603)"
    )


def _record(repo: Path, cpu: str, band: dict | None = None) -> None:
    """The figures one CPU kind recorded, with the machine every stage report names."""
    (repo / "metrics/details").mkdir(parents=True, exist_ok=True)
    (repo / "metrics/fit.json").write_text(json.dumps(RECORDED[cpu]))
    (repo / "metrics/details/fit.json").write_text(json.dumps({**RECORDED[cpu], "machine": f"{cpu}, 2 cores"}))
    if band is not None:
        (repo / "metrics/noise_band.json").write_text(json.dumps(band))


def _comment(repo: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fashioncat.reporting.pr_comment", "--base", "main"],
        cwd=repo,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow  # git and dvc for real
def test_the_same_commit_compared_across_cpu_kinds_reads_within_a_band_measured_on_both(tmp_path):
    repo = tiny_project(tmp_path)
    spread = {key: round(abs(RECORDED[AMD][key] - RECORDED[INTEL][key]), 6) for key in RECORDED[AMD]}
    band = {
        "runs": [{"rev": "intel", "seed": 2021, "cpu": [INTEL]}, {"rev": "amd", "seed": 2021, "cpu": [AMD]}],
        "cpu_kinds": sorted([INTEL, AMD]),
        "budget_digest": "",
        "band": {f"metrics/fit.json:{key}": width for key, width in spread.items()},
    }
    _record(repo, INTEL, band)
    commit(repo, "the committed run, on an Intel Xeon")
    assert machines.kinds_at(repo, "main") == {INTEL}

    sh(repo, "git", "checkout", "-qb", "rerun-on-amd")
    _record(repo, AMD)  # the same commit's pipeline, rerun on an AMD EPYC: nothing else differs
    commit(repo, "the same run on an AMD EPYC")
    text = _comment(repo)
    assert f"Compared across CPU kinds: `main` ran on {INTEL}, this branch on {AMD}." in text
    assert "holds the CPU's spread as well as the seed's" in text
    for key in RECORDED[AMD]:
        assert f"| metrics/fit.json | {key} | " in text
    assert text.count("within seed and CPU noise") == 3 and "outside" not in text

    # a band measured on one kind only gives no verdict across kinds, and says what to do
    sh(repo, "git", "checkout", "-q", "main")
    _record(repo, INTEL, {**band, "cpu_kinds": [INTEL]})
    commit(repo, "a band from Intel runs only")
    sh(repo, "git", "checkout", "-q", "rerun-on-amd")
    sh(repo, "git", "rebase", "-q", "main")
    text = _comment(repo)
    assert text.count("other CPU kind: no band spans both") == 3
    assert "reproduce the base on this runner's CPU kind, or measure a band on both" in text


@pytest.mark.slow  # git and dvc for real
def test_runs_on_the_same_cpu_kind_say_so_and_read_against_seed_noise(tmp_path):
    repo = tiny_project(tmp_path)
    band = {"runs": [], "cpu_kinds": [AMD], "budget_digest": "", "band": {"metrics/fit.json:resnet50": 0.02}}
    _record(repo, AMD, band)
    commit(repo, "a run on AMD")
    sh(repo, "git", "checkout", "-qb", "change")
    figures = {**RECORDED[AMD], "resnet50": 0.66}
    (repo / "metrics/fit.json").write_text(json.dumps(figures))
    (repo / "metrics/details/fit.json").write_text(json.dumps({**figures, "machine": f"{AMD}, 2 cores"}))
    commit(repo, "a change, also on AMD")
    text = _comment(repo)
    assert f"Compared on the same CPU kind: {AMD}." in text
    assert "| metrics/fit.json | resnet50 | 0.618 | 0.66 | +0.042 | outside seed noise (±0.02) |" in text
