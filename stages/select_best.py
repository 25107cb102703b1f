"""Stage `select`: compare the trained architectures (Table 1) and keep the best by validation accuracy.

Also writes the configuration the tuning search starts from: the winner with Table 1's settings.
"""

import shutil
from pathlib import Path

from fashioncat import plots, selection, stage, tuning
from fashioncat.errors import FashionError
from fashioncat.inputs import Augment
from fashioncat.io import atomic_path


def main(args, cfg):
    names = list(cfg.train.architectures)
    table = selection.comparison(Path(args.metrics_dir), names)
    best = Path(args.models_dir) / f"{table['best']}.keras"
    if not best.is_file():
        raise FashionError(f"{best}: the best architecture's model is missing (run `dvc repro train@{table['best']}`)")
    with atomic_path(args.out_model) as tmp:
        shutil.copyfile(best, tmp)
    start = tuning.Choice(table["best"], cfg.train.hyper_for(table["best"]), Augment(**vars(cfg.train.augment)))
    tuning.write_choice(args.start, start)
    rows = table["architectures"]
    plots.bar_png({n: rows[n]["test_accuracy"] for n in names}, args.plot,
                  f"Table 1: test accuracy (best by val: {table['best']})", "test accuracy",
                  reference={n: rows[n]["paper_accuracy"] for n in names if rows[n]["paper_accuracy"] is not None})
    return table


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--metrics-dir", required=True, help="folder of train@<arch> metrics")
    p.add_argument("--models-dir", required=True, help="folder of train@<arch> models")
    p.add_argument("--out-model", required=True, help="where the best model is copied")
    p.add_argument("--plot", required=True, help="Table 1 bar chart (PNG)")
    p.add_argument("--start", required=True, help="where the tuning search's starting configuration goes (JSON)")
    stage.run(main, p)
