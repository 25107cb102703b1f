"""Stage `evaluate`: the chosen model on the source test split: metrics, per-class report, confusion, predictions."""

from fashioncat import stage
from fashioncat.io import write_csv, write_json
from fashioncat.model import evaluation, training
from fashioncat.model.checkpoints import load_model
from fashioncat.model.splits import load_splits
from fashioncat.reporting import plots


def main(args, cfg):
    model = load_model(args.model)
    splits = load_splits(args.split, model.input_shape[1], names=("test",))
    probs = training.probabilities(model, splits.images["test"], flip=cfg.final.flip_tta)
    y_true, classes = splits.labels["test"], splits.classes
    y_pred = evaluation.predicted(probs)
    write_json(args.per_class, evaluation.per_class(y_true, probs, classes))
    write_csv(args.confusion, evaluation.confusion_rows(y_true, y_pred, classes), ("actual", "predicted"))
    plots.confusion_png(
        evaluation.confusion(y_true, y_pred, classes),
        classes,
        args.confusion_png,
        f"{args.model}: test split confusion matrix",
    )
    rows = evaluation.prediction_rows(splits.paths["test"], y_true, probs, classes)
    write_csv(args.predictions, rows, ("image", "true", "predicted", "confidence"))
    return {"model": args.model, **evaluation.summary(y_true, probs, classes)}


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--split", required=True, help="the split stage's folder")
    p.add_argument("--per-class", required=True)
    p.add_argument("--confusion", required=True, help="CSV of actual,predicted for DVC's confusion template")
    p.add_argument("--confusion-png", required=True)
    p.add_argument("--predictions", required=True)
    stage.run(main, p, headline=("accuracy", "f1_macro", "top3_accuracy"))
