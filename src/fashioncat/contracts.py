"""What stages hand each other, kept free of TensorFlow so that any stage can read it.

- the tuning steps, in the paper's order, and the transfer experiments (Table 6);
- the choice file: a complete training configuration, written by `select_best` and by
  every `tune@<step>`, read by the next step, `final` and `finetune@*`. A step's choice
  file also carries the chosen configuration's trial score, so that the next step,
  whose grid usually holds that configuration again, does not train it twice.

`dvc.yaml` repeats these lists (DVC cannot import Python); tests/core/test_layout.py checks
that both agree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

from fashioncat.config import Augment, Hyper
from fashioncat.errors import FashionError
from fashioncat.io import read_json, write_json

STEPS = ("augmentation", "initializer", "optimizer", "lr_regularizer", "lr_decay")
EXPERIMENTS = ("benchmark", "last_layer", "whole_model", "scratch")
TABLE6_METRICS = ("precision_macro", "recall_macro", "f1_macro", "accuracy")


@dataclass(frozen=True)
class Choice:
    """A complete training configuration: what a tuning step starts from and what it chooses."""

    architecture: str
    hyper: Hyper
    augment: Augment

    def with_changes(self, changes: dict) -> Choice:
        """This configuration with some hyperparameter or augmentation values replaced."""
        hyper_keys = {f.name for f in dataclasses.fields(Hyper)}
        hyper = {k: v for k, v in changes.items() if k in hyper_keys}
        augment = {k: v for k, v in changes.items() if k not in hyper_keys}
        return Choice(
            self.architecture, dataclasses.replace(self.hyper, **hyper), dataclasses.replace(self.augment, **augment)
        )

    def as_dict(self) -> dict:
        return {"architecture": self.architecture, "hyper": asdict(self.hyper), "augment": asdict(self.augment)}


def write_choice(path: str | Path, choice: Choice, trial: dict | None = None) -> None:
    """`choice`, and with `trial` how it scored at the trial budget (a tuning step's choice)."""
    write_json(path, {**choice.as_dict(), **({"trial": trial} if trial else {})})


def read_trial(path: str | Path) -> dict | None:
    """The score a tuning step's choice file carries for its configuration, or None (select_best's start)."""
    return read_json(path).get("trial")


def read_choice(path: str | Path) -> Choice:
    """The choice in `path`, or a FashionError naming the file when it is missing or malformed."""
    if not Path(path).is_file():
        raise FashionError(f"{path}: choice file not found")
    raw = read_json(path)
    try:
        return Choice(raw["architecture"], Hyper(**raw["hyper"]), Augment(**raw["augment"]))
    except (KeyError, TypeError) as exc:
        raise FashionError(f"{path}: not a choice file ({type(exc).__name__}: {exc})") from None
