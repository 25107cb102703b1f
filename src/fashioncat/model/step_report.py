"""metrics/tune/<step>.json: a step's trials beside the paper's figures, and its choice."""

from __future__ import annotations

from dataclasses import asdict

from fashioncat import paper
from fashioncat.contracts import Choice
from fashioncat.model.grid import grid_values
from fashioncat.model.trials import StepResult


def step_report(step: str, grid, start: Choice, result: StepResult, budget, train_images: int) -> dict:
    """metrics/tune/<step>.json: every trial beside the paper's figure, and the choice."""
    rows = [
        {
            **t.changes,
            "val_accuracy": t.val_accuracy,
            "paper_accuracy": paper.tuning_accuracy(step, t.changes),
            "fit_seconds": t.fit_seconds,
            "epochs": t.epochs,
            "failed": t.failed,
            "carried_from": t.carried_from,
        }
        for t in result.trials
    ]
    scored = [r["val_accuracy"] for r in rows if r["val_accuracy"] is not None]
    return {
        "step": step,
        "architecture": start.architecture,
        "started_from": grid_values(grid, start),
        "chosen": grid_values(grid, result.chosen),
        "best_val_accuracy": max(scored) if scored else None,
        "trials_run": len(rows) - result.reused,
        "trials_failed": sum(bool(r["failed"]) for r in rows),
        "trial_budget": {**asdict(budget), "train_images": train_images},
        "trials": rows,
    }
