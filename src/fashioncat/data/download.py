"""The download stage's work: bring a raw dataset into data/raw/<name>/.

DeepFashion comes from a folder or an archive and is copied (reflinked where the
file system can), never hard-linked: with `cache.type hardlink` DVC shares an
output's inode with its cache and makes it read-only, which would lock, and let
DVC alias, the user's original files. So do the own-data formats (coco, deepfashion2,
imagefolder, csv), copied whole once their layout is checked. iMaterialist comes as JSON with image URLs;
only the images whose labels map to exactly one class are fetched, concurrently,
and a re-run fetches only what is still missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from fashioncat.config import DownloadConfig
from fashioncat.data.classmap import ClassMap
from fashioncat.data.datasets import LAYOUTS, deepfashion, imaterialist
from fashioncat.data.fetch import extract_archive, fetch_all
from fashioncat.errors import FashionError
from fashioncat.io import atomic_dir, write_bytes, write_csv

try:
    import fcntl
except ImportError:  # not on Windows: plain copies there
    fcntl = None

FAILURE_FIELDS = ("origin", "url", "reason")


def deepfashion_tree(location: Path, out: Path) -> dict:
    """Copy (or extract) a DeepFashion tree into `out`; return file and byte counts."""
    if not location.exists():
        raise FashionError(f"{location}: DeepFashion location does not exist (datasets.source.location)")
    out.parent.mkdir(parents=True, exist_ok=True)  # the scratch folder beside it: moves stay on one file system
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        ours = location.is_file()  # an extracted archive is our own scratch copy: its files may be moved
        if ours:
            extract_archive(location, Path(scratch))
            location = _dataset_root(Path(scratch))
        deepfashion.check_layout(location)
        with atomic_dir(out) as tmp:
            files, size = _copy_tree(location, tmp, move=ours)
    return {"files": files, "bytes": size}


def dataset_tree(fmt: str, location: Path, out: Path) -> dict:
    """Copy (or extract) a coco, deepfashion2, imagefolder or csv dataset into `out`, every file of it;
    return file and byte counts. Its layout is checked first (datasets.LAYOUTS), as DeepFashion's is."""
    if not location.exists():
        raise FashionError(f"{location}: {fmt} dataset location does not exist (datasets.<name>.location)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        ours = location.is_file()
        if ours:
            extract_archive(location, Path(scratch))
            location = _only_folder(Path(scratch))
        LAYOUTS[fmt](location)
        with atomic_dir(out) as tmp:
            files = [p for p in sorted(location.rglob("*")) if p.is_file() and not p.is_symlink()]
            for path in files:
                target = tmp / path.relative_to(location)
                target.parent.mkdir(parents=True, exist_ok=True)
                if ours:  # an extracted archive is our own scratch copy: its files may be moved
                    os.replace(path, target)
                else:
                    clone_or_copy(path, target)
            size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    return {"files": len(files), "bytes": size}


def _only_folder(folder: Path) -> Path:
    """The dataset in an extracted archive: down through folders holding nothing but one folder."""
    while True:
        inside = [p for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(inside) != 1 or not inside[0].is_dir() or inside[0].is_symlink():
            return folder
        folder = inside[0]


def _remove_unlisted(images: Path, wanted: set[Path]) -> int:
    """Delete images an earlier run fetched that the current JSON no longer lists; return how many."""
    stale = [p for p in images.rglob("*") if p.is_file() and p not in wanted] if images.is_dir() else []
    for path in stale:
        path.unlink()
    return len(stale)


def _dataset_root(folder: Path) -> Path:
    """The folder inside an extracted archive that holds Anno/list_category_img.txt."""
    found = sorted(folder.rglob(deepfashion.CATEGORY))
    if not found:
        raise FashionError(f"archive has no {deepfashion.CATEGORY}")
    return found[0].parent.parent


def _copy_tree(src: Path, dest: Path, *, move: bool) -> tuple[int, int]:
    files = size = 0
    for folder in ("Anno", "Eval", "img"):
        for path in sorted((src / folder).rglob("*")) if (src / folder).is_dir() else []:
            if path.is_file() and not path.is_symlink():
                target = dest / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                size += path.stat().st_size
                if move:
                    os.replace(path, target)
                else:
                    clone_or_copy(path, target)
                files += 1
    return files, size


_FICLONE = 0x40049409  # Linux ioctl: share the source's blocks copy-on-write (btrfs, XFS, bcachefs)


def clone_or_copy(src: Path, dest: Path) -> None:
    """`dest` becomes an independent file with `src`'s bytes: a reflink where the file system
    offers one (instant, no extra space), else a plain copy. Never a hard link."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        if fcntl is not None:
            try:
                fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
                return
            except OSError:  # this file system has no reflinks
                pass
        shutil.copyfileobj(fin, fout, 1 << 20)


def imaterialist_images(location: Path, out: Path, classmap: ClassMap, settings: DownloadConfig, seed: int) -> dict:
    """Fetch the usable images listed in the JSON files at `location` into `out`; return a report."""
    if not location.exists():
        raise FashionError(f"{location}: iMaterialist location does not exist (datasets.target.location)")
    report: Counter = Counter()
    failures, jobs = [], []
    files = imaterialist.annotation_files(location)
    for path in files:
        all_entries = imaterialist.entries(path, classmap)
        report.update(e.problem for e in all_entries if e.problem)
        picked = imaterialist.chosen(all_entries, settings.max_per_class, seed)
        report["not selected (max_per_class)"] += sum(1 for e in all_entries if not e.problem) - len(picked)
        jobs += [(entry, path.parent) for entry in picked]
        write_bytes(out / imaterialist.ANNOTATIONS / path.name, path.read_bytes())
    results = []
    for base in dict.fromkeys(base for _, base in jobs):
        batch = [entry for entry, b in jobs if b == base]
        results += zip(
            batch,
            fetch_all(
                [(e.url, out / imaterialist.image_path(e)) for e in batch],
                base_dir=base,
                workers=settings.workers,
                timeout_s=settings.timeout_s,
                retries=settings.retries,
                max_bytes=settings.max_bytes,
                deadline_s=settings.deadline_s,
                local_roots=settings.local_roots,
                allowed_hosts=settings.allowed_hosts,
            ),
        )
    for entry, result in results:
        report[result.status] += 1
        if result.status == "failed":
            failures.append({"origin": entry.origin, "url": entry.url, "reason": result.reason})
    stale = _remove_unlisted(out / imaterialist.IMAGES, {out / imaterialist.image_path(e) for e, _ in jobs})
    stale += _remove_unlisted(out / imaterialist.ANNOTATIONS, {out / imaterialist.ANNOTATIONS / p.name for p in files})
    write_csv(out / "failures.csv", failures, FAILURE_FIELDS)
    return {
        "entries": sum(report.values()),
        **dict(sorted(report.items())),
        "failure_reasons": dict(Counter(f["reason"] for f in failures)),
        "stale_removed": stale,
    }
