"""Images prepared exactly as the training images were, and predicted in batches.

`pixels` is the crop stage's `images.prepare` with the bundle's crop settings, then the
resize training applies when it reads an image (`model.inputs.at_training_size`), so the
model sees what it was trained on. `batches` decodes the next batch in a thread pool
while the caller predicts the current one, so memory holds two batches whatever the
number of images. An unreadable image becomes its reason, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

import numpy as np

from fashioncat.annotate.inputs import Item
from fashioncat.data import images
from fashioncat.data.records import Box


def pixels(file: str | Path | IO[bytes], box: Box | None, settings) -> np.ndarray:
    """uint8 [s, s, 3] as training saw the image: the crop stage's `prepare`, then training's resize.

    The crop stage saves lossless PNGs and training stretches them to image_size when the
    sizes differ (`model.inputs.at_training_size`, the one resize both use), so doing both
    in memory gives the same pixels. `file` is a path or a binary file object.
    Raises images.ImageProblem for an unusable file or box.
    """
    # model.inputs brings TensorFlow: imported here, where a bundle (and TensorFlow with it) is already
    # loaded, so listing inputs and `--help` stay fast
    from fashioncat.model.inputs import at_training_size

    img, _ = images.prepare(file, box, settings.margin, settings.crop_size, settings.fit)
    return at_training_size(img, settings.image_size)


def pixels_or_reason(item: Item, settings) -> np.ndarray | str:
    """`pixels` of the item, or why there are none."""
    try:
        return pixels(item.file, item.box, settings)
    except images.ImageProblem as problem:
        return str(problem)
    except Exception as exc:  # PIL's format plugins raise assorted types on malformed files; one file never stops a run
        return f"unreadable image ({type(exc).__name__}: {exc})"


def batches(todo: Sequence[Item], settings, batch_size: int, pool: ThreadPoolExecutor):
    """(items, pixels-or-reasons) per batch; the next batch decodes in `pool` while the caller predicts."""
    pending: tuple[Sequence[Item], list[Future]] | None = None
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        submitted = (chunk, [pool.submit(pixels_or_reason, item, settings) for item in chunk])
        if pending is not None:
            yield pending[0], [f.result() for f in pending[1]]
        pending = submitted
    if pending is not None:
        yield pending[0], [f.result() for f in pending[1]]


def probabilities(model, prepared: list) -> list:
    """Probabilities for each prepared image, None where preparation failed."""
    ok = [i for i, p in enumerate(prepared) if not isinstance(p, str)]
    out: list = [None] * len(prepared)
    if ok:
        # predict_on_batch: model.predict builds a tf.data pipeline per call, costly at small batches
        probs = np.asarray(model.predict_on_batch(np.stack([prepared[i] for i in ok]).astype(np.float32)))
        for i, p in zip(ok, probs):
            out[i] = p
    return out


def row(item: Item, probs, reason: str, classes: Sequence[str], top_k: int, threshold: float) -> dict:
    """One output row: the top_k classes; an unreadable image is flagged for review too, since it has no prediction."""
    if probs is None:
        return {"item": item, "top": [], "review": True, "error": reason}
    order = np.argsort(-probs, kind="stable")[:top_k]
    top = [(classes[j], float(probs[j])) for j in order]
    return {"item": item, "top": top, "review": top[0][1] < threshold, "error": ""}
