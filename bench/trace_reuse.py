"""What a tuning trial saves by reusing its step's built and traced model (goal: >= 10 s per trial).

    python bench/trace_reuse.py [--arch resnet50v2] [--size 32] [--images 640] [--val 320] [--rounds 6]
                                [--results FILE]

One trial is what `tune@*` trains: `TrialRunner.run` of a configuration at the default
budget (`tune.trial.epochs`, ResNet50V2 at `train.image_size`, batch `train.batch_size`),
synthetic uint8 images, then scoring the validation images. Four sides, each one trial
per round, every round a different learning rate (as a tuning step's trials differ):

  fresh          a new TrialRunner: build, compile, trace, train, score (what every trial
                 would cost without reuse; a Ray task still pays it);
  shared         the step's runner, same initializer: weights, optimizer slots, learning rate
                 and penalty reset, the traced step reused (what most trials cost);
  new init       the step's runner with an initializer it has not drawn yet: a second model is
                 built for its seeded weights, the traced step is reused;
  new init, reseeding TF
                 the same, but with TensorFlow reseeded as `training.prepare` did before (it
                 clears TensorFlow's kernel caches, so the traced step is instantiated again).

Two rows: fresh - shared (seconds a shared model saves per trial; goal >= 10 s: at the
default budget a trial trains in 10-20 s on 2 cores, so reuse should at least halve a
trial), and (new init, reseeding TF) - (new init) (seconds the initializer step's and
`tune_noise`'s trials save by not reseeding TensorFlow; goal >= 5 s, a quarter of a trial).
Rounds are interleaved and judged as in benchstats.py; the figure is the median of the
per-round differences. Reseeding TensorFlow (a fresh build does too) clears its kernel
caches for every model in the process, so the sides run in an order where no shared-model
trial follows a reseed it has not paid for itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchstats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL_SHARED = 10.0  # seconds saved per trial
GOAL_RESEED = 5.0  # a quarter of a trial: the initializer step draws 3 new initializers, tune_noise 2 seeds


def main() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchstats.model_arguments(p, params)
    p.add_argument("--images", type=int, default=params["tune"]["trial"]["subset"], help="training images per trial")
    p.add_argument("--val", type=int, default=320, help="validation images that score a trial")
    p.add_argument("--epochs", type=int, default=params["tune"]["trial"]["epochs"])
    p.add_argument("--rounds", type=int, default=6, help="timed trials per side (after one warm-up trial each)")
    p.add_argument("--results", help="append the table rows to this JSON-lines file (make bench)")
    args = p.parse_args()

    import numpy as np
    import tensorflow as tf

    from fashioncat.config import Augment, Hyper
    from fashioncat.contracts import Choice
    from fashioncat.model.splits import Splits
    from fashioncat.model.trials import TrialRunner

    classes = [f"c{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    data = Splits(classes, {}, {}, {})
    for name, count in (("train", args.images // args.batch * args.batch), ("val", args.val)):
        data.images[name] = rng.integers(0, 256, (count, args.size, args.size, 3), dtype=np.uint8)
        data.labels[name] = np.arange(count) % len(classes)
        data.paths[name] = [f"{name}/{i}.png" for i in range(count)]
    seed = 1
    start = Choice(args.arch, Hyper(**params["train"]["hyper"]), Augment())

    def new_runner() -> TrialRunner:
        return TrialRunner(args.arch, data, image_size=args.size, batch_size=args.batch, seed=seed)

    shared = new_runner()
    rates = iter(np.geomspace(1e-4, 1e-2, 1000).tolist())
    initializers = ("he_normal", "he_uniform", "glorot_normal")

    def trial(runner: TrialRunner, **changes):
        choice = start.with_changes({"learning_rate": next(rates), **changes})
        return runner.run(choice, {}, epochs=args.epochs, patience=0)

    def fresh():
        trial(new_runner())

    def reused():
        trial(shared)

    def new_initializer(reseed_tf: bool):
        def run():
            shared._initial.pop(initializers[0], None)  # not drawn yet, as the first trial of a new initializer
            if reseed_tf:
                tf.random.set_seed(seed)  # what training.prepare did on every initializer's build
            trial(shared, initializer=initializers[0])

        return run

    times = benchstats.rounds(
        {
            # In this order (flipped every round) the shared model's trials never follow a side that
            # reseeded TensorFlow without its own fit since (a fresh build reseeds it too).
            "shared": benchstats.timed(reused),
            "new init": benchstats.timed(new_initializer(False)),
            "new init, reseeding TF": benchstats.timed(new_initializer(True)),
            "fresh": benchstats.timed(fresh),
        },
        args.rounds,
    )
    saved = benchstats.spread([a - b for a, b in zip(times["fresh"], times["shared"], strict=True)])
    unseeded = benchstats.spread(
        [a - b for a, b in zip(times["new init, reseeding TF"], times["new init"], strict=True)]
    )
    n = len(data.labels["train"])
    print(
        f"one tuning trial: {args.arch} at {args.size}x{args.size}, {n} images x {args.epochs} epochs, "
        f"{args.val} validation images, batch {args.batch}, {benchstats.machine()}"
    )
    for name, t in times.items():
        s = benchstats.spread(t)
        each = " ".join(f"{v:.1f}" for v in t)
        print(f"  {name:<22}: median {s.median:5.1f} s (IQR {s.q1:.1f}-{s.q3:.1f}); rounds in order: {each}")
    rows = (
        (
            "shared model",
            saved,
            GOAL_SHARED,
            f"a tuning trial on its step's shared model against a fresh build, {args.arch} {args.size} px, "
            f"{n} images x {args.epochs} epochs: seconds saved per trial",
        ),
        (
            "no TF reseed",
            unseeded,
            GOAL_RESEED,
            f"a new initializer's trial on the shared model without reseeding TensorFlow against with, "
            f"{args.arch} {args.size} px: seconds saved per trial",
        ),
    )
    for short, spread, goal, benchmark in rows:
        verdict = benchstats.verdict(spread, goal, at_least=True)
        figure = benchstats.describe(spread, unit=" s", digits=1)
        print(f"  saved by {short}: {figure}; goal >= {goal:g} s: {verdict}")
        benchstats.record(
            args.results, benchmark=benchmark, figure=figure, goal=f">= {goal:g} s saved", verdict=verdict
        )


if __name__ == "__main__":
    main()
