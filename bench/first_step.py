"""The first training step of a new model: optimizer slots built eagerly by `compile_model` against lazily by Keras.

    python bench/first_step.py [--arch resnet50v2] [--size 32] [--rounds 8] [--results FILE]

Every training stage builds a model and pays its first `fit` call once: Keras traces
the training step into a graph there. `training.compile_model` creates the optimizer's
slots before that (eager); plain `model.compile` leaves Keras to create them inside the
trace (lazy), which puts their creation ops into the graph. Each round builds a fresh
model per side (the default run's `train.hyper`, batch `train.batch_size`) and times
its first `fit` on two batches, nothing else; the figure is eager / lazy (goal: < 1,
i.e. the eager build is faster). Rounds are interleaved and judged as in benchstats.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchstats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.0


def main() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet50v2")
    p.add_argument("--size", type=int, default=params["train"]["image_size"])
    p.add_argument("--rounds", type=int, default=8, help="first steps timed per side")
    p.add_argument("--results", help="append the table row to this JSON-lines file (make bench)")
    args = p.parse_args()

    import numpy as np

    from fashioncat.config import Hyper
    from fashioncat.model import models, training

    batch = params["train"]["batch_size"]
    hyper = Hyper(**params["train"]["hyper"])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2 * batch, args.size, args.size, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, 2 * batch)]
    training.prepare(1)

    def first_step(eager: bool):
        model = models.build(args.arch, 10, args.size, hyper)
        if eager:
            training.compile_model(model, models.optimizer(hyper))
        else:
            model.compile(optimizer=models.optimizer(hyper), loss="categorical_crossentropy", metrics=["accuracy"])
        return lambda: model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    def side(eager: bool):
        def run() -> float:
            fit = first_step(eager)  # building is not timed: both sides build alike
            return benchstats.timed(fit)()

        return run

    times = benchstats.rounds({"lazy": side(False), "eager": side(True)}, args.rounds, warmup=0)
    ratio = benchstats.spread(benchstats.ratios(times["eager"], times["lazy"]))
    verdict = benchstats.verdict(ratio, GOAL, at_least=False)
    print(f"first training step: {args.arch} at {args.size}x{args.size}, batch {batch}, {benchstats.machine()}")
    for name, t in times.items():
        s = benchstats.spread(t)
        each = " ".join(f"{v:.1f}" for v in t)
        print(f"  {name:<5}: median {s.median:5.1f} s (IQR {s.q1:.1f}-{s.q3:.1f}); rounds in order: {each}")
    print(f"  eager / lazy: {benchstats.describe(ratio)}")
    print(f"  goal eager / lazy < {GOAL:g}: {verdict}")
    benchstats.record(
        args.results,
        benchmark=f"first training step of a new {args.arch} at {args.size} px, optimizer slots built eagerly",
        figure=benchstats.describe(ratio),
        goal=f"< {GOAL:g} x the lazy build's time",
        verdict=verdict,
    )


if __name__ == "__main__":
    main()
