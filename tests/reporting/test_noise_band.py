"""The seed-noise band (`make noise-band`): measured only from runs that differ in the seed alone.

Each case works on its own copy of one tiny git + DVC repository, built with real `git` and `dvc`,
no mocks: a two-stage pipeline in which the seed moves the data `make` writes and the score `fit` reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvcrepo import ENV, commit, copy_repo, dvc, set_params, sh

from fashioncat.errors import FashionError
from fashioncat.reporting import noise_band

pytestmark = pytest.mark.slow  # every test here runs git and DVC for real

# The seed shuffles what `make` writes: `fit` reads data that differ between seeds, legitimately.
MAKE = """\
import pathlib, random, yaml
params = yaml.safe_load(open("params.yaml"))
rng = random.Random(params["seed"])
out = pathlib.Path("data/made")
out.mkdir(parents=True, exist_ok=True)
for i in range(params["size"]):
    (out / f"{i}.txt").write_text(str(rng.random()))
"""

# Seed 1 scores 0.6 at width 1, each further seed 0.04 more. Seeds 13 to 15 stand for runs
# that went wrong: one diverged (NaN), one overflowed (infinite), one stopped before it
# counted its files (a metric the others report is missing).
FIT = """\
import json, pathlib, yaml
params = yaml.safe_load(open("params.yaml"))
seed, width = params["seed"], params["width"]
classes = yaml.safe_load(open("classes.yaml"))
out = {
    "score": round(1 - (width - 3) ** 2 / 10 + 0.04 * (seed - 1), 4),
    "files": len(list(pathlib.Path("data/made").iterdir())),
    "classes": len(classes),
    "fit_seconds": 4.5 * seed,
}
if seed == 13:
    out["score"] = float("nan")
if seed == 14:
    out["score"] = float("inf")
if seed == 15:
    del out["files"]
pathlib.Path("metrics").mkdir(exist_ok=True)
json.dump(out, open("metrics/fit.json", "w"))
"""

PIPELINE = {
    "stages": {
        "make": {"cmd": "python make.py", "deps": ["make.py"], "params": ["seed", "size"], "outs": ["data/made"]},
        "fit": {
            "cmd": "python fit.py",
            "deps": ["fit.py", "data/made", "classes.yaml"],
            "params": ["seed", "width"],
            "metrics": [{"metrics/fit.json": {"cache": False}}],
        },
    }
}


@pytest.fixture(scope="module")
def seed1(tmp_path_factory) -> Path:
    """A git repo on branch main with the seeded pipeline run under seed 1 and committed; built once."""
    repo = tmp_path_factory.mktemp("seed1") / "repo"
    repo.mkdir()
    sh(repo, "git", "init", "-q", "-b", "main")
    dvc(repo, "init", "-q")
    dvc(repo, "config", "core.analytics", "false")
    (repo / "make.py").write_text(MAKE)
    (repo / "fit.py").write_text(FIT)
    (repo / "classes.yaml").write_text(yaml.safe_dump(["shirt", "trouser"]))
    (repo / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False))
    set_params(repo, seed=1, size=3, width=1)
    dvc(repo, "repro", "-q")
    commit(repo, "seed 1")
    return repo


@pytest.fixture
def repo(seed1, tmp_path) -> Path:
    """A copy of `seed1` (git history, workspace, DVC cache) for the test to change."""
    return copy_repo(seed1, tmp_path / "repo")


def seed_run(repo: Path, branch: str, *, rerun: bool = True, **params) -> None:
    """A branch from main with `params` set, reproduced (unless not `rerun`) and committed."""
    sh(repo, "git", "checkout", "-qb", branch, "main")
    set_params(repo, **params)
    if rerun:
        dvc(repo, "repro", "-q")
    commit(repo, branch)


def lock(repo: Path, rev: str) -> dict:
    return yaml.safe_load(sh(repo, "git", "show", f"{rev}:dvc.lock"))["stages"]


def report(repo: Path, *args: str) -> str:
    """`make report`'s comment on what is checked out."""
    done = subprocess.run(
        [sys.executable, "-m", "fashioncat.reporting.pr_comment", *args], cwd=repo, env=ENV, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_noise_band_from_seed_runs_marks_changes_within_or_outside_it(repo):
    seed_run(repo, "seed2", seed=2)
    # what `make` wrote differs between the seeds: a generated dep, not a difference in budget
    assert lock(repo, "main")["make"]["outs"][0]["md5"] != lock(repo, "seed2")["make"]["outs"][0]["md5"]

    with pytest.raises(FashionError, match="at least two runs"):
        noise_band.measure(repo, ["main"])
    band = noise_band.measure(repo, ["main", "seed2"])
    assert band["band"] == {
        "metrics/fit.json:score": 0.04,
        "metrics/fit.json:files": 0.0,
        "metrics/fit.json:classes": 0.0,
    }  # fit_seconds, a wall time, has no band
    assert [r["seed"] for r in band["runs"]] == [1, 2]
    assert band["stages"] == ["make", "fit"]
    assert noise_band.main(["main", "seed2", "--repo", str(repo)]) == 0
    # beside the JSON, the table the docs include, widest first (ties by name), worked out from the band above
    table = (repo / "metrics/noise_band.md").read_text().splitlines()
    assert table[0].startswith("Measured from 2 runs that differ only in `seed`: `main` (seed 1, commit ")
    assert table[2:] == [
        "| metrics file | metric | band |",
        "|---|---|---|",
        "| `metrics/fit.json` | score | 0.04 |",
        "| `metrics/fit.json` | classes | 0 |",
        "| `metrics/fit.json` | files | 0 |",
    ]
    commit(repo, "band")

    seed_only = report(repo, "--base", "main")
    assert "| metrics/fit.json | score | 0.6 | 0.64 | +0.04 | within seed noise (±0.04) |" in seed_only
    assert "seeds 1, 2" in seed_only and "measure it again" not in seed_only

    sh(repo, "git", "checkout", "-qb", "wider")
    set_params(repo, width=2, seed=1)
    dvc(repo, "repro", "-q")
    commit(repo, "wider")
    wider = report(repo, "--base", "main")
    assert "| metrics/fit.json | score | 0.6 | 0.9 | +0.3 | outside seed noise (±0.04) |" in wider
    assert "measured under other parameters" in wider  # width is part of the budget

    with pytest.raises(FashionError, match=r"^wider: stage fit: param width is 2, main's 1: the runs differ in more"):
        noise_band.measure(repo, ["main", "wider"])


def test_a_band_from_dvc_experiments_reads_them_like_commits(repo):
    dvc(repo, "exp", "run", "--temp", "-q", "-S", "seed=2", "-n", "seed2")
    dvc(repo, "exp", "run", "--temp", "-q", "-S", "seed=3", "-S", "width=2", "-n", "wider3")
    assert noise_band.measure(repo, ["main", "seed2"])["band"]["metrics/fit.json:score"] == 0.04
    with pytest.raises(FashionError, match=r"^wider3: stage fit: param width is 2, main's 1: "):
        noise_band.measure(repo, ["main", "wider3"])


def test_a_run_whose_metrics_were_written_by_hand_is_refused(repo):
    seed_run(repo, "seed2", rerun=False, seed=2)
    (repo / "metrics/fit.json").write_text(json.dumps({"score": 0.64, "files": 3, "classes": 2}))
    commit(repo, "seed 2's score, typed in")
    with pytest.raises(FashionError, match=r"^seed2: metrics/fit.json is not what stage fit wrote \(dvc.lock md5 "):
        noise_band.measure(repo, ["main", "seed2"])


def test_a_run_whose_seed_changed_but_was_never_rerun_is_refused(repo):
    # its metrics are main's, untouched: without the check the band would be 0 everywhere
    seed_run(repo, "seed2", rerun=False, seed=2)
    with pytest.raises(
        FashionError, match=r"^seed2: stage make: params.yaml key seed is 2 but dvc.lock ran it with 1, so it was never"
    ):
        noise_band.measure(repo, ["main", "seed2"])


def test_a_run_whose_metrics_stage_is_missing_from_dvc_lock_is_refused(repo):
    seed_run(repo, "seed2", seed=2)
    entries = yaml.safe_load((repo / "dvc.lock").read_text())
    del entries["stages"]["fit"]  # as a merge that kept only one side of dvc.lock
    (repo / "dvc.lock").write_text(yaml.safe_dump(entries, sort_keys=False))
    commit(repo, "lock without fit")
    with pytest.raises(FashionError, match=r"^seed2: stage fit is not in dvc.lock: metrics/fit.json was never"):
        noise_band.measure(repo, ["main", "seed2"])


def test_a_metrics_file_no_stage_writes_is_refused(repo):
    seed_run(repo, "seed2", seed=2)
    (repo / "metrics/extra.json").write_text(json.dumps({"score": 0.5}))
    commit(repo, "a metric from elsewhere")
    with pytest.raises(FashionError, match=r"^seed2: metrics/extra.json is written by no stage of dvc.yaml"):
        noise_band.measure(repo, ["main", "seed2"])


def test_a_run_whose_code_changed_after_it_ran_is_refused(repo):
    seed_run(repo, "seed2", seed=2)
    (repo / "fit.py").write_text(FIT.replace("0.04 * (seed - 1)", "0.05 * (seed - 1)"))
    commit(repo, "fit.py edited, not rerun")
    with pytest.raises(FashionError, match=r"^seed2: stage fit: dep fit.py changed after the run, so it was never"):
        noise_band.measure(repo, ["main", "seed2"])


def test_runs_with_another_class_map_are_refused(repo):
    sh(repo, "git", "checkout", "-qb", "seed2")
    (repo / "classes.yaml").write_text(yaml.safe_dump(["shirt", "trouser", "coat"]))
    set_params(repo, seed=2)
    dvc(repo, "repro", "-q")
    commit(repo, "seed 2, three classes")
    with pytest.raises(
        FashionError, match=r"^seed2: stage fit: dep classes.yaml is md5 \w+, main's \w+: the runs differ in more than"
    ):
        noise_band.measure(repo, ["main", "seed2"])


def test_runs_with_other_code_upstream_of_the_metrics_stage_are_refused(repo):
    sh(repo, "git", "checkout", "-qb", "seed2")
    (repo / "make.py").write_text(MAKE.replace("rng.random()", "rng.random() * 2"))
    set_params(repo, seed=2)
    dvc(repo, "repro", "-q")
    commit(repo, "seed 2, make.py changed")
    with pytest.raises(FashionError, match=r"^seed2: stage make: dep make.py is md5 \w+, main's \w+: "):
        noise_band.measure(repo, ["main", "seed2"])


@pytest.mark.parametrize(("seed", "shown"), [(13, "nan"), (14, "inf")])
def test_a_nan_or_infinite_metric_is_refused(repo, seed, shown):
    seed_run(repo, f"seed{seed}", seed=seed)
    assert shown in (repo / "metrics/fit.json").read_text().lower()
    with pytest.raises(FashionError, match=rf"^seed{seed}: metrics/fit.json:score is {shown}: "):
        noise_band.measure(repo, ["main", f"seed{seed}"])


def test_a_metric_missing_from_one_run_is_named(repo):
    seed_run(repo, "seed15", seed=15)
    for revs in (["main", "seed15"], ["seed15", "main"]):
        with pytest.raises(FashionError, match=r"^seed15: metrics/fit.json:files is missing \(main has it\): "):
            noise_band.measure(repo, revs)


def test_the_command_line_refuses_in_one_line_and_writes_nothing(repo, capsys):
    seed_run(repo, "seed2", rerun=False, seed=2)
    assert noise_band.main(["main", "seed2", "--repo", str(repo)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: seed2: stage make: ") and err.count("\n") == 1
    assert not (repo / noise_band.BAND_FILE).exists()
