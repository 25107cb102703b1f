"""Stage `bundle`: the final model and its preprocessing settings as a folder users copy to annotate images,
with the model also as SavedModel and TFLite (float32, int8 calibrated on the training split)."""

from pathlib import Path

from fashioncat import stage
from fashioncat.annotate import bundle, export


def main(args, cfg):
    settings = bundle.write(
        args.model,
        args.classes,
        args.out,
        image_size=cfg.train.image_size,
        margin=cfg.crop.margin,
        crop_size=cfg.crop.size,
        fit=cfg.crop.fit,
    )
    exported = export.add_to_bundle(args.out, Path(args.classes).parent)  # train.csv calibrates, test.csv measures
    size = (Path(args.out) / bundle.MODEL_FILE).stat().st_size
    return {
        "bundle": args.out,
        "classes": len(settings.classes),
        "image_size": settings.image_size,
        "model_mb": round(size / 1e6, 1),
        "source_sha256": settings.source["sha256"],
        "export": exported,
    }


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--model", required=True, help="the trained .keras model")
    p.add_argument("--classes", required=True, help="classes.json of the split the model was trained on")
    p.add_argument("--out", required=True, help="the bundle folder (replaced)")
    stage.run(main, p)
