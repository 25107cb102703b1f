"""Label corrections: a Label Studio export in, a versioned CSV out, applied to manifest rows."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest

from fashioncat.__main__ import main
from fashioncat.annotate import review_answers, review_import
from fashioncat.data import corrections
from fashioncat.errors import FashionError

CLASSES = ["dress", "coat", "bag"]


def review_task(image: str, given: str, *answers: tuple[str, str]) -> dict:
    """A task as Label Studio exports it: the review queue's data and one annotation per (label, time)."""
    return {
        "id": zlib.crc32(image.encode()) % 1000,
        "data": {"image": f"/data/local-files/?d={image}", "source_image": image, "given_label": given},
        "annotations": [
            {
                "result": [
                    {"type": "choices", "from_name": "choice", "to_name": "image", "value": {"choices": [label]}}
                ],
                "completed_by": {"email": "ana@example.com"},
                "updated_at": at,
                "was_cancelled": False,
            }
            for label, at in answers
        ],
    }


def rows(*pairs: tuple[str, str]) -> list[dict]:
    return [
        {"image": f"crops/{i}.png", "label": label, "source_image": image, "origin": f"list.txt:{i + 2}"}
        for i, (image, label) in enumerate(pairs)
    ]


T1, T2, T3 = "2026-11-30T07:00:00Z", "2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z"


def test_an_export_becomes_corrections_newest_answer_wins_and_confirmations_are_not_corrections():
    export = [
        review_task("img/a.jpg", "dress", ("bag", T2), ("coat", T1)),
        review_task("img/b.jpg", "coat", ("coat", T1)),  # confirmed
        review_task("img/c.jpg", "bag"),  # not answered yet
    ]
    answers, unanswered = review_answers.read(export, "export.json", CLASSES)
    assert [(a.image, a.given, a.label, a.at) for a in answers] == [
        ("img/a.jpg", "dress", "bag", T2),
        ("img/a.jpg", "dress", "coat", T1),
        ("img/b.jpg", "coat", "coat", T1),
    ]
    task = export[2]["id"]
    assert unanswered == [f"export.json[2] (task {task}): img/c.jpg: no finished annotation"]
    found, changed = review_import.merged([], answers, Path("source.csv"))
    assert found == [corrections.Correction("img/a.jpg", "dress", "bag", "ana@example.com", T2)] and changed == 1


def dataset(tmp_path: Path, *images: str) -> list[str]:
    """classes.json and a crop stage's records.csv naming `images`; the command's arguments for both."""
    (tmp_path / "classes.json").write_text(json.dumps(CLASSES))
    records = tmp_path / "records.csv"
    records.write_text("image,source_image\n" + "".join(f"c/{i}.png,{x}\n" for i, x in enumerate(images)))
    return ["--classes", str(tmp_path / "classes.json"), "--records", str(records)]


def test_apply_relabels_drops_and_reports_every_correction_it_could_not_apply():
    fixes = [
        corrections.Correction("img/a.jpg", "dress", "coat"),
        corrections.Correction("img/b.jpg", "coat", corrections.DROP),
        corrections.Correction("img/c.jpg", "dress", "bag"),  # the image is labelled bag now: stale
        corrections.Correction("img/gone.jpg", "bag", "coat"),
    ]
    kept, drops, unapplied = corrections.apply(
        rows(("img/a.jpg", "dress"), ("img/b.jpg", "coat"), ("img/c.jpg", "bag"), ("img/d.jpg", "bag")), fixes
    )
    assert [(r["source_image"], r["label"]) for r in kept] == [
        ("img/a.jpg", "coat"),
        ("img/c.jpg", "bag"),
        ("img/d.jpg", "bag"),
    ]
    assert [(d.origin, d.reason, d.label) for d in drops] == [("list.txt:3", corrections.DROPPED, "coat")]
    assert unapplied == ["img/c.jpg: labelled 'bag', the correction expects 'dress'", "img/gone.jpg: no such image"]


def test_the_command_merges_into_the_csv_and_bad_files_name_their_line(tmp_path, capsys):
    known = dataset(tmp_path, "img/a.jpg", "img/b.jpg", "img/z.jpg")
    out = tmp_path / "corrections/source.csv"
    first = tmp_path / "first.json"
    first.write_text(
        json.dumps([review_task("img/a.jpg", "dress", ("coat", T1)), review_task("img/b.jpg", "coat", ("bag", T1))])
    )
    args = [*known, "--out", str(out)]
    assert main(["corrections", str(first), *args]) == 0
    second = tmp_path / "second.json"
    second.write_text(json.dumps([review_task("img/a.jpg", "dress", ("bag", T2))]))
    assert main(["corrections", str(second), *args]) == 0
    assert out.read_text().splitlines() == [
        "image,old_label,new_label,by,at",
        f"img/a.jpg,dress,bag,ana@example.com,{T2}",
        f"img/b.jpg,coat,bag,ana@example.com,{T1}",
    ]
    assert "1 correction(s) from 1 task(s), 2 in the file" in capsys.readouterr().err
    assert [c.new_label for c in corrections.read(out, CLASSES)] == ["bag", "bag"]

    out.write_text("image,old_label,new_label\nimg/a.jpg,dress,hat\n")
    with pytest.raises(FashionError, match=r"source.csv:2: new_label 'hat' is neither a class nor 'drop'"):
        corrections.read(out, CLASSES)
    out.write_text("image,old_label,new_label\nimg/a.jpg,dress,bag\nimg/a.jpg,dress,coat\n")
    with pytest.raises(FashionError, match=r"source.csv:3: img/a.jpg is corrected twice \(also on line 2\)"):
        corrections.read(out, CLASSES)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps([review_task("img/z.jpg", "dress", ("hat", T3))]))
    before = out.read_text()
    assert main(["corrections", str(unknown), *args]) == 2 and "'hat' is not a class" in capsys.readouterr().err
    assert out.read_text() == before
    assert corrections.read(Path(tmp_path / "none.csv"), CLASSES) == []


def test_bad_exports_are_one_line_errors_and_leave_the_file_alone(tmp_path, capsys):
    """Not JSON, not a list, missing, an unknown label, another project's tasks, an image of another dataset."""
    known = dataset(tmp_path, "img/a.jpg", "img/z.jpg")
    out = tmp_path / "source.csv"
    out.write_text(f"image,old_label,new_label,by,at\nimg/a.jpg,dress,bag,ana@example.com,{T1}\n")
    before = out.read_text()
    annotated = review_task("photos/x.jpg", "dress", ("coat", T2))
    annotated["data"] = {"image": "/data/local-files/?d=photos/x.jpg", "path": "photos/x.jpg"}  # annotate's task
    bad = {
        "object.json": (json.dumps({"tasks": []}), "object.json: not a Label Studio JSON export (a list of tasks)"),
        "cut.json": ('[{"data":', "cut.json: not a JSON export (Expecting value"),
        "missing.json": (None, "missing.json: no such file"),
        "unknown.json": (json.dumps([review_task("img/z.jpg", "dress", ("hat", T3))]), "'hat' is not a class"),
        "other.json": (
            json.dumps([review_task("img/z.jpg", "dress", ("coat", T3)), annotated]),
            f"other.json[1] (task {annotated['id']}): task has no source_image/given_label: this is not an export"
            " of the review queue",
        ),
        "elsewhere.json": (
            json.dumps([review_task("img/elsewhere.jpg", "dress", ("coat", T3))]),
            ": img/elsewhere.jpg: not an image of this dataset",
        ),
    }
    for name, (text, message) in bad.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        assert main(["corrections", str(tmp_path / name), *known, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
        assert out.read_text() == before


def test_without_the_crop_records_the_command_says_what_to_run(tmp_path, capsys):
    (tmp_path / "classes.json").write_text(json.dumps(CLASSES))
    export = tmp_path / "review.json"
    export.write_text(json.dumps([review_task("img/a.jpg", "dress", ("coat", T1))]))
    args = ["--classes", str(tmp_path / "classes.json"), "--records", str(tmp_path / "records.csv")]
    assert main(["corrections", str(export), *args, "--out", str(tmp_path / "source.csv")]) == 2
    assert "records.csv: no such file (run `dvc repro crop` first" in capsys.readouterr().err
    assert not (tmp_path / "source.csv").exists()


def test_a_stale_correction_is_reported_by_apply_and_changes_nothing(tmp_path):
    """An image that leaves the dataset after its correction was imported: balance reports it, nothing changes."""
    known = dataset(tmp_path, "img/elsewhere.jpg")
    out = tmp_path / "source.csv"
    export = tmp_path / "review.json"
    export.write_text(json.dumps([review_task("img/elsewhere.jpg", "dress", ("coat", T1))]))
    assert main(["corrections", str(export), *known, "--out", str(out)]) == 0
    kept, drops, unapplied = corrections.apply(rows(("img/a.jpg", "dress")), corrections.read(out, CLASSES))
    assert [(r["source_image"], r["label"]) for r in kept] == [("img/a.jpg", "dress")] and drops == []
    assert unapplied == ["img/elsewhere.jpg: no such image"]
