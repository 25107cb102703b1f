"""What one training is: a typed spec built from the config, which every stage that trains passes on.

`train@<architecture>` (Table 1), `final` (Table 5) and `finetune@scratch` (Table 6) train a
model from scratch. Each builds its `TrainingSpec` here from its own keys of params.yaml, and
`training.train_model` takes the spec whole: one list of what decides the weights, written
once, which the checkpoint fingerprint also covers.
"""

from __future__ import annotations

from dataclasses import dataclass

from fashioncat.config import DEFAULT_BATCH_NORM_MOMENTUM, DEFAULT_ENGINE, Augment, Engine, Hyper
from fashioncat.contracts import Choice


@dataclass(frozen=True)
class TrainingSpec:
    """Everything that decides a from-scratch training's weights, besides the data."""

    architecture: str
    hyper: Hyper
    augment: Augment
    image_size: int
    batch_size: int
    epochs: int
    patience: int  # >0: stop when validation loss has not improved for this many epochs, keep the best
    seed: int
    min_delta: float = 0.0  # a smaller fall in validation loss is no improvement
    anneal: bool = False  # the rate also falls along a half cosine over the run (models.CosineAnneal)
    label_smoothing: float = 0.0  # final.label_smoothing: see training.compile_model
    ema: bool = False  # final.ema: see models.optimizer
    batch_norm_momentum: float = DEFAULT_BATCH_NORM_MOMENTUM  # train.batch_norm_momentum
    distribute: str = "none"  # train.distribute: see models.strategy_scope
    engine: Engine = DEFAULT_ENGINE  # train.precision and train.deterministic: see training.prepare


def table1(cfg, architecture: str) -> TrainingSpec:
    """`train@<architecture>`: Table 1's shared configuration with the architecture's overrides."""
    train = cfg.train
    return TrainingSpec(
        architecture,
        train.hyper_for(architecture),
        train.augment,
        image_size=train.image_size,
        batch_size=train.batch_size,
        epochs=train.epochs_for(architecture),
        patience=train.patience,
        seed=cfg.seed,
        batch_norm_momentum=train.batch_norm_momentum,
        distribute=train.distribute,
        engine=train.engine(),
    )


def final(cfg, choice: Choice) -> TrainingSpec:
    """`final`: the tuned configuration on the whole train split, with the final model's own budget."""
    return TrainingSpec(
        choice.architecture,
        cfg.final.hyper(choice.hyper),
        choice.augment,
        image_size=cfg.train.image_size,
        batch_size=cfg.final.batch_size,
        epochs=cfg.final.epochs,
        patience=cfg.final.patience,
        seed=cfg.seed,
        anneal=cfg.final.anneal,
        label_smoothing=cfg.final.label_smoothing,
        ema=cfg.final.ema,
        batch_norm_momentum=cfg.train.batch_norm_momentum,
        distribute=cfg.train.distribute,
        engine=cfg.train.engine(),
    )


def scratch(cfg, choice: Choice, image_size: int) -> TrainingSpec:
    """`finetune@scratch`: the tuned configuration on the target, under the budget all of Table 6 shares."""
    budget = cfg.finetune
    return TrainingSpec(
        choice.architecture,
        choice.hyper,
        choice.augment,
        image_size=image_size,
        batch_size=cfg.train.batch_size,
        epochs=budget.epochs,
        patience=budget.patience,
        seed=cfg.seed,
        min_delta=budget.min_delta,
        batch_norm_momentum=cfg.train.batch_norm_momentum,
        distribute=cfg.train.distribute,
        engine=cfg.train.engine(),
    )
