"""Epoch-to-epoch stability of one training: the slowest epoch against the median (goal: within 15%).

    python bench/epoch_stability.py [--arch resnet50v2] [--size N] [--images 640] [--val 320] [--epochs 10]
                                    [--bare] [--intra N --inter N --data-threads N] [--threads] [--results FILE]

One model (models.build with the default run's `train.hyper`, batch `train.batch_size`,
`training.prepare`'s op determinism) trains `--epochs` epochs through `training.fit`, the
call the train stage makes: the tf.data path (`TrainBatches`, no augmentation: Table 1),
validation after every epoch and a checkpoint after every epoch but the last. The images
are synthetic uint8 of the training size. One untimed epoch with validation comes first, in
its own `fit` (it traces both steps). An epoch is timed from its start to the next one's,
so its validation and its checkpoint count; for the same interval the bench reads

  own cores     this process's CPU seconds (all its threads) / wall seconds;
  others        CPU time the rest of the machine used (from /proc/stat, minus ours), in cores;
  steal         time the hypervisor gave the vCPUs to someone else, in cores.

A half-speed epoch at about one own core with the others idle is the slow mode issue 34
describes: measured, it was a sleep of the whole process while an iterator's deletion waited
for tf.data's autotuner thread, which `inputs` now leaves off. One at two own cores is slower
code; one while others ran is the shared machine. `--threads` also prints each epoch's CPU
seconds by thread name (TensorFlow's pools, tf.data's, Python), to see which stalls. `--bare`
trains with a plain `model.fit` instead: no validation, no checkpoints.

The figure is slowest / median - 1 over the timed epochs. The verdict is "met" when it is
under 15%, "not met" when it is not and the other processes used under a quarter core
(plus steal) in every slow epoch, and "unresolved at this noise" when a slow epoch
coincided with other load: on a shared machine that epoch says nothing about our code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchstats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.15
QUIET = 0.25  # cores the rest of the machine may use while an epoch still counts as measured on a quiet machine
TICK = os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, steal) jiffies of all CPUs together, from /proc/stat's first line."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq, steal


def thread_ticks() -> Counter:
    """CPU jiffies (user + system) of this process's threads, summed by thread name."""
    ticks: Counter = Counter()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()
        ticks[name.rstrip("0123456789_-")] += int(rest[11]) + int(rest[12])  # utime, stime
    return ticks


class Sample:
    """Wall time, our CPU time and the machine's busy and steal jiffies at one moment."""

    def __init__(self, threads: bool):
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.busy, self.steal = machine_ticks()
        self.threads = thread_ticks() if threads else Counter()


def epoch_row(a: Sample, b: Sample, images: int) -> dict:
    wall = b.wall - a.wall
    own = b.cpu - a.cpu
    busy = (b.busy - a.busy) / TICK
    return {
        "seconds": wall,
        "rate": images / wall,
        "own": own / wall,
        "others": max(0.0, busy - own) / wall,
        "steal": (b.steal - a.steal) / TICK / wall,
        "threads": {k: (b.threads[k] - a.threads.get(k, 0)) / TICK for k in b.threads},
    }


def judge(rows: list[dict]) -> tuple[float, str, list[int]]:
    """slowest / median - 1, the verdict, and the slow epochs (1-based)."""
    seconds = [r["seconds"] for r in rows]
    median = statistics.median(seconds)
    excess = max(seconds) / median - 1
    slow = [i + 1 for i, r in enumerate(rows) if r["seconds"] >= (1 + GOAL) * median]
    if excess < GOAL:
        return excess, benchstats.MET, slow
    quiet = all(rows[i - 1]["others"] + rows[i - 1]["steal"] < QUIET for i in slow)
    return excess, benchstats.NOT_MET if quiet else benchstats.UNRESOLVED, slow


def main() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchstats.model_arguments(p, params)
    p.add_argument("--images", type=int, default=640, help="rounded down to whole batches")
    p.add_argument("--val", type=int, default=320, help="validation images, scored after every epoch")
    p.add_argument("--epochs", type=int, default=10, help="timed epochs, after one untimed warm-up epoch")
    p.add_argument("--bare", action="store_true", help="a plain model.fit: no validation, no checkpoints")
    p.add_argument("--intra", type=int, default=0, help="TensorFlow intra-op threads (0: its default)")
    p.add_argument("--inter", type=int, default=0, help="TensorFlow inter-op threads (0: its default)")
    p.add_argument("--data-threads", type=int, default=0, help="tf.data private threadpool size (0: shared pool)")
    p.add_argument("--threads", action="store_true", help="print each epoch's CPU seconds by thread name")
    p.add_argument("--results", help="append the table row to this JSON-lines file (make bench)")
    args = p.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from fashioncat.config import Augment, Hyper
    from fashioncat.model import inputs, models, training
    from fashioncat.model.splits import TrainBatches

    # Thread pools can only be sized before TensorFlow runs its first op.
    tf.config.threading.set_intra_op_parallelism_threads(args.intra)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter)
    classes = 10
    n = args.images // args.batch * args.batch
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n + args.val, args.size, args.size, 3), dtype=np.uint8)
    labels = np.arange(n + args.val) % classes

    class Batches(TrainBatches):
        def epochs(self, first: int, last: int):
            ds = super().epochs(first, last)
            if args.data_threads:
                options = tf.data.Options()
                options.threading.private_threadpool_size = args.data_threads
                ds = ds.with_options(options)
            return ds

    train = Batches(images[:n], labels[:n], classes, args.batch, Augment(), seed=1)
    val = None
    if not args.bare:
        val = inputs.dataset(
            images[n:], labels[n:], num_classes=classes, batch_size=args.batch, augment=None, shuffle=False, seed=1
        )
    hyper = Hyper(**params["train"]["hyper"])
    training.prepare(1)
    model = training.compile_model(models.build(args.arch, classes, args.size, hyper), models.optimizer(hyper))

    started = time.perf_counter()
    model.fit(train.epochs(0, 1), steps_per_epoch=train.steps, validation_data=val, epochs=1, shuffle=False, verbose=0)
    warmup = time.perf_counter() - started

    marks: list[Sample] = []

    class Clock(keras.callbacks.Callback):
        """Marks every epoch's start and the training's end: an epoch runs until the next mark."""

        def on_epoch_begin(self, epoch, logs=None):
            marks.append(Sample(args.threads))

        def on_train_end(self, logs=None):
            marks.append(Sample(args.threads))

    if args.bare:
        model.fit(
            train.epochs(0, args.epochs),
            steps_per_epoch=train.steps,
            epochs=args.epochs,
            callbacks=[Clock()],
            shuffle=False,
            verbose=0,
        )
    else:
        with tempfile.TemporaryDirectory() as scratch:
            training.fit(
                model,
                train,
                val,
                epochs=args.epochs,
                patience=0,
                checkpoints=Path(scratch) / "checkpoints",
                fingerprint="bench",
                callbacks=(Clock(),),
                verbose=0,
            )
    rows = [epoch_row(a, b, n) for a, b in zip(marks, marks[1:])]
    excess, verdict, slow = judge(rows)
    rates = [r["rate"] for r in rows]
    median_rate = float(np.median(rates))
    threads = f"intra {args.intra or 'default'}, inter {args.inter or 'default'}"
    threads += f", tf.data private pool {args.data_threads}" if args.data_threads else ""
    how = "fit" if args.bare else f"training.fit, {args.val} validation images and a checkpoint per epoch"
    print(
        f"epoch stability: {args.arch} at {args.size}x{args.size}, {n} images, batch {args.batch}, "
        f"{args.epochs} epochs in one {how}, {threads}, {benchstats.machine()}, "
        f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}; warm-up epoch {warmup:.1f} s"
    )
    print("  epoch  images/s  own cores  others  steal   (images/s: training images over the whole epoch)")
    for i, r in enumerate(rows, 1):
        mark = "  slow" if i in slow else ""
        print(f"  {i:5d}  {r['rate']:8.1f}  {r['own']:9.2f}  {r['others']:6.2f}  {r['steal']:5.2f}{mark}")
        if args.threads:
            busy = sorted(r["threads"].items(), key=lambda kv: -kv[1])
            print("         " + ", ".join(f"{name} {s:.1f} s" for name, s in busy if s > 0))
    figure = (
        f"slowest epoch +{excess:.0%} on the median ({min(rates):.0f} against {median_rate:.0f} images/s; "
        f"{args.epochs} epochs; own cores {min(r['own'] for r in rows):.2f}-{max(r['own'] for r in rows):.2f}; "
        f"others up to {max(r['others'] + r['steal'] for r in rows):.2f} cores)"
    )
    print(f"  {figure}")
    print(f"  goal slowest epoch within {GOAL:.0%} of the median: {verdict}")
    benchstats.record(
        args.results,
        benchmark=f"epoch-to-epoch stability of one {'fit' if args.bare else 'training'}, {args.arch} {args.size} px, "
        f"{n} images, {threads}",
        figure=figure,
        goal=f"slowest within {GOAL:.0%} of the median",
        verdict=verdict,
    )


if __name__ == "__main__":
    main()
