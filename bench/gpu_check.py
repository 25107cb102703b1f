"""Device check: ResNet50V2's training speed on this machine's GPUs, and the paper-scale pipeline time it implies.

    python bench/gpu_check.py [--epochs 30] [--size 224] [--batch 32] [--images 2048]
                              [--warmup 10] [--steps 100] [--repeats 3] [--budget 280] [--cpu]

Without an NVIDIA GPU visible to TensorFlow it prints "no GPU: nothing to measure" and what
it would measure, and exits 0. On a GPU machine, about 3-5 minutes: each configuration runs
in a fresh Python process (the dtype policy and the strategy are global to a process):

  one GPU, float32            the pipeline as it is, on one GPU
  one GPU, mixed_float16      `train.precision: auto` on a GPU (mixed_float16, float32 classifier)
  one GPU, mixed, XLA         the same with `train.deterministic: false`: no op determinism, so
                              Keras' jit_compile="auto" compiles with XLA (runs last; skipped first
                              when the budget runs out)
  all GPUs, float32 / mixed   MirroredStrategy through models.strategy_scope('auto'), as
                              `train.distribute: auto` builds Table 1, `final` and `finetune@scratch`
                              (only with more than one GPU; `batch` stays the global batch)
  Ray, 4 trials               4 Ray actors at once, each asking for GPUs/4 GPUs (the tuning
                              trials of `tune.executor: ray`), float32, each on one device

Every configuration trains the pipeline's network (models.build('resnet50v2', ...), compiled by
training.compile_model with params.yaml's `train.hyper`, after training.prepare as the
stages do) on synthetic uint8 images fed by the train stage's own dataset (TrainBatches: seeded
shuffle, no augmentation), `--size` px, batch `--batch`. Warm-up and timing are separate calls:
`--warmup` steps of fit and 2 steps of evaluate on the validation batches (graph tracing and
compilation happen there), then `--repeats` timed fits of `--steps` steps each and `--repeats`
timed validation passes (evaluate over all the images, batched as fit's validation_data is).
The figure is the median of the repeats. The Ray actors do each phase at the
same time (a barrier between phases), and their figure is the 4 actors' images over the phase's
wall time. The project's executor (executors.RayTrials) is not used for this: each of its tasks
builds and traces a fresh model inside the trial it times, so warm-up and timed steps cannot be
told apart there; the actors ask Ray for the same resources and set the same environment.

Then the estimated wall time of the paper-scale pipeline (config/profiles/paper.yaml) from those
rates; `estimate` below holds the formula, printed with the result. `--budget` seconds caps the
whole run: configurations that no longer fit are skipped and say so.

`--cpu` runs every configuration on this machine's CPU at a toy size (32 px, batch 8, a few
steps; "all devices" is MirroredStrategy over two logical CPUs) so that the code path runs
without a GPU. Its rates say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fashioncat import paper  # no TensorFlow: the paper's grids give the workload

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = "resnet50v2"
SEED = 2021
SLOTS = 4  # Ray trials at once, each asking for GPUs / SLOTS GPUs
CPU_TOY = dict(size=32, batch=8, images=16, warmup=1, steps=2, repeats=1)


# ---------------------------------------------------------------- the estimate (pure arithmetic)


@dataclass(frozen=True)
class Rates:
    """Measured images per second: training steps (fit) and validation passes (evaluate)."""

    train: float
    val: float

    def per(self, slots: int) -> Rates:
        """One of `slots` concurrent jobs' share of an aggregate rate."""
        return Rates(self.train / slots, self.val / slots)


def paper_rounds(grids: dict) -> tuple[int, ...]:
    """Trials trained per tuning round: the augmentation sweep's first knob in full, each later knob
    less the value the current best already has; then every other step's whole product."""
    knobs = list(grids["augmentation"].values())
    rounds = [len(knobs[0])] + [len(values) - 1 for values in knobs[1:]]
    return tuple(rounds + [math.prod(len(v) for v in grids[step].values()) for step in list(grids)[1:]])


@dataclass(frozen=True)
class Workload:
    """The paper-scale pipeline, as config/profiles/paper.yaml sets it up (tests/project/test_gpu_check.py checks).

    Both datasets: 10 classes x 5,000 images, split 0.7 / 0.15 / 0.15, so 35,000 training and
    7,500 validation images each; every training runs `epochs` epochs of the training images,
    each followed by a validation pass.

    Tuning rounds, in trials trained, from the paper's grids (fashioncat/paper.py): the
    augmentation sweep (Table 2) is one round per knob, 4 + 4 + 4 + 2 values, but rounds 2-4 each
    meet the current best again, which the memo does not retrain (4, 3, 3, 1); then initializer 6,
    optimizer 5, learning rate x regularizer 3 x 3, learning rate x decay 3 x 3. That is 40
    trainings (43 grid points).
    """

    classes: int = 10
    source_per_class: int = 5000
    target_per_class: int = 5000
    train_fraction: float = 0.7
    val_fraction: float = 0.15
    table1: int = 3  # train@{vgg16,resnet50,resnet50v2}; all counted at ResNet50V2's rate
    noise: int = 3  # tune_noise: tune.noise_seeds trainings of the starting configuration, sequential
    tuning_rounds: tuple[int, ...] = field(default_factory=lambda: paper_rounds(paper.GRIDS))
    final: int = 1
    transfer: int = 3  # last_layer, whole_model, scratch on the target; benchmark trains nothing

    def images(self, per_class: int) -> tuple[int, int]:
        """(training, validation) images of a dataset with `per_class` images per class."""
        total = self.classes * per_class
        return round(total * self.train_fraction), round(total * self.val_fraction)

    @property
    def trainings(self) -> int:
        return self.table1 + self.noise + sum(self.tuning_rounds) + self.final + self.transfer


PAPER = Workload()


def training_seconds(epochs: int, images: tuple[int, int], rates: Rates) -> float:
    """One training: epochs x (training images / training rate + validation images / validation rate)."""
    train, val = images
    return epochs * (train / rates.train + val / rates.val)


@dataclass
class Estimate:
    one_gpu: float  # seconds: every training one after another on one GPU
    all_gpus: float  # seconds: as the pipeline would spread the work (see estimate)
    parts: dict[str, float] = field(default_factory=dict)  # all_gpus, by part


def estimate(
    epochs: int,
    one: Rates,
    all_gpus: Rates | None = None,
    ray: Rates | None = None,
    *,
    slots: int = SLOTS,
    work: Workload = PAPER,
) -> Estimate:
    """Wall seconds of the paper-scale pipeline's trainings from measured rates.

    one_gpu: every one of `work.trainings` trainings after another at the one-GPU rates.
    all_gpus: Table 1, `final` and `finetune@scratch` at the MirroredStrategy rates (`all_gpus`,
      train.distribute: auto); tune_noise, last_layer and whole_model at the one-GPU rates (they
      stay on one device); each tuning round in ceil(trials / slots) waves of `slots` concurrent
      trials, each trial at 1/slots of the Ray aggregate (`ray`; tune.executor: ray). Without
      `all_gpus` or `ray` those parts run at the one-GPU rates.
    Not counted: data stages, test-split scoring, checkpoints, start-up and tracing.
    """
    source, target = work.images(work.source_per_class), work.images(work.target_per_class)
    one_src, one_tgt = training_seconds(epochs, source, one), training_seconds(epochs, target, one)
    sequential = (work.trainings - work.transfer) * one_src + work.transfer * one_tgt
    mirrored = all_gpus or one
    trial = ray.per(slots) if ray else one
    waves = sum(math.ceil(n / slots) for n in work.tuning_rounds) if ray else sum(work.tuning_rounds)
    where = "mirrored" if all_gpus else "one device"
    parts = {
        f"Table 1 + final ({where})": (work.table1 + work.final) * training_seconds(epochs, source, mirrored),
        "tune_noise (one device)": work.noise * one_src,
        f"tuning ({waves} waves of up to {slots} Ray trials)" if ray else "tuning (one device, one after another)": (
            waves * training_seconds(epochs, source, trial)
        ),
        f"transfer: scratch ({where}), last_layer + whole_model (one device)": (
            training_seconds(epochs, target, mirrored) + (work.transfer - 1) * one_tgt
        ),
    }
    return Estimate(sequential, sum(parts.values()), parts)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def explain(epochs: int, one: Rates, all_gpus: Rates | None, ray: Rates | None, mixed: Rates | None, gpus: int) -> str:
    """The estimate's formula, the workload's numbers and the result, as printed."""
    w = PAPER
    (tr, va), (ttr, tva) = w.images(w.source_per_class), w.images(w.target_per_class)
    result = estimate(epochs, one, all_gpus, ray)
    waves = sum(math.ceil(n / SLOTS) for n in w.tuning_rounds)
    lines = [
        "paper-scale estimate (config/profiles/paper.yaml; ResNet50V2's rates for every training):",
        f"  datasets: source {w.classes} classes x {w.source_per_class:,}, target {w.classes} x "
        f"{w.target_per_class:,}, split {w.train_fraction}/{w.val_fraction}/{w.val_fraction} -> "
        f"{tr:,} train + {va:,} val (source), {ttr:,} + {tva:,} (target)",
        f"  trainings: Table 1 {w.table1} + tune_noise {w.noise} + tuning {sum(w.tuning_rounds)} (rounds "
        f"{', '.join(map(str, w.tuning_rounds))}) + final {w.final} + transfer {w.transfer} "
        f"(last_layer, whole_model, scratch) = {w.trainings}",
        f"  one training = E x (train images / train rate + val images / val rate), E = {epochs} epochs "
        "(--epochs; the profile's cap, early stopping ends many sooner, so an upper bound)",
        f"  one GPU, float32, one after another: {w.trainings - w.transfer} x {epochs} x ({tr:,}/{one.train:.0f} + "
        f"{va:,}/{one.val:.0f}) + {w.transfer} x {epochs} x ({ttr:,}/{one.train:.0f} + {tva:,}/{one.val:.0f}) "
        f"s = {_hours(result.one_gpu)}",
    ]
    if mixed:
        lines.append(
            f"  one GPU, mixed_float16 (not a pipeline setting), same formula: "
            f"{_hours(estimate(epochs, mixed).one_gpu)}"
        )
    if all_gpus or ray:
        how = "Table 1, final and scratch mirrored over all GPUs; " if all_gpus else ""
        lines.append(
            f"  {gpus} device(s) as the pipeline spreads the work ({how}each tuning round in waves of up to {SLOTS} "
            f"Ray trials, each trial at 1/{SLOTS} of the 4-trial Ray rate; {waves} waves): {_hours(result.all_gpus)}"
        )
        for name, seconds in result.parts.items():
            lines.append(f"    {name}: {_hours(seconds)}")
    lines.append(
        "  not counted: data stages (download, crop, balance, split), test scoring, checkpoints, tracing; "
        "VGG16 and ResNet50 in Table 1 counted at ResNet50V2's rate; last_layer counted as a full training"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- one configuration, in its own process


class Bench:
    """One model and its data; warm-up, timed fits and timed validations as separate calls (also a Ray actor)."""

    def __init__(self, cfg: dict):
        import numpy as np
        import yaml

        from fashioncat.config import Augment, Engine, Hyper
        from fashioncat.model import inputs, models, training
        from fashioncat.model.splits import TrainBatches

        self.cfg = cfg
        hyper = Hyper(**yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["hyper"])
        classes, size, batch = 10, cfg["size"], cfg["batch"]
        n = cfg["images"] // batch * batch  # whole batches: a partial one costs another trace
        rng = np.random.default_rng(SEED)
        self.images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        labels = np.arange(n) % classes
        training.prepare(SEED, Engine(cfg["policy"], cfg.get("deterministic", True)))
        with cfg.get("scope") or models.strategy_scope(cfg["distribute"]):
            self.model = models.build(ARCHITECTURE, classes, size, hyper)
            training.compile_model(self.model, models.optimizer(hyper))
        self.train = TrainBatches(self.images, labels, classes, batch, Augment(), SEED)
        self.data = self.train.epochs(0, math.ceil((cfg["warmup"] + cfg["steps"]) / self.train.steps) + 1)
        # validation batches exactly as fit's validation_data gets them (splits.train_val)
        self.val = inputs.dataset(
            self.images, labels, num_classes=classes, batch_size=batch, augment=None, shuffle=False, seed=SEED
        )

    def _fit(self, steps: int) -> float:
        start = time.perf_counter()
        self.model.fit(self.data, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - start

    def _validate(self, steps: int | None = None) -> float:
        start = time.perf_counter()
        self.model.evaluate(self.val, steps=steps, verbose=0)
        return time.perf_counter() - start

    def warm_up(self) -> float:
        """Untimed: the first fit steps and the first validation steps (tracing, compilation)."""
        return self._fit(self.cfg["warmup"]) + self._validate(2)

    def fit_once(self) -> tuple[int, float]:
        """(images, seconds) of one timed fit of `steps` steps."""
        return self.cfg["steps"] * self.cfg["batch"], self._fit(self.cfg["steps"])

    def validate_once(self) -> tuple[int, float]:
        """(images, seconds) of one timed validation pass (evaluate) over the images."""
        return len(self.images), self._validate()

    def jit(self) -> str:
        return str(getattr(self.model, "jit_compile", "?"))


def _result(train: list[float], val: list[float], **extra) -> dict:
    return {
        "train": statistics.median(train),
        "train_all": [round(r, 1) for r in train],
        "val": statistics.median(val),
        "val_all": [round(r, 1) for r in val],
        **extra,
    }


def worker_fit(cfg: dict) -> dict:
    """One model in this process, on one device or mirrored over all of them."""
    import tensorflow as tf

    if cfg["cpu"] and cfg["devices"] == "all":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        cfg["scope"] = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")]).scope()
    elif not cfg["cpu"] and cfg["devices"] == "one":
        tf.config.set_visible_devices(tf.config.list_physical_devices("GPU")[:1], "GPU")
    bench = Bench(cfg)
    warm = bench.warm_up()
    train = [a / s for a, s in (bench.fit_once() for _ in range(cfg["repeats"]))]
    val = [a / s for a, s in (bench.validate_once() for _ in range(cfg["repeats"]))]
    devices = tf.config.list_logical_devices("CPU" if cfg["cpu"] else "GPU")
    return _result(train, val, warmup_s=round(warm, 1), devices=len(devices), jit_compile=bench.jit())


def worker_ray(cfg: dict) -> dict:
    """SLOTS actors at once, each with GPUs / SLOTS GPUs (none with --cpu); barriers between the phases."""
    from fashioncat.model import executors

    ray = executors._ray()  # the executor's import, with its install hint
    cpus = os.cpu_count() or 1
    ray.init(
        num_cpus=cpus,
        num_gpus=cfg["gpus"],
        include_dashboard=False,
        runtime_env={"env_vars": {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}},  # as executors.ray_trials
        log_to_driver=False,
    )
    try:
        actor = ray.remote(num_cpus=cpus / SLOTS, num_gpus=cfg["gpus"] / SLOTS)(Bench)
        actors = [actor.remote(cfg) for _ in range(SLOTS)]
        warm = max(ray.get([a.warm_up.remote() for a in actors]))

        def phase(method: str) -> float:
            start = time.perf_counter()
            done = ray.get([getattr(a, method).remote() for a in actors])
            return sum(images for images, _ in done) / (time.perf_counter() - start)

        train = [phase("fit_once") for _ in range(cfg["repeats"])]
        val = [phase("validate_once") for _ in range(cfg["repeats"])]
        return _result(train, val, warmup_s=round(warm, 1), slots=SLOTS, gpus_each=cfg["gpus"] / SLOTS)
    finally:
        ray.shutdown()


# ---------------------------------------------------------------- the driver


def gpu_count() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def configurations(gpus: int, cpu: bool) -> list[tuple[str, dict]]:
    """(label, settings) in the order they run: the pipeline's own settings first."""
    many = cpu or gpus > 1
    where = "CPU" if cpu else "one GPU"
    everywhere = "2 logical CPUs, MirroredStrategy" if cpu else f"all {gpus} GPUs, MirroredStrategy"
    out = [
        (f"{where}, float32", dict(kind="fit", devices="one", policy="float32", distribute="none")),
        (f"Ray, {SLOTS} trials at once, float32", dict(kind="ray", devices="all", policy="float32", distribute="none")),
    ]
    if many:
        out.append((f"{everywhere}, float32", dict(kind="fit", devices="all", policy="float32", distribute="auto")))
    out.append((f"{where}, mixed_float16", dict(kind="fit", devices="one", policy="mixed_float16", distribute="none")))
    if many:
        out.append(
            (f"{everywhere}, mixed_float16", dict(kind="fit", devices="all", policy="mixed_float16", distribute="auto"))
        )
    xla = dict(kind="fit", devices="one", policy="mixed_float16", distribute="none", deterministic=False)
    out.append((f"{where}, mixed_float16, XLA (deterministic: false)", xla))
    return out


def run_config(cfg: dict, timeout: float) -> tuple[dict | None, str]:
    """Runs one configuration in a fresh interpreter: (its result, or None, and why not)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if cfg["cpu"]:
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)]
    # its own session, so that a timeout also ends what it started (Ray's processes)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, f"stopped after {timeout:.0f} s (--budget)"
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :]), ""
    tail = (stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"failed (exit {proc.returncode}): {tail}"


def describe(label: str, r: dict) -> str:
    extra = f"; jit_compile {r['jit_compile']}" if "jit_compile" in r else ""
    return (
        f"  {label:<44} train {r['train']:8.1f} images/s ({' '.join(map(str, r['train_all']))}); "
        f"validation {r['val']:8.1f} ({' '.join(map(str, r['val_all']))}); warm-up {r['warmup_s']} s{extra}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=30, help="epochs per training in the estimate (paper profile's cap)")
    p.add_argument("--size", type=int, default=224, help="image size in px (the paper: 224)")
    p.add_argument("--batch", type=int, default=32, help="global batch size (the paper: 32)")
    p.add_argument("--images", type=int, default=2048, help="synthetic images in memory (a validation pass: all)")
    p.add_argument("--warmup", type=int, default=10, help="untimed fit steps first (tracing, compilation)")
    p.add_argument("--steps", type=int, default=100, help="fit steps per timed repeat")
    p.add_argument("--repeats", type=int, default=3, help="timed fits and validation passes per configuration")
    p.add_argument("--budget", type=float, default=280, help="seconds for the whole run; later configurations skip")
    p.add_argument("--cpu", action="store_true", help="exercise the code path on the CPU at a toy size")
    p.add_argument("--only", help="run only the configurations whose label contains this (e.g. Ray, mixed)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        cfg = json.loads(args.worker)
        result = worker_ray(cfg) if cfg["kind"] == "ray" else worker_fit(cfg)
        print("RESULT " + json.dumps(result), flush=True)
        return

    started = time.perf_counter()
    if args.cpu:
        for key, value in CPU_TOY.items():
            setattr(args, key, value)
    gpus = 0 if args.cpu else gpu_count()
    configs = [c for c in configurations(gpus, args.cpu) if not args.only or args.only in c[0]]
    if not gpus and not args.cpu:
        print("no GPU: nothing to measure (TensorFlow lists no GPU; --cpu runs the code path at a toy size)")
        if shutil.which("nvidia-smi") and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0:
            print("but nvidia-smi lists one: is this TensorFlow the CPU build? (`make venv TF_BUILD=gpu`, docs)")
        print(f"on a GPU machine this measures {ARCHITECTURE} at {args.size} px, batch {args.batch}, images/s of:")
        for label, _ in configurations(2, False):
            only = " (only with more than one GPU)" if "all 2 GPUs" in label else ""
            print(f"  {label.replace('all 2 GPUs', 'all GPUs')}{only}")
        print(f"then the paper-scale pipeline's time from those rates ({PAPER.trainings} trainings, --epochs).")
        return

    common = {k: getattr(args, k) for k in ("size", "batch", "images", "warmup", "steps", "repeats", "cpu")}
    print(
        f"{ARCHITECTURE} at {args.size} px, batch {args.batch}, synthetic uint8 images through TrainBatches; "
        f"{args.warmup} warm-up steps, then {args.repeats} x {args.steps} timed steps and {args.repeats} "
        f"validation passes of {args.images // args.batch * args.batch} images; "
        f"{'CPU (--cpu: toy size)' if args.cpu else f'{gpus} GPU(s)'}"
    )
    results: dict[str, dict] = {}
    for label, settings in configs:
        left = args.budget - (time.perf_counter() - started)
        if left < 20:
            print(f"  {label:<44} skipped: the --budget of {args.budget:.0f} s ran out")
            continue
        result, why = run_config({**common, **settings, "gpus": gpus}, left)
        if result is None:
            print(f"  {label:<44} {why}")
            continue
        xla = "" if settings.get("deterministic", True) else "xla"
        results[settings["kind"] + settings["devices"] + settings["policy"] + xla] = result
        print(describe(label, result), flush=True)

    def rates(key: str) -> Rates | None:
        r = results.get(key)
        return Rates(r["train"], r["val"]) if r else None

    one = rates("fitonefloat32")
    if one is None:
        print("no one-device float32 rate: no estimate")
        sys.exit(0 if args.only else 1)
    mirrored = rates("fitallfloat32") if gpus > 1 or args.cpu else None
    if args.cpu:
        print("(--cpu: the estimate below only exercises the arithmetic; these are toy-size CPU rates)")
    print(explain(args.epochs, one, mirrored, rates("rayallfloat32"), rates("fitonemixed_float16"), gpus or 1))
    print(f"(check took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
