"""Plain YAML data into typed, checked dataclasses: the converter behind params.yaml's config.

`parse` reads YAML text (refusing a key written twice), `build` turns the data into a
dataclass, checking every key and type against its fields and calling its `check`. Nothing
here knows params.yaml's sections: `fashioncat.config` declares them.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing

import yaml

from fashioncat.errors import FashionError


def parse(text: str, name: str = "params.yaml"):
    """YAML text as plain data. Invalid YAML and a key written twice in one mapping (which YAML
    would resolve silently, keeping the last) are one FashionError line naming the place."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicates(loader, node, name)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FashionError(f"{name}{where}: not valid YAML ({problem})") from None
    except (ValueError, TypeError) as exc:  # a tag PyYAML cannot apply: `!!int abc`
        raise FashionError(f"{name}: not valid YAML ({str(exc).splitlines()[0]})") from None
    finally:
        loader.dispose()


_MERGE = "tag:yaml.org,2002:merge"


def _refuse_duplicates(loader, root, name: str) -> None:
    todo, seen_nodes = [(root, "")], set()
    while todo:
        node, where = todo.pop()
        if id(node) in seen_nodes:  # an alias: checked where its anchor is
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            todo.extend((item, f"{where}[{i}]") for i, item in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        lines = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                todo.append((value_node, where))
                continue
            key = loader.construct_object(key_node)
            dotted = join(where, key)
            line = key_node.start_mark.line + 1
            if key in lines:
                raise FashionError(
                    f"{name}:{line}: duplicate key {dotted} (first on line {lines[key]}); YAML would keep only the last"
                )
            lines[key] = line
            todo.append((value_node, dotted))


def build(cls, raw, key: str):
    """Turn plain YAML data into the dataclass `cls`, checking every key and type."""
    label = key or "the top level"
    if not isinstance(raw, dict):
        raise FashionError(f"params.yaml: {label} must be a mapping, not {kind(raw)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise FashionError(f"params.yaml: unknown key {join(key, unknown[0])} (allowed: {', '.join(names)})")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in raw and not getattr(cls, "partial", False)]
    if missing:
        raise FashionError(f"params.yaml: missing key {join(key, missing[0])}")
    values = {name: _convert(hints[name], raw[name], join(key, name)) for name in names if name in raw}
    obj = cls(**values)
    if hasattr(obj, "check"):
        obj.check(key)
    return obj


def _convert(hint, value, key: str):
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if origin is dict:
        _, value_type = typing.get_args(hint)
        if not isinstance(value, dict) or not value:
            raise FashionError(f"params.yaml: {key} must be a non-empty mapping, not {kind(value)}")
        for name in value:
            if not isinstance(name, str):  # `2021:` is the integer 2021 to YAML
                raise FashionError(f"params.yaml: {key}: the key {name!r} must be text (write it in quotes)")
        return {k: _convert(value_type, v, join(key, k)) for k, v in value.items()}
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise FashionError(f"params.yaml: {key} must be a list, not {kind(value)}")
        return [_convert(item_type, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(o for o in options if o is not type(None))
    return _scalar(hint, value, key)


# YAML 1.1 (PyYAML) reads 1e-5 as a string: it wants a dot in the mantissa (1.0e-5).
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _scalar(hint, value, key: str):
    if hint is float and isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        value = float(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # an integer beyond every float
            value = math.inf if value > 0 else -math.inf
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        # NaN passes every `<= 0` test and infinity every `> 0` one: neither is a setting
        raise FashionError(f"params.yaml: {key} must be a finite number, not {value!r}")
    if hint is bool and not isinstance(value, bool):
        raise FashionError(f"params.yaml: {key} must be true or false, not {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise FashionError(f"params.yaml: {key} must be an integer, not {value!r}")
    if not isinstance(value, hint):
        raise FashionError(f"params.yaml: {key} must be {hint.__name__}, not {kind(value)} {value!r}")
    return value


def join(key: str, name: str) -> str:
    name = name if str(name).isprintable() else repr(name)  # a key with a line break stays on the one line
    return f"{key}.{name}" if key else name


def kind(value) -> str:
    return "nothing" if value is None else type(value).__name__
