"""How far each headline metric moves when only the seed changes: the band a pull request is read against.

Measure it from k runs of the default pipeline that differ in `seed` alone, each
committed or kept as a DVC experiment, for example:

    dvc exp run --temp -S seed=2022 -n seed2022     # one per extra seed; the committed run is the first
    python -m fashioncat.reporting.noise_band HEAD refs/exps/...   # or: make noise-band REVS="HEAD seed2022"

For every numeric headline metric the band is its range (max - min) across the runs. The
result goes to `metrics/noise_band.json` beside the metrics, with the revisions, their seeds,
the CPU kinds each ran on (`machines`), and a digest of every other parameter that can move a
number: `make report` reads the base's band and says when it was measured under other
parameters (then measure it again). Runs of the same seed made on other CPU kinds may join:
the band then spans those kinds (`cpu_kinds`), and holds the CPU model's spread too.

A band holds only for runs that differ in the seed alone, so each run is checked against
what made it, from its own dvc.yaml and dvc.lock, and refused in one line naming the
revision, stage and dep or param at fault when:

- a headline metrics file is not what its stage wrote: the stage is missing from dvc.lock,
  or the committed file's md5 is not dvc.lock's (edited, or copied in without `dvc repro`);
- a stage that made the metrics, or one upstream of it, is stale: a code or data file, or a
  params value, committed since the run differs from the one dvc.lock recorded;
- the runs differ in more than the seed: a params value other than the seed, a stage's
  command, or a dep that no stage generates (code, class maps, input data). Deps that
  other stages write (their outs) may differ: they are downstream of the seed;
- a metric is NaN or infinite, or is present in one run and missing from another.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import posixpath
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fashioncat.errors import FashionError
from fashioncat.io import write_json, write_text
from fashioncat.reporting import band_table, machines

BAND_FILE = "metrics/noise_band.json"
PARAMS_FILE = "params.yaml"  # DVC's default params file: compared key by key, never by md5
REFUSED = "the runs differ in more than the seed; no noise band"
STALE = "never regenerated (dvc repro, then commit); no noise band"


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
    """`path:key` -> value for every numeric headline metric at `commit`, wall times (`*_seconds`) aside."""
    out = {}
    for path in headline_files(repo, commit):
        try:
            data = json.loads(_git(repo, "show", f"{commit}:{path}"))
        except json.JSONDecodeError as exc:
            raise FashionError(f"{path} at {commit[:12]}: not JSON ({exc})") from None
        out.update(
            {f"{path}:{key}": value for key, value in flat_numbers(data).items() if not key.endswith("_seconds")}
        )
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
    return yaml.safe_load(_git(repo, "show", f"{commit}:{PARAMS_FILE}"))


def _budget(params: dict) -> dict:
    """Dotted key -> value for every params leaf that can move a number (a list is one value)."""

    def leaves(node, prefix: str = "") -> dict:
        if isinstance(node, dict) and node:
            out = {}
            for key, value in node.items():
                out.update(leaves(value, f"{prefix}.{key}" if prefix else str(key)))
            return out
        return {prefix: node}

    flat = leaves(json.loads(json.dumps(params, default=str)))
    return {k: v for k, v in flat.items() if not any(k == n or k.startswith(f"{n}.") for n in NOT_BUDGET)}


def _first_difference(ours: dict, theirs: dict) -> str | None:
    """The first key (sorted) whose value differs between two flat dicts, a missing key included."""
    return next((k for k in sorted(set(ours) | set(theirs)) if ours.get(k, ...) != theirs.get(k, ...)), None)


def _show(value) -> str:
    return "missing" if value is ... else json.dumps(value, default=str)


def _overlap(path: str, other: str) -> bool:
    """Whether one path is the other or inside it (a folder)."""
    return path == other or path.startswith(other.rstrip("/") + "/") or other.startswith(path.rstrip("/") + "/")


def _lookup(tree, dotted: str):
    """The value at a DVC params key (`a.b.0.c`) in a params file, or ... where it has none."""
    node = tree
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return ...
    return node


def _md5s(data: bytes, entry: dict) -> set[str]:
    """The md5s DVC may have recorded for these bytes: plain (DVC 3), or with CRLF as LF (DVC 2's md5-dos2unix)."""
    plain = {hashlib.md5(data).hexdigest()}
    if entry.get("hash") == "md5":
        return plain
    return plain | {hashlib.md5(data.replace(b"\r\n", b"\n")).hexdigest()}


@dataclass
class Stage:
    """A stage of a run's dvc.yaml as DVC resolves it (foreach, vars), with its dvc.lock entry if it has one."""

    name: str
    deps: list[str]
    outs: list[str]
    lock: dict | None = None


@dataclass
class Run:
    """One run: a commit, its params.yaml, pipeline and dvc.lock, and its headline metrics."""

    repo: Path
    rev: str
    commit: str
    params: dict
    stages: dict[str, Stage] = field(default_factory=dict)  # in dvc.yaml's order
    files: dict[str, str] = field(default_factory=dict)  # path -> blob id of every file committed
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def seed(self):
        return self.params.get("seed")

    def blob(self, path: str) -> bytes | None:
        """The committed bytes of `path`, or None where it is no file in git (a folder, DVC-tracked data)."""
        blob_id = self.files.get(path)
        if blob_id is None:
            return None
        if blob_id not in _BLOBS:
            _BLOBS[blob_id] = subprocess.run(
                ["git", "cat-file", "blob", blob_id], cwd=self.repo, capture_output=True, check=True
            ).stdout
        return _BLOBS[blob_id]

    def load(self, path: str):
        """A committed dvc.lock or params file as DVC reads it (YAML 1.2: `1e-06` is a number).

        ... where it is no file in git; None for a params format not read here (Python).
        """
        data = self.blob(path)
        if data is None:
            return ...
        if path.endswith(".toml"):
            import tomllib

            return tomllib.loads(data.decode("utf-8"))
        if not path.endswith((".yaml", ".yml", ".json", ".lock")):
            return None
        from ruamel.yaml import YAML

        return YAML(typ="safe", pure=True).load(data)

    def generated(self, path: str) -> bool:
        """Whether a stage of this run writes `path` (or part of it): it may then differ between seeds."""
        return any(_overlap(path, out) for stage in self.stages.values() for out in stage.outs)

    def params_files(self) -> set[str]:
        return {PARAMS_FILE} | {f for s in self.stages.values() if s.lock for f in s.lock["params"]}


_BLOBS: dict[str, bytes] = {}  # blob id -> content, shared by the runs (most files are the same)


def _load(repo: Path, rev: str) -> Run:
    commit = resolve(repo, rev)
    run = Run(repo, rev, commit, params_at(repo, commit) or {})
    listing = _git(repo, "ls-tree", "-r", "-z", commit).split("\0")
    run.files = {
        path: meta.split()[2]
        for meta, _, path in (e.partition("\t") for e in listing if e)
        if meta.split()[1] == "blob"
    }
    run.stages = _pipeline(repo, rev, commit)
    _attach_lock(run)
    run.metrics = metrics_at(repo, commit)
    return run


def _pipeline(repo: Path, rev: str, commit: str) -> dict[str, Stage]:
    """The stages of the root dvc.yaml at `commit`, their paths relative to the repository root."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    stages = {}
    try:
        with Repo.open(str(repo), rev=commit) as dvc_repo:
            root = dvc_repo.root_dir
            for stage in dvc_repo.index.stages:
                if getattr(stage, "name", None) and stage.dvcfile.path == posixpath.join(root, "dvc.yaml"):
                    deps = [posixpath.relpath(d.fs_path, root) for d in stage.deps]
                    outs = [posixpath.relpath(o.fs_path, root) for o in stage.outs]
                    stages[stage.name] = Stage(stage.name, deps, outs)
    except DvcException as exc:
        raise FashionError(f"{rev}: dvc.yaml: {exc}") from None
    return stages


def _attach_lock(run: Run) -> None:
    """Each stage's dvc.lock entry, its paths made relative to the repository root."""
    lock = run.load("dvc.lock")
    entries = (lock or {}).get("stages", {}) if lock is not ... else {}
    for name, stage in run.stages.items():
        entry = entries.get(name)
        if entry is None:
            continue

        def rel(path: str, wdir: str = entry.get("wdir", ".")) -> str:
            return posixpath.normpath(posixpath.join(wdir, path))

        stage.lock = {
            "cmd": entry.get("cmd", ""),
            "deps": {rel(d["path"]): d for d in entry.get("deps") or []},
            "outs": {rel(o["path"]): o for o in entry.get("outs") or []},
            "params": {rel(file): values or {} for file, values in (entry.get("params") or {}).items()},
        }


def _writers(run: Run) -> list[str]:
    """The stages that wrote the run's headline metrics files, each file checked against dvc.lock's md5."""
    names = []
    for path in headline_files(run.repo, run.commit):
        stage = next((s for s in run.stages.values() if path in s.outs), None)
        if stage is None:
            raise FashionError(
                f"{run.rev}: {path} is written by no stage of dvc.yaml: no run made it; no noise band "
                "(give it a stage, or move it out of metrics/)"
            )
        if stage.lock is None or path not in stage.lock["outs"]:
            raise FashionError(f"{run.rev}: stage {stage.name} is not in dvc.lock: {path} was {STALE}")
        recorded = stage.lock["outs"][path]
        if recorded.get("md5") not in _md5s(run.blob(path), recorded):
            raise FashionError(
                f"{run.rev}: {path} is not what stage {stage.name} wrote (dvc.lock md5 {recorded.get('md5')}): "
                f"edited by hand or {STALE}"
            )
        names.append(stage.name)
    return names


def _upstream(run: Run, names: list[str]) -> list[str]:
    """`names` and every stage that writes something they read, in dvc.yaml's order."""
    wanted, todo = set(names), list(names)
    while todo:
        for dep in run.stages[todo.pop()].deps:
            for other in run.stages.values():
                if other.name not in wanted and any(_overlap(dep, out) for out in other.outs):
                    wanted.add(other.name)
                    todo.append(other.name)
    return [name for name in run.stages if name in wanted]


def _check_current(run: Run, names: list[str]) -> None:
    """Refuse a run whose committed code, data or params are not those dvc.lock says made its metrics."""
    for name in names:
        stage = run.stages[name]
        if stage.lock is None:
            raise FashionError(f"{run.rev}: stage {name} is not in dvc.lock: the metrics it feeds were {STALE}")
        for path, entry in stage.lock["deps"].items():
            data = run.blob(path)
            if data is not None and entry.get("md5") not in _md5s(data, entry):
                raise FashionError(f"{run.rev}: stage {name}: dep {path} changed after the run, so it was {STALE}")
        for file, values in stage.lock["params"].items():
            committed = run.load(file)
            if committed is None:
                continue
            for key, used in values.items():
                now = ... if committed is ... else _lookup(committed, key)
                if now != used:
                    raise FashionError(
                        f"{run.rev}: stage {name}: {file} key {key} is {_show(now)} but dvc.lock ran it with "
                        f"{_show(used)}, so it was {STALE}"
                    )


def _budget_of(run: Run, stage: Stage) -> dict:
    """What the stage's numbers may depend on besides the seed: params, the deps no stage writes, the command."""
    params = {}
    for file, values in stage.lock["params"].items():
        prefix = "" if file == PARAMS_FILE else f"{file}:"
        params.update({f"param {prefix}{k}": v for k, v in _budget(values).items()})
    deps = {
        f"dep {path}": entry.get("md5")
        for path, entry in stage.lock["deps"].items()
        if path not in run.params_files() and not run.generated(path)
    }
    cmd = stage.lock["cmd"]
    if run.seed is not None:  # a seed passed on the command line (`--seed ${seed}`) is the seed
        cmd = re.sub(rf"(?<![\w.]){re.escape(str(run.seed))}(?![\w.])", "<seed>", str(cmd))
    return {**params, **deps, "command": cmd}


def _compare(first: Run, run: Run, names: list[str]) -> None:
    """Refuse `run` where a stage in `names` had other params, non-generated deps or command than in `first`."""
    for name in names:
        ours, theirs = _budget_of(run, run.stages[name]), _budget_of(first, first.stages[name])
        what = _first_difference(ours, theirs)
        if what is None:
            continue
        if what.startswith("dep "):
            shown = f"md5 {ours.get(what, 'missing')}, {first.rev}'s {theirs.get(what, 'missing')}"
        elif what == "command":
            shown = f"{ours[what]!r}, {first.rev}'s {theirs[what]!r}"
        else:
            shown = f"{_show(ours.get(what, ...))}, {first.rev}'s {_show(theirs.get(what, ...))}"
        raise FashionError(f"{run.rev}: stage {name}: {what} is {shown}: {REFUSED}")


def _check_metrics(runs: list[Run]) -> None:
    """Refuse NaN or infinite metrics, and a metric one run has and another lacks."""
    for run in runs:
        for key, value in run.metrics.items():
            if not math.isfinite(value):
                raise FashionError(f"{run.rev}: {key} is {value}: a run that did not score gives no noise band")
    for key in sorted(set().union(*(run.metrics for run in runs))):
        has = next(run for run in runs if key in run.metrics)
        for run in runs:
            if key not in run.metrics:
                path = key.split(":", 1)[0]
                missing = key if path in headline_files(run.repo, run.commit) else path
                raise FashionError(
                    f"{run.rev}: {missing} is missing ({has.rev} has it): "
                    "the runs must report the same metrics; no noise band"
                )


def measure(repo: Path, revs: list[str]) -> dict:
    """The band from runs `revs`, which must have been made by the same code, data and params but the seed."""
    if len(revs) < 2:
        raise FashionError("a noise band needs at least two runs (revisions or experiment names)")
    runs = [_load(repo, rev) for rev in revs]
    checked = []
    for run in runs:
        names = _upstream(run, _writers(run))
        _check_current(run, names)
        checked.append(names)
    first = runs[0]
    for run, names in zip(runs[1:], checked[1:]):
        extra = [n for n in names if n not in checked[0]] + [n for n in checked[0] if n not in names]
        if extra:
            who, other = (run, first) if extra[0] in names else (first, run)
            raise FashionError(f"{who.rev}: stage {extra[0]} made its metrics, but not {other.rev}'s: {REFUSED}")
        _compare(first, run, names)
        ours, theirs = _budget(run.params), _budget(first.params)
        key = _first_difference(ours, theirs)
        if key is not None:
            shown = f"{_show(ours.get(key, ...))}, {first.rev}'s {_show(theirs.get(key, ...))}"
            raise FashionError(f"{run.rev}: {PARAMS_FILE} key {key} is {shown}: {REFUSED}")
    cpus = [sorted(machines.kinds_at(repo, run.commit)) for run in runs]
    made = [(str(run.seed), tuple(cpu)) for run, cpu in zip(runs, cpus)]
    if len(set(made)) != len(made):
        seeds = [run.seed for run in runs]
        raise FashionError(f"the runs must have different seeds (or have run on other CPU kinds), got {seeds}")
    _check_metrics(runs)
    keys = sorted(first.metrics)
    band = {key: round(max(r.metrics[key] for r in runs) - min(r.metrics[key] for r in runs), 6) for key in keys}
    return {
        "runs": [{"rev": run.rev, "commit": run.commit, "seed": run.seed, "cpu": cpu} for run, cpu in zip(runs, cpus)],
        "cpu_kinds": sorted({k for cpu in cpus for k in cpu}),
        "budget_digest": budget_digest(first.params),
        "statistic": "range (max - min) across the runs",
        "stages": checked[0],
        "band": band,
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
    p.add_argument(
        "revs", nargs="+", help="runs differing only in seed or CPU kind: git revisions or DVC experiment names"
    )
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
    write_text((repo / args.out).with_suffix(".md"), band_table.markdown(result))  # the table the docs include
    wide = sorted(result["band"].items(), key=lambda kv: -kv[1])[:5]
    print(f"{args.out}: band of {len(result['band'])} metrics from {len(args.revs)} runs; widest: {wide}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
