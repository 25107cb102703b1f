"""Stage `label_issues`: likely mislabelled source test images (cleanlab): a ranked CSV, a contact sheet, and
the same images as Label Studio review tasks (images kept in the crop stage's shards are copied out for them)."""

from pathlib import Path

from fashioncat import stage
from fashioncat.annotate import label_issues
from fashioncat.reporting import plots


def main(args, cfg):
    Path(args.review_images).mkdir(parents=True, exist_ok=True)
    return label_issues.run(
        args.model,
        args.split,
        args.csv,
        args.png,
        filter_by=cfg.label_issues.filter_by,
        sheet=cfg.label_issues.sheet,
        draw=plots.contact_sheet_png,
        tasks_path=args.tasks,
        images_dir=args.review_images,
    )


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--model", required=True, help="the final model (never trained on the test split)")
    p.add_argument("--split", required=True, help="the split stage's folder (source dataset)")
    p.add_argument("--csv", required=True, help="ranked list of likely label errors")
    p.add_argument("--png", required=True, help="contact sheet of the top ones")
    p.add_argument("--tasks", required=True, help="the flagged images as Label Studio tasks (JSON)")
    p.add_argument("--review-images", required=True, help="folder for the tasks' copies of images kept in shards")
    stage.run(main, p, headline=("issues", "share"))
