"""What every stage entry point shares: arguments, config, one-line errors."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from fashioncat import config
from fashioncat.errors import FashionError
from fashioncat.io import write_json


def parser(description: str, *, dataset: bool = False) -> argparse.ArgumentParser:
    """Arguments every stage takes; `dataset` adds those of the stages expanded over datasets."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    p.add_argument("--metrics", required=True, help="where the stage's report (JSON) goes")
    if dataset:
        p.add_argument("--dataset", required=True, help="a key of `datasets` in params.yaml")
        p.add_argument("--out", required=True, help="the stage's output folder")
    return p


def run(main: Callable[[argparse.Namespace, config.Config], dict | None], p: argparse.ArgumentParser) -> None:
    """Parse arguments, load the validated config, call `main`; user errors become one line and exit 2.

    When `main` returns a report, it is written to `--metrics` with the stage's
    wall time added, so `dvc metrics show` tells where the time goes.
    """
    args = p.parse_args()
    started = time.perf_counter()
    try:
        report = main(args, config.load(args.params))
        if report is not None:
            write_json(args.metrics, {**report, "stage_seconds": round(time.perf_counter() - started, 1)})
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: nothing partial was kept", file=sys.stderr)
        sys.exit(130)
