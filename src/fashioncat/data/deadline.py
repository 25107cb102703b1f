"""The opener every download goes through: a wall-clock deadline, and no internal addresses.

A socket timeout bounds each read, not their sum, so a slow enough server keeps one
download going for as long as it likes. A `Deadline` is entered around all the tries
of one file; every HTTP(S) connection the same thread opens meanwhile (through
`OPENER`, redirects included) is registered with it, and when the time is up a timer
shuts those sockets down, so whatever read is blocked returns at once. `expired` also
turns true by the clock alone, so a loop reading a local file stops at the deadline too.

A dataset JSON is data from the internet: its URLs, and the redirects they answer with,
could point the downloader at the machine itself, the cloud's metadata service or the
local network, and whatever those answered would end up in data/raw and the DVC cache.
`OPENER` therefore refuses (`Refused`) any host that resolves to a loopback, private,
link-local or otherwise non-public address, checked for the first URL and every
redirect before connecting, and again on the connected socket's own peer address (a
name may resolve differently the second time); hosts named in `Addresses` (the param
download.allowed_hosts) are exempt, as is a proxy the environment configures.
"""

from __future__ import annotations

import http.client
import ipaddress
import math
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable

from fashioncat.errors import FashionError

_current = threading.local()


class Deadline:
    """`with Deadline(seconds) as d:` … `d.expired` once the time is up; None or infinity: no limit."""

    def __init__(self, seconds: float | None):
        if seconds is not None and not seconds > 0:  # `not >` also catches NaN
            raise FashionError(f"download deadline must be a positive number of seconds, not {seconds!r}")
        self.seconds = seconds
        self._end = math.inf
        self._expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    @property
    def reason(self) -> str:
        return f"took longer than {self.seconds:g} s"

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self._end

    @property
    def remaining(self) -> float:
        """Seconds left (infinity without a limit), never below zero."""
        return max(0.0, self._end - time.monotonic())

    def __enter__(self) -> Deadline:
        if self.seconds is not None and math.isfinite(self.seconds):
            self._end = time.monotonic() + self.seconds
            # a timer that long would overflow the OS's (threading.Timer raises): the clock alone decides then
            if self.seconds <= threading.TIMEOUT_MAX:
                self._timer = threading.Timer(self.seconds, self._expire)
                self._timer.daemon = True
                self._timer.start()
        _current.deadline = self
        return self

    def __exit__(self, *exc) -> None:
        _current.deadline = None
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)


def socket_timeout(seconds: float | None, deadline: Deadline | None = None) -> float | None:
    """A value `socket.settimeout` takes: at most what is left of `deadline` (so even a connect,
    which the deadline's timer cannot cut, ends by then), None for no limit, and never so large
    that the OS's time type overflows."""
    if seconds is None or not seconds < math.inf:
        seconds = math.inf
    if deadline is not None:
        seconds = min(seconds, deadline.remaining)
    if math.isnan(seconds) or seconds == math.inf:
        return None
    return min(seconds, _MAX_SOCKET_TIMEOUT)


_MAX_SOCKET_TIMEOUT = 1e9  # about 31 years: socket.settimeout overflows near 9.2e9 s


def _shut(sock: socket.socket) -> None:
    # the plain socket's shutdown, also for an SSL socket: a blocked read then sees the end
    # of the stream, while SSLSocket.shutdown would pull its TLS state from under that read
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def _watch(sock) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)


# ---- which hosts may be reached --------------------------------------------------------------------------------


class Refused(OSError):
    """A URL the downloader will not fetch: an internal address, or a redirect to another scheme."""


class Addresses:
    """`with Addresses(allowed_hosts):` … public addresses, plus the hosts named, for this thread's fetches.

    A host is named as URLs write it (`mirror.lan`, `127.0.0.1`, `::1`), without port;
    case and a final dot do not matter. A name is matched as written, not by what it
    resolves to: allowing `127.0.0.1` does not allow `localhost`.
    """

    def __init__(self, allowed_hosts: Iterable[str] = ()):
        self.allowed = frozenset(_host_key(host) for host in allowed_hosts)

    def __enter__(self) -> Addresses:
        self._outer = getattr(_current, "addresses", None)
        _current.addresses = self
        return self

    def __exit__(self, *exc) -> None:
        _current.addresses = self._outer

    def allows(self, host: str) -> bool:
        return _host_key(host) in self.allowed

    def check_url(self, url: str) -> None:
        """Raise Refused unless every address `url`'s host resolves to may be reached."""
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in {url!r}")
        if self.allows(host):
            return
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        for *_, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            self._check(host, address[0])

    def check_peer(self, host: str, sock: socket.socket) -> None:
        """Raise Refused when the connected `sock` reached an internal address for `host`."""
        if self.allows(host) or _host_key(host) in _proxy_hosts():
            return  # a proxy is the user's own setting, not the data's; the proxied URL was checked
        self._check(host, sock.getpeername()[0])

    @staticmethod
    def _check(host: str, address: str) -> None:
        kind = internal(address)
        if kind is None:
            return
        at = "" if _host_key(host) == _host_key(address) else f" is at {address}, which"
        article = "an" if kind[0] in "aeiou" else "a"
        raise Refused(
            f"refused: {host}{at} is {article} {kind} address "
            "(list the host in download.allowed_hosts to fetch from it)"
        )


def internal(address: str) -> str | None:
    """What kind of non-public address `address` is (loopback, private, ...), or None for a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 peer may carry its zone: fe80::1%eth0
    if ip.version == 6 and (ip.ipv4_mapped or ip.sixtofour) and ip not in _NAT64:
        ip = ip.ipv4_mapped or ip.sixtofour
    elif ip in _NAT64:  # the well-known NAT64 prefix reaches the IPv4 address in its last 32 bits
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-public"


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _host_key(host: str) -> str:
    host = str(host).strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))  # one spelling per address: ::1 and 0:0::1 are one host
    except ValueError:
        return host


def _proxy_hosts() -> set[str]:
    hosts = set()
    for url in urllib.request.getproxies().values():
        try:
            host = urllib.parse.urlsplit(url if "://" in url else f"//{url}").hostname
        except ValueError:
            continue
        if host:
            hosts.add(_host_key(host))
    return hosts


def _addresses() -> Addresses:
    return getattr(_current, "addresses", None) or _PUBLIC_ONLY


_PUBLIC_ONLY = Addresses()


def _connect(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """socket.create_connection, then the peer's address checked before a byte is sent."""
    sock = socket.create_connection(address, timeout, source_address)
    try:
        _addresses().check_peer(address[0], sock)
    except BaseException:
        sock.close()
        raise
    _watch(sock)  # from here a proxy tunnel and the TLS handshake are cut by the deadline too
    return sock


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect

    def connect(self):
        super().connect()
        _watch(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect

    def connect(self):
        super().connect()
        _watch(self.sock)  # the SSL socket: the plain one it wrapped is detached from its descriptor


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        _addresses().check_url(req.full_url)  # the first URL and, as urllib opens them anew, every redirect
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        _addresses().check_url(req.full_url)
        return self.do_open(_HTTPSConnection, req, context=self._context)


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ("http", "https"):  # urllib itself would follow one to ftp:
            fp.close()
            raise Refused(f"refused: redirect to a {scheme}: URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


# urllib's usual opener (proxies, redirects, errors) with connections a Deadline can cut and Addresses guards
OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler, _RedirectHandler)
