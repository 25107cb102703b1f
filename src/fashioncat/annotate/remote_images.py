"""Images a task names by URL, fetched from Label Studio as if the URL were hostile.

A task's image is whatever its data says: a relative `/data/...` URL on Label Studio
(resolved against LABEL_STUDIO_URL), or any URL someone imported. The ML backend
fetches it with Label Studio's API key, so a careless fetch would hand that key to any
host, or let a task make the backend read internal addresses (SSRF). Hence:

- only http and https; no user:password@ in the URL; 8 KB of URL at most;
- only Label Studio's own origin (scheme, host and port), plus origins named with
  `--allow-origin`; a redirect is followed (3 at most) only to those origins too;
- the API key (`Authorization: Token ...`) goes only to Label Studio's origin;
- at most `max_bytes` are read (a Content-Length above it is refused before reading),
  within `timeout` seconds in all;
- the image is decoded only when its header declares at most `max_pixels` pixels.

Every refusal is an `ImageProblem` whose message says why; it costs that task its
prediction, never the request.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import httpx2
import numpy as np
from PIL import Image

from fashioncat.annotate import predict
from fashioncat.data.images import ImageProblem
from fashioncat.errors import FashionError

SCHEMES = ("http", "https")
MAX_URL = 8192
MAX_REDIRECTS = 3


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL, the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ImageProblem(f"URL has an invalid port: {url[:200]}") from None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def checked_base(url: str) -> str:
    """LABEL_STUDIO_URL as given, once it is an absolute http(s) URL; a FashionError otherwise."""
    parts = urlsplit(url or "")
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise FashionError(f"Label Studio URL {url!r} must be an absolute http:// or https:// URL")
    return url.rstrip("/")


class Fetcher:
    """Fetches task images from `base` (Label Studio) and the `extra` origins, within the limits above."""

    def __init__(
        self,
        base: str,
        api_key: str | None = None,
        allow: Iterable[str] = (),
        *,
        max_bytes: int = 20 << 20,
        max_pixels: int = 40_000_000,
        timeout: float = 10.0,
    ):
        self.base, self.api_key = checked_base(base), api_key or None
        self.extra = frozenset(origin(checked_base(url)) for url in allow)
        self.max_bytes, self.max_pixels, self.timeout = max_bytes, max_pixels, timeout
        # one connection pool for every thread (httpx2.Client is thread-safe); redirects are followed by hand
        self._client = httpx2.Client(follow_redirects=False, timeout=timeout)

    @property
    def home(self) -> tuple[str, str, int]:
        return origin(self.base)

    def resolve(self, url) -> str:
        """The absolute URL to fetch for a task's image reference; ImageProblem when it is not allowed."""
        if not isinstance(url, str) or not url.strip():
            raise ImageProblem("no image URL in the task")
        url = url.strip()
        if len(url) > MAX_URL:
            raise ImageProblem(f"image URL longer than {MAX_URL} characters")
        parts = urlsplit(url)
        if not parts.scheme and not parts.netloc:
            if not url.startswith("/"):
                raise ImageProblem(f"relative image URL must start with / (a Label Studio path): {url[:200]}")
            url = urljoin(self.base + "/", url)
            parts = urlsplit(url)
        if parts.scheme.lower() not in SCHEMES:
            raise ImageProblem(f"image URL scheme {parts.scheme or '(none)'!r} refused: only http and https")
        if parts.username is not None or parts.password is not None:
            raise ImageProblem("image URL with credentials (user@host) refused")
        found = origin(url)
        if found != self.home and found not in self.extra:
            raise ImageProblem(
                f"image host {found[1]}:{found[2]} refused: only Label Studio's ({self.home[1]}:{self.home[2]})"
                " and origins given with --allow-origin"
            )
        return url

    def fetch(self, url) -> bytes:
        """The bytes at the task's image URL; ImageProblem on any refusal, HTTP error or limit."""
        url = self.resolve(url)
        deadline = time.monotonic() + self.timeout
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Authorization": f"Token {self.api_key}"} if self.api_key and origin(url) == self.home else {}
            try:
                with self._client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect:
                        url = self.resolve(urljoin(url, response.headers.get("location", "")))
                        continue
                    if response.status_code != 200:
                        raise ImageProblem(f"image URL answered HTTP {response.status_code}")
                    return self._body(response, deadline)
            except httpx2.TimeoutException:
                raise ImageProblem(f"image not fetched within {self.timeout:g} s") from None
            except httpx2.HTTPError as exc:
                raise ImageProblem(f"image not fetched ({type(exc).__name__}: {exc})") from None
        raise ImageProblem(f"image URL redirected more than {MAX_REDIRECTS} times")

    def _body(self, response: httpx2.Response, deadline: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageProblem(f"image of {int(declared):,} bytes refused (limit {self.max_bytes:,})")
        chunks, size = [], 0
        for chunk in response.iter_bytes(64 << 10):
            size += len(chunk)
            if size > self.max_bytes:
                raise ImageProblem(f"image larger than {self.max_bytes:,} bytes refused")
            if time.monotonic() > deadline:
                raise ImageProblem(f"image not fetched within {self.timeout:g} s")
            chunks.append(chunk)
        return b"".join(chunks)

    def pixels(self, data: bytes, settings, box=None) -> np.ndarray:
        """The image prepared as training saw it (`annotate`'s pixels), once its size is within the limit."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is judged below
                with Image.open(io.BytesIO(data)) as probe:  # reads the header only
                    width, height = probe.size
        except Exception as exc:  # PIL raises assorted types on data that is no image
            raise ImageProblem(f"unreadable image ({type(exc).__name__})") from None
        if width * height > self.max_pixels:
            raise ImageProblem(f"image of {width}x{height} pixels refused (limit {self.max_pixels:,} pixels)")
        try:
            return predict.pixels(io.BytesIO(data), box, settings)
        except ImageProblem:
            raise
        except Exception as exc:  # a malformed file past its header
            raise ImageProblem(f"unreadable image ({type(exc).__name__}: {exc})") from None

    def close(self) -> None:
        self._client.close()
