"""Stage `balance@<dataset>`: reviewers' label corrections applied, then the same number of images in every class.

A stale correction (its image gone, or no longer labelled as the correction expects) fails
the stage, unless `balance.skip_stale_corrections` is true: then it is skipped, named in a
warning and counted in the headline metrics (`corrections_skipped`).
"""

from pathlib import Path

from fashioncat import stage
from fashioncat.data import corrections, manifest
from fashioncat.data.records import tally
from fashioncat.io import atomic_dir, read_csv, write_csv, write_json


def main(args, cfg):
    dataset = cfg.dataset(args.dataset)
    cropped = Path(args.cropped)
    rows, classes = read_csv(cropped / "records.csv"), corrections.read_classes(cropped / "classes.json")
    fixes = corrections.read(args.corrections, classes)
    rows, corrected_out, unapplied = corrections.apply(rows, fixes)
    if unapplied and not cfg.balance.skip_stale_corrections:
        raise corrections.stale_error(args.corrections, unapplied)
    for reason in unapplied:
        print(f"warning: {args.corrections}: stale correction skipped: {reason}")
    chosen = manifest.balanced(
        rows,
        classes,
        dataset.per_class,
        cfg.seed,
        cfg.balance.allow_smaller,
        where=f"datasets.{args.dataset}.per_class",
    )
    with atomic_dir(args.out) as tmp:
        write_csv(tmp / "manifest.csv", chosen, manifest.FIELDS)
        write_json(tmp / "classes.json", classes)
    kept = {r["image"] for r in chosen}
    surplus = [manifest.surplus_drop(r) for r in rows if r["image"] not in kept]
    return {
        **tally((r["label"] for r in chosen), corrected_out + surplus, classes),
        "corrections_applied": len(fixes) - len(unapplied),
        "corrections_skipped": len(unapplied),
        "corrections_not_applied": unapplied,
    }


if __name__ == "__main__":
    p = stage.parser(__doc__, dataset=True)
    p.add_argument("--cropped", required=True, help="the crop stage's folder")
    p.add_argument("--corrections", required=True, help="config/corrections/<dataset>.csv (may be absent)")
    stage.run(main, p, headline=("kept", "dropped_total", "corrections_applied", "corrections_skipped"))
