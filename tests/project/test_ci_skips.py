"""Under CI=true a skip fails the run and a missing tool stops it naming what to install; locally skips are listed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]  # tests/, where ci_skips.py is

SUITE = """
import pytest

def test_passes():
    pass

def test_needs_npm():
    pytest.skip("npm not installed")

@pytest.mark.skipif(True, reason="the embedded default needs npm")
def test_marked():
    pass
"""


def run_suite(tmp_path: Path, *, ci: bool, path: str | None = None) -> subprocess.CompletedProcess:
    """pytest with only the ci_skips plugin on a three-test suite, as `make test` would run it (-ra)."""
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    if ci:
        env["CI"] = "true"
    if path is not None:
        env["PATH"] = path
    command = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "ci_skips", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


def test_locally_skips_pass_and_are_listed_with_their_reason(tmp_path):
    done = run_suite(tmp_path, ci=False)
    assert done.returncode == 0, done.stdout
    assert re.search(r"^SKIPPED \[1\] test_suite\.py:\d+: npm not installed$", done.stdout, re.M)
    assert re.search(r"^SKIPPED \[1\] test_suite\.py:\d+: the embedded default needs npm$", done.stdout, re.M)
    assert "1 passed, 2 skipped" in done.stdout


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("npm") is None, reason="needs git and npm present")
def test_on_ci_every_skip_is_a_failure(tmp_path):
    done = run_suite(tmp_path, ci=True)
    assert done.returncode == 1, done.stdout
    assert "FAILED test_suite.py::test_needs_npm - skipped under CI=true" in done.stdout
    assert "test_suite.py::test_marked - skipped under CI=true" in done.stdout and "1 passed" in done.stdout


def test_on_ci_a_missing_tool_stops_the_run_naming_what_to_install(tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git") or "/bin/true")  # git there, npm not
    done = run_suite(tmp_path, ci=True, path=str(tools))
    assert done.returncode == 3, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "CI=true and tests would skip: install npm (apt-get install npm" in out
    assert "git (" not in out and "passed" not in out  # git was found; no test ran
