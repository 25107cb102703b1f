"""Scoring speed: `training.probabilities` at its own batch (`predict_batch`) against batch 64 (goal: >= 1.2x).

    python bench/predict_batch.py [--arch resnet50v2] [--size 32] [--images 3000] [--rounds 7] [--results FILE]

Every trial, Table 1 model and final model is scored by predicting the validation split;
at 32 px that is 3,000 images, and a trial's scoring used to take about a quarter of
its time. Both sides predict the same random uint8 images with the same freshly built
model (the default run's `train.hyper`), in interleaved rounds after one warm-up each
(the first predict traces the graph). The figure is the per-round ratio of images per
second, ours over batch 64, judged as in benchstats.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchstats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.2
REFERENCE_BATCH = 64


def main() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet50v2")
    p.add_argument("--size", type=int, default=params["train"]["image_size"])
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=7, help="timed predictions per side (after one warm-up each)")
    p.add_argument("--results", help="append the table row to this JSON-lines file (make bench)")
    args = p.parse_args()

    import numpy as np

    from fashioncat.config import Hyper
    from fashioncat.model import models, training

    images = np.random.default_rng(0).integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    model = models.build(args.arch, 10, args.size, Hyper(**params["train"]["hyper"]))
    ours = training.predict_batch(args.size)
    sides = {
        f"batch {REFERENCE_BATCH}": benchstats.timed(lambda: training.probabilities(model, images, REFERENCE_BATCH)),
        f"batch {ours}": benchstats.timed(lambda: training.probabilities(model, images)),
    }
    times = benchstats.rounds(sides, args.rounds)
    speedup = benchstats.spread(benchstats.ratios(times[f"batch {REFERENCE_BATCH}"], times[f"batch {ours}"]))
    verdict = benchstats.verdict(speedup, GOAL, at_least=True)
    print(f"prediction: {args.arch} at {args.size}x{args.size}, {args.images} images, {benchstats.machine()}")
    for name, t in times.items():
        rates = [args.images / s for s in t]
        s = benchstats.spread(rates)
        each = " ".join(f"{r:.0f}" for r in rates)
        print(f"  {name:<9}: median {s.median:6.1f} images/s (IQR {s.q1:.1f}-{s.q3:.1f}); rounds in order: {each}")
    print(f"  speed-up : {benchstats.describe(speedup)}")
    print(f"  goal >= {GOAL}x: {verdict}")
    benchstats.record(
        args.results,
        benchmark=f"scoring: predict at batch {ours} vs {REFERENCE_BATCH} ({args.arch}, {args.size} px, "
        f"{args.images} images)",
        figure=benchstats.describe(speedup),
        goal=f">= {GOAL}x",
        verdict=verdict,
    )


if __name__ == "__main__":
    main()
