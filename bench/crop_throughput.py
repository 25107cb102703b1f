"""Crop-stage throughput: `crop_all` on 2 cores against a plain PIL loop in one process (goal: >= 1.8x).

    python bench/crop_throughput.py [--images 600] [--size 32] [--rounds 7] [--results FILE]

Writes DeepFashion-sized JPEGs (300x400) to a temporary folder, then times the same
work (open, RGB, crop to the box, resize, write a PNG) four ways, in interleaved
rounds after a warm-up round (see benchstats.py):

  plain     a bare PIL loop in this process: the reference of the goal;
  plain x2  the same loop split over 2 processes: what the machine gives two processes
            of the bare work, i.e. the ceiling of any 2-process crop;
  ours x1   crop_all with 1 worker: the stage's work per image on one core (it also
            applies EXIF orientation, checks the box, digests the original pixels for
            duplicate detection and handles errors per image);
  ours x2   crop_all with 2 workers: the figure the goal is about.

`ours x2 / plain` can reach at most about `ours x1 / plain` (the extra work per
image) times `plain x2 / plain` (the machine's 2-process scaling). The benchmark
prints that product beside the goal, and `--profile` splits one image's time into
its steps, so a missed goal shows what bounds it. `--size` defaults to `crop.size`
in params.yaml (the paper's 224 is `--size 224`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import benchstats  # noqa: E402
import fixtures  # noqa: E402

from fashioncat.data.crop import crop_all  # noqa: E402
from fashioncat.data.images import checked_box, fit, open_rgb, pixel_digest, png_bytes  # noqa: E402
from fashioncat.data.records import Record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.8
BOX = (40, 50, 260, 380)


def make_images(folder: Path, count: int) -> list[Record]:
    records = []
    for i in range(count):
        name = f"img/{i:06d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        fixtures.garment(i, size=(300, 400)).save(folder / name, quality=90)
        records.append(Record(name, "x", f"bench:{i}", BOX))
    return records


def plain_loop(sources: list[str], out: str, size: int, start: int = 0) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    for i, source in enumerate(sources, start):
        with Image.open(source) as img:
            img.convert("RGB").crop(BOX).resize((size, size), Image.BICUBIC).save(f"{out}/{i}.png", compress_level=1)


def plain_loop_2(sources: list[str], out: str, size: int) -> None:
    half = len(sources) // 2
    with ProcessPoolExecutor(max_workers=2) as pool:
        done = [
            pool.submit(plain_loop, part, out, size, start)
            for part, start in ((sources[:half], 0), (sources[half:], half))
        ]
        for future in done:
            future.result()


def profile(sources: list[str], size: int) -> dict[str, float]:
    """Milliseconds per image for each step of the stage's work, in one process."""
    steps = dict.fromkeys(["decode + EXIF + RGB", "pixel digest", "crop + resize", "PNG encode", "PNG digest"], 0.0)
    for source in sources:
        t0 = time.perf_counter()
        img = open_rgb(source)
        t1 = time.perf_counter()
        pixel_digest(img)
        t2 = time.perf_counter()
        small = fit(img.crop(checked_box(BOX, img.size, 0.0)), size, "stretch")
        t3 = time.perf_counter()
        png = png_bytes(small)
        t4 = time.perf_counter()
        hashlib.sha1(png).hexdigest()
        t5 = time.perf_counter()
        for key, seconds in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            steps[key] += seconds * 1000 / len(sources)
    return steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=600)
    p.add_argument("--size", type=int, default=yaml.safe_load((ROOT / "params.yaml").read_text())["crop"]["size"])
    p.add_argument("--rounds", type=int, default=7, help="timed rounds (after one warm-up round)")
    p.add_argument("--profile", action="store_true", help="also split one image's time into its steps")
    p.add_argument("--results", help="append the table row to this JSON-lines file (make bench)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        records = make_images(root, args.images)
        sources = [str(root / r.image) for r in records]

        def ours(workers: int) -> None:
            crop_all(
                records,
                root,
                root / f"ours{workers}",
                margin=0.0,
                size=args.size,
                fit="stretch",
                workers=workers,
                image_prefix="bench",
            )

        sides = {
            "plain": benchstats.timed(lambda: plain_loop(sources, str(root / "plain"), args.size)),
            "ours x2": benchstats.timed(lambda: ours(2)),
            "plain x2": benchstats.timed(lambda: plain_loop_2(sources, str(root / "plain2"), args.size)),
            "ours x1": benchstats.timed(lambda: ours(1)),
        }
        times = benchstats.rounds(sides, args.rounds)
        steps = profile(sources, args.size) if args.profile else {}
    n = args.images
    speedup = {name: benchstats.spread(benchstats.ratios(times["plain"], t)) for name, t in times.items()}
    ceiling = benchstats.spread(
        [
            a * b
            for a, b in zip(
                benchstats.ratios(times["plain"], times["ours x1"]),
                benchstats.ratios(times["plain"], times["plain x2"]),
            )
        ]
    )
    goal = speedup["ours x2"]
    verdict = benchstats.verdict(goal, GOAL, at_least=True)
    print(f"crop benchmark: {n} JPEGs 300x400 -> {args.size}x{args.size} PNG, {benchstats.machine()}")
    for name, t in times.items():
        rate = benchstats.spread([n / s for s in t])
        versus = benchstats.describe(speedup[name])
        print(f"  {name:<8}: {rate.median:7.1f} images/s (IQR {rate.q1:.1f}-{rate.q3:.1f}); vs plain {versus}")
    print(f"  ceiling ours x1/plain * plain x2/plain: {benchstats.describe(ceiling)}")
    print(f"  goal ours x2 >= {GOAL}x plain: {verdict}")
    for step, ms in steps.items():
        print(f"  profile, one process: {step:<20} {ms:6.2f} ms/image")
    benchstats.record(
        args.results,
        benchmark=f"crop: crop_all on 2 workers vs a plain PIL loop ({n} JPEGs 300x400 -> {args.size} px)",
        figure=benchstats.describe(goal) + f"; 2-process ceiling {ceiling.median:.2f}x",
        goal=f">= {GOAL}x",
        verdict=verdict,
    )


if __name__ == "__main__":
    main()
