"""`tune.executor: ray`: a round's trials as Ray tasks give the same trials and the same choice as the loop."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import fixtures
import pytest
from test_config import write
from test_tuning import START

from fashioncat import config
from fashioncat.config import RayResources
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_default_is_the_sequential_loop(params):
    cfg = write(params)
    assert cfg.tune.executor == "local" and cfg.tune.ray == RayResources(num_cpus=1.0, num_gpus=0.0)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda t: t.update(executor="bogus"), "params.yaml: tune.executor must be one of local, ray, not 'bogus'"),
        (lambda t: t["ray"].update(num_cpus=0), "params.yaml: tune.ray.num_cpus must be positive, not 0.0"),
        (lambda t: t["ray"].update(num_gpus=-1), "params.yaml: tune.ray.num_gpus must not be negative, not -1.0"),
        (lambda t: t["ray"].update(gpus=1), "params.yaml: unknown key tune.ray.gpus (allowed: num_cpus, num_gpus)"),
    ],
)
def test_a_bad_executor_setting_is_one_line_naming_the_key(params, edit, message):
    edit(params["tune"])
    with pytest.raises(FashionError) as caught:
        write(params)
    assert str(caught.value) == message and "\n" not in str(caught.value)


def test_a_missing_ray_says_how_to_install_it(monkeypatch):
    from fashioncat.model import executors

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` then raises ImportError
    with pytest.raises(FashionError, match=r"pip install 'ray\[default\]==") as caught:
        with executors.ray_trials(object(), RayResources()):
            pass
    assert "\n" not in str(caught.value)


def test_the_ray_pin_is_the_requirements_pin():
    from fashioncat.model import executors

    assert executors.RAY_PIN in (ROOT / "requirements.txt").read_text()


@pytest.mark.slow
def test_ray_trials_equal_the_sequential_loop(tmp_path, monkeypatch):
    """The optimizer step (2 trials, 1 epoch each) sequentially and on a local 2-CPU Ray: same trials, same choice.

    65-80 s on 2 cores, most of it starting Ray and TensorFlow in its two workers.
    """
    pytest.importorskip("ray")
    from fashioncat.model import executors
    from fashioncat.model.memo import Memo
    from fashioncat.model.search import run_step
    from fashioncat.model.splits import load_splits
    from fashioncat.model.step_report import step_report
    from fashioncat.model.trials import TrialRunner

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    fixtures.split_folder(tmp_path, per_split=(24, 8, 8))
    here = os.getcwd()
    os.chdir(tmp_path)  # manifests name images relative to the repository root
    try:
        data = load_splits("data/split/source", 32, names=("train", "val"))
    finally:
        os.chdir(here)
    grid = config.OptimizerGrid(optimizer=["adam", "sgd"])

    def step(name, parallel=None):
        runner = TrialRunner("vgg16", data, image_size=32, batch_size=8, seed=7)
        memo = Memo(tmp_path / name / "trials.json", "key")
        if parallel is None:
            return run_step("optimizer", grid, START, runner, memo, epochs=1, patience=0, log=lambda _: None)
        with executors.ray_trials(runner, RayResources(num_cpus=1, num_gpus=0), local_cpus=2) as pool:
            return run_step(
                "optimizer", grid, START, runner, memo, epochs=1, patience=0, log=lambda _: None, parallel=pool
            )

    started = time.perf_counter()
    sequential = step("local")
    middle = time.perf_counter()
    on_ray = step("ray", parallel=True)
    print(f"sequential {middle - started:.1f} s, ray {time.perf_counter() - middle:.1f} s")

    assert on_ray.chosen.as_dict() == sequential.chosen.as_dict()
    assert on_ray.reused == sequential.reused == 0
    assert (
        [t.changes for t in on_ray.trials]
        == [t.changes for t in sequential.trials]
        == [
            {"optimizer": "adam"},
            {"optimizer": "sgd"},
        ]
    )
    for ray_trial, local_trial in zip(on_ray.trials, sequential.trials):
        assert ray_trial.val_accuracy == local_trial.val_accuracy is not None
        assert ray_trial.train_loss == local_trial.train_loss
        assert ray_trial.failed == local_trial.failed == ""
    report = {
        name: step_report(
            "optimizer", grid, START, r, config.TrialConfig(epochs=1, subset=0, val_subset=0, patience=0), 48
        )
        for name, r in (("local", sequential), ("ray", on_ray))
    }
    for r in report.values():
        for row in r["trials"]:
            row.pop("fit_seconds")
        r.pop("trial_budget")
    assert report["ray"] == report["local"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("resources", "name", "unit"),
    [
        (RayResources(num_cpus=1, num_gpus=64), "num_gpus", "GPUs"),
        (RayResources(num_cpus=64, num_gpus=0), "num_cpus", "CPUs"),
    ],
)
def test_more_gpus_or_cores_per_trial_than_any_node_has_is_refused_before_a_trial_starts(
    monkeypatch, resources, name, unit
):
    """Ray would queue every trial and the step would wait forever. About 6 s each: it starts Ray here and stops it."""
    pytest.importorskip("ray")
    import ray

    from fashioncat.model import executors

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(FashionError) as caught:
        with executors.ray_trials(object(), resources, local_cpus=1):
            pytest.fail("trials were set up")
    assert re.fullmatch(
        rf"params.yaml: tune.ray.{name} is 64 per trial, but the Ray started on this machine has \d+ {unit}: "
        rf"no trial could ever start \(lower tune.ray.{name}, or run where there are more {unit}\)",
        str(caught.value),
    )
    assert not ray.is_initialized()  # the Ray it started is stopped again
