"""`python -m fashioncat COMMAND`: annotate with the trained model, serve it to Label Studio, pick the
next batch to review, export it as SavedModel and TFLite, apply a params profile, import label
corrections, or run independent stages at the same time.

The pipeline itself runs with `dvc repro`.
"""

from __future__ import annotations

import argparse
import sys

from fashioncat import parallel, profile
from fashioncat.annotate import cli, export_cli, next_batch, review_import, serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fashioncat", description=__doc__)
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli.add_command(commands)
    serve.add_command(commands)
    next_batch.add_command(commands)
    export_cli.add_command(commands)
    profile.add_command(commands)
    parallel.add_command(commands)
    review_import.add_command(commands)
    args = p.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
