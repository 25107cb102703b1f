"""The paper's sequential grid search: one step's trials, failures and choice.

A step starts from the previous step's choice (a small JSON file, so DVC reruns
a step exactly when what it starts from changes), tries every configuration of
its grid (`grid.rounds`), and keeps the best by validation accuracy. The choice
file carries the chosen configuration's score, which the next step takes instead
of training that configuration again when its grid holds it (same data, budget,
seed and engine; `memo.Memo.carry`). The trials run one by one on a shared
`trials.TrialRunner`, or, under `tune.executor: ray`, a round at a time as Ray
tasks (`executors`).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path

from fashioncat.config import TrainConfig, TuneConfig
from fashioncat.contracts import Choice
from fashioncat.model import executors
from fashioncat.model.checkpoints import fingerprint
from fashioncat.model.grid import rounds
from fashioncat.model.memo import Memo, choice_key
from fashioncat.model.splits import Splits
from fashioncat.model.step_report import step_report
from fashioncat.model.trials import StepResult, Trial, TrialRunner, outcome, tuning_runner


def better(trial: Trial, best: Trial | None) -> bool:
    """Strictly higher validation accuracy wins, so ties keep the earlier (grid-order) configuration."""
    if trial.failed or trial.val_accuracy is None:
        return False
    return best is None or trial.val_accuracy > best.val_accuracy


def run_step(
    step: str,
    grid,
    start: Choice,
    runner: TrialRunner,
    memo: Memo,
    *,
    epochs: int,
    patience: int,
    log=print,
    parallel=None,
) -> StepResult:
    """All trials of one step from `start`; the choice is the best by validation accuracy.

    A configuration already tried in this step (the augmentation sweep meets
    its current best again in every round), or carried into `memo` from the
    previous step, is not trained again. `parallel`
    (executors.RayTrials) trains a round's not yet memoized trials at once first;
    the loop then reads them from the memo, so choice and report are the same.
    """
    current, trials, reused, seen = start, [], 0, set()
    plan = rounds(step, grid)
    total = sum(len(r) for r in plan)
    for round_ in plan:
        if parallel is not None:
            todo = [(c, changes) for changes in round_ if memo.get(c := current.with_changes(changes)) is None]
            for (choice, _), trial in zip(todo, parallel.run(todo, epochs=epochs, patience=patience)):
                memo.put(choice, trial)
        best = None
        for changes in round_:
            choice = current.with_changes(changes)
            saved = memo.get(choice)
            if saved is None:
                trial = runner.run(choice, changes, epochs=epochs, patience=patience)
                memo.put(choice, trial)
            else:
                trial = Trial(**{**saved, "changes": changes})
                reused += choice_key(choice) in seen or bool(trial.carried_from)
            seen.add(choice_key(choice))
            trials.append(trial)
            log(f"{step} {len(trials)}/{total} {_label(changes)}: {outcome(trial)}")
            if better(trial, best):
                best = trial
        if best is not None:
            current = current.with_changes(best.changes)
    return StepResult(trials, current, reused, memo.score(current, step))


def search_step(
    step: str,
    start: Choice,
    splits: Splits,
    *,
    tune: TuneConfig,
    train: TrainConfig,
    seed: int,
    checkpoints: Path,
    start_score: dict | None = None,
) -> tuple[StepResult, dict]:
    """One step as `tune@<step>` runs it, on `splits`' train subset; its result and report.

    Finished trials are memoized under `checkpoints` so an interrupted step resumes;
    `start_score` (the previous step's choice file) spares training `start` again;
    `tune.executor` decides whether a round's trials run one by one or as Ray tasks.
    """
    budget = tune.trial
    runner = tuning_runner(start, splits, tune=tune, train=train, seed=seed)
    key = fingerprint(
        budget,
        train.image_size,
        train.batch_size,
        seed,
        runner.data.digest(),
        asdict(runner.engine),
        runner.batch_norm_momentum,
    )
    memo = Memo(checkpoints / "trials.json", key)
    memo.carry(start, start_score)
    grid = getattr(tune.grids, step)
    with _parallel(tune, runner) as parallel:
        result = run_step(
            step, grid, start, runner, memo, epochs=budget.epochs, patience=budget.patience, parallel=parallel
        )
    return result, step_report(step, grid, start, result, budget, len(runner.data.labels["train"]))


@contextlib.contextmanager
def _parallel(tune: TuneConfig, runner: TrialRunner):
    """executors.RayTrials under `tune.executor: ray`, else None (trials one after another; Ray is never imported)."""
    if tune.executor != "ray":
        yield None
        return
    with executors.ray_trials(runner, tune.ray) as parallel:
        yield parallel


def _label(changes: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in changes.items())
