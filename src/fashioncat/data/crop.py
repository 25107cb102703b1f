"""The crop stage's work: every record cropped, converted and resized, on all cores, into tar shards."""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from fashioncat.data import shards
from fashioncat.data.images import ImageProblem, png_bytes, prepare
from fashioncat.data.records import Drop, Record
from fashioncat.io import usable_cores


@dataclass(frozen=True)
class Job:
    record: Record
    source: str  # absolute path of the original image
    name: str  # the cropped image's name in its shard (`cropped_name`)
    position: int  # the record's place in the reader's list: rows and drops keep that order
    margin: float
    size: int
    fit: str


def cropped_name(record: Record) -> str:
    """A stable file name for the cropped image of `record`: one per garment where a photo holds several."""
    key = f"{record.image}#{record.item}" if record.item else record.image
    return hashlib.sha1(key.encode()).hexdigest()[:20] + ".png"


def _run(job: Job) -> tuple[Job, str, bytes, str]:
    """(job, digest of the original pixels, the PNG, "") or (job, "", b"", reason)."""
    try:
        img, digest = prepare(job.source, job.record.box, job.margin, job.size, job.fit)
    except ImageProblem as problem:
        return job, "", b"", str(problem)
    return job, digest, png_bytes(img), ""


def crop_all(
    records: list[Record],
    root: Path,
    out_shards: Path,
    *,
    margin: float,
    size: int,
    fit: str,
    workers: int,
    image_prefix: str,
) -> tuple[list[dict], list[Drop]]:
    """One PNG per usable record, packed into tar shards in `out_shards`; return manifest rows and drops.

    `out_shards` may be a temporary folder that is renamed later: manifest rows name each
    image `image_prefix/<shard>/<name>`, from its final folder. Images go into the shards in
    the order of their names, so sorting the rows by `image` (as balance and split do)
    sorts them by name. Rows and drops come back in the records' order.
    """
    jobs = sorted(
        (Job(r, str(root / r.image), cropped_name(r), i, margin, size, fit) for i, r in enumerate(records)),
        key=lambda j: (j.name, j.position),
    )
    workers = workers or usable_cores()
    kept, drops = [], []
    progress = tqdm(total=len(jobs), desc="crop", unit="img", file=sys.stderr, mininterval=1.0, disable=None)
    with shards.Writer(out_shards) as writer:
        with ProcessPoolExecutor(max_workers=workers) if workers > 1 else _Serial() as pool:
            for job, digest, png, reason in pool.map(
                _run, jobs, chunksize=max(1, min(64, len(jobs) // (workers * 8) or 1))
            ):
                progress.update()
                record = job.record
                if reason:
                    drops.append((job.position, Drop(record.origin, _reason_key(reason), record.label, reason)))
                    continue
                shard = writer.add(job.name, png)
                row = {
                    "image": f"{image_prefix}/{shard}/{job.name}",
                    "label": record.label,
                    "group": digest,
                    "pixels": hashlib.sha1(png).hexdigest()[:20],
                    "source_image": record.image,
                    "origin": record.origin,
                }
                kept.append((job.position, row))
    progress.close()
    return [row for _, row in sorted(kept, key=_first)], [drop for _, drop in sorted(drops, key=_first)]


def _first(pair: tuple) -> int:
    return pair[0]


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
