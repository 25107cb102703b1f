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
Each command runs as DVC runs it: from its stage's folder (the repository root, wherever
the command is started from), its non-persistent outputs removed first, `DVC_STAGE` set. A
stage that fails is reported with its exit status and log and is not committed; the others
are; the command then exits 1. A failing `dvc commit` is one line, exit 1. SIGTERM, SIGINT
or SIGHUP is passed on to every running stage (all of its processes), which get
`GRACE_S` seconds to end before they are killed; nothing is committed, and the command
exits 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fashioncat.errors import FashionError

LOGS = Path(".dvc/tmp/parallel")  # one log per stage, beside DVC's own temporary files (relative to the root)
GRACE_S = 10.0  # after a forwarded signal, how long running stages get before they are killed
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass
class Job:
    name: str
    cmd: str
    outs: list[str]  # absolute paths
    wdir: str | None = None  # where the command runs (the stage's folder); None: here
    device: str | None = None
    process: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float = 0.0
    status: int | None = None

    @property
    def log(self) -> Path:
        return LOGS / f"{self.name.replace('/', '_').replace(':', '_')}.log"


class Stopped(Exception):
    """A stop signal arrived: the running stages were passed it (then killed); nothing was committed."""

    def __init__(self, signum: int, stopped: list[str]):
        super().__init__(signum, stopped)
        self.signum, self.stopped = signum, stopped


def repo_root() -> Path:
    """The DVC repository around the current folder; a FashionError outside one."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        return Path(Repo.find_root())
    except NotDvcRepoError:
        raise FashionError(f"{Path.cwd()}: not inside a DVC repository") from None


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
        Job(name, _command(stage), [str(o.fs_path) for o in stage.outs if not o.persist], str(stage.wdir))
        for name, stage in stages.items()
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
    """Runs the jobs, at most `slots` at once, each on the next free device; returns them finished.

    Raises Stopped, once the running jobs have ended, when a stop signal arrives.
    """
    if slots < 1:
        raise FashionError(f"--jobs must be at least 1, not {slots}")
    LOGS.mkdir(parents=True, exist_ok=True)
    free, waiting, running = list(devices) or [None] * slots, list(jobs), []
    stop: list[int] = []
    with _caught(stop):
        _loop(free, waiting, running, slots, stop, log)
        if stop:
            _terminate(running, stop[0], log)
            raise Stopped(stop[0], [job.name for job in running])
    return jobs


def _loop(free: list, waiting: list[Job], running: list[Job], slots: int, stop: list[int], log) -> None:
    while (waiting or running) and not stop:
        while waiting and free and len(running) < slots and not stop:
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


@contextlib.contextmanager
def _caught(stop: list[int]) -> Iterator[None]:
    """While inside, a stop signal is only noted in `stop`: the loop then ends the stages itself."""
    import threading

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {signum: signal.signal(signum, lambda signum, frame: stop.append(signum)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _terminate(running: list[Job], signum: int, log) -> None:
    """Pass `signum` to every process of each running job; kill those still there after GRACE_S."""
    names = ", ".join(job.name for job in running) or "none"
    log(f"{signal.Signals(signum).name}: stopping the running stages ({names})")
    for job in running:
        _signal_group(job.process, signum)
    until = time.monotonic() + GRACE_S
    for job in running:
        try:
            job.process.wait(timeout=max(0.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(job.process, signal.SIGKILL)
            job.process.wait()
        job.status, job.seconds = job.process.returncode, time.perf_counter() - job.started


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)  # the job's own process group: the shell and what it started
    except ProcessLookupError:  # already gone
        pass


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
        # a session of its own: a stop signal reaches every process of the stage, and only through us
        job.process = subprocess.Popen(
            job.cmd,
            shell=True,
            env=env,
            cwd=job.wdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def commit(jobs: list[Job]) -> None:
    """`dvc commit` of the stages that succeeded: their outputs into the cache, their lock entries written."""
    done = [j.name for j in jobs if j.status == 0]
    if not done:
        return
    result = subprocess.run([sys.executable, "-m", "dvc", "commit", "--force", *done], capture_output=True, text=True)
    if result.returncode != 0:
        said = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        why = said[-1].removeprefix("ERROR: ") if said else "no message"
        raise FashionError(
            f"dvc commit {' '.join(done)} failed (exit {result.returncode}): {why}; "
            "their outputs are in the workspace but not in dvc.lock"
        )


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
    p.add_argument(
        "--jobs", type=int, default=None, help="stages at once, at least 1 (default: one per device, else 1)"
    )
    p.set_defaults(handler=_run)


def _run(args) -> int:
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if args.jobs is not None and args.jobs < 1:
        print(f"error: --jobs must be at least 1, not {args.jobs}", file=sys.stderr)
        return 2
    slots = args.jobs or len(devices) or 1
    if devices and slots > len(devices):
        print(f"error: --jobs {slots} needs as many --devices (got {len(devices)})", file=sys.stderr)
        return 2
    try:
        os.chdir(repo_root())  # stage names, outputs and logs as from the root, as `dvc repro` reads them
        jobs = jobs_for(args.stages)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        finished = run(jobs, devices, slots)
    except Stopped as stopped:
        name = signal.Signals(stopped.signum).name
        print(
            f"error: stopped by {name}: ended the running stages ({', '.join(stopped.stopped) or 'none'}); "
            "nothing was committed",
            file=sys.stderr,
        )
        return 128 + stopped.signum
    try:
        commit(finished)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if any(j.status != 0 for j in finished):
            print(failures(finished), file=sys.stderr)
        return 1
    ok = [j.name for j in finished if j.status == 0]
    if ok:
        print(f"committed to dvc.lock: {', '.join(ok)}")
    if len(ok) < len(finished):
        print(failures(finished), file=sys.stderr)
        return 1
    return 0
