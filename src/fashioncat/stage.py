"""What every stage entry point shares: arguments, config, one-line errors."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from fashioncat import config
from fashioncat.declared import Declared
from fashioncat.errors import FashionError
from fashioncat.io import DISK_FULL, usable_cores, write_json


def parser(description: str, *, dataset: bool = False, metrics: bool = True) -> argparse.ArgumentParser:
    """Arguments every stage takes; `dataset` adds those of the stages expanded over datasets.

    A stage with a report writes all of it to `--details` (a plain output the report
    and plots read) and, when `--metrics` is given, its headline figures there: the
    few numbers a person compares between runs, which dvc.yaml declares as metrics.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    if metrics:
        p.add_argument("--details", required=True, help="where the stage's whole report (JSON) goes")
        p.add_argument("--metrics", help="where its headline figures (JSON, a DVC metrics file) go")
    if dataset:
        p.add_argument("--dataset", required=True, help="a key of `datasets` in params.yaml")
        p.add_argument("--out", required=True, help="the stage's output folder")
    return p


Headline = Sequence[str] | Callable[[argparse.Namespace], Sequence[str]]


def run(
    main: Callable[[argparse.Namespace, config.Config], dict | None],
    p: argparse.ArgumentParser,
    headline: Headline = (),
) -> None:
    """Parse arguments, load the validated config, call `main`; user errors become one line and exit 2.

    When `main` returns a report, it goes to `--details` with the stage's wall time and
    the machine it ran on added (timings compare only within one CPU kind), and the
    report's `headline` keys (dotted paths; `*` matches any key at its level; or a
    function of the arguments giving them) go to `--metrics`.
    """
    args = p.parse_args()
    started = time.perf_counter()
    try:
        report = main(args, _config_for_this_stage(args.params))
        if report is not None:
            report = {**report, "stage_seconds": round(time.perf_counter() - started, 1), "machine": machine()}
            write_json(args.details, report)
            if args.metrics:
                write_json(args.metrics, headline_of(report, headline(args) if callable(headline) else headline))
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        # written outside the atomic writers (Keras, DVCLive): their own files may be partial,
        # but the stage fails, so DVC caches none of its outputs
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"error: {where}cannot write: {exc.strerror}; the stage stopped, so DVC keeps none of its outputs "
            f"(free space and rerun)",
            file=sys.stderr,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: nothing partial was kept", file=sys.stderr)
        sys.exit(130)


def machine() -> str:
    """The CPU model and the cores this process may use, e.g. 'AMD EPYC (family 25, model 1), 2 cores'."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if not sep:
                break  # the end of the first processor's block
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return f"{name}, {usable_cores()} cores"


def headline_of(report: dict, keys: Sequence[str]) -> dict:
    """The part of `report` that `keys` name, nested as in the report; a key it lacks is a bug, so it raises."""
    out: dict = {}
    for key in keys:
        for path, value in _matches(report, key.split(".")):
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
    return out


def _matches(node, parts: list[str], path: tuple = ()):
    if not parts:
        yield path, node
        return
    head, rest = parts[0], parts[1:]
    if not isinstance(node, dict) or (head != "*" and head not in node):
        raise KeyError(f"headline key {'.'.join((*path, head))} is not in the stage's report")
    for name in node if head == "*" else [head]:
        yield from _matches(node[name], rest, (*path, name))


def _config_for_this_stage(params: str):
    """The whole validated config; under `dvc repro`, a view that lets the stage read only its declared keys.

    DVC names the running stage in $DVC_STAGE. A stage that reads a key its dvc.yaml
    entry does not declare would keep stale outputs when that key changes; the view
    turns such a read into an error the first time the stage runs.
    """
    cfg = config.load(params)
    name = os.environ.get("DVC_STAGE")
    if not name or not Path("dvc.yaml").is_file():
        return cfg
    return Declared(cfg, declared_params(name), name)


def declared_params(name: str, pipeline: str | Path = "dvc.yaml") -> list[str]:
    """The params keys that stage `name` (e.g. `train@vgg16`) declares in `pipeline`, with foreach resolved."""
    base, _, key = name.rpartition(":")[2].partition("@")
    stages = yaml.safe_load(Path(pipeline).read_text(encoding="utf-8"))["stages"]
    stage = stages[base]
    body = stage.get("do", stage)
    keys = []
    for entry in body.get("params", []):
        names = [entry] if isinstance(entry, str) else [k for v in entry.values() for k in v]
        keys += [n.replace("${key}", key).replace("${item}", key) for n in names]
    return keys
