"""Stage `report`: metrics/report.md, the paper's Tables 1-6 beside this run's values."""

from pathlib import Path

from fashioncat import stage
from fashioncat.errors import FashionError
from fashioncat.io import write_text
from fashioncat.reporting import report


def main(args, cfg):
    try:
        text = report.markdown(
            Path(args.metrics_dir),
            cfg,
            *(Path(a) if a else None for a in (args.live_dir, args.final_live, args.label_issues)),
        )
    except FileNotFoundError as exc:
        raise FashionError(f"{exc.filename}: missing (run `dvc repro` first)") from None
    write_text(args.out, text + "\n")
    return {"report": args.out, "lines": text.count("\n") + 1}


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--metrics-dir", required=True, help="the pipeline's metrics folder")
    p.add_argument("--out", required=True, help="the report (Markdown)")
    p.add_argument("--live-dir", help="Table 1's dvclive folders (dvclive/train): why an architecture scored chance")
    p.add_argument("--final-live", help="the final model's dvclive folder (dvclive/final): accuracy per epoch")
    p.add_argument("--label-issues", help="the ranked likely label errors (label_issues.csv)")
    stage.run(main, p)
