"""Data at scale: what DVC costs on 50,000 images as one file each against the same images in shards.

    python bench/data_layout.py [--images 50000] [--classes 10] [--size 32] [--rounds 1] [--repeats 6]
                                [--out bench/data_layout.md] [--results bench/results.jsonl]

Makes `--images` synthetic RGB crops (`--size` px; a smooth colour field plus a little noise,
PNG-encoded by the crop stage's own `png_bytes`: about 2.0 KB each at 32 px, as the default
run's crops on disk) and stores them three ways, each in its own throw-away git + DVC repository
with a local DVC remote beside it:

  files        the crop stage's layout until December 2026: data/cropped/source/images/<id>.png,
               one file per image, plus records.csv (image, label), one DVC directory output
  tar shards   the crop stage's layout now: the same PNGs in data/cropped/source/shards/00000.tar,
               00001.tar, ... (`fashioncat.data.shards.Writer`, 5,000 each), records.csv naming
               each image by shard and member
  npz shards   the decoded pixels, one .npz per class (uint8 array (n, size, size, 3) and the
               ids; np.savez, uncompressed: loading needs no PNG decoding, but at 224 px it is
               twice the bytes of the PNGs)

and times, per layout, the DVC commands a pipeline's data output goes through:
`dvc add` (the first hashing, and the copy into the cache), the first `dvc repro` of a trivial
stage that depends on the data, `dvc status` and `dvc repro` with nothing changed, `dvc push`
to the local remote, removing the workspace copy and `dvc checkout`, `dvc pull` in a fresh
`git clone` (empty cache), and reading every image's pixels into memory: for files and tar
shards through training's own input path (`load_split` + `decode_all`), for npz `np.load`. Each
figure is the wall time of one command (its Python start-up included); with `--rounds` > 1 the
layouts alternate order by round and the median is shown.

With `--results`, three rows go to `make bench`'s table with verdicts (issue 32's goals, at
50,000 images): the tar shards' no-op `dvc status` (<= 3 s) and `dvc checkout` (<= 5 s), each
timed `--repeats` times in the clone, and training's input rate on tar shards against files
(>= 1.0x), in `--repeats` paired rounds of `decode_all` over every image, alternating order.

At 224 px an image has 49x the pixels; `--size 224 --images 5000` measures a tenth of the
paper's 50,000 at that size (docs/scaling.md, "Data at scale").

One-off command timings with no goal do not fit bench/results.jsonl's rows (figure, goal,
verdict), so the table is printed and written to `--out` as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchstats  # noqa: E402

from fashioncat.data import shards  # noqa: E402
from fashioncat.data.images import png_bytes  # noqa: E402

LAYOUTS = ("files", "tar shards", "npz shards")
DATA_DIR = {"files": "data/cropped/source", "tar shards": "data/cropped/source", "npz shards": "data/shards/source"}
STEPS = {
    "write": "write the data (Python; not DVC)",
    "add": "`dvc add` (first hashing, copy into the cache)",
    "repro1": "first `dvc repro` of a stage on the data",
    "status": "`dvc status`, nothing changed",
    "repro": "`dvc repro`, nothing changed",
    "push": "`dvc push` to a local remote",
    "checkout": "remove the data, `dvc checkout`",
    "pull": "`dvc pull` in a fresh clone (empty cache)",
    "read": "read every image's pixels (training's `decode_all`; npz: `np.load`)",
}
COUNT = """import sys
from pathlib import Path
files = [p for p in Path(sys.argv[1]).rglob("*") if p.is_file()]
Path(sys.argv[2]).write_text(f"{len(files)} files, {sum(p.stat().st_size for p in files)} bytes\\n")
"""
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost"}
ENV.update(GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")


def synthetic(count: int, size: int, seed: int = 0) -> np.ndarray:
    """`count` smooth random colour fields (4x4 upsampled bicubic) with +-2 noise: PNGs of about 2 KB at 32 px."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        field = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
        noisy = np.asarray(field, dtype=np.int16) + rng.integers(-2, 3, (size, size, 3))
        out[i] = np.clip(noisy, 0, 255)
    return out


def run(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of one command; its output is kept only when it fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return seconds


def dvc(*args: str, cwd: Path) -> float:
    return run([sys.executable, "-m", "dvc", *args], cwd)


def git(*args: str, cwd: Path) -> float:
    return run(["git", *args], cwd)


def write(layout: str, repo: Path, pixels: np.ndarray, labels: np.ndarray, classes: list[str]) -> None:
    """The images in the layout's folder (the DVC output) under `repo`."""
    folder = repo / DATA_DIR[layout]
    folder.mkdir(parents=True)
    ids = [f"{i:020x}" for i in range(len(pixels))]
    if layout == "files":
        (folder / "images").mkdir()
        rows = ["image,label"]
        for i, name in enumerate(ids):
            path = f"{DATA_DIR[layout]}/images/{name}.png"  # relative to the repository, as the crop stage's
            (folder / "images" / f"{name}.png").write_bytes(png_bytes(Image.fromarray(pixels[i])))
            rows.append(f"{path},{classes[labels[i]]}")
        (folder / "records.csv").write_text("\n".join(rows) + "\n")
        return
    if layout == "tar shards":
        rows = ["image,label"]
        with shards.Writer(folder / shards.FOLDER) as writer:
            for i, name in enumerate(ids):
                shard = writer.add(f"{name}.png", png_bytes(Image.fromarray(pixels[i])))
                rows.append(f"{DATA_DIR[layout]}/{shards.FOLDER}/{shard}/{name}.png,{classes[labels[i]]}")
        (folder / "records.csv").write_text("\n".join(rows) + "\n")
        return
    (folder / "classes.json").write_text(json.dumps(classes))
    for k, label in enumerate(classes):
        rows = np.flatnonzero(labels == k)
        np.savez(folder / f"{label}.npz", images=pixels[rows], ids=np.array([ids[i] for i in rows]))


def read(layout: str, repo: Path, classes: list[str], size: int) -> int:
    """Every image's pixels into memory, as a training stage gets them; the image count."""
    folder = repo / DATA_DIR[layout]
    if layout != "npz shards":
        from fashioncat.model.inputs import decode_all, load_split

        paths, _ = load_split(folder / "records.csv", classes, root=repo)
        return len(decode_all(list(paths), size))
    count = 0
    for shard in sorted(folder.glob("*.npz")):
        with np.load(shard) as z:
            count += len(z["images"])
    return count


def footprint(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def one_layout(layout: str, root: Path, pixels: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """Seconds of every step for one layout in a fresh repository under `root`."""
    repo, remote = root / "repo", root / "remote"
    repo.mkdir(parents=True)
    remote.mkdir()
    git("init", "-q", cwd=repo)
    dvc("init", "-q", cwd=repo)
    dvc("remote", "add", "-d", "local", str(Path("..") / "remote"), cwd=repo)
    (repo / "count.py").write_text(COUNT)
    data = DATA_DIR[layout]
    t: dict = {}
    start = time.perf_counter()
    write(layout, repo, pixels, labels, classes)
    t["write"] = time.perf_counter() - start
    t["files"], t["bytes"] = footprint(repo / data)
    t["add"] = dvc("add", "-q", data, cwd=repo)
    dvc("stage", "add", "-q", "-n", "count", "-d", "count.py", "-d", data, "-o", "count.txt",
        f"{sys.executable} count.py {data} count.txt", cwd=repo)  # fmt: skip
    t["repro1"] = dvc("repro", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "data", cwd=repo)
    t["status"] = dvc("status", "-q", cwd=repo)
    t["repro"] = dvc("repro", "-q", cwd=repo)
    t["push"] = dvc("push", "-q", cwd=repo)
    shutil.rmtree(repo / data)
    t["checkout"] = dvc("checkout", "-q", cwd=repo)
    git("clone", "-q", str(repo), str(root / "clone"), cwd=root)
    t["pull"] = dvc("pull", "-q", cwd=root / "clone")
    start = time.perf_counter()
    assert read(layout, root / "clone", classes, pixels.shape[1]) == len(pixels)
    t["read"] = time.perf_counter() - start
    return t


def goals(root: Path, files_root: Path, classes: list[str], size: int, repeats: int, results: str | None) -> None:
    """The goal rows: repeated no-op `dvc status` and `dvc checkout` on the tar shards' clone, and the
    input rate of tar shards against files in paired rounds."""
    clone = root / "clone"
    data = clone / DATA_DIR["tar shards"]
    status = [dvc("status", "-q", cwd=clone) for _ in range(repeats)]
    checkout = []
    for _ in range(repeats):
        shutil.rmtree(data)
        checkout.append(dvc("checkout", "-q", cwd=clone))
    sides = {
        layout: benchstats.timed(lambda r=r, layout=layout: read(layout, r, classes, size))
        for layout, r in (("files", files_root / "clone"), ("tar shards", clone))
    }
    times = benchstats.rounds(sides, repeats)
    rate = benchstats.spread(benchstats.ratios(times["files"], times["tar shards"]))
    count = len((data / "records.csv").read_text().splitlines()) - 1
    per_second = count / statistics.median(times["tar shards"])
    where = f"{count:,} images of {size} px, crop's tar shards"
    for what, values, goal in (("no-op `dvc status`", status, 3.0), ("`dvc checkout` after removal", checkout, 5.0)):
        s = benchstats.spread(values)
        print(f"  {what}: {benchstats.describe(s, ' s', 1)}")
        benchstats.record(
            results,
            benchmark=f"data layout: {what} ({where})",
            figure=benchstats.describe(s, " s", 1),
            goal=f"<= {goal:.0f} s",
            verdict=benchstats.verdict(s, goal + 1e-9, at_least=False),
        )
    print(f"  input rate, shards / files: {benchstats.describe(rate)} ({per_second:,.0f} images/s on shards)")
    benchstats.record(
        results,
        benchmark=f"data layout: training's input rate (`decode_all`), shards against files ({where}; "
        f"{per_second:,.0f} images/s)",
        figure=benchstats.describe(rate),
        goal=">= 1.00x",
        verdict=benchstats.verdict(rate, 1.0, at_least=True),
    )


def startup(scratch: Path) -> float:
    """DVC's fixed cost: `dvc status` in an empty repository (the best of 3)."""
    repo = scratch / "empty"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    dvc("init", "-q", cwd=repo)
    return min(dvc("status", "-q", cwd=repo) for _ in range(3))


def fmt_s(values: list[float]) -> str:
    m = statistics.median(values)
    text = f"{m:.1f} s" if m < 100 else f"{m:.0f} s"
    return text + (f" ({', '.join(f'{v:.1f}' for v in values)})" if len(values) > 1 else "")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--size", type=int, default=32, help="px per side (the default run's crop.size)")
    p.add_argument("--rounds", type=int, default=1, help="fresh repositories per layout; layouts alternate order")
    p.add_argument("--out", type=Path, help="also write the Markdown table here (bench/data_layout.md)")
    p.add_argument("--tmp", help="folder for the throw-away repositories (default: the system's temp folder)")
    p.add_argument("--repeats", type=int, default=6, help="timings per goal row (at least 6 for a 95%% interval)")
    p.add_argument("--results", help="append the goal rows (JSON lines) here, for `make bench`'s table")
    args = p.parse_args()

    classes = [f"class_{k}" for k in range(args.classes)]
    labels = np.arange(args.images) % args.classes
    started = time.perf_counter()
    pixels = synthetic(args.images, args.size)
    print(f"{args.images} images of {args.size} px made in {time.perf_counter() - started:.0f} s", flush=True)
    times: dict[str, list[dict]] = {layout: [] for layout in LAYOUTS}
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="data_layout_") as scratch:
        ENV["DVC_SITE_CACHE_DIR"] = str(Path(scratch) / "site_cache")  # DVC's state and index, gone with the rest
        base = startup(Path(scratch))
        for r in range(args.rounds):
            for layout in LAYOUTS if r % 2 == 0 else reversed(LAYOUTS):
                root = Path(scratch) / f"round{r}" / layout.replace(" ", "_")
                t = one_layout(layout, root, pixels, labels, classes)
                times[layout].append(t)
                print(f"round {r + 1} {layout}: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()), flush=True)
                if r < args.rounds - 1:
                    shutil.rmtree(root)
        last = Path(scratch) / f"round{args.rounds - 1}"
        goals(last / "tar_shards", last / "files", classes, args.size, args.repeats, args.results)
    table = render(args, times, base)
    print(table)
    if args.out:
        args.out.write_text(table)


def render(args, times: dict[str, list[dict]], base: float) -> str:
    first = {layout: rows[0] for layout, rows in times.items()}
    head = "| step | " + " | ".join(LAYOUTS) + " |"
    rule = "|---" * (len(LAYOUTS) + 1) + "|"
    lines = [
        f"# Data layout: {args.images:,} images of {args.size} px, {args.classes} classes",
        "",
        f"{datetime.now(UTC):%d %B %Y}, `python bench/data_layout.py --images {args.images} --size {args.size} "
        f"--rounds {args.rounds}`; machine: {benchstats.machine()}; {dvc_version()}; cache link type: DVC's "
        f"default (copy on this file system); {args.rounds} round(s); DVC start-up (`dvc status`, empty "
        f"repository) {base:.1f} s.",
        "",
        head,
        rule,
        "| files in the DVC output | "
        + " | ".join(f"{first[la]['files']:,} ({first[la]['bytes'] / 1e6:.0f} MB)" for la in LAYOUTS)
        + " |",
    ]
    for key, label in STEPS.items():
        lines.append(f"| {label} | " + " | ".join(fmt_s([t[key] for t in times[la]]) for la in LAYOUTS) + " |")
    return "\n".join(lines) + "\n"


def dvc_version() -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", "--version"], capture_output=True, text=True, env=ENV)
    return f"DVC {done.stdout.strip()}"


if __name__ == "__main__":
    main()
