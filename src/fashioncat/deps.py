"""Which library files a stage script can run: the closure of its `fashioncat` imports.

DVC reruns a stage when a declared dep changes, so every module a stage imports,
directly or through another module, must be among its deps. `dvc.yaml` cannot
compute this itself; tests/core/test_layout.py compares its deps with `closure`, and
`python -m fashioncat.deps stages/train.py` prints the list to paste.

Imports inside functions count too: a lazy import still runs in the stage.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
from pathlib import Path

PACKAGE = "fashioncat"


def _module_file(src: Path, dotted: str) -> Path | None:
    base = src.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path) -> set[str]:
    """Dotted names of fashioncat modules (or of names inside them) that `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _with_parents(dotted: str) -> list[str]:
    """`a.b.c` -> [a, a.b, a.b.c]: importing a module runs every package __init__ above it."""
    parts = dotted.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def closure(script: Path, src: Path) -> set[Path]:
    """Every file under `src` that importing `script` can execute, `script` excluded."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for dotted in _imported(todo.pop()):
            for name in _with_parents(dotted):
                found = _module_file(src, name)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


@functools.cache
def code_digest() -> str:
    """A digest of the code this process runs: its main script and every library file that script can import.

    Checkpoints carry it, so a run interrupted before a code change does not resume from
    weights the old code trained (DVC reruns the stage, but would take the checkpoint).
    Outside a script (an interactive session, a test runner) it covers the whole package.
    """
    src = Path(__file__).resolve().parents[1]
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    script = Path(main_file).resolve() if main_file else None
    if script is not None and script.is_file() and script.suffix == ".py":
        files = {script, *closure(script, src)}
    else:
        files = set((src / PACKAGE).rglob("*.py"))
    digest = hashlib.sha256()
    for path in sorted(files):
        name = path.relative_to(src).as_posix() if path.is_relative_to(src) else path.name
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def main(argv: list[str]) -> int:
    for script in argv:
        print(f"# {script}")
        for path in sorted(closure(Path(script), Path("src"))):
            print(f"- {path.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
