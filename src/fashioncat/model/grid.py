"""A tuning step's grid: the configurations it tries, in rounds, and what a choice holds of it."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import asdict

from fashioncat.contracts import Choice


def rounds(step: str, grid) -> list[list[dict]]:
    """The changes a step tries, as rounds; the best of each round is kept before the next.

    Augmentation (Table 2) sweeps each knob on its own, in order, each from the
    best so far; the other steps try every combination of their keys at once.
    """
    fields = {f.name: getattr(grid, f.name) for f in dataclasses.fields(grid)}
    if step == "augmentation":
        return [[{name: value} for value in values] for name, values in fields.items()]
    return [[dict(zip(fields, values)) for values in itertools.product(*fields.values())]]


def grid_values(grid, choice: Choice) -> dict:
    """The values `choice` has for the keys a grid varies (what a step chose)."""
    merged = {**asdict(choice.hyper), **asdict(choice.augment)}
    return {f.name: merged[f.name] for f in dataclasses.fields(grid)}
