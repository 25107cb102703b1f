"""The crop stage's work: every record cropped, converted and resized, on all cores."""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from fashioncat.data.images import ImageProblem, png_bytes, prepare
from fashioncat.data.records import Drop, Record
from fashioncat.io import usable_cores


@dataclass(frozen=True)
class Job:
    record: Record
    source: str  # absolute path of the original image
    dest: str  # absolute path of the PNG to write
    margin: float
    size: int
    fit: str


def cropped_name(record: Record) -> str:
    """A stable file name for the cropped image of `record`: one per garment where a photo holds several."""
    key = f"{record.image}#{record.item}" if record.item else record.image
    return hashlib.sha1(key.encode()).hexdigest()[:20] + ".png"


def _run(job: Job) -> tuple[Job, str, str, str]:
    """(job, digest of the original pixels, digest of the PNG written, "") or (job, "", "", reason)."""
    try:
        img, digest = prepare(job.source, job.record.box, job.margin, job.size, job.fit)
    except ImageProblem as problem:
        return job, "", "", str(problem)
    png = png_bytes(img)
    Path(job.dest).write_bytes(png)  # inside a temporary folder: see crop_all
    return job, digest, hashlib.sha1(png).hexdigest()[:20], ""


def crop_all(
    records: list[Record],
    root: Path,
    out_images: Path,
    *,
    margin: float,
    size: int,
    fit: str,
    workers: int,
    image_prefix: str,
) -> tuple[list[dict], list[Drop]]:
    """Write one PNG per usable record into `out_images`; return manifest rows and drops.

    `out_images` may be a temporary folder that is renamed later: manifest rows
    name each image as `image_prefix/<name>`, its final path from the repository root.
    """
    out_images.mkdir(parents=True, exist_ok=True)
    jobs = [Job(r, str(root / r.image), str(out_images / cropped_name(r)), margin, size, fit) for r in records]
    workers = workers or usable_cores()
    rows, drops = [], []
    progress = tqdm(total=len(jobs), desc="crop", unit="img", file=sys.stderr, mininterval=1.0, disable=None)
    with ProcessPoolExecutor(max_workers=workers) if workers > 1 else _Serial() as pool:
        for job, digest, pixels, reason in pool.map(
            _run, jobs, chunksize=max(1, min(64, len(jobs) // (workers * 8) or 1))
        ):
            progress.update()
            record = job.record
            if reason:
                drops.append(Drop(record.origin, _reason_key(reason), record.label, reason))
                continue
            rows.append(
                {
                    "image": f"{image_prefix}/{Path(job.dest).name}",
                    "label": record.label,
                    "group": digest,
                    "pixels": pixels,
                    "source_image": record.image,
                    "origin": record.origin,
                }
            )
    progress.close()
    return rows, drops


def _reason_key(reason: str) -> str:
    """The short reason used for counting ("unreadable image"), without the per-file detail."""
    return reason.split(" (", 1)[0]


class _Serial:
    """The executor interface, in this process: one core needs no pool."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, items, chunksize=1):
        return map(fn, items)
