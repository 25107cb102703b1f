"""Architectures, initializers, regularizers, optimizers and schedules, by name.

Everything the paper tunes is a name in params.yaml; this module turns names
into Keras objects. Models are keras.applications with `weights=None` (trained
from scratch, as in the paper) behind a rescaling layer, so a saved model takes
raw 0-255 RGB images and needs no separate preprocessing step.
"""

from __future__ import annotations

import contextlib
import math

import keras
import tensorflow as tf

from fashioncat.config import DEFAULT_BATCH_NORM_MOMENTUM, Hyper
from fashioncat.errors import FashionError

ARCHITECTURES = {
    "vgg16": keras.applications.VGG16,
    "resnet50": keras.applications.ResNet50,
    "resnet50v2": keras.applications.ResNet50V2,
}
INITIALIZERS = {
    "random_normal": "RandomNormal",
    "he_normal": "HeNormal",
    "glorot_normal": "GlorotNormal",
    "zeros": "Zeros",
    "he_uniform": "HeUniform",
    "glorot_uniform": "GlorotUniform",
}
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adadelta": keras.optimizers.Adadelta,
    "adamax": keras.optimizers.Adamax,
    "adagrad": keras.optimizers.Adagrad,
    "sgd": keras.optimizers.SGD,
}


def regularizer(hyper: Hyper) -> keras.regularizers.Regularizer | None:
    return {
        "none": None,
        "l1": keras.regularizers.L1(hyper.l1),
        "l2": keras.regularizers.L2(hyper.l2),
        "l1_l2": keras.regularizers.L1L2(l1=hyper.l1, l2=hyper.l2),
    }[hyper.regularizer]


def build(
    architecture: str,
    num_classes: int,
    image_size: int,
    hyper: Hyper,
    batch_norm_momentum: float = DEFAULT_BATCH_NORM_MOMENTUM,
) -> keras.Model:
    """An untrained model whose every kernel uses the chosen initializer and regularizer.

    Every batch-normalisation layer uses `batch_norm_momentum` (train.batch_norm_momentum;
    see config.DEFAULT_BATCH_NORM_MOMENTUM for why the default is not Keras' 0.99).

    keras.applications takes neither, so the network is rebuilt from its own
    config with both set on every layer that has a kernel; the saved model
    keeps them.
    """
    if architecture not in ARCHITECTURES:
        raise FashionError(f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
    if image_size < 32:
        raise FashionError(f"image size {image_size} is below the 32 pixels keras.applications accepts")
    base = ARCHITECTURES[architecture](weights=None, input_shape=(image_size, image_size, 3), classes=num_classes)
    config = base.get_config()
    initializer = {"class_name": INITIALIZERS[hyper.initializer], "config": {}}
    reg = regularizer(hyper)
    for layer in config["layers"]:
        if layer["class_name"] == "BatchNormalization":
            layer["config"]["momentum"] = batch_norm_momentum
        if "kernel_initializer" in layer["config"]:
            layer["config"]["kernel_initializer"] = initializer
            layer["config"]["kernel_regularizer"] = keras.regularizers.serialize(reg) if reg else None
    if output_dtype():
        # softmax and the loss in half precision lose small probabilities; Keras' advice is a float32 output
        config["layers"][-1]["config"]["dtype"] = output_dtype()
    network = keras.Model.from_config(config)
    inputs = keras.Input((image_size, image_size, 3), name="rgb_0_255")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    return keras.Model(inputs, network(scaled), name=architecture)


def dtype_policy(precision: str) -> str:
    """train.precision as a Keras dtype policy: `auto` is mixed_float16 where a GPU is visible, else float32
    (on these 2-core CPUs mixed_bfloat16 measured no faster; docs/scaling.md)."""
    if precision == "auto":
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "float32"
    return precision


def output_dtype() -> str | None:
    """A new classifier's dtype: float32 under a mixed policy (see `build`), else the policy's."""
    return "float32" if keras.mixed_precision.global_policy().name.startswith("mixed_") else None


def strategy(distribute: str) -> tf.distribute.Strategy | None:
    """train.distribute: `auto` mirrors training over the GPUs when more than one is visible; otherwise none."""
    if distribute == "auto" and len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return None


def strategy_scope(distribute: str):
    """Where a model is built and compiled: the strategy's scope, or nothing at all (CPU numbers unchanged)."""
    chosen = strategy(distribute)
    return chosen.scope() if chosen is not None else contextlib.nullcontext()


def optimizer(hyper: Hyper, *, ema: bool = False) -> keras.optimizers.Optimizer:
    """The configuration's optimizer; `ema`: it also keeps an exponential moving average of the
    weights (Keras' `use_ema`, momentum 0.99), which replaces the weights when `fit` ends."""
    return OPTIMIZERS[hyper.optimizer](learning_rate=hyper.learning_rate, use_ema=ema)


class EpochDecay(keras.callbacks.Callback):
    """Learning rate at epoch e is learning_rate * decay ** e.

    The paper's "weight decay" values (0.98, 0.95, 0.75 at learning rates up to
    1) only make sense as a per-epoch learning-rate decay factor: as a decoupled
    weight decay, 0.75 would wipe the weights out every step. Setting the rate
    per epoch from a callback (rather than a schedule inside the optimizer)
    also holds on resume, since it depends on the epoch number alone.
    """

    def __init__(self, learning_rate: float, decay: float):
        super().__init__()
        self.learning_rate, self.decay = learning_rate, decay

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(self.learning_rate * self.decay**epoch)


class CosineAnneal(EpochDecay):
    """EpochDecay's rate, scaled step by step along a half cosine: 1 at the first step, near 0 at the last.

    A short training at a still-high rate ends wherever its last steps left it; annealing
    ends it in a minimum. The factor depends on the epoch and the step within it alone,
    so, like EpochDecay, it holds on resume.
    """

    def __init__(self, learning_rate: float, decay: float, *, epochs: int, steps: int):
        super().__init__(learning_rate, decay)
        self.epochs, self.steps, self.epoch = epochs, steps, 0

    def rate(self, epoch: int, step: int) -> float:
        done = (epoch * self.steps + step) / (self.epochs * self.steps)
        return self.learning_rate * self.decay**epoch * 0.5 * (1 + math.cos(math.pi * done))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rate(self.epoch, batch))


def schedule(hyper: Hyper, *, anneal: bool = False, epochs: int = 0, steps: int = 0) -> EpochDecay:
    """The learning-rate callback of a training: the tuned per-epoch decay, annealed over `epochs` if asked."""
    if anneal:
        return CosineAnneal(hyper.learning_rate, hyper.decay, epochs=epochs, steps=steps)
    return EpochDecay(hyper.learning_rate, hyper.decay)
