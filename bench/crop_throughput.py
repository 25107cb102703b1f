"""Crop-stage throughput: our crop_all on 1 and 2 cores against a plain PIL loop.

    python bench/crop_throughput.py [--images 1500] [--size 224]

Writes DeepFashion-sized JPEGs (long side 300) to a temporary folder, then
times the same work three ways: open, RGB, crop to the box, resize, write PNG.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fixtures  # noqa: E402

from fashioncat.data.crop import crop_all  # noqa: E402
from fashioncat.data.records import Record  # noqa: E402
from fashioncat.io import usable_cores  # noqa: E402


def make_images(folder: Path, count: int) -> list[Record]:
    records = []
    for i in range(count):
        name = f"img/{i:06d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        fixtures.garment(i, size=(300, 400)).save(folder / name, quality=90)
        records.append(Record(name, "x", f"bench:{i}", (40, 50, 260, 380)))
    return records


def plain_loop(records: list[Record], root: Path, out: Path, size: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, record in enumerate(records):
        with Image.open(root / record.image) as img:
            img.convert("RGB").crop(record.box).resize((size, size), Image.BICUBIC).save(
                out / f"{i}.png", compress_level=1
            )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1500)
    p.add_argument("--size", type=int, default=224)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        records = make_images(root, args.images)
        n = len(records)
        baseline = n / timed(lambda: plain_loop(records, root, root / "plain", args.size))
        ours = {}
        for workers in (1, 2):
            ours[workers] = n / timed(
                lambda w=workers: crop_all(
                    records,
                    root,
                    root / f"ours{w}",
                    margin=0.0,
                    size=args.size,
                    fit="stretch",
                    workers=w,
                    image_prefix="bench",
                )
            )
    print(f"crop benchmark: {n} JPEGs 300x400 -> {args.size}x{args.size} PNG, {usable_cores()} cores available")
    print(f"  plain PIL loop, 1 process : {baseline:7.1f} images/s")
    for workers, rate in ours.items():
        print(f"  crop_all, {workers} worker(s)     : {rate:7.1f} images/s  ({rate / baseline:.2f}x the plain loop)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
