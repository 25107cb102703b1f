"""Stage `tune@<step>`: one step of the paper's sequential grid search (Tables 2-4).

Starts from the previous step's choice (`--start`), tries every configuration of
the step's grid in params.yaml on the source train split (or its `tune.trial.subset`),
and writes the best by validation accuracy to `--choice` for the next step.
With `tune.executor: ray` each round's trials run in parallel as Ray tasks (model/executors.py).
"""

import shutil
from pathlib import Path

from fashioncat import stage
from fashioncat.contracts import STEPS, read_choice, read_trial, write_choice
from fashioncat.model.search import search_step
from fashioncat.model.splits import load_splits
from fashioncat.reporting import plots


def main(args, cfg):
    splits = load_splits(args.split, cfg.train.image_size, ("train", "val"), cfg.tune.trial.subsets, cfg.seed)
    result, report = search_step(
        args.step,
        read_choice(args.start),
        splits,
        tune=cfg.tune,
        train=cfg.train,
        seed=cfg.seed,
        checkpoints=Path(args.checkpoints),
        start_score=read_trial(args.start),
    )
    plots.trials_png(args.step, report["trials"], args.plot)
    write_choice(args.choice, result.chosen, result.score)
    shutil.rmtree(args.checkpoints, ignore_errors=True)
    return report


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--step", required=True, choices=STEPS)
    p.add_argument("--start", required=True, help="the configuration this step starts from (JSON)")
    p.add_argument("--split", required=True, help="the split stage's folder (source dataset)")
    p.add_argument("--choice", required=True, help="where the chosen configuration goes (JSON)")
    p.add_argument("--plot", required=True, help="the step's trials side by side (PNG)")
    p.add_argument("--checkpoints", required=True, help="finished trials of an interrupted run (not a DVC output)")
    stage.run(main, p, headline=("best_val_accuracy", "chosen"))
