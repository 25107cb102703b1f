"""Makefile: the venv gets TensorFlow's GPU build where `nvidia-smi -L` finds a GPU, or as TF_BUILD says.

The Makefile runs in a copy of the repository's Makefile, requirements.txt and pyproject.toml,
with a stand-in python whose `-m venv` makes a pip that only logs its arguments, and a stand-in
nvidia-smi that finds a GPU or not: nothing is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FAKE_PYTHON = """#!/bin/sh
# python -m venv DIR: DIR/bin/pip appends its arguments to pip.log
mkdir -p "$3/bin"
printf '#!/bin/sh\\necho "$*" >> pip.log\\n' > "$3/bin/pip"
chmod +x "$3/bin/pip"
"""


@pytest.fixture
def project(tmp_path):
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "python").write_text(FAKE_PYTHON)
    (tools / "python").chmod(0o755)
    return tmp_path


def make(project: Path, *args: str, gpu: bool, **env: str) -> subprocess.CompletedProcess:
    smi = project / "tools/nvidia-smi"
    smi.write_text(f"#!/bin/sh\nexit {0 if gpu else 6}\n")  # 6: nvidia-smi's "no devices were found"
    smi.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_BUILD", "MAKEFLAGS", "MAKELEVEL")}
    environ["PATH"] = f"{project / 'tools'}:{environ['PATH']}"
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"PYTHON={project / 'tools/python'}"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=60,
    )


def pip_calls(project: Path) -> list[str]:
    log = project / "pip.log"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def stamps(project: Path) -> set[str]:
    return {p.name for p in (project / ".venv").glob(".installed*")}


def test_without_a_gpu_the_cpu_build_is_installed_as_before(project):
    done = make(project, "venv", gpu=False)
    assert done.returncode == 0, done.stderr
    assert pip_calls(project) == [
        "install --quiet --upgrade pip",
        "install --quiet -r requirements.txt",
        "install --quiet --no-deps -e .",
    ]
    assert stamps(project) == {".installed"}
    assert make(project, "venv", gpu=False).returncode == 0 and pip_calls(project) == []  # up to date


def test_with_a_gpu_the_gpu_build_replaces_tensorflow_cpu_at_the_same_version(project):
    version = re.search(r"^tensorflow-cpu==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert make(project, "venv", gpu=False).returncode == 0
    pip_calls(project)
    done = make(project, "venv", gpu=True)
    assert done.returncode == 0, done.stderr
    assert pip_calls(project) == [
        "uninstall --quiet -y tensorflow-cpu",
        "install --quiet --upgrade pip",
        "install --quiet -r .venv/requirements-gpu.txt",
        "install --quiet --no-deps -e .",
    ]
    gpu_requirements = (project / ".venv/requirements-gpu.txt").read_text()
    assert f"\ntensorflow[and-cuda]=={version}\n" in gpu_requirements
    assert "\ntensorflow-cpu" not in gpu_requirements
    # every other line as in requirements.txt
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    others = [line for line in requirements if not line.startswith("tensorflow")]
    assert [line for line in gpu_requirements.splitlines() if not line.startswith("tensorflow")] == others
    assert stamps(project) == {".installed-gpu"}
    assert make(project, "venv", gpu=True).returncode == 0 and pip_calls(project) == []  # up to date


def test_tf_build_overrides_the_detection_both_ways_and_switching_reinstalls(project):
    assert make(project, "venv", gpu=False, TF_BUILD="gpu").returncode == 0
    assert "install --quiet -r .venv/requirements-gpu.txt" in pip_calls(project)
    assert stamps(project) == {".installed-gpu"}
    done = make(project, "venv", "TF_BUILD=cpu", gpu=True)
    assert done.returncode == 0, done.stderr
    assert pip_calls(project) == [
        "uninstall --quiet -y tensorflow",
        "install --quiet --upgrade pip",
        "install --quiet -r requirements.txt",
        "install --quiet --no-deps -e .",
    ]
    assert stamps(project) == {".installed"}


def test_an_unknown_tf_build_stops_make(project):
    done = make(project, "venv", gpu=False, TF_BUILD="rocm")
    assert done.returncode != 0
    assert "TF_BUILD must be cpu or gpu, not 'rocm'" in done.stderr
