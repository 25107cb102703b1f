"""metrics/report.md's parts that read params: what this run used beside what the paper used."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashioncat import config, stage
from fashioncat.config import Hyper, Override
from fashioncat.declared import Declared
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
    root = Path(__file__).resolve().parents[2]
    cfg = config.load(root / "params.yaml")
    declared = stage.declared_params("report", root / "dvc.yaml")
    text = "\n".join(report.departures(Declared(cfg, declared, "report")))
    assert "half cosine" in text and "1500 validation images" in text  # the default run's final.anneal, val_subset
    assert "the tuned learning rate times 2" in text  # final.learning_rate_scale
    # the guard is what makes this check bite: the same read with one key undeclared fails, naming it
    fewer = [key for key in declared if key != "final.anneal"]
    with pytest.raises(FashionError, match="reads params.yaml key final.anneal"):
        report.departures(Declared(cfg, fewer, "report"))


def test_each_details_file_is_named_for_the_stage_that_wrote_it():
    from fashioncat.reporting.run_summary import stage_of

    cases = {
        "data/crop_source.json": "crop@source",
        "data/embed.json": "embed",
        "train/vgg16.json": "train@vgg16",
        "tune/noise.json": "tune_noise",
        "tune/lr_decay.json": "tune@lr_decay",
        "finetune/summary.json": "finetune_summary",
        "finetune/scratch.json": "finetune@scratch",
        "table1.json": "select_best",
        "evaluate_per_class.json": None,  # a second file of evaluate's, without stage time
        "report_stage.json": None,
    }
    assert {path: stage_of(Path(path)) for path in cases} == cases


def test_the_time_part_sums_stage_seconds_by_part_of_the_pipeline_and_names_the_machines():
    from fashioncat.reporting import run_summary

    reports = {
        "crop@source": {"stage_seconds": 30.0, "machine": "AMD EPYC, 2 cores"},
        "split@source": {"stage_seconds": 6.0},
        "train@vgg16": {"stage_seconds": 120.0, "machine": "AMD EPYC, 2 cores"},
        "final": {"stage_seconds": 600.0, "machine": "Intel Xeon, 2 cores"},
    }
    lines = run_summary.time_section(reports)
    # 30 + 6 + 120 + 600 = 756 s = 12.6 min; data 36 s = 0.6 min
    assert lines[0].startswith("Stage time, summed from every stage's `stage_seconds`: **12.6 min**.")
    assert "The stages ran on AMD EPYC, 2 cores; Intel Xeon, 2 cores." in lines[0]
    assert "| data | 0.6 min | crop@source 30 s, split@source 6 s |" in lines
    assert "| Table 1 | 2.0 min | train@vgg16 120 s |" in lines and "| final model | 10.0 min | final 600 s |" in lines


def test_the_data_part_counts_what_each_stage_kept_and_names_a_short_class():
    from fashioncat.reporting import run_summary

    reports = {
        "crop@source": {"in": 1200, "kept": 1190, "dropped": {"unreadable image": 10}},
        "balance@source": {"kept": 900, "per_class": {"a": {"kept": 500}, "b": {"kept": 400}}},
        "split@source": {"images": {"train": 630, "val": 135, "test": 135}},
    }
    lines = run_summary.data_section(reports)
    assert lines[2] == "| source | 1,200 | 10 unreadable image | 1,190 | 900 (400/500 per class) | 630 / 135 / 135 |"
    assert lines[-1].startswith("In source, balancing kept 500 images of most classes, but fewer of b 400:")


def test_the_epochs_part_reads_the_final_models_curves(tmp_path):
    from fashioncat.reporting import run_summary

    for split, values in (("val", (0.5, 0.61234)), ("train", (0.4, 0.7))):
        folder = tmp_path / "plots/metrics" / split
        folder.mkdir(parents=True)
        (folder / "accuracy.tsv").write_text("step\taccuracy\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(values)))
    assert run_summary.epochs_section(tmp_path) == [
        "| epoch | 1 | 2 |",
        "|---|---|---|",
        "| validation | 0.500 | 0.612 |",
        "| training | 0.400 | 0.700 |",
    ]
    assert run_summary.epochs_section(tmp_path / "none") == ["No per-epoch curves were recorded."]


def test_the_report_marks_every_part_for_the_docs_and_states_the_splits(tmp_path):
    lines = report.marked("table6", ["## Table 6", "row"])
    assert lines == ["<!-- --8<-- [start:table6] -->", "## Table 6", "row", "<!-- --8<-- [end:table6] -->", ""]
    ordered = {"experiments": {n: {"accuracy": a} for n, a in (("x", 0.5), ("y", 0.3), ("z", 0.5))}}
    assert report._order(ordered, "accuracy") == "y < x = z"
