"""Profiles: overlays of params.yaml kept in config/profiles/<name>.yaml, e.g. `paper` for the paper's scale.

    python -m fashioncat profile paper            # print the `dvc exp run -S ...` line that applies it
    python -m fashioncat profile paper --apply    # rewrite params.yaml in place, its comments kept

A profile names only the keys it changes. Every key must already exist in params.yaml,
and the result must validate as params.yaml does, or nothing is written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from fashioncat import config
from fashioncat.errors import FashionError
from fashioncat.io import write_text

PROFILES = Path("config/profiles")
_KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<gap> *)(?P<rest>.*)$")


def load_profile(name: str, folder: Path = PROFILES) -> dict:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        raise FashionError(f"{path}: no such profile (have: {', '.join(known) or 'none'})")
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise FashionError(f"{path}: a profile is a mapping of params.yaml keys")
    return raw


def leaves(overlay: dict, prefix: str = "") -> dict:
    """Dotted key -> value; an empty mapping is a value (it clears per-architecture overrides)."""
    out = {}
    for key, value in overlay.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(leaves(value, dotted))
        else:
            out[dotted] = value
    return out


def flow(value) -> str:
    """One-line YAML for a value, as params.yaml writes them (`[0, 10]`, `{}`, `1.0e-05`)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def rewritten(text: str, values: dict) -> str:
    """params.yaml text with each dotted key's value replaced on its own line; comments stay."""
    lines, path, found = text.splitlines(keepends=True), [], set()
    for i, line in enumerate(lines):
        match = _KEY_LINE.match(line.rstrip("\n"))
        if not match or line.lstrip().startswith("#"):
            continue
        depth = len(match["indent"])
        path = [(d, k) for d, k in path if d < depth] + [(depth, match["key"])]
        dotted = ".".join(k for _, k in path)
        if dotted not in values:
            continue
        value, comment = _split_comment(match["rest"])
        if not value:
            raise FashionError(f"params.yaml:{i + 1}: {dotted} is a section; a profile sets the keys inside it")
        new = f"{match['indent']}{match['key']}:{match['gap'] or ' '}{flow(values[dotted])}"
        column = len(line.rstrip("\n")) - len(comment.lstrip())  # where the comment's '#' was
        lines[i] = (new + " " * max(2, column - len(new)) + comment.lstrip() if comment else new) + "\n"
        found.add(dotted)
    missing = sorted(set(values) - found)
    if missing:
        raise FashionError(f"profile key {missing[0]} is not a key of params.yaml")
    return "".join(lines)


def _split_comment(rest: str) -> tuple[str, str]:
    """A value and its trailing `# comment` (with the spaces before it); params.yaml values hold no '#'."""
    at = rest.find(" #")
    if at < 0:
        return rest.strip(), ""
    start = len(rest[:at].rstrip())
    return rest[:start].strip(), rest[start:]


def exp_run_command(name: str, values: dict) -> str:
    """The `dvc exp run` line that tries the profile without editing params.yaml."""
    sets = " ".join(f"-S '{key}={flow(value)}'" for key, value in values.items())
    return f"dvc exp run -n {name} {sets}"


def apply(name: str, params: Path = Path("params.yaml"), folder: Path = PROFILES) -> str:
    """Write params.yaml with the profile applied (validated first); return the new text."""
    text = rewritten(params.read_text(encoding="utf-8"), leaves(load_profile(name, folder)))
    config.build(config.Config, yaml.safe_load(text), "")
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
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
