"""`python -m fashioncat serve`: the bundle as a Label Studio ML backend (FastAPI on uvicorn).

Label Studio's ML backend protocol, as its own client (label_studio/ml/api_connector.py)
and HumanSignal/label-studio-ml-backend (label_studio_ml/api.py) speak it:

    GET  /health, /     -> {"status": "UP", "model_class": ..., "model_version": ...}
    POST /setup         {"project", "schema": <labelling config>, ...} -> {"model_version"}
    POST /predict       {"tasks": [...], "label_config", "project", "params"}
                        -> {"results": [one prediction per task, in order: {"result": [...],
                            "score", "model_version"}, or [] when the task has no image we may fetch]}
    POST /webhook       {"action": "ANNOTATION_CREATED" | ..., "annotation", "task", "project"}
    GET  /metrics       the batcher's counters

Label Studio calls /health and /setup before every round of predictions (1 s and 3 s
timeouts), so both answer at once. When a project connects a backend, Label Studio adds
a webhook to <backend>/webhook for every action; annotations go to the corrections file
(`webhook.Recorder`), other actions are acknowledged.

Requests are bounded: a body over `--max-body-mb` is refused (413) before it is parsed,
a /predict with more than `--max-tasks` tasks too, and at most `--max-images` images are
in memory at once (503 with Retry-After when a request cannot get room within 30 s).
With BASIC_AUTH_USER and BASIC_AUTH_PASS set, every route but /webhook asks for them (Label
Studio's ML backend settings take the pair); /webhook is verified against Label Studio
instead, because the webhook Label Studio creates carries no credentials.
"""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations (Request), which are
# imported inside create_app, so they must be evaluated where the handlers are defined
import argparse
import base64
import hmac
import json
import logging
import os
import sys
from pathlib import Path

from fashioncat.errors import FashionError

DEFAULT_MODEL = "models/annotator"
DEFAULT_LABEL_STUDIO = "http://localhost:8080"


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def create_app(backend, recorder=None, *, max_body: int = 16 << 20, basic_auth: tuple[str, str] | None = None):
    """The FastAPI application around a `backend.Backend` and an optional `webhook.Recorder`."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from fashioncat.annotate.backend import MODEL_CLASS, TooLarge
    from fashioncat.annotate.batcher import Overloaded

    app = FastAPI(title="fashioncat ML backend", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def authorize(request: Request, call_next):
        if basic_auth is not None and request.url.path != "/webhook" and not _authorized(request, basic_auth):
            return JSONResponse(
                {"error": "authentication required"}, 401, headers={"WWW-Authenticate": 'Basic realm="fashioncat"'}
            )
        return await call_next(request)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return JSONResponse({"error": str(exc)}, exc.status)

    @app.exception_handler(FashionError)
    async def user_error(request: Request, exc: FashionError):
        return JSONResponse({"error": str(exc)}, 422)

    @app.exception_handler(TooLarge)
    async def too_large(request: Request, exc: TooLarge):
        return JSONResponse({"error": str(exc)}, 413)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded):
        return JSONResponse({"error": f"busy: {exc}"}, 503, headers={"Retry-After": "1"})

    async def body(request: Request):
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            raise Refused(413, f"request body of {int(declared):,} bytes, the limit is {max_body:,}")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > max_body:
                raise Refused(413, f"request body over {max_body:,} bytes")
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError):
            raise Refused(400, "request body is not JSON") from None
        if not isinstance(parsed, dict):
            raise Refused(400, "request body must be a JSON object")
        return parsed

    @app.get("/")
    @app.get("/health")
    async def health():
        answer = {
            "status": "UP",
            "model_class": MODEL_CLASS,
            "model_version": backend.current.version,
            "bundle": str(backend.folder),
        }
        return {**answer, "reload_error": backend.reload_error} if backend.reload_error else answer

    @app.post("/setup")
    async def setup(request: Request):
        return {"model_version": await run_in_threadpool(backend.setup, await body(request))}

    @app.post("/predict")
    async def predict(request: Request):
        return await run_in_threadpool(backend.predict, await body(request))

    @app.post("/webhook")
    async def webhook(request: Request):
        payload = await body(request)
        if recorder is None:
            return {"status": "ignored", "action": payload.get("action"), "reason": "corrections are off"}
        try:
            done = await run_in_threadpool(recorder.record, payload)
        except FashionError as exc:
            logging.getLogger("fashioncat.serve").warning("webhook refused: %s", exc)
            return JSONResponse({"status": "error", "error": str(exc)}, 422)
        if done["status"] != "ignored":
            logging.getLogger("fashioncat.serve").info("webhook: %s", done)
        return JSONResponse(done, 201 if done["status"] == "recorded" else 200)

    @app.get("/metrics")
    async def metrics():
        return backend.stats()

    return app


def _authorized(request, expected: tuple[str, str]) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return hmac.compare_digest(user, expected[0]) & hmac.compare_digest(password, expected[1])


# ---- command line -------------------------------------------------------------------------------------------

HELP = """\
Serve the model bundle to Label Studio as an ML backend: predictions for the tasks a
reviewer opens (with each prediction's score, margin, entropy and, for review tasks,
cleanlab's label quality), and the reviewers' answers written to the corrections file as
they are submitted. A new bundle in --model (after `dvc exp run`) is served as soon as it
is complete, under its new model_version.

environment:
  LABEL_STUDIO_URL      where Label Studio is (default http://localhost:8080); relative image
                        URLs (/data/...) are fetched from it, and only from it
  LABEL_STUDIO_API_KEY  its API token (Account & Settings); sent as `Authorization: Token ...`
                        to Label Studio only
  BASIC_AUTH_USER, BASIC_AUTH_PASS   optional: require them on every route but /webhook

In Label Studio: project Settings -> Model -> Connect Model, URL http://HOST:PORT; turn on
"Use predictions to prelabel tasks". See docs/serving.md.
"""


def add_command(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the model to Label Studio (ML backend) and record its annotations",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="FOLDER", help=f"bundle folder (default {DEFAULT_MODEL})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this host only)")
    p.add_argument("--port", type=int, default=9090, help="port (default 9090)")
    p.add_argument("--dataset", default="source", help="whose corrections the answers are (default: source)")
    p.add_argument("--corrections", help="corrections file (default config/corrections/<dataset>.csv)")
    p.add_argument("--classes", help="classes.json (default data/split/<dataset>/classes.json, else the bundle's)")
    p.add_argument("--records", help="the dataset's images (default data/cropped/<dataset>/records.csv)")
    p.add_argument("--no-corrections", action="store_true", help="predict only; acknowledge webhooks, record nothing")
    p.add_argument(
        "--trust-webhooks", action="store_true", help="record webhook payloads without reading them back from LS"
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="URL",
        help="another origin images may be fetched from (repeatable)",
    )
    p.add_argument("--max-batch", type=int, default=32, help="images per model call (default 32)")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="wait for more images to batch (default 5 ms)")
    p.add_argument("--max-images", type=int, default=256, help="images in memory at once (default 256)")
    p.add_argument("--max-tasks", type=int, default=1000, help="tasks per /predict request (default 1000)")
    p.add_argument("--max-body-mb", type=float, default=16, help="request body limit (default 16 MB)")
    p.add_argument("--max-image-mb", type=float, default=20, help="image download limit (default 20 MB)")
    p.add_argument("--fetch-timeout", type=float, default=10.0, help="seconds per image download (default 10)")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between bundle checks (default 2; 0: only /setup)")
    p.set_defaults(handler=run)


def build(args: argparse.Namespace):
    """The backend, the webhook recorder and the app for these arguments (loads the model)."""
    from fashioncat.annotate.backend import Backend
    from fashioncat.annotate.remote_images import Fetcher

    for name in ("max_batch", "max_images", "max_tasks"):
        if getattr(args, name) < 1:
            raise FashionError(f"--{name.replace('_', '-')} must be at least 1")
    url, key = os.environ.get("LABEL_STUDIO_URL") or DEFAULT_LABEL_STUDIO, os.environ.get("LABEL_STUDIO_API_KEY")
    fetcher = Fetcher(
        url,
        key,
        args.allow_origin,
        max_bytes=int(args.max_image_mb * (1 << 20)),
        timeout=args.fetch_timeout,
    )
    recorder = None if args.no_corrections else _recorder(args, url, key)
    backend = Backend(
        args.model,
        fetcher,
        max_batch=args.max_batch,
        max_wait=args.max_wait_ms / 1000,
        capacity=args.max_images,
        max_tasks=args.max_tasks,
        poll=args.poll,
    )
    user, password = os.environ.get("BASIC_AUTH_USER"), os.environ.get("BASIC_AUTH_PASS")
    auth = (user, password) if user and password else None
    return backend, create_app(backend, recorder, max_body=int(args.max_body_mb * (1 << 20)), basic_auth=auth)


def _recorder(args: argparse.Namespace, url: str, key: str | None):
    from fashioncat.annotate import bundle
    from fashioncat.annotate.webhook import Recorder
    from fashioncat.data.corrections import read_classes

    records = Path(args.records or f"data/cropped/{args.dataset}/records.csv")
    if not records.is_file():
        raise FashionError(
            f"{records}: no such file: answers are checked against the dataset's images (run `dvc repro crop`,"
            " pass --records, or --no-corrections to predict only)"
        )
    classes_path = Path(args.classes or f"data/split/{args.dataset}/classes.json")
    if args.classes or classes_path.is_file():
        classes = read_classes(classes_path)
    else:
        classes = bundle.read_settings(Path(args.model) / bundle.SETTINGS_FILE).classes
    out = args.corrections or f"config/corrections/{args.dataset}.csv"
    return Recorder(out, classes, records, label_studio=url, api_key=key, trust_payload=args.trust_webhooks)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    for noisy in ("httpx2", "httpcore2"):  # a line per image fetched otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        backend, app = build(args)
    except FashionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    if not os.environ.get("LABEL_STUDIO_API_KEY"):
        print(
            "warning: LABEL_STUDIO_API_KEY is not set: Label Studio answers image downloads with 401", file=sys.stderr
        )
    print(
        f"serving {backend.current.version} from {args.model} on http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    try:
        # limit_concurrency: connections beyond it get 503 at once instead of piling up
        uvicorn.run(app, host=args.host, port=args.port, log_level="info", limit_concurrency=128)
    finally:
        backend.close()
    return 0
