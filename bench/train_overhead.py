"""Training-input overhead: a train epoch fed by our pipeline against model.fit on in-memory tensors (goal: < 10%).

    python bench/train_overhead.py [--arch resnet50v2] [--size 32] [--images 640] [--rounds 7] [--augment]
                                   [--intra N --inter N] [--results FILE]

Both sides train the same freshly built model (models.build with the default run's
`train.hyper` from params.yaml, batch `train.batch_size`) on the same images:

  in-memory  model.fit(x, y) on float32 tensors already in memory: no input pipeline;
  ours       model.fit on `TrainBatches.epochs(e, e + 1)`, the dataset the train stage
             fits on: seeded shuffle, and with `--augment` the paper's augmentation.

What is timed is one epoch of `fit` per side and round, nothing else: decoding the
PNGs (`decode_all`) and building the dataset happen before, once, as in a train stage,
and are measured by input_pipeline.py. The overhead of a round is ours / in-memory - 1.
A warm-up epoch per side comes first (the first fit traces the graph, 27-40 s here),
the image count is a whole number of batches (a partial last batch costs one more
trace), and the rounds are interleaved and judged as in benchstats.py. Every epoch's
speed is printed, so two speed modes, if any, would show.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import benchstats  # noqa: E402
import fixtures  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.10
PAPER_AUGMENT = dict(rotation=10, shear=0.2, zoom=0.05, horizontal_flip=True)


def main() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchstats.model_arguments(p, params)
    p.add_argument("--images", type=int, default=640, help="rounded down to whole batches")
    p.add_argument("--rounds", type=int, default=7, help="timed epochs per side (after one warm-up epoch each)")
    p.add_argument("--augment", action="store_true", help="the paper's best augmentation on our side")
    p.add_argument("--intra", type=int, default=0, help="TensorFlow intra-op threads (0: its default)")
    p.add_argument("--inter", type=int, default=0, help="TensorFlow inter-op threads (0: its default)")
    p.add_argument("--results", help="append the table row to this JSON-lines file (make bench)")
    args = p.parse_args()

    import numpy as np
    import tensorflow as tf

    from fashioncat.config import Augment, Hyper
    from fashioncat.model import inputs, models, training
    from fashioncat.model.splits import TrainBatches

    # Thread pools can only be sized before TensorFlow runs its first op.
    tf.config.threading.set_intra_op_parallelism_threads(args.intra)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    classes = ["a", "b", "c", "d"]
    n = args.images // args.batch * args.batch
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        fixtures.split_folder(root, classes=classes, per_split=(n // len(classes), 1, 1), size=args.size)
        paths, labels = inputs.load_split(root / "data/split/source/train.csv", classes, root=root)
        images = inputs.decode_all(list(paths), args.size)
    assert len(images) == n, (len(images), n)
    augment = Augment(**PAPER_AUGMENT) if args.augment else Augment()
    train = TrainBatches(images, labels, len(classes), args.batch, augment, seed=1)
    x = images.astype("float32")
    y = np.eye(len(classes), dtype="float32")[labels]
    hyper = Hyper(**params["train"]["hyper"])
    training.prepare(1)
    # One model for both sides, so that both run the same kernels on the same weights' shapes.
    model = training.compile_model(models.build(args.arch, len(classes), args.size, hyper), models.optimizer(hyper))
    epoch = iter(range(1_000_000))

    def in_memory():
        model.fit(x, y, batch_size=args.batch, epochs=1, shuffle=False, verbose=0)

    def ours():
        e = next(epoch)
        model.fit(train.epochs(e, e + 1), steps_per_epoch=train.steps, epochs=1, shuffle=False, verbose=0)

    times = benchstats.rounds({"in-memory": benchstats.timed(in_memory), "ours": benchstats.timed(ours)}, args.rounds)
    overhead = benchstats.spread([r - 1 for r in benchstats.ratios(times["ours"], times["in-memory"])])
    verdict = benchstats.verdict(overhead, GOAL, at_least=False)
    label = "paper augmentation on our side" if args.augment else "no augmentation (Table 1)"
    threads = f"intra {args.intra or 'default'}, inter {args.inter or 'default'}"
    print(
        f"training epoch: {args.arch} at {args.size}x{args.size}, {n} images, batch {args.batch}, {label}, "
        f"{threads}, {benchstats.machine()}, TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}"
    )
    for name, t in times.items():
        rates = [n / s for s in t]
        s = benchstats.spread(rates)
        each = " ".join(f"{r:.0f}" for r in rates)
        print(f"  {name:<9}: median {s.median:6.1f} images/s (IQR {s.q1:.1f}-{s.q3:.1f}); epochs in order: {each}")
    pct = benchstats.scaled(overhead, 100)
    print(f"  overhead : {benchstats.describe(pct, unit='%', digits=1)}")
    print(f"  goal overhead < {GOAL:.0%}: {verdict}")
    benchstats.record(
        args.results,
        benchmark=f"training overhead of our input pipeline, {args.arch} {args.size} px, {n} images, {label}",
        figure=benchstats.describe(pct, unit="%", digits=1),
        goal=f"< {GOAL:.0%}",
        verdict=verdict,
    )


if __name__ == "__main__":
    main()
