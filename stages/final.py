"""Stage `final`: train the tuned configuration (Table 5) on the whole source train split."""

from pathlib import Path

from fashioncat import spec, stage
from fashioncat.contracts import read_choice
from fashioncat.model import training
from fashioncat.model.checkpoints import save_model
from fashioncat.model.splits import load_splits
from fashioncat.reporting import plots


def main(args, cfg):
    choice = read_choice(args.choice)
    trained = spec.final(cfg, choice)
    splits = load_splits(args.split, cfg.train.image_size, names=("train", "val"))
    model, result = training.train_model(trained, splits, checkpoints=Path(args.checkpoints), live_dir=Path(args.live))
    val = training.scores(model, splits, names=("val",), flip=cfg.final.flip_tta)["val"]
    save_model(model, args.model)
    accuracy = {name: result.history[key] for name, key in (("train", "accuracy"), ("val", "val_accuracy"))}
    plots.curves_png(accuracy, args.curves, f"Final model ({choice.architecture}): accuracy per epoch", "accuracy")
    return {
        **choice.as_dict(),
        **{f"val_{k}": v for k, v in val.items()},
        "learning_rate": trained.hyper.learning_rate,
        "epochs": result.epochs,
        "diverged": result.diverged,
        "fit_seconds": round(result.fit_seconds, 1),
        "resumed_from_epoch": result.resumed_from,
    }


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--choice", required=True, help="the last tuning step's chosen configuration (JSON)")
    p.add_argument("--split", required=True, help="the split stage's folder (source dataset)")
    p.add_argument("--model", required=True, help="where to write the final .keras model")
    p.add_argument("--live", required=True, help="dvclive folder for the training curves")
    p.add_argument("--curves", required=True, help="train and val accuracy per epoch (PNG)")
    p.add_argument("--checkpoints", required=True, help="resume folder (not a DVC output)")
    stage.run(main, p, headline=("val_accuracy",))
