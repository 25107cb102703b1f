"""Reading one annotation JSON file, every way it can fail being one line naming the file (and line)."""

from __future__ import annotations

import json
from pathlib import Path

from fashioncat.errors import FashionError


class Members(dict):
    """A JSON object that remembers the keys it holds twice (JSON allows it; Python keeps the last silently).

    The first value of a repeated key is kept, as the readers keep the first of repeated rows.
    """

    repeated: list[str]


def members(pairs: list[tuple[str, object]]) -> Members:
    found = Members()
    found.repeated = []
    for key, value in pairs:
        if key in found:
            found.repeated.append(key)
        else:
            found[key] = value
    return found


def load(path: Path, *, keep_repeats: bool = False):
    """The JSON value in `path`; with `keep_repeats`, every object is a `Members`."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
        return json.loads(text, object_pairs_hook=members if keep_repeats else None)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FashionError(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FashionError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise FashionError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    except RecursionError:
        raise FashionError(f"{path}: JSON nested too deeply to read") from None
    except OSError as exc:
        raise FashionError(f"{path}: cannot read ({exc.strerror})") from None
