"""Stage `train@<architecture>`: train one architecture from scratch on the source splits (Table 1)."""

from pathlib import Path

from fashioncat import spec, stage
from fashioncat.model import training
from fashioncat.model.checkpoints import save_model
from fashioncat.model.splits import load_splits


def main(args, cfg):
    settings = cfg.train
    # Validation alone ranks the architectures: the test split is left to the final model's evaluation
    names = ("train", "val")
    splits = load_splits(args.split, settings.image_size, names, {"train": settings.subset}, cfg.seed)
    model, result = training.train_model(
        spec.table1(cfg, args.arch), splits, checkpoints=Path(args.checkpoints), live_dir=Path(args.live)
    )
    report = training.scores(model, splits, names=("val",))
    save_model(model, args.model)
    return {
        "architecture": args.arch,
        **{f"{split}_{k}": v for split, values in report.items() for k, v in values.items()},
        "epochs": result.epochs,
        "diverged": result.diverged,
        "fit_seconds": round(result.fit_seconds, 1),
        "resumed_from_epoch": result.resumed_from,
    }


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--arch", required=True, help="vgg16 | resnet50 | resnet50v2")
    p.add_argument("--split", required=True, help="the split stage's folder (source dataset)")
    p.add_argument("--model", required=True, help="where to write the trained .keras model")
    p.add_argument("--live", required=True, help="dvclive folder for the training curves")
    p.add_argument("--checkpoints", required=True, help="resume folder (not a DVC output)")
    stage.run(main, p)
