"""Stage `finetune_summary`: Table 6 from the four finetune@<experiment> reports, beside the paper's figures."""

from pathlib import Path

from fashioncat import paper, stage
from fashioncat.contracts import EXPERIMENTS
from fashioncat.errors import FashionError
from fashioncat.io import read_json
from fashioncat.reporting import plots
from fashioncat.reporting.finetune_summary import summary


def main(args, cfg):
    results = {name: _read(Path(args.metrics_dir) / f"{name}.json") for name in EXPERIMENTS}
    table = summary(results)
    ours = {name: (results[name]["fit_seconds"] / 60, results[name]["accuracy"]) for name in EXPERIMENTS}
    # the paper gives no time for last_layer; its benchmark trains for 0 h, as ours for 0 s
    theirs = {
        name: (0.0 if name == "benchmark" else row["train_hours"], row["accuracy"])
        for name, row in paper.TABLE6.items()
        if name == "benchmark" or row["train_hours"] is not None
    }
    saved = f"time saved by fine-tuning: {_share(table['time_saved'])}; paper {paper.TABLE6_TIME_SAVED:.0%}"
    plots.tradeoff_png(ours, theirs, args.plot, f"Table 6: accuracy against training time ({saved})")
    plots.bar_png(
        {name: results[name]["accuracy"] for name in EXPERIMENTS},
        args.bars,
        "Table 6: target test accuracy",
        "accuracy",
        reference={name: paper.TABLE6[name]["accuracy"] for name in EXPERIMENTS},
    )
    return table


def _read(path: Path) -> dict:
    if not path.is_file():
        raise FashionError(f"{path}: missing (run `dvc repro finetune@{path.stem}`)")
    return read_json(path)


def _share(value) -> str:
    return "n/a" if value is None else f"{value:.0%}"


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--metrics-dir", required=True, help="folder of the finetune@<experiment> reports")
    p.add_argument("--plot", required=True, help="accuracy against fit time (PNG)")
    p.add_argument("--bars", required=True, help="accuracy, this run beside the paper (PNG)")
    stage.run(main, p, headline=("experiments.*.accuracy", "time_saved"))
