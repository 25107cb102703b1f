"""`python -m fashioncat serve`, the Label Studio ML backend, through FastAPI's TestClient.

The model is the hand-weighted colour model of test_annotation (a red picture is "red"
with p ~ 1, a grey one 1/3 each), bundled for real; images come over real HTTP from
tests/image_server.py, which answers like Label Studio's local-files server. Nothing in
TensorFlow, the bundle or the fetching is replaced.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import threading
from pathlib import Path

import fixtures
import numpy as np
import pytest
from fastapi.testclient import TestClient
from image_server import ImageServer
from PIL import Image
from test_annotation import CLASSES, picture

from fashioncat.__main__ import main as cli
from fashioncat.annotate import bundle, label_studio, serve
from fashioncat.annotate.backend import Backend
from fashioncat.annotate.remote_images import Fetcher
from fashioncat.annotate.webhook import Recorder
from fashioncat.data.images import ImageProblem

TOKEN = "secret-token"
CONFIG = label_studio.labeling_config(CLASSES)


def make_bundle(folder: Path, weight: float = 12.0, classes=CLASSES) -> Path:
    """A colour-model bundle; `weight` changes the model (and so the bundle's version), not its answers' order."""
    model = fixtures.colour_model()
    dense = model.layers[-1]
    dense.set_weights([np.eye(3, dtype="float32") * weight, np.zeros(3, dtype="float32")])
    scratch = folder.parent / f".{folder.name}-src"
    scratch.mkdir(parents=True, exist_ok=True)
    model.save(scratch / "final.keras")
    (scratch / "classes.json").write_text(json.dumps(classes))
    bundle.write(
        scratch / "final.keras",
        scratch / "classes.json",
        folder,
        image_size=32,
        margin=0.05,
        crop_size=64,
        fit="stretch",
    )
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Label Studio's files: coloured pictures under a document root, served over HTTP with a token."""
    root = tmp_path_factory.mktemp("ls-files")
    for colour, seed in (("red", 1), ("green", 2), ("blue", 3), ("grey", 4)):
        picture(colour, seed).save(root / f"{colour}.png")
    (root / "broken.jpg").write_bytes(b"this is not an image")
    Image.new("RGB", (9000, 9000)).save(root / "vast.png")  # 81 M pixels: over the decode limit, a small file
    with ImageServer(root, TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("models") / "annotator")


@pytest.fixture(scope="module")
def backend(site, models):
    made = Backend(models, Fetcher(site.url, TOKEN, max_bytes=1 << 20), max_batch=8, max_wait=0.05, poll=0)
    yield made
    made.close()


@pytest.fixture(scope="module")
def client(backend):
    return TestClient(serve.create_app(backend))


def task(site, name: str, task_id: int, **data) -> dict:
    return {"id": task_id, "data": {"image": site.link(name), **data}}


def predict(client, tasks, config=CONFIG):
    response = client.post("/predict", json={"tasks": tasks, "label_config": config, "project": "1.1700000000"})
    assert response.status_code == 200, response.text
    return response.json()


def choice(prediction: dict) -> str:
    return prediction["result"][0]["value"]["choices"][0]


# ---- the protocol -------------------------------------------------------------------------------------------


def test_health_says_up_with_the_model_class_and_the_bundle_version(client, models):
    for path in ("/health", "/"):
        answer = client.get(path).json()
        assert answer["status"] == "UP" and answer["model_class"] == "FashionCatBackend"
        assert answer["model_version"] == label_studio.model_version(models)


def test_setup_answers_the_version_and_refuses_a_project_without_the_models_classes(client, models):
    answer = client.post(
        "/setup", json={"project": "1.1700000000", "schema": CONFIG, "hostname": "", "access_token": ""}
    )
    assert answer.status_code == 200 and answer.json() == {"model_version": label_studio.model_version(models)}
    other = label_studio.labeling_config(["red", "green"])
    refused = client.post("/setup", json={"project": "1.1", "schema": other})
    assert refused.status_code == 422 and "no choice 'blue'" in refused.json()["error"]
    assert client.post("/setup", content=b"not json").status_code == 400


def test_predict_gives_each_task_its_class_score_version_and_uncertainty_in_order(client, site, models):
    names = ["green", "red", "grey", "blue"]
    answer = predict(client, [task(site, f"{n}.png", i) for i, n in enumerate(names)])
    version = label_studio.model_version(models)
    assert answer["model_version"] == version and answer["errors"] == []
    results = answer["results"]
    assert [choice(r) for r in results[:2]] + [choice(results[3])] == ["green", "red", "blue"]
    for r in results:
        assert r["model_version"] == version
        assert r["result"][0]["from_name"] == "choice" and r["result"][0]["to_name"] == "image"
        assert r["result"][0]["type"] == "choices" and 0 <= r["score"] <= 1
        assert "label_quality" not in r  # no given label
    sure, unsure = results[1], results[2]
    assert sure["score"] > 0.9 and sure["margin"] > 0.8 and sure["entropy"] < 0.3
    assert unsure["margin"] < 0.05 and unsure["entropy"] > 1.05  # grey: all three near 1/3, ln 3 = 1.0986


def test_review_tasks_carry_cleanlabs_label_quality_of_the_given_label(client, site):
    results = predict(
        client,
        [
            task(site, "red.png", 1, given_label="red", source_image="a.jpg"),
            task(site, "red.png", 2, given_label="blue", source_image="b.jpg"),
        ],
    )["results"]
    assert results[0]["label_quality"] > 0.9 > 0.05 > results[1]["label_quality"]


def test_predict_follows_the_projects_names_for_the_choices_and_the_image(client, site):
    config = (
        '<View><Image name="photo" value="$picture"/>'
        '<Choices name="garment" toName="photo">' + "".join(f'<Choice value="{c}"/>' for c in CLASSES) + "</Choices>"
        "</View>"
    )
    (r,) = predict(client, [{"id": 7, "data": {"picture": site.link("blue.png")}}], config)["results"]
    assert (r["result"][0]["from_name"], r["result"][0]["to_name"], choice(r)) == ("garment", "photo", "blue")


def test_a_task_whose_image_cannot_be_used_gets_no_prediction_and_a_reason_the_others_still_do(client, site):
    bad = {
        "elsewhere": "http://example.com/red.png",
        "file": "file:///etc/passwd",
        "relative": "red.png",
        "missing": site.link("nowhere.png"),
        "broken": site.link("broken.jpg"),
        "vast": site.link("vast.png"),
        "credentials": site.url.replace("http://", "http://user:pw@") + site.link("red.png"),
        "huge": "/huge",
        "endless": "/endless",
        "redirect out": "/redirect?to=http://example.com/x.png",
    }
    tasks = [{"id": i, "data": {"image": url}} for i, url in enumerate(bad.values())]
    tasks.append(task(site, "red.png", 99))
    tasks.append({"id": 100, "data": {"image": site.link("red.png"), "box": [5, 5, 2, 2]}})
    answer = predict(client, tasks)
    assert all(r == [] for r in answer["results"][: len(bad)]) and answer["results"][-1] == []
    assert choice(answer["results"][-2]) == "red"
    reasons = dict(zip(bad, (e["error"] for e in answer["errors"])))
    assert "example.com:80 refused" in reasons["elsewhere"] and "scheme 'file' refused" in reasons["file"]
    assert "must start with /" in reasons["relative"] and "HTTP 404" in reasons["missing"]
    assert "unreadable image" in reasons["broken"] and "9000x9000 pixels refused" in reasons["vast"]
    assert "credentials" in reasons["credentials"] and "bytes refused" in reasons["huge"]
    assert "larger than" in reasons["endless"] and "example.com:80 refused" in reasons["redirect out"]
    assert "box must be" in answer["errors"][-1]["error"] and answer["errors"][-1]["task"] == 100


def test_the_api_token_goes_to_label_studio_only(site, tmp_path):
    shutil.copy(site.root / "red.png", tmp_path / "red.png")
    with ImageServer(tmp_path, TOKEN) as elsewhere:  # an allowed origin that would accept the token if it got it
        fetcher = Fetcher(site.url, TOKEN, [elsewhere.url])
        with pytest.raises(ImageProblem, match="HTTP 401"):
            fetcher.fetch(elsewhere.url + elsewhere.link("red.png"))
        with pytest.raises(ImageProblem, match="HTTP 401"):  # followed to an allowed origin, still without the token
            fetcher.fetch("/redirect?to=" + elsewhere.url + elsewhere.link("red.png"))
    assert [auth for _, auth in elsewhere.seen] == [None, None]
    assert fetcher.fetch(site.link("red.png")) == (site.root / "red.png").read_bytes()
    assert site.seen[-1] == (site.link("red.png"), f"Token {TOKEN}")


# ---- batching and limits ------------------------------------------------------------------------------------


def test_concurrent_requests_share_model_calls(backend, client, site):
    before = backend.stats()
    answers = [None] * 12

    def one(i):
        answers[i] = predict(client, [task(site, "red.png", i)])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = backend.stats()
    assert all(choice(a["results"][0]) == "red" for a in answers)
    assert after["images_predicted"] - before["images_predicted"] == 12
    assert after["model_calls"] - before["model_calls"] < 12  # grouped: max_batch 8, 50 ms to gather
    assert after["images_in_flight"] == 0


def test_requests_over_the_limits_are_refused_with_the_limit_named(site, models):
    small = Backend(models, Fetcher(site.url, TOKEN), max_tasks=3, capacity=4, admit_timeout=0.2, poll=0)
    try:
        client = TestClient(serve.create_app(small, max_body=4096))
        many = client.post("/predict", json={"tasks": [task(site, "red.png", i) for i in range(4)]})
        assert many.status_code == 413 and "the limit is 3" in many.json()["error"]
        big = client.post("/predict", json={"tasks": [], "padding": "x" * 5000})
        assert big.status_code == 413 and "4,096" in big.json()["error"]
        assert client.post("/predict", json={"tasks": "red.png"}).status_code == 422
        assert client.post("/predict", json=[1, 2]).status_code == 400
        with small.batcher.admit(4, timeout=1):  # every image slot taken by another request
            busy = client.post("/predict", json={"tasks": [task(site, "red.png", 1)]})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert client.post("/predict", json={"tasks": [task(site, "red.png", 1)]}).status_code == 200
    finally:
        small.close()


def test_basic_auth_guards_every_route_but_the_webhook(backend):
    client = TestClient(serve.create_app(backend, basic_auth=("ls", "pw")))
    assert client.get("/health").status_code == 401
    good = base64.b64encode(b"ls:pw").decode()
    assert client.get("/health", headers={"Authorization": f"Basic {good}"}).status_code == 200
    bad = base64.b64encode(b"ls:nope").decode()
    assert client.post("/predict", json={"tasks": []}, headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).json()["status"] == "ignored"


# ---- a new bundle -------------------------------------------------------------------------------------------


def test_a_retrained_bundle_is_served_under_its_new_version_and_a_broken_one_is_not(site, tmp_path):
    folder = make_bundle(tmp_path / "annotator")
    served = Backend(folder, Fetcher(site.url, TOKEN), poll=0)
    try:
        client = TestClient(serve.create_app(served))
        first = label_studio.model_version(folder)
        grey = [task(site, "grey.png", 1)]
        assert predict(client, grey)["results"][0]["model_version"] == first
        make_bundle(folder, weight=30.0)  # "retrained": other weights, replaced atomically as the stage does
        second = client.post("/setup", json={"project": "1.1", "schema": CONFIG}).json()["model_version"]
        assert second == label_studio.model_version(folder) != first
        assert client.get("/health").json()["model_version"] == second
        assert predict(client, grey)["results"][0]["model_version"] == second

        (folder / "model.keras").write_bytes(b"not a model")  # a broken bundle: the good one keeps serving
        assert client.post("/setup", json={"project": "1.1", "schema": CONFIG}).json()["model_version"] == second
        health = client.get("/health").json()
        assert "not the pair the bundle was made with" in health["reload_error"] or "Keras" in health["reload_error"]
    finally:
        served.close()


def test_the_watcher_picks_up_a_new_bundle_without_setup(site, tmp_path):
    folder = make_bundle(tmp_path / "annotator")
    served = Backend(folder, Fetcher(site.url, TOKEN), poll=0.2)
    try:
        first = served.current.version
        make_bundle(folder, weight=20.0)
        for _ in range(100):
            if served.current.version != first:
                break
            threading.Event().wait(0.1)
        assert served.current.version == label_studio.model_version(folder) != first
    finally:
        served.close()


# ---- webhooks -----------------------------------------------------------------------------------------------


def review_records(path: Path, images: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("image,label,source_image\n" + "".join(f"c/{i},{label},{i}\n" for i, label in images.items()))
    return path


def ls_webhook(action: str, task_id: int, image: str, given: str, label: str, at: str, cancelled=False) -> dict:
    """The body Label Studio 1.23 posts (webhooks/serializers_for_hooks.py: fields '__all__', completed_by an id)."""
    return {
        "action": action,
        "annotation": {
            "id": task_id * 10,
            "result": [
                {
                    "id": "x1",
                    "type": "choices",
                    "from_name": "choice",
                    "to_name": "image",
                    "value": {"choices": [label]},
                }
            ],
            "was_cancelled": cancelled,
            "completed_by": 1,
            "created_at": at,
            "updated_at": at,
            "task": task_id,
            "project": 1,
        },
        "task": {
            "id": task_id,
            "data": {"image": f"/data/local-files/?d=c/{image}", "source_image": image, "given_label": given},
            "project": 1,
        },
        "project": {"id": 1, "label_config": CONFIG},
    }


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_answers_that_arrive_by_webhook_land_in_the_corrections_file(backend, tmp_path):
    records = review_records(tmp_path / "records.csv", {"a.jpg": "red", "b.jpg": "green", "c.jpg": "blue"})
    out = tmp_path / "corrections" / "source.csv"
    client = TestClient(serve.create_app(backend, Recorder(out, CLASSES, records, trust_payload=True)))

    first = client.post(
        "/webhook", json=ls_webhook("ANNOTATION_CREATED", 1, "a.jpg", "red", "blue", "2026-01-01T10:00:00Z")
    )
    assert first.status_code == 201 and first.json()["status"] == "recorded"
    assert rows(out) == [
        {"image": "a.jpg", "old_label": "red", "new_label": "blue", "by": "1", "at": "2026-01-01T10:00:00Z"}
    ]
    # an update composes with it (red -> blue, then blue -> green is red -> green); a confirmation adds nothing
    later = ls_webhook("ANNOTATION_UPDATED", 1, "a.jpg", "red", "green", "2026-01-01T11:00:00.123456Z")
    assert client.post("/webhook", json=later).json()["status"] == "recorded"
    same = ls_webhook("ANNOTATION_CREATED", 2, "b.jpg", "green", "green", "2026-01-01T12:00:00Z")
    assert client.post("/webhook", json=same).json()["status"] == "unchanged"
    skipped = ls_webhook("ANNOTATION_CREATED", 3, "c.jpg", "blue", "red", "2026-01-01T12:00:00Z", cancelled=True)
    assert client.post("/webhook", json=skipped).json()["status"] == "unanswered"
    assert [(r["image"], r["old_label"], r["new_label"]) for r in rows(out)] == [("a.jpg", "red", "green")]

    # refused with the reason, the file as it was: an unknown class, an image not in the dataset, not a review task
    before = out.read_bytes()
    for payload, reason in (
        (
            ls_webhook("ANNOTATION_CREATED", 4, "c.jpg", "blue", "purple", "2026-01-02T00:00:00Z"),
            "'purple' is not a class",
        ),
        (
            ls_webhook("ANNOTATION_CREATED", 5, "z.jpg", "blue", "red", "2026-01-02T00:00:00Z"),
            "not an image of this dataset",
        ),
    ):
        refused = client.post("/webhook", json=payload)
        assert refused.status_code == 422 and reason in refused.json()["error"]
        assert refused.json()["error"].startswith("webhook ANNOTATION_CREATED (task ")
        assert "\n" not in refused.json()["error"]
    plain = ls_webhook("ANNOTATION_CREATED", 6, "c.jpg", "blue", "red", "2026-01-02T00:00:00Z")
    del plain["task"]["data"]["given_label"]
    assert "not an export of the review queue" in client.post("/webhook", json=plain).json()["error"]
    assert out.read_bytes() == before
    assert client.post("/webhook", json={"action": "TASKS_CREATED", "tasks": []}).json()["status"] == "ignored"


def test_concurrent_webhooks_lose_no_answer(backend, tmp_path):
    images = {f"{i}.jpg": "red" for i in range(16)}
    records = review_records(tmp_path / "records.csv", images)
    out = tmp_path / "source.csv"
    client = TestClient(serve.create_app(backend, Recorder(out, CLASSES, records, trust_payload=True)))
    payloads = [
        ls_webhook("ANNOTATION_CREATED", i + 1, f"{i}.jpg", "red", "blue", "2026-01-01T10:00:00Z") for i in range(16)
    ]
    threads = [threading.Thread(target=client.post, args=("/webhook",), kwargs={"json": p}) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["image"] for r in rows(out)) == sorted(images)


def test_a_webhook_is_recorded_as_label_studio_holds_it_not_as_posted(backend, site, tmp_path):
    records = review_records(tmp_path / "records.csv", {"a.jpg": "red", "b.jpg": "green"})
    out = tmp_path / "source.csv"
    recorder = Recorder(out, CLASSES, records, label_studio=site.url, api_key=TOKEN)
    client = TestClient(serve.create_app(backend, recorder))
    real = ls_webhook("ANNOTATION_CREATED", 1, "a.jpg", "red", "blue", "2026-01-01T10:00:00Z")
    site.api["/api/annotations/10/"] = real["annotation"]
    site.api["/api/tasks/1/"] = real["task"]
    forged = ls_webhook("ANNOTATION_CREATED", 1, "b.jpg", "green", "red", "2026-01-01T10:00:00Z")  # other image, label
    assert client.post("/webhook", json=forged).status_code == 201
    assert [(r["image"], r["new_label"]) for r in rows(out)] == [("a.jpg", "blue")]  # what Label Studio holds
    unknown = ls_webhook("ANNOTATION_CREATED", 2, "b.jpg", "green", "red", "2026-01-01T10:00:00Z")
    refused = client.post("/webhook", json=unknown)
    assert refused.status_code == 422 and "HTTP 404; not recorded" in refused.json()["error"]
    assert [(r["image"], r["new_label"]) for r in rows(out)] == [("a.jpg", "blue")]


# ---- the command --------------------------------------------------------------------------------------------


def test_serve_command_errors_are_one_line(models, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    assert cli(["serve", "--model", str(models)]) == 2
    assert "data/cropped/source/records.csv: no such file" in capsys.readouterr().err
    review_records(tmp_path / "data/cropped/source/records.csv", {"a.jpg": "red"})
    assert cli(["serve", "--model", str(models)]) == 2
    assert "LABEL_STUDIO_API_KEY" in capsys.readouterr().err
    assert cli(["serve", "--model", str(tmp_path / "nowhere"), "--no-corrections"]) == 2
    err = capsys.readouterr().err
    assert "nowhere: model bundle folder does not exist" in err and err.count("\n") == 1
    monkeypatch.setenv("LABEL_STUDIO_URL", "ftp://files")
    assert cli(["serve", "--model", str(models), "--no-corrections"]) == 2
    assert "must be an absolute http:// or https:// URL" in capsys.readouterr().err


def test_images_are_prepared_exactly_as_annotate_prepares_them(site, models):
    from fashioncat.annotate import predict

    fetcher = Fetcher(site.url, TOKEN)
    _, settings = bundle.load(models)
    data = fetcher.fetch(site.link("green.png"))
    np.testing.assert_array_equal(fetcher.pixels(data, settings), predict.pixels(io.BytesIO(data), None, settings))
    np.testing.assert_array_equal(
        fetcher.pixels(data, settings), predict.pixels(site.root / "green.png", None, settings)
    )
