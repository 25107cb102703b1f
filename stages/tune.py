"""Stage `tune@<step>`: one step of the paper's sequential grid search (Tables 2-4).

Starts from the previous step's choice (`--start`), tries every configuration of
the step's grid in params.yaml on the source train split (or its `tune.trial.subset`),
and writes the best by validation accuracy to `--choice` for the next step.
With `tune.executor: ray` each round's trials run in parallel as Ray tasks (model/executors.py).
"""

import shutil
from pathlib import Path

from fashioncat import stage
from fashioncat.contracts import STEPS, read_choice, write_choice
from fashioncat.model import tuning
from fashioncat.model.checkpoints import fingerprint
from fashioncat.model.splits import load_splits
from fashioncat.reporting import plots


def main(args, cfg):
    start = read_choice(args.start)
    trial = cfg.tune.trial
    splits = load_splits(args.split, cfg.train.image_size, names=("train", "val"))
    data = tuning.trial_data(splits, trial.subset, cfg.seed)
    runner = tuning.TrialRunner(
        start.architecture, data, image_size=cfg.train.image_size, batch_size=cfg.train.batch_size, seed=cfg.seed
    )
    key = fingerprint(trial, cfg.train.image_size, cfg.train.batch_size, cfg.seed, data.digest())
    checkpoints = Path(args.checkpoints)
    memo = tuning.Memo(checkpoints / "trials.json", key)
    grid = getattr(cfg.tune.grids, args.step)
    if cfg.tune.executor == "ray":
        from fashioncat.model import executors

        with executors.ray_trials(runner, cfg.tune.ray) as parallel:
            result = tuning.run_step(
                args.step, grid, start, runner, memo, epochs=trial.epochs, patience=trial.patience, parallel=parallel
            )
    else:
        result = tuning.run_step(args.step, grid, start, runner, memo, epochs=trial.epochs, patience=trial.patience)
    report = tuning.step_report(args.step, grid, start, result, trial, len(data.labels["train"]))
    plots.trials_png(args.step, report["trials"], args.plot)
    write_choice(args.choice, result.chosen)
    shutil.rmtree(checkpoints, ignore_errors=True)
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
