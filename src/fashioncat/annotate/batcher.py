"""Many small requests, few model calls: a queue that groups the images of concurrent requests.

Label Studio asks for predictions one task at a time when a reviewer opens tasks, and
several reviewers open tasks at once. One model call on 32 images costs little more
than on one, so a single worker thread takes the first image waiting, waits up to
`max_wait` seconds for more (never more than `max_batch` in all), predicts them in one
call and hands each caller its own result.

Memory is bounded by `admit`: a request reserves a slot per image before it fetches
or decodes anything, and there are `capacity` slots in all, so the images held in
memory (fetched, decoded, queued or being predicted) never exceed `capacity`. A
request that cannot get its slots within `timeout` gets `Overloaded` (HTTP 503), not
an ever-growing queue.

Items carry a `group` (the model they were prepared for): one call predicts only items
of one group, so a model swapped in mid-queue never sees an image sized for another.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

_STOP = object()


class Overloaded(Exception):
    """More images are in flight than the server holds; the caller should retry later."""


@dataclass
class _Item:
    group: Hashable
    payload: object
    future: Future = field(default_factory=Future)


class Batcher:
    """`predict(group, payloads) -> results` called on up to `max_batch` payloads at a time, from one thread."""

    def __init__(
        self,
        predict: Callable[[Hashable, list], Sequence],
        *,
        max_batch: int = 32,
        max_wait: float = 0.005,
        capacity: int = 256,
    ):
        if max_batch < 1 or capacity < 1 or max_wait < 0:
            raise ValueError("max_batch and capacity must be >= 1, max_wait >= 0")
        self.predict, self.max_batch, self.max_wait, self.capacity = predict, max_batch, max_wait, capacity
        self._queue: queue.Queue = queue.Queue()
        self._free = capacity
        self._slots = threading.Condition()
        self.calls = 0  # model calls made
        self.predicted = 0  # images predicted
        self._worker = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._worker.start()

    # ---- callers ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def admit(self, n: int, timeout: float) -> Iterator[None]:
        """Hold `n` of the `capacity` image slots for the block; Overloaded when they are not free in time."""
        if n > self.capacity:
            raise ValueError(f"{n} images at once, the batcher holds {self.capacity}")
        with self._slots:
            if not self._slots.wait_for(lambda: self._free >= n, timeout):
                raise Overloaded(f"{self.capacity - self._free} images in flight; try again shortly")
            self._free -= n
        try:
            yield
        finally:
            with self._slots:
                self._free += n
                self._slots.notify_all()

    def submit(self, group: Hashable, payload) -> Future:
        """The future result of `payload`; call it inside `admit`, which is what bounds memory."""
        item = _Item(group, payload)
        self._queue.put(item)
        return item.future

    def in_flight(self) -> int:
        with self._slots:
            return self.capacity - self._free

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the worker."""
        self._queue.put(_STOP)
        self._worker.join(timeout)

    # ---- the worker -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._gather(first)
            self._predict(batch)
            if stop:
                return

    def _gather(self, first: _Item) -> tuple[list[_Item], bool]:
        """`first` and whatever arrives within max_wait after it, up to max_batch."""
        batch, deadline = [first], time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _predict(self, batch: list[_Item]) -> None:
        groups: dict[Hashable, list[_Item]] = {}
        for item in batch:
            groups.setdefault(item.group, []).append(item)
        for group, items in groups.items():
            try:
                results = self.predict(group, [item.payload for item in items])
                if len(results) != len(items):
                    raise RuntimeError(f"predict returned {len(results)} results for {len(items)} inputs")
            except BaseException as exc:  # the callers wait on these futures: every one must be settled
                for item in items:
                    item.future.set_exception(exc)
                continue
            self.calls += 1
            self.predicted += len(items)
            for item, result in zip(items, results):
                item.future.set_result(result)
