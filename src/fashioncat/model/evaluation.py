"""Metrics over a model's predicted probabilities, as plain numbers and rows.

Everything here works on numpy arrays so the evaluate stage can be tested
without tensorflow; the stage only has to turn its outputs into JSON/CSV.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

TOP_K = 3
DIGITS = 4
SUM_TOLERANCE = 1e-3


def _checked(y_true, probs, classes) -> tuple[np.ndarray, np.ndarray]:
    """Validate once so every metric fails with the same clear message instead of a deep sklearn error."""
    y_true = np.asarray(y_true)
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2:
        raise ValueError(f"probs must be 2-D (images x classes), got shape {probs.shape}")
    if y_true.ndim != 1 or len(y_true) != len(probs):
        raise ValueError(f"y_true has shape {y_true.shape} but probs has {len(probs)} rows; need one label per row")
    if probs.shape[1] != len(classes):
        raise ValueError(f"probs has {probs.shape[1]} columns but there are {len(classes)} classes")
    if len(y_true) == 0:
        raise ValueError("no images to evaluate")
    _check_labels(y_true, classes, "y_true")
    sums = probs.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if bad.size:
        raise ValueError(
            f"probs rows must sum to 1 (softmax output); row {bad[0]} sums to {sums[bad[0]]:.6f} ({bad.size} bad rows)"
        )
    return y_true.astype(int), probs


def _check_labels(labels, classes, name: str) -> None:
    """Labels index `classes`; an out-of-range one means the class map and the model disagree."""
    labels = np.asarray(labels)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"{name} holds class index outside 0..{len(classes) - 1}")


def _round(x) -> float:
    return round(float(x), DIGITS)


def predicted(probs: np.ndarray) -> np.ndarray:
    """The arg-max class per row: the single prediction every hard metric uses."""
    return np.asarray(probs).argmax(axis=1)


def top_k(y_true, probs, k: int = TOP_K) -> float:
    """Share of images whose true class is among the k most probable; k is capped at C so C<3 still works.

    Computed in numpy: sklearn's scorer rejects 2-column probs when y_true holds one class and warns when k >= C.
    Ties rank by class index, as argmax does: a collapsed model giving every class the same
    probability scores 3/C, not a perfect 1.0.
    """
    y_true, probs = np.asarray(y_true, dtype=int), np.asarray(probs, dtype=float)
    k = min(k, probs.shape[1])
    true_score = probs[np.arange(len(y_true)), y_true][:, None]
    earlier = np.arange(probs.shape[1])[None, :] < y_true[:, None]
    rank = (probs > true_score).sum(axis=1) + ((probs == true_score) & earlier).sum(axis=1)
    return float(np.mean(rank < k))


def summary(y_true, probs, classes: list[str]) -> dict:
    """Headline numbers for metrics.json; macro averages so rare garment classes count as much as common ones."""
    y_true, probs = _checked(y_true, probs, classes)
    y_pred = predicted(probs)
    labels = np.arange(len(classes))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "accuracy": _round(accuracy_score(y_true, y_pred)),
        "precision_macro": _round(precision),
        "recall_macro": _round(recall),
        "f1_macro": _round(f1),
        f"top{TOP_K}_accuracy": _round(top_k(y_true, probs)),
        "n": int(len(y_true)),
    }


def per_class(y_true, probs, classes: list[str]) -> dict[str, dict]:
    """Precision/recall/F1/support per class name, to spot which garments the model confuses."""
    y_true, probs = _checked(y_true, probs, classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, predicted(probs), labels=np.arange(len(classes)), average=None, zero_division=0
    )
    return {
        name: {"precision": _round(p), "recall": _round(r), "f1": _round(f), "support": int(s)}
        for name, p, r, f, s in zip(classes, precision, recall, f1, support)
    }


def confusion(y_true, y_pred, classes: list[str]) -> np.ndarray:
    """C x C counts (rows true, columns predicted) with every class present, so plots keep a fixed layout."""
    y_true, y_pred = _pair(y_true, y_pred, classes)
    return confusion_matrix(y_true, y_pred, labels=np.arange(len(classes)))


def confusion_rows(y_true, y_pred, classes: list[str]) -> list[dict]:
    """One {actual, predicted} row per image: the long format DVC's `template: confusion` plot reads."""
    y_true, y_pred = _pair(y_true, y_pred, classes)
    return [{"actual": classes[t], "predicted": classes[p]} for t, p in zip(y_true, y_pred)]


def prediction_rows(images: list[str], y_true, probs, classes: list[str]) -> list[dict]:
    """Per-image predictions with confidence, so wrong or unsure images can be looked at by name."""
    y_true, probs = _checked(y_true, probs, classes)
    if len(images) != len(y_true):
        raise ValueError(f"{len(images)} image names for {len(y_true)} predictions")
    y_pred = predicted(probs)
    confidence = probs.max(axis=1)
    return [
        {"image": image, "true": classes[t], "predicted": classes[p], "confidence": _round(c)}
        for image, t, p, c in zip(images, y_true, y_pred, confidence)
    ]


def _pair(y_true, y_pred, classes) -> tuple[np.ndarray, np.ndarray]:
    """Validate two label vectors of equal length that index `classes`."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.shape != y_true.shape:
        raise ValueError(f"y_true shape {y_true.shape} and y_pred shape {y_pred.shape} must be equal and 1-D")
    _check_labels(y_true, classes, "y_true")
    _check_labels(y_pred, classes, "y_pred")
    return y_true.astype(int), y_pred.astype(int)
