"""Label Studio's annotation webhooks, written into the corrections file as they arrive.

Label Studio posts `{"action": "ANNOTATION_CREATED" | "ANNOTATION_UPDATED", "annotation":
{...}, "task": {...}, "project": {...}}` to the ML backend's /webhook when a reviewer
submits or updates an answer. The task and its one annotation are exactly one task of a
JSON export, so they go through `review_import.import_export`, the code
`python -m fashioncat corrections` runs: the same checks (review tasks only, labels that
are classes, images of the dataset, answers ordered by time and composed with the
file's rows) and the same atomic write. A webhook that fails a check changes nothing
and is answered with the one-line error.

The payload is not trusted by default: with Label Studio's API key, the annotation and
the task are read back from Label Studio by id (`/api/annotations/<id>/`,
`/api/tasks/<id>/`) and those are recorded, so a forged post cannot add a correction
that no reviewer gave. Writes are serialized: one at a time in this process, and under
an exclusive lock on the corrections folder against another backend.

Other actions (tasks created, annotations deleted, ...) are acknowledged and ignored;
deleting an answer in Label Studio does not delete its row (edit the CSV).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import httpx2

from fashioncat.annotate import review_import
from fashioncat.errors import FashionError

ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
TIMEOUT = 10.0


class Recorder:
    """Appends the answers that arrive by webhook to the corrections file `out`."""

    def __init__(
        self,
        out: str | Path,
        classes: Sequence[str],
        records: str | Path,
        *,
        label_studio: str | None = None,
        api_key: str | None = None,
        trust_payload: bool = False,
    ):
        self.out, self.classes, self.records = Path(out), list(classes), Path(records)
        self.label_studio, self.api_key, self.trust_payload = label_studio, api_key, trust_payload
        if not trust_payload and not (label_studio and api_key):
            raise FashionError(
                "webhooks are verified against Label Studio, which needs LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY;"
                " set them, or pass --trust-webhooks to record payloads as they come"
            )
        self._lock = threading.Lock()

    def record(self, payload) -> dict:
        """What happened to one webhook; a FashionError (one line) when it is refused."""
        if not isinstance(payload, dict):
            raise FashionError("webhook: the body must be a JSON object")
        action = payload.get("action")
        if action not in ACTIONS:
            return {"status": "ignored", "action": action}
        annotation, task = payload.get("annotation"), payload.get("task")
        if not isinstance(annotation, dict) or not isinstance(task, dict):
            raise FashionError(f"webhook {action}: needs an `annotation` and a `task` object")
        if not self.trust_payload:
            annotation, task = self._from_label_studio(annotation, task)
        where = f"webhook {action} (task {task.get('id')}, annotation {annotation.get('id')})"
        export = [{**task, "annotations": [annotation]}]
        with self._lock, _folder_lock(self.out.parent), tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "webhook.json"
            path.write_text(json.dumps(export), encoding="utf-8")
            try:
                report = review_import.import_export(path, self.out, self.classes, self.records)
            except FashionError as exc:
                raise FashionError(str(exc).replace(f"{path}[0]", where).replace(str(path), where)) from None
        status = "unanswered" if report["unanswered"] else "recorded" if report["corrections"] else "unchanged"
        return {"status": status, "action": action, "corrections": report["corrections"], "in_file": report["in_file"]}

    def _from_label_studio(self, annotation: dict, task: dict) -> tuple[dict, dict]:
        """The annotation and its task as Label Studio holds them, by the ids the payload names."""
        annotation_id, task_id = annotation.get("id"), task.get("id")
        if not _is_id(annotation_id) or not _is_id(task_id):
            raise FashionError("webhook: annotation.id and task.id must be whole numbers")
        stored = self._get(f"/api/annotations/{annotation_id}/")
        if stored.get("task") != task_id:
            raise FashionError(f"webhook: annotation {annotation_id} is not an answer to task {task_id}")
        return stored, self._get(f"/api/tasks/{task_id}/")

    def _get(self, path: str) -> dict:
        url = self.label_studio.rstrip("/") + path
        try:
            response = httpx2.get(url, headers={"Authorization": f"Token {self.api_key}"}, timeout=TIMEOUT)
        except httpx2.HTTPError as exc:
            raise FashionError(f"webhook: cannot read {url} to verify it ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise FashionError(f"webhook: {url} answered HTTP {response.status_code}; not recorded")
        try:
            found = response.json()
        except ValueError:
            raise FashionError(f"webhook: {url} did not answer JSON") from None
        if not isinstance(found, dict):
            raise FashionError(f"webhook: {url} did not answer a JSON object")
        return found


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive flock on the corrections folder: two backends never interleave read-modify-write."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
