"""`python -m fashioncat annotate`: label new images with a model bundle, one output row per image.

The command's arguments and the run that wires the parts together: the images a folder
or list names (`inputs`), prepared as training saw them and predicted in batches
(`predict`), written as CSV, JSON lines or Label Studio tasks (`writers`). The run
streams: a thread pool decodes the next batch while the model predicts the current one,
and each batch's rows are written and flushed before the next, so memory holds two
batches whatever the number of images. An unreadable image becomes a row with its
reason; it never stops the run.

TensorFlow is imported only when a run starts, so `--help` and input errors
answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fashioncat.annotate import label_studio, predict, writers
from fashioncat.annotate.inputs import Item, gather, image_links, is_url
from fashioncat.errors import FashionError
from fashioncat.io import usable_cores, write_text

DEFAULT_MODEL = "models/annotator"


# ---- the run ------------------------------------------------------------------------------------------------


def annotate(
    items: Sequence[Item],
    model,
    settings,
    out: str | Path,
    *,
    top_k: int = 3,
    threshold: float = 0.5,
    batch_size: int = 64,
    resume: bool = False,
    boxes: bool = False,
    progress: bool = True,
    model_version: str = "",
    image_root: str | None = None,
) -> dict:
    """Write one row per image in `items` to `out`; return counts and speed.

    `.csv` and `.jsonl` get a row per image. `.json` gets Label Studio tasks, one per
    readable image, predicted by `model_version`, with the matching labelling
    configuration beside it (`label_studio.config_path`).
    """
    out = Path(out)
    fmt = writers.output_format(out)
    if fmt == "label-studio" and resume:
        raise FashionError(f"{out}: --resume works for .csv and .jsonl; Label Studio tasks are written in one go")
    links = image_links(items, image_root) if fmt == "label-studio" else {}  # refused before anything is written
    top_k = min(top_k, len(settings.classes))
    done = writers.done_keys(out, fmt, top_k, boxes, settings.classes) if resume else set()
    todo = [item for item in items if item.key not in done]
    counts = {"images": len(items), "skipped": len(items) - len(todo), "annotated": 0, "unreadable": 0, "review": 0}
    started = time.perf_counter()
    with writers.destination(out, resume) as f, ThreadPoolExecutor(usable_cores()) as pool:
        sink = writers.Sink(f, fmt, top_k, boxes, model_version, links)
        if f.tell() == 0:  # a fresh file, or a resumed one that was never started
            sink.header()
        with _progress(len(todo), progress) as bar:  # closed before any interruption message is printed
            for chunk, prepared in predict.batches(todo, settings, batch_size, pool):
                for item, probs, got in zip(chunk, predict.probabilities(model, prepared), prepared):
                    reason = got if isinstance(got, str) else ""
                    row = predict.row(item, probs, reason, settings.classes, top_k, threshold)
                    sink.write(row)
                    counts["unreadable" if row["error"] else "annotated"] += 1
                    counts["review"] += row["review"]
                f.flush()  # each finished batch is on disk: --resume continues from here after a kill
                bar.update(len(chunk))
        sink.close()
    if fmt == "label-studio":
        write_text(label_studio.config_path(out), label_studio.labeling_config(settings.classes))
    seconds = time.perf_counter() - started
    return {**counts, "seconds": round(seconds, 2), "images_per_s": round(len(todo) / seconds, 1) if seconds else 0.0}


def _progress(total: int, enabled: bool):
    from tqdm import tqdm  # progress goes to stderr so stdout stays clean for scripts

    return tqdm(total=total, unit="img", file=sys.stderr, disable=not enabled, mininterval=1.0, smoothing=0.1)


# ---- command line -------------------------------------------------------------------------------------------

HELP = """\
Label images with the trained model: one output row per image, with the top-k classes and
their probabilities.

input (SOURCE):
  a folder          every image below it, at any depth (.jpg .jpeg .png .webp .bmp .gif, any case)
  a .txt file       one image path per line (# comments and blank lines skipped)
  a .csv file       a column `image` (or `path`) of image paths, and optionally the columns
                    x_1,y_1,x_2,y_2: a bounding box in pixels (top-left inclusive); the image is
                    cropped to it, grown by the training margin, as the training images were.
                    Empty box cells mean the whole image.
  Relative paths in a list are relative to the list file's folder.

output (--out): .csv  path[,x_1,y_1,x_2,y_2],label_1,prob_1,...,label_k,prob_k,review,error
                .jsonl {"path", ["box",] "top": [{"label", "probability"}...], "review", "error"}
        .json  Label Studio tasks with the top class as a pre-annotation (score: its probability,
               model_version: a digest of the bundle), and beside it <name>.label_config.xml, the
               labelling configuration with the model's classes; create the project from it, then
               import the tasks. --image-root URL makes image links URL/<path> (no '..' in a path);
               --image-root FOLDER (default: SOURCE, or the list's folder) makes them links to
               Label Studio's local-files server relative to FOLDER: start Label Studio with
               LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT=FOLDER, the dataset
               folder (never /, which serves every file on the host). Images outside FOLDER are
               refused. Unreadable images are listed on stderr, not sent.
  review is true when the top probability is below --threshold, and for unreadable images,
  whose error column gives the reason (they never stop the run).
  Without --resume the file appears only when the run finishes. With --resume, images already
  in --out are skipped and new rows appended after each batch, so an interrupted run can be
  continued: use --resume from the start for long runs.
"""


def add_command(subparsers) -> None:
    p = subparsers.add_parser(
        "annotate",
        help="label images with the trained model",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="SOURCE", help="folder, .txt list or .csv of images")
    p.add_argument("--out", required=True, metavar="PATH", help="output file, .csv, .jsonl or .json (Label Studio)")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        metavar="FOLDER",
        help=f"model bundle folder (default: {DEFAULT_MODEL}, made by `dvc repro bundle`)",
    )
    p.add_argument("--top-k", type=_at_least_one, default=3, help="classes reported per image (default: 3)")
    p.add_argument(
        "--threshold",
        type=_probability,
        default=0.5,
        help="review=true when the top probability is below this (default: 0.5)",
    )
    p.add_argument("--batch-size", type=_at_least_one, default=64, help="images per prediction (default: 64)")
    p.add_argument("--resume", action="store_true", help="skip images already in --out and append to it")
    p.add_argument(
        "--image-root",
        metavar="URL|FOLDER",
        help="Label Studio output: image links are URL/<path>, or local-files links relative to FOLDER, "
        "Label Studio's LOCAL_FILES_DOCUMENT_ROOT (default: SOURCE, or the list's folder)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The command: check inputs first (fast), then load the model; user errors are one line, exit 2."""
    try:
        fmt = writers.output_format(args.out)
        items, boxes = gather(args.source)
        image_root = args.image_root or _dataset_folder(args.source)
        if fmt == "label-studio":
            image_links(items, image_root)  # a path it refuses is refused before the model loads
        from fashioncat.annotate import bundle  # imports TensorFlow: only once the inputs are known to be usable

        model, settings = bundle.load(args.model)
        report = annotate(
            items,
            model,
            settings,
            args.out,
            top_k=args.top_k,
            threshold=args.threshold,
            batch_size=args.batch_size,
            resume=args.resume,
            boxes=boxes,
            model_version=label_studio.model_version(args.model) if fmt == "label-studio" else "",
            image_root=image_root,
        )
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = "rows written so far are kept: rerun with --resume" if args.resume else "no output was written"
        print(f"interrupted: {kept}", file=sys.stderr)
        return 130
    print(
        f"{args.out}: {report['annotated']} annotated, {report['unreadable']} unreadable, {report['review']} to "
        f"review, {report['skipped']} already done ({report['images_per_s']} images/s)",
        file=sys.stderr,
    )
    if fmt == "label-studio" and not is_url(image_root):
        print(
            f"{args.out}: images are linked below {os.path.abspath(image_root)}: start Label Studio with "
            f"LOCAL_FILES_SERVING_ENABLED=true LOCAL_FILES_DOCUMENT_ROOT={os.path.abspath(image_root)}",
            file=sys.stderr,
        )
    return 0


def _dataset_folder(source: str | Path) -> str:
    """The default --image-root: SOURCE itself when it is a folder, else the folder of the list file."""
    source = Path(source)
    return str(source if source.is_dir() else source.parent)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value
