"""The sequential grid search: trial reuse is exact, failures are recorded, each step keeps its best."""

from __future__ import annotations

import dataclasses
import os

import fixtures
import keras
import numpy as np
import pytest

from fashioncat import config, paper, typed
from fashioncat.config import Augment, Hyper
from fashioncat.contracts import STEPS, Choice, read_choice, read_trial, write_choice
from fashioncat.errors import FashionError
from fashioncat.model import models, training
from fashioncat.model.grid import rounds
from fashioncat.model.memo import Memo
from fashioncat.model.search import better, run_step
from fashioncat.model.splits import Splits, load_splits, stratified_subset, with_subsets
from fashioncat.model.step_report import step_report
from fashioncat.model.trials import Trial, TrialRunner
from fashioncat.reporting import report

START = Choice(
    "vgg16",
    Hyper(
        initializer="glorot_uniform",
        optimizer="adam",
        learning_rate=0.001,
        decay=0.9,
        regularizer="l1",
        l1=1e-5,
        l2=1e-4,
    ),
    Augment(),
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    fixtures.split_folder(root, per_split=(24, 8, 8))
    here = os.getcwd()
    os.chdir(root)  # manifests name images relative to the repository root
    try:
        return load_splits("data/split/source", 32, names=("train", "val"))
    finally:
        os.chdir(here)


def runner(data):
    return TrialRunner("vgg16", data, image_size=32, batch_size=8, seed=7)


def test_rounds_follow_the_paper():
    grids = typed.build(config.Grids, paper.GRIDS, "tune.grids")
    augmentation = rounds("augmentation", grids.augmentation)
    assert [list(r[0]) for r in augmentation] == [["rotation"], ["shear"], ["zoom"], ["horizontal_flip"]]
    assert [len(r) for r in augmentation] == [4, 4, 4, 2]
    (pairs,) = rounds("lr_regularizer", grids.lr_regularizer)
    assert len(pairs) == 9 and pairs[0] == {"learning_rate": 0.01, "regularizer": "l1"}
    assert all(
        paper.tuning_accuracy(step, c) is not None
        for step in STEPS
        for r in rounds(step, getattr(grids, step))
        for c in r
    )


def test_a_reused_model_trains_exactly_as_a_fresh_one(data):
    """Weights, optimizer slots, learning rate and penalty are all reset between trials."""
    shared = runner(data)
    other = START.with_changes({"regularizer": "l2", "learning_rate": 0.01, "rotation": 10.0})
    first = shared.run(START, {}, epochs=2, patience=0)
    shared.run(other, {}, epochs=2, patience=0)
    again = shared.run(START, {}, epochs=2, patience=0)
    fresh = runner(data).run(START, {}, epochs=2, patience=0)
    assert first.train_loss == again.train_loss == fresh.train_loss
    assert first.val_accuracy == again.val_accuracy == fresh.val_accuracy
    assert len(first.train_loss) == 2 and not first.failed


def test_a_new_initializer_and_optimizer_on_a_shared_model_train_exactly_as_a_fresh_build(data):
    """The initializer's weights are drawn without reseeding TensorFlow, and the new optimizer's
    compile keeps the traced prediction step: the trial still equals a fresh build's."""
    shared = runner(data)
    shared.run(START, {}, epochs=1, patience=0)
    changed = START.with_changes({"initializer": "he_normal", "optimizer": "sgd"})
    on_shared = shared.run(changed, {}, epochs=2, patience=0)
    fresh = runner(data).run(changed, {}, epochs=2, patience=0)
    assert on_shared.train_loss == fresh.train_loss and on_shared.val_accuracy == fresh.val_accuracy
    assert on_shared.val_accuracy is not None and len(on_shared.train_loss) == 2


def test_initial_weights_equal_a_fresh_builds_bit_for_bit_also_after_a_reseed(data):
    shared = runner(data)
    shared.run(START, {}, epochs=1, patience=0)
    for seed, initializer in ((7, "he_uniform"), (11, "glorot_uniform")):
        shared.reseed(seed)
        hyper = dataclasses.replace(START.hyper, initializer=initializer)
        drawn = shared._initial_weights(hyper)
        training.prepare(seed)
        built = models.build("vgg16", len(data.classes), 32, hyper).get_weights()
        assert len(drawn) == len(built)
        assert all(np.array_equal(a, b) for a, b in zip(drawn, built, strict=True)), (seed, initializer)


def test_the_penalty_is_the_configured_one(data):
    """The tuned penalty equals what keras' own L1/L2 regularizers give for the same weights."""
    shared = runner(data)
    shared.run(START, {}, epochs=1, patience=0)
    model = shared._model
    kernels = [
        layer.kernel
        for layer in model._flatten_layers()
        if hasattr(layer, "kernel_regularizer") and hasattr(layer, "kernel")
    ]
    reference = {
        "l1": keras.regularizers.L1(START.hyper.l1),
        "l2": keras.regularizers.L2(START.hyper.l2),
        "l1_l2": keras.regularizers.L1L2(l1=START.hyper.l1, l2=START.hyper.l2),
    }
    for choice in ("l1", "l2", "l1_l2", "none"):
        shared.strengths.set(dataclasses.replace(START.hyper, regularizer=choice))
        expected = sum(float(reference[choice](k)) for k in kernels) if choice != "none" else 0.0
        assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4, abs=1e-12), choice


def test_a_diverging_trial_is_recorded_as_failed(data):
    boom = START.with_changes({"optimizer": "sgd", "learning_rate": 1e6, "regularizer": "none"})
    trial = runner(data).run(boom, {"learning_rate": 1e6}, epochs=2, patience=0)
    assert trial.failed and trial.val_accuracy is None
    assert not better(trial, None)


class ScoredRunner:
    """Stands in for training: a fixed score per configuration, to check what the search keeps."""

    def __init__(self, scores):
        self.scores, self.calls = scores, []

    def run(self, choice, changes, *, epochs, patience):
        self.calls.append(changes)
        key = (choice.augment.rotation, choice.augment.shear)
        return Trial(changes, self.scores.get(key, 0.1), 1.0, epochs)


def test_augmentation_sweeps_each_knob_from_the_best_so_far(tmp_path):
    grid = config.AugmentGrid(rotation=[0, 10, 30], shear=[0, 0.2], zoom=[0], horizontal_flip=[False])
    scores = {(0, 0): 0.5, (10, 0): 0.6, (30, 0): 0.4, (10, 0.2): 0.7, (0, 0.2): 0.9}
    fake = ScoredRunner(scores)
    memo = Memo(tmp_path / "trials.json", "key")
    result = run_step("augmentation", grid, START, fake, memo, epochs=1, patience=0, log=lambda _: None)
    assert result.chosen.augment.rotation == 10 and result.chosen.augment.shear == 0.2  # (0, 0.2) never tried
    assert len(result.trials) == 7 and result.reused == 3 and len(fake.calls) == 4


def test_an_interrupted_step_resumes_its_finished_trials(tmp_path):
    grid = config.InitializerGrid(initializer=["he_normal", "zeros"])

    def step(runner, fingerprint):
        memo = Memo(tmp_path / "trials.json", fingerprint)
        run_step("initializer", grid, START, runner, memo, epochs=1, patience=0, log=lambda _: None)

    step(ScoredRunner({}), "key")
    again = ScoredRunner({})
    step(again, "key")
    assert again.calls == []
    other = ScoredRunner({})
    step(other, "changed")
    assert len(other.calls) == 2


def test_the_next_step_takes_the_choice_files_score_instead_of_training_it_again(tmp_path):
    quiet = dict(epochs=1, patience=0, log=lambda _: None)
    grid = config.AugmentGrid(rotation=[0, 10], shear=[0], zoom=[0], horizontal_flip=[False])
    memo = Memo(tmp_path / "a", "key")
    first = run_step("augmentation", grid, START, ScoredRunner({(10, 0): 0.6}), memo, **quiet)
    write_choice(tmp_path / "augmentation.json", first.chosen, first.score)
    start, score = read_choice(tmp_path / "augmentation.json"), read_trial(tmp_path / "augmentation.json")
    assert start == first.chosen and score["val_accuracy"] == 0.6 and score["step"] == "augmentation"

    grid = config.InitializerGrid(initializer=["he_normal", "glorot_uniform"])
    fake, memo = ScoredRunner({}), Memo(tmp_path / "b", "key")
    memo.carry(start, score)
    second = run_step("initializer", grid, start, fake, memo, **quiet)
    assert fake.calls == [{"initializer": "he_normal"}]  # glorot_uniform is the start: not trained again
    carried = second.trials[1]
    assert (carried.val_accuracy, carried.fit_seconds, carried.carried_from) == (0.6, None, "augmentation")
    assert second.reused == 1 and second.chosen == start and second.score["step"] == "augmentation"
    m = step_report(
        "initializer", grid, start, second, config.TrialConfig(epochs=1, subset=8, val_subset=0, patience=0), 8
    )
    assert m["trials_run"] == 1
    lines = report.tuning_step("initializer", m)
    assert "| initializer glorot_uniform | 60.0% | 77.5% | – |" in lines
    assert any(line.startswith("initializer glorot_uniform: not trained again") for line in lines)

    other, memo = ScoredRunner({}), Memo(tmp_path / "c", "another budget")
    memo.carry(start, score)
    run_step("initializer", grid, start, other, memo, **quiet)
    assert len(other.calls) == 2


def test_ties_keep_the_first_configuration_and_failures_never_win():
    a = Trial({"x": 1}, 0.5, 1.0, 1)
    assert better(a, None)
    assert not better(Trial({"x": 2}, 0.5, 1.0, 1), a)
    assert not better(Trial({"x": 3}, 0.9, 1.0, 1, failed="diverged"), a)


def test_stratified_subset_is_balanced_and_seeded():
    labels = np.repeat(np.arange(4), 25)
    picked = stratified_subset(labels, 40, seed=3)
    assert np.bincount(labels[picked]).tolist() == [10, 10, 10, 10]
    assert np.array_equal(picked, stratified_subset(labels, 40, seed=3))
    assert len(stratified_subset(labels, 0, seed=3)) == 100


def test_trial_subsets_cut_train_and_val_to_balanced_seeded_subsets():
    labels = np.repeat(np.arange(4), 25)
    images = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1)
    splits = Splits(list("abcd"), {}, {}, {})
    for name in ("train", "val"):
        splits.images[name], splits.labels[name], splits.paths[name] = images, labels, [str(i) for i in range(100)]
    sizes = config.TrialConfig(epochs=1, subset=40, val_subset=20, patience=0).subsets
    cut = with_subsets(splits, sizes, 3, names=("train", "val"))
    assert np.bincount(cut.labels["train"]).tolist() == [10] * 4
    assert np.bincount(cut.labels["val"]).tolist() == [5] * 4
    # images, labels and paths stay aligned, and the same seed gives the same cut
    assert [int(p) for p in cut.paths["val"]] == cut.images["val"].ravel().tolist()
    assert (cut.labels["val"] == labels[cut.images["val"].ravel()]).all()
    assert cut.digest() == with_subsets(splits, sizes, 3, names=("train", "val")).digest()
    assert len(with_subsets(splits, {"train": 40}, 3, names=("train", "val")).labels["val"]) == 100
    # a subset cut again to its own size stays whole: tuning_runner may get splits already cut
    assert with_subsets(cut, sizes, 99, names=("train", "val")).digest() == cut.digest()


def test_load_splits_decodes_only_the_subsets_and_gives_what_cutting_afterwards_gives(tmp_path, monkeypatch):
    fixtures.split_folder(tmp_path, classes=("a", "b", "c"), per_split=(10, 6, 2))
    monkeypatch.chdir(tmp_path)  # manifests name images relative to the repository root
    names, sizes = ("train", "val"), {"train": 9, "val": 6}
    whole = load_splits("data/split/source", 32, names)
    expected = with_subsets(whole, sizes, 5, names)
    cut = load_splits("data/split/source", 32, names, sizes, 5)
    for name in names:
        assert cut.paths[name] == expected.paths[name]
        assert np.array_equal(cut.labels[name], expected.labels[name])
        assert np.array_equal(cut.images[name], expected.images[name])
    assert len(cut.paths["train"]) == 9 and len(cut.paths["val"]) == 6
    # an image the subsets leave out is never decoded: spoiling one breaks only the whole load
    left_out = next(p for p in whole.paths["train"] if p not in cut.paths["train"])
    (tmp_path / left_out).write_bytes(b"not an image")
    assert load_splits("data/split/source", 32, names, sizes, 5).digest() == cut.digest()
    with pytest.raises(FashionError, match=os.path.basename(left_out)):
        load_splits("data/split/source", 32, names)


def test_choice_files_round_trip(tmp_path):
    chosen = START.with_changes({"optimizer": "adadelta", "zoom": 0.05})
    write_choice(tmp_path / "c.json", chosen)
    assert read_choice(tmp_path / "c.json") == chosen
