"""metrics/report.md's parts that read params: what this run used beside what the paper used."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashioncat import config, stage
from fashioncat.config import Hyper, Override
from fashioncat.errors import FashionError
from fashioncat.reporting import report

TABLE1 = {
    "best": "resnet50v2",
    "architectures": {
        name: {"val_accuracy": acc, "paper_accuracy": 0.7, "fit_seconds": 80.0}
        for name, acc in (("vgg16", 0.21), ("resnet50v2", 0.66))
    },
}


def test_table1_states_this_runs_configuration_and_the_papers_apart():
    hyper = Hyper("glorot_uniform", "adam", 0.001, 0.9, "l1", 1e-6, 1e-5)
    lines = report.table1(TABLE1, hyper, {"vgg16": Override(learning_rate=0.0001), "resnet50v2": Override()})
    assert lines[0] == "## Table 1: architectures"
    assert lines[2] == (
        "This run: optimizer adam, initializer glorot_uniform, learning_rate 0.001, decay 0.9, regularizer l1,"
        " augmentation none; vgg16: learning_rate 0.0001."
    )
    assert lines[3].startswith("Paper: optimizer adam, initializer glorot_uniform, learning_rate 0.01,")
    assert "| vgg16 | 21.0% | 70.0% | 80 |" in lines


def test_an_architecture_at_chance_is_explained_from_its_losses_and_only_that_one(tmp_path):
    from fashioncat.io import write_json

    at_chance = {**TABLE1, "architectures": {**TABLE1["architectures"], "vgg16": {**TABLE1["architectures"]["vgg16"]}}}
    at_chance["architectures"]["vgg16"]["val_accuracy"] = 0.1
    for name, loss in (("vgg16", 2.708), ("resnet50v2", 1.2)):
        write_json(tmp_path / name / "metrics.json", {"train": {"loss": loss}, "val": {"loss": loss - 0.08}})
    hyper = Hyper("glorot_uniform", "adam", 0.001, 0.9, "l1", 1e-6, 1e-5)
    lines = report.table1(at_chance, hyper, {}, tmp_path)
    why = [line for line in lines if "scored chance" in line]
    assert len(why) == 1 and why[0].startswith("vgg16 scored chance: after its last epoch its training loss was 2.71")
    assert "validation loss 2.63" in why[0] and "(2.30)" in why[0] and "`-S`" in why[0]
    assert not [line for line in report.table1(TABLE1, hyper, {}, tmp_path) if "scored chance" in line]
    assert not [line for line in report.table1(at_chance, hyper, {}) if "scored chance" in line]


def test_the_band_budget_ignores_the_seed_and_where_work_runs_but_not_the_budget():
    from fashioncat.reporting.noise_band import budget_digest

    params = {"seed": 1, "tune": {"executor": "local", "ray": {"num_cpus": 1}, "trial": {"subset": 640}}}
    moved = {"seed": 2, "tune": {"executor": "ray", "ray": {"num_cpus": 2}, "trial": {"subset": 640}}}
    assert budget_digest(params) == budget_digest(moved)
    assert budget_digest(params) != budget_digest({**params, "tune": {**params["tune"], "trial": {"subset": 512}}})
    assert params["tune"]["executor"] == "local"  # the digest works on a copy


def test_the_departures_read_only_params_the_report_stage_declares():
    root = Path(__file__).resolve().parents[1]
    cfg = config.load(root / "params.yaml")
    declared = stage.declared_params("report", root / "dvc.yaml")
    text = "\n".join(report.departures(config.Declared(cfg, declared, "report")))
    assert "half cosine" in text and "1500 validation images" in text  # the default run's final.anneal, val_subset
    assert "the tuned learning rate times 2" in text  # final.learning_rate_scale
    # the guard is what makes this check bite: the same read with one key undeclared fails, naming it
    fewer = [key for key in declared if key != "final.anneal"]
    with pytest.raises(FashionError, match="reads params.yaml key final.anneal"):
        report.departures(config.Declared(cfg, fewer, "report"))
