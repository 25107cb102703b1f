"""`python -m fashioncat parallel STAGE...`: independent stages at the same time, one device each.

`dvc repro` runs one stage at a time, and `dvc queue` runs whole experiments in workers
whose failures are easy to miss. Stages that do not depend on one another -- the three
`train@<architecture>` of Table 1, or `finetune@last_layer`, `@whole_model` and `@scratch`
-- can instead run their own commands at once, each process seeing one GPU through
CUDA_VISIBLE_DEVICES, after which `dvc commit` records their outputs in dvc.lock and the
cache as `dvc repro` would have. A later `dvc repro` then finds them up to date.

Before anything runs it checks, and refuses in one line otherwise, that every name is a
stage, that none of them depends on another, and that everything upstream of them is up
to date (a stage run on stale inputs would be committed against inputs DVC never saw).
Each command runs as DVC runs it: from the repository root, its non-persistent outputs
removed first, `DVC_STAGE` set. A stage that fails is reported with its exit status and log
and is not committed; the others are; the command then exits 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fashioncat.errors import FashionError

LOGS = Path(".dvc/tmp/parallel")  # one log per stage, beside DVC's own temporary files


@dataclass
class Job:
    name: str
    cmd: str
    outs: list[str]
    device: str | None = None
    process: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float = 0.0
    status: int | None = None

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name.replace('/', '_').replace(':', '_')}.log"


def jobs_for(names: list[str]) -> list[Job]:
    """The named stages as jobs, after the checks in the module docstring."""
    from dvc.repo import Repo

    repo = Repo()
    if len(set(names)) != len(names):
        raise FashionError("a stage is named twice")
    stages = {name: _stage(repo, name) for name in names}
    _independent(repo, stages)
    _upstream_current(repo, names)
    return [
        Job(name, _command(stage), [o.def_path for o in stage.outs if not o.persist]) for name, stage in stages.items()
    ]


def _stage(repo, name: str):
    try:
        found = list(repo.stage.collect(name))
    except Exception as exc:  # DVC's own error types differ between "no such stage" cases
        raise FashionError(f"{name}: not a stage of dvc.yaml ({exc})") from None
    if len(found) != 1:
        raise FashionError(f"{name}: names {len(found)} stages; give single stages such as train@vgg16")
    return found[0]


def _command(stage) -> str:
    cmd = stage.cmd
    return " && ".join(cmd) if isinstance(cmd, list) else cmd


def _independent(repo, stages: dict) -> None:
    import networkx as nx

    graph = repo.index.graph  # an edge A -> B: stage A depends on stage B
    for a, stage_a in stages.items():
        for b, stage_b in stages.items():
            if a != b and nx.has_path(graph, stage_a, stage_b):
                raise FashionError(f"{a} depends on {b}: run them one after the other (dvc repro {a})")


def _upstream_current(repo, names: list[str]) -> None:
    stale = {key.rpartition(":")[2] for key in repo.status(targets=names, with_deps=True)}
    behind = sorted(stale - set(names))
    if behind:
        raise FashionError(
            f"stages upstream are not up to date: {', '.join(behind)}; run `dvc repro {behind[-1]}` first "
            "(the parallel run would otherwise be committed against inputs DVC never saw)"
        )


def run(jobs: list[Job], devices: list[str], slots: int, log=print) -> list[Job]:
    """Runs the jobs, at most `slots` at once, each on the next free device; returns them finished."""
    LOGS.mkdir(parents=True, exist_ok=True)
    free, waiting, running = list(devices) or [None] * slots, list(jobs), []
    while waiting or running:
        while waiting and free and len(running) < slots:
            job = waiting.pop(0)
            job.device = free.pop(0)
            _start(job)
            running.append(job)
            where = f" on device {job.device}" if job.device is not None else ""
            log(f"started {job.name}{where} (log: {job.log})")
        time.sleep(0.2)
        for job in [j for j in running if j.process.poll() is not None]:
            running.remove(job)
            free.append(job.device)
            job.status, job.seconds = job.process.returncode, time.perf_counter() - job.started
            verdict = "done" if job.status == 0 else f"FAILED (exit {job.status})"
            log(f"{job.name}: {verdict} in {job.seconds:.0f} s")
    return jobs


def _start(job: Job) -> None:
    for out in job.outs:
        path = Path(out)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    env = {**os.environ, "DVC_STAGE": job.name}
    if job.device is not None:
        env["CUDA_VISIBLE_DEVICES"] = job.device
    job.started = time.perf_counter()
    with open(job.log, "w") as out:  # the child keeps its own copy of the descriptor
        job.process = subprocess.Popen(job.cmd, shell=True, env=env, stdout=out, stderr=subprocess.STDOUT)


def commit(jobs: list[Job]) -> None:
    """`dvc commit` of the stages that succeeded: their outputs into the cache, their lock entries written."""
    done = [j.name for j in jobs if j.status == 0]
    if done:
        subprocess.run([sys.executable, "-m", "dvc", "commit", "--force", "--quiet", *done], check=True)


def failures(jobs: list[Job], tail: int = 15) -> str:
    """What failed, with the end of each failed stage's log."""
    parts = []
    for job in (j for j in jobs if j.status != 0):
        lines = job.log.read_text(errors="replace").splitlines()[-tail:] if job.log.is_file() else []
        parts.append(f"{job.name} failed (exit {job.status}); {job.log} ends:\n" + "\n".join(f"  {x}" for x in lines))
    return "\n".join(parts)


def add_command(subparsers) -> None:
    p = subparsers.add_parser("parallel", help="run independent DVC stages at the same time, one device each")
    p.add_argument("stages", nargs="+", help="stage names, e.g. train@vgg16 train@resnet50 train@resnet50v2")
    p.add_argument(
        "--devices",
        default="",
        help="comma-separated GPU ids, one per running stage (CUDA_VISIBLE_DEVICES), e.g. 0,1,2",
    )
    p.add_argument("--jobs", type=int, default=0, help="stages at once (default: one per device, else 1)")
    p.set_defaults(handler=_run)


def _run(args) -> int:
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    slots = args.jobs or len(devices) or 1
    if devices and slots > len(devices):
        print(f"error: --jobs {slots} needs as many --devices (got {len(devices)})", file=sys.stderr)
        return 2
    try:
        jobs = jobs_for(args.stages)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finished = run(jobs, devices, slots)
    commit(finished)
    ok = [j.name for j in finished if j.status == 0]
    if ok:
        print(f"committed to dvc.lock: {', '.join(ok)}")
    if len(ok) < len(finished):
        print(failures(finished), file=sys.stderr)
        return 1
    return 0
