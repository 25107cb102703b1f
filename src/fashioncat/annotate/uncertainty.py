"""How unsure the model is about an image: the numbers a reviewer sorts by, least certain first.

- `margin`: top-1 probability minus top-2; 0 when the model cannot choose between two classes.
- `entropy`: of the whole distribution, in nats; 0 when one class has all the probability,
  ln(k) when all k classes are equal.
- `label_quality`: cleanlab's label-quality score of the label the image was given (its
  self-confidence: the probability the model gives that label), only where a label is
  given. Low means the given label is probably wrong. Out-of-sample only for images the
  model did not train on (the test split); on training images it is optimistic.

`order` puts the least certain first: the smallest margin, then the largest entropy.
No TensorFlow here: this runs on probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fashioncat.errors import FashionError

RANKINGS = ("margin", "entropy", "label_quality")
LABEL_QUALITY_METHOD = "self_confidence"  # as label_issues ranks its flagged images


@dataclass(frozen=True)
class Uncertainty:
    label: str  # the model's top class
    probability: float  # its probability
    margin: float
    entropy: float
    label_quality: float | None = None  # None: no given label

    def fields(self) -> dict:
        """As task data: rounded, `label_quality` only when there is one."""
        out = {"margin": round(self.margin, 4), "entropy": round(self.entropy, 4)}
        if self.label_quality is not None:
            out["label_quality"] = round(self.label_quality, 4)
        return out


def margins(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability per row (the top-1 probability itself with one class)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[1] == 1:
        return probs[:, 0]
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def entropies(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy per row, in nats; probabilities are clipped at 0 (rounding can make them -1e-9)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1)


def label_qualities(given: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's label-quality score of each given label (class indices)."""
    try:
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        raise FashionError(
            "label-quality scores need cleanlab, which is not installed: pip install -r requirements.txt"
        ) from None
    return np.asarray(
        get_label_quality_scores(np.asarray(given), np.asarray(probs), method=LABEL_QUALITY_METHOD), dtype=np.float64
    )


def describe(probs: np.ndarray, classes: Sequence[str], given: Sequence[str | None] | None = None) -> list[Uncertainty]:
    """One Uncertainty per row of `probs`; `given[i]` is the image's label, a class or None."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probabilities of shape {probs.shape} for {len(classes)} classes")
    top = probs.argmax(axis=1)
    margin, entropy = margins(probs), entropies(probs)
    quality: list[float | None] = [None] * len(probs)
    if given is not None:
        index = {name: i for i, name in enumerate(classes)}
        rows = [i for i, label in enumerate(given) if label is not None]
        unknown = [given[i] for i in rows if given[i] not in index]
        if unknown:
            raise FashionError(f"given label {unknown[0]!r} is not one of the model's classes")
        if rows:
            scores = label_qualities(np.array([index[given[i]] for i in rows]), probs[rows])
            for i, score in zip(rows, scores):
                quality[i] = float(score)
    return [
        Uncertainty(classes[t], float(probs[i, t]), float(margin[i]), float(entropy[i]), quality[i])
        for i, t in enumerate(top)
    ]


def key(u: Uncertainty, by: str = "margin") -> tuple:
    """Sort key: ascending order puts the least certain first (by label quality: the likeliest wrong label)."""
    if by == "margin":
        return (u.margin, -u.entropy)
    if by == "entropy":
        return (-u.entropy, u.margin)
    if by == "label_quality":
        return (u.label_quality if u.label_quality is not None else np.inf, u.margin)
    raise ValueError(f"unknown ranking {by!r} (one of {', '.join(RANKINGS)})")


def order(found: Sequence[Uncertainty], by: str = "margin") -> list[int]:
    """Indices of `found`, least certain first; ties keep their input order."""
    return sorted(range(len(found)), key=lambda i: key(found[i], by))
