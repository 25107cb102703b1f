"""Training that users can trust: deterministic on CPU, resumable after a kill, clear errors."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import fixtures
import keras
import numpy as np
import pytest
import yaml

from fashioncat.config import Augment, Hyper
from fashioncat.errors import FashionError
from fashioncat.model import models, training
from fashioncat.model.checkpoints import load_model
from fashioncat.model.splits import load_splits
from fashioncat.spec import TrainingSpec

ROOT = Path(__file__).resolve().parents[2]
HYPER = Hyper(
    initializer="glorot_uniform", optimizer="adam", learning_rate=0.001, decay=0.9, regularizer="l2", l1=0.0, l2=1e-4
)


def tiny_run(tmp_path: Path, name: str, splits):
    spec = TrainingSpec(
        "vgg16", HYPER, Augment(rotation=10, horizontal_flip=True), 32, batch_size=8, epochs=2, patience=0, seed=7
    )
    model, result = training.train_model(spec, splits, checkpoints=tmp_path / name, verbose=0)
    return training.probabilities(model, splits.images["test"]), result


@pytest.mark.slow
def test_same_parameters_give_identical_metrics_on_cpu(split_root):
    tmp_path = split_root
    splits = load_splits("data/split/source", 32)
    first, result = tiny_run(tmp_path, "one", splits)
    second, again = tiny_run(tmp_path, "two", splits)
    assert result.epochs == 2 and len(result.history["loss"]) == 2
    np.testing.assert_array_equal(first, second)
    assert result.history == again.history
    assert not (tmp_path / "one").exists()  # checkpoints are removed after success


def test_prediction_batch_shrinks_with_the_image_and_does_not_change_the_probabilities():
    assert [training.predict_batch(s) for s in (32, 64, 128, 224)] == [256, 256, 64, 32]
    model = models.build("resnet50v2", 3, 32, HYPER)
    images = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        training.probabilities(model, images), training.probabilities(model, images, 8), atol=1e-6
    )


def test_probabilities_are_keras_own_predictions_on_the_float_images_and_flip_averages_the_mirror():
    # the reference is Keras' predict given the whole float32 array (its own pipeline), so the
    # autotuner-free feed changes how the batches arrive, not what the model sees
    model = models.build("resnet50v2", 3, 32, HYPER)
    images = np.random.default_rng(1).integers(0, 256, (21, 32, 32, 3), dtype=np.uint8)
    plain = model.predict(images.astype("float32"), batch_size=8, verbose=0)
    mirrored = model.predict(images[:, :, ::-1, :].astype("float32"), batch_size=8, verbose=0)
    np.testing.assert_array_equal(training.probabilities(model, images, 8), plain)
    np.testing.assert_allclose(
        training.probabilities(model, images, 8, flip=True), (plain.astype("float64") + mirrored) / 2, rtol=1e-12
    )


def rates_seen(callback, epochs: int, steps: int) -> list[float]:
    """The optimizer's learning rate at each step, with `callback` driven as Keras' fit drives it."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.123), loss="mse")
    callback.set_model(model)
    seen = []
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch)
        for step in range(steps):
            callback.on_train_batch_begin(step)
            seen.append(float(model.optimizer.learning_rate.numpy()))
    return seen


def test_annealing_over_one_epoch_is_a_half_cosine_worked_by_hand():
    hyper = dataclasses.replace(HYPER, learning_rate=0.01, decay=0.5)
    seen = rates_seen(models.schedule(hyper, anneal=True, epochs=1, steps=4), epochs=1, steps=4)
    # step t of 4: 0.01 * (1 + cos(pi t / 4)) / 2, with cos(pi/4) = sqrt(2)/2:
    # 0.01, 0.01 (2 + sqrt 2) / 4, 0.01 / 2, 0.01 (2 - sqrt 2) / 4
    np.testing.assert_allclose(seen, [0.01, 0.0085355339059, 0.005, 0.0014644660941], rtol=1e-6)


def test_annealing_over_two_epochs_also_takes_the_tuned_decay_each_epoch():
    hyper = dataclasses.replace(HYPER, learning_rate=0.01, decay=0.5)
    seen = rates_seen(models.schedule(hyper, anneal=True, epochs=2, steps=4), epochs=2, steps=4)
    # step t of 8: 0.01 * 0.5 ** epoch * (1 + cos(pi t / 8)) / 2, with cos(pi/8) = sqrt(2 + sqrt 2) / 2 = 0.9238795325,
    # cos(pi/4) = 0.7071067812, cos(3 pi/8) = sqrt(2 - sqrt 2) / 2 = 0.3826834324, cos(pi/2) = 0, and the
    # later ones their negatives; epoch 1 (steps 4 to 7) at half the rate
    expected = [
        0.01,
        0.0096193976626,  # 0.01 * 1.9238795325 / 2
        0.0085355339059,  # 0.01 * 1.7071067812 / 2
        0.0069134171618,  # 0.01 * 1.3826834324 / 2
        0.0025,  # 0.005 * 1 / 2
        0.0015432914191,  # 0.005 * 0.6173165676 / 2
        0.0007322330470,  # 0.005 * 0.2928932188 / 2
        0.0001903011687,  # 0.005 * 0.0761204675 / 2
    ]
    np.testing.assert_allclose(seen, expected, rtol=1e-6)
    # a resumed run computes the same rate from the epoch and step alone
    resumed = models.schedule(hyper, anneal=True, epochs=2, steps=4)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    resumed.set_model(model)
    resumed.on_epoch_begin(1)
    resumed.on_train_batch_begin(2)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.0007322330470, rel=1e-6)


def test_without_annealing_the_rate_holds_within_an_epoch_and_decays_between():
    """The control: the same run without `anneal` keeps the per-epoch rate at every step."""
    hyper = dataclasses.replace(HYPER, learning_rate=0.01, decay=0.5)
    plain = models.schedule(hyper, anneal=False, epochs=2, steps=4)
    assert type(plain) is models.EpochDecay
    np.testing.assert_allclose(rates_seen(plain, epochs=2, steps=4), [0.01] * 4 + [0.005] * 4, rtol=1e-6)


def test_corrupt_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(FashionError, match="model.keras: not a readable Keras model"):
        load_model(bad)


def stage_project(tmp_path: Path, epochs: int) -> Path:
    """A folder with the split fixture and a params.yaml training vgg16 for `epochs` epochs."""
    fixtures.split_folder(tmp_path, per_split=(40, 8, 8))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(epochs=epochs, batch_size=8, image_size=32)
    params["train"]["hyper"].update(learning_rate=0.001)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path


def train_command(root: Path) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "stages/train.py"),
        "--arch",
        "vgg16",
        "--split",
        "data/split/source",
        "--model",
        "models/vgg16.keras",
        "--details",
        "metrics/vgg16.json",
        "--live",
        "live",
        "--checkpoints",
        "checkpoints",
    ]


def test_manifest_naming_a_missing_image_stops_with_its_line(tmp_path):
    root = stage_project(tmp_path, epochs=1)
    manifest = root / "data/split/source/val.csv"
    lines = manifest.read_text().splitlines()
    lines[3] = "data/cropped/images/gone.png,a,gx"
    manifest.write_text("\n".join(lines) + "\n")
    done = subprocess.run(train_command(root), cwd=root, capture_output=True, text=True)
    assert done.returncode == 2
    assert "error: data/split/source/val.csv:4: image data/cropped/images/gone.png does not exist" in done.stderr


def test_a_diverging_run_stops_and_says_why(split_root):
    tmp_path = split_root
    splits = load_splits("data/split/source", 32)
    wild = Hyper(
        initializer="he_normal", optimizer="sgd", learning_rate=1e300, decay=1.0, regularizer="none", l1=0.0, l2=0.0
    )
    spec = TrainingSpec("vgg16", wild, None, 32, batch_size=8, epochs=3, patience=0, seed=1)
    _, result = training.train_model(spec, splits, checkpoints=tmp_path / "ck", verbose=0)
    assert result.diverged.startswith("loss became")
    assert result.epochs == 1  # stopped in the first epoch instead of running all three


@pytest.mark.slow
def test_min_delta_counts_a_fall_as_improvement_only_when_it_is_larger(split_root):
    """With patience 1, training stops after the first epoch whose fall in validation loss is not above min_delta.

    The control run (min_delta 0) gives the validation losses; a min_delta just above its first
    fall must stop after epoch 2, one just below it must not (same seed: same losses).
    """
    splits = load_splits(split_root / "data/split/source", 32)

    def run(min_delta: float):
        spec = TrainingSpec(
            "vgg16", HYPER, Augment(), 32, batch_size=8, epochs=4, patience=1, seed=7, min_delta=min_delta
        )
        return training.train_model(spec, splits, checkpoints=split_root / f"ck{min_delta}", verbose=0)[1]

    control = run(0.0)
    losses = control.history["val_loss"]
    fall = losses[0] - losses[1]
    assert fall > 0, f"the control run's validation loss should fall in epoch 2: {losses}"
    assert run(fall * 1.01).epochs == 2  # epoch 2's fall is no improvement: patience 1 ends it there
    assert run(fall * 0.99).epochs > 2  # the same fall counts: epoch 3 runs


def _two_class_model(logits: tuple[float, float]) -> keras.Model:
    """A model whose output ignores its input: softmax of the given logits (zero kernel, logits as bias)."""
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")])
    model.layers[-1].set_weights([np.zeros((4, 2), "float32"), np.array(logits, "float32")])
    return model


def test_label_smoothing_moves_the_target_towards_uniform_worked_by_hand():
    model = _two_class_model((np.log(0.8), np.log(0.2)))  # predicts [0.8, 0.2] for every image
    x, y = np.zeros((4, 2, 2, 1), "float32"), np.array([[1.0, 0.0]] * 4, "float32")
    training.compile_model(model, keras.optimizers.SGD(0.0), label_smoothing=0.1)
    # K = 2, s = 0.1: the targets become [0.95, 0.05]
    expected = -(0.95 * np.log(0.8) + 0.05 * np.log(0.2))
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(expected, rel=1e-5)
    training.compile_model(model, keras.optimizers.SGD(0.0))
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(-np.log(0.8), rel=1e-5)  # control: no smoothing


def test_flip_averages_each_image_with_its_mirror_worked_by_hand():
    model = keras.Sequential([keras.Input((1, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")])
    model.layers[-1].set_weights([np.array([[1.0, 0.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    image = np.array([[[[2], [0]]]], dtype=np.uint8)  # left pixel 2, right pixel 0; the mirror: 0, 2
    # logits: [left pixel, 0], so the image gives softmax([2, 0]) and its mirror softmax([0, 0]) = [0.5, 0.5]
    as_is = np.array([np.exp(2) / (np.exp(2) + 1), 1 / (np.exp(2) + 1)])
    np.testing.assert_allclose(training.probabilities(model, image)[0], as_is, rtol=1e-6)
    np.testing.assert_allclose(training.probabilities(model, image, flip=True)[0], (as_is + 0.5) / 2, rtol=1e-6)


def test_a_moving_average_of_the_weights_replaces_them_when_fit_ends():
    """Keras' EMA, as its documentation gives it: the first step's weights, then 0.99 old + 0.01 new."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((12, 3)).astype("float32")
    y = keras.utils.to_categorical(np.arange(12) % 2, 2)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    training.compile_model(
        model, models.optimizer(dataclasses.replace(HYPER, optimizer="sgd", learning_rate=0.5), ema=True)
    )
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(self.model.layers[0].kernel.numpy().copy())

    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[Record()])
    average = seen[0]
    for weights in seen[1:]:
        average = 0.99 * average + 0.01 * weights
    assert len(seen) == 3 and np.abs(seen[-1] - average).max() > 1e-3  # the average is not the last step's weights
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), average, atol=1e-6)
