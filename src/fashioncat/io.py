"""Atomic writes and the small JSON/CSV helpers every stage uses.

Every output goes to a temporary sibling first and is renamed into place, so an
interrupted stage never leaves a half-written file for DVC to cache.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from fashioncat.errors import FashionError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp/mkdtemp create private (0600/0700) files; outputs get the permissions
# an ordinary open() would have given them.
_PUBLIC_FILE = 0o666 & ~_umask()


# A full disk, a quota or a file-size limit: the user's to fix, so one line, not a traceback.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class DiskFull(FashionError):
    def __init__(self, path: str | os.PathLike, why: str | None):
        self.path, self.why = path, why or "disk full"
        super().__init__(f"{path}: cannot write: {self.why}; nothing was kept (free space and rerun)")

    def __reduce__(self):  # crosses from crop's worker processes to the stage
        return DiskFull, (self.path, self.why)


@contextlib.contextmanager
def _disk_full_is_one_line(path: Path) -> Iterator[None]:
    """Name the output the user asked for, not the temporary file inside it that hit the limit."""
    try:
        yield
    except DiskFull as exc:
        raise DiskFull(path, exc.why) from None
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise DiskFull(path, exc.strerror) from None
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _clear_leftovers(path: Path) -> None:
    """Remove the temporary folders of `path` left by processes that no longer run (killed by
    SIGKILL, say). They are never taken for the output, but an image folder is big to leave lying."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        pid = tmp.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success."""
    path = Path(path)
    with _disk_full_is_one_line(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp)
        try:
            yield tmp
            if tmp.exists():
                os.chmod(tmp, _PUBLIC_FILE)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces `path` on success."""
    path = Path(path)
    with _disk_full_is_one_line(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".partial", dir=path.parent))
        try:
            yield tmp
            os.chmod(tmp, _PUBLIC_FILE | 0o111)
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping], fieldnames: Sequence[str]) -> int:
    """Write dict rows with a header; return how many rows were written."""
    count = 0
    with atomic_path(path) as tmp:
        # a lone surrogate (from a JSON escape in a dataset) is written as \udXXX, not a crash
        with open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
            writer = csv.DictWriter(f, fieldnames=list(fieldnames), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                count += 1
    return count


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def contained(root: str | os.PathLike, relative: str) -> Path | None:
    """`root/relative`, or None when that path would escape `root`."""
    if not relative or Path(relative).is_absolute():
        return None
    root = Path(root).resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) else None


def usable_cores() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
