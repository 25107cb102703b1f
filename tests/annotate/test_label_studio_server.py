"""A real Label Studio server: the project's tasks in, a reviewer's answers out, corrections into the data;
and the ML backend (`python -m fashioncat serve`) connected to it, closing the loop.

The server runs from Label Studio's own venv (`make ls-venv`: .venv-ls, pinned in
requirements-ls.txt), on loopback, with a fresh data folder and its local-files server
rooted at a temporary repository. The SDK lives in that venv too, so each step through it
is a call to tests/ls_client.py with .venv-ls/bin/python. Nothing is mocked: the tasks
and labelling configurations come from the label_issues stage's code and from
`python -m fashioncat annotate`, and the export goes through `python -m fashioncat corrections`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import fixtures
import pytest
from test_label_issues import CLASSES, colour_split

from fashioncat.__main__ import main as cli
from fashioncat.annotate import bundle, label_issues, label_studio
from fashioncat.data import manifest
from fashioncat.reporting import plots

pytestmark = pytest.mark.slow  # starts a Label Studio server: about a minute before it answers

ROOT = Path(__file__).resolve().parents[2]
LS_BIN = ROOT / ".venv-ls/bin"
CLIENT = Path(__file__).resolve().parents[1] / "ls_client.py"
START_TIMEOUT = 300  # seconds; a first start creates the database (about 70 s on 2 cores)
USER, PASSWORD = "ana@example.com", "reviewer-password-1"
ISSUES = "plots/5_label_issues"


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    repo: Path  # LOCAL_FILES_DOCUMENT_ROOT: the review tasks name their images relative to it
    log: Path


def stop_group(process: subprocess.Popen) -> None:
    """A server and its children: SIGTERM to the process group, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else ["(no log)"]
    return "\n".join(text[-lines:])


def ls_env(**extra: str) -> dict:
    """The environment for .venv-ls: none of the project venv's Python settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([str(LS_BIN), env.get("PATH", "")])
    return {**env, **extra}


def wait_until_up(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"Label Studio exited with status {process.returncode} before answering; its log:\n{log_tail(log)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if json.loads(response.read()).get("status") == "UP":
                    return
        except (OSError, ValueError):
            pass
        time.sleep(1)
    pytest.fail(f"Label Studio did not answer {url}/health within {START_TIMEOUT} s; its log:\n{log_tail(log)}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (LS_BIN / "label-studio").exists():
        pytest.skip("Label Studio's venv is missing: run `make ls-venv` (it creates .venv-ls)")
    repo, data = tmp_path_factory.mktemp("repo"), tmp_path_factory.mktemp("label-studio")
    log, port, token = data / "server.log", free_port(), secrets.token_hex(20)
    env = ls_env(
        LABEL_STUDIO_BASE_DATA_DIR=str(data),
        LOCAL_FILES_SERVING_ENABLED="true",
        LOCAL_FILES_DOCUMENT_ROOT=str(repo),
        LATEST_VERSION_CHECK="false",  # no call to pypi.org at start
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        # the ML backend test's backend listens on loopback, which Label Studio refuses by default (its SSRF guard
        # for ML backends and for the webhooks it adds for them)
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
    )
    command = [
        str(LS_BIN / "label-studio"),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data),
        "--username",
        USER,
        "--password",
        PASSWORD,
        "--user-token",
        token,
        "--enable-legacy-api-token",  # the fixed token above; without it only JWT personal access tokens work
    ]
    with open(log, "wb") as out:
        # a session of its own: the finalizer stops Label Studio and whatever it started, as one group
        process = subprocess.Popen(
            command, cwd=data, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(process, url, log)
        yield Server(url, token, repo, log)
    finally:
        stop_group(process)


def sdk(server: Server, step: str, request: dict, tmp_path: Path) -> dict:
    """One step of tests/ls_client.py in Label Studio's venv; a failure shows its traceback and the server log."""
    request_file = tmp_path / f"{step}.request.json"
    request_file.write_text(json.dumps({"url": server.url, "token": server.token, **request}))
    done = subprocess.run(
        [str(LS_BIN / "python"), str(CLIENT), step, str(request_file)],
        env=ls_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"ls_client {step}:\n{done.stderr[-4000:]}\nserver log:\n{log_tail(server.log)}"
    return json.loads(done.stdout)


def fetch(server: Server, url: str) -> bytes:
    """GET as the API user; a relative URL (the local-files server's) is on the server."""
    url = url if url.startswith("http") else server.url + url
    request = urllib.request.Request(url, headers={"Authorization": f"Token {server.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def as_sent(task: dict) -> tuple:
    """What a task says: its data, and each prediction's label, score and model version."""
    predictions = sorted(
        (r["value"]["choices"][0], p["score"], p["model_version"], r["from_name"], r["to_name"])
        for p in task["predictions"]
        for r in p["result"]
    )
    return json.dumps(task["data"], sort_keys=True), predictions


def fashioncat(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m fashioncat ...` in `repo`, from this checkout's src/."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "fashioncat", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )


def test_review_queue_round_trip_through_label_studio_into_the_corrections_file(server, tmp_path, monkeypatch):
    repo = server.repo
    monkeypatch.chdir(repo)
    colour_split(repo, per_class=20, flips=6)  # coloured squares, 6 of them mislabelled, and a colour model
    # the crop stage's record of the dataset, which the corrections import checks every image against
    images = sorted(p.relative_to(repo).as_posix() for p in (repo / "data/cropped/images").glob("*.png"))
    records = repo / "data/cropped/source/records.csv"
    records.parent.mkdir(parents=True)
    records.write_text("image,source_image\n" + "".join(f"{image},{image}\n" for image in images))
    label_issues.run(
        "final.keras",
        "data/split/source",
        f"{ISSUES}/label_issues.csv",
        f"{ISSUES}/label_issues.png",
        filter_by="prune_by_noise_rate",
        sheet=4,
        draw=plots.contact_sheet_png,
        tasks_path=f"{ISSUES}/review_tasks.json",
    )
    sent = json.loads((repo / ISSUES / "review_tasks.json").read_text())
    assert len(sent) >= 3, "the review queue needs three tasks for this test"

    project = sdk(
        server,
        "setup",
        {
            "title": "fashioncat review",
            "label_config": str(repo / ISSUES / "review_tasks.label_config.xml"),
            "tasks": str(repo / ISSUES / "review_tasks.json"),
            "storage": str(repo / "data/cropped/images"),
        },
        tmp_path,
    )
    # every task back as sent: image, path, source_image, given label, rank; prediction, score, model version
    assert sorted(as_sent(t) for t in project["tasks"]) == sorted(as_sent(t) for t in sent)
    first = min(project["tasks"], key=lambda t: t["data"]["rank"])
    assert fetch(server, first["data"]["image"]) == (repo / first["data"]["path"]).read_bytes()

    # a reviewer's answers to the top three: the model's suggestion, the given label confirmed, and a class that
    # is neither (the model overruled); the other tasks stay unanswered
    by_rank = sorted(project["tasks"], key=lambda t: t["data"]["rank"])
    changed, confirmed, overruled = by_rank[:3]
    answers = {
        changed["id"]: next(c for c in (suggestion(changed), *CLASSES) if c != changed["data"]["given_label"]),
        confirmed["id"]: confirmed["data"]["given_label"],
        overruled["id"]: next(c for c in CLASSES if c not in (overruled["data"]["given_label"], suggestion(overruled))),
    }
    sdk(
        server,
        "annotate",
        {
            "answers": [
                {"task": i, "label": label, "from_name": label_studio.FROM_NAME, "to_name": label_studio.TO_NAME}
                for i, label in answers.items()
            ]
        },
        tmp_path,
    )
    assert sdk(server, "export", {"project": project["project"], "out": str(repo / "review.json")}, tmp_path) == {
        "tasks": len(sent)
    }

    done = fashioncat(repo, "corrections", "review.json", "--dataset", "source")
    assert done.returncode == 0, done.stderr
    export = {t["id"]: t for t in json.loads((repo / "review.json").read_text())}
    expected = []
    for task in (changed, overruled):
        (annotation,) = export[task["id"]]["annotations"]
        # Label Studio 1.23's JSON export names the annotator by user id, not by email
        expected.append(
            ",".join(
                [
                    task["data"]["source_image"],
                    task["data"]["given_label"],
                    answers[task["id"]],
                    str(annotation["completed_by"]),
                    annotation["updated_at"],
                ]
            )
        )
    lines = (repo / "config/corrections/source.csv").read_text().splitlines()
    assert lines == ["image,old_label,new_label,by,at", *sorted(expected)]
    unanswered = [t["data"]["source_image"] for t in by_rank[3:]]
    assert done.stderr.count("no finished annotation") == len(unanswered)
    assert all(f"{image}: no finished annotation" in done.stderr for image in unanswered)
    assert f"2 correction(s) from {len(sent)} task(s), 2 in the file" in done.stderr


def suggestion(task: dict) -> str:
    return task["predictions"][0]["result"][0]["value"]["choices"][0]


def test_annotate_output_imports_with_its_labelling_configuration(server, tmp_path, monkeypatch):
    """`annotate --out tasks.json` into a project made from tasks.label_config.xml, images through the server."""
    models = tmp_path / "models"
    models.mkdir()
    fixtures.colour_model().save(models / "final.keras")
    (models / "classes.json").write_text(json.dumps(CLASSES))
    bundle.write(
        models / "final.keras",
        models / "classes.json",
        models / "annotator",
        image_size=32,
        margin=0.05,
        crop_size=64,
        fit="stretch",
    )
    photos = server.repo / "photos"
    photos.mkdir()
    for i in range(4):
        fixtures.garment(i).save(photos / f"photo-{i}.png")  # any picture: the check is on what travels
    monkeypatch.chdir(photos)
    out = tmp_path / "tasks.json"
    # the images under the server's document root, by URL: annotate names them as found in "."
    root = f"{server.url}{label_studio.LOCAL_FILES}photos"
    assert cli(["annotate", ".", "--out", str(out), "--model", str(models / "annotator"), "--image-root", root]) == 0
    sent = json.loads(out.read_text())
    assert len(sent) == 4

    project = sdk(
        server,
        "setup",
        {
            "title": "fashioncat annotate",
            "label_config": str(label_studio.config_path(out)),
            "tasks": str(out),
            "storage": str(photos),
        },
        tmp_path,
    )
    assert sorted(as_sent(t) for t in project["tasks"]) == sorted(as_sent(t) for t in sent)
    assert {t["predictions"][0]["model_version"] for t in project["tasks"]} == {
        label_studio.model_version(models / "annotator")
    }
    for task in project["tasks"]:
        assert fetch(server, task["data"]["image"]) == (photos / task["data"]["path"]).read_bytes()
    with pytest.raises(urllib.error.HTTPError) as refused:  # the local-files server is not open to anyone
        urllib.request.urlopen(project["tasks"][0]["data"]["image"], timeout=30)
    assert refused.value.code in (401, 403)


# ---- the ML backend ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    url: str
    log: Path


@contextlib.contextmanager
def backend(repo: Path, server: Server, model: Path, log: Path, *args: str):
    """`python -m fashioncat serve` in `repo` on a free loopback port, its log in `log`, stopped as a group after."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "LABEL_STUDIO_URL": server.url,
        "LABEL_STUDIO_API_KEY": server.token,
    }
    command = [sys.executable, "-m", "fashioncat", "serve", "--model", str(model), "--port", str(port), *args]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(process, url, log)
        yield Backend(url, log)
    finally:
        stop_group(process)


def eventually(check, what: str, log: Path, timeout: float = 60.0):
    """`check()`'s first truthy value within `timeout` s; a failure shows the backend's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s; the backend's log:\n{log_tail(log)}")


def test_ml_backend_predicts_opened_tasks_records_answers_and_serves_a_retrained_bundle(server, tmp_path, monkeypatch):
    """Connected to a project, the backend predicts each task a reviewer opens (with the bundle's model_version),
    the reviewer's answers reach the corrections file by webhook, and a retrained bundle is served under a new
    version."""
    from test_next_batch import STRENGTHS, tinted
    from test_serve import make_bundle

    repo = server.repo
    monkeypatch.chdir(repo)
    images = repo / "loop/images"
    images.mkdir(parents=True)
    lines, colour_of = [",".join(manifest.FIELDS)], {}
    for colour, strengths in STRENGTHS.items():  # two tinted squares per colour: one clear, one faint
        for k, strength in enumerate(strengths):
            name = f"loop/images/{colour}_{k}.png"
            tinted(colour, strength).save(repo / name)
            lines.append(f"{name},{colour},g,1,img/{colour}_{k}.jpg,o")
            colour_of[f"img/{colour}_{k}.jpg"] = colour
    (repo / "loop/records.csv").write_text("\n".join(lines) + "\n")
    (repo / "loop/classes.json").write_text(json.dumps(CLASSES))
    model = make_bundle(tmp_path / "models" / "annotator")
    first = label_studio.model_version(model)

    # the next batch: the 4 least certain images as review tasks, imported bare so that the backend is asked
    assert (
        cli(["next-batch", "--model", str(model), "--images", "loop/records.csv", "--n", "4", "--out", "loop/b.json"])
        == 0
    )
    batch = json.loads((repo / "loop/b.json").read_text())
    (repo / "loop/bare.json").write_text(json.dumps([{"data": t["data"]} for t in batch]))
    project = sdk(
        server,
        "setup",
        {
            "title": "fashioncat at work",
            "label_config": str(repo / "loop/b.label_config.xml"),
            "tasks": str(repo / "loop/bare.json"),
            "storage": str(images),
        },
        tmp_path,
    )
    pid, bare = project["project"], project["tasks"]
    assert len(bare) == 4 and not any(t["predictions"] for t in bare)
    corrections = repo / "loop/corrections.csv"
    args = ("--records", "loop/records.csv", "--classes", "loop/classes.json", "--corrections", str(corrections))
    with backend(repo, server, model, tmp_path / "backend.log", *args, "--poll", "0.5") as ml:
        assert sdk(server, "connect", {"project": pid, "backend": ml.url}, tmp_path)["state"] in ("CO", "Connected")

        # the rest of the dataset, sent through the API: only the 2 images the project does not have yet
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", server.token)
        sent = fashioncat(repo, "next-batch", "--model", str(model), "--images", "loop/records.csv", "--n", "6",
                          "--url", server.url, "--project", str(pid))  # fmt: skip
        assert sent.returncode == 0 and "(2 imported)" in sent.stderr, sent.stderr

        # a reviewer opens the bare tasks: each gets the backend's prediction, with the bundle's version
        opened = sdk(server, "open", {"tasks": [t["id"] for t in bare]}, tmp_path)["tasks"]
        for task in opened:
            (prediction,) = task["predictions"]
            assert prediction["model_version"] == first and 0.3 < prediction["score"] <= 1
            assert suggestion(task) == colour_of[task["data"]["source_image"]]
            assert {"margin", "entropy", "label_quality", "given_label"} <= set(task["data"])  # sortable columns

        # answers: one overrules the given label, one confirms it; the webhook brings them to the corrections file
        changed, confirmed = opened[:2]
        answer = next(c for c in CLASSES if c != changed["data"]["given_label"])
        sdk(
            server,
            "annotate",
            {
                "answers": [
                    {"task": changed["id"], "label": answer, "from_name": "choice", "to_name": "image"},
                    {"task": confirmed["id"], "label": confirmed["data"]["given_label"], "from_name": "choice",
                     "to_name": "image"},
                ]
            },
            tmp_path,
        )  # fmt: skip

        def recorded():
            rows = corrections.read_text().splitlines() if corrections.exists() else []
            return rows if len(rows) == 2 else None

        header, row = eventually(recorded, "the answer did not reach the corrections file", ml.log)
        image, old, new, by, at = row.split(",")
        assert header == "image,old_label,new_label,by,at"
        assert (image, old, new) == (changed["data"]["source_image"], changed["data"]["given_label"], answer)
        assert by.isdigit() and at.startswith(time.strftime("%Y-"))

        # a retrained bundle (other weights) replaces the old one: served under its own version, old tasks re-predicted
        make_bundle(model, weight=30.0)
        second = label_studio.model_version(model)
        assert second != first

        def serving():
            with urllib.request.urlopen(f"{ml.url}/health", timeout=5) as response:
                return json.loads(response.read())["model_version"] == second

        eventually(serving, "the backend did not serve the new bundle", ml.log)
        retrieved = sdk(server, "retrieve", {"project": pid}, tmp_path)["tasks"]
        assert len(retrieved) == 6
        assert all(second in {p["model_version"] for p in t["predictions"]} for t in retrieved)
    assert "webhook refused" not in (tmp_path / "backend.log").read_text()
