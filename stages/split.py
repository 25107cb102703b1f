"""Stage `split@<dataset>`: stratified train/val/test manifests; duplicates never straddle splits."""

from pathlib import Path

from fashioncat import stage
from fashioncat.data import manifest
from fashioncat.io import atomic_dir, read_csv, read_json, write_csv, write_json


def main(args, cfg):
    balanced = Path(args.balanced)
    rows, classes = read_csv(balanced / "manifest.csv"), read_json(balanced / "classes.json")
    ratios = {"train": cfg.split.train, "val": cfg.split.val, "test": cfg.split.test}
    splits = manifest.split(rows, ratios, cfg.seed)
    manifest.check_filled(splits, classes, where=f"split@{args.dataset}")
    with atomic_dir(args.out) as tmp:
        for name, items in splits.items():
            write_csv(tmp / f"{name}.csv", items, manifest.FIELDS)
        write_json(tmp / "classes.json", classes)
    return manifest.split_report(splits, classes)


if __name__ == "__main__":
    p = stage.parser(__doc__, dataset=True)
    p.add_argument("--balanced", required=True, help="the balance stage's folder")
    stage.run(main, p)
