"""How far each headline metric moves when only the seed changes: the band a pull request is read against.

Measure it from k runs of the default pipeline that differ in `seed` alone, each
committed or kept as a DVC experiment, for example:

    dvc exp run --temp -S seed=2022 -n seed2022     # one per extra seed; the committed run is the first
    python -m fashioncat.reporting.noise_band HEAD refs/exps/...   # or: make noise-band REVS="HEAD seed2022"

For every numeric headline metric present in all runs the band is its range (max - min)
across the runs. The result goes to `metrics/noise_band.json` beside the metrics, with the
revisions, their seeds and a digest of every other parameter that can move a number:
`make report` reads the base's band and says when it was measured under other parameters
(then measure it again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

from fashioncat.errors import FashionError
from fashioncat.io import write_json

BAND_FILE = "metrics/noise_band.json"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        raise FashionError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout


def resolve(repo: Path, rev: str) -> str:
    """A commit for `rev`: a git revision, or the name of a DVC experiment."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo, text=True, capture_output=True
    )
    if found.returncode == 0:
        return found.stdout.strip()
    refs = _git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/").split("\n")
    named = [line.split()[1] for line in refs if line and line.split()[0].rsplit("/", 1)[-1] == rev]
    if len(named) != 1:
        raise FashionError(f"{rev}: neither a git revision nor the name of one DVC experiment")
    return named[0]


def headline_files(repo: Path, commit: str) -> list[str]:
    """The headline metrics files at `commit`: JSON under metrics/, outside metrics/details/."""
    names = _git(repo, "ls-tree", "-r", "--name-only", commit, "metrics/").split()
    return sorted(n for n in names if n.endswith(".json") and not n.startswith("metrics/details/") and n != BAND_FILE)


def flat_numbers(node, prefix: str = "") -> dict[str, float]:
    """Numeric leaves as dotted keys; booleans and strings are not measurements."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(flat_numbers(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return {prefix: float(node)}
    return {}


def metrics_at(repo: Path, commit: str) -> dict[str, float]:
    """`path:key` -> value for every numeric headline metric at `commit`."""
    out = {}
    for path in headline_files(repo, commit):
        data = json.loads(_git(repo, "show", f"{commit}:{path}"))
        out.update({f"{path}:{key}": value for key, value in flat_numbers(data).items()})
    return out


# Keys that change no number: the seed (what the band measures) and where work runs.
NOT_BUDGET = ("seed", "tune.executor", "tune.ray", "train.distribute")


def budget_digest(params: dict) -> str:
    """A digest of every parameter that can move a number, the seed aside: a band holds only for its budget."""
    rest = json.loads(json.dumps(params, default=str))
    for dotted in NOT_BUDGET:
        *parents, leaf = dotted.split(".")
        node = rest
        for key in parents:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]


def params_at(repo: Path, commit: str) -> dict:
    return yaml.safe_load(_git(repo, "show", f"{commit}:params.yaml"))


def measure(repo: Path, revs: list[str]) -> dict:
    """The band from runs `revs`, which must share every parameter but the seed."""
    if len(revs) < 2:
        raise FashionError("a noise band needs at least two runs (revisions or experiment names)")
    commits = [resolve(repo, rev) for rev in revs]
    params = [params_at(repo, c) for c in commits]
    digests = {budget_digest(p) for p in params}
    if len(digests) != 1:
        raise FashionError("the runs differ in more than the seed (compare their params.yaml): no noise band")
    seeds = [p.get("seed") for p in params]
    if len(set(seeds)) != len(seeds):
        raise FashionError(f"the runs must have different seeds, got {seeds}")
    runs = [metrics_at(repo, c) for c in commits]
    shared = sorted(set.intersection(*(set(r) for r in runs)))
    band = {key: round(max(r[key] for r in runs) - min(r[key] for r in runs), 6) for key in shared}
    return {
        "runs": [{"rev": rev, "commit": c, "seed": s} for rev, c, s in zip(revs, commits, seeds)],
        "budget_digest": digests.pop(),
        "statistic": "range (max - min) across the runs",
        "band": {key: value for key, value in band.items() if not key.endswith("_seconds")},
    }


def read_band(repo: Path, rev: str | None = None) -> dict | None:
    """The band committed at `rev` (the workspace's when None), or None where there is none."""
    if rev is None:
        path = repo / BAND_FILE
        return json.loads(path.read_text()) if path.is_file() else None
    shown = subprocess.run(["git", "show", f"{rev}:{BAND_FILE}"], cwd=repo, capture_output=True, text=True)
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("revs", nargs="+", help="runs differing only in seed: git revisions or DVC experiment names")
    p.add_argument("--repo", default=".")
    p.add_argument("--out", default=BAND_FILE)
    args = p.parse_args(argv)
    repo = Path(args.repo).resolve()
    try:
        result = measure(repo, args.revs)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json(repo / args.out, result)
    wide = sorted(result["band"].items(), key=lambda kv: -kv[1])[:5]
    print(f"{args.out}: band of {len(result['band'])} metrics from {len(args.revs)} runs; widest: {wide}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
