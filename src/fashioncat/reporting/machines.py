"""Which CPU kinds a run's stages ran on, from the `machine` field `stage.run` writes into every report.

Training numbers differ between CPU models (oneDNN picks its kernels by instruction set), so a
comparison between runs says which kinds it compared, and a noise band says which kinds it spans.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

DETAILS = "metrics/details"
_CORES = re.compile(r",\s*\d+ cores?$")


def kind(machine: str) -> str:
    """The CPU model of a `machine` string, without its core count: 'AMD EPYC (family 26, model 2)'."""
    return _CORES.sub("", machine.strip())


def kinds(reports) -> set[str]:
    """The CPU kinds named by these reports (dicts); reports without a `machine` field name none."""
    return {kind(r["machine"]) for r in reports if isinstance(r, dict) and isinstance(r.get("machine"), str)}


def kinds_at(repo: Path, rev: str | None = None) -> set[str]:
    """The CPU kinds of the run committed at `rev` (the workspace's when None), from its details reports."""
    repo = Path(repo)
    if rev is None:
        return kinds(_load(p.read_text(encoding="utf-8")) for p in sorted((repo / DETAILS).rglob("*.json")))
    listed = _git(repo, "ls-tree", "-r", "--name-only", rev, "--", DETAILS)
    names = [n for n in listed.splitlines() if n.endswith(".json")] if listed is not None else []
    return kinds(_load(_git(repo, "show", f"{rev}:{n}") or "") for n in names)


def _load(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None
