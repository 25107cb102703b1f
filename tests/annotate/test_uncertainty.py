"""Margin, entropy and cleanlab's label quality, and the order they give: the least certain first."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fashioncat.annotate import uncertainty
from fashioncat.errors import FashionError

CLASSES = ["red", "green", "blue"]


def test_margin_is_the_gap_between_the_two_most_likely_classes():
    probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(uncertainty.margins(probs), [0.5, 0.0, 1.0])


def test_entropy_is_zero_for_a_sure_answer_and_ln_k_for_an_even_one():
    probs = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, -1e-9]])
    np.testing.assert_allclose(uncertainty.entropies(probs), [0.0, math.log(3), math.log(2)], atol=1e-7)


def test_label_quality_is_cleanlabs_self_confidence_and_only_where_a_label_is_given():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    found = uncertainty.describe(probs, CLASSES, ["green", None, "blue"])
    assert [u.label for u in found] == ["red", "blue", "blue"]
    assert found[0].label_quality == pytest.approx(0.2) and found[2].label_quality == pytest.approx(0.4)
    assert found[1].label_quality is None and "label_quality" not in found[1].fields()
    assert found[0].fields() == {"margin": 0.5, "entropy": 0.8018, "label_quality": 0.2}
    with pytest.raises(FashionError, match="'purple' is not one of the model's classes"):
        uncertainty.describe(probs, CLASSES, ["purple", None, None])


def test_the_least_certain_come_first_by_each_ranking():
    probs = np.array([[0.9, 0.05, 0.05], [0.45, 0.44, 0.11], [0.34, 0.33, 0.33], [0.6, 0.4, 0.0]])
    found = uncertainty.describe(probs, CLASSES, ["red", "blue", None, "green"])
    assert uncertainty.order(found, "margin") == [2, 1, 3, 0]
    assert uncertainty.order(found, "entropy") == [2, 1, 3, 0]
    assert uncertainty.order(found, "label_quality") == [1, 3, 0, 2]  # no given label: last
    with pytest.raises(ValueError, match="unknown ranking"):
        uncertainty.order(found, "luck")
