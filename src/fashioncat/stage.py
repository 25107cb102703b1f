"""What every stage entry point shares: arguments, config, one-line errors."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from . import config
from .errors import FashionError


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    return p


def run(main: Callable[[argparse.Namespace, config.Config], None], p: argparse.ArgumentParser) -> None:
    """Parse arguments, load the validated config, call `main`; user errors become one line and exit 2."""
    args = p.parse_args()
    try:
        main(args, config.load(args.params))
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: nothing partial was kept", file=sys.stderr)
        sys.exit(130)
