"""No silent skips on CI (a pytest plugin, loaded by conftest.py).

Under CI=true nothing may skip: a CI machine without npm would otherwise pass while
never running the whole-pipeline test. So a missing tool stops the run before any test
with one line naming what to install, and any other skip becomes a failure. Locally,
skips stay skips and `-ra` (pyproject.toml) lists them at the end of `make test`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

# what must be there, and how to get it; dvc runs as `python -m dvc`, so it is a module here
TOOLS = {
    "git": (lambda: shutil.which("git") is not None, "git (apt-get install git)"),
    "npm": (lambda: shutil.which("npm") is not None, "npm (apt-get install npm, or Node.js 20 from nodejs.org)"),
    "dvc": (lambda: importlib.util.find_spec("dvc") is not None, "dvc (pip install -r requirements.txt)"),
}


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_tools() -> list[str]:
    return [how for present, how in TOOLS.values() if not present()]


def pytest_sessionstart(session):
    missing = missing_tools() if on_ci() else []
    if missing:
        pytest.exit(f"CI=true and tests would skip: install {'; '.join(missing)}", returncode=3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if on_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may skip: {reason}"
