"""`python -m fashioncat next-batch`: the N images the model is least sure of, as the next Label Studio tasks.

Every image is predicted (streamed in batches, as `annotate` does) and described by
`uncertainty`: margin, entropy, and where the image has a given label, cleanlab's
label-quality score. The N least certain (smallest margin by default; `--by entropy`,
or `--by label_quality` for the likeliest wrong labels) become tasks, pre-annotated with
the model's top class and carrying those figures in their data, so the Data Manager
can show and sort them. Images already reviewed are left out: those named by `--skip`
files (a corrections CSV, or an earlier tasks .json) and, with `--url`, those already
in the project.

A crop stage manifest as input (data/cropped/<dataset>/records.csv, or a split's CSV:
columns image, label, source_image, paths relative to the repository) makes review
tasks: each carries `source_image` and `given_label`, so the answers become corrections
(by the backend's webhook or `python -m fashioncat corrections`), and its image links
are relative to the repository, Label Studio's LOCAL_FILES_DOCUMENT_ROOT. An image the
crop stage keeps in a shard is copied out for its task (`--review-images`, by default
a folder beside --out), since Label Studio serves files.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fashioncat.annotate import label_studio, predict, uncertainty
from fashioncat.annotate.cli import DEFAULT_MODEL
from fashioncat.annotate.inputs import Item, gather, image_links
from fashioncat.data import shards
from fashioncat.errors import FashionError
from fashioncat.io import usable_cores, write_json, write_text

MANIFEST_COLUMNS = ("image", "label", "source_image")


@dataclass(frozen=True)
class Candidate:
    item: Item
    link: str  # how Label Studio reaches the image; "" for a shard member until `with_copies`
    given: str | None = None  # the dataset's label (manifests only)
    source_image: str | None = None


# ---- inputs -------------------------------------------------------------------------------------------------


def candidates(source: str | Path, image_root: str | None) -> list[Candidate]:
    """The images of a folder, list or manifest, each with its Label Studio link (and given label)."""
    source = Path(source)
    if source.suffix.lower() == ".csv" and source.is_file() and _is_manifest(source):
        return _manifest(source, image_root)
    items, _ = gather(source)
    links = image_links(items, image_root)
    return [Candidate(item, links[item.path]) for item in items]


def _is_manifest(path: Path) -> bool:
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f), [])
    return all(column in header for column in MANIFEST_COLUMNS)


def _manifest(path: Path, image_root: str | None) -> list[Candidate]:
    """A crop stage manifest: image paths relative to the repository (the current folder), as the stages wrote them."""
    found = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        for row in reader:
            image = (row.get("image") or "").strip()
            if not image or os.path.isabs(image) or ".." in Path(image).parts:
                raise FashionError(f"{path}:{reader.line_num}: image {image!r} must be a path inside the repository")
            if shards.member_of(image) is not None:
                link = ""  # a shard member: linked through its copy, made once it is chosen
            elif image_root:
                link = label_studio.image_reference(image, image_root)
            else:
                link = label_studio.local_file(image)
            found.append(Candidate(Item(image, Path(image)), link, row["label"], row["source_image"]))
    if not found:
        raise FashionError(f"{path}: lists no images")
    return found


def reviewed(skip: Sequence[str | Path]) -> set[str]:
    """Images named by earlier work: a corrections CSV (`image` = source image) or a tasks JSON (path, source_image)."""
    done: set[str] = set()
    for file in map(Path, skip):
        try:
            if file.suffix.lower() == ".json":
                done |= _task_images(json.loads(file.read_text(encoding="utf-8")), file)
            else:
                with open(file, newline="", encoding="utf-8-sig") as f:
                    reader = csv.DictReader(f)
                    if "image" not in (reader.fieldnames or []):
                        raise FashionError(f"{file}:1: no `image` column (a corrections file has one)")
                    done |= {row["image"] for row in reader if row.get("image")}
        except FileNotFoundError:
            raise FashionError(f"{file}: no such file") from None
        except (ValueError, csv.Error) as exc:
            raise FashionError(f"{file}: not a tasks .json or a corrections .csv ({exc})") from None
    return done


def _task_images(tasks, where) -> set[str]:
    if not isinstance(tasks, list):
        raise FashionError(f"{where}: not a list of Label Studio tasks")
    found = set()
    for task in tasks:
        data = task.get("data") if isinstance(task, dict) else None
        if isinstance(data, dict):
            found |= {v for k in ("path", "source_image") if isinstance(v := data.get(k), str)}
    return found


def unreviewed(found: list[Candidate], done: set[str]) -> list[Candidate]:
    return [c for c in found if c.item.path not in done and (c.source_image or c.item.path) not in done]


# ---- ranking ------------------------------------------------------------------------------------------------


def described(found: Sequence[Candidate], model, settings, batch_size: int) -> Iterator[tuple[Candidate, object]]:
    """(candidate, Uncertainty) for every readable image, in input order; unreadable ones are reported and left out."""
    classes = settings.classes
    with ThreadPoolExecutor(usable_cores()) as pool:
        for start in range(0, len(found), batch_size):
            chunk = found[start : start + batch_size]
            prepared = list(pool.map(lambda c: predict.pixels_or_reason(c.item, settings), chunk))
            ok = [i for i, p in enumerate(prepared) if not isinstance(p, str)]
            for i, p in enumerate(prepared):
                if isinstance(p, str):
                    print(f"skipped: {chunk[i].item.path}: {p}", file=sys.stderr)
            if not ok:
                continue
            probs = np.asarray(model.predict_on_batch(np.stack([prepared[i] for i in ok]).astype(np.float32)))
            given = [chunk[i].given if chunk[i].given in classes else None for i in ok]
            yield from zip((chunk[i] for i in ok), uncertainty.describe(probs, classes, given))


def least_certain(scored: Sequence[tuple[Candidate, object]], n: int, by: str) -> list[tuple[Candidate, object]]:
    ranked = uncertainty.order([u for _, u in scored], by)
    return [scored[i] for i in ranked[:n]]


def with_copies(
    chosen: Sequence[tuple[Candidate, object]], folder: str | Path, image_root: str | None
) -> list[tuple[Candidate, object]]:
    """The chosen images, each shard member copied into `folder` (relative to the repository) and linked there."""
    out = []
    for c, u in chosen:
        if not c.link:
            try:
                copy = shards.extract(c.item.path, folder).as_posix()
            except FileNotFoundError as exc:
                raise FashionError(f"{c.item.path}: {exc}") from None
            link = label_studio.image_reference(copy, image_root) if image_root else label_studio.local_file(copy)
            c = replace(c, link=link)
        out.append((c, u))
    return out


def tasks(chosen: Sequence[tuple[Candidate, object]], model_version: str) -> list[dict]:
    """Label Studio tasks, least certain first; `rank` 1 is the least certain."""
    out = []
    for rank, (c, u) in enumerate(chosen, 1):
        extra = {"box": list(c.item.box)} if c.item.box else {}
        if c.source_image is not None:
            extra |= {"source_image": c.source_image, "given_label": c.given}
        out.append(
            label_studio.task(
                c.item.path, u.label, u.probability, model_version, c.link, **extra, **u.fields(), rank=rank
            )
        )
    return out


# ---- Label Studio -------------------------------------------------------------------------------------------


class Project:
    """One Label Studio project through its REST API (token auth)."""

    def __init__(self, url: str, project: int, api_key: str | None):
        from fashioncat.annotate.remote_images import checked_base

        if not api_key:
            raise FashionError("--url needs Label Studio's API token in LABEL_STUDIO_API_KEY")
        self.url, self.project, self.headers = checked_base(url), project, {"Authorization": f"Token {api_key}"}

    def _call(self, method: str, path: str, **kw):
        import httpx2

        url = f"{self.url}{path}"
        try:
            response = httpx2.request(method, url, headers=self.headers, timeout=120, **kw)
        except httpx2.HTTPError as exc:
            raise FashionError(f"{url}: Label Studio not reached ({type(exc).__name__}: {exc})") from None
        if response.status_code >= 300:
            raise FashionError(f"{url}: Label Studio answered HTTP {response.status_code}: {response.text[:200]}")
        return response.json()

    def label_config(self) -> str:
        return self._call("GET", f"/api/projects/{self.project}/").get("label_config", "")

    def images(self) -> set[str]:
        """The images the project's tasks already name (data.path and data.source_image)."""
        export = self._call(
            "GET", f"/api/projects/{self.project}/export", params={"exportType": "JSON", "download_all_tasks": "true"}
        )
        return _task_images(export, f"project {self.project}")

    def send(self, found: list[dict]) -> int:
        answer = self._call("POST", f"/api/projects/{self.project}/import", json=found)
        return int(answer.get("task_count", len(found)))


# ---- command line -------------------------------------------------------------------------------------------

HELP = """\
Choose the next images to review: the N the model is least sure of, as Label Studio tasks.

SOURCE (--images): a folder, .txt or .csv of images, as for `annotate`; or a crop stage manifest
(data/cropped/<dataset>/records.csv, data/split/<dataset>/test.csv: columns image, label,
source_image), which makes review tasks whose answers become corrections.

Each task's data carries margin (top-1 minus top-2 probability), entropy (nats) and, for a
manifest, label_quality (cleanlab; low: the given label is probably wrong), and rank (1: the
least certain); its prediction carries the model's top class, score (its probability) and
model_version. In the Data Manager, sort by margin ascending.

--out tasks.json writes the tasks and tasks.label_config.xml; --url URL --project ID imports
them into that project (token from LABEL_STUDIO_API_KEY), leaving out images it already has.
"""


def add_command(subparsers) -> None:
    p = subparsers.add_parser(
        "next-batch",
        help="the N least certain images as Label Studio tasks",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--images", required=True, metavar="SOURCE", help="folder, .txt, .csv or crop stage manifest")
    p.add_argument("--n", type=_positive, default=50, help="tasks in the batch (default 50)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="FOLDER", help="bundle (default models/annotator)")
    p.add_argument("--out", metavar="TASKS.json", help="write the tasks here (and the labelling configuration beside)")
    p.add_argument("--url", help="Label Studio: import the tasks into --project there")
    p.add_argument("--project", type=int, help="the Label Studio project id, with --url")
    p.add_argument("--by", choices=uncertainty.RANKINGS, default="margin", help="least certain by (default margin)")
    p.add_argument("--skip", action="append", default=[], metavar="FILE", help="corrections .csv or tasks .json")
    p.add_argument("--image-root", metavar="URL|FOLDER", help="how Label Studio reaches the images, as for annotate")
    p.add_argument("--batch-size", type=_positive, default=64, help="images per prediction (default 64)")
    p.add_argument(
        "--review-images",
        metavar="FOLDER",
        help="copies of chosen images kept in the crop stage's shards (default: <--out>_images, or review_images)",
    )
    p.set_defaults(handler=run)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def run(args: argparse.Namespace) -> int:
    try:
        report = _run(args)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report, file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> str:
    if not args.out and not args.url:
        raise FashionError("give --out TASKS.json, --url URL --project ID, or both")
    if args.url and args.project is None:
        raise FashionError("--url needs --project ID")
    if args.out and Path(args.out).suffix.lower() != ".json":
        raise FashionError(f"{args.out}: tasks are written as .json")
    found = candidates(args.images, args.image_root)
    if args.by == "label_quality" and not any(c.given for c in found):
        raise FashionError(f"{args.images}: --by label_quality needs given labels (a crop stage manifest)")
    project = Project(args.url, args.project, os.environ.get("LABEL_STUDIO_API_KEY")) if args.url else None
    done = reviewed(args.skip) | (project.images() if project else set())
    todo = unreviewed(found, done)
    from fashioncat.annotate import backend, bundle  # TensorFlow: once the inputs are known to be usable

    model, settings = bundle.load(args.model)
    if project:
        backend.check_choices(label_studio.names(project.label_config()), settings.classes)
    scored = list(described(todo, model, settings, args.batch_size))
    copies = args.review_images or (str(Path(args.out).with_suffix("")) + "_images" if args.out else "review_images")
    chosen = with_copies(least_certain(scored, args.n, args.by), copies, args.image_root)
    batch = tasks(chosen, label_studio.model_version(args.model))
    if args.out:
        write_json(args.out, batch)
        write_text(label_studio.config_path(args.out), label_studio.labeling_config(settings.classes))
    sent = project.send(batch) if project and batch else 0
    where = " and ".join(filter(None, [args.out, f"project {args.project} ({sent} imported)" if project else ""]))
    return (
        f"{where}: {len(batch)} least certain of {len(scored)} images by {args.by}"
        f" ({len(found) - len(todo)} already reviewed left out)"
    )
