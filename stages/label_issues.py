"""Stage `label_issues`: likely mislabelled source test images (cleanlab), as a ranked CSV and a contact sheet."""

from fashioncat import stage
from fashioncat.annotate import label_issues


def main(args, cfg):
    return label_issues.run(
        args.model, args.split, args.csv, args.png, filter_by=cfg.label_issues.filter_by, sheet=cfg.label_issues.sheet
    )


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--model", required=True, help="the final model (never trained on the test split)")
    p.add_argument("--split", required=True, help="the split stage's folder (source dataset)")
    p.add_argument("--csv", required=True, help="ranked list of likely label errors")
    p.add_argument("--png", required=True, help="contact sheet of the top ones")
    stage.run(main, p, headline=("issues", "share"))
