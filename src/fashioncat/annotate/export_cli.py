"""`python -m fashioncat export`: add SavedModel and TFLite (float32, int8) to a bundle folder by hand.

The bundle stage does this itself (calibrated on the training split, measured on the test
split). This command is for a bundle made elsewhere, or calibration on your own images:
`--images` takes a folder, .txt or .csv as `annotate` does, prepared as `annotate` prepares
them. Kept apart from `export` so the bundle stage does not depend on the annotate command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fashioncat.errors import FashionError


def given_images(source: str | Path, settings, n: int, seed: int = 0) -> np.ndarray:
    """Up to `n` of the images a folder, .txt or .csv names (evenly drawn, seeded), prepared as `annotate` does."""
    from fashioncat.annotate import predict
    from fashioncat.annotate.inputs import gather

    items, _ = gather(source)
    chosen = sorted(np.random.default_rng(seed).permutation(len(items))[:n])
    return np.stack([predict.pixels(items[i].file, items[i].box, settings) for i in chosen])


def add_command(subparsers) -> None:
    from fashioncat.annotate.cli import DEFAULT_MODEL

    p = subparsers.add_parser(
        "export",
        help="add SavedModel and TFLite (float32, int8) to a bundle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="FOLDER", help=f"bundle folder (default {DEFAULT_MODEL})")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--split", help="a split folder (data/split/source): train.csv calibrates, test.csv measures")
    source.add_argument("--images", help="a folder, .txt or .csv of images to calibrate int8 on (no agreement)")
    p.add_argument("--representative", type=int, default=200, help="calibration images (default 200)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.representative < 1:
            raise FashionError("--representative must be at least 1")
        from fashioncat.annotate import bundle, export  # TensorFlow: once the arguments are known to be usable

        if args.images:
            _, settings = bundle.load(args.model)
            calibration = given_images(args.images, settings, args.representative)
            report = export.add_to_bundle(args.model, calibration=calibration, source=str(args.images))
        else:
            report = export.add_to_bundle(args.model, args.split, representative=args.representative)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0
