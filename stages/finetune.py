"""Stage `finetune@<experiment>`: the tuned source model on the target dataset, one Table 6 experiment.

benchmark (as is), last_layer (only the classifier trained), whole_model (all layers, from the
tuned weights) or scratch (the tuned configuration from random weights); see fashioncat.model.transfer.
"""

from pathlib import Path

from fashioncat import spec, stage
from fashioncat.contracts import EXPERIMENTS, read_choice
from fashioncat.errors import FashionError
from fashioncat.io import read_json
from fashioncat.model import evaluation, transfer, transfer_outputs
from fashioncat.model.checkpoints import load_model
from fashioncat.model.splits import load_splits
from fashioncat.reporting import plots


def main(args, cfg):
    _check(args)
    source = load_model(args.model)  # scratch too: its image size is the tuned model's
    choice = read_choice(args.choice)
    target = load_splits(args.split, source.input_shape[1])
    setup = transfer.Setup(
        choice,
        cfg.finetune,
        spec.scratch(cfg, choice, source.input_shape[1]),
        Path(args.checkpoints),
        Path(args.live) if args.live and args.experiment != "benchmark" else None,
    )
    outcome = transfer.run_experiment(args.experiment, source, read_json(args.source_classes), target, setup)
    y_true = target.labels["test"]
    plots.confusion_png(
        evaluation.confusion(y_true, evaluation.predicted(outcome["probabilities"]), target.classes),
        target.classes,
        args.confusion_png,
        f"Table 6, {args.experiment}: target test split",
    )
    transfer_outputs.write(
        outcome,
        source=Path(args.model),
        model_path=Path(args.out_model) if args.out_model else None,
        live=Path(args.live) if args.live else None,
    )
    return {"model": args.model, **transfer.report(outcome)}


def _check(args) -> None:
    """Missing inputs fail in one line before anything is loaded."""
    for path in (args.model, args.choice, args.source_classes):
        if not Path(path).is_file():
            raise FashionError(f"{path}: file not found")
    if args.experiment != "benchmark" and not args.out_model:
        raise FashionError(f"--out-model is required for the trained experiment {args.experiment}")


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--experiment", required=True, choices=EXPERIMENTS)
    p.add_argument("--model", required=True, help="the tuned source model (.keras)")
    p.add_argument("--choice", required=True, help="the tuned configuration (tune stage's last choice JSON)")
    p.add_argument("--split", required=True, help="the target dataset's split folder")
    p.add_argument("--source-classes", required=True, help="classes.json of the source split (the model's outputs)")
    p.add_argument("--out-model", help="where the trained model goes (benchmark: a copy of --model)")
    p.add_argument("--confusion-png", required=True)
    p.add_argument("--live", help="dvclive folder (training curves; benchmark: test scores)")
    p.add_argument("--checkpoints", required=True, help="resume folder (not a DVC output)")
    stage.run(main, p)
