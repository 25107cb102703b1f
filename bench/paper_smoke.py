"""The paper's path, run small: the paper profile plus a counts-only overlay, `dvc repro report` at 224 px.

    python bench/paper_smoke.py [--per-class 6] [--workdir DIR] [--out bench/paper_smoke.md]
                                [--gpu-rates TRAIN VAL]        (make paper-smoke)

1. Copies this working tree (tracked and untracked, not ignored files) to a scratch folder and makes
   it a git repository, so the run never touches this checkout's outputs.
2. Applies config/profiles/paper.yaml there (`profile.apply`), then `overlay()`: counts only
   (images per class, epoch caps, the trial subset, the noise seeds) and each tuning grid cut to
   the paper's first two values (from fashioncat.paper.GRIDS), plus the local settings the
   profile leaves as placeholders (the two dataset locations, and 127.0.0.1 in
   download.allowed_hosts). The result is validated as check_params validates params.yaml.
3. Writes DeepFashion and iMaterialist-2018 samples in their published layouts
   (fashioncat.data.samples), serves iMaterialist's images on a loopback HTTP server, and runs
   `dvc repro report`: download, crop at 224 px, balance, split, Table 1, the tuning chain,
   final, evaluate, Table 6, bundle, label issues and the report.
4. Reads each training stage's fit time and epochs from metrics/details/, prints images/s per stage
   and the full paper run's extrapolated time on this machine (bench/gpu_check.py's formula,
   `training_seconds`, with the paper's workload `PAPER` and the paper profile's epoch cap), and
   on one GPU from `--gpu-rates` (the one-GPU float32 rates `bench/gpu_check.py` prints on a GPU
   machine), and writes the table to `--out`.

At one epoch of a few dozen images a stage's fit time includes its first step's graph tracing,
so the rates are low and the extrapolations upper bounds. A failure prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fashioncat import config, paper, profile, typed
from fashioncat.data import samples
from fashioncat.errors import FashionError
from fashioncat.io import write_text
from fashioncat.stage import machine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from gpu_check import PAPER, Rates, estimate, training_seconds  # noqa: E402

PER_CLASS = 6  # 10 classes x 6: 4 train, 1 val, 1 test each, about the paper's 0.7/0.15/0.15 mix per epoch
TRIAL_SUBSET = 20  # training images per tuning trial (2 per class)
# Every key the overlay may set besides the grids: counts only (docs/scaling.md, "The paper's path, run small").
COUNT_KEYS = (
    "datasets.source.per_class",
    "datasets.target.per_class",
    "download.max_per_class",
    "train.epochs",
    "tune.trial.epochs",
    "tune.trial.subset",
    "tune.noise_seeds",
    "final.epochs",
    "finetune.epochs",
)
# Not counts, but settings the profile leaves to the machine: its two location placeholders, and
# the loopback host of the local server that stands in for iMaterialist's image hosts (the
# downloader refuses internal addresses unless download.allowed_hosts names them).
LOCAL_KEYS = ("datasets.source.location", "datasets.target.location", "download.allowed_hosts")
SOURCE, TARGET, SERVED = "samples/deepfashion", "samples/imaterialist", "samples/imaterialist_images"
TABLE1 = tuple(paper.TABLE1_ACCURACY)
TRANSFER = ("last_layer", "whole_model", "scratch")  # benchmark trains nothing


def first_two(grids: dict) -> dict:
    """Each tuning grid cut to its first two values."""
    return {step: {knob: list(values[:2]) for knob, values in knobs.items()} for step, knobs in grids.items()}


def overlay(per_class: int = PER_CLASS, source: str = SOURCE, target: str = TARGET) -> dict:
    """What the smoke changes on top of the paper profile: COUNT_KEYS, LOCAL_KEYS and the cut grids."""
    return {
        "datasets": {
            "source": {"location": source, "per_class": per_class},
            "target": {"location": target, "per_class": per_class},
        },
        "download": {"max_per_class": per_class, "allowed_hosts": ["127.0.0.1"]},
        "train": {"epochs": 1},
        "tune": {"trial": {"epochs": 1, "subset": TRIAL_SUBSET}, "noise_seeds": 2, "grids": first_two(paper.GRIDS)},
        "final": {"epochs": 1},
        "finetune": {"epochs": 1},
    }


def apply(params: Path, profiles: Path, per_class: int = PER_CLASS) -> str:
    """Rewrite `params` with the paper profile, then the overlay; validated before it is written."""
    profile.apply("paper", params, profiles)
    text = profile.rewritten(params.read_text(encoding="utf-8"), overlay(per_class), str(params))
    typed.build(config.Config, typed.parse(text, str(params)), "")
    write_text(params, text)
    return text


# ---------------------------------------------------------------- the run


def _env(work: Path) -> dict:
    """The stages' environment: this interpreter's tools first, and the scratch copy's own package."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(work / "src"), os.environ.get("PYTHONPATH")])),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DVC_NO_ANALYTICS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def scratch_copy(work: Path) -> None:
    """This working tree's tracked and untracked (not ignored) files, committed to a fresh git repository."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, work / name)
    git = ["git", "-c", "user.name=paper-smoke", "-c", "user.email=paper-smoke@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "scratch copy"]):  # DVCLive needs a commit
        subprocess.run(git + command, cwd=work, check=True, capture_output=True)


def repro(work: Path, log: Path) -> None:
    """`dvc repro report` in `work`, its output in `log`; each stage's start printed."""
    stage, last = "?", ""
    with open(log, "w", encoding="utf-8") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro", "report"],
            cwd=work,
            env=_env(work),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for line in run.stdout:
            out.write(line)
            if line.strip() and not line.startswith(("ERROR: failed to reproduce", "I0000", "W0000")):
                last = line.strip()
            if line.startswith("Running stage"):
                stage = line.split("'")[1]
                print(f"  {time.strftime('%H:%M:%S')} {stage}", flush=True)
        code = run.wait()
    if code:
        said = f": {last[:200]}" if last else ""
        raise FashionError(f"{log}: dvc repro failed in stage {stage} (exit {code}){said}")


# ---------------------------------------------------------------- the table


def _details(work: Path, name: str) -> dict:
    path = work / "metrics/details" / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FashionError(f"{path}: unreadable ({exc})") from None


def stage_rates(work: Path) -> list[dict]:
    """Per training stage: trainings, images fitted (train + per-epoch val), fit seconds, images/s."""
    source = _details(work, "data/split_source.json")["images"]
    target = _details(work, "data/split_target.json")["images"]
    rows = []

    def add(name, d, trainings, images, seconds):
        rows.append(dict(stage=name, trainings=trainings, images=images, seconds=seconds, wall=d.get("stage_seconds")))

    for arch in TABLE1:
        d = _details(work, f"train/{arch}.json")
        add(f"train@{arch}", d, 1, d["epochs"] * (source["train"] + source["val"]), d["fit_seconds"])
    for step in paper.GRIDS:
        d = _details(work, f"tune/{step}.json")
        budget = d["trial_budget"]
        # rows carried from an earlier step have no fit time; a row the memo reused within the step (a
        # later knob's round meeting the current best again) repeats its trial's record: count it once
        trained = list(
            {
                (t["fit_seconds"], t["val_accuracy"], t["epochs"]): t
                for t in d["trials"]
                if t.get("fit_seconds") is not None
            }.values()
        )
        # a trial validates every epoch only under early stopping; otherwise it is scored after its fit
        val = (budget["val_subset"] or source["val"]) if budget["patience"] > 0 else 0
        images = sum(t["epochs"] for t in trained) * (budget["train_images"] + val)
        add(f"tune@{step}", d, len(trained), images, sum(t["fit_seconds"] for t in trained))
    d = _details(work, "final.json")
    add("final", d, 1, d["epochs"] * (source["train"] + source["val"]), d["fit_seconds"])
    for experiment in TRANSFER:
        d = _details(work, f"finetune/{experiment}.json")
        add(f"finetune@{experiment}", d, 1, d["epochs"] * (target["train"] + target["val"]), d["fit_seconds"])
    for row in rows:
        row["rate"] = row["images"] / row["seconds"] if row["seconds"] else 0.0
    return rows


def paper_hours(rows: list[dict], epochs: int) -> dict[str, float]:
    """Seconds of the full paper run's trainings at these rates, by part (gpu_check's training_seconds)."""
    by = {r["stage"]: r["rate"] for r in rows}
    source, target = PAPER.images(PAPER.source_per_class), PAPER.images(PAPER.target_per_class)
    tuning = [r for r in rows if r["stage"].startswith("tune@")]
    trial_rate = sum(r["images"] for r in tuning) / sum(r["seconds"] for r in tuning)

    def at(rate: float, images) -> float:
        return training_seconds(epochs, images, Rates(rate, rate))

    return {
        "Table 1": sum(at(by[f"train@{arch}"], source) for arch in TABLE1),
        f"tune_noise + tuning ({PAPER.noise + sum(PAPER.tuning_rounds)} trainings at the trials' rate)": (
            (PAPER.noise + sum(PAPER.tuning_rounds)) * at(trial_rate, source)
        ),
        "final": at(by["final"], source),
        "transfer": sum(at(by[f"finetune@{e}"], target) for e in TRANSFER),
    }


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.0f} days"
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def chosen(work: Path) -> str:
    """Which architecture select_best chose, and the Table 1 accuracies it chose from."""
    best = _details(work, "table1.json")["best"]
    accuracies = ", ".join(f"{a} {_details(work, f'train/{a}.json')['val_accuracy']}" for a in TABLE1)
    return (
        f"select_best chose {best} (validation accuracy {accuracies}; a tie goes to the first in params.yaml), so "
        f"the tune, final and finetune rows train {best}, as the paper's run would train its Table 1 winner."
    )


def table(
    rows: list[dict], epochs: int, wall: float, repro_s: float, per_class: int, gpu: Rates | None, note: str = ""
) -> str:
    parts = paper_hours(rows, epochs)
    v2 = next(r["rate"] for r in rows if r["stage"] == "train@resnet50v2")
    date = datetime.date.today().strftime("%-d %B %Y")
    lines = [
        "# The paper's path, run small: images/s at 224 px",
        "",
        f"{date}, `make paper-smoke` (`python bench/paper_smoke.py --per-class {per_class}`); machine: {machine()}; "
        f"the paper profile with {per_class} images per class, 1 epoch per training, the grids' first two values; "
        f"wall time {_duration(wall)} from the copy of the working tree (`dvc repro report` {_duration(repro_s)}); "
        f"load average over the last 15 minutes at the end: {os.getloadavg()[2]:.1f} (above the cores: other work "
        f"shared them).",
        "",
        *([note, ""] if note else []),
        "| stage | trainings | images fitted | fit s | images/s | stage s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        stage_s = f"{r['wall']:.0f}" if r["wall"] is not None else "-"
        cells = (r["stage"], r["trainings"], r["images"], f"{r['seconds']:.1f}", f"{r['rate']:.2f}", stage_s)
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += [
        "",
        f"Images fitted: the training images of every epoch plus the validation images each epoch scores; fit s: "
        f"the stage's `fit_seconds` (metrics/details), first-step tracing included, so at this size the rates are "
        f"low and the times below upper bounds; stage s: the stage's whole wall time (`stage_seconds`: start-up, "
        f"data, scoring, saving the model). The full paper run ({PAPER.trainings} trainings of "
        f"{epochs} epochs, the paper profile's cap, on {PAPER.classes} classes x {PAPER.source_per_class:,} images; "
        f"`bench/gpu_check.py`'s `training_seconds` and `PAPER`):",
        "",
        "| where | full paper run |",
        "|---|---|",
    ]
    for name, seconds in parts.items():
        lines.append(f"| this machine: {name} | {_duration(seconds)} |")
    lines.append(f"| **this machine, all trainings one after another** | **{_duration(sum(parts.values()))}** |")
    lines.append(
        f"| this machine, `gpu_check.estimate` at train@resnet50v2's rate for every training | "
        f"{_duration(estimate(epochs, Rates(v2, v2)).one_gpu)} |"
    )
    if gpu:
        lines.append(
            f"| one GPU, `gpu_check.estimate` at {gpu.train:.0f} / {gpu.val:.0f} images/s (train / val, --gpu-rates) | "
            f"{_duration(estimate(epochs, gpu).one_gpu)} |"
        )
    else:
        lines.append(
            "| one GPU | not measured here: `python bench/gpu_check.py` on a GPU machine prints the one-GPU rates; "
            "`--gpu-rates TRAIN VAL` puts them in this table |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- entry point


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--per-class", type=int, default=PER_CLASS, help="images per class in both datasets")
    p.add_argument("--workdir", type=Path, help="scratch folder (default: a new one under the temp folder)")
    p.add_argument("--out", type=Path, default=ROOT / "bench/paper_smoke.md", help="where the table goes")
    p.add_argument("--gpu-rates", type=float, nargs=2, metavar=("TRAIN", "VAL"), help="gpu_check's one-GPU rates")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder after a run that succeeds")
    args = p.parse_args()
    started = time.perf_counter()
    try:
        work = args.workdir or Path(tempfile.mkdtemp(prefix="paper-smoke-"))
        if work.exists() and any(work.iterdir()):
            raise FashionError(f"{work}: the scratch folder must be empty or absent")
        work.mkdir(parents=True, exist_ok=True)
        print(f"scratch copy in {work}", flush=True)
        scratch_copy(work)
        apply(work / "params.yaml", work / "config/profiles", args.per_class)
        (work / SERVED).mkdir(parents=True)
        with samples.serve(work / SERVED) as url:
            samples.deepfashion(work / SOURCE, work / "config/classes/deepfashion_paper.yaml", args.per_class)
            target_map = work / "config/classes/imaterialist_paper.yaml"
            samples.imaterialist(work / TARGET, target_map, args.per_class, url, work / SERVED)
            print(f"dvc repro report (log: {work / 'repro.log'})", flush=True)
            repro_started = time.perf_counter()
            repro(work, work / "repro.log")
            repro_s = time.perf_counter() - repro_started
        epochs = profile.load_profile("paper", work / "config/profiles")["train"]["epochs"]
        gpu = Rates(*args.gpu_rates) if args.gpu_rates else None
        wall = time.perf_counter() - started
        text = table(stage_rates(work), epochs, wall, repro_s, args.per_class, gpu, chosen(work))
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_text(args.out, text)
    print(text)
    print(f"written to {args.out}")
    if not args.keep:  # at 224 px its models and DVC cache take gigabytes (VGG16's 134M weights)
        shutil.rmtree(work)
        print(f"removed {work} (--keep keeps it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
