"""A small HTTP server on loopback that answers like Label Studio's file server, for the ML backend's tests and bench.

    /data/local-files/?d=<path below root>   the file, with `Authorization: Token <token>` only (else 401)
    /redirect?to=<url>                        302 to `url`
    /huge                                     a Content-Length far over any limit, and no body
    /endless                                  bytes without a Content-Length until the client stops
    /api/<path>                               the JSON registered in `api[path]` (token required), else 404

Every request's path and Authorization header are kept in `seen`, so a test can check
where the token went. Real sockets, real HTTP: nothing in the backend is replaced.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: the backend's 8 fetch threads connecting at once would overflow it,
    # and a dropped SYN is retried only after 1 s, a delay that is the test server's, not the backend's
    request_queue_size = 128


class ImageServer:
    def __init__(self, root: Path, token: str = "secret-token"):
        self.root, self.token = Path(root), token
        self.seen: list[tuple[str, str | None]] = []
        self.api: dict[str, object] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                owner.seen.append((self.path, self.headers.get("Authorization")))
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                authorized = self.headers.get("Authorization") == f"Token {owner.token}"
                if parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif parts.path == "/huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**12))
                    self.end_headers()
                elif parts.path == "/endless":
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(10_000):
                            self.wfile.write(b"\0" * 65536)
                    except OSError:
                        pass
                    self.close_connection = True
                elif parts.path.startswith("/api/"):
                    found = owner.api.get(parts.path)
                    if not authorized or found is None:
                        self._send(401 if not authorized else 404, b"{}", "application/json")
                    else:
                        self._send(200, json.dumps(found).encode(), "application/json")
                elif parts.path == "/data/local-files/":
                    if not authorized:
                        self._send(401, b"unauthorized", "text/plain")
                        return
                    file = (owner.root / query.get("d", [""])[0]).resolve()
                    if owner.root.resolve() not in file.parents or not file.is_file():
                        self._send(404, b"not found", "text/plain")
                    else:
                        self._send(200, file.read_bytes(), "application/octet-stream")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, kind: str):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def link(self, relative: str) -> str:
        """The relative URL Label Studio gives a local file below root: /data/local-files/?d=<path>."""
        return f"/data/local-files/?d={relative}"
