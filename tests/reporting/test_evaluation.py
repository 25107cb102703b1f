"""Metrics match hand-computed values; plots write real PNGs atomically."""

import numpy as np
import pytest
from PIL import Image

from fashioncat.model import evaluation
from fashioncat.reporting import plots

CLASSES = ["shirt", "dress", "shoe"]
# true:       0    0    1    1    2    2
# predicted:  0    1    1    1    2    0   -> 4 of 6 right
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array(
    [
        [0.70, 0.20, 0.10],
        [0.30, 0.60, 0.10],
        [0.15, 0.80, 0.05],
        [0.20, 0.50, 0.30],
        [0.10, 0.20, 0.70],
        [0.50, 0.40, 0.10],
    ]
)


def test_summary_matches_hand_computed_values():
    # per class: shirt P=1/2 R=1/2 F=1/2; dress P=2/3 R=1 F=0.8; shoe P=1 R=1/2 F=2/3
    result = evaluation.summary(Y_TRUE, PROBS, CLASSES)
    assert result == {
        "accuracy": 0.6667,
        "precision_macro": 0.7222,
        "recall_macro": 0.6667,
        "f1_macro": 0.6556,
        "top3_accuracy": 1.0,
        "n": 6,
    }
    assert all(isinstance(v, float) for k, v in result.items() if k != "n")
    assert isinstance(result["n"], int)


def test_top_k_counts_second_choices():
    # only image 5 (true shoe, ranked third) misses the top two
    assert evaluation.top_k(Y_TRUE, PROBS, k=2) == pytest.approx(5 / 6)
    assert evaluation.top_k(Y_TRUE, PROBS, k=1) == pytest.approx(4 / 6)


def test_top3_with_two_classes_is_capped():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    result = evaluation.summary(np.array([0, 1, 1]), probs, ["a", "b"])
    assert result["top3_accuracy"] == 1.0
    assert result["accuracy"] == 0.6667
    assert result["n"] == 3


def test_per_class():
    result = evaluation.per_class(Y_TRUE, PROBS, CLASSES)
    assert list(result) == CLASSES
    assert result["shirt"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert result["dress"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2}
    assert result["shoe"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}


def test_per_class_absent_class_is_zero_not_error():
    probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1]])
    result = evaluation.per_class(np.array([0, 0]), probs, CLASSES)
    assert result["shoe"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_confusion_rows_true_cols_predicted():
    y_pred = evaluation.predicted(PROBS)
    matrix = evaluation.confusion(Y_TRUE, y_pred, CLASSES)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])


def test_confusion_includes_absent_classes():
    matrix = evaluation.confusion([0, 0, 1], [0, 1, 1], ["a", "b", "c", "d"])
    assert matrix.shape == (4, 4)
    assert matrix.sum() == 3
    assert matrix[2].sum() == 0 and matrix[:, 3].sum() == 0


def test_confusion_rows_long_format():
    rows = evaluation.confusion_rows([0, 2, 1], [0, 0, 1], CLASSES)
    assert rows == [
        {"actual": "shirt", "predicted": "shirt"},
        {"actual": "shoe", "predicted": "shirt"},
        {"actual": "dress", "predicted": "dress"},
    ]


def test_prediction_rows():
    images = [f"img{i}.jpg" for i in range(6)]
    rows = evaluation.prediction_rows(images, Y_TRUE, PROBS, CLASSES)
    assert len(rows) == 6
    assert rows[0] == {"image": "img0.jpg", "true": "shirt", "predicted": "shirt", "confidence": 0.7}
    assert rows[5] == {"image": "img5.jpg", "true": "shoe", "predicted": "shirt", "confidence": 0.5}
    assert [r["confidence"] for r in rows] == [0.7, 0.6, 0.8, 0.5, 0.7, 0.5]


def test_confidence_rounded_to_four_digits():
    probs = np.array([[1 / 3 + 1e-6, 1 / 3, 1 / 3 - 1e-6]])
    rows = evaluation.prediction_rows(["x"], np.array([0]), probs, CLASSES)
    assert rows[0]["confidence"] == 0.3333


@pytest.mark.parametrize(
    "y_true,probs,match",
    [
        (Y_TRUE[:5], PROBS, "one label per row"),
        (Y_TRUE, PROBS[:, :2], "2 columns but there are 3 classes"),
        (Y_TRUE, PROBS[0], "2-D"),
        (Y_TRUE, PROBS * 2, "sum to 1"),
        (np.array([0, 0, 1, 1, 2, 3]), PROBS, "outside"),
        (np.array([], dtype=int), np.zeros((0, 3)), "no images"),
    ],
)
def test_bad_inputs_raise_value_error(y_true, probs, match):
    with pytest.raises(ValueError, match=match):
        evaluation.summary(y_true, probs, CLASSES)


def test_bad_inputs_for_rows_and_confusion():
    with pytest.raises(ValueError, match="image names"):
        evaluation.prediction_rows(["a.jpg"], Y_TRUE, PROBS, CLASSES)
    with pytest.raises(ValueError, match="must be equal"):
        evaluation.confusion([0, 1], [0], CLASSES)
    with pytest.raises(ValueError, match="y_pred"):
        evaluation.confusion_rows([0, 1], [0, 5], CLASSES)


def _assert_png(folder, name):
    path = folder / name
    assert path.stat().st_size > 0
    with Image.open(path) as img:
        assert img.format == "PNG"
        width, height = img.size
        img.verify()
    assert width > 100 and height > 100
    assert sorted(p.name for p in folder.iterdir()) == [name], "temp files left behind"


def test_confusion_png(tmp_path):
    matrix = evaluation.confusion(Y_TRUE, evaluation.predicted(PROBS), CLASSES + ["bag"])  # a zero row too
    plots.confusion_png(matrix, CLASSES + ["bag"], tmp_path / "confusion.png", "test confusion")
    _assert_png(tmp_path, "confusion.png")


def test_confusion_png_rejects_wrong_shape(tmp_path):
    with pytest.raises(ValueError):
        plots.confusion_png(np.zeros((2, 2)), CLASSES, tmp_path / "c.png", "bad")
    assert list(tmp_path.iterdir()) == []


def test_bar_png(tmp_path):
    plots.bar_png({"shirt": 0.5, "dress": 0.8, "shoe": 0.67}, tmp_path / "bar.png", "F1 per class", "F1")
    _assert_png(tmp_path, "bar.png")


def test_bar_png_with_reference(tmp_path):
    plots.bar_png(
        {"shirt": 0.5, "dress": 0.8, "shoe": 0.67},
        tmp_path / "bar.png",
        "F1 vs paper",
        "F1",
        reference={"shirt": 0.6, "dress": 0.7},
    )  # shoe missing from the paper
    _assert_png(tmp_path, "bar.png")


def test_curves_png(tmp_path):
    plots.curves_png(
        {"loss": [1.2, 0.8, 0.6], "val_loss": [1.3, 0.9, 0.85]}, tmp_path / "sub" / "curves.png", "training"
    )
    _assert_png(tmp_path / "sub", "curves.png")


def test_png_overwrites_existing(tmp_path):
    path = tmp_path / "c.png"
    path.write_bytes(b"old")
    plots.curves_png({"loss": [1.0, 0.5]}, path, "again")
    _assert_png(tmp_path, "c.png")


def test_top3_with_two_classes_and_one_label_present():
    probs = np.array([[0.9, 0.1], [0.4, 0.6]])
    assert evaluation.summary(np.array([1, 1]), probs, ["a", "b"])["top3_accuracy"] == 1.0


def test_top_k_breaks_ties_by_class_index_like_argmax():
    from fashioncat.model.evaluation import top_k

    uniform = np.full((4, 10), 0.1)
    assert top_k(np.array([0, 2, 3, 9]), uniform, k=3) == 0.5  # classes 0 and 2 rank within the first three
