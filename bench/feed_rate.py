"""Input pipeline alone: how many augmented training images per second it can hand a GPU, no model.

    python bench/feed_rate.py [--size 224] [--images 1024] [--batch 32] [--rounds 5] [--no-augment] [--results FILE]

A GPU is starved when the input pipeline delivers fewer images per second than the GPU
trains. This times the train stage's own dataset (`TrainBatches.epochs`: seeded shuffle,
the paper's best augmentation -- rotation 10, shear 0.2, zoom 0.05, horizontal flip --
applied per batch with stateless random ops, `map` with a parallel call per core, prefetch)
at `--size` px on synthetic uint8 images already decoded in memory (the stages decode
once per run: bench/input_pipeline.py measures that part), iterated to the end with
nothing consuming the batches but a reduction that forces them. One warm-up epoch
(tracing) comes first; each round is one further epoch; the figure is the median
images/s with its spread. Compare it with the GPU's training rate from
bench/gpu_check.py: the pipeline keeps up while its rate is the higher of the two.
"""

from __future__ import annotations

import argparse
import time

import benchstats  # bench/, beside this script

PAPER_AUGMENT = dict(rotation=10, shear=0.2, zoom=0.05, horizontal_flip=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--images", type=int, default=1024, help="rounded down to whole batches")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=5, help="timed epochs (after one warm-up epoch)")
    p.add_argument("--no-augment", action="store_true", help="shuffle and batch only (Table 1's setting)")
    p.add_argument("--results", help="append the table row to this JSON-lines file")
    args = p.parse_args()

    import numpy as np
    import tensorflow as tf

    from fashioncat.config import Augment
    from fashioncat.model.splits import TrainBatches

    n = args.images // args.batch * args.batch
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, args.size, args.size, 3), dtype=np.uint8)
    labels = np.arange(n) % 10
    augment = Augment() if args.no_augment else Augment(**PAPER_AUGMENT)
    batches = TrainBatches(images, labels, 10, args.batch, augment, seed=1)

    def epoch(e: int) -> float:
        start = time.perf_counter()
        total = 0.0
        for x, _ in batches.epochs(e, e + 1):
            total += float(tf.reduce_sum(x[:, 0, 0, 0]))  # forces the batch, costs next to nothing
        return time.perf_counter() - start

    epoch(0)
    rates = [n / epoch(e) for e in range(1, args.rounds + 1)]
    s = benchstats.spread(rates)
    label = "shuffle only" if args.no_augment else "paper augmentation"
    print(f"input pipeline alone: {args.size} px, {n} images, batch {args.batch}, {label}, {benchstats.machine()}")
    print(
        f"  median {s.median:.0f} images/s (IQR {s.q1:.0f}-{s.q3:.0f}); epochs in order: "
        + " ".join(f"{r:.0f}" for r in rates)
    )
    benchstats.record(
        args.results,
        benchmark=f"input pipeline alone, {args.size} px, {label}, {n} images in memory",
        figure=f"{s.median:.0f} images/s (IQR {s.q1:.0f}-{s.q3:.0f}; {args.rounds} epochs)",
        goal="above the GPU's training rate (bench/gpu_check.py)",
        verdict="see gpu_check",
    )


if __name__ == "__main__":
    main()
