"""The model behind `serve`: one bundle, swapped for a new one when its folder changes, predicting tasks in batches.

A request's tasks are prepared (image fetched from Label Studio, decoded, cropped and
resized as training saw it) by a small thread pool, and each prepared image goes to the
`Batcher`, which predicts the images of all concurrent requests together. Memory is
bounded twice: a request has at most `max_tasks` tasks (else `TooLarge`, HTTP 413), and
the images held at once, across requests, are at most the batcher's `capacity`.

The bundle is watched: every `poll` seconds the folder's file list, sizes and times are
compared with the ones loaded. A change seen twice in a row (so a bundle still being
written is not loaded half-way) is read: when its digest, the `model_version`, differs,
the new model is loaded beside the old one and swapped in; requests already running
finish with the model they started with, and each prediction names the version that
made it. `refresh` (Label Studio's /setup) checks at once. A bundle that fails to load
leaves the old one serving, and the reason in /health.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fashioncat.annotate import label_studio, uncertainty
from fashioncat.annotate.batcher import Batcher
from fashioncat.data.images import ImageProblem
from fashioncat.errors import FashionError

MODEL_CLASS = "FashionCatBackend"
log = logging.getLogger("fashioncat.serve")


class TooLarge(Exception):
    """A request over the size limits (HTTP 413)."""


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, the batcher groups images by the model they fit
class Loaded:
    model: object
    settings: object
    version: str
    signature: tuple
    predict: Callable[[np.ndarray], np.ndarray]  # float32 [n, s, s, 3] -> probabilities, any n


def compiled(model, image_size: int) -> Callable[[np.ndarray], np.ndarray]:
    """The model as one TensorFlow function for every batch size.

    The batcher's batches have every size from 1 to max_batch. `predict_on_batch` traces
    the model again at the second batch size it meets before it relaxes the shape (1.2 s
    for the ResNet50 at 32 px on 2 cores, measured), and some reviewer's request waits for
    it. A function whose input signature leaves the batch dimension open is traced once,
    at warm-up.
    """
    import tensorflow as tf

    call = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32)],
    )
    return lambda images: call(tf.constant(images, dtype=tf.float32)).numpy()


def signature(folder: Path) -> tuple | None:
    """The folder's identity, file names, sizes and times: cheap to compare; None while it is being replaced."""
    try:
        top = folder.stat()
        files = []
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                s = path.stat()
                files.append((path.relative_to(folder).as_posix(), s.st_size, s.st_mtime_ns, s.st_ino))
    except OSError:
        return None
    return top.st_ino, top.st_mtime_ns, tuple(files)


def version_of(folder: Path) -> str:
    try:
        return label_studio.model_version(folder)
    except OSError:
        raise FashionError(f"{folder}: changed while it was read; trying again at the next check") from None


def load(folder: Path) -> Loaded:
    """The bundle in `folder` with its version; a FashionError when it is unusable or changed while loading."""
    from fashioncat.annotate import bundle  # TensorFlow: only when a model is loaded

    before = signature(folder)
    model, settings = bundle.load(folder)
    version = version_of(folder)
    after = signature(folder)
    if before is None or before != after:
        raise FashionError(f"{folder}: changed while it was loaded; trying again at the next check")
    return Loaded(model, settings, version, after, compiled(model, settings.image_size))


def box_of(data: dict):
    """A task's `box` (x_1, y_1, x_2, y_2 in pixels, as `annotate` writes it), None without one."""
    box = data.get("box")
    if box is None:
        return None
    ok = isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in box)
    if not ok or min(box[:2]) < 0 or box[2] <= box[0] or box[3] <= box[1]:
        raise ImageProblem("box must be [x_1, y_1, x_2, y_2], whole pixels with x_1 < x_2 and y_1 < y_2")
    return tuple(box)


class Backend:
    def __init__(
        self,
        folder: str | Path,
        fetcher,
        *,
        max_batch: int = 32,
        max_wait: float = 0.005,
        capacity: int = 256,
        max_tasks: int = 1000,
        admit_timeout: float = 30.0,
        fetch_workers: int = 8,
        poll: float = 2.0,
    ):
        self.folder, self.fetcher, self.max_tasks, self.admit_timeout = Path(folder), fetcher, max_tasks, admit_timeout
        self.current = load(self.folder)
        self.reload_error: str | None = None
        self.chunk = min(capacity, 64)  # images of one request admitted at a time
        self.batcher = Batcher(self._predict_batch, max_batch=max_batch, max_wait=max_wait, capacity=capacity)
        self.pool = ThreadPoolExecutor(fetch_workers, thread_name_prefix="fetch")
        self._reload = threading.Lock()
        self._seen: tuple | None = None
        self._stop = threading.Event()
        self._warm(self.current)
        if poll > 0:
            threading.Thread(target=self._watch, args=(poll,), name="bundle-watch", daemon=True).start()

    # ---- predicting -------------------------------------------------------------------------------------------

    def predict(self, request: dict) -> dict:
        """Label Studio's /predict: `{"tasks": [...], "label_config": ...}` -> one result list per task, in order."""
        tasks = request.get("tasks")
        if not isinstance(tasks, list):
            raise FashionError("/predict: `tasks` must be a list of tasks")
        if len(tasks) > self.max_tasks:
            raise TooLarge(f"/predict: {len(tasks)} tasks in one request, the limit is {self.max_tasks}")
        names = _names(request.get("label_config") or None)
        loaded = self.current  # one model for the whole request: its version is the one reported
        check_choices(names, loaded.settings.classes)
        outcome: list = [None] * len(tasks)  # probabilities, or why there are none
        for start in range(0, len(tasks), self.chunk):
            part = tasks[start : start + self.chunk]
            with self.batcher.admit(len(part), self.admit_timeout):
                prepare = functools.partial(self._prepare, names=names, settings=loaded.settings)
                pending = {}
                for i, got in enumerate(self.pool.map(prepare, part), start):
                    if isinstance(got, str):
                        outcome[i] = got
                    else:
                        pending[i] = self.batcher.submit(loaded, got)
                for i, future in pending.items():
                    outcome[i] = future.result()
        return self._response(tasks, outcome, names, loaded)

    def _prepare(self, task, *, names: label_studio.Names, settings) -> np.ndarray | str:
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            return "task has no `data` object"
        try:
            box = box_of(task["data"])
            return self.fetcher.pixels(self.fetcher.fetch(task["data"].get(names.image_key)), settings, box)
        except ImageProblem as problem:
            return str(problem)

    def _predict_batch(self, loaded: Loaded, images: list[np.ndarray]) -> list[np.ndarray]:
        return list(loaded.predict(np.stack(images).astype(np.float32)))

    def _response(self, tasks: list, outcome: list, names: label_studio.Names, loaded: Loaded) -> dict:
        classes = loaded.settings.classes
        done = [i for i, o in enumerate(outcome) if not isinstance(o, str)]
        given = [_given(tasks[i], classes) for i in done]
        found = (
            dict(zip(done, uncertainty.describe(np.array([outcome[i] for i in done]), classes, given))) if done else {}
        )
        results, errors = [], []
        for i, task in enumerate(tasks):
            task_id = task.get("id") if isinstance(task, dict) else None
            if i not in found:
                results.append([])  # Label Studio: no prediction for this task, the others still count
                errors.append({"task": task_id, "error": outcome[i]})
                continue
            u = found[i]
            results.append(
                {
                    "model_version": loaded.version,
                    "score": round(u.probability, 4),
                    "result": [
                        {
                            "id": hashlib.sha1(f"{task_id}:{u.label}".encode()).hexdigest()[:10],
                            "type": "choices",
                            "from_name": names.from_name,
                            "to_name": names.to_name,
                            "value": {"choices": [u.label]},
                        }
                    ],
                    **u.fields(),
                }
            )
        return {"results": results, "model_version": loaded.version, "errors": errors}

    # ---- the bundle -------------------------------------------------------------------------------------------

    def setup(self, request: dict) -> str:
        """Label Studio's /setup: check the labelling configuration, pick up a new bundle; the version served."""
        self.refresh(wait=2.0)
        check_choices(_names(request.get("schema") or None), self.current.settings.classes)
        return self.current.version

    def refresh(self, wait: float) -> None:
        """Check the bundle now; wait up to `wait` s for a reload (it goes on in the background after that)."""
        worker = threading.Thread(target=self._check, kwargs={"debounce": False}, daemon=True)
        worker.start()
        worker.join(wait)

    def _watch(self, poll: float) -> None:
        while not self._stop.wait(poll):
            try:
                self._check(debounce=True)
            except Exception:  # the watcher must outlive any one bad check
                log.exception("bundle check failed")

    def _check(self, debounce: bool) -> None:
        with self._reload:
            seen = signature(self.folder)
            if seen is None or seen == self.current.signature:
                return
            if debounce and seen != self._seen:
                self._seen = seen  # changed since the last look: maybe still being written; load at the next
                return
            try:
                version = version_of(self.folder)
                if version == self.current.version:
                    self.current = replace(self.current, signature=seen)
                else:
                    new = load(self.folder)
                    self._warm(new)
                    self.current = new
                    log.info("serving %s from %s", new.version, self.folder)
                self.reload_error = None
            except FashionError as exc:
                self.reload_error = str(exc)
                log.warning("still serving %s: %s", self.current.version, exc)

    def _warm(self, loaded: Loaded) -> None:
        """Trace the model and import cleanlab now, so the first reviewer does not wait for it."""
        size = loaded.settings.image_size
        self._predict_batch(loaded, [np.zeros((size, size, 3), np.uint8)])
        classes = loaded.settings.classes
        uncertainty.describe(np.full((1, len(classes)), 1 / len(classes)), classes, [classes[0]])

    def stats(self) -> dict:
        return {
            "model_calls": self.batcher.calls,
            "images_predicted": self.batcher.predicted,
            "images_in_flight": self.batcher.in_flight(),
            "capacity": self.batcher.capacity,
        }

    def close(self) -> None:
        self._stop.set()
        self.batcher.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.fetcher.close()


@functools.lru_cache(maxsize=16)
def _names(config: str | None) -> label_studio.Names:
    return label_studio.names(config)


def check_choices(names: label_studio.Names, classes) -> None:
    """Every class the model can answer must be a choice of the project, or its predictions land nowhere."""
    missing = [c for c in classes if c not in names.choices]
    if names.choices and missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise FashionError(
            f"the project's labelling configuration has no choice {missing[0]!r}{more} of the model's classes;"
            " make the project from the configuration `annotate --out tasks.json` or `next-batch` writes"
        )


def _given(task: dict, classes) -> str | None:
    label = task["data"].get("given_label")
    return label if isinstance(label, str) and label in classes else None
