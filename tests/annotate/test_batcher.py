"""The batcher: concurrent callers share model calls, memory is bounded, failures reach every caller."""

from __future__ import annotations

import threading
import time

import pytest

from fashioncat.annotate.batcher import Batcher, Overloaded


def test_items_submitted_together_are_predicted_in_one_call_each_caller_gets_its_own_result():
    calls = []

    def predict(group, payloads):
        calls.append((group, list(payloads)))
        return [p * 10 for p in payloads]

    batcher = Batcher(predict, max_batch=4, max_wait=0.2)
    with batcher.admit(6, timeout=1):
        futures = [batcher.submit("m", i) for i in range(6)]
        assert [f.result(timeout=5) for f in futures] == [0, 10, 20, 30, 40, 50]
    assert [len(p) for _, p in calls] == [4, 2] and batcher.calls == 2 and batcher.predicted == 6
    batcher.close()


def test_a_batch_never_mixes_items_prepared_for_different_models():
    seen = []
    batcher = Batcher(lambda group, payloads: seen.append((group, payloads)) or payloads, max_batch=8, max_wait=0.2)
    futures = [batcher.submit("old" if i % 2 else "new", i) for i in range(6)]
    assert [f.result(timeout=5) for f in futures] == list(range(6))
    assert sorted(seen) == [("new", [0, 2, 4]), ("old", [1, 3, 5])]
    batcher.close()


def test_a_failed_model_call_fails_every_caller_in_it_and_the_worker_goes_on():
    def predict(group, payloads):
        if "bad" in payloads:
            raise RuntimeError("model exploded")
        return payloads

    batcher = Batcher(predict, max_batch=2, max_wait=0.2)
    bad = [batcher.submit("m", "bad"), batcher.submit("m", "good")]
    for future in bad:
        with pytest.raises(RuntimeError, match="model exploded"):
            future.result(timeout=5)
    assert batcher.submit("m", "later").result(timeout=5) == "later"
    batcher.close()


def test_no_more_images_than_the_capacity_are_admitted_at_once():
    batcher = Batcher(lambda group, payloads: payloads, capacity=4)
    released = threading.Event()

    def hold():
        with batcher.admit(3, timeout=1):
            released.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    assert batcher.in_flight() == 3
    with pytest.raises(Overloaded, match="3 images in flight"):
        with batcher.admit(2, timeout=0.1):
            pass
    with batcher.admit(1, timeout=0.1):  # what is left is still usable
        assert batcher.in_flight() == 4
    released.set()
    holder.join()
    with batcher.admit(4, timeout=1):
        pass
    with pytest.raises(ValueError, match="holds 4"):
        with batcher.admit(5, timeout=1):
            pass
    batcher.close()
