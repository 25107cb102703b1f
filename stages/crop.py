"""Stage `crop@<dataset>`: crop each image to its box, convert to RGB, resize; PNGs packed into tar shards."""

from pathlib import Path

from fashioncat import stage
from fashioncat.data import crop, datasets, manifest, shards
from fashioncat.data.classmap import load_classmap
from fashioncat.data.records import DROP_FIELDS, drop_rows, tally
from fashioncat.io import atomic_dir, write_csv, write_json


def main(args, cfg):
    dataset = cfg.dataset(args.dataset)
    classmap = load_classmap(dataset.classes)
    raw, out = Path(args.raw), Path(args.out)
    parsed = datasets.read(dataset.format, raw, classmap, dataset.reader_options(f"datasets.{args.dataset}"))
    with atomic_dir(out) as tmp:
        rows, lost = crop.crop_all(
            parsed.records,
            raw,
            tmp / shards.FOLDER,
            margin=cfg.crop.margin,
            size=cfg.crop.size,
            fit=cfg.crop.fit,
            workers=cfg.crop.workers,
            image_prefix=f"{args.out}/{shards.FOLDER}",
        )
        drops = parsed.drops + lost
        write_csv(tmp / "records.csv", rows, manifest.FIELDS)
        write_csv(tmp / "dropped.csv", drop_rows(drops), DROP_FIELDS)
        write_json(tmp / "classes.json", list(classmap.classes))
    return tally((r["label"] for r in rows), drops, classmap.classes)


if __name__ == "__main__":
    p = stage.parser(__doc__, dataset=True)
    p.add_argument("--raw", required=True, help="the download stage's folder")
    stage.run(main, p, headline=("kept", "dropped_total"))
