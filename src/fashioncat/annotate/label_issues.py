"""Likely label errors in the source test split, found by confident learning (cleanlab).

Confident learning needs out-of-sample predicted probabilities: the model must
not have trained on the images it judges, or it has memorised their labels,
wrong ones included. The test split is the one part of the data the final
model never saw, so that is what is examined; checking the training images
too would need cross-validated predictions (k extra trainings).

cleanlab estimates, per class pair, how often one label stands for another
(the confident joint), then flags as many examples as that estimate says are
mislabelled; the flagged ones are ranked by self-confidence, the probability
the model gives the label the image has, lowest first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from fashioncat.annotate import label_studio
from fashioncat.data import shards
from fashioncat.data.images import ImageProblem, open_rgb
from fashioncat.errors import FashionError
from fashioncat.io import read_csv, write_csv, write_json, write_text
from fashioncat.model import training
from fashioncat.model.checkpoints import load_model
from fashioncat.model.splits import load_splits

COLUMNS = ("image", "given", "suggested", "given_label_probability", "suggested_probability", "rank")
RANKED_BY = "self_confidence"


def find(labels: np.ndarray, pred_probs: np.ndarray, filter_by: str) -> np.ndarray:
    """Indices of likely mislabelled examples, most likely first."""
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        raise FashionError(
            "label issues need cleanlab, which is not installed: "
            "pip install -r requirements.txt (it pins cleanlab==2.9.0)"
        ) from None
    # n_jobs=1: cleanlab otherwise forks worker processes, which can hang once TensorFlow has started
    # its threads; on a test split the work takes milliseconds anyway
    ranked = find_label_issues(
        np.asarray(labels), np.asarray(pred_probs), filter_by=filter_by, return_indices_ranked_by=RANKED_BY, n_jobs=1
    )
    return np.asarray(ranked, dtype=np.int64)


def rows(
    ranked: Sequence[int], paths: Sequence[str], labels: np.ndarray, pred_probs: np.ndarray, classes: Sequence[str]
) -> list[dict]:
    """One CSV row per flagged image, in rank order; `suggested` is the model's top class."""
    out = []
    for rank, i in enumerate(ranked, 1):
        given, suggested = int(labels[i]), int(np.argmax(pred_probs[i]))
        out.append(
            {
                "image": paths[i],
                "given": classes[given],
                "suggested": classes[suggested],
                "given_label_probability": round(float(pred_probs[i, given]), 4),
                "suggested_probability": round(float(pred_probs[i, suggested]), 4),
                "rank": rank,
            }
        )
    return out


# Draws a contact sheet: (pictures, captions, path, title). The stage passes reporting.plots'
# contact_sheet_png, so that this module, like all of annotate/, never imports the reporting layer.
SheetWriter = Callable[[list, list[str], "str | Path", str], None]


def contact_sheet(found: list[dict], path: str | Path, title: str, draw: SheetWriter) -> None:
    """The flagged images with their given and suggested labels, read at the resolution stored on disk."""
    pictures, captions = [], []
    for row in found:
        try:
            pictures.append(np.asarray(open_rgb(row["image"])))
        except ImageProblem as problem:
            raise FashionError(f"{row['image']}: {problem}") from None
        captions.append(
            f"#{row['rank']} given: {row['given']} ({row['given_label_probability']:.2f})\n"
            f"suggested: {row['suggested']} ({row['suggested_probability']:.2f})"
        )
    draw(pictures, captions, path, title)


def review_tasks(
    found: list[dict], split_dir: str | Path, model_version: str, images_dir: str | Path | None = None
) -> list[dict]:
    """The flagged images as Label Studio tasks: the model's suggestion pre-annotated, the given label beside it.

    Each task carries `source_image` (the image as the dataset names it) and
    `given_label`, which `python -m fashioncat corrections` needs to turn a reviewer's
    answer into a correction. Images are links to Label Studio's local-files server,
    relative to the repository root (LOCAL_FILES_DOCUMENT_ROOT=<the repository>): a loose
    file as it is, a member of the crop stage's shards through its copy in `images_dir`.
    """
    source = {row["image"]: row.get("source_image") or row["image"] for row in read_csv(Path(split_dir) / "test.csv")}
    return [
        label_studio.task(
            row["image"],
            row["suggested"],
            row["suggested_probability"],
            model_version,
            label_studio.local_file(_reviewable(row["image"], images_dir)),
            source_image=source[row["image"]],
            given_label=row["given"],
            given_label_probability=row["given_label_probability"],
            rank=row["rank"],
        )
        for row in found
    ]


def _reviewable(image: str, images_dir: str | Path | None) -> str:
    """A file Label Studio can serve for `image`: itself, or its shard member's copy in `images_dir`."""
    if shards.member_of(image) is None:
        return image
    if images_dir is None:
        raise ValueError(f"{image} is in a shard: review tasks need a folder for its copy")
    try:
        return shards.extract(image, images_dir).as_posix()
    except FileNotFoundError as exc:
        raise FashionError(f"{image}: {exc}") from None


def run(
    model_path: str | Path,
    split_dir: str | Path,
    csv_path: str | Path,
    png_path: str | Path,
    *,
    filter_by: str,
    sheet: int,
    draw: SheetWriter,
    tasks_path: str | Path | None = None,
    images_dir: str | Path | None = None,
) -> dict:
    """Predict the test split, flag likely label errors; write the CSV, the contact sheet (`draw`), the review tasks."""
    model = load_model(model_path)
    splits = load_splits(split_dir, model.input_shape[1], names=("test",))
    probs = training.probabilities(model, splits.images["test"])
    labels = splits.labels["test"]
    try:
        ranked = find(labels, probs, filter_by)
    except ValueError as exc:  # cleanlab's checks of its inputs, e.g. a class absent from the split
        raise FashionError(f"{Path(split_dir) / 'test.csv'}: cleanlab cannot use this split ({exc})") from None
    found = rows(ranked, splits.paths["test"], labels, probs, splits.classes)
    write_csv(csv_path, found, COLUMNS)
    if tasks_path is not None:
        version = label_studio.model_version(model_path)
        write_json(tasks_path, review_tasks(found, split_dir, version, images_dir))
        write_text(label_studio.config_path(tasks_path), label_studio.labeling_config(splits.classes))
    contact_sheet(
        found[:sheet],
        png_path,
        f"Likely label errors: {len(found)} of {len(labels)} test images "
        f"(cleanlab {filter_by}); top {min(sheet, len(found))}",
        draw,
    )
    return {
        "issues": len(found),
        "n": int(len(labels)),
        "method": filter_by,
        "ranked_by": RANKED_BY,
        "share": round(len(found) / len(labels), 4),
        "model": str(model_path),
    }
