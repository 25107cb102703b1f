"""A wall-clock limit on fetching one file, which a server sending a byte a second cannot stretch.

A socket timeout bounds each read, not their sum, so a slow enough server keeps one
download going for as long as it likes. A `Deadline` is entered around all the tries
of one file; every HTTP(S) connection the same thread opens meanwhile (through
`OPENER`, redirects included) is registered with it, and when the time is up a timer
shuts those sockets down, so whatever read is blocked returns at once.
"""

from __future__ import annotations

import http.client
import socket
import threading
import urllib.request

_current = threading.local()


class Deadline:
    """`with Deadline(seconds) as d:` … `d.expired` once the time is up; None: no limit."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    @property
    def reason(self) -> str:
        return f"took longer than {self.seconds:g} s"

    def __enter__(self) -> Deadline:
        if self.seconds is not None:
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
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


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


class _HTTPConnection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        _watch(self.sock)


class _HTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        super().connect()
        _watch(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context)


# urllib's usual opener (proxies, redirects, errors) with connections a Deadline can cut
OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)
