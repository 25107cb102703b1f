"""One tuning trial: a configuration trained at the trial budget, and the runner that trains it.

All trials of a step share one built and traced model: weights, optimizer state,
learning rate and regularizer strength are reset or assigned between trials instead
of rebuilding, because tracing a fresh ResNet costs far more than a short trial.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from fashioncat.config import DEFAULT_BATCH_NORM_MOMENTUM, DEFAULT_ENGINE, Engine, Hyper, TrainConfig, TuneConfig
from fashioncat.contracts import Choice
from fashioncat.model import evaluation, models, training
from fashioncat.model.splits import Splits, train_val, with_subsets


@dataclass
class Trial:
    changes: dict
    val_accuracy: float | None
    fit_seconds: float | None  # None: not trained in this step (carried_from says where)
    epochs: int
    failed: str = ""  # why the trial has no usable result (diverged), else ""
    train_loss: list[float] = dataclasses.field(default_factory=list)
    carried_from: str = ""  # the earlier step whose score this is, else ""


@dataclass
class StepResult:
    """What a step's trials gave: every trial in grid order, and the configuration chosen."""

    trials: list[Trial]
    chosen: Choice
    reused: int  # trials not trained in this step: repeats within it, and a score carried from the previous step
    score: dict | None = None  # the chosen configuration's score, for the choice file (Memo.score)


def outcome(trial: Trial) -> str:
    """A trial's result in words, for the log."""
    if trial.failed:
        return f"failed ({trial.failed})"
    where = f"from the {trial.carried_from} step" if trial.carried_from else f"{trial.fit_seconds:.0f} s"
    return f"val accuracy {trial.val_accuracy:.3f} ({where})"


class _Strengths(keras.regularizers.Regularizer):
    """An L1 + L2 kernel penalty whose strengths are variables.

    Same formula as keras' L1, L2 and L1L2; a trial changes the regularizer by
    assigning strengths, so the traced training step is reused.
    """

    def __init__(self):
        self.l1 = keras.Variable(0.0, trainable=False, name="tuned_l1")
        self.l2 = keras.Variable(0.0, trainable=False, name="tuned_l2")

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(x)) + self.l2 * ops.sum(ops.square(x))

    def set(self, hyper: Hyper) -> None:
        self.l1.assign(hyper.l1 if hyper.regularizer in ("l1", "l1_l2") else 0.0)
        self.l2.assign(hyper.l2 if hyper.regularizer in ("l2", "l1_l2") else 0.0)


class TrialRunner:
    """Trains configurations of one architecture on the same data, reusing one traced model.

    Every trial starts from the state a fresh build would have: the
    initializer's seeded weights (built once per initializer), the optimizer's
    initial slots, the trial's learning rate and penalty. Only a new optimizer
    type needs a new compile (and a new trace of the training step; the traced
    prediction step that scores trials is kept).
    """

    def __init__(
        self,
        architecture: str,
        data: Splits,
        *,
        image_size: int,
        batch_size: int,
        seed: int,
        engine: Engine = DEFAULT_ENGINE,
        batch_norm_momentum: float = DEFAULT_BATCH_NORM_MOMENTUM,
    ):
        self.architecture, self.data = architecture, data
        self.image_size, self.batch_size, self.seed, self.engine = image_size, batch_size, seed, engine
        self.batch_norm_momentum = batch_norm_momentum
        self.strengths = _Strengths()
        self._model: keras.Model | None = None
        self._optimizer = ""
        self._optimizer_state: list[np.ndarray] = []
        self._initial: dict[str, list[np.ndarray]] = {}

    def reseed(self, seed: int) -> None:
        """Later trials draw initial weights and data order from `seed` (the traced model is kept)."""
        self.seed = seed
        self._initial.clear()

    def _built(self, hyper: Hyper) -> keras.Model:
        training.prepare(self.seed, self.engine)
        return models.build(self.architecture, len(self.data.classes), self.image_size, hyper, self.batch_norm_momentum)

    def _initial_weights(self, hyper: Hyper) -> list[np.ndarray]:
        if hyper.initializer not in self._initial:
            self._initial[hyper.initializer] = self._weights_of_fresh_build(hyper)
        return self._initial[hyper.initializer]

    def _weights_of_fresh_build(self, hyper: Hyper) -> list[np.ndarray]:
        """The initial weights `_built(hyper)` would have, without reseeding TensorFlow.

        A Keras initializer draws its seed from Python's `random` when it is created and then
        draws its values with stateless ops, so Python's and NumPy's generators, seeded as
        `training.prepare` seeds them, decide the weights (test_tuning checks them bit for bit
        against a fresh build). `prepare`'s `tf.random.set_seed` would also clear TensorFlow's
        kernel caches (`TFE_ContextClearCaches`): the shared model's next fit then instantiates
        its traced step again. Measured with bench/trace_reuse.py (ResNet50V2 at 32 px, AMD EPYC, 2 cores
        shared with other work, 6 rounds each): 12.6 s more per trial (median; 95% CI 6.3-17.0 s) in one
        run, 4.6 s (95% CI -3.5-16.5 s) in another.
        """
        random.seed(self.seed)
        np.random.seed(self.seed)
        return models.build(
            self.architecture, len(self.data.classes), self.image_size, hyper, self.batch_norm_momentum
        ).get_weights()

    def _model_for(self, hyper: Hyper) -> keras.Model:
        if self._model is None:
            self._model = self._built(hyper)
            self._initial[hyper.initializer] = self._model.get_weights()
            for layer in self._model._flatten_layers():
                if hasattr(layer, "kernel_regularizer") and hasattr(layer, "kernel"):
                    layer.kernel.regularizer = self.strengths
        if self._optimizer != hyper.optimizer:
            scoring = self._model.predict_function  # compile drops it; it does not depend on the optimizer
            training.compile_model(self._model, models.optimizer(hyper))
            self._model.predict_function = scoring  # None before the first trial: traced on first use
            self._optimizer_state = [v.numpy() for v in self._model.optimizer.variables]
            self._optimizer = hyper.optimizer
        return self._model

    def _reset(self, hyper: Hyper) -> keras.Model:
        model = self._model_for(hyper)
        model.set_weights(self._initial_weights(hyper))
        for variable, value in zip(model.optimizer.variables, self._optimizer_state):
            variable.assign(value)
        self.strengths.set(hyper)
        # No reseeding here: it made the next fit about 1.7x slower (measured), and a trial
        # needs none. Its weights and optimizer state are restored, its data order and
        # augmentation come from explicitly seeded tf.data ops, and the models have no dropout.
        return model

    def run(self, choice: Choice, changes: dict, *, epochs: int, patience: int) -> Trial:
        """Train `choice` from scratch for the trial budget; its validation accuracy, or why it failed."""
        model = self._reset(choice.hyper)
        train, val = train_val(self.data, choice.augment, batch_size=self.batch_size, seed=self.seed)
        result = training.Result()
        hooks = [models.EpochDecay(choice.hyper.learning_rate, choice.hyper.decay), training.Diverged(result)]
        if patience <= 0:
            val = None  # validation only scores the trial, after fitting
        else:
            hooks.append(
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
            )
        started = time.perf_counter()
        history = model.fit(
            train.epochs(0, epochs),
            steps_per_epoch=train.steps,
            validation_data=val,
            epochs=epochs,
            callbacks=hooks,
            shuffle=False,
            verbose=0,
        )
        seconds = round(time.perf_counter() - started, 1)
        losses = [round(float(x), 4) for x in history.history.get("loss", [])]
        trial = Trial(changes, None, seconds, len(losses), result.diverged, losses)
        if not trial.failed:
            trial.val_accuracy, trial.failed = self._val_accuracy(model)
        return trial

    def _val_accuracy(self, model: keras.Model) -> tuple[float | None, str]:
        probs = training.probabilities(model, self.data.images["val"])
        if not np.isfinite(probs).all():
            return None, "predictions are not finite (the weights overflowed)"
        return evaluation.summary(self.data.labels["val"], probs, self.data.classes)["accuracy"], ""


def tuning_runner(start: Choice, splits: Splits, *, tune: TuneConfig, train: TrainConfig, seed: int) -> TrialRunner:
    """The TrialRunner of `tune@*` and `tune_noise`: `start`'s architecture on the trial subsets of `splits`.

    Splits already cut to those subsets (`load_splits(..., subsets=tune.trial.subsets)`) pass
    unchanged: cutting a stratified subset again to its own size keeps it whole.
    """
    data = with_subsets(splits, tune.trial.subsets, seed, names=("train", "val"))
    return TrialRunner(
        start.architecture,
        data,
        image_size=train.image_size,
        batch_size=train.batch_size,
        seed=seed,
        engine=train.engine(),
        batch_norm_momentum=train.batch_norm_momentum,
    )
