"""Faults around the stages: a full disk, two `dvc repro` at once. Each ends in one clear line,
with nothing partial left where DVC or the next run would take it for a finished output."""

from __future__ import annotations

import csv
import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml
from dvcrepo import ENV, dvc, fit_metrics, tiny_project

from fashioncat.errors import FashionError
from fashioncat.io import atomic_dir, write_json

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def full_disk(monkeypatch):
    """Every Path.write_bytes writes half its data, then fails as a full disk does."""
    real = pathlib.Path.write_bytes

    def half_then_enospc(self, data):
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(pathlib.Path, "write_bytes", half_then_enospc)


def test_disk_full_in_the_atomic_writer_is_one_line_and_keeps_the_old_file(tmp_path, full_disk):
    (tmp_path / "report.json").write_text('{"old": true}')
    with pytest.raises(FashionError) as info:
        write_json(tmp_path / "report.json", {"new": list(range(100))})
    assert str(info.value) == (
        f"{tmp_path / 'report.json'}: cannot write: No space left on device; nothing was kept (free space and rerun)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary file either
    assert (tmp_path / "report.json").read_text() == '{"old": true}'


def test_disk_full_inside_an_output_folder_leaves_the_old_folder_whole(tmp_path, full_disk):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.json").write_text("old")
    with pytest.raises(FashionError, match=f"^{tmp_path / 'out'}: cannot write: No space left on device"):
        with atomic_dir(tmp_path / "out") as tmp:
            (tmp / "a.txt").write_text("new")
            write_json(tmp / "b.json", {"new": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json"]


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unprivileged user and mount namespaces for a small tmpfs")
def test_a_stage_writing_onto_a_full_file_system_fails_with_one_line_and_leaves_it_empty(tmp_path):
    """A real 64 KiB tmpfs (in a private mount namespace) for the split stage's output."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    balanced = tmp_path / "balanced"
    balanced.mkdir()
    with open(balanced / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "label", "group"])
        for i in range(3000):  # about 300 KB of manifests: more than the tmpfs holds
            writer.writerow([f"data/cropped/source/images/{'x' * 60}{i:06d}.png", "ab"[i % 2], f"g{i}"])
    (balanced / "classes.json").write_text(json.dumps(["a", "b"]))
    (tmp_path / "small").mkdir()
    script = (
        "mount -t tmpfs -o size=64k tmpfs small && "
        f"{sys.executable} {ROOT / 'stages/split.py'} --dataset source --balanced balanced "
        "--out small/split --details small/split.json; echo rc=$?; ls -A small"
    )
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
    )
    assert done.stdout == "rc=2\n", done.stdout  # and `ls -A` found nothing left on the full disk
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: small/split: cannot write: No space left on device"), done.stderr


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


def test_disk_full_survives_the_trip_back_from_a_worker_process():
    import pickle

    from fashioncat.io import DiskFull

    back = pickle.loads(pickle.dumps(DiskFull("data/cropped/x.png", "No space left on device")))
    assert isinstance(back, FashionError)
    assert (
        str(back)
        == "data/cropped/x.png: cannot write: No space left on device; nothing was kept (free space and rerun)"
    )


def crop_project(root: Path) -> Path:
    """A DeepFashion tree big enough that cropping it takes a moment, and params that read it."""
    import fixtures

    fixtures.deepfashion(root / "raw", per_class=150, bad=False)
    shutil.copytree(ROOT / "config", root / "config")
    (root / "config/classes/fixture_df.yaml").write_text(fixtures.MAPPING)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"]["source"]["classes"] = "config/classes/fixture_df.yaml"
    params["crop"].update(workers=1, size=32)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


CROP = ["--dataset", "source", "--raw", "raw", "--out", "data/cropped/source", "--details", "crop.json"]
PY_ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


@pytest.mark.slow
def test_a_data_stage_killed_mid_way_leaves_no_output_and_its_rerun_equals_a_straight_run(tmp_path):
    straight, killed = crop_project(tmp_path / "straight"), crop_project(tmp_path / "killed")
    command = [sys.executable, str(ROOT / "stages/crop.py"), *CROP]
    subprocess.run(command, cwd=straight, env=PY_ENV, check=True, capture_output=True)

    first = subprocess.Popen(command, cwd=killed, env=PY_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pattern = f"data/cropped/.source.{first.pid}.*.partial/shards/00000.tar"

    def written() -> int:  # bytes of the first shard so far: 20 images take well over 20 tar blocks
        return sum(p.stat().st_size for p in killed.glob(pattern))

    deadline = time.monotonic() + 120
    while written() < 20 * 1024 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    left = [p.name for p in (killed / "data/cropped").iterdir()]
    assert len(left) == 1 and left[0].startswith(f".source.{first.pid}."), left  # killed part-way: nothing finished
    assert not (killed / "crop.json").exists()

    subprocess.run(command, cwd=killed, env=PY_ENV, check=True, capture_output=True)
    assert sorted(p.name for p in (killed / "data/cropped").iterdir()) == ["source"]  # the leftover is gone
    for name in ("records.csv", "dropped.csv", "classes.json"):
        assert (killed / "data/cropped/source" / name).read_bytes() == (
            straight / "data/cropped/source" / name
        ).read_bytes()
    shards = sorted(p.name for p in (straight / "data/cropped/source/shards").iterdir())
    assert shards == sorted(p.name for p in (killed / "data/cropped/source/shards").iterdir()) and shards
    for name in shards:
        assert (killed / "data/cropped/source/shards" / name).read_bytes() == (
            straight / "data/cropped/source/shards" / name
        ).read_bytes()
    with tarfile.open(straight / "data/cropped/source/shards/00000.tar") as tar:
        assert len(tar.getnames()) == 600


# A stage whose library writes outside the atomic writers (as Keras and DVCLive do).
DIRECT_WRITER = """\
from pathlib import Path
from fashioncat import stage

def main(args, cfg):
    Path("big.bin").write_bytes(bytes(200_000))

stage.run(main, stage.parser("writes directly", metrics=False))
"""


def test_a_file_size_limit_outside_the_atomic_writers_is_still_one_line(tmp_path):
    import resource
    import signal as signals

    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "direct.py").write_text(DIRECT_WRITER)

    def limit():  # the kernel refuses writes past 64 KiB with EFBIG once SIGXFSZ no longer kills
        signals.signal(signals.SIGXFSZ, signals.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    done = subprocess.run(
        [sys.executable, "direct.py"], cwd=tmp_path, env=PY_ENV, capture_output=True, text=True, preexec_fn=limit
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "error: cannot write: File too large; the stage stopped, "
        "so DVC keeps none of its outputs (free space and rerun)\n"
    )
