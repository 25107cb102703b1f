"""Throw-away git + DVC repositories with a tiny pipeline, for tests of DVC's own workflows.

Same style as test_pipeline.py: real `git` and `dvc` (this interpreter's), no mocks.
The pipeline has two stages so that push/pull and partial reruns have something to skip:
`make` writes a cached folder from `size`, `fit` scores `width` into a metrics file.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "PYTHONDONTWRITEBYTECODE": "1",
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}

MAKE = """\
import pathlib, yaml
size = yaml.safe_load(open("params.yaml"))["size"]
out = pathlib.Path("data/made")
out.mkdir(parents=True, exist_ok=True)
for i in range(size):
    (out / f"{i}.txt").write_text(str(i) * (i + 1))
"""

# The best width is 3: experiments over width have a clear winner.
FIT = """\
import json, pathlib, yaml
width = yaml.safe_load(open("params.yaml"))["width"]
files = len(list(pathlib.Path("data/made").iterdir()))
pathlib.Path("metrics").mkdir(exist_ok=True)
json.dump({"score": round(1 - (width - 3) ** 2 / 10, 4), "files": files}, open("metrics/fit.json", "w"))
"""

PIPELINE = {
    "stages": {
        "make": {"cmd": "python make.py", "deps": ["make.py"], "params": ["size"], "outs": ["data/made"]},
        "fit": {
            "cmd": "python fit.py",
            "deps": ["fit.py", "data/made"],
            "params": ["width"],
            "metrics": [{"metrics/fit.json": {"cache": False}}],
        },
    }
}


def sh(cwd: Path, *args: str) -> str:
    done = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def dvc(cwd: Path, *args: str) -> str:
    return sh(cwd, sys.executable, "-m", "dvc", *args)


def commit(repo: Path, message: str) -> None:
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", message)


def set_params(repo: Path, **values) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text()) if path.exists() else {}
    path.write_text(yaml.safe_dump({**params, **values}, sort_keys=False))


def copy_repo(built: Path, to: Path) -> Path:
    """A whole copy of a built repository, to change: git history, workspace and DVC cache.

    DVC's own scratch folder (.dvc/tmp: locks, the experiments queue) stays behind; DVC makes a
    new one, and hashes the copied files afresh (its state is kept by path)."""
    shutil.copytree(built, to, symlinks=True, ignore=lambda folder, names: ["tmp"] if folder.endswith(".dvc") else [])
    return to


def _build_tiny_project(repo: Path, *, size: int, width: int) -> Path:
    repo.mkdir()
    sh(repo, "git", "init", "-q", "-b", "main")
    dvc(repo, "init", "-q")
    dvc(repo, "config", "core.analytics", "false")
    (repo / "make.py").write_text(MAKE)
    (repo / "fit.py").write_text(FIT)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False))
    set_params(repo, size=size, width=width)
    dvc(repo, "repro", "-q")
    commit(repo, "pipeline")
    return repo


_BUILT: dict[tuple[int, int], Path] = {}


def tiny_project(root: Path, name: str = "repo", *, size: int = 3, width: int = 1) -> Path:
    """A git repo on branch main with the two-stage pipeline, reproduced and committed.

    Each (size, width) is built once in a test process (git init, dvc init, dvc repro: seconds)
    and copied for every test that asks (`copy_repo`); tests change their copy only."""
    if (size, width) not in _BUILT:
        scratch = Path(tempfile.mkdtemp(prefix="tiny-project-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        _BUILT[size, width] = _build_tiny_project(scratch / "repo", size=size, width=width)
    return copy_repo(_BUILT[size, width], root / name)


def fit_metrics(repo: Path) -> dict:
    return json.loads((repo / "metrics/fit.json").read_text())
