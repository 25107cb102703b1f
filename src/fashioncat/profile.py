"""Profiles: overlays of params.yaml kept in config/profiles/<name>.yaml, e.g. `paper` for the paper's scale.

    python -m fashioncat profile paper            # print the `dvc exp run -S ...` line that applies it
    python -m fashioncat profile paper --apply    # rewrite params.yaml in place, its comments kept

A profile names only the keys it changes. Every key must already exist in params.yaml,
and the result must validate as params.yaml does, or nothing is written. `tune: {grids: paper}`
stands for the paper's full grids (`fashioncat.paper.GRIDS`), written there once.

`--apply` finds each value with the YAML parser (so quoted keys, keys that start with a
digit and flow mappings are found as YAML reads them) and replaces that value's characters
alone: comments, tabs, line endings (LF or CRLF) and every other key stay byte for byte;
only the spaces before a trailing comment on a changed line are adjusted, to keep the
comment in its column. A value the edit cannot change alone is refused with one line
naming the key: one tied to a YAML anchor or alias, one inside a section an alias shares,
one that comes from a merge key (<<), a block list or block scalar.
"""

from __future__ import annotations

import copy
import math
import re
import shlex
import sys
from collections import Counter
from pathlib import Path

import yaml

from fashioncat import config, paper, typed
from fashioncat.errors import FashionError
from fashioncat.io import write_text

PROFILES = Path("config/profiles")
PAPER_GRIDS = "paper"  # `tune: {grids: paper}` in a profile: the paper's full grids, from fashioncat.paper
_MERGE = "tag:yaml.org,2002:merge"
_COMMENT_AFTER = re.compile(r"( +)#[^\r\n]*")  # spaces and a comment up to the line break
_LINE_BREAKS = "\n\r\x85\u2028\u2029"


def load_profile(name: str, folder: Path = PROFILES) -> dict:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise FashionError(f"{path}: no such profile (have: {', '.join(known) or 'none'})")
    raw = typed.parse(_read(path), str(path))
    if not isinstance(raw, dict):
        raise FashionError(f"{path}: a profile is a mapping of params.yaml keys")
    grids = raw.get("tune", {}).get("grids") if isinstance(raw.get("tune"), dict) else None
    if grids == PAPER_GRIDS:
        raw["tune"]["grids"] = copy.deepcopy(paper.GRIDS)
    try:
        found = _paths(raw)
    except RecursionError:
        raise FashionError(f"{path}: a YAML alias makes a value contain itself") from None
    for key_path, value in found:
        if value == {}:
            # `dvc exp run -S key={}` merges into the mapping instead of clearing it, so the two
            # routes would give different runs: a profile names each value it changes
            raise FashionError(
                f"{path}: {_dotted(key_path)} is an empty mapping, which `dvc exp run -S` cannot apply (it merges"
                " mappings): set each key inside it instead, to null to clear an override"
            )
    return raw


def kept(name: str, folder: Path = PROFILES) -> dict[str, str]:
    """Keys of params.yaml that name the paper yet the profile leaves alone, with why (`<folder>/kept/<name>.yaml`)."""
    path = folder / "kept" / f"{name}.yaml"
    if not path.is_file():
        return {}
    raw = typed.parse(_read(path), str(path))
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v for v in raw.values()):
        raise FashionError(f"{path}: a mapping of params.yaml keys to the reason each is kept")
    return {str(k): v for k, v in raw.items()}


def leaves(overlay: dict) -> dict:
    """Dotted key -> value, for every value the overlay sets."""
    return {".".join(str(k) for k in path): value for path, value in _paths(overlay)}


def _paths(overlay: dict, prefix: tuple = ()) -> list[tuple[tuple, object]]:
    """(key path, value) of every value the overlay sets, in its order."""
    out = []
    for key, value in overlay.items():
        if isinstance(value, dict) and value:
            out.extend(_paths(value, (*prefix, key)))
        else:
            out.append(((*prefix, key), value))
    return out


class _OneLineDumper(yaml.SafeDumper):
    """Writes a string holding a line break double-quoted (`"a\\nb"`), never across lines."""


def _represent_str(dumper, data: str):
    style = '"' if any(c in data for c in _LINE_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_OneLineDumper.add_representer(str, _represent_str)


def flow(value) -> str:
    """One-line YAML for a value, as params.yaml writes them (`[0, 10]`, `{}`, `1.0e-05`).

    Written as an item of a flow list, so it reads the same after `key: ` and inside `[...]` or `{...}`.
    """
    text = yaml.dump(
        [value], Dumper=_OneLineDumper, default_flow_style=True, width=sys.maxsize, allow_unicode=True
    ).strip()
    return text[1:-1]  # the value without the list around it


def rewritten(text: str, overlay: dict, name: str = "params.yaml") -> str:
    """`text` with the values `overlay` sets replaced where they are written, every other character kept.

    Raises FashionError (one line, naming the key) for a key `text` lacks and for a value that
    cannot be changed alone; checks by parsing the result that exactly those values changed.
    """
    before = typed.parse(text, name)
    document = _Document(text, name)
    edits = [document.edit(path, value) for path, value in _paths(overlay)]
    out = text
    for start, end, new in sorted(edits, reverse=True):
        out = out[:start] + new + out[end:]
    try:
        same = _same(typed.parse(out, name), _overlaid(before, overlay))
    except (FashionError, RecursionError):
        same = False
    if not same:  # a YAML construct this edit does not know: refuse rather than write a guess
        keys = ", ".join(_dotted(path) for path, _ in _paths(overlay))
        raise FashionError(f"{name}: could not change {keys} alone; nothing was written (edit {name} by hand)")
    return out


class _AnchorLoader(yaml.SafeLoader):
    """Composes the node tree and keeps each node's anchor name, which PyYAML's nodes do not hold."""

    def __init__(self, text: str):
        super().__init__(text)
        self.anchor_of: dict[int, str] = {}

    def compose_node(self, parent, index):
        event = self.peek_event()
        node = super().compose_node(parent, index)
        if not isinstance(event, yaml.AliasEvent) and event.anchor is not None:
            self.anchor_of[id(node)] = event.anchor
        return node


class _Document:
    """params.yaml as YAML nodes, which know where in the text each value is written."""

    def __init__(self, text: str, name: str):
        self.text, self.name = text, name
        self.loader = _AnchorLoader(text)
        self.root = self.loader.get_single_node()
        self.uses = Counter()  # how often each node is reached: more than once means an alias shares it
        todo = [self.root] if self.root is not None else []
        while todo:
            node = todo.pop()
            self.uses[id(node)] += 1
            if self.uses[id(node)] > 1:
                continue
            if isinstance(node, yaml.SequenceNode):
                todo.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                todo.extend(n for pair in node.value for n in pair)

    def edit(self, path: tuple, value) -> tuple[int, int, str]:
        """(start, end, new text) that sets `path` to `value`."""
        dotted = _dotted(path)
        node, line = self.root, 1
        for depth, part in enumerate(path):
            if self._shared(node):
                self._refuse(
                    line,
                    f"{dotted} is inside {_dotted(path[:depth]) or 'the document'}, which the "
                    f"YAML anchor &{self.loader.anchor_of[id(node)]} shares with an alias",
                )
            if not isinstance(node, yaml.MappingNode):
                raise FashionError(f"profile key {dotted} is not a key of {self.name}")
            pairs = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE]
            found = [(k, v) for k, v in pairs if str(self.loader.construct_object(k)) == str(part)]
            if not found:
                merges = [k for k, _ in node.value if k.tag == _MERGE]
                if merges:
                    self._refuse(
                        merges[0].start_mark.line + 1, f"{dotted} would come from a YAML merge key (<<)", "merged"
                    )
                raise FashionError(f"profile key {dotted} is not a key of {self.name}")
            key, node = found[-1]
            line = key.start_mark.line + 1
        if id(node) in self.loader.anchor_of:
            self._refuse(line, f"{dotted} is tied to the YAML anchor &{self.loader.anchor_of[id(node)]}")
        return self._replacement(node, flow(value), dotted, line)

    def _shared(self, node) -> bool:
        return self.uses[id(node)] > 1

    def _refuse(self, line: int, what: str, kind: str = "anchored or aliased") -> None:
        raise FashionError(f"{self.name}:{line}: {what}; a profile changes no {kind} value (edit {self.name} by hand)")

    def _replacement(self, node, new: str, dotted: str, line: int) -> tuple[int, int, str]:
        if isinstance(node, yaml.MappingNode) and not node.flow_style:
            raise FashionError(f"{self.name}:{line}: {dotted} is a section; a profile sets the keys inside it")
        if isinstance(node, yaml.SequenceNode) and not node.flow_style:
            raise FashionError(f"{self.name}:{line}: {dotted} is a block list; write it as [a, b] to set it")
        if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            raise FashionError(f"{self.name}:{line}: {dotted} is a block scalar (| or >); write it on one line")
        text, start, end = self.text, node.start_mark.index, node.end_mark.index
        if start == end:  # `key:` with nothing after the colon
            if text[start - 1 : start] != ":":
                raise FashionError(f"{self.name}:{line}: {dotted} has no value to replace; write `key: null` first")
            new = " " + new
        comment = _COMMENT_AFTER.match(text, end)
        if comment:  # keep a trailing comment in its column, at no less than its own gap (or two spaces)
            gap = comment.group(1)
            column = end - _line_start(text, end) + len(gap)
            new_end = start - _line_start(text, start) + len(new)
            end += len(gap)
            new += " " * max(min(len(gap), 2), column - new_end)
        return start, end, new


def _line_start(text: str, at: int) -> int:
    return max(text.rfind(c, 0, at) for c in _LINE_BREAKS) + 1


def _dotted(path: tuple) -> str:
    return ".".join(str(k) if str(k).isprintable() else repr(k) for k in path)


def _overlaid(data, overlay: dict):
    """`data` with `overlay`'s values set, matching keys as the edit does (by their text)."""
    out = dict(data)
    for key, value in overlay.items():
        at = next(k for k in out if str(k) == str(key))
        out[at] = _overlaid(out[at], value) if isinstance(value, dict) and value else value
    return out


def _same(a, b) -> bool:
    """Equal as YAML data: of the same types (1 is not 1.0 nor true), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and _same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _read(path: Path) -> str:
    """The file's text as it is: no line-ending translation (a CRLF file stays CRLF)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FashionError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise FashionError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def exp_run_command(name: str, values: dict) -> str:
    """The `dvc exp run` line that tries the profile without editing params.yaml (each value shell-quoted)."""
    sets = " ".join(f"-S {shlex.quote(f'{key}={flow(value)}')}" for key, value in values.items())
    return f"dvc exp run -n {shlex.quote(name)} {sets}"


def apply(name: str, params: Path = Path("params.yaml"), folder: Path = PROFILES) -> str:
    """Write params.yaml with the profile applied (validated first); return the new text."""
    params = Path(params)
    text = rewritten(_read(params), load_profile(name, folder), str(params))
    typed.build(config.Config, typed.parse(text, str(params)), "")
    write_text(params, text)
    return text


def add_command(subparsers) -> None:
    p = subparsers.add_parser("profile", help="apply a params.yaml overlay from config/profiles/")
    p.add_argument("name", help="a profile in config/profiles/, e.g. paper")
    p.add_argument("--apply", action="store_true", help="rewrite params.yaml instead of printing the exp run line")
    p.add_argument("--params", default="params.yaml", type=Path)
    p.set_defaults(handler=_run)


def _run(args) -> int:
    try:
        if args.apply:
            apply(args.name, args.params)
            print(f"{args.params}: profile {args.name} applied (`git diff {args.params}` shows what changed)")
        else:
            print(exp_run_command(args.name, leaves(load_profile(args.name))))
            for key, why in kept(args.name).items():
                print(f"# kept as in params.yaml: {key} ({why})")
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
