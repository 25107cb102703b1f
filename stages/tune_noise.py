"""Stage `tune_noise`: the seed spread of one tuning trial, which every step's pick is read against.

Trains the search's starting configuration at the trial budget once per seed in
`tune.noise_seeds` (the pipeline's `seed` and the ones after it) and reports the
validation accuracies, their spread and standard deviation (model/seed_spread.py).
The noise band across whole runs is another measure (reporting/noise_band.py).
"""

from fashioncat import stage
from fashioncat.contracts import read_choice
from fashioncat.model.seed_spread import seed_spread
from fashioncat.model.splits import load_splits


def main(args, cfg):
    splits = load_splits(args.split, cfg.train.image_size, ("train", "val"), cfg.tune.trial.subsets, cfg.seed)
    return seed_spread(read_choice(args.start), splits, tune=cfg.tune, train=cfg.train, seed=cfg.seed)


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--start", required=True, help="the configuration measured (the search's start, JSON)")
    p.add_argument("--split", required=True, help="the split stage's folder (source dataset)")
    stage.run(main, p, headline=("mean", "spread"))
