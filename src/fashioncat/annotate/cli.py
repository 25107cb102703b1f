"""`python -m fashioncat annotate`: label new images with a model bundle, one output row per image.

Images are prepared exactly as the training images were (`images.prepare`
with the bundle's crop settings, then the resize `inputs.decode_all` applies),
so the model sees what it was trained on. The run streams: a thread pool
decodes the next batch while the model predicts the current one, and each
batch's rows are written and flushed before the next, so memory holds two
batches whatever the number of images. An unreadable image becomes a row
with its reason; it never stops the run.

TensorFlow is imported only when a run starts, so `--help` and input errors
answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashioncat.annotate import label_studio
from fashioncat.data import images
from fashioncat.data.records import Box
from fashioncat.errors import FashionError
from fashioncat.io import atomic_path, usable_cores, write_text

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
PATH_COLUMNS = ("image", "path")  # the first one present in an input CSV names the images
BOX_COLUMNS = ("x_1", "y_1", "x_2", "y_2")
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "label-studio"}
DEFAULT_MODEL = "models/annotator"


@dataclass(frozen=True)
class Item:
    """One image to annotate. `path` is how the output names it (and how --resume recognises it)."""

    path: str
    file: Path
    box: Box | None = None

    @property
    def key(self) -> tuple[str, Box | None]:
        # the same photo may be listed once per garment box, so the box is part of the identity
        return self.path, self.box


# ---- inputs -------------------------------------------------------------------------------------------------


def gather(source: str | Path) -> tuple[list[Item], bool]:
    """The images a folder, .txt list or .csv names, and whether the input gives boxes."""
    source = Path(source)
    if source.is_dir():
        return _folder(source), False
    if source.suffix.lower() not in (".txt", ".csv"):
        what = "does not exist" if not source.exists() else "is not a folder, .txt list or .csv"
        raise FashionError(f"{source}: {what}")
    try:
        with open(source, newline="", encoding="utf-8-sig") as f:  # -sig: CSVs saved by Excel start with a BOM
            return (_text_list(source, f), False) if source.suffix.lower() == ".txt" else _csv_list(source, f)
    except FileNotFoundError:
        raise FashionError(f"{source}: image list does not exist") from None
    except UnicodeDecodeError as exc:
        raise FashionError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _folder(folder: Path) -> list[Item]:
    """Images under `folder` at any depth, in a stable (sorted) order."""
    found = []

    def unreadable(exc: OSError) -> None:  # a subfolder we may not list is reported, not fatal
        print(f"warning: {exc.filename}: cannot list folder ({exc.strerror})", file=sys.stderr)

    for root, dirs, files in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                path = Path(root) / name
                found.append(Item(str(path), path))
    if not found:
        raise FashionError(f"{folder}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} at any depth)")
    return found


def _resolve(listing: Path, entry: str) -> Path:
    """Relative entries are relative to the list's own folder, so a list works from any directory."""
    path = Path(entry).expanduser()
    return path if path.is_absolute() else listing.parent / path


def _text_list(listing: Path, lines) -> list[Item]:
    """One path per line; blank lines and lines starting with # are skipped."""
    entries = [line.strip() for line in lines]
    items = [Item(e, _resolve(listing, e)) for e in entries if e and not e.startswith("#")]
    if not items:
        raise FashionError(f"{listing}: lists no images")
    return items


def _csv_list(listing: Path, f) -> tuple[list[Item], bool]:
    reader = csv.DictReader(f)
    header = reader.fieldnames or []
    column = next((c for c in PATH_COLUMNS if c in header), None)
    if column is None:
        raise FashionError(f"{listing}:1: needs a column named {' or '.join(PATH_COLUMNS)} (has: {', '.join(header)})")
    present = [c for c in BOX_COLUMNS if c in header]
    if present and len(present) < len(BOX_COLUMNS):
        missing = [c for c in BOX_COLUMNS if c not in header]
        raise FashionError(f"{listing}:1: box columns come as a set; {', '.join(missing)} missing")
    items = []
    try:
        for row in reader:
            entry = (row.get(column) or "").strip()
            if not entry:
                raise FashionError(f"{listing}:{reader.line_num}: empty {column}")
            box = _box(listing, reader.line_num, row) if present else None
            items.append(Item(entry, _resolve(listing, entry), box))
    except csv.Error as exc:
        raise FashionError(f"{listing}:{reader.line_num}: not valid CSV ({exc})") from None
    if not items:
        raise FashionError(f"{listing}: lists no images")
    return items, bool(present)


def _box(listing: Path, line: int, row: dict) -> Box | None:
    """The row's box in pixels; all four cells empty means the whole image."""
    cells = [(row.get(c) or "").strip() for c in BOX_COLUMNS]
    if not any(cells):
        return None
    try:
        x1, y1, x2, y2 = (int(cell) for cell in cells)
    except ValueError:
        raise FashionError(
            f"{listing}:{line}: box {' '.join(cells) or '(empty)'} must be four whole numbers "
            f"x_1 y_1 x_2 y_2 (or all empty)"
        ) from None
    if min(x1, y1) < 0 or x2 <= x1 or y2 <= y1:
        raise FashionError(
            f"{listing}:{line}: box {x1} {y1} {x2} {y2} is not a box (need 0 <= x_1 < x_2 and 0 <= y_1 < y_2)"
        )
    return x1, y1, x2, y2


# ---- preparing and predicting -------------------------------------------------------------------------------


def pixels(file: str | Path, box: Box | None, settings) -> np.ndarray:
    """uint8 [s, s, 3] as training saw the image: the crop stage's `prepare`, then decode_all's resize.

    The crop stage saves lossless PNGs and `inputs._decode_one` stretches them to
    image_size when the sizes differ, so doing both in memory gives the same pixels.
    Raises images.ImageProblem for an unusable file or box.
    """
    img, _ = images.prepare(file, box, settings.margin, settings.crop_size, settings.fit)
    if img.size != (settings.image_size, settings.image_size):
        img = images.fit(img, settings.image_size, "stretch")
    return np.asarray(img, dtype=np.uint8)


def _pixels_or_reason(item: Item, settings) -> np.ndarray | str:
    try:
        return pixels(item.file, item.box, settings)
    except images.ImageProblem as problem:
        return str(problem)
    except Exception as exc:  # PIL's format plugins raise assorted types on malformed files; one file never stops a run
        return f"unreadable image ({type(exc).__name__}: {exc})"


def _prepared(todo: Sequence[Item], settings, batch_size: int, pool: ThreadPoolExecutor):
    """(items, pixels-or-reasons) per batch; the next batch decodes in `pool` while the caller predicts."""
    pending: tuple[Sequence[Item], list[Future]] | None = None
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        submitted = (chunk, [pool.submit(_pixels_or_reason, item, settings) for item in chunk])
        if pending is not None:
            yield pending[0], [f.result() for f in pending[1]]
        pending = submitted
    if pending is not None:
        yield pending[0], [f.result() for f in pending[1]]


def _predict(model, prepared: list) -> list:
    """Probabilities for each prepared image, None where preparation failed."""
    ok = [i for i, p in enumerate(prepared) if not isinstance(p, str)]
    out: list = [None] * len(prepared)
    if ok:
        # predict_on_batch: model.predict builds a tf.data pipeline per call, costly at small batches
        probs = np.asarray(model.predict_on_batch(np.stack([prepared[i] for i in ok]).astype(np.float32)))
        for i, p in zip(ok, probs):
            out[i] = p
    return out


def _row(item: Item, probs, reason: str, classes: Sequence[str], top_k: int, threshold: float) -> dict:
    """One output row; an unreadable image is flagged for review too, since it has no prediction."""
    if probs is None:
        return {"item": item, "top": [], "review": True, "error": reason}
    order = np.argsort(-probs, kind="stable")[:top_k]
    top = [(classes[j], float(probs[j])) for j in order]
    return {"item": item, "top": top, "review": top[0][1] < threshold, "error": ""}


# ---- output -------------------------------------------------------------------------------------------------


def output_format(out: str | Path) -> str:
    fmt = OUTPUT_FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise FashionError(
            f"{out}: output must end in .csv, .jsonl or .json (Label Studio tasks): the extension chooses the format"
        )
    if Path(out).is_dir():
        raise FashionError(f"{out}: is a folder; --out takes a file name")
    return fmt


def csv_columns(top_k: int, boxes: bool) -> list[str]:
    ranks = [name for i in range(1, top_k + 1) for name in (f"label_{i}", f"prob_{i}")]
    return ["path", *(BOX_COLUMNS if boxes else ()), *ranks, "review", "error"]


class _Sink:
    """Writes rows as CSV or JSON lines to an open text file, or gathers Label Studio tasks for `close`."""

    def __init__(self, f, fmt: str, top_k: int, boxes: bool, model_version: str = "", links: dict | None = None):
        self.f, self.fmt, self.top_k, self.boxes = f, fmt, top_k, boxes
        self.csv = csv.writer(f) if fmt == "csv" else None
        self.model_version, self.links = model_version, links or {}
        self.tasks: list[dict] = []

    def header(self) -> None:
        if self.csv is not None:
            self.csv.writerow(csv_columns(self.top_k, self.boxes))

    def write(self, row: dict) -> None:
        item = row["item"]
        if self.fmt == "label-studio":
            if row["error"]:  # nothing to pre-annotate: reported on stderr, not sent
                print(f"not sent to Label Studio: {item.path}: {row['error']}", file=sys.stderr)
            else:
                label, score = row["top"][0]
                box = {"box": list(item.box)} if item.box else {}
                self.tasks.append(
                    label_studio.task(
                        item.path,
                        label,
                        score,
                        self.model_version,
                        self.links[item.path],
                        **box,
                    )
                )
            return
        if self.csv is not None:
            ranks = [v for label, p in row["top"] for v in (label, f"{p:.4f}")]
            ranks += [""] * (2 * self.top_k - len(ranks))
            box = [*(item.box or ("",) * 4)] if self.boxes else []
            self.csv.writerow([item.path, *box, *ranks, str(row["review"]).lower(), row["error"]])
            return
        record = {
            "path": item.path,
            **({"box": list(item.box) if item.box else None} if self.boxes else {}),
            "top": [{"label": label, "probability": round(p, 4)} for label, p in row["top"]],
            "review": row["review"],
            "error": row["error"] or None,
        }
        self.f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self.fmt == "label-studio":
            json.dump(self.tasks, self.f, ensure_ascii=False, indent=1)


@contextlib.contextmanager
def _destination(out: Path, resume: bool) -> Iterator:
    """The open output file: appended to when resuming, else a temp file renamed into place at the end."""
    if resume:
        with open(out, "a", newline="", encoding="utf-8") as f:
            yield f
        return
    with atomic_path(out) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        yield f


def _drop_partial_line(out: Path) -> None:
    """A run killed mid-write leaves a last line without its newline; it is cut so the row is redone."""
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(out, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)
        print(f"note: {out}: dropped an incomplete last line; that image is redone", file=sys.stderr)


def done_keys(out: Path, fmt: str, top_k: int, boxes: bool, classes: Sequence[str] | None = None) -> set:
    """Keys of the images an earlier run already wrote to `out` (for --resume).

    With `classes`, every label already in `out` must be one of them: rows from a bundle
    with other classes would otherwise end up in one file with this bundle's.
    """
    if not out.exists() or out.stat().st_size == 0:
        return set()
    _drop_partial_line(out)
    with open(out, newline="", encoding="utf-8") as f:
        rows = _csv_rows(out, f, top_k, boxes) if fmt == "csv" else _jsonl_rows(out, f)
        keys = set()
        for number, key, labels in rows:
            foreign = [label for label in labels if classes is not None and label not in classes]
            if foreign:
                raise FashionError(
                    f"{out}:{number}: class {foreign[0]!r} is not one of this bundle's classes: the file was "
                    f"written with another bundle; choose another --out"
                )
            keys.add(key)
        return keys


def _csv_rows(out: Path, f, top_k: int, boxes: bool) -> Iterator[tuple[int, tuple, list[str]]]:
    reader = csv.reader(f)
    header = next(reader, [])
    if header != csv_columns(top_k, boxes):
        raise FashionError(
            f"{out}:1: columns differ from this run's; resume with the same --top-k and input "
            f"(with or without boxes), or choose another --out"
        )
    for number, values in enumerate(reader, start=2):
        row = dict(zip(header, values))
        box = tuple(int(row[c]) for c in BOX_COLUMNS) if boxes and row.get("x_1") else None
        labels = [row[f"label_{i}"] for i in range(1, top_k + 1) if row.get(f"label_{i}")]
        yield number, (row.get("path", ""), box), labels


def _jsonl_rows(out: Path, f) -> Iterator[tuple[int, tuple, list[str]]]:
    for number, line in enumerate(f, 1):
        try:
            record = json.loads(line)
            key = (record["path"], tuple(record["box"]) if record.get("box") else None)
            labels = [str(t["label"]) for t in record["top"]]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise FashionError(f"{out}:{number}: not a row this tool wrote; cannot resume into it") from None
        yield number, key, labels


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
    fmt = output_format(out)
    if fmt == "label-studio" and resume:
        raise FashionError(f"{out}: --resume works for .csv and .jsonl; Label Studio tasks are written in one go")
    links = image_links(items, image_root) if fmt == "label-studio" else {}  # refused before anything is written
    top_k = min(top_k, len(settings.classes))
    done = done_keys(out, fmt, top_k, boxes, settings.classes) if resume else set()
    todo = [item for item in items if item.key not in done]
    counts = {"images": len(items), "skipped": len(items) - len(todo), "annotated": 0, "unreadable": 0, "review": 0}
    started = time.perf_counter()
    with _destination(out, resume) as f, ThreadPoolExecutor(usable_cores()) as pool:
        sink = _Sink(f, fmt, top_k, boxes, model_version, links)
        if f.tell() == 0:  # a fresh file, or a resumed one that was never started
            sink.header()
        with _progress(len(todo), progress) as bar:  # closed before any interruption message is printed
            for chunk, prepared in _prepared(todo, settings, batch_size, pool):
                for item, probs, got in zip(chunk, _predict(model, prepared), prepared):
                    row = _row(item, probs, got if isinstance(got, str) else "", settings.classes, top_k, threshold)
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


def is_url(image_root: str) -> bool:
    return re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", image_root) is not None


def image_links(items: Sequence[Item], image_root: str | None) -> dict[str, str]:
    """How Label Studio reaches each image (by `Item.path`), checked for every image before the run.

    `image_root` a URL: URL/<path>, where no path may hold '..' (the link would leave the
    root). Otherwise a folder, by default the images' common folder: links to Label Studio's
    local-files server relative to it, for LOCAL_FILES_DOCUMENT_ROOT=<that folder>; an image
    outside it is refused.
    """
    if image_root and is_url(image_root):
        for item in items:
            if ".." in re.split(r"[/\\]", item.path):
                raise FashionError(
                    f"{item.path}: '..' in an image path would lead its link out of --image-root {image_root}; "
                    "name the images without '..' (run from a folder above them)"
                )
        return {item.path: label_studio.image_reference(item.path, image_root) for item in items}
    folder = image_root or default_image_root(items)
    return {item.path: label_studio.local_file(_below(item, folder)) for item in items}


def default_image_root(items: Sequence[Item]) -> str:
    """The folder all the images are in, at any depth: the document root their links need."""
    return os.path.commonpath([os.path.dirname(os.path.abspath(item.file)) for item in items]) if items else "."


def _below(item: Item, folder: str) -> str:
    """`item`'s file relative to `folder`, as a '/' path; a FashionError if it is not below it."""
    for form in (os.path.abspath, os.path.realpath):  # as written first; through links when that fails
        relative = os.path.relpath(form(item.file), form(folder))
        if relative != ".." and not relative.startswith(".." + os.sep) and not os.path.isabs(relative):
            return Path(relative).as_posix()
    raise FashionError(
        f"{item.path}: not below {folder}, the folder Label Studio serves the images from "
        "(LOCAL_FILES_DOCUMENT_ROOT); give --image-root a folder that holds every image"
    )


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
        fmt = output_format(args.out)
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
