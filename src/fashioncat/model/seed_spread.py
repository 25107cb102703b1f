"""The seed spread (stage `tune_noise`): how far seeds alone move one trial's validation accuracy.

A tuning step's pick is only meaningful when its margin over the runner-up exceeds this
spread. It is measured within one run, at the trial budget; the noise band across whole
runs is `reporting/noise_band.py`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from fashioncat.config import TrainConfig, TuneConfig
from fashioncat.contracts import Choice
from fashioncat.model.splits import Splits
from fashioncat.model.trials import TrialRunner, outcome, tuning_runner


def seed_spread(start: Choice, splits: Splits, *, tune: TuneConfig, train: TrainConfig, seed: int) -> dict:
    """`tune_noise`'s report: `start` trained at the trial budget under `tune.noise_seeds` seeds from `seed` on."""
    budget = tune.trial
    runner = tuning_runner(start, splits, tune=tune, train=train, seed=seed)
    seeds = [seed + i for i in range(tune.noise_seeds)]
    spread = across_seeds(start, runner, seeds, epochs=budget.epochs, patience=budget.patience)
    return {**spread, "trial_budget": asdict(budget)}


def across_seeds(
    start: Choice, runner: TrialRunner, seeds: list[int], *, epochs: int, patience: int, log=print
) -> dict:
    """The validation accuracy of `start` under each seed at the trial budget, their spread, deviation and mean."""
    scores = []
    for seed in seeds:
        runner.reseed(seed)
        trial = runner.run(start, {}, epochs=epochs, patience=patience)
        log(f"seed spread, seed {seed}: {outcome(trial)}")
        scores.append(trial.val_accuracy)
    valid = [s for s in scores if s is not None]
    return {
        "seeds": seeds,
        "val_accuracy": scores,
        "spread": round(max(valid) - min(valid), 4) if valid else None,
        "std": round(float(np.std(valid)), 4) if valid else None,
        "mean": round(float(np.mean(valid)), 4) if valid else None,
    }
