"""Stage `download@<dataset>`: fetch or validate a raw dataset into data/raw/<dataset>/."""

from pathlib import Path

from fashioncat import stage
from fashioncat.data import download
from fashioncat.data.classmap import load_classmap


def main(args, cfg):
    dataset = cfg.dataset(args.dataset)
    location, out = Path(dataset.location), Path(args.out)
    if dataset.format == "deepfashion":
        report = download.deepfashion_tree(location, out)
    elif dataset.format != "imaterialist":  # coco, deepfashion2, imagefolder, csv: a folder or archive, copied whole
        report = download.dataset_tree(dataset.format, location, out)
    else:
        classmap = load_classmap(dataset.classes)
        report = download.imaterialist_images(location, out, classmap, cfg.download, cfg.seed)
    return report


if __name__ == "__main__":
    p = stage.parser(__doc__, dataset=True)
    stage.run(main, p)
