"""The ML backend under load: /predict throughput and p50/p99 latency for requests of 1 and of 32 tasks.

    python bench/serve.py [--model models/annotator] [--stand-in] [--clients 8] [--rounds 5]
                          [--results FILE]

`python -m fashioncat serve` runs in its own process (uvicorn, the real command), and the
images come over HTTP from tests/image_server.py, which answers like Label Studio's
local-files server (token checked): 64 JPEGs of 200x150. Each round sends

- batch 1: `--clients` clients at once, each posting 20 single-task requests one after
  another (reviewers opening tasks): Label Studio's usual call;
- batch 32: 2 clients at once, each posting 4 requests of 32 tasks (a Data Manager
  "Retrieve predictions" on a page of tasks);

in interleaved order. The figures: images per second (median over rounds, IQR), and
the latency of a request, p50 and p99 over every request of every round. The backend's
/metrics says how many images each model call held: the batcher's doing.

Goals: batch 1, p99 under 1 s with `--clients` reviewers at once; batch 32, at least half
the images/s of `annotate` in one process at batch 32 on the same files (measured first,
with the server not yet started): the HTTP, fetching and batching overhead at most 2x.
Everything shares the machine's cores, as Label Studio would.

Without the bundle, `--stand-in` serves the project's ResNet50 at 32 px (untrained, 10
classes; speed does not depend on the weights) and says so on every line and in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
import benchstats  # noqa: E402
import fixtures  # noqa: E402
from image_server import ImageServer  # noqa: E402

TOKEN = "bench-token"
IMAGES = 64
P99_GOAL_MS = 1000.0
RATE_GOAL = 0.5


def stand_in(folder: Path) -> Path:
    from fashioncat.annotate import bundle
    from fashioncat.config import Hyper
    from fashioncat.model import models

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    classes = [f"class_{i}" for i in range(10)]
    models.build("resnet50", len(classes), 32, Hyper(**params["train"]["hyper"])).save(folder / "stand_in.keras")
    (folder / "classes.json").write_text(json.dumps(classes))
    bundle.write(
        folder / "stand_in.keras", folder / "classes.json", folder / "annotator", image_size=32, margin=0.05,
        crop_size=64, fit="stretch",
    )  # fmt: skip
    return folder / "annotator"


def in_process_rate(model_dir: Path, files: list[Path], rounds: int) -> benchstats.Spread:
    """`annotate` at batch 32 on the same files, in this process: images/s per round."""
    from fashioncat.annotate import bundle
    from fashioncat.annotate import cli as annotation
    from fashioncat.annotate.inputs import Item

    model, settings = bundle.load(model_dir)
    items = [Item(str(f), f) for f in files]
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out.csv"
        side = benchstats.timed(lambda: annotation.annotate(items, model, settings, out, batch_size=32, progress=False))
        times = benchstats.rounds({"annotate": side}, rounds)["annotate"]
    return benchstats.spread([len(items) / s for s in times])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(model_dir: Path, files_url: str, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_URL": files_url, "LABEL_STUDIO_API_KEY": TOKEN}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "fashioncat", "serve", "--model", str(model_dir), "--port", str(port)]
    with open(log, "wb") as out:  # a file, not a pipe nobody reads: a full pipe would stall the server
        server = subprocess.Popen([*command, "--no-corrections", "--poll", "0"], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    import httpx2

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the backend exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except httpx2.HTTPError:
            time.sleep(0.5)
    server.kill()
    sys.exit("the backend did not answer /health within 180 s")


def load(url: str, links: list[str], clients: int, requests: int, tasks: int, latencies: list[float]):
    """A round's side: `clients` threads, each posting `requests` requests of `tasks` tasks; returns wall seconds."""
    import httpx2

    failures = []

    def client(c: int) -> None:
        rng = np.random.default_rng(c)
        with httpx2.Client(timeout=120) as http:
            for _ in range(requests):
                chosen = rng.choice(len(links), tasks, replace=tasks > len(links))
                body = {"tasks": [{"id": int(i), "data": {"image": links[i]}} for i in chosen]}
                started = time.perf_counter()
                response = http.post(f"{url}/predict", json=body)
                latencies.append(time.perf_counter() - started)
                answer = response.json()
                if response.status_code != 200 or any(not res for res in answer["results"]):
                    failures.append(f"{response.status_code}: {str(answer)[:300]}")

    def run() -> float:
        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            sys.exit(f"/predict failed: {failures[0]}")
        return time.perf_counter() - started

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/annotator", help="bundle folder (default: models/annotator)")
    p.add_argument("--clients", type=int, default=8, help="concurrent single-task clients (default 8)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per side (after one warm-up)")
    p.add_argument("--stand-in", action="store_true", help="no bundle: the project's ResNet50, untrained; says so")
    p.add_argument("--results", help="append the table rows to this JSON-lines file (make bench)")
    args = p.parse_args()
    title = "serve: /predict"
    if not Path(args.model).is_dir() and not args.stand_in:
        print(f"error: no bundle at {args.model}: `dvc repro bundle` first, or --stand-in", file=sys.stderr)
        for batch in (1, 32):
            benchstats.record(
                args.results, benchmark=f"{title}, batch {batch}", figure=f"not measured: no bundle at {args.model}",
                goal="-", verdict="not measured",
            )  # fmt: skip
        sys.exit(2)
    stand = "" if Path(args.model).is_dir() else "STAND-IN RESNET50, UNTRAINED: "
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model_dir = stand_in(root) if stand else Path(args.model)
        photos = root / "photos"
        photos.mkdir()
        files = []
        for i in range(IMAGES):
            fixtures.garment(i, size=(150, 200)).save(photos / f"{i:03d}.jpg", quality=90)
            files.append(photos / f"{i:03d}.jpg")
        baseline = in_process_rate(model_dir, files, args.rounds)
        with ImageServer(photos, TOKEN) as files_server:
            links = [files_server.link(f.name) for f in files]
            server, url = start(model_dir, files_server.url, root / "backend.log")
            try:
                latencies: dict[int, list[float]] = {1: [], 32: []}
                shape = {1: (args.clients, 20, 1), 32: (2, 4, 32)}  # clients, requests each, tasks per request
                sides = {b: load(url, links, *shape[b], latencies[b]) for b in (1, 32)}
                times = benchstats.rounds(sides, args.rounds)
                for b in (1, 32):  # the warm-up round's requests are not the steady state
                    del latencies[b][: shape[b][0] * shape[b][1]]
                import httpx2

                counters = httpx2.get(f"{url}/metrics", timeout=10).json()
            finally:
                server.terminate()
                server.wait(30)
    rates = {b: benchstats.spread([shape[b][0] * shape[b][1] * shape[b][2] / s for s in times[b]]) for b in (1, 32)}
    pct = {b: np.percentile(np.array(latencies[b]) * 1000, [50, 99]) for b in (1, 32)}
    per_call = counters["images_predicted"] / max(counters["model_calls"], 1)
    p99_verdict = benchstats.MET if pct[1][1] < P99_GOAL_MS else benchstats.NOT_MET
    ratio = rates[32].median / baseline.median
    rate_verdict = benchstats.MET if ratio >= RATE_GOAL else benchstats.NOT_MET

    print(f"{stand}serve benchmark: {model_dir.name} bundle, JPEG 200x150 over HTTP, {benchstats.machine()}")
    spread = f"IQR {baseline.q1:.1f}-{baseline.q3:.1f}"
    print(f"  {stand}annotate in process, batch 32: {baseline.median:.1f} images/s ({spread})")
    for b in (1, 32):
        clients, each, tasks = shape[b]
        print(
            f"  {stand}batch {b:>2} ({clients} clients x {each} requests of {tasks}): {rates[b].median:7.1f} images/s "
            f"(IQR {rates[b].q1:.1f}-{rates[b].q3:.1f}); latency p50 {pct[b][0]:.0f} ms, p99 {pct[b][1]:.0f} ms "
            f"({len(latencies[b])} requests)"
        )
    print(f"  {stand}images per model call: {per_call:.1f} ({counters['model_calls']} calls)")
    print(
        f"  {stand}batch 1 p99 < {P99_GOAL_MS:.0f} ms: {p99_verdict}; batch 32 at {ratio:.2f}x annotate: {rate_verdict}"
    )
    benchstats.record(
        args.results,
        benchmark=f"{stand}{title}, batch 1 ({args.clients} clients at once; {model_dir.name})",
        figure=(
            f"{rates[1].median:.0f} images/s (IQR {rates[1].q1:.0f}-{rates[1].q3:.0f}; {rates[1].n} rounds); "
            f"p50 {pct[1][0]:.0f} ms, p99 {pct[1][1]:.0f} ms; {per_call:.1f} images per model call"
        ),
        goal=f"p99 < {P99_GOAL_MS:.0f} ms",
        verdict=p99_verdict,
    )
    benchstats.record(
        args.results,
        benchmark=f"{stand}{title}, batch 32 (2 clients at once; {model_dir.name})",
        figure=(
            f"{rates[32].median:.0f} images/s (IQR {rates[32].q1:.0f}-{rates[32].q3:.0f}); p50 {pct[32][0]:.0f} ms, "
            f"p99 {pct[32][1]:.0f} ms; {ratio:.2f}x annotate in process ({baseline.median:.0f} images/s)"
        ),
        goal=f">= {RATE_GOAL:.1f}x annotate in process",
        verdict=rate_verdict,
    )


if __name__ == "__main__":
    main()
