"""Stage `select_best`: compare the trained architectures (Table 1) and keep the best by validation accuracy.

Also writes the configuration the tuning search starts from: the winner with Table 1's settings.
"""

from pathlib import Path

from fashioncat import select_best, stage
from fashioncat.contracts import Choice, write_choice
from fashioncat.reporting import plots


def main(args, cfg):
    names = list(cfg.train.architectures)
    table = select_best.comparison(Path(args.metrics_dir), names)
    start = Choice(table["best"], cfg.train.hyper_for(table["best"]), cfg.train.augment)
    write_choice(args.start, start)
    rows = table["architectures"]
    plots.bar_png(
        {n: rows[n]["val_accuracy"] for n in names},
        args.plot,
        f"Table 1: validation accuracy (best: {table['best']})",
        "validation accuracy",
        reference={n: rows[n]["paper_accuracy"] for n in names if rows[n]["paper_accuracy"] is not None},
    )
    return table


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--metrics-dir", required=True, help="folder of train@<arch> metrics")
    p.add_argument("--plot", required=True, help="Table 1 bar chart (PNG)")
    p.add_argument("--start", required=True, help="where the tuning search's starting configuration goes (JSON)")
    stage.run(main, p, headline=("best", "architectures.*.val_accuracy"))
