"""Table 6's transfer experiments on tiny data: what each one trains, keeps and reports."""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import fixtures
import keras
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from fashioncat.config import Augment, FinetuneConfig, Hyper, Retrain
from fashioncat.contracts import EXPERIMENTS, Choice, write_choice
from fashioncat.errors import FashionError
from fashioncat.model import models, transfer
from fashioncat.model.checkpoints import save_model
from fashioncat.model.splits import Splits
from fashioncat.reporting.finetune_summary import summary
from fashioncat.spec import TrainingSpec

ROOT = Path(__file__).resolve().parents[2]
HYPER = Hyper(
    initializer="he_uniform", optimizer="adam", learning_rate=0.001, decay=0.9, regularizer="l2", l1=0.0, l2=1e-4
)
CHOICE = Choice("vgg16", HYPER, Augment(rotation=10, horizontal_flip=True))
CLASSES = ["a", "b"]


def finetune(batch_norm="frozen", epochs=2) -> FinetuneConfig:
    # rates far above the params.yaml ones so two tiny epochs visibly move every trained weight
    return FinetuneConfig(
        epochs=epochs,
        patience=0,
        min_delta=0.0,
        batch_norm=batch_norm,
        last_layer=Retrain("adam", 0.05, 1.0),
        whole_model=Retrain("sgd", 0.05, 0.9),
    )


def setup(tmp_path: Path, name: str, **kw) -> transfer.Setup:
    budget = finetune(**kw)
    scratch = TrainingSpec(
        CHOICE.architecture, CHOICE.hyper, CHOICE.augment, 32, batch_size=8, epochs=budget.epochs, patience=0, seed=3
    )
    return transfer.Setup(CHOICE, budget, scratch, checkpoints=tmp_path / name, verbose=0)


def tiny_source(classes, size=32) -> keras.Model:
    """models.build's layout (input -> rescaling -> nested network ending in a Dense softmax), in miniature."""
    keras.utils.set_random_seed(0)
    x = image = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Activation("relu")(x))
    network = keras.Model(
        image, keras.layers.Dense(len(classes), activation="softmax", name="predictions")(x), name="network"
    )
    inputs = keras.Input((size, size, 3), name="rgb_0_255")
    return keras.Model(inputs, network(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)), name="tiny")


def splits(classes, per_split=(12, 4, 6), size=32) -> Splits:
    """In-memory target splits; class k is bright in quarter k % 4, as in fixtures.split_folder."""
    out = Splits(list(classes), {}, {}, {})
    rng = np.random.default_rng(1)
    for name, count in zip(("train", "val", "test"), per_split):
        labels = np.repeat(np.arange(len(classes)), count)
        images = rng.integers(0, 80, (len(labels), size, size, 3), dtype=np.uint8)
        for i, k in enumerate(labels):
            y, x = divmod(k % 4, 2)
            images[i, y * size // 2 : (y + 1) * size // 2, x * size // 2 : (x + 1) * size // 2] += 150
        out.images[name], out.labels[name] = images, labels
        out.paths[name] = [f"{name}/{i}.png" for i in range(len(labels))]
    return out


def weights(model: keras.Model) -> dict[str, np.ndarray]:
    return {w.path: np.array(w) for w in model.weights}


def changed(before: dict, after: dict) -> set[str]:
    return {path for path in before if not np.array_equal(before[path], after[path])}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """All four experiments once on the same target data (scratch trains a real vgg16 for one epoch)."""
    tmp = tmp_path_factory.mktemp("four")
    target = splits(CLASSES)
    done = {
        name: transfer.run_experiment(name, tiny_source(CLASSES), CLASSES, target, setup(tmp, name))
        for name in ("benchmark", "last_layer", "whole_model")
    }
    done["scratch"] = transfer.run_experiment("scratch", None, CLASSES, target, setup(tmp, "scratch", epochs=1))
    return done


def scores(y_true, y_pred) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 by scikit-learn, apart from the project's evaluation code."""
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(len(CLASSES))), average="macro", zero_division=0
    )
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "precision_macro": precision,
        "recall_macro": recall,
        "f1_macro": f1,
    }


def test_every_experiment_reports_the_scores_of_its_own_test_predictions(outcomes):
    labels = splits(CLASSES).labels["test"]  # the fixture's target: the same seeded arrays
    told_apart = []
    for name, outcome in outcomes.items():
        report = transfer.report(outcome)
        json.dumps(report)  # JSON-ready
        assert report["n"] == len(labels) == 12 and report["diverged"] == "", name
        assert outcome["probabilities"].shape == (12, 2), name
        y_pred = outcome["probabilities"].argmax(axis=1)
        expected = scores(labels, y_pred)
        assert {m: report[m] for m in expected} == pytest.approx(expected, abs=5e-5), name  # reports round to 4
        if len(set(y_pred)) > 1:
            told_apart.append(name)
            # control: the same predictions scored against the labels reversed give other numbers
            assert {m: report[m] for m in expected} != pytest.approx(scores(labels[::-1], y_pred), abs=5e-5), name
    # a model predicting one class scores 0.5 / 0.25 / 0.5 / 0.3333 on any balanced labels; at least one
    # experiment must tell the classes apart, or the comparison above could not catch the wrong labels
    assert told_apart, "every experiment predicts a single class"
    assert outcomes["benchmark"]["epochs"] == 0 and outcomes["benchmark"]["fit_seconds"] == 0
    assert outcomes["benchmark"]["model"] is None and outcomes["benchmark"]["target_classes_unknown"] == []
    assert outcomes["last_layer"]["epochs"] == outcomes["whole_model"]["epochs"] == 2
    assert outcomes["scratch"]["epochs"] == 1 and outcomes["scratch"]["model"].name == "vgg16"
    assert outcomes["last_layer"]["trainable_params"] == 4 * 2 + 2  # the head's kernel and bias only
    # frozen batch norm: everything trains but the batch-norm layer (gamma, beta, mean, variance of 4 channels)
    assert outcomes["whole_model"]["trainable_params"] == tiny_source(CLASSES).count_params() - 4 * 4


def hand_results(seconds: dict[str, float], accuracy: dict[str, float]) -> dict[str, dict]:
    """Reports with chosen fit times and accuracies, the other metrics fixed."""
    return {
        name: {
            "precision_macro": 0.5,
            "recall_macro": 0.5,
            "f1_macro": 0.5,
            "accuracy": accuracy[name],
            "fit_seconds": seconds[name],
            "epochs": 0 if name == "benchmark" else 3,
            "diverged": "",
        }
        for name in EXPERIMENTS
    }


def test_summary_trade_off_on_hand_worked_values():
    # whole_model 30 s against scratch 120 s: a quarter of the time, so three quarters saved;
    # 0.70 against 0.75 accuracy: a gap of -0.05
    seconds = {"benchmark": 0.0, "last_layer": 10.0, "whole_model": 30.0, "scratch": 120.0}
    accuracy = {"benchmark": 0.40, "last_layer": 0.55, "whole_model": 0.70, "scratch": 0.75}
    table = summary(hand_results(seconds, accuracy))
    assert table["time_saved"] == 0.75 and table["accuracy_gap"] == -0.05 and table["best"] == "scratch"
    # 1 - 7/9 = 0.2222..., rounded to 4 places; a slower fine-tuning saves a negative time
    assert summary(hand_results({**seconds, "whole_model": 70.0, "scratch": 90.0}, accuracy))["time_saved"] == 0.2222
    assert summary(hand_results({**seconds, "whole_model": 150.0}, accuracy))["time_saved"] == -0.25
    assert summary(hand_results({**seconds, "scratch": 0.0}, accuracy))["time_saved"] is None  # no time to compare


def test_summary_compares_with_the_paper(outcomes):
    results = {name: transfer.report(o) for name, o in outcomes.items()}
    table = summary(results)
    assert table["experiments"]["whole_model"]["fit_seconds"] == results["whole_model"]["fit_seconds"]
    assert table["paper_time_saved"] == 0.6 and table["paper_accuracy_gap"] == pytest.approx(-0.025)
    assert table["experiments"]["whole_model"]["paper_accuracy"] == 0.625
    del results["scratch"]
    with pytest.raises(FashionError, match="no results for scratch"):
        summary(results)


def test_last_layer_changes_the_classifier_only(tmp_path):
    source = tiny_source(CLASSES)
    before = weights(source)
    outcome = transfer.run_experiment("last_layer", source, CLASSES, splits(CLASSES), setup(tmp_path, "ll"))
    after = weights(outcome["model"])
    assert changed(before, after) == {"predictions/kernel", "predictions/bias"}
    assert outcome["head"] == "source"  # same classes: the source classifier is the starting point


@pytest.mark.parametrize("batch_norm", ["frozen", "train"])
def test_whole_model_batch_norm_setting(tmp_path, batch_norm):
    source = tiny_source(CLASSES)
    before = weights(source)
    outcome = transfer.run_experiment(
        "whole_model", source, CLASSES, splits(CLASSES), setup(tmp_path, "wm", batch_norm=batch_norm)
    )
    moved = changed(before, weights(outcome["model"]))
    statistics = {"bn/moving_mean", "bn/moving_variance", "bn/gamma", "bn/beta"}
    assert {"conv/kernel", "conv/bias", "predictions/kernel"} <= moved
    assert (moved & statistics) == (set() if batch_norm == "frozen" else statistics)


def test_other_target_classes_get_a_new_classifier(tmp_path):
    target = splits(["a", "b", "c"])
    source = tiny_source(CLASSES)
    outcome = transfer.run_experiment("last_layer", source, CLASSES, target, setup(tmp_path, "new"))
    assert outcome["head"] == "new" and outcome["model"].output_shape == (None, 3)
    assert outcome["probabilities"].shape == (18, 3) and outcome["trainable_params"] == 4 * 3 + 3
    np.testing.assert_array_equal(weights(outcome["model"])["conv/kernel"], weights(source)["conv/kernel"])


def test_a_retraining_marked_tuned_takes_the_tuned_optimizer_rate_and_decay_and_otherwise_its_own(tmp_path):
    own = setup(tmp_path, "own")
    assert transfer.settings_of("whole_model", own) == Retrain("sgd", 0.05, 0.9)  # finetune()'s own values
    paper_way = transfer.Setup(
        CHOICE,
        dataclasses.replace(own.finetune, whole_model=Retrain("sgd", 0.05, 0.9, tuned=True)),
        own.scratch,
        own.checkpoints,
    )
    # CHOICE trains with adam at 0.001, decay 0.9 (HYPER above)
    assert transfer.settings_of("whole_model", paper_way) == Retrain("adam", 0.001, 0.9, tuned=True)
    assert transfer.settings_of("last_layer", paper_way) == Retrain("adam", 0.05, 1.0)


def test_head_surgery_on_a_real_application_model():
    """models.build nests the keras.applications network; the new classifier goes inside it."""
    model = models.build("resnet50v2", 3, 32, HYPER)
    kept = weights(model)
    adapted, how = transfer.adapt_head(model, ["x", "y", "z"], ["x", "y", "z", "w"], HYPER)
    assert how == "new" and adapted.output_shape == (None, 4)
    head = transfer.classifier(adapted)
    assert head.name == "predictions" and head.units == 4 and adapted.layers[-1].name == model.layers[-1].name
    now = weights(adapted)
    assert all(np.array_equal(kept[p], now[p]) for p in kept if not p.startswith("predictions/"))
    kernel = np.array(transfer.classifier(model).kernel)
    _, how = transfer.adapt_head(model, ["x", "y", "z"], ["z", "x", "y"], HYPER)
    assert how == "reordered"
    np.testing.assert_array_equal(np.array(transfer.classifier(model).kernel), kernel[:, [2, 0, 1]])


def test_benchmark_matches_classes_by_name():
    source = tiny_source(["a", "b", "c"])
    target = splits(["a", "b", "c"])
    plain = transfer.benchmark(source, ["a", "b", "c"], target)
    order = [2, 0, 1]  # the target lists the same classes as c, a, b
    permuted = Splits(
        ["c", "a", "b"], target.images, {k: np.argsort(order)[v] for k, v in target.labels.items()}, target.paths
    )
    again = transfer.benchmark(source, ["a", "b", "c"], permuted)
    assert again["accuracy"] == plain["accuracy"] and again["f1_macro"] == plain["f1_macro"]
    np.testing.assert_allclose(again["probabilities"], plain["probabilities"][:, order])


def test_benchmark_target_class_the_source_cannot_name_is_an_error():
    source = tiny_source(["a", "b", "c"])
    target = splits(["a", "b", "z"])  # no "z" in the source; "c" not in the target
    outcome = transfer.benchmark(source, ["a", "b", "c"], target)
    assert outcome["target_classes_unknown"] == ["z"]
    assert not outcome["probabilities"][:, 2].any()
    np.testing.assert_allclose(outcome["probabilities"].sum(axis=1), 1)
    assert outcome["accuracy"] <= 2 / 3 and 0 <= outcome["source_only_top1"] <= 1
    with pytest.raises(FashionError, match="share no class name"):
        transfer.benchmark(source, ["a", "b", "c"], splits(["x", "y"]))


def stage_project(tmp_path: Path) -> Path:
    fixtures.split_folder(tmp_path, classes=CLASSES, per_split=(4, 4, 4))
    shutil.copytree(tmp_path / "data/split/source", tmp_path / "data/split/target")
    shutil.copyfile(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    write_choice(tmp_path / "data/tune/lr_decay.json", CHOICE)
    return tmp_path


def finetune_command(experiment: str, model: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "stages/finetune.py"),
        "--experiment",
        experiment,
        "--model",
        model,
        "--choice",
        "data/tune/lr_decay.json",
        "--split",
        "data/split/target",
        "--source-classes",
        "data/split/source/classes.json",
        "--out-model",
        f"models/finetune/{experiment}.keras",
        "--confusion-png",
        f"plots/4_transfer/{experiment}.png",
        "--live",
        f"dvclive/finetune/{experiment}",
        "--checkpoints",
        f"checkpoints/finetune/{experiment}",
        "--details",
        f"metrics/finetune/{experiment}.json",
    ]


def test_stage_missing_model_is_a_one_line_error(tmp_path):
    root = stage_project(tmp_path)
    done = subprocess.run(
        finetune_command("whole_model", "models/final.keras"), cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "error: models/final.keras: file not found"
    assert not (root / "metrics/finetune/whole_model.json").exists()


@pytest.mark.slow
def test_benchmark_and_summary_stages(tmp_path, outcomes):
    root = stage_project(tmp_path)
    save_model(tiny_source(CLASSES), root / "models/final.keras")
    done = subprocess.run(finetune_command("benchmark", "models/final.keras"), cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads((root / "metrics/finetune/benchmark.json").read_text())
    assert report["experiment"] == "benchmark" and report["n"] == 8 and "probabilities" not in report
    assert filecmp.cmp(root / "models/final.keras", root / "models/finetune/benchmark.keras", shallow=False)
    assert (root / "plots/4_transfer/benchmark.png").stat().st_size > 0
    assert (
        json.loads((root / "dvclive/finetune/benchmark/metrics.json").read_text())["test"]["accuracy"]
        == report["accuracy"]
    )
    # the other three from the library run, with fit times chosen so that any other pair than
    # whole_model against scratch gives another time_saved
    fit_seconds = {"last_layer": 10.0, "whole_model": 30.0, "scratch": 120.0}
    for name, seconds in fit_seconds.items():
        written = {**transfer.report(outcomes[name]), "fit_seconds": seconds}
        (root / f"metrics/finetune/{name}.json").write_text(json.dumps(written))
    # in this process: a second TensorFlow start-up would double the test's time
    summary_stage = runpy.run_path(str(ROOT / "stages/finetune_summary.py"))
    plots = root / "plots/4_transfer"
    args = argparse.Namespace(
        metrics_dir=str(root / "metrics/finetune"), plot=str(plots / "tradeoff.png"), bars=str(plots / "table6.png")
    )
    table = summary_stage["main"](args, None)
    assert set(table["experiments"]) == set(EXPERIMENTS)
    back = {name: json.loads((root / f"metrics/finetune/{name}.json").read_text()) for name in EXPERIMENTS}
    # 1 - whole_model / scratch = 1 - 30 / 120 = 0.75 (last_layer's 10 s would give 1 - 10 / 120 = 0.9167,
    # whole_model's own share 0.25, the pair swapped 1 - 120 / 30 = -3)
    assert (back["whole_model"]["fit_seconds"], back["scratch"]["fit_seconds"]) == (30.0, 120.0)
    assert table["time_saved"] == 0.75
    assert table["accuracy_gap"] == round(back["whole_model"]["accuracy"] - back["scratch"]["accuracy"], 4)
    for name in EXPERIMENTS:
        assert table["experiments"][name]["accuracy"] == back[name]["accuracy"], name
        assert table["experiments"][name]["fit_seconds"] == back[name]["fit_seconds"], name
    assert table["experiments"]["benchmark"]["accuracy"] == report["accuracy"]
    assert (plots / "tradeoff.png").is_file() and (plots / "table6.png").is_file()
