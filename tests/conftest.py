"""Fixtures shared by the test modules; plain helpers live in fixtures.py and dvcrepo.py."""

import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
# Test modules share helpers across folders (`from test_annotation import CLASSES`): every
# folder of tests/ is importable, whichever file pytest is asked to run.
sys.path.extend(str(folder) for folder in sorted(Path(__file__).parent.iterdir()) if folder.is_dir())

import fixtures  # noqa: E402
from ci_skips import pytest_runtest_makereport, pytest_sessionstart  # noqa: E402, F401  (hooks: see ci_skips.py)


@pytest.fixture
def split_root(tmp_path, monkeypatch):
    """The current folder for the test: data/split/source with two learnable classes of 32-px PNGs, 12/4/4 each."""
    monkeypatch.chdir(tmp_path)
    fixtures.split_folder(tmp_path)
    return tmp_path


@pytest.fixture
def params(tmp_path, monkeypatch):
    """A copy of the repository's params.yaml (and its mapping files) to change, from a temporary folder."""
    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "config", tmp_path / "config")
    monkeypatch.chdir(tmp_path)
    return yaml.safe_load((root / "params.yaml").read_text())


# `make test` runs two pytest-xdist workers with `--dist loadfile --no-loadscope-reorder`: a test file
# is one unit of work (its module fixtures, such as the tiny pipeline's run that most of
# tests/pipeline/test_pipeline.py reads, are built once), handed out in the order below. The two
# longest files start first, one on each worker; the rest follow in their usual order.
FIRST = ("tests/pipeline/test_pipeline.py", "tests/pipeline/test_pipeline_own_data.py")


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # an xdist worker: the order it reports is the order of the work
        items.sort(key=lambda item: FIRST.index(f) if (f := item.nodeid.split("::")[0]) in FIRST else len(FIRST))
