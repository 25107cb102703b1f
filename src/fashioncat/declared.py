"""The guard that lets a stage read only the params.yaml keys its dvc.yaml entry declares.

DVC reruns a stage when a declared param changes; a stage that read an undeclared key
would keep stale outputs when that key changed. `stage.run` hands each stage its config
through this view, so such a read fails the first time the stage runs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect

from fashioncat.errors import FashionError
from fashioncat.typed import join


class Declared:
    """A read-only view of a config (or part of one) that serves only the keys in `allowed`.

    Reading a covered key gives the real value; reading a key above a covered one gives
    another view; reading anything else raises a FashionError naming the key and the
    stage. Methods of a section are served as they are.
    """

    def __init__(self, obj, allowed: list[str], stage: str, path: str = ""):
        self._obj, self._allowed, self._stage, self._path = obj, allowed, stage, path

    def _get(self, name: str, value):
        key = join(self._path, name)
        if inspect.ismethod(value) and value.__self__ is self._obj:
            return functools.partial(value.__func__, self)  # the method's own reads go through this view
        if callable(value) and not dataclasses.is_dataclass(value):
            return value
        if any(key == a or key.startswith(a + ".") for a in self._allowed):
            return value
        if any(a.startswith(key + ".") for a in self._allowed):
            return Declared(value, self._allowed, self._stage, key)
        raise FashionError(
            f"stage {self._stage} reads params.yaml key {key}, which its dvc.yaml entry does not declare "
            f"(declared: {', '.join(self._allowed) or 'none'})"
        )

    def __getattr__(self, name: str):
        return self._get(name, getattr(self._obj, name))

    def __getitem__(self, name: str):
        return self._get(name, self._obj[name])

    def __contains__(self, name: str) -> bool:
        return name in self._obj

    def __iter__(self):
        return iter(self._obj)
