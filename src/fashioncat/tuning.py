"""The paper's sequential grid search: one step's trials, failures and choice.

A step starts from the previous step's choice (a small JSON file, so DVC reruns
a step exactly when what it starts from changes), tries every configuration of
its grid, and keeps the best by validation accuracy. All trials of a step share
one built and traced model: weights, optimizer state, learning rate and
regularizer strength are reset or assigned between trials instead of rebuilding,
because tracing a fresh ResNet costs far more than a short trial.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import Hyper
from .inputs import Augment
from .io import read_json, write_json

STEPS = ("augmentation", "initializer", "optimizer", "lr_regularizer", "lr_decay")


@dataclass(frozen=True)
class Choice:
    """A complete training configuration: what a tuning step starts from and what it chooses."""

    architecture: str
    hyper: Hyper
    augment: Augment

    def with_changes(self, changes: dict) -> "Choice":
        """This configuration with some hyperparameter or augmentation values replaced."""
        hyper_keys = {f.name for f in dataclasses.fields(Hyper)}
        hyper = {k: v for k, v in changes.items() if k in hyper_keys}
        augment = {k: v for k, v in changes.items() if k not in hyper_keys}
        return Choice(self.architecture, dataclasses.replace(self.hyper, **hyper),
                      dataclasses.replace(self.augment, **augment))

    def as_dict(self) -> dict:
        return {"architecture": self.architecture, "hyper": asdict(self.hyper), "augment": asdict(self.augment)}


def write_choice(path: str | Path, choice: Choice) -> None:
    write_json(path, choice.as_dict())


def read_choice(path: str | Path) -> Choice:
    raw = read_json(path)
    return Choice(raw["architecture"], Hyper(**raw["hyper"]), Augment(**raw["augment"]))
