"""The labelling loop keeps every answer: second reviews, conflicting answers, other Unicode forms,
stale corrections and broken files, each from its own small fixture, through the real command and
the real `balance` stage."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from fashioncat import config
from fashioncat.__main__ import main
from fashioncat.errors import FashionError

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["dress", "coat", "bag"]
HEADER = "image,old_label,new_label,by,at"
NFC, NFD = "café", unicodedata.normalize("NFD", "café")


def task(image: str, given: str, *answers: tuple[str, str], task_id: int = 1) -> dict:
    """A review task as Label Studio exports it, one annotation per (label, updated_at)."""
    return {
        "id": task_id,
        "data": {"image": f"/data/local-files/?d={image}", "source_image": image, "given_label": given},
        "annotations": [
            {
                "id": task_id * 10 + n,
                "result": [{"type": "choices", "to_name": "image", "value": {"choices": [label]}}],
                "completed_by": {"email": f"reviewer{n}@example.com"},
                "was_cancelled": False,
                "created_at": at,
                "updated_at": at,
            }
            for n, (label, at) in enumerate(answers)
        ],
    }


class Review:
    """A dataset's classes.json and records.csv, its corrections file, and the `corrections` command on them."""

    def __init__(self, folder: Path, labels: dict[str, str], classes: list[str] = CLASSES):
        self.folder, self.labels, self.classes = folder, labels, classes
        self.out = folder / "config/corrections/source.csv"
        (folder / "classes.json").write_text(json.dumps(classes, ensure_ascii=False), encoding="utf-8")
        lines = [f"c/{i}.png,{label},{image}\n" for i, (image, label) in enumerate(labels.items())]
        (folder / "records.csv").write_text("image,label,source_image\n" + "".join(lines), encoding="utf-8")
        self.exports = 0

    def run(self, tasks, capsys) -> tuple[int, str]:
        """Import `tasks` (a list, or the export's raw text) as a new export; the exit code and stderr."""
        self.exports += 1
        export = self.folder / f"export{self.exports}.json"
        export.write_text(tasks if isinstance(tasks, str) else json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
        args = ["--classes", str(self.folder / "classes.json"), "--records", str(self.folder / "records.csv")]
        code = main(["corrections", str(export), *args, "--out", str(self.out)])
        return code, capsys.readouterr().err

    def imported(self, tasks, capsys) -> list[str]:
        code, err = self.run(tasks, capsys)
        assert code == 0, err
        return self.out.read_text(encoding="utf-8").splitlines()

    def refused(self, tasks, capsys, message: str) -> str:
        """Import `tasks`, which must fail with one line holding `message` and leave the file as it was."""
        before = self.out.read_bytes() if self.out.exists() else None
        code, err = self.run(tasks, capsys)
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
        assert (self.out.read_bytes() if self.out.exists() else None) == before
        assert not list(self.out.parent.glob(".*.tmp")) if self.out.parent.exists() else True
        return err

    def balance(self, skip: bool = False) -> subprocess.CompletedProcess:
        """The real `balance` stage on these images (one per class kept at most) and the corrections file."""
        return balance(self.folder, self.labels, self.classes, self.out, skip)


def balance(folder: Path, labels: dict[str, str], classes: list[str], fixes: Path, skip: bool = False):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"]["source"]["per_class"] = 1
    params["balance"] = {"allow_smaller": True, "skip_stale_corrections": skip}
    for dataset in params["datasets"].values():  # the mapping files, from the repository
        dataset["classes"] = str(ROOT / dataset["classes"])
    params["embedded"]["target_classes"] = str(ROOT / params["embedded"]["target_classes"])
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    cropped = folder / "cropped"
    cropped.mkdir(exist_ok=True)
    with open(cropped / "records.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "label", "group", "pixels", "source_image", "origin"])
        for i, (image, label) in enumerate(labels.items()):
            writer.writerow([f"c/{i}.png", label, f"g{i}", f"p{i}", image, f"list.txt:{i + 3}"])
    if not (cropped / "classes.json").exists():
        (cropped / "classes.json").write_text(json.dumps(classes, ensure_ascii=False), encoding="utf-8")
    args = ["--params", "params.yaml", "--dataset", "source", "--cropped", "cropped", "--out", "balanced"]
    args += ["--corrections", str(fixes), "--details", "details.json", "--metrics", "metrics.json"]
    return subprocess.run(
        [sys.executable, str(ROOT / "stages/balance.py"), *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
    )


def manifest_labels(folder: Path) -> dict[str, str]:
    with open(folder / "balanced/manifest.csv", newline="", encoding="utf-8") as f:
        return {row["source_image"]: row["label"] for row in csv.DictReader(f)}


def headline(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_a_second_review_of_a_corrected_image_composes_with_the_first_and_balance_applies_it(tmp_path, capsys):
    review = Review(tmp_path, {"img/a.jpg": "dress", "img/b.jpg": "coat"})
    review.imported([task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))], capsys)
    # the review queue is rebuilt from the corrected data: the second reviewer is shown coat
    lines = review.imported([task("img/a.jpg", "coat", ("bag", "2026-12-01T07:00:00Z"))], capsys)
    assert lines == [HEADER, "img/a.jpg,dress,bag,reviewer0@example.com,2026-12-01T07:00:00Z"]
    done = review.balance()
    assert done.returncode == 0, done.stderr
    assert manifest_labels(tmp_path)["img/a.jpg"] == "bag"
    assert headline(tmp_path) == {"kept": 2, "dropped_total": 0, "corrections_applied": 1, "corrections_skipped": 0}


def test_a_second_review_that_restores_the_first_label_keeps_the_row_and_its_reviewer(tmp_path, capsys):
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    review.imported([task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))], capsys)
    lines = review.imported([task("img/a.jpg", "coat", ("dress", "2026-12-01T07:00:00Z"))], capsys)
    assert lines == [HEADER, "img/a.jpg,dress,dress,reviewer0@example.com,2026-12-01T07:00:00Z"]
    done = review.balance()
    assert done.returncode == 0, done.stderr
    assert manifest_labels(tmp_path) == {"img/a.jpg": "dress"}


def test_answers_are_ordered_by_their_instant_not_by_the_export_or_the_text_of_their_time(tmp_path, capsys):
    """08:30+02:00 (06:30 UTC) is older than 07:00Z although its text sorts after it; import order is irrelevant."""
    review = Review(tmp_path, {"img/a.jpg": "dress", "img/b.jpg": "dress"})
    newer, older = ("coat", "2026-11-30T07:00:00Z"), ("bag", "2026-11-30T08:30:00+02:00")
    review.imported([task("img/a.jpg", "dress", newer), task("img/b.jpg", "dress", older, task_id=2)], capsys)
    lines = review.imported(
        [task("img/a.jpg", "dress", older, task_id=3), task("img/b.jpg", "dress", newer, task_id=4)], capsys
    )
    assert lines == [
        HEADER,
        "img/a.jpg,dress,coat,reviewer0@example.com,2026-11-30T07:00:00Z",
        "img/b.jpg,dress,coat,reviewer0@example.com,2026-11-30T07:00:00Z",
    ]
    # within one task, and in one export, the newest of several answers wins wherever it stands
    lines = review.imported([task("img/a.jpg", "dress", ("bag", "2026-12-01T09:00:00+09:00"), newer)], capsys)
    assert lines[1] == "img/a.jpg,dress,bag,reviewer0@example.com,2026-12-01T09:00:00+09:00"
    code, err = review.run([task("img/a.jpg", "dress", older)], capsys)  # the same old answer again: no change
    assert code == 0 and "0 correction(s) from 1 task(s), 2 in the file" in err
    assert review.out.read_text().splitlines()[1] == lines[1]


def test_two_answers_at_the_same_instant_that_disagree_are_an_error(tmp_path, capsys):
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    review.imported([task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))], capsys)
    review.refused(
        [task("img/a.jpg", "dress", ("bag", "2026-11-30T09:00:00+02:00"), task_id=7)],
        capsys,
        "export2.json[0] (task 7): img/a.jpg: answers 'bag' and 'coat'",
    )


def test_a_row_without_a_time_cannot_be_ordered_against_a_new_answer(tmp_path, capsys):
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    review.out.parent.mkdir(parents=True)
    review.out.write_text(f"{HEADER}\nimg/a.jpg,dress,coat,ana,yesterday\n")
    review.refused(
        [task("img/a.jpg", "dress", ("bag", "2026-11-30T07:00:00Z"))],
        capsys,
        "source.csv: img/a.jpg: at 'yesterday' is not an ISO 8601 time",
    )


def test_a_label_in_another_unicode_form_is_imported_in_nfc_and_applied(tmp_path, capsys):
    nfc, nfd = NFC, NFD
    assert nfc != nfd
    review = Review(tmp_path, {"img/a.jpg": "dress", "img/b.jpg": nfc}, classes=["dress", nfc])
    lines = review.imported(
        [
            task("img/a.jpg", "dress", (nfd, "2026-11-30T07:00:00Z")),
            task("img/b.jpg", nfd, ("dress", "2026-11-30T07:00:00Z"), task_id=2),
        ],
        capsys,
    )
    assert lines == [
        HEADER,
        f"img/a.jpg,dress,{nfc},reviewer0@example.com,2026-11-30T07:00:00Z",
        f"img/b.jpg,{nfc},dress,reviewer0@example.com,2026-11-30T07:00:00Z",
    ]
    done = review.balance()
    assert done.returncode == 0, done.stderr
    assert manifest_labels(tmp_path) == {"img/a.jpg": nfc, "img/b.jpg": "dress"}
    assert headline(tmp_path)["corrections_applied"] == 2


def test_a_classes_json_in_another_unicode_form_still_matches_and_balance_writes_its_spelling(tmp_path, capsys):
    nfc, nfd = NFC, NFD
    review = Review(tmp_path, {"img/a.jpg": "dress"}, classes=["dress", nfd])
    review.imported([task("img/a.jpg", "dress", (nfc, "2026-11-30T07:00:00Z"))], capsys)
    done = review.balance()
    assert done.returncode == 0, done.stderr
    assert manifest_labels(tmp_path) == {"img/a.jpg": nfd}  # as classes.json spells the class


def test_a_label_that_is_not_a_class_is_a_one_line_error_naming_the_file_and_task(tmp_path, capsys):
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    review.refused(
        [task("img/a.jpg", "dress", ("hat", "2026-11-30T07:00:00Z"), task_id=41)],
        capsys,
        "export1.json[0] (task 41): img/a.jpg: answer 'hat' is not a class (classes: dress, coat, bag)",
    )
    review.refused(
        [task("img/a.jpg", "robe", ("coat", "2026-11-30T07:00:00Z"), task_id=42)],
        capsys,
        "export2.json[0] (task 42): img/a.jpg: given_label 'robe' is not a class",
    )


def test_a_review_of_another_version_of_the_dataset_is_refused_at_import(tmp_path, capsys):
    """The crop stage records img/a.jpg as bag: a correction from dress could never be applied."""
    review = Review(tmp_path, {"img/a.jpg": "bag"})
    review.refused(
        [task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))],
        capsys,
        "img/a.jpg: the correction expects label 'dress'",
    )


def test_a_stale_correction_fails_balance_in_one_line_naming_the_image_and_writes_nothing(tmp_path):
    fixes = tmp_path / "source.csv"
    fixes.write_text(f"{HEADER}\nimg/a.jpg,dress,coat,ana,2026-11-30T07:00:00Z\nimg/gone.jpg,bag,coat,ana,\n")
    done = balance(tmp_path, {"img/a.jpg": "bag"}, CLASSES, fixes)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        f"error: {fixes}: cannot apply the correction of img/a.jpg: labelled 'bag', the correction expects 'dress'"
        " (and 1 more); fix or delete the row, or set balance.skip_stale_corrections: true"
    )
    assert not (tmp_path / "balanced").exists() and not (tmp_path / "metrics.json").exists()


def test_with_skip_stale_corrections_balance_skips_them_and_counts_them_in_its_headline(tmp_path):
    fixes = tmp_path / "source.csv"
    fixes.write_text(f"{HEADER}\nimg/a.jpg,dress,coat,ana,\nimg/b.jpg,bag,coat,ana,\nimg/gone.jpg,bag,coat,ana,\n")
    done = balance(tmp_path, {"img/a.jpg": "bag", "img/b.jpg": "bag"}, CLASSES, fixes, skip=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"warning: {fixes}: stale correction skipped: img/a.jpg: labelled 'bag', the correction expects 'dress'",
        f"warning: {fixes}: stale correction skipped: img/gone.jpg: no such image",
    ]
    assert manifest_labels(tmp_path) == {"img/a.jpg": "bag", "img/b.jpg": "coat"}
    assert headline(tmp_path) == {"kept": 2, "dropped_total": 0, "corrections_applied": 1, "corrections_skipped": 2}


def test_the_param_is_validated_like_every_other(params):
    params["balance"]["skip_stale_corrections"] = "no"
    Path("params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(FashionError, match="balance.skip_stale_corrections must be true or false"):
        config.load("params.yaml")
    params["balance"].pop("skip_stale_corrections")
    Path("params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(FashionError, match="missing key balance.skip_stale_corrections"):
        config.load("params.yaml")


def _answered(**annotation) -> list:
    """A one-task export whose annotation has `annotation`'s fields replaced (None removes one)."""
    export = [task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))]
    for key, value in annotation.items():
        if value is None:
            del export[0]["annotations"][0][key]
        else:
            export[0]["annotations"][0][key] = value
    return export


def _edited(path: str, value) -> list:
    """A one-task export with the field at `path` (keys and indexes) set to `value`."""
    export = [task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))]
    node = export
    *parents, last = path
    for key in parents:
        node = node[key]
    node[last] = value
    return export


WHERE = "export1.json[0] (task 1)"
WRONG_TYPES = {
    "task is a list": ([["img/a.jpg"]], "export1.json[0]: a task must be a JSON object, not a list"),
    "data is a string": (_edited((0, "data"), "img/a.jpg"), f"{WHERE}: data must be an object, not a string"),
    "source_image is a number": (_edited((0, "data", "source_image"), 7), "data.source_image must be a string"),
    "given_label is a list": (_edited((0, "data", "given_label"), ["dress"]), "data.given_label must be a string"),
    "annotations is an object": (_edited((0, "annotations"), {}), f"{WHERE}: annotations must be a list"),
    "an annotation is a string": (_edited((0, "annotations", 0), "coat"), "annotations[0] must be a JSON object"),
    "was_cancelled is a string": (_answered(was_cancelled="no"), "annotations[0]: was_cancelled must be true or"),
    "result is an object": (_answered(result={}), "annotations[0]: result must be a list, not an object"),
    "a result is a number": (_answered(result=[3]), "annotations[0].result[0] must be a JSON object"),
    "type is a number": (_edited((0, "annotations", 0, "result", 0, "type"), 1), "result[0]: type must be a string"),
    "value is a list": (_edited((0, "annotations", 0, "result", 0, "value"), []), "result[0]: value must be an"),
    "choices is a string": (
        _edited((0, "annotations", 0, "result", 0, "value", "choices"), "coat"),
        "result[0]: value.choices must be a list",
    ),
    "a choice is a number": (
        _edited((0, "annotations", 0, "result", 0, "value", "choices"), [1]),
        "result[0]: value.choices must be a list of strings",
    ),
    "two choices": (
        _edited((0, "annotations", 0, "result", 0, "value", "choices"), ["coat", "bag"]),
        "annotations[0]: more than one choice",
    ),
    "updated_at is a number": (_answered(updated_at=1764486000), "annotations[0]: updated_at must be a string"),
    "updated_at is no time": (_answered(updated_at="yesterday"), "updated_at 'yesterday' is not an ISO 8601 time"),
    "no time at all": (_answered(updated_at=None, created_at=None), "annotations[0]: no updated_at or created_at"),
    "completed_by is a list": (_answered(completed_by=[1]), "annotations[0]: completed_by must be a user id or"),
    "completed_by.email is a number": (_answered(completed_by={"email": 5}), "completed_by.email must be a string"),
}


@pytest.mark.parametrize("name", WRONG_TYPES)
def test_wrong_json_types_in_an_export_are_one_line_errors_naming_the_file_and_task(tmp_path, capsys, name):
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    review.out.parent.mkdir(parents=True)
    review.out.write_text(f"{HEADER}\n")
    export, message = WRONG_TYPES[name]
    review.refused(export, capsys, message)


def test_a_deeply_nested_export_or_a_number_too_long_to_read_is_a_one_line_error(tmp_path, capsys):
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    review.refused("[" * 100_000 + "]" * 100_000, capsys, "not a JSON export (nested too deeply)")
    review.refused("[" + "1" * 5000 + "]", capsys, "not a JSON export (Exceeds the limit")


BROKEN_CLASSES = {
    "not JSON": (b'["dress", ', "classes.json:1: not valid JSON"),
    "not UTF-8": (b'["caf\xe9"]', "classes.json: not UTF-8 text"),
    "an object": (b'{"dress": 0}', "classes.json: must be a non-empty JSON list of class names"),
    "empty": (b"[]", "classes.json: must be a non-empty JSON list of class names"),
    "a number in it": (b'["dress", 3]', "classes.json: [1]: a class name must be a non-empty string, not 3"),
    "one class twice": ('["café", "cafe\u0301"]'.encode(), "classes.json: [1]: class " + repr(NFD) + " repeats [0]"),
}


@pytest.mark.parametrize("name", BROKEN_CLASSES)
def test_a_broken_classes_json_is_a_one_line_error_for_the_import_and_for_balance(tmp_path, capsys, name):
    data, message = BROKEN_CLASSES[name]
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    (tmp_path / "classes.json").write_bytes(data)
    review.refused([task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))], capsys, message)
    (tmp_path / "cropped").mkdir()
    (tmp_path / "cropped/classes.json").write_bytes(data)
    done = balance(tmp_path, {"img/a.jpg": "dress"}, CLASSES, tmp_path / "none.csv")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "balanced").exists()


def test_a_corrections_file_that_is_not_utf8_is_a_one_line_error_for_the_import_and_for_balance(tmp_path, capsys):
    review = Review(tmp_path, {"img/a.jpg": "dress"})
    review.out.parent.mkdir(parents=True)
    review.out.write_bytes(f"{HEADER}\nimg/a.jpg,dress,caf\xe9,ana,\n".encode("latin-1"))
    review.refused([task("img/a.jpg", "dress", ("coat", "2026-11-30T07:00:00Z"))], capsys, "source.csv: not UTF-8 text")
    done = review.balance()
    assert done.returncode == 2 and done.stderr == f"error: {review.out}: not UTF-8 text\n", done.stderr
