"""The files a Table 6 experiment leaves beside its report: its model, and the benchmark's dvclive scores.

The trained experiments' dvclive curves are written while they train (`training.fit`); the
confusion matrix is a plot, drawn by the stage.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fashioncat.contracts import TABLE6_METRICS
from fashioncat.io import atomic_path
from fashioncat.model.checkpoints import save_model


def write(outcome: dict, *, source: Path, model_path: Path | None, live: Path | None) -> None:
    """`outcome`'s model to `model_path` (if given), and for the benchmark its test scores to the dvclive folder `live`.

    `source` is the source model's file, which the benchmark copies rather than saves again.
    """
    if model_path is not None:
        write_model(outcome["model"], source, model_path)
    if live is not None and outcome["experiment"] == "benchmark":
        benchmark_live(live, outcome)


def write_model(model, source: Path, path: Path) -> None:
    """Trained experiments save theirs; the benchmark (`model` None) copies the source file byte for byte
    (DVC then caches one object for both, and every finetune@ stage has the same outputs)."""
    if model is None:
        with atomic_path(path) as tmp:
            shutil.copyfile(source, tmp)
    else:
        save_model(model, path)


def benchmark_live(folder: Path, outcome: dict) -> None:
    """No curves without training: the benchmark's dvclive folder holds its test scores only."""
    from dvclive import Live

    shutil.rmtree(folder, ignore_errors=True)
    live = Live(str(folder), dvcyaml=None, save_dvc_exp=False, report=None)
    for key in TABLE6_METRICS:
        live.log_metric(f"test/{key}", outcome[key], plot=False)
    live.end()
